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
  cls/, sharded/, base/ also get a tiny vocab.txt (VOCAB: 97 pieces), so that they are whole model
  folders for examples/bert_classify (tests/support/check_bert_classify.py), and:
  <out>/student/   a random tiny 2Quad student: the same shapes, config.json with our
                   "secformer": {"attention": "2quad", "quad_c": 5.0} block, smaller random weights
                   (the fixed-point protocols' ranges), vocab.txt
  <out>/missing/   cls/ without the tensor "bert.encoder.layer.1.output.dense.bias" (the refusal test)

Usage: python write_hf_checkpoint.py OUT_DIR   (transformers, safetensors, torch, numpy)
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from transformers import BertConfig, BertForSequenceClassification


def values(t):
    # float32/float16/bfloat16 -> float64 is exact; repr of a Python float round-trips.
    return [float(x) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


# 97 pieces: the specials, then words and "##" continuations (enough for the test sentences).
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(".,!?'-") +
         ["the", "a", "is", "it", "this", "that", "movie", "film", "was", "good", "bad", "great", "not",
          "very", "and", "but", "i", "you", "we", "love", "hate", "like", "story", "actor", "plot", "boring",
          "fun", "of", "to", "in", "on", "with", "for", "an", "are", "be", "so", "too", "really", "how",
          "what", "why", "no", "yes", "all", "one", "two", "time", "end", "best", "worst", "ever", "seen",
          "watch", "again", "never", "here", "there", "he", "she", "they", "my", "his", "her",
          "##s", "##ed", "##ing", "##ly", "##er", "##est", "##y", "##n", "##t", "##e", "##a", "##o", "##i",
          "x", "z", "q", "k", "as", "at", "by", "or", "if"])
assert len(VOCAB) == 97 and len(set(VOCAB)) == 97


def write_vocab(folder):
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")


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

    for sub in ("cls", "sharded", "base"):
        write_vocab(os.path.join(out, sub))

    # After every value above is drawn (expected.json stays as it was), from a seed of its own.
    torch.manual_seed(4321)
    student_config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                                hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
                                id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
                                secformer={"attention": "2quad", "quad_c": 5.0})
    student = BertForSequenceClassification(student_config).eval()
    with torch.no_grad():
        for name, p in student.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * 0.25)
    student.save_pretrained(os.path.join(out, "student"), safe_serialization=True)
    write_vocab(os.path.join(out, "student"))

    missing = os.path.join(out, "missing")
    os.makedirs(missing, exist_ok=True)
    shutil.copy(os.path.join(out, "cls", "config.json"), missing)  # (config itself now says BertModel: base/ was saved last)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "bert.encoder.layer.1.output.dense.bias"}
    save_torch(tensors, os.path.join(missing, "model.safetensors"), metadata={"format": "pt"})
    write_vocab(missing)

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
