#!/usr/bin/env bash
# End-to-end tests of `tollgate serve` with real clients (curl and the
# official `openai` npm package) against the stub upstream
# (tests/gateway/stub_upstream.cc), all on 127.0.0.1.
#
#   bash tests/gateway/e2e.sh BUILD_DIR
#
# Each check prints "ok - ..." or "FAIL - ..."; the exit code is the number
# of failures (capped at 1). Waiting is by polling a condition with a
# deadline, never by sleeping a fixed time.
set -uo pipefail
BUILD=$(cd "${1:?usage: e2e.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
TG="$BUILD/tollgate"
STUB="$BUILD/tg_stub_upstream"
T=$(mktemp -d)
FAILS=0
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi  # KEEP=1: logs for a post-mortem
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 20 ms.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    if [ $SECONDS -ge $end ]; then fail "timed out waiting for $what"; return 1; fi
    sleep 0.02
  done
}

# --- the stub upstream ---
"$STUB" 0 > "$T/stub.port" &
PIDS+=($!)
wait_for "the stub's port" 10 test -s "$T/stub.port" || exit 1
SP=$(head -1 "$T/stub.port")
# A second stub serving HTTPS with a self-signed certificate for `localhost`.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost" 2>/dev/null
"$STUB" 0 "$T/cert.pem" "$T/key.pem" > "$T/tls.port" &
PIDS+=($!)
wait_for "the TLS stub's port" 10 test -s "$T/tls.port" || exit 1
TP=$(head -1 "$T/tls.port")
sed "s/STUB_PORT/$SP/g; s/TLS_PORT/$TP/g" "$HERE/catalog.template.json" > "$T/catalog.json"
# The stub takes what a gateway with the default 4 MiB body limit lets
# through (an image part of 2 MB), not only Beast's default 1 MB.
{ printf '{"model":"ok","messages":[{"role":"user","content":"'; head -c 2000000 /dev/zero | tr '\0' a; printf '"}]}'; } > "$T/2mb.json"
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$T/2mb.json" \
  "http://127.0.0.1:$SP/ok/v1/chat/completions")
check "the stub upstream answers a 2 MB request" test "$st" = 200

# --- keys, config ---
key() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat > "$T/keys.json" <<EOF
{"keys": [
  {"id": "k-main", "sha256": "$(key sk-main)", "workspace": "main", "user": "u1", "jurisdiction": "US"},
  {"id": "k-eu", "sha256": "$(key sk-eu)", "workspace": "main-eu", "user": "u2", "jurisdiction": "DE"},
  {"id": "k-tiny", "sha256": "$(key sk-tiny)", "workspace": "tiny", "user": "u3"},
  {"id": "k-limited", "sha256": "$(key sk-limited)", "workspace": "limited", "user": "u4"},
  {"id": "k-k9", "sha256": "$(key sk-k9)", "workspace": "k9", "user": "u5"},
  {"id": "k-once", "sha256": "$(key sk-once)", "workspace": "once", "user": "u6"},
  {"id": "k-pinned", "sha256": "$(key sk-pinned)", "workspace": "main", "user": "u7",
   "context": {"data_class": "confidential"}, "pin": ["data_class"]}
]}
EOF
cp "$HERE/policy.tg" "$T/policy.tg"
cat > "$T/gw.json" <<EOF
{"listen": "127.0.0.1:0", "threads": 2, "policy": "policy.tg", "catalog": "catalog.json",
 "accounts": "", "keys": "keys.json", "ledger": "sqlite:data/ledger.db", "audit": "data/audit",
 "admin_token_env": "TG_ADMIN", "cors": {"allow_origins": ["http://app.example"]}, "drain_grace_ms": 60000,
 "limits": {"max_body_bytes": 65536, "max_header_bytes": 4096, "read_timeout_ms": 1500},
 "upstream": {"connect_timeout_ms": 5000, "first_byte_timeout_ms": 1500, "idle_timeout_ms": 3000,
              "ca_file": "cert.pem"}}
EOF
export TG_ADMIN=admin-secret

start_gateway() {
  : > "$T/gw.log"
  (cd "$T" && exec "$TG" serve --config gw.json 2> "$T/gw.log") &
  GW_PID=$!
  PIDS+=($GW_PID)
  wait_for "the gateway to listen" 20 grep -q '"event":"listening"' "$T/gw.log" || { cat "$T/gw.log"; exit 1; }
  GW=$(grep -o '"address":"[^"]*"' "$T/gw.log" | head -1 | cut -d'"' -f4)
  URL="http://$GW"
}
start_gateway
ok "gateway listening on $GW (port 0 picked a free port)"

# post KEY BODY [extra curl args] -> prints the status; the body in $T/out
post() {
  local k=$1 body=$2; shift 2
  curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' -H "Authorization: Bearer $k" \
       -H 'Content-Type: application/json' "$@" --data-binary "$body" "$URL/v1/chat/completions"
}
body_has() { grep -q -- "$1" "$T/out"; }
hdr_has() { grep -qi -- "$1" "$T/hdr"; }
msg() { printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":20%s}' "$1" "$2" "${3:-}"; }

# --- allowed, non-streaming ---
st=$(post sk-main "$(msg test/ok hello)")
check "allowed request answers 200 from the upstream" test "$st" = 200
check "the answer is the upstream's (usage passed through)" body_has '"completion_tokens":7'
check "decision id header" hdr_has '^x-tollgate-decision-id: [0-9A-Z]\{26\}'
check "the provider's request id is passed on" hdr_has '^x-request-id: req_stub_ok'
check "policy version header" hdr_has '^x-tollgate-policy-version: sha256:'
curl -s "http://127.0.0.1:$SP/last/ok" > "$T/last"
check "the upstream got the endpoint's model name, not the routing members" \
  sh -c "grep -q '\"model\":\"ok\"' '$T/last'"

# --- denials with each status ---
st=$(post sk-main "$(msg test/ok 'this is forbidden')"); check "policy deny 403" test "$st" = 403
check "deny in OpenAI's error shape with code and rule" \
  sh -c "grep -q '\"type\":\"permission_error\"' '$T/out' && grep -q '\"code\":\"policy_denied\"' '$T/out' && grep -q '\"rule\":\"forbidden_words\"' '$T/out'"
st=$(post sk-main "$(msg test/ok 'pay me now')"); check "policy deny 402" test "$st" = 402
st=$(post sk-main '{"model": 5}'); check "wrong type -> 400" test "$st" = 400
check "wrong type names the field" body_has '"code":"input_wrong_type"'
st=$(post sk-main '{"model": "test/ok", "messages": ['); check "malformed JSON -> 400" test "$st" = 400
check "malformed JSON code" body_has '"code":"input_malformed_json"'
st=$(post sk-main "$(msg no/such-model hi)"); check "unknown model -> 404" test "$st" = 404
check "unknown model: OpenAI's model_not_found" \
  sh -c "grep -q '\"code\":\"model_not_found\"' '$T/out' && grep -q '\"type\":\"invalid_request_error\"' '$T/out'"
# The decision context (docs/gateway.md): a key's pinned data class cannot
# be lowered by a header; a malformed context header is refused.
st=$(post sk-pinned "$(msg test/ok hi)" -H 'x-tollgate-data-class: public')
check "a pinned data class cannot be changed -> 400 context_pinned" \
  sh -c "test $st = 400 && grep -q '\"code\":\"context_pinned\"' '$T/out'"
st=$(post sk-main "$(msg test/ok hi)" -H 'x-tollgate-tags: batch,,nightly')
check "an empty tag in x-tollgate-tags -> 400 input_invalid_header" \
  sh -c "test $st = 400 && grep -q '\"code\":\"input_invalid_header\"' '$T/out'"
st=$(post sk-pinned "$(msg test/ok hi)" -H 'x-tollgate-data-class: confidential' -H 'x-tollgate-tags: nightly')
check "the pinned value itself and extra tags are accepted" test "$st" = 200
st=$(post "" "$(msg test/ok hi)"); check "missing key -> 401" test "$st" = 401
check "missing key code" body_has '"code":"missing_api_key"'
st=$(post sk-wrong "$(msg test/ok hi)"); check "unknown key -> 401" test "$st" = 401
check "unknown key code" body_has '"code":"invalid_api_key"'
big=$(head -c 70000 /dev/zero | tr '\0' a)
st=$(post sk-main "$(msg test/ok "$big")"); check "oversize body -> 413" test "$st" = 413
check "oversize code" body_has '"code":"request_too_large"'
st=$(curl -s -o "$T/out" -w '%{http_code}' -H "X-Big: $(head -c 6000 /dev/zero | tr '\0' b)" "$URL/healthz")
check "oversize headers -> 431" test "$st" = 431
st=$(curl -s -o "$T/out" -w '%{http_code}' "$URL/nowhere"); check "unknown path -> 404" test "$st" = 404
st=$(curl -s -o "$T/out" -w '%{http_code}' "$URL/v1/chat/completions"); check "GET on chat -> 405" test "$st" = 405
st=$(post sk-limited "$(msg test/ok one)"); st=$(post sk-limited "$(msg test/ok two)")
st=$(post sk-limited "$(msg test/ok three)"); check "rate limit -> 429" test "$st" = 429
check "rate limit code and Retry-After" sh -c "grep -q '\"code\":\"rate_limited\"' '$T/out' && grep -qi '^retry-after: [0-9]' '$T/hdr'"
# A lifetime limit never frees: no Retry-After (the SDKs would retry after
# 1 s, twice, for nothing) and x-should-retry: false.
st=$(post sk-once "$(msg test/ok one)"); st=$(post sk-once "$(msg test/ok two)")
check "lifetime limit -> 429 rate_limited" sh -c "test $st = 429 && grep -q '\"code\":\"rate_limited\"' '$T/out'"
check "lifetime limit: no Retry-After, x-should-retry: false" \
  sh -c "! grep -qi '^retry-after:' '$T/hdr' && grep -qi '^x-should-retry: false' '$T/hdr'"
# A slow client (headers never finished) is cut off at the read timeout and
# the server stays up.
exec 3<>"/dev/tcp/${GW%:*}/${GW#*:}"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' >&3
if timeout 10 cat <&3 > /dev/null; then ok "slow client disconnected at the read timeout"; else fail "slow client kept open"; fi
exec 3<&-
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"); check "server up after the slow client" test "$st" = 200
# Garbage on the wire.
exec 3<>"/dev/tcp/${GW%:*}/${GW#*:}"
printf 'NOT HTTP AT ALL\r\n\r\n' >&3
garbage=$(timeout 10 cat <&3)
exec 3<&-
check "garbage request -> 400 http_malformed" grep -q "http_malformed" <<< "$garbage"

# --- HTTP as curl and other clients speak it ---
# raw REQUESTS -> sends the bytes on one connection, prints what comes back
# until the server closes it (the last request says Connection: close).
raw() {
  exec 3<>"/dev/tcp/${GW%:*}/${GW#*:}"
  printf "$1" >&3
  timeout 10 cat <&3
  exec 3<&-
}
# (Not through post(), whose own Authorization header would make two: curl
# sends both, and two Authorization headers are 400 duplicate_header.)
st=$(curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' -H 'Authorization: BEARER sk-main' \
       -H 'Content-Type: application/json' --data-binary "$(msg test/ok hi)" "$URL/v1/chat/completions")
check "the Bearer scheme is case-insensitive" test "$st" = 200
st=$(post sk-main "$(msg test/ok hi)" -H 'Authorization: Bearer sk-other')
check "two Authorization headers -> 400 duplicate_header" sh -c "test $st = 400 && grep -q '\"code\":\"duplicate_header\"' '$T/out'"
st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer sk-main' -H 'Content-Type: application/json; charset=utf-8' \
  --data-binary "$(msg test/ok hi)" "$URL/v1/chat/completions?api-version=1")
check "a query string and a charset are accepted" test "$st" = 200
st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer sk-main' "$URL/v1/models/")
check "one trailing slash names the same endpoint" test "$st" = 200
st=$(post sk-main "$(msg test/ok hi)" -H 'Transfer-Encoding: chunked')
check "a chunked request body" test "$st" = 200
st=$(post sk-main "$(msg test/ok hi)" -H 'Expect: 100-continue')
check "Expect: 100-continue" test "$st" = 200
curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' -H 'Authorization: Bearer sk-main' -H 'Content-Type: application/json' \
  --data-binary "$(msg test/ok hi)" "$URL/v1/chat/completions" "$URL/v1/chat/completions" "$URL/v1/chat/completions" > "$T/reuse"
check "keep-alive: three requests on one connection" test "$(tr '\n' ' ' < "$T/reuse")" = "200 1 200 0 200 0 "
b=$(msg test/ok pipelined)
raw "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-main\r\nContent-Length: ${#b}\r\n\r\n$b""GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" > "$T/out"
check "pipelined requests are answered in order" \
  sh -c "test \$(grep -o 'HTTP/1.1 200' '$T/out' | wc -l) = 2 && grep -q 'Hello from the stub' '$T/out' && grep -q '\"status\":\"ok\"' '$T/out'"
raw 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' > "$T/out"
check "HEAD is answered without a body (the next answer on the connection is intact)" \
  sh -c "head -1 '$T/out' | grep -q '^HTTP/1.1 200' && test \$(grep -o 'HTTP/1.1 ' '$T/out' | wc -l) = 3 && test \$(grep -c '\"status\":\"ok\"' '$T/out') = 1 && ! grep -q method_not_allowed '$T/out'"
check "405 lists the allowed methods" grep -q '^Allow: POST' "$T/out"
st=$(curl -s -o /dev/null -D "$T/hdr" -w '%{http_code}' -X DELETE "$URL/healthz")
check "405 on a GET endpoint allows GET and HEAD" sh -c "test $st = 405 && grep -qi '^allow: GET, HEAD' '$T/hdr'"
st=$(post sk-main '{"model":"test/ok","messages":[{"role":"user","content":"hi"}]},"context":{"time":"2020-01-01T00:00:00Z"}')
check "text after the JSON body (a forged context) is refused" sh -c "test $st = 400 && grep -q 'input_malformed_json' '$T/out' && grep -q 'byte 63' '$T/out'"
st=$(post sk-main '')
check "an empty body -> 400 input_malformed_json" sh -c "test $st = 400 && grep -q 'input_malformed_json' '$T/out'"
st=$(post sk-main '{"model":"test/ok","messages":[{"role":"user","content":"hi"}],"top_k":1e400}')
check "a number beyond double range -> 400 input_invalid_value, not a 502" sh -c "test $st = 400 && grep -q 'input_invalid_value' '$T/out'"
st=$(post sk-main "$(printf '\xef\xbb\xbf')$(msg test/ok hi)")
check "a byte order mark before the body is skipped" test "$st" = 200
st=$(post sk-main "{\"model\":\"test/ok\",\"messages\":[],\"x\":$(head -c 60000 /dev/zero | tr '\0' '[')}")
check "60,000 levels of nesting -> 400, the server stays up" sh -c "test $st = 400 && curl -sf '$URL/healthz' > /dev/null"
st=$(post sk-main "$(msg test/ok hi)" --http1.0)
check "HTTP/1.0" test "$st" = 200
curl -s -D "$T/hdr" -o "$T/out" --http1.0 --raw -H 'Authorization: Bearer sk-main' --data-binary "$(msg test/ok hi ',"stream":true')" "$URL/v1/chat/completions"
check "an HTTP/1.0 stream is not chunked (1.0 has no chunked encoding)" \
  sh -c "! grep -qi '^transfer-encoding' '$T/hdr' && head -c 6 '$T/out' | grep -q '^data: ' && grep -q '\[DONE\]' '$T/out'"
big=$(head -c 70000 /dev/zero | tr '\0' a)
st=$(post sk-main "$(msg test/ok "$big")" -H 'Expect:' -H 'Transfer-Encoding: chunked')
check "a chunked body over the limit -> 413" test "$st" = 413

# --- CORS: a browser page on an allowed origin ---
st=$(curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization, content-type, x-stainless-os' \
  "$URL/v1/chat/completions")
check "a preflight from an allowed origin answers 204" test "$st" = 204
check "the preflight allows the origin and the asked headers" sh -c \
  "grep -qi '^access-control-allow-origin: http://app.example' '$T/hdr' && grep -qi '^access-control-allow-headers: authorization, content-type, x-stainless-os' '$T/hdr' && grep -qi '^access-control-allow-methods: POST' '$T/hdr'"
st=$(curl -s -o "$T/out" -w '%{http_code}' -X OPTIONS -H 'Origin: http://evil.example' \
  -H 'Access-Control-Request-Method: POST' "$URL/v1/chat/completions")
check "a preflight from another origin is refused" sh -c "test $st = 403 && grep -q cors_origin_not_allowed '$T/out'"
st=$(post sk-main "$(msg test/ok hi)" -H 'Origin: http://app.example')
check "an allowed origin's request carries the CORS headers" sh -c \
  "test $st = 200 && grep -qi '^access-control-allow-origin: http://app.example' '$T/hdr' && grep -qi '^access-control-expose-headers: .*x-tollgate-decision-id' '$T/hdr'"
st=$(post sk-main "$(msg test/ok hi ',"stream":true')" -H 'Origin: http://app.example')
check "a stream carries them too" sh -c "test $st = 200 && grep -qi '^access-control-allow-origin: http://app.example' '$T/hdr'"
st=$(post sk-main "$(msg test/ok hi)" -H 'Origin: http://evil.example')
check "another origin's request gets no CORS header" sh -c "test $st = 200 && ! grep -qi '^access-control-allow-origin' '$T/hdr'"
st=$(curl -s -o "$T/out" -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: POST' "$URL/admin/policy")
check "the admin API takes no cross-origin requests" test "$st" = 403
# OPTIONS without a browser's Origin and `OPTIONS *` name the methods (until 2026-12-02: 405
# and 404 "no such endpoint `*`"); the asterisk form is for OPTIONS only.
st=$(curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' -X OPTIONS "$URL/v1/chat/completions")
check "OPTIONS on the chat path answers 204 with Allow" sh -c "test $st = 204 && grep -qi '^allow: POST, OPTIONS' '$T/hdr'"
st=$(curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' -X OPTIONS --request-target '*' -H 'Origin: http://app.example' "$URL/")
check "OPTIONS * answers 204 with the server's methods" sh -c "test $st = 204 && grep -qi '^allow: GET, HEAD, POST, DELETE, OPTIONS' '$T/hdr'"
st=$(curl -s -o "$T/out" -w '%{http_code}' --request-target '*' "$URL/")
check "GET * is 400 http_malformed" sh -c "test $st = 400 && grep -q http_malformed '$T/out'"

# --- routing: EU user stays on EU endpoints; explanation on request ---
st=$(post sk-eu "$(msg test/ok hi)" -H 'X-Tollgate-Explain: 1')
check "EU user routed and answered" test "$st" = 200
check "routing explanation names the eliminated endpoint" hdr_has '^x-tollgate-explain: .*test/ok@us'

# --- redactions as seen by the upstream ---
st=$(post sk-main "$(msg test/ok 'my card is 4111 1111 1111 1111 ok')")
check "redacted request allowed" test "$st" = 200
curl -s "http://127.0.0.1:$SP/last/ok" > "$T/last"
check "the upstream saw [CARD], never the number" sh -c "grep -q '\[CARD\]' '$T/last' && ! grep -q '4111' '$T/last'"
# A number copied from a web page: groups joined by no-break / thin spaces
# (JSON escapes here; the gateway sees the UTF-8 characters).
st=$(post sk-main "$(msg test/ok 'card 4111\u00a01111\u202f1111\u20091111 ok')")
check "a card with no-break spaces is allowed" test "$st" = 200
curl -s "http://127.0.0.1:$SP/last/ok" > "$T/last"
check "the upstream saw [CARD] for the no-break-spaced number" sh -c "grep -q 'card \[CARD\] ok' '$T/last' && ! grep -q '4111' '$T/last'"
# A tool call's arguments are JSON in a string: a card written there as a
# JSON number is redacted to a JSON string, so the arguments still parse;
# a message's `name` gets a placeholder OpenAI's name pattern accepts.
st=$(post sk-main '{"model":"test/ok","max_tokens":20,"messages":[{"role":"user","content":"hi","name":"4111111111111111"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"pay","arguments":"{\"card\": 4111111111111111, \"n\": [1, 4111111111111111]}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}')
check "a request with a card in a tool call's arguments is allowed" test "$st" = 200
curl -s "http://127.0.0.1:$SP/last/ok" > "$T/last"
check "the redacted arguments still parse as JSON, the card a JSON string" node -e '
  const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const a = JSON.parse(b.messages[1].tool_calls[0].function.arguments);
  process.exit(a.card === "[CARD]" && !JSON.stringify(b).includes("4111") ? 0 : 1);' "$T/last"
check "a redacted message name matches OpenAI's name pattern" node -e '
  const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.exit(/^[a-zA-Z0-9_-]{1,64}$/.test(b.messages[0].name) && b.messages[0].name.includes("REDACTED") ? 0 : 1);' "$T/last"

# --- fallbacks ---
before=$(curl -s "http://127.0.0.1:$SP/count/fail500")
st=$(post sk-main "$(msg test/fallback500 hi)"); check "500 falls back to the next endpoint" test "$st" = 200
check "the 500 endpoint was tried first" test "$(curl -s "http://127.0.0.1:$SP/count/fail500")" -gt "$before"
st=$(post sk-main "$(msg test/fallback429 hi)"); check "429 falls back" test "$st" = 200
# The provider refusing tollgate's own upstream key is not the caller's 401.
before=$(curl -s "http://127.0.0.1:$SP/count/fail401")
st=$(post sk-main "$(msg test/fallback401 hi)"); check "an upstream 401 (tollgate's key) falls back" test "$st" = 200
check "the 401 endpoint was tried first" test "$(curl -s "http://127.0.0.1:$SP/count/fail401")" -gt "$before"
st=$(post sk-main "$(msg test/auth401 hi)"); check "only upstream 401s -> 502, not the caller's 401" test "$st" = 502
check "  with code upstream_unavailable and the status, never the provider's text about its key" \
  sh -c "grep -q '\"code\":\"upstream_unavailable\"' '$T/out' && grep -q 'status_401' '$T/out' && ! grep -q 'sk-stub' '$T/out'"
st=$(post sk-main "$(msg test/timeout hi)"); check "first-byte timeout falls back" test "$st" = 200
st=$(post sk-main "$(msg test/dead hi)"); check "connect error falls back" test "$st" = 200
st=$(post sk-main "$(msg test/allfail hi)"); check "every endpoint failing -> 502" test "$st" = 502
check "502 code" body_has '"code":"upstream_unavailable"'

# --- service tiers: the upstream is asked for the tier the endpoint is priced at ---
# test/tier:floor tries its flex endpoint first (cheaper; the stub answers it
# 500), then falls back to the standard one: only the flex attempt carries
# service_tier, the fallback carries the caller's own value.
st=$(post sk-main "$(msg test/tier:floor hi ',"service_tier":"auto"')"); check "a flex endpoint's 500 falls back to standard" test "$st" = 200
curl -s "http://127.0.0.1:$SP/last/fail500" > "$T/last"
check "  the flex attempt asked for service_tier flex" grep -q '"service_tier":"flex"' "$T/last"
curl -s "http://127.0.0.1:$SP/last/tierstd" > "$T/last"
check "  the standard fallback did not (the caller's auto)" sh -c "grep -q '\"service_tier\":\"auto\"' '$T/last' && ! grep -q flex '$T/last'"
# A caller's service_tier routes to that tier only.
before=$(curl -s "http://127.0.0.1:$SP/count/tierflex")
st=$(post sk-main "$(msg test/flexok hi ',"service_tier":"flex"')"); check "service_tier flex is served by the flex endpoint" test "$st" = 200
check "  which was asked for flex" sh -c "test \$(curl -s 'http://127.0.0.1:$SP/count/tierflex') -gt $before && curl -s 'http://127.0.0.1:$SP/last/tierflex' | grep -q '\"service_tier\":\"flex\"'"
st=$(post sk-main "$(msg test/ok hi ',"service_tier":"flex"')"); check "service_tier flex with no flex endpoint -> 404" test "$st" = 404
st=$(post sk-main "$(msg test/ok hi ',"service_tier":"scale"')"); check "service_tier scale -> 400 route_invalid_preference" \
  sh -c "test $st = 400 && grep -q '\"code\":\"route_invalid_preference\"' '$T/out'"

# --- TLS upstreams: verified certificate and host name ---
st=$(post sk-main "$(msg test/tls hi)"); check "https upstream with a trusted certificate" test "$st" = 200
st=$(post sk-main "$(msg test/tlsbad hi)"); check "a certificate for another name is refused (falls back)" test "$st" = 200
# A kept-alive TLS connection the upstream closed while idle without a
# close_notify (a load balancer's idle timeout) reads as a truncated stream
# when reused: the request goes on a new connection, not to a 502. (Two
# first requests: client connections alternate between the two I/O
# threads, each with its own upstream pool.)
closed=$(curl -sk "https://localhost:$TP/count/idleclose-closed")
st=$(post sk-main "$(msg test/tlsidle hi)")$(post sk-main "$(msg test/tlsidle hi)")
wait_for "the TLS upstream to close the idle connections" 5 \
  sh -c "test \$(curl -sk 'https://localhost:$TP/count/idleclose-closed') -ge $((closed + 2))"
st2=$(post sk-main "$(msg test/tlsidle again)")
check "a TLS connection the upstream closed while idle is not reused for a 502 ($st then $st2)" \
  sh -c "test $st = 200200 && test $st2 = 200"
curl -s "$URL/metrics" > "$T/metrics"
check "the refused certificate counted as a tls error" grep -q 'tollgate_upstream_errors_total{endpoint="test/tlsbad@a",kind="tls"}' "$T/metrics" ||
  grep 'tollgate_upstream_errors_total' "$T/metrics"

# --- streaming ---
st=$(post sk-main "$(msg test/ok hi ',"stream":true')" -N)
check "stream answers 200" test "$st" = 200
check "stream relays the chunks and [DONE]" sh -c "grep -q 'the stub' '$T/out' && grep -q '\[DONE\]' '$T/out'"
check "the gateway asked the upstream for the usage chunk" \
  sh -c "curl -s 'http://127.0.0.1:$SP/last/ok' | grep -q '\"include_usage\":true'"
check "the caller that did not ask for usage does not get the usage-only chunk" sh -c "! grep -q '\"choices\":\[\]' '$T/out'"
st=$(post sk-main "$(msg test/ok hi ',"stream":true,"stream_options":{"include_usage":true}')" -N)
check "the caller that asked for usage gets it" sh -c "test $st = 200 && grep -q '\"choices\":\[\],\"usage\":{\"prompt_tokens\":11' '$T/out'"
check "a stream passes the provider's request id on" hdr_has '^x-request-id: req_stub_ok'
okcount=$(curl -s "http://127.0.0.1:$SP/count/ok")
st=$(post sk-main "$(msg test/cut hi ',"stream":true')" -N)
check "a stream cut after the first token is not retried elsewhere" \
  test "$(curl -s "http://127.0.0.1:$SP/count/ok")" = "$okcount"
check "the client sees the partial stream" body_has 'Hello'

# An Azure OpenAI deployment's base_url carries `?api-version=`: the query
# follows the path the gateway appends, as the SDKs send it.
st=$(post sk-main "$(msg test/azure hi)")
check "a base_url with a query: the upstream got the path, then the query ($(curl -s "http://127.0.0.1:$SP/lasttarget/azure"))" \
  sh -c "test $st = 200 && test \"\$(curl -s 'http://127.0.0.1:$SP/lasttarget/azure')\" = '/azure/openai/deployments/d1/chat/completions?api-version=2024-10-21'"
st=$(post sk-main "$(msg test/nousage hi)")
check "an answer without usage is relayed" sh -c "test $st = 200 && grep -q 'Hello from the stub' '$T/out'"

# --- /v1/decide and /v1/models ---
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary \
  '{"principal":{"workspace":"main","jurisdiction":"DE"},"request":{"model":"test/ok","messages":[{"role":"user","content":"hi"}]}}' \
  "$URL/v1/decide")
check "/v1/decide answers the decision" sh -c "test $st = 200 && grep -q '\"outcome\":\"allow\"' '$T/out' && grep -q 'test/ok@de' '$T/out' && ! grep -q 'test/ok@us' '$T/out'"
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary \
  '{"principal":{"workspace":"main","jurisdiction":"DE"},"request":{"model":"test/ok","messages":[{"role":"user","content":"hi"}]},"candidate":{"provider":{"name":"stubus","jurisdiction":"US"},"endpoint":{"id":"test/ok@us"}}}' \
  "$URL/v1/decide")
check "/v1/decide checks the caller's candidate endpoint (require_failed)" \
  sh -c "test $st = 200 && grep -q '\"code\":\"require_failed\"' '$T/out'"
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary '{"principal":{}}' "$URL/v1/decide")
check "/v1/decide with an invalid input -> 400" test "$st" = 400
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary '{"principal":{},"request":{"model":"test/ok","messages":[]}}' "$URL/v1/decide")
check "/v1/decide's input error is in OpenAI's shape, param and path naming the member" \
  sh -c "test $st = 400 && grep -q '\"type\":\"invalid_request_error\",\"code\":\"input_missing_field\",\"param\":\"principal.workspace\",\"path\":\"principal.workspace\"' '$T/out'"
# A number beyond double range would be embedded in the decision record,
# which then no JSON reader parses ("audit log verifies" below).
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary \
  '{"principal":{"workspace":"main"},"request":{"model":"test/ok","messages":[{"role":"user","content":"hi"}],"top_k":1e400}}' \
  "$URL/v1/decide")
check "/v1/decide with a number beyond double range -> 400 input_invalid_value" \
  sh -c "test $st = 400 && grep -q input_invalid_value '$T/out'"
st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer sk-main' "$URL/v1/models")
check "/v1/models lists the models in OpenAI's shape" sh -c "test $st = 200 && grep -q '\"object\":\"list\"' '$T/out' && grep -q '\"id\":\"test/ok\"' '$T/out'"

# --- the openai npm client ---
if [ -d "$HERE/node_modules/openai" ]; then
  if node "$HERE/openai_client.mjs" "$URL/v1" sk-main "http://127.0.0.1:$SP" > "$T/node.out" 2>&1; then
    ok "openai npm client: chat, stream, deny as APIError"; cat "$T/node.out"
  else
    fail "openai npm client"; cat "$T/node.out"
  fi
else
  fail "the openai npm package is not installed (run .ci/setup)"
fi

# --- budget exhaustion under concurrent load: no overshoot ---
seq 1 40 | xargs -P 16 -I{} curl -s -o "$T/tiny.{}" -w '%{http_code}\n' -H 'Authorization: Bearer sk-tiny' \
  -H 'Content-Type: application/json' --data-binary "$(msg test/ok 'hi')" "$URL/v1/chat/completions" > "$T/tiny"
n200=$(grep -c '^200$' "$T/tiny"); n403=$(grep -c '^403$' "$T/tiny")
nbud=$(grep -l '"code":"budget_exceeded"' "$T"/tiny.* | wc -l)
check "budget: some requests admitted ($n200), the rest refused 403 budget_exceeded ($n403, $nbud)" \
  sh -c "test $n200 -ge 1 && test $n403 -ge 1 && test $((n200 + n403)) = 40 && test $nbud = $n403"

# --- metrics ---
curl -s "$URL/metrics" > "$T/metrics"
check "metrics: decisions by outcome, code and rule" grep -q 'tollgate_decisions_total{outcome="deny",code="policy_denied",rule="forbidden_words"}' "$T/metrics"
check "metrics: processing histogram" grep -q '^tollgate_processing_seconds_count [1-9]' "$T/metrics"
check "metrics: fallbacks counted" grep -q '^tollgate_fallbacks_total [1-9]' "$T/metrics"
check "metrics: upstream errors by endpoint" grep -q 'tollgate_upstream_errors_total{endpoint="test/fallback500@a",kind="status_5xx"}' "$T/metrics"
check "metrics: spend by budget" grep -q 'tollgate_spend_usd_total{budget="tiny_daily"}' "$T/metrics"

# --- admin: refused policy, shadow, promote, hot reload under load ---
st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer admin-secret' --data-binary 'policy "x"
rule r { when request.nope == 1 deny 403 "x" }' "$URL/admin/policy")
check "a policy with errors is refused with its diagnostics" sh -c "test $st = 422 && grep -q 'policy_invalid' '$T/out' && grep -q ':2:' '$T/out'"
st=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary 'x' "$URL/admin/policy")
check "admin without the token -> 401" test "$st" = 401
sed 's/the prompt uses a forbidden word/shadow says no/; s/contains "forbidden"/contains "hello"/' "$HERE/policy.tg" > "$T/shadow.tg"
st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer admin-secret' --data-binary @"$T/shadow.tg" "$URL/admin/policy?shadow=1")
check "shadow policy loaded" test "$st" = 200
st=$(post sk-main "$(msg test/ok hello)")
check "shadow never affects the live answer" test "$st" = 200
curl -s "$URL/metrics" > "$T/metrics"
check "shadow differences counted by kind and rule" grep -q 'tollgate_shadow_differences_total{kind="outcome",rule="forbidden_words"}' "$T/metrics"
st=$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H 'Authorization: Bearer admin-secret' "$URL/admin/policy/promote")
check "promote the shadow" test "$st" = 200
st=$(post sk-main "$(msg test/ok hello)")
check "the promoted version now decides" test "$st" = 403
# Hot reload under load: reloads while 4 clients send 400 requests; none fails.
( seq 1 400 | xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer sk-main' \
    -H 'Content-Type: application/json' --data-binary "$(msg test/ok 'under load')" "$URL/v1/chat/completions" > "$T/load" ) &
LOAD=$!
for i in 1 2 3 4 5; do
  curl -s -o /dev/null -H 'Authorization: Bearer admin-secret' --data-binary @"$HERE/policy.tg" "$URL/admin/policy"
  kill -HUP "$GW_PID"
done
wait $LOAD
check "hot reload under load: 400 requests, all 200" sh -c "test \$(grep -c '^200$' '$T/load') = 400"

# --- SIGTERM drains: a grace period answering draining, a request in flight finishes, then exit 0 ---
slowbefore=$(curl -s "http://127.0.0.1:$SP/count/slow400")
# Its own answer files: it ends while the requests below run, and writing
# their $T/out and $T/hdr raced with their checks.
mkdir -p "$T/slow"
( T=$T/slow; post sk-main "$(msg test/slow hi)" > "$T/status" ) &
SLOW=$!
wait_for "the slow request to reach the upstream" 10 \
  sh -c "test \$(curl -s http://127.0.0.1:$SP/count/slow400) -gt $slowbefore"
kill -TERM "$GW_PID"
# The grace period (drain_grace_ms): still accepting, /healthz says draining
# (the load balancer's cue), a new chat request is refused 503 draining.
wait_for "/healthz to say draining" 10 \
  sh -c "curl -s -w '%{http_code}' '$URL/healthz' | grep -q '\"draining\".*503'"
st=$(post sk-main "$(msg test/ok hi)")
check "during the drain's grace period a new request is 503 draining, Connection: close" \
  sh -c "test $st = 503 && grep -q '\"code\":\"draining\"' '$T/out' && grep -qi '^connection: close' '$T/hdr'"
wait $SLOW
check "the request in flight during SIGTERM completed" test "$(cat "$T/slow/status")" = 200
kill -TERM "$GW_PID"  # a second SIGTERM ends the grace period
wait "$GW_PID"; rc=$?
check "the gateway exited 0 after draining" test "$rc" = 0

# --- logs: JSON lines, no prompt text, no key ---
check "every log line is a JSON object" node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  for (const l of lines) { const o = JSON.parse(l); if (typeof o !== "object" || !o.event) process.exit(1); }
  process.exit(lines.length > 100 ? 0 : 1);' "$T/gw.log"
grep -e '4111 1111' -e 'is forbidden' -e sk-main -e 'under load' "$T/gw.log" | head -3
check "no prompt text or key in the logs" sh -c "! grep -q -e '4111 1111' -e 'is forbidden' -e 'sk-main' -e 'under load' '$T/gw.log'"
check "the drain and stop are logged" sh -c "grep -q '\"event\":\"draining\"' '$T/gw.log' && grep -q '\"event\":\"stopped\"' '$T/gw.log'"

# --- the audit log: a verified record for every decision ---
check "audit log verifies" "$TG" audit verify "$T/data/audit"
"$TG" audit export --audit "$T/data/audit" --json > "$T/records" 2>/dev/null
nrec=$(grep -c '"kind":"decision"' "$T/records")
ndec=$(grep -c '"event":"request","decision_id"' "$T/gw.log")  # refused ones (401, 400) have none
check "one decision record per decided request ($nrec records, $ndec decisions logged)" test "$nrec" = "$ndec"
check "records carry the gateway outcome" grep -q '"gateway":{"status":200' "$T/records"
check "records carry the decision context (key pin, header tags, client address)" \
  grep -q '"context":{"data_class":"confidential","tags":\["nightly"\],"ip":"127.0.0.1"}' "$T/records"
check "budget counters and admissions are recorded" \
  sh -c "grep -q '\"counters\":{\"budgets\":{\"tiny_daily\"' '$T/records' && grep -q '\"admission\":{\"admitted\":false' '$T/records'"
"$TG" replay --audit "$T/data/audit" > "$T/replay" 2>&1; rc=$?
check "every gateway decision replays bit for bit ($(tail -1 "$T/replay"))" test "$rc" = 0 || head -5 "$T/replay"
check "shadow comparisons are recorded" grep -q '"shadow":{"version":"sha256:' "$T/records"
check "the cut stream is recorded as such, charged at what was delivered" \
  sh -c "grep -q '\"stream\":true,\"stream_complete\":false' '$T/records' && grep '\"stream_complete\":false' '$T/records' | grep -q '\"usage_estimated\":true'"
check "an answer without usage is charged its text's estimate, not zero completion tokens" \
  sh -c "grep '\"endpoint\":\"test/nousage@a\"' '$T/records' | grep -q '\"completion_tokens\":6,\"usage_estimated\":true'"
check "a stream the client abandoned is recorded as such" \
  sh -c "grep '\"error\":\"client_disconnected\"' '$T/records' | grep -q '\"stream_complete\":false'"
check "a non-streamed request the client abandoned is recorded as such (499, charged)" \
  sh -c "grep '\"error\":\"client_disconnected\"' '$T/records' | grep '\"status\":499' | grep -q '\"usage_estimated\":true'"
check "a completed stream is recorded with the usage chunk's tokens" \
  sh -c "grep '\"stream_complete\":true' '$T/records' | grep -q '\"completion_tokens\":7'"
# The ledger: the tiny budget was never overspent.
"$TG" spend --ledger "sqlite:$T/data/ledger.db" --json > "$T/spend"
spent=$(tr ',' '\n' < "$T/spend" | grep -A0 -m1 '"spent"' | grep -o '[0-9.]*' | head -1)
check "budget never overspent (spent $spent of 0.0002 usd)" \
  sh -c "grep -q 'tiny_daily' '$T/spend' && awk 'BEGIN{exit !($spent <= 0.0002)}'"

# --- two replicas sharing budgets through Redis: no overshoot across them ---
if command -v redis-server >/dev/null 2>&1; then
  . "$HERE/../cli/redis.sh"
  up=0
  if start_redis "$T"; then up=1; rport=$REDIS_PORT; RPID=$REDIS_PID; PIDS+=($RPID); fi
  [ $up = 1 ] || { fail "redis-server did not start"; tail -5 "$T/redis.log"; }
  replica() {  # replica N -> starts it, sets R_URL
    sed "s#sqlite:data/ledger.db#redis://127.0.0.1:$rport/0#; s#\"data/audit\"#\"data/audit-r$1\"#" "$T/gw.json" > "$T/r$1.json"
    : > "$T/r$1.log"
    (cd "$T" && exec "$TG" serve --config "r$1.json" 2> "$T/r$1.log") &
    PIDS+=($!)
    wait_for "replica $1" 20 grep -q '"event":"listening"' "$T/r$1.log" || cat "$T/r$1.log"
    R_URL="http://$(grep -o '"address":"[^"]*"' "$T/r$1.log" | head -1 | cut -d'"' -f4)"
  }
  replica 1; R1=$R_URL
  replica 2; R2=$R_URL
  st=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Authorization: Bearer sk-main' "$R1/v1/models")
  check "/v1/models with a Redis ledger" sh -c "test $st = 200 && grep -q '\"id\":\"test/ok\"' '$T/out'"
  body=$(msg test/ok 'hi')
  for i in $(seq 1 40); do if [ $((i % 2)) = 0 ]; then echo "$R1 $i"; else echo "$R2 $i"; fi; done |
    xargs -P 16 -n 2 sh -c 'curl -s -o "$1.$4" -w "%{http_code}\n" -H "Authorization: Bearer sk-tiny" \
      -H "Content-Type: application/json" --data-binary "$2" "$3/v1/chat/completions"' _ \
      "$T/rep" "$body" > "$T/replicas"
  r200=$(grep -c '^200$' "$T/replicas"); r403=$(grep -c '^403$' "$T/replicas")
  rbud=$(grep -l '"code":"budget_exceeded"' "$T"/rep.* | wc -l)
  check "replica refusals are budget_exceeded ($rbud of $r403)" test "$rbud" = "$r403"
  # Each admitted request settles 18 micro-usd; 0.0002 usd holds at most 10 of them.
  check "two replicas on one Redis: $r200 admitted, $r403 refused, never more than the budget holds" \
    sh -c "test $r200 -ge 1 && test $r200 -le 10 && test $((r200 + r403)) = 40"
  "$TG" spend --ledger "redis://127.0.0.1:$rport/0" --json > "$T/rspend"
  rspent=$(tr ',' '\n' < "$T/rspend" | grep -m1 '"spent"' | grep -o '[0-9.]*' | head -1)
  check "Redis budget never overspent (spent $rspent of 0.0002 usd)" awk "BEGIN{exit !($rspent <= 0.0002 && $rspent > 0)}"
else
  fail "redis-server is not installed (run .ci/setup)"
fi

# --- kill -9 under load: nothing a client was answered about is lost ---
# Default durability (audit_sync false): the settlement (ledger journal) and
# the decision record are written to the OS before each answer. Eight
# clients send 400 requests; the gateway is killed with SIGKILL once 150
# answers have arrived, with requests in flight (its ledger commits every
# 5 ms, so the last settlements are only in the journal). Then: the chain
# verifies, every answered decision id has its record, and the ledger's
# spend (the reader applies the journal) covers every answered request and
# at most the recorded ones plus the eight in flight.
sed 's#"sqlite:data/ledger.db"#"sqlite:k9/ledger.db"#; s#"data/audit"#"k9/audit"#' "$T/gw.json" > "$T/k9.json"
(cd "$T" && exec "$TG" serve --config k9.json 2> "$T/k9.log") &
K9_PID=$!; PIDS+=($K9_PID)
wait_for "the k9 gateway" 20 grep -q '"event":"listening"' "$T/k9.log"
K9=$(grep -o '"address":"[^"]*"' "$T/k9.log" | head -1 | cut -d'"' -f4)
mkdir -p "$T/k9h"
seq 1 400 | xargs -P 8 -I{} sh -c "curl -s -o /dev/null -D '$T/k9h/{}' -H 'Authorization: Bearer sk-k9' \
  -H 'Content-Type: application/json' --data-binary '$(msg test/ok hi)' http://$K9/v1/chat/completions" 2>/dev/null &
K9_LOAD=$!
answered() { test "$(grep -l '^HTTP/1.1 200' "$T"/k9h/* 2>/dev/null | wc -l)" -ge 150; }
wait_for "150 answers from the k9 gateway" 30 answered
kill -9 $K9_PID; wait $K9_PID 2>/dev/null; wait $K9_LOAD 2>/dev/null
echo "# after the kill: ledger journal $(cat "$T"/k9/ledger.db-changes* | wc -c) bytes"
grep -l '^HTTP/1.1 200' "$T"/k9h/* | xargs grep -hi '^x-tollgate-decision-id' | tr -d '\r' | awk '{print $2}' | sort > "$T/k9.ids"
check "kill -9: $(wc -l < "$T/k9.ids") of 400 requests answered before the kill, some not" \
  sh -c "test $(wc -l < "$T/k9.ids") -ge 150 && test $(wc -l < "$T/k9.ids") -lt 400"
check "kill -9: the audit chain verifies" "$TG" audit verify "$T/k9/audit"
"$TG" audit export --audit "$T/k9/audit" --json > "$T/k9.records" 2>/dev/null
"$TG" spend --ledger "sqlite:$T/k9/ledger.db" --json > "$T/k9.spend"
check "kill -9: every answered decision has its record; the ledger's spend covers every answered request" \
  node -e '
  const fs = require("fs");
  const ids = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  const recs = new Map();
  for (const l of fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean)) {
    const r = JSON.parse(l); if (r.kind === "decision") recs.set(r.id, r);
  }
  const cost = r => Math.round(parseFloat(r.gateway.cost) * 1e6);
  let answered = 0, recorded = 0, most = 0;
  for (const r of recs.values()) { recorded += cost(r); most = Math.max(most, cost(r)); }
  for (const id of ids) {
    const r = recs.get(id);
    if (!r || !r.gateway || r.gateway.status !== 200) { console.error("missing record", id); process.exit(1); }
    answered += cost(r);
  }
  const m = fs.readFileSync(process.argv[3], "utf8").match(/"k9_daily"[^}]*"spent":"?([0-9.]+)/);
  const spent = m ? Math.round(parseFloat(m[1]) * 1e6) : -1;
  console.error("# answered", answered, "recorded", recorded, "ledger", spent, "micros");
  if (answered <= 0 || spent < answered || spent > recorded + 8 * most) process.exit(1);
  ' "$T/k9.ids" "$T/k9.records" "$T/k9.spend"

# --- the decision log fails: fail closed with 503 audit_unavailable ---
# The gateway runs under a 160 KB file size limit (RLIMIT_FSIZE) with no
# ledger: once the log cannot grow, the answer whose record failed is
# withheld (503), every later request is refused (/v1/decide too), /healthz
# says so, and the process stays up. Every 200 answered before has its record.
sed 's#"sqlite:data/ledger.db"#""#; s#"data/audit"#"full/audit"#' "$T/gw.json" > "$T/full.json"
(cd "$T" && exec prlimit --fsize=160000 "$TG" serve --config full.json 2> "$T/full.log") &
FULL_PID=$!; PIDS+=($FULL_PID)
wait_for "the size-limited gateway" 20 grep -q '"event":"listening"' "$T/full.log"
FULL=$(grep -o '"address":"[^"]*"' "$T/full.log" | head -1 | cut -d'"' -f4)
: > "$T/full.ids"; fst=200; n=0
while [ "$fst" = 200 ] && [ $n -lt 1000 ]; do
  n=$((n + 1))
  fst=$(curl -s -o "$T/full.out" -D "$T/full.hdr" -w '%{http_code}' -H 'Authorization: Bearer sk-main' \
    -H 'Content-Type: application/json' --data-binary "$(msg test/ok "request $n $(printf 'x%.0s' $(seq 1 300))")" \
    "http://$FULL/v1/chat/completions")
  [ "$fst" = 200 ] && grep -i '^x-tollgate-decision-id' "$T/full.hdr" | tr -d '\r' | awk '{print $2}' >> "$T/full.ids"
done
check "log full: the answer whose record failed is withheld with 503 audit_unavailable (after $((n - 1)) answers)" \
  sh -c "test '$fst' = 503 && grep -q '\"code\":\"audit_unavailable\"' '$T/full.out' && grep -q 'answer is withheld' '$T/full.out' && test $n -gt 5"
st=$(curl -s -o "$T/full.out" -w '%{http_code}' -H 'Authorization: Bearer sk-main' -H 'Content-Type: application/json' \
  --data-binary "$(msg test/ok hi)" "http://$FULL/v1/chat/completions")
check "log full: later requests are refused with 503 audit_unavailable" \
  sh -c "test '$st' = 503 && grep -q audit_unavailable '$T/full.out'"
st=$(curl -s -o "$T/full.out" -w '%{http_code}' --data-binary \
  '{"principal":{"workspace":"main"},"request":{"model":"test/ok","messages":[{"role":"user","content":"hi"}]}}' \
  "http://$FULL/v1/decide")
check "log full: /v1/decide is refused with 503 audit_unavailable too" \
  sh -c "test '$st' = 503 && grep -q audit_unavailable '$T/full.out'"
check "log full: /healthz answers 503 audit_failed" \
  sh -c "curl -s -w '%{http_code}' 'http://$FULL/healthz' | grep -q 'audit_failed.*503'"
check "log full: the gateway is still up" kill -0 $FULL_PID
"$TG" audit export --audit "$T/full/audit" --json > "$T/full.records" 2>/dev/null
check "log full: every request answered 200 has its record ($(wc -l < "$T/full.ids") answers)" node -e '
  const fs = require("fs");
  const ids = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  const have = new Set(fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean)
    .map(l => JSON.parse(l)).filter(r => r.kind === "decision").map(r => r.id));
  process.exit(ids.length > 5 && ids.every(id => have.has(id)) ? 0 : 1);' "$T/full.ids" "$T/full.records"
kill -INT $FULL_PID; wait $FULL_PID  # SIGINT: no grace period

# --- the connection cap: connections above it are closed, the server serves on ---
sed 's#"max_header_bytes": 4096#"max_header_bytes": 4096, "max_connections": 4#; s#"data/audit"#""#' "$T/gw.json" > "$T/cap.json"
(cd "$T" && exec "$TG" serve --config cap.json 2> "$T/cap.log") &
CAP_PID=$!; PIDS+=($CAP_PID)
wait_for "the capped gateway" 20 grep -q '"event":"listening"' "$T/cap.log"
CAP=$(grep -o '"address":"[^"]*"' "$T/cap.log" | head -1 | cut -d'"' -f4)
for i in 1 2 3 4; do eval "exec {fd$i}<>/dev/tcp/${CAP%:*}/${CAP#*:}"; done
wait_for "the cap to be reached" 10 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' http://$CAP/healthz)\" = 000"
check "a connection above the cap is closed at once" test "$(curl -s -o /dev/null -w '%{http_code}' "http://$CAP/healthz")" = 000
for i in 1 2 3 4; do eval "exec {fd$i}>&-"; done
wait_for "connections to be served again" 10 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' http://$CAP/healthz)\" = 200"
check "below the cap again, requests are served" test "$(curl -s -o /dev/null -w '%{http_code}' "http://$CAP/healthz")" = 200
kill -INT $CAP_PID; wait $CAP_PID

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
