// libFuzzer target: runtime::MeasurePrompt (the worst-case prompt of a
// reservation, runtime/decide/prompt_bound.h) on arbitrary bytes, as a chat
// body and as a decision input. Never crashes or over-reads, and the bound
// is sane: the text counted is never more than the bytes given (it is the
// body as minified JSON, decoded, with payloads and routing members left
// out), no count is negative, and the tokens stay within the context length.
// Built by -DTOLLGATE_FUZZ=ON (docs/fuzzing.md).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/decide/prompt_bound.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate::runtime;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  Endpoint ep;
  ep.context_length = 1'000'000;
  for (PromptSource source : {PromptSource::kBody, PromptSource::kDecisionInput}) {
    PromptShape s;
    const bool ok = MeasurePrompt(json, source, &s);
    if (ok != !s.unparsed || !s.measured) std::abort();
    const int64_t tokens = WorstCasePromptTokens(s, ep);
    if (tokens < 0 || tokens > ep.context_length) std::abort();
    if (!ok) continue;
    const int64_t n = static_cast<int64_t>(size);
    if (s.text_bytes < 0 || s.text_bytes > n) std::abort();
    if (s.messages < 0 || s.tools < 0 || s.images < 0 || s.files < 0) std::abort();
    if (s.audio_bytes < 0 || s.audio_bytes > n) std::abort();
    if (s.prediction_bytes < 0 || s.prediction_bytes > s.text_bytes) std::abort();
  }
  return 0;
}
