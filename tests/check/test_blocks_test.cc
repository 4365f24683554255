// The `tests` pass on test blocks' values: a number a `given` or
// `candidate` binding gives outside the range the decoder and the catalog
// enforce (stdlib/field_values.h FieldRange) is tg_invalid_value at the
// value, so `tollgate check` reports it -- before, only running the test
// did (a candidate), or nothing did (a `given` request.input_tokens).
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

TEST(TestBlockValues, OutOfRangeNumbersAreReportedAtTheValue) {
  auto c = CheckSource(R"(policy "r"
rule reliable { require endpoint.uptime >= 0.995 }
rule cheap { require endpoint.price_input < 5 usd }
fixture big { request.max_tokens: -3 }
test "uptime as percent" { given {} candidate { endpoint.uptime: 99.5 } expect accepted }
test "neg price" { given {} candidate { price_input: -1 usd } expect accepted }
test "n zero" { given { request.n: 0, request.input_tokens: -1 } expect allow }
test "fixture" { given big { } expect allow }
)");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), V(5, "tg_invalid_value")) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:4:35: error[tg_invalid_value]: `request.max_tokens` must not be negative, got `-3`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:5:66: error[tg_invalid_value]: `endpoint.uptime` must be at most 1, got `99.5`"))
      << r;
  EXPECT_TRUE(Has(r, "help: `endpoint.uptime` is a fraction from 0 to 1, not a percentage: write `0.995` "
                     "for 99.5%; a decision input's candidate with this value is refused (input_invalid_value)"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:6:54: error[tg_invalid_value]: `endpoint.price_input` must not be negative, "
                     "got `-1 usd`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:7:36: error[tg_invalid_value]: `request.n` must be at least 1, got `0`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:7:61: error[tg_invalid_value]: `request.input_tokens` must not be negative, "
                     "got `-1`"))
      << r;
}

// A candidate latency written in milliseconds (the catalog's is seconds,
// at most 3600).
TEST(TestBlockValues, LatencyInMillisecondsIsReported) {
  auto c = CheckSource(R"(policy "r"
rule fast { require endpoint.latency_p50 < 2 }
test "ms" { given {} candidate { endpoint.latency_p50: 4500 } expect rejected_by fast }
)");
  EXPECT_FALSE(c.ok);
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:56: error[tg_invalid_value]: `endpoint.latency_p50` must be at most 3600, "
                     "got `4500`")) << r;
  EXPECT_TRUE(Has(r, "help: `endpoint.latency_p50` is in seconds, not milliseconds: write `4.5` for 4500 ms"))
      << r;
}

TEST(TestBlockValues, TheRangesEndsAreFine) {
  auto c = CheckSource(R"(policy "r"
rule reliable { require endpoint.uptime >= 0.995 }
test "ends" {
  given { request.n: 1, request.max_tokens: 0, request.input_tokens: 0, request.temperature: -1 }
  candidate { endpoint.uptime: 1, endpoint.price_input: 0 usd, endpoint.latency_p50: 3600 }
  expect accepted
}
test "zero uptime" { given {} candidate { endpoint.uptime: 0 } expect rejected_by reliable }
)");
  EXPECT_TRUE(c.ok) << c.Render();
}

// A test's decision is taken before routing and admits nothing against a
// ledger: `expect code "budget_exceeded"` failed with "got allow" where the
// gateway denies, and a misspelt code could never hold.
TEST(TestBlocks, ExpectCodeATestNeverHasIsAnError) {
  auto c = CheckSource(R"(policy "p"
budget ws { key principal.workspace per month limit 100 usd }
rule r { when principal.workspace == "x" deny "x" }
test "over budget" {
  given { principal.workspace: "ml", budget.ws.spent: 100 usd }
  expect code "budget_exceeded"
}
test "typo" { given { principal.workspace: "x" } expect code "policy_deny" }
test "routed" { given {} expect code "require_failed" }
test "fine" { given { principal.workspace: "x" } expect code "policy_denied" expect code "policy_denied" }
test "fine2" { given {} expect code "ok" }
)");
  EXPECT_FALSE(c.ok);
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:6:3: error[tg_test_error]: a test's decision never has code `budget_exceeded`, "
                     "so this expectation can never hold"))
      << r;
  EXPECT_TRUE(Has(r, "but admits nothing against a ledger, as the gateway and `tollgate route --ledger` do")) << r;
  EXPECT_TRUE(Has(r, "test.tg:8:50: error[tg_test_error]: a test's decision never has code `policy_deny`")) << r;
  EXPECT_TRUE(Has(r, "help: did you mean `policy_denied`?")) << r;
  EXPECT_TRUE(Has(r, "test.tg:9:26: error[tg_test_error]: a test's decision never has code `require_failed`")) << r;
  EXPECT_TRUE(Has(r, "judge a candidate with `expect rejected_by r` or `expect accepted`")) << r;
  EXPECT_EQ(c.Codes(), (V{"tg_test_error", "tg_test_error", "tg_test_error"})) << r;
}

}  // namespace
}  // namespace tollgate::checktest
