// A budget store that cannot be read while a rule reads its counters
// (docs/budgets.md, "When the store cannot be read"): the request is answered
// as its admission would be -- fail closed 503 budget_store_unavailable (left
// to the client's backoff), fail open evaluated with the counters unknown
// (the rule reading them skipped) and admitted unverified -- never 403
// rule_error blaming the policy. Redis at 127.0.0.1:1 refuses connections.
#include <gtest/gtest.h>

#include <boost/beast/http/verb.hpp>

#include <string>

#include "runtime/audit/replay.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace http = boost::beast::http;
using Answer = testkit::HttpAnswer;

constexpr const char* kPolicy = R"(policy "gw2"
budget ws_daily { key principal.workspace per day limit 50 usd }
rule degrade_before_deny { when budget.ws_daily.remaining < 5 usd route sort price }
rule no { when request.content contains "forbidden" deny 403 "no" }
)";

constexpr const char* kChat = R"({"model": "m/x", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10})";

std::string UpstreamOk() {
  const std::string body =
      R"({"id":"c1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,)"
      R"("message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}})";
  return "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(body.size()) +
         "\r\nconnection: close\r\n\r\n" + body;
}

class StoreOutage : public ::testing::Test {
 protected:
  void Start(const std::string& ledger) {
    dir_ = testkit::MakeTempDir("outage");
    testkit::WriteFile(dir_ + "/p.tg", kPolicy);
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").BaseUrl(up_.base_url())}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    Config cfg = testkit::FilesConfig(dir_ + "/p.tg", dir_ + "/c.json", dir_ + "/k.json");
    cfg.ledger = ledger;
    cfg.audit = dir_ + "/audit";
    cfg.upstream.max_attempts = 1;
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    gw_.Stop();
    testkit::RemoveDir(dir_);
  }
  Answer Chat(const std::string& body = kChat) {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body,
                             {{"authorization", std::string("Bearer ") + testkit::kSecret}});
  }
  Answer Decide() {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide",
                             R"({"principal": {"workspace": "w"}, "request": {"model": "m/x", "messages": [{"role": "user", "content": "hello"}]}})");
  }
  std::string Record(Answer& a) {
    EXPECT_EQ(a.headers.count("x-tollgate-decision-id"), 1u) << a.status << " " << a.body;
    return testkit::DecisionRecord(dir_ + "/audit", a.headers["x-tollgate-decision-id"]);
  }
  // Replays the log (the gateway stopped): every record reproduced.
  void ExpectReplaysIdentically(size_t records) {
    gw_.Stop();  // closes the log
    audit::ReplayOptions o;
    o.dir = dir_ + "/audit";
    audit::ReplayReport r;
    std::string err;
    ASSERT_TRUE(audit::Replay(o, &r, &err)) << err;
    EXPECT_EQ(r.records, records);
    EXPECT_EQ(r.identical, records) << audit::ReportText(r);
  }
  static bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

  testkit::ScriptedUpstream up_{UpstreamOk(), false};
  std::string dir_;
  testkit::LoopbackServer gw_;
};

TEST_F(StoreOutage, FailClosedAnswers503BudgetStoreUnavailableNotRuleError) {
  Start("redis://127.0.0.1:1/0");
  Answer a = Chat();
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_TRUE(Has(a.body, R"("code":"budget_store_unavailable")")) << a.body;
  EXPECT_FALSE(Has(a.body, "rule_error")) << a.body;
  EXPECT_FALSE(Has(a.body, "degrade_before_deny")) << a.body;
  // Retryable, as an admission's 503: left to the client's backoff.
  auto retry = a.headers.find("x-should-retry");
  EXPECT_TRUE(retry == a.headers.end() || retry->second != "false");
  EXPECT_EQ(up_.requests(), 0);
  const std::string rec = Record(a);
  EXPECT_TRUE(Has(rec, R"("unavailable":true)")) << rec;
  EXPECT_TRUE(Has(rec, R"("admitted":false,"status":503,"code":"budget_store_unavailable")")) << rec;
  ExpectReplaysIdentically(1);
}

TEST_F(StoreOutage, FailClosedKeepsARealDeny) {
  Start("redis://127.0.0.1:1/0");
  Answer a = Chat(R"({"model": "m/x", "messages": [{"role": "user", "content": "forbidden"}]})");
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_TRUE(Has(a.body, R"("code":"policy_denied")")) << a.body;
}

TEST_F(StoreOutage, FailOpenSkipsTheRuleReadingCountersAndAdmitsUnverified) {
  Start("redis://127.0.0.1:1/0?fail_open=true");
  Answer a = Chat();
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(up_.requests(), 1);
  const std::string rec = Record(a);
  EXPECT_FALSE(Has(rec, "rule_error")) << rec;
  EXPECT_TRUE(Has(rec, R"("unavailable":true)")) << rec;
  EXPECT_TRUE(Has(rec, R"("unverified":true)")) << rec;
  // The skipped read is listed, naming the counter.
  EXPECT_TRUE(Has(rec, "budget.ws_daily.remaining")) << rec;
  ExpectReplaysIdentically(1);
}

TEST_F(StoreOutage, DecideAnswersTheSameWay) {
  Start("redis://127.0.0.1:1/0");
  Answer a = Decide();
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Has(a.body, R"("status":503,"code":"budget_store_unavailable")")) << a.body;
  EXPECT_FALSE(Has(a.body, "rule_error")) << a.body;
  gw_.Stop();
  testkit::RemoveDir(dir_);
  Start("redis://127.0.0.1:1/0?fail_open=true");
  a = Decide();
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Has(a.body, R"("outcome":"allow")")) << a.body;
  EXPECT_FALSE(Has(a.body, "rule_error")) << a.body;
  EXPECT_TRUE(Has(Record(a), R"("unavailable":true)"));
}

// /healthz reads the store now: unreachable and failing closed, the gateway
// is up but "degraded" (200, the store's error named); failing open it is
// "ok" with the store still reported; an embedded ledger is "ok".
TEST_F(StoreOutage, HealthzReportsTheStore) {
  Start("redis://127.0.0.1:1/0");
  Answer a = testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Has(a.body, R"("status":"degraded")")) << a.body;
  EXPECT_TRUE(Has(a.body, R"("ledger":"unavailable","ledger_error":"budget store )")) << a.body;
  EXPECT_TRUE(Has(a.body, "127.0.0.1:1")) << a.body;
  gw_.Stop();
  testkit::RemoveDir(dir_);
  Start("redis://127.0.0.1:1/0?fail_open=true");
  a = testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Has(a.body, R"("status":"ok")")) << a.body;
  EXPECT_TRUE(Has(a.body, R"("ledger":"unavailable")")) << a.body;
  gw_.Stop();
  testkit::RemoveDir(dir_);
  const std::string db_dir = testkit::MakeTempDir("outage_sqlite");
  Start("sqlite:" + db_dir + "/l.db");
  a = testkit::HttpCall(gw_.port(), http::verb::get, "/healthz", "");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Has(a.body, R"("status":"ok")")) << a.body;
  EXPECT_TRUE(Has(a.body, R"("ledger":"ok")")) << a.body;
  EXPECT_FALSE(Has(a.body, "ledger_error")) << a.body;
  gw_.Stop();
  testkit::RemoveDir(db_dir);
}

}  // namespace
}  // namespace tollgate::gateway
