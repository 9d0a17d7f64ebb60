"""One optimizer step on N float32 parameters: optarena vs torch.optim vs the article's loop,
against a same-shape memory stream measured in the same run.

    python benchmarks/bench_optim.py [--size 16777216] [--rounds 7] [--catalogue] [--only lamb,lars,mars,adafactor,prodigy]

Prints medians of interleaved rounds and ratios (ours / other: below 1.0 means we are faster;
"of stream" is the stream loop's time / ours: the fraction of the memory-bandwidth limit we reach).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from numba import prange

import optarena as oa

# Bytes per element moved by each rule (read + write), used for GB/s.
BYTES = {"sgd": 12, "momentum": 20, "adam": 28}


@numba.njit(parallel=True, cache=True)
def _stream_sgd(p, g):  # read p, g; write p
    for i in prange(p.size):
        p[i] = p[i] + g[i]


@numba.njit(parallel=True, cache=True)
def _stream_momentum(p, g, b):  # read p, g, b; write p, b
    for i in prange(p.size):
        bi = b[i] + g[i]
        b[i] = bi
        p[i] = p[i] + bi


@numba.njit(parallel=True, cache=True)
def _stream_adam(p, g, m, v):  # read p, g, m, v; write p, m, v
    for i in prange(p.size):
        gi = g[i]
        mi = m[i] + gi
        vi = v[i] + gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] + mi + vi


class ArticleAdam:  # the article's pure-Python Adam, over a list
    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.m, self.v, self.t = learning_rate, beta1, beta2, epsilon, None, None, 0

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = [0.0] * len(params), [0.0] * len(params)
        self.t += 1
        self.m = [self.b1 * m + (1 - self.b1) * g for m, g in zip(self.m, grads)]
        self.v = [self.b2 * v + (1 - self.b2) * g * g for v, g in zip(self.v, grads)]
        mh = [m / (1 - self.b1**self.t) for m in self.m]
        vh = [v / (1 - self.b2**self.t) for v in self.v]
        return [p - self.lr * m / (v**0.5 + self.eps) for p, m, v in zip(params, mh, vh)]


class ArticleSGD:
    def __init__(self, learning_rate=0.01):
        self.lr = learning_rate

    def update(self, params, grads):
        return [p - self.lr * g for p, g in zip(params, grads)]


class ArticleMomentum:
    def __init__(self, learning_rate=0.01, momentum=0.9):
        self.lr, self.mu, self.v = learning_rate, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = [0.0] * len(params)
        self.v = [self.mu * v + g for v, g in zip(self.v, grads)]
        return [p - self.lr * v for p, v in zip(params, self.v)]


ARTICLE = {"sgd": ArticleSGD, "momentum": ArticleMomentum, "adam": ArticleAdam}
TORCH_KW = {"sgd": {"lr": 0.01}, "momentum": {"lr": 0.01, "momentum": 0.9}, "adam": {"lr": 0.001}}


def _timer(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(name: str, n: int, rounds: int, slice_n: int) -> dict[str, float]:
    import torch

    rng = np.random.default_rng(0)
    g = rng.standard_normal(n, dtype=np.float32)
    contenders = {}

    p_ours = np.zeros(n, np.float32)
    ours = oa.optimizer_class(name)()
    contenders["optarena"] = lambda: ours.update(p_ours, g)

    tg = torch.from_numpy(g)
    for label, kw in [("torch foreach=False", {"foreach": False}), ("torch foreach=True", {"foreach": True}),
                      ("torch fused=True", {"fused": True})]:
        tp = torch.zeros(n, dtype=torch.float32, requires_grad=True)
        tp.grad = tg.clone()
        topt = getattr(torch.optim, "Adam" if name == "adam" else "SGD")([tp], **TORCH_KW[name], **kw)
        contenders[label] = topt.step

    sp = np.zeros(n, np.float32)
    bufs = [np.zeros(n, np.float32) for _ in range(2)]
    stream = {
        "sgd": lambda: _stream_sgd(sp, g),
        "momentum": lambda: _stream_momentum(sp, g, bufs[0]),
        "adam": lambda: _stream_adam(sp, g, bufs[0], bufs[1]),
    }[name]
    contenders["memory stream"] = stream

    for fn in contenders.values():  # warm up: compile, allocate state, fault pages in
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):  # interleaved, so drift hits every contender alike
        for k, fn in contenders.items():
            times[k].append(_timer(fn))
    med = {k: statistics.median(v) for k, v in times.items()}

    art = ARTICLE[name]()
    pl, gl = [0.0] * slice_n, g[:slice_n].tolist()
    art.update(pl, gl)
    t = statistics.median(_timer(lambda: art.update(pl, gl)) for _ in range(3))
    med["article loop (extrapolated)"] = t * n / slice_n
    return med


_STREAMS: dict[int, object] = {}


def stream_kernel(slots: int):
    """A trivial fused pass over p, g and ``slots`` state arrays (read all, write p and the
    state): the memory-bandwidth limit of a per-element rule with that many state arrays."""
    if slots not in _STREAMS:
        names = [f"s{k}" for k in range(slots)]
        body = "".join(f"        {s}[i] = {s}[i] + gi\n" for s in names)
        total = " + ".join(["p[i]", "gi", *(f"{s}[i]" for s in names)])
        src = (f"def stream(p, g{''.join(', ' + s for s in names)}):\n    for i in prange(p.size):\n"
               f"        gi = g[i]\n{body}        p[i] = {total}\n")
        scope = {"prange": prange}
        exec(compile(src, f"<stream {slots}>", "exec"), scope)  # our own generated code
        _STREAMS[slots] = numba.njit(parallel=True)(scope["stream"])
    return _STREAMS[slots]


def bench_catalogue(n: int, rounds: int, only: tuple[str, ...] = ()) -> list[tuple[str, str, int, dict[str, float]]]:
    """Every registered rule (or those in ``only``) with a torch-style reference that steps a vector
    from its gradient, at both sides' defaults: optarena (auto: the fused kernel at this size, where
    the rule has one: its cell, or its two passes around the sums of a rule with norms over the
    parameter), the reference's step, and the memory stream of its parameter-sized state arrays
    (the bound for a per-element rule; a two-pass rule reads some arrays twice). Rows: (name,
    reference, state arrays, medians)."""
    import importlib

    import torch

    from optarena.errors import OptarenaError
    from optarena.optim import registry

    rng = np.random.default_rng(0)
    g = rng.standard_normal(n, dtype=np.float32)
    tg = torch.from_numpy(g)
    rows = []
    for spec in registry.all_specs():
        ref = spec.reference
        if ref is None or ref.kind != "torch" or spec.name in ARTICLE or spec.needs or spec.min_ndim:
            continue
        if only and spec.name not in only:
            continue
        module, attr = ref.target.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), attr)
        p_ours = np.zeros(n, np.float32)
        ours = oa.optimizer_class(spec.name)()
        tp = torch.zeros(n, dtype=torch.float32, requires_grad=True)
        tp.grad = tg.clone()
        topt = cls([tp], **ref.fixed)
        if callable(getattr(topt, "train", None)):
            topt.train()  # schedulefree's optimizers step only in train mode
        try:
            ours.update(p_ours.copy(), g)  # a rule may refuse this vector (Shampoo: an n x n factor)
        except OptarenaError as exc:
            print(f"({spec.name}: not timed: {exc})")
            continue
        # the state arrays as large as the parameter (Adafactor's depend on its shape: a vector's v)
        slots = sum(isinstance(v, np.ndarray) and v.size == n for v in ours.state[0].values())
        sp, bufs = np.zeros(n, np.float32), [np.zeros(n, np.float32) for _ in range(slots)]
        kernel = stream_kernel(slots)
        path = ("" if spec.cell is not None else
                f" ({spec.scope}, two passes)" if ours._use_fused(p_ours, g, ours.hyperparameters) else f" ({spec.scope}, NumPy)")
        contenders = {"optarena": lambda: ours.update(p_ours, g), "reference": topt.step,
                      "memory stream": lambda: kernel(sp, g, *bufs)}
        for fn in contenders.values():
            fn()
            fn()
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for _ in range(rounds):
            for k, fn in contenders.items():
                times[k].append(_timer(fn))
        rows.append((spec.name + path, ref.target, slots,
                     {k: statistics.median(v) for k, v in times.items()}))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--slice", type=int, default=200_000, help="elements timed for the article's loop")
    ap.add_argument("--catalogue", action="store_true", help="also every rule against its reference")
    ap.add_argument("--only", default="", help="the catalogue's rules to time, comma-separated (lamb,lars,mars,...); "
                    "with it the sgd/momentum/adam table is skipped")
    args = ap.parse_args()
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    import torch

    print(f"{args.size:,} float32 parameters, median of {args.rounds} interleaved rounds; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), numba {numba.__version__} "
          f"({numba.get_num_threads()} threads)\n")
    if not only:
        print("| optimizer | implementation | step (ms) | ours / it | GB/s |")
        print("|---|---|---:|---:|---:|")
    for name in () if only else ("sgd", "momentum", "adam"):
        med = bench(name, args.size, args.rounds, args.slice)
        ours = med["optarena"]
        for k, v in med.items():
            gbs = BYTES[name] * args.size / v / 1e9
            print(f"| {name} | {k} | {v * 1e3:.2f} | {ours / v:.3g} | {gbs:.1f} |")
        print(f"| {name} | **optarena reaches** | | **{med['memory stream'] / ours:.0%} of stream** | |")
    if args.catalogue or only:
        print("\n| optimizer | reference | state arrays | ours (ms) | reference (ms) | ours / reference | stream (ms) "
              "| % of stream |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for name, target, slots, med in bench_catalogue(args.size, args.rounds, only):
            ours = med["optarena"]
            print(f"| {name} | {target} | {slots} | {ours * 1e3:.2f} | {med['reference'] * 1e3:.2f} | "
                  f"{ours / med['reference']:.3g} | {med['memory stream'] * 1e3:.2f} | {med['memory stream'] / ours:.0%} |")


if __name__ == "__main__":
    main()
