"""PyTorch reference for `npm run bench:avmnist-torch` (bench/avmnist_torch.ts): ordinary
PyTorch CNNs trained end to end on an AV-MNIST dataset folder, one thread.

    /usr/bin/python3 bench/avmnist_torch.py --data DIR [--methods image-only,audio-only,lmf]
        [--epochs 3] [--seed 1] [--limit N] [--hidden 64] [--norm scalar|feature]
        [--init default|glorot] [--eps 1e-8]

Data: the folder's `{image,audio}.{train,valid,test}.npy` (float32 [N, H, W, 1]) and
`labels.{split}.npy`. Each modality is normalised by one scalar mean and standard deviation
of its training split (`--norm feature`: per position of the [H, W] grid, for comparison).

Models (nn.Module defaults: Kaiming-uniform weights and uniform biases; `--init glorot`
gives Glorot-uniform weights and zero biases, as TensorFlow.js):
- encoder per modality: conv 16 (3x3, padding 1) -> ReLU -> max-pool 2 -> conv 32 (3x3,
  padding 1) -> ReLU -> max-pool 2 -> flatten -> dense `hidden` -> ReLU;
- head: dense 64 -> ReLU -> dense 10;
- `image-only` / `audio-only`: one encoder, then the head; `lmf`: low-rank fusion (rank 4,
  64 units: h = sum_r w_r prod_m ([h_m; 1] W_m^(r)) + b) of both encoders, then the head.
Adam (lr 1e-3, eps `--eps`), batch 64, cross-entropy, `--epochs` epochs; the weights of the
epoch with the best validation accuracy are evaluated on the test split.

Prints one line per method to stderr and one JSON line on stdout:
{"torch": version, "threads": 1, "epochs": E, "seed": S, "results": {"audio-only":
{"accuracy": .., "bestEpoch": .., "validAccuracy": [..], "seconds": ..}, ...}}
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

MODALITIES = {'image-only': ['image'], 'audio-only': ['audio'], 'lmf': ['audio', 'image']}


def load(folder, limit):
    splits = {}
    for split in ('train', 'valid', 'test'):
        y = np.load(os.path.join(folder, f'labels.{split}.npy')).astype(np.int64)
        xs = {m: np.load(os.path.join(folder, f'{m}.{split}.npy')).astype(np.float32) for m in ('image', 'audio')}
        if limit:
            cap = {'train': limit, 'valid': math.ceil(limit / 10), 'test': math.ceil(limit / 5)}[split]
            y = y[:cap]
            xs = {m: x[:cap] for m, x in xs.items()}
        splits[split] = (xs, y)
    return splits


def normalise(splits, norm):
    out = {s: ({}, y) for s, (_, y) in splits.items()}
    for m in ('image', 'audio'):
        tr = splits['train'][0][m].astype(np.float64)
        if norm == 'scalar':
            mean, std = tr.mean(), tr.std()
        else:
            mean, std = tr.mean(axis=0), tr.std(axis=0)
            std = np.where(std > 1e-6, std, 1.0)
        for s, (xs, _) in splits.items():
            # NHWC -> NCHW
            out[s][0][m] = torch.from_numpy(((xs[m] - mean) / std).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    return {s: (xs, torch.from_numpy(y)) for s, (xs, y) in out.items()}


class Encoder(nn.Module):
    def __init__(self, shape, hidden):
        super().__init__()
        c, h, w = shape
        self.conv1 = nn.Conv2d(c, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dense = nn.Linear(32 * (h // 4) * (w // 4), hidden)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.dense(torch.flatten(x, 1)))


class LowRank(nn.Module):
    def __init__(self, widths, rank=4, units=64):
        super().__init__()
        self.factors = nn.ParameterList([nn.Parameter(torch.empty(rank, d + 1, units)) for d in widths])
        self.rank_weight = nn.Parameter(torch.empty(1, rank))
        self.bias = nn.Parameter(torch.zeros(units))
        for f in self.factors:
            nn.init.xavier_uniform_(f)
        nn.init.xavier_uniform_(self.rank_weight)

    def forward(self, hs):
        prod = None
        for h, f in zip(hs, self.factors):
            h1 = torch.cat([h, h.new_ones(h.shape[0], 1)], dim=1)
            p = torch.matmul(h1, f)  # [rank, B, units]
            prod = p if prod is None else prod * p
        return torch.matmul(self.rank_weight, prod.permute(1, 0, 2)).squeeze(1) + self.bias


class Net(nn.Module):
    def __init__(self, method, shapes, hidden, classes):
        super().__init__()
        self.mods = MODALITIES[method]
        self.encoders = nn.ModuleDict({m: Encoder(shapes[m], hidden) for m in self.mods})
        self.fusion = LowRank([hidden] * len(self.mods)) if method == 'lmf' else None
        width = 64 if self.fusion is not None else hidden
        self.head = nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, xs):
        hs = [self.encoders[m](xs[m]) for m in self.mods]
        z = self.fusion(hs) if self.fusion is not None else hs[0]
        return self.head(z)


def glorot_init(net):
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(mod.weight)
            nn.init.zeros_(mod.bias)


def accuracy(net, xs, y, mods, batch=512):
    net.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(y), batch):
            out = net({m: xs[m][s:s + batch] for m in mods})
            correct += (out.argmax(1) == y[s:s + batch]).sum().item()
    net.train()
    return correct / max(1, len(y))


def run(method, data, args):
    torch.manual_seed(args.seed)
    (xtr, ytr), (xva, yva), (xte, yte) = data['train'], data['valid'], data['test']
    shapes = {m: tuple(xtr[m].shape[1:]) for m in xtr}
    classes = int(max(ytr.max(), yva.max(), yte.max()).item()) + 1
    net = Net(method, shapes, args.hidden, classes)
    if args.init == 'glorot':
        glorot_init(net)
    mods = net.mods
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=args.eps)
    g = torch.Generator().manual_seed(args.seed)
    n = len(ytr)
    best, best_state, best_epoch, valid = -1.0, None, 0, []
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(n, generator=g)
        loss_sum, batches = 0.0, 0
        for s in range(0, n, 64):
            idx = perm[s:s + 64]
            loss = F.cross_entropy(net({m: xtr[m][idx] for m in mods}), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            batches += 1
        va = accuracy(net, xva, yva, mods)
        valid.append(va)
        print(f'  torch {method}: epoch {epoch}/{args.epochs} loss {loss_sum / batches:.4f} valid accuracy {va:.4f}', file=sys.stderr, flush=True)
        if va > best:
            best, best_epoch, best_state = va, epoch, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    acc = accuracy(net, xte, yte, mods)
    secs = time.perf_counter() - t0
    print(f'torch {method}: test accuracy {acc:.4f} (best epoch {best_epoch}, {secs:.0f} s)', file=sys.stderr, flush=True)
    return {'accuracy': acc, 'bestEpoch': best_epoch, 'validAccuracy': valid, 'seconds': secs}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True)
    p.add_argument('--methods', default='image-only,audio-only,lmf')
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--norm', choices=['scalar', 'feature'], default='scalar')
    p.add_argument('--init', choices=['default', 'glorot'], default='default')
    p.add_argument('--eps', type=float, default=1e-8)
    args = p.parse_args()
    data = normalise(load(args.data, args.limit), args.norm)
    results = {}
    for method in [m for m in args.methods.split(',') if m]:
        if method not in MODALITIES:
            raise SystemExit(f'unknown method {method}; one of {", ".join(MODALITIES)}')
        results[method] = run(method, data, args)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'epochs': args.epochs, 'seed': args.seed,
                      'limit': args.limit, 'hidden': args.hidden, 'norm': args.norm, 'init': args.init, 'eps': args.eps, 'results': results}))


if __name__ == '__main__':
    main()
