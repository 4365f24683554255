// `retain content hash|none`: a record keeps no caller text but an
// allow-list of identifiers. Each request member that can carry text is sent
// with a unique marker; the raw log bytes must not hold it under hash or
// none, and must under full. Records of every mode still replay (or are
// reported not replayable), records of the first content format included.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <filesystem>
#include <limits>

#include "runtime/audit/internal/content.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/replay.h"
#include "runtime/input/input.h"
#include "stdlib/schema.h"
#include "tests/differential/generate.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

struct Logged {
  std::string bytes;  // every log file's bytes
  std::string key;    // DIR/key
  ReplayReport replay;
  bool recorded = false;
};

// Records each input under a policy with `retention`, then replays the log
// against its deciding version.
Logged Record(const std::string& retention, const std::vector<std::string>& inputs,
              const std::string& rules = "", const Options& options = {}) {
  TempDir dir;
  Logged out;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy, "policy \"p\" retain content " + retention + "\n" +
                       "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n"
                       "rule costly { when request.input_tokens > 5 tag size = \"large\" }\n"
                       "rule tooled { when \"lookup\" in request.tools tag tooled = \"yes\" }\n"
                       "rule sampled { when \"top_p\" in request.parameters tag sampled = \"yes\" }\n" +
                       rules);
  auto p = MustCompile(policy);
  if (!p) return out;
  std::string err;
  const std::string audit = dir.path + "/audit";
  auto log = AuditLog::Open(audit, options, &err);
  EXPECT_TRUE(log) << err;
  if (!log) return out;
  {
    Recorder rec(log.get(), p, "", "");
    out.recorded = true;
    for (const std::string& in : inputs) {
      Ticket t = rec.Decide(in);
      EXPECT_NE(t.seq, 0u) << "does not decode: " << in;
      out.recorded = out.recorded && t.seq != 0;
    }
  }
  EXPECT_TRUE(log->Close());
  for (const auto& e : fs::directory_iterator(audit))
    if (e.path().extension() == ".jsonl") out.bytes += ReadAll(e.path());
  out.key = ReadAll(audit + "/key");
  while (!out.key.empty() && (out.key.back() == '\n' || out.key.back() == ' ')) out.key.pop_back();
  ReplayOptions o;
  o.dir = audit;
  EXPECT_TRUE(Replay(o, &out.replay, &err)) << err;
  return out;
}

std::string Input(const std::string& request_members) {
  return R"({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":10,)" + request_members + "}}";
}

struct Leak {
  const char* what;
  const char* marker;
  std::string request;  // request members, with the marker in them
};

// Every request member that can carry caller text and is not a message
// text (those were covered before), each with its own marker.
std::vector<Leak> Leaks() {
  const std::string user_hi = R"({"role":"user","content":"hi"})";
  return {
      {"image_url data URL", "MkImgData",
       R"("messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,MkImgData","detail":"low"}}]}])"},
      {"image_url https URL", "MkImgHttps",
       R"("messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/MkImgHttps.png"}}]}])"},
      {"input_audio data", "MkAudio",
       R"("messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"MkAudio","format":"wav"}}]}])"},
      {"file data", "MkFileData",
       R"("messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,MkFileData","file_id":"file-1"}}]}])"},
      {"file name", "MkFileName",
       R"("messages":[{"role":"user","content":[{"type":"file","file":{"filename":"MkFileName.pdf"}}]}])"},
      {"prediction content", "MkPrediction",
       R"("messages":[)" + user_hi + R"(],"prediction":{"type":"content","content":"MkPrediction"})"},
      {"prediction parts", "MkPredPart",
       R"("messages":[)" + user_hi + R"(],"prediction":{"type":"content","content":[{"type":"text","text":"MkPredPart"}]})"},
      {"tool description", "MkToolDesc",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"function","function":{"name":"lookup","description":"MkToolDesc","parameters":{"type":"object"}}}])"},
      {"tool parameter schema", "MkToolParam",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"MkToolParam":{"type":"string","description":"d"}}}}}])"},
      {"custom tool description", "MkCustomDesc",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"custom","custom":{"name":"exec","description":"MkCustomDesc"}}])"},
      {"legacy function description", "MkFuncDesc",
       R"("messages":[)" + user_hi + R"(],"functions":[{"name":"lookup","description":"MkFuncDesc","parameters":{"type":"object"}}],"function_call":{"name":"lookup"})"},
      {"metadata value", "MkMetaValue", R"("messages":[)" + user_hi + R"(],"metadata":{"note":"MkMetaValue"})"},
      {"metadata key", "MkMetaKey", R"("messages":[)" + user_hi + R"(],"metadata":{"MkMetaKey":"v"})"},
      {"user", "MkUser", R"("messages":[)" + user_hi + R"(],"user":"MkUser@example.com")"},
      {"message name", "MkName", R"("messages":[{"role":"user","name":"MkName","content":"hi"}])"},
      {"response_format schema", "MkSchema",
       R"("messages":[)" + user_hi + R"(],"response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object","description":"MkSchema"}}})"},
      {"schema property names and required", "MkReqName",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"MkReqName":{"type":"string","enum":["a"]}},"required":["MkReqName"]}}}])"},
      {"schema enum", "MkEnum",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"p":{"type":"string","enum":["MkEnum"]}}}}}])"},
      {"schema property name over a number (an omitted path)", "MkPropNum",
       R"("messages":[)" + user_hi + R"(],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"MkPropNum":{"type":"integer","minimum":1}}}}}])"},
      {"unknown member's name over a number (an omitted path)", "MkNumName",
       R"("messages":[)" + user_hi + R"(],"x_vendor":{"MkNumName":[1,true]})"},
      {"documents", "MkDocuments",
       R"("messages":[)" + user_hi + R"(],"documents":[{"title":"t","text":"MkDocuments"}])"},
      {"top-level prompt", "MkTopPrompt", R"("messages":[)" + user_hi + R"(],"prompt":"MkTopPrompt")"},
      {"reasoning_content", "MkReasoningC",
       R"("messages":[{"role":"assistant","content":"ok","reasoning_content":"MkReasoningC"}])"},
      {"anthropic tool schema", "MkInputSchema",
       R"("messages":[)" + user_hi + R"(],"tools":[{"name":"f","description":"x","input_schema":{"type":"object","properties":{"p":{"description":"MkInputSchema"}}}}])"},
      {"prediction string", "MkPredict",
       R"("messages":[)" + user_hi + R"(],"prediction":{"type":"content","content":"MkPredict"})"},
      {"prediction parts", "MkPredPart",
       R"("messages":[)" + user_hi + R"(],"prediction":{"type":"content","content":[{"type":"text","text":"MkPredPart"},"MkPredPart2"]})"},
      {"response_format name and description", "MkRfName",
       R"("messages":[)" + user_hi + R"(],"response_format":{"type":"json_schema","json_schema":{"name":"MkRfName","description":"MkRfName d","schema":{"type":"object"}}})"},
      {"stop strings", "MkStop", R"("messages":[)" + user_hi + R"(],"stop":["MkStop"])"},
      {"logit_bias keys", "MkBias", R"("messages":[)" + user_hi + R"(],"logit_bias":{"MkBias":5})"},
      {"custom tool call input", "MkCustomInput",
       R"("messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{"name":"exec","input":"MkCustomInput"}}]}])"},
      {"legacy message function_call", "MkFnCallArgs",
       R"("messages":[{"role":"assistant","content":null,"function_call":{"name":"lookup","arguments":"MkFnCallArgs"}}])"},
      {"tool result", "MkToolResult",
       R"("messages":[{"role":"tool","tool_call_id":"c1","content":"MkToolResult"}])"},
      {"assistant refusal (a text)", "MkRefusalMember",
       R"("messages":[{"role":"assistant","content":"ok","refusal":"MkRefusalMember"}])"},
      {"unknown body member", "MkExtraStr", R"("messages":[)" + user_hi + R"(],"x_vendor_note":"MkExtraStr")"},
      {"unknown body object", "MkExtraObj",
       R"("messages":[)" + user_hi + R"(],"x_vendor":{"deep":[{"note":"MkExtraObj"}]})"},
      {"unknown message member", "MkMsgExtra",
       R"("messages":[{"role":"user","content":"hi","x_extra":"MkMsgExtra"}])"},
      {"unknown part member", "MkPartExtra",
       R"("messages":[{"role":"user","content":[{"type":"text","text":"hi","x_note":"MkPartExtra"}]}])"},
      {"unknown part type", "MkPartType",
       R"("messages":[{"role":"user","content":[{"type":"MkPartType","text":"hi"}]}])"},
      {"unknown role", "mkrole", R"("messages":[{"role":"mkrole","content":"hi"}])"},  // roles are lower case (the decoder refuses others)
      {"tool_choice enum outside the list", "MkChoice",
       R"("messages":[)" + user_hi + R"(],"tool_choice":"MkChoice")"},
  };
}

TEST(AuditContentRetention, NoCallerTextUnderHashOrNone) {
  for (const Leak& l : Leaks()) {
    SCOPED_TRACE(l.what);
    const std::string in = Input(l.request);
    for (const char* mode : {"hash", "none"}) {
      Logged g = Record(mode, {in});
      ASSERT_TRUE(g.recorded) << mode;
      EXPECT_EQ(g.bytes.find(l.marker), std::string::npos) << mode << ": " << g.bytes;
      EXPECT_EQ(g.replay.failed, 0u) << mode << ReportText(g.replay);
      EXPECT_EQ(g.replay.mismatched, 0u) << mode << ": " << g.replay.first_mismatch.field;
      EXPECT_EQ(g.replay.identical + g.replay.not_replayable, 1u) << mode;
    }
    Logged full = Record("full", {in});
    ASSERT_TRUE(full.recorded);
    EXPECT_NE(full.bytes.find(l.marker), std::string::npos) << full.bytes;
    EXPECT_EQ(full.replay.identical, 1u);
  }
}

// The last decision line's member `name` as a DOM.
rapidjson::Document Member(const std::string& bytes, const char* name) {
  size_t end = bytes.rfind("{\"kind\":\"decision\"");
  std::string line = bytes.substr(end, bytes.find('\n', end) - end);
  rapidjson::Document d;
  d.Parse(line.c_str());
  rapidjson::Document m;
  if (!d.HasParseError() && d.HasMember(name)) m.CopyFrom(d[name], m.GetAllocator());
  return m;
}

// What is kept: identifiers (model, roles, part types, tool and function
// names, call ids, response format type, numeric parameters) and member
// names; everything else is an empty placeholder of its JSON type.
TEST(AuditContentRetention, IdentifiersAndPlaceholdersUnderNone) {
  const std::string in = Input(
      R"("top_p":0.5,"seed":7,"user":"u@example.com","metadata":{"a":"b"},"stop":["x"],"x_num":42,)"
      R"("response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object"}}},)"
      R"("tools":[{"type":"function","function":{"name":"lookup","description":"d","parameters":{"type":"object"}}}],)"
      R"("messages":[{"role":"user","name":"ann","content":[{"type":"text","text":"hello"},)"
      R"({"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high"}}]},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{}"}}]}])");
  Logged g = Record("none", {in});
  ASSERT_TRUE(g.recorded);
  rapidjson::Document input = Member(g.bytes, "input");
  ASSERT_TRUE(input.IsObject()) << g.bytes;
  const auto& r = input["request"];
  EXPECT_STREQ(r["model"].GetString(), "m");
  EXPECT_EQ(r["max_tokens"].GetInt(), 10);
  EXPECT_DOUBLE_EQ(r["top_p"].GetDouble(), 0.5);
  EXPECT_EQ(r["seed"].GetInt(), 7);
  EXPECT_STREQ(r["user"].GetString(), "");
  // Format 4: `metadata` is not known, so its strings are texts and its
  // member names masked.
  EXPECT_TRUE(r["metadata"].IsObject() && r["metadata"].MemberCount() == 1);
  EXPECT_STREQ(r["metadata"]["_"].GetString(), "");
  // Format 6: `stop` and `user` are the caller's free text: texts.
  EXPECT_TRUE(r["stop"].IsArray() && r["stop"].Size() == 1 && r["stop"][0] == "");
  EXPECT_EQ(r["x_num"].GetInt(), 0);
  EXPECT_STREQ(r["response_format"]["type"].GetString(), "json_schema");
  // Format 3: the schema's name, descriptions and texts are texts; its
  // keywords stay and the strings below `type` are masked (their length is
  // what request.input_tokens counts).
  EXPECT_STREQ(r["response_format"]["json_schema"]["name"].GetString(), "");
  EXPECT_TRUE(r["response_format"]["json_schema"]["strict"].GetBool());
  EXPECT_STREQ(r["response_format"]["json_schema"]["schema"]["type"].GetString(), "______");
  const auto& fn = r["tools"][0]["function"];
  EXPECT_STREQ(fn["name"].GetString(), "lookup");
  EXPECT_STREQ(fn["description"].GetString(), "");
  EXPECT_STREQ(fn["parameters"]["type"].GetString(), "______");
  const auto& m0 = r["messages"][0];
  EXPECT_STREQ(m0["role"].GetString(), "user");
  EXPECT_STREQ(m0["name"].GetString(), "");
  EXPECT_STREQ(m0["content"][0]["type"].GetString(), "text");
  EXPECT_STREQ(m0["content"][0]["text"].GetString(), "");
  EXPECT_STREQ(m0["content"][1]["type"].GetString(), "image_url");
  EXPECT_STREQ(m0["content"][1]["image_url"]["url"].GetString(), "");
  EXPECT_STREQ(m0["content"][1]["image_url"]["detail"].GetString(), "high");
  const auto& call = r["messages"][1]["tool_calls"][0];
  EXPECT_STREQ(call["id"].GetString(), "call_1");
  EXPECT_STREQ(call["function"]["name"].GetString(), "lookup");
  EXPECT_STREQ(call["function"]["arguments"].GetString(), "");

  rapidjson::Document content = Member(g.bytes, "content");
  ASSERT_TRUE(content.IsObject()) << g.bytes;
  EXPECT_STREQ(content["retain"].GetString(), "none");
  EXPECT_EQ(content["format"].GetInt(), internal::kContentFormat);
  EXPECT_FALSE(content.HasMember("hmac"));
  ASSERT_TRUE(content["lengths"].IsArray());
  // "u@example.com", "b", "x", "answer", "d", "ann", "hello", "{}" (document order)
  EXPECT_EQ(content["lengths"].Size(), 8u);
  std::map<std::string, uint64_t> omitted;
  for (const auto& o : content["omitted"].GetArray()) {
    EXPECT_FALSE(o.HasMember("hmac"));
    omitted[o["path"].GetString()] = o["bytes"].GetUint64();
  }
  EXPECT_EQ(omitted.count("request.user"), 0u);  // a text (format 6)
  EXPECT_EQ(omitted.count("request.metadata"), 0u);  // walked: its "b" is a text
  EXPECT_EQ(omitted["request.x_num"], 2u);
  EXPECT_EQ(omitted.count("request.messages[0].name"), 0u);  // a text
  EXPECT_EQ(omitted["request.messages[0].content[1].image_url.url"], 15u);
  EXPECT_EQ(omitted.count("request.tools[0].function.parameters"), 0u);  // walked
  EXPECT_EQ(omitted.count("request.model"), 0u);
  EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
}

// Under hash, each omitted value has the HMAC-SHA-256 (DIR/key) of its
// bytes: a string's own, a number's text, or an object's compact JSON.
TEST(AuditContentRetention, HashGivesTheHmacOfEachOmittedValue) {
  Logged g = Record("hash", {Input(R"("messages":[{"role":"user","content":"hi"}],"verbosity":"u-42","logit_bias":{"50256":-100},"metadata":{"a":[1,"b"]})")});
  ASSERT_TRUE(g.recorded);
  rapidjson::Document content = Member(g.bytes, "content");
  ASSERT_TRUE(content.IsObject()) << g.bytes;
  std::map<std::string, std::string> hmac;
  for (const auto& o : content["omitted"].GetArray()) hmac[o["path"].GetString()] = o["hmac"].GetString();
  EXPECT_EQ(hmac["request.verbosity"], internal::HmacSha256Hex(g.key, "u-42"));
  EXPECT_EQ(hmac["request.logit_bias"], internal::HmacSha256Hex(g.key, R"({"50256":-100})"));
  // metadata is walked (format 4): its number is omitted (under its masked
  // member name), its string is a text.
  EXPECT_EQ(hmac["request.metadata._[0]"], internal::HmacSha256Hex(g.key, "1"));
  EXPECT_EQ(hmac.count("request.metadata"), 0u);
  EXPECT_EQ(content["hmac"][0].GetString(), internal::HmacSha256Hex(g.key, "hi"));
  EXPECT_EQ(content["hmac"][1].GetString(), internal::HmacSha256Hex(g.key, "b"));
}

// A custom tool call's input, a deprecated function_call's arguments and an
// assistant's refusal are texts now: their lengths replay into
// request.input_tokens, and a rule
// that reads a message's name (omitted) is reported, never guessed.
TEST(AuditContentRetention, NewTextsReplayAndNameReadersAreNotReplayable) {
  const std::string calls = Input(
      R"("messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"custom","custom":{"name":"exec","input":"a long enough custom input"}}]},)"
      R"({"role":"assistant","content":null,"function_call":{"name":"lookup","arguments":"{\"q\":\"a long enough query\"}"}},)"
      R"({"role":"assistant","content":null,"refusal":"I cannot help with that"}])");
  for (const char* mode : {"hash", "none"}) {
    Logged g = Record(mode, {calls});
    ASSERT_TRUE(g.recorded);
    EXPECT_NE(g.bytes.find("\"lengths\":[26,27,23]"), std::string::npos) << g.bytes;
    EXPECT_EQ(g.replay.identical, 1u) << mode << " " << ReportText(g.replay);
    Logged named = Record(mode, {Input(R"("messages":[{"role":"user","name":"bob","content":"hi"}])")},
                          "rule bob { when any m in request.messages: (m.name ?? \"\") == \"bob\" deny 403 \"no bob\" }\n");
    ASSERT_TRUE(named.recorded);
    EXPECT_EQ(named.replay.not_replayable, 1u) << mode << " " << ReportText(named.replay);
    EXPECT_EQ(named.replay.mismatched, 0u);
  }
}

// Records of the first content format kept custom.input and function_call
// arguments as received, with no length for them: replay must leave them
// alone there, and fill them in records of the current format.
TEST(AuditContentRetention, ReplayReadsEachContentFormat) {
  const std::string recorded =
      R"({"request":{"messages":[{"role":"assistant","content":"","tool_calls":[{"custom":{"input":"kept"}},{"function":{"arguments":""}}]}]}})";
  const std::vector<uint64_t> one = {4};
  std::string out;
  ASSERT_TRUE(internal::RebuildInput(recorded, &one, 1, "", &out));
  EXPECT_EQ(out, R"({"request":{"messages":[{"role":"assistant","content":"____","tool_calls":[{"custom":{"input":"kept"}},{"function":{"arguments":""}}]}]}})");
  const std::vector<uint64_t> three = {1, 2, 3};
  const std::string now =
      R"({"request":{"messages":[{"role":"assistant","content":"","tool_calls":[{"custom":{"input":""}},{"function":{"arguments":""}}]}]}})";
  ASSERT_TRUE(internal::RebuildInput(now, &three, 2, "", &out));
  EXPECT_EQ(out, R"({"request":{"messages":[{"role":"assistant","content":"_","tool_calls":[{"custom":{"input":"__"}},{"function":{"arguments":"___"}}]}]}})");
}

// A chat body whose members tollgate does not know carry most of its text:
// vLLM's `documents` (objects in an array), OpenRouter's top-level `prompt`,
// `metadata` (strings nested in objects and arrays, a number, a member name
// that is itself caller text), a message's `reasoning_content` and a
// message's unknown object. Every string of them is a text of
// request.content and counts in request.input_tokens
// (runtime/input/request_texts.h 3.). Each string holds a marker.
std::string UnknownMembersInput() {
  return Input(
      R"("documents":[{"title":"MkDocTitle quarterly supplier contract","text":"MkDocText the supplier shall deliver the goods within thirty days of the order, write to ann@example.com"},)"
      R"({"text":"MkDocTwo annex with the price list and the penalties for late delivery","page":3}],)"
      R"("prompt":"MkPrompt summarise the documents above in three short bullet points please",)"
      R"("metadata":{"MkMetaName":["MkMetaA",{"deep":"MkMetaDeep a nested note that the model never reads"}],"count":7,"ok":true},)"
      R"("messages":[{"role":"user","content":"hi","reasoning_content":"MkReasoning the user wants a summary, start with the dates",)"
      R"("x_extra":{"list":["MkExtraOne",{"z":"MkExtraTwo"}],"n":1.5}}])");
}
constexpr const char* kUnknownMarkers[] = {"MkDocTitle", "MkDocText", "ann@example.com", "MkDocTwo",
                                           "MkPrompt",   "MkMetaName", "MkMetaA",        "MkMetaDeep",
                                           "MkReasoning", "MkExtraOne", "MkExtraTwo"};
// The strings of UnknownMembersInput's unknown members, in document order.
const std::vector<std::string>& UnknownStrings() {
  static const std::vector<std::string> s = {
      "MkDocTitle quarterly supplier contract",
      "MkDocText the supplier shall deliver the goods within thirty days of the order, write to ann@example.com",
      "MkDocTwo annex with the price list and the penalties for late delivery",
      "MkPrompt summarise the documents above in three short bullet points please",
      "MkMetaA",
      "MkMetaDeep a nested note that the model never reads",
      "MkReasoning the user wants a summary, start with the dates",
      "MkExtraOne",
      "MkExtraTwo",
  };
  return s;
}

// Decodes `json` with the standard schema: request.content's length and
// request.input_tokens.
std::pair<size_t, int64_t> ContentAndTokens(const std::string& json) {
  const stdlib::Schema& s = stdlib::Schema::Standard();
  vm::Record rec;
  runtime::InputError err;
  EXPECT_TRUE(runtime::DecodeInput(json, s, Limits{}, &rec, &err)) << err.message << "\n" << json;
  const auto& content = rec.slots[s.field(s.Find("request.content")).slot];
  const auto& tokens = rec.slots[s.field(s.Find("request.input_tokens")).slot];
  return {content.sv().size(), tokens.i};
}

// Under hash and none the unknown members' strings are texts of the record
// (content format 4): "" in the input with their length (and HMAC, and
// detector counts) in `content`, so that replay rebuilds filler of the same
// length in the same place: the same request.content length, the same
// request.input_tokens, the same decision -- here a ceiling on input tokens
// that only those members push the request over.
TEST(AuditContentRetention, UnknownMembersReplayWithTheirLengths) {
  const std::string in = UnknownMembersInput();
  const auto [content_bytes, tokens] = ContentAndTokens(in);
  ASSERT_GT(tokens, 60);
  ASSERT_LT(ContentAndTokens(Input(R"("messages":[{"role":"user","content":"hi"}])")).second, 60);
  const std::string rules =
      "rule ceiling { when request.input_tokens > 60 deny 400 \"over the token ceiling\" }\n"
      "rule count { when request.input_tokens > 0 tag tokens = \"{request.input_tokens}\" }\n";
  for (const char* mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {in}, rules);
    ASSERT_TRUE(g.recorded);
    EXPECT_NE(g.bytes.find("over the token ceiling"), std::string::npos) << g.bytes;
    EXPECT_NE(g.bytes.find("\"tokens\":\"" + std::to_string(tokens) + "\""), std::string::npos) << g.bytes;
    for (const char* marker : kUnknownMarkers)
      EXPECT_EQ(g.bytes.find(marker), std::string::npos) << marker << ": " << g.bytes;
    EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
    EXPECT_EQ(g.replay.mismatched, 0u) << g.replay.first_mismatch.field << "\n"
                                       << g.replay.first_mismatch.recorded << "\n"
                                       << g.replay.first_mismatch.replayed;
    EXPECT_EQ(g.replay.not_replayable, 0u);

    // The content section: a length for each of those strings after the
    // message's "hi" (document order), an HMAC of each under hash.
    rapidjson::Document content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject()) << g.bytes;
    EXPECT_EQ(content["format"].GetInt(), internal::kContentFormat);
    const std::vector<std::string>& texts = UnknownStrings();
    // Document order: the body's documents, prompt, metadata, then the messages.
    std::vector<std::string> order = {texts[0], texts[1], texts[2], texts[3], texts[4], texts[5],
                                      "hi",     texts[6], texts[7], texts[8]};
    ASSERT_EQ(content["lengths"].Size(), order.size()) << g.bytes;
    for (size_t i = 0; i < order.size(); ++i) {
      EXPECT_EQ(content["lengths"][static_cast<rapidjson::SizeType>(i)].GetUint64(), order[i].size()) << i;
      if (std::string(mode) == "hash") {
        EXPECT_EQ(content["hmac"][static_cast<rapidjson::SizeType>(i)].GetString(),
                  internal::HmacSha256Hex(g.key, order[i])) << i;
      }
    }
    if (std::string(mode) == "hash") {
      ASSERT_TRUE(content["detectors"].HasMember("dlp.email")) << g.bytes;
      EXPECT_EQ(content["detectors"]["dlp.email"].GetInt(), 1);
    } else {
      EXPECT_FALSE(content.HasMember("hmac"));
    }
    // Numbers and booleans of those members are replaced, as elsewhere.
    std::map<std::string, uint64_t> omitted;
    for (const auto& o : content["omitted"].GetArray()) omitted[o["path"].GetString()] = o["bytes"].GetUint64();
    EXPECT_EQ(omitted["request.documents[1].____"], 1u) << g.bytes;  // "page": 3
    EXPECT_EQ(omitted["request.metadata._____"], 1u);                // "count": 7
    EXPECT_EQ(omitted["request.messages[0].x_extra._"], 3u);         // "n": 1.5
  }
}

// Replay gives the input back with filler of each recorded length where the
// unknown members' strings were: request.content has the length it had,
// request.input_tokens the count.
TEST(AuditContentRetention, UnknownMembersRebuildToTheSameLengths) {
  const std::string in = UnknownMembersInput();
  for (ast::Retention mode : {ast::Retention::kHash, ast::Retention::kNone}) {
    std::string input, content;
    ASSERT_TRUE(internal::PrepareInput(in, mode, "k", nullptr, &input, &content));
    rapidjson::Document c;
    c.Parse(content.c_str());
    ASSERT_TRUE(c.IsObject() && c.HasMember("lengths")) << content;
    std::vector<uint64_t> lengths;
    for (const auto& n : c["lengths"].GetArray()) lengths.push_back(n.GetUint64());
    std::string rebuilt;
    ASSERT_TRUE(internal::RebuildInput(input, &lengths, c["format"].GetInt(), "", &rebuilt));
    EXPECT_EQ(ContentAndTokens(rebuilt), ContentAndTokens(in)) << input << "\n" << rebuilt;
    // Member names inside the unknown members are caller text too: masked.
    EXPECT_EQ(input.find("MkMetaName"), std::string::npos) << input;
    EXPECT_NE(input.find(R"("metadata":{"__________":["",{"____":""}],"_____":0,"__":false})"),
              std::string::npos) << input;
  }
}

// Records of content formats 1 to 3 replaced an unknown member whole (an
// empty placeholder, no length): replay leaves those placeholders alone, so
// such a record replays as it did (its lengths cover the other texts only).
TEST(AuditContentRetention, OlderFormatsLeaveUnknownMembersAlone) {
  const std::string recorded =
      R"({"request":{"documents":[],"prompt":"","metadata":{},"messages":[{"role":"user","content":"","reasoning_content":""}]}})";
  const std::vector<uint64_t> one = {4};
  for (int format : {1, 2, 3}) {
    std::string out;
    ASSERT_TRUE(internal::RebuildInput(recorded, &one, format, "", &out));
    EXPECT_EQ(out, R"({"request":{"documents":[],"prompt":"","metadata":{},"messages":[{"role":"user","content":"____","reasoning_content":""}]}})")
        << format;
  }
  // Format 4 fills them: the prompt, then the message's content and reasoning.
  const std::vector<uint64_t> four = {1, 2, 3};
  std::string out;
  ASSERT_TRUE(internal::RebuildInput(recorded, &four, 4, "", &out));
  EXPECT_EQ(out, R"({"request":{"documents":[],"prompt":"_","metadata":{},"messages":[{"role":"user","content":"__","reasoning_content":"___"}]}})");
}

// Content parts whose texts are not their `text` (an Anthropic-style text
// document, a tool_result with nested parts and an image, a tool_use's
// input, a thinking block with its signature, citations, a base64 document)
// are texts of the record under hash and none (content format 5): replay
// rebuilds the same request.content length and request.input_tokens, and
// a decision a token ceiling takes on them replays as identical. The base64
// payloads are texts of the record too (filler the decoder skips as it
// skipped the payload); the types the decoder decides by are kept.
std::string PartsInput() {
  return Input(
      R"("messages":[{"role":"user","content":[{"type":"text","text":"hi"},)"
      R"({"type":"document","title":"MkPartTitle","source":{"type":"text","media_type":"text/plain","data":"MkPartDoc the supplier shall deliver the goods within thirty days of the order"}},)"
      R"({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nCvkMlAwUDC1"}},)"
      R"({"type":"tool_result","tool_use_id":"MkToolUseId","content":[{"type":"text","text":"MkPartResult the weather in Paris is sunny with a light breeze from the west"},)"
      R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}}]}]},)"
      R"({"role":"assistant","content":[{"type":"thinking","thinking":"MkPartThinking the user asked about the weather so call the tool","signature":"MkSignature"},)"
      R"({"type":"text","text":"ok","citations":[{"type":"char_location","cited_text":"MkPartCited thirty days","document_index":0}]},)"
      R"({"type":"tool_use","id":"t1","name":"weather","input":{"MkInputName":"MkPartInput Paris and the whole of the Ile-de-France region"}}]}])");
}

TEST(AuditContentRetention, ContentPartTextsReplayWithTheirLengths) {
  const std::string in = PartsInput();
  const auto [content_bytes, tokens] = ContentAndTokens(in);
  const std::string rules =
      "rule ceiling { when request.input_tokens > " + std::to_string(tokens - 20) +
      " deny 400 \"over the token ceiling\" }\n"
      "rule count { when request.input_tokens > 0 tag tokens = \"{request.input_tokens}\" }\n";
  for (const char* mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {in}, rules);
    ASSERT_TRUE(g.recorded);
    EXPECT_NE(g.bytes.find("over the token ceiling"), std::string::npos) << g.bytes;
    for (const char* marker : {"MkPartTitle", "MkPartDoc", "MkPartResult", "MkPartThinking", "MkPartCited",
                               "MkPartInput", "MkInputName", "MkSignature", "MkToolUseId", "JVBERi0", "iVBORw0"})
      EXPECT_EQ(g.bytes.find(marker), std::string::npos) << marker << ": " << g.bytes;
    EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
    EXPECT_EQ(g.replay.mismatched, 0u) << g.replay.first_mismatch.field << "\n"
                                       << g.replay.first_mismatch.recorded << "\n"
                                       << g.replay.first_mismatch.replayed;
    rapidjson::Document content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject()) << g.bytes;
    EXPECT_EQ(content["format"].GetInt(), internal::kContentFormat);

    std::string input, prepared;
    ASSERT_TRUE(internal::PrepareInput(in, std::string(mode) == "hash" ? ast::Retention::kHash : ast::Retention::kNone,
                                       "k", nullptr, &input, &prepared));
    rapidjson::Document c;
    c.Parse(prepared.c_str());
    std::vector<uint64_t> lengths;
    for (const auto& n : c["lengths"].GetArray()) lengths.push_back(n.GetUint64());
    std::string rebuilt;
    ASSERT_TRUE(internal::RebuildInput(input, &lengths, c["format"].GetInt(), "", &rebuilt));
    EXPECT_EQ(ContentAndTokens(rebuilt), ContentAndTokens(in)) << input << "\n" << rebuilt;
    // The types the texts depend on are kept.
    EXPECT_NE(input.find(R"("source":{"type":"base64","media_type":"","data":""})"), std::string::npos) << input;
    EXPECT_NE(input.find(R"("source":{"type":"text","media_type":"","data":""})"), std::string::npos) << input;
    EXPECT_NE(input.find(R"("type":"tool_result")"), std::string::npos) << input;
  }
}

// A format 4 record replaced a part's other members whole: replay leaves
// those placeholders alone (its lengths cover the other texts only).
TEST(AuditContentRetention, OlderFormatsLeavePartMembersAlone) {
  const std::string recorded =
      R"({"request":{"messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"","source":{},"title":"","content":""}]}]}})";
  const std::vector<uint64_t> one = {4};
  std::string out;
  ASSERT_TRUE(internal::RebuildInput(recorded, &one, 4, "", &out));
  EXPECT_EQ(out, R"({"request":{"messages":[{"role":"user","content":[{"type":"text","text":"____"},{"type":"","source":{},"title":"","content":""}]}]}})");
  const std::vector<uint64_t> three = {1, 2, 3};
  ASSERT_TRUE(internal::RebuildInput(recorded, &three, 5, "", &out));
  EXPECT_EQ(out, R"({"request":{"messages":[{"role":"user","content":[{"type":"text","text":"_"},{"type":"","source":{},"title":"__","content":"___"}]}]}})");
}

// The caller's free-form parameters `user`, `stop`, `safety_identifier` and
// `prompt_cache_key` go upstream as written: their strings are texts
// (request.content, redacted upstream) and, under hash and none, texts of
// the record (content format 6): replay rebuilds the same request.content
// length and input_tokens, and the record holds none of them.
TEST(AuditContentRetention, FreeFormParametersReplayWithTheirLengths) {
  const std::string in = Input(
      R"("messages":[{"role":"user","content":"hi"}],"user":"MkUser alice@example.com",)"
      R"("stop":["MkStop one","MkStop two 4111 1111 1111 1111"],"safety_identifier":"MkSafety carol@example.com",)"
      R"("prompt_cache_key":"MkCacheKey the tenant and the whole of its conversation thread")");
  const auto [content_bytes, tokens] = ContentAndTokens(in);
  ASSERT_GT(tokens, ContentAndTokens(Input(R"("messages":[{"role":"user","content":"hi"}])")).second + 20);
  const std::string rules =
      "rule ceiling { when request.input_tokens > " + std::to_string(tokens - 10) +
      " deny 400 \"over the token ceiling\" }\n";
  for (const char* mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {in}, rules);
    ASSERT_TRUE(g.recorded);
    EXPECT_NE(g.bytes.find("over the token ceiling"), std::string::npos) << g.bytes;
    // The card with its spaces: a record's hex hashes may hold "4111".
    for (const char* marker : {"MkUser", "MkStop", "MkSafety", "MkCacheKey", "alice@", "4111 1111"})
      EXPECT_EQ(g.bytes.find(marker), std::string::npos) << marker << ": " << g.bytes;
    EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
    EXPECT_EQ(g.replay.mismatched, 0u) << g.replay.first_mismatch.field << "\n"
                                       << g.replay.first_mismatch.recorded << "\n"
                                       << g.replay.first_mismatch.replayed;
    rapidjson::Document content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject()) << g.bytes;
    EXPECT_EQ(content["format"].GetInt(), 6);
  }
}

// A format 5 record replaced those parameters whole (an empty placeholder,
// no length): replay leaves them alone; format 6 fills them.
TEST(AuditContentRetention, OlderFormatsLeaveFreeFormParametersAlone) {
  const std::string recorded =
      R"({"request":{"messages":[{"role":"user","content":""}],"user":"","stop":[""],"safety_identifier":"","prompt_cache_key":""}})";
  const std::vector<uint64_t> one = {4};
  std::string out;
  for (int format : {4, 5}) {
    ASSERT_TRUE(internal::RebuildInput(recorded, &one, format, "", &out));
    EXPECT_EQ(out, R"({"request":{"messages":[{"role":"user","content":"____"}],"user":"","stop":[""],"safety_identifier":"","prompt_cache_key":""}})")
        << format;
  }
  const std::vector<uint64_t> five = {1, 2, 3, 4, 5};
  ASSERT_TRUE(internal::RebuildInput(recorded, &five, 6, "", &out));
  EXPECT_EQ(out, R"({"request":{"messages":[{"role":"user","content":"_"}],"user":"__","stop":["___"],"safety_identifier":"____","prompt_cache_key":"_____"}})");
}

// A credential member inside a text-bearing value is "[removed]", never a
// text of the record: replay must not spend a recorded length on it (the
// texts after it keep their own lengths).
TEST(AuditContentRetention, RemovedCredentialsTakeNoLength) {
  const std::string in = Input(
      R"("metadata":{"password":"hunter2hunter2","note":"MkAfter a note"},)"
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"secret":{"type":"string"}},"description":"MkSchemaAfter twelve"}}}],)"
      R"("messages":[{"role":"user","content":"hi"}])");
  for (ast::Retention mode : {ast::Retention::kHash, ast::Retention::kNone}) {
    std::string input, content;
    ASSERT_TRUE(internal::PrepareInput(in, mode, "k", nullptr, &input, &content));
    EXPECT_EQ(input.find("hunter2"), std::string::npos);
    rapidjson::Document c;
    c.Parse(content.c_str());
    std::vector<uint64_t> lengths;
    for (const auto& n : c["lengths"].GetArray()) lengths.push_back(n.GetUint64());
    std::string rebuilt;
    ASSERT_TRUE(internal::RebuildInput(input, &lengths, c["format"].GetInt(), "", &rebuilt));
    // (Member names inside metadata and a schema are masked.)
    EXPECT_NE(rebuilt.find(R"("________":"[removed]")"), std::string::npos) << rebuilt;  // password
    EXPECT_NE(rebuilt.find(R"("____":"______________")"), std::string::npos) << rebuilt;  // the note
    EXPECT_NE(rebuilt.find(R"("______":"[removed]")"), std::string::npos) << rebuilt;    // secret
    EXPECT_NE(rebuilt.find(R"("___________":"____________________")"), std::string::npos) << rebuilt;
    EXPECT_NE(rebuilt.find(R"("content":"__")"), std::string::npos) << rebuilt;
    // The credentials' names (a fixed list) say where they were; the other
    // names on the way stay masked.
    EXPECT_NE(content.find(R"("scrubbed":["request.metadata.password","request.tools[0].function.parameters.__________.secret"])"),
              std::string::npos) << content;
  }
}

// Generated traffic (the example policy routed over the catalog, a
// structured policy, random policies and inputs) recorded under hash and
// none replays: every record identical or reported not replayable, none
// different, none failing to decode.
TEST(AuditContentRetention, GeneratedTrafficReplaysUnderHashAndNone) {
  auto retained = [](std::string policy, const std::string& mode) {
    size_t eol = policy.find('\n');
    return policy.insert(eol, " retain content " + mode);
  };
  for (const std::string mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    std::string err;
    auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
    ASSERT_TRUE(log) << err;
    uint64_t recorded = 0;
    {
      fs::copy("policies/data", dir.path + "/data", fs::copy_options::recursive);
      WriteAll(dir.path + "/example.tg", retained(ReadAll("policies/example.tg"), mode));
      Recorder rec(log.get(), MustCompile(dir.path + "/example.tg"), "policies/catalog.json",
                   "policies/accounts.json");
      ASSERT_EQ(rec.policy().ast().retain, mode == "hash" ? ast::Retention::kHash : ast::Retention::kNone);
      gen::Rng rng(5);
      for (int i = 0; i < 400; ++i) recorded += rec.Decide(ExampleInput(rng)).seq != 0;
    }
    {
      WriteAll(dir.path + "/structured.tg", retained(gen::StructuredPolicy(20), mode));
      Recorder rec(log.get(), MustCompile(dir.path + "/structured.tg"), "", "");
      gen::Rng rng(9);
      for (int i = 0; i < 200; ++i) recorded += rec.Decide(ExampleInput(rng)).seq != 0;
      for (int i = 0; i < 200; ++i) recorded += rec.Decide(gen::RandomInput(rng)).seq != 0;
    }
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      gen::Rng rng(seed * 131);
      const std::string path = dir.path + "/random" + std::to_string(seed) + ".tg";
      WriteAll(path, retained(gen::RandomPolicy(rng), mode));
      Compiled c = CompileFile(path, {});
      if (!c.policy) continue;
      Recorder rec(log.get(), c.policy, "", "");
      for (int i = 0; i < 200; ++i) recorded += rec.Decide(gen::RandomInput(rng)).seq != 0;
    }
    ASSERT_TRUE(log->Close());
    ASSERT_GT(recorded, 1000u);
    ReplayOptions o;
    o.dir = dir.path + "/audit";
    ReplayReport r;
    ASSERT_TRUE(Replay(o, &r, &err)) << err;
    EXPECT_EQ(r.records, recorded);
    EXPECT_EQ(r.failed, 0u) << ReportText(r);
    EXPECT_EQ(r.mismatched, 0u) << r.first_mismatch.field << "\n" << r.first_mismatch.recorded << "\n"
                                << r.first_mismatch.replayed;
    EXPECT_GT(r.identical, recorded / 4) << ReportText(r);
    EXPECT_EQ(r.identical + r.not_replayable, recorded);
  }
}

// A field the policy's schema extension declares is an input the policy
// reads: kept as received (replay decodes it), even inside a member the
// allow-list otherwise omits (`metadata`).
TEST(AuditContentRetention, SchemaExtensionFieldsAreKept) {
  TempDir dir;
  WriteAll(dir.path + "/ext.json",
           R"({"fields": [{"path": "request.project", "type": "string", "scope": "request"},)"
           R"( {"path": "request.metadata.team", "type": "string", "scope": "request"}]})");
  WriteAll(dir.path + "/p.tg",
           "policy \"p\" retain content none\nschema \"ext.json\"\n"
           "rule proj { when (request.project ?? \"\") == \"apollo\" and (request.metadata.team ?? \"\") == \"blue\" deny 403 \"no\" }\n");
  auto p = MustCompile(dir.path + "/p.tg");
  ASSERT_TRUE(p);
  std::string err;
  auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), p, "", "");
    vm::Decision d;
    ASSERT_NE(rec.Decide(Input(R"("project":"apollo","metadata":{"team":"blue"},"user":"MkNote",)"
                               R"("messages":[{"role":"user","content":"hi"}])"),
                         &d).seq, 0u);
    EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  }
  ASSERT_TRUE(log->Close());
  std::string bytes;
  for (const auto& e : fs::directory_iterator(dir.path + "/audit"))
    if (e.path().extension() == ".jsonl") bytes += ReadAll(e.path());
  EXPECT_NE(bytes.find(R"("project":"apollo","metadata":{"team":"blue"},"user":"")"), std::string::npos) << bytes;
  EXPECT_EQ(bytes.find("MkNote"), std::string::npos);
  ReplayOptions o;
  o.dir = dir.path + "/audit";
  ReplayReport r;
  ASSERT_TRUE(Replay(o, &r, &err)) << err;
  EXPECT_EQ(r.identical, 1u) << ReportText(r);
}

// Replay rebuilds a record's input with the allow-list of the schema it was
// recorded with: a field a schema extension adds to the body is kept as
// received -- an empty string included -- where the standard schema's
// allow-list has a member tollgate does not know (a text).
TEST(AuditContentRetention, ReplayUsesTheRecordsSchema) {
  TempDir dir;
  WriteAll(dir.path + "/ext.json",
           R"({"fields": [{"path": "request.project", "type": "string", "scope": "request"}]})");
  WriteAll(dir.path + "/p.tg",
           "policy \"p\" retain content none\nschema \"ext.json\"\n"
           "rule proj { when (request.project ?? \"absent\") == \"\" tag project = \"empty\" }\n"
           "rule count { when request.input_tokens > 0 tag tokens = \"{request.input_tokens}\" }\n");
  auto p = MustCompile(dir.path + "/p.tg");
  ASSERT_TRUE(p);
  std::string err;
  auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), p, "", "");
    vm::Decision d;
    ASSERT_NE(rec.Decide(Input(R"("project":"","prompt":"MkPrompt a prompt of some length",)"
                               R"("messages":[{"role":"user","content":"hi"}])"),
                         &d).seq, 0u);
    ASSERT_EQ(d.tags.size(), 2u);
  }
  ASSERT_TRUE(log->Close());
  ReplayOptions o;
  o.dir = dir.path + "/audit";
  ReplayReport r;
  ASSERT_TRUE(Replay(o, &r, &err)) << err;
  EXPECT_EQ(r.identical, 1u) << ReportText(r) << r.first_mismatch.field << "\n" << r.first_mismatch.recorded
                             << "\n" << r.first_mismatch.replayed;
}

// The compiled tree: rule nodes and schema fields where their paths say,
// for the standard schema and for one with many more fields (the tree's
// nodes move while it grows).
TEST(AuditContentRetention, AllowListTree) {
  stdlib::Schema big = stdlib::Schema::Standard();
  std::string ext = R"({"fields": [)";
  for (int i = 0; i < 60; ++i)
    ext += std::string(i ? "," : "") + R"({"path": "request.ext)" + std::to_string(i) +
           R"(.leaf", "type": "string", "scope": "request"})";
  ext += "]}";
  std::string err;
  ASSERT_TRUE(big.AddFromJson(ext, &err)) << err;
  auto bigger = internal::AllowList::Of(big);
  for (const internal::AllowList* l : {&internal::AllowList::Standard(), bigger.get()}) {
    using S = internal::AllowList::Scalar;
    const int request = l->Member(0, "request");
    ASSERT_GE(request, 0);
    EXPECT_TRUE(l->nodes[request].open);
    const int model = l->Member(request, "model");
    ASSERT_GE(model, 0);
    EXPECT_TRUE(l->nodes[model].field);
    const int tool = l->Element(l->Member(request, "tools"));
    ASSERT_GE(tool, 0);
    EXPECT_TRUE(l->nodes[tool].rule && l->nodes[tool].open && l->nodes[tool].scalar == S::kKeep);
    const int custom = l->Member(tool, "custom");  // any member: `*`
    ASSERT_GE(custom, 0);
    EXPECT_EQ(l->nodes[l->Member(custom, "name")].scalar, S::kKeep);
    // A schema is walked: its strings are texts, the ones below `type` masked.
    const int schema = l->Member(tool, "parameters");
    ASSERT_GE(schema, 0);
    EXPECT_TRUE(l->nodes[schema].open && l->nodes[schema].scalar == S::kText);
    EXPECT_EQ(l->Member(l->Member(schema, "properties"), "x"), schema);
    EXPECT_EQ(l->nodes[l->Member(schema, "type")].scalar, S::kMask);
    const int part = l->Element(l->Member(l->Element(l->Member(request, "messages")), "content"));
    ASSERT_GE(part, 0);
    EXPECT_EQ(l->nodes[l->Member(part, "text")].scalar, S::kText);
    EXPECT_EQ(l->Member(l->Member(part, "image_url"), "url"), -1);  // no node: omitted
    // A known body member without a rule is replaced whole; an unknown one
    // (and an unknown message member) is walked: its strings are texts.
    const int tier = l->Member(request, "verbosity");
    ASSERT_GE(tier, 0);
    EXPECT_TRUE(l->nodes[tier].rule && !l->nodes[tier].open && l->nodes[tier].scalar == S::kOmit);
    // The caller's free-form parameters: walked, texts from format 6 on.
    for (const char* name : {"user", "stop", "safety_identifier", "prompt_cache_key"}) {
      const int n = l->Member(request, name);
      ASSERT_GE(n, 0) << name;
      EXPECT_TRUE(l->nodes[n].open && l->nodes[n].scalar == S::kText && l->nodes[n].since == 6) << name;
      EXPECT_EQ(l->Element(n), n) << name;
    }
    const int unknown = l->unknown_node;
    ASSERT_GE(unknown, 0);
    EXPECT_TRUE(l->nodes[unknown].open && l->nodes[unknown].scalar == S::kText && l->nodes[unknown].since == 4);
    EXPECT_EQ(l->Member(request, "metadata"), unknown);
    EXPECT_EQ(l->Member(request, "documents"), unknown);
    EXPECT_EQ(l->Element(l->Member(unknown, "x")), unknown);
    const int message = l->Element(l->Member(request, "messages"));
    EXPECT_EQ(l->Member(message, "reasoning_content"), unknown);
    EXPECT_EQ(l->nodes[l->Member(message, "audio")].scalar, S::kOmit);
    EXPECT_NE(l->Member(message, "audio"), unknown);
    // A part's other members are walked (format 5): strings texts, names masked.
    const int in_part = l->Member(part, "x_note");
    ASSERT_GE(in_part, 0);
    EXPECT_EQ(in_part, l->part_unknown_node);
    EXPECT_TRUE(l->nodes[in_part].open && l->nodes[in_part].scalar == S::kText && l->nodes[in_part].since == 5);
    EXPECT_EQ(l->nodes[l->Member(part, "signature")].scalar, S::kOmit);
    EXPECT_EQ(l->nodes[l->Member(l->Member(part, "source"), "type")].scalar, S::kEnum);
  }
  const int ext7 = bigger->Member(bigger->Member(0, "request"), "ext7");
  ASSERT_GE(ext7, 0);
  EXPECT_TRUE(bigger->nodes[ext7].open);
  EXPECT_TRUE(bigger->nodes[bigger->Member(ext7, "leaf")].field);
}

// Credentials are still removed under every mode (before the allow-list).
TEST(AuditContentRetention, CredentialsStillRemoved) {
  for (const char* mode : {"full", "hash", "none"}) {
    Logged g = Record(mode, {Input(R"("messages":[{"role":"user","content":"hi"}],"api_key":"MkCredential")")});
    ASSERT_TRUE(g.recorded);
    EXPECT_EQ(g.bytes.find("MkCredential"), std::string::npos) << mode;
    EXPECT_NE(g.bytes.find("\"scrubbed\":[\"request.api_key\"]"), std::string::npos) << mode << g.bytes;
  }
}

// ---- The size of content.omitted (internal::kMaxListed) ----

// A request with `n` numbers (0, 1, ..., n-1) in one array: in a tool's
// schema (an enum, request.tools[].function.parameters) or in a body member
// tollgate does not know. Every number is an omitted value.
// (`properties` and `enum` are masked member names inside a schema, `n` too.)
constexpr const char* kEnumPath = "request.tools[0].function.parameters.__________._.____";
constexpr const char* kUnknownPath = "request.x_numbers";
std::string Numbers(size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(i);
  return s + "]";
}
std::string ManyNumbers(bool in_schema, size_t n) {
  const std::string msg = R"("messages":[{"role":"user","content":"hi"}],)";
  if (in_schema)
    return Input(msg + R"("tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"n":{"type":"number","enum":)" +
                 Numbers(n) + "}}}}}]");
  return Input(msg + R"("x_numbers":)" + Numbers(n));
}
// The bytes and the HMAC of content.omitted_rest for numbers `from`..n-1 at
// `path`[i]: each value's path and text, each as its length in decimal, ':',
// then itself (docs/audit.md).
std::pair<uint64_t, std::string> RestOf(const std::string& key, const std::string& path, size_t from, size_t n) {
  uint64_t bytes = 0;
  std::string framed;
  for (size_t i = from; i < n; ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]", v = std::to_string(i);
    bytes += v.size();
    framed += std::to_string(p.size()) + ":" + p + std::to_string(v.size()) + ":" + v;
  }
  return {bytes, internal::HmacSha256Hex(key, framed)};
}

std::string DecisionLine(const std::string& bytes) {
  size_t at = bytes.rfind("{\"kind\":\"decision\"");
  return at == std::string::npos ? "" : bytes.substr(at, bytes.find('\n', at) - at);
}

// 200,000 numbers in a tool schema and in an unknown member, under hash and
// none: the record line stays within twice the input and 256 KiB (the first
// kMaxListed values listed, ~100-170 bytes each); the rest are one
// summary with their count, bytes and (hash) an HMAC the test recomputes;
// the record replays as identical. Before the cap the line was ~25 times
// the input (one path and HMAC per number: 31.9 MB for 1.29 MB).
TEST(AuditContentRetention, ManyOmittedValuesAreSummedUpWithinABound) {
  constexpr size_t kN = 200000;
  for (bool in_schema : {true, false}) {
    const std::string in = ManyNumbers(in_schema, kN);
    const std::string path = in_schema ? kEnumPath : kUnknownPath;
    for (const char* mode : {"hash", "none"}) {
      SCOPED_TRACE(path + " " + mode);
      Logged g = Record(mode, {in});
      ASSERT_TRUE(g.recorded);
      const std::string line = DecisionLine(g.bytes);
      EXPECT_LE(line.size(), 2 * in.size() + (256u << 10)) << "input " << in.size();
      EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
      rapidjson::Document content = Member(g.bytes, "content");
      ASSERT_TRUE(content.IsObject());
      const auto& listed = content["omitted"];
      ASSERT_EQ(listed.Size(), internal::kMaxListed);
      EXPECT_EQ(std::string(listed[0]["path"].GetString()), path + "[0]");
      EXPECT_EQ(std::string(listed[999]["path"].GetString()), path + "[999]");
      EXPECT_EQ(listed[999]["bytes"].GetUint64(), 3u);
      ASSERT_TRUE(content.HasMember("omitted_rest"));
      const auto& rest = content["omitted_rest"];
      EXPECT_EQ(rest["count"].GetUint64(), kN - internal::kMaxListed);
      const auto [bytes, hmac] = RestOf(g.key, path, internal::kMaxListed, kN);
      EXPECT_EQ(rest["bytes"].GetUint64(), bytes);
      if (std::string(mode) == "hash") {
        ASSERT_TRUE(rest.HasMember("hmac"));
        EXPECT_EQ(rest["hmac"].GetString(), hmac);
        EXPECT_EQ(listed[999]["hmac"].GetString(), internal::HmacSha256Hex(g.key, "999"));
      } else {
        EXPECT_FALSE(rest.HasMember("hmac"));
      }
    }
  }
}

// `n` one-character strings in a body member tollgate does not know: each
// is a text (format 4) with a length and, under hash, an HMAC.
std::string ManyWords(size_t n) {
  std::string s = R"("messages":[{"role":"user","content":"hi"}],"x_words":[)";
  for (size_t i = 0; i < n; ++i) s += std::string(i ? "," : "") + '"' + static_cast<char>('a' + i % 26) + '"';
  return Input(s + "]");
}

// 100,000 such strings: the text HMACs past the first kMaxListed are one
// hmac_rest (count, and an HMAC over each text as its length, ':', itself);
// `lengths` keeps every text (replay needs each); the line stays within
// twice the input and 256 KiB and replays as identical. Before, each text
// had its 67-byte HMAC: 7.2 MB for 0.4 MB of input.
TEST(AuditContentRetention, ManyTextHmacsAreSummedUpWithinABound) {
  constexpr size_t kN = 100000;
  const std::string in = ManyWords(kN);
  for (const char* mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {in});
    ASSERT_TRUE(g.recorded);
    EXPECT_LE(DecisionLine(g.bytes).size(), 2 * in.size() + (256u << 10)) << "input " << in.size();
    EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
    rapidjson::Document content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject());
    EXPECT_EQ(content["lengths"].Size(), kN + 1);  // "hi", then the words
    if (std::string(mode) == "none") {
      EXPECT_FALSE(content.HasMember("hmac"));
      EXPECT_FALSE(content.HasMember("hmac_rest"));
      continue;
    }
    ASSERT_EQ(content["hmac"].Size(), internal::kMaxListed);
    EXPECT_EQ(content["hmac"][0].GetString(), internal::HmacSha256Hex(g.key, "hi"));
    // The last one listed is word 998 (the 1000th text).
    EXPECT_EQ(content["hmac"][999].GetString(), internal::HmacSha256Hex(g.key, std::string(1, 'a' + 998 % 26)));
    ASSERT_TRUE(content.HasMember("hmac_rest"));
    EXPECT_EQ(content["hmac_rest"]["count"].GetUint64(), kN + 1 - internal::kMaxListed);
    std::string framed;
    for (size_t i = internal::kMaxListed - 1; i < kN; ++i) framed += "1:" + std::string(1, 'a' + i % 26);
    EXPECT_EQ(content["hmac_rest"]["hmac"].GetString(), internal::HmacSha256Hex(g.key, framed));
  }
}

// A long member name repeats in the path of every value below it: the
// paths of `omitted` and `scrubbed` are listed until kMaxListedPathBytes of
// them (then one more path at most), the rest counted -- under full too,
// where only the credentials are cut out. Before, 1,000 values under a
// 20,000-byte name made 20 MB of paths in each list.
TEST(AuditContentRetention, LongPathsAreListedUntilTheirByteLimit) {
  const std::string name = "x_" + std::string(20000, 'n');
  std::string values;
  for (size_t i = 0; i < 1000; ++i) values += std::string(i ? "," : "") + R"({"password":"p","n":1})";
  const std::string in = Input(R"("messages":[{"role":"user","content":"hi"}],")" + name + R"(":[)" + values + "]");
  // 20,000 + 21 bytes a path: three are under 64 KiB, the fourth goes over.
  constexpr size_t kListed = 4;
  for (const char* mode : {"full", "hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {in});
    ASSERT_TRUE(g.recorded);
    EXPECT_LE(DecisionLine(g.bytes).size(), 3 * in.size() + (256u << 10)) << "input " << in.size();
    EXPECT_EQ(g.replay.identical, 1u) << ReportText(g.replay);
    rapidjson::Document content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject());
    ASSERT_EQ(content["scrubbed"].Size(), kListed);
    EXPECT_EQ(content["scrubbed"][3].GetString(), "request." + name + "[3].password");
    EXPECT_EQ(content["scrubbed_rest"].GetUint64(), 1000 - kListed);
    if (std::string(mode) == "full") {
      EXPECT_FALSE(content.HasMember("omitted"));
      continue;
    }
    ASSERT_EQ(content["omitted"].Size(), kListed);
    EXPECT_EQ(content["omitted"][3]["path"].GetString(), "request." + name + "[3]._");
    EXPECT_EQ(content["omitted_rest"]["count"].GetUint64(), 1000 - kListed);
    EXPECT_EQ(content["omitted_rest"]["bytes"].GetUint64(), 1000 - kListed);
  }
}

// At the limit every omitted value is listed and there is no summary; one
// past it, the last one is the summary's.
TEST(AuditContentRetention, OmittedListAtAndPastItsLimit) {
  for (ast::Retention mode : {ast::Retention::kHash, ast::Retention::kNone}) {
    for (size_t n : {internal::kMaxListed, internal::kMaxListed + 1}) {
      SCOPED_TRACE(std::to_string(n));
      std::string input, content;
      ASSERT_TRUE(internal::PrepareInput(ManyNumbers(false, n), mode, "k", nullptr, &input, &content));
      rapidjson::Document c;
      c.Parse(content.c_str());
      ASSERT_TRUE(c.IsObject()) << content;
      EXPECT_EQ(c["omitted"].Size(), internal::kMaxListed);
      if (n == internal::kMaxListed) {
        EXPECT_FALSE(c.HasMember("omitted_rest")) << content;
        continue;
      }
      ASSERT_TRUE(c.HasMember("omitted_rest")) << content.substr(content.size() - 300);
      EXPECT_EQ(c["omitted_rest"]["count"].GetUint64(), 1u);
      EXPECT_EQ(c["omitted_rest"]["bytes"].GetUint64(), 4u);  // "1000"
      if (mode == ast::Retention::kHash) {
        EXPECT_EQ(c["omitted_rest"]["hmac"].GetString(), internal::HmacSha256Hex("k", "23:request.x_numbers[1000]4:1000"));
      }
    }
  }
}

// A record as the writer wrote it before the cap (every omitted value and
// text HMAC listed, no omitted_rest or hmac_rest: the same content format)
// still replays as identical; replay reads `lengths` and `format`, never
// `omitted` or `hmac`.
TEST(AuditContentRetention, RecordsListingEveryOmittedValueStillReplay) {
  constexpr size_t kN = 5000;
  Options every;
  every.max_listed = every.max_listed_path_bytes = std::numeric_limits<size_t>::max();
  for (const char* mode : {"hash", "none"}) {
    SCOPED_TRACE(mode);
    Logged g = Record(mode, {ManyNumbers(true, kN), ManyWords(kN)}, "", every);
    ASSERT_TRUE(g.recorded);
    EXPECT_EQ(g.replay.identical, 2u) << ReportText(g.replay);
    const std::string numbers = g.bytes.substr(0, g.bytes.rfind("{\"kind\":\"decision\""));
    rapidjson::Document content = Member(numbers, "content");
    ASSERT_TRUE(content.IsObject());
    EXPECT_EQ(content["format"].GetInt(), internal::kContentFormat);
    EXPECT_EQ(content["omitted"].Size(), kN);
    EXPECT_FALSE(content.HasMember("omitted_rest"));
    content = Member(g.bytes, "content");
    ASSERT_TRUE(content.IsObject());
    EXPECT_EQ(content["lengths"].Size(), kN + 1);
    if (std::string(mode) == "hash") {
      EXPECT_EQ(content["hmac"].Size(), kN + 1);
    }
    EXPECT_FALSE(content.HasMember("hmac_rest"));
  }
}

// A small request's record is byte for byte what it was before the cap
// (pinned from the writer before it; since, "format" moved to 6 and `user`
// became a text: its length and HMAC joined the texts'):
// the common case does not change.
TEST(AuditContentRetention, SmallRecordIsUnchanged) {
  const std::string in = Input(
      R"("messages":[{"role":"user","name":"bob","content":[{"type":"text","text":"hi there"},{"type":"image_url","image_url":{"url":"https://x.example/a.png","detail":"low"}}]}],)"
      R"("tools":[{"type":"function","function":{"name":"lookup","description":"find","parameters":{"type":"object","properties":{"q":{"type":"string","maxLength":64,"enum":[1,2.5,"x"]}},"required":["q"]}}}],)"
      R"("user":"u-1","logit_bias":{"50256":-100},"top_p":0.5,"metadata":{"team":"red","n":7,"ok":true})");
  const std::string kInput =
      R"pin({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":10,"messages":[{"role":"user","name":"","content":[{"type":"text","text":""},{"type":"image_url","image_url":{"url":"","detail":"low"}}]}],"tools":[{"type":"function","function":{"name":"lookup","description":"","parameters":{"type":"______","__________":{"_":{"type":"______","_________":0,"____":[0,0,""]}},"required":["_"]}}}],"user":"","logit_bias":{},"top_p":0.5,"metadata":{"____":"","_":0,"__":false}}})pin";
  const std::string kHashContent =
      R"pin({"retain":"hash","format":6,"lengths":[3,8,4,1,3,3],"hmac":["73662dcee4acad8d3d983bf08054fe565e2daf9ea4d9b6b02b94564ed55077e4","eaf28f58b3f258f1d75fc0d2d0f1b226f9555675d94be77a8aec7eff93eebe97","d21e10dda9eb34ec9901622eb6e01b73214a483495d9f4f9afae6728aa15e4d9","c38edc8815c8489f64738978f44008f8596345545f0baa68ef6fcf5c53e57189","00d01e9947a7d9b071652f1faee0c6df72a8ee179ef24a1ba3322f7961270044","6d4eac0656accc157b9ef65406e36443d29adbb27b8173b39cc6efc495c350a1"],"detectors":{},"omitted":[{"path":"request.messages[0].content[1].image_url.url","bytes":23,"hmac":"13e284c882c7e1171c22a90df7673ce7bd4f5b5148be1951d1bce84d64e585bf"},{"path":"request.tools[0].function.parameters.__________._._________","bytes":2,"hmac":"cd5d63572ff796762b329de45422ff14a5a187da198b8f99f1321313d6c8d334"},{"path":"request.tools[0].function.parameters.__________._.____[0]","bytes":1,"hmac":"0aa2054d88556d7e5df6e54b00683dae80bbd4266a5d1cbc89abacbf856ad862"},{"path":"request.tools[0].function.parameters.__________._.____[1]","bytes":3,"hmac":"9a8731329f24a2a964bdb7940eb716ff1bb34129aa54f441605d56bcf3ebab33"},{"path":"request.logit_bias","bytes":14,"hmac":"9a0872f7383fd8a45dbd13aeb7330d4a6505a02b162a90b5137e507e0c9dac05"},{"path":"request.metadata._","bytes":1,"hmac":"9c737d163bcd1315bb695b00262e3ba4487ae2670bb2b0e6b8ee7f6ad354215a"},{"path":"request.metadata.__","bytes":4,"hmac":"0694304f2e818c63ded4a0752b7e5c0150eb1dd5da6210a25fec68854ea72de0"}],"scrubbed":[]})pin";
  const std::string kNoneContent =
      R"pin({"retain":"none","format":6,"lengths":[3,8,4,1,3,3],"omitted":[{"path":"request.messages[0].content[1].image_url.url","bytes":23},{"path":"request.tools[0].function.parameters.__________._._________","bytes":2},{"path":"request.tools[0].function.parameters.__________._.____[0]","bytes":1},{"path":"request.tools[0].function.parameters.__________._.____[1]","bytes":3},{"path":"request.logit_bias","bytes":14},{"path":"request.metadata._","bytes":1},{"path":"request.metadata.__","bytes":4}],"scrubbed":[]})pin";
  std::string input, content;
  ASSERT_TRUE(internal::PrepareInput(in, ast::Retention::kHash, "k", nullptr, &input, &content));
  EXPECT_EQ(input, kInput);
  EXPECT_EQ(content, kHashContent);
  ASSERT_TRUE(internal::PrepareInput(in, ast::Retention::kNone, "k", nullptr, &input, &content));
  EXPECT_EQ(input, kInput);
  EXPECT_EQ(content, kNoneContent);
}

}  // namespace
}  // namespace tollgate::audit::testing
