// Pass `scopes`: Expr::scope bottom-up (and, on the same walk, quantifiers
// whose body never reads their variable: tg_unused_variable, or whose body
// took in an `or` / `and` operand that does not read it:
// tg_quantifier_extends), and the rule that only `require`
// and the `when` and key of a budget or limit may read candidate-scoped
// fields (`provider.*`, `endpoint.*`). A budget or limit that does is planned
// per route endpoint (runtime::PlanEndpointBudgets): its counters are not
// known when the rules run, so no rule may read them.
//
// Counters are supplied to the rules' `when`, mode conditions, tags,
// messages and route hints only (vm::Evaluate with EvalOptions::counters).
// A `require` predicate runs per candidate endpoint in the router, and the
// `when`, key and limit of a budget or limit are computed to find the
// counters in the first place: none of them ever sees a counter, so a read
// there is tg_counter_unavailable (it would always be null and fail).
#include "engine/check/passes.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::RefKind;
using ast::Scope;

class Scoper {
 public:
  explicit Scoper(Context& ctx) : ctx_(ctx) {}

  // Budgets (then limits) whose `when` or key read candidate fields.
  std::vector<bool> per_endpoint;

  void Root(const check::Root& root) {
    locals_.clear();
    used_.clear();
    reads_.clear();
    depth_reported_ = false;
    Walk(*root.expr, 1);
    const bool budget = root.role == Role::kBudgetWhen || root.role == Role::kBudgetKey;
    if (budget || root.role == Role::kLimitWhen || root.role == Role::kLimitKey) {
      if (!reads_.empty() && root.owner >= 0) {
        const size_t i = budget ? size_t(root.owner) : ctx_.policy->budgets.size() + size_t(root.owner);
        if (i < per_endpoint.size()) per_endpoint[i] = true;
      }
      return;  // planned per route endpoint
    }
    const char* what = nullptr;
    switch (root.role) {
      case Role::kWhen: what = "`when`"; break;
      case Role::kModeWhen: what = "`mode ... when`"; break;
      case Role::kTag: what = "a tag value"; break;
      case Role::kMessage: what = "a message"; break;
      case Role::kBudgetLimit: what = "a budget limit"; break;
      case Role::kLimitMax: what = "a limit's `max`"; break;
      default: break;  // require reads anything; constants are checked by fold
    }
    if (what == nullptr) return;
    for (const Expr* f : reads_) {
      std::string path = ctx_.schema->field(f->index).path;
      ctx_.Error("tg_scope_error", f->span,
                 std::string(what) + " may not read candidate field `" + path + "`",
                 "only `require` and the `when` and key of a budget or limit may read candidate "
                 "fields such as `" + path + "`");
    }
  }

  // A counter read where no counter is ever supplied (see the file
  // comment). Returns true when it reported (the root is then not checked
  // for per-endpoint counters as well: one mistake, one diagnostic).
  bool Unavailable(const check::Root& root) {
    const char* what = nullptr;
    switch (root.role) {
      case Role::kRequire: what = "a `require` predicate"; break;
      case Role::kBudgetWhen: case Role::kLimitWhen: what = "the `when` of a budget or limit"; break;
      case Role::kBudgetKey: case Role::kLimitKey: what = "the key of a budget or limit"; break;
      case Role::kBudgetLimit: what = "a budget's `limit`"; break;
      case Role::kLimitMax: what = "a limit's `max`"; break;
      default: return false;
    }
    std::vector<const Expr*> reads;
    CounterReads(*root.expr, &reads, 0);
    for (const Expr* c : reads) {
      const std::string text = CounterText(*c);
      std::string help;
      if (root.role == Role::kRequire) {
        const std::string rule = root.owner >= 0 ? ctx_.policy->rules[root.owner].name : "r";
        const char* bound = c->type.kind() == Kind::kMoney ? " < 6 usd" : " < 10";
        help = "test the counter in the rule's `when` and keep the endpoint test in `require`, "
               "e.g. `rule " + rule + " { when " +
               text + bound + " require endpoint.price_input <= 1 usd }`";
      } else {
        help = "use request fields, constants or data here; to act on the counter, test it in a "
               "rule's `when` (e.g. `rule r { when " + text + " < ... deny 402 \"...\" }`)";
      }
      const char* why = root.role == Role::kRequire
                            ? "the router judges endpoints without counters"
                            : "it is computed before any counter is read";
      ctx_.Error("tg_counter_unavailable", c->span,
                 std::string(what) + " may not read counter `" + text + "`: " + why +
                     ", so the read is always null",
                 help);
    }
    return !reads.empty();
  }

  // A counter of a per-endpoint budget or limit is read: its key and window
  // are known only once the request is routed, after the rules ran.
  void Counters(const Expr& e, uint32_t depth = 0) {
    if (depth > 512) return;  // Walk reported the depth
    if (e.ref == RefKind::kCounter && e.index >= 0 && size_t(e.index) / 3 < per_endpoint.size() &&
        per_endpoint[size_t(e.index) / 3]) {
      const size_t d = size_t(e.index) / 3, nb = ctx_.policy->budgets.size();
      const bool budget = d < nb;
      const std::string& name = budget ? ctx_.policy->budgets[d].name : ctx_.policy->limits[d - nb].name;
      const std::string what = std::string(budget ? "budget" : "limit") + " `" + name + "`";
      ctx_.Error("tg_scope_error", e.span,
                 "the counters of " + what + " cannot be read: its `when` or key reads endpoint "
                     "fields, so it is charged per endpoint, once the request is routed",
                 "read the counters of a budget or limit over request fields, or scope this one "
                 "by request fields");
    }
    for (const auto& k : e.kids) Counters(*k, depth + 1);
  }

 private:
  static void CounterReads(const Expr& e, std::vector<const Expr*>* out, uint32_t depth) {
    if (depth > 512) return;  // Walk reported the depth
    if (e.ref == RefKind::kCounter && e.index >= 0) out->push_back(&e);
    for (const auto& k : e.kids) CounterReads(*k, out, depth + 1);
  }

  // `budget.<name>.<field>` for the counter node (slot layout: ast::CounterSlot).
  std::string CounterText(const Expr& e) const {
    const size_t d = size_t(e.index) / 3, nb = ctx_.policy->budgets.size();
    static const char* const kBudget[] = {"spent", "remaining", "limit"};
    static const char* const kLimit[] = {"used", "remaining", "max"};
    if (d < nb) return "budget." + ctx_.policy->budgets[d].name + "." + kBudget[e.index % 3];
    if (d - nb < ctx_.policy->limits.size())
      return "limit." + ctx_.policy->limits[d - nb].name + "." + kLimit[e.index % 3];
    return "?";
  }

  Scope Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return Scope::kRequest;
    Scope s = Scope::kRequest;
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2) {
      s = Walk(*e.kids[0], depth + 1);
      size_t slot = e.index < 0 ? 0 : size_t(e.index);
      if (locals_.size() <= slot) locals_.resize(slot + 1, Scope::kRequest);
      locals_[slot] = s;
      if (used_.size() <= slot) used_.resize(slot + 1, false);
      used_[slot] = false;
      if (Walk(*e.kids[1], depth + 1) == Scope::kCandidate) s = Scope::kCandidate;
      if (e.index >= 0 && !used_[slot]) UnusedVariable(e);
      else if (e.index >= 0) AbsorbedOperand(e);
      locals_.resize(slot);
    } else if (e.ref == RefKind::kField &&
               (e.kind == ExprKind::kMember || e.kind == ExprKind::kName)) {
      s = ctx_.schema->field(e.index).scope;
      if (s == Scope::kCandidate) reads_.push_back(&e);
    } else if (e.kind == ExprKind::kName && e.ref == RefKind::kLocal) {
      if (e.index >= 0 && size_t(e.index) < locals_.size()) s = locals_[e.index];
      if (e.index >= 0 && size_t(e.index) < used_.size()) used_[e.index] = true;
    } else {
      for (auto& k : e.kids)
        if (Walk(*k, depth + 1) == Scope::kCandidate) s = Scope::kCandidate;
    }
    e.scope = s;
    return s;
  }

  // The first field `e` reads (pre-order), or null; *unresolved is set when
  // a name or member in it was not resolved (already reported).
  static const Expr* FirstField(const Expr& e, bool* unresolved, uint32_t depth = 0) {
    if (depth > 512) return nullptr;  // Walk reported the depth
    if ((e.kind == ExprKind::kName || e.kind == ExprKind::kMember) &&
        e.ref == RefKind::kUnresolved && e.type.kind() == Kind::kAny)
      *unresolved = true;
    const Expr* found = e.ref == RefKind::kField ? &e : nullptr;
    for (const auto& k : e.kids) {
      const Expr* f = FirstField(*k, unresolved, depth + 1);
      if (found == nullptr) found = f;
    }
    return found;
  }

  // A quantifier in `e` declares `name` again (tg_duplicate_name).
  static bool Redeclares(const Expr& e, const std::string& name, uint32_t depth) {
    if (depth > 512) return false;
    if (e.kind == ExprKind::kQuantifier && e.name == name) return true;
    for (const auto& k : e.kids)
      if (Redeclares(*k, name, depth + 1)) return true;
    return false;
  }

  // tg_unused_variable: `any m in request.models: request.model not in
  // approved` tests the same value for every element -- the requested model,
  // not the fallbacks -- so it holds for all elements or none and reads as a
  // check it is not. The help names the field the body reads instead. Quiet
  // when the quantifier already has an error (a reserved variable name, a
  // collection or body of unknown type, an unresolved name in the body).
  void UnusedVariable(const Expr& q) {
    const std::string& v = q.name;
    bool unresolved = false;
    const Expr* field = FirstField(*q.kids[1], &unresolved);
    const Type& range = q.kids[0]->type;
    if (unresolved || ctx_.IsRoot(v) || !(range.is(Kind::kList) || range.is(Kind::kSet)) ||
        q.kids[1]->type.kind() == Kind::kAny ||
        Redeclares(*q.kids[1], v, 0))
      return;
    const std::string over =
        q.kids[0]->ref == RefKind::kField ? ctx_.schema->field(q.kids[0]->index).path : "";
    std::string help;
    if (field != nullptr) {
      const std::string path = ctx_.schema->field(field->index).path;
      if (!over.empty() && over == path + "s")
        help = "the body tests `" + path + "`, the same value for every element of `" + over +
               "`: did you mean `" + v + "` in place of `" + path + "`?";
      else
        help = "the body reads `" + path + "` but never `" + v +
               "`, so it is the same for every element: test `" + v +
               "` in the body, or drop the quantifier";
    } else {
      help = "test `" + v + "` in the body, or drop the quantifier";
    }
    ctx_.Error("tg_unused_variable", q.span,
               "quantifier variable `" + v + "` is never used in its body, which is then the "
               "same for every element",
               help);
  }

  static bool Inside(const Span& s, const Span& outer) {
    return s.file == outer.file && s.begin >= outer.begin && s.end <= outer.end;
  }

  // Whether `e` reads the quantifier variable of `slot`.
  static bool ReadsLocal(const Expr& e, int slot, uint32_t depth = 0) {
    if (depth > 512) return false;  // Walk reported the depth
    if (e.kind == ExprKind::kName && e.ref == RefKind::kLocal && e.index == slot) return true;
    for (const auto& k : e.kids)
      if (k && ReadsLocal(*k, slot, depth + 1)) return true;
    return false;
  }

  // `e` is written in parentheses of its own: a parenthesised node spans
  // its parentheses (engine/parse/build_ast.inc), its operands do not. (An
  // operand that is a let's copy spans the let's text, elsewhere.)
  static bool Parenthesised(const Expr& e) {
    if (e.kids.size() != 2 || !e.kids[0] || !e.kids[1]) return false;
    const Span& l = e.kids[0]->span;
    const Span& r = e.kids[1]->span;
    return (Inside(l, e.span) && e.span.begin < l.begin) || (Inside(r, e.span) && e.span.end > r.end);
  }

  // The operands of a chain of `op` written without parentheses, in order.
  static void Chain(const Expr& e, ast::Op op, std::vector<const Expr*>* out, uint32_t depth) {
    if (depth < 512 && e.kind == ExprKind::kBinary && e.op == op && !Parenthesised(e)) {
      Chain(*e.kids[0], op, out, depth + 1);
      Chain(*e.kids[1], op, out, depth + 1);
    } else {
      out->push_back(&e);
    }
  }

  // tg_quantifier_extends: the body of a quantifier extends as far right as
  // possible, so `any t in request.tools: t == "shell" or principal.workspace
  // == "ops"` holds the `or` in the body. An operand that does not read the
  // variable is then tested only when the collection has an element: a
  // request from `ops` with no tools is not denied. (`any x: P(x) or Q` is
  // `(any x: P(x)) or (Q and L is not empty)`; `all x: P(x) and Q` is
  // `(all x: P(x)) and (Q or L is empty)`. The other two, `and` under `any`
  // and `or` under `all`, mean the same inside and outside.) A body written
  // in parentheses of its own says the operand is meant there.
  void AbsorbedOperand(const Expr& q) {
    const Expr& body = *q.kids[1];
    const ast::Op op = q.quant_all ? ast::Op::kAnd : ast::Op::kOr;
    if (body.kind != ExprKind::kBinary || body.op != op || Parenthesised(body) ||
        body.type.kind() == Kind::kAny || q.kids[0]->type.kind() == Kind::kAny)
      return;
    std::vector<const Expr*> operands;
    Chain(body, op, &operands, 0);
    std::vector<const Expr*> kept, moved;
    for (const Expr* o : operands) {
      if (o->type.kind() == Kind::kAny) return;  // already reported
      if (o->kind != ExprKind::kLiteral) (ReadsLocal(*o, q.index) ? kept : moved).push_back(o);
    }
    if (kept.empty() || moved.empty()) return;
    const char* word = q.quant_all ? " and " : " or ";
    auto join = [&](const std::vector<const Expr*>& v) {
      std::string s;
      for (const Expr* o : v) s += (s.empty() ? "" : word) + std::string(ctx_.Text(o->span));
      return s;
    };
    const std::string v = q.name;
    const std::string over(ctx_.Text(q.kids[0]->span));
    const Expr& first = *moved.front();
    bool written = Inside(body.span, q.span);
    for (const Expr* o : operands) written = written && Inside(o->span, body.span);
    const std::string quant = std::string(q.quant_all ? "all " : "any ") + v + " in " + over;
    const std::string when = q.quant_all ? "when `" + over + "` is not empty"
                                         : "when `" + over + "` has an element";
    std::string message = "`" + std::string(ctx_.Text(first.span)) + "` is inside the body of `" +
                          quant + "` but does not read `" + v + "`: " +
                          (q.quant_all ? "when `" + over + "` is empty the `all` holds without it"
                                       : "it counts only " + when);
    std::string help;
    if (written && !over.empty())
      help = "end the quantifier before it: `(" + quant + ": " + join(kept) + ")" + word +
             join(moved) + "`; if it is meant only " + when +
             ", write the body in parentheses: `" + quant + ": (" +
             std::string(ctx_.Text(body.span)) + ")`";
    else
      help = "the body of a quantifier extends as far right as possible: parenthesise the "
             "quantifier to end it before this operand, or the body to keep it there";
    ctx_.Warning("tg_quantifier_extends", Inside(first.span, q.span) ? first.span : q.span,
                 std::move(message), std::move(help));
  }

  Context& ctx_;
  std::vector<Scope> locals_;
  std::vector<bool> used_;  // by slot: the quantifier's variable is read in its body
  std::vector<const Expr*> reads_;
  bool depth_reported_ = false;
};

}  // namespace

bool Scopes(Context& ctx) {
  int before = ctx.errors;
  Scoper s(ctx);
  s.per_endpoint.assign(ctx.policy->budgets.size() + ctx.policy->limits.size(), false);
  const std::vector<Root> roots = CollectRoots(*ctx.policy);
  for (const auto& root : roots) s.Root(root);
  for (const auto& root : roots)
    if (!s.Unavailable(root)) s.Counters(*root.expr);
  return ctx.errors == before;
}

}  // namespace tollgate::check
