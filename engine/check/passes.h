// Internal to engine/check: the checker's passes and the state they share.
//
// Check() builds one Context and runs Passes() in order. Every pass is a plain
// function `bool Pass(Context&)`: it reads the AST (and what earlier passes
// annotated), appends diagnostics, annotates nodes in place and returns true
// when it reported no error. Each pass can be run alone in a test after the
// passes it depends on (a pass never needs a later one):
//
//   declarations  duplicate names, reserved names, the rule-count limit
//   lets          expand every use of a `let` name into a copy of its expression
//   data          load `data` JSON documents and check them against their shape
//   resolve       names, field chains, detectors and builtin callees -> Expr::ref/index
//   types         a type for every expression (+ overloads, effect/decl rules)
//   scopes        Expr::scope bottom-up; `when`, tags and keys read request fields only
//                 (and quantifier bodies: tg_unused_variable, tg_quantifier_extends)
//   regex         every constant pattern compiles under RE2; `^` / `$` on the
//                 joined request.content (tg_joined_text_anchor)
//   fold          constant folding (Expr::folded) and tg_not_constant checks;
//                 constant builtin arguments validated (an unknown time zone),
//                 a zone that reads as another clock (tg_misleading_time_zone)
//   zones         a condition whose calendar calls on one time read UTC and
//                 another zone (tg_mixed_time_zones, see zones.cc)
//   optional      reads of values that may be absent are guarded or defaulted
//                 (tg_unguarded_optional; flow typing, see optional.cc)
//   operands      constant operands that make an operation silently wrong: a
//                 default `x ?? 0 + y` read as `x ?? (0 + y)` (tg_default_precedence), a
//                 negative list position (tg_invalid_value), money divided by
//                 10^4 or more (tg_money_precision, see operands.cc)
//   names         warns when a shaped field (provider.name, request.model,
//                 endpoint.quantization, ...) is compared with a value known at
//                 check time that it never holds (stdlib/field_values.h),
//                 and when model bans ignore the fallback models; `date(...)`
//                 against a day not written yyyy-mm-dd, an upper-case message
//                 role, a negative budget limit read out of a data document,
//                 a raw invisible character in a string (tg_invisible_character),
//                 a Cyrillic or Greek look-alike among Latin letters
//                 (tg_look_alike_letter), a name with a space at an end
//                 compared with an untrimmed names field (tg_padded_name)
//   ranges        a comparison of a bounded number (hour(t) 0..23,
//                 dlp.injection_score 0..1, request.n 1..: stdlib BuiltinDecl::range,
//                 stdlib/field_values.h FieldRange) with a constant that can
//                 never hold (tg_unreachable_comparison; an error when it
//                 makes a `when` or `require` never hold); a per-token price
//                 against a per-million one (tg_price_per_token)
//   contradictions  conjuncts a condition needs that no value satisfies
//                 together (`hour(t) > 22 and hour(t) < 6`: tg_contradiction)
//   tags          one tag key set by two rules that may fire together, or
//                 twice by one rule: the first value is kept (tg_tag_conflict)
//   route_hints   a `sort` or `order` given differently by two rules that may
//                 fire together: the first is kept (tg_route_conflict)
//   retention     under `retain content hash|none`, no message, tag, key or
//                 quoted error carries the request's text (tg_retained_text)
//   tests         test blocks: rule names, binding paths and values (candidate
//                 values as the catalog holds them, numbers within the ranges
//                 of stdlib/field_values.h), tag keys, `expect code` codes
//
// Annotations follow docs/architecture.md ("Checker -> compiler"). The inner
// kNamespace nodes of a field or detector chain are never evaluated and keep
// type `any`; every other node of a clean policy has a real type.
//
// Error recovery: an expression whose type could not be determined keeps type
// `any`; every later check treats `any` as "already reported" and stays quiet,
// so that one mistake yields one diagnostic.
//
// Thread safety: a Context is used by one thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/check/check.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "stdlib/schema.h"

namespace tollgate::check {

// Where a top-level expression stands; decides which rules apply to it.
enum class Role : uint8_t {
  kConst,         // const declaration (owner = const index)
  kLet,           // let declaration (owner = let index); any type, any scope
  kWhen,          // rule `when` (owner = rule index)
  kModeWhen,      // `mode shadow when C` condition (owner = rule index)
  kRequire,       // `require` predicate
  kRedact,        // `redact` pattern
  kTag,           // `tag k = v` value
  kMessage,       // the rendering of a `deny`/`warn` message with `{...}` holes
  kMaxPrice,      // route max_price
  kOrder,         // route order
  kBudgetWhen,    // budget `when` (owner = budget index)
  kBudgetKey,     // budget key (owner = budget index)
  kBudgetLimit,   // budget limit
  kLimitWhen,     // limit `when` (owner = limit index)
  kLimitKey,      // limit key (owner = limit index)
  kLimitMax,      // limit max
  kGiven,         // test `given` binding value (owner = test index)
  kCandidate,     // test `candidate` binding value
  kExpectTag,     // `expect tag k = v` value
  kExpectMaxPrice,
  kExpectOrder,
};
const char* RoleName(Role r);  // "when", "require", ... for messages

struct Root {
  Role role;
  ast::Expr* expr;
  int owner;  // index of the declaration that holds it (see Role)
};

// What it means that a condition of this root can never hold ("rule `r`
// can never fire", "budget `b` never applies", ...); "" when the role is no
// condition (a const, a tag value...): the ranges and contradictions passes
// report an error only where this is not empty.
std::string NeverHolds(const ast::Policy& p, const Root& root);

// The comparison with its sides swapped: `c < x` is `x > c` (< and >, <= and
// >= trade places; ==, != and the rest are their own mirror).
inline ast::Op Mirror(ast::Op op) {
  switch (op) {
    case ast::Op::kLt: return ast::Op::kGt;
    case ast::Op::kLe: return ast::Op::kGe;
    case ast::Op::kGt: return ast::Op::kLt;
    case ast::Op::kGe: return ast::Op::kLe;
    default: return op;
  }
}

// Every top-level expression of the policy in a stable order: consts first
// (declaration order), then lets, rules, budgets, limits, fixtures and tests
// (fixture bindings have role kGiven, owner -1). Null
// expressions (a rule without `when`) are skipped.
std::vector<Root> CollectRoots(ast::Policy& policy);

// The witnesses a rule's `when` binds: the variables of the `any`
// quantifiers that must hold for `when` to hold (conjuncts through `and`,
// and the conjuncts of such a quantifier's body). After `when` is true each
// names the first element, in iteration order, for which its body holds;
// the rule's messages and tag values may read them. Pairs of (variable
// name, quantifier node), outermost first.
std::vector<std::pair<std::string, const ast::Expr*>> Witnesses(const ast::Expr* when);

// The standard namespace roots of field and detector chains (principal,
// request, context, provider, endpoint, dlp). Context::roots adds the first
// component of every field of an extended schema.
const std::vector<std::string>& NamespaceRoots();

struct Context {
  ast::Policy* policy = nullptr;
  const stdlib::Schema* schema = nullptr;
  CheckOptions options;
  Diagnostics* diags = nullptr;
  int errors = 0;  // error-severity diagnostics reported by this check
  // Namespace roots (sorted): consts, data and quantifier variables may not
  // use these names.
  std::vector<std::string> roots;
  bool IsRoot(std::string_view name) const;

  // resolve: whether each const is referenced anywhere.
  std::vector<bool> const_used;
  // lets: the free names of each let's expression (after expansion).
  std::vector<std::vector<std::string>> let_free_names;
  // data: whether each data document loaded and matched its shape.
  std::vector<bool> data_ok;

  // fold: per-node memo of the on-demand folder (see FoldExpr), so that a
  // node is evaluated and its errors reported at most once.
  enum class FoldState : uint8_t { kNotConstant, kConstant, kFailed };
  std::unordered_map<const ast::Expr*, FoldState> fold_memo;
  // fold: the folded (and declared-type-coerced) value of each const.
  std::vector<std::optional<Value>> const_values;
  std::vector<bool> const_folding;  // cycle guard (never expected: consts are ordered)
  // fold: values visited so far (folding and coercion); past
  // Limits::max_fold_work folding stops with one tg_limit_exceeded.
  uint64_t fold_work = 0;
  bool fold_exhausted = false;
  // fold: memo of the expanded size of folded containers (see ValueUnits in fold.cc).
  std::unordered_map<const void*, uint64_t> value_units;
  // Adds `units` of folding work; false (and reports once at `span`) when
  // the budget is spent.
  bool FoldWork(uint64_t units, const Span& span);
  // Where tg_limit_exceeded for nesting was reported (byte offsets), so that
  // several passes hitting the same deep node report it once.
  std::unordered_set<uint32_t> depth_reported_at;

  void Error(std::string_view code, const Span& span, std::string message,
             std::string help = {});
  void Warning(std::string_view code, const Span& span, std::string message,
               std::string help = {});
  void ErrorWithNote(std::string_view code, const Span& span, std::string message,
                     std::string help, const Span& note_span, std::string note);
  // Reports tg_limit_exceeded once per walk when `depth` passes the limit.
  bool DepthExceeded(uint32_t depth, const Span& span, bool* reported);
  // Source text of a span ("" when the span has no file).
  std::string_view Text(const Span& span) const;
};

Context MakeContext(ast::Policy* policy, const CheckOptions& options, Diagnostics* diags);

// --- the passes, in order ---
bool Declarations(Context& ctx);
bool Lets(Context& ctx);
bool Data(Context& ctx);
bool Resolve(Context& ctx);
bool Types(Context& ctx);
bool Scopes(Context& ctx);
bool Regex(Context& ctx);
bool Fold(Context& ctx);
bool Zones(Context& ctx);
bool Optional(Context& ctx);
bool Operands(Context& ctx);
bool Names(Context& ctx);
bool Ranges(Context& ctx);
bool Contradictions(Context& ctx);
bool Tags(Context& ctx);
bool RouteHints(Context& ctx);
bool Retention(Context& ctx);
bool Tests(Context& ctx);

struct Pass {
  const char* name;  // "declarations", "data", ...
  bool (*run)(Context&);
};
const std::vector<Pass>& Passes();

// --- shared helpers (used across passes) ---

// Folds `e` if it is a constant subexpression (after types). Fills
// e.folded and returns it; nullopt when not constant or when folding
// failed (then a tg_invalid_value was reported once). Memoised per node.
std::optional<Value> FoldExpr(Context& ctx, ast::Expr& e);
// True when folding `e` (or a part of it) reported an error.
bool FoldFailed(const Context& ctx, const ast::Expr& e);

// Checks that `e` (already typed) may be used where `expected` is required;
// a map literal is checked field by field against a record type, lists and
// sets element by element. Reports tg_type_error / tg_money_mismatch with
// `what` naming the place ("the value of `request.model`") and returns false.
// Silent (returns true) when e.type is `any`.
bool Conform(Context& ctx, const Type& expected, const ast::Expr& e, std::string_view what);
// Converts a folded value to `expected` (maps -> records, int -> decimal,
// RFC 3339 string -> time). Returns false with *error on a bad time string.
// `actual` is the static type of `in` (records are matched by field name).
bool CoerceValue(Context& ctx, const Type& expected, const Type& actual, const Value& in,
                 Value* out, std::string* error);

// True when a value of type `actual` may stand where `expected` is required:
// `any` on either side fits; int fits decimal; containers by element; a
// record must have every required field and no unknown one.
bool Fits(const Type& expected, const Type& actual);
// bool, int, decimal, money, string, duration or time.
bool IsScalar(const Type& t);
// A type that values can have (no pattern/any/null; sets of string or int).
bool ValidDataType(const Type& t, std::string* why);

// "write `0.50 usd` for a money literal" style help for a number used
// against money; empty when nothing useful can be said.
std::string MoneyHelp(const Context& ctx, const ast::Expr& number_side);
// Help line for "must be `want`, found `have`": how to write or convert the
// value (the language has few conversions; says so when there is none).
std::string ConvertHelp(const Type& want, const Type& have);

// The part [offset, offset+len) of `span` (offset relative to span.begin),
// with its line and column recomputed from the source text.
Span SubSpan(const Span& span, size_t offset, size_t len);

// Display of a dotted chain for messages: "request.provider.zdr".
std::string ChainText(const ast::Expr& e);

// Structural equality of two checked expressions: the same operators,
// names, references (a quantifier variable by its slot) and literals
// (tags.cc).
bool SameExpr(const ast::Expr& a, const ast::Expr& b, uint32_t depth = 0);

// The conjuncts of `e` (`a and b and c`), in order (names.cc).
void Conjuncts(const ast::Expr& e, std::vector<const ast::Expr*>* out, uint32_t depth = 0);

}  // namespace tollgate::check
