// `tollgate route`: evaluate a decision input against a policy, then pick
// endpoints from a model catalog (runtime/router.h). See docs/routing.md.
//
//   tollgate route --policy FILE --catalog FILE [--accounts FILE]
//                  [--request FILE|-] [--explain]
//
// Prints the decision JSON plus "endpoints": [{id, provider, model,
// estimated_cost}] and, with --explain, "eliminated": [...].
// Exit codes: 0 decision made (allow or deny), 1 policy/catalog errors,
// 2 usage, 3 I/O.
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/cli/commands.h"

namespace tollgate::cli {
namespace {

constexpr const char* kRouteUsage =
    "usage: tollgate route --policy FILE --catalog FILE [--accounts FILE]\n"
    "                      [--request FILE|-] [--explain]\n\n"
    "evaluates the decision input (default: stdin) against the policy, then orders the\n"
    "catalog's endpoints that satisfy every `require` and the request's provider\n"
    "preferences. prints the decision as JSON with \"endpoints\" (and \"eliminated\"\n"
    "with --explain).\n\n"
    "exit codes: 0 decision made (allow or deny), 1 policy or catalog errors,\n"
    "2 usage error, 3 I/O error\n";

struct RouteFlags {
  std::string policy, catalog, accounts, request = "-";
  bool explain = false;
};

// Returns -1 to continue, else the exit code.
int ParseFlags(int argc, char** argv, RouteFlags* f) {
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: `%s` needs a value\n%s", argv[i], kRouteUsage);
        return false;
      }
      *out = argv[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kRouteUsage, stdout);
      return kExitOk;
    } else if (a == "--explain") {
      f->explain = true;
    } else if (a == "--policy") {
      if (!value(&f->policy)) return kExitUsage;
    } else if (a == "--catalog") {
      if (!value(&f->catalog)) return kExitUsage;
    } else if (a == "--accounts") {
      if (!value(&f->accounts)) return kExitUsage;
    } else if (a == "--request") {
      if (!value(&f->request)) return kExitUsage;
    } else {
      std::fprintf(stderr, "error: unknown flag `%s`\n%s", argv[i], kRouteUsage);
      return kExitUsage;
    }
  }
  if (f->policy.empty() || f->catalog.empty()) {
    std::fprintf(stderr, "error: `--policy` and `--catalog` are required\n%s", kRouteUsage);
    return kExitUsage;
  }
  return -1;
}

}  // namespace

int RunRoute(int argc, char** argv) {
  RouteFlags flags;
  int rc = ParseFlags(argc, argv, &flags);
  if (rc >= 0) return rc;
  // The pipeline (compile, decode, evaluate, route) is wired in as the
  // engine stages land; until then the command reports that it cannot run.
  std::fprintf(stderr, "error: routing is not built into this binary yet\n");
  return kExitFailed;
}

}  // namespace tollgate::cli
