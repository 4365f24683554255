// tollgate: the command-line entry point. See docs/cli.md.
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>

#include "engine/vm/program.h"
#include "runtime/cli/commands.h"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "unknown"
#endif

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"check", tollgate::cli::RunCheck, "check policy files and print diagnostics"},
    {"eval", tollgate::cli::RunEval, "evaluate decision inputs against a policy"},
    {"route", tollgate::cli::RunRoute, "evaluate and pick endpoints from a model catalog"},
    {"test", tollgate::cli::RunTest, "run the test blocks of policy files"},
    {"fmt", tollgate::cli::RunFmt, "format policy files canonically"},
    {"disasm", tollgate::cli::RunDisasm, "print the compiled bytecode of a policy"},
    {"replay", tollgate::cli::RunReplay, "re-evaluate recorded decisions (determinism, impact)"},
    {"audit", tollgate::cli::RunAudit, "verify, show and export the decision log"},
    {"store", tollgate::cli::RunStore, "list and show the stored policy versions"},
    {"spend", tollgate::cli::RunSpend, "print budget spend and rate-limit use from a ledger"},
    {"serve", tollgate::cli::RunServe, "run the OpenAI-compatible HTTP gateway"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: tollgate <command> [options]\n\n"
               "tollgate compiles policy files and applies them to AI model requests.\n\n"
               "commands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nrun `tollgate <command> --help` for a command's options, `tollgate --version`\n"
               "for the version.\n"
               "exit codes: 0 ok, 1 policy errors or failed tests, 2 usage error, 3 I/O error\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return tollgate::cli::kExitUsage;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return tollgate::cli::kExitOk;
  }
  if (cmd == "--version") {
    // The bytecode format is part of every policy version id (program.h).
    std::printf("tollgate %s (bytecode format %u)\n", TOLLGATE_VERSION,
                static_cast<unsigned>(tollgate::vm::kBytecodeFormatVersion));
    return tollgate::cli::kExitOk;
  }
  for (const Command& c : kCommands) {
    if (cmd != c.name) continue;
    // The library reports running out of memory as data (a rule error, a
    // route_error, an input or compile error); what is left is the CLI's own
    // output. It exits like an I/O error, never with an uncaught exception.
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::bad_alloc&) {
      std::fputs("error: out of memory\n", stderr);
      return tollgate::cli::kExitIo;
    }
  }
  std::fprintf(stderr, "error: unknown command `%s`\n", argv[1]);
  PrintUsage(stderr);
  return tollgate::cli::kExitUsage;
}
