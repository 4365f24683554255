// Decision -> JSON (see decision_json.h).
#include "runtime/decision_json.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "stdlib/redact.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;

template <typename W>
void Str(W* w, std::string_view s) {
  w->String(s.data(), static_cast<rj::SizeType>(s.size()));
}

template <typename W>
void Raw(W* w, const std::string& json) {
  w->RawValue(json.data(), json.size(), rj::kObjectType);
}

template <typename W>
void RuleList(W* w, const vm::Program& p, const std::vector<uint32_t>& ids) {
  w->StartArray();
  for (uint32_t id : ids) Str(w, RuleName(p, id));
  w->EndArray();
}

template <typename W>
void Requires(W* w, const vm::Program& p, const std::vector<vm::RequireRef>& reqs) {
  w->StartArray();
  for (const vm::RequireRef& r : reqs) {
    w->StartObject();
    w->Key("rule");
    Str(w, RuleName(p, r.rule));
    w->Key("predicate");
    Str(w, r.require < p.require_infos().size() ? std::string_view(p.require_infos()[r.require].text)
                                           : std::string_view("?"));
    w->EndObject();
  }
  w->EndArray();
}

template <typename W>
void Money(W* w, const char* key, int64_t micros) {
  if (micros < 0) return;
  w->Key(key);
  Str(w, FormatMicros(micros));
}

template <typename W>
void Write(W* w, const vm::Decision& d, const vm::Program& p, bool explain) {
  w->Key("outcome");
  Str(w, d.outcome == vm::Outcome::kAllow ? "allow" : "deny");
  w->Key("status");
  w->Int(d.status);
  w->Key("code");
  Str(w, d.code);
  w->Key("reason");
  Str(w, d.reason);
  w->Key("rules");
  RuleList(w, p, d.fired);
  w->Key("shadow");
  RuleList(w, p, d.shadow);
  w->Key("advisory");
  RuleList(w, p, d.advisory);
  w->Key("requires");
  Requires(w, p, d.require_refs);
  w->Key("shadow_requires");
  Requires(w, p, d.shadow_requires);

  w->Key("redactions");
  w->StartArray();
  for (const vm::Redaction& r : d.redactions) {
    w->StartObject();
    w->Key("rule");
    Str(w, RuleName(p, r.rule));
    w->Key("pattern");
    Str(w, r.pattern);
    w->Key("replacement");
    Str(w, r.replacement);
    w->EndObject();
  }
  w->EndArray();

  w->Key("route");
  w->StartObject();
  w->Key("sort");
  if (d.route.sort == vm::SortBy::kNone) w->Null();
  else Str(w, vm::SortName(d.route.sort));
  w->Key("max_price");
  w->StartObject();
  Money(w, "cost", d.route.max_request_cost);
  Money(w, "prompt", d.route.max_prompt);
  Money(w, "completion", d.route.max_completion);
  Money(w, "request", d.route.max_request);
  w->EndObject();
  w->Key("order");
  w->StartArray();
  for (std::string_view o : d.route.order) Str(w, o);
  w->EndArray();
  w->Key("rules");
  RuleList(w, p, d.route.rules);
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
  w->Key("tags");
  w->StartObject();
  for (const vm::Tag* t : tags) {
    w->Key(t->key.data(), static_cast<rj::SizeType>(t->key.size()));
    Raw(w, ToJson(t->value));
  }
  w->EndObject();

  w->Key("warnings");
  w->StartArray();
  for (const vm::Warning& x : d.warnings) {
    w->StartObject();
    w->Key("rule");
    Str(w, RuleName(p, x.rule));
    w->Key("message");
    Str(w, x.message);
    w->EndObject();
  }
  w->EndArray();

  w->Key("errors");
  w->StartArray();
  for (const vm::RuleError& e : d.errors) {
    w->StartObject();
    w->Key("rule");
    Str(w, RuleName(p, e.rule));
    w->Key("code");
    Str(w, e.code);
    w->Key("message");
    Str(w, e.message);
    w->EndObject();
  }
  w->EndArray();

  w->Key("policy");
  w->StartObject();
  w->Key("name");
  Str(w, p.name());
  w->Key("version");
  Str(w, p.version_id());
  w->EndObject();
  w->Key("instructions");
  w->Uint64(d.instructions);
  if (d.time) {
    // The instant the policy saw as context.time; replays pass it back.
    w->Key("time");
    Str(w, FormatRfc3339(*d.time));
    w->Key("time_source");
    Str(w, d.time_from_clock ? "clock" : "input");
  }

  if (explain) {
    w->Key("trace");
    w->StartArray();
    for (const vm::TraceEntry& t : d.trace) {
      w->StartObject();
      w->Key("rule");
      Str(w, RuleName(p, t.rule));
      w->Key("fired");
      w->Bool(t.fired);
      w->Key("error");
      w->Bool(t.error);
      w->Key("values");
      w->StartObject();
      for (const auto& [path, json] : t.values) {
        w->Key(path.data(), static_cast<rj::SizeType>(path.size()));
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
  rj::StringBuffer sb;
  if (options.pretty) {
    rj::PrettyWriter<rj::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    w.StartObject();
    Write(&w, d, program, options.explain);
    w.EndObject();
  } else {
    rj::Writer<rj::StringBuffer> w(sb);
    w.StartObject();
    Write(&w, d, program, options.explain);
    w.EndObject();
  }
  return std::string(sb.GetString(), sb.GetSize());
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

void RedactString(const stdlib::Redactor& r, rj::Value* v, rj::Document::AllocatorType& a) {
  int n = 0;
  std::string s = r.Apply(std::string_view(v->GetString(), v->GetStringLength()), &n);
  if (n > 0) v->SetString(s.data(), static_cast<rj::SizeType>(s.size()), a);
}

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
  auto msgs = body->FindMember("messages");
  if (redactor && msgs != body->MemberEnd() && msgs->value.IsArray()) {
    for (rj::Value& m : msgs->value.GetArray()) {
      if (!m.IsObject()) continue;
      // Tool-call arguments are part of the message's scanned text (see
      // docs/decision-input.md), so they are redacted in place too.
      auto calls = m.FindMember("tool_calls");
      if (calls != m.MemberEnd() && calls->value.IsArray()) {
        for (rj::Value& call : calls->value.GetArray()) {
          if (!call.IsObject()) continue;
          auto fn = call.FindMember("function");
          if (fn == call.MemberEnd() || !fn->value.IsObject()) continue;
          auto args = fn->value.FindMember("arguments");
          if (args != fn->value.MemberEnd() && args->value.IsString())
            RedactString(*redactor, &args->value, doc.GetAllocator());
        }
      }
      auto content = m.FindMember("content");
      if (content == m.MemberEnd()) continue;
      if (content->value.IsString()) {
        RedactString(*redactor, &content->value, doc.GetAllocator());
      } else if (content->value.IsArray()) {
        for (rj::Value& part : content->value.GetArray()) {
          if (!part.IsObject()) continue;
          auto type = part.FindMember("type");
          auto text = part.FindMember("text");
          if (type != part.MemberEnd() && type->value.IsString() &&
              std::string_view(type->value.GetString()) == "text" && text != part.MemberEnd() &&
              text->value.IsString())
            RedactString(*redactor, &text->value, doc.GetAllocator());
        }
      }
    }
  }
  rj::StringBuffer sb;
  NumberTextWriter w(sb, text);
  body->Accept(w);
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

}  // namespace tollgate::runtime
