// Runtime values: what constants, data documents, decoded requests and the VM
// operate on.
//
// A Value is 16 bytes: a Kind tag and a payload. Strings and containers are
// not owned by the Value; they point into an Arena (the compiled program's
// arena for constants and data documents, the decoded request's arena for
// request fields). An Arena outlives every Value that points into it.
//
//   Arena arena;
//   Value s = arena.String("gpt-4o");
//   Value set = arena.MakeSet({arena.String("DE"), arena.String("FR")});
//   bool in = SetContains(set, s);
//
// Thread safety: Values and the objects they point to are immutable once
// built, so any number of threads may read them. An Arena is not thread-safe
// while it is being filled.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/core/str_table.h"
#include "engine/core/types.h"

namespace tollgate {

struct SetObject;
struct ListObject;
struct MapObject;
struct RecordObject;

struct Value {
  Kind kind = Kind::kNull;
  uint32_t size = 0;  // byte length of a string
  union {
    bool b;
    int64_t i;  // int, decimal/money micros, duration ms, time ms
    const char* str;
    const SetObject* set;
    const ListObject* list;
    const MapObject* map;
    const RecordObject* rec;
  };

  Value() : i(0) {}
  static Value Null() { return Value(); }
  static Value Bool(bool v) { Value x; x.kind = Kind::kBool; x.b = v; return x; }
  static Value Int(int64_t v) { return Scalar(Kind::kInt, v); }
  static Value Decimal(int64_t micros) { return Scalar(Kind::kDecimal, micros); }
  static Value Money(int64_t micros) { return Scalar(Kind::kMoney, micros); }
  static Value Duration(int64_t ms) { return Scalar(Kind::kDuration, ms); }
  static Value Time(int64_t unix_ms) { return Scalar(Kind::kTime, unix_ms); }
  static Value Scalar(Kind k, int64_t v) { Value x; x.kind = k; x.i = v; return x; }
  // The bytes must outlive the Value (normally they live in an Arena).
  static Value StringRef(std::string_view s) {
    Value x; x.kind = Kind::kString; x.str = s.data(); x.size = static_cast<uint32_t>(s.size());
    return x;
  }

  bool is_null() const { return kind == Kind::kNull; }
  std::string_view sv() const { return {str, size}; }
};
static_assert(sizeof(Value) == 16, "Value must stay two words");

struct SvHash {
  size_t operator()(std::string_view s) const noexcept;
};

// (SameBytes: engine/core/str_table.h.)
// std::equal_to<std::string_view> with SameBytes.
struct SvEq {
  bool operator()(std::string_view a, std::string_view b) const noexcept {
    return a.size() == b.size() && SameBytes(a.data(), b.data(), a.size());
  }
};

// Sets of at most this many elements are searched by bisection, not hashing.
inline constexpr size_t kSmallSetMax = 8;

// INVARIANT: `items` is sorted by Compare() and free of duplicates; a set of
// more than kSmallSetMax strings also has every element in `strings` for O(1)
// membership (smaller sets leave `strings` empty).
struct SetObject {
  Kind elem = Kind::kString;
  std::vector<Value> items;
  StrTable<uint8_t> strings;
};

struct ListObject {
  std::vector<Value> items;
};

// INVARIANT: `keys` is sorted and free of duplicates; values[i] is the value
// of keys[i]; `index` maps every key to its value in `values` (what MapFind
// reads).
struct MapObject {
  std::vector<std::string_view> keys;
  std::vector<Value> values;
  StrTable<const Value*> index;
};

// Fields by their index in the record's Type; an absent optional field is Null.
struct RecordObject {
  std::vector<Value> fields;
};

// Owns strings and containers. Not copyable; pointers into it stay valid
// until it is destroyed or Reset().
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  Value String(std::string_view s);
  // Sorts and de-duplicates `items` (all must share one scalar kind).
  Value MakeSet(std::vector<Value> items);
  Value MakeList(std::vector<Value> items);
  // Later duplicates of a key replace earlier ones.
  Value MakeMap(std::vector<std::pair<std::string_view, Value>> entries);
  Value MakeRecord(std::vector<Value> fields);
  // Deep copy of `v` (from another arena) into this arena.
  Value Clone(const Value& v);
  // An empty vector, with capacity left over from before the last Reset()
  // when there is some: build the items of MakeSet/MakeList/MakeRecord in it
  // so that a reused arena (one per worker) does not allocate.
  std::vector<Value> TakeVector();
  // Forgets everything. The buffers of strings and containers are kept (up
  // to kMaxSpare of each, of at most kMaxSpareBytes each) and handed out
  // again by String() and TakeVector(). Never throws.
  void Reset() noexcept;

  static constexpr size_t kMaxSpare = 256;
  static constexpr size_t kMaxSpareBytes = 64 * 1024;

 private:
  void Spare(std::vector<Value>&& v);

  std::vector<std::vector<Value>> spare_vectors_;
  std::vector<std::string> spare_strings_;
  std::deque<std::string> strings_;
  std::deque<SetObject> sets_;
  std::deque<ListObject> lists_;
  std::deque<MapObject> maps_;
  std::deque<RecordObject> records_;
};

// Structural equality. int and decimal compare by numeric value
// (Int(2) == Decimal(2000000)); other kinds must match exactly.
bool Equal(const Value& a, const Value& b);
// Total order within a kind (numbers across int/decimal); returns <0, 0, >0.
// Kinds that differ otherwise order by Kind.
int Compare(const Value& a, const Value& b);
size_t Hash(const Value& v);

bool SetContains(const Value& set, const Value& elem);
// Map lookup; nullptr when absent.
const Value* MapFind(const Value& map, std::string_view key);
// The same for a string whose StringHash is known (computed once, used for
// several lookups).
bool SetContainsString(const Value& set, std::string_view s, size_t hash);
const Value* MapFind(const Value& map, std::string_view key, size_t hash);

// Canonical JSON rendering used in decisions and test output: money and
// decimal as JSON strings of exact decimals ("2.5"), durations as "30000ms",
// times as RFC 3339 UTC strings, sets and map keys in sorted order.
std::string ToJson(const Value& v);
// ToJson with the value's static type: records (at any depth) render as
// objects with their field names in type order ({"role":"user",
// "content":"hi"}), absent optional fields omitted. A value whose kind does
// not match `type` (or type `any`) renders as ToJson(v). Used by traces.
std::string ToJson(const Value& v, const Type& type);
// Human rendering for messages: strings quoted, money as "2.50 usd".
std::string ToDisplay(const Value& v);

// Decimal value of an int or decimal Value, in micros.
inline int64_t AsMicros(const Value& v) {
  return v.kind == Kind::kInt ? v.i * 1000000 : v.i;
}

// RFC 3339 (UTC "Z" or numeric offset) <-> Unix ms.
bool ParseRfc3339(std::string_view text, int64_t* unix_ms);
std::string FormatRfc3339(int64_t unix_ms);

// A duration written as the language writes it: digits and one unit of ms,
// s, m, h, d, w ("90000ms", "90s"; a day is 24 h). The decision JSON renders
// a duration "<n>ms"; data documents and decision inputs take this form (or
// integer milliseconds) back. nullopt when malformed or past int64 ms.
std::optional<int64_t> ParseDuration(std::string_view text);

}  // namespace tollgate
