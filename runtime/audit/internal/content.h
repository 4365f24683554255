// Retention and credential scrubbing of decision inputs (log.h "Retention
// and credentials"), and the inverse used by replay. Not API.
// Thread safety: reentrant.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "engine/ast/ast.h"

namespace tollgate::audit::internal {

// Rewrites the decision input `raw` (valid JSON, as decoded) for a record:
// one line, credentials removed, message texts kept per `retain`. *input is
// the JSON to store; *content the "content" member's JSON (empty when the
// record keeps the text untouched). False when `raw` does not parse (it
// then is stored as a JSON string and *content says so).
bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  std::string* input, std::string* content);

// Replay: puts a filler text of the recorded byte length back into every
// message text and tool-call argument that retention emptied, so that token
// estimates and costs come out as they did. Returns true when the record's
// content was not kept as is (retention or scrubbing): rules that read the
// text are then not replayable.
bool RestoreContent(rapidjson::Value* input, const rapidjson::Value* content,
                    rapidjson::Document::AllocatorType& alloc);

// True when `name` (any case) names a credential: authorization,
// proxy-authorization, api_key, api-key, apikey, x-api-key, password,
// secret, client_secret, access_token, refresh_token, cookie, set-cookie.
bool IsCredentialName(std::string_view name);

}  // namespace tollgate::audit::internal
