// The ledger's part of a decision, for the audit record: the budget and
// limit counters the evaluation read (Entry::counters) and the admission
// verdict that may have overridden the policy's answer (Entry::admission).
// Both are evaluation inputs from outside the policy; replay and `audit
// show` feed them back so that such decisions replay bit for bit.
//
// ## Recording (a gateway, per request)
//
//   runtime::FillCounters(program, plan, views, &counters);
//   opts.counters = &counters;
//   vm::Evaluate(program, request, opts, &d);
//   ...
//   entry.counters = audit::RenderCounters(program, counters, &plan);
//   ledger::Admission a = ledger.Reserve(plan.reserve);
//   entry.admission = audit::RenderAdmission(a);   // when a reservation was tried
//
// ## The JSON forms (docs/audit.md)
//
//   "counters": {"budgets": {"NAME": {"key": "acme", "spent_micros": 1250000,
//                                     "remaining_micros": 98750000, "limit_micros": 100000000}},
//                "limits":  {"NAME": {"key": "acme", "used": 17, "remaining": 43, "max": 60}}}
//
// one member per declaration whose counters the evaluation saw (those that
// did not apply, null slots, are left out; "key" only when the plan was
// given). Money is in integer micros, so nothing is rounded. `"counters":
// null` means the evaluation ran without counters (no ledger, or the ledger
// could not be read): every budget.x / limit.x read as null.
// `"counters": {"unavailable": true, "budgets": {}, "limits": {}}`: the
// ledger has counters to give but the store could not be read
// (vm::Counters::unavailable: rules failing on a counter read are skipped).
//
//   "admission": {"admitted": true, "reservation": 42}
//   "admission": {"admitted": false, "status": 429, "code": "rate_limited",
//                 "reason": "...", "limit": "rpm", "key": "acme", ...}
//   "admission": {"admitted": false, "stage": "plan", "status": 403,
//                 "code": "rule_error", "reason": "..."}
//
// absent when no reservation was tried (no ledger, a deny, nothing routed).
// A refused admission turned the decision into that deny; "stage": "plan"
// means the budgets could not be planned (runtime::PlanBudgets), which
// replay recomputes rather than trusts. `tollgate route --requests` lines
// carry the same object (WriteAdmission) without "status" and "reason"
// (the line's decision has them) and with what was reserved:
//
//   "admission": {"admitted": true, "reservation": 42,
//                 "budgets": [{"name": "ws_daily", "key": "acme", "reserved_micros": 1200}],
//                 "limits": [{"name": "rpm", "key": "acme", "units": 1}]}
//
// Cost: RenderCounters writes a few hundred bytes into one allocation
// (~0.25 us CPU for two budgets and a limit with their keys,
// BM_AuditRenderCounters); ParseCounters is one small rapidjson parse.
// Thread safety: pure functions.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/vm/decision.h"
#include "engine/vm/program.h"
#include "engine/vm/record.h"
#include "engine/vm/vm.h"

namespace tollgate::runtime {
struct BudgetPlan;
}
namespace tollgate::ledger {
struct Admission;
}

namespace tollgate::audit {

// The counters object above. `plan` (may be null) adds each counter's key.
std::string RenderCounters(const vm::Program& program, const vm::Counters& counters,
                           const runtime::BudgetPlan* plan = nullptr);

// Rebuilds vm::Counters from a recorded "counters" object for `program`
// (matched by declaration name; a declaration the record does not name
// reads as null). False when `json` is not such an object.
bool ParseCounters(const vm::Program& program, std::string_view json, vm::Counters* out);

// For an impact report (a candidate policy replayed on recorded counters):
// gives the counters parsed for the candidate `program` the candidate's own
// bounds. Each budget and limit the candidate plans for `request`
// (runtime::PlanBudgets: `when`, key, limit; those planned per endpoint are
// left as recorded) whose counters were recorded gets the candidate's
// `limit` / `max`; what was used stays the record's (a budget's spent plus
// open reservations = recorded limit - recorded remaining, a limit's used)
// and `remaining` is max(0, new bound - used). A recorded remaining of 0
// says only that the use reached the old bound: the new remaining is then an
// upper bound. The names of the declarations whose bound differs from the
// recorded one are added to *changed. Nothing else changes (the ledger's
// verdict is the recorded one: ApplyAdmission). False when the candidate's
// plan fails (the counters are left as recorded).
bool RebindCounters(const vm::Program& program, const vm::Record& request, vm::Counters* counters,
                    std::vector<std::string>* changed);

// The admission object above for a reservation the ledger answered.
std::string RenderAdmission(const ledger::Admission& admission);
// The same object onto `w`. `with_reason`: a refusal's "status" and
// "reason" (RenderAdmission's form); `reserved` (may be null): an admitted
// request's "budgets" and "limits" charges (the route line's form).
void WriteAdmission(rapidjson::Writer<rapidjson::StringBuffer>* w, const ledger::Admission& admission,
                    bool with_reason, const runtime::BudgetPlan* reserved);
// ... for a request whose budgets could not be planned (fail closed).
// `stage`: "plan" (the request's own budgets, recomputed on replay) or
// "endpoint_plan" (a budget scoped by endpoint fields, for the routed
// primary: replay takes the recorded deny, as a ledger's).
std::string RenderPlanFailure(const std::string& message, std::string_view stage = "plan");

// Replays a recorded "admission" onto a decision evaluated (and routed)
// again: a refused admission makes it the recorded deny (a "plan" one is
// recomputed with runtime::PlanBudgets over `request`). `storage` keeps a
// recorded code that is not one of the ledger's own alive. Does nothing
// when the decision does not allow (no reservation would have been tried)
// or `json` is empty or null. False when `json` does not parse.
bool ApplyAdmission(const vm::Program& program, const vm::Record& request, std::string_view json,
                    vm::Decision* d, std::string* storage);

}  // namespace tollgate::audit
