#include "engine/parse/text.h"

#include "engine/core/utf8.h"
#include "engine/core/value.h"

#include <algorithm>
#include <limits>

namespace tollgate::parse::internal {

size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

LineMap::LineMap(std::string_view text) {
  starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(static_cast<uint32_t>(i + 1));
  }
}

void LineMap::Locate(uint32_t byte, uint32_t* line, uint32_t* col) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), byte);
  size_t idx = static_cast<size_t>(it - starts_.begin()) - 1;
  *line = static_cast<uint32_t>(idx + 1);
  *col = byte - starts_[idx] + 1;
}

CodePointMap::CodePointMap(std::string_view text) : size_(static_cast<uint32_t>(text.size())) {
  bool ascii = std::all_of(text.begin(), text.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return;
  bytes_.reserve(text.size() + 1);
  // ANTLRInputStream drops a leading UTF-8 byte order mark: its code point 0
  // is the first character after it.
  size_t start = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  for (size_t i = start; i < text.size(); ++i) {
    // Every byte that is not a continuation byte starts a code point.
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      bytes_.push_back(static_cast<uint32_t>(i));
    }
  }
  bytes_.push_back(size_);
}

uint32_t CodePointMap::Byte(size_t cp) const {
  if (bytes_.empty()) return static_cast<uint32_t>(std::min<size_t>(cp, size_));
  return cp < bytes_.size() ? bytes_[cp] : size_;
}

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at token[i..i+4); -1 if malformed.
long Hex4(std::string_view t, size_t i) {
  if (i + 4 > t.size()) return -1;
  long v = 0;
  for (size_t k = 0; k < 4; ++k) {
    int h = Hex(t[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

bool Unescape(std::string_view t, std::string* out, size_t* bad_begin, size_t* bad_end,
              std::string* why) {
  out->clear();
  // INVARIANT: the lexer guarantees t starts and ends with '"' and every
  // backslash is followed by one more character before the closing quote.
  size_t end = t.size() - 1;
  for (size_t i = 1; i < end; ++i) {
    char c = t[i];
    if (c != '\\') { out->push_back(c); continue; }
    char e = t[i + 1];
    switch (e) {
      case '"': out->push_back('"'); ++i; continue;
      case '\\': out->push_back('\\'); ++i; continue;
      case '/': out->push_back('/'); ++i; continue;
      case 'n': out->push_back('\n'); ++i; continue;
      case 'r': out->push_back('\r'); ++i; continue;
      case 't': out->push_back('\t'); ++i; continue;
      case 'u': break;
      default: {
        *bad_begin = i;
        // The escaped character may be multi-byte UTF-8.
        size_t j = i + 2;
        while (j < end && (static_cast<unsigned char>(t[j]) & 0xC0) == 0x80) ++j;
        *bad_end = j;
        *why = "invalid escape";
        return false;
      }
    }
    long hi = Hex4(t.substr(0, end), i + 2);
    if (hi < 0) {
      *bad_begin = i;
      *bad_end = std::min(end, i + 6);
      *why = "invalid unicode escape, expected four hex digits";
      return false;
    }
    uint32_t cp = static_cast<uint32_t>(hi);
    size_t next = i + 6;
    if (hi >= 0xD800 && hi <= 0xDBFF) {
      long lo = (next + 1 < end && t[next] == '\\' && t[next + 1] == 'u')
                    ? Hex4(t.substr(0, end), next + 2) : -1;
      if (lo < 0xDC00 || lo > 0xDFFF) {
        *bad_begin = i;
        *bad_end = next;
        *why = "unpaired surrogate in unicode escape";
        return false;
      }
      cp = 0x10000 + ((static_cast<uint32_t>(hi) - 0xD800) << 10) + (static_cast<uint32_t>(lo) - 0xDC00);
      next += 6;
    } else if (hi >= 0xDC00 && hi <= 0xDFFF) {
      *bad_begin = i;
      *bad_end = next;
      *why = "unpaired surrogate in unicode escape";
      return false;
    }
    AppendUtf8(cp, out);
    i = next - 1;
  }
  return true;
}

std::optional<int64_t> ParseInt(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<int64_t> ParseDurationMs(std::string_view text) { return ParseDuration(text); }

std::string Ticked(std::string_view text) {
  constexpr size_t kMax = 32;
  std::string out = "`";
  size_t n = text.size();
  bool cut = false;
  if (n > kMax) {
    n = kMax;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    cut = true;
  }
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (cut) out += "...";
  out += "`";
  return out;
}

}  // namespace tollgate::parse::internal
