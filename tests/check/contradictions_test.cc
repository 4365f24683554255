// The `contradictions` pass: conjuncts of one condition that no value
// satisfies together (tg_contradiction). Before, each comparison was fine on
// its own, the policy checked clean and the rule never fired -- a night
// window written `hour > 22 and hour < 6`, two data classes joined by `and`.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

TEST(Contradictions, ConjunctsNoValueSatisfiesAreErrors) {
  auto c = CheckSource(R"(policy "c"
const office = "Europe/Berlin"
const holidays = {"2026-12-25", "2026-12-26"}
rule night { when hour(context.time, office) > 22 and hour(context.time, office) < 6 deny "night" }
rule classes { when context.data_class == "confidential" and context.data_class == "restricted" deny "c" }
rule roles { when any m in request.messages: m.role == "user" and m.role == "tool" deny "r" }
rule tokens { when (request.max_tokens ?? 0) > 8000 and not ((request.max_tokens ?? 0) > 4000) deny "t" }
rule day { when date(context.time) in holidays and date(context.time) == "2026-06-01" deny "d" }
rule ints { when hour(context.time) > 5 and hour(context.time) < 6 deny "i" }
rule nor { when not (request.n < 3 or request.n > 2) deny "n" }
rule req { require endpoint.price_input <= 1 usd and endpoint.price_input > 2 usd }
rule q { when exists(principal.user) and principal.user == "a" and (any g in principal.groups: principal.user == "b" and g == "x") deny "q" }
budget b { when context.environment == "prod" and context.environment in {"dev", "test"} key principal.workspace per day limit 5 usd }
let weekend = weekday(context.time, office) >= 6
rule l { when weekend and weekday(context.time, office) <= 5 deny "l" }
)");
  const std::string r = c.Render();
  EXPECT_FALSE(c.ok) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:55: error[tg_contradiction]: rule `night` can never fire: "
                     "`hour(context.time, office) < 6` never holds together with "
                     "`hour(context.time, office) > 22`"))
      << r;
  EXPECT_TRUE(Has(r, "help: no value of `hour(context.time, office)` is in both ranges; a range that "
                     "wraps around (a night window, a weekend across the week's end) is two ranges "
                     "joined with `or`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:5:62: error[tg_contradiction]: rule `classes` can never fire: "
                     "`context.data_class == \"restricted\"` never holds together with "
                     "`context.data_class == \"confidential\"`"))
      << r;
  EXPECT_TRUE(Has(r, "help: `context.data_class` has one value at a time; to accept any of them, "
                     "test them with `or` or `in {...}`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:6:67: error[tg_contradiction]: rule `roles` can never fire")) << r;
  // Through `not`: the comparison as the condition needs it.
  EXPECT_TRUE(Has(r, "test.tg:7:61: error[tg_contradiction]: rule `tokens` can never fire: "
                     "`not ((request.max_tokens ?? 0) > 4000)` never holds together with "
                     "`(request.max_tokens ?? 0) > 8000`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:8:52: error[tg_contradiction]: rule `day` can never fire")) << r;
  EXPECT_TRUE(Has(r, "test.tg:9:45: error[tg_contradiction]: rule `ints` can never fire")) << r;
  EXPECT_TRUE(Has(r, "test.tg:10:39: error[tg_contradiction]: rule `nor` can never fire: "
                     "`not (request.n > 2)` never holds together with `not (request.n < 3)`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:11:54: error[tg_contradiction]: a require of rule `req` never holds, "
                     "so it rejects every endpoint"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:12:96: error[tg_contradiction]: rule `q` can never fire")) << r;
  EXPECT_TRUE(Has(r, "test.tg:13:51: error[tg_contradiction]: budget `b` never applies")) << r;
  EXPECT_TRUE(Has(r, "test.tg:15:27: error[tg_contradiction]: rule `l` can never fire")) << r;
  EXPECT_EQ(Count(c, "tg_contradiction"), 11u) << r;
}

TEST(Contradictions, SatisfiableConjunctsAreQuiet) {
  auto c = CheckSource(R"(policy "c"
const office = "Europe/Berlin"
rule night { when hour(context.time, office) >= 22 or hour(context.time, office) < 6 deny "night" }
rule day { when hour(context.time, office) >= 9 and hour(context.time, office) < 17 deny "day" }
rule edge { when hour(context.time) >= 5 and hour(context.time) <= 5 deny "edge" }
rule dec { when exists(request.temperature) and request.temperature > 1.5 and request.temperature < 1.6 deny "t" }
rule cls { when context.data_class in {"confidential", "restricted"} and context.data_class != "restricted" deny "c" }
rule two_msgs { when (any m in request.messages: m.role == "user") and (any m in request.messages: m.role == "tool") deny "m" }
rule nested { when any a in request.messages: a.role == "user" and (any b in request.messages: b.role == "tool") deny "n" }
rule either { when not (context.environment == "prod" and context.environment == "dev") deny "e" }
rule alls { when all m in request.messages: m.role == "user" and m.role != "tool" deny "a" }
rule ne { when (request.max_tokens ?? 0) != 5 and (request.max_tokens ?? 0) != 6 deny "ne" }
)");
  EXPECT_EQ(Count(c, "tg_contradiction"), 0u) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
