#!/usr/bin/python3
"""The teacher's accuracy: a logistic head on the USE embedding (L2-normalised, 512-d) of IMDB
reviews, embedded by the C++ teacher (`use_teacher features`, 128 tokens each).

  train_head.py --train cache/teacher/train --test cache/teacher/test_a cache/teacher/test_b [--out cache/teacher/head]

Reads PREFIX.emb.npy (N x 512 float32) and PREFIX.idx.npy (review indices); labels from
cache/imdb_labels.npy (written by use_tokenize). Trains logistic regression with an L2 penalty by
Newton's method (IRLS, exact on 512 features), the penalty chosen by 5-fold cross-validation on the
training set only; reports held-out accuracy. Writes OUT.w.npy (512, float64) and OUT.b.npy (1,).
Also reports the bias-free head (decision sign(w.z) does not need the L2 normalisation).
"""
import argparse
import os

import numpy as np


def load(prefixes, labels):
    x = np.concatenate([np.load(p + '.emb.npy').astype(np.float64) for p in prefixes])
    idx = np.concatenate([np.load(p + '.idx.npy') for p in prefixes])
    return x, labels[idx].astype(np.float64), idx


def fit(x, y, lam, bias=True):
    a = np.hstack([x, np.ones((len(x), 1))]) if bias else x
    w = np.zeros(a.shape[1])
    reg = lam * np.eye(a.shape[1])
    if bias:
        reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a @ w)))
        g = a.T @ (p - y) + reg @ w
        h = (a * (p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return (w[:-1], w[-1]) if bias else (w, 0.0)


def accuracy(x, y, w, b):
    return float(np.mean(((x @ w + b) > 0) == (y > 0.5)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default='cache')
    ap.add_argument('--train', nargs='+', required=True)
    ap.add_argument('--test', nargs='+', required=True)
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    labels = np.load(os.path.join(a.cache, 'imdb_labels.npy'))
    xtr, ytr, itr = load(a.train, labels)
    xte, yte, ite = load(a.test, labels)
    assert not set(itr) & set(ite), 'train and test overlap'
    assert np.all(itr % 2 == 0) and np.all(ite % 2 == 1), 'split: even indices train, odd test'
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(len(xtr)), 5)
    best = None
    for lam in [0.01, 0.1, 1.0, 3.0, 10.0, 30.0]:
        accs = []
        for k in range(5):
            te = folds[k]
            tr = np.concatenate([folds[j] for j in range(5) if j != k])
            w, b = fit(xtr[tr], ytr[tr], lam)
            accs.append(accuracy(xtr[te], ytr[te], w, b))
        cv = float(np.mean(accs))
        print('  L2 penalty %-5g: 5-fold CV accuracy %.4f' % (lam, cv))
        if best is None or cv > best[1]:
            best = (lam, cv)
    lam = best[0]
    w, b = fit(xtr, ytr, lam)
    w0, _ = fit(xtr, ytr, lam, bias=False)
    print('train: %d reviews (%d positive), test: %d held-out reviews (%d positive), 128 tokens each' % (
        len(xtr), int(ytr.sum()), len(xte), int(yte.sum())))
    print('teacher + logistic head (penalty %g): train accuracy %.4f, held-out accuracy %.4f' % (
        lam, accuracy(xtr, ytr, w, b), accuracy(xte, yte, w, b)))
    print('bias-free head: held-out accuracy %.4f' % accuracy(xte, yte, w0, 0.0))
    if a.out:
        np.save(a.out + '.w.npy', w)
        np.save(a.out + '.b.npy', np.array([b]))


if __name__ == '__main__':
    main()
