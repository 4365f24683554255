// Fixes from driving `tollgate serve` with curl and the openai npm client:
// a shadow judged and promoted against the catalog loaded now, and the HTTP
// details the SDK depends on (docs/gateway.md).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tollgate::gateway
