// The compiled, immutable form of a policy. See opcodes.def for the
// instruction set.
//
// OWNER NOTE: the compile/VM stage completes this header. The members listed
// here are the contract other stages rely on and must keep their meaning.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/value.h"

namespace tollgate::vm {

inline constexpr uint32_t kBytecodeFormatVersion = 1;

struct RuleInfo {
  std::string name;
  ast::Mode mode = ast::Mode::kEnforce;
  ast::OnError on_error = ast::OnError::kDeny;
  uint32_t line = 0;           // source line of the rule
  uint64_t cost_bound = 0;     // static upper bound of instructions for this rule
};

struct RequireInfo {
  uint32_t rule = 0;
  std::string text;            // the predicate's source text, for explanations
  std::vector<int> candidate_slots;  // candidate fields it reads
  std::vector<int> request_slots;    // request fields it reads
};

struct BudgetInfo {
  std::string name;
  ast::Window window;
  int64_t window_ms;           // resolved length (month = 30 days for custom math; calendar for kMonth)
  int64_t limit_micros;        // money
};

struct LimitInfo {
  std::string name;
  ast::Window window;
  int64_t window_ms;
  int64_t max;
  std::string unit;            // "requests" | "tokens"
};

class Program;  // defined by the compile/VM stage below this line

}  // namespace tollgate::vm
