// tg_fallback_unchecked (engine/check/names.cc), judged per rule: an
// enforced rule that denies, requires, redacts or caps the price by the
// requested model without reading the fallback models is bypassed by naming
// the model in `models` -- the router serves those too.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

const char* kEuRequire = R"(policy "p"
const eu = {"DE", "FR", "SE", "NL", "IE", "FI"}
rule gpt4o_stays_in_eu {
  when request.model == "openai/gpt-4o"
  require provider.jurisdiction in eu
}
)";

// A require chosen by the requested model leaves a fallback's endpoints
// unconstrained: `models: ["openai/gpt-4o"]` is served from the US.
TEST(Fallback, RequireByTheRequestedModelWarns) {
  auto c = CheckSource(kEuRequire);
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{"tg_fallback_unchecked"}) << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:4:8: warning[tg_fallback_unchecked]: rule `gpt4o_stays_in_eu` applies "
                   "its require by the requested model only, but the fallback models in "
                   "`request.models` are routed too"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: test `endpoint.model` -- the model actually served -- in the require "
                   "instead"),
            std::string::npos) << r;
  EXPECT_EQ(r.find("also test the fallbacks"), std::string::npos) << r;  // that is for a deny
}

// The same rule written over the model served needs no warning.
TEST(Fallback, RequireOnTheModelServedIsSilent) {
  auto c = CheckSource(R"(policy "p"
const eu = {"DE", "FR", "SE", "NL", "IE", "FI"}
rule gpt4o_stays_in_eu {
  require endpoint.model != "openai/gpt-4o" or provider.jurisdiction in eu
}
rule served_only { require endpoint.model_full != "openai/o1:online" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{}) << c.Render();
}

// Before, any denying rule that mentioned request.models silenced the
// warning for the whole policy, and a require was never judged.
TEST(Fallback, AnUnrelatedRuleOverTheFallbacksDoesNotSilenceIt) {
  for (const char* other : {
           "rule many { when length(request.models) > 8 deny 400 \"x\" }\n",
           "rule one { when any m in request.models: m == \"z/z\" deny 400 \"x\" }\n",
           "rule longer { when length(request.models) > 1 deny 400 \"x\" }\n",
       }) {
    auto c = CheckSource(std::string(kEuRequire) + other +
                         "rule ban { when request.model in {\"x/y\"} deny 403 \"banned\" }\n");
    EXPECT_TRUE(c.ok) << c.Render();
    EXPECT_EQ(c.Codes(), (V{"tg_fallback_unchecked", "tg_fallback_unchecked"})) << other << c.Render();
    std::string r = c.Render();
    EXPECT_NE(r.find("rule `gpt4o_stays_in_eu` applies its require"), std::string::npos) << r;
    EXPECT_NE(r.find("rule `ban` denies by the requested model only"), std::string::npos) << r;
  }
}

// A shadow rule enforces nothing: it neither silences the warning nor gets
// it. A rule shadowed only `when` some condition is enforced elsewhere.
TEST(Fallback, ShadowRules) {
  auto c = CheckSource(std::string(kEuRequire) +
                       "rule no_fallbacks mode shadow { when length(request.models) > 0 deny 400 \"x\" }\n"
                       "rule trial mode shadow { when request.model == \"a/b\" deny 403 \"x\" }\n"
                       "rule pilot mode shadow when principal.workspace == \"w\" {\n"
                       "  when request.model == \"c/d\" deny 403 \"x\"\n"
                       "}\n");
  EXPECT_TRUE(c.ok) << c.Render();
  std::string r = c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_fallback_unchecked", "tg_fallback_unchecked"})) << r;
  EXPECT_NE(r.find("rule `gpt4o_stays_in_eu`"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:10:8: warning[tg_fallback_unchecked]: rule `pilot` denies"),
            std::string::npos) << r;
  EXPECT_EQ(r.find("rule `trial`"), std::string::npos) << r;
}

// An enforced deny of every request with fallbacks covers every rule, in
// the plain forms only.
TEST(Fallback, ABlanketNoFallbacksDenySilencesIt) {
  for (const char* blanket : {
           "length(request.models) > 0", "length(request.models) >= 1",
           "length(request.models) != 0", "0 < length(request.models)",
           "request.models != []", "[] != request.models", "exists(request.models[0])",
           "length(request.models_full) > 0",
       }) {
    auto c = CheckSource(std::string(kEuRequire) + "rule no_fallbacks { when " + blanket +
                         " deny 400 \"fallback models are not supported\" }\n" +
                         "rule ban { when request.model in {\"x/y\"} deny 403 \"banned\" }\n");
    EXPECT_TRUE(c.ok) << blanket << c.Render();
    EXPECT_EQ(c.Codes(), V{}) << blanket << c.Render();
  }
  for (const char* not_blanket : {
           "length(request.models) > 1", "length(request.models) > 0 and principal.workspace == \"w\"",
           "request.models == []", "exists(request.models[1])",
       }) {
    auto c = CheckSource(std::string(kEuRequire) + "rule no_fallbacks { when " + not_blanket +
                         " deny 400 \"x\" }\n");
    EXPECT_TRUE(c.ok) << not_blanket << c.Render();
    EXPECT_EQ(c.Codes(), V{"tg_fallback_unchecked"}) << not_blanket << c.Render();
  }
}

// A rule that tests the fallbacks itself, or a deny's fallback twin (the
// same `when` with `any m in request.models` for the model conjunct, as the
// shipped policies write an allowlist), covers them; a near twin does not.
TEST(Fallback, TheRuleItselfOrItsTwinCoversTheFallbacks) {
  auto one = CheckSource(R"(policy "p"
const approved = {"a/b"}
rule allowlist {
  when request.model not in approved or (any m in request.models: m not in approved)
  deny 403 "model is not approved"
}
rule free { when request.model_variant == "free" or "free" in request.variants deny 402 "no" }
)");
  EXPECT_TRUE(one.ok) << one.Render();
  EXPECT_EQ(one.Codes(), V{}) << one.Render();

  const std::string twin_base = R"(policy "p"
data tenants from "tenants.json": map<{region?: string, models: list<string>}>
rule model_not_allowed {
  when principal.workspace in tenants
    and not (request.model in tenants[principal.workspace].models)
  deny 403 "model is not allowed"
}
)";
  auto twin = CheckSource(twin_base + R"(rule fallback_model_not_allowed {
  when principal.workspace in tenants
    and (any m in request.models: m not in tenants[principal.workspace].models)
  deny 403 "fallback model {m} is not allowed"
}
)");
  EXPECT_TRUE(twin.ok) << twin.Render();
  EXPECT_EQ(twin.Codes(), V{}) << twin.Render();
  auto shadow_twin = CheckSource(twin_base + R"(rule fallback_model_not_allowed mode shadow {
  when principal.workspace in tenants
    and (any m in request.models: m not in tenants[principal.workspace].models)
  deny 403 "fallback model {m} is not allowed"
}
)");
  EXPECT_EQ(shadow_twin.Codes(), V{"tg_fallback_unchecked"}) << shadow_twin.Render();
  {
    // another workspace field, another condition, a shadow twin: no twin
    for (const char* near : {
             "when principal.workspace in tenants\n"
             "    and (any m in request.models: m in tenants[principal.workspace].models)",
             "when principal.workspace in tenants and principal.user == \"u\"\n"
             "    and (any m in request.models: m not in tenants[principal.workspace].models)",
         }) {
      auto c = CheckSource(twin_base + "rule fb {\n  " + near + "\n  deny 403 \"x\"\n}\n");
      EXPECT_EQ(c.ErrorCodes(), V{}) << c.Render();
      EXPECT_EQ(Count(c.Render(), "warning[tg_fallback_unchecked]"), 1u) << near << c.Render();
    }
  }
}

// Redactions and price caps chosen by the requested model are bypassed the
// same way; sort and order hints and tags are preferences, not controls.
TEST(Fallback, RedactAndPriceCapsCountSortDoesNot) {
  auto c = CheckSource(R"(policy "p"
rule external_redacts { when request.model == "x/external" redact dlp.email as "[EMAIL]" }
rule o1_capped { when request.model == "openai/o1" route max_price 1.00 usd }
rule sorted { when request.model == "x/y" route sort price }
rule tagged { when request.model == "x/y" tag family = "y" }
rule warned { when request.model == "x/y" warn "old model" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  std::string r = c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_fallback_unchecked", "tg_fallback_unchecked"})) << r;
  EXPECT_NE(r.find("rule `external_redacts` redacts by the requested model only"), std::string::npos) << r;
  EXPECT_NE(r.find("rule `o1_capped` caps the price by the requested model only"), std::string::npos) << r;
}

// A budget or limit scoped by the requested model misses the traffic a
// fallback model serves: `models: ["openai/gpt-4o"]` is served by gpt-4o
// and never counted against a gpt-4o limit (review finding 1).
TEST(Fallback, BudgetsAndLimitsByTheRequestedModelWarn) {
  auto c = CheckSource(R"(policy "p"
budget gpt4o_daily {
  when request.model == "openai/gpt-4o"
  key principal.workspace
  per day
  limit 1 usd
}
limit gpt4o_rpm { when request.model == "openai/gpt-4o" key principal.workspace per minute max 1 requests }
budget per_model { key request.model per day limit 100 usd }
limit per_variant { key (principal.workspace, request.model_full) per minute max 5 requests }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_fallback_unchecked", "tg_fallback_unchecked", "tg_fallback_unchecked",
                          "tg_fallback_unchecked"}))
      << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:8: warning[tg_fallback_unchecked]: budget `gpt4o_daily` applies by "
                   "the requested model only, but the fallback models in `request.models` are "
                   "served too, and their traffic is not counted there"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: test the model actually served, `when endpoint.model == ...` (charged "
                   "to the endpoint that answers, fallbacks included)"),
            std::string::npos) << r;
  EXPECT_NE(r.find("limit `gpt4o_rpm` applies by the requested model only"), std::string::npos) << r;
  EXPECT_NE(r.find("budget `per_model` is keyed by the requested model only"), std::string::npos) << r;
  EXPECT_NE(r.find("help: key it by the model actually served, `key endpoint.model`"), std::string::npos) << r;
  EXPECT_NE(r.find("`key endpoint.model_full`"), std::string::npos) << r;  // per_variant
}

// Scoped by the model served, by the fallbacks too, or with fallbacks
// denied: no warning.
TEST(Fallback, BudgetsOnTheServedModelOrTheFallbacksAreSilent) {
  for (const char* decls : {
           "budget a { when endpoint.model == \"openai/gpt-4o\" key principal.workspace per day limit 1 usd }\n"
           "limit b { key (principal.workspace, endpoint.model_full) per minute max 1 requests }\n",
           "budget a { when request.model == \"openai/gpt-4o\" or \"openai/gpt-4o\" in request.models "
           "key principal.workspace per day limit 1 usd }\n",
           "limit b { when request.model == \"openai/gpt-4o\" key principal.workspace per minute max 1 requests }\n"
           "rule no_fallbacks { when length(request.models) > 0 deny 400 \"no fallbacks\" }\n",
       }) {
    auto c = CheckSource(std::string("policy \"p\"\n") + decls);
    EXPECT_TRUE(c.ok) << decls << c.Render();
    EXPECT_EQ(c.Codes(), V{}) << decls << c.Render();
  }
}

// A budget or limit charged per endpoint may read endpoint and provider
// fields in its `when` and key only; its counters are not known when the
// rules run, so no rule reads them.
TEST(Fallback, PerEndpointBudgetsScopeErrors) {
  auto limit = CheckSource(R"(policy "p"
budget a { key principal.workspace per day limit endpoint.price_input }
)");
  EXPECT_FALSE(limit.ok);
  EXPECT_EQ(limit.Codes(), V{"tg_scope_error"}) << limit.Render();
  EXPECT_NE(limit.Render().find("a budget limit may not read candidate field `endpoint.price_input`"),
            std::string::npos) << limit.Render();
  auto counters = CheckSource(R"(policy "p"
budget a { when endpoint.model == "openai/gpt-4o" key principal.workspace per day limit 1 usd }
limit b { key provider.name per minute max 5 requests }
rule low { when budget.a.remaining < 0.1 usd deny 402 "low" }
rule busy { when limit.b.used > 3 deny 429 "busy" }
)");
  EXPECT_FALSE(counters.ok);
  EXPECT_EQ(counters.Codes(), (V{"tg_scope_error", "tg_scope_error"})) << counters.Render();
  EXPECT_NE(counters.Render().find("the counters of budget `a` cannot be read: its `when` or key "
                                   "reads endpoint fields, so it is charged per endpoint, once the "
                                   "request is routed"),
            std::string::npos) << counters.Render();
  EXPECT_NE(counters.Render().find("the counters of limit `b` cannot be read"), std::string::npos)
      << counters.Render();
}


// A deny by the requested model's variant (`:nitro` costs more, `:free`
// trains on prompts) is bypassed by `models: ["m:nitro"]` too; the help names
// `request.variants` (the variants of `model` and every `models` entry), not
// a model allowlist, which would not express the rule.
TEST(Fallback, AVariantDenyIsToldToReadRequestVariants) {
  auto c = CheckSource(R"(policy "p"
rule nitro_needs_group {
  when request.model_variant == "nitro" and "latency-critical" not in principal.groups
  deny 403 "nitro requires the latency-critical group"
}
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{"tg_fallback_unchecked"}) << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("help: test `request.variants` -- every variant `model` and the `models` "
                   "entries name -- instead: `\"nitro\" in request.variants`"),
            std::string::npos) << r;
  EXPECT_EQ(r.find("not in approved"), std::string::npos) << r;
  // The rule written so passes.
  auto fixed = CheckSource(R"(policy "p"
rule nitro_needs_group {
  when "nitro" in request.variants and "latency-critical" not in principal.groups
  deny 403 "nitro requires the latency-critical group"
}
)");
  EXPECT_EQ(fixed.Codes(), V{}) << fixed.Render();
}


// OpenRouter's vocabulary has two ways to ask for a tier or a sort: the
// body's `service_tier` / `provider.sort`, and the model suffix (`:nitro`:
// priority endpoints, by throughput; `:floor`: flex endpoints, by price) or a
// tier slug in `order`/`only`. A deny by the first alone checked clean and
// `openai/gpt-4o:nitro` reached the priority tier it meant to forbid.
TEST(Fallback, TierAndSortDeniesTheVariantsBypassWarn) {
  auto c = CheckSource(R"(policy "p"
rule no_priority {
  when request.service_tier == "priority" and not ("latency-critical" in principal.groups)
  deny 403 "the priority tier is for latency-critical teams"
}
rule no_speed_sort {
  when (request.provider.sort ?? "") in {"throughput", "latency"}
  deny 403 "sorting by speed costs more"
}
rule no_flex_fine {
  when request.service_tier == "flex" or "floor" in request.variants
  deny 403 "no flex"
}
rule tier_served { require endpoint.tier != "priority" }
rule auto_fine { when (request.service_tier ?? "auto") == "auto" warn "auto" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_variant_bypass", "tg_variant_bypass"})) << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:8: warning[tg_variant_bypass]: rule `no_priority` denies by "
                   "`request.service_tier`, but a request reaches `priority` endpoints without "
                   "asking so: a `:nitro` model, or a `priority` slug in `provider.order` / `only`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: judge the endpoint served: `require endpoint.tier != \"priority\"`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:7:9: warning[tg_variant_bypass]: rule `no_speed_sort` denies by "
                   "`request.provider.sort`, but a `:nitro` model sorts by throughput without it"),
            std::string::npos) << r;
  EXPECT_NE(r.find("\"nitro\" in request.variants"), std::string::npos) << r;
}

}  // namespace
}  // namespace tollgate::checktest
