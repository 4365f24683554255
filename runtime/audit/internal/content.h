// Retention and credential scrubbing of decision inputs (log.h "Retention
// and credentials"), the inverse used by replay, and raw member spans of a
// record line. All streaming (rapidjson SAX): numbers keep their exact text.
// Not API. Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ast/ast.h"
#include "runtime/audit/reader.h"
#include "stdlib/schema.h"

namespace tollgate::audit::internal {

// The record format of retained content: 1 (records without "format"):
// message texts and function.arguments of tool calls are the texts; 2 (the
// writer's): also custom.input of tool calls and a message's deprecated
// function_call.arguments, and every other member outside the allow-list is
// omitted (docs/audit.md "Retention").
inline constexpr int kContentFormat = 2;

// The schema fields a `hash`/`none` record keeps as received, as dotted
// paths of the decision input: every non-derived request-scope field but
// request.messages and request.tools (which the renderer walks member by
// member), every candidate-scope field under "candidate.", and the members
// the decoder tolerates in their place (request.max_completion_tokens,
// request.provider.max_price.image). Immutable once built.
struct KeptFields {
  std::vector<std::string> fields;    // sorted
  std::vector<std::string> prefixes;  // sorted proper dotted prefixes of `fields`
  static std::shared_ptr<const KeptFields> Of(const stdlib::Schema& schema);
  static const KeptFields& Standard();  // Of(Schema::Standard())
};

// Rewrites the decision input `raw` (valid JSON, as decoded) for a record:
// one line, credentials removed, content kept per `retain`: with `full`
// everything; with `hash`/`none` the fields of `kept` (null: the standard
// schema's) and the identifiers of the chat body's allow-list as received,
// each text (message content, tool-call arguments) as "" with its length
// (and, for `hash`, its HMAC-SHA-256 under `hmac_key`), every other value
// as an empty placeholder of its JSON type with its path and size (and
// HMAC). *input is the JSON to store; *content the "content" member's JSON
// (empty when the record keeps the input untouched). False when `raw` does
// not parse (it is then stored as a JSON string and *content says so).
bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  const KeptFields* kept, std::string* input, std::string* content);

// Replay: rebuilds the input to decode from a recorded one. `lengths` (from
// the record's "content") puts filler text of each recorded byte length back
// into every text of content format `format`, in document order, so that
// token estimates and costs come out as they did; `clock` (when not empty)
// becomes context.time unless the input has one. False when `recorded` does
// not parse.
bool RebuildInput(std::string_view recorded, const std::vector<uint64_t>* lengths, int format,
                  std::string_view clock, std::string* out);

// True when `name` (any case) names a credential: authorization,
// proxy-authorization, api_key, api-key, apikey, x-api-key, password,
// secret, client_secret, access_token, refresh_token, cookie, set-cookie.
bool IsCredentialName(std::string_view name);

// The raw text of each top-level member value of a JSON object line.
bool TopLevelSpans(std::string_view line, std::vector<RawMember>* out);

// TopLevelSpans for replay, fast on the lines log.cc writes: the members
// before "input" by SAX, "content"?, "decision", "endpoints" and "hash"
// located from the end of the line by the writer's fixed layout and each
// parsed by rapidjson to confirm it, "input" the text between (checked when
// it is decoded). Any other line gets TopLevelSpans. Same result either way
// for a valid record line.
bool RecordSpans(std::string_view line, std::vector<RawMember>* out);

}  // namespace tollgate::audit::internal
