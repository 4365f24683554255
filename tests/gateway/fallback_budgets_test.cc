// Budgets and rate limits scoped by the model actually served
// (docs/budgets.md, "Scoping by the endpoint that serves"): a budget or limit
// whose `when` or key reads `endpoint.*` is charged to the endpoint that
// answers -- the primary at admission, a fallback's own counters when the
// gateway moves to it -- so naming a model among the fallbacks (`models`),
// or being served by it when the primary fails, does not bypass it.
#include <gtest/gtest.h>

#include "runtime/gateway/config.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

// Two models: m/a served by provider q, m/b by provider p (1 usd per million
// tokens both ways: 1 micro-usd per token).
class ServedBudgets : public ::testing::Test {
 protected:
  void Load(const std::string& policy) {
    dir_ = testkit::MakeTempDir("served");
    testkit::WriteFile(dir_ + "/p.tg", policy);
    testkit::WriteFile(dir_ + "/teams.json", R"({"m/a": "team-a"})");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/a@q", "q").Model("m/a"),
                                             testkit::TestEndpoint("m/b@p", "p").Model("m/b")}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    cfg_ = testkit::DirConfig(dir_);
    cfg_.audit = "";
    std::string err;
    svc_ = Service::Create(cfg_, &err);
    ASSERT_TRUE(svc_) << err;
  }
  void TearDown() override {
    svc_.reset();
    testkit::RemoveDir(dir_);
  }
  std::unique_ptr<Exchange> Start(const std::string& body) { return testkit::StartExchange(*svc_, body); }
  std::string Served(const Exchange& x, size_t attempt = 0) {
    return svc_->live()->catalog->endpoint(x.s.route.endpoints[attempt].endpoint).id;
  }
  // The counter of declaration `name` under `key` (zeros when absent).
  ledger::CounterView Counter(const std::string& name, const std::string& key) {
    std::vector<ledger::CounterView> views;
    EXPECT_TRUE(svc_->ledger()->Snapshot(&views).ok);
    for (const ledger::CounterView& v : views)
      if (v.name == name && v.key == key) return v;
    return {};
  }
  static Outcome Answered(int64_t prompt, int64_t completion) {
    Outcome o;
    o.http_status = 200;
    o.started = true;
    o.prompt_tokens = prompt;
    o.completion_tokens = completion;
    return o;
  }

  std::string dir_;
  Config cfg_;
  std::unique_ptr<Service> svc_;
};

// The reviewer's case: 1 request a minute on m/a. A request for m/b naming
// m/a as a fallback, with a provider only m/a has, is served by m/a: it is
// counted, and refused once the minute's request is used.
TEST_F(ServedBudgets, ALimitOnTheServedModelCountsRequestsForAnotherModel) {
  Load(R"(policy "t"
limit a_rpm { when endpoint.model == "m/a" key principal.workspace per minute max 1 requests }
)");
  const std::string via_fallback =
      R"({"model": "m/b", "models": ["m/a"], "provider": {"only": ["q"]}, "max_tokens": 5,
          "messages": [{"role": "user", "content": "hi"}]})";
  auto x = Start(via_fallback);
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  ASSERT_EQ(Served(*x), "m/a@q");
  EXPECT_EQ(Counter("a_rpm", "w").reserved, 1);
  svc_->Finish(x.get(), Answered(10, 5));
  EXPECT_EQ(Counter("a_rpm", "w").spent, 1);

  auto y = Start(via_fallback);
  svc_->Decide(y.get());
  EXPECT_FALSE(y->allowed());
  EXPECT_EQ(svc_->Status(*y), 429);
  EXPECT_EQ(y->s.decision.code, "rate_limited");
  svc_->Finish(y.get(), Outcome{});

  // m/b itself is not limited.
  auto z = Start(R"({"model": "m/b", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(z.get());
  EXPECT_TRUE(z->allowed()) << svc_->ErrorJson(*z);
  EXPECT_EQ(Served(*z), "m/b@p");
  svc_->Finish(z.get(), Answered(10, 5));
  EXPECT_EQ(Counter("a_rpm", "w").spent, 1);
}

// The primary (m/b) fails and the gateway falls back to m/a: the move
// reserves m/a's limit and budget, the settlement charges them, and the
// next such fallback is refused with the limit's own 429.
TEST_F(ServedBudgets, AFallbackToTheModelIsChargedWhenTheGatewayMovesToIt) {
  Load(R"(policy "t"
budget a_daily { when endpoint.model == "m/a" key principal.workspace per day limit 1 usd }
limit a_rpm { when endpoint.model == "m/a" key principal.workspace per minute max 1 requests }
budget ws { key principal.workspace per day limit 1 usd }
)");
  const std::string body =
      R"({"model": "m/b", "models": ["m/a"], "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})";
  auto x = Start(body);
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  ASSERT_EQ(x->s.route.endpoints.size(), 2u);
  ASSERT_EQ(Served(*x, 0), "m/b@p");
  ASSERT_EQ(Served(*x, 1), "m/a@q");
  EXPECT_EQ(Counter("a_rpm", "w").reserved, 0);  // m/b serves: not charged
  EXPECT_EQ(Counter("a_daily", "w").reserved, 0);
  const int64_t ws_reserved = Counter("ws", "w").reserved;
  EXPECT_GT(ws_reserved, 0);

  ASSERT_TRUE(svc_->MoveTo(x.get(), 1)) << x->admission.message;  // m/b failed
  EXPECT_EQ(Counter("a_rpm", "w").reserved, 1);
  EXPECT_EQ(Counter("a_daily", "w").reserved, ws_reserved);  // same prices: same worst case
  EXPECT_EQ(Counter("ws", "w").reserved, ws_reserved);       // moved, not doubled
  svc_->Finish(x.get(), Answered(10, 5));
  EXPECT_EQ(Counter("a_rpm", "w").spent, 1);
  EXPECT_EQ(Counter("a_daily", "w").spent, 15);
  EXPECT_EQ(Counter("a_daily", "w").reserved, 0);
  EXPECT_EQ(Counter("ws", "w").spent, 15);
  EXPECT_EQ(Counter("ws", "w").reserved, 0);

  auto y = Start(body);
  svc_->Decide(y.get());
  ASSERT_TRUE(y->allowed()) << svc_->ErrorJson(*y);
  EXPECT_FALSE(svc_->MoveTo(y.get(), 1));
  EXPECT_EQ(y->admission.verdict, ledger::Verdict::kRateLimited);
  EXPECT_EQ(y->admission.status(), 429);
  EXPECT_NE(y->admission.message.find("a_rpm"), std::string::npos) << y->admission.message;
  svc_->Finish(y.get(), Outcome{});  // nothing delivered: released
  EXPECT_EQ(Counter("ws", "w").reserved, 0);
  EXPECT_EQ(Counter("ws", "w").spent, 15);
  EXPECT_EQ(Counter("a_rpm", "w").spent, 1);
}

// Keyed by the model served: the spend of m/a is charged to m/a's key
// whichever model was asked for, and a fallback moves it from m/b's key.
TEST_F(ServedBudgets, AKeyOnTheServedModelChargesTheModelThatAnswered) {
  Load(R"(policy "t"
budget per_model { key endpoint.model per day limit 100 usd }
)");
  auto x = Start(R"({"model": "m/b", "models": ["m/a"], "provider": {"only": ["q"]}, "max_tokens": 5,
                     "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  svc_->Finish(x.get(), Answered(10, 5));
  EXPECT_EQ(Counter("per_model", "m/a").spent, 15);
  EXPECT_EQ(Counter("per_model", "m/b").spent, 0);

  auto y = Start(R"({"model": "m/b", "models": ["m/a"], "max_tokens": 5,
                     "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(y.get());
  ASSERT_TRUE(y->allowed()) << svc_->ErrorJson(*y);
  EXPECT_GT(Counter("per_model", "m/b").reserved, 0);
  ASSERT_TRUE(svc_->MoveTo(y.get(), 1)) << y->admission.message;
  EXPECT_EQ(Counter("per_model", "m/b").reserved, 0);
  EXPECT_GT(Counter("per_model", "m/a").reserved, 0);
  svc_->Finish(y.get(), Answered(20, 5));
  EXPECT_EQ(Counter("per_model", "m/a").spent, 15 + 25);
  EXPECT_EQ(Counter("per_model", "m/b").spent, 0);
}

// A per-endpoint `when` that cannot be computed for the endpoint (here a
// division by zero at m/b) fails closed, at admission and on a fallback to
// that endpoint, as a request-scoped one does.
TEST_F(ServedBudgets, AnEndpointPlanThatCannotBeComputedFailsClosed) {
  Load(R"(policy "t"
data teams from "teams.json": map<string>
budget by_team {
  when endpoint.model == "m/a" or 1 / (endpoint.context_length - 100000) > 0
  key teams[endpoint.model] ?? "none"
  per day
  limit 1 usd
}
)");
  auto a = Start(R"({"model": "m/a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(a.get());
  ASSERT_TRUE(a->allowed()) << svc_->ErrorJson(*a);
  svc_->Finish(a.get(), Answered(10, 5));
  EXPECT_EQ(Counter("by_team", "team-a").spent, 15);

  auto b = Start(R"({"model": "m/b", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(b.get());
  EXPECT_FALSE(b->allowed());
  EXPECT_EQ(b->s.decision.code, "rule_error");
  EXPECT_NE(b->s.decision.reason.find("budget `by_team`"), std::string::npos) << b->s.decision.reason;
  svc_->Finish(b.get(), Outcome{});

  auto c = Start(R"({"model": "m/a", "models": ["m/b"], "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})");
  svc_->Decide(c.get());
  ASSERT_TRUE(c->allowed()) << svc_->ErrorJson(*c);
  ASSERT_EQ(Served(*c, 1), "m/b@p");
  EXPECT_FALSE(svc_->MoveTo(c.get(), 1));
  EXPECT_NE(c->admission.message.find("budget `by_team`"), std::string::npos) << c->admission.message;
  svc_->Finish(c.get(), Outcome{});  // nothing delivered: the primary's reservation is released
  EXPECT_EQ(Counter("by_team", "team-a").reserved, 0);
  EXPECT_EQ(Counter("by_team", "team-a").spent, 15);
}

}  // namespace
}  // namespace tollgate::gateway
