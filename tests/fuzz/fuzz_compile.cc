// libFuzzer target: CompileSource on arbitrary text (parser, checker,
// compiler must never crash; a policy that compiles must also disassemble).
// Built by -DTOLLGATE_FUZZ=ON (docs/fuzzing.md).
#include <cstdint>
#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  Compiled c = CompileSource("fuzz.tg", std::string(reinterpret_cast<const char*>(data), size), {});
  if (c.policy) (void)vm::Disassemble(c.policy->program());
  else (void)c.diagnostics.Render();
  return 0;
}
