#!/usr/bin/env bash
# Creates the Python environment of the Hugging Face interoperability test (ctest io.hf_checkpoint,
# tests/support/write_hf_checkpoint.py): a venv over Debian's python3 that sees its system packages
# (python3-torch, python3-numpy: cmake/install_deps.sh) plus pinned packages from PyPI (pip).
# Never committed (/cache/ is git-ignored). Idempotent: a stamp file in the venv records the pins;
# while it matches, nothing is done.
# Usage: bash cmake/setup_python.sh [venv-dir]   (default <repo>/cache/venv; env SECFORMER_SYSTEM_PYTHON
#        names the interpreter, default /usr/bin/python3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/cache/venv}"
python="${SECFORMER_SYSTEM_PYTHON:-/usr/bin/python3}"
# Known to work together with Debian 12's torch 1.13.
pins=(transformers==4.40.2 tokenizers==0.19.1 safetensors==0.8.0 "numpy<2")
stamp="$venv/.secformer-python-stamp"
want="${pins[*]}"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
[[ -x "$python" ]] || { echo "setup_python: $python not found (bash cmake/install_deps.sh)" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "setup_python: $python lacks torch (Debian's python3-torch: bash cmake/install_deps.sh)" >&2; exit 1; }
echo "setup_python: creating $venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv --system-site-packages --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${pins[@]}"
"$venv/bin/python" - <<'PY'
import numpy, safetensors, tokenizers, torch, transformers
assert transformers.__version__ == "4.40.2", transformers.__version__
assert safetensors.__version__ == "0.8.0", safetensors.__version__
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
print("setup_python: torch", torch.__version__, "transformers", transformers.__version__, "safetensors", safetensors.__version__,
      "numpy", numpy.__version__)
PY
echo "$want" > "$stamp"
