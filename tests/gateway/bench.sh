#!/usr/bin/env bash
# The gateway benchmark (about a minute): the stub upstream alone and through
# `tollgate serve` in the same run, with wrk on the same machine.
#
#   bash tests/gateway/bench.sh BUILD_DIR [SECONDS_PER_RUN]
#
# The gateway runs the shipped example policy without its rate limits (19
# rules: workspace data, model allow-lists, residency, cost ceilings, DLP
# redaction and detectors, the injection score, tags) with the SQLite ledger
# (the daily budget) and the audit log on, with the default durability
# (settlement and record written to the OS before each answer).
# TG_BENCH_AUDIT_SYNC=true: each answer also waits for its record's
# fdatasync; TG_BENCH_LEDGER / TG_BENCH_AUDIT override the ledger URL and
# the audit directory ("" = off).
# Printed: requests/s at full load, latency p50/p99 at full load and at a
# fixed ~5,000 requests/s, the latency the gateway adds (same run) beside
# what a do-nothing byte relay adds (tg_tcp_relay: the floor), its own
# processing time (its metrics histogram) and its resident memory.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench.sh BUILD_DIR [SECONDS]}" && pwd)
SECS=${2:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
command -v wrk >/dev/null || { echo "wrk is not installed (.ci/setup installs it)"; exit 2; }

"$BUILD/tg_stub_upstream" 0 > "$T/stub.port" & PIDS+=($!)
until [ -s "$T/stub.port" ]; do sleep 0.02; done
SP=$(head -1 "$T/stub.port")

# The baseline proxy: a byte relay in front of the stub (no HTTP, no policy): what
# any proxy process adds on this machine.
"$BUILD/tg_tcp_relay" "$SP" > "$T/relay.port" & PIDS+=($!)
until [ -s "$T/relay.port" ]; do sleep 0.02; done
RP=$(head -1 "$T/relay.port")

# The example policy minus its `limit` declarations (they would turn the
# benchmark into a 429 test); its data document beside it.
awk 'BEGIN{skip=0} /^limit /{skip=1} skip&&/^}/{skip=0; next} !skip' "$ROOT/policies/example.tg" \
  | sed 's/^policy "acme-production"/policy "acme-bench"/' > "$T/bench.tg"
cp -r "$ROOT/policies/data" "$T/data"
sed -E "s#\"base_url\": *\"[^\"]*\"#\"base_url\": \"http://127.0.0.1:$SP/bench/v1\"#" \
  "$ROOT/policies/catalog.json" > "$T/catalog.json"
cat > "$T/gw.json" <<EOF
{"listen": "127.0.0.1:0", "policy": "bench.tg", "catalog": "catalog.json",
 "accounts": "$ROOT/policies/accounts.json", "keys": "$ROOT/policies/keys.json",
 "ledger": "${TG_BENCH_LEDGER-sqlite:state/ledger.db}", "audit": "${TG_BENCH_AUDIT-state/audit}", "access_log": true,
 "audit_sync": ${TG_BENCH_AUDIT_SYNC:-false}}
EOF
(cd "$T" && exec "$BUILD/tollgate" serve --config gw.json 2> "$T/gw.log") & GW_PID=$!; PIDS+=($GW_PID)
until grep -q '"event":"listening"' "$T/gw.log" 2>/dev/null; do
  kill -0 $GW_PID 2>/dev/null || { cat "$T/gw.log"; exit 1; }
  sleep 0.02
done
GW=$(grep -o '"address":"[^"]*"' "$T/gw.log" | head -1 | cut -d'"' -f4)

BODY='{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about toll booths and the people who wait at them."}],"max_tokens":200,"temperature":0.3}'
cat > "$T/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer tg-demo-batch"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
EOF
# Paced: each of 32 connections waits 6.1 ms after each answer before its
# next request: ~5,000 requests/s offered while latency stays well under 1 ms.
cp "$T/post.lua" "$T/paced.lua"
echo 'function delay() return 6.1 end' >> "$T/paced.lua"

# Sanity: one request through the gateway must be a 200 from the stub.
code=$(curl -s -o "$T/one" -w '%{http_code}' -H 'Authorization: Bearer tg-demo-batch' \
  -H 'Content-Type: application/json' --data-binary "$BODY" "http://$GW/v1/chat/completions")
[ "$code" = 200 ] || { echo "gateway answered $code: $(cat "$T/one")"; exit 1; }

run() {  # run NAME URL SCRIPT CONNECTIONS -> "rps p50_us p99_us non2xx"
  local out
  local threads=2; [ "$4" -lt 2 ] && threads=1
  out=$(wrk -t"$threads" -c"$4" -d"${SECS}s" --latency -s "$3" "$2" 2>&1)
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec/{print $2}' <<< "$out")
  p50=$(awk '$1=="50%"{print $2}' <<< "$out")
  p99=$(awk '$1=="99%"{print $2}' <<< "$out")
  bad=$(awk '/Non-2xx/{print $5}' <<< "$out"); bad=${bad:-0}
  to_us() { awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else print n*1e6}'; }
  echo "$rps $(to_us "$p50") $(to_us "$p99") $bad"
}
STUB_URL="http://127.0.0.1:$SP/bench/v1/chat/completions"
GW_URL="http://$GW/v1/chat/completions"
read -r s_rps s_p50 s_p99 s_bad <<< "$(run stub "$STUB_URL" "$T/post.lua" 32)"
read -r g_rps g_p50 g_p99 g_bad <<< "$(run gateway "$GW_URL" "$T/post.lua" 32)"
rss_full=$(awk '/VmRSS/{print int($2/1024)}' /proc/$GW_PID/status)
read -r s1_rps s1_p50 s1_p99 s1_bad <<< "$(run stub-1 "$STUB_URL" "$T/post.lua" 1)"
read -r g1_rps g1_p50 g1_p99 g1_bad <<< "$(run gateway-1 "$GW_URL" "$T/post.lua" 1)"
RELAY_URL="http://127.0.0.1:$RP/bench/v1/chat/completions"
read -r r1_rps r1_p50 r1_p99 r1_bad <<< "$(run relay-1 "$RELAY_URL" "$T/post.lua" 1)"
read -r rp_rps rp_p50 rp_p99 rp_bad <<< "$(run relay-paced "$RELAY_URL" "$T/paced.lua" 32)"
read -r sp_rps sp_p50 sp_p99 sp_bad <<< "$(run stub-paced "$STUB_URL" "$T/paced.lua" 32)"
curl -s "http://$GW/metrics" > "$T/metrics.before_paced"
read -r gp_rps gp_p50 gp_p99 gp_bad <<< "$(run gateway-paced "$GW_URL" "$T/paced.lua" 32)"
hwm=$(awk '/VmHWM/{print int($2/1024)}' /proc/$GW_PID/status)
curl -s "http://$GW/metrics" > "$T/metrics"
# p50 of a histogram: the upper bound of the first bucket holding half the
# count; with a second file, of the requests between the two snapshots.
p50_of() {
  awk -v h="$1" -v base="${2:-}" '{f = (base != "" && FILENAME == base) ? 1 : 2}
    $0 ~ "^"h"_bucket"{match($0,/le="[^"]*"/); le=substr($0,RSTART+4,RLENGTH-5); if (f==1) {b0[le]=$2} else {b[++n]=le; c[n]=$2-b0[le]}}
    $0 ~ "^"h"_count"{if (f==1) t0=$2; else t=$2-t0}
    END{for(i=1;i<=n;i++) if (c[i]>=t/2) {print b[i]*1e6; exit}}' ${2:+"$2"} "$T/metrics"
}
# Mean of a histogram (its _sum / _count), us; with a second file, of the
# requests between the two snapshots.
mean_of() {
  awk -v h="$1" -v base="${2:-}" '{f = (base != "" && FILENAME == base) ? 1 : 2}
    $0 ~ "^"h"_sum"{if (f==1) s0=$2; else s=$2-s0}
    $0 ~ "^"h"_count"{if (f==1) c0=$2; else c=$2-c0}
    END{if (c > 0) printf "%.1f", s/c*1e6; else print 0}' ${2:+"$2"} "$T/metrics"
}
proc_p50=$(p50_of tollgate_processing_seconds)
proc_paced_mean=$(mean_of tollgate_processing_seconds "$T/metrics.before_paced")
dur_paced_mean=$(mean_of tollgate_durability_wait_seconds "$T/metrics.before_paced")
proc_paced_p50=$(p50_of tollgate_processing_seconds "$T/metrics.before_paced")
dur_p50=$(p50_of tollgate_durability_wait_seconds)

printf '\n%-34s %12s %12s %12s %8s\n' "run (${SECS}s each, wrk -t2)" "requests/s" "p50 (us)" "p99 (us)" "non-2xx"
printf '%-34s %12s %12s %12s %8s\n' "stub upstream alone, 32 conns" "$s_rps" "$s_p50" "$s_p99" "$s_bad"
printf '%-34s %12s %12s %12s %8s\n' "through the gateway, 32 conns" "$g_rps" "$g_p50" "$g_p99" "$g_bad"
printf '%-34s %12s %12s %12s %8s\n' "stub alone, 1 conn" "$s1_rps" "$s1_p50" "$s1_p99" "$s1_bad"
printf '%-34s %12s %12s %12s %8s\n' "through the gateway, 1 conn" "$g1_rps" "$g1_p50" "$g1_p99" "$g1_bad"
printf '%-34s %12s %12s %12s %8s\n' "byte relay (floor), 1 conn" "$r1_rps" "$r1_p50" "$r1_p99" "$r1_bad"
printf '%-34s %12s %12s %12s %8s\n' "stub alone, paced ~5k/s" "$sp_rps" "$sp_p50" "$sp_p99" "$sp_bad"
printf '%-34s %12s %12s %12s %8s\n' "byte relay (floor), paced ~5k/s" "$rp_rps" "$rp_p50" "$rp_p99" "$rp_bad"
printf '%-34s %12s %12s %12s %8s\n' "through the gateway, paced ~5k/s" "$gp_rps" "$gp_p50" "$gp_p99" "$gp_bad"
echo
awk -v a="$gp_p50" -v b="$sp_p50" -v c="$gp_p99" -v d="$sp_p99" \
  'BEGIN{printf "gateway adds at ~5k/s:  p50 %.0f us, p99 %.0f us\n", a-b, c-d}'
awk -v a="$g1_p50" -v b="$s1_p50" -v c="$g1_p99" -v d="$s1_p99" \
  'BEGIN{printf "gateway adds at 1 conn: p50 %.0f us, p99 %.0f us\n", a-b, c-d}'
awk -v a="$rp_p50" -v b="$sp_p50" -v c="$rp_p99" -v d="$sp_p99" -v e="$r1_p50" -v f="$s1_p50" \
  'BEGIN{printf "the byte relay (floor of any proxy here) adds: p50 %.0f us, p99 %.0f us at ~5k/s; p50 %.0f us at 1 conn\n", a-b, c-d, e-f}'
echo "tollgate's own processing per request (metrics histogram): p50 <= ${proc_p50} us (all runs), <= ${proc_paced_p50} us (the paced run; mean ${proc_paced_mean} us)"
echo "waiting for the settlement and the record to be durable (audit_sync=${TG_BENCH_AUDIT_SYNC:-false}): p50 <= ${dur_p50:-0} us (paced run: mean ${dur_paced_mean} us)"
echo "gateway resident memory: ${rss_full} MiB after full load, peak ${hwm} MiB"
echo "audit records written: $(grep -c '"event":"request"' "$T/gw.log")"
