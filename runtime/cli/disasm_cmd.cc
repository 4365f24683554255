// `tollgate disasm FILE`: print the compiled bytecode of a policy.
#include <cstdio>
#include <string>

#include "engine/vm/vm.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"

namespace tollgate::cli {
namespace {

constexpr const char* kDisasmUsage =
    "usage: tollgate disasm [--schema FILE] FILE|DIR...\n"
    "       tollgate disasm [--schema FILE] --policy FILE|DIR [--policy ...]\n\n"
    "compiles the policy and prints its bytecode: constants, scan groups, the rule\n"
    "index, then each rule's entry points with their source lines. several files\n"
    "(or a directory) are combined into one policy.\n\n"
    "options:\n"
    "  --schema FILE  extend the standard decision-input schema with FILE\n\n"
    "exit codes: 0 ok, 1 the policy has errors, 2 usage error, 3 I/O error\n";

}  // namespace

int RunDisasm(int argc, char** argv) {
  Args args;
  args.Value("--schema", "FILE").Value("--policy", "FILE");
  if (int rc = args.Parse(argc, argv, kDisasmUsage); rc >= 0) return rc;
  std::vector<std::string> paths = args.GetAll("--policy");
  paths.insert(paths.end(), args.positional().begin(), args.positional().end());
  if (paths.empty()) return UsageError("no policy file given", kDisasmUsage);
  Loaded l;
  if (int rc = LoadPolicy(paths, args.Get("--schema"), &l); rc != kExitOk) return rc;
  std::string text = vm::Disassemble(l.policy->program());
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace tollgate::cli
