// Runtime values: arena construction, ordering, hashing and rendering.
#include "engine/core/value.h"

#include "engine/core/civil.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <limits>
#include <new>

#include "engine/core/money.h"

namespace tollgate {

size_t SvHash::operator()(std::string_view s) const noexcept {
  return std::hash<std::string_view>()(s);
}

namespace {

// std::string_view::compare's order (bytes as unsigned char, then length),
// as -1 / 0 / 1, without a memcmp call: set elements are short words.
inline int StringOrder(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; i < n; ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

}  // namespace

// ---------------------------------------------------------------- Arena

namespace {

// A container Value of `kind` with `n` elements; the caller sets the pointer.
Value Container(Kind kind, size_t n) {
  Value v;
  v.kind = kind;
  v.size = static_cast<uint32_t>(n);
  return v;
}

}  // namespace

Value Arena::String(std::string_view s) {
  // INVARIANT: deque::emplace_back never moves existing elements, so the
  // bytes of earlier strings (including small-string buffers) stay put.
  if (!spare_strings_.empty()) {
    std::string& buf = strings_.emplace_back(std::move(spare_strings_.back()));
    spare_strings_.pop_back();
    buf.assign(s.data(), s.size());
  } else {
    strings_.emplace_back(s);
  }
  return Value::StringRef(strings_.back());
}

Value Arena::MakeSet(std::vector<Value> items) {
  // Sets of strings (most of them) in Compare's order, without its kind checks.
  const bool strings = std::all_of(items.begin(), items.end(),
                                   [](const Value& v) { return v.kind == Kind::kString; });
  if (strings) {
    std::sort(items.begin(), items.end(),
              [](const Value& a, const Value& b) { return StringOrder(a.sv(), b.sv()) < 0; });
    items.erase(std::unique(items.begin(), items.end(),
                            [](const Value& a, const Value& b) {
                              return a.size == b.size && StringOrder(a.sv(), b.sv()) == 0;
                            }),
                items.end());
  } else {
    std::sort(items.begin(), items.end(),
              [](const Value& a, const Value& b) { return Compare(a, b) < 0; });
    items.erase(std::unique(items.begin(), items.end(),
                            [](const Value& a, const Value& b) { return Compare(a, b) == 0; }),
                items.end());
  }
  SetObject& s = sets_.emplace_back();
  s.elem = items.empty() ? Kind::kString : items.front().kind;
  s.items = std::move(items);
  // Small sets (most request sets: groups, tags) are searched by bisection;
  // building a hash table for them would cost more than it saves.
  if (s.elem == Kind::kString && s.items.size() > kSmallSetMax) {
    std::vector<std::pair<std::string_view, uint8_t>> keys;
    keys.reserve(s.items.size());
    for (const Value& v : s.items) keys.emplace_back(v.sv(), 1);
    s.strings.Build(keys);
  }
  Value v = Container(Kind::kSet, s.items.size());
  v.set = &s;
  return v;
}

Value Arena::MakeList(std::vector<Value> items) {
  ListObject& l = lists_.emplace_back();
  l.items = std::move(items);
  Value v = Container(Kind::kList, l.items.size());
  v.list = &l;
  return v;
}

Value Arena::MakeMap(std::vector<std::pair<std::string_view, Value>> entries) {
  MapObject& m = maps_.emplace_back();
  // By key, and for equal keys in the caller's order: the last of each run
  // is kept (later duplicates replace earlier ones).
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  m.keys.reserve(entries.size());
  m.values.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + 1 < entries.size() && entries[i + 1].first == entries[i].first) continue;
    // Keys are copied so the map never points at the caller's storage.
    m.keys.push_back(String(entries[i].first).sv());
    m.values.push_back(entries[i].second);
  }
  std::vector<std::pair<std::string_view, const Value*>> index;
  index.reserve(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) index.emplace_back(m.keys[i], &m.values[i]);
  m.index.Build(index);
  Value v = Container(Kind::kMap, m.keys.size());
  v.map = &m;
  return v;
}

Value Arena::MakeRecord(std::vector<Value> fields) {
  RecordObject& r = records_.emplace_back();
  r.fields = std::move(fields);
  Value v = Container(Kind::kRecord, r.fields.size());
  v.rec = &r;
  return v;
}

Value Arena::Clone(const Value& v) {
  switch (v.kind) {
    case Kind::kString:
      return String(v.sv());
    case Kind::kSet: {
      std::vector<Value> items = TakeVector();
      items.reserve(v.set->items.size());
      for (const Value& e : v.set->items) items.push_back(Clone(e));
      return MakeSet(std::move(items));
    }
    case Kind::kList: {
      std::vector<Value> items = TakeVector();
      items.reserve(v.list->items.size());
      for (const Value& e : v.list->items) items.push_back(Clone(e));
      return MakeList(std::move(items));
    }
    case Kind::kMap: {
      std::vector<std::pair<std::string_view, Value>> entries;
      entries.reserve(v.map->keys.size());
      for (size_t i = 0; i < v.map->keys.size(); ++i) {
        entries.emplace_back(v.map->keys[i], Clone(v.map->values[i]));
      }
      return MakeMap(std::move(entries));
    }
    case Kind::kRecord: {
      std::vector<Value> fields = TakeVector();
      fields.reserve(v.rec->fields.size());
      for (const Value& e : v.rec->fields) fields.push_back(Clone(e));
      return MakeRecord(std::move(fields));
    }
    default:
      return v;
  }
}

std::vector<Value> Arena::TakeVector() {
  if (spare_vectors_.empty()) return {};
  std::vector<Value> v = std::move(spare_vectors_.back());
  spare_vectors_.pop_back();
  v.clear();
  return v;
}

void Arena::Spare(std::vector<Value>&& v) {
  if (v.capacity() == 0 || v.capacity() * sizeof(Value) > kMaxSpareBytes ||
      spare_vectors_.size() >= kMaxSpare)
    return;
  spare_vectors_.push_back(std::move(v));
}

void Arena::Reset() noexcept {
  // Most decisions put nothing in their arena.
  if (strings_.empty() && sets_.empty() && lists_.empty() && maps_.empty() && records_.empty()) return;
  // Keeping spare buffers is an optimisation: when the spare lists cannot
  // grow (std::bad_alloc), the rest is simply freed.
  try {
    for (std::string& str : strings_) {
      // Only heap buffers are worth keeping (short strings live inline).
      if (str.capacity() > 15 && str.capacity() <= kMaxSpareBytes &&
          spare_strings_.size() < kMaxSpare)
        spare_strings_.push_back(std::move(str));
    }
    for (SetObject& o : sets_) Spare(std::move(o.items));
    for (ListObject& o : lists_) Spare(std::move(o.items));
    for (RecordObject& o : records_) Spare(std::move(o.fields));
  } catch (const std::bad_alloc&) {
  }
  strings_.clear();
  sets_.clear();
  lists_.clear();
  maps_.clear();
  records_.clear();
}

// ------------------------------------------------------ equality and order

namespace {

bool IsNumber(Kind k) { return k == Kind::kInt || k == Kind::kDecimal; }

__int128 Micros128(const Value& v) {
  return v.kind == Kind::kInt ? static_cast<__int128>(v.i) * kMicros
                              : static_cast<__int128>(v.i);
}

template <typename T>
int Cmp3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int CompareSeq(const std::vector<Value>& a, const std::vector<Value>& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    int c = Compare(a[i], b[i]);
    if (c != 0) return c;
  }
  return Cmp3(a.size(), b.size());
}

}  // namespace

bool Equal(const Value& a, const Value& b) {
  if (IsNumber(a.kind) && IsNumber(b.kind)) return Micros128(a) == Micros128(b);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kNull: return true;
    case Kind::kBool: return a.b == b.b;
    case Kind::kString: return a.sv() == b.sv();
    case Kind::kSet:
    case Kind::kList:
    case Kind::kMap:
    case Kind::kRecord:
      return Compare(a, b) == 0;
    default:
      return a.i == b.i;
  }
}

int Compare(const Value& a, const Value& b) {
  if (IsNumber(a.kind) && IsNumber(b.kind)) return Cmp3(Micros128(a), Micros128(b));
  if (a.kind != b.kind) return Cmp3(static_cast<int>(a.kind), static_cast<int>(b.kind));
  switch (a.kind) {
    case Kind::kNull: return 0;
    case Kind::kBool: return Cmp3(a.b, b.b);
    case Kind::kString: return StringOrder(a.sv(), b.sv());
    case Kind::kSet: return CompareSeq(a.set->items, b.set->items);
    case Kind::kList: return CompareSeq(a.list->items, b.list->items);
    case Kind::kRecord: return CompareSeq(a.rec->fields, b.rec->fields);
    case Kind::kMap: {
      const auto& ka = a.map->keys;
      const auto& kb = b.map->keys;
      size_t n = std::min(ka.size(), kb.size());
      for (size_t i = 0; i < n; ++i) {
        int c = ka[i].compare(kb[i]);
        if (c != 0) return c < 0 ? -1 : 1;
        c = Compare(a.map->values[i], b.map->values[i]);
        if (c != 0) return c;
      }
      return Cmp3(ka.size(), kb.size());
    }
    default:
      return Cmp3(a.i, b.i);
  }
}

namespace {
size_t Mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }
}  // namespace

size_t Hash(const Value& v) {
  switch (v.kind) {
    case Kind::kNull: return 0x6e756c6cULL;
    case Kind::kBool: return v.b ? 0x74727565ULL : 0x66616c73ULL;
    case Kind::kInt:
    case Kind::kDecimal: {
      // INVARIANT: Equal(Int(2), Decimal(2000000)) so both hash the micro value.
      __int128 m = Micros128(v);
      uint64_t lo = static_cast<uint64_t>(m);
      uint64_t hi = static_cast<uint64_t>(m >> 64);
      return Mix(Mix(0x6e756dULL, std::hash<uint64_t>()(lo)), std::hash<uint64_t>()(hi));
    }
    case Kind::kString: return Mix(static_cast<size_t>(Kind::kString), SvHash()(v.sv()));
    case Kind::kSet:
    case Kind::kList:
    case Kind::kRecord: {
      const std::vector<Value>& items = v.kind == Kind::kSet    ? v.set->items
                                        : v.kind == Kind::kList ? v.list->items
                                                                : v.rec->fields;
      size_t h = static_cast<size_t>(v.kind);
      for (const Value& e : items) h = Mix(h, Hash(e));
      return h;
    }
    case Kind::kMap: {
      size_t h = static_cast<size_t>(Kind::kMap);
      for (size_t i = 0; i < v.map->keys.size(); ++i) {
        h = Mix(h, SvHash()(v.map->keys[i]));
        h = Mix(h, Hash(v.map->values[i]));
      }
      return h;
    }
    default:
      return Mix(static_cast<size_t>(v.kind), std::hash<int64_t>()(v.i));
  }
}

bool SetContains(const Value& set, const Value& elem) {
  if (set.kind != Kind::kSet) return false;
  const SetObject& s = *set.set;
  if (s.elem == Kind::kString && elem.kind == Kind::kString && s.items.size() > kSmallSetMax) {
    return s.strings.Find(elem.sv()) != nullptr;
  }
  if (s.elem == Kind::kString && elem.kind == Kind::kString) {
    // A small string set: a few byte comparisons, no Compare() dispatch.
    // Items are sorted, but at most kSmallSetMax: a scan costs no more.
    std::string_view x = elem.sv();
    for (const Value& e : s.items) {
      if (e.size == x.size() && SameBytes(e.str, x.data(), x.size())) return true;
    }
    return false;
  }
  auto it = std::lower_bound(s.items.begin(), s.items.end(), elem,
                             [](const Value& a, const Value& b) { return Compare(a, b) < 0; });
  return it != s.items.end() && Compare(*it, elem) == 0;
}

const Value* MapFind(const Value& map, std::string_view key) {
  return MapFind(map, key, StringHash(key));
}

const Value* MapFind(const Value& map, std::string_view key, size_t hash) {
  if (map.kind != Kind::kMap) return nullptr;
  const Value* const* v = map.map->index.Find(key, hash);
  return v != nullptr ? *v : nullptr;
}

bool SetContainsString(const Value& set, std::string_view s, size_t hash) {
  if (set.kind != Kind::kSet) return false;
  const SetObject& o = *set.set;
  if (o.elem != Kind::kString) return false;
  if (o.items.size() > kSmallSetMax) return o.strings.Find(s, hash) != nullptr;
  for (const Value& e : o.items) {
    if (e.size == s.size() && SameBytes(e.str, s.data(), s.size())) return true;
  }
  return false;
}

// ------------------------------------------------------------ rendering

namespace {

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJson(std::string* out, const Value& v);

void AppendJsonSeq(std::string* out, const std::vector<Value>& items) {
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out->push_back(',');
    AppendJson(out, items[i]);
  }
  out->push_back(']');
}

void AppendJson(std::string* out, const Value& v) {
  switch (v.kind) {
    case Kind::kNull: *out += "null"; break;
    case Kind::kBool: *out += v.b ? "true" : "false"; break;
    case Kind::kInt: *out += std::to_string(v.i); break;
    case Kind::kDecimal:
    case Kind::kMoney: AppendJsonString(out, FormatMicros(v.i)); break;
    case Kind::kDuration: AppendJsonString(out, std::to_string(v.i) + "ms"); break;
    case Kind::kTime: AppendJsonString(out, FormatRfc3339(v.i)); break;
    case Kind::kString: AppendJsonString(out, v.sv()); break;
    case Kind::kSet: AppendJsonSeq(out, v.set->items); break;
    case Kind::kList: AppendJsonSeq(out, v.list->items); break;
    // A record value does not know its field names; it renders as the array
    // of its fields in type order (absent optional fields as null).
    case Kind::kRecord: AppendJsonSeq(out, v.rec->fields); break;
    case Kind::kMap: {
      out->push_back('{');
      bool first = true;
      for (size_t i = 0; i < v.map->keys.size(); ++i) {
        const std::string_view k = v.map->keys[i];
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, k);
        out->push_back(':');
        AppendJson(out, v.map->values[i]);
      }
      out->push_back('}');
      break;
    }
    default: *out += "null"; break;
  }
}

std::string DisplayDuration(int64_t ms) {
  if (ms == 0) return "0ms";
  static const std::pair<int64_t, const char*> kUnits[] = {
      {7LL * 86400000, "w"}, {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  for (const auto& [unit, suffix] : kUnits) {
    if (ms % unit == 0) return std::to_string(ms / unit) + suffix;
  }
  return std::to_string(ms) + "ms";
}

void AppendDisplay(std::string* out, const Value& v) {
  switch (v.kind) {
    case Kind::kString: AppendJsonString(out, v.sv()); break;
    case Kind::kMoney: *out += FormatMicros(v.i, 2) + " usd"; break;
    case Kind::kDecimal: *out += FormatMicros(v.i); break;
    case Kind::kDuration: *out += DisplayDuration(v.i); break;
    case Kind::kTime: *out += FormatRfc3339(v.i); break;
    case Kind::kSet:
    case Kind::kList:
    case Kind::kRecord: {
      const std::vector<Value>& items = v.kind == Kind::kSet    ? v.set->items
                                        : v.kind == Kind::kList ? v.list->items
                                                                : v.rec->fields;
      *out += v.kind == Kind::kList ? "[" : "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) *out += ", ";
        AppendDisplay(out, items[i]);
      }
      *out += v.kind == Kind::kList ? "]" : "}";
      break;
    }
    case Kind::kMap: {
      *out += "{";
      bool first = true;
      for (size_t i = 0; i < v.map->keys.size(); ++i) {
        const std::string_view k = v.map->keys[i];
        if (!first) *out += ", ";
        first = false;
        AppendJsonString(out, k);
        *out += ": ";
        AppendDisplay(out, v.map->values[i]);
      }
      *out += "}";
      break;
    }
    default: AppendJson(out, v); break;
  }
}

}  // namespace

std::string ToJson(const Value& v) {
  std::string out;
  AppendJson(&out, v);
  return out;
}

namespace {

void AppendTypedJson(std::string* out, const Value& v, const Type& t) {
  if (v.kind != t.kind()) return AppendJson(out, v);
  switch (v.kind) {
    case Kind::kList:
    case Kind::kSet: {
      const std::vector<Value>& items = v.kind == Kind::kList ? v.list->items : v.set->items;
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out->push_back(',');
        AppendTypedJson(out, items[i], t.elem());
      }
      out->push_back(']');
      return;
    }
    case Kind::kMap: {
      out->push_back('{');
      bool first = true;
      for (size_t i = 0; i < v.map->keys.size(); ++i) {
        const std::string_view k = v.map->keys[i];
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, k);
        out->push_back(':');
        AppendTypedJson(out, v.map->values[i], t.elem());
      }
      out->push_back('}');
      return;
    }
    case Kind::kRecord: {
      const std::vector<RecordField>& fields = t.fields();
      if (fields.size() != v.rec->fields.size()) return AppendJson(out, v);
      out->push_back('{');
      bool first = true;
      for (size_t i = 0; i < fields.size(); ++i) {
        const Value& f = v.rec->fields[i];
        if (f.is_null() && fields[i].optional) continue;
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, fields[i].name);
        out->push_back(':');
        AppendTypedJson(out, f, fields[i].type);
      }
      out->push_back('}');
      return;
    }
    default:
      return AppendJson(out, v);
  }
}

}  // namespace

std::string ToJson(const Value& v, const Type& type) {
  std::string out;
  AppendTypedJson(&out, v, type);
  return out;
}

std::string ToDisplay(const Value& v) {
  std::string out;
  AppendDisplay(&out, v);
  return out;
}

// ------------------------------------------------------------- RFC 3339

namespace {

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at *pos.
bool Digits(std::string_view t, size_t* pos, int n, int* out) {
  if (*pos + n > t.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = t[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Lit(std::string_view t, size_t* pos, char c) {
  if (*pos < t.size() && t[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

}  // namespace

std::optional<int64_t> ParseDuration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  int64_t n = 0;
  auto r = std::from_chars(text.data(), text.data() + i, n);
  if (r.ec != std::errc() || r.ptr != text.data() + i) return std::nullopt;
  const std::string_view unit = text.substr(i);
  int64_t mul;
  if (unit == "ms") mul = 1;
  else if (unit == "s") mul = 1000;
  else if (unit == "m") mul = 60'000;
  else if (unit == "h") mul = 3'600'000;
  else if (unit == "d") mul = 86'400'000;
  else if (unit == "w") mul = 604'800'000;
  else return std::nullopt;
  if (n > std::numeric_limits<int64_t>::max() / mul) return std::nullopt;
  return n * mul;
}

bool ParseRfc3339(std::string_view t, int64_t* unix_ms) {
  size_t p = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(t, &p, 4, &year) || !Lit(t, &p, '-') || !Digits(t, &p, 2, &month) ||
      !Lit(t, &p, '-') || !Digits(t, &p, 2, &day)) {
    return false;
  }
  if (p >= t.size() || (t[p] != 'T' && t[p] != 't' && t[p] != ' ')) return false;
  ++p;
  if (!Digits(t, &p, 2, &hour) || !Lit(t, &p, ':') || !Digits(t, &p, 2, &minute) ||
      !Lit(t, &p, ':') || !Digits(t, &p, 2, &second)) {
    return false;
  }
  int64_t ms = 0;
  if (Lit(t, &p, '.')) {
    int ndigits = 0;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      // Digits beyond milliseconds are truncated.
      if (ndigits < 3) ms = ms * 10 + (t[p] - '0');
      ++ndigits;
      ++p;
    }
    if (ndigits == 0) return false;
    for (int k = ndigits; k < 3; ++k) ms *= 10;
  }
  int offset_min = 0;
  if (p < t.size() && (t[p] == 'Z' || t[p] == 'z')) {
    ++p;
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    int sign = t[p] == '-' ? -1 : 1;
    ++p;
    int oh, om;
    if (!Digits(t, &p, 2, &oh) || !Lit(t, &p, ':') || !Digits(t, &p, 2, &om)) return false;
    if (oh > 23 || om > 59) return false;
    offset_min = sign * (oh * 60 + om);
  } else {
    return false;  // the offset is mandatory
  }
  if (p != t.size()) return false;
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, month) || hour > 23 || minute > 59 ||
      second > 59) {
    return false;
  }
  int64_t days = DaysFromCivil(year, month, day);
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60LL;
  *unix_ms = secs * 1000 + ms;
  return true;
}

std::string FormatRfc3339(int64_t unix_ms) {
  // The log's format without ".000" for whole seconds.
  std::string out = FormatUtcMillis(unix_ms);
  if (FloorDiv(unix_ms, 1000) * 1000 == unix_ms) out.erase(out.size() - 5, 4);
  return out;
}

}  // namespace tollgate
