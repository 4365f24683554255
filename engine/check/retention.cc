// Pass `retention`: under `retain content hash` or `none` the audit record
// keeps no text of the request (docs/audit.md, "Retention"), but it writes
// the decision as decided, and the counters' keys as computed. So a policy
// with such a header may not put that text there itself:
//
//   - a `deny` reason or `warn` message whose holes render it,
//   - a `tag` value that carries it,
//   - a budget or limit key computed from it (the key is written with the
//     counters, and is the ledger's key),
//   - the argument of `time(s)` or a time-zone argument (`hour(t, tz)`)
//     computed from it: their run-time error message, listed in the
//     decision's `errors`, quotes the argument.
//
// The text is what retention replaces: `request.content` and
// `request.messages` (every member of a message: an unknown role is replaced
// too), and whatever is computed from them as a string, or as a collection
// or record holding strings (`lower(request.content)`, `split(...)`, `m.content`
// for `m` a quantifier variable over the messages, a witness of `when`
// included). A bool, number, money, duration or time computed from the text
// is not text (`length(request.content)`, `request.content matches dlp.email`,
// `dlp.injection_score(...)`): the record keeps lengths and detector counts
// anyway. Each place is tg_retained_text (an error: the header promises the
// record holds no text, and nothing the policy decides needs it).
#include <map>
#include <set>

#include "engine/check/passes.h"
#include "stdlib/builtins.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::RefKind;

// Whether a value of type `t` can hold text.
bool CarriesText(const Type& t, int depth = 0) {
  if (depth > 64) return true;
  switch (t.kind()) {
    case Kind::kString:
    case Kind::kMap:  // keys are strings
      return true;
    case Kind::kList:
    case Kind::kSet:
      return CarriesText(t.elem(), depth + 1);
    case Kind::kRecord:
      for (const RecordField& f : t.fields())
        if (CarriesText(f.type, depth + 1)) return true;
      return false;
    default:
      return false;
  }
}

// Builtins whose argument at `i` is quoted in their run-time error message.
bool QuotedArgument(const Expr& call, size_t i) {
  if (call.name == "time") return i == 0;
  if (i != 1 || call.kids.size() != 2) return false;
  static const char* const kZoned[] = {"hour", "minute", "weekday", "day_of_month", "day",
                                       "month", "year", "date"};
  for (const char* n : kZoned)
    if (call.name == n) return true;
  return false;
}

class Checker {
 public:
  explicit Checker(Context& ctx) : ctx_(ctx) {
    level_ = ast::RetentionName(ctx.policy->retain);
    for (const char* p : {"request.content", "request.messages"}) {
      int id = ctx.schema->Find(p);
      if (id >= 0) text_fields_.emplace(id, p);
    }
  }

  void Rule(const ast::Rule& r) {
    locals_.clear();
    if (r.mode_when) Root(*r.mode_when, nullptr, nullptr);  // its own slots
    locals_.clear();
    if (r.when) {
      Bind(*r.when, 1);
      Calls(*r.when, 1);
    }
    const std::map<int32_t, const Expr*> witnesses = locals_;
    for (const ast::Effect& fx : r.effects) {
      locals_ = witnesses;  // each effect's own quantifiers reuse slots after `when`'s
      for (const ast::RouteHint& h : fx.hints)
        if (h.expr) Root(*h.expr, nullptr, nullptr);
      if (!fx.expr) continue;
      switch (fx.kind) {
        case ast::EffectKind::kDeny:
          Root(*fx.expr, "this deny reason", "write what was found without quoting it: `deny 422 \"card number found\"`");
          break;
        case ast::EffectKind::kWarn:
          Root(*fx.expr, "this warning", "write what was found without quoting it, or name a count: `{length(request.messages)}`");
          break;
        case ast::EffectKind::kTag:
          Root(*fx.expr, "this tag value", "tag what the text is, not the text: a length, a detector match (`request.content matches dlp.email`)");
          break;
        default:
          Root(*fx.expr, nullptr, nullptr);
          break;
      }
    }
  }

  void Key(const Expr* key, const Expr* when, const Expr* limit, const char* what) {
    locals_.clear();
    if (when) Root(*when, nullptr, nullptr);
    if (limit) Root(*limit, nullptr, nullptr);
    if (key) Root(*key, what, "key it by who sends the request (`principal.user`, `principal.workspace`), not by what it says");
  }

 private:
  // Checks one top-level expression; `place` (null: none) is where its value
  // is written into the record.
  void Root(const Expr& e, const char* place, const char* help) {
    Bind(e, 1);
    Calls(e, 1);
    if (!place) return;
    if (const Expr* src = Source(e, 1)) Report(*src, place, help);
  }

  // Records, for each quantifier, whether its variable holds text.
  void Bind(const Expr& e, uint32_t depth) {
    if (depth > ctx_.options.limits.max_nesting_depth * 4 + 16) return;
    if (e.kind == ExprKind::kQuantifier && e.kids.size() == 2 && e.index >= 0) {
      Bind(*e.kids[0], depth + 1);
      locals_[e.index] = CarriesText(e.kids[0]->type) ? Source(*e.kids[0], depth + 1) : nullptr;
      Bind(*e.kids[1], depth + 1);
      return;
    }
    for (const auto& k : e.kids) Bind(*k, depth + 1);
  }

  // Builtins that quote a text argument in their error message.
  void Calls(const Expr& e, uint32_t depth) {
    if (depth > ctx_.options.limits.max_nesting_depth * 4 + 16) return;
    if (e.kind == ExprKind::kCall) {
      for (size_t i = 0; i < e.kids.size(); ++i) {
        if (!QuotedArgument(e, i)) continue;
        if (const Expr* src = Source(*e.kids[i], depth + 1))
          Report(*src, e.name == "time" ? "the error message of `time(...)`"
                                        : "the error message of an unknown time zone",
                 "compute the argument from request fields the record keeps, or from a constant");
      }
    }
    for (const auto& k : e.kids) Calls(*k, depth + 1);
  }

  // The first read of request text whose value `e` may carry, or null.
  const Expr* Source(const Expr& e, uint32_t depth) const {
    if (depth > ctx_.options.limits.max_nesting_depth * 4 + 16) return nullptr;
    if (e.folded || !CarriesText(e.type)) return nullptr;
    switch (e.kind) {
      case ExprKind::kLiteral:
        return nullptr;
      case ExprKind::kName:
        if (e.ref == RefKind::kLocal) {
          auto it = locals_.find(e.index);
          return it != locals_.end() && it->second ? &e : nullptr;
        }
        return nullptr;  // consts and data documents are the policy's own
      case ExprKind::kMember:
        if (e.ref == RefKind::kField) return text_fields_.count(e.index) ? &e : nullptr;
        if (e.ref == RefKind::kCounter || e.ref == RefKind::kDetector ||
            e.ref == RefKind::kNamespace || e.kids.empty())
          return nullptr;
        return Source(*e.kids[0], depth + 1);  // a member of a value: `m.content`
      case ExprKind::kIndex:
        return e.kids.empty() ? nullptr : Source(*e.kids[0], depth + 1);
      case ExprKind::kCall:
        for (size_t i = 0; i < e.kids.size(); ++i) {
          if (e.name == "get" && i == 1) continue;  // the key selects; the value is the map's
          if (const Expr* s = Source(*e.kids[i], depth + 1)) return s;
        }
        return nullptr;
      case ExprKind::kQuantifier:
        return nullptr;
      default:
        for (const auto& k : e.kids)
          if (const Expr* s = Source(*k, depth + 1)) return s;
        return nullptr;
    }
  }

  void Report(const Expr& src, const char* place, const char* help) {
    if (!reported_.insert({&src, place}).second) return;
    std::string what;
    if (src.kind == ExprKind::kName) {
      const Expr* field = &src;  // the text field the variable iterates, through nested quantifiers
      for (int i = 0; i < 64 && field->kind == ExprKind::kName; ++i) {
        auto it = locals_.find(field->index);
        if (it == locals_.end() || !it->second) break;
        field = it->second;
      }
      what = "`" + src.name + "`";
      if (field->kind != ExprKind::kName && text_fields_.count(field->index))
        what += ", from `" + text_fields_.at(field->index) + "`,";
    } else {
      what = "the request's text (`" + text_fields_.at(src.index) + "`)";
    }
    ctx_.Error("tg_retained_text", src.span,
               std::string(place) + " writes " + what + " into the audit record in clear, but the policy keeps `retain content " + level_ + "`",
               std::string(help) + "; `retain content " + level_ +
                   "` records keep no text of the request (docs/audit.md, \"Retention\")");
  }

  Context& ctx_;
  std::string level_;
  std::map<int, std::string> text_fields_;        // field id -> path
  std::map<int32_t, const Expr*> locals_;         // quantifier slot -> source of its collection
  std::set<std::pair<const Expr*, const char*>> reported_;
};

}  // namespace

bool Retention(Context& ctx) {
  int before = ctx.errors;
  if (ctx.policy->retain == ast::Retention::kFull) return true;
  Checker c(ctx);
  for (const ast::Rule& r : ctx.policy->rules) c.Rule(r);
  for (const ast::BudgetDecl& b : ctx.policy->budgets)
    c.Key(b.key.get(), b.when.get(), b.limit.get(), "this budget key");
  for (const ast::LimitDecl& l : ctx.policy->limits)
    c.Key(l.key.get(), l.when.get(), l.max.get(), "this limit key");
  return ctx.errors == before;
}

}  // namespace tollgate::check
