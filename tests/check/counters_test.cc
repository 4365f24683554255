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

}  // namespace
}  // namespace tollgate::checktest
