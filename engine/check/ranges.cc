// Pass `ranges`: a comparison of a bounded number with a constant that can
// never hold over its bounds (tg_unreachable_comparison).
//
// Builtins declare the values their result can take (stdlib/builtins.h,
// BuiltinDecl::range: hour 0..23, weekday 1..7, dlp.injection_score 0..1,
// length 0..), and number fields of the standard schema those the decoder
// and the catalog enforce (stdlib/field_values.h, FieldRange: request.n 1..,
// max_tokens and prices 0..). `x ?? d` spans both x's range and d. A
// comparison of such an expression with a constant (a literal, a const, a
// folded expression), in either order and with any of == != < <= > >=, or a
// membership test against a constant collection of numbers, is judged over
// the range:
//
//   dlp.injection_score(request.content) >= 80   always false (0..1; help: 0.8)
//   require endpoint.uptime >= 99.5              always false (0..1; help: 0.995)
//   require endpoint.latency_p50 < 5000          always true (0..3600 s; help: 5)
//   hour(context.time) >= 24                     always false (0..23)
//   weekday(context.time) == 0                   always false (1..7)
//   request.n < 1, length(request.tools) < 0     always false
//   weekday(context.time) in {0, 6}              `0` never matches (warning)
//   request.max_tokens >= 0                      always true (warning)
//
// Severity: an always-false comparison that a condition cannot do without --
// the whole `when`, mode condition, `require` or budget/limit `when`, or a
// conjunct of it through `and` (through `or` under `not`), with `not`
// flipping what "false" means -- makes that condition never hold: the rule
// never fires, the require rejects every endpoint. That is an error: the
// policy checks clean, loads and silently never does what it says. Anywhere
// else (one side of an `or`, a tag value, a message hole) and for an
// always-true comparison, it is a warning: the expression still means
// something, only less than it says.
#include "engine/check/passes.h"

#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "engine/core/money.h"
#include "stdlib/builtins.h"
#include "stdlib/field_values.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;
using Int = __int128;

constexpr Int kScale = kMicros;  // ranges and constants are compared in micros

// The values an expression can take: [lo, hi] in micros (hi unbounded when
// `open`), whether only whole numbers, and what to say about it.
struct Bounds {
  Int lo = 0;
  Int hi = 0;
  bool open = false;   // no upper end
  bool whole = false;  // an int: only multiples of kScale
  Kind kind = Kind::kInt;
  std::string why;     // "`weekday` is the iso day of the week, ...", a field's reason
  // A fraction from 0 to 1 (dlp.injection_score, endpoint.uptime): its name,
  // for the N/100 help when compared with a percentage; empty otherwise.
  std::string fraction;
  // A figure in seconds (endpoint.latency_p50): its name, for the "N ms"
  // help when compared with milliseconds; empty otherwise.
  std::string seconds;
  // `budget.b.spent / budget.b.limit` (`limit.l.used / limit.l.max`): the
  // share of the limit used, 1 at the limit -- above it only once a limit is
  // lowered within its window, so it has no upper bound here, but a whole
  // percentage compared with it (80) is warned. Its text; empty otherwise.
  std::string share;
};

// A constant number in micros; false for anything else.
bool Micros(const Value& v, Int* out) {
  switch (v.kind) {
    case Kind::kInt: *out = Int(v.i) * kScale; return true;
    case Kind::kDecimal:
    case Kind::kMoney: *out = v.i; return true;
    default: return false;
  }
}

std::string Render(Int micros, Kind kind) {
  const int64_t v = static_cast<int64_t>(micros);
  if (kind == Kind::kMoney) return stdlib::RenderValue(Value::Money(v));
  if (kind == Kind::kInt) return std::to_string(static_cast<int64_t>(micros / kScale));
  return stdlib::RenderValue(Value::Decimal(v));
}

// "from 0 to 23", "0 or more", "1 or more".
std::string RangeText(const Bounds& b) {
  if (b.open) return Render(b.lo, b.kind) + " or more";
  return "from " + Render(b.lo, b.kind) + " to " + Render(b.hi, b.kind);
}

// "a value from 0 to 1", "a whole number from 0 to 23".
std::string Within(const Bounds& b) {
  return std::string(b.whole ? "a whole number " : "a value ") + RangeText(b);
}

// `x op c` for every x in b: always true, always false, or nullopt (either).
std::optional<bool> Decide(Op op, const Bounds& b, Int c) {
  const bool above = !b.open && c > b.hi;    // c beyond every value
  const bool at_top = !b.open && c >= b.hi;  // no value above c
  const bool never_equal = c < b.lo || above || (b.whole && c % kScale != 0);
  switch (op) {
    case Op::kLt:
      if (c <= b.lo) return false;
      if (above) return true;
      return std::nullopt;
    case Op::kLe:
      if (c < b.lo) return false;
      if (at_top) return true;
      return std::nullopt;
    case Op::kGt:
      if (at_top) return false;
      if (c < b.lo) return true;
      return std::nullopt;
    case Op::kGe:
      if (above) return false;
      if (c <= b.lo) return true;
      return std::nullopt;
    case Op::kEq:
      if (never_equal) return false;
      if (!b.open && b.lo == b.hi && c == b.lo) return true;
      return std::nullopt;
    case Op::kNe:
      if (never_equal) return true;
      if (!b.open && b.lo == b.hi && c == b.lo) return false;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// A price per million tokens: the catalog's, the caller's cap, `cost`'s.
bool PerMillionTokens(std::string_view path) {
  return path == "endpoint.price_input" || path == "endpoint.price_output" ||
         path == "request.provider.max_price.prompt" || path == "request.provider.max_price.completion";
}

// A money constant under 0.001 usd and above 0: no model is priced there per
// million tokens (the cheapest cost cents), but a price per token is (OpenRouter's
// API and most price lists write `0.000005` for 5 usd per million).
bool PerTokenSized(const Value& v) { return v.kind == Kind::kMoney && v.i > 0 && v.i < 1000; }

void WarnPerToken(Context& ctx, const Span& at, const Value& v, const std::string& what) {
  ctx.Warning("tg_price_per_token", at,
              what + " is usd per million tokens, and `" + stdlib::RenderValue(v) +
                  "` per million is below any model's price: it reads as a price per token",
              "write `" + stdlib::RenderValue(Value::Money(v.i * 1000000)) + "` (per million tokens) for " +
                  stdlib::RenderValue(v) + " per token");
}

class RangeChecker {
 public:
  explicit RangeChecker(Context& ctx) : ctx_(ctx) {}

  void Root(const check::Root& root) {
    root_ = &root;
    consequence_ = NeverHolds(*ctx_.policy, root);
    depth_reported_ = false;
    Walk(*root.expr, /*forced=*/!consequence_.empty(), /*positive=*/true, 1);
  }

 private:
  // `forced`: the condition holds only if this node does (positive) or
  // does not (!positive).
  void Walk(Expr& e, bool forced, bool positive, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kUnary && e.op == Op::kNot && e.kids.size() == 1) {
      Walk(*e.kids[0], forced, !positive, depth + 1);
      return;
    }
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2 && (e.op == Op::kAnd || e.op == Op::kOr)) {
      // `a and b` needs both; `not (a or b)` needs neither.
      const bool keeps = (e.op == Op::kAnd) == positive;
      Walk(*e.kids[0], forced && keeps, positive, depth + 1);
      // `b` runs only when `a` did not decide: `x > 0 and 1 / x > 2`,
      // `x == 0 or 1 / x > 2` guard the division.
      const size_t guards = nonzero_.size();
      NonZeroAfter(*e.kids[0], e.op == Op::kAnd, 0);
      Walk(*e.kids[1], forced && keeps, positive, depth + 1);
      nonzero_.resize(guards);
      return;
    }
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2) {
      // `any x in xs: body` holds only if body does for some x (and `not
      // (all x in xs: body)` only if body fails for some x).
      Walk(*e.kids[0], false, true, depth + 1);
      Walk(*e.kids[1], forced && e.quant_all != positive, positive, depth + 1);
      return;
    }
    if (e.kind == ExprKind::kCall && e.name == "cost" && e.kids.size() == 2) {
      std::optional<Value> price = FoldExpr(ctx_, *e.kids[1]);
      if (price && PerTokenSized(*price) && !FoldExpr(ctx_, e))
        WarnPerToken(ctx_, e.kids[1]->span, *price, "the price of `cost(tokens, price)`");
    }
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2 && (e.op == Op::kDiv || e.op == Op::kMod))
      Divisor(e);
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) {
      switch (e.op) {
        case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe:
          Compare(e, forced, positive);
          break;
        case Op::kIn: case Op::kNotIn:
          Member(e, forced, positive);
          break;
        default:
          break;
      }
    }
    for (auto& k : e.kids) Walk(*k, false, true, depth + 1);
  }

  // The bounds of `e`, when it is known only at run time and has some.
  std::optional<Bounds> BoundsOf(Expr& e, uint32_t depth = 0) {
    if (depth > 64 || e.type.is(Kind::kAny) || FoldExpr(ctx_, e)) return std::nullopt;
    Bounds b;
    b.kind = e.type.kind();
    b.whole = b.kind == Kind::kInt;
    if (b.kind != Kind::kInt && b.kind != Kind::kDecimal && b.kind != Kind::kMoney) return std::nullopt;
    const Int unit = b.whole ? kScale : 1;
    if (e.kind == ExprKind::kCall && e.index >= 0 &&
        size_t(e.index) < stdlib::Builtins().size()) {
      const stdlib::BuiltinDecl& d = stdlib::Builtins()[e.index];
      if (!d.range) return std::nullopt;
      b.lo = Int(d.range->lo) * unit;
      b.open = d.range->hi == stdlib::ValueRange::kUnbounded;
      b.hi = Int(d.range->hi) * unit;
      b.why = "`" + std::string(d.name) + "` is the " + std::string(d.description);
      if (d.name == "dlp.injection_score") b.fraction = "the score";
      return b;
    }
    if (e.ref == RefKind::kField && e.index >= 0) {
      const stdlib::FieldRange* f = stdlib::FindFieldRange(ctx_.schema->field(e.index).path);
      if (!f) return std::nullopt;
      b.lo = Int(f->lo) * unit;
      b.open = f->hi == INT64_MAX;
      b.hi = Int(f->hi) * unit;
      b.why = std::string(f->why);
      if (b.kind == Kind::kDecimal && f->lo == 0 && f->hi == kScale)
        b.fraction = "`" + std::string(f->path) + "`";
      if (f->seconds) b.seconds = "`" + std::string(f->path) + "`";
      return b;
    }
    if (e.kind == ExprKind::kBinary && e.op == Op::kDiv && e.kids.size() == 2 &&
        e.kids[0]->ref == RefKind::kCounter && e.kids[1]->ref == RefKind::kCounter &&
        e.kids[0]->index >= 0 && e.kids[1]->index >= 0 &&
        e.kids[0]->index / 3 == e.kids[1]->index / 3 && e.kids[1]->index % 3 == 2 &&
        e.kids[0]->index % 3 != 2) {
      // A counter over its own declaration's limit (ast::CounterSlot: 0
      // spent / used, 1 remaining, 2 limit / max). `remaining` is never below
      // 0 nor above the limit (docs/language.md, Budgets and limits), so the
      // share left is a fraction; the share used is 1 at the limit.
      const std::string part(ctx_.Text(e.kids[0]->span)), whole(ctx_.Text(e.kids[1]->span));
      b.kind = Kind::kDecimal;
      b.whole = false;
      b.lo = 0;
      if (e.kids[0]->index % 3 == 1) {
        b.hi = kScale;
        b.why = "`" + part + "` is never below 0 nor above `" + whole + "`";
        b.fraction = "the share left, `" + std::string(ctx_.Text(e.span)) + "`,";
      } else {
        b.open = true;
        b.why = "`" + part + "` is 0 or more";
        b.share = std::string(ctx_.Text(e.span));
      }
      return b;
    }
    if (e.kind == ExprKind::kBinary && e.op == Op::kCoalesce && e.kids.size() == 2) {
      // `x ?? d`: x's range, widened to d.
      std::optional<Bounds> x = BoundsOf(*e.kids[0], depth + 1);
      if (!x) return std::nullopt;
      Int d = 0;
      std::optional<Value> dv = FoldExpr(ctx_, *e.kids[1]);
      if (dv && Micros(*dv, &d)) {
        x->lo = std::min(x->lo, d);
        if (!x->open) x->hi = std::max(x->hi, d);
        x->whole = x->whole && d % kScale == 0;
        x->why += "; absent, it reads as " + Render(d, x->kind);
        return x;
      }
      std::optional<Bounds> y = BoundsOf(*e.kids[1], depth + 1);
      if (!y) return std::nullopt;
      x->lo = std::min(x->lo, y->lo);
      x->open = x->open || y->open;
      x->hi = std::max(x->hi, y->hi);
      x->whole = x->whole && y->whole;
      return x;
    }
    return std::nullopt;
  }

  void Compare(Expr& e, bool forced, bool positive) {
    PerToken(e);
    Expr* side = e.kids[0].get();
    Expr* other = e.kids[1].get();
    Op op = e.op;
    std::optional<Bounds> b = BoundsOf(*side);
    if (!b) {
      std::swap(side, other);
      op = Mirror(op);
      b = BoundsOf(*side);
    }
    if (!b) return;
    std::optional<Value> cv = FoldExpr(ctx_, *other);
    Int c = 0;
    if (!cv || !Micros(*cv, &c)) return;
    std::optional<bool> always = Decide(op, *b, c);
    if (!always) {
      if (!b->share.empty() && c >= 2 * kScale && c <= 100 * kScale && c % kScale == 0 &&
          Once(e, /*error=*/false))
        ctx_.Warning("tg_unreachable_comparison", e.span,
                     "`" + std::string(ctx_.Text(e.span)) + "` compares the share of the limit "
                     "used (1 at the limit) with " + Render(c, cv->kind) + ": " + Render(c, cv->kind) +
                     " times the limit, which admission does not let it reach",
                     "`" + b->share + "` is a decimal, 1 at the limit, not a percentage: write `" +
                         Render(c / 100, Kind::kDecimal) + "` for " + Render(c, cv->kind) + "%");
      return;
    }
    std::string help;
    if (!b->fraction.empty() && c > kScale && c <= 100 * kScale)
      help = b->fraction + " is a decimal from 0 to 1, not a percentage: write `" +
             Render(c / 100, Kind::kDecimal) + "` for " + Render(c, cv->kind) + "%";
    else if (!b->seconds.empty() && !b->open && c > b->hi && c / 1000 <= b->hi)
      help = b->seconds + " is in seconds, not milliseconds: write `" +
             Render(c / 1000, Kind::kDecimal) + "` for " + Render(c, cv->kind) + " ms";
    else if (*always)
      help = b->why + ": remove the comparison, or compare with " + Within(*b);
    else
      help = b->why + ": compare with " + Within(*b);
    Report(e, *side, *b, *always, forced, positive, help);
  }

  // The expressions `a` proves non-zero when the other side of `a and b`
  // (`and_side`) or `a or b` runs: `x > 0`, `x >= 1`, `x != 0` and `x == 0`,
  // `x <= 0`, `x < 1` (either operand order), through nested and / or.
  void NonZeroAfter(Expr& a, bool and_side, uint32_t depth) {
    if (depth > 64) return;
    if (a.kind == ExprKind::kBinary && a.kids.size() == 2 &&
        a.op == (and_side ? Op::kAnd : Op::kOr)) {
      NonZeroAfter(*a.kids[0], and_side, depth + 1);
      NonZeroAfter(*a.kids[1], and_side, depth + 1);
      return;
    }
    if (a.kind != ExprKind::kBinary || a.kids.size() != 2) return;
    for (int i = 0; i < 2; ++i) {
      Expr& side = *a.kids[i];
      std::optional<Value> cv = FoldExpr(ctx_, *a.kids[1 - i]);
      Int c = 0;
      if (!cv || !Micros(*cv, &c) || FoldExpr(ctx_, side)) continue;
      const Op op = i == 0 ? a.op : Mirror(a.op);
      // and: b runs when a holds; or: when it does not (x <= c is x > c).
      const bool nonzero = and_side ? (op == Op::kGt && c >= 0) || (op == Op::kGe && c > 0) ||
                                          (op == Op::kNe && c == 0) || (op == Op::kLt && c <= 0) ||
                                          (op == Op::kLe && c < 0)
                                    : (op == Op::kLe && c >= 0) || (op == Op::kLt && c > 0) ||
                                          (op == Op::kEq && c == 0) || (op == Op::kGe && c <= 0) ||
                                          (op == Op::kGt && c < 0);
      if (nonzero) nonzero_.push_back(&side);
    }
  }

  // `365 / provider.retention_days`: a divisor whose range holds 0 (a ZDR
  // endpoint's retention, a free endpoint's price, `max_tokens ?? 0`) makes
  // the division fail for it, and an on_error deny rule (the default) fails
  // closed -- a require rejects the endpoint, a `when` denies with
  // rule_error -- where the author meant a comparison
  // (tg_division_by_zero).
  void Divisor(const Expr& e) {
    if (root_ == nullptr ||
        (root_->role != Role::kWhen && root_->role != Role::kModeWhen && root_->role != Role::kRequire))
      return;
    const ast::Rule& rule = ctx_.policy->rules[root_->owner];
    if (rule.on_error != ast::OnError::kDeny) return;
    Expr& d = *e.kids[1];
    std::optional<Bounds> b = BoundsOf(d);
    if (!b || b->lo > 0 || (!b->open && b->hi < 0)) return;
    for (const Expr* g : nonzero_)
      if (SameExpr(*g, d)) return;
    // A let expanded into several rules: one warning at its text.
    if (!divisions_at_.insert(std::make_tuple(static_cast<const void*>(d.span.file), d.span.begin, d.span.end)).second)
      return;
    const std::string text = "`" + std::string(ctx_.Text(d.span)) + "`";
    const std::string whole = std::string(ctx_.Text(root_->expr->span));
    const bool require = root_->role == Role::kRequire;
    const std::string what = require ? "a require of rule `" + rule.name + "` fails closed, so it rejects such endpoints"
                                     : "rule `" + rule.name + "` fails closed, so it denies such requests with rule_error";
    ctx_.Warning("tg_division_by_zero", d.span,
                 text + " may be 0 (it is " + RangeText(*b) + "): the division fails for it with "
                 "eval_arithmetic_error, and " + what,
                 "test it first -- `" + std::string(ctx_.Text(d.span)) + " > 0 and " + whole + "`, or `" + std::string(ctx_.Text(d.span)) +
                     " == 0 or ...` -- or compare without dividing; `on_error skip` treats the "
                     "rule as not fired (or keeps the endpoint) instead");
  }

  // `endpoint.price_input <= 0.000005 usd`: a price per million tokens
  // compared with a per-token price (tg_price_per_token).
  void PerToken(Expr& e) {
    for (int i = 0; i < 2; ++i) {
      const Expr& field = *e.kids[i];
      if (field.ref != RefKind::kField || field.index < 0) continue;
      const std::string& path = ctx_.schema->field(field.index).path;
      if (!PerMillionTokens(path)) continue;
      std::optional<Value> v = FoldExpr(ctx_, *e.kids[1 - i]);
      if (v && PerTokenSized(*v)) WarnPerToken(ctx_, e.kids[1 - i]->span, *v, "`" + path + "`");
      return;
    }
  }

  // `x in {c1, c2}` / `x not in [...]` against a constant collection.
  void Member(Expr& e, bool forced, bool positive) {
    std::optional<Bounds> b = BoundsOf(*e.kids[0]);
    if (!b) return;
    std::optional<Value> coll = FoldExpr(ctx_, *e.kids[1]);
    if (!coll) return;
    const std::vector<Value>* items = nullptr;
    if (coll->kind == Kind::kSet && coll->set) items = &coll->set->items;
    else if (coll->kind == Kind::kList && coll->list) items = &coll->list->items;
    if (items == nullptr || items->empty()) return;  // tg_empty_collection speaks for `{}`
    std::vector<std::string> never;
    size_t numbers = 0;
    for (const Value& v : *items) {
      Int c = 0;
      if (!Micros(v, &c)) continue;
      ++numbers;
      if (Decide(Op::kEq, *b, c) == std::optional<bool>(false)) never.push_back(Render(c, v.kind));
    }
    if (never.empty() || numbers != items->size()) return;
    const std::string help = b->why + ": list only values " + RangeText(*b);
    if (never.size() == items->size()) {
      Report(e, *e.kids[0], *b, /*always=*/e.op == Op::kNotIn, forced, positive, help);
      return;
    }
    std::string list;
    for (size_t i = 0; i < never.size(); ++i)
      list += (i == 0 ? "" : i + 1 == never.size() ? " and " : ", ") + ("`" + never[i] + "`");
    if (!Once(e, /*error=*/false)) return;
    ctx_.Warning("tg_unreachable_comparison", e.span,
                 list + " never " + (never.size() == 1 ? "matches" : "match") + " `" +
                     std::string(ctx_.Text(e.kids[0]->span)) + "`, which is " + RangeText(*b),
                 help);
  }

  void Report(const Expr& e, const Expr& side, const Bounds& b, bool always, bool forced,
              bool positive, const std::string& help) {
    const std::string what = "`" + std::string(ctx_.Text(e.span)) + "` is always " +
                             (always ? "true" : "false") + " (`" +
                             std::string(ctx_.Text(side.span)) + "` is " + RangeText(b) + ")";
    // The condition needs this node true (positive) or false: it never holds
    // when the comparison is constantly the other way.
    if (forced && always != positive) {
      if (!Once(e, /*error=*/true)) return;
      ctx_.Error("tg_unreachable_comparison", e.span, consequence_ + ": " + what, help);
      return;
    }
    if (!Once(e, /*error=*/false)) return;
    ctx_.Warning("tg_unreachable_comparison", e.span, what, help);
  }

  // A let's expression is expanded into every use: one report per place,
  // an error where some use makes a condition never hold (a warning only
  // when no use does, and before the first error).
  bool Once(const Expr& e, bool error) {
    const auto at = std::make_tuple(static_cast<const void*>(e.span.file), e.span.begin, e.span.end);
    if (error) return errors_at_.insert(at).second;
    return errors_at_.count(at) == 0 && warnings_at_.insert(at).second;
  }

  Context& ctx_;
  const check::Root* root_ = nullptr;
  std::string consequence_;
  bool depth_reported_ = false;
  std::set<std::tuple<const void*, uint32_t, uint32_t>> errors_at_, warnings_at_;
  std::vector<const Expr*> nonzero_;  // divisors guarded where the walk is
  std::set<std::tuple<const void*, uint32_t, uint32_t>> divisions_at_;
};

}  // namespace

bool Ranges(Context& ctx) {
  const int before = ctx.errors;
  // `route max_price prompt|completion P` caps a price per million tokens.
  for (auto& rule : ctx.policy->rules)
    for (auto& effect : rule.effects)
      for (auto& h : effect.hints) {
        if (h.kind != ast::RouteHintKind::kMaxPrice || !h.expr ||
            (h.word != "prompt" && h.word != "completion"))
          continue;
        std::optional<Value> v = FoldExpr(ctx, *h.expr);
        if (v && PerTokenSized(*v))
          WarnPerToken(ctx, h.expr->span, *v, "`max_price " + h.word + "`");
      }
  RangeChecker r(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) {
    // Consts fold; a let is judged where it is used (expanded there).
    if (root.role == Role::kConst || root.role == Role::kLet) continue;
    r.Root(root);
  }
  return ctx.errors == before;
}

}  // namespace tollgate::check
