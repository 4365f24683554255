// Redactor: pattern replacement over the original text; overlaps go to the
// longest match (see redact.h).
#include "stdlib/redact.h"

#include <re2/re2.h>

#include <algorithm>

#include "engine/scan/escapes.h"
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

std::vector<Redactor::Span> Redactor::Find(std::string_view text) const {
  struct Match {
    size_t begin, end;
    size_t rule;
  };
  std::vector<Match> spans;
  thread_local scan::Readings readings;
  size_t n_readings = 0;
  bool read = false;  // readings made (the first regex rule makes them)
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Compiled& c = rules_[i];
    if (c.detector >= 0) {
      for (auto [b, e] : FindDetectorMatches(c.detector, text)) spans.push_back({b, e, i});
      continue;
    }
    if (!read) {
      n_readings = readings.Read(text);
      read = true;
    }
    // The text, then each of its readings (JSON string escapes decoded:
    // engine/scan/escapes.h), their matches mapped back to the text.
    auto each = [&](std::string_view t, size_t reading) {
      re2::StringPiece input(t.data(), t.size());
      re2::StringPiece m;
      size_t pos = 0;
      while (pos <= t.size() && c.regex->Match(input, pos, t.size(), RE2::UNANCHORED, &m, 1)) {
        size_t b = static_cast<size_t>(m.data() - t.data()), e = b + m.size();
        if (e > b) {  // empty matches redact nothing
          if (reading == 0) spans.push_back({b, e, i});
          else {
            auto [rb, re] = readings.ToText(reading - 1, b, e);
            spans.push_back({rb, re, i});
          }
        }
        pos = e > b ? e : e + 1;
      }
    };
    each(text, 0);
    for (size_t r = 0; r < n_readings; ++r) each(readings.text(r), r + 1);
  }
  std::sort(spans.begin(), spans.end(), [](const Match& a, const Match& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.rule < b.rule;
  });
  std::vector<Span> out;
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
      const Match& m = spans[j];
      const Match& w = spans[win];
      if (m.end - m.begin > w.end - w.begin) win = j;
    }
    out.push_back({begin, end, rules_[spans[win].rule].replacement});
    i = j;
  }
  return out;
}

namespace {

// `text` with `spans` (increasing, disjoint) replaced.
std::string Rewrite(std::string_view text, const std::vector<Redactor::Span>& spans) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (const Redactor::Span& s : spans) {
    out.append(text.substr(pos, s.begin - pos)).append(s.replacement);
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

std::string Redactor::Apply(std::string_view text, int* replaced) const {
  std::vector<Span> spans = Find(text);
  if (replaced) *replaced = static_cast<int>(spans.size());
  return Rewrite(text, spans);
}

std::vector<std::string> Redactor::ApplyJoined(std::string_view joined,
                                               const std::vector<std::pair<size_t, size_t>>& pieces,
                                               int* replaced) const {
  // Each piece alone, as Apply.
  std::vector<std::vector<Span>> per(pieces.size());
  int count = 0;
  for (size_t p = 0; p < pieces.size(); ++p) {
    per[p] = Find(joined.substr(pieces[p].first, pieces[p].second - pieces[p].first));
    count += static_cast<int>(per[p].size());
  }
  // The joined text's matches that no single piece holds.
  for (const Span& s : Find(joined)) {
    bool inside = false, first = true;
    for (size_t p = 0; p < pieces.size(); ++p) {
      const auto [pb, pe] = pieces[p];
      if (pb <= s.begin && s.end <= pe) inside = true;
    }
    if (inside) continue;
    for (size_t p = 0; p < pieces.size(); ++p) {
      const auto [pb, pe] = pieces[p];
      const size_t b = std::max(s.begin, pb), e = std::min(s.end, pe);
      if (b >= e) continue;  // the match does not touch this piece
      per[p].push_back({b - pb, e - pb, first ? s.replacement : std::string_view()});
      first = false;
    }
    if (!first) ++count;
  }
  std::vector<std::string> out(pieces.size());
  for (size_t p = 0; p < pieces.size(); ++p) {
    std::vector<Span>& v = per[p];
    const std::string_view text = joined.substr(pieces[p].first, pieces[p].second - pieces[p].first);
    std::sort(v.begin(), v.end(), [](const Span& a, const Span& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
    });
    // A crossing match's part may overlap this piece's own matches: one
    // span, keeping a replacement if any of them has one.
    std::vector<Span> merged;
    for (const Span& s : v) {
      if (!merged.empty() && s.begin < merged.back().end) {
        merged.back().end = std::max(merged.back().end, s.end);
        if (merged.back().replacement.empty()) merged.back().replacement = s.replacement;
        continue;
      }
      merged.push_back(s);
    }
    out[p] = Rewrite(text, merged);
  }
  if (replaced) *replaced = count;
  return out;
}

}  // namespace tollgate::stdlib
