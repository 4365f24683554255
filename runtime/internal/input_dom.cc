// The DOM reference decoder (input_dom.h): rapidjson's in-situ Document,
// then a walk over it guided by the plan (input_plan.h).
#include "runtime/internal/input_dom.h"

// The same SIMD string scanning as runtime/input.cc, so the baseline it is
// measured against is a fair one.
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <new>
#include <optional>

#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "runtime/internal/input_plan.h"
#include "stdlib/builtins.h"
#include "stdlib/names.h"

namespace tollgate::runtime::internal {
namespace {

namespace rj = rapidjson;
using Pool = rj::MemoryPoolAllocator<rj::CrtAllocator>;
using Doc = rj::GenericDocument<rj::UTF8<>, Pool, Pool>;
using JVal = rj::GenericValue<rj::UTF8<>, Pool>;

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
// Per-thread scratch: the parse pools and string scratch.
struct Scratch {
  static constexpr size_t kPoolBytes = 64 * 1024;
  std::unique_ptr<char[]> pool_buf{new char[kPoolBytes]};
  std::unique_ptr<char[]> stack_buf{new char[16 * 1024]};
  Pool pool{pool_buf.get(), kPoolBytes};
  Pool stack{stack_buf.get(), 16 * 1024};
  std::string join;
  std::vector<std::string_view> names;  // duplicate-key check of large objects
};

Scratch& GetScratch() {
  thread_local Scratch s;
  return s;
}

class Decoder {
 public:
  // `content_index` is the field index of `content` in the message record
  // type (-1 without messages); `buf_begin` the start of Record::buffer.
  Decoder(const Plan& plan, const Limits& limits, vm::Record* rec, InputError* err,
          Scratch& scratch, int content_index, const char* buf_begin)
      : plan_(plan), limits_(limits), rec_(rec), err_(err), s_(scratch),
        content_index_(content_index), buf_begin_(buf_begin),
        params_(rec->arena.TakeVector()) {}

  bool Run(const JVal& root) {
    if (!root.IsObject())
      return Fail("input_wrong_type",
                  "the decision input must be a JSON object, got " + std::string(TypeName(root)), "");
    if (!Object(root, plan_.root, nullptr)) return false;
    for (const Plan::Req& r : plan_.required)
      if (rec_->slots[r.slot].is_null())
        return Fail("input_missing_field", "missing required field `" + r.path + "`", r.path);
    for (const auto& [slot, kind] : plan_.empties)
      if (rec_->slots[slot].is_null()) rec_->slots[slot] = EmptyOf(kind);
    Derive();
    return true;
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

  const Node* FindKid(const Node& n, std::string_view name, bool* alias) const {
    for (const Node& k : n.kids)
      if (SameName(k.name, name)) return &k;
    for (const auto& [a, idx] : n.aliases)
      if (a == name) { *alias = true; return &n.kids[idx]; }
    return nullptr;
  }

  bool Object(const JVal& obj, const Node& node, const Path* parent) {
    if (!NoDuplicates(obj, parent)) return false;
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m) {
      std::string_view name = Sv(m->name);
      Path p{parent, name};
      bool alias = false;
      const Node* kid = FindKid(node, name, &alias);
      if (node.is_body && !m->value.IsNull() &&
          !(kid ? kid->not_parameter : IsReservedBodyMember(name))) {
        // max_completion_tokens is the same parameter as max_tokens.
        params_.push_back(Value::StringRef(name == "max_completion_tokens"
                                               ? std::string_view("max_tokens")
                                               : name));
      }
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
      if (alias && !rec_->slots[kid->slot].is_null()) continue;  // the real name wins
      Value v;
      if (!Leaf(m->value, *kid, p, &v)) return false;
      if (kid->non_negative && v.kind == Kind::kInt && v.i < 0) {
        std::string path = p.Render();
        return Fail("input_invalid_value",
                    "`" + path + "` must not be negative, got " + std::to_string(v.i), path);
      }
      rec_->slots[kid->slot] = v;
    }
    return true;
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
        *out = Value::StringRef(Sv(v));
        return true;
      case Kind::kBool:
        if (!v.IsBool()) return WrongType(p, "a boolean", v);
        *out = Value::Bool(v.GetBool());
        return true;
      case Kind::kInt:
      case Kind::kDuration: {
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
          Value x;
          if (!Typed(v[i], t.elem(), q, &x)) return false;
          items.push_back(x);
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
      case Kind::kRecord: return Record(v, t, p, false, out);
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
    // (A number at byte 0 -- the whole document -- has no byte before it: the
    // decoder this reference preserves called it a string there, a bug fixed
    // in both.)
    return v.GetType() == rj::kStringType &&
           (v.GetString() == buf_begin_ || v.GetString()[-1] != '"');
  }

  bool Record(const JVal& v, const Type& t, const Path& p, bool message, Value* out) {
    if (!v.IsObject()) return WrongType(p, "an object", v);
    if (!NoDuplicates(v, &p)) return false;
    const auto& fields = t.fields();
    std::vector<Value> vals = rec_->arena.TakeVector();
    vals.resize(fields.size());
    int content = message ? t.FieldIndex("content") : -1;
    int role = message ? t.FieldIndex("role") : -1;
    const JVal* tool_calls = nullptr;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string_view name = Sv(m->name);
      int idx = t.FieldIndex(name);
      if (idx < 0 && message && name == "tool_calls" && !m->value.IsNull()) tool_calls = &m->value;
      if (idx < 0 || m->value.IsNull()) continue;  // tool_call_id, ...
      Path q{&p, name};
      if (idx == content && m->value.IsArray()) {
        if (!ContentParts(m->value, q, &vals[idx])) return false;
        continue;
      }
      if (!Typed(m->value, fields[idx].type, q, &vals[idx])) return false;
    }
    if (content >= 0 && vals[content].is_null() && role >= 0 && vals[role].kind == Kind::kString &&
        vals[role].sv() == "assistant")
      vals[content] = Value::StringRef(std::string_view("", 0));
    if (tool_calls && content >= 0 && !ToolCallText(*tool_calls, p, &vals[content])) return false;
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

  // Appends the `function.arguments` of each tool call to the message's text
  // (joined with "\n"), so DLP rules and request.content see them.
  bool ToolCallText(const JVal& calls, const Path& msg, Value* text) {
    Path p{&msg, "tool_calls"};
    if (!calls.IsArray()) return WrongType(p, "an array", calls);
    if (!CheckCount(calls, p, limits_.max_list_elements)) return false;
    std::string& j = s_.join;
    j.clear();
    if (text->kind == Kind::kString) j.append(text->str, text->size);
    bool any = false;
    for (rj::SizeType i = 0; i < calls.Size(); ++i) {
      Path q{&p, {}, static_cast<int64_t>(i)};
      const JVal& call = calls[i];
      if (!call.IsObject()) return WrongType(q, "a tool call object", call);
      if (!NoDuplicates(call, &q)) return false;
      auto fn = call.FindMember("function");
      if (fn == call.MemberEnd() || fn->value.IsNull()) continue;
      Path r{&q, "function"};
      if (!fn->value.IsObject()) return WrongType(r, "an object", fn->value);
      if (!NoDuplicates(fn->value, &r)) return false;
      auto args = fn->value.FindMember("arguments");
      if (args == fn->value.MemberEnd() || args->value.IsNull()) continue;
      Path a{&r, "arguments"};
      if (!IsStr(args->value)) return WrongType(a, "a string", args->value);
      if (args->value.GetStringLength() == 0) continue;
      if (!j.empty()) j += '\n';
      j.append(args->value.GetString(), args->value.GetStringLength());
      any = true;
    }
    if (any) *text = rec_->arena.String(j);
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
      auto type = part.FindMember("type");
      if (type == part.MemberEnd() || !IsStr(type->value)) {
        Path r{&q, "type"};
        if (type == part.MemberEnd())
          return Fail("input_missing_field", "missing required field `" + r.Render() + "`", r.Render());
        return WrongType(r, "a string", type->value);
      }
      if (Sv(type->value) != "text") continue;  // image_url, input_audio, file
      auto text = part.FindMember("text");
      Path r{&q, "text"};
      if (text == part.MemberEnd())
        return Fail("input_missing_field", "missing required field `" + r.Render() + "`", r.Render());
      if (!IsStr(text->value)) return WrongType(r, "a string", text->value);
      if (!first) j += '\n';
      j.append(text->value.GetString(), text->value.GetStringLength());
      first = false; only = &text->value; ++texts;
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
      if (!Record(v[i], node.type.elem(), q, true, &items[i])) return false;
    }
    *out = rec_->arena.MakeList(std::move(items));
    return true;
  }

  bool Tools(const JVal& v, const Node& node, const Path& p, Value* out) {
    if (!v.IsArray()) return WrongType(p, "an array", v);
    if (!CheckCount(v, p, limits_.max_list_elements)) return false;
    std::vector<Value> items = rec_->arena.TakeVector();
    items.reserve(v.Size());
    for (rj::SizeType i = 0; i < v.Size(); ++i) {
      Path q{&p, {}, static_cast<int64_t>(i)};
      const JVal& t = v[i];
      if (IsStr(t)) { items.push_back(Value::StringRef(Sv(t))); continue; }
      if (!t.IsObject()) return WrongType(q, "a tool object", t);
      if (!NoDuplicates(t, &q)) return false;
      auto fn = t.FindMember("function");
      if (fn != t.MemberEnd() && fn->value.IsObject()) {
        auto name = fn->value.FindMember("name");
        Path r{&q, "function"};
        Path s{&r, "name"};
        if (name == fn->value.MemberEnd())
          return Fail("input_missing_field", "missing required field `" + s.Render() + "`", s.Render());
        if (!IsStr(name->value)) return WrongType(s, "a string", name->value);
        items.push_back(Value::StringRef(Sv(name->value)));
        continue;
      }
      auto type = t.FindMember("type");
      if (type != t.MemberEnd() && IsStr(type->value))
        items.push_back(Value::StringRef(Sv(type->value)));
    }
    if (items.empty()) { *out = EmptyOf(node.type.kind()); return true; }
    *out = node.type.is(Kind::kSet) ? rec_->arena.MakeSet(std::move(items))
                                    : rec_->arena.MakeList(std::move(items));
    return true;
  }

  void Derive() {
    DeriveFields(plan_, content_index_, std::move(params_), &s_.join, rec_);
  }

  const Plan& plan_;
  const Limits& limits_;
  vm::Record* rec_;
  InputError* err_;
  Scratch& s_;
  const int content_index_;
  const char* const buf_begin_;
  std::vector<Value> params_;
};

bool Decode(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
            const DecodeOptions& options, bool candidate, vm::Record* out, bool* present,
            InputError* err) {
  out->Clear();
  if (!PreCheck(&json, limits, err)) return false;
  Scratch& s = GetScratch();
  const Plan& plan = PlanFor(schema, candidate);
  out->slots.assign(plan.n_slots, Value::Null());
  // INVARIANT: 16 bytes of slack after the text: rapidjson's SIMD scanner
  // reads whole aligned 16-byte blocks.
  out->buffer.reserve(json.size() + 16);
  // Numbers beyond double range: each is parsed as a same-length
  // placeholder and its text put back afterwards (json_text.h).
  HugeNumbers huge;
  std::optional<Doc> parsed;  // one per attempt: its stack lives in s.stack
  DepthGuard guard{nullptr, limits.max_input_depth};
  rj::ParseResult result;
  size_t end = 0;
  for (;;) {
    out->buffer.assign(json.data(), json.size());
    for (size_t i = 0; i < huge.n; ++i)
      MaskNumberAt(out->buffer.data(), out->buffer.size(), huge.at[i].offset);
    parsed.reset();
    s.pool.Clear();
    s.stack.Clear();
    parsed.emplace(&s.pool, 1024, &s.stack);
    guard.doc = &*parsed;
    guard.depth = 0;
    rj::InsituStringStream is(out->buffer.data());
    auto gen = [&](Doc& d) {
      (void)d;
      rj::GenericReader<rj::UTF8<>, rj::UTF8<>, Pool> reader(&s.stack);
      constexpr unsigned kFlags =
          rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;  // UTF-8 checked above
      result = reader.Parse<kFlags>(is, guard);
      end = is.Tell();
      return !result.IsError();
    };
    parsed->Populate(gen);
    if (guard.too_deep || !result.IsError() || result.Code() != rj::kParseErrorNumberTooBig ||
        huge.n == kMaxHugeNumbers)
      break;
    // The failed parse wrote nothing at or after the number (in-situ
    // decoding only rewrites the strings before it): measure it there.
    size_t len = MaskNumberAt(out->buffer.data(), out->buffer.size(), result.Offset());
    if (len == 0) break;  // cannot happen: rapidjson reports the number's first byte
    huge.at[huge.n++] = HugeNumbers::At{result.Offset(), len};
  }
  Doc& doc = *parsed;
  // In-situ parsing writes nothing over a number's text (rapidjson keeps its
  // pointer and length), so the original text goes back in place.
  for (size_t i = 0; i < huge.n; ++i)
    std::memcpy(out->buffer.data() + huge.at[i].offset, json.data() + huge.at[i].offset,
                huge.at[i].length);
  if (!CheckParse(json, limits, guard.too_deep, result.IsError() ? result.Code() : 0,
                  result.IsError() ? result.Offset() : 0, end, huge, err))
    return false;
  int content_index = ContentIndex(schema, plan);
  if (present != nullptr) {
    *present = doc.IsObject() && doc.HasMember("candidate") && !doc["candidate"].IsNull();
    if (!*present) return true;
  }
  Decoder dec(plan, limits, out, err, s, content_index, out->buffer.data());
  if (!dec.Run(doc)) return false;
  FillClock(plan, options, out);
  return true;
}

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

bool DecodeInputDom(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                    const DecodeOptions& options, vm::Record* out, InputError* err) {
  return DecodeGuarded(json, schema, limits, options, false, out, nullptr, err);
}

bool DecodeCandidateDom(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                        vm::Record* out, bool* present, InputError* err) {
  return DecodeGuarded(json, schema, limits, DecodeOptions{}, true, out, present, err);
}

}  // namespace tollgate::runtime::internal
