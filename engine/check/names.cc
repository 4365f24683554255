// Pass `names`: a comparison of a name field with a constant it can never
// equal. Policies see canonical model ids and base provider slugs
// (stdlib/names.h), so `provider.name == "azure/sweden"` or
// `request.model in {"openai/gpt-4o:free"}` is always false: a warning
// (tg_name_never_matches) names the field that holds the full name.
#include "engine/check/passes.h"
#include "stdlib/names.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;

// What a name field holds, and the field with the full name.
struct NameField {
  const char* path;
  bool provider;     // base provider slug (else a canonical model id)
  const char* full;  // the field to compare instead
};
constexpr NameField kNameFields[] = {
    {"provider.name", true, "provider.slug"},
    {"request.model", false, "request.model_full"},
    {"request.models", false, "request.models_full"},
    {"endpoint.model", false, "endpoint.model_full"},
};

class NameChecker {
 public:
  explicit NameChecker(Context& ctx) : ctx_(ctx) {}

  void Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) Compare(e);
    for (auto& k : e.kids) Walk(*k, depth + 1);
  }
  void Reset() { depth_reported_ = false; }

 private:
  const NameField* FieldOf(const Expr& e) const {
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
    if (f.provider) {
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
};

}  // namespace

bool Names(Context& ctx) {
  NameChecker n(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) {
    n.Reset();
    n.Walk(*root.expr, 1);
  }
  return true;  // warnings only
}

}  // namespace tollgate::check
