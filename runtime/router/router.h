// The router: picks the catalog endpoints a request may go to, in order.
//
// ## Pipeline (docs/routing.md is the full reference)
//   1. candidates: the endpoints serving the requested model, then each
//      fallback model (`request.model_full`, `request.models_full`: the slugs
//      as sent; results stay partitioned by model entry in that order). A
//      `:nitro` / `:floor` suffix applies to its own entry only: that
//      partition sorts by throughput / price (unless an explicit sort says
//      otherwise) and admits priority / flex tier endpoints. The same model
//      with two variants (`m`, then `m:nitro`) is two partitions; an
//      endpoint is listed once, in the first entry that admits it. Any other
//      variant suffix (`:free`, ...) names the catalog's model of that slug.
//   2. policy: drop every candidate for which some `require` of
//      Decision::require_refs fails (or errors: fail closed). Predicates
//      that read only catalog fields are checked first; predicates that read
//      the request or the estimated cost run after the preference filters
//      (step 3), on the survivors only. The first failure is named. The
//      candidate's
//      `endpoint.estimated_cost` = input_tokens x input price / 1e6 +
//      (max_tokens, else the longest max output among the model's endpoints:
//      the same count for all of them) x n x output price / 1e6 +
//      per-request price (n = request.n, the completions asked for; null
//      = 1), exact, is filled in before the predicates run. It is an
//      estimate (input_tokens is (bytes + 3) / 4): budgets reserve an upper
//      bound instead (runtime::WorstCaseUsage, runtime/decide/budgets.h).
//   3. preferences (request `provider.*`, tightened by the account and the
//      policy's route hints): only, ignore, allow_fallbacks (with an `order`:
//      order providers only; without: the primary endpoint of each model
//      entry only, cut after ordering), service tier (`request.service_tier`
//      default / flex / priority: that tier only),
//      require_parameters, data_collection, zdr, quantizations, max_price,
//      route max_price, max_tokens, context length. All are hard filters.
//   4. order: `order` providers first (in that order), then by sort (price =
//      estimated cost, latency ascending, throughput descending); without a
//      sort: estimated cost ascending with endpoints below 0.95 uptime after
//      the healthy ones. preferred_max_latency / preferred_min_throughput move
//      violators down, never out. BYOK endpoints come first, except that a
//      request with `tools` puts endpoints not supporting `tools` after all
//      that do (even without require_parameters). Ties: endpoint id.
// The policy's sort wins over the account's, which wins over the request's;
// max prices combine to the lowest.
//
// ## Using it
//
//   std::string err;
//   auto router = runtime::Router::Create(*policy, catalog, &accounts, {}, &err);
//   runtime::RouteResult res;                   // reuse one per worker thread
//   router->Route(decision, request, &res);
//   runtime::ApplyRoute(res, &decision);        // nothing left -> deny
//   for (const auto& e : res.endpoints) Try(catalog.endpoint(e.endpoint));
//
// ## Failure
// Nothing left: RouteResult::code = route_no_eligible_endpoint, status 403
// when the policy (a require, or a route max_price cap) eliminated at least
// one candidate, else 404; the
// reason summarises and `eliminated` names, for every candidate, the code,
// rule / preference and detail. Without a policy elimination, when no
// catalog endpoint serves any model asked for or the account eliminated
// every candidate: code model_not_found (vm::kCodeModelNotFound), status
// 404, reason "the model `x` does not exist or you do not have access to it". An invalid preference value (sort word,
// data_collection word, unknown quantization, request.n below 1, a
// service_tier other than auto / default / flex / priority): code
// route_invalid_preference, status 400. A decision that already denies is not routed (kNotRouted).
// Memory running out while routing (std::bad_alloc) is caught: nothing is
// routed, code route_error, status 500 (kError); no exception leaves Route.
//
// ## Cost
// Require predicates that read no request field and not the estimated cost
// are evaluated once per (policy, catalog) in Create and kept as bitsets;
// only the others run per candidate. Route allocates nothing once the
// RouteResult's vectors have grown (explanation strings aside).
// Measured: tests/bench (500 endpoints, 10 requires).
//
// ## Thread safety
// A Router is immutable after Create: any number of threads may call Route
// concurrently, each with its own RouteResult. The Policy, Catalog and
// Accounts must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/vm/decision.h"
#include "engine/vm/record.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"

namespace tollgate::runtime {

// Why an endpoint was eliminated. Names (ElimCodeName) are stable.
enum class ElimCode : uint8_t {
  kPolicyRequire,         // policy_require: a `require` failed or errored
  kPrefOnly,              // pref_only
  kPrefIgnore,            // pref_ignore
  kPrefAllowFallbacks,    // pref_allow_fallbacks: not an `order` provider
  kTierNotSelected,       // tier_not_selected: priority/flex tier without :nitro/:floor,
                          // or not the request's service_tier (field "service_tier")
  kPrefRequireParameters, // pref_require_parameters
  kPrefDataCollection,    // pref_data_collection
  kPrefZdr,               // pref_zdr
  kPrefQuantization,      // pref_quantization
  kPrefMaxPrice,          // pref_max_price (request or account)
  kRouteMaxPrice,         // route_max_price (policy route hint)
  kMaxTokensExceeded,     // max_tokens_exceeded
  kContextTooSmall,       // context_too_small
};
const char* ElimCodeName(ElimCode c);

inline constexpr std::string_view kCodeNotRouted = "not_routed";
inline constexpr std::string_view kCodeRouted = "ok";
inline constexpr std::string_view kCodeInvalidPreference = "route_invalid_preference";
inline constexpr std::string_view kCodeRouteError = "route_error";  // out of memory

struct Elimination {
  uint32_t endpoint = 0;
  ElimCode code = ElimCode::kPolicyRequire;
  uint32_t rule = UINT32_MAX;     // policy_require: the rule; route_max_price: the rule that
                                  // set the cap (RouteHints::max_*_rule)
  uint32_t require = UINT32_MAX;  // policy_require: Program require index
  std::string_view source;        // "policy" | "request" | "account"
  std::string_view field;         // e.g. "provider.zdr"; the rule name for policy_require
  int64_t value = 0, limit = 0;   // max prices (money micros), max_tokens, context: value > limit;
                                  // policy_require: the candidate's estimated cost (money micros)
  std::string_view what;          // require_parameters: the unsupported parameter (points into the
                                  // request); allow_fallbacks: "primary" when cut as a fallback
                                  // because no `order` was given
  int32_t error = -1;             // policy_require that errored: index into RouteResult::errors
  // Human detail (predicate text, value vs limit, ...): EliminationDetail().
};

struct RoutedEndpoint {
  uint32_t endpoint = 0;          // Catalog index
  uint16_t model = 0;             // RouteResult::models index: the entry it was routed for
  int64_t estimated_cost = 0;     // money micros
};

struct RouteResult {
  enum class Outcome : uint8_t { kRouted, kNoEndpoint, kInvalidPreference, kNotRouted, kError };
  Outcome outcome = Outcome::kRouted;
  int status = 200;
  std::string_view code = kCodeRouted;
  std::string reason;
  std::vector<RoutedEndpoint> endpoints;  // primary first
  std::vector<Elimination> eliminated;    // catalog-candidate order
  // Routed endpoints a fired *shadow* rule's require would have eliminated
  // (source "shadow"; reported, never enforced).
  std::vector<Elimination> shadow_eliminated;
  // The model entries considered, in request order, as sent (`m`, `m:nitro`;
  // point into the request). A repeated entry is listed once; the same model
  // with another variant is its own entry (and partition).
  std::vector<std::string_view> models;
  std::vector<std::string> errors;        // require evaluation errors ("code: message")

  void Clear();

  // --- scratch reused between calls (not part of the result) ---
  vm::Record candidate;
  struct Entry { uint32_t endpoint; uint16_t model; int64_t cost; uint64_t key[3]; };
  std::vector<Entry> scratch;
  std::vector<vm::RequireRef> requires_in_order;
  std::vector<uint64_t> static_mask;
  std::vector<std::string_view> request_order;
};

struct RouteOptions {
  bool use_require_cache = true;  // false: evaluate every require per candidate
  vm::EvalOptions eval;
};

class Router {
 public:
  // Prepares routing `policy` over `catalog` (built for policy.schema()).
  // `accounts` may be null. Returns null with *error set when the catalog was
  // built for another schema, or when memory runs out (never throws). Cost:
  // evaluates request-independent requires once per endpoint.
  static std::unique_ptr<Router> Create(const Policy& policy, const Catalog& catalog,
                                        const Accounts* accounts, RouteOptions options,
                                        std::string* error);
  ~Router();

  // Never throws: memory running out gives RouteResult::Outcome::kError.
  void Route(const vm::Decision& decision, const vm::Record& request, RouteResult* out) const;

  const Catalog& catalog() const { return catalog_; }
  const vm::Program& program() const { return program_; }
  // Number of require predicates answered from the precomputed bitsets.
  size_t cached_require_count() const;

  struct Impl;

 private:
  Router(const Policy& policy, const Catalog& catalog, const Accounts* accounts, RouteOptions o);
  static std::unique_ptr<Router> CreateOrThrow(const Policy& policy, const Catalog& catalog,
                                               const Accounts* accounts, RouteOptions options,
                                               std::string* error);
  void RouteOrThrow(const vm::Decision& decision, const vm::Record& request, RouteResult* out) const;
  const vm::Program& program_;
  const Catalog& catalog_;
  std::unique_ptr<Impl> impl_;
};

// When the route left nothing (or a preference was invalid, or routing ran
// out of memory), turns the decision into the corresponding deny (code,
// status, reason). No-op otherwise. Never throws (the reason is left empty
// if copying it needs memory that is not there).
void ApplyRoute(const RouteResult& result, vm::Decision* decision);

// The worst-case completion tokens of one request on `ep`: (`max_tokens`,
// or the endpoint's max output when negative = absent) x `n` completions (n
// below 1 counts as 1). An overflowing product saturates at INT64_MAX, and
// so does every cost computed from it: no cap, budget or token limit admits
// it (fails closed). O(1).
int64_t WorstCaseCompletionTokens(int64_t max_tokens, int64_t n, const Endpoint& ep);

// The completion tokens the router's estimate (`endpoint.estimated_cost`)
// counts for endpoint `endpoint` of `catalog`: (`max_tokens`, or, when
// negative = absent, the longest max output among the catalog's endpoints of
// the same model, Catalog::model_max_output) x `n` (below 1 counts as 1),
// saturating at INT64_MAX. The same count for every endpoint of a model, so
// estimates differ by per-token prices only; never below the endpoint's own
// worst case (WorstCaseCompletionTokens). O(1).
int64_t EstimatedCompletionTokens(int64_t max_tokens, int64_t n, const Catalog& catalog,
                                  uint32_t endpoint);

// `endpoint.estimated_cost` of a candidate described field by field -- a
// decision input's `candidate` (runtime::DecodeCandidate) or a test's
// `candidate` block -- computed as the router computes it for a catalog
// endpoint (the same function, from the candidate's `endpoint.price_input`,
// `price_output`, `price_request` and, when the request has no max_tokens,
// `max_output_tokens`, with `request`'s input_tokens, max_tokens and n).
// Fills the slot and returns true only when it is null and the candidate
// gives both per-token prices (a missing per-request price counts 0, as in
// the catalog) and, without max_tokens, its max output; otherwise leaves the
// candidate unchanged (a require reading the cost then errors: fail closed).
// O(1).
bool DeriveEstimatedCost(const stdlib::Schema& schema, const vm::Record& request,
                         vm::Record* candidate);

// One line saying why, with the values compared: the predicate text and the
// candidate fields it read (`provider.jurisdiction in eu -- provider.jurisdiction
// = "US"`) plus, given the routed `request`, the request fields it read
// (message text as its length only), "endpoint.price_input 15 usd > max 2 usd",
// "provider.zdr = false", ... Built on demand so that routing itself formats
// no strings.
std::string EliminationDetail(const Catalog& catalog, const vm::Program& program,
                              const RouteResult& result, const Elimination& e,
                              const vm::Record* request = nullptr);

// JSON arrays for the CLI and gateway: [{"id","provider","model","estimated_cost"}]
// (plus "requested": the entry as sent, when it was a `:nitro` / `:floor` one) and
// [{"id","provider","model","code","source","field","rule","detail","values"}]
// ("values": policy_require only, candidate field path -> JSON value read).
std::string EndpointsJson(const Catalog& catalog, const RouteResult& result);
// `shadow` selects RouteResult::shadow_eliminated instead of `eliminated`.
std::string EliminatedJson(const Catalog& catalog, const vm::Program& program,
                           const RouteResult& result, bool shadow = false,
                           const vm::Record* request = nullptr);

}  // namespace tollgate::runtime
