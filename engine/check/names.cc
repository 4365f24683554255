// Pass `names`: a comparison of a name field with a constant it can never
// equal. Policies see canonical model ids and base provider slugs
// (stdlib/names.h), so `provider.name == "azure/sweden"` or
// `request.model in {"openai/gpt-4o:free"}` is always false: a warning
// (tg_name_never_matches) names the field that holds the full name; so is
// a country code that is not upper case or a provider slug that is not lower
// case (the catalog holds neither). A policy that denies on the requested
// model, or applies a require by it, without reading the fallback models
// gets tg_fallback_unchecked.
#include "engine/check/passes.h"
#include "stdlib/names.h"

#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;

// What a name field holds, and the field with the full name.
enum class Holds : uint8_t {
  kBaseProvider,  // a base provider slug (lower case, no region or tier)
  kProviderSlug,  // a full provider slug (lower case)
  kModelId,       // a canonical model id (no variant suffix)
  kCountry,       // an ISO 3166-1 alpha-2 code, upper case (the catalog checks it)
};
struct NameField {
  const char* path;
  Holds holds;
  const char* full;  // the field to compare instead (kBaseProvider, kModelId)
};
constexpr NameField kNameFields[] = {
    {"provider.name", Holds::kBaseProvider, "provider.slug"},
    {"provider.slug", Holds::kProviderSlug, ""},
    {"provider.jurisdiction", Holds::kCountry, ""},
    {"request.model", Holds::kModelId, "request.model_full"},
    {"request.models", Holds::kModelId, "request.models_full"},
    {"endpoint.model", Holds::kModelId, "endpoint.model_full"},
};

class NameChecker {
 public:
  explicit NameChecker(Context& ctx) : ctx_(ctx) {}

  void Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) Compare(e);
    // `any m in request.models: m == "x:free"`: the variable holds what the
    // list's elements hold.
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.index >= 0)
      if (const NameField* f = FieldOf(*e.kids[0])) locals_.emplace_back(e.index, f);
    for (auto& k : e.kids) Walk(*k, depth + 1);
  }
  void Reset() {
    depth_reported_ = false;
    locals_.clear();  // slots are numbered per root
  }

 private:
  const NameField* FieldOf(const Expr& e) const {
    if (e.ref == RefKind::kLocal) {
      for (const auto& [slot, f] : locals_)
        if (slot == e.index) return f;
      return nullptr;
    }
    if (e.ref != RefKind::kField || e.index < 0) return nullptr;
    const std::string& path = ctx_.schema->field(e.index).path;
    for (const NameField& f : kNameFields)
      if (path == f.path) return &f;
    return nullptr;
  }

  void Compare(Expr& e) {
    Expr& a = *e.kids[0];
    Expr& b = *e.kids[1];
    switch (e.op) {
      case Op::kEq:
      case Op::kNe:
        if (const NameField* f = FieldOf(a)) Constant(*f, b);
        else if (const NameField* g = FieldOf(b)) Constant(*g, a);
        break;
      case Op::kIn:
      case Op::kNotIn:
        // `field in {consts}` and `const in request.models`.
        if (const NameField* f = FieldOf(a)) Constant(*f, b);
        else if (const NameField* g = FieldOf(b); g && g->path == std::string_view("request.models"))
          Constant(*g, a);
        break;
      default:
        break;
    }
  }

  // Warns for each string of the constant `c` (a string, set or list) that
  // field `f` can never hold.
  void Constant(const NameField& f, Expr& c) {
    std::optional<Value> v = FoldExpr(ctx_, c);
    if (!v) return;
    if (v->kind == Kind::kString) {
      Check(f, c, v->sv());
    } else if (v->kind == Kind::kSet && v->set) {
      for (const Value& x : v->set->items)
        if (x.kind == Kind::kString && Check(f, c, x.sv())) return;
    } else if (v->kind == Kind::kList && v->list) {
      for (const Value& x : v->list->items)
        if (x.kind == Kind::kString && Check(f, c, x.sv())) return;
    }
  }

  bool Check(const NameField& f, const Expr& at, std::string_view s) {
    if (f.holds == Holds::kCountry) {
      if (stdlib::IsCountryCode(s)) return false;
      std::string upper(s);
      for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      ctx_.Warning("tg_name_never_matches", at.span,
                   "`" + std::string(f.path) + "` is an upper-case ISO 3166-1 alpha-2 country "
                       "code and never equals `" + std::string(s) + "`",
                   upper.size() == 2 ? "write `" + upper + "`"
                                     : std::string("name each country by its two-letter code"));
      return true;
    }
    if (f.holds != Holds::kModelId && !stdlib::IsSlugText(s)) {
      std::string lower(s);
      for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      ctx_.Warning("tg_name_never_matches", at.span,
                   "`" + std::string(f.path) + "` is a lower-case provider slug and never equals `" +
                       std::string(s) + "`",
                   "write `" + lower + "`");
      return true;
    }
    if (f.holds == Holds::kProviderSlug) return false;
    if (f.holds == Holds::kBaseProvider) {
      std::string_view base = stdlib::ProviderBase(s);
      if (base.size() == s.size()) return false;
      ctx_.Warning("tg_name_never_matches", at.span,
                   "`" + std::string(f.path) + "` is a base provider slug and never equals `" +
                       std::string(s) + "`",
                   "compare `" + std::string(f.full) + "` for the full slug, or write `" +
                       std::string(base) + "` to match every region and tier of it");
      return true;
    }
    stdlib::ModelName n = stdlib::SplitModel(s);
    if (n.variant.empty()) return false;
    ctx_.Warning("tg_name_never_matches", at.span,
                 "`" + std::string(f.path) + "` holds model ids without their variant suffix and "
                     "never equals `" + std::string(s) + "`",
                 "write `" + std::string(n.id) + "` to cover every variant, or compare `" +
                     std::string(f.full) + "` for this variant only");
    return true;
  }

  Context& ctx_;
  bool depth_reported_ = false;
  std::vector<std::pair<int32_t, const NameField*>> locals_;  // quantifier slot -> field
};

// Model fields a rule may read, by what they cover.
bool IsField(const Context& ctx, const Expr& e, std::initializer_list<std::string_view> paths) {
  if (e.ref != RefKind::kField || e.index < 0) return false;
  const std::string& path = ctx.schema->field(e.index).path;
  for (std::string_view p : paths)
    if (path == p) return true;
  return false;
}

// The first node of `e` (pre-order) that reads one of `paths`.
const Expr* FindField(const Context& ctx, const Expr& e,
                      std::initializer_list<std::string_view> paths, uint32_t depth = 0) {
  if (depth > 512) return nullptr;  // deep enough: the depth guard of Walk reports it
  if (IsField(ctx, e, paths)) return &e;
  for (const auto& k : e.kids)
    if (const Expr* f = FindField(ctx, *k, paths, depth + 1)) return f;
  return nullptr;
}

bool Has(const ast::Rule& r, ast::EffectKind k) {
  for (const ast::Effect& e : r.effects)
    if (e.kind == k) return true;
  return false;
}

bool CapsPrice(const ast::Rule& r) {
  for (const ast::Effect& e : r.effects)
    if (e.kind == ast::EffectKind::kRoute)
      for (const ast::RouteHint& h : e.hints)
        if (h.kind == ast::RouteHintKind::kMaxPrice) return true;
  return false;
}

// The first node of the rule's condition -- its `when`, then the predicates
// of its requires -- that reads one of `paths`.
const Expr* FindInRule(const Context& ctx, const ast::Rule& r,
                       std::initializer_list<std::string_view> paths) {
  if (r.when)
    if (const Expr* f = FindField(ctx, *r.when, paths)) return f;
  for (const ast::Effect& e : r.effects)
    if (e.kind == ast::EffectKind::kRequire && e.expr)
      if (const Expr* f = FindField(ctx, *e.expr, paths)) return f;
  return nullptr;
}

// `e` is the integer constant `n`.
bool IsInt(Context& ctx, Expr& e, int64_t n) {
  std::optional<Value> v = FoldExpr(ctx, e);
  return v && v->kind == Kind::kInt && v->i == n;
}

// `e` is true exactly when the request names fallback models, in one of the
// plain forms (and their mirror images): `length(request.models) > 0`,
// `>= 1`, `!= 0`, `request.models != []`, `exists(request.models[0])`.
// Deliberately nothing cleverer: a form not recognised only keeps a warning.
bool HasFallbacksTest(Context& ctx, Expr& e) {
  auto models = [&](const Expr& x) {
    return IsField(ctx, x, {"request.models", "request.models_full"});
  };
  auto length_of_models = [&](const Expr& x) {
    return x.kind == ExprKind::kCall && x.name == "length" && x.kids.size() == 1 &&
           models(*x.kids[0]);
  };
  auto empty_list = [&](Expr& x) {
    if (x.kind == ExprKind::kList) return x.kids.empty();
    std::optional<Value> v = FoldExpr(ctx, x);
    return v && v->kind == Kind::kList && (!v->list || v->list->items.empty());
  };
  if (e.kind == ExprKind::kCall && e.name == "exists" && e.kids.size() == 1) {
    const Expr& x = *e.kids[0];
    return x.kind == ExprKind::kIndex && x.kids.size() == 2 && models(*x.kids[0]) &&
           IsInt(ctx, *x.kids[1], 0);
  }
  if (e.kind != ExprKind::kBinary || e.kids.size() != 2) return false;
  Expr& a = *e.kids[0];
  Expr& b = *e.kids[1];
  switch (e.op) {
    case Op::kGt:  // length(m) > 0, 1 > length(m) is no such test
      return length_of_models(a) && IsInt(ctx, b, 0);
    case Op::kLt:  // 0 < length(m)
      return length_of_models(b) && IsInt(ctx, a, 0);
    case Op::kGe:
      return length_of_models(a) && IsInt(ctx, b, 1);
    case Op::kLe:
      return length_of_models(b) && IsInt(ctx, a, 1);
    case Op::kNe:
      return (length_of_models(a) && IsInt(ctx, b, 0)) ||
             (length_of_models(b) && IsInt(ctx, a, 0)) || (models(a) && empty_list(b)) ||
             (models(b) && empty_list(a));
    default:
      return false;
  }
}

// The conjuncts of `e` (`a and b and c`), in order.
void Conjuncts(const Expr& e, std::vector<const Expr*>* out, uint32_t depth = 0) {
  if (depth < 512 && e.kind == ExprKind::kBinary && e.op == Op::kAnd && e.kids.size() == 2) {
    Conjuncts(*e.kids[0], out, depth + 1);
    Conjuncts(*e.kids[1], out, depth + 1);
    return;
  }
  out->push_back(&e);
}

// Structural equality of two checked expressions, reading `not (x in y)` as
// `x not in y`. Inside a fallback twin's quantifier body, the variable
// `local` of `b` stands for the field `field` of `a` (request.model).
struct SameExpr {
  const Context& ctx;
  int32_t local = -1;
  std::string_view field;

  static const Expr* Negated(const Expr& e, Op* op) {
    if (e.kind == ExprKind::kUnary && e.op == Op::kNot && e.kids.size() == 1 &&
        e.kids[0]->kind == ExprKind::kBinary && e.kids[0]->op == Op::kIn) {
      *op = Op::kNotIn;
      return e.kids[0].get();
    }
    *op = e.op;
    return &e;
  }

  bool operator()(const Expr& a0, const Expr& b0, uint32_t depth = 0) const {
    if (depth > 256) return false;
    if (b0.ref == RefKind::kLocal && b0.index == local && local >= 0)
      return IsField(ctx, a0, {field});
    Op oa, ob;
    const Expr& a = *Negated(a0, &oa);
    const Expr& b = *Negated(b0, &ob);
    if (a.kind != b.kind || oa != ob || a.name != b.name || a.quant_all != b.quant_all ||
        a.ref != b.ref || a.index != b.index || a.keys != b.keys || a.kids.size() != b.kids.size())
      return false;
    if (a.kind == ExprKind::kLiteral && !Equal(a.value, b.value)) return false;
    for (size_t i = 0; i < a.kids.size(); ++i)
      if (!(*this)(*a.kids[i], *b.kids[i], depth + 1)) return false;
    return true;
  }
};

// Rule `b` is the fallback twin of rule `a`: an enforced deny whose `when`
// is `a`'s with the one conjunct over the requested model, C, replaced by
// `any m in request.models: C'`, C' being C with `m` for `request.model`
// (the same for model_full / models_full). The shipped policies split a
// model allowlist this way, to name the fallback model in the reason:
//
//   rule model_not_allowed { when P and request.model not in allowed deny ... }
//   rule fallback_model_not_allowed {
//     when P and (any m in request.models: m not in allowed) deny "... {m} ..." }
bool FallbackTwin(const Context& ctx, const ast::Rule& a, const ast::Rule& b) {
  if (&a == &b || !a.when || !b.when || b.mode != ast::Mode::kEnforce ||
      !Has(b, ast::EffectKind::kDeny))
    return false;
  std::vector<const Expr*> ca, cb;
  Conjuncts(*a.when, &ca);
  Conjuncts(*b.when, &cb);
  if (ca.size() != cb.size()) return false;
  SameExpr same{ctx, -1, {}};
  for (size_t i = 0; i < ca.size(); ++i) {
    const Expr* model = FindField(ctx, *ca[i], {"request.model", "request.model_full"});
    if (!model) {
      if (!same(*ca[i], *cb[i])) return false;
      continue;
    }
    const Expr& q = *cb[i];
    const bool full = IsField(ctx, *model, {"request.model_full"});
    if (q.kind != ExprKind::kQuantifier || q.quant_all || q.kids.size() != 2 || q.index < 0 ||
        !IsField(ctx, *q.kids[0], {full ? "request.models_full" : "request.models"}))
      return false;
    SameExpr body{ctx, q.index, full ? "request.model_full" : "request.model"};
    if (!body(*ca[i], *q.kids[1])) return false;
  }
  return true;
}

// tg_fallback_unchecked, judged per rule. `request.model` is only the first
// model of a request: the router also serves the fallbacks of
// `request.models` when it fails (docs/routing.md). An enforced rule that
// denies, requires, redacts or caps the price by the requested model, and
// reads no fallback field itself, is bypassed by naming the model as a
// fallback. Another rule reading `request.models` does not cover it (it may
// test anything); only an enforced deny of every request with fallbacks
// (HasFallbacksTest), or, for a deny, its fallback twin (FallbackTwin) does. Shadow and advisory rules neither get the warning
// nor silence it; a rule shadowed only `when` some condition is enforced
// elsewhere and gets it. Budgets and limits are judged alike: one whose
// `when` or key reads the requested model, and no fallback field, does not
// count what a fallback model serves (`endpoint.model` does: such a budget is
// charged per endpoint). Only for a policy without errors.
void FallbackUnchecked(Context& ctx) {
  if (ctx.errors > 0) return;
  ast::Policy& policy = *ctx.policy;
  for (ast::Rule& r : policy.rules)
    if (r.mode == ast::Mode::kEnforce && r.when && Has(r, ast::EffectKind::kDeny) &&
        HasFallbacksTest(ctx, *r.when))
      return;
  for (const ast::Rule& r : policy.rules) {
    if (r.mode != ast::Mode::kEnforce && !r.mode_when) continue;
    const bool denies = Has(r, ast::EffectKind::kDeny);
    const bool reqs = Has(r, ast::EffectKind::kRequire);
    if (!denies && !reqs && !Has(r, ast::EffectKind::kRedact) && !CapsPrice(r)) continue;
    const Expr* model = FindInRule(ctx, r, {"request.model", "request.model_full", "request.model_variant"});
    if (!model || FindInRule(ctx, r, {"request.models", "request.models_full", "request.variants"}))
      continue;
    bool twin = false;
    if (denies && !reqs)
      for (const ast::Rule& b : policy.rules) twin = twin || FallbackTwin(ctx, r, b);
    if (twin) continue;
    const char* what = denies     ? "denies"
                       : reqs ? "applies its require"
                       : Has(r, ast::EffectKind::kRedact) ? "redacts"
                                                          : "caps the price";
    std::string help;
    if (reqs)
      help = "test `endpoint.model` -- the model actually served -- in the require instead, "
             "e.g. `require endpoint.model != \"m\" or ...`";
    if (denies || !reqs) {
      if (!help.empty()) help += "; ";
      help += "also test the fallbacks, e.g. `when request.model not in approved or "
              "(any m in request.models: m not in approved)`";
    }
    ctx.Warning("tg_fallback_unchecked", model->span,
                "rule `" + r.name + "` " + what + " by the requested model only, but the "
                    "fallback models in `request.models` are routed too",
                help + ", or deny every request with fallbacks (`when length(request.models) > 0`)");
  }
  auto declaration = [&](const char* kind, const std::string& name, Expr* when, Expr* key) {
    const Expr* model = nullptr;
    bool keyed = false;
    for (Expr* e : {when, key}) {
      if (e == nullptr || model != nullptr) continue;
      model = FindField(ctx, *e, {"request.model", "request.model_full", "request.model_variant"});
      keyed = model != nullptr && e == key;
    }
    if (!model) return;
    for (Expr* e : {when, key})
      if (e != nullptr && FindField(ctx, *e, {"request.models", "request.models_full", "request.variants"}))
        return;
    const std::string served = IsField(ctx, *model, {"request.model_full"})      ? "endpoint.model_full"
                               : IsField(ctx, *model, {"request.model_variant"}) ? "endpoint.model_variant"
                                                                                 : "endpoint.model";
    ctx.Warning("tg_fallback_unchecked", model->span,
                std::string(kind) + " `" + name + "` " + (keyed ? "is keyed" : "applies") +
                    " by the requested model only, but the fallback models in `request.models` "
                    "are served too, and their traffic is not counted there",
                std::string(keyed ? "key it by the model actually served, `key " + served + "`"
                                  : "test the model actually served, `when " + served + " == ...`") +
                    " (charged to the endpoint that answers, fallbacks included), or deny every "
                    "request with fallbacks (`when length(request.models) > 0`)");
  };
  for (ast::BudgetDecl& b : policy.budgets) declaration("budget", b.name, b.when.get(), b.key.get());
  for (ast::LimitDecl& l : policy.limits) declaration("limit", l.name, l.when.get(), l.key.get());
}

}  // namespace

bool Names(Context& ctx) {
  NameChecker n(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) {
    n.Reset();
    n.Walk(*root.expr, 1);
  }
  FallbackUnchecked(ctx);
  return true;  // warnings only
}

}  // namespace tollgate::check
