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
// See engine/vm/vm.h (evaluation, requires), runtime/router.h (endpoint
// selection) and runtime/decision_json.h (rendering a decision).
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

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "engine/vm/program.h"
#include "stdlib/schema.h"

namespace tollgate {

struct CompileOptions {
  Limits limits;
  // Schema to check against; null = the standard schema. Must outlive the
  // compiled Policy.
  const stdlib::Schema* schema = nullptr;
};

class Policy {
 public:
  Policy(std::unique_ptr<ast::Policy> ast, std::unique_ptr<vm::Program> program,
         const stdlib::Schema* schema);
  ~Policy();

  const std::string& name() const;
  // Content hash of the canonical source and its data documents, hex.
  const std::string& version_id() const;
  const vm::Program& program() const { return *program_; }
  const ast::Policy& ast() const { return *ast_; }
  const stdlib::Schema& schema() const { return *schema_; }

 private:
  std::unique_ptr<ast::Policy> ast_;
  std::unique_ptr<vm::Program> program_;
  const stdlib::Schema* schema_;
};

struct Compiled {
  std::shared_ptr<const Policy> policy;  // null when diagnostics has errors
  Diagnostics diagnostics;               // sorted by location
};

// Reads and compiles a policy file; `data` documents are resolved relative
// to its directory. I/O errors are reported as a tg_io_error diagnostic.
Compiled CompileFile(const std::string& path, const CompileOptions& options);
// Compiles source text; `path` is used in diagnostics and as the base for
// `data` documents.
Compiled CompileSource(const std::string& path, std::string text, const CompileOptions& options);

}  // namespace tollgate
