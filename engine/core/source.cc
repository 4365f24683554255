// Diagnostics: collection, ordering, rendering, and "did you mean".
#include "engine/core/source.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace tollgate {

void Diagnostics::Error(std::string code, Span span, std::string message, std::string help) {
  Add(Diagnostic{Severity::kError, std::move(code), span, std::move(message), std::move(help)});
}

void Diagnostics::Warning(std::string code, Span span, std::string message, std::string help) {
  Add(Diagnostic{Severity::kWarning, std::move(code), span, std::move(message), std::move(help)});
}

void Diagnostics::ErrorWithNote(std::string code, Span span, std::string message,
                                std::string help, Span note_span, std::string note) {
  Diagnostic d{Severity::kError, std::move(code), span, std::move(message), std::move(help)};
  d.notes.push_back(Note{note_span, std::move(note)});
  Add(std::move(d));
}

void Diagnostics::Add(Diagnostic d) {
  if (d.severity == Severity::kError) ++errors_;
  if (items_.size() >= kMaxDiagnostics) {
    ++dropped_;
    // An error displaces the last kept warning: the errors are what must be shown.
    if (d.severity != Severity::kError) return;
    auto w = std::find_if(items_.rbegin(), items_.rend(),
                          [](const Diagnostic& x) { return x.severity != Severity::kError; });
    if (w == items_.rend()) return;
    *w = std::move(d);
    return;
  }
  items_.push_back(std::move(d));
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
  auto same = [](const Diagnostic& a, const Diagnostic& b) {
    return a.severity == b.severity && a.code == b.code && a.span.file == b.span.file &&
           a.span.begin == b.span.begin && a.span.end == b.span.end && a.message == b.message;
  };
  items_.erase(std::unique(items_.begin(), items_.end(), same), items_.end());
}

std::string Diagnostics::Render() const {
  std::string out;
  for (const Diagnostic& d : items_) out += RenderDiagnostic(d);
  if (dropped_ > 0) {
    out += "note: " + std::to_string(dropped_) + " more diagnostics not shown (at most " +
           std::to_string(kMaxDiagnostics) + " per file)\n";
  }
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

namespace {

// One display cell of an echoed source line: a code point (or one escaped
// byte) with its byte range in the line and the text printed for it.
struct Cell {
  size_t begin = 0, end = 0;
  std::string text;
  size_t width = 1;
};

// Length of the valid UTF-8 sequence at s[i], or 0 when invalid.
size_t Utf8Len(const std::string& s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  return n;
}

// Splits a line into cells; invalid UTF-8 and control bytes (but tabs) are
// shown as \xNN so a terminal never receives them raw.
std::vector<Cell> Cells(const std::string& line) {
  std::vector<Cell> out;
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < line.size();) {
    auto c = static_cast<unsigned char>(line[i]);
    size_t n = Utf8Len(line, i);
    Cell cell;
    cell.begin = i;
    if (n == 0 || (n == 1 && c != '\t' && (c < 0x20 || c == 0x7f))) {
      cell.end = i + 1;
      cell.text = std::string("\\x") + kHex[c >> 4] + kHex[c & 0xF];
      cell.width = 4;
    } else {
      cell.end = i + n;
      cell.text = line.substr(i, n);
    }
    i = cell.end;
    out.push_back(std::move(cell));
  }
  return out;
}

}  // namespace

std::string RenderDiagnostic(const Diagnostic& d) {
  std::string out;
  const Span& s = d.span;
  if (s.file != nullptr) {
    out += s.file->path + ":" + std::to_string(s.line) + ":" + std::to_string(s.col) + ": ";
  }
  out += SeverityWord(d.severity);
  if (!d.code.empty()) out += "[" + d.code + "]";
  out += ": " + d.message + "\n";

  std::string gutter_pad = "   ";
  if (s.file != nullptr && s.line > 0) {
    const std::string& text = s.file->text;
    size_t lb = 0, le = 0;
    LineBounds(text, s.begin, &lb, &le);
    std::string line_text = text.substr(lb, le - lb);
    if (!line_text.empty() && line_text.back() == '\r') line_text.pop_back();
    std::vector<Cell> cells = Cells(line_text);
    // The caret covers the cells from the one holding `begin` to the one
    // holding `end - 1`, clipped to this line (a multi-line span gets `...`).
    size_t col0 = s.begin >= lb ? s.begin - lb : 0;
    size_t span_end = std::max<size_t>(s.end, s.begin) - lb;
    bool multi_line = span_end > line_text.size() && s.end > le;
    size_t first = cells.size(), last = cells.size();
    for (size_t i = 0; i < cells.size(); ++i) {
      if (first == cells.size() && cells[i].end > col0) first = i;
      if (cells[i].begin < span_end) last = i;
    }
    if (first == cells.size()) last = first;               // at the end of the line
    else if (last == cells.size() || last < first) last = first;
    // A window of at most kWindow columns that holds the caret's start.
    constexpr size_t kWindow = 120, kBefore = 40;
    size_t win_b = 0, win_e = cells.size();
    size_t total = 0;
    for (const Cell& c : cells) total += c.width;
    if (total > kWindow) {
      size_t before = 0;
      win_b = first;
      while (win_b > 0 && before + cells[win_b - 1].width <= kBefore) before += cells[--win_b].width;
      size_t used = 0;
      win_e = win_b;
      while (win_e < cells.size() && used + cells[win_e].width <= kWindow) used += cells[win_e++].width;
    }
    std::string shown = win_b > 0 ? "..." : "";
    std::string lead = win_b > 0 ? "   " : "";
    size_t carets = 0;
    for (size_t i = win_b; i < win_e; ++i) {
      shown += cells[i].text;
      if (i < first) {
        lead += cells[i].text == "\t" ? std::string("\t") : std::string(cells[i].width, ' ');
      } else if (i <= last) {
        carets += cells[i].width;
      }
    }
    if (win_e < cells.size()) shown += "...";
    if (carets == 0) carets = 1;
    std::string num = std::to_string(s.line);
    gutter_pad = std::string(num.size() + 4, ' ');
    out += "   " + num + " | " + shown + "\n";
    out += gutter_pad + "| " + lead + std::string(carets, '^') + (multi_line ? " ..." : "") + "\n";
  }
  if (!d.help.empty()) {
    out += gutter_pad + "= help: " + d.help + "\n";
  }
  for (const Note& n : d.notes) out += RenderDiagnostic(Diagnostic{Severity::kNote, "", n.span, n.message, ""});
  return out;
}

namespace {

// Optimal-string-alignment distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost one edit.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
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
    size_t d = EditDistance(name, c);
    if (d < best_dist) {
      best_dist = d;
      best = &c;
    }
  }
  // A one-edit typo is the best guess; otherwise, for a dotted name, a
  // candidate with the same last segment (`request.user` -> `principal.user`)
  // beats a distant spelling match (`request.model`).
  if (best != nullptr && best_dist <= 1) return *best;
  size_t dot = name.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < name.size()) {
    std::string_view tail = name.substr(dot);
    const std::string* same_tail = nullptr;
    size_t same_dist = 0;
    for (const std::string& c : sorted) {
      if (c == name || c.size() <= tail.size()) continue;
      if (std::string_view(c).substr(c.size() - tail.size()) != tail) continue;
      size_t d = EditDistance(name, c);
      if (same_tail == nullptr || d < same_dist) {
        same_dist = d;
        same_tail = &c;
      }
    }
    if (same_tail != nullptr) return *same_tail;
  }
  return best ? *best : std::string();
}

}  // namespace tollgate
