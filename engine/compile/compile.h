// Stage 3: checked AST -> bytecode Program.
//
// Field paths become slot indices, constants go to a pool, string sets become
// hash sets built once, `and`/`or` become jumps, every `matches`/`contains`
// with a constant pattern on the same field is fused into one scan group
// (run lazily, at most once per evaluation), each `require` becomes its own
// entry point, and rules whose `when` has a top-level equality or `in`-set
// test against a request field are indexed by that field's value so that
// evaluation cost does not grow with the rule count.
//
// Thread safety: reentrant. The returned Program is immutable.
#pragma once

#include <memory>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "engine/scan/scanner.h"
#include "engine/vm/program.h"
#include "stdlib/schema.h"

namespace tollgate::compile {

// `policy` must have passed check::Check without errors. Returns nullptr only
// when a limit is exceeded (diagnostic tg_limit_exceeded) or on an internal
// error (tg_internal_error).
std::unique_ptr<vm::Program> Compile(const ast::Policy& policy, const stdlib::Schema& schema,
                                     const Limits& limits, Diagnostics* diags,
                                     scan::Engine scan_engine = scan::Engine::kDefault);

}  // namespace tollgate::compile
