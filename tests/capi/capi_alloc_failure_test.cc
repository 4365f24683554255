// The C API when memory runs out (tollgate.h, "Errors": running out of
// memory is TOLLGATE_ERR_NO_MEMORY). Allocation failure is injected at many
// points of a compile; the status must be TOLLGATE_OK or
// TOLLGATE_ERR_NO_MEMORY, never a status that blames the caller's policy or
// documents (the stages below the API report memory running out as data:
// a tg_limit_exceeded diagnostic, catalog_too_large, ...).
//
// This file replaces the global allocation functions for the whole
// tg_capi_test binary; they behave as usual unless a test arms them.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "runtime/capi/tollgate.h"
#include "tests/alloc_failure_injection.h"

namespace {
std::atomic<long>& g_countdown = tollgate::testing::alloc_countdown;
std::atomic<long>& g_count = tollgate::testing::alloc_count;

constexpr char kSource[] = R"(policy "oom"
const eu = {"DE", "FR"}
rule a { when (principal.jurisdiction ?? "") in eu and principal.department == "lab" deny 403 "no" }
rule b { when (request.max_tokens ?? 0) > 10 deny 400 "too many" }
)";
constexpr char kSchema[] =
    R"({"fields": [{"path": "principal.department", "type": "string", "scope": "request",
        "required": false, "description": "cost centre"}]})";

// Compiles kSource with a schema, the example catalog and accounts; fails
// the k-th allocation of the call for ~`points` values of k spread over
// the allocations a compile makes, and checks each status.
TEST(CApiAllocFailure, CompileRunningOutOfMemoryIsNoMemory) {
  tollgate_options o{};
  o.schema_json = kSchema;
  o.catalog_path = "policies/catalog.json";
  o.accounts_path = "policies/accounts.json";
  auto compile = [&](char** msg) {
    tollgate_policy* p = nullptr;
    const tollgate_status st = tollgate_compile_source("oom.tg", kSource, sizeof kSource - 1, &o, &p, msg);
    g_countdown = -1;
    tollgate_policy_free(p);
    return st;
  };
  char* msg = nullptr;
  g_count = 0;
  ASSERT_EQ(compile(&msg), TOLLGATE_OK) << (msg ? msg : "");
  tollgate_free(msg);
  const long total = g_count.load();
  ASSERT_GT(total, 0);
  constexpr long kPoints = 400;
  const long step = total / kPoints + 1;
  int no_memory = 0;
  for (long k = 0; k < total; k += step) {
    msg = nullptr;
    g_countdown = k;
    const tollgate_status st = compile(&msg);
    EXPECT_TRUE(st == TOLLGATE_OK || st == TOLLGATE_ERR_NO_MEMORY)
        << "allocation " << k << " of " << total << " failed: " << tollgate_status_name(st) << ": "
        << (msg ? msg : "(null)");
    no_memory += st == TOLLGATE_ERR_NO_MEMORY;
    tollgate_free(msg);
  }
  EXPECT_GT(no_memory, 0);  // the injection reached the API
}

// The same for a route of a valid input (explain, redactions): memory
// running out while decoding was TOLLGATE_ERR_INPUT (input_too_large); in
// evaluation and routing it is a rule or route error inside a decision
// (TOLLGATE_OK), by design.
TEST(CApiAllocFailure, EvalRunningOutOfMemoryIsNoMemory) {
  tollgate_options o{};
  o.schema_json = kSchema;
  o.catalog_path = "policies/catalog.json";
  tollgate_policy* p = nullptr;
  char* msg = nullptr;
  ASSERT_EQ(tollgate_compile_source("oom.tg", kSource, sizeof kSource - 1, &o, &p, &msg), TOLLGATE_OK)
      << (msg ? msg : "");
  tollgate_free(msg);
  tollgate_evaluator* ev = nullptr;
  const std::string input =
      R"({"principal": {"workspace": "w", "jurisdiction": "DE", "department": "ops"},
          "request": {"model": "openai/gpt-4o", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi, my card is 4111 1111 1111 1111"}]},
          "context": {"time": "2026-01-01T12:00:00Z"}})";
  const unsigned flags = TOLLGATE_EXPLAIN | TOLLGATE_APPLY_REDACTIONS;
  // A new evaluator each time (made before the failure is armed), so that
  // decoding allocates its buffers.
  auto route = [&](char** err) {
    const long armed = g_countdown.exchange(-1);
    tollgate_evaluator_free(ev);
    ev = tollgate_evaluator_new();
    g_countdown = armed;
    char* out = nullptr;
    const tollgate_status st = tollgate_route(ev, p, input.data(), input.size(), flags, &out, err);
    g_countdown = -1;
    tollgate_free(out);
    return st;
  };
  char* err = nullptr;
  ASSERT_EQ(route(&err), TOLLGATE_OK) << (err ? err : "");  // builds the thread's matchers
  tollgate_free(err);
  g_count = 0;
  ASSERT_EQ(route(nullptr), TOLLGATE_OK);
  const long total = g_count.load();
  ASSERT_GT(total, 0);
  constexpr long kPoints = 300;
  const long step = total / kPoints + 1;
  for (long k = 0; k < total; k += step) {
    err = nullptr;
    g_countdown = k;
    const tollgate_status st = route(&err);
    EXPECT_TRUE(st == TOLLGATE_OK || st == TOLLGATE_ERR_NO_MEMORY)
        << "allocation " << k << " of " << total << " failed: " << tollgate_status_name(st) << ": "
        << (err ? err : "(null)");
    tollgate_free(err);
  }
  tollgate_evaluator_free(ev);
  tollgate_policy_free(p);
}

}  // namespace
