#!/usr/bin/env bash
# Builds the libFuzzer targets (not part of the default build) with clang,
# against the static libraries of an existing build dir:
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
#         -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined"
#   cmake --build build-fuzz --target tg_runtime
#   bash tests/fuzz/build.sh build-fuzz
#   build-fuzz/fuzz_decode_input -max_total_time=60 policies/requests
set -euo pipefail
B=${1:?usage: build.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIBS="$B/libtg_runtime.a $B/libtg_engine.a $B/libtg_parse.a $B/libtg_check.a $B/libtg_vm.a $B/libtg_stdlib.a $B/libtg_core.a"
SYS="-lantlr4-runtime -lre2 -lcctz -lspdlog -lfmt -lcrypto -lpthread"
FLAGS="-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I$ROOT"
DIFF="$ROOT/tests/differential/reference_helpers.cc $ROOT/tests/differential/compare_helpers.cc $ROOT/tests/differential/generate_helpers.cc"
for t in fuzz_decode_input fuzz_compile fuzz_differential; do
  clang++ $FLAGS "$ROOT/tests/fuzz/$t.cc" $DIFF $LIBS $SYS -o "$B/$t"
done
