// The schema of the decision input: every field a policy may read, its type,
// its scope and whether it must be present.
//
// The standard schema ships as data in stdlib/schema.json (embedded at build
// time); a deployment extends it with its own JSON file of the same shape:
//
//   {"fields": [{"path": "principal.department", "type": "string",
//                "scope": "request", "required": false, "clock": false,
//                (an int field may give "default": 1)
//                "description": "the caller's cost centre"}]}
//
// Request-scoped fields describe the request (principal.*, request.*,
// context.*); candidate-scoped fields describe one candidate endpoint
// (provider.*, endpoint.*) and may only be read by `require`.
// Each field has a slot: its index among the fields of its scope. Compiled
// programs address fields by slot, never by name.
//
// Thread safety: immutable after construction/extension; share freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/types.h"

namespace tollgate::stdlib {

struct FieldDef {
  std::string path;         // "request.model"
  Type type;
  ast::Scope scope = ast::Scope::kRequest;
  bool required = false;    // decoding fails when absent
  bool derived = false;     // computed by the decoder (e.g. request.content)
  bool clock = false;       // a time the decoder fills from its clock when absent (context.time)
  // `"default": 1`: the integer the decoder fills when the field is absent
  // or null (request.n). Request-scoped `int` fields only.
  bool has_default = false;
  int64_t default_int = 0;
  std::string description;
  int slot = -1;            // index within its scope

  // True when a decoded input always has a value here: required, derived,
  // clock-filled or defaulted fields, and sets and lists (absent ones read
  // as empty). Any other field is optional: the checker makes policies guard it.
  bool AlwaysPresent() const {
    return required || derived || clock || has_default || type.is(Kind::kSet) ||
           type.is(Kind::kList);
  }
};

class Schema {
 public:
  // The standard schema (stdlib/schema.json). Never fails: the build embeds
  // a file that the tests check.
  static const Schema& Standard();

  // Parses a schema document (format above). Every field needs `path`,
  // `type` and `scope`; `required`, `derived`, `clock`, `default` (an
  // integer, request-scoped `int` fields only) and `description` are optional;
  // unknown members are rejected. Paths are dotted identifiers with at least
  // two segments. Returns false with *error set (lowercase, one line) on
  // malformed input, a member name repeated in an object ("duplicate key
  // `type` at `fields[0].type`"), a bad type or scope, a duplicate path, or a
  // path that is a prefix of another field (either way round). All or nothing: on failure
  // the schema is unchanged. New fields take the next slots of their scope.
  bool AddFromJson(std::string_view json, std::string* error);
  bool Add(FieldDef field, std::string* error);
  // Like AddFromJson, but a field this schema already has with the same
  // type, scope, `required` and `derived` is accepted and skipped (the same
  // extension given twice: in a policy's `schema` header and by --schema, or
  // by two files of one policy). A field declared differently is an error
  // ("field `x` is already declared as `string`, not `int`").
  bool MergeFromJson(std::string_view json, std::string* error);

  // Field id by exact path, or -1.
  int Find(std::string_view path) const;
  // True when `prefix` is a proper dotted prefix of some field path
  // ("request" or "request.provider").
  bool IsPrefix(std::string_view prefix) const;

  const FieldDef& field(int id) const { return fields_[id]; }
  const std::vector<FieldDef>& fields() const { return fields_; }
  int slot_count(ast::Scope s) const { return s == ast::Scope::kRequest ? n_request_ : n_candidate_; }
  // Field id of the slot in a scope, or -1 when out of range.
  int FieldOfSlot(ast::Scope s, int slot) const;
  // Every field path, in field-id order (the order of addition).
  std::vector<std::string> Paths() const;

  // Identifies this schema's current contents: unique per process and
  // changed by every successful Add, so caches keyed on it (the decoder's
  // per-schema plan) never see a stale schema. Cost: O(1).
  uint64_t id() const { return id_; }

 private:
  bool AddFromJsonUnguarded(std::string_view json, std::string* error);
  uint64_t id_ = NextId();
  static uint64_t NextId();
  std::vector<FieldDef> fields_;
  std::unordered_map<std::string, int> by_path_;
  std::unordered_map<std::string, int> prefixes_;
  std::vector<int> request_slots_, candidate_slots_;
  int n_request_ = 0, n_candidate_ = 0;
};

}  // namespace tollgate::stdlib
