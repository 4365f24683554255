// Pass `optional`: absent values are the checker's business (Cedar's
// validator is the model: an optional attribute is read only under a guard).
//
// A value MAY BE ABSENT (null at run time) when it is
//   - a schema field that is not required, derived, clock-filled, a set or a
//     list (stdlib::FieldDef::AlwaysPresent),
//   - an optional record field (`name?: T`, not a set or list),
//   - a map entry `m[k]` / `m.k` (the key may not be in the map) or a list
//     element `l[i]` (the position may be out of range),
//   - `null`, `a ?? b` when `b` may be absent, `get(m, k, d)` when `d` may,
//   - a counter (`budget.b.remaining`, `limit.l.used`) of a budget or limit
//     with a `when`: it has counters only for the requests `when` matches.
// Reading such a value where null fails at run time (every operand except
// those of `==`/`!=`, the left of `??` and the argument of `exists`; `when`
// and `require` conditions; budget/limit `when`s and keys; the base of `.`/`[...]`;
// elements of list/set/map literals) is tg_unguarded_optional, unless a
// guard DOMINATES the read. Guards (flow typing over the pure expression
// language, so a fact never goes stale):
//   exists(x), x != null, x == <constant>     -> x is present (x a counter too)
//   k in m, m has k  (m a map)                -> m[k] is present
// A fact holds on the right of `and` after a true left side, on the right of
// `or` after a false left side (`not exists(x) or x > 1`), through `not`,
// in every effect of a rule after its `when`, and in a budget's or limit's
// key after its `when` (whose reads are checked as a rule's). Facts are keyed by the
// access path's structure (field id, const/data/local slot, member names and
// constant or path keys), never by source text. Facts inside a quantifier
// body never leave it. Anything else: the read must be guarded or defaulted.
//
// Test blocks and consts are not checked (they are constants).
//
// ABSENCE THAT MEANS A VALUE. Some optional fields are absent with a
// meaning the gateway defines (stdlib/field_values.h AbsentMeaning): a
// request without `stream` does not stream, one without
// `provider.allow_fallbacks` allows fallbacks. Unguarded, such a field
// compared (`==`, `!=`) with that very value, or defaulted (`??`) to
// another value it can hold, reads a request that leaves it out unlike one
// that sends what it means: `when request.stream == false deny` passes
// every client that omits `stream`. tg_absent_means_default (a warning)
// writes the comparison that counts absence as its meaning; a guard
// (`exists(x) and x == false`) says only an explicit value is meant. The
// help of tg_unguarded_optional offers that value as the default.
#include <algorithm>
#include <set>

#include "engine/check/passes.h"
#include "stdlib/builtins.h"
#include "stdlib/field_values.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;
using ast::RefKind;

using Facts = std::set<std::string>;

std::string QuoteKey(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool IsNullLiteral(const Expr& e) {
  if (e.folded) return e.folded->is_null();
  return e.kind == ExprKind::kLiteral && e.value.kind == Kind::kNull;
}

class Checker {
 public:
  explicit Checker(Context& ctx) : ctx_(ctx) {}

  // The structural key of an access path, or "" when `e` is not one.
  std::string PathKey(const Expr& e, int depth = 0) const {
    if (depth > 256) return "";
    if (e.ref == RefKind::kField) return "f" + std::to_string(e.index);
    if (e.ref == RefKind::kCounter) return "k" + std::to_string(e.index);
    switch (e.kind) {
      case ExprKind::kName:
        if (e.ref == RefKind::kConst) return "c" + std::to_string(e.index);
        if (e.ref == RefKind::kData) return "d" + std::to_string(e.index);
        if (e.ref == RefKind::kLocal) return "l" + std::to_string(e.index);
        return "";
      case ExprKind::kMember: {
        std::string base = PathKey(*e.kids[0], depth + 1);
        if (base.empty()) return "";
        if (e.kids[0]->type.is(Kind::kMap)) return base + "[" + QuoteKey(e.name) + "]";
        return base + "." + e.name;
      }
      case ExprKind::kIndex: {
        std::string base = PathKey(*e.kids[0], depth + 1);
        std::string key = KeyPart(*e.kids[1], depth + 1);
        if (base.empty() || key.empty()) return "";
        if (e.kids[0]->type.is(Kind::kRecord) && e.kids[1]->folded &&
            e.kids[1]->folded->kind == Kind::kString)
          return base + "." + std::string(e.kids[1]->folded->sv());
        return base + "[" + key + "]";
      }
      default:
        return "";
    }
  }

  // A map key or list position inside a path key.
  std::string KeyPart(const Expr& k, int depth) const {
    if (k.folded) {
      if (k.folded->kind == Kind::kString) return QuoteKey(k.folded->sv());
      if (k.folded->kind == Kind::kInt) return "#" + std::to_string(k.folded->i);
      return "";
    }
    std::string p = PathKey(k, depth);
    return p.empty() ? "" : "(" + p + ")";
  }

  // ---- facts a condition establishes ----
  void TrueFacts(const Expr& e, Facts* out, int depth = 0) const {
    if (depth > 256 || e.folded) return;
    if (e.kind == ExprKind::kUnary && e.op == Op::kNot) return FalseFacts(*e.kids[0], out, depth + 1);
    if (e.kind == ExprKind::kCall && e.name == "exists" && e.kids.size() == 1) {
      Add(*e.kids[0], out);
      return;
    }
    if (e.kind != ExprKind::kBinary) return;
    const Expr& a = *e.kids[0];
    const Expr& b = *e.kids[1];
    switch (e.op) {
      case Op::kAnd:
        TrueFacts(a, out, depth + 1);
        TrueFacts(b, out, depth + 1);
        return;
      case Op::kOr: {
        Facts x, y;
        TrueFacts(a, &x, depth + 1);
        TrueFacts(b, &y, depth + 1);
        for (const auto& f : x)
          if (y.count(f)) out->insert(f);
        return;
      }
      case Op::kNe:
        if (IsNullLiteral(b)) Add(a, out);
        else if (IsNullLiteral(a)) Add(b, out);
        return;
      case Op::kEq:
        // x == <non-null constant> holds only when x is present.
        if (b.folded && !b.folded->is_null()) Add(a, out);
        else if (a.folded && !a.folded->is_null()) Add(b, out);
        return;
      case Op::kIn:
        AddEntry(b, a, out);
        return;
      case Op::kHas:
        AddEntry(a, b, out);
        return;
      default:
        return;
    }
  }

  void FalseFacts(const Expr& e, Facts* out, int depth = 0) const {
    if (depth > 256 || e.folded) return;
    if (e.kind == ExprKind::kUnary && e.op == Op::kNot) return TrueFacts(*e.kids[0], out, depth + 1);
    if (e.kind != ExprKind::kBinary) return;
    const Expr& a = *e.kids[0];
    const Expr& b = *e.kids[1];
    switch (e.op) {
      case Op::kOr:
        FalseFacts(a, out, depth + 1);
        FalseFacts(b, out, depth + 1);
        return;
      case Op::kAnd: {
        Facts x, y;
        FalseFacts(a, &x, depth + 1);
        FalseFacts(b, &y, depth + 1);
        for (const auto& f : x)
          if (y.count(f)) out->insert(f);
        return;
      }
      case Op::kEq:
        if (IsNullLiteral(b)) Add(a, out);
        else if (IsNullLiteral(a)) Add(b, out);
        return;
      case Op::kNe:
        if (b.folded && !b.folded->is_null()) Add(a, out);
        else if (a.folded && !a.folded->is_null()) Add(b, out);
        return;
      case Op::kNotIn:
        AddEntry(b, a, out);
        return;
      default:
        return;
    }
  }

  // x is present, and so is every prefix of its path (the guard read them).
  void Add(const Expr& x, Facts* out, int depth = 0) const {
    if (depth > 256) return;
    std::string k = PathKey(x);
    if (k.empty()) return;
    out->insert(k);
    if ((x.kind == ExprKind::kMember && x.ref != RefKind::kField) || x.kind == ExprKind::kIndex)
      Add(*x.kids[0], out, depth + 1);
  }
  // `key in map` makes map[key] present.
  void AddEntry(const Expr& map, const Expr& key, Facts* out) const {
    if (!map.type.is(Kind::kMap)) return;
    std::string m = PathKey(map);
    std::string k = KeyPart(key, 0);
    if (m.empty() || k.empty()) return;
    out->insert(m + "[" + k + "]");
    Add(map, out);
    Add(key, out);
  }

  // ---- the walk ----
  // Visits `e` under `facts`; returns true when its value may be absent.
  // Every operand that must be present is checked with Need().
  bool Visit(const Expr& e, const Facts& facts, uint32_t depth) {
    if (depth > ctx_.options.limits.max_nesting_depth * 4 + 16) return false;
    if (e.type.is(Kind::kAny) || e.type.is(Kind::kPattern)) return false;  // reported elsewhere
    if (e.folded) return e.folded->is_null();
    // A path known present needs no look inside: its prefixes were read (and
    // found present) by the guard that established it.
    if (!facts.empty()) {
      std::string k = PathKey(e);
      if (!k.empty() && facts.count(k)) return false;
    }
    return MayBeAbsent(e, facts, depth);
  }

  void Need(const Expr& e, const Facts& facts, uint32_t depth) {
    if (!Visit(e, facts, depth)) return;
    Report(e);
  }

  void CheckRule(const ast::Rule& r) {
    Facts none;
    Facts after_when;
    if (r.when) {
      Need(*r.when, none, 1);
      TrueFacts(*r.when, &after_when);
    }
    for (const ast::Effect& fx : r.effects) {
      if (!fx.expr) continue;
      switch (fx.kind) {
        case ast::EffectKind::kRequire: Need(*fx.expr, after_when, 1); break;
        case ast::EffectKind::kTag:   // a null tag value is fine; what it computes is checked
        case ast::EffectKind::kDeny:  // so are message holes (`deny "tool {t}"`)
        case ast::EffectKind::kWarn: Visit(*fx.expr, after_when, 1); break;
        default: break;  // redact patterns are constant
      }
    }
  }

  // A budget or limit: its `when` is read for every request (a read that
  // fails denies the request with rule_error at admission, so it is checked
  // as a rule's `when` is), and its key only for the requests the `when`
  // admits (vm::EvalDeclaration), so the `when`'s guards hold in the key:
  // `when exists(principal.user) key principal.user`. A key part that is
  // still unguarded gets both fixes in its help: the guard in the `when`, or
  // a default -- which puts every request without the value on one counter.
  void CheckDeclaration(const Expr* when, const Expr* e) {
    Facts after_when;
    if (when) {
      Need(*when, Facts(), 1);
      TrueFacts(*when, &after_when);
    }
    if (!e) return;
    in_key_ = true;
    if (e->kind == ExprKind::kList) {  // a composite key: every part is needed
      for (const auto& k : e->kids) Need(*k, after_when, 2);
    } else if (e->type.is(Kind::kString)) {  // a wrong type is reported already
      Need(*e, after_when, 1);
    }
    in_key_ = false;
  }

 private:
  bool MayBeAbsent(const Expr& e, const Facts& facts, uint32_t depth) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return e.value.kind == Kind::kNull;
      case ExprKind::kName:
        return false;  // consts are folded, data documents and locals are present
      case ExprKind::kMember:
        if (e.ref == RefKind::kField) return !ctx_.schema->field(e.index).AlwaysPresent();
        if (e.ref == RefKind::kCounter) return CounterWhen(e) != nullptr;
        if (e.ref == RefKind::kDetector || e.ref == RefKind::kNamespace) return false;
        if (e.ref == RefKind::kConst || e.ref == RefKind::kData || e.ref == RefKind::kLocal)
          return false;
        Need(*e.kids[0], facts, depth + 1);
        return FieldAbsent(e.kids[0]->type, e.name, /*is_map_lookup=*/true);
      case ExprKind::kIndex: {
        Need(*e.kids[0], facts, depth + 1);
        Need(*e.kids[1], facts, depth + 1);
        const Type& base = e.kids[0]->type;
        if (base.is(Kind::kRecord)) {
          if (e.kids[1]->folded && e.kids[1]->folded->kind == Kind::kString)
            return FieldAbsent(base, e.kids[1]->folded->sv(), false);
          return true;
        }
        return true;  // a map key may be missing, a list position out of range
      }
      case ExprKind::kUnary:
        Need(*e.kids[0], facts, depth + 1);
        return false;
      case ExprKind::kBinary:
        return BinaryAbsent(e, facts, depth);
      case ExprKind::kCall: {
        // exists(x), string(x), ...: builtins that take null themselves.
        if (e.index >= 0 && size_t(e.index) < stdlib::Builtins().size() &&
            stdlib::Builtins()[e.index].accepts_null) {
          for (const auto& k : e.kids) Visit(*k, facts, depth + 1);
          return false;
        }
        bool last_absent = false;
        for (size_t i = 0; i < e.kids.size(); ++i) {
          if (e.name == "get" && i == 2) {
            last_absent = Visit(*e.kids[i], facts, depth + 1);
            if (last_absent) Report(*e.kids[i]);  // builtins refuse null arguments
            continue;
          }
          Need(*e.kids[i], facts, depth + 1);
        }
        return false;
      }
      case ExprKind::kList:
      case ExprKind::kSet:
      case ExprKind::kMap:
        for (const auto& k : e.kids) Need(*k, facts, depth + 1);
        return false;
      case ExprKind::kQuantifier: {
        Need(*e.kids[0], facts, depth + 1);
        Need(*e.kids[1], facts, depth + 1);
        return false;
      }
    }
    return false;
  }

  bool BinaryAbsent(const Expr& e, const Facts& facts, uint32_t depth) {
    const Expr& a = *e.kids[0];
    const Expr& b = *e.kids[1];
    switch (e.op) {
      case Op::kEq:
      case Op::kNe:
        if (!CompareWithMeaning(e, a, b, facts)) CompareWithMeaning(e, b, a, facts);
        Visit(a, facts, depth + 1);
        Visit(b, facts, depth + 1);
        return false;
      case Op::kCoalesce:
        DefaultAgainstMeaning(e, a, b, facts);
        Visit(a, facts, depth + 1);
        return Visit(b, facts, depth + 1);
      case Op::kAnd:
      case Op::kOr: {
        Need(a, facts, depth + 1);
        Facts more = facts;
        if (e.op == Op::kAnd) TrueFacts(a, &more);
        else FalseFacts(a, &more);
        Need(b, more, depth + 1);
        return false;
      }
      case Op::kMatches:
        Need(a, facts, depth + 1);
        if (!b.type.is(Kind::kPattern)) Need(b, facts, depth + 1);
        return false;
      default:
        Need(a, facts, depth + 1);
        Need(b, facts, depth + 1);
        return false;
    }
  }

  // The absence meaning of `x` when it is an unguarded field that has one.
  const stdlib::AbsentMeaning* Meaning(const Expr& x, const Facts& facts) const {
    if (x.ref != RefKind::kField || x.index < 0) return nullptr;
    const stdlib::AbsentMeaning* m = stdlib::FindAbsentMeaning(ctx_.schema->field(x.index).path);
    if (!m || facts.count(PathKey(x))) return nullptr;
    return m;
  }
  static bool IsValue(const Value& v, const stdlib::AbsentMeaning& m) {
    if (m.is_bool) return v.kind == Kind::kBool && (v.b ? "true" : "false") == m.value;
    return v.kind == Kind::kString && v.sv() == m.value;
  }
  bool Once(const Expr& e) { return warned_.insert({e.span.file, e.span.begin}).second; }

  // `field == D` / `field != D`, D what the field's absence means: a request
  // without the field is read unlike one that sends D. Reports once; true
  // when `field` is such a field (so the mirrored call is not needed).
  bool CompareWithMeaning(const Expr& e, const Expr& field, const Expr& other, const Facts& facts) {
    const stdlib::AbsentMeaning* m = Meaning(field, facts);
    if (!m || !other.folded || !IsValue(*other.folded, *m) || !Once(e)) return m != nullptr;
    const std::string path = ChainText(field), d = stdlib::AbsentLiteral(*m);
    const bool eq = e.op == Op::kEq;
    std::string fix;
    if (m->is_bool) {
      fix = path + (eq ? " != " : " == ") + (m->value == "true" ? "false" : "true");
    } else {
      fix = "(" + path + " ?? " + d + ")" + (eq ? " == " : " != ") + d;
    }
    ctx_.Warning("tg_absent_means_default", e.span,
                 "`" + std::string(ctx_.Text(e.span)) + (eq ? "` does not hold" : "` holds") +
                     " for a request without `" + path + "`, which means `" + d +
                     "` (such a request " + std::string(m->what) + ")",
                 "write `" + fix + "` to count a request that leaves it out as `" + d +
                     "`, or guard it, `exists(" + path +
                     ") and ...`, if only a request that sends it is meant");
    return true;
  }

  // `field ?? d`, d a value the field can hold other than what its absence
  // means: a request without the field is read as asking for d.
  void DefaultAgainstMeaning(const Expr& e, const Expr& field, const Expr& d, const Facts& facts) {
    const stdlib::AbsentMeaning* m = Meaning(field, facts);
    if (!m || !d.folded || d.folded->is_null() || IsValue(*d.folded, *m)) return;
    if (m->is_bool != (d.folded->kind == Kind::kBool)) return;
    if (!m->is_bool) {
      const stdlib::ShapedField* shape = stdlib::FindShapedField(m->path);
      if (d.folded->kind != Kind::kString ||
          (shape && !stdlib::Fits(shape->holds, d.folded->sv())))
        return;  // "" and the like: a value no request sends, taken as "none"
    }
    if (!Once(e)) return;
    const std::string path = ChainText(field), lit = stdlib::AbsentLiteral(*m);
    ctx_.Warning("tg_absent_means_default", e.span,
                 "`" + std::string(ctx_.Text(e.span)) + "` reads a request without `" + path +
                     "` as `" + std::string(ctx_.Text(d.span)) + "`, but absent it means `" + lit +
                     "` (such a request " + std::string(m->what) + ")",
                 "write `" + path + " ?? " + lit + "`");
  }

  // The `when` of the budget or limit whose counter `e` reads, when it has
  // one that is not constant true: its counters are read (and present) only
  // for the requests it matches; for the others the slot is null
  // (vm::Counters) and an unguarded read fails with eval_missing_field.
  const Expr* CounterWhen(const Expr& e) const {
    if (e.index < 0) return nullptr;
    const size_t d = size_t(e.index) / 3, nb = ctx_.policy->budgets.size();
    const Expr* when = nullptr;
    const Expr* key = nullptr;
    if (d < nb) {
      when = ctx_.policy->budgets[d].when.get();
      key = ctx_.policy->budgets[d].key.get();
    } else if (d - nb < ctx_.policy->limits.size()) {
      when = ctx_.policy->limits[d - nb].when.get();
      key = ctx_.policy->limits[d - nb].key.get();
    }
    // Charged per endpoint: rules cannot read it at all (tg_scope_error, scopes).
    auto candidate = [](const Expr* x) { return x && x->scope == ast::Scope::kCandidate; };
    if (candidate(when) || candidate(key)) return nullptr;
    if (when && when->folded && when->folded->kind == Kind::kBool && when->folded->b) return nullptr;
    return when;
  }
  std::string CounterOwner(const Expr& e) const {
    const size_t d = size_t(e.index) / 3, nb = ctx_.policy->budgets.size();
    return d < nb ? "budget `" + ctx_.policy->budgets[d].name + "`"
                  : "limit `" + ctx_.policy->limits[d - nb].name + "`";
  }

  // Whether field `name` of a value of type `t` may be absent.
  static bool FieldAbsent(const Type& t, std::string_view name, bool is_map_lookup) {
    if (t.is(Kind::kMap)) return is_map_lookup;
    if (!t.is(Kind::kRecord)) return false;
    int fi = t.FieldIndex(name);
    if (fi < 0) return false;
    const RecordField& f = t.fields()[fi];
    return f.optional && !f.type.is(Kind::kSet) && !f.type.is(Kind::kList);
  }

  // One diagnostic per node.
  void Report(const Expr& e) {
    if (!reported_.insert(&e).second) return;
    std::string text(ctx_.Text(e.span));
    const Expr* map = nullptr;
    const Expr* key = nullptr;
    std::string why = "it is an optional field";
    if (e.kind == ExprKind::kIndex || e.kind == ExprKind::kMember) {
      const Type& base = e.kids[0]->type;
      if (base.is(Kind::kMap)) {
        map = e.kids[0].get();
        key = e.kind == ExprKind::kIndex ? e.kids[1].get() : nullptr;
        why = "the key may not be in the map";
      } else if (base.is(Kind::kList)) {
        why = "the position may be past the end of the list";
      } else if (e.ref != RefKind::kField) {
        why = "it is an optional record field";
      }
    } else if (e.kind == ExprKind::kCall || (e.kind == ExprKind::kBinary && e.op == Op::kCoalesce)) {
      why = "its default may be absent";
    } else if (IsNullLiteral(e)) {
      why = "it is null";
    }
    if (e.ref == RefKind::kCounter) {
      // A default would make the rule fire (or not) for requests the budget
      // does not count: only a guard says what the author means.
      const std::string owner = CounterOwner(e);
      ctx_.Error("tg_unguarded_optional", e.span,
                 "`" + text + "` may be absent here, where a value is needed: " + owner +
                     " applies only to the requests its `when` matches",
                 "guard it: `exists(" + text + ") and ...` (for the other requests " + owner +
                     " has no counters, and the read fails with eval_missing_field)");
      return;
    }
    std::string def = DefaultFor(e.type);
    if (e.ref == RefKind::kField && e.index >= 0) {
      // What a request without the field asks for, where that is defined:
      // `allow_fallbacks ?? false` would read it as pinned.
      if (const auto* m = stdlib::FindAbsentMeaning(ctx_.schema->field(e.index).path))
        def = stdlib::AbsentLiteral(*m);
    }
    if (def.empty()) def = "DEFAULT";
    std::string help;
    if (map) {
      std::string m(ctx_.Text(map->span));
      std::string k = key ? std::string(ctx_.Text(key->span)) : "\"" + e.name + "\"";
      help = "give a default: `get(" + m + ", " + k + ", " + def + ")` or `" + text + " ?? " + def + "`";
      if (in_key_)
        help = "guard it in the declaration's `when`: `when " + k + " in " + m +
               "` (it then counts only those requests), or " + help +
               " (every request without it then shares that one counter)";
      else
        help = "guard it: `" + k + " in " + m + " and ...`, or " + help;
    } else {
      help = "give a default: `" + text + " ?? " + def + "`";
      if (in_key_)
        help = "guard it in the declaration's `when`: `when exists(" + text +
               ")` (it then counts only those requests), or " + help +
               " (every request without it then shares that one counter)";
      else
        help = "guard it: `exists(" + text + ") and ...`, or " + help;
    }
    ctx_.Error("tg_unguarded_optional", e.span,
               "`" + text + "` may be absent here, where a value is needed: " + why, help);
  }

  static std::string DefaultFor(const Type& t) {
    switch (t.kind()) {
      case Kind::kBool: return "false";
      case Kind::kInt: return "0";
      case Kind::kDecimal: return "0.0";
      case Kind::kMoney: return "0 usd";
      case Kind::kString: return "\"\"";
      case Kind::kDuration: return "0ms";
      case Kind::kSet: return "{}";
      case Kind::kList: return "[]";
      default: return "";
    }
  }

  Context& ctx_;
  std::set<const Expr*> reported_;
  std::set<std::pair<const void*, uint32_t>> warned_;  // tg_absent_means_default, by position
  bool in_key_ = false;  // checking a budget's or limit's key (CheckDeclaration)
};

}  // namespace

bool Optional(Context& ctx) {
  int before = ctx.errors;
  Checker c(ctx);
  for (const ast::Rule& r : ctx.policy->rules) c.CheckRule(r);
  for (const ast::BudgetDecl& b : ctx.policy->budgets) c.CheckDeclaration(b.when.get(), b.key.get());
  for (const ast::LimitDecl& l : ctx.policy->limits) c.CheckDeclaration(l.when.get(), l.key.get());
  return ctx.errors == before;
}

}  // namespace tollgate::check
