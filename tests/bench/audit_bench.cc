// The audit figures of issue 9: the cost of recording a decision on the
// evaluating thread (amortized), records written per second (writer thread,
// fdatasync per batch), records replayed per second on one core.
#include <benchmark/benchmark.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "engine/scan/scanner.h"
#include "engine/vm/vm.h"
#include "runtime/audit/counters.h"
#include "runtime/audit/internal/content.h"
#include "runtime/audit/log.h"
#include "runtime/decide/budgets.h"
#include "runtime/audit/replay.h"
#include "runtime/input/input.h"
#include "tests/bench/inputs.h"

namespace tollgate::bench {
namespace {
namespace fs = std::filesystem;

struct AuditWorld {
  std::string dir;
  std::shared_ptr<const Policy> policy;
  std::string input, decision;

  AuditWorld() {
    char tmpl[] = "/tmp/tg_audit_bench_XXXXXX";
    dir = mkdtemp(tmpl);
    Compiled c = CompileFile("policies/example.tg", {});
    policy = c.policy;
    std::ifstream in("policies/requests/us_simple.json");
    std::stringstream ss;
    ss << in.rdbuf();
    input = ss.str();
    vm::Record rec;
    runtime::InputError err;
    if (policy && runtime::DecodeInput(input, policy->schema(), {}, &rec, &err)) {
      vm::Decision d;
      vm::Evaluate(policy->program(), rec, {}, &d);
      decision = audit::RenderDecision(d, policy->program());
    }
  }
  ~AuditWorld() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string Fresh(const std::string& name) const { return dir + "/" + name; }
};

// Destroyed at exit (its directory holds a few hundred MB of logs).
const AuditWorld& World() {
  static const AuditWorld w;
  return w;
}

// Append on the calling thread, including the copies of the input and the
// rendered decision a caller hands over (a gateway can move its own). Every
// 4096 appends the loop waits (untimed) for the writer, so the queue never
// blocks: this is the evaluating thread's share, amortized.
void BM_AuditAppend(benchmark::State& state) {
  const AuditWorld& w = World();
  if (!w.policy) {
    state.SkipWithError("policies/example.tg does not compile");
    return;
  }
  static int run = 0;
  std::string err;
  auto log = audit::AuditLog::Open(w.Fresh("append" + std::to_string(run++)), {}, &err);
  auto subject = log ? log->Register(*w.policy, {}, &err) : nullptr;
  if (!subject) {
    state.SkipWithError(err.c_str());
    return;
  }
  uint64_t n = 0, last = 0;
  for (auto _ : state) {
    audit::Entry e;
    e.subject = subject;
    e.input = w.input;
    e.decision = w.decision;
    last = log->Append(std::move(e)).seq;
    if (++n % 4096 == 0) {
      state.PauseTiming();
      log->WaitDurable(last);
      state.ResumeTiming();
    }
  }
  log->Close();
}
BENCHMARK(BM_AuditAppend)->Iterations(200000);

// Rendering the decision for the record (a gateway that answers with the
// same compact JSON renders it once for both).
void BM_AuditRenderDecision(benchmark::State& state) {
  const AuditWorld& w = World();
  vm::Record rec;
  runtime::InputError err;
  if (!w.policy || !runtime::DecodeInput(w.input, w.policy->schema(), {}, &rec, &err)) {
    state.SkipWithError("input");
    return;
  }
  vm::Decision d;
  vm::Evaluate(w.policy->program(), rec, {}, &d);
  for (auto _ : state) benchmark::DoNotOptimize(audit::RenderDecision(d, w.policy->program()));
}
BENCHMARK(BM_AuditRenderDecision);

// Retention on the writer thread (internal/content.h): the input as the
// record keeps it under full (0), hash (1), none (2), for an agent request
// with tools, tool calls and an image.
void BM_AuditPrepareInput(benchmark::State& state) {
  const auto retain = static_cast<ast::Retention>(state.range(0));
  std::ifstream in("policies/requests/tools_preferences.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string input = ss.str();
  std::string out, content;
  const std::string key(64, 'k');
  for (auto _ : state) {
    audit::internal::PrepareInput(input, retain, key, nullptr, &out, &content);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_AuditPrepareInput)->Arg(static_cast<int>(ast::Retention::kFull))
    ->Arg(static_cast<int>(ast::Retention::kHash))->Arg(static_cast<int>(ast::Retention::kNone));

// The ledger's counters for the record (counters.h), per request in a
// gateway: two budgets and a limit, with their keys.
void BM_AuditRenderCounters(benchmark::State& state) {
  Compiled c = CompileSource("counted.tg", R"(policy "counted"
budget ws_daily { key principal.workspace per day limit 10 usd }
budget user_monthly { key principal.user ?? "anonymous" per month limit 50 usd }
limit user_rpm { key principal.user ?? "anonymous" per minute max 60 requests }
rule degrade on_error skip { when budget.ws_daily.remaining < 2 usd deny 402 "low" }
)", {});
  vm::Record rec;
  runtime::InputError err;
  runtime::BudgetPlan plan;
  if (!c.policy ||
      !runtime::DecodeInput(R"({"principal": {"workspace": "acme", "user": "u-48213"}, "request": {"model": "m", "messages": []}})",
                            c.policy->schema(), {}, &rec, &err) ||
      !runtime::PlanBudgets(c.policy->program(), rec, &plan)) {
    state.SkipWithError("policy or input");
    return;
  }
  std::vector<ledger::CounterView> views(3);
  for (size_t i = 0; i < views.size(); ++i) {
    views[i].spent = 1234567 * static_cast<int64_t>(i + 1);
    views[i].remaining = 7654321;
    views[i].limit = 10000000;
  }
  vm::Counters counters;
  runtime::FillCounters(c.policy->program(), plan, views, &counters);
  for (auto _ : state)
    benchmark::DoNotOptimize(audit::RenderCounters(c.policy->program(), counters, &plan));
}
BENCHMARK(BM_AuditRenderCounters);

// Wall-clock throughput of one writer: 100,000 records appended as fast as
// the queue allows, until the last is durable.
void BM_AuditWriteThroughput(benchmark::State& state) {
  const AuditWorld& w = World();
  static int run = 0;
  for (auto _ : state) {
    std::string err;
    auto log = audit::AuditLog::Open(w.Fresh("write" + std::to_string(run++)), {}, &err);
    auto subject = log ? log->Register(*w.policy, {}, &err) : nullptr;
    if (!subject) {
      state.SkipWithError(err.c_str());
      return;
    }
    const int kRecords = 100000;
    auto t0 = std::chrono::steady_clock::now();
    uint64_t last = 0;
    for (int i = 0; i < kRecords; ++i) {
      audit::Entry e;
      e.subject = subject;
      e.input = w.input;
      e.decision = w.decision;
      last = log->Append(std::move(e)).seq;
    }
    log->WaitDurable(last);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log->Close();
    state.counters["records_per_s"] = kRecords / s;
  }
}
BENCHMARK(BM_AuditWriteThroughput)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Replay of 50,000 records against their deciding version, one thread.
// First argument:
// 0: policies/example.tg (24 rules, DLP and injection scans of the
// content) on policies/requests/us_simple.json; 1: the 20-structured-rule
// policy of BM_Structured20 on its 1 KB input (no content scans).
void BM_AuditReplay(benchmark::State& state) {
  const AuditWorld& w = World();
  const bool structured = state.range(0) == 1;
  const std::string dir = w.Fresh(structured ? "replay_structured" : "replay");
  const int kRecords = 50000;
  if (!fs::exists(dir)) {
    std::shared_ptr<const Policy> policy = w.policy;
    std::string input = w.input, decision = w.decision;
    if (structured) {
      const std::string path = w.Fresh("structured20.tg");
      std::ofstream(path) << Structured20Policy();
      policy = CompileFile(path, {}).policy;
      input = OneKilobyteInput();
      vm::Record rec;
      runtime::InputError ierr;
      if (!policy || !runtime::DecodeInput(input, policy->schema(), {}, &rec, &ierr)) {
        state.SkipWithError("structured policy or input");
        return;
      }
      vm::Decision d;
      vm::Evaluate(policy->program(), rec, {}, &d);
      decision = audit::RenderDecision(d, policy->program());
    }
    std::string err;
    auto log = audit::AuditLog::Open(dir, {}, &err);
    auto subject = log ? log->Register(*policy, {}, &err) : nullptr;
    if (!subject) {
      state.SkipWithError(err.c_str());
      return;
    }
    for (int i = 0; i < kRecords; ++i) {
      audit::Entry e;
      e.subject = subject;
      e.input = input;
      e.decision = decision;
      log->Append(std::move(e));
    }
    log->Close();
  }
  for (auto _ : state) {
    audit::ReplayOptions o;
    o.dir = dir;
    o.fast_members = state.range(1) >= 1;
    // Cold: the version's Hyperscan databases compiled by the replay (as a
    // `tollgate replay` of a one-version log does). 2: kept from the
    // policy compiled above (a log's later versions, sharing detectors).
    // (Compiled here again, untimed, so that the store holds them whatever
    // ran before: the cold variants empty it.)
    if (state.range(1) != 2) {
      scan::ClearCompiledDatabases();
    } else if (!CompileFile(structured ? w.Fresh("structured20.tg") : "policies/example.tg", {}).policy) {
      state.SkipWithError("the policy does not compile");
      return;
    }
    audit::ReplayReport r;
    std::string err;
    // Replay runs on this one thread (the version's Hyperscan databases
    // too: SetCompileThreads(1)): its CPU time is the one-core figure
    // (wall time on a shared machine also counts other processes).
    scan::SetCompileThreads(1);
    auto cpu = [] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec / 1e9;
    };
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu();
    const bool replayed = audit::Replay(o, &r, &err);
    scan::SetCompileThreads(0);
    if (!replayed || r.identical != static_cast<uint64_t>(kRecords)) {
      state.SkipWithError(("replay: " + err + " " + std::to_string(r.identical)).c_str());
      return;
    }
    double c = cpu() - c0;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["records_per_s"] = kRecords / c;
    state.counters["records_per_wall_s"] = kRecords / s;
  }
}
// Second argument 0: the baseline in the same run -- every record's members
// found by the full SAX parse, as replay did before the fast path.
BENCHMARK(BM_AuditReplay)
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 2})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tollgate::bench
