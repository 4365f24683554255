// Ledger counters and admissions in records (runtime/audit/counters.h): the
// documented JSON form, its round trip, and replay feeding them back.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <set>

#include "runtime/audit/counters.h"
#include "runtime/audit/replay.h"
#include "runtime/decide/budgets.h"
#include "runtime/input/input.h"
#include "runtime/ledger/ledger.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {

constexpr const char* kPolicy = R"(policy "counted"
budget ws_daily { key principal.workspace per day limit 10 usd }
budget unused { when principal.workspace == "nobody" key principal.workspace per day limit 1 usd }
limit user_rpm { key principal.user ?? "anonymous" per minute max 60 requests }
rule degrade on_error skip { when budget.ws_daily.remaining < 2 usd deny 402 "budget nearly spent" }
rule busy mode advisory on_error skip { when limit.user_rpm.used >= 50 warn "busy" }
)";

constexpr const char* kInput =
    R"({"principal": {"workspace": "acme", "user": "u\"1"}, "request": {"model": "m", "messages": []},)"
    R"( "context": {"time": "2026-01-05T10:00:00Z"}})";

struct World {
  TempDir dir;
  std::shared_ptr<const Policy> policy;
  vm::Record request;
  runtime::BudgetPlan plan;
  World() {
    WriteAll(dir.path + "/p.tg", kPolicy);
    policy = MustCompile(dir.path + "/p.tg");
    runtime::InputError err;
    EXPECT_TRUE(runtime::DecodeInput(kInput, policy->schema(), {}, &request, &err)) << err.message;
    EXPECT_TRUE(runtime::PlanBudgets(policy->program(), request, &plan));
  }
  // The ledger's view: ws_daily spent/remaining, user_rpm used.
  vm::Counters Counters(int64_t remaining_micros, int64_t used) const {
    std::vector<ledger::CounterView> views(2);
    views[0].spent = 10'000'000 - remaining_micros;
    views[0].remaining = remaining_micros;
    views[0].limit = 10'000'000;
    views[1].kind = ledger::CounterView::Kind::kLimit;
    views[1].spent = used;
    views[1].remaining = 60 - used;
    views[1].limit = 60;
    vm::Counters c;
    runtime::FillCounters(policy->program(), plan, views, &c);
    return c;
  }
};

TEST(AuditCounters, DocumentedFormAndRoundTrip) {
  World w;
  vm::Counters c = w.Counters(1'500'000, 51);
  const std::string json = RenderCounters(w.policy->program(), c, &w.plan);
  EXPECT_EQ(json,
            R"({"budgets":{"ws_daily":{"key":"acme","spent_micros":8500000,"remaining_micros":1500000,)"
            R"("limit_micros":10000000}},"limits":{"user_rpm":{"key":"u\"1","used":51,"remaining":9,"max":60}}})");
  EXPECT_EQ(RenderCounters(w.policy->program(), c),
            R"({"budgets":{"ws_daily":{"spent_micros":8500000,"remaining_micros":1500000,)"
            R"("limit_micros":10000000}},"limits":{"user_rpm":{"used":51,"remaining":9,"max":60}}})");
  vm::Counters back;
  ASSERT_TRUE(ParseCounters(w.policy->program(), json, &back));
  ASSERT_EQ(back.slots.size(), c.slots.size());
  for (size_t i = 0; i < c.slots.size(); ++i) {
    EXPECT_EQ(back.slots[i].kind, c.slots[i].kind) << i;
    EXPECT_EQ(back.slots[i].i, c.slots[i].i) << i;
  }
  EXPECT_FALSE(ParseCounters(w.policy->program(), "[1]", &back));
  EXPECT_FALSE(ParseCounters(w.policy->program(), R"({"budgets":{"ws_daily":{"spent_micros":"x"}}})", &back));
}

// An impact report's candidate reads its own bounds over the recorded use
// (RebindCounters): a raised budget limit and rate-limit max show through
// budget.x.limit / remaining and limit.x.max / remaining.
TEST(AuditCounters, CandidateReadsItsOwnBoundsOverTheRecordedUse) {
  World w;
  // Recorded: 8.5 usd of 10 used (1.5 left), 51 of 60 requests.
  const std::string json = RenderCounters(w.policy->program(), w.Counters(1'500'000, 51), &w.plan);
  std::string cand_src = kPolicy;
  cand_src.replace(cand_src.find("limit 10 usd"), 12, "limit 20 usd");
  cand_src.replace(cand_src.find("max 60 requests"), 15, "max 50 requests");
  WriteAll(w.dir.path + "/c.tg", cand_src);
  auto cand = MustCompile(w.dir.path + "/c.tg");
  const vm::Program& p = cand->program();
  vm::Counters c;
  ASSERT_TRUE(ParseCounters(p, json, &c));
  std::vector<std::string> changed;
  ASSERT_TRUE(RebindCounters(p, w.request, &c, &changed));
  EXPECT_EQ(changed, (std::vector<std::string>{"ws_daily", "user_rpm"}));
  const size_t nb = p.budgets().size();
  auto slot = [&](bool budget, size_t decl, int f) { return c.slots[ast::CounterSlot(nb, budget, decl, f)].i; };
  EXPECT_EQ(slot(true, 0, 0), 8'500'000);   // spent: the record's
  EXPECT_EQ(slot(true, 0, 1), 11'500'000);  // remaining: 20 - 8.5
  EXPECT_EQ(slot(true, 0, 2), 20'000'000);  // limit: the candidate's
  EXPECT_EQ(slot(false, 0, 0), 51);         // used: the record's
  EXPECT_EQ(slot(false, 0, 1), 0);          // remaining: max(0, 50 - 51)
  EXPECT_EQ(slot(false, 0, 2), 50);
  // The same bounds: nothing changes.
  vm::Counters same;
  ASSERT_TRUE(ParseCounters(w.policy->program(), json, &same));
  changed.clear();
  ASSERT_TRUE(RebindCounters(w.policy->program(), w.request, &same, &changed));
  EXPECT_TRUE(changed.empty());
  EXPECT_EQ(RenderCounters(w.policy->program(), same, &w.plan), json);
}

TEST(AuditCounters, ReplayFeedsThemBackBitForBit) {
  World w;
  std::string err;
  auto log = AuditLog::Open(w.dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  auto subject = log->Register(*w.policy, {}, &err);
  ASSERT_TRUE(subject) << err;
  // Three ledger states: plenty left, nearly spent (the rule denies), busy user.
  std::vector<std::string> outcomes;
  for (auto [remaining, used] : std::vector<std::pair<int64_t, int64_t>>{
           {9'000'000, 3}, {1'000'000, 3}, {9'000'000, 55}}) {
    vm::Counters c = w.Counters(remaining, used);
    vm::EvalOptions o;
    o.counters = &c;
    vm::Decision d;
    vm::Evaluate(w.policy->program(), w.request, o, &d);
    outcomes.push_back(std::string(d.code));
    Entry e;
    e.subject = subject;
    e.input = kInput;
    e.decision = RenderDecision(d, w.policy->program());
    e.counters = RenderCounters(w.policy->program(), c, &w.plan);
    log->Append(std::move(e));
  }
  // And one without a ledger: every counter reads null, the rules skip.
  {
    vm::Decision d;
    vm::Evaluate(w.policy->program(), w.request, {}, &d);
    Entry e;
    e.subject = subject;
    e.input = kInput;
    e.decision = RenderDecision(d, w.policy->program());
    log->Append(std::move(e));
  }
  ASSERT_TRUE(log->Close());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"ok", "policy_denied", "ok"}));
  ReplayOptions ro;
  ro.dir = w.dir.path + "/audit";
  ReplayReport r;
  ASSERT_TRUE(Replay(ro, &r, &err)) << err;
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.identical, 4u) << ReportText(r);

  // `audit show` of the denied one: recomputed with its counters.
  RecordReader in;
  ASSERT_TRUE(in.Open(ro.dir, &err));
  RecordLine line;
  ASSERT_TRUE(in.Next(&line));
  ASSERT_TRUE(in.Next(&line));
  EXPECT_NE(line.text.find(R"("counters":{"budgets":{"ws_daily":{"key":"acme")"), std::string::npos);
  std::string json;
  ASSERT_TRUE(ExplainRecord(ro.dir, line.doc["id"].GetString(), &json, &err)) << err;
  EXPECT_NE(json.find("\"identical\": true"), std::string::npos);
  EXPECT_NE(json.find("budget nearly spent"), std::string::npos);
}

TEST(AuditCounters, RefusedAdmissionIsReplayedFromTheRecord) {
  World w;
  ledger::Admission a;
  a.verdict = ledger::Verdict::kRateLimited;
  a.name = "user_rpm";
  a.key = "u\"1";
  a.window = "minute";
  a.limit = 60;
  a.requested = 1;
  a.retry_after_s = 7;
  a.message = "rate limit `user_rpm` reached";
  const std::string json = RenderAdmission(a);
  EXPECT_EQ(json.rfind(R"({"admitted":false,"status":429,"code":"rate_limited","reason":"rate limit `user_rpm` reached","limit":"user_rpm","key":"u\"1")", 0), 0u) << json;
  EXPECT_NE(json.find(R"("retry_after":7)"), std::string::npos);
  // Every member once: the limit's name under "limit", its bound under "max".
  EXPECT_NE(json.find(R"("max":60)"), std::string::npos) << json;
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_TRUE(doc.IsObject());
  std::set<std::string> seen;
  for (const auto& m : doc.GetObject()) {
    EXPECT_TRUE(seen.insert(m.name.GetString()).second) << "member `" << m.name.GetString() << "` twice in " << json;
  }
  a.verdict = ledger::Verdict::kBudgetExceeded;
  a.name = "ws_daily";
  const std::string budget = RenderAdmission(a);
  EXPECT_NE(budget.find(R"("budget":"ws_daily")"), std::string::npos) << budget;
  EXPECT_NE(budget.find(R"("limit":60)"), std::string::npos) << budget;
  a.verdict = ledger::Verdict::kRateLimited;
  a.name = "user_rpm";
  vm::Decision d;
  vm::Evaluate(w.policy->program(), w.request, {}, &d);
  ASSERT_EQ(d.outcome, vm::Outcome::kAllow);
  std::string storage;
  ASSERT_TRUE(ApplyAdmission(w.policy->program(), w.request, json, &d, &storage));
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "rate_limited");
  EXPECT_EQ(d.reason, "rate limit `user_rpm` reached");
  // An admitted one changes nothing; a plan failure is recomputed (this
  // request plans fine, so it is not taken on trust).
  vm::Decision d2;
  vm::Evaluate(w.policy->program(), w.request, {}, &d2);
  ASSERT_TRUE(ApplyAdmission(w.policy->program(), w.request, R"({"admitted":true,"reservation":4})", &d2, &storage));
  EXPECT_EQ(d2.outcome, vm::Outcome::kAllow);
  ASSERT_TRUE(ApplyAdmission(w.policy->program(), w.request, RenderPlanFailure("budget `x`: made up"), &d2, &storage));
  EXPECT_EQ(d2.outcome, vm::Outcome::kAllow);
  // A per-endpoint plan failure needs the routed endpoint, which replay does
  // not plan again: it is taken from the record, as a ledger's deny is.
  const std::string endpoint_plan = RenderPlanFailure("budget `x`: made up", "endpoint_plan");
  EXPECT_NE(endpoint_plan.find(R"("stage":"endpoint_plan")"), std::string::npos) << endpoint_plan;
  ASSERT_TRUE(ApplyAdmission(w.policy->program(), w.request, endpoint_plan, &d2, &storage));
  EXPECT_EQ(d2.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d2.status, 403);
  EXPECT_EQ(d2.code, "rule_error");
  EXPECT_EQ(d2.reason, "budget `x`: made up");
  EXPECT_FALSE(ApplyAdmission(w.policy->program(), w.request, "{", &d2, &storage));
}

}  // namespace
}  // namespace tollgate::audit::testing
