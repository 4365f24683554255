// Names of a policy that no endpoint of the catalog holds: a route order
// entry, a constant compared with provider.name / provider.slug /
// endpoint.model (runtime/router/catalog_names.h).
#include <gtest/gtest.h>

#include "runtime/router/catalog_names.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

std::string Catalog3() {
  return CatalogOf({
      Ep("m@mistral", "mistralai/mistral-large", "mistral"),
      Ep("m@scaleway", "mistralai/mistral-large", "scaleway"),
      Ep("d@deepseek", "deepseek/deepseek-chat", "deepseek"),
      Ep("g@vertex", "google/gemini", "google-vertex/europe"),
      Ep("o@prio", "openai/gpt-4o", "openai/priority", {{"tier", "\"priority\""}}),
  });
}

std::string Warnings(const std::string& policy) {
  RouteEnv env;
  EXPECT_TRUE(env.Setup(policy, Catalog3())) << env.error;
  if (!env.policy) return "";
  Diagnostics d;
  runtime::WarnNamesNotInCatalog(*env.policy, env.catalog, "cat.json", &d);
  d.Sort();
  return d.Render();
}

TEST(CatalogNames, RouteOrderEntriesNamingNoProviderWarn) {
  const std::string r = Warnings(
      "policy \"p\"\n"
      "rule o { route order [\"mistral \", \"scalewai\", \"Mistral\", \"google-vertex\", \"openai\"] }\n");
  EXPECT_NE(r.find("test.tg:2:"), std::string::npos) << r;
  EXPECT_NE(r.find("warning[tg_name_not_in_catalog]: `route order` lists `mistral `, `scalewai`, which "
                   "name no provider of the catalog `cat.json`"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("`scaleway` for `scalewai`"), std::string::npos) << r;
  EXPECT_NE(r.find("`mistral` for `mistral `"), std::string::npos) << r;
  // Any case, a base slug of variants or of a tier names a provider.
  EXPECT_EQ(r.find("`Mistral`"), std::string::npos) << r;
  EXPECT_EQ(r.find("`google-vertex`"), std::string::npos) << r;
  EXPECT_EQ(r.find("`openai`,"), std::string::npos) << r;
}

TEST(CatalogNames, ConstantsComparedWithProviderAndModelFieldsWarn) {
  const std::string r = Warnings(
      "policy \"p\"\n"
      "const banned = {\"deep-seek\", \"mistral\"}\n"
      "rule ban { require provider.name not in banned }\n"
      "rule one { require provider.slug != \"google-vertex/asia\" }\n"
      "rule mod { when request.model == \"x\" require endpoint.model in {\"deepseek/deepseek-chatt\"} }\n"
      "rule fine { require provider.name == \"google-vertex\" or provider.slug == \"openai/priority\" }\n");
  EXPECT_NE(r.find("test.tg:3:20: warning[tg_name_not_in_catalog]: `provider.name` is compared with "
                   "`deep-seek`, which names no provider of the catalog `cat.json`, so it matches no "
                   "endpoint"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("did you mean `deepseek` for `deep-seek`?"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:4:"), std::string::npos) << r;
  EXPECT_NE(r.find("`provider.slug` is compared with `google-vertex/asia`"), std::string::npos) << r;
  EXPECT_NE(r.find("`endpoint.model` is compared with `deepseek/deepseek-chatt`, which names no model"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.find("test.tg:6:"), std::string::npos) << r;
  EXPECT_EQ(r.find("`mistral`"), std::string::npos) << r;
}

TEST(CatalogNames, NamesTheCatalogHoldsAreQuiet) {
  EXPECT_EQ(Warnings("policy \"p\"\n"
                     "rule o { route order [\"scaleway\", \"mistral\"] }\n"
                     "rule b { require provider.name not in {\"deepseek\"} and endpoint.model != "
                     "\"openai/gpt-4o\" }\n"),
            "");
}

}  // namespace
}  // namespace tollgate::testing
