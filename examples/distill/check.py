"""Checks of the distillation tooling (cheap; no training):

  /usr/bin/python3 examples/distill/check.py [--cache cache] [--tokens 1000]

  1. teacher sanity: cosine of USE-lite embeddings of the environment.md sentences;
  2. padding invariance: a sentence alone vs padded to 128 in a batch (max |difference|);
  3. export round trip: every exported folder under <cache>/students is read back into a float64
     Encoder and its embedding/logits compared with the exporting run's (teacher: with load_teacher);
  4. tokenizer agreement: if <cache>/imdb_tokens_128.npy (the C++ tokenizer's ids) exists, the Python
     tokenizer's first 128 ids of N reviews spread over the file (every 50,000/N-th) are compared with it (count of identical rows).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import export as X  # noqa: E402
from distill import use_dist, imdb_json  # noqa: E402

SENTENCES = ['I loved this movie', 'What a great film',
             'The central bank raised interest rates by a quarter point.',
             'Stock markets fell sharply after the quarterly earnings report.']


def pad(seqs, L=None):
    L = L or max(map(len, seqs))
    return (torch.tensor([s + [0] * (L - len(s)) for s in seqs]), torch.tensor([len(s) for s in seqs]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'cache'))
    ap.add_argument('--tokens', type=int, default=1000)
    a = ap.parse_args()
    torch.set_num_threads(2)
    cache = os.path.abspath(a.cache)
    dist = use_dist(cache)
    tk = M.Tokenizer(os.path.join(dist, 'vocab.json'))
    teacher = M.load_teacher(dist).double()
    ids = [tk.encode(s) for s in SENTENCES]
    x, l = pad(ids)
    with torch.no_grad():
        e = teacher(x, l)['emb']
        cos = (e @ e.T).numpy()
        print('1. tokens:', ids)
        print(f'   cosine("{SENTENCES[0]}", "{SENTENCES[1]}") = {cos[0, 1]:.4f}   (environment.md: 0.80)')
        for j in (2, 3):
            print(f'   cosine("{SENTENCES[0]}", "{SENTENCES[j]}") = {cos[0, j]:.4f}   (environment.md: 0.11 for "an unrelated finance sentence")')
        x128, l128 = pad(ids, 128)
        d = (teacher(x128, l128)['emb'] - e).abs().max().item()
        d1 = (teacher(x[:1, :l[0]], l[:1])['emb'] - e[:1]).abs().max().item()
        print(f'2. padding invariance: batch padded to 128 vs batch {d:.2e}, alone vs batch {d1:.2e}')

    # 2b. against the independent numpy interpreter of the TF.js graph (examples/sentiment/tfjs_reference.py)
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'sentiment')
    if os.path.exists(os.path.join(ref, 'tfjs_reference.py')):
        sys.path.insert(0, ref)
        import tfjs_reference as R
        nodes, consts = R.load_graph(dist)
        reviews = json.load(open(imdb_json(cache)))
        texts = SENTENCES + [reviews[i]['t'] for i in (1, 2, 25001, 25002)]
        tids = [tk.encode(t, 128) for t in texts]
        g = R.graph_embedding(nodes, consts, tids).astype(np.float64)
        with torch.no_grad():
            xt, lt = pad(tids)
            mine = teacher(xt, lt)['emb'].numpy()
        cs = (g * mine).sum(1) / np.linalg.norm(g, axis=1) / np.linalg.norm(mine, axis=1)
        print(f'2b. torch teacher (float64) vs the numpy graph interpreter (float32) on {len(texts)} texts '
              f'(lengths {[len(t) for t in tids]}): max |d| {np.abs(g - mine).max():.2e}, min cosine {cs.min():.7f}; cosines {cs.round(5).tolist()}')
    else:
        print('2b. examples/sentiment/tfjs_reference.py not present: no graph comparison')

    root = os.path.join(cache, 'students')
    res = json.load(open(os.path.join(root, 'results.json'))) if os.path.exists(os.path.join(root, 'results.json')) else {}
    for name in ('teacher', 'secformer', 'mpcformer'):
        folder = os.path.join(root, name)
        if not os.path.exists(os.path.join(folder, 'config.json')):
            print(f'3. {name}: not exported yet')
            continue
        cfg = json.load(open(os.path.join(folder, 'config.json')))
        net = X.load_into(M.Encoder(cfg['attention'], cfg['activation']).double(), folder)
        net.inv_timescale.copy_(teacher.inv_timescale)
        with torch.no_grad():
            o = net(x, l)
            pos = np.load(os.path.join(folder, 'emb.position.npy'))
            dpos = np.abs(pos - net.position(128, torch.float64).numpy()).max()
            if name == 'teacher':
                de = (o['emb'] - e).abs().max().item()
                print(f'3. teacher export: {cfg["parameters"]} parameters, embedding vs load_teacher max |d| = {de:.2e} '
                      f'(float32 storage), position table |d| = {dpos:.1e}')
            else:
                print(f'3. {name} export: {cfg["parameters"]} parameters, {cfg["attention"]} + {cfg["activation"]}, '
                      f'logits of the 4 sentences {o["logits"].numpy().round(3).tolist()}')

    tok_file = os.path.join(cache, 'imdb_tokens_128.npy')
    len_file = os.path.join(cache, 'imdb_lengths_128.npy')
    if os.path.exists(tok_file) and os.path.exists(len_file):
        cids, clen = np.load(tok_file), np.load(len_file)
        reviews = json.load(open(imdb_json(cache)))
        same, first_bad = 0, []
        step = max(1, len(reviews) // a.tokens)
        for i in range(0, step * a.tokens, step):
            p = tk.encode_review(reviews[i]['t'])
            c = [int(t) for t in cids[i, :clen[i]]]
            if p == c:
                same += 1
            elif len(first_bad) < 3:
                k = next((j for j in range(min(len(p), len(c))) if p[j] != c[j]), min(len(p), len(c)))
                first_bad.append((i, k, p[k:k + 5], c[k:k + 5]))
        print(f'4. tokenizer: Python == C++ on {same} of {a.tokens} reviews (every {step}th) (first 128 ids); first differences '
              f'(review, position, python ids, C++ ids): {first_bad}')
    else:
        print(f'4. tokenizer: {tok_file} not present, agreement not checked')


if __name__ == '__main__':
    main()
