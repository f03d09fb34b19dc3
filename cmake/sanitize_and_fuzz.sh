#!/usr/bin/env bash
# CI stage after tests/run_all.sh: (1) the test suite (secformer_tests, the real suite) built with
# AddressSanitizer and UndefinedBehaviorSanitizer (-O1, any report fails the run) and run under ctest;
# (2) the libFuzzer targets tests/fuzz/fuzz_*.cpp, each for a bounded time (tests/fuzz/run.sh).
# Usage: bash cmake/sanitize_and_fuzz.sh [build-dir] [fuzz seconds per target]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-san}"
secs="${2:-${FUZZ_SECONDS:-30}}"
t0=$(date +%s)
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DSECFORMER_BUILD_EXAMPLES=OFF -DSECFORMER_BUILD_BENCH=OFF > /dev/null
cmake --build "$build" -j2 --target secformer_tests
t1=$(date +%s)
echo "sanitizer build: $((t1 - t0)) s"
# Only the Catch2 cases of secformer_tests (compile-fail, header and consumer checks need other
# targets and are covered by the normal build; the real-model cases, data.fetch and nn_real, need
# the downloaded cache and run in the normal build; the WordPiece oracle needs its checker,
# secformer_wordpiece_check, which the normal build makes).
# A small quarantine keeps the soak test's RSS bound meaningful (tests/net_soak.cpp).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:quarantine_size_mb=16"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" --output-on-failure -j2 --timeout 900 -E '^(compile_fail|headers|consumer|wordpiece)\.|^data\.fetch$|^nn_real$'
t2=$(date +%s)
echo "sanitizer tests: $((t2 - t1)) s"
bash tests/fuzz/run.sh "$build/fuzz" "$secs"
echo "fuzzing: $(( $(date +%s) - t2 )) s; sanitize_and_fuzz total: $(( $(date +%s) - t0 )) s"
