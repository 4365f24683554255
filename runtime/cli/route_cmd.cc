// `tollgate route`: evaluate a decision input against a policy, then pick
// endpoints from a model catalog (runtime/router.h). See docs/routing.md.
//
//   tollgate route --policy FILE --catalog FILE [--accounts FILE]
//                  [--request FILE|-] [--schema FILE] [--explain] [--compact]
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

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/vm/vm.h"
#include "runtime/accounts.h"
#include "runtime/catalog.h"
#include "runtime/cli/audit_hook.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/decision_json.h"
#include "runtime/input.h"
#include "runtime/router.h"

namespace tollgate::cli {
namespace {

constexpr const char* kRouteUsage =
    "usage: tollgate route --policy FILE --catalog FILE [--accounts FILE]\n"
    "                      [--request FILE|-] [--schema FILE] [--explain] [--compact]\n"
    "                      [--audit DIR]\n\n"
    "evaluates the decision input (default: stdin) against the policy, then orders the\n"
    "catalog's endpoints that satisfy every `require` and the request's provider\n"
    "preferences (tightened by the workspace's account defaults). prints the decision\n"
    "as JSON, indented, in the shape `tollgate eval` prints, with \"endpoints\" added;\n"
    "--explain adds \"eliminated\" (why each endpoint was dropped, with the values\n"
    "compared) and the rule trace; --compact prints one line. see docs/routing.md.\n"
    "--audit DIR records the decision and the endpoints chosen in the audit log DIR\n"
    "(docs/audit.md) and adds \"decision_id\". --policy may be given more than once,\n"
    "or name a directory: the files are combined into one policy.\n\n"
    "exit codes: 0 decision made (allow or deny), 1 policy, catalog, accounts or input\n"
    "errors, 2 usage error, 3 I/O error\n";

}  // namespace

int RunRoute(int argc, char** argv) {
  Args args;
  args.Flag("--explain")
      .Flag("--compact")
      .Value("--policy", "FILE")
      .Value("--catalog", "FILE")
      .Value("--accounts", "FILE")
      .Value("--request", "FILE")
      .Value("--schema", "FILE")
      .Value("--audit", "DIR");
  if (int rc = args.Parse(argc, argv, kRouteUsage); rc >= 0) return rc;
  if (!args.positional().empty()) {
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kRouteUsage);
  }
  if (args.Get("--policy").empty() || args.Get("--catalog").empty()) {
    return UsageError("`--policy` and `--catalog` are required", kRouteUsage);
  }
  const bool explain = args.Has("--explain");

  Loaded l;
  if (int rc = LoadPolicy(args.GetAll("--policy"), args.Get("--schema"), &l); rc) return rc;

  runtime::Catalog catalog;
  runtime::CatalogError cerr;
  if (!runtime::Catalog::LoadFile(args.Get("--catalog"), *l.schema, &catalog, &cerr)) {
    std::fprintf(stderr, "error[%s]: %s\n", cerr.code.c_str(), cerr.message.c_str());
    return cerr.code == "catalog_io_error" ? kExitIo : kExitFailed;
  }
  runtime::Accounts accounts;
  const bool has_accounts = !args.Get("--accounts").empty();
  if (has_accounts) {
    runtime::AccountsError aerr;
    if (!runtime::Accounts::LoadFile(args.Get("--accounts"), &accounts, &aerr)) {
      std::fprintf(stderr, "error[%s]: %s\n", aerr.code.c_str(), aerr.message.c_str());
      return aerr.code == "accounts_io_error" ? kExitIo : kExitFailed;
    }
  }

  std::string input, io_error;
  std::string request_path = args.Get("--request").empty() ? "-" : args.Get("--request");
  if (ReadStatus rs = ReadFile(request_path, Limits{}.max_input_bytes + 3, &input, &io_error);
      rs != ReadStatus::kOk) {
    if (rs == ReadStatus::kTooLarge) {  // the decoder's own error, without reading it all
      runtime::InputError big{"input_too_large",
                              "decision input is more than the limit of " +
                                  std::to_string(Limits{}.max_input_bytes) + " bytes",
                              ""};
      std::printf("%s\n", runtime::InputErrorJson(big).c_str());
      return kExitFailed;
    }
    std::fprintf(stderr, "error: %s\n", io_error.c_str());
    return kExitIo;
  }
  vm::Record request;
  runtime::InputError ierr;
  if (!runtime::DecodeInput(input, *l.schema, Limits{}, &request, &ierr)) {
    std::printf("%s\n", runtime::InputErrorJson(ierr).c_str());
    return kExitFailed;
  }

  vm::EvalOptions eopts;
  eopts.trace = explain;
  vm::Decision decision;
  vm::Evaluate(l.policy->program(), request, eopts, &decision);

  std::string rerr;
  auto router = runtime::Router::Create(*l.policy, catalog, has_accounts ? &accounts : nullptr,
                                        {}, &rerr);
  if (!router) {
    std::fprintf(stderr, "error: %s\n", rerr.c_str());
    return kExitFailed;
  }
  runtime::RouteResult result;
  router->Route(decision, request, &result);
  runtime::ApplyRoute(result, &decision);
  std::string endpoints = runtime::EndpointsJson(catalog, result);

  std::string decision_id;
  if (args.Has("--audit")) {
    AuditHook hook;
    if (int rc = hook.Open(args.Get("--audit"), *l.policy, args.Get("--schema"),
                           args.Get("--catalog"), args.Get("--accounts"));
        rc)
      return rc;
    std::string recorded = audit::RenderDecision(decision, l.policy->program());
    if (explain) {  // the trace run bypasses the rule index: record a plain run (as replay does)
      vm::Decision plain;
      runtime::RouteResult plain_route;
      vm::Evaluate(l.policy->program(), request, {}, &plain);
      router->Route(plain, request, &plain_route);
      runtime::ApplyRoute(plain_route, &plain);
      recorded = audit::RenderDecision(plain, l.policy->program());
    }
    decision_id = hook.Record(input, std::move(recorded), endpoints);
    if (!hook.Commit()) return kExitIo;
  }

  rapidjson::StringBuffer sb;
  // The router renders its arrays as JSON text; re-emitting them through the
  // writer indents them like the decision members.
  auto member = [](auto& w, const char* key, const std::string& json) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseNumbersAsStringsFlag>(json.data(), json.size());
    w.Key(key);
    doc.Accept(w);
  };
  auto emit = [&](auto& w) {
    w.StartObject();
    if (!decision_id.empty()) {
      w.Key("decision_id");
      w.String(decision_id.c_str());
    }
    runtime::WriteDecisionMembers(&w, decision, l.policy->program(), explain);
    member(w, "endpoints", endpoints);
    if (explain) {
      member(w, "eliminated",
             runtime::EliminatedJson(catalog, l.policy->program(), result, false, &request));
      member(w, "shadow_eliminated",
             runtime::EliminatedJson(catalog, l.policy->program(), result, true, &request));
    }
    w.EndObject();
  };
  if (args.Has("--compact")) {
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    emit(w);
  } else {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    emit(w);
  }
  std::fwrite(sb.GetString(), 1, sb.GetSize(), stdout);
  std::fputc('\n', stdout);
  return kExitOk;
}

}  // namespace tollgate::cli
