#!/usr/bin/env bash
# ctest bert_classify.roles: examples/bert_classify as three processes over loopback TCP (ports
# 7600, 7601; fixed test keys), party 1 with the text, party 0 with the checkpoint: party 1's JSON
# must equal the in-process --mode secure run with the same seed and length.
# Usage: bash tests/support/bert_classify_roles.sh BERT_CLASSIFY MODEL_DIR SUITE TEXT
set -euo pipefail
bin="$1" model="$2" suite="$3" text="$4"
seed=23 n=12
"$bin" dealer --insecure-fixed-seed $seed --peer 127.0.0.1:7600 --dealer 127.0.0.1:7601 2>/dev/null &
dealer=$!
"$bin" p0 --model "$model" --suite "$suite" --pad-to $n --insecure-fixed-seed $seed --peer 127.0.0.1:7600 --dealer 127.0.0.1:7601 2>&1 &
p0=$!
trap 'kill $dealer $p0 2>/dev/null || true' EXIT
roles=$("$bin" p1 --model "$model" --suite "$suite" --pad-to $n --insecure-fixed-seed $seed --peer 127.0.0.1:7600 --dealer 127.0.0.1:7601 --json "$text" 2>/dev/null)
wait $p0
wait $dealer
local_run=$("$bin" --model "$model" --mode secure --suite "$suite" --pad-to $n --seed $seed --json "$text" 2>/dev/null)
echo "p1 over TCP: $roles"
echo "in-process:  $local_run"
if [ "$roles" = "$local_run" ]; then echo "roles equal the in-process run: OK"; else echo "roles differ from the in-process run"; exit 1; fi
