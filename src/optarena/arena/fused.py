"""The race as one compiled loop: every run steps through all its steps inside numba.

Used by ``engine.race`` when every racer has a fused cell and the landscape compiles; it gives
the NumPy engine's numbers (tests/arena/test_fused_race.py). Per-step constants come from the
optimizer's vectorised ``coefficients``, each kept in the shape it has (one number, one per step,
one per setting, or one per step and setting: ``coefficient_columns``), so the loop does only the
landscape's gradient and the cell, for x and y, per run and step, and a sweep of 10,000 settings
reads kilobytes of constants instead of a (steps, settings, K) table of hundreds of megabytes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

import numba
import numpy as np

from ..landscapes import Landscape, Parametric
from ..optim import OptimizerSpec, kernels

#: Largest coefficient table (steps x settings x K floats) built before falling back to NumPy.
MAX_TABLE = 64_000_000
_FUNCS: dict[Any, tuple[Any, Any] | None] = {}
#: Race loops a process keeps, the least recently used dropped beyond ($OPTARENA_KERNEL_CACHE
#: overrides): a dropped loop is loaded again from the disk cache when a race needs it.
KERNEL_CACHE = 32


class KernelCache(OrderedDict):
    """The race loops this process keeps, least recently used first; ``dropped`` counts those
    let go (numba keeps a dropped loop's machine code, so the budget counts them too)."""

    dropped = 0


_KERNELS: dict[Any, Callable[..., None]] = KernelCache()
_LOCK = threading.Lock()
_MODULES = threading.Lock()  # held while a generated loop's module is made (``generated_kernel``)


def kernel_cache_size() -> int:
    """How many race loops a process keeps: $OPTARENA_KERNEL_CACHE, else ``KERNEL_CACHE``."""
    text = os.environ.get("OPTARENA_KERNEL_CACHE", "").strip()
    return max(1, int(text)) if text.isdigit() else KERNEL_CACHE


def kernels_made() -> int:
    """Race loops this process has compiled or loaded: those kept and those dropped."""
    return len(_KERNELS) + getattr(_KERNELS, "dropped", 0)


def used(key: Any) -> Callable[..., None]:
    """The kept loop under ``key``, marked most recently used."""
    kernel = _KERNELS[key]
    touch = getattr(_KERNELS, "move_to_end", None)  # a test's plain dict has no order to keep
    if touch is not None:
        with _LOCK:
            if key in _KERNELS:
                touch(key)
    return kernel


def _drop_least_used() -> None:
    """Let go of the least recently used loops beyond ``kernel_cache_size()``."""
    with _LOCK:
        while len(_KERNELS) > kernel_cache_size():
            del _KERNELS[next(iter(_KERNELS))]
            if isinstance(_KERNELS, KernelCache):
                _KERNELS.dropped += 1


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


def kernel_landscape_key(ls: Landscape) -> Any:
    """What a race loop of per-element cells is kept under: for one value of a family whose
    parameters are data (``Landscape.parametric``) the family's code, the same for every kappa and
    theta; else ``landscape_key``, its values included."""
    par = ls.parametric
    if par is None:
        return landscape_key(ls)
    return (ls.name, "parametric", len(par.values), _code_key(par.f), _code_key(par.grad))


_FAMILIES: dict[Any, tuple[Any, Any] | None] = {}


def compiled_parametric(ls: Landscape) -> tuple[Any, Any] | None:
    """(f, grad) of ``ls.parametric`` compiled for scalars and a float64 array of parameters,
    once per family; None when its code is not numba-compatible."""
    par = ls.parametric
    assert par is not None
    key = (_code_key(par.f), _code_key(par.grad))
    if key not in _FAMILIES:
        try:
            f = numba.njit(inline="always", error_model="numpy")(par.f)
            g = numba.njit(inline="always", error_model="numpy")(par.grad)
            p = np.asarray(par.values, dtype=np.float64)
            _check(lambda: (f(0.5, 0.25, p), g(0.5, 0.25, p)), par.f, par.grad)  # compile now: fail here, not mid-race
            _FAMILIES[key] = (f, g)
        except Exception:  # numba raises many error types for unsupported Python
            _FAMILIES[key] = None
    return _FAMILIES[key]


def _check(compile_now: Callable[[], Any], *functions: Any) -> None:
    """Compile a landscape's ``functions`` to learn whether numba can (raises when it cannot): in a
    child process when a server asks (``run_apart``), where the race loop that inlines them is
    compiled too, so this process never compiles them itself. A pass is remembered in the disk
    cache (``_checked``): a new process or server worker does not compile them again to know."""
    if _checked(functions):
        return
    verdict = run_apart(compile_now)
    if verdict is None:
        compile_now()
    elif not verdict:
        raise TypeError("the landscape's code does not compile with numba")
    _checked(functions, passed=True)


def _checked(functions: tuple[Any, ...], passed: bool = False) -> bool:
    """Whether ``functions`` (importable ones) passed ``_check`` in this or an earlier process;
    ``passed``: record that they just did."""
    import hashlib

    folder = cache_dir() if functions and all(_importable(fn) for fn in functions) else None
    if folder is None:
        return False
    digest = hashlib.sha256(b"\0".join([CACHE_FORMAT.encode(), sys.version.encode(),
                                         *(_fingerprint(fn) for fn in functions)])).hexdigest()[:24]
    mark = folder / "checked" / digest
    if passed:
        try:
            mark.parent.mkdir(exist_ok=True)
            mark.touch()
        except OSError:
            pass  # not remembered: the next process checks again
    return mark.exists()


def _bound(family: tuple[Any, Any], values: tuple[float, ...]) -> tuple[Any, Any]:
    """A family's compiled (f, grad) as functions of (x, y) with ``values`` frozen in (for the
    loops that take a landscape of two arguments: L-BFGS's, Newton's); compiled when first called."""
    f, grad = Parametric(*family, tuple(float(v) for v in values)).bound()
    jit = numba.njit(inline="always", error_model="numpy")
    return jit(f), jit(grad)


def compiled_landscape(ls: Landscape) -> tuple[Any, Any] | None:
    """(f, grad) compiled for scalars, or None when the landscape's code is not numba-compatible.
    One value of a family (``ls.parametric``) is checked by compiling the family, once."""
    if ls.parametric is not None:
        family = compiled_parametric(ls)
        return None if family is None else _bound(family, ls.parametric.values)
    key = landscape_key(ls)
    if key not in _FUNCS:
        try:
            f = numba.njit(inline="always", error_model="numpy")(ls.f)
            g = numba.njit(inline="always", error_model="numpy")(ls.grad)
            _check(lambda: (f(0.5, 0.25), g(0.5, 0.25)), ls.f, ls.grad)  # compile now: fail here, not mid-race
            _FUNCS[key] = (f, g)
        except Exception:  # numba raises many error types for unsupported Python
            _FUNCS[key] = None
    return _FUNCS[key]


def kernel_key(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> Any:
    """Where the race loop of ``spec`` on ``ls`` is kept in ``_KERNELS``: a per-element cell's loop
    takes a family's parameters as data (``kernel_landscape_key``); the loops of their own
    (``fused_lbfgs``, ``fused_newton``) compile a landscape's values in."""
    return (spec.name, present, kernel_landscape_key(ls) if spec.cell is not None else landscape_key(ls), record)


def is_warm(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> bool:
    """Whether the loop is ready: compiled or loaded in this process (one another thread is still
    compiling is not, so a small race runs on NumPy instead of waiting for that compile), or left
    in the disk cache by an earlier process or another server worker (loaded in ~25 ms)."""
    return _ready(spec, ls, present, record) or spec.cell is not None and on_disk(spec, ls, present, record)


def _ready(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> bool:
    kernel = _KERNELS.get(kernel_key(spec, ls, present, record))
    return kernel is not None and bool(getattr(kernel, "signatures", True))


_ON_DISK: set[Any] = set()


def on_disk(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> bool:
    """Whether the race loop of ``spec``'s cell on ``ls`` is in the disk cache. Known without
    compiling anything: False for a landscape never checked in the cache (``_checked``)."""
    key = kernel_key(spec, ls, present, record)
    if key in _ON_DISK:
        return True
    par = ls.parametric
    if not _checked((ls.f, ls.grad) if par is None else (par.f, par.grad)):
        return False
    funcs = compiled_landscape(ls) if par is None else compiled_parametric(ls)  # checked: nothing compiles
    if funcs is None or spec.cell is None:
        return False
    prefix, _, fields, fingerprinted, extra = _race_loop(kernels.compiled_cell(spec), funcs[0], funcs[1], present,
                                                        record, spec.coefficient_names, par is not None)
    folder = cache_dir()
    if folder is None or not all(_importable(fn) for fn in fingerprinted):
        return False
    if _cached(folder, prefix, _digest(_KERNEL_SOURCE, fields, fingerprinted, extra)):
        _ON_DISK.add(key)
        return True
    return False


def kernel_budget() -> int | None:
    """How many race loops this process may compile or load: $OPTARENA_KERNEL_BUDGET, unlimited
    when unset. Each takes ~7 MB of machine code that numba never gives back, even once dropped
    from the cache, so a server (which sets a budget) would otherwise grow with every new
    optimizer x landscape x formula its clients send; past the budget, races run on the NumPy
    engine, with the same numbers."""
    text = os.environ.get("OPTARENA_KERNEL_BUDGET", "").strip()
    return int(text) if text.isdigit() else None


def may_compile(spec: OptimizerSpec, ls: Landscape, present: tuple[bool, ...], record: bool) -> bool:
    budget = kernel_budget()
    return budget is None or kernels_made() < budget or _ready(spec, ls, present, record)


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
        scope: dict[str, Any] = {"__name__": __name__}  # an importable module: numba's disk cache rebuilds it
        exec(compile(src, f"<optarena row {k}>", "exec"), scope)  # our own generated code, no user text
        _ROWS[k] = numba.njit(inline="always")(scope["row"])
    return _ROWS[k]


# The race loop is generated as source, one file per (optimizer cell, landscape, state slots,
# recording, coefficients), named by a hash of everything that goes into it, and compiled with
# numba's disk cache: a second process loads it in milliseconds instead of compiling for seconds.
# The file only names its parts; the running process hands them over through _PARTS.
_KERNEL_SOURCE = """\
# Generated by optarena.arena.fused: the compiled race loop of one optimizer x landscape.
# It is named by a hash of its parts' code (and numba's own cache checks this file), so it is
# never stale; delete the folder at will.
import math

import numba
import numpy as np

from optarena.arena.fused import _PARTS

cell, f, grad = _PARTS[{digest!r}]
record, CHUNK = {record}, {chunk}


# Not numba-parallel: threads in ``run_group`` split the runs instead, which compiles in a
# fraction of the time (each new optimizer x landscape pair compiles one kernel).
@numba.njit(nogil=True, error_model="numpy", cache={cache})
{body}"""
_PARTS: dict[str, tuple[Any, ...]] = {}
#: Part of every kernel's hash: changed when the way kernels are made changes, so entries written
#: by an earlier way are never loaded.
CACHE_FORMAT = "optarena.kernel/5"
LOG = logging.getLogger("optarena")
_KERNEL_BODY = """\
def kernel(P0, S0, CV, CO, T, hidx, noise, sidx, clip, lo, hi, target, lp, pos, loss, gnorm, dstep, best, reach, div,
           reason, first, last):  # pragma: no cover
    use_noise = noise.shape[0] > 0
    x0, x1, y0, y1 = lo[0], hi[0], lo[1], hi[1]
{coefficient_strides}    for r0 in range(first, last, CHUNK):
        B = min(CHUNK, last - r0)
        X = P0[r0:r0 + B, 0].copy()
        Y = P0[r0:r0 + B, 1].copy()
        PX = X.copy()
        PY = Y.copy()
        Z = np.zeros(B)
{slot_loads}        FV = np.empty(B)
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
                fv = f(x, y{lp})
                FV[j] = fv
                GX[j], GY[j] = grad(x, y{lp})
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
{unpack_uniform}                for j in range(B):
                    {step_x}
                    {step_y}
            else:
                for j in range(B):
{unpack_each}                    {step_x}
                    {step_y}
        for j in range(B):
            best[r0 + j] = bst[j]
            reach[r0 + j] = rch[j]

"""


def cache_dir() -> Path | None:
    """Where compiled race loops are kept between processes: $OPTARENA_CACHE_DIR, else
    $XDG_CACHE_HOME/optarena (~/.cache/optarena); None (compile in memory) when it is set to
    an empty string or cannot be written."""
    env = os.environ.get("OPTARENA_CACHE_DIR")
    if env is not None:
        root = Path(env) if env else None
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optarena"
    if root is None:
        return None
    folder = root / f"kernels-numba{numba.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _fingerprint(fn: Any, seen: set[int] | None = None) -> bytes:
    """The code behind ``fn`` (a function or numba dispatcher), its closure values and the
    functions it calls, as bytes that are equal in every process for the same code."""
    seen = set() if seen is None else seen
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None or id(py) in seen:
        return repr(fn).encode() if code is None else b""
    seen.add(id(py))
    out = [_code_bytes(code)]
    out += [repr(c.cell_contents).encode() if not callable(c.cell_contents) else _fingerprint(c.cell_contents, seen)
            for c in (py.__closure__ or ())]
    for name in code.co_names:
        g = py.__globals__.get(name)
        if callable(g) and (hasattr(g, "__code__") or hasattr(g, "py_func")):
            out.append(name.encode() + _fingerprint(g, seen))
    return b"\0".join(out)


def _code_bytes(code: Any) -> bytes:
    """A code object's instructions, names and constants (nested code too) as bytes. Not marshal's:
    it marks objects by their reference counts, which differ between processes and even within one
    (a compile takes references), so the same code would get another digest. Not its file name
    or line either: sympy numbers its generated files."""
    consts = [_code_bytes(c) if hasattr(c, "co_code") else repr(c).encode() for c in code.co_consts]
    names = (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars, code.co_argcount,
             code.co_kwonlyargcount, code.co_flags)
    return b"\1".join([code.co_code, repr(names).encode(), *consts])


def _importable(fn: Any) -> bool:
    name = getattr(getattr(fn, "py_func", fn), "__globals__", {}).get("__name__")
    return isinstance(name, str) and name in sys.modules


def _kernel_body(present: tuple[bool, ...], coefficients: tuple[str, ...], parametric: bool = False) -> str:
    """The race loop's body for a cell with these slots present and these coefficients: one local
    array per slot and axis (absent slots share zeros, never read back), the coefficients of a step
    read into one named local each from ``coefficient_columns``'s (CV, CO), their offsets and
    strides once per call; with ``parametric``, f and grad take the landscape's parameters ``lp``
    (the loop's argument) as data."""
    loads = "".join(f"        S{k}X = S0[{k}, r0:r0 + B, 0].copy()\n        S{k}Y = S0[{k}, r0:r0 + B, 1].copy()\n"
                    if has else f"        S{k}X = Z\n        S{k}Y = Z\n" for k, has in enumerate(present))
    names = [f"c_{n}" for n in coefficients]
    strides = "".join(f"    o{i}, o{i}t, o{i}h = CO[{i}, 0], CO[{i}, 1], CO[{i}, 2]\n" for i in range(len(names)))

    def unpack(indent: str, h: str) -> str:  # coefficient i of step t, setting h: see coefficient_columns
        return f"{indent}hh = {h}\n" + "".join(f"{indent}{n} = CV[o{i} + t * o{i}t + hh * o{i}h]\n"
                                                for i, n in enumerate(names)) if names else ""

    def step(axis: str) -> str:
        slots = [f"S{k}{axis}[j]" for k in range(len(present))]
        outs = ", ".join([f"{axis}[j]"] + slots) + ","
        return f"{outs} = cell({', '.join([f'{axis}[j]', f'G{axis}[j]'] + slots + names)})"

    return _KERNEL_BODY.format(slot_loads=loads, coefficient_strides=strides, unpack_uniform=unpack(" " * 16, "H[0]"),
                               unpack_each=unpack(" " * 20, "H[j]"), step_x=step("X"), step_y=step("Y"),
                               lp=", lp" if parametric else "")


def _make_kernel(cell: Any, f: Any, grad: Any, present: tuple[bool, ...], record: bool,
                 coefficients: tuple[str, ...], parametric: bool = False, what: str = "a race",
                 use_cache: bool = True) -> Callable[..., None]:
    """The race loop for these parts: loaded from the disk cache when an earlier process compiled
    it, else compiled (seconds) and saved. Says which on the ``optarena`` logger (INFO), so a face
    can tell its user why the first run waits."""
    prefix, parts, fields, fingerprinted, extra = _race_loop(cell, f, grad, present, record, coefficients, parametric)
    return generated_kernel(prefix, _KERNEL_SOURCE, fields, _PARTS, parts, fingerprinted, extra, what, use_cache)


def _race_loop(cell: Any, f: Any, grad: Any, present: tuple[bool, ...], record: bool, coefficients: tuple[str, ...],
               parametric: bool) -> tuple[str, tuple, dict[str, Any], tuple, list[bytes]]:
    """What ``generated_kernel`` makes a cell's race loop from: (prefix, parts, fields, fingerprinted, extra)."""
    n_coeffs = len(coefficients)
    fields = dict(record=record, chunk=CHUNK, body=_kernel_body(present, coefficients, parametric))
    return "race", (cell, f, grad), fields, (cell, f, grad), [str(n_coeffs).encode()]


def _digest(template: str, fields: dict[str, Any], fingerprinted: tuple, extra: list[bytes]) -> str:
    """A generated loop's name: a hash of its template, ``extra``, its parts' code and Python's version."""
    import hashlib

    return hashlib.sha256(b"\0".join([
        CACHE_FORMAT.encode(), template.format(digest="", cache=True, **fields).encode(), *extra,
        *(_fingerprint(fn) for fn in fingerprinted), sys.version.encode()])).hexdigest()[:24]


def _cached(folder: Path, prefix: str, digest: str) -> bool:
    """Whether numba's disk cache in ``folder`` holds the loop ``<prefix>_<digest>``."""
    return any((folder / "__pycache__").glob(f"{prefix}_{digest}.kernel-*.nbi"))


def generated_kernel(prefix: str, template: str, fields: dict[str, Any], store: dict[str, Any], parts: tuple,
                     fingerprinted: tuple, extra: list[bytes], what: str, use_cache: bool = True) -> Callable[..., None]:
    """``kernel`` of the module generated from ``template`` (formatted with ``fields``, ``digest``
    and ``cache``), whose ``parts`` it reads from ``store`` under the digest: every compiled race
    loop (this module's, ``fused_lbfgs``'s, ``fused_newton``'s) is made here. Named by a hash of the
    template, ``extra`` and the ``fingerprinted`` parts' code; kept as ``<prefix>_<digest>.py`` in the
    cache folder, so a second process loads it instead of compiling (seconds). numba's disk cache
    re-imports the module of every function it compiled in: parts made at run time with no
    importable module (a typed formula's lambdified code) compile in memory instead."""
    import hashlib

    folder = cache_dir() if use_cache and all(_importable(fn) for fn in parts) else None
    digest = _digest(template, fields, fingerprinted, extra)
    store[digest] = parts
    source = template.format(digest=digest, cache=folder is not None, **fields)
    cached = folder is not None and _cached(folder, prefix, digest)
    LOG.info("%s the race loop for %s%s", "loading" if cached else "compiling", what,
             "" if cached else " (once; kept for later runs)" if folder is not None else " (once in this process)")
    if folder is None:
        scope: dict[str, Any] = {}
        exec(compile(source, f"<optarena {prefix} loop {digest}>", "exec"), scope)  # our own generated code
        return scope["kernel"]
    path = folder / f"{prefix}_{digest}.py"
    if not path.exists() or path.read_text() != source:
        from .._files import atomic_write

        atomic_write(path, source)  # another process may write the same file: same bytes, atomic
    import importlib.util

    # one module per file: the same kernel from another cache folder (OPTARENA_CACHE_DIR changed) is
    # that folder's own module, so its cache entries are the ones read and written
    name = f"optarena_{prefix}_{digest}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    with _MODULES:  # two requests making the same loop: neither may read the other's half-run module
        if name not in sys.modules:  # numba's cache finds a kernel's module by name when it loads it
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None  # a .py file path always has a source loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        return sys.modules[name].kernel


def coefficient_values(spec: OptimizerSpec, hp: dict[str, Any], schedule: Any, steps: int) -> tuple[list[np.ndarray], int]:
    """The cell's coefficients (in its order) for steps 1..``steps`` and H settings (numeric
    hyperparameters as (H,) arrays), each as float64 in the shape it has: () one number, (steps, 1)
    one per step, (H,) one per setting, (steps, H) one per step and setting; and H. A hyperparameter
    equal in every setting enters as one value, and a constant schedule's rate as the base rate
    itself, so what varies only by step (Adam's bias corrections when the betas are not swept) is
    computed once per step, not once per step and setting."""
    from ..optim.schedules import Constant

    assert spec.coefficients is not None
    k = np.arange(steps)[:, None]
    H = max((np.size(v) for v in hp.values() if not isinstance(v, bool)), default=1)
    hp = {name: v[:1] if isinstance(v, np.ndarray) and v.ndim == 1 and v.size > 1 and (v == v[0]).all() else v
          for name, v in hp.items()}
    base = hp["learning_rate"]
    lr = np.asarray(base if isinstance(schedule, Constant) else schedule(k, base), dtype=np.float64)
    init = {name: 1.0 for name in spec.scalars}  # NAdam's running product starts at 1
    named, _ = spec.coefficients(hp, k + 1, lr, init)
    values = [np.asarray(c, dtype=np.float64) for c in kernels.ordered(spec, named)]
    for name, v in zip(spec.coefficient_names, values):
        if np.broadcast_shapes(v.shape, (steps, H)) != (steps, H):  # a spec's bug, named here
            raise ValueError(f"optimizer {spec.name!r}: coefficient {name!r} has shape {v.shape}, "
                             f"not one that broadcasts to (steps, settings) = {(steps, H)}")
    return values, H


def coefficient_table(spec: OptimizerSpec, hp: dict[str, Any], schedule: Any, steps: int) -> np.ndarray:
    """(steps, H, K) constants for H settings (numeric hyperparameters as (H,) arrays)."""
    values, H = coefficient_values(spec, hp, schedule, steps)
    table = np.empty((steps, H, len(values)), dtype=np.float64)
    for i, v in enumerate(values):
        table[:, :, i] = v  # broadcasts numbers, (H,) rows and (steps, 1) columns
    return table


def coefficient_columns(spec: OptimizerSpec, hp: dict[str, Any], schedule: Any, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients as the race loop reads them: ``CV``, each coefficient's values one after
    another in the shape it has (``coefficient_values``), and ``CO``, (K, 3) int64: coefficient i's
    offset in CV and its strides along steps and settings, 0 along an axis it does not vary on. Its
    value at step t + 1 for setting h is CV[o + t * st + h * sh]: the table's number, without the
    table (a 10,000-setting sweep's would be hundreds of MB, read once per run and step)."""
    values, H = coefficient_values(spec, hp, schedule, steps)
    flat: list[np.ndarray] = []
    CO = np.zeros((len(values), 3), dtype=np.int64)
    at = 0
    for i, v in enumerate(values):
        c = np.ascontiguousarray(v)
        strides = np.broadcast_to(c, (steps, H)).strides
        CO[i] = at, strides[0] // c.itemsize, strides[1] // c.itemsize
        flat.append(c.ravel())
        at += c.size
    CV = np.concatenate(flat) if flat else np.zeros(0)
    return CV, CO


def run_group(spec: OptimizerSpec, ls: Landscape, hp: dict[str, Any], schedule: Any, hidx: np.ndarray,
              P0: np.ndarray, state0: Mapping[str, Any], noise: np.ndarray | None, sidx: np.ndarray,
              clip: float | None, lo: np.ndarray, hi: np.ndarray, target: float, steps: int,
              record: bool, should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Run one group's runs (rows of P0, settings ``hp[...][hidx]``) for the whole race.

    The runs go to the kernel in tasks of whole chunks; ``should_stop`` is asked before each task
    (a task is at most ``TASK_WORK`` run-steps, a few ms), and ``Cancelled`` raised when it fires."""
    par = ls.parametric
    funcs = compiled_landscape(ls) if par is None else compiled_parametric(ls)
    assert funcs is not None
    present = tuple(name in state0 for name in spec.slots)
    CV, CO = coefficient_columns(spec, hp, schedule, steps)
    key = kernel_key(spec, ls, present, record)
    new = key not in _KERNELS
    parts = (kernels.compiled_cell(spec), funcs[0], funcs[1], present, record, spec.coefficient_names, par is not None)
    if new:
        _KERNELS[key] = _make_kernel(*parts, what=f"{spec.title} x {ls.title}")
    n = len(P0)
    S0 = np.zeros((len(spec.slots), n, 2))
    for i, name in enumerate(spec.slots):
        if name in state0:
            S0[i] = state0[name]
    out = new_outputs(n, steps, record)
    args = (np.ascontiguousarray(P0, dtype=np.float64), S0, CV, CO, int(steps), hidx.astype(np.int64),
            np.zeros((0, 1, 2)) if noise is None else noise, sidx.astype(np.int64),
            0.0 if clip is None else float(clip), lo, hi, float(target),
            np.zeros(0) if par is None else np.asarray(par.values, dtype=np.float64), out["pos"], out["loss"],
            out["gnorm"], out["dstep"], out["best"], out["reach"], out["div"], out["reason"])
    kernel = first_call(key, args, f"{spec.title} x {ls.title}",
                        lambda: _make_kernel(*parts, what=f"{spec.title} x {ls.title}", use_cache=False)) if new else used(key)
    threads = min(THREADS, max(1, (n * steps) // MIN_WORK_PER_THREAD))
    # Many whole-chunk tasks on a few threads balance runs that diverge early (cheap) against ones
    # that run the full budget (the kernel releases the GIL); small tasks also bound how long a
    # cancelled race keeps a core busy.
    chunks = (n + CHUNK - 1) // CHUNK
    n_tasks = max(8 * threads if threads > 1 else 1, -(-n * steps // TASK_WORK))
    bounds = np.unique(np.linspace(0, chunks, min(chunks, n_tasks) + 1).astype(int)) * CHUNK
    run_tasks(kernel, args, np.minimum(bounds, n), threads, should_stop)
    return out


def first_call(key: Any, args: tuple, what: str, afresh: Callable[[], Callable[..., None]]) -> Callable[..., None]:
    """The kernel kept under ``key``, called once on no runs so it is compiled or loaded now; a disk
    cache entry that cannot be loaded (numba's loader raises what unpickling raises: ImportError,
    EOFError, ...) is replaced by ``afresh()``, compiled without the cache. The least recently used
    loops beyond ``kernel_cache_size()`` are then let go."""
    kernel = _KERNELS[key]
    try:
        compile_apart(kernel, args)  # when it can: then the call below loads what the child wrote
        kernel(*args, 0, 0)
    except Exception as exc:
        LOG.warning("the cached race loop for %s could not be loaded (%s: %s); compiling it afresh",
                    what, type(exc).__name__, exc)
        kernel = _KERNELS[key] = afresh()
    _drop_least_used()
    return kernel


#: Set (to 1) by ``optarena serve``: see ``compile_apart``.
ENV_COMPILE_APART = "OPTARENA_COMPILE_APART"
#: Seconds a child may compile before it is stopped and the loop is compiled in the process itself.
COMPILE_TIMEOUT = 120.0


def prime() -> None:
    """Set up numba's CPU target now, once: its first use loads the target's registries, ~0.5 s
    with the GIL held in stretches of 50-70 ms. A server (``compile_apart``) does it before it answers,
    so the first loop it loads from a child's cache does not hold up another user's answer."""
    from numba.core.registry import cpu_target

    cpu_target.target_context.refresh()


def compile_apart(kernel: Any, args: tuple) -> bool:
    """Compile ``kernel`` (for ``args``) in a forked child process that writes numba's disk cache,
    while this process waits without holding its interpreter: a compile holds the GIL for stretches
    of 100-300 ms over its seconds, which a server's other users would wait through (issue 14).
    The caller's next call then loads the loop from the cache (milliseconds). Only where
    $OPTARENA_COMPILE_APART is 1, the loop has a disk cache and is not in it yet; True when the
    child wrote it, False when nothing was done or the child failed (the caller compiles here)."""
    try:
        index = Path(kernel._cache._cache_file._index_path)  # numba's: absent for a loop without a disk cache
    except AttributeError:
        return False
    return not index.exists() and bool(run_apart(lambda: kernel(*args, 0, 0))) and index.exists()


def run_apart(work: Callable[[], Any]) -> bool | None:
    """``work()`` in a forked child, at a lower priority, this process waiting without the GIL:
    whether it succeeded, or None where $OPTARENA_COMPILE_APART is not 1 (or there is no fork)."""
    if os.environ.get(ENV_COMPILE_APART) != "1" or not hasattr(os, "fork"):
        return None
    import signal
    import time

    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:  # no other thread is inside numba's compiler when the child is made
        pid = os.fork()
    if pid == 0:  # the child: compile, write the cache, leave without running the parent's exit code
        code = 1
        try:
            signal.set_wakeup_fd(-1)  # the parent's event loop must not hear the child's signals
            os.nice(10)  # a core it shares with the server's answers goes to the answers first
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            work()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + COMPILE_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            LOG.warning("compiling apart took over %g s; compiling here", COMPILE_TIMEOUT)
            return False
        time.sleep(0.02)  # sleeping lets go of the GIL


def run_tasks(kernel: Callable[..., None], args: tuple, bounds: np.ndarray, threads: int,
              should_stop: Callable[[], bool] | None) -> None:
    """``kernel(*args, a, b)`` for each task [a, b) between consecutive ``bounds``, on ``threads``
    threads (the kernels release the GIL); ``should_stop`` is asked before each task, and a
    stopped race raises ``Cancelled`` once the running tasks end. A ``should_stop`` with a
    ``pace(done, total)`` method (``engine.Paced``: a race with a deadline) hears the runs done
    after each task and may raise ``OverBudget``: the tasks not started are then skipped."""
    from .engine import Cancelled

    stopped = False
    pace = getattr(should_stop, "pace", None)
    total, done = int(bounds[-1] - bounds[0]), 0
    lock = threading.Lock()

    def task(a: int, b: int) -> None:
        nonlocal stopped, done
        if stopped or (should_stop is not None and should_stop()):
            stopped = True
            return
        kernel(*args, int(a), int(b))
        if pace is not None:
            with lock:
                done += int(b - a)
                finished = done
            try:
                pace(finished, total)
            except BaseException:
                stopped = True  # the tasks still queued return at once
                raise

    if threads == 1:
        for a, b in zip(bounds[:-1], bounds[1:]):
            task(a, b)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(task, bounds[:-1], bounds[1:]))
    if stopped:
        raise Cancelled(f"race stopped before its last {len(bounds) - 1}-task batch finished")


def new_outputs(n: int, steps: int, record: bool) -> dict[str, np.ndarray]:
    """The per-run result arrays, NaN / -1 where nothing was recorded."""
    T = steps + 1 if record else 1
    return {
        "pos": np.full((n, T, 2), np.nan), "loss": np.full((n, T), np.nan), "gnorm": np.full((n, T), np.nan),
        "dstep": np.full((n, T), np.nan), "best": np.full(n, np.inf), "reach": np.full(n, -1, np.int64),
        "div": np.full(n, -1, np.int64), "reason": np.zeros(n, np.int8),
    }
