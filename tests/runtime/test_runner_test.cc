// The test-block runner on small policies: passing and failing expectations
// of every kind, input building, coverage.
#include "runtime/decide/test_runner.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"

namespace tollgate::runtime {
namespace {

std::shared_ptr<const Policy> Compile(const std::string& src) {
  Compiled c = CompileSource("t.tg", src, {});
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

constexpr const char* kRules = R"(policy "runner"
rule big { when (request.max_tokens ?? 0) > 100 deny 413 "too big" }
rule eu { when principal.jurisdiction == "DE" require provider.jurisdiction == "DE" }
rule zdr mode shadow { when context.data_class == "confidential" require provider.zdr }
rule cards { when request.content matches dlp.credit_card redact dlp.credit_card as "[CARD]" }
rule team { when principal.user == "ann" tag team = "ml" }
rule cheap { when "batch" in context.tags route sort price, max_price 2 usd }
rule hot { when exists(request.temperature) and request.temperature > 1.5 warn "hot" }
rule never { when request.model == "never-used" deny "never" }
)";

TEST(TestRunner, PassingExpectationsOfEveryKind) {
  std::string src = std::string(kRules) + R"(
test "deny" { given { request.max_tokens: 500 } expect deny 413 expect fired big }
test "allow" { given { request.max_tokens: 5 } expect allow expect not_fired big }
test "reject" {
  given { principal.jurisdiction: "DE", context.data_class: "confidential" }
  candidate { provider.jurisdiction: "US", provider.zdr: false }
  expect rejected_by eu
  expect shadow rejected_by zdr
}
test "accept" {
  given { principal.jurisdiction: "DE" }
  candidate { provider.jurisdiction: "DE" }
  expect accepted
}
test "redact" { given { request.content: "card 4111 1111 1111 1111" } expect redacts "[CARD]" expect fired cards }
test "tag" { given { principal.user: "ann" } expect tag team = "ml" }
test "route" {
  given { context.tags: {"batch"} }
  expect route sort price
  expect route max_price 2 usd
}
test "warn" { given { request.temperature: 1.9 } expect warns }
)";
  auto p = Compile(src);
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  for (const TestResult& t : r.tests)
    EXPECT_TRUE(t.pass) << t.name << ": " << (t.failures.empty() ? "" : t.failures[0]);
  EXPECT_EQ(r.passed, 8);
  EXPECT_EQ(r.failed, 0);
  ASSERT_EQ(r.unexercised.size(), 1u);
  EXPECT_EQ(r.unexercised[0], "never");
}

TEST(TestRunner, FailingExpectationsExplainThemselves) {
  std::string src = std::string(kRules) + R"(
test "wrong allow" { given { request.max_tokens: 500 } expect allow }
test "wrong status" { given { request.max_tokens: 500 } expect deny 400 }
test "wrong deny" { given { request.max_tokens: 5 } expect deny }
test "not fired" { given { request.max_tokens: 5 } expect fired big }
test "fired" { given { request.max_tokens: 500 } expect not_fired big }
test "not rejected" {
  given { principal.jurisdiction: "DE" }
  candidate { provider.jurisdiction: "DE" }
  expect rejected_by eu
}
test "no requirement" { given { principal.jurisdiction: "US" } candidate { provider.jurisdiction: "US" } expect rejected_by eu }
test "not accepted" { given { principal.jurisdiction: "DE" } candidate { provider.jurisdiction: "FR" } expect accepted }
test "no redaction" { given { request.content: "hello" } expect redacts "[CARD]" }
test "wrong tag" { given { principal.user: "bob" } expect tag team = "ml" }
test "wrong route" { given { context.tags: {"batch"} } expect route sort latency }
test "no warning" { given { request.temperature: 0.5 } expect warns }
)";
  auto p = Compile(src);
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  EXPECT_EQ(r.passed, 0);
  EXPECT_EQ(r.failed, 12);
  auto msg = [&](const char* name) {
    const TestResult& t = Find(r, name);
    EXPECT_FALSE(t.pass) << name;
    return t.failures.empty() ? std::string() : t.failures[0];
  };
  EXPECT_NE(msg("wrong allow").find("expected allow, got deny 413"), std::string::npos);
  EXPECT_NE(msg("wrong allow").find("`big`"), std::string::npos);
  EXPECT_NE(msg("wrong status").find("expected deny 400, got deny 413"), std::string::npos);
  EXPECT_NE(msg("wrong deny").find("expected deny, got allow"), std::string::npos);
  EXPECT_NE(msg("not fired").find("expected rule `big` to fire"), std::string::npos);
  EXPECT_NE(msg("fired").find("expected rule `big` not to fire"), std::string::npos);
  EXPECT_NE(msg("not rejected").find("satisfies it"), std::string::npos);
  EXPECT_NE(msg("no requirement").find("did not fire"), std::string::npos);
  EXPECT_NE(msg("not accepted").find("rule `eu` rejects it"), std::string::npos);
  EXPECT_NE(msg("no redaction").find("got none"), std::string::npos);
  EXPECT_NE(msg("wrong tag").find("no rule set it"), std::string::npos);
  EXPECT_NE(msg("wrong route").find("expected route sort latency, got price"), std::string::npos);
  EXPECT_NE(msg("no warning").find("expected a warning"), std::string::npos);
  // failures carry the expectation's line
  EXPECT_EQ(msg("wrong allow").rfind("line ", 0), 0u);
}

TEST(TestRunner, BuildsInputWithDefaults) {
  auto p = Compile(std::string(kRules) + R"(
test "x" { given { principal.user: "ann", request.max_tokens: 7, context.tags: {"b", "a"},
                   request.temperature: 0.5, request.provider.max_price.prompt: 1.25 usd } expect allow }
)");
  ASSERT_TRUE(p);
  std::string json, error;
  ASSERT_TRUE(BuildTestInput(p->ast().tests[0], p->schema(), &json, &error)) << error;
  EXPECT_EQ(json,
            R"({"principal":{"user":"ann","workspace":"test"},"request":{"max_tokens":7,)"
            R"("temperature":"0.5","provider":{"max_price":{"prompt":"1.25"}},"model":"test-model",)"
            R"("messages":[]},"context":{"tags":["a","b"]}})");
}

TEST(TestRunner, MessagesAndDerivedContent) {
  auto p = Compile(R"(policy "m"
rule sys { when any m in request.messages: m.role == "system" tag has_system = true }
rule long { when request.input_tokens > 1000 deny "long" }
test "messages" {
  given { request.messages: [{role: "system", content: "be brief"}, {role: "user", content: "hi"}] }
  expect fired sys
  expect allow
}
test "derived override" { given { request.input_tokens: 5000 } expect deny }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  for (const TestResult& t : r.tests)
    EXPECT_TRUE(t.pass) << t.name << ": " << (t.failures.empty() ? "" : t.failures[0]);
}

// Test candidates and given requests name providers and models the way the
// catalog and the decoder do: a full slug is split, so a test describes an
// endpoint exactly as routing would see it.
TEST(TestRunner, CandidateAndRequestNamesAreSplitLikeTheCatalog) {
  auto p = Compile(R"(policy "n"
rule no_bedrock { require provider.name != "amazon-bedrock" }
rule only_us_east { require provider.slug != "amazon-bedrock/eu-west-1" }
rule no_gpt4o { require endpoint.model != "openai/gpt-4o" }
rule ban { when request.model == "openai/gpt-4o" deny 403 "banned" }
rule free { when request.model_variant == "free" tag free = true }
test "region" { given { } candidate { provider.name: "amazon-bedrock/us-east-1" } expect rejected_by no_bedrock }
test "slug" { given { } candidate { provider.slug: "amazon-bedrock/eu-west-1" } expect rejected_by no_bedrock, only_us_east }
test "variant endpoint" { given { } candidate { endpoint.model: "openai/gpt-4o:free" } expect rejected_by no_gpt4o }
test "variant request" { given { request.model: "openai/gpt-4o:nitro" } expect deny 403 }
test "free" { given { request.model: "meta/llama:free" } expect fired free expect allow }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  ASSERT_EQ(r.tests.size(), 5u);
  for (const TestResult& t : r.tests)
    EXPECT_TRUE(t.pass) << t.name << ": " << (t.failures.empty() ? "" : t.failures[0]);
}

// A test without context.time sees kTestClockMs (2026-01-01T12:00:00Z), never
// the wall clock; a candidate's fields that every endpoint has get neutral
// values, so `require` predicates over them evaluate.
TEST(TestRunner, FixedClockAndNeutralCandidateFields) {
  auto p = Compile(R"(policy "c"
rule noon { when hour(context.time) == 12 and year(context.time) == 2026 tag noon = true }
rule cheap { require endpoint.price_input <= 1 usd and not provider.trains_on_data }
test "clock" { given {} expect tag noon = true }
test "neutral candidate" { given {} candidate { provider.name: "p" } expect accepted }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  ASSERT_EQ(r.tests.size(), 2u);
  for (const TestResult& t : r.tests)
    EXPECT_TRUE(t.pass) << t.name << ": " << (t.failures.empty() ? "" : t.failures[0]);
}

// A test's candidate is decoded as a decision input's `candidate` member
// (DecodeCandidate): what the decoder refuses beyond single values -- names
// that disagree -- fails the test at the value's file:line:col instead of
// judging an endpoint no decision input may name. (A single value out of
// range, a negative price, is the checker's tg_invalid_value:
// ImpossibleCandidateValuesDoNotCompile.)
TEST(TestRunner, CandidatesTheDecoderRefusesFailAtTheirBinding) {
  auto p = Compile(R"(policy "d"
rule cheap { require endpoint.price_input < 5 usd }
rule nobed { require provider.name != "amazon-bedrock" }
test "names disagree" { given {}
  candidate { provider.name: "openai", provider.slug: "amazon-bedrock/us-east-1" }
  expect accepted }
test "fine" { given {}
  candidate { provider.name: "amazon-bedrock/us-east-1", endpoint.quantization: "int4", endpoint.price_input: 1 usd }
  expect rejected_by nobed }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  ASSERT_EQ(r.tests.size(), 2u);
  const TestResult& names = Find(r, "names disagree");
  EXPECT_FALSE(names.pass);
  ASSERT_EQ(names.failures.size(), 1u);
  EXPECT_NE(names.failures[0].find("t.tg:5:55: the candidate is not one a decision input may name: "
                                   "`candidate.provider.slug` `amazon-bedrock/us-east-1` is not a slug of"),
            std::string::npos)
      << names.failures[0];
  const TestResult& fine = Find(r, "fine");
  EXPECT_TRUE(fine.pass) << (fine.failures.empty() ? "" : fine.failures[0]);
}

// A policy whose test gives an impossible candidate value does not compile
// (the checker's tests pass, tg_invalid_value): `tollgate test` reports it
// at FILE:LINE:COL instead of a PASS.
TEST(TestRunner, ImpossibleCandidateValuesDoNotCompile) {
  Compiled c = CompileSource("t.tg", R"(policy "q"
rule no_low_precision { require endpoint.quantization not in {"fp4", "int4"} }
test "int4 refused" { given {} candidate { endpoint.quantization: "INT4" } expect rejected_by no_low_precision }
test "negative price" { given {} candidate { endpoint.price_input: -1 usd } expect accepted }
)", {});
  EXPECT_FALSE(c.policy);
  EXPECT_NE(c.diagnostics.Render().find("t.tg:3:67: error[tg_invalid_value]: `endpoint.quantization` must be one of"),
            std::string::npos)
      << c.diagnostics.Render();
  EXPECT_NE(c.diagnostics.Render().find("t.tg:4:68: error[tg_invalid_value]: `endpoint.price_input` must not "
                                        "be negative, got `-1 usd`"),
            std::string::npos)
      << c.diagnostics.Render();
}

// `expect tag k = null`: the decision has no value for `k` -- no rule set
// it, or the first to set it tagged an absent value (`"k": null` in the
// decision's `tags`). Before, the checker refused it (tg_test_error: "the
// expected value is `null`"), so a test could not say a tag stays unset.
TEST(TestRunner, ExpectTagNullMeansNoValue) {
  auto p = Compile(R"(policy "n"
rule who { when request.model == "a" tag user = principal.user }
rule first { when request.model == "b" tag user = principal.user }
rule second { when request.model == "b" tag user = "fallback" }
test "absent value tagged" { given { request.model: "a" } expect tag user = null expect fired who }
test "no rule set it" { given { request.model: "c" } expect tag user = null }
test "the first tag is kept" { given { request.model: "b" } expect tag user = null }
test "set" { given { request.model: "a", principal.user: "ann" } expect tag user = null }
test "set, expected" { given { request.model: "a", principal.user: "ann" } expect tag user = "ann" }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  for (const char* name : {"absent value tagged", "no rule set it", "the first tag is kept", "set, expected"})
    EXPECT_TRUE(Find(r, name).pass) << name << ": "
                                    << (Find(r, name).failures.empty() ? "" : Find(r, name).failures[0]);
  const TestResult& set = Find(r, "set");
  EXPECT_FALSE(set.pass);
  ASSERT_EQ(set.failures.size(), 1u);
  EXPECT_EQ(set.failures[0], "line 8: expected tag `user` to be absent or null, rule `who` set it to \"ann\"");
}

// `= null` of a key no rule sets always holds: an error, not a test that
// passes whatever the policy does (a misspelt key).
TEST(TestRunner, ExpectTagNullOfAnUnsetKeyIsAnError) {
  Compiled c = CompileSource("t.tg", R"(policy "n"
rule who { tag user = principal.user }
test "typo" { given {} expect tag usr = null }
)", {});
  EXPECT_FALSE(c.policy);
  EXPECT_NE(c.diagnostics.Render().find("t.tg:3:35: error[tg_test_error]: no rule sets tag `usr`, so "
                                        "`expect tag usr = null` always holds"),
            std::string::npos)
      << c.diagnostics.Render();
  EXPECT_NE(c.diagnostics.Render().find("did you mean `user`?"), std::string::npos) << c.diagnostics.Render();
}

// `expect tag` compares values, not their JSON texts: a decimal 2.5 and the
// string "2.5" both render `"2.5"`, and a duration of 90 s rendered
// `"90000ms"`, so a test expecting the number passed on a rule that tagged
// the string (two rules setting one key to different types check clean).
TEST(TestRunner, ExpectTagDoesNotMatchAcrossTypes) {
  auto p = Compile(R"(policy "x"
rule text { when principal.workspace == "acme" tag level = "2.5" }
rule number { when principal.workspace == "beta" tag level = 2.5 }
rule span { when principal.workspace == "gamma" tag window = 90s }
rule span_text { when principal.workspace == "delta" tag window = "90000ms" }
test "string is not the decimal" { given { principal.workspace: "acme" } expect tag level = 2.5 }
test "decimal is not the string" { given { principal.workspace: "beta" } expect tag level = "2.5" }
test "string is not the duration" { given { principal.workspace: "delta" } expect tag window = 90s }
test "decimal" { given { principal.workspace: "beta" } expect tag level = 2.5 }
test "duration" { given { principal.workspace: "gamma" } expect tag window = 90000ms }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, {});
  for (const char* name : {"decimal", "duration"})
    EXPECT_TRUE(Find(r, name).pass) << name;
  const TestResult& a = Find(r, "string is not the decimal");
  EXPECT_FALSE(a.pass);
  ASSERT_EQ(a.failures.size(), 1u);
  EXPECT_EQ(a.failures[0], "line 6: expected tag `level` = 2.5, got \"2.5\" (a string, not a decimal)");
  EXPECT_FALSE(Find(r, "decimal is not the string").pass);
  EXPECT_FALSE(Find(r, "string is not the duration").pass);
}

}  // namespace
}  // namespace tollgate::runtime
