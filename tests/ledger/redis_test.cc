// The Redis ledger when the server is down or goes away: fail closed (503)
// by default, fail open only when asked (and reported); it reconnects.
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

}  // namespace
}  // namespace tollgate::ledger
