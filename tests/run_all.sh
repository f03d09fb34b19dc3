#!/usr/bin/env bash
# Sets up (Debian packages, if missing), builds everything with -j2 and runs the whole test suite.
# Usage: bash tests/run_all.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
build="${1:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 900
