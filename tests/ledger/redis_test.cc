// The Redis ledger when the server is down or goes away: fail closed (503)
// by default, fail open only when asked (and reported); it reconnects.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include "runtime/ledger/open.h"
#include "tests/ledger/ledger_helpers.h"

namespace tollgate::ledger {
namespace {

using ledgertest::OneBudget;
const Window kDay{WindowKind::kDay};

TEST(RedisLedger, UnreachableServerFailsClosedWith503) {
  std::string err;
  const int port = ledgertest::FreePort();  // nothing listens there
  auto l = OpenLedger("redis://127.0.0.1:" + std::to_string(port) + "/0", {}, &err);
  ASSERT_TRUE(l) << err;
  Admission a = l->Reserve(OneBudget("b", "k", kDay, 100, 1));
  EXPECT_FALSE(a.admitted());
  EXPECT_EQ(a.status(), 503);
  EXPECT_EQ(a.code(), "budget_store_unavailable");
  EXPECT_NE(a.message.find("budget store redis://127.0.0.1:" + std::to_string(port) + "/0 is unreachable"),
            std::string::npos)
      << a.message;
  Status s = l->Settle(7, {1, 1});
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.code, "budget_store_unavailable");
  std::vector<CounterView> v;
  EXPECT_FALSE(l->Snapshot(&v).ok);
}

TEST(RedisLedger, AsyncCallsAnswerUnavailableWhenTheServerIsDown) {
  std::string err;
  const int port = ledgertest::FreePort();  // nothing listens there
  auto l = OpenLedger("redis://127.0.0.1:" + std::to_string(port) + "/0", {}, &err);
  ASSERT_TRUE(l) << err;
  Admission a;
  Status settled, released;
  Admission moved;
  l->ReserveAsync(OneBudget("b", "k", kDay, 100, 1), [&](const Admission& x) { a = x; });
  l->SettleAsync(7, {1, 1}, [&](const Status& x) { settled = x; });
  l->ReleaseAsync(8, [&](const Status& x) { released = x; });
  l->MoveAsync(9, {1, 1}, [&](const Admission& x) { moved = x; });
  ASSERT_TRUE(l->Flush().ok);  // every callback has run
  EXPECT_EQ(a.status(), 503);
  EXPECT_EQ(a.code(), kCodeStoreUnavailable);
  EXPECT_EQ(settled.code, "budget_store_unavailable");
  EXPECT_EQ(released.code, "budget_store_unavailable");
  EXPECT_EQ(moved.code(), kCodeStoreUnavailable);
}

// A server that accepts the connection and never answers (a hung or
// SIGSTOPped redis-server): the 503 says that no reply came in time, not
// the socket's EAGAIN text ("Resource temporarily unavailable").
TEST(RedisLedger, AServerThatNeverAnswersIsATimeoutInTheMessage) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(fd, 16), 0);  // the kernel completes the handshakes; nobody reads
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  Options o;
  o.redis_timeout_ms = 100;
  std::string err;
  auto l = OpenLedger("redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/0", o, &err);
  ASSERT_TRUE(l) << err;
  Admission a = l->Reserve(OneBudget("b", "k", kDay, 100, 1));
  EXPECT_EQ(a.status(), 503);
  EXPECT_EQ(a.code(), "budget_store_unavailable");
  EXPECT_NE(a.message.find("is unreachable: no reply within 100 ms"), std::string::npos) << a.message;
  std::vector<CounterView> v;
  Status s = l->Peek(OneBudget("b", "k", kDay, 100, 1), &v);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("no reply within 100 ms"), std::string::npos) << s.message;
  ::close(fd);
}

TEST(RedisLedger, FailOpenAdmitsUnverifiedAndReportsIt) {
  std::string err;
  Options o;
  o.fail_open = true;
  std::vector<std::string> reported;
  o.on_fail_open = [&](const std::string& m) { reported.push_back(m); };
  auto l = OpenLedger("redis://127.0.0.1:" + std::to_string(ledgertest::FreePort()) + "/0", o, &err);
  ASSERT_TRUE(l) << err;
  Admission a = l->Reserve(OneBudget("b", "k", kDay, 100, 1));
  EXPECT_TRUE(a.admitted());
  EXPECT_TRUE(a.unverified);
  EXPECT_EQ(a.reservation, 0u);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_NE(reported[0].find("admitted unverified (fail open)"), std::string::npos) << reported[0];
  EXPECT_TRUE(l->Settle(a.reservation, {1, 0}).ok);  // nothing was charged
}

TEST(RedisLedger, ServerGoingAwayFailsClosedThenReconnects) {
  ledgertest::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  std::string err;
  auto l = OpenLedger(server.url(), {}, &err);
  ASSERT_TRUE(l) << err;
  Admission a = l->Reserve(OneBudget("b", "k", kDay, 100, 40));
  ASSERT_TRUE(a.admitted()) << a.message;
  server.Stop();
  Admission down = l->Reserve(OneBudget("b", "k", kDay, 100, 1));
  EXPECT_EQ(down.code(), "budget_store_unavailable");
  server.Start();  // empty again (no persistence): a new truth, reached again
  ASSERT_TRUE(server.available()) << server.why();
  Admission back = l->Reserve(OneBudget("b", "k", kDay, 100, 100));
  EXPECT_TRUE(back.admitted()) << back.message;
}

TEST(RedisLedger, ScriptIsReloadedAfterTheServerForgetsIt) {
  ledgertest::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  std::string err;
  auto l = OpenLedger(server.url(), {}, &err);
  ASSERT_TRUE(l) << err;
  ASSERT_TRUE(l->Reserve(OneBudget("b", "k", kDay, 100, 10)).admitted());
  ledgertest::ScriptFlush(server.port());  // the server forgets the script
  Admission a = l->Reserve(OneBudget("b", "k", kDay, 100, 90));
  EXPECT_TRUE(a.admitted()) << a.message;  // NOSCRIPT -> reload -> one retry
  EXPECT_EQ(l->Reserve(OneBudget("b", "k", kDay, 100, 1)).code(), "budget_exceeded");
}

// Key expiry is relative to the server's clock: a caller clock far from it
// (skew, or a test's fixed clock years in the past) never expires a live
// budget or limit key at once.
TEST(RedisLedger, ACallerClockFarInThePastDoesNotExpireLiveKeys) {
  ledgertest::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  ManualClock clock(1'590'969'600'000);  // 2020-06-01T00:00:00Z
  Options o;
  o.clock = &clock;
  std::string err;
  auto l = OpenLedger(server.url(), o, &err);
  ASSERT_TRUE(l) << err;
  ASSERT_TRUE(l->Reserve(OneBudget("b", "k", kDay, 100, 60)).admitted());
  EXPECT_EQ(l->Reserve(OneBudget("b", "k", kDay, 100, 60)).code(), kCodeBudgetExceeded);
  const ReserveRequest rpm = ledgertest::OneLimit("rpm", "k", Window{WindowKind::kMinute}, 1, 1);
  ASSERT_TRUE(l->Reserve(rpm).admitted());
  EXPECT_EQ(l->Reserve(rpm).code(), kCodeRateLimited);
}

// A direct connection to the test server, for looking at its keys.
class RedisKeys {
 public:
  explicit RedisKeys(int port) {
    timeval tv{1, 0};
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  }
  ~RedisKeys() {
    if (c_) redisFree(c_);
  }
  bool ok() const { return c_ != nullptr && !c_->err; }
  std::vector<std::string> All() {
    std::vector<std::string> keys;
    auto* r = static_cast<redisReply*>(redisCommand(c_, "KEYS tg:*"));
    if (r && r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) keys.emplace_back(r->element[i]->str, r->element[i]->len);
    }
    if (r) freeReplyObject(r);
    return keys;
  }
  long long Int(const char* fmt, const std::string& key) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, fmt, key.data(), key.size()));
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    if (r) freeReplyObject(r);
    return n;
  }
  // What the server does when a key's time is up: PEXPIRE 1, then wait
  // until it is gone.
  void ExpireNow(const std::string& key) {
    Int("PEXPIRE %b 1", key);
    for (int i = 0; i < 500 && Int("EXISTS %b", key) == 1; ++i) usleep(1000);
  }

 private:
  redisContext* c_ = nullptr;
};

// Counter keys expire (a budget's a day after its window, a limit's after
// its last admission plus the reservation ttl); a reservation can outlive
// them when no sweep ran meanwhile. Closing it late -- settle, release,
// move, expiry -- and peeking a limit nobody reserved on must not recreate
// a counter key: such a key would have no expiry and stay forever.
TEST(RedisLedger, LateClosesNeverLeaveAKeyWithoutExpiry) {
  ledgertest::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  ManualClock clock(1'800'000'000'000);
  Options o;
  o.clock = &clock;
  std::string err;
  auto l = OpenLedger(server.url(), o, &err);
  ASSERT_TRUE(l) << err;
  RedisKeys keys(server.port());
  ASSERT_TRUE(keys.ok());
  ReserveRequest r = OneBudget("b", "k", kDay, 1'000'000, 100);
  r.limits.push_back({"rpm", "k", Window{WindowKind::kMinute}, 100, 1, LimitUnit::kRequests});
  r.limits.push_back({"tpm", "k", Window{WindowKind::kMinute}, 100'000, 50, LimitUnit::kTokens});
  Admission settle = l->Reserve(r), release = l->Reserve(r), move = l->Reserve(r), expire = l->Reserve(r);
  for (const Admission& a : {settle, release, move, expire}) ASSERT_TRUE(a.admitted()) << a.message;
  size_t counters = 0;
  for (const std::string& k : keys.All()) {
    if (k.rfind("tg:b:", 0) == 0 || k.rfind("tg:l:", 0) == 0 || k.rfind("tg:la:", 0) == 0) {
      EXPECT_GT(keys.Int("PTTL %b", k), 0) << k;
      keys.ExpireNow(k);
      ++counters;
    }
  }
  ASSERT_EQ(counters, 5u);  // one budget, two limits (a sorted set and a hash each)
  clock.Advance(61'000);
  EXPECT_TRUE(l->Settle(settle.reservation, {70, 40}).ok);
  EXPECT_TRUE(l->Release(release.reservation).ok);
  l->Move(move.reservation, {0, 10});  // (admitted or not: no stray key either way)
  std::vector<CounterView> views;
  EXPECT_TRUE(l->Peek(ledgertest::OneLimit("fresh", "k", Window{WindowKind::kMinute}, 5, 1), &views).ok);
  clock.Advance(o.reservation_ttl_ms);
  EXPECT_EQ(l->ExpireDue(), 2);  // `move` and `expire`
  std::string forever;  // keys without expiry, but the id counter
  for (const std::string& k : keys.All()) {
    if (k != "tg:seq" && keys.Int("PTTL %b", k) == -1) forever += " " + k;
  }
  EXPECT_EQ(forever, "");
}

// The server stalls (a busy script holds it for 300 ms) while a Reserve
// waits for its reply: the client times out (200 ms) and answers 503. The
// command still runs when the server wakes up; it must run ONCE -- a reserve
// is not retried on a new connection, since that would reserve twice.
// True while the server answers no PING within 20 ms (it is stalled).
bool Stalled(int port) {
  timeval tv{0, 20'000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return true;
  }
  redisSetTimeout(c, tv);
  auto* rep = static_cast<redisReply*>(redisCommand(c, "PING"));
  const bool stalled = rep == nullptr;
  if (rep) freeReplyObject(rep);
  redisFree(c);
  return stalled;
}

TEST(RedisLedger, ReserveWhoseReplyTimedOutIsNotSentTwice) {
  ledgertest::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  Options o;
  o.redis_timeout_ms = 200;
  std::string err;
  auto l = OpenLedger(server.url(), o, &err);
  ASSERT_TRUE(l) << err;
  const ReserveRequest r = OneBudget("b", "k", kDay, 1000, 40);
  std::vector<CounterView> v;
  // A busy machine may start the reserve too late to time out: try again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    ASSERT_TRUE(l->Peek(r, &v).ok);  // connected, script loaded
    ASSERT_EQ(v[0].reserved, 0) << "a reserve ran twice (one was released, the other is left over)";
    std::thread stall([port = server.port()] {
      timeval tv{5, 0};
      redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
      if (c == nullptr || c->err) return;
      auto* rep = static_cast<redisReply*>(redisCommand(
          c, "EVAL %s 0",
          "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
          "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s > 350000 return 1"));
      if (rep) freeReplyObject(rep);
      redisFree(c);
    });
    while (!Stalled(server.port())) usleep(2'000);
    Admission a = l->Reserve(r);
    stall.join();
    if (a.admitted()) {  // the stall ended before the reply was due
      ASSERT_TRUE(l->Release(a.reservation).ok);
      continue;
    }
    EXPECT_EQ(a.code(), kCodeStoreUnavailable) << a.message;
    usleep(100'000);
    ASSERT_TRUE(l->Peek(r, &v).ok);
    EXPECT_EQ(v[0].reserved, 40) << "the reserve ran twice";
    return;
  }
  GTEST_SKIP() << "could not make a reserve time out on this machine";
}

// A persistent redis-server is SIGKILLed mid-load and restarted on the same
// port (it reloads its append-only file). Four threads reserve and settle
// throughout. While it is down every call answers 503
// budget_store_unavailable (fail closed) or is admitted unverified (fail
// open); after the restart calls succeed again; and nothing is charged
// twice: once every reservation left open has expired, spent is at least
// every settlement acknowledged and at most that plus the worst case of
// each call whose outcome was unknown (a 503, or an unverified admission,
// after the command was sent: it may have run, and then its reservation
// expires and is charged once).
void KillAndRestartMidLoad(bool fail_open) {
  std::string dir = ledgertest::TempLedgerPath(fail_open ? "redis_aof_open" : "redis_aof");
  std::filesystem::create_directories(dir);
  ledgertest::RedisServer server(dir);
  if (!server.available()) GTEST_SKIP() << server.why();
  ManualClock clock(1'800'000'000'000);
  Options o;
  o.clock = &clock;
  o.fail_open = fail_open;
  std::atomic<int64_t> reported{0};
  o.on_fail_open = [&](const std::string&) { reported.fetch_add(1); };
  std::string err;
  auto l = OpenLedger(server.url(), o, &err);
  ASSERT_TRUE(l) << err;
  constexpr int64_t kWorstCase = 100;
  const ReserveRequest r = OneBudget("b", "k", Window{WindowKind::kLifetime}, INT64_MAX / 4, kWorstCase);
  enum Phase { kBefore, kDown, kAfter };
  std::atomic<int> phase{kBefore};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> settled{0}, unknown_worst{0}, unavailable_down{0}, unverified_down{0}, admitted_after{0},
      wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(99 + t);
      while (!stop.load()) {
        const int p = phase.load();
        Admission a = l->Reserve(r);
        if (!a.admitted()) {
          if (a.status() != 503 || a.code() != kCodeStoreUnavailable) wrong.fetch_add(1);
          if (p == kDown) unavailable_down.fetch_add(1);
          unknown_worst.fetch_add(kWorstCase);  // it may have run before the reply was lost
          usleep(2000);
          continue;
        }
        if (a.unverified) {
          if (!fail_open || a.reservation != 0) wrong.fetch_add(1);
          if (p == kDown) unverified_down.fetch_add(1);
          unknown_worst.fetch_add(kWorstCase);  // as for a 503: it may have run
          if (!l->Settle(a.reservation, {50, 0}).ok) wrong.fetch_add(1);  // nothing was charged
          usleep(2000);
          continue;
        }
        if (p == kAfter && phase.load() == kAfter) admitted_after.fetch_add(1);
        const int64_t cost = 1 + static_cast<int64_t>(rng() % kWorstCase);
        Status s = l->Settle(a.reservation, {cost, 0});
        if (s.ok) settled.fetch_add(cost);
        else unknown_worst.fetch_add(kWorstCase);  // settled, or left open and charged at expiry
      }
    });
  }
  usleep(300'000);
  server.Kill();
  phase.store(kDown);
  usleep(300'000);
  server.Start();
  ASSERT_TRUE(server.available()) << server.why();
  phase.store(kAfter);
  usleep(400'000);
  stop.store(true);
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong.load(), 0);
  if (fail_open) {
    EXPECT_GT(unverified_down.load(), 0);
    EXPECT_EQ(unavailable_down.load(), 0);
    EXPECT_GE(reported.load(), unverified_down.load());
  } else {
    EXPECT_GT(unavailable_down.load(), 0);
    EXPECT_EQ(unverified_down.load(), 0);
    EXPECT_EQ(reported.load(), 0);
  }
  EXPECT_GT(admitted_after.load(), 0) << "calls did not recover after the restart";
  clock.Advance(o.reservation_ttl_ms + 1);
  l->ExpireDue();
  std::vector<CounterView> v;
  ASSERT_TRUE(l->Peek(r, &v).ok);
  EXPECT_EQ(v[0].reserved, 0);
  EXPECT_GE(v[0].spent, settled.load()) << "an acknowledged settlement was lost";
  EXPECT_LE(v[0].spent, settled.load() + unknown_worst.load()) << "something was charged twice";
}

TEST(RedisLedger, KilledAndRestartedMidLoadFailsClosedRecoversAndChargesOnce) { KillAndRestartMidLoad(false); }

TEST(RedisLedger, KilledAndRestartedMidLoadFailsOpenWhenConfigured) { KillAndRestartMidLoad(true); }

}  // namespace
}  // namespace tollgate::ledger
