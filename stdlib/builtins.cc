// The builtin function table: one declaration per overload, its
// implementation registered beside it. See builtins.h for the contract.
#include "stdlib/builtins.h"

#include "engine/core/civil.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <unordered_map>

#include "engine/core/money.h"

namespace tollgate::stdlib {

namespace {

using Args = const Value*;

// ---------------------------------------------------------------- helpers

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

// The decimal micros of an int or decimal argument, checked.
bool Micros(const Value& v, int64_t* out, std::string* error) {
  if (v.kind != Kind::kInt) {
    *out = v.i;
    return true;
  }
  auto m = MulChecked(v.i, kMicros);
  if (!m) return Fail(error, "decimal overflow");
  *out = *m;
  return true;
}

const std::vector<Value>& SetItems(const Value& v) {
  static const std::vector<Value> kEmpty;
  return v.set ? v.set->items : kEmpty;
}

// (n / d) rounded half to even; d > 0.
__int128 DivHalfEven(__int128 n, __int128 d) {
  __int128 q = n / d, r = n % d;
  if (r < 0) {  // make r non-negative (floor division)
    r += d;
    q -= 1;
  }
  __int128 twice = 2 * r;
  if (twice > d || (twice == d && (q % 2 != 0))) q += 1;
  return q;
}


constexpr int64_t kMsPerDay = 86400000;
int64_t DayOf(const Value& t) { return FloorDiv(t.i, kMsPerDay); }
int64_t MsOfDay(const Value& t) { return t.i - DayOf(t) * kMsPerDay; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool AsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// ---------------------------------------------------------------- strings

bool FnLower(Args a, size_t, Arena& scratch, Value* out, std::string*) {
  std::string s(a[0].sv());
  for (char& c : s) c = AsciiLower(c);
  *out = scratch.String(s);
  return true;
}

bool FnUpper(Args a, size_t, Arena& scratch, Value* out, std::string*) {
  std::string s(a[0].sv());
  for (char& c : s) c = AsciiUpper(c);
  *out = scratch.String(s);
  return true;
}

bool FnTrim(Args a, size_t, Arena&, Value* out, std::string*) {
  std::string_view s = a[0].sv();
  while (!s.empty() && AsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && AsciiSpace(s.back())) s.remove_suffix(1);
  *out = Value::StringRef(s);  // a substring of the argument: no copy needed
  return true;
}

bool FnLengthString(Args a, size_t, Arena&, Value* out, std::string*) {
  int64_t n = 0;
  for (char c : a[0].sv()) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  *out = Value::Int(n);
  return true;
}

bool FnLengthList(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(a[0].list ? static_cast<int64_t>(a[0].list->items.size()) : 0);
  return true;
}

bool FnLengthSet(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(static_cast<int64_t>(SetItems(a[0]).size()));
  return true;
}

bool FnLengthMap(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(a[0].map ? static_cast<int64_t>(a[0].map->keys.size()) : 0);
  return true;
}

bool FnStartsWith(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Bool(a[0].sv().starts_with(a[1].sv()));
  return true;
}

bool FnEndsWith(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Bool(a[0].sv().ends_with(a[1].sv()));
  return true;
}

bool FnContains(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Bool(a[0].sv().find(a[1].sv()) != std::string_view::npos);
  return true;
}

bool FnReplace(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  std::string_view s = a[0].sv(), from = a[1].sv(), to = a[2].sv();
  if (from.empty()) return Fail(error, "replace needs a non-empty search string");
  std::string r;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    r.append(s.substr(pos, hit - pos)).append(to);
    if (r.size() > kMaxBuiltinStringBytes) return Fail(error, "replace result is too large");
  }
  r.append(s.substr(pos));
  if (r.size() > kMaxBuiltinStringBytes) return Fail(error, "replace result is too large");
  *out = scratch.String(r);
  return true;
}

bool FnTokens(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(EstimateTokens(a[0].sv()));
  return true;
}

bool FnExists(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Bool(!a[0].is_null());
  return true;
}

bool FnString(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  if (a[0].kind == Kind::kString) {
    *out = a[0];
    return true;
  }
  std::string r = RenderValue(a[0]);
  if (r.size() > kMaxBuiltinStringBytes) return Fail(error, "string result is too large");
  *out = scratch.String(r);
  return true;
}

bool FnSplit(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  std::string_view s = a[0].sv(), sep = a[1].sv();
  if (sep.empty()) return Fail(error, "split needs a non-empty separator");
  std::vector<Value> parts;  // substrings of the argument: no copy needed
  size_t pos = 0;
  for (size_t hit; (hit = s.find(sep, pos)) != std::string_view::npos; pos = hit + sep.size()) {
    parts.push_back(Value::StringRef(s.substr(pos, hit - pos)));
  }
  parts.push_back(Value::StringRef(s.substr(pos)));
  *out = scratch.MakeList(std::move(parts));
  return true;
}

bool FnJoin(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  const std::vector<Value>* items = nullptr;
  static const std::vector<Value> kEmpty;
  if (a[0].kind == Kind::kSet) items = &SetItems(a[0]);
  else items = a[0].list ? &a[0].list->items : &kEmpty;
  std::string_view sep = a[1].sv();
  std::string r;
  for (size_t i = 0; i < items->size(); ++i) {
    if (i) r.append(sep);
    r.append((*items)[i].sv());
    if (r.size() > kMaxBuiltinStringBytes) return Fail(error, "join result is too large");
  }
  *out = scratch.String(r);
  return true;
}

bool FnTime(Args a, size_t, Arena&, Value* out, std::string* error) {
  int64_t ms = 0;
  if (!ParseRfc3339(a[0].sv(), &ms))
    return Fail(error, "`" + std::string(a[0].sv().substr(0, 64)) +
                           "` is not an rfc 3339 time");
  *out = Value::Time(ms);
  return true;
}

// ---------------------------------------------------------------- sets

// Merges two sorted, duplicate-free item lists. keep_a: items only in a;
// keep_both: items in both; keep_b: items only in b.
std::vector<Value> Merge(const Value& x, const Value& y, bool keep_a, bool keep_both, bool keep_b) {
  const auto& a = SetItems(x);
  const auto& b = SetItems(y);
  std::vector<Value> r;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int c = i == a.size() ? 1 : j == b.size() ? -1 : Compare(a[i], b[j]);
    if (c < 0) {
      if (keep_a) r.push_back(a[i]);
      ++i;
    } else if (c > 0) {
      if (keep_b) r.push_back(b[j]);
      ++j;
    } else {
      if (keep_both) r.push_back(a[i]);
      ++i;
      ++j;
    }
  }
  return r;
}

// Element strings keep pointing into the arguments' arenas, which outlive
// the evaluation's scratch arena.
bool FnUnion(Args a, size_t, Arena& scratch, Value* out, std::string*) {
  *out = scratch.MakeSet(Merge(a[0], a[1], true, true, true));
  return true;
}

bool FnIntersection(Args a, size_t, Arena& scratch, Value* out, std::string*) {
  *out = scratch.MakeSet(Merge(a[0], a[1], false, true, false));
  return true;
}

bool FnDifference(Args a, size_t, Arena& scratch, Value* out, std::string*) {
  *out = scratch.MakeSet(Merge(a[0], a[1], true, false, false));
  return true;
}

bool FnIsSubset(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Bool(Merge(a[0], a[1], true, false, false).empty());
  return true;
}

// ---------------------------------------------------------------- numbers

template <bool kMin>
bool FnMinMaxInt(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(kMin ? std::min(a[0].i, a[1].i) : std::max(a[0].i, a[1].i));
  return true;
}

template <bool kMin>
bool FnMinMaxDecimal(Args a, size_t, Arena&, Value* out, std::string* error) {
  int64_t x = 0, y = 0;
  if (!Micros(a[0], &x, error) || !Micros(a[1], &y, error)) return false;
  *out = Value::Decimal(kMin ? std::min(x, y) : std::max(x, y));
  return true;
}

template <bool kMin>
bool FnMinMaxMoney(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Money(kMin ? std::min(a[0].i, a[1].i) : std::max(a[0].i, a[1].i));
  return true;
}

bool FnAbs(Args a, size_t, Arena&, Value* out, std::string* error) {
  const Value& v = a[0];
  if (v.i == std::numeric_limits<int64_t>::min()) return Fail(error, "abs overflow");
  *out = Value::Scalar(v.kind, v.i < 0 ? -v.i : v.i);
  return true;
}

bool FnMoney(Args a, size_t, Arena&, Value* out, std::string* error) {
  int64_t m = 0;
  if (!Micros(a[0], &m, error)) return false;
  *out = Value::Money(m);
  return true;
}

bool FnDecimal(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Decimal(a[0].i);
  return true;
}

bool FnCost(Args a, size_t, Arena&, Value* out, std::string* error) {
  if (a[0].i < 0) return Fail(error, "cost needs a non-negative token count");
  __int128 micros = DivHalfEven(static_cast<__int128>(a[0].i) * a[1].i, 1000000);
  if (micros > std::numeric_limits<int64_t>::max() || micros < std::numeric_limits<int64_t>::min()) {
    return Fail(error, "money overflow");
  }
  *out = Value::Money(static_cast<int64_t>(micros));
  return true;
}

// ---------------------------------------------------------------- time (UTC)

bool FnHour(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(MsOfDay(a[0]) / 3600000);
  return true;
}

bool FnMinute(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Int(MsOfDay(a[0]) / 60000 % 60);
  return true;
}

bool FnWeekday(Args a, size_t, Arena&, Value* out, std::string*) {
  // 1970-01-01 was a Thursday (ISO 4).
  int64_t d = ((DayOf(a[0]) % 7) + 7) % 7;
  *out = Value::Int((d + 3) % 7 + 1);
  return true;
}

bool FnDayOfMonth(Args a, size_t, Arena&, Value* out, std::string*) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(a[0]), &y, &m, &d);
  *out = Value::Int(d);
  return true;
}

bool FnMonth(Args a, size_t, Arena&, Value* out, std::string*) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(a[0]), &y, &m, &d);
  *out = Value::Int(m);
  return true;
}

bool FnYear(Args a, size_t, Arena&, Value* out, std::string*) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(a[0]), &y, &m, &d);
  *out = Value::Int(y);
  return true;
}

bool FnDate(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(a[0]), &y, &m, &d);
  if (y < 0 || y > 9999) return Fail(error, "date out of range");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(y), m, d);
  *out = scratch.String(buf);
  return true;
}

// ---------------------------------------------------------------- time (zones)

// The civil time of t in the time zone named by tz (the system database,
// through cctz). Fails for an unknown zone.
bool Civil(const Value& t, const Value& tz, cctz::civil_second* cs, std::string* error);

bool CheckZoneArg(size_t arg, const Value& v, std::string* error) {
  if (arg != 1 || v.kind != Kind::kString || KnownTimeZone(v.sv())) return true;
  *error = "unknown time zone `" + std::string(v.sv().substr(0, 64)) + "`";
  return false;
}

bool FnHourTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  *out = Value::Int(cs.hour());
  return true;
}

bool FnMinuteTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  *out = Value::Int(cs.minute());
  return true;
}

bool FnWeekdayTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  // cctz::weekday runs monday (0) .. sunday (6).
  *out = Value::Int(static_cast<int>(cctz::get_weekday(cctz::civil_day(cs))) + 1);
  return true;
}

bool FnDayOfMonthTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  *out = Value::Int(cs.day());
  return true;
}

bool FnMonthTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  *out = Value::Int(cs.month());
  return true;
}

bool FnYearTz(Args a, size_t, Arena&, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  *out = Value::Int(cs.year());
  return true;
}

bool FnDateTz(Args a, size_t, Arena& scratch, Value* out, std::string* error) {
  cctz::civil_second cs;
  if (!Civil(a[0], a[1], &cs, error)) return false;
  if (cs.year() < 0 || cs.year() > 9999) return Fail(error, "date out of range");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(cs.year()), cs.month(), cs.day());
  *out = scratch.String(buf);
  return true;
}

// ---------------------------------------------------------------- maps

// get(m, k, default): m[k], or the default when the key is absent (or null).
bool FnGet(Args a, size_t, Arena&, Value* out, std::string*) {
  const Value* v = a[0].kind == Kind::kMap ? MapFind(a[0], a[1].sv()) : nullptr;
  *out = v != nullptr && !v->is_null() ? *v : a[2];
  return true;
}

// ---------------------------------------------------------------- content

bool FnInjectionScore(Args a, size_t, Arena&, Value* out, std::string*) {
  *out = Value::Decimal(InjectionScoreMicros(a[0].sv()));
  return true;
}

// ---------------------------------------------------------------- the table

std::vector<BuiltinDecl> MakeTable() {
  const Type kS(Kind::kString), kI(Kind::kInt), kD(Kind::kDecimal), kM(Kind::kMoney),
      kB(Kind::kBool), kT(Kind::kTime), kAnyT;
  const Type kSetS = Type::Set(kS), kSetI = Type::Set(kI);
  const Cost C = Cost::kConstant, L = Cost::kLinear, X = Cost::kScan;
  // Result ranges (ValueRange): decimals in micros.
  auto R = [](int64_t lo, int64_t hi) { return std::optional<ValueRange>(ValueRange{lo, hi}); };
  const std::optional<ValueRange> kNonNeg = R(0, ValueRange::kUnbounded);  // 0 or more
  std::vector<BuiltinDecl> t = {
      // strings
      {"lower", {kS}, kS, "ascii letters to lower case; other bytes unchanged", L, FnLower},
      {"upper", {kS}, kS, "ascii letters to upper case; other bytes unchanged", L, FnUpper},
      {"trim", {kS}, kS, "removes leading and trailing ascii whitespace", L, FnTrim},
      {"length", {kS}, kI, "number of unicode code points of a string", L, FnLengthString, kNonNeg},
      {"length", {Type::List(kAnyT)}, kI, "number of elements of a list", C, FnLengthList, kNonNeg},
      {"length", {kSetS}, kI, "number of elements of a set", C, FnLengthSet, kNonNeg},
      {"length", {kSetI}, kI, "number of elements of a set", C, FnLengthSet, kNonNeg},
      {"length", {Type::Map(kAnyT)}, kI, "number of keys of a map", C, FnLengthMap, kNonNeg},
      {"starts_with", {kS, kS}, kB, "true when the string starts with the prefix", L, FnStartsWith},
      {"ends_with", {kS, kS}, kB, "true when the string ends with the suffix", L, FnEndsWith},
      {"contains", {kS, kS}, kB, "true when the second string occurs in the first", L, FnContains},
      {"replace", {kS, kS, kS}, kS,
       "replaces every occurrence of the second string (non-empty) by the third", L, FnReplace},
      {"tokens", {kS}, kI, "token estimate of a string: (bytes + 3) / 4", C, FnTokens, kNonNeg},
      {"string", {kAnyT}, kS,
       "the canonical text of a value: strings as themselves, money as `2.50 usd`, times in "
       "RFC 3339", L, FnString},
      {"split", {kS, kS}, Type::List(kS),
       "the parts of the first string between occurrences of the second (non-empty)", L, FnSplit},
      {"join", {Type::List(kS), kS}, kS, "the elements with the separator between them", L, FnJoin},
      {"join", {kSetS, kS}, kS, "the elements, in sorted order, with the separator between them",
       L, FnJoin},
      {"exists", {kAnyT}, kB, "true when the value is present (not null)", C, FnExists,
       std::nullopt, /*accepts_null=*/true},
      // maps (the checker types the result as the map's value type)
      {"get", {Type::Map(kAnyT), kS, kAnyT}, kAnyT,
       "the map's value under the key, or the default when the key is absent", C, FnGet},
      // sets
      {"union", {kSetS, kSetS}, kSetS, "elements in either set", L, FnUnion},
      {"union", {kSetI, kSetI}, kSetI, "elements in either set", L, FnUnion},
      {"intersection", {kSetS, kSetS}, kSetS, "elements in both sets", L, FnIntersection},
      {"intersection", {kSetI, kSetI}, kSetI, "elements in both sets", L, FnIntersection},
      {"difference", {kSetS, kSetS}, kSetS, "elements of the first set not in the second", L,
       FnDifference},
      {"difference", {kSetI, kSetI}, kSetI, "elements of the first set not in the second", L,
       FnDifference},
      {"is_subset", {kSetS, kSetS}, kB, "true when every element of the first is in the second",
       L, FnIsSubset},
      {"is_subset", {kSetI, kSetI}, kB, "true when every element of the first is in the second",
       L, FnIsSubset},
      // numbers and money
      {"min", {kI, kI}, kI, "the smaller of two numbers", C, FnMinMaxInt<true>},
      {"min", {kD, kD}, kD, "the smaller of two numbers", C, FnMinMaxDecimal<true>},
      {"min", {kM, kM}, kM, "the smaller of two amounts", C, FnMinMaxMoney<true>},
      {"max", {kI, kI}, kI, "the larger of two numbers", C, FnMinMaxInt<false>},
      {"max", {kD, kD}, kD, "the larger of two numbers", C, FnMinMaxDecimal<false>},
      {"max", {kM, kM}, kM, "the larger of two amounts", C, FnMinMaxMoney<false>},
      {"abs", {kI}, kI, "absolute value", C, FnAbs, kNonNeg},
      {"abs", {kD}, kD, "absolute value", C, FnAbs, kNonNeg},
      {"abs", {kM}, kM, "absolute value", C, FnAbs, kNonNeg},
      {"money", {kD}, kM, "a number as usd", C, FnMoney},
      {"decimal", {kM}, kD, "an amount of usd as a plain number", C, FnDecimal},
      {"cost", {kI, kM}, kM,
       "tokens x price per million tokens, exact, rounded half to even to the micro-usd", C,
       FnCost},
      // time: UTC, or in a named zone of the system time-zone database (cctz)
      {"hour", {kT}, kI, "hour of the day, 0..23 (utc)", C, FnHour, R(0, 23)},
      {"hour", {kT, kS}, kI, "hour of the day in the time zone, 0..23", C, FnHourTz, R(0, 23),
       false, true, CheckZoneArg},
      {"minute", {kT}, kI, "minute of the hour, 0..59 (utc)", C, FnMinute, R(0, 59)},
      {"minute", {kT, kS}, kI, "minute of the hour in the time zone, 0..59", C, FnMinuteTz,
       R(0, 59), false, true, CheckZoneArg},
      {"weekday", {kT}, kI, "iso day of the week, 1 = monday .. 7 = sunday (utc)", C, FnWeekday,
       R(1, 7)},
      {"weekday", {kT, kS}, kI, "iso day of the week in the time zone, 1 = monday .. 7 = sunday",
       C, FnWeekdayTz, R(1, 7), false, true, CheckZoneArg},
      {"day_of_month", {kT}, kI, "day of the month, 1..31 (utc)", C, FnDayOfMonth, R(1, 31)},
      {"day_of_month", {kT, kS}, kI, "day of the month in the time zone, 1..31", C,
       FnDayOfMonthTz, R(1, 31), false, true, CheckZoneArg},
      {"day", {kT}, kI, "day of the month, 1..31 (utc); same as day_of_month", C, FnDayOfMonth,
       R(1, 31)},
      {"day", {kT, kS}, kI, "day of the month in the time zone, 1..31", C, FnDayOfMonthTz,
       R(1, 31), false, true, CheckZoneArg},
      {"month", {kT}, kI, "month of the year, 1..12 (utc)", C, FnMonth, R(1, 12)},
      {"month", {kT, kS}, kI, "month of the year in the time zone, 1..12", C, FnMonthTz,
       R(1, 12), false, true, CheckZoneArg},
      {"year", {kT}, kI, "calendar year (utc)", C, FnYear},
      {"year", {kT, kS}, kI, "calendar year in the time zone", C, FnYearTz, std::nullopt, false,
       true, CheckZoneArg},
      {"date", {kT}, kS, "calendar date as \"yyyy-mm-dd\" (utc)", C, FnDate},
      {"date", {kT, kS}, kS, "calendar date in the time zone as \"yyyy-mm-dd\"", C, FnDateTz,
       std::nullopt, false, true, CheckZoneArg},
      {"time", {kS}, kT, "the instant an RFC 3339 string names, such as \"2026-01-05T09:00:00Z\"",
       C, FnTime},
      // content
      {"dlp.injection_score", {kS}, kD,
       "heuristic prompt-injection score from 0 to 1 (weighted phrase groups)", X,
       FnInjectionScore, R(0, kMicros)},
  };
  // INVARIANT: overloads of one name are consecutive (FindBuiltin relies on it
  // only for readability of ids; the checker tries them in table order).
  return t;
}

}  // namespace

const char* CostName(Cost c) {
  switch (c) {
    case Cost::kConstant: return "constant";
    case Cost::kLinear: return "linear";
    case Cost::kScan: return "scan";
  }
  return "unknown";
}

const std::vector<BuiltinDecl>& Builtins() {
  static const std::vector<BuiltinDecl> table = MakeTable();
  return table;
}

std::vector<int> FindBuiltin(std::string_view name) {
  std::vector<int> ids;
  const auto& t = Builtins();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].name == name) ids.push_back(static_cast<int>(i));
  }
  return ids;
}

std::string RenderValue(const Value& v) {
  if (v.kind == Kind::kString) return std::string(v.sv());
  return ToDisplay(v);
}

namespace {

// A zone name cctz may load and that means the same on every machine:
// IANA-style names only ("localtime" would read the TZ variable).
bool PlausibleZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "localtime" || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

// Zones by name, loaded once per thread (cctz keeps its own process-wide
// cache behind a mutex; this avoids the lock on every call).
const cctz::time_zone* FindZone(std::string_view name) {
  struct Entry {
    bool ok;
    cctz::time_zone tz;
  };
  thread_local std::unordered_map<std::string, Entry> cache;
  auto it = cache.find(std::string(name));
  if (it == cache.end()) {
    if (cache.size() >= 256) cache.clear();  // bounded: names come from policies and inputs
    Entry e{false, cctz::utc_time_zone()};
    e.ok = PlausibleZoneName(name) && cctz::load_time_zone(std::string(name), &e.tz);
    it = cache.emplace(std::string(name), e).first;
  }
  return it->second.ok ? &it->second.tz : nullptr;
}

}  // namespace

bool KnownTimeZone(std::string_view name) { return FindZone(name) != nullptr; }

std::string MisleadingTimeZone(std::string_view name, std::string* help) {
  constexpr std::string_view kEtc = "Etc/GMT";
  if (name.substr(0, kEtc.size()) == kEtc && name.size() > kEtc.size() + 1 &&
      (name[kEtc.size()] == '+' || name[kEtc.size()] == '-')) {
    const std::string_view digits = name.substr(kEtc.size() + 1);
    int hours = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || hours > 99) return "";
      hours = hours * 10 + (c - '0');
    }
    if (hours == 0) return "";  // Etc/GMT+0 and Etc/GMT-0 are UTC
    const bool west = name[kEtc.size()] == '+';
    char offset[16], meant[16];
    std::snprintf(offset, sizeof offset, "UTC%c%02d:00", west ? '-' : '+', hours);
    std::snprintf(meant, sizeof meant, "UTC%c%02d:00", west ? '+' : '-', hours);
    const std::string other = std::string(kEtc) + (west ? "-" : "+") + std::string(digits);
    *help = "for " + std::string(meant) + " all year write `" + other +
            "`; for the time of a place write its zone, such as `Europe/Berlin` or "
            "`America/New_York`, which also follows its daylight saving time";
    return "`" + std::string(name) + "` is " + offset + ", not " + meant +
           ": the Etc/GMT zones are named with the POSIX sign, west of Greenwich positive";
  }
  struct Fixed {
    std::string_view name, offset, place, zone, fixed;
  };
  static constexpr Fixed kFixed[] = {
      {"EST", "UTC-05:00", "New York", "America/New_York", "America/Panama"},
      {"MST", "UTC-07:00", "Denver", "America/Denver", "America/Phoenix"},
  };
  for (const Fixed& f : kFixed) {
    if (name != f.name) continue;
    *help = "for the time in " + std::string(f.place) + " write `" + std::string(f.zone) +
            "` (it follows daylight saving time); for " + std::string(f.offset) +
            " all year write `" + std::string(f.fixed) + "`";
    return "`" + std::string(name) + "` is " + std::string(f.offset) +
           " all year, without daylight saving time: " + std::string(f.place) +
           " is an hour later in summer";
  }
  return "";
}

namespace {

bool Civil(const Value& t, const Value& tz, cctz::civil_second* cs, std::string* error) {
  const cctz::time_zone* zone = FindZone(tz.sv());
  if (zone == nullptr) {
    *error = "unknown time zone `" + std::string(tz.sv().substr(0, 64)) + "`";
    return false;
  }
  using Seconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;
  // Floor to the second (times before 1970 are negative).
  int64_t secs = t.i / 1000 - ((t.i % 1000 != 0) && (t.i < 0));
  *cs = cctz::convert(Seconds(std::chrono::seconds(secs)), *zone);
  return true;
}

}  // namespace

int64_t EstimateTokens(std::string_view text) { return EstimateTokensOfBytes(text.size()); }

int64_t EstimateTokensOfBytes(uint64_t bytes) {
  return bytes == 0 ? 0 : static_cast<int64_t>((bytes + 3) / 4);
}

uint64_t MediaPayloadBytes(std::string_view payload) {
  if (payload.starts_with("data:")) {
    const size_t comma = payload.find(',');
    if (comma == std::string_view::npos) return payload.size();
    const std::string_view header = payload.substr(0, comma);
    payload.remove_prefix(comma + 1);
    if (!header.ends_with(";base64")) return payload.size();
  }
  return (static_cast<uint64_t>(payload.size()) * 3 + 3) / 4;
}

}  // namespace tollgate::stdlib
