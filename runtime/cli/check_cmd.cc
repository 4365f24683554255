// `tollgate check FILE...`: parse and check policy files, print every
// diagnostic. Exit 0 when every file is clean (warnings allowed), 1 when any
// has errors, 3 when a file cannot be read (and none has errors).
#include <cstdio>
#include <string>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"

namespace tollgate::cli {
namespace {

constexpr const char* kCheckUsage =
    "usage: tollgate check [--schema FILE] [--quiet] FILE|DIR...\n"
    "       tollgate check [--schema FILE] --policy FILE|DIR [--policy ...]\n\n"
    "parses, type-checks and compiles each policy file (directories: every *.tg\n"
    "below them) and prints every diagnostic to stderr, with file:line:col, a\n"
    "caret line and help.\n\n"
    "options:\n"
    "  --schema FILE  extend the standard decision-input schema with FILE\n"
    "  --policy P     (repeatable) check the named files and directories as ONE\n"
    "                 policy (a policy split over several files)\n"
    "  --quiet        do not print `FILE: ok` for clean files\n\n"
    "exit codes: 0 all clean, 1 some file has errors, 2 usage error, 3 I/O error\n";

}  // namespace

int RunCheck(int argc, char** argv) {
  Args args;
  args.Value("--schema", "FILE").Value("--policy", "FILE").Flag("--quiet");
  if (int rc = args.Parse(argc, argv, kCheckUsage); rc >= 0) return rc;
  if (args.positional().empty() && !args.Has("--policy"))
    return UsageError("no policy files given", kCheckUsage);
  std::vector<std::string> files;
  bool io_error = !CollectPolicyFiles(args.positional(), &files);
  // --policy (repeatable): the named files and directories are ONE policy.
  std::string composed;
  for (const std::string& p : args.GetAll("--policy")) composed += (composed.empty() ? "" : " + ") + p;
  if (!composed.empty()) files.push_back(composed);
  bool failed = false;
  for (const std::string& f : files) {
    Loaded l;
    int rc = (f == composed ? LoadPolicy(args.GetAll("--policy"), args.Get("--schema"), &l)
                                : LoadPolicy(f, args.Get("--schema"), &l));
    if (rc == kExitIo) io_error = true;
    else if (rc != kExitOk) failed = true;
    else if (!args.Has("--quiet")) std::printf("%s: ok\n", f.c_str());
  }
  if (failed) return kExitFailed;
  return io_error ? kExitIo : kExitOk;
}

}  // namespace tollgate::cli
