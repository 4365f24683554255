// UTF-8 encoding and decoding of one code point (header-only: engine/scan
// and engine/parse both decode escapes into UTF-8; the checker reads the
// characters of a literal's source).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate {

// Appends `cp` (a Unicode scalar value: no surrogate, at most U+10FFFF) to
// `out` in UTF-8.
inline void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The code point of the UTF-8 sequence at s[*i] (the source text is valid
// UTF-8; a stray byte reads as itself), and *i moved past it. *len: the
// sequence's length (cut at the end of `s`).
inline uint32_t NextUtf8(std::string_view s, size_t* i, size_t* len) {
  const auto b = static_cast<unsigned char>(s[*i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (*i + n > s.size()) n = s.size() - *i;
  uint32_t cp = n == 1 ? b : b & (0x7F >> n);
  for (size_t j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[*i + j]) & 0x3F);
  *i += n;
  *len = n;
  return cp;
}

}  // namespace tollgate
