#!/usr/bin/python3
"""Independent plaintext reference for the sentiment teacher: a generic interpreter of the TF.js
graph in dist/model.json (it walks the node list and executes each op with numpy, in the graph's
own float32/int32 dtypes) plus an independent SentencePiece-unigram tokenizer (Python's
unicodedata NFKC). It shares no code with the C++ side (nn/use.hpp, text/sentencepiece.hpp).

  tfjs_reference.py [--cache DIR] embed TEXT...         the graph's embeddings, cosines to the first
  tfjs_reference.py [--cache DIR] check DUMP [--min-cosine 0.999]
      DUMP: JSON lines {"text", "ids", "embedding"} from `use_teacher dump`. For every line:
      Python tokenizer ids == C++ ids, and cosine(graph(ids), C++ embedding) >= min; exit 1 if not.
  tfjs_reference.py [--cache DIR] check-tokens [--count N]
      Python tokenizer vs cache/imdb_tokens_128.npy (written by use_tokenize) on the first N
      reviews of each class; prints agreement and how often Python's full NFKC differs from the
      text (coverage of the C++ NFKC subset).
Requires numpy (Debian: python3-numpy); run with /usr/bin/python3.
"""
import argparse
import json
import os
import sys
import unicodedata

import numpy as np

WORD = '\u2581'
F32 = np.float32


# ----------------------------------------------------------------------------------------------
# Weights

def load_graph(dist):
    with open(os.path.join(dist, 'model.json')) as f:
        model = json.load(f)
    consts = {}
    for group in model['weightsManifest']:
        buf = b''.join(open(os.path.join(dist, p), 'rb').read() for p in group['paths'])
        off = 0
        for w in group['weights']:
            dt = {'float32': np.float32, 'int32': np.int32}[w['dtype']]
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            consts[w['name']] = np.frombuffer(buf, dt, n, off).reshape(w['shape']).copy()
            off += 4 * n
        assert off == len(buf), 'shard size mismatch'
    return model['modelTopology']['node'], consts


# ----------------------------------------------------------------------------------------------
# The interpreter

def attr(node, key, default=None):
    a = node.get('attr', {}).get(key)
    if a is None:
        return default
    if 'i' in a:
        return int(a['i'])
    if 'b' in a:
        return bool(a['b'])
    if 'f' in a:
        return float(a['f'])
    if 'type' in a:
        return a['type']
    if 'list' in a:
        return [int(x) for x in a['list'].get('i', [])]
    if 's' in a:
        return a['s']
    return a


TF_TYPES = {'DT_FLOAT': np.float32, 'DT_INT32': np.int32, 'DT_INT64': np.int64, 'DT_BOOL': np.bool_,
            1: np.float32, 3: np.int32, 9: np.int64, 10: np.bool_}


def strided_slice(x, begin, end, strides, node):
    assert attr(node, 'ellipsis_mask', 0) == 0 and attr(node, 'new_axis_mask', 0) == 0
    bm, em, sm = attr(node, 'begin_mask', 0), attr(node, 'end_mask', 0), attr(node, 'shrink_axis_mask', 0)
    idx = []
    for k in range(len(begin)):
        if sm >> k & 1:
            idx.append(int(begin[k]))
        else:
            idx.append(slice(None if bm >> k & 1 else int(begin[k]), None if em >> k & 1 else int(end[k]), int(strides[k])))
    return x[tuple(idx)]


def run_graph(nodes, consts, indices, values):
    env = {}

    def get(name):
        if name.startswith('^'):
            return None
        base, _, port = name.partition(':')
        v = env[base]
        return v[int(port or 0)] if isinstance(v, list) else v

    for n in nodes:
        op, name = n['op'], n['name']
        ins = [get(i) for i in n.get('input', []) if not i.startswith('^')]
        if op == 'Const':
            out = consts[name]
        elif op == 'Placeholder':
            out = {'indices': indices, 'values': values}[name]
        elif op == 'StridedSlice':
            out = strided_slice(ins[0], *ins[1:4], n)
        elif op == 'Slice':
            b, s = ins[1], ins[2]
            out = ins[0][tuple(slice(int(b[k]), None if s[k] == -1 else int(b[k] + s[k])) for k in range(len(b)))]
        elif op == 'Less':
            out = ins[0] < ins[1]
        elif op == 'Greater':
            out = ins[0] > ins[1]
        elif op == 'LogicalNot':
            out = ~ins[0]
        elif op == 'Where':
            out = np.argwhere(ins[0]).astype(np.int64)
        elif op == 'Reshape':
            out = ins[0].reshape([int(d) for d in np.atleast_1d(ins[1])])
        elif op == 'GatherV2':
            out = np.take(ins[0], ins[1], axis=int(ins[2]))
        elif op == 'GatherNd':
            idx = ins[1]
            out = ins[0][tuple(idx[..., k] for k in range(idx.shape[-1]))]
        elif op == 'ScatterNd':
            idx, upd, shape = ins
            out = np.zeros([int(d) for d in shape], upd.dtype)
            np.add.at(out, tuple(idx[..., k] for k in range(idx.shape[-1])), upd)
        elif op == 'SparseToDense':
            idx, shape, vals, default = ins
            out = np.full([int(d) for d in shape], default, vals.dtype)
            out[tuple(idx.T)] = vals
        elif op == 'Max':
            out = np.max(ins[0], axis=tuple(np.atleast_1d(ins[1])), keepdims=attr(n, 'keep_dims', False))
        elif op == 'Sum':
            out = np.sum(ins[0], axis=tuple(np.atleast_1d(ins[1])), keepdims=attr(n, 'keep_dims', False)).astype(ins[0].dtype)
        elif op == 'Mean':
            out = np.mean(ins[0], axis=tuple(np.atleast_1d(ins[1])), keepdims=attr(n, 'keep_dims', False)).astype(ins[0].dtype)
        elif op == 'Prod':
            out = np.prod(ins[0], axis=tuple(np.atleast_1d(ins[1])), keepdims=attr(n, 'keep_dims', False)).astype(ins[0].dtype)
        elif op in ('Add', 'AddV2', 'BiasAdd'):
            out = ins[0] + ins[1]
        elif op == 'Sub':
            out = ins[0] - ins[1]
        elif op == 'Mul':
            out = ins[0] * ins[1]
        elif op == 'RealDiv':
            out = ins[0] / ins[1]
        elif op == 'Maximum':
            out = np.maximum(ins[0], ins[1])
        elif op == 'Square':
            out = ins[0] * ins[0]
        elif op == 'Rsqrt':
            out = (1 / np.sqrt(ins[0])).astype(ins[0].dtype)
        elif op == 'Sin':
            out = np.sin(ins[0])
        elif op == 'Cos':
            out = np.cos(ins[0])
        elif op == 'Tanh':
            out = np.tanh(ins[0])
        elif op == 'Relu':
            out = np.maximum(ins[0], 0)
        elif op == 'Softmax':
            z = ins[0] - ins[0].max(axis=-1, keepdims=True)
            e = np.exp(z)
            out = (e / e.sum(axis=-1, keepdims=True)).astype(ins[0].dtype)
        elif op == 'Cast':
            out = ins[0].astype(TF_TYPES[attr(n, 'DstT')])
        elif op == 'Shape':
            out = np.array(ins[0].shape, np.int32)
        elif op == 'ExpandDims':
            out = np.expand_dims(ins[0], int(ins[1]))
        elif op == 'Squeeze':
            out = np.squeeze(ins[0], axis=tuple(attr(n, 'squeeze_dims', [])) or None)
        elif op == 'ConcatV2':
            out = np.concatenate([np.atleast_1d(x) for x in ins[:-1]], axis=int(ins[-1]))
        elif op == 'Pack':
            out = np.stack(ins, axis=attr(n, 'axis', 0))
        elif op == 'Transpose':
            out = np.transpose(ins[0], ins[1])
        elif op == 'Range':
            out = np.arange(int(ins[0]), int(ins[1]), int(ins[2]), dtype=np.int32)
        elif op == 'MatMul':
            a = ins[0].T if attr(n, 'transpose_a', False) else ins[0]
            b = ins[1].T if attr(n, 'transpose_b', False) else ins[1]
            out = a @ b
        elif op == 'BatchMatMul':
            a = np.swapaxes(ins[0], -1, -2) if attr(n, 'adj_x', False) else ins[0]
            b = np.swapaxes(ins[1], -1, -2) if attr(n, 'adj_y', False) else ins[1]
            out = a @ b
        elif op == 'Conv2D':
            k = ins[1]
            assert k.shape[0] == 1 and k.shape[1] == 1, 'only 1x1 convolutions occur'
            assert attr(n, 'strides') in ([1, 1, 1, 1], None)
            out = np.einsum('nhwc,co->nhwo', ins[0], k[0, 0])
        elif op == 'SplitV':
            sizes, axis = ins[1], int(ins[2])
            out = np.split(ins[0], np.cumsum(sizes)[:-1], axis=axis)
        else:
            raise NotImplementedError('op ' + op + ' (' + name + ')')
        env[name] = out
    return env


def graph_embedding(nodes, consts, id_lists):
    """The graph's output for a batch of token-id lists (a sparse batch, as TF.js feeds it)."""
    indices = np.array([[b, t] for b, ids in enumerate(id_lists) for t in range(len(ids))], np.int32).reshape(-1, 2)
    values = np.array([i for ids in id_lists for i in ids], np.int32)
    env = run_graph(nodes, consts, indices, values)
    return env['module_apply_default/Encoder_en/hidden_layers/l2_normalize']


# ----------------------------------------------------------------------------------------------
# The tokenizer (SentencePiece unigram, Viterbi), written independently of the C++ one

class Tokenizer:
    def __init__(self, vocab_file, reserved=6):
        with open(vocab_file) as f:
            v = json.load(f)
        self.pieces = {}
        lo = 0.0
        for i, (p, s) in enumerate(v):
            s = 0.0 if s is None else float(s)
            if i < reserved:
                continue
            lo = min(lo, s)
            if p not in self.pieces or s > self.pieces[p][1]:
                self.pieces[p] = (i, s)
        self.max_len = max(len(p) for p in self.pieces)
        self.unk = lo - 10.0

    @staticmethod
    def normalize(text):
        t = unicodedata.normalize('NFKC', text)
        words = t.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ').replace('\v', ' ').replace('\f', ' ').split(' ')
        return ''.join(WORD + w for w in words if w)

    def encode(self, text, max_tokens=None):
        s = self.normalize(text)
        n = len(s)
        best = [-np.inf] * (n + 1)
        back = [None] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == -np.inf:
                continue
            single = False
            for ln in range(1, min(self.max_len, n - i) + 1):
                e = self.pieces.get(s[i:i + ln])
                if e is None:
                    continue
                single |= ln == 1
                if best[i] + e[1] > best[i + ln] + 1e-9:  # equal scores up to rounding: the first found wins
                    best[i + ln], back[i + ln] = best[i] + e[1], (i, e[0])
            if not single and best[i] + self.unk > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk, (i, 0)
        ids, e = [], n
        while e > 0:
            i, t = back[e]
            ids.append(t)
            e = i
        ids.reverse()
        merged = [t for k, t in enumerate(ids) if not (t == 0 and k > 0 and ids[k - 1] == 0)]
        return merged[:max_tokens] if max_tokens else merged


# ----------------------------------------------------------------------------------------------

def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default='cache')
    sub = ap.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('embed')
    e.add_argument('texts', nargs='+')
    c = sub.add_parser('check')
    c.add_argument('dump')
    c.add_argument('--min-cosine', type=float, default=0.999)
    f = sub.add_parser('features')
    f.add_argument('out')
    f.add_argument('first', type=int)
    f.add_argument('step', type=int)
    f.add_argument('count', type=int)
    f.add_argument('--batch', type=int, default=16)
    t = sub.add_parser('check-tokens')
    t.add_argument('--count', type=int, default=2000)
    a = ap.parse_args()
    dist = os.path.join(a.cache, 'use', 'package', 'dist')
    tok = Tokenizer(os.path.join(dist, 'vocab.json'))

    if a.cmd == 'embed':
        nodes, consts = load_graph(dist)
        ids = [tok.encode(x, 128) for x in a.texts]
        emb = graph_embedding(nodes, consts, ids)
        for x, i, v in zip(a.texts, ids, emb):
            print('%-60s %3d tokens  cosine to the first %.4f' % (x[:60], len(i), cosine(v, emb[0])))
        return 0

    if a.cmd == 'check':
        nodes, consts = load_graph(dist)
        ok = True
        rows = [json.loads(line) for line in open(a.dump)]
        # One sparse batch of all sentences (exercises the graph's padding/masking too) and each alone.
        batch = graph_embedding(nodes, consts, [r['ids'] for r in rows])
        worst = 1.0
        for r, vb in zip(rows, batch):
            py_ids = tok.encode(r['text'], 128)
            same_ids = py_ids == r['ids']
            single = graph_embedding(nodes, consts, [r['ids']])[0]
            cs, cb = cosine(single, r['embedding']), cosine(vb, r['embedding'])
            worst = min(worst, cs, cb)
            good = same_ids and cs >= a.min_cosine and cb >= a.min_cosine
            ok &= good
            print('%s cosine(C++, graph) %.7f (alone) %.7f (in a padded batch), max |diff| %.2e, %d tokens, ids %s: %s' % (
                'OK ' if good else 'BAD', cs, cb, np.abs(single - np.asarray(r['embedding'])).max(), len(r['ids']),
                'equal' if same_ids else 'DIFFER (py %s)' % py_ids, r['text'][:50]))
        print('cross-check: %d texts, worst cosine %.7f (bound %.4f): %s' % (len(rows), worst, a.min_cosine, 'passed' if ok else 'FAILED'))
        return 0 if ok else 1

    if a.cmd == 'features':
        # The graph's embeddings of IMDB reviews from the C++ token ids (cache/imdb_tokens_128.npy),
        # in the format of `use_teacher features` (OUT.emb.npy float32 N x 512, OUT.idx.npy int32).
        nodes, consts = load_graph(dist)
        toks = np.load(os.path.join(a.cache, 'imdb_tokens_128.npy'))
        lens = np.load(os.path.join(a.cache, 'imdb_lengths_128.npy'))
        idx = np.arange(a.count, dtype=np.int32) * a.step + a.first
        assert idx[-1] < len(toks)
        emb = []
        for k in range(0, len(idx), a.batch):
            emb.append(graph_embedding(nodes, consts, [list(toks[r, :lens[r]]) for r in idx[k:k + a.batch]]))
        np.save(a.out + '.emb.npy', np.concatenate(emb).astype(np.float32))
        np.save(a.out + '.idx.npy', idx)
        print('graph features of %d reviews written to %s.{emb,idx}.npy' % (len(idx), a.out))
        return 0

    if a.cmd == 'check-tokens':
        toks = np.load(os.path.join(a.cache, 'imdb_tokens_128.npy'))
        lens = np.load(os.path.join(a.cache, 'imdb_lengths_128.npy'))
        with open(os.path.join(a.cache, 'imdb', 'package', 'reviews.json')) as f:
            reviews = json.load(f)
        picks = list(range(a.count)) + list(range(25000, 25000 + a.count))
        agree = nfkc_changed = 0
        for r in picks:
            text = reviews[r]['t'].replace('<br />', ' ')
            nfkc_changed += unicodedata.normalize('NFKC', text) != text
            agree += tok.encode(text, 128) == list(toks[r, :lens[r]])
        if agree == len(picks):
            print('tokenizer check: all %d reviews give identical ids (C++ vs Python); Python NFKC changes the text of %d of them' % (
                agree, nfkc_changed))
        else:
            print('tokenizer check: FAILED, %d of %d reviews give identical ids' % (agree, len(picks)))
        return 0 if agree == len(picks) else 1
    return 2


if __name__ == '__main__':
    sys.exit(main())
