// Ledger URLs: the accepted forms and one-line errors for everything else.
#include "runtime/ledger/open.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tollgate::ledger
