"""Race throughput and latency: optarena's engines against NumPy and torch baselines, one run.

    python benchmarks/bench_race.py [--runs 100000] [--steps 1000] [--rounds 3]

1. Throughput: RUNS independent Adam runs (lr 1e-3) x STEPS steps on Rosenbrock, summaries only,
   in run-steps per second: optarena fused, optarena NumPy engine, a NumPy vectorised in-place
   Adam and a torch batched in-place Adam (both written here as baselines; the baselines run
   fewer steps, and rates are per run-step).
2. Latency: 5 optimizers x 1,000 steps with full trajectories (the web arena's request), median
   and p95 of repeated calls, against torch.optim stepping the five 2-D runs.
3. Per evaluation: Newton and L-BFGS against Adam on the NumPy engine, and both in their compiled
   loops (time per function-and-gradient evaluation; the target: compiled L-BFGS and Newton no
   slower than the first-order rules' NumPy engine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from optarena import landscapes
from optarena.arena import race

from _timing import median_seconds

RACERS = ["sgd(learning_rate=0.001)", "momentum(learning_rate=0.001)", "adam(learning_rate=0.01)",
          "rmsprop(learning_rate=0.01)", "adagrad(learning_rate=0.1)"]


def numpy_adam(starts: np.ndarray, steps: int, lr: float = 1e-3) -> np.ndarray:
    """The baseline: Adam on Rosenbrock for every run at once, in place, preallocated."""
    p = starts.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    g = np.empty_like(p)
    tmp = np.empty_like(p)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        x, y = p[:, 0], p[:, 1]
        np.subtract(y, x * x, out=tmp[:, 0])
        np.multiply(tmp[:, 0], 200.0, out=g[:, 1])
        np.multiply(x, tmp[:, 0], out=g[:, 0])
        g[:, 0] *= -400.0
        g[:, 0] -= 2.0 * (1.0 - x)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= np.sqrt(1 - b2**t)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - b1**t)
        p -= tmp
    return p


def torch_adam(starts: np.ndarray, steps: int, lr: float = 1e-3) -> np.ndarray:
    """The baseline: torch tensors, batched over runs, in place, no autograd."""
    import torch

    p = torch.tensor(starts)
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    g = torch.empty_like(p)
    b1, b2, eps = 0.9, 0.999, 1e-8
    with torch.no_grad():
        for t in range(1, steps + 1):
            x, y = p[:, 0], p[:, 1]
            d = y - x * x
            torch.mul(d, 200.0, out=g[:, 1])
            torch.mul(x * d, -400.0, out=g[:, 0])
            g[:, 0].sub_(2.0 * (1.0 - x))
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / (1 - b2**t) ** 0.5).add_(eps)
            p.addcdiv_(m, denom, value=-lr / (1 - b1**t))
    return p.numpy()



def throughput(runs: int, steps: int, rounds: int) -> None:
    starts = np.random.default_rng(0).uniform(-2, 2, size=(runs, 2))
    base_steps = max(10, steps // 10)
    race("rosenbrock", ["adam(learning_rate=0.001)"], starts=starts[:64], steps=5, record=False, engine="fused")  # compile
    rows = {
        "optarena fused": (lambda: race("rosenbrock", ["adam(learning_rate=0.001)"], starts=starts, steps=steps,
                                        record=False, engine="fused"), runs * steps),
        "optarena NumPy engine": (lambda: race("rosenbrock", ["adam(learning_rate=0.001)"], starts=starts,
                                               steps=base_steps, record=False, engine="numpy"), runs * base_steps),
        "NumPy vectorised in place": (lambda: numpy_adam(starts, base_steps), runs * base_steps),
        "torch batched in place": (lambda: torch_adam(starts, base_steps), runs * base_steps),
    }
    rates = {k: work / median_seconds(fn, rounds) for k, (fn, work) in rows.items()}
    ours = rates["optarena fused"]
    print(f"\n### Throughput: {runs:,} Adam runs x {steps:,} steps on Rosenbrock (baselines: {base_steps} steps)\n")
    print("| implementation | run-steps/s | optarena fused / it |")
    print("|---|---:|---:|")
    for k, r in rates.items():
        print(f"| {k} | {r:.3g} | {ours / r:.2f} |")
    print(f"\ntarget >= 3e8 run-steps/s: {'met' if ours >= 3e8 else 'NOT met'} ({ours:.3g})")


def latency(rounds: int) -> None:
    import torch

    ls = landscapes.get("rosenbrock")
    race(ls, RACERS, steps=1000, engine="fused")  # compile the five kernels once (a warm server)
    ts = []
    for _ in range(max(rounds, 30)):
        t0 = time.perf_counter()
        race(ls, RACERS, steps=1000)
        ts.append(time.perf_counter() - t0)
    ts.sort()
    med, p95 = statistics.median(ts), ts[int(0.95 * (len(ts) - 1))]

    def torch_loop() -> None:
        specs = [(torch.optim.SGD, {"lr": 1e-3}), (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
                 (torch.optim.Adam, {"lr": 1e-2}), (torch.optim.RMSprop, {"lr": 1e-2}), (torch.optim.Adagrad, {"lr": 0.1})]
        for cls, kw in specs:
            p = torch.tensor(ls.default_start, dtype=torch.float64, requires_grad=True)
            opt = cls([p], **kw)
            traj = [p.detach().clone()]
            for _ in range(1000):
                x, y = p.detach().numpy()
                p.grad = torch.tensor(ls.gradient(np.array([x, y])))
                opt.step()
                traj.append(p.detach().clone())

    t_torch = median_seconds(torch_loop, 1)
    print("\n### Latency: 5 optimizers x 1,000 steps on Rosenbrock, with trajectories\n")
    print("| implementation | median (ms) | p95 (ms) | optarena / it |")
    print("|---|---:|---:|---:|")
    print(f"| optarena race (warm) | {med * 1e3:.2f} | {p95 * 1e3:.2f} | 1.00 |")
    print(f"| torch.optim, one step per call | {t_torch * 1e3:.1f} | | {med / t_torch:.4f} |")
    print(f"\ntarget <= 2 ms: {'met' if med <= 2e-3 else 'NOT met'} ({med * 1e3:.2f} ms)")


def per_evaluation(runs: int, steps: int, rounds: int) -> None:
    """3. Second-order racers against the first-order NumPy engine, per function evaluation:
    Newton (one gradient and one exact Hessian a step) and L-BFGS (closure; its evaluations
    counted by the race) on the NumPy engine, in their compiled loops (warm: compiled once first)
    and on "auto", and Adam on the NumPy engine, each RUNS starts x STEPS steps on Rosenbrock."""
    ls = landscapes.get("rosenbrock")
    rng = np.random.default_rng(1)
    starts = rng.uniform([-2.0, -1.0], [2.0, 3.0], size=(runs, 2))
    racers = {"adam": ("adam(learning_rate=0.01)", "numpy"), "newton": ("newton", "numpy"),
              "lbfgs": ("lbfgs", "numpy"), "lbfgs max_iter=1": ("lbfgs(max_iter=1)", "numpy")}
    for label, racer in (("lbfgs", "lbfgs"), ("lbfgs max_iter=1", "lbfgs(max_iter=1)"), ("newton", "newton")):
        race(ls, [racer], starts=starts[:2], steps=2, engine="fused")  # compile (or load) once: a warm process
        racers.update({f"{label} (fused)": (racer, "fused"), f"{label} (auto)": (racer, "auto")})
    rows = {}
    for label, (racer, engine) in racers.items():
        holder: dict[str, object] = {}

        def go(racer: str = racer, engine: str = engine) -> None:
            holder["r"] = race(ls, [racer], starts=starts, steps=steps, record=True, engine=engine)

        sec = median_seconds(go, rounds)
        res = holder["r"]
        evals = runs * steps if res.evaluations is None else float(np.nansum(res.evaluations[0, :, -1]))
        rows[label] = (engine, sec, evals)
    base = rows["adam"][1] / rows["adam"][2]
    print(f"\nPer evaluation, {runs} starts x {steps} steps on Rosenbrock, median of {rounds} (engine in brackets "
          "where not NumPy's):\n")
    print("| racer | seconds | evaluations | us / evaluation | / Adam's |")
    print("|---|---:|---:|---:|---:|")
    for label, (engine, sec, evals) in rows.items():
        each = sec / evals
        print(f"| {label} | {sec:.4f} | {evals:,.0f} | {each * 1e6:.3f} | {each / base:.3g} |")
    worst = max(sec / evals for engine, sec, evals in rows.values() if engine == "fused")
    print(f"\ntarget: compiled L-BFGS and Newton per evaluation <= Adam's NumPy engine: {'met' if worst <= base else 'NOT met'} "
          f"({worst * 1e6:.3f} us vs {base * 1e6:.3f} us)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--second-order-runs", type=int, default=200, help="starts for the per-evaluation table")
    args = ap.parse_args()
    throughput(args.runs, args.steps, args.rounds)
    latency(args.rounds)
    per_evaluation(args.second_order_runs, 100, args.rounds)


if __name__ == "__main__":
    main()
