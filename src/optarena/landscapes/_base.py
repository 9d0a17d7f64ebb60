"""What a landscape is: f, its exact gradient and Hessian over batches of 2-D points, plus what faces show."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ..errors import UsageError

Array = np.ndarray
Point = tuple[float, float]
Racers = tuple[tuple[str, Mapping[str, Any]], ...]

#: What a landscape declares about its lowest value (``Landscape.minimum_kind``).
MINIMUM, LOWER_BOUND, NO_MINIMUM = "minimum", "lower_bound", "none"
#: The seed article's racers at their default settings: the default race of a landscape that
#: names no racers of its own (the article's demo on the quadratic).
ARTICLE_RACERS: Racers = (("sgd", {}), ("momentum", {}), ("adam", {}))


def article_racers(sgd: float, momentum: float, adam: float) -> Racers:
    """The article's three optimizers at these learning rates (their other settings: defaults)."""
    return (("sgd", {"learning_rate": sgd}), ("momentum", {"learning_rate": momentum}),
            ("adam", {"learning_rate": adam}))


class Claims:
    """What a landscape says about its lowest value, read off ``minima``, ``min_value`` and
    ``no_minimum`` (shared by ``Landscape`` and ``nd.NDLandscape``; see ``Landscape``'s docstring)."""

    minima: Any
    min_value: float
    no_minimum: str
    default_racers: Racers

    @property
    def minimum_kind(self) -> str:
        """``"minimum"``, ``"lower_bound"`` or ``"none"`` (see the class docstring)."""
        if len(self.minima):
            return MINIMUM
        return LOWER_BOUND if math.isfinite(self.min_value) else NO_MINIMUM

    @property
    def minimum_note(self) -> str:
        """Why a measure of the minimum is missing; ``""`` when there is a minimum."""
        kind = self.minimum_kind
        if kind == MINIMUM:
            return ""
        if self.no_minimum:
            return self.no_minimum
        if kind == LOWER_BOUND:
            return f"f >= {self.min_value:g}, but no single point is listed as the minimum"
        return "no minimum is known"

    def default_racer_specs(self) -> list[dict[str, Any]]:
        """The default race's racers as ``race()`` takes them: ``{"optimizer", "hyperparameters"}``."""
        return [{"optimizer": name, "hyperparameters": dict(hp)} for name, hp in self.default_racers]


@dataclass(frozen=True)
class Parametric:
    """A parametrised landscape's f and grad with its numeric parameters as data: ``f(x, y, p)``
    and ``grad(x, y, p)``, ``p`` a tuple or array of the floats ``values``, module-level functions
    under the same rules as ``Landscape.f``. The compiled race loop takes ``p`` as an argument, so
    every kappa or theta a slider sends runs the one loop compiled for the family (with its
    parameters frozen into the code, each value compiled anew: seconds and megabytes each)."""

    f: Callable[[Any, Any, Any], Any]
    grad: Callable[[Any, Any, Any], tuple[Any, Any]]
    values: tuple[float, ...]

    def bound(self) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], tuple[Any, Any]]]:
        """(f, grad) of two arguments, for ``Landscape``: the same code, ``values`` bound."""
        fp, gp, p = self.f, self.grad, self.values

        def f(x: Any, y: Any) -> Any:
            return fp(x, y, p)

        def grad(x: Any, y: Any) -> tuple[Any, Any]:
            return gp(x, y, p)

        return f, grad


@dataclass(frozen=True)
class Landscape(Claims):
    """A 2-D loss surface.

    ``f(x, y)`` and ``grad(x, y) -> (df/dx, df/dy)`` take NumPy arrays of any (broadcastable)
    shape and are written with arithmetic and NumPy ufuncs only, so numba can compile them for
    scalars too (the race engine's fused loop does). ``window`` is ((xmin, xmax), (ymin, ymax)).

    ``hess(x, y) -> (d2f/dx2, d2f/dxdy, d2f/dy2)``, optional, is the exact Hessian under the same
    rules (an entry that is constant may be a plain float; ``hessian()`` broadcasts it). Where f
    is not twice differentiable, ``hess`` returns a documented finite value. Without it
    (``has_hessian`` False, ``no_hessian`` says why when known) ``hessian()`` raises.

    What it says about its lowest value (``minimum_kind``) decides which measures races report:

    * ``"minimum"``: global ``minima`` listed, ``min_value`` their value; steps to tolerance,
      distance to the minimum and loss - min are measured.
    * ``"lower_bound"``: no minimum point is listed (``minima == ()``) but f >= ``min_value``
      everywhere (e.g. the minimizers form a line); steps to tolerance and loss - bound are
      measured, distance to a minimum is not.
    * ``"none"``: nothing is claimed (``minima == ()``, ``min_value`` NaN): the surface is
      unbounded below (a saddle), or a typed formula's minimum could not be verified.
      ``no_minimum`` says why; none of those measures is reported.

    A ``saddle`` point makes races report escape: the first step whose loss is below
    f(saddle) - ``escape_margin``. ``default_racers`` are the racers of the landscape's default
    race, as (optimizer, hyperparameters) pairs, chosen so that each makes visible progress and
    none diverges from the default start within the default 100 steps. ``parametric``, for one
    value of a family (``ill_conditioned``'s kappa and theta), is f and grad with the parameters
    as an argument (``f`` and ``grad`` are then ``parametric.bound()``).
    """

    #: Coordinates of a point (the engine, results and faces read it: ``NDLandscape`` has its own).
    dim: ClassVar[int] = 2
    #: Matrix parameters a point is made of (``NDLandscape.blocks``): none, a 2-D point is a vector.
    blocks: ClassVar[tuple[tuple[int, int], ...]] = ()

    name: str
    title: str
    f: Callable[[Any, Any], Any]
    grad: Callable[[Any, Any], tuple[Any, Any]]
    window: tuple[Point, Point]
    minima: tuple[Point, ...]
    min_value: float
    starts: tuple[Point, ...]
    start_source: str = ""
    log_colour: bool = False
    formula: str = ""  # LaTeX
    source: str = ""
    params: dict[str, float] = field(default_factory=dict)
    local_minima: tuple[Point, ...] = ()
    no_minimum: str = ""
    saddle: Point | None = None
    escape_margin: float = 1.0
    default_racers: Racers = ARTICLE_RACERS
    hess: Callable[[Any, Any], tuple[Any, Any, Any]] | None = None
    no_hessian: str = ""  # why ``hess`` is None, when that is known
    #: f and grad with the parameters as data (``Parametric``), when the landscape is one value of
    #: a family: the compiled race loop runs the family's code for every value
    parametric: Parametric | None = None

    def __post_init__(self) -> None:
        value = float(self.min_value)
        if self.minima and not math.isfinite(value):
            raise ValueError(f"landscape {self.name!r}: listed minima need a finite min_value, got {self.min_value!r}")
        if not self.minima and not math.isfinite(value):
            value = math.nan  # -inf (unbounded below) and NaN (unknown) both mean: nothing claimed
        object.__setattr__(self, "min_value", value)
        if self.saddle is not None:
            sx, sy = (float(v) for v in self.saddle)
            if not (math.isfinite(sx) and math.isfinite(sy)):
                raise ValueError(f"landscape {self.name!r}: saddle must be a finite point, got {self.saddle!r}")
            object.__setattr__(self, "saddle", (sx, sy))
        m = self.escape_margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not (math.isfinite(m) and m > 0):
            raise ValueError(f"landscape {self.name!r}: escape_margin must be a finite number > 0, got {m!r}")
        if not self.default_racers:
            raise ValueError(f"landscape {self.name!r}: default_racers must name at least one racer")
        if self.hess is not None and not callable(self.hess):
            raise TypeError(f"landscape {self.name!r}: hess must be callable or None, got {type(self.hess).__name__}")

    @property
    def box(self) -> tuple[Array, Array]:
        """(lo, hi), each of shape (dim,): the window per coordinate (what the engine pads into the
        box a run must stay in, for a landscape of any dimension)."""
        (x0, x1), (y0, y1) = self.window
        return np.array([x0, y0], dtype=np.float64), np.array([x1, y1], dtype=np.float64)

    @property
    def default_start(self) -> Point:
        return self.starts[0]

    @property
    def saddle_value(self) -> float:
        """f at the saddle point (NaN without one)."""
        return math.nan if self.saddle is None else float(self.f(*self.saddle))

    @property
    def escape_below(self) -> float:
        """The loss a run must get below to have escaped the saddle (NaN without one)."""
        return self.saddle_value - float(self.escape_margin)

    def value(self, points: Array) -> Array:
        """f at points of shape (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(self.f(p[..., 0], p[..., 1]), dtype=np.float64)

    def gradient(self, points: Array) -> Array:
        """grad f at points of shape (..., 2), as shape (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        gx, gy = self.grad(p[..., 0], p[..., 1])
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1).astype(np.float64, copy=False)

    @property
    def has_hessian(self) -> bool:
        """Whether the landscape has an exact Hessian (``hess``)."""
        return self.hess is not None

    def hessian(self, points: Array) -> Array:
        """The exact Hessian at points of shape (..., 2), as shape (..., 2, 2), symmetric.

        Raises ``UsageError`` (field ``"landscape"``) when the landscape has no ``hess``.
        """
        hess = self._hess()
        p = _pairs(points, "points")
        shape = p.shape[:-1]
        hxx, hxy, hyy = hess(p[..., 0], p[..., 1])
        out = np.empty(shape + (2, 2))  # filled by broadcasting: a constant entry (Rosenbrock's 200) is a float
        out[..., 0, 0], out[..., 0, 1], out[..., 1, 1] = hxx, hxy, hyy
        out[..., 1, 0] = out[..., 0, 1]
        return out

    def hessian_vector_product(self, points: Array, vectors: Array) -> Array:
        """H(p) v for points and vectors of shape (..., 2) (broadcast together), as shape (..., 2)."""
        hess = self._hess()
        p, v = _pairs(points, "points"), _pairs(vectors, "vectors")
        hxx, hxy, hyy = hess(p[..., 0], p[..., 1])
        vx, vy = v[..., 0], v[..., 1]
        out = np.empty(np.broadcast_shapes(p.shape[:-1], v.shape[:-1]) + (2,))
        out[..., 0] = hxx * vx + hxy * vy
        out[..., 1] = hxy * vx + hyy * vy
        return out

    def _hess(self) -> Callable[[Any, Any], tuple[Any, Any, Any]]:
        if self.hess is None:
            why = f": {self.no_hessian}" if self.no_hessian else ""
            title = f" ({self.title})" if self.title and self.title != self.name else ""
            raise UsageError(f"landscape {self.name!r}{title} has no exact Hessian{why}", field="landscape")
        return self.hess

    def nearest_minimum_distance(self, points: Array) -> Array:
        """Distance from each point (..., 2) to the closest listed global minimum (NaN: none listed)."""
        p = np.asarray(points, dtype=np.float64)
        if not self.minima:
            return np.full(p.shape[:-1], np.nan)
        mins = np.asarray(self.minima, dtype=np.float64)  # (M, 2)
        d = np.linalg.norm(p[..., None, :] - mins, axis=-1)
        return d.min(axis=-1)

    def grid(self, n: int = 200, window: tuple[Point, Point] | None = None) -> tuple[Array, Array, Array]:
        """(xs, ys, Z) with Z[i, j] = f(xs[j], ys[i]) over the window (for contour plots)."""
        (x0, x1), (y0, y1) = window or self.window
        xs = np.linspace(x0, x1, n)
        ys = np.linspace(y0, y1, n)
        X, Y = np.meshgrid(xs, ys)
        return xs, ys, np.asarray(self.f(X, Y), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "window": [list(w) for w in self.window],
            "minima": [list(m) for m in self.minima],
            "min_value": self.min_value if math.isfinite(self.min_value) else None,
            "minimum_kind": self.minimum_kind, "minimum_note": self.minimum_note,
            "local_minima": [list(m) for m in self.local_minima],
            "saddle": None if self.saddle is None else list(self.saddle),
            "saddle_value": None if self.saddle is None else self.saddle_value,
            "escape_margin": None if self.saddle is None else float(self.escape_margin),
            "starts": [list(s) for s in self.starts], "start_source": self.start_source,
            "log_colour": self.log_colour, "formula": self.formula, "source": self.source,
            "params": dict(self.params), "default_racers": self.default_racer_specs(),
        }


def _pairs(values: Any, what: str) -> Array:
    """values as float64 of shape (..., 2); UsageError when the last axis is not (x, y)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] != 2:
        raise UsageError(f"{what} must have shape (..., 2), got {a.shape}", field=what)
    return a
