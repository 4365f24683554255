// Reading an upstream's answer as it is relayed (not an API; server_chat.cc):
// the usage and the delivered text of a whole answer (UsageOf) or of a
// stream (SseTracker), and whether a Content-Type names JSON. No Asio or
// Beast here.
//
// Thread safety: pure functions; an SseTracker belongs to one stream.
// Cost: one SAX pass over the bytes (no DOM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/gateway/service.h"

namespace tollgate::gateway::internal {

// Parses "data: {...}" lines of an SSE stream as they pass: the usage chunk
// and the bytes of the delivered text (UsageReader's, to estimate tokens
// when no usage chunk came: a cut stream, a provider that sends none).
// The gateway always asks the upstream for the usage chunk; a caller that
// did not ask for it (stream_options.include_usage) does not get it, as
// from OpenAI: with `drop_usage` Feed relays whole events only and leaves
// out the usage-only one (`choices: []` and a `usage` object), which code
// such as `chunk.choices[0].delta` does not expect. Without it Feed relays
// whole lines. Either way a line the upstream tears (its connection cut
// part-way) never reaches the client: glued to the error event that
// follows, it would make one event no SDK can parse.
struct SseTracker {
  bool drop_usage = false;
  // The longest line read whole (upstream.max_response_bytes): a longer
  // one is relayed but not parsed, and the stream's completion is then
  // unknown (`line_too_long`): charged at the worst case unless a usage
  // chunk reports it.
  size_t max_line = 16u << 20;
  bool line_too_long = false;  // some data line exceeded max_line
  std::string line;
  std::string event;  // drop_usage: the bytes of the event being read
  std::string held;   // otherwise: the bytes of the line being read
  bool usage_event = false;
  int64_t prompt = -1, completion = -1;
  int64_t text_bytes = 0;  // of the deltas' counted text (CountedTextKey)
  bool done = false;         // a `data: [DONE]` line was read: the stream is over
  bool error_event = false;  // an error event (`data: {"error": ...}`): so is it
  bool ended = false;        // and the blank line ending that event: Feed takes no more
  bool data_line = false;    // a whole `data:` line was read (or one over max_line)
  int64_t chunks = 0;        // such lines other than [DONE]
  bool comment_line = false; // a whole comment line (`: OPENROUTER PROCESSING`, a keep-alive)
  // Where the bytes relayed so far end: between events, inside an event
  // (after a whole line), or inside a line.
  enum class At { kEventStart, kLineStart, kMidLine };
  At at = At::kEventStart;
  // Appends to *out what goes on to the client: up to the end of the
  // [DONE] event, nothing after it.
  void Feed(std::string_view piece, std::string* out);
  // The stream is over (the upstream's body ended, failed, or [DONE] or an
  // error event came; `clean`: its body ended without an error): the rest
  // of the last event -- not its unfinished line when the upstream was cut,
  // which would be torn JSON -- then the line ending and blank line the
  // client still lacks, so that its parser reads every event it got whole
  // and the gateway's error event, if one follows, apart.
  void End(std::string* out, bool clean);
  // Appends `bytes` to *out and notes where they leave the client's parser.
  void Relay(std::string_view bytes, std::string* out);

 private:
  void Line();  // the whole `line` just read
};

// Whether a Content-Type names JSON (`application/json`, `...+json`, any
// parameters).
bool JsonMediaType(std::string_view type);

// Returns whether `body` is a chat completion (JSON with a top-level
// `choices` array); nothing is taken from one that is not JSON. Fills
// o->prompt_tokens and o->completion_tokens from its usage (without usage,
// the completion estimated from its text, o->usage_estimated).
bool UsageOf(std::string_view body, Outcome* o);

}  // namespace tollgate::gateway::internal
