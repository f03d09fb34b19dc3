#!/usr/bin/env python3
"""Writes a random BERT-base or BERT-large BertForSequenceClassification checkpoint in the Hugging
Face layout (config.json and safetensors: save_pretrained(safe_serialization=True)), for the
memory check of bench/checkpoint_memory.cpp and for trying the readers on full-size models.
Write it outside the repository (e.g. /tmp): a checkpoint is never committed.

  python bench/write_bert_checkpoint.py --config large --shards 2 --out /tmp/bert-large
  python bench/write_bert_checkpoint.py --config base --labels 3 --seed 7 --out /tmp/bert-base

--config base|large   BERT-base (768 wide, 12 layers, 12 heads; 110M parameters) or BERT-large
                      (1024, 24 layers, 16 heads; 335M), vocabulary 30522, 512 positions
--labels N            the classifier's labels (1: a regression head, as Hugging Face reads
                      num_labels 1); default 2
--seed S              torch.manual_seed before the model is built (its initialisation: normal
                      0.02 weights, LayerNorm 1 and 0, zero biases); default 0
--shards N            N > 1: sharded files model-0000k-of-0000N.safetensors and
                      model.safetensors.index.json; max_shard_size is the smallest byte count for
                      which Hugging Face's own sharding (transformers.modeling_utils.shard_checkpoint,
                      tensors in state-dict order) gives exactly N shards; default 1
--out DIR             the directory to write (created)

Needs torch, transformers and safetensors (e.g. the venv of cmake/setup_python.sh).
"""
import argparse
import json
import os
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification
from transformers.modeling_utils import shard_checkpoint

SIZES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}


def shard_size_for(state_dict, shards):
    """The smallest max_shard_size (bytes) for which shard_checkpoint makes exactly `shards` files."""
    total = sum(t.numel() * t.element_size() for t in state_dict.values())
    count = lambda size: len(shard_checkpoint(state_dict, max_shard_size=size)[0])
    lo, hi = 1, total  # count(total) == 1; count is non-increasing in the size
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) <= shards:
            hi = mid
        else:
            lo = mid + 1
    if count(lo) != shards:
        sys.exit(f"write_bert_checkpoint: no max_shard_size splits this model into exactly {shards} shards")
    return lo


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(SIZES), required=True)
    ap.add_argument("--labels", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.labels < 1:
        ap.error("--labels must be at least 1")
    if a.shards < 1:
        ap.error("--shards must be at least 1")

    torch.manual_seed(a.seed)
    config = BertConfig(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                        layer_norm_eps=1e-12, pad_token_id=0, num_labels=a.labels,
                        architectures=["BertForSequenceClassification"], **SIZES[a.config])
    model = BertForSequenceClassification(config).eval()
    os.makedirs(a.out, exist_ok=True)
    kwargs = {}
    if a.shards > 1:
        kwargs["max_shard_size"] = shard_size_for(model.state_dict(), a.shards)
    else:
        kwargs["max_shard_size"] = 1 << 40  # one file, whatever the model's size
    model.save_pretrained(a.out, safe_serialization=True, **kwargs)

    files = sorted(f for f in os.listdir(a.out) if f.endswith(".safetensors"))
    params = sum(p.numel() for p in model.state_dict().values())
    print(json.dumps({"out": a.out, "config": a.config, "labels": a.labels, "seed": a.seed, "parameters": params,
                      "bytes_f32": 4 * params, "files": files,
                      "max_shard_size": kwargs["max_shard_size"] if a.shards > 1 else None}))


if __name__ == "__main__":
    main()
