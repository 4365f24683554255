// Calendar and sliding windows roll over exactly at their UTC boundaries.
#include "engine/core/civil.h"
#include "runtime/ledger/window.h"

#include <climits>

#include <gtest/gtest.h>

namespace tollgate::ledger {
namespace {

int64_t At(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int ms = 0) {
  return DaysFromCivil(y, m, d) * 86'400'000 + hh * 3'600'000LL + mm * 60'000LL + ss * 1000LL + ms;
}

TEST(Window, DayRollsOverAtMidnightUtc) {
  Window day{WindowKind::kDay};
  Interval a = CalendarWindow(day, At(2026, 11, 30, 23, 59, 59, 999));
  EXPECT_EQ(a.start_ms, At(2026, 11, 30));
  EXPECT_EQ(a.end_ms, At(2026, 12, 1));
  Interval b = CalendarWindow(day, At(2026, 12, 1));
  EXPECT_EQ(b.start_ms, At(2026, 12, 1));
  EXPECT_EQ(WindowLabel(day, b.start_ms), "2026-12-01");
}

TEST(Window, WeekStartsMondayUtc) {
  Window week{WindowKind::kWeek};
  // 2026-11-30 is a Monday.
  EXPECT_EQ(CalendarWindow(week, At(2026, 11, 29, 23, 59, 59, 999)).start_ms, At(2026, 11, 23));
  EXPECT_EQ(CalendarWindow(week, At(2026, 11, 30)).start_ms, At(2026, 11, 30));
  EXPECT_EQ(CalendarWindow(week, At(2026, 12, 6, 23)).end_ms, At(2026, 12, 7));
  // 1970-01-01 was a Thursday: its week began Monday 1969-12-29.
  EXPECT_EQ(CalendarWindow(week, 0).start_ms, At(1969, 12, 29));
  EXPECT_EQ(WindowLabel(week, At(2026, 11, 30)), "week of 2026-11-30");
}

TEST(Window, MonthStartsOnTheFirstIncludingLeapFebruary) {
  Window month{WindowKind::kMonth};
  Interval feb = CalendarWindow(month, At(2028, 2, 29, 12));  // a leap day
  EXPECT_EQ(feb.start_ms, At(2028, 2, 1));
  EXPECT_EQ(feb.end_ms, At(2028, 3, 1));
  EXPECT_EQ((feb.end_ms - feb.start_ms) / 86'400'000, 29);
  EXPECT_EQ(CalendarWindow(month, At(2027, 2, 28, 23, 59, 59, 999)).end_ms, At(2027, 3, 1));
  EXPECT_EQ(CalendarWindow(month, At(2026, 12, 31, 23, 59, 59, 999)).end_ms, At(2027, 1, 1));
  EXPECT_EQ(WindowLabel(month, feb.start_ms), "2028-02");
}

TEST(Window, UtcHasNoDaylightSavingShift) {
  // 2026-03-29 is the EU DST change; in UTC the day is still 24 h long.
  Interval d = CalendarWindow(Window{WindowKind::kDay}, At(2026, 3, 29, 1, 30));
  EXPECT_EQ(d.end_ms - d.start_ms, 86'400'000);
  EXPECT_EQ(CalendarWindow(Window{WindowKind::kHour}, At(2026, 3, 29, 2, 30)).start_ms, At(2026, 3, 29, 2));
}

TEST(Window, DurationsAlignToTheEpochAndLifetimeNeverEnds) {
  Window w30{WindowKind::kDuration, 30 * 60'000};
  Interval i = CalendarWindow(w30, At(2026, 11, 30, 14, 44));
  EXPECT_EQ(i.start_ms, At(2026, 11, 30, 14, 30));
  EXPECT_EQ(i.end_ms, At(2026, 11, 30, 15, 0));
  Interval life = CalendarWindow(Window{WindowKind::kLifetime}, At(2026, 1, 1));
  EXPECT_EQ(life.start_ms, 0);
  EXPECT_EQ(life.end_ms, INT64_MAX);
  EXPECT_EQ(SlidingLength(Window{WindowKind::kMinute}), 60'000);
  EXPECT_EQ(SlidingLength(Window{WindowKind::kLifetime}), INT64_MAX);
}

TEST(Window, NamesRoundTrip) {
  for (Window w : {Window{WindowKind::kMinute}, Window{WindowKind::kMonth}, Window{WindowKind::kLifetime},
                   Window{WindowKind::kDuration, 90'000}, Window{WindowKind::kDuration, 1500},
                   Window{WindowKind::kDuration, 7 * 86'400'000LL}}) {
    Window back;
    ASSERT_TRUE(ParseWindowName(WindowName(w), &back)) << WindowName(w);
    EXPECT_EQ(back, w) << WindowName(w);
  }
  EXPECT_EQ(WindowName(Window{WindowKind::kDuration, 90'000}), "90s");
  Window bad;
  EXPECT_FALSE(ParseWindowName("fortnight", &bad));
  EXPECT_FALSE(ParseWindowName("0m", &bad));
  EXPECT_FALSE(ParseWindowName("99999999999999999999d", &bad));
}

TEST(Window, FormatsUtc) { EXPECT_EQ(FormatUtc(At(2028, 2, 29, 1, 2, 3, 45)), "2028-02-29T01:02:03.045Z"); }

}  // namespace
}  // namespace tollgate::ledger
