// Every text of a request the model reads is request.content: content rules
// see it, input_tokens counts it, ApplyRedactions rewrites it in the body
// (runtime/input/request_texts.h). Tool definitions, `prediction`, a
// message's `name` and `response_format` used to be invisible.
#include "runtime/input/request_texts.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/decide/decision_json.h"
#include "runtime/decide/test_runner.h"
#include "runtime/input/input.h"
#include "stdlib/builtins.h"

namespace tollgate::runtime {
namespace {

constexpr const char* kPolicy = R"(policy "texts"
rule secret { when request.content matches "(?i)topsecret" deny 403 "no secrets" }
rule long_prompt { when request.input_tokens > 20000 deny 413 "prompt too long" }
rule cards { redact dlp.credit_card as "[CARD]" }
rule mails { redact dlp.email as "[EMAIL]" }
)";

std::shared_ptr<const Policy> Compile(const char* src = kPolicy) {
  Compiled c = CompileSource("texts.tg", src, {});
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  return c.policy;
}

// The input with `members` added to a request holding one user message.
std::string Input(const std::string& members) {
  return R"({"principal": {"workspace": "w"}, "request": {"model": "m", "max_tokens": 10, )" + members +
         R"(}, "context": {"time": "2026-01-01T00:00:00Z"}})";
}
const std::string kHi = R"("messages": [{"role": "user", "content": "hi"}])";

bool Decode(const Policy& p, const std::string& input, vm::Record* rec) {
  InputError err;
  bool ok = DecodeInput(input, p.schema(), {}, {}, rec, &err);
  EXPECT_TRUE(ok) << err.message << " at " << err.path;
  return ok;
}

void Decide(const Policy& p, const std::string& input, vm::Decision* d) {
  vm::Record rec;
  if (Decode(p, input, &rec)) vm::Evaluate(p.program(), rec, {}, d);
}

std::string_view Content(const Policy& p, const vm::Record& rec) {
  return rec.slots[p.schema().field(p.schema().Find("request.content")).slot].sv();
}
int64_t InputTokens(const Policy& p, const vm::Record& rec) {
  return rec.slots[p.schema().field(p.schema().Find("request.input_tokens")).slot].i;
}

// Each place a text hides in is seen by a content rule.
TEST(RequestTexts, DenyOnTextInEveryMemberTheModelReads) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::pair<const char*, std::string> cases[] = {
      {"tool description", kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "description": "a TopSecret plan"}}])"},
      {"parameter description", kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters":
          {"type": "object", "properties": {"q": {"type": "string", "description": "topsecret"}}}}}])"},
      {"parameter enum", kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters":
          {"type": "object", "properties": {"q": {"type": "string", "enum": ["x", "topsecret"]}}}}}])"},
      {"nested array items", kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters":
          {"type": "object", "properties": {"q": {"type": "array", "items": {"anyOf": [{"const": "topsecret"}]}}}}}}])"},
      {"custom tool", kHi + R"(, "tools": [{"type": "custom", "custom": {"name": "exec", "description": "topsecret"}}])"},
      {"anthropic tool", kHi + R"(, "tools": [{"name": "f", "description": "d", "input_schema": {"description": "topsecret"}}])"},
      {"legacy functions", kHi + R"(, "functions": [{"name": "f", "description": "topsecret"}])"},
      {"prediction string", kHi + R"(, "prediction": {"type": "content", "content": "topsecret"})"},
      {"prediction parts", kHi + R"(, "prediction": {"type": "content", "content": [{"type": "text", "text": "topsecret"}]})"},
      {"duplicate prediction member", kHi + R"(, "prediction": {"type": "content", "content": "ok", "content": "topsecret"})"},
      {"message name", R"("messages": [{"role": "user", "content": "hi", "name": "topsecret"}])"},
      {"response_format description", kHi + R"(, "response_format": {"type": "json_schema", "json_schema":
          {"name": "a", "description": "topsecret", "schema": {"type": "object"}}})"},
      {"response_format schema", kHi + R"(, "response_format": {"type": "json_schema", "json_schema":
          {"name": "a", "schema": {"type": "object", "properties": {"x": {"description": "topsecret"}}}}})"},
      {"response_format name", kHi + R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "topsecret"}})"},
  };
  for (const auto& [what, members] : cases) {
    SCOPED_TRACE(what);
    vm::Decision d;
    Decide(*p, Input(members), &d);
    EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
    EXPECT_EQ(d.reason, "no secrets");
  }
  // Names and types are not texts: a tool named so, a property so named,
  // a `type` value.
  vm::Decision d;
  Decide(*p, Input(kHi + R"(, "tools": [{"type": "function", "function": {"name": "topsecret",
      "parameters": {"type": "object", "properties": {"topsecret": {"type": "string"}}, "required": ["topsecret"]}}}])"), &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
}

// One order, documented in docs/decision-input.md: the messages' texts,
// then names, prediction, tools (then functions) and response_format.
TEST(RequestTexts, ContentOrderIsFixed) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, Input(R"("response_format": {"type": "json_schema", "json_schema": {"name": "R", "description": "RD",
      "schema": {"type": "object", "properties": {"a": {"type": "string", "description": "S1", "enum": ["E1", 2, true]}}, "required": ["a"]}}},
    "tools": [{"type": "function", "function": {"name": "t", "description": "T1", "parameters": {"type": "object", "title": "P1"}}},
              {"type": "custom", "custom": {"name": "c", "description": "T2", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "G"}}}}],
    "functions": [{"name": "fn", "description": "F1"}],
    "prediction": {"type": "content", "content": "P"},
    "messages": [{"role": "system", "content": "sys", "name": "N1"}, {"role": "user", "content": [{"type": "text", "text": "u1"}, {"type": "text", "text": "u2"}], "name": "N2"}])"),
                     &rec));
  EXPECT_EQ(Content(*p, rec), "sys\nu1\nu2\nN1\nN2\nP\nT1\nP1\nT2\nlark\nG\nF1\nR\nRD\nS1\nE1");
  // The same input twice: the same content.
  vm::Record again;
  ASSERT_TRUE(Decode(*p, Input(R"("messages": [{"role": "user", "content": "x", "name": "n"}])"), &again));
  EXPECT_EQ(Content(*p, again), "x\nn");
  // No extra texts: as before, one message's text is request.content.
  ASSERT_TRUE(Decode(*p, Input(kHi + R"(, "tools": [{"type": "function", "function": {"name": "f"}}])"), &again));
  EXPECT_EQ(Content(*p, again), "hi");
}

// A 400 KB tool description is a 400 KB prompt: request.input_tokens (and
// so estimated_cost, max_price, context_too_small) count it.
TEST(RequestTexts, InputTokensCountToolDescriptionsAndSchemas) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string big(400 * 1024, 'a');
  for (const std::string& members :
       {kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "description": ")" + big + R"("}}])",
        kHi + R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"description": ")" + big + R"("}}})",
        kHi + R"(, "prediction": {"type": "content", "content": ")" + big + R"("})",
        std::string(R"("messages": [{"role": "user", "content": "hi", "name": ")") + big + R"("}])",
        // property names: what the model reads of a schema besides its texts
        kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {")" + big + R"(": {}}}}}])"}) {
    vm::Record rec;
    ASSERT_TRUE(Decode(*p, Input(members), &rec));
    EXPECT_GE(InputTokens(*p, rec), 100 * 1024);
    vm::Decision d;
    vm::Evaluate(p->program(), rec, {}, &d);
    EXPECT_EQ(d.status, 413);
  }
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, Input(kHi + R"(, "tools": [{"type": "function", "function": {"name": "f", "description": "abcd",
      "parameters": {"type": "object", "properties": {"xy": {"type": "string"}}}}}])"), &rec));
  // "hi\nabcd" (7) + "type" "object" "properties" "xy" "type" "string" (32)
  EXPECT_EQ(InputTokens(*p, rec), stdlib::EstimateTokensOfBytes(7 + 32));
}

// What goes upstream: each text redacted in place, JSON-escaped; names,
// types and numbers untouched.
TEST(RequestTexts, RedactionsRewriteEveryTextInTheBody) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = Input(R"("messages": [{"role": "user", "content": "hi", "name": "bob@example.com"}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "customer \"card\" 4111 1111 1111 1111\\n\ttab",
       "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "card 4111-1111-1111-1111",
          "enum": ["ann@example.org", 4111111111111111]}}, "required": ["q"]}}}],
    "prediction": {"type": "content", "content": [{"type": "text", "text": "4111 1111 1111 1111"}]},
    "response_format": {"type": "json_schema", "json_schema": {"name": "a", "description": "mail me@example.net",
       "schema": {"type": "object"}}})");
  vm::Decision d;
  Decide(*p, input, &d);
  ASSERT_EQ(d.redactions.size(), 2u);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  EXPECT_EQ(out.find("4111 1111"), std::string::npos) << out;
  EXPECT_EQ(out.find("@example"), std::string::npos) << out;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["messages"][0]["name"].GetString(), "[EMAIL]");
  const auto& fn = doc["tools"][0]["function"];
  EXPECT_STREQ(fn["name"].GetString(), "f");
  EXPECT_STREQ(fn["description"].GetString(), "customer \"card\" [CARD]\\n\ttab");
  const auto& q = fn["parameters"]["properties"]["q"];
  EXPECT_STREQ(q["description"].GetString(), "card [CARD]");
  EXPECT_STREQ(q["enum"][0].GetString(), "[EMAIL]");
  EXPECT_TRUE(q["enum"][1].IsUint64());  // a number is no text
  EXPECT_STREQ(fn["parameters"]["required"][0].GetString(), "q");
  EXPECT_STREQ(doc["prediction"]["content"][0]["text"].GetString(), "[CARD]");
  EXPECT_STREQ(doc["response_format"]["json_schema"]["description"].GetString(), "mail [EMAIL]");
  // Redacted again, the body's request.content holds no match.
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, R"({"principal": {"workspace": "w"}, "request": )" + out + "}", &rec));
  EXPECT_EQ(Content(*p, rec).find("4111"), std::string::npos);
}

// `tollgate test`'s `expect redacted` reads what goes upstream, names included.
TEST(RequestTexts, ExpectRedactedSeesMessageNames) {
  auto p = Compile((std::string(kPolicy) + R"(
test "named" {
  given { request.messages: [{role: "user", content: "hi", name: "bob@example.com"}] }
  expect redacted "hi\n[EMAIL]"
}
test "denied by name" {
  given { request.messages: [{role: "user", content: "hi", name: "TOPSECRET"}] }
  expect deny 403
}
)").c_str());
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  for (const TestResult& t : r.tests) {
    std::string f;
    for (const std::string& x : t.failures) f += x + "; ";
    EXPECT_TRUE(t.pass) << t.name << ": " << f;
  }
  EXPECT_EQ(r.passed, 2);
}

}  // namespace
}  // namespace tollgate::runtime
