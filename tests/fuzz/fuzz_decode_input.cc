// libFuzzer target: runtime::DecodeInput on arbitrary bytes, then evaluate
// the decoded request with the VM and the reference interpreter on a fixed
// policy and require they agree. Built by -DTOLLGATE_FUZZ=ON (docs/fuzzing.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"
#include "tests/differential/reference.h"

namespace {
const char kPolicy[] = R"(policy "fuzz"
const eu = {"DE", "FR", "NL"}
const caps = {"gpt-4o": 4096}
rule a on_error skip { when (request.max_tokens ?? 0) > get(caps, request.model, 0) deny 400 "too many" }
rule b { when (principal.jurisdiction ?? "") in eu require provider.jurisdiction in eu }
rule c { when request.content matches dlp.credit_card redact dlp.credit_card as "[CARD]" }
rule d mode shadow { when any m in request.messages: m.content contains "ignore" deny "inj" }
rule e { when (request.temperature ?? 1.0) * 2 > 1.5 and context.time - context.time == 0ms tag t = request.input_tokens }
)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  static std::shared_ptr<const Policy> policy = [] {
    Compiled c = CompileSource("fuzz.tg", kPolicy, {});
    if (!c.policy) {
      std::fprintf(stderr, "the fixed policy does not compile:\n%s\n", c.diagnostics.Render().c_str());
      std::abort();
    }
    return c.policy;
  }();
  vm::Record rec;
  runtime::InputError err;
  std::string_view json(reinterpret_cast<const char*>(data), size);
  if (!runtime::DecodeInput(json, policy->schema(), {}, &rec, &err)) return 0;
  vm::Decision vd, rd;
  vm::Evaluate(policy->program(), rec, {}, &vd);
  ref::Evaluate(policy->ast(), policy->schema(), rec, &rd);
  if (!ref::Diff(rd, vd, policy->ast()).empty()) std::abort();
  return 0;
}
