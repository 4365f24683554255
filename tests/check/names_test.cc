// The `names` pass: a comparison of a field with a value it never holds
// (tg_name_never_matches), for every enumerated or shaped field of the
// schema (stdlib/field_values.h), for values read out of data documents by a
// run-time key, and the `tests` pass's check of candidate values.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

// Silences tg_fallback_unchecked for rules on the requested model.
constexpr const char* kNoFallbacks = "rule no_fallbacks { when length(request.models) > 0 deny 400 \"x\" }\n";

// The reviewer's cases: each checked clean, and each comparison is always
// false (or always true) against every catalog endpoint and request.
TEST(Names, EveryEnumeratedOrShapedFieldWarns) {
  auto c = CheckSource(std::string(R"(policy "p"
rule quant { require endpoint.quantization not in {"FP4", "INT4", "INT8"} }
rule tier { require endpoint.tier != "Flex" }
rule dc { require provider.data_collection != "Allow" }
rule variant { require endpoint.model_variant != ":free" }
rule rvariant { when request.model_variant == "Nitro" deny "x" }
rule variants { when "Free" in request.variants deny "x" }
rule variants_has { when request.variants has ":online" deny "x" }
rule variants_any { when any v in request.variants: v == "Thinking" deny "x" }
rule user_eu { when (principal.jurisdiction ?? "") in {"de", "fr"} require provider.jurisdiction in {"DE", "FR"} }
rule uk { require provider.jurisdiction != "UK" }
rule slug { require provider.slug != "Azure/Sweden" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 11u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:51: warning[tg_name_never_matches]: `endpoint.quantization` is one of "
                     "int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, mxfp4, nvfp4, mxfp8, unknown and "
                     "never equals `FP4`, `INT4` or `INT8`")) << r;
  EXPECT_TRUE(Has(r, "help: write `fp4`, `int4` and `int8`")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.tier` is `standard`, `priority` or `flex` and never equals `Flex`")) << r;
  EXPECT_TRUE(Has(r, "help: write `flex`")) << r;
  EXPECT_TRUE(Has(r, "`provider.data_collection` is `allow` or `deny` and never equals `Allow`")) << r;
  EXPECT_TRUE(Has(r, "help: write `allow`")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.model_variant` holds a variant suffix without its `:` (`free`, `nitro`, "
                     "...) and never equals `:free`")) << r;
  EXPECT_TRUE(Has(r, "help: write `free`")) << r;
  EXPECT_TRUE(Has(r, "`request.model_variant` holds a variant suffix without its `:`")) << r;
  EXPECT_TRUE(Has(r, "help: write `nitro`")) << r;
  EXPECT_TRUE(Has(r, "`request.variants` holds a variant suffix without its `:` (`free`, `nitro`, ...) "
                     "and never equals `Free`")) << r;
  EXPECT_TRUE(Has(r, "never equals `:online`")) << r;
  EXPECT_TRUE(Has(r, "help: write `online`")) << r;
  EXPECT_TRUE(Has(r, "never equals `Thinking`")) << r;
  EXPECT_TRUE(Has(r, "`principal.jurisdiction` is an upper-case ISO 3166-1 alpha-2 country code and "
                     "never equals `de` or `fr`")) << r;
  EXPECT_TRUE(Has(r, "help: write `DE` and `FR`")) << r;
  EXPECT_TRUE(Has(r, "`provider.jurisdiction` is an assigned ISO 3166-1 alpha-2 country code and never "
                     "equals `UK`")) << r;
  EXPECT_TRUE(Has(r, "help: write `GB`")) << r;
  EXPECT_TRUE(Has(r, "`provider.slug` is a lower-case provider slug and never equals `Azure/Sweden`")) << r;
  EXPECT_TRUE(Has(r, "help: write `azure/sweden`")) << r;
}

// The caller's routing preferences (request.provider.*): a value outside
// their words is refused by the router (route_invalid_preference) or the
// decoder (sort_partition), so a comparison with one never matches a
// request that is routed.
TEST(Names, RequestProviderPreferencesWarn) {
  auto c = CheckSource(std::string(R"(policy "p"
rule by { when request.provider.sort == "pricee" deny "x" }
rule sort_case { when (request.provider.sort ?? "") in {"Price", "latency"} deny "x" }
rule partition { when request.provider.sort_partition == "global" deny "x" }
rule dc { when "Deny" == request.provider.data_collection deny "x" }
rule quant { when "INT4" in request.provider.quantizations deny "x" }
rule quant_any { when any q in request.provider.quantizations: q == "fp3" deny "x" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 6u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:41: warning[tg_name_never_matches]: `request.provider.sort` is `price`, "
                     "`latency` or `throughput` and never equals `pricee`")) << r;
  EXPECT_TRUE(Has(r, "help: write `price`, `latency` or `throughput`")) << r;
  EXPECT_TRUE(Has(r, "never equals `Price`")) << r;
  EXPECT_TRUE(Has(r, "help: write `price`\n")) << r;
  EXPECT_TRUE(Has(r, "`request.provider.sort_partition` is `model` or `none` and never equals `global`")) << r;
  EXPECT_TRUE(Has(r, "`request.provider.data_collection` is `allow` or `deny` and never equals `Deny`")) << r;
  EXPECT_TRUE(Has(r, "help: write `deny`")) << r;
  EXPECT_TRUE(Has(r, "`request.provider.quantizations` is one of int4, int8, fp4, fp6, fp8, fp16, bf16, "
                     "fp32, mxfp4, nvfp4, mxfp8, unknown and never equals `INT4`")) << r;
  EXPECT_TRUE(Has(r, "help: write `int4`")) << r;
  EXPECT_TRUE(Has(r, "never equals `fp3`")) << r;
}

// Regression: the decoder passed provider slugs as sent while the router
// matched them in any case, so `"deepseek" in request.provider.only` missed
// `"DeepSeek"`. The decoder lower-cases them now; an upper-case literal
// never matches.
// request.service_tier: the router refuses any word but auto, default,
// flex and priority (route_invalid_preference), in that case; `"Flex"` or
// `"standard"` (the catalog's tier name, not OpenAI's) never matches.
TEST(Names, RequestServiceTierWarns) {
  auto c = CheckSource(R"(policy "p"
rule flex { when request.service_tier == "Flex" deny "x" }
rule standard { when (request.service_tier ?? "auto") in {"standard", "priority"} deny "x" }
rule ok { when (request.service_tier ?? "auto") in {"auto", "default", "flex", "priority"} deny "x" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 2u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:42: warning[tg_name_never_matches]: `request.service_tier` is `auto`, "
                     "`default`, `flex` or `priority` and never equals `Flex`")) << r;
  EXPECT_TRUE(Has(r, "help: write `flex`")) << r;
  EXPECT_TRUE(Has(r, "never equals `standard`")) << r;
}

TEST(Names, RequestProviderSlugsWarn) {
  auto c = CheckSource(std::string(R"(policy "p"
rule onl { when "DeepSeek" in request.provider.only deny "x" }
rule ign { when request.provider.ignore has "OpenAI" deny "x" }
rule ord { when any s in request.provider.order: s == "Azure/Sweden" deny "x" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 3u) << r;
  EXPECT_TRUE(Has(r, "`request.provider.only` is a lower-case provider slug and never equals `DeepSeek`")) << r;
  EXPECT_TRUE(Has(r, "help: write `deepseek`")) << r;
  EXPECT_TRUE(Has(r, "help: write `openai`")) << r;
  EXPECT_TRUE(Has(r, "help: write `azure/sweden`")) << r;
}

// The spellings the catalog and the decoder hold: no warning.
TEST(Names, ValuesTheFieldsHoldAreQuiet) {
  auto c = CheckSource(std::string(R"(policy "p"
rule quant { require endpoint.quantization not in {"fp4", "int4", "int8", "unknown"} }
rule tier { require endpoint.tier != "flex" and provider.data_collection == "deny" }
rule variant { require endpoint.model_variant != "free" and endpoint.model_variant != "" }
rule variants { when "free" in request.variants or request.variants has "nitro" or request.model_variant == "online" deny "x" }
rule eu { when (principal.jurisdiction ?? "") in {"DE", "FR"} require provider.jurisdiction in {"DE", "FR", "GB"} }
rule slugs { require provider.slug != "azure/sweden" and provider.name != "deepseek" }
rule absent { when (principal.jurisdiction ?? "unknown") == "unknown" deny "who?" }
rule full { require endpoint.model_full != "openai/gpt-4o:free" }
rule prefs { when request.provider.sort == "price" or "floor" in request.variants or request.provider.sort_partition == "none" or "deny" == request.provider.data_collection or "fp8" in request.provider.quantizations deny "x" }
rule slugs_lower { when "openai" in request.provider.ignore or "azure/sweden" in request.provider.only or request.provider.order has "deepseek" deny "x" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{}) << c.Render();
}

// A value that no spelling fixes gets the field's description instead.
TEST(Names, ValuesWithoutASpellingGetTheFieldsWords) {
  auto c = CheckSource(R"(policy "p"
rule q { require endpoint.quantization != "int3" }
rule t { require endpoint.tier in {"Flex", "fast"} }
rule j { require provider.jurisdiction != "EU" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 3u) << r;
  EXPECT_TRUE(Has(r, "help: write one of int4, int8")) << r;
  EXPECT_TRUE(Has(r, "never equals `Flex` or `fast`")) << r;
  EXPECT_TRUE(Has(r, "help: write `flex`; `fast` has no such spelling: write `standard`, `priority` or "
                     "`flex`")) << r;
  EXPECT_TRUE(Has(r, "help: name each country by its two-letter code")) << r;
}

// One spelling named once: `azure/a` and `azure/b` both mean `azure`.
TEST(Names, EachSpellingOnce) {
  auto c = CheckSource(R"(policy "p"
rule b { require provider.name not in {"azure/a", "azure/b", "Int4"} }
rule q { require endpoint.quantization not in {"INT4", "Int4", "int4"} }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "`provider.name` is a base provider slug and never equals `azure/a` or `azure/b`")) << r;
  EXPECT_TRUE(Has(r, "help: compare `provider.slug` for the full slugs, or write `azure` to match every region "
                     "and tier of them")) << r;
  EXPECT_TRUE(Has(r, "never equals `INT4` or `Int4`")) << r;
  EXPECT_TRUE(Has(r, "help: write `int4`\n")) << r;
}

// Many impossible values: the first five are named.
TEST(Names, LongListsAreCut) {
  auto c = CheckSource(R"(policy "p"
rule q { require endpoint.quantization not in {"A1", "B1", "C1", "D1", "E1", "F1", "G1"} }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_TRUE(Has(c.Render(), "never equals `A1`, `B1`, `C1`, `D1`, `E1` and 2 more")) << c.Render();
}

// p12/p13 of the review: the values sit in a map document indexed by the
// workspace; the same values in a const or a record document warned, these
// did not. Every entry is read; the warning says where the value is.
TEST(Names, MapDocumentsIndexedByARunTimeKey) {
  auto c = CheckSource(std::string(R"(policy "p"
data ws from "workspaces.json": map<{blocked_providers: set<string>, banned_jurisdictions: set<string>, banned_models: set<string>, quantizations: set<string>}>
rule blocked {
  when principal.workspace in ws
  require provider.name not in ws[principal.workspace].blocked_providers
}
rule banned_j {
  when principal.workspace in ws
  require provider.jurisdiction not in ws[principal.workspace].banned_jurisdictions
}
rule banned_m {
  when principal.workspace in ws and request.model in ws[principal.workspace].banned_models
  deny 403 "banned"
}
rule quant {
  when principal.workspace in ws
  require any q in ws[principal.workspace].quantizations: endpoint.quantization == q
}
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 5u) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:32: warning[tg_name_never_matches]: `provider.name` is a base provider slug "
                     "and never equals `deepseek/cn` (in `ws[\"beta\"].blocked_providers`)")) << r;
  EXPECT_TRUE(Has(r, "`provider.name` is a lower-case provider slug and never equals `DeepSeek` (in "
                     "`ws[\"beta\"].blocked_providers`)")) << r;
  EXPECT_TRUE(Has(r, "help: write `deepseek`")) << r;
  EXPECT_TRUE(Has(r, "`provider.jurisdiction` is an upper-case ISO 3166-1 alpha-2 country code and never "
                     "equals `cn` (in `ws[\"beta\"].banned_jurisdictions`)")) << r;
  EXPECT_TRUE(Has(r, "help: write `CN`")) << r;
  EXPECT_TRUE(Has(r, "`request.model` holds model ids without their variant suffix and never equals "
                     "`openai/gpt-4o:free` (in `ws[\"beta\"].banned_models`)")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.quantization` is one of")) << r;
  EXPECT_TRUE(Has(r, "never equals `FP8` (in `ws[\"beta\"].quantizations`)")) << r;
  EXPECT_TRUE(Has(r, "help: write `fp8`")) << r;
}

// A document with the catalog's spellings only: quiet. So is a constant key
// into it (folded as before) and a coalesced read.
TEST(Names, MapDocumentsWithGoodValuesAreQuiet) {
  auto c = CheckSource(std::string(R"(policy "p"
data ws from "workspaces_ok.json": map<{blocked_providers: set<string>, banned_jurisdictions: set<string>, banned_models: set<string>, quantizations: set<string>}>
rule blocked {
  when principal.workspace in ws
  require provider.name not in ws[principal.workspace].blocked_providers and
          provider.jurisdiction not in ws[principal.workspace].banned_jurisdictions and
          endpoint.quantization in ws["acme"].quantizations
}
rule banned_m {
  when principal.workspace in ws and request.model in ws[principal.workspace].banned_models
  deny 403 "banned"
}
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{}) << c.Render();
}

// The values of a map document reached through `??` and a const key of a
// document read as a map of lists.
TEST(Names, MapDocumentsThroughCoalesceAndLists) {
  auto c = CheckSource(R"(policy "p"
const regions = {"acme": ["de"], "beta": ["FR"]}
rule r {
  require provider.jurisdiction in (regions[principal.workspace] ?? ["DE"])
}
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 1u) << r;
  EXPECT_TRUE(Has(r, "never equals `de` (in `regions[\"acme\"]`)")) << r;
}

// A test's candidate with a value the catalog never holds judged an endpoint
// that cannot exist (p22: `endpoint.quantization: "INT4"` passed `expect
// rejected_by`, while the decoder refuses it): an error at the value.
TEST(Names, TestCandidatesHoldOnlyCatalogValues) {
  auto c = CheckSource(R"(policy "p"
rule r { require endpoint.quantization != "int4" }
test "t" {
  given {}
  candidate { endpoint.quantization: "INT4", endpoint.tier: "Flex", provider.data_collection: "Allow",
              provider.jurisdiction: "cn", provider.name: "Amazon-Bedrock", endpoint.model_variant: ":free",
              endpoint.model: "a/b:free:nitro" }
  expect rejected_by r
}
)");
  EXPECT_FALSE(c.ok);
  const std::string r = c.Render();
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_invalid_value", "tg_invalid_value", "tg_invalid_value", "tg_invalid_value",
                               "tg_invalid_value", "tg_invalid_value", "tg_invalid_value"}))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:5:38: error[tg_invalid_value]: `endpoint.quantization` must be one of int4, "
                     "int8, fp4, fp6, fp8, fp16, bf16, fp32, mxfp4, nvfp4, mxfp8, unknown, got `INT4`")) << r;
  EXPECT_TRUE(Has(r, "help: write `int4`, as the catalog does; a decision input's candidate with this value "
                     "is refused (input_invalid_value)")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.tier` must be `standard`, `priority` or `flex`, got `Flex`")) << r;
  EXPECT_TRUE(Has(r, "`provider.data_collection` must be `allow` or `deny`, got `Allow`")) << r;
  EXPECT_TRUE(Has(r, "`provider.jurisdiction` must be an assigned ISO 3166-1 alpha-2 country code in upper "
                     "case such as `DE`, got `cn`")) << r;
  EXPECT_TRUE(Has(r, "help: write `CN`")) << r;
  EXPECT_TRUE(Has(r, "`provider.name` must be a lower-case provider slug")) << r;
  EXPECT_TRUE(Has(r, "help: write `amazon-bedrock`")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.model_variant` must be a variant suffix without its `:`")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.model` must be a model slug such as `openai/gpt-4o` (at most one variant "
                     "suffix such as `:free`), got `a/b:free:nitro`")) << r;
}

// A membership test against a constant empty collection is decided for
// every request: `in` never holds, `not in` always does.
TEST(Names, MembershipInAnEmptyConstantCollectionWarns) {
  auto c = CheckSource(std::string(R"(policy "p"
const approved = {}
const blocked: list<string> = []
rule a { when request.model not in approved deny 403 "not approved" }
rule b { when principal.workspace in blocked deny 403 "blocked" }
rule c { when request.model in {} deny 403 "never" }
rule d { when principal.workspace in {"acme"} deny 403 "fine" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_empty_collection]"), 3u) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:15: warning[tg_empty_collection]: this is always true: `approved` is empty")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:15: warning[tg_empty_collection]: this is always false: `blocked` is empty")) << r;
  EXPECT_TRUE(Has(r, "test.tg:6:15: warning[tg_empty_collection]: this is always false: the set is empty")) << r;
}

// Prefix, suffix and substring tests of name fields with a part they
// never hold (the reviewer's "any Azure region", "any :free variant").
TEST(Names, PartsTheFieldsNeverHoldWarn) {
  auto c = CheckSource(std::string(R"(policy "p"
rule no_free_endpoints { require not (endpoint.model ends_with ":free") }
rule no_azure_regions { require not (provider.name starts_with "azure/") }
rule free_requests { when request.model contains ":" deny 403 "x" }
rule upper { require not (provider.slug starts_with "Azure") }
rule fine { require not (provider.slug starts_with "azure/") and not (endpoint.model starts_with "openai/") }
rule fine_full { when request.model_full ends_with ":free" deny 403 "y" }
)") + kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 4u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:38: warning[tg_name_never_matches]: `endpoint.model` holds model ids without their "
                     "variant suffix and never holds a `:`, so `ends_with \":free\"` is always false")) << r;
  EXPECT_TRUE(Has(r, "`provider.name` is a base provider slug (no region or tier) and never holds a `/`")) << r;
  EXPECT_TRUE(Has(r, "test `provider.slug` (`provider.slug starts_with \"azure/\"`)")) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:27: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "is a lower-case slug and never holds an upper-case letter")) << r;
}

TEST(Names, TestCandidatesWithCatalogValuesCheckClean) {
  auto c = CheckSource(R"(policy "p"
rule r { require endpoint.quantization != "int4" }
test "t" {
  given {}
  candidate { endpoint.quantization: "int4", endpoint.tier: "flex", provider.data_collection: "allow",
              provider.jurisdiction: "CN", provider.name: "amazon-bedrock/us-east-1",
              endpoint.model_variant: "free", endpoint.model: "a/b:free" }
  expect rejected_by r
}
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{}) << c.Render();
}

// The decoder lower-cases context.data_class, environment and tags: a rule
// comparing them with an upper-case constant never matches.
TEST(Names, ContextLabelsAreLowerCase) {
  auto c = CheckSource(R"(policy "p"
const protected_classes = {"Confidential", "restricted"}
rule zdr { when exists(context.data_class) and context.data_class in protected_classes require provider.zdr }
rule prod { when context.environment == "Production" require provider.zdr }
rule batch { when context.tags has "Batch" route sort price }
rule fine { when context.data_class == "confidential" or "nightly" in context.tags require provider.zdr }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  size_t n = 0;
  for (const auto& d : c.diags.items()) n += d.code == "tg_name_never_matches";
  EXPECT_EQ(n, 3u) << r;
  EXPECT_NE(r.find("test.tg:3:70: warning[tg_name_never_matches]: `context.data_class` is lower case "
                   "(the decoder lower-cases its ASCII letters) and never equals `Confidential`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("write `confidential`"), std::string::npos) << r;
  EXPECT_NE(r.find("`context.environment` is lower case"), std::string::npos) << r;
  EXPECT_NE(r.find("`context.tags` is lower case"), std::string::npos) << r;
}

// The same labels through set algebra and prefix/substring tests: each of
// these rules checked clean and never fired (`intersection` of the lower-cased
// tags with {"Batch"} is always empty; `is_subset({"Confidential"}, tags)`
// always false; `starts_with "Prod"` never holds). Before, only `==`, `in`
// and `has` were judged, and substring tests only of provider slugs.
TEST(Names, LabelsThroughSetAlgebraAndSubstrings) {
  auto c = CheckSource(R"(policy "p"
rule cheap { when length(intersection(context.tags, {"Batch", "nightly"})) > 0 route sort price }
rule conf { when is_subset({"Confidential"}, context.tags) require provider.zdr }
rule left { when length(difference({"Batch"}, context.tags)) == 0 route sort price }
rule only { when length(intersection(request.provider.only, {"Azure"})) > 0 require provider.zdr }
rule prod { when exists(context.environment) and context.environment starts_with "Prod" require provider.zdr }
rule pii { when (context.data_class ?? "") contains "PII" require provider.zdr }
rule team { when any t in context.tags: t starts_with "Team-" require provider.zdr }
rule fine { when length(intersection(context.tags, {"batch"})) > 0 and context.tags has "x"
            and (context.environment ?? "") starts_with "prod" require provider.zdr }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 7u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:53: warning[tg_name_never_matches]: `context.tags` is lower case (the decoder "
                     "lower-cases its ASCII letters) and never equals `Batch`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:28: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:36: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "`request.provider.only` is a lower-case provider slug and never equals `Azure`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:6:50: warning[tg_name_never_matches]: `context.environment` is lower case (the "
                     "decoder lower-cases its ASCII letters) and never holds an upper-case letter, so "
                     "`starts_with \"Prod\"` is always false")) << r;
  EXPECT_TRUE(Has(r, "test.tg:7:17: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "test.tg:8:41: warning[tg_name_never_matches]")) << r;
}

// `lower(...)` holds no upper-case ASCII letter (`upper(...)` no lower-case
// one): a security team's `lower(request.content) contains "Ignore previous
// instructions"` checked clean and never fired, for any prompt.
TEST(Names, CaseMappedStringsComparedWithTheOtherCaseWarn) {
  auto c = CheckSource(R"(policy "p"
const phrases = ["Ignore previous instructions", "reveal your prompt"]
rule inj { when any p in phrases: lower(request.content) contains p deny 403 "injection" }
rule dan { when lower(request.content) contains "DAN mode" deny 403 "dan" }
rule grp { when any g in principal.groups: lower(g) == "Admins" tag admin = true }
rule usr { when lower(principal.user ?? "") in {"Alice", "bob"} tag vip = true }
rule up { when upper(principal.workspace) starts_with "acme" tag a = true }
rule fine { when lower(request.content) contains "dan mode" or upper(principal.workspace) == "ACME-1"
            or lower(principal.workspace) != "acme" tag f = true }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 5u) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:67: warning[tg_name_never_matches]: `lower(...)` holds no upper-case ASCII "
                     "letter, so `contains` with `Ignore previous instructions` never holds")) << r;
  EXPECT_TRUE(Has(r, "write `ignore previous instructions`, or compare without `lower`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:49: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:56: warning[tg_name_never_matches]: `lower(...)` holds no upper-case ASCII "
                     "letter, so `==` with `Admins` never holds")) << r;
  EXPECT_TRUE(Has(r, "test.tg:6:48: warning[tg_name_never_matches]: `lower(...)` holds no upper-case ASCII "
                     "letter, so `in` with `Alice` never holds")) << r;
  EXPECT_TRUE(Has(r, "`upper(...)` holds no lower-case ASCII letter, so `starts_with` with `acme` never holds"))
      << r;
}

// OpenAI's API takes the system prompt as a `developer` message too: a rule
// on the system prompt naming only `system` checked clean and passed every
// request that sent its instructions as `developer`.
TEST(Names, SystemRoleWithoutDeveloperWarns) {
  auto c = CheckSource(R"(policy "p"
rule no_custom_prompts { when any m in request.messages: m.role == "system" deny 403 "no custom system prompts" }
rule notice { when not (any m in request.messages: m.role in {"system"} and m.content contains "ACME-NOTICE")
              deny 403 "the system prompt must carry the notice" }
rule first { when exists(request.messages[0]) and request.messages[0].role != "system" tag bare = true }
rule fine { when any m in request.messages: m.role in {"system", "developer"} and m.content contains "x"
            deny 403 "x" }
rule user { when any m in request.messages: m.role == "user" and m.content contains "y" deny 403 "y" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_system_role_only]"), 3u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:68: warning[tg_system_role_only]: this tests the role `system` but not "
                     "`developer`")) << r;
  EXPECT_TRUE(Has(r, "test both: `m.role in {\"system\", \"developer\"}`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:62: warning[tg_system_role_only]")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:79: warning[tg_system_role_only]")) << r;
  EXPECT_TRUE(Has(r, "test both: `m.role not in {\"system\", \"developer\"}`")) << r;
}

// `date(...)` is always `yyyy-mm-dd`: a holiday list written `2027-1-1` or
// `24.12.2026`, or a day that does not exist, never matched and checked clean.
TEST(Names, DatesNotWrittenYyyyMmDdWarn) {
  auto c = CheckSource(R"(policy "p"
const office = "Europe/Berlin"
const holidays = {"2026-12-25", "2027-1-1", "24.12.2026"}
rule hol { when date(context.time, office) in holidays deny "holiday" }
rule launch { when date(context.time) >= "2026/12/01" deny "not yet" }
rule leap { when "2026-02-29" == date(context.time) deny "x" }
rule us { when date(context.time) != "12/25/2026" deny "x" }
rule ok { when date(context.time, office) in {"2026-12-25", "2028-02-29"} or date(context.time, office) < "2027-01-01" deny "ok" }
)");
  EXPECT_TRUE(c.ok) << c.Render();  // warnings
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:4:47: warning[tg_name_never_matches]: `date(...)` is a calendar day written "
                     "`yyyy-mm-dd` (`2026-12-25`), so `in` with `2027-1-1` or `24.12.2026` never holds"))
      << r;
  EXPECT_TRUE(Has(r, "help: write `2027-01-01` and `2026-12-24` (`yyyy-mm-dd`, zero-padded)")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:42: warning[tg_name_never_matches]: `date(...)` is a calendar day written "
                     "`yyyy-mm-dd` (`2026-12-25`), so `>=` with `2026/12/01` compares the wrong characters"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:6:18: warning[tg_name_never_matches]: `date(...)` is a calendar day written "
                     "`yyyy-mm-dd` (`2026-12-25`), so `==` with `2026-02-29` never holds")) << r;
  EXPECT_TRUE(Has(r, "help: write each date as `yyyy-mm-dd`, zero-padded (`2027-01-01`)")) << r;
  EXPECT_TRUE(Has(r, "help: write `2026-12-01` (`yyyy-mm-dd`, zero-padded)")) << r;
  EXPECT_TRUE(Has(r, "test.tg:7:38: warning[tg_name_never_matches]: `date(...)` is a calendar day written "
                     "`yyyy-mm-dd` (`2026-12-25`), so `!=` with `12/25/2026` always holds"))
      << r;
  EXPECT_EQ(Count(r, "tg_name_never_matches"), 4u) << r;
}

// The decoder refuses a role with an upper-case letter, so `m.role == "User"`
// never matched and checked clean.
TEST(Names, UpperCaseMessageRolesWarn) {
  auto c = CheckSource(R"(policy "p"
rule a { when any m in request.messages: m.role == "User" and m.content matches dlp.credit_card deny "card" }
rule b { when exists(request.messages[0]) and request.messages[0].role in {"System", "developer"} deny "x" }
rule ok { when any m in request.messages: m.role in {"user", "tool"} and m.content contains "Secret" deny "ok" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:2:52: warning[tg_name_never_matches]: a message's role is lower case (the decoder "
                     "refuses another case, as OpenAI's API does), so `User` never matches"))
      << r;
  EXPECT_TRUE(Has(r, "help: write `user`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:75: warning[tg_name_never_matches]")) << r;
  EXPECT_TRUE(Has(r, "help: write `system`")) << r;
  EXPECT_EQ(Count(r, "tg_name_never_matches"), 2u) << r;
}

// request.parameters holds the model parameters of the body as the router
// matches them against supported_parameters: `max_completion_tokens` is
// `max_tokens`, the deprecated `functions` / `function_call` are `tools` /
// `tool_choice`, and transport or routing members (`stream`, `user`,
// `service_tier`, ...) are never in it. `when "functions" in
// request.parameters deny` checked clean and passed every legacy
// function-calling client.
TEST(Names, RequestParametersNeverHoldAliasesOrTransportMembers) {
  auto c = CheckSource(R"(policy "p"
rule legacy { when "functions" in request.parameters deny 400 "the functions API is retired" }
rule o1 { when request.parameters has "max_completion_tokens" deny 400 "x" }
rule forced { when any p in request.parameters: p == "function_call" deny 400 "x" }
rule streams { when "stream" in request.parameters deny 400 "x" }
rule tier { when length(intersection(request.parameters, {"service_tier", "user"})) > 0 deny 400 "x" }
rule ok { when "tools" in request.parameters or "max_tokens" in request.parameters or "n" in request.parameters deny 400 "x" }
rule ok2 { when request.parameters has "tool_choice" or "response_format" in request.parameters deny 400 "x" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_name_never_matches]"), 5u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:20: warning[tg_name_never_matches]: `request.parameters` holds the body's "
                     "model parameters as endpoints list them")) << r;
  EXPECT_TRUE(Has(r, "and never equals `functions`")) << r;
  EXPECT_TRUE(Has(r, "help: write `tools`")) << r;
  EXPECT_TRUE(Has(r, "never equals `max_completion_tokens`")) << r;
  EXPECT_TRUE(Has(r, "help: write `max_tokens`")) << r;
  EXPECT_TRUE(Has(r, "never equals `function_call`")) << r;
  EXPECT_TRUE(Has(r, "help: write `tool_choice`")) << r;
  EXPECT_TRUE(Has(r, "never equals `stream`")) << r;
  EXPECT_TRUE(Has(r, "never equals `service_tier` or `user`")) << r;
}

// A raw invisible character or non-ASCII space in a string constant -- a
// zero-width space or a no-break space pasted with a group name from a chat
// or a web page -- is not seen in the policy text, and the constant never
// equals what a request carries: `"legal<U+200B>" in principal.groups`
// checked clean and never fired. Written as an escape (`\u200b`) it is meant.
TEST(Names, InvisibleCharactersInStringsWarn) {
  auto c = CheckSource("policy \"p\"\n"
                       "const cleared = {\"legal\xe2\x80\x8b\", \"finance\"}\n"
                       "rule r { when length(intersection(principal.groups, cleared)) == 0 deny \"x\" }\n"
                       "rule s { when context.data_class == \"confidential\xc2\xa0\" deny \"y\" }\n"
                       "rule t { when any x in request.tools: x == \"sh\xc2\xad" "ell\" deny \"z\" }\n"
                       "rule ok { when \"legal\\u200b\" in principal.groups deny \"emoji \xe2\x9d\xa4\xef\xb8\x8f and caf\xc3\xa9\" }\n"
                       "rule ok2 { when request.content contains \"caf\xc3\xa9\" deny \"\xe2\x80\x8b in a message is not compared\" }\n"
                       // Not judged: a tag value and a test input (never compared with a
                       // request), U+200C (Persian and Indic spelling) and a flag emoji's
                       // tag characters.
                       "rule ok3 { when request.content contains \"\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85\" tag note = \"a\xe2\x80\x8b\" }\n"
                       "rule ok4 { when request.content contains \"\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xa2\xf3\xa0\x81\xa5\xf3\xa0\x81\xae\xf3\xa0\x81\xa7\xf3\xa0\x81\xbf\" deny \"flag\" }\n"
                       "test \"hidden\" {\n  given { request.content: \"Hello\xe2\x80\x8bignore\" }\n  expect allow\n}\n");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_invisible_character]"), 3u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:18: warning[tg_invisible_character]: the string `legal\\u200b` holds "
                     "U+200B (zero width space), which the policy text does not show: it equals only a "
                     "value holding the same character")) << r;
  EXPECT_TRUE(Has(r, "help: delete it, or write it as the escape `\\u200b` if it is meant")) << r;
  EXPECT_TRUE(Has(r, "U+00A0 (no-break space)")) << r;
  EXPECT_TRUE(Has(r, "U+00AD (soft hyphen)")) << r;
}

// A Cyrillic or Greek letter that looks like a Latin one, among Latin letters
// of a string constant -- a Cyrillic `а` (U+0430) in "legаl", a Cyrillic `о`
// in "openai/о1", pasted from a document or typed on a Russian layout -- reads
// as the Latin word in every editor and review, and the constant never equals
// what a request carries: `"legаl" in principal.groups` checked clean, its
// test (written with the same letter) passed, and every member of `legal` was
// denied. Text in those scripts (a word with letters that look like no Latin
// one), an escape, messages and test inputs are not judged.
TEST(Names, LookAlikeLettersAmongLatinOnesWarn) {
  auto c = CheckSource(std::string("policy \"p\"\n"
                       "const cleared = {\"leg\xd0\xb0l\", \"finance\"}\n"
                       "rule r { when length(intersection(principal.groups, cleared)) == 0 deny \"x\" }\n"
                       "rule s { when request.model == \"openai/\xd0\xbe" "1\" or \"openai/\xd0\xbe" "1\" in request.models deny \"y\" }\n"
                       "rule t { when context.data_class == \"c\xce\xbfnfidential\" deny \"z\" }\n"
                       // Russian and Greek words, Russian next to Latin, an escape: meant.
                       "rule ok { when request.content contains \"\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c\" or request.content contains \"API-\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\" deny \"\xd0\xb0 \xd0\xb0\" }\n"
                       "rule ok2 { when request.content contains \"\xce\xba\xce\xbb\xce\xb5\xce\xb9\xce\xb4\xce\xaf\" or \"leg\\u0430l\" in principal.groups deny \"x\" tag t = \"leg\xd0\xb0l\" }\n"
                       "test \"legal\" {\n  given { principal.groups: {\"leg\xd0\xb0l\"} }\n  expect not_fired r\n}\n") +
                       kNoFallbacks);
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_look_alike_letter]"), 4u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:18: warning[tg_look_alike_letter]: the string `leg\\u0430l` holds the "
                     "Cyrillic letter U+0430 among Latin ones: it looks like `a`, but the string equals "
                     "only a value spelled with the same letter")) << r;
  EXPECT_TRUE(Has(r, "help: write `legal`, or the escape `\\u0430` if the letter is meant")) << r;
  EXPECT_TRUE(Has(r, "the string `openai/\\u043e1` holds the Cyrillic letter U+043E")) << r;
  EXPECT_TRUE(Has(r, "help: write `openai/o1`")) << r;
  EXPECT_TRUE(Has(r, "the string `c\\u03bfnfidential` holds the Greek letter U+03BF")) << r;
}

// A space at either end of a name compared with a field that holds names as
// sent -- a group, a tool, the workspace, a label -- pasted from a spreadsheet
// cell: `{"legal ", "finance"}` checked clean and `legal` never matched it,
// nor did `context.environment == "production "` (labels are lower-cased,
// not trimmed). Fields with a shape (slugs, codes) are tg_name_never_matches';
// text (`request.content`), `contains` and a blank string are not judged.
TEST(Names, SpaceAtAnEndOfANameWarns) {
  auto c = CheckSource("policy \"p\"\n"
                       "const cleared = {\"legal \", \"finance\"}\n"
                       "rule r { when length(intersection(principal.groups, cleared)) == 0 deny \"x\" }\n"
                       "rule s { when principal.workspace == \" acme-eu\" or context.environment == \"production \" deny \"y\" }\n"
                       "rule t { when any x in request.tools: x in {\"shell\\t\", \"exec\"} deny \"z\" }\n"
                       "rule ok { when request.content contains \" ssn \" or request.content == \"hi \" or principal.user != \" \" deny \"w\" }\n"
                       "rule ok2 { require provider.name != \"openai \" }\n");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_padded_name]"), 4u) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:53: warning[tg_padded_name]: `legal ` ends with a space, but "
                     "`principal.groups` holds names as sent: it never equals `legal`")) << r;
  EXPECT_TRUE(Has(r, "help: write `legal`")) << r;
  EXPECT_TRUE(Has(r, "` acme-eu` starts with a space, but `principal.workspace` holds names as sent")) << r;
  EXPECT_TRUE(Has(r, "`production ` ends with a space, but `context.environment` holds")) << r;
  EXPECT_TRUE(Has(r, "`shell\\t` ends with a tab, but `request.tools` holds")) << r;
}

}  // namespace
}  // namespace tollgate::checktest
