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
  // A name gets a placeholder an upstream's name pattern accepts.
  EXPECT_STREQ(doc["messages"][0]["name"].GetString(), "REDACTED_EMAIL");
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
  expect redacted "hi\nREDACTED_EMAIL"
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

// Regression: members tollgate does not know but an upstream reads (vLLM's
// `documents` and `chat_template`, OpenRouter's top-level `prompt`, a
// message's `reasoning_content`) or keeps (`metadata`) were forwarded as sent:
// no content rule saw them and no redaction touched them.
TEST(RequestTexts, UnknownMembersAreTexts) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::pair<const char*, std::string> cases[] = {
      {"vllm documents", kHi + R"(, "documents": [{"title": "t", "text": "a TopSecret memo"}])"},
      {"chat_template", kHi + R"(, "chat_template": "{% for m in messages %}topsecret{% endfor %}")"},
      {"openrouter prompt", kHi + R"(, "prompt": "topsecret")"},
      {"metadata", kHi + R"(, "metadata": {"note": "topsecret"})"},
      {"nested deep", kHi + R"(, "extra_body": {"a": [1, {"b": ["x", "topsecret"]}]})"},
      {"reasoning_content", R"("messages": [{"role": "assistant", "content": "ok", "reasoning_content": "topsecret"}])"},
      {"reasoning details", R"("messages": [{"role": "assistant", "content": "ok", "reasoning_details": [{"type": "reasoning.text", "text": "topsecret"}]}])"},
  };
  for (const auto& [what, members] : cases) {
    SCOPED_TRACE(what);
    vm::Decision d;
    Decide(*p, Input(members), &d);
    EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
    EXPECT_EQ(d.reason, "no secrets");
  }
  // The known parameters' strings are no texts: words and enumerations
  // (`stop` and `user` are: FreeFormParametersAreRedacted).
  vm::Decision d;
  Decide(*p, Input(kHi + R"(, "service_tier": "topsecret", "verbosity": "topsecret", "tool_choice": "none",
      "reasoning": {"effort": "high"}, "provider": {"only": ["topsecret"]}, "plugins": [{"id": "topsecret"}])"), &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
}

// The unknown members' texts come last, in a fixed order: the messages'
// (message order, then member order), then the body's (member order);
// member names and numbers are no texts. input_tokens counts them.
TEST(RequestTexts, UnknownMembersComeLastInAFixedOrder) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, Input(R"("zeta": "Z", "documents": [{"title": "D1", "n": 3, "ok": true}, "D2"],
      "messages": [{"role": "user", "content": "u", "x_note": "M1"}, {"role": "assistant", "content": "a", "reasoning_content": "M2", "name": "N"}],
      "metadata": {"k": "MD", "empty": ""}, "tools": [{"type": "function", "function": {"name": "f", "description": "T"}}])"),
                     &rec));
  EXPECT_EQ(Content(*p, rec), "u\na\nN\nT\nM1\nM2\nZ\nD1\nD2\nMD");
  EXPECT_EQ(InputTokens(*p, rec), stdlib::EstimateTokens("u\na\nN\nT\nM1\nM2\nZ\nD1\nD2\nMD"));
}

// A body without unknown members gives exactly the request.content it gave
// before: every known parameter of a typical SDK body.
TEST(RequestTexts, KnownMembersLeaveContentAsBefore) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, Input(R"("messages": [{"role": "system", "content": "sys"},
      {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}], "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}], "audio": {"id": "au1"}},
      {"role": "tool", "tool_call_id": "c1", "content": "r"}],
    "models": ["a/b"], "max_completion_tokens": 5, "n": 1, "stream": true, "stream_options": {"include_usage": true},
    "temperature": 0.5, "top_p": 1, "top_k": 4, "min_p": 0.1, "top_a": 0, "frequency_penalty": 0, "presence_penalty": 0,
    "repetition_penalty": 1, "seed": 1, "stop": ["END"], "logit_bias": {"50256": -100}, "logprobs": true, "top_logprobs": 2,
    "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": false,
    "tools": [{"type": "function", "function": {"name": "f", "description": "T", "strict": true}}],
    "response_format": {"type": "json_object"}, "user": "u-1", "service_tier": "auto", "store": false,
    "reasoning_effort": "low", "reasoning": {"effort": "low", "exclude": true}, "include_reasoning": true,
    "verbosity": "low", "modalities": ["text"], "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "P"}, "web_search_options": {"search_context_size": "low"},
    "safety_identifier": "s", "prompt_cache_key": "k", "structured_outputs": true,
    "provider": {"order": ["openai"], "sort": "price"}, "route": "fallback", "transforms": ["middle-out"],
    "plugins": [{"id": "web"}], "preset": "p", "session_id": "s1", "usage": {"include": true}, "debug": {"echo_upstream_body": true})"),
                     &rec));
  // `stop`, `user`, `safety_identifier` and `prompt_cache_key` are the
  // caller's free text: texts, in member order, after the known ones.
  EXPECT_EQ(Content(*p, rec), "sys\nq\n{}\nr\nbob\nP\nT\nEND\nu-1\ns\nk");
}

// The redactor reads the same texts: an unknown member's secret is redacted
// in the body sent upstream, and `expect redacted` sees it.
TEST(RequestTexts, UnknownMembersAreRedacted) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = Input(R"("messages": [{"role": "assistant", "content": "hi",
      "reasoning_content": "card 4111 1111 1111 1111"}],
    "documents": [{"text": "mail bob@example.com", "id": 7}], "metadata": {"owner": "ann@example.org"})");
  vm::Decision d;
  Decide(*p, input, &d);
  ASSERT_EQ(d.redactions.size(), 2u);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["messages"][0]["reasoning_content"].GetString(), "card [CARD]");
  EXPECT_STREQ(doc["documents"][0]["text"].GetString(), "mail [EMAIL]");
  EXPECT_EQ(doc["documents"][0]["id"].GetInt(), 7);
  EXPECT_STREQ(doc["metadata"]["owner"].GetString(), "[EMAIL]");
  // Redacted again, the body's request.content holds no match.
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, R"({"principal": {"workspace": "w"}, "request": )" + out + "}", &rec));
  EXPECT_EQ(Content(*p, rec), "hi\ncard [CARD]\nmail [EMAIL]\n[EMAIL]");
}


// Regression: the free-form parameters went upstream unredacted and unseen
// by content rules (`"user": "alice@example.com"` is common).
TEST(RequestTexts, FreeFormParametersAreRedacted) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = Input(R"("messages": [{"role": "user", "content": "hi"}],
    "user": "alice@example.com", "stop": ["END", "card 4111 1111 1111 1111"],
    "safety_identifier": "carol@example.com", "prompt_cache_key": "dave@example.com", "seed": 3)");
  vm::Decision d;
  Decide(*p, input, &d);
  ASSERT_EQ(d.redactions.size(), 2u);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["user"].GetString(), "[EMAIL]");
  EXPECT_STREQ(doc["stop"][0].GetString(), "END");
  EXPECT_STREQ(doc["stop"][1].GetString(), "card [CARD]");
  EXPECT_STREQ(doc["safety_identifier"].GetString(), "[EMAIL]");
  EXPECT_STREQ(doc["prompt_cache_key"].GetString(), "[EMAIL]");
  EXPECT_EQ(doc["seed"].GetInt(), 3);
}

// Regression: only a content part's `text` (a refusal part's `refusal`) fed
// request.content: the text of a document, a tool_result's content, a
// tool_use's input, a thinking block, a citation -- any other string of a
// part -- reached the model unseen by content rules and unredacted.
constexpr const char* kSecretsPolicy = R"(policy "parts"
rule secrets { when request.content contains "TOPSECRET" deny 422 "secret" }
rule cards_never_leave { redact dlp.credit_card as "[CARD]" }
)";

std::string Parts(const char* role, const std::string& parts) {
  return std::string(R"("messages": [{"role": ")") + role + R"(", "content": [)" + parts + "]}]";
}

TEST(RequestTexts, EveryTextOfAContentPartIsContent) {
  auto p = Compile(kSecretsPolicy);
  ASSERT_TRUE(p);
  const std::pair<const char*, std::string> cases[] = {
      {"text document", Parts("user", R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "TOPSECRET 4111 1111 1111 1111"}})")},
      {"content document", Parts("user", R"({"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "a TOPSECRET page"}]}})")},
      {"content document string", Parts("user", R"({"type": "document", "source": {"type": "content", "content": "TOPSECRET"}})")},
      {"document title", Parts("user", R"({"type": "document", "title": "TOPSECRET", "source": {"type": "url", "url": "https://x/y.pdf"}})")},
      {"tool_result string", Parts("user", R"({"type": "tool_result", "tool_use_id": "t", "content": "TOPSECRET"})")},
      {"tool_result parts", Parts("user", R"({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "TOPSECRET"}]})")},
      {"tool_use", Parts("assistant", R"({"type": "tool_use", "id": "t", "name": "f", "input": {"q": "TOPSECRET"}})")},
      {"thinking", Parts("assistant", R"({"type": "thinking", "thinking": "TOPSECRET", "signature": "x"})")},
      {"redacted_thinking", Parts("assistant", R"({"type": "redacted_thinking", "data": "TOPSECRET"})")},
      {"citations", Parts("assistant", R"({"type": "text", "text": "hi", "citations": [{"type": "char_location", "cited_text": "TOPSECRET"}]})")},
      {"search_result", Parts("user", R"({"type": "search_result", "source": "https://x", "title": "t", "content": [{"type": "text", "text": "TOPSECRET"}]})")},
      {"extra member", Parts("user", R"({"type": "text", "text": "hi", "x_note": "TOPSECRET"})")},
      {"unknown part type", Parts("user", R"({"type": "x_block", "body": {"deep": ["TOPSECRET"]}})")},
      {"refusal part's text", Parts("assistant", R"({"type": "refusal", "refusal": "no", "text": "TOPSECRET"})")},
      {"text part's refusal", Parts("assistant", R"({"type": "text", "text": "hi", "refusal": "TOPSECRET"})")},
  };
  for (const auto& [what, members] : cases) {
    SCOPED_TRACE(what);
    vm::Decision d;
    Decide(*p, Input(members), &d);
    EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
    EXPECT_EQ(d.reason, "secret");
  }
  // Binary payloads, references, ids and types are no texts.
  const std::string binary[] = {
      Parts("user", R"({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "TOPSECRET"}})"),
      Parts("user", R"({"type": "image", "source": {"type": "url", "url": "https://x/TOPSECRET.png"}})"),
      Parts("user", R"({"type": "tool_result", "tool_use_id": "TOPSECRET", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "TOPSECRET"}}]})"),
      Parts("user", R"({"type": "image_url", "image_url": {"url": "data:image/png;base64,TOPSECRET"}})"),
      Parts("user", R"({"type": "input_audio", "input_audio": {"data": "TOPSECRET", "format": "wav"}})"),
      Parts("user", R"({"type": "file", "file": {"file_data": "data:application/pdf;base64,TOPSECRET"}})"),
      Parts("user", R"({"type": "image", "source_type": "base64", "mime_type": "image/png", "data": "TOPSECRET"})"),
      Parts("user", R"({"type": "text", "text": "hi", "cache_control": {"type": "TOPSECRET"}})"),
      Parts("assistant", R"({"type": "thinking", "thinking": "hm", "signature": "TOPSECRET"})"),
  };
  for (const std::string& members : binary) {
    SCOPED_TRACE(members);
    vm::Decision d;
    Decide(*p, Input(members), &d);
    EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
  }
}

// The parts' texts follow the message's unknown members in member order
// (content's place), in document order; input_tokens counts them. Parts
// with nothing but their text leave request.content as it was.
TEST(RequestTexts, PartTextsComeAtTheContentsPlace) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Record rec;
  ASSERT_TRUE(Decode(*p, Input(R"("messages": [{"role": "user", "x_before": "B", "content": [{"type": "text", "text": "t1"},
      {"type": "document", "title": "DT", "source": {"type": "text", "media_type": "text/plain", "data": "DD"}},
      {"type": "tool_result", "tool_use_id": "u", "content": [{"type": "text", "text": "R1"}, "R2"]}], "x_after": "A"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "u", "name": "f", "input": {"q": "Q", "n": 1}}]}])"),
                     &rec));
  const char* want = "t1\n\nB\nDT\nDD\nR1\nR2\nA\nf\nQ";
  EXPECT_EQ(Content(*p, rec), want);
  EXPECT_EQ(InputTokens(*p, rec),
            stdlib::EstimateTokens(want) + 1599);  // + the file minimum beyond the document's text ("DD": 1 token)
  vm::Record plain;
  ASSERT_TRUE(Decode(*p, Input(R"("messages": [{"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
      {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}, {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]},
      {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}])"),
                     &plain));
  EXPECT_EQ(Content(*p, plain), "a\nno");
}

// The redactor reads the same texts: a card number inside a document part
// and a tool_result part is redacted in the body; the base64 payload is not
// touched.
TEST(RequestTexts, PartTextsAreRedacted) {
  auto p = Compile(kSecretsPolicy);
  ASSERT_TRUE(p);
  const std::string input = Input(Parts("user", R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "card 4111 1111 1111 1111"}},
      {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "paid with 4111-1111-1111-1111"}]},
      {"type": "tool_result", "tool_use_id": "t2", "content": "4111 1111 1111 1111"},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "4111111111111111"}})"));
  vm::Decision d;
  Decide(*p, input, &d);
  ASSERT_EQ(d.outcome, vm::Outcome::kAllow);
  ASSERT_EQ(d.redactions.size(), 1u);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  const auto& parts = doc["messages"][0]["content"];
  EXPECT_STREQ(parts[0]["source"]["data"].GetString(), "card [CARD]");
  EXPECT_STREQ(parts[0]["source"]["media_type"].GetString(), "text/plain");
  EXPECT_STREQ(parts[1]["content"][0]["text"].GetString(), "paid with [CARD]");
  EXPECT_STREQ(parts[2]["content"].GetString(), "[CARD]");
  EXPECT_STREQ(parts[3]["source"]["data"].GetString(), "4111111111111111");
}

}  // namespace
}  // namespace tollgate::runtime
