// The require cache (request-independent predicates precomputed per policy and
// catalog) gives exactly the result of evaluating every predicate per request.
#include <algorithm>
#include <gtest/gtest.h>

#include "runtime/router/catalog.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

const char* kPolicy = R"(policy "mixed"
const eu = {"DE", "FR", "IE", "NL", "SE", "FI", "BE"}
const banned = {"cheapcloud", "deepseek"}
rule residency { when exists(principal.jurisdiction) and principal.jurisdiction in eu require provider.jurisdiction in eu or provider.zdr }
rule no_training { require not provider.trains_on_data }
rule banned_providers { require not (provider.name in banned) }
rule cost_cap { require endpoint.estimated_cost <= 0.05 usd }
rule ctx { require endpoint.context_length >= request.input_tokens }
rule health { require endpoint.uptime >= 0.96 }
rule tools { when request.tools has "search" require endpoint.parameters has "tools" }
rule quantified { require all m in request.messages: m.role != "tool" or endpoint.parameters has "tools" }
)";

std::string ReadExample() {
  FILE* f = std::fopen("policies/catalog.json", "rb");
  std::string s;
  if (!f) return s;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

std::string Dump(const RouteEnv& env) {
  std::string s = std::string(env.result.code) + " " + std::to_string(env.result.status) + " |";
  for (const auto& e : env.result.endpoints) {
    s += " " + env.catalog.endpoint(e.endpoint).id + "=" + std::to_string(e.estimated_cost);
  }
  s += " |";
  for (const auto& e : env.result.eliminated) {
    s += " " + env.catalog.endpoint(e.endpoint).id + ":" + runtime::ElimCodeName(e.code) + ":" +
         std::string(e.field) + ":" +
         runtime::EliminationDetail(env.catalog, env.policy->program(), env.result, e);
  }
  return s + " | " + env.result.reason;
}

TEST(RequireCache, SameResultAsUncachedOverTheExampleCatalog) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup(kPolicy, ReadExample())) << env.error;
  std::string err;
  auto router = runtime::Router::Create(*env.policy, env.catalog, nullptr, {}, &err);
  ASSERT_TRUE(router) << err;
  // residency, no_training, banned_providers, health, tools read only candidate fields;
  // cost_cap (estimated cost), ctx (request.input_tokens) and quantified
  // (request.messages) run per request.
  EXPECT_EQ(router->cached_require_count(), 5u);
  const char* models[] = {"openai/gpt-4o", "anthropic/claude-3.5-sonnet", "meta-llama/llama-3.1-8b-instruct",
                          "deepseek/deepseek-chat", "qwen/qwen-2.5-72b-instruct", "google/gemini-1.5-pro"};
  const char* prefs[] = {"", "{\"zdr\": true}", "{\"sort\": \"latency\"}", "{\"only\": [\"google-vertex\"]}",
                         "{\"data_collection\": \"deny\", \"order\": [\"together\"]}"};
  const char* extras[] = {"\"max_tokens\": 100", "\"max_tokens\": 8000",
                          "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"search\"}}]"};
  const char* jurisdictions[] = {"DE", "US"};
  int compared = 0;
  for (const char* m : models) {
    for (const char* p : prefs) {
      for (const char* x : extras) {
        for (const char* j : jurisdictions) {
          std::string in = Input(m, p, x);
          in.replace(in.find("\"workspace\""), 0, std::string("\"jurisdiction\": \"") + j + "\", ");
          env.Route(in, true);
          ASSERT_TRUE(env.error.empty()) << env.error;
          std::string cached = Dump(env);
          env.Route(in, false);
          EXPECT_EQ(cached, Dump(env)) << in;
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 180);
}

TEST(RequireCache, QuantifiedRequireReadsTheRequest) {
  RouteEnv env;
  const char* policy = "policy \"q\"\nrule quantified { require all m in request.messages: "
                       "m.role != \"tool\" or endpoint.parameters has \"tools\" }\n";
  ASSERT_TRUE(env.Setup(policy, CatalogOf({Ep("no_tools", "m", "p", {{"supported_parameters", "[]"}}),
                                            Ep("tools", "m", "q")})))
      << env.error;
  std::string tool_msg = "{\"principal\": {\"workspace\": \"w\"}, \"request\": {\"model\": \"m\", "
                         "\"max_tokens\": 10, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}, "
                         "{\"role\": \"tool\", \"content\": \"y\"}]}}";
  std::string err;
  auto router = runtime::Router::Create(*env.policy, env.catalog, nullptr, {}, &err);
  ASSERT_TRUE(router) << err;
  EXPECT_EQ(router->cached_require_count(), 0u);
  for (bool cached : {true, false}) {
    EXPECT_EQ(env.Route(Input("m", "", "\"max_tokens\": 10"), cached).size(), 2u)
        << env.error << ::testing::PrintToString(env.Eliminated()) << env.result.reason;
    EXPECT_EQ(env.Route(tool_msg, cached), std::vector<std::string>{"tools"}) << env.error;
  }
}

TEST(RequireCache, RequireErrorsFailClosedAndAreExplained) {
  RouteEnv env;
  // int / 0 errors at run time for every candidate with retention 0.
  ASSERT_TRUE(env.Setup("policy \"e\"\nrule div { require 10 / provider.retention_days > 0 }\n",
                        CatalogOf({Ep("a", "m", "p", {{"zdr", "true"}, {"retention_days", "0"},
                                                      {"data_collection", "\"deny\""}}),
                                   Ep("b", "m", "q")})))
      << env.error;
  for (bool cached : {true, false}) {
    EXPECT_EQ(env.Route(Input("m"), cached), std::vector<std::string>{"b"});
    ASSERT_EQ(env.result.eliminated.size(), 1u);
    std::string detail = runtime::EliminationDetail(env.catalog, env.policy->program(), env.result,
                                                    env.result.eliminated[0]);
    EXPECT_NE(detail.find("fails closed"), std::string::npos) << detail;
  }
}

// `on_error skip` on a rule with `require`: a candidate whose predicate
// errors is not eliminated by that rule (issue 6 item 2).
TEST(RequireCache, OnErrorSkipKeepsCandidatesWhosePredicateErrors) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup("policy \"e\"\nrule div on_error skip { require 10 / provider.retention_days > 0 }\n",
                        CatalogOf({Ep("a", "m", "p", {{"zdr", "true"}, {"retention_days", "0"},
                                                      {"data_collection", "\"deny\""}}),
                                   Ep("b", "m", "q")})))
      << env.error;
  for (bool cached : {true, false}) {
    std::vector<std::string> routed = env.Route(Input("m"), cached);
    std::sort(routed.begin(), routed.end());
    EXPECT_EQ(routed, (std::vector<std::string>{"a", "b"})) << "cached=" << cached;
    EXPECT_TRUE(env.result.eliminated.empty());
  }
}

}  // namespace
}  // namespace tollgate::testing
