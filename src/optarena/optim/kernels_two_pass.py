"""The fast path of the rules whose step takes sums over the whole parameter (``TwoPass``): two
fused, chunked parallel passes over one array, as ``kernels`` makes one for a per-element cell.

* pass 1 runs ``gather`` on every element, stores the slots it writes and sums its terms: each
  chunk in float64 (the terms buffered per block in the params' dtype, then summed with
  reassociation, so the cell's own arithmetic stays IEEE-exact and the sum still vectorises);
  the chunks are fixed by the size, so the sums do not depend on the threads;
* ``combine`` (Python, once) turns the sums into pass 2's constants;
* pass 2 runs ``apply`` and stores p and the slots it writes.

Each array is read where a pass needs it and stored by one pass only: a LAMB step moves 10 array
lengths (pass 1 reads p, g, m, v and stores m, v; pass 2 reads p, m, v and stores p), Adam's 7.
Kernels are generated per (cell, which slots exist) and compiled on first use;
tests/optim/test_two_pass.py holds them equal to the readable rule.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import kernels
from ._spec import Array, HyperValues, OptimizerSpec, State, TwoPass

try:
    import numba
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("optarena's fused kernels need numba: pip install numba") from exc

_CHUNK = 1 << 16  # elements per parallel work item (as ``kernels``)
_BLOCK = 2048  # elements whose terms are buffered before they are summed: the buffer stays in L1
_KERNELS: dict[tuple[Callable[..., tuple], str, tuple[bool, ...]], Callable[..., None]] = {}


@numba.njit(nogil=True, fastmath={"reassoc"})
def _sum64(t):
    """The float64 sum of a block of terms, in any order (reassociation lets LLVM vectorise it;
    nothing else is relaxed: no NaN or infinity assumptions)."""
    acc = 0.0
    for i in range(t.size):
        acc += t[i]
    return acc


def _loads_and_stores(present: tuple[bool, ...], writes: tuple[bool, ...]) -> tuple[str, str, str]:
    """The generated loop body's slot loads, the cell's slot outputs and their stores (an absent
    slot is the constant ``zero``, a slot the pass does not write is never stored)."""
    loads = "".join(f"        a{k} = s{k}[i]\n" if has else f"        a{k} = zero\n" for k, has in enumerate(present))
    outs = "".join(f"w{k}, " for k, w in enumerate(writes) if w)
    stores = "".join(f"        s{k}[i] = w{k}\n" for k, (has, w) in enumerate(zip(present, writes)) if has and w)
    return loads, outs, stores


def _gather_source(present: tuple[bool, ...], writes: tuple[bool, ...], coefficients: tuple[str, ...], sums: int) -> str:
    S = len(present)
    slots = "".join(f"s{k}, " for k in range(S))
    sliced = "".join(f"s{k}[lo:hi], " if has else f"s{k}, " for k, has in enumerate(present))
    loads, outs, stores = _loads_and_stores(present, writes)
    terms = "".join(f"t{j}, " for j in range(sums))
    unpack = "".join(f"    c_{name} = c[{i}]\n" for i, name in enumerate(coefficients))
    ins = ", ".join(["p[i]", "g[i]"] + [f"a{k}" for k in range(S)] + [f"c_{n}" for n in coefficients])
    store_terms = "".join(f"        t{j}[i] = u{j}\n" for j in range(sums))
    us = "".join(f"u{j}, " for j in range(sums))
    buffers = "".join(f"    t{j} = np.empty(_BLOCK, p.dtype)\n" for j in range(sums))
    zeros = "".join(f"    acc{j} = 0.0\n" for j in range(sums))
    add = "".join(f"        acc{j} += _sum64(t{j}[:hi - lo])\n" for j in range(sums))
    put = "".join(f"    out[{j}] = acc{j}\n" for j in range(sums))
    return f"""\
@numba.njit(nogil=True, error_model="numpy")
def block(p, g, {slots}{terms}c, zero):
    _prefer_wide_vectors()
{unpack}    for i in range(p.size):  # from 0 over slices: LLVM vectorises it (see kernels)
{loads}        {outs}{us}= cell({ins})
{stores}{store_terms}

@numba.njit(nogil=True, error_model="numpy")
def chunk(p, g, {slots}c, zero, out):
{buffers}{zeros}    for lo in range(0, p.size, _BLOCK):
        hi = min(lo + _BLOCK, p.size)
        block(p[lo:hi], g[lo:hi], {sliced}{terms}c, zero)
{add}{put}

@numba.njit(parallel=True, nogil=True, error_model="numpy")
def kernel(p, g, {slots}c, zero, out):
    n = p.size
    for k in numba.prange(out.shape[0]):
        lo = k * _CHUNK
        hi = min(lo + _CHUNK, n)
        chunk(p[lo:hi], g[lo:hi], {sliced}c, zero, out[k])
"""


def _apply_source(present: tuple[bool, ...], writes: tuple[bool, ...], coefficients: tuple[str, ...]) -> str:
    S = len(present)
    slots = "".join(f"s{k}, " for k in range(S))
    sliced = "".join(f"s{k}[lo:hi], " if has else f"s{k}, " for k, has in enumerate(present))
    loads, outs, stores = _loads_and_stores(present, writes)
    unpack = "".join(f"    c_{name} = c[{i}]\n" for i, name in enumerate(coefficients))
    ins = ", ".join(["p[i]", "g[i]"] + [f"a{k}" for k in range(S)] + [f"c_{n}" for n in coefficients])
    return f"""\
@numba.njit(nogil=True, error_model="numpy")
def chunk(p, g, {slots}c, zero):
    _prefer_wide_vectors()
{unpack}    for i in range(p.size):
{loads}        pi, {outs}= cell({ins})
        p[i] = pi
{stores}

@numba.njit(parallel=True, nogil=True, error_model="numpy")
def kernel(p, g, {slots}c, zero, chunks):
    n = p.size
    for k in numba.prange(chunks):
        lo = k * _CHUNK
        hi = min(lo + _CHUNK, n)
        chunk(p[lo:hi], g[lo:hi], {sliced}c, zero)
"""


def _kernel(spec: OptimizerSpec, which: str, present: tuple[bool, ...]) -> Callable[..., None]:
    """The compiled pass (``"gather"`` or ``"apply"``) of ``spec`` with these slots present."""
    form = _form(spec)
    cell = form.gather if which == "gather" else form.apply
    key = (cell, which, present)  # the cell itself: a spec registered anew gets its own kernels
    if key not in _KERNELS:
        writes = tuple(s in (form.gather_writes if which == "gather" else form.apply_writes) for s in form.slots)
        names = form.gather_names if which == "gather" else form.apply_names
        source = (_gather_source(present, writes, names, len(form.sums)) if which == "gather"
                  else _apply_source(present, writes, names))
        scope: dict[str, Any] = {"numba": numba, "np": np, "cell": kernels._inlined(cell), "_sum64": _sum64,
                                 "_prefer_wide_vectors": kernels._prefer_wide_vectors, "_CHUNK": _CHUNK, "_BLOCK": _BLOCK}
        exec(compile(source, f"<optarena two-pass {which} {spec.name}>", "exec"), scope)  # our own generated code
        _KERNELS[key] = scope["kernel"]
    return _KERNELS[key]


def _form(spec: OptimizerSpec) -> TwoPass:
    if spec.two_pass is None:
        raise ValueError(f"optimizer {spec.name!r} has no two-pass form")
    return spec.two_pass


def _by_name(spec: OptimizerSpec, pass_name: str, names: tuple[str, ...], *sources: dict[str, Any], dtype: Any) -> np.ndarray:
    """The constants ``names`` from the first of ``sources`` that has each, as one array of the
    params' dtype (rounded as NumPy rounds a Python float); a missing name is the spec's bug."""
    values = []
    for n in names:
        src = next((s for s in sources if n in s), None)
        if src is None:
            raise ValueError(f"optimizer {spec.name!r}: the two-pass {pass_name} takes {n!r}, which no coefficients gave")
        values.append(float(src[n]))
    return np.array(values, dtype=dtype)


def step(spec: OptimizerSpec, params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    """One step of ``spec``'s two-pass form in place on C-contiguous ``params`` and ``state``
    arrays of one float dtype: one parameter, scalar hyperparameters, a case its ``supports``
    takes (the article's class checks them)."""
    form = _form(spec)
    arrays = [params] + [state[k] for k in form.slots if k in state]
    if any(not a.flags.c_contiguous or not a.flags.writeable or a.dtype != params.dtype or a.size != params.size
           for a in arrays):
        raise ValueError("fused step: params and state must be writeable C-contiguous arrays of one dtype and size")
    g = np.ascontiguousarray(grads, dtype=params.dtype).reshape(-1)  # alive until the kernels have run
    if g.size != params.size:
        raise ValueError(f"fused step: {g.size} gradients for {params.size} parameters")
    dtype = params.dtype
    zero = dtype.type(0)
    p = params.reshape(-1)  # views: every array is C-contiguous
    present = tuple(k in state for k in form.slots)
    slots = [state[k].reshape(-1) if k in state else p[:0] for k in form.slots]
    chunks = -(-p.size // _CHUNK)
    c = form.coefficients(params, state, hp)
    if form.reduces is None or form.reduces(params, hp):
        partial = np.empty((chunks, len(form.sums)), np.float64)
        _kernel(spec, "gather", present)(p, g, *slots, _by_name(spec, "gather", form.gather_names, c, dtype=dtype), zero,
                                         partial)
        sums = {name: float(np.sum(partial[:, j])) for j, name in enumerate(form.sums)}
    else:
        sums = {name: 0.0 for name in form.sums}
    after, scalars = form.combine(params, sums, c, state, hp)
    _kernel(spec, "apply", present)(p, g, *slots, _by_name(spec, "apply", form.apply_names, after, c, dtype=dtype), zero,
                                    chunks)
    state["step"] += 1
    state.update(scalars)
