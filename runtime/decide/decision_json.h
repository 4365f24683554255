// Rendering a vm::Decision as JSON, and applying its redactions to a request.
//
// ## The decision document
//
//   {"outcome": "deny", "status": 403, "code": "policy_denied",
//    "reason": "model not allowed", "rules": ["model_allowlist"], "shadow": [],
//    "advisory": [], "requires": [{"rule": "eu", "predicate": "provider.jurisdiction in eu"}],
//    "shadow_requires": [], "redactions": [{"rule": "cards", "pattern": "dlp.credit_card",
//    "replacement": "[CARD]"}], "route": {"sort": "price", "max_price": {"cost": "1"},
//    "order": []}, "tags": {"team": "ml"}, "warnings": [{"rule": "r", "message": "m"}],
//    "errors": [{"rule": "r", "code": "eval_arithmetic_error", "message": "..."}],
//    "policy": {"name": "acme", "version": "sha256:..."}, "instructions": 42,
//    "time": "2026-01-05T10:00:00Z", "time_source": "input"}
//
// `time` is the instant the policy saw as context.time; `time_source` is
// "clock" when the input had none and the evaluating clock filled it in (a
// replay passes it back through runtime::DecodeOptions::now_ms). Both are
// absent when the record did not come from runtime::DecodeInput.
//
// With `explain`, "trace": [{"rule", "fired", "error", "values": {path: value}}]
// follows; raw content is summarised there, never copied (engine/vm/internal/trace.h). Keys always appear in this order; tag keys are sorted (the first
// rule to set a key wins). Money renders as exact decimal strings.
// route.max_price holds only the limits some rule set: "cost" (the request's
// estimated cost), "prompt" / "completion" (per million tokens), "request".
//
// ## Redactions
// ApplyRedactions rewrites every text of a request body (the `request`
// object of a decision input, or the whole input) that request.content is
// made of (runtime/input/request_texts.h: message contents and parts,
// refusals, tool-call arguments, message names, the prediction, tool
// descriptions and parameter-schema texts, the response schema's) with the
// decision's redactions, using stdlib's Redactor (ApplyJoined: a match across
// two texts is removed from both). A text that is a JSON object or array
// (tool-call arguments) stays valid JSON: a redacted number or literal
// becomes a JSON string (stdlib/redact.h, "JSON texts"); a match spelled
// with JSON string escapes (`4111\u00a01111...`) is replaced whole escapes
// at a time. A message's `name` and the response schema's `name` get
// name-safe placeholders (`REDACTED_CARD`: stdlib::Redactor::Piece::kName),
// as OpenAI refuses any other name. A leading UTF-8 byte order mark is
// skipped.
//
// Thread safety: pure functions; the Program is only read.
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

#include "engine/vm/decision.h"
#include "engine/vm/program.h"

namespace tollgate::runtime {

struct DecisionJsonOptions {
  bool explain = false;  // include "trace"
  bool pretty = false;   // indented (otherwise one line)
};

// The whole decision document.
std::string DecisionToJson(const vm::Decision& d, const vm::Program& program,
                           const DecisionJsonOptions& options);

// Writes the decision's members (without the enclosing braces) so callers can
// add their own (`tollgate route` adds "endpoints"). Same order as above.
void WriteDecisionMembers(rapidjson::Writer<rapidjson::StringBuffer>* w, const vm::Decision& d,
                          const vm::Program& program, bool explain);
void WriteDecisionMembers(rapidjson::PrettyWriter<rapidjson::StringBuffer>* w,
                          const vm::Decision& d, const vm::Program& program, bool explain);

// Name of rule `id` ("?" when out of range, e.g. a budget key error).
std::string_view RuleName(const vm::Program& program, uint32_t id);

// Applies the decision's redactions to the texts of `input_json` (a full
// decision input with a "request" member, or a bare request body) and
// returns the rewritten body as JSON in *out. The texts are rewritten (as
// strings, escaped by rapidjson); everything else is copied unchanged. Returns false with
// *error set when the JSON does not parse or a pattern does not compile.
// Cost: one scan per redaction per text, and one over the joined texts.
bool ApplyRedactions(std::string_view input_json, const vm::Decision& d,
                     const vm::Program& program, std::string* out, std::string* error);

}  // namespace tollgate::runtime
