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
// Limits: Limits::max_source_bytes (tg_limit_exceeded); max_nesting_depth:
// ( [ { nesting, open quantifiers, runs of unary `not`/`-` and `name<`
// generics are counted on the tokens before the parser runs, and the AST is
// capped at 4 x max_nesting_depth levels (long operator chains); both are
// tg_limit_exceeded. max_syntax_errors caps the report (then a note).
// Invalid UTF-8 is a tg_parse_error. Literal and option mistakes are
// tg_invalid_value, tg_unknown_type, tg_type_error, tg_duplicate_name (they
// do not stop the parse; see Parse()).
// Cost: linear in the source for valid files (~0.5 s CPU for 10,000 rules).
// Thread safety: Parse() is reentrant (ANTLR's shared DFA cache is locked
// inside the runtime).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"

namespace tollgate::parse {

// Returns the AST whenever the source is syntactically well-formed, even when
// it reported value errors (tg_invalid_value: bad escape, out-of-range
// number or status, unknown window word; tg_unknown_type; tg_duplicate_name):
// the offending node then holds a safe placeholder so that the checker can
// run and report the file's other errors. Callers must not compile an AST
// when diags->HasErrors(). Returns nullptr on syntax or lexical errors
// (tg_parse_error) and exceeded limits (tg_limit_exceeded); the file then
// lives on in *diags (Diagnostics::KeepAlive) so their spans stay valid.
// Never throws.
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
