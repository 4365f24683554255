// Pass `tags`: one tag key set by two rules (or twice by one rule) that may
// fire for the same request (tg_tag_conflict). Pass `route_hints`: the same
// for the route hints kept once per decision, `sort` and `order`
// (tg_route_conflict).
//
// A decision holds one value per tag key: the first rule, in rule order
// (declaration order; the files of a policy in canonical order, sorted by path), whose tag
// applies sets it, and every later value for that key is dropped
// (docs/language.md, *tag*). That is right when the rules never fire
// together, and a silent loss when they do:
//
//   rule eu    { when principal.workspace == "acme-eu" tag residency = "eu" }
//   rule other { tag residency = "unknown" }   # dropped for acme-eu: eu's wins
//
// Rules the checker can tell apart stay quiet: the same constant value (no
// loss), a rule whose tags never apply (shadow or advisory, with no `mode
// ... when`), and two rules whose `when`s exclude each other by a conjunct
// -- `x == "a"` against `x == "b"` or `x in {"b", "c"}` (the same `x`, no
// common constant), or `c` against `not c`. Anything else may fire together:
// a warning, as the rules may still be exclusive in a way the checker does
// not see (by data, by the request).
//
// Route hints merge the same way for `sort` and `order`: the first rule in
// rule order that gives one decides it, a later one is dropped
// (docs/language.md, *route*; compile.cc keeps the first of a rule too):
//
//   rule batch       { when context.tags has "batch" route sort price }
//   rule interactive { when context.tags has "interactive" route sort latency }
//
// sorts a request tagged both by price. `max_price` caps are not judged: all
// apply and the lowest wins, which is what each rule asks for.
#include "engine/check/passes.h"

#include <string>
#include <vector>

#include "stdlib/builtins.h"

namespace tollgate::check {

using ast::Expr;
using ast::ExprKind;
using ast::Op;

// Structural equality of two checked expressions (passes.h).
bool SameExpr(const Expr& a, const Expr& b, uint32_t depth) {
  if (depth > 256) return false;
  if (a.kind != b.kind || a.op != b.op || a.name != b.name || a.quant_all != b.quant_all ||
      a.ref != b.ref || a.index != b.index || a.keys != b.keys || a.kids.size() != b.kids.size())
    return false;
  if (a.kind == ExprKind::kLiteral && !Equal(a.value, b.value)) return false;
  for (size_t i = 0; i < a.kids.size(); ++i)
    if (!SameExpr(*a.kids[i], *b.kids[i], depth + 1)) return false;
  return true;
}

namespace {

// A conjunct that pins an expression to constant values: `x == c`,
// `c == x`, `x in {c1, c2}` (a constant set or list).
struct Pin {
  const Expr* x = nullptr;
  std::vector<Value> values;
};

bool PinOf(Context& ctx, const Expr& c0, Pin* out) {
  Expr& c = const_cast<Expr&>(c0);  // FoldExpr memoises; it does not change the tree
  if (c.kind != ExprKind::kBinary || c.kids.size() != 2) return false;
  if (c.op == Op::kEq) {
    for (int side = 0; side < 2; ++side) {
      std::optional<Value> v = FoldExpr(ctx, *c.kids[1 - side]);
      if (v && !FoldExpr(ctx, *c.kids[side])) {
        out->x = c.kids[side].get();
        out->values = {*v};
        return true;
      }
    }
    return false;
  }
  if (c.op != Op::kIn || FoldExpr(ctx, *c.kids[0])) return false;
  std::optional<Value> s = FoldExpr(ctx, *c.kids[1]);
  if (!s) return false;
  if (s->kind == Kind::kSet && s->set) out->values = s->set->items;
  else if (s->kind == Kind::kList && s->list) out->values = s->list->items;
  else return false;
  out->x = c.kids[0].get();
  return true;
}

bool Disjoint(const std::vector<Value>& a, const std::vector<Value>& b) {
  for (const Value& x : a)
    for (const Value& y : b)
      if (Equal(x, y)) return false;
  return true;
}

bool Negation(const Expr& a, const Expr& b) {
  return a.kind == ExprKind::kUnary && a.op == Op::kNot && a.kids.size() == 1 && SameExpr(*a.kids[0], b);
}

// True when the two conditions (null: always) never hold together, by a
// pair of their conjuncts.
bool Exclusive(Context& ctx, const Expr* a, const Expr* b) {
  if (a == nullptr || b == nullptr) return false;
  std::vector<const Expr*> ca, cb;
  Conjuncts(*a, &ca);
  Conjuncts(*b, &cb);
  for (const Expr* x : ca) {
    Pin px;
    const bool pinned = PinOf(ctx, *x, &px);
    for (const Expr* y : cb) {
      if (Negation(*x, *y) || Negation(*y, *x)) return true;
      Pin py;
      if (pinned && PinOf(ctx, *y, &py) && SameExpr(*px.x, *py.x) && Disjoint(px.values, py.values))
        return true;
    }
  }
  return false;
}

// The tags of a rule may be applied: enforced, or shadow/advisory only
// `when` some condition.
bool Applies(const ast::Rule& r) { return r.mode == ast::Mode::kEnforce || r.mode_when != nullptr; }

std::string Where(const Span& s) {
  return (s.file ? s.file->path : std::string("?")) + ":" + std::to_string(s.line) + ":" +
         std::to_string(s.col);
}

// A hint's value for comparison: the sort word, or the order's folded list
// rendered; "" when unknown (not checked: another pass reports it).
std::string HintValue(const ast::RouteHint& h) {
  if (h.kind == ast::RouteHintKind::kSort) return h.word;
  if (h.expr && h.expr->folded && h.expr->folded->kind == Kind::kList)
    return stdlib::RenderValue(*h.expr->folded);
  return "";
}

}  // namespace

bool RouteHints(Context& ctx) {
  ast::Policy& p = *ctx.policy;
  struct Given {
    size_t rule;
    const ast::RouteHint* hint;
    std::string value;
  };
  for (ast::RouteHintKind kind : {ast::RouteHintKind::kSort, ast::RouteHintKind::kOrder}) {
    std::vector<Given> given;  // every applicable hint of this kind, in rule order
    for (size_t i = 0; i < p.rules.size(); ++i) {
      if (!Applies(p.rules[i])) continue;
      for (const ast::Effect& e : p.rules[i].effects) {
        if (e.kind != ast::EffectKind::kRoute) continue;
        for (const ast::RouteHint& h : e.hints)
          if (h.kind == kind) {
            std::string v = HintValue(h);
            if (!v.empty()) given.push_back({i, &h, std::move(v)});
          }
      }
    }
    const char* what = kind == ast::RouteHintKind::kSort ? "sort" : "order";
    for (size_t j = 0; j < given.size(); ++j) {
      const ast::Rule& later = p.rules[given[j].rule];
      for (size_t i = 0; i < j; ++i) {
        if (given[i].value == given[j].value) continue;
        const ast::Rule& earlier = p.rules[given[i].rule];
        const bool self = &earlier == &later;
        if (!self && Exclusive(ctx, earlier.when.get(), later.when.get())) continue;
        const std::string first = std::string(what) + " " + given[i].value;
        const std::string by = self ? "the rule gives `" + first + "` earlier (" +
                                          Where(given[i].hint->span) + ")"
                                    : "rule `" + earlier.name + "` gives `" + first + "` first (" +
                                          Where(given[i].hint->span) + ")";
        ctx.Warning("tg_route_conflict", given[j].hint->span,
                    "`" + std::string(what) + " " + given[j].value + "` of rule `" + later.name +
                        "` is dropped whenever " + (self ? "the rule fires: " : "both rules fire: ") +
                        by,
                    std::string("a decision keeps one `") + what +
                        "`, the first in rule order; give it in one rule, or make the rules' "
                        "conditions exclude each other (`x == \"a\"` and `x == \"b\"`, or `c` "
                        "and `not c`)");
        break;  // one warning per hint
      }
    }
  }
  return true;  // warnings only
}

bool Tags(Context& ctx) {
  ast::Policy& p = *ctx.policy;
  struct Set {
    size_t rule;
    const ast::Effect* effect;
  };
  std::vector<Set> sets;  // every applicable tag, in rule order
  for (size_t i = 0; i < p.rules.size(); ++i) {
    if (!Applies(p.rules[i])) continue;
    for (const ast::Effect& e : p.rules[i].effects)
      if (e.kind == ast::EffectKind::kTag && e.expr) sets.push_back({i, &e});
  }
  for (size_t j = 0; j < sets.size(); ++j) {
    const ast::Rule& later = p.rules[sets[j].rule];
    const ast::Effect& tag = *sets[j].effect;
    for (size_t i = 0; i < j; ++i) {
      const ast::Effect& first = *sets[i].effect;
      if (first.tag_key != tag.tag_key) continue;
      const ast::Rule& earlier = p.rules[sets[i].rule];
      if (first.expr->type.is(Kind::kAny) || tag.expr->type.is(Kind::kAny)) continue;
      std::optional<Value> a = FoldExpr(ctx, *first.expr), b = FoldExpr(ctx, *tag.expr);
      if (a && b && Equal(*a, *b)) continue;
      if (&earlier != &later && Exclusive(ctx, earlier.when.get(), later.when.get())) continue;
      const bool self = &earlier == &later;
      const std::string by = self ? "the rule sets it earlier (" + Where(first.span) + ")"
                                  : "rule `" + earlier.name + "` sets it first (" +
                                        Where(first.span) + ")";
      ctx.Warning("tg_tag_conflict", tag.span,
                  "tag `" + tag.tag_key + "` of rule `" + later.name + "` is dropped whenever " +
                      (self ? "the rule fires: " : "both rules fire: ") + by,
                  "a decision keeps the first value set for a key, in rule order; give the tags "
                  "different keys, set the tag in one rule, or make the rules' conditions exclude "
                  "each other (`x == \"a\"` and `x == \"b\"`, or `c` and `not c`)");
      break;  // one warning per tag
    }
  }
  return true;  // warnings only
}

}  // namespace tollgate::check
