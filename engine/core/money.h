// Exact decimal arithmetic in micro-units (1 unit = 1'000'000 micros).
// Used for `decimal` and `money` values; never binary floating point.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate {

inline constexpr int64_t kMicros = 1000000;

// "2.50" -> 2500000. At most 6 fractional digits; optional leading '-'.
// Returns nullopt on syntax error, more than 6 fractional digits, or overflow.
std::optional<int64_t> ParseMicros(std::string_view text);

// 2500000 -> "2.5"; 0 -> "0"; trailing zeros trimmed (min_frac digits kept).
std::string FormatMicros(int64_t micros, int min_frac = 0);

// Checked arithmetic; nullopt on int64 overflow or division by zero.
std::optional<int64_t> AddChecked(int64_t a, int64_t b);
std::optional<int64_t> SubChecked(int64_t a, int64_t b);
std::optional<int64_t> MulChecked(int64_t a, int64_t b);
// (a * b) / 1e6 rounded half-to-even, for micro * micro.
std::optional<int64_t> MulMicros(int64_t a, int64_t b);
// (a * 1e6) / b rounded half-to-even, for micro / micro.
std::optional<int64_t> DivMicros(int64_t a, int64_t b);
// a / b rounded half-to-even (integer division of micro by plain integer).
std::optional<int64_t> DivRound(int64_t a, int64_t b);

}  // namespace tollgate
