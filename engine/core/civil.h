// Proleptic Gregorian calendar arithmetic on Unix days and milliseconds
// (Howard Hinnant's algorithms), and the UTC timestamp format every record
// and ledger row uses.
//
//   int64_t d = DaysFromCivil(2026, 11, 30);          // 20787
//   FormatUtcMillis(1'764'460'800'123)               // "2025-11-30T00:00:00.123Z"
//
// Pure functions, no locale, no libc time calls; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace tollgate {

// Days since 1970-01-01 of a civil date (month 1..12, day 1..31).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
// The civil date of a day number.
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);
// Floor division (rounds toward negative infinity), b > 0.
inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }
// "YYYY-MM-DDThh:mm:ss.mmmZ" (always with milliseconds); years outside
// 0..9999 are written with printf's %04lld.
std::string FormatUtcMillis(int64_t unix_ms);

}  // namespace tollgate
