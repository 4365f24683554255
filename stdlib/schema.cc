// The decision-input schema: loading (rapidjson), validation, slots.
#include "stdlib/schema.h"

#include <atomic>

#include <cstdio>
#include <cstdlib>
#include <new>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "engine/core/json_text.h"

namespace tollgate::stdlib {

extern const char kStandardSchemaJson[];

namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// "a.b.c": dotted identifiers, at least two segments.
bool ValidPath(std::string_view path) {
  int segments = 0;
  size_t i = 0;
  while (i <= path.size()) {
    if (i == path.size() || !IsIdentStart(path[i])) return false;
    ++i;
    while (i < path.size() && IsIdentChar(path[i])) ++i;
    ++segments;
    if (i == path.size()) break;
    if (path[i] != '.') return false;
    ++i;
  }
  return segments >= 2;
}

std::string Quote(std::string_view s) {
  std::string q;  // appended piecewise: GCC 12 -Wrestrict misfires on "`" + string
  q.reserve(s.size() + 2);
  q.push_back('`');
  q.append(s);
  q.push_back('`');
  return q;
}

}  // namespace

uint64_t Schema::NextId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

const Schema& Schema::Standard() {
  static const Schema* standard = [] {
    auto* s = new Schema();
    std::string error;
    if (!s->AddFromJson(kStandardSchemaJson, &error)) {
      // The build embeds stdlib/schema.json and tests/stdlib checks it, so
      // this is a build defect, not a user error.
      std::fprintf(stderr, "tollgate: the embedded standard schema is invalid: %s\n",
                   error.c_str());
      std::abort();
    }
    return s;
  }();
  return *standard;
}

bool Schema::AddFromJsonUnguarded(std::string_view json, std::string* error) {
  if (size_t bad = FindLoneSurrogateEscape(json); bad != std::string_view::npos) {
    *error = "invalid schema json: lone surrogate escape at byte " + std::to_string(bad);
    return false;
  }
  rapidjson::Document doc;
  // Iterative: a deeply nested document must not recurse on the C++ stack.
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json.data(),
                                                                                   json.size());
  if (doc.HasParseError()) {
    *error = "invalid schema json at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
             rapidjson::GetParseError_En(doc.GetParseError());
    // GetParseError_En ends with a period; keep messages period-free.
    if (!error->empty() && error->back() == '.') error->pop_back();
    for (char& c : *error) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return false;
  }
  if (DuplicateKey dup; FindDuplicateKey(doc, &dup)) {  // FindMember would read the first copy
    *error = dup.Message();
    return false;
  }
  if (!doc.IsObject()) {
    *error = "a schema document must be a json object with a `fields` array";
    return false;
  }
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    std::string_view key(m->name.GetString(), m->name.GetStringLength());
    if (key != "fields" && key != "description") {
      *error = "unknown schema member " + Quote(key);
      return false;
    }
  }
  auto fields = doc.FindMember("fields");
  if (fields == doc.MemberEnd() || !fields->value.IsArray()) {
    *error = "a schema document must be a json object with a `fields` array";
    return false;
  }

  // Add into a copy so that a failing document leaves this schema unchanged.
  Schema next = *this;
  int index = 0;
  for (const auto& f : fields->value.GetArray()) {
    std::string where = "field " + std::to_string(index++);
    if (!f.IsObject()) {
      *error = where + ": expected a json object";
      return false;
    }
    FieldDef def;
    bool has_path = false, has_type = false, has_scope = false;
    for (auto m = f.MemberBegin(); m != f.MemberEnd(); ++m) {
      std::string_view key(m->name.GetString(), m->name.GetStringLength());
      const auto& v = m->value;
      if (key == "path" || key == "type" || key == "scope" || key == "description") {
        if (!v.IsString()) {
          *error = where + ": " + Quote(key) + " must be a string";
          return false;
        }
        std::string_view s(v.GetString(), v.GetStringLength());
        if (key == "path") {
          def.path = std::string(s);
          has_path = true;
          where = "field " + Quote(s);
        } else if (key == "type") {
          std::string type_error;
          if (!ParseTypeString(s, &def.type, &type_error)) {
            *error = where + ": bad type " + Quote(s) + ": " + type_error;
            return false;
          }
          has_type = true;
        } else if (key == "scope") {
          if (s == "request") {
            def.scope = ast::Scope::kRequest;
          } else if (s == "candidate") {
            def.scope = ast::Scope::kCandidate;
          } else {
            *error = where + ": scope must be `request` or `candidate`, not " + Quote(s);
            return false;
          }
          has_scope = true;
        } else {
          def.description = std::string(s);
        }
      } else if (key == "required" || key == "derived" || key == "clock") {
        if (!v.IsBool()) {
          *error = where + ": " + Quote(key) + " must be true or false";
          return false;
        }
        (key == "required" ? def.required : key == "derived" ? def.derived : def.clock) = v.GetBool();
      } else if (key == "default") {
        if (!v.IsInt64()) {
          *error = where + ": `default` must be an integer";
          return false;
        }
        def.has_default = true;
        def.default_int = v.GetInt64();
      } else {
        *error = where + ": unknown member " + Quote(key);
        return false;
      }
    }
    if (!has_path || !has_type || !has_scope) {
      *error = where + ": missing " + (!has_path ? "`path`" : !has_type ? "`type`" : "`scope`");
      return false;
    }
    if (def.clock && (!def.type.is(Kind::kTime) || def.scope != ast::Scope::kRequest)) {
      *error = where + ": only a request-scoped `time` field can be filled from the clock";
      return false;
    }
    if (def.has_default && (!def.type.is(Kind::kInt) || def.scope != ast::Scope::kRequest ||
                            def.required || def.derived)) {
      *error = where + ": only an optional request-scoped `int` field can have a `default`";
      return false;
    }
    if (!next.Add(std::move(def), error)) return false;
  }
  *this = std::move(next);
  return true;
}

bool Schema::AddFromJson(std::string_view json, std::string* error) {
  try {  // no exception leaves the schema: memory running out is a refusal
    return AddFromJsonUnguarded(json, error);
  } catch (const std::bad_alloc&) {
    *error = "out of memory while reading the schema";
    return false;
  }
}

bool Schema::MergeFromJson(std::string_view json, std::string* error) {
  Schema ext;
  if (!ext.AddFromJson(json, error)) return false;
  Schema merged = *this;
  for (const FieldDef& f : ext.fields()) {
    int id = merged.Find(f.path);
    if (id >= 0) {
      const FieldDef& have = merged.field(id);
      if (have.type == f.type && have.scope == f.scope && have.required == f.required &&
          have.derived == f.derived && have.has_default == f.has_default &&
          have.default_int == f.default_int)
        continue;
      std::string what = have.type.ToString() + (have.scope == ast::Scope::kRequest ? " request" : " candidate") +
                         (have.required ? " required" : "") + " field";
      std::string now = f.type.ToString() + (f.scope == ast::Scope::kRequest ? " request" : " candidate") +
                        (f.required ? " required" : "") + " field";
      *error = "field " + Quote(f.path) + " is already declared as a " + what + ", not a " + now;
      return false;
    }
    FieldDef copy = f;
    copy.slot = -1;
    if (!merged.Add(std::move(copy), error)) return false;
  }
  *this = std::move(merged);
  id_ = NextId();
  return true;
}

bool Schema::Add(FieldDef field, std::string* error) {
  const std::string& path = field.path;
  if (!ValidPath(path)) {
    *error = "bad field path " + Quote(path) +
             ": expected dotted identifiers with at least two segments";
    return false;
  }
  if (field.type.is(Kind::kAny) || field.type.is(Kind::kPattern) || field.type.is(Kind::kNull)) {
    *error = "field " + Quote(path) + " has a type that input cannot carry";
    return false;
  }
  if (by_path_.count(path)) {
    *error = "duplicate field " + Quote(path);
    return false;
  }
  if (prefixes_.count(path)) {
    *error = "field " + Quote(path) + " is a prefix of another field";
    return false;
  }
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
    std::string prefix = path.substr(0, dot);
    if (by_path_.count(prefix)) {
      *error = "field " + Quote(prefix) + " is a prefix of field " + Quote(path);
      return false;
    }
  }
  // INVARIANT: prefixes_ counts, for every proper dotted prefix, the fields below it.
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
    ++prefixes_[path.substr(0, dot)];
  }
  int id = static_cast<int>(fields_.size());
  if (field.scope == ast::Scope::kRequest) {
    field.slot = n_request_++;
    request_slots_.push_back(id);
  } else {
    field.slot = n_candidate_++;
    candidate_slots_.push_back(id);
  }
  by_path_.emplace(path, id);
  fields_.push_back(std::move(field));
  id_ = NextId();
  return true;
}

int Schema::Find(std::string_view path) const {
  auto it = by_path_.find(std::string(path));
  return it == by_path_.end() ? -1 : it->second;
}

bool Schema::IsPrefix(std::string_view prefix) const {
  return prefixes_.count(std::string(prefix)) > 0;
}

int Schema::FieldOfSlot(ast::Scope s, int slot) const {
  const auto& slots = s == ast::Scope::kRequest ? request_slots_ : candidate_slots_;
  if (slot < 0 || slot >= static_cast<int>(slots.size())) return -1;
  return slots[slot];
}

std::vector<std::string> Schema::Paths() const {
  std::vector<std::string> out;
  out.reserve(fields_.size());
  for (const auto& f : fields_) out.push_back(f.path);
  return out;
}

}  // namespace tollgate::stdlib
