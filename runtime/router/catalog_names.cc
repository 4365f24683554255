// See catalog_names.h.
#include "runtime/router/catalog_names.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "engine/ast/ast.h"
#include "stdlib/names.h"

namespace tollgate::runtime {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;

// The fields whose values name something of the catalog: provider names,
// the served model, and the requested models (a request naming a model no
// endpoint serves is refused by the router, so a policy constant compared
// with one matches no request that is routed).
// Regions and endpoint ids are free text in the catalog: a region written
// another way (`"US-East-1"`, `"westeurope"` where the catalog says
// `"eastus2"`) is known only against it.
enum class NameField : uint8_t { kNone, kBase, kSlug, kModel, kRequestModel, kRequestModels, kRegion, kEndpointId };

class Walker {
 public:
  Walker(const Policy& policy, const Catalog& catalog, const std::string& path, Diagnostics* out)
      : policy_(policy), catalog_(catalog), path_(path), out_(out) {
    for (const Endpoint& e : catalog.endpoints()) {
      slugs_.insert(e.provider);
      bases_.insert(std::string(stdlib::ProviderBase(e.provider)));
      models_.insert(std::string(stdlib::SplitModel(e.model).id));
      regions_.insert(e.region);
      ids_.insert(e.id);
    }
  }

  void Run() {
    for (const ast::Rule& r : policy_.ast().rules) {
      locals_.clear();
      full_locals_.clear();
      if (r.when) Walk(*r.when);
      if (r.mode_when) Walk(*r.mode_when);
      for (const ast::Effect& ef : r.effects) {
        if (ef.expr) Walk(*ef.expr);
        for (const ast::RouteHint& h : ef.hints) {
          if (h.kind == ast::RouteHintKind::kOrder && h.expr) Order(*h.expr);
        }
      }
    }
  }

 private:
  NameField FieldOf(const Expr& e) const {
    if (e.kind == ExprKind::kName && e.ref == RefKind::kLocal && e.index >= 0) {
      // The variable of a quantifier over the requested models is one of them.
      auto it = locals_.find(e.index);
      return it == locals_.end() ? NameField::kNone : it->second;
    }
    if (e.ref != RefKind::kField || e.index < 0) return NameField::kNone;
    const std::string& p = policy_.schema().field(e.index).path;
    if (p == "provider.name") return NameField::kBase;
    if (p == "provider.slug") return NameField::kSlug;
    if (p == "endpoint.model") return NameField::kModel;
    if (p == "provider.region") return NameField::kRegion;
    if (p == "endpoint.id") return NameField::kEndpointId;
    // `_full` spellings carry a variant (`:free`), legal there: the model id
    // before it is what the catalog must hold (stdlib/names.h, SplitModel).
    if (p == "request.model" || p == "request.model_full") return NameField::kRequestModel;
    if (p == "request.models" || p == "request.models_full") return NameField::kRequestModels;
    return NameField::kNone;
  }
  static const char* PathOf(const Expr& e, const Policy& policy) {
    if (e.ref == RefKind::kField && e.index >= 0) return policy.schema().field(e.index).path.c_str();
    return nullptr;
  }

  // The constant value of `e`, when the checker folded it.
  const Value* Constant(const Expr& e) const {
    if (e.folded) return &*e.folded;
    if (e.ref == RefKind::kConst && e.index >= 0 &&
        static_cast<size_t>(e.index) < policy_.ast().consts.size()) {
      const ast::ConstDecl& c = policy_.ast().consts[e.index];
      if (c.expr && c.expr->folded) return &*c.expr->folded;
    }
    return nullptr;
  }

  static void Strings(const Value& v, bool elements, std::vector<std::string_view>* out) {
    if (!elements) {
      if (v.kind == Kind::kString) out->push_back(v.sv());
      return;
    }
    const std::vector<Value>* items = v.kind == Kind::kSet && v.set     ? &v.set->items
                                      : v.kind == Kind::kList && v.list ? &v.list->items
                                                                        : nullptr;
    if (!items) return;
    for (const Value& x : *items)
      if (x.kind == Kind::kString) out->push_back(x.sv());
  }

  void Walk(const Expr& e) {
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) Compare(e);
    if (e.kids.size() == 2 && e.kids[0] && e.kids[1] &&
        ((e.kind == ExprKind::kCall && (e.name == "starts_with" || e.name == "ends_with")) ||
         (e.kind == ExprKind::kBinary && (e.op == Op::kContains || e.op == Op::kMatches))))
      RegionPart(e), ModelPart(e);
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.index >= 0 && e.kids[0] &&
        FieldOf(*e.kids[0]) == NameField::kRequestModels) {
      locals_[e.index] = NameField::kRequestModel;
      const char* over = PathOf(*e.kids[0], policy_);
      if (over && std::string_view(over).ends_with("_full")) full_locals_.insert(e.index);
    }
    for (const auto& k : e.kids)
      if (k) Walk(*k);
  }

  void Compare(const Expr& e) {
    const Expr& a = *e.kids[0];
    const Expr& b = *e.kids[1];
    NameField f = NameField::kNone;
    const Expr* other = nullptr;
    bool elements = false;
    const Expr* field = nullptr;
    switch (e.op) {
      case Op::kEq:
      case Op::kNe:
        if ((f = FieldOf(a)) != NameField::kNone) other = &b, field = &a;
        else if ((f = FieldOf(b)) != NameField::kNone) other = &a, field = &b;
        break;
      case Op::kIn:
      case Op::kNotIn:
        if ((f = FieldOf(a)) != NameField::kNone) other = &b, field = &a, elements = true;
        // "m" in request.models: the constant is one requested model.
        else if (FieldOf(b) == NameField::kRequestModels) f = NameField::kRequestModel, other = &a, field = &b;
        break;
      case Op::kHas:
        if ((f = FieldOf(b)) != NameField::kNone) other = &a, field = &b, elements = true;
        else if (FieldOf(a) == NameField::kRequestModels) f = NameField::kRequestModel, other = &b, field = &a;
        break;
      default:
        return;
    }
    // A list of requested models compared as a whole (`request.models ==
    // [...]`): its elements are model names.
    if (f == NameField::kRequestModels) {
      f = NameField::kRequestModel;
      elements = true;
    }
    if (!other) return;
    const Value* c = Constant(*other);
    if (!c) return;
    std::vector<std::string_view> names;
    Strings(*c, elements, &names);
    const std::set<std::string>& known = f == NameField::kBase         ? bases_
                                         : f == NameField::kSlug       ? slugs_
                                         : f == NameField::kRegion     ? regions_
                                         : f == NameField::kEndpointId ? ids_
                                                                       : models_;
    const char* written = PathOf(*field, policy_);
    if (written == nullptr) written = "request.models";  // a quantifier's variable
    const std::string path = written;
    const char* what = f == NameField::kBase || f == NameField::kSlug ? "provider"
                       : f == NameField::kRegion                      ? "region"
                       : f == NameField::kEndpointId                  ? "endpoint"
                                                                      : "model";
    std::vector<std::string> missing;
    for (std::string_view s : names) {
      // "" is a neutral value; a misspelling tg_name_never_matches reports.
      if (s.empty()) continue;
      // A requested model may carry a variant (`:free`): its id is what an
      // endpoint serves. (On `request.model`, which never holds one,
      // tg_name_never_matches reports the variant.)
      const std::string_view id = f == NameField::kRequestModel ? stdlib::SplitModel(s).id : s;
      if (id.empty() || known.count(std::string(id))) continue;
      if (std::find(missing.begin(), missing.end(), s) == missing.end()) missing.emplace_back(s);
    }
    Report(e.span, missing, known, "`" + path + "` is compared with", what,
           f == NameField::kRequestModel ? "no request the catalog serves" : "no endpoint");
    if (f == NameField::kModel || f == NameField::kRequestModel) Snapshots(e.span, path, names);
  }

  // `provider.region starts_with "eu-"` (or ends_with, contains, matches): a region
  // name is its cloud's own -- AWS's `eu-west-2` is London, Scaleway's Paris
  // is `fr-par`, Azure's `swedencentral` --, so a part of one picks endpoints
  // by each cloud's naming, not by country. Warned when it holds for no
  // region of the catalog (tg_name_not_in_catalog), or when it holds for an
  // endpoint of a country and not for another endpoint of that same country
  // (tg_region_not_jurisdiction): residency written so keeps or drops
  // endpoints by their cloud, silently.
  void RegionPart(const Expr& e) {
    if (FieldOf(*e.kids[0]) != NameField::kRegion) return;
    const Value* c = Constant(*e.kids[1]);
    if (!c || c->kind != Kind::kString || c->sv().empty()) return;
    const std::string part(c->sv());
    const std::string op = e.kind == ExprKind::kCall ? e.name : e.op == Op::kMatches ? "matches" : "contains";
    std::unique_ptr<re2::RE2> re;
    if (op == "matches") {
      re = std::make_unique<re2::RE2>(part, re2::RE2::Quiet);
      if (!re->ok()) return;
    }
    auto holds = [&](const std::string& region) {
      if (re) return re2::RE2::PartialMatch(region, *re);
      if (op == "starts_with") return region.starts_with(part);
      if (op == "ends_with") return region.ends_with(part);
      return region.find(part) != std::string::npos;
    };
    const std::string text = "`provider.region " + op + " \"" + part + "\"`";
    std::set<std::string> countries;
    const Endpoint* in = nullptr;
    const Endpoint* out = nullptr;
    for (const Endpoint& a : catalog_.endpoints()) {
      if (!holds(a.region)) continue;
      countries.insert(a.jurisdiction);
      if (out) continue;
      for (const Endpoint& b : catalog_.endpoints()) {
        if (b.jurisdiction == a.jurisdiction && !holds(b.region)) {
          in = &a, out = &b;
          break;
        }
      }
    }
    if (countries.empty()) {
      out_->Warning("tg_name_not_in_catalog", e.span,
                    text + " holds for no region of the catalog `" + path_ + "`, so it matches no endpoint",
                    "the catalog writes regions as each cloud names them" +
                        (regions_.empty() ? std::string() : " (`" + *regions_.begin() + "`, ...)") +
                        "; to keep data in some countries, test `provider.jurisdiction`");
      return;
    }
    if (!in) return;
    std::string list, set;
    for (const std::string& j : countries) {
      list += (list.empty() ? "" : ", ") + j;
      set += (set.empty() ? "\"" : ", \"") + j + "\"";
    }
    out_->Warning("tg_region_not_jurisdiction", e.span,
                  text + " holds for endpoints in " + list +
                      ", but tells endpoints of one country apart: it holds for `" + in->provider + "` (" +
                      in->jurisdiction + ", region `" + in->region + "`) and not for `" + out->provider +
                      "` (" + out->jurisdiction + ", region `" + out->region + "`) in the catalog `" +
                      path_ + "`",
                  "a region is named by its cloud, not by its country (AWS's `eu-west-2` is London, "
                  "GB): to keep data in some countries test `provider.jurisdiction` -- "
                  "`provider.jurisdiction in {" + set + "}` names the countries this test holds for; "
                  "keep those meant");
  }

  // `request.model starts_with "gpt-4"` (or ends_with, contains, matches; of
  // `endpoint.model` or a requested model too): the catalog names models
  // `author/name`, and the gateway rewrites a bare `gpt-4o` a client sends to
  // `openai/gpt-4o` before the policy reads it (docs/gateway.md, "Model
  // names"), so a part written as the bare name holds for no request served.
  // Warned when it holds for no model id of the catalog. A part holding `:`
  // (a variant, never in a model id) is tg_name_never_matches'; of a `_full`
  // field only a prefix is judged (a suffix or a part may be the variant's).
  void ModelPart(const Expr& e) {
    const Expr& f = *e.kids[0];
    const NameField field = FieldOf(f);
    if (field != NameField::kModel && field != NameField::kRequestModel) return;
    const Value* c = Constant(*e.kids[1]);
    if (!c || c->kind != Kind::kString || c->sv().empty()) return;
    const std::string part(c->sv());
    const std::string op = e.kind == ExprKind::kCall ? e.name : e.op == Op::kMatches ? "matches" : "contains";
    const bool full_local = f.ref == RefKind::kLocal && full_locals_.count(f.index) != 0;
    const char* written = PathOf(f, policy_);
    // A quantifier's variable is one of the requested models.
    const std::string path = written ? written : full_local ? "request.models_full" : "request.models";
    const bool full = path.ends_with("_full");
    if ((full && op != "starts_with") || (op != "matches" && part.find(':') != std::string::npos)) return;
    std::unique_ptr<re2::RE2> re;
    if (op == "matches") {
      re = std::make_unique<re2::RE2>(part, re2::RE2::Quiet);
      if (!re->ok()) return;
    }
    auto holds = [&](std::string_view model) {
      if (re) return re2::RE2::PartialMatch(model, *re);
      if (op == "starts_with") return model.starts_with(part);
      if (op == "ends_with") return model.ends_with(part);
      return model.find(part) != std::string::npos;
    };
    if (std::any_of(models_.begin(), models_.end(), [&](const std::string& m) { return holds(m); })) return;
    // The same part of the name after the author: write it with the author.
    std::set<std::string> authors;
    if (op == "starts_with" && part.find('/') == std::string::npos) {
      for (const std::string& m : models_) {
        const size_t slash = m.find('/');
        if (slash != std::string::npos && std::string_view(m).substr(slash + 1).starts_with(part))
          authors.insert(m.substr(0, slash));
      }
    }
    std::string help = "the catalog names models `author/name`, and the gateway rewrites a bare name a "
                       "client sends to that id";
    if (authors.empty()) {
      help += models_.empty() ? std::string() : " (`" + *models_.begin() + "`, ...)";
    } else {
      std::string list;
      for (const std::string& a : authors) list += (list.empty() ? "`\"" : "` or `\"") + a + "/" + part + "\"";
      help += ": write " + list + "`";
    }
    out_->Warning("tg_name_not_in_catalog", e.span,
                  "`" + path + " " + op + " \"" + part + "\"` holds for no model of the catalog `" + path_ +
                      "`, so it matches " +
                      (field == NameField::kModel ? "no endpoint" : "no request the catalog serves"),
                  help);
  }

  // `openai/gpt-4o-2024-08-06` is a dated snapshot of `openai/gpt-4o`: the
  // alias followed by `-` and a date (yyyy-mm-dd, yyyymmdd, or OpenAI's
  // older mmdd).
  static bool IsSnapshotOf(std::string_view model, std::string_view alias) {
    if (model.size() <= alias.size() + 1 || !model.starts_with(alias) || model[alias.size()] != '-')
      return false;
    std::string_view date = model.substr(alias.size() + 1);
    auto digits = [](std::string_view t) {
      return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (date.size() == 10 && date[4] == '-' && date[7] == '-')
      return digits(date.substr(0, 4)) && digits(date.substr(5, 2)) && digits(date.substr(8, 2));
    return (date.size() == 8 || date.size() == 4) && digits(date);
  }

  // A model id compared with a field whose catalog also serves its dated
  // snapshots that the constants do not name: a ban or an allowlist of the
  // alias does not cover them (a request naming one is another model).
  void Snapshots(const Span& span, const std::string& path, const std::vector<std::string_view>& names) {
    std::set<std::string_view> named;
    for (std::string_view s : names) named.insert(stdlib::SplitModel(s).id);
    for (std::string_view alias : named) {
      if (alias.empty() || !models_.count(std::string(alias))) continue;
      std::vector<std::string> snaps;
      for (const std::string& m : models_)
        if (IsSnapshotOf(m, alias) && !named.count(m)) snaps.push_back(m);
      if (snaps.empty()) continue;
      std::string list, quoted;
      for (size_t i = 0; i < snaps.size() && i < 5; ++i) {
        list += (i ? ", `" : "`") + snaps[i] + "`";
        quoted += (i ? ", \"" : "\"") + snaps[i] + "\"";
      }
      if (snaps.size() > 5) list += " and " + std::to_string(snaps.size() - 5) + " more";
      out_->Warning("tg_model_snapshot_not_named", span,
                    "`" + path + "` is compared with `" + std::string(alias) +
                        "`, but not with its dated snapshots " + list + ", which the catalog `" +
                        path_ + "` serves as other models",
                    "a request or endpoint of a snapshot does not match `" + std::string(alias) +
                        "`: if the rule is about every version of the model, name them too (" +
                        quoted + ")");
    }
  }

  void Order(const Expr& e) {
    const Value* c = Constant(e);
    if (!c) return;
    std::vector<std::string_view> names;
    Strings(*c, true, &names);
    std::vector<std::string> missing;
    for (std::string_view s : names) {
      bool any = false;
      for (const Endpoint& ep : catalog_.endpoints()) {
        if (ProviderMatches(s, ep, true)) { any = true; break; }
      }
      if (!any && std::find(missing.begin(), missing.end(), s) == missing.end()) missing.emplace_back(s);
    }
    Report(e.span, missing, slugs_, "`route order` lists", "provider");
  }

  void Report(const Span& span, const std::vector<std::string>& missing,
              const std::set<std::string>& known, const std::string& lead, const char* what,
              const char* matches = "no endpoint") {
    if (missing.empty()) return;
    std::vector<std::string> candidates(known.begin(), known.end());
    if (std::string_view(what) == "provider") candidates.insert(candidates.end(), bases_.begin(), bases_.end());
    std::string list, fixes;
    for (size_t i = 0; i < missing.size(); ++i) {
      list += (i ? ", `" : "`") + missing[i] + "`";
      std::string near = ClosestMatch(missing[i], candidates);
      // A name differing only by spaces or case: the closest match says so.
      if (near.empty()) {
        std::string t = missing[i];
        t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
        std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (std::find(candidates.begin(), candidates.end(), t) != candidates.end()) near = t;
      }
      if (!near.empty()) fixes += std::string(fixes.empty() ? "" : ", ") + "`" + near + "` for `" + missing[i] + "`";
    }
    const bool many = missing.size() > 1;
    std::string help = fixes.empty() ? std::string("name a ") + what + " of the catalog"
                                     : "did you mean " + fixes + "?";
    out_->Warning("tg_name_not_in_catalog", span,
                  lead + " " + list + ", which " + (many ? "name" : "names") + " no " + what +
                      " of the catalog `" + path_ + "`, so " + (many ? "they match " : "it matches ") +
                      matches,
                  help);
  }

  const Policy& policy_;
  const Catalog& catalog_;
  const std::string& path_;
  Diagnostics* out_;
  std::set<std::string> slugs_, bases_, models_, regions_, ids_;
  // Quantifier variables (by slot) over the requested models, in the rule
  // being walked (slots are numbered per root; a rule's roots share a
  // `when`'s slots with its messages, and none shadows a model variable with
  // another kind of list there).
  std::map<int32_t, NameField> locals_;
  std::set<int32_t> full_locals_;  // those over `request.models_full`
};

}  // namespace

void WarnNamesNotInCatalog(const Policy& policy, const Catalog& catalog,
                           const std::string& catalog_path, Diagnostics* out) {
  Walker(policy, catalog, catalog_path, out).Run();
}

}  // namespace tollgate::runtime
