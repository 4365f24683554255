// Memo slots (engine/compile/hoist.cc, MEMO/STMEMO): a pure lookup shared by
// several rules is computed once per evaluation, and every decision is the
// one the program gives without memos -- fired, shadow and advisory rules,
// tags, warnings, errors with their messages, and the instruction count.
// The baseline is the same program evaluated with a trace (which turns every
// memo hit into a computation), and policies with one rule each.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/vm/internal/code.h"
#include "engine/vm/vm.h"
#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

namespace fs = std::filesystem;

const char* kData = R"({"acme": {"tier": "gold", "daily": 10, "blocked": ["x"]},
                        "beta": {"tier": "free", "blocked": []}})";

// The rules below, each reading `workspaces[principal.workspace]` (several
// through `.tier`): enforced, shadow, advisory, tag, message, on_error skip.
const char* kRules[] = {
    "rule gold { when exists(workspaces[principal.workspace]) and workspaces[principal.workspace].tier == \"gold\" deny 403 \"gold\" }",
    "rule big mode shadow { when exists(workspaces[principal.workspace]) and (workspaces[principal.workspace].daily ?? 0) > 5 deny 403 \"big\" }",
    "rule free mode advisory { when exists(workspaces[principal.workspace]) and workspaces[principal.workspace].tier == \"free\" warn \"free tier\" }",
    "rule tier { when exists(workspaces[principal.workspace]) tag tier = workspaces[principal.workspace].tier }",
    "rule named { when exists(workspaces[principal.workspace]) warn \"tier {workspaces[principal.workspace].tier}\" }",
    "rule lenient on_error skip { when not exists(workspaces[principal.workspace]) deny 401 \"unknown workspace\" }",
};

// Compiles `rules` with the data document, against AllPresentSchema() (so
// that an absent principal.workspace reaches the VM and errors there).
std::shared_ptr<const Policy> Build(const std::vector<std::string>& rules) {
  static int n = 0;
  fs::path dir = fs::temp_directory_path() / ("tg_memo_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  fs::create_directories(dir);
  std::ofstream(dir / "ws.json") << kData;
  std::string src =
      "policy \"memo\"\n"
      "data workspaces from \"ws.json\": map<{tier: string, daily?: int, blocked: set<string>}>\n";
  for (const std::string& r : rules) src += r + "\n";
  std::ofstream(dir / "p.tg") << src;
  CompileOptions o;
  o.schema = &AllPresentSchema();
  Compiled c = CompileFile((dir / "p.tg").string(), o);
  fs::remove_all(dir);
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  return c.policy;
}

std::unique_ptr<vm::Decision> Decide(const Policy& p, const vm::Record& req, bool trace,
                                     uint64_t budget = Limits{}.instruction_budget) {
  vm::EvalOptions o;
  o.trace = trace;
  o.instruction_budget = budget;
  auto d = std::make_unique<vm::Decision>();
  vm::Evaluate(p.program(), req, o, d.get());
  return d;
}

// Everything a decision says except the trace.
std::string Render(const Policy& p, const vm::Decision& d) {
  std::string s = std::string(d.outcome == vm::Outcome::kDeny ? "deny " : "allow ") + std::to_string(d.status) +
                  " " + std::string(d.code) + " `" + d.reason + "` rule " + std::to_string(d.deny_rule) + "\n";
  auto names = [&](const char* what, const std::vector<uint32_t>& v) {
    s += what;
    for (const std::string& n : Names(p, v)) s += " " + n;
    s += "\n";
  };
  names("fired", d.fired);
  names("shadow", d.shadow);
  names("advisory", d.advisory);
  for (const auto& t : d.tags) s += "tag " + std::to_string(t.rule) + " " + std::string(t.key) + "=" + ToJson(t.value) + "\n";
  for (const auto& w : d.warnings) s += "warning " + std::to_string(w.rule) + " " + std::string(w.message) + "\n";
  for (const auto& e : d.errors) s += "error " + std::to_string(e.rule) + " " + std::string(e.code) + " " + e.message + "\n";
  s += "instructions " + std::to_string(d.instructions) + "\n";
  return s;
}

std::unique_ptr<vm::Record> Workspace(const char* ws) {
  Builder b = Request();
  if (ws == nullptr) {
    b.Raw("principal.workspace", Value());  // absent: every lookup of it errors
  } else {
    b.Str("principal.workspace", ws);
  }
  return b.Take();
}

TEST(Memo, DisassemblyShowsTheSharedSlots) {
  std::vector<std::string> rules(std::begin(kRules), std::end(kRules));
  auto p = Build(rules);
  ASSERT_TRUE(p);
  std::string listing = vm::Disassemble(p->program());
  EXPECT_NE(listing.find("memo slots (computed once per evaluation):\n"
                         "  M0  workspaces[principal.workspace]  (7 uses, cost 3)\n"
                         "  M1  workspaces[principal.workspace].tier  (4 uses, cost 4)\n"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("MEMO      M0 -> 5   ; workspaces[principal.workspace]"), std::string::npos) << listing;
  EXPECT_NE(listing.find("STMEMO    M1        ; workspaces[principal.workspace].tier"), std::string::npos) << listing;
  // One use: no slot. Two in one rule (`gold`): a slot for that rule.
  auto lenient = Build({kRules[5]});
  ASSERT_TRUE(lenient);
  EXPECT_EQ(vm::Disassemble(lenient->program()).find("MEMO"), std::string::npos);
  auto gold = Build({kRules[0]});
  ASSERT_TRUE(gold);
  EXPECT_NE(vm::Disassemble(gold->program()).find("  M0  workspaces[principal.workspace]  (2 uses, cost 3)\n"),
            std::string::npos);
  // Costs and bounds count the lookup's own instructions, not MEMO/STMEMO.
  EXPECT_EQ(p->program().rules()[0].cost_bound, 11u);
  EXPECT_EQ(gold->program().rules()[0].cost_bound, 11u);
}

TEST(Memo, DecisionsEqualThoseWithoutMemos) {
  std::vector<std::string> rules(std::begin(kRules), std::end(kRules));
  auto p = Build(rules);
  ASSERT_TRUE(p);
  for (const char* ws : {"acme", "beta", "globex", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(ws == nullptr ? "absent" : ws);
    auto req = Workspace(ws);
    auto with = Decide(*p, *req, false);
    auto without = Decide(*p, *req, true);
    EXPECT_EQ(Render(*p, *with), Render(*p, *without));
  }
}

TEST(Memo, EachRuleDecidesAsItDoesAlone) {
  std::vector<std::string> rules(std::begin(kRules), std::end(kRules));
  auto p = Build(rules);
  ASSERT_TRUE(p);
  for (const char* ws : {"acme", "beta", "globex", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(ws == nullptr ? "absent" : ws);
    auto req = Workspace(ws);
    auto allp = Decide(*p, *req, false);
    const vm::Decision& all = *allp;
    uint64_t instructions = 0;
    for (uint32_t r = 0; r < rules.size(); ++r) {
      SCOPED_TRACE(rules[r]);
      auto one = Build({rules[r]});
      ASSERT_TRUE(one);
      auto dp = Decide(*one, *req, false);
      const vm::Decision& d = *dp;
      instructions += d.instructions;
      auto in = [r](const std::vector<uint32_t>& v) { return std::find(v.begin(), v.end(), r) != v.end(); };
      EXPECT_EQ(in(all.fired), !d.fired.empty());
      EXPECT_EQ(in(all.shadow), !d.shadow.empty());
      EXPECT_EQ(in(all.advisory), !d.advisory.empty());
      std::vector<std::string> mine, alone;
      for (const auto& e : all.errors) if (e.rule == r) mine.push_back(std::string(e.code) + " " + e.message);
      for (const auto& e : d.errors) alone.push_back(std::string(e.code) + " " + e.message);
      EXPECT_EQ(mine, alone);
      std::vector<std::string> wm, wa;
      for (const auto& w : all.warnings) if (w.rule == r) wm.emplace_back(w.message);
      for (const auto& w : d.warnings) wa.emplace_back(w.message);
      EXPECT_EQ(wm, wa);
    }
    EXPECT_EQ(all.instructions, instructions);
  }
  // The absent workspace: the lookup errors in every rule that reaches it,
  // with the same message each time (errors are never stored).
  auto req = Workspace(nullptr);
  auto dp = Decide(*p, *req, false);
  const vm::Decision& d = *dp;
  ASSERT_EQ(d.errors.size(), rules.size());
  for (uint32_t r = 0; r < rules.size(); ++r) {
    EXPECT_EQ(d.errors[r].rule, r);
    EXPECT_EQ(d.errors[r].code, vm::kErrMissingField);
    EXPECT_EQ(d.errors[r].message, "missing field `principal.workspace`");
  }
  EXPECT_EQ(d.code, vm::kCodeRuleError);  // `gold` fails closed; `big` (shadow) and `lenient` (skip) do not
  EXPECT_EQ(d.deny_rule, 0u);
}

TEST(Memo, BudgetsRunOutWhereTheyDidWithoutMemos) {
  std::vector<std::string> rules(std::begin(kRules), std::end(kRules));
  auto p = Build(rules);
  ASSERT_TRUE(p);
  for (const char* ws : {"acme", "beta", "globex"}) {
    auto req = Workspace(ws);
    for (uint64_t budget = 1; budget <= 16; ++budget) {
      SCOPED_TRACE(std::string(ws) + " budget " + std::to_string(budget));
      EXPECT_EQ(Render(*p, *Decide(*p, *req, false, budget)), Render(*p, *Decide(*p, *req, true, budget)));
    }
  }
}

TEST(Memo, SlotsLastOneEvaluation) {
  std::vector<std::string> rules(std::begin(kRules), std::end(kRules));
  auto p = Build(rules);
  ASSERT_TRUE(p);
  // One thread, alternating requests: a slot filled by one evaluation is
  // never read by the next.
  for (int i = 0; i < 3; ++i) {
    for (const char* ws : {"acme", "beta", "globex"}) {
      auto req = Workspace(ws);
      EXPECT_EQ(Render(*p, *Decide(*p, *req, false)), Render(*p, *Decide(*p, *req, true))) << ws;
    }
  }
  auto acme_req = Workspace("acme");
  auto beta_req = Workspace("beta");
  auto acme = Decide(*p, *acme_req, false);
  auto beta = Decide(*p, *beta_req, false);
  ASSERT_EQ(acme->tags.size(), 1u);
  ASSERT_EQ(beta->tags.size(), 1u);
  EXPECT_EQ(ToJson(acme->tags[0].value), "\"gold\"");
  EXPECT_EQ(ToJson(beta->tags[0].value), "\"free\"");
  // A require is its own evaluation: it reads the request it is given.
  auto with_require = Build({kRules[0], "rule r { when exists(workspaces[principal.workspace]) require provider.name not in workspaces[principal.workspace].blocked }"});
  ASSERT_TRUE(with_require);
  auto cand = Candidate().Str("provider.name", "x").Take();
  EXPECT_FALSE(vm::EvalRequire(with_require->program(), 0, *acme_req, *cand, {}).pass);
  EXPECT_TRUE(vm::EvalRequire(with_require->program(), 0, *beta_req, *cand, {}).pass);
}

// Hand-built: a memo hit of a null value restores the `missing field` name
// its computation left, whatever an earlier instruction of the rule named.
TEST(Memo, NullHitKeepsItsMissingFieldName) {
  using vm::internal::Instr;
  using vm::internal::Op;
  auto c = std::make_unique<vm::internal::Code>();
  c->name = "hand";
  c->request_paths = {"principal.workspace", "request.user"};
  c->request_types.resize(2);
  c->names = {"quota[principal.workspace]"};
  c->constants = {c->arena.MakeMap({{"acme", Value::Int(1)}})};
  c->memos.push_back(vm::internal::Memo{3, "quota[principal.workspace]", 2});
  auto lookup = [&] {
    uint32_t at = static_cast<uint32_t>(c->code.size());
    c->code.push_back(Instr::Make(Op::kMEMO, at + 5, 0));
    c->code.push_back(Instr::Make(Op::kLOADK, 0));
    c->code.push_back(Instr::Make(Op::kLOADREQ, 0));
    c->code.push_back(Instr::Make(Op::kINDEX, 0, 0));
    c->code.push_back(Instr::Make(Op::kSTMEMO, 0, 0));
  };
  for (uint32_t r = 0; r < 2; ++r) {
    vm::internal::Entry e;
    e.owner = r;
    e.begin = static_cast<uint32_t>(c->code.size());
    if (r == 1) {  // first read an absent field, so that null_what names it
      c->code.push_back(Instr::Make(Op::kLOADREQ, 1));
      c->code.push_back(Instr::Make(Op::kPOP));
    }
    lookup();
    if (r == 0) {  // rule 0: `quota[ws] == null` (fires); rule 1: `quota[ws]` (null: an error)
      c->code.push_back(Instr::Make(Op::kLOADNIL));
      c->code.push_back(Instr::Make(Op::kEQ));
    }
    c->code.push_back(Instr::Make(Op::kRET));
    e.end = static_cast<uint32_t>(c->code.size());
    c->entries.push_back(e);
    vm::RuleInfo info;
    info.name = "r" + std::to_string(r);
    c->rules.push_back(info);
    vm::internal::RuleCode rc;
    rc.when = e.begin;
    c->rule_code.push_back(rc);
    c->unindexed.push_back(r);
  }
  c->lines.assign(c->code.size(), 1);
  std::string err;
  ASSERT_TRUE(vm::internal::Verify(c.get(), 16, &err)) << err;
  vm::Program program(std::move(c));
  vm::Record req;
  req.slots = {req.arena.String("globex"), Value()};
  for (bool trace : {false, true}) {
    vm::EvalOptions o;
    o.trace = trace;
    vm::Decision d;
    vm::Evaluate(program, req, o, &d);
    ASSERT_EQ(d.errors.size(), 1u) << trace;
    EXPECT_EQ(d.errors[0].rule, 1u);
    EXPECT_EQ(d.errors[0].message, "missing field `quota[principal.workspace]`") << trace;
    EXPECT_EQ(d.instructions, 6u + 6u) << trace;  // the hit charges the 3 it skips
  }
}

TEST(Memo, VerifierChecksTheSlotAndTheCost) {
  using vm::internal::Instr;
  using vm::internal::Op;
  auto make = [](uint32_t cost, uint32_t target, uint32_t slot) {
    auto c = std::make_unique<vm::internal::Code>();
    c->request_paths = {"a"};
    c->names = {"m[a]"};
    c->constants = {c->arena.MakeMap({{"k", Value::Int(1)}})};
    c->memos.push_back(vm::internal::Memo{cost, "m[a]", 1});
    c->code = {Instr::Make(Op::kMEMO, target, slot), Instr::Make(Op::kLOADK, 0), Instr::Make(Op::kLOADREQ, 0),
               Instr::Make(Op::kINDEX, 0, 0), Instr::Make(Op::kSTMEMO, 0, 0), Instr::Make(Op::kRET)};
    c->lines.assign(c->code.size(), 1);
    vm::internal::Entry e;
    e.end = static_cast<uint32_t>(c->code.size());
    c->entries.push_back(e);
    std::string err;
    return vm::internal::Verify(c.get(), 16, &err) ? std::string() : err;
  };
  EXPECT_EQ(make(3, 5, 0), "");
  EXPECT_NE(make(2, 5, 0).find("memo cost"), std::string::npos);
  EXPECT_NE(make(3, 4, 0).find("memo jump target"), std::string::npos);
  EXPECT_NE(make(3, 5, 1).find("memo slot"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::vmtest
