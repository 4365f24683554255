// libFuzzer target: structured differential testing. Every choice of the
// random policy and input generators (tests/differential/generate.h) is drawn
// from the fuzzer's bytes through FuzzedDataProvider, so coverage feedback
// steers the shapes of the policies and requests; the VM and the reference
// interpreter must agree on each. Built by -DTOLLGATE_FUZZ=ON.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"
#include "tests/differential/generate.h"
#include "tests/differential/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  FuzzedDataProvider fdp(data, size);
  // Exhausted bytes read as 0: every generator then takes its first choice,
  // so generation always ends.
  gen::Rng rng([&fdp](uint64_t n) { return fdp.ConsumeIntegralInRange<uint64_t>(0, n - 1); });
  std::string src = gen::RandomPolicy(rng);
  Compiled c = CompileSource("gen.tg", src, {});
  if (!c.policy) return 0;
  for (int i = 0; i < 4 && fdp.remaining_bytes() > 0; ++i) {
    std::string json = gen::RandomInput(rng);
    vm::Record rec;
    runtime::InputError err;
    if (!runtime::DecodeInput(json, c.policy->schema(), {}, &rec, &err)) continue;
    vm::Decision vd, rd;
    vm::Evaluate(c.policy->program(), rec, {}, &vd);
    ref::Evaluate(c.policy->ast(), c.policy->schema(), rec, &rd);
    std::string diff = ref::Diff(rd, vd, c.policy->ast());
    if (!diff.empty()) {
      std::fprintf(stderr, "VM and reference disagree: %s\n--- policy:\n%s\n--- input:\n%s\n",
                   diff.c_str(), src.c_str(), json.c_str());
      std::abort();
    }
  }
  return 0;
}
