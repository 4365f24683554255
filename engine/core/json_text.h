// Checks on raw JSON text that Debian's rapidjson (1.1) does not make.
//
// rapidjson decodes a `\uDC00`..`\uDFFF` escape that follows no high
// surrogate into the three bytes of a UTF-16 surrogate, which are not UTF-8:
// a value read from such a document would later be written out as invalid
// UTF-8. Every JSON document tollgate reads (decision inputs, data
// documents, schema, catalog, accounts) is checked with this first.
//
//   if (size_t at = FindLoneSurrogateEscape(json); at != std::string_view::npos)
//     return Error("lone surrogate escape at byte " + std::to_string(at));
//
// Cost: one memchr pass for backslashes; O(size). Thread safety: pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace tollgate {

// Offset of the first `\u` escape of a low surrogate (DC00-DFFF) that does not
// directly follow a high-surrogate escape, or npos. (A high surrogate without
// its low half is already a rapidjson parse error.)
size_t FindLoneSurrogateEscape(std::string_view json);

// rapidjson refuses a number beyond double range (kParseErrorNumberTooBig,
// reported at the number's first byte) even when it keeps numbers as text
// (kParseNumbersAsStringsFlag), although such a number is valid JSON. The
// readers that keep number text (the decision-input decoder, the redactor)
// parse a copy in which each such number is masked by a same-length
// placeholder, then put the original text back (an in-situ parse keeps a
// number's pointer and length and writes nothing over it).
//
// Masks the number that starts at byte `at` of `text` with `0.000...` of
// the same length and returns that length; 0 when there is no number of at
// least 3 bytes there (the shortest number beyond range, `1e309`, has 5).
size_t MaskNumberAt(char* text, size_t size, size_t at);
// How many numbers beyond double range a document may hold: each one costs
// the reader a parse of the whole document.
inline constexpr size_t kMaxHugeNumbers = 16;

}  // namespace tollgate
