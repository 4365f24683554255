// Diagnostics: collection, ordering, rendering, and "did you mean".
#include "engine/core/source.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace tollgate {

void Diagnostics::Error(std::string code, Span span, std::string message, std::string help) {
  items_.push_back(Diagnostic{Severity::kError, std::move(code), span, std::move(message),
                              std::move(help)});
}

void Diagnostics::Warning(std::string code, Span span, std::string message, std::string help) {
  items_.push_back(Diagnostic{Severity::kWarning, std::move(code), span, std::move(message),
                              std::move(help)});
}

bool Diagnostics::HasErrors() const {
  return std::any_of(items_.begin(), items_.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

void Diagnostics::Sort() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    const std::string empty;
    const std::string& pa = a.span.file ? a.span.file->path : empty;
    const std::string& pb = b.span.file ? b.span.file->path : empty;
    if (pa != pb) return pa < pb;
    if (a.span.line != b.span.line) return a.span.line < b.span.line;
    if (a.span.col != b.span.col) return a.span.col < b.span.col;
    return a.span.begin < b.span.begin;
  });
}

std::string Diagnostics::Render() const {
  std::string out;
  for (const Diagnostic& d : items_) out += RenderDiagnostic(d);
  return out;
}

namespace {

const char* SeverityWord(Severity s) {
  switch (s) {
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
    case Severity::kNote: return "note";
  }
  return "error";
}

// The [begin, end) byte offsets of the line holding `offset`.
void LineBounds(const std::string& text, size_t offset, size_t* begin, size_t* end) {
  offset = std::min(offset, text.size());
  size_t b = offset;
  while (b > 0 && text[b - 1] != '\n') --b;
  size_t e = text.find('\n', offset);
  if (e == std::string::npos) e = text.size();
  *begin = b;
  *end = e;
}

}  // namespace

std::string RenderDiagnostic(const Diagnostic& d) {
  std::string out;
  const Span& s = d.span;
  if (s.file != nullptr) {
    out += s.file->path + ":" + std::to_string(s.line) + ":" + std::to_string(s.col) + ": ";
  }
  out += SeverityWord(d.severity);
  out += "[" + d.code + "]: " + d.message + "\n";

  std::string gutter_pad = "   ";
  if (s.file != nullptr && s.line > 0) {
    const std::string& text = s.file->text;
    size_t lb = 0, le = 0;
    LineBounds(text, s.begin, &lb, &le);
    std::string line_text = text.substr(lb, le - lb);
    if (!line_text.empty() && line_text.back() == '\r') line_text.pop_back();
    std::string num = std::to_string(s.line);
    gutter_pad = std::string(num.size() + 4, ' ');
    out += "   " + num + " | " + line_text + "\n";
    // Caret line: tabs are kept so the carets line up under tabbed source.
    size_t col0 = s.begin >= lb ? s.begin - lb : 0;
    col0 = std::min(col0, line_text.size());
    std::string lead;
    for (size_t i = 0; i < col0; ++i) lead += line_text[i] == '\t' ? '\t' : ' ';
    size_t span_end = std::max<size_t>(s.end, s.begin);
    size_t width = span_end > s.begin ? span_end - s.begin : 1;
    // Clip to the end of the line (at least one caret).
    if (col0 + width > line_text.size()) {
      width = line_text.size() > col0 ? line_text.size() - col0 : 1;
    }
    if (width == 0) width = 1;
    out += gutter_pad + "| " + lead + std::string(width, '^') + "\n";
  }
  if (!d.help.empty()) {
    out += gutter_pad + "= help: " + d.help + "\n";
  }
  return out;
}

namespace {

size_t Levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ClosestMatch(std::string_view name, const std::vector<std::string>& candidates) {
  std::vector<std::string> sorted = candidates;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (const std::string& c : sorted) {
    if (c != name && EqualFold(c, name)) return c;
  }
  const size_t max_dist = std::max<size_t>(1, name.size() / 3);
  const std::string* best = nullptr;
  size_t best_dist = max_dist + 1;
  for (const std::string& c : sorted) {
    if (c == name) continue;
    // Cheap reject: the length difference is a lower bound on the distance.
    size_t diff = c.size() > name.size() ? c.size() - name.size() : name.size() - c.size();
    if (diff > max_dist) continue;
    size_t d = Levenshtein(name, c);
    if (d < best_dist) {
      best_dist = d;
      best = &c;
    }
  }
  return best ? *best : std::string();
}

}  // namespace tollgate
