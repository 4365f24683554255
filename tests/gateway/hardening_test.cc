// Hardening of `tollgate serve` (docs/gateway.md, "HTTP details", the error
// codes and /metrics): request heads refused before their body is read
// (content and transfer codings, Host, repeated credentials), the admin
// policy body checked strictly, read timeouts counted as what the client
// got, /v1/decide in the request histogram, and the drain thread joined.
// A running server on a loopback port, driven over HTTP.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Answer = testkit::HttpAnswer;

constexpr const char* kAdminEnv = "TG_TEST_HARDENING_ADMIN";
constexpr const char* kChat = R"({"model": "m/x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})";

// Writes `raw` to 127.0.0.1:`port` and reads one answer (status 0 when
// the server closed without one).
Answer RawCall(uint16_t port, const std::string& raw) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(raw));
  boost::beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  boost::system::error_code ec;
  http::read(socket, buf, parser, ec);
  if (ec && !parser.is_header_done()) return {};
  const auto& res = parser.get();
  Answer a{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& f : res) a.headers[std::string(f.name_string())] = std::string(f.value());
  return a;
}

// Sends `raw` (may be nothing) and waits for the server to close the
// connection; returns the bytes it sent before closing.
std::string SendAndWaitForClose(uint16_t port, const std::string& raw) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  if (!raw.empty()) asio::write(socket, asio::buffer(raw));
  std::string got;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) {
    const size_t n = socket.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
  }
  return got;
}

std::string Code(const Answer& a) {
  const size_t at = a.body.find("\"code\":\"");
  if (at == std::string::npos) return "";
  return a.body.substr(at + 8, a.body.find('"', at + 8) - at - 8);
}

// A server over one endpoint (m/x@a, which refuses connections), the
// one-key keys file, the admin token `adm`.
class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("hardening");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\n");
    testkit::WriteFile(dir_ + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a")}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    setenv(kAdminEnv, "adm", 1);
  }
  void TearDown() override {
    gw_.Stop();
    unsetenv(kAdminEnv);
    testkit::RemoveDir(dir_);
  }
  Config Cfg() {
    Config cfg = testkit::DirConfig(dir_);
    cfg.admin_token_env = kAdminEnv;
    return cfg;
  }
  void Start(Config cfg) {
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void Start() { Start(Cfg()); }
  Answer Chat(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body = kChat) {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body, headers);
  }
  Answer Admin(const std::string& body) {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/admin/policy", body, {{"authorization", "Bearer adm"}});
  }
  std::string Metrics() { return testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "").body; }
  // The server still answers after a refusal.
  void ExpectUp() {
    EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "").status, 200);
  }

  std::string dir_;
  testkit::LoopbackServer gw_;
};

// A compressed request body is 415 naming the coding, with the codings
// accepted. Before: 400 input_malformed_json (the gzip bytes read as JSON).
TEST_F(Hardening, AContentEncodingOtherThanIdentityIs415) {
  Start();
  const std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  for (const char* coding : {"gzip", "br", "deflate, identity", "x-custom"}) {
    Answer a = Chat({{"authorization", "Bearer sk"}, {"content-encoding", coding}}, gz);
    EXPECT_EQ(a.status, 415) << coding << ": " << a.body;
    EXPECT_EQ(Code(a), "unsupported_content_encoding") << a.body;
    const std::string first = std::string(coding).substr(0, std::string(coding).find(','));
    EXPECT_NE(a.body.find("`" + first + "`"), std::string::npos) << a.body;
    EXPECT_EQ(a.headers["Accept-Encoding"], "identity");
    EXPECT_NE(a.body.find("\"type\":\"invalid_request_error\""), std::string::npos) << a.body;
  }
  // identity is no encoding: the request goes on (to the unreachable endpoint).
  Answer a = Chat({{"authorization", "Bearer sk"}, {"content-encoding", "identity"}});
  EXPECT_NE(a.status, 415) << a.body;
  EXPECT_EQ(Code(a), "upstream_unavailable") << a.body;
  ExpectUp();
}

// RFC 9112 6.1: a transfer coding besides chunked is 501; 6.3: one that does
// not end in chunked is 400 (its length is unknown). Before: Beast read
// `gzip, chunked` as plain chunked (400 input_malformed_json on the gzip
// bytes) and `chunked, gzip` as a request without a body.
TEST_F(Hardening, TransferCodingsOtherThanChunkedAreRefused) {
  Start();
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk\r\n";
  const std::string chunked_body = "2\r\n{}\r\n0\r\n\r\n";
  Answer a = RawCall(gw_.port(), head + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked_body);
  EXPECT_EQ(a.status, 501) << a.body;
  EXPECT_EQ(Code(a), "unsupported_transfer_encoding") << a.body;
  EXPECT_NE(a.body.find("`gzip`"), std::string::npos) << a.body;
  a = RawCall(gw_.port(), head + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body);
  EXPECT_EQ(a.status, 501) << a.body;
  a = RawCall(gw_.port(), head + "Transfer-Encoding: chunked, gzip\r\n\r\n" + chunked_body);
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  a = RawCall(gw_.port(), head + "Transfer-Encoding: gzip\r\n\r\n{}");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  // Plain chunked still works: the body reaches the handler.
  a = RawCall(gw_.port(), head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                              "2\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a).rfind("input_", 0), 0u) << a.body;  // the decoder's refusal of `{}`
  ExpectUp();
}

// RFC 9112 3.2: HTTP/1.1 needs Host (exactly one); HTTP/1.0 does not.
// Before: a request without Host was answered 200.
TEST_F(Hardening, AnHttp11RequestWithoutHostIs400) {
  Start();
  Answer a = RawCall(gw_.port(), "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "missing_host") << a.body;
  a = RawCall(gw_.port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "duplicate_header") << a.body;
  a = RawCall(gw_.port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(a.status, 200) << a.body;
  a = RawCall(gw_.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.status, 200) << a.body;
}

// RFC 9110 10.1.1: `Expect: 100-continue` from an HTTP/1.0 client is
// ignored; an HTTP/1.1 client gets the interim `100 Continue`. Before, the
// HTTP/1.0 client got `HTTP/1.1 100 Continue` too, which it reads as the
// answer (it knows no interim answers).
TEST_F(Hardening, HundredContinueOnlyForHttp11) {
  Start();
  const std::string body = "{}";
  const std::string head = "POST /healthz HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  std::string got = SendAndWaitForClose(gw_.port(), head + body);
  EXPECT_EQ(got.rfind("HTTP/1.1 405 ", 0), 0u) << got;  // the answer first (a server names its own version)
  EXPECT_EQ(got.find(" 100 Continue"), std::string::npos) << got;
  got = SendAndWaitForClose(gw_.port(), "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n" + body);
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 405 ", 0), 0u) << got;
}

// Two Authorization headers are ambiguous credentials: 400. Before: the
// first was used. Two different Content-Length values: Beast refuses them
// (400 http_malformed), before and after.
TEST_F(Hardening, RepeatedCredentialsAndLengthsAre400) {
  Start();
  Answer a = Chat({{"authorization", "Bearer sk"}, {"authorization", "Bearer other"}});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "duplicate_header") << a.body;
  EXPECT_NE(a.body.find("`Authorization`"), std::string::npos) << a.body;
  a = Chat({{"authorization", "Bearer sk"}, {"authorization", "Bearer sk"}});
  EXPECT_EQ(a.status, 400) << a.body;
  a = RawCall(gw_.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk\r\n"
                          "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} ");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  a = RawCall(gw_.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk\r\n"
                          "Content-Length: 2, 3\r\n\r\n{} ");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  ExpectUp();
}

// POST /admin/policy's `{"files": ...}` form is checked strictly: 400
// invalid_policy_body naming the member, and nothing is loaded. Before: a
// body that did not fit was compiled as policy source (422), and unknown
// members or non-string sources were ignored.
TEST_F(Hardening, TheAdminFilesBodyIsCheckedStrictly) {
  Start();
  const std::string live = gw_.svc().live()->version;
  const std::string p = dir_ + "/p.tg";
  struct Case {
    std::string body, names;
  };
  const Case cases[] = {
      {R"({"files": 5})", "`files`"},
      {R"({"files": ["policy \"x\"\n"]})", "`files`"},
      {R"({"files": {}})", "`files`"},
      {R"({"files": {")" + p + R"(": 5}})", "`files[\\\"" + p + "\\\"]`"},
      {R"({"files": {")" + p + R"(": null}})", "`files[\\\"" + p + "\\\"]`"},
      {R"({"files": {")" + p + R"(": "policy \"x\"\n"}, "shadow": true})", "`shadow`"},
      {R"({"policy": "policy \"x\"\n"})", "`policy`"},
      {R"({"files": {"": "policy \"x\"\n"}})", "empty path"},
      {R"({"files": {"a.tg": "policy \"x\"\n", "a.tg": "policy \"y\"\n"}})", "`a.tg`"},
      {R"({"files": {"a.tg": "policy)", "not valid JSON"},
  };
  for (const Case& c : cases) {
    Answer a = Admin(c.body);
    EXPECT_EQ(a.status, 400) << c.body << ": " << a.body;
    EXPECT_EQ(Code(a), "invalid_policy_body") << c.body << ": " << a.body;
    EXPECT_NE(a.body.find(c.names), std::string::npos) << c.body << ": " << a.body;
    EXPECT_EQ(gw_.svc().live()->version, live) << c.body;
  }
  // The good shape still loads, and so does a plain policy source.
  Answer a = Admin(R"({"files": {")" + p + R"(": "policy \"x\"\n"}})");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(gw_.svc().live()->version, live);
  a = Admin("policy \"t\"\n");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(gw_.svc().live()->version, live);
}

// A read timeout closes the connection without an answer: it is counted in
// tollgate_client_timeouts_total{stage}, not as a 408 answer. Before: each
// was counted `tollgate_http_requests_total{path="(timeout)",status="408"}`
// though the client got no 408 (and an idle kept-alive connection's end
// counted as one too).
TEST_F(Hardening, ReadTimeoutsAreCountedAsWhatTheClientGot) {
  Config cfg = Cfg();
  cfg.limits.read_timeout_ms = 300;
  cfg.limits.idle_timeout_ms = 300;
  Start(cfg);
  // A head that never ends, then a body that never ends.
  EXPECT_EQ(SendAndWaitForClose(gw_.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"), "");
  EXPECT_EQ(SendAndWaitForClose(gw_.port(), "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"),
            "");
  // A connection that sends nothing.
  EXPECT_EQ(SendAndWaitForClose(gw_.port(), ""), "");
  std::string m;
  for (int i = 0; i < 200; ++i) {
    m = Metrics();
    if (m.find("tollgate_client_timeouts_total{stage=\"idle\"} 1\n") != std::string::npos &&
        m.find("tollgate_client_timeouts_total{stage=\"request\"} 2\n") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(m.find("tollgate_client_timeouts_total{stage=\"request\"} 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("tollgate_client_timeouts_total{stage=\"idle\"} 1\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("status=\"408\""), std::string::npos) << m;
  EXPECT_EQ(m.find("(timeout)"), std::string::npos) << m;
}

// tollgate_request_seconds holds /v1/decide requests too, whatever their
// answer. Before: chat requests only.
TEST_F(Hardening, DecideRequestsAreInTheRequestHistogram) {
  Start();
  ASSERT_NE(Metrics().find("tollgate_request_seconds_count{path=\"/v1/decide\"} 0\n"), std::string::npos);
  const std::string input = R"({"principal": {"workspace": "w", "key_id": "k"}, "request": )" + std::string(kChat) + "}";
  Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide", input);
  EXPECT_EQ(a.status, 200) << a.body;
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide", "{not json");
  EXPECT_EQ(a.status, 400) << a.body;
  // Observed as the handler returns, right after the answer's last byte.
  std::string m;
  const std::string want = "tollgate_request_seconds_count{path=\"/v1/decide\"} 2\n";
  for (int i = 0; i < 200 && m.find(want) == std::string::npos; ++i) {
    m = Metrics();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(m.find(want), std::string::npos) << m;
}

// A non-streamed 200 that is no chat completion falls back to the next
// endpoint like a 5xx; it costs nothing unless it reported usage. Two
// endpoints: m/x@a (1 usd per million tokens: 1 micro per token, the
// primary) answering `primary`, m/x@b (2 micros per token) answering
// `fallback`; a daily budget on the workspace.
class InvalidAnswerFallback : public ::testing::Test {
 protected:
  // `first_byte_ms` > 0: upstream.first_byte_timeout_ms, and the primary
  // reads the request and never answers.
  void Start(const std::string& primary, const std::string& fallback, bool stream = false, int64_t first_byte_ms = 0) {
    a_ = std::make_unique<testkit::ScriptedUpstream>(primary, first_byte_ms > 0);
    if (first_byte_ms > 0) a_->OneAnswerPerConnection();
    b_ = std::make_unique<testkit::ScriptedUpstream>(fallback, false);
    dir_ = testkit::MakeTempDir("invalidfb");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\nbudget ws { key principal.workspace per day limit 1 usd }\n");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").BaseUrl(a_->base_url()),
                                             testkit::TestEndpoint("m/x@b", "b").Price("2").BaseUrl(b_->base_url())}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    std::string err;
    Config cfg = testkit::DirConfig(dir_);
    if (first_byte_ms > 0) cfg.upstream.first_byte_timeout_ms = first_byte_ms;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
    stream_ = stream;
  }
  void TearDown() override {
    gw_.Stop();
    a_.reset();
    b_.reset();
    testkit::RemoveDir(dir_);
  }
  Answer Chat() {
    const std::string body = stream_ ? R"({"model": "m/x", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]})"
                                     : kChat;
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body,
                             {{"authorization", "Bearer sk"}});
  }
  // The answer's decision record's `gateway` member.
  rapidjson::Document Gateway(const Answer& a) {
    rapidjson::Document g;
    auto id = a.headers.find("x-tollgate-decision-id");
    EXPECT_NE(id, a.headers.end()) << a.body;
    if (id == a.headers.end()) return g;
    const std::string line = testkit::DecisionRecord(dir_ + "/audit", id->second);
    rapidjson::Document rec;
    rec.Parse(line.data(), line.size());
    if (rec.IsObject() && rec.HasMember("gateway")) g.CopyFrom(rec["gateway"], g.GetAllocator());
    EXPECT_TRUE(g.IsObject()) << line;
    return g;
  }
  // The workspace budget's counter: spent and reserved, micros.
  std::pair<int64_t, int64_t> Budget() {
    std::vector<ledger::CounterView> views;
    EXPECT_TRUE(gw_.svc().ledger()->Snapshot(&views).ok);
    for (const ledger::CounterView& v : views) {
      if (v.name == "ws") return {v.spent, v.reserved};
    }
    return {0, 0};
  }
  static std::string Str(const rapidjson::Value& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsString() ? g[name].GetString() : "";
  }

  std::unique_ptr<testkit::ScriptedUpstream> a_, b_;
  std::string dir_;
  testkit::LoopbackServer gw_;
  bool stream_ = false;
};

std::string Http200(const std::string& body, const std::string& type = "application/json") {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}
const char kCompletion[] =
    R"({"id":"c","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})";

// Before: 502 upstream_failed from the primary, charged at the worst case.
TEST_F(InvalidAnswerFallback, AnHtmlPageFallsBackAndCostsNothing) {
  Start(Http200("<html>oops</html>", "text/html"), Http200(kCompletion));
  Answer a = Chat();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, kCompletion);
  rapidjson::Document g = Gateway(a);
  EXPECT_EQ(Str(g, "endpoint"), "m/x@b");
  EXPECT_EQ(Str(g, "cost"), "0.000014");  // (5 + 2) tokens at 2 micros: the fallback's alone
  ASSERT_TRUE(g.HasMember("failed_attempts") && g["failed_attempts"].IsArray()) << a.body;
  ASSERT_EQ(g["failed_attempts"].Size(), 1u);
  EXPECT_EQ(Str(g["failed_attempts"][0], "endpoint"), "m/x@a");
  EXPECT_EQ(Str(g["failed_attempts"][0], "kind"), "answer_invalid");
  EXPECT_FALSE(g["failed_attempts"][0].HasMember("cost"));
  EXPECT_EQ(Budget(), (std::pair<int64_t, int64_t>(14, 0)));
  const std::string m = testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "").body;
  EXPECT_NE(m.find(R"(tollgate_upstream_errors_total{endpoint="m/x@a",kind="answer_invalid"} 1)"), std::string::npos) << m;
  EXPECT_NE(m.find("tollgate_fallbacks_total 1\n"), std::string::npos) << m;
}

// An answer that is no completion but reports usage was billed: charged at
// it, and the fallback's own cost on top; nothing stays reserved.
TEST_F(InvalidAnswerFallback, AnInvalidAnswerThatReportsUsageIsCharged) {
  Start(Http200(R"({"object":"chat.completion","usage":{"prompt_tokens":3,"completion_tokens":4}})"),
        Http200(kCompletion));
  Answer a = Chat();
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Gateway(a);
  EXPECT_EQ(Str(g, "endpoint"), "m/x@b");
  EXPECT_EQ(Str(g, "cost"), "0.000021");  // 7 at 1 micro + 7 at 2 micros
  ASSERT_TRUE(g.HasMember("failed_attempts") && g["failed_attempts"].IsArray());
  EXPECT_EQ(Str(g["failed_attempts"][0], "cost"), "0.000007");
  EXPECT_EQ(g["failed_attempts"][0]["completion_tokens"].GetInt64(), 4);
  EXPECT_EQ(Budget(), (std::pair<int64_t, int64_t>(21, 0)));
}

// When every endpoint answers with no completion: 502 upstream_failed
// listing the attempts, not retried; only reported usage is charged.
TEST_F(InvalidAnswerFallback, WhenEveryAnswerIsInvalidThe502ListsThem) {
  Start(Http200(R"({"usage":{"prompt_tokens":3,"completion_tokens":4}})"), Http200("{\"choices\": [", "application/json"));
  Answer a = Chat();
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_EQ(Code(a), "upstream_failed") << a.body;
  EXPECT_NE(a.body.find("m/x@a"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("m/x@b"), std::string::npos) << a.body;
  EXPECT_EQ(a.headers["x-should-retry"], "false");
  rapidjson::Document g = Gateway(a);
  EXPECT_EQ(Str(g, "error"), "upstream_failed");
  EXPECT_EQ(Str(g, "cost"), "0.000007");
  ASSERT_TRUE(g.HasMember("failed_attempts") && g["failed_attempts"].IsArray());
  EXPECT_EQ(g["failed_attempts"].Size(), 2u);
  EXPECT_EQ(Budget(), (std::pair<int64_t, int64_t>(7, 0)));
}

// A stream request answered with JSON that is no completion falls back too.
TEST_F(InvalidAnswerFallback, AStreamRequestAnsweredWithInvalidJsonFallsBack) {
  Start(Http200(R"({"hello": "world"})"), Http200(kCompletion), true);
  Answer a = Chat();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("data: [DONE]"), std::string::npos) << a.body;
  EXPECT_EQ(Str(Gateway(a), "endpoint"), "m/x@b");
  EXPECT_EQ(Budget(), (std::pair<int64_t, int64_t>(14, 0)));
}

// An attempt that timed out waiting for the answer's head had reached the
// upstream, which may be generating it (a long non-streamed answer sends
// its head with the whole answer) and bill it: charged at its worst case,
// like a request whose client left, and the fallback's cost on top. Before:
// the timed-out attempt cost nothing, and the provider's bill for it was
// missing from the budget.
TEST_F(InvalidAnswerFallback, AnAttemptThatTimedOutIsChargedAtItsWorstCase) {
  Start("", Http200(kCompletion), false, /*first_byte_ms=*/300);  // the primary never answers
  Answer a = Chat();
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Gateway(a);
  EXPECT_EQ(Str(g, "endpoint"), "m/x@b");
  ASSERT_TRUE(g.HasMember("failed_attempts") && g["failed_attempts"].IsArray() && g["failed_attempts"].Size() == 1)
      << Str(g, "cost");
  const rapidjson::Value& f = g["failed_attempts"][0];
  EXPECT_EQ(Str(f, "kind"), "timeout");
  EXPECT_TRUE(f.HasMember("usage_estimated") && f["usage_estimated"].IsTrue());
  // The worst case at m/x@a (1 micro a token): the prompt's bound plus max_tokens 5.
  const double failed = std::atof(Str(f, "cost").c_str()), total = std::atof(Str(g, "cost").c_str());
  EXPECT_GT(failed, 0.000005);
  EXPECT_NEAR(total, failed + 0.000014, 1e-9);  // b's 7 tokens at 2 micros
  const auto [spent, reserved] = Budget();
  EXPECT_EQ(spent, static_cast<int64_t>(total * 1e6 + 0.5));
  EXPECT_EQ(reserved, 0);
}

size_t Threads() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// A pooled upstream connection idle for longer than
// upstream.pool_idle_timeout_ms is closed, not reused: a NAT or load
// balancer may have dropped it without a FIN or a reset (AWS's NAT gateway
// after 350 s, Azure's load balancer after 4 min), and a request sent on it
// would wait out first_byte_timeout_ms (10 minutes by default) before failing.
// The scripted upstream stays silent after one answer per connection, as
// such a connection does. Before: the second request waited the whole
// first-byte timeout and was answered 504.
TEST(UpstreamPool, AConnectionIdleTooLongIsNotReused) {
  testkit::ScriptedUpstream up(Http200(kCompletion), /*hold=*/true);
  up.OneAnswerPerConnection();
  const std::string dir = testkit::MakeTempDir("poolidle");
  testkit::WriteFile(dir + "/p.tg", "policy \"t\"\n");
  testkit::WriteFile(dir + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").BaseUrl(up.base_url())}));
  testkit::WriteFile(dir + "/k.json", testkit::OneKeyJson());
  Config cfg = testkit::DirConfig(dir);
  cfg.upstream.max_attempts = 1;
  cfg.upstream.first_byte_timeout_ms = 3'000;
  cfg.upstream.pool_idle_timeout_ms = 1;
  testkit::LoopbackServer gw;
  std::string err;
  ASSERT_TRUE(gw.Start(std::move(cfg), &err)) << err;
  auto chat = [&] {
    return testkit::HttpCall(gw.port(), http::verb::post, "/v1/chat/completions", kChat, {{"authorization", "Bearer sk"}});
  };
  EXPECT_EQ(chat().status, 200);
  // The behaviour under test is idle time: the pooled connection outlives
  // its 1 ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto t0 = std::chrono::steady_clock::now();
  Answer a = chat();
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2'000));
  EXPECT_EQ(up.connections(), 2);
  gw.Stop();
  testkit::RemoveDir(dir);
}

// A drain's thread is joined, never left running past the server: a
// server stopped (Server::Stop, as SIGTERM) and destroyed before its grace
// period ends leaves no thread behind. Before: the drain thread was
// detached, and woke after the grace period on the freed server.
TEST_F(Hardening, TheDrainThreadIsJoined) {
  Config cfg = Cfg();
  cfg.listen = "127.0.0.1:0";
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.threads = 1;
  cfg.drain_grace_ms = 3'000;
  cfg.drain_timeout_ms = 1'000;
  std::string err;
  auto svc = Service::Create(cfg, &err);
  ASSERT_TRUE(svc) << err;
  const size_t before = Threads();
  auto server = Server::Create(svc.get(), &err);
  ASSERT_TRUE(server) << err;
  server->Stop();  // the drain starts: its thread waits out the grace period
  const auto t0 = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));  // the grace period was cut short
  EXPECT_EQ(Threads(), before);
}

}  // namespace
}  // namespace tollgate::gateway
