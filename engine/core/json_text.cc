// FindLoneSurrogateEscape, MaskNumberAt, JSON paths (see json_text.h).
#include "engine/core/json_text.h"

#include <cstring>

namespace tollgate {

namespace {

// The 4 hex digits at s[i..i+4) as a number, or -1.
long Hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return -1;
  long v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

size_t FindLoneSurrogateEscape(std::string_view json) {
  // Backslashes occur only inside strings in well-formed JSON, and each one
  // starts an escape: walking escape by escape is exact for it (malformed
  // JSON is rejected by the parser anyway).
  size_t i = 0;
  bool after_high = false;  // the previous escape was a high surrogate, directly before this one
  size_t high_end = 0;
  while (i < json.size()) {
    const void* hit = std::memchr(json.data() + i, '\\', json.size() - i);
    if (hit == nullptr) return std::string_view::npos;
    size_t at = static_cast<const char*>(hit) - json.data();
    if (at + 1 >= json.size()) return std::string_view::npos;
    if (json[at + 1] != 'u') {
      after_high = false;
      i = at + 2;
      continue;
    }
    long cp = Hex4(json, at + 2);
    if (cp >= 0xDC00 && cp <= 0xDFFF && !(after_high && high_end == at)) return at;
    after_high = cp >= 0xD800 && cp <= 0xDBFF;
    high_end = at + 6;
    i = at + 2;
  }
  return std::string_view::npos;
}

size_t MaskNumberAt(char* text, size_t size, size_t at) {
  size_t len = 0;
  while (at + len < size) {
    char c = text[at + len];
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) break;
    ++len;
  }
  if (len < 3) return 0;
  std::memset(text + at, '0', len);
  text[at + 1] = '.';
  return len;
}

std::string RenderJsonName(std::string_view name) {
  constexpr size_t kMax = 64;
  size_t n = name.size();
  if (n > kMax) {
    n = kMax;
    while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
  }
  std::string out;
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n < name.size()) out += "...";
  return out;
}

std::string RenderJsonPath(const std::vector<JsonPathStep>& steps) {
  std::string out;
  for (const JsonPathStep& s : steps) {
    if (s.index >= 0) {
      out += "[" + std::to_string(s.index) + "]";
    } else {
      if (!out.empty()) out += '.';
      out += RenderJsonName(s.name);
    }
  }
  return out;
}

std::string DuplicateKey::Message() const {
  if (path == key) return "duplicate top-level key `" + key + "`";
  return "duplicate key `" + key + "` at `" + path + "`";
}

}  // namespace tollgate
