// Endpoint selection. See router.h and docs/routing.md.
#include "runtime/router/router.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <new>
#include <optional>
#include <unordered_map>

#include "engine/core/json_buffer.h"
#include "engine/core/money.h"

namespace tollgate::runtime {

namespace {

constexpr int64_t kHealthyUptime = 950000;   // 0.95 in decimal micros
constexpr uint64_t kNoOrderRank = 0xFFFFF;    // 20 bits
// Ordering key[0], high to low: model partition | lacks requested tools (bit
// 40) | not BYOK (39) | order rank (16..35) | preference violator (8) | unhealthy (0).
constexpr int kPartitionShift = 41;
// `model` plus `models`: at most this many distinct models are considered
// (later entries are ignored; OpenRouter itself caps fallbacks far lower).
constexpr int kMaxModels = 64;

// Request fields the router reads, by schema path.
enum ReqField : int {
  kModel, kModels, kMaxTokens, kInputTokens, kParameters, kWorkspace,
  kOrder, kOnly, kIgnore, kAllowFallbacks, kRequireParameters, kDataCollection, kZdr,
  kQuantizations, kSort, kMaxPrompt, kMaxCompletion, kMaxRequest, kPrefLatency,
  kPrefThroughput, kSortPartition, kModelFull, kModelsFull, kN, kServiceTier, kReqFieldCount,
};
constexpr const char* kReqPaths[kReqFieldCount] = {
    "request.model", "request.models", "request.max_tokens", "request.input_tokens",
    "request.parameters", "principal.workspace", "request.provider.order",
    "request.provider.only", "request.provider.ignore", "request.provider.allow_fallbacks",
    "request.provider.require_parameters", "request.provider.data_collection",
    "request.provider.zdr", "request.provider.quantizations", "request.provider.sort",
    "request.provider.max_price.prompt", "request.provider.max_price.completion",
    "request.provider.max_price.request", "request.provider.preferred_max_latency",
    "request.provider.preferred_min_throughput", "request.provider.sort_partition",
    "request.model_full", "request.models_full", "request.n", "request.service_tier",
};

// Items of a set or list value; empty for null or anything else.
const std::vector<Value>& Items(const Value& v) {
  static const std::vector<Value> kNone;
  if (v.kind == Kind::kSet && v.set) return v.set->items;
  if (v.kind == Kind::kList && v.list) return v.list->items;
  return kNone;
}

template <typename List>
bool AnyMatches(const List& patterns, const Endpoint& e, bool any_tier) {
  for (const auto& x : patterns) {
    std::string_view s;
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Value>) s = x.sv();
    else s = x;
    if (ProviderMatches(s, e, any_tier)) return true;
  }
  return false;
}

uint64_t OrderRank(const std::vector<std::string_view>& order, const Endpoint& e) {
  for (size_t i = 0; i < order.size() && i < kNoOrderRank; ++i) {
    if (ProviderMatches(order[i], e, false)) return i;
  }
  return kNoOrderRank;
}

// Exact estimate in money micros; saturates instead of overflowing.
int64_t EstimateCost(int64_t input_tokens, int64_t output_tokens, const Endpoint& e) {
  int64_t a, b, n64;
  if (!__builtin_mul_overflow(input_tokens, e.price_input, &a) &&
      !__builtin_mul_overflow(output_tokens, e.price_output, &b) &&
      !__builtin_add_overflow(a, b, &n64)) {
    int64_t q = n64 / kMicros, r = n64 % kMicros;
    if (r * 2 > kMicros || (r * 2 == kMicros && (q & 1))) ++q;  // half to even (n >= 0)
    return q + e.price_request;  // both <= ~9.2e12 here: no overflow
  }
  __int128 n = static_cast<__int128>(input_tokens) * e.price_input +
               static_cast<__int128>(output_tokens) * e.price_output;
  __int128 q = n / kMicros, r = n % kMicros;
  if (r * 2 > kMicros || (r * 2 == kMicros && (q & 1))) ++q;  // half to even (n >= 0)
  q += e.price_request;
  return q > INT64_MAX ? INT64_MAX : static_cast<int64_t>(q);
}

std::string Money(int64_t micros) { return FormatMicros(micros) + " usd"; }

}  // namespace

int64_t WorstCaseCompletionTokens(int64_t max_tokens, int64_t n, const Endpoint& ep) {
  const int64_t per = std::max<int64_t>(0, max_tokens >= 0 ? max_tokens : ep.max_output_tokens);
  return MulChecked(per, std::max<int64_t>(1, n)).value_or(INT64_MAX);
}

int64_t EstimatedCompletionTokens(int64_t max_tokens, int64_t n, const Catalog& catalog,
                                  uint32_t endpoint) {
  const int64_t per =
      std::max<int64_t>(0, max_tokens >= 0 ? max_tokens : catalog.model_max_output(endpoint));
  return MulChecked(per, std::max<int64_t>(1, n)).value_or(INT64_MAX);
}

bool DeriveEstimatedCost(const stdlib::Schema& schema, const vm::Record& request,
                         vm::Record* candidate) {
  auto slot_of = [&](const char* path, ast::Scope scope, const vm::Record& rec) -> const Value* {
    int id = schema.Find(path);
    if (id < 0 || schema.field(id).scope != scope) return nullptr;
    size_t s = static_cast<size_t>(schema.field(id).slot);
    return s < rec.slots.size() ? &rec.slots[s] : nullptr;
  };
  const int cost_id = schema.Find("endpoint.estimated_cost");
  if (cost_id < 0 || schema.field(cost_id).scope != ast::Scope::kCandidate ||
      !schema.field(cost_id).type.is(Kind::kMoney))
    return false;
  const size_t cost_slot = static_cast<size_t>(schema.field(cost_id).slot);
  if (cost_slot >= candidate->slots.size() || !candidate->slots[cost_slot].is_null()) return false;
  auto cand = [&](const char* path) { return slot_of(path, ast::Scope::kCandidate, *candidate); };
  auto req = [&](const char* path) { return slot_of(path, ast::Scope::kRequest, request); };
  const Value* in = cand("endpoint.price_input");
  const Value* outp = cand("endpoint.price_output");
  const Value* per_request = cand("endpoint.price_request");
  const Value* max_out = cand("endpoint.max_output_tokens");
  if (!in || !outp || in->kind != Kind::kMoney || outp->kind != Kind::kMoney) return false;
  // The request's figures, read as Router::Route reads them.
  int64_t input_tokens = 0, max_tokens = -1, n = 1;
  if (const Value* v = req("request.input_tokens"); v && v->kind == Kind::kInt)
    input_tokens = std::max<int64_t>(0, v->i);
  if (const Value* v = req("request.max_tokens"); v && v->kind == Kind::kInt) max_tokens = v->i;
  if (const Value* v = req("request.n"); v && v->kind == Kind::kInt) n = v->i;
  // Without max_tokens the router bills the endpoint's max output: unknown
  // here unless the candidate gives it.
  if (max_tokens < 0 && (!max_out || max_out->kind != Kind::kInt)) return false;
  Endpoint ep;
  ep.price_input = in->i;
  ep.price_output = outp->i;
  // Optional in the catalog too (`pricing.per_request`, 0 when absent).
  ep.price_request = per_request && per_request->kind == Kind::kMoney ? per_request->i : 0;
  ep.max_output_tokens = max_out && max_out->kind == Kind::kInt ? max_out->i : 0;
  candidate->slots[cost_slot] =
      Value::Money(EstimateCost(input_tokens, WorstCaseCompletionTokens(max_tokens, n, ep), ep));
  return true;
}

const char* ElimCodeName(ElimCode c) {
  switch (c) {
    case ElimCode::kPolicyRequire: return "policy_require";
    case ElimCode::kPrefOnly: return "pref_only";
    case ElimCode::kPrefIgnore: return "pref_ignore";
    case ElimCode::kPrefAllowFallbacks: return "pref_allow_fallbacks";
    case ElimCode::kTierNotSelected: return "tier_not_selected";
    case ElimCode::kPrefRequireParameters: return "pref_require_parameters";
    case ElimCode::kPrefDataCollection: return "pref_data_collection";
    case ElimCode::kPrefZdr: return "pref_zdr";
    case ElimCode::kPrefQuantization: return "pref_quantization";
    case ElimCode::kPrefMaxPrice: return "pref_max_price";
    case ElimCode::kRouteMaxPrice: return "route_max_price";
    case ElimCode::kMaxTokensExceeded: return "max_tokens_exceeded";
    case ElimCode::kContextTooSmall: return "context_too_small";
  }
  return "unknown";
}

void RouteResult::Clear() {
  outcome = Outcome::kRouted;
  status = 200;
  code = kCodeRouted;
  reason.clear();
  endpoints.clear();
  eliminated.clear();
  shadow_eliminated.clear();
  models.clear();
  errors.clear();
  scratch.clear();
  requires_in_order.clear();
  request_order.clear();
}

struct Router::Impl {
  const Accounts* accounts = nullptr;
  RouteOptions options;
  int slot[kReqFieldCount];
  int cost_slot = -1;
  vm::Record empty_request;  // every request slot null
  // Per Program require: precomputed when it reads no request field and not
  // the estimated cost. INVARIANT: pass[r] has one bit per catalog endpoint.
  std::vector<uint8_t> is_static;  // reads only catalog fields (whether cached or not)
  std::vector<std::vector<uint64_t>> pass;
  std::vector<std::unordered_map<uint32_t, std::string>> errors;  // endpoint -> error text
  size_t cached = 0;
};

Router::Router(const Policy& policy, const Catalog& catalog, const Accounts* accounts,
               RouteOptions o)
    : program_(policy.program()), catalog_(catalog), impl_(std::make_unique<Impl>()) {
  impl_->accounts = accounts;
  impl_->options = o;
}

Router::~Router() = default;

size_t Router::cached_require_count() const { return impl_->cached; }

std::unique_ptr<Router> Router::Create(const Policy& policy, const Catalog& catalog,
                                       const Accounts* accounts, RouteOptions options,
                                       std::string* error) {
  try {
    return CreateOrThrow(policy, catalog, accounts, options, error);
  } catch (const std::bad_alloc&) {
    try {
      *error = "out of memory while preparing the router";
    } catch (...) {
    }
    return nullptr;
  }
}

std::unique_ptr<Router> Router::CreateOrThrow(const Policy& policy, const Catalog& catalog,
                                              const Accounts* accounts, RouteOptions options,
                                              std::string* error) {
  const stdlib::Schema& schema = policy.schema();
  if (catalog.schema() != &schema) {
    *error = "the catalog was loaded for a different schema than the policy's";
    return nullptr;
  }
  std::unique_ptr<Router> r(new Router(policy, catalog, accounts, options));
  Impl& im = *r->impl_;
  for (int f = 0; f < kReqFieldCount; ++f) {
    int id = schema.Find(kReqPaths[f]);
    im.slot[f] = id >= 0 && schema.field(id).scope == ast::Scope::kRequest ? schema.field(id).slot : -1;
  }
  im.cost_slot = catalog.estimated_cost_slot();
  im.empty_request.slots.assign(schema.slot_count(ast::Scope::kRequest), Value::Null());
  const auto& reqs = r->program_.require_infos();
  im.is_static.assign(reqs.size(), 0);
  im.pass.resize(reqs.size());
  im.errors.resize(reqs.size());
  for (uint32_t q = 0; q < reqs.size(); ++q) {
    const vm::RequireInfo& info = reqs[q];
    bool reads_cost = std::find(info.candidate_slots.begin(), info.candidate_slots.end(),
                                im.cost_slot) != info.candidate_slots.end();
    im.is_static[q] = info.request_slots.empty() && !reads_cost;
  }
  if (!options.use_require_cache) return r;
  for (uint32_t q = 0; q < reqs.size(); ++q) {
    if (!im.is_static[q]) continue;
    ++im.cached;
    std::vector<uint64_t>& bits = im.pass[q];
    bits.assign((catalog.size() + 63) / 64, 0);
    for (uint32_t e = 0; e < catalog.size(); ++e) {
      vm::RequireResult res =
          vm::EvalRequire(r->program_, q, im.empty_request, catalog.candidate(e), options.eval);
      if (res.pass) bits[e / 64] |= uint64_t{1} << (e % 64);
      else if (res.error) im.errors[q][e] = std::string(res.code) + ": " + res.message;
    }
  }
  return r;
}

namespace {

// A routing variant of one model entry: `:nitro` / `:floor`.
enum class Variant : uint8_t { kNone, kNitro, kFloor };

// One entry of the request's model list (`model`, then each of `models`),
// with its own routing variant. INVARIANT: no two entries have the same
// (key, variant); entries of one key with different variants are distinct
// partitions, in request order.
struct ModelEntry {
  std::string_view slug;  // as sent ("openai/gpt-4o:nitro")
  std::string_view key;   // the catalog model: slug without :nitro / :floor
  Variant variant = Variant::kNone;
  bool shared_key = false;  // another entry has the same key
  vm::SortBy sort = vm::SortBy::kNone;  // effective sort of this entry's partition
};

// The sort a routing variant asks for.
vm::SortBy VariantSort(Variant v) {
  return v == Variant::kNitro ? vm::SortBy::kThroughput
         : v == Variant::kFloor ? vm::SortBy::kPrice : vm::SortBy::kNone;
}

// Whether an entry with variant `v` makes endpoint `ep` eligible by its tier:
// standard always, priority with :nitro, flex with :floor.
bool VariantAdmits(Variant v, const Endpoint& ep) {
  return ep.tier == Tier::kStandard || (ep.tier == Tier::kPriority && v == Variant::kNitro) ||
         (ep.tier == Tier::kFlex && v == Variant::kFloor);
}

// The request's preferences after validation and merging.
struct Prefs {
  ModelEntry models[kMaxModels];
  int n_models = 0;
  int64_t input_tokens = 0;
  int64_t max_tokens = -1;
  int64_t n = 1;  // request.n: completions asked for (each billed)
  // request.service_tier `default` / `flex` / `priority`: only that tier's
  // endpoints (what the upstream is asked for and billed at); else null.
  std::optional<Tier> tier;
  const Value* parameters = nullptr;
  const Value* only = nullptr;
  const Value* ignore = nullptr;
  const Value* quantizations = nullptr;
  const std::vector<std::string_view>* order = nullptr;     // effective (policy's, else request's)
  const std::vector<std::string_view>* fb_order = nullptr;  // allow_fallbacks=false keeps these
  bool no_fallbacks = false;
  bool require_parameters = false;
  bool deny_dc_request = false;
  bool zdr_request = false;
  int64_t max_prompt = -1, max_completion = -1, max_request = -1;  // request's
  vm::SortBy sort = vm::SortBy::kNone;  // explicit: policy's, else account's, else request's
  bool partition_none = false;  // provider.sort.partition "none": one global sort
  int64_t pref_latency = -1, pref_throughput = -1;
  const AccountPrefs* account = nullptr;
};

}  // namespace

void Router::Route(const vm::Decision& d, const vm::Record& request, RouteResult* out) const {
  try {
    RouteOrThrow(d, request, out);
  } catch (const std::bad_alloc&) {
    // Nothing is routed; the partial result is dropped (clear never allocates).
    out->Clear();
    out->outcome = RouteResult::Outcome::kError;
    out->status = 500;
    out->code = kCodeRouteError;
    try {
      out->reason = "routing ran out of memory";
    } catch (...) {
    }
  }
}

void Router::RouteOrThrow(const vm::Decision& d, const vm::Record& request, RouteResult* out) const {
  out->Clear();
  const Impl& im = *impl_;
  if (d.outcome == vm::Outcome::kDeny) {
    out->outcome = RouteResult::Outcome::kNotRouted;
    out->status = d.status;
    out->code = kCodeNotRouted;
    out->reason = "the decision denies the request; nothing was routed";
    return;
  }
  auto get = [&](int f) -> const Value& {
    static const Value kNull;
    int s = im.slot[f];
    return s >= 0 && s < static_cast<int>(request.slots.size()) ? request.slots[s] : kNull;
  };
  auto invalid = [&](std::string msg) {
    out->outcome = RouteResult::Outcome::kInvalidPreference;
    out->status = 400;
    out->code = kCodeInvalidPreference;
    out->reason = std::move(msg);
  };

  // --- 1. read and validate the request's preferences ---
  Prefs p;
  // Each entry keeps its own variant: `{"model": "m", "models": ["m:nitro"]}`
  // is the plain model first, then its :nitro variant as a fallback.
  auto add_model = [&](std::string_view m) {
    ModelEntry en;
    en.slug = m;
    if (m.size() > 6 && m.substr(m.size() - 6) == ":nitro") { en.variant = Variant::kNitro; m.remove_suffix(6); }
    else if (m.size() > 6 && m.substr(m.size() - 6) == ":floor") { en.variant = Variant::kFloor; m.remove_suffix(6); }
    en.key = m;
    for (int i = 0; i < p.n_models; ++i) {
      ModelEntry& o = p.models[i];
      if (o.key != m) continue;
      if (o.variant == en.variant) return;  // a repeated entry adds nothing
      o.shared_key = en.shared_key = true;
    }
    if (p.n_models < kMaxModels) p.models[p.n_models++] = en;
  };
  // The slugs as sent (variant suffixes included): request.model and
  // request.models hold canonical ids (names.h) for policies.
  const Value& model = get(kModelFull).kind == Kind::kString ? get(kModelFull) : get(kModel);
  if (model.kind == Kind::kString) add_model(model.sv());
  const Value& fallbacks = !Items(get(kModelsFull)).empty() ? get(kModelsFull) : get(kModels);
  for (const Value& m : Items(fallbacks)) if (m.kind == Kind::kString) add_model(m.sv());
  const Value& it = get(kInputTokens);
  if (it.kind == Kind::kInt) p.input_tokens = std::max<int64_t>(0, it.i);
  const Value& mt = get(kMaxTokens);
  if (mt.kind == Kind::kInt) {
    if (mt.i < 0) return invalid("`max_tokens` must not be negative");
    p.max_tokens = mt.i;
  }
  const Value& nv = get(kN);
  if (nv.kind == Kind::kInt) {
    if (nv.i < 1) {
      return invalid("`n` (the number of completions) must be at least 1, got " +
                     std::to_string(nv.i));
    }
    p.n = nv.i;
  }
  const Value& st = get(kServiceTier);
  if (st.kind == Kind::kString && st.sv() != "auto") {
    for (Tier t : {Tier::kStandard, Tier::kFlex, Tier::kPriority}) {
      if (st.sv() == ServiceTierName(t)) p.tier = t;
    }
    if (!p.tier) {
      return invalid("`service_tier` must be `auto`, `default`, `flex` or `priority`, got `" +
                     std::string(st.sv()) + "`" +
                     (st.sv() == "scale" ? " (the catalog prices no scale tier)" : ""));
    }
  }
  p.parameters = &get(kParameters);
  p.only = &get(kOnly);
  p.ignore = &get(kIgnore);
  p.quantizations = &get(kQuantizations);
  for (const Value& q : Items(*p.quantizations)) {
    if (!IsKnownQuantization(q.sv())) {
      return invalid("unknown quantization `" + std::string(q.sv()) +
                     "` in `provider.quantizations` (int4, int8, fp4, fp6, fp8, fp16, bf16, "
                     "fp32, mxfp4, nvfp4, mxfp8, unknown)");
    }
  }
  const Value& dc = get(kDataCollection);
  if (dc.kind == Kind::kString) {
    if (dc.sv() != "allow" && dc.sv() != "deny") {
      return invalid("`provider.data_collection` must be `allow` or `deny`, got `" +
                     std::string(dc.sv()) + "`");
    }
    p.deny_dc_request = dc.sv() == "deny";
  }
  const Value& srt = get(kSort);
  if (srt.kind == Kind::kString && !ParseSortWord(srt.sv(), &p.sort)) {
    return invalid("`provider.sort` must be `price`, `latency` or `throughput`, got `" +
                   std::string(srt.sv()) + "`");
  }
  p.partition_none = get(kSortPartition).kind == Kind::kString && get(kSortPartition).sv() == "none";
  p.zdr_request = get(kZdr).kind == Kind::kBool && get(kZdr).b;
  p.require_parameters = get(kRequireParameters).kind == Kind::kBool && get(kRequireParameters).b;
  p.no_fallbacks = get(kAllowFallbacks).kind == Kind::kBool && !get(kAllowFallbacks).b;
  struct { int f; int64_t* dst; const char* name; } prices[] = {
      {kMaxPrompt, &p.max_prompt, "prompt"}, {kMaxCompletion, &p.max_completion, "completion"},
      {kMaxRequest, &p.max_request, "request"}, {kPrefLatency, &p.pref_latency, nullptr},
      {kPrefThroughput, &p.pref_throughput, nullptr}};
  for (auto& pr : prices) {
    const Value& v = get(pr.f);
    if (v.kind != Kind::kMoney && v.kind != Kind::kDecimal && v.kind != Kind::kInt) continue;
    int64_t m = AsMicros(v);
    if (m < 0) {
      return invalid(pr.name ? "`provider.max_price." + std::string(pr.name) + "` must not be negative"
                             : std::string("preferred latency and throughput must not be negative"));
    }
    *pr.dst = m;
  }
  for (const Value& o : Items(get(kOrder))) out->request_order.push_back(o.sv());
  p.order = d.route.order.empty() ? &out->request_order : &d.route.order;
  p.fb_order = out->request_order.empty() ? &d.route.order : &out->request_order;

  // --- 2. merge account defaults and policy hints (the stricter wins) ---
  static const AccountPrefs kNoAccount;
  p.account = &kNoAccount;
  if (im.accounts) {
    const Value& ws = get(kWorkspace);
    p.account = &im.accounts->For(ws.kind == Kind::kString ? ws.sv() : std::string_view());
  }
  const AccountPrefs& acct = *p.account;
  if (acct.sort != vm::SortBy::kNone) p.sort = acct.sort;
  if (d.route.sort != vm::SortBy::kNone) p.sort = d.route.sort;
  // Per entry: the explicit sort (policy > account > request), else its
  // variant's. One global order (partition `none`) needs one metric: the
  // primary entry's.
  for (int i = 0; i < p.n_models; ++i) {
    ModelEntry& m = p.models[i];
    m.sort = p.sort != vm::SortBy::kNone ? p.sort
             : p.partition_none && i > 0  ? p.models[0].sort
                                          : VariantSort(m.variant);
    out->models.push_back(m.slug);
  }

  // --- 3. candidates and filters ---
  const bool cached = im.options.use_require_cache;
  const auto& rules = program_.rules();
  bool policy_eliminated = false;
  const std::vector<Value>& only_items = Items(*p.only);
  const std::vector<Value>& ignore_items = Items(*p.ignore);
  const std::vector<Value>& quant_items = Items(*p.quantizations);
  const std::vector<Value>& param_items = Items(*p.parameters);
  // A request with tools prefers endpoints that support them, even without
  // require_parameters (those that do not are ordered last, never dropped).
  bool wants_tools = false;
  for (const Value& prm : param_items) wants_tools = wants_tools || prm.sv() == "tools";
  // INVARIANT: every RequireRef names a require of this program.
  for (const vm::RequireRef& ref : d.require_refs) out->requires_in_order.push_back(ref);
  if (cached) {  // candidates passing every fired catalog-only require
    out->static_mask.assign((catalog_.size() + 63) / 64, ~uint64_t{0});
    for (const vm::RequireRef& ref : d.require_refs) {
      if (!im.is_static[ref.require]) continue;
      for (size_t w = 0; w < out->static_mask.size(); ++w) out->static_mask[w] &= im.pass[ref.require][w];
    }
  }
  size_t n_candidates = 0;
  // A service-tier endpoint named by its exact slug in `only` or `order`
  // is eligible whatever the variant. Both orders count: a policy's `route
  // order` replaces the request's for ordering only, so it must not take
  // away a tier the caller chose by its slug (with allow_fallbacks:false the
  // request's order is also the one that filters).
  auto slug_chosen = [&](const Endpoint& ep) {
    for (const Value& o : only_items) if (SameSlugText(o.sv(), ep.provider)) return true;
    for (std::string_view o : out->request_order) if (SameSlugText(o, ep.provider)) return true;
    for (std::string_view o : d.route.order) if (SameSlugText(o, ep.provider)) return true;
    return false;
  };
  for (int mi = 0; mi < p.n_models; ++mi) {
    const ModelEntry& entry = p.models[mi];
    for (uint32_t e : catalog_.ForModel(entry.key)) {
      const Endpoint& ep = catalog_.endpoint(e);
      // When several entries name this model (`m`, `m:nitro`), the endpoint
      // is a candidate of one of them only, so it is listed (or eliminated)
      // once: the first entry whose variant admits its tier, else the first
      // entry of the model (where it is eliminated as tier_not_selected).
      // Every other filter is the same for all entries of a model.
      if (entry.shared_key) {
        int owner = -1, first = -1;
        const bool by_slug = ep.tier != Tier::kStandard && slug_chosen(ep);
        for (int j = 0; j < p.n_models && owner < 0; ++j) {
          if (p.models[j].key != entry.key) continue;
          if (first < 0) first = j;
          if (by_slug || VariantAdmits(p.models[j].variant, ep)) owner = j;
        }
        if ((owner >= 0 ? owner : first) != mi) continue;
      }
      ++n_candidates;
      // The estimate counts the same completion length for every endpoint of
      // the model (max_tokens, else the model's longest max output), so that
      // the price sort and a cost cap compare per-token prices: an endpoint
      // with a short output limit must not look cheaper for it. The budget
      // reservation keeps the endpoint's own worst case (WorstCaseUsage).
      const int64_t cost = EstimateCost(p.input_tokens, EstimatedCompletionTokens(p.max_tokens, p.n, catalog_, e), ep);
      Elimination el;
      el.endpoint = e;
      auto drop = [&](ElimCode c, std::string_view source, std::string_view field,
                      int64_t value = 0, int64_t limit = 0) {
        el.code = c;
        el.source = source;
        el.field = field;
        el.value = value;
        el.limit = limit;
        out->eliminated.push_back(std::move(el));
      };
      // Policy requires: `group` 0 = catalog-only predicates, 1 = the others.
      // Returns false (and records the elimination) at the first failure.
      bool candidate_ready = false;
      auto requires_hold = [&](int group) {
        if (group == 0 && cached && (out->static_mask[e / 64] >> (e % 64)) & 1) return true;
        for (const vm::RequireRef& ref : out->requires_in_order) {
          const bool st = im.is_static[ref.require];
          if (st != (group == 0)) continue;
          bool pass;
          std::string err;
          if (cached && st) {
            pass = (im.pass[ref.require][e / 64] >> (e % 64)) & 1;
            if (!pass && !im.errors[ref.require].empty()) {
              auto f = im.errors[ref.require].find(e);
              if (f != im.errors[ref.require].end()) err = f->second;
            }
          } else {
            if (!candidate_ready) {
              out->candidate.slots = catalog_.candidate(e).slots;
              if (im.cost_slot >= 0) out->candidate.slots[im.cost_slot] = Value::Money(cost);
              candidate_ready = true;
            }
            vm::RequireResult r =
                vm::EvalRequire(program_, ref.require, request, out->candidate, im.options.eval);
            pass = r.pass;
            if (!pass && r.error) err = std::string(r.code) + ": " + r.message;
          }
          if (pass) continue;
          el.rule = ref.rule;
          el.require = ref.require;
          if (!err.empty()) {
            el.error = static_cast<int32_t>(out->errors.size());
            out->errors.push_back(std::move(err));
          }
          drop(ElimCode::kPolicyRequire, "policy",
               ref.rule < rules.size() ? std::string_view(rules[ref.rule].name) : "", cost);
          policy_eliminated = true;
          return false;
        }
        return true;
      };
      if (!requires_hold(0)) continue;
      // Preferences: request first, then account, then policy route hints.
      if (!only_items.empty() && !AnyMatches(only_items, ep, false)) {
        drop(ElimCode::kPrefOnly, "request", "provider.only");
        continue;
      }
      bool acct_only_fail = false;
      for (const auto& list : acct.only) if (!AnyMatches(list, ep, false)) acct_only_fail = true;
      if (acct_only_fail) {
        drop(ElimCode::kPrefOnly, "account", "provider.only");
        continue;
      }
      if (AnyMatches(ignore_items, ep, true)) {
        drop(ElimCode::kPrefIgnore, "request", "provider.ignore");
        continue;
      }
      if (AnyMatches(acct.ignore, ep, true)) {
        drop(ElimCode::kPrefIgnore, "account", "provider.ignore");
        continue;
      }
      if (p.no_fallbacks && !p.fb_order->empty() && OrderRank(*p.fb_order, ep) == kNoOrderRank) {
        drop(ElimCode::kPrefAllowFallbacks, "request", "provider.allow_fallbacks");
        continue;
      }
      if (p.tier) {
        if (ep.tier != *p.tier) {
          drop(ElimCode::kTierNotSelected, "request", "service_tier");
          continue;
        }
      } else if (ep.tier != Tier::kStandard) {
        if (!VariantAdmits(entry.variant, ep) && !slug_chosen(ep)) {
          drop(ElimCode::kTierNotSelected, "request", "model");
          continue;
        }
      }
      if (p.require_parameters) {
        std::string_view missing;
        for (const Value& prm : param_items) {
          if (!ep.SupportsParameter(prm.sv())) { missing = prm.sv(); break; }
        }
        if (!missing.empty()) {
          el.what = missing;
          drop(ElimCode::kPrefRequireParameters, "request", "provider.require_parameters");
          continue;
        }
      }
      if ((p.deny_dc_request || acct.deny_data_collection) && (ep.data_collection || ep.trains_on_data)) {
        drop(ElimCode::kPrefDataCollection, p.deny_dc_request ? "request" : "account", "provider.data_collection");
        continue;
      }
      if ((p.zdr_request || acct.zdr) && !ep.zdr) {
        drop(ElimCode::kPrefZdr, p.zdr_request ? "request" : "account", "provider.zdr");
        continue;
      }
      if (!quant_items.empty()) {
        bool ok = false;
        for (const Value& q : quant_items) ok = ok || q.sv() == ep.quantization;
        if (!ok) {
          drop(ElimCode::kPrefQuantization, "request", "provider.quantizations");
          continue;
        }
      }
      bool qfail = false;
      for (const auto& list : acct.quantizations) {
        if (std::find(list.begin(), list.end(), ep.quantization) == list.end()) qfail = true;
      }
      if (qfail) {
        drop(ElimCode::kPrefQuantization, "account", "provider.quantizations");
        continue;
      }
      // Max prices: request, account (pref_max_price), policy (route_max_price).
      // A policy cap names the rule that set it (the lowest value's).
      struct Cap {
        int64_t limit; int64_t value; ElimCode code; std::string_view source, field;
        uint32_t rule = UINT32_MAX;
      };
      const Cap caps[] = {
          {p.max_prompt, ep.price_input, ElimCode::kPrefMaxPrice, "request", "provider.max_price.prompt"},
          {p.max_completion, ep.price_output, ElimCode::kPrefMaxPrice, "request", "provider.max_price.completion"},
          {p.max_request, ep.price_request, ElimCode::kPrefMaxPrice, "request", "provider.max_price.request"},
          {acct.max_prompt, ep.price_input, ElimCode::kPrefMaxPrice, "account", "provider.max_price.prompt"},
          {acct.max_completion, ep.price_output, ElimCode::kPrefMaxPrice, "account", "provider.max_price.completion"},
          {acct.max_request, ep.price_request, ElimCode::kPrefMaxPrice, "account", "provider.max_price.request"},
          {d.route.max_prompt, ep.price_input, ElimCode::kRouteMaxPrice, "policy", "route.max_price.prompt",
           d.route.max_prompt_rule},
          {d.route.max_completion, ep.price_output, ElimCode::kRouteMaxPrice, "policy",
           "route.max_price.completion", d.route.max_completion_rule},
          {d.route.max_request, ep.price_request, ElimCode::kRouteMaxPrice, "policy", "route.max_price.request",
           d.route.max_request_rule},
          {d.route.max_request_cost, cost, ElimCode::kRouteMaxPrice, "policy", "route.max_price",
           d.route.max_request_cost_rule},
      };
      const Cap* hit = nullptr;
      for (const Cap& c : caps) {
        if (c.limit >= 0 && c.value > c.limit) { hit = &c; break; }
      }
      if (hit) {
        if (hit->code == ElimCode::kRouteMaxPrice) {
          el.rule = hit->rule;
          policy_eliminated = true;  // the policy's cap: a governance decision (403)
        }
        drop(hit->code, hit->source, hit->field, hit->value, hit->limit);
        continue;
      }
      if (p.max_tokens > ep.max_output_tokens) {
        drop(ElimCode::kMaxTokensExceeded, "request", "max_tokens", p.max_tokens, ep.max_output_tokens);
        continue;
      }
      const int64_t needed = p.input_tokens + std::max<int64_t>(p.max_tokens, 0);
      if (needed > ep.context_length) {
        drop(ElimCode::kContextTooSmall, "request", "input_tokens", needed, ep.context_length);
        continue;
      }
      if (!requires_hold(1)) continue;
      // --- 4. survivor: its ordering key ---
      RouteResult::Entry en{e, static_cast<uint16_t>(mi), cost, {0, 0, 0}};
      const bool violator = (p.pref_latency >= 0 && ep.latency_p50 > p.pref_latency) ||
                            (p.pref_throughput >= 0 && ep.throughput < p.pref_throughput);
      const bool unhealthy = entry.sort == vm::SortBy::kNone && ep.uptime < kHealthyUptime;
      const bool lacks_tools = wants_tools && !ep.SupportsParameter("tools");
      en.key[0] = (static_cast<uint64_t>(p.partition_none ? 0 : mi) << kPartitionShift) |
                  (uint64_t{lacks_tools} << 40) | (uint64_t{ep.byok ? 0u : 1u} << 39) |
                  (OrderRank(*p.order, ep) << 16) | (uint64_t{violator} << 8) | uint64_t{unhealthy};
      switch (entry.sort) {
        case vm::SortBy::kLatency: en.key[1] = static_cast<uint64_t>(ep.latency_p50); break;
        case vm::SortBy::kThroughput: en.key[1] = UINT64_MAX - static_cast<uint64_t>(ep.throughput); break;
        default: en.key[1] = static_cast<uint64_t>(cost); break;
      }
      out->scratch.push_back(en);
    }
  }
  std::sort(out->scratch.begin(), out->scratch.end(),
            [&](const RouteResult::Entry& a, const RouteResult::Entry& b) {
              if (a.key[0] != b.key[0]) return a.key[0] < b.key[0];
              if (a.key[1] != b.key[1]) return a.key[1] < b.key[1];
              return catalog_.endpoint(a.endpoint).id < catalog_.endpoint(b.endpoint).id;
            });
  // allow_fallbacks: false without any `order` means the primary endpoint
  // only (OpenRouter): the first of each model partition is kept.
  const bool primary_only = p.no_fallbacks && p.fb_order->empty();
  uint64_t last_partition = UINT64_MAX;
  for (const RouteResult::Entry& en : out->scratch) {
    const uint64_t partition = en.key[0] >> kPartitionShift;
    if (primary_only && partition == last_partition) {
      Elimination el;
      el.endpoint = en.endpoint;
      el.code = ElimCode::kPrefAllowFallbacks;
      el.source = "request";
      el.field = "provider.allow_fallbacks";
      el.what = "primary";
      out->eliminated.push_back(std::move(el));
      continue;
    }
    last_partition = partition;
    out->endpoints.push_back({en.endpoint, en.model, en.cost});
  }
  // Shadow requires are reported, never enforced: which routed endpoints
  // they would have eliminated (first failing shadow require per endpoint).
  if (!d.shadow_requires.empty()) {
    for (const RoutedEndpoint& r : out->endpoints) {
      out->candidate.slots = catalog_.candidate(r.endpoint).slots;
      if (im.cost_slot >= 0) out->candidate.slots[im.cost_slot] = Value::Money(r.estimated_cost);
      for (const vm::RequireRef& ref : d.shadow_requires) {
        vm::RequireResult res =
            vm::EvalRequire(program_, ref.require, request, out->candidate, im.options.eval);
        if (res.pass) continue;
        Elimination el;
        el.endpoint = r.endpoint;
        el.code = ElimCode::kPolicyRequire;
        el.rule = ref.rule;
        el.require = ref.require;
        el.source = "shadow";
        el.value = r.estimated_cost;
        el.field = ref.rule < rules.size() ? std::string_view(rules[ref.rule].name) : "";
        if (res.error) {
          el.error = static_cast<int32_t>(out->errors.size());
          out->errors.push_back(std::string(res.code) + ": " + res.message);
        }
        out->shadow_eliminated.push_back(std::move(el));
        break;
      }
    }
  }
  if (!out->endpoints.empty()) return;

  // --- 5. nothing left: explain ---
  out->outcome = RouteResult::Outcome::kNoEndpoint;
  out->code = vm::kCodeNoEndpoint;
  out->status = policy_eliminated ? 403 : 404;
  std::string models;
  for (int i = 0; i < p.n_models; ++i) models += (i ? ", `" : "`") + std::string(p.models[i].slug) + "`";
  // No model asked for that the catalog serves, or every candidate dropped
  // by the caller's account (its only / ignore / zdr / ... filters): to this
  // caller the model does not exist, as OpenAI says of a model a key may not
  // use (model_not_found). A policy elimination stays the policy's deny (403,
  // above); the request's own preferences stay route_no_eligible_endpoint.
  const bool by_account_only =
      n_candidates > 0 && std::all_of(out->eliminated.begin(), out->eliminated.end(),
                                       [](const Elimination& el) { return el.source == "account"; });
  if (p.n_models > 0 && !policy_eliminated && (n_candidates == 0 || by_account_only)) {
    out->code = vm::kCodeModelNotFound;
    out->reason = p.n_models == 1 ? "the model " + models + " does not exist or you do not have access to it"
                                  : "the models " + models + " do not exist or you do not have access to them";
    return;
  }
  if (n_candidates == 0) {
    out->reason = "no endpoint in the catalog serves " + (models.empty() ? std::string("the requested model") : models);
    return;
  }
  // Group by (code, source, field, rule) in first-occurrence order.
  struct Group { ElimCode code; std::string_view source, field; uint32_t rule; size_t n; };
  std::vector<Group> groups;
  for (const Elimination& el : out->eliminated) {
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
      return x.code == el.code && x.source == el.source && x.field == el.field && x.rule == el.rule;
    });
    if (g == groups.end()) groups.push_back({el.code, el.source, el.field, el.rule, 1});
    else ++g->n;
  }
  out->reason = "no eligible endpoint for " + models + ": " + std::to_string(n_candidates) +
                " candidate" + (n_candidates == 1 ? "" : "s") + " eliminated (";
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    if (i) out->reason += "; ";
    out->reason += std::to_string(g.n) + " by ";
    if (g.code == ElimCode::kPolicyRequire) {
      out->reason += "rule `" + std::string(g.field) + "`";
    } else if (g.code == ElimCode::kRouteMaxPrice && g.rule < rules.size()) {
      out->reason += "rule `" + rules[g.rule].name + "` `" + std::string(g.field) + "` (" +
                     ElimCodeName(g.code) + ")";
    } else {
      out->reason += std::string(g.source) + " `" + std::string(g.field) + "` (" + ElimCodeName(g.code) + ")";
    }
  }
  out->reason += ")";
}

namespace {

// A request value for an explanation: message text is never copied (its
// length stands in), other values as JSON.
std::string RequestValueJson(const stdlib::FieldDef& f, const Value& v) {
  if (f.path == "request.messages" && v.kind == Kind::kList && v.list) {
    return "{\"messages\":" + std::to_string(v.list->items.size()) + "}";
  }
  if (v.kind == Kind::kString && (f.path == "request.content" || v.size > 64)) {
    return "{\"length\":" + std::to_string(v.size) + "}";
  }
  return ToJson(v, f.type);
}

// The values a require predicate read for this endpoint, as (path, JSON)
// pairs: its candidate fields (the estimated cost is the one the router
// computed), then, with `request`, its request fields.
std::vector<std::pair<std::string_view, std::string>> RequireValues(const Catalog& catalog,
                                                                   const vm::Program& program,
                                                                   const Elimination& el,
                                                                   const vm::Record* request) {
  std::vector<std::pair<std::string_view, std::string>> out;
  const auto& infos = program.require_infos();
  if (el.code != ElimCode::kPolicyRequire || el.require >= infos.size() || !catalog.schema()) {
    return out;
  }
  const stdlib::Schema& schema = *catalog.schema();
  const vm::Record& rec = catalog.candidate(el.endpoint);
  for (int slot : infos[el.require].candidate_slots) {
    int fid = schema.FieldOfSlot(ast::Scope::kCandidate, slot);
    if (fid < 0 || slot >= static_cast<int>(rec.slots.size())) continue;
    const stdlib::FieldDef& f = schema.field(fid);
    Value v = slot == catalog.estimated_cost_slot() ? Value::Money(el.value) : rec.slots[slot];
    out.emplace_back(f.path, ToJson(v, f.type));
  }
  if (!request) return out;
  for (int slot : infos[el.require].request_slots) {
    int fid = schema.FieldOfSlot(ast::Scope::kRequest, slot);
    if (fid < 0 || slot >= static_cast<int>(request->slots.size())) continue;
    const stdlib::FieldDef& f = schema.field(fid);
    out.emplace_back(f.path, RequestValueJson(f, request->slots[slot]));
  }
  return out;
}

// request.n of a routed request (1 when absent, null or not known).
int64_t Completions(const Catalog& catalog, const vm::Record* request) {
  if (!request || !catalog.schema()) return 1;
  const int id = catalog.schema()->Find("request.n");
  if (id < 0) return 1;
  const stdlib::FieldDef& f = catalog.schema()->field(id);
  if (f.scope != ast::Scope::kRequest || f.slot >= static_cast<int>(request->slots.size())) return 1;
  const Value& v = request->slots[f.slot];
  return v.kind == Kind::kInt ? v.i : 1;
}

// The endpoint field a max-price cap compares with.
std::string_view CappedField(std::string_view cap) {
  if (cap == "route.max_price") return "endpoint.estimated_cost";
  if (cap.size() >= 7 && cap.substr(cap.size() - 7) == ".prompt") return "endpoint.price_input";
  if (cap.size() >= 11 && cap.substr(cap.size() - 11) == ".completion") return "endpoint.price_output";
  return "endpoint.price_request";
}

}  // namespace

std::string EliminationDetail(const Catalog& catalog, const vm::Program& program,
                              const RouteResult& result, const Elimination& el,
                              const vm::Record* request) {
  const Endpoint& ep = catalog.endpoint(el.endpoint);
  const std::string prov = "provider `" + ep.provider + "`";
  const bool acct = el.source == "account";
  switch (el.code) {
    case ElimCode::kPolicyRequire: {
      const auto& infos = program.require_infos();
      std::string s = el.require < infos.size() ? infos[el.require].text : std::string();
      auto values = RequireValues(catalog, program, el, request);
      for (size_t i = 0; i < values.size(); ++i) {
        s += i == 0 ? " -- " : ", ";
        s += std::string(values[i].first) + " = " + values[i].second;
      }
      if (el.error >= 0 && static_cast<size_t>(el.error) < result.errors.size()) {
        s += " (error, fails closed: " + result.errors[el.error] + ")";
      }
      return s;
    }
    case ElimCode::kPrefOnly:
      return prov + (acct ? " is not in the account allowlist" : " is not in `provider.only`");
    case ElimCode::kPrefIgnore:
      return prov + (acct ? " is ignored by the account" : " is in `provider.ignore`");
    case ElimCode::kPrefAllowFallbacks:
      if (el.what == "primary") {
        return "not the primary endpoint, and fallbacks are off without an `order`";
      }
      return prov + " is not in `order` and fallbacks are off";
    case ElimCode::kTierNotSelected:
      if (el.field == "service_tier") {
        return "endpoint.tier = \"" + std::string(TierName(ep.tier)) +
               "\" is not the `service_tier` asked for";
      }
      return "endpoint.tier = \"" + std::string(TierName(ep.tier)) + "\" needs `:" +
             (ep.tier == Tier::kPriority ? "nitro" : "floor") +
             "` or the exact provider slug in `only` or `order`";
    case ElimCode::kPrefRequireParameters:
      return "does not support `" + std::string(el.what) + "` (not in endpoint.parameters)";
    case ElimCode::kPrefDataCollection:
      return ep.trains_on_data ? "provider.trains_on_data = true"
                               : "provider.data_collection = \"allow\"";
    case ElimCode::kPrefZdr:
      return "provider.zdr = false";
    case ElimCode::kPrefQuantization:
      return "endpoint.quantization = \"" + ep.quantization + "\" is not allowed" +
             (acct ? " by the account" : "");
    case ElimCode::kPrefMaxPrice:
    case ElimCode::kRouteMaxPrice: {
      std::string s = std::string(CappedField(el.field)) + " " + Money(el.value) + " > max " + Money(el.limit);
      // The estimated cost counts every completion asked for: say how many.
      const int64_t n = el.field == "route.max_price" ? Completions(catalog, request) : 1;
      if (n > 1) s += " (" + std::to_string(n) + " completions)";
      return s;
    }
    case ElimCode::kMaxTokensExceeded:
      return "max_tokens " + std::to_string(el.value) + " > endpoint.max_output_tokens " +
             std::to_string(el.limit);
    case ElimCode::kContextTooSmall:
      return "input_tokens + max_tokens = " + std::to_string(el.value) +
             " > endpoint.context_length " + std::to_string(el.limit);
  }
  return "";
}

void ApplyRoute(const RouteResult& result, vm::Decision* d) {
  if (result.outcome != RouteResult::Outcome::kNoEndpoint &&
      result.outcome != RouteResult::Outcome::kInvalidPreference &&
      result.outcome != RouteResult::Outcome::kError) {
    return;
  }
  d->outcome = vm::Outcome::kDeny;
  d->status = result.status;
  d->code = result.code;
  d->deny_rule = UINT32_MAX;
  try {
    d->reason = result.reason;
  } catch (const std::bad_alloc&) {
    d->reason.clear();
  }
}

std::string EndpointsJson(const Catalog& catalog, const RouteResult& result) {
  thread_local ReusedJsonWriter local;  // once per request on the gateway
  rapidjson::Writer<rapidjson::StringBuffer>& w = local.Begin();
  w.StartArray();
  for (const RoutedEndpoint& r : result.endpoints) {
    const Endpoint& e = catalog.endpoint(r.endpoint);
    w.StartObject();
    local.String("id"); local.String(e.id);
    local.String("provider"); local.String(e.provider);
    local.String("model"); local.String(e.model);
    std::string c = FormatMicros(r.estimated_cost);
    local.String("estimated_cost"); local.String(c);
    // Which entry it serves, when that entry's variant changed the routing:
    // `m` and `m:nitro` list the same model in two partitions.
    if (r.model < result.models.size()) {
      std::string_view m = result.models[r.model];
      if (m.ends_with(":nitro") || m.ends_with(":floor")) {
        w.Key("requested"); w.String(m.data(), static_cast<rapidjson::SizeType>(m.size()));
      }
    }
    w.EndObject();
  }
  w.EndArray();
  return local.Take();
}

std::string EliminatedJson(const Catalog& catalog, const vm::Program& program,
                           const RouteResult& result, bool shadow, const vm::Record* request) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const Elimination& el : shadow ? result.shadow_eliminated : result.eliminated) {
    const Endpoint& e = catalog.endpoint(el.endpoint);
    w.StartObject();
    w.Key("id"); w.String(e.id.data(), e.id.size());
    w.Key("provider"); w.String(e.provider.data(), e.provider.size());
    w.Key("model"); w.String(e.model.data(), e.model.size());
    w.Key("code"); w.String(ElimCodeName(el.code));
    w.Key("source"); w.String(el.source.data(), el.source.size());
    if (el.code == ElimCode::kPolicyRequire || el.code == ElimCode::kRouteMaxPrice) {
      w.Key("rule");
      if (el.rule < program.rules().size()) {
        const std::string& n = program.rules()[el.rule].name;
        w.String(n.data(), n.size());
      } else {
        w.Null();
      }
    }
    if (el.code != ElimCode::kPolicyRequire) {
      w.Key("field"); w.String(el.field.data(), el.field.size());
    }
    std::string detail = EliminationDetail(catalog, program, result, el, request);
    w.Key("detail"); w.String(detail.data(), detail.size());
    if (el.code == ElimCode::kPolicyRequire) {
      w.Key("values");
      w.StartObject();
      for (const auto& [path, json] : RequireValues(catalog, program, el, request)) {
        w.Key(path.data(), static_cast<rapidjson::SizeType>(path.size()));
        w.RawValue(json.data(), json.size(), rapidjson::kStringType);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  return sb.GetString();
}

}  // namespace tollgate::runtime
