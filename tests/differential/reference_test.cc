// The reference interpreter itself, against docs/architecture.md "Runtime
// semantics": hand-written policies with the decisions the document implies.
// (The differential test then holds the VM to the same answers.)
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"
#include "tests/differential/reference.h"

namespace tollgate {
namespace {

struct Eval {
  std::shared_ptr<const Policy> policy;
  vm::Decision d;
};

// Compiles `rules` (after a header) and evaluates the reference on `input`
// ({"principal": ..., "request": ...} with the required fields filled in).
std::unique_ptr<Eval> RunRef(const std::string& rules, const std::string& request_extra = "",
                          const std::string& context = "") {
  auto e = std::make_unique<Eval>();
  Compiled c = CompileSource("ref.tg", "policy \"ref\"\n" + rules, {});
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  if (!c.policy) return e;
  e->policy = c.policy;
  std::string json = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [)"
                     R"({"role": "user", "content": "hello secret42"}])" +
                     request_extra + "}, \"context\": {" + context + "}}";
  vm::Record rec;
  runtime::InputError err;
  EXPECT_TRUE(runtime::DecodeInput(json, c.policy->schema(), {}, &rec, &err)) << err.message;
  ref::Evaluate(c.policy->ast(), c.policy->schema(), rec, &e->d);
  return e;
}

std::string Errors(const vm::Decision& d) {
  std::string s;
  for (const auto& e : d.errors) s += std::to_string(e.rule) + ":" + std::string(e.code) + " ";
  return s;
}

TEST(Reference, ArithmeticErrorDeniesByDefaultWithAFixedReason) {
  auto e = RunRef("rule a { when 10 / ((request.max_tokens ?? 0) - 5) > 5 deny 400 \"big\" }",
                  ", \"max_tokens\": 5");
  EXPECT_EQ(e->d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(e->d.code, vm::kCodeRuleError);
  EXPECT_EQ(e->d.status, 403);
  EXPECT_EQ(e->d.reason, "policy evaluation failed");
  EXPECT_EQ(Errors(e->d), "0:eval_arithmetic_error ");
}

TEST(Reference, OnErrorSkipAllowsButRecords) {
  auto e = RunRef("rule a on_error skip { when 10 / ((request.max_tokens ?? 0) - 5) > 5 deny 400 \"big\" }",
                  ", \"max_tokens\": 5");
  EXPECT_EQ(e->d.outcome, vm::Outcome::kAllow);
  EXPECT_EQ(Errors(e->d), "0:eval_arithmetic_error ");
  EXPECT_TRUE(e->d.fired.empty());
}

TEST(Reference, NullEqualityIsNoError) {
  auto e = RunRef("rule a { when request.max_tokens != 5 deny 401 \"x\" }");
  EXPECT_EQ(e->d.status, 401);
  EXPECT_TRUE(e->d.errors.empty());
}

TEST(Reference, DefaultsAndGuards) {
  auto absent = RunRef("rule a { when request.stream ?? false deny 401 \"s\" }\n"
                       "rule b { when exists(request.max_tokens) and request.max_tokens > 5 deny 402 \"m\" }");
  EXPECT_EQ(absent->d.outcome, vm::Outcome::kAllow);
  EXPECT_TRUE(absent->d.errors.empty());
  auto present = RunRef("rule a { when request.stream ?? false deny 401 \"s\" }", ", \"stream\": true");
  EXPECT_EQ(present->d.status, 401);
}

TEST(Reference, RealDenyWinsOverRuleErrorInEitherOrder) {
  for (const char* rules :
       {"rule e { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"e\" }\n"
        "rule d { deny 451 \"real\" }",
        "rule d { deny 451 \"real\" }\n"
        "rule e { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"e\" }"}) {
    auto e = RunRef(rules);
    EXPECT_EQ(e->d.status, 451) << rules;
    EXPECT_EQ(e->d.code, vm::kCodePolicyDenied);
    EXPECT_EQ(e->d.reason, "real");
    EXPECT_EQ(e->d.errors.size(), 1u);
  }
}

TEST(Reference, TagErrorDropsTheTagOnly) {
  auto e = RunRef("rule a { tag bad = 1 / (request.input_tokens - request.input_tokens) tag good = 2 "
                  "deny 409 \"x\" }");
  EXPECT_EQ(e->d.status, 409);
  EXPECT_EQ(e->d.code, vm::kCodePolicyDenied);
  ASSERT_EQ(e->d.tags.size(), 1u);
  EXPECT_EQ(e->d.tags[0].key, "good");
  EXPECT_EQ(Errors(e->d), "0:eval_arithmetic_error ");
}

TEST(Reference, DivisionByZeroAndOverflow) {
  auto e = RunRef("rule a { when exists(request.max_tokens) and request.max_tokens / (request.max_tokens - 7) > 1 deny \"x\" }\n"
               "rule b { when (request.max_tokens ?? 0) * 9223372036854775807 > 1 deny \"y\" }",
               ", \"max_tokens\": 7");
  EXPECT_EQ(Errors(e->d), "0:eval_arithmetic_error 1:eval_arithmetic_error ");
  EXPECT_EQ(e->d.deny_rule, 0u);
}

TEST(Reference, DecimalRoundsHalfToEven) {
  // 1/2000000 = 0.0000005 -> 0.000000; 3/2000000 = 0.0000015 -> 0.000002.
  auto e = RunRef("rule a { when (request.max_tokens ?? 0) / 2000000 == 0 deny 401 \"x\" }\n"
               "rule b { when ((request.max_tokens ?? 0) + 2) / 2000000 == 0.000002 warn \"w\" }\n"
               "rule c { when exists(request.max_tokens) and request.max_tokens / 3 == 0.333333 tag t = request.max_tokens / 3 }",
               ", \"max_tokens\": 1");
  EXPECT_EQ(e->d.status, 401) << Errors(e->d);
  ASSERT_EQ(e->d.warnings.size(), 1u);
  ASSERT_EQ(e->d.tags.size(), 1u);
  EXPECT_EQ(ToJson(e->d.tags[0].value), "\"0.333333\"");
}

TEST(Reference, MoneyArithmetic) {
  auto e = RunRef("rule a { when exists(request.provider.max_price.request) and request.provider.max_price.request * 3 == 7.50 usd and "
               "request.provider.max_price.request / 2.50 usd == 1 tag ok = true }",
               ", \"provider\": {\"max_price\": {\"request\": \"2.50\"}}");
  EXPECT_EQ(e->d.tags.size(), 1u) << Errors(e->d);
}

TEST(Reference, QuantifiersOverEmptyLists) {
  auto e = RunRef("rule a { when any m in request.models: m == \"x\" deny 401 \"any\" }\n"
               "rule b { when all m in request.models: m == \"x\" warn \"all\" }");
  EXPECT_EQ(e->d.outcome, vm::Outcome::kAllow);
  EXPECT_EQ(e->d.warnings.size(), 1u);
}

TEST(Reference, MissingMapKeyReadsAsNull) {
  auto e = RunRef("const caps = {\"gpt\": 5}\nrule a { when (caps[request.model] ?? 0) < 1 "
               "and get(caps, request.model, 2) == 2 and not (request.model in caps) deny 401 \"x\" }");
  EXPECT_EQ(e->d.status, 401) << Errors(e->d);
  EXPECT_TRUE(e->d.errors.empty());
}

TEST(Reference, FirstEnforcedDenyWinsShadowNeverEnforced) {
  auto e = RunRef("rule s mode shadow { deny 451 \"shadow\" }\n"
               "rule v mode advisory { when request.content contains \"secret\" deny 452 \"adv\" }\n"
               "rule a { when request.content matches \"secret[0-9]+\" deny 460 \"first\" }\n"
               "rule b { deny 470 \"second\" }");
  EXPECT_EQ(e->d.status, 460);
  EXPECT_EQ(e->d.reason, "first");
  EXPECT_EQ(e->d.fired, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(e->d.shadow, (std::vector<uint32_t>{0}));
  EXPECT_EQ(e->d.advisory, (std::vector<uint32_t>{1}));
  EXPECT_EQ(e->d.warnings.size(), 1u);
}

TEST(Reference, RequiresAndRedactions) {
  auto e = RunRef("rule a { require provider.zdr redact dlp.email as \"[E]\" require not "
               "provider.trains_on_data }\nrule b { when false require provider.zdr }\n"
               "rule c { require endpoint.price_input < 1 usd redact \"secret[0-9]+\" as \"[S]\" }");
  ASSERT_EQ(e->d.require_refs.size(), 3u);
  EXPECT_EQ(e->d.require_refs[2].require, 3u);  // rule b's require is number 2
  ASSERT_EQ(e->d.redactions.size(), 2u);
  EXPECT_EQ(e->d.redactions[0].pattern, "dlp.email");
  EXPECT_EQ(e->d.redactions[1].pattern, "secret[0-9]+");
}

// Strings, `{expr}` messages with `any` witnesses, time zones: the
// reference renders what the VM renders.
TEST(Reference, StringsAndMessagesAgreeWithTheVm) {
  const char* const kPolicies[] = {
      "rule a { when any m in request.messages: m.content contains \"secret\"\n"
      "  deny 403 \"{m.role} said {m.content} ({length(m.content)} chars) {{ok}}\" }",
      "rule a { when any m in request.messages: (m.role == \"user\" and (any t in split(m.content, \" \"): t starts_with \"sec\"))\n"
      "  warn \"word {t} from {m.role}\" tag w = \"{t}/{principal.workspace}\" }",
      "rule a on_error skip { deny \"tokens {request.max_tokens ?? request.input_tokens} {1 / (request.input_tokens - request.input_tokens)}\" }\n"
      "const tz = \"Asia/Tokyo\"\n"
      "rule b { warn \"{principal.workspace + request.model} at {hour(context.time, tz)}h\" }",
      "const ny = \"America/New_York\"\n"
      "rule a mode advisory { deny \"model {request.model} day {date(context.time, ny)}\" }",
      "rule a mode shadow { deny \"{request.input_tokens / 0}\" }\nrule b { tag j = join(split(request.model, \"\"), \",\") }",
  };
  for (const char* rules : kPolicies) {
    Compiled c = CompileSource("ref.tg", std::string("policy \"ref\"\n") + rules, {});
    ASSERT_TRUE(c.policy) << rules << "\n" << c.diagnostics.Render();
    std::string json = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [)"
                       R"({"role": "system", "content": "be nice"}, {"role": "user", "content": "hello secret42 x"}]},)"
                       R"( "context": {"time": "2026-03-29T01:30:00Z"}})";
    vm::Record rec;
    runtime::InputError err;
    ASSERT_TRUE(runtime::DecodeInput(json, c.policy->schema(), {}, &rec, &err)) << err.message;
    vm::Decision ref_d, vm_d;
    ref::Evaluate(c.policy->ast(), c.policy->schema(), rec, &ref_d);
    vm::Evaluate(c.policy->program(), rec, {}, &vm_d);
    EXPECT_EQ(ref::Diff(ref_d, vm_d, c.policy->ast()), "") << rules;
  }
  // The first policy, exactly.
  auto e = RunRef("rule a { when any m in request.messages: m.content contains \"secret\"\n"
                  "  deny 403 \"{m.role} said {m.content}\" }");
  EXPECT_EQ(e->d.reason, "user said hello secret42");
}

}  // namespace
}  // namespace tollgate
