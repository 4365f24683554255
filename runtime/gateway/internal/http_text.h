// Small text helpers of the gateway server (not an API): header and query
// values, the explain header's cap, the admin API's policy body. No Asio or
// Beast here.
//
// Thread safety: pure functions. Cost: linear in their input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"

namespace tollgate::gateway::internal {

// ASCII case-insensitive equality. Not beast::iequals: Boost 1.74's reads one
// byte past both strings when they differ only in case at the last byte
// (ASan: heap-buffer-overflow on a query parameter).
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The longest `x-tollgate-explain` value (docs/gateway.md): Node's HTTP
// client refuses a response head over 16 KB (HPE_HEADER_OVERFLOW), and the
// OpenAI SDK then retries a request that was answered (and billed).
constexpr size_t kMaxExplainBytes = 8192;

// `eliminated` (runtime::EliminatedJson's array) as a header value of at
// most kMaxExplainBytes: the entries that fit, whole, in order, then
// `{"truncated":N}` for the N left out.
std::string CapExplain(std::string eliminated);

// The longest wait passed on from upstreams' `retry-after` (an hour).
constexpr int64_t kMaxUpstreamRetryAfterMs = 3600 * 1000;

// How long an upstream's 429 asks the caller to wait, in milliseconds, from
// the headers the OpenAI SDKs read, in their order: `retry-after-ms`, then
// `retry-after` as delta-seconds (a fraction, as some providers send, is
// rounded up) or as an HTTP-date (a past one is 0). -1 when there is none or
// it does not read; at most kMaxUpstreamRetryAfterMs.
int64_t UpstreamRetryAfterMs(std::string_view after_ms, std::string_view after, int64_t now_s);

// `unix_s` as an HTTP-date in its IMF-fixdate form (RFC 9110 5.6.7, `Thu,
// 03 Dec 2026 11:42:49 GMT`: English names whatever the locale), the value
// of the `Date` header an origin server sends on every answer (RFC 9110
// 6.6.1).
std::string HttpDate(int64_t unix_s);

// A boolean query parameter `name` of `target` into *value: absent is
// false, a bare `name` is true, and `name=V` takes V in the usual spellings
// (1/0, true/false, yes/no, on/off, any case). False for any other value
// (`name=`, `name=maybe`, a percent-encoded one) or for a repeat that
// disagrees: the caller answers 400 invalid_query, never a silent default.
bool QueryFlag(std::string_view target, std::string_view name, bool* value);

// POST /admin/policy's body: a policy source, or (first byte, after blanks,
// `{`) the JSON `{"files": {"PATH": "SOURCE", ...}}` whose paths anchor
// relative `data` and `schema` paths. The JSON form is checked strictly:
// false with *error (400 invalid_policy_body, naming the member) for
// malformed JSON, another member than `files`, a `files` that is not a
// non-empty object, a path that is empty or repeated, or a source that is not
// a string. *is_json: the body is the JSON form (else *out is untouched).
bool PolicyFilesOf(std::string_view body, bool* is_json, std::vector<SourceText>* out, std::string* error);

// A request target in origin form (`/v1/models?x`): an absolute-form one
// (`http://host:port/v1/models?x`, any case of `http`/`https`, what a client
// taking the gateway for its proxy sends; RFC 9112 3.2.2: a server MUST
// accept it) without its scheme and authority, `/` when it names no path;
// any other target as it is. A view into `target`, or a static `/`.
std::string_view OriginForm(std::string_view target);

// The endpoint a request target names: its origin form's path, without the
// query and without one trailing slash (`/v1/models/` is `/v1/models`).
std::string_view EndpointPath(std::string_view target);

// A path segment percent-decoded (RFC 3986: `%2F` is `/`; the SDKs encode
// a model id's slash). False on a `%` not followed by two hex digits.
bool PercentDecode(std::string_view in, std::string* out);

}  // namespace tollgate::gateway::internal
