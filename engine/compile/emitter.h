// Internal to engine/compile: the expression emitter shared by compile.cc
// (rules, entries, index, version id) and emit_expr.cc (expressions).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/core/source.h"
#include "engine/vm/internal/code.h"
#include "stdlib/schema.h"

namespace tollgate::compile::internal {

using vm::internal::Op;

class Emitter {
 public:
  Emitter(const ast::Policy& policy, const stdlib::Schema& schema, const Limits& limits,
          vm::internal::Code* code, Diagnostics* diags)
      : policy_(policy), schema_(schema), limits_(limits), code_(code), diags_(diags) {}

  // Emits code leaving the value of `e` on the stack. Returns the static
  // instruction bound of what was emitted (loops multiplied by their bound).
  uint64_t Expr(const ast::Expr& e);

  uint32_t pc() const { return static_cast<uint32_t>(code_->code.size()); }
  void Emit(Op op, uint32_t a, uint32_t b, uint32_t line);
  void Patch(uint32_t at, uint32_t target) { code_->code[at].a = target; }

  uint32_t Constant(const Value& v);      // clones v into the program arena (deduplicated scalars)
  uint32_t Name(std::string_view text);  // index into Code::names (deduplicated)
  std::string SourceText(const Span& s) const;

  // Pattern of a `matches` right side or a `redact`: detector id (or -1) and text.
  bool PatternOf(const ast::Expr& e, int* detector, std::string* text);

  // Slots read by the entry being emitted (for RequireInfo).
  std::set<int> request_read, candidate_read;

  // Every quantifier emitted, for the tg_cost_bound help: which loop made a
  // rule expensive and what bounds it.
  struct QuantCost {
    size_t entry = 0;         // index of the entry being emitted (Code::entries.size())
    const ast::Expr* expr = nullptr;
    uint64_t bound = 0;       // elements it may visit
    std::string bound_why;    // "its 5 elements", "Limits::max_messages"
    uint64_t body = 0;        // static cost of one iteration
    uint64_t total = 0;       // static cost of the whole loop
  };
  std::vector<QuantCost> quants;

  // Memo slots (hoist.cc): nodes emitted between MEMO and STMEMO, by slot.
  std::unordered_map<const ast::Expr*, uint32_t> hoisted;

  // Internal error (a tree the checker should not have passed).
  void Fail(const Span& span, const std::string& message);
  bool failed() const { return failed_; }

  // Builds the scanners and MATCH patterns once all code is emitted.
  bool Finish();
  scan::Engine scan_engine = scan::Engine::kDefault;  // of the scan groups' scanners

 private:
  uint64_t Binary(const ast::Expr& e);
  uint64_t Quantifier(const ast::Expr& e);
  // The largest number of elements `list` can have when it is constant or
  // read out of a const or data document (with any key or index); nullopt
  // when it depends on the request.
  std::optional<uint64_t> StaticLength(const ast::Expr& list) const;
  bool PossibleValues(const ast::Expr& e, std::vector<Value>* out) const;
  uint64_t Field(const ast::Expr& e);
  uint64_t Matches(const ast::Expr& e, bool literal);
  uint64_t Folded(const Value& v, uint32_t line);
  // Emits CHKNULL after `e` when its value may be null; returns the cost.
  uint64_t CheckNotNull(const ast::Expr& e);
  bool IsRequestStringField(const ast::Expr& e) const;
  // Fused forms (opcodes.def): the request slot `e` loads with one LOADREQ
  // (-1 when it is anything else); whether Expr(e) is one LOADK; emitting
  // `op` with constant `k` and slot, returning the static cost `cost`.
  int RequestSlot(const ast::Expr& e) const;
  static bool LoadsConstant(const ast::Expr& e);
  uint64_t Fused(Op op, int slot, const Value& k, uint32_t line, uint64_t cost);
  uint32_t ScanPattern(uint32_t slot, int kind, int detector, const std::string& text);
  uint32_t MatchPattern(int detector, const std::string& text);

  const ast::Policy& policy_;
  const stdlib::Schema& schema_;
  const Limits& limits_;
  vm::internal::Code* code_;
  Diagnostics* diags_;
  bool failed_ = false;
  uint32_t depth_ = 0;  // recursion guard
  const ast::Expr* memo_open_ = nullptr;  // the hoisted node being emitted inside its MEMO

  std::map<std::pair<int, std::string>, uint32_t> scalar_consts_;  // (kind, bytes) -> index
  // container object -> index: a const used many times is rendered and cloned once
  std::unordered_map<const void*, uint32_t> container_consts_;
  std::map<int, uint32_t> data_consts_;
  std::map<std::string, uint32_t, std::less<>> names_;
  std::map<std::pair<int, std::string>, uint32_t> match_patterns_;
  std::map<uint32_t, uint32_t> group_of_slot_;
  std::map<std::tuple<uint32_t, int, std::string>, uint32_t> scan_patterns_;
};

// Chooses the memo slots of `policy` (hoist.cc): fills code->memos (text)
// and em->hoisted. Call before emitting any rule.
void ChooseMemos(const ast::Policy& policy, const stdlib::Schema& schema, Emitter* em,
                 vm::internal::Code* code);

}  // namespace tollgate::compile::internal
