// Stage 1: source text -> AST.
//
// This is the only stage that touches ANTLR: parse.cc is the one translation
// unit that includes generated headers. ANTLR's console listeners are
// removed, its exceptions are caught here, and every syntax error becomes a
// Diagnostic (code tg_parse_error) with file:line:col; parsing goes on after
// an error (up to Limits::max_syntax_errors), so one run reports them all.
//
//   Diagnostics diags;
//   auto policy = parse::Parse(std::make_unique<SourceFile>(SourceFile{path, text}),
//                              Limits{}, &diags);
//   if (diags.HasErrors()) { std::cerr << diags.Render(); }
//
// Limits: Limits::max_source_bytes (tg_limit_exceeded), max_nesting_depth
// (checked while building the AST), max_syntax_errors.
// Thread safety: Parse() is reentrant; no shared state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"

namespace tollgate::parse {

// Returns the AST, or nullptr when the source has syntax errors (all of them
// are in *diags). Never throws.
std::unique_ptr<ast::Policy> Parse(std::unique_ptr<SourceFile> file, const Limits& limits,
                                   Diagnostics* diags);

// A lexical token, for the formatter. Comments are included (kind kComment).
struct Token {
  enum Kind { kWord, kString, kNumber, kPunct, kComment, kError } kind;
  std::string text;
  uint32_t line = 0, col = 0;
  bool newline_before = false;  // a line break precedes it in the source
  bool blank_line_before = false;  // an empty line precedes it in the source
};
// Splits source into tokens with the grammar's lexer. Errors -> diags.
std::vector<Token> Lex(const SourceFile& file, Diagnostics* diags);

}  // namespace tollgate::parse
