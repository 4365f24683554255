// Test blocks that give ledger counters (`budget.<name>.spent`,
// `limit.<name>.used` in a `given`), so that rules reading
// budget.x.remaining / spent / limit and limit.x.used / remaining can be
// tested: what the runner charges, what rules then read, and the checker's
// diagnostics for counters that cannot be given.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "runtime/decide/test_runner.h"

namespace tollgate {
namespace {

Compiled CompileWithData(const std::string& src) {
  static int n = 0;
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              ("tg_given_counters_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  std::filesystem::create_directories(dir / "data");
  std::ofstream(dir / "data" / "ws.json") << R"({"acme": {"daily_usd": "5.00", "rpm": 4}, "big": {"daily_usd": "100", "rpm": 60}})";
  std::ofstream(dir / "p.tg") << src;
  return CompileFile((dir / "p.tg").string(), {});
}

constexpr const char* kPolicy = R"(policy "degrade"
data workspaces from "data/ws.json": map<{daily_usd: money, rpm: int}>
budget ws_daily { key principal.workspace per day limit workspaces[principal.workspace].daily_usd }
budget contractors { when principal.groups has "contractors" key principal.user ?? "anon" per month limit 20 usd }
limit ws_rpm { key principal.workspace per minute max workspaces[principal.workspace].rpm requests }
rule degrade_before_deny {
  when budget.ws_daily.remaining < 2 usd
  route sort price
}
rule eighty_percent mode advisory {
  when budget.ws_daily.spent * 5 >= budget.ws_daily.limit * 4
  warn "80 % of the daily budget is spent"
}
rule near_rate_limit {
  when limit.ws_rpm.remaining <= 1
  tag busy = limit.ws_rpm.used
}
)";

const runtime::TestResult& Find(const runtime::TestReport& r, const std::string& name) {
  for (const runtime::TestResult& t : r.tests)
    if (t.name == name) return t;
  ADD_FAILURE() << "no test " << name;
  static runtime::TestResult none;
  return none;
}

std::string Failures(const runtime::TestResult& t) {
  std::string s;
  for (const std::string& f : t.failures) s += f + "\n";
  return s;
}

TEST(GivenCounters, RulesReadTheCountersATestGives) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
test "plenty left: no degrade" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 1 usd }
  expect not_fired degrade_before_deny, eighty_percent
}
test "little left: degrade" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 3.50 usd }
  expect fired degrade_before_deny
  expect not_fired eighty_percent
  expect route sort price
}
test "eighty percent spent warns" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 4 usd }
  expect fired degrade_before_deny, eighty_percent
  expect warns
}
test "the limit comes from the data document" {
  given { principal.workspace: "big", budget.ws_daily.spent: 4 usd }
  expect not_fired degrade_before_deny, eighty_percent
}
test "rate limit used" {
  given { principal.workspace: "acme", limit.ws_rpm.used: 3 }
  expect fired near_rate_limit
  expect tag busy = 3
}
test "rate limit with room" {
  given { principal.workspace: "acme", limit.ws_rpm.used: 1, budget.ws_daily.spent: 0 usd }
  expect not_fired near_rate_limit, degrade_before_deny
}
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  for (const runtime::TestResult& t : r.tests) EXPECT_TRUE(t.pass) << t.name << ":\n" << Failures(t);
  EXPECT_EQ(r.passed, 6);
}

TEST(GivenCounters, AFailingExpectationOverCountersIsReported) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
test "wrong" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 1 usd }
  expect fired degrade_before_deny
}
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  EXPECT_EQ(r.failed, 1);
  EXPECT_FALSE(Find(r, "wrong").pass);
}

TEST(GivenCounters, FixturesCarryCountersAndTestsOverrideThem) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
fixture tight { principal.workspace: "acme", budget.ws_daily.spent: 4.50 usd }
test "from the fixture" { given tight { } expect fired degrade_before_deny }
test "overridden" { given tight { budget.ws_daily.spent: 0 usd } expect not_fired degrade_before_deny }
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  for (const runtime::TestResult& t : r.tests) EXPECT_TRUE(t.pass) << t.name << ":\n" << Failures(t);
  EXPECT_EQ(r.passed, 2);
}

TEST(GivenCounters, ACounterOfABudgetThatDoesNotApplyFailsTheTest) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
test "not a contractor" {
  given { principal.workspace: "acme", budget.contractors.spent: 5 usd }
  expect allow
}
test "a contractor" {
  given { principal.workspace: "acme", principal.groups: {"contractors"}, budget.contractors.spent: 5 usd }
  expect allow
}
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  const runtime::TestResult& no = Find(r, "not a contractor");
  EXPECT_FALSE(no.pass);
  ASSERT_EQ(no.failures.size(), 1u);
  EXPECT_EQ(no.failures[0],
            "`budget.contractors.spent` is given, but budget `contractors` does not apply to the given request "
            "(its `when` is false)");
  EXPECT_TRUE(Find(r, "a contractor").pass) << Failures(Find(r, "a contractor"));
}

// Without given counters a rule reading them errors (the counters are
// absent, as without a ledger): `expect not_fired` must not pass on that
// error -- the request is in fact denied with rule_error.
TEST(GivenCounters, WithoutGivenCountersRulesReadingThemError) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
test "no ledger" { given { principal.workspace: "acme" } expect not_fired degrade_before_deny }
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  const runtime::TestResult& t = Find(r, "no ledger");
  EXPECT_FALSE(t.pass);
  EXPECT_NE(Failures(t).find("eval_missing_field"), std::string::npos) << Failures(t);
}

// A budget scoped by the endpoint that serves (`when endpoint.model == ...`)
// is charged once the request is routed, after the rules ran: a gateway
// never shows its counters to a rule, so a test cannot give them either.
// The request's own budgets are unaffected.
TEST(GivenCounters, ACounterOfAPerEndpointBudgetCannotBeGiven) {
  Compiled c = CompileWithData(std::string(kPolicy) + R"(
budget gpt4o { when endpoint.model == "openai/gpt-4o" key principal.workspace per day limit 1 usd }
test "per endpoint" {
  given { principal.workspace: "acme", budget.gpt4o.spent: 0.5 usd }
  expect allow
}
test "request budget" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 4 usd }
  expect fired degrade_before_deny
}
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_TRUE(c.policy->program().budgets()[2].per_endpoint);
  EXPECT_FALSE(c.policy->program().budgets()[0].per_endpoint);
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  const runtime::TestResult& per = Find(r, "per endpoint");
  EXPECT_FALSE(per.pass);
  ASSERT_EQ(per.failures.size(), 1u);
  EXPECT_EQ(per.failures[0],
            "`budget.gpt4o.spent` is given, but budget `gpt4o` is charged per endpoint (its `when` or "
            "key reads endpoint fields): no rule reads its counters");
  EXPECT_TRUE(Find(r, "request budget").pass) << Failures(Find(r, "request budget"));
}

std::string Errors(const std::string& test_block) {
  Compiled c = CompileWithData(std::string(kPolicy) + test_block);
  return c.diagnostics.Render();
}

TEST(GivenCounters, CountersThatCannotBeGivenGetDiagnostics) {
  std::string e = Errors(R"(test "t" { given { budget.ws_dialy.spent: 1 usd } expect allow })");
  EXPECT_NE(e.find("unknown budget `ws_dialy`"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean `ws_daily`?"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { budget.ws_daily.remaining: 1 usd } expect allow })");
  EXPECT_NE(e.find("`budget.ws_daily.remaining` cannot be given"), std::string::npos) << e;
  EXPECT_NE(e.find("`budget.ws_daily.spent`"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { limit.ws_rpm.max: 3 } expect allow })");
  EXPECT_NE(e.find("`limit.ws_rpm.max` cannot be given"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { budget.ws_daily.spent: "lots" } expect allow })");
  EXPECT_NE(e.find("budget.ws_daily.spent"), std::string::npos) << e;
  EXPECT_NE(e.find("error"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { limit.ws_rpm.used: -2 } expect allow })");
  EXPECT_NE(e.find("`limit.ws_rpm.used` cannot be negative"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { limit.nope.used: 2 } expect allow })");
  EXPECT_NE(e.find("unknown limit `nope`"), std::string::npos) << e;
  e = Errors(R"(test "t" { given { budget.ws_daily.spent: 1 usd, budget.ws_daily.spent: 2 usd } expect allow })");
  EXPECT_NE(e.find("is bound twice"), std::string::npos) << e;
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

// A require is judged without counters (the router has none): a policy
// reading one there is refused, and the working form -- the counter in the
// rule's `when`, the endpoint test in `require` -- is tested with given
// counters as the gateway judges it.
TEST(GivenCounters, CounterTestsBelongInWhenNotInRequire) {
  Compiled bad = CompileWithData(std::string(kPolicy) + R"(
rule cheap_when_low on_error skip {
  require endpoint.price_input <= 1 usd or budget.ws_daily.remaining >= 6 usd
}
)");
  EXPECT_FALSE(bad.policy);
  EXPECT_NE(bad.diagnostics.Render().find("error[tg_counter_unavailable]"), std::string::npos)
      << bad.diagnostics.Render();

  Compiled c = CompileWithData(std::string(kPolicy) + R"(
rule cheap_when_low {
  when budget.ws_daily.remaining < 6 usd
  require endpoint.price_input <= 1 usd
}
test "dear endpoint once less than 6 USD is left" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 0 usd }
  candidate { provider.name: "openai", endpoint.price_input: 2.50 usd }
  expect rejected_by cheap_when_low
  expect no_errors
}
test "cheap endpoint once less than 6 USD is left" {
  given { principal.workspace: "acme", budget.ws_daily.spent: 0 usd }
  candidate { provider.name: "openai", endpoint.price_input: 0.50 usd }
  expect accepted
  expect no_errors
}
test "dear endpoint with plenty left" {
  given { principal.workspace: "big", budget.ws_daily.spent: 0 usd }
  candidate { provider.name: "openai", endpoint.price_input: 2.50 usd }
  expect not_fired cheap_when_low
  expect accepted
  expect no_errors
}
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::TestReport r = runtime::RunTests(*c.policy, {});
  for (const runtime::TestResult& t : r.tests) {
    if (t.name.find("endpoint") != std::string::npos) {
      EXPECT_TRUE(t.pass) << t.name << ":\n" << Failures(t);
    }
  }
}

}  // namespace
}  // namespace tollgate
