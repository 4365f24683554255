// libFuzzer target: the router on random catalogs and preferences. From the
// fuzzer's bytes (FuzzedDataProvider): a catalog of 1-12 endpoints over three
// models and five providers, a random policy (tests/differential/generate.h)
// and a request with provider preferences. Routing must never crash, and
// every chosen endpoint must pass every filter: each policy require of the
// decision (in the reference interpreter), zdr, data_collection, only and
// ignore, and serve one of the models considered. Built by -DTOLLGATE_FUZZ=ON.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/catalog.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"
#include "tests/differential/generate.h"
#include "tests/differential/reference.h"

namespace {

const char* kModels[] = {"gpt-4o", "claude-sonnet", "llama-70b"};
const char* kProviders[] = {"openai", "azure", "anthropic", "together", "cheapcloud"};

[[noreturn]] void Fail(const std::string& what, const std::string& catalog, const std::string& input) {
  std::fprintf(stderr, "%s\n--- catalog:\n%s\n--- input:\n%s\n", what.c_str(), catalog.c_str(),
               input.c_str());
  std::abort();
}

std::string Catalog(FuzzedDataProvider& f) {
  std::string out = "{\"endpoints\": [";
  int n = f.ConsumeIntegralInRange(1, 12);
  for (int i = 0; i < n; ++i) {
    bool zdr = f.ConsumeBool();
    bool trains = !zdr && f.ConsumeBool();
    bool collect = trains || (!zdr && f.ConsumeBool());
    // The catalog refuses max_output_tokens above context_length.
    int context = f.ConsumeIntegralInRange(1000, 200000);
    int max_output = f.ConsumeIntegralInRange(100, std::min(8192, context));
    out += std::string(i ? "," : "") + "{\"id\": \"e" + std::to_string(i) + "\", \"model\": \"" +
           kModels[f.ConsumeIntegralInRange(0, 2)] + "\", \"provider\": \"" +
           kProviders[f.ConsumeIntegralInRange(0, 4)] +
           "\", \"upstream\": {\"base_url\": \"https://x.example/v1\", \"auth\": {\"type\": \"bearer\", \"env\": \"K\"}}" +
           ", \"pricing\": {\"input_per_mtok\": \"" + std::to_string(f.ConsumeIntegralInRange(0, 30)) +
           "\", \"output_per_mtok\": \"" + std::to_string(f.ConsumeIntegralInRange(0, 60)) +
           "\", \"per_request\": \"0\"}, \"context_length\": " +
           std::to_string(context) + ", \"max_output_tokens\": " + std::to_string(max_output) + ", \"jurisdiction\": \"" +
           (f.ConsumeBool() ? "US" : "DE") + "\", \"region\": \"r\", \"quantization\": \"unknown\", \"zdr\": " + (zdr ? "true" : "false") +
           ", \"trains_on_data\": " + (trains ? "true" : "false") + ", \"data_collection\": \"" +
           (collect ? "allow" : "deny") + "\", \"retention_days\": " + (zdr ? "0" : "30") +
           ", \"supported_parameters\": [\"max_tokens\", \"temperature\"]" +
           ", \"observed\": {\"latency_p50\": 0.5, \"throughput\": 50, \"uptime\": 0.99}}";
  }
  return out + "]}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  FuzzedDataProvider f(data, size);
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  std::string catalog_json = Catalog(f);
  runtime::Catalog catalog;
  runtime::CatalogError cerr;
  if (!runtime::Catalog::Load(catalog_json, schema, &catalog, &cerr))
    Fail("the generated catalog does not load: " + cerr.message, catalog_json, "");

  gen::Rng rng([&f](uint64_t n) { return f.ConsumeIntegralInRange<uint64_t>(0, n - 1); });
  Compiled c = f.ConsumeBool() ? CompileSource("gen.tg", gen::RandomPolicy(rng), {})
                               : CompileSource("none.tg", "policy \"none\"\n", {});
  if (!c.policy) return 0;
  std::string err;
  auto router = runtime::Router::Create(*c.policy, catalog, nullptr, {}, &err);
  if (!router) Fail("router refused a catalog built for its schema: " + err, catalog_json, "");

  // Preferences.
  bool zdr = f.ConsumeBool(), deny_collection = f.ConsumeBool();
  std::vector<std::string> only, ignore;
  for (const char* p : kProviders) {
    uint8_t k = f.ConsumeIntegralInRange(0, 3);
    if (k == 1) only.push_back(p);
    if (k == 2) ignore.push_back(p);
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
    return s + "]";
  };
  std::string provider = std::string("\"zdr\": ") + (zdr ? "true" : "false") +
                         ", \"data_collection\": \"" + (deny_collection ? "deny" : "allow") + "\"";
  if (!only.empty()) provider += ", \"only\": " + list(only);
  if (!ignore.empty()) provider += ", \"ignore\": " + list(ignore);
  std::string input = std::string("{\"principal\": {\"workspace\": \"acme\"}, \"request\": {\"model\": \"") +
                      kModels[f.ConsumeIntegralInRange(0, 2)] +
                      "\", \"messages\": [{\"role\": \"user\", \"content\": \"" +
                      (f.ConsumeBool() ? "hello" : "my card is 4111 1111 1111 1111") +
                      "\"}], \"provider\": {" + provider + "}}}";

  vm::Record rec;
  runtime::InputError ierr;
  if (!runtime::DecodeInput(input, schema, {}, &rec, &ierr))
    Fail("the generated input does not decode: " + ierr.message, catalog_json, input);
  vm::Decision d;
  vm::Evaluate(c.policy->program(), rec, {}, &d);
  if (d.outcome == vm::Outcome::kDeny) return 0;
  runtime::RouteResult res;
  router->Route(d, rec, &res);
  (void)runtime::EndpointsJson(catalog, res);
  (void)runtime::EliminatedJson(catalog, c.policy->program(), res);

  const int cost_slot = catalog.estimated_cost_slot();
  for (const runtime::RoutedEndpoint& r : res.endpoints) {
    const runtime::Endpoint& e = catalog.endpoint(r.endpoint);
    if (zdr && !e.zdr) Fail("routed " + e.id + " despite zdr", catalog_json, input);
    if (deny_collection && (e.data_collection || e.trains_on_data))
      Fail("routed " + e.id + " despite data_collection deny", catalog_json, input);
    if (!only.empty() && std::find(only.begin(), only.end(), e.provider) == only.end())
      Fail("routed " + e.id + " outside `only`", catalog_json, input);
    if (std::find(ignore.begin(), ignore.end(), e.provider) != ignore.end())
      Fail("routed " + e.id + " from an ignored provider", catalog_json, input);
    if (std::find(res.models.begin(), res.models.end(), e.model) == res.models.end())
      Fail("routed " + e.id + " for a model not considered", catalog_json, input);
    vm::Record cand;
    cand.slots = catalog.candidate(r.endpoint).slots;
    if (cost_slot >= 0) cand.slots[cost_slot] = Value::Money(r.estimated_cost);
    for (const vm::RequireRef& rq : d.require_refs) {
      ref::RequireResult rr = ref::EvalRequire(c.policy->ast(), schema, rq.require, rec, cand);
      if (!rr.pass) Fail("routed " + e.id + " fails require " + std::to_string(rq.require), catalog_json, input);
    }
  }
  return 0;
}
