"""Sweep throughput: a stability map and a basin map, here and on a local Dask cluster, against
the loop a user would write without optarena.measure (one race() per setting), one run.

    python benchmarks/bench_sweep.py [--grid 100] [--basins 200] [--steps 500] [--rounds 3] [--workers 2]

1. Stability map: momentum on Rosenbrock, learning_rate (log) x momentum on a GRID x GRID grid,
   one start, STEPS steps; run-steps per second of ``sweep`` here (kernels warm), of the same
   sweep on ``local:WORKERS`` (a LocalCluster started for it: its start-up and the workers'
   kernel compiles included, as a user pays them), and of one ``race()`` per setting (measured
   on a slice of the settings, rate per run-step).
   The same map for Adam, learning_rate (log) x beta1: a rule whose coefficients change with
   the step (lr / (1 - beta1^t) differs for every step and setting), here only.
2. Basin map: Adam on Himmelblau from a BASINS x BASINS grid of starts.

On a machine with few cores a local cluster cannot beat a sweep here (the compiled race loop
already uses every core); Dask is for more cores than one machine has.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optarena.arena import Racer, race
from optarena.measure import Axis, sweep

from _timing import median_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=100)
    ap.add_argument("--basins", type=int, default=200)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--loop-settings", type=int, default=200, help="settings the race()-per-setting loop is timed on")
    args = ap.parse_args()

    axes = [Axis.range("learning_rate", 1e-5, 1e-2, args.grid, log=True), Axis.range("momentum", 0.0, 0.99, args.grid)]
    runs = args.grid * args.grid
    stab = lambda **kw: sweep("rosenbrock", ["momentum"], axes, steps=args.steps, **kw)  # noqa: E731
    stab()  # warm: kernels compiled
    here = median_seconds(stab, args.rounds)
    t0 = time.perf_counter()
    stab(scheduler=f"local:{args.workers}")
    dask_s = time.perf_counter() - t0
    settings = [{"learning_rate": lr, "momentum": m} for lr in axes[0].values for m in axes[1].values][:args.loop_settings]
    loop = median_seconds(lambda: [race("rosenbrock", [Racer("momentum", hp)], steps=args.steps, record=False) for hp in settings],
                 1)
    loop_rate = len(settings) * args.steps / loop
    rate = runs * args.steps / here
    print(f"\n1. stability map, momentum on Rosenbrock, {args.grid} x {args.grid} settings, {args.steps} steps\n")
    print("| how | seconds | run-steps per second | sweep here / it |\n|---|---:|---:|---:|")
    print(f"| sweep() here (median of {args.rounds}) | {here:.3f} | {rate:.3g} | 1.00 |")
    print(f"| sweep(scheduler='local:{args.workers}'), start-up included | {dask_s:.3f} | {runs * args.steps / dask_s:.3g} | "
          f"{here / dask_s:.2f} |")
    print(f"| one race() per setting (timed on {len(settings)}) | {loop * runs / len(settings):.3f} (extrapolated) | "
          f"{loop_rate:.3g} | {rate / loop_rate:.1f}x faster |")

    adam_axes = [Axis.range("learning_rate", 1e-4, 1e-1, args.grid, log=True), Axis.range("beta1", 0.0, 0.99, args.grid)]
    adam_map = lambda: sweep("rosenbrock", ["adam"], adam_axes, steps=args.steps)  # noqa: E731
    adam_map()
    adam_s = median_seconds(adam_map, args.rounds)
    print(f"\n   Adam on Rosenbrock, learning_rate x beta1, {args.grid} x {args.grid} settings, {args.steps} steps, "
          f"sweep() here (median of {args.rounds}): {adam_s:.3f} s ({runs * args.steps / adam_s:.3g} run-steps per second)")

    n = args.basins
    basin = lambda: sweep("himmelblau", ["adam(learning_rate=0.05)"], [Axis.range("x", -5, 5, n), Axis.range("y", -5, 5, n)],  # noqa: E731
                          steps=args.steps)
    res = basin()
    b = median_seconds(basin, args.rounds)
    share = np.bincount(res.basin.ravel() + 2, minlength=6) / res.basin.size
    print(f"\n2. basin map, Adam on Himmelblau, {n} x {n} starts, {args.steps} steps: {b:.3f} s "
          f"({n * n * args.steps / b:.3g} run-steps per second); diverged {share[0]:.0%}, elsewhere {share[1]:.0%}, "
          + ", ".join(f"minimum {m + 1} {s:.0%}" for m, s in enumerate(share[2:])))


if __name__ == "__main__":
    main()
