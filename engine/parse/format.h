// `tollgate fmt`: canonical layout of a policy file.
//
// Works on the token stream (so comments are kept exactly where they were,
// relative to the code) and produces one canonical layout: one declaration
// per paragraph, two-space indentation inside blocks, one clause per line,
// single spaces between tokens except where punctuation binds tightly.
// Format(Format(x)) == Format(x), and parsing the output gives the same AST
// as parsing the input (tests/format_test.cc checks both).
//
// Thread safety: pure function.
#pragma once

#include <optional>
#include <string>

#include "engine/core/source.h"

namespace tollgate::parse {

// Returns the formatted text, or nullopt when parsing reports any error,
// value errors included (they are in *diags; nothing is reformatted then).
std::optional<std::string> Format(const SourceFile& file, Diagnostics* diags);

}  // namespace tollgate::parse
