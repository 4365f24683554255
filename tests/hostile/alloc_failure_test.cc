// Exception safety at the module boundaries: allocation failure injected at
// many points of compiling, decoding and loading must never let an exception
// out, and the diagnostics returned must stay renderable (under the ASan
// build a diagnostic pointing into a freed source file is a use-after-free:
// CompileSource used to free the file before its handler ran).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/vm/record.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"
#include "stdlib/schema.h"
#include "tests/alloc_failure_injection.h"

namespace {
std::atomic<long>& g_countdown = tollgate::testing::alloc_countdown;
std::atomic<long>& g_count = tollgate::testing::alloc_count;
}  // namespace

namespace tollgate {
namespace {

// Runs the test's own setup `f` with no failure injected (the allocation
// count keeps running down only for the code under test).
template <typename F>
void Unarmed(F f) {
  long saved = g_countdown.exchange(-1);
  f();
  g_countdown = saved;
}

// Runs `f` once to count its allocations, then again failing the k-th
// allocation for ~`points` values of k spread over that count.
template <typename F>
void AtEveryPoint(F f, int points = 120) {
  g_count = 0;
  f();
  const long total = g_count.load();
  ASSERT_GT(total, 0);
  const long step = total / points + 1;
  for (long k = 0; k < total; k += step) {
    g_countdown = k;
    f();
    g_countdown = -1;
  }
}

TEST(AllocFailure, CompileSourceNeverThrowsAndKeepsItsSource) {
  const std::string src =
      "policy \"p\"\nconst eu = {\"DE\", \"FR\"}\n"
      "rule a { when principal.jurisdiction in eu and request.modle == \"x\" deny \"no\" }\n"
      "rule b { when request.input_tokens > 10 deny 400 \"too many\" }\n";
  AtEveryPoint([&] {
    Compiled c;
    std::string text_in;
    Unarmed([&] { text_in = src; });
    EXPECT_NO_THROW(c = CompileSource("p.tg", std::move(text_in), {}));
    g_countdown = -1;
    EXPECT_EQ(c.policy, nullptr);  // the policy has an error, found or not
    std::string text = c.diagnostics.Render();
    for (const Diagnostic& d : c.diagnostics.items()) {
      if (d.code == "tg_unknown_field") {
        EXPECT_NE(text.find("request.modle == \"x\""), std::string::npos) << text;
      }
    }
  });
}

TEST(AllocFailure, DecodersAndLoadersNeverThrow) {
  const std::string input =
      R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}})";
  AtEveryPoint([&] {
    std::optional<vm::Record> rec;
    Unarmed([&] { rec.emplace(); });
    runtime::InputError err;
    EXPECT_NO_THROW((void)runtime::DecodeInput(input, stdlib::Schema::Standard(), {}, &*rec, &err));
  });
  const std::string catalog =
      R"({"endpoints":[{"id":"a","model":"m","provider":"p","upstream":{"base_url":"https://x/v1","auth":{"type":"bearer","env":"K"}},)"
      R"("pricing":{"input_per_mtok":"1","output_per_mtok":"2","per_request":"0"},"context_length":1000,)"
      R"("max_output_tokens":100,"jurisdiction":"US","region":"us","zdr":false,"trains_on_data":false,)"
      R"("data_collection":"allow","retention_days":30,"quantization":"unknown","supported_parameters":[]}]})";
  AtEveryPoint([&] {
    std::optional<runtime::Catalog> c;
    std::optional<runtime::CatalogError> e;
    Unarmed([&] { c.emplace(); e.emplace(); });
    EXPECT_NO_THROW((void)runtime::Catalog::Load(catalog, stdlib::Schema::Standard(), &*c, &*e));
  });
  AtEveryPoint([&] {
    std::optional<runtime::Accounts> a;
    std::optional<runtime::AccountsError> e;  // its default code is not a short string
    Unarmed([&] { a.emplace(); e.emplace(); });
    EXPECT_NO_THROW((void)runtime::Accounts::Load(R"({"default":{"ignore":["x"]}})", &*a, &*e));
  });
  const stdlib::Schema& base = stdlib::Schema::Standard();
  AtEveryPoint([&] {
    std::optional<stdlib::Schema> s;
    Unarmed([&] { s.emplace(base); });  // the caller's copy, not the code under test
    std::string error;
    EXPECT_NO_THROW((void)s->AddFromJson(
        R"({"fields":[{"path":"principal.department","type":"string","scope":"request","description":"d"}]})",
        &error));
  });
}

// Evaluation (vm::Evaluate, EvalRequire, CheckCandidate, EvalKey,
// EvalDeclaration) and routing (Router::Route, ApplyRoute): memory running out
// at any point never lets an exception out. A rule during which it runs out
// is a rule error (eval_out_of_memory) handled by its on_error, with none of
// its effects left behind; routing fails with route_error.
const char kOomPolicy[] = R"(policy "oom"
const big = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "b"]
rule skipper on_error skip {
  when request.model == "m" and length(request.model + "-suffix-long-enough-to-allocate") > 3
  deny 400 "model {request.model} blocked by {big[0]}"
}
rule denier {
  when length(request.model + "-another-suffix-long-enough") > 3
  tag t = request.model + "-tag-value-long-enough-to-allocate"
  require provider.jurisdiction in {"DE", "FR"}
}
budget b { key principal.workspace + "-key-long-enough-to-allocate" per day limit 10 usd }
)";

std::shared_ptr<const Policy> OomPolicy() {
  Compiled c = CompileSource("oom.tg", kOomPolicy, {});
  EXPECT_NE(c.policy, nullptr) << c.diagnostics.Render();
  return c.policy;
}

void OomRequest(const Policy& p, vm::Record* rec) {
  const std::string input =
      R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}})";
  runtime::InputError err;
  EXPECT_TRUE(runtime::DecodeInput(input, p.schema(), {}, rec, &err)) << err.message;
}

bool HasError(const vm::Decision& d, std::string_view code) {
  for (const vm::RuleError& e : d.errors)
    if (e.code == code) return true;
  return false;
}

TEST(AllocFailure, EvaluateMakesRunningOutOfMemoryARuleError) {
  auto policy = OomPolicy();
  ASSERT_NE(policy, nullptr);
  vm::Record rec;
  OomRequest(*policy, &rec);
  vm::Decision base;
  vm::Evaluate(policy->program(), rec, {}, &base);
  ASSERT_EQ(base.code, vm::kCodePolicyDenied);  // `skipper` denies 400
  ASSERT_EQ(base.status, 400);
  ASSERT_EQ(base.tags.size(), 1u);
  int failed = 0;
  for (bool trace : {false, true}) {
    vm::EvalOptions o;
    o.trace = trace;
    AtEveryPoint([&] {
      std::optional<vm::Decision> d;
      Unarmed([&] { d.emplace(); });
      EXPECT_NO_THROW(vm::Evaluate(policy->program(), rec, o, &*d));
      g_countdown = -1;
      if (!HasError(*d, vm::kErrOutOfMemory)) {
        // The failed allocation was not needed, or it happened outside of
        // any rule (then the decision failed closed).
        if (d->code == vm::kCodeRuleError) return;
        EXPECT_EQ(d->code, base.code);
        EXPECT_EQ(d->status, base.status);
        EXPECT_EQ(d->tags.size(), base.tags.size());
        return;
      }
      ++failed;
      // One allocation fails, so one rule (or the evaluation around them)
      // runs out of memory; a failing rule leaves none of its effects.
      uint32_t rule = UINT32_MAX;
      for (const vm::RuleError& e : d->errors)
        if (e.code == vm::kErrOutOfMemory) rule = e.rule;
      if (rule == 0) {
        // `skipper` (on_error skip) is as if it had not matched: no deny;
        // `denier` fires (its tag and require).
        EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
        EXPECT_EQ(d->fired, std::vector<uint32_t>{1});
        EXPECT_EQ(d->tags.size(), 1u);
        EXPECT_EQ(d->require_refs.size(), 1u);
      } else if (rule == 1) {
        // `denier` (on_error deny) fails; `skipper`'s real deny wins.
        EXPECT_EQ(d->code, vm::kCodePolicyDenied);
        EXPECT_EQ(d->status, 400);
        EXPECT_EQ(d->fired, std::vector<uint32_t>{0});
        EXPECT_TRUE(d->tags.empty());
        EXPECT_TRUE(d->require_refs.empty());
      } else {
        // Outside any rule: the decision fails closed.
        EXPECT_EQ(rule, UINT32_MAX);
        EXPECT_EQ(d->code, vm::kCodeRuleError);
        EXPECT_EQ(d->status, 403);
        EXPECT_EQ(d->reason, vm::kRuleErrorReason);
        return;
      }
      if (trace) {
        EXPECT_EQ(d->trace.size(), 2u);
      }
    });
  }
  EXPECT_GT(failed, 0);
}

TEST(AllocFailure, SkippedRuleOutOfMemoryLeavesNoEffect) {
  // Only `skipper` (on_error skip) allocates while it runs here: memory
  // running out in it must leave an allow with its error recorded.
  Compiled c = CompileSource("skip.tg", R"(policy "s"
rule skipper on_error skip {
  when request.model + "-suffix-long-enough-to-allocate" != ""
  deny 400 "model {request.model} blocked"
  tag t = request.model + "-tag-value-long-enough-to-allocate"
}
)", {});
  ASSERT_NE(c.policy, nullptr) << c.diagnostics.Render();
  vm::Record rec;
  OomRequest(*c.policy, &rec);
  int failed = 0;
  AtEveryPoint([&] {
    std::optional<vm::Decision> d;
    Unarmed([&] { d.emplace(); });
    EXPECT_NO_THROW(vm::Evaluate(c.policy->program(), rec, {}, &*d));
    g_countdown = -1;
    if (!HasError(*d, vm::kErrOutOfMemory)) return;
    ++failed;
    EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
    EXPECT_TRUE(d->fired.empty());
    EXPECT_TRUE(d->tags.empty());
    EXPECT_EQ(d->errors.size(), 1u);
    EXPECT_EQ(d->errors[0].message, "out of memory");
  });
  EXPECT_GT(failed, 0);
}

TEST(AllocFailure, RequiresKeysAndDeclarationsNeverThrow) {
  auto policy = OomPolicy();
  ASSERT_NE(policy, nullptr);
  vm::Record rec;
  OomRequest(*policy, &rec);
  vm::Record cand;
  Unarmed([&] { cand.slots.assign(policy->schema().slot_count(ast::Scope::kCandidate), Value::Null()); });
  AtEveryPoint([&] {
    std::optional<vm::Decision> d;
    Unarmed([&] {
      d.emplace();
      vm::Evaluate(policy->program(), rec, {}, &*d);
    });
    // The candidate has no jurisdiction: the require fails (or errors).
    EXPECT_NO_THROW(EXPECT_FALSE(vm::CheckCandidate(policy->program(), rec, cand, {}, &*d)));
    g_countdown = -1;
    EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  });
  AtEveryPoint([&] {
    std::optional<std::string> key;
    std::optional<vm::RuleError> err;
    Unarmed([&] { key.emplace(); err.emplace(); });
    bool ok = true;
    EXPECT_NO_THROW(ok = vm::EvalKey(policy->program(), vm::KeyKind::kBudget, 0, rec, &*key, &*err));
    g_countdown = -1;
    if (ok) {
      EXPECT_EQ(*key, "w-key-long-enough-to-allocate");
    } else {
      EXPECT_EQ(err->code, vm::kErrOutOfMemory);
    }
  });
  AtEveryPoint([&] {
    std::optional<vm::DeclarationValue> v;
    std::optional<vm::RuleError> err;
    Unarmed([&] { v.emplace(); err.emplace(); });
    bool ok = true;
    EXPECT_NO_THROW(ok = vm::EvalDeclaration(policy->program(), vm::KeyKind::kBudget, 0, rec, &*v, &*err));
    g_countdown = -1;
    if (ok) {
      EXPECT_TRUE(v->applies);
    } else {
      EXPECT_EQ(err->code, vm::kErrOutOfMemory);
    }
  });
}

TEST(AllocFailure, RouteNeverThrows) {
  auto policy = OomPolicy();
  ASSERT_NE(policy, nullptr);
  std::string endpoints;
  for (int i = 0; i < 6; ++i) {
    endpoints += std::string(i ? "," : "") + R"({"id":"endpoint-number-)" + std::to_string(i) +
                 R"(","model":"m","provider":"provider-)" + std::to_string(i) +
                 R"(","upstream":{"base_url":"https://x/v1","auth":{"type":"bearer","env":"K"}},)"
                 R"("pricing":{"input_per_mtok":"1","output_per_mtok":"2","per_request":"0"},"context_length":1000,)"
                 R"("max_output_tokens":100,"jurisdiction":")" + (i % 2 ? "DE" : "US") +
                 R"(","region":"eu","zdr":false,"trains_on_data":false,)"
                 R"("data_collection":"allow","retention_days":30,"quantization":"unknown","supported_parameters":[],)"
                 R"("observed":{"latency_p50":0.5,"throughput":50,"uptime":0.99}})";
  }
  runtime::Catalog catalog;
  runtime::CatalogError cerr;
  ASSERT_TRUE(runtime::Catalog::Load(R"({"endpoints":[)" + endpoints + "]}", policy->schema(),
                                     &catalog, &cerr))
      << cerr.message;
  // A policy without the deny, so that the request is routed.
  Compiled c = CompileSource("r.tg", R"(policy "r"
rule denier {
  when length(request.model + "-another-suffix-long-enough") > 3
  require provider.jurisdiction in {"DE", "FR"}
}
)", {});
  ASSERT_NE(c.policy, nullptr) << c.diagnostics.Render();
  std::string error;
  AtEveryPoint([&] {
    std::unique_ptr<runtime::Router> r;
    EXPECT_NO_THROW(r = runtime::Router::Create(*c.policy, catalog, nullptr, {}, &error));
    g_countdown = -1;
    if (!r) {
      EXPECT_NE(error.find("out of memory"), std::string::npos) << error;
    }
  });
  auto router = runtime::Router::Create(*c.policy, catalog, nullptr, {}, &error);
  ASSERT_NE(router, nullptr) << error;
  vm::Record rec;
  OomRequest(*c.policy, &rec);
  vm::Decision d;
  vm::Evaluate(c.policy->program(), rec, {}, &d);
  ASSERT_EQ(d.outcome, vm::Outcome::kAllow);
  runtime::RouteResult base;
  router->Route(d, rec, &base);
  ASSERT_EQ(base.outcome, runtime::RouteResult::Outcome::kRouted);
  ASSERT_EQ(base.endpoints.size(), 3u);
  int failed = 0;
  AtEveryPoint([&] {
    std::optional<runtime::RouteResult> res;
    std::optional<vm::Decision> routed;
    Unarmed([&] { res.emplace(); });
    EXPECT_NO_THROW(router->Route(d, rec, &*res));
    g_countdown = -1;
    if (res->outcome == runtime::RouteResult::Outcome::kRouted) {
      EXPECT_EQ(res->endpoints.size(), 3u);
      return;
    }
    ++failed;
    EXPECT_EQ(res->outcome, runtime::RouteResult::Outcome::kError);
    EXPECT_EQ(res->code, runtime::kCodeRouteError);
    EXPECT_EQ(res->status, 500);
    EXPECT_TRUE(res->endpoints.empty());
    Unarmed([&] {
      routed.emplace();
      vm::Evaluate(c.policy->program(), rec, {}, &*routed);
    });
    runtime::ApplyRoute(*res, &*routed);
    EXPECT_EQ(routed->outcome, vm::Outcome::kDeny);
    EXPECT_EQ(routed->code, runtime::kCodeRouteError);
  });
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace tollgate
