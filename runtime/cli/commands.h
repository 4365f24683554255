// The `tollgate` commands. Each lives in its own <name>_cmd.cc and takes the
// arguments after the command name. Exit codes (docs/cli.md):
//   0 success / clean / all tests passed / decision made
//   1 the policy has errors, a test failed, or `fmt --check` found changes
//   2 usage error (unknown flag, missing argument)
//   3 I/O error (file not found, unreadable input)
#pragma once

namespace tollgate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitIo = 3;

int RunCheck(int argc, char** argv);   // check_cmd.cc
int RunEval(int argc, char** argv);    // eval_cmd.cc
int RunDisasm(int argc, char** argv);  // disasm_cmd.cc
int RunFmt(int argc, char** argv);     // fmt_cmd.cc
int RunTest(int argc, char** argv);    // test_cmd.cc
int RunRoute(int argc, char** argv);   // route_cmd.cc
int RunReplay(int argc, char** argv);  // audit_cmd.cc
int RunAudit(int argc, char** argv);   // audit_cmd.cc
int RunStore(int argc, char** argv);   // audit_cmd.cc
int RunSpend(int argc, char** argv);   // spend_cmd.cc
int RunServe(int argc, char** argv);   // serve_cmd.cc

}  // namespace tollgate::cli
