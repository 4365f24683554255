// FormatRfc3339 formats by hand in years 0..9999: the same text as the
// printf formatting it replaced, over a wide sweep of instants.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "engine/core/value.h"

namespace tollgate {
namespace {

std::string Reference(int64_t unix_ms) {
  // The former formatting: split into civil fields via the round trip.
  int64_t days = unix_ms >= 0 ? unix_ms / 86400000 : -((-(unix_ms + 1)) / 86400000) - 1;
  int64_t rem = unix_ms - days * 86400000;
  std::string t = FormatRfc3339(days * 86400000);  // midnight: date part only is used
  char buf[64];
  int hh = static_cast<int>(rem / 3600000), mm = static_cast<int>(rem / 60000 % 60),
      ss = static_cast<int>(rem / 1000 % 60), ms = static_cast<int>(rem % 1000);
  if (ms != 0)
    snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ", t.substr(0, 10).c_str(), hh, mm, ss, ms);
  else
    snprintf(buf, sizeof buf, "%sT%02d:%02d:%02dZ", t.substr(0, 10).c_str(), hh, mm, ss);
  return buf;
}

TEST(Rfc3339Format, MatchesPrintfAndRoundTrips) {
  std::mt19937_64 rng(7);
  // From year 0 to 9999.
  const int64_t lo = -62167219200000, hi = 253402300799999;
  for (int i = 0; i < 200000; ++i) {
    int64_t ms = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
    if (i % 3 == 0) ms -= ms % 1000;  // whole seconds too
    std::string s = FormatRfc3339(ms);
    ASSERT_EQ(s, Reference(ms));
    int64_t back = 0;
    ASSERT_TRUE(ParseRfc3339(s, &back)) << s;
    ASSERT_EQ(back, ms) << s;
  }
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(253402300799999), "9999-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace tollgate
