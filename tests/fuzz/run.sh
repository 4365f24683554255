#!/usr/bin/env bash
# Runs every libFuzzer target of a -DTOLLGATE_FUZZ=ON build on its committed
# seed corpus (tests/fuzz/corpus/<target>) with its dictionary, one target at
# a time, for SECONDS each (docs/fuzzing.md):
#
#   bash tests/fuzz/run.sh build-fuzz 15            # CI: a short smoke run
#   nice -n 19 bash tests/fuzz/run.sh build-fuzz 1800 /tmp/tg-corpus   # a campaign
#
# New inputs go to WORK/<target> (a temporary directory by default; the
# committed corpus is only read). Any crash, sanitizer report, timeout or
# out-of-memory fails the run: the reproducer is left in WORK/<target>/.
# Prints one summary line per target: executions, coverage (cov/ft), corpus.
set -uo pipefail
B=${1:?usage: run.sh BUILD_DIR SECONDS [WORK_DIR]}
SECS=${2:?usage: run.sh BUILD_DIR SECONDS [WORK_DIR]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${3:-$(mktemp -d)}
cd "$ROOT" || exit 1
dict_for() {
  case "$1" in
    fuzz_compile|fuzz_format) echo "-dict=tests/fuzz/policy.dict" ;;
    fuzz_decode_input|fuzz_loaders) echo "-dict=tests/fuzz/json.dict" ;;
    *) echo "" ;;
  esac
}
status=0
for bin in "$B"/fuzz_*; do
  [ -x "$bin" ] || continue
  t=$(basename "$bin")
  mkdir -p "$WORK/$t"
  # -rss_limit_mb: the 512 MiB of docs/limits.md; -timeout: its 2 s per input,
  # with room for the sanitizers and a shared machine.
  "$bin" "$WORK/$t" "tests/fuzz/corpus/$t" $(dict_for "$t") -max_total_time="$SECS" \
      -rss_limit_mb=512 -timeout=10 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$WORK/$t/" >"$WORK/$t.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -oE '(#[0-9]+ *(DONE|pulse|NEW|REDUCE)).*cov: [0-9]+ ft: [0-9]+' "$WORK/$t.log" | tail -1 |
        grep -oE 'cov: [0-9]+ ft: [0-9]+')
  echo "$t: rc=$rc execs=${execs:-?} ${cov:-cov: ?} corpus=$(ls "$WORK/$t" | wc -l)"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E 'ERROR|SUMMARY|Test unit written|abort|runtime error' "$WORK/$t.log" | head -20
  fi
done
exit $status
