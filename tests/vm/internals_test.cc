// The verifier on hand-built bytecode, static cost bounds, data documents,
// scans inside require predicates, and the no-allocation promise of
// Evaluate (counted with a replaced global operator new).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>

#include "engine/vm/internal/code.h"
#include "tests/vm/vm_helpers.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Counting replacements of the global allocator (malloc/free underneath);
// GCC 12 cannot see that new and delete are replaced together.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's temporary buffer): otherwise the
// sanitizer's own nothrow new would pair with the free() below.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace tollgate::vmtest {
namespace {

using vm::internal::Code;
using vm::internal::Entry;
using vm::internal::Instr;
using vm::internal::Op;

// A one-entry program over `code` with two constants and 2 request slots.
std::unique_ptr<Code> Hand(std::vector<Instr> code) {
  auto c = std::make_unique<Code>();
  c->code = std::move(code);
  c->lines.assign(c->code.size(), 1);
  c->constants = {Value::Int(1), c->arena.String("x")};
  c->request_paths = {"a", "b"};
  Entry e;
  e.end = static_cast<uint32_t>(c->code.size());
  c->entries.push_back(e);
  return c;
}

std::string VerifyError(std::vector<Instr> code, uint32_t max_stack = 256) {
  auto c = Hand(std::move(code));
  std::string err;
  return vm::internal::Verify(c.get(), max_stack, &err) ? "" : err;
}

TEST(Verifier, AcceptsWellFormedCode) {
  EXPECT_EQ(VerifyError({Instr::Make(Op::kLOADREQ, 0), Instr::Make(Op::kEQK, 1), Instr::Make(Op::kRET)}), "");
  // Short-circuit: both paths reach RET with depth 1.
  EXPECT_EQ(VerifyError({Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kJFK, 3), Instr::Make(Op::kLOADFALSE),
                         Instr::Make(Op::kRET)}),
            "");
}

TEST(Verifier, RejectsBadCode) {
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADK, 9), Instr::Make(Op::kRET)}).find("constant"), std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADREQ, 5), Instr::Make(Op::kRET)}).find("request slot"), std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADCAND, 0), Instr::Make(Op::kRET)}).find("candidate"), std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kADD), Instr::Make(Op::kRET)}).find("underflow"), std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kJMP, 7)}).find("jump target"), std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kRET)}).find("depth"),
            std::string::npos);
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADTRUE)}).find("out of its entry"), std::string::npos);
  // Inconsistent depths where two paths meet.
  EXPECT_NE(VerifyError({Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kJTK, 4), Instr::Make(Op::kLOADTRUE),
                         Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kRET)}),
            "");
  std::string deep = VerifyError({Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kLOADTRUE), Instr::Make(Op::kEQ),
                                  Instr::Make(Op::kRET)},
                                 1);
  EXPECT_EQ(deep.rfind("stack depth", 0), 0u) << deep;
}

TEST(CostBound, QuantifiersMultiplyByTheirLimit) {
  Limits l;
  l.max_messages = 100;
  l.max_list_elements = 10;
  auto p = Compile(
      "rule flat { when request.model == \"m\" deny \"x\" }\n"
      "rule msgs { when any m in request.messages: m.role == \"system\" deny \"x\" }\n"
      "rule nested { when any m in request.messages: (any t in request.models: t == m.role) deny \"x\" }\n",
      l);
  ASSERT_TRUE(p);
  const auto& rules = p->program().rules();
  EXPECT_EQ(rules[0].cost_bound, 3u);
  EXPECT_GE(rules[1].cost_bound, 100u * 5);
  EXPECT_LT(rules[1].cost_bound, 100u * 10);
  EXPECT_GE(rules[2].cost_bound, 100u * 10 * 4);
  // The bound holds for a full list.
  std::vector<std::pair<std::string, std::string>> msgs(100, {"user", "x"});
  auto d = Eval(*p, *Request().Messages(msgs).Take());
  EXPECT_LE(d->instructions, rules[0].cost_bound + rules[1].cost_bound + rules[2].cost_bound);
}

TEST(DataDocuments, AreFrozenIntoTheProgram) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tg_vm_data_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "ws.json") << R"({"acme": {"models": ["gpt-4o"], "suspended": false},
                                        "globex": {"models": [], "suspended": true}})";
  std::ofstream(dir / "p.tg") << "policy \"d\"\n"
                                 "data workspaces from \"ws.json\": map<{models: list<string>, suspended: bool}>\n"
                                 "rule suspended { when principal.workspace in workspaces and workspaces[principal.workspace].suspended deny 402 \"suspended\" }\n"
                                 "rule model { when principal.workspace in workspaces and not (request.model in workspaces[principal.workspace].models) deny \"model\" }\n";
  Compiled c = CompileFile((dir / "p.tg").string(), {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  auto acme = Request().Str("principal.workspace", "acme").Str("request.model", "gpt-4o").Take();
  auto globex = Request().Str("principal.workspace", "globex").Take();
  auto other = Request().Str("principal.workspace", "initech").Take();
  EXPECT_EQ(Eval(*c.policy, *acme)->outcome, vm::Outcome::kAllow);
  EXPECT_EQ(Eval(*c.policy, *globex)->status, 402);
  auto d = Eval(*c.policy, *other);  // an unknown workspace: the guards are false, no error
  EXPECT_TRUE(d->errors.empty());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  // Without the guard, the checker refuses the lookup (it used to fail at run time).
  std::ofstream(dir / "q.tg") << "policy \"d\"\n"
                                 "data workspaces from \"ws.json\": map<{models: list<string>, suspended: bool}>\n"
                                 "rule suspended { when workspaces[principal.workspace].suspended deny 402 \"suspended\" }\n";
  Compiled unguarded = CompileFile((dir / "q.tg").string(), {});
  EXPECT_FALSE(unguarded.policy);
  EXPECT_NE(unguarded.diagnostics.Render().find("tg_unguarded_optional"), std::string::npos);
  // The data document is part of the version id.
  std::string v1 = c.policy->version_id();
  std::ofstream(dir / "ws.json") << R"({"acme": {"models": [], "suspended": false}})";
  Compiled c2 = CompileFile((dir / "p.tg").string(), {});
  ASSERT_TRUE(c2.policy);
  EXPECT_NE(v1, c2.policy->version_id());
  fs::remove_all(dir);
}

TEST(Requires, ScanRequestFieldPerCandidate) {
  auto p = Compile("rule r { require not (request.content contains \"secret\") or provider.zdr }\n");
  auto secret = Request().Messages({{"user", "a secret"}}).Take();
  auto plain = Request().Messages({{"user", "hello"}}).Take();
  auto zdr = Candidate().Bool("provider.zdr", true).Take();
  auto nozdr = Candidate().Bool("provider.zdr", false).Take();
  EXPECT_TRUE(vm::EvalRequire(p->program(), 0, *secret, *zdr, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *secret, *nozdr, {}).pass);
  EXPECT_TRUE(vm::EvalRequire(p->program(), 0, *plain, *nozdr, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *secret, *nozdr, {}).pass);
}

TEST(Allocation, EvaluateAllocatesNothingOnceGrown) {
  auto p = Compile(
      "const eu = {\"DE\", \"FR\", \"NL\"}\n"
      "rule a { when principal.jurisdiction in eu require provider.jurisdiction in eu }\n"
      "rule b { when request.model == \"m\" and request.max_tokens > 10 tag tier = \"gold\" route sort price }\n"
      "rule c mode shadow { when principal.groups has \"eng\" deny \"x\" }\n"
      "rule d { when any m in request.messages: m.role == \"system\" warn \"sys\" }\n"
      "rule e { when request.max_tokens * 2 > 100 and context.environment != \"dev\" deny 429 \"big\" }\n");
  auto req = Request()
                 .Str("principal.jurisdiction", "DE")
                 .Int("request.max_tokens", 100)
                 .Set("principal.groups", {"eng"})
                 .Messages({{"system", "s"}, {"user", "u"}})
                 .Take();
  vm::Decision d;
  for (int i = 0; i < 3; ++i) vm::Evaluate(p->program(), *req, {}, &d);
  ASSERT_EQ(d.outcome, vm::Outcome::kDeny);
  ASSERT_TRUE(d.errors.empty());
  long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) vm::Evaluate(p->program(), *req, {}, &d);
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(d.fired.size(), 4u);
}

}  // namespace
}  // namespace tollgate::vmtest

namespace tollgate::vmtest {
namespace {

TEST(Requires, ScanReuseAcrossCandidatesStaysExact) {
  auto p = Compile(
      "rule r { require not (request.content matches dlp.credit_card) or provider.zdr }\n"
      "rule s { when request.content contains \"card\" deny \"card\" }\n");
  auto card = Request().Messages({{"user", "card 4111 1111 1111 1111"}}).Take();
  auto bad = Request().Messages({{"user", "card 4111 1111 1111 1112"}}).Take();
  auto clean = Request().Messages({{"user", "nothing"}}).Take();
  auto nozdr = Candidate().Bool("provider.zdr", false).Take();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
  // An evaluation of another text on the same thread must not leak into the cache.
  EXPECT_EQ(Eval(*p, *clean)->outcome, vm::Outcome::kAllow);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
  EXPECT_TRUE(vm::EvalRequire(p->program(), 0, *bad, *nozdr, {}).pass);
  EXPECT_TRUE(vm::EvalRequire(p->program(), 0, *clean, *nozdr, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
  // The same text in another record hits the cache and gives the same answer.
  auto card2 = Request().Messages({{"user", "card 4111 1111 1111 1111"}}).Take();
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card2, *nozdr, {}).pass);
  // A second program on the same thread has its own groups.
  auto q = Compile("rule t { require request.content matches \"nothing\" }\n");
  EXPECT_TRUE(vm::EvalRequire(q->program(), 0, *clean, *nozdr, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
  EXPECT_FALSE(vm::EvalRequire(q->program(), 0, *card, *nozdr, {}).pass);
  // Evaluating a third program (whose scan bits overlap p's) in between.
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
  auto w = Compile("rule u { when request.content matches \"no.*ing\" deny \"x\" }\n");
  EXPECT_EQ(Eval(*w, *card)->outcome, vm::Outcome::kAllow);  // writes 0 where p cached a hit
  EXPECT_FALSE(vm::EvalRequire(p->program(), 0, *card, *nozdr, {}).pass);
}

}  // namespace
}  // namespace tollgate::vmtest
