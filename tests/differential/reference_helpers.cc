// The reference interpreter (see reference.h). Simple on purpose: read it
// against docs/architecture.md "Runtime semantics", line by line.
#include "tests/differential/reference.h"

#include <re2/re2.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/core/money.h"
#include "stdlib/builtins.h"

namespace tollgate::ref {
namespace {

using i128 = __int128;
using ast::Expr;
using ast::ExprKind;
using ast::Op;

struct Error {
  std::string_view code;
  std::string message;
};

// A value or the first runtime error.
struct Result {
  Value v;
  std::optional<Error> err;
};

Result Ok(Value v) { return {v, std::nullopt}; }
Result Fail(std::string_view code, std::string msg) { return {Value(), Error{code, std::move(msg)}}; }

i128 Micros(const Value& v) {  // int or decimal as exact micros
  return v.kind == Kind::kInt ? static_cast<i128>(v.i) * kMicros : static_cast<i128>(v.i);
}

// n / d rounded half to even (d != 0).
i128 DivHalfEven(i128 n, i128 d) {
  i128 q = n / d, r = n % d;
  if (r == 0) return q;
  i128 ar = r < 0 ? -r : r, ad = d < 0 ? -d : d;
  i128 sign = ((n < 0) != (d < 0)) ? -1 : 1;
  if (2 * ar > ad || (2 * ar == ad && (q % 2 != 0))) q += sign;
  return q;
}

Result Fit(Kind k, i128 x) {
  if (x > INT64_MAX || x < INT64_MIN) return Fail(vm::kErrArithmetic, "arithmetic overflow");
  return Ok(Value::Scalar(k, static_cast<int64_t>(x)));
}

bool IsNum(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kDecimal; }

// Own equality (numbers across int/decimal, strings by bytes); containers
// fall back to the core's structural Equal.
bool Eq(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  if (IsNum(a) && IsNum(b)) return Micros(a) == Micros(b);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kBool: return a.b == b.b;
    case Kind::kString: return a.sv() == b.sv();
    case Kind::kMoney: case Kind::kDuration: case Kind::kTime: return a.i == b.i;
    default: return Equal(a, b);
  }
}

int Cmp(const Value& a, const Value& b) {
  if (IsNum(a) && IsNum(b)) {
    i128 x = Micros(a), y = Micros(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == Kind::kString && b.kind == Kind::kString) {
    int c = a.sv().compare(b.sv());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == Kind::kBool) return static_cast<int>(a.b) - static_cast<int>(b.b);
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

bool Member(const Value& c, const Value& x) {
  if (c.kind == Kind::kSet) {
    for (const Value& e : c.set->items) if (Eq(e, x)) return true;
    return false;
  }
  if (c.kind == Kind::kList) {
    for (const Value& e : c.list->items) if (Eq(e, x)) return true;
    return false;
  }
  if (c.kind == Kind::kMap && x.kind == Kind::kString) {
    for (std::string_view k : c.map->keys) if (k == x.sv()) return true;
  }
  return false;
}

const RE2& Regex(std::string_view pattern) {
  thread_local std::map<std::string, std::unique_ptr<RE2>, std::less<>> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    RE2::Options o;
    o.set_log_errors(false);
    it = cache.emplace(std::string(pattern), std::make_unique<RE2>(pattern, o)).first;
  }
  return *it->second;
}

// `text` with its JSON string escapes decoded, as docs/language.md ("JSON
// string escapes") says, character by character; "" when none decodes.
std::string DecodeEscapes(const std::string& text) {
  auto hex4 = [&](size_t i) -> long {
    if (i + 4 > text.size()) return -1;
    const std::string h = text.substr(i, 4);
    if (h.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return -1;
    return std::stol(h, nullptr, 16);
  };
  auto utf8 = [](unsigned long c) {
    std::string o;
    if (c < 0x80) return std::string(1, static_cast<char>(c));
    if (c < 0x800) return o + static_cast<char>(0xC0 | (c >> 6)) + static_cast<char>(0x80 | (c & 0x3F));
    if (c < 0x10000)
      return o + static_cast<char>(0xE0 | (c >> 12)) + static_cast<char>(0x80 | ((c >> 6) & 0x3F)) +
             static_cast<char>(0x80 | (c & 0x3F));
    return o + static_cast<char>(0xF0 | (c >> 18)) + static_cast<char>(0x80 | ((c >> 12) & 0x3F)) +
           static_cast<char>(0x80 | ((c >> 6) & 0x3F)) + static_cast<char>(0x80 | (c & 0x3F));
  };
  const std::string simple = "\"\\/bfnrt", meant = "\"\\/\b\f\n\r\t";
  std::string out;
  bool any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t k = i + 1 < text.size() && text[i] == '\\' ? simple.find(text[i + 1]) : std::string::npos;
    if (k != std::string::npos) {
      out += meant[k];
      ++i;
      any = true;
      continue;
    }
    const long u = text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'u' ? hex4(i + 2) : -1;
    const long lo = u >= 0xD800 && u <= 0xDBFF && text.compare(i + 6, 2, "\\u") == 0 ? hex4(i + 8) : -1;
    if (u >= 0 && (u < 0xD800 || u > 0xDFFF)) {
      out += utf8(static_cast<unsigned long>(u));
      i += 5;
      any = true;
    } else if (lo >= 0xDC00 && lo <= 0xDFFF) {
      out += utf8(0x10000 + ((static_cast<unsigned long>(u) - 0xD800) << 10) + (static_cast<unsigned long>(lo) - 0xDC00));
      i += 11;
      any = true;
    } else {
      out += text[i];
    }
  }
  return any ? out : std::string();
}

// True when some (leftmost, non-overlapping) match of `re` in `text` passes
// `validate` (or when any match exists and there is no validator) -- or,
// `matches` reading JSON string escapes through, in `text` decoded once,
// twice or three times.
bool MatchesOne(std::string_view text, std::string_view re, stdlib::Validator validate);
bool MatchesPattern(std::string_view text, std::string_view re, stdlib::Validator validate) {
  if (MatchesOne(text, re, validate)) return true;
  std::string reading(text);
  for (int level = 0; level < 3; ++level) {
    reading = DecodeEscapes(reading);
    if (reading.empty()) return false;
    if (MatchesOne(reading, re, validate)) return true;
  }
  return false;
}
bool MatchesOne(std::string_view text, std::string_view re, stdlib::Validator validate) {
  const RE2& r = Regex(re);
  if (!validate) return RE2::PartialMatch(text, r);
  size_t pos = 0;
  re2::StringPiece m;
  while (pos <= text.size() &&
         r.Match(text, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
    if (validate(std::string_view(m.data(), m.size()))) return true;
    size_t end = static_cast<size_t>(m.data() - text.data()) + m.size();
    pos = m.empty() ? end + 1 : end;
  }
  return false;
}

std::string PathOf(const Expr& e) {
  if (e.kind == ExprKind::kName) return e.name;
  if (e.kind == ExprKind::kMember && !e.kids.empty()) return PathOf(*e.kids[0]) + "." + e.name;
  return e.name;
}

class Interp {
 public:
  Interp(const ast::Policy& p, const stdlib::Schema& s, const vm::Record& req,
         const vm::Record* cand, Arena& arena)
      : policy_(p), schema_(s), req_(req), cand_(cand), arena_(arena) {}

  Result Eval(const Expr& e) {
    if (e.folded) return Ok(*e.folded);
    switch (e.kind) {
      case ExprKind::kLiteral: return Ok(e.value);
      case ExprKind::kName: return Name(e);
      case ExprKind::kMember: return MemberOf(e);
      case ExprKind::kIndex: return IndexOf(e);
      case ExprKind::kUnary: return Unary(e);
      case ExprKind::kBinary: return Binary(e);
      case ExprKind::kCall: return Call(e);
      case ExprKind::kList: case ExprKind::kSet: return Collection(e);
      case ExprKind::kMap: return MapLit(e);
      case ExprKind::kQuantifier: return Quantifier(e);
    }
    return Fail(vm::kErrBuiltin, "reference: unknown expression kind");
  }

  // Evaluates a bool expression; a null result is a missing field.
  Result Bool(const Expr& e) {
    Result r = Eval(e);
    if (!r.err && r.v.is_null()) return Missing(e);
    return r;
  }

 private:
  Result Missing(const Expr& e) {
    return Fail(vm::kErrMissingField, "missing field `" + PathOf(e) + "`");
  }

  Result Name(const Expr& e) {
    switch (e.ref) {
      case ast::RefKind::kConst: {
        const auto& c = policy_.consts[e.index];
        if (c.expr->folded) return Ok(*c.expr->folded);
        return Eval(*c.expr);
      }
      case ast::RefKind::kData: return Ok(policy_.data[e.index].value);
      case ast::RefKind::kLocal:
        if (e.index < 0 || static_cast<size_t>(e.index) >= locals_.size())
          return Fail(vm::kErrBuiltin, "reference: bad local");
        return Ok(locals_[e.index]);
      case ast::RefKind::kField: return Field(e);
      default: return Fail(vm::kErrBuiltin, "reference: unevaluable name `" + e.name + "`");
    }
  }

  Result Field(const Expr& e) {
    const stdlib::FieldDef& f = schema_.field(e.index);
    const vm::Record* rec = f.scope == ast::Scope::kRequest ? &req_ : cand_;
    if (rec == nullptr || f.slot < 0 || static_cast<size_t>(f.slot) >= rec->slots.size())
      return Ok(Value::Null());
    return Ok(rec->slots[f.slot]);
  }

  Result MemberOf(const Expr& e) {
    if (e.ref == ast::RefKind::kField) return Field(e);
    if (e.ref == ast::RefKind::kConst || e.ref == ast::RefKind::kData ||
        e.ref == ast::RefKind::kLocal)
      return Name(e);
    Result base = Eval(*e.kids[0]);
    if (base.err) return base;
    if (base.v.is_null()) return Missing(*e.kids[0]);
    if (base.v.kind == Kind::kRecord) {
      if (e.index < 0 || static_cast<size_t>(e.index) >= base.v.rec->fields.size())
        return Fail(vm::kErrMissingKey, "missing field `" + e.name + "`");
      return Ok(base.v.rec->fields[e.index]);
    }
    if (base.v.kind == Kind::kMap) {  // an absent key reads as null
      const Value* v = MapFind(base.v, e.name);
      return Ok(v ? *v : Value::Null());
    }
    return Fail(vm::kErrBuiltin, "reference: member of a non-record");
  }

  Result IndexOf(const Expr& e) {
    Result c = Eval(*e.kids[0]);
    if (c.err) return c;
    if (c.v.is_null()) return Missing(*e.kids[0]);
    Result k = Eval(*e.kids[1]);
    if (k.err) return k;
    if (k.v.is_null()) return Missing(*e.kids[1]);
    if (c.v.kind == Kind::kMap) {  // an absent key reads as null
      const Value* v = MapFind(c.v, k.v.sv());
      return Ok(v ? *v : Value::Null());
    }
    if (c.v.kind == Kind::kList) {  // so does a position outside the list
      if (k.v.i < 0 || static_cast<uint64_t>(k.v.i) >= c.v.list->items.size())
        return Ok(Value::Null());
      return Ok(c.v.list->items[k.v.i]);
    }
    return Fail(vm::kErrBuiltin, "reference: index of a non-container");
  }

  Result Unary(const Expr& e) {
    Result a = Eval(*e.kids[0]);
    if (a.err) return a;
    if (a.v.is_null()) return Missing(*e.kids[0]);
    if (e.op == Op::kNot) return Ok(Value::Bool(!a.v.b));
    return Fit(a.v.kind, -static_cast<i128>(a.v.i));
  }

  Result Binary(const Expr& e) {
    if (e.op == Op::kAnd || e.op == Op::kOr) {
      Result a = Bool(*e.kids[0]);
      if (a.err) return a;
      if (e.op == Op::kAnd && !a.v.b) return Ok(Value::Bool(false));
      if (e.op == Op::kOr && a.v.b) return Ok(Value::Bool(true));
      return Bool(*e.kids[1]);
    }
    if (e.op == Op::kMatches) return Matches(e);
    if (e.op == Op::kCoalesce) {  // a ?? b: b only when a is null
      Result a = Eval(*e.kids[0]);
      if (a.err || !a.v.is_null()) return a;
      return Eval(*e.kids[1]);
    }
    Result a = Eval(*e.kids[0]);
    if (a.err) return a;
    Result b = Eval(*e.kids[1]);
    if (b.err) return b;
    if (e.op == Op::kEq) return Ok(Value::Bool(Eq(a.v, b.v)));
    if (e.op == Op::kNe) return Ok(Value::Bool(!Eq(a.v, b.v)));
    if (a.v.is_null()) return Missing(*e.kids[0]);
    if (b.v.is_null()) return Missing(*e.kids[1]);
    switch (e.op) {
      case Op::kLt: return Ok(Value::Bool(Cmp(a.v, b.v) < 0));
      case Op::kLe: return Ok(Value::Bool(Cmp(a.v, b.v) <= 0));
      case Op::kGt: return Ok(Value::Bool(Cmp(a.v, b.v) > 0));
      case Op::kGe: return Ok(Value::Bool(Cmp(a.v, b.v) >= 0));
      case Op::kIn: return Ok(Value::Bool(Member(b.v, a.v)));
      case Op::kNotIn: return Ok(Value::Bool(!Member(b.v, a.v)));
      case Op::kHas: return Ok(Value::Bool(Member(a.v, b.v)));
      case Op::kContains:
        return Ok(Value::Bool(a.v.sv().find(b.v.sv()) != std::string_view::npos));
      default: return Arith(e.op, a.v, b.v, arena_);
    }
  }

  Result Matches(const Expr& e) {
    Result a = Eval(*e.kids[0]);
    if (a.err) return a;
    if (a.v.is_null()) return Missing(*e.kids[0]);
    const Expr& p = *e.kids[1];
    if (p.ref == ast::RefKind::kDetector) {
      const stdlib::DetectorDecl& d = stdlib::Detectors()[p.index];
      return Ok(Value::Bool(MatchesPattern(a.v.sv(), d.regex, d.validate)));
    }
    Result pat = Eval(p);
    if (pat.err) return pat;
    if (pat.v.is_null()) return Missing(p);
    return Ok(Value::Bool(MatchesPattern(a.v.sv(), pat.v.sv(), nullptr)));
  }

  // Exact arithmetic per docs/architecture.md; range-checked at the end.
  static Result Arith(Op op, const Value& a, const Value& b, Arena& arena) {
    Kind ka = a.kind, kb = b.kind;
    auto zero = [] { return Fail(vm::kErrArithmetic, "division by zero"); };
    if (op == Op::kMod) {
      if (b.i == 0) return zero();
      return Fit(Kind::kInt, static_cast<i128>(a.i) % static_cast<i128>(b.i));
    }
    if (IsNum(a) && IsNum(b)) {
      bool ints = ka == Kind::kInt && kb == Kind::kInt;
      switch (op) {
        case Op::kAdd: return ints ? Fit(Kind::kInt, i128(a.i) + b.i) : Fit(Kind::kDecimal, Micros(a) + Micros(b));
        case Op::kSub: return ints ? Fit(Kind::kInt, i128(a.i) - b.i) : Fit(Kind::kDecimal, Micros(a) - Micros(b));
        case Op::kMul:
          if (ints) return Fit(Kind::kInt, i128(a.i) * b.i);
          if (ka == Kind::kInt) return Fit(Kind::kDecimal, i128(a.i) * b.i);
          if (kb == Kind::kInt) return Fit(Kind::kDecimal, i128(a.i) * b.i);
          return Fit(Kind::kDecimal, DivHalfEven(i128(a.i) * b.i, kMicros));
        case Op::kDiv:
          if (Micros(b) == 0) return zero();
          return Fit(Kind::kDecimal, DivHalfEven(Micros(a) * kMicros, Micros(b)));
        default: break;
      }
    }
    if (ka == Kind::kMoney && kb == Kind::kMoney) {
      if (op == Op::kAdd) return Fit(Kind::kMoney, i128(a.i) + b.i);
      if (op == Op::kSub) return Fit(Kind::kMoney, i128(a.i) - b.i);
      if (op == Op::kDiv) {
        if (b.i == 0) return zero();
        return Fit(Kind::kDecimal, DivHalfEven(i128(a.i) * kMicros, b.i));
      }
    }
    if (ka == Kind::kMoney && IsNum(b)) {
      if (op == Op::kMul)
        return Fit(Kind::kMoney, kb == Kind::kInt ? i128(a.i) * b.i
                                                  : DivHalfEven(i128(a.i) * b.i, kMicros));
      if (op == Op::kDiv) {
        if (b.i == 0) return zero();
        return Fit(Kind::kMoney, DivHalfEven(i128(a.i) * kMicros, Micros(b)));
      }
    }
    if (IsNum(a) && kb == Kind::kMoney && op == Op::kMul)
      return Fit(Kind::kMoney, ka == Kind::kInt ? i128(a.i) * b.i
                                                : DivHalfEven(i128(a.i) * b.i, kMicros));
    if (ka == Kind::kTime && kb == Kind::kTime && op == Op::kSub)
      return Fit(Kind::kDuration, i128(a.i) - b.i);
    if (ka == Kind::kTime && kb == Kind::kDuration)
      return Fit(Kind::kTime, op == Op::kAdd ? i128(a.i) + b.i : i128(a.i) - b.i);
    if (ka == Kind::kDuration && kb == Kind::kTime && op == Op::kAdd)
      return Fit(Kind::kTime, i128(a.i) + b.i);
    if (ka == Kind::kDuration && kb == Kind::kDuration)
      return Fit(Kind::kDuration, op == Op::kAdd ? i128(a.i) + b.i : i128(a.i) - b.i);
    if (ka == Kind::kString && kb == Kind::kString && op == Op::kAdd) {
      std::string joined = std::string(a.sv()) + std::string(b.sv());
      if (joined.size() > stdlib::kMaxBuiltinStringBytes)
        return Fail(vm::kErrArithmetic, "string too long");
      return Ok(arena.String(joined));
    }
    return Fail(vm::kErrBuiltin, "reference: unsupported operands");
  }

  Result Call(const Expr& e) {
    const stdlib::BuiltinDecl& d = stdlib::Builtins()[e.index];
    std::vector<Value> args;
    // Each argument is null-checked as soon as it is computed, left to right
    // (stdlib/builtins.h accepts_null; the VM's CHKNULL after each argument).
    for (const auto& k : e.kids) {
      Result r = Eval(*k);
      if (r.err) return r;
      if (r.v.is_null() && !d.accepts_null) return Missing(*k);
      args.push_back(r.v);
    }
    Value out;
    std::string err;
    if (!d.fn(args.data(), args.size(), arena_, &out, &err)) return Fail(vm::kErrBuiltin, err);
    return Ok(out);
  }

  Result Collection(const Expr& e) {
    std::vector<Value> items;
    for (const auto& k : e.kids) {
      Result r = Eval(*k);
      if (r.err) return r;
      if (r.v.is_null() && e.kind == ExprKind::kSet) return Missing(*k);
      items.push_back(r.v);
    }
    return Ok(e.kind == ExprKind::kSet ? arena_.MakeSet(std::move(items))
                                       : arena_.MakeList(std::move(items)));
  }

  Result MapLit(const Expr& e) {
    std::vector<std::pair<std::string_view, Value>> entries;
    for (size_t i = 0; i < e.kids.size(); ++i) {
      Result r = Eval(*e.kids[i]);
      if (r.err) return r;
      entries.emplace_back(e.keys[i], r.v);
    }
    return Ok(arena_.MakeMap(std::move(entries)));
  }

  Result Quantifier(const Expr& e) {
    Result l = Eval(*e.kids[0]);
    if (l.err) return l;
    if (l.v.is_null()) return Missing(*e.kids[0]);
    const std::vector<Value>& items =
        l.v.kind == Kind::kSet ? l.v.set->items : l.v.list->items;
    if (locals_.size() <= static_cast<size_t>(e.index)) locals_.resize(e.index + 1);
    for (const Value& item : items) {
      locals_[e.index] = item;
      Result r = Bool(*e.kids[1]);
      if (r.err) return r;
      if (!e.quant_all && r.v.b) return Ok(Value::Bool(true));
      if (e.quant_all && !r.v.b) return Ok(Value::Bool(false));
    }
    return Ok(Value::Bool(e.quant_all));
  }

  const ast::Policy& policy_;
  const stdlib::Schema& schema_;
  const vm::Record& req_;
  const vm::Record* cand_;
  Arena& arena_;
  std::vector<Value> locals_;
};

void RecordError(uint32_t rule, const Error& err, vm::Decision* out) {
  out->errors.push_back({rule, err.code, err.message});
}

std::string_view PatternName(const Expr& p) {
  if (p.ref == ast::RefKind::kDetector) return stdlib::Detectors()[p.index].name;
  if (p.folded && p.folded->kind == Kind::kString) return p.folded->sv();
  return {};
}

void MergeRoute(uint32_t rule, const ast::Effect& fx, vm::RouteHints* r) {
  auto lower = [](int64_t* slot, int64_t v) { if (*slot < 0 || v < *slot) *slot = v; };
  for (const ast::RouteHint& h : fx.hints) {
    switch (h.kind) {
      case ast::RouteHintKind::kSort:
        if (r->sort == vm::SortBy::kNone)
          r->sort = h.word == "price" ? vm::SortBy::kPrice
                    : h.word == "latency" ? vm::SortBy::kLatency : vm::SortBy::kThroughput;
        break;
      case ast::RouteHintKind::kMaxPrice: {
        int64_t v = h.expr->folded ? h.expr->folded->i : 0;
        if (h.word.empty()) lower(&r->max_request_cost, v);
        else if (h.word == "prompt") lower(&r->max_prompt, v);
        else if (h.word == "completion") lower(&r->max_completion, v);
        else lower(&r->max_request, v);
        break;
      }
      case ast::RouteHintKind::kOrder:
        if (r->order.empty() && h.expr->folded && h.expr->folded->kind == Kind::kList)
          for (const Value& s : h.expr->folded->list->items) r->order.push_back(s.sv());
        break;
    }
  }
  if (r->rules.empty() || r->rules.back() != rule) r->rules.push_back(rule);
}

}  // namespace

uint32_t RequireCount(const ast::Policy& policy) {
  uint32_t n = 0;
  for (const ast::Rule& r : policy.rules)
    for (const ast::Effect& fx : r.effects) n += fx.kind == ast::EffectKind::kRequire;
  return n;
}

void Evaluate(const ast::Policy& policy, const stdlib::Schema& schema, const vm::Record& request,
              vm::Decision* out) {
  out->Clear();
  if (request.time) {  // the instant the decoder settled on (input or clock)
    out->time = request.time->unix_ms;
    out->time_from_clock = request.time->from_clock;
  }
  uint32_t require_index = 0;
  for (uint32_t ri = 0; ri < policy.rules.size(); ++ri) {
    const ast::Rule& rule = policy.rules[ri];
    uint32_t first_require = require_index;
    for (const ast::Effect& fx : rule.effects) require_index += fx.kind == ast::EffectKind::kRequire;

    Interp in(policy, schema, request, nullptr, out->arena);
    std::optional<Error> err;
    bool fired = true;
    // `mode shadow when C`: enforced until C is known to hold.
    ast::Mode mode = rule.mode_when ? ast::Mode::kEnforce : rule.mode;
    if (rule.when) {
      Result w = in.Bool(*rule.when);
      if (w.err) err = w.err; else fired = w.v.b;
    }
    if (fired && !err && rule.mode_when) {
      Result m = in.Bool(*rule.mode_when);
      if (m.err) err = m.err; else if (m.v.b) mode = rule.mode;
    }
    // Tag values are computed only for a firing rule (in every mode); an
    // error there drops that tag, is recorded, and the rule still fires.
    std::vector<std::optional<Value>> tag_values;
    std::vector<Error> tag_errors;
    if (fired && !err) {
      for (const ast::Effect& fx : rule.effects) {
        if (fx.kind != ast::EffectKind::kTag) continue;
        Result t = in.Eval(*fx.expr);
        if (t.err) {
          RecordError(ri, Error{t.err->code, "tag `" + fx.tag_key + "` dropped: " + t.err->message}, out);
          tag_values.emplace_back();
        } else {
          tag_values.push_back(out->arena.Clone(t.v));
        }
      }
    }
    // Then the messages with `{...}` holes: the first deny's reason, then
    // every warning, in effect order. A `{t}` names the witness of `when`'s
    // `any t`: the interpreter's local t still holds the element for which
    // the body held (the loop stopped there). An error drops the message and
    // is recorded: a warning is left out, a deny keeps its template text.
    std::optional<std::string> reason;
    std::vector<std::optional<std::string>> warnings;
    bool first_deny = true;
    if (fired && !err) {
      for (const ast::Effect& fx : rule.effects) {
        bool deny = fx.kind == ast::EffectKind::kDeny;
        if (!(deny && first_deny) && fx.kind != ast::EffectKind::kWarn) continue;
        first_deny = first_deny && !deny;
        std::optional<std::string> text = fx.text;
        if (fx.expr) {
          Result m = in.Eval(*fx.expr);
          if (m.err) {
            RecordError(ri, Error{m.err->code, std::string(deny ? "deny reason left unrendered"
                                                                : "warning dropped") +
                                                   ": " + m.err->message},
                        out);
            if (!deny) text.reset();
          } else {
            text = std::string(m.v.sv());
          }
        }
        if (deny) reason = text;
        else warnings.push_back(text);
      }
    }
    if (err) {
      RecordError(ri, *err, out);
      // Fails closed, but never over a real deny (see the deny effect below).
      if (mode == ast::Mode::kEnforce && rule.on_error == ast::OnError::kDeny &&
          out->outcome == vm::Outcome::kAllow) {
        out->outcome = vm::Outcome::kDeny;
        out->status = 403;
        out->code = vm::kCodeRuleError;
        out->reason = std::string(vm::kRuleErrorReason);
        out->deny_rule = ri;
      }
      continue;
    }
    if (!fired) continue;

    if (mode == ast::Mode::kShadow) {
      out->shadow.push_back(ri);
      uint32_t k = first_require;
      for (const ast::Effect& fx : rule.effects)
        if (fx.kind == ast::EffectKind::kRequire) out->shadow_requires.push_back({ri, k++});
      continue;
    }
    if (mode == ast::Mode::kAdvisory) {
      out->advisory.push_back(ri);
      out->warnings.push_back({ri, std::string_view()});
      continue;
    }
    out->fired.push_back(ri);
    uint32_t k = first_require, redact_no = 0, tag_no = 0, warn_no = 0;
    for (const ast::Effect& fx : rule.effects) {
      switch (fx.kind) {
        case ast::EffectKind::kDeny:
          // The first real deny wins, and replaces a deny that only came
          // from a rule error, whatever the order of the rules.
          if (out->outcome == vm::Outcome::kAllow || out->code == vm::kCodeRuleError) {
            out->outcome = vm::Outcome::kDeny;
            out->status = fx.status;
            out->code = vm::kCodePolicyDenied;
            out->reason = reason ? *reason : fx.text;
            out->deny_rule = ri;
          }
          break;
        case ast::EffectKind::kRequire: out->require_refs.push_back({ri, k++}); break;
        case ast::EffectKind::kRedact:
          out->redactions.push_back({ri, redact_no++, PatternName(*fx.expr), fx.text});
          break;
        case ast::EffectKind::kRoute: MergeRoute(ri, fx, &out->route); break;
        case ast::EffectKind::kTag: {
          const std::optional<Value>& v = tag_values[tag_no++];
          if (v) out->tags.push_back({ri, fx.tag_key, *v});
          break;
        }
        case ast::EffectKind::kWarn: {
          const std::optional<std::string>& w = warnings[warn_no++];
          if (w) out->warnings.push_back({ri, out->arena.String(*w).sv()});
          break;
        }
      }
    }
  }
}

RequireResult EvalRequire(const ast::Policy& policy, const stdlib::Schema& schema,
                          uint32_t require, const vm::Record& request,
                          const vm::Record& candidate) {
  uint32_t k = 0;
  for (const ast::Rule& rule : policy.rules) {
    for (const ast::Effect& fx : rule.effects) {
      if (fx.kind != ast::EffectKind::kRequire) continue;
      if (k++ != require) continue;
      Arena scratch;
      Interp in(policy, schema, request, &candidate, scratch);
      Result r = in.Bool(*fx.expr);
      RequireResult out;
      if (r.err) {
        // The rule's on_error decides: skip keeps the candidate.
        out.error = true;
        out.pass = rule.on_error == ast::OnError::kSkip;
        out.code = std::string(r.err->code);
        out.message = r.err->message;
      } else {
        out.pass = r.v.b;
      }
      return out;
    }
  }
  return {false, true, "reference_bad_require", "no such require"};
}

}  // namespace tollgate::ref
