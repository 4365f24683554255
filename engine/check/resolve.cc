// Pass `resolve`: what every name, member chain and callee refers to.
//
// A chain such as `request.provider.zdr` resolves to one schema field on its
// outermost member node (inner nodes become kNamespace); `dlp.credit_card` to
// a detector; a plain name to a quantifier variable (innermost first), a
// const (declared above, when inside a const), or a data document. Member
// accesses on values (`m.role`) are left to the types pass.
#include <algorithm>
#include <map>

#include "engine/check/passes.h"
#include "stdlib/builtins.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::RefKind;

std::vector<std::string> BuiltinNames() {
  std::vector<std::string> names;
  for (const auto& b : stdlib::Builtins()) {
    std::string n(b.name);
    if (names.empty() || names.back() != n) names.push_back(n);
  }
  return names;
}

class Resolver {
 public:
  explicit Resolver(Context& ctx) : ctx_(ctx) {
    const auto& p = *ctx.policy;
    // Reserved names were reported by `declarations`; they never shadow roots.
    for (size_t i = 0; i < p.consts.size(); ++i)
      if (!ctx.IsRoot(p.consts[i].name)) consts_.emplace(p.consts[i].name, int(i));
    for (size_t i = 0; i < p.data.size(); ++i)
      if (!ctx.IsRoot(p.data[i].name)) data_.emplace(p.data[i].name, int(i));
    for (size_t i = 0; i < p.lets.size(); ++i)
      if (!ctx.IsRoot(p.lets[i].name)) lets_.emplace(p.lets[i].name, int(i));
    paths_ = ctx.schema->Paths();
    for (const auto& d : stdlib::DetectorNames()) paths_.push_back(d);
  }

  void Root(const check::Root& root) {
    root_ = root;
    locals_.clear();
    slots_.clear();
    next_slot_ = 0;
    witnesses_ = 0;
    depth_reported_ = false;
    // Messages and tag values see the witnesses of their rule's `when`
    // (resolved earlier: `when` comes first in CollectRoots). Their own
    // quantifiers take slots after every slot of `when`.
    if (root.role == Role::kMessage || root.role == Role::kTag) {
      const ast::Rule& rule = ctx_.policy->rules[root.owner];
      for (const auto& [name, q] : Witnesses(rule.when.get())) {
        if (q->index < 0) continue;
        locals_.push_back(name);
        slots_.push_back(q->index);
      }
      witnesses_ = locals_.size();
      next_slot_ = when_slots_.count(root.owner) ? when_slots_[root.owner] : 0;
    }
    Walk(*root.expr, 1, /*is_callee_base=*/false);
    if (root.role == Role::kWhen) when_slots_[root.owner] = next_slot_;
  }

 private:
  void Walk(Expr& e, uint32_t depth, bool unused) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    switch (e.kind) {
      case ExprKind::kName:
      case ExprKind::kMember:
        if (IsPureChain(e)) {
          ResolveChain(e, depth);
          return;
        }
        break;
      case ExprKind::kCall:
        ResolveCall(e);
        break;
      case ExprKind::kQuantifier: {
        if (e.kids.size() != 2) return;
        Walk(*e.kids[0], depth + 1, false);
        if (ctx_.IsRoot(e.name)) {
          ctx_.Error("tg_duplicate_name", e.span,
                     "quantifier variable `" + e.name + "` uses a reserved name",
                     "`" + e.name + "` is the root of schema fields; choose another name");
        } else if (const Span* decl = DeclarationOf(e.name)) {
          // One name, two values: inside the quantifier the element, in a
          // message hole (where the variable is not a witness) the const.
          const std::string kind = DeclarationKind(e.name);
          ctx_.ErrorWithNote("tg_duplicate_name", e.span,
                             "quantifier variable `" + e.name + "` hides " + kind + " `" + e.name + "`",
                             "rename the variable (or the " + kind + "): inside the quantifier `" +
                                 e.name + "` would be the element, elsewhere in the rule the " + kind,
                             *decl, "the " + kind + " `" + e.name + "` is declared here");
        } else if (std::find(locals_.begin() + witnesses_, locals_.end(), e.name) != locals_.end()) {
          // (A quantifier in a message or tag may reuse a witness's name: it hides it.)
          ctx_.Error("tg_duplicate_name", e.span,
                     "quantifier variable `" + e.name + "` is already defined",
                     "an enclosing quantifier uses `" + e.name + "`; choose another name");
        }
        // INVARIANT: every quantifier of a root has its own slot, numbered in
        // pre-order, so a nested quantifier's slot is above its ancestors'
        // and a witness's slot keeps its value after `when` returns.
        e.index = next_slot_++;
        locals_.push_back(e.name);
        slots_.push_back(e.index);
        Walk(*e.kids[1], depth + 1, false);
        locals_.pop_back();
        slots_.pop_back();
        return;
      }
      case ExprKind::kMap: {
        std::map<std::string, bool> seen;
        for (size_t i = 0; i < e.keys.size() && i < e.kids.size(); ++i)
          if (!seen.emplace(e.keys[i], true).second)
            ctx_.Error("tg_duplicate_name", e.kids[i]->span,
                       "key `" + e.keys[i] + "` appears twice in the map",
                       "remove one of the entries");
        break;
      }
      default:
        break;
    }
    for (auto& k : e.kids) Walk(*k, depth + 1, false);
  }

  static bool IsPureChain(const Expr& e) {
    const Expr* x = &e;
    while (x->kind == ExprKind::kMember && !x->kids.empty()) x = x->kids[0].get();
    return x->kind == ExprKind::kName;
  }

  // nodes[0] is the root name, nodes.back() is `e`.
  void ResolveChain(Expr& e, uint32_t depth) {
    std::vector<Expr*> nodes;
    for (Expr* x = &e;; x = x->kids[0].get()) {
      nodes.push_back(x);
      if (x->kind == ExprKind::kName) break;
    }
    std::reverse(nodes.begin(), nodes.end());
    if (ctx_.DepthExceeded(depth + uint32_t(nodes.size()), e.span, &depth_reported_)) return;
    Expr& root = *nodes[0];
    if (root.name == "budget" || root.name == "limit") return ResolveCounter(e, nodes);
    if (ResolvePlainName(root)) return;  // the rest are value members (types pass)
    if (!ctx_.IsRoot(root.name)) {
      ReportUnknownName(root, nodes);
      return;
    }
    std::string path = root.name;
    root.ref = RefKind::kNamespace;
    for (size_t i = 1; i < nodes.size(); ++i) {
      Expr& n = *nodes[i];
      path += "." + n.name;
      int field = ctx_.schema->Find(path);
      if (field >= 0) {
        n.ref = RefKind::kField;
        n.index = field;
        n.scope = ctx_.schema->field(field).scope;
        n.type = ctx_.schema->field(field).type;
        return;
      }
      int det = stdlib::FindDetector(path);
      if (det >= 0) {
        n.ref = RefKind::kDetector;
        n.index = det;
        n.type = Type(Kind::kPattern);
        return;
      }
      if (ctx_.schema->IsPrefix(path) || IsDetectorPrefix(path)) {
        n.ref = RefKind::kNamespace;
        continue;
      }
      std::string help;
      if (!stdlib::FindBuiltin(path).empty())
        help = "`" + path + "` is a function: call it as `" + path + "(...)`";
      else
        help = DidYouMean(path, paths_);
      if (help.empty())
        help = "the standard fields are listed in docs/decision-input.md; a deployment adds its "
               "own with a schema extension: `schema \"fields.json\"` after the `policy` header "
               "(or --schema)";
      ctx_.Error("tg_unknown_field", n.span, "unknown field `" + path + "`", help);
      return;
    }
    // The chain ended on a prefix: a namespace is not a value.
    std::string example;
    for (const auto& p : paths_)
      if (p.size() > path.size() && p.compare(0, path.size(), path) == 0 && p[path.size()] == '.') {
        example = p;
        break;
      }
    ctx_.Error("tg_unknown_field", e.span, "`" + path + "` is not a field",
               example.empty() ? "name a field under `" + path + "`"
                               : "name a field under it, such as `" + example + "`");
    e.ref = RefKind::kUnresolved;
  }

  static bool QuantifiesIn(const Expr* e, const std::string& name) {
    if (e == nullptr) return false;
    if (e->kind == ExprKind::kQuantifier && e->name == name) return true;
    for (const auto& k : e->kids)
      if (QuantifiesIn(k.get(), name)) return true;
    return false;
  }

  // `budget.<name>.spent|remaining|limit`, `limit.<name>.used|remaining|max`.
  void ResolveCounter(Expr& e, const std::vector<Expr*>& nodes) {
    const auto& p = *ctx_.policy;
    const bool is_budget = nodes[0]->name == "budget";
    for (Expr* n : nodes) n->ref = RefKind::kNamespace;
    std::vector<std::string> names;
    if (is_budget) {
      for (const auto& b : p.budgets) names.push_back(b.name);
    } else {
      for (const auto& l : p.limits) names.push_back(l.name);
    }
    const std::vector<std::string> fields =
        is_budget ? std::vector<std::string>{"spent", "remaining", "limit"}
                  : std::vector<std::string>{"used", "remaining", "max"};
    const std::string what = is_budget ? "budget" : "limit";
    const std::string shape = what + ".<name>." + fields[0];
    if (nodes.size() < 3) {
      ctx_.Error("tg_unknown_field", e.span, "`" + SourceTextOf(nodes) + "` is not a value",
                 "read a counter such as `" + shape + "`");
      e.ref = RefKind::kUnresolved;
      return;
    }
    const Expr& name = *nodes[1];
    auto it = std::find(names.begin(), names.end(), name.name);
    if (it == names.end()) {
      ctx_.Error("tg_unknown_name", name.span, "unknown " + what + " `" + name.name + "`",
                 names.empty() ? "the policy declares no " + what : DidYouMean(name.name, names));
      e.ref = RefKind::kUnresolved;
      return;
    }
    Expr& field = *nodes[2];
    auto f = std::find(fields.begin(), fields.end(), field.name);
    if (f == fields.end()) {
      ctx_.Error("tg_unknown_field", field.span, "unknown counter `" + field.name + "` of " + what + " `" + name.name + "`",
                 "a " + what + " has `" + fields[0] + "`, `" + fields[1] + "` and `" + fields[2] + "`");
      e.ref = RefKind::kUnresolved;
      return;
    }
    if (nodes.size() > 3) {
      ctx_.Error("tg_unknown_field", nodes[3]->span, "a counter has no member `" + nodes[3]->name + "`",
                 "read the counter itself, such as `" + what + "." + name.name + "." + field.name + "`");
      e.ref = RefKind::kUnresolved;
      return;
    }
    field.ref = RefKind::kCounter;
    field.index = ast::CounterSlot(p.budgets.size(), is_budget, size_t(it - names.begin()), int(f - fields.begin()));
    field.type = Type(is_budget ? Kind::kMoney : Kind::kInt);
  }

  static std::string SourceTextOf(const std::vector<Expr*>& nodes) {
    std::string s;
    for (const Expr* n : nodes) s += (s.empty() ? "" : ".") + n->name;
    return s;
  }

  static bool IsDetectorPrefix(const std::string& path) {
    for (const auto& d : stdlib::DetectorNames())
      if (d.size() > path.size() && d.compare(0, path.size(), path) == 0 && d[path.size()] == '.')
        return true;
    return false;
  }

  // The declaration span of the const, data document or let named `name`, or null.
  const Span* DeclarationOf(const std::string& name) const {
    const auto& p = *ctx_.policy;
    if (auto c = consts_.find(name); c != consts_.end()) return &p.consts[c->second].span;
    if (auto d = data_.find(name); d != data_.end()) return &p.data[d->second].span;
    if (auto l = lets_.find(name); l != lets_.end()) return &p.lets[l->second].span;
    return nullptr;
  }
  std::string DeclarationKind(const std::string& name) const {
    return consts_.count(name) ? "const" : data_.count(name) ? "data document" : "let";
  }

  // Locals, consts and data documents. Returns false when `n` is none of them.
  bool ResolvePlainName(Expr& n) {
    for (size_t i = locals_.size(); i-- > 0;) {
      if (locals_[i] == n.name) {
        n.ref = RefKind::kLocal;
        n.index = slots_[i];
        return true;
      }
    }
    // A message or tag naming a variable of its rule's `when` that is not a
    // witness: it has no value when the rule fires, and never falls back to
    // a const, data document or let of the same name.
    if ((root_.role == Role::kMessage || root_.role == Role::kTag) && DeclarationOf(n.name) &&
        QuantifiesIn(ctx_.policy->rules[root_.owner].when.get(), n.name)) {
      ctx_.Error("tg_unknown_name", n.span,
                 "`" + n.name + "` names the quantifier variable of `when`, which has no value when the rule fires",
                 "a message or tag can name the variable of an `any` quantifier joined by `and` at "
                 "the top of `when`; the " + DeclarationKind(n.name) + " `" + n.name +
                     "` is hidden by the variable: rename one of them");
      if (auto c = consts_.find(n.name); c != consts_.end()) ctx_.const_used[c->second] = true;
      n.ref = RefKind::kUnresolved;
      n.index = -2;  // reported
      return true;
    }
    auto c = consts_.find(n.name);
    if (c != consts_.end()) {
      if (root_.role == Role::kConst && c->second >= root_.owner) {
        ctx_.Error("tg_unknown_name", n.span,
                   c->second == root_.owner ? "const `" + n.name + "` refers to itself"
                                            : "const `" + n.name + "` is used before it is declared",
                   "a const may use only the consts declared above it");
        n.ref = RefKind::kUnresolved;
        n.index = -2;  // marks "reported" for the types pass
        ctx_.const_used[c->second] = true;  // not also "unused"
        return true;
      }
      n.ref = RefKind::kConst;
      n.index = c->second;
      ctx_.const_used[c->second] = true;
      return true;
    }
    auto d = data_.find(n.name);
    if (d != data_.end()) {
      n.ref = RefKind::kData;
      n.index = d->second;
      return true;
    }
    if (lets_.count(n.name)) {
      // Every valid use was expanded by the `lets` pass; this one was
      // reported there (used before its declaration, or a hidden name).
      n.ref = RefKind::kUnresolved;
      n.index = -2;
      return true;
    }
    return false;
  }

  void ReportUnknownName(Expr& root, const std::vector<Expr*>& nodes) {
    std::vector<std::string> names = locals_;
    for (const auto& [k, i] : consts_)
      if (root_.role != Role::kConst || i < root_.owner) names.push_back(k);
    for (const auto& [k, i] : data_) names.push_back(k);
    for (const auto& [k, i] : lets_) names.push_back(k);
    for (const auto& r : ctx_.roots) names.push_back(r);
    std::string help = DidYouMean(root.name, names);
    // The author meant that const: do not also call it unused.
    if (auto m = consts_.find(ClosestMatch(root.name, names)); m != consts_.end())
      ctx_.const_used[m->second] = true;
    if (help.empty() && nodes.size() > 1) {
      // `user.jurisdiction`: look for a field with the same tail.
      std::string tail;
      for (size_t i = 1; i < nodes.size(); ++i) tail += "." + nodes[i]->name;
      std::vector<std::string> same_tail;
      for (const auto& p : paths_)
        if (p.size() > tail.size() && p.compare(p.size() - tail.size(), tail.size(), tail) == 0 &&
            p.find('.') == p.size() - tail.size())
          same_tail.push_back(p);
      if (!same_tail.empty()) help = "did you mean `" + same_tail.front() + "`?";
    }
    if (help.empty() && (root_.role == Role::kMessage || root_.role == Role::kTag) &&
        nodes.size() == 1 && QuantifiesIn(ctx_.policy->rules[root_.owner].when.get(), root.name)) {
      help = "`" + root.name + "` need not have a value when the rule fires: a message or tag "
             "can name the variable of an `any` quantifier joined by `and` at the top of `when`";
    }
    if (help.empty()) {
      std::string roots;
      for (const auto& r : ctx_.roots) roots += (roots.empty() ? "`" : "`, `") + r;
      help = "a name is a const, let or data declared in this policy, a quantifier variable, or a "
             "schema root (" + roots + "`); strings need double quotes";
    }
    ctx_.Error("tg_unknown_name", root.span, "unknown name `" + root.name + "`", help);
  }

  void ResolveCall(Expr& e) {
    if (!stdlib::FindBuiltin(e.name).empty()) return;
    Span at = e.span;
    if (ctx_.Text(e.span).substr(0, e.name.size()) == e.name) at = SubSpan(e.span, 0, e.name.size());
    std::string help;
    size_t dot = e.name.rfind('.');
    if (stdlib::FindDetector(e.name) >= 0) {
      help = "`" + e.name + "` is a detector: write `text matches " + e.name + "`";
    } else if (dot != std::string::npos && !stdlib::FindBuiltin(e.name.substr(dot + 1)).empty()) {
      help = "write `" + e.name.substr(dot + 1) + "(" + e.name.substr(0, dot) + ", ...)`";
    } else {
      if (builtin_names_.empty()) builtin_names_ = BuiltinNames();
      help = DidYouMean(e.name, builtin_names_);
      if (help.empty()) {
        help = "policies cannot define functions; the built-ins are";
        for (size_t i = 0; i < builtin_names_.size(); ++i)
          help += (i ? ", `" : " `") + builtin_names_[i] + "`";
      }
    }
    ctx_.Error("tg_unknown_function", at, "unknown function `" + e.name + "`", help);
    e.index = -2;  // reported
  }

  static std::string DidYouMean(const std::string& name, const std::vector<std::string>& cands) {
    std::string m = ClosestMatch(name, cands);
    return m.empty() ? "" : "did you mean `" + m + "`?";
  }

  Context& ctx_;
  check::Root root_{Role::kConst, nullptr, 0};
  std::map<std::string, int> consts_, data_, lets_;
  std::vector<std::string> paths_;
  std::vector<std::string> builtin_names_;
  std::vector<std::string> locals_;  // names in scope, innermost last
  std::vector<int32_t> slots_;       // their slots
  int32_t next_slot_ = 0;
  size_t witnesses_ = 0;             // locals_[0, witnesses_) are witnesses of `when`
  std::map<int, int32_t> when_slots_;  // rule -> slots used by its `when`
  bool depth_reported_ = false;
};

}  // namespace

bool Resolve(Context& ctx) {
  int before = ctx.errors;
  Resolver r(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) r.Root(root);
  std::unordered_set<std::string_view> seen;  // linear: a policy may hold many consts
  for (size_t i = 0; i < ctx.policy->consts.size(); ++i) {
    const auto& c = ctx.policy->consts[i];
    bool duplicate = !seen.insert(c.name).second;  // reported by `declarations`
    if (!ctx.const_used[i] && !ctx.IsRoot(c.name) && !duplicate)
      ctx.Warning("tg_unused_const", c.span, "const `" + c.name + "` is never used",
                  "remove it, or use it in a rule");
  }
  return ctx.errors == before;
}

}  // namespace tollgate::check
