// Pass `names`: a comparison of a field with a value it can never hold.
// Policies see canonical model ids and base provider slugs (stdlib/names.h),
// lower-case slugs, words and quantizations, upper-case country codes and
// variants without their `:` (stdlib/field_values.h, the table the catalog
// and the decoder check values with). So `provider.name == "azure/sweden"`,
// `request.model in {"openai/gpt-4o:free"}`, `endpoint.quantization ==
// "INT4"`, `"Free" in request.variants` or `principal.jurisdiction in
// {"de"}` is always false -- and so are set algebra with such values
// (`intersection(context.tags, {"Batch"})`) and a prefix or substring test
// the field never holds (`context.environment starts_with "Prod"`): a
// warning (tg_name_never_matches) lists the
// impossible values and the spelling meant, or the field that holds the full
// name. The values are those known at check time: constants, data documents,
// and every entry of a data document indexed by a run-time key
// (`ws[principal.workspace].blocked_providers`). A policy that denies on the
// requested model, or applies a require by it, without reading the fallback
// models gets tg_fallback_unchecked. A membership test against a constant
// empty collection (`request.model in {}`) gets tg_empty_collection; a
// message role tested for `system` and not `developer` gets
// tg_system_role_only.
#include "engine/check/passes.h"
#include "engine/core/utf8.h"
#include "stdlib/builtins.h"
#include "stdlib/field_values.h"
#include "stdlib/names.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <set>
#include <string_view>
#include <utility>
#include <unordered_set>
#include <vector>

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;
using stdlib::Shape;
using stdlib::ShapedField;

// A value an expression may have at run time, known at check time, and where
// it was read when that depends on a run-time key (`ws["acme"].banned`; ""
// for a constant).
struct Known {
  Value v;
  std::string where;
};

// At most this many values are gathered for one comparison (a large data
// document is sampled, never walked without bound).
constexpr size_t kMaxKnown = 100000;
// At most this many impossible values are named in one warning.
constexpr size_t kMaxNamed = 5;

bool IsCollection(const Expr& e) { return e.type.is(Kind::kSet) || e.type.is(Kind::kList); }

// "`a`", "`a` or `b`", "`a`, `b` or `c`", "... and 3 more".
std::string ListText(const std::vector<std::string>& items, const char* last_word) {
  std::string out;
  const size_t n = std::min(items.size(), kMaxNamed);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += (i + 1 == n && items.size() <= kMaxNamed) ? std::string(" ") + last_word + " " : ", ";
    out += items[i];
  }
  if (items.size() > kMaxNamed) out += " and " + std::to_string(items.size() - kMaxNamed) + " more";
  return out;
}

// The impossible values of one warning, each with where it was read.
struct Named {
  std::vector<std::string> values;  // "`DeepSeek`"
  std::vector<std::string> wheres;  // `ws["acme"].blocked` or ""
  void Add(std::string_view v, const std::string& where) {
    values.push_back("`" + std::string(v) + "`");
    wheres.push_back(where);
  }
  bool empty() const { return values.empty(); }
  size_t size() const { return values.size(); }
  // "`a` or `b` (in `ws["x"].f`)": the place once when all share it.
  std::string Text() const {
    bool same = true;
    for (const std::string& w : wheres) same = same && w == wheres[0];
    if (same) return ListText(values, "or") + (wheres[0].empty() ? "" : " (in `" + wheres[0] + "`)");
    std::vector<std::string> each;
    for (size_t i = 0; i < values.size(); ++i)
      each.push_back(values[i] + (wheres[i].empty() ? "" : " (in `" + wheres[i] + "`)"));
    return ListText(each, "or");
  }
};

// A warning's message and help line.
struct Said {
  std::string message;
  std::string help;
};

// How the message says what a field of shape `s` holds.
std::string Holds(Shape s, bool assigned_only) {
  switch (s) {
    case Shape::kBaseProvider:
    case Shape::kProviderSlug: return "is a lower-case provider slug";
    case Shape::kCountry: return "is an upper-case ISO 3166-1 alpha-2 country code";
    case Shape::kAssignedCountry:
      return assigned_only ? "is an assigned ISO 3166-1 alpha-2 country code"
                           : "is an upper-case ISO 3166-1 alpha-2 country code";
    case Shape::kVariant: return "holds a variant suffix without its `:` (`free`, `nitro`, ...)";
    case Shape::kModelSlug: return "holds model slugs with at most one variant suffix";
    case Shape::kParameterName:
      return "holds the body's model parameters as endpoints list them (`max_completion_tokens` "
             "as `max_tokens`, `functions` as `tools`, `function_call` as `tool_choice`; no "
             "transport or routing member)";
    default: return "is " + stdlib::Describe(s);
  }
}

class NameChecker {
 public:
  explicit NameChecker(Context& ctx) : ctx_(ctx) {}

  void Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) {
      Compare(e);
      EmptyCollection(e);
    }
    if (e.kids.size() == 2 && ((e.kind == ExprKind::kBinary && e.op == Op::kContains) ||
                               (e.kind == ExprKind::kCall &&
                                (e.name == "starts_with" || e.name == "ends_with")))) {
      Substring(e);
    }
    if (e.kind == ExprKind::kCall && e.kids.size() == 2 &&
        (e.name == "intersection" || e.name == "difference" || e.name == "is_subset")) {
      SetAlgebra(e);
    }
    if (e.kids.size() == 2) CaseMapped(e);
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) DateShaped(e);
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) SystemRole(e);
    if (e.kind == ExprKind::kBinary && e.kids.size() == 2) RoleCase(e);
    // `any m in request.models: m == "x:free"`: the variable holds what the
    // list's elements hold; `any b in ws[k].banned: ...`: what the lists read
    // out of the document hold.
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.index >= 0) {
      if (IsMessages(*e.kids[0])) message_locals_.push_back(e.index);
      if (const ShapedField* f = FieldOf(*e.kids[0])) {
        local_fields_.emplace_back(e.index, f);
      } else {
        std::vector<Known> elems;
        Elements(*e.kids[0], &elems);
        if (!elems.empty()) local_values_.emplace_back(e.index, std::move(elems));
      }
    }
    for (auto& k : e.kids) Walk(*k, depth + 1);
  }
  // A budget's `limit` or a limit's `max` read out of a data document by a
  // run-time key (`teams[principal.workspace].monthly`): an entry below zero
  // makes every request that budget counts for its key fail with
  // rule_error (403) at admission, though each entry loaded fine. A warning
  // (tg_negative_limit): the fail-closed denial is what such data means at
  // run time, and the policy may be loaded to show it.
  void NegativeLimit(const Root& root) {
    if ((root.role != Role::kBudgetLimit && root.role != Role::kLimitMax) || FoldExpr(ctx_, *root.expr)) return;
    std::vector<Known> vals;
    Values(*root.expr, &vals);
    const ast::Policy& p = *ctx_.policy;
    for (const Known& k : vals) {
      if ((k.v.kind != Kind::kMoney && k.v.kind != Kind::kInt) || k.v.i >= 0) continue;
      const std::string what = root.role == Role::kBudgetLimit
                                   ? "the limit of budget `" + p.budgets[root.owner].name + "`"
                                   : "the `max` of limit `" + p.limits[root.owner].name + "`";
      ctx_.Warning("tg_negative_limit", root.expr->span,
                 what + " is `" + stdlib::RenderValue(k.v) + "`" +
                     (k.where.empty() ? std::string() : " for `" + k.where + "`") +
                     ": a limit is zero or more, so every request it counts there fails with `rule_error` (403)",
                 k.where.empty() ? "give a value of zero or more"
                                 : "change the value at `" + k.where + "` in the data document to zero or more");
      return;  // one report per declaration
    }
  }

  void Reset() {
    depth_reported_ = false;
    message_locals_.clear();
    local_fields_.clear();  // slots are numbered per root
    local_values_.clear();
  }

 private:
  const ShapedField* FieldOf(const Expr& e) const {
    if (e.ref == RefKind::kLocal) {
      for (const auto& [slot, f] : local_fields_)
        if (slot == e.index) return f;
      return nullptr;
    }
    if (e.ref != RefKind::kField || e.index < 0) return nullptr;
    const ShapedField* f = stdlib::FindShapedField(ctx_.schema->field(e.index).path);
    return f && f->holds != Shape::kNone ? f : nullptr;
  }

  // The shaped field `e` reads, seeing through defaults (`field ?? "none"`):
  // the defaults' strings are values the side may have, never warned about.
  const ShapedField* Side(Expr*& e, std::vector<std::string_view>* defaults) {
    for (int guard = 0; guard < 64 && e->kind == ExprKind::kBinary && e->op == Op::kCoalesce &&
                        e->kids.size() == 2;
         ++guard) {
      std::vector<Known> d;
      Values(*e->kids[1], &d);
      Elements(*e->kids[1], &d);
      for (const Known& k : d)
        if (k.v.kind == Kind::kString) defaults->push_back(k.v.sv());
      e = e->kids[0].get();
    }
    return FieldOf(*e);
  }

  // `x in {}`, `x not in []`, `{} has x` with a constant empty collection
  // and an `x` known only at run time: always false (always true for `not
  // in`), whatever the request; a placeholder (`approved = {}`) left in a
  // policy. A wholly constant comparison folds, and tg_unreachable speaks
  // for a `when` that is always false.
  void EmptyCollection(Expr& e) {
    const bool has = e.op == Op::kHas;
    if (!has && e.op != Op::kIn && e.op != Op::kNotIn) return;
    Expr& coll = *e.kids[has ? 0 : 1];
    Expr& item = *e.kids[has ? 1 : 0];
    if (!IsCollection(coll) && !coll.type.is(Kind::kMap)) return;
    std::optional<Value> c = FoldExpr(ctx_, coll);
    if (!c || FoldExpr(ctx_, item)) return;
    size_t n = 1;
    if (c->kind == Kind::kSet && c->set) n = c->set->items.size();
    else if (c->kind == Kind::kList && c->list) n = c->list->items.size();
    else if (c->kind == Kind::kMap && c->map) n = c->map->keys.size();
    if (n != 0) return;
    const bool always = e.op == Op::kNotIn;
    const char* what = c->kind == Kind::kSet ? "set" : c->kind == Kind::kList ? "list" : "map";
    const std::string name = ChainText(coll);
    ctx_.Warning("tg_empty_collection", e.span,
                 std::string("this is always ") + (always ? "true" : "false") + ": " +
                     (name.empty() ? std::string("the ") + what : "`" + name + "`") + " is empty",
                 "list the values it should hold, or remove the condition");
  }

  // `intersection(context.tags, {"Batch"})`, `is_subset({"Confidential"},
  // context.tags)`, `difference(request.provider.only, {"Azure"})`: set
  // algebra of a shaped set field with values it never holds. Those values
  // are never in the intersection, always in the difference, and make a
  // subset test fail -- as `"Batch" in context.tags` is always false.
  void SetAlgebra(Expr& e) {
    for (size_t i = 0; i < 2; ++i) {
      Expr* side = e.kids[i].get();
      std::vector<std::string_view> defaults;
      const ShapedField* f = Side(side, &defaults);
      if (!f || !IsCollection(*side)) continue;
      Expr& other = *e.kids[1 - i];
      std::vector<Known> vals;
      Elements(other, &vals);
      Check(*f, other, vals, defaults);
      return;
    }
  }

  // Warns tg_name_never_matches at `other` when a string it may hold (known
  // at check time; each element when `elements`) is one `bad` says it never
  // matches: every such value once, and once each spelling that would match,
  // fix(value) ("" when there is none). say(the values as Named::Text
  // lists them, the fixes ticked) gives the message and the help.
  template <class Bad, class Fix, class Say>
  void NeverMatches(Expr& other, bool elements, Bad bad, Fix fix, Say say) {
    std::vector<Known> vals;
    elements ? Elements(other, &vals) : Values(other, &vals);
    Named named;
    std::vector<std::string> fixes;
    std::unordered_set<std::string_view> seen;
    for (const Known& k : vals) {
      if (k.v.kind != Kind::kString) continue;
      const std::string_view s = k.v.sv();
      if (!bad(s) || !seen.insert(s).second) continue;
      named.Add(s, k.where);
      const std::string f = fix(s);
      if (!f.empty()) AddOnce(&fixes, "`" + f + "`");
    }
    if (named.empty()) return;
    Said said = say(named.Text(), fixes);
    ctx_.Warning("tg_name_never_matches", other.span, std::move(said.message), std::move(said.help));
  }

  // `lower(request.content) contains "Ignore previous"`, `lower(g) ==
  // "Admins"`, `upper(x) starts_with "acme"`: `lower` leaves no upper-case
  // ASCII letter (`upper` no lower-case one), so a constant holding one
  // never matches -- the rule checked clean and never fired. `==`, `!=`,
  // `in`, `not in` with the mapped string on either side of an equality and
  // as the tested string of `contains`, `starts_with`, `ends_with`.
  void CaseMapped(Expr& e) {
    auto mapped = [](const Expr& x) -> char {
      return x.kind == ExprKind::kCall && x.kids.size() == 1 && (x.name == "lower" || x.name == "upper")
                 ? x.name[0]
                 : 0;
    };
    Expr* call = nullptr;
    Expr* other = nullptr;
    bool elements = false;
    std::string op;
    if (e.kind == ExprKind::kBinary) {
      switch (e.op) {
        case Op::kEq:
        case Op::kNe:
          if (mapped(*e.kids[0])) call = e.kids[0].get(), other = e.kids[1].get();
          else if (mapped(*e.kids[1])) call = e.kids[1].get(), other = e.kids[0].get();
          op = e.op == Op::kEq ? "==" : "!=";
          break;
        case Op::kIn:
        case Op::kNotIn:
          if (mapped(*e.kids[0])) call = e.kids[0].get(), other = e.kids[1].get(), elements = true;
          op = e.op == Op::kIn ? "in" : "not in";
          break;
        case Op::kContains:
          if (mapped(*e.kids[0])) call = e.kids[0].get(), other = e.kids[1].get();
          op = "contains";
          break;
        default:
          break;
      }
    } else if (e.kind == ExprKind::kCall && (e.name == "starts_with" || e.name == "ends_with" ||
                                             e.name == "contains")) {
      if (mapped(*e.kids[0])) call = e.kids[0].get(), other = e.kids[1].get();
      op = e.name;
    }
    if (!call || !call->type.is(Kind::kString) || FoldExpr(ctx_, *call)) return;
    const bool lower = mapped(*call) == 'l';
    // A letter of the case the call's result never holds.
    auto unmapped = [lower](char c) { return lower ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z'); };
    const std::string fn = lower ? "lower" : "upper";
    NeverMatches(
        *other, elements,
        [&](std::string_view s) { return std::any_of(s.begin(), s.end(), unmapped); },
        [&](std::string_view s) {
          std::string fix(s);
          for (char& c : fix)
            if (unmapped(c)) c = static_cast<char>(c ^ 0x20);
          return fix;
        },
        [&](const std::string& bad, const std::vector<std::string>& fixes) {
          return Said{"`" + fn + "(...)` holds no " + (lower ? "upper" : "lower") + "-case ASCII letter, so `" +
                          op + "` with " + bad + " never holds",
                      "write " + ListText(fixes, "and") + ", or compare without `" + fn + "`"};
        });
  }

  // `date(context.time) in {"2027-1-1", "24.12.2026"}`: `date(...)` is
  // always `yyyy-mm-dd` (zero-padded, a real calendar day), so a constant
  // written otherwise never equals it -- a holiday list or a launch day that
  // silently never matches -- and orders against it by the wrong characters
  // (`date(t) >= "2026-1-5"` holds from 2026-02-01 on). `==`, `!=`, `in`,
  // `not in`, `<`, `<=`, `>`, `>=` with the date on either side (of an
  // equality or ordering); constants, consts and data documents.
  void DateShaped(Expr& e) {
    auto is_date = [this](const Expr& x) {
      return x.kind == ExprKind::kCall && x.name == "date" && !x.kids.empty() &&
             x.type.is(Kind::kString) && !FoldExpr(ctx_, const_cast<Expr&>(x));
    };
    Expr* other = nullptr;
    bool elements = false;
    switch (e.op) {
      case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe:
        if (is_date(*e.kids[0])) other = e.kids[1].get();
        else if (is_date(*e.kids[1])) other = e.kids[0].get();
        break;
      case Op::kIn: case Op::kNotIn:
        if (is_date(*e.kids[0])) other = e.kids[1].get(), elements = true;
        break;
      default:
        break;
    }
    if (!other) return;
    const std::string op = e.op == Op::kIn ? "in" : e.op == Op::kNotIn ? "not in" : OpText(e.op);
    const bool ordered = e.op == Op::kLt || e.op == Op::kLe || e.op == Op::kGt || e.op == Op::kGe;
    NeverMatches(
        *other, elements, [](std::string_view s) { return !stdlib::IsIsoDate(s); }, stdlib::IsoDateOf,
        [&](const std::string& bad, const std::vector<std::string>& fixes) {
          return Said{"`date(...)` is a calendar day written `yyyy-mm-dd` (`2026-12-25`), so `" + op + "` with " +
                          bad +
                          (ordered ? " compares the wrong characters"
                                   : e.op == Op::kNe || e.op == Op::kNotIn ? " always holds" : " never holds"),
                      fixes.empty() ? std::string("write each date as `yyyy-mm-dd`, zero-padded (`2027-01-01`)")
                                    : "write " + ListText(fixes, "and") + " (`yyyy-mm-dd`, zero-padded)"};
        });
  }

  bool IsMessages(const Expr& e) const {
    return e.ref == RefKind::kField && e.index >= 0 && ctx_.schema->field(e.index).path == "request.messages";
  }
  // `m.role` of a message: `m` a quantifier variable over request.messages,
  // or `request.messages[i]`.
  bool IsMessageRole(const Expr& e) const {
    if (e.kind != ExprKind::kMember || e.name != "role" || e.kids.size() != 1) return false;
    const Expr& base = *e.kids[0];
    if (base.kind == ExprKind::kName && base.ref == RefKind::kLocal)
      return std::find(message_locals_.begin(), message_locals_.end(), base.index) != message_locals_.end();
    return base.kind == ExprKind::kIndex && base.kids.size() == 2 && IsMessages(*base.kids[0]);
  }

  // What `e` compares a message's role with: the other side of `m.role ==
  // x` / `x == m.role` (or `!=`), the collection of `m.role in xs` (or `not
  // in`; then *elements); null for anything else.
  Expr* ComparedWithRole(Expr& e, bool* elements) const {
    if (e.op != Op::kEq && e.op != Op::kNe && e.op != Op::kIn && e.op != Op::kNotIn) return nullptr;
    *elements = e.op == Op::kIn || e.op == Op::kNotIn;
    if (IsMessageRole(*e.kids[0])) return e.kids[1].get();
    if (IsMessageRole(*e.kids[1]) && !*elements) return e.kids[0].get();
    return nullptr;
  }

  // `m.role == "system"`, `m.role in {"system"}`: OpenAI's chat API takes the
  // system prompt as a `developer` message too (the role its newer models
  // use in place of `system`), so a rule on the system prompt that names
  // only `system` -- no custom system prompts, a required notice, secrets in
  // the instructions -- misses every request sending it as `developer`.
  void SystemRole(Expr& e) {
    bool elements = false;
    Expr* other = ComparedWithRole(e, &elements);
    if (!other) return;
    std::vector<Known> vals;
    elements ? Elements(*other, &vals) : Values(*other, &vals);
    bool system = false, developer = false;
    for (const Known& k : vals) {
      if (k.v.kind != Kind::kString) continue;
      system = system || k.v.sv() == "system";
      developer = developer || k.v.sv() == "developer";
    }
    if (!system || developer) return;
    ctx_.Warning("tg_system_role_only", other->span,
                 "this tests the role `system` but not `developer`: OpenAI's API takes the system prompt as a "
                 "`developer` message too (its newer models' name for it), so such requests pass this test "
                 "as if they had no system prompt",
                 std::string("test both: `m.role ") + (e.op == Op::kNe || e.op == Op::kNotIn ? "not in" : "in") +
                     " {\"system\", \"developer\"}`");
  }

  // `m.role == "User"`, `m.role in {"System", "developer"}`: the decoder
  // refuses a role with an upper-case letter (input_invalid_value, as
  // OpenAI's API does), so such a constant never matches a message.
  void RoleCase(Expr& e) {
    bool elements = false;
    Expr* other = ComparedWithRole(e, &elements);
    if (!other) return;
    auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
    NeverMatches(
        *other, elements, [&](std::string_view r) { return std::any_of(r.begin(), r.end(), upper); },
        [&](std::string_view r) {
          std::string fix(r);
          for (char& c : fix)
            if (upper(c)) c = static_cast<char>(c - 'A' + 'a');
          return fix;
        },
        [](const std::string& bad, const std::vector<std::string>& fixes) {
          return Said{"a message's role is lower case (the decoder refuses another case, as OpenAI's API does), "
                      "so " + bad + " never matches",
                      "write " + ListText(fixes, "and")};
        });
  }

  // The shapes whose values never hold an upper-case ASCII letter.
  static bool LowerCaseOnly(Shape s) {
    switch (s) {
      case Shape::kBaseProvider:
      case Shape::kProviderSlug:
      case Shape::kVariant:
      case Shape::kDataCollection:
      case Shape::kTier:
      case Shape::kQuantization:
      case Shape::kSortBy:
      case Shape::kSortPartition:
      case Shape::kServiceTier:
      case Shape::kLowerText:
        return true;
      default:
        return false;
    }
  }

  // `provider.name starts_with "azure/"`, `endpoint.model ends_with
  // ":free"`, `request.model contains ":"`: a part the field never holds
  // (a `/` in a base provider slug, a `:` in a model id without its
  // variant, an upper-case letter in a lower-case slug). For a list field
  // (`request.models contains "x:free"`) the element is compared whole.
  void Substring(Expr& e) {
    Expr* a = e.kids[0].get();
    std::vector<std::string_view> defaults;
    const ShapedField* f = Side(a, &defaults);
    if (!f) return;
    std::vector<Known> vals;
    Values(*e.kids[1], &vals);
    if (IsCollection(*a)) {
      if (e.kind == ExprKind::kBinary) Check(*f, *e.kids[1], vals, defaults);
      return;
    }
    const bool slug = f->holds == Shape::kBaseProvider || f->holds == Shape::kProviderSlug;
    const bool lower_only = LowerCaseOnly(f->holds);
    for (const Known& k : vals) {
      if (k.v.kind != Kind::kString) continue;
      const std::string_view s = k.v.sv();
      const bool slash = f->holds == Shape::kBaseProvider && s.find('/') != std::string_view::npos;
      const bool colon = f->holds == Shape::kModelId && s.find(':') != std::string_view::npos;
      const bool upper =
          lower_only && std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
      if (!slash && !colon && !upper) continue;
      const std::string path(f->path), full(f->full);
      const std::string op = e.kind == ExprKind::kCall ? e.name : std::string("contains");
      std::string why = slash   ? "is a base provider slug (no region or tier) and never holds a `/`"
                        : colon ? "holds model ids without their variant suffix and never holds a `:`"
                        : slug  ? "is a lower-case slug and never holds an upper-case letter"
                                : "is " + stdlib::Describe(f->holds) + " and never holds an upper-case letter";
      std::string help = upper && !slash ? "write it in lower case"
                         : full.empty() ? "compare the field that holds the full name"
                                        : "test `" + full + "` (`" + full + " " + op + " \"" + std::string(s) +
                                              "\"`), which holds the full name";
      ctx_.Warning("tg_name_never_matches", e.span,
                   "`" + path + "` " + why + ", so `" + op + " \"" + std::string(s) + "\"` is always false",
                   help);
      return;  // one warning per test
    }
  }

  void Compare(Expr& e) {
    Expr* a = e.kids[0].get();
    Expr* b = e.kids[1].get();
    std::vector<std::string_view> defaults;
    const ShapedField* fa = Side(a, &defaults);
    const ShapedField* fb = fa ? nullptr : Side(b, &defaults);
    std::vector<Known> vals;
    switch (e.op) {
      case Op::kEq:
      case Op::kNe:
        if (fa) {
          IsCollection(*a) ? Elements(*b, &vals) : Values(*b, &vals);
          Check(*fa, *b, vals, defaults);
        } else if (fb) {
          IsCollection(*b) ? Elements(*a, &vals) : Values(*a, &vals);
          Check(*fb, *a, vals, defaults);
        }
        break;
      case Op::kIn:
      case Op::kNotIn:
        // `field in {consts}`, `"x" in request.variants`.
        if (fa && !IsCollection(*a)) {
          Elements(*b, &vals);
          Check(*fa, *b, vals, defaults);
        } else if (fb && IsCollection(*b)) {
          Values(*a, &vals);
          Check(*fb, *a, vals, defaults);
        }
        break;
      case Op::kHas:  // `request.variants has "x"`
        if (fa && IsCollection(*a)) {
          Values(*b, &vals);
          Check(*fa, *b, vals, defaults);
        }
        break;
      default:
        break;
    }
  }

  // The values `e` may have that are known at check time: its folded value;
  // for `c[k]` with a run-time key, every entry of `c`; for `x.f`, the
  // field of each value of x; for `a ?? b`, both sides' values; for the
  // variable of a quantifier over such a list, its elements.
  void Values(Expr& e, std::vector<Known>* out, uint32_t depth = 0) {
    if (depth > 64 || out->size() >= kMaxKnown) return;
    if (std::optional<Value> v = FoldExpr(ctx_, e)) {
      out->push_back({*v, ""});
      return;
    }
    if (FoldFailed(ctx_, e)) return;
    switch (e.kind) {
      case ExprKind::kName:
        if (e.ref == RefKind::kLocal)
          for (const auto& [slot, vals] : local_values_)
            if (slot == e.index) out->insert(out->end(), vals.begin(), vals.end());
        return;
      case ExprKind::kIndex: {
        if (e.kids.size() != 2) return;
        std::vector<Known> bases;
        Values(*e.kids[0], &bases, depth + 1);
        std::optional<Value> key = FoldExpr(ctx_, *e.kids[1]);
        const std::string base_text = ChainText(*e.kids[0]);
        for (const Known& b : bases) {
          const std::string at = b.where.empty() ? base_text : b.where;
          if (key) {
            if (const Value* x = Lookup(b.v, *key)) out->push_back({*x, b.where});
          } else if (b.v.kind == Kind::kMap && b.v.map) {
            for (size_t i = 0; i < b.v.map->keys.size() && out->size() < kMaxKnown; ++i)
              out->push_back({b.v.map->values[i], at + "[\"" + std::string(b.v.map->keys[i]) + "\"]"});
          } else if (b.v.kind == Kind::kList && b.v.list) {
            for (size_t i = 0; i < b.v.list->items.size() && out->size() < kMaxKnown; ++i)
              out->push_back({b.v.list->items[i], at + "[" + std::to_string(i) + "]"});
          }
        }
        return;
      }
      case ExprKind::kMember: {
        if (e.kids.empty() || e.ref == RefKind::kField || e.ref == RefKind::kNamespace ||
            e.ref == RefKind::kDetector || e.ref == RefKind::kCounter)
          return;
        std::vector<Known> bases;
        Values(*e.kids[0], &bases, depth + 1);
        for (const Known& b : bases) {
          const Value* x = nullptr;
          if (b.v.kind == Kind::kRecord && b.v.rec && e.index >= 0 &&
              size_t(e.index) < b.v.rec->fields.size())
            x = &b.v.rec->fields[e.index];
          else if (b.v.kind == Kind::kMap)
            x = MapFind(b.v, e.name);
          if (x) out->push_back({*x, b.where.empty() ? "" : b.where + "." + e.name});
        }
        return;
      }
      case ExprKind::kBinary:
        if (e.op == Op::kCoalesce && e.kids.size() == 2) {
          Values(*e.kids[0], out, depth + 1);
          Values(*e.kids[1], out, depth + 1);
        }
        return;
      default:
        return;
    }
  }

  static const Value* Lookup(const Value& c, const Value& key) {
    if (c.kind == Kind::kMap && key.kind == Kind::kString) return MapFind(c, key.sv());
    if (c.kind == Kind::kList && c.list && key.kind == Kind::kInt && key.i >= 0 &&
        uint64_t(key.i) < c.list->items.size())
      return &c.list->items[key.i];
    return nullptr;
  }

  // The elements of the collections `e` may be (a map's keys: `k in m`).
  void Elements(Expr& e, std::vector<Known>* out) {
    std::vector<Known> cs;
    Values(e, &cs);
    for (const Known& c : cs) {
      if (c.v.kind == Kind::kSet && c.v.set) {
        for (const Value& x : c.v.set->items) out->push_back({x, c.where});
      } else if (c.v.kind == Kind::kList && c.v.list) {
        for (const Value& x : c.v.list->items) out->push_back({x, c.where});
      } else if (c.v.kind == Kind::kMap && c.v.map) {
        for (std::string_view k : c.v.map->keys) out->push_back({Value::StringRef(k), c.where});
      }
      if (out->size() >= kMaxKnown) return;
    }
  }

  // Warns at `at` for the strings of `vals` that field `f` never holds (and
  // that are no default the field's side gives: `defaults`): one
  // warning for those that belong in the full-name field (`azure/sweden` in
  // provider.name, `m:free` in request.model), one for the rest.
  void Check(const ShapedField& f, const Expr& at, const std::vector<Known>& vals,
             const std::vector<std::string_view>& defaults) {
    Named full, bad;
    std::vector<std::string> full_fix, fixes, unfixable;
    bool assigned_only = true;  // every bad country code is two upper-case letters
    std::unordered_set<std::string_view> seen;  // each value once
    for (const Known& k : vals) {
      if (k.v.kind != Kind::kString) continue;
      const std::string_view s = k.v.sv();
      if (s.empty() || stdlib::Fits(f.holds, s)) continue;  // "": a test's neutral value
      if (std::find(defaults.begin(), defaults.end(), s) != defaults.end()) continue;
      if (!seen.insert(s).second) continue;
      if (!f.full.empty() && IsFullName(f.holds, s)) {
        full.Add(s, k.where);
        AddOnce(&full_fix, "`" + std::string(f.holds == Shape::kBaseProvider ? stdlib::ProviderBase(s)
                                                                             : stdlib::SplitModel(s).id) + "`");
        continue;
      }
      bad.Add(s, k.where);
      assigned_only = assigned_only && stdlib::IsCountryCode(s);
      std::string r = stdlib::Respell(f.holds, s);
      if (!r.empty()) AddOnce(&fixes, "`" + r + "`");
      else unfixable.push_back("`" + std::string(s) + "`");
    }
    const std::string path(f.path), full_path(f.full);
    if (!full.empty()) {
      const bool many = full.size() > 1;
      if (f.holds == Shape::kBaseProvider) {
        ctx_.Warning("tg_name_never_matches", at.span,
                     "`" + path + "` is a base provider slug and never equals " + full.Text(),
                     "compare `" + full_path + "` for the full slug" + (many ? "s" : "") + ", or write " +
                         ListText(full_fix, "and") + " to match every region and tier of " +
                         (many ? "them" : "it"));
      } else {
        ctx_.Warning("tg_name_never_matches", at.span,
                     "`" + path + "` holds model ids without their variant suffix and never equals " +
                         full.Text(),
                     "write " + ListText(full_fix, "and") + " to cover every variant, or compare `" +
                         full_path + "` for " + (many ? "these variants" : "this variant") + " only");
      }
    }
    if (bad.empty()) return;
    std::string help;
    if (!fixes.empty()) help = "write " + ListText(fixes, "and");
    if (!unfixable.empty()) {
      if (!help.empty()) help += "; " + ListText(unfixable, "and") + (unfixable.size() > 1 ? " have" : " has") + " no such spelling: ";
      const bool country = f.holds == Shape::kCountry || f.holds == Shape::kAssignedCountry;
      help += country ? std::string("name each country by its two-letter code")
                      : "write " + stdlib::Describe(f.holds);
    }
    ctx_.Warning("tg_name_never_matches", at.span,
                 "`" + path + "` " + Holds(f.holds, assigned_only) + " and never equals " +
                     bad.Text(),
                 help);
  }

  static void AddOnce(std::vector<std::string>* to, std::string s) {
    if (std::find(to->begin(), to->end(), s) == to->end()) to->push_back(std::move(s));
  }

  // `s` names what the full-name field holds: a provider slug with a region
  // or tier, a model slug with a variant.
  static bool IsFullName(Shape holds, std::string_view s) {
    if (holds == Shape::kBaseProvider) return stdlib::IsSlugText(s) && stdlib::ProviderBase(s).size() != s.size();
    if (holds == Shape::kModelId) return !stdlib::SplitModel(s).variant.empty();
    return false;
  }

  Context& ctx_;
  bool depth_reported_ = false;
  std::vector<std::pair<int32_t, const ShapedField*>> local_fields_;  // quantifier slot -> field
  std::vector<int32_t> message_locals_;  // quantifier slots over request.messages
  std::vector<std::pair<int32_t, std::vector<Known>>> local_values_;  // quantifier slot -> elements
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
    // The variable stands for the field and nothing else: where `a` reads
    // the field `b` must read the variable (`any m in request.models:
    // request.model not in approved` tests the requested model again).
    if (local >= 0 && (b0.ref == RefKind::kLocal && b0.index == local))
      return IsField(ctx, a0, {field});
    if (local >= 0 && IsField(ctx, a0, {field})) return false;
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

// The string constant `request.model_variant` (the node `variant`) is
// compared with by `==` or `!=` in the rule's `when`, for the help of
// tg_fallback_unchecked; "v" when there is none.
std::string ComparedVariant(Context& ctx, const ast::Rule& r, const Expr* variant) {
  std::string out = "v";
  std::function<void(const Expr&, uint32_t)> walk = [&](const Expr& e, uint32_t depth) {
    if (depth > 512 || out != "v") return;
    if (e.kind == ExprKind::kBinary && (e.op == Op::kEq || e.op == Op::kNe) && e.kids.size() == 2)
      for (int i = 0; i < 2; ++i)
        if (e.kids[i].get() == variant) {
          std::optional<Value> v = FoldExpr(ctx, *e.kids[1 - i]);
          if (v && v->kind == Kind::kString) out = std::string(v->sv());
        }
    for (const auto& k : e.kids) walk(*k, depth + 1);
  };
  if (r.when) walk(*r.when, 0);
  return out;
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
  // The rules that can be a fallback twin (FallbackTwin: an enforced deny
  // whose `when` quantifies over request.models or models_full), found once:
  // trying every rule for each rule made a 10,000-rule policy's check
  // quadratic (20 s).
  std::vector<const ast::Rule*> twins;
  for (const ast::Rule& b : policy.rules)
    if (b.mode == ast::Mode::kEnforce && b.when && Has(b, ast::EffectKind::kDeny) &&
        FindField(ctx, *b.when, {"request.models", "request.models_full"}))
      twins.push_back(&b);
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
      for (const ast::Rule* b : twins) twin = twin || FallbackTwin(ctx, r, *b);
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
      if (IsField(ctx, *model, {"request.model_variant"}))
        help += "test `request.variants` -- every variant `model` and the `models` entries "
                "name -- instead: `\"" + ComparedVariant(ctx, r, model) + "\" in request.variants`";
      else
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

void Conjuncts(const ast::Expr& e, std::vector<const ast::Expr*>* out, uint32_t depth) {
  if (depth < 512 && e.kind == ast::ExprKind::kBinary && e.op == ast::Op::kAnd &&
      e.kids.size() == 2) {
    Conjuncts(*e.kids[0], out, depth + 1);
    Conjuncts(*e.kids[1], out, depth + 1);
    return;
  }
  out->push_back(&e);
}

// tg_variant_bypass, judged per rule. OpenRouter's vocabulary asks for a
// tier or a sort two ways: the body (`service_tier`, `provider.sort`) and the
// model suffix -- `:nitro` admits priority endpoints and sorts by
// throughput, `:floor` admits flex ones and sorts by price -- or a tier slug
// in `order` / `only` (docs/routing.md §4). An enforced rule that denies or
// requires by `request.service_tier` == "priority" / "flex", or by
// `request.provider.sort` == "throughput" / "price", and reads neither the
// variants nor `endpoint.tier`, is bypassed by the other spelling.
void VariantBypass(Context& ctx) {
  if (ctx.errors > 0) return;
  for (ast::Rule& r : ctx.policy->rules) {
    if (r.mode != ast::Mode::kEnforce && !r.mode_when) continue;
    const bool denies = Has(r, ast::EffectKind::kDeny);
    if ((!denies && !Has(r, ast::EffectKind::kRequire)) || !r.when) continue;
    if (FindInRule(ctx, r, {"request.variants", "request.model_variant", "request.model_full",
                            "request.models_full", "endpoint.tier"}))
      continue;
    // The first comparison (== or in) of a field with constants naming what
    // a variant also gives; `via` the variant, `what` the value.
    const Expr* at = nullptr;
    std::string field, what, via;
    std::function<void(Expr&, uint32_t)> walk = [&](Expr& e, uint32_t depth) {
      if (at || depth > 512) return;
      if (e.kind == ExprKind::kBinary && (e.op == Op::kEq || e.op == Op::kIn) && e.kids.size() == 2) {
        for (int i = 0; i < 2 && !at; ++i) {
          // `(request.provider.sort ?? "") in {...}`: the field defaulted.
          Expr* side = e.kids[i].get();
          if (side->kind == ExprKind::kBinary && side->op == Op::kCoalesce && !side->kids.empty())
            side = side->kids[0].get();
          const bool tier = IsField(ctx, *side, {"request.service_tier"});
          const bool sort = IsField(ctx, *side, {"request.provider.sort"});
          if (!tier && !sort) continue;
          std::optional<Value> v = FoldExpr(ctx, *e.kids[1 - i]);
          if (!v) continue;
          std::vector<std::string_view> words;
          if (v->kind == Kind::kString) words.push_back(v->sv());
          if (v->kind == Kind::kSet && v->set)
            for (const Value& x : v->set->items)
              if (x.kind == Kind::kString) words.push_back(x.sv());
          for (std::string_view w : words) {
            if (tier && (w == "priority" || w == "flex")) {
              what = std::string(w), via = w == "priority" ? "nitro" : "floor";
            } else if (sort && (w == "throughput" || w == "price")) {
              what = std::string(w), via = w == "throughput" ? "nitro" : "floor";
            } else {
              continue;
            }
            at = side;
            field = tier ? "request.service_tier" : "request.provider.sort";
            break;
          }
        }
      }
      for (auto& k : e.kids) walk(*k, depth + 1);
    };
    walk(*r.when, 0);
    if (!at) continue;
    const std::string verb = denies ? "denies" : "applies its require";
    if (field == "request.service_tier") {
      ctx.Warning("tg_variant_bypass", at->span,
                  "rule `" + r.name + "` " + verb + " by `" + field + "`, but a request reaches `" + what +
                      "` endpoints without asking so: a `:" + via + "` model, or a `" + what +
                      "` slug in `provider.order` / `only`",
                  "judge the endpoint served: `require endpoint.tier != \"" + what + "\"`");
    } else {
      ctx.Warning("tg_variant_bypass", at->span,
                  "rule `" + r.name + "` " + verb + " by `" + field + "`, but a `:" + via +
                      "` model sorts by " + what + " without it",
                  "also test the variant: `" + field + " == \"" + what + "\" or \"" + via +
                      "\" in request.variants` (`request.variants` holds the variants of `model` and "
                      "every `models` entry)");
    }
  }
}

// The name of a code point a policy's string should not hold raw: a
// default-ignorable one (zero width, joiners, marks, bidi controls, BOM,
// soft hyphen) or a space other than U+0020; nullptr for any other. Not
// judged: variation selectors, U+200D and the tag characters, which emoji
// sequences hold, and U+200C, which Persian and Indic spelling requires.
const char* InvisibleName(uint32_t cp) {
  switch (cp) {
    case 0x00A0: return "no-break space";
    case 0x00AD: return "soft hyphen";
    case 0x034F: return "combining grapheme joiner";
    case 0x061C: return "arabic letter mark";
    case 0x1680: return "ogham space mark";
    case 0x180E: return "mongolian vowel separator";
    case 0x200B: return "zero width space";
    case 0x200E: return "left-to-right mark";
    case 0x200F: return "right-to-left mark";
    case 0x2028: return "line separator";
    case 0x2029: return "paragraph separator";
    case 0x202F: return "narrow no-break space";
    case 0x205F: return "medium mathematical space";
    case 0x2060: return "word joiner";
    case 0x3000: return "ideographic space";
    case 0x3164: return "hangul filler";
    case 0xFEFF: return "zero width no-break space";
    default: break;
  }
  if (cp >= 0x2000 && cp <= 0x200A) return "space";
  if (cp >= 0x202A && cp <= 0x202E) return "bidirectional formatting character";
  if (cp >= 0x2061 && cp <= 0x206F) return "invisible formatting character";
  return nullptr;
}

// Warns once per string literal whose source text holds a raw invisible
// character (InvisibleName): `"legal<U+200B>"` reads as `legal` in every
// editor and review, and equals only a value holding the same character.
// The source is read, not the value, so an escape (`\u200b`) is taken as
// meant. Messages, tag values and test inputs are not compared with
// anything a request holds and are not judged.
void InvisibleCharacters(Context& ctx, const Expr& e, std::set<std::pair<const void*, uint32_t>>* seen,
                         uint32_t depth) {
  if (depth > 512) return;
  for (const auto& k : e.kids) InvisibleCharacters(ctx, *k, seen, depth + 1);
  if (e.kind != ExprKind::kLiteral || e.value.kind != Kind::kString) return;
  const std::string_view text = ctx.Text(e.span);
  for (size_t i = 0, len = 0; i < text.size();) {
    const size_t start = i;
    const uint32_t cp = NextUtf8(text, &i, &len);
    const char* name = InvisibleName(cp);
    if (!name) continue;
    if (!seen->insert({e.span.file, e.span.begin}).second) return;
    char hex[16];
    std::snprintf(hex, sizeof hex, "%04X", unsigned(cp));
    std::string esc = hex;
    for (char& c : esc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    esc = cp > 0xFFFF ? "U+" + std::string(hex) : "\\u" + esc;
    // The string as it reads, the character shown as its escape.
    std::string shown(text.substr(1, text.size() >= 2 ? text.size() - 2 : 0));
    const size_t at = start >= 1 ? start - 1 : 0;
    if (at <= shown.size()) shown.replace(at, len, esc);
    ctx.Warning("tg_invisible_character", e.span,
                "the string `" + shown + "` holds U+" + hex + " (" + name +
                    "), which the policy text does not show: it equals only a value holding the "
                    "same character",
                cp > 0xFFFF ? std::string("delete it")
                            : "delete it, or write it as the escape `" + esc + "` if it is meant");
    return;
  }
}

// Warns once per string literal whose source text holds a raw Cyrillic or
// Greek letter that looks like a Latin one (stdlib::LatinLookAlike) among
// ASCII letters, and no other letter of those scripts: `"leg<U+0430>l"` reads
// as `legal` in every editor and review, and equals only a value spelled
// with the same letter. A letter of those scripts that looks like no Latin
// one (`п`, `л`, `ί`) marks text written in them, which is meant; so is an
// escape (`\u0430`), as for InvisibleCharacters.
void LookAlikeLetters(Context& ctx, const Expr& e, std::set<std::pair<const void*, uint32_t>>* seen,
                      uint32_t depth) {
  if (depth > 512) return;
  for (const auto& k : e.kids) LookAlikeLetters(ctx, *k, seen, depth + 1);
  if (e.kind != ExprKind::kLiteral || e.value.kind != Kind::kString) return;
  const std::string_view text = ctx.Text(e.span);
  if (text.size() < 2) return;
  const std::string_view inner = text.substr(1, text.size() - 2);
  bool latin = false;
  uint32_t first = 0;
  std::string shown, meant;
  for (size_t i = 0, len = 0; i < inner.size();) {
    const size_t at = i;
    const uint32_t cp = NextUtf8(inner, &i, &len);
    const std::string_view raw = inner.substr(at, len);
    if (len == 1 && std::isalpha(static_cast<unsigned char>(cp))) latin = true;
    const bool script = (cp >= 0x0370 && cp <= 0x052F) || (cp >= 0x1F00 && cp <= 0x1FFF);
    const char as = script ? stdlib::LatinLookAlike(cp) : 0;
    if (script && !as) return;  // text in Cyrillic or Greek
    if (!as) {
      shown += raw;
      meant += raw;
      continue;
    }
    if (!first) first = cp;
    char hex[16];
    std::snprintf(hex, sizeof hex, "\\u%04x", unsigned(cp));
    shown += hex;
    meant += as;
  }
  if (!latin || !first || !seen->insert({e.span.file, e.span.begin}).second) return;
  char code[16], esc[16];
  std::snprintf(code, sizeof code, "U+%04X", unsigned(first));
  std::snprintf(esc, sizeof esc, "\\u%04x", unsigned(first));
  ctx.Warning("tg_look_alike_letter", e.span,
              "the string `" + shown + "` holds the " + (first < 0x0400 ? "Greek" : "Cyrillic") +
                  " letter " + code + " among Latin ones: it looks like `" +
                  std::string(1, stdlib::LatinLookAlike(first)) +
                  "`, but the string equals only a value spelled with the same letter",
              "write `" + meant + "`, or the escape `" + esc + "` if the letter is meant");
}

// A string with a space or tab at either end compared with a field that
// holds names as sent (principal.groups, request.tools, the workspace, a
// label): a name pasted from a spreadsheet cell with its padding
// (`{"legal ", "finance"}`) never equals the name. Fields with a shape other
// than lower-case text are tg_name_never_matches' (their Respell trims);
// `request.content` is text, not a name; a blank string is taken as meant.
class PaddedNames {
 public:
  explicit PaddedNames(Context& ctx) : ctx_(ctx) {}

  void Walk(Expr& e, uint32_t depth) {
    if (depth > 512) return;
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.index >= 0 && e.kids[0]) {
      if (const char* p = NamePath(*e.kids[0])) locals_.emplace_back(e.index, p);
    }
    if (e.kids.size() == 2 && e.kids[0] && e.kids[1]) {
      const bool compare = e.kind == ExprKind::kBinary &&
                           (e.op == Op::kEq || e.op == Op::kNe || e.op == Op::kIn ||
                            e.op == Op::kNotIn || e.op == Op::kHas);
      const bool algebra = e.kind == ExprKind::kCall &&
                           (e.name == "intersection" || e.name == "difference" || e.name == "is_subset");
      if (compare || algebra) {
        for (int i = 0; i < 2; ++i) {
          const char* path = NamePath(*e.kids[i]);
          if (path && Judge(path, *e.kids[1 - i])) break;
        }
      }
    }
    for (auto& k : e.kids)
      if (k) Walk(*k, depth + 1);
  }
  void Reset() { locals_.clear(); }  // slots are numbered per root

 private:
  // The schema path of a names field `e` reads (through `x ?? default`), or
  // of the collection a quantifier variable runs over; null for any other.
  const char* NamePath(const Expr& e0) const {
    const Expr* e = &e0;
    for (int guard = 0; guard < 64 && e->kind == ExprKind::kBinary && e->op == Op::kCoalesce && !e->kids.empty();
         ++guard)
      e = e->kids[0].get();
    if (e->ref == RefKind::kLocal) {
      for (const auto& [slot, path] : locals_)
        if (slot == e->index) return path;
      return nullptr;
    }
    if (e->ref != RefKind::kField || e->index < 0) return nullptr;
    const std::string& path = ctx_.schema->field(e->index).path;
    if (path == "request.content") return nullptr;
    const stdlib::ShapedField* f = stdlib::FindShapedField(path);
    if (f && f->holds != Shape::kNone && f->holds != Shape::kLowerText) return nullptr;
    return path.c_str();
  }

  // Warns when `other` folds to a string, or a set or list of them, one of
  // which is padded; true when it folds.
  bool Judge(const char* path, Expr& other) {
    std::optional<Value> v = FoldExpr(ctx_, other);
    if (!v) return false;
    std::vector<std::string_view> words;
    if (v->kind == Kind::kString) words.push_back(v->sv());
    const std::vector<Value>* items = v->kind == Kind::kSet && v->set     ? &v->set->items
                                      : v->kind == Kind::kList && v->list ? &v->list->items
                                                                          : nullptr;
    if (items)
      for (const Value& x : *items)
        if (x.kind == Kind::kString) words.push_back(x.sv());
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    for (std::string_view w : words) {
      size_t b = 0, n = w.size();
      while (b < n && blank(w[b])) ++b;
      while (n > b && blank(w[n - 1])) --n;
      if (b == n || (b == 0 && n == w.size())) continue;  // blank, or not padded
      const char edge = b > 0 ? w[0] : w.back();
      std::string shown;
      for (char c : w) shown += c == '\t' ? std::string("\\t") : std::string(1, c);
      ctx_.Warning("tg_padded_name", other.span,
                   "`" + shown + "` " + (b > 0 ? "starts" : "ends") + " with a " +
                       (edge == '\t' ? "tab" : "space") + ", but `" + path +
                       "` holds names as sent: it never equals `" + std::string(w.substr(b, n - b)) + "`",
                   "write `" + std::string(w.substr(b, n - b)) + "`");
      break;
    }
    return true;
  }

  Context& ctx_;
  std::vector<std::pair<int32_t, const char*>> locals_;
};

bool Names(Context& ctx) {
  const int before = ctx.errors;
  NameChecker n(ctx);
  std::set<std::pair<const void*, uint32_t>> invisible_seen, look_alike_seen;
  PaddedNames padded(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) {
    n.Reset();
    n.Walk(*root.expr, 1);
    n.NegativeLimit(root);
    const bool compared = root.role != Role::kMessage && root.role != Role::kTag &&
                          root.role != Role::kGiven && root.role != Role::kCandidate &&
                          root.role != Role::kExpectTag;
    if (compared) InvisibleCharacters(ctx, *root.expr, &invisible_seen, 1);
    if (compared) LookAlikeLetters(ctx, *root.expr, &look_alike_seen, 1);
    padded.Reset();
    padded.Walk(*root.expr, 1);
  }
  FallbackUnchecked(ctx);
  VariantBypass(ctx);
  return ctx.errors == before;  // warnings only
}

}  // namespace tollgate::check
