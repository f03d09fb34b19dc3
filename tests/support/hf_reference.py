#!/usr/bin/env python3
"""Hugging Face transformers' own outputs for a BERT folder, as JSON (the oracle of
examples/bert_classify.cpp --mode exact; tests/support/check_bert_classify.py compares them).

  python hf_reference.py --model DIR [--max-length N] CASES_JSON

CASES_JSON: a JSON list of cases, each [text] or [text, pair]. All cases run as ONE batch, padded to
the longest (padding=True: Hugging Face's attention_mask, 0 on the padding), with the model in float64
(model.double(): the C++ side computes in doubles). Prints a JSON list, one object per case:
{"ids", "token_types", "attention_mask", "hidden" (final hidden states, all padded positions),
 "logits" (BertForSequenceClassification only)}.
"""
import argparse
import json
import sys

import torch
from transformers import AutoConfig, BertForSequenceClassification, BertModel, BertTokenizerFast


def reference(model_dir, cases, max_length=None):
    config = AutoConfig.from_pretrained(model_dir)
    archs = getattr(config, "architectures", None) or []
    cls = BertModel if archs == ["BertModel"] else BertForSequenceClassification
    model = cls.from_pretrained(model_dir).double().eval()
    tok = BertTokenizerFast.from_pretrained(model_dir)
    firsts = [c[0] for c in cases]
    pairs = [c[1] for c in cases] if all(len(c) == 2 for c in cases) else None
    if pairs is None and any(len(c) == 2 for c in cases):
        raise SystemExit("hf_reference: mix of single texts and pairs in one batch")
    enc = tok(firsts, pairs, padding=True, truncation=max_length is not None, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = out.hidden_states[-1]
    results = []
    for i in range(len(cases)):
        r = {"ids": enc["input_ids"][i].tolist(), "token_types": enc["token_type_ids"][i].tolist(),
             "attention_mask": enc["attention_mask"][i].tolist(), "hidden": hidden[i].tolist()}
        if cls is BertForSequenceClassification:
            r["logits"] = out.logits[i].tolist()
        results.append(r)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--max-length", type=int)
    ap.add_argument("cases")
    a = ap.parse_args()
    json.dump(reference(a.model, json.loads(a.cases), a.max_length), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
