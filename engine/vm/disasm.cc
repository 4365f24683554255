// vm::Disassemble and the one-instruction formatter used by debug traces.
// Operands are decoded by the format column of opcodes.def.
#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/vm/internal/code.h"
#include "engine/vm/vm.h"
#include "stdlib/builtins.h"

namespace tollgate::vm {

namespace internal {

namespace {

std::string Short(const Value& v) {
  std::string s = ToDisplay(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

const char* EntryName(EntryKind k) {
  switch (k) {
    case EntryKind::kWhen: return "when";
    case EntryKind::kRequire: return "require";
    case EntryKind::kTag: return "tag";
    case EntryKind::kBudgetKey: return "budget key";
    case EntryKind::kLimitKey: return "limit key";
    case EntryKind::kMessage: return "message";
    case EntryKind::kModeWhen: return "mode when";
    case EntryKind::kBudgetWhen: return "budget when";
    case EntryKind::kBudgetLimit: return "budget limit";
    case EntryKind::kLimitWhen: return "limit when";
    case EntryKind::kLimitMax: return "limit max";
  }
  return "?";
}

}  // namespace

std::string FormatInstr(const Code& c, uint32_t pc) {
  const Instr& in = c.code[pc];
  const OpInfo& info = kOpInfo[static_cast<int>(in.op())];
  char head[64];
  std::snprintf(head, sizeof head, "%04u  [%4u]  %-10s", pc, pc < c.lines.size() ? c.lines[pc] : 0,
                info.name);
  std::string s = head;
  std::string ops, note;
  auto in_range = [](size_t i, size_t n) { return i < n; };
  switch (info.format) {
    case OperandFormat::kNONE: break;
    case OperandFormat::kK:
      ops = std::to_string(in.a);
      if (in_range(in.a, c.constants.size())) note = Short(c.constants[in.a]);
      break;
    case OperandFormat::kREQ:
      ops = std::to_string(in.a);
      if (in_range(in.a, c.request_paths.size())) note = c.request_paths[in.a];
      break;
    case OperandFormat::kCAND:
      ops = std::to_string(in.a);
      if (in_range(in.a, c.candidate_paths.size())) note = c.candidate_paths[in.a];
      break;
    case OperandFormat::kLOC: ops = std::to_string(in.a); break;
    case OperandFormat::kCNT:
      ops = std::to_string(in.a);
      if (in_range(in.a, c.counter_paths.size())) note = c.counter_paths[in.a];
      break;
    case OperandFormat::kPAT:
      ops = std::to_string(in.a);
      if (in_range(in.a, c.patterns.size())) note = c.patterns[in.a].display;
      break;
    case OperandFormat::kSCAN:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.a, c.groups.size()) && in_range(in.b(), c.groups[in.a].patterns.size())) {
        note = c.groups[in.a].path + " ~ " + c.groups[in.a].patterns[in.b()].text;
      }
      break;
    case OperandFormat::kCALL:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.a, stdlib::Builtins().size())) note = std::string(stdlib::Builtins()[in.a].name);
      break;
    case OperandFormat::kMEMBER:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.b(), c.names.size())) note = c.names[in.b()];
      break;
    case OperandFormat::kKEY:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.a, c.constants.size())) note = Short(c.constants[in.a]);
      break;
    case OperandFormat::kN: ops = std::to_string(in.b()); break;
    case OperandFormat::kMAP:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.a, c.constants.size())) note = Short(c.constants[in.a]);
      break;
    case OperandFormat::kJMP: ops = "-> " + std::to_string(in.a); break;
    case OperandFormat::kNEXT: ops = "-> " + std::to_string(in.a) + " L" + std::to_string(in.b()); break;
    case OperandFormat::kREQK:
      ops = std::to_string(in.a) + " " + std::to_string(in.b());
      if (in_range(in.b(), c.request_paths.size())) note = c.request_paths[in.b()];
      if (in_range(in.a, c.constants.size())) note += (note.empty() ? "" : ", ") + Short(c.constants[in.a]);
      break;
    case OperandFormat::kMEMO:
      ops = "M" + std::to_string(in.b());
      if (in.op() == Op::kMEMO) ops += " -> " + std::to_string(in.a);
      if (in_range(in.b(), c.memos.size())) note = c.memos[in.b()].text;
      break;
  }
  s += ops;
  if (!note.empty()) {
    s.append(ops.size() < 10 ? 10 - ops.size() : 1, ' ');
    s += "; " + note;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace internal

std::string Disassemble(const Program& program) {
  using namespace internal;
  const Code& c = program.code();
  std::string o;
  auto line = [&o](const std::string& s) { o += s + "\n"; };
  line("policy \"" + c.name + "\"");
  line("version " + c.version_id + " (bytecode format " + std::to_string(kBytecodeFormatVersion) + ")");
  line(std::to_string(c.rules.size()) + " rules, " + std::to_string(c.code.size()) + " instructions, " +
       std::to_string(c.constants.size()) + " constants, max stack " + std::to_string(c.max_depth) +
       ", locals " + std::to_string(c.max_locals));
  line("");
  line("constants:");
  for (size_t i = 0; i < c.constants.size(); ++i) line("  K" + std::to_string(i) + "  " + Short(c.constants[i]));
  if (!c.patterns.empty()) {
    line("patterns:");
    for (size_t i = 0; i < c.patterns.size(); ++i) {
      const Pattern& p = c.patterns[i];
      line("  P" + std::to_string(i) + "  " + (p.detector >= 0 ? "detector " : "regex ") + p.display);
    }
  }
  if (!c.groups.empty()) {
    line("scan groups:");
    for (size_t g = 0; g < c.groups.size(); ++g) {
      const ScanGroup& sg = c.groups[g];
      // Which engine runs each pattern, when Hyperscan runs any of them (with
      // the RE2 engine everything is RE2 and nothing is added).
      const bool hs = sg.scanner && sg.scanner->hyperscan_patterns() > 0;
      line("  G" + std::to_string(g) + "  " + sg.path + " (" + std::to_string(sg.patterns.size()) +
           " patterns, one scan)" + (hs ? " hyperscan " + std::to_string(sg.scanner->hyperscan_patterns()) +
                                         " of " + std::to_string(sg.patterns.size()) +
                                         (sg.scanner->ascii_database() ? ", byte mode for ASCII texts" : "")
                                   : std::string()));
      static const char* kKinds[] = {"regex", "detector", "literal", "caseless"};
      for (size_t i = 0; i < sg.patterns.size(); ++i) {
        const ScanPattern& p = sg.patterns[i];
        line("    " + std::to_string(i) + "  " + kKinds[p.kind] + " " + p.text +
             (p.confirm ? " (validated)" : "") +
             (hs ? "  [" + sg.scanner->PatternEngine(i) + "]" : std::string()));
      }
    }
  }
  if (!c.memos.empty()) {
    line("memo slots (computed once per evaluation):");
    for (size_t i = 0; i < c.memos.size(); ++i) {
      line("  M" + std::to_string(i) + "  " + c.memos[i].text + "  (" + std::to_string(c.memos[i].uses) +
           " uses, cost " + std::to_string(c.memos[i].cost) + ")");
    }
  }
  line("rule index:");
  auto ids = [&](const std::vector<uint32_t>& v) {
    std::string s;
    for (uint32_t r : v) s += " " + c.rules[r].name;
    return s;
  };
  for (const IndexField& f : c.index) {
    line("  " + f.path + ":");
    std::vector<std::string_view> keys;
    for (const auto& [k, _] : f.by_value) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    for (std::string_view k : keys) line("    \"" + std::string(k) + "\" ->" + ids(f.by_value.at(k)));
    if (!f.on_null.empty()) line("    null ->" + ids(f.on_null));
  }
  line("  always:" + ids(c.unindexed));

  // Entries grouped by owner, in code order.
  auto dump_entry = [&](const Entry& e) {
    std::string head = std::string("  ") + EntryName(e.kind);
    if (e.kind == EntryKind::kRequire) head += " #" + std::to_string(e.index) + ": " + c.require_infos[e.index].text;
    if (e.kind == EntryKind::kTag) head += " " + c.rule_code[e.owner].tags[e.index].key;
    line(head + "  (max stack " + std::to_string(e.max_depth) + ", cost " + std::to_string(e.cost) + ")");
    for (uint32_t pc = e.begin; pc < e.end; ++pc) line("    " + FormatInstr(c, pc));
  };
  size_t ei = 0;  // INVARIANT: entries are emitted rule by rule, in rule order
  for (uint32_t r = 0; r < c.rules.size(); ++r) {
    const RuleInfo& info = c.rules[r];
    const RuleCode& rc = c.rule_code[r];
    line("");
    line("rule " + std::to_string(r) + " " + info.name + " (line " + std::to_string(info.line) + ", mode " +
         ast::ModeName(info.mode) + ", on_error " + (info.on_error == ast::OnError::kDeny ? "deny" : "skip") +
         ", cost bound " + std::to_string(info.cost_bound) + ")");
    if (rc.when == kNoEntry) line("  when: always");
    for (; ei < c.entries.size() && c.entries[ei].owner == r &&
           (c.entries[ei].kind == EntryKind::kWhen || c.entries[ei].kind == EntryKind::kRequire ||
            c.entries[ei].kind == EntryKind::kTag || c.entries[ei].kind == EntryKind::kMessage ||
            c.entries[ei].kind == EntryKind::kModeWhen);
         ++ei) {
      dump_entry(c.entries[ei]);
    }
    if (rc.has_deny) line("  deny " + std::to_string(rc.status) + " \"" + rc.reason + "\"");
    for (uint32_t i : rc.redacts) {
      line("  redact " + c.redactions[i].display + " as \"" + c.redactions[i].replacement + "\"");
    }
    if (rc.has_route) {
      std::string s = "  route sort " + std::string(SortName(rc.sort));
      auto price = [&](const char* n, int64_t v) {
        if (v >= 0) s += std::string(", max_price") + n + " " + std::to_string(v) + " micros";
      };
      price("", rc.max_request_cost);
      price(" prompt", rc.max_prompt);
      price(" completion", rc.max_completion);
      price(" request", rc.max_request);
      if (!rc.order.empty()) {
        s += ", order";
        for (const std::string& p : rc.order) s += " " + p;
      }
      line(s);
    }
    for (const std::string& w : rc.warnings) line("  warn \"" + w + "\"");
  }
  for (const Entry& e : c.entries) {
    if (e.kind == EntryKind::kBudgetKey) {
      const BudgetInfo& b = c.budgets[e.owner];
      line("");
      line("budget " + b.name + " (window " + std::to_string(b.window_ms) + " ms, limit " +
           (b.limit_computed ? std::string("computed") : std::to_string(b.limit_micros) + " micros") +
           (b.per_endpoint ? ", per endpoint)" : ")"));
      dump_entry(e);
    } else if (e.kind == EntryKind::kBudgetWhen || e.kind == EntryKind::kBudgetLimit ||
               e.kind == EntryKind::kLimitWhen || e.kind == EntryKind::kLimitMax) {
      dump_entry(e);
    } else if (e.kind == EntryKind::kLimitKey) {
      const LimitInfo& l = c.limits[e.owner];
      line("");
      line("limit " + l.name + " (window " + std::to_string(l.window_ms) + " ms, max " +
           (l.max_computed ? std::string("computed") : std::to_string(l.max)) + " " + l.unit +
           (l.per_endpoint ? ", per endpoint)" : ")"));
      dump_entry(e);
    }
  }
  return o;
}

}  // namespace tollgate::vm
