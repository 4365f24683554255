# The checks the CLI end-to-end scripts share (run.sh, audit.sh). Source it
# after setting TMP; each check counts into $pass / $fail.
#
#   run NAME WANT_RC CMD...   runs CMD, stdout -> $OUT, stderr -> $ERR; checks the exit code
#   has NAME FILE TEXT        FILE contains the fixed string TEXT
#   hasnt NAME FILE TEXT      ... does not
#   lines NAME FILE N         FILE has N lines
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
lines() {
  local n
  n=$(wc -l <"$2")
  if [ "$n" -eq "$3" ]; then ok; else bad "$1: $n lines, want $3"; fi
}
