// HTTP details of `tollgate serve` (docs/gateway.md, "HTTP details", the
// admin API, /metrics): strict query flags, bounded metrics labels, 405 with
// `Allow`, CORS on early errors, the drain grace period, the size of the
// routing explanation, and what a caller is told when every upstream
// refuses. A running server on a loopback port, driven over HTTP.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <ctime>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "runtime/gateway/internal/http_text.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Answer = testkit::HttpAnswer;

constexpr const char* kAdminEnv = "TG_TEST_HTTP_DETAILS_ADMIN";
constexpr const char* kChat = R"({"model": "m/x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})";

// Writes `raw` to 127.0.0.1:`port` and reads one answer.
Answer RawCall(uint16_t port, const std::string& raw) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(raw));
  boost::beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.header_limit(1u << 20);  // the client takes any head: the test measures it
  boost::system::error_code ec;
  http::read(socket, buf, parser, ec);
  const auto& res = parser.get();
  Answer a{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& f : res) a.headers[std::string(f.name_string())] = std::string(f.value());
  return a;
}

// An upstream answering each request by its path's first segment, one
// connection at a time, closing each after its answer:
//   /s429-7/...  429 with `retry-after: 7`     /s429/...  429 without
//   /s401/..., /s403/..., /s500/...            that status
// Base URL of a mode: Url("s429-7").
class CannedUpstream {
 public:
  CannedUpstream() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedUpstream() {
    stop_ = true;
    boost::system::error_code ec;
    asio::ip::tcp::socket wake(io_);
    wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);  // ends the accept
    thread_.join();
  }
  std::string Url(const std::string& mode) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + mode + "/v1";
  }

 private:
  void Serve() {
    while (!stop_) {
      boost::system::error_code ec;
      asio::ip::tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec || stop_) continue;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) continue;
      const std::string target(req.target());
      const std::string mode = target.substr(1, target.find('/', 1) - 1);
      const size_t dash = mode.find('-');
      http::response<http::string_body> res{static_cast<http::status>(std::stoi(mode.substr(1, 3))), 11};
      // "s429-7": retry-after 7; "s429-ms1500": retry-after-ms 1500;
      // "s429-in30": retry-after as the HTTP-date 30 s from now.
      if (dash != std::string::npos) {
        const std::string after = mode.substr(dash + 1);
        if (after.rfind("ms", 0) == 0) {
          res.set("retry-after-ms", after.substr(2));
        } else if (after.rfind("in", 0) == 0) {
          const std::time_t at = std::time(nullptr) + std::stoi(after.substr(2));
          char date[64];
          std::tm tm{};
          ::gmtime_r(&at, &tm);
          std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
          res.set(http::field::retry_after, date);
        } else {
          res.set(http::field::retry_after, after);
        }
      }
      res.set(http::field::content_type, "application/json");
      res.body() = R"({"error": {"message": "canned", "type": "x", "code": null}})";
      res.keep_alive(false);
      res.prepare_payload();
      http::write(s, res, ec);
      s.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A server over one endpoint (m/x@a, which refuses connections), the
// one-key keys file, the admin token `adm`.
class HttpDetails : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("httpdetails");
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
  Answer Admin(http::verb verb, const std::string& target, const std::string& body = "") {
    return testkit::HttpCall(gw_.port(), verb, target, body, {{"authorization", "Bearer adm"}});
  }
  static std::string Code(const Answer& a) {
    const size_t at = a.body.find("\"code\":\"");
    if (at == std::string::npos) return "";
    return a.body.substr(at + 8, a.body.find('"', at + 8) - at - 8);
  }

  std::string dir_;
  testkit::LoopbackServer gw_;
};

// ?shadow takes the usual spellings of true and false; anything else is
// 400 invalid_query and loads nothing (it used to load the policy live).
TEST_F(HttpDetails, TheShadowFlagIsStrict) {
  Start(Cfg());
  const std::string live = gw_.svc().live()->version;
  for (const char* q : {"shadow=True", "shadow=yes", "shadow=ON", "shadow", "shadow=1"}) {
    gw_.svc().DropShadow();
    Answer a = Admin(http::verb::post, std::string("/admin/policy?") + q, "policy \"s\"\n");
    ASSERT_EQ(a.status, 200) << q << ": " << a.body;
    EXPECT_NE(a.body.find("\"shadow\":true"), std::string::npos) << q << ": " << a.body;
    ASSERT_TRUE(gw_.svc().shadow()) << q;
    EXPECT_EQ(gw_.svc().live()->version, live) << q << " loaded the policy live";
  }
  gw_.svc().DropShadow();
  for (const char* q : {"shadow=maybe", "shadow=", "shadow=2", "shadow=%31", "shadow=1&shadow=0"}) {
    Answer a = Admin(http::verb::post, std::string("/admin/policy?") + q, "policy \"s\"\n");
    EXPECT_EQ(a.status, 400) << q << ": " << a.body;
    EXPECT_EQ(Code(a), "invalid_query") << q << ": " << a.body;
    EXPECT_FALSE(gw_.svc().shadow()) << q;
    EXPECT_EQ(gw_.svc().live()->version, live) << q << " loaded the policy live";
  }
  for (const char* q : {"shadow=0", "shadow=False", "shadow=no", "shadow=OFF"}) {
    Answer a = Admin(http::verb::post, std::string("/admin/policy?") + q, "policy \"t\"\n");
    ASSERT_EQ(a.status, 200) << q << ": " << a.body;
    EXPECT_NE(a.body.find("\"shadow\":false"), std::string::npos) << q << ": " << a.body;
    EXPECT_FALSE(gw_.svc().shadow()) << q;
  }
}

// Every unknown path is one /metrics label, `(unknown)`, under /admin/ too:
// a client without a token cannot add a series per request.
TEST_F(HttpDetails, UnknownAdminPathsShareOneMetricsLabel) {
  Start(Cfg());
  for (const char* p : {"/admin/r1234", "/admin/r5678", "/admin/policy/x", "/nowhere/abc"}) {
    Answer a = testkit::HttpCall(gw_.port(), http::verb::get, p, "");
    EXPECT_GE(a.status, 400) << p;
  }
  Admin(http::verb::post, "/admin/r9999");  // with the token: 404, and still no label of its own
  Answer m = testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "");
  ASSERT_EQ(m.status, 200);
  for (const char* p : {"r1234", "r5678", "/admin/policy/x", "abc", "r9999"}) {
    EXPECT_EQ(m.body.find(p), std::string::npos) << p << " became a label:\n" << m.body;
  }
  EXPECT_NE(m.body.find("path=\"(unknown)\",status=\"401\"} 3"), std::string::npos) << m.body;
}

// A method an endpoint does not take is 405 method_not_allowed with `Allow`
// (docs/gateway.md, "HTTP details"), on the admin API as elsewhere; a path
// that is no endpoint stays 404.
TEST_F(HttpDetails, AWrongMethodIs405WithAllow) {
  Start(Cfg());
  struct Case {
    http::verb verb;
    const char* path;
    const char* allow;
  };
  for (const Case& c : {Case{http::verb::get, "/admin/policy", "POST"},
                        Case{http::verb::put, "/admin/policy", "POST"},
                        Case{http::verb::get, "/admin/policy/promote", "POST"},
                        Case{http::verb::post, "/admin/policy/shadow", "DELETE"},
                        Case{http::verb::get, "/admin/policy/shadow", "DELETE"},
                        Case{http::verb::get, "/admin/reload", "POST"},
                        Case{http::verb::delete_, "/admin/reload", "POST"}}) {
    Answer a = Admin(c.verb, c.path);
    EXPECT_EQ(a.status, 405) << c.path << ": " << a.body;
    EXPECT_EQ(Code(a), "method_not_allowed") << c.path << ": " << a.body;
    EXPECT_EQ(a.headers["Allow"], c.allow) << c.path;
  }
  for (const Case& c : {Case{http::verb::get, "/v1/chat/completions", "POST, OPTIONS"},
                        Case{http::verb::get, "/chat/completions", "POST, OPTIONS"},
                        Case{http::verb::put, "/v1/decide", "POST, OPTIONS"},
                        Case{http::verb::post, "/v1/models", "GET, HEAD, OPTIONS"},
                        Case{http::verb::delete_, "/v1/models/m/x", "GET, HEAD, OPTIONS"},
                        Case{http::verb::post, "/healthz", "GET, HEAD, OPTIONS"},
                        Case{http::verb::post, "/metrics", "GET, HEAD, OPTIONS"}}) {
    Answer a = testkit::HttpCall(gw_.port(), c.verb, c.path, "");
    EXPECT_EQ(a.status, 405) << c.path << ": " << a.body;
    EXPECT_EQ(Code(a), "method_not_allowed") << c.path << ": " << a.body;
    EXPECT_EQ(a.headers["Allow"], c.allow) << c.path;
  }
  Answer a = Admin(http::verb::get, "/admin/nothing");
  EXPECT_EQ(a.status, 404) << a.body;
  EXPECT_EQ(Code(a), "not_found") << a.body;
  // Without the token the token is what is wrong, whatever the method.
  a = testkit::HttpCall(gw_.port(), http::verb::get, "/admin/policy", "");
  EXPECT_EQ(a.status, 401) << a.body;
}

// Regression: OPTIONS on an API path was 405 (its `Allow: POST` not
// listing the OPTIONS a CORS preflight is answered to) and `OPTIONS *` 404
// "no such endpoint `*`". OPTIONS on an API path is 204 with the methods in
// `Allow` (RFC 9110 9.3.7); with CORS off a browser's preflight gets no
// Access-Control-* header, so the browser refuses the cross-origin call (a
// 405 told it only that the preflight failed); `OPTIONS *` names the
// server's methods; the asterisk form with another method is 400
// (RFC 9112 3.2.4).
TEST_F(HttpDetails, OptionsAnswersTheMethods) {
  Start(Cfg());
  for (const auto& [path, allow] : {std::pair{"/v1/chat/completions", "POST, OPTIONS"},
                                    std::pair{"/v1/decide", "POST, OPTIONS"},
                                    std::pair{"/v1/models", "GET, HEAD, OPTIONS"},
                                    std::pair{"/v1/models/m/x", "GET, HEAD, OPTIONS"},
                                    std::pair{"/healthz", "GET, HEAD, OPTIONS"}}) {
    Answer a = testkit::HttpCall(gw_.port(), http::verb::options, path, "",
                                 {{"origin", "http://app.example"}, {"access-control-request-method", "POST"}});
    EXPECT_EQ(a.status, 204) << path << ": " << a.body;
    EXPECT_EQ(a.headers["Allow"], allow) << path;
    EXPECT_EQ(a.headers.count("Access-Control-Allow-Origin"), 0u) << path;
  }
  Answer a = testkit::HttpCall(gw_.port(), http::verb::options, "*", "");
  EXPECT_EQ(a.status, 204) << a.body;
  EXPECT_EQ(a.headers["Allow"], "GET, HEAD, POST, DELETE, OPTIONS");
  a = testkit::HttpCall(gw_.port(), http::verb::get, "*", "");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  a = testkit::HttpCall(gw_.port(), http::verb::options, "/nothing", "");
  EXPECT_EQ(a.status, 404) << a.body;
}

// A request target in absolute form (`GET http://host/v1/models HTTP/1.1`,
// what a client configured with the gateway as its HTTP proxy sends) names
// the same endpoint as its path: RFC 9112 3.2.2, a server MUST accept it.
// Before: 404 "no such endpoint `http://127.0.0.1:PORT/v1/models`".
TEST_F(HttpDetails, AnAbsoluteFormTargetNamesItsPath) {
  Config cfg = Cfg();
  cfg.cors.allow_origins = {"http://app.example"};
  Start(std::move(cfg));
  const std::string host = "127.0.0.1:" + std::to_string(gw_.port());
  const std::string key = std::string("Authorization: Bearer ") + testkit::kSecret + "\r\n";
  Answer a = RawCall(gw_.port(), "GET http://" + host + "/v1/models/m/x HTTP/1.1\r\nHost: " + host + "\r\n" + key +
                                     "Connection: close\r\n\r\n");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("\"id\":\"m/x\""), std::string::npos) << a.body;
  a = RawCall(gw_.port(), "GET HTTP://" + host + "/healthz?x=1 HTTP/1.1\r\nHost: " + host +
                              "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.status, 200) << a.body;
  a = RawCall(gw_.port(), "POST https://" + host + "/v1/chat/completions HTTP/1.1\r\nHost: " + host + "\r\n" + key +
                              "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(a.status, 400) << a.body;  // the chat endpoint's refusal of the body, not a 404
  EXPECT_EQ(Code(a), "input_missing_field") << a.body;
  a = RawCall(gw_.port(), "GET http://" + host + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.status, 404) << a.body;  // the empty path is `/`
  EXPECT_NE(a.body.find("no such endpoint `/`"), std::string::npos) << a.body;
  // The admin API never answers cross-origin requests, in either form.
  const std::string origin = "Origin: http://app.example\r\n";
  a = RawCall(gw_.port(), "GET http://" + host + "/healthz HTTP/1.1\r\nHost: " + host + "\r\n" + origin +
                              "Connection: close\r\n\r\n");
  EXPECT_EQ(a.headers["Access-Control-Allow-Origin"], "http://app.example");
  a = RawCall(gw_.port(), "POST http://" + host + "/admin/reload HTTP/1.1\r\nHost: " + host + "\r\n" + origin +
                              "Authorization: Bearer adm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.headers.count("Access-Control-Allow-Origin"), 0u);
}

// An HTTP/1.0 client asking for keep-alive learns that the connection stays
// open on every endpoint: `Connection: keep-alive` in an HTTP/1.0 answer, as
// the chat endpoint always did. Before: /healthz, /metrics, /v1/models and
// the 404 and 405 answers came as HTTP/1.1 without it, so an HTTP/1.0
// client (ApacheBench -k) waited for the close that never came.
TEST_F(HttpDetails, AnHttp10KeepAliveRequestIsToldTheConnectionStaysOpen) {
  Start(Cfg());
  const std::string key = std::string("Authorization: Bearer ") + testkit::kSecret + "\r\n";
  for (const char* line : {"GET /healthz", "GET /metrics", "GET /v1/models", "GET /v1/nothing",
                           "POST /healthz"}) {
    Answer a = RawCall(gw_.port(), std::string(line) + " HTTP/1.0\r\nConnection: keep-alive\r\n" + key +
                                       "Content-Length: 0\r\n\r\n");
    EXPECT_NE(a.status, 0) << line;
    EXPECT_EQ(a.headers["Connection"], "keep-alive") << line;
  }
  // Without keep-alive an HTTP/1.0 connection closes after its answer.
  Answer a = RawCall(gw_.port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.headers.count("Connection") ? a.headers["Connection"] : "close", "close");
}

// `Expect: 100-continue` on a chat request without a known key is answered
// 401 at once, without the 100 (curl then sends no body; a client that sends
// it anyway has it read away, and reads the 401), and the connection closes.
// A known key still gets its 100. Before: 100 Continue, the whole body
// uploaded (up to max_body_bytes), then the 401.
TEST_F(HttpDetails, AnExpectContinueChatWithoutAKnownKeyIs401BeforeTheBody) {
  Start(Cfg());
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                           "Content-Length: 100000\r\n";
  Answer a = RawCall(gw_.port(), head + "Authorization: Bearer not-a-key\r\n\r\n");
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_EQ(Code(a), "invalid_api_key") << a.body;
  EXPECT_EQ(a.headers["Connection"], "close");
  a = RawCall(gw_.port(), head + "\r\n");
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_EQ(Code(a), "missing_api_key") << a.body;
  a = RawCall(gw_.port(), head + "Authorization: Bearer " + testkit::kSecret + "\r\n\r\n");
  EXPECT_EQ(a.status, 100);
  // A client that sends its body anyway reads the 401, not a reset.
  const std::string body(100000, 'a');
  a = RawCall(gw_.port(), head + "Authorization: Bearer not-a-key\r\n\r\n" + body);
  EXPECT_EQ(a.status, 401) << a.body;
}

// Every 401 names the scheme it wants: `WWW-Authenticate: Bearer` (RFC 9110
// 11.6.1: a 401 MUST carry it). Before: none.
TEST_F(HttpDetails, A401NamesTheBearerScheme) {
  Start(Cfg());
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", kChat).headers["WWW-Authenticate"],
            "Bearer");
  Answer a = testkit::HttpCall(gw_.port(), http::verb::get, "/v1/models", "", {{"authorization", "Bearer nope"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.headers["WWW-Authenticate"], "Bearer");
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/admin/reload", "");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.headers["WWW-Authenticate"], "Bearer");
}

// Every answer carries `Date` (RFC 9110 6.6.1: an origin server with a
// clock sends it), in the IMF-fixdate form, the second it was answered.
// Before: none.
TEST(HttpDate, IsTheImfFixdateForm) {
  EXPECT_EQ(internal::HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(internal::HttpDate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(internal::HttpDate(1796297569), "Thu, 03 Dec 2026 11:32:49 GMT");
}

TEST_F(HttpDetails, EveryAnswerIsDated) {
  Start(Cfg());
  auto dated = [](const Answer& a, int64_t before, int64_t after) {
    for (int64_t t = before; t <= after; ++t)
      if (a.headers.at("Date") == internal::HttpDate(t)) return true;
    return false;
  };
  for (const auto& [verb, target] : {std::pair{http::verb::get, "/healthz"}, std::pair{http::verb::get, "/nope"},
                                     std::pair{http::verb::post, "/v1/chat/completions"}}) {
    const int64_t before = std::time(nullptr);
    Answer a = testkit::HttpCall(gw_.port(), verb, target, verb == http::verb::post ? kChat : "");
    const int64_t after = std::time(nullptr);
    ASSERT_EQ(a.headers.count("Date"), 1u) << target;
    EXPECT_TRUE(dated(a, before, after)) << target << ": " << a.headers["Date"];
  }
}

// With CORS on, an error answered while the request is read -- a body over
// the limit (413), a malformed chunked body (400) -- carries the CORS
// headers: the browser page can read why it was refused.
TEST_F(HttpDetails, EarlyErrorsCarryTheCorsHeaders) {
  Config cfg = Cfg();
  cfg.cors.allow_origins = {"http://app.example"};
  cfg.limits.max_body_bytes = 1024;
  Start(std::move(cfg));
  Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", std::string(4096, 'x'),
                               {{"origin", "http://app.example"}, {"authorization", "Bearer sk"}});
  EXPECT_EQ(a.status, 413) << a.body;
  EXPECT_EQ(Code(a), "request_too_large") << a.body;
  EXPECT_EQ(a.headers["Access-Control-Allow-Origin"], "http://app.example");
  EXPECT_NE(a.headers["Access-Control-Expose-Headers"].find("x-tollgate-decision-id"), std::string::npos);
  // Chunked: the head is read, then the body overflows the limit, or is not chunked at all.
  a = RawCall(gw_.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(0x800, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(a.status, 413) << a.body;
  EXPECT_EQ(a.headers["Access-Control-Allow-Origin"], "http://app.example");
  a = RawCall(gw_.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                          "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Code(a), "http_malformed") << a.body;
  EXPECT_EQ(a.headers["Access-Control-Allow-Origin"], "http://app.example");
  // Another origin, or the admin API: none.
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", std::string(4096, 'x'),
                        {{"origin", "http://evil.example"}});
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(a.headers.count("Access-Control-Allow-Origin"), 0u);
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/admin/policy", std::string(4096, 'x'),
                        {{"origin", "http://app.example"}});
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(a.headers.count("Access-Control-Allow-Origin"), 0u);
}

// The routing explanation of 119 eliminated endpoints (22 KB) would make a
// response head Node's client refuses (16 KB): the header holds the
// entries that fit in 8 KB, whole, then {"truncated": N}.
TEST_F(HttpDetails, TheExplainHeaderIsCapped) {
  std::vector<testkit::TestEndpoint> eps;
  for (int i = 0; i < 120; ++i) eps.emplace_back("m/x@provider-number-" + std::to_string(i), "provider-number-" + std::to_string(i));
  testkit::WriteFile(dir_ + "/c.json", testkit::CatalogJson(eps));
  Start(Cfg());
  const std::string body =
      R"({"model": "m/x", "max_tokens": 5, "provider": {"only": ["provider-number-0"]}, "messages": [{"role": "user", "content": "hi"}]})";
  const std::string raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk\r\n"
                          "X-Tollgate-Explain: 1\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  Answer a = RawCall(gw_.port(), raw);
  EXPECT_EQ(a.status, 502) << a.body;  // the one endpoint left refuses connections
  const std::string& explain = a.headers["x-tollgate-explain"];
  EXPECT_LE(explain.size(), 8192u);
  rapidjson::Document d;
  d.Parse(explain.data(), explain.size());
  ASSERT_TRUE(!d.HasParseError() && d.IsArray() && d.Size() >= 2) << explain;
  const auto& last = d[d.Size() - 1];
  ASSERT_TRUE(last.IsObject() && last.HasMember("truncated") && last["truncated"].IsUint()) << explain;
  EXPECT_EQ(d.Size() - 1 + last["truncated"].GetUint(), 119u);
  EXPECT_TRUE(d[0].HasMember("id") && d[0].HasMember("code")) << explain;
  // A short one is whole, without the marker.
  testkit::WriteFile(dir_ + "/c.json", testkit::CatalogJson({eps[0], eps[1]}));
  gw_.Stop();
  Start(Cfg());
  a = RawCall(gw_.port(), raw);
  d.Parse(a.headers["x-tollgate-explain"].c_str());
  ASSERT_TRUE(d.IsArray() && d.Size() == 1) << a.headers["x-tollgate-explain"];
  EXPECT_FALSE(d[0].HasMember("truncated"));
}

// When every endpoint answers 429 the caller gets 429
// upstream_rate_limited with the shortest retry-after the providers gave
// (the SDKs then wait instead of retrying at once); when every endpoint
// refuses tollgate's credentials (401/403) the 502 says not to retry.
TEST_F(HttpDetails, EveryUpstreamRefusingIsAnsweredForTheClientsRetries) {
  CannedUpstream up;
  auto serve = [&](std::vector<std::string> modes) {
    std::vector<testkit::TestEndpoint> eps;
    for (size_t i = 0; i < modes.size(); ++i) {
      eps.push_back(testkit::TestEndpoint("m/x@p" + std::to_string(i), "p" + std::to_string(i))
                        .BaseUrl(up.Url(modes[i])).Price(std::to_string(i + 1)));  // tried in this order
    }
    testkit::WriteFile(dir_ + "/c.json", testkit::CatalogJson(eps));
    gw_.Stop();
    Start(Cfg());
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", kChat,
                             {{"authorization", "Bearer sk"}});
  };
  Answer a = serve({"s429-20", "s429-7", "s429"});
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(Code(a), "upstream_rate_limited") << a.body;
  EXPECT_NE(a.body.find("rate_limit_error"), std::string::npos) << a.body;
  EXPECT_EQ(a.headers["Retry-After"], "7");
  EXPECT_EQ(a.headers.count("x-should-retry"), 0u);
  a = serve({"s429", "s429"});  // no wait given: none passed on
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(a.headers.count("Retry-After"), 0u);
  a = serve({"s429-90"});  // longer than the SDKs wait: they would retry at once
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(a.headers["Retry-After"], "90");
  EXPECT_EQ(a.headers["x-should-retry"], "false");
  a = serve({"s429-9999999"});
  EXPECT_EQ(a.headers["Retry-After"], "3600");
  // The other forms the SDKs read: `retry-after-ms` (first), an HTTP-date.
  a = serve({"s429-ms1500", "s429-20"});
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(a.headers["retry-after-ms"], "1500");
  EXPECT_EQ(a.headers["Retry-After"], "2");
  a = serve({"s429-in30"});
  EXPECT_EQ(a.status, 429) << a.body;
  const int after = std::stoi(a.headers["Retry-After"]);  // the clock moves
  EXPECT_GE(after, 28);
  EXPECT_LE(after, 30);
  EXPECT_EQ(a.headers.count("x-should-retry"), 0u);
  a = serve({"s429-in-30"});  // a date passed: retry now
  EXPECT_EQ(a.headers["Retry-After"], "0");
  a = serve({"s429-soon"});  // not a number nor a date: none passed on
  EXPECT_EQ(a.headers.count("Retry-After"), 0u);
  a = serve({"s429-7", "s500"});  // not every one rate limited: the 502 as before
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_EQ(Code(a), "upstream_unavailable") << a.body;
  EXPECT_EQ(a.headers.count("Retry-After"), 0u);
  EXPECT_EQ(a.headers.count("x-should-retry"), 0u);
  a = serve({"s401", "s403"});
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_EQ(Code(a), "upstream_unavailable") << a.body;
  EXPECT_NE(a.body.find("status_401"), std::string::npos) << a.body;
  EXPECT_EQ(a.headers["x-should-retry"], "false");
  a = serve({"s401", "s500"});
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_EQ(a.headers.count("x-should-retry"), 0u);
}

// After SIGTERM (Stop) the gateway keeps accepting for drain_grace_ms:
// /healthz answers 503 `draining` -- the load balancer's cue, which a
// closed port never gave -- and new chat and decide requests 503
// `draining` with Connection: close; a second Stop ends the grace period.
TEST_F(HttpDetails, TheDrainsGracePeriodAnswersDraining) {
  gw_.drain_grace_ms = 600'000;  // ended by the second Stop, never waited out
  Start(Cfg());
  ASSERT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "").status, 200);
  gw_.Drain();
  Answer a = testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "");
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_NE(a.body.find("\"status\":\"draining\""), std::string::npos) << a.body;
  EXPECT_EQ(a.headers["Connection"], "close");
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", kChat, {{"authorization", "Bearer sk"}});
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_EQ(Code(a), "draining") << a.body;
  EXPECT_EQ(a.headers["Connection"], "close");
  EXPECT_EQ(a.headers.count("x-should-retry"), 0u);  // another instance will answer
  a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide", R"({"principal": {}, "request": {}})");
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_EQ(Code(a), "draining") << a.body;
  a = testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "");
  EXPECT_EQ(a.status, 200);
  gw_.Stop();  // the second Stop: the listener closes, the server stops
}

}  // namespace
}  // namespace tollgate::gateway
