#include "runtime/decide/budgets.h"

#include <algorithm>

#include "engine/core/money.h"
#include "engine/vm/vm.h"
#include "runtime/router/router.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {

void BudgetPlan::Clear() {
  reserve.budgets.clear();
  reserve.limits.clear();
  budget_ids.clear();
  limit_ids.clear();
  error_message.clear();
  request_budgets = request_limits = 0;
}

ledger::Window LedgerWindow(ast::Window w, int64_t custom_ms) {
  using ledger::WindowKind;
  switch (w) {
    case ast::Window::kMinute: return {WindowKind::kMinute, 0};
    case ast::Window::kHour: return {WindowKind::kHour, 0};
    case ast::Window::kDay: return {WindowKind::kDay, 0};
    case ast::Window::kWeek: return {WindowKind::kWeek, 0};
    case ast::Window::kMonth: return {WindowKind::kMonth, 0};
    case ast::Window::kLifetime: return {WindowKind::kLifetime, 0};
    case ast::Window::kCustom: return {WindowKind::kDuration, custom_ms};
  }
  return {WindowKind::kDay, 0};
}

namespace {

// Plans the declarations whose per_endpoint is `per_endpoint`, appending
// to *out; `candidate` is the endpoint's record for the per-endpoint ones.
bool Plan(const vm::Program& program, const vm::Record& request, const vm::Record* candidate,
          bool per_endpoint, BudgetPlan* out) {
  vm::DeclarationValue d;
  vm::RuleError err;
  for (uint32_t i = 0; i < program.budgets().size(); ++i) {
    const vm::BudgetInfo& b = program.budgets()[i];
    if (b.per_endpoint != per_endpoint) continue;
    if (!vm::EvalDeclaration(program, vm::KeyKind::kBudget, i, request, &d, &err, candidate)) {
      out->error_message = "budget `" + b.name + "`: " + err.message;
      return false;
    }
    if (!d.applies) continue;
    out->reserve.budgets.push_back({b.name, d.key, LedgerWindow(b.window, b.window_ms), d.limit, 0});
    out->budget_ids.push_back(i);
  }
  for (uint32_t i = 0; i < program.limits().size(); ++i) {
    const vm::LimitInfo& l = program.limits()[i];
    if (l.per_endpoint != per_endpoint) continue;
    if (!vm::EvalDeclaration(program, vm::KeyKind::kLimit, i, request, &d, &err, candidate)) {
      out->error_message = "limit `" + l.name + "`: " + err.message;
      return false;
    }
    if (!d.applies) continue;
    out->reserve.limits.push_back({l.name, d.key, LedgerWindow(l.window, l.window_ms), d.limit, 1,
                                   l.unit == "tokens" ? ledger::LimitUnit::kTokens : ledger::LimitUnit::kRequests});
    out->limit_ids.push_back(i);
  }
  return true;
}

}  // namespace

bool PlanBudgets(const vm::Program& program, const vm::Record& request, BudgetPlan* out) {
  out->Clear();
  const bool ok = Plan(program, request, nullptr, false, out);
  out->request_budgets = out->reserve.budgets.size();
  out->request_limits = out->reserve.limits.size();
  return ok;
}

bool HasEndpointBudgets(const vm::Program& program) {
  for (const vm::BudgetInfo& b : program.budgets())
    if (b.per_endpoint) return true;
  for (const vm::LimitInfo& l : program.limits())
    if (l.per_endpoint) return true;
  return false;
}

bool PlanEndpointBudgets(const vm::Program& program, const vm::Record& request,
                         const Catalog& catalog, const RoutedEndpoint& ep, BudgetPlan* plan) {
  if (!HasEndpointBudgets(program)) return true;
  plan->reserve.budgets.resize(std::min(plan->request_budgets, plan->reserve.budgets.size()));
  plan->budget_ids.resize(plan->reserve.budgets.size());
  plan->reserve.limits.resize(std::min(plan->request_limits, plan->reserve.limits.size()));
  plan->limit_ids.resize(plan->reserve.limits.size());
  plan->error_message.clear();
  // One record per thread: its slots are reused (an Arena allocates).
  thread_local vm::Record candidate;
  candidate.slots = catalog.candidate(ep.endpoint).slots;
  const int cost = catalog.estimated_cost_slot();
  if (cost >= 0 && static_cast<size_t>(cost) < candidate.slots.size()) {
    candidate.slots[static_cast<size_t>(cost)] = Value::Money(ep.estimated_cost);
  }
  const bool ok = Plan(program, request, &candidate, true, plan);
  candidate.slots.clear();  // nothing kept pointing into the catalog
  return ok;
}

bool SameCounters(const BudgetPlan& a, const BudgetPlan& b) {
  if (a.reserve.budgets.size() != b.reserve.budgets.size() ||
      a.reserve.limits.size() != b.reserve.limits.size())
    return false;
  for (size_t i = 0; i < a.reserve.budgets.size(); ++i) {
    const ledger::BudgetCharge &x = a.reserve.budgets[i], &y = b.reserve.budgets[i];
    if (x.budget != y.budget || x.key != y.key || !(x.window == y.window) ||
        x.limit_micros != y.limit_micros)
      return false;
  }
  for (size_t i = 0; i < a.reserve.limits.size(); ++i) {
    const ledger::LimitCharge &x = a.reserve.limits[i], &y = b.reserve.limits[i];
    if (x.limit != y.limit || x.key != y.key || !(x.window == y.window) || x.max != y.max ||
        x.unit != y.unit)
      return false;
  }
  return true;
}

int64_t WorstCaseCompletion(const vm::Record& request, const Endpoint* ep) {
  static const int max_slot = stdlib::Schema::Standard().field(stdlib::Schema::Standard().Find("request.max_tokens")).slot;
  static const int n_slot = stdlib::Schema::Standard().field(stdlib::Schema::Standard().Find("request.n")).slot;
  auto get = [&](int slot) -> int64_t {
    if (slot < 0 || slot >= static_cast<int>(request.slots.size())) return -1;
    const Value& v = request.slots[slot];
    return v.kind == Kind::kInt ? v.i : -1;
  };
  const int64_t max_tokens = get(max_slot), n = get(n_slot);  // -1: absent
  // Every one of the n completions may use max_tokens (saturates: fails closed).
  return ep != nullptr ? WorstCaseCompletionTokens(max_tokens, n, *ep)
                       : MulChecked(std::max<int64_t>(0, max_tokens), std::max<int64_t>(1, n)).value_or(INT64_MAX);
}

int64_t CostCeil(int64_t in, int64_t out, const Endpoint& ep) {
  const __int128 n = static_cast<__int128>(std::max<int64_t>(0, in)) * ep.price_input +
                     static_cast<__int128>(std::max<int64_t>(0, out)) * ep.price_output;
  const __int128 q = (n + kMicros - 1) / kMicros + ep.price_request;  // rounded up
  return q > INT64_MAX ? INT64_MAX : static_cast<int64_t>(q);
}

ledger::Usage WorstCaseUsage(const PromptShape& prompt, const Endpoint& ep, const vm::Record& request) {
  const int64_t in = WorstCasePromptTokens(prompt, ep);
  const int64_t out = AddChecked(WorstCaseCompletion(request, &ep), std::max<int64_t>(0, prompt.prediction_bytes))
                          .value_or(INT64_MAX);
  // A saturated side is an amount no budget admits: keep it saturated.
  const int64_t cost = in == INT64_MAX || out == INT64_MAX ? INT64_MAX : CostCeil(in, out, ep);
  return {cost, AddChecked(in, out).value_or(INT64_MAX)};
}

void FillCounters(const vm::Program& program, const BudgetPlan& plan,
                  const std::vector<ledger::CounterView>& views, vm::Counters* out) {
  const size_t nb = program.budgets().size();
  out->slots.assign(3 * (nb + program.limits().size()), Value());
  size_t v = 0;
  for (size_t i = 0; i < plan.budget_ids.size() && v < views.size(); ++i, ++v) {
    const ledger::CounterView& c = views[v];
    const int32_t base = ast::CounterSlot(nb, true, plan.budget_ids[i], 0);
    out->slots[base] = Value::Money(c.spent);
    out->slots[base + 1] = Value::Money(c.remaining);
    out->slots[base + 2] = Value::Money(c.limit);
  }
  for (size_t i = 0; i < plan.limit_ids.size() && v < views.size(); ++i, ++v) {
    const ledger::CounterView& c = views[v];
    const int32_t base = ast::CounterSlot(nb, false, plan.limit_ids[i], 0);
    out->slots[base] = Value::Int(c.spent + c.reserved);
    out->slots[base + 1] = Value::Int(c.remaining);
    out->slots[base + 2] = Value::Int(c.limit);
  }
}

ledger::Status ReadCounters(ledger::Ledger* ledger, const vm::Program& program, const BudgetPlan& plan,
                            std::vector<ledger::CounterView>* views, vm::Counters* out) {
  ledger::Status st = ledger->Peek(plan.reserve, views);
  if (st.ok) {
    FillCounters(program, plan, *views, out);
    out->unavailable = false;
  } else {
    out->slots.clear();
    out->unavailable = true;
  }
  return st;
}

ledger::Admission StoreUnavailable(const ledger::Status& read) {
  ledger::Admission a;
  a.verdict = ledger::Verdict::kUnavailable;
  a.message = read.message.empty() ? "the budget store cannot be read" : read.message;
  return a;
}

void SetWorstCase(int64_t cost_micros, int64_t tokens, BudgetPlan* plan) {
  for (ledger::BudgetCharge& b : plan->reserve.budgets) b.amount_micros = cost_micros;
  for (ledger::LimitCharge& l : plan->reserve.limits) {
    l.amount = l.unit == ledger::LimitUnit::kTokens ? tokens : 1;
  }
}

}  // namespace tollgate::runtime
