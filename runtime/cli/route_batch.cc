// Batch routing with admission (docs/budgets.md). Each line is evaluated,
// routed, and -- with a ledger -- admitted: the primary endpoint's worst
// case (runtime::WorstCaseUsage, as the gateway reserves it) is reserved on
// every applicable budget and limit, then settled at that reservation (the
// traffic file has no real usage). A denied line
// carries the ledger's status and code (403 budget_exceeded, 429
// rate_limited, 503 budget_store_unavailable) and an "admission" object.
#include "runtime/cli/route_batch.h"

#include <cstdio>
#include <mutex>
#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/vm/vm.h"
#include "runtime/audit/counters.h"
#include "runtime/audit/log.h"
#include "runtime/decide/budgets.h"
#include "runtime/cli/commands.h"
#include "runtime/decide/decision_json.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/input/input.h"
#include "runtime/ledger/open.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/router.h"

namespace tollgate::cli {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer* w, const char* key, const std::string& v) {
  w->Key(key);
  w->String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

// A line whose input (or candidate) did not decode: {"line": N, "error":
// {"code", "message", "path"}}, closing the line's object.
void WriteInputError(Writer* w, const runtime::InputError& e) {
  w->Key("error");
  w->StartObject();
  Str(w, "code", e.code);
  Str(w, "message", e.message);
  Str(w, "path", e.path);
  w->EndObject();
  w->EndObject();
}

}  // namespace

int RouteBatch(const std::string& path, const std::string& ledger_url, const Loaded& l,
               const runtime::Catalog& catalog, const runtime::Accounts* accounts,
               AuditHook* hook) {
  const bool audit = hook != nullptr && hook->enabled();
  // A traffic file is read whole, capped (docs/limits.md): 1 GiB.
  constexpr size_t kMaxTrafficFileBytes = size_t{1} << 30;
  std::string input, io_error;
  if (ReadFile(path, kMaxTrafficFileBytes, &input, &io_error) != ReadStatus::kOk) {
    std::fprintf(stderr, "error: %s\n", io_error.c_str());
    return kExitIo;
  }
  struct {  // the first settlement that failed (callbacks may run on the commit thread;
            // declared before `led`, which is destroyed first)
    std::mutex mu;
    std::string message;
  } settle_error;
  // The ledger's clock is the traffic's: each request is charged to the
  // budget and rate-limit windows of its own instant (context.time, else
  // the wall clock when it was read), as `tollgate test` charges a test --
  // past traffic replays into the windows it happened in.
  ledger::ManualClock traffic_clock(0);  // set from the first request
  std::unique_ptr<ledger::Ledger> led;
  if (!ledger_url.empty()) {
    std::string err;
    ledger::Options o;
    o.clock = &traffic_clock;
    o.on_fail_open = [](const std::string& m) { std::fprintf(stderr, "warning: %s\n", m.c_str()); };
    led = ledger::OpenLedger(ledger_url, o, &err);
    if (!led) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return kExitIo;
    }
  }
  std::string rerr;
  auto router = runtime::Router::Create(*l.policy, catalog, accounts, {}, &rerr);
  if (!router) {
    std::fprintf(stderr, "error: %s\n", rerr.c_str());
    return kExitFailed;
  }
  const vm::Program& program = l.policy->program();
  vm::Record rec, cand;
  vm::Decision d;
  runtime::RouteResult result;
  runtime::BudgetPlan plan;
  std::vector<ledger::CounterView> views;
  vm::Counters counters;
  runtime::InputError ierr;
  rapidjson::StringBuffer sb;
  std::string out;  // answers not yet written (with --audit: not yet durable)
  bool audit_failed = false;
  auto flush = [&] {
    if (out.empty()) return;
    // Answers leave only once their records are on disk (group commit).
    if (audit && !hook->Commit()) {
      audit_failed = true;
      out.clear();
      return;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  };
  bool any_bad = false;
  uint64_t lineno = 0, late_lines = 0;
  std::string line;  // the current line, bare model names resolved
  size_t pos = 0;
  while (pos < input.size() && !audit_failed) {
    size_t nl = input.find('\n', pos);
    if (nl == std::string::npos) nl = input.size();
    std::string_view text(input.data() + pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    // A bare model name is the catalog's model of that name, as the gateway
    // reads it (docs/gateway.md, "Model names").
    line.assign(text);
    runtime::ResolveBareModelsInInput(catalog, &line);
    text = line;
    sb.Clear();
    Writer w(sb);
    w.StartObject();
    w.Key("line");
    w.Uint64(lineno);
    if (!runtime::DecodeInput(text, *l.schema, Limits{}, &rec, &ierr)) {
      any_bad = true;
      WriteInputError(&w, ierr);
      out.append(sb.GetString(), sb.GetSize());
      out += '\n';
      continue;
    }
    // With a ledger: the counters this request would charge, as they stand,
    // are the second input of the evaluation (rules read budget.x.remaining).
    bool planned = false;
    vm::EvalOptions eopts;
    if (led && rec.time) {
      const int64_t at = rec.time->unix_ms, was = traffic_clock.NowMs();
      if (at < was) {
        // Windows only roll forward: a request dated before one already
        // charged is charged at the latest instant seen (said once).
        if (late_lines++ == 0) {
          std::fprintf(stderr,
                       "warning: line %llu is dated before an earlier request; budgets and rate "
                       "limits replay traffic in time order, so it and any later such line are "
                       "charged at the latest instant seen (sort the file by context.time)\n",
                       static_cast<unsigned long long>(lineno));
        }
      } else {
        // Settlements still in flight close at the instant they were made
        // for: a jump of more than a minute (reservations expire by this
        // clock) waits for them first.
        if (at - was > 60'000) {
          if (ledger::Status f = led->Flush(); !f.ok) {
            std::lock_guard<std::mutex> g(settle_error.mu);
            if (settle_error.message.empty()) settle_error.message = f.message;
          }
        }
        traffic_clock.Set(at);
      }
    }
    // A store that cannot be read: the counters are unknown (rules failing
    // on them are skipped), and the request is answered as its admission
    // would be -- fail closed 503 budget_store_unavailable, or fail open
    // (docs/budgets.md, "When the store cannot be read").
    ledger::Status read;
    if (led) {
      planned = runtime::PlanBudgets(program, rec, &plan);
      if (planned && (!plan.reserve.budgets.empty() || !plan.reserve.limits.empty())) {
        read = runtime::ReadCounters(led.get(), program, plan, &views, &counters);
        eopts.counters = &counters;
        if (!read.ok && led->fail_open()) {
          std::fprintf(stderr, "warning: line %llu: %s; rules reading its counters are skipped (fail open, unverified)\n",
                       static_cast<unsigned long long>(lineno), read.message.c_str());
        }
      }
    }
    vm::Evaluate(program, rec, eopts, &d);
    // An input's `candidate` is checked against the placed requires, as on
    // every other deciding path (runtime/decide/decide.cc); a second parse, only
    // when the line names one.
    if (runtime::MentionsCandidate(text)) {
      bool has_cand = false;
      if (!runtime::DecodeCandidate(text, *l.schema, Limits{}, &cand, &has_cand, &ierr)) {
        any_bad = true;
        WriteInputError(&w, ierr);
        out.append(sb.GetString(), sb.GetSize());
        out += '\n';
        continue;
      }
      if (has_cand) runtime::DeriveEstimatedCost(*l.schema, rec, &cand);
      if (has_cand) vm::CheckCandidate(program, rec, cand, eopts, &d);
    }
    result.Clear();
    router->Route(d, rec, &result);
    runtime::ApplyRoute(result, &d);
    bool have_admission = false;
    ledger::Admission adm;
    std::string admission_json;  // for the audit record
    if (!read.ok && !led->fail_open() && d.outcome == vm::Outcome::kAllow) {
      // Fail closed: the admission could not be verified either.
      adm = runtime::StoreUnavailable(read);
      have_admission = true;
      if (audit) admission_json = audit::RenderAdmission(adm);
      d.outcome = vm::Outcome::kDeny;
      d.status = adm.status();
      d.code = adm.code();
      d.reason = adm.message;
      d.deny_rule = UINT32_MAX;
    } else if (led && d.outcome == vm::Outcome::kAllow && !result.endpoints.empty()) {
      // Budgets and limits scoped by endpoint fields charge the primary,
      // the endpoint that serves (as the gateway's admission).
      std::string_view stage = "plan";
      if (planned) {
        stage = "endpoint_plan";
        planned = runtime::PlanEndpointBudgets(program, rec, catalog, result.endpoints[0], &plan);
      }
      if (!planned) {
        d.outcome = vm::Outcome::kDeny;
        d.status = 403;
        d.code = vm::kCodeRuleError;
        d.reason = plan.error_message;
        if (audit) admission_json = audit::RenderPlanFailure(plan.error_message, stage);
      } else {
        // The gateway's reservation (docs/budgets.md): the worst case of the
        // body it would send upstream, redactions applied.
        const runtime::RoutedEndpoint& primary = result.endpoints[0];
        runtime::PromptShape shape;
        std::string redacted, rerror;
        if (!d.redactions.empty() && runtime::ApplyRedactions(text, d, program, &redacted, &rerror)) {
          runtime::MeasurePrompt(redacted, runtime::PromptSource::kBody, &shape);
        } else {
          runtime::MeasurePrompt(text, runtime::PromptSource::kDecisionInput, &shape);
        }
        const ledger::Usage worst = runtime::WorstCaseUsage(shape, catalog.endpoint(primary.endpoint), rec);
        runtime::SetWorstCase(worst.cost_micros, worst.tokens, &plan);
        adm = led->Reserve(plan.reserve);
        have_admission = true;
        if (audit) admission_json = audit::RenderAdmission(adm);
        if (adm.admitted()) {
          // No real usage in a traffic file: settle at the reservation.
          // Asynchronously (one commit per request would be slow); the
          // Flush at the end waits for every settlement to be durable.
          led->SettleAsync(adm.reservation, worst,
                           [&settle_error](const ledger::Status& s) {
                             if (!s.ok) {
                               std::lock_guard<std::mutex> l(settle_error.mu);
                               if (settle_error.message.empty()) settle_error.message = s.message;
                             }
                           });
        } else {
          d.outcome = vm::Outcome::kDeny;
          d.status = adm.status();
          d.code = adm.code();
          d.reason = adm.message;
        }
      }
    }
    std::string endpoints = runtime::EndpointsJson(catalog, result);
    if (audit) {
      // Everything the decision read: the input, the counters as seen, the
      // clock, the ledger's verdict (runtime/audit/counters.h).
      // Not routed (a policy's deny): `"endpoints": null`, as the gateway records it.
      const bool routed = result.outcome != runtime::RouteResult::Outcome::kNotRouted;
      std::string id = hook->Record(
          std::string(text), audit::RenderDecision(d, program), routed ? endpoints : std::string(),
          AuditHook::ClockOf(d),
          eopts.counters ? audit::RenderCounters(program, counters, &plan) : std::string(),
          std::move(admission_json));
      w.Key("decision_id");
      w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
    }
    runtime::WriteDecisionMembers(&w, d, program, false);
    w.Key("endpoints");
    w.RawValue(endpoints.data(), endpoints.size(), rapidjson::kArrayType);
    if (have_admission) {
      w.Key("admission");
      audit::WriteAdmission(&w, adm, /*with_reason=*/false, &plan);
    }
    w.EndObject();
    out.append(sb.GetString(), sb.GetSize());
    out += '\n';
    if (out.size() >= (1 << 16)) flush();
  }
  flush();
  if (led) {
    ledger::Status flushed = led->Flush();
    std::lock_guard<std::mutex> l(settle_error.mu);
    if (!flushed.ok && settle_error.message.empty()) settle_error.message = flushed.message;
    if (!settle_error.message.empty()) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", settle_error.message.c_str());
      return kExitIo;
    }
  }
  std::fflush(stdout);
  if (audit_failed) return kExitIo;
  return any_bad ? kExitFailed : kExitOk;
}

}  // namespace tollgate::cli
