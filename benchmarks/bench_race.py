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
4. Beyond the plane (issue 15): 10 racers on a 1,000,000-dimensional axis-aligned quadratic for
   1,000 steps in the compiled N-D loop, against a numba stream over the same arrays (each racer's
   point, state and the curvatures, read and written as a step must) and the NumPy engine
   (``--only nd --nd-dim 1000000 --nd-steps 1000`` for this section alone).
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


#: The ten racers of the 10^6-D race: per-element rules with 0-2 state arrays.
ND_RACERS = ["sgd(learning_rate=0.0005)", "momentum(learning_rate=0.0001)", "adam(learning_rate=0.01)",
             "adamw(learning_rate=0.01)", "rmsprop(learning_rate=0.001)", "adagrad(learning_rate=0.1)",
             "adadelta", "adamax(learning_rate=0.01)", "nadam(learning_rate=0.01)", "lion(learning_rate=0.001)"]


def stream_baseline(d: int, slots: list[int], steps: int, threads: int) -> float:
    """Seconds for ``steps`` passes over the arrays the race's step must touch, at the memory stream:
    per racer x (read, written), its state arrays (read, written) and the curvatures a (read), one
    numba loop per racer with a trivial update, the racers split over ``threads`` as the race's are."""
    from concurrent.futures import ThreadPoolExecutor

    import numba

    @numba.njit(nogil=True)
    def stream(X, A, S, steps):  # pragma: no cover - compiled
        k = S.shape[0]
        for _ in range(steps):
            for i in range(X.shape[0]):
                X[i] = X[i] * 0.999 + A[i] * 1e-9
                for j in range(k):
                    S[j, i] = S[j, i] * 0.999
    arrays = [(np.ones(d), np.ones(d), np.ones((n, d))) for n in slots]
    stream(np.ones(4), np.ones(4), np.ones((1, 4)), 1)
    stream(np.ones(4), np.ones(4), np.ones((0, 4)), 1)
    stream(np.ones(4), np.ones(4), np.ones((2, 4)), 1)

    def once() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda arr: stream(*arr, steps), arrays))

    return median_seconds(once, 3)


def nd_race(d: int, steps: int) -> None:
    """4. Ten per-element racers on a d-dimensional axis-aligned quadratic (``quadratic_nd(rotate=0)``,
    separable: the compiled N-D loop), summaries only, against the memory stream of the same arrays."""
    from optarena.arena import fused
    from optarena.arena.plan import racers_of, resolve_racers
    from optarena.landscapes.nd import quadratic_nd

    ls = quadratic_nd(d=d, kappa=1000.0, rotate=0)
    race(quadratic_nd(d=16, kappa=1000.0, rotate=0), ND_RACERS, steps=3, record=False, engine="fused")  # compile
    t0 = time.perf_counter()
    res = race(ls, ND_RACERS, steps=steps, record=False, engine="fused")
    ours = time.perf_counter() - t0
    slots = []
    for spec, hp, _ in resolve_racers(racers_of(ND_RACERS)):
        slots.append(len(spec.state_arrays(hp)))
    threads = min(fused.THREADS, len(ND_RACERS))
    base = stream_baseline(d, slots, steps, threads)
    numpy_steps = max(2, steps // 100)
    t0 = time.perf_counter()
    race(ls, ND_RACERS, steps=numpy_steps, record=False, engine="numpy")
    numpy_step = (time.perf_counter() - t0) / numpy_steps
    moved = sum(d * 8 * (2 * (1 + k) + 1) for k in slots)
    print(f"\n### {len(ND_RACERS)} racers on a {d:,}-dimensional quadratic, {steps:,} steps, summaries only\n")
    print("| implementation | seconds / step | GB/s of the step's arrays | stream / it |")
    print("|---|---:|---:|---:|")
    for label, sec in (("optarena compiled N-D loop", ours / steps), ("stream of the same arrays (numba)", base / steps),
                       ("optarena NumPy engine", numpy_step)):
        print(f"| {label} | {sec:.4g} | {moved / sec / 1e9:.1f} | {base / steps / sec:.1%} |")
    finals = ", ".join(f"{lab} {v:.3g}" for lab, v in zip(res.labels, res.final_loss[:, 0]))
    print(f"\n{len(ND_RACERS)} x {steps:,} steps in {ours:.1f} s ({moved / 1e6:,.0f} MB a step); final losses: {finals}")
    print(f"share of the stream: {base / ours:.0%} (target: at the stream limit)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--second-order-runs", type=int, default=200, help="starts for the per-evaluation table")
    ap.add_argument("--nd-dim", type=int, default=1_000_000, help="coordinates of the N-D race (section 4)")
    ap.add_argument("--nd-steps", type=int, default=1000, help="steps of the N-D race")
    ap.add_argument("--only", choices=["throughput", "latency", "second-order", "nd"], help="one section")
    args = ap.parse_args()
    if args.only == "nd":
        nd_race(args.nd_dim, args.nd_steps)
        return
    throughput(args.runs, args.steps, args.rounds)
    latency(args.rounds)
    per_evaluation(args.second_order_runs, 100, args.rounds)
    nd_race(args.nd_dim, args.nd_steps)


if __name__ == "__main__":
    main()
