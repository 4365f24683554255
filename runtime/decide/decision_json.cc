// Decision -> JSON (see decision_json.h).
#include "runtime/decide/decision_json.h"

#include <rapidjson/document.h>

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "engine/core/json_buffer.h"
#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "runtime/input/request_texts.h"
#include "stdlib/redact.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;

// rapidjson's Writer escapes strings and copies raw values byte by byte;
// most of a decision needs no escaping. Text is appended to the Writer's
// buffer (protected in rapidjson, named here through a derived class: a
// pointer to member, used on the Writer itself) after RawValue("", 0, type)
// has written the separator and counted the value, so the bytes are the
// ones String() and Key() would write.
struct OsAccess : rj::Writer<rj::StringBuffer> {
  using rj::Writer<rj::StringBuffer>::os_;
};
constexpr auto kOs = &OsAccess::os_;

// Bytes rapidjson's Writer writes as they are (no control character, `"`
// or `\`).
struct PlainTable {
  bool ok[256];
  constexpr PlainTable() : ok() {
    for (int c = 0; c < 256; ++c) ok[c] = c >= 0x20 && c != '"' && c != '\\';
  }
};
constexpr PlainTable kPlain;

// No byte that rapidjson escapes: 16 bytes at a time (SSE2), the rest
// through the table.
bool Plain(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i dq = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), lo = _mm_set1_epi8(0x1F);
  for (; i + 16 <= n; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // x < 0x20 <=> max(x, 0x1F) == 0x1F (unsigned)
    const __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, dq), _mm_cmpeq_epi8(x, bs)),
                                     _mm_cmpeq_epi8(_mm_max_epu8(x, lo), lo));
    if (_mm_movemask_epi8(bad) != 0) return false;
  }
#endif
  bool plain = true;
  for (; i < n; ++i) plain &= kPlain.ok[static_cast<unsigned char>(p[i])];
  return plain;
}

template <typename W>
void Append(W* w, std::string_view bytes) {
  rj::StringBuffer* os = w->*kOs;
  std::memcpy(os->Push(bytes.size()), bytes.data(), bytes.size());
}

template <typename W>
void Str(W* w, std::string_view s) {
  if (!Plain(s)) {
    w->String(s.data(), static_cast<rj::SizeType>(s.size()));
    return;
  }
  w->RawValue("", 0, rj::kStringType);
  rj::StringBuffer* os = w->*kOs;
  char* p = os->Push(s.size() + 2);
  p[0] = '"';
  std::memcpy(p + 1, s.data(), s.size());
  p[s.size() + 1] = '"';
}

// Writer::Key is String for both writers.
template <typename W>
void Key(W* w, std::string_view k) {
  Str(w, k);
}

template <typename W>
void Raw(W* w, std::string_view json, rj::Type type = rj::kObjectType) {
  w->RawValue("", 0, type);
  Append(w, json);
}

// A program's rule names and require predicates as JSON strings, escaped
// once per program and thread: a decision is mostly these, and rapidjson's
// Writer escapes a string byte by byte. Keyed by the program's address and
// version id (a program freed and another loaded at the same address has
// another id, or the same texts).
struct Escaped {
  const vm::Program* program = nullptr;
  std::string version;
  std::vector<std::string> names, predicates;
};

std::string EscapedString(std::string_view s) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
  return std::string(sb.GetString(), sb.GetSize());
}

const Escaped& EscapedFor(const vm::Program& p) {
  thread_local std::vector<std::unique_ptr<Escaped>> cache;  // most recent last; at most 4
  for (const auto& e : cache)
    if (e->program == &p && e->version == p.version_id()) return *e;
  if (cache.size() >= 4) cache.erase(cache.begin());
  auto e = std::make_unique<Escaped>();
  e->program = &p;
  e->version = p.version_id();
  for (const auto& r : p.rules()) e->names.push_back(EscapedString(r.name));
  for (const auto& r : p.require_infos()) e->predicates.push_back(EscapedString(r.text));
  cache.push_back(std::move(e));
  return *cache.back();
}

template <typename W>
void EscapedRaw(W* w, std::string_view json, rj::Type type) {
  Raw(w, json, type);
}

template <typename W>
void RuleList(W* w, const Escaped& e, const std::vector<uint32_t>& ids) {
  w->StartArray();
  for (uint32_t id : ids)
    EscapedRaw(w, id < e.names.size() ? std::string_view(e.names[id]) : "\"?\"", rj::kStringType);
  w->EndArray();
}

template <typename W>
void Requires(W* w, const Escaped& e, const std::vector<vm::RequireRef>& reqs) {
  w->StartArray();
  for (const vm::RequireRef& r : reqs) {
    std::string_view rule = r.rule < e.names.size() ? std::string_view(e.names[r.rule]) : "\"?\"";
    std::string_view pred =
        r.require < e.predicates.size() ? std::string_view(e.predicates[r.require]) : "\"?\"";
    if constexpr (std::is_same_v<W, rj::Writer<rj::StringBuffer>>) {
      // Compact: the whole object at once.
      thread_local std::string obj;
      obj.assign("{\"rule\":");
      obj.append(rule);
      obj.append(",\"predicate\":");
      obj.append(pred);
      obj.push_back('}');
      EscapedRaw(w, obj, rj::kObjectType);
    } else {
      w->StartObject();
      Key(w, "rule");
      EscapedRaw(w, rule, rj::kStringType);
      Key(w, "predicate");
      EscapedRaw(w, pred, rj::kStringType);
      w->EndObject();
    }
  }
  w->EndArray();
}

template <typename W>
void Money(W* w, const char* key, int64_t micros) {
  if (micros < 0) return;
  Key(w, key);
  Str(w, FormatMicros(micros));
}

template <typename W>
void Write(W* w, const vm::Decision& d, const vm::Program& p, bool explain) {
  const Escaped& e = EscapedFor(p);
  Key(w, "outcome");
  Str(w, d.outcome == vm::Outcome::kAllow ? "allow" : "deny");
  Key(w, "status");
  w->Int(d.status);
  Key(w, "code");
  Str(w, d.code);
  Key(w, "reason");
  Str(w, d.reason);
  Key(w, "rules");
  RuleList(w, e, d.fired);
  Key(w, "shadow");
  RuleList(w, e, d.shadow);
  Key(w, "advisory");
  RuleList(w, e, d.advisory);
  Key(w, "requires");
  Requires(w, e, d.require_refs);
  Key(w, "shadow_requires");
  Requires(w, e, d.shadow_requires);

  Key(w, "redactions");
  w->StartArray();
  for (const vm::Redaction& r : d.redactions) {
    w->StartObject();
    Key(w, "rule");
    Str(w, RuleName(p, r.rule));
    Key(w, "pattern");
    Str(w, r.pattern);
    Key(w, "replacement");
    Str(w, r.replacement);
    w->EndObject();
  }
  w->EndArray();

  Key(w, "route");
  w->StartObject();
  Key(w, "sort");
  if (d.route.sort == vm::SortBy::kNone) w->Null();
  else Str(w, vm::SortName(d.route.sort));
  Key(w, "max_price");
  w->StartObject();
  Money(w, "cost", d.route.max_request_cost);
  Money(w, "prompt", d.route.max_prompt);
  Money(w, "completion", d.route.max_completion);
  Money(w, "request", d.route.max_request);
  w->EndObject();
  Key(w, "order");
  w->StartArray();
  for (std::string_view o : d.route.order) Str(w, o);
  w->EndArray();
  Key(w, "rules");
  RuleList(w, e, d.route.rules);
  w->EndObject();

  // Tags: sorted by key; the first rule (decision order) to set a key wins.
  std::vector<const vm::Tag*> tags;
  for (const vm::Tag& t : d.tags) {
    bool seen = false;
    for (const vm::Tag* u : tags) seen |= u->key == t.key;
    if (!seen) tags.push_back(&t);
  }
  std::stable_sort(tags.begin(), tags.end(),
                   [](const vm::Tag* a, const vm::Tag* b) { return a->key < b->key; });
  Key(w, "tags");
  w->StartObject();
  for (const vm::Tag* t : tags) {
    Key(w, std::string_view(t->key.data(), t->key.size()));
    Raw(w, ToJson(t->value));
  }
  w->EndObject();

  Key(w, "warnings");
  w->StartArray();
  for (const vm::Warning& x : d.warnings) {
    w->StartObject();
    Key(w, "rule");
    Str(w, RuleName(p, x.rule));
    Key(w, "message");
    Str(w, x.message);
    w->EndObject();
  }
  w->EndArray();

  Key(w, "errors");
  w->StartArray();
  for (const vm::RuleError& e : d.errors) {
    w->StartObject();
    Key(w, "rule");
    Str(w, RuleName(p, e.rule));
    Key(w, "code");
    Str(w, e.code);
    Key(w, "message");
    Str(w, e.message);
    w->EndObject();
  }
  w->EndArray();

  Key(w, "policy");
  w->StartObject();
  Key(w, "name");
  Str(w, p.name());
  Key(w, "version");
  Str(w, p.version_id());
  w->EndObject();
  Key(w, "instructions");
  w->Uint64(d.instructions);
  if (d.time) {
    // The instant the policy saw as context.time; replays pass it back.
    Key(w, "time");
    Str(w, FormatRfc3339(*d.time));
    Key(w, "time_source");
    Str(w, d.time_from_clock ? "clock" : "input");
  }

  if (explain) {
    Key(w, "trace");
    w->StartArray();
    for (const vm::TraceEntry& t : d.trace) {
      w->StartObject();
      Key(w, "rule");
      Str(w, RuleName(p, t.rule));
      Key(w, "fired");
      w->Bool(t.fired);
      Key(w, "error");
      w->Bool(t.error);
      Key(w, "values");
      w->StartObject();
      for (const auto& [path, json] : t.values) {
        Key(w, std::string_view(path.data(), path.size()));
        Raw(w, json);
      }
      w->EndObject();
      w->EndObject();
    }
    w->EndArray();
  }
}

}  // namespace

std::string_view RuleName(const vm::Program& program, uint32_t id) {
  if (id < program.rules().size()) return program.rules()[id].name;
  return "?";
}

void WriteDecisionMembers(rj::Writer<rj::StringBuffer>* w, const vm::Decision& d,
                          const vm::Program& program, bool explain) {
  Write(w, d, program, explain);
}

void WriteDecisionMembers(rj::PrettyWriter<rj::StringBuffer>* w, const vm::Decision& d,
                          const vm::Program& program, bool explain) {
  Write(w, d, program, explain);
}

std::string DecisionToJson(const vm::Decision& d, const vm::Program& program,
                           const DecisionJsonOptions& options) {
  if (options.pretty) {
    rj::StringBuffer sb;
    rj::PrettyWriter<rj::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    w.StartObject();
    Write(&w, d, program, options.explain);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }
  thread_local ReusedJsonWriter local;  // once per request on the gateway
  rj::Writer<rj::StringBuffer>& w = local.Begin();
  w.StartObject();
  Write(&w, d, program, options.explain);
  w.EndObject();
  return local.Take();
}

// --- redactions ---

namespace {

// Writes a DOM parsed in place from `text` with kParseNumbersAsStringsFlag:
// a string value that is a number's text is written as that number. A real
// string's text starts right after its opening quote (in-situ parsing never
// overwrites it); a number's never does. Redacted strings live elsewhere.
class NumberTextWriter : public rj::Writer<rj::StringBuffer> {
 public:
  NumberTextWriter(rj::StringBuffer& sb, const std::string& text)
      : rj::Writer<rj::StringBuffer>(sb), begin_(text.data()), end_(text.data() + text.size()) {}
  bool String(const char* s, rj::SizeType n, bool copy = false) {
    if (s > begin_ && s < end_ && s[-1] != '"') return RawValue(s, n, rj::kNumberType);
    return rj::Writer<rj::StringBuffer>::String(s, n, copy);
  }

 private:
  const char* begin_;
  const char* end_;
};

}  // namespace

bool ApplyRedactions(std::string_view input_json, const vm::Decision& d,
                     const vm::Program& program, std::string* out, std::string* error) {
  if (input_json.size() >= 3 && input_json.substr(0, 3) == "\xEF\xBB\xBF")
    input_json.remove_prefix(3);  // UTF-8 byte order mark, as DecodeInput
  // Parsed in place with numbers kept as their text (NumberText below), so
  // that every number is written back exactly as it came -- one beyond
  // double range in a member tollgate ignores included (DecodeInput accepts
  // those).
  // Numbers beyond double range are masked while parsing (MaskNumberAt).
  std::string text;
  rj::Document doc;
  size_t huge[kMaxHugeNumbers], lengths[kMaxHugeNumbers], n_huge = 0;
  // Room for three bytes past the terminator: the in-situ stream is
  // NUL-terminated, and rapidjson 1.1's UTF-8 validation takes up to three
  // continuation bytes of a character without looking for the end (a text
  // that ends inside one); they are read, never used, and stay inside the
  // buffer.
  text.reserve(input_json.size() + 4);
  for (;;) {
    text.assign(input_json.data(), input_json.size());
    for (size_t i = 0; i < n_huge; ++i) MaskNumberAt(text.data(), text.size(), huge[i]);
    doc.ParseInsitu<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag |
                    rj::kParseValidateEncodingFlag>(text.data());
    if (doc.GetParseError() != rj::kParseErrorNumberTooBig || n_huge == kMaxHugeNumbers) break;
    size_t len = MaskNumberAt(text.data(), text.size(), doc.GetErrorOffset());
    if (len == 0) break;
    huge[n_huge] = doc.GetErrorOffset();
    lengths[n_huge++] = len;
  }
  for (size_t i = 0; i < n_huge; ++i)
    std::memcpy(text.data() + huge[i], input_json.data() + huge[i], lengths[i]);
  if (doc.HasParseError() || !doc.IsObject() ||
      std::memchr(input_json.data(), 0, input_json.size()) != nullptr) {
    *error = "the request is not a JSON object";
    return false;
  }
  std::vector<stdlib::RedactRule> rules;
  for (const vm::Redaction& r : d.redactions) {
    const auto& ids = program.RuleRedactions(r.rule);
    if (r.effect >= ids.size()) continue;
    const vm::RedactInfo& info = program.redactions()[ids[r.effect]];
    rules.push_back({info.detector >= 0 ? info.display : info.regex, info.replacement});
  }
  std::unique_ptr<stdlib::Redactor> redactor;
  if (!rules.empty()) {
    redactor = stdlib::Redactor::Build(rules, error);
    if (!redactor) return false;
  }
  rj::Value* body = &doc;
  auto req = doc.FindMember("request");
  if (req != doc.MemberEnd() && req->value.IsObject()) body = &req->value;
  if (redactor) {
    // Redacted as the texts of request.content (runtime/input/request_texts.h,
    // the decoder's definition): each text on its own, and a match across two
    // texts removed from both (stdlib::Redactor::ApplyJoined).
    const char* begin = text.data();
    const char* end = begin + text.size();
    RequestTexts<rj::Value> texts;
    texts.Collect(*body, [&](const rj::Value& v) {
      const char* s = v.GetString();  // a number's text follows no quote
      return !(s >= begin && s < end && (s == begin || s[-1] != '"'));
    });
    // The names an upstream checks against ^[a-zA-Z0-9_-]{1,64}$ -- each
    // message's `name`, the response schema's -- get name-safe
    // placeholders (stdlib::Redactor::Piece::kName).
    std::vector<const rj::Value*> names;
    auto note_names = [&](const rj::Value& object) {
      if (!object.IsObject()) return;
      for (const auto& m : object.GetObject())
        if (m.name == "name") names.push_back(&m.value);
    };
    if (auto msgs = body->FindMember("messages"); msgs != body->MemberEnd() && msgs->value.IsArray())
      for (const rj::Value& m : msgs->value.GetArray()) note_names(m);
    if (auto rf = body->FindMember("response_format"); rf != body->MemberEnd() && rf->value.IsObject())
      if (auto js = rf->value.FindMember("json_schema"); js != rf->value.MemberEnd()) note_names(js->value);
    std::sort(names.begin(), names.end(), std::less<const rj::Value*>());
    std::vector<stdlib::Redactor::Piece> kinds(texts.values().size(), stdlib::Redactor::Piece::kText);
    for (size_t i = 0; i < kinds.size(); ++i)
      if (std::binary_search(names.begin(), names.end(), texts.values()[i], std::less<const rj::Value*>()))
        kinds[i] = stdlib::Redactor::Piece::kName;
    std::vector<std::string> out_texts =
        redactor->ApplyJoined(texts.joined(), texts.ranges(), nullptr, kinds);
    for (size_t i = 0; i < out_texts.size(); ++i) {
      const auto [b, e] = texts.ranges()[i];
      if (std::string_view(out_texts[i]) != std::string_view(texts.joined()).substr(b, e - b))
        texts.values()[i]->SetString(out_texts[i].data(),
                                     static_cast<rj::SizeType>(out_texts[i].size()), doc.GetAllocator());
    }
  }
  rj::StringBuffer sb;
  NumberTextWriter w(sb, text);
  body->Accept(w);
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

}  // namespace tollgate::runtime
