// Redactor: pattern replacement over the original text; overlaps go to the
// longest match (see redact.h).
#include "stdlib/redact.h"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstring>

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

namespace rj = rapidjson;

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

// A string's content (inside its quotes) or a number's or literal's text in
// a JSON text.
struct JsonToken {
  size_t begin, end;
  bool string;
};

// The tokens of a JSON text as rapidjson reads it (SAX). A MemoryStream is
// read in place (no local copy), so Tell() in a callback is the position
// right after the token just read; a string's opening quote is the first
// `"` after the previous token, as only structure and whitespace lie
// between tokens.
class JsonTokens : public rj::BaseReaderHandler<rj::UTF8<>, JsonTokens> {
 public:
  JsonTokens(std::string_view text, const rj::MemoryStream& is) : text_(text), is_(is) {}
  bool Null() { return Scalar(4); }
  bool Bool(bool b) { return Scalar(b ? 4 : 5); }
  bool RawNumber(const char*, rj::SizeType n, bool) { return Scalar(n); }
  bool String(const char*, rj::SizeType, bool) {
    const size_t close = is_.Tell() - 1;
    const size_t open = text_.find('"', after_);
    tokens.push_back({open + 1, close, true});
    after_ = close + 1;
    return true;
  }
  bool Key(const char* s, rj::SizeType n, bool copy) { return String(s, n, copy); }
  std::vector<JsonToken> tokens;

 private:
  bool Scalar(size_t n) {
    after_ = is_.Tell();
    tokens.push_back({after_ - n, after_, false});
    return true;
  }
  std::string_view text_;
  const rj::MemoryStream& is_;
  size_t after_ = 0;
};

// The tokens of `text` when it is a JSON object or array; false otherwise.
bool ReadJsonTokens(std::string_view text, std::vector<JsonToken>* out) {
  const size_t first = text.find_first_not_of(" \t\n\r");
  if (first == std::string_view::npos || (text[first] != '{' && text[first] != '[')) return false;
  rj::MemoryStream is(text.data(), text.size());
  JsonTokens h(text, is);
  rj::Reader reader;
  constexpr unsigned kFlags = rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag;
  if (reader.Parse<kFlags>(is, h).IsError()) return false;
  *out = std::move(h.tokens);
  return true;
}

// `s` as the content of a JSON string (without its quotes).
std::string JsonEscaped(std::string_view s) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
  return std::string(sb.GetString() + 1, sb.GetSize() - 2);
}

std::string RewriteJson(const Redactor& r, std::string_view text, const std::vector<Redactor::Span>& spans,
                        const std::vector<JsonToken>& tokens, int depth);

// JSON in a string of a JSON text (`{"text": "{\"card\": 4111...}"}`, as an
// MCP tool result wraps it): the string's content redacted as the JSON text
// it holds, written JSON-escaped again, in *out. False when the content is no
// JSON object or array, at the depth readings stop (engine/scan/escapes.h),
// or when a match of the content as written would survive the rewrite (a
// pattern matching an escape's spelling): then the caller redacts the
// content as written.
bool RewriteNested(const Redactor& r, std::string_view content, int depth, std::string* out) {
  constexpr int kMaxDepth = 3;
  if (depth >= kMaxDepth || std::memchr(content.data(), '\\', content.size()) == nullptr) return false;
  std::string quoted;
  quoted.reserve(content.size() + 2);
  quoted.append("\"").append(content).append("\"");
  rj::Document d;
  d.Parse(quoted.data(), quoted.size());
  if (d.HasParseError() || !d.IsString()) return false;
  const std::string_view decoded(d.GetString(), d.GetStringLength());
  std::vector<JsonToken> tokens;
  if (!ReadJsonTokens(decoded, &tokens)) return false;
  *out = JsonEscaped(RewriteJson(r, decoded, r.Find(decoded), tokens, depth + 1));
  return r.Find(*out).empty();
}

// A JSON text with `spans` replaced so that it stays JSON (redact.h, "JSON
// texts"); `depth`: how many strings the text is nested in.
std::string RewriteJson(const Redactor& r, std::string_view text, const std::vector<Redactor::Span>& spans,
                        const std::vector<JsonToken>& tokens, int depth) {
  struct Edit {
    size_t begin, end;
    std::string with;
  };
  std::vector<Edit> edits;
  auto add = [&](size_t b, size_t e, std::string with) {
    // Widened parts of two spans may meet in one escape, and two spans may
    // touch one number: one edit, the first replacement kept.
    if (!edits.empty() && b < edits.back().end) {
      edits.back().end = std::max(edits.back().end, e);
      return;
    }
    edits.push_back({b, e, std::move(with)});
  };
  size_t t = 0;
  for (const Redactor::Span& s : spans) {
    while (t < tokens.size() && tokens[t].end <= s.begin) ++t;
    bool first = true;
    for (size_t u = t; u < tokens.size() && tokens[u].begin < s.end; ++u) {
      const JsonToken& tok = tokens[u];
      size_t b = std::max(s.begin, tok.begin), e = std::min(s.end, tok.end);
      if (b >= e) continue;  // an empty string, or only its quote touched
      const std::string_view with = first ? s.replacement : std::string_view();
      first = false;
      if (!tok.string) {
        add(tok.begin, tok.end, "\"" + JsonEscaped(with) + "\"");
        continue;
      }
      if (std::string nested; (edits.empty() || edits.back().end <= tok.begin) &&
                              RewriteNested(r, text.substr(tok.begin, tok.end - tok.begin), depth, &nested)) {
        add(tok.begin, tok.end, std::move(nested));  // the whole string, once
        continue;
      }
      // Whole escapes only (a pattern may match inside `\u00e9`).
      if (std::memchr(text.data() + tok.begin, '\\', tok.end - tok.begin) != nullptr) {
        size_t nb = b, ne = e;
        for (size_t i = tok.begin; i < tok.end;) {
          const size_t len = text[i] != '\\' ? 1 : text[i + 1] == 'u' ? 6 : 2;
          if (i < b && b < i + len) nb = i;
          if (i < e && e < i + len) ne = i + len;
          i += len;
        }
        b = nb;
        e = ne;
      }
      add(b, e, JsonEscaped(with));
    }
  }
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (const Edit& x : edits) {
    out.append(text.substr(pos, x.begin - pos)).append(x.with);
    pos = x.end;
  }
  out.append(text.substr(pos));
  return out;
}

// The name-safe form of a replacement (redact.h, Piece::kName).
std::string NamePlaceholder(std::string_view replacement) {
  constexpr size_t kMaxName = 64;
  std::string safe;
  bool gap = false;
  for (char c : replacement) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      gap = true;
      continue;
    }
    if (gap && !safe.empty()) safe += '_';
    gap = false;
    safe += c;
  }
  if (safe.empty()) return "REDACTED";
  std::string lower = safe.substr(0, 8);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower != "redacted") safe.insert(0, "REDACTED_");
  if (safe.size() > kMaxName) safe.resize(kMaxName);
  return safe;
}

// `text` with `spans` replaced as a piece of `kind` is written.
std::string RewritePiece(const Redactor& r, std::string_view text, std::vector<Redactor::Span> spans,
                         Redactor::Piece kind) {
  if (spans.empty()) return std::string(text);
  if (kind == Redactor::Piece::kName) {
    std::vector<std::string> names;
    names.reserve(spans.size());
    for (const Redactor::Span& s : spans) names.push_back(NamePlaceholder(s.replacement));
    for (size_t i = 0; i < spans.size(); ++i) spans[i].replacement = names[i];
    return Rewrite(text, spans);
  }
  std::vector<JsonToken> tokens;
  if (ReadJsonTokens(text, &tokens)) return RewriteJson(r, text, spans, tokens, 0);
  return Rewrite(text, spans);
}

}  // namespace

std::string Redactor::Apply(std::string_view text, int* replaced) const {
  std::vector<Span> spans = Find(text);
  if (replaced) *replaced = static_cast<int>(spans.size());
  return RewritePiece(*this, text, std::move(spans), Piece::kText);
}

std::vector<std::string> Redactor::ApplyJoined(std::string_view joined,
                                               const std::vector<std::pair<size_t, size_t>>& pieces,
                                               int* replaced, const std::vector<Piece>& kinds) const {
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
    out[p] = RewritePiece(*this, text, std::move(merged), p < kinds.size() ? kinds[p] : Piece::kText);
  }
  if (replaced) *replaced = count;
  return out;
}

}  // namespace tollgate::stdlib
