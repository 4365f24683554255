// Every preference combined with policy requires: the endpoints routed with
// both are exactly those routed with each alone, and a policy require always
// takes effect whatever the request says.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

using Ids = std::vector<std::string>;

std::string Cat() {
  std::vector<std::string> eps;
  const char* countries[] = {"US", "DE", "FR", "JP", "SE"};
  const char* quants[] = {"fp8", "bf16", "unknown", "int4"};
  for (int i = 0; i < 20; ++i) {
    bool zdr = i % 3 == 0;
    bool trains = !zdr && i % 4 == 1;
    std::map<std::string, std::string> s = {
        {"input", "\"" + std::to_string(1 + i % 7) + "\""},
        {"output", "\"" + std::to_string(2 + i % 5) + "\""},
        {"jurisdiction", std::string("\"") + countries[i % 5] + "\""},
        {"zdr", zdr ? "true" : "false"},
        {"retention_days", zdr ? "0" : "30"},
        {"trains_on_data", trains ? "true" : "false"},
        {"data_collection", zdr || i % 2 ? "\"deny\"" : "\"allow\""},
        {"quantization", std::string("\"") + quants[i % 4] + "\""},
        {"latency", std::to_string(1 + i % 6)},
        {"supported_parameters", i % 2 ? "[\"max_tokens\"]" : "[\"max_tokens\", \"tools\"]"},
        {"max_output_tokens", i % 5 == 4 ? "1000" : "4096"}};
    if (trains) s["data_collection"] = "\"allow\"";
    eps.push_back(Ep("e" + std::to_string(100 + i), i % 4 == 3 ? "fallback" : "m",
                     "prov" + std::to_string(i % 8) + (i % 2 ? "/eu" : ""), s));
  }
  return CatalogOf(eps);
}

const char* kPolicies[] = {
    "policy \"p\"\nrule not_us { require provider.jurisdiction != \"US\" }\n",
    "policy \"p\"\nrule no_train { require not provider.trains_on_data }\n"
    "rule cheap { require endpoint.estimated_cost <= 0.02 usd }\n",
    "policy \"p\"\nrule quant { require endpoint.quantization != \"int4\" }\n"
    "rule fast { require endpoint.latency_p50 < 5 }\n",
};

const char* kPrefs[] = {
    "{\"only\": [\"prov1\", \"prov2\", \"prov4\"]}",
    "{\"ignore\": [\"prov3\", \"prov5\"]}",
    "{\"order\": [\"prov2\", \"prov6\"], \"allow_fallbacks\": false}",
    "{\"require_parameters\": true}",
    "{\"data_collection\": \"deny\"}",
    "{\"zdr\": true}",
    "{\"quantizations\": [\"fp8\", \"unknown\"]}",
    "{\"max_price\": {\"prompt\": 4, \"completion\": 5}}",
};
const char* kExtra = "\"models\": [\"fallback\"], \"max_tokens\": 2000, "
                     "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]";

TEST(Combined, PolicyAndPreferenceFiltersIntersect) {
  for (const char* policy : kPolicies) {
    RouteEnv with_policy, without;
    ASSERT_TRUE(with_policy.Setup(policy, Cat())) << with_policy.error;
    ASSERT_TRUE(without.Setup(kNoRules, Cat())) << without.error;
    Ids policy_only = with_policy.Route(Input("m", "", kExtra));
    ASSERT_FALSE(policy_only.empty());
    for (const char* pref : kPrefs) {
      Ids pref_only = without.Route(Input("m", pref, kExtra));
      Ids both = with_policy.Route(Input("m", pref, kExtra));
      std::set<std::string> a(policy_only.begin(), policy_only.end());
      Ids expect;
      for (const std::string& id : pref_only) if (a.count(id)) expect.push_back(id);
      EXPECT_EQ(both, expect) << policy << pref;
      // Every candidate is either routed or eliminated exactly once.
      size_t candidates = with_policy.result.endpoints.size() + with_policy.result.eliminated.size();
      EXPECT_EQ(candidates, 20u) << policy << pref;
      // A request can never bring back what the policy removed.
      for (const std::string& id : both) EXPECT_TRUE(a.count(id)) << id;
    }
  }
}

TEST(Combined, EveryEliminationHasAReason) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup(kPolicies[1], Cat())) << env.error;
  for (const char* pref : kPrefs) {
    env.Route(Input("m", pref, kExtra));
    for (const auto& el : env.result.eliminated) {
      std::string d = runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, el);
      EXPECT_FALSE(d.empty()) << runtime::ElimCodeName(el.code);
      EXPECT_FALSE(el.source.empty());
      if (el.code == runtime::ElimCode::kPolicyRequire) {
        EXPECT_TRUE(el.field == "no_train" || el.field == "cheap") << el.field;
      }
    }
  }
}

TEST(Combined, RoutingIsDeterministic) {
  RouteEnv a, b;
  ASSERT_TRUE(a.Setup(kPolicies[0], Cat()));
  ASSERT_TRUE(b.Setup(kPolicies[0], Cat()));
  for (const char* pref : kPrefs) {
    EXPECT_EQ(a.Route(Input("m", pref, kExtra)), b.Route(Input("m", pref, kExtra)));
    EXPECT_EQ(a.Eliminated(), b.Eliminated());
  }
}

}  // namespace
}  // namespace tollgate::testing
