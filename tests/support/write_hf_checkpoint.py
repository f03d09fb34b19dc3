#!/usr/bin/env python3
"""Writes small checkpoints with Hugging Face's own writers for tests/io_readers.cpp ("[hf]"):

  <out>/cls/       a random tiny BertForSequenceClassification, save_pretrained(safe_serialization=True)
                   (config.json, model.safetensors)
  <out>/sharded/   the same model with max_shard_size small (model-0000k-of-0000n.safetensors and
                   model.safetensors.index.json)
  <out>/base/      its BertModel (model.bert) on its own: the names without "bert."
  <out>/half.safetensors   F16 and BF16 tensors (safetensors.numpy / safetensors.torch save_file)
                   with chosen bit patterns (subnormals, extremes, signed zero) and random values
  <out>/expected.json      every value of every tensor above, as exact decimal doubles, and the
                   configuration the C++ side must read back

Usage: python write_hf_checkpoint.py OUT_DIR   (transformers, safetensors, torch, numpy)
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from transformers import BertConfig, BertForSequenceClassification


def values(t):
    # float32/float16/bfloat16 -> float64 is exact; repr of a Python float round-trips.
    return [float(x) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
                        id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2})
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # LayerNorm and biases start at 1 and 0: make every tensor random
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    model.save_pretrained(os.path.join(out, "cls"), safe_serialization=True)
    model.save_pretrained(os.path.join(out, "sharded"), safe_serialization=True, max_shard_size="20KB")
    model.bert.save_pretrained(os.path.join(out, "base"), safe_serialization=True)

    rng = np.random.default_rng(7)
    f16_bits = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                         0x3555, 0x0200, 0x4248], dtype=np.uint16)
    bf16_bits = np.array([0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F,
                          0x3EAB, 0x4049], dtype=np.uint16)
    f16_bits_t = f16_bits.view(np.float16)
    f16_rand = rng.standard_normal((3, 5)).astype(np.float16)
    save_numpy({"f16.bits": f16_bits_t, "f16.random": f16_rand}, os.path.join(out, "half_f16.safetensors"),
               metadata={"writer": "safetensors.numpy"})
    bf16_bits_t = torch.from_numpy(bf16_bits.astype(np.int16)).view(torch.bfloat16)
    bf16_rand = torch.randn(2, 3, 4).to(torch.bfloat16)
    save_torch({"bf16.bits": bf16_bits_t, "bf16.random": bf16_rand}, os.path.join(out, "half_bf16.safetensors"))

    sd = model.state_dict()
    expected = {
        "config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48,
                   "vocab_size": 97, "max_position_embeddings": 24, "type_vocab_size": 2,
                   "labels": ["negative", "neutral", "positive"]},
        "tensors": {k: {"shape": list(v.shape), "values": values(v)} for k, v in sd.items()
                    if v.dtype == torch.float32},
        "half": {
            "f16.bits": {"shape": [len(f16_bits)], "values": values(torch.from_numpy(f16_bits_t.copy()))},
            "f16.random": {"shape": list(f16_rand.shape), "values": values(torch.from_numpy(f16_rand))},
            "bf16.bits": {"shape": [len(bf16_bits)], "values": values(bf16_bits_t)},
            "bf16.random": {"shape": list(bf16_rand.shape), "values": values(bf16_rand)},
        },
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("write_hf_checkpoint: wrote", out)


if __name__ == "__main__":
    main()
