// Pass `scopes`: Expr::scope bottom-up, and the rule that only `require` may
// read candidate-scoped fields (`provider.*`, `endpoint.*`).
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

  void Root(const check::Root& root) {
    locals_.clear();
    reads_.clear();
    depth_reported_ = false;
    Walk(*root.expr, 1);
    const char* what = nullptr;
    switch (root.role) {
      case Role::kWhen: what = "`when`"; break;
      case Role::kModeWhen: what = "`mode ... when`"; break;
      case Role::kTag: what = "a tag value"; break;
      case Role::kMessage: what = "a message"; break;
      case Role::kBudgetKey: what = "a budget key"; break;
      case Role::kBudgetLimit: what = "a budget limit"; break;
      case Role::kBudgetWhen: what = "a budget's `when`"; break;
      case Role::kLimitWhen: what = "a limit's `when`"; break;
      case Role::kLimitMax: what = "a limit's `max`"; break;
      case Role::kLimitKey: what = "a limit key"; break;
      default: break;  // require reads anything; constants are checked by fold
    }
    if (what == nullptr) return;
    for (const Expr* f : reads_) {
      std::string path = ctx_.schema->field(f->index).path;
      ctx_.Error("tg_scope_error", f->span,
                 std::string(what) + " may not read candidate field `" + path + "`",
                 "only `require` may read candidate fields such as `" + path + "`");
    }
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
  for (const auto& root : CollectRoots(*ctx.policy)) s.Root(root);
  return ctx.errors == before;
}

}  // namespace tollgate::check
