// Catalog loading: the shipped example, candidate records, and every
// validation error.
#include <gtest/gtest.h>

#include <set>

#include "runtime/router/catalog.h"
#include "stdlib/schema.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

using runtime::Catalog;
using runtime::CatalogError;

const stdlib::Schema& Std() { return stdlib::Schema::Standard(); }

std::string LoadError(const std::string& json) {
  Catalog c;
  CatalogError e;
  if (Catalog::Load(json, Std(), &c, &e)) return "";
  return e.message;
}

TEST(Catalog, ExampleCatalogLoadsAndIsRich) {
  Catalog c;
  CatalogError e;
  ASSERT_TRUE(Catalog::LoadFile("policies/catalog.json", Std(), &c, &e)) << e.message;
  EXPECT_GE(c.size(), 30u);
  std::set<std::string> models, providers, countries;
  for (const auto& ep : c.endpoints()) {
    models.insert(ep.model);
    providers.insert(ep.provider.substr(0, ep.provider.find('/')));
    countries.insert(ep.jurisdiction);
  }
  EXPECT_GE(models.size(), 10u);
  EXPECT_GE(providers.size(), 8u);
  for (const char* cc : {"US", "DE", "FR", "IE", "NL", "SE", "GB", "JP"}) {
    EXPECT_TRUE(countries.count(cc)) << cc;
  }
}

TEST(Catalog, ExactPricesAndCandidateRecord) {
  std::string json = CatalogOf({Ep("a", "m", "prov/eu",
                                   {{"input", "2.500001"}, {"output", "\"10\""},
                                    {"per_request", "0.000001"}, {"jurisdiction", "\"DE\""},
                                    {"zdr", "true"}, {"retention_days", "0"},
                                    {"data_collection", "\"deny\""}, {"latency", "0.42"}})});
  Catalog c;
  CatalogError e;
  ASSERT_TRUE(Catalog::Load(json, Std(), &c, &e)) << e.message;
  const auto& ep = c.endpoint(0);
  EXPECT_EQ(ep.price_input, 2500001);
  EXPECT_EQ(ep.price_output, 10000000);
  EXPECT_EQ(ep.price_request, 1);
  EXPECT_EQ(ep.latency_p50, 420000);
  const vm::Record& r = c.candidate(0);
  auto slot = [&](const char* path) { return Std().field(Std().Find(path)).slot; };
  EXPECT_EQ(r.slots[slot("provider.name")].sv(), "prov");  // the base slug
  EXPECT_EQ(r.slots[slot("provider.slug")].sv(), "prov/eu");
  EXPECT_EQ(r.slots[slot("endpoint.model")].sv(), "m");
  EXPECT_EQ(r.slots[slot("endpoint.model_full")].sv(), "m");
  EXPECT_EQ(r.slots[slot("endpoint.model_variant")].kind, Kind::kString);
  EXPECT_EQ(r.slots[slot("endpoint.model_variant")].sv(), "");
  EXPECT_EQ(r.slots[slot("endpoint.tier")].sv(), "standard");
  ASSERT_EQ(r.slots[slot("endpoint.byok")].kind, Kind::kBool);
  EXPECT_FALSE(r.slots[slot("endpoint.byok")].b);
  EXPECT_EQ(r.slots[slot("provider.jurisdiction")].sv(), "DE");
  EXPECT_TRUE(r.slots[slot("provider.zdr")].b);
  EXPECT_EQ(r.slots[slot("provider.data_collection")].sv(), "deny");
  EXPECT_EQ(r.slots[slot("endpoint.price_input")].kind, Kind::kMoney);
  EXPECT_EQ(r.slots[slot("endpoint.price_input")].i, 2500001);
  EXPECT_TRUE(r.slots[slot("endpoint.estimated_cost")].is_null());
  EXPECT_EQ(c.estimated_cost_slot(), slot("endpoint.estimated_cost"));
  const Value& params = r.slots[slot("endpoint.parameters")];
  ASSERT_EQ(params.kind, Kind::kSet);
  EXPECT_TRUE(SetContains(params, Value::StringRef("tools")));
  EXPECT_EQ(c.ForModel("m").size(), 1u);
  EXPECT_TRUE(c.ForModel("other").empty());
  EXPECT_EQ(c.Find("a"), 0);
}

// Policies read names as the router means them: the canonical model id
// without its variant suffix, the base provider slug; the full names and
// the variant separately. Tier and BYOK come from the catalog.
TEST(Catalog, CandidateNamesTierAndByok) {
  std::string json = CatalogOf({Ep("f", "meta/llama:free", "amazon-bedrock/us-east-1",
                                   {{"tier", "\"flex\""}, {"byok", "true"}}),
                                Ep("b", "anthropic.claude-v1:0", "google-vertex")});
  Catalog c;
  CatalogError e;
  ASSERT_TRUE(Catalog::Load(json, Std(), &c, &e)) << e.message;
  auto slot = [&](const char* path) { return Std().field(Std().Find(path)).slot; };
  const vm::Record& f = c.candidate(0);
  EXPECT_EQ(f.slots[slot("endpoint.model")].sv(), "meta/llama");
  EXPECT_EQ(f.slots[slot("endpoint.model_full")].sv(), "meta/llama:free");
  EXPECT_EQ(f.slots[slot("endpoint.model_variant")].sv(), "free");
  EXPECT_EQ(f.slots[slot("provider.name")].sv(), "amazon-bedrock");
  EXPECT_EQ(f.slots[slot("provider.slug")].sv(), "amazon-bedrock/us-east-1");
  EXPECT_EQ(f.slots[slot("endpoint.tier")].sv(), "flex");
  EXPECT_TRUE(f.slots[slot("endpoint.byok")].b);
  // A Bedrock-style version suffix is not a variant.
  const vm::Record& b = c.candidate(1);
  EXPECT_EQ(b.slots[slot("endpoint.model")].sv(), "anthropic.claude-v1:0");
  EXPECT_EQ(b.slots[slot("endpoint.model_variant")].sv(), "");
  EXPECT_EQ(b.slots[slot("provider.name")].sv(), "google-vertex");
  EXPECT_EQ(b.slots[slot("provider.slug")].sv(), "google-vertex");
  // The catalog is still indexed by the slug as written.
  EXPECT_EQ(c.ForModel("meta/llama:free").size(), 1u);
  // The new built-in fields cannot be set through attributes.
  std::string bad = CatalogOf({Ep("x", "m", "p", {{"attributes", "{\"provider.slug\": \"q\"}"}})});
  EXPECT_NE(LoadError(bad).find("set by the catalog's own fields"), std::string::npos) << LoadError(bad);
}

struct BadCase {
  const char* name;
  std::map<std::string, std::string> set;
  const char* expect;  // substring of the message
};

class CatalogBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(CatalogBad, FailsWithNamedField) {
  const BadCase& b = GetParam();
  std::string msg = LoadError(CatalogOf({Ep("ok", "m", "p"), Ep("bad", "m", "p", b.set)}));
  EXPECT_NE(msg.find("endpoint 1 (`bad`)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(b.expect), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Validation, CatalogBad,
    ::testing::Values(
        BadCase{"negative_price", {{"input", "\"-1\""}}, "`pricing.input_per_mtok` must not be negative"},
        BadCase{"inexact_price", {{"output", "\"0.0000001\""}}, "`pricing.output_per_mtok` must be an exact decimal"},
        BadCase{"exponent_price", {{"output", "1e-3"}}, "`pricing.output_per_mtok`"},
        BadCase{"bad_country", {{"jurisdiction", "\"EU\""}}, "`jurisdiction` must be an ISO 3166-1"},
        BadCase{"lower_country", {{"jurisdiction", "\"de\""}}, "`jurisdiction`"},
        BadCase{"unknown_field", {{"colour", "\"red\""}}, "`colour` is not a known catalog field"},
        BadCase{"unknown_quant", {{"quantization", "\"fp3\""}}, "`quantization` must be one of"},
        BadCase{"zdr_retains", {{"zdr", "true"}, {"data_collection", "\"deny\""}}, "`retention_days` must be 0"},
        BadCase{"trains_deny", {{"trains_on_data", "true"}, {"data_collection", "\"deny\""}}, "`data_collection` must be `allow`"},
        BadCase{"bad_dc", {{"data_collection", "\"maybe\""}}, "`data_collection` must be `allow` or `deny`"},
        BadCase{"uptime_range", {{"uptime", "1.5"}}, "`observed.uptime` is out of range"},
        BadCase{"wrong_type", {{"zdr", "\"yes\""}}, "`zdr` must be true or false"},
        BadCase{"missing", {{"region", "<absent>"}}, "`region` is missing"},
        BadCase{"ctx_int", {{"context_length", "1.5"}}, "`context_length` must be a non-negative integer"},
        BadCase{"max_out", {{"max_output_tokens", "200000"}}, "`max_output_tokens` must not exceed"},
        BadCase{"tier", {{"tier", "\"gold\""}}, "`tier` must be"},
        BadCase{"auth", {{"upstream", "{\"base_url\": \"https://x\", \"auth\": {\"type\": \"basic\"}}"}}, "`upstream.auth.type`"},
        BadCase{"auth_env", {{"upstream", "{\"base_url\": \"https://x\", \"auth\": {\"type\": \"bearer\"}}"}}, "`upstream.auth.env` is missing"},
        BadCase{"header", {{"upstream", "{\"base_url\": \"https://x\", \"auth\": {\"type\": \"header\", \"env\": \"K\"}}"}}, "`upstream.auth.header` is missing"},
        BadCase{"url", {{"upstream", "{\"base_url\": \"ftp://x\", \"auth\": {\"type\": \"none\"}}"}}, "`upstream.base_url` must start"},
        BadCase{"params", {{"supported_parameters", "[true]"}}, "`supported_parameters`"},
        BadCase{"provider_slug", {{"provider", "\"Open AI\""}}, "`provider` must be a lower-case slug"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return std::string(i.param.name); });

// `upstream.body`: members kept with their JSON types, in file order; a
// priority / flex endpoint asks for its service tier unless it says so itself.
TEST(Catalog, UpstreamBodyMembersAndServiceTier) {
  auto up = [](const std::string& body) {
    return "{\"base_url\": \"https://x.example/v1\", \"auth\": {\"type\": \"none\"}, \"body\": " + body + "}";
  };
  Catalog c;
  CatalogError e;
  ASSERT_TRUE(Catalog::Load(
      CatalogOf({Ep("std", "m", "oa"),
                 Ep("flex", "m", "oa/flex", {{"tier", "\"flex\""}}),
                 Ep("prio", "m", "oa/priority",
                    {{"tier", "\"priority\""},
                     {"upstream", up(R"({"store": false, "temperature": 0.20, "seed": 12345678901234567890,
                                          "metadata": {"k": ["v", null, true]}, "provider": {"order": ["x"]},
                                          "service_tier": "priority"})")}}),
                 Ep("def", "m", "oa/eu", {{"upstream", up(R"({"service_tier": "default"})")}})}),
      Std(), &c, &e)) << e.message;
  EXPECT_TRUE(c.endpoint(0).upstream.body.empty());
  EXPECT_EQ(c.endpoint(0).upstream.body_bytes, 0);
  ASSERT_EQ(c.endpoint(1).upstream.body.size(), 1u);
  EXPECT_EQ(c.endpoint(1).upstream.body[0].name, "service_tier");
  EXPECT_EQ(c.endpoint(1).upstream.body[0].json, "\"flex\"");
  EXPECT_EQ(c.endpoint(1).upstream.body_bytes,
            static_cast<int64_t>(std::string(R"(,"service_tier":"flex")").size()));
  std::string all;
  for (const auto& m : c.endpoint(2).upstream.body) all += m.name + "=" + m.json + " ";
  EXPECT_EQ(all, "store=false temperature=0.2 seed=12345678901234567890 metadata={\"k\":[\"v\",null,true]} "
                 "provider={\"order\":[\"x\"]} service_tier=\"priority\" ");
  ASSERT_EQ(c.endpoint(3).upstream.body.size(), 1u);
  EXPECT_EQ(c.endpoint(3).upstream.body[0].json, "\"default\"");
}

TEST(Catalog, UpstreamBodyMistakesAreNamed) {
  auto bad = [](const std::string& body, const std::string& tier = "\"standard\"") {
    return LoadError(CatalogOf(
        {Ep("ok", "m", "p"),
         Ep("bad", "m", "p/x",
            {{"tier", tier},
             {"upstream", "{\"base_url\": \"https://x.example/v1\", \"auth\": {\"type\": \"none\"}, \"body\": " +
                              body + "}"}})}));
  };
  std::string deep = "1";
  for (int i = 0; i < runtime::kMaxUpstreamBodyDepth; ++i) deep = "[" + deep + "]";
  std::string many = "{";
  for (size_t i = 0; i <= runtime::kMaxUpstreamBodyMembers; ++i) many += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": 1";
  many += "}";
  const std::pair<std::string, std::string> cases[] = {
      {bad("[1]"), "field `upstream.body` must be an object"},
      {bad(R"({"model": "gpt-x"})"), "field `upstream.body.model` is set by the gateway (use `upstream.model`)"},
      {bad(R"({"max_tokens": 5})"), "field `upstream.body.max_tokens` is the caller's"},
      {bad(R"({"n": 2})"), "field `upstream.body.n` is the caller's"},
      {bad(R"({"messages": []})"), "field `upstream.body.messages`"},
      {bad(R"({"stream": true})"), "field `upstream.body.stream`"},
      {bad(R"({"stream_options": {}})"), "field `upstream.body.stream_options`"},
      {bad(R"({"": 1})"), "field `upstream.body` has a member with an empty name"},
      {bad("{\"deep\": [" + deep + "]}"), "field `upstream.body.deep` nests deeper than 8 levels"},
      {bad(many), "field `upstream.body` has 17 members, more than 16"},
      {bad("{\"big\": \"" + std::string(runtime::kMaxUpstreamBodyBytes, 'x') + "\"}"),
       "field `upstream.body` is larger than 4096 bytes of JSON"},
      {bad(R"({"service_tier": "flex"})"),
       "field `upstream.body.service_tier` must be `default` on a `standard` endpoint (what it is priced at), got `\"flex\"`"},
      {bad(R"({"service_tier": "priority"})", "\"flex\""),
       "field `upstream.body.service_tier` must be `flex` on a `flex` endpoint"},
      {bad(R"({"service_tier": null})", "\"flex\""), "must be `flex` on a `flex` endpoint (what it is priced at), got `null`"},
      {bad(R"({"service_tier": "auto"})"), "must be `default` on a `standard` endpoint"},
  };
  for (const auto& [msg, want] : cases) {
    EXPECT_NE(msg.find("endpoint 1 (`bad`)"), std::string::npos) << msg;
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  }
  // A number no double holds: the typed parse of the body values refuses it.
  EXPECT_NE(bad(R"({"t": 1e999})").find("malformed JSON at byte"), std::string::npos);
  // At the limits: loads.
  std::string deepest = "1";
  for (int i = 1; i < runtime::kMaxUpstreamBodyDepth; ++i) deepest = "[" + deepest + "]";
  EXPECT_EQ(bad("{\"d\": [" + deepest + "]}"), "");
  EXPECT_EQ(bad("{\"big\": \"" + std::string(runtime::kMaxUpstreamBodyBytes - 2, 'x') + "\"}"), "");
}

// jq and Python keep the last copy of a repeated member, rapidjson's
// FindMember the first: a reviewer would read another catalog than the
// router loads. Any repeated name, at any depth, is refused with its path.
TEST(Catalog, DuplicateKeysAreRefusedWithTheirPath) {
  const std::string body = "{\"base_url\": \"https://x.example/v1\", \"auth\": {\"type\": \"none\"}, "
                           "\"body\": {\"a\": 1, \"a\": 2}}";
  const std::pair<std::string, std::string> cases[] = {
      // (Ep writes a value as given: `"DE", "jurisdiction": "US"` repeats the member.)
      {CatalogOf({Ep("a", "m", "p"), Ep("b", "m", "q", {{"jurisdiction", R"("DE", "jurisdiction": "US")"}})}),
       "duplicate key `jurisdiction` at `endpoints[1].jurisdiction`"},
      {CatalogOf({Ep("a", "m", "p", {{"input", R"("2.50", "input_per_mtok": "0.01")"}})}),
       "duplicate key `input_per_mtok` at `endpoints[0].pricing.input_per_mtok`"},
      // Names compare as decoded.
      {CatalogOf({Ep("a", "m", "p", {{"zdr", R"(false, "z\u0064r": true)"}})}),
       "duplicate key `zdr` at `endpoints[0].zdr`"},
      {CatalogOf({Ep("a", "m", "p", {{"upstream", body}})}), "duplicate key `a` at `endpoints[0].upstream.body.a`"},
      {R"({"endpoints": [], "endpoints": []})", "duplicate top-level key `endpoints`"},
  };
  for (const auto& [json, want] : cases) {
    Catalog c;
    CatalogError e;
    EXPECT_FALSE(Catalog::Load(json, Std(), &c, &e)) << json;
    EXPECT_EQ(e.code, "catalog_invalid");
    EXPECT_EQ(e.message, want) << json;
    EXPECT_EQ(c.size(), 0u);
  }
}

TEST(Catalog, DuplicateIds) {
  std::string msg = LoadError(CatalogOf({Ep("a", "m", "p"), Ep("a", "m", "q")}));
  EXPECT_NE(msg.find("endpoint 1 (`a`): field `id` duplicates the id of endpoint 0"), std::string::npos) << msg;
}

TEST(Catalog, MalformedDocuments) {
  EXPECT_NE(LoadError("{").find("malformed JSON"), std::string::npos);
  EXPECT_NE(LoadError("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(LoadError("{\"endpoints\": 3}").find("`endpoints` list"), std::string::npos);
  EXPECT_NE(LoadError("{\"endpoints\": [], \"extra\": 1}").find("`extra`"), std::string::npos);
  EXPECT_NE(LoadError("{\"endpoints\": [3]}").find("endpoint 0"), std::string::npos);
  EXPECT_EQ(LoadError("{\"endpoints\": []}"), "");
}

TEST(Catalog, MissingFileIsIoError) {
  Catalog c;
  CatalogError e;
  EXPECT_FALSE(Catalog::LoadFile("/nonexistent/catalog.json", Std(), &c, &e));
  EXPECT_EQ(e.code, "catalog_io_error");
}

TEST(Catalog, CountryAndQuantizationTables) {
  EXPECT_TRUE(runtime::IsCountryCode("DE"));
  EXPECT_TRUE(runtime::IsCountryCode("ZW"));
  EXPECT_TRUE(runtime::IsCountryCode("AD"));
  EXPECT_FALSE(runtime::IsCountryCode("UK"));
  EXPECT_FALSE(runtime::IsCountryCode("EU"));
  EXPECT_FALSE(runtime::IsCountryCode("D"));
  EXPECT_TRUE(runtime::IsKnownQuantization("fp8"));
  EXPECT_TRUE(runtime::IsKnownQuantization("unknown"));
  EXPECT_FALSE(runtime::IsKnownQuantization("fp9"));
}

}  // namespace
}  // namespace tollgate::testing

namespace tollgate::testing {
namespace {

// A deployment extends the candidate scope; catalogs set those fields per
// endpoint under "attributes", converted to the field's type.
TEST(Catalog, AttributesFillExtendedCandidateFields) {
  stdlib::Schema ext = stdlib::Schema::Standard();
  std::string err;
  ASSERT_TRUE(ext.AddFromJson(R"({"fields": [
      {"path": "provider.soc2", "type": "bool", "scope": "candidate"},
      {"path": "provider.tier_name", "type": "string", "scope": "candidate"},
      {"path": "endpoint.max_batch", "type": "int", "scope": "candidate"},
      {"path": "endpoint.carbon_price", "type": "money", "scope": "candidate"},
      {"path": "provider.certifications", "type": "set<string>", "scope": "candidate"}]})",
                              &err))
      << err;
  std::string json = CatalogOf(
      {Ep("a", "m", "p", {{"attributes", R"({"provider.soc2": true, "provider.tier_name": "gold",
                                           "endpoint.max_batch": 64, "endpoint.carbon_price": "0.25",
                                           "provider.certifications": ["iso27001", "soc2"]})"}}),
       Ep("b", "m", "q", {})});
  Catalog c;
  CatalogError e;
  ASSERT_TRUE(Catalog::Load(json, ext, &c, &e)) << e.message;
  auto slot = [&](const char* path) { return ext.field(ext.Find(path)).slot; };
  const vm::Record& a = c.candidate(0);
  EXPECT_TRUE(a.slots[slot("provider.soc2")].b);
  EXPECT_EQ(a.slots[slot("provider.tier_name")].sv(), "gold");
  EXPECT_EQ(a.slots[slot("endpoint.max_batch")].i, 64);
  EXPECT_EQ(a.slots[slot("endpoint.carbon_price")].kind, Kind::kMoney);
  EXPECT_EQ(a.slots[slot("endpoint.carbon_price")].i, 250000);
  EXPECT_EQ(ToJson(a.slots[slot("provider.certifications")]), R"(["iso27001","soc2"])");
  EXPECT_TRUE(c.candidate(1).slots[slot("provider.soc2")].is_null());  // not given: null

  struct Bad { const char* attrs; const char* want; };
  for (const Bad& b : {Bad{R"({"provider.nosuch": 1})", "is not a candidate field"},
                       Bad{R"({"provider.zdr": true})", "set by the catalog's own fields"},
                       Bad{R"({"provider.soc2": "yes"})", "must be true or false"},
                       Bad{R"({"endpoint.max_batch": 1.5})", "must be an integer"},
                       Bad{R"({"provider.certifications": [true]})", "must hold only strings"},
                       Bad{R"([1])", "must be an object"}}) {
    Catalog bad;
    CatalogError be;
    EXPECT_FALSE(Catalog::Load(CatalogOf({Ep("x", "m", "p", {{"attributes", b.attrs}})}), ext,
                               &bad, &be))
        << b.attrs;
    EXPECT_NE(be.message.find(b.want), std::string::npos) << be.message;
    EXPECT_NE(be.message.find("attributes"), std::string::npos) << be.message;
  }
}

}  // namespace
}  // namespace tollgate::testing
