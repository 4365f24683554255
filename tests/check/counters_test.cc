// Counters of a budget or limit with a `when` exist only for the requests
// its `when` matches; a rule reading one must guard the read
// (tg_unguarded_optional), or it fails with eval_missing_field -- a 403
// rule_error -- for every other request.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

const char* kDecls =
    "policy \"p\"\n"
    "budget contractors { when \"contractors\" in principal.groups key principal.user ?? "
    "principal.workspace per month limit 200 usd }\n"
    "budget ws { key principal.workspace per day limit 50 usd }\n"
    "limit burst { when request.model == \"openai/gpt-4o\" key principal.workspace per minute "
    "max 10 requests }\n"
    "limit rpm { key principal.workspace per minute max 60 requests }\n";

TEST(Counters, ConditionalReadsMustBeGuarded) {
  const char* const unguarded[] = {
      "when budget.contractors.remaining < 10 usd warn \"low\"",
      "when budget.contractors.spent > 1 usd deny \"x\"",
      "when \"contractors\" in principal.groups and budget.contractors.limit > 1 usd deny \"x\"",
      "when limit.burst.used > 5 route sort price",
      "when limit.burst.remaining < 2 deny \"x\"",
      "when exists(budget.contractors.spent) and budget.contractors.remaining < 1 usd deny \"x\"",
      "when exists(limit.burst.used) or limit.burst.max > 1 deny \"x\"",
      "when true tag left = budget.contractors.remaining + 1 usd",
  };
  for (const char* r : unguarded) {
    auto c = CheckSource(std::string(kDecls) + "rule r { " + r + " }");
    EXPECT_EQ(c.ErrorCodes(), V{"tg_unguarded_optional"}) << r << "\n" << c.Render();
  }
}

TEST(Counters, GuardedOrUnconditionalReadsAreFine) {
  const char* const fine[] = {
      "when exists(budget.contractors.remaining) and budget.contractors.remaining < 10 usd warn \"low\"",
      "when budget.contractors.remaining != null and budget.contractors.remaining < 10 usd deny \"x\"",
      "when not exists(limit.burst.used) or limit.burst.used > 5 deny \"x\"",
      "when exists(limit.burst.remaining) warn \"{limit.burst.remaining} left\"",
      "when budget.ws.remaining < 5 usd route sort price",  // no `when`: always counted
      "when limit.rpm.used > 50 warn \"busy\"",
      "tag left = budget.contractors.remaining",  // a tag value may be absent
  };
  for (const char* r : fine) {
    auto c = CheckSource(std::string(kDecls) + "rule r { " + r + " }");
    EXPECT_TRUE(c.ok) << r << "\n" << c.Render();
  }
}

TEST(Counters, DiagnosticNamesTheDeclarationAndTheGuard) {
  auto c = CheckSource(std::string(kDecls) +
                       "rule warn_low { when budget.contractors.remaining < 10 usd warn \"low\" }");
  ASSERT_EQ(c.ErrorCodes(), V{"tg_unguarded_optional"}) << c.Render();
  const std::string out = c.Render();
  EXPECT_NE(out.find("test.tg:6:22:"), std::string::npos) << out;
  EXPECT_NE(out.find("budget `contractors` applies only to the requests its `when` matches"),
            std::string::npos) << out;
  EXPECT_NE(out.find("guard it: `exists(budget.contractors.remaining) and ...`"), std::string::npos)
      << out;
  // A default would count requests the budget does not: it is not offered.
  EXPECT_EQ(out.find("??"), std::string::npos) << out;
}

// A require is judged per endpoint by the router, and a budget's or limit's
// `when`, key and limit are computed to find the counters: no counter is
// ever supplied there, so a read is an error (it was silently null: a
// require with `on_error skip` was skipped, one without eliminated every
// endpoint; a budget limit reading another budget denied every request).
TEST(Counters, ReadsWhereNoCounterIsSuppliedAreErrors) {
  const char* const bad[] = {
      "rule r on_error skip { require endpoint.price_input <= 1 usd or budget.ws.remaining >= 6 usd }",
      "rule r { require limit.rpm.used < 3 or endpoint.price_input <= 1 usd }",
      "rule r { when request.model == \"m\" require (budget.ws.spent ?? 0 usd) < 1 usd }",
      "budget b2 { key principal.workspace per day limit budget.ws.remaining }",
      "budget b2 { when budget.ws.spent > 1 usd key principal.workspace per day limit 1 usd }",
      "limit l2 { key principal.workspace per minute max limit.rpm.remaining requests }",
      "limit l2 { when limit.rpm.used > 1 key principal.workspace per minute max 3 requests }",
  };
  for (const char* r : bad) {
    auto c = CheckSource(std::string(kDecls) + r);
    EXPECT_EQ(c.ErrorCodes(), V{"tg_counter_unavailable"}) << r << "\n" << c.Render();
  }
}

TEST(Counters, CounterInRequireNamesTheWorkingForm) {
  auto c = CheckSource(std::string(kDecls) +
                       "rule cheap_when_low on_error skip {\n"
                       "  require endpoint.price_input <= 1 usd or budget.ws.remaining >= 6 usd\n"
                       "}\n");
  ASSERT_EQ(c.ErrorCodes(), V{"tg_counter_unavailable"}) << c.Render();
  const std::string out = c.Render();
  EXPECT_NE(out.find("test.tg:7:44:"), std::string::npos) << out;
  EXPECT_NE(out.find("may not read counter `budget.ws.remaining`"), std::string::npos) << out;
  EXPECT_NE(out.find("`rule cheap_when_low { when budget.ws.remaining < 6 usd require "
                     "endpoint.price_input <= 1 usd }`"),
            std::string::npos)
      << out;
  // The form the help gives checks clean.
  auto fixed = CheckSource(std::string(kDecls) +
                           "rule cheap_when_low { when budget.ws.remaining < 6 usd "
                           "require endpoint.price_input <= 1 usd }");
  EXPECT_TRUE(fixed.ok) << fixed.Render();
}

}  // namespace
}  // namespace tollgate::checktest
