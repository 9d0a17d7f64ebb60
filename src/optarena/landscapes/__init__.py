"""Loss landscapes: 2-D surfaces with exact gradients, and the registry that names them.

    >>> from optarena import landscapes
    >>> landscapes.get("rosenbrock").f(1.0, 1.0)
    0.0

Importing this package pulls in NumPy only; ``from_formula`` loads sympy on first use.
"""

from __future__ import annotations

import functools
from typing import Any

from ._base import Landscape, Point
from .registry import DEFAULT, get, names, params_schema, register

__all__ = [
    "DEFAULT", "FormulaError", "Landscape", "from_formula", "get", "names", "params_schema",
    "register",
]


def from_formula(text: str, window: tuple[Point, Point] | None = None) -> Landscape:
    """A landscape from a formula in x and y, e.g. ``"x**2 + 10*y**2"`` (needs sympy).

    Its minimum is claimed only when found and verified (``minimum_kind``; see
    ``formula._verified_minimum``). Cached: building one parses, differentiates and searches the
    window for that minimum (~tens of ms), and the web arena asks for the same formula on every
    slider move. Landscapes are frozen,
    so sharing them is safe; rejected formulas are not cached (they raise).
    """
    win = None if window is None else (tuple(map(float, window[0])), tuple(map(float, window[1])))
    return _formula_cached(text, win)


@functools.lru_cache(maxsize=64)
def _formula_cached(text: str, window: tuple[Point, Point] | None) -> Landscape:
    from .formula import formula_landscape  # lazy: keeps sympy out of ``import optarena``

    return formula_landscape(text, window=window)


def __getattr__(name: str) -> Any:
    # FormulaError lives with the sympy-backed parser; resolve it only when asked for.
    if name == "FormulaError":
        from .formula import FormulaError

        return FormulaError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
