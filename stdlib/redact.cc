// Redactor: pattern replacement over the original text; overlaps go to the
// longest match (see redact.h).
#include "stdlib/redact.h"

#include <re2/re2.h>

#include <algorithm>

#include "stdlib/builtins.h"

namespace tollgate::stdlib {

namespace {
constexpr size_t kMaxReplacementBytes = kMaxRedactReplacementBytes;
}

Redactor::~Redactor() = default;

std::unique_ptr<Redactor> Redactor::Build(const std::vector<RedactRule>& rules,
                                          std::string* error) {
  std::unique_ptr<Redactor> r(new Redactor());
  for (const auto& rule : rules) {
    Compiled c;
    c.replacement = rule.replacement;
    if (rule.replacement.size() > kMaxReplacementBytes) {
      *error = "redaction replacement for `" + rule.pattern + "` is longer than " +
               std::to_string(kMaxReplacementBytes) + " bytes";
      return nullptr;
    }
    c.detector = FindDetector(rule.pattern);
    if (c.detector < 0) {
      RE2::Options opt;
      opt.set_log_errors(false);
      c.regex = std::make_unique<RE2>(rule.pattern, opt);
      if (!c.regex->ok()) {
        *error = "invalid regular expression `" + rule.pattern + "`: " + c.regex->error();
        return nullptr;
      }
    }
    r->rules_.push_back(std::move(c));
  }
  return r;
}

std::string Redactor::Apply(std::string_view text, int* replaced) const {
  struct Span {
    size_t begin, end;
    size_t rule;
  };
  std::vector<Span> spans;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Compiled& c = rules_[i];
    if (c.detector >= 0) {
      for (auto [b, e] : FindDetectorMatches(c.detector, text)) spans.push_back({b, e, i});
      continue;
    }
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece m;
    size_t pos = 0;
    while (pos <= text.size() &&
           c.regex->Match(input, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
      size_t b = static_cast<size_t>(m.data() - text.data()), e = b + m.size();
      if (e > b) spans.push_back({b, e, i});  // empty matches redact nothing
      pos = e > b ? e : e + 1;
    }
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.rule < b.rule;
  });
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  int count = 0;
  for (size_t i = 0; i < spans.size();) {
    // Merge every span overlapping the current one; the winner is the longest
    // match, then the earliest start, then the earliest rule (see redact.h).
    // INVARIANT: spans are sorted by (begin, rule), so a later span never beats
    // an equally long earlier one on start or rule order.
    size_t begin = spans[i].begin, end = spans[i].end;
    size_t win = i;
    size_t j = i + 1;
    for (; j < spans.size() && spans[j].begin < end; ++j) {
      end = std::max(end, spans[j].end);
      const Span& s = spans[j];
      const Span& w = spans[win];
      if (s.end - s.begin > w.end - w.begin) win = j;
    }
    out.append(text.substr(pos, begin - pos)).append(rules_[spans[win].rule].replacement);
    pos = end;
    ++count;
    i = j;
  }
  out.append(text.substr(pos));
  if (replaced) *replaced = count;
  return out;
}

}  // namespace tollgate::stdlib
