// Pass `fold`: constant folding with the runtime semantics of
// docs/architecture.md, through the VM's own arithmetic (engine/core/arith.h),
// plus the places that must be constant (tg_not_constant).
//
// FoldExpr is also called on demand by earlier passes (a record index key, a
// `matches` pattern); it is memoised per node so that every node is folded,
// and every folding error reported, at most once.
#include <re2/re2.h>

#include "engine/check/passes.h"
#include "engine/core/arith.h"
#include "stdlib/builtins.h"

namespace tollgate::check {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;
using FS = Context::FoldState;

namespace {

constexpr const char* kOverflowHelp = "the result leaves the 64-bit range; use smaller constants";

// Help for a constant that does not convert to its declared type.
std::string ConvertToHelp(const Type& t) {
  if (t.is(Kind::kTime))
    return "write a time such as \"2025-01-06T09:00:00Z\" (`Z` or an offset such as `+02:00`)";
  return "write a value of the declared type `" + t.ToString() + "`";
}

// The shared runtime arithmetic operator of an AST operator (false: not arithmetic).
bool ArithOpOf(Op op, ArithOp* out) {
  switch (op) {
    case Op::kAdd: *out = ArithOp::kAdd; return true;
    case Op::kSub: *out = ArithOp::kSub; return true;
    case Op::kMul: *out = ArithOp::kMul; return true;
    case Op::kDiv: *out = ArithOp::kDiv; return true;
    case Op::kMod: *out = ArithOp::kMod; return true;
    default: return false;
  }
}

bool Member(const Value& x, const Value& c) {
  if (c.kind == Kind::kSet) return SetContains(c, x);
  if (c.kind == Kind::kList) {
    for (const auto& v : c.list->items)
      if (Equal(v, x)) return true;
    return false;
  }
  if (c.kind == Kind::kMap && x.kind == Kind::kString) return MapFind(c, x.sv()) != nullptr;
  return false;
}

class Folder {
 public:
  explicit Folder(Context& ctx) : ctx_(ctx), arena_(*ctx.policy->arena) {}

  FS Compute(Expr& e, Value* out) {
    if (e.type.is(Kind::kAny) || e.type.is(Kind::kPattern)) return FS::kNotConstant;
    switch (e.kind) {
      case ExprKind::kLiteral:
        *out = e.value;
        return FS::kConstant;
      case ExprKind::kName:
        if (e.ref == RefKind::kConst) {
          FS s = FoldConstState(e.index);
          if (s == FS::kConstant) *out = *ctx_.const_values[e.index];
          return s;  // kFailed: reported at the const; users stay quiet
        }
        if (e.ref == RefKind::kData && e.index >= 0 && ctx_.data_ok[e.index]) {
          *out = ctx_.policy->data[e.index].value;
          return FS::kConstant;
        }
        return FS::kNotConstant;
      case ExprKind::kMember:
        if (e.ref == RefKind::kField || e.ref == RefKind::kDetector || e.ref == RefKind::kNamespace ||
            e.ref == RefKind::kCounter)
          return FS::kNotConstant;
        return Lookup(e, out, nullptr);
      case ExprKind::kIndex:
        return Lookup(e, out, e.kids[1].get());
      case ExprKind::kQuantifier: {
        Value ignored;
        Kids(e, &ignored);  // fold the list; the body depends on the variable
        return FS::kNotConstant;
      }
      default:
        break;
    }
    std::vector<Value> vals;
    FS s = Kids(e, nullptr, &vals);
    if (s != FS::kConstant) return s;
    switch (e.kind) {
      case ExprKind::kUnary:
        if (vals[0].is_null()) return FS::kNotConstant;
        if (e.op == Op::kNot) {
          *out = Value::Bool(!vals[0].b);
          return FS::kConstant;
        }
        switch (Negate(vals[0], out)) {
          case ArithStatus::kOk: return FS::kConstant;
          case ArithStatus::kOverflow: return Fail(e, "overflows", kOverflowHelp);
          default: return FS::kNotConstant;
        }
      case ExprKind::kBinary:
        return Binary(e, vals[0], vals[1], out);
      case ExprKind::kCall:
        return Call(e, vals, out);
      case ExprKind::kList:
      case ExprKind::kSet: {
        Value v = e.kind == ExprKind::kList ? arena_.MakeList(std::move(vals)) : arena_.MakeSet(std::move(vals));
        return Coerce(e, v, out);
      }
      case ExprKind::kMap: {
        Value v;
        if (e.type.is(Kind::kRecord)) {
          v = arena_.MakeRecord(std::move(vals));  // record fields are in written order
        } else {
          std::vector<std::pair<std::string_view, Value>> entries;
          for (size_t i = 0; i < vals.size(); ++i)
            entries.emplace_back(arena_.String(e.keys[i]).sv(), vals[i]);
          v = arena_.MakeMap(std::move(entries));
        }
        return Coerce(e, v, out);
      }
      default:
        return FS::kNotConstant;
    }
  }

  FS FoldConstState(int i) {
    if (ctx_.const_values[i]) return FS::kConstant;
    auto& c = ctx_.policy->consts[i];
    auto it = ctx_.fold_memo.find(c.expr.get());
    if (it != ctx_.fold_memo.end() && it->second != FS::kConstant) return it->second;
    if (ctx_.const_folding[i] || !c.expr) return FS::kNotConstant;
    ctx_.const_folding[i] = true;
    auto v = FoldExpr(ctx_, *c.expr);
    ctx_.const_folding[i] = false;
    if (!v) return ctx_.fold_memo[c.expr.get()];
    Value out = *v;
    if (c.declared && !c.expr->type.is(Kind::kAny)) {
      std::string err;
      if (!CoerceValue(ctx_, *c.declared, c.expr->type, *v, &out, &err)) {
        if (!ctx_.fold_exhausted) ctx_.Error("tg_invalid_value", c.expr->span, err,
                   ConvertToHelp(*c.declared));
        ctx_.fold_memo[c.expr.get()] = FS::kFailed;
        return FS::kFailed;
      }
      c.expr->type = *c.declared;
      c.expr->folded = out;
    }
    ctx_.const_values[i] = out;
    return FS::kConstant;
  }

 private:
  FS Kids(Expr& e, Value*, std::vector<Value>* vals = nullptr) {
    FS s = FS::kConstant;
    for (auto& k : e.kids) {
      auto v = FoldExpr(ctx_, *k);
      if (!v) {
        FS ks = ctx_.fold_memo[k.get()];
        if (ks == FS::kFailed) s = FS::kFailed;
        else if (s == FS::kConstant) s = FS::kNotConstant;
        continue;
      }
      if (vals) vals->push_back(*v);
    }
    return s;
  }

  FS Lookup(Expr& e, Value* out, Expr* key_expr) {
    std::vector<Value> vals;
    FS s = Kids(e, nullptr, &vals);
    if (s != FS::kConstant) return s;
    const Value& base = vals[0];
    if (base.is_null()) return FS::kNotConstant;  // a runtime error, like the VM's
    if (base.kind == Kind::kRecord) {
      if (e.index < 0 || size_t(e.index) >= base.rec->fields.size()) return FS::kNotConstant;
      *out = base.rec->fields[e.index];
      return FS::kConstant;
    }
    if (base.kind == Kind::kMap) {
      std::string_view key = key_expr ? vals[1].sv() : std::string_view(e.name);
      const Value* v = MapFind(base, key);
      if (!v) return Fail(e, "key `" + std::string(key) + "` is not in the map",
                            "use one of the map's keys, or test `key in m` first");
      *out = *v;
      return FS::kConstant;
    }
    if (base.kind == Kind::kList && key_expr) {
      int64_t i = vals[1].i;
      if (i < 0 || uint64_t(i) >= base.list->items.size())
        return Fail(e, "index `" + std::to_string(i) + "` is out of range (the list has " +
                           std::to_string(base.list->items.size()) + " elements)",
                    "list positions run from 0 to the length minus 1");
      *out = base.list->items[i];
      return FS::kConstant;
    }
    return FS::kNotConstant;
  }

  FS Binary(Expr& e, const Value& a, const Value& b, Value* out) {
    switch (e.op) {
      case Op::kCoalesce: *out = a.is_null() ? b : a; return FS::kConstant;
      case Op::kEq: *out = Value::Bool(Equal(a, b)); return FS::kConstant;
      case Op::kNe: *out = Value::Bool(!Equal(a, b)); return FS::kConstant;
      default: break;
    }
    if (a.is_null() || b.is_null()) return FS::kNotConstant;  // eval_missing_field at runtime
    switch (e.op) {
      case Op::kAnd: *out = Value::Bool(a.b && b.b); return FS::kConstant;
      case Op::kOr: *out = Value::Bool(a.b || b.b); return FS::kConstant;
      case Op::kLt: *out = Value::Bool(Compare(a, b) < 0); return FS::kConstant;
      case Op::kLe: *out = Value::Bool(Compare(a, b) <= 0); return FS::kConstant;
      case Op::kGt: *out = Value::Bool(Compare(a, b) > 0); return FS::kConstant;
      case Op::kGe: *out = Value::Bool(Compare(a, b) >= 0); return FS::kConstant;
      case Op::kIn: *out = Value::Bool(Member(a, b)); return FS::kConstant;
      case Op::kNotIn: *out = Value::Bool(!Member(a, b)); return FS::kConstant;
      case Op::kHas: *out = Value::Bool(Member(b, a)); return FS::kConstant;
      case Op::kContains:
        *out = Value::Bool(a.sv().find(b.sv()) != std::string_view::npos);
        return FS::kConstant;
      case Op::kMatches: {
        if (b.kind != Kind::kString) return FS::kNotConstant;
        RE2::Options opts;
        opts.set_log_errors(false);
        RE2 re(std::string(b.sv()), opts);
        if (!re.ok()) return FS::kNotConstant;  // the regex pass reports it
        *out = Value::Bool(RE2::PartialMatch(a.sv(), re));
        return FS::kConstant;
      }
      default: {
        // Exactly the VM's arithmetic (engine/core/arith.h), so a folded
        // constant never differs from the value computed at run time.
        ArithOp aop;
        if (!ArithOpOf(e.op, &aop)) return FS::kNotConstant;
        switch (Arith(aop, a, b, &arena_, out)) {
          case ArithStatus::kOk: return FS::kConstant;
          case ArithStatus::kDivByZero: return Fail(e, "divides by zero", "make the divisor a non-zero constant");
          case ArithStatus::kOverflow: return Fail(e, "overflows", kOverflowHelp);
          case ArithStatus::kType: return FS::kNotConstant;
        }
        return FS::kNotConstant;
      }
    }
  }

  FS Call(Expr& e, const std::vector<Value>& args, Value* out) {
    if (e.index < 0 || size_t(e.index) >= stdlib::Builtins().size()) return FS::kNotConstant;
    const auto& d = stdlib::Builtins()[e.index];
    if (!d.pure || d.fn == nullptr) return FS::kNotConstant;
    if (!d.accepts_null)
      for (const auto& a : args)
        if (a.is_null()) return FS::kNotConstant;
    std::string err;
    Value v;
    if (!d.fn(args.data(), args.size(), arena_, &v, &err))
      return Fail(e, "fails: " + (err.empty() ? std::string("error") : err),
                  "change the arguments so that the call succeeds; it runs when the policy loads");
    *out = v;
    return FS::kConstant;
  }

  FS Coerce(Expr& e, const Value& v, Value* out) {
    std::string err;
    if (!CoerceValue(ctx_, e.type, e.type, v, out, &err))
      return ctx_.fold_exhausted ? FS::kFailed : Fail(e, err, ConvertToHelp(e.type), true);
    return FS::kConstant;
  }

  // Reports a constant that cannot be computed; `help` says how to fix it.
  FS Fail(const Expr& e, const std::string& what, std::string help, bool raw = false) {
    std::string text(ctx_.Text(e.span));
    ctx_.Error("tg_invalid_value", e.span, raw || text.empty() ? what : "`" + text + "` " + what,
               std::move(help));
    return FS::kFailed;
  }

  Context& ctx_;
  Arena& arena_;
};

// The first thing in `e` that keeps it from being constant.
const Expr* Blocker(const Context& ctx, const Expr& e, int depth = 0) {
  if (depth > 200) return nullptr;
  if (e.kind == ExprKind::kQuantifier) return &e;
  if (e.ref == RefKind::kField || e.ref == RefKind::kLocal) return &e;
  if (e.kind == ExprKind::kCall && e.index >= 0 && !stdlib::Builtins()[e.index].pure) return &e;
  for (const auto& k : e.kids)
    if (auto it = ctx.fold_memo.find(k.get()); it != ctx.fold_memo.end() && it->second != FS::kConstant)
      return Blocker(ctx, *k, depth + 1);
  return nullptr;
}

void RequireConstant(Context& ctx, Expr& e, const std::string& what) {
  if (e.type.is(Kind::kAny) || FoldExpr(ctx, e) || FoldFailed(ctx, e)) return;
  if (ctx.fold_exhausted) return;
  const Expr* b = Blocker(ctx, e);
  std::string help = "use literals, consts and functions of them";
  if (b && b->ref == RefKind::kField)
    help = "it reads `" + ctx.schema->field(b->index).path + "`, which is known only per request";
  else if (b && b->kind == ExprKind::kCall)
    help = "`" + b->name + "` is evaluated per request";
  else if (b && b->kind == ExprKind::kQuantifier)
    help = "a quantifier is evaluated per request";
  ctx.Error("tg_not_constant", e.span, what + " must be a constant", help);
}

void WalkAll(Context& ctx, Expr& e, uint32_t depth, bool* reported) {
  if (ctx.DepthExceeded(depth, e.span, reported)) return;
  for (auto& k : e.kids) WalkAll(ctx, *k, depth + 1, reported);
  // Arguments a builtin validates when they are known (a time-zone name):
  // a bad constant is a check-time error, not a runtime one.
  if (e.kind == ExprKind::kCall && e.index >= 0 && size_t(e.index) < stdlib::Builtins().size()) {
    const auto& d = stdlib::Builtins()[e.index];
    for (size_t i = 0; d.check_arg != nullptr && i < e.kids.size(); ++i) {
      std::string err;
      if (e.kids[i]->folded && !d.check_arg(i, *e.kids[i]->folded, &err)) {
        ctx.Error("tg_invalid_value", e.kids[i]->span, err,
                  "time zones are IANA names of the system database, such as \"Europe/Berlin\", "
                  "\"America/New_York\" or \"UTC\"");
        ctx.fold_memo[&e] = FS::kFailed;  // the call is not folded (and not reported) again
      } else if (i == 1 && e.kids[i]->folded && e.kids[i]->folded->kind == Kind::kString) {
        // A zone the database knows whose name reads as another offset
        // (`Etc/GMT+1` is UTC-01:00; `EST` never moves to summer time): the
        // hours a business-hours rule reads are off by one or more.
        std::string help;
        std::string what = stdlib::MisleadingTimeZone(e.kids[i]->folded->sv(), &help);
        if (!what.empty()) ctx.Warning("tg_misleading_time_zone", e.kids[i]->span, what, help);
      }
    }
  }
  FoldExpr(ctx, e);
}

// The expanded size of `v`: 1 per value, plus bytes/16 per string; a part
// shared several times counts each time. Memoised per container, so the cost
// is linear in the distinct parts (each visit is a step of folding work).
uint64_t ValueUnits(Context& ctx, const Value& v, const Span& span) {
  constexpr uint64_t kHuge = uint64_t(1) << 62;
  auto add = [](uint64_t a, uint64_t b) { return a > kHuge - b ? kHuge : a + b; };
  switch (v.kind) {
    case Kind::kString: return 1 + v.size / 16;
    case Kind::kSet: case Kind::kList: case Kind::kMap: case Kind::kRecord: break;
    default: return 1;
  }
  const void* key = v.set;  // INVARIANT: the union's pointers share one address
  if (auto it = ctx.value_units.find(key); it != ctx.value_units.end()) return it->second;
  uint64_t n = 1;
  auto each = [&](const Value& x) {
    if (ctx.FoldWork(1, span)) n = add(n, ValueUnits(ctx, x, span));
    else n = kHuge;
  };
  if (v.kind == Kind::kSet) for (const Value& x : v.set->items) each(x);
  else if (v.kind == Kind::kList) for (const Value& x : v.list->items) each(x);
  else if (v.kind == Kind::kRecord) for (const Value& x : v.rec->fields) each(x);
  else for (size_t i = 0; i < v.map->keys.size(); ++i) { n = add(n, 1 + v.map->keys[i].size() / 16); each(v.map->values[i]); }
  ctx.value_units.emplace(key, n);
  return n;
}

}  // namespace

std::optional<Value> FoldExpr(Context& ctx, Expr& e) {
  auto it = ctx.fold_memo.find(&e);
  if (it != ctx.fold_memo.end()) {
    if (it->second == FS::kConstant) return e.folded;
    return std::nullopt;
  }
  if (!ctx.FoldWork(1, e.span)) {  // spent: the rest is not folded (reported once)
    ctx.fold_memo[&e] = FS::kFailed;
    return std::nullopt;
  }
  ctx.fold_memo[&e] = FS::kNotConstant;  // INVARIANT: set before recursing (no re-entry)
  Folder f(ctx);
  Value v;
  FS s = f.Compute(e, &v);
  if (s == FS::kConstant && ctx.fold_exhausted) s = FS::kFailed;
  // A value built here (not a const or data document passed through) is
  // bounded: a few consts that double a list must not build an exponential one.
  if (s == FS::kConstant && e.kind != ExprKind::kName && e.kind != ExprKind::kLiteral &&
      (v.kind == Kind::kString || v.kind == Kind::kSet || v.kind == Kind::kList ||
       v.kind == Kind::kMap || v.kind == Kind::kRecord)) {
    uint64_t units = ValueUnits(ctx, v, e.span);
    if (ctx.fold_exhausted) {
      s = FS::kFailed;
    } else if (units > ctx.options.limits.max_folded_value_size) {
      ctx.Error("tg_limit_exceeded", e.span,
                "this constant value has size " + (units >= (uint64_t(1) << 62) ? std::string("over 2^62") : std::to_string(units)) +
                    ", more than the limit of " +
                    std::to_string(ctx.options.limits.max_folded_value_size),
                "build smaller values; a part used twice counts twice");
      s = FS::kFailed;
    }
  }
  ctx.fold_memo[&e] = s;
  if (s != FS::kConstant) return std::nullopt;
  if (!e.folded) e.folded = v;  // a const root may already hold its coerced value
  return e.folded;
}

bool FoldFailed(const Context& ctx, const Expr& e) {
  auto it = ctx.fold_memo.find(&e);
  return it != ctx.fold_memo.end() && it->second == FS::kFailed;
}

bool Fold(Context& ctx) {
  int before = ctx.errors;
  ast::Policy& p = *ctx.policy;
  auto roots = CollectRoots(p);
  for (const auto& r : roots) {
    bool reported = false;
    WalkAll(ctx, *r.expr, 1, &reported);
  }
  Folder folder(ctx);
  for (size_t i = 0; i < p.consts.size(); ++i) {
    if (!p.consts[i].expr) continue;
    folder.FoldConstState(int(i));
    RequireConstant(ctx, *p.consts[i].expr, "const `" + p.consts[i].name + "`");
  }
  for (const auto& r : roots) {
    Expr& e = *r.expr;
    switch (r.role) {
      case Role::kMaxPrice: case Role::kExpectMaxPrice: RequireConstant(ctx, e, "`max_price`"); break;
      case Role::kOrder: case Role::kExpectOrder: RequireConstant(ctx, e, "`order`"); break;
      case Role::kGiven: case Role::kCandidate: RequireConstant(ctx, e, "a test value"); break;
      case Role::kExpectTag: RequireConstant(ctx, e, "an expected tag value"); break;
      default: break;
    }
    if (!e.folded) continue;
    const Value& v = *e.folded;
    if ((r.role == Role::kBudgetLimit || r.role == Role::kMaxPrice || r.role == Role::kExpectMaxPrice) &&
        v.kind == Kind::kMoney && v.i <= 0 && r.role == Role::kBudgetLimit)
      ctx.Error("tg_invalid_value", e.span, "a budget limit must be more than zero",
                "give the budget a positive amount, such as `100 usd`");
    if ((r.role == Role::kMaxPrice || r.role == Role::kExpectMaxPrice) && v.kind == Kind::kMoney && v.i < 0)
      ctx.Error("tg_invalid_value", e.span, "`max_price` must not be negative",
                "a price cap is zero or more, such as `0.50 usd`");
    if (r.role == Role::kLimitMax && v.kind == Kind::kInt && v.i <= 0)
      ctx.Error("tg_invalid_value", e.span, "`max` must be at least 1",
                "a limit allows at least 1 request or token per window");
    if (r.role == Role::kWhen && v.kind == Kind::kBool && !v.b)
      ctx.Warning("tg_unreachable", e.span,
                  "rule `" + p.rules[r.owner].name + "` can never fire: its `when` is always false",
                  "remove the rule or fix the condition");
  }
  return ctx.errors == before;
}

}  // namespace tollgate::check
