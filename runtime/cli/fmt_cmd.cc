// `tollgate fmt [--check] FILE...`: canonical formatting, in place.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/parse/format.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"

namespace tollgate::cli {
namespace {

constexpr const char* kFmtUsage =
    "usage: tollgate fmt [--check] [--stdout] FILE|DIR...\n\n"
    "rewrites each policy file (directories: every *.tg below them) in the canonical\n"
    "layout, keeping comments. formatting is idempotent and never changes meaning.\n\n"
    "options:\n"
    "  --check   change nothing; list the files that are not formatted\n"
    "  --stdout  print the formatted text instead of rewriting the file\n\n"
    "exit codes: 0 ok (or all formatted with --check), 1 syntax errors or (with\n"
    "--check) files that would change, 2 usage error, 3 I/O error\n";

}  // namespace

int RunFmt(int argc, char** argv) {
  Args args;
  args.Flag("--check").Flag("--stdout");
  if (int rc = args.Parse(argc, argv, kFmtUsage); rc >= 0) return rc;
  if (args.positional().empty()) return UsageError("no policy files given", kFmtUsage);
  std::vector<std::string> files;
  bool io_error = !CollectPolicyFiles(args.positional(), &files);
  bool failed = false;
  for (const std::string& path : files) {
    SourceFile file{path, {}};
    std::string error;
    if (ReadFile(path, Limits{}.max_source_bytes, &file.text, &error) != ReadStatus::kOk) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      io_error = true;
      continue;
    }
    Diagnostics diags;
    std::optional<std::string> out = parse::Format(file, &diags);
    if (!diags.empty()) std::fputs(diags.Render().c_str(), stderr);
    if (!out) {
      failed = true;
      continue;
    }
    if (args.Has("--stdout")) {
      std::fwrite(out->data(), 1, out->size(), stdout);
      continue;
    }
    if (*out == file.text) continue;
    if (args.Has("--check")) {
      std::printf("%s\n", path.c_str());
      failed = true;
      continue;
    }
    if (!WriteFile(path, *out, &error)) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      io_error = true;
      continue;
    }
    std::fprintf(stderr, "formatted %s\n", path.c_str());
  }
  if (failed) return kExitFailed;
  return io_error ? kExitIo : kExitOk;
}

}  // namespace tollgate::cli
