// Internal helpers of the parse stage that need no ANTLR: UTF-8 checks,
// byte <-> line/column mapping, string-literal unescaping and number
// literals. Used by parse.cc and format.cc only.
//
// Thread safety: pure functions and immutable objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::parse::internal {

// Byte offset of the first byte that is not part of a well-formed UTF-8
// sequence (overlongs, surrogates and code points above U+10FFFF are
// rejected), or npos when `text` is valid.
size_t FirstInvalidUtf8(std::string_view text);

// Maps byte offsets to 1-based line and byte column. Cost: O(n) to build,
// O(log lines) per lookup.
class LineMap {
 public:
  explicit LineMap(std::string_view text);
  void Locate(uint32_t byte, uint32_t* line, uint32_t* col) const;

 private:
  std::vector<uint32_t> starts_;
};

// Maps code-point indices (what ANTLR reports) to byte offsets. Identity
// (and free) when the text is pure ASCII. Like ANTLRInputStream, skips a
// leading byte order mark.
class CodePointMap {
 public:
  explicit CodePointMap(std::string_view text);
  uint32_t Byte(size_t code_point) const;

 private:
  std::vector<uint32_t> bytes_;  // empty when ASCII
  uint32_t size_ = 0;
};

// Unescapes a quoted string literal token ("..." including the quotes):
// \" \\ \/ \n \r \t \uXXXX (surrogate pairs combine). On a bad escape returns
// false and sets *bad_begin / *bad_end to its byte range within `token` and
// *why to a message fragment.
bool Unescape(std::string_view token, std::string* out, size_t* bad_begin, size_t* bad_end,
              std::string* why);

// Unsigned decimal integer; nullopt on overflow of int64.
std::optional<int64_t> ParseInt(std::string_view digits);
// "30d" -> 2592000000 ms (units ms s m h d w); nullopt on overflow.
std::optional<int64_t> ParseDurationMs(std::string_view text);

// `text` wrapped in backticks for a message: shortened to ~32 bytes (at a
// UTF-8 boundary) and with control characters shown as escapes.
std::string Ticked(std::string_view text);

}  // namespace tollgate::parse::internal
