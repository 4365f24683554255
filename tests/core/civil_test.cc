// engine/core/civil.h against libc's gmtime_r (the formatter it replaced in
// the audit log and the ledger).
#include "engine/core/civil.h"

#include <ctime>
#include <random>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

std::string ViaLibc(int64_t ms) {
  const int64_t secs = FloorDiv(ms, 1000);
  time_t t = static_cast<time_t>(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms - secs * 1000));
  return buf;
}

TEST(Civil, FormatUtcMillisEqualsGmtime) {
  std::mt19937_64 rng(20261130);
  // Years 1 to 9999, both signs of the epoch, and the edges of days.
  const int64_t lo = -62'135'596'800'000, hi = 253'402'300'799'999;
  for (int i = 0; i < 200'000; ++i) {
    const int64_t ms = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
    ASSERT_EQ(FormatUtcMillis(ms), ViaLibc(ms)) << ms;
  }
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{86'399'999}, int64_t{951'782'400'000} /* 2000-02-29 */, lo, hi})
    EXPECT_EQ(FormatUtcMillis(ms), ViaLibc(ms)) << ms;
  EXPECT_EQ(FormatUtcMillis(1'764'460'800'123), "2025-11-30T00:00:00.123Z");
}

TEST(Civil, DaysRoundTrip) {
  for (int64_t days = -800'000; days <= 800'000; days += 7) {
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    ASSERT_EQ(DaysFromCivil(y, m, d), days);
  }
  EXPECT_EQ(DaysFromCivil(2026, 11, 30), 20'787);
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
}

}  // namespace
}  // namespace tollgate
