// Fixes from driving `tollgate serve` with curl and the openai npm client:
// a shadow judged and promoted against the catalog loaded now, and the HTTP
// details the SDK depends on (docs/gateway.md).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "runtime/gateway/config.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace http = boost::beast::http;

// A shadow loaded before a reload that removed an endpoint is rebuilt over
// the reloaded catalog: it is compared against it meanwhile, and promoting
// it does not bring the removed endpoint back. Before, the shadow kept the
// catalog read when it was loaded, and Promote installed it unchanged.
TEST(ShadowCatalog, AReloadRebasesTheShadowAndPromoteKeepsTheReloadedCatalog) {
  const std::string dir = testkit::MakeTempDir("review");
  testkit::WriteFile(dir + "/p.tg", "policy \"t\"\n");
  testkit::WriteFile(dir + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a"),
                                                           testkit::TestEndpoint("m/x@b", "b").Price("2")}));
  testkit::WriteFile(dir + "/k.json", testkit::OneKeyJson());
  std::string err;
  auto svc = Service::Create(testkit::DirConfig(dir), &err);
  ASSERT_TRUE(svc) << err;
  ASSERT_TRUE(svc->LoadSources({{dir + "/p.tg", "policy \"s\"\n"}}, true, &err)) << err;
  ASSERT_EQ(svc->shadow()->catalog->endpoints().size(), 2u);

  const std::string only_b = testkit::CatalogJson({testkit::TestEndpoint("m/x@b", "b").Price("2")});
  testkit::WriteFile(dir + "/c.json", only_b);
  ASSERT_TRUE(svc->ReloadFromDisk(&err)) << err;
  ASSERT_EQ(svc->live()->catalog->endpoints().size(), 1u);
  ASSERT_NE(svc->shadow(), nullptr);
  EXPECT_EQ(svc->shadow()->catalog->endpoints().size(), 1u);  // compared against the reloaded catalog

  ASSERT_TRUE(svc->Promote(&err)) << err;
  ASSERT_EQ(svc->live()->catalog->endpoints().size(), 1u);
  EXPECT_EQ(svc->live()->catalog->endpoints()[0].id, "m/x@b");
  EXPECT_EQ(svc->live()->sources.catalog_json, only_b);
  auto x = testkit::StartExchange(*svc, R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})");
  svc->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc->ErrorJson(*x);
  ASSERT_EQ(x->s.route.endpoints.size(), 1u);
  EXPECT_EQ(x->live->catalog->endpoint(x->s.route.endpoints[0].endpoint).id, "m/x@b");
  svc->Finish(x.get(), Outcome{});
  testkit::RemoveDir(dir);
}

// A shadow is built over the catalog the live version serves, not the file
// edited on disk without a reload.
TEST(ShadowCatalog, AShadowIsBuiltOverTheLoadedCatalogNotTheFile) {
  const std::string dir = testkit::MakeTempDir("review");
  testkit::WriteFile(dir + "/p.tg", "policy \"t\"\n");
  testkit::WriteFile(dir + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a"),
                                                           testkit::TestEndpoint("m/x@b", "b")}));
  testkit::WriteFile(dir + "/k.json", testkit::OneKeyJson());
  std::string err;
  auto svc = Service::Create(testkit::DirConfig(dir), &err);
  ASSERT_TRUE(svc) << err;
  testkit::WriteFile(dir + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@b", "b")}));
  ASSERT_TRUE(svc->LoadSources({{dir + "/p.tg", "policy \"s\"\n"}}, true, &err)) << err;
  EXPECT_EQ(svc->shadow()->catalog->endpoints().size(), 2u);
  testkit::RemoveDir(dir);
}

// A non-streamed answer of `body` with `type` (Content-Length set).
std::string Answer(const std::string& body, const std::string& type = "application/json",
                   const std::string& status = "200 OK") {
  return "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}
const char kCompletion[] =
    R"({"id":"c","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})";

class ReviewServer : public ::testing::Test {
 protected:
  void Start(const std::string& response, int64_t max_response_bytes = 16 << 20) {
    up_ = std::make_unique<testkit::ScriptedUpstream>(response, false);
    dir_ = testkit::MakeTempDir("review");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\n");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").BaseUrl(up_->base_url())}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    Config cfg = testkit::DirConfig(dir_);
    cfg.upstream.max_attempts = 1;
    cfg.upstream.max_response_bytes = max_response_bytes;
    cfg.access_log = true;
    cfg.admin_token_env = "TG_TEST_REVIEW_ADMIN_TOKEN";
    setenv("TG_TEST_REVIEW_ADMIN_TOKEN", "adm", 1);
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_, true);
    spdlog::get("tollgate")->sinks().push_back(sink_);
  }
  void TearDown() override {
    if (sink_) {
      auto& sinks = spdlog::get("tollgate")->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    gw_.Stop();
    up_.reset();
    unsetenv("TG_TEST_REVIEW_ADMIN_TOKEN");
    testkit::RemoveDir(dir_);
  }
  testkit::HttpAnswer Chat(const std::string& body) {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body,
                             {{"Authorization", std::string("Bearer ") + testkit::kSecret}});
  }
  testkit::HttpAnswer Get(const std::string& target, bool key = true) {
    std::vector<std::pair<std::string, std::string>> h;
    if (key) h.emplace_back("Authorization", std::string("Bearer ") + testkit::kSecret);
    return testkit::HttpCall(gw_.port(), http::verb::get, target, "", h);
  }
  rapidjson::Document Record(const testkit::HttpAnswer& a) {
    rapidjson::Document d;
    auto id = a.headers.find("x-tollgate-decision-id");
    EXPECT_NE(id, a.headers.end()) << a.body;
    if (id == a.headers.end()) return d;
    const std::string line = testkit::DecisionRecord(dir_ + "/audit", id->second);
    rapidjson::Document rec;
    rec.Parse(line.data(), line.size());
    if (rec.IsObject() && rec.HasMember("gateway")) d.CopyFrom(rec["gateway"], d.GetAllocator());
    EXPECT_TRUE(d.IsObject()) << line;
    return d;
  }
  static std::string Str(const rapidjson::Document& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsString() ? g[name].GetString() : "";
  }
  static bool Bool(const rapidjson::Document& g, const char* name) {
    return g.IsObject() && g.HasMember(name) && g[name].IsBool() && g[name].GetBool();
  }
  std::string Log() {
    spdlog::get("tollgate")->flush();
    return log_.str();
  }
  static std::string Header(const testkit::HttpAnswer& a, const std::string& name) {
    auto it = a.headers.find(name);
    return it == a.headers.end() ? "" : it->second;
  }

  std::unique_ptr<testkit::ScriptedUpstream> up_;
  std::string dir_;
  testkit::LoopbackServer gw_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

const char kAsk[] = R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})";

// openai-node 5.x sends models.retrieve("m/x") as /v1/models/m%2Fx: decoded.
// A malformed escape is 400. Before: 404 model_not_found.
TEST_F(ReviewServer, ModelsRetrieveDecodesAPercentEncodedId) {
  Start(Answer(kCompletion));
  testkit::HttpAnswer a = Get("/v1/models/m%2Fx");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("\"m/x\""), std::string::npos) << a.body;
  a = Get("/v1/models/m%2fx");
  EXPECT_EQ(a.status, 200) << a.body;
  a = Get("/v1/models/m/x");
  EXPECT_EQ(a.status, 200) << a.body;
  for (const char* bad : {"/v1/models/m%2", "/v1/models/m%zzx", "/v1/models/m%"}) {
    a = Get(bad);
    EXPECT_EQ(a.status, 400) << bad << " " << a.body;
    EXPECT_NE(a.body.find("\"invalid_path\""), std::string::npos) << a.body;
  }
  a = Get("/v1/models/m%2Fy");
  EXPECT_EQ(a.status, 404) << a.body;
}

// Every answer carries x-tollgate-policy-version (docs/gateway.md), not
// only the decided ones. Before: missing on all of these.
TEST_F(ReviewServer, EveryAnswerNamesThePolicyVersion) {
  Start(Answer(kCompletion));
  const std::string version = gw_.svc().live()->version;
  const std::vector<testkit::HttpAnswer> answers = {
      Get("/v1/models"),
      Get("/v1/models/m/x"),
      Get("/v1/models/nope"),
      Get("/healthz", false),
      Get("/metrics", false),
      Get("/nope", false),
      Get("/v1/chat/completions"),  // 405
      testkit::HttpCall(gw_.port(), http::verb::post, "/admin/reload", "", {{"Authorization", "Bearer wrong"}}),
  };
  for (const testkit::HttpAnswer& a : answers) {
    EXPECT_EQ(Header(a, "x-tollgate-policy-version"), version) << a.status << " " << a.body;
  }
}

// A non-streamed 200 that is no JSON chat completion is an upstream
// failure: 502 upstream_failed (here the only endpoint), not retried by the
// SDKs, counted as answer_invalid. Before: relayed as a 200. It falls back
// like a 5xx and costs nothing without a reported usage (hardening_test.cc);
// before that it was charged at the worst case.
TEST_F(ReviewServer, ANonStreamed200ThatIsNoCompletionIs502) {
  Start(Answer("<html><body>bad gateway</body></html>", "text/html"));
  testkit::HttpAnswer a = Chat(kAsk);
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_NE(a.body.find("\"upstream_failed\""), std::string::npos) << a.body;
  EXPECT_EQ(Header(a, "x-should-retry"), "false");
  rapidjson::Document g = Record(a);
  EXPECT_EQ(Str(g, "error"), "upstream_failed");
  EXPECT_FALSE(Bool(g, "usage_estimated"));
  EXPECT_EQ(Str(g, "cost"), "0");
  EXPECT_NE(Get("/metrics", false).body.find("kind=\"answer_invalid\""), std::string::npos);
}

TEST_F(ReviewServer, TruncatedJsonIs502) {
  const std::string body = kCompletion;
  Start(Answer(body.substr(0, body.size() / 2)));
  testkit::HttpAnswer a = Chat(kAsk);
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_EQ(Header(a, "x-should-retry"), "false");
}

TEST_F(ReviewServer, AValidCompletionStillPasses) {
  Start(Answer(kCompletion, "application/json; charset=utf-8"));
  testkit::HttpAnswer a = Chat(kAsk);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, kCompletion);
}

// An answer over max_response_bytes: the same request gets the same
// answer, and each retry is charged at the worst case. Before: no
// x-should-retry, the SDK sent it three times.
TEST_F(ReviewServer, AnAnswerTooLargeIsNotRetried) {
  Start(Answer(kCompletion), 64);
  testkit::HttpAnswer a = Chat(kAsk);
  EXPECT_EQ(a.status, 502) << a.body;
  EXPECT_NE(a.body.find("\"upstream_too_large\""), std::string::npos) << a.body;
  EXPECT_EQ(Header(a, "x-should-retry"), "false");
}

// A reported usage beyond what the request could be billed is charged at
// the bound (completion: max_tokens; prompt: the context length), marked
// and logged. Before: 1e14 tokens settled 75,000,000 usd at this price.
TEST_F(ReviewServer, AnUnboundedReportedUsageIsCapped) {
  std::string body = kCompletion;
  const std::string usage = R"("prompt_tokens":5,"completion_tokens":2)";
  body.replace(body.find(usage), usage.size(), R"("prompt_tokens":100000000000000,"completion_tokens":100000000000000)");
  Start(Answer(body));
  testkit::HttpAnswer a = Chat(kAsk);
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_TRUE(Bool(g, "usage_capped"));
  // 100000 prompt (the context length) + 10 completion tokens at 1 usd per million.
  EXPECT_EQ(Str(g, "cost"), "0.10001");
  EXPECT_NE(Log().find("\"event\":\"usage_capped\""), std::string::npos) << Log();
}

// Within the bounds: charged as reported, not marked.
TEST_F(ReviewServer, AUsageWithinTheBoundsIsNotMarked) {
  Start(Answer(kCompletion));
  testkit::HttpAnswer a = Chat(kAsk);
  ASSERT_EQ(a.status, 200) << a.body;
  rapidjson::Document g = Record(a);
  EXPECT_FALSE(Bool(g, "usage_capped"));
  EXPECT_EQ(Str(g, "cost"), "0.000007");
}

// An upstream 4xx passed through: the access line names the endpoint, as
// the record does. Before: "endpoint":"".
TEST_F(ReviewServer, TheAccessLineOfAPassedThrough4xxNamesTheEndpoint) {
  Start(Answer(R"({"error":{"message":"bad","type":"invalid_request_error"}})", "application/json", "400 Bad Request"));
  testkit::HttpAnswer a = Chat(kAsk);
  ASSERT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Str(Record(a), "endpoint"), "m/x@a");
  EXPECT_NE(Log().find("\"endpoint\":\"m/x@a\""), std::string::npos) << Log();
}

// Promote and delete of the shadow are logged like a load.
TEST_F(ReviewServer, PromoteAndDeleteOfTheShadowAreLogged) {
  Start(Answer(kCompletion));
  auto admin = [&](http::verb verb, const std::string& target, const std::string& body) {
    return testkit::HttpCall(gw_.port(), verb, target, body, {{"Authorization", "Bearer adm"}});
  };
  ASSERT_EQ(admin(http::verb::post, "/admin/policy?shadow=1", "policy \"s\"\n").status, 200);
  ASSERT_EQ(admin(http::verb::post, "/admin/policy/promote", "").status, 200);
  EXPECT_NE(Log().find("\"event\":\"policy_promoted\""), std::string::npos) << Log();
  ASSERT_EQ(admin(http::verb::post, "/admin/policy?shadow=1", "policy \"s2\"\n").status, 200);
  ASSERT_EQ(admin(http::verb::delete_, "/admin/policy/shadow", "").status, 200);
  EXPECT_NE(Log().find("\"event\":\"shadow_deleted\""), std::string::npos) << Log();
}

// A request refused before any decision -- no key, an unknown key, a body
// that is not one JSON value or that the decoder refuses -- still gets its
// access line (no decision id: nothing was decided or recorded), so failed
// authentication and a client's malformed requests show in the log, not
// only in /metrics. Before: no line at all.
TEST_F(ReviewServer, ARequestRefusedBeforeItsDecisionHasAnAccessLine) {
  Start(Answer(kCompletion));
  auto lines_with = [&](const std::string& what) {
    std::vector<std::string> found;
    std::istringstream in(Log());
    for (std::string l; std::getline(in, l);) {
      if (l.find("\"event\":\"request\"") != std::string::npos && l.find(what) != std::string::npos) found.push_back(l);
    }
    return found;
  };
  testkit::HttpAnswer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", kAsk,
                                            {{"Authorization", "Bearer not-a-key"}});
  ASSERT_EQ(a.status, 401) << a.body;
  auto l = lines_with("\"code\":\"invalid_api_key\"");
  ASSERT_EQ(l.size(), 1u) << Log();
  EXPECT_NE(l[0].find("\"path\":\"/v1/chat/completions\""), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"status\":401"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"key_id\":\"\""), std::string::npos) << l[0];
  EXPECT_EQ(l[0].find("decision_id"), std::string::npos) << l[0];
  EXPECT_EQ(l[0].find("not-a-key"), std::string::npos) << l[0];  // no key is ever logged

  ASSERT_EQ(testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", kAsk, {}).status, 401);
  EXPECT_EQ(lines_with("\"code\":\"missing_api_key\"").size(), 1u) << Log();

  a = Chat(R"({"model": "m/x", "messages": )");
  ASSERT_EQ(a.status, 400) << a.body;
  l = lines_with("\"code\":\"input_malformed_json\"");
  ASSERT_EQ(l.size(), 1u) << Log();
  EXPECT_NE(l[0].find("\"key_id\":\"k\""), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"status\":400"), std::string::npos) << l[0];

  a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide", R"({"request": {}})", {});
  ASSERT_EQ(a.status, 400) << a.body;
  l = lines_with("\"path\":\"/v1/decide\"");
  ASSERT_EQ(l.size(), 1u) << Log();
  EXPECT_NE(l[0].find("\"status\":400"), std::string::npos) << l[0];

  ASSERT_EQ(Get("/v1/models", false).status, 401);
  l = lines_with("\"path\":\"/v1/models\"");
  ASSERT_EQ(l.size(), 1u) << Log();
  EXPECT_NE(l[0].find("\"code\":\"missing_api_key\""), std::string::npos) << l[0];
}

// A models request that is answered -- the list, one model, or 404 for a
// model this caller may not use -- has its access line like a refused one
// (outcome `answered`, no decision id: nothing is decided or recorded), so
// the log shows who listed or looked up models. Before: only a refused
// models request (401, 400 `invalid_path`) left a line.
TEST_F(ReviewServer, AnAnsweredModelsRequestHasAnAccessLine) {
  Start(Answer(kCompletion));
  auto lines_with = [&](const std::string& what) {
    std::vector<std::string> found;
    std::istringstream in(Log());
    for (std::string l; std::getline(in, l);) {
      if (l.find("\"event\":\"request\"") != std::string::npos && l.find(what) != std::string::npos) found.push_back(l);
    }
    return found;
  };
  ASSERT_EQ(Get("/v1/models").status, 200);
  auto l = lines_with("\"path\":\"/v1/models\"");
  ASSERT_EQ(l.size(), 1u) << Log();
  EXPECT_NE(l[0].find("\"key_id\":\"k\""), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"outcome\":\"answered\""), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"code\":\"ok\""), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"status\":200"), std::string::npos) << l[0];
  EXPECT_EQ(l[0].find("decision_id"), std::string::npos) << l[0];

  ASSERT_EQ(Get("/v1/models/m/x").status, 200);
  ASSERT_EQ(Get("/v1/models/no/such").status, 404);
  l = lines_with("\"path\":\"/v1/models/{id}\"");
  ASSERT_EQ(l.size(), 2u) << Log();
  EXPECT_NE(l[0].find("\"status\":200"), std::string::npos) << l[0];
  EXPECT_NE(l[1].find("\"code\":\"model_not_found\""), std::string::npos) << l[1];
  EXPECT_NE(l[1].find("\"status\":404"), std::string::npos) << l[1];
  EXPECT_NE(l[1].find("\"outcome\":\"answered\""), std::string::npos) << l[1];
}

}  // namespace
}  // namespace tollgate::gateway
