// Pass `operands`: constant operands that type-check but make an operation
// silently wrong (after `fold`, which gives the constants):
//
//   - a list indexed by a constant negative position (`request.messages[-1]`)
//     is always absent: positions start at 0 (tg_invalid_value);
//   - money divided by a constant of 10,000 or more, or multiplied by a
//     constant of 0.0001 or less (tg_money_precision, a warning). Money is
//     whole micro-dollars, so the quotient is rounded there before it is
//     used: with a divisor d every amount under d/2 micros becomes 0, and
//     from d = 10^4 every amount under half a cent does -- a price per
//     million tokens of 0.15 usd divided by 1000000 is 0. The multiply-first
//     form (`endpoint.price_input * request.input_tokens / 1000000`: the
//     dividend already multiplied by a value known only per request) rounds
//     once, at the end, and is not warned; `cost(tokens, price)` is exact;
//   - a default that starts with a constant and goes on with arithmetic on a
//     value known per request (`request.max_tokens ?? 0 + request.input_tokens`,
//     tg_default_precedence, a warning): `??` binds looser than `+ - * / %`,
//     so that is `request.max_tokens ?? (0 + request.input_tokens)`, and the
//     tokens of the prompt are added only when `max_tokens` is absent. Nobody
//     writes a default as `0 + x`: `(x ?? 0) + y` was meant.
#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/check/passes.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;

// Smallest constant divisor of a money amount that is warned: 10^4 (one
// cent is 10^4 micro-dollars). Multiplying by 1/10^4 or less is the same.
constexpr int64_t kLossyDivisor = 10000;

// `v` as micro-units (ints scaled), or false when it is no number.
bool Micros(const Value& v, __int128* out) {
  if (v.kind == Kind::kInt) {
    *out = static_cast<__int128>(v.i) * 1000000;
    return true;
  }
  if (v.kind == Kind::kDecimal) {
    *out = v.i;
    return true;
  }
  return false;
}

// `micros` micro-dollars as "0.5 usd" (at most 6 decimals, trailing zeros cut).
std::string Usd(long double micros) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6Lf", micros / 1e6L);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + " usd";
}

// `e` reads a value known only per request, multiplied in: `a * b` with a
// non-constant side (the multiply-first form).
bool ScaledPerRequest(Context& ctx, Expr& e) {
  if (e.kind != ExprKind::kBinary || e.op != Op::kMul || e.kids.size() != 2) return false;
  return !FoldExpr(ctx, *e.kids[0]) || !FoldExpr(ctx, *e.kids[1]);
}

class OperandChecker {
 public:
  explicit OperandChecker(Context& ctx) : ctx_(ctx) {}

  void Walk(Expr& e, uint32_t depth) {
    if (depth > ctx_.options.limits.max_nesting_depth) return;  // reported by earlier passes
    if (e.kind == ExprKind::kIndex && e.kids.size() == 2) NegativeIndex(e);
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2 && e.type.is(Kind::kMoney) &&
        (e.op == Op::kDiv || e.op == Op::kMul))
      LossyMoney(e);
    if (e.kind == ExprKind::kBinary && e.op == Op::kCoalesce && e.kids.size() == 2)
      DefaultPrecedence(e);
    for (auto& k : e.kids) Walk(*k, depth + 1);
  }

 private:
  void NegativeIndex(Expr& e) {
    if (!e.kids[0]->type.is(Kind::kList)) return;
    std::optional<Value> at = FoldExpr(ctx_, *e.kids[1]);
    if (!at || at->kind != Kind::kInt || at->i >= 0) return;
    const std::string list(ctx_.Text(e.kids[0]->span));
    const std::string shown = list.empty() ? "l" : list;
    ctx_.Error("tg_invalid_value", e.kids[1]->span,
               "list position " + std::to_string(at->i) + " is negative, so `" +
                   std::string(ctx_.Text(e.span)) + "` is always absent",
               "positions start at 0 and count from the front (`" + shown +
                   "[0]` is the first); there is no negative position and no `last`: to test "
                   "every element, quantify, e.g. `any x in " + shown + ": ...`");
  }

  void LossyMoney(Expr& e) {
    Expr& a = *e.kids[0];
    Expr& b = *e.kids[1];
    Expr* money = nullptr;
    Expr* number = nullptr;
    if (a.type.is(Kind::kMoney) && !b.type.is(Kind::kMoney)) {
      money = &a;
      number = &b;
    } else if (e.op == Op::kMul && b.type.is(Kind::kMoney) && !a.type.is(Kind::kMoney)) {
      money = &b;
      number = &a;
    }
    if (money == nullptr) return;
    std::optional<Value> c = FoldExpr(ctx_, *number);
    __int128 m = 0;
    if (!c || !Micros(*c, &m) || m == 0) return;
    if (m < 0) m = -m;
    const __int128 one = 1000000;
    const bool lossy = e.op == Op::kDiv ? m >= kLossyDivisor * one : m * kLossyDivisor <= one;
    if (!lossy || ScaledPerRequest(ctx_, *money)) return;
    // x micros becomes 0 when x * (one / m) < 1/2 (division), x * (m / one) < 1/2.
    const long double zero_below_micros =
        e.op == Op::kDiv ? static_cast<long double>(m) / (2.0L * 1e6L) : 1e6L / (2.0L * static_cast<long double>(m));
    const std::string what(ctx_.Text(e.span));
    ctx_.Warning("tg_money_precision", e.span,
                 "`" + what + "` is rounded to whole micro-dollars before it is used: every "
                 "amount under " + Usd(zero_below_micros) + " becomes 0, and others lose digits",
                 "for a price per million tokens use `cost(tokens, price)` -- exact, rounded once "
                 "(`cost(request.input_tokens, endpoint.price_input)`) -- or multiply before "
                 "dividing (`endpoint.price_input * request.input_tokens / 1000000`)");
  }

  static bool Arithmetic(const Expr& e) {
    return e.kind == ExprKind::kBinary && e.kids.size() == 2 &&
           (e.op == Op::kAdd || e.op == Op::kSub || e.op == Op::kMul || e.op == Op::kDiv ||
            e.op == Op::kMod);
  }

  static bool Inside(const Span& s, const Span& outer) {
    return s.file != nullptr && s.file == outer.file && s.begin >= outer.begin && s.end <= outer.end;
  }

  // `x ?? c OP y ...` written without parentheses (a parenthesised node
  // spans its parentheses: engine/parse/build_ast.inc), `c` constant and the
  // default as a whole not: the arithmetic was meant on `x ?? c`.
  void DefaultPrecedence(Expr& e) {
    Expr& d = *e.kids[1];
    if (!Arithmetic(d) || !Inside(d.span, e.span) || d.type.kind() == Kind::kAny) return;
    // The leftmost operand of the default's arithmetic, as written.
    Expr* first = &d;
    while (Arithmetic(*first) && Inside(first->kids[0]->span, first->span) &&
           first->span.begin == first->kids[0]->span.begin)
      first = first->kids[0].get();
    if (first == &d || !Inside(first->span, d.span) || first->span.begin != d.span.begin) return;
    if (!FoldExpr(ctx_, *first) || FoldExpr(ctx_, d)) return;
    const std::string x(ctx_.Text(e.kids[0]->span));
    const std::string c(ctx_.Text(first->span));
    const std::string text(ctx_.Text(d.span));
    std::string rest = text.substr(std::min(text.size(), size_t(first->span.end - d.span.begin)));
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == '\n'))
      rest.erase(0, 1);
    ctx_.Warning("tg_default_precedence", d.span,
                 "`??` binds looser than `" + std::string(ast::OpText(d.op)) + "`: this is `" + x +
                     " ?? (" + text + ")`, so `" + rest + "` applies only when `" + x +
                     "` is absent",
                 "write `(" + x + " ?? " + c + ") " + rest + "`; if the whole default is meant, "
                     "write it in parentheses: `" + x + " ?? (" + text + ")`");
  }

  Context& ctx_;
};

}  // namespace

bool Operands(Context& ctx) {
  const int before = ctx.errors;
  OperandChecker o(ctx);
  for (const Root& root : CollectRoots(*ctx.policy)) o.Walk(*root.expr, 1);
  return ctx.errors == before;
}

}  // namespace tollgate::check
