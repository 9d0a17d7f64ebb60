"""One Muon step on a float32 matrix: optarena's rule (NumPy, BLAS in float32) vs torch.optim.Muon
(which iterates Newton-Schulz in bfloat16 on the CPU too).

    python benchmarks/bench_muon.py [--size 4096] [--rounds 5] [--warmup 1]

Prints medians of interleaved rounds and the ratio ours / torch (below 1.0: we are faster).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from optarena.optim import registry

from _timing import interleaved_medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096, help="the matrix is size x size")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()

    n = args.size
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(n, n)).astype(np.float32)
    g = rng.normal(size=(n, n)).astype(np.float32)

    spec = registry.get("muon")
    hp = spec.bind({"learning_rate": 0.02}, p0)
    state = spec.init(p0, hp)

    def ours() -> None:
        spec.update(p0, g, state, hp)  # pure: the same step each time

    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    tp.grad = torch.from_numpy(g.copy())
    opt = torch.optim.Muon([tp], lr=0.02)

    def theirs() -> None:
        opt.step()

    t = interleaved_medians({"ours": ours, "torch": theirs}, rounds=args.rounds, warmup=args.warmup)
    print(f"Muon, one step on a {n}x{n} float32 matrix: median of {args.rounds} rounds, "
          f"{torch.get_num_threads()} torch threads\n")
    print("| implementation | seconds | ours / it |")
    print("|---|---|---|")
    print(f"| optarena (NumPy, float32 BLAS) | {t['ours']:.4g} | 1 |")
    print(f"| torch.optim.Muon (bfloat16 NS) | {t['torch']:.4g} | {t['ours'] / t['torch']:.3f} |")


if __name__ == "__main__":
    main()
