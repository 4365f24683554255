// libFuzzer target: the fuzzer's bytes seed the random policy and input
// generators (tests/differential/generate.h); the VM and the reference
// interpreter must agree. Not built by default; see build.sh.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input.h"
#include "tests/differential/generate.h"
#include "tests/differential/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  uint64_t seed = 0;
  std::memcpy(&seed, data, size < 8 ? size : 8);
  gen::Rng rng(seed);
  Compiled c = CompileSource("gen.tg", gen::RandomPolicy(rng), {});
  if (!c.policy) return 0;
  vm::Record rec;
  runtime::InputError err;
  if (!runtime::DecodeInput(gen::RandomInput(rng), c.policy->schema(), {}, &rec, &err)) return 0;
  vm::Decision vd, rd;
  vm::Evaluate(c.policy->program(), rec, {}, &vd);
  ref::Evaluate(c.policy->ast(), c.policy->schema(), rec, &rd);
  if (!ref::Diff(rd, vd, c.policy->ast()).empty()) std::abort();
  return 0;
}
