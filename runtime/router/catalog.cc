// Catalog loading and validation. See catalog.h.
#include "runtime/router/catalog.h"


#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <new>
#include <optional>
#include <sstream>

#include "engine/core/limits.h"
#include "engine/core/money.h"
#include "runtime/router/internal/load_file.h"
#include "stdlib/field_values.h"
#include "stdlib/names.h"

namespace tollgate::runtime {

namespace {

namespace rj = rapidjson;

// Upper bounds that keep every product in int64 and catch unit mistakes.
constexpr int64_t kMaxPriceMicros = 100000LL * kMicros;  // 100,000 usd
constexpr int64_t kMaxTokens = 100000000;                // 100 M tokens
constexpr size_t kMaxEndpoints = 100000;

struct Ctx {
  size_t index = 0;
  std::string id;
  CatalogError* error;

  bool Fail(std::string_view field, const std::string& what) {
    std::string where = "endpoint " + std::to_string(index);
    if (!id.empty()) where += " (`" + id + "`)";
    error->code = "catalog_invalid";
    error->message = where + ": field `" + std::string(field) + "` " + what;
    return false;
  }
};

bool CheckKeys(Ctx* c, std::string_view prefix, const rj::Value& obj,
               std::initializer_list<std::string_view> allowed) {
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string path = prefix.empty() ? std::string(k) : std::string(prefix) + "." + std::string(k);
      return c->Fail(path, "is not a known catalog field");
    }
  }
  return true;
}

const rj::Value* Member(const rj::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool GetString(Ctx* c, const rj::Value& obj, const char* name, std::string_view path, bool required,
               std::string* out) {
  const rj::Value* v = Member(obj, name);
  if (!v) return required ? c->Fail(path, "is missing") : true;
  if (!v->IsString()) return c->Fail(path, "must be a string");
  out->assign(v->GetString(), v->GetStringLength());
  if (required && out->empty()) return c->Fail(path, "must not be empty");
  return true;
}

bool GetBool(Ctx* c, const rj::Value& obj, const char* name, std::string_view path, bool required,
             bool* out) {
  const rj::Value* v = Member(obj, name);
  if (!v) return required ? c->Fail(path, "is missing") : true;
  if (!v->IsBool()) return c->Fail(path, "must be true or false");
  *out = v->GetBool();
  return true;
}

// Numbers are parsed as strings (kParseNumbersAsStringsFlag), so a number and
// a decimal string are read the same exact way.
bool GetDecimal(Ctx* c, const rj::Value& obj, const char* name, std::string_view path,
                bool required, int64_t lo, int64_t hi, int64_t* out) {
  const rj::Value* v = Member(obj, name);
  if (!v) return required ? c->Fail(path, "is missing") : true;
  if (!v->IsString()) return c->Fail(path, "must be a number or a decimal string");
  std::string_view text(v->GetString(), v->GetStringLength());
  std::optional<int64_t> m = ParseMicros(text);
  if (!m) {
    return c->Fail(path, "must be an exact decimal with at most 6 fractional digits, got `" +
                             std::string(text) + "`");
  }
  if (*m < 0) return c->Fail(path, "must not be negative, got `" + std::string(text) + "`");
  if (*m < lo || *m > hi) {
    return c->Fail(path, "is out of range (" + FormatMicros(lo) + " to " + FormatMicros(hi) +
                             "), got `" + std::string(text) + "`");
  }
  *out = *m;
  return true;
}

bool GetInt(Ctx* c, const rj::Value& obj, const char* name, std::string_view path, bool required,
            int64_t lo, int64_t hi, int64_t* out) {
  const rj::Value* v = Member(obj, name);
  if (!v) return required ? c->Fail(path, "is missing") : true;
  std::string_view text = v->IsString() ? std::string_view(v->GetString(), v->GetStringLength())
                                        : std::string_view();
  int64_t n = 0;
  bool ok = v->IsString() && !text.empty() && text.size() <= 18;
  for (char ch : text) {
    if (ch < '0' || ch > '9') ok = false;
    else n = n * 10 + (ch - '0');
  }
  if (!ok) {
    if (!text.empty() && text[0] == '-') return c->Fail(path, "must not be negative");
    return c->Fail(path, "must be a non-negative integer");
  }
  if (n < lo || n > hi) {
    return c->Fail(path, "is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) +
                             "), got " + std::to_string(n));
  }
  *out = n;
  return true;
}

// `upstream.body` members the catalog may not set, and why.
struct ReservedMember {
  std::string_view name, why;
};
constexpr std::string_view kPromptWhy =
    "is the caller's: the budget reservation is computed from the request's";
constexpr ReservedMember kReservedBody[] = {
    {"model", "is set by the gateway (use `upstream.model`)"},
    {"stream", "is the caller's: the gateway settles from the answer the caller asked for"},
    {"stream_options", "is set by the gateway (it asks for the stream's usage)"},
    {"messages", kPromptWhy}, {"tools", kPromptWhy}, {"functions", kPromptWhy},
    {"prediction", kPromptWhy}, {"max_tokens", kPromptWhy},
    {"max_completion_tokens", kPromptWhy}, {"n", kPromptWhy},
};

// Nesting depth of v (a scalar is 0) when it is at most `limit`; deeper
// values give some number above `limit` (the walk stops there).
int Depth(const rj::Value& v, int limit) {
  if (limit < 0) return 1;
  int d = 0;
  if (v.IsObject()) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) d = std::max(d, Depth(m->value, limit - 1));
    return d + 1;
  }
  if (v.IsArray()) {
    for (const rj::Value& x : v.GetArray()) d = std::max(d, Depth(x, limit - 1));
    return d + 1;
  }
  return 0;
}

template <typename V>
std::string CompactJson(const V& v) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

// `upstream.body`: `typed` is the same object parsed with numbers as numbers
// (LoadUnguarded), so that a value keeps its JSON type.
bool ParseBody(Ctx* c, const rj::Value& typed, Upstream* up) {
  if (!typed.IsObject()) return c->Fail("upstream.body", "must be an object of body members");
  if (typed.MemberCount() > kMaxUpstreamBodyMembers) {
    return c->Fail("upstream.body", "has " + std::to_string(typed.MemberCount()) +
                                        " members, more than " +
                                        std::to_string(kMaxUpstreamBodyMembers));
  }
  size_t bytes = 0;
  for (auto m = typed.MemberBegin(); m != typed.MemberEnd(); ++m) {
    std::string name(m->name.GetString(), m->name.GetStringLength());
    const std::string path = "upstream.body." + name;
    if (name.empty()) return c->Fail("upstream.body", "has a member with an empty name");
    for (const ReservedMember& r : kReservedBody) {
      if (r.name == name) return c->Fail(path, std::string(r.why));
    }
    // (A member name repeated is refused with the text: ParseJsonText.)
    if (Depth(m->value, kMaxUpstreamBodyDepth) > kMaxUpstreamBodyDepth) {
      return c->Fail(path, "nests deeper than " + std::to_string(kMaxUpstreamBodyDepth) + " levels");
    }
    Upstream::BodyMember b{name, CompactJson(m->value)};
    bytes += b.json.size();
    if (bytes > kMaxUpstreamBodyBytes) {
      return c->Fail("upstream.body", "is larger than " + std::to_string(kMaxUpstreamBodyBytes) +
                                          " bytes of JSON");
    }
    // `,"name":value` as sent (the name escaped as the writer escapes it).
    rj::Value key(rj::StringRef(m->name.GetString(), m->name.GetStringLength()));
    up->body_bytes += static_cast<int64_t>(CompactJson(key).size() + b.json.size() + 2);
    up->body.push_back(std::move(b));
  }
  return true;
}

// The endpoint's service_tier in its upstream body: an explicit one must ask
// for the endpoint's own tier; a priority / flex endpoint gets one.
bool SetServiceTier(Ctx* c, Endpoint* e) {
  Upstream& up = e->upstream;
  const std::string want = std::string("\"") + ServiceTierName(e->tier) + "\"";
  for (const Upstream::BodyMember& b : up.body) {
    if (b.name != "service_tier") continue;
    if (b.json == want) return true;
    return c->Fail("upstream.body.service_tier",
                   "must be `" + std::string(ServiceTierName(e->tier)) + "` on a `" +
                       TierName(e->tier) + "` endpoint (what it is priced at), got `" + b.json + "`");
  }
  if (e->tier == Tier::kStandard) return true;
  up.body.push_back({"service_tier", want});
  up.body_bytes += static_cast<int64_t>(want.size() + std::string_view("\"service_tier\"").size() + 2);
  return true;
}

bool ParseUpstream(Ctx* c, const rj::Value& v, const rj::Value* typed, Upstream* up) {
  if (!v.IsObject()) return c->Fail("upstream", "must be an object");
  if (!CheckKeys(c, "upstream", v, {"base_url", "auth", "model", "body"})) return false;
  if (typed && typed->IsObject()) {
    if (const rj::Value* body = Member(*typed, "body"); body && !ParseBody(c, *body, up)) return false;
  }
  if (!GetString(c, v, "base_url", "upstream.base_url", true, &up->base_url)) return false;
  if (!GetString(c, v, "model", "upstream.model", false, &up->model)) return false;
  if (up->base_url.rfind("https://", 0) != 0 && up->base_url.rfind("http://", 0) != 0) {
    return c->Fail("upstream.base_url", "must start with `https://` or `http://`, got `" +
                                            up->base_url + "`");
  }
  const rj::Value* auth = Member(v, "auth");
  if (!auth) return c->Fail("upstream.auth", "is missing");
  if (!auth->IsObject()) return c->Fail("upstream.auth", "must be an object");
  if (!CheckKeys(c, "upstream.auth", *auth, {"type", "env", "header"})) return false;
  std::string type;
  if (!GetString(c, *auth, "type", "upstream.auth.type", true, &type)) return false;
  if (!GetString(c, *auth, "env", "upstream.auth.env", false, &up->env)) return false;
  if (!GetString(c, *auth, "header", "upstream.auth.header", false, &up->header)) return false;
  if (type == "none") {
    up->auth = AuthType::kNone;
    if (!up->env.empty()) return c->Fail("upstream.auth.env", "must be absent with type `none`");
  } else if (type == "bearer" || type == "header") {
    up->auth = type == "bearer" ? AuthType::kBearer : AuthType::kHeader;
    if (up->env.empty()) {
      return c->Fail("upstream.auth.env",
                     "is missing (the name of the environment variable holding the key)");
    }
    for (char ch : up->env) {
      if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) {
        return c->Fail("upstream.auth.env", "must be an environment variable name like "
                                            "`OPENAI_API_KEY`, got `" + up->env + "`");
      }
    }
    if (up->auth == AuthType::kHeader && up->header.empty()) {
      return c->Fail("upstream.auth.header", "is missing (required with type `header`)");
    }
  } else {
    return c->Fail("upstream.auth.type", "must be `bearer`, `header` or `none`, got `" + type + "`");
  }
  return true;
}

// `typed`: the same endpoint parsed with numbers as numbers, or null when no
// endpoint has an `upstream.body`.
bool ParseEndpoint(Ctx* c, const rj::Value& v, const rj::Value* typed, Endpoint* e) {
  if (!v.IsObject()) return c->Fail("(endpoint)", "must be an object");
  // Read the id first so that every later message can name it.
  if (!GetString(c, v, "id", "id", true, &e->id)) return false;
  c->id = e->id;
  if (!CheckKeys(c, "", v,
                 {"id", "model", "provider", "upstream", "pricing", "context_length",
                  "max_output_tokens", "jurisdiction", "region", "zdr", "trains_on_data",
                  "data_collection", "retention_days", "quantization", "supported_parameters",
                  "observed", "tier", "byok", "attributes"})) {
    return false;
  }
  if (const rj::Value* at = Member(v, "attributes")) {
    if (!at->IsObject()) return c->Fail("attributes", "must be an object of schema paths");
    for (auto m = at->MemberBegin(); m != at->MemberEnd(); ++m) {
      Endpoint::Attribute a;
      a.path.assign(m->name.GetString(), m->name.GetStringLength());
      const rj::Value& x = m->value;
      if (x.IsBool()) {
        a.is_bool = true;
        a.text = x.GetBool() ? "true" : "false";
      } else if (x.IsString()) {
        a.text.assign(x.GetString(), x.GetStringLength());
      } else if (x.IsArray()) {
        a.is_array = true;
        for (const rj::Value& item : x.GetArray()) {
          if (!item.IsString())
            return c->Fail("attributes." + a.path, "must hold only strings");
          a.items.emplace_back(item.GetString(), item.GetStringLength());
        }
      } else {
        return c->Fail("attributes." + a.path, "must be a string, number, boolean or array of strings");
      }
      e->attributes.push_back(std::move(a));
    }
  }
  if (!GetString(c, v, "model", "model", true, &e->model)) return false;
  if (!GetString(c, v, "provider", "provider", true, &e->provider)) return false;
  if (!stdlib::IsSlugText(e->provider)) {
    return c->Fail("provider", "must be a lower-case slug like `google-vertex/europe`, got `" +
                                   e->provider + "`");
  }
  const rj::Value* up = Member(v, "upstream");
  if (!up) return c->Fail("upstream", "is missing");
  const rj::Value* typed_up = typed && typed->IsObject() ? Member(*typed, "upstream") : nullptr;
  if (!ParseUpstream(c, *up, typed_up, &e->upstream)) return false;
  if (e->upstream.model.empty()) {
    size_t slash = e->model.find('/');
    e->upstream.model = slash == std::string::npos ? e->model : e->model.substr(slash + 1);
  }

  const rj::Value* pr = Member(v, "pricing");
  if (!pr) return c->Fail("pricing", "is missing");
  if (!pr->IsObject()) return c->Fail("pricing", "must be an object");
  if (!CheckKeys(c, "pricing", *pr, {"input_per_mtok", "output_per_mtok", "per_request"})) return false;
  if (!GetDecimal(c, *pr, "input_per_mtok", "pricing.input_per_mtok", true, 0, kMaxPriceMicros,
                  &e->price_input) ||
      !GetDecimal(c, *pr, "output_per_mtok", "pricing.output_per_mtok", true, 0, kMaxPriceMicros,
                  &e->price_output) ||
      !GetDecimal(c, *pr, "per_request", "pricing.per_request", false, 0, kMaxPriceMicros,
                  &e->price_request)) {
    return false;
  }
  if (!GetInt(c, v, "context_length", "context_length", true, 1, kMaxTokens, &e->context_length) ||
      !GetInt(c, v, "max_output_tokens", "max_output_tokens", true, 1, kMaxTokens,
              &e->max_output_tokens)) {
    return false;
  }
  if (e->max_output_tokens > e->context_length) {
    return c->Fail("max_output_tokens", "must not exceed `context_length` (" +
                                            std::to_string(e->context_length) + ")");
  }
  if (!GetString(c, v, "jurisdiction", "jurisdiction", true, &e->jurisdiction)) return false;
  if (!IsCountryCode(e->jurisdiction)) {
    return c->Fail("jurisdiction", "must be an ISO 3166-1 alpha-2 country code such as `DE`, got `" +
                                       e->jurisdiction + "`");
  }
  if (!GetString(c, v, "region", "region", true, &e->region)) return false;
  if (!GetBool(c, v, "zdr", "zdr", true, &e->zdr) ||
      !GetBool(c, v, "trains_on_data", "trains_on_data", true, &e->trains_on_data)) {
    return false;
  }
  std::string dc;
  if (!GetString(c, v, "data_collection", "data_collection", true, &dc)) return false;
  if (dc != "allow" && dc != "deny") {
    return c->Fail("data_collection", "must be `allow` or `deny`, got `" + dc + "`");
  }
  e->data_collection = dc == "allow";
  if (!GetInt(c, v, "retention_days", "retention_days", true, 0, 36500, &e->retention_days)) {
    return false;
  }
  // INVARIANT: zdr implies no retention, no training and data_collection deny;
  // training implies data_collection allow. The router's data filters rely on it.
  if (e->zdr && e->retention_days > 0) {
    return c->Fail("retention_days", "must be 0 when `zdr` is true");
  }
  if (e->zdr && e->trains_on_data) return c->Fail("trains_on_data", "must be false when `zdr` is true");
  if (e->zdr && e->data_collection) return c->Fail("data_collection", "must be `deny` when `zdr` is true");
  if (e->trains_on_data && !e->data_collection) {
    return c->Fail("data_collection", "must be `allow` when `trains_on_data` is true");
  }
  if (!GetString(c, v, "quantization", "quantization", false, &e->quantization)) return false;
  if (!IsKnownQuantization(e->quantization)) {
    return c->Fail("quantization", "must be " + stdlib::Describe(stdlib::Shape::kQuantization) +
                                       "; got `" + e->quantization + "`");
  }
  if (const rj::Value* sp = Member(v, "supported_parameters")) {
    if (!sp->IsArray()) return c->Fail("supported_parameters", "must be a list of strings");
    for (const rj::Value& p : sp->GetArray()) {
      if (!p.IsString() || p.GetStringLength() == 0) {
        return c->Fail("supported_parameters", "must be a list of non-empty strings");
      }
      e->supported_parameters.emplace_back(p.GetString(), p.GetStringLength());
    }
    std::sort(e->supported_parameters.begin(), e->supported_parameters.end());
    e->supported_parameters.erase(
        std::unique(e->supported_parameters.begin(), e->supported_parameters.end()),
        e->supported_parameters.end());
  }
  const rj::Value* ob = Member(v, "observed");
  if (!ob) return c->Fail("observed", "is missing");
  if (!ob->IsObject()) return c->Fail("observed", "must be an object");
  if (!CheckKeys(c, "observed", *ob, {"latency_p50", "throughput", "uptime"})) return false;
  if (!GetDecimal(c, *ob, "latency_p50", "observed.latency_p50", true, 0, 3600 * kMicros,
                  &e->latency_p50) ||
      !GetDecimal(c, *ob, "throughput", "observed.throughput", true, 0, 1000000 * kMicros,
                  &e->throughput) ||
      !GetDecimal(c, *ob, "uptime", "observed.uptime", true, 0, kMicros, &e->uptime)) {
    return false;
  }
  std::string tier = "standard";
  if (!GetString(c, v, "tier", "tier", false, &tier)) return false;
  if (tier == "standard") e->tier = Tier::kStandard;
  else if (tier == "priority") e->tier = Tier::kPriority;
  else if (tier == "flex") e->tier = Tier::kFlex;
  else return c->Fail("tier", "must be `standard`, `priority` or `flex`, got `" + tier + "`");
  if (!SetServiceTier(c, e)) return false;
  if (!GetBool(c, v, "byok", "byok", false, &e->byok)) return false;
  return true;
}

}  // namespace

const char* TierName(Tier t) {
  switch (t) {
    case Tier::kStandard: return "standard";
    case Tier::kPriority: return "priority";
    case Tier::kFlex: return "flex";
  }
  return "standard";
}

const char* ServiceTierName(Tier t) {
  return t == Tier::kStandard ? "default" : TierName(t);
}

bool Endpoint::SupportsParameter(std::string_view p) const {
  return std::binary_search(supported_parameters.begin(), supported_parameters.end(), p,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

bool IsKnownQuantization(std::string_view q) { return stdlib::IsKnownQuantization(q); }

bool IsCountryCode(std::string_view cc) { return stdlib::IsAssignedCountry(cc); }

bool SameSlugText(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x | 0x20);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y | 0x20);
    if (x != y) return false;
  }
  return true;
}

bool ProviderMatches(std::string_view pattern, const Endpoint& e, bool any_tier) {
  std::string_view p = e.provider;
  if (SameSlugText(p, pattern)) return true;
  if (!any_tier && e.tier != Tier::kStandard) return false;
  return p.size() > pattern.size() && SameSlugText(p.substr(0, pattern.size()), pattern) &&
         p[pattern.size()] == '/';
}

bool Catalog::LoadUnguarded(std::string_view json, const stdlib::Schema& schema, Catalog* out,
                   CatalogError* error) {
  out->endpoints_.clear();
  out->records_.clear();
  out->model_max_output_.clear();
  out->by_model_.clear();
  out->by_id_.clear();
  out->by_bare_.clear();
  out->schema_ = nullptr;
  out->cost_slot_ = -1;

  rj::Document doc;
  if (!internal::ParseJsonText(json, &doc, &error->message)) {
    error->code = "catalog_invalid";
    return false;
  }
  Ctx top{0, "", error};
  auto fail_top = [&](const std::string& msg) {
    error->code = "catalog_invalid";
    error->message = msg;
    return false;
  };
  if (!doc.IsObject()) return fail_top("the catalog must be a JSON object with an `endpoints` list");
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if (k != "endpoints" && k != "description" && k != "version") {
      return fail_top("unknown top-level catalog field `" + std::string(k) + "`");
    }
  }
  const rj::Value* eps = Member(doc, "endpoints");
  if (!eps || !eps->IsArray()) return fail_top("the catalog needs an `endpoints` list");
  if (eps->Size() > kMaxEndpoints) {
    return fail_top("the catalog has " + std::to_string(eps->Size()) + " endpoints, more than " +
                    std::to_string(kMaxEndpoints));
  }
  // `upstream.body` values are forwarded with their JSON types, which the
  // numbers-as-text parse loses: when an endpoint has one, the text is
  // parsed once more with numbers as numbers, read for those values only.
  bool any_body = false;
  for (const rj::Value& ep : eps->GetArray()) {
    const rj::Value* up = ep.IsObject() ? Member(ep, "upstream") : nullptr;
    any_body = any_body || (up && up->IsObject() && up->HasMember("body"));
  }
  rj::Document typed;
  const rj::Value* typed_eps = nullptr;
  if (any_body) {
    typed.Parse<rj::kParseValidateEncodingFlag | rj::kParseIterativeFlag |
                rj::kParseFullPrecisionFlag>(json.data(), json.size());
    if (typed.HasParseError()) {  // a number beyond double range
      return fail_top("malformed JSON at byte " + std::to_string(typed.GetErrorOffset()) + ": " +
                      rj::GetParseError_En(typed.GetParseError()));
    }
    typed_eps = Member(typed, "endpoints");
  }
  std::vector<Endpoint> parsed(eps->Size());
  for (rj::SizeType i = 0; i < eps->Size(); ++i) {
    Ctx c{i, "", error};
    const rj::Value* t = typed_eps ? &(*typed_eps)[i] : nullptr;
    if (!ParseEndpoint(&c, (*eps)[i], t, &parsed[i])) return false;
  }
  (void)top;
  out->endpoints_ = std::move(parsed);
  for (uint32_t i = 0; i < out->endpoints_.size(); ++i) {
    const Endpoint& e = out->endpoints_[i];
    auto [it, inserted] = out->by_id_.emplace(e.id, i);
    if (!inserted) {
      Ctx c{i, e.id, error};
      c.Fail("id", "duplicates the id of endpoint " + std::to_string(it->second));
      out->endpoints_.clear();
      out->by_id_.clear();
      return false;
    }
    out->by_model_[e.model].push_back(i);
  }
  out->model_max_output_.assign(out->endpoints_.size(), 0);
  for (const auto& [model, eps] : out->by_model_) {
    if (const size_t slash = model.find('/'); slash != std::string_view::npos) {
      auto [at, fresh] = out->by_bare_.emplace(model.substr(slash + 1), model);
      if (!fresh) at->second = {};  // two authors' models share the name
    }
    int64_t longest = 0;
    for (uint32_t i : eps) longest = std::max(longest, out->endpoints_[i].max_output_tokens);
    for (uint32_t i : eps) out->model_max_output_[i] = longest;
  }
  return out->Build(schema, error);
}

bool Catalog::Load(std::string_view json, const stdlib::Schema& schema, Catalog* out,
                   CatalogError* error) {
  try {  // no exception leaves the loader: memory running out is a refusal
    return LoadUnguarded(json, schema, out, error);
  } catch (const std::bad_alloc&) {
    out->endpoints_.clear();
    out->model_max_output_.clear();
    out->by_model_.clear();
    out->by_id_.clear();
    out->by_bare_.clear();
    error->code = "catalog_too_large";
    error->message = "out of memory while loading the catalog";
    return false;
  }
}

bool Catalog::LoadFile(const std::string& path, const stdlib::Schema& schema, Catalog* out,
                       CatalogError* error) {
  return internal::LoadCappedFile(path, Limits{}.max_catalog_bytes, "catalog", error,
                                  [&](std::string_view text) { return Load(text, schema, out, error); });
}

namespace {

// The catalog's own fields fill these candidate paths; "attributes" may only
// set the others (a deployment's schema extension).
bool IsBuiltinCandidatePath(std::string_view p) {
  static constexpr std::string_view kBuiltin[] = {
      "endpoint.byok", "endpoint.context_length", "endpoint.estimated_cost", "endpoint.id",
      "endpoint.latency_p50", "endpoint.max_output_tokens", "endpoint.model",
      "endpoint.model_full", "endpoint.model_variant", "endpoint.parameters",
      "endpoint.price_input", "endpoint.price_output", "endpoint.price_request",
      "endpoint.quantization", "endpoint.throughput", "endpoint.tier", "endpoint.uptime",
      "provider.data_collection", "provider.jurisdiction", "provider.name",
      "provider.region", "provider.retention_days", "provider.slug",
      "provider.trains_on_data", "provider.zdr"};
  return std::find(std::begin(kBuiltin), std::end(kBuiltin), p) != std::end(kBuiltin);
}

// Converts one attribute to its schema field's type and stores it in `r`.
bool SetAttribute(const stdlib::Schema& schema, const Endpoint::Attribute& a, vm::Record* r,
                  std::string* why) {
  int fid = schema.Find(a.path);
  if (fid < 0 || schema.field(fid).scope != ast::Scope::kCandidate) {
    *why = "is not a candidate field of the schema (extend it with --schema)";
    return false;
  }
  if (IsBuiltinCandidatePath(a.path)) {
    *why = "is set by the catalog's own fields, not by attributes";
    return false;
  }
  const stdlib::FieldDef& f = schema.field(fid);
  Value v;
  switch (f.type.kind()) {
    case Kind::kString:
      if (a.is_bool || a.is_array) { *why = "must be a string"; return false; }
      v = r->arena.String(a.text);
      break;
    case Kind::kBool:
      if (!a.is_bool) { *why = "must be true or false"; return false; }
      v = Value::Bool(a.text == "true");
      break;
    case Kind::kInt: {
      int64_t x = 0;
      auto [ptr, ec] = std::from_chars(a.text.data(), a.text.data() + a.text.size(), x);
      if (a.is_bool || a.is_array || ec != std::errc() || ptr != a.text.data() + a.text.size()) {
        *why = "must be an integer";
        return false;
      }
      v = Value::Int(x);
      break;
    }
    case Kind::kDecimal:
    case Kind::kMoney: {
      auto m = a.is_bool || a.is_array ? std::nullopt : ParseMicros(a.text);
      if (!m) { *why = "must be a decimal number with at most 6 fractional digits"; return false; }
      v = Value::Scalar(f.type.kind(), *m);
      break;
    }
    case Kind::kSet:
    case Kind::kList: {
      if (!a.is_array || !f.type.elem().is(Kind::kString)) {
        *why = "must be an array of strings";
        return false;
      }
      std::vector<Value> items;
      for (const std::string& s : a.items) items.push_back(r->arena.String(s));
      v = f.type.is(Kind::kSet) ? r->arena.MakeSet(std::move(items))
                                : r->arena.MakeList(std::move(items));
      break;
    }
    default:
      *why = "has type `" + f.type.ToString() + "`, which attributes cannot set";
      return false;
  }
  r->slots[f.slot] = v;
  return true;
}

}  // namespace

// Fills one candidate record per endpoint, slot by schema path.
bool Catalog::Build(const stdlib::Schema& schema, CatalogError* error) {
  schema_ = &schema;
  const int n = schema.slot_count(ast::Scope::kCandidate);
  records_ = std::vector<vm::Record>(endpoints_.size());
  int cost_field = schema.Find("endpoint.estimated_cost");
  cost_slot_ = cost_field >= 0 && schema.field(cost_field).scope == ast::Scope::kCandidate
                   ? schema.field(cost_field).slot
                   : -1;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Endpoint& e = endpoints_[i];
    vm::Record& r = records_[i];
    r.slots.assign(n, Value::Null());
    for (int s = 0; s < n; ++s) {
      int fid = schema.FieldOfSlot(ast::Scope::kCandidate, s);
      if (fid < 0) continue;
      std::string_view p = schema.field(fid).path;
      Value v;
      if (p == "provider.name") v = Value::StringRef(stdlib::ProviderBase(e.provider));
      else if (p == "provider.slug") v = Value::StringRef(e.provider);
      else if (p == "provider.jurisdiction") v = Value::StringRef(e.jurisdiction);
      else if (p == "provider.region") v = Value::StringRef(e.region);
      else if (p == "provider.zdr") v = Value::Bool(e.zdr);
      else if (p == "provider.trains_on_data") v = Value::Bool(e.trains_on_data);
      else if (p == "provider.data_collection") v = r.arena.String(e.data_collection ? "allow" : "deny");
      else if (p == "provider.retention_days") v = Value::Int(e.retention_days);
      else if (p == "endpoint.id") v = Value::StringRef(e.id);
      else if (p == "endpoint.model") v = Value::StringRef(stdlib::SplitModel(e.model).id);
      else if (p == "endpoint.model_full") v = Value::StringRef(e.model);
      else if (p == "endpoint.model_variant") v = Value::StringRef(stdlib::SplitModel(e.model).variant);
      else if (p == "endpoint.tier") v = Value::StringRef(TierName(e.tier));
      else if (p == "endpoint.byok") v = Value::Bool(e.byok);
      else if (p == "endpoint.quantization") v = Value::StringRef(e.quantization);
      else if (p == "endpoint.price_input") v = Value::Money(e.price_input);
      else if (p == "endpoint.price_output") v = Value::Money(e.price_output);
      else if (p == "endpoint.price_request") v = Value::Money(e.price_request);
      else if (p == "endpoint.context_length") v = Value::Int(e.context_length);
      else if (p == "endpoint.max_output_tokens") v = Value::Int(e.max_output_tokens);
      else if (p == "endpoint.latency_p50") v = Value::Decimal(e.latency_p50);
      else if (p == "endpoint.throughput") v = Value::Decimal(e.throughput);
      else if (p == "endpoint.uptime") v = Value::Decimal(e.uptime);
      else if (p == "endpoint.parameters") {
        std::vector<Value> items;
        items.reserve(e.supported_parameters.size());
        for (const std::string& sp : e.supported_parameters) items.push_back(r.arena.String(sp));
        v = r.arena.MakeSet(std::move(items));
      }
      // endpoint.estimated_cost is filled per request; deployment-specific
      // fields come from "attributes" below (null when an endpoint has none).
      r.slots[s] = v;
    }
    for (const Endpoint::Attribute& a : e.attributes) {
      std::string why;
      if (!SetAttribute(schema, a, &r, &why)) {
        error->code = "catalog_invalid";
        error->message = "endpoint " + std::to_string(i) + " (`" + e.id + "`): `attributes." +
                         a.path + "` " + why;
        return false;
      }
    }
  }
  return true;
}

const std::vector<uint32_t>& Catalog::ForModel(std::string_view model) const {
  static const std::vector<uint32_t> kEmpty;
  auto it = by_model_.find(model);
  return it == by_model_.end() ? kEmpty : it->second;
}

std::string_view Catalog::BareModel(std::string_view bare) const {
  if (bare.find('/') != std::string_view::npos || by_model_.count(bare) != 0) return {};
  auto it = by_bare_.find(bare);
  return it == by_bare_.end() ? std::string_view() : it->second;
}

int Catalog::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? -1 : static_cast<int>(it->second);
}

}  // namespace tollgate::runtime
