// Shared typing helpers: Fits, Conform (a typed expression against an
// expected type, field by field for map literals) and CoerceValue (a folded
// value converted to the expected type).
#include "engine/check/passes.h"
#include "engine/core/money.h"

namespace tollgate::check {

using ast::Expr;
using ast::ExprKind;

bool Fits(const Type& expected, const Type& actual) {
  if (expected.is(Kind::kAny) || actual.is(Kind::kAny)) return true;
  if (expected.is(Kind::kDecimal) && actual.is(Kind::kInt)) return true;
  if (expected.kind() != actual.kind()) return false;
  switch (expected.kind()) {
    case Kind::kSet:
    case Kind::kList:
    case Kind::kMap:
      return Fits(expected.elem(), actual.elem());
    case Kind::kRecord: {
      for (const auto& f : expected.fields()) {
        int i = actual.FieldIndex(f.name);
        if (i < 0) {
          if (!f.optional) return false;
          continue;
        }
        if (!Fits(f.type, actual.fields()[i].type) &&
            !(f.optional && actual.fields()[i].type.is(Kind::kNull)))
          return false;
      }
      for (const auto& f : actual.fields())
        if (expected.FieldIndex(f.name) < 0) return false;
      return true;
    }
    default:
      return true;
  }
}

bool IsScalar(const Type& t) {
  switch (t.kind()) {
    case Kind::kBool: case Kind::kInt: case Kind::kDecimal: case Kind::kMoney:
    case Kind::kString: case Kind::kDuration: case Kind::kTime:
      return true;
    default:
      return false;
  }
}

bool ValidDataType(const Type& t, std::string* why) {
  switch (t.kind()) {
    case Kind::kNull: case Kind::kPattern: case Kind::kAny:
      *why = std::string("`") + KindName(t.kind()) + "` is not a type of values";
      return false;
    case Kind::kSet:
      if (!t.elem().is(Kind::kString) && !t.elem().is(Kind::kInt)) {
        *why = "sets hold only strings or ints, not `" + t.elem().ToString() + "`";
        return false;
      }
      return true;
    case Kind::kList:
    case Kind::kMap:
      return ValidDataType(t.elem(), why);
    case Kind::kRecord:
      for (const auto& f : t.fields())
        if (!ValidDataType(f.type, why)) return false;
      return true;
    default:
      return true;
  }
}

std::string MoneyHelp(const Context& ctx, const Expr& number) {
  if (number.kind == ExprKind::kLiteral &&
      (number.value.kind == Kind::kInt || number.value.kind == Kind::kDecimal)) {
    std::string text(ctx.Text(number.span));
    if (text.empty()) text = FormatMicros(AsMicros(number.value), 2);
    return "write `" + text + " usd` for a money literal";
  }
  return "multiply by `1 usd` to turn a number into money, or use `decimal(x)` for the reverse";
}

std::string ConvertHelp(const Type& want, const Type& have) {
  const std::string w = "`" + want.ToString() + "`";
  switch (want.kind()) {
    case Kind::kBool:
      return "write a condition, such as a comparison (`x == y`, `x > 0`), `x in s` or "
             "`length(x) > 0`";
    case Kind::kString:
      if (IsScalar(have) || have.is(Kind::kList) || have.is(Kind::kSet))
        return "convert it with `string(x)`, or write a string literal in double quotes";
      return "use a string field or a string literal in double quotes";
    case Kind::kInt:
      if (have.is(Kind::kDecimal)) return "write a whole number without a decimal point, such as `3`";
      if (have.is(Kind::kString)) return "strings do not convert to numbers: write the number unquoted";
      return "use an int value, such as `3` or `length(x)`";
    case Kind::kDecimal:
      if (have.is(Kind::kString)) return "strings do not convert to numbers: write the number unquoted";
      return "use a number such as `0.5`; `decimal(m)` turns money into a plain number";
    case Kind::kMoney: return "write an amount such as `2.50 usd`, or convert a number with `money(x)`";
    case Kind::kDuration: return "write a duration such as `30s`, `5m`, `12h` or `7d`";
    case Kind::kTime: return "use `context.time` or an RFC 3339 string such as \"2025-01-06T09:00:00Z\"";
    case Kind::kSet:
      return "write a set with braces, such as `{\"a\", \"b\"}`, whose elements are " +
             (want.elem().is(Kind::kAny) ? std::string("all of one type") : "`" + want.elem().ToString() + "`");
    case Kind::kList:
      return "write a list with brackets, such as `[\"a\", \"b\"]`, whose elements are " +
             (want.elem().is(Kind::kAny) ? std::string("all of one type") : "`" + want.elem().ToString() + "`");
    case Kind::kMap:
    case Kind::kRecord:
      return "write a map literal, such as `{key: value}`, shaped as " + w;
    default:
      return "give a value of type " + w;
  }
}

static std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "`" : ", `") + n + "`";
  return out.empty() ? "none" : out;
}

static bool IsNullLiteral(const Expr& e) {
  return e.kind == ExprKind::kLiteral && e.value.kind == Kind::kNull;
}

bool Conform(Context& ctx, const Type& expected, const Expr& e, std::string_view what) {
  if (e.type.is(Kind::kAny) || expected.is(Kind::kAny)) return true;
  std::string w(what);
  if (e.kind == ExprKind::kMap && expected.is(Kind::kRecord)) {
    bool ok = true, unknown_key = false;
    std::vector<bool> seen(expected.fields().size(), false);
    for (size_t i = 0; i < e.kids.size() && i < e.keys.size(); ++i) {
      int fi = expected.FieldIndex(e.keys[i]);
      if (fi < 0) {
        std::vector<std::string> names;
        for (const auto& f : expected.fields()) names.push_back(f.name);
        std::string m = ClosestMatch(e.keys[i], names);
        ctx.Error("tg_type_error", e.kids[i]->span,
                  "`" + e.keys[i] + "` is not a field of `" + expected.ToString() + "`",
                  m.empty() ? "remove it; the fields are " + JoinNames(names) : "did you mean `" + m + "`?");
        ok = false;
        unknown_key = true;  // a misspelt key: do not also report the field as missing
        continue;
      }
      seen[fi] = true;
      const RecordField& f = expected.fields()[fi];
      if (f.optional && IsNullLiteral(*e.kids[i])) continue;
      ok = Conform(ctx, f.type, *e.kids[i], "field `" + f.name + "` of " + w) && ok;
    }
    for (size_t i = 0; i < seen.size(); ++i)
      if (!seen[i] && !expected.fields()[i].optional && !unknown_key) {
        ctx.Error("tg_type_error", e.span, w + " is missing field `" + expected.fields()[i].name + "`",
                  "`" + expected.ToString() + "` requires it");
        ok = false;
      }
    return ok;
  }
  if ((e.kind == ExprKind::kList && expected.is(Kind::kList)) ||
      (e.kind == ExprKind::kSet && expected.is(Kind::kSet))) {
    bool ok = true;
    for (const auto& k : e.kids) ok = Conform(ctx, expected.elem(), *k, "an element of " + w) && ok;
    return ok;
  }
  if (e.kind == ExprKind::kMap && expected.is(Kind::kMap)) {
    bool ok = true;
    for (const auto& k : e.kids) ok = Conform(ctx, expected.elem(), *k, "a value of " + w) && ok;
    return ok;
  }
  // A constant RFC 3339 string stands for a time (checked when folded).
  if (expected.is(Kind::kTime) && e.type.is(Kind::kString)) return true;
  if (Fits(expected, e.type)) return true;
  if ((expected.is(Kind::kMoney) && e.type.IsNumeric()) ||
      (expected.IsNumeric() && e.type.is(Kind::kMoney))) {
    ctx.Error("tg_money_mismatch", e.span,
              w + " must be `" + expected.ToString() + "`, found `" + e.type.ToString() + "`",
              expected.is(Kind::kMoney) ? MoneyHelp(ctx, e) : "use `decimal(x)` for a plain number");
    return false;
  }
  std::string help = ConvertHelp(expected, e.type);
  if (expected.is(Kind::kSet) && e.type.is(Kind::kList)) help = "write a set with braces: `{\"a\", \"b\"}`";
  if (expected.is(Kind::kList) && e.type.is(Kind::kSet)) help = "write a list with brackets: `[\"a\", \"b\"]`";
  ctx.Error("tg_type_error", e.span,
            w + " must be `" + expected.ToString() + "`, found `" + e.type.ToString() + "`", help);
  return false;
}

bool CoerceValue(Context& ctx, const Type& expected, const Type& actual, const Value& in,
                 Value* out, std::string* error) {
  Arena& arena = *ctx.policy->arena;
  *out = in;
  if (in.is_null()) return true;
  if (!ctx.FoldWork(1, Span{})) {
    *error = "constant folding ran out of steps";
    return false;
  }
  switch (expected.kind()) {
    case Kind::kDecimal:
      if (in.kind == Kind::kInt) {
        auto m = MulChecked(in.i, kMicros);
        if (!m) {
          *error = "`" + std::to_string(in.i) + "` is too large for a decimal";
          return false;
        }
        *out = Value::Decimal(*m);
      }
      return true;
    case Kind::kTime:
      if (in.kind == Kind::kString) {
        int64_t ms = 0;
        if (!ParseRfc3339(in.sv(), &ms)) {
          *error = "`" + std::string(in.sv()) + "` is not an RFC 3339 time such as \"2025-01-06T09:00:00Z\"";
          return false;
        }
        *out = Value::Time(ms);
      }
      return true;
    case Kind::kList:
    case Kind::kSet: {
      if (in.kind != Kind::kList && in.kind != Kind::kSet) return true;
      const auto& items = in.kind == Kind::kList ? in.list->items : in.set->items;
      std::vector<Value> conv;
      conv.reserve(items.size());
      for (const auto& v : items) {
        Value c;
        if (!CoerceValue(ctx, expected.elem(), actual.elem(), v, &c, error)) return false;
        conv.push_back(c);
      }
      *out = expected.is(Kind::kList) ? arena.MakeList(std::move(conv)) : arena.MakeSet(std::move(conv));
      return true;
    }
    case Kind::kMap: {
      if (in.kind != Kind::kMap) return true;
      std::vector<std::pair<std::string_view, Value>> entries;
      for (size_t i = 0; i < in.map->keys.size(); ++i) {
        Value c;
        if (!CoerceValue(ctx, expected.elem(), actual.elem(), in.map->values[i], &c, error))
          return false;
        entries.emplace_back(in.map->keys[i], c);
      }
      *out = arena.MakeMap(std::move(entries));
      return true;
    }
    case Kind::kRecord: {
      std::vector<Value> fields;
      for (const auto& f : expected.fields()) {
        Value c = Value::Null();
        if (in.kind == Kind::kMap) {  // a homogeneous map literal: fields by name
          const Value* v = MapFind(in, f.name);
          if (v && !CoerceValue(ctx, f.type, actual.elem(), *v, &c, error)) return false;
        } else if (in.kind == Kind::kRecord) {  // another record type: fields by name
          int i = actual.FieldIndex(f.name);
          if (i >= 0 && size_t(i) < in.rec->fields.size() &&
              !CoerceValue(ctx, f.type, actual.fields()[i].type, in.rec->fields[i], &c, error))
            return false;
        } else {
          return true;
        }
        // An absent optional set or list reads as empty, as in data documents.
        if (c.is_null() && f.type.is(Kind::kSet)) c = arena.MakeSet({});
        if (c.is_null() && f.type.is(Kind::kList)) c = arena.MakeList({});
        fields.push_back(c);
      }
      *out = arena.MakeRecord(std::move(fields));
      return true;
    }
    default:
      return true;
  }
}

}  // namespace tollgate::check
