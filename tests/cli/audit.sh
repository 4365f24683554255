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
OUT="$TMP/out"
ERR="$TMP/err"

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
run() {
  local name=$1 want=$2
  shift 2
  "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "$name: exit $rc, want $want"
    sed 's/^/    out: /' "$OUT" | head -5 >&2
    sed 's/^/    err: /' "$ERR" | head -5 >&2
  fi
}
has() { if grep -qF -- "$3" "$2"; then ok; else bad "$1: \`$3\` not in $2: $(head -c 300 "$2")"; fi; }
hasnt() { if grep -qF -- "$3" "$2"; then bad "$1: \`$3\` unexpectedly in $2"; else ok; fi; }

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
run "store list" 0 "$TG" store list --audit "$A"
has "store policy" "$OUT" "acme-production"
has "store catalog" "$OUT" "catalog"
V=$(grep policy "$OUT" | cut -d' ' -f1)
run "store show" 0 "$TG" store show "$V" --audit "$A"
has "store show source" "$OUT" 'policy "acme-production"'
has "store show data" "$OUT" "== data/workspaces.json (data)"

echo "cli_audit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
