"""Loss landscapes: 2-D surfaces with exact gradients, and the registry that names them.

    >>> from optarena import landscapes
    >>> landscapes.get("rosenbrock").f(1.0, 1.0)
    0.0

``resolve`` turns any way of naming a landscape (a Landscape, a registered name, a config's
``{"name", "params"}`` or ``{"formula", "window"}``) into one; it is what the faces call.
Errors are ``optarena.errors.UsageError``s whose ``field`` names the part of that reference at
fault (``name``, ``params.kappa``, ``formula``, ``window``); a face prefixes where the reference
sits in its own input (``landscape.name``).

Importing this package pulls in NumPy only; ``from_formula`` loads sympy on first use.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

from ..errors import UsageError, UsageTypeError
from ._base import Landscape, Parametric, Point
from .nd import NDLandscape
from .registry import DEFAULT, AnyLandscape, get, names, params_schema, register

__all__ = [
    "DEFAULT", "AnyLandscape", "FormulaError", "Landscape", "NDLandscape", "Parametric", "from_formula", "get", "names",
    "params_schema", "planar", "register", "resolve",
]


def from_formula(text: str, window: Sequence[tuple[float, float]] | None = None) -> AnyLandscape:
    """A landscape from a formula in x and y, e.g. ``"x**2 + 10*y**2"`` (a ``Landscape``), or in
    x1 ... xN, N <= 64, e.g. ``"x1^2 + 10*x2^2 + (x3 - 1)^2"`` (an ``NDLandscape`` when N > 2;
    ``window``: N (min, max) pairs). Needs sympy; see ``formula`` for the grammar and limits.

    Its minimum is claimed only when found and verified (``minimum_kind``; see
    ``formula._verified_minimum``, ``_verified_minimum_nd`` in N-D). Cached: building one parses, differentiates and searches the
    window for that minimum (~tens of ms), and the web arena asks for the same formula on every
    slider move. Landscapes are frozen,
    so sharing them is safe; rejected formulas are not cached (they raise).
    """
    win = None if window is None else _window(window)
    return _formula_cached(text, win)


def planar(ls: AnyLandscape, face: str = "this", field: str = "landscape") -> Landscape:
    """``ls`` when its points are on the plane; else ``UsageError`` naming ``field`` and what races it."""
    if isinstance(ls, Landscape):
        return ls
    raise UsageError(f"{face} works on landscapes of the plane, and {ls.title!r} has {ls.dim} coordinates; race it "
                     "(optarena race, or race() in Python: beyond 2-D the view is a plane through the paths)",
                     field=field)


def _window(window: Any) -> tuple[Point, ...]:
    """(min, max) pairs as a hashable tuple of floats; the formula checks their number."""
    try:
        pairs = tuple((float(a), float(b)) for a, b in window)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) < 2:
        raise UsageTypeError("window must be ((xmin, xmax), (ymin, ymax)), or one (min, max) pair per coordinate "
                             f"x1 ... xN, with min < max, got {window!r}", field="window")
    return pairs


def resolve(landscape: AnyLandscape | str | Mapping[str, Any] | None = None,
            params: Mapping[str, Any] | None = None) -> AnyLandscape:
    """The landscape a face or a config names: None (the default), a Landscape, a registered name
    (with ``params`` for a parameterised one), ``{"name": ..., "params": {...}}`` or
    ``{"formula": ..., "window": ...}`` (what ``arena.plan.landscape_ref`` writes)."""
    if landscape is None:
        return get(DEFAULT, **dict(params or {}))
    if isinstance(landscape, (Landscape, NDLandscape)):
        return landscape
    if isinstance(landscape, str):
        return get(landscape, **dict(params or {}))
    if not isinstance(landscape, Mapping):
        raise UsageTypeError("a landscape is a name, a Landscape or {'name': ..., 'params': {...}} / "
                             f"{{'formula': ..., 'window': ...}}, got {type(landscape).__name__}")
    d = dict(landscape)
    if "formula" in d:
        return from_formula(d["formula"], window=d.get("window") or None)
    if "name" not in d:
        raise UsageError("a landscape reference needs 'name' or 'formula'", field="name")
    given = d.get("params") or {}
    if not isinstance(given, Mapping):
        raise UsageTypeError(f"landscape params must be a mapping of names to numbers, got {given!r}", field="params")
    return get(d["name"], **{**dict(given), **dict(params or {})})


@functools.lru_cache(maxsize=64)
def _formula_cached(text: str, window: tuple[Point, ...] | None) -> AnyLandscape:
    from .formula import formula_landscape  # lazy: keeps sympy out of ``import optarena``

    return formula_landscape(text, window=window)


def __getattr__(name: str) -> Any:
    # FormulaError lives with the sympy-backed parser; resolve it only when asked for.
    if name == "FormulaError":
        from .formula import FormulaError

        return FormulaError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
