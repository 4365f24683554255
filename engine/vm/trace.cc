// Trace records for --explain (see internal/trace.h).
#include "engine/vm/internal/trace.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <re2/re2.h>

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "engine/core/limits.h"
#include "engine/scan/escapes.h"
#include "engine/vm/scan.h"
#include "stdlib/builtins.h"

namespace tollgate::vm::internal {
namespace {

bool IsContent(const Code& c, std::string_view path) {
  if (path == "request.content" || path == "request.messages") return true;
  for (const ScanGroup& g : c.groups) {
    if (g.path == path) return true;
  }
  return false;
}

// Bytes of the UTF-8 character starting at s[i] (1 for a stray byte).
size_t CharLen(std::string_view s, size_t i) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
  return i + n <= s.size() ? n : 1;
}

// [begin, end) of the first match of pattern `p` in `text` that passes its
// validator, or false.
bool FindSpan(const ScanPattern& p, std::string_view text, size_t* begin, size_t* end) {
  if (p.kind == ScanPattern::kLiteral) {
    size_t at = text.find(p.text);
    if (at == std::string_view::npos) return false;
    *begin = at;
    *end = at + p.text.size();
    return true;
  }
  std::string regex = p.kind == ScanPattern::kCaseless ? CaselessPattern(p.text) : p.text;
  stdlib::Validator validate = nullptr;
  if (p.detector >= 0) {
    const stdlib::DetectorDecl& d = stdlib::Detectors()[p.detector];
    regex = std::string(d.regex);
    validate = d.validate;
  }
  std::string err;
  std::unique_ptr<re2::RE2> re = CompilePattern(regex, &err);
  if (!re) return false;
  auto find = [&](std::string_view t) {
    re2::StringPiece input(t.data(), t.size());
    re2::StringPiece m;
    size_t pos = 0;
    while (pos <= input.size() && re->Match(input, pos, input.size(), RE2::UNANCHORED, &m, 1)) {
      const size_t b = static_cast<size_t>(m.data() - input.data());
      if (!validate || validate(std::string_view(m.data(), m.size()))) {
        *begin = b;
        *end = b + m.size();
        return true;
      }
      pos = m.empty() ? b + 1 : b + m.size();
    }
    return false;
  };
  if (find(text)) return true;
  if (p.kind == ScanPattern::kCaseless) return false;  // bytes, as `contains`
  // `matches` reads JSON string escapes through: the span in the text of the
  // first reading that has a match (engine/scan/escapes.h).
  scan::Readings readings;
  for (size_t r = 0, n = readings.Read(text); r < n; ++r) {
    if (!find(readings.text(r))) continue;
    std::tie(*begin, *end) = readings.ToText(r, *begin, *end);
    return true;
  }
  return false;
}

std::string Summary(std::string_view path, const Value& v, const Type* type) {
  if (v.is_null()) return "null";
  // Messages keep their records with every string but the role (content,
  // name -- a name is part of request.content and is redacted upstream too)
  // replaced by its length.
  if (path == "request.messages" && v.kind == Kind::kList && v.list && type &&
      type->is(Kind::kList) && type->elem().is(Kind::kRecord)) {
    const Type& rt = type->elem();
    const int role = rt.FieldIndex("role");
    std::string out = "[";
    for (size_t i = 0; i < v.list->items.size(); ++i) {
      const Value& m = v.list->items[i];
      if (i) out += ',';
      if (m.kind != Kind::kRecord || !m.rec) { out += "null"; continue; }
      out += '{';
      bool first = true;
      for (size_t k = 0; k < rt.fields().size() && k < m.rec->fields.size(); ++k) {
        const Value& x = m.rec->fields[k];
        if (x.is_null()) continue;
        if (!first) out += ',';
        first = false;
        out += ToJson(Value::StringRef(rt.fields()[k].name)) + ':';
        if (static_cast<int>(k) != role && x.kind == Kind::kString) {
          out += "{\"length\":" + std::to_string(x.size) + '}';
        } else {
          out += ToJson(x, rt.fields()[k].type);
        }
      }
      out += '}';
    }
    return out + "]";
  }
  if (v.kind != Kind::kString) return "{\"matches\":[]}";
  return "{\"length\":" + std::to_string(v.size) + ",\"matches\":[]}";
}

}  // namespace

std::string MaskExcerpt(std::string_view match) {
  std::vector<size_t> starts;  // character boundaries
  for (size_t i = 0; i < match.size(); i += CharLen(match, i)) starts.push_back(i);
  const size_t n = starts.size();
  const size_t keep = n >= 8 ? 2 : 0;
  std::string out(match.substr(0, keep ? starts[keep] : 0));
  out.append(std::min<size_t>(n - 2 * keep, 16), '*');
  if (keep) out.append(match.substr(starts[n - keep]));
  return out;
}

void TraceRead(Frame* f, std::string_view path, const Value& v, const Type* type) {
  for (const auto& [p, _] : f->trace->values) {
    if (p == path) return;
  }
  static constexpr Limits kLimits{};
  if (f->trace->values.size() >= kLimits.max_trace_values) return;  // bounded per rule
  if (IsContent(*f->code, path)) {
    f->trace->values.emplace_back(path, Summary(path, v, type));
    return;
  }
  // Other values are bounded too (docs/limits.md): a long string keeps its
  // start (cut at a UTF-8 boundary) and says how long it was; another value
  // whose JSON passes 4 x the limit is replaced by a note.
  const size_t max = kLimits.max_trace_value_bytes;
  std::string json;
  if (v.kind == Kind::kString && v.size > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(v.str[cut]) & 0xC0) == 0x80) --cut;
    std::string shown(v.str, cut);
    shown += "... (" + std::to_string(v.size) + " bytes)";
    json = ToJson(Value::StringRef(shown));
  } else {
    json = type != nullptr ? ToJson(v, *type) : ToJson(v);
    if (json.size() > 4 * max) {
      json = ToJson(Value::StringRef("(a value of " + std::to_string(json.size()) +
                                     " bytes of JSON, not shown)"));
    }
  }
  f->trace->values.emplace_back(path, std::move(json));
}

void TraceMatch(Frame* f, uint32_t group, uint32_t pat, std::string_view text) {
  const ScanGroup& g = f->code->groups[group];
  const ScanPattern& p = g.patterns[pat];
  std::string* summary = nullptr;
  for (auto& [path, json] : f->trace->values) {
    if (path == g.path) summary = &json;
  }
  // INVARIANT: ScanBit traced the read of the group's field (a summary
  // ending in "]}") before it reports a match.
  if (!summary || summary->size() < 2 || summary->compare(summary->size() - 2, 2, "]}") != 0) return;
  size_t begin = 0, end = 0;
  if (!FindSpan(p, text, &begin, &end)) return;
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key(p.kind == ScanPattern::kDetector ? "detector" : "pattern");
  w.String(p.text.data(), static_cast<rapidjson::SizeType>(p.text.size()));
  w.Key("span");
  w.StartArray();
  w.Uint64(begin);
  w.Uint64(end);
  w.EndArray();
  std::string excerpt = MaskExcerpt(text.substr(begin, end - begin));
  w.Key("excerpt");
  w.String(excerpt.data(), static_cast<rapidjson::SizeType>(excerpt.size()));
  w.EndObject();
  std::string item(sb.GetString(), sb.GetSize());
  if (summary->find(item) != std::string::npos) return;
  const bool first = (*summary)[summary->size() - 3] == '[';
  summary->insert(summary->size() - 2, first ? item : "," + item);
}

}  // namespace tollgate::vm::internal
