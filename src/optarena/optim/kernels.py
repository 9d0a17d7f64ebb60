"""The fast paths: numba compiles each optimizer's ``cell`` (one element of its rule) into

* ``step_many``: one in-place pass over many separate arrays and their state in ONE parallel
  region (memory-bandwidth bound; the torch bridge steps a model's tensors with it: one launch
  instead of one per tensor), and ``step``, the same for one NumPy array, and
* the race loop in ``optarena.arena.fused``, which steps many 2-D runs for many steps.

Kernels are generated per (optimizer, which state slots exist) so absent slots cost no memory
traffic, and compiled on first use; this module is imported only when a fused step is taken,
so ``import optarena`` stays light. tests/optim/test_fused.py holds them equal to ``update``.
"""

from __future__ import annotations

import functools
from types import FunctionType
from typing import Any, Callable

import numpy as np

try:
    import numba
    from numba.core import types
    from numba.extending import intrinsic
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("optarena's fused kernels need numba: pip install numba") from exc

from ._spec import Array, HyperValues, OptimizerSpec, State

_CELLS: dict[Any, Any] = {}  # cell or helper -> its compiled form
_MANY_KERNELS: dict[tuple[str, tuple[bool, ...]], Callable[..., None]] = {}
_LAUNCHERS: dict[tuple[str, tuple[bool, ...], np.dtype, np.dtype], Callable[..., None]] = {}
_NO_COUNTERS = np.empty(0, dtype=np.int64)
_CHUNK = 1 << 16  # elements per work item of step_many: big enough to stream, small enough to balance


def _inlined(fn: Any) -> Any:
    """``fn`` compiled to inline into its callers, with the cell helpers it calls
    (``_spec.cell_helper``) compiled the same way. NumPy's error model: x / 0 gives inf as in the readable rule, and no
    zero-check branches stand in the way of vectorising."""
    if fn not in _CELLS:
        names = [n for n in fn.__code__.co_names if getattr(fn.__globals__.get(n), "_optarena_cell_helper", False)]
        code = fn
        if names:  # the same code, reading the compiled helpers from its globals
            scope = {**fn.__globals__, **{n: _inlined(fn.__globals__[n]) for n in names}}
            code = FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
        _CELLS[fn] = numba.njit(inline="always", error_model="numpy")(code)
    return _CELLS[fn]


def compiled_cell(spec: OptimizerSpec) -> Any:
    """The spec's cell as a numba function that inlines into the kernels that call it."""
    if spec.cell is None:
        raise ValueError(f"optimizer {spec.name!r} has no fused cell")
    return _inlined(spec.cell)


@intrinsic
def _pointer(typingctx, address, like):
    """An int64 address as a typed pointer (``like`` is a scalar of the element type)."""
    ptr = types.CPointer(like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(address, like), codegen


@intrinsic
def _prefer_wide_vectors(typingctx):
    """Lets LLVM vectorise the calling function with the CPU's widest vectors (512-bit on
    AVX-512 machines, whose tuning otherwise prefers 256-bit). A streaming pass keeps more loads
    in flight with them: 1-2% from DRAM, where torch's fused loop is AVX-512 too. Results are
    the same bits (IEEE add, mul, div and sqrt at any width, no contraction). It tags only the
    calling function, through llvmlite's attribute set (which lists no string attributes, so the
    tag is added past its check; without it nothing changes but the width)."""

    def codegen(context, builder, signature, args):
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # pragma: no cover - llvmlite changed: keep the default width
            pass
        return context.get_dummy_value()

    return types.void(), codegen


def _many_kernel_source(present: tuple[bool, ...], coefficients: tuple[str, ...]) -> str:
    """The ``step_many`` kernel for a cell with these state slots present and these coefficients:
    generated, so the cell gets one plain local per coefficient and per slot (numba sees scalars)
    and an absent slot costs no memory traffic (it is the constant ``zero``, never stored)."""
    S = len(present)
    slots = [f"s{k}" for k in range(S)]
    loads = "".join(f"        a{k} = s{k}[i]\n" if has else f"        a{k} = zero\n" for k, has in enumerate(present))
    stores = "".join(f"        s{k}[i] = a{k}\n" for k, has in enumerate(present) if has)
    unpack = "".join(f"    c_{name} = c[{i}]\n" for i, name in enumerate(coefficients))
    outs = ", ".join(["pi"] + [f"a{k}" for k in range(S)])
    ins = ", ".join(["p[i]", "g[i]"] + [f"a{k}" for k in range(S)] + [f"c_{n}" for n in coefficients])
    sliced = ", ".join(f"s{k}[lo:hi]" if has else "p[:0]" for k, has in enumerate(present))
    views = "".join(f"        s{k} = numba.carray(_pointer(addresses[j, {2 + k}], zero), n)\n"
                    for k, has in enumerate(present) if has)
    return f"""\
@numba.njit(nogil=True, error_model="numpy")
def chunk(p, g, {"".join(s + ", " for s in slots)}c, zero):
    _prefer_wide_vectors()
{unpack}    # indices from 0 over slices: numba then knows they are not negative, and LLVM
    # vectorises the loop (counting from a run-time `lo` kept it scalar, 4x slower)
    for i in range(p.size):
{loads}        {outs}, = cell({ins})
        p[i] = pi
{stores}

@numba.njit(parallel=True, nogil=True, error_model="numpy")
def kernel(zero, counter_zero, addresses, sizes, chunks, c, counters):
    # addresses[j] = (param, grad, slot 0, ...) of array j; an absent slot's address is never read
    for j in range(counters.size):  # serial, once: the arrays' step counters, + 1
        counter = numba.carray(_pointer(counters[j], counter_zero), 1)
        counter[0] += 1
    for k in numba.prange(chunks.shape[0]):
        j, lo, hi = chunks[k, 0], chunks[k, 1], chunks[k, 2]
        n = sizes[j]
        p = numba.carray(_pointer(addresses[j, 0], zero), n)
        g = numba.carray(_pointer(addresses[j, 1], zero), n)
{views}        chunk(p[lo:hi], g[lo:hi], {"".join(x + ", " for x in sliced.split(", ") if x)}c, zero)
"""


def _make_many_kernel(cell: Any, present: tuple[bool, ...], coefficients: tuple[str, ...]) -> Callable[..., None]:
    scope: dict[str, Any] = {"numba": numba, "cell": cell, "_pointer": _pointer, "_prefer_wide_vectors": _prefer_wide_vectors}
    source = _many_kernel_source(present, coefficients)
    exec(compile(source, f"<optarena step_many {len(present)} slots>", "exec"), scope)  # our own generated code
    return scope["kernel"]


@functools.lru_cache(maxsize=64)
def chunk_table(sizes: tuple[int, ...]) -> np.ndarray:
    """(array, first, stop) work items of at most ``_CHUNK`` elements covering every array
    (read-only: it is cached, a model steps the same sizes every time)."""
    rows = [(j, lo, min(lo + _CHUNK, n)) for j, n in enumerate(sizes) for lo in range(0, n, _CHUNK)]
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    table.flags.writeable = False
    return table


def many_kernel(spec: OptimizerSpec, present: tuple[bool, ...]) -> Callable[..., None]:
    """The compiled ``step_many`` kernel for ``spec`` with these state slots present."""
    present = tuple(present)
    if len(present) != len(spec.slots):
        raise ValueError(f"{spec.name}: {len(present)} slot flags for the spec's {len(spec.slots)} slots {spec.slots}")
    key = (spec.name, present)
    if key not in _MANY_KERNELS:
        _MANY_KERNELS[key] = _make_many_kernel(compiled_cell(spec), present, spec.coefficient_names)
    return _MANY_KERNELS[key]


def launcher(spec: OptimizerSpec, present: tuple[bool, ...], dtype: Any,
             counter_dtype: Any = np.float32) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]:
    """``launch(addresses, sizes, chunks, c, counters)``: ``step_many`` for one (spec, slots,
    dtype), its kernel and typed zeros bound once (the torch bridge keeps it with its plan:
    looking them up and making NumPy scalars cost ~50 us per step when Python runs cold)."""
    key = (spec.name, tuple(present), np.dtype(dtype), np.dtype(counter_dtype))
    if key not in _LAUNCHERS:
        _LAUNCHERS[key] = functools.partial(many_kernel(spec, present), key[2].type(0), key[3].type(0))
    return _LAUNCHERS[key]


def step_many(spec: OptimizerSpec, present: tuple[bool, ...], addresses: np.ndarray, sizes: np.ndarray,
              chunks: np.ndarray, c: np.ndarray, dtype: Any, counters: np.ndarray | None = None,
              counter_dtype: Any = np.float32) -> None:
    """One step in place on many arrays of one dtype, given by address: ``addresses`` is
    (n, 2 + len(spec.slots)) int64 (param, grad, then the spec's slots in order; an absent slot
    gives any value, e.g. the param's address: it is never read), ``sizes`` their element counts, ``chunks`` ``chunk_table(sizes)``,
    ``c`` this step's coefficients in that dtype (``step_coefficients``).
    ``counters``: addresses of scalars of ``counter_dtype`` (the torch bridge's step tensors),
    incremented by one in the same call. UNSAFE by design: every address must be a live, C-contiguous buffer of the stated
    dtype and size, kept alive by the caller for the call; the torch bridge checks its tensors."""
    launch = launcher(spec, present, dtype, counter_dtype)
    launch(addresses, sizes, chunks, c, _NO_COUNTERS if counters is None else counters)


def step_coefficients(spec: OptimizerSpec, dtype: Any, state: State, hp: HyperValues) -> tuple[np.ndarray, dict[str, Any]]:
    """This step's constants as one array of ``dtype`` (the params'), in the cell's argument
    order, rounded as NumPy rounds Python floats (NEP 50), and the per-parameter scalars after
    the step (NAdam's mu_product). One array, not a tuple: numba dispatches it faster."""
    t = state["step"] + 1
    assert spec.coefficients is not None
    c, scalars = spec.coefficients(hp, t, hp["learning_rate"], {k: state[k] for k in spec.scalars})
    return np.array([float(v) for v in ordered(spec, c)], dtype=dtype), scalars


def ordered(spec: OptimizerSpec, coefficients: dict[str, Any]) -> list[Any]:
    """``coefficients`` (by name) in the order the spec's cell takes them; a missing or extra
    name is the spec's bug, named here rather than as a wrong number in the kernel."""
    names = spec.coefficient_names
    if set(coefficients) != set(names):
        missing, extra = sorted(set(names) - set(coefficients)), sorted(set(coefficients) - set(names))
        raise ValueError(f"optimizer {spec.name!r}: coefficients() gave {sorted(coefficients)}, the cell takes "
                         f"{list(names)} (missing {missing}, extra {extra})")
    return [coefficients[n] for n in names]


def step(spec: OptimizerSpec, params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    """One step of ``spec`` in place on C-contiguous ``params`` and ``state`` arrays of one
    float dtype (scalar hyperparameters): ``step_many`` with one array."""
    arrays = [params] + [state[k] for k in spec.slots if k in state]
    if any(not a.flags.c_contiguous or not a.flags.writeable or a.dtype != params.dtype or a.size != params.size
           for a in arrays):
        raise ValueError("fused step: params and state must be writeable C-contiguous arrays of one dtype and size")
    g = np.ascontiguousarray(grads, dtype=params.dtype)  # alive until the kernel has run
    if g.size != params.size:
        raise ValueError(f"fused step: {g.size} gradients for {params.size} parameters")
    c, scalars = step_coefficients(spec, params.dtype, state, hp)
    base = params.ctypes.data
    row = [base, g.ctypes.data] + [state[k].ctypes.data if k in state else base for k in spec.slots]
    sizes = (params.size,)
    step_many(spec, tuple(k in state for k in spec.slots), np.array([row], dtype=np.int64),
              np.array(sizes, dtype=np.int64), chunk_table(sizes), c, params.dtype.type)
    state["step"] += 1
    state.update(scalars)
