// Streamed answers through the server on a loopback port, against an
// upstream scripted byte for byte (testkit::ScriptedUpstream): what the
// client receives, the decision record's `gateway` member, and /metrics.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/audit/reader.h"

#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace http = boost::beast::http;
using testkit::HttpChunk;
using testkit::kLastChunk;
using testkit::SseHead;

// One chunk event whose first choice carries `delta` (a JSON object).
std::string Delta(const std::string& delta, const std::string& finish = "null") {
  return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\","
         "\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":" + finish + "}]}\n\n";
}
const char kDone[] = "data: [DONE]\n\n";

class StreamTest : public ::testing::Test {
 protected:
  // The gateway in front of an upstream that answers every request with
  // `response` (then closes, or with `hold` keeps the connection open).
  void Start(const std::string& response, bool hold = false, uint64_t max_response_bytes = 16u << 20) {
    up_ = std::make_unique<testkit::ScriptedUpstream>(response, hold);
    dir_ = testkit::MakeTempDir("stream");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\n");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").BaseUrl(up_->base_url())}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    Config cfg = testkit::DirConfig(dir_);
    cfg.upstream.max_attempts = 1;
    // Long enough that an answer that waits for it is plainly late, short
    // enough that a failing test ends.
    cfg.upstream.idle_timeout_ms = 10'000;
    cfg.upstream.max_response_bytes = max_response_bytes;
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    gw_.Stop();
    up_.reset();
    testkit::RemoveDir(dir_);
  }

  testkit::HttpAnswer Chat(const std::string& body,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Authorization", std::string("Bearer ") + testkit::kSecret);
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body, headers);
  }
  testkit::HttpAnswer Stream(std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Chat(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                    "max_tokens": 50})", std::move(headers));
  }
  // Stream() with the caller's `stream_options.include_usage` (two relay
  // paths) when `include_usage`.
  testkit::HttpAnswer StreamAskingUsage(bool include_usage) {
    return Chat(std::string(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}],
                               "stream": true, "max_tokens": 50)") +
                (include_usage ? R"(, "stream_options": {"include_usage": true}})" : "}"));
  }

  // The `gateway` member of the answer's decision record.
  rapidjson::Document Record(const testkit::HttpAnswer& a) {
    rapidjson::Document d;
    auto id = a.headers.find("x-tollgate-decision-id");
    EXPECT_NE(id, a.headers.end()) << a.body;
    if (id == a.headers.end()) return d;
    const std::string line = testkit::DecisionRecord(dir_ + "/audit", id->second);
    EXPECT_FALSE(line.empty()) << "no record " << id->second;
    rapidjson::Document rec;
    rec.Parse(line.data(), line.size());
    if (rec.IsObject() && rec.HasMember("gateway")) d.CopyFrom(rec["gateway"], d.GetAllocator());
    EXPECT_TRUE(d.IsObject()) << line;
    return d;
  }
  static int64_t Int(const rapidjson::Document& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsInt64() ? g[name].GetInt64() : -1;
  }
  static std::string Str(const rapidjson::Document& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsString() ? g[name].GetString() : "";
  }
  static bool Bool(const rapidjson::Document& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsBool() && g[name].GetBool();
  }
  std::string Metrics() {
    return testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "").body;
  }

  std::unique_ptr<testkit::ScriptedUpstream> up_;
  std::string dir_;
  testkit::LoopbackServer gw_;
};

// Without a usage chunk every kind of delta text is estimated, as in a
// non-streamed answer: content, reasoning, refusal, tool-call and legacy
// function-call arguments. 4,000 + 4 + 8 + 4 + 4 + 4 bytes = 1,006 tokens.
std::string ToolCallDeltas() {
  std::string s = Delta(R"({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1",)"
                        R"("type":"function","function":{"name":"get_weather","arguments":""}}]})");
  for (int i = 0; i < 10; ++i) {
    s += Delta(R"({"tool_calls":[{"index":0,"function":{"arguments":")" + std::string(400, 'a') + "\"}}]}");
  }
  s += Delta(R"({"content":"abcd"})") + Delta(R"({"reasoning_content":"thinking"})") +
       Delta(R"({"reasoning":"hmm."})") + Delta(R"({"refusal":"nope"})") +
       Delta(R"({"function_call":{"arguments":"{\"a\""}})");
  return s;
}

TEST_F(StreamTest, ToolCallsWithoutUsageAreEstimatedLikeANonStreamedAnswer) {
  Start(SseHead() + HttpChunk(ToolCallDeltas()) + HttpChunk(Delta("{}", "\"tool_calls\"")) + HttpChunk(kDone) +
        kLastChunk);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.headers.count("Date"), 1u);  // a stream's head is dated as every answer is
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "stream_complete"));
  EXPECT_TRUE(Bool(g, "usage_estimated"));
  EXPECT_EQ(Int(g, "completion_tokens"), 1006);
}

// An event of 1.5 MiB (one delta of 1.5 MiB of text, no usage chunk) is
// counted like any other. Before: a data line was cut at 1 MiB, the cut line
// did not parse, and the stream was settled at 0 completion tokens.
TEST_F(StreamTest, ALargeEventIsCounted) {
  const size_t n = 3u << 19;  // 1.5 MiB
  Start(SseHead() + HttpChunk(Delta(R"({"content":")" + std::string(n, 'a') + "\"}")) + HttpChunk(kDone) +
        kLastChunk);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200);
  EXPECT_GT(a.body.size(), n);  // relayed whole
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "stream_complete"));
  EXPECT_TRUE(Bool(g, "usage_estimated"));
  EXPECT_EQ(Int(g, "completion_tokens"), static_cast<int64_t>(n / 4));
  EXPECT_FALSE(Bool(g, "event_too_large"));
}

// An event over upstream.max_response_bytes is relayed but not parsed: the
// completion is unknown, so it is charged at the worst case (max_tokens 50
// at 1 usd per million: 0.00005 besides the prompt), and the record and
// /metrics say why. Before: counted from its text (or, over 1 MiB, as 0).
TEST_F(StreamTest, AnEventOverTheLimitIsChargedAtTheWorstCase) {
  const size_t n = 100'000;
  Start(SseHead() + HttpChunk(Delta(R"({"content":")" + std::string(n, 'a') + "\"}")) + HttpChunk(kDone) +
            kLastChunk,
        false, 64 * 1024);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200);
  EXPECT_GT(a.body.size(), n);  // relayed whole
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "stream_complete"));
  EXPECT_TRUE(Bool(g, "event_too_large"));
  EXPECT_TRUE(Bool(g, "usage_estimated"));
  EXPECT_EQ(Int(g, "completion_tokens"), -1);  // unknown: not in the record
  EXPECT_NE(Metrics().find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="event_too_large"} 1)"),
            std::string::npos);
  // A usage chunk, when one comes, still says what was generated.
  gw_.Stop();
  up_.reset();
  testkit::RemoveDir(dir_);
  const std::string usage =
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7}}\n\n";
  Start(SseHead() + HttpChunk(Delta(R"({"content":")" + std::string(n, 'a') + "\"}")) + HttpChunk(usage) +
            HttpChunk(kDone) + kLastChunk,
        false, 64 * 1024);
  a = Stream();
  ASSERT_EQ(a.status, 200);
  g = Record(a);
  EXPECT_TRUE(Bool(g, "event_too_large"));
  EXPECT_EQ(Int(g, "completion_tokens"), 7);
  EXPECT_FALSE(Bool(g, "usage_estimated"));
}

TEST_F(StreamTest, ACutToolCallStreamIsChargedAtWhatWasDelivered) {
  Start(SseHead() + HttpChunk(ToolCallDeltas()));  // then the connection closes
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_FALSE(Bool(g, "stream_complete"));
  EXPECT_EQ(Str(g, "error"), "upstream_stream_cut");
  EXPECT_EQ(Int(g, "completion_tokens"), 1006);
  EXPECT_NE(a.body.find(R"("code":"upstream_stream_cut")"), std::string::npos) << a.body;
  // A failed upstream, as a failed attempt is.
  EXPECT_NE(Metrics().find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="stream_cut"} 1)"),
            std::string::npos);
}

// The events a client's SSE parser reads from `body` (blank-line separated,
// `data:` lines joined by "\n", comments and other fields left out), as
// the SDKs read them; `rest`: bytes after the last blank line.
std::vector<std::string> SseData(const std::string& body, std::string* rest) {
  std::vector<std::string> events;
  std::string data;
  bool any = false;
  size_t at = 0;
  for (size_t nl; (nl = body.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::string line = body.substr(at, nl - at);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (any) events.push_back(data);
      data.clear();
      any = false;
    } else if (line.rfind("data:", 0) == 0) {
      std::string v = line.substr(5);
      if (!v.empty() && v[0] == ' ') v.erase(0, 1);
      data += (any ? "\n" : "") + v;
      any = true;
    }
  }
  *rest = body.substr(at);
  return events;
}

// An upstream that dies in the middle of an event (a connection reset
// part-way through a chunk): the client must not get the torn event glued
// to the gateway's error event, which no SDK can parse (openai-node throws
// a SyntaxError instead of the APIError upstream_stream_cut). Every event
// the client reads is JSON, the last one the gateway's error; with and
// without the caller's include_usage (two relay paths).
TEST_F(StreamTest, AStreamCutInsideAnEventEndsWithAParsableErrorEvent) {
  const std::string torn = Delta(R"({"content":" there, how are you"})");
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) +
        HttpChunk(torn.substr(0, 60)));  // then the connection closes
  for (const bool usage : {false, true}) {
    testkit::HttpAnswer a = StreamAskingUsage(usage);
    ASSERT_EQ(a.status, 200) << a.body;
    std::string rest;
    const std::vector<std::string> events = SseData(a.body, &rest);
    EXPECT_EQ(rest, "") << a.body;
    ASSERT_EQ(events.size(), 2u) << a.body;
    for (const std::string& e : events) {
      rapidjson::Document d;
      d.Parse(e.data(), e.size());
      EXPECT_FALSE(d.HasParseError()) << "usage " << usage << ": not JSON: " << e;
    }
    EXPECT_NE(events.back().find(R"("code":"upstream_stream_cut")"), std::string::npos) << a.body;
    rapidjson::Document g = Record(a);
    EXPECT_FALSE(Bool(g, "stream_complete"));
    EXPECT_EQ(Str(g, "error"), "upstream_stream_cut");
  }
}

// Cut after a whole data line but before its blank line: that event is
// whole, so it reaches the client as an event of its own, then the error.
TEST_F(StreamTest, AStreamCutBeforeAnEventsBlankLineDeliversTheEvent) {
  std::string last = Delta(R"({"content":" there"})");
  last.pop_back();  // "data: {...}\n": the blank line never comes
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) + HttpChunk(last));
  for (const bool usage : {false, true}) {
    testkit::HttpAnswer a = StreamAskingUsage(usage);
    ASSERT_EQ(a.status, 200) << a.body;
    std::string rest;
    const std::vector<std::string> events = SseData(a.body, &rest);
    ASSERT_EQ(events.size(), 3u) << a.body;
    EXPECT_NE(events[1].find(R"("content":" there")"), std::string::npos) << a.body;
    EXPECT_NE(events[2].find(R"("code":"upstream_stream_cut")"), std::string::npos) << a.body;
  }
}

// The non-streamed estimate counts the same members (one list for both).
TEST_F(StreamTest, ANonStreamedAnswerWithoutUsageCountsReasoningToo) {
  const std::string body =
      R"({"id":"c","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":)"
      R"({"role":"assistant","content":"abc","reasoning_content":")" + std::string(400, 'r') +
      R"("},"finish_reason":"stop"}]})";
  Start("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body);
  testkit::HttpAnswer a = Chat(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "usage_estimated"));
  EXPECT_EQ(Int(g, "completion_tokens"), 102);  // (3 + 1 + 400 + 1 + 3) / 4
}

// [DONE] ends the stream: an upstream that keeps its body open after it
// (its last chunk late or never) does not hold the answer until the idle
// timeout (10 s here), nor is the stream recorded as cut.
TEST_F(StreamTest, DoneEndsTheStreamEvenIfTheUpstreamBodyStaysOpen) {
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) +
            HttpChunk(Delta("{}", "\"stop\"")) + HttpChunk(kDone),
        /*hold=*/true);
  for (int i = 0; i < 2; ++i) {  // the second: the open connection was not reused
    testkit::HttpAnswer a = Stream();
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_NE(a.body.find("data: [DONE]\n\n"), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("upstream_stream_cut"), std::string::npos) << a.body;
    rapidjson::Document g = Record(a);
    EXPECT_TRUE(Bool(g, "stream_complete"));
    EXPECT_EQ(Str(g, "error"), "");
    EXPECT_EQ(Int(g, "completion_tokens"), 1);  // "Hi", estimated: no usage chunk
  }
  EXPECT_EQ(up_->requests(), 2);
}

// A [DONE] line whose blank line never comes still reaches the client as a
// whole event.
TEST_F(StreamTest, ADoneEventCutBeforeItsBlankLineIsCompletedForTheClient) {
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) + HttpChunk("data: [DONE]\n"));
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body.substr(a.body.size() - 14), "data: [DONE]\n\n") << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "stream_complete"));
}

// An upstream's error event ends the stream: relayed as it came (the SDKs
// throw it), nothing added, recorded as failed and counted, even when the
// upstream then keeps its connection open.
TEST_F(StreamTest, AnUpstreamErrorEventIsAFailedStream) {
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) +
            HttpChunk(R"(data: {"error":{"message":"overloaded","type":"server_error","code":"overloaded"}})"
                      "\n\n"),
        /*hold=*/true);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find(R"(data: {"error":{"message":"overloaded")"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("upstream_stream_cut"), std::string::npos) << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_FALSE(Bool(g, "stream_complete"));
  EXPECT_EQ(Str(g, "error"), "upstream_stream_error");
  EXPECT_NE(Metrics().find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="stream_error"} 1)"),
            std::string::npos);
}

// A non-streamed answer cut part-way is counted too.
TEST_F(StreamTest, ACutNonStreamedAnswerIsCounted) {
  Start("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\": \"c\", \"choices\": [");
  testkit::HttpAnswer a = Chat(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_NE(a.body.find(R"("code":"upstream_failed")"), std::string::npos) << a.body;
  EXPECT_NE(Metrics().find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="answer_cut"} 1)"),
            std::string::npos);
}

std::string JsonAnswer(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// An upstream that answers a stream with a whole JSON completion: the
// client gets that answer as the events of its stream (the SDKs read a
// streamed request's body as events whatever its type), settled at the
// answer's usage.
TEST_F(StreamTest, AJsonAnswerToAStreamIsSentAsEvents) {
  Start(JsonAnswer(
      R"({"id":"chatcmpl-1","object":"chat.completion","created":7,"model":"up","system_fingerprint":"fp",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1",)"
      R"("type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],)"
      R"("usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})"));
  testkit::HttpAnswer a = Chat(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                                   "stream_options": {"include_usage": true}})");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.headers["Content-Type"], "text/event-stream");
  EXPECT_EQ(a.body,
            R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"up",)"
            R"("system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":null,)"
            R"("tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
            R"("logprobs":null,"finish_reason":"tool_calls"}]})" "\n\n"
            R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"up",)"
            R"("system_fingerprint":"fp","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})"
            "\n\ndata: [DONE]\n\n");
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "stream"));
  EXPECT_TRUE(Bool(g, "stream_complete"));
  EXPECT_EQ(Int(g, "completion_tokens"), 7);
  EXPECT_FALSE(Bool(g, "usage_estimated"));

  // Without include_usage: no usage chunk.
  testkit::HttpAnswer b = Stream();
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.body.find(R"("choices":[])"), std::string::npos) << b.body;
  EXPECT_NE(b.body.find(R"("finish_reason":"tool_calls"}]})" "\n\ndata: [DONE]\n\n"), std::string::npos) << b.body;
}

TEST_F(StreamTest, AJsonErrorAnswerToAStreamIsAnErrorEvent) {
  Start(JsonAnswer(R"({"error": {"message": "overloaded", "type": "server_error", "code": null}})"));
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, R"(data: {"error":{"message":"overloaded","type":"server_error","code":null}})" "\n\n");
  rapidjson::Document g = Record(a);
  EXPECT_FALSE(Bool(g, "stream_complete"));
  EXPECT_EQ(Str(g, "error"), "upstream_stream_error");
}

TEST_F(StreamTest, JsonThatIsNoCompletionAnsweringAStreamIs502) {
  Start(JsonAnswer(R"({"hello": "world"})"));
  testkit::HttpAnswer a = Stream();
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_NE(a.body.find(R"("code":"upstream_failed")"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(a.headers["x-tollgate-decision-id"]), std::string::npos) << a.body;
  EXPECT_NE(Metrics().find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="answer_invalid"} 1)"),
            std::string::npos);
}

// X-Tollgate-Explain: 1 is answered on a stream's head as on any answer.
TEST_F(StreamTest, AStreamExplainsItsRouteWhenAsked) {
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) + HttpChunk(kDone) + kLastChunk);
  testkit::HttpAnswer a = Stream({{"X-Tollgate-Explain", "1"}});
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.headers.count("x-tollgate-explain"), 1u);
  EXPECT_EQ(a.headers["x-tollgate-explain"], "[]");  // the eliminated endpoints: none
  EXPECT_EQ(Stream().headers.count("x-tollgate-explain"), 0u);  // not asked
}

// tollgate_request_seconds counts every chat request answered, not only
// the upstream's answers.
TEST_F(StreamTest, EveryChatRequestIsTimed) {
  Start(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) + HttpChunk(kDone) + kLastChunk);
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", "{}").status, 401);
  EXPECT_EQ(Chat(R"({"model": 5})").status, 400);
  EXPECT_EQ(Chat(R"({"model": "no/such", "messages": [{"role": "user", "content": "hi"}]})").status / 100, 4);
  EXPECT_EQ(Stream().status, 200);
  // Observed as the handler returns, just after its last byte went out: the
  // client may read it first. Asked again (no wait) until it shows, or fail.
  std::string m;
  const std::string want = "tollgate_request_seconds_count{path=\"/v1/chat/completions\"} 4\n";
  for (int i = 0; i < 1000 && m.find(want) == std::string::npos; ++i) m = Metrics();
  EXPECT_NE(m.find(want), std::string::npos) << m;
}

// A stream is committed to at its first data line, not at its 200 head: a
// primary that then ends with no event, is cut before one, sends only
// [DONE], or opens with an error event has sent the client nothing, so the
// next endpoint answers (before: the client got that empty or failed
// stream, and the fallback that would have served it was never tried).
class StreamFallbackTest : public StreamTest {
 protected:
  void StartTwo(const std::string& primary, bool hold) {
    up_ = std::make_unique<testkit::ScriptedUpstream>(primary, hold);
    second_ = std::make_unique<testkit::ScriptedUpstream>(
        SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"from b"})", "\"stop\"")) + HttpChunk(kDone) +
            kLastChunk,
        false);
    dir_ = testkit::MakeTempDir("streamfb");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\n");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").Price("1").BaseUrl(up_->base_url()),
                                             testkit::TestEndpoint("m/x@b", "b").Price("2").BaseUrl(second_->base_url())}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    Config cfg = testkit::DirConfig(dir_);
    cfg.upstream.idle_timeout_ms = 10'000;
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    StreamTest::TearDown();
    second_.reset();
  }
  // The stream request falls back to m/x@b, whose answer the client reads
  // whole; the failed attempt is recorded with `kind` and counted.
  void ExpectFallback(const std::string& kind) {
    testkit::HttpAnswer a = Stream();
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_NE(a.body.find("from b"), std::string::npos) << a.body;
    EXPECT_NE(a.body.find("[DONE]"), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("error"), std::string::npos) << a.body;
    rapidjson::Document g = Record(a);
    EXPECT_EQ(Str(g, "endpoint"), "m/x@b");
    EXPECT_TRUE(Bool(g, "stream_complete"));
    EXPECT_EQ(up_->requests(), 1);
    EXPECT_EQ(second_->requests(), 1);
    EXPECT_NE(Metrics().find("tollgate_upstream_errors_total{endpoint=\"m/x@a\",kind=\"" + kind + "\"} 1"),
              std::string::npos) << kind;
  }
  std::unique_ptr<testkit::ScriptedUpstream> second_;
};

TEST_F(StreamFallbackTest, AStreamThatEndsWithoutAnEventFallsBack) {
  StartTwo(SseHead() + kLastChunk, false);
  ExpectFallback("stream_empty");
}

TEST_F(StreamFallbackTest, AStreamOfOnlyDoneFallsBack) {
  StartTwo(SseHead() + HttpChunk(kDone) + kLastChunk, false);
  ExpectFallback("stream_empty");
}

TEST_F(StreamFallbackTest, AStreamCutBeforeItsFirstEventFallsBack) {
  StartTwo(SseHead(), false);  // then the connection closes
  ExpectFallback("stream_cut");
}

// With no endpoint left to try, the stream is relayed as it came: the
// provider's error event reaches the client (the SDKs throw its message).
TEST_F(StreamTest, TheLastEndpointsErrorEventIsRelayed) {
  Start(SseHead() + HttpChunk(R"(data: {"error":{"message":"flagged by moderation","type":"invalid_request_error"}})"
                              "\n\n"),
        /*hold=*/true);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("flagged by moderation"), std::string::npos) << a.body;
  EXPECT_EQ(Str(Record(a), "error"), "upstream_stream_error");
}

// A provider's keep-alive comment while its model thinks commits the stream
// (it goes on to the client, keeping idle timeouts on its way at bay): a
// cut after it is the client's cut stream, as before.
TEST_F(StreamFallbackTest, AKeepAliveCommentCommitsTheStream) {
  StartTwo(SseHead() + HttpChunk(": PROCESSING\n\n"), false);  // then the connection closes
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find(": PROCESSING"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("upstream_stream_cut"), std::string::npos) << a.body;
  EXPECT_EQ(second_->requests(), 0);
}

TEST_F(StreamFallbackTest, AStreamOpeningWithAnErrorEventFallsBack) {
  StartTwo(SseHead() + HttpChunk(R"(data: {"error":{"message":"The server had an error","type":"server_error"}})"
                                 "\n\n"),
           /*hold=*/true);
  ExpectFallback("stream_error");
}

// A whole short answer in one read (its chunk, then [DONE]) is no empty stream.
TEST_F(StreamFallbackTest, AShortAnswerInOneReadIsRelayed) {
  StartTwo(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":""})", "\"stop\"") + kDone) + kLastChunk,
           false);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("[DONE]"), std::string::npos) << a.body;
  EXPECT_EQ(Str(Record(a), "endpoint"), "m/x@a");
  EXPECT_EQ(second_->requests(), 0);
}

// Once a data line with text came, the stream is the client's: a later
// error is relayed as before, with no fallback.
TEST_F(StreamFallbackTest, AnErrorAfterTheFirstTextDoesNotFallBack) {
  StartTwo(SseHead() + HttpChunk(Delta(R"({"role":"assistant","content":"Hi"})")) +
               HttpChunk(R"(data: {"error":{"message":"overloaded","type":"server_error"}})" "\n\n"),
           /*hold=*/true);
  testkit::HttpAnswer a = Stream();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("overloaded"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("from b"), std::string::npos) << a.body;
  EXPECT_EQ(second_->requests(), 0);
}

// The end of a drain (SIGTERM, then drain_timeout_ms) with requests still
// in flight: each is ended -- its upstream call closed -- settled and
// recorded before the gateway stops, and its client is told why. Before:
// the I/O threads were stopped under them, so a decision whose stream had
// already reached the client (its decision id in the head) had no record,
// no settlement and no access line.
class DrainEndTest : public StreamTest {
 protected:
  // Sends `body` on a raw connection and reads until `until` arrived (or the
  // connection ended); returns what was read.
  std::string Open(const std::string& body, const std::string& until) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), gw_.port()});
    const std::string raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                            std::string(testkit::kSecret) + "\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::asio::write(socket_, boost::asio::buffer(raw));
    std::string got;
    while (got.find(until) == std::string::npos && Read(&got)) {
    }
    return got;
  }
  // Appends what the server sends next; false at the end of the connection.
  bool Read(std::string* got) {
    char buf[4096];
    boost::system::error_code ec;
    const size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
    got->append(buf, n);
    return !ec;
  }
  std::string ReadToEnd() {
    std::string got;
    while (Read(&got)) {
    }
    return got;
  }
  // Every decision record of the log.
  std::vector<std::string> Records() {
    std::vector<uint64_t> seqs;
    std::string err;
    std::vector<std::string> out;
    if (!audit::ListLogFiles(dir_ + "/audit", &seqs, &err)) return out;
    for (uint64_t s : seqs) {
      std::ifstream in(audit::LogFilePath(dir_ + "/audit", s));
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("{\"kind\":\"decision\"", 0) == 0) out.push_back(line);
      }
    }
    return out;
  }
  static rapidjson::Document Gateway(const std::string& record) {
    rapidjson::Document rec, d;
    rec.Parse(record.data(), record.size());
    if (rec.IsObject() && rec.HasMember("gateway")) d.CopyFrom(rec["gateway"], d.GetAllocator());
    return d;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
};

TEST_F(DrainEndTest, AStreamStillRunningIsRecordedSettledAndToldWhy) {
  gw_.drain_timeout_ms = 50;
  Start(SseHead() + HttpChunk(Delta(R"({"content":"abcdefgh"})")), /*hold=*/true);  // never ends
  std::string got = Open(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                             "max_tokens": 50})", "abcdefgh");
  ASSERT_NE(got.find("abcdefgh"), std::string::npos) << got;
  const size_t at = got.find("x-tollgate-decision-id: ");
  ASSERT_NE(at, std::string::npos) << got;
  const std::string id = got.substr(at + 24, 26);
  gw_.Stop();  // the drain: no grace, 50 ms for the stream, which never ends
  got += ReadToEnd();
  EXPECT_NE(got.find("\"code\":\"gateway_stopped\""), std::string::npos) << got;
  const std::vector<std::string> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(records[0].find(id), std::string::npos) << records[0];
  rapidjson::Document g = Gateway(records[0]);
  EXPECT_EQ(Int(g, "status"), 200) << records[0];
  EXPECT_TRUE(Bool(g, "stream")) << records[0];
  EXPECT_FALSE(Bool(g, "stream_complete")) << records[0];
  EXPECT_EQ(Str(g, "error"), "gateway_stopped") << records[0];
  EXPECT_EQ(Int(g, "completion_tokens"), 2) << records[0];  // the 8 bytes delivered, estimated
}

// The head of a stream whose model thinks before its first chunk is not held
// back past the fallback window (1 s): the SDKs' timeout covers the wait for
// the head (and then retries the request). The upstream here sends its head
// and nothing more; the gateway's upstream idle timeout is 10 s.
TEST_F(DrainEndTest, AStreamsHeadIsNotHeldBackByASilentUpstream) {
  Start(SseHead(), /*hold=*/true);
  const auto t0 = std::chrono::steady_clock::now();
  std::string got = Open(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                             "max_tokens": 50})", "\r\n\r\n");
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("x-tollgate-decision-id: "), std::string::npos) << got;
  EXPECT_LT(waited, std::chrono::seconds(5)) << got;
}

TEST_F(DrainEndTest, ANonStreamedRequestStillWaitingIsRecordedAndAnswered503) {
  gw_.drain_timeout_ms = 50;
  Start("", /*hold=*/true);  // reads the request, never answers
  std::thread client([&] {
    std::string got = Open(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})",
                           "\r\n\r\n");
    got += ReadToEnd();
    EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
    EXPECT_NE(got.find("\"code\":\"gateway_stopped\""), std::string::npos) << got;
  });
  // Polls a condition (the upstream has the request), not a fixed wait.
  while (up_->requests() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  gw_.Stop();
  client.join();
  const std::vector<std::string> records = Records();
  ASSERT_EQ(records.size(), 1u);
  rapidjson::Document g = Gateway(records[0]);
  EXPECT_EQ(Int(g, "status"), 503) << records[0];
  EXPECT_EQ(Str(g, "error"), "gateway_stopped") << records[0];
  EXPECT_TRUE(Bool(g, "usage_estimated")) << records[0];  // the upstream had the request: its worst case
}

}  // namespace
}  // namespace tollgate::gateway
