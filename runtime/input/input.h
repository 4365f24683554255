// The decision input: JSON in, vm::Record out.
//
// ## The document
//
//   {"principal": {"workspace": "acme", "user": "u1", "jurisdiction": "DE"},
//    "request":   {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
//                  "max_tokens": 256, "provider": {"zdr": true, "sort": "price"}},
//    "context":   {"time": "2026-01-05T10:00:00Z", "data_class": "internal"}}
//
// `request` is an OpenAI-compatible chat-completions body with OpenRouter's
// `provider` preferences; docs/decision-input.md documents every field. Every
// request-scoped field of the schema is filled by its path, so a deployment
// that extends the schema (principal.department, ...) needs no code change.
//
// ## Decoding
//
//   vm::Record rec;                        // reuse one per worker thread
//   runtime::InputError err;
//   if (!runtime::DecodeInput(json, schema, limits, &rec, &err))
//     return Reply(400, err.code, err.message);   // err.path names the field
//
// Decoding is strict and never crashes on hostile input. Error codes (stable):
//   input_too_large          more than Limits::max_input_bytes
//   input_too_deep           nesting deeper than Limits::max_input_depth
//   input_malformed_json     not JSON (message carries the byte offset)
//   input_invalid_utf8       the document is not valid UTF-8 (message has the offset)
//   input_wrong_type         a field has the wrong JSON type (path names it)
//   input_missing_field      a required field is absent or null
//   input_unknown_field      an unknown member of principal, context,
//                            request.provider (or any other schema object
//                            except the top-level request body, which accepts
//                            every other OpenAI parameter)
//   input_too_many_elements  a list longer than max_messages/max_list_elements
//   input_duplicate_key      an object read by the decoder names a member twice
//   input_invalid_value      a value of the right type outside its allowed set
//                            (negative max_tokens, an n below 1 or not an
//                            integer, sort.partition other than `model`,
//                            a candidate value the catalog refuses)
//
// Mapping: strings; int = an integral JSON number; decimal/money = a JSON
// number (rounded half-even to 6 fractional digits) or a decimal string
// (exact, at most 6 fractional digits); bool; time = RFC 3339 string;
// duration = integer milliseconds; set<T> = array (de-duplicated); list<T> =
// array; map<T> = object. A JSON null counts as absent. Absent optional
// scalars are null, except an int field with a schema `default` (request.n,
// the completions asked for: 1), absent sets/lists empty (in nested records too); an
// absent `context.time` is the evaluating clock's instant (DecodeOptions). Messages are records
// {role, content, name?}: content is a string, or an array of parts whose
// text parts are joined with "\n"; an assistant message may have null or no
// content (tool calls), read as "". Aliases: max_completion_tokens ->
// request.max_tokens; provider.sort may be "price" or {"by": "price", ...};
// provider.preferred_max_latency / preferred_min_throughput may be a number
// or {"p50"|"p75"|"p90"|"p99": n, ...} (the strictest value is kept: the
// catalog has p50 figures only); request.tools is the set of function tool
// names. A message's text includes its tool_calls[].function.arguments
// (joined with "\n"). A leading UTF-8 byte order mark is skipped.
// Model names (stdlib/names.h): request.model and request.models hold the
// ids without their variant suffixes (`openai/gpt-4o` for
// `openai/gpt-4o:nitro`); derived request.model_full / request.models_full
// keep the slugs as sent, request.model_variant the suffix ("" when none) and
// request.variants every suffix named.
// Derived: request.content (message texts joined with "\n"),
// request.input_tokens (stdlib::EstimateTokens of it) and request.parameters
// (names of the non-null top-level body members, max_completion_tokens
// counted as max_tokens, minus the transport members: debug, messages,
// metadata, model, models, plugins, preset, provider, route, service_tier,
// session_id, store, stream, stream_options, transforms, usage, user).
//
// ## Cost and memory
// The JSON is copied once into Record::buffer and parsed in place; string
// values point into that buffer, so a Record must not be copied (its Values
// would point into the original). A 1 KB input decodes in about 2.2 us
// (BM_Decode1KB, CPU time on a shared 2-core machine); the per-schema
// decoding plan, with each object's member names indexed, is built once and
// cached.
//
// ## Thread safety
// DecodeInput is reentrant (per-thread scratch); a Record is written by one
// thread at a time. The Schema must not change while inputs are decoded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/limits.h"
#include "engine/vm/record.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {

struct InputError {
  std::string code;     // stable, e.g. "input_wrong_type"
  std::string message;  // lowercase, one line, field paths in backticks
  std::string path;     // JSON path of the offending value ("request.messages[1].role"); may be empty
};

// The evaluating clock. A clock field of the schema (`context.time`) that the
// input leaves out is filled with `now_ms` when set (tests, and replays of a
// recorded decision: pass Decision::time back), else with the system clock,
// read once per input. The instant used, and whether it came from the clock,
// is recorded in Record::time and from there in Decision::time.
struct DecodeOptions {
  std::optional<int64_t> now_ms;
};

// The system clock in Unix milliseconds.
int64_t SystemClockMs();

// Decodes `json` into *out (cleared first; slots sized to the schema's
// request scope). Returns false with *err filled on any error; *out is then
// unspecified (but safe to Clear and reuse). The first overload reads the
// system clock for an absent `context.time`.
bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 vm::Record* out, InputError* err);
bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 const DecodeOptions& options, vm::Record* out, InputError* err);

// The endpoint the caller has already chosen, from the input's top-level
// `candidate` member (docs/decision-input.md): {"provider": {"name": ...},
// "endpoint": {"id": ...}} with the candidate-scope fields of the schema.
// *present = false (and true is returned) when there is no such member.
// Decoding follows the same rules and error codes as DecodeInput (paths
// start with `candidate.`). Names are completed as the catalog does
// (candidate_names.h: provider.name "amazon-bedrock/us-east-1" reads as
// provider.name "amazon-bedrock" and provider.slug the full slug;
// endpoint.model is split into model / model_full / model_variant), and a
// value the catalog refuses (a slug with upper case or spaces, a country
// code that is not an assigned upper-case alpha-2 code, an unknown tier,
// quantization or data_collection, a negative number, two names that
// disagree) is input_invalid_value. Cost: a second parse of `json`.
bool DecodeCandidate(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                     vm::Record* out, bool* present, InputError* err);

// Whether `json` may have a `candidate` member: true when the text holds
// `"candidate"` anywhere (then DecodeCandidate says whether the document
// has one). The cheap test before that second parse: one memmem pass,
// where std::string_view::find stops at every quote of the document.
bool MentionsCandidate(std::string_view json);

// Builds this thread's decoding plans for `schema` (the request's and the
// `candidate` member's) now; the first DecodeInput of a thread would
// otherwise (vm::WarmThread says why a server does this).
void WarmDecoderThread(const stdlib::Schema& schema);

// Renders an InputError as {"error": {"code", "message", "path"}} (one line).
std::string InputErrorJson(const InputError& err);

}  // namespace tollgate::runtime
