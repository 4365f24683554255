// Combining rules, modes, on_error, effects, budget, trace, EvalRequire,
// EvalKey and the version id (docs/architecture.md, decision.h).
#include <gtest/gtest.h>

#include <regex>

#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {


TEST(Combining, FirstEnforcedDenyWins) {
  auto p = Compile(
      "rule a { when request.model == \"x\" deny 402 \"a\" }\n"
      "rule b { when request.model == \"m\" deny 451 \"b\" }\n"
      "rule c { deny 429 \"c\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->status, 451);
  EXPECT_EQ(d->reason, "b");
  EXPECT_EQ(d->code, vm::kCodePolicyDenied);
  EXPECT_EQ(p->program().rules()[d->deny_rule].name, "b");
  EXPECT_EQ(Names(*p, d->fired), (std::vector<std::string>{"b", "c"}));
}

TEST(Combining, AllowWhenNothingFires) {
  auto p = Compile("rule a { when request.model == \"x\" deny \"a\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  EXPECT_EQ(d->status, 200);
  EXPECT_EQ(d->code, vm::kCodeOk);
  EXPECT_TRUE(d->fired.empty());
}

TEST(Combining, ShadowAndAdvisoryAreListedNotEnforced) {
  auto p = Compile(
      "rule s mode shadow { deny \"s\" require provider.zdr }\n"
      "rule a mode advisory { warn \"careful\" deny \"a\" }\n"
      "rule e { require provider.zdr == true }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  EXPECT_EQ(Names(*p, d->shadow), std::vector<std::string>{"s"});
  EXPECT_EQ(Names(*p, d->advisory), std::vector<std::string>{"a"});
  EXPECT_EQ(Names(*p, d->fired), std::vector<std::string>{"e"});
  ASSERT_EQ(d->shadow_requires.size(), 1u);
  EXPECT_EQ(d->shadow_requires[0].require, 0u);
  ASSERT_EQ(d->require_refs.size(), 1u);
  EXPECT_EQ(d->require_refs[0].require, 1u);
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_EQ(d->warnings[0].message, "careful");
}

TEST(Combining, OnErrorDenyAndSkip) {
  auto deny = Compile("rule r { when request.max_tokens > 5 deny \"big\" }\n");
  auto d = Eval(*deny, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->code, vm::kCodeRuleError);
  EXPECT_EQ(d->status, 403);
  EXPECT_EQ(d->reason, "policy evaluation failed");
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].code, vm::kErrMissingField);  // a defensive code (AllPresentSchema)
  EXPECT_TRUE(d->fired.empty());

  auto skip = Compile("rule r on_error skip { when request.max_tokens > 5 deny \"big\" }\n");
  d = Eval(*skip, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  ASSERT_EQ(d->errors.size(), 1u);

  auto shadow = Compile("rule r mode shadow { when request.max_tokens > 5 deny \"big\" }\n");
  d = Eval(*shadow, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  EXPECT_EQ(d->errors.size(), 1u);
  EXPECT_TRUE(d->shadow.empty());
}

TEST(Combining, ErrorDenyInRuleOrder) {
  auto p = Compile(
      "rule first { when request.model == \"m\" deny 451 \"first\" }\n"
      "rule broken { when request.max_tokens > 5 deny \"x\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->status, 451);
  EXPECT_EQ(d->code, vm::kCodePolicyDenied);
  EXPECT_EQ(d->errors.size(), 1u);
}

// Issue 6 item 2: an error never masks a real deny, whatever the rule order
// (the erroring rule used to win when it came first).
TEST(Combining, RealDenyWinsOverAnEarlierRuleError) {
  auto p = CompileChecked(
      "rule broken { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"x\" }\n"
      "rule real { when request.model == \"m\" deny 451 \"real reason\" }\n");
  auto d = Eval(*p, *Request().Int("request.input_tokens", 3).Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->status, 451);
  EXPECT_EQ(d->code, vm::kCodePolicyDenied);
  EXPECT_EQ(d->reason, "real reason");
  EXPECT_EQ(Names(*p, {d->deny_rule}), std::vector<std::string>{"real"});
  ASSERT_EQ(d->errors.size(), 1u);  // still listed
  EXPECT_EQ(d->errors[0].code, vm::kErrArithmetic);
}

TEST(Combining, RuleErrorDenyHasAFixedPublicReason) {
  auto p = CompileChecked(
      "rule broken { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"x\" }\n");
  auto d = Eval(*p, *Request().Int("request.input_tokens", 3).Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->status, 403);
  EXPECT_EQ(d->code, vm::kCodeRuleError);
  EXPECT_EQ(d->reason, "policy evaluation failed");  // never the internal message
  EXPECT_EQ(Names(*p, {d->deny_rule}), std::vector<std::string>{"broken"});
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].message, "division by zero");
}

TEST(Combining, TagErrorDropsTheTagNotTheRule) {
  auto p = CompileChecked(
      "rule r {\n"
      "  when request.model == \"m\"\n"
      "  tag ratio = 1 / (request.input_tokens - request.input_tokens)\n"
      "  tag tier = \"gold\"\n"
      "  warn \"w\"\n"
      "}\n");
  auto d = Eval(*p, *Request().Int("request.input_tokens", 3).Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);  // not a rule error
  EXPECT_EQ(Names(*p, d->fired), std::vector<std::string>{"r"});
  ASSERT_EQ(d->tags.size(), 1u);
  EXPECT_EQ(d->tags[0].key, "tier");
  ASSERT_EQ(d->warnings.size(), 1u);
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].code, vm::kErrArithmetic);
  EXPECT_EQ(d->errors[0].message, "tag `ratio` dropped: division by zero");
}

// Item 2: `on_error skip` on a rule with `require` keeps a candidate whose
// predicate errors; `on_error deny` eliminates it. Both report the error.
TEST(Combining, RequireErrorFollowsOnError) {
  auto p = CompileChecked(
      "rule strict { require 100 / provider.retention_days > 1 }\n"
      "rule lenient on_error skip { require 100 / provider.retention_days > 1 }\n");
  auto req = Request().Take();
  auto zero = Candidate().Int("provider.retention_days", 0).Take();
  vm::RequireResult strict = vm::EvalRequire(p->program(), 0, *req, *zero, {});
  EXPECT_TRUE(strict.error);
  EXPECT_FALSE(strict.pass);
  EXPECT_EQ(strict.code, vm::kErrArithmetic);
  vm::RequireResult lenient = vm::EvalRequire(p->program(), 1, *req, *zero, {});
  EXPECT_TRUE(lenient.error);
  EXPECT_TRUE(lenient.pass);
  auto thirty = Candidate().Int("provider.retention_days", 30).Take();
  EXPECT_TRUE(vm::EvalRequire(p->program(), 1, *req, *thirty, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 1, *req, *thirty, {}).error);
}

// Issue 6 item 1: `when request.stream and ...` used to check clean and deny
// ordinary requests without `stream` at run time (eval_missing_field, 403).
TEST(Optional, UnguardedReadIsACheckErrorAndDefaultsEvaluate) {
  std::string e = CheckedErrors("rule r { when request.stream and request.model == \"m\" deny \"s\" }\n");
  EXPECT_NE(e.find("test.tg:2:15: error[tg_unguarded_optional]"), std::string::npos) << e;
  EXPECT_NE(e.find("exists(request.stream) and ..."), std::string::npos) << e;
  EXPECT_NE(e.find("request.stream ?? false"), std::string::npos) << e;

  auto p = CompileChecked("rule r { when (request.stream ?? false) and request.model == \"m\" deny \"s\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  EXPECT_TRUE(d->errors.empty());
  d = Eval(*p, *Request().Bool("request.stream", true).Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->code, vm::kCodePolicyDenied);

  auto g = CompileChecked("rule r { when exists(request.stream) and request.stream deny \"s\" }\n");
  EXPECT_TRUE(Eval(*g, *Request().Take())->errors.empty());
}

TEST(Optional, OptionalSetsReadAsEmptyWithoutGuards) {
  auto p = CompileChecked(
      "rule r { when \"x\" in principal.groups or (any t in request.tools: t == \"x\") "
      "or (all t in context.tags: t == \"y\") deny \"s\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_TRUE(d->errors.empty());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);  // `all` over an empty set holds
}

TEST(Combining, EffectsOfFiredRules) {
  auto p = Compile(
      "rule r1 {\n"
      "  when request.model == \"m\"\n"
      "  redact dlp.credit_card as \"[CARD]\"\n"
      "  redact \"secret-[0-9]+\" as \"[S]\"\n"
      "  route sort price, max_price 1.00 usd, max_price prompt 3.00 usd\n"
      "  tag tier = \"gold\"\n"
      "  tag model = lower(request.model)\n"
      "  warn \"w1\"\n"
      "}\n"
      "rule r2 { route sort latency, max_price 0.50 usd, order [\"a\", \"b\"] }\n"
      "rule r3 { when request.model == \"x\" route max_price 0.01 usd }\n");
  auto d = Eval(*p, *Request().Take());
  ASSERT_EQ(d->redactions.size(), 2u);
  EXPECT_EQ(d->redactions[0].pattern, "dlp.credit_card");
  EXPECT_EQ(d->redactions[0].replacement, "[CARD]");
  EXPECT_EQ(d->redactions[1].pattern, "secret-[0-9]+");
  EXPECT_EQ(d->redactions[1].effect, 1u);
  EXPECT_EQ(d->route.sort, vm::SortBy::kPrice);
  EXPECT_EQ(d->route.max_request_cost, 500000);
  EXPECT_EQ(d->route.max_prompt, 3000000);
  EXPECT_EQ(d->route.max_completion, -1);
  ASSERT_EQ(d->route.order.size(), 2u);
  EXPECT_EQ(d->route.order[0], "a");
  EXPECT_EQ(Names(*p, d->route.rules), (std::vector<std::string>{"r1", "r2"}));
  ASSERT_EQ(d->tags.size(), 2u);
  EXPECT_EQ(d->tags[0].key, "tier");
  EXPECT_EQ(ToJson(d->tags[0].value), "\"gold\"");
  EXPECT_EQ(ToJson(d->tags[1].value), "\"m\"");
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_EQ(d->warnings[0].message, "w1");
  EXPECT_STREQ(vm::SortName(d->route.sort), "price");
  const auto& red = p->program().redactions();
  ASSERT_EQ(red.size(), 2u);
  EXPECT_GE(red[0].detector, 0);
  EXPECT_FALSE(red[0].regex.empty());
  EXPECT_EQ(red[1].detector, -1);
  EXPECT_EQ(red[1].regex, "secret-[0-9]+");
}

TEST(Combining, DecisionReuseClears) {
  auto p = Compile("rule r { when request.model == \"x\" deny \"x\" tag t = request.model }\n");
  vm::Decision d;
  auto hit = Request().Str("request.model", "x").Take();
  auto miss = Request().Take();
  vm::Evaluate(p->program(), *hit, {}, &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.tags.size(), 1u);
  vm::Evaluate(p->program(), *miss, {}, &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
  EXPECT_TRUE(d.tags.empty());
  EXPECT_TRUE(d.fired.empty());
  EXPECT_EQ(d.reason, "");
}

TEST(Combining, InstructionBudget) {
  auto p = Compile(
      "rule loop { when any m in request.messages: m.content contains \"zzz\" deny \"z\" }\n"
      "rule after { when request.model == \"m\" warn \"after\" }\n");
  std::vector<std::pair<std::string, std::string>> msgs(50, {"user", "hello"});
  auto req = Request().Messages(msgs).Take();
  vm::Decision d;
  vm::EvalOptions o;
  o.instruction_budget = 40;
  vm::Evaluate(p->program(), *req, o, &d);
  ASSERT_EQ(d.errors.size(), 1u);  // the budget is per rule: only `loop` fails
  EXPECT_EQ(d.errors[0].code, vm::kErrBudget);
  EXPECT_EQ(p->program().rules()[d.errors[0].rule].name, "loop");
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.code, vm::kCodeRuleError);
  EXPECT_EQ(Names(*p, d.fired), std::vector<std::string>{"after"});
  EXPECT_GT(d.instructions, 40u);
  EXPECT_LE(d.instructions, 80u);  // at most 2 rules x 40
  // With the default budget the same evaluation completes.
  vm::Evaluate(p->program(), *req, {}, &d);
  EXPECT_TRUE(d.errors.empty());
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
  EXPECT_GT(d.instructions, 50u * 4);
  EXPECT_LE(d.instructions, p->program().rules()[0].cost_bound + p->program().rules()[1].cost_bound);
}

TEST(Combining, TraceRecordsFieldsRead) {
  auto p = Compile(
      "rule a { when request.model == \"m\" and request.max_tokens > 10 deny \"a\" }\n"
      "rule b { when principal.workspace == \"other\" deny \"b\" }\n");
  auto req = Request().Int("request.max_tokens", 20).Take();
  auto d = Eval(*p, *req, /*trace=*/true);
  ASSERT_EQ(d->trace.size(), 2u);
  EXPECT_TRUE(d->trace[0].fired);
  EXPECT_FALSE(d->trace[1].fired);
  ASSERT_EQ(d->trace[0].values.size(), 2u);
  EXPECT_EQ(d->trace[0].values[0].first, "request.model");
  EXPECT_EQ(d->trace[0].values[0].second, "\"m\"");
  EXPECT_EQ(d->trace[0].values[1].first, "request.max_tokens");
  EXPECT_EQ(d->trace[0].values[1].second, "20");
  EXPECT_EQ(d->trace[1].values[0].first, "principal.workspace");
}

TEST(Combining, EvalRequire) {
  auto p = Compile(
      "rule r { require provider.zdr and provider.retention_days < 30 }\n"
      "rule s { require endpoint.context_length >= request.input_tokens }\n");
  auto req = Request().Int("request.input_tokens", 1000).Take();
  auto ok = Candidate().Bool("provider.zdr", true).Int("provider.retention_days", 0).Int("endpoint.context_length", 8000).Take();
  auto no = Candidate().Bool("provider.zdr", false).Take();
  auto err = Candidate().Bool("provider.zdr", true).Take();
  const vm::Program& prog = p->program();
  EXPECT_TRUE(vm::EvalRequire(prog, 0, *req, *ok, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(prog, 0, *req, *no, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(prog, 0, *req, *no, {}).error);
  vm::RequireResult r = vm::EvalRequire(prog, 0, *req, *err, {});
  EXPECT_FALSE(r.pass);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.code, vm::kErrMissingField);
  EXPECT_EQ(r.message, "missing field `provider.retention_days`");
  EXPECT_TRUE(vm::EvalRequire(prog, 1, *req, *ok, {}).pass);
  ASSERT_EQ(prog.require_infos().size(), 2u);
  EXPECT_EQ(prog.require_infos()[0].text, "provider.zdr and provider.retention_days < 30");
  EXPECT_EQ(prog.require_infos()[0].candidate_slots.size(), 2u);
  EXPECT_TRUE(prog.require_infos()[0].request_slots.empty());
  EXPECT_EQ(prog.require_infos()[1].request_slots.size(), 1u);
  EXPECT_EQ(prog.RuleRequires(1), std::vector<uint32_t>{1});
  EXPECT_TRUE(vm::EvalRequire(prog, 7, *req, *ok, {}).error);
}

TEST(Combining, EvalKey) {
  auto p = Compile(
      "budget daily { key principal.workspace per day limit 5.00 usd }\n"
      "limit rpm { key principal.user per minute max 60 requests }\n"
      "rule r { deny \"x\" }\n");
  const vm::Program& prog = p->program();
  ASSERT_EQ(prog.budgets().size(), 1u);
  EXPECT_EQ(prog.budgets()[0].limit_micros, 5000000);
  EXPECT_EQ(prog.budgets()[0].window_ms, 86400000);
  ASSERT_EQ(prog.limits().size(), 1u);
  EXPECT_EQ(prog.limits()[0].max, 60);
  EXPECT_EQ(prog.limits()[0].unit, "requests");
  std::string key;
  vm::RuleError err;
  EXPECT_TRUE(vm::EvalKey(prog, vm::KeyKind::kBudget, 0, *Request().Take(), &key, &err));
  EXPECT_EQ(key, "ws");
  EXPECT_FALSE(vm::EvalKey(prog, vm::KeyKind::kLimit, 0, *Request().Take(), &key, &err));
  EXPECT_EQ(err.code, vm::kErrMissingField);
  EXPECT_TRUE(vm::EvalKey(prog, vm::KeyKind::kLimit, 0, *Request().Str("principal.user", "u1").Take(), &key, &err));
  EXPECT_EQ(key, "u1");
}

TEST(Combining, VersionId) {
  auto a = Compile("rule r { deny \"x\" }\n");
  auto b = Compile("rule r { deny \"x\" }\n");
  auto c = Compile("rule r { deny \"y\" }\n");
  EXPECT_TRUE(std::regex_match(a->version_id(), std::regex("sha256:[0-9a-f]{64}")));
  EXPECT_EQ(a->version_id(), b->version_id());
  EXPECT_NE(a->version_id(), c->version_id());
  EXPECT_EQ(a->name(), "t");
}

TEST(Engine, CompileFileErrors) {
  Compiled c = CompileFile("/nonexistent/dir/p.tg", {});
  EXPECT_FALSE(c.policy);
  ASSERT_EQ(c.diagnostics.size(), 1u);
  EXPECT_EQ(c.diagnostics.items()[0].code, "tg_io_error");
  EXPECT_NE(CompileErrors("rule r { when request.modle == \"x\" deny \"x\" }"), "");
  Limits small;
  small.max_stack = 2;
  std::string e = CompileErrors("rule r { when request.max_tokens + (1 + (2 + (3 + request.max_tokens))) > 1 deny \"x\" }", small);
  EXPECT_NE(e.find("tg_limit_exceeded"), std::string::npos) << e;
}

}  // namespace
}  // namespace tollgate::vmtest
