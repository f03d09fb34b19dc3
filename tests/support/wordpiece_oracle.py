#!/usr/bin/env python3
"""The oracle of secformer::text::WordPiece: the Hugging Face tokenizers library itself.

Writes the inputs and what tokenizers makes of them to a JSON file that
tests/support/wordpiece_check.cpp reads and compares:

  {"tokenizers": "0.19.1",
   "texts": [...],                         # UTF-8 strings
   "cases": [{"kind": "review" | "pair", "a": i, "b": j | null, "max_length": n | null,
              "ids": [...], "type_ids": [...], "dropped": k}, ...]}

Inputs (deterministic): the first --reviews IMDB reviews, each without truncation and with
max_length 128; --pairs sentence pairs from consecutive reviews (A: 1-4 sentences of review k,
B: 1-3 sentences of review k + 1, sentences split after . ! ? and a space), each without
truncation, with max_length 128 and with max_length 61 (odd: the longest-first split of an odd
budget). dropped is the number of tokens truncation removed (full length - truncated length).

--code-points FILE also writes, for every code point but the surrogates, tab-separated: the code
point, what the tokenizer's normalizer makes of it, and how the pre-tokenizer splits "x" + c + "x"
(W: whitespace, P: punctuation, N: no split, O: other), all in hex.

Usage: python wordpiece_oracle.py --tokenizer cache/minilm/tokenizer.json
                                  --imdb cache/imdb/package/reviews.json --out cases.json
Needs the tokenizers package (cmake/setup_python.sh makes a virtual environment with it).
"""
import argparse
import json
import re
import sys

import tokenizers
from tokenizers import Tokenizer


def sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json of the checkpoint")
    ap.add_argument("--imdb", required=True, help="reviews.json: [{\"t\": text, \"s\": 0|1}]")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reviews", type=int, default=5000)
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--code-points", help="also write the per-code-point table here")
    args = ap.parse_args()

    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_padding()
    with open(args.imdb, encoding="utf-8") as f:
        reviews = [r["t"] for r in json.load(f)]
    if len(reviews) < max(args.reviews, args.pairs + 1):
        sys.exit("wordpiece_oracle: %s has only %d reviews" % (args.imdb, len(reviews)))

    texts, cases = [], []

    def encode(a, b, max_length):
        if max_length is None:
            tok.no_truncation()
        else:
            tok.enable_truncation(max_length, strategy="longest_first")
        return tok.encode(a) if b is None else tok.encode(a, b)

    def add(kind, a, b, lengths):
        ia = len(texts)
        texts.append(a)
        ib = None
        if b is not None:
            ib = len(texts)
            texts.append(b)
        full = encode(a, b, None)
        for m in lengths:
            e = full if m is None else encode(a, b, m)
            cases.append({"kind": kind, "a": ia, "b": ib, "max_length": m, "ids": e.ids,
                          "type_ids": e.type_ids, "dropped": len(full.ids) - len(e.ids)})

    for r in reviews[: args.reviews]:
        add("review", r, None, [None, 128])
    made = 0
    for k in range(len(reviews) - 1):
        if made == args.pairs:
            break
        sa, sb = sentences(reviews[k]), sentences(reviews[k + 1])
        if not sa or not sb:
            continue
        add("pair", " ".join(sa[: 1 + made % 4]), " ".join(sb[: 1 + made % 3]), [None, 128, 61])
        made += 1

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"tokenizers": tokenizers.__version__, "texts": texts, "cases": cases}, f, ensure_ascii=False)
    print("wordpiece_oracle: tokenizers %s, %d reviews, %d pairs, %d cases -> %s"
          % (tokenizers.__version__, args.reviews, made, len(cases), args.out))

    if args.code_points:
        norm, pre = tok.normalizer, tok.pre_tokenizer
        with open(args.code_points, "w", encoding="utf-8") as f:
            for cp in range(0x110000):
                if 0xD800 <= cp < 0xE000:
                    continue
                c = chr(cp)
                words = [w for w, _ in pre.pre_tokenize_str("x" + c + "x")]
                kind = ("W" if words == ["x", "x"] else "P" if words == ["x", c, "x"]
                        else "N" if words == ["x" + c + "x"] else "O")
                f.write("%X\t%s\t%s\n" % (cp, " ".join("%X" % ord(ch) for ch in norm.normalize_str(c)), kind))
        print("wordpiece_oracle: code point table -> %s" % args.code_points)


if __name__ == "__main__":
    main()
