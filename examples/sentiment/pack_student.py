"""Packs a distilled student (examples/distill export: float32 .npy per tensor) compactly for the repo.

  /usr/bin/python3 examples/sentiment/pack_student.py [--cache cache] [--name secformer] [--out examples/sentiment/weights]

Writes <out>/<name>/:
  <path>.q.npy      int8 [rows, cols]   for every weight matrix except the embedding tables:
  <path>.scale.npy  float32 [rows]      student = teacher + q * scale[row], scale = max|delta row| / 127
  <path>.npy        float32             every vector (biases, LayerNorm gamma/beta): the student's values
  classifier.w.npy  float32 [512, 2]    the student's head
The embedding tables (emb.*) are not stored: the distillation froze them, they are the teacher's
(checked here), and the teacher comes from the npm package at set-up (cmake/fetch_data.sh).
The unpacker is unpack_student() in classify.hpp. Also writes <out>/heldout.npy (int32): the
held-out test order of examples/distill/distill.py (RandomState(20261124) permutation of the odd
review indices, its first 5000), so the C++ tools evaluate exactly the reviews the distillation
report used.
"""
import argparse
import os

import numpy as np

SEED = 20261124
N_REVIEWS = 50000
N_TEST = 5000


def heldout():
    rng = np.random.RandomState(SEED)
    rng.permutation(np.arange(0, N_REVIEWS, 2))  # the training order is drawn first (distill.py)
    return rng.permutation(np.arange(1, N_REVIEWS, 2))[:N_TEST].astype(np.int32)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--cache', default=os.path.join(here, '..', '..', 'cache'))
    ap.add_argument('--name', default='secformer')
    ap.add_argument('--out', default=os.path.join(here, 'weights'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, 'heldout.npy'), heldout())
    src = os.path.join(a.cache, 'students', a.name)
    ref = os.path.join(a.cache, 'students', 'teacher')
    dst = os.path.join(a.out, a.name)
    os.makedirs(dst, exist_ok=True)
    total, worst = 0, 0.0
    for f in sorted(os.listdir(src)):
        if not f.endswith('.npy'):
            continue
        path = f[:-4]
        s = np.load(os.path.join(src, f)).astype(np.float64)
        if path.startswith('emb.'):
            t = np.load(os.path.join(ref, f)).astype(np.float64)
            if not np.array_equal(s, t):
                raise SystemExit(f'{path}: the student changed the embedding (expected frozen)')
            continue
        if path == 'classifier.w' or s.ndim == 1:
            np.save(os.path.join(dst, f), s.astype(np.float32))
            total += s.size * 4
            continue
        t = np.load(os.path.join(ref, f)).astype(np.float64)
        d = s - t
        scale = np.abs(d).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(d / scale[:, None]), -127, 127).astype(np.int8)
        scale = scale.astype(np.float32)
        err = np.abs(t + q.astype(np.float64) * scale[:, None].astype(np.float64) - s).max()
        worst = max(worst, err / max(np.abs(s).max(), 1e-30))
        np.save(os.path.join(dst, path + '.q.npy'), q)
        np.save(os.path.join(dst, path + '.scale.npy'), scale)
        total += q.size + scale.size * 4
    size = sum(os.path.getsize(os.path.join(dst, f)) for f in os.listdir(dst))
    print(f'packed {a.name}: {len(os.listdir(dst))} files, {size / 1e6:.2f} MB on disk ({total / 1e6:.2f} MB of data); '
          f'worst quantisation error relative to the tensor max {worst:.2e}')


if __name__ == '__main__':
    main()
