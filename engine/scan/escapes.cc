// Readings: JSON string escapes decoded, spans mapped back (escapes.h).
#include "engine/scan/escapes.h"

#include "engine/core/utf8.h"

#include <algorithm>

namespace tollgate::scan {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The four hex digits at s[i..i+4) as a number, or -1.
long Hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return -1;
  long v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const int d = HexDigit(s[k]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// The escape at in[at] (a backslash): its code point and length in bytes,
// or length 0 when it is none (kept as written).
size_t EscapeAt(std::string_view in, size_t at, unsigned long* cp) {
  if (at + 1 >= in.size()) return 0;
  switch (in[at + 1]) {
    case '"': *cp = '"'; return 2;
    case '\\': *cp = '\\'; return 2;
    case '/': *cp = '/'; return 2;
    case 'b': *cp = '\b'; return 2;
    case 'f': *cp = '\f'; return 2;
    case 'n': *cp = '\n'; return 2;
    case 'r': *cp = '\r'; return 2;
    case 't': *cp = '\t'; return 2;
    case 'u': break;
    default: return 0;
  }
  const long v = Hex4(in, at + 2);
  if (v < 0 || (v >= 0xDC00 && v <= 0xDFFF)) return 0;  // not four hex digits; a lone low half
  if (v < 0xD800 || v > 0xDBFF) {
    *cp = static_cast<unsigned long>(v);
    return 6;
  }
  // A high half: a supplementary character only with its low half right after.
  if (at + 7 >= in.size() || in[at + 6] != '\\' || in[at + 7] != 'u') return 0;
  const long lo = Hex4(in, at + 8);
  if (lo < 0xDC00 || lo > 0xDFFF) return 0;
  *cp = 0x10000 + ((static_cast<unsigned long>(v) - 0xD800) << 10) + (static_cast<unsigned long>(lo) - 0xDC00);
  return 12;
}

}  // namespace

bool Readings::Decode(std::string_view in, Level* out) {
  out->text.clear();
  out->escapes.clear();
  size_t i = 0, copied = 0;
  while (i < in.size()) {
    const void* hit = std::memchr(in.data() + i, '\\', in.size() - i);
    if (hit == nullptr) break;
    const size_t at = static_cast<size_t>(static_cast<const char*>(hit) - in.data());
    unsigned long cp = 0;
    const size_t len = EscapeAt(in, at, &cp);
    if (len == 0) {  // kept as written; go on after the backslash
      i = at + 1;
      continue;
    }
    out->text.append(in.data() + copied, at - copied);
    const size_t b = out->text.size();
    AppendUtf8(static_cast<uint32_t>(cp), &out->text);
    out->escapes.push_back({b, out->text.size() - b, at, len});
    i = copied = at + len;
  }
  if (out->escapes.empty()) return false;
  out->text.append(in.data() + copied, in.size() - copied);
  return true;
}

size_t Readings::Read(std::string_view text) {
  n_ = 0;
  if (!MayHoldEscapes(text)) return 0;
  // INVARIANT: levels_ does not grow below (a reading is decoded from the
  // previous one, which must not move).
  if (levels_.size() < kMaxReadings) levels_.resize(kMaxReadings);
  // A huge text's buffers are not kept for the small ones after it (an
  // instance is often per thread).
  if (text.size() < (1u << 20))
    for (Level& l : levels_)
      if (l.text.capacity() > (8u << 20)) l = Level();
  std::string_view from = text;
  while (n_ < kMaxReadings && (n_ == 0 || MayHoldEscapes(from))) {
    if (!Decode(from, &levels_[n_])) break;
    from = levels_[n_++].text;
  }
  return n_;
}

// Where byte `at` of reading `l` starts in the text it was decoded from: a
// byte of an escape's character maps to the escape's first byte.
size_t Readings::Begin(const Level& l, size_t at) {
  auto it = std::upper_bound(l.escapes.begin(), l.escapes.end(), at,
                             [](size_t v, const Escape& e) { return v < e.at; });
  if (it == l.escapes.begin()) return at;
  const Escape& e = *--it;
  if (at < e.at + e.len) return e.from;
  return e.from + e.from_len + (at - e.at - e.len);
}

// Where an exclusive end `at` of reading `l` falls in the text it was
// decoded from: inside an escape's character, after the escape.
size_t Readings::End(const Level& l, size_t at) {
  auto it = std::lower_bound(l.escapes.begin(), l.escapes.end(), at,
                             [](const Escape& e, size_t v) { return e.at < v; });
  if (it == l.escapes.begin()) return at;
  const Escape& e = *--it;
  if (at < e.at + e.len) return e.from + e.from_len;
  return e.from + e.from_len + (at - e.at - e.len);
}

std::pair<size_t, size_t> Readings::ToText(size_t i, size_t begin, size_t end) const {
  for (size_t k = i + 1; k-- > 0;) {
    begin = Begin(levels_[k], begin);
    end = End(levels_[k], end);
  }
  return {begin, end};
}

}  // namespace tollgate::scan
