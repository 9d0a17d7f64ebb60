"""The fast paths: numba compiles each optimizer's ``cell`` (one element of its rule) into

* ``step``: one in-place pass over a large array and its state (memory-bandwidth bound), and
* the race loop in ``optarena.arena.fused``, which steps many 2-D runs for many steps.

Kernels are generated per (optimizer, which state slots exist) so absent slots cost no memory
traffic, and compiled on first use; this module is imported only when a fused step is taken,
so ``import optarena`` stays light. tests/optim/test_fused.py holds them equal to ``update``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

try:
    import numba
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("optarena's fused kernels need numba: pip install numba") from exc

from ._spec import Array, HyperValues, OptimizerSpec, State

_CELLS: dict[str, Any] = {}
_STEP_KERNELS: dict[tuple[str, tuple[bool, ...]], Callable[..., None]] = {}


def compiled_cell(spec: OptimizerSpec) -> Any:
    """The spec's cell as a numba function that inlines into the kernels that call it."""
    if spec.name not in _CELLS:
        if spec.cell is None:
            raise ValueError(f"optimizer {spec.name!r} has no fused cell")
        # NumPy's error model: x / 0 gives inf as in the readable rule, and no zero-check
        # branches stand in the way of vectorising
        _CELLS[spec.name] = numba.njit(inline="always", error_model="numpy")(spec.cell)
    return _CELLS[spec.name]


def _make_step_kernel(cell: Any, present: tuple[bool, bool, bool]) -> Callable[..., None]:
    has0, has1, has2 = present  # frozen into the kernel: absent slots are never read or written

    @numba.njit(parallel=True, nogil=True, error_model="numpy")
    def kernel(p, g, s0, s1, s2, c, zero):  # pragma: no cover - compiled
        for i in numba.prange(p.size):
            a = s0[i] if has0 else zero
            b = s1[i] if has1 else zero
            d = s2[i] if has2 else zero
            pi, a, b, d = cell(p[i], g[i], a, b, d, c)
            p[i] = pi
            if has0:
                s0[i] = a
            if has1:
                s1[i] = b
            if has2:
                s2[i] = d

    return kernel


def step_coefficients(spec: OptimizerSpec, params: Array, state: State, hp: HyperValues) -> tuple[tuple, dict[str, Any]]:
    """This step's constants, rounded to the params' dtype as NumPy rounds Python floats (NEP 50)."""
    t = state["step"] + 1
    assert spec.coefficients is not None
    c, scalars = spec.coefficients(hp, t, hp["learning_rate"], {k: state[k] for k in spec.scalars})
    cast = params.dtype.type
    return tuple(cast(float(v)) for v in c), scalars


def step(spec: OptimizerSpec, params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    """One step of ``spec`` in place on contiguous ``params`` and ``state`` (scalar hyperparameters)."""
    c, scalars = step_coefficients(spec, params, state, hp)
    present = tuple(name in state for name in spec.slots) + (False,) * (3 - len(spec.slots))
    key = (spec.name, present)
    if key not in _STEP_KERNELS:
        _STEP_KERNELS[key] = _make_step_kernel(compiled_cell(spec), present)  # type: ignore[arg-type]
    flat = params.reshape(-1)
    empty = flat[:0]
    slots = [state[name].reshape(-1) if name in state else empty for name in spec.slots]
    slots += [empty] * (3 - len(slots))
    _STEP_KERNELS[key](flat, grads.reshape(-1), slots[0], slots[1], slots[2], c, params.dtype.type(0))
    state["step"] += 1
    state.update(scalars)
