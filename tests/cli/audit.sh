#!/usr/bin/env bash
# End-to-end tests of the audit flow of the `tollgate` binary (docs/audit.md):
# eval/route --audit, audit verify/show/export, replay, store list/show.
#
#   bash tests/cli/audit.sh build/tollgate        (ctest runs it as test `cli_audit`)
set -uo pipefail

TG=${1:?usage: audit.sh path/to/tollgate}
TG=$(cd "$(dirname "$TG")" && pwd)/$(basename "$TG")
cd "$(dirname "$0")/../.." || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
A="$TMP/audit"
. tests/cli/lib.sh

POL=policies/example.tg
CAT=policies/catalog.json
ACC=policies/accounts.json

# --- recording ---
run "eval --audit" 0 "$TG" eval --policy "$POL" --request policies/requests/us_simple.json --audit "$A" --compact
has "eval decision_id" "$OUT" '"decision_id":"'
ID=$(sed 's/.*"decision_id":"\([0-9A-Z]*\)".*/\1/' "$OUT")
run "eval batch --audit" 1 "$TG" eval --policy "$POL" --requests policies/requests/batch.jsonl --audit "$A"
has "batch decision ids" "$OUT" '"line":1,"decision_id":"'
for r in us_simple eu_confidential no_eligible_endpoint secret_leak; do
  run "route --audit $r" 0 "$TG" route --policy "$POL" --catalog "$CAT" --accounts "$ACC" \
    --request "policies/requests/$r.json" --audit "$A" --compact
done
has "route decision_id" "$OUT" '"decision_id":"'
hasnt "no api key on disk" <(cat "$A"/decisions-*.jsonl) 'sk-proj-'

# --- verify ---
run "verify" 0 "$TG" audit verify "$A"
has "verify ok" "$OUT" "ok: "
cp -r "$A" "$TMP/tampered"
F=$(ls "$TMP"/tampered/decisions-*.jsonl | head -1)
sed -i '2s/"outcome":"allow"/"outcome":"deny"/' "$F"
run "verify tampered" 1 "$TG" audit verify "$TMP/tampered"
has "verify names the break" "$OUT" "audit_hash_mismatch"
has "verify names the record" "$OUT" "chain broken: first at $F:2"
run "verify usage" 2 "$TG" audit verify
run "verify a path that is not there (I/O error)" 3 "$TG" audit verify "$TMP/no-such-log"
mkdir -p "$TMP/emptied"
run "verify a directory without its files (broken)" 1 "$TG" audit verify "$TMP/emptied"
has "verify names the missing files without :0" "$OUT" "chain broken: first at $TMP/emptied (audit_no_files)"

# --- replay ---
run "replay" 0 "$TG" replay --audit "$A"
has "replay identical" "$OUT" "0 different"
run "replay json" 0 "$TG" replay --audit "$A" --json
has "replay json mode" "$OUT" '"mode": "determinism"'
mkdir -p "$TMP/v2" && cp -r policies/data "$TMP/v2/"
sed 's/const max_output_tokens: int = 32000/const max_output_tokens: int = 100/' "$POL" >"$TMP/v2/example.tg"
run "replay impact" 0 "$TG" replay --audit "$A" --policy "$TMP/v2/example.tg"
has "impact allow_to_deny" "$OUT" "allow_to_deny"
has "impact by rule" "$OUT" "huge_max_tokens"
has "impact by workspace" "$OUT" "by workspace:"
run "replay both" 2 "$TG" replay --audit "$A" --policy "$POL" --version sha256:00
run "replay unknown version" 1 "$TG" replay --audit "$A" --version "sha256:$(printf '0%.0s' $(seq 64))"

# --- show, export, store ---
run "audit show" 0 "$TG" audit show "$ID" --audit "$A"
has "show identical" "$OUT" '"identical": true'
has "show trace" "$OUT" '"trace": ['
run "audit show unknown" 1 "$TG" audit show 01ZZZZZZZZZZZZZZZZZZZZZZZZ --audit "$A"
run "export" 0 "$TG" audit export --audit "$A" --since 2000-01-01 --until 2999-01-01
has "export summary" "$OUT" "$ID"
run "export json" 0 "$TG" audit export --audit "$A" --since 2000-01-01 --json
has "export verbatim" "$OUT" '"kind":"decision"'
run "export empty window" 0 "$TG" audit export --audit "$A" --until 2000-01-01
if [ -s "$OUT" ]; then bad "export window: output not empty"; else ok; fi
run "export bad time" 2 "$TG" audit export --audit "$A" --since yesterday
# the summary's status column is the bare number (it once ran on into the record's next member)
run "export summary status" 0 "$TG" audit export --audit "$A"
if grep -q ' allow 200 ok policy=acme-production ' "$OUT" && ! grep -q '[0-9],"' "$OUT"; then ok; else
  bad "export summary status column: $(head -c 300 "$OUT")"; fi
# a workspace (caller-supplied input) cannot forge summary lines: unsafe values are JSON-quoted
sed 's/"workspace": *"[^"]*"/"workspace": "evil\\n2026-01-01T00:00:00.000Z 01FAKEFAKEFAKEFAKEFAKEFAKE allow 200 ok x"/' \
  policies/requests/us_simple.json >"$TMP/evil.json"
run "eval evil workspace --audit" 0 "$TG" eval --policy "$POL" --request "$TMP/evil.json" --audit "$TMP/evil_audit" --compact
run "export evil workspace" 0 "$TG" audit export --audit "$TMP/evil_audit"
lines "export evil workspace: one line" "$OUT" 1
has "export evil workspace quoted" "$OUT" 'workspace="evil\n2026-01-01'
run "store list" 0 "$TG" store list --audit "$A"
has "store policy" "$OUT" "acme-production"
has "store catalog" "$OUT" "catalog"
V=$(grep policy "$OUT" | cut -d' ' -f1)
run "store show" 0 "$TG" store show "$V" --audit "$A"
has "store show source" "$OUT" 'policy "acme-production"'
has "store show data" "$OUT" "== data/workspaces.json (data)"
# a stored version whose files were edited afterwards is not shown as that version
cp -r "$A" "$TMP/store_edited"
sed -i 's/workspace is suspended/workspace IS suspended/' "$TMP/store_edited/store/${V#sha256:}/files/example.tg"
run "store show edited policy" 1 "$TG" store show "$V" --audit "$TMP/store_edited"
has "store show edited names it" "$ERR" "error[store_mismatch]"
C=$("$TG" store list --audit "$A" | grep ' catalog ' | head -1 | cut -d' ' -f1)
printf ' ' >>"$TMP/store_edited/store/${C#sha256:}/files/catalog.json"
run "store show edited catalog" 1 "$TG" store show "$C" --audit "$TMP/store_edited"
has "store show edited catalog names it" "$ERR" "error[store_mismatch]"
run "store show catalog" 0 "$TG" store show "$C" --audit "$A"

# --- route --requests --audit (batch), with a ledger: counters and admissions ---
B="$TMP/batch_audit"
mkdir -p "$TMP/budgets/data"
cat >"$TMP/budgets/data/ws.json" <<'EOF'
{"w1": {"daily_usd": "0.00025"}, "w3": {"daily_usd": "100"}}
EOF
cat >"$TMP/budgets/b.tg" <<'EOF'
policy "budgets"
data workspaces from "data/ws.json": map<{daily_usd: money}>
budget ws_daily { key principal.workspace per day limit workspaces[principal.workspace].daily_usd }
limit user_rpm { key principal.user ?? "anonymous" per minute max 2 requests }
rule allow_all { require true }
rule low_budget on_error skip { when budget.ws_daily.remaining < 0.0002 usd tag low = true }
rule rpm_seen mode advisory on_error skip { when limit.user_rpm.used >= 1 warn "second request this minute" }
EOF
tl() {
  echo "{\"principal\": {\"workspace\": \"$1\", \"user\": \"$2\"}, \"request\": {\"model\": \"openai/gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 200}, \"context\": {\"time\": \"2026-01-05T10:00:00Z\"}}"
}
{ tl w1 a; tl w1 a; tl w1 b; tl w2 c; echo 'not json'; tl w3 r; tl w3 r; tl w3 r; } >"$TMP/btraffic.jsonl"
run "route batch --audit" 1 "$TG" route --policy "$TMP/budgets/b.tg" --catalog "$CAT" \
  --requests "$TMP/btraffic.jsonl" --ledger "sqlite:$TMP/bledger.db" --audit "$B"
lines_out=$(wc -l <"$OUT")
if [ "$lines_out" -eq 8 ]; then ok; else bad "route batch --audit: $lines_out lines, want 8"; fi
n_ids=$(grep -c '"decision_id":"' "$OUT")
if [ "$n_ids" -eq 7 ]; then ok; else bad "route batch --audit: $n_ids decision ids, want 7"; fi
has "route batch audit line order" "$OUT" '{"line":1,"decision_id":"'
cat "$B"/decisions-*.jsonl >"$TMP/brecords"
n_rec=$(grep -c '"kind":"decision"' "$TMP/brecords")
if [ "$n_rec" -eq 7 ]; then ok; else bad "route batch --audit: $n_rec records, want 7"; fi
has "batch record endpoints" "$TMP/brecords" '"endpoints":[{"id":'
has "batch record counters" "$TMP/brecords" '"counters":{"budgets":{"ws_daily":{"key":"w1","spent_micros":'
has "batch record limit counters" "$TMP/brecords" '"limits":{"user_rpm":{"key":"a","used":'
has "batch record admitted" "$TMP/brecords" '"admission":{"admitted":true'
has "batch record budget refused" "$TMP/brecords" '"admission":{"admitted":false,"status":403,"code":"budget_exceeded"'
has "batch record rate limited" "$TMP/brecords" '"code":"rate_limited"'
has "batch record plan failure" "$TMP/brecords" '"stage":"plan"'
has "batch record low budget tag" "$TMP/brecords" '"tags":{"low":true}'
run "route batch verify" 0 "$TG" audit verify "$B"
run "route batch replay" 0 "$TG" replay --audit "$B"
has "route batch replay identical" "$OUT" "7 identical, 0 different, 0 not replayable, 0 failed"
# the counters are an input: replayed without them, some decision differs
cp -r "$B" "$TMP/nocounters"
for f in "$TMP"/nocounters/decisions-*.jsonl; do
  sed -i 's/"counters":{"budgets":{.*}},"limits":{[^}]*}*},"admission"/"counters":null,"admission"/' "$f"
done
run "replay without counters differs" 1 "$TG" replay --audit "$TMP/nocounters"
has "replay without counters names a field" "$OUT" "error[audit_replay_mismatch]"
REFUSED=$(grep '"code":"budget_exceeded"' "$TMP/brecords" | head -1 | sed 's/^{"kind":"decision","id":"\([0-9A-Z]*\)".*/\1/')
run "route batch show" 0 "$TG" audit show "$REFUSED" --audit "$B"
has "route batch show identical" "$OUT" '"identical": true'
has "route batch show budget" "$OUT" '"code": "budget_exceeded"'

# --- eval with a candidate (checked against the placed requires) replays ---
sed '$ s/^}$/, "candidate": {"provider": {"name": "cheapcloud", "jurisdiction": "US", "zdr": false, "trains_on_data": true}}}/' \
  policies/requests/eu_confidential.json >"$TMP/cand.json"
run "eval candidate --audit" 0 "$TG" eval --policy "$POL" --request "$TMP/cand.json" --audit "$TMP/cand_audit" --compact
has "eval candidate refused" "$OUT" '"code":"require_failed"'
run "candidate replay" 0 "$TG" replay --audit "$TMP/cand_audit"
has "candidate replay identical" "$OUT" "1 identical, 0 different"
{ tr -d '\n' <"$TMP/cand.json"; echo; tr -d '\n' <policies/requests/eu_confidential.json; echo; } >"$TMP/cand.jsonl"
run "route batch candidate --audit" 0 "$TG" route --policy "$POL" --catalog "$CAT" --accounts "$ACC" \
  --requests "$TMP/cand.jsonl" --audit "$TMP/cand_batch"
sed -n 1p "$OUT" >"$TMP/c1"; has "route batch candidate refused" "$TMP/c1" '"code":"require_failed"'
run "route batch candidate replay" 0 "$TG" replay --audit "$TMP/cand_batch"
has "route batch candidate replay identical" "$OUT" "2 identical, 0 different"

# --- a composed policy (--policy twice) with a schema header ---
mkdir -p "$TMP/comp/legal" "$TMP/comp/finance" "$TMP/comp/ext"
echo '{"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]}' >"$TMP/comp/ext/cc.json"
printf 'policy "comp"\nschema "../ext/cc.json"\nrule cc9 { when (principal.cost_center ?? "") == "cc-9" deny 403 "blocked center" }\n' >"$TMP/comp/legal/legal.tg"
printf 'policy "comp"\nrule big { when (request.max_tokens ?? 0) > 1000 deny 400 "too big" }\n' >"$TMP/comp/finance/finance.tg"
echo '{"principal": {"workspace": "w", "user": "u", "cost_center": "cc-9"}, "request": {"model": "m", "messages": []}}' >"$TMP/comp/req.json"
run "composed eval --audit" 0 "$TG" eval --policy "$TMP/comp/legal/legal.tg" --policy "$TMP/comp/finance/finance.tg" \
  --request "$TMP/comp/req.json" --audit "$TMP/comp_audit" --compact
has "composed deny" "$OUT" '"rules":["cc9"]'
CID=$(sed 's/.*"decision_id":"\([0-9A-Z]*\)".*/\1/' "$OUT")
rm -rf "$TMP/comp/legal" "$TMP/comp/finance" "$TMP/comp/ext"
run "composed replay" 0 "$TG" replay --audit "$TMP/comp_audit"
has "composed replay identical" "$OUT" "1 identical, 0 different"
run "composed show" 0 "$TG" audit show "$CID" --audit "$TMP/comp_audit"
has "composed show identical" "$OUT" '"identical": true'
run "composed store list" 0 "$TG" store list --audit "$TMP/comp_audit"
V=$(grep policy "$OUT" | cut -d' ' -f1)
run "composed store show" 0 "$TG" store show "$V" --audit "$TMP/comp_audit"
has "composed store both files" "$OUT" "== part1/_/legal.tg (source)"
has "composed store schema" "$OUT" "== part1/ext/cc.json (schema)"

echo "cli_audit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
