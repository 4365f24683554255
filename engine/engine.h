// tollgate engine: compile policies, evaluate decision inputs.
//
// ## Writing a policy
//
//   policy "acme"
//   const eu = {"DE", "FR", "NL"}
//   rule eu_residency {
//     when exists(principal.jurisdiction) and principal.jurisdiction in eu
//     require provider.jurisdiction in eu
//   }
//
// A value that may be absent (an optional field, a map lookup) is read
// under a guard (`exists(x) and ...`, `k in m and m[k] ...`) or with a
// default (`x ?? d`, `get(m, k, d)`); the checker refuses anything else
// (tg_unguarded_optional), so absent fields never fail a rule at run time.
//
// docs/language.md is the full reference.
//
// ## Compiling
//
//   tollgate::CompileOptions opts;            // standard schema, default Limits
//   tollgate::Compiled c = tollgate::CompileFile("policies/acme.tg", opts);
//   if (!c.policy) { std::cerr << c.diagnostics.Render(); return 1; }
//
// A policy may be split over several files (legal, security and finance
// each own one): CompileFiles() combines them into ONE program with ONE
// version id.
//
//   tollgate::Compiled c = tollgate::CompileFiles({"legal.tg", "finance.tg"}, opts);
//
// Compiling parses (ANTLR), checks (types, schema, scopes, regexes, absent
// values) and
// compiles to bytecode. It costs milliseconds per thousand rules and is
// never done on the request path. Author mistakes come back as diagnostics
// (file:line:col, stable code, help); `policy` is null when any is an error.
//
// ## Evaluating
//
//   tollgate::vm::Record request;
//   tollgate::runtime::InputError err;
//   if (!tollgate::runtime::DecodeInput(json, c.policy->schema(), {}, &request, &err))
//     return Reply(400, err.code);
//   tollgate::vm::Decision d;
//   tollgate::vm::Evaluate(c.policy->program(), request, {}, &d);
//
// See engine/vm/vm.h (evaluation, requires), runtime/router/router.h (endpoint
// selection) and runtime/decide/decision_json.h (rendering a decision).
//
// ## Errors
// Compile: diagnostics as data. Evaluate: never fails; runtime errors of a
// rule (arithmetic, a builtin, the instruction budget) are recorded in the
// decision and handled by the rule's `on_error`; they never mask a real deny.
// An absent context.time is the evaluating clock's instant
// (runtime::DecodeOptions), recorded in Decision::time for replays.
// No exception crosses this API.
//
// ## Limits
// All in engine/core/limits.h (source size, nesting depth, instruction
// budget, input size and depth), passed through CompileOptions.
//
// ## Thread safety
// A Policy is immutable and shared through shared_ptr<const Policy>; any
// number of threads may evaluate it concurrently without locks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "engine/scan/scanner.h"
#include "engine/vm/program.h"
#include "stdlib/schema.h"

namespace tollgate {

struct CompileOptions {
  Limits limits;
  // Schema to check against; null = the standard schema. Must outlive the
  // compiled Policy. A policy's `schema "ext.json"` header extends it (the
  // compiled Policy then owns the extended copy: use Policy::schema()).
  const stdlib::Schema* schema = nullptr;
  // Engine of the content scan groups (engine/scan/scanner.h): Hyperscan
  // with per-pattern RE2 fallback when the build has it. Decisions are the
  // same with either engine; kRE2 exists for comparisons and benchmarks.
  scan::Engine scan_engine = scan::Engine::kDefault;
};

class Policy {
 public:
  // `owned` (may be null) keeps an extended schema alive; `schema` may point into it.
  Policy(std::unique_ptr<ast::Policy> ast, std::unique_ptr<vm::Program> program,
         const stdlib::Schema* schema, std::shared_ptr<const stdlib::Schema> owned = nullptr);
  ~Policy();

  const std::string& name() const;
  // Content hash of the canonical source (every file of a composed policy),
  // its data documents and its schema extensions, hex.
  const std::string& version_id() const;
  const vm::Program& program() const { return *program_; }
  const ast::Policy& ast() const { return *ast_; }
  const stdlib::Schema& schema() const { return *schema_; }

 private:
  std::unique_ptr<ast::Policy> ast_;
  std::unique_ptr<vm::Program> program_;
  const stdlib::Schema* schema_;
  std::shared_ptr<const stdlib::Schema> owned_schema_;
};

struct Compiled {
  std::shared_ptr<const Policy> policy;  // null when diagnostics has errors
  Diagnostics diagnostics;               // sorted by location
};

// Reads and compiles a policy file; `data` documents are resolved relative
// to its directory. I/O errors are reported as a tg_io_error diagnostic.
Compiled CompileFile(const std::string& path, const CompileOptions& options);
// Compiles source text; `path` is used in diagnostics and as the base for
// `data` documents and `schema` extensions.
Compiled CompileSource(const std::string& path, std::string text, const CompileOptions& options);

// ## Composition
// Several files make one policy: their declarations are combined in the
// canonical order of the files (sorted by path, byte-wise; the same set of
// files always gives the same program and version id, whatever the order
// they were given in). Every file starts with the same `policy "name"`
// header (a different name is tg_composition_error, with a note at the first
// file's header); names of rules, consts, lets, data, budgets, limits,
// fixtures and tests are shared, so a name declared in two files is
// tg_duplicate_name with a note at the other declaration. `data` and
// `schema` paths stay relative to the file that names them; the `schema`
// extensions of all files are merged (a field declared differently by two
// extensions is tg_schema_error). A path given twice is read once.
struct SourceText {
  std::string path;
  std::string text;
};
Compiled CompileSources(std::vector<SourceText> sources, const CompileOptions& options);
// Reads and compiles several files as one policy (I/O errors: tg_io_error).
Compiled CompileFiles(const std::vector<std::string>& paths, const CompileOptions& options);

}  // namespace tollgate
