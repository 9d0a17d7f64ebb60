"""Sweep axes: a hyperparameter (or a start coordinate, ``x`` / ``y``) and the values it takes.

Written as text on the command line, parsed by our own grammar (nothing is evaluated)::

    learning_rate=log(1e-4, 1, 41)    41 values, evenly spaced in log10, ends included
    momentum=lin(0, 0.99, 12)         12 values, evenly spaced, ends included
    beta1=0.5,0.9,0.99                the values listed
    nesterov=false,true               booleans for a switch
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

#: The start coordinates: axes with these names move the start point instead of a setting.
START_AXES = ("x", "y")
MAX_VALUES = 2_000  # per axis
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", re.S)
_RANGE = re.compile(r"(lin|log)\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


class AxisError(UsageError):
    """A malformed or out-of-range axis (a ``UsageError``, so also a ``ValueError``); a sweep
    sets ``field`` to the axis's place (``axes[1]``)."""


@dataclass(frozen=True)
class Axis:
    """``name`` takes each of ``values`` in turn; ``log`` says how to draw it."""

    name: str
    values: tuple[Any, ...]
    log: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise AxisError(f"axis {self.name}: give at least one value")
        if len(self.values) > MAX_VALUES:
            raise AxisError(f"axis {self.name}: {len(self.values)} values, at most {MAX_VALUES}")
        if self.name in START_AXES and not all(_is_number(v) and math.isfinite(v) for v in self.values):
            raise AxisError(f"axis {self.name}: start coordinates must be finite numbers")

    @classmethod
    def parse(cls, text: str) -> "Axis":
        """``'learning_rate=log(1e-4, 1, 41)'``, ``'momentum=lin(0, 0.99, 12)'``, ``'beta1=0.5,0.9'``."""
        if not isinstance(text, str) or len(text) > 2_000:
            raise AxisError(f"an axis is text like 'learning_rate=log(1e-4, 1, 41)', got {str(text)[:40]!r}")
        m = _NAME.match(text)
        if not m or not m.group(2):
            raise AxisError(f"axis {text!r}: expected NAME=log(lo, hi, n), NAME=lin(lo, hi, n) or NAME=v1,v2,...")
        name, body = m.group(1), m.group(2)
        r = _RANGE.match(body)
        if r:
            kind, lo, hi, n = r.groups()
            return cls.range(name, _number(lo, text), _number(hi, text), _count(n, text), log=kind == "log")
        return cls(name, tuple(_value(v.strip(), text) for v in body.split(",")))  # each checked finite

    @classmethod
    def range(cls, name: str, lo: float, hi: float, n: int, log: bool = False) -> "Axis":
        """``n`` values from ``lo`` to ``hi`` (both included), evenly spaced (in log10 if ``log``)."""
        if not (isinstance(n, int) and 1 <= n <= MAX_VALUES):
            raise AxisError(f"axis {name}: the number of values must be an integer in [1, {MAX_VALUES}], got {n!r}")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise AxisError(f"axis {name}: the ends must be finite numbers, got {lo!r} and {hi!r}")
        with np.errstate(all="ignore"):
            values = _spaced(name, lo, hi, n, log)
        if not np.all(np.isfinite(values)):
            raise AxisError(f"axis {name}: {'log' if log else 'lin'}({lo:g}, {hi:g}, {n}) gives values beyond floating point")
        return cls(name, tuple(float(v) for v in values), log)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values), "log": self.log}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Axis":
        try:
            return cls(str(d["name"]), tuple(d["values"]), bool(d.get("log", False)))
        except (AttributeError, KeyError, TypeError):
            raise AxisError(f"an axis is {{'name': ..., 'values': [...], 'log': ...}}, got {str(d)[:60]!r}") from None


def _spaced(name: str, lo: float, hi: float, n: int, log: bool) -> np.ndarray:
    if not log:
        return np.linspace(lo, hi, n)
    if lo <= 0 or hi <= 0:
        raise AxisError(f"axis {name}: log(lo, hi, n) needs lo > 0 and hi > 0, got {lo:g} and {hi:g}")
    values = np.logspace(math.log10(lo), math.log10(hi), n) if n > 1 else np.array([lo])
    values[0], values[-1] = lo, hi if n > 1 else lo  # the ends exactly as written
    return values


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(s: str, text: str) -> float:
    if not _NUMBER.match(s.strip()):
        raise AxisError(f"axis {text!r}: {s.strip()!r} is not a number")
    return float(s)


def _count(s: str, text: str) -> int:
    if not re.fullmatch(r"\d+", s.strip()):
        raise AxisError(f"axis {text!r}: the number of values must be a whole number, got {s.strip()!r}")
    return int(s)


def _value(s: str, text: str) -> Any:
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if not _NUMBER.match(s):
        raise AxisError(f"axis {text!r}: {s!r} is not a number, true or false")
    v = float(s)
    if not math.isfinite(v):
        raise AxisError(f"axis {text!r}: {s[:20]!r}... is beyond floating point")
    return int(s) if re.fullmatch(r"[-+]?\d+", s) else v
