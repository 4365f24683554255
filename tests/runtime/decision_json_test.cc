// Decision JSON rendering and the redaction applier, end to end through a
// compiled policy.
#include "runtime/decide/decision_json.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"

namespace tollgate::runtime {
namespace {

constexpr const char* kPolicy = R"(policy "render"
rule big { when (request.max_tokens ?? 0) > 1000 deny 413 "too many tokens" }
rule later { when (request.max_tokens ?? 0) > 2000 deny 400 "second deny loses" }
rule eu { when principal.jurisdiction == "DE" require provider.jurisdiction == "DE" }
rule cards { redact dlp.credit_card as "[CARD]" }
rule secret { redact "secret-[0-9]+" as "[X]" }
rule cheap { when "batch" in context.tags route sort price, max_price 1.50 usd }
rule team { tag team = "ml" }
rule first_team { tag team = "other" }
rule amount { tag cost = 2.5 usd }
rule watch mode shadow { when request.model == "gpt-4o" deny "shadowed" }
rule note mode advisory { when request.model == "gpt-4o" warn "heads up" }
rule fragile { when 1 / ((request.max_tokens ?? 2) - 1) > 1 deny "hot" }
)";

std::shared_ptr<const Policy> Compile() {
  Compiled c = CompileSource("render.tg", kPolicy, {});
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  return c.policy;
}

// The evaluating clock of these tests (inputs without context.time).
constexpr int64_t kNow = 1767268800000;  // 2026-01-01T12:00:00Z

std::string Eval(const Policy& p, const std::string& input, bool explain, vm::Decision* d) {
  vm::Record rec;
  InputError err;
  DecodeOptions opts;
  opts.now_ms = kNow;
  EXPECT_TRUE(DecodeInput(input, p.schema(), {}, opts, &rec, &err)) << err.message;
  vm::EvalOptions o;
  o.trace = explain;
  vm::Evaluate(p.program(), rec, o, d);
  DecisionJsonOptions jo;
  jo.explain = explain;
  return DecisionToJson(*d, p.program(), jo);
}

const char* kInput = R"({"principal": {"workspace": "w", "jurisdiction": "DE"},
  "request": {"model": "gpt-4o", "max_tokens": 5000,
              "messages": [{"role": "user", "content": "card 4111 1111 1111 1111 and secret-42"}]},
  "context": {"tags": ["batch"]}})";

TEST(DecisionJson, RendersEveryMember) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Decision d;
  std::string json = Eval(*p, kInput, false, &d);
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_STREQ(doc["outcome"].GetString(), "deny");
  EXPECT_EQ(doc["status"].GetInt(), 413);
  EXPECT_STREQ(doc["code"].GetString(), "policy_denied");
  EXPECT_STREQ(doc["reason"].GetString(), "too many tokens");
  std::vector<std::string> rules;
  for (auto& r : doc["rules"].GetArray()) rules.push_back(r.GetString());
  EXPECT_NE(std::find(rules.begin(), rules.end(), "big"), rules.end());
  EXPECT_NE(std::find(rules.begin(), rules.end(), "later"), rules.end());
  ASSERT_EQ(doc["shadow"].Size(), 1u);
  EXPECT_STREQ(doc["shadow"][0].GetString(), "watch");
  ASSERT_EQ(doc["advisory"].Size(), 1u);
  EXPECT_STREQ(doc["advisory"][0].GetString(), "note");
  ASSERT_EQ(doc["requires"].Size(), 1u);
  EXPECT_STREQ(doc["requires"][0]["rule"].GetString(), "eu");
  EXPECT_STREQ(doc["requires"][0]["predicate"].GetString(), "provider.jurisdiction == \"DE\"");
  ASSERT_EQ(doc["redactions"].Size(), 2u);
  EXPECT_STREQ(doc["redactions"][0]["pattern"].GetString(), "dlp.credit_card");
  EXPECT_STREQ(doc["redactions"][0]["replacement"].GetString(), "[CARD]");
  EXPECT_STREQ(doc["redactions"][1]["rule"].GetString(), "secret");
  EXPECT_STREQ(doc["route"]["sort"].GetString(), "price");
  EXPECT_STREQ(doc["route"]["max_price"]["cost"].GetString(), "1.5");
  EXPECT_TRUE(doc["route"]["order"].IsArray());
  // tags: sorted keys, the first rule to set a key wins, money as exact string
  auto tags = doc["tags"].GetObject();
  auto it = tags.MemberBegin();
  ASSERT_EQ(tags.MemberCount(), 2u);
  EXPECT_STREQ(it->name.GetString(), "cost");
  EXPECT_STREQ((it + 1)->name.GetString(), "team");
  EXPECT_STREQ(tags["cost"].GetString(), "2.5");
  EXPECT_STREQ(tags["team"].GetString(), "ml");
  ASSERT_EQ(doc["warnings"].Size(), 1u);
  EXPECT_STREQ(doc["warnings"][0]["message"].GetString(), "heads up");
  EXPECT_STREQ(doc["policy"]["name"].GetString(), "render");
  EXPECT_EQ(std::string(doc["policy"]["version"].GetString()).rfind("sha256:", 0), 0u);
  EXPECT_FALSE(doc.HasMember("trace"));
  // deterministic member order
  std::vector<std::string> keys;
  for (auto& m : doc.GetObject()) keys.push_back(m.name.GetString());
  std::vector<std::string> want = {"outcome", "status", "code", "reason", "rules", "shadow",
                                   "advisory", "requires", "shadow_requires", "redactions",
                                   "route", "tags", "warnings", "errors", "policy", "instructions",
                                   "time", "time_source"};
  EXPECT_EQ(keys, want);
  // same input, same bytes
  vm::Decision d2;
  EXPECT_EQ(Eval(*p, kInput, false, &d2), json);
}

TEST(DecisionJson, ErrorsAndTrace) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Decision d;
  // max_tokens 1: `fragile` divides by zero and denies (on_error deny) with
  // the fixed public reason; the internal message is only in `errors`.
  std::string json = Eval(*p, R"({"principal": {"workspace": "w"}, "request": {"model": "m",
      "messages": [], "max_tokens": 1}})", true, &d);
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  ASSERT_GE(doc["errors"].Size(), 1u) << json;
  EXPECT_STREQ(doc["errors"][0]["rule"].GetString(), "fragile");
  EXPECT_STREQ(doc["errors"][0]["code"].GetString(), "eval_arithmetic_error");
  EXPECT_STREQ(doc["errors"][0]["message"].GetString(), "division by zero");
  EXPECT_STREQ(doc["code"].GetString(), "rule_error");
  EXPECT_STREQ(doc["reason"].GetString(), "policy evaluation failed");
  EXPECT_EQ(json.find("division by zero"), json.rfind("division by zero"));  // only in errors
  ASSERT_TRUE(doc.HasMember("trace"));
  EXPECT_GT(doc["trace"].Size(), 0u);
  EXPECT_TRUE(doc["trace"][0].HasMember("values"));
}

// context.time absent: filled from the evaluating clock and recorded, so a
// replay can pass the same instant back.
TEST(DecisionJson, RecordsTheInstantUsed) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Decision d;
  std::string json = Eval(*p, kInput, false, &d);
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_STREQ(doc["time"].GetString(), "2026-01-01T12:00:00Z");
  EXPECT_STREQ(doc["time_source"].GetString(), "clock");
  ASSERT_TRUE(d.time.has_value());
  EXPECT_EQ(*d.time, kNow);
  EXPECT_TRUE(d.time_from_clock);
  json = Eval(*p, R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []},
      "context": {"time": "2025-06-30T08:00:00Z"}})", false, &d);
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_STREQ(doc["time"].GetString(), "2025-06-30T08:00:00Z");
  EXPECT_STREQ(doc["time_source"].GetString(), "input");
}

TEST(DecisionJson, ApplyRedactions) {
  auto p = Compile();
  ASSERT_TRUE(p);
  vm::Decision d;
  Eval(*p, kInput, false, &d);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(kInput, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["messages"][0]["content"].GetString(), "card [CARD] and [X]");
  EXPECT_EQ(doc["max_tokens"].GetInt(), 5000);
  // content parts; a Luhn-invalid number is left alone
  std::string parts = R"({"request": {"model": "m", "messages": [{"role": "user", "content": [
      {"type": "text", "text": "4111 1111 1111 1112 secret-7"}, {"type": "image_url", "image_url": {"url": "u"}}]}]}})";
  ASSERT_TRUE(ApplyRedactions(parts, d, p->program(), &out, &error)) << error;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError());
  EXPECT_STREQ(doc["messages"][0]["content"][0]["text"].GetString(), "4111 1111 1111 1112 [X]");
  EXPECT_STREQ(doc["messages"][0]["content"][1]["type"].GetString(), "image_url");
  EXPECT_FALSE(ApplyRedactions("not json", d, p->program(), &out, &error));
}

// Numbers are written back as they came, and one beyond double range in a
// member tollgate ignores (DecodeInput accepts it) does not make the
// redactor refuse the request.
// A pattern that matches request.content across a message break (or
// between two content parts, or a message and its tool-call arguments)
// fires its rule; the redaction must then remove the match from every
// piece it touches. It used to redact message by message and find nothing.
TEST(DecisionJson, MatchesAcrossMessagesAreRedacted) {
  Compiled c = CompileSource("x.tg", R"(policy "x"
rule secret {
  when request.content matches "secret\\s+code"
  redact "secret\\s+code" as "[X]"
}
rule cards { redact dlp.credit_card as "[CARD]" }
)", {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const std::string input = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": "the secret"},
      {"role": "user", "content": [{"type": "text", "text": "code"}, {"type": "image_url", "image_url": {"url": "u"}},
                                   {"type": "text", "text": "is 42, secret"}, {"type": "text", "text": "code 9"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function",
        "function": {"name": "f", "arguments": "4111 1111 1111 1111 secret"}}]},
      {"role": "tool", "tool_call_id": "1", "content": "code 7"}]}})";
  vm::Decision d;
  Eval(*c.policy, input, false, &d);
  ASSERT_EQ(d.redactions.size(), 2u);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, c.policy->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  const auto& m = doc["messages"];
  EXPECT_STREQ(m[0]["content"].GetString(), "the [X]");
  EXPECT_STREQ(m[1]["content"][0]["text"].GetString(), "");
  EXPECT_STREQ(m[1]["content"][1]["type"].GetString(), "image_url");
  EXPECT_STREQ(m[1]["content"][2]["text"].GetString(), "is 42, [X]");
  EXPECT_STREQ(m[1]["content"][3]["text"].GetString(), " 9");
  EXPECT_STREQ(m[2]["tool_calls"][0]["function"]["arguments"].GetString(), "[CARD] [X]");
  EXPECT_STREQ(m[3]["content"].GetString(), " 7");
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
}

// An assistant message's `refusal` (structured outputs) goes back to the
// model with the conversation: scanned and redacted like its content.
TEST(DecisionJson, AnAssistantRefusalIsScannedAndRedacted) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": "hi"},
      {"role": "assistant", "content": null, "refusal": "I will not store 4111 1111 1111 1111"}]}})";
  vm::Decision d;
  Eval(*p, input, false, &d);
  ASSERT_FALSE(d.redactions.empty());
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  EXPECT_NE(out.find(R"("refusal":"I will not store [CARD]")"), std::string::npos) << out;
  EXPECT_EQ(out.find("4111"), std::string::npos) << out;
}

// A tool call's arguments and a tool result are JSON texts: Python's
// json.dumps writes a card's no-break spaces, an address's umlauts and
// full-width digits as `\uXXXX` escapes, which the model reads as the
// characters. `matches` reads them (the rules fire) and the redaction
// replaces the escaped spelling whole, so the arguments stay JSON and no
// digit of the card goes upstream. It used to find nothing.
TEST(DecisionJson, JsonEscapedNumbersInToolTextsAreMatchedAndRedacted) {
  Compiled c = CompileSource("x.tg", R"(policy "x"
rule cards  { when request.content matches dlp.credit_card redact dlp.credit_card as "[CARD]" }
rule emails { when request.content matches dlp.email redact dlp.email as "[EMAIL]" }
rule ibans  { when request.content matches dlp.iban redact dlp.iban as "[IBAN]" }
rule codes  { when request.content matches "code-\\d{4}" redact "code-\\d{4}" as "[CODE]" }
)", {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const std::string input = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": "charge my card, pasted: {\"n\": \"5500\\u00a00000\\u00a00000\\u00a00004\"}"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "charge",
        "arguments": "{\"card\": \"4111\\u00a01111\\u00a01111\\u00a01111\", \"email\": \"j\\u00f6hn@b\\u00fccher.de\", \"iban\": \"DE89\\u00a03704\\u00a00044\\u00a00532\\u00a00130\\u00a000\", \"c\": \"code-\\u0031\\u0032\\u0033\\u0034\"}"}}]},
      {"role": "tool", "tool_call_id": "1", "content": "{\"card\": \"\\uff14\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\", \"mcp\": \"{\\\"card\\\": \\\"4111\\\\u00a01111\\\\u00a01111\\\\u00a01111\\\"}\"}"}]}})";
  vm::Decision d;
  const std::string decision = Eval(*c.policy, input, true, &d);
  EXPECT_EQ(d.fired.size(), 4u) << decision;
  ASSERT_EQ(d.redactions.size(), 4u) << decision;
  // --explain shows where: the escaped spelling, masked.
  EXPECT_NE(decision.find(R"("detector":"dlp.credit_card","span":)"), std::string::npos) << decision;
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, c.policy->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  const auto& m = doc["messages"];
  EXPECT_STREQ(m[0]["content"].GetString(), R"(charge my card, pasted: {"n": "[CARD]"})");
  const std::string args = m[1]["tool_calls"][0]["function"]["arguments"].GetString();
  EXPECT_EQ(args, R"({"card": "[CARD]", "email": "[EMAIL]", "iban": "[IBAN]", "c": "[CODE]"})");
  rapidjson::Document inner;
  EXPECT_FALSE(inner.Parse(args.c_str()).HasParseError()) << args;
  EXPECT_STREQ(m[2]["content"].GetString(), R"({"card": "[CARD]", "mcp": "{\"card\": \"[CARD]\"}"})");
  for (std::string_view gone : {"4111", "5500", "uff14", "u00f6", "DE89", "u0031"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in " << out;
}

TEST(DecisionJson, RedactionKeepsNumberTextAndHugeNumbers) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "top_k": 1e400, "temperature": 0.70,
      "logit_bias": {"42": -1e999}, "messages": [{"role": "user", "content": "card 4111 1111 1111 1111"}]}})";
  vm::Decision d;
  Eval(*p, input, false, &d);
  ASSERT_FALSE(d.redactions.empty());
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  EXPECT_NE(out.find(R"("top_k":1e400)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("temperature":0.70)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"42":-1e999})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("content":"card [CARD]")"), std::string::npos) << out;
}

TEST(DecisionJson, ToolCallArgumentsAreRedacted) {
  // Regression: a card number only in tool_calls[].function.arguments fired
  // no rule and --apply-redactions left it in place.
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = "\xEF\xBB\xBF" R"({"principal": {"workspace": "w"},
      "request": {"model": "m", "max_tokens": 5, "temperature": 0.5, "messages": [
        {"role": "user", "content": "pay"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
          "function": {"name": "pay", "arguments": "{\"card\": \"4111 1111 1111 1111\", \"ref\": \"secret-9\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok secret-1"}]}})";
  vm::Decision d;
  Eval(*p, input, false, &d);
  bool card = false;
  for (const vm::Redaction& r : d.redactions) card |= r.replacement == "[CARD]";
  EXPECT_TRUE(card) << "the card rule must see tool-call arguments";
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["messages"][1]["tool_calls"][0]["function"]["arguments"].GetString(),
               R"({"card": "[CARD]", "ref": "[X]"})");
  EXPECT_STREQ(doc["messages"][1]["tool_calls"][0]["function"]["name"].GetString(), "pay");
  EXPECT_STREQ(doc["messages"][2]["content"].GetString(), "ok [X]");
}


// Regression: a bare string content part, a deprecated function_call's
// arguments and a custom tool call's input were scanned (the card rule
// fired) but --apply-redactions and the gateway sent them on unredacted.
TEST(DecisionJson, EveryScannedTextIsRedacted) {
  auto p = Compile();
  ASSERT_TRUE(p);
  const std::string input = R"({"principal": {"workspace": "w"},
      "request": {"model": "m", "messages": [
        {"role": "user", "content": ["card 4111 1111 1111 1111", {"type": "text", "text": "secret-1"}]},
        {"role": "assistant", "content": null,
         "function_call": {"name": "pay", "arguments": "{\"ref\": \"secret-2\"}"}},
        {"role": "assistant", "content": null, "tool_calls": [
          {"id": "c1", "type": "custom", "custom": {"name": "exec", "input": "use secret-3"}}]},
        {"role": "user", "content": [{"type": "input_text", "text": "secret-4"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "not secret-5"}]}]}})";
  vm::Decision d;
  Eval(*p, input, false, &d);
  std::string out, error;
  ASSERT_TRUE(ApplyRedactions(input, d, p->program(), &out, &error)) << error;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(out.c_str()).HasParseError()) << out;
  EXPECT_STREQ(doc["messages"][0]["content"][0].GetString(), "card [CARD]");
  EXPECT_STREQ(doc["messages"][0]["content"][1]["text"].GetString(), "[X]");
  EXPECT_STREQ(doc["messages"][1]["function_call"]["arguments"].GetString(), R"({"ref": "[X]"})");
  EXPECT_STREQ(doc["messages"][2]["tool_calls"][0]["custom"]["input"].GetString(), "use [X]");
  EXPECT_STREQ(doc["messages"][3]["content"][0]["text"].GetString(), "[X]");
  EXPECT_STREQ(doc["messages"][4]["content"][0]["refusal"].GetString(), "not [X]");
  EXPECT_EQ(out.find("4111"), std::string::npos) << out;
  EXPECT_EQ(out.find("secret-"), std::string::npos) << out;
}

}  // namespace
}  // namespace tollgate::runtime

namespace tollgate::runtime {
namespace {

// Names, predicates, reasons and tags are written without rapidjson's
// byte-by-byte escaping when they need none (decision_json.cc): the bytes
// must be exactly the ones rapidjson's writers produce, escapes included.
TEST(DecisionJson, FastStringsAreTheWritersBytes) {
  Compiled c = CompileSource("escapes.tg", R"(policy "esc \"q\" \\ é"
rule say_no { when request.model == "a\"b" deny 403 "say \"no\" \\ now\n\ttab é ✓" }
rule need { require provider.name != "x\"y\\z" }
rule plain_need { require provider.name != "plain" }
rule t1 { tag note = "line\nbreak \"q\"" }
rule t2 { tag plain = "ok" }
rule adv mode advisory { when true warn "heads \"up\"" }
rule adv_long_plain mode advisory { when true warn "0123456789abcdefghijklmnopqrstuvwxyz0123456789" }
rule adv_long_quote mode advisory { when true warn "0123456789abcdefghij\"klmnopqrstuvwxyz" }
rule adv_long_tab mode advisory { when true warn "0123456789abcdefghijklmnopqrstuvwxyz0\t12" }
rule adv_long_back mode advisory { when true warn "0123456789abcdef\\0123456789abcdef" }
)", {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  vm::Decision d;
  std::string compact = Eval(*c.policy, R"({"principal": {"workspace": "w"},
      "request": {"model": "a\"b", "messages": []}})", false, &d);
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(compact.c_str()).HasParseError()) << compact;
  EXPECT_STREQ(doc["reason"].GetString(), "say \"no\" \\ now\n\ttab é ✓");
  EXPECT_STREQ(doc["tags"]["note"].GetString(), "line\nbreak \"q\"");
  EXPECT_STREQ(doc["policy"]["name"].GetString(), "esc \"q\" \\ é");
  ASSERT_EQ(doc["requires"].Size(), 2u);
  EXPECT_STREQ(doc["requires"][0]["predicate"].GetString(), "provider.name != \"x\\\"y\\\\z\"");
  ASSERT_EQ(doc["warnings"].Size(), 5u);
  EXPECT_STREQ(doc["warnings"][2]["message"].GetString(), "0123456789abcdefghij\"klmnopqrstuvwxyz");
  EXPECT_STREQ(doc["warnings"][3]["message"].GetString(), "0123456789abcdefghijklmnopqrstuvwxyz0\t12");
  // The same document written by rapidjson's own Writer: the same bytes.
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  doc.Accept(w);
  EXPECT_EQ(compact, std::string(sb.GetString(), sb.GetSize()));
  // And the pretty form, by rapidjson's PrettyWriter.
  DecisionJsonOptions jo;
  jo.pretty = true;
  std::string pretty = DecisionToJson(d, c.policy->program(), jo);
  rapidjson::StringBuffer pb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> pw(pb);
  pw.SetIndent(' ', 2);
  doc.Accept(pw);
  EXPECT_EQ(pretty, std::string(pb.GetString(), pb.GetSize()));
}

}  // namespace
}  // namespace tollgate::runtime
