// Stage 2: AST -> checked AST.
//
// Check() runs an ordered list of named passes over the AST (see passes.h);
// each pass appends diagnostics and annotates nodes in place, so that the
// compiler can rely on every expression having a type and every name being
// resolved. A policy with any error-severity diagnostic must not be compiled.
//
// Passes (in order): declarations (duplicate names), lets (expand named
// expressions at their uses), data (load and shape-check
// `data` documents), resolve (names, fields, detectors, builtins; did-you-mean),
// types (types of every expression; money vs number), scopes (`when` reads only
// request-scoped fields), regex (RE2 compiles every pattern; linear-time only),
// fold (constant folding), tests (test blocks reference real rules and fields).
//
// Thread safety: reentrant; the Schema is only read.
#pragma once

#include <string>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "stdlib/schema.h"

namespace tollgate::check {

struct CheckOptions {
  const stdlib::Schema* schema = nullptr;  // null = stdlib::Schema::Standard()
  std::string base_dir;                    // where `data ... from "x.json"` is looked up
  Limits limits;
};

// Returns true when no error was reported. Diagnostic codes used:
// tg_duplicate_name, tg_unknown_name, tg_unknown_field, tg_unknown_function,
// tg_type_error, tg_money_mismatch, tg_scope_error, tg_invalid_regex,
// tg_data_error, tg_limit_exceeded, tg_invalid_value, tg_test_error,
// tg_not_constant; warnings (never fail the check): tg_unused_const,
// tg_unused_let, tg_unused_fixture, tg_unreachable, tg_name_never_matches (a
// field compared with a value it never holds: a model id with a variant, a
// base provider slug with a region, a quantization, tier, country code or
// variant in the wrong spelling; stdlib/field_values.h),
// tg_fallback_unchecked (a rule that denies, requires, redacts or caps the
// price by the requested model and ignores the fallback models) and
// tg_test_error for an expected tag no rule sets. (tg_composition_error
// and tg_schema_error come from the engine, which combines files and schema
// extensions before.)
bool Check(ast::Policy* policy, const CheckOptions& options, Diagnostics* diags);

}  // namespace tollgate::check
