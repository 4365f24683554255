// Internal to engine/scan: the digit runs of a text, for patterns whose every
// match lies inside one (scanner.h, Options::digit_runs).
//
// A digit run is a maximal stretch of digits joined by gaps: a gap is 1 to
// `max_gap` bytes, each a separator byte (one of `separators`), with a digit
// right before and right after it -- "4111 1111-1111", "123-45-6789",
// "4111 - 1111" (max_gap 3). A longer stretch of gap bytes ends a run. With
// `wide`, bytes above 0x7F are gap bytes too (the UTF-8 no-break, thin,
// ideographic and zero-width spaces, en dashes, minus signs...) and the
// full-width digits U+FF10..U+FF19 (EF BC 90..99) count as digits. Whether a
// byte belongs to a run depends only on bytes at most max_gap + 2 away, so
// runs can be found from any point of the text.
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
// bytes. Requires 1 <= min_digits <= 32 and max_gap <= 64 (0 means 1).
// Cost: one pass of 16-byte compares; only 64-byte blocks dense enough in
// digits are walked byte by byte.
void FindDigitRuns(std::string_view text, std::string_view separators, bool wide, uint32_t max_gap,
                   uint32_t min_digits, Spans* out);

// The same with at most the instructions `isa` names (tests: each
// classifier the CPU has against the byte walk): kDigitRunsSse (SSE2 and
// SSSE3 compares), kDigitRunsAvx2, kDigitRunsBest (AVX-512BW where the CPU
// has it, what FindDigitRuns uses).
inline constexpr int kDigitRunsSse = 0, kDigitRunsAvx2 = 1, kDigitRunsBest = 2;
void FindDigitRunsIsa(std::string_view text, std::string_view separators, bool wide,
                      uint32_t max_gap, uint32_t min_digits, int isa, Spans* out);
// The same, by a plain byte walk (the reference for tests).
void FindDigitRunsReference(std::string_view text, std::string_view separators, bool wide,
                            uint32_t max_gap, uint32_t min_digits, Spans* out);

}  // namespace tollgate::scan::internal
