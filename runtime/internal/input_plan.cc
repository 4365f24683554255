// The shared pieces of the decision-input decoders (input_plan.h).
#include "runtime/internal/input_plan.h"

// SIMD whitespace skipping for PathAt, as in the decoders.
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>

#include "engine/core/json_text.h"
#include "stdlib/builtins.h"
#include "stdlib/names.h"

namespace tollgate::runtime::internal {

namespace rj = rapidjson;

size_t FindInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
#if defined(__SSE2__)
    // ASCII runs 32 bytes at a time: no byte has its high bit set.
    while (i + 32 <= n) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16));
      if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0) break;
      i += 32;
    }
    if (i >= n) break;  // the SIMD loop may end exactly at the end: p[n] is not ours
#endif
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) { i += 8; continue; }
    }
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return i;
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {
const SetObject kEmptySet{};
const ListObject kEmptyList{};
}  // namespace

Value EmptyOf(Kind k) {
  Value v;
  v.kind = k;
  if (k == Kind::kSet) v.set = &kEmptySet;
  else v.list = &kEmptyList;
  return v;
}

namespace {

Node* FindOrAddObject(Node* parent, std::string_view name) {
  for (Node& k : parent->kids)
    if (k.name == name) return &k;
  Node n;
  n.name = std::string(name);
  n.path = parent->path.empty() ? n.name : parent->path + "." + n.name;
  n.is_object = true;
  n.strict = n.path != "request";
  n.is_body = n.path == "request";
  parent->kids.push_back(std::move(n));
  return &parent->kids.back();
}

void AddLeaf(Node* root, const std::string& path, int slot, const Type& type, Special special) {
  Node* at = root;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) break;
    at = FindOrAddObject(at, std::string_view(path).substr(start, dot - start));
    start = dot + 1;
  }
  Node leaf;
  leaf.name = path.substr(start);
  leaf.path = path;
  leaf.slot = slot;
  leaf.type = type;
  leaf.special = special;
  leaf.non_negative = path == "request.max_tokens";
  at->kids.push_back(std::move(leaf));
}

Special SpecialFor(const std::string& path, const Type& t) {
  if (path == "request.messages" && t.is(Kind::kList) && t.elem().is(Kind::kRecord))
    return Special::kMessages;
  if (path == "request.tools" && (t.is(Kind::kSet) || t.is(Kind::kList))) return Special::kTools;
  if (path == "request.provider.sort" && t.is(Kind::kString)) return Special::kSort;
  if ((path == "request.provider.preferred_max_latency" ||
       path == "request.provider.preferred_min_throughput") &&
      (t.is(Kind::kDecimal) || t.is(Kind::kInt)))
    return Special::kPercentile;
  return Special::kNone;
}

// Body members that are transport or routing options, not model parameters:
// they never go into request.parameters (require_parameters ignores them).
constexpr std::string_view kNotParameters[] = {
    "debug", "messages", "metadata", "model", "models", "plugins", "preset", "provider",
    "route", "service_tier", "session_id", "store", "stream", "stream_options", "transforms",
    "usage", "user",
};

// The plan of the top-level `candidate` member (candidate-scope fields under
// "candidate."): its root tolerates the request members, its objects are strict.
std::unique_ptr<Plan> BuildCandidatePlan(const stdlib::Schema& schema) {
  auto plan = std::make_unique<Plan>();
  plan->n_slots = schema.slot_count(ast::Scope::kCandidate);
  plan->root.strict = false;
  for (const stdlib::FieldDef& f : schema.fields()) {
    // Derived fields (endpoint.estimated_cost) are given by the caller here:
    // no catalog is at hand to compute them.
    if (f.scope != ast::Scope::kCandidate) continue;
    AddLeaf(&plan->root, "candidate." + f.path, f.slot, f.type, Special::kNone);
    // Not even `required` fields are demanded: a gateway that routes itself
    // may not know every catalog figure. A require that reads a field the
    // caller left out fails at run time and, by its on_error, fails closed.
    if (f.type.is(Kind::kSet) || f.type.is(Kind::kList))
      plan->empties.emplace_back(f.slot, f.type.kind());
  }
  return plan;
}

std::unique_ptr<Plan> BuildPlan(const stdlib::Schema& schema) {
  auto plan = std::make_unique<Plan>();
  plan->n_slots = schema.slot_count(ast::Scope::kRequest);
  // The caller's chosen endpoint (DecodeCandidate reads it).
  AddLeaf(&plan->root, "candidate", -1, Type(), Special::kIgnore);
  for (const stdlib::FieldDef& f : schema.fields()) {
    if (f.scope != ast::Scope::kRequest) continue;
    if (f.derived) {
      if (f.path == "request.content" && f.type.is(Kind::kString)) plan->content_slot = f.slot;
      if (f.path == "request.input_tokens" && f.type.is(Kind::kInt)) plan->tokens_slot = f.slot;
      if (f.path == "request.parameters" && f.type.is(Kind::kSet)) plan->params_slot = f.slot;
      if (f.path == "request.provider.sort_partition" && f.type.is(Kind::kString))
        plan->partition_slot = f.slot;
      if (f.path == "request.model_full" && f.type.is(Kind::kString)) plan->model_full_slot = f.slot;
      if (f.path == "request.model_variant" && f.type.is(Kind::kString))
        plan->model_variant_slot = f.slot;
      if (f.path == "request.models_full" && f.type.is(Kind::kList) && f.type.elem().is(Kind::kString))
        plan->models_full_slot = f.slot;
      if (f.path == "request.variants" && f.type.is(Kind::kSet) && f.type.elem().is(Kind::kString))
        plan->variants_slot = f.slot;
      continue;
    }
    if (f.path == "request.model" && f.type.is(Kind::kString)) plan->model_slot = f.slot;
    if (f.path == "request.models" && f.type.is(Kind::kList) && f.type.elem().is(Kind::kString))
      plan->models_slot = f.slot;
    Special sp = SpecialFor(f.path, f.type);
    if (sp == Special::kMessages) plan->messages_slot = f.slot;
    AddLeaf(&plan->root, f.path, f.slot, f.type, sp);
    if (f.required) plan->required.push_back({f.slot, f.path});
    if (f.clock && f.type.is(Kind::kTime)) plan->clock_slots.push_back(f.slot);
    if (f.type.is(Kind::kSet) || f.type.is(Kind::kList))
      plan->empties.emplace_back(f.slot, f.type.kind());
  }
  // Tolerated members that the schema does not model.
  if (schema.IsPrefix("request.provider.max_price") &&
      schema.Find("request.provider.max_price.image") < 0)
    AddLeaf(&plan->root, "request.provider.max_price.image", -1, Type(), Special::kIgnore);
  // max_completion_tokens is OpenAI's newer name for max_tokens.
  int mt = schema.Find("request.max_tokens");
  if (mt >= 0 && schema.Find("request.max_completion_tokens") < 0) {
    for (Node& k : plan->root.kids) {
      if (k.name != "request") continue;
      for (size_t i = 0; i < k.kids.size(); ++i)
        if (k.kids[i].name == "max_tokens") k.aliases.emplace_back("max_completion_tokens", i);
    }
  }
  // Body members that are not model parameters are marked once here, so
  // decoding does not search kNotParameters for every known member.
  for (Node& k : plan->root.kids) {
    if (!k.is_body) continue;
    for (Node& m : k.kids)
      m.not_parameter = std::binary_search(std::begin(kNotParameters), std::end(kNotParameters),
                                           std::string_view(m.name));
  }
  return plan;
}

// The cached plans of this thread, most recent last; at most 4.
struct PlanCache {
  struct Cached { uint64_t schema_id; bool candidate; std::unique_ptr<Plan> plan; };
  std::vector<Cached> plans;
};

}  // namespace

const Plan& PlanFor(const stdlib::Schema& s, bool candidate) {
  thread_local PlanCache cache;
  auto& plans = cache.plans;
  for (PlanCache::Cached& c : plans)
    if (c.schema_id == s.id() && c.candidate == candidate) return *c.plan;
  if (plans.size() >= 4) plans.erase(plans.begin());
  plans.push_back({s.id(), candidate, candidate ? BuildCandidatePlan(s) : BuildPlan(s)});
  return *plans.back().plan;
}

bool IsReservedBodyMember(std::string_view n) {
  // INVARIANT: kNotParameters is sorted.
  return std::binary_search(std::begin(kNotParameters), std::end(kNotParameters), n);
}

std::string PathAt(std::string_view json, size_t offset) {
  struct Tracker : rj::BaseReaderHandler<rj::UTF8<>, Tracker> {
    struct Level { bool array; int64_t index; std::string key; };
    std::vector<Level> levels;
    bool Default() {
      if (!levels.empty() && levels.back().array) ++levels.back().index;
      return true;
    }
    bool RawNumber(const char*, rj::SizeType, bool) { return Default(); }
    bool StartObject() { Default(); levels.push_back({false, -1, {}}); return true; }
    bool Key(const char* s, rj::SizeType n, bool) { levels.back().key.assign(s, n); return true; }
    bool EndObject(rj::SizeType) { levels.pop_back(); return true; }
    bool StartArray() { Default(); levels.push_back({true, -1, {}}); return true; }
    bool EndArray(rj::SizeType) { levels.pop_back(); return true; }
  } t;
  // INVARIANT: 16 bytes of slack after the text: rapidjson's SIMD scanner
  // reads whole 16-byte blocks (an over-read the fuzzer found here).
  std::string prefix;
  prefix.reserve(std::min(offset, json.size()) + 16);
  prefix.assign(json.substr(0, std::min(offset, json.size())));
  rj::StringStream ss(prefix.c_str());
  rj::Reader reader;
  reader.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(ss, t);
  std::string out;
  for (size_t i = 0; i < t.levels.size(); ++i) {
    const auto& l = t.levels[i];
    // The value at `offset` is the next element of the innermost array.
    int64_t index = l.index + (i + 1 == t.levels.size() ? 1 : 0);
    if (l.array) out += "[" + std::to_string(index) + "]";
    else out += (out.empty() ? "" : ".") + l.key;
  }
  return out;
}

// Exact decimal text ("-1.25e3") -> micros, rounded half-even at 6 digits.
// Returns false on overflow.
bool NumberToMicros(std::string_view t, int64_t* out) {
  bool neg = !t.empty() && t[0] == '-';
  size_t i = neg ? 1 : 0;
  char digits[40];
  int nd = 0, frac = 0;
  bool sticky = false, seen_dot = false;
  int dropped_int = 0;  // integer digits beyond our 38-digit window
  for (; i < t.size() && t[i] != 'e' && t[i] != 'E'; ++i) {
    char c = t[i];
    if (c == '.') { seen_dot = true; continue; }
    if (nd == 0 && c == '0') { if (seen_dot) ++frac; continue; }
    if (nd < 38) { digits[nd++] = c; if (seen_dot) ++frac; }
    else if (seen_dot) sticky |= c != '0';
    else ++dropped_int;
  }
  int64_t exp = 0;
  if (i < t.size()) {
    std::string_view e = t.substr(i + 1);
    if (!e.empty() && e[0] == '+') e.remove_prefix(1);
    auto r = std::from_chars(e.data(), e.data() + e.size(), exp);
    if (r.ec != std::errc()) exp = e.starts_with('-') ? -100000 : 100000;
  }
  if (nd == 0) { *out = 0; return true; }
  int64_t shift = exp - frac + dropped_int + 6;  // micros = D * 10^shift
  __int128 v = 0;
  if (shift >= 0) {
    if (nd + shift > 19) return false;
    for (int k = 0; k < nd; ++k) v = v * 10 + (digits[k] - '0');
    for (int64_t k = 0; k < shift; ++k) v *= 10;
  } else {
    int64_t keep = nd + shift;
    if (keep > 19) return false;
    if (keep < 0) { *out = 0; return true; }
    for (int k = 0; k < keep; ++k) v = v * 10 + (digits[k] - '0');
    if (keep < nd) {
      int first = digits[keep] - '0';
      bool rest = sticky;
      for (int k = static_cast<int>(keep) + 1; k < nd; ++k) rest |= digits[k] != '0';
      if (first > 5 || (first == 5 && (rest || (v & 1)))) ++v;
    }
  }
  if (v > INT64_MAX) return false;
  *out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}


// Exact decimal text ("12", "1.0", "2e3", "1.5") -> int64. kFraction when the
// value is not integral, kRange when it does not fit in int64.
IntText IntegralFromText(std::string_view t, int64_t* out) {
  auto r = std::from_chars(t.data(), t.data() + t.size(), *out);
  if (r.ec == std::errc() && r.ptr == t.data() + t.size()) return IntText::kOk;
  bool neg = !t.empty() && t[0] == '-';
  size_t i = neg ? 1 : 0;
  std::string digits;  // significant digits
  int64_t frac = 0;
  bool seen_dot = false;
  for (; i < t.size() && t[i] != 'e' && t[i] != 'E'; ++i) {
    char c = t[i];
    if (c == '.') { seen_dot = true; continue; }
    if (digits.empty() && c == '0') { if (seen_dot) ++frac; continue; }
    if (digits.size() < 400) { digits += c; if (seen_dot) ++frac; }
    else if (!seen_dot) return IntText::kRange;
    else if (c != '0') return IntText::kFraction;
  }
  int64_t exp = 0;
  if (i < t.size()) {
    std::string_view e = t.substr(i + 1);
    if (!e.empty() && e[0] == '+') e.remove_prefix(1);
    auto er = std::from_chars(e.data(), e.data() + e.size(), exp);
    if (er.ec != std::errc()) exp = e.starts_with('-') ? -100000 : 100000;
  }
  while (!digits.empty() && digits.back() == '0') { digits.pop_back(); --frac; }  // 1.50 -> 15, frac 0
  if (digits.empty()) { *out = 0; return IntText::kOk; }
  int64_t scale = exp - frac;  // value = digits * 10^scale
  if (scale < 0) return IntText::kFraction;  // trailing zeros stripped: a real fraction
  if (static_cast<int64_t>(digits.size()) + scale > 19) return IntText::kRange;
  __int128 v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  for (int64_t k = 0; k < scale; ++k) v *= 10;
  if (neg) v = -v;
  if (v > INT64_MAX || v < INT64_MIN) return IntText::kRange;
  *out = static_cast<int64_t>(v);
  return IntText::kOk;
}

// What a value of type `t` looks like, for "must be ..." messages.
const char* Want(const Type& t) {
  switch (t.kind()) {
    case Kind::kString: return "a string";
    case Kind::kBool: return "a boolean";
    case Kind::kInt: return "an integer";
    case Kind::kDuration: return "an integer (milliseconds)";
    case Kind::kDecimal: case Kind::kMoney: return "a number";
    case Kind::kTime: return "an RFC 3339 time string";
    case Kind::kSet: case Kind::kList: return "an array";
    case Kind::kMap: case Kind::kRecord: return "an object";
    default: return "a value";
  }
}

std::string_view Clip(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Quoted(std::string_view s) {
  std::string_view c = Clip(s, 64);
  return "`" + std::string(c) + (c.size() < s.size() ? "...`" : "`");
}

namespace {

// request.model / request.models become canonical ids (names.h); the slugs
// as sent and their variant suffixes go to the derived fields. Strings
// still point into the buffer: only a list with some variant is rebuilt.
void DeriveModelNames(const Plan& plan, vm::Record* rec) {
  std::vector<Value> variants;
  if (plan.model_slot >= 0) {
    Value& m = rec->slots[plan.model_slot];
    if (m.kind == Kind::kString) {
      if (plan.model_full_slot >= 0) rec->slots[plan.model_full_slot] = m;
      stdlib::ModelName n = stdlib::SplitModel(m.sv());
      if (plan.model_variant_slot >= 0)
        rec->slots[plan.model_variant_slot] = Value::StringRef(n.variant);
      if (!n.variant.empty()) variants.push_back(Value::StringRef(n.variant));
      m = Value::StringRef(n.id);
    }
  }
  if (plan.models_slot >= 0) {
    Value& ms = rec->slots[plan.models_slot];
    if (plan.models_full_slot >= 0) rec->slots[plan.models_full_slot] = ms;
    if (ms.kind == Kind::kList && ms.list) {
      bool any = false;
      for (const Value& x : ms.list->items) any = any || !stdlib::SplitModel(x.sv()).variant.empty();
      if (any) {
        std::vector<Value> ids = rec->arena.TakeVector();
        ids.reserve(ms.list->items.size());
        for (const Value& x : ms.list->items) {
          stdlib::ModelName n = stdlib::SplitModel(x.sv());
          ids.push_back(Value::StringRef(n.id));
          if (!n.variant.empty()) variants.push_back(Value::StringRef(n.variant));
        }
        ms = rec->arena.MakeList(std::move(ids));
      }
    }
  } else if (plan.models_full_slot >= 0) {
    rec->slots[plan.models_full_slot] = EmptyOf(Kind::kList);
  }
  if (plan.variants_slot >= 0) {
    rec->slots[plan.variants_slot] =
        variants.empty() ? EmptyOf(Kind::kSet) : rec->arena.MakeSet(std::move(variants));
  }
}

}  // namespace

void DeriveFields(const Plan& plan, int content_index, std::vector<Value> params,
                  std::string* join, vm::Record* rec) {
  const Value* msgs = plan.messages_slot >= 0 ? &rec->slots[plan.messages_slot] : nullptr;
  Value content = Value::StringRef(std::string_view("", 0));
  if (msgs && msgs->kind == Kind::kList && !msgs->list->items.empty()) {
    const auto& items = msgs->list->items;
    int ci = content_index;
    if (items.size() == 1 && ci >= 0) {
      content = items[0].rec->fields[ci];
    } else if (ci >= 0) {
      std::string& j = *join;
      j.clear();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) j += '\n';
        const Value& c = items[i].rec->fields[ci];
        if (c.kind == Kind::kString) j.append(c.str, c.size);
      }
      content = rec->arena.String(j);
    }
  }
  if (plan.content_slot >= 0) rec->slots[plan.content_slot] = content;
  if (plan.tokens_slot >= 0)
    rec->slots[plan.tokens_slot] = Value::Int(stdlib::EstimateTokens(content.sv()));
  if (plan.params_slot >= 0) {
    rec->slots[plan.params_slot] =
        params.empty() ? EmptyOf(Kind::kSet) : rec->arena.MakeSet(std::move(params));
  }
  DeriveModelNames(plan, rec);
}

bool PreCheck(std::string_view* in, const Limits& limits, InputError* err) {
  std::string_view& json = *in;
  // A UTF-8 byte order mark (Windows editors write one) is not part of JSON.
  if (json.size() >= 3 && json.substr(0, 3) == "\xEF\xBB\xBF") json.remove_prefix(3);
  if (json.size() > limits.max_input_bytes) {
    err->code = "input_too_large";
    err->message = "decision input is " + std::to_string(json.size()) +
                   " bytes, more than the limit of " + std::to_string(limits.max_input_bytes);
    err->path.clear();
    return false;
  }
  if (size_t bad = FindInvalidUtf8(json); bad != std::string_view::npos) {
    err->code = "input_invalid_utf8";
    err->message = "invalid UTF-8 at byte " + std::to_string(bad);
    err->path.clear();
    return false;
  }
  // JSON text never holds a raw NUL; the in-situ parser would stop there.
  if (const void* nul = std::memchr(json.data(), 0, json.size()); nul != nullptr) {
    err->code = "input_malformed_json";
    err->message = "malformed JSON at byte " +
                   std::to_string(static_cast<const char*>(nul) - json.data()) + ": NUL byte";
    err->path.clear();
    return false;
  }
  // Strict UTF-8 for the decoded strings too: no lone `\uDC00` escape.
  if (size_t bad = FindLoneSurrogateEscape(json); bad != std::string_view::npos) {
    err->code = "input_invalid_utf8";
    err->message = "lone surrogate escape at byte " + std::to_string(bad) +
                   " (not a unicode character)";
    err->path.clear();
    return false;
  }
  return true;
}

bool CheckParse(std::string_view json, const Limits& limits, bool too_deep, int result_code,
                size_t result_offset, size_t end, const HugeNumbers& huge, InputError* err) {
  err->path.clear();
  if (too_deep) {
    err->code = "input_too_deep";
    err->message = "decision input nests deeper than the limit of " +
                   std::to_string(limits.max_input_depth) + " levels";
    return false;
  }
  if (result_code == rj::kParseErrorNumberTooBig) {
    // More of them than kMaxHugeNumbers: say where the first one past it is.
    err->code = "input_invalid_value";
    std::string masked(json);  // PathAt parses the text before it: mask those too
    for (size_t i = 0; i < huge.n; ++i) MaskNumberAt(masked.data(), masked.size(), huge.at[i].offset);
    err->path = PathAt(masked, result_offset);
    err->message = "number at byte " + std::to_string(result_offset) +
                   " is out of range (beyond 1.8e308), and the input has more than " +
                   std::to_string(kMaxHugeNumbers) + " such numbers";
    return false;
  }
  if (result_code != rj::kParseErrorNone || end != json.size()) {
    size_t off = result_code != rj::kParseErrorNone ? result_offset : end;
    err->code = "input_malformed_json";
    std::string what = result_code != rj::kParseErrorNone
                           ? rj::GetParseError_En(static_cast<rj::ParseErrorCode>(result_code))
                           : "unexpected NUL byte";
    for (char& c : what) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!what.empty() && what.back() == '.') what.pop_back();
    err->message = "malformed JSON at byte " + std::to_string(off) + ": " + what;
    return false;
  }
  return true;
}

int ContentIndex(const stdlib::Schema& schema, const Plan& plan) {
  if (plan.messages_slot < 0) return -1;
  int id = schema.FieldOfSlot(ast::Scope::kRequest, plan.messages_slot);
  return schema.field(id).type.elem().FieldIndex("content");
}

void FillClock(const Plan& plan, const DecodeOptions& options, vm::Record* out) {
  // Clock fields (context.time): absent ones take the evaluating instant,
  // read once; the first one's instant and source are recorded for the
  // decision (so that a replay can pass the same instant back).
  bool first = true;
  for (int slot : plan.clock_slots) {
    Value& v = out->slots[slot];
    bool from_clock = v.is_null();
    if (from_clock) {
      if (!out->clock_ms) out->clock_ms = options.now_ms ? *options.now_ms : SystemClockMs();
      v = Value::Time(*out->clock_ms);
    }
    if (first) {
      out->time = vm::Record::TimeStamp{v.i, from_clock};
      first = false;
    }
  }
}

}  // namespace tollgate::runtime::internal
