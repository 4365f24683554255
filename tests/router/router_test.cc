// Router: candidates, policy requires, every preference alone and combined,
// ordering and tie-breaks, explanations, fallback models, status codes.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/core/money.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

using Ids = std::vector<std::string>;

// Three endpoints of model m: a cheap US one, a mid DE zdr one, a pricey FR fp8 one.
std::string Basic() {
  return CatalogOf({
      Ep("m@us", "m", "cheapco", {{"input", "\"0.5\""}, {"output", "\"1\""}}),
      Ep("m@de", "m", "eurocloud/frankfurt",
         {{"input", "\"1\""}, {"output", "\"2\""}, {"jurisdiction", "\"DE\""}, {"zdr", "true"},
          {"retention_days", "0"}, {"data_collection", "\"deny\""}}),
      Ep("m@fr", "m", "frenchai",
         {{"input", "\"3\""}, {"output", "\"6\""}, {"jurisdiction", "\"FR\""},
          {"quantization", "\"fp8\""}, {"supported_parameters", "[\"max_tokens\"]"},
          {"data_collection", "\"deny\""}, {"retention_days", "0"}}),
  });
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUpEnv(const std::string& policy, const std::string& catalog,
                const std::string& accounts = "") {
    ASSERT_TRUE(env.Setup(policy, catalog, accounts)) << env.error;
  }
  Ids R(const std::string& input) {
    Ids cached = env.Route(input, true);
    EXPECT_TRUE(env.error.empty()) << env.error;
    return cached;
  }
  RouteEnv env;
};

TEST_F(RouterTest, DefaultOrderIsAscendingEstimatedCost) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@us", "m@de", "m@fr"}));
  EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kRouted);
  EXPECT_TRUE(env.result.eliminated.empty());
}

TEST_F(RouterTest, EstimatedCostIsExact) {
  SetUpEnv(kNoRules, CatalogOf({Ep("e", "m", "p", {{"input", "\"2.5\""}, {"output", "\"10\""},
                                                   {"per_request", "\"0.001\""}})}));
  R(Input("m", "", "\"max_tokens\": 1000"));
  ASSERT_EQ(env.result.endpoints.size(), 1u);
  int slot = env.policy->schema().field(env.policy->schema().Find("request.input_tokens")).slot;
  int64_t in = env.request.slots[slot].i;
  // in x 2.5 usd/Mtok + 1000 x 10 usd/Mtok + 0.001 usd, in micros.
  EXPECT_EQ(env.result.endpoints[0].estimated_cost, in * 25 / 10 + 10000 + 1000);
}

TEST_F(RouterTest, MaxTokensAbsentUsesModelMaxOutput) {
  SetUpEnv(kNoRules, CatalogOf({Ep("e", "m", "p", {{"input", "\"0\""}, {"output", "\"1\""},
                                                   {"max_output_tokens", "2000"}})}));
  R(Input("m"));
  ASSERT_EQ(env.result.endpoints.size(), 1u);
  EXPECT_EQ(env.result.endpoints[0].estimated_cost, 2000);  // 2000 tok x 1 usd/Mtok
}

// Two endpoints of one model (the reviewer's llama-3.1-70b pair): `big` is
// cheaper per token but may write 131072 tokens, `small` is dearer and stops
// at 8192. Without max_tokens the estimate counts the model's longest max
// output for both, so the endpoints compare by their per-token prices.
std::string OutputLimits() {
  return CatalogOf({
      Ep("m@big", "m", "together", {{"input", "\"0.50\""}, {"output", "\"1.00\""},
                                    {"context_length", "131072"}, {"max_output_tokens", "131072"}}),
      Ep("m@small", "m", "fireworks", {{"input", "\"0.90\""}, {"output", "\"2.00\""},
                                       {"context_length", "131072"}, {"max_output_tokens", "8192"}}),
  });
}

TEST_F(RouterTest, PriceSortComparesPerTokenPricesWithoutMaxTokens) {
  SetUpEnv(kNoRules, OutputLimits());
  for (const char* prefs : {"", "{\"sort\": \"price\"}"}) {
    EXPECT_EQ(R(Input("m", prefs)), (Ids{"m@big", "m@small"})) << prefs;
    EXPECT_EQ(R(Input("m", prefs, "\"max_tokens\": 1000")), (Ids{"m@big", "m@small"})) << prefs;
  }
  // The policy's sort likewise.
  SetUpEnv("policy \"p\"\nrule s { route sort price }\n", OutputLimits());
  EXPECT_EQ(R(Input("m")), (Ids{"m@big", "m@small"}));
  // Both estimates count 131072 output tokens (the model's longest).
  const int slot = env.policy->schema().field(env.policy->schema().Find("request.input_tokens")).slot;
  const int64_t in = env.request.slots[slot].i;
  ASSERT_EQ(env.result.endpoints.size(), 2u);
  auto half_even = [](int64_t n) {  // n / 1e6, rounded half to even
    int64_t q = n / 1000000, r = n % 1000000;
    return r * 2 > 1000000 || (r * 2 == 1000000 && (q & 1)) ? q + 1 : q;
  };
  EXPECT_EQ(env.result.endpoints[0].estimated_cost, half_even(in * 500000 + int64_t{131072} * 1000000));
  EXPECT_EQ(env.result.endpoints[1].estimated_cost, half_even(in * 900000 + int64_t{131072} * 2000000));
  // The budget's worst case still stops at each endpoint's own limit.
  EXPECT_EQ(runtime::WorstCaseCompletionTokens(-1, 1, env.catalog.endpoint(1)), 8192);
  EXPECT_EQ(runtime::EstimatedCompletionTokens(-1, 1, env.catalog, 1), 131072);
  EXPECT_EQ(runtime::EstimatedCompletionTokens(-1, 2, env.catalog, 1), 2 * 131072);
  EXPECT_EQ(runtime::EstimatedCompletionTokens(500, 2, env.catalog, 1), 1000);
}

// A cost cap (route max_price <money>, or a require on estimated_cost) never
// keeps the per-token-dearer endpoint while eliminating the cheaper one.
TEST_F(RouterTest, CostCapNeverKeepsTheDearerEndpoint) {
  // 0.05 usd: 131072 tok x 1 usd/Mtok = 0.131 is over; 8192 x 2 = 0.016 was under.
  SetUpEnv("policy \"p\"\nrule cap { route max_price 0.05 usd }\n", OutputLimits());
  EXPECT_TRUE(R(Input("m")).empty());
  EXPECT_EQ(env.CodeOf("m@big"), "route_max_price");
  EXPECT_EQ(env.CodeOf("m@small"), "route_max_price");
  // With max_tokens both are costed at it: the cheaper passes first.
  EXPECT_EQ(R(Input("m", "", "\"max_tokens\": 8000")), (Ids{"m@big", "m@small"}));
  SetUpEnv("policy \"p\"\nrule cap { route max_price 0.14 usd }\n", OutputLimits());
  EXPECT_EQ(R(Input("m")), (Ids{"m@big"}));
  EXPECT_EQ(env.CodeOf("m@small"), "route_max_price");
  SetUpEnv("policy \"p\"\nrule cap { require endpoint.estimated_cost <= 0.14 usd }\n", OutputLimits());
  EXPECT_EQ(R(Input("m")), (Ids{"m@big"}));
  EXPECT_EQ(env.CodeOf("m@small"), "policy_require");
}

TEST_F(RouterTest, TiesBrokenByEndpointId) {
  SetUpEnv(kNoRules, CatalogOf({Ep("z", "m", "p1"), Ep("b", "m", "p2"), Ep("k", "m", "p3")}));
  EXPECT_EQ(R(Input("m")), (Ids{"b", "k", "z"}));
}

TEST_F(RouterTest, FallbackModelsStayPartitionedInOrder) {
  SetUpEnv(kNoRules, CatalogOf({Ep("a1", "a", "p", {{"input", "\"9\""}}), Ep("b1", "b", "p", {{"input", "\"0\""}}),
                                Ep("c1", "c", "p"), Ep("a2", "a", "q", {{"input", "\"5\""}})}));
  EXPECT_EQ(R(Input("a", "", "\"models\": [\"b\", \"a\", \"nosuch\"]")), (Ids{"a2", "a1", "b1"}));
  ASSERT_EQ(env.result.models.size(), 3u);
  EXPECT_EQ(env.result.models[1], "b");
}

TEST_F(RouterTest, PartitionNoneSortsAcrossFallbackModels) {
  SetUpEnv(kNoRules, CatalogOf({Ep("a1", "a", "p", {{"input", "\"9\""}}), Ep("b1", "b", "p", {{"input", "\"0\""}}),
                                Ep("a2", "a", "q", {{"input", "\"5\""}})}));
  // Default partition `model`: a's endpoints first, each model sorted by price.
  EXPECT_EQ(R(Input("a", R"({"sort": {"by": "price", "partition": "model"}})", "\"models\": [\"b\"]")),
            (Ids{"a2", "a1", "b1"}));
  // `none`: one global price sort across both models.
  EXPECT_EQ(R(Input("a", R"({"sort": {"by": "price", "partition": "none"}})", "\"models\": [\"b\"]")),
            (Ids{"b1", "a2", "a1"}));
}

// OpenAI's code for a model that does not exist (docs/routing.md section 7).
// Before: route_no_eligible_endpoint, "no endpoint in the catalog serves".
TEST_F(RouterTest, UnknownModelIsModelNotFound) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_TRUE(R(Input("nosuch")).empty());
  EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kNoEndpoint);
  EXPECT_EQ(env.result.status, 404);
  EXPECT_EQ(env.result.code, "model_not_found");
  EXPECT_EQ(env.result.reason, "the model `nosuch` does not exist or you do not have access to it");
  runtime::ApplyRoute(env.result, &env.decision);
  EXPECT_EQ(env.decision.code, vm::kCodeModelNotFound);
  EXPECT_EQ(env.decision.status, 404);
  // Several models asked for, none served.
  EXPECT_TRUE(R(Input("nosuch", "", "\"models\": [\"other\"]")).empty());
  EXPECT_EQ(env.result.code, "model_not_found");
  EXPECT_EQ(env.result.reason, "the models `nosuch`, `other` do not exist or you do not have access to them");
  // An unknown fallback beside a served model changes nothing.
  EXPECT_EQ(R(Input("m", "", "\"models\": [\"nosuch\"]")).size(), 3u);
}

// A model the caller's account excludes whole is, to that caller, a model
// that does not exist; the request's own preferences are not.
TEST_F(RouterTest, AModelTheAccountExcludesIsModelNotFound) {
  SetUpEnv(kNoRules, Basic(), R"({"workspaces": {"acme": {"only": ["frenchai"], "zdr": true}}})");
  EXPECT_TRUE(R(Input("m")).empty());
  EXPECT_EQ(env.result.status, 404);
  EXPECT_EQ(env.result.code, "model_not_found");
  EXPECT_EQ(env.result.eliminated.size(), 3u);  // still explained
  // Another workspace's request is routed.
  EXPECT_EQ(R(Input("m", "", "", "other")).size(), 3u);
  // The request's own filter first: its preference, not the account, left nothing.
  EXPECT_TRUE(R(Input("m", "{\"only\": [\"cheapco\"]}")).empty());
  EXPECT_EQ(env.result.code, "route_no_eligible_endpoint");
  EXPECT_EQ(env.result.status, 404);
}

// With a policy elimination among them, it stays the policy's deny.
TEST_F(RouterTest, APolicyEliminationIsNeverModelNotFound) {
  SetUpEnv("policy \"p\"\nrule no_us { require provider.jurisdiction != \"US\" }\n", Basic(),
           R"({"workspaces": {"acme": {"only": ["cheapco"]}}})");
  EXPECT_TRUE(R(Input("m")).empty());
  EXPECT_EQ(env.result.status, 403);
  EXPECT_EQ(env.result.code, "route_no_eligible_endpoint");
  EXPECT_NE(env.result.reason.find("1 by rule `no_us`"), std::string::npos) << env.result.reason;
}

TEST_F(RouterTest, PolicyRequireEliminatesAndIsNamed) {
  SetUpEnv("policy \"eu\"\nconst eu = {\"DE\", \"FR\"}\n"
           "rule eu_only { require provider.jurisdiction in eu }\n",
           Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@de", "m@fr"}));
  ASSERT_EQ(env.result.eliminated.size(), 1u);
  const auto& el = env.result.eliminated[0];
  EXPECT_EQ(env.catalog.endpoint(el.endpoint).id, "m@us");
  EXPECT_EQ(el.code, runtime::ElimCode::kPolicyRequire);
  EXPECT_EQ(el.field, "eu_only");
  EXPECT_EQ(el.source, "policy");
  std::string detail = runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, el);
  EXPECT_NE(detail.find("provider.jurisdiction in eu"), std::string::npos) << detail;
}

TEST_F(RouterTest, NothingLeftByPolicyIs403WithExplanation) {
  SetUpEnv("policy \"p\"\nrule only_jp { require provider.jurisdiction == \"JP\" }\n", Basic());
  EXPECT_TRUE(R(Input("m", "{\"zdr\": true}")).empty());
  EXPECT_EQ(env.result.status, 403);
  EXPECT_EQ(env.Eliminated(), (Ids{"m@us:policy_require", "m@de:policy_require", "m@fr:policy_require"}));
  EXPECT_NE(env.result.reason.find("3 by rule `only_jp`"), std::string::npos) << env.result.reason;
  runtime::ApplyRoute(env.result, &env.decision);
  EXPECT_EQ(env.decision.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(env.decision.status, 403);
  EXPECT_EQ(env.decision.code, vm::kCodeNoEndpoint);
}

TEST_F(RouterTest, NothingLeftByPreferencesIs404) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_TRUE(R(Input("m", "{\"only\": [\"nobody\"]}")).empty());
  EXPECT_EQ(env.result.status, 404);
  EXPECT_NE(env.result.reason.find("3 by request `provider.only` (pref_only)"), std::string::npos)
      << env.result.reason;
}

TEST_F(RouterTest, EstimatedCostRequire) {
  // cheapco with 4096 output tokens: 4096 x 1 usd/Mtok = 0.004096 usd; eurocloud 0.008192.
  SetUpEnv("policy \"c\"\nrule cap { require endpoint.estimated_cost <= 0.005 usd }\n", Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@us"}));
  EXPECT_EQ(env.CodeOf("m@de"), "policy_require");
  // A smaller max_tokens makes more endpoints affordable.
  EXPECT_EQ(R(Input("m", "", "\"max_tokens\": 100")), (Ids{"m@us", "m@de", "m@fr"}));
}

TEST_F(RouterTest, RequestDependentRequire) {
  SetUpEnv("policy \"c\"\nrule ctx { require endpoint.context_length >= request.input_tokens * 1000 }\n",
           CatalogOf({Ep("small", "m", "p", {{"context_length", "5000"}}),
                      Ep("big", "m", "q", {{"context_length", "10000000"}, {"max_output_tokens", "4096"}})}));
  Ids ids = R(Input("m", "", "\"max_tokens\": 10"));
  EXPECT_NE(std::find(ids.begin(), ids.end(), "big"), ids.end());
}

// --- names: model variants and provider regions ---

std::string Named() {
  return CatalogOf({Ep("g@openai", "openai/gpt-4o", "openai", {{"input", "\"3\""}}),
                    Ep("g@azure", "openai/gpt-4o", "azure/sweden", {{"input", "\"2\""}}),
                    Ep("g@bedrock", "openai/gpt-4o", "amazon-bedrock/us-east-1", {{"input", "\"1\""}}),
                    Ep("g@free", "openai/gpt-4o:free", "freeco", {{"input", "\"0\""}, {"output", "\"0\""}})});
}

TEST_F(RouterTest, ProviderNameInPolicyIsTheBaseSlug) {
  // Matches the regional variant exactly as `ignore` does.
  SetUpEnv("policy \"p\"\nrule no_bedrock { require provider.name not in {\"amazon-bedrock\"} }\n", Named());
  EXPECT_EQ(R(Input("openai/gpt-4o")), (Ids{"g@azure", "g@openai"}));
  EXPECT_EQ(env.Eliminated(), (Ids{"g@bedrock:policy_require"}));
  EXPECT_EQ(R(Input("openai/gpt-4o", "{\"ignore\": [\"amazon-bedrock\"]}")).size(), 2u);
  // The full slug is provider.slug.
  SetUpEnv("policy \"p\"\nrule only_sweden { require provider.slug == \"azure/sweden\" }\n", Named());
  EXPECT_EQ(R(Input("openai/gpt-4o")), (Ids{"g@azure"}));
}

TEST_F(RouterTest, ModelBanInPolicyCoversVariants) {
  SetUpEnv("policy \"p\"\nrule ban { require endpoint.model != \"openai/gpt-4o\" }\n", Named());
  EXPECT_TRUE(R(Input("openai/gpt-4o:free")).empty());
  EXPECT_EQ(env.Eliminated(), (Ids{"g@free:policy_require"}));
  EXPECT_EQ(env.result.status, 403);
  // endpoint.model_variant tells the variants apart.
  SetUpEnv("policy \"p\"\nrule no_free { require endpoint.model_variant != \"free\" }\n", Named());
  EXPECT_TRUE(R(Input("openai/gpt-4o:free")).empty());
  EXPECT_EQ(R(Input("openai/gpt-4o")).size(), 3u);
}

TEST_F(RouterTest, RequestModelBanCoversVariantsAndRoutingKeepsTheSuffix) {
  SetUpEnv("policy \"p\"\nrule ban { when request.model == \"openai/gpt-4o\" deny 403 \"banned\" }\n",
           Named());
  for (const char* m : {"openai/gpt-4o", "openai/gpt-4o:floor", "openai/gpt-4o:nitro",
                        "openai/gpt-4o:free", "openai/gpt-4o:online", "openai/gpt-4o:thinking",
                        "openai/gpt-4o:extended"}) {
    R(Input(m));
    EXPECT_EQ(env.decision.outcome, vm::Outcome::kDeny) << m;
    EXPECT_EQ(env.decision.status, 403) << m;
  }
  // Fallback models too: `any m in request.models` sees canonical ids.
  SetUpEnv("policy \"p\"\nrule ban { when \"openai/gpt-4o\" in request.models deny 403 \"banned\" }\n",
           Named());
  R(Input("x/y", "", "\"models\": [\"openai/gpt-4o:nitro\"]"));
  EXPECT_EQ(env.decision.outcome, vm::Outcome::kDeny);
  // The router still reads the suffix: :nitro sorts by throughput over the
  // canonical model's endpoints, :free names the catalog's :free model.
  SetUpEnv(kNoRules, Named());
  EXPECT_EQ(R(Input("openai/gpt-4o:nitro")).size(), 3u);
  EXPECT_EQ(R(Input("openai/gpt-4o:free")), (Ids{"g@free"}));
  EXPECT_EQ(R(Input("x/y", "", "\"models\": [\"openai/gpt-4o:free\"]")), (Ids{"g@free"}));
}

// --- every preference alone ---

TEST_F(RouterTest, OnlyMatchesBaseSlugVariants) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"only\": [\"eurocloud\"]}")), (Ids{"m@de"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_only");
  EXPECT_EQ(R(Input("m", "{\"only\": [\"eurocloud/frankfurt\", \"frenchai\"]}")), (Ids{"m@de", "m@fr"}));
  EXPECT_EQ(R(Input("m", "{\"only\": [\"euro\"]}")), Ids{});  // not a slug prefix
}

TEST_F(RouterTest, Ignore) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"ignore\": [\"cheapco\", \"eurocloud\"]}")), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_ignore");
  EXPECT_EQ(env.CodeOf("m@de"), "pref_ignore");
}

// Slugs are lower case in the catalog; a caller's "CheapCo" names the same
// provider (it used to match nothing, so an `ignore` in another case
// silently dropped nothing).
TEST_F(RouterTest, ProviderSlugsMatchInAnyCase) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"ignore\": [\"CheapCo\", \"EuroCloud\"]}")), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_ignore");
  EXPECT_EQ(R(Input("m", "{\"only\": [\"EUROCLOUD/Frankfurt\"]}")), (Ids{"m@de"}));
  EXPECT_EQ(R(Input("m", "{\"order\": [\"FrenchAI\", \"eurocloud\"]}")), (Ids{"m@fr", "m@de", "m@us"}));
}

TEST_F(RouterTest, OrderFirstThenCost) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"order\": [\"frenchai\", \"eurocloud\"]}")), (Ids{"m@fr", "m@de", "m@us"}));
}

TEST_F(RouterTest, AllowFallbacksFalseKeepsOnlyOrderProviders) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"order\": [\"frenchai\"], \"allow_fallbacks\": false}")), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_allow_fallbacks");
}

TEST_F(RouterTest, AllowFallbacksFalseWithoutOrderKeepsThePrimaryOnly) {
  SetUpEnv(kNoRules, Basic());
  // As OpenRouter: no backup providers, so only the best endpoint is tried.
  EXPECT_EQ(R(Input("m", "{\"allow_fallbacks\": false}")), (Ids{"m@us"}));
  EXPECT_EQ(env.Eliminated(), (Ids{"m@de:pref_allow_fallbacks", "m@fr:pref_allow_fallbacks"}));
  EXPECT_EQ(runtime::EliminationDetail(env.catalog, env.policy->program(), env.result,
                                       env.result.eliminated[0]),
            "not the primary endpoint, and fallbacks are off without an `order`");
  // The primary follows the request's sort.
  EXPECT_EQ(R(Input("m", "{\"allow_fallbacks\": false, \"sort\": \"throughput\"}")).size(), 1u);
  EXPECT_EQ(R(Input("m", "{\"allow_fallbacks\": true}")).size(), 3u);
}

TEST_F(RouterTest, AllowFallbacksFalseKeepsThePrimaryOfEachFallbackModel) {
  SetUpEnv(kNoRules, CatalogOf({Ep("a1", "a", "p", {{"input", "\"9\""}}), Ep("a2", "a", "q", {{"input", "\"5\""}}),
                                Ep("b1", "b", "p", {{"input", "\"1\""}}), Ep("b2", "b", "q", {{"input", "\"0\""}})}));
  EXPECT_EQ(R(Input("a", "{\"allow_fallbacks\": false}", "\"models\": [\"b\"]")), (Ids{"a2", "b2"}));
  EXPECT_EQ(R(Input("a", R"({"allow_fallbacks": false, "sort": {"by": "price", "partition": "none"}})",
                    "\"models\": [\"b\"]")),
            (Ids{"b2"}));
}

TEST_F(RouterTest, ToolsRequestPrefersEndpointsSupportingTools) {
  std::string tools = "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]";
  // m@fr does not list `tools`; m@us and m@de do. Cheapest first, except that
  // m@fr (now cheapest) goes after every endpoint that supports tools.
  const std::string cheap_fr = CatalogOf({
      Ep("m@us", "m", "cheapco", {{"input", "\"0.5\""}, {"output", "\"1\""}}),
      Ep("m@de", "m", "eurocloud/frankfurt", {{"input", "\"1\""}, {"output", "\"2\""}}),
      Ep("m@fr", "m", "frenchai",
         {{"input", "\"0\""}, {"output", "\"0\""}, {"supported_parameters", "[\"max_tokens\"]"}}),
  });
  SetUpEnv(kNoRules, cheap_fr);
  EXPECT_EQ(R(Input("m")), (Ids{"m@fr", "m@us", "m@de"}));
  EXPECT_EQ(R(Input("m", "", tools)), (Ids{"m@us", "m@de", "m@fr"}));
  EXPECT_TRUE(env.result.eliminated.empty());  // preferred, never dropped
  // Even above the request's `order`.
  EXPECT_EQ(R(Input("m", "{\"order\": [\"frenchai\"]}", tools)), (Ids{"m@us", "m@de", "m@fr"}));
}

TEST_F(RouterTest, RequireParameters) {
  SetUpEnv(kNoRules, Basic());
  std::string tools = "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]";
  EXPECT_EQ(R(Input("m", "{\"require_parameters\": true}", tools)), (Ids{"m@us", "m@de"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "pref_require_parameters");
  ASSERT_EQ(env.result.eliminated.size(), 1u);
  EXPECT_EQ(runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, env.result.eliminated[0]),
            "does not support `tools` (not in endpoint.parameters)");
  EXPECT_EQ(R(Input("m", "{\"require_parameters\": false}", tools)).size(), 3u);
}

TEST_F(RouterTest, DataCollectionDeny) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"data_collection\": \"deny\"}")), (Ids{"m@de", "m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_data_collection");
  EXPECT_EQ(R(Input("m", "{\"data_collection\": \"allow\"}")).size(), 3u);
}

TEST_F(RouterTest, Zdr) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"zdr\": true}")), (Ids{"m@de"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "pref_zdr");
}

TEST_F(RouterTest, Quantizations) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"quantizations\": [\"fp8\"]}")), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_quantization");
}

TEST_F(RouterTest, MaxPriceIsAHardFilter) {
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(R(Input("m", "{\"max_price\": {\"prompt\": 1}}")), (Ids{"m@us", "m@de"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "pref_max_price");
  EXPECT_EQ(R(Input("m", "{\"max_price\": {\"completion\": 1.5}}")), (Ids{"m@us"}));
  EXPECT_EQ(R(Input("m", "{\"max_price\": {\"request\": 0}}")).size(), 3u);
  const auto& el = env.result.eliminated;
  EXPECT_TRUE(el.empty());
}

TEST_F(RouterTest, MaxTokensAndContext) {
  SetUpEnv(kNoRules, CatalogOf({Ep("short", "m", "p", {{"max_output_tokens", "1000"}}),
                                Ep("tight", "m", "q", {{"context_length", "4096"}, {"max_output_tokens", "4096"}}),
                                Ep("roomy", "m", "r")}));
  EXPECT_EQ(R(Input("m", "", "\"max_tokens\": 4096")), (Ids{"roomy"}));
  EXPECT_EQ(env.CodeOf("short"), "max_tokens_exceeded");
  EXPECT_EQ(env.CodeOf("tight"), "context_too_small");
}

TEST_F(RouterTest, SortWords) {
  SetUpEnv(kNoRules, CatalogOf({Ep("a", "m", "p1", {{"input", "\"1\""}, {"latency", "3"}, {"throughput", "10"}}),
                                Ep("b", "m", "p2", {{"input", "\"2\""}, {"latency", "1"}, {"throughput", "30"}}),
                                Ep("c", "m", "p3", {{"input", "\"3\""}, {"latency", "2"}, {"throughput", "90"}})}));
  EXPECT_EQ(R(Input("m", "{\"sort\": \"price\"}")), (Ids{"a", "b", "c"}));
  EXPECT_EQ(R(Input("m", "{\"sort\": \"latency\"}")), (Ids{"b", "c", "a"}));
  EXPECT_EQ(R(Input("m", "{\"sort\": \"throughput\"}")), (Ids{"c", "b", "a"}));
  EXPECT_EQ(R(Input("m", "{\"sort\": {\"by\": \"latency\"}}")), (Ids{"b", "c", "a"}));
}

TEST_F(RouterTest, LowUptimeMovesDownOnlyWithoutSort) {
  SetUpEnv(kNoRules, CatalogOf({Ep("flaky", "m", "p1", {{"input", "\"0\""}, {"uptime", "0.90"}}),
                                Ep("solid", "m", "p2", {{"input", "\"5\""}, {"uptime", "0.999"}})}));
  EXPECT_EQ(R(Input("m")), (Ids{"solid", "flaky"}));
  EXPECT_EQ(R(Input("m", "{\"sort\": \"price\"}")), (Ids{"flaky", "solid"}));
}

TEST_F(RouterTest, PreferredLatencyAndThroughputReorderNeverExclude) {
  SetUpEnv(kNoRules, CatalogOf({Ep("slow", "m", "p1", {{"input", "\"0\""}, {"latency", "5"}, {"throughput", "5"}}),
                                Ep("fast", "m", "p2", {{"input", "\"9\""}, {"latency", "0.2"}, {"throughput", "200"}})}));
  EXPECT_EQ(R(Input("m", "{\"preferred_max_latency\": 1}")), (Ids{"fast", "slow"}));
  EXPECT_EQ(R(Input("m", "{\"preferred_min_throughput\": {\"p50\": 100}}")), (Ids{"fast", "slow"}));
  EXPECT_TRUE(env.result.eliminated.empty());
  EXPECT_EQ(R(Input("m", "{\"preferred_max_latency\": 10}")), (Ids{"slow", "fast"}));
}

TEST_F(RouterTest, ByokFirstWhateverTheOrder) {
  SetUpEnv(kNoRules, CatalogOf({Ep("shared", "m", "p1", {{"input", "\"0\""}}),
                                Ep("mine", "m", "p2", {{"input", "\"9\""}, {"byok", "true"}})}));
  EXPECT_EQ(R(Input("m", "{\"order\": [\"p1\"]}")), (Ids{"mine", "shared"}));
}

TEST_F(RouterTest, ServiceTiersNeedNitroOrFloor) {
  SetUpEnv(kNoRules, CatalogOf({Ep("std", "m", "oa", {{"throughput", "50"}}),
                                Ep("prio", "m", "oa/priority", {{"tier", "\"priority\""}, {"input", "\"5\""}, {"throughput", "150"}}),
                                Ep("flex", "m", "oa/flex", {{"tier", "\"flex\""}, {"input", "\"0.1\""}, {"throughput", "5"}})}));
  EXPECT_EQ(R(Input("m")), (Ids{"std"}));
  EXPECT_EQ(env.CodeOf("prio"), "tier_not_selected");
  EXPECT_EQ(R(Input("m:nitro")), (Ids{"prio", "std"}));
  EXPECT_EQ(R(Input("m:floor")), (Ids{"flex", "std"}));
  // A base slug does not reach tier endpoints; the exact slug does.
  EXPECT_EQ(R(Input("m", "{\"only\": [\"oa\"]}")), (Ids{"std"}));
  EXPECT_EQ(R(Input("m", "{\"only\": [\"oa/priority\"]}")), (Ids{"prio"}));
  EXPECT_EQ(R(Input("m", "{\"only\": [\"OA/Priority\"]}")), (Ids{"prio"}));  // any case
}

// A request's `service_tier` (OpenAI's) routes to that tier's endpoints only:
// the upstream is asked for the endpoint's tier (catalog upstream.body), so
// the price charged is the tier asked for. `auto` (or none) keeps the
// suffix rules; an unknown or unpriced tier is an invalid preference.
TEST_F(RouterTest, RequestedServiceTierRoutesToThatTierOnly) {
  SetUpEnv(kNoRules, CatalogOf({Ep("std", "m", "oa", {{"throughput", "50"}}),
                                Ep("prio", "m", "oa/priority", {{"tier", "\"priority\""}, {"input", "\"5\""}, {"throughput", "150"}}),
                                Ep("flex", "m", "oa/flex", {{"tier", "\"flex\""}, {"input", "\"0.1\""}, {"throughput", "5"}})}));
  EXPECT_EQ(R(Input("m", "", "\"service_tier\": \"flex\"")), (Ids{"flex"}));
  EXPECT_EQ(env.CodeOf("std"), "tier_not_selected");
  EXPECT_EQ(env.CodeOf("prio"), "tier_not_selected");
  for (const auto& el : env.result.eliminated) {
    EXPECT_EQ(el.field, "service_tier");
    EXPECT_NE(runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, el, &env.request)
                  .find("is not the `service_tier` asked for"),
              std::string::npos);
  }
  EXPECT_EQ(R(Input("m", "", "\"service_tier\": \"priority\"")), (Ids{"prio"}));
  // `default` is the standard tier, whatever the suffix or the order says.
  EXPECT_EQ(R(Input("m:floor", "", "\"service_tier\": \"default\"")), (Ids{"std"}));
  EXPECT_EQ(R(Input("m", "{\"order\": [\"oa/flex\"]}", "\"service_tier\": \"default\"")), (Ids{"std"}));
  // The tier asked for is not offered: nothing left (404), no standard fallback.
  EXPECT_TRUE(R(Input("m:nitro", "{\"only\": [\"oa\"]}", "\"service_tier\": \"priority\"")).empty());
  EXPECT_EQ(env.result.status, 404);
  // auto, null and none: the suffix rules.
  EXPECT_EQ(R(Input("m", "", "\"service_tier\": \"auto\"")), (Ids{"std"}));
  EXPECT_EQ(R(Input("m:floor", "", "\"service_tier\": null")), (Ids{"flex", "std"}));
  for (const char* bad : {"scale", "turbo", "", "FLEX"}) {
    EXPECT_TRUE(R(Input("m", "", std::string("\"service_tier\": \"") + bad + "\"")).empty()) << bad;
    EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kInvalidPreference) << bad;
    EXPECT_EQ(env.result.status, 400);
    EXPECT_EQ(env.result.code, "route_invalid_preference");
    EXPECT_NE(env.result.reason.find("`service_tier` must be"), std::string::npos) << env.result.reason;
  }
  EXPECT_NE(env.result.reason.find("got `FLEX`"), std::string::npos) << env.result.reason;
}

// --- invalid preference values ---

TEST_F(RouterTest, InvalidPreferenceValuesAre400) {
  SetUpEnv(kNoRules, Basic());
  for (const char* prefs : {"{\"sort\": \"cheapest\"}", "{\"data_collection\": \"never\"}",
                            "{\"quantizations\": [\"fp3\"]}", "{\"max_price\": {\"prompt\": -1}}"}) {
    EXPECT_TRUE(R(Input("m", prefs)).empty()) << prefs;
    EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kInvalidPreference) << prefs;
    EXPECT_EQ(env.result.status, 400);
    EXPECT_EQ(env.result.code, "route_invalid_preference");
    EXPECT_FALSE(env.result.reason.empty());
  }
  EXPECT_NE(env.result.reason.find("max_price.prompt"), std::string::npos);
}

// --- combined with policy requires and route hints ---

TEST_F(RouterTest, PolicyRequireBeforePreferencesInExplanation) {
  SetUpEnv("policy \"p\"\nrule zdr_only { require provider.zdr }\n", Basic());
  EXPECT_EQ(R(Input("m", "{\"ignore\": [\"eurocloud\"]}")), Ids{});
  EXPECT_EQ(env.Eliminated(), (Ids{"m@us:policy_require", "m@de:pref_ignore", "m@fr:policy_require"}));
  EXPECT_EQ(env.result.status, 403);
}

TEST_F(RouterTest, PolicyAndRequestFiltersBothApply) {
  SetUpEnv("policy \"p\"\nrule no_train { require not provider.trains_on_data and provider.data_collection == \"deny\" }\n",
           Basic());
  EXPECT_EQ(R(Input("m", "{\"quantizations\": [\"unknown\"]}")), (Ids{"m@de"}));
  EXPECT_EQ(env.Eliminated(), (Ids{"m@us:policy_require", "m@fr:pref_quantization"}));
}

TEST_F(RouterTest, PolicyRouteMaxPriceIsStricterThanRequest) {
  SetUpEnv("policy \"p\"\nrule cheap { route max_price prompt 0.75 usd }\n", Basic());
  EXPECT_EQ(R(Input("m", "{\"max_price\": {\"prompt\": 100}}")), (Ids{"m@us"}));
  EXPECT_EQ(env.CodeOf("m@de"), "route_max_price");
  EXPECT_EQ(env.result.eliminated[0].rule, 0u);
}

TEST_F(RouterTest, PolicyRouteMaxRequestCost) {
  SetUpEnv("policy \"p\"\nrule cap { route max_price 0.005 usd }\n", Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@us"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "route_max_price");
}

// Each cap elimination names the rule whose cap eliminated it (the one
// that set the lowest value), not the first rule with route hints; a policy
// cap eliminating everything is the policy's decision: 403.
TEST_F(RouterTest, PolicyCapEliminationNamesTheCappingRule) {
  SetUpEnv("policy \"p\"\nrule sorter { route sort latency }\n"
           "rule loose { route max_price prompt 50 usd }\n"
           "rule capper { route max_price prompt 0.75 usd }\n"
           "rule capper2 { route max_price prompt 0.75 usd route max_price 0.0001 usd }\n",
           Basic());
  EXPECT_TRUE(R(Input("m")).empty());
  ASSERT_EQ(env.result.eliminated.size(), 3u);
  const auto& rules = env.policy->program().rules();
  for (const auto& e : env.result.eliminated) {
    const std::string id = env.catalog.endpoint(e.endpoint).id;
    EXPECT_EQ(runtime::ElimCodeName(e.code), std::string("route_max_price")) << id;
    ASSERT_LT(e.rule, rules.size()) << id;
    // m@us passes the prompt cap (0.5 usd) and fails capper2's cost cap;
    // the others fail the prompt cap, whose lowest value capper set first.
    EXPECT_EQ(rules[e.rule].name, id == "m@us" ? "capper2" : "capper") << id;
  }
  EXPECT_EQ(env.result.status, 403);
  runtime::ApplyRoute(env.result, &env.decision);
  EXPECT_EQ(env.decision.status, 403);
  EXPECT_EQ(env.decision.code, "route_no_eligible_endpoint");
  EXPECT_NE(env.result.reason.find("2 by rule `capper` `route.max_price.prompt` (route_max_price)"),
            std::string::npos) << env.result.reason;
  EXPECT_NE(env.result.reason.find("1 by rule `capper2` `route.max_price` (route_max_price)"),
            std::string::npos) << env.result.reason;
  const std::string json =
      runtime::EliminatedJson(env.catalog, env.policy->program(), env.result, false, &env.request);
  EXPECT_EQ(json.find("\"rule\":\"sorter\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"rule\":\"capper2\""), std::string::npos) << json;
  // A cap that leaves something: the survivors route (200), eliminated ones
  // still name their rule.
  SetUpEnv("policy \"p\"\nrule sorter { route sort latency }\nrule capper2 { route max_price prompt 0.75 usd }\n",
           Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@us"}));
  EXPECT_EQ(env.result.status, 200);
  ASSERT_EQ(env.result.eliminated.size(), 2u);
  EXPECT_EQ(env.policy->program().rules()[env.result.eliminated[0].rule].name, "capper2");
}

// request.n asks for n completions, each billed: the estimated cost counts
// max_tokens (else the endpoint's max output) x n completion tokens.
TEST_F(RouterTest, EstimatedCostCountsEveryCompletion) {
  SetUpEnv(kNoRules, CatalogOf({Ep("e", "m", "p", {{"input", "\"0\""}, {"output", "\"10\""},
                                                   {"per_request", "\"0.001\""},
                                                   {"max_output_tokens", "2000"}})}));
  auto cost = [&](const std::string& extra) {
    R(Input("m", "", extra));
    EXPECT_EQ(env.result.endpoints.size(), 1u) << extra;
    return env.result.endpoints.empty() ? int64_t{-1} : env.result.endpoints[0].estimated_cost;
  };
  // 1000 tok x 10 usd/Mtok per completion + 0.001 usd per request (once).
  EXPECT_EQ(cost("\"max_tokens\": 1000"), 10000 + 1000);
  EXPECT_EQ(cost("\"max_tokens\": 1000, \"n\": 1"), 10000 + 1000);
  EXPECT_EQ(cost("\"max_tokens\": 1000, \"n\": 3"), 3 * 10000 + 1000);
  // Without max_tokens each completion may use the endpoint's max output.
  EXPECT_EQ(cost("\"n\": 2"), 2 * 20000 + 1000);
  // max_tokens x n beyond int64 saturates: the cost is the largest amount,
  // which no cap or budget admits (fails closed).
  EXPECT_EQ(cost("\"max_tokens\": 1000, \"n\": 9223372036854775807"), INT64_MAX);
}

TEST_F(RouterTest, RouteMaxPriceCountsEveryCompletion) {
  // cheapco with 4096 output tokens per completion: 0.004096 usd (+ input).
  SetUpEnv("policy \"p\"\nrule cap { route max_price 0.005 usd }\n", Basic());
  EXPECT_EQ(R(Input("m", "", "\"n\": 1")), (Ids{"m@us"}));
  EXPECT_TRUE(R(Input("m", "", "\"n\": 3")).empty());
  EXPECT_EQ(env.CodeOf("m@us"), "route_max_price");
  for (const auto& e : env.result.eliminated) {
    if (env.catalog.endpoint(e.endpoint).id != "m@us") continue;
    EXPECT_EQ(runtime::WorstCaseCompletionTokens(-1, 3, env.catalog.endpoint(e.endpoint)), 3 * 4096);
    EXPECT_GT(e.value, 3 * 4096);  // 3 x 4096 tok x 1 usd/Mtok + input
    EXPECT_LT(e.value, 3 * 4096 + 100);
    const std::string d =
        runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, e, &env.request);
    // 3 x 4096 tok x 1 usd/Mtok + the input estimate at 0.5 usd/Mtok.
    EXPECT_EQ(d, "endpoint.estimated_cost 0.012289 usd > max 0.005 usd (3 completions)");
  }
  // A policy require on endpoint.estimated_cost sees the same figure.
  SetUpEnv("policy \"c\"\nrule cap { require endpoint.estimated_cost <= 0.005 usd }\n", Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@us"}));
  EXPECT_TRUE(R(Input("m", "", "\"n\": 2")).empty());
  EXPECT_EQ(env.CodeOf("m@us"), "policy_require");
  // The request's own route cap (provider.max_price.request is per-request
  // price, not cost) is unaffected; a policy can bound n itself.
  SetUpEnv("policy \"n\"\nrule few { when request.n > 4 deny 400 \"at most 4 completions\" }\n", Basic());
  EXPECT_EQ(R(Input("m", "", "\"n\": 4")).size(), 3u);
  EXPECT_TRUE(R(Input("m", "", "\"n\": 5")).empty());
  EXPECT_EQ(env.decision.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(env.decision.status, 400);
}

// A record built without the decoder (n = 0) is refused, not costed at zero.
TEST_F(RouterTest, CompletionCountBelowOneIsAnInvalidPreference) {
  SetUpEnv(kNoRules, Basic());
  R(Input("m"));
  const stdlib::Schema& schema = env.policy->schema();
  env.request.slots[schema.field(schema.Find("request.n")).slot] = Value::Int(0);
  std::string err;
  auto router = runtime::Router::Create(*env.policy, env.catalog, nullptr, {}, &err);
  ASSERT_TRUE(router) << err;
  router->Route(env.decision, env.request, &env.result);
  EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kInvalidPreference);
  EXPECT_EQ(env.result.status, 400);
  EXPECT_EQ(env.result.reason, "`n` (the number of completions) must be at least 1, got 0");
}

TEST_F(RouterTest, PolicySortWinsOverRequestSort) {
  SetUpEnv("policy \"p\"\nrule fast { route sort latency }\n",
           CatalogOf({Ep("a", "m", "p1", {{"input", "\"1\""}, {"latency", "3"}}),
                      Ep("b", "m", "p2", {{"input", "\"2\""}, {"latency", "1"}})}));
  EXPECT_EQ(R(Input("m", "{\"sort\": \"price\"}")), (Ids{"b", "a"}));
}

TEST_F(RouterTest, PolicyOrderHint) {
  SetUpEnv("policy \"p\"\nrule ord { route order [\"frenchai\"] }\n", Basic());
  EXPECT_EQ(R(Input("m")), (Ids{"m@fr", "m@us", "m@de"}));
}

TEST_F(RouterTest, DeniedDecisionIsNotRouted) {
  SetUpEnv("policy \"p\"\nrule no { deny 451 \"nope\" }\n", Basic());
  EXPECT_TRUE(R(Input("m")).empty());
  EXPECT_EQ(env.result.outcome, runtime::RouteResult::Outcome::kNotRouted);
  EXPECT_EQ(env.result.status, 451);
}

TEST_F(RouterTest, ExplanationJson) {
  SetUpEnv("policy \"p\"\nrule zdr_only { require provider.zdr }\n", Basic());
  R(Input("m", "{\"max_price\": {\"prompt\": 0.9}}"));
  std::string ep = runtime::EndpointsJson(env.catalog, env.result);
  EXPECT_EQ(ep, "[]");
  std::string el = runtime::EliminatedJson(env.catalog, env.policy->program(), env.result);
  EXPECT_NE(el.find("{\"id\":\"m@us\",\"provider\":\"cheapco\",\"model\":\"m\",\"code\":\"policy_require\","
                    "\"source\":\"policy\",\"rule\":\"zdr_only\",\"detail\":\"provider.zdr -- provider.zdr = false\","
                    "\"values\":{\"provider.zdr\":false}}"),
            std::string::npos) << el;
  EXPECT_NE(el.find("\"code\":\"pref_max_price\",\"source\":\"request\",\"field\":\"provider.max_price.prompt\","
                    "\"detail\":\"endpoint.price_input 1 usd > max 0.9 usd\""),
            std::string::npos) << el;
}

// Every elimination says which values were compared.
TEST_F(RouterTest, EliminationsShowTheValuesCompared) {
  SetUpEnv("policy \"p\"\nconst eu = {\"DE\", \"FR\"}\n"
           "rule eu { require provider.jurisdiction in eu and endpoint.estimated_cost < 1 usd }\n",
           Basic());
  R(Input("m", "", "\"max_tokens\": 10"));
  ASSERT_EQ(env.Eliminated(), (Ids{"m@us:policy_require"}));
  const auto& el = env.result.eliminated[0];
  EXPECT_EQ(runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, el),
            "provider.jurisdiction in eu and endpoint.estimated_cost < 1 usd -- "
            "provider.jurisdiction = \"US\", endpoint.estimated_cost = \"0.000011\"");
  auto detail = [&](const std::string& input, const std::string& id) {
    R(input);
    for (const auto& e : env.result.eliminated)
      if (env.catalog.endpoint(e.endpoint).id == id)
        return runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, e);
    return std::string("(not eliminated)");
  };
  SetUpEnv(kNoRules, Basic());
  EXPECT_EQ(detail(Input("m", "{\"zdr\": true}"), "m@us"), "provider.zdr = false");
  EXPECT_EQ(detail(Input("m", "{\"data_collection\": \"deny\"}"), "m@us"),
            "provider.data_collection = \"allow\"");
  EXPECT_EQ(detail(Input("m", "{\"quantizations\": [\"bf16\"]}"), "m@fr"),
            "endpoint.quantization = \"fp8\" is not allowed");
  EXPECT_EQ(detail(Input("m", "{\"max_price\": {\"completion\": 2}}"), "m@fr"),
            "endpoint.price_output 6 usd > max 2 usd");
  EXPECT_EQ(detail(Input("m", "", "\"max_tokens\": 5000"), "m@us"),
            "max_tokens 5000 > endpoint.max_output_tokens 4096");
  EXPECT_EQ(detail(Input("m", "{\"only\": [\"frenchai\"]}"), "m@us"),
            "provider `cheapco` is not in `provider.only`");
  SetUpEnv("policy \"p\"\nrule cap { route max_price 0.005 usd }\n", Basic());
  EXPECT_EQ(detail(Input("m"), "m@fr"), "endpoint.estimated_cost 0.024582 usd > max 0.005 usd");
}

// Given the routed request, a require's request fields are shown too (after
// the candidate fields, each group in schema slot order); message text only
// as its length.
TEST_F(RouterTest, EliminationsShowTheRequestValuesCompared) {
  SetUpEnv("policy \"p\"\nrule ctx { require endpoint.context_length >= (request.max_tokens ?? 0) * 100 "
           "and not (request.content contains \"zzz\") }\n",
           Basic());
  R(Input("m", "", "\"max_tokens\": 2000"));
  ASSERT_EQ(env.result.eliminated.size(), 3u);
  const auto& el = env.result.eliminated[0];
  EXPECT_EQ(runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, el, &env.request),
            "endpoint.context_length >= (request.max_tokens ?? 0) * 100 and not (request.content contains "
            "\"zzz\") -- endpoint.context_length = 100000, request.content = {\"length\":5}, "
            "request.max_tokens = 2000");
  std::string json = runtime::EliminatedJson(env.catalog, env.policy->program(), env.result, false,
                                             &env.request);
  EXPECT_NE(json.find("\"values\":{\"endpoint.context_length\":100000,\"request.content\":{\"length\":5},"
                      "\"request.max_tokens\":2000}"),
            std::string::npos) << json;
}

}  // namespace
}  // namespace tollgate::testing

namespace tollgate::testing {
namespace {

TEST(RouterShadow, ShadowRequiresAreReportedNeverEnforced) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup("policy \"s\"\nrule try_zdr mode shadow { require provider.zdr }\n", Basic()))
      << env.error;
  EXPECT_EQ(env.Route(Input("m")), (std::vector<std::string>{"m@us", "m@de", "m@fr"}));
  EXPECT_TRUE(env.result.eliminated.empty());
  ASSERT_EQ(env.result.shadow_eliminated.size(), 2u);
  EXPECT_EQ(env.catalog.endpoint(env.result.shadow_eliminated[0].endpoint).id, "m@us");
  EXPECT_EQ(env.result.shadow_eliminated[0].source, "shadow");
  EXPECT_EQ(env.result.shadow_eliminated[0].field, "try_zdr");
  std::string json = runtime::EliminatedJson(env.catalog, env.policy->program(), env.result, true);
  EXPECT_NE(json.find("\"source\":\"shadow\",\"rule\":\"try_zdr\""), std::string::npos) << json;
}

}  // namespace
}  // namespace tollgate::testing
