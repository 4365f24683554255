// Pass `names`: a comparison of a name field with a constant it can never
// equal. Policies see canonical model ids and base provider slugs
// (stdlib/names.h), so `provider.name == "azure/sweden"` or
// `request.model in {"openai/gpt-4o:free"}` is always false: a warning
// (tg_name_never_matches) names the field that holds the full name; so is
// a country code that is not upper case or a provider slug that is not lower
// case (the catalog holds neither). A policy that denies on the requested
// model but never reads the fallback models gets tg_fallback_unchecked.
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

bool Denies(const ast::Rule& r) {
  for (const ast::Effect& e : r.effects)
    if (e.kind == ast::EffectKind::kDeny) return true;
  return false;
}

// tg_fallback_unchecked: rules deny on the requested model (a ban or an
// allowlist over `request.model`) but the policy never looks at the
// fallback models. The router serves `models` too when the primary fails,
// so a request naming a banned model as a fallback gets it. Silent when
// some denying rule reads the fallbacks (`request.models`, ...), or when a
// require governs the model served (`endpoint.model`), which covers them.
// Only for a policy without errors: a whole-policy heuristic would only add
// noise to a list of mistakes.
void FallbackUnchecked(Context& ctx) {
  if (ctx.errors > 0) return;
  const ast::Policy& policy = *ctx.policy;
  for (const ast::Rule& r : policy.rules) {
    for (const ast::Effect& e : r.effects)
      if (e.kind == ast::EffectKind::kRequire && e.expr &&
          FindField(ctx, *e.expr, {"endpoint.model", "endpoint.model_full",
                                   "endpoint.model_variant"}))
        return;
    if (r.when && Denies(r) &&
        FindField(ctx, *r.when, {"request.models", "request.models_full"}))
      return;
  }
  for (const ast::Rule& r : policy.rules) {
    if (!r.when || !Denies(r)) continue;
    const Expr* model =
        FindField(ctx, *r.when, {"request.model", "request.model_full", "request.model_variant"});
    if (!model) continue;
    ctx.Warning("tg_fallback_unchecked", model->span,
                "rule `" + r.name + "` denies on the requested model, but no rule checks the "
                    "fallback models in `request.models`, which are routed too",
                "check them as well, e.g. `when any m in request.models: m not in approved`, or "
                "restrict the model served with `require endpoint.model in approved`");
  }
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
