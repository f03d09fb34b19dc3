#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.cpp with clang++ (libFuzzer + AddressSanitizer + UBSan) and runs each
# for a bounded time on a copy of its seed corpus (tests/fuzz/corpus/<target>/; the committed corpus
# is never modified). Files under tests/fuzz/regressions/<target>/ (inputs that once crashed) are
# replayed first. Fails on any crash, sanitizer report, leak, timeout or out-of-memory.
# Usage: bash tests/fuzz/run.sh [out-dir] [seconds per target]   (env FUZZ_SECONDS also sets the time)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build-fuzz}"
secs="${2:-${FUZZ_SECONDS:-30}}"
cxx="${FUZZ_CXX:-clang++}"
mkdir -p "$out"
shopt -s nullglob
targets=(tests/fuzz/fuzz_*.cpp)
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
       -Iinclude)
# Extra link libraries a target declares on a line "// fuzz-libs: -lssl -lcrypto" (e.g. the TLS handshake).
status=0
for src in "${targets[@]}"; do
  name="$(basename "$src" .cpp)"
  libs="$(sed -n 's|^// fuzz-libs:||p' "$src" | head -1)"
  echo "== $name: building"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" -o "$out/$name" "$src" $libs -lssl -lcrypto -lpthread
  echo "   built in $(( $(date +%s) - t0 )) s"
  if [ -d "tests/fuzz/regressions/$name" ] && [ -n "$(ls -A "tests/fuzz/regressions/$name")" ]; then
    echo "== $name: replaying regressions"
    "$out/$name" -runs=1 "tests/fuzz/regressions/$name"/* 2>&1 | tail -3 || { echo "REGRESSION FAILED: $name"; status=1; continue; }
  fi
  corpus="$out/corpus/$name"
  rm -rf "$corpus" && mkdir -p "$corpus" "$out/crashes/$name"
  [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  echo "== $name: fuzzing for $secs s"
  if ! "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$name/" "$corpus" > "$out/$name.log" 2>&1; then
    echo "FUZZ FAILURE in $name (artifacts in $out/crashes/$name):"
    tail -40 "$out/$name.log"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added" "$out/$name.log" | sed 's/^/   /' || true
done
exit $status
