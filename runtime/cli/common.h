// Shared plumbing of the `tollgate` commands: flag parsing, file reading,
// schema and policy loading with diagnostics to stderr. Exit codes are those
// of commands.h.
//
//   cli::Args args;
//   args.Flag("--explain").Value("--policy", "FILE").Value("--schema", "FILE");
//   if (int rc = args.Parse(argc, argv, kUsage); rc >= 0) return rc;  // --help, usage error
//   cli::Loaded l;
//   if (int rc = cli::LoadPolicy(args.Get("--policy"), args.Get("--schema"), &l); rc) return rc;
//
// Thread safety: single-threaded CLI helpers.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/read_file.h"
#include "engine/engine.h"
#include "runtime/router/catalog.h"
#include "stdlib/schema.h"

namespace tollgate::cli {

// A tiny declarative flag parser: `--name` switches and `--name VALUE`
// options (also `--name=VALUE`); everything else is positional. `-` alone is
// positional (stdin).
class Args {
 public:
  Args& Flag(std::string name);
  Args& Value(std::string name, std::string metavar);

  // Returns -1 when parsing succeeded; otherwise the exit code to return:
  // kExitOk after printing `usage` to stdout for --help/-h, kExitUsage after
  // printing an error and `usage` to stderr.
  int Parse(int argc, char** argv, const char* usage);

  bool Has(std::string_view name) const;                 // switch given / option given
  const std::string& Get(std::string_view name) const;   // option value (the last; "" when absent)
  // Every value of an option given several times (`--policy a.tg --policy b.tg`), in order.
  const std::vector<std::string>& GetAll(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  struct Spec {
    std::string name;
    bool takes_value;
    std::string value;
    bool seen = false;
    std::vector<std::string> values;
  };
  Spec* Find(std::string_view name);
  const Spec* Find(std::string_view name) const;
  std::vector<Spec> specs_;
  std::vector<std::string> positional_;
};

// Prints "error: <message>" and `usage` to stderr; returns kExitUsage.
int UsageError(const std::string& message, const char* usage);

// Reads a whole file ("-" = stdin), never more than `max_bytes` + 64 KiB
// (engine/core/read_file.h). On failure sets *error ("cannot read `x`: no
// such file or directory", "`x` is larger than the limit of N bytes").
ReadStatus ReadFile(const std::string& path, size_t max_bytes, std::string* out,
                    std::string* error);
// Reads the decision input named by --request (default "-", stdin), capped at
// Limits::max_input_bytes (+ 3 for a byte order mark). Returns 0; or, when the
// input is too large, prints the decoder's `input_too_large` error JSON on
// stdout and returns kExitFailed; or prints the I/O error and returns kExitIo.
int ReadDecisionInput(const Args& args, std::string* out);
// Writes a whole file (atomically via rename). False with *error on failure.
bool WriteFile(const std::string& path, std::string_view text, std::string* error);

// A compiled policy plus the schema it was checked against (kept alive).
struct Loaded {
  std::unique_ptr<stdlib::Schema> extended;  // set when --schema was given
  const stdlib::Schema* schema = nullptr;    // extended or the standard schema
  std::shared_ptr<const Policy> policy;
};

// Loads the standard schema extended by `schema_path` (when not empty).
// Errors go to stderr; returns 0, kExitIo or kExitFailed (bad schema file).
int LoadSchema(const std::string& schema_path, Loaded* out);

// LoadSchema + CompileFile. Every diagnostic goes to stderr (warnings too).
// Returns 0, kExitIo (the file cannot be read) or kExitFailed (errors).
// Afterwards out->schema is the policy's schema (with the extensions its
// `schema` header names).
int LoadPolicy(const std::string& path, const std::string& schema_path, Loaded* out);
// Several files and directories (every *.tg below them) combined into ONE
// policy (engine.h CompileFiles): what `--policy` given more than once, or
// naming a directory, means for every command.
int LoadPolicy(const std::vector<std::string>& paths, const std::string& schema_path, Loaded* out);

// Loads the catalog at `path` for `schema`. Errors go to stderr; returns 0,
// kExitIo (the file cannot be read) or kExitFailed (an invalid catalog).
int LoadCatalog(const std::string& path, const stdlib::Schema& schema, runtime::Catalog* out);

// Expands files and directories (recursively, *.tg only, sorted) into files.
// A path that does not exist, or a directory without *.tg files, is reported
// on stderr and makes it return false (the commands exit with kExitIo).
bool CollectPolicyFiles(const std::vector<std::string>& paths, std::vector<std::string>* files);

// `v` as a JSON string literal, every control character and DEL escaped: how
// the text tables show a caller-supplied value that must not split its row
// or forge another one (a line break in a workspace or user name).
std::string JsonQuoted(std::string_view v);

}  // namespace tollgate::cli
