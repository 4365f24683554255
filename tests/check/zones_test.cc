// The `zones` pass: a condition whose calendar calls on one time read UTC
// and another zone (tg_mixed_time_zones). Before, such a rule checked clean
// and decided by the UTC day near midnight in the office's zone.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

TEST(Zones, AUtcCallBesideAZonedOneWarns) {
  auto c = CheckSource(R"(policy "z"
const office = "Europe/Paris"
rule paris_hours { when hour(context.time, "Europe/Paris") >= 9 and weekday(context.time) <= 5 deny "closed" }
rule xmas mode shadow when month(context.time) == 12 and day(context.time, office) == 24 { deny "x" }
let weekday_utc = weekday(context.time) <= 5
rule a { when hour(context.time, office) >= 9 and weekday_utc deny "x" }
rule b { when hour(context.time, office) < 9 and weekday_utc deny "y" }
rule r { require hour(context.time, office) < 18 or minute(context.time) < 30 }
)");
  EXPECT_TRUE(c.ok) << c.Render();  // a warning
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:69: warning[tg_mixed_time_zones]: `weekday(context.time)` reads the UTC "
                     "calendar, while `hour(context.time, \"Europe/Paris\")` in the same condition reads "
                     "`Europe/Paris`"))
      << r;
  EXPECT_TRUE(Has(r, "help: write `weekday(context.time, \"Europe/Paris\")` to read one clock")) << r;
  // A mode condition, a zone named by a const.
  EXPECT_TRUE(Has(r, "test.tg:4:28: warning[tg_mixed_time_zones]: `month(context.time)` reads the UTC "
                     "calendar, while `day(context.time, office)` in the same condition reads `Europe/Paris`"))
      << r;
  // A let: reported once, where it is written.
  EXPECT_TRUE(Has(r, "test.tg:5:19: warning[tg_mixed_time_zones]")) << r;
  // A require, across `or`.
  EXPECT_TRUE(Has(r, "test.tg:8:53: warning[tg_mixed_time_zones]: `minute(context.time)`")) << r;
  EXPECT_EQ(Count(c, "tg_mixed_time_zones"), 4u) << r;
}

TEST(Zones, OneClockOrZonesOnPurposeAreQuiet) {
  auto c = CheckSource(R"(policy "z"
const office = "Europe/Paris"
const launch: time = "2026-01-05T09:00:00Z"
rule zoned { when hour(context.time, office) >= 9 and weekday(context.time, office) <= 5 deny "a" }
rule utc { when hour(context.time) >= 9 and weekday(context.time) <= 5 deny "b" }
rule utc_named { when hour(context.time, "UTC") >= 9 and weekday(context.time) <= 5 deny "c" }
rule offices { when hour(context.time, "Europe/Paris") >= 9 or hour(context.time, "America/New_York") >= 9 deny "d" }
rule constant { when weekday(launch) == 1 and hour(context.time, office) >= 9 deny "e" }
rule split { when hour(context.time, office) >= 9 deny "f" }
rule other { when weekday(context.time) <= 5 deny "g" }
rule per_request { when hour(context.time, principal.team ?? "UTC") >= 9 and weekday(context.time) <= 5 deny "h" }
)");
  EXPECT_EQ(Count(c, "tg_mixed_time_zones"), 0u) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
