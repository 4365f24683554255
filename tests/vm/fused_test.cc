// Fused instructions (opcodes.def, "fused forms"): each against the
// instructions it replaces, on hand-built bytecode, for every operand kind,
// absent fields, every small budget and with and without a trace. Results,
// errors and their messages, the `missing field` name, the budget left and
// the fields a trace records must all be the same.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/vm/internal/code.h"
#include "engine/vm/internal/interp.h"
#include "engine/vm/record.h"

namespace tollgate::vmtest {
namespace {

using vm::internal::Code;
using vm::internal::Entry;
using vm::internal::Frame;
using vm::internal::Instr;
using vm::internal::Op;

// Request slots: absent, "x", 7, {"x"}, "z", 2.5; constants: 5, "x",
// {"x", "y"}, 7, {"x": 1}.
std::unique_ptr<Code> Program(std::vector<Instr> code) {
  auto c = std::make_unique<Code>();
  c->code = std::move(code);
  c->code.push_back(Instr::Make(Op::kRET));
  c->lines.assign(c->code.size(), 1);
  c->constants = {Value::Int(5), c->arena.String("x"),
                  c->arena.MakeSet({c->arena.String("x"), c->arena.String("y")}), Value::Int(7),
                  c->arena.MakeMap({{"x", Value::Int(1)}})};
  c->request_paths = {"r.absent", "r.str", "r.int", "r.set", "r.other", "r.dec"};
  c->request_types.resize(c->request_paths.size());
  Entry e;
  e.end = static_cast<uint32_t>(c->code.size());
  c->entries.push_back(e);
  std::string err;
  EXPECT_TRUE(vm::internal::Verify(c.get(), 16, &err)) << err;
  return c;
}

struct Outcome {
  bool ok;
  std::string value, code, message, null_what, trace;
  uint64_t budget;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << (o.ok ? "ok " : "error ") << o.value << " " << o.code << " `" << o.message << "` null_what `"
            << o.null_what << "` budget " << o.budget << " trace " << o.trace;
}

Outcome RunOnce(const Code& c, uint64_t budget, bool trace) {
  static vm::Record req;
  if (req.slots.empty()) {
    req.slots = {Value(), req.arena.String("x"), Value::Int(7), req.arena.MakeSet({req.arena.String("x")}),
                 req.arena.String("z"), Value::Decimal(2500000)};
  }
  vm::internal::Scratch s;
  vm::internal::BeginEvaluation(c, &s);
  vm::TraceEntry entry;
  Frame f;
  f.code = &c;
  f.req = req.slots.data();
  f.nreq = static_cast<uint32_t>(req.slots.size());
  f.s = &s;
  vm::Decision d;
  f.arena = &d.arena;
  f.budget = budget;
  if (trace) f.trace = &entry;
  Value v;
  Outcome o;
  o.ok = vm::internal::Run(&f, 0, &v);
  o.value = o.ok ? std::to_string(static_cast<int>(v.kind)) + ":" + ToJson(v) : "";
  o.code = std::string(f.err_code);
  o.message = f.err_msg;
  o.null_what = std::string(f.null_what);
  o.budget = f.budget;
  for (const auto& [path, json] : entry.values) o.trace += std::string(path) + "=" + json + ";";
  return o;
}

struct Case {
  const char* name;
  // Orderings compare only numbers (the checker's rule); between other
  // kinds Cmp compares payload words, which for a pooled string or
  // container are addresses in each program's own arena -- so those only
  // with numeric constants.
  bool numeric_constants_only;
  std::vector<Instr> (*fused)(uint32_t k, uint32_t slot);
  std::vector<Instr> (*plain)(uint32_t k, uint32_t slot);
};

const Case kCases[] = {
    {"EQREQK", false, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kEQREQK, k, r)}; },
     [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kEQK, k)}; }},
    {"NEREQK", false, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kNEREQK, k, r)}; },
     [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kNEK, k)}; }},
    {"INREQK", false, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kINREQK, k, r)}; },
     [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kINK, k)}; }},
    {"HASREQK", false, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kHASREQK, k, r)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLOADK, k), Instr::Make(Op::kHAS)};
     }},
    {"REQORK", false, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kREQORK, k, r)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kJNNK, 3), Instr::Make(Op::kLOADK, k)};
     }},
    {"GTK", true, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kGTK, k)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLOADK, k), Instr::Make(Op::kGT)};
     }},
    {"GEK", true, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kGEK, k)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLOADK, k), Instr::Make(Op::kGE)};
     }},
    {"LTK", true, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLTK, k)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLOADK, k), Instr::Make(Op::kLT)};
     }},
    {"LEK", true, [](uint32_t k, uint32_t r) { return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLEK, k)}; },
     [](uint32_t k, uint32_t r) {
       return std::vector<Instr>{Instr::Make(Op::kLOADREQ, r), Instr::Make(Op::kLOADK, k), Instr::Make(Op::kLE)};
     }},
};

TEST(Fused, BehaveAsTheInstructionsTheyReplace) {
  int compared = 0;
  for (const Case& cs : kCases) {
    for (uint32_t k = 0; k < 5; ++k) {
      if (cs.numeric_constants_only && k != 0 && k != 3) continue;
      for (uint32_t slot = 0; slot < 6; ++slot) {
        auto fused = Program(cs.fused(k, slot));
        auto plain = Program(cs.plain(k, slot));
        for (uint64_t budget = 0; budget <= 5; ++budget) {
          for (bool trace : {false, true}) {
            SCOPED_TRACE(std::string(cs.name) + " K" + std::to_string(k) + " slot " + std::to_string(slot) +
                         " budget " + std::to_string(budget) + (trace ? " traced" : ""));
            EXPECT_EQ(RunOnce(*fused, budget, trace), RunOnce(*plain, budget, trace));
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, (5 * 5 + 4 * 2) * 6 * 6 * 2);
}

// The compiler emits them where the shapes occur, with the static costs of
// the instructions they replace.
TEST(Fused, DisassemblyAndCost) {
  auto c = Program({Instr::Make(Op::kEQREQK, 1, 4)});
  EXPECT_EQ(vm::internal::FormatInstr(*c, 0), "0000  [   1]  EQREQK    1 4       ; r.other, \"x\"");
  std::string err;
  auto bad = Program({Instr::Make(Op::kEQREQK, 1, 4)});
  bad->code[0] = Instr::Make(Op::kEQREQK, 1, 9);
  EXPECT_FALSE(vm::internal::Verify(bad.get(), 16, &err));
  EXPECT_NE(err.find("request slot"), std::string::npos) << err;
}

}  // namespace
}  // namespace tollgate::vmtest
