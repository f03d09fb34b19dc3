#!/usr/bin/env bash
# ctest io.hf_checkpoint: writes small checkpoints with Hugging Face's own writers
# (write_hf_checkpoint.py, in the venv of cmake/setup_python.sh) and reads them back with
# secformer_tests "[hf]" (tests/io_readers.cpp).
# Usage: bash tests/support/run_hf_checkpoint.sh PYTHON SECFORMER_TESTS OUT_DIR
set -euo pipefail
python="$1" tests="$2" out="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$out"
"$python" "$here/write_hf_checkpoint.py" "$out"
SECFORMER_HF_DIR="$out" "$tests" -w NoTests "[hf]"
