// The model catalog: every endpoint the router may send a request to.
//
// ## Format (docs/routing.md has the full reference)
//
//   {"endpoints": [{
//      "id": "openai/gpt-4o@azure-se", "model": "openai/gpt-4o", "provider": "azure/sweden",
//      "upstream": {"base_url": "https://...", "auth": {"type": "header", "env": "AZURE_KEY",
//                                                    "header": "api-key"}},
//      "pricing": {"input_per_mtok": "2.50", "output_per_mtok": "10", "per_request": "0"},
//      "context_length": 128000, "max_output_tokens": 16384,
//      "jurisdiction": "SE", "region": "swedencentral",
//      "zdr": true, "trains_on_data": false, "data_collection": "deny", "retention_days": 0,
//      "quantization": "unknown", "supported_parameters": ["tools", "response_format"],
//      "observed": {"latency_p50": 0.42, "throughput": 85.5, "uptime": 0.999},
//      "tier": "standard", "byok": false}]}
//
// `upstream.body` (optional) is an object of top-level members merged into,
// and overriding, the JSON body sent to that endpoint:
//   "upstream": {"base_url": "https://api.openai.com/v1", "auth": {...},
//                "body": {"service_tier": "flex", "store": false}}
// A `priority` / `flex` endpoint asks its upstream for its tier: without a
// `service_tier` of its own it gets {"service_tier": "priority" | "flex"}
// (OpenAI's service tiers), so what the upstream bills is what the endpoint
// is priced at. Limits: kMaxUpstreamBodyMembers members, kMaxUpstreamBodyBytes
// of compact JSON, kMaxUpstreamBodyDepth levels; values keep their JSON type
// (numbers too: these are read by a second, typed parse, made only when some
// endpoint has a body; a number beyond double range fails it). Members the gateway
// owns or that bound the budget reservation are refused (model, messages,
// stream, stream_options, max_tokens, max_completion_tokens, n, tools,
// functions, prediction), and a `service_tier` must be the endpoint's tier
// (`default` for standard).
//
// Prices are USD (per million tokens, per request) as exact decimals; JSON
// numbers are read from their text, never through a double.
//
// ## Loading
//
//   runtime::Catalog cat;
//   runtime::CatalogError err;
//   if (!runtime::Catalog::Load(json, policy->schema(), &cat, &err)) Fail(err.message);
//
// Loading validates everything and fails on the first problem with a message
// naming the endpoint (index and id) and field: unknown or missing fields,
// wrong types, duplicate ids, negative prices, a country that is not an
// ISO 3166-1 alpha-2 code, an unknown quantization, inconsistent data facts
// (zdr with retention days or training), uptime outside 0..1, an
// `upstream.body` beyond its limits or naming a member it may not set. A
// member name repeated in any object is refused first, with its JSON path
// ("duplicate key `jurisdiction` at `endpoints[3].jurisdiction`").
//
// For every endpoint the catalog builds a candidate vm::Record with one slot
// per candidate-scoped field of the schema (provider.*, endpoint.*); fields
// the catalog does not know are null. `endpoint.estimated_cost` is null here:
// the router fills it per request. Names follow stdlib/names.h:
// provider.name is the base slug (provider.slug the full one), endpoint.model
// the model id without its variant suffix (endpoint.model_full /
// endpoint.model_variant the rest); endpoint.tier and endpoint.byok are set too.
//
// Cost: loading is linear in the file size. Lookups by model are a hash probe.
// Thread safety: immutable after Load; share freely between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/core/money.h"
#include "engine/core/value.h"
#include "engine/vm/record.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {

enum class AuthType : uint8_t { kNone, kBearer, kHeader };
enum class Tier : uint8_t { kStandard, kPriority, kFlex };
const char* TierName(Tier t);
// The value of OpenAI's `service_tier` that asks for tier t: `default`,
// `priority`, `flex`.
const char* ServiceTierName(Tier t);

struct Upstream {
  std::string base_url;
  AuthType auth = AuthType::kNone;
  std::string env;     // environment variable holding the key (never the key)
  std::string header;  // kHeader: header name, e.g. "x-api-key"
  // The model name sent upstream ("model" of the forwarded body). Empty in
  // the file: the endpoint's model id without its vendor prefix
  // (`openai/gpt-4o` -> `gpt-4o`), filled on Load.
  std::string model;
  // Members merged into the forwarded body ("body" of the file; see the
  // overview), in file order, each value as compact JSON text; a priority /
  // flex endpoint's service_tier is added on Load.
  struct BodyMember {
    std::string name, json;
  };
  std::vector<BodyMember> body;
  // Bytes these members can add to the body (`,"name":json` each): counted
  // by the worst-case prompt (runtime/decide/prompt_bound.h).
  int64_t body_bytes = 0;
};

// Limits of `upstream.body` (Catalog::Load refuses more).
inline constexpr size_t kMaxUpstreamBodyMembers = 16;
inline constexpr size_t kMaxUpstreamBodyBytes = 4096;  // of all values' compact JSON
inline constexpr int kMaxUpstreamBodyDepth = 8;        // nesting of objects / arrays

struct Endpoint {
  std::string id, model, provider;
  Upstream upstream;
  int64_t price_input = 0;     // money micros per million input tokens
  int64_t price_output = 0;    // money micros per million output tokens
  int64_t price_request = 0;   // money micros per request
  int64_t context_length = 0;  // tokens
  int64_t max_output_tokens = 0;
  std::string jurisdiction;    // ISO 3166-1 alpha-2, upper case
  std::string region;
  bool zdr = false;
  bool trains_on_data = false;
  bool data_collection = true; // true = "allow": the provider stores or trains on data
  int64_t retention_days = 0;
  std::string quantization = "unknown";
  std::vector<std::string> supported_parameters;  // sorted, unique
  int64_t latency_p50 = 0;     // decimal micros, seconds
  int64_t throughput = 0;      // decimal micros, tokens per second
  int64_t uptime = kMicros;    // decimal micros, 0..1
  Tier tier = Tier::kStandard;
  bool byok = false;
  // Values of deployment-specific candidate fields (an extended schema's
  // `provider.*` / `endpoint.*` paths), from the endpoint's "attributes"
  // object: path -> JSON scalar text (bool as "true"/"false") or, for a
  // set/list of strings, its items. Converted to the field's type on Load.
  struct Attribute {
    std::string path;
    bool is_bool = false, is_array = false;
    std::string text;
    std::vector<std::string> items;
  };
  std::vector<Attribute> attributes;

  bool SupportsParameter(std::string_view p) const;
};

struct CatalogError {
  std::string code = "catalog_invalid";  // catalog_invalid | catalog_io_error | catalog_too_large
  std::string message;                   // lowercase, one line
};

// Known quantization names (OpenRouter's list plus the probe-observed ones)
// and ISO 3166-1 alpha-2 codes (upper case, officially assigned): the one
// definition is stdlib/field_values.h, shared with the decoder and checker.
bool IsKnownQuantization(std::string_view q);
bool IsCountryCode(std::string_view cc);

// ASCII case-insensitive equality: catalog slugs are lower case, and a
// caller's "OpenAI" in `ignore` must drop OpenAI, not nothing.
bool SameSlugText(std::string_view a, std::string_view b);

// True when provider `pattern` (an `only` / `ignore` / `order` entry of a
// request or an account) names endpoint `e`: its slug in any case, or the
// base slug of a standard-tier variant ("google-vertex" names
// "google-vertex/europe"). With `any_tier` (ignore) the base slug also names
// priority / flex endpoints ("openai" names "openai/priority").
// Cost: O(|pattern|), no allocation.
bool ProviderMatches(std::string_view pattern, const Endpoint& e, bool any_tier);

class Catalog {
 public:
  Catalog() = default;
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Parses and validates `json`; builds candidate records for `schema`
  // (which must outlive the catalog). On failure returns false, sets *error
  // and leaves *out empty.
  static bool Load(std::string_view json, const stdlib::Schema& schema, Catalog* out,
                   CatalogError* error);
  // Reads the file then Load(); I/O failures have code catalog_io_error.
  static bool LoadFile(const std::string& path, const stdlib::Schema& schema, Catalog* out,
                       CatalogError* error);

  size_t size() const { return endpoints_.size(); }
  const Endpoint& endpoint(size_t i) const { return endpoints_[i]; }
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  // The candidate record of endpoint i (estimated_cost slot is null).
  const vm::Record& candidate(size_t i) const { return records_[i]; }
  const stdlib::Schema* schema() const { return schema_; }
  // Candidate slot of endpoint.estimated_cost, or -1 when the schema lacks it.
  int estimated_cost_slot() const { return cost_slot_; }

  // Endpoint indices serving `model`, in catalog order; empty when none.
  const std::vector<uint32_t>& ForModel(std::string_view model) const;
  // The longest `max_output_tokens` among the endpoints serving endpoint i's
  // model (all tiers): the completion length the router's estimate counts
  // for every endpoint of that model when a request has no `max_tokens`
  // (docs/routing.md §2), so that endpoints compare on the same footing. O(1).
  int64_t model_max_output(size_t i) const { return model_max_output_[i]; }
  // Index of the endpoint with this id, or -1.
  int Find(std::string_view id) const;
  // The catalog model a bare model id names, as an application written for
  // one provider sends it (`gpt-4o` for the catalog's `openai/gpt-4o`): the
  // one model whose id after its first `/` is `bare`. "" when `bare` holds a
  // `/`, is itself a model of the catalog, or names no model or several
  // (`gpt-4o` with both `openai/gpt-4o` and `azure/gpt-4o`). O(1).
  std::string_view BareModel(std::string_view bare) const;

 private:
  static bool LoadUnguarded(std::string_view json, const stdlib::Schema& schema, Catalog* out,
                            CatalogError* error);
  bool Build(const stdlib::Schema& schema, CatalogError* error);

  std::vector<Endpoint> endpoints_;
  std::vector<vm::Record> records_;
  std::vector<int64_t> model_max_output_;  // per endpoint: its model's longest max output
  std::unordered_map<std::string_view, std::vector<uint32_t>, SvHash> by_model_;
  std::unordered_map<std::string_view, uint32_t, SvHash> by_id_;
  // model id after its first `/` -> the model id; "" when several share it
  std::unordered_map<std::string_view, std::string_view, SvHash> by_bare_;
  const stdlib::Schema* schema_ = nullptr;
  int cost_slot_ = -1;
};

}  // namespace tollgate::runtime
