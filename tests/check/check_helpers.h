// Test helpers for the checker suite: parse source text with the real
// parser and run the checker (all passes, or the passes up to a name).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/check/check.h"
#include "engine/check/passes.h"
#include "engine/core/source.h"

namespace tollgate::checktest {

struct Checked {
  std::unique_ptr<ast::Policy> policy;  // null when the source did not parse
  Diagnostics diags;                    // parse + check diagnostics, sorted
  bool ok = false;                      // Check() returned true
  std::string Render() const { return diags.Render(); }
  // Codes of every diagnostic, in order ("tg_type_error", ...).
  std::vector<std::string> Codes() const;
  // Codes of the error-severity diagnostics only.
  std::vector<std::string> ErrorCodes() const;
};

// Parses `source` (as file "test.tg") and runs check::Check. `base_dir`
// defaults to tests/check/data.
Checked CheckSource(const std::string& source, check::CheckOptions options = {});

// Parses and runs only the passes up to and including `last_pass`.
Checked CheckUntil(const std::string& source, const std::string& last_pass);

// The first expression of a rule's `when` / first effect expression, etc.
const ast::Expr& When(const ast::Policy& p, size_t rule);
const ast::Expr& EffectExpr(const ast::Policy& p, size_t rule, size_t effect = 0);

// Pre-order search for the first node whose source text equals `text`
// (or `(text)`).
const ast::Expr* FindByText(const ast::Expr& root, const std::string& text);

// Whether `text` (a rendering) holds `part`.
bool Has(const std::string& text, const std::string& part);
// How many times `part` occurs in `text` (overlapping occurrences count).
size_t Count(const std::string& text, const std::string& part);
// How many diagnostics of `c` have the code `code`.
size_t Count(const Checked& c, const std::string& code);

}  // namespace tollgate::checktest
