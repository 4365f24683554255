// `tollgate route`: evaluate a decision input against a policy, then pick
// endpoints from a model catalog (runtime/router/router.h). See docs/routing.md.
//
//   tollgate route --policy FILE --catalog FILE [--accounts FILE]
//                  [--request FILE|-] [--schema FILE] [--explain] [--apply-redactions] [--compact]
//   tollgate route --policy FILE --catalog FILE --requests FILE.jsonl [--ledger URL]
//                  [--audit DIR]
//
// Prints the decision exactly as `tollgate eval` does (same members, same
// order, indented unless --compact) plus "endpoints": [{id, provider, model,
// estimated_cost}] and, with --explain, "eliminated": [...] and
// "shadow_eliminated": [...] (routed endpoints a shadow rule would drop); the
// trace is in the decision members as in eval.
// Exit codes: 0 decision made (allow or deny), 1 policy, catalog, accounts or
// input errors, 2 usage, 3 I/O.
#include <cstdio>
#include <string>

#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/cli/audit_hook.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/route_batch.h"
#include "runtime/cli/common.h"
#include "runtime/decide/decide.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/catalog_names.h"
#include "runtime/router/router.h"

namespace tollgate::cli {
namespace {

constexpr const char* kRouteUsage =
    "usage: tollgate route --policy FILE --catalog FILE [--accounts FILE]\n"
    "                      [--request FILE|-] [--schema FILE] [--explain] [--compact]\n"
    "                      [--apply-redactions] [--audit DIR]\n"
    "       tollgate route --policy FILE --catalog FILE --requests FILE.jsonl\n"
    "                      [--ledger URL] [--accounts FILE] [--schema FILE] [--audit DIR]\n\n"
    "evaluates the decision input (default: stdin) against the policy, then orders the\n"
    "catalog's endpoints that satisfy every `require` and the request's provider\n"
    "preferences (tightened by the workspace's account defaults). prints the decision\n"
    "as JSON, indented, in the shape `tollgate eval` prints, with \"endpoints\" added;\n"
    "--explain adds \"eliminated\" (why each endpoint was dropped, with the values\n"
    "compared) and the rule trace; --compact prints one line; --apply-redactions adds\n"
    "\"redacted_request\" (the request with the decision's redactions applied, as\n"
    "`tollgate eval` prints it). a bare model name (`gpt-4o`) that names one catalog\n"
    "model is read as that model (`openai/gpt-4o`), as `tollgate serve` reads it.\n"
    "see docs/routing.md.\n"
    "--audit DIR records the decision and the endpoints chosen in the audit log DIR\n"
    "(docs/audit.md) and adds \"decision_id\". --policy may be given more than once,\n"
    "or name a directory: the files are combined into one policy.\n\n"
    "with --requests, routes each JSON line in order and prints one compact line per\n"
    "input line. with --ledger (sqlite:PATH, redis://HOST:PORT/DB or memory:), each\n"
    "routed request is admitted against the policy's budgets and limits: the primary\n"
    "endpoint's worst case is reserved (403 budget_exceeded, 429 rate_limited, 503\n"
    "budget_store_unavailable when it cannot be) and settled at that amount. see\n"
    "docs/budgets.md. with --audit, each line's decision is recorded with its endpoints,\n"
    "the counters it read and the ledger's verdict, and gets a \"decision_id\"; answers\n"
    "are printed once their records are on disk.\n\n"
    "exit codes: 0 decision made (allow or deny), 1 policy, catalog, accounts or input\n"
    "errors, 2 usage error, 3 I/O error\n";

}  // namespace

int RunRoute(int argc, char** argv) {
  Args args;
  args.Flag("--explain")
      .Flag("--compact")
      .Flag("--apply-redactions")
      .Value("--policy", "FILE")
      .Value("--catalog", "FILE")
      .Value("--accounts", "FILE")
      .Value("--request", "FILE")
      .Value("--schema", "FILE")
      .Value("--requests", "FILE")
      .Value("--ledger", "URL")
      .Value("--audit", "DIR");
  if (int rc = args.Parse(argc, argv, kRouteUsage); rc >= 0) return rc;
  if (!args.positional().empty()) {
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kRouteUsage);
  }
  if (args.Get("--policy").empty() || args.Get("--catalog").empty()) {
    return UsageError("`--policy` and `--catalog` are required", kRouteUsage);
  }
  const bool explain = args.Has("--explain");
  if (args.Has("--request") && args.Has("--requests")) {
    return UsageError("give either `--request` or `--requests`, not both", kRouteUsage);
  }
  if (args.Has("--ledger") && !args.Has("--requests")) {
    return UsageError("`--ledger` needs `--requests`", kRouteUsage);
  }
  if (args.Has("--requests") && args.Has("--apply-redactions")) {
    return UsageError("`--apply-redactions` works with `--request` only", kRouteUsage);
  }
  if (args.Has("--requests") && explain) {
    return UsageError("`--explain` works with `--request` only", kRouteUsage);
  }

  Loaded l;
  if (int rc = LoadPolicy(args.GetAll("--policy"), args.Get("--schema"), &l); rc) return rc;

  runtime::Catalog catalog;
  if (int rc = LoadCatalog(args.Get("--catalog"), *l.schema, &catalog); rc != kExitOk) return rc;
  {  // names of the policy that no endpoint of the catalog holds: warnings
    Diagnostics names;
    runtime::WarnNamesNotInCatalog(*l.policy, catalog, args.Get("--catalog"), &names);
    names.Sort();
    if (!names.empty()) std::fputs(names.Render().c_str(), stderr);
  }
  runtime::Accounts accounts;
  const bool has_accounts = !args.Get("--accounts").empty();
  if (has_accounts) {
    runtime::AccountsError aerr;
    if (!runtime::Accounts::LoadFile(args.Get("--accounts"), catalog, &accounts, &aerr)) {
      std::fprintf(stderr, "error[%s]: %s\n", aerr.code.c_str(), aerr.message.c_str());
      return aerr.code == "accounts_io_error" ? kExitIo : kExitFailed;
    }
  }

  if (args.Has("--requests")) {
    AuditHook hook;
    if (args.Has("--audit")) {
      if (int rc = hook.Open(args.Get("--audit"), *l.policy, args.Get("--schema"),
                             args.Get("--catalog"), args.Get("--accounts"));
          rc)
        return rc;
    }
    return RouteBatch(args.Get("--requests"), args.Get("--ledger"), l, catalog,
                      has_accounts ? &accounts : nullptr, &hook);
  }

  std::string input;
  if (int rc = ReadDecisionInput(args, &input); rc != 0) return rc;
  // A bare model name is the catalog's model of that name, as the gateway
  // reads it (docs/gateway.md, "Model names").
  runtime::ResolveBareModelsInInput(catalog, &input);
  std::string rerr;
  auto router = runtime::Router::Create(*l.policy, catalog, has_accounts ? &accounts : nullptr,
                                        {}, &rerr);
  if (!router) {
    std::fprintf(stderr, "error: %s\n", rerr.c_str());
    return kExitFailed;
  }
  runtime::DecideScratch s;
  runtime::InputError ierr;
  if (!runtime::Decide(*l.policy, input, Limits{}, explain, router.get(), &s, &ierr)) {
    std::printf("%s\n", runtime::InputErrorJson(ierr).c_str());
    return kExitFailed;
  }

  std::string decision_id;
  if (args.Has("--audit")) {
    AuditHook hook;
    if (int rc = hook.Open(args.Get("--audit"), *l.policy, args.Get("--schema"),
                           args.Get("--catalog"), args.Get("--accounts"));
        rc)
      return rc;
    std::string recorded = audit::RenderDecision(s.decision, l.policy->program());
    if (explain) {  // the trace run bypasses the rule index: record a plain run (as replay does)
      vm::Decision plain;
      runtime::RouteResult plain_route;
      vm::Evaluate(l.policy->program(), s.request, {}, &plain);
      router->Route(plain, s.request, &plain_route);
      runtime::ApplyRoute(plain_route, &plain);
      recorded = audit::RenderDecision(plain, l.policy->program());
    }
    // A decision that was not routed (a policy's deny) records
    // `"endpoints": null`, as the gateway's does (docs/audit.md).
    const bool routed = s.route.outcome != runtime::RouteResult::Outcome::kNotRouted;
    decision_id = hook.Record(input, std::move(recorded), routed ? runtime::EndpointsJson(catalog, s.route) : "",
                              AuditHook::ClockOf(s.decision));
    if (!hook.Commit()) return kExitIo;
  }

  runtime::RenderOptions ro;
  ro.explain = explain;
  ro.pretty = !args.Has("--compact");
  ro.decision_id = decision_id;
  std::string redacted;
  if (args.Has("--apply-redactions")) {
    std::string error;
    if (!runtime::ApplyRedactions(input, s.decision, l.policy->program(), &redacted, &error)) {
      std::fprintf(stderr, "error: cannot apply redactions: %s\n", error.c_str());
      return kExitFailed;
    }
  }
  std::string out = runtime::RenderRoute(*l.policy, *router, s, ro,
                                         args.Has("--apply-redactions") ? &redacted : nullptr);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fputc('\n', stdout);
  return kExitOk;
}

}  // namespace tollgate::cli
