// The router's policy filtering against the reference interpreter: over the
// example catalog (policies/catalog.json), random policies and random inputs
// for the catalog's models, every routed endpoint must pass every require of
// the decision in the reference, and every endpoint eliminated by a policy
// require must fail that require in the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/catalog.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"
#include "tests/differential/generate.h"
#include "tests/differential/reference.h"

namespace tollgate {
namespace {

// The request-specific estimate of docs/routing.md: input tokens x input
// price + (max_tokens, else the longest max output among the catalog's
// endpoints of the same model) x output price, per million, rounded half to
// even, + the per-request price.
int64_t EstimatedCost(const runtime::Catalog& catalog, const runtime::Endpoint& e,
                      const vm::Record& req, const stdlib::Schema& s) {
  int64_t in = req.slots[s.field(s.Find("request.input_tokens")).slot].i;
  Value mt = req.slots[s.field(s.Find("request.max_tokens")).slot];
  int64_t longest = 0;
  for (const runtime::Endpoint& o : catalog.endpoints()) {
    if (o.model == e.model) longest = std::max(longest, o.max_output_tokens);
  }
  int64_t per = mt.is_null() ? longest : mt.i;
  // n completions, each up to `per` tokens; beyond int64 the token count
  // saturates (and so does the cost, unless output is free).
  Value nv = req.slots[s.field(s.Find("request.n")).slot];
  __int128 tokens = static_cast<__int128>(per) * (nv.is_null() ? 1 : nv.i);
  int64_t out = tokens > INT64_MAX ? INT64_MAX : static_cast<int64_t>(tokens);
  __int128 n = static_cast<__int128>(in) * e.price_input + static_cast<__int128>(out) * e.price_output;
  __int128 q = n / 1000000, r = n % 1000000;
  if (r * 2 > 1000000 || (r * 2 == 1000000 && (q & 1))) ++q;
  q += e.price_request;
  return q > INT64_MAX ? INT64_MAX : static_cast<int64_t>(q);
}

TEST(RouterDifferential, PolicyFilteringAgreesWithReference) {
  if (!std::filesystem::exists("policies/catalog.json")) GTEST_SKIP() << "no example catalog";
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  runtime::Catalog catalog;
  runtime::CatalogError cerr;
  ASSERT_TRUE(runtime::Catalog::LoadFile("policies/catalog.json", schema, &catalog, &cerr))
      << cerr.message;
  std::set<std::string> model_set;
  for (const auto& e : catalog.endpoints()) model_set.insert(e.model);
  std::vector<std::string> models(model_set.begin(), model_set.end());
  const int cost_slot = catalog.estimated_cost_slot();

  uint64_t routed = 0, checked_routed = 0, checked_elim = 0, failures = 0;
  auto check = [&](const Policy& policy, const runtime::Router& router, const std::string& src,
                   const std::string& json) {
    vm::Record rec;
    runtime::InputError ierr;
    if (!runtime::DecodeInput(json, schema, {}, &rec, &ierr)) return;
    vm::Decision d;
    vm::Evaluate(policy.program(), rec, {}, &d);
    if (d.outcome == vm::Outcome::kDeny) return;
    runtime::RouteResult res;
    router.Route(d, rec, &res);
    ++routed;
    auto candidate = [&](uint32_t ep, int64_t cost, vm::Record* out) {
      out->slots = catalog.candidate(ep).slots;
      if (cost_slot >= 0) out->slots[cost_slot] = Value::Money(cost);
    };
    for (const runtime::RoutedEndpoint& e : res.endpoints) {
      vm::Record cand;
      candidate(e.endpoint, e.estimated_cost, &cand);
      for (const vm::RequireRef& rq : d.require_refs) {
        ++checked_routed;
        ref::RequireResult r = ref::EvalRequire(policy.ast(), schema, rq.require, rec, cand);
        if (!r.pass && failures++ < 5)
          ADD_FAILURE() << "routed endpoint " << catalog.endpoint(e.endpoint).id
                        << " fails require " << rq.require << " in the reference (" << r.code
                        << ")\n" << src << json;
      }
    }
    for (const runtime::Elimination& el : res.eliminated) {
      if (el.code != runtime::ElimCode::kPolicyRequire) continue;
      vm::Record cand;
      candidate(el.endpoint, EstimatedCost(catalog, catalog.endpoint(el.endpoint), rec, schema), &cand);
      ++checked_elim;
      ref::RequireResult r = ref::EvalRequire(policy.ast(), schema, el.require, rec, cand);
      if (r.pass && failures++ < 5)
        ADD_FAILURE() << "endpoint " << catalog.endpoint(el.endpoint).id
                      << " eliminated by require " << el.require
                      << " but the reference passes it\n" << src << json;
    }
  };
  // 300 policies (100 under AddressSanitizer, where each costs ~40 x more);
  // long mode (TOLLGATE_DIFF_ITERATIONS set): 2000.
#if defined(__SANITIZE_ADDRESS__)
  const uint64_t normal = 100;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  const uint64_t normal = 100;
#else
  const uint64_t normal = 300;
#endif
#else
  const uint64_t normal = 300;
#endif
  const uint64_t policies = std::getenv("TOLLGATE_DIFF_ITERATIONS") ? 2000 : normal;
  for (uint64_t seed = 1; seed <= policies; ++seed) {
    gen::Rng rng(seed * 7919);
    std::string src = gen::RandomPolicy(rng);
    Compiled c = CompileSource("gen.tg", src, {});
    if (!c.policy) continue;
    std::string err;
    auto router = runtime::Router::Create(*c.policy, catalog, nullptr, {}, &err);
    ASSERT_TRUE(router) << err;
    for (int i = 0; i < 8; ++i)
      check(*c.policy, *router, src, gen::RandomInput(rng, models[rng.Below(models.size())]));
  }
  // The example policies on the example requests and on random inputs.
  namespace fs = std::filesystem;
  std::vector<fs::path> files, requests;
  for (const auto& e : fs::directory_iterator("policies"))
    if (e.path().extension() == ".tg") files.push_back(e.path());
  if (fs::is_directory("policies/requests"))
    for (const auto& e : fs::directory_iterator("policies/requests"))
      if (e.path().extension() == ".json") requests.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::sort(requests.begin(), requests.end());
  gen::Rng rng(99);
  for (const fs::path& f : files) {
    Compiled c = CompileFile(f.string(), {});
    if (!c.policy) continue;
    std::string err;
    auto router = runtime::Router::Create(*c.policy, catalog, nullptr, {}, &err);
    ASSERT_TRUE(router) << err;
    for (const fs::path& r : requests) {
      std::ifstream in(r);
      std::stringstream ss;
      ss << in.rdbuf();
      check(*c.policy, *router, f.string(), ss.str());
    }
    for (int i = 0; i < 200; ++i)
      check(*c.policy, *router, f.string(), gen::RandomInput(rng, models[rng.Below(models.size())]));
  }
  std::printf("router differential: %llu routes, %llu routed-endpoint require checks, "
              "%llu policy eliminations checked, %llu disagreements\n",
              (unsigned long long)routed, (unsigned long long)checked_routed,
              (unsigned long long)checked_elim, (unsigned long long)failures);
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(checked_routed + checked_elim, 0u);
}

}  // namespace
}  // namespace tollgate
