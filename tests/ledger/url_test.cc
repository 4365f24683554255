// Ledger URLs: the accepted forms and one-line errors for everything else.
#include "runtime/ledger/open.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

namespace tollgate::ledger {
namespace {

TEST(LedgerUrl, AcceptsTheDocumentedForms) {
  LedgerUrl u;
  std::string err;
  ASSERT_TRUE(ParseLedgerUrl("sqlite:/var/lib/tollgate/ledger.db", &u, &err)) << err;
  EXPECT_EQ(u.kind, LedgerUrl::Kind::kSqlite);
  EXPECT_EQ(u.path, "/var/lib/tollgate/ledger.db");
  ASSERT_TRUE(ParseLedgerUrl("sqlite:ledger.db", &u, &err));
  EXPECT_EQ(u.path, "ledger.db");
  ASSERT_TRUE(ParseLedgerUrl("redis://10.0.0.5:6380/3", &u, &err)) << err;
  EXPECT_EQ(u.kind, LedgerUrl::Kind::kRedis);
  EXPECT_EQ(u.host, "10.0.0.5");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3);
  ASSERT_TRUE(ParseLedgerUrl("redis://cache", &u, &err));
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 0);
  ASSERT_TRUE(ParseLedgerUrl("memory:", &u, &err));
  EXPECT_EQ(u.kind, LedgerUrl::Kind::kMemory);
}

TEST(LedgerUrl, MalformedUrlsGetOneLineErrors) {
  struct Case { const char* url; const char* error; } cases[] = {
      {"", "ledger url `` has an unknown scheme; use `sqlite:PATH`, `redis://HOST:PORT/DB` or `memory:`"},
      {"postgres://db/x", "ledger url `postgres://db/x` has an unknown scheme"},
      {"sqlite:", "ledger url `sqlite:` has no file path"},
      {"redis://:6379/0", "ledger url `redis://:6379/0` has no host"},
      {"redis://h:0/0", "has an invalid port `0`"},
      {"redis://h:99999", "has an invalid port `99999`"},
      {"redis://h:12ab/0", "has an invalid port `12ab`"},
      {"redis://h:6379/x", "has an invalid database number `x`"},
      {"redis://h:6379/-1", "has an invalid database number `-1`"},
      {"redis://user:pw@h:6379/0", "has credentials; they are not supported"},
  };
  for (const Case& c : cases) {
    LedgerUrl u;
    std::string err;
    EXPECT_FALSE(ParseLedgerUrl(c.url, &u, &err)) << c.url;
    EXPECT_NE(err.find(c.error), std::string::npos) << c.url << " -> " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos);
    EXPECT_FALSE(OpenLedger(c.url, {}, &err)) << c.url;
  }
}

// The durability and failure modes a gateway operator must be able to pick
// (`tollgate serve` and the CLI only take a URL): `sqlite:PATH?mode=strict`,
// `redis://...?fail_open=true`, `reservation_ttl_ms=N` on either. They were
// read as part of the file name (`ledger.db?mode=strict`) or refused.
TEST(LedgerUrl, ParametersSelectTheModes) {
  LedgerUrl u;
  std::string err;
  ASSERT_TRUE(ParseLedgerUrl("sqlite:/var/lib/l.db?mode=strict&reservation_ttl_ms=60000", &u, &err)) << err;
  EXPECT_EQ(u.path, "/var/lib/l.db");
  Options o;
  u.Apply(&o);
  EXPECT_TRUE(o.strict);
  EXPECT_EQ(o.reservation_ttl_ms, 60000);
  EXPECT_FALSE(o.fail_open);
  ASSERT_TRUE(ParseLedgerUrl("sqlite:l.db?mode=batched", &u, &err)) << err;
  o.strict = true;
  u.Apply(&o);
  EXPECT_FALSE(o.strict);
  ASSERT_TRUE(ParseLedgerUrl("redis://h:6380/2?fail_open=true", &u, &err)) << err;
  EXPECT_EQ(u.host, "h");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 2);
  Options r;
  u.Apply(&r);
  EXPECT_TRUE(r.fail_open);
  EXPECT_EQ(r.reservation_ttl_ms, Options{}.reservation_ttl_ms);
  ASSERT_TRUE(ParseLedgerUrl("redis://h?fail_open=false", &u, &err)) << err;
  EXPECT_EQ(u.host, "h");
  r.fail_open = true;
  u.Apply(&r);
  EXPECT_FALSE(r.fail_open);
  ASSERT_TRUE(ParseLedgerUrl("memory:?reservation_ttl_ms=1000", &u, &err)) << err;
  EXPECT_EQ(u.kind, LedgerUrl::Kind::kMemory);

  struct Case { const char* url; const char* error; } bad[] = {
      {"sqlite:l.db?mode=fast", "has an invalid `mode` `fast` (strict or batched)"},
      {"sqlite:l.db?fail_open=true", "has an unknown parameter `fail_open`"},
      {"redis://h/0?mode=strict", "has an unknown parameter `mode`"},
      {"redis://h/0?fail_open=yes", "has an invalid `fail_open` `yes` (true or false)"},
      {"sqlite:l.db?reservation_ttl_ms=0", "has an invalid `reservation_ttl_ms` `0`"},
      {"sqlite:l.db?reservation_ttl_ms=x", "has an invalid `reservation_ttl_ms` `x`"},
      {"sqlite:l.db?colour=blue", "has an unknown parameter `colour`"},
      {"sqlite:l.db?mode", "has an invalid parameter `mode` (NAME=VALUE)"},
      {"sqlite:?mode=strict", "has no file path"},
  };
  for (const Case& c : bad) {
    EXPECT_FALSE(ParseLedgerUrl(c.url, &u, &err)) << c.url;
    EXPECT_NE(err.find(c.error), std::string::npos) << c.url << " -> " << err;
  }

  // Opening applies them: the file is the path before `?`.
  std::string dir = testing::TempDir() + "/url_params_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  auto led = OpenLedger("sqlite:" + dir + "/l.db?mode=strict", {}, &err);
  ASSERT_TRUE(led) << err;
  led.reset();
  EXPECT_TRUE(std::filesystem::exists(dir + "/l.db"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/l.db?mode=strict"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tollgate::ledger
