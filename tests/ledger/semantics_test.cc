// Ledger semantics, run against every implementation (memory, SQLite batched
// and strict, Redis) with an injected clock.
#include <atomic>
#include <climits>
#include <memory>

#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "engine/core/civil.h"
#include "runtime/ledger/open.h"
#include "runtime/ledger/redis_ledger.h"
#include "runtime/ledger/sqlite_ledger.h"
#include "tests/ledger/ledger_helpers.h"

namespace tollgate::ledger {
namespace {

using ledgertest::OneBudget;
using ledgertest::OneLimit;

constexpr int64_t kUsd = 1'000'000;
const Window kDay{WindowKind::kDay};
const Window kMinute{WindowKind::kMinute};

int64_t At(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int ms = 0) {
  return DaysFromCivil(y, m, d) * 86'400'000 + hh * 3'600'000LL + mm * 60'000LL + ss * 1000LL + ms;
}

ledgertest::RedisServer* SharedRedis() {
  static auto* server = new ledgertest::RedisServer();  // lives until exit; the child dies with us (SIGTERM below)
  static bool registered = [] {
    std::atexit([] { SharedRedis()->Stop(); });
    return true;
  }();
  (void)registered;
  return server;
}

class Semantics : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    clock_.Set(At(2026, 11, 30, 12));
    options_.clock = &clock_;
    options_.reservation_ttl_ms = 60'000;
    Open();
  }
  void Open() {
    ledger_.reset();
    std::string err;
    const std::string& kind = GetParam();
    if (kind == "memory") {
      ledger_ = NewMemoryLedger(options_);
    } else if (kind == "sqlite" || kind == "sqlite_strict") {
      options_.strict = kind == "sqlite_strict";
      if (path_.empty()) path_ = ledgertest::TempLedgerPath("semantics");
      ledger_ = SqliteLedger::Open(path_, options_, &err);
    } else {
      ledgertest::RedisServer* r = SharedRedis();
      if (!r->available()) GTEST_SKIP() << r->why();
      if (!reopened_) r->FlushAll();
      ledger_ = OpenLedger(r->url(), options_, &err);
    }
    ASSERT_TRUE(ledger_) << err;
  }
  // Reopens the same store (sqlite: restores from the file).
  void Reopen() {
    reopened_ = true;
    Open();
  }
  CounterView Peek(const ReserveRequest& r) {
    std::vector<CounterView> v;
    EXPECT_TRUE(ledger_->Peek(r, &v).ok);
    return v.empty() ? CounterView{} : v[0];
  }

  ManualClock clock_;
  Options options_;
  std::string path_;
  bool reopened_ = false;
  std::unique_ptr<Ledger> ledger_;
};

TEST_P(Semantics, BudgetAdmitsOnlyWhatItsWorstCaseFits) {
  Admission a = ledger_->Reserve(OneBudget("ws_daily", "acme", kDay, 10 * kUsd, 6 * kUsd));
  ASSERT_TRUE(a.admitted()) << a.message;
  EXPECT_NE(a.reservation, 0u);
  Admission b = ledger_->Reserve(OneBudget("ws_daily", "acme", kDay, 10 * kUsd, 5 * kUsd));
  EXPECT_FALSE(b.admitted());
  EXPECT_EQ(b.status(), 403);
  EXPECT_EQ(b.code(), "budget_exceeded");
  EXPECT_EQ(b.name, "ws_daily");
  EXPECT_EQ(b.key, "acme");
  EXPECT_EQ(b.window, "day");
  EXPECT_EQ(b.window_label, "2026-11-30");
  EXPECT_EQ(b.limit, 10 * kUsd);
  EXPECT_EQ(b.remaining, 4 * kUsd);
  EXPECT_EQ(b.message,
            "budget `ws_daily` for key `acme` (day 2026-11-30) has 4 usd of 10 usd left; this request may cost "
            "up to 5 usd");
  // Exactly full is admitted.
  Admission c = ledger_->Reserve(OneBudget("ws_daily", "acme", kDay, 10 * kUsd, 4 * kUsd));
  ASSERT_TRUE(c.admitted()) << c.message;
  // Settling below the worst case frees the rest.
  ASSERT_TRUE(ledger_->Settle(a.reservation, {2 * kUsd, 100}).ok);
  CounterView v = Peek(OneBudget("ws_daily", "acme", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 2 * kUsd);
  EXPECT_EQ(v.reserved, 4 * kUsd);
  EXPECT_EQ(v.remaining, 4 * kUsd);
  // Another key has its own counter.
  EXPECT_TRUE(ledger_->Reserve(OneBudget("ws_daily", "globex", kDay, 10 * kUsd, 9 * kUsd)).admitted());
}

TEST_P(Semantics, SettleChargesTheRealCostEvenAboveTheWorstCase) {
  Admission a = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 1 * kUsd));
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(ledger_->Settle(a.reservation, {3 * kUsd, 0}).ok);
  EXPECT_EQ(Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0)).spent, 3 * kUsd);
  Status again = ledger_->Settle(a.reservation, {1, 0});
  EXPECT_FALSE(again.ok);
  EXPECT_EQ(again.code, "reservation_unknown");
}

TEST_P(Semantics, ReleaseChargesNothing) {
  Admission a = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 10 * kUsd));
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(ledger_->Release(a.reservation).ok);
  CounterView v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 0);
  EXPECT_EQ(v.reserved, 0);
  EXPECT_TRUE(ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 10 * kUsd)).admitted());
}

TEST_P(Semantics, EmptyRequestIsAdmittedWithoutReservation) {
  Admission a = ledger_->Reserve(ReserveRequest{});
  EXPECT_TRUE(a.admitted());
  EXPECT_EQ(a.reservation, 0u);
  EXPECT_TRUE(ledger_->Settle(0, {5, 5}).ok);
}

TEST_P(Semantics, DayWindowRollsOverAtMidnightUtc) {
  clock_.Set(At(2026, 11, 30, 23, 59, 59, 999));
  Admission a = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 10 * kUsd));
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(ledger_->Settle(a.reservation, {10 * kUsd, 0}).ok);
  EXPECT_FALSE(ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 1)).admitted());
  clock_.Advance(1);  // 2026-12-01T00:00:00.000Z
  Admission b = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 10 * kUsd));
  EXPECT_TRUE(b.admitted()) << b.message;
}

TEST_P(Semantics, WeekWindowRollsOverOnMondayUtc) {
  const Window week{WindowKind::kWeek};
  clock_.Set(At(2026, 12, 6, 23, 59, 59, 999));  // Sunday
  ASSERT_TRUE(ledger_->Reserve(OneBudget("w", "k", week, 5 * kUsd, 5 * kUsd)).admitted());
  Admission d = ledger_->Reserve(OneBudget("w", "k", week, 5 * kUsd, 1));
  EXPECT_EQ(d.window_label, "week of 2026-11-30");
  clock_.Advance(1);  // Monday 2026-12-07
  EXPECT_TRUE(ledger_->Reserve(OneBudget("w", "k", week, 5 * kUsd, 5 * kUsd)).admitted());
}

TEST_P(Semantics, MonthWindowRollsOverAfterALeapDay) {
  const Window month{WindowKind::kMonth};
  clock_.Set(At(2028, 2, 29, 23, 59, 59, 999));
  ASSERT_TRUE(ledger_->Reserve(OneBudget("m", "k", month, 5 * kUsd, 5 * kUsd)).admitted());
  Admission d = ledger_->Reserve(OneBudget("m", "k", month, 5 * kUsd, 1));
  EXPECT_FALSE(d.admitted());
  EXPECT_EQ(d.window_label, "2028-02");
  clock_.Advance(1);  // 2028-03-01
  EXPECT_TRUE(ledger_->Reserve(OneBudget("m", "k", month, 5 * kUsd, 5 * kUsd)).admitted());
}

TEST_P(Semantics, SlidingRateLimitHoldsInAnyWindowAndSaysWhenToRetry) {
  const int64_t t0 = clock_.NowMs();
  auto req = [] { return OneLimit("user_rpm", "u1", kMinute, 3, 1); };
  ASSERT_TRUE(ledger_->Reserve(req()).admitted());
  clock_.Set(t0 + 10'000);
  ASSERT_TRUE(ledger_->Reserve(req()).admitted());
  clock_.Set(t0 + 20'000);
  ASSERT_TRUE(ledger_->Reserve(req()).admitted());
  clock_.Set(t0 + 30'000);
  Admission d = ledger_->Reserve(req());
  EXPECT_EQ(d.status(), 429);
  EXPECT_EQ(d.code(), "rate_limited");
  EXPECT_EQ(d.retry_after_s, 30);
  EXPECT_EQ(d.remaining, 0);
  clock_.Set(t0 + 59'999);
  d = ledger_->Reserve(req());
  EXPECT_FALSE(d.admitted());
  EXPECT_EQ(d.retry_after_s, 1);
  clock_.Set(t0 + 60'000);  // the first request left the window
  EXPECT_TRUE(ledger_->Reserve(req()).admitted());
  EXPECT_FALSE(ledger_->Reserve(req()).admitted());  // still 3 in (t0, t0 + 60 s]
  clock_.Set(t0 + 70'000);
  EXPECT_TRUE(ledger_->Reserve(req()).admitted());
}

TEST_P(Semantics, TokenLimitIsChargedAtTheSettledTokens) {
  auto req = [](int64_t n) { return OneLimit("tpm", "u1", kMinute, 1000, n, LimitUnit::kTokens); };
  Admission a = ledger_->Reserve(req(800));
  ASSERT_TRUE(a.admitted());
  Admission d = ledger_->Reserve(req(300));
  EXPECT_FALSE(d.admitted());
  EXPECT_EQ(d.remaining, 200);
  ASSERT_TRUE(ledger_->Settle(a.reservation, {0, 100}).ok);
  EXPECT_TRUE(ledger_->Reserve(req(300)).admitted());
  Admission never = ledger_->Reserve(req(5000));
  EXPECT_FALSE(never.admitted());
  EXPECT_NE(never.message.find("can never be admitted"), std::string::npos) << never.message;
}

TEST_P(Semantics, ReservationIsAllOrNothing) {
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 1 * kUsd);
  r.limits.push_back({"rpm", "k", kMinute, 1, 1, LimitUnit::kRequests});
  ASSERT_TRUE(ledger_->Reserve(r).admitted());
  Admission d = ledger_->Reserve(r);  // the budget has room, the limit does not
  EXPECT_EQ(d.code(), "rate_limited");
  CounterView v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.reserved, 1 * kUsd);  // nothing charged by the denied request
}

TEST_P(Semantics, DuplicateChargesAreSummed) {
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 6 * kUsd);
  r.budgets.push_back(r.budgets[0]);
  Admission d = ledger_->Reserve(r);
  EXPECT_EQ(d.code(), "budget_exceeded");
  EXPECT_EQ(d.requested, 12 * kUsd);
}

TEST_P(Semantics, MoveReplacesTheReservationOrKeepsIt) {
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 5 * kUsd);
  r.limits.push_back({"tpm", "k", kMinute, 1000, 400, LimitUnit::kTokens});
  Admission a = ledger_->Reserve(r);
  ASSERT_TRUE(a.admitted());
  Admission m = ledger_->Move(a.reservation, {8 * kUsd, 900});
  ASSERT_TRUE(m.admitted()) << m.message;
  EXPECT_EQ(Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0)).reserved, 8 * kUsd);
  Admission too_much = ledger_->Move(a.reservation, {11 * kUsd, 100});
  EXPECT_EQ(too_much.code(), "budget_exceeded");
  EXPECT_EQ(too_much.name, "b");
  EXPECT_EQ(Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0)).reserved, 8 * kUsd);
  Admission too_many = ledger_->Move(a.reservation, {1 * kUsd, 1001});
  EXPECT_EQ(too_many.code(), "rate_limited");
  ASSERT_TRUE(ledger_->Settle(a.reservation, {7 * kUsd, 10}).ok);
  CounterView v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 7 * kUsd);
  EXPECT_EQ(v.reserved, 0);
}

TEST_P(Semantics, AbandonedReservationExpiresChargedAtItsReservedAmount) {
  Admission a = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 4 * kUsd));
  ASSERT_TRUE(a.admitted());
  clock_.Advance(59'999);
  EXPECT_EQ(ledger_->ExpireDue(), 0);
  clock_.Advance(1);
  EXPECT_EQ(ledger_->ExpireDue(), 1);
  CounterView v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 4 * kUsd);
  EXPECT_EQ(v.reserved, 0);
  EXPECT_EQ(ledger_->Settle(a.reservation, {1, 0}).code, "reservation_unknown");
}

TEST_P(Semantics, LifetimeLimitNeverSlides) {
  const Window life{WindowKind::kLifetime};
  ASSERT_TRUE(ledger_->Settle(ledger_->Reserve(OneLimit("trial", "u", life, 2, 1)).reservation, {}).ok);
  ASSERT_TRUE(ledger_->Reserve(OneLimit("trial", "u", life, 2, 1)).admitted());
  clock_.Advance(400LL * 86'400'000);
  Admission d = ledger_->Reserve(OneLimit("trial", "u", life, 2, 1));
  EXPECT_EQ(d.code(), "rate_limited");
  EXPECT_EQ(d.retry_after_s, 0);
}

// A fallback's Move that a lifetime token limit refuses says so like a
// Reserve does: period `lifetime`, no retry time (Redis said `sliding` and
// retry after 9223372036854775 s).
TEST_P(Semantics, MoveRefusedByALifetimeLimitNeverSaysWhenToRetry) {
  const Window life{WindowKind::kLifetime};
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 1 * kUsd);
  r.limits.push_back({"trial_tokens", "k", life, 1000, 400, LimitUnit::kTokens});
  Admission a = ledger_->Reserve(r);
  ASSERT_TRUE(a.admitted()) << a.message;
  Admission m = ledger_->Move(a.reservation, {1 * kUsd, 1001});
  EXPECT_EQ(m.code(), "rate_limited");
  EXPECT_EQ(m.name, "trial_tokens");
  EXPECT_EQ(m.window_label, "lifetime");
  EXPECT_EQ(m.retry_after_s, 0);
  EXPECT_EQ(m.message.find("retry after"), std::string::npos) << m.message;
  ASSERT_TRUE(ledger_->Settle(a.reservation, {1 * kUsd, 10}).ok);
}

TEST_P(Semantics, SnapshotListsCurrentCounters) {
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 2 * kUsd);
  r.limits.push_back({"rpm", "k", kMinute, 5, 1, LimitUnit::kRequests});
  Admission a = ledger_->Reserve(r);
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(ledger_->Settle(a.reservation, {1 * kUsd, 0}).ok);
  ASSERT_TRUE(ledger_->Flush().ok);
  std::vector<CounterView> all;
  ASSERT_TRUE(ledger_->Snapshot(&all).ok);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, CounterView::Kind::kBudget);
  EXPECT_EQ(all[0].spent, 1 * kUsd);
  EXPECT_EQ(all[0].limit, 10 * kUsd);
  EXPECT_EQ(all[0].window_label, "2026-11-30");
  EXPECT_EQ(all[1].kind, CounterView::Kind::kLimit);
  EXPECT_EQ(all[1].spent, 1);
  EXPECT_EQ(all[1].remaining, 4);
  clock_.Advance(60'000);  // the request left the limit's window
  // A limit with nothing in its window is not listed, by any store, nor by
  // the reader `tollgate spend` uses on a SQLite file.
  ASSERT_TRUE(ledger_->Snapshot(&all).ok);
  ASSERT_EQ(all.size(), 1u) << GetParam();
  EXPECT_EQ(all[0].kind, CounterView::Kind::kBudget);
  if (!path_.empty()) {
    std::string err;
    ASSERT_TRUE(SqliteLedger::ReadSnapshot(path_, clock_.NowMs(), &all, &err)) << err;
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].kind, CounterView::Kind::kBudget);
  }
}

// A reservation still open when its entry leaves a sliding window no
// longer counts there, neither as used nor as reserved: used + reserved is
// what the window holds (used was shown negative), and a late settle or
// release changes nothing there. Every view agrees: Peek, Snapshot and, for
// SQLite, the reader `tollgate spend` uses.
TEST_P(Semantics, RateLimitCountersStayExactWhenAnOpenReservationLeavesTheWindow) {
  options_.reservation_ttl_ms = 600'000;  // outlives the minute
  Open();
  const int64_t t0 = clock_.NowMs();
  const ReserveRequest rpm = OneLimit("rpm", "u", kMinute, 3, 1);
  auto tpm = [](int64_t n) { return OneLimit("tpm", "u", kMinute, 1000, n, LimitUnit::kTokens); };
  // {used, reserved, remaining} of rpm and tpm, the same in every view.
  auto expect = [&](std::vector<int64_t> want, const char* when) {
    SCOPED_TRACE(when);
    ASSERT_TRUE(ledger_->Flush().ok);
    std::vector<std::vector<CounterView>> sources(2);
    for (const ReserveRequest& r : {rpm, tpm(0)}) sources[0].push_back(Peek(r));
    std::vector<CounterView> all;
    ASSERT_TRUE(ledger_->Snapshot(&all).ok);
    for (const CounterView& v : all) if (v.kind == CounterView::Kind::kLimit) sources[1].push_back(v);
    if (GetParam().rfind("sqlite", 0) == 0) {
      std::vector<CounterView> read;
      std::string err;
      ASSERT_TRUE(SqliteLedger::ReadSnapshot(path_, clock_.NowMs(), &read, &err)) << err;
      sources.emplace_back();
      for (const CounterView& v : read) if (v.kind == CounterView::Kind::kLimit) sources.back().push_back(v);
    }
    for (size_t s = 0; s < sources.size(); ++s) {
      ASSERT_EQ(sources[s].size(), 2u) << "view " << s;
      std::vector<int64_t> got;
      for (const CounterView& v : sources[s]) {
        got.insert(got.end(), {v.spent, v.reserved, v.remaining});
      }
      EXPECT_EQ(got, want) << "view " << s << " (0 Peek, 1 Snapshot, 2 ReadSnapshot)";
    }
  };
  Admission old_req = ledger_->Reserve(rpm);
  Admission old_tok = ledger_->Reserve(tpm(100));
  ASSERT_TRUE(old_req.admitted() && old_tok.admitted());
  clock_.Set(t0 + 10'000);
  Admission a = ledger_->Reserve(rpm);
  Admission b = ledger_->Reserve(tpm(200));
  ASSERT_TRUE(a.admitted() && b.admitted());
  ASSERT_TRUE(ledger_->Settle(a.reservation, {0, 0}).ok);
  ASSERT_TRUE(ledger_->Settle(b.reservation, {0, 50}).ok);
  expect({1, 1, 1, 50, 100, 850}, "all inside the minute");
  clock_.Set(t0 + 61'000);  // the two open reservations left the window
  expect({1, 0, 2, 50, 0, 950}, "the open ones left the window");
  Admission c = ledger_->Reserve(rpm);
  Admission d = ledger_->Reserve(tpm(300));
  ASSERT_TRUE(c.admitted() && d.admitted());
  expect({1, 1, 1, 50, 300, 650}, "two more open");
  ASSERT_TRUE(ledger_->Settle(old_req.reservation, {0, 0}).ok);
  ASSERT_TRUE(ledger_->Settle(old_tok.reservation, {0, 999}).ok);
  expect({1, 1, 1, 50, 300, 650}, "late settles change nothing in the window");
  ASSERT_TRUE(ledger_->Settle(c.reservation, {0, 0}).ok);
  ASSERT_TRUE(ledger_->Release(d.reservation).ok);
  expect({2, 0, 1, 50, 0, 950}, "settled and released");
}

TEST_P(Semantics, ReopeningRestoresCountersAndOpenReservations) {
  ReserveRequest r = OneBudget("b", "k", kDay, 10 * kUsd, 3 * kUsd);
  r.limits.push_back({"rpm", "k", kMinute, 2, 1, LimitUnit::kRequests});
  Admission settled = ledger_->Reserve(r);
  ASSERT_TRUE(settled.admitted());
  ASSERT_TRUE(ledger_->Settle(settled.reservation, {2 * kUsd, 0}).ok);
  Admission open = ledger_->Reserve(r);
  ASSERT_TRUE(open.admitted());
  ASSERT_TRUE(ledger_->Flush().ok);
  if (GetParam() == "memory") GTEST_SKIP() << "the memory ledger keeps nothing";
  Reopen();
  CounterView v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 2 * kUsd);
  EXPECT_EQ(v.reserved, 3 * kUsd);
  EXPECT_EQ(ledger_->Reserve(r).code(), "rate_limited");  // both requests still in the minute
  ASSERT_TRUE(ledger_->Settle(open.reservation, {1 * kUsd, 0}).ok);
  v = Peek(OneBudget("b", "k", kDay, 10 * kUsd, 0));
  EXPECT_EQ(v.spent, 3 * kUsd);
  EXPECT_EQ(v.reserved, 0);
  Admission next = ledger_->Reserve(OneBudget("b", "k", kDay, 10 * kUsd, 1));
  EXPECT_GT(next.reservation, open.reservation);  // ids are never reused
}

// The non-blocking forms answer exactly what the blocking ones would, once,
// and their effects are visible when they do.
TEST_P(Semantics, AsyncFormsAnswerLikeTheBlockingOnes) {
  struct Answers {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Admission> admissions;
    std::vector<Status> statuses;
  } got;
  auto on_admission = [&](const Admission& a) {
    std::lock_guard<std::mutex> l(got.mu);
    got.admissions.push_back(a);
    got.cv.notify_all();
  };
  auto on_status = [&](const Status& st) {
    std::lock_guard<std::mutex> l(got.mu);
    got.statuses.push_back(st);
    got.cv.notify_all();
  };
  auto wait = [&](size_t admissions, size_t statuses) {
    std::unique_lock<std::mutex> l(got.mu);
    return got.cv.wait_for(l, std::chrono::seconds(10), [&] {
      return got.admissions.size() >= admissions && got.statuses.size() >= statuses;
    });
  };
  const ReserveRequest r = OneBudget("b", "k", kDay, 100, 60);
  ledger_->ReserveAsync(r, on_admission);
  ASSERT_TRUE(wait(1, 0));
  const Admission first = got.admissions[0];
  ASSERT_TRUE(first.admitted()) << first.message;
  ledger_->ReserveAsync(r, on_admission);  // 60 + 60 > 100
  ASSERT_TRUE(wait(2, 0));
  EXPECT_EQ(got.admissions[1].code(), kCodeBudgetExceeded);
  EXPECT_EQ(got.admissions[1].remaining, 40);
  ledger_->MoveAsync(first.reservation, {90, 0}, on_admission);
  ASSERT_TRUE(wait(3, 0));
  EXPECT_TRUE(got.admissions[2].admitted()) << got.admissions[2].message;
  EXPECT_EQ(Peek(r).reserved, 90);
  ledger_->MoveAsync(first.reservation, {101, 0}, on_admission);
  ASSERT_TRUE(wait(4, 0));
  EXPECT_EQ(got.admissions[3].code(), kCodeBudgetExceeded);
  ledger_->SettleAsync(first.reservation, {33, 0}, on_status);
  ASSERT_TRUE(wait(4, 1));
  EXPECT_TRUE(got.statuses[0].ok) << got.statuses[0].message;
  EXPECT_EQ(Peek(r).spent, 33);
  EXPECT_EQ(Peek(r).reserved, 0);
  ledger_->SettleAsync(first.reservation, {33, 0}, on_status);  // twice
  ASSERT_TRUE(wait(4, 2));
  EXPECT_EQ(got.statuses[1].code, "reservation_unknown");
  ledger_->ReserveAsync(r, on_admission);
  ASSERT_TRUE(wait(5, 2));
  ASSERT_TRUE(got.admissions[4].admitted());
  ledger_->ReleaseAsync(got.admissions[4].reservation, on_status);
  ASSERT_TRUE(wait(5, 3));
  EXPECT_TRUE(got.statuses[2].ok);
  EXPECT_EQ(Peek(r).spent, 33);
  EXPECT_EQ(Peek(r).reserved, 0);
}

// Flush returns only once every async call made before it has answered
// (its callback has run), whatever thread runs the callbacks.
TEST_P(Semantics, FlushWaitsForAsyncCallsAndTheirCallbacks) {
  constexpr int kCalls = 300;
  std::atomic<int> answered{0};
  const ReserveRequest r = OneBudget("b", "k", kDay, 1'000'000, 10);
  for (int i = 0; i < kCalls; ++i) {
    ledger_->ReserveAsync(r, [&, this](const Admission& a) {
      EXPECT_TRUE(a.admitted()) << a.message;
      ledger_->SettleAsync(a.reservation, {3, 0}, [&](const Status& st) {
        EXPECT_TRUE(st.ok) << st.message;
        answered.fetch_add(1);
      });
    });
  }
  // The settlements are queued from the reservations' callbacks, which run
  // before Flush returns: flush twice to cover the chained calls.
  ASSERT_TRUE(ledger_->Flush().ok);
  ASSERT_TRUE(ledger_->Flush().ok);
  EXPECT_EQ(answered.load(), kCalls);
  EXPECT_EQ(Peek(r).spent, 3 * kCalls);
}

INSTANTIATE_TEST_SUITE_P(Ledgers, Semantics, ::testing::Values("memory", "sqlite", "sqlite_strict", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tollgate::ledger
