// `tollgate test FILE|DIR...`: run the test blocks of policy files.
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/decide/test_runner.h"
#include "runtime/router/catalog.h"

namespace tollgate::cli {
namespace {

constexpr const char* kTestUsage =
    "usage: tollgate test [--schema FILE] [--catalog FILE] [--quiet] FILE|DIR...\n"
    "       tollgate test [--schema FILE] [--catalog FILE] --policy FILE|DIR [--policy ...]\n\n"
    "compiles each policy file (directories: every *.tg below them) and runs its\n"
    "`test` blocks. prints PASS or FAIL per test (with the reason of each failed\n"
    "expectation), the rules that no test made fire, and a summary.\n\n"
    "options:\n"
    "  --schema FILE  extend the standard decision-input schema with FILE\n"
    "  --policy P     (repeatable) run the tests of the named files and\n"
    "                 directories compiled as ONE policy\n"
    "  --catalog FILE the gateway's model catalog: a bare model name a test gives\n"
    "                 (`gpt-4o`) is read as the catalog's model of that name\n"
    "                 (`openai/gpt-4o`), as `tollgate serve` reads it; without it\n"
    "                 such a name is tested as given and a warning says so\n"
    "  --quiet        print only failures and the summary\n\n"
    "exit codes: 0 all tests passed, 1 a test failed or a file has errors,\n"
    "2 usage error, 3 I/O error\n";

}  // namespace

int RunTest(int argc, char** argv) {
  Args args;
  args.Value("--schema", "FILE").Value("--policy", "FILE").Value("--catalog", "FILE").Flag("--quiet");
  if (int rc = args.Parse(argc, argv, kTestUsage); rc >= 0) return rc;
  if (args.positional().empty() && !args.Has("--policy"))
    return UsageError("no policy files given", kTestUsage);
  std::vector<std::string> files;
  bool io_error = !CollectPolicyFiles(args.positional(), &files);
  // --policy (repeatable): the named files and directories are ONE policy.
  std::string composed;
  for (const std::string& p : args.GetAll("--policy")) composed += (composed.empty() ? "" : " + ") + p;
  if (!composed.empty()) files.push_back(composed);
  bool quiet = args.Has("--quiet");
  int passed = 0, failed = 0, broken = 0, no_tests = 0;
  // Positional files that declare the same policy are parts of one policy
  // (as `serve`, `eval --policy DIR` load a directory) but are tested here
  // one by one: said once per name, on stderr.
  std::map<std::string, std::string> first_file;  // policy name -> first file
  std::set<std::string> warned;
  bool warned_bare = false;
  for (const std::string& f : files) {
    Loaded l;
    int rc = (f == composed ? LoadPolicy(args.GetAll("--policy"), args.Get("--schema"), &l)
                                : LoadPolicy(f, args.Get("--schema"), &l));
    if (rc != kExitOk) {
      std::printf("%s\n  ERROR  the policy does not compile (diagnostics above)\n", f.c_str());
      if (rc == kExitIo) io_error = true;
      else ++broken;
      continue;
    }
    if (f != composed) {
      auto [it, fresh] = first_file.emplace(l.policy->name(), f);
      if (!fresh && warned.insert(l.policy->name()).second) {
        std::fprintf(stderr,
                     "warning: %s and %s both declare policy \"%s\": each file is tested on its own, "
                     "but a gateway or `eval --policy DIR` loads them as one policy; test that with "
                     "`tollgate test --policy DIR`\n",
                     it->second.c_str(), f.c_str(), l.policy->name().c_str());
      }
    }
    runtime::Catalog catalog;
    if (args.Has("--catalog")) {
      if (int rc = LoadCatalog(args.Get("--catalog"), *l.schema, &catalog); rc != kExitOk) return rc;
    }
    runtime::TestReport report = runtime::RunTests(*l.policy, Limits{}, args.Has("--catalog") ? &catalog : nullptr);
    if (!report.bare_models.empty() && !warned_bare) {
      warned_bare = true;
      const char* name = report.bare_models[0].c_str();
      std::fprintf(stderr,
                   "warning: a test of %s names the model `%s` without its author: `tollgate serve` "
                   "reads it as the catalog's one model of that name (`author/%s`), the test on the "
                   "name as given\n  = help: give `--catalog FILE` to test as the gateway decides "
                   "(docs/gateway.md, \"Model names\")\n",
                   f.c_str(), name, name);
    }
    passed += report.passed;
    failed += report.failed;
    if (report.tests.empty()) ++no_tests;
    if (quiet && report.failed == 0) continue;
    std::printf("%s\n", f.c_str());
    for (const runtime::TestResult& t : report.tests) {
      if (t.pass) {
        if (!quiet) std::printf("  PASS  %s\n", t.name.c_str());
        continue;
      }
      // A policy of several files: name the test's file, as a diagnostic
      // does (`b.tg:4`), and its expectations' lines in it.
      if (f == composed && !t.file.empty()) {
        std::printf("  FAIL  %s (%s:%u)\n", t.name.c_str(), t.file.c_str(), t.line);
        for (const std::string& why : t.failures)
          std::printf("        %s\n", (why.starts_with("line ") ? t.file + ":" + why.substr(5) : why).c_str());
        continue;
      }
      std::printf("  FAIL  %s (line %u)\n", t.name.c_str(), t.line);
      for (const std::string& why : t.failures) std::printf("        %s\n", why.c_str());
    }
    if (report.tests.empty()) std::printf("  no tests\n");
    if (!report.unexercised.empty() && !quiet) {
      std::string names;
      for (const std::string& n : report.unexercised) names += (names.empty() ? "" : ", ") + n;
      std::printf("  not exercised: %s\n", names.c_str());
    }
  }
  std::printf("\n%d passed, %d failed", passed, failed);
  if (broken) std::printf(", %d file%s with errors", broken, broken == 1 ? "" : "s");
  if (no_tests) std::printf(", %d file%s without tests", no_tests, no_tests == 1 ? "" : "s");
  std::printf("\n");
  if (failed || broken) return kExitFailed;
  return io_error ? kExitIo : kExitOk;
}

}  // namespace tollgate::cli
