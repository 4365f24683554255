// Checks on raw JSON text that Debian's rapidjson (1.1) does not make.
//
// rapidjson decodes a `\uDC00`..`\uDFFF` escape that follows no high
// surrogate into the three bytes of a UTF-16 surrogate, which are not UTF-8:
// a value read from such a document would later be written out as invalid
// UTF-8. Every JSON document tollgate reads (decision inputs, data
// documents, schema, catalog, accounts) is checked with this first.
//
//   if (size_t at = FindLoneSurrogateEscape(json); at != std::string_view::npos)
//     return Error("lone surrogate escape at byte " + std::to_string(at));
//
// Cost: one memchr pass for backslashes; O(size). Thread safety: pure.
//
// rapidjson also keeps every copy of a repeated member name, and FindMember
// returns the first, while jq and Python keep the last: a file with
// `"jurisdiction": "DE", "jurisdiction": "US"` means one thing to a reader
// and another to tollgate. Every configuration file tollgate loads (catalog,
// accounts, keys, gateway config, schema extensions) is refused when
// FindDuplicateKey finds one (decision inputs and data documents have their
// own checks, in the decoder and the data reader):
//
//   if (DuplicateKey dup; FindDuplicateKey(doc, &dup)) return Error(dup.Message());
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tollgate {

// Offset of the first `\u` escape of a low surrogate (DC00-DFFF) that does not
// directly follow a high-surrogate escape, or npos. (A high surrogate without
// its low half is already a rapidjson parse error.)
size_t FindLoneSurrogateEscape(std::string_view json);

// rapidjson refuses a number beyond double range (kParseErrorNumberTooBig,
// reported at the number's first byte) even when it keeps numbers as text
// (kParseNumbersAsStringsFlag), although such a number is valid JSON. The
// readers that keep number text (the decision-input decoder, the redactor)
// parse a copy in which each such number is masked by a same-length
// placeholder, then put the original text back (an in-situ parse keeps a
// number's pointer and length and writes nothing over it).
//
// Masks the number that starts at byte `at` of `text` with `0.000...` of
// the same length and returns that length; 0 when there is no number of at
// least 3 bytes there (the shortest number beyond range, `1e309`, has 5).
size_t MaskNumberAt(char* text, size_t size, size_t at);
// How many numbers beyond double range a document may hold: each one costs
// the reader a parse of the whole document.
inline constexpr size_t kMaxHugeNumbers = 16;

// A step of a JSON path: a member name, or an array index (index >= 0).
struct JsonPathStep {
  std::string_view name;
  int64_t index = -1;
};
// `endpoints[3].jurisdiction`: names joined by dots, indexes in brackets (as
// the decoder renders its paths). Each name is shown as RenderJsonName does.
std::string RenderJsonPath(const std::vector<JsonPathStep>& steps);
// A member name for a one-line message: control characters as `\u00XX`,
// cut to 64 bytes (at a UTF-8 boundary) with `...` after.
std::string RenderJsonName(std::string_view name);

// The first member name that an object repeats.
struct DuplicateKey {
  std::string key;   // RenderJsonName of the name
  std::string path;  // RenderJsonPath of its second copy
  // "duplicate key `zdr` at `workspaces.w.zdr`" (lowercase, one line).
  std::string Message() const;
};

// True, with *out, when an object anywhere in `doc` (a rapidjson Document or
// Value) names a member twice. Names are compared as decoded (`"a"` and
// `"\u0061"` are one name). Objects are checked before their members,
// members in document order: the result is the first duplicate a reader of
// the text meets. Iterative (no recursion, any depth). Cost: O(members), with one
// hash set for objects of more than 16 members. Thread safety: pure.
template <typename Doc>
bool FindDuplicateKey(const Doc& doc, DuplicateKey* out) {
  using Value = typename Doc::ValueType;  // a Document's or a Value's GenericValue
  const Value& root = doc;
  auto name_of = [](const auto& member) {
    return std::string_view(member.name.GetString(), member.name.GetStringLength());
  };
  std::unordered_set<std::string_view> seen;
  // Index of the first member of `obj` whose name an earlier member has, or -1.
  auto repeated = [&](const Value& obj) -> int64_t {
    const size_t n = obj.MemberCount();
    if (n < 2) return -1;
    auto b = obj.MemberBegin();
    if (n <= 16) {
      for (size_t i = 1; i < n; ++i)
        for (size_t j = 0; j < i; ++j)
          if (name_of(*(b + i)) == name_of(*(b + j))) return static_cast<int64_t>(i);
      return -1;
    }
    seen.clear();
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (!seen.insert(name_of(*(b + i))).second) return static_cast<int64_t>(i);
    return -1;
  };
  std::vector<JsonPathStep> path;  // path[i] leads from stack[i] to stack[i + 1]
  auto found = [&](const Value& obj, int64_t at) {
    std::string_view name = name_of(*(obj.MemberBegin() + at));
    path.push_back({name, -1});
    out->key = RenderJsonName(name);
    out->path = RenderJsonPath(path);
    return true;
  };
  if (root.IsObject())
    if (int64_t at = repeated(root); at >= 0) return found(root, at);
  struct Frame {
    const Value* v;
    size_t next;
  };
  std::vector<Frame> stack{{&root, 0}};
  while (!stack.empty()) {
    Frame& f = stack.back();
    const Value& v = *f.v;
    const Value* kid = nullptr;
    JsonPathStep step;
    if (v.IsObject() && f.next < v.MemberCount()) {
      auto m = v.MemberBegin() + f.next;
      kid = &m->value;
      step.name = name_of(*m);
    } else if (v.IsArray() && f.next < v.Size()) {
      kid = &v[static_cast<decltype(v.Size())>(f.next)];
      step.index = static_cast<int64_t>(f.next);
    }
    if (kid == nullptr) {  // done with v
      stack.pop_back();
      if (!path.empty()) path.pop_back();
      continue;
    }
    ++f.next;
    if (!kid->IsObject() && !kid->IsArray()) continue;
    path.push_back(step);
    if (kid->IsObject())
      if (int64_t at = repeated(*kid); at >= 0) return found(*kid, at);
    stack.push_back({kid, 0});
  }
  return false;
}

}  // namespace tollgate
