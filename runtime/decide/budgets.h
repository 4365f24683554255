// Budgets and rate limits of a policy, applied to one request: from the
// compiled `budget` / `limit` declarations to the ledger's charges.
//
// A gateway runs, per request (docs/budgets.md):
//
//   runtime::BudgetPlan plan;
//   if (!runtime::PlanBudgets(program, request, &plan))           // when, key, limit
//     return Deny(403, "rule_error", plan.error_message);          // fail closed
//   ledger.Peek(plan.reserve, &views);                             // counters as seen
//   runtime::FillCounters(program, plan, views, &counters);        // rules read them
//   vm::Evaluate(...); router.Route(...);
//   if (!runtime::PlanEndpointBudgets(program, request, catalog, route.endpoints[0], &plan))
//     return Deny(403, "rule_error", plan.error_message);          // per-endpoint ones
//   ledger::Usage w = runtime::WorstCaseUsage(shape, endpoint, request);  // primary
//   runtime::SetWorstCase(w.cost_micros, w.tokens, &plan);
//   ledger::Admission a = ledger.Reserve(plan.reserve);            // 403 / 429 / 503
//   ... upstream ... ledger.Settle(a.reservation, {real_cost, real_tokens});
//
// A budget or limit whose `when` or key reads endpoint or provider fields
// (`when endpoint.model == "openai/gpt-4o"`, BudgetInfo::per_endpoint)
// charges the endpoint that serves the request: PlanBudgets leaves it out
// (the rules cannot read its counters), PlanEndpointBudgets adds it for one
// routed endpoint, and a fallback to another endpoint plans it again
// (SameCounters: the reservation's amounts move, or it is reserved anew).
//
// Thread safety: plain functions over caller-owned data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/vm/program.h"
#include "engine/vm/record.h"
#include "engine/vm/vm.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/router/catalog.h"
#include "runtime/router/router.h"
#include "runtime/ledger/ledger.h"

namespace tollgate::runtime {

struct BudgetPlan {
  ledger::ReserveRequest reserve;       // amounts set by SetWorstCase
  std::vector<uint32_t> budget_ids;     // declaration index of reserve.budgets[i]
  std::vector<uint32_t> limit_ids;      // declaration index of reserve.limits[i]
  std::string error_message;            // PlanBudgets failed: "budget `b`: missing field `x`"
  // How many of reserve.budgets / reserve.limits PlanBudgets made (the
  // request's own); PlanEndpointBudgets appends after them.
  size_t request_budgets = 0, request_limits = 0;
  void Clear();
};

// The ledger window of a declaration's window.
ledger::Window LedgerWindow(ast::Window w, int64_t custom_ms);

// Evaluates every declaration's `when`, key and limit for `request`; the
// applicable ones go into *out (amounts 0). False when one of them cannot
// be computed (a missing key field, a key absent from a data document, a
// negative limit): the request must be denied (403 `rule_error`, fail
// closed) with out->error_message. Declarations planned per endpoint
// (`per_endpoint`) are left out: PlanEndpointBudgets adds them once routed.
// Cost: the declarations' instructions.
bool PlanBudgets(const vm::Program& program, const vm::Record& request, BudgetPlan* out);

// Whether some budget or limit of `program` is planned per endpoint.
bool HasEndpointBudgets(const vm::Program& program);

// Completes a PlanBudgets plan for serving the request at routed endpoint
// `ep`: drops the per-endpoint charges a previous call added, then
// evaluates every per-endpoint declaration over the request and the
// endpoint's candidate record (catalog.candidate, endpoint.estimated_cost
// set to ep's) and appends the applicable ones (amounts 0: SetWorstCase).
// False as PlanBudgets (fail closed: a per-endpoint `when` or key that
// cannot be computed for this endpoint). Cost: nothing without per-endpoint
// declarations; else their instructions and a copy of the candidate record.
bool PlanEndpointBudgets(const vm::Program& program, const vm::Record& request,
                         const Catalog& catalog, const RoutedEndpoint& ep, BudgetPlan* plan);

// The two plans charge the same counters (declarations, keys, windows and
// limits, in the same order): a fallback from one endpoint to the other
// moves the reservation's amounts (Ledger::Move); otherwise the old
// reservation is released and the new plan reserved.
bool SameCounters(const BudgetPlan& a, const BudgetPlan& b);

// Worst-case output tokens: (request.max_tokens, else the endpoint's
// maximum) x request.n (the completions asked for; null = 1), as in
// WorstCaseCompletionTokens (runtime/router/router.h), saturated at
// INT64_MAX. `ep` null: max_tokens x n without an endpoint's maximum. Also
// what an answer of unknown size is charged.
int64_t WorstCaseCompletion(const vm::Record& request, const Endpoint* ep);

// What a request reserves at endpoint `ep` (docs/budgets.md, "How a
// reservation is computed"): an upper bound of what it can be billed,
// never the router's estimate.
//   prompt     = WorstCasePromptTokens(prompt, ep) (prompt_bound.h)
//   completion = WorstCaseCompletion(request, &ep) + prompt.prediction_bytes
//   cost       = ceil((prompt x input price + completion x output price) / 1e6)
//                + per-request price   (money micros, rounded up as a
//                settlement is: a real usage within the bound never costs more)
//   tokens     = prompt + completion
// Everything saturates at INT64_MAX, which no budget or limit admits.
ledger::Usage WorstCaseUsage(const PromptShape& prompt, const Endpoint& ep, const vm::Record& request);

// The cost of `in` prompt and `out` completion tokens at `ep`, in money
// micros rounded up (settlements and reservations alike), saturated.
int64_t CostCeil(int64_t in, int64_t out, const Endpoint& ep);

// Fills *out (resized to 3 slots per budget and per limit, ast::CounterSlot)
// from the ledger's view of the plan's counters (Ledger::Peek(plan.reserve),
// same order): budgets get spent / remaining / limit (money), limits used
// (inside the window, open reservations included) / remaining / max. The
// slots of declarations that do not apply stay null.
void FillCounters(const vm::Program& program, const BudgetPlan& plan,
                  const std::vector<ledger::CounterView>& views, vm::Counters* out);

// Reads the plan's counters from `ledger` into *out (Peek + FillCounters).
// When the store cannot be read, *out has no slots and `unavailable` set
// (rules failing on a counter read are then skipped: vm::Counters), and the
// Peek error is returned; the caller answers as the ledger's admission
// would (docs/budgets.md, "When the store cannot be read"): fail closed ->
// 503 budget_store_unavailable (StoreUnavailable below) unless the policy
// denies anyway; fail open (Ledger::fail_open) -> go on unverified.
ledger::Status ReadCounters(ledger::Ledger* ledger, const vm::Program& program, const BudgetPlan& plan,
                            std::vector<ledger::CounterView>* views, vm::Counters* out);

// A fail-closed ledger whose counters could not be read (`read`, from
// ReadCounters): the admission that answers the request (503
// budget_store_unavailable, its message naming the store).
ledger::Admission StoreUnavailable(const ledger::Status& read);

// Sets every budget charge to `cost_micros` (the endpoint's worst-case cost,
// WorstCaseUsage), every token limit to `tokens` and every request limit
// to 1.
void SetWorstCase(int64_t cost_micros, int64_t tokens, BudgetPlan* plan);

}  // namespace tollgate::runtime
