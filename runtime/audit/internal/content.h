// Retention and credential scrubbing of decision inputs (log.h "Retention
// and credentials"), the inverse used by replay, and raw member spans of a
// record line. All streaming (rapidjson SAX): numbers keep their exact text.
// Not API. Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ast/ast.h"
#include "runtime/audit/reader.h"

namespace tollgate::audit::internal {

// Rewrites the decision input `raw` (valid JSON, as decoded) for a record:
// one line, credentials removed, message texts kept per `retain`. *input is
// the JSON to store; *content the "content" member's JSON (empty when the
// record keeps the text untouched). False when `raw` does not parse (it is
// then stored as a JSON string and *content says so).
bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  std::string* input, std::string* content);

// Replay: rebuilds the input to decode from a recorded one. `lengths` (from
// the record's "content") puts filler text of each recorded byte length back
// into every message text and tool-call argument, in document order, so that
// token estimates and costs come out as they did; `clock` (when not empty)
// becomes context.time unless the input has one. False when `recorded` does
// not parse.
bool RebuildInput(std::string_view recorded, const std::vector<uint64_t>* lengths,
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
