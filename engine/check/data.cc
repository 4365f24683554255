// Pass `data`: loads each `data NAME from "file.json": SHAPE` document,
// checks it against SHAPE with JSON-path-precise messages, and stores the
// Value (in Policy::arena) and its canonical JSON in the DataDecl.
//
// JSON is read with rapidjson's SAX reader (iterative, so deep input cannot
// overflow the stack) into a small tree that keeps numbers as their source
// text: decimals and money stay exact and never pass through a double.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "engine/check/passes.h"
#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "engine/core/read_file.h"

namespace tollgate::check {
namespace {

struct JNode {
  enum T : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject } t = kNull;
  bool b = false;
  std::string s;                  // string bytes or number text
  std::vector<std::string> keys;  // kObject, parallel to kids
  std::vector<JNode> kids;
};

const char* JName(const JNode& n) {
  switch (n.t) {
    case JNode::kNull: return "null";
    case JNode::kBool: return "a bool";
    case JNode::kNumber: return "a number";
    case JNode::kString: return "a string";
    case JNode::kArray: return "an array";
    case JNode::kObject: return "an object";
  }
  return "?";
}

// SAX handler building a JNode tree, with a depth limit.
struct Builder : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
  JNode root;
  std::vector<JNode*> stack;
  std::string pending_key;
  uint32_t max_depth = 64;
  bool too_deep = false;
  std::string dup_key;
  // Keys of each open object (parallel to `stack`; empty for arrays), so
  // that duplicate detection is linear in the document.
  std::vector<std::unordered_set<std::string>> open_keys;

  JNode* Add(JNode n) {
    if (stack.empty()) {
      root = std::move(n);
      return &root;
    }
    JNode* parent = stack.back();
    if (parent->t == JNode::kObject) {
      if (!open_keys.back().insert(pending_key).second) {
        dup_key = pending_key;
        return nullptr;
      }
      parent->keys.push_back(pending_key);
    }
    parent->kids.push_back(std::move(n));
    return &parent->kids.back();
  }
  bool Scalar(JNode n) { return Add(std::move(n)) != nullptr; }
  bool Null() { return Scalar(JNode{}); }
  bool Bool(bool v) {
    JNode n;
    n.t = JNode::kBool;
    n.b = v;
    return Scalar(std::move(n));
  }
  bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
    JNode n;
    n.t = JNode::kNumber;
    n.s.assign(str, len);
    return Scalar(std::move(n));
  }
  bool String(const char* str, rapidjson::SizeType len, bool) {
    JNode n;
    n.t = JNode::kString;
    n.s.assign(str, len);
    return Scalar(std::move(n));
  }
  bool Open(JNode::T t) {
    if (stack.size() >= max_depth) {
      too_deep = true;
      return false;
    }
    JNode n;
    n.t = t;
    JNode* p = Add(std::move(n));
    if (p == nullptr) return false;
    stack.push_back(p);
    open_keys.emplace_back();
    return true;
  }
  bool StartObject() { return Open(JNode::kObject); }
  bool Key(const char* str, rapidjson::SizeType len, bool) {
    pending_key.assign(str, len);
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    stack.pop_back();
    open_keys.pop_back();
    return true;
  }
  bool StartArray() { return Open(JNode::kArray); }
  bool EndArray(rapidjson::SizeType) {
    stack.pop_back();
    open_keys.pop_back();
    return true;
  }
};

bool IsIdent(std::string_view k) {
  if (k.empty() || !(isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  for (char c : k)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Converts one JSON tree against a shape. Reports the first mismatch only.
class Converter {
 public:
  Converter(Context& ctx, const ast::DataDecl& decl, const Span& at)
      : ctx_(ctx), decl_(decl), at_(at) {}

  bool Convert(const JNode& n, const Type& t, const std::string& path, Value* out) {
    Arena& arena = *ctx_.policy->arena;
    switch (t.kind()) {
      case Kind::kBool:
        if (n.t != JNode::kBool) return Fail(path, "expected bool, found " + Found(n));
        *out = Value::Bool(n.b);
        return true;
      case Kind::kInt: {
        int64_t v = 0;
        if (n.t != JNode::kNumber) return Fail(path, "expected int, found " + Found(n));
        auto r = std::from_chars(n.s.data(), n.s.data() + n.s.size(), v);
        if (r.ec != std::errc() || r.ptr != n.s.data() + n.s.size())
          return Fail(path, "expected int, found `" + n.s + "`");
        *out = Value::Int(v);
        return true;
      }
      case Kind::kDecimal: {
        if (n.t != JNode::kNumber) return Fail(path, "expected decimal, found " + Found(n));
        auto v = ParseMicros(n.s);
        if (!v) return Fail(path, "`" + n.s + "` is not a decimal with at most 6 fractional digits");
        *out = Value::Decimal(*v);
        return true;
      }
      case Kind::kMoney: {
        std::string text = n.s;
        if (n.t == JNode::kString && text.size() > 4 && text.substr(text.size() - 4) == " usd")
          text.resize(text.size() - 4);
        if (n.t != JNode::kNumber && n.t != JNode::kString)
          return Fail(path, "expected money, found " + Found(n));
        auto v = ParseMicros(text);
        if (!v) return Fail(path, "`" + n.s + "` is not an amount of money such as \"2.50\"");
        *out = Value::Money(*v);
        return true;
      }
      case Kind::kString:
        if (n.t != JNode::kString) return Fail(path, "expected string, found " + Found(n));
        *out = arena.String(n.s);
        return true;
      case Kind::kDuration: {
        int64_t ms = 0;
        if (n.t == JNode::kString) {
          if (auto d = ParseDuration(n.s)) {
            *out = Value::Duration(*d);
            return true;
          }
        }
        if (n.t == JNode::kNumber) {
          auto r = std::from_chars(n.s.data(), n.s.data() + n.s.size(), ms);
          if (r.ec == std::errc() && r.ptr == n.s.data() + n.s.size()) {
            if (ms != 0) UnitlessDuration(path, n.s, ms);
            *out = Value::Duration(ms);
            return true;
          }
        }
        return Fail(path, "expected a duration such as \"30s\", found " + Found(n));
      }
      case Kind::kTime: {
        int64_t ms = 0;
        if (n.t == JNode::kString && ParseRfc3339(n.s, &ms)) {
          *out = Value::Time(ms);
          return true;
        }
        return Fail(path, "expected an RFC 3339 time, found " + Found(n));
      }
      case Kind::kSet:
      case Kind::kList: {
        if (n.t != JNode::kArray)
          return Fail(path, std::string("expected an array (") + t.ToString() + "), found " +
                                Found(n));
        std::vector<Value> items;
        items.reserve(n.kids.size());
        for (size_t i = 0; i < n.kids.size(); ++i) {
          Value v;
          if (!Convert(n.kids[i], t.elem(), path + "[" + std::to_string(i) + "]", &v))
            return false;
          items.push_back(v);
        }
        *out = t.is(Kind::kSet) ? arena.MakeSet(std::move(items)) : arena.MakeList(std::move(items));
        return true;
      }
      case Kind::kMap: {
        if (n.t != JNode::kObject)
          return Fail(path, std::string("expected an object (") + t.ToString() + "), found " +
                                Found(n));
        std::vector<std::pair<std::string_view, Value>> entries;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          Value v;
          if (!Convert(n.kids[i], t.elem(), Child(path, n.keys[i]), &v)) return false;
          Value key = arena.String(n.keys[i]);
          entries.emplace_back(key.sv(), v);
        }
        *out = arena.MakeMap(std::move(entries));
        return true;
      }
      case Kind::kRecord: {
        if (n.t != JNode::kObject)
          return Fail(path, std::string("expected an object (") + t.ToString() + "), found " +
                                Found(n));
        const auto& fields = t.fields();
        std::vector<Value> vals(fields.size(), Value::Null());
        std::vector<bool> seen(fields.size(), false);
        for (size_t i = 0; i < n.kids.size(); ++i) {
          int fi = t.FieldIndex(n.keys[i]);
          if (fi < 0) {
            std::vector<std::string> names;
            for (const auto& f : fields) names.push_back(f.name);
            std::string close = ClosestMatch(n.keys[i], names);
            return Fail(Child(path, n.keys[i]), "unknown field `" + n.keys[i] + "`",
                        close.empty() ? "the shape allows: " + Join(names)
                                      : "did you mean `" + close + "`?");
          }
          seen[fi] = true;
          if (n.kids[i].t == JNode::kNull && fields[fi].optional) continue;
          if (!Convert(n.kids[i], fields[fi].type, Child(path, n.keys[i]), &vals[fi])) return false;
        }
        for (size_t i = 0; i < fields.size(); ++i)
          if (!seen[i] && !fields[i].optional)
            return Fail(path, "missing field `" + fields[i].name + "`",
                        "mark it optional with `" + fields[i].name + "?` if it may be absent");
        // An absent (or null) optional set or list reads as empty, as in the input.
        for (size_t i = 0; i < fields.size(); ++i) {
          if (!vals[i].is_null()) continue;
          if (fields[i].type.is(Kind::kSet)) vals[i] = arena.MakeSet({});
          else if (fields[i].type.is(Kind::kList)) vals[i] = arena.MakeList({});
        }
        *out = arena.MakeRecord(std::move(vals));
        return true;
      }
      default:
        return Fail(path, "type `" + t.ToString() + "` cannot hold data");
    }
  }

 private:
  static std::string Join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }
  static std::string Child(const std::string& path, const std::string& key) {
    return IsIdent(key) ? path + "." + key : path + "[" + Quote(key) + "]";
  }
  static std::string Found(const JNode& n) {
    if (n.t == JNode::kNumber) return "`" + n.s + "`";
    if (n.t == JNode::kBool) return n.b ? "`true`" : "`false`";
    return JName(n);
  }
  bool Fail(const std::string& path, const std::string& msg, std::string help = {}) {
    if (help.empty())
      help = "change the value at `" + path + "` in `" + decl_.file + "`, or the shape declared for `" +
             decl_.name + "`, so that they agree";
    ctx_.Error("tg_data_error", at_,
               "data `" + decl_.name + "` in `" + decl_.file + "`: at `" + path + "`: " + msg,
               std::move(help));
    return false;
  }

  // A bare number is milliseconds: `"max_age": 3600` written for an hour is
  // 3.6 seconds, and a rule comparing it with `1h` checks clean. Warned
  // once per document (tg_duration_unit), at the first such value.
  void UnitlessDuration(const std::string& path, const std::string& text, int64_t ms) {
    if (unit_warned_) return;
    unit_warned_ = true;
    std::string seconds;
    if (ms > -INT64_MAX / 1000 && ms < INT64_MAX / 1000) seconds = " (" + FormatMicros(ms * 1000) + " s)";
    ctx_.Warning("tg_duration_unit", at_,
                 "data `" + decl_.name + "` in `" + decl_.file + "`: at `" + path + "`: the duration `" + text +
                     "` has no unit and is read as milliseconds" + seconds,
                 "write its unit in the document: `\"" + text + "ms\"`, or `\"" + text +
                     "s\"` if seconds were meant (`\"30s\"`, `\"5m\"`, `\"1h\"`, `\"90d\"`)");
  }

  Context& ctx_;
  const ast::DataDecl& decl_;
  Span at_;
  bool unit_warned_ = false;
};

bool ContainsAny(const Type& t) {
  switch (t.kind()) {
    case Kind::kAny: return true;
    case Kind::kSet: case Kind::kList: case Kind::kMap: return ContainsAny(t.elem());
    case Kind::kRecord:
      for (const auto& f : t.fields())
        if (ContainsAny(f.type)) return true;
      return false;
    default: return false;
  }
}

void LoadOne(Context& ctx, size_t index) {
  ast::DataDecl& d = ctx.policy->data[index];
  // Point at the file name string when we can find it in the declaration.
  Span at = d.span;
  std::string_view text = ctx.Text(d.span);
  size_t pos = text.find("\"" + d.file + "\"");
  if (pos != std::string_view::npos) at = SubSpan(d.span, pos, d.file.size() + 2);

  // A shape with an unknown type name: the parser reported it (and left
  // `any` as a placeholder); the document cannot be checked against it.
  if (ContainsAny(d.shape)) return;
  std::string why;
  if (!ValidDataType(d.shape, &why)) {
    ctx.Error("tg_data_error", d.type_span.file ? d.type_span : d.span,
              "invalid shape for data `" + d.name + "`: " + why,
              "a data shape is built from bool, int, decimal, money, string, duration, time, "
              "set<string>, set<int>, list<T>, map<T> and records {name: T}");
    return;
  }
  std::filesystem::path path(d.file);
  // Relative to the file that declares it (a composed policy has several;
  // base_dir is the first file's directory).
  std::filesystem::path base = ctx.options.base_dir;
  if (!ctx.policy->more_files.empty() && d.span.file != nullptr &&
      d.span.file != ctx.policy->file.get())
    base = std::filesystem::path(d.span.file->path).parent_path();
  if (path.is_relative() && !base.empty()) path = base / path;
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    std::string why = ec.message();
    if (!why.empty()) why[0] = static_cast<char>(tolower(static_cast<unsigned char>(why[0])));
    ctx.Error("tg_data_error", at, "cannot read data file `" + d.file + "`: " + why,
              "paths are relative to the policy file's directory");
    return;
  }
  if (size > ctx.options.limits.max_data_document_bytes) {
    ctx.Error("tg_limit_exceeded", at,
              "data file `" + d.file + "` has " + std::to_string(size) +
                  " bytes, more than the limit of " +
                  std::to_string(ctx.options.limits.max_data_document_bytes),
              "raise Limits::max_data_document_bytes or split the document");
    return;
  }
  // The size check above gives the friendly message; the read is capped too
  // (a file may grow, or not be a regular file).
  std::string json, read_why;
  ReadStatus rs = ReadCapped(path.string(), ctx.options.limits.max_data_document_bytes, &json, &read_why);
  if (rs == ReadStatus::kTooLarge) {
    ctx.Error("tg_limit_exceeded", at,
              "data file `" + d.file + "` has more than the limit of " +
                  std::to_string(ctx.options.limits.max_data_document_bytes) + " bytes",
              "raise Limits::max_data_document_bytes or split the document");
    return;
  }
  if (rs != ReadStatus::kOk) {
    ctx.Error("tg_data_error", at, "cannot read data file `" + d.file + "`",
              "check that the file is readable; paths are relative to the policy file's directory");
    return;
  }
  // A UTF-8 byte order mark (Windows editors write one) is not part of JSON;
  // decision inputs skip it too.
  if (json.compare(0, 3, "\xEF\xBB\xBF") == 0) json.erase(0, 3);
  if (json.find('\0') != std::string::npos) {
    ctx.Error("tg_data_error", at, "data file `" + d.file + "` contains a NUL byte",
              "a data file is UTF-8 JSON text: remove the NUL byte or write it as \\u0000 in a string");
    return;
  }

  if (size_t bad = FindLoneSurrogateEscape(json); bad != std::string::npos) {
    ctx.Error("tg_data_error", at,
              "data file `" + d.file + "` has a lone surrogate escape at byte " + std::to_string(bad),
              "a `\\uDC00`..`\\uDFFF` escape must follow a `\\uD800`..`\\uDBFF` one");
    return;
  }
  Builder b;
  b.max_depth = ctx.options.limits.max_nesting_depth + 1;
  rapidjson::Reader reader;
  // A MemoryStream, bounded by the text's size: rapidjson 1.1's UTF-8
  // validation takes a multi-byte character's continuation bytes without
  // looking for the end, so a NUL-terminated StringStream is read up to
  // three bytes past its terminator when the text ends inside a character
  // (fuzz_loaders found it); at a MemoryStream's end Take() gives 0 and the
  // character is refused.
  rapidjson::MemoryStream ss(json.data(), json.size());
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseValidateEncodingFlag;
  rapidjson::ParseResult ok = reader.Parse<kFlags>(ss, b);
  if (!ok) {
    std::string msg, help;
    if (b.too_deep) {
      msg = "nests deeper than " + std::to_string(ctx.options.limits.max_nesting_depth) + " levels";
      help = "flatten the document, or raise Limits::max_nesting_depth";
    } else if (!b.dup_key.empty()) {
      msg = "duplicate key `" + b.dup_key + "`";
      help = "keep one entry for `" + b.dup_key + "` in that object";
    } else {
      help = "fix the JSON syntax near byte " + std::to_string(ok.Offset()) +
             " (a JSON validator such as `jq . " + d.file + "` shows the spot)";
      std::string what = rapidjson::GetParseError_En(ok.Code());
      if (!what.empty() && what.back() == '.') what.pop_back();
      if (!what.empty()) what[0] = static_cast<char>(tolower(static_cast<unsigned char>(what[0])));
      msg = "invalid JSON at byte " + std::to_string(ok.Offset()) + ": " + what;
    }
    ctx.Error("tg_data_error", at, "data file `" + d.file + "`: " + msg, help);
    return;
  }
  Converter conv(ctx, d, at);
  Value v;
  if (!conv.Convert(b.root, d.shape, "$", &v)) return;
  d.value = v;
  d.canonical_json = ToJson(v);
  ctx.data_ok[index] = true;
}

}  // namespace

bool Data(Context& ctx) {
  int before = ctx.errors;
  for (size_t i = 0; i < ctx.policy->data.size(); ++i) LoadOne(ctx, i);
  return ctx.errors == before;
}

}  // namespace tollgate::check
