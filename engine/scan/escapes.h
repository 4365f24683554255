// JSON string escapes, read through: the readings of a text.
//
// ## Why
// A text that is itself JSON -- a tool call's `function.arguments`, a tool
// result, JSON a user pasted -- may spell its characters as JSON string
// escapes: Python's json.dumps (ensure_ascii, the default) writes a card
// number with no-break spaces as `4111\u00a01111\u00a01111\u00a01111` and
// `jöhn@bücher.de` as `j\u00f6hn@b\u00fccher.de`. The model reads the
// characters; so `matches` (detectors and regexes) and `redact` read them
// too (docs/language.md, "JSON string escapes").
//
// ## Readings
// Reading 1 of a text is the text with every JSON string escape decoded;
// reading 2 is reading 1 decoded again (JSON inside a JSON string inside
// JSON: `\\u00a0` is `\u00a0` in reading 1, a no-break space in reading 2),
// and so on, up to kMaxReadings. A text has a reading only when it holds an
// escape that decodes (no reading equals the text it was decoded from), so a
// text without a backslash has none, and that is one memchr to learn.
//
// Decoding goes left to right. At a backslash: `\"` `\\` `\/` `\b` `\f`
// `\n` `\r` `\t` are the character; `\uXXXX` (four hex digits, any case) is
// the code point in UTF-8 (`\u0000` a NUL byte), a high-surrogate escape
// directly followed by a low-surrogate escape one supplementary character;
// anything else -- `\x`, `\u12`, a lone surrogate, a backslash at the end --
// is kept as written and decoding goes on after the backslash. So `\\u0041`
// is `\u0041` (the `\\` is read first), and a reading of well-formed UTF-8
// is well-formed UTF-8.
//
//   scan::Readings r;
//   for (size_t i = 0, n = r.Read(text); i < n; ++i)
//     if (auto m = Find(r.text(i))) span = r.ToText(i, m->begin, m->end);
//
// ## Spans
// ToText maps a span of a reading back to the text the readings were made
// from: a byte that came from an escape maps to the whole escape, so the
// span is widened to whole escapes and never splits one (`\u00a0` is
// replaced whole or not at all: a redacted JSON text stays JSON). Bytes
// between escapes map one to one.
//
// Cost: Read is one pass per reading over the previous one (each at most as
// long), plus one memchr; it reuses its buffers (but drops one past 8 MiB
// when the text is under 1 MiB). ToText is a binary search
// per reading. Thread safety: an instance is not shared.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::scan {

// At most this many readings of a text (JSON three levels deep).
inline constexpr size_t kMaxReadings = 3;

// False when `text` has no reading (no backslash). One memchr.
inline bool MayHoldEscapes(std::string_view text) {
  return !text.empty() && std::memchr(text.data(), '\\', text.size()) != nullptr;
}

class Readings {
 public:
  // Makes the readings of `text` (see above), replacing the previous ones;
  // returns how many there are (0..kMaxReadings). `text` must outlive the
  // calls to ToText.
  size_t Read(std::string_view text);

  size_t size() const { return n_; }
  // Reading i (i < size()).
  std::string_view text(size_t i) const { return levels_[i].text; }
  // [begin, end) of reading i as the span of the text given to Read that
  // holds it, widened to whole escapes.
  std::pair<size_t, size_t> ToText(size_t i, size_t begin, size_t end) const;

 private:
  // One decoded escape: its bytes in the reading and in the text it was
  // decoded from (the previous reading, or the text).
  struct Escape {
    size_t at, len;          // [at, at + len) in the reading
    size_t from, from_len;   // [from, from + from_len) in the previous text
  };
  struct Level {
    std::string text;
    std::vector<Escape> escapes;  // increasing
  };
  // Decodes `in` into *out; false when nothing decoded.
  static bool Decode(std::string_view in, Level* out);
  static size_t Begin(const Level& l, size_t at);
  static size_t End(const Level& l, size_t at);

  std::vector<Level> levels_;
  size_t n_ = 0;
};

}  // namespace tollgate::scan
