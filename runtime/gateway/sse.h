// A non-streamed chat completion as the server-sent events a streamed
// request expects: for an upstream that answers `stream: true` with a whole
// `application/json` body. The OpenAI SDKs read a streamed request's body
// as events whatever its content type, so that body relayed as it came
// would make their iterators yield nothing; as events it reads as the
// stream of the same answer.
//
//   std::string events;
//   switch (CompletionAsSse(body, include_usage, &events)) {
//     case SseConversion::kCompletion: ...      // send `events`, settle at body's usage
//     case SseConversion::kError: ...           // `events` is one error event
//     case SseConversion::kNotACompletion: ...  // nothing usable: answer 502
//   }
//
// Thread safety: pure. Cost: one parse of `body` into a DOM and one write.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::gateway {

enum class SseConversion {
  kCompletion,      // *out: a chunk per choice, the usage chunk, [DONE]
  kError,           // a top-level non-null `error` member: *out is `data: {"error": ...}`
  kNotACompletion,  // not JSON, or an object with neither `choices` nor `error`: *out empty
};

// A chat completion (`{"id", "created", "model", "choices": [{"index",
// "message", "finish_reason", "logprobs"}], "usage", ...}`) as chunk events:
// one `chat.completion.chunk` per choice whose `delta` is the choice's
// message (each tool call numbered with its `index`) and that carries its
// `finish_reason`; then, with `include_usage`, the usage chunk (`choices:
// []`); then `data: [DONE]`. `id`, `created`, `model`, `system_fingerprint`
// and `service_tier` are copied into each chunk.
SseConversion CompletionAsSse(std::string_view body, bool include_usage, std::string* out);

}  // namespace tollgate::gateway
