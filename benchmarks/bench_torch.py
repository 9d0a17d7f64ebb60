"""optarena.torch.Adam against torch.optim.Adam (default foreach, and fused=True) on CPU float32:

(a) one training epoch of an MLP (64-128-10, batch 32) on a digits-sized data set (1797 x 64,
    10 classes): sklearn's digits if sklearn is installed, else a seeded synthetic stand-in of the
    same shape (said in the output); forward, backward and step all timed. The model's 9,610
    parameters are below FUSED_MIN_SIZE, so optarena's default steps them with the readable
    NumPy rule; a fourth row forces the kernel (fused=True, compiled in the warm-up epoch);
(b) ``opt.step()`` alone on a model of about ``--size`` parameters (four square Linear layers,
    10M by default), gradients filled with random values once, the caches evicted by a torch op
    before each timed step (as backward would).

    python benchmarks/bench_torch.py [--size 10000000] [--rounds 15] [--epochs 7] [--threads N] [--evict-mb 1024]

Prints medians of interleaved rounds and "ours / it" (below 1.0: optarena is faster).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from typing import Callable

import numba
import numpy as np
import torch
import torch.nn.functional as F

import optarena.torch as ot

IMPLS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "optarena.torch.Adam": lambda ps: ot.Adam(ps, learning_rate=1e-3),
    "torch Adam (foreach)": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "torch Adam fused=True": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
}
# small models: the kernel, which the default only takes for groups of >= FUSED_MIN_SIZE elements
EPOCH_IMPLS = {**IMPLS, "optarena.torch.Adam fused=True": lambda ps: ot.Adam(ps, learning_rate=1e-3, fused=True)}


def rotated(names: list[str], r: int) -> list[str]:
    """Round r's order. Interleaved, so drifts in machine speed hit every implementation alike;
    rotated, so each follows each equally often (one's thread pool may still be spinning when
    the next starts: numba's and torch's OpenMP pools compete for the same cores)."""
    k = r % len(names)
    return names[k:] + names[:k]


def digits(samples: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x, y, source = x[:samples] / 16.0, y[:samples], "sklearn digits"
    except ImportError:
        rng = np.random.default_rng(0)
        centres = rng.uniform(0, 1, size=(10, 64))
        y = rng.integers(0, 10, size=samples)
        x = np.clip(centres[y] + 0.3 * rng.normal(size=(samples, 64)), 0, 1)
        source = f"synthetic digits-sized data ({samples} x 64, 10 classes; sklearn is not installed)"
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y), source


def table(title: str, times: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ours = med["optarena.torch.Adam"]
    print(f"\n{title}\n\n| implementation | median (ms) | best (ms) | ours / it (medians) |\n|---|---:|---:|---:|")
    for k, m in med.items():
        print(f"| {k} | {m:.3f} | {min(times[k]) * 1e3:.3f} | {ours / m:.2f} |")


def bench_epoch(samples: int, epochs: int) -> None:
    x, y, source = digits(samples)
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    runs = {}
    for name, make in EPOCH_IMPLS.items():
        model = copy.deepcopy(base)  # the same initial weights for every implementation
        runs[name] = (model, make(model.parameters()))
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]

    def epoch(model: torch.nn.Module, opt: torch.optim.Optimizer) -> float:
        t0 = time.perf_counter()
        for xb, yb in batches:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        return time.perf_counter() - t0

    for model, opt in runs.values():
        epoch(model, opt)  # warm-up: state created, kernels compiled (~2 s for fused=True: numba)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(epochs):
        for name in rotated(list(runs), r):
            times[name].append(epoch(*runs[name]))
    table(f"(a) one epoch, MLP 64-128-10, batch 32, {len(batches)} steps, on {source}", times)


def bench_step(size: int, rounds: int, evict_mb: int) -> None:
    width = max(1, int(math.sqrt(size / 4)))
    n = 4 * (width * width + width)
    runs = {}
    for name, make in IMPLS.items():
        layers = [torch.nn.Linear(width, width) for _ in range(4)]
        gen = torch.Generator().manual_seed(0)
        for p in (p for layer in layers for p in layer.parameters()):
            p.grad = torch.randn(p.shape, generator=gen)
        runs[name] = make([p for layer in layers for p in layer.parameters()])
    for opt in runs.values():
        opt.step()  # warm-up
    # Before each timed step a torch op streams over a buffer larger than the last-level cache, as
    # backward does before a real step: every implementation then starts from DRAM with torch's
    # threads just used. Without it, whichever ran last leaves part of its 160 MB in a large L3
    # (480 MB on the machine the README was measured on) and the order decides the ratios.
    junk = torch.ones(evict_mb << 18) if evict_mb > 0 else None
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(rounds):
        for name in rotated(list(runs), r):
            if junk is not None:
                junk.add_(1.0)
            opt = runs[name]
            t0 = time.perf_counter()
            opt.step()
            times[name].append(time.perf_counter() - t0)
    cache = f", caches evicted by a {evict_mb} MB torch op before each step" if junk is not None else ""
    table(f"(b) opt.step() alone, {n:,} float32 parameters (4 x Linear({width}, {width})){cache}", times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000_000, help="parameters for (b)")
    ap.add_argument("--rounds", type=int, default=15, help="timed steps per implementation in (b)")
    ap.add_argument("--epochs", type=int, default=7, help="timed epochs per implementation in (a)")
    ap.add_argument("--samples", type=int, default=1797, help="data set size for (a)")
    ap.add_argument("--threads", type=int, default=0, help="torch and numba threads (0: their defaults)")
    ap.add_argument("--evict-mb", type=int, default=1024, help="cache-evicting buffer before each step in (b) (0: none)")
    args = ap.parse_args()
    # Start torch's thread pool before numba's, as a training script does (torch runs forward and
    # backward before the first step launches numba's pool): started the other way round, on 2
    # cores, the kernel runs about 5% slower next to torch's pool (the README says so).
    torch.set_num_threads(args.threads or torch.get_num_threads())
    torch.ones(1 << 20).sum()
    if args.threads > 0:
        numba.set_num_threads(args.threads)  # launches numba's pool
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numba {numba.__version__} "
          f"({args.threads or numba.config.NUMBA_NUM_THREADS} threads)")
    bench_epoch(args.samples, args.epochs)
    bench_step(args.size, args.rounds, args.evict_mb)


if __name__ == "__main__":
    main()
