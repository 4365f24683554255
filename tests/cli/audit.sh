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
# A policy's deny is not routed: its record says `"endpoints":null` (docs/audit.md),
# as the gateway's does, though the answer lists no endpoints (`[]`).
has "route deny answer endpoints" "$OUT" '"endpoints":[]'
DENY_ID=$(sed 's/.*"decision_id":"\([0-9A-Z]*\)".*/\1/' "$OUT")
grep -h "\"id\":\"$DENY_ID\"" "$A"/decisions-*.jsonl >"$TMP/deny_record"
has "route deny record: not routed" "$TMP/deny_record" '"endpoints":null'
run "route batch deny --audit" 0 "$TG" route --policy "$POL" --catalog "$CAT" --accounts "$ACC" \
  --requests <(tr -d '\n' <policies/requests/secret_leak.json; echo) --audit "$TMP/deny_batch"
has "route batch deny answer endpoints" "$OUT" '"endpoints":[]'
cat "$TMP"/deny_batch/decisions-*.jsonl >"$TMP/deny_batch_records"
has "route batch deny record: not routed" "$TMP/deny_batch_records" '"endpoints":null'
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

# file arguments are one chain (each eval is a new writer: a new file)
for i in 1 2 3; do "$TG" eval --policy "$POL" --request policies/requests/us_simple.json --audit "$TMP/a3" >/dev/null; done
F1="$TMP/a3/decisions-000001.jsonl" F2="$TMP/a3/decisions-000002.jsonl" F3="$TMP/a3/decisions-000003.jsonl"
run "verify files as one chain" 0 "$TG" audit verify "$F3" "$F1" "$F2"
has "verify files as one chain: all" "$OUT" "ok: 3 records in 3 files verified"
run "verify files: a middle file left out" 1 "$TG" audit verify "$F1" "$F3"
has "verify files: names the missing file" "$OUT" "error[audit_missing_file]: $F2: file 2 of the chain is missing"
run "verify one file alone" 0 "$TG" audit verify "$F2"
has "verify one file alone says so" "$OUT" "note: verified the chain inside \`$F2\` only; its links to file 1 and to file 3 were not checked: run \`tollgate audit verify $TMP/a3\`"
cp "$F2" "$TMP/f2.bak"
head -n -2 "$TMP/f2.bak" >"$F2"
run "verify a non-newest file cut at a line" 1 "$TG" audit verify "$F2"
has "verify cut file: missing seal" "$OUT" "audit_missing_seal"
head -c -100 "$TMP/f2.bak" >"$F2"
run "verify a non-newest file cut mid-record" 1 "$TG" audit verify "$F2"
has "verify cut file: truncated record" "$OUT" "error[audit_truncated_record]"
cp "$TMP/f2.bak" "$F2"

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
has "impact summary" "$OUT" " changed, "
# a directory without decision files is no log (a mistyped path): named, exit
# 1. Before: "replayed 0 records", exit 0.
mkdir -p "$TMP/nolog"
run "replay of a directory without a log" 1 "$TG" replay --audit "$TMP/nolog"
has "replay without a log: named" "$OUT" "warning[audit_no_files]"
has "replay without a log: says so" "$OUT" "holds no decision files"
# a damaged decision line cannot be replayed: skipped with a warning, and exit 1
cp -r "$A" "$TMP/damaged"
DF=$(ls "$TMP"/damaged/decisions-*.jsonl | head -1)
sed -i '2s/,"endpoints":/"endpoints":/' "$DF"
run "replay with a damaged decision line" 1 "$TG" replay --audit "$TMP/damaged"
has "replay damaged: warning" "$OUT" "warning[audit_malformed_line]: $DF:2"
has "replay damaged: says it was not replayed" "$OUT" "error[audit_replay_failed]: 1 line or file of the log could not be read as a decision record and was not replayed"
run "impact with a damaged decision line" 1 "$TG" replay --audit "$TMP/damaged" --policy "$TMP/v2/example.tg"
# A log file numbered 0 (a copy of file 1 put beside it) is no part of the
# chain (verify names it as added): replay and export skip it and name it,
# and replay exits 1. Before: its records were read too, so replay and
# export counted file 1's records twice, exit 0.
"$TG" replay --audit "$A" >"$TMP/replay_clean"
N_REPLAYED=$(grep -o '^replayed [0-9]* records' "$TMP/replay_clean")
cp -r "$A" "$TMP/stray"
cp "$TMP/stray/decisions-000001.jsonl" "$TMP/stray/decisions-000000.jsonl"
run "replay with a stray file 0" 1 "$TG" replay --audit "$TMP/stray"
has "replay stray file 0: named" "$OUT" "warning[audit_unexpected_record]: $TMP/stray/decisions-000000.jsonl"
has "replay stray file 0: its records not replayed" "$OUT" "$N_REPLAYED against"
"$TG" audit export --audit "$A" >"$TMP/export_clean"
run "export with a stray file 0" 0 "$TG" audit export --audit "$TMP/stray"
lines "export stray file 0: each decision once" "$OUT" "$(wc -l <"$TMP/export_clean")"
has "export stray file 0: named" "$ERR" "warning[audit_unexpected_record]: $TMP/stray/decisions-000000.jsonl"
# Bytes without a newline after the newest file's seal were added after
# the writer closed it (no crash leaves them; verify's error
# audit_unexpected_record): replay says so and exits 1. Before: the
# warning audit_incomplete_tail, exit 0.
cp -r "$A" "$TMP/afterseal"
LAST=$(ls "$TMP"/afterseal/decisions-*.jsonl | tail -1)
"$TG" eval --policy "$POL" --request policies/requests/us_simple.json --audit "$TMP/afterseal" >/dev/null
tail -1 "$LAST" | grep -q '"kind":"seal"' || bad "the file before the newest ends with its seal"
printf '{"kind":"decision","id":"01M8' >>"$LAST"
run "replay with bytes after a seal" 1 "$TG" replay --audit "$TMP/afterseal"
has "replay bytes after a seal: named" "$OUT" "warning[audit_unexpected_record]: $LAST"
hasnt "replay bytes after a seal: not a crash's tail" "$OUT" "audit_incomplete_tail"
# Regression: a whole decision record after a file's seal (verify's error
# audit_unexpected_record) was replayed and exported, exit 0. Now it is
# named and not read: replay exits 1, export leaves it out.
cp -r "$A" "$TMP/lineafterseal"
LAST=$(ls "$TMP"/lineafterseal/decisions-*.jsonl | tail -1)
"$TG" eval --policy "$POL" --request policies/requests/us_simple.json --audit "$TMP/lineafterseal" >/dev/null
tail -1 "$LAST" | grep -q '"kind":"seal"' || bad "the file before the newest ends with its seal"
"$TG" audit export --audit "$TMP/lineafterseal" >"$TMP/export_sealed"
grep '"kind":"decision"' "$LAST" | head -1 >>"$LAST"
run "verify with a record after a seal" 1 "$TG" audit verify "$TMP/lineafterseal"
has "verify record after a seal: named" "$OUT" "audit_unexpected_record"
run "replay with a record after a seal" 1 "$TG" replay --audit "$TMP/lineafterseal"
has "replay record after a seal: named" "$OUT" "warning[audit_unexpected_record]: $LAST"
has "replay record after a seal: not replayed" "$OUT" "error[audit_replay_failed]"
run "export with a record after a seal" 0 "$TG" audit export --audit "$TMP/lineafterseal"
lines "export record after a seal: left out" "$OUT" "$(wc -l <"$TMP/export_sealed")"
has "export record after a seal: named" "$ERR" "warning[audit_unexpected_record]: $LAST"
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
# an edit that leaves the stored policy not compiling is an edit too, not a
# version that needs a `--schema` extension (no schema is stored beside it)
cp -r "$A" "$TMP/store_broken"
sed -i 's/deny 402 "workspace is suspended"/deny 402 "workspace is suspended/' "$TMP/store_broken/store/${V#sha256:}/files/example.tg"
run "store show a stored policy edited so it no longer compiles" 1 "$TG" store show "$V" --audit "$TMP/store_broken"
has "store show broken names it" "$ERR" "error[store_mismatch]"
has "store show broken says why" "$ERR" "unterminated string"
hasnt "store show broken: no --schema excuse" "$ERR" "not checked against its id"
# a version decided with a --schema extension is checked with the schema stored beside it
printf '{"fields":[{"path":"request.cost_center","type":"string","scope":"request"}]}' >"$TMP/ext_cc.json"
printf 'policy "s"\nrule cc { when request.cost_center == "x" deny 403 "no" }\n' >"$TMP/ext_p.tg"
printf '{"principal":{"workspace":"w"},"request":{"model":"m","cost_center":"x","messages":[]}}' >"$TMP/ext_in.json"
"$TG" eval --policy "$TMP/ext_p.tg" --schema "$TMP/ext_cc.json" --request "$TMP/ext_in.json" --audit "$TMP/ext_a" >/dev/null
SV=$("$TG" store list --audit "$TMP/ext_a" | grep ' policy ' | cut -d' ' -f1)
run "store show a --schema version" 0 "$TG" store show "$SV" --audit "$TMP/ext_a"
hasnt "store show a --schema version is checked" "$ERR" "not checked"
sed -i 's/"no"/"nope"/' "$TMP/ext_a/store/${SV#sha256:}/files/ext_p.tg"
run "store show an edited --schema version" 1 "$TG" store show "$SV" --audit "$TMP/ext_a"
has "store show an edited --schema version names it" "$ERR" "error[store_mismatch]"
C=$("$TG" store list --audit "$A" | grep ' catalog ' | head -1 | cut -d' ' -f1)
printf ' ' >>"$TMP/store_edited/store/${C#sha256:}/files/catalog.json"
run "store show edited catalog" 1 "$TG" store show "$C" --audit "$TMP/store_edited"
has "store show edited catalog names it" "$ERR" "error[store_mismatch]"
run "store show catalog" 0 "$TG" store show "$C" --audit "$A"
# replay checks every stored object it uses against its id, not only the policy
cp -r "$A" "$TMP/cat_edited"
sed -i 's/"input_per_mtok": *"\?[0-9.]*"\?/"input_per_mtok": 0/' "$TMP/cat_edited/store/${C#sha256:}/files/catalog.json"
if cmp -s "$A/store/${C#sha256:}/files/catalog.json" "$TMP/cat_edited/store/${C#sha256:}/files/catalog.json"; then
  printf ' ' >>"$TMP/cat_edited/store/${C#sha256:}/files/catalog.json"; fi
run "replay with an edited stored catalog" 1 "$TG" replay --audit "$TMP/cat_edited"
has "replay edited catalog names it" "$OUT" "stored files were edited"
run "impact with an edited stored catalog" 1 "$TG" replay --audit "$TMP/cat_edited" --policy "$TMP/v2/example.tg"
has "impact edited catalog names it" "$OUT" "stored files were edited"
RID=$(grep -h '"catalog":"sha256:' "$A"/decisions-*.jsonl | head -1 | sed 's/^{"kind":"decision","id":"\([0-9A-Z]*\)".*/\1/')
run "show with an edited stored catalog" 1 "$TG" audit show "$RID" --audit "$TMP/cat_edited"
has "show edited catalog names it" "$ERR" "stored files were edited"
# exit codes: a directory that is not there is an I/O error (3)
run "store list of a missing directory" 3 "$TG" store list --audit "$TMP/no-such-dir"
run "store show in a missing directory" 3 "$TG" store show "$C" --audit "$TMP/no-such-dir"
run "audit show in a missing directory" 3 "$TG" audit show "$ID" --audit "$TMP/no-such-dir"
run "replay with a missing candidate file" 3 "$TG" replay --audit "$A" --policy "$TMP/no-such.tg"
cp -r "$A" "$TMP/bad_manifest"
echo '{"id": ' >"$TMP/bad_manifest/store/${C#sha256:}/manifest.json"
run "store list with a damaged manifest" 1 "$TG" store list --audit "$TMP/bad_manifest"
has "store list names the damaged object" "$ERR" "error[store_bad_manifest]: the manifest of \`$C\` does not parse"
has "store list still lists the others" "$OUT" "acme-production"

# export --json is a stretch of the chain that verify --export checks
run "export json all" 0 "$TG" audit export --audit "$TMP/a3" --json
cp "$OUT" "$TMP/export.jsonl"
has "export json keeps the file records" "$TMP/export.jsonl" '{"kind":"file","seq":2,'
run "verify --export" 0 "$TG" audit verify --export "$TMP/export.jsonl"
has "verify --export ok" "$OUT" "ok: 3 records in 1 files verified"
has "verify --export names its edges" "$OUT" "note: the export chains to the record with hash 0000000000"
T2=$(grep '"kind":"decision"' "$TMP/export.jsonl" | sed -n 2p | sed 's/^{"kind":"decision","id":"[0-9A-Z]*","time":"\([^"]*\)".*/\1/')
run "export json window" 0 "$TG" audit export --audit "$TMP/a3" --json --since "$T2"
cp "$OUT" "$TMP/export2.jsonl"
run "verify --export of a window" 0 "$TG" audit verify --export "$TMP/export2.jsonl"
has "verify --export of a window: 2 records" "$OUT" "ok: 2 records"
grep -v "$(grep '"kind":"decision"' "$TMP/export2.jsonl" | head -1 | cut -c1-60)" "$TMP/export2.jsonl" >"$TMP/export3.jsonl"
run "verify --export: a deleted record" 1 "$TG" audit verify --export "$TMP/export3.jsonl"
has "verify --export: a deleted record breaks" "$OUT" "audit_chain_break"
sed 's/"outcome":"allow"/"outcome":"deny"/' "$TMP/export2.jsonl" >"$TMP/export4.jsonl"
run "verify --export: an edited record" 1 "$TG" audit verify --export "$TMP/export4.jsonl"
has "verify --export: an edited record" "$OUT" "audit_hash_mismatch"
run "verify --export usage" 2 "$TG" audit verify --export

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
# an impact report's candidate reads its own budget and limit bounds over the recorded use
mkdir -p "$TMP/budgets2/data"
sed 's/0.00025/1/' "$TMP/budgets/data/ws.json" >"$TMP/budgets2/data/ws.json"
sed 's/max 2 requests/max 5 requests/' "$TMP/budgets/b.tg" >"$TMP/budgets2/b.tg"
run "impact with other bounds" 0 "$TG" replay --audit "$B" --policy "$TMP/budgets2/b.tg"
has "impact with other bounds: the rule reading remaining changes" "$OUT" "low_budget: "
has "impact with other bounds: a note" "$OUT" "the candidate's budget or limit bounds differ from the recorded ones (user_rpm "
has "impact with other bounds: verdicts kept" "$OUT" "warning: "
has "impact with other bounds: verdicts kept says so" "$OUT" "not recomputed under the candidate's bounds"
run "impact with the same bounds" 0 "$TG" replay --audit "$B" --policy "$TMP/budgets/b.tg"
hasnt "impact with the same bounds: no note" "$OUT" "bounds differ"
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
