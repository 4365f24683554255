// The per-rule instruction budget (vm.h, limits.h), the tg_cost_bound
// compile warning, and typed trace values (records with field names).
#include <gtest/gtest.h>

#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

// Three nested quantifiers over request.messages: 4096^3 iterations, far over
// the default budget of 1'000'000 instructions.
const char kHeavy[] =
    "rule heavy mode shadow on_error skip { when any m in request.messages: "
    "(any n in request.messages: (any k in request.messages: "
    "m.content == n.content and n.content == k.content and m.content == \"zz\")) deny \"x\" }\n";
const char kNoSecrets[] =
    "rule no_secrets on_error skip { when request.content matches dlp.api_key deny 422 \"secret\" }\n";

std::vector<std::pair<std::string, std::string>> ManyMessages() {
  std::vector<std::pair<std::string, std::string>> msgs(4096, {"user", "hello"});
  msgs[4000].second = "my key is AKIAIOSFODNN7EXAMPLE";
  return msgs;
}

TEST(Budget, ShadowRuleExhaustingItDoesNotChangeTheEnforcedOutcome) {
  auto p = Compile(std::string(kHeavy) + kNoSecrets);
  auto req = Request().Messages(ManyMessages()).Take();
  auto d = Eval(*p, *req);
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].code, vm::kErrBudget);
  EXPECT_EQ(p->program().rules()[d->errors[0].rule].name, "heavy");
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->status, 422);
  EXPECT_EQ(d->reason, "secret");
  EXPECT_EQ(Names(*p, d->fired), std::vector<std::string>{"no_secrets"});
  // The total stays bounded: at most one budget per rule evaluated.
  EXPECT_GT(d->instructions, Limits{}.instruction_budget);
  EXPECT_LE(d->instructions, 2 * Limits{}.instruction_budget);
}

TEST(Budget, SameOutcomeWithoutTheShadowRule) {
  auto p = Compile(kNoSecrets);
  auto req = Request().Messages(ManyMessages()).Take();
  auto d = Eval(*p, *req);
  EXPECT_TRUE(d->errors.empty());
  EXPECT_EQ(d->status, 422);
}

TEST(Budget, EveryRuleGetsTheWholeBudget) {
  // Each rule needs ~5 x 50 instructions; a budget of 400 covers one rule,
  // not the three together.
  auto p = Compile(
      "rule a { when any m in request.messages: m.content == \"zz\" deny \"a\" }\n"
      "rule b { when any m in request.messages: m.content == \"zz\" deny \"b\" }\n"
      "rule c { when any m in request.messages: m.content == \"hello\" warn \"c\" }\n");
  auto req = Request().Messages(std::vector<std::pair<std::string, std::string>>(50, {"user", "hello"})).Take();
  vm::Decision d;
  vm::EvalOptions o;
  o.instruction_budget = 400;
  vm::Evaluate(p->program(), *req, o, &d);
  EXPECT_TRUE(d.errors.empty());
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
  EXPECT_EQ(Names(*p, d.fired), std::vector<std::string>{"c"});
  EXPECT_GT(d.instructions, 400u);
}

TEST(Budget, EvalRequireHasItsOwnBudget) {
  auto p = Compile(
      "rule r { require any m in request.messages: m.content == endpoint.model }\n");
  auto req = Request().Messages(std::vector<std::pair<std::string, std::string>>(50, {"user", "hello"})).Take();
  auto cand = Candidate().Str("endpoint.model", "hello").Take();
  vm::EvalOptions o;
  o.instruction_budget = 3;
  vm::RequireResult small = vm::EvalRequire(p->program(), 0, *req, *cand, o);
  EXPECT_TRUE(small.error);
  EXPECT_EQ(small.code, vm::kErrBudget);
  vm::RequireResult full = vm::EvalRequire(p->program(), 0, *req, *cand, {});
  EXPECT_FALSE(full.error);
  EXPECT_TRUE(full.pass);
}

std::vector<Diagnostic> Warnings(const std::string& body) {
  Compiled c = CompileSource("test.tg", "policy \"t\"\n" + body, CompileOptions{});
  EXPECT_TRUE(c.policy != nullptr) << c.diagnostics.Render();
  std::vector<Diagnostic> out;
  for (const Diagnostic& d : c.diagnostics.items()) {
    if (d.code == "tg_cost_bound") out.push_back(d);
  }
  return out;
}

TEST(CostBound, WarnsWhenARuleMayExceedTheBudget) {
  auto w = Warnings(kHeavy);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].severity, Severity::kWarning);
  EXPECT_NE(w[0].message.find("rule `heavy`"), std::string::npos) << w[0].message;
  EXPECT_NE(w[0].message.find("instruction budget of 1000000"), std::string::npos) << w[0].message;
  EXPECT_FALSE(w[0].help.empty());
  // The message names the static bound, which is the rule's cost bound.
  auto p = Compile(kHeavy);
  std::string bound = std::to_string(p->program().rules()[0].cost_bound);
  EXPECT_NE(w[0].message.find("up to " + bound + " instructions"), std::string::npos) << w[0].message;
}

TEST(CostBound, WarnsForAHeavyRequire) {
  auto w = Warnings(
      "rule r { require any m in request.messages: (any n in request.messages: "
      "m.content == n.content and m.content == endpoint.model) }\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].message.find("a `require` of rule `r`"), std::string::npos) << w[0].message;
}

TEST(CostBound, NoWarningForBoundedRules) {
  EXPECT_TRUE(Warnings(kNoSecrets).empty());
  EXPECT_TRUE(Warnings("rule one { when any m in request.messages: m.content == \"x\" deny \"x\" }\n").empty());
}

TEST(Trace, RecordsRenderWithFieldNames) {
  auto p = Compile("rule r { when any m in request.messages: m.role == \"tool\" deny \"x\" }\n");
  auto req = Request().Messages({{"system", "be nice"}, {"user", "hi \"there\""}}).Take();
  auto d = Eval(*p, *req, /*trace=*/true);
  ASSERT_EQ(d->trace.size(), 1u);
  ASSERT_EQ(d->trace[0].values.size(), 1u);
  EXPECT_EQ(d->trace[0].values[0].first, "request.messages");
  // The optional `name` is absent, so it is omitted.
  EXPECT_EQ(d->trace[0].values[0].second,
            "[{\"role\":\"system\",\"content\":\"be nice\"},{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\"}]");
}

}  // namespace
}  // namespace tollgate::vmtest
