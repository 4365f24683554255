// DecodeInput: schema-driven decoding of the decision input (see input.h).
//
// The JSON is UTF-8 validated, copied into Record::buffer and parsed in place
// with rapidjson (numbers kept as their exact text). A per-schema plan --
// a tree of object nodes whose leaves are the request-scoped fields -- is
// built once per thread and reused; the walk over the DOM then fills slots
// with Values whose strings point into the buffer.
#include "runtime/input/input.h"

// SIMD string scanning and whitespace skipping: SSE4.2 where the build
// enables it for this file (CMakeLists.txt, x86-64 only), else SSE2 (baseline
// on x86-64).
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <optional>

#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "runtime/input/candidate_names.h"
#include "runtime/input/input_text.h"
#include "runtime/input/insitu_reader.h"
#include "runtime/input/request_texts.h"
#include "runtime/router/catalog.h"
#include "stdlib/builtins.h"
#include "stdlib/field_values.h"
#include "stdlib/names.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;
using Pool = rj::MemoryPoolAllocator<rj::CrtAllocator>;
using Doc = rj::GenericDocument<rj::UTF8<>, Pool, Pool>;
using JVal = rj::GenericValue<rj::UTF8<>, Pool>;

// How a leaf is read beyond its schema type.
enum class Special : uint8_t {
  kNone,
  kMessages,  // request.messages: content parts, null assistant content
  kTools,     // request.tools: OpenAI tool objects -> names
  kSort,      // request.provider.sort: "price" or {"by": "price"}
  kPercentile,  // preferred_max_latency / _min_throughput: n or {"p50": n, "p90": m, ...}
  kIgnore,    // tolerated but not in the schema (provider.max_price.image)
};

struct Node {
  std::string name;
  std::string path;  // dotted schema path
  bool is_object = false;
  bool strict = true;  // unknown members are errors
  bool is_body = false;  // the top-level request body (collects parameters)
  int slot = -1;
  Type type;
  Special special = Special::kNone;
  bool non_negative = false;  // request.max_tokens: a negative value is input_invalid_value
  // The upper end of a candidate figure (stdlib/field_values.h FieldRange:
  // endpoint.uptime is a fraction, at most 1, endpoint.latency_p50 at most
  // 3600 seconds, as in the catalog), in micros;
  // the field's range (for the message), or null for none.
  const stdlib::FieldRange* upper = nullptr;
  // request.n (the number of completions): an integer of at least 1; 0, a
  // negative, a fraction or an integer beyond int64 is input_invalid_value
  // (every completion is billed: n scales the worst-case cost).
  bool count = false;
  // principal.jurisdiction: two upper-case ASCII letters, as the catalog's
  // provider.jurisdiction (else input_invalid_value: a "de" would silently
  // miss every `principal.jurisdiction in eu` rule)
  bool country = false;
  // principal.user / key_id / jurisdiction: "" is no id and reads as absent
  // (else every caller sending "" would share one budget or rate-limit key,
  // across workspaces: `key principal.user ?? principal.workspace`).
  bool empty_is_absent = false;
  // principal.workspace: "" is input_invalid_value (the tenant billed).
  bool non_empty = false;
  // A name of the `candidate` member, checked as the catalog checks its
  // endpoints (stdlib/field_values.h, ShapedField::candidate): a value the
  // catalog refuses is input_invalid_value, never a candidate no rule
  // recognises.
  stdlib::Shape catalog = stdlib::Shape::kNone;
  // request.provider.only / order / ignore: provider slugs, lower-cased
  // (ASCII) as the router matches them (catalog.h ProviderMatches ignores
  // case), so that a policy sees what the router applies.
  bool lower = false;
  bool not_parameter = false;  // a body member that is not a model parameter (stdlib::IsNotParameter)
  // A body member whose strings are texts of request.content (not in
  // request_texts.h kBodyMembers: a schema extension's member).
  bool text_member = false;
  std::vector<Node> kids;
  // alias member name -> index into kids (max_completion_tokens)
  std::vector<std::pair<std::string, int>> aliases;
  // The member names this object reads, kids then aliases (an entry's
  // position: kids index, or kids.size() + aliases index), grouped by
  // length so that a lookup compares only names of the member's length.
  // Built once the plan is complete (IndexNames): the views point into
  // `name` and `aliases`.
  struct Names {
    static constexpr size_t kGroups = 33;  // lengths 0..31; longer names share the last group
    struct Entry { std::string_view name; uint32_t pos; };
    std::vector<Entry> entries;  // by group
    std::array<uint32_t, kGroups + 1> start{};  // group g: entries [start[g], start[g + 1])
    static size_t Group(size_t length) { return std::min(length, kGroups - 1); }
    // The position of `name`, -1 when the object does not read it.
    int Find(std::string_view name) const {
      const size_t g = Group(name.size());
      for (uint32_t i = start[g]; i < start[g + 1]; ++i)
        if (SameName(entries[i].name, name)) return static_cast<int>(entries[i].pos);
      return -1;
    }
  } names;
  // request.messages: the message record's field names (position: index
  // in Type::fields()), so that a message's members are not looked up in
  // the type field by field.
  Names fields;
  int content_field = -1, role_field = -1;  // their positions in `fields`
};

struct Plan {
  Node root;
  int n_slots = 0;
  struct Req { int slot; std::string path; };
  std::vector<Req> required;
  std::vector<std::pair<int, Kind>> empties;  // slots defaulting to empty set/list
  std::vector<int> clock_slots;  // time slots filled from the clock when absent
  int content_slot = -1, tokens_slot = -1, params_slot = -1, messages_slot = -1;
  int partition_slot = -1;  // request.provider.sort_partition, from provider.sort.partition
  std::vector<std::pair<int, int64_t>> defaults;  // int slots with a schema `default`
  // Model names (stdlib/names.h): request.model / request.models are decoded
  // as sent, then split into canonical ids and the derived *_full / variant fields.
  int model_slot = -1, models_slot = -1;
  int model_full_slot = -1, model_variant_slot = -1, models_full_slot = -1, variants_slot = -1;
};

// *dst = v, field by field. `v` was just written by the decoding functions
// with stores narrower than 16 bytes, and the CPU cannot forward one load
// from two stores: the 16-byte copy `*dst = v` compiles to waits until they
// reach the cache (perf put a fifth of Decoder::Object's samples there); loads of
// each field are forwarded.
[[gnu::always_inline]] inline void Copy(const Value& v, Value* dst) {
  dst->kind = v.kind;
  dst->size = v.size;
  dst->i = v.i;
}

const SetObject kEmptySet{};
const ListObject kEmptyList{};

Value EmptyOf(Kind k) {
  Value v;
  v.kind = k;
  if (k == Kind::kSet) v.set = &kEmptySet;
  else v.list = &kEmptyList;
  return v;
}

// The index of `all` (an entry's position: its index in `all`); the first
// of two equal names is found.
Node::Names MakeNames(const std::vector<std::string_view>& all) {
  Node::Names x;
  for (size_t i = 0; i < all.size(); ++i) x.entries.push_back({all[i], static_cast<uint32_t>(i)});
  std::stable_sort(x.entries.begin(), x.entries.end(), [](const auto& a, const auto& b) {
    return Node::Names::Group(a.name.size()) < Node::Names::Group(b.name.size());
  });
  for (const auto& e : x.entries) ++x.start[Node::Names::Group(e.name.size()) + 1];
  for (size_t g = 1; g < x.start.size(); ++g) x.start[g] += x.start[g - 1];
  return x;
}

// Fills Node::names (and a messages leaf's Node::fields) of `n` and the
// nodes under it.
void IndexNames(Node* n) {
  std::vector<std::string_view> all;
  for (const Node& k : n->kids) all.push_back(k.name);
  for (const auto& a : n->aliases) all.push_back(a.first);
  n->names = MakeNames(all);
  if (n->special == Special::kMessages) {
    all.clear();
    for (const RecordField& f : n->type.elem().fields()) all.push_back(f.name);
    n->fields = MakeNames(all);
    n->content_field = n->fields.Find("content");
    n->role_field = n->fields.Find("role");
  }
  for (Node& k : n->kids) IndexNames(&k);
}

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
  leaf.count = path == "request.n" && type.is(Kind::kInt);
  leaf.country = path == "principal.jurisdiction" && type.is(Kind::kString);
  leaf.empty_is_absent = (path == "principal.user" || path == "principal.key_id" ||
                          path == "principal.jurisdiction") &&
                         type.is(Kind::kString);
  leaf.non_empty = path == "principal.workspace" && type.is(Kind::kString);
  leaf.lower = (path == "request.provider.only" || path == "request.provider.order" ||
                path == "request.provider.ignore") &&
               (type.is(Kind::kSet) || type.is(Kind::kList)) && type.elem().is(Kind::kString);
  // context.data_class, environment and tags: labels a policy compares with
  // its constants; lower-cased (ASCII) so that `Confidential` from a header or
  // a key is the `confidential` a ZDR rule tests (stdlib/field_values.h).
  leaf.lower = leaf.lower ||
               ((path == "context.data_class" || path == "context.environment") &&
                type.is(Kind::kString)) ||
               (path == "context.tags" && (type.is(Kind::kSet) || type.is(Kind::kList)) &&
                type.elem().is(Kind::kString));
  if (path.rfind("candidate.", 0) == 0) {
    const std::string_view f = std::string_view(path).substr(10);
    if (const stdlib::ShapedField* sf = stdlib::FindShapedField(f); sf && type.is(Kind::kString))
      leaf.catalog = sf->candidate;
    // Prices, sizes, figures: the catalog holds none below zero.
    leaf.non_negative =
        type.is(Kind::kInt) || type.is(Kind::kMoney) || type.is(Kind::kDecimal);
    if (const stdlib::FieldRange* r = stdlib::FindFieldRange(f);
        r && r->hi != INT64_MAX && type.is(Kind::kDecimal))
      leaf.upper = r;
  }
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

// The plan of the top-level `candidate` member (candidate-scope fields under
// "candidate."): its root tolerates the request members, its objects are strict.
std::unique_ptr<Plan> BuildCandidatePlan(const stdlib::Schema& schema) {
  auto plan = std::make_unique<Plan>();
  plan->n_slots = schema.slot_count(ast::Scope::kCandidate);
  plan->root.strict = false;
  for (const stdlib::FieldDef& f : schema.fields()) {
    // Derived fields (endpoint.estimated_cost) may be given by the caller;
    // when not, the deciding paths compute it from the candidate's prices
    // after decoding (runtime::DeriveEstimatedCost, runtime/router/router.h).
    if (f.scope != ast::Scope::kCandidate) continue;
    AddLeaf(&plan->root, "candidate." + f.path, f.slot, f.type, Special::kNone);
    // Not even `required` fields are demanded: a gateway that routes itself
    // may not know every catalog figure. A require that reads a field the
    // caller left out fails at run time and, by its on_error, fails closed.
    if (f.type.is(Kind::kSet) || f.type.is(Kind::kList))
      plan->empties.emplace_back(f.slot, f.type.kind());
  }
  IndexNames(&plan->root);
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
    if (f.has_default && f.type.is(Kind::kInt)) plan->defaults.emplace_back(f.slot, f.default_int);
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
  // max_completion_tokens is OpenAI's newer name for max_tokens; `functions`
  // is the deprecated form of `tools` (its names join request.tools).
  int mt = schema.Find("request.max_tokens");
  bool legacy_functions =
      schema.Find("request.tools") >= 0 && schema.Find("request.functions") < 0;
  for (Node& k : plan->root.kids) {
    if (k.name != "request") continue;
    for (size_t i = 0; i < k.kids.size(); ++i) {
      if (mt >= 0 && schema.Find("request.max_completion_tokens") < 0 &&
          k.kids[i].name == "max_tokens")
        k.aliases.emplace_back("max_completion_tokens", i);
      if (legacy_functions && k.kids[i].name == "tools" && k.kids[i].special == Special::kTools)
        k.aliases.emplace_back("functions", i);
    }
  }
  // Body members that are not model parameters are marked once here, so
  // decoding does not search the list (stdlib::IsNotParameter) for every known member.
  for (Node& k : plan->root.kids) {
    if (!k.is_body) continue;
    for (Node& m : k.kids) {
      m.not_parameter = stdlib::IsNotParameter(m.name);
      m.text_member = !kKnownBodyMembers.Has(m.name);
    }
  }
  IndexNames(&plan->root);
  return plan;
}

// Per-thread scratch: the parse pools, the cached plans and string scratch.
struct Scratch {
  static constexpr size_t kPoolBytes = 64 * 1024;
  std::unique_ptr<char[]> pool_buf{new char[kPoolBytes]};
  std::unique_ptr<char[]> stack_buf{new char[16 * 1024]};
  Pool pool{pool_buf.get(), kPoolBytes};
  internal::InsituStack stack{stack_buf.get(), 16 * 1024};
  std::string join;
  RequestTexts<const JVal> texts;  // request.content's texts (request_texts.h)
  std::vector<std::string_view> names;  // duplicate-key check of large objects
  // Keyed by Schema::id(), which changes whenever a schema's contents do.
  struct Cached { uint64_t schema_id; bool candidate; std::unique_ptr<Plan> plan; };
  std::vector<Cached> plans;  // most recent last; at most 4

  const Plan& PlanFor(const stdlib::Schema& s, bool candidate = false) {
    for (Cached& c : plans)
      if (c.schema_id == s.id() && c.candidate == candidate) return *c.plan;
    if (plans.size() >= 4) plans.erase(plans.begin());
    plans.push_back({s.id(), candidate, candidate ? BuildCandidatePlan(s) : BuildPlan(s)});
    return *plans.back().plan;
  }
};

Scratch& GetScratch() {
  thread_local Scratch s;
  return s;
}

// Forwards SAX events to the Document, refusing to nest deeper than `max`.
// INVARIANT: the recursive reader never goes more than max+1 levels deep
// because StartObject/StartArray refuse before it recurses.
struct DepthGuard {
  Doc* doc;
  uint32_t max;
  uint32_t depth = 0;
  bool too_deep = false;
  bool Null() { return doc->Null(); }
  bool Bool(bool b) { return doc->Bool(b); }
  bool Int(int i) { return doc->Int(i); }
  bool Uint(unsigned i) { return doc->Uint(i); }
  bool Int64(int64_t i) { return doc->Int64(i); }
  bool Uint64(uint64_t i) { return doc->Uint64(i); }
  bool Double(double d) { return doc->Double(d); }
  bool RawNumber(const char* s, rj::SizeType n, bool copy) { return doc->RawNumber(s, n, copy); }
  bool String(const char* s, rj::SizeType n, bool copy) { return doc->String(s, n, copy); }
  bool Key(const char* s, rj::SizeType n, bool copy) { return doc->Key(s, n, copy); }
  bool StartObject() { return Enter() && doc->StartObject(); }
  bool EndObject(rj::SizeType n) { --depth; return doc->EndObject(n); }
  bool StartArray() { return Enter() && doc->StartArray(); }
  bool EndArray(rj::SizeType n) { --depth; return doc->EndArray(n); }
  bool Enter() {
    if (++depth > max) { too_deep = true; return false; }
    return true;
  }
};

// The JSON path of the value starting at byte `offset` of `json`
// ("request.metadata.x", "request.messages[2]"), from a SAX pass over the
// text before it. Only for error messages (rare): costs O(offset).
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

// A JSON path for error messages, built only when an error is reported.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;  // member name, or empty for an index
  int64_t index = -1;
  std::string Render() const {
    std::string out = parent ? parent->Render() : std::string();
    if (index >= 0) out += "[" + std::to_string(index) + "]";
    else { if (!out.empty()) out += "."; out += name; }
    return out;
  }
};

const char* JsonTypeName(const JVal& v) {
  switch (v.GetType()) {
    case rj::kNullType: return "null";
    case rj::kFalseType: case rj::kTrueType: return "a boolean";
    case rj::kObjectType: return "an object";
    case rj::kArrayType: return "an array";
    case rj::kStringType: return "a string";
    case rj::kNumberType: return "a number";
  }
  return "a value";
}

std::string_view Sv(const JVal& v) { return {v.GetString(), v.GetStringLength()}; }

// The value of `obj`'s first member named `name`, nullptr when none (or
// `obj` is no object): rapidjson's FindMember without its strlen and memcmp
// calls (SameName).
const JVal* Member(const JVal& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
    if (SameName(Sv(m->name), name)) return &m->value;
  return nullptr;
}

// 10^k for k = 0..19.
constexpr std::array<__int128, 20> kPow10 = [] {
  std::array<__int128, 20> p{};
  p[0] = 1;
  for (size_t k = 1; k < p.size(); ++k) p[k] = p[k - 1] * 10;
  return p;
}();

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
    v *= kPow10[shift];  // shift <= 19 - nd
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

enum class IntText { kOk, kFraction, kRange };

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
    case Kind::kDuration: return "an integer (milliseconds) or a duration such as \"90s\"";
    case Kind::kDecimal: case Kind::kMoney: return "a number";
    case Kind::kTime: return "an RFC 3339 time string";
    case Kind::kSet: case Kind::kList: return "an array";
    case Kind::kMap: case Kind::kRecord: return "an object";
    default: return "a value";
  }
}

class Decoder {
 public:
  // `buf_begin` is the start of Record::buffer.
  Decoder(const Plan& plan, const Limits& limits, vm::Record* rec, InputError* err,
          Scratch& scratch, const char* buf_begin)
      : plan_(plan), limits_(limits), rec_(rec), err_(err), s_(scratch), buf_begin_(buf_begin),
        params_(rec->arena.TakeVector()) {}

  bool Run(const JVal& root) {
    if (!root.IsObject())
      return Fail("input_wrong_type",
                  "the decision input must be a JSON object, got " + std::string(TypeName(root)), "");
    if (!Object(root, plan_.root, nullptr)) return false;
    if (const JVal* body = Member(root, "request"); body && body->IsObject()) body_ = body;
    for (const Plan::Req& r : plan_.required)
      if (rec_->slots[r.slot].is_null())
        return Fail("input_missing_field", "missing required field `" + r.path + "`", r.path);
    for (const auto& [slot, kind] : plan_.empties)
      if (rec_->slots[slot].is_null()) rec_->slots[slot] = EmptyOf(kind);
    for (const auto& [slot, value] : plan_.defaults)
      if (rec_->slots[slot].is_null()) rec_->slots[slot] = Value::Int(value);  // request.n: 1
    return Derive();
  }

 private:
  bool Fail(const char* code, std::string message, std::string path) {
    err_->code = code;
    err_->message = std::move(message);
    err_->path = std::move(path);
    return false;
  }
  bool WrongType(const Path& p, const char* want, const JVal& got) {
    std::string path = p.Render();
    return Fail("input_wrong_type", "`" + path + "` must be " + want + ", got " + Got(got), path);
  }
  // The offending value for a message: a number's text, true/false/null, or
  // the JSON type of strings, objects and arrays.
  std::string Got(const JVal& v) const {
    if (IsNumberText(v)) return std::string(Clip(Sv(v), 40));
    if (v.IsNull()) return "null";
    if (v.IsBool()) return v.GetBool() ? "true" : "false";
    return JsonTypeName(v);
  }
  // At most `n` bytes of `s`, cut at a UTF-8 character boundary.
  static std::string_view Clip(std::string_view s, size_t n) {
    if (s.size() <= n) return s;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
  }
  static std::string Quoted(std::string_view s) {
    std::string_view c = Clip(s, 64);
    return "`" + std::string(c) + (c.size() < s.size() ? "...`" : "`");
  }
  bool Duplicate(std::string_view name, const Path* parent) {
    Path q{parent, name};
    std::string path = q.Render();
    std::string where = parent ? "`" + parent->Render() + "`" : std::string("the decision input");
    return Fail("input_duplicate_key", "duplicate key `" + std::string(name) + "` in " + where, path);
  }
  // Fails with input_duplicate_key when `obj` has a member name twice.
  // INVARIANT: called on every object the decoder reads, before its members.
  bool NoDuplicates(const JVal& obj, const Path* parent) {
    const rj::SizeType n = obj.MemberCount();
    if (n < 2) return true;
    auto b = obj.MemberBegin();
    if (n <= 16) {
      for (rj::SizeType i = 1; i < n; ++i)
        for (rj::SizeType j = 0; j < i; ++j) {
          const auto& x = (b + i)->name;
          const auto& y = (b + j)->name;
          if (SameName(Sv(x), Sv(y))) return Duplicate(Sv(x), parent);
        }
      return true;
    }
    std::vector<std::string_view>& names = s_.names;
    names.clear();
    for (auto m = b; m != obj.MemberEnd(); ++m) names.push_back(Sv(m->name));
    std::sort(names.begin(), names.end());
    auto d = std::adjacent_find(names.begin(), names.end());
    return d == names.end() || Duplicate(*d, parent);
  }

  // The kid at Node::names position `pos` (-1: none); *alias is set when
  // the position is an alias's.
  static const Node* KidAt(const Node& n, int pos, bool* alias) {
    if (pos < 0) return nullptr;
    const size_t i = static_cast<size_t>(pos);
    if (i < n.kids.size()) return &n.kids[i];
    *alias = true;
    return &n.kids[n.aliases[i - n.kids.size()].second];
  }

  // Objects of at most this many members are looked up once (Distinct).
  static constexpr rj::SizeType kResolved = 64;

  // Sets pos[i] to the Node::names position of `obj`'s member i (-1: one
  // the node does not read) and returns whether no name occurs twice: a
  // known name as a position seen before (a bit of `seen`), an unknown one
  // by comparing it with the other unknown names. Needs at most kResolved
  // members and at most 64 names in `node`.
  static bool Distinct(const JVal& obj, const Node& node, int* pos) {
    uint64_t seen = 0;
    rj::SizeType unknown[kResolved];
    rj::SizeType n_unknown = 0;
    rj::SizeType i = 0;
    bool distinct = true;
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m, ++i) {
      const std::string_view name = Sv(m->name);
      pos[i] = node.names.Find(name);
      if (pos[i] >= 0) {
        const uint64_t bit = uint64_t{1} << pos[i];
        distinct = distinct && !(seen & bit);
        seen |= bit;
        continue;
      }
      for (rj::SizeType u = 0; u < n_unknown && distinct; ++u)
        distinct = !SameName(Sv((obj.MemberBegin() + unknown[u])->name), name);
      unknown[n_unknown++] = i;
    }
    return distinct;
  }

  static bool AliasTarget(const Node& n, const Node* kid) {
    for (const auto& [a, idx] : n.aliases)
      if (&n.kids[idx] == kid) return true;
    return false;
  }

  bool Object(const JVal& obj, const Node& node, const Path* parent) {
    // Each member's kid is looked up once, for the duplicate check and the
    // walk; a duplicate is reported by NoDuplicates (its message and path).
    // Larger objects: NoDuplicates, then a lookup per member.
    int pos[kResolved];
    const bool resolved = obj.MemberCount() <= kResolved && node.names.entries.size() <= 64;
    if (!(resolved && Distinct(obj, node, pos)) && !NoDuplicates(obj, parent)) return false;
    rj::SizeType i = 0;
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m, ++i) {
      std::string_view name = Sv(m->name);
      Path p{parent, name};
      bool alias = false;
      const Node* kid = KidAt(node, resolved ? pos[i] : node.names.Find(name), &alias);
      if (node.is_body && !m->value.IsNull() &&
          !(kid ? kid->not_parameter : stdlib::IsNotParameter(name))) {
        params_.push_back(Value::StringRef(ParameterName(name)));
        // A json_schema response format asks for structured outputs, which
        // endpoints list apart from JSON mode (`response_format`).
        if (SameName(name, "response_format") && JsonSchemaFormat(m->value))
          params_.push_back(Value::StringRef("structured_outputs"));
      }
      if (node.is_body && (kid ? kid->text_member : !kKnownBodyMembers.Has(name))) unknown_ = true;
      if (!kid) {
        if (node.strict) {
          std::string path = p.Render();
          return Fail("input_unknown_field", "unknown field `" + path + "`", path);
        }
        continue;
      }
      if (m->value.IsNull() || kid->special == Special::kIgnore) continue;
      if (kid->is_object) {
        if (!m->value.IsObject()) return WrongType(p, "an object", m->value);
        if (!Object(m->value, *kid, &p)) return false;
        continue;
      }
      if (kid->special == Special::kTools) {
        // `tools` and the deprecated `functions` both name tools: their names
        // are merged, whichever comes first.
        if (!Tools(m->value, *kid, p, &rec_->slots[kid->slot])) return false;
        continue;
      }
      // A member and its alias both present (max_tokens, max_completion_tokens):
      // the larger counts, in either order -- upstreams differ on which one they
      // honour, and the budgets' worst case must cover it.
      const bool both = !rec_->slots[kid->slot].is_null() && (alias || AliasTarget(node, kid));
      Value v;
      lower_ = kid->lower;
      const bool ok = Leaf(m->value, *kid, p, &v);
      lower_ = false;
      if (!ok) return false;
      if (kid->non_negative && v.kind == Kind::kInt && v.i < 0) {
        std::string path = p.Render();
        return Fail("input_invalid_value",
                    "`" + path + "` must not be negative, got " + std::to_string(v.i), path);
      }
      if (kid->non_negative && (v.kind == Kind::kMoney || v.kind == Kind::kDecimal) && v.i < 0) {
        std::string path = p.Render();
        return Fail("input_invalid_value",
                    "`" + path + "` must not be negative, got " + std::string(Clip(Sv(m->value), 40)),
                    path);
      }
      if (kid->upper && v.kind == Kind::kDecimal && v.i > kid->upper->hi) {
        std::string path = p.Render();
        return Fail("input_invalid_value",
                    "`" + path + "` must be at most " +
                        stdlib::RenderValue(Value::Decimal(kid->upper->hi)) + ", got " +
                        std::string(Clip(Sv(m->value), 40)) + ": " + std::string(kid->upper->why),
                    path);
      }
      if (kid->count && v.kind == Kind::kInt && v.i < 1) return BadCount(p, std::to_string(v.i));
      if (both) {
        const Value& had = rec_->slots[kid->slot];
        if (had.kind == Kind::kInt && v.kind == Kind::kInt && had.i >= v.i) continue;
      }
      if (v.kind == Kind::kString && v.sv().empty()) {
        if (kid->empty_is_absent) continue;
        if (kid->non_empty) {
          std::string path = p.Render();
          return Fail("input_invalid_value", "`" + path + "` must not be empty", path);
        }
      }
      if (kid->catalog != stdlib::Shape::kNone && v.kind == Kind::kString &&
          !CatalogValue(*kid, v.sv(), p))
        return false;
      // Assigned codes only: "UK", "EL" (the EU's code for Greece) and "EU"
      // would silently skip every `principal.jurisdiction in eu` rule.
      if (kid->country && v.kind == Kind::kString && !stdlib::IsAssignedCountry(v.sv())) {
        std::string path = p.Render();
        const std::string_view cc = v.sv();
        const char* hint = cc == "UK" ? " (the United Kingdom is `GB`)"
                           : cc == "EL" ? " (Greece is `GR`)"
                           : cc == "EU" ? " (the EU is no country)" : "";
        return Fail("input_invalid_value",
                    "`" + path + "` must be an assigned ISO 3166-1 alpha-2 country code in upper "
                    "case such as `DE`, got `" + std::string(cc) + "`" + hint,
                    path);
      }
      Copy(v, &rec_->slots[kid->slot]);
    }
    return true;
  }

  // A `candidate` value the catalog would refuse (stdlib::Fits) is
  // input_invalid_value: `Amazon-Bedrock`, `amazon-bedrock `, `cn` or `INT4`
  // would otherwise pass every rule that names `amazon-bedrock`, `CN` or
  // `int4`. A model with two variants gets OneVariant's message.
  bool CatalogValue(const Node& kid, std::string_view v, const Path& p) {
    if (stdlib::Fits(kid.catalog, v)) return true;
    std::string path = p.Render();
    if (kid.catalog == stdlib::Shape::kModelSlug && !v.empty())
      return OneVariant(v, stdlib::SplitModel(v), path);
    return Fail("input_invalid_value",
                "`" + path + "` must be " + stdlib::Describe(kid.catalog) + ", got " + Quoted(v), path);
  }

  // `s` with A-Z lower-cased; not copied when it has none.
  [[gnu::noinline]] Value Lowered(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && !(s[i] >= 'A' && s[i] <= 'Z')) ++i;
    if (i == s.size()) return Value::StringRef(s);
    std::string& j = s_.join;
    j.assign(s);
    for (; i < j.size(); ++i)
      if (j[i] >= 'A' && j[i] <= 'Z') j[i] = static_cast<char>(j[i] | 0x20);
    return rec_->arena.String(j);
  }

  // request.n out of its range (`got` is the JSON number's text).
  bool BadCount(const Path& p, std::string got) {
    std::string path = p.Render();
    return Fail("input_invalid_value",
                "`" + path + "` (the number of completions) must be an integer of at least 1, got " +
                    got,
                path);
  }

  // A content part that carries an image (OpenAI's `image_url`, the
  // Responses API's `input_image`, Anthropic-style `image`).
  static bool IsImagePart(std::string_view type) {
    return SameName(type, "image_url") || SameName(type, "input_image") || SameName(type, "image");
  }

  // The request.input_tokens of a file or audio part (stdlib/builtins.h
  // kFileBytesPerToken, kAudioBytesPerToken), 0 for any other part. The
  // payload is the part's `file.file_data` (`file`), `file_data`
  // (`input_file`), `source.data` (`document`) or `input_audio.data`.
  [[gnu::noinline]] static int64_t MediaTokens(const JVal& part, std::string_view type) {
    auto str = [](const JVal& obj, const char* name) -> const JVal* {
      if (!obj.IsObject()) return nullptr;
      auto m = obj.FindMember(name);
      return m != obj.MemberEnd() && m->value.IsString() ? &m->value : nullptr;
    };
    auto obj = [](const JVal& o, const char* name) -> const JVal* {
      auto m = o.FindMember(name);
      return m != o.MemberEnd() && m->value.IsObject() ? &m->value : nullptr;
    };
    if (type == "input_audio") {
      const JVal* audio = obj(part, "input_audio");
      const JVal* data = audio ? str(*audio, "data") : nullptr;
      const uint64_t bytes = data ? stdlib::MediaPayloadBytes(Sv(*data)) : 0;
      return std::max<int64_t>(
          1, static_cast<int64_t>((bytes + stdlib::kAudioBytesPerToken - 1) / stdlib::kAudioBytesPerToken));
    }
    uint64_t bytes = 0;
    if (type == "file") {
      const JVal* file = obj(part, "file");
      if (const JVal* data = file ? str(*file, "file_data") : nullptr)
        bytes = stdlib::MediaPayloadBytes(Sv(*data));
    } else if (type == "input_file") {
      if (const JVal* data = str(part, "file_data")) bytes = stdlib::MediaPayloadBytes(Sv(*data));
    } else if (type == "document") {
      if (const JVal* source = obj(part, "source")) {
        const JVal* kind = str(*source, "type");
        const JVal* data = str(*source, "data");
        if (data && kind && Sv(*kind) == "text") {
          // Its text is a text of request.content, counted there: the part
          // adds what the file minimum asks beyond it.
          const int64_t text = static_cast<int64_t>(
              (data->GetStringLength() + stdlib::kFileBytesPerToken - 1) / stdlib::kFileBytesPerToken);
          return std::max<int64_t>(0, stdlib::kFileMinTokens - text);
        }
        if (data) bytes = stdlib::MediaPayloadBytes(Sv(*data));
      }
    } else {
      return 0;
    }
    return std::max<int64_t>(
        stdlib::kFileMinTokens,
        static_cast<int64_t>((bytes + stdlib::kFileBytesPerToken - 1) / stdlib::kFileBytesPerToken));
  }

  // `{"type": "json_schema", ...}`: a response format that needs the
  // endpoint's `structured_outputs` (OpenRouter's supported_parameters).
  static bool JsonSchemaFormat(const JVal& v) {
    if (!v.IsObject()) return false;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m)
      if (Sv(m->name) == "type" && m->value.IsString() && Sv(m->value) == "json_schema") return true;
    return false;
  }

  // The parameter a body member stands for: max_completion_tokens is
  // max_tokens, and the deprecated `functions` / `function_call` are `tools`
  // / `tool_choice` (what endpoints list in supported_parameters).
  static std::string_view ParameterName(std::string_view name) {
    std::string_view alias = stdlib::ParameterAlias(name);
    return alias.empty() ? name : alias;
  }

  bool Leaf(const JVal& v, const Node& node, const Path& p, Value* out) {
    switch (node.special) {
      case Special::kMessages: return Messages(v, node, p, out);
      case Special::kTools: return Tools(v, node, p, out);
      case Special::kSort:
        if (v.IsObject()) {
          if (!NoDuplicates(v, &p)) return false;
          for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
            std::string_view n = Sv(m->name);
            Path q{&p, n};
            if (n == "by") {
              if (m->value.IsNull()) continue;
              if (!IsStr(m->value)) return WrongType(q, "a string", m->value);
              *out = Value::StringRef(Sv(m->value));
            } else if (n == "partition") {
              // `model` (default): sort within each model, in `models` order;
              // `none`: one global sort across the fallback models.
              if (m->value.IsNull()) continue;
              if (!IsStr(m->value)) return WrongType(q, "a string", m->value);
              std::string_view w = Sv(m->value);
              if (w != "model" && w != "none") {
                std::string path = q.Render();
                return Fail("input_invalid_value",
                            "`" + path + "` must be `model` or `none`, got " + Quoted(w), path);
              }
              if (plan_.partition_slot >= 0) rec_->slots[plan_.partition_slot] = Value::StringRef(w);
            } else {
              std::string path = q.Render();
              return Fail("input_unknown_field", "unknown field `" + path + "`", path);
            }
          }
          return true;
        }
        break;
      case Special::kPercentile:
        if (v.IsObject()) {
          // The catalog only has p50 figures: every given percentile is a
          // threshold against p50 and the strictest one is kept (the lowest
          // latency, the highest throughput).
          if (!NoDuplicates(v, &p)) return false;
          const bool latency = node.path.ends_with("latency");
          for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
            std::string_view n = Sv(m->name);
            Path q{&p, n};
            if (n != "p50" && n != "p75" && n != "p90" && n != "p99") {
              std::string path = q.Render();
              return Fail("input_unknown_field",
                          "unknown field `" + path + "` (percentiles are p50, p75, p90 and p99)",
                          path);
            }
            if (m->value.IsNull()) continue;
            Value x;
            if (!Typed(m->value, node.type, q, &x)) return false;
            if (out->is_null() || (latency ? x.i < out->i : x.i > out->i)) *out = x;
          }
          return true;
        }
        break;
      default: break;
    }
    if (node.count && IsNumberText(v)) {  // a fraction or beyond int64: not a count
      int64_t x;
      if (IntegralFromText(Sv(v), &x) != IntText::kOk) return BadCount(p, std::string(Sv(v)));
    }
    return Typed(v, node.type, p, out);
  }

  bool CheckCount(const JVal& arr, const Path& p, uint32_t max) {
    if (arr.Size() <= max) return true;
    std::string path = p.Render();
    return Fail("input_too_many_elements",
                "`" + path + "` has " + std::to_string(arr.Size()) + " elements, more than the limit of " +
                    std::to_string(max),
                path);
  }

  // Decodes `v` as a value of type `t`; JSON null must be handled by the caller.
  bool Typed(const JVal& v, const Type& t, const Path& p, Value* out) {
    switch (t.kind()) {
      case Kind::kString:
        if (!IsStr(v)) return WrongType(p, "a string", v);
        *out = lower_ ? Lowered(Sv(v)) : Value::StringRef(Sv(v));
        return true;
      case Kind::kBool:
        if (!v.IsBool()) return WrongType(p, "a boolean", v);
        *out = Value::Bool(v.GetBool());
        return true;
      case Kind::kInt:
      case Kind::kDuration: {
        // A duration also takes the decision JSON's form back ("90000ms"),
        // or any duration as the language writes it ("90s").
        if (t.is(Kind::kDuration) && IsStr(v)) {
          auto ms = ParseDuration(Sv(v));
          if (!ms) return WrongType(p, Want(t), v);
          *out = Value::Duration(*ms);
          return true;
        }
        if (!IsNumberText(v)) return WrongType(p, Want(t), v);
        int64_t x;
        switch (IntegralFromText(Sv(v), &x)) {
          case IntText::kOk: break;
          case IntText::kFraction: return WrongType(p, Want(t), v);
          case IntText::kRange:
            return WrongType(p, t.is(Kind::kInt)
                                    ? "an integer between -9223372036854775808 and 9223372036854775807"
                                    : "an integer (milliseconds) between -9223372036854775808 and "
                                      "9223372036854775807",
                             v);
        }
        *out = Value::Scalar(t.kind(), x);
        return true;
      }
      case Kind::kDecimal:
      case Kind::kMoney: {
        int64_t micros;
        if (IsNumberText(v)) {
          if (!NumberToMicros(Sv(v), &micros))
            return WrongType(p, "a number between -9223372036854.775808 and 9223372036854.775807", v);
        } else if (IsStr(v)) {
          auto m = ParseMicros(Sv(v));
          if (!m) {
            std::string path = p.Render();
            return Fail("input_wrong_type",
                        "`" + path + "` must be a decimal number (at most 6 fractional digits), got " +
                            Quoted(Sv(v)),
                        path);
          }
          micros = *m;
        } else {
          return WrongType(p, "a number", v);
        }
        *out = Value::Scalar(t.kind(), micros);
        return true;
      }
      case Kind::kTime: {
        int64_t ms;
        if (!IsStr(v) || !ParseRfc3339(Sv(v), &ms)) {
          std::string path = p.Render();
          return Fail("input_wrong_type",
                      "`" + path + "` must be an RFC 3339 time such as `2026-11-25T10:00:00Z`, got " +
                          (IsStr(v) ? Quoted(Sv(v)) : Got(v)),
                      path);
        }
        *out = Value::Time(ms);
        return true;
      }
      case Kind::kSet:
      case Kind::kList: {
        if (!v.IsArray()) return WrongType(p, "an array", v);
        if (!CheckCount(v, p, limits_.max_list_elements)) return false;
        if (v.Empty()) { *out = EmptyOf(t.kind()); return true; }
        std::vector<Value> items = rec_->arena.TakeVector();
        items.reserve(v.Size());
        for (rj::SizeType i = 0; i < v.Size(); ++i) {
          Path q{&p, {}, static_cast<int64_t>(i)};
          if (v[i].IsNull()) return WrongType(q, Want(t.elem()), v[i]);
          // Decoded in place: a copy of a Value just written (narrower
          // stores) would wait for them (see Copy).
          if (!Typed(v[i], t.elem(), q, &items.emplace_back())) return false;
        }
        *out = t.is(Kind::kSet) ? rec_->arena.MakeSet(std::move(items))
                                : rec_->arena.MakeList(std::move(items));
        return true;
      }
      case Kind::kMap: {
        if (!v.IsObject()) return WrongType(p, "an object", v);
        if (!NoDuplicates(v, &p)) return false;
        if (v.MemberCount() > limits_.max_list_elements) {
          std::string path = p.Render();
          return Fail("input_too_many_elements",
                      "`" + path + "` has " + std::to_string(v.MemberCount()) +
                          " members, more than the limit of " + std::to_string(limits_.max_list_elements),
                      path);
        }
        std::vector<std::pair<std::string_view, Value>> entries;
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
          Path q{&p, Sv(m->name)};
          if (m->value.IsNull()) continue;
          Value x;
          if (!Typed(m->value, t.elem(), q, &x)) return false;
          entries.emplace_back(Sv(m->name), x);
        }
        *out = rec_->arena.MakeMap(std::move(entries));
        return true;
      }
      case Kind::kRecord: return Record(v, t, p, nullptr, out);
      default:
        return WrongType(p, "a supported value", v);
    }
  }

  // INVARIANT: numbers are parsed as their raw text (kParseNumbersAsStringsFlag)
  // in place, so the DOM holds them as strings. A real string's text starts
  // right after its opening quote, which in-situ parsing never overwrites; a
  // number's text never follows a quote. That tells the two apart.
  bool IsStr(const JVal& v) const { return v.IsString() && !IsNumberText(v); }
  const char* TypeName(const JVal& v) const { return IsNumberText(v) ? "a number" : JsonTypeName(v); }
  bool IsNumberText(const JVal& v) const {
    // A number at byte 0 (the whole document) has no byte before it.
    return v.GetType() == rj::kStringType &&
           (v.GetString() == buf_begin_ || v.GetString()[-1] != '"');
  }

  // `messages`: the request.messages node when `v` is one of its messages
  // (`t` is its element type), else null.
  bool Record(const JVal& v, const Type& t, const Path& p, const Node* messages, Value* out) {
    if (!v.IsObject()) return WrongType(p, "an object", v);
    if (!NoDuplicates(v, &p)) return false;
    const bool message = messages != nullptr;
    const auto& fields = t.fields();
    std::vector<Value> vals = rec_->arena.TakeVector();
    vals.resize(fields.size());
    int content = message ? messages->content_field : -1;
    int role = message ? messages->role_field : -1;
    const JVal* tool_calls = nullptr;
    const JVal* function_call = nullptr;  // the deprecated single call
    const JVal* refusal = nullptr;        // an assistant message's refusal text
    bool content_given = false;           // a `content` member, null included
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string_view name = Sv(m->name);
      int idx = message ? messages->fields.Find(name) : t.FieldIndex(name);
      if (idx >= 0 && idx == content) content_given = true;
      if (message && (idx < 0 || (!SameName(name, "role") && !SameName(name, "content") &&
                                  !SameName(name, "name"))) &&
          !kKnownMessageMembers.Has(name))
        unknown_ = true;
      if (idx < 0 && message && SameName(name, "tool_calls") && !m->value.IsNull())
        tool_calls = &m->value;
      if (idx < 0 && message && SameName(name, "function_call") && !m->value.IsNull())
        function_call = &m->value;
      if (idx < 0 && message && SameName(name, "refusal") && !m->value.IsNull()) refusal = &m->value;
      if (idx < 0 || m->value.IsNull()) continue;  // tool_call_id, ...
      Path q{&p, name};
      if (idx == content && m->value.IsArray()) {
        if (!ContentParts(m->value, q, &vals[idx])) return false;
        continue;
      }
      if (!Typed(m->value, fields[idx].type, q, &vals[idx])) return false;
    }
    // OpenAI's message types: an assistant's content may be null or absent
    // (tool calls, a function call, a refusal); a deprecated `function`
    // message's is required but may be null (a function that returned
    // nothing, as older clients and LangChain send it). Both read as "".
    if (content >= 0 && vals[content].is_null() && role >= 0 && vals[role].kind == Kind::kString &&
        (vals[role].sv() == "assistant" || (vals[role].sv() == "function" && content_given)))
      vals[content] = Value::StringRef(std::string_view("", 0));
    // A role with an upper-case letter (`User`, `SYSTEM`): OpenAI's and
    // Anthropic's APIs refuse it, while a compatible server may read it as
    // `user` -- and a rule testing `m.role == "user"` would pass the message
    // unscanned. Refused, as a lower-case country code is.
    if (role >= 0 && vals[role].kind == Kind::kString) {
      const std::string_view r = vals[role].sv();
      if (std::any_of(r.begin(), r.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        Path q{&p, "role"};
        std::string path = q.Render();
        std::string want(r);
        for (char& c : want)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return Fail("input_invalid_value",
                    "`" + path + "` must be lower case, as OpenAI's API takes it: write `" + want +
                        "`, got `" + std::string(r) + "`",
                    path);
      }
    }
    if ((tool_calls || function_call || refusal) && content >= 0 &&
        !ToolCallText(tool_calls, function_call, refusal, p, &vals[content]))
      return false;
    for (size_t i = 0; i < fields.size(); ++i) {
      // An absent optional set or list reads as empty (docs/language.md).
      if (vals[i].is_null() && (fields[i].type.is(Kind::kSet) || fields[i].type.is(Kind::kList))) {
        vals[i] = EmptyOf(fields[i].type.kind());
        continue;
      }
      if (!fields[i].optional && vals[i].is_null()) {
        Path q{&p, fields[i].name};
        std::string path = q.Render();
        return Fail("input_missing_field", "missing required field `" + path + "`", path);
      }
    }
    *out = rec_->arena.MakeRecord(std::move(vals));
    return true;
  }

  // Appends an assistant message's `refusal`, the `function.arguments` of
  // each tool call (`custom.input` of a custom tool call) and the
  // `arguments` of a deprecated `function_call` to the message's text
  // (joined with "\n"), so DLP rules and request.content see them: the model
  // reads them with the conversation.
  bool ToolCallText(const JVal* calls, const JVal* function_call, const JVal* refusal,
                    const Path& msg, Value* text) {
    std::string& j = s_.join;
    j.clear();
    if (text->kind == Kind::kString) j.append(text->str, text->size);
    bool any = false;
    if (refusal) {
      Path r{&msg, "refusal"};
      if (!IsStr(*refusal)) return WrongType(r, "a string", *refusal);
      if (refusal->GetStringLength() > 0) {
        if (!j.empty()) j += '\n';
        j.append(refusal->GetString(), refusal->GetStringLength());
        any = true;
      }
    }
    if (calls) {
      Path p{&msg, "tool_calls"};
      if (!calls->IsArray()) return WrongType(p, "an array", *calls);
      if (!CheckCount(*calls, p, limits_.max_list_elements)) return false;
      for (rj::SizeType i = 0; i < calls->Size(); ++i) {
        Path q{&p, {}, static_cast<int64_t>(i)};
        const JVal& call = (*calls)[i];
        if (!call.IsObject()) return WrongType(q, "a tool call object", call);
        if (!NoDuplicates(call, &q)) return false;
        if (!CallText(call, q, "function", "arguments", &any)) return false;
        if (!CallText(call, q, "custom", "input", &any)) return false;
      }
    }
    if (function_call) {
      Path p{&msg, "function_call"};
      if (!function_call->IsObject()) return WrongType(p, "an object", *function_call);
      if (!NoDuplicates(*function_call, &p)) return false;
      if (!ArgumentText(*function_call, p, "arguments", &any)) return false;
    }
    if (any) *text = rec_->arena.String(j);
    return true;
  }

  // Appends call[member][text] (a string; null or absent is skipped).
  bool CallText(const JVal& call, const Path& q, std::string_view member, std::string_view text,
                bool* any) {
    const JVal* fn = Member(call, member);
    if (!fn || fn->IsNull()) return true;
    Path r{&q, member};
    if (!fn->IsObject()) return WrongType(r, "an object", *fn);
    if (!NoDuplicates(*fn, &r)) return false;
    return ArgumentText(*fn, r, text, any);
  }

  bool ArgumentText(const JVal& obj, const Path& r, std::string_view member, bool* any) {
    const JVal* args = Member(obj, member);
    if (!args || args->IsNull()) return true;
    Path a{&r, member};
    if (!IsStr(*args)) return WrongType(a, "a string", *args);
    if (args->GetStringLength() == 0) return true;
    std::string& j = s_.join;
    if (!j.empty()) j += '\n';
    j.append(args->GetString(), args->GetStringLength());
    *any = true;
    return true;
  }

  bool ContentParts(const JVal& arr, const Path& p, Value* out) {
    if (!CheckCount(arr, p, limits_.max_list_elements)) return false;
    std::string& j = s_.join;
    j.clear();
    bool first = true;
    const JVal* only = nullptr;
    int texts = 0;
    for (rj::SizeType i = 0; i < arr.Size(); ++i) {
      Path q{&p, {}, static_cast<int64_t>(i)};
      const JVal& part = arr[i];
      if (IsStr(part)) {  // tolerated shorthand
        if (!first) j += '\n';
        j.append(part.GetString(), part.GetStringLength());
        first = false; only = &part; ++texts;
        continue;
      }
      if (!part.IsObject()) return WrongType(q, "a content part object", part);
      if (!NoDuplicates(part, &q)) return false;
      const JVal* type = Member(part, "type");
      if (!type || !IsStr(*type)) {
        Path r{&q, "type"};
        if (!type)
          return Fail("input_missing_field", "missing required field `" + r.Render() + "`", r.Render());
        return WrongType(r, "a string", *type);
      }
      // A `text` part needs its text. A part of another type is scanned
      // when it carries text all the same (`input_text`, `output_text`, a
      // `refusal` part's `refusal`): text the model reads is never skipped.
      // Parts without text (image_url, input_audio, file) are.
      const bool is_text = SameName(Sv(*type), "text");
      if (IsImagePart(Sv(*type))) ++images_;
      else if (!is_text) media_tokens_ += MediaTokens(part, Sv(*type));
      const std::string_view member =
          !is_text && SameName(Sv(*type), "refusal") ? std::string_view("refusal") : std::string_view("text");
      // Any other member that may hold text (a document's source, a
      // tool_result's content, a tool_use's input, ...): its strings are
      // texts of request.content (request_texts.h PartTexts).
      if (!unknown_)
        for (auto m = part.MemberBegin(); m != part.MemberEnd(); ++m)
          if (!SameName(Sv(m->name), member) && !kKnownPartSkipped.Has(Sv(m->name))) unknown_ = true;
      const JVal* text = Member(part, member);
      Path r{&q, member};
      if (!text || (!is_text && text->IsNull())) {
        if (!is_text) continue;
        return Fail("input_missing_field", "missing required field `" + r.Render() + "`", r.Render());
      }
      if (!IsStr(*text)) return WrongType(r, "a string", *text);
      if (!first) j += '\n';
      j.append(text->GetString(), text->GetStringLength());
      first = false; only = text; ++texts;
    }
    if (texts == 1) *out = Value::StringRef(Sv(*only));
    else *out = rec_->arena.String(j);
    return true;
  }

  bool Messages(const JVal& v, const Node& node, const Path& p, Value* out) {
    if (!v.IsArray()) return WrongType(p, "an array", v);
    if (!CheckCount(v, p, limits_.max_messages)) return false;
    if (v.Empty()) { *out = EmptyOf(Kind::kList); return true; }
    std::vector<Value> items = rec_->arena.TakeVector();
    items.resize(v.Size());
    for (rj::SizeType i = 0; i < v.Size(); ++i) {
      Path q{&p, {}, static_cast<int64_t>(i)};
      if (!Record(v[i], node.type.elem(), q, &node, &items[i])) return false;
    }
    *out = rec_->arena.MakeList(std::move(items));
    return true;
  }

  // The names of the tools offered (`tools`, or the deprecated `functions`),
  // added to what *out already holds (both members may be present). Every
  // name an API may dispatch the tool by goes in (fail closed: a tool
  // allowlist must approve each): the `name` of the member its `type`
  // names (`function` for type "function": `{"type": "custom", "custom":
  // {"name": ...}}`), `function.name`, the tool's own `name` (`functions`
  // entries, Anthropic-style and Responses-style tools), and the `type` of
  // a built-in tool (a type other than "function" and "custom") whose typed
  // member names nothing (`{"type": "web_search"}`, `{"type": "web_search",
  // "name": "search"}`: an API dispatching on `type` runs web_search); the
  // type of any other tool that has no name. A tool with neither a name
  // nor a type is an error, so that no tool escapes a tool allowlist
  // unnamed. A bare string is a name.
  bool Tools(const JVal& v, const Node& node, const Path& p, Value* out) {
    if (!v.IsArray()) return WrongType(p, "an array", v);
    if (!CheckCount(v, p, limits_.max_list_elements)) return false;
    std::vector<Value> items = rec_->arena.TakeVector();
    items.reserve(v.Size());
    if (!out->is_null()) {
      if (out->kind == Kind::kSet && out->set)
        items.insert(items.end(), out->set->items.begin(), out->set->items.end());
      else if (out->kind == Kind::kList && out->list)
        items.insert(items.end(), out->list->items.begin(), out->list->items.end());
    }
    for (rj::SizeType i = 0; i < v.Size(); ++i) {
      Path q{&p, {}, static_cast<int64_t>(i)};
      const JVal& t = v[i];
      if (IsStr(t)) { items.push_back(Value::StringRef(Sv(t))); continue; }
      if (!t.IsObject()) return WrongType(q, "a tool object", t);
      if (!NoDuplicates(t, &q)) return false;
      const size_t before = items.size();
      const JVal* type = Member(t, "type");
      const bool typed = type && IsStr(*type);
      const std::string_view type_name = typed ? Sv(*type) : std::string_view();
      const bool function_type = typed && SameName(type_name, "function");
      // The typed member (`custom`, `web_search`, ...; `function` is read below).
      bool typed_named = false;
      if (typed && !function_type) {
        const JVal* inner = Member(t, type_name);
        if (inner && inner->IsObject()) {
          Path r{&q, type_name};
          if (!NoDuplicates(*inner, &r)) return false;
          const JVal* name = Member(*inner, "name");
          if (name && IsStr(*name)) {
            items.push_back(Value::StringRef(Sv(*name)));
            typed_named = true;
          }
        }
      }
      const JVal* fn = Member(t, "function");
      if (fn && fn->IsObject()) {
        Path r{&q, "function"};
        // Two names: tollgate would read the first, a provider the last.
        if (!NoDuplicates(*fn, &r)) return false;
        const JVal* name = Member(*fn, "name");
        Path s{&r, "name"};
        if (!name)
          return Fail("input_missing_field", "missing required field `" + s.Render() + "`", s.Render());
        if (!IsStr(*name)) return WrongType(s, "a string", *name);
        items.push_back(Value::StringRef(Sv(*name)));
        if (function_type) typed_named = true;
      }
      const JVal* name = Member(t, "name");
      if (name && !name->IsNull()) {
        Path s{&q, "name"};
        if (!IsStr(*name)) return WrongType(s, "a string", *name);
        items.push_back(Value::StringRef(Sv(*name)));
      }
      // A built-in tool: the API runs what its type names.
      if (typed && !typed_named && !function_type && !SameName(type_name, "custom"))
        items.push_back(Value::StringRef(type_name));
      if (items.size() > before) continue;
      if (typed) {  // {"type": "function"}, {"type": "custom"}: named by the type
        items.push_back(Value::StringRef(type_name));
        continue;
      }
      Path s{&q, "function"};
      return Fail("input_missing_field",
                  "missing required field `" + s.Render() + "` (a tool needs a name or a type)",
                  s.Render());
    }
    if (items.empty()) { *out = EmptyOf(node.type.kind()); return true; }
    *out = node.type.is(Kind::kSet) ? rec_->arena.MakeSet(std::move(items))
                                    : rec_->arena.MakeList(std::move(items));
    return true;
  }

  bool Derive() {
    // request.content: the request's texts (request_texts.h), the one
    // definition ApplyRedactions redacts by. A single text is not copied.
    Value content = Value::StringRef(std::string_view("", 0));
    uint64_t schema_bytes = 0;
    if (body_ && (plan_.content_slot >= 0 || plan_.tokens_slot >= 0)) {
      RequestTexts<const JVal>& t = s_.texts;
      // unknown_ covers the messages only when they were decoded as records.
      t.Collect(*body_, [this](const JVal& v) { return IsStr(v); },
                unknown_ || plan_.messages_slot < 0);
      if (t.values().size() == 1 && t.ranges()[0].second - t.ranges()[0].first == t.joined().size())
        content = Value::StringRef(Sv(*t.values()[0]));
      else if (t.joined().size() >= 4096) {
        // A long text is not copied again (a 1 MB prompt: one pass over a
        // megabyte less): the record takes the joined buffer, giving the
        // decoder its own from the last decode (neither allocates once warm).
        // A short one is copied into the arena as before.
        t.SwapJoined(&rec_->content);
        content = Value::StringRef(rec_->content);
      } else if (!t.joined().empty()) {
        content = rec_->arena.String(t.joined());
      }
      schema_bytes = t.schema_bytes();
    }
    if (plan_.content_slot >= 0) rec_->slots[plan_.content_slot] = content;
    if (plan_.tokens_slot >= 0) {
      // The texts, plus the member names and name / type strings of the
      // tool and response_format schemas: the model reads those too.
      // INVARIANT: images_ <= max_messages * max_list_elements and
      // media_tokens_ <= that x kFileMinTokens + the input's bytes, so no overflow.
      rec_->slots[plan_.tokens_slot] =
          Value::Int(stdlib::EstimateTokensOfBytes(content.size + schema_bytes) +
                     images_ * stdlib::kImageTokens + media_tokens_);
    }
    if (plan_.params_slot >= 0) {
      rec_->slots[plan_.params_slot] =
          params_.empty() ? EmptyOf(Kind::kSet) : rec_->arena.MakeSet(std::move(params_));
    }
    return DeriveModelNames();
  }

  // A slug with two variant suffixes (`m:free:nitro`) would keep one in its
  // canonical id (`m:free`): a ban on `m` or on the `free` variant would not
  // see it while the router serves `m:free`. Refused instead.
  bool OneVariant(std::string_view slug, const stdlib::ModelName& n, const std::string& path) {
    stdlib::ModelName inner = stdlib::SplitModel(n.id);
    if (n.variant.empty() || inner.variant.empty()) return true;
    return Fail("input_invalid_value",
                "`" + path + "` names more than one variant: `" + std::string(slug) +
                    "` (a model takes at most one suffix such as `:free` or `:nitro`)",
                path);
  }

  // request.model / request.models become canonical ids (names.h); the slugs
  // as sent and their variant suffixes go to the derived fields. Strings
  // still point into the buffer: only a list with some variant is rebuilt.
  bool DeriveModelNames() {
    std::vector<Value> variants;
    if (plan_.model_slot >= 0) {
      Value& m = rec_->slots[plan_.model_slot];
      if (m.kind == Kind::kString) {
        if (plan_.model_full_slot >= 0) rec_->slots[plan_.model_full_slot] = m;
        stdlib::ModelName n = stdlib::SplitModel(m.sv());
        if (!OneVariant(m.sv(), n, "request.model")) return false;
        if (plan_.model_variant_slot >= 0)
          rec_->slots[plan_.model_variant_slot] = Value::StringRef(n.variant);
        if (!n.variant.empty()) variants.push_back(Value::StringRef(n.variant));
        m = Value::StringRef(n.id);
      }
    }
    if (plan_.models_slot >= 0) {
      Value& ms = rec_->slots[plan_.models_slot];
      if (plan_.models_full_slot >= 0) rec_->slots[plan_.models_full_slot] = ms;
      if (ms.kind == Kind::kList && ms.list) {
        bool any = false;
        for (const Value& x : ms.list->items) any = any || !stdlib::SplitModel(x.sv()).variant.empty();
        if (any) {
          std::vector<Value> ids = rec_->arena.TakeVector();
          ids.reserve(ms.list->items.size());
          for (size_t i = 0; i < ms.list->items.size(); ++i) {
            const Value& x = ms.list->items[i];
            stdlib::ModelName n = stdlib::SplitModel(x.sv());
            if (!OneVariant(x.sv(), n, "request.models[" + std::to_string(i) + "]")) return false;
            ids.push_back(Value::StringRef(n.id));
            if (!n.variant.empty()) variants.push_back(Value::StringRef(n.variant));
          }
          ms = rec_->arena.MakeList(std::move(ids));
        }
      }
    } else if (plan_.models_full_slot >= 0) {
      rec_->slots[plan_.models_full_slot] = EmptyOf(Kind::kList);
    }
    if (plan_.variants_slot >= 0) {
      rec_->slots[plan_.variants_slot] =
          variants.empty() ? EmptyOf(Kind::kSet) : rec_->arena.MakeSet(std::move(variants));
    }
    return true;
  }

  const Plan& plan_;
  const Limits& limits_;
  vm::Record* rec_;
  InputError* err_;
  Scratch& s_;
  const JVal* body_ = nullptr;  // the request body (the `request` member), once Run has walked it
  const char* const buf_begin_;
  std::vector<Value> params_;
  int64_t images_ = 0;  // image parts of every message (request.input_tokens)
  // Some body or message member is one whose strings are texts
  // (request_texts.h 3.): RequestTexts looks for them only then.
  bool unknown_ = false;
  int64_t media_tokens_ = 0;  // file and audio parts of every message (MediaTokens)
  bool lower_ = false;  // strings decoded now are lower-cased (Node::lower)
};

}  // namespace

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// The names of a decoded `candidate`, completed as the catalog fills them
// (candidate_names.h). Two names that no catalog endpoint could have
// together -- provider.name `openai` with provider.slug `azure/sweden`,
// endpoint.model `a/b` with endpoint.model_full `c/d:free`, a variant that
// is not model_full's -- are input_invalid_value: a rule reading one would
// judge another endpoint than a rule reading the other.
bool CandidateNames(const stdlib::Schema& schema, vm::Record* rec, InputError* err) {
  std::vector<bool> given(rec->slots.size());
  for (size_t i = 0; i < given.size(); ++i) given[i] = rec->slots[i].kind == Kind::kString;
  auto str = [&](const char* path) -> std::optional<std::string_view> {
    int id = schema.Find(path);
    if (id < 0 || schema.field(id).scope != ast::Scope::kCandidate) return std::nullopt;
    const Value& v = rec->slots[schema.field(id).slot];
    if (v.kind != Kind::kString) return std::nullopt;
    return v.sv();
  };
  auto fail = [&](const char* field, std::string message) {
    err->code = "input_invalid_value";
    err->path = std::string("candidate.") + field;
    err->message = std::move(message);
    return false;
  };
  auto q = [](std::string_view s) { return "`" + std::string(s) + "`"; };
  std::optional<std::string_view> name = str("provider.name"), slug = str("provider.slug");
  if (name && slug &&
      (stdlib::ProviderBase(*name) != stdlib::ProviderBase(*slug) ||
       (stdlib::ProviderBase(*name).size() != name->size() && *name != *slug)))
    return fail("provider.slug", "`candidate.provider.slug` " + q(*slug) +
                                     " is not a slug of `candidate.provider.name` " + q(*name));
  std::optional<std::string_view> model = str("endpoint.model"), full = str("endpoint.model_full");
  if (model && full) {
    stdlib::ModelName m = stdlib::SplitModel(*model), f = stdlib::SplitModel(*full);
    if (m.id != f.id || (!m.variant.empty() && *model != *full))
      return fail("endpoint.model_full", "`candidate.endpoint.model_full` " + q(*full) +
                                             " is not a slug of `candidate.endpoint.model` " +
                                             q(*model));
  }
  CompleteCandidateNames(schema, [&](int s) { return given[static_cast<size_t>(s)]; }, rec);
  std::optional<std::string_view> variant = str("endpoint.model_variant");
  if (full = str("endpoint.model_full"); variant && full && stdlib::SplitModel(*full).variant != *variant)
    return fail("endpoint.model_variant",
                "`candidate.endpoint.model_variant` " + q(*variant) +
                    " is not the variant of model " + q(*full));
  return true;
}

bool Decode(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
            const DecodeOptions& options, bool candidate, vm::Record* out, bool* present,
            InputError* err) {
  // The padded buffer keeps its size through Clear: the check's pass below
  // overwrites it whole, and sizing an empty string would zero it first (a
  // megabyte prompt's buffer was written twice).
  std::string keep = std::move(out->buffer);
  out->Clear();
  out->buffer = std::move(keep);
  // A UTF-8 byte order mark (Windows editors write one) is not part of JSON.
  if (json.size() >= 3 && json.substr(0, 3) == "\xEF\xBB\xBF") json.remove_prefix(3);
  if (json.size() > limits.max_input_bytes) {
    err->code = "input_too_large";
    err->message = "decision input is " + std::to_string(json.size()) +
                   " bytes, more than the limit of " + std::to_string(limits.max_input_bytes);
    err->path.clear();
    return false;
  }
  // UTF-8, NUL, raw control characters and lone surrogate escapes, in one
  // pass (input_text.h) that also copies the text into the padded buffer;
  // reported in this order.
  // INVARIANT: 16 bytes of slack after the text: rapidjson's SIMD scanner
  // reads whole aligned 16-byte blocks.
  out->buffer.reserve(json.size() + 16);
  out->buffer.resize(json.size());
  const InputTextCheck check = CheckInputText(json, InputTextSteps::kBest, out->buffer.data());
  if (check.invalid_utf8 != std::string_view::npos) {
    err->code = "input_invalid_utf8";
    err->message = "invalid UTF-8 at byte " + std::to_string(check.invalid_utf8);
    err->path.clear();
    return false;
  }
  // JSON text never holds a raw NUL; the in-situ parser would stop there.
  if (check.nul != std::string_view::npos) {
    err->code = "input_malformed_json";
    err->message = "malformed JSON at byte " + std::to_string(check.nul) + ": NUL byte";
    err->path.clear();
    return false;
  }
  if (check.control != std::string_view::npos) {
    err->code = "input_malformed_json";
    err->message = "malformed JSON at byte " + std::to_string(check.control) +
                   ": raw control character (JSON text needs it escaped)";
    err->path.clear();
    return false;
  }
  // Strict UTF-8 for the decoded strings too: no lone `\uDC00` escape.
  if (check.lone_surrogate != std::string_view::npos) {
    err->code = "input_invalid_utf8";
    err->message = "lone surrogate escape at byte " + std::to_string(check.lone_surrogate) +
                   " (not a unicode character)";
    err->path.clear();
    return false;
  }
  Scratch& s = GetScratch();
  const Plan& plan = s.PlanFor(schema, candidate);
  out->slots.assign(plan.n_slots, Value::Null());

  // Numbers beyond double range (MaskNumberAt, json_text.h): each is parsed
  // as a same-length placeholder and its text put back afterwards, so in a
  // member tollgate ignores it is accepted like any other value, and in a
  // member it reads the decoder sees the real text and refuses it with the
  // member's path. At most kMaxHugeNumbers (each costs a re-parse).
  struct Huge { size_t offset, length; };
  Huge huge[kMaxHugeNumbers];
  size_t n_huge = 0;
  std::optional<Doc> parsed;  // one per attempt: its stack lives in s.stack
  DepthGuard guard{nullptr, limits.max_input_depth};
  rj::ParseResult result;
  size_t end = 0;
  for (bool copied = true;; copied = false) {
    if (!copied) out->buffer.assign(json.data(), json.size());  // a huge number's retry
    for (size_t i = 0; i < n_huge; ++i)
      MaskNumberAt(out->buffer.data(), out->buffer.size(), huge[i].offset);
    // The 64-byte string steps (insitu_reader.h) may load up to 63 bytes
    // past the NUL; the step holding the NUL stops whatever they are, but
    // they are zeroed so that no load reads bytes never written (valgrind).
    {
      std::string& b = out->buffer;  // capacity() + 1 bytes allocated
      std::memset(b.data() + b.size() + 1, 0, std::min<size_t>(63, b.capacity() - b.size()));
    }
    parsed.reset();
    s.pool.Clear();
    s.stack.Clear();
    parsed.emplace(&s.pool, 1024, &s.stack);
    guard.doc = &*parsed;
    guard.depth = 0;
    // Long strings are scanned 64 bytes a step up to the end of the
    // buffer's allocation (capacity() bytes and the NUL; insitu_reader.h).
    internal::InsituStream is(out->buffer.data(), out->buffer.data() + out->buffer.capacity());
    auto gen = [&](Doc& d) {
      internal::InsituReader reader(&s.stack);  // insitu_reader.h
      constexpr unsigned kFlags =
          rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;  // UTF-8 checked above
      result = reader.Parse<kFlags>(is, guard);
      end = is.Tell();
      return !result.IsError();
    };
    parsed->Populate(gen);
    if (guard.too_deep || !result.IsError() || result.Code() != rj::kParseErrorNumberTooBig ||
        n_huge == kMaxHugeNumbers)
      break;
    // The failed parse wrote nothing at or after the number (in-situ
    // decoding only rewrites the strings before it): measure it there.
    size_t len = MaskNumberAt(out->buffer.data(), out->buffer.size(), result.Offset());
    if (len == 0) break;  // cannot happen: rapidjson reports the number's first byte
    huge[n_huge++] = Huge{result.Offset(), len};
  }
  Doc& doc = *parsed;
  // In-situ parsing writes nothing over a number's text (rapidjson keeps its
  // pointer and length), so the original text goes back in place.
  for (size_t i = 0; i < n_huge; ++i)
    std::memcpy(out->buffer.data() + huge[i].offset, json.data() + huge[i].offset, huge[i].length);
  err->path.clear();
  if (guard.too_deep) {
    err->code = "input_too_deep";
    err->message = "decision input nests deeper than the limit of " +
                   std::to_string(limits.max_input_depth) + " levels";
    return false;
  }
  if (result.IsError() && result.Code() == rj::kParseErrorNumberTooBig) {
    // More of them than kMaxHugeNumbers: say where the first one past it is.
    err->code = "input_invalid_value";
    std::string masked(json);  // PathAt parses the text before it: mask those too
    for (size_t i = 0; i < n_huge; ++i) MaskNumberAt(masked.data(), masked.size(), huge[i].offset);
    err->path = PathAt(masked, result.Offset());
    err->message = "number at byte " + std::to_string(result.Offset()) +
                   " is out of range (beyond 1.8e308), and the input has more than " +
                   std::to_string(kMaxHugeNumbers) + " such numbers";
    return false;
  }
  if (result.IsError() || end != json.size()) {
    size_t off = result.IsError() ? result.Offset() : end;
    {
      err->code = "input_malformed_json";
      std::string what = result.IsError() ? rj::GetParseError_En(result.Code())
                                          : "unexpected NUL byte";
      for (char& c : what) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      while (!what.empty() && what.back() == '.') what.pop_back();
      err->message = "malformed JSON at byte " + std::to_string(off) + ": " + what;
    }
    return false;
  }
  if (present != nullptr) {
    *present = doc.IsObject() && doc.HasMember("candidate") && !doc["candidate"].IsNull();
    if (!*present) return true;
  }
  Decoder dec(plan, limits, out, err, s, out->buffer.data());
  if (!dec.Run(doc)) return false;
  if (candidate && !CandidateNames(schema, out, err)) return false;
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
  return true;
}

}  // namespace

namespace {

// No exception leaves the decoder: memory running out is an input error.
bool DecodeGuarded(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                   const DecodeOptions& options, bool candidate, vm::Record* out, bool* present,
                   InputError* err) {
  try {
    return Decode(json, schema, limits, options, candidate, out, present, err);
  } catch (const std::bad_alloc&) {
    err->code = "input_too_large";
    err->message = "out of memory while decoding the decision input";
    err->path.clear();
    return false;
  }
}

}  // namespace

bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 vm::Record* out, InputError* err) {
  return DecodeGuarded(json, schema, limits, DecodeOptions{}, false, out, nullptr, err);
}

bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 const DecodeOptions& options, vm::Record* out, InputError* err) {
  return DecodeGuarded(json, schema, limits, options, false, out, nullptr, err);
}

bool DecodeCandidate(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                     vm::Record* out, bool* present, InputError* err) {
  return DecodeGuarded(json, schema, limits, DecodeOptions{}, true, out, present, err);
}

void WarmDecoderThread(const stdlib::Schema& schema) {
  Scratch& s = GetScratch();
  s.PlanFor(schema);
  s.PlanFor(schema, /*candidate=*/true);
}

bool MentionsCandidate(std::string_view json) {
  static constexpr std::string_view kKey = "\"candidate\"";
  return ::memmem(json.data(), json.size(), kKey.data(), kKey.size()) != nullptr;
}

std::string InputErrorJson(const InputError& e) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(e.code.c_str(), static_cast<rj::SizeType>(e.code.size()));
  w.Key("message");
  w.String(e.message.c_str(), static_cast<rj::SizeType>(e.message.size()));
  w.Key("path");
  w.String(e.path.c_str(), static_cast<rj::SizeType>(e.path.size()));
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace tollgate::runtime
