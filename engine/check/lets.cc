// Pass `lets`: named expressions. Every use of a `let` name becomes a fresh
// copy of the let's expression, before names are resolved, so that the later
// passes type-check, scope-check and fold each use where it stands and the
// compiler inlines it (a let costs nothing where it is not used). The let's
// own expression is also a root (Role::kLet), so a mistake inside it is
// reported at the let even when it is never used; Diagnostics::Sort drops the
// repeats the copies produce.
//
// A let may use the lets declared above it. A quantifier variable named
// like a let is not expanded here (resolve reports it: tg_duplicate_name),
// nor is a message or tag hole naming a variable of its rule's `when`; a use
// inside a quantifier whose variable has the name of something the let's
// expression reads would silently rebind it, and is an error.
#include <algorithm>
#include <map>

#include "engine/check/passes.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::ExprPtr;

// Nodes one top-level expression may reach by expanding lets: a chain of
// lets that each use the previous one twice would otherwise grow
// exponentially (tg_limit_exceeded instead).
constexpr size_t kMaxExpandedNodes = 20000;

size_t CountNodes(const Expr& e) {
  size_t n = 1;
  for (const ExprPtr& k : e.kids)
    if (k) n += CountNodes(*k);
  return n;
}

// Names an expression reads that no quantifier inside it binds.
void FreeNames(const Expr& e, std::vector<std::string>* bound, std::vector<std::string>* out) {
  if (e.kind == ExprKind::kName) {
    if (std::find(bound->begin(), bound->end(), e.name) == bound->end() &&
        std::find(out->begin(), out->end(), e.name) == out->end())
      out->push_back(e.name);
    return;
  }
  if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2) {
    if (e.kids[0]) FreeNames(*e.kids[0], bound, out);
    bound->push_back(e.name);
    if (e.kids[1]) FreeNames(*e.kids[1], bound, out);
    bound->pop_back();
    return;
  }
  for (const ExprPtr& k : e.kids)
    if (k) FreeNames(*k, bound, out);
}

class Expander {
 public:
  explicit Expander(Context& ctx) : ctx_(ctx), used_(ctx.policy->lets.size(), false) {
    ctx.let_free_names.assign(ctx.policy->lets.size(), {});
    for (size_t i = 0; i < ctx.policy->lets.size(); ++i) {
      const std::string& n = ctx.policy->lets[i].name;
      if (!ctx.IsRoot(n)) index_.emplace(n, int(i));  // first declaration wins
    }
  }

  // Expands the lets inside `e`; `visible` = lets [0, visible) may be used.
  void Expand(ExprPtr& e, size_t visible, int self, uint32_t depth) {
    if (!e) return;
    if (depth > ctx_.options.limits.max_nesting_depth * 4) return;  // reported by resolve
    if (e->kind == ExprKind::kName) {
      if (std::find(locals_.begin(), locals_.end(), e->name) != locals_.end()) return;
      auto it = index_.find(e->name);
      if (it == index_.end()) return;
      int i = it->second;
      const ast::LetDecl& let = ctx_.policy->lets[i];
      if (size_t(i) >= visible) {
        ctx_.Error("tg_unknown_name", e->span,
                   i == self ? "let `" + e->name + "` refers to itself"
                             : "let `" + e->name + "` is used before it is declared",
                   "a let may use only the lets declared above it");
        used_[i] = true;
        e->index = -2;  // reported: resolve stays quiet
        return;
      }
      used_[i] = true;
      for (const std::string& n : ctx_.let_free_names[i]) {
        if (std::find(locals_.begin(), locals_.end(), n) == locals_.end()) continue;
        ctx_.Error("tg_duplicate_name", e->span,
                   "the quantifier variable `" + n + "` hides the `" + n + "` that let `" +
                       e->name + "` reads",
                   "rename the quantifier variable");
        e->index = -2;
        return;
      }
      if (!let.expr) return;
      if (added_ + sizes_[i] > kMaxExpandedNodes) {
        if (!too_big_reported_)
          ctx_.Error("tg_limit_exceeded", e->span,
                     "using let `" + e->name + "` here makes the expression larger than " +
                         std::to_string(kMaxExpandedNodes) + " nodes",
                     "lets are copied where they are used; use fewer nested lets");
        too_big_reported_ = true;
        e->index = -2;
        return;
      }
      added_ += sizes_[i];
      e = ast::Clone(*let.expr);
      return;
    }
    if (e->kind == ExprKind::kQuantifier && e->kids.size() == 2) {
      Expand(e->kids[0], visible, self, depth + 1);
      locals_.push_back(e->name);
      Expand(e->kids[1], visible, self, depth + 1);
      locals_.pop_back();
      return;
    }
    for (ExprPtr& k : e->kids) Expand(k, visible, self, depth + 1);
  }

  void Roots() {
    auto& p = *ctx_.policy;
    size_t all = p.lets.size();
    sizes_.assign(p.lets.size(), 1);
    for (size_t i = 0; i < p.lets.size(); ++i) {
      locals_.clear();
      added_ = 0;
      too_big_reported_ = false;
      Expand(p.lets[i].expr, i, int(i), 1);
      if (p.lets[i].expr) sizes_[i] = CountNodes(*p.lets[i].expr);
      std::vector<std::string> bound;
      if (p.lets[i].expr) FreeNames(*p.lets[i].expr, &bound, &ctx_.let_free_names[i]);
    }
    auto root = [&](ExprPtr& e) {
      locals_.clear();
      added_ = 0;
      too_big_reported_ = false;
      Expand(e, all, -1, 1);
    };
    for (auto& c : p.consts) root(c.expr);
    for (auto& r : p.rules) {
      root(r.when);
      root(r.mode_when);
      // A message or tag may name the variables of `when` (its witnesses):
      // such a name is never a let (resolve reports one that is no witness).
      std::vector<std::string> when_vars;
      if (r.when) QuantifierNames(*r.when, &when_vars, 1);
      for (auto& f : r.effects) {
        const bool sees_when = f.kind == ast::EffectKind::kDeny ||
                               f.kind == ast::EffectKind::kWarn || f.kind == ast::EffectKind::kTag;
        if (sees_when && f.expr) {
          locals_ = when_vars;
          added_ = 0;
          too_big_reported_ = false;
          Expand(f.expr, all, -1, 1);
        } else {
          root(f.expr);
        }
        for (auto& h : f.hints) root(h.expr);
      }
    }
    for (auto& b : p.budgets) {
      root(b.key);
      root(b.limit);
    }
    for (auto& l : p.limits) {
      root(l.key);
      root(l.max);
    }
    for (auto& f : p.fixtures)
      for (auto& b : f.given) root(b.value);
    for (auto& t : p.tests) {
      for (auto& b : t.given) root(b.value);
      for (auto& b : t.candidate) root(b.value);
      for (auto& x : t.expects) {
        root(x.value);
        if (x.hint) root(x.hint->expr);
      }
    }
    for (size_t i = 0; i < p.lets.size(); ++i) {
      auto it = index_.find(p.lets[i].name);
      bool duplicate = it == index_.end() || it->second != int(i);
      if (!used_[i] && !duplicate && !ctx_.IsRoot(p.lets[i].name))
        ctx_.Warning("tg_unused_let", p.lets[i].span, "let `" + p.lets[i].name + "` is never used",
                     "remove it, or use it in a rule");
    }
  }

 private:
  static void QuantifierNames(const Expr& e, std::vector<std::string>* out, size_t depth) {
    if (depth > kMaxExpandedNodes) return;
    if (e.kind == ExprKind::kQuantifier) out->push_back(e.name);
    for (const auto& k : e.kids) QuantifierNames(*k, out, depth + 1);
  }

  Context& ctx_;
  std::map<std::string, int> index_;
  std::vector<bool> used_;
  std::vector<std::string> locals_;
  std::vector<size_t> sizes_;  // nodes of each let's expanded expression
  size_t added_ = 0;           // nodes copied into the current root
  bool too_big_reported_ = false;
};

}  // namespace

bool Lets(Context& ctx) {
  int before = ctx.errors;
  Expander x(ctx);
  x.Roots();
  return ctx.errors == before;
}

}  // namespace tollgate::check
