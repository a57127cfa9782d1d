"""PyTorch reference for `npm run bench:throughput`: the same TFN and LMF models, one thread.

    /usr/bin/python3 bench/torch_reference.py [--seconds S] [--batch N]

Models (the configuration of the LMF paper's CMU-MOSI code, as in bench/throughput.ts):
audio [5] and video [20] through SubNet = BatchNorm -> Dropout(0.2) -> (Linear 32 -> ReLU) x3;
text [20, 300] through an LSTM of 64 (last hidden state) -> Dropout(0.2) -> Linear 64.
TFN: flatten([1; audio] x [1; text] x [1; video]) -> 64 ReLU -> 64 ReLU -> 1.
LMF: rank 4, output 64 (h = sum_r w_r prod_m ([1; z_m] W_m^(r)) + b), then Linear 1.
Batch 32, Adam (lr 1e-3), L1 loss, random inputs. Prints one JSON line:
{"torch": version, "threads": 1, "models": {"tfn": {"trainSamplesPerSec": ..,
"inferSamplesPerSec": ..}, "lmf": {...}}}
"""
import argparse
import json
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.set_flush_denormal(True)  # the Adam moments of the 4.5M-weight TFN layer go denormal; flushing keeps PyTorch at full speed
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

AUDIO, VIDEO, STEPS, TEXT = 5, 20, 20, 300
HIDDEN, TEXT_HIDDEN, TEXT_OUT, POST, RANK, LMF_OUT = 32, 64, 64, 64, 4, 64


class VectorEncoder(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.bn = nn.BatchNorm1d(width)
        self.drop = nn.Dropout(0.2)
        self.layers = nn.Sequential(
            nn.Linear(width, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU())

    def forward(self, x):
        return self.layers(self.drop(self.bn(x)))


class SequenceEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(TEXT, TEXT_HIDDEN, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(TEXT_HIDDEN, TEXT_OUT)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.out(self.drop(h[-1]))


def with_one(h):
    return torch.cat([h.new_ones(h.shape[0], 1), h], dim=1)


class Encoders(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio = VectorEncoder(AUDIO)
        self.text = SequenceEncoder()
        self.video = VectorEncoder(VIDEO)

    def forward(self, a, t, v):
        return self.audio(a), self.text(t), self.video(v)


class TensorFusionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoders()
        width = (HIDDEN + 1) * (TEXT_OUT + 1) * (HIDDEN + 1)
        self.post = nn.Sequential(nn.Linear(width, POST), nn.ReLU(), nn.Linear(POST, POST), nn.ReLU(), nn.Linear(POST, 1))

    def forward(self, a, t, v):
        za, zt, zv = (with_one(h) for h in self.enc(a, t, v))
        n = za.shape[0]
        z = (za[:, :, None] * zt[:, None, :]).reshape(n, -1)
        z = (z[:, :, None] * zv[:, None, :]).reshape(n, -1)
        return self.post(z)


class LowRankModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoders()
        self.factors = nn.ParameterList(
            [nn.Parameter(torch.empty(RANK, d + 1, LMF_OUT)) for d in (HIDDEN, TEXT_OUT, HIDDEN)])
        self.rank_weight = nn.Parameter(torch.empty(1, RANK))
        self.bias = nn.Parameter(torch.zeros(1, LMF_OUT))
        for f in self.factors:
            nn.init.xavier_normal_(f)
        nn.init.xavier_normal_(self.rank_weight)
        self.out = nn.Linear(LMF_OUT, 1)

    def forward(self, a, t, v):
        prod = None
        for h, f in zip(self.enc(a, t, v), self.factors):
            p = torch.matmul(with_one(h), f)  # [rank, batch, out]
            prod = p if prod is None else prod * p
        fused = torch.matmul(self.rank_weight, prod.permute(1, 0, 2)).squeeze(1) + self.bias
        return self.out(fused)


def rate(step, seconds, warmup=3):
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds or n < 3:
        step(n)
        n += 1
    return n / (time.perf_counter() - t0)


def measure(model, batch, seconds):
    g = torch.Generator().manual_seed(7)
    batches = [(torch.randn(batch, AUDIO, generator=g), torch.randn(batch, STEPS, TEXT, generator=g),
                torch.randn(batch, VIDEO, generator=g), torch.randn(batch, 1, generator=g)) for _ in range(8)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.L1Loss()

    def train_step(i):
        a, t, v, y = batches[i % len(batches)]
        opt.zero_grad()
        loss = loss_fn(model(a, t, v), y)
        loss.backward()
        opt.step()
        loss.item()

    def infer_step(i):
        a, t, v, _ = batches[i % len(batches)]
        with torch.no_grad():
            model(a, t, v).sum().item()

    model.train()
    train = rate(train_step, seconds) * batch
    model.eval()
    infer = rate(infer_step, seconds) * batch
    return {"trainSamplesPerSec": train, "inferSamplesPerSec": infer}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    torch.manual_seed(1)
    models = {"tfn": TensorFusionModel(), "lmf": LowRankModel()}
    out = {name: measure(m, args.batch, args.seconds) for name, m in models.items()}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "models": out}))


if __name__ == "__main__":
    main()
