// Router: `:nitro` / `:floor` apply to their own model entry, not to the
// whole request (docs/routing.md, "Variants apply per entry").
#include <gtest/gtest.h>

#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

using Ids = std::vector<std::string>;

// Model m: three standard endpoints (cheapest `az`, fastest `fast`), one
// priority endpoint priced between them and one cheap, slow flex endpoint.
std::string Tiers() {
  auto price = [](const char* p) {
    return std::map<std::string, std::string>{{"input", std::string("\"") + p + "\""},
                                              {"output", std::string("\"") + p + "\""}};
  };
  auto with = [](std::map<std::string, std::string> m, const char* k, const char* v) {
    m[k] = v;
    return m;
  };
  return CatalogOf({
      Ep("oa", "m", "openai", with(price("2.5"), "throughput", "60")),
      Ep("az", "m", "azure", with(price("2"), "throughput", "40")),
      Ep("fast", "m", "fastco", with(price("5"), "throughput", "200")),
      Ep("prio", "m", "openai/priority",
         with(with(price("4"), "throughput", "150"), "tier", "\"priority\"")),
      Ep("flex", "m", "openai/flex", with(with(price("1"), "throughput", "10"), "tier", "\"flex\"")),
  });
}

// Model a: a cheap flex endpoint and two standard ones. Model b: a cheap but
// unhealthy endpoint (uptime 0.5), a dearer healthy one and a flex one.
std::string TwoModels() {
  return CatalogOf({
      Ep("a1", "a", "p1", {{"input", "\"1\""}, {"output", "\"1\""}}),
      Ep("a2", "a", "p2", {{"input", "\"3\""}, {"output", "\"3\""}}),
      Ep("aflex", "a", "p1/flex", {{"input", "\"0.5\""}, {"output", "\"0.5\""}, {"tier", "\"flex\""}}),
      Ep("b-cheap", "b", "p1", {{"input", "\"1\""}, {"output", "\"1\""}, {"uptime", "0.5"}}),
      Ep("b-dear", "b", "p2", {{"input", "\"9\""}, {"output", "\"9\""}}),
      Ep("bflex", "b", "p1/flex", {{"input", "\"0.5\""}, {"output", "\"0.5\""}, {"tier", "\"flex\""}}),
  });
}

std::string Models(const std::string& list) { return "\"models\": " + list; }

class VariantsTest : public ::testing::Test {
 protected:
  void SetUpEnv(const std::string& policy, const std::string& catalog,
                const std::string& accounts = "") {
    ASSERT_TRUE(env.Setup(policy, catalog, accounts)) << env.error;
  }
  // Routes with and without the require cache; both must agree.
  Ids R(const std::string& input) {
    Ids uncached = env.Route(input, false);
    EXPECT_TRUE(env.error.empty()) << env.error;
    Ids cached = env.Route(input, true);
    EXPECT_TRUE(env.error.empty()) << env.error;
    EXPECT_EQ(cached, uncached);
    return cached;
  }
  // The entry (as sent) each routed endpoint was routed for.
  Ids Entries() const {
    Ids out;
    for (const auto& e : env.result.endpoints) out.emplace_back(env.result.models.at(e.model));
    return out;
  }
  RouteEnv env;
};

// The issue's example: the plain model first, the :nitro variant only as a
// fallback. The plain partition is cheapest first and has no priority tier;
// the nitro partition adds the priority endpoint (the standard ones are
// already listed). Before: one flag for the request put `fast` and `prio` first.
TEST_F(VariantsTest, NitroFallbackDoesNotReorderThePlainPrimary) {
  SetUpEnv(kNoRules, Tiers());
  EXPECT_EQ(R(Input("m", "", Models("[\"m:nitro\"]"))), (Ids{"az", "oa", "fast", "prio"}));
  EXPECT_EQ(env.result.models, (std::vector<std::string_view>{"m", "m:nitro"}));
  EXPECT_EQ(Entries(), (Ids{"m", "m", "m", "m:nitro"}));
  // flex: no entry admits it; reported once.
  EXPECT_EQ(env.Eliminated(), (Ids{"flex:tier_not_selected"}));
  // The explanation says which entry the priority endpoint serves.
  const std::string json = runtime::EndpointsJson(env.catalog, env.result);
  EXPECT_NE(json.find(R"("id":"prio","provider":"openai/priority","model":"m","estimated_cost")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("requested":"m:nitro")"), std::string::npos) << json;
  EXPECT_EQ(json.find(R"("requested":"m")"), std::string::npos) << json;  // only for variants
}

TEST_F(VariantsTest, NitroPrimarySortsOnlyItsOwnPartition) {
  SetUpEnv(kNoRules, Tiers());
  // :nitro first: throughput over standard + priority; the plain fallback
  // adds nothing new (every endpoint it admits is already listed).
  EXPECT_EQ(R(Input("m:nitro", "", Models("[\"m\"]"))), (Ids{"fast", "prio", "oa", "az"}));
  EXPECT_EQ(Entries(), (Ids{"m:nitro", "m:nitro", "m:nitro", "m:nitro"}));
  EXPECT_EQ(env.Eliminated(), (Ids{"flex:tier_not_selected"}));
}

// `:floor` on the primary must neither price-sort nor admit flex for the
// fallback model b. Before: b's flex endpoint was routed and b's unhealthy
// cheap endpoint came first (price sort ignores health).
TEST_F(VariantsTest, FloorOnPrimaryOnly) {
  SetUpEnv(kNoRules, TwoModels());
  EXPECT_EQ(R(Input("a:floor", "", Models("[\"b\"]"))), (Ids{"aflex", "a1", "a2", "b-dear", "b-cheap"}));
  EXPECT_EQ(env.CodeOf("bflex"), "tier_not_selected");
  EXPECT_EQ(env.CodeOf("aflex"), "");
  // The request's own sort applies to every entry: b by price, unhealthy or not.
  EXPECT_EQ(R(Input("a:floor", R"({"sort": "price"})", Models("[\"b\"]"))),
            (Ids{"aflex", "a1", "a2", "b-cheap", "b-dear"}));
  EXPECT_EQ(env.CodeOf("bflex"), "tier_not_selected");
  // And the other way round: :floor on the fallback only.
  EXPECT_EQ(R(Input("b", "", Models("[\"a:floor\"]"))), (Ids{"b-dear", "b-cheap", "aflex", "a1", "a2"}));
  EXPECT_EQ(env.CodeOf("bflex"), "tier_not_selected");
}

// The same model under several variants: one partition per entry, in
// request order, every endpoint once (in the first entry that admits it).
TEST_F(VariantsTest, SameModelTwiceWithDifferentVariants) {
  SetUpEnv(kNoRules, Tiers());
  EXPECT_EQ(R(Input("m", "", Models("[\"m:nitro\", \"m:floor\", \"m\", \"m:nitro\"]"))),
            (Ids{"az", "oa", "fast", "prio", "flex"}));
  EXPECT_EQ(env.result.models, (std::vector<std::string_view>{"m", "m:nitro", "m:floor"}));
  EXPECT_EQ(Entries(), (Ids{"m", "m", "m", "m:nitro", "m:floor"}));
  EXPECT_TRUE(env.result.eliminated.empty());
  // :floor then :nitro: the floor partition price-sorts standard + flex,
  // then the nitro one adds the priority endpoint. Before: both flags for
  // the whole request, one throughput-sorted list.
  EXPECT_EQ(R(Input("m:floor", "", Models("[\"m:nitro\"]"))), (Ids{"flex", "az", "oa", "fast", "prio"}));
  EXPECT_EQ(Entries(), (Ids{"m:floor", "m:floor", "m:floor", "m:floor", "m:nitro"}));
}

// allow_fallbacks:false without an order keeps the primary endpoint of each
// entry: the cheapest plain one, then the fastest of what :nitro adds.
TEST_F(VariantsTest, PrimaryOnlyIsPerEntry) {
  SetUpEnv(kNoRules, Tiers());
  EXPECT_EQ(R(Input("m", R"({"allow_fallbacks": false})", Models("[\"m:nitro\"]"))),
            (Ids{"az", "prio"}));
}

// A tier endpoint named by its exact slug is eligible for every entry: it
// belongs to the first one.
TEST_F(VariantsTest, ExactTierSlugBelongsToTheFirstEntry) {
  SetUpEnv(kNoRules, Tiers());
  EXPECT_EQ(R(Input("m", R"({"order": ["openai/priority"]})", Models("[\"m:nitro\"]"))),
            (Ids{"prio", "az", "oa", "fast"}));
  EXPECT_EQ(Entries(), (Ids{"m", "m", "m", "m"}));
}

// partition `none`: one global order needs one metric. With no explicit sort
// it is the primary entry's (here: none, so estimated cost); tier admission
// stays per entry.
TEST_F(VariantsTest, PartitionNoneUsesThePrimarySort) {
  SetUpEnv(kNoRules, Tiers());
  EXPECT_EQ(R(Input("m", R"({"sort": {"partition": "none"}})", Models("[\"m:nitro\"]"))),
            (Ids{"az", "oa", "prio", "fast"}));
  EXPECT_EQ(R(Input("m:nitro", R"({"sort": {"partition": "none"}})", Models("[\"m\"]"))),
            (Ids{"fast", "prio", "oa", "az"}));
}

// A policy sees each endpoint once: a require against the priority tier
// eliminates it once, in the entry that admitted it.
TEST_F(VariantsTest, PolicyRequireSeesEachEndpointOnce) {
  SetUpEnv("policy \"p\"\nrule no_priority { require endpoint.tier != \"priority\" }\n", Tiers());
  EXPECT_EQ(R(Input("m", "", Models("[\"m:nitro\"]"))), (Ids{"az", "oa", "fast"}));
  // Model entries in request order, then catalog order: flex (entry `m`)
  // before prio (entry `m:nitro`).
  EXPECT_EQ(env.Eliminated(), (Ids{"flex:tier_not_selected", "prio:policy_require"}));
}

// A policy's `route order` replaces the request's `order` for ordering only:
// a tier endpoint the caller chose by its exact slug in `order` stays
// eligible. Before, the policy's order was the only one read for tier
// admission, so `prio` was dropped (tier_not_selected) and, with
// allow_fallbacks:false (which filters by the request's order), nothing was left.
TEST_F(VariantsTest, RequestOrderTierSlugSurvivesPolicyRouteOrder) {
  SetUpEnv("policy \"p\"\nrule prefer_azure { route order [\"azure\"] }\n", Tiers());
  EXPECT_EQ(R(Input("m", R"({"order": ["openai/priority"]})")), (Ids{"az", "oa", "prio", "fast"}));
  EXPECT_EQ(env.CodeOf("flex"), "tier_not_selected");
  EXPECT_EQ(R(Input("m", R"({"order": ["openai/priority"], "allow_fallbacks": false})")),
            (Ids{"prio"}));
  // The policy's order still admits a tier it names.
  SetUpEnv("policy \"p\"\nrule prefer_prio { route order [\"openai/priority\"] }\n", Tiers());
  EXPECT_EQ(R(Input("m")), (Ids{"prio", "az", "oa", "fast"}));
}

// Account sorts replace the request's sort and the variants' sorts alike
// (docs/routing.md, section 3), but tier admission stays per entry.
TEST_F(VariantsTest, AccountSortWithPerEntryVariants) {
  SetUpEnv(kNoRules, Tiers(),
           R"({"workspaces": {"cheap": {"sort": "price"}, "fast": {"sort": "throughput"}}})");
  // Before: the priority endpoint was admitted for the primary too and
  // price-sorted among the standard ones (az, oa, prio, fast).
  EXPECT_EQ(R(Input("m", "", Models("[\"m:nitro\"]"), "cheap")), (Ids{"az", "oa", "fast", "prio"}));
  EXPECT_EQ(Entries(), (Ids{"m", "m", "m", "m:nitro"}));
  // :nitro still admits priority under the account's price sort.
  EXPECT_EQ(R(Input("m:nitro", "", "", "cheap")), (Ids{"az", "oa", "prio", "fast"}));
  // The account's throughput sort applies to the plain entry as well; flex
  // only in the :floor partition.
  EXPECT_EQ(R(Input("m", "", Models("[\"m:floor\"]"), "fast")), (Ids{"fast", "oa", "az", "flex"}));
  EXPECT_EQ(env.CodeOf("prio"), "tier_not_selected");
}

}  // namespace
}  // namespace tollgate::testing
