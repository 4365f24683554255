// The bytecode verifier: run by compile::Compile on every program it builds.
// Abstract interpretation of stack depths over each entry point's code.
#include <string>
#include <vector>

#include "engine/vm/internal/code.h"
#include "stdlib/builtins.h"

namespace tollgate::vm::internal {

namespace {

bool OperandsValid(const Code& c, const Entry& e, uint32_t pc, std::string* error) {
  const Instr& in = c.code[pc];
  const OpInfo& info = kOpInfo[static_cast<int>(in.op())];
  auto bad = [&](const char* what) {
    *error = std::string(what) + " out of range at " + std::to_string(pc) + " (" + info.name + ")";
    return false;
  };
  switch (info.format) {
    case OperandFormat::kNONE: return true;
    case OperandFormat::kK: return in.a < c.constants.size() || bad("constant");
    case OperandFormat::kREQ: return in.a < c.request_paths.size() || bad("request slot");
    case OperandFormat::kCAND:
      // A require, or a budget's/limit's `when` or key (planned per endpoint).
      if (e.kind != EntryKind::kRequire && e.kind != EntryKind::kBudgetWhen &&
          e.kind != EntryKind::kBudgetKey && e.kind != EntryKind::kLimitWhen &&
          e.kind != EntryKind::kLimitKey)
        return bad("candidate slot outside a require or a budget's or limit's when or key");
      return in.a < c.candidate_paths.size() || bad("candidate slot");
    case OperandFormat::kLOC: return in.a < c.max_locals || bad("local");
    case OperandFormat::kCNT: return in.a < c.counter_paths.size() || bad("counter slot");
    case OperandFormat::kPAT: return in.a < c.patterns.size() || bad("pattern");
    case OperandFormat::kSCAN:
      return (in.a < c.groups.size() && in.b() < c.groups[in.a].patterns.size()) || bad("scan pattern");
    case OperandFormat::kCALL:
      return in.a < stdlib::Builtins().size() || bad("builtin");
    case OperandFormat::kMEMBER: return in.b() < c.names.size() || bad("name");
    case OperandFormat::kKEY:
      return (in.a < c.constants.size() && c.constants[in.a].kind == Kind::kString &&
              in.b() < c.names.size()) || bad("key");
    case OperandFormat::kN: return true;
    case OperandFormat::kMAP:
      return (in.a < c.constants.size() && c.constants[in.a].kind == Kind::kList &&
              c.constants[in.a].list->items.size() == in.b()) || bad("map keys");
    case OperandFormat::kJMP:
      return (in.a >= e.begin && in.a < e.end) || bad("jump target");
    case OperandFormat::kNEXT:
      return (in.a >= e.begin && in.a < e.end && in.b() < c.max_locals) || bad("loop operand");
    case OperandFormat::kREQK:
      return (in.a < c.constants.size() && in.b() < c.request_paths.size()) || bad("constant or request slot");
    case OperandFormat::kMEMO:
      if (in.b() >= c.memos.size()) return bad("memo slot");
      if (in.op() == Op::kSTMEMO) return true;
      // MEMO jumps just past its STMEMO, and the code between them costs
      // what a hit charges (straight-line: no jump, call or loop inside).
      if (!(in.a > pc + 1 && in.a <= e.end && in.a < c.code.size() + 1 &&
            c.code[in.a - 1].op() == Op::kSTMEMO && c.code[in.a - 1].b() == in.b())) {
        return bad("memo jump target");
      }
      {
        // Only pure lookups, one budget unit each.
        uint32_t cost = 0;
        for (uint32_t i = pc + 1; i + 1 < in.a; ++i) {
          switch (c.code[i].op()) {
            case Op::kMEMO: case Op::kSTMEMO: continue;
            case Op::kLOADK: case Op::kLOADREQ: case Op::kMEMBER: case Op::kKEY: case Op::kINDEX:
            case Op::kCHKNULL:
              ++cost;
              break;
            default: return bad("memo code");
          }
        }
        if (cost != c.memos[in.b()].cost) return bad("memo cost");
      }
      return true;
  }
  return bad("format");
}

bool VerifyEntry(const Code& c, Entry* e, uint32_t max_stack, std::string* error) {
  if (e->begin >= e->end || e->end > c.code.size()) {
    *error = "empty entry point";
    return false;
  }
  std::vector<int> depth(e->end - e->begin, -1);
  std::vector<uint32_t> work{e->begin};
  depth[0] = 0;
  uint32_t max_depth = 0;
  auto flow = [&](uint32_t to, int d) {
    if (to < e->begin || to >= e->end) {
      *error = "control flows out of its entry point at " + std::to_string(to);
      return false;
    }
    int& slot = depth[to - e->begin];
    if (slot == -1) {
      slot = d;
      work.push_back(to);
    } else if (slot != d) {
      *error = "inconsistent stack depth at " + std::to_string(to);
      return false;
    }
    return true;
  };
  while (!work.empty()) {
    uint32_t pc = work.back();
    work.pop_back();
    if (pc >= c.code.size() || pc >= c.lines.size()) {
      *error = "pc out of range";
      return false;
    }
    if (static_cast<int>(c.code[pc].op()) >= static_cast<int>(Op::kCount)) {
      *error = "unknown opcode at " + std::to_string(pc);
      return false;
    }
    if (!OperandsValid(c, *e, pc, error)) return false;
    const Instr& in = c.code[pc];
    const OpInfo& info = kOpInfo[static_cast<int>(in.op())];
    int d = depth[pc - e->begin];
    int pop = info.pop < 0 ? static_cast<int>(in.b()) : info.pop;
    int need = std::max(pop, -static_cast<int>(info.jump_delta));
    if (d < need) {
      *error = "stack underflow at " + std::to_string(pc) + " (" + info.name + ")";
      return false;
    }
    int after = d - pop + info.push;
    uint32_t peak = static_cast<uint32_t>(std::max(d, after));
    if (peak > max_depth) max_depth = peak;
    switch (info.control) {
      case Control::kSEQ:
        if (!flow(pc + 1, after)) return false;
        break;
      case Control::kCOND:
        if (!flow(pc + 1, after) || !flow(in.a, d + info.jump_delta)) return false;
        break;
      case Control::kGOTO:
        if (!flow(in.a, d + info.jump_delta)) return false;
        break;
      case Control::kRET:
        if (d != 1) {
          *error = "entry point returns with stack depth " + std::to_string(d);
          return false;
        }
        break;
    }
  }
  if (max_depth > max_stack) {
    *error = "stack depth " + std::to_string(max_depth) + " exceeds the limit of " +
             std::to_string(max_stack);
    return false;
  }
  e->max_depth = max_depth;
  return true;
}

}  // namespace

bool Verify(Code* code, uint32_t max_stack, std::string* error) {
  if (code->code.size() != code->lines.size()) {
    *error = "line table size mismatch";
    return false;
  }
  code->max_depth = 1;
  for (Entry& e : code->entries) {
    if (!VerifyEntry(*code, &e, max_stack, error)) return false;
    code->max_depth = std::max(code->max_depth, e.max_depth);
  }
  return true;
}

}  // namespace tollgate::vm::internal
