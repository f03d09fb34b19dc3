#!/usr/bin/env bash
# The teacher's cross-check (CTest example.sentiment_crosscheck):
#   1. use_teacher embeds a few sentences in C++ (nn/use.hpp, text/sentencepiece.hpp) with their ids;
#   2. tfjs_reference.py tokenizes them independently (ids must be equal) and runs the original
#      TF.js graph node by node in numpy, alone and as one padded batch: cosine >= 0.999 each;
#   3. use_tokenize writes the IMDB token files; tfjs_reference.py check-tokens compares them with
#      its own tokenizer on 400 reviews of each class.
# Usage: crosscheck.sh USE_TEACHER CACHE_DIR WORK_DIR   (use_tokenize is next to use_teacher)
set -euo pipefail
teacher="$1" cache="$2" work="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=/usr/bin/python3
"$teacher" --cache "$cache" similarity "I loved this movie" "What a great film" "The central bank raised interest rates by a quarter point."
"$teacher" --cache "$cache" dump "$work/crosscheck.jsonl" \
  "I loved this movie" "What a great film" "The central bank raised interest rates by a quarter point." \
  "Ok" "This is, without doubt, the worst film I have seen in years: wooden acting, a plot full of holes, and a score that never stops." \
  "Ｆｕｌｌｗｉｄｔｈ café ﬁlm… naïve — ½ star ☃☃ snow" \
  "$(printf 'word %.0s' $(seq 1 140))"
"$py" "$here/tfjs_reference.py" --cache "$cache" check "$work/crosscheck.jsonl"
"$(dirname "$teacher")/use_tokenize" --cache "$cache"
"$py" "$here/tfjs_reference.py" --cache "$cache" check-tokens --count 400
