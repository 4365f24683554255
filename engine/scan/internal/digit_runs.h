// Internal to engine/scan: the digit runs of a text, for patterns whose every
// match lies inside one (scanner.h, Options::digit_runs).
//
// A digit run is a maximal stretch of bytes each of which is an ASCII digit,
// or a separator byte (one of `separators`) with a digit right before and
// right after it: "4111 1111-1111", "123-45-6789". Two separators in a row
// end a run. With `wide`, a gap of one to three bytes above 0x7F between two
// digits joins them too (the UTF-8 no-break and thin spaces U+00A0, U+2007,
// U+2009, U+202F that card numbers copied from web pages and PDFs carry).
// Whether a byte belongs to a run depends only on its neighbours (at most
// four bytes away), so runs can be found from any point of the text.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::scan::internal {

using Spans = std::vector<std::pair<size_t, size_t>>;

// Appends to *out, in increasing order, every digit run of `text` holding at
// least `min_digits` digits, as [begin, end) widened by one byte on each side
// where the text has one (the context of `\b`). `separators`: non-digit
// bytes. Requires 1 <= min_digits <= 32. Cost: one pass of 16-byte digit
// compares; only 64-byte blocks dense enough in digits are walked byte by byte.
void FindDigitRuns(std::string_view text, std::string_view separators, bool wide,
                   uint32_t min_digits, Spans* out);

// The same, by a plain byte walk (the reference for tests).
void FindDigitRunsReference(std::string_view text, std::string_view separators, bool wide,
                            uint32_t min_digits, Spans* out);

}  // namespace tollgate::scan::internal
