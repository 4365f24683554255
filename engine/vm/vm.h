// Stage 4: evaluate a Program against a decision input.
//
// Evaluating a request:
//
//   vm::Decision d;                       // reuse one per worker thread
//   vm::Evaluate(program, request, {}, &d);
//   if (d.outcome == vm::Outcome::kDeny) return Reply(d.status, d.reason);
//
// Each `require` of a fired enforced rule is then checked per candidate
// endpoint by the router:
//
//   for (const vm::RequireRef& r : d.require_refs)
//     if (!vm::EvalRequire(program, r.require, request, candidate, {}).pass) ...
//
// Errors: a rule whose evaluation fails (arithmetic overflow, a builtin,
// instruction budget exhausted; a missing field only defensively: the
// checker rules it out) never aborts the evaluation; it is
// recorded in Decision::errors and handled by the rule's `on_error` mode. A
// require predicate that fails at run time is handled by its rule's
// `on_error` too: `deny` rejects the candidate (fail closed), `skip` keeps
// it; either way the error is reported (RequireResult::error).
//
// Cost: one pass over the rules selected by the rule index plus the rules
// without an index key; each `matches` scan group runs at most once.
// Evaluation allocates nothing of its own once the Decision's vectors and
// the thread's scratch have grown (tests/vm/internals_test.cc counts it);
// the exceptions are cold paths: rule error messages, non-constant tag
// values (cloned into Decision::arena), messages with `{...}` holes
// (rendered into Decision::arena when their rule fires), container literals
// and builtins that build strings, and RE2::Set's own per-scan bookkeeping.
// The instruction budget (EvalOptions::instruction_budget) is PER RULE: each
// rule's evaluation (its `when`, tag values and effects) starts with the full
// budget, and so does each EvalRequire (and EvalKey) call. A rule that runs
// out fails alone with eval_budget_exceeded (handled by its `on_error`); it
// never changes the outcome of another rule, so a shadow rule cannot alter
// what is enforced. The total stays bounded: Evaluate executes at most
// (rules evaluated) x instruction_budget instructions (Decision::instructions
// is the sum). The compiler warns (tg_cost_bound) when a rule's static cost
// bound exceeds the budget. With EvalOptions::trace every rule is
// evaluated (the index is bypassed) so that the trace is complete.
//
// Thread safety: a Program is immutable; any number of threads may evaluate
// it at once with no locking. A Decision or Record must not be shared
// between threads while being written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/limits.h"
#include "engine/vm/decision.h"
#include "engine/vm/program.h"
#include "engine/vm/record.h"

namespace tollgate::vm {

// The budget and limit counters as seen by this request -- the second input
// of an evaluation, read by `budget.<name>.spent|remaining|limit` and
// `limit.<name>.used|remaining|max` (slot layout: ast::CounterSlot; money
// values for budgets, ints for limits). The gateway reads them from the
// ledger before evaluating (runtime::FillCounters). A slot left null (no
// ledger, or the declaration does not apply) makes a rule reading it fail
// with eval_missing_field, handled by its `on_error`.
//
// `unavailable`: the budget store could not be read (every slot null). A
// rule (or require) that fails with eval_missing_field on a counter read is
// then skipped as if it said `on_error skip` -- the counters are unknown, not
// the policy wrong -- and the error is still listed; a real deny still
// denies. The gateway decides separately whether the request may go on
// (fail open, unverified) or is answered 503 budget_store_unavailable.
struct Counters {
  std::vector<Value> slots;
  bool unavailable = false;
};

struct EvalOptions {
  bool trace = false;                       // fill Decision::trace
  const Counters* counters = nullptr;       // null: every counter reads as null
  uint64_t instruction_budget = Limits{}.instruction_budget;  // per rule / per call
};

// Evaluates every rule of `program` against `request`. Clears *out first.
void Evaluate(const Program& program, const Record& request, const EvalOptions& options,
              Decision* out);

struct RequireResult {
  // Whether the candidate is kept by this require. When the predicate fails
  // at run time (`error`), the rule's `on_error` decides: `skip` keeps the
  // candidate (pass = true), `deny` (the default) eliminates it.
  bool pass = false;
  bool error = false;               // evaluation failed (see `pass`)
  std::string_view code;            // error code when error
  std::string message;
};

// Runs require predicate `require` with `candidate`'s fields bound. A scan of
// a request field inside the predicate is reused across calls on the same
// thread while the field's text is byte-identical (one request, many
// candidates). Cost: the predicate's instructions; no locks.
RequireResult EvalRequire(const Program& program, uint32_t require, const Record& request,
                          const Record& candidate, const EvalOptions& options);

// For gateways that route themselves and ask "may this request go to X?":
// evaluates every require of a fired enforced rule (Decision::require_refs,
// in rule order) against `candidate`. When the decision allows and one
// fails, the decision becomes a deny 403 with code `require_failed`, the
// failing rule as deny_rule and the reason "the chosen endpoint does not
// satisfy rule `r`". A predicate that errors is added to Decision::errors
// and fails closed (the same deny), unless its rule says `on_error skip`. A decision that already
// denies is left as it is. Returns true when the candidate is accepted.
// Cost: one EvalRequire per placed require.
bool CheckCandidate(const Program& program, const Record& request, const Record& candidate,
                    const EvalOptions& options, Decision* out);

// Evaluates the key expression of budget (KeyKind::kBudget) or limit
// (KeyKind::kLimit) number `index` against `request` and renders it to *out
// (strings as their bytes, other values as canonical JSON). Returns false
// and fills *err (rule = UINT32_MAX) when evaluation fails, e.g. a null key
// field (eval_missing_field). Cost: the key's instructions; no locks.
bool EvalKey(const Program& program, KeyKind kind, uint32_t index, const Record& request,
             std::string* out, RuleError* err);

// A budget's or limit's view of one request: whether its `when` holds, its
// key and its limit (money micros for budgets, units for limits), computed
// when the declaration computes it (`limit workspaces[k].daily_usd`).
struct DeclarationValue {
  bool applies = false;
  std::string key;
  int64_t limit = 0;
};

// Evaluates budget/limit number `index` for `request`: `when` first (false:
// applies = false, nothing else computed), then the key and the limit.
// `candidate`: the endpoint's record (runtime::Catalog::candidate) for a
// declaration whose `when` or key reads endpoint/provider fields
// (BudgetInfo::per_endpoint); without one such a read is a missing field.
// Returns false with *err (rule = UINT32_MAX) when any of them fails -- the
// caller fails closed, as for a rule with `on_error deny`. A computed limit
// below zero is an error (eval_arithmetic_error). Cost: the declaration's
// instructions; no locks.
bool EvalDeclaration(const Program& program, KeyKind kind, uint32_t index, const Record& request,
                     DeclarationValue* out, RuleError* err, const Record* candidate = nullptr);

// Builds this thread's copies of everything `program` matches with -- its
// scan groups' scanners (RE2 sets, Hyperscan scratch), its single patterns,
// the detectors' and the injection score's matchers when it uses them -- so
// that the thread's first evaluation compiles nothing. Evaluation builds
// them on first use anyway (each thread has its own: no shared lock); a
// server calls this on every worker thread when it loads a policy, to keep
// that cost (milliseconds per thread) off the first requests.
void WarmThread(const Program& program);

// Human-readable bytecode listing (`tollgate disasm`): constants, scan
// groups, rule index, then each rule's entry points with source lines.
std::string Disassemble(const Program& program);

}  // namespace tollgate::vm
