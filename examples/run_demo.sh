#!/usr/bin/env bash
# Sets up (Debian packages, if missing), builds the main demo and runs it: party 0, party 1 and the
# dealer as three processes over loopback TCP. Extra arguments go to the demo (see examples/demo.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j2 --target demo > /dev/null
exec ./build/examples/demo "$@"
