// DecodeInput: every error code, every type, aliases, derived fields,
// extended schemas, hostile input.
#include "runtime/input/input.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "stdlib/builtins.h"
#include "stdlib/field_values.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {
namespace {

const stdlib::Schema& S() { return stdlib::Schema::Standard(); }

const Value& Slot(const vm::Record& r, std::string_view path, const stdlib::Schema& s = S()) {
  int id = s.Find(path);
  EXPECT_GE(id, 0) << path;
  return r.slots[s.field(id).slot];
}

std::string Input(const std::string& request_extra, const std::string& principal_extra = "",
                  const std::string& context = "") {
  // A request_extra with its own "messages" replaces the default (duplicate
  // keys are an error).
  const bool own = request_extra.find(R"("messages":)") != std::string::npos;
  std::string j = R"({"principal": {"workspace": "acme")" + principal_extra +
                  R"(}, "request": {"model": "gpt-4o")" +
                  (own ? std::string() : R"(, "messages": [{"role": "user", "content": "hi"}])") +
                  request_extra + "}";
  if (!context.empty()) j += R"(, "context": )" + context;
  return j + "}";
}

struct Decoded {
  bool ok;
  vm::Record rec;
  InputError err;
};

void Decode(const std::string& json, Decoded* d, const Limits& limits = {},
            const stdlib::Schema& s = S()) {
  d->ok = DecodeInput(json, s, limits, &d->rec, &d->err);
}

TEST(Input, MinimalRequest) {
  Decoded d;
  Decode(Input(""), &d);
  ASSERT_TRUE(d.ok) << d.err.code << " " << d.err.message;
  EXPECT_EQ(Slot(d.rec, "principal.workspace").sv(), "acme");
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "gpt-4o");
  const Value& msgs = Slot(d.rec, "request.messages");
  ASSERT_EQ(msgs.kind, Kind::kList);
  ASSERT_EQ(msgs.list->items.size(), 1u);
  EXPECT_EQ(msgs.list->items[0].rec->fields[0].sv(), "user");
  EXPECT_EQ(msgs.list->items[0].rec->fields[1].sv(), "hi");
  EXPECT_TRUE(msgs.list->items[0].rec->fields[2].is_null());  // name?
  // absent optional scalars are null, absent sets/lists empty
  EXPECT_TRUE(Slot(d.rec, "principal.user").is_null());
  EXPECT_TRUE(Slot(d.rec, "request.max_tokens").is_null());
  // context.time absent: the evaluating clock's instant, recorded as such
  ASSERT_EQ(Slot(d.rec, "context.time").kind, Kind::kTime);
  ASSERT_TRUE(d.rec.time.has_value());
  EXPECT_TRUE(d.rec.time->from_clock);
  EXPECT_EQ(d.rec.time->unix_ms, Slot(d.rec, "context.time").i);
  ASSERT_EQ(Slot(d.rec, "principal.groups").kind, Kind::kSet);
  EXPECT_TRUE(Slot(d.rec, "principal.groups").set->items.empty());
  ASSERT_EQ(Slot(d.rec, "request.models").kind, Kind::kList);
  EXPECT_TRUE(Slot(d.rec, "request.models").list->items.empty());
  ASSERT_EQ(Slot(d.rec, "request.provider.order").kind, Kind::kList);
  // derived
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "hi");
  EXPECT_EQ(Slot(d.rec, "request.input_tokens").kind, Kind::kInt);
  EXPECT_EQ(Slot(d.rec, "request.input_tokens").i, stdlib::EstimateTokens("hi"));
  ASSERT_EQ(Slot(d.rec, "request.parameters").kind, Kind::kSet);
  EXPECT_TRUE(Slot(d.rec, "request.parameters").set->items.empty());
}

TEST(Input, EveryType) {
  Decoded d;
  Decode(Input(R"(, "max_tokens": 256, "stream": true, "temperature": 0.7,
                 "models": ["a", "b", "a"],
                 "tools": [{"type": "function", "function": {"name": "search"}},
                           {"type": "function", "function": {"name": "calc"}}],
                 "provider": {"order": ["openai", "azure"], "only": ["openai", "openai"],
                              "allow_fallbacks": false, "zdr": true, "sort": "price",
                              "max_price": {"prompt": 1.25, "completion": "10.000001", "request": 0},
                              "preferred_max_latency": 2.5,
                              "preferred_min_throughput": {"p50": 100, "p90": 50}})",
               R"(, "user": "u1", "groups": ["eng", "ml", "eng"], "jurisdiction": "DE")",
               R"({"time": "2026-01-05T10:00:00Z", "data_class": "internal", "tags": ["batch"]})"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.code << " " << d.err.message << " " << d.err.path;
  EXPECT_EQ(Slot(d.rec, "request.max_tokens").i, 256);
  EXPECT_EQ(Slot(d.rec, "request.max_tokens").kind, Kind::kInt);
  EXPECT_TRUE(Slot(d.rec, "request.stream").b);
  EXPECT_EQ(Slot(d.rec, "request.temperature").kind, Kind::kDecimal);
  EXPECT_EQ(Slot(d.rec, "request.temperature").i, 700000);
  EXPECT_EQ(Slot(d.rec, "request.models").list->items.size(), 3u);  // lists keep duplicates
  const Value& tools = Slot(d.rec, "request.tools");
  ASSERT_EQ(tools.kind, Kind::kSet);
  EXPECT_TRUE(SetContains(tools, Value::StringRef("search")));
  EXPECT_TRUE(SetContains(tools, Value::StringRef("calc")));
  EXPECT_EQ(Slot(d.rec, "request.provider.order").list->items[1].sv(), "azure");
  EXPECT_EQ(Slot(d.rec, "request.provider.only").set->items.size(), 1u);  // de-duplicated
  EXPECT_FALSE(Slot(d.rec, "request.provider.allow_fallbacks").b);
  EXPECT_EQ(Slot(d.rec, "request.provider.sort").sv(), "price");
  EXPECT_EQ(Slot(d.rec, "request.provider.max_price.prompt").kind, Kind::kMoney);
  EXPECT_EQ(Slot(d.rec, "request.provider.max_price.prompt").i, 1250000);
  EXPECT_EQ(Slot(d.rec, "request.provider.max_price.completion").i, 10000001);
  EXPECT_EQ(Slot(d.rec, "request.provider.max_price.request").i, 0);
  EXPECT_EQ(Slot(d.rec, "request.provider.preferred_max_latency").i, 2500000);
  EXPECT_EQ(Slot(d.rec, "request.provider.preferred_min_throughput").i, 100000000);
  EXPECT_EQ(Slot(d.rec, "principal.user").sv(), "u1");
  EXPECT_EQ(Slot(d.rec, "principal.groups").set->items.size(), 2u);
  EXPECT_EQ(Slot(d.rec, "context.time").kind, Kind::kTime);
  EXPECT_EQ(Slot(d.rec, "context.time").i, 1767607200000);
  EXPECT_TRUE(SetContains(Slot(d.rec, "context.tags"), Value::StringRef("batch")));
  const Value& params = Slot(d.rec, "request.parameters");
  EXPECT_TRUE(SetContains(params, Value::StringRef("max_tokens")));
  EXPECT_TRUE(SetContains(params, Value::StringRef("tools")));
  EXPECT_TRUE(SetContains(params, Value::StringRef("temperature")));
  EXPECT_FALSE(SetContains(params, Value::StringRef("stream")));
  EXPECT_FALSE(SetContains(params, Value::StringRef("provider")));
  EXPECT_FALSE(SetContains(params, Value::StringRef("model")));
}

TEST(Input, DecimalRounding) {
  struct Case { const char* json; int64_t micros; };
  for (const Case& c : {Case{"0.1234565", 123456}, Case{"0.1234575", 123458},
                        Case{"0.12345651", 123457}, Case{"1e-7", 0}, Case{"6e-7", 1},
                        Case{"1.5e2", 150000000}, Case{"-0.0000005", 0}, Case{"-0.0000015", -2},
                        Case{"2", 2000000}, Case{"0.7", 700000}}) {
    Decoded d;
    Decode(Input(std::string(R"(, "temperature": )") + c.json), &d);
    ASSERT_TRUE(d.ok) << c.json << ": " << d.err.message;
    EXPECT_EQ(Slot(d.rec, "request.temperature").i, c.micros) << c.json;
  }
}

// A `json_schema` response format needs structured outputs, which endpoints
// list apart from `response_format` (JSON mode): OpenRouter's
// require_parameters keeps only endpoints listing `structured_outputs` for it.
// Without it, a strict-schema request went to endpoints with JSON mode only.
TEST(Input, JsonSchemaResponseFormatNeedsStructuredOutputs) {
  Decoded d;
  Decode(Input(R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("response_format")));
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("structured_outputs")));
  for (const char* other : {R"(, "response_format": {"type": "json_object"})",
                            R"(, "response_format": {"type": "text"})",
                            R"(, "response_format": null)"}) {
    Decode(Input(other), &d);
    ASSERT_TRUE(d.ok) << other << ": " << d.err.message;
    EXPECT_FALSE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("structured_outputs"))) << other;
  }
}

TEST(Input, Aliases) {
  Decoded d;
  Decode(Input(R"(, "max_completion_tokens": 77)"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.max_tokens").i, 77);
  // max_completion_tokens is the max_tokens parameter for require_parameters
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("max_tokens")));
  EXPECT_FALSE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("max_completion_tokens")));
  // Both present: the larger counts (an upstream may honour either one; the
  // budgets' worst case must cover it), in either order.
  for (const char* both : {R"(, "max_tokens": 5, "max_completion_tokens": 77)",
                           R"(, "max_completion_tokens": 77, "max_tokens": 5)",
                           R"(, "max_completion_tokens": 5, "max_tokens": 77)",
                           R"(, "max_tokens": 77, "max_completion_tokens": 5)"}) {
    Decode(Input(both), &d);
    ASSERT_TRUE(d.ok) << both;
    EXPECT_EQ(Slot(d.rec, "request.max_tokens").i, 77) << both;
  }
  Decode(Input(R"(, "provider": {"sort": {"by": "throughput", "partition": "model"}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.provider.sort").sv(), "throughput");
  EXPECT_EQ(Slot(d.rec, "request.provider.sort_partition").sv(), "model");
  Decode(Input(R"(, "provider": {"sort": {"by": "price", "partition": "none"}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.provider.sort_partition").sv(), "none");
  Decode(Input(R"(, "provider": {"max_price": {"image": 1}, "preferred_max_latency": {"p90": 3}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.provider.preferred_max_latency").i, 3000000);
}

TEST(Input, MessagesContentPartsAndToolCalls) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "system", "content": "be nice"},
      {"role": "user", "content": [{"type": "text", "text": "look"},
                                   {"type": "image_url", "image_url": {"url": "x"}},
                                   {"type": "text", "text": "at this"}], "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]},
      {"role": "tool", "content": "42", "tool_call_id": "1"}]}})",
         &d);
  ASSERT_TRUE(d.ok) << d.err.message << " " << d.err.path;
  const auto& items = Slot(d.rec, "request.messages").list->items;
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[1].rec->fields[1].sv(), "look\nat this");
  EXPECT_EQ(items[1].rec->fields[2].sv(), "bob");
  EXPECT_EQ(items[2].rec->fields[1].sv(), "");
  // The message's name follows the messages' texts (the model reads it).
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "be nice\nlook\nat this\n\n42\nbob");
  // The image part counts as stdlib::kImageTokens.
  EXPECT_EQ(Slot(d.rec, "request.input_tokens").i,
            stdlib::EstimateTokens("be nice\nlook\nat this\n\n42\nbob") + stdlib::kImageTokens);
}

// What OpenAI accepts and older clients (LangChain) send: a deprecated
// `function` message with null content (a function that returned nothing),
// and an assistant's null or absent content beside `function_call` or
// `tool_calls`. Each reads as "". Before: the function message was
// input_missing_field.
// A long request.content joined from several texts is the record's own
// buffer (runtime/input/input.cc Derive: swapped in, not copied into the
// arena), and records decoded in turn on one thread keep their own texts.
TEST(Input, LongJoinedContentIsTheRecordsOwnBuffer) {
  auto input = [](char fill) {
    return Input(std::string(R"(, "messages": [{"role": "system", "content": "be nice"},
                 {"role": "user", "content": ")") + std::string(5000, fill) + R"("}])");
  };
  Decoded a, b;
  Decode(input('a'), &a);
  ASSERT_TRUE(a.ok) << a.err.message;
  const std::string want_a = "be nice\n" + std::string(5000, 'a');
  EXPECT_EQ(Slot(a.rec, "request.content").sv(), want_a);
  EXPECT_EQ(Slot(a.rec, "request.content").str, a.rec.content.data());
  Decode(input('b'), &b);
  ASSERT_TRUE(b.ok) << b.err.message;
  EXPECT_EQ(Slot(b.rec, "request.content").sv(), "be nice\n" + std::string(5000, 'b'));
  EXPECT_EQ(Slot(a.rec, "request.content").sv(), want_a);  // still its own
  Decode(input('c'), &a);  // the first record again
  ASSERT_TRUE(a.ok) << a.err.message;
  EXPECT_EQ(Slot(a.rec, "request.content").sv(), "be nice\n" + std::string(5000, 'c'));
  EXPECT_EQ(Slot(b.rec, "request.content").sv(), "be nice\n" + std::string(5000, 'b'));
  // A short joined text is copied into the arena as before.
  Decoded c;
  Decode(Input(R"(, "messages": [{"role": "system", "content": "be nice"},
                 {"role": "user", "content": "hi"}])"), &c);
  ASSERT_TRUE(c.ok) << c.err.message;
  EXPECT_EQ(Slot(c.rec, "request.content").sv(), "be nice\nhi");
  EXPECT_TRUE(c.rec.content.empty());
}

TEST(Input, NullContentOfFunctionAndAssistantMessages) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": "{}"}},
      {"role": "function", "name": "get_weather", "content": null},
      {"role": "assistant", "tool_calls": [{"id": "1", "type": "function",
                                             "function": {"name": "f", "arguments": "x"}}]},
      {"role": "tool", "tool_call_id": "1", "content": "42"}]}})",
         &d);
  ASSERT_TRUE(d.ok) << d.err.message << " " << d.err.path;
  const auto& items = Slot(d.rec, "request.messages").list->items;
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[1].rec->fields[1].sv(), "{}");
  EXPECT_EQ(items[2].rec->fields[1].sv(), "");
  EXPECT_EQ(items[3].rec->fields[1].sv(), "x");
}

// An image request is admitted at its images' tokens too, not its text alone
// (a budget reserved for "look" would be overshot by the images).
TEST(Input, ImagePartsCountInInputTokens) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": [{"type": "text", "text": "compare"},
                                   {"type": "image_url", "image_url": {"url": "a"}},
                                   {"type": "input_image", "image_url": "b"}]},
      {"role": "assistant", "content": "ok"},
      {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "c"}},
                                   {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
                                   "and this"]}]}})",
         &d);
  ASSERT_TRUE(d.ok) << d.err.message << " " << d.err.path;
  EXPECT_EQ(Slot(d.rec, "request.input_tokens").i,
            stdlib::EstimateTokens("compare\nok\nand this") + 3 * stdlib::kImageTokens +
                1);  // the empty audio part: at least one token
  Decoded t;
  Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
      {"role": "user", "content": [{"type": "text", "text": "compare"}]}]}})", &t);
  ASSERT_TRUE(t.ok) << t.err.message;
  EXPECT_EQ(Slot(t.rec, "request.input_tokens").i, stdlib::EstimateTokens("compare"));
}

// Regression: a file part with a 600 KB base64 PDF counted 0 tokens
// (input_tokens 3), as did audio: a budget, max_price or context_too_small
// never saw them. A file counts its decoded bytes / 4 (at least 1,600), an
// audio part its decoded bytes / 64.
TEST(Input, FileAndAudioPartsCountInInputTokens) {
  Decoded d;
  auto tokens = [&](const std::string& part) {
    Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "read"}, )" + part + "]}]}}",
           &d);
    EXPECT_TRUE(d.ok) << d.err.message << " " << d.err.path;
    return Slot(d.rec, "request.input_tokens").i - stdlib::EstimateTokens("read");
  };
  const std::string b64(800'000, 'A');  // 600,000 bytes decoded
  EXPECT_EQ(tokens(R"({"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,)" +
                   b64 + R"("}})"),
            150'000);
  EXPECT_EQ(tokens(R"({"type": "input_file", "file_data": ")" + b64 + R"("})"), 150'000);
  EXPECT_EQ(tokens(R"({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ")" +
                   b64 + R"("}})"),
            150'000);
  // A text document's text is a text of request.content (after a "\n"):
  // counted there, once.
  EXPECT_EQ(tokens(R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": ")" +
                   std::string(40'000, 'x') + R"("}})"),
            10'001);
  // A small one: the file minimum all the same (its 100 tokens of text and
  // 1,500 of the part; + 1 for the "\n" before it).
  EXPECT_EQ(tokens(R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": ")" +
                   std::string(400, 'x') + R"("}})"),
            stdlib::kFileMinTokens + 1);
  // A file the request does not carry (by id or URL), a small one: the minimum.
  EXPECT_EQ(tokens(R"({"type": "file", "file": {"file_id": "file-abc"}})"), stdlib::kFileMinTokens);
  EXPECT_EQ(tokens(R"({"type": "file", "file": {"file_data": "data:application/pdf;base64,QUJD"}})"),
            stdlib::kFileMinTokens);
  EXPECT_EQ(tokens(R"({"type": "input_audio", "input_audio": {"format": "mp3", "data": ")" + b64 + R"("}})"),
            600'000 / stdlib::kAudioBytesPerToken);  // 9,375
  EXPECT_EQ(stdlib::MediaPayloadBytes("data:text/plain,hello"), 5u);
  EXPECT_EQ(stdlib::MediaPayloadBytes("QUJD"), 3u);
}

TEST(Input, StringsWithEscapesPointIntoTheRecord) {
  Decoded d;
  Decode(Input("", R"(, "user": "a\"b\u00e9\n")"), &d);
  ASSERT_TRUE(d.ok);
  const Value& u = Slot(d.rec, "principal.user");
  EXPECT_EQ(u.sv(), "a\"b\xc3\xa9\n");
  EXPECT_GE(u.str, d.rec.buffer.data());
  EXPECT_LT(u.str, d.rec.buffer.data() + d.rec.buffer.size());
}

struct ErrCase {
  const char* name;
  std::string json;
  const char* code;
  const char* path;
};

TEST(Input, ErrorCodes) {
  std::vector<ErrCase> cases = {
      {"malformed", R"({"principal": )", "input_malformed_json", ""},
      {"trailing", Input("") + " x", "input_malformed_json", ""},
      {"empty", "", "input_malformed_json", ""},
      {"not an object", "[1, 2]", "input_wrong_type", ""},
      {"wrong string", Input(R"(, "stream": "yes")"), "input_wrong_type", "request.stream"},
      {"int not integral", Input(R"(, "max_tokens": 1.5)"), "input_wrong_type", "request.max_tokens"},
      {"int as string", Input(R"(, "max_tokens": "100")"), "input_wrong_type", "request.max_tokens"},
      {"int overflow", Input(R"(, "max_tokens": 99999999999999999999)"), "input_wrong_type", "request.max_tokens"},
      {"number as model", Input("").replace(Input("").find("\"gpt-4o\""), 8, "42"), "input_wrong_type", "request.model"},
      {"bad decimal string", Input(R"(, "temperature": "0.1234567")"), "input_wrong_type", "request.temperature"},
      {"bad time", Input("", "", R"({"time": "yesterday"})"), "input_wrong_type", "context.time"},
      {"set element", Input("", R"(, "groups": ["a", 3])"), "input_wrong_type", "principal.groups[1]"},
      {"message role", Input(R"(, "messages": [{"role": 1, "content": "x"}])"), "input_wrong_type", "request.messages[0].role"},
      {"message content part", Input(R"(, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}])"), "input_wrong_type", "request.messages[0].content[0].text"},
      {"user null content", Input(R"(, "messages": [{"role": "user", "content": null}])"), "input_missing_field", "request.messages[0].content"},
      // A function message's content is required, though it may be null (OpenAI's type).
      {"function without content", Input(R"(, "messages": [{"role": "function", "name": "f"}])"), "input_missing_field", "request.messages[0].content"},
      {"tool null content", Input(R"(, "messages": [{"role": "tool", "tool_call_id": "1", "content": null}])"), "input_missing_field", "request.messages[0].content"},
      {"missing role", Input(R"(, "messages": [{"content": "x"}])"), "input_missing_field", "request.messages[0].role"},
      // OpenAI refuses `User`; a compatible server may read it as `user`, and a
      // rule testing m.role == "user" would not scan it.
      {"upper-case role", Input(R"(, "messages": [{"role": "system", "content": "s"}, {"role": "User", "content": "4111 1111 1111 1111"}])"), "input_invalid_value", "request.messages[1].role"},
      {"upper-case assistant role", Input(R"(, "messages": [{"role": "ASSISTANT", "content": null}])"), "input_invalid_value", "request.messages[0].role"},
      {"missing workspace", R"({"principal": {}, "request": {"model": "m", "messages": []}})", "input_missing_field", "principal.workspace"},
      {"missing model", R"({"principal": {"workspace": "w"}, "request": {"messages": []}})", "input_missing_field", "request.model"},
      {"missing messages", R"({"principal": {"workspace": "w"}, "request": {"model": "m"}})", "input_missing_field", "request.messages"},
      {"missing request", R"({"principal": {"workspace": "w"}})", "input_missing_field", "request.model"},
      {"unknown principal", Input("", R"(, "department": "x")"), "input_unknown_field", "principal.department"},
      {"unknown context", Input("", "", R"({"weather": "rain"})"), "input_unknown_field", "context.weather"},
      {"unknown provider", Input(R"(, "provider": {"zdr": true, "fastest": true})"), "input_unknown_field", "request.provider.fastest"},
      {"unknown max_price", Input(R"(, "provider": {"max_price": {"video": 1}})"), "input_unknown_field", "request.provider.max_price.video"},
      {"unknown top level", Input("").replace(0, 1, R"({"extra": 1, )"), "input_unknown_field", "extra"},
      {"provider not object", Input(R"(, "provider": [])"), "input_wrong_type", "request.provider"},
      {"invalid utf8", Input("", "", "{\"data_class\": \"\xff\xfe\"}"), "input_invalid_utf8", ""},
      {"invalid utf8 key", Input("", "", "{\"\xc3\": 1}"), "input_invalid_utf8", ""},
      {"dup principal key", Input("", R"(, "workspace": "zzz")"), "input_duplicate_key", "principal.workspace"},
      {"dup top level", Input("", "", R"({"time": "2026-01-01T00:00:00Z"}, "context": {})"), "input_duplicate_key", "context"},
      {"dup context key", Input("", "", R"({"data_class": "a", "data_class": "b"})"), "input_duplicate_key", "context.data_class"},
      {"dup body key", Input(R"(, "model": "other")"), "input_duplicate_key", "request.model"},
      {"dup body parameter", Input(R"(, "seed": 1, "seed": 2)"), "input_duplicate_key", "request.seed"},
      {"dup provider key", Input(R"(, "provider": {"zdr": true, "zdr": false})"), "input_duplicate_key", "request.provider.zdr"},
      // Duplicates are found before any member is read: an earlier bad member
      // does not hide them (the lookup-once walk keeps NoDuplicates' order).
      {"dup after wrong type", Input("", R"(, "user": 5, "groups": [], "user": "u2")"), "input_duplicate_key", "principal.user"},
      {"dup after unknown", Input("", R"(, "user": "u1", "department": "x", "user": "u2")"), "input_duplicate_key", "principal.user"},
      {"dup unknown after known", Input(R"(, "top_p": 1, "seed": 1, "top_p": 2)"), "input_duplicate_key", "request.top_p"},
      {"dup alias", Input(R"(, "max_completion_tokens": 1, "max_completion_tokens": 2)"), "input_duplicate_key", "request.max_completion_tokens"},
      {"dup message key", Input(R"(, "messages": [{"role": "user", "content": "a", "content": "b"}])"), "input_duplicate_key", "request.messages[0].content"},
      {"dup tool call key", Input(R"(, "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "a", "arguments": "b"}}]}])"), "input_duplicate_key", "request.messages[0].tool_calls[0].function.arguments"},
      // A tool allowlist reads the first name; a provider's JSON parser the last.
      {"dup tool function name", Input(R"(, "tools": [{"type": "function", "function": {"name": "search", "name": "exec", "parameters": {}}}])"), "input_duplicate_key", "request.tools[0].function.name"},
      {"dup custom tool name", Input(R"(, "tools": [{"type": "custom", "custom": {"name": "search", "name": "exec"}}])"), "input_duplicate_key", "request.tools[0].custom.name"},
      {"refusal not string", Input(R"(, "messages": [{"role": "assistant", "content": null, "refusal": 7}])"), "input_wrong_type", "request.messages[0].refusal"},
      {"tool call args not string", Input(R"(, "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}])"), "input_wrong_type", "request.messages[0].tool_calls[0].function.arguments"},
      {"unknown percentile", Input(R"(, "provider": {"preferred_max_latency": {"p42": 1}})"), "input_unknown_field", "request.provider.preferred_max_latency.p42"},
      {"partition bad", Input(R"(, "provider": {"sort": {"by": "price", "partition": "x"}})"), "input_invalid_value", "request.provider.sort.partition"},
      {"negative max_tokens", Input(R"(, "max_tokens": -1)"), "input_invalid_value", "request.max_tokens"},
      {"negative max_completion_tokens", Input(R"(, "max_completion_tokens": -5)"), "input_invalid_value", "request.max_completion_tokens"},
      {"null in groups", Input("", R"(, "groups": ["a", null])"), "input_wrong_type", "principal.groups[1]"},
  };
  for (const ErrCase& c : cases) {
    Decoded d;
    Decode(c.json, &d);
    EXPECT_FALSE(d.ok) << c.name;
    EXPECT_EQ(d.err.code, c.code) << c.name << ": " << d.err.message;
    EXPECT_EQ(d.err.path, c.path) << c.name << ": " << d.err.message;
    EXPECT_FALSE(d.err.message.empty());
  }
}

TEST(Input, UnknownBodyMembersAreParameters) {
  Decoded d;
  Decode(Input(R"(, "response_format": {"type": "json_object"}, "seed": 7, "logprobs": null)"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& params = Slot(d.rec, "request.parameters");
  EXPECT_TRUE(SetContains(params, Value::StringRef("response_format")));
  EXPECT_TRUE(SetContains(params, Value::StringRef("seed")));
  EXPECT_FALSE(SetContains(params, Value::StringRef("logprobs")));  // null = absent
}

TEST(Input, MalformedCarriesOffset) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "w",}})", &d);
  EXPECT_EQ(d.err.code, "input_malformed_json");
  EXPECT_NE(d.err.message.find("at byte 32"), std::string::npos) << d.err.message;
}

// A raw control byte is refused wherever it falls: rapidjson's SIMD string
// scan (1.1) lets 0x1A-0x1F through, its byte-at-a-time loop does not, so
// before the pre-check such a byte was refused near a string's start and
// accepted further in.
TEST(Input, RawControlBytesAreRefusedAtEveryOffset) {
  for (int c = 0x01; c < 0x20; ++c) {
    for (size_t at = 0; at < 80; ++at) {
      std::string content(100, 'a');
      content[at] = static_cast<char>(c);
      const std::string json =
          Input(R"(, "messages": [{"role": "user", "content": ")" + content + R"("}])");
      Decoded d;
      Decode(json, &d);
      ASSERT_FALSE(d.ok) << "byte 0x" << std::hex << c << std::dec << " at " << at;
      EXPECT_EQ(d.err.code, "input_malformed_json") << d.err.message;
      EXPECT_NE(d.err.message.find("at byte " + std::to_string(json.find(static_cast<char>(c)))),
                std::string::npos) << d.err.message;
    }
  }
  // Outside strings too (not whitespace); escaped, it is an ordinary character.
  Decoded d;
  Decode(Input("") + std::string(1, '\x1c'), &d);
  EXPECT_EQ(d.err.code, "input_malformed_json");
  Decode(Input(R"(, "messages": [{"role": "user", "content": "a\u001cb"}])"), &d);
  EXPECT_TRUE(d.ok) << d.err.message;
}

TEST(Input, Limits) {
  Limits small;
  small.max_input_bytes = 50;
  Decoded d;
  Decode(Input(""), &d, small);
  EXPECT_EQ(d.err.code, "input_too_large");

  Limits lists;
  lists.max_list_elements = 2;
  lists.max_messages = 1;
  Decode(Input("", R"(, "groups": ["a", "b", "c"])"), &d, lists);
  EXPECT_EQ(d.err.code, "input_too_many_elements");
  EXPECT_EQ(d.err.path, "principal.groups");
  Decode(Input(R"(, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])"), &d, lists);
  EXPECT_EQ(d.err.code, "input_too_many_elements");
  EXPECT_EQ(d.err.path, "request.messages");
}

TEST(Input, DeepNestingDoesNotCrash) {
  // The default limit's worth of brackets under `request.x` (3 levels down)
  // is already too deep, and so is far more.
  for (int depth : {static_cast<int>(Limits{}.max_input_depth), 100000}) {
    std::string j = R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "x": )";
    j.append(depth, '[');
    j.append(depth, ']');
    j += "}}";
    Decoded d;
    Limits big;
    big.max_input_bytes = 1 << 24;
    Decode(j, &d, big);
    EXPECT_FALSE(d.ok);
    EXPECT_EQ(d.err.code, "input_too_deep") << depth;
  }
  // unterminated deep nesting is also rejected before the parser recurses
  std::string j(200000, '{');
  Decoded d;
  Limits big;
  big.max_input_bytes = 1 << 24;
  Decode(j, &d, big);
  EXPECT_FALSE(d.ok);
}

TEST(Input, ExtendedSchema) {
  stdlib::Schema s = S();
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"fields": [
      {"path": "principal.department", "type": "string", "scope": "request", "required": true},
      {"path": "context.risk", "type": "decimal", "scope": "request"},
      {"path": "context.labels", "type": "list<string>", "scope": "request"},
      {"path": "request.metadata.team", "type": "string", "scope": "request"}]})",
                            &error))
      << error;
  Decoded d;
  Decode(Input(R"(, "metadata": {"team": "ml"})", R"(, "department": "finance")",
               R"({"risk": "0.25"})"),
         &d, {}, s);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "principal.department", s).sv(), "finance");
  EXPECT_EQ(Slot(d.rec, "context.risk", s).i, 250000);
  EXPECT_EQ(Slot(d.rec, "context.labels", s).kind, Kind::kList);
  EXPECT_EQ(Slot(d.rec, "request.metadata.team", s).sv(), "ml");
  Decode(Input(""), &d, {}, s);
  EXPECT_EQ(d.err.code, "input_missing_field");
  EXPECT_EQ(d.err.path, "principal.department");
  Decode(Input(R"(, "metadata": {"owner": "x"})", R"(, "department": "f")"), &d, {}, s);
  EXPECT_EQ(d.err.code, "input_unknown_field");
  EXPECT_EQ(d.err.path, "request.metadata.owner");
  // the standard schema still rejects the extension's fields
  Decode(Input("", R"(, "department": "finance")"), &d);
  EXPECT_EQ(d.err.code, "input_unknown_field");
}

// A duration field takes back the decision JSON's form of a duration
// ("90000ms", as a duration tag renders) and the language's ("90s"), beside
// integer milliseconds; before, only the integer was accepted, so a tag fed
// back into a decision input was input_wrong_type.
TEST(Input, DurationTakesTheDecisionsFormBack) {
  stdlib::Schema s = S();
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"fields": [
      {"path": "context.session_age", "type": "duration", "scope": "request"}]})",
                            &error))
      << error;
  Decoded d;
  for (const auto& [text, ms] : std::vector<std::pair<std::string, int64_t>>{
           {"90000", 90000}, {"\"90000ms\"", 90000}, {"\"90s\"", 90000}, {"\"2h\"", 7200000}}) {
    Decode(Input("", "", R"({"session_age": )" + text + "}"), &d, {}, s);
    ASSERT_TRUE(d.ok) << text << ": " << d.err.message;
    EXPECT_EQ(Slot(d.rec, "context.session_age", s).kind, Kind::kDuration) << text;
    EXPECT_EQ(Slot(d.rec, "context.session_age", s).i, ms) << text;
  }
  for (const char* text : {"\"90\"", "\"1.5s\"", "\"90 s\"", "\"-5s\"", "\"99999999999999999999ms\""}) {
    Decode(Input("", "", std::string(R"({"session_age": )") + text + "}"), &d, {}, s);
    EXPECT_FALSE(d.ok) << text;
    EXPECT_EQ(d.err.code, "input_wrong_type") << text;
    EXPECT_EQ(d.err.path, "context.session_age") << text;
  }
}

TEST(Input, RecordIsReusable) {
  vm::Record rec;
  InputError err;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(DecodeInput(Input("", R"(, "user": "u)" + std::to_string(i) + "\""), S(), {}, &rec, &err));
    EXPECT_EQ(Slot(rec, "principal.user").sv(), "u" + std::to_string(i));
    EXPECT_FALSE(DecodeInput("{", S(), {}, &rec, &err));
  }
}

TEST(Input, DocumentThatIsNotAnObjectIsNamedByItsType) {
  Decoded d;
  // A number as the whole document was once reported as "a string": its
  // text starts at byte 0, where no quote can precede it.
  for (const auto& [json, got] : std::vector<std::pair<std::string, std::string>>{
           {"5", "a number"}, {"-1.5e3", "a number"}, {" 7", "a number"}, {"\"x\"", "a string"},
           {"null", "null"}, {"true", "a boolean"}, {"[1]", "an array"}}) {
    Decode(json, &d);
    EXPECT_FALSE(d.ok) << json;
    EXPECT_EQ(d.err.code, "input_wrong_type") << json;
    EXPECT_EQ(d.err.message, "the decision input must be a JSON object, got " + got) << json;
  }
}

TEST(Input, ErrorJson) {
  InputError e{"input_wrong_type", "`x` must be \"a\"", "x"};
  EXPECT_EQ(InputErrorJson(e),
            R"({"error":{"code":"input_wrong_type","message":"`x` must be \"a\"","path":"x"}})");
}

}  // namespace
}  // namespace tollgate::runtime

namespace tollgate::runtime {
namespace {

TEST(Input, MapsFromExtendedSchema) {
  stdlib::Schema s = S();
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"fields": [
      {"path": "context.quotas", "type": "map<int>", "scope": "request"}]})", &error)) << error;
  Decoded d;
  Decode(Input("", "", R"({"quotas": {"b": 2, "a": 1}})"), &d, {}, s);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& m = Slot(d.rec, "context.quotas", s);
  ASSERT_EQ(m.kind, Kind::kMap);
  ASSERT_NE(MapFind(m, "b"), nullptr);
  EXPECT_EQ(MapFind(m, "b")->i, 2);
  Limits small;
  small.max_list_elements = 1;
  Decode(Input("", "", R"({"quotas": {"b": 2, "a": 1}})"), &d, small, s);
  EXPECT_EQ(d.err.code, "input_too_many_elements");
  EXPECT_EQ(d.err.path, "context.quotas");
  Decode(Input("", "", R"({"quotas": {"b": "x"}})"), &d, {}, s);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "context.quotas.b");
}

TEST(Input, Utf8Validation) {
  Decoded d;
  // overlong, surrogate, truncated, above U+10FFFF
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80"}) {
    Decode(Input("", std::string(R"(, "user": ")") + bad + "\""), &d);
    EXPECT_EQ(d.err.code, "input_invalid_utf8") << d.err.message;
  }
  Decode(Input("", R"(, "user": "日本語 ✓ 😀")"), &d);
  EXPECT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "principal.user").sv(), "日本語 ✓ 😀");
}

}  // namespace
}  // namespace tollgate::runtime

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace tollgate::runtime {
namespace {

// Seeded mutations of the example inputs: decoding either succeeds or fails
// with a documented code; never crashes (run under ASan in CI variants).
TEST(Input, MutatedExamplesNeverCrash) {
  const std::set<std::string> codes = {
      "input_too_large", "input_too_deep", "input_malformed_json", "input_invalid_utf8",
      "input_wrong_type", "input_missing_field", "input_unknown_field", "input_too_many_elements",
      "input_invalid_value", "input_duplicate_key"};
  std::vector<std::string> seeds;
  for (const auto& e : std::filesystem::directory_iterator("policies/requests")) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    seeds.push_back(ss.str());
  }
  ASSERT_FALSE(seeds.empty());
  std::mt19937 rng(12345);
  const char kBytes[] = "{}[]\":,0123456789.eE-+ \\tnulfrsa\xff\xc3\x80";
  vm::Record rec;
  InputError err;
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + rng() % 4;
    for (int k = 0; k < edits && !s.empty(); ++k) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = kBytes[rng() % (sizeof kBytes - 1)]; break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        case 2: s.insert(pos, 1, kBytes[rng() % (sizeof kBytes - 1)]); break;
      }
    }
    if (DecodeInput(s, S(), {}, &rec, &err)) {
      ++ok;
    } else {
      ++failed;
      EXPECT_TRUE(codes.count(err.code)) << err.code;
      EXPECT_FALSE(err.message.empty());
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
}


TEST(Input, ErrorMessagesNameTheValue) {
  struct M { std::string json, message; };
  for (const M& m : {
           M{Input(R"(, "max_tokens": 1.5)"), "`request.max_tokens` must be an integer, got 1.5"},
           M{Input(R"(, "max_tokens": 99999999999999999999)"),
             "`request.max_tokens` must be an integer between -9223372036854775808 and "
             "9223372036854775807, got 99999999999999999999"},
           M{Input(R"(, "temperature": 1e30)"),
             "`request.temperature` must be a number between -9223372036854.775808 and "
             "9223372036854.775807, got 1e30"},
           M{Input("", R"(, "groups": ["a", null])"), "`principal.groups[1]` must be a string, got null"},
           M{Input("", "", R"({"time": "yesterday"})"),
             "`context.time` must be an RFC 3339 time such as `2026-11-25T10:00:00Z`, got `yesterday`"},
           M{Input("", "", R"({"time": 5})"),
             "`context.time` must be an RFC 3339 time such as `2026-11-25T10:00:00Z`, got 5"},
           M{Input(R"(, "max_tokens": -3)"), "`request.max_tokens` must not be negative, got -3"},
           M{Input("", R"(, "workspace": "zzz")"), "duplicate key `workspace` in `principal`"},
       }) {
    Decoded d;
    Decode(m.json, &d);
    ASSERT_FALSE(d.ok) << m.json;
    EXPECT_EQ(d.err.message, m.message);
  }
  // exact integers in other notations are accepted
  for (const char* t : {"1.0", "2e2", "100e-2", "1.50e1"}) {
    Decoded d;
    Decode(Input(std::string(R"(, "max_tokens": )") + t), &d);
    EXPECT_TRUE(d.ok) << t << ": " << d.err.message;
  }
}

// request.n: the number of completions (each billed; it scales the worst-case
// cost). Absent or null reads as 1; it stays a body parameter.
TEST(Input, CompletionCountN) {
  Decoded d;
  Decode(Input(R"(, "n": 3)"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.n").kind, Kind::kInt);
  EXPECT_EQ(Slot(d.rec, "request.n").i, 3);
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("n")));
  for (const char* absent : {"", R"(, "n": null)"}) {
    Decode(Input(absent), &d);
    ASSERT_TRUE(d.ok) << absent << ": " << d.err.message;
    EXPECT_EQ(Slot(d.rec, "request.n").kind, Kind::kInt) << absent;
    EXPECT_EQ(Slot(d.rec, "request.n").i, 1) << absent;
    EXPECT_FALSE(SetContains(Slot(d.rec, "request.parameters"), Value::StringRef("n"))) << absent;
  }
  for (const char* t : {"1.0", "2e0"}) {  // exact integers in other notations
    Decode(Input(std::string(R"(, "n": )") + t), &d);
    ASSERT_TRUE(d.ok) << t << ": " << d.err.message;
    EXPECT_GE(Slot(d.rec, "request.n").i, 1) << t;
  }
  for (const char* t : {"0", "-2", "1.5", "99999999999999999999"}) {
    Decode(Input(std::string(R"(, "n": )") + t), &d);
    ASSERT_FALSE(d.ok) << t;
    EXPECT_EQ(d.err.code, "input_invalid_value") << t;
    EXPECT_EQ(d.err.path, "request.n") << t;
    EXPECT_EQ(d.err.message,
              std::string("`request.n` (the number of completions) must be an integer of at least 1, got ") + t);
  }
  Decode(Input(R"(, "n": "3")"), &d);  // a string is the wrong type, as for max_tokens
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.message, "`request.n` must be an integer, got a string");
}

TEST(Input, DuplicateKeyNeverLastWins) {
  // Regression: {"workspace": "acme-eu", "workspace": "zzz"} was evaluated as zzz.
  Decoded d;
  Decode(R"({"principal": {"workspace": "acme-eu", "workspace": "zzz"},
             "request": {"model": "m", "messages": []}})", &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_duplicate_key");
  EXPECT_EQ(d.err.path, "principal.workspace");
  // large objects (sorted check) too
  std::string many;
  for (int i = 0; i < 40; ++i) many += ", \"x" + std::to_string(i) + "\": 1";
  Decode(Input(many + R"(, "x17": 2)"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_duplicate_key");
  EXPECT_EQ(d.err.path, "request.x17");
  // more members than the decoder looks up at once (64), a known one twice
  std::string more;
  for (int i = 0; i < 70; ++i) more += ", \"y" + std::to_string(i) + "\": 1";
  Decode(Input(more + R"(, "stream": true, "temperature": 1, "stream": false)"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_duplicate_key");
  EXPECT_EQ(d.err.path, "request.stream");
  Decode(Input(more + R"(, "stream": true)"), &d);
  EXPECT_TRUE(d.ok) << d.err.message;
  Decode(Input(many), &d);
  EXPECT_TRUE(d.ok) << d.err.message;
}

TEST(Input, ParametersExcludeTransportMembers) {
  Decoded d;
  Decode(Input(R"(, "stream": true, "stream_options": {"include_usage": true}, "user": "u",
                  "metadata": {"a": "b"}, "store": false, "service_tier": "auto",
                  "models": ["x"], "plugins": [], "transforms": [], "route": "fallback",
                  "preset": "p", "usage": {"include": true}, "session_id": "s", "debug": {},
                  "max_completion_tokens": 10, "n": 1, "logprobs": true,
                  "frequency_penalty": 0.1, "parallel_tool_calls": true)"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& p = Slot(d.rec, "request.parameters");
  ASSERT_EQ(p.kind, Kind::kSet);
  std::vector<std::string> names;
  for (const Value& v : p.set->items) names.emplace_back(v.sv());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"frequency_penalty", "logprobs", "max_tokens", "n",
                                             "parallel_tool_calls"}));
}

// request.service_tier: the body's string, read by policies and the router
// (which validates the word); any other JSON type is refused.
TEST(Input, ServiceTierIsAStringField) {
  Decoded d;
  Decode(Input(R"(, "service_tier": "flex")"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.service_tier").sv(), "flex");
  Decode(Input(""), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(Slot(d.rec, "request.service_tier").is_null());
  Decode(Input(R"(, "service_tier": 5)"), &d);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "request.service_tier");
}

TEST(Input, ToolCallArgumentsAreScannedText) {
  Decoded d;
  Decode(Input(R"(, "messages": [
      {"role": "user", "content": "pay it"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "pay", "arguments": "{\"card\": \"4111 1111 1111 1111\"}"}},
        {"id": "c2", "type": "function", "function": {"name": "noop", "arguments": ""}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "paid"}])"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& msgs = Slot(d.rec, "request.messages");
  ASSERT_EQ(msgs.list->items.size(), 3u);
  EXPECT_EQ(msgs.list->items[1].rec->fields[1].sv(), R"({"card": "4111 1111 1111 1111"})");
  EXPECT_EQ(Slot(d.rec, "request.content").sv(),
            "pay it\n{\"card\": \"4111 1111 1111 1111\"}\npaid");
  // content and arguments are joined with "\n"
  Decode(Input(R"(, "messages": [{"role": "assistant", "content": "calling",
      "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}])"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "calling\n{}");
}

// The checker warns a policy comparing request.parameters with a name it
// never holds (stdlib::Fits(Shape::kParameterName), tg_name_never_matches):
// the table must say what the decoder does. A body sending every alias and
// every transport member yields only names that fit, each alias under the
// parameter it stands for.
TEST(Input, ParametersHoldOnlyWhatTheCheckerSaysTheyHold) {
  Decoded d;
  Decode(Input(R"(, "functions": [{"name": "shell"}], "function_call": "auto",
                  "max_completion_tokens": 5, "stream": true, "stream_options": {"include_usage": true},
                  "user": "u", "metadata": {"a": "b"}, "service_tier": "auto", "store": false,
                  "session_id": "s", "usage": {"include": true}, "transforms": [], "route": "fallback",
                  "debug": {"echo_upstream_body": false}, "plugins": [], "preset": "p",
                  "models": ["openai/gpt-4o"], "provider": {"sort": "price"}, "top_p": 0.5)"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& params = Slot(d.rec, "request.parameters");
  ASSERT_EQ(params.kind, Kind::kSet);
  for (const Value& p : params.set->items)
    EXPECT_TRUE(stdlib::Fits(stdlib::Shape::kParameterName, p.sv())) << p.sv();
  for (const char* alias : {"functions", "function_call", "max_completion_tokens"}) {
    EXPECT_FALSE(stdlib::Fits(stdlib::Shape::kParameterName, alias)) << alias;
    EXPECT_TRUE(SetContains(params, Value::StringRef(stdlib::ParameterAlias(alias)))) << alias;
  }
  for (const char* member : {"stream", "user", "metadata", "service_tier", "model", "messages"})
    EXPECT_FALSE(stdlib::Fits(stdlib::Shape::kParameterName, member)) << member;
  EXPECT_TRUE(SetContains(params, Value::StringRef("top_p")));
}

// Regression: a tool offered through the deprecated `functions` member, an
// OpenAI custom tool or an Anthropic-style tool escaped a tool allowlist
// (`any t in request.tools: t not in approved`), and the arguments of a
// deprecated `function_call` or a custom tool call were never scanned.
TEST(Input, EveryToolShapeIsNamed) {
  Decoded d;
  Decode(Input(R"(, "functions": [{"name": "shell", "parameters": {}}], "function_call": "auto",
                  "tools": [{"type": "custom", "custom": {"name": "exec"}},
                            {"name": "get_weather", "input_schema": {"type": "object"}},
                            {"type": "web_search_preview"},
                            {"type": "function", "function": {"name": "search"}}])"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& tools = Slot(d.rec, "request.tools");
  ASSERT_EQ(tools.kind, Kind::kSet);
  for (const char* name : {"shell", "exec", "get_weather", "web_search_preview", "search"})
    EXPECT_TRUE(SetContains(tools, Value::StringRef(name))) << name;
  EXPECT_EQ(tools.set->items.size(), 5u);
  const Value& params = Slot(d.rec, "request.parameters");
  EXPECT_TRUE(SetContains(params, Value::StringRef("tools")));
  EXPECT_TRUE(SetContains(params, Value::StringRef("tool_choice")));
  EXPECT_FALSE(SetContains(params, Value::StringRef("functions")));
  // `functions` alone (the order of the members does not matter)
  Decode(Input(R"(, "functions": [{"name": "shell"}])"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.tools"), Value::StringRef("shell")));
  // a tool that cannot be named is an error, not a tool nobody governs
  Decode(Input(R"(, "tools": [{"parameters": {}}])"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_missing_field");
  EXPECT_EQ(d.err.path, "request.tools[0].function");
  Decode(Input(R"(, "functions": [{"name": 5}])"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "request.functions[0].name");
}

// Regression: a decoy `function` member named a custom tool after an
// approved function (`{"type": "custom", "function": {"name": "search"},
// "custom": {"name": "exec"}}` was {"search"}), and a built-in tool with a
// `name` was named by it, not by the type an API dispatches on. Every
// candidate name is in request.tools now (fail closed for allowlists).
TEST(Input, EveryCandidateNameOfAToolIsInRequestTools) {
  Decoded d;
  auto names = [&](const std::string& tools) {
    Decode(Input(R"(, "tools": )" + tools), &d);
    EXPECT_TRUE(d.ok) << d.err.message;
    std::vector<std::string> out;
    const Value& v = Slot(d.rec, "request.tools");
    if (v.kind == Kind::kSet)
      for (const Value& x : v.set->items) out.emplace_back(x.sv());
    std::sort(out.begin(), out.end());
    return out;
  };
  using N = std::vector<std::string>;
  EXPECT_EQ(names(R"([{"type": "custom", "function": {"name": "search"}, "custom": {"name": "exec"}}])"),
            (N{"exec", "search"}));
  EXPECT_EQ(names(R"([{"type": "web_search", "name": "search"}])"), (N{"search", "web_search"}));
  EXPECT_EQ(names(R"([{"type": "bash_20250124", "name": "bash"}])"), (N{"bash", "bash_20250124"}));
  EXPECT_EQ(names(R"([{"type": "function", "function": {"name": "f"}, "name": "g"}])"), (N{"f", "g"}));
  EXPECT_EQ(names(R"([{"type": "function", "function": {"name": "f"}, "custom": {"name": "x"}}])"),
            (N{"f"}));  // `custom` is not what this tool's type names
  // Unchanged: one name for the ordinary shapes.
  EXPECT_EQ(names(R"([{"type": "function", "function": {"name": "f"}}])"), (N{"f"}));
  EXPECT_EQ(names(R"([{"type": "custom", "custom": {"name": "exec"}}])"), (N{"exec"}));
  EXPECT_EQ(names(R"([{"type": "custom", "name": "exec", "input_schema": {}}])"), (N{"exec"}));
  EXPECT_EQ(names(R"([{"type": "function", "name": "f", "parameters": {}}])"), (N{"f"}));
  EXPECT_EQ(names(R"([{"type": "web_search_preview"}])"), (N{"web_search_preview"}));
  EXPECT_EQ(names(R"([{"type": "mcp", "mcp": {"name": "m"}}])"), (N{"m"}));
}

// The decoy's texts: the custom tool's description was not in request.content.
TEST(Input, EveryInnerObjectOfAToolIsText) {
  Decoded d;
  Decode(Input(R"(, "tools": [{"type": "custom", "function": {"name": "search", "description": "D1"},
                                "custom": {"name": "exec", "description": "D2"}}])"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "hi\nD2\nD1");
  Decode(Input(R"(, "tools": [{"type": "function", "function": {"name": "f", "description": "D1"},
                                "custom": {"description": "D2"}}])"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "hi\nD1");
}

// Regression: the router matches provider.only / order / ignore in any case
// (catalog.h ProviderMatches) but the decoder passed them as sent, so
// `"deepseek" in request.provider.only` was false while the router applied
// `"DeepSeek"`. They are lower-cased (ASCII) now, de-duplicated after.
TEST(Input, ProviderSlugsAreLowerCased) {
  Decoded d;
  Decode(Input(R"(, "provider": {"only": ["DeepSeek", "deepseek", "Azure/Sweden"],
                                 "order": ["OpenAI", "openai"], "ignore": ["Together"]})"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& only = Slot(d.rec, "request.provider.only");
  ASSERT_EQ(only.kind, Kind::kSet);
  EXPECT_EQ(only.set->items.size(), 2u);
  EXPECT_TRUE(SetContains(only, Value::StringRef("deepseek")));
  EXPECT_TRUE(SetContains(only, Value::StringRef("azure/sweden")));
  const Value& order = Slot(d.rec, "request.provider.order");
  ASSERT_EQ(order.list->items.size(), 2u);  // a list keeps both
  EXPECT_EQ(order.list->items[0].sv(), "openai");
  EXPECT_EQ(order.list->items[1].sv(), "openai");
  EXPECT_TRUE(SetContains(Slot(d.rec, "request.provider.ignore"), Value::StringRef("together")));
  // Other strings keep their case.
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "gpt-4o");
}

TEST(Input, LegacyAndCustomToolCallsAreScannedText) {
  Decoded d;
  Decode(Input(R"(, "messages": [
      {"role": "assistant", "content": null,
       "function_call": {"name": "pay", "arguments": "{\"card\": \"4111 1111 1111 1111\"}"}},
      {"role": "assistant", "content": "ok", "tool_calls": [
        {"id": "c1", "type": "custom", "custom": {"name": "exec", "input": "rm -rf /"}}]}])"),
         &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.content").sv(),
            "{\"card\": \"4111 1111 1111 1111\"}\nok\nrm -rf /");
  Decode(Input(R"(, "messages": [{"role": "assistant", "function_call": "pay"}])"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "request.messages[0].function_call");
  Decode(Input(R"(, "messages": [{"role": "assistant", "tool_calls": [
      {"type": "custom", "custom": {"input": 1}}]}])"), &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "request.messages[0].tool_calls[0].custom.input");
}

// Regression: a text-carrying part of another type than `text` (the
// Responses-style `input_text`, an assistant `refusal`) was skipped, so a
// card number in it reached no DLP rule.
TEST(Input, EveryPartWithTextIsScanned) {
  Decoded d;
  Decode(Input(R"(, "messages": [
      {"role": "user", "content": [{"type": "input_text", "text": "card 4111 1111 1111 1111"},
                                   {"type": "image_url", "image_url": {"url": "u"}},
                                   {"type": "file", "file": {"file_id": "f"}, "text": null}]},
      {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}])"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.content").sv(), "card 4111 1111 1111 1111\nno");
  Decode(Input(R"(, "messages": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}])"),
         &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_wrong_type");
  EXPECT_EQ(d.err.path, "request.messages[0].content[0].text");
}

// Regression: `"jurisdiction": "de"` decoded fine and every
// `principal.jurisdiction in eu` rule silently skipped the request, which
// was then routed to US endpoints. The field is an upper-case country code.
TEST(Input, JurisdictionIsACountryCode) {
  Decoded d;
  // Unassigned codes too: "UK", "EL" (the EU's code for Greece) and "EU"
  // passed the shape check, so `principal.jurisdiction in eu` (which holds
  // "GR") silently skipped a Greek user and a US endpoint served them.
  for (const char* bad : {"de", "De", "Germany", "DEU", "D1", "UK", "EL", "EU", "XX", "ZZ"}) {
    Decode(Input("", std::string(R"(, "jurisdiction": ")") + bad + "\""), &d);
    ASSERT_FALSE(d.ok) << bad;
    EXPECT_EQ(d.err.code, "input_invalid_value") << bad;
    EXPECT_EQ(d.err.path, "principal.jurisdiction") << bad;
    EXPECT_NE(d.err.message.find("must be an assigned ISO 3166-1 alpha-2 country code in upper case"),
              std::string::npos) << d.err.message;
  }
  Decode(Input("", R"(, "jurisdiction": "EL")"), &d);
  EXPECT_NE(d.err.message.find("Greece is `GR`"), std::string::npos) << d.err.message;
  Decode(Input("", R"(, "jurisdiction": "DE")"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "principal.jurisdiction").sv(), "DE");
  Decode(Input("", R"(, "jurisdiction": null)"), &d);  // absent is still fine
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(Slot(d.rec, "principal.jurisdiction").is_null());
}

// Regression: `"user": ""` was a user named "", so every caller sending it
// -- in every workspace -- shared one `principal.user ?? principal.workspace`
// rate-limit counter. An empty id reads as absent; an empty workspace is
// refused.
TEST(Input, EmptyIdsAreAbsent) {
  Decoded d;
  Decode(Input("", R"(, "user": "", "key_id": "", "jurisdiction": "")"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(Slot(d.rec, "principal.user").is_null());
  EXPECT_TRUE(Slot(d.rec, "principal.key_id").is_null());
  EXPECT_TRUE(Slot(d.rec, "principal.jurisdiction").is_null());
  Decode(R"({"principal": {"workspace": ""}, "request": {"model": "m", "messages": []}})", &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_invalid_value");
  EXPECT_EQ(d.err.path, "principal.workspace");
  EXPECT_EQ(d.err.message, "`principal.workspace` must not be empty");
}

TEST(Input, PercentilesKeepTheStrictest) {
  Decoded d;
  Decode(Input(R"(, "provider": {"preferred_max_latency": {"p50": 2, "p90": 1.5, "p99": 4},
                                   "preferred_min_throughput": {"p75": 30, "p50": 50}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.provider.preferred_max_latency").i, 1500000);
  EXPECT_EQ(Slot(d.rec, "request.provider.preferred_min_throughput").i, 50000000);
  Decode(Input(R"(, "provider": {"preferred_max_latency": {"p90": null}})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(Slot(d.rec, "request.provider.preferred_max_latency").is_null());
}

TEST(Input, ByteOrderMarkIsSkipped) {
  Decoded d;
  Decode("\xEF\xBB\xBF" + Input(""), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "gpt-4o");
}

// The clock is injectable: a replay passes the recorded instant back, and it
// is used only when the input has no context.time.
TEST(Input, ContextTimeComesFromTheInjectedClockWhenAbsent) {
  DecodeOptions at;
  at.now_ms = 1767268800000;  // 2026-01-01T12:00:00Z
  vm::Record rec;
  InputError err;
  ASSERT_TRUE(DecodeInput(Input(""), S(), {}, at, &rec, &err)) << err.message;
  EXPECT_EQ(Slot(rec, "context.time").i, 1767268800000);
  ASSERT_TRUE(rec.time.has_value());
  EXPECT_EQ(rec.time->unix_ms, 1767268800000);
  EXPECT_TRUE(rec.time->from_clock);
  ASSERT_TRUE(DecodeInput(Input("", "", R"({"time": "2025-06-30T08:00:00Z"})"), S(), {}, at, &rec, &err))
      << err.message;
  EXPECT_EQ(Slot(rec, "context.time").i, 1751270400000);
  EXPECT_FALSE(rec.time->from_clock);
}

// Optional sets and lists inside records (an extended schema) read as empty.
TEST(Input, OptionalSetsInRecordsAreEmpty) {
  stdlib::Schema s = stdlib::Schema::Standard();
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"fields": [{"path": "principal.teams", "type": "list<{name: string, tags?: set<string>}>", "scope": "request"}]})", &error)) << error;
  Decoded d;
  Decode(Input("", R"(, "teams": [{"name": "a"}, {"name": "b", "tags": ["x"]}])"), &d, {}, s);
  ASSERT_TRUE(d.ok) << d.err.message;
  const Value& teams = Slot(d.rec, "principal.teams", s);
  ASSERT_EQ(teams.list->items.size(), 2u);
  ASSERT_EQ(teams.list->items[0].rec->fields[1].kind, Kind::kSet);
  EXPECT_TRUE(teams.list->items[0].rec->fields[1].set->items.empty());
  EXPECT_EQ(teams.list->items[1].rec->fields[1].set->items.size(), 1u);
}

}  // namespace
}  // namespace tollgate::runtime

namespace tollgate::runtime {
namespace {

std::vector<std::string> Strings(const Value& v) {
  std::vector<std::string> out;
  const auto& items = v.kind == Kind::kSet ? v.set->items : v.list->items;
  for (const Value& x : items) out.emplace_back(x.sv());
  return out;
}

// request.model / request.models hold canonical ids (no variant suffix), so
// that `request.model in banned` also bans every variant; the slugs as sent
// and the suffixes are derived fields.
TEST(Input, ModelVariantsAreSplitOff) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "w"}, "request": {"model": "openai/gpt-4o:floor",
             "models": ["anthropic/claude-3.5-sonnet", "meta/llama:free", "x/y:thinking"],
             "messages": []}})", &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "openai/gpt-4o");
  EXPECT_EQ(Slot(d.rec, "request.model_full").sv(), "openai/gpt-4o:floor");
  EXPECT_EQ(Slot(d.rec, "request.model_variant").sv(), "floor");
  EXPECT_EQ(Strings(Slot(d.rec, "request.models")),
            (std::vector<std::string>{"anthropic/claude-3.5-sonnet", "meta/llama", "x/y"}));
  EXPECT_EQ(Strings(Slot(d.rec, "request.models_full")),
            (std::vector<std::string>{"anthropic/claude-3.5-sonnet", "meta/llama:free", "x/y:thinking"}));
  std::vector<std::string> variants = Strings(Slot(d.rec, "request.variants"));
  std::sort(variants.begin(), variants.end());
  EXPECT_EQ(variants, (std::vector<std::string>{"floor", "free", "thinking"}));
}

TEST(Input, ModelWithoutVariant) {
  Decoded d;
  Decode(Input(""), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "gpt-4o");
  EXPECT_EQ(Slot(d.rec, "request.model_full").sv(), "gpt-4o");
  ASSERT_EQ(Slot(d.rec, "request.model_variant").kind, Kind::kString);
  EXPECT_EQ(Slot(d.rec, "request.model_variant").sv(), "");
  EXPECT_EQ(Slot(d.rec, "request.models").kind, Kind::kList);
  EXPECT_TRUE(Strings(Slot(d.rec, "request.models_full")).empty());
  EXPECT_TRUE(Strings(Slot(d.rec, "request.variants")).empty());
  // A body member named like a derived field is not read into it.
  Decode(Input(R"(, "model_full": "evil")"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.model_full").sv(), "gpt-4o");
}

// Regression: `m:free:nitro` decoded as model `m:free` with variant
// `nitro`, so neither a ban on `m` nor one on the `free` variant fired while
// the router served `m:free`'s endpoints. Two suffixes are refused.
TEST(Input, StackedVariantsAreRefused) {
  Decoded d;
  Decode(R"({"principal": {"workspace": "a"}, "request": {"model": "meta/llama:free:nitro",
             "messages": []}})", &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_invalid_value");
  EXPECT_EQ(d.err.path, "request.model");
  EXPECT_NE(d.err.message.find("names more than one variant: `meta/llama:free:nitro`"),
            std::string::npos) << d.err.message;
  Decode(R"({"principal": {"workspace": "a"}, "request": {"model": "meta/llama",
             "models": ["x/y:nitro", "meta/llama:free:floor"], "messages": []}})", &d);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.err.code, "input_invalid_value");
  EXPECT_EQ(d.err.path, "request.models[1]");
  // one suffix, or a colon that is no variant, is fine
  Decode(R"({"principal": {"workspace": "a"}, "request": {"model": "a/b.c-v1:0:free",
             "models": ["meta/llama:free"], "messages": []}})", &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "request.model").sv(), "a/b.c-v1:0");
}

TEST(Input, WhatCountsAsAVariant) {
  struct Case { const char* slug; const char* id; const char* variant; };
  for (const Case& c : {Case{"openai/gpt-4o:nitro", "openai/gpt-4o", "nitro"},
                        Case{"openai/gpt-4o:extended", "openai/gpt-4o", "extended"},
                        Case{"openai/gpt-4o:online", "openai/gpt-4o", "online"},
                        Case{"anthropic.claude-3-sonnet-20240229-v1:0", "anthropic.claude-3-sonnet-20240229-v1:0", ""},
                        Case{"gpt-4o:", "gpt-4o:", ""},
                        Case{":free", ":free", ""},
                        Case{"a:b/c", "a:b/c", ""},
                        Case{"m:Free", "m:Free", ""},
                        Case{"m:A:beta", "m:A", "beta"}}) {  // m:a:beta is refused
    Decoded d;
    Decode(std::string(R"({"principal": {"workspace": "w"}, "request": {"model": ")") + c.slug +
               R"(", "messages": []}})", &d);
    ASSERT_TRUE(d.ok) << d.err.message;
    EXPECT_EQ(Slot(d.rec, "request.model").sv(), c.id) << c.slug;
    EXPECT_EQ(Slot(d.rec, "request.model_variant").sv(), c.variant) << c.slug;
    EXPECT_EQ(Slot(d.rec, "request.model_full").sv(), c.slug);
  }
}

}  // namespace
}  // namespace tollgate::runtime

namespace tollgate::runtime {
namespace {

// The cheap test before DecodeCandidate's second parse: the text
// `"candidate"` anywhere (a member or not), as std::string_view::find said.
TEST(Input, MentionsCandidate) {
  EXPECT_TRUE(MentionsCandidate(R"({"candidate": {"provider": {"name": "p"}}})"));
  // A string value "candidate" counts too (DecodeCandidate then finds none).
  EXPECT_TRUE(MentionsCandidate(R"({"principal": {"workspace": "candidate"}})"));
  EXPECT_FALSE(MentionsCandidate(R"({"a": "\"candidate\"", "b": 1})"));  // escaped quotes
  EXPECT_FALSE(MentionsCandidate(R"({"candidates": 1})"));
  EXPECT_FALSE(MentionsCandidate(""));
  EXPECT_FALSE(MentionsCandidate("\"candidat"));
  std::string big(4096, '"');
  EXPECT_FALSE(MentionsCandidate(big));
  big += "candidate\"";
  EXPECT_TRUE(MentionsCandidate(big));
}

// stdlib/field_values.h FieldRange: the checker judges comparisons over
// these ranges (tg_unreachable_comparison), so the decoder must refuse
// every value below them -- and accept the bound itself. A derived field
// (request.input_tokens) cannot be given; the decoder computes it.
TEST(Input, FieldRangesAreWhatTheDecoderEnforces) {
  for (const stdlib::FieldRange& f : stdlib::FieldRanges()) {
    const int id = S().Find(f.path);
    ASSERT_GE(id, 0) << f.path;
    const stdlib::FieldDef& def = S().field(id);
    ASSERT_TRUE(def.type.is(Kind::kInt) || def.type.is(Kind::kMoney) || def.type.is(Kind::kDecimal))
        << f.path;
    // An upper bound has its own test (endpoint.uptime: CandidateUptimeIsAFraction,
    // endpoint.latency_p50: CandidateLatencyIsAtMostAnHour, endpoint.throughput:
    // CandidateThroughputIsAtMostTheCatalogs).
    EXPECT_TRUE(f.hi == INT64_MAX || f.path == "endpoint.uptime" || f.path == "endpoint.latency_p50" ||
                f.path == "endpoint.throughput")
        << f.path;
    // The number just below the range, and the range's lower end, in JSON.
    const bool whole = def.type.is(Kind::kInt);
    const std::string below = whole ? std::to_string(f.lo - 1) : "-0.000001";
    const std::string at = whole ? std::to_string(f.lo) : "0";
    ASSERT_TRUE(whole || f.lo == 0) << f.path;
    const std::string path(f.path);
    const std::string member = path.substr(path.find('.') + 1);
    auto json = [&](const std::string& v) {
      // "provider.retention_days" -> {"provider": {"retention_days": v}}
      const std::string head = path.substr(0, path.find('.'));
      return "{\"" + head + "\": {\"" + member + "\": " + v + "}}";
    };
    // A derived request field: a value given for it is not what the policy
    // reads. (A derived candidate field, endpoint.estimated_cost, may be
    // given in `candidate`: checked below.)
    if (def.derived && def.scope == ast::Scope::kRequest) {
      Decoded d;
      Decode(Input(", \"" + member + "\": " + below), &d);
      if (d.ok) EXPECT_GE(Slot(d.rec, f.path).i, f.lo) << f.path;
      else EXPECT_EQ(d.err.code, "input_invalid_value") << f.path;
      continue;
    }
    if (def.scope == ast::Scope::kRequest) {
      ASSERT_EQ(path.rfind("request.", 0), 0u) << f.path;
      Decoded bad, good;
      Decode(Input(", \"" + member + "\": " + below), &bad);
      EXPECT_FALSE(bad.ok) << f.path << " = " << below;
      EXPECT_EQ(bad.err.code, "input_invalid_value") << f.path;
      Decode(Input(", \"" + member + "\": " + at), &good);
      EXPECT_TRUE(good.ok) << f.path << " = " << at << ": " << good.err.message;
      continue;
    }
    vm::Record cand;
    bool present = false;
    InputError err;
    EXPECT_FALSE(DecodeCandidate(Input("").substr(0, Input("").size() - 1) + ", \"candidate\": " +
                                     json(below) + "}",
                                 S(), Limits{}, &cand, &present, &err))
        << f.path << " = " << below;
    EXPECT_EQ(err.code, "input_invalid_value") << f.path;
    InputError ok_err;
    EXPECT_TRUE(DecodeCandidate(Input("").substr(0, Input("").size() - 1) + ", \"candidate\": " +
                                    json(at) + "}",
                                S(), Limits{}, &cand, &present, &ok_err))
        << f.path << " = " << at << ": " << ok_err.message;
  }
}

// A candidate endpoint's field with a bound the catalog sets: `too_big` is
// refused with `message` and `hint` in the error, as is `just_over`; the
// `ok` values are taken.
struct EndpointBound {
  const char* field;  // under candidate.endpoint
  const char* too_big;
  const char* message;
  const char* hint;
  const char* just_over;
  std::vector<const char*> ok;
};
void ExpectEndpointBound(const EndpointBound& b) {
  SCOPED_TRACE(b.field);
  auto decode = [&](const std::string& v, InputError* err) {
    vm::Record cand;
    bool present = false;
    return DecodeCandidate(Input("").substr(0, Input("").size() - 1) + ", \"candidate\": {\"endpoint\": {\"" +
                               b.field + "\": " + v + "}}}",
                           S(), Limits{}, &cand, &present, err);
  };
  InputError err;
  EXPECT_FALSE(decode(b.too_big, &err));
  EXPECT_EQ(err.code, "input_invalid_value");
  EXPECT_EQ(err.path, std::string("candidate.endpoint.") + b.field);
  EXPECT_NE(err.message.find(b.message), std::string::npos) << err.message;
  EXPECT_NE(err.message.find(b.hint), std::string::npos) << err.message;
  InputError over;
  EXPECT_FALSE(decode(b.just_over, &over));
  EXPECT_EQ(over.code, "input_invalid_value");
  for (const char* ok : b.ok) {
    InputError e;
    EXPECT_TRUE(decode(ok, &e)) << ok << ": " << e.message;
  }
}

// endpoint.uptime is a fraction in the catalog (observed.uptime, 0..1), so
// a decision input's or a test's `candidate` with 99.9 -- an uptime written
// as a percentage -- is an endpoint that cannot exist: refused, as the
// catalog refuses it. Accepted, a policy `require endpoint.uptime >= 99.5`
// passed its tests with such candidates and rejected every real endpoint.
TEST(Input, CandidateUptimeIsAFraction) {
  ExpectEndpointBound({"uptime", "99.9", "`candidate.endpoint.uptime` must be at most 1, got 99.9",
                       "fraction from 0 to 1", "1.000001", {"1", "1.0", "0.999", "0"}});
}

// context.data_class, environment and tags are labels a policy compares
// with lower-case constants (`context.data_class in {"confidential"}`); a
// caller's `Confidential` (a header, a key's default, a /v1/decide input)
// reached no such rule, and a confidential request went to an endpoint that
// keeps data. They are lower-cased (ASCII), tags de-duplicated after.
TEST(Input, ContextLabelsAreLowerCased) {
  Decoded d;
  Decode(Input("", "", R"({"data_class": "Confidential", "environment": "PRODUCTION",
                          "tags": ["Batch", "batch", "Nightly-Run", "ünïcode"]})"), &d);
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_EQ(Slot(d.rec, "context.data_class").sv(), "confidential");
  EXPECT_EQ(Slot(d.rec, "context.environment").sv(), "production");
  const Value& tags = Slot(d.rec, "context.tags");
  ASSERT_EQ(tags.kind, Kind::kSet);
  std::vector<std::string> got;
  for (const Value& t : tags.set->items) got.emplace_back(t.sv());
  EXPECT_EQ(got, (std::vector<std::string>{"batch", "nightly-run", "ünïcode"}));
}

// endpoint.latency_p50 is in seconds, at most an hour in the catalog
// (observed.latency_p50 <= 3600): a candidate giving 5000 -- a latency
// written in milliseconds -- is refused as the catalog refuses it, so the
// checker may claim the bound (`require endpoint.latency_p50 < 5000` is
// always true). Before, the decoder took any non-negative latency.
// endpoint.throughput: tokens per second, at most 10^6 in the catalog
// (observed.throughput), so the checker may claim the bound; before, the
// decoder took any non-negative throughput.
TEST(Input, CandidateThroughputIsAtMostTheCatalogs) {
  ExpectEndpointBound({"throughput", "2000000", "`candidate.endpoint.throughput` must be at most 1000000, got 2000000",
                       "tokens per second", "1000000.000001", {"1000000", "85.5", "0"}});
}

TEST(Input, CandidateLatencyIsAtMostAnHour) {
  ExpectEndpointBound({"latency_p50", "5000", "`candidate.endpoint.latency_p50` must be at most 3600, got 5000",
                       "in seconds", "3600.000001", {"3600", "0.42", "0"}});
}

}  // namespace
}  // namespace tollgate::runtime
