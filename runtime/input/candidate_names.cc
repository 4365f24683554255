#include "runtime/input/candidate_names.h"

#include "stdlib/names.h"

namespace tollgate::runtime {

void CompleteCandidateNames(const stdlib::Schema& schema, const std::function<bool(int slot)>& given,
                            vm::Record* cand) {
  auto slot = [&](const char* path) {
    int id = schema.Find(path);
    return id >= 0 && schema.field(id).scope == ast::Scope::kCandidate ? schema.field(id).slot : -1;
  };
  auto bound = [&](int s) { return s >= 0 && given(s); };
  auto str = [&](int s) -> const Value* {
    return s >= 0 && cand->slots[s].kind == Kind::kString ? &cand->slots[s] : nullptr;
  };
  const int name = slot("provider.name"), full_slug = slot("provider.slug");
  if (const Value* v = str(name); v && bound(name)) {
    if (full_slug >= 0 && !bound(full_slug)) cand->slots[full_slug] = *v;
    cand->slots[name] = Value::StringRef(stdlib::ProviderBase(v->sv()));
  } else if (const Value* f = str(full_slug); f && name >= 0 && !bound(name)) {
    cand->slots[name] = Value::StringRef(stdlib::ProviderBase(f->sv()));
  }
  const int model = slot("endpoint.model"), full = slot("endpoint.model_full"),
            variant = slot("endpoint.model_variant");
  const Value* from = str(model) && bound(model)                ? str(model)
                      : str(full) && model >= 0 && !bound(model) ? str(full)
                                                                 : nullptr;
  if (from) {
    const Value slug = *from;  // `from` may be one of the slots written below
    stdlib::ModelName n = stdlib::SplitModel(slug.sv());
    if (full >= 0 && !bound(full)) cand->slots[full] = slug;
    if (variant >= 0 && !bound(variant)) cand->slots[variant] = Value::StringRef(n.variant);
    if (model >= 0) cand->slots[model] = Value::StringRef(n.id);
  }
}

}  // namespace tollgate::runtime
