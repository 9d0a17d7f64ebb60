"""Newton races as one compiled loop: every run steps through all its steps inside numba.

Used by ``engine.race`` for a Newton group without ``saddle_free`` on a landscape whose f, grad
and hess compile (``compiled_hessian``); it gives the NumPy engine's numbers bit for bit where
the compiled f, grad and hess equal the NumPy ones (tests/arena/test_fused_newton.py), to
rounding where a system is singular (numba's pseudo-inverse, not NumPy's). A step is
``rules.newton.update`` on a run's two coordinates as scalars:

    g = grad(p) (+ the race's noise, clipped as the race clips), H = hess(p); g, H = -g, -H if maximize
    a, b, c, e = H00 + damping, H01, H10, H11 + damping;  det = a e - b c
    s = ((e g0 - b g1) / det, (a g1 - c g0) / det), or pinv(H + damping I) g where det is 0 or not finite
    p = p - lr_t s

``saddle_free`` (|H| by an eigendecomposition, which numba does not do bit for bit as NumPy's
``eigh``) stays on the NumPy engine. Threads split the runs as ``fused.run_group``'s do.
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np

from ..landscapes import Landscape
from ..optim import OptimizerSpec
from . import fused
from .fused_lbfgs import _load

#: A compiled Newton run-step in per-element run-steps (an evaluation of f, grad and hess and a
#: 2 x 2 solve): the work threads and engine="auto" count it as.
RUN_STEP_WORK = 3
_HESS: dict[Any, Any] = {}


def compiled_hessian(ls: Landscape) -> tuple[Any | None, str]:
    """(hess compiled for scalars, "") or (None, why it cannot be)."""
    if ls.hess is None:
        return None, f"landscape {ls.title!r} has no exact Hessian" + (f" ({ls.no_hessian})" if ls.no_hessian else "")
    key = (fused.landscape_key(ls), fused._code_key(ls.hess))
    if key not in _HESS:
        try:
            h = numba.njit(inline="always", error_model="numpy")(ls.hess)
            h(0.5, 0.25)  # compile now: fail here, not mid-race
            _HESS[key] = h
        except Exception:  # numba raises many error types for unsupported Python
            _HESS[key] = None
    if _HESS[key] is None:
        return None, f"the Hessian of landscape {ls.title!r} does not compile with numba"
    return _HESS[key], ""


@numba.njit(inline="always", error_model="numpy", nogil=True)
def race_runs(f, grad, hess, record, P0, hidx, LR, damping, maximize, noise, sidx, clip, lo, hi, target,
              pos, loss, gnorm, dstep, best, reach, div, reason, first, last):  # pragma: no cover
    """Runs ``first``..``last`` for the whole race: run r with setting ``hidx[r]``, learning rate
    ``LR[t, hidx[r]]`` at step t; records as ``fused``'s loop."""
    T = LR.shape[0]
    use_noise = noise.shape[0] > 0
    sign = -1.0 if maximize else 1.0
    x_lo, x_hi, y_lo, y_hi = lo[0], hi[0], lo[1], hi[1]
    A = np.empty((2, 2))
    for r in range(first, last):
        h = hidx[r]
        lam = damping[h]
        x0, x1 = P0[r, 0], P0[r, 1]
        px0, px1 = x0, x1
        bst = np.inf
        rch = -1
        for t in range(T + 1):
            fv = f(x0, x1)
            g0, g1 = grad(x0, x1)
            finite = math.isfinite(x0) and math.isfinite(x1) and math.isfinite(fv)
            if not (finite and x_lo <= x0 <= x_hi and y_lo <= x1 <= y_hi):
                div[r] = t
                reason[r] = 2 if finite else 1
                break
            bst = fv if fv < bst else bst
            rch = t if (rch < 0 and fv <= target) else rch
            if record or t == T:
                i = t if record else 0
                pos[r, i, 0] = x0
                pos[r, i, 1] = x1
                loss[r, i] = fv
                gnorm[r, i] = math.hypot(g0, g1)
                dstep[r, i] = 0.0 if t == 0 else math.hypot(x0 - px0, x1 - px1)
            if t == T:
                break
            if use_noise:
                g0 += noise[t, sidx[r], 0]
                g1 += noise[t, sidx[r], 1]
            if clip >= 0:
                norm = math.hypot(g0, g1)
                scale = min(1.0, clip / (norm if norm > 0 else 1.0))
                g0 *= scale
                g1 *= scale
            hxx, hxy, hyy = hess(x0, x1)
            if maximize:
                g0, g1 = -g0, -g1
            a, b, e = sign * hxx + lam, sign * hxy, sign * hyy + lam
            c = b
            det = a * e - b * c
            if math.isfinite(det) and det != 0:
                s0 = (e * g0 - b * g1) / det
                s1 = (a * g1 - c * g0) / det
            else:  # singular: the least-squares step, as newton._solve takes it
                A[0, 0], A[0, 1], A[1, 0], A[1, 1] = a, b, c, e
                Ai = np.linalg.pinv(A)
                s0 = Ai[0, 0] * g0 + Ai[0, 1] * g1
                s1 = Ai[1, 0] * g0 + Ai[1, 1] * g1
            lr = LR[t, h]
            px0, px1 = x0, x1
            x0 = x0 - lr * s0
            x1 = x1 - lr * s1
        best[r] = bst
        reach[r] = rch


_KERNEL_SOURCE = """\
# Generated by optarena.arena.fused_newton: the compiled Newton race loop on one landscape.
# It is named by a hash of its parts' code (and numba's own cache checks this file), so it is
# never stale; delete the folder at will.
import numba

from optarena.arena.fused_newton import _PARTS, race_runs

f, grad, hess = _PARTS[{digest!r}]


@numba.njit(nogil=True, error_model="numpy", cache={cache})
def kernel(P0, hidx, LR, damping, maximize, noise, sidx, clip, lo, hi, target, pos, loss, gnorm, dstep, best, reach,
           div, reason, first, last):  # pragma: no cover
    race_runs(f, grad, hess, {record}, P0, hidx, LR, damping, maximize, noise, sidx, clip, lo, hi, target, pos, loss,
              gnorm, dstep, best, reach, div, reason, first, last)
"""
_PARTS: dict[str, tuple[Any, Any, Any]] = {}


def _make_kernel(parts: tuple[Any, Any, Any], record: bool, what: str, use_cache: bool = True) -> Callable[..., None]:
    """The loop on this landscape, from ``fused``'s disk cache when an earlier process compiled it."""
    folder = fused.cache_dir() if use_cache and all(fused._importable(fn) for fn in parts) else None
    own = Path(__file__).read_bytes()
    digest = hashlib.sha256(b"\0".join([
        fused.CACHE_FORMAT.encode(), _KERNEL_SOURCE.format(digest="", cache=True, record=record).encode(), own,
        *(fused._fingerprint(fn) for fn in parts), sys.version.encode()])).hexdigest()[:24]
    _PARTS[digest] = parts
    source = _KERNEL_SOURCE.format(digest=digest, cache=folder is not None, record=record)
    cached = folder is not None and any((folder / "__pycache__").glob(f"newton_{digest}.kernel-*.nbi"))
    fused.LOG.info("%s the race loop for %s%s", "loading" if cached else "compiling", what,
                   "" if cached else " (once; kept for later runs)" if folder is not None else " (once in this process)")
    if folder is None:
        scope: dict[str, Any] = {}
        exec(compile(source, f"<optarena Newton race loop {digest}>", "exec"), scope)  # our own generated code
        return scope["kernel"]
    return _load(folder / f"newton_{digest}.py", source).kernel


def kernel_key(spec: OptimizerSpec, ls: Landscape, record: bool) -> Any:
    """Its entry in ``fused``'s kernels (so the kernel budget and ``fused.is_warm`` count it)."""
    return (spec.name, (), fused.landscape_key(ls), record)


def run_group(spec: OptimizerSpec, ls: Landscape, hp: dict[str, Any], schedule: Any, hidx: np.ndarray, P0: np.ndarray,
              noise: np.ndarray | None, sidx: np.ndarray, clip: float | None, lo: np.ndarray, hi: np.ndarray,
              target: float, steps: int, record: bool,
              should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Run one Newton group's runs (rows of P0, settings ``hp[...][hidx]``) for the whole race:
    ``fused.run_group``'s outputs. Tasks of whole runs go to a thread pool (the kernel releases
    the GIL); ``should_stop`` is asked before each task, and ``Cancelled`` raised when it fires."""
    funcs = fused.compiled_landscape(ls)
    hess, why = compiled_hessian(ls)
    assert funcs is not None and hess is not None, why
    H = np.size(hp["learning_rate"])
    lr = schedule(np.arange(steps)[:, None], np.reshape(hp["learning_rate"], H))
    LR = np.ascontiguousarray(np.broadcast_to(np.asarray(lr, dtype=np.float64), (steps, H)))
    damping = np.ascontiguousarray(np.broadcast_to(np.asarray(hp["damping"], dtype=np.float64).ravel(), (H,)))
    key = kernel_key(spec, ls, record)
    what = f"{spec.title} x {ls.title}"
    parts = (funcs[0], funcs[1], hess)
    new = key not in fused._KERNELS
    if new:
        fused._KERNELS[key] = _make_kernel(parts, record, what)
    n = len(P0)
    out = fused.new_outputs(n, steps, record)
    # clip < 0: none (a clip of 0 zeroes the gradient, as on the NumPy engine)
    args = (np.ascontiguousarray(P0, dtype=np.float64), hidx.astype(np.int64), LR, damping, bool(hp["maximize"]),
            np.zeros((0, 1, 2)) if noise is None else noise, sidx.astype(np.int64),
            -1.0 if clip is None else float(clip), lo, hi, float(target), out["pos"], out["loss"], out["gnorm"],
            out["dstep"], out["best"], out["reach"], out["div"], out["reason"])
    kernel = fused._KERNELS[key]
    if new:  # compile or load it now, on no runs: a cache entry that cannot be loaded is compiled afresh
        try:
            kernel(*args, 0, 0)
        except Exception as exc:  # numba's loader raises what unpickling raises (ImportError, EOFError, ...)
            fused.LOG.warning("the cached race loop for %s could not be loaded (%s: %s); compiling it afresh",
                              what, type(exc).__name__, exc)
            kernel = fused._KERNELS[key] = _make_kernel(parts, record, what, use_cache=False)
    work = n * steps * RUN_STEP_WORK
    threads = min(fused.THREADS, max(1, work // fused.MIN_WORK_PER_THREAD))
    n_tasks = max(1, min(n, max(8 * threads if threads > 1 else 1, -(-work // fused.TASK_WORK))))
    bounds = np.unique(np.linspace(0, n, n_tasks + 1).astype(int))
    fused.run_tasks(kernel, args, bounds, threads, should_stop)
    return out
