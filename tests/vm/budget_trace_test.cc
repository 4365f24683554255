// The per-rule instruction budget (vm.h, limits.h), the tg_cost_bound
// compile warning, and typed trace values (records with field names, raw
// content summarised with masked matches).
#include <gtest/gtest.h>

#include "engine/vm/internal/trace.h"
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
  // The optional `name` is absent, so it is omitted; texts are never copied.
  EXPECT_EQ(d->trace[0].values[0].second,
            "[{\"role\":\"system\",\"content\":{\"length\":7}},{\"role\":\"user\",\"content\":{\"length\":10}}]");
}

// --explain shows what matched where, never the raw content: the detector
// or pattern, the byte span and a masked excerpt.
TEST(Trace, ContentIsSummarisedWithMaskedMatches) {
  auto p = Compile(
      "rule cards { when request.content matches dlp.credit_card deny \"card\" }\n"
      "rule word { when request.content contains \"secret\" or request.content matches \"[0-9]{3}-x\" "
      "deny \"w\" }\n"
      "rule ws { when principal.workspace == \"w\" tag ws = true }\n");
  auto req = Request().Str("principal.workspace", "w")
                 .Messages({{"user", "my secret card 4111 1111 1111 1111, 123-x"}}).Take();
  auto d = Eval(*p, *req, /*trace=*/true);
  ASSERT_EQ(d->trace.size(), 3u);
  std::string all;
  for (const auto& t : d->trace)
    for (const auto& [path, json] : t.values) all += std::string(path) + "=" + json + "\n";
  EXPECT_EQ(all.find("4111"), std::string::npos) << all;
  EXPECT_EQ(all.find("my secret"), std::string::npos) << all;
  ASSERT_EQ(d->trace[0].values.size(), 1u);
  EXPECT_EQ(d->trace[0].values[0].second,
            "{\"length\":41,\"matches\":[{\"detector\":\"dlp.credit_card\",\"span\":[15,34],"
            "\"excerpt\":\"41***************11\"}]}");
  ASSERT_EQ(d->trace[1].values.size(), 1u);
  EXPECT_EQ(d->trace[1].values[0].second,
            "{\"length\":41,\"matches\":[{\"pattern\":\"secret\",\"span\":[3,9],\"excerpt\":\"******\"}]}")
      << "`or` stops at the first match";
  // Ordinary fields are still shown as they are.
  ASSERT_EQ(d->trace[2].values.size(), 1u);
  EXPECT_EQ(d->trace[2].values[0].second, "\"w\"");
}

TEST(Trace, MaskExcerpt) {
  EXPECT_EQ(vm::internal::MaskExcerpt("4111111111111111"), "41************11");
  EXPECT_EQ(vm::internal::MaskExcerpt("abc"), "***");
  EXPECT_EQ(vm::internal::MaskExcerpt("abcdefgh"), "ab****gh");
  EXPECT_EQ(vm::internal::MaskExcerpt("äöüßäöüß"), "äö****üß");  // characters, not bytes
  EXPECT_EQ(vm::internal::MaskExcerpt(std::string(100, 'x')), "xx****************xx");
}

}  // namespace
}  // namespace tollgate::vmtest
