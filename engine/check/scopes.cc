// Pass `scopes`: Expr::scope bottom-up, and the rule that only `require`
// and the `when` and key of a budget or limit may read candidate-scoped
// fields (`provider.*`, `endpoint.*`). A budget or limit that does is planned
// per route endpoint (runtime::PlanEndpointBudgets): its counters are not
// known when the rules run, so no rule may read them.
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
  Scope Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return Scope::kRequest;
    Scope s = Scope::kRequest;
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2) {
      s = Walk(*e.kids[0], depth + 1);
      size_t slot = e.index < 0 ? 0 : size_t(e.index);
      if (locals_.size() <= slot) locals_.resize(slot + 1, Scope::kRequest);
      locals_[slot] = s;
      if (Walk(*e.kids[1], depth + 1) == Scope::kCandidate) s = Scope::kCandidate;
      locals_.resize(slot);
    } else if (e.ref == RefKind::kField &&
               (e.kind == ExprKind::kMember || e.kind == ExprKind::kName)) {
      s = ctx_.schema->field(e.index).scope;
      if (s == Scope::kCandidate) reads_.push_back(&e);
    } else if (e.kind == ExprKind::kName && e.ref == RefKind::kLocal) {
      if (e.index >= 0 && size_t(e.index) < locals_.size()) s = locals_[e.index];
    } else {
      for (auto& k : e.kids)
        if (Walk(*k, depth + 1) == Scope::kCandidate) s = Scope::kCandidate;
    }
    e.scope = s;
    return s;
  }

  Context& ctx_;
  std::vector<Scope> locals_;
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
  for (const auto& root : roots) s.Counters(*root.expr);
  return ctx.errors == before;
}

}  // namespace tollgate::check
