// Budget and limit declarations: `when`, limits computed from data documents,
// the `lifetime` window, errors that fail closed, and diagnostics for
// malformed declarations. Then PlanBudgets -> a ledger.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/audit/counters.h"
#include "runtime/decide/budgets.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/input/input.h"
#include "runtime/ledger/open.h"

namespace tollgate {
namespace {

// Writes the policy and data/ws.json to a temp dir and compiles.
Compiled CompileWithData(const std::string& src) {
  static int n = 0;
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              ("tg_budgets_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  std::filesystem::create_directories(dir / "data");
  std::ofstream(dir / "data" / "ws.json") << R"({"acme": {"daily_usd": "5.00", "rpm": 2}, "neg": {"daily_usd": "-1", "rpm": 1}})";
  std::ofstream(dir / "p.tg") << src;
  return CompileFile((dir / "p.tg").string(), {});
}

constexpr const char* kPolicy = R"(policy "budgets"
data workspaces from "data/ws.json": map<{daily_usd: money, rpm: int}>
budget ws_daily { key principal.workspace per day limit workspaces[principal.workspace].daily_usd }
budget contractors {
  when principal.groups has "contractors"
  key principal.user ?? "anonymous"
  per lifetime
  limit 20 usd
}
limit ws_rpm { key principal.workspace per minute max workspaces[principal.workspace].rpm requests }
limit user_tokens { when principal.user != "root" key principal.user ?? "anonymous" per 10m max 1000 tokens }
)";

std::unique_ptr<vm::Record> Request(const std::string& json) {
  auto r = std::make_unique<vm::Record>();
  runtime::InputError err;
  EXPECT_TRUE(runtime::DecodeInput(json, stdlib::Schema::Standard(), Limits{}, r.get(), &err)) << err.message;
  return r;
}

TEST(Declarations, WhenKeysAndComputedLimitsBecomeLedgerCharges) {
  Compiled c = CompileWithData(kPolicy);
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const vm::Program& p = c.policy->program();
  EXPECT_TRUE(p.budgets()[0].limit_computed);
  EXPECT_FALSE(p.budgets()[1].limit_computed);
  EXPECT_TRUE(p.budgets()[1].has_when);
  EXPECT_EQ(p.budgets()[1].window, ast::Window::kLifetime);
  EXPECT_TRUE(p.limits()[0].max_computed);

  runtime::BudgetPlan plan;
  auto contractor = Request(
      R"({"principal": {"workspace": "acme", "user": "u1", "groups": ["contractors"]}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  ASSERT_TRUE(runtime::PlanBudgets(p, *contractor, &plan)) << plan.error_message;
  ASSERT_EQ(plan.reserve.budgets.size(), 2u);
  EXPECT_EQ(plan.reserve.budgets[0].budget, "ws_daily");
  EXPECT_EQ(plan.reserve.budgets[0].key, "acme");
  EXPECT_EQ(plan.reserve.budgets[0].limit_micros, 5'000'000);  // from the data document
  EXPECT_EQ(plan.reserve.budgets[1].budget, "contractors");
  EXPECT_EQ(plan.reserve.budgets[1].window.kind, ledger::WindowKind::kLifetime);
  ASSERT_EQ(plan.reserve.limits.size(), 2u);
  EXPECT_EQ(plan.reserve.limits[0].max, 2);
  EXPECT_EQ(plan.reserve.limits[1].unit, ledger::LimitUnit::kTokens);
  EXPECT_EQ(plan.reserve.limits[1].window.duration_ms, 600'000);

  auto root = Request(R"({"principal": {"workspace": "acme", "user": "root"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  ASSERT_TRUE(runtime::PlanBudgets(p, *root, &plan));
  EXPECT_EQ(plan.reserve.budgets.size(), 1u);  // not a contractor
  EXPECT_EQ(plan.reserve.limits.size(), 1u);   // user_tokens skips root

  // The plan admits against a ledger: the per-key limit holds.
  auto led = ledger::NewMemoryLedger({});
  ASSERT_TRUE(runtime::PlanBudgets(p, *contractor, &plan));
  runtime::SetWorstCase(3'000'000, 100, &plan);
  EXPECT_TRUE(led->Reserve(plan.reserve).admitted());
  ledger::Admission d = led->Reserve(plan.reserve);
  EXPECT_EQ(d.code(), "budget_exceeded");
  EXPECT_EQ(d.name, "ws_daily");
  EXPECT_EQ(d.remaining, 2'000'000);
}

TEST(Declarations, AKeyOrLimitThatCannotBeComputedFailsClosed) {
  Compiled c = CompileWithData(kPolicy);
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  runtime::BudgetPlan plan;
  auto unknown = Request(R"({"principal": {"workspace": "globex", "user": "u"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  EXPECT_FALSE(runtime::PlanBudgets(c.policy->program(), *unknown, &plan));
  EXPECT_NE(plan.error_message.find("budget `ws_daily`: "), std::string::npos) << plan.error_message;
  auto neg = Request(R"({"principal": {"workspace": "neg", "user": "u"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  EXPECT_FALSE(runtime::PlanBudgets(c.policy->program(), *neg, &plan));
  EXPECT_NE(plan.error_message.find("not a number of zero or more"), std::string::npos) << plan.error_message;
}

std::string Errors(const std::string& decls) {
  Compiled c = CompileWithData("policy \"p\"\ndata workspaces from \"data/ws.json\": map<{daily_usd: money, rpm: int}>\n" +
                               decls);
  EXPECT_FALSE(c.policy) << decls;
  return c.diagnostics.Render();
}

TEST(Declarations, MalformedDeclarationsGetDiagnostics) {
  EXPECT_NE(Errors("budget b { when principal.user key principal.user per day limit 1 usd }").find("tg_type_error"),
            std::string::npos);
  EXPECT_NE(Errors("budget b { key principal.user per day limit 5 }").find("money"), std::string::npos);
  EXPECT_NE(Errors("budget b { key principal.user per fortnight limit 5 usd }").find("window"), std::string::npos);
  EXPECT_NE(Errors("budget b { key principal.user per day limit 0 usd }").find("more than zero"), std::string::npos);
  EXPECT_NE(Errors("limit l { key principal.user per minute max 0 requests }").find("at least 1"), std::string::npos);
  // `when provider.zdr` is allowed (planned per endpoint); its max is not.
  EXPECT_NE(Errors("limit l { when provider.zdr key principal.user per minute max endpoint.context_length requests }")
                .find("a limit's `max` may not read candidate field `endpoint.context_length`"),
            std::string::npos);
  EXPECT_NE(Errors("budget b { key principal.user per day limit endpoint.price_input }").find("tg_scope_error"),
            std::string::npos);
  EXPECT_NE(Errors("budget b { key principal.user when true per day limit 5 usd }").find("tg_parse_error"),
            std::string::npos);
  EXPECT_NE(Errors("limit l { key principal.user per minute max 5 bananas }").find("unknown limit unit"),
            std::string::npos);
}

TEST(Declarations, FormatterKeepsWhen) {
  Compiled c = CompileWithData(kPolicy);
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_NE(ast::Dump(c.policy->ast()).find("(budget contractors (when"), std::string::npos);
  EXPECT_NE(vm::Disassemble(c.policy->program()).find("budget when"), std::string::npos);
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

constexpr const char* kDegrade = R"(policy "degrade"
data workspaces from "data/ws.json": map<{daily_usd: money, rpm: int}>
budget ws_daily { key principal.workspace per day limit workspaces[principal.workspace].daily_usd }
limit ws_rpm { key principal.workspace per minute max workspaces[principal.workspace].rpm requests }
rule degrade_before_deny {
  when budget.ws_daily.remaining < 2 usd
  route sort price
}
rule busy mode advisory {
  when limit.ws_rpm.used >= 1 and limit.ws_rpm.remaining <= limit.ws_rpm.max
  warn "this workspace is near its rate limit"
}
rule over_eighty_percent mode advisory {
  when budget.ws_daily.spent * 5 >= budget.ws_daily.limit * 4
  warn "80 % of the daily budget is spent"
}
)";

TEST(Counters, RulesReadTheCountersAsSeenByThisRequest) {
  Compiled c = CompileWithData(kDegrade);
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const vm::Program& p = c.policy->program();
  EXPECT_NE(vm::Disassemble(p).find("budget.ws_daily.remaining"), std::string::npos);
  auto req = Request(
      R"({"principal": {"workspace": "acme", "user": "u"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  auto led = ledger::NewMemoryLedger({});
  runtime::BudgetPlan plan;
  std::vector<ledger::CounterView> views;
  vm::Counters counters;
  vm::Decision d;
  auto evaluate = [&] {
    ASSERT_TRUE(runtime::PlanBudgets(p, *req, &plan)) << plan.error_message;
    ASSERT_TRUE(led->Peek(plan.reserve, &views).ok);
    runtime::FillCounters(p, plan, views, &counters);
    vm::EvalOptions o;
    o.counters = &counters;
    vm::Evaluate(p, *req, o, &d);
  };
  evaluate();  // fresh: 5 usd left, nothing used
  EXPECT_TRUE(d.errors.empty());
  EXPECT_EQ(d.route.sort, vm::SortBy::kNone);
  EXPECT_TRUE(d.warnings.empty());

  runtime::SetWorstCase(3'500'000, 10, &plan);
  ledger::Admission a = led->Reserve(plan.reserve);
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(led->Settle(a.reservation, {4'000'000, 10}).ok);
  evaluate();  // 1 usd left, 80 % spent, one request in the minute
  EXPECT_TRUE(d.errors.empty());
  EXPECT_EQ(d.route.sort, vm::SortBy::kPrice);  // degrade before deny
  ASSERT_EQ(d.warnings.size(), 2u);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);

  // Without counters (no ledger) a rule reading them fails by its on_error.
  vm::Evaluate(p, *req, {}, &d);
  ASSERT_FALSE(d.errors.empty());
  EXPECT_NE(d.errors[0].message.find("budget.ws_daily.remaining"), std::string::npos) << d.errors[0].message;
}

// A store that cannot be read (Redis refusing at 127.0.0.1:1): the counters
// are unknown, and a rule failing on one is skipped whatever its on_error
// (listed, never a rule_error deny); a default (`??`) applies, a real deny
// still denies, and the record's counters say so and parse back.
TEST(Counters, UnreadableCountersSkipTheRulesThatFailOnThem) {
  Compiled c = CompileWithData(R"(policy "outage"
budget ws_daily { key principal.workspace per day limit 50 usd }
rule hard_stop { when budget.ws_daily.remaining < 1 usd deny 402 "out of budget" }
rule defaulted { when (budget.ws_daily.remaining ?? 0 usd) < 1 usd warn "budget unknown or low" }
rule no { when request.content contains "forbidden" deny 403 "no" }
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const vm::Program& p = c.policy->program();
  std::string err;
  auto led = ledger::OpenLedger("redis://127.0.0.1:1/0", {}, &err);
  ASSERT_TRUE(led) << err;
  EXPECT_FALSE(led->fail_open());
  auto req = Request(
      R"({"principal": {"workspace": "acme"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  runtime::BudgetPlan plan;
  ASSERT_TRUE(runtime::PlanBudgets(p, *req, &plan)) << plan.error_message;
  std::vector<ledger::CounterView> views;
  vm::Counters counters;
  ledger::Status st = runtime::ReadCounters(led.get(), p, plan, &views, &counters);
  ASSERT_FALSE(st.ok);
  EXPECT_EQ(st.code, "budget_store_unavailable");
  EXPECT_TRUE(counters.unavailable);
  vm::EvalOptions o;
  o.counters = &counters;
  vm::Decision d;
  vm::Evaluate(p, *req, o, &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow) << d.code;
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].message.find("budget.ws_daily.remaining"), std::string::npos) << d.errors[0].message;
  EXPECT_NE(d.errors[0].message.find("budget store is unavailable"), std::string::npos) << d.errors[0].message;
  EXPECT_EQ(d.warnings.size(), 1u);  // the default applied
  ledger::Admission a = runtime::StoreUnavailable(st);
  EXPECT_EQ(a.status(), 503);
  EXPECT_EQ(a.code(), "budget_store_unavailable");
  // The same counters known to be absent (no ledger): hard_stop fails closed.
  vm::Evaluate(p, *req, {}, &d);
  EXPECT_EQ(d.code, vm::kCodeRuleError);
  // A real deny still denies.
  auto forbidden = Request(
      R"({"principal": {"workspace": "acme"}, "request": {"model": "m", "messages": [{"role": "user", "content": "forbidden"}]}})");
  vm::Evaluate(p, *forbidden, o, &d);
  EXPECT_EQ(d.code, vm::kCodePolicyDenied);
  EXPECT_EQ(d.status, 403);
  // The record: {"unavailable":true,...}, parsed back as unavailable.
  const std::string rec = audit::RenderCounters(p, counters, &plan);
  EXPECT_EQ(rec, R"({"unavailable":true,"budgets":{},"limits":{}})");
  vm::Counters back;
  ASSERT_TRUE(audit::ParseCounters(p, rec, &back));
  EXPECT_TRUE(back.unavailable);
  ASSERT_TRUE(audit::ParseCounters(p, R"({"budgets":{},"limits":{}})", &back));
  EXPECT_FALSE(back.unavailable);
}

TEST(Counters, UnknownCountersGetDiagnostics) {
  auto errors = [](const std::string& rule) {
    Compiled c = CompileWithData(std::string(kPolicy) + rule);
    EXPECT_FALSE(c.policy) << rule;
    return c.diagnostics.Render();
  };
  std::string e = errors("rule r { when budget.ws_dialy.remaining < 1 usd warn \"x\" }");
  EXPECT_NE(e.find("unknown budget `ws_dialy`"), std::string::npos) << e;
  EXPECT_NE(e.find("ws_daily"), std::string::npos) << e;
  e = errors("rule r { when budget.ws_daily.left < 1 usd warn \"x\" }");
  EXPECT_NE(e.find("unknown counter `left` of budget `ws_daily`"), std::string::npos) << e;
  e = errors("rule r { when limit.ws_rpm < 1 warn \"x\" }");
  EXPECT_NE(e.find("is not a value"), std::string::npos) << e;
  e = errors("rule r { when limit.ws_rpm.used < 1 usd warn \"x\" }");
  EXPECT_NE(e.find("tg_"), std::string::npos) << e;  // int vs money
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

TEST(Declarations, WhenCombinesWithACompositeKey) {
  Compiled c = CompileWithData(R"(policy "p"
budget user_model { when principal.user != "root" key (principal.user ?? "anonymous", request.model) per day limit 1 usd }
)");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  auto req = Request(
      R"({"principal": {"workspace": "acme", "user": "u1"}, "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})");
  runtime::BudgetPlan plan;
  ASSERT_TRUE(runtime::PlanBudgets(c.policy->program(), *req, &plan)) << plan.error_message;
  ASSERT_EQ(plan.reserve.budgets.size(), 1u);
  EXPECT_EQ(plan.reserve.budgets[0].key, R"(["u1","m"])");
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

// A token limit reserves every completion asked for: the worst-case prompt
// + max_tokens x n (the endpoint's max output x n without max_tokens),
// saturated, never wrapped.
TEST(Declarations, WorstCaseTokensCountEveryCompletion) {
  runtime::Catalog cat;
  runtime::CatalogError cerr;
  ASSERT_TRUE(runtime::Catalog::Load(R"({"endpoints": [{"id": "m@a", "model": "m", "provider": "a",
      "upstream": {"base_url": "http://127.0.0.1:9/v1", "auth": {"type": "none"}},
      "pricing": {"input_per_mtok": "1", "output_per_mtok": "1", "per_request": "0"},
      "context_length": 10000, "max_output_tokens": 500, "jurisdiction": "US", "region": "r",
      "zdr": false, "trains_on_data": false, "data_collection": "deny", "retention_days": 1,
      "quantization": "unknown", "supported_parameters": [],
      "observed": {"latency_p50": 0.5, "throughput": 50, "uptime": 0.99}}]})",
                                     stdlib::Schema::Standard(), &cat, &cerr))
      << cerr.message;
  const runtime::Endpoint& ep = cat.endpoint(0);
  auto input = [](const std::string& extra) {
    return R"({"principal": {"workspace": "acme"}, "request": {"model": "m",
        "messages": [{"role": "user", "content": "hi"}])" + extra + "}}";
  };
  auto completion = [&](const std::string& extra) {
    return runtime::WorstCaseCompletion(*Request(input(extra)), &ep);
  };
  auto tokens = [&](const std::string& extra) {
    const std::string json = input(extra);
    runtime::PromptShape shape;
    EXPECT_TRUE(runtime::MeasurePrompt(json, runtime::PromptSource::kDecisionInput, &shape));
    const int64_t in = runtime::WorstCasePromptTokens(shape, ep);
    EXPECT_GT(in, 0);
    const ledger::Usage w = runtime::WorstCaseUsage(shape, ep, *Request(json));
    EXPECT_EQ(w.cost_micros, w.tokens == INT64_MAX ? INT64_MAX : w.tokens);  // 1 usd/Mtok both ways
    return w.tokens == INT64_MAX ? INT64_MAX : w.tokens - in;
  };
  EXPECT_EQ(completion(R"(, "max_tokens": 0)"), 0);
  EXPECT_EQ(completion(R"(, "max_tokens": 40)"), 40);
  EXPECT_EQ(completion(R"(, "max_tokens": 40, "n": 1)"), 40);
  EXPECT_EQ(completion(R"(, "max_tokens": 40, "n": 3)"), 120);
  EXPECT_EQ(completion(R"(, "n": 3)"), 1500);
  EXPECT_EQ(tokens(R"(, "max_tokens": 40, "n": 3)"), 120);
  EXPECT_EQ(tokens(R"(, "n": 3)"), 1500);
  EXPECT_EQ(tokens(R"(, "max_tokens": 40, "n": 9223372036854775807)"), INT64_MAX);
  // A body with both max_tokens and max_completion_tokens: upstreams differ
  // on which one they honour (vLLM takes max_completion_tokens), so the worst
  // case covers the larger, whichever order they come in; a caller cannot
  // reserve 1 token and be billed 400.
  EXPECT_EQ(completion(R"(, "max_tokens": 1, "max_completion_tokens": 400)"), 400);
  EXPECT_EQ(completion(R"(, "max_completion_tokens": 400, "max_tokens": 1)"), 400);
  EXPECT_EQ(completion(R"(, "max_tokens": 400, "max_completion_tokens": 1)"), 400);
  EXPECT_EQ(completion(R"(, "max_completion_tokens": 1, "max_tokens": 400)"), 400);
  EXPECT_EQ(completion(R"(, "max_tokens": null, "max_completion_tokens": 30)"), 30);

  // The reservation is n times the completions: a limit of the prompt bound
  // + 100 tokens refuses n = 3 (+ 120) and admits n = 1 (+ 40). Both bodies
  // have the same length, so the same prompt bound.
  auto request = [&](int n) {
    return input(R"(, "max_tokens": 40, "n": )" + std::to_string(n));
  };
  runtime::PromptShape shape;
  ASSERT_TRUE(runtime::MeasurePrompt(request(1), runtime::PromptSource::kDecisionInput, &shape));
  const int64_t in = runtime::WorstCasePromptTokens(shape, ep);
  Compiled c = CompileWithData("policy \"p\"\nlimit toks { key principal.workspace per day max " +
                               std::to_string(in + 100) + " tokens }\n");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  auto led = ledger::NewMemoryLedger({});
  runtime::BudgetPlan plan;
  for (int n : {3, 1}) {
    auto r = Request(request(n));
    ASSERT_TRUE(runtime::PlanBudgets(c.policy->program(), *r, &plan)) << plan.error_message;
    ASSERT_TRUE(runtime::MeasurePrompt(request(n), runtime::PromptSource::kDecisionInput, &shape));
    const ledger::Usage w = runtime::WorstCaseUsage(shape, ep, *r);
    runtime::SetWorstCase(w.cost_micros, w.tokens, &plan);
    ASSERT_EQ(plan.reserve.limits.size(), 1u);
    EXPECT_EQ(plan.reserve.limits[0].amount, in + 40 * n);
    ledger::Admission a = led->Reserve(plan.reserve);
    if (n == 3) EXPECT_EQ(a.code(), "rate_limited");
    else EXPECT_TRUE(a.admitted()) << a.message;
  }
}

}  // namespace
}  // namespace tollgate
