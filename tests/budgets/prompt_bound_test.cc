// The worst-case prompt (runtime/decide/prompt_bound.h): one token per byte
// of every text the request sends, the chat template's tokens, a fixed bound
// per image, audio by its size, files at the context length; and what a
// request reserves with it (runtime::WorstCaseUsage).
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <gtest/gtest.h>

#include <string>

#include "runtime/decide/budgets.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/input/input.h"
#include "stdlib/builtins.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {
namespace {

Endpoint Ep(int64_t context_length = 1'000'000) {
  Endpoint e;
  e.context_length = context_length;
  e.max_output_tokens = 100;
  e.price_input = kMicros;   // 1 usd per million tokens: 1 micro per token
  e.price_output = kMicros;
  return e;
}

PromptShape Measure(const std::string& json, PromptSource source = PromptSource::kBody) {
  PromptShape s;
  EXPECT_TRUE(MeasurePrompt(json, source, &s)) << json;
  return s;
}

// The body as minified JSON, numbers as written (strings without characters
// JSON escapes, so that their decoded and written lengths agree).
struct Copy : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Copy> {
  rapidjson::Writer<rapidjson::StringBuffer>* w;
  bool Null() { return w->Null(); }
  bool Bool(bool b) { return w->Bool(b); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) { return w->RawValue(s, n, rapidjson::kNumberType); }
  bool String(const char* s, rapidjson::SizeType n, bool) { return w->String(s, n); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return w->Key(s, n); }
  bool StartObject() { return w->StartObject(); }
  bool EndObject(rapidjson::SizeType) { return w->EndObject(); }
  bool StartArray() { return w->StartArray(); }
  bool EndArray(rapidjson::SizeType) { return w->EndArray(); }
};
int64_t Minified(const std::string& json) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  Copy h;
  h.w = &w;
  rapidjson::Reader r;
  rapidjson::StringStream ss(json.c_str());
  EXPECT_FALSE(r.Parse<rapidjson::kParseNumbersAsStringsFlag>(ss, h).IsError()) << json;
  return static_cast<int64_t>(sb.GetSize());
}

// Text is counted as the body's minified JSON: every key, string, number
// and bracket, whatever the nesting (here deeper than the meter's frames)
// and the whitespace.
TEST(PromptBound, TextIsTheMinifiedBody) {
  const std::string bodies[] = {
      R"({"messages": [{"role": "user", "content": "hi"}]})",
      R"({"messages": [], "temperature": 0.70, "seed": 12345678901234567890, "stop": null, "logprobs": false})",
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, "b", {"type": "text", "text": "c"}]},
                       {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function",
                        "function": {"name": "f", "arguments": "x=1"}}]},
                       {"role": "tool", "tool_call_id": "1", "content": "42"}]})",
      R"({"messages": [{"role": "user", "content": "x"}],
          "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema":
            {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": [1, [2, [3, {"l": true}]]]}}}}}}}}}}}}}})",
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [[[[[[[[[[[[["deep", 1, null]]]]]]]]]]]]]})",
  };
  for (const std::string& b : bodies) {
    EXPECT_EQ(Measure(b).text_bytes, Minified(b)) << b;
  }
  // Decoded text: an escape counts the bytes it stands for (never more than
  // its JSON spelling).
  EXPECT_EQ(Measure(R"({"a": "\u00e9\n"})").text_bytes, Minified(R"({"a": "xxx"})"));
}

// Routing members never reach the upstream (the gateway strips them;
// `model` is replaced): they are not prompt text. A decision input is
// measured on its `request` only.
TEST(PromptBound, RoutingMembersAndTheDecisionInputAroundTheBodyAreLeftOut) {
  const std::string body = R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})";
  const PromptShape plain = Measure(body);
  EXPECT_EQ(plain.text_bytes, Minified(body));
  EXPECT_EQ(plain.messages, 1);
  const PromptShape routed = Measure(
      R"({"model": "openai/gpt-4o:nitro", "messages": [{"role": "user", "content": "hi"}], "models": ["a", "b"],
          "provider": {"order": ["x", "y"], "sort": "price"}, "route": "fallback", "transforms": ["middle-out"],
          "plugins": [{"id": "web"}], "preset": "p", "max_tokens": 5})");
  EXPECT_EQ(routed.text_bytes, plain.text_bytes);
  const PromptShape input = Measure(R"({"principal": {"workspace": "acme", "user": "a long user name"},
      "request": )" + body + R"(, "context": {"data_class": "internal", "request": {"not": "the body"}}})",
                                    PromptSource::kDecisionInput);
  EXPECT_EQ(input.text_bytes, plain.text_bytes);
  EXPECT_EQ(input.messages, 1);
  EXPECT_EQ(WorstCasePromptTokens(plain, Ep()), plain.text_bytes + kPromptBoundPerRequest + kPromptBoundPerMessage);
}

// The case the estimate gets wrong: 4 KB of digits is ~1,024 tokens by
// (bytes + 3) / 4, but a tokenizer may bill up to one token per digit.
TEST(PromptBound, DigitsAreBoundedAtOneTokenPerByte) {
  const std::string digits(4096, '7');
  const std::string body = R"({"messages": [{"role": "user", "content": ")" + digits + R"("}], "max_tokens": 1})";
  const int64_t bound = WorstCasePromptTokens(Measure(body), Ep());
  EXPECT_EQ(stdlib::EstimateTokens(digits), 1024);
  EXPECT_GE(bound, 4096 + kPromptBoundPerRequest + kPromptBoundPerMessage);
  EXPECT_EQ(bound, Minified(body) + kPromptBoundPerRequest + kPromptBoundPerMessage);
  // The context length caps it: a provider bills no prompt it cannot take.
  EXPECT_EQ(WorstCasePromptTokens(Measure(body), Ep(2000)), 2000);
}

// A request with several messages, tools, images (a URL, a data URL, an
// Anthropic-style source), audio and a system prompt: every part of the
// bound, term by term.
TEST(PromptBound, ToolsImagesAudioAndMessagesTermByTerm) {
  const std::string big_image = "data:image/png;base64," + std::string(200'000, 'A');
  const std::string audio(4000, 'B');  // base64 of 3,000 bytes
  const std::string body = R"({"model": "m",
    "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [
        {"type": "text", "text": "what is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": ")" + big_image + R"("}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ")" + big_image + R"("}},
        {"type": "input_audio", "input_audio": {"data": ")" + audio + R"(", "format": "wav"}}]},
      {"role": "assistant", "content": "let me look", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "lookup", "arguments": "q=cats"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "three cats"}],
    "tools": [
      {"type": "function", "function": {"name": "lookup", "description": "search the catalogue",
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "enum": ["cats", "dogs"]}},
                       "required": ["q"]}}},
      {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}],
    "response_format": {"type": "json_object"},
    "max_tokens": 50})";
  const PromptShape s = Measure(body);
  EXPECT_EQ(s.messages, 4);
  EXPECT_EQ(s.tools, 2);
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.audio_bytes, 3000);
  EXPECT_EQ(s.files, 0);
  // The text is the body without `model` and with every media payload
  // emptied (the URL of the first image included: it is an image, whatever
  // its URL says).
  std::string stripped = body;
  auto empty = [&](const std::string& payload) {
    for (size_t at; (at = stripped.find(payload)) != std::string::npos;) stripped.erase(at, payload.size());
  };
  empty(big_image);
  empty(audio);
  empty("https://example.com/a.png");
  stripped.erase(stripped.find(R"("model": "m",)"), std::string(R"("model": "m",)").size());
  EXPECT_EQ(s.text_bytes, Minified(stripped));
  EXPECT_LT(s.text_bytes, 2000);  // the 400 KB of images are not text
  const int64_t want = s.text_bytes + kPromptBoundPerRequest + 4 * kPromptBoundPerMessage +
                       kPromptBoundToolBlock + 2 * kPromptBoundPerTool + 3 * kPromptBoundPerImage + 3000;
  EXPECT_EQ(WorstCasePromptTokens(s, Ep()), want);
  // The decision input's request, measured in place, is the same.
  const PromptShape in = Measure(R"({"principal": {"workspace": "w"}, "request": )" + body + "}",
                                 PromptSource::kDecisionInput);
  EXPECT_EQ(WorstCasePromptTokens(in, Ep()), want);
  // Deprecated `functions` count as tools.
  const PromptShape f = Measure(R"({"messages": [], "functions": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})");
  EXPECT_EQ(f.tools, 3);
}

// A file (a PDF is billed as its text plus an image per page) or a document
// source is not bounded by its size: the prompt may fill the context.
TEST(PromptBound, FilesAndDocumentsAreBoundedByTheContextLength) {
  const char* bodies[] = {
      R"({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf",
          "file_data": "data:application/pdf;base64,JVBERi0="}}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "text",
          "media_type": "text/plain", "data": "short"}}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}]}]})",
  };
  for (const char* b : bodies) {
    const PromptShape s = Measure(b);
    EXPECT_EQ(s.files, 1) << b;
    EXPECT_EQ(WorstCasePromptTokens(s, Ep(128'000)), 128'000) << b;
  }
  // Not measured, or not JSON: the context length too (fails safe).
  EXPECT_EQ(WorstCasePromptTokens(PromptShape{}, Ep(5000)), 5000);
  PromptShape bad;
  EXPECT_FALSE(MeasurePrompt(R"({"messages": [)", PromptSource::kBody, &bad));
  EXPECT_TRUE(bad.unparsed);
  EXPECT_EQ(WorstCasePromptTokens(bad, Ep(5000)), 5000);
}

// Text in a content part that merely looks like a media member elsewhere
// (a tool schema property named `image_url` or `data`) is text: only parts
// of messages carry media.
TEST(PromptBound, MediaMembersOutsideMessagePartsAreText) {
  const std::string body = R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
      "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "image_url": {"type": "string", "url": "a very long description of the url"},
        "input_audio": {"data": "looks like audio but is schema text"}, "file": {"file_id": "x"}}}}}]})";
  const PromptShape s = Measure(body);
  EXPECT_EQ(s.images, 0);
  EXPECT_EQ(s.files, 0);
  EXPECT_EQ(s.audio_bytes, 0);
  EXPECT_EQ(s.text_bytes, Minified(body));
}

// The reservation: the bound at the input price plus the worst-case
// completion (and a prediction's bytes, billed as completion when rejected)
// at the output price, rounded up like a settlement.
TEST(PromptBound, WorstCaseUsagePricesTheBoundAndRoundsUp) {
  const std::string json = R"({"principal": {"workspace": "w"}, "request": {"model": "m",
      "messages": [{"role": "user", "content": "hello"}], "max_tokens": 7, "n": 2,
      "prediction": {"type": "content", "content": "abc"}}})";
  vm::Record rec;
  InputError err;
  ASSERT_TRUE(DecodeInput(json, stdlib::Schema::Standard(), Limits{}, &rec, &err)) << err.message;
  const PromptShape s = Measure(json, PromptSource::kDecisionInput);
  EXPECT_EQ(s.prediction_bytes, Minified(R"({"type": "content", "content": "abc"})"));
  Endpoint ep = Ep();
  ep.price_input = 3;        // 0.000003 usd per million: 3e-6 micros per token
  ep.price_output = 1;
  ep.price_request = 10;
  const int64_t in = WorstCasePromptTokens(s, ep);
  const int64_t out = 14 + s.prediction_bytes;
  const ledger::Usage w = WorstCaseUsage(s, ep, rec);
  EXPECT_EQ(w.tokens, in + out);
  EXPECT_EQ(w.cost_micros, 11);  // a fraction of a micro rounds up, plus the request price
  EXPECT_EQ(CostCeil(in, out, ep), 11);
  EXPECT_EQ(CostCeil(0, 0, ep), 10);
  // A real usage within the bound never costs more than the reservation.
  for (int64_t p = 0; p <= in; p += 7) {
    for (int64_t c = 0; c <= out; c += 3) EXPECT_LE(CostCeil(p, c, ep), w.cost_micros);
  }
}

}  // namespace
}  // namespace tollgate::runtime
