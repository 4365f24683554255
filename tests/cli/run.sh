#!/usr/bin/env bash
# End-to-end tests of the `tollgate` binary: exit codes and output fields of
# every command against the example policies in policies/.
#
#   bash tests/cli/run.sh build/tollgate        (ctest runs it as test `cli`)
#
# Runs from the repository root. Needs only bash, grep, sed and wc.
set -uo pipefail

TG=${1:?usage: run.sh path/to/tollgate}
TG=$(cd "$(dirname "$TG")" && pwd)/$(basename "$TG")
cd "$(dirname "$0")/../.." || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. tests/cli/lib.sh
REQ=policies/requests
POL=policies/example.tg

# --- top level ---
run "no args" 2 "$TG"
has "no args usage" "$ERR" "usage: tollgate"
run "help" 0 "$TG" --help
has "help lists eval" "$OUT" "eval"
run "version" 0 "$TG" --version
has "version text" "$OUT" "tollgate 0."
has "version bytecode" "$OUT" "(bytecode format "
run "unknown command" 2 "$TG" frobnicate
has "unknown command message" "$ERR" "unknown command \`frobnicate\`"
for cmd in check eval test fmt disasm route spend; do
  run "$cmd --help" 0 "$TG" "$cmd" --help
  has "$cmd --help usage" "$OUT" "usage: tollgate $cmd"
done
run "unknown flag" 2 "$TG" eval --policy "$POL" --frobnicate
has "unknown flag message" "$ERR" "unknown flag \`--frobnicate\`"

# --- serve: a file that cannot be read is exit 3 (I/O), one with errors exit 1 ---
run "serve missing config" 3 "$TG" serve --config "$TMP/nonexistent.json"
has "serve missing config message" "$ERR" "nonexistent.json"
printf '{"policy": "%s/policies/example.tg", "catalog": "%s/policies/catalog.json", "accounts": "%s/policies/accounts.json", "keys": "%s/nokeys.json", "ledger": "", "audit": "", "listen": "127.0.0.1:0"}' \
  "$PWD" "$PWD" "$PWD" "$TMP" >"$TMP/nokeys.json.cfg"
run "serve missing keys file" 3 "$TG" serve --config "$TMP/nokeys.json.cfg"
printf '{"listen": 5}' >"$TMP/badcfg.json"
run "serve invalid config" 1 "$TG" serve --config "$TMP/badcfg.json"

# --- check ---
run "check policies" 0 "$TG" check policies
hasnt "check policies no warnings" "$ERR" 'warning['
for f in policies/*.tg; do has "check $f ok" "$OUT" "$f: ok"; done
cat >"$TMP/broken.tg" <<'EOF'
policy "broken"
rule r { when request.modle == "x" deny "no" }
EOF
run "check broken" 1 "$TG" check "$TMP/broken.tg"
has "check broken location" "$ERR" "broken.tg:2:"
has "check broken code" "$ERR" "error[tg_unknown_field]"
has "check broken help" "$ERR" "request.model"
run "check missing file" 3 "$TG" check "$TMP/nope.tg"
run "check no args" 2 "$TG" check

# --- eval: single ---
run "eval card" 0 "$TG" eval --policy "$POL" --request "$REQ/card_redaction.json" --compact
has "eval card outcome" "$OUT" '"outcome":"allow"'
has "eval card status" "$OUT" '"status":200'
has "eval card redaction" "$OUT" '"pattern":"dlp.credit_card","replacement":"[CARD]"'
has "eval card policy" "$OUT" '"policy":{"name":"acme-production","version":"sha256:'
hasnt "eval card no trace" "$OUT" '"trace"'
run "eval card redacted" 0 "$TG" eval --policy "$POL" --request "$REQ/card_redaction.json" --apply-redactions --compact
has "redacted request" "$OUT" '"redacted_request":{'
has "redacted card" "$OUT" 'Her card was [CARD]'
hasnt "card number gone" "$OUT" '4111 1111 1111 1111'
# route --apply-redactions: the endpoints and the redacted body a gateway forwards, in one decision
run "route card redacted" 0 "$TG" route --policy "$POL" --catalog policies/catalog.json \
  --accounts policies/accounts.json --request "$REQ/card_redaction.json" --apply-redactions --compact
has "route redacted: endpoints" "$OUT" '"endpoints":[{"id":'
has "route redacted: redacted request" "$OUT" '"redacted_request":{'
has "route redacted: card replaced" "$OUT" 'Her card was [CARD]'
hasnt "route redacted: card number gone" "$OUT" '4111 1111 1111 1111'
run "route --requests --apply-redactions" 2 "$TG" route --policy "$POL" --catalog policies/catalog.json \
  --requests "$REQ/batch.jsonl" --apply-redactions
has "route --requests --apply-redactions message" "$ERR" '`--apply-redactions` works with `--request` only'
run "eval stdin" 0 "$TG" eval --policy "$POL" --compact <"$REQ/huge_max_tokens.json"
has "huge deny" "$OUT" '"outcome":"deny","status":400,"code":"policy_denied"'
has "huge rule" "$OUT" '"huge_max_tokens"'
run "eval suspended" 0 "$TG" eval --policy "$POL" --request "$REQ/suspended_workspace.json" --compact
has "suspended 402" "$OUT" '"outcome":"deny","status":402'
run "eval injection" 0 "$TG" eval --policy "$POL" --request "$REQ/injection.json" --compact
has "injection shadow" "$OUT" '"shadow":["injection"]'
has "injection allowed" "$OUT" '"outcome":"allow"'
run "eval eu" 0 "$TG" eval --policy "$POL" --request "$REQ/eu_confidential.json" --compact
has "eu requires" "$OUT" '{"rule":"eu_residency","predicate":'
run "eval explain" 0 "$TG" eval --policy "$POL" --request "$REQ/us_simple.json" --explain
has "explain trace" "$OUT" '"trace": ['
has "explain pretty" "$OUT" '  "outcome": "allow",'
# the trace renders records (messages) with their field names
cat >"$TMP/msgs.tg" <<'TG'
policy "msgs"
rule sys {
  when any m in request.messages: m.role == "system"
  warn "has a system message"
}
TG
printf '%s' '{"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi","name":"bob"}]}}' >"$TMP/msgs.json"
run "eval trace records" 0 "$TG" eval --policy "$TMP/msgs.tg" --request "$TMP/msgs.json" --explain --compact
has "trace record fields" "$OUT" '"request.messages":[{"role":"system","content":{"length":8}},{"role":"user","content":{"length":2},"name":{"length":3}}]'
hasnt "trace record no content" "$OUT" 'be brief'
has "trace record warning" "$OUT" '"message":"has a system message"'
# --explain never copies raw content: the detector, the span and a masked excerpt
printf '%s' '{"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"card 4111 1111 1111 1111 ok"}]}}' >"$TMP/card.json"
run "explain masks content" 0 "$TG" eval --policy policies/dlp.tg --request "$TMP/card.json" --explain --compact
has "explain masked match" "$OUT" '"request.content":{"length":27,"matches":[{"detector":"dlp.credit_card","span":[5,24],"excerpt":"41***************11"}]}'
hasnt "explain no raw card" "$OUT" '4111 1111'
hasnt "explain no raw text" "$OUT" 'card 4111'
run "eval secret" 0 "$TG" eval --policy "$POL" --request "$REQ/secret_leak.json" --compact
has "secret 422" "$OUT" '"status":422'

# invalid inputs: JSON error object, exit 1
echo '{"principal": ' >"$TMP/malformed.json"
run "eval malformed" 1 "$TG" eval --policy "$POL" --request "$TMP/malformed.json"
has "malformed code" "$OUT" '{"error":{"code":"input_malformed_json","message":"malformed JSON at byte'
echo '{"principal": {"workspace": "acme"}, "request": {"model": "m", "messages": [], "max_tokens": "9"}}' >"$TMP/wrong.json"
run "eval wrong type" 1 "$TG" eval --policy "$POL" --request "$TMP/wrong.json"
has "wrong type code" "$OUT" '"code":"input_wrong_type"'
has "wrong type path" "$OUT" '"path":"request.max_tokens"'
echo '{"principal": {"workspace": "acme", "shoe_size": 9}, "request": {"model": "m", "messages": []}}' >"$TMP/unknown.json"
run "eval unknown field" 1 "$TG" eval --policy "$POL" --request "$TMP/unknown.json"
has "unknown field" "$OUT" '"code":"input_unknown_field","message":"unknown field `principal.shoe_size`"'
echo '{"request": {"model": "m", "messages": []}}' >"$TMP/missing.json"
run "eval missing field" 1 "$TG" eval --policy "$POL" --request "$TMP/missing.json"
has "missing field" "$OUT" '"code":"input_missing_field","message":"missing required field `principal.workspace`"'
printf '{"principal": {"workspace": "\xff"}, "request": {"model": "m", "messages": []}}' >"$TMP/utf8.json"
run "eval invalid utf8" 1 "$TG" eval --policy "$POL" --request "$TMP/utf8.json"
has "invalid utf8" "$OUT" '"code":"input_invalid_utf8"'
{ printf '{"principal": {"workspace": "acme"}, "request": {"model": "m", "messages": [], "x": '
  printf '[%.0s' $(seq 1 5000); printf ']%.0s' $(seq 1 5000); printf '}}'; } >"$TMP/deep.json"
run "eval deep" 1 "$TG" eval --policy "$POL" --request "$TMP/deep.json"
has "too deep" "$OUT" '"code":"input_too_deep"'

run "eval no policy" 2 "$TG" eval --request "$REQ/us_simple.json"
run "eval both modes" 2 "$TG" eval --policy "$POL" --request a --requests b
run "eval missing policy" 3 "$TG" eval --policy "$TMP/nope.tg" --request "$REQ/us_simple.json"
run "eval missing request" 3 "$TG" eval --policy "$POL" --request "$TMP/nope.json"
run "eval broken policy" 1 "$TG" eval --policy "$TMP/broken.tg" --request "$REQ/us_simple.json"
has "eval broken diag" "$ERR" "tg_unknown_field"

# --- eval: batch ---
n_in=$(wc -l <"$REQ/batch.jsonl")
run "batch" 1 "$TG" eval --policy "$POL" --requests "$REQ/batch.jsonl"
lines "batch one line per input" "$OUT" "$n_in"
has "batch line numbers" "$OUT" '{"line":1,"outcome":'
has "batch error line" "$OUT" '"error":{"code":"input_malformed_json"'
# a bigger clean stream from stdin, with a bad line in the middle
for i in $(seq 1 1500); do
  echo '{"principal": {"workspace": "acme-research", "user": "u'"$i"'"}, "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello '"$i"'"}], "max_tokens": 100}}'
done >"$TMP/many.jsonl"
run "batch stdin clean" 0 "$TG" eval --policy "$POL" --requests - <"$TMP/many.jsonl"
lines "batch stdin lines" "$OUT" 1500
has "batch last line" "$OUT" '{"line":1500,"outcome":'
hasnt "batch clean has no errors" "$OUT" '"error":{'
{ head -n 700 "$TMP/many.jsonl"; echo 'not json'; tail -n 800 "$TMP/many.jsonl"; } >"$TMP/mixed.jsonl"
run "batch bad line" 1 "$TG" eval --policy "$POL" --requests "$TMP/mixed.jsonl"
lines "batch bad line count" "$OUT" 1501
has "batch bad line numbered" "$OUT" '{"line":701,"error":{"code":"input_malformed_json"'
has "batch continues" "$OUT" '{"line":1501,"outcome":'
run "batch missing file" 3 "$TG" eval --policy "$POL" --requests "$TMP/nope.jsonl"
# blank lines are skipped (not errors; line numbers still count them); a BOM is stripped
{ head -n 2 "$TMP/many.jsonl"; echo; printf '   \t\n'; printf '\357\273\277'; head -n 1 "$TMP/many.jsonl"; } >"$TMP/blank.jsonl"
run "batch blank lines" 0 "$TG" eval --policy "$POL" --requests "$TMP/blank.jsonl"
lines "batch blank lines skipped" "$OUT" 3
has "batch blank numbering" "$OUT" '{"line":5,"outcome":'
hasnt "batch blank no error" "$OUT" '"error":{'
# a line above max_input_bytes (4 MiB) is discarded while reading: input_too_large, run goes on
{ printf '{"x": "'; head -c 5000000 /dev/zero | tr '\0' 'a'; printf '"}\n'; head -n 1 "$TMP/many.jsonl"; } >"$TMP/long.jsonl"
run "batch overlong line" 1 "$TG" eval --policy "$POL" --requests "$TMP/long.jsonl"
lines "batch overlong lines" "$OUT" 2
has "batch overlong error" "$OUT" '{"line":1,"error":{"code":"input_too_large","message":"decision input is 5000009 bytes, more than the limit of 4194304"'
has "batch overlong continues" "$OUT" '{"line":2,"outcome":'
# interactive: one line in, its answer out while the input is still open
coproc TGB { "$TG" eval --policy "$POL" --requests - 2>/dev/null; }
tgb_pid=$TGB_PID  # bash unsets TGB_PID once the coprocess has been reaped
head -n 1 "$TMP/many.jsonl" >&"${TGB[1]}"
answer=""
IFS= read -r -t 20 answer <&"${TGB[0]}" || true
case "$answer" in '{"line":1,"outcome":'*) ok ;; *) bad "batch interactive: no answer before EOF (got \`$answer\`)" ;; esac
tgb_in=${TGB[1]}
exec {tgb_in}>&-
wait "$tgb_pid" 2>/dev/null

# --- disasm ---
run "disasm" 0 "$TG" disasm policies/eu_residency.tg
has "disasm header" "$OUT" 'policy "eu-residency"'
has "disasm rule" "$OUT" 'eu_residency'
# Two files are one policy: their headers must name the same policy.
run "disasm two files" 1 "$TG" disasm policies/eu_residency.tg policies/dlp.tg
has "disasm two files names" "$ERR" "tg_composition_error"
run "disasm broken" 1 "$TG" disasm "$TMP/broken.tg"

# --- fmt ---
cp policies/eu_residency.tg "$TMP/f.tg"
run "fmt" 0 "$TG" fmt "$TMP/f.tg"
cp "$TMP/f.tg" "$TMP/f1.tg"
run "fmt idempotent" 0 "$TG" fmt "$TMP/f.tg"
if cmp -s "$TMP/f.tg" "$TMP/f1.tg"; then ok; else bad "fmt is not idempotent"; fi
run "fmt --check clean" 0 "$TG" fmt --check "$TMP/f.tg"
sed 's/^  //' "$TMP/f.tg" | sed 's/ == /==/g' >"$TMP/g.tg"
cp "$TMP/g.tg" "$TMP/g0.tg"
run "fmt --check dirty" 1 "$TG" fmt --check "$TMP/g.tg" "$TMP/f.tg"
has "fmt --check lists dirty" "$OUT" "g.tg"
hasnt "fmt --check skips clean" "$OUT" "f.tg"
if cmp -s "$TMP/g.tg" "$TMP/g0.tg"; then ok; else bad "fmt --check modified the file"; fi
run "fmt rewrite" 0 "$TG" fmt "$TMP/g.tg"
if cmp -s "$TMP/g.tg" "$TMP/f.tg"; then ok; else bad "fmt of the dirty copy differs from the canonical file"; fi
run "fmt then test" 0 "$TG" test "$TMP/g.tg"
printf 'policy "x"\nrule {\n' >"$TMP/syntax.tg"
run "fmt syntax error" 1 "$TG" fmt "$TMP/syntax.tg"
has "fmt syntax diag" "$ERR" "tg_parse_error"

# --- test ---
run "test policies" 0 "$TG" test policies
has "test pass lines" "$OUT" "  PASS  "
has "test summary" "$OUT" " passed, 0 failed"
hasnt "test no failures" "$OUT" "  FAIL  "
cat >"$TMP/failing.tg" <<'EOF'
policy "failing"
rule big { when (request.max_tokens ?? 0) > 100 deny 413 "too big" }
rule unused { when request.model == "nobody" deny "no" }
test "big requests are denied" {
  given { request.max_tokens: 500 }
  expect deny 413
}
test "this expectation is wrong" {
  given { request.max_tokens: 500 }
  expect allow
}
EOF
mkdir -p "$TMP/dir/sub"
cp "$TMP/failing.tg" "$TMP/dir/sub/"
cat >"$TMP/unguarded.tg" <<'EOF'
policy "unguarded"
rule streaming { when request.stream and request.model == "x" deny "no streaming" }
EOF
run "check unguarded optional" 1 "$TG" check "$TMP/unguarded.tg"
has "check unguarded code" "$ERR" "unguarded.tg:2:23: error[tg_unguarded_optional]"
has "check unguarded help" "$ERR" 'guard it: `exists(request.stream) and ...`, or give a default: `request.stream ?? false`'
run "test failing" 1 "$TG" test "$TMP/failing.tg"
has "test PASS" "$OUT" "  PASS  big requests are denied"
has "test FAIL" "$OUT" "  FAIL  this expectation is wrong"
has "test failure reason" "$OUT" "expected allow, got deny 413"
has "test not exercised" "$OUT" "not exercised: unused"
has "test summary counts" "$OUT" "1 passed, 1 failed"
run "test dir recursion" 1 "$TG" test "$TMP/dir"
has "test dir found file" "$OUT" "sub/failing.tg"
# parts of one policy given one by one: tested apart, and said so
mkdir -p "$TMP/split"
printf 'policy "acme"\nrule a { when request.content contains "x" deny "x" }\n' >"$TMP/split/a.tg"
printf 'policy "acme"\nrule b { when request.content contains "y" deny "y" }\n' >"$TMP/split/b.tg"
run "test split policy" 0 "$TG" test "$TMP/split"
has "test split policy warns" "$ERR" 'both declare policy "acme": each file is tested on its own'
run "test separate policies" 0 "$TG" test "$TMP/split/a.tg" policies/dlp.tg
hasnt "test separate policies: no warning" "$ERR" "both declare policy"
run "test broken policy" 1 "$TG" test "$TMP/broken.tg"
has "test broken reported" "$OUT" "ERROR"
run "test missing" 3 "$TG" test "$TMP/nope.tg"
mkdir -p "$TMP/empty"
run "test empty dir" 3 "$TG" test "$TMP/empty"
has "test empty dir message" "$ERR" "no policy files (*.tg) under"

# --- --schema extends the decision input ---
cat >"$TMP/schema.json" <<'EOF'
{"fields": [{"path": "principal.department", "type": "string", "scope": "request",
             "description": "cost centre"}]}
EOF
cat >"$TMP/dept.tg" <<'EOF'
policy "dept"
rule finance_only { when principal.department != "finance" deny "finance only" }
test "finance passes" { given { principal.department: "finance" } expect allow }
test "others are denied" { given { principal.department: "sales" } expect deny }
EOF
run "schema check without" 1 "$TG" check "$TMP/dept.tg"
run "schema check with" 0 "$TG" check --schema "$TMP/schema.json" "$TMP/dept.tg"
run "schema test" 0 "$TG" test --schema "$TMP/schema.json" "$TMP/dept.tg"
echo '{"principal": {"workspace": "w", "department": "sales"}, "request": {"model": "m", "messages": []}}' >"$TMP/dept.json"
run "schema eval" 0 "$TG" eval --schema "$TMP/schema.json" --policy "$TMP/dept.tg" --request "$TMP/dept.json" --compact
has "schema eval deny" "$OUT" '"outcome":"deny"'
has "schema eval rule" "$OUT" '"rules":["finance_only"]'
echo '{"fields": [{"path": "principal", "type": "nope"}]}' >"$TMP/badschema.json"
run "bad schema" 1 "$TG" check --schema "$TMP/badschema.json" "$TMP/dept.tg"
run "missing schema" 3 "$TG" check --schema "$TMP/nope.json" "$TMP/dept.tg"
# a member repeated in a schema file: refused (jq would read the last copy, a loader the first)
echo '{"fields": [{"path": "principal.department", "type": "int", "type": "string", "scope": "request"}]}' >"$TMP/dupschema.json"
run "duplicate key schema" 1 "$TG" check --schema "$TMP/dupschema.json" "$TMP/dept.tg"
has "duplicate key schema message" "$ERR" "error: invalid schema \`$TMP/dupschema.json\`: duplicate key \`type\` at \`fields[0].type\`"
mkdir -p "$TMP/dupext"
cp "$TMP/dupschema.json" "$TMP/dupext/fields.json"
sed 's/^policy "dept"$/policy "dept"\nschema "fields.json"/' "$TMP/dept.tg" >"$TMP/dupext/dept.tg"
run "duplicate key schema extension" 1 "$TG" check "$TMP/dupext/dept.tg"
has "duplicate key schema extension message" "$ERR" "error[tg_schema_error]: invalid schema extension \`fields.json\`: duplicate key \`type\` at \`fields[0].type\`"

# --- route ---
CAT=policies/catalog.json
RP=policies/eu_residency.tg
# allowed: a German user, EU endpoints in order (cost, then id), with estimated costs.
# An ordinary SDK body (max_completion_tokens, stream_options, user) keeps require_parameters usable.
cat >"$TMP/route_ok.json" <<'EOF'
{"principal": {"workspace": "acme-research", "jurisdiction": "DE"},
 "request": {"model": "anthropic/claude-3.5-sonnet", "messages": [{"role": "user", "content": "hello"}],
   "max_completion_tokens": 100, "stream": true, "stream_options": {"include_usage": true}, "user": "u1",
   "temperature": 0.2, "provider": {"require_parameters": true, "sort": "price"}}}
EOF
run "route allow" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/route_ok.json"
has "route allow outcome" "$OUT" '"outcome":"allow","status":200'
has "route allow endpoints ordered" "$OUT" '"endpoints":[{"id":"anthropic/claude-3.5-sonnet@bedrock-frankfurt","provider":"amazon-bedrock/eu-central-1","model":"anthropic/claude-3.5-sonnet","estimated_cost":"0.001506"},{"id":"anthropic/claude-3.5-sonnet@vertex-europe",'
hasnt "route allow no explain" "$OUT" '"eliminated"'
run "route allow explain" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/route_ok.json" --explain
has "route explain eliminated" "$OUT" '{"id":"anthropic/claude-3.5-sonnet@anthropic","provider":"anthropic","model":"anthropic/claude-3.5-sonnet","code":"policy_require","source":"policy","rule":"eu_residency","detail":"provider.jurisdiction in eu -- provider.jurisdiction = \"US\"","values":{"provider.jurisdiction":"US"}}'
# require_parameters with typical OpenAI SDK parameters keeps the OpenAI endpoints
cat >"$TMP/route_sdk.json" <<'EOF'
{"principal": {"workspace": "acme-research"},
 "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
   "max_completion_tokens": 50, "stream": true, "stream_options": {"include_usage": true}, "n": 1,
   "logprobs": true, "frequency_penalty": 0.1, "parallel_tool_calls": false, "metadata": {"a": "b"},
   "provider": {"require_parameters": true}}}
EOF
run "route sdk params" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/route_sdk.json"
has "route sdk params openai" "$OUT" '"id":"openai/gpt-4o@openai"'
hasnt "route sdk params not eliminated" "$OUT" 'route_no_eligible_endpoint'
# nothing left: 403 route_no_eligible_endpoint, every candidate explained
cat >"$TMP/route_none.json" <<'EOF'
{"principal": {"workspace": "acme-research", "jurisdiction": "DE"},
 "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
   "provider": {"only": ["openai"]}}}
EOF
run "route none" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/route_none.json" --explain
has "route none deny" "$OUT" '"outcome":"deny","status":403,"code":"route_no_eligible_endpoint"'
has "route none endpoints empty" "$OUT" '"endpoints":[]'
has "route none policy elimination" "$OUT" '{"id":"openai/gpt-4o@openai","provider":"openai","model":"openai/gpt-4o","code":"policy_require","source":"policy","rule":"eu_residency"'
has "route none pref elimination" "$OUT" '{"id":"openai/gpt-4o@azure-sweden","provider":"azure/sweden","model":"openai/gpt-4o","code":"pref_only","source":"request","field":"provider.only","detail":"provider `azure/sweden` is not in `provider.only`"}'
has "route none reason" "$OUT" 'no eligible endpoint for `openai/gpt-4o`: 5 candidates eliminated'
# :nitro applies to its own model entry: the plain primary first (no priority tier), the
# priority endpoint only under the :nitro fallback, named by "requested"
printf 'policy "none"\n' >"$TMP/none.tg"
echo '{"principal": {"workspace": "acme"}, "request": {"model": "openai/gpt-4o", "models": ["openai/gpt-4o:nitro"], "messages": [{"role": "user", "content": "hi"}]}}' >"$TMP/route_nitro.json"
run "route nitro fallback" 0 "$TG" route --compact --explain --policy "$TMP/none.tg" --catalog "$CAT" --request "$TMP/route_nitro.json"
has "route nitro fallback plain first" "$OUT" '"endpoints":[{"id":"openai/gpt-4o@azure-eastus",'
has "route nitro fallback priority last" "$OUT" '{"id":"openai/gpt-4o@openai-priority","provider":"openai/priority","model":"openai/gpt-4o","estimated_cost":"0.278532","requested":"openai/gpt-4o:nitro"}]'
has "route nitro fallback flex" "$OUT" '"id":"openai/gpt-4o@openai-flex","provider":"openai/flex","model":"openai/gpt-4o","code":"tier_not_selected"'
# Regression: a bare model name is the catalog's one model of that name, as the gateway reads
# it (docs/gateway.md, "Model names"); route and eval --catalog decided on the bare name, so a
# rule on `openai/gpt-4o` held through the gateway and not here.
printf 'policy "bare"\nrule no_gpt4o {\n  when request.model == "openai/gpt-4o"\n  deny 403 "no gpt-4o"\n}\n' >"$TMP/bare.tg"
echo '{"principal": {"workspace": "acme"}, "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}' >"$TMP/bare.json"
run "route bare model name" 0 "$TG" route --compact --policy "$TMP/bare.tg" --catalog "$CAT" --request "$TMP/bare.json"
has "route bare model name: the rule on the catalog's name holds" "$OUT" '"outcome":"deny","status":403,"code":"policy_denied"'
run "route --requests bare model name" 0 "$TG" route --policy "$TMP/bare.tg" --catalog "$CAT" --requests "$TMP/bare.json"
has "route --requests bare model name: the rule holds" "$OUT" '"rules":["no_gpt4o"]'
sed 's/"model": "gpt-4o"/"model": "gpt-4o-mini", "models": ["gpt-4o:nitro"]/' "$TMP/bare.json" >"$TMP/bare_mini.json"
run "route bare fallback names" 0 "$TG" route --compact --explain --policy "$TMP/bare.tg" --catalog "$CAT" --request "$TMP/bare_mini.json"
has "route bare fallback: the primary resolved" "$OUT" '"endpoints":[{"id":"openai/gpt-4o-mini@'
has "route bare fallback: resolved, the variant kept" "$OUT" '"requested":"openai/gpt-4o:nitro"'
run "eval --catalog bare model name" 0 "$TG" eval --compact --policy "$TMP/bare.tg" --catalog "$CAT" --request "$TMP/bare.json"
has "eval --catalog bare model name: the rule holds" "$OUT" '"code":"policy_denied"'
hasnt "eval --catalog: no warning" "$ERR" 'without its author'
run "eval --requests --catalog bare model name" 0 "$TG" eval --policy "$TMP/bare.tg" --catalog "$CAT" --requests "$TMP/bare.json"
has "eval --requests --catalog: the rule holds" "$OUT" '"code":"policy_denied"'
run "eval bare model name without a catalog" 0 "$TG" eval --compact --policy "$TMP/bare.tg" --request "$TMP/bare.json"
has "eval without a catalog: the name as given" "$OUT" '"outcome":"allow"'
has "eval without a catalog: the warning says so" "$ERR" 'warning: the request names the model `gpt-4o` without its author'
has "eval without a catalog: the help names --catalog" "$ERR" 'give `--catalog FILE` to decide as the gateway does'
# Policy test blocks alike: `tollgate test --catalog` reads a bare name as the gateway does;
# without a catalog the name is tested as given, and a warning says so.
cat "$TMP/bare.tg" >"$TMP/bare_test.tg"
printf 'test "a bare name is the catalog model" {\n  given { request.model: "gpt-4o" }\n  expect deny 403\n}\n' >>"$TMP/bare_test.tg"
run "test --catalog bare model name" 0 "$TG" test --catalog "$CAT" "$TMP/bare_test.tg"
has "test --catalog bare model name: passes" "$OUT" "1 passed, 0 failed"
hasnt "test --catalog: no warning" "$ERR" 'without its author'
run "test bare model name without a catalog" 1 "$TG" test "$TMP/bare_test.tg"
has "test without a catalog: the warning says so" "$ERR" 'names the model `gpt-4o` without its author'
# n completions: the estimated cost (and a route max_price cap) counts every one
printf 'policy "ncap"\nrule cap { route max_price 0.015 usd }\n' >"$TMP/ncap.tg"
for n in 1 3; do
  echo '{"principal": {"workspace": "acme"}, "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000, "n": '"$n"'}}' >"$TMP/route_n$n.json"
done
run "route n=1" 0 "$TG" route --compact --policy "$TMP/ncap.tg" --catalog "$CAT" --request "$TMP/route_n1.json"
has "route n=1 cost" "$OUT" '"id":"openai/gpt-4o@openai","provider":"openai","model":"openai/gpt-4o","estimated_cost":"0.010002"'
run "route n=3" 0 "$TG" route --compact --explain --policy "$TMP/ncap.tg" --catalog "$CAT" --request "$TMP/route_n3.json"
has "route n=3 refused" "$OUT" '"endpoints":[]'
has "route n=3 explained" "$OUT" '"detail":"endpoint.estimated_cost 0.030002 usd > max 0.015 usd (3 completions)"'
echo '{"principal": {"workspace": "acme"}, "request": {"model": "openai/gpt-4o", "messages": [], "n": 0}}' >"$TMP/route_n0.json"
run "route n=0" 1 "$TG" route --compact --policy "$TMP/ncap.tg" --catalog "$CAT" --request "$TMP/route_n0.json"
has "route n=0 invalid" "$OUT" '"code":"input_invalid_value","message":"`request.n` (the number of completions) must be an integer of at least 1, got 0"'
# route prints the decision as eval does (indented by default, same members
# in the same order), with the endpoints added
"$TG" eval --policy "$RP" --request "$TMP/route_ok.json" >"$TMP/eval_pretty.out"
"$TG" route --policy "$RP" --catalog "$CAT" --request "$TMP/route_ok.json" >"$TMP/route_pretty.out"
# (up to "instructions": the clock-filled "time" differs between two runs)
if diff <(sed -n '1,/^  "instructions"/p' "$TMP/eval_pretty.out" | sed '$s/,$//') <(sed -n '1,/^  "instructions"/p' "$TMP/route_pretty.out" | sed '$s/,$//') >/dev/null; then ok; else bad "route pretty: decision members differ from eval's"; fi
has "eval pretty time from the clock" "$TMP/eval_pretty.out" '"time_source": "clock"'
has "route pretty time from the clock" "$TMP/route_pretty.out" '"time_source": "clock"'
has "route pretty endpoints" "$TMP/route_pretty.out" '  "endpoints": ['
has "route pretty endpoint id" "$TMP/route_pretty.out" '      "id": "anthropic/claude-3.5-sonnet@bedrock-frankfurt",'
# names: a policy ban on a model covers its variants, a provider ban its regions
cat >"$TMP/names.tg" <<'EOF'
policy "names"
rule ban_gpt4o { when request.model == "openai/gpt-4o" deny 403 "gpt-4o is banned" }
rule no_bedrock { require provider.name != "amazon-bedrock" }
EOF
for m in "openai/gpt-4o:floor" "openai/gpt-4o:nitro" "openai/gpt-4o:free"; do
  printf '{"principal": {"workspace": "w"}, "request": {"model": "%s", "messages": []}}' "$m" >"$TMP/variant.json"
  run "variant ban $m" 0 "$TG" eval --compact --policy "$TMP/names.tg" --request "$TMP/variant.json"
  has "variant ban $m denied" "$OUT" '"outcome":"deny","status":403'
done
printf '{"principal": {"workspace": "w"}, "request": {"model": "anthropic/claude-3.5-sonnet", "messages": []}}' >"$TMP/bedrock.json"
run "region ban" 0 "$TG" route --compact --explain --policy "$TMP/names.tg" --catalog "$CAT" --request "$TMP/bedrock.json"
has "region ban eliminated" "$OUT" '"provider":"amazon-bedrock/eu-central-1","model":"anthropic/claude-3.5-sonnet","code":"policy_require","source":"policy","rule":"no_bedrock","detail":"provider.name != \"amazon-bedrock\" -- provider.name = \"amazon-bedrock\""'
hasnt "region ban routed" "$OUT" '"endpoints":[{"id":"anthropic/claude-3.5-sonnet@bedrock'
# allow_fallbacks false without order: the primary endpoint only
printf '{"principal": {"workspace": "w"}, "request": {"model": "anthropic/claude-3.5-sonnet", "messages": [], "provider": {"allow_fallbacks": false}}}' >"$TMP/nofb.json"
run "no fallbacks" 0 "$TG" route --compact --explain --policy "$TMP/names.tg" --catalog "$CAT" --request "$TMP/nofb.json"
has "no fallbacks one endpoint" "$OUT" '"endpoints":[{"id":"anthropic/claude-3.5-sonnet@'
hasnt "no fallbacks only one" "$OUT" '"estimated_cost":"0.000015"},{"id"'
has "no fallbacks others cut" "$OUT" '"code":"pref_allow_fallbacks","source":"request","field":"provider.allow_fallbacks","detail":"not the primary endpoint, and fallbacks are off without an `order`"'
# --accounts tightens: acme-eu's allowlist drops the first-party endpoint
cat >"$TMP/route_acct.json" <<'EOF'
{"principal": {"workspace": "acme-eu"},
 "request": {"model": "anthropic/claude-3.5-sonnet", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}}
EOF
run "route no accounts" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/route_acct.json"
has "route no accounts first-party" "$OUT" '"id":"anthropic/claude-3.5-sonnet@anthropic"'
run "route accounts" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" --accounts policies/accounts.json --request "$TMP/route_acct.json" --explain
has "route accounts eliminated" "$OUT" '{"id":"anthropic/claude-3.5-sonnet@anthropic","provider":"anthropic","model":"anthropic/claude-3.5-sonnet","code":"pref_only","source":"account","field":"provider.only"'
hasnt "route accounts endpoint dropped" "$OUT" '"endpoints":[{"id":"anthropic/claude-3.5-sonnet@anthropic"'
has "route accounts kept" "$OUT" '"endpoints":[{"id":"anthropic/claude-3.5-sonnet@'
# an `ignore` entry that names no catalog provider would ignore nothing: refused
printf '{"default": {"ignore": ["cheapcloud "]}}' >"$TMP/acct_space.json"
run "route accounts ignore unknown" 1 "$TG" route --compact --policy "$RP" --catalog "$CAT" --accounts "$TMP/acct_space.json" --request "$TMP/route_acct.json"
has "route accounts ignore unknown message" "$ERR" "error[accounts_invalid]: $TMP/acct_space.json: default: field \`ignore\` entry \`cheapcloud \` (default.ignore[0]) names no provider of the catalog, so it ignores nothing; did you mean \`cheapcloud\`?"
# exit codes: 1 invalid input / catalog, 2 usage, 3 I/O
echo '{"principal": {"workspace": "acme-eu", "workspace": "zzz"}, "request": {"model": "m", "messages": []}}' >"$TMP/dup.json"
run "route duplicate key" 1 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/dup.json"
has "route duplicate key code" "$OUT" '{"error":{"code":"input_duplicate_key","message":"duplicate key `workspace` in `principal`","path":"principal.workspace"}}'
echo '{"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "max_tokens": -1}}' >"$TMP/neg.json"
run "route negative max_tokens" 1 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/neg.json"
has "route negative max_tokens code" "$OUT" '"code":"input_invalid_value"'
run "eval negative max_tokens" 1 "$TG" eval --policy "$RP" --request "$TMP/neg.json"
has "eval negative max_tokens code" "$OUT" '"code":"input_invalid_value"'
# a member repeated in the catalog or the accounts: refused, with its JSON path
sed '0,/"jurisdiction": "US",/s//"jurisdiction": "DE", "jurisdiction": "US",/' "$CAT" >"$TMP/dupcat.json"
run "route duplicate key catalog" 1 "$TG" route --compact --policy "$RP" --catalog "$TMP/dupcat.json" --request "$TMP/route_acct.json"
has "route duplicate key catalog message" "$ERR" "error[catalog_invalid]: $TMP/dupcat.json: duplicate key \`jurisdiction\` at \`endpoints[0].jurisdiction\`"
printf '{"workspaces": {"acme-eu": {"zdr": true}, "acme-eu": {}}}' >"$TMP/dupacct.json"
run "route duplicate key accounts" 1 "$TG" route --compact --policy "$RP" --catalog "$CAT" --accounts "$TMP/dupacct.json" --request "$TMP/route_acct.json"
has "route duplicate key accounts message" "$ERR" "error[accounts_invalid]: $TMP/dupacct.json: duplicate key \`acme-eu\` at \`workspaces.acme-eu\`"
echo '{"endpoints": [{"id": "x"}]}' >"$TMP/badcat.json"
run "route bad catalog" 1 "$TG" route --compact --policy "$RP" --catalog "$TMP/badcat.json" --request "$TMP/route_ok.json"
has "route bad catalog code" "$ERR" "catalog_invalid"
run "route no catalog" 2 "$TG" route --compact --policy "$RP" --request "$TMP/route_ok.json"
run "route missing catalog" 3 "$TG" route --compact --policy "$RP" --catalog "$TMP/nope.json" --request "$TMP/route_ok.json"
run "route missing request" 3 "$TG" route --compact --policy "$RP" --catalog "$CAT" --request "$TMP/nope.json"
run "route stdin" 0 "$TG" route --compact --policy "$RP" --catalog "$CAT" <"$TMP/route_ok.json"
has "route stdin allow" "$OUT" '"outcome":"allow"'

# --- eval: DLP sees tool-call arguments, --apply-redactions rewrites them ---
cat >"$TMP/toolcard.json" <<'EOF'
{"principal": {"workspace": "acme-research"},
 "request": {"model": "openai/gpt-4o", "messages": [
   {"role": "user", "content": "pay the invoice"},
   {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
     "function": {"name": "pay", "arguments": "{\"card\": \"4111 1111 1111 1111\"}"}}]}]}}
EOF
run "eval tool call card" 0 "$TG" eval --policy "$POL" --request "$TMP/toolcard.json" --apply-redactions --compact
has "eval tool call redaction" "$OUT" '"pattern":"dlp.credit_card"'
has "eval tool call redacted" "$OUT" '"arguments":"{\"card\": \"[CARD]\"}"'
hasnt "eval tool call no card" "$OUT" '4111 1111 1111 1111'

# arguments and tool results as Python's json.dumps writes them: a card with
# no-break spaces, an address with umlauts, full-width digits as \uXXXX
# escapes; matches reads them, the escaped spelling is replaced whole and the
# arguments stay JSON (regression: nothing matched, the card went upstream)
cat >"$TMP/escaped.tg" <<'TG'
policy "escaped"
rule cards  { when request.content matches dlp.credit_card redact dlp.credit_card as "[CARD]" }
rule emails { when request.content matches dlp.email redact dlp.email as "[EMAIL]" }
rule ibans  { when request.content matches dlp.iban redact dlp.iban as "[IBAN]" }
TG
cat >"$TMP/escaped.json" <<'EOF'
{"principal":{"workspace":"w"},"request":{"model":"m","messages":[
 {"role":"user","content":"charge my card"},
 {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"charge","arguments":"{\"card\": \"4111\\u00a01111\\u00a01111\\u00a01111\", \"email\": \"j\\u00f6hn@b\\u00fccher.de\", \"iban\": \"DE89\\u00a03704\\u00a00044\\u00a00532\\u00a00130\\u00a000\"}"}}]},
 {"role":"tool","tool_call_id":"1","content":"{\"card\": \"\\uff14\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\\uff11\"}"}
]}}
EOF
run "eval escaped card" 0 "$TG" eval --policy "$TMP/escaped.tg" --request "$TMP/escaped.json" --apply-redactions --compact
has "escaped rules fire" "$OUT" '"rules":["cards","emails","ibans"]'
has "escaped arguments redacted" "$OUT" '"arguments":"{\"card\": \"[CARD]\", \"email\": \"[EMAIL]\", \"iban\": \"[IBAN]\"}"'
has "escaped tool result redacted" "$OUT" '"content":"{\"card\": \"[CARD]\"}"'
hasnt "no escaped digit left" "$OUT" 'u00a0'
hasnt "no escaped full-width digit left" "$OUT" 'uff1'

# the deprecated `functions` / `function_call` and OpenAI custom tools are tools
# too: a tool allowlist sees their names, DLP their arguments (regression:
# both escaped the policy silently)
cat >"$TMP/tools.tg" <<'TG'
policy "tools"
const approved_tools = {"search"}
rule unapproved_tool { when any t in request.tools: t not in approved_tools deny 403 "tool {t} is not approved" }
rule cards { when request.content matches dlp.credit_card redact dlp.credit_card as "[CARD]" }
TG
cat >"$TMP/legacy_functions.json" <<'EOF'
{"principal": {"workspace": "acme"},
 "request": {"model": "openai/gpt-4o", "functions": [{"name": "shell", "parameters": {}}],
   "messages": [{"role": "user", "content": "hi"}]}}
EOF
run "eval legacy functions" 0 "$TG" eval --policy "$TMP/tools.tg" --request "$TMP/legacy_functions.json" --compact
has "legacy functions denied" "$OUT" '"outcome":"deny","status":403,"code":"policy_denied","reason":"tool shell is not approved"'
cat >"$TMP/legacy_call.json" <<'EOF'
{"principal": {"workspace": "acme"},
 "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": ["card 4111 1111 1111 1111"]},
   {"role": "assistant", "content": null, "function_call": {"name": "search", "arguments": "{\"q\": \"4012 8888 8888 1881\"}"}},
   {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "search", "input": "5555 5555 5555 4444"}}]}]}}
EOF
run "eval legacy call card" 0 "$TG" eval --policy "$TMP/tools.tg" --request "$TMP/legacy_call.json" --apply-redactions --compact
has "legacy call allowed" "$OUT" '"outcome":"allow"'
has "legacy call redacted" "$OUT" '"function_call":{"name":"search","arguments":"{\"q\": \"[CARD]\"}"}'
has "custom call redacted" "$OUT" '"custom":{"name":"search","input":"[CARD]"}'
has "bare string part redacted" "$OUT" '"content":["card [CARD]"]'
hasnt "legacy call no card" "$OUT" '4012 8888'
hasnt "custom call no card" "$OUT" '5555 5555'
hasnt "bare part no card" "$OUT" '4111 1111'
# a ban on request.model alone is bypassed through the fallback models
cat >"$TMP/fallback.tg" <<'TG'
policy "fallback"
rule no_gpt4o { when request.model == "openai/gpt-4o" deny 403 "banned" }
TG
run "check fallback unchecked" 0 "$TG" check "$TMP/fallback.tg"
has "fallback unchecked warning" "$ERR" 'fallback.tg:2:22: warning[tg_fallback_unchecked]'
# ... and so is a require chosen by request.model; an unrelated rule over
# request.models does not cover it, a blanket deny of fallbacks does
cat >"$TMP/fb.tg" <<'TG'
policy "p"
const eu = {"DE", "FR", "SE", "NL", "IE", "FI"}
rule gpt4o_stays_in_eu {
  when request.model == "openai/gpt-4o"
  require provider.jurisdiction in eu
}
rule many { when length(request.models) > 8 deny 400 "x" }
TG
run "check fallback require" 0 "$TG" check "$TMP/fb.tg"
has "fallback require warning" "$ERR" 'fb.tg:4:8: warning[tg_fallback_unchecked]: rule `gpt4o_stays_in_eu` applies its require'
has "fallback require help" "$ERR" 'help: test `endpoint.model`'
echo 'rule no_fallbacks { when length(request.models) > 0 deny 400 "fallback models are not supported" }' >>"$TMP/fb.tg"
run "check fallback blanket" 0 "$TG" check "$TMP/fb.tg"
hasnt "fallback blanket silent" "$ERR" 'tg_fallback_unchecked'
# a decision-input candidate is named as the catalog names endpoints
cat >"$TMP/cand2.tg" <<'TG'
policy "p"
rule nobedrock { require provider.name not in {"amazon-bedrock"} }
rule no4o { require endpoint.model != "openai/gpt-4o" }
rule nocn { require provider.jurisdiction != "CN" }
test "bedrock region rejected" {
  given { request.model: "m" }
  candidate { provider.name: "amazon-bedrock/us-east-1", endpoint.model: "x" }
  expect rejected_by nobedrock
}
test "gpt-4o variant rejected" {
  given { request.model: "m" }
  candidate { provider.name: "openai", endpoint.model: "openai/gpt-4o:nitro" }
  expect rejected_by no4o
}
TG
run "test cand2" 0 "$TG" test "$TMP/cand2.tg"
# A test's candidate and `eval`'s agree on endpoint.estimated_cost: the
# router's estimate from the prices given (100 usd here), never a neutral 0.
cat >"$TMP/cost.tg" <<'TG'
policy "p"
rule cap { require endpoint.estimated_cost <= 0.50 usd }
test "pricey endpoint" {
  given { request.model: "openai/gpt-4o", request.max_tokens: 100000 }
  candidate { provider.name: "openai", endpoint.price_input: 1000 usd, endpoint.price_output: 1000 usd }
  expect rejected_by cap
}
test "pricey accepted" {
  given { request.model: "openai/gpt-4o", request.max_tokens: 100000 }
  candidate { provider.name: "openai", endpoint.price_input: 1000 usd, endpoint.price_output: 1000 usd }
  expect accepted
}
TG
run "test cost" 1 "$TG" test "$TMP/cost.tg"
has "test cost pass" "$OUT" "PASS  pricey endpoint"
has "test cost rejects" "$OUT" 'rule `cap` rejects it'
printf '{"principal":{"workspace":"w"},"request":{"model":"openai/gpt-4o","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]},"candidate":{"provider":{"name":"openai"},"endpoint":{"price_input":"1000","price_output":"1000"}}}\n' >"$TMP/cost.json"
run "eval cost" 0 "$TG" eval --policy "$TMP/cost.tg" --request "$TMP/cost.json" --compact
has "eval cost denies" "$OUT" '"require_failed"'
hasnt "eval cost no error" "$OUT" 'eval_missing_field'
# A shadow rule's require does not satisfy `rejected_by`; `expect shadow
# rejected_by` asserts it (and survives fmt).
cat >"$TMP/shadowreq.tg" <<'TG'
policy "p"
rule zdr mode shadow { require provider.zdr }
test "shadow verdict" {
  given { request.model: "m" }
  candidate { provider.zdr: false }
  expect shadow rejected_by zdr
  expect accepted
}
test "not enforced" {
  given { request.model: "m" }
  candidate { provider.zdr: false }
  expect rejected_by zdr
}
TG
run "test shadow require" 1 "$TG" test "$TMP/shadowreq.tg"
has "test shadow verdict" "$OUT" "PASS  shadow verdict"
has "test shadow hint" "$OUT" "expect shadow rejected_by zdr"
run "fmt shadow expect" 0 "$TG" fmt "$TMP/shadowreq.tg"
has "fmt keeps shadow" "$TMP/shadowreq.tg" "expect shadow rejected_by zdr"
cand_req() {
  printf '{"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"candidate":%s}\n' "$1" >"$TMP/c.json"
}
cand_req '{"provider":{"name":"amazon-bedrock/us-east-1"},"endpoint":{"model":"x"}}'
run "eval candidate bedrock region" 0 "$TG" eval --policy "$TMP/cand2.tg" --request "$TMP/c.json" --compact
has "eval candidate bedrock region denied" "$OUT" '"reason":"the chosen endpoint does not satisfy rule `nobedrock`"'
cand_req '{"provider":{"name":"openai"},"endpoint":{"model":"openai/gpt-4o:nitro"}}'
run "eval candidate gpt-4o variant" 0 "$TG" eval --policy "$TMP/cand2.tg" --request "$TMP/c.json" --compact
has "eval candidate gpt-4o variant denied" "$OUT" '"reason":"the chosen endpoint does not satisfy rule `no4o`"'
for bad in '"Amazon-Bedrock"' '"amazon-bedrock "'; do
  cand_req "{\"provider\":{\"name\":$bad}}"
  run "eval candidate name $bad" 1 "$TG" eval --policy "$TMP/cand2.tg" --request "$TMP/c.json" --compact
  has "eval candidate name $bad refused" "$OUT" '"code":"input_invalid_value"'
  has "eval candidate name $bad path" "$OUT" '"path":"candidate.provider.name"'
done
cand_req '{"provider":{"name":"deepseek","jurisdiction":"cn"}}'
run "eval candidate lower-case country" 1 "$TG" eval --policy "$TMP/cand2.tg" --request "$TMP/c.json" --compact
has "eval candidate lower-case country refused" "$OUT" '"path":"candidate.provider.jurisdiction"'

# --- composition: --policy more than once, or a directory, is ONE policy ---
mkdir -p "$TMP/acme/ext"
cat >"$TMP/acme/ext/fields.json" <<'EOF'
{"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request", "required": true}]}
EOF
cat >"$TMP/acme/legal.tg" <<'EOF'
policy "acme"
schema "ext/fields.json"
let eu_user = (principal.jurisdiction ?? "") in {"DE", "FR"}
rule eu_only { when eu_user require provider.jurisdiction in {"DE", "FR"} }
fixture base { principal.cost_center: "cc-1" }
test "eu users stay in the eu" {
  given base { principal.jurisdiction: "DE" }
  candidate { provider.jurisdiction: "US" }
  expect rejected_by eu_only
}
EOF
cat >"$TMP/acme/finance.tg" <<'EOF'
policy "acme"
rule big { when (request.max_tokens ?? 0) > 1000 deny 403 "too many tokens" }
test "big requests are denied" {
  given base { request.max_tokens: 5000, principal.jurisdiction: "US" }
  expect deny 403
  expect code "policy_denied"
  expect reason contains "tokens"
  expect no_errors
}
EOF
cat >"$TMP/acme/req.json" <<'EOF'
{"principal": {"workspace": "w", "cost_center": "cc-1", "jurisdiction": "DE"},
 "request": {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
 "candidate": {"provider": {"name": "p", "jurisdiction": "US"}}}
EOF
run "compose test dir" 0 "$TG" test --policy "$TMP/acme"
has "compose test pass" "$OUT" "2 passed, 0 failed"
# a failing test of a policy made of files names the file it is in, not only a line
mkdir -p "$TMP/acme2"
printf 'policy "m"\nrule no_free {\n  when "free" in request.variants\n  deny 403 "no free"\n}\n' >"$TMP/acme2/a.tg"
printf 'policy "m"\n\n\ntest "free is denied" {\n  given { request.model: "x/y:free" }\n  expect allow\n}\n' >"$TMP/acme2/b.tg"
run "compose test failing" 1 "$TG" test --policy "$TMP/acme2/a.tg" --policy "$TMP/acme2/b.tg"
has "compose test failure names its file" "$OUT" "  FAIL  free is denied ($TMP/acme2/b.tg:4)"
has "compose test expectation names its file" "$OUT" "$TMP/acme2/b.tg:6: expected allow"
run "compose check files" 0 "$TG" check --policy "$TMP/acme/legal.tg" --policy "$TMP/acme/finance.tg"
run "compose eval dir" 0 "$TG" eval --policy "$TMP/acme" --request "$TMP/acme/req.json" --compact
has "compose eval candidate deny" "$OUT" '"code":"require_failed"'
has "compose eval names rule" "$OUT" 'rule `eu_only`'
VERSION_DIR=$(grep -o '"version":"[^"]*"' "$OUT")
run "compose eval reversed" 0 "$TG" eval --policy "$TMP/acme/legal.tg" --policy "$TMP/acme/finance.tg" --request "$TMP/acme/req.json" --compact
has "compose one version id" "$OUT" "$VERSION_DIR"
run "compose eval one file" 1 "$TG" eval --policy "$TMP/acme/finance.tg" --request "$TMP/acme/req.json"
has "compose fixture lives in the other file" "$ERR" "unknown fixture \`base\`"
sed 's/"US"/"FR"/' "$TMP/acme/req.json" >"$TMP/acme/req_fr.json"
run "compose eval candidate ok" 0 "$TG" eval --policy "$TMP/acme" --request "$TMP/acme/req_fr.json" --compact
has "compose eval candidate allow" "$OUT" '"outcome":"allow"'
# The schema extension travels with the policy: its required field is enforced.
sed 's/"cost_center": "cc-1", //' "$TMP/acme/req.json" >"$TMP/acme/req_nocc.json"
run "compose eval extension required" 1 "$TG" eval --policy "$TMP/acme" --request "$TMP/acme/req_nocc.json"
has "compose eval missing cc" "$OUT" "principal.cost_center"
cp "$TMP/acme/finance.tg" "$TMP/acme/finance_copy.tg"
run "compose duplicates" 1 "$TG" check --policy "$TMP/acme"
has "compose duplicate rule" "$ERR" "rule \`big\` is already declared"
has "compose duplicate note" "$ERR" "note: the first rule \`big\` is here"
rm "$TMP/acme/finance_copy.tg"
run "compose disasm" 0 "$TG" disasm --policy "$TMP/acme"
has "compose disasm both" "$OUT" "eu_only"

# --- route --requests --ledger, spend (docs/budgets.md) ---
mkdir -p "$TMP/budgets/data"
cat >"$TMP/budgets/data/ws.json" <<'EOF'
{"w1": {"daily_usd": "0.0003"}, "w3": {"daily_usd": "100"}}
EOF
cat >"$TMP/budgets/b.tg" <<'EOF'
policy "budgets"
data workspaces from "data/ws.json": map<{daily_usd: money}>
budget ws_daily { key principal.workspace per day limit workspaces[principal.workspace].daily_usd }
budget contractors { when principal.groups has "contractors" key principal.user ?? "anonymous" per month limit 0.0001 usd }
limit user_rpm { key principal.user ?? "anonymous" per minute max 2 requests }
rule allow_all { require true }
EOF
# Each w1 line reserves, and is settled at, its worst case at gpt-4o-mini's
# prices (docs/budgets.md): a prompt bound of 86 tokens (62 bytes of body
# text + 16 per request + 8 per message) x 0.15 usd/Mtok + 200 completion
# tokens x 0.60 usd/Mtok = 132.9, rounded up to 133 micro-usd: two fit in
# 0.0003 usd (266), the third does not.
traffic_line() {
  echo "{\"principal\": {\"workspace\": \"$1\", \"user\": \"$2\", \"groups\": [$3]}, \"request\": {\"model\": \"openai/gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 200}}"
}
{
  traffic_line w1 a ''; traffic_line w1 a ''; traffic_line w1 b ''; traffic_line w2 c ''
  traffic_line w3 d '"contractors"'; traffic_line w3 e ''
  traffic_line w3 r ''; traffic_line w3 r ''; traffic_line w3 r ''
} >"$TMP/traffic.jsonl"
run "route ledger" 0 "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json \
  --requests "$TMP/traffic.jsonl" --ledger "sqlite:$TMP/ledger.db"
lines "route ledger lines" "$OUT" 9
sed -n 1p "$OUT" >"$TMP/l1"; has "route ledger admitted" "$TMP/l1" '"admission":{"admitted":true'
sed -n 3p "$OUT" >"$TMP/l3"; has "route ledger budget 403" "$TMP/l3" '"status":403,"code":"budget_exceeded"'
has "route ledger names budget" "$TMP/l3" '"budget":"ws_daily","key":"w1","window":"day"'
sed -n 4p "$OUT" >"$TMP/l4"; has "route ledger key fails closed" "$TMP/l4" '"code":"rule_error"'
has "route ledger key error names budget" "$TMP/l4" 'budget `ws_daily`'
sed -n 5p "$OUT" >"$TMP/l5"; has "route ledger when applies" "$TMP/l5" '"budget":"contractors"'
sed -n 6p "$OUT" >"$TMP/l6"; has "route ledger when skips" "$TMP/l6" '"admitted":true'
sed -n 9p "$OUT" >"$TMP/l9"; has "route ledger 429" "$TMP/l9" '"status":429,"code":"rate_limited"'
has "route ledger retry after" "$TMP/l9" '"retry_after":'
has "route ledger 429 names its bound max" "$TMP/l9" '"limit":"user_rpm"'
has "route ledger 429 bound" "$TMP/l9" '"max":2'

# A limit on the model served (`endpoint.model`) counts a request for another
# model that names it as a fallback and is served by it (review finding 1);
# the route line charges the primary, as the gateway's admission does.
cat >"$TMP/budgets/served.tg" <<'EOF'
policy "served"
limit gpt4o_rpm { when endpoint.model == "openai/gpt-4o" key principal.workspace per minute max 1 requests }
budget per_model { key endpoint.model per day limit 100 usd }
EOF
served_line() {
  echo "{\"principal\": {\"workspace\": \"w\"}, \"request\": {\"model\": \"$1\", \"models\": [$2], \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100, \"provider\": {$3}}, \"context\": {\"time\": \"2026-11-30T10:00:0$4Z\"}}"
}
{
  served_line openai/gpt-4o '' '' 1
  served_line mistralai/mistral-small '"openai/gpt-4o"' '"only": ["azure"]' 2
  served_line mistralai/mistral-small '' '' 3
} >"$TMP/served.jsonl"
run "route served model" 0 "$TG" route --policy "$TMP/budgets/served.tg" --catalog policies/catalog.json \
  --requests "$TMP/served.jsonl" --ledger memory:
lines "route served model lines" "$OUT" 3
sed -n 1p "$OUT" >"$TMP/s1"; has "route served model admitted" "$TMP/s1" '"admitted":true'
has "route served model keyed by the served model" "$TMP/s1" '"name":"per_model","key":"openai/gpt-4o"'
sed -n 2p "$OUT" >"$TMP/s2"; has "route served model fallback counted" "$TMP/s2" '"status":429,"code":"rate_limited"'
has "route served model fallback names the limit" "$TMP/s2" '"limit":"gpt4o_rpm"'
sed -n 3p "$OUT" >"$TMP/s3"; has "route served model other model admitted" "$TMP/s3" '"admitted":true'
has "route served model other key" "$TMP/s3" '"key":"mistralai/mistral-small"'
hasnt "route served model other model not limited" "$TMP/s3" 'gpt4o_rpm'

# A traffic file over the 1 GiB limit (docs/limits.md) is refused before it
# is read (a sparse file: no disk used).
truncate -s $(( (1 << 30) + 1 )) "$TMP/huge.jsonl"
run "route traffic over 1 GiB" 3 "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json \
  --requests "$TMP/huge.jsonl"
has "route traffic over 1 GiB says so" "$ERR" "is larger than the limit of 1073741824 bytes"
rm -f "$TMP/huge.jsonl"
run "spend" 0 "$TG" spend --ledger "sqlite:$TMP/ledger.db"
has "spend budget row" "$OUT" "ws_daily"
has "spend w1 spent" "$OUT" "0.000266"
run "spend json" 0 "$TG" spend --ledger "sqlite:$TMP/ledger.db" --json --policy "$TMP/budgets/b.tg"
has "spend json key" "$OUT" '"key":"w1","window":"day"'
has "spend json spent" "$OUT" '"spent_micros":266'
# A key holding a line break or tab (an API key's user name) must not split
# or forge a row of the text table: it is shown quoted with JSON escapes.
printf '%s\n' '{"principal": {"workspace": "w3", "user": "evil\nws_daily             w9                   day"}, "request": {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 200}}' \
  >"$TMP/evil.jsonl"
run "route ledger control-character key" 0 "$TG" route --policy "$TMP/budgets/b.tg" \
  --catalog policies/catalog.json --requests "$TMP/evil.jsonl" --ledger "sqlite:$TMP/evil.db"
run "spend control-character key" 0 "$TG" spend --ledger "sqlite:$TMP/evil.db"
lines "spend control-character key: one line per row" "$OUT" 5
has "spend control-character key quoted" "$OUT" '"evil\nws_daily '
run "route ledger again (budget used up)" 0 "$TG" route --policy "$TMP/budgets/b.tg" \
  --catalog policies/catalog.json --requests "$TMP/traffic.jsonl" --ledger "sqlite:$TMP/ledger.db"
sed -n 1p "$OUT" >"$TMP/l1"; has "route ledger persisted" "$TMP/l1" '"code":"budget_exceeded"'
run "route bad ledger url" 3 "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json \
  --requests "$TMP/traffic.jsonl" --ledger "redis://localhost:99999/0"
has "route bad ledger url message" "$ERR" 'has an invalid port `99999`'
run "route ledger without requests" 2 "$TG" route --policy "$TMP/budgets/b.tg" \
  --catalog policies/catalog.json --ledger memory:
# Past traffic is charged to the windows it happened in (context.time), as
# `tollgate test` charges a test: a day's budget per day, a minute's rate
# limit per minute; a line dated before an earlier one is charged at the
# latest instant seen, and said so.
dated_line() {
  echo "{\"principal\": {\"workspace\": \"w1\", \"user\": \"u$2\"}, \"request\": {\"model\": \"openai/gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 200}, \"context\": {\"time\": \"$1\"}}"
}
{
  dated_line 2026-03-01T10:00:00Z 1; dated_line 2026-03-02T10:00:00Z 2; dated_line 2026-03-03T10:00:00Z 3
  dated_line 2026-03-03T11:00:00Z 4; dated_line 2026-03-03T12:00:00Z 5; dated_line 2026-03-01T12:00:00Z 6
} >"$TMP/dated.jsonl"
run "route past traffic" 0 "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json \
  --requests "$TMP/dated.jsonl" --ledger memory:
lines "route past traffic lines" "$OUT" 6
for n in 1 2 3 4; do
  sed -n ${n}p "$OUT" >"$TMP/d$n"; has "route past traffic: line $n fits its day's window" "$TMP/d$n" '"admitted":true'
done
sed -n 5p "$OUT" >"$TMP/d5"; has "route past traffic: the day's third request exceeds it" "$TMP/d5" '"code":"budget_exceeded"'
has "route past traffic: the window is the request's day" "$TMP/d5" '"period":"2026-03-03"'
sed -n 6p "$OUT" >"$TMP/d6"; has "route past traffic: a late line is charged at the latest instant" "$TMP/d6" '"period":"2026-03-03"'
has "route past traffic: a late line is said" "$ERR" "line 6 is dated before an earlier request"
run "spend bad url" 2 "$TG" spend --ledger "postgres://x"
has "spend bad url message" "$ERR" "has an unknown scheme"
run "spend missing ledger" 3 "$TG" spend --ledger "sqlite:$TMP/nope.db"
run "spend no ledger" 2 "$TG" spend
run "route redis down fails closed" 0 "$TG" route --policy "$TMP/budgets/b.tg" \
  --catalog policies/catalog.json --requests "$TMP/traffic.jsonl" --ledger "redis://127.0.0.1:1/0"
sed -n 1p "$OUT" >"$TMP/l1"; has "route redis down 503" "$TMP/l1" '"status":503,"code":"budget_store_unavailable"'
# A rule reading the counters: the store's outage is answered as admission
# answers it (fail closed 503; fail open: the rule skipped, admitted
# unverified), never a 403 rule_error blaming the policy (docs/budgets.md).
cat >"$TMP/budgets/bud2.tg" <<'EOF'
policy "gw2"
budget ws_daily { key principal.workspace per day limit 50 usd }
rule degrade_before_deny { when budget.ws_daily.remaining < 5 usd route sort price }
EOF
traffic_line w1 a '' >"$TMP/b1.jsonl"
run "route counter reader, redis down" 0 "$TG" route --policy "$TMP/budgets/bud2.tg" \
  --catalog policies/catalog.json --requests "$TMP/b1.jsonl" --ledger "redis://127.0.0.1:1/0"
has "route counter reader fails closed 503" "$OUT" '"status":503,"code":"budget_store_unavailable"'
hasnt "route counter reader no rule_error" "$OUT" 'rule_error'
run "route counter reader, redis down, fail open" 0 "$TG" route --policy "$TMP/budgets/bud2.tg" \
  --catalog policies/catalog.json --requests "$TMP/b1.jsonl" --ledger "redis://127.0.0.1:1/0?fail_open=true"
has "route counter reader fail open allows" "$OUT" '"outcome":"allow"'
has "route counter reader fail open unverified" "$OUT" '"unverified":true'
hasnt "route counter reader fail open no rule_error" "$OUT" 'rule_error'
has "route counter reader fail open says so" "$ERR" 'rules reading its counters are skipped'
# A require never sees counters (the router judges endpoints without them):
# reading one there is refused at FILE:LINE:COL, and the form the help gives
# -- the counter in `when`, the endpoint test in `require` -- works with a
# ledger: below 6 usd left only the cheaper gpt-4o-mini endpoint stays.
cat >"$TMP/budgets/req_counter.tg" <<'EOF'
policy "rc"
budget ws_daily { key principal.workspace per day limit 5 usd }
rule cheap_when_low on_error skip {
  require endpoint.price_input <= 0.15 usd or budget.ws_daily.remaining >= 6 usd
}
EOF
run "check counter in require" 1 "$TG" check "$TMP/budgets/req_counter.tg"
cat "$OUT" "$ERR" >"$TMP/rc_all"
has "check counter in require: where" "$TMP/rc_all" 'req_counter.tg:4:47: error[tg_counter_unavailable]'
has "check counter in require: help" "$TMP/rc_all" 'rule cheap_when_low { when budget.ws_daily.remaining < 6 usd require endpoint.price_input <= 1 usd }'
cat >"$TMP/budgets/when_counter.tg" <<'EOF'
policy "wc"
budget ws_daily { key principal.workspace per day limit 5 usd }
rule cheap_when_low {
  when budget.ws_daily.remaining < 6 usd
  require endpoint.price_input <= 0.15 usd
}
EOF
run "route counter in when" 0 "$TG" route --policy "$TMP/budgets/when_counter.tg" \
  --catalog policies/catalog.json --requests "$TMP/b1.jsonl" --ledger memory:
has "route counter in when: cheap endpoint kept" "$OUT" '"id":"openai/gpt-4o-mini@openai"'
hasnt "route counter in when: dearer endpoint eliminated" "$OUT" '"id":"openai/gpt-4o-mini@azure-sweden"'
hasnt "route counter in when: no error" "$OUT" 'rule_error'
sed 's/limit 5 usd/limit 50 usd/' "$TMP/budgets/when_counter.tg" >"$TMP/budgets/when_counter50.tg"
run "route counter in when, plenty left" 0 "$TG" route --policy "$TMP/budgets/when_counter50.tg" \
  --catalog policies/catalog.json --requests "$TMP/b1.jsonl" --ledger memory:
has "route counter in when, plenty left: both endpoints" "$OUT" '"id":"openai/gpt-4o-mini@azure-sweden"'
# two `route` processes on one Redis behave as two gateway replicas: together
# they admit exactly what the budget holds (2 requests of w1's 0.0003 usd)
if command -v redis-server >/dev/null 2>&1; then
  . tests/cli/redis.sh
  start_redis "$TMP" || bad "redis-server did not start: $(tail -3 "$TMP/redis.log" 2>/dev/null)"
  rport=$REDIS_PORT rpid=$REDIS_PID
  for i in $(seq 1 40); do traffic_line w1 "user$i" ''; done >"$TMP/replica.jsonl"
  "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json --requests "$TMP/replica.jsonl" \
    --ledger "redis://127.0.0.1:$rport/0" >"$TMP/r1" 2>&1 &
  p1=$!
  "$TG" route --policy "$TMP/budgets/b.tg" --catalog policies/catalog.json --requests "$TMP/replica.jsonl" \
    --ledger "redis://127.0.0.1:$rport/0" >"$TMP/r2" 2>&1
  wait "$p1"
  admitted=$(cat "$TMP/r1" "$TMP/r2" | grep -c '"admitted":true')
  if [ "$admitted" -eq 2 ]; then ok; else bad "two replicas on one redis admitted $admitted, want 2"; fi
  run "spend redis" 0 "$TG" spend --ledger "redis://127.0.0.1:$rport/0" --json
  has "spend redis spent" "$OUT" '"spent_micros":266'
  kill "$rpid" 2>/dev/null
  wait "$rpid" 2>/dev/null
else
  echo "cli: redis-server is not installed (run .ci/setup); the two-replica test is skipped" >&2
fi

# Out of memory: under a shrinking address-space limit `eval` ends with a
# decision, or with exit 3 "error: out of memory" -- never a crash. (Not
# under ASan, whose shadow memory needs terabytes of address space.)
if ! grep -q AddressSanitizer "$TG" 2>/dev/null; then
  {
    printf '{"principal": {"workspace": "acme"}, "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "'
    yes 'ignore all x' | head -n 300000 | tr '\n' ' '
    printf '"}]}}\n'
  } >"$TMP/big_input.json"
  oom=0 crashed=0
  for kb in 30000 34000 38000 42000 46000 50000 60000 80000; do
    (ulimit -v "$kb"; "$TG" eval --policy "$POL" --request "$TMP/big_input.json" >"$OUT" 2>"$ERR")
    rc=$?
    if [ "$rc" -eq 3 ] && grep -qF "error: out of memory" "$ERR"; then oom=$((oom + 1))
    elif [ "$rc" -ge 128 ]; then crashed=$((crashed + 1)); bad "eval under ulimit -v $kb: killed by signal $((rc - 128))"
    fi
  done
  if [ "$crashed" -eq 0 ]; then ok; fi
  if [ "$oom" -gt 0 ]; then ok; else
    echo "cli: no address-space limit tried made eval run out of memory (loader or decision at each); not checked" >&2
  fi
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
