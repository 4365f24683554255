// The static types of the policy language.
//
//   bool  int  decimal  money  string  duration  time
//   set<T>  list<T>  map<T>  (string keys)  {field: T, opt?: T}  (records)
//
// `pattern` is the type of a regular expression or content detector used on
// the right of `matches` and in `redact`; `any` is used only for error
// recovery in the checker (it unifies with everything, so one mistake yields
// one diagnostic). Types are small immutable values, cheap to copy.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

// Byte equality of two short names (field and member names) without a
// library call: on the request path a memcmp call costs more than the
// comparison itself. Any length is handled; long texts use memcmp.
// The bytes of two names of length n (SameName's second half).
inline bool SameNameBytes(const char* a, const char* b, size_t n) {
  if (n > 16) return std::memcmp(a, b, n) == 0;
  if (n >= 8) {
    uint64_t a0, b0, a1, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + n - 8, 8);
    std::memcpy(&b1, b + n - 8, 8);
    return a0 == b0 && a1 == b1;
  }
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return false;
  return true;
}
// The length test always inline: most lookups fail on it (the compiler
// called SameName out of line in the decoder's member lookups).
[[gnu::always_inline]] inline bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && SameNameBytes(a.data(), b.data(), a.size());
}

enum class Kind : uint8_t {
  kNull,      // also the runtime value of an absent optional field
  kBool,
  kInt,       // int64
  kDecimal,   // fixed point, micro-units (value * 1e6) in int64
  kMoney,     // USD, micro-units in int64; never binary floating point
  kString,    // UTF-8 bytes
  kDuration,  // milliseconds, int64
  kTime,      // Unix time in milliseconds (UTC), int64
  kSet,       // set<string> or set<int>
  kList,
  kMap,       // map<string, T>
  kRecord,
  kPattern,   // a regex or detector (static only)
  kAny,       // error recovery (static only)
};

const char* KindName(Kind k);

struct RecordField;

class Type {
 public:
  Type() : kind_(Kind::kAny) {}
  explicit Type(Kind k) : kind_(k) {}

  static Type Set(Type elem);
  static Type List(Type elem);
  static Type Map(Type value);
  static Type Record(std::vector<RecordField> fields);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  // Element type of set/list, value type of map; `any` otherwise.
  const Type& elem() const;
  // Fields of a record type (empty for other kinds), in declaration order.
  const std::vector<RecordField>& fields() const;
  // Index of a record field, or -1.
  int FieldIndex(std::string_view name) const;

  bool IsNumeric() const { return kind_ == Kind::kInt || kind_ == Kind::kDecimal; }
  bool IsContainer() const {
    return kind_ == Kind::kSet || kind_ == Kind::kList || kind_ == Kind::kMap;
  }
  // True when a value of type `other` may be used where `this` is expected
  // (equal types; int where decimal is expected; anything against `any`;
  // a record with every required field against a record type).
  bool Accepts(const Type& other) const;

  // "set<string>", "{name: string, zdr?: bool}". Shortened for messages:
  // parts nested deeper than kMaxShownDepth print as `...`, and the text is
  // cut at kMaxShownChars (ending in `...`). Costs O(shown text), whatever
  // the type's size.
  std::string ToString() const;
  static constexpr int kMaxShownDepth = 12;
  static constexpr size_t kMaxShownChars = 240;
  // Container/record nesting: 0 for scalars, 1 for set<int>, 2 for
  // list<{a: int}>. Kept in the type (O(1)); the checker bounds it by
  // Limits::max_nesting_depth, so recursion over types and values is bounded.
  uint32_t depth() const { return depth_; }
  bool operator==(const Type& o) const;
  bool operator!=(const Type& o) const { return !(*this == o); }

 private:
  void Render(std::string* out, int depth) const;

  Kind kind_;
  uint32_t depth_ = 0;
  std::shared_ptr<const Type> elem_;
  std::shared_ptr<const std::vector<RecordField>> fields_;
};

struct RecordField {
  std::string name;
  Type type;
  bool optional = false;
};

// Parses a type written in schema files ("string", "set<string>",
// "list<{role: string, content: string}>", "money"). Returns false and sets
// *error on failure.
bool ParseTypeString(std::string_view text, Type* out, std::string* error);

}  // namespace tollgate
