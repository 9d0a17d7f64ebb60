"""The race as one compiled loop: every run steps through all its steps inside numba.

Used by ``engine.race`` when every racer has a fused cell and the landscape compiles; it gives
the NumPy engine's numbers (tests/arena/test_fused_race.py). Per-step constants come from the
optimizer's vectorised ``coefficients`` as a (steps, settings, K) table, so the loop does only
the landscape's gradient and the cell, for x and y, per run and step.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

import numba

from ..landscapes import Landscape
from ..optim import _fused
from ..optim._spec import OptimizerSpec

#: Largest coefficient table (steps x settings x K floats) built before falling back to NumPy.
MAX_TABLE = 64_000_000
_FUNCS: dict[Any, tuple[Any, Any]] = {}
_KERNELS: dict[Any, Callable[..., None]] = {}


def landscape_key(ls: Landscape) -> Any:
    """What a compiled landscape is cached under: its functions' code and closure values, so a
    parametrised built-in made again with the same parameters reuses its kernels, while an object
    that only shares a built-in's name (or title) never does."""
    return (ls.name, ls.title, tuple(sorted(ls.params.items())), _code_key(ls.f), _code_key(ls.grad))


def _code_key(fn: Any) -> Any:
    cells = tuple(c.cell_contents for c in (getattr(fn, "__closure__", None) or ()))
    try:
        hash(cells)
        return (fn.__code__, cells)
    except (TypeError, AttributeError, ValueError):  # unhashable closure values, no code: the object
        return fn  # itself (kept alive by the key, so its id cannot be reused by another)


def compiled_landscape(ls: Landscape) -> tuple[Any, Any] | None:
    """(f, grad) compiled for scalars, or None when the landscape's code is not numba-compatible."""
    key = landscape_key(ls)
    if key not in _FUNCS:
        try:
            f = numba.njit(inline="always", error_model="numpy")(ls.f)
            g = numba.njit(inline="always", error_model="numpy")(ls.grad)
            f(0.5, 0.25), g(0.5, 0.25)  # compile now: fail here, not mid-race
            _FUNCS[key] = (f, g)
        except Exception:  # numba raises many error types for unsupported Python
            _FUNCS[key] = None  # type: ignore[assignment]
    return _FUNCS[key]


def is_warm(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> bool:
    return (spec.name, present, landscape_key(ls), record) in _KERNELS


THREADS = os.cpu_count() or 1
#: Run-steps below which a second thread costs more than it saves.
MIN_WORK_PER_THREAD = 200_000
#: Runs stepped together inside one thread: independent runs fill the pipeline (and SIMD
#: lanes) while each run's step waits on its own sqrt/divide chain.
CHUNK = 64
#: Run-steps per kernel call at most (a chunk of runs is never split): ~10 ms of work, so a
#: cancelled race stops within that and the Python between calls costs nothing measurable.
TASK_WORK = 2_000_000


_ROWS: dict[int, Any] = {}


def _row_to_tuple(k: int) -> Any:
    """A numba function turning a coefficient row of length k into a k-tuple: read once per step
    into registers, where an array row would be re-read after every store the loop makes."""
    if k not in _ROWS:
        src = f"def row(c):\n    return ({''.join(f'c[{i}], ' for i in range(k))})\n"
        scope: dict[str, Any] = {}
        exec(compile(src, f"<optarena row {k}>", "exec"), scope)  # our own generated code, no user text
        _ROWS[k] = numba.njit(inline="always")(scope["row"])
    return _ROWS[k]


def _make_kernel(cell: Any, f: Any, grad: Any, present: tuple[bool, bool, bool], record: bool,
                 n_coeffs: int) -> Callable[..., None]:
    has0, has1, has2 = present
    row = _row_to_tuple(n_coeffs)

    # Not numba-parallel: threads in ``run_group`` split the runs instead, which compiles in a
    # fraction of the time (each new optimizer x landscape pair compiles one kernel).
    @numba.njit(nogil=True, error_model="numpy")
    def kernel(P0, S0, C, hidx, noise, sidx, clip, lo, hi, target, pos, loss, gnorm, dstep, best, reach, div, reason,
               first, last):  # pragma: no cover
        T = C.shape[0]
        use_noise = noise.shape[0] > 0
        x0, x1, y0, y1 = lo[0], hi[0], lo[1], hi[1]
        for r0 in range(first, last, CHUNK):
            B = min(CHUNK, last - r0)
            X = P0[r0:r0 + B, 0].copy()
            Y = P0[r0:r0 + B, 1].copy()
            PX = X.copy()
            PY = Y.copy()
            Z = np.zeros(B)
            AX = S0[0, r0:r0 + B, 0].copy() if has0 else Z
            AY = S0[0, r0:r0 + B, 1].copy() if has0 else Z
            BX = S0[1, r0:r0 + B, 0].copy() if has1 else Z
            BY = S0[1, r0:r0 + B, 1].copy() if has1 else Z
            CX = S0[2, r0:r0 + B, 0].copy() if has2 else Z
            CY = S0[2, r0:r0 + B, 1].copy() if has2 else Z
            FV = np.empty(B)
            GX = np.empty(B)
            GY = np.empty(B)
            H = hidx[r0:r0 + B]
            uniform = (H == H[0]).all()
            alive = np.ones(B, dtype=np.bool_)
            n_alive = B
            bst = np.full(B, np.inf)
            rch = np.full(B, -1)
            for t in range(T + 1):
                # 1. the landscape at every run, best loss and tolerance: branch-free, vectorises
                n_ok = 0
                for j in range(B):
                    x = X[j]
                    y = Y[j]
                    fv = f(x, y)
                    FV[j] = fv
                    GX[j], GY[j] = grad(x, y)
                    ok = alive[j] & math.isfinite(fv) & (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)  # NaN fails
                    n_ok += ok
                    bst[j] = fv if (ok & (fv < bst[j])) else bst[j]
                    rch[j] = t if (ok & (rch[j] < 0) & (fv <= target)) else rch[j]
                if n_ok < n_alive or record or use_noise or clip > 0 or t == T:
                    # 2. run by run, only when needed: divergence, records, noise, clipping
                    for j in range(B):
                        if not alive[j]:
                            continue
                        r = r0 + j
                        x = X[j]
                        y = Y[j]
                        fv = FV[j]
                        finite = math.isfinite(x) and math.isfinite(y) and math.isfinite(fv)
                        if not (finite and x0 <= x <= x1 and y0 <= y <= y1):
                            div[r] = t
                            reason[r] = 2 if finite else 1
                            alive[j] = False
                            n_alive -= 1
                            continue
                        if record or t == T:
                            k = t if record else 0
                            pos[r, k, 0] = x
                            pos[r, k, 1] = y
                            loss[r, k] = fv
                            gnorm[r, k] = math.hypot(GX[j], GY[j])
                            dstep[r, k] = 0.0 if t == 0 else math.hypot(x - PX[j], y - PY[j])
                        if t == T:
                            continue
                        if use_noise:
                            GX[j] += noise[t, sidx[r], 0]
                            GY[j] += noise[t, sidx[r], 1]
                        if clip > 0:
                            norm = math.hypot(GX[j], GY[j])
                            scale = min(1.0, clip / (norm if norm > 0 else 1.0))
                            GX[j] *= scale
                            GY[j] *= scale
                if t == T or n_alive == 0:
                    break
                # 3. the optimizer's cell on every run (a dead run computes garbage nobody reads)
                if record or t == T - 1:  # the previous point is only read for step sizes
                    PX[:] = X
                    PY[:] = Y
                if uniform:
                    c = row(C[t, H[0]])
                    for j in range(B):
                        X[j], AX[j], BX[j], CX[j] = cell(X[j], GX[j], AX[j], BX[j], CX[j], c)
                        Y[j], AY[j], BY[j], CY[j] = cell(Y[j], GY[j], AY[j], BY[j], CY[j], c)
                else:
                    for j in range(B):
                        c = row(C[t, H[j]])
                        X[j], AX[j], BX[j], CX[j] = cell(X[j], GX[j], AX[j], BX[j], CX[j], c)
                        Y[j], AY[j], BY[j], CY[j] = cell(Y[j], GY[j], AY[j], BY[j], CY[j], c)
            for j in range(B):
                best[r0 + j] = bst[j]
                reach[r0 + j] = rch[j]

    return kernel


def coefficient_table(spec: OptimizerSpec, hp: dict[str, Any], schedule: Any, steps: int) -> np.ndarray:
    """(steps, H, K) constants for H settings (numeric hyperparameters as (H,) arrays)."""
    assert spec.coefficients is not None
    k = np.arange(steps)[:, None]
    lr = np.asarray(schedule(k, hp["learning_rate"]), dtype=np.float64)
    H = lr.shape[1] if lr.ndim == 2 else 1
    init = {name: 1.0 for name in spec.scalars}  # NAdam's running product starts at 1
    coeffs, _ = spec.coefficients(hp, k + 1, lr, init)
    table = np.empty((steps, H, len(coeffs)), dtype=np.float64)
    for i, c in enumerate(coeffs):
        table[:, :, i] = np.asarray(c, dtype=np.float64)  # broadcasts scalars and (T, 1) columns
    return table


def run_group(spec: OptimizerSpec, ls: Landscape, hp: dict[str, Any], schedule: Any, hidx: np.ndarray,
              P0: np.ndarray, state0: dict[str, Any], noise: np.ndarray | None, sidx: np.ndarray,
              clip: float | None, lo: np.ndarray, hi: np.ndarray, target: float, steps: int,
              record: bool, should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Run one group's runs (rows of P0, settings ``hp[...][hidx]``) for the whole race.

    The runs go to the kernel in tasks of whole chunks; ``should_stop`` is asked before each task
    (a task is at most ``TASK_WORK`` run-steps, a few ms), and ``Cancelled`` raised when it fires."""
    from .engine import Cancelled

    funcs = compiled_landscape(ls)
    assert funcs is not None
    present = tuple(name in state0 for name in spec.slots) + (False,) * (3 - len(spec.slots))
    C = coefficient_table(spec, hp, schedule, steps)
    key = (spec.name, present, landscape_key(ls), record)
    if key not in _KERNELS:
        _KERNELS[key] = _make_kernel(_fused.compiled_cell(spec), funcs[0], funcs[1], present, record,  # type: ignore[arg-type]
                                     C.shape[2])
    n = len(P0)
    S0 = np.zeros((3, n, 2))
    for i, name in enumerate(spec.slots):
        if name in state0:
            S0[i] = state0[name]
    out = new_outputs(n, steps, record)
    args = (np.ascontiguousarray(P0, dtype=np.float64), S0, C, hidx.astype(np.int64),
            np.zeros((0, 1, 2)) if noise is None else noise, sidx.astype(np.int64),
            0.0 if clip is None else float(clip), lo, hi, float(target), out["pos"], out["loss"],
            out["gnorm"], out["dstep"], out["best"], out["reach"], out["div"], out["reason"])
    kernel = _KERNELS[key]
    threads = min(THREADS, max(1, (n * steps) // MIN_WORK_PER_THREAD))
    # Many whole-chunk tasks on a few threads balance runs that diverge early (cheap) against ones
    # that run the full budget (the kernel releases the GIL); small tasks also bound how long a
    # cancelled race keeps a core busy.
    chunks = (n + CHUNK - 1) // CHUNK
    n_tasks = max(8 * threads if threads > 1 else 1, -(-n * steps // TASK_WORK))
    bounds = np.unique(np.linspace(0, chunks, min(chunks, n_tasks) + 1).astype(int)) * CHUNK
    stopped = False

    def task(a: int, b: int) -> None:
        nonlocal stopped
        if stopped or (should_stop is not None and should_stop()):
            stopped = True
            return
        kernel(*args, int(a), int(min(b, n)))

    if threads == 1:
        for a, b in zip(bounds[:-1], bounds[1:]):
            task(a, b)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(task, bounds[:-1], bounds[1:]))
    if stopped:
        raise Cancelled(f"race stopped before its last {len(bounds) - 1}-task batch finished")
    return out


def new_outputs(n: int, steps: int, record: bool) -> dict[str, np.ndarray]:
    """The per-run result arrays, NaN / -1 where nothing was recorded."""
    T = steps + 1 if record else 1
    return {
        "pos": np.full((n, T, 2), np.nan), "loss": np.full((n, T), np.nan), "gnorm": np.full((n, T), np.nan),
        "dstep": np.full((n, T), np.nan), "best": np.full(n, np.inf), "reach": np.full(n, -1, np.int64),
        "div": np.full(n, -1, np.int64), "reason": np.zeros(n, np.int8),
    }
