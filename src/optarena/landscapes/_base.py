"""What a landscape is: f and its exact gradient over batches of 2-D points, plus what faces show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Array = np.ndarray
Point = tuple[float, float]


@dataclass(frozen=True)
class Landscape:
    """A 2-D loss surface.

    ``f(x, y)`` and ``grad(x, y) -> (df/dx, df/dy)`` take NumPy arrays of any (broadcastable)
    shape and are written with arithmetic and NumPy ufuncs only, so numba can compile them for
    scalars too (the race engine's fused loop does). ``window`` is ((xmin, xmax), (ymin, ymax)).
    """

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

    @property
    def default_start(self) -> Point:
        return self.starts[0]

    def value(self, points: Array) -> Array:
        """f at points of shape (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(self.f(p[..., 0], p[..., 1]), dtype=np.float64)

    def gradient(self, points: Array) -> Array:
        """grad f at points of shape (..., 2), as shape (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        gx, gy = self.grad(p[..., 0], p[..., 1])
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1).astype(np.float64, copy=False)

    def nearest_minimum_distance(self, points: Array) -> Array:
        """Distance from each point (..., 2) to the closest listed global minimum."""
        p = np.asarray(points, dtype=np.float64)
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
            "minima": [list(m) for m in self.minima], "min_value": self.min_value,
            "starts": [list(s) for s in self.starts], "start_source": self.start_source,
            "log_colour": self.log_colour, "formula": self.formula, "source": self.source,
            "params": dict(self.params),
        }
