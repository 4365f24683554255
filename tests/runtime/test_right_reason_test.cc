// `tollgate test` never goes green for the wrong reason (review of the test
// runner):
//   1. a candidate's endpoint.estimated_cost is the router's estimate from
//      the candidate's prices, or absent -- never a neutral 0 that passes any
//      cost ceiling -- and a decision input's candidate (`eval`) agrees;
//   2. a rule whose evaluation failed did not "not fire" (nor "fire");
//   3. `rejected_by` and `redacts` judge what production enforces; a shadow
//      rule's verdict is asserted with `expect shadow ...`;
//   4. `allow` does not hold when an enforced deny rule failed and
//      `on_error skip` let the request through (`expect code "ok"` does).
#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"
#include "runtime/decide/decide.h"
#include "runtime/decide/test_runner.h"

namespace tollgate::runtime {
namespace {

std::shared_ptr<const Policy> Compile(const std::string& src) {
  Compiled c = CompileSource("t.tg", src, CompileOptions{});
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  return c.policy;
}

const TestResult& Find(const TestReport& r, const std::string& name) {
  for (const TestResult& t : r.tests)
    if (t.name == name) return t;
  ADD_FAILURE() << "no test " << name;
  static TestResult none;
  return none;
}

std::string Failures(const TestResult& t) {
  std::string out;
  for (const std::string& f : t.failures) out += f + "\n";
  return out;
}

bool Has(const TestResult& t, const std::string& text) {
  return Failures(t).find(text) != std::string::npos;
}

// --- 1. endpoint.estimated_cost ---

constexpr const char* kCap = R"(policy "cap"
rule cap { require endpoint.estimated_cost <= 0.50 usd }
)";

TEST(TestRightReason, EstimatedCostIsTheRoutersEstimateNotZero) {
  auto p = Compile(std::string(kCap) + R"(
test "pricey" {
  given { request.model: "openai/gpt-4o", request.max_tokens: 100000 }
  candidate { provider.name: "openai", endpoint.price_input: 1000 usd, endpoint.price_output: 1000 usd }
  expect accepted
}
test "pricey is rejected" {
  given { request.model: "openai/gpt-4o", request.max_tokens: 100000 }
  candidate { provider.name: "openai", endpoint.price_input: 1000 usd, endpoint.price_output: 1000 usd }
  expect rejected_by cap
}
test "cheap" {
  given { request.model: "openai/gpt-4o", request.max_tokens: 100 }
  candidate { provider.name: "openai", endpoint.price_input: 1 usd, endpoint.price_output: 2 usd }
  expect accepted
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  // 100000 x 1000 usd / 1e6 = 100 usd (plus the prompt): far above 0.50.
  const TestResult& pricey = Find(r, "pricey");
  EXPECT_FALSE(pricey.pass);
  EXPECT_TRUE(Has(pricey, "rule `cap` rejects it")) << Failures(pricey);
  EXPECT_TRUE(Find(r, "pricey is rejected").pass) << Failures(Find(r, "pricey is rejected"));
  EXPECT_TRUE(Find(r, "cheap").pass) << Failures(Find(r, "cheap"));
}

TEST(TestRightReason, EstimatedCostIsExactlyTheRoutersFormula) {
  // 1000 x 3 usd / 1e6 + (500 x 2 completions) x 15 usd / 1e6 + 0.01 usd = 0.028 usd.
  auto p = Compile(R"(policy "exact"
rule exact { require endpoint.estimated_cost == 0.028 usd }
rule below { require endpoint.estimated_cost < 0.028 usd }
test "exact" {
  given { request.input_tokens: 1000, request.max_tokens: 500, request.n: 2 }
  candidate { endpoint.price_input: 3 usd, endpoint.price_output: 15 usd, endpoint.price_request: 0.01 usd }
  expect rejected_by below
}
test "exact accepted without below" {
  given { request.input_tokens: 1000, request.max_tokens: 500, request.n: 2 }
  candidate { endpoint.price_input: 3 usd, endpoint.price_output: 15 usd, endpoint.price_request: 0.01 usd }
  expect accepted
}
test "given cost is kept" {
  given { request.max_tokens: 500 }
  candidate { endpoint.price_input: 3 usd, endpoint.price_output: 15 usd, endpoint.estimated_cost: 0.028 usd }
  expect rejected_by below
}
test "max output when no max_tokens" {
  given { request.input_tokens: 1000, request.n: 2 }
  candidate { endpoint.price_input: 3 usd, endpoint.price_output: 15 usd, endpoint.price_request: 0.01 usd,
              endpoint.max_output_tokens: 500 }
  expect rejected_by below
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "exact").pass) << Failures(Find(r, "exact"));
  // `below` rejects it: only `exact` passing is not enough.
  const TestResult& acc = Find(r, "exact accepted without below");
  EXPECT_FALSE(acc.pass);
  ASSERT_EQ(acc.failures.size(), 1u) << Failures(acc);
  EXPECT_TRUE(Has(acc, "rule `below` rejects it")) << Failures(acc);
  EXPECT_TRUE(Find(r, "given cost is kept").pass) << Failures(Find(r, "given cost is kept"));
  EXPECT_TRUE(Find(r, "max output when no max_tokens").pass)
      << Failures(Find(r, "max output when no max_tokens"));
}

TEST(TestRightReason, WithoutPricesTheCostIsAbsentAsInEval) {
  auto p = Compile(std::string(kCap) + R"(
test "no prices" {
  given { request.max_tokens: 100 }
  candidate { provider.name: "openai" }
  expect accepted
}
test "no max_tokens and no max output" {
  given { request.content: "hi" }
  candidate { endpoint.price_input: 1 usd, endpoint.price_output: 1 usd }
  expect accepted
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  for (const char* n : {"no prices", "no max_tokens and no max output"}) {
    const TestResult& t = Find(r, n);
    EXPECT_FALSE(t.pass) << n;
    EXPECT_TRUE(Has(t, "endpoint.estimated_cost")) << n << ": " << Failures(t);
  }
}

// `eval` (runtime::Decide) answers a decision input's candidate as the test
// runner judges the same candidate block.
TEST(TestRightReason, EvalDerivesTheSameCost) {
  auto p = Compile(kCap);
  ASSERT_TRUE(p);
  auto decide = [&](const std::string& candidate) {
    std::string in = R"({"principal": {"workspace": "w"}, "request": {"model": "openai/gpt-4o",
      "max_tokens": 100000, "messages": [{"role": "user", "content": "hi"}]}, "candidate": )" +
                     candidate + "}";
    DecideScratch s;
    InputError err;
    EXPECT_TRUE(Decide(*p, in, Limits{}, false, nullptr, &s, &err)) << err.message;
    return std::string(s.decision.code) + " " + std::to_string(s.decision.errors.size());
  };
  // Priced: the estimate (100 usd) is compared -- a real rejection, no error.
  EXPECT_EQ(decide(R"({"provider": {"name": "openai"}, "endpoint": {"price_input": "1000", "price_output": "1000"}})"),
            "require_failed 0");
  EXPECT_EQ(decide(R"({"provider": {"name": "openai"}, "endpoint": {"price_input": "1", "price_output": "2"}})"),
            "ok 0");
  // Unpriced: nothing to estimate from; the require errors (fail closed).
  EXPECT_EQ(decide(R"({"provider": {"name": "openai"}})"), "require_failed 1");
}

// --- 2. a rule that errored neither fired nor "did not fire" ---

TEST(TestRightReason, NotFiredFailsWhenTheRuleErrored) {
  auto p = Compile(R"(policy "t5"
rule per_token_price {
  when 1000000 / request.input_tokens > 500
  deny 400 "prompt too short to be worth it"
}
test "errored" { given { request.content: "" } expect not_fired per_token_price }
test "errored fired" { given { request.content: "" } expect fired per_token_price }
test "really not fired" { given { request.input_tokens: 5000 } expect not_fired per_token_price }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& e = Find(r, "errored");
  EXPECT_FALSE(e.pass);
  EXPECT_TRUE(Has(e, "evaluation failed: eval_arithmetic_error")) << Failures(e);
  EXPECT_TRUE(Has(e, "rule_error")) << Failures(e);
  const TestResult& f = Find(r, "errored fired");
  EXPECT_FALSE(f.pass);
  EXPECT_TRUE(Has(f, "eval_arithmetic_error")) << Failures(f);
  EXPECT_TRUE(Find(r, "really not fired").pass) << Failures(Find(r, "really not fired"));
}

// --- 3. enforcement expectations judge what production does ---

constexpr const char* kShadow = R"(policy "t7"
rule confidential_needs_zdr mode shadow {
  when context.data_class == "confidential"
  require provider.zdr
}
rule cards mode shadow {
  when request.content matches dlp.credit_card
  redact dlp.credit_card as "[CARD]"
}
rule emails { redact dlp.email as "[EMAIL]" }
rule eu { require provider.jurisdiction == "DE" }
)";

TEST(TestRightReason, RejectedByAndRedactsJudgeEnforcement) {
  auto p = Compile(std::string(kShadow) + R"(
test "shadow require" {
  given { context.data_class: "confidential" }
  candidate { provider.name: "openai", provider.zdr: false, provider.jurisdiction: "DE" }
  expect rejected_by confidential_needs_zdr
}
test "shadow require, shadow form" {
  given { context.data_class: "confidential" }
  candidate { provider.name: "openai", provider.zdr: false, provider.jurisdiction: "DE" }
  expect shadow rejected_by confidential_needs_zdr
  expect accepted
}
test "enforced require, shadow form" {
  given { context.data_class: "confidential" }
  candidate { provider.name: "openai", provider.zdr: true, provider.jurisdiction: "US" }
  expect shadow rejected_by eu
}
test "shadow redaction" {
  given { request.content: "card 4111 1111 1111 1111" }
  expect redacts "[CARD]"
}
test "shadow redaction, shadow form" {
  given { request.content: "card 4111 1111 1111 1111 to a@example.com" }
  expect shadow redacts "[CARD]"
  expect shadow fired cards
  expect redacts "[EMAIL]"
  expect redacted "card 4111 1111 1111 1111 to [EMAIL]"
}
test "enforced redaction, shadow form" {
  given { request.content: "to a@example.com" }
  expect shadow redacts "[EMAIL]"
  expect shadow fired emails
}
test "shadow redaction that replaces nothing" {
  given { request.content: "card 4111 1111 1111 1111" }
  expect shadow redacts "[NONE]"
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& sr = Find(r, "shadow require");
  EXPECT_FALSE(sr.pass);
  EXPECT_TRUE(Has(sr, "fired in shadow mode")) << Failures(sr);
  EXPECT_TRUE(Has(sr, "expect shadow rejected_by confidential_needs_zdr")) << Failures(sr);
  EXPECT_TRUE(Find(r, "shadow require, shadow form").pass) << Failures(Find(r, "shadow require, shadow form"));
  const TestResult& er = Find(r, "enforced require, shadow form");
  EXPECT_FALSE(er.pass);
  EXPECT_TRUE(Has(er, "enforced for this request")) << Failures(er);
  const TestResult& rd = Find(r, "shadow redaction");
  EXPECT_FALSE(rd.pass);
  EXPECT_TRUE(Has(rd, "expect shadow redacts \"[CARD]\"")) << Failures(rd);
  EXPECT_TRUE(Find(r, "shadow redaction, shadow form").pass)
      << Failures(Find(r, "shadow redaction, shadow form"));
  const TestResult& ed = Find(r, "enforced redaction, shadow form");
  EXPECT_FALSE(ed.pass);
  ASSERT_EQ(ed.failures.size(), 2u) << Failures(ed);
  EXPECT_TRUE(Has(ed, "expect redacts \"[EMAIL]\"")) << Failures(ed);
  EXPECT_TRUE(Has(ed, "to fire in shadow mode, it fired in enforced mode")) << Failures(ed);
  EXPECT_FALSE(Find(r, "shadow redaction that replaces nothing").pass);
}

// `mode shadow when C`: the expectation follows the mode the rule has for
// the test's request.
TEST(TestRightReason, PerRequestModeDecidesWhichFormHolds) {
  auto p = Compile(R"(policy "pilot"
rule zdr mode shadow when principal.workspace == "pilot" {
  when context.data_class == "confidential"
  require provider.zdr
}
test "pilot: shadow" {
  given { principal.workspace: "pilot", context.data_class: "confidential" }
  candidate { provider.zdr: false }
  expect shadow rejected_by zdr
}
test "pilot: not enforced" {
  given { principal.workspace: "pilot", context.data_class: "confidential" }
  candidate { provider.zdr: false }
  expect rejected_by zdr
}
test "others: enforced" {
  given { principal.workspace: "acme", context.data_class: "confidential" }
  candidate { provider.zdr: false }
  expect rejected_by zdr
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "pilot: shadow").pass) << Failures(Find(r, "pilot: shadow"));
  EXPECT_FALSE(Find(r, "pilot: not enforced").pass);
  EXPECT_TRUE(Find(r, "others: enforced").pass) << Failures(Find(r, "others: enforced"));
}

// --- 4. an allow that only an on_error skip made ---

// A deny rule whose `when` failed under `on_error skip` lets the request
// through: `expect allow` held although the rule never decided (no counters
// given, a division by zero), and the test read as "plenty left: allowed".
TEST(TestRightReason, AllowFailsWhenASkippedDenyRuleErrored) {
  auto p = Compile(R"(policy "t8"
budget team { key principal.workspace per month limit 1000 usd }
rule low_budget on_error skip {
  when budget.team.remaining < 10 usd
  deny 402 "team budget nearly exhausted"
}
rule ratio on_error skip {
  when request.input_tokens / (request.max_tokens ?? 0) > 100
  deny 400 "prompt far longer than the answer"
}
rule tagger on_error skip {
  when 10 / (request.max_tokens ?? 0) > 1
  tag short = true
}
test "no counters" { given { principal.workspace: "a", request.max_tokens: 1 } expect allow }
test "counters given" {
  given { principal.workspace: "a", request.max_tokens: 1, budget.team.spent: 5 usd }
  expect allow
}
test "division by zero" { given { principal.workspace: "a", budget.team.spent: 5 usd } expect allow }
test "fail-open on purpose" {
  given { principal.workspace: "a", budget.team.spent: 5 usd }
  expect code "ok"
}
test "only a tag rule failed" {
  given { principal.workspace: "a", request.max_tokens: 0, budget.team.spent: 5 usd }
  expect code "ok"
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& nc = Find(r, "no counters");
  EXPECT_FALSE(nc.pass);
  EXPECT_TRUE(Has(nc, "skipped the deny rule `low_budget`, whose evaluation failed")) << Failures(nc);
  EXPECT_TRUE(Has(nc, "eval_missing_field")) << Failures(nc);
  EXPECT_TRUE(Has(nc, "`expect code \"ok\"`")) << Failures(nc);
  EXPECT_TRUE(Find(r, "counters given").pass) << Failures(Find(r, "counters given"));
  const TestResult& dz = Find(r, "division by zero");
  EXPECT_FALSE(dz.pass);
  EXPECT_TRUE(Has(dz, "the deny rule `ratio`")) << Failures(dz);
  EXPECT_TRUE(Has(dz, "eval_arithmetic_error")) << Failures(dz);
  EXPECT_TRUE(Find(r, "fail-open on purpose").pass) << Failures(Find(r, "fail-open on purpose"));
  EXPECT_TRUE(Find(r, "only a tag rule failed").pass) << Failures(Find(r, "only a tag rule failed"));
}

TEST(TestRightReason, AllowStillHoldsWhenOnlyANonDenyRuleErrored) {
  auto p = Compile(R"(policy "t9"
rule tagger on_error skip {
  when 10 / (request.max_tokens ?? 0) > 1
  tag short = true
}
rule shadowed mode shadow on_error skip {
  when 10 / (request.max_tokens ?? 0) > 1
  deny 400 "x"
}
test "tag rule failed" { given { request.max_tokens: 0 } expect allow }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "tag rule failed").pass) << Failures(Find(r, "tag rule failed"));
}


// --- 5. a deny that only the runner's default values made ---

// A test that leaves `principal.workspace` out runs as workspace "test"
// (and `request.model` as "test-model"): a registry rule denies that
// workspace, so every `expect deny` of the policy held whatever the rule
// under test did -- a test of the allowed case written `expect deny` passed.
TEST(TestRightReason, DenyFailsWhenTheDenyingRuleReadTheRunnersDefault) {
  auto p = Compile(R"(policy "t10"
const registered = {"acme", "beta"}
const approved = {"openai/gpt-4o"}
rule unknown_workspace {
  when principal.workspace not in registered
  deny 403 "workspace is not registered"
}
rule unapproved_model {
  when principal.workspace in registered and request.model not in approved
  deny 403 "model not approved"
}
rule no_free {
  when "free" in request.variants
  deny 403 "free variants train on prompts"
}
test "free denied, workspace left out" {
  given { request.model: "meta/llama:free" }
  expect deny 403
}
test "free denied" {
  given { principal.workspace: "acme", request.model: "openai/gpt-4o:free" }
  expect deny 403
}
test "model left out" { given { principal.workspace: "acme" } expect deny }
test "registry tested on purpose" {
  given { request.model: "openai/gpt-4o" }
  expect deny
  expect fired unknown_workspace
}
test "reason named" {
  given { request.model: "openai/gpt-4o" }
  expect deny
  expect reason "workspace is not registered"
}
test "code" { given { request.model: "meta/llama:free" } expect code "policy_denied" }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& w = Find(r, "free denied, workspace left out");
  EXPECT_FALSE(w.pass);
  EXPECT_TRUE(Has(w, "denied by rule `unknown_workspace`, whose condition reads `principal.workspace`, "
                     "which the test does not give (the runner's default `\"test\"`)")) << Failures(w);
  EXPECT_TRUE(Find(r, "free denied").pass) << Failures(Find(r, "free denied"));
  const TestResult& m = Find(r, "model left out");
  EXPECT_FALSE(m.pass);
  EXPECT_TRUE(Has(m, "rule `unapproved_model`, whose condition reads `request.model`")) << Failures(m);
  EXPECT_TRUE(Find(r, "registry tested on purpose").pass) << Failures(Find(r, "registry tested on purpose"));
  EXPECT_TRUE(Find(r, "reason named").pass) << Failures(Find(r, "reason named"));
  const TestResult& c = Find(r, "code");
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(Has(c, "`unknown_workspace`")) << Failures(c);
}

// 6. `expect rejected_by` by a require reading a candidate field the
// `candidate` block leaves out: the field reads as a neutral value (`""`,
// false, 0), which a residency allowlist rejects whatever it lists -- "a UK
// endpoint is rejected" with `candidate { provider.name:
// "amazon-bedrock/eu-west-2" }` passed with GB in the allowlist. Before, it
// passed.
TEST(TestRightReason, RejectedByADefaultedCandidateFieldFails) {
  auto p = Compile(R"(policy "eu"
const eu = {"DE", "FR", "GB", "IE"}
rule eu_only { require provider.jurisdiction in eu }
rule zdr { when context.data_class == "confidential" require provider.zdr }
test "uk rejected, jurisdiction left out" {
  given { request.model: "anthropic/claude" }
  candidate { provider.name: "amazon-bedrock/eu-west-2" }
  expect rejected_by eu_only
}
test "us rejected" {
  given { request.model: "openai/gpt-4o" }
  candidate { provider.name: "openai", provider.jurisdiction: "US" }
  expect rejected_by eu_only
}
test "confidential needs zdr, zdr left out" {
  given { context.data_class: "confidential" }
  candidate { provider.name: "mistral", provider.jurisdiction: "FR" }
  expect rejected_by zdr
}
test "confidential needs zdr" {
  given { context.data_class: "confidential" }
  candidate { provider.name: "mistral", provider.jurisdiction: "FR", provider.zdr: false }
  expect rejected_by zdr
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& uk = Find(r, "uk rejected, jurisdiction left out");
  EXPECT_FALSE(uk.pass);
  EXPECT_TRUE(Has(uk, "expected rule `eu_only` to reject the candidate, but only its require "
                      "`provider.jurisdiction in eu` does, which reads `provider.jurisdiction` that the "
                      "`candidate` block does not give (a neutral `\"\"`)")) << Failures(uk);
  EXPECT_TRUE(Find(r, "us rejected").pass) << Failures(Find(r, "us rejected"));
  const TestResult& z = Find(r, "confidential needs zdr, zdr left out");
  EXPECT_FALSE(z.pass);
  EXPECT_TRUE(Has(z, "reads `provider.zdr` that the `candidate` block does not give (a neutral `false`)"))
      << Failures(z);
  EXPECT_TRUE(Find(r, "confidential needs zdr").pass) << Failures(Find(r, "confidential needs zdr"));
}

}  // namespace
}  // namespace tollgate::runtime
