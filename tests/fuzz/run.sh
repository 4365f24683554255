#!/usr/bin/env bash
# Runs every libFuzzer target of a -DTOLLGATE_FUZZ=ON build on its committed
# seed corpus (tests/fuzz/corpus/<target>) with its dictionary, for SECONDS
# each (docs/fuzzing.md):
#
#   bash tests/fuzz/run.sh build-fuzz 15            # CI: a short smoke run
#   TG_FUZZ_PARALLEL=3 nice -n 19 bash tests/fuzz/run.sh build-fuzz 1800 /tmp/tg-corpus  # a campaign
#
# TG_FUZZ_SEED (default 0: a new random seed each run) fixes libFuzzer's
# mutation sequence: CI uses 1, so a CI run repeats the first inputs of a local
# run with the same seed, and a failure replays the same way.
# TG_FUZZ_PARALLEL (default 1) targets run at a time; TG_FUZZ_TIMEOUT
# (default 10) seconds of wall-clock time per input count as a hang (give a
# campaign run under `nice` on a busy machine more); TG_FUZZ_TARGETS
# ("fuzz_compile fuzz_router") selects targets (default: every fuzz_* of the
# build). New inputs go to WORK/<target> (a temporary directory by default;
# the committed corpus is only read), the log to WORK/<target>.log. Any
# crash, sanitizer report, leak, timeout or out-of-memory fails the run: the
# reproducer is left in WORK/<target>/ (crash-*, leak-*, timeout-*, oom-*).
# Prints one summary line per target: executions, coverage (cov/ft), corpus.
set -uo pipefail
B=${1:?usage: run.sh BUILD_DIR SECONDS [WORK_DIR]}
SECS=${2:?usage: run.sh BUILD_DIR SECONDS [WORK_DIR]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${3:-$(mktemp -d)}
PARALLEL=${TG_FUZZ_PARALLEL:-1}
TIMEOUT=${TG_FUZZ_TIMEOUT:-10}
SEED=${TG_FUZZ_SEED:-0}
cd "$ROOT" || exit 1
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
dict_for() {
  case "$1" in
    fuzz_compile|fuzz_format) echo "-dict=tests/fuzz/policy.dict" ;;
    fuzz_decode_input|fuzz_loaders|fuzz_prompt_bound) echo "-dict=tests/fuzz/json.dict" ;;
    *) echo "" ;;
  esac
}
# A small ASan quarantine: the RSS limit below is about tollgate's memory, not
# the sanitizer's bookkeeping of freed blocks (256 MiB by default).
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

run_one() {  # target -> WORK/target.log, WORK/target.summary; returns libFuzzer's status
  local t=$1 bin="$B/$1"
  mkdir -p "$WORK/$t"
  # -malloc_limit_mb: the 512 MiB of docs/limits.md for any one allocation;
  # -rss_limit_mb: twice that for the whole process (ASan's shadow memory and
  # redzones roughly double a process's footprint). -timeout: the 2 s per
  # input of docs/limits.md, with room for the sanitizers and a shared machine.
  "$bin" "$WORK/$t" "tests/fuzz/corpus/$t" $(dict_for "$t") -max_total_time="$SECS" \
      -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout="$TIMEOUT" -max_len=65536 \
      -print_final_stats=1 -seed="$SEED" -artifact_prefix="$WORK/$t/" >"$WORK/$t.log" 2>&1
  local rc=$?
  local execs cov slowest
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -aoE '#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE).*cov: [0-9]+ ft: [0-9]+' \
          "$WORK/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
  {
    slowest=$(grep -o 'stat::slowest_unit_time_sec: *[0-9]*' "$WORK/$t.log" | grep -o '[0-9]*$')
    echo "$t: rc=$rc execs=${execs:-?} ${cov:-cov: ? ft: ?} corpus=$(ls "$WORK/$t" | wc -l)" \
         "slowest_unit_s=${slowest:-?}"
    if [ "$rc" -ne 0 ]; then
      # The cause (a sanitizer report, an abort's message) and the reproducer,
      # so a CI log that shows only this summary says what failed.
      grep -aE 'ERROR|SUMMARY|Test unit written|runtime error|does not|fails|despite|disagree|terminate|what\(\)|Check failed|Assertion|abort' \
          "$WORK/$t.log" | head -20
      grep -aA12 'disagree' "$WORK/$t.log" | head -40
      # Small reproducers in base64, to replay one from a CI log:
      #   echo B64 | base64 -d > crash && BUILD/TARGET crash
      for f in "$WORK/$t"/crash-* "$WORK/$t"/leak-* "$WORK/$t"/timeout-*; do
        [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 4096 ] && echo "reproducer $(basename "$f"): $(base64 -w0 "$f")"
      done
    fi
  } >"$WORK/$t.summary"
  return "$rc"
}

targets=${TG_FUZZ_TARGETS:-}
if [ -z "$targets" ]; then
  for bin in "$B"/fuzz_*; do
    [ -x "$bin" ] && targets="$targets $(basename "$bin")"
  done
fi
[ -n "$targets" ] || { echo "no fuzz_* targets in $B (build with -DTOLLGATE_FUZZ=ON)"; exit 1; }

status=0
running=0
for t in $targets; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$PARALLEL" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
for t in $targets; do cat "$WORK/$t.summary"; done
exit $status
