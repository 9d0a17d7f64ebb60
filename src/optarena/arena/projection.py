"""The projected view: a race in d > 2 dimensions shown on a plane through the best final point.

    origin   = the final point of the run with the lowest final loss
    pca      : the top two right singular vectors of [p - origin for every recorded point of every
               run] (Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural
               Nets", NeurIPS 2018, section 7); ``explained`` = (s1^2 + s2^2) / sum s_i^2, the share
               of the paths' variance about the origin that the plane holds
    random   : two Gaussian directions, filter-normalised (Li et al. section 4): each row of each
               matrix (a filter), or the whole vector, scaled to that part's norm at the origin
    coordinates (i, j): the unit vectors e_i and e_j

``Plane.view`` makes the plane a 2-D ``Landscape`` whose f(a, b) is the landscape's exact value at
origin + a u + b v (evaluated in batches), and ``project`` turns a ``RaceResult`` into one on that
landscape: positions are the paths' coordinates in the plane, losses stay the d-dimensional ones.
Every 2-D face (PNG, GIF, MP4, HTML, ``res.plot()``) then draws it as it draws any race.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from ..landscapes import Landscape
from .result import RaceResult

#: What ``Plane`` kinds there are (``project(kind=...)``).
KINDS = ("pca", "random", "coordinates")
#: Landscape values a view's contour grid may take (n x n points x d coordinates): a grid of a
#: large-d landscape is coarser (never below MIN_GRID points a side) rather than slow.
GRID_BUDGET = 50_000_000
MIN_GRID = 24
#: Points lifted into d dimensions at once when a grid is evaluated.
CHUNK_VALUES = 4_000_000


@dataclass(frozen=True, eq=False)
class Plane:
    """origin + a u + b v: ``axes`` rows u, v (orthonormal for "pca" and "coordinates")."""

    origin: np.ndarray  # (d,)
    axes: np.ndarray  # (2, d)
    kind: str
    explained: float = math.nan  # share of the paths' variance the plane holds ("pca"; NaN otherwise)
    label: str = ""  # what the axes are, for a view's title
    axis_labels: tuple[str, str] = ("a", "b")

    def coordinates(self, points: np.ndarray) -> np.ndarray:
        """(..., d) points as (..., 2) plane coordinates (least squares: exact for orthonormal axes)."""
        diff = np.asarray(points, dtype=np.float64) - self.origin
        gram = self.axes @ self.axes.T
        return np.linalg.solve(gram, np.einsum("kd,...d->...k", self.axes, diff)[..., None])[..., 0]

    def lift(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The d-dimensional points at plane coordinates (a, b) (broadcast), shape (..., d)."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        return self.origin + a[..., None] * self.axes[0] + b[..., None] * self.axes[1]

    def values(self, ls: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """ls's exact values at plane coordinates (a, b), evaluated in chunks of lifted points."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        flat_a, flat_b = a.reshape(-1), b.reshape(-1)
        out = np.empty(flat_a.shape)
        step = max(1, CHUNK_VALUES // max(1, self.origin.size))
        for i in range(0, flat_a.size, step):
            out[i:i + step] = ls.value(self.lift(flat_a[i:i + step], flat_b[i:i + step]))
        return out.reshape(a.shape)

    def view(self, ls: Any, window: tuple[tuple[float, float], tuple[float, float]]) -> Landscape:
        """The plane as a 2-D landscape: f(a, b) = ls at origin + a u + b v; its title says which
        plane. Its minima are the landscape's that lie on the plane; its ``min_value`` is the
        landscape's (f >= it on the plane too: a lower bound when no minimum lies there)."""
        plane = self

        def f(a: Any, b: Any) -> Any:
            return plane.values(ls, a, b)

        def grad(a: Any, b: Any) -> tuple[Any, Any]:  # the gradient's component in the plane
            g = ls.gradient(plane.lift(a, b))
            return g @ plane.axes[0], g @ plane.axes[1]

        return PlaneView(
            name=ls.name, title=f"{ls.title}\n{self.label}", f=f, grad=grad, window=window,
            minima=self.minima_on(ls), min_value=float(ls.min_value), starts=((0.0, 0.0),),
            log_colour=bool(getattr(ls, "log_colour", False)), formula=getattr(ls, "formula", ""),
            source=getattr(ls, "source", ""), params=dict(getattr(ls, "params", {})),
            no_minimum="" if self.minima_on(ls) else "the minimum lies off this plane; f is at least its value",
            coordinates=self.origin.size, axis_labels=self.axis_labels,
        )

    def minima_on(self, ls: Any) -> tuple[tuple[float, float], ...]:
        """The plane coordinates of the landscape's minima that lie on the plane (to 1e-9 of their size)."""
        m = np.asarray(ls.minima, dtype=np.float64).reshape(-1, self.origin.size)
        ab = self.coordinates(m)
        off = np.linalg.norm(self.lift(ab[:, 0], ab[:, 1]) - m, axis=-1) if len(m) else np.zeros(0)
        scale = 1.0 + np.linalg.norm(m, axis=-1)
        return tuple((float(a), float(b)) for (a, b), o, sc in zip(ab, off, scale) if o <= 1e-9 * sc)


@dataclass(frozen=True)
class PlaneView(Landscape):
    """A plane through a d-dimensional landscape as a 2-D one (``Plane.view``): its contour grid
    is coarser for large d (``grid_size``), so drawing it stays within GRID_BUDGET values."""

    coordinates: int = 2  # d of the landscape the plane cuts
    axis_labels: tuple[str, str] = ("a", "b")  # what a face writes on its axes

    def grid(self, n: int = 200, window: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return super().grid(grid_size(self.coordinates, n), window)


def pca_plane(result: RaceResult) -> Plane:
    """The plane of the paths' top two principal directions about the best final point (Li et al. 2018)."""
    P = result.positions
    origin = _best_final(result)
    pts = P.reshape(-1, P.shape[-1])
    pts = pts[np.isfinite(pts).all(axis=1)] - origin
    d = P.shape[-1]
    if len(pts) < 2 or not np.any(pts):
        raise UsageError("the projected view needs paths that move: every recorded point is the same", field="view")
    s, vt = _top_singular(pts)
    axes = np.zeros((2, d))
    k = min(2, len(s))
    axes[:k] = vt[:k]
    if k < 2 or s[1] == 0:  # the paths lie on a line: the plane is that line and any direction across it
        axes[1] = _orthogonal_to(axes[0])
    total = float(np.sum(pts * pts))  # the sum of every s_i^2
    explained = float(np.sum(s[:2] ** 2) / total) if total > 0 else 1.0
    return Plane(origin, axes, "pca", explained, f"PCA plane of the paths ({100 * explained:.1f}% of their variance)",
                 ("PC 1", "PC 2"))


def random_plane(ls: Any, origin: np.ndarray, seed: int = 0) -> Plane:
    """Two Gaussian directions, filter-normalised at ``origin`` (Li et al. 2018): each row of each
    of the landscape's matrices, or the whole point when it is one vector, scaled to the norm of
    that part of ``origin`` (a part that is zero there keeps unit norm)."""
    d = origin.size
    rng = np.random.default_rng(seed)
    axes = rng.standard_normal((2, d))
    for sl in _filters(ls, d):
        scale = np.linalg.norm(origin[sl])
        for k in range(2):
            n = np.linalg.norm(axes[k, sl])
            axes[k, sl] *= (scale if scale > 0 else 1.0) / n
    return Plane(origin.copy(), axes, "random", label=f"random filter-normalised directions (seed {seed})",
                 axis_labels=("direction 1", "direction 2"))


def coordinate_plane(origin: np.ndarray, i: int, j: int) -> Plane:
    """The plane of coordinates ``i`` and ``j`` through ``origin``."""
    d = origin.size
    for name, k in (("i", i), ("j", j)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < d:
            raise UsageError(f"view coordinate {name} must be a whole number in [0, {d - 1}], got {k!r}", field="view")
    if i == j:
        raise UsageError(f"view coordinates must differ, got {i} twice", field="view")
    axes = np.zeros((2, d))
    axes[0, i] = axes[1, j] = 1.0
    return Plane(origin.copy(), axes, "coordinates", label=f"coordinates x{i + 1} and x{j + 1}",
                 axis_labels=(f"x{i + 1}", f"x{j + 1}"))


def plane_of(result: RaceResult, ls: Any, kind: str = "pca", seed: int = 0,
             coordinates: tuple[int, int] = (0, 1)) -> Plane:
    """The plane ``kind`` ("pca", "random" or "coordinates") for this race."""
    if kind == "pca":
        return pca_plane(result)
    if kind == "random":
        return random_plane(ls, _best_final(result), seed)
    if kind == "coordinates":
        return coordinate_plane(_best_final(result), *coordinates)
    raise UsageError(f"view must be one of {', '.join(KINDS)}, got {kind!r}", field="view", allowed=list(KINDS))


def project(result: RaceResult, ls: Any, kind: str = "pca", seed: int = 0,
            coordinates: tuple[int, int] = (0, 1)) -> tuple[RaceResult, Landscape, Plane]:
    """(the race on the plane, the plane as a 2-D landscape, the plane). Positions become plane
    coordinates; losses, gradient norms and step sizes stay the race's own (d-dimensional)."""
    if not result.recorded:
        raise UsageError("the projected view draws paths: race with record=True", field="view")
    plane = plane_of(result, ls, kind, seed, coordinates)
    xy = plane.coordinates(result.positions)
    window = _window(xy)
    view = plane.view(ls, window)
    config = {**result.config, "starts": plane.coordinates(np.asarray(result.config["starts"], dtype=np.float64)).tolist()}
    flat = dataclasses.replace(result, config=config, positions=xy,
                               minima=np.asarray(view.minima, dtype=np.float64).reshape(-1, 2))
    return flat, view, plane


def singular_values(result: RaceResult, ls: Any) -> np.ndarray:
    """(R, S, T+1, k): each run's singular values, largest first, at every recorded step: of W for a
    landscape made of one matrix, of the product of its matrices (last block first: W2 W1) for one
    whose ``product`` is set (the deep linear network); NaN after a run diverged."""
    blocks = tuple(getattr(ls, "blocks", ()) or ())
    if not blocks:
        raise UsageError(f"the singular-value view shows matrices, and {ls.title!r} is one vector: use the projected "
                         "view (pca, random or coordinates)", field="view")
    if len(blocks) > 1 and not getattr(ls, "product", False):
        raise UsageError(f"{ls.title!r} is made of {len(blocks)} matrices that do not multiply into one map",
                         field="view")
    mats = ls.matrices(np.nan_to_num(result.positions))  # each (R, S, T+1, m, n)
    W = mats[0]
    for nxt in mats[1:]:
        W = nxt @ W
    sv = np.linalg.svd(W, compute_uv=False)
    sv[~np.isfinite(result.positions).all(axis=-1)] = np.nan
    return sv


def _top_singular(pts: np.ndarray, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The top min(k, n, d) singular values and right singular vectors (rows) of ``pts`` (n, d).

    The top k eigenvectors of the smaller Gram matrix span them (to about eps s_1^2 / (s_2^2 - s_(k+1)^2));
    one Rayleigh-Ritz step, an SVD of ``pts`` restricted to that span (n x k), gives the values and
    vectors. LAPACK's full SVD of a wide matrix of recorded points (300 points in 10^4 dimensions)
    took 20-50x longer, where the view needs two."""
    n, d = pts.shape
    k = min(k, n, d)
    _, vecs = np.linalg.eigh(pts @ pts.T if n < d else pts.T @ pts)
    basis, _ = np.linalg.qr(pts.T @ vecs[:, -k:] if n < d else vecs[:, -k:])  # (d, k), orthonormal
    _, s, wt = np.linalg.svd(pts @ basis, full_matrices=False)
    return s, wt @ basis.T


def grid_size(d: int, n: int = 200) -> int:
    """Points a side of a view's contour grid: ``n``, fewer when n^2 lifted points of d coordinates
    would pass GRID_BUDGET values (never below MIN_GRID)."""
    return int(max(MIN_GRID, min(n, math.isqrt(max(1, GRID_BUDGET // max(1, d))))))


def _best_final(result: RaceResult) -> np.ndarray:
    final = np.where(np.isfinite(result.final_loss), result.final_loss, np.inf)
    if not np.isfinite(final).any():
        raise UsageError("the projected view centres on the best final point, and every run diverged", field="view")
    r, s = np.unravel_index(int(np.argmin(final)), final.shape)
    return np.asarray(result.positions[r, s, -1], dtype=np.float64).copy()


def _window(xy: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square-ish window holding every projected point, with a 10% margin."""
    pts = xy.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = 0.55 * max(float(np.max(hi - lo)), 1e-9)
    mid = (lo + hi) / 2
    return (float(mid[0] - half), float(mid[0] + half)), (float(mid[1] - half), float(mid[1] + half))


def _orthogonal_to(u: np.ndarray) -> np.ndarray:
    e = np.zeros_like(u)
    e[int(np.argmin(np.abs(u)))] = 1.0
    w = e - (e @ u) * u
    return w / np.linalg.norm(w)


def _filters(ls: Any, d: int) -> list[slice]:
    blocks = getattr(ls, "blocks", ()) or ()
    if not blocks:
        return [slice(0, d)]
    out, at = [], 0
    for m, n in blocks:
        out += [slice(at + r * n, at + (r + 1) * n) for r in range(m)]
        at += m * n
    return out
