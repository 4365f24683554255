// Pass `contradictions`: two conditions on one expression that a condition
// needs together and that no value satisfies together (tg_contradiction).
//
// Each comparison alone is fine, so `ranges` and `names` say nothing, but
// joined by `and` they never hold, and the rule never fires:
//
//   hour(context.time, office) > 22 and hour(context.time, office) < 6
//       a night window: no hour is both (the window wraps around midnight:
//       two ranges joined with `or`)
//   context.data_class == "confidential" and context.data_class == "restricted"
//       one value at a time (`in {"confidential", "restricted"}`)
//   any m in request.messages: m.role == "user" and m.role == "tool"
//   request.max_tokens ?? 0 > 8000 and request.max_tokens ?? 0 <= 4000
//   date(context.time) in holidays and date(context.time) == "2026-06-01"
//
// Judged: the conjuncts a condition -- a rule's `when`, mode condition,
// `require`, a budget's or limit's `when` -- needs (through `and`, through
// `or` under `not`, `not` flipping each comparison), and those of the body of
// an `any` there (with the conjuncts around the quantifier). Each is a
// comparison of an expression known only at run time with a constant: `==`,
// `!=`, `<`, `<=`, `>`, `>=` (numbers, money, durations, times), `in` and
// `not in` a constant set or list. Expressions are matched by structure
// (SameExpr): the same field, call, `??` default or quantifier variable.
// A set of such conjuncts with no common value makes the condition never
// hold: an error, as tg_unreachable_comparison is (the policy would load and
// never do what it says). One comparison impossible by itself is
// tg_unreachable_comparison's or tg_name_never_matches' to report.
#include "engine/check/passes.h"

#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/core/money.h"
#include "stdlib/builtins.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using Int = __int128;

// One needed comparison `x op c` (op after `not` is applied), or
// `x in values` / `x not in values`.
struct Atom {
  const Expr* node = nullptr;  // the comparison as written (for spans and text)
  const Expr* x = nullptr;
  Op op = Op::kNone;            // == != < <= > >= in `not in`
  std::vector<Value> values;    // one for a comparison; the collection for in / not in
  size_t scope = 0;             // the conjunction it belongs to (0: the condition's own)
  bool negated = false;         // needed false: `not (...)` around it, or `or` under `not`
};

Op Negate(Op op) {
  switch (op) {
    case Op::kEq: return Op::kNe;
    case Op::kNe: return Op::kEq;
    case Op::kLt: return Op::kGe;
    case Op::kLe: return Op::kGt;
    case Op::kGt: return Op::kLe;
    case Op::kGe: return Op::kLt;
    case Op::kIn: return Op::kNotIn;
    case Op::kNotIn: return Op::kIn;
    default: return Op::kNone;
  }
}

// A value on an ordered scale: numbers in micros, durations and times in
// milliseconds (each only against its own kind: the checker typed both sides).
bool Ordinal(const Value& v, Int* out) {
  switch (v.kind) {
    case Kind::kInt: *out = Int(v.i) * kMicros; return true;
    case Kind::kDecimal:
    case Kind::kMoney:
    case Kind::kDuration:
    case Kind::kTime: *out = v.i; return true;
    default: return false;
  }
}

// Whether some value satisfies every atom (all on one expression).
bool Satisfiable(const std::vector<const Atom*>& atoms, bool whole) {
  std::optional<std::vector<Value>> allowed;  // intersection of == and in
  std::vector<Value> excluded;
  bool has_lo = false, has_hi = false, lo_strict = false, hi_strict = false;
  Int lo = 0, hi = 0;
  for (const Atom* a : atoms) {
    switch (a->op) {
      case Op::kEq:
      case Op::kIn: {
        if (!allowed) {
          allowed = a->values;
          break;
        }
        std::vector<Value> kept;
        for (const Value& v : *allowed)
          for (const Value& w : a->values)
            if (Equal(v, w)) {
              kept.push_back(v);
              break;
            }
        *allowed = std::move(kept);
        break;
      }
      case Op::kNe:
      case Op::kNotIn:
        excluded.insert(excluded.end(), a->values.begin(), a->values.end());
        break;
      case Op::kGt: case Op::kGe: {
        Int c = 0;
        if (!Ordinal(a->values[0], &c)) return true;  // not judged
        const bool strict = a->op == Op::kGt;
        if (!has_lo || c > lo || (c == lo && strict)) { lo = c; lo_strict = strict; }
        has_lo = true;
        break;
      }
      case Op::kLt: case Op::kLe: {
        Int c = 0;
        if (!Ordinal(a->values[0], &c)) return true;
        const bool strict = a->op == Op::kLt;
        if (!has_hi || c < hi || (c == hi && strict)) { hi = c; hi_strict = strict; }
        has_hi = true;
        break;
      }
      default:
        return true;
    }
  }
  // A whole number: the bounds move to the nearest whole values inside.
  if (whole) {
    auto floor_div = [](Int v) { return v >= 0 ? v / kMicros : -((-v + kMicros - 1) / kMicros); };
    if (has_lo) {
      Int n = -floor_div(-lo);  // ceil
      if (lo_strict && n * kMicros == lo) ++n;
      lo = n * kMicros;
      lo_strict = false;
    }
    if (has_hi) {
      Int n = floor_div(hi);
      if (hi_strict && n * kMicros == hi) --n;
      hi = n * kMicros;
      hi_strict = false;
    }
  }
  auto inside = [&](const Value& v) {
    for (const Value& e : excluded)
      if (Equal(v, e)) return false;
    if (!has_lo && !has_hi) return true;
    Int c = 0;
    if (!Ordinal(v, &c)) return true;  // null or another kind: not judged here
    if (has_lo && (c < lo || (lo_strict && c == lo))) return false;
    if (has_hi && (c > hi || (hi_strict && c == hi))) return false;
    if (whole && c % kMicros != 0) return false;
    return true;
  };
  if (allowed) {
    for (const Value& v : *allowed)
      if (inside(v)) return true;
    return false;
  }
  if (has_lo && has_hi) {
    if (lo > hi) return false;
    if (lo == hi) {
      if (lo_strict || hi_strict) return false;
      // One value left: excluded by a != / not in?
      for (const Value& e : excluded) {
        Int c = 0;
        if (Ordinal(e, &c) && c == lo) return false;
      }
    }
  }
  return true;
}

class ContradictionChecker {
 public:
  explicit ContradictionChecker(Context& ctx) : ctx_(ctx) {}

  void Root(const check::Root& root) {
    consequence_ = NeverHolds(*ctx_.policy, root);
    if (consequence_.empty()) return;
    atoms_.clear();
    parents_ = {0};
    depth_reported_ = false;
    Gather(*root.expr, /*positive=*/true, 0, 1);
    Judge();
  }

 private:
  // The comparisons `e` needs (positive: to hold; else: to fail), in the
  // conjunction `scope`.
  void Gather(Expr& e, bool positive, size_t scope, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kUnary && e.op == Op::kNot && e.kids.size() == 1) {
      Gather(*e.kids[0], !positive, scope, depth + 1);
      return;
    }
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2 &&
        ((e.op == Op::kAnd && positive) || (e.op == Op::kOr && !positive))) {
      Gather(*e.kids[0], positive, scope, depth + 1);
      Gather(*e.kids[1], positive, scope, depth + 1);
      return;
    }
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.quant_all != positive) {
      // `any x in xs: body` needs the body for one element (`not (all ...)`:
      // its failure for one): a conjunction of its own, inside this one.
      parents_.push_back(scope);
      Gather(*e.kids[1], positive, parents_.size() - 1, depth + 1);
      return;
    }
    Atom a;
    if (!AtomOf(e, &a)) return;
    if (!positive) a.op = Negate(a.op);
    a.negated = !positive;
    a.scope = scope;
    atoms_.push_back(std::move(a));
  }

  bool AtomOf(Expr& e, Atom* out) {
    if (e.kind != ExprKind::kBinary || e.kids.size() != 2) return false;
    switch (e.op) {
      case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
        for (int side = 0; side < 2; ++side) {
          Expr& x = *e.kids[side];
          if (x.type.is(Kind::kAny) || FoldExpr(ctx_, x)) continue;
          std::optional<Value> c = FoldExpr(ctx_, *e.kids[1 - side]);
          if (!c) return false;
          out->node = &e;
          out->x = &x;
          out->op = side == 0 ? e.op : Mirror(e.op);
          out->values = {*c};
          return true;
        }
        return false;
      }
      case Op::kIn: case Op::kNotIn: {
        Expr& x = *e.kids[0];
        if (x.type.is(Kind::kAny) || FoldExpr(ctx_, x)) return false;
        std::optional<Value> coll = FoldExpr(ctx_, *e.kids[1]);
        if (!coll) return false;
        if (coll->kind == Kind::kSet && coll->set) out->values = coll->set->items;
        else if (coll->kind == Kind::kList && coll->list) out->values = coll->list->items;
        else return false;  // a map's keys: not judged
        if (out->values.empty()) return false;  // tg_empty_collection's
        out->node = &e;
        out->x = &x;
        out->op = e.op;
        return true;
      }
      default:
        return false;
    }
  }

  // `inner` is `outer` or inside it.
  bool Within(size_t inner, size_t outer) const {
    for (size_t s = inner;; s = parents_[s]) {
      if (s == outer) return true;
      if (s == 0) return false;
    }
  }

  void Judge() {
    for (size_t j = 0; j < atoms_.size(); ++j) {
      const Atom& b = atoms_[j];
      const bool whole = b.x->type.kind() == Kind::kInt;
      // Every earlier atom on the same expression that holds where b must.
      std::vector<const Atom*> same;
      for (size_t i = 0; i < j; ++i) {
        const Atom& a = atoms_[i];
        if (!Within(b.scope, a.scope) && !Within(a.scope, b.scope)) continue;
        if (SameExpr(*a.x, *b.x)) same.push_back(&a);
      }
      if (same.empty()) continue;
      // A pair that contradicts names its partner; else all of them do.
      const Atom* partner = nullptr;
      for (const Atom* a : same)
        if (!Satisfiable({a, &b}, whole)) {
          partner = a;
          break;
        }
      if (partner == nullptr) {
        std::vector<const Atom*> all = same;
        all.push_back(&b);
        if (Satisfiable(all, whole)) continue;
      }
      Report(b, partner, same);
      return;  // one report per condition
    }
  }

  void Report(const Atom& b, const Atom* partner, const std::vector<const Atom*>& same) {
    const auto at = std::make_tuple(static_cast<const void*>(b.node->span.file),
                                    b.node->span.begin, b.node->span.end);
    if (!reported_.insert(at).second) return;  // a let, expanded into several uses
    std::string others;
    if (partner != nullptr) {
      others = Written(*partner);
    } else {
      for (size_t i = 0; i < same.size(); ++i)
        others += (i == 0 ? "" : i + 1 == same.size() ? " and " : ", ") + Written(*same[i]);
    }
    const std::string x(ctx_.Text(b.x->span));
    const bool ordered = b.op == Op::kLt || b.op == Op::kLe || b.op == Op::kGt || b.op == Op::kGe;
    std::string help;
    if (ordered)
      help = "no value of `" + x + "` is in both ranges; a range that wraps around (a night "
             "window, a weekend across the week's end) is two ranges joined with `or`";
    else
      help = "`" + x + "` has one value at a time; to accept any of them, test them with `or` "
             "or `in {...}`";
    ctx_.Error("tg_contradiction", b.node->span,
               consequence_ + ": " + Written(b) + " never holds together with " + others,
               help);
  }

  // The comparison as the condition needs it: `x > 2`, or `not (x > 2)`.
  std::string Written(const Atom& a) const {
    std::string text(ctx_.Text(a.node->span));
    if (!a.negated) return "`" + text + "`";
    if (text.empty() || text.front() != '(') text = "(" + text + ")";
    return "`not " + text + "`";
  }

  Context& ctx_;
  std::string consequence_;
  std::vector<Atom> atoms_;
  std::vector<size_t> parents_;  // parents_[s]: the conjunction scope s sits in
  bool depth_reported_ = false;
  std::set<std::tuple<const void*, uint32_t, uint32_t>> reported_;
};

}  // namespace

bool Contradictions(Context& ctx) {
  const int before = ctx.errors;
  ContradictionChecker c(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) c.Root(root);
  return ctx.errors == before;
}

}  // namespace tollgate::check
