"""L-BFGS races as one compiled loop: every run steps through all its steps inside numba.

Used by ``engine.race`` for an L-BFGS group without the line search on a landscape that compiles
(``fused.compiled_landscape``); it gives the NumPy engine's numbers bit for bit where the
landscape's compiled f and grad equal its NumPy ones (tests/arena/test_fused_lbfgs.py). A step is
``rules.lbfgs.LBFGS.step`` without the line search, on a run's two coordinates as scalars:

    evaluate f, g at x (the race records them: the step's first evaluation); stop if max|g| <= tolerance_grad
    each iteration: first ever d = -g; else push (s, y) = (t d, g - g_prev) when y.s > 1e-10 (the oldest
    dropped at history_size; H_diag = y.s / y.y) and d = -H g by the two-loop recursion;
    t = min(1, 1 / |g|_1) lr on the run's first iteration ever, else lr; stop if g.d > -tolerance_change;
    x += t d; evaluate unless it is the step's last iteration; stop at max_iter, max_eval, max|g| <=
    tolerance_grad, max|t d| <= tolerance_change or |f - f_prev| < tolerance_change

with every dot product ``lbfgs_kernels.dot``'s (``dot_pair``: the same steps on scalars). The
history is a ring per run, in the order oldest to newest the NumPy paths keep. The cost is the
two-loop recursion's chain of dependent operations, so a thread steps ``LANES`` runs together and
interleaves their recursions; threads split the runs as ``fused.run_group``'s do (not numba's
prange: a server's threads may race at once, which numba's workqueue threading layer cannot take).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np

from ..landscapes import Landscape
from ..optim import OptimizerSpec, lbfgs_kernels
from ..optim.lbfgs_kernels import dot_pair
from ..optim.rules import lbfgs
from . import fused

#: A compiled L-BFGS run-step in per-element run-steps (a few evaluations and two-loop recursions
#: over the history: 0.3 to 1.5 us on Rosenbrock, 50 to 100 times Adam's): the work threads, tasks
#: and engine="auto" (whose NumPy L-BFGS step costs ~20 of its first-order steps) count it as.
RUN_STEP_WORK = 50
CURVATURE_MIN = lbfgs.CURVATURE_MIN


#: Runs a thread steps together: while one run's two-loop recursion waits on its chain of dependent
#: operations (a compensated dot product, then the update of q, pair after pair), the others' fill
#: the pipeline. Each lane holds one run; a lane whose run ends takes the task's next run.
LANES = 4  # not a setting: the two-loop section of ``race_runs`` is written out lane by lane
# a lane's place in its run: at a step's start (evaluate, record), before an iteration, or after
# its direction d is known (the rest of the iteration)
_STEP, _ITER, _AFTER = 0, 1, 2


@numba.njit(inline="always", error_model="numpy", nogil=True)
def race_runs(f, grad, record, P0, hidx, LR, max_iter, max_eval, tol_grad, tol_change, history, cap, lo, hi,
              target, pos, loss, gnorm, dstep, nevals, best, reach, div, reason, first, last):  # pragma: no cover
    """Runs ``first``..``last`` for the whole race: run r with setting ``hidx[r]`` and learning
    rate ``LR[t, hidx[r]]`` at step t; records as ``fused``'s loop, and the evaluations made
    before each recorded step in ``nevals``. Each lane advances its run until the run needs a
    two-loop recursion; then the lanes waiting for one run theirs together, pair by pair."""
    T = LR.shape[0]
    K = LANES
    x_lo, x_hi, y_lo, y_hi = lo[0], hi[0], lo[1], hi[1]
    C = max(cap, 1)
    ring = np.empty((K, C, 5))  # a lane's pairs, one a row: s0, s1, y0, y1, rho = 1 / y.s
    alpha = np.empty((K, C))
    run = np.full(K, -1)
    phase = np.zeros(K, dtype=np.int64)
    wait = np.zeros(K, dtype=np.bool_)  # waiting for its two-loop recursion
    # per lane: its settings, then its run's state (``LBFGS.state``'s and the step's)
    H, m, n_max, e_max = np.zeros(K, np.int64), np.ones(K, np.int64), np.ones(K, np.int64), np.ones(K, np.int64)
    tg, tc = np.zeros(K), np.zeros(K)
    ints = np.zeros((8, K), dtype=np.int64)
    k, n_iter, count, head, it, used, spent, rch = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], ints[7]
    v = np.zeros((18, K))
    X0, X1, PX0, PX1, G0, G1, PG0, PG1, D0, D1 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]
    Q0, Q1, t, h_diag, fk, prev, lr, bst = v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]
    nxt = first
    busy = 0
    while True:
        # 1. every lane runs its run until it needs a direction by the two-loop recursion (or has no run left)
        for j in range(K):
            while not wait[j]:
                if run[j] < 0:  # an empty lane: take the next run
                    if nxt >= last:
                        break
                    r = nxt
                    nxt += 1
                    busy += 1
                    run[j] = r
                    h = hidx[r]
                    H[j], m[j], n_max[j], e_max[j], tg[j], tc[j] = h, history[h], max_iter[h], max_eval[h], tol_grad[h], tol_change[h]
                    X0[j], X1[j] = P0[r, 0], P0[r, 1]
                    PX0[j], PX1[j] = X0[j], X1[j]
                    k[j] = n_iter[j] = count[j] = head[j] = spent[j] = 0
                    rch[j] = -1
                    h_diag[j] = 1.0
                    D0[j] = D1[j] = t[j] = PG0[j] = PG1[j] = 0.0
                    bst[j] = np.inf
                    phase[j] = _STEP
                r = run[j]
                if phase[j] == _STEP:
                    x0, x1 = X0[j], X1[j]
                    fv = f(x0, x1)
                    g0, g1 = grad(x0, x1)
                    ks = k[j]
                    finite = math.isfinite(x0) and math.isfinite(x1) and math.isfinite(fv)
                    done = not (finite and x_lo <= x0 <= x_hi and y_lo <= x1 <= y_hi)
                    if done:
                        div[r] = ks
                        reason[r] = 2 if finite else 1
                    else:
                        bst[j] = fv if fv < bst[j] else bst[j]
                        rch[j] = ks if (rch[j] < 0 and fv <= target) else rch[j]
                        if record or ks == T:
                            i = ks if record else 0
                            pos[r, i, 0] = x0
                            pos[r, i, 1] = x1
                            loss[r, i] = fv
                            gnorm[r, i] = math.hypot(g0, g1)
                            dstep[r, i] = 0.0 if ks == 0 else math.hypot(x0 - PX0[j], x1 - PX1[j])
                            nevals[r, i] = spent[j]
                        done = ks == T
                    if done:
                        best[r] = bst[j]
                        reach[r] = rch[j]
                        run[j] = -1
                        busy -= 1
                        continue
                    PX0[j], PX1[j] = x0, x1
                    lr[j] = LR[ks, H[j]]
                    spent[j] += 1  # the step's first evaluation: f, g at x, taken above
                    if abs(g0) <= tg[j] and abs(g1) <= tg[j]:
                        k[j] += 1
                        continue
                    G0[j], G1[j], fk[j] = g0, g1, fv
                    used[j] = 1
                    it[j] = 0
                    phase[j] = _ITER
                if phase[j] == _ITER:
                    it[j] += 1
                    n_iter[j] += 1
                    g0, g1 = G0[j], G1[j]
                    phase[j] = _AFTER
                    if n_iter[j] == 1:
                        D0[j], D1[j] = -g0, -g1
                    else:
                        y0, y1 = g0 - PG0[j], g1 - PG1[j]
                        s0, s1 = D0[j] * t[j], D1[j] * t[j]
                        ys = dot_pair(y0, y1, s0, s1)
                        if ys > CURVATURE_MIN:
                            mj, hj, cj = m[j], head[j], count[j]
                            if cj == mj:  # full: the newest takes the oldest's row
                                row = hj
                                head[j] = hj + 1 if hj + 1 < mj else 0
                            else:
                                row = hj + cj if hj + cj < mj else hj + cj - mj
                                count[j] = cj + 1
                            ring[j, row, 0], ring[j, row, 1], ring[j, row, 2], ring[j, row, 3] = s0, s1, y0, y1
                            ring[j, row, 4] = 1.0 / ys
                            h_diag[j] = ys / dot_pair(y0, y1, y0, y1)
                        Q0[j], Q1[j] = -g0, -g1
                        wait[j] = True
                        continue
                # _AFTER: the direction is D
                g0, g1, d0, d1 = G0[j], G1[j], D0[j], D1[j]
                PG0[j], PG1[j], prev[j] = g0, g1, fk[j]
                if n_iter[j] == 1:
                    inv = 1.0 / (abs(g0) + abs(g1))
                    t[j] = (inv if inv < 1.0 else 1.0) * lr[j]
                else:
                    t[j] = lr[j]
                tj = t[j]
                stop = dot_pair(g0, g1, d0, d1) > -tc[j]  # not a descent direction (to tolerance)
                if not stop:
                    X0[j] = X0[j] + tj * d0
                    X1[j] = X1[j] + tj * d1
                    stop = it[j] == n_max[j]  # the last iteration's point is evaluated by the next step
                if not stop:
                    f1 = f(X0[j], X1[j])
                    g0, g1 = grad(X0[j], X1[j])
                    G0[j], G1[j], fk[j] = g0, g1, f1
                    used[j] += 1
                    stop = (used[j] >= e_max[j] or (abs(g0) <= tg[j] and abs(g1) <= tg[j])
                            or (abs(d0 * tj) <= tc[j] and abs(d1 * tj) <= tc[j]) or abs(f1 - prev[j]) < tc[j])
                if stop:
                    spent[j] += used[j] - 1
                    k[j] += 1
                    phase[j] = _STEP
                else:
                    phase[j] = _ITER
        if busy == 0:
            break
        # 2. the waiting lanes' two-loop recursions, d = -H g, interleaved pair by pair, each lane's
        # q in registers (a lane not waiting has no pairs to visit)
        c0 = count[0] if wait[0] else 0
        c1 = count[1] if wait[1] else 0
        c2 = count[2] if wait[2] else 0
        c3 = count[3] if wait[3] else 0
        h0, h1, h2, h3, m0, m1, m2, m3 = head[0], head[1], head[2], head[3], m[0], m[1], m[2], m[3]
        a0, b0, a1, b1, a2, b2, a3, b3 = Q0[0], Q1[0], Q0[1], Q1[1], Q0[2], Q1[2], Q0[3], Q1[3]
        deepest = max(max(c0, c1), max(c2, c3))
        for depth in range(deepest):  # newest to oldest
            a0, b0 = _newest_first(ring, alpha, 0, c0, depth, h0, m0, a0, b0)
            a1, b1 = _newest_first(ring, alpha, 1, c1, depth, h1, m1, a1, b1)
            a2, b2 = _newest_first(ring, alpha, 2, c2, depth, h2, m2, a2, b2)
            a3, b3 = _newest_first(ring, alpha, 3, c3, depth, h3, m3, a3, b3)
        a0, b0, a1, b1 = a0 * h_diag[0], b0 * h_diag[0], a1 * h_diag[1], b1 * h_diag[1]
        a2, b2, a3, b3 = a2 * h_diag[2], b2 * h_diag[2], a3 * h_diag[3], b3 * h_diag[3]
        for i in range(deepest):  # oldest to newest
            a0, b0 = _oldest_first(ring, alpha, 0, c0, i, h0, m0, a0, b0)
            a1, b1 = _oldest_first(ring, alpha, 1, c1, i, h1, m1, a1, b1)
            a2, b2 = _oldest_first(ring, alpha, 2, c2, i, h2, m2, a2, b2)
            a3, b3 = _oldest_first(ring, alpha, 3, c3, i, h3, m3, a3, b3)
        if wait[0]:
            D0[0], D1[0] = a0, b0
        if wait[1]:
            D0[1], D1[1] = a1, b1
        if wait[2]:
            D0[2], D1[2] = a2, b2
        if wait[3]:
            D0[3], D1[3] = a3, b3
        wait[:] = False


@numba.njit(inline="always", error_model="numpy", nogil=True)
def _newest_first(ring, alpha, j, count, depth, head, m, q0, q1):  # pragma: no cover
    """The first loop's pair ``depth`` from the newest of lane j: a = rho s.q, q -= a y (q as it
    was past the lane's count)."""
    if depth >= count:
        return q0, q1
    i = count - 1 - depth
    row = head + i if head + i < m else head + i - m
    a = dot_pair(ring[j, row, 0], ring[j, row, 1], q0, q1) * ring[j, row, 4]
    alpha[j, i] = a
    return q0 - a * ring[j, row, 2], q1 - a * ring[j, row, 3]


@numba.njit(inline="always", error_model="numpy", nogil=True)
def _oldest_first(ring, alpha, j, count, i, head, m, q0, q1):  # pragma: no cover
    """The second loop's pair i (from the oldest) of lane j: b = rho y.q, q += (a - b) s."""
    if i >= count:
        return q0, q1
    row = head + i if head + i < m else head + i - m
    b = dot_pair(ring[j, row, 2], ring[j, row, 3], q0, q1) * ring[j, row, 4]
    return q0 + (alpha[j, i] - b) * ring[j, row, 0], q1 + (alpha[j, i] - b) * ring[j, row, 1]


_KERNEL_SOURCE = """\
# Generated by optarena.arena.fused_lbfgs: the compiled L-BFGS race loop on one landscape.
# It is named by a hash of its parts' code (and numba's own cache checks this file), so it is
# never stale; delete the folder at will.
import numba

from optarena.arena.fused_lbfgs import _PARTS, race_runs

f, grad = _PARTS[{digest!r}]


@numba.njit(nogil=True, error_model="numpy", cache={cache})
def kernel(P0, hidx, LR, max_iter, max_eval, tol_grad, tol_change, history, cap, lo, hi, target, pos, loss, gnorm,
           dstep, nevals, best, reach, div, reason, first, last):  # pragma: no cover
    race_runs(f, grad, {record}, P0, hidx, LR, max_iter, max_eval, tol_grad, tol_change, history, cap, lo, hi, target,
              pos, loss, gnorm, dstep, nevals, best, reach, div, reason, first, last)
"""
_PARTS: dict[str, tuple[Any, Any]] = {}


def _make_kernel(f: Any, grad: Any, record: bool, what: str, use_cache: bool = True) -> Callable[..., None]:
    """The loop on this landscape, from ``fused``'s disk cache when an earlier process compiled it."""
    # the loop's own code and the dot product's, whole files: their constants (LANES) and numba
    # intrinsics are part of the compiled loop too
    own = [Path(m.__file__).read_bytes() for m in (sys.modules[__name__], lbfgs_kernels) if m.__file__]
    return fused.generated_kernel("lbfgs", _KERNEL_SOURCE, dict(record=record), _PARTS, (f, grad), (f, grad), own,
                                  what, use_cache)


def kernel_key(spec: OptimizerSpec, ls: Landscape, record: bool) -> Any:
    """Its entry in ``fused``'s kernels (so the kernel budget and ``fused.is_warm`` count it)."""
    return (spec.name, (), fused.landscape_key(ls), record)


def _settings(hp: dict[str, Any], H: int) -> dict[str, np.ndarray]:
    """Each setting's (H,) values, checked and defaulted by ``LBFGS`` (max_eval 0: max_iter * 5 // 4)."""
    def at(k: str, h: int) -> float:
        return float(np.ravel(hp[k])[h if np.ndim(hp[k]) else 0])

    runs = [lbfgs.LBFGS(learning_rate=at("learning_rate", h), max_iter=int(at("max_iter", h)),
                        max_eval=int(at("max_eval", h)) or None, tolerance_grad=at("tolerance_grad", h),
                        tolerance_change=at("tolerance_change", h), history_size=int(at("history_size", h)))
            for h in range(H)]
    ints = ("max_iter", "max_eval", "history_size")
    return {k: np.array([getattr(o, k) for o in runs], dtype=np.int64 if k in ints else np.float64)
            for k in ints + ("tolerance_grad", "tolerance_change")}


def run_group(spec: OptimizerSpec, ls: Landscape, hp: dict[str, Any], schedule: Any, hidx: np.ndarray, P0: np.ndarray,
              lo: np.ndarray, hi: np.ndarray, target: float, steps: int, record: bool,
              should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Run one L-BFGS group's runs (rows of P0, settings ``hp[...][hidx]``) for the whole race:
    ``fused.run_group``'s outputs and ``evals``, the evaluations made before each recorded step.
    Tasks of whole runs go to a thread pool (the kernel releases the GIL); ``should_stop`` is asked
    before each task, and ``Cancelled`` raised when it fires."""
    funcs = fused.compiled_landscape(ls)
    assert funcs is not None
    H = np.size(hp["learning_rate"])
    # (steps, settings) learning rates: the schedule's, as the NumPy engine hands each step
    lr = schedule(np.arange(steps)[:, None], np.reshape(hp["learning_rate"], H))
    LR = np.ascontiguousarray(np.broadcast_to(np.asarray(lr, dtype=np.float64), (steps, H)))
    st = _settings(hp, H)
    # a run pushes at most one pair an iteration: no longer ring than that, whatever history_size says
    cap = int(min(np.max(st["history_size"]), steps * np.max(st["max_iter"])))
    key = kernel_key(spec, ls, record)
    what = f"{spec.title} x {ls.title}"
    new = key not in fused._KERNELS
    if new:
        fused._KERNELS[key] = _make_kernel(funcs[0], funcs[1], record, what)
    n = len(P0)
    out = fused.new_outputs(n, steps, record)
    out["evals"] = np.full(out["loss"].shape, np.nan)
    args = (np.ascontiguousarray(P0, dtype=np.float64), hidx.astype(np.int64), LR, st["max_iter"], st["max_eval"],
            st["tolerance_grad"], st["tolerance_change"], st["history_size"], cap, lo, hi, float(target), out["pos"],
            out["loss"], out["gnorm"], out["dstep"], out["evals"], out["best"], out["reach"], out["div"], out["reason"])
    kernel = fused.first_call(key, args, what, lambda: _make_kernel(funcs[0], funcs[1], record, what, use_cache=False)) \
        if new else fused._KERNELS[key]
    work = n * steps * RUN_STEP_WORK
    threads = min(fused.THREADS, max(1, work // fused.MIN_WORK_PER_THREAD))
    # many small tasks, each of LANES runs at least: runs differ widely in cost (one converges in a
    # few evaluations, its neighbour iterates max_iter times every step), and a cancelled race stops
    # within a task
    n_tasks = max(1, min(n // LANES, max(8 * threads if threads > 1 else 1, -(-work // fused.TASK_WORK))))
    bounds = np.unique(np.linspace(0, n, n_tasks + 1).astype(int))
    fused.run_tasks(kernel, args, bounds, threads, should_stop)
    return out
