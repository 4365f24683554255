// The abstract syntax tree of a policy, with source spans.
//
// parse::Parse() builds it from source; check::Check() annotates it in place
// (types, name resolution, folded constants) and the compiler reads those
// annotations. Nodes own their children; a Policy owns everything, including
// the SourceFile its spans point into and the Arena of literal values.
//
// Thread safety: not thread-safe while being checked; read-only afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/source.h"
#include "engine/core/types.h"
#include "engine/core/value.h"

namespace tollgate::ast {

enum class ExprKind : uint8_t {
  kLiteral,     // `value`
  kName,        // `name`: a const, data document, quantifier variable or path root
  kMember,      // kids[0] . name
  kIndex,       // kids[0] [ kids[1] ]
  kUnary,       // op kids[0]
  kBinary,      // kids[0] op kids[1]
  kCall,        // name(kids...) -- `name` is the dotted callee, e.g. "dlp.injection_score"
  kList,        // [kids...]
  kSet,         // {kids...}
  kMap,         // {keys[i]: kids[i]}
  kQuantifier,  // any|all name in kids[0] : kids[1]
};

enum class Op : uint8_t {
  kNone,
  // unary
  kNot, kNeg,
  // binary
  kAnd, kOr,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kIn, kNotIn, kHas, kMatches, kContains,
  kAdd, kSub, kMul, kDiv, kMod,
  kCoalesce,  // a ?? b: a, or b when a is null
};
const char* OpText(Op op);  // "and", "==", "not in", ...

// What a name or member chain resolved to (set by the checker).
enum class RefKind : uint8_t {
  kUnresolved,
  kConst,      // index = const declaration index
  kLet,        // index = let declaration index (only between parse and resolve:
               // the resolver replaces the name by a copy of the let's expression)
  kData,       // index = data declaration index
  kLocal,      // index = quantifier variable slot (one per quantifier of a root, pre-order)
  kField,      // index = schema field id; the whole member chain is one field
  kDetector,   // index = stdlib detector id (e.g. dlp.credit_card)
  kNamespace,  // an intermediate prefix such as `request` or `dlp` (never evaluated)
  kCounter,    // `budget.<name>.<field>` / `limit.<name>.<field>`; index = CounterSlot
};

enum class Scope : uint8_t { kRequest, kCandidate };

// The counters rules read, as seen by this request (a second evaluation
// input, vm::Counters): three slots per budget (spent, remaining, limit:
// money) then three per limit (used, remaining, max: int), in declaration
// order. `field` is 0, 1 or 2 in that order.
inline int32_t CounterSlot(size_t n_budgets, bool is_budget, size_t index, int field) {
  return static_cast<int32_t>(3 * (is_budget ? index : n_budgets + index) + static_cast<size_t>(field));
}

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  Span span;
  Op op = Op::kNone;
  std::string name;             // kName / kMember / kCall / kQuantifier variable
  bool quant_all = false;       // kQuantifier: true for `all`
  Value value;                  // kLiteral (storage in Policy::arena)
  std::vector<std::string> keys;  // kMap keys, parallel to kids
  std::vector<std::unique_ptr<Expr>> kids;

  // --- checker annotations ---
  Type type;                    // `any` until checked
  RefKind ref = RefKind::kUnresolved;
  int32_t index = -1;           // meaning depends on `ref`; builtin id for kCall
  Scope scope = Scope::kRequest;  // kCandidate if any candidate field is read
  std::optional<Value> folded;  // set when the checker folded a constant
};
using ExprPtr = std::unique_ptr<Expr>;

enum class Mode : uint8_t { kEnforce, kShadow, kAdvisory };
enum class OnError : uint8_t { kDeny, kSkip };
const char* ModeName(Mode m);

enum class EffectKind : uint8_t { kDeny, kRequire, kRedact, kRoute, kTag, kWarn };
enum class RouteHintKind : uint8_t { kSort, kMaxPrice, kOrder };

struct RouteHint {
  RouteHintKind kind = RouteHintKind::kSort;
  Span span;
  std::string word;  // kSort: price|latency|throughput; kMaxPrice: ""|prompt|completion|request
  ExprPtr expr;      // kMaxPrice: money; kOrder: list<string>
};

struct Effect {
  EffectKind kind = EffectKind::kDeny;
  Span span;
  int status = 403;          // kDeny (explicit or default)
  // kDeny reason, kRedact replacement, kWarn message. A deny or warn message
  // with `{expr}` holes keeps its template here and `expr` renders it.
  std::string text;
  std::string tag_key;       // kTag
  // kRequire predicate, kRedact pattern, kTag value; for kDeny/kWarn the
  // string expression of a message with holes (null when it has none).
  ExprPtr expr;
  std::vector<RouteHint> hints;  // kRoute
};

struct Rule {
  std::string name;
  Span span;       // the whole rule
  Span name_span;
  Mode mode = Mode::kEnforce;
  OnError on_error = OnError::kDeny;
  ExprPtr when;    // may be null (always applies)
  // `mode shadow when C` (or advisory): `mode` applies where C holds, and the
  // rule is enforced elsewhere. Null = `mode` always.
  ExprPtr mode_when;
  std::vector<Effect> effects;
};

struct ConstDecl {
  std::string name;
  Span span;
  std::optional<Type> declared;  // optional annotation
  Span type_span;
  ExprPtr expr;
};

// `let NAME = expr`: a named expression over request fields (a named
// condition). The checker substitutes a copy of `expr` wherever NAME is used,
// so it is compiled inline and costs nothing when unused.
struct LetDecl {
  std::string name;
  Span span;
  ExprPtr expr;
};

struct DataDecl {
  std::string name;
  Span span;
  std::string file;   // as written, relative to the policy file's directory
  Type shape;
  Span type_span;
  // Filled by the checker: the document parsed and checked against `shape`,
  // stored in Policy::arena, and its canonical JSON (for the version id).
  Value value;
  std::string canonical_json;
};

enum class Window : uint8_t { kMinute, kHour, kDay, kWeek, kMonth, kCustom, kLifetime };

// A budget or limit key is a string expression, or a composite key written
// `(a, b, ...)`, held as a kList of string expressions.
struct BudgetDecl {
  std::string name;
  Span span;
  ExprPtr when;            // may be null (applies to every request)
  ExprPtr key;
  Window window = Window::kDay;
  int64_t window_ms = 0;   // kCustom
  ExprPtr limit;           // money; a constant or computed per request
};

struct LimitDecl {
  std::string name;
  Span span;
  ExprPtr when;            // may be null (applies to every request)
  ExprPtr key;
  Window window = Window::kMinute;
  int64_t window_ms = 0;
  ExprPtr max;             // int; a constant or computed per request
  std::string unit;        // "requests" | "tokens"
  Span unit_span;
};

struct Binding {
  std::vector<std::string> path;  // e.g. {"request", "model"}
  Span span;
  ExprPtr value;
};

enum class ExpectKind : uint8_t {
  kAllow, kDeny, kFired, kNotFired, kRejectedBy, kAccepted, kRedacts, kTag, kRoute, kWarns,
  kCode,       // expect code "policy_denied"
  kReason,     // expect reason ["contains"] "text"
  kRedacted,   // expect redacted ["contains"] "text": the content after redaction
  kNoErrors,   // expect no_errors
};

struct Expect {
  ExpectKind kind = ExpectKind::kAllow;
  Span span;
  int status = 0;                  // kDeny: 0 = any status
  std::vector<std::string> names;  // rule names (kFired...), redaction replacement (kRedacts),
                                   // tag key, expected text (kCode, kReason, kRedacted)
  bool contains = false;           // kReason / kRedacted: substring instead of equality
  bool shadow = false;             // `expect shadow fired|rejected_by|redacts`: the rule's
                                   // verdict in shadow mode, not what is enforced
  std::vector<Span> name_spans;
  ExprPtr value;                   // kTag value
  std::optional<RouteHint> hint;   // kRoute
};

// `fixture NAME [from BASE] { bindings }`: given bindings shared by tests.
struct Fixture {
  std::string name;
  Span span;
  Span name_span;
  std::string base;  // "" = none
  Span base_span;
  std::vector<Binding> given;
};

struct TestDecl {
  std::string name;
  Span span;
  std::string fixture;  // `given NAME { ... }`; "" = none
  Span fixture_span;
  std::vector<Binding> given;
  // Filled by the checker: the bindings the test runs with -- the fixture
  // chain's bindings (base first) overridden by the test's own, by path.
  std::vector<const Binding*> effective;
  bool has_candidate = false;
  std::vector<Binding> candidate;
  std::vector<Expect> expects;
};

// What an audit record keeps of a request's message text (docs/audit.md):
// the text itself, a keyed hash plus detector results, or nothing.
enum class Retention : uint8_t { kFull, kHash, kNone };
const char* RetentionName(Retention r);  // "full" | "hash" | "none"
// `schema "file.json"` in the header: a schema extension the policy needs.
struct SchemaRef {
  std::string file;  // as written, relative to the policy file's directory
  Span span;
  std::string json;  // the file's contents, filled when compiling (version id)
};

struct Policy {
  std::unique_ptr<SourceFile> file;
  // A policy composed of several files (engine.h CompileSources) owns them
  // all: `file` is the first, `more_files` the rest.
  std::vector<std::unique_ptr<SourceFile>> more_files;
  std::unique_ptr<Arena> arena = std::make_unique<Arena>();
  std::vector<std::unique_ptr<Arena>> more_arenas;  // literals of the other files
  std::string name;
  Span name_span;
  Retention retain = Retention::kFull;  // header `retain content ...`
  Span retain_span;
  std::vector<SchemaRef> schemas;
  std::vector<ConstDecl> consts;
  std::vector<LetDecl> lets;
  std::vector<DataDecl> data;
  std::vector<Rule> rules;
  std::vector<BudgetDecl> budgets;
  std::vector<LimitDecl> limits;
  std::vector<Fixture> fixtures;
  std::vector<TestDecl> tests;
};

// A deep copy of `e` without checker annotations (spans kept; literal
// values still point into the original policy's arena).
ExprPtr Clone(const Expr& e);

// Structural equality ignoring spans and checker annotations. Used by the
// formatter property test (formatting never changes the AST).
bool SameTree(const Policy& a, const Policy& b);
// S-expression dump, for golden tests and debugging.
std::string Dump(const Policy& p);
std::string Dump(const Expr& e);

}  // namespace tollgate::ast
