// The reference semantics of tollgate: a deliberately simple tree-walking
// interpreter over the CHECKED AST (STYLE.md item 7), used only by tests.
//
// It reads the checker's annotations (refs, field ids, builtin ids, folded
// constants) and nothing else of the compiler: no bytecode, no rule index, no
// fused scans. Every rule is evaluated in source order, every `matches`
// compiles its own RE2. Arithmetic is done exactly in 128-bit integers and
// only then range-checked, so "overflow" means "the exact result does not fit
// in int64" (docs/architecture.md, Runtime semantics).
//
//   ref::Evaluate(policy, schema, request, &decision);      // like vm::Evaluate
//   ref::RequireResult r = ref::EvalRequire(policy, schema, k, request, candidate);
//   std::string diff = ref::Diff(ref_decision, vm_decision, policy);  // "" when equal
//
// Require numbering: require effects are numbered 0, 1, ... over all rules
// in source order, then over each rule's effects in order; this is the
// Program's require index.
//
// Where docs/architecture.md leaves a choice open, the reference takes (and
// the VM agrees on): operands are evaluated left to right and each is
// null-checked as soon as it is computed (builtin arguments too, unless the
// builtin accepts null); an absent map key or a list position outside the
// list reads as null; `a ?? b` evaluates b only when a is null; tag values of
// a firing rule (any mode) are computed before its effects apply, and an
// error there drops that tag only (recorded in errors; the rule fires); a
// real deny always wins over a rule error's deny (reason "policy evaluation
// failed"), whatever the rule order;
// shadow and advisory rules apply no effects (shadow lists its requires in
// shadow_requires, advisory adds one warning); within one rule the first
// `sort` and the first `order` hint win, max prices take the lowest; a
// `matches` with a validated detector passes when some leftmost,
// non-overlapping match of its regex passes the validator.
//
// Errors: never fails; runtime errors land in Decision::errors exactly as the
// VM reports them (first error of a rule, by code). Cost: slow, by design.
// Thread safety: reentrant (the regex cache is thread-local).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/ast/ast.h"
#include "engine/vm/decision.h"
#include "engine/vm/record.h"
#include "stdlib/schema.h"

namespace tollgate::ref {

// Evaluates every rule of the checked `policy` against `request`; clears and
// fills *out with the same observable fields the VM fills (everything except
// `trace` and `instructions`).
void Evaluate(const ast::Policy& policy, const stdlib::Schema& schema, const vm::Record& request,
              vm::Decision* out);

struct RequireResult {
  bool pass = false;
  bool error = false;
  std::string code;     // runtime error code when error
  std::string message;
};

// Evaluates require effect number `require` (numbering above) with
// `candidate`'s fields bound. An error rejects the candidate under the
// rule's `on_error deny` and keeps it under `on_error skip`.
RequireResult EvalRequire(const ast::Policy& policy, const stdlib::Schema& schema,
                          uint32_t require, const vm::Record& request,
                          const vm::Record& candidate);

// Number of require effects in the policy.
uint32_t RequireCount(const ast::Policy& policy);

// Field-by-field comparison of two decisions; returns "" when they agree,
// otherwise one line per differing field ("fired: ref [0, 2] vm [0]").
// Error messages and `instructions`/`trace` are not compared.
std::string Diff(const vm::Decision& ref, const vm::Decision& vm, const ast::Policy& policy);

// Readable rendering of a decision (for mismatch reports).
std::string Render(const vm::Decision& d, const ast::Policy& policy);

}  // namespace tollgate::ref
