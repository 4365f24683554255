// Names of a policy that no endpoint of the catalog holds: a route order
// entry, a constant compared with provider.name / provider.slug /
// endpoint.model or the requested models (runtime/router/catalog_names.h).
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

// The requested models too: a ban on a model the catalog spells otherwise
// bans nothing (a request for the catalog's spelling passes it). Before,
// only the endpoint side was checked.
TEST(CatalogNames, ConstantsComparedWithTheRequestedModelsWarn) {
  const std::string r = Warnings(
      "policy \"p\"\n"
      "const banned_models = {\"DeepSeek/deepseek-chat\", \"deepseek/deepseek-chat \"}\n"
      "rule no_banned_models {\n"
      "  when request.model in banned_models or (any m in request.models: m in banned_models)\n"
      "  deny 403 \"banned model\"\n"
      "}\n"
      "rule full { when request.model_full == \"mistralai/mistral-larg:free\" deny 403 \"x\" }\n"
      "rule hs { when request.models has \"google/gemini-pro\" or \"openai/gpt-4\" in request.models_full deny 403 \"x\" }\n");
  EXPECT_NE(r.find("test.tg:4:8: warning[tg_name_not_in_catalog]: `request.model` is compared with "
                   "`DeepSeek/deepseek-chat`, `deepseek/deepseek-chat `, which name no model of the "
                   "catalog `cat.json`, so they match no request the catalog serves"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("did you mean `deepseek/deepseek-chat` for `DeepSeek/deepseek-chat`, "
                   "`deepseek/deepseek-chat` for `deepseek/deepseek-chat `?"),
            std::string::npos)
      << r;
  // The variable of a quantifier over request.models is a requested model.
  EXPECT_NE(r.find("test.tg:4:68: warning[tg_name_not_in_catalog]: `request.models` is compared with"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("test.tg:7:18: warning[tg_name_not_in_catalog]: `request.model_full` is compared "
                   "with `mistralai/mistral-larg:free`"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("`request.models` is compared with `google/gemini-pro`"), std::string::npos) << r;
  EXPECT_NE(r.find("`request.models_full` is compared with `openai/gpt-4`"), std::string::npos) << r;
}

// A variant is legal on the `_full` fields (and on a fallback's full
// spelling): the model id before it is what the catalog must hold.
TEST(CatalogNames, RequestedModelsTheCatalogServesAreQuietWithAnyVariant) {
  EXPECT_EQ(Warnings("policy \"p\"\n"
                     "rule a { when request.model in {\"deepseek/deepseek-chat\", \"openai/gpt-4o\"} deny 403 \"x\" }\n"
                     "rule b { when request.model_full == \"deepseek/deepseek-chat:free\" or "
                     "\"openai/gpt-4o:nitro\" in request.models_full deny 403 \"x\" }\n"
                     "rule c { when any m in request.models_full: m == \"google/gemini:floor\" deny 403 \"x\" }\n"
                     "rule d { when any m in request.models: m != \"google/gemini\" deny 403 \"x\" }\n"),
            "");
}

TEST(CatalogNames, NamesTheCatalogHoldsAreQuiet) {
  EXPECT_EQ(Warnings("policy \"p\"\n"
                     "rule o { route order [\"scaleway\", \"mistral\"] }\n"
                     "rule b { require provider.name not in {\"deepseek\"} and endpoint.model != "
                     "\"openai/gpt-4o\" }\n"),
            "");
}

// Regions are free text in the catalog: an EU-residency or US-exclusion rule
// naming a region the catalog writes otherwise (`US-East`, `westeurope`)
// bans or admits nothing, silently -- `require provider.region not in
// {"US-East"}` kept every us-east endpoint. So do endpoint ids.
TEST(CatalogNames, RegionsAndEndpointIdsTheCatalogDoesNotHoldWarn) {
  const std::string r = Warnings(
      "policy \"p\"\n"
      "rule no_us { require provider.region not in {\"US-East\", \"us-west\"} }\n"
      "rule pin { require endpoint.id != \"m@mistrall\" }\n"
      "rule fine { require provider.region != \"us-east\" or endpoint.id == \"m@mistral\" }\n");
  EXPECT_NE(r.find("test.tg:2:22: warning[tg_name_not_in_catalog]: `provider.region` is compared with "
                   "`US-East`, `us-west`, which name no region of the catalog `cat.json`, so they match no "
                   "endpoint"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("`us-east` for `US-East`"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:3:20: warning[tg_name_not_in_catalog]: `endpoint.id` is compared with `m@mistrall`"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.find("test.tg:4:"), std::string::npos) << r;
}


// A ban or allowlist written with a model's alias names one id: the
// catalog's dated snapshots of it (`openai/gpt-4o-2024-08-06`,
// `anthropic/claude-3-5-sonnet-20241022`) are other ids, and a request
// naming one passed `request.model in banned` -- checked clean.
TEST(CatalogNames, DatedSnapshotsAConstantDoesNotNameWarn) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup("policy \"p\"\n"
                        "const banned = {\"openai/gpt-4o\"}\n"
                        "rule ban { when request.model in banned or (any m in request.models: m in banned) deny 403 \"no\" }\n"
                        "rule served { require endpoint.model != \"anthropic/claude-3-5-sonnet\" }\n"
                        "rule all_named { require endpoint.model not in {\"openai/gpt-4o-mini\", \"openai/gpt-4o-mini-2024-07-18\"} }\n",
                        CatalogOf({
                            Ep("a@openai", "openai/gpt-4o", "openai"),
                            Ep("b@openai", "openai/gpt-4o-2024-08-06", "openai"),
                            Ep("c@openai", "openai/gpt-4o-2024-05-13", "openai"),
                            Ep("d@openai", "openai/gpt-4o-mini", "openai"),
                            Ep("e@openai", "openai/gpt-4o-mini-2024-07-18", "openai"),
                            Ep("f@anthropic", "anthropic/claude-3-5-sonnet", "anthropic"),
                            Ep("g@anthropic", "anthropic/claude-3-5-sonnet-20241022", "anthropic"),
                        })))
      << env.error;
  Diagnostics d;
  runtime::WarnNamesNotInCatalog(*env.policy, env.catalog, "cat.json", &d);
  d.Sort();
  const std::string r = d.Render();
  EXPECT_NE(r.find("test.tg:3:17: warning[tg_model_snapshot_not_named]: `request.model` is compared with "
                   "`openai/gpt-4o`, but not with its dated snapshots `openai/gpt-4o-2024-05-13`, "
                   "`openai/gpt-4o-2024-08-06`, which the catalog `cat.json` serves as other models"),
            std::string::npos) << r;
  EXPECT_NE(r.find("`anthropic/claude-3-5-sonnet-20241022`"), std::string::npos) << r;
  // gpt-4o-mini is no snapshot of gpt-4o, and a list naming every snapshot is quiet.
  EXPECT_EQ(r.find("mini"), std::string::npos) << r;
}


// Residency written as a region prefix: cloud region names are each cloud's
// own (AWS's eu-west-2 is London; Scaleway's Paris is fr-par), so a prefix
// keeps some endpoints of a country and drops others, and keeps countries
// the author did not mean. Before, `require provider.region starts_with
// "eu-"` checked clean against such a catalog.
std::string RegionCatalog() {
  auto at = [](const char* j, const char* r) {
    return std::map<std::string, std::string>{{"jurisdiction", std::string("\"") + j + "\""},
                                              {"region", std::string("\"") + r + "\""}};
  };
  return CatalogOf({
      Ep("m@mistral", "mistralai/mistral-large", "mistral", at("FR", "eu-west-3")),
      Ep("m@scaleway", "mistralai/mistral-large", "scaleway", at("FR", "fr-par")),
      Ep("c@bedrock-uk", "anthropic/claude", "amazon-bedrock/eu-west-2", at("GB", "eu-west-2")),
      Ep("c@bedrock-de", "anthropic/claude", "amazon-bedrock/eu-central-1", at("DE", "eu-central-1")),
      Ep("g@vertex", "google/gemini", "google-vertex/europe", at("NL", "europe-west4")),
      Ep("o@openai", "openai/gpt-4o", "openai", at("US", "us")),
      Ep("o@azure", "openai/gpt-4o", "azure/eastus", at("US", "eastus2")),
  });
}

std::string RegionWarnings(const std::string& policy) {
  RouteEnv env;
  EXPECT_TRUE(env.Setup(policy, RegionCatalog())) << env.error;
  if (!env.policy) return "";
  Diagnostics d;
  runtime::WarnNamesNotInCatalog(*env.policy, env.catalog, "cat.json", &d);
  d.Sort();
  return d.Render();
}

// A catalog with no endpoint has no region to show as an example: the
// warning says so without one (it read the first of an empty set: "error:
// out of memory" from `tollgate route`).
TEST(CatalogNames, RegionPartAgainstAnEmptyCatalogWarnsWithoutAnExample) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup("policy \"p\"\nrule eu { require provider.region starts_with \"eu-\" }\n",
                        CatalogOf({})))
      << env.error;
  Diagnostics d;
  runtime::WarnNamesNotInCatalog(*env.policy, env.catalog, "cat.json", &d);
  const std::string r = d.Render();
  EXPECT_NE(r.find("warning[tg_name_not_in_catalog]: `provider.region starts_with \"eu-\"` holds for no "
                   "region of the catalog `cat.json`"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("the catalog writes regions as each cloud names them; to keep data"), std::string::npos) << r;
}

TEST(CatalogNames, RegionPrefixSplittingACountryWarns) {
  const std::string r = RegionWarnings(
      "policy \"p\"\n"
      "rule eu { require provider.region starts_with \"eu-\" }\n"
      "rule us { when principal.workspace == \"x\" require provider.region contains \"us\" }\n"
      "rule fr { when principal.workspace == \"y\" require not (provider.region ends_with \"-3\") }\n"
      "rule re { when principal.workspace == \"z\" require provider.region matches \"^(eu|europe)-\" }\n");
  EXPECT_NE(r.find("test.tg:2:19: warning[tg_region_not_jurisdiction]: `provider.region starts_with "
                   "\"eu-\"` holds for endpoints in DE, FR, GB, but tells endpoints of one country "
                   "apart: it holds for `mistral` (FR, region `eu-west-3`) and not for `scaleway` "
                   "(FR, region `fr-par`)"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("provider.jurisdiction in {\"DE\", \"FR\", \"GB\"}"), std::string::npos) << r;
  // US: openai's `us` and azure's `eastus2` both hold `us`; nothing split.
  EXPECT_EQ(r.find("test.tg:3:"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:4:"), std::string::npos) << r;
  EXPECT_NE(r.find("`provider.region matches \"^(eu|europe)-\"` holds for endpoints in DE, FR, GB, NL"),
            std::string::npos)
      << r;
}

TEST(CatalogNames, RegionPrefixMatchingNoRegionWarns) {
  const std::string r = RegionWarnings(
      "policy \"p\"\n"
      "rule eu { require provider.region starts_with \"EU\" }\n"
      "rule ok { require provider.region starts_with \"eu-central\" or provider.jurisdiction == \"NL\" }\n");
  EXPECT_NE(r.find("test.tg:2:19: warning[tg_name_not_in_catalog]: `provider.region starts_with "
                   "\"EU\"` holds for no region of the catalog `cat.json`, so it matches no endpoint"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.find("test.tg:3:"), std::string::npos) << r;
}

// A model id is `author/name` in the catalog, and the gateway rewrites the
// bare `gpt-4o` a client sends to `openai/gpt-4o` before the policy reads it
// (docs/gateway.md, "Model names"): `request.model starts_with "gpt-4"`
// checked clean, its test (given `request.model: "gpt-4o"`) passed, and it
// never held for a request the gateway served. A part of a model id that no
// catalog model holds is warned, with the author-qualified spelling.
TEST(CatalogNames, ModelPartMatchingNoModelWarns) {
  const std::string r = Warnings(
      "policy \"p\"\n"
      "rule gpt4 { when request.model starts_with \"gpt-4\" or (any m in request.models: m starts_with \"gpt-4\") deny \"x\" }\n"
      "rule ds { when request.model contains \"DeepSeek\" or request.model ends_with \"-large\" deny \"y\" }\n"
      "rule ep { require not (endpoint.model matches \"^claude-\") }\n"
      "rule ok { when request.model starts_with \"openai/\" or request.model contains \"mistral\" or "
      "request.model_full starts_with \"google/gemini\" deny \"z\" }\n");
  EXPECT_NE(r.find("test.tg:2:18: warning[tg_name_not_in_catalog]: `request.model starts_with \"gpt-4\"` "
                   "holds for no model of the catalog `cat.json`, so it matches no request the catalog serves"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("help: the catalog names models `author/name`, and the gateway rewrites a bare name a "
                   "client sends to that id: write `\"openai/gpt-4\"`"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("test.tg:2:81: warning[tg_name_not_in_catalog]: `request.models starts_with \"gpt-4\"`"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("`request.model contains \"DeepSeek\"` holds for no model"), std::string::npos) << r;
  EXPECT_EQ(r.find("ends_with \"-large\"` holds"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:4:23: warning[tg_name_not_in_catalog]: `endpoint.model matches \"^claude-\"` "
                   "holds for no model of the catalog `cat.json`, so it matches no endpoint"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.find("test.tg:5:"), std::string::npos) << r;
}

}  // namespace
}  // namespace tollgate::testing
