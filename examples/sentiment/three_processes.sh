#!/bin/sh
# CTest example.sentiment_three_processes: the three roles of examples/sentiment/sentiment.cpp as
# processes over loopback TCP (ports 7430, 7431), then the cross-check: the client (party 1) has no
# weights and prints only its private label, so the model owner's plaintext label comes from a
# separate `sentiment plain TEXT` run, and this script compares the two.
#   sh three_processes.sh SENTIMENT_BINARY CACHE_DIR "REVIEW TEXT" [extra flags for the roles...]
S=$1 C=$2 T=$3
shift 3
NET="--peer 127.0.0.1:7430 --dealer 127.0.0.1:7431"
"$S" dealer $NET --cache "$C" "$@" &
D=$!
"$S" p0 $NET --cache "$C" "$@" &
P0=$!
# The client gets no weights folder: it must not need one.
OUT=$("$S" p1 $NET --cache "$C" --weights /nonexistent/the-client-has-no-weights "$@" "$T")
R1=$?
if printf '%s\n' "$OUT" | grep -qi 'logit'; then
  echo "the client printed a logit"
  R1=1
fi
wait $D
RD=$?
wait $P0
R0=$?
printf '%s\n' "$OUT"
echo "exit codes: dealer $RD, party 0 $R0, party 1 $R1"
PLAIN=$("$S" plain --cache "$C" "$T") || { echo "sentiment plain failed"; exit 1; }
PRIVATE_LINE=$(printf '%s\n' "$OUT" | grep '^private label (revealed to the client only): ')
PLAIN_LINE=$(printf '%s\n' "$PLAIN" | grep "^plaintext model's label: ")
printf '%s\n%s\n' "$PRIVATE_LINE" "$PLAIN_LINE"
A=$(printf '%s\n' "$PRIVATE_LINE" | sed 's/^.*: //')
B=$(printf '%s\n' "$PLAIN_LINE" | sed "s/^plaintext model's label: \([a-z]*\).*/\1/")
if [ "$RD" -eq 0 ] && [ "$R0" -eq 0 ] && [ "$R1" -eq 0 ] && [ -n "$A" ] && [ "$A" = "$B" ]; then
  echo "agrees with the plaintext model: yes"
else
  echo "agrees with the plaintext model: NO"
  exit 1
fi
