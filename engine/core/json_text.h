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

}  // namespace tollgate
