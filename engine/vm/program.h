// The compiled, immutable form of a policy. See opcodes.def for the
// instruction set and `tollgate disasm` (vm::Disassemble) for a listing.
//
// What a Program holds (engine/vm/internal/code.h has the layout):
//   - one code vector of 8-byte stack-machine instructions, cut into entry
//     points: each rule's `when`, each `require` (evaluated per candidate),
//     each `tag` value and each budget/limit key;
//   - a constant pool (values cloned into the Program's own arena; string
//     sets keep their hash index) and the frozen data documents;
//   - scan groups: every constant `matches`/`contains` on one request string
//     field, compiled into one multi-pattern scanner run at most once per
//     evaluation;
//   - the rule index: rules whose `when` starts with `field == "c"` or
//     `field in {...}` on a request string field, keyed by value;
//   - static effect data (deny status/reason, redactions, route hints,
//     warnings) and RuleInfo/RequireInfo/BudgetInfo/LimitInfo below.
//
// The RuleInfo..LimitInfo members are the contract other stages rely on and
// keep their meaning. The bytecode format is versioned by
// kBytecodeFormatVersion, which is part of the version id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/value.h"

namespace tollgate::vm {

inline constexpr uint32_t kBytecodeFormatVersion = 2;

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
  int64_t limit_micros;        // money; 0 when computed per request (limit_computed)
  bool limit_computed = false; // the limit is an expression over the request (vm::EvalDeclaration)
  bool has_when = false;       // applies only when its `when` holds
  bool per_endpoint = false;   // its `when` or key reads endpoint/provider fields: planned
                               // per route endpoint (runtime::PlanEndpointBudgets)
};

struct LimitInfo {
  std::string name;
  ast::Window window;
  int64_t window_ms;
  int64_t max;                 // 0 when computed per request (max_computed)
  std::string unit;            // "requests" | "tokens"
  bool max_computed = false;
  bool has_when = false;
  bool per_endpoint = false;   // as BudgetInfo::per_endpoint
};

// One `redact` effect, with what runtime needs to build a stdlib Redactor.
struct RedactInfo {
  uint32_t rule = 0;
  uint32_t effect = 0;         // index among the rule's redact effects
  int detector = -1;           // stdlib detector id, or -1 for a plain regex
  std::string display;         // "dlp.credit_card" or the regex as written
  std::string regex;           // RE2 pattern (the detector's regex for detectors)
  std::string replacement;
};

// Which key expression EvalKey evaluates.
enum class KeyKind : uint8_t { kBudget, kLimit };

namespace internal {
struct Code;  // engine/vm/internal/code.h: bytecode, pools, scan groups, index
}

// The compiled policy. Built by compile::Compile (the only producer); read by
// vm::Evaluate, vm::EvalRequire, vm::EvalKey and vm::Disassemble.
//
// Thread safety: immutable after construction; share it between any number
// of threads. Cost: accessors are O(1) except FindRule (O(rules)).
class Program {
 public:
  explicit Program(std::unique_ptr<internal::Code> code);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const std::string& name() const;
  // "sha256:" + hex SHA-256 over kBytecodeFormatVersion, ast::Dump(policy) and
  // every data document's name and canonical JSON.
  const std::string& version_id() const;

  const std::vector<RuleInfo>& rules() const;
  // Every require predicate (entry point), numbered over all rules in source
  // order. (Not `requires()`: that is a C++20 keyword.)
  const std::vector<RequireInfo>& require_infos() const;
  const std::vector<BudgetInfo>& budgets() const;
  const std::vector<LimitInfo>& limits() const;
  const std::vector<RedactInfo>& redactions() const;  // every redact effect, in rule order
  // Rule id by name, or -1.
  int FindRule(std::string_view name) const;
  // Ids of a rule's require predicates (Program require indices), in order.
  const std::vector<uint32_t>& RuleRequires(uint32_t rule) const;
  // Indices into redactions() of a rule's redact effects.
  const std::vector<uint32_t>& RuleRedactions(uint32_t rule) const;
  // Total instructions and constants, for `tollgate disasm` summaries.
  size_t instruction_count() const;

  // For the compile and VM stages only.
  const internal::Code& code() const { return *code_; }

 private:
  std::unique_ptr<internal::Code> code_;
};

}  // namespace tollgate::vm
