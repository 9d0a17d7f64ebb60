"""Landscapes of any dimension: a point is a vector of d floats (matrix parameters: their entries).

``NDLandscape`` is the d-dimensional counterpart of ``Landscape`` with the same public surface
where it makes sense; ``f``, ``grad`` and ``hvp`` take batches of points of shape (..., d).
The factories, in registration order (``FACTORIES``):

* ``rosenbrock_nd``, ``rastrigin_nd``, ``ackley_nd``: the N-D test functions (Wikipedia, "Test
  functions for optimization"; scipy.optimize.rosen for the chained Rosenbrock).
* ``quadratic_nd``: an ill-conditioned quadratic with a chosen spectrum behind a random orthogonal
  map that costs O(d log d) to apply, so d up to 10^7 works without a dense matrix.
* ``least_squares`` (diabetes) and ``logistic_regression`` (breast cancer): real data, scikit-learn's
  bundled copies (offline), imported lazily (``pip install 'optarena[nn]'``).
* ``matrix_sensing`` (Recht, Fazel & Parrilo 2010) and ``deep_linear`` (Saxe, McClelland & Ganguli,
  ICLR 2014): matrix parameters, ``blocks`` giving their shapes.

Every ``hvp`` is exact and broadcasts points against vectors, so ``hessian`` can feed it the
identity. Each factory validates its parameters against its ``params_schema`` (integers where the
default is an int) and raises ``UsageError`` with ``field="params.<name>"``.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import MissingExtraError, UsageError, UsageTypeError
from ._base import ARTICLE_RACERS, Claims, Racers, article_racers

Array = np.ndarray
Schema = dict[str, dict[str, Any]]

#: ``hessian`` builds the dense matrix from d Hessian-vector products: refused above this d
HESSIAN_MAX_DIM = 512
#: ``to_json`` lists every coordinate of minima, starts and the box only up to this d
JSON_MAX_DIM = 16
#: the most coordinates a factory builds (the CLI's limit per race; the web API sets its own)
MAX_DIM = 10_000_000

WIKI = 'Wikipedia, "Test functions for optimization"'
SAXE = ("Saxe, McClelland & Ganguli, Exact solutions to the nonlinear dynamics of learning in deep "
        "linear neural networks, ICLR 2014")
RFP = ("Recht, Fazel & Parrilo, Guaranteed minimum-rank solutions of linear matrix equations via "
       "nuclear norm minimization, SIAM Review 52(3), 2010")
TWO_PI = 2.0 * math.pi
_TINY = 1e-300  # as classic.py's Ackley: x / |x| finite (and 0) at the origin without a branch


def _frozen(a: Any, shape: tuple[int, ...] | None, what: str, name: str) -> Array:
    """``a`` as a read-only float64 array of ``shape`` (None: any), finite; ValueError naming ``what``."""
    arr = np.asarray(a, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"landscape {name!r}: {what} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"landscape {name!r}: {what} must be finite")
    if arr.flags.writeable:  # a copy, read-only: the caller's array stays theirs (broadcast views are kept)
        arr = arr.copy()
        arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Separable:
    """f(x) = offset + sum_i term(x_i, a_i), grad_i = slope(x_i, a_i): a landscape whose coordinates
    are apart, each with its own parameter a_i. ``term`` and ``slope`` are scalar functions of
    plain arithmetic and ``math`` (module-level, so numba compiles and caches them): the compiled
    N-D race loop (``arena.fused_nd``) steps such a landscape coordinate by coordinate in one pass
    over memory, the per-element rule's cell inlined."""

    term: Callable[[float, float], float]
    slope: Callable[[float, float], float]
    a: Array  # (d,)
    offset: float = 0.0


def _quadratic_term(x: float, a: float) -> float:
    return 0.5 * (a * x * x)


def _quadratic_slope(x: float, a: float) -> float:
    return a * x


def _rastrigin_term(x: float, a: float) -> float:
    return x * x - 10.0 * math.cos(TWO_PI * x)


def _rastrigin_slope(x: float, a: float) -> float:
    return 2.0 * x + 20.0 * math.pi * math.sin(TWO_PI * x)


@dataclass(frozen=True, eq=False)
class NDLandscape(Claims):
    """A loss surface over R^d.

    ``f(points) -> values`` maps (..., d) to (...), ``grad`` (..., d) to (..., d), and ``hvp(points,
    vectors)``, optional, is the exact Hessian-vector product, points and vectors broadcast together
    over their leading axes (it may return a read-only broadcast view; the methods return arrays).
    All are NumPy (no numba): the d-dimensional engine calls them batched.

    ``lo`` and ``hi`` (shape (d,)) are the box a view and the default starts live in. ``minima``
    (M, d) and ``min_value`` say what is known of the lowest value, as ``Landscape``'s do
    (``minimum_kind``): listed minima ("minimum"), a bound only ("lower_bound": ``minima`` empty,
    ``min_value`` finite) or nothing ("none"). ``starts`` (S, d): the first is the default start.

    Matrix parameters: ``blocks`` lists their shapes (m, n); a point is their row-major
    concatenation, in order (``matrices`` splits it). ``target_singular_values`` are the target's,
    for the singular-value view: of the one block, or, when ``product`` is True (deep linear), of
    the product of the blocks taken last-to-first (W2 W1).

    ``window`` is the box on the first two coordinates only, for a reader of the first two
    coordinates (a projected view picks its own plane). What the 2-D class has and a d-dimensional
    surface does not: ``saddle`` (None), ``escape_below`` (NaN), ``parametric`` (None),
    ``local_minima`` (()).
    """

    name: str
    title: str
    dim: int
    f: Callable[[Array], Array]
    grad: Callable[[Array], Array]
    lo: Array
    hi: Array
    minima: Array
    min_value: float
    starts: Array
    hvp: Callable[[Array, Array], Array] | None = None
    start_source: str = ""
    log_colour: bool = False
    formula: str = ""  # LaTeX
    source: str = ""
    params: dict[str, float] = field(default_factory=dict)
    no_minimum: str = ""
    default_racers: Racers = ARTICLE_RACERS
    blocks: tuple[tuple[int, int], ...] = ()
    target_singular_values: Array | None = None
    product: bool = False
    no_hessian: str = ""  # why ``hvp`` is None, when that is known
    separable: Separable | None = None  # the same f and grad coordinate by coordinate (``Separable``)

    # the 2-D class's saddle, escape and compiled-family attributes: none in d dimensions
    saddle = None
    escape_margin = math.nan
    escape_below = math.nan
    saddle_value = math.nan
    parametric = None
    local_minima = ()

    def __post_init__(self) -> None:
        name = self.name
        d = self.dim
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
            raise ValueError(f"landscape {name!r}: dim must be an integer >= 2, got {d!r}")
        object.__setattr__(self, "dim", int(d))
        for what in ("f", "grad"):
            if not callable(getattr(self, what)):
                raise TypeError(f"landscape {name!r}: {what} must be callable")
        if self.hvp is not None and not callable(self.hvp):
            raise TypeError(f"landscape {name!r}: hvp must be callable or None, got {type(self.hvp).__name__}")
        lo, hi = _frozen(self.lo, (d,), "lo", name), _frozen(self.hi, (d,), "hi", name)
        if not np.all(lo < hi):
            raise ValueError(f"landscape {name!r}: lo must be below hi in every coordinate")
        minima = np.asarray(self.minima, dtype=np.float64)
        if minima.size == 0:
            minima = np.zeros((0, d))
        minima = _frozen(minima, (len(minima), d) if minima.ndim == 2 else (0, d), "minima", name)
        starts = np.asarray(self.starts, dtype=np.float64)
        if starts.ndim != 2 or starts.shape[1] != d or len(starts) == 0:
            raise ValueError(f"landscape {name!r}: starts must have shape (S >= 1, {d}), got {starts.shape}")
        starts = _frozen(starts, None, "starts", name)
        value = float(self.min_value)
        if len(minima) and not math.isfinite(value):
            raise ValueError(f"landscape {name!r}: min_value must be finite when minima are listed, got {self.min_value!r}")
        if not len(minima) and not math.isfinite(value):
            value = math.nan
        blocks = tuple((int(m), int(n)) for m, n in self.blocks)
        if blocks and (any(m < 1 or n < 1 for m, n in blocks) or sum(m * n for m, n in blocks) != d):
            raise ValueError(f"landscape {name!r}: blocks {blocks} must be positive shapes whose sizes add up to dim={d}")
        if self.product and (len(blocks) < 2 or any(blocks[i + 1][1] != blocks[i][0] for i in range(len(blocks) - 1))):
            raise ValueError(f"landscape {name!r}: product needs >= 2 blocks that chain (each block's columns = "
                             f"the previous block's rows), got blocks={blocks}")
        sv = self.target_singular_values
        if sv is not None:
            sv = _frozen(sv, None, "target_singular_values", name)
            if sv.ndim != 1 or np.any(sv < 0) or not blocks:
                raise ValueError(f"landscape {name!r}: target_singular_values must be a 1-D array >= 0, on a landscape with blocks")
        if not self.default_racers:
            raise ValueError(f"landscape {name!r}: default_racers must name at least one racer")
        for key, val in (("lo", lo), ("hi", hi), ("minima", minima), ("starts", starts), ("min_value", value),
                         ("blocks", blocks), ("target_singular_values", sv)):
            object.__setattr__(self, key, val)

    # --- what it says about its minimum (as Landscape) ------------------------------------------
    @property
    def default_start(self) -> Array:
        return self.starts[0]

    @property
    def box(self) -> tuple[Array, Array]:
        """(lo, hi), each (dim,): the box per coordinate (what the race engine pads into the box a run stays in)."""
        return self.lo, self.hi

    @property
    def window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The box on the first two coordinates only: ((lo[0], hi[0]), (lo[1], hi[1]))."""
        return (float(self.lo[0]), float(self.hi[0])), (float(self.lo[1]), float(self.hi[1]))

    # --- evaluation -----------------------------------------------------------------------------
    def _points(self, values: Any, what: str) -> Array:
        a = np.asarray(values, dtype=np.float64)
        if a.ndim == 0 or a.shape[-1] != self.dim:
            raise UsageError(f"{what} must have shape (..., {self.dim}), got {a.shape}", field=what)
        return a

    def value(self, points: Array) -> Array:
        """f at points of shape (..., d), as shape (...)."""
        return np.asarray(self.f(self._points(points, "points")), dtype=np.float64)

    def gradient(self, points: Array) -> Array:
        """grad f at points of shape (..., d), as shape (..., d)."""
        return np.asarray(self.grad(self._points(points, "points")), dtype=np.float64)

    @property
    def has_hessian(self) -> bool:
        return self.hvp is not None

    def _hvp(self) -> Callable[[Array, Array], Array]:
        if self.hvp is None:
            why = f": {self.no_hessian}" if self.no_hessian else ""
            raise UsageError(f"landscape {self.name!r} ({self.title}) has no exact Hessian{why}", field="landscape")
        return self.hvp

    def hessian_vector_product(self, points: Array, vectors: Array) -> Array:
        """H(p) v for points and vectors of shape (..., d) (broadcast together), as shape (..., d)."""
        hvp = self._hvp()
        p, v = self._points(points, "points"), self._points(vectors, "vectors")
        out = np.asarray(hvp(p, v), dtype=np.float64)
        shape = np.broadcast_shapes(p.shape, v.shape)
        return out if out.shape == shape else np.broadcast_to(out, shape).copy()  # ``hvp`` may give a view

    def hessian(self, points: Array) -> Array:
        """The dense Hessian at points (..., d), as (..., d, d): d products with the basis vectors.

        Refused (``UsageError``, field ``"landscape"``) above ``HESSIAN_MAX_DIM`` dimensions, where
        a dense matrix is the wrong tool: use ``hessian_vector_product``.
        """
        hvp = self._hvp()
        if self.dim > HESSIAN_MAX_DIM:
            raise UsageError(f"landscape {self.name!r}: a dense Hessian is built only up to d={HESSIAN_MAX_DIM}, "
                             f"this one has d={self.dim}; use hessian_vector_product", field="landscape",
                             allowed=f"d <= {HESSIAN_MAX_DIM}")
        p = self._points(points, "points")
        rows = np.asarray(hvp(p[..., None, :], np.eye(self.dim)), dtype=np.float64)  # row i: H e_i
        rows = np.broadcast_to(rows, p.shape[:-1] + (self.dim, self.dim))
        return 0.5 * (rows + np.swapaxes(rows, -1, -2))  # exact up to rounding; made exactly symmetric

    def nearest_minimum_distance(self, points: Array) -> Array:
        """Distance from each point (..., d) to the closest listed minimum (NaN: none listed)."""
        p = self._points(points, "points")
        if not len(self.minima):
            return np.full(p.shape[:-1], np.nan)
        out = np.linalg.norm(p - self.minima[0], axis=-1)
        for m in self.minima[1:]:
            out = np.minimum(out, np.linalg.norm(p - m, axis=-1))
        return out

    def matrices(self, points: Array) -> list[Array]:
        """Each block of points (..., d) reshaped to (..., m, n); ``[]`` for a plain vector."""
        p = self._points(points, "points")
        out, at = [], 0
        for m, n in self.blocks:
            out.append(p[..., at:at + m * n].reshape(p.shape[:-1] + (m, n)))
            at += m * n
        return out

    def to_json(self) -> dict[str, Any]:
        """What a face shows, kept small: up to d=16 every coordinate of the box, minima and
        starts; above, for each a summary instead ({"min", "max"} of its coordinates, and the
        number of minima and starts), the coordinates left out."""
        small = self.dim <= JSON_MAX_DIM

        def box(a: Array) -> Any:
            return a.tolist() if small else {"min": float(a.min()), "max": float(a.max())}

        def points(a: Array) -> Any:
            return a.tolist() if small else None

        sv = self.target_singular_values
        return {
            "name": self.name, "title": self.title, "dim": self.dim, "blocks": [list(b) for b in self.blocks],
            "product": self.product, "target_singular_values": None if sv is None else sv.tolist(),
            "lo": box(self.lo), "hi": box(self.hi), "window": [list(w) for w in self.window],
            "minima": points(self.minima), "minima_count": len(self.minima),
            "min_value": self.min_value if math.isfinite(self.min_value) else None,
            "minimum_kind": self.minimum_kind, "minimum_note": self.minimum_note, "local_minima": [],
            "saddle": None, "saddle_value": None, "escape_margin": None,
            "starts": points(self.starts), "starts_count": len(self.starts), "start_source": self.start_source,
            "log_colour": self.log_colour, "formula": self.formula, "source": self.source,
            "params": dict(self.params), "default_racers": self.default_racer_specs(),
            "has_hessian": self.has_hessian,
        }


# --- parameters -----------------------------------------------------------------------------------
def _allowed(spec: Mapping[str, Any]) -> str:
    kind = "an integer" if isinstance(spec["default"], int) else "a finite number"
    return f"{kind} in [{spec['min']:g}, {spec['max']:g}]"


def _checked(where: str, schema: Schema, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` validated against ``schema`` (ints where the default is an int), as int/float."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = schema[name]
        allowed = _allowed(spec)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageTypeError(f"{where}: {name} must be {allowed}, got {value!r}", field=f"params.{name}", allowed=allowed)
        v = float(value)
        integer = isinstance(spec["default"], int)
        if not (math.isfinite(v) and spec["min"] <= v <= spec["max"]) or (integer and v != round(v)):
            raise UsageError(f"{where}: {name} must be {allowed}, got {value!r}", field=f"params.{name}", allowed=allowed)
        out[name] = int(v) if integer else v
    return out


def _refuse(where: str, name: str, message: str, allowed: str) -> UsageError:
    return UsageError(f"{where}: {message}", field=f"params.{name}", allowed=allowed)


def _dim_schema(default: int) -> dict[str, Any]:
    return {"default": default, "min": 2, "max": MAX_DIM}


def _box(d: int, lo: float, hi: float) -> tuple[Array, Array]:
    """The same interval on every coordinate, as read-only broadcast views (no d-sized memory)."""
    return np.broadcast_to(np.float64(lo), (d,)), np.broadcast_to(np.float64(hi), (d,))


def _origin(d: int) -> Array:
    return np.broadcast_to(np.float64(0.0), (1, d))


# --- N-D Rosenbrock -------------------------------------------------------------------------------
def rosenbrock_nd_f(p: Array) -> Array:
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 over i < d - 1 (scipy.optimize.rosen)."""
    x, y = p[..., :-1], p[..., 1:]
    return np.sum(100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2, axis=-1)


def rosenbrock_nd_grad(p: Array) -> Array:
    x, y = p[..., :-1], p[..., 1:]
    t = y - x * x
    g = np.zeros(p.shape)
    g[..., :-1] = -400.0 * x * t - 2.0 * (1.0 - x)
    g[..., 1:] += 200.0 * t
    return g


def rosenbrock_nd_hvp(p: Array, v: Array) -> Array:
    # H is tridiagonal: H_ii = 1200 x_i^2 - 400 x_{i+1} + 2 (i < d-1) + 200 (i > 0), H_i,i+1 = -400 x_i
    p, v = np.broadcast_arrays(p, v)
    x, y = p[..., :-1], p[..., 1:]
    diag = np.zeros(p.shape)
    diag[..., :-1] = 1200.0 * x * x - 400.0 * y + 2.0
    diag[..., 1:] += 200.0
    off = -400.0 * x
    out = diag * v
    out[..., :-1] += off * v[..., 1:]
    out[..., 1:] += off * v[..., :-1]
    return out


ROSENBROCK_ND_SCHEMA: Schema = {"d": _dim_schema(10)}


def rosenbrock_nd(*, d: int = 10) -> NDLandscape:
    """The chained (generalised) Rosenbrock, scipy.optimize.rosen's form: minimum 0 at (1, ..., 1).

    For 4 <= d <= 7 it also has a local minimum near (-1, 1, ..., 1) (Wikipedia; not listed). Start:
    (-1.2, 1, -1.2, 1, ...), Moré, Garbow & Hillstrom 1981's start for the extended Rosenbrock
    (problem 21) used on the chained form. Box [-2.048, 2.048]^d (De Jong; SFU library).
    Source: Wikipedia, "Test functions for optimization"; scipy.optimize.rosen.
    """
    d = _checked("rosenbrock_nd", ROSENBROCK_ND_SCHEMA, {"d": d})["d"]
    lo, hi = _box(d, -2.048, 2.048)
    return NDLandscape(
        name="rosenbrock_nd", title=f"Rosenbrock (d={d})", dim=d, f=rosenbrock_nd_f, grad=rosenbrock_nd_grad,
        hvp=rosenbrock_nd_hvp, lo=lo, hi=hi, minima=np.broadcast_to(np.float64(1.0), (1, d)), min_value=0.0,
        starts=np.resize(np.array([-1.2, 1.0]), d)[None, :],
        start_source="Moré, Garbow & Hillstrom 1981 (extended Rosenbrock, problem 21): (-1.2, 1, -1.2, 1, ...)",
        log_colour=True, formula=r"\sum_{i=1}^{N-1} 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        source=f"{WIKI}; scipy.optimize.rosen; box [-2.048, 2.048]^d (De Jong)", params={"d": d},
        # the start's curvature reaches ~1900: gradient descent is stable below ~1e-3
        default_racers=article_racers(0.0003, 0.0003, 0.05),
    )


rosenbrock_nd.params_schema = ROSENBROCK_ND_SCHEMA  # type: ignore[attr-defined]


# --- N-D Rastrigin --------------------------------------------------------------------------------
def rastrigin_nd_f(p: Array) -> Array:
    """10 d + sum_i x_i^2 - 10 cos(2 pi x_i)."""
    return 10.0 * p.shape[-1] + np.sum(p * p - 10.0 * np.cos(TWO_PI * p), axis=-1)


def rastrigin_nd_grad(p: Array) -> Array:
    return 2.0 * p + 20.0 * math.pi * np.sin(TWO_PI * p)


def rastrigin_nd_hvp(p: Array, v: Array) -> Array:
    return (2.0 + 40.0 * math.pi ** 2 * np.cos(TWO_PI * p)) * v


RASTRIGIN_ND_SCHEMA: Schema = {"d": _dim_schema(10)}


def rastrigin_nd(*, d: int = 10) -> NDLandscape:
    """Rastrigin in d dimensions (A = 10): minimum 0 at the origin, a local minimum near every
    integer point. Box [-5.12, 5.12]^d; start (-2, 3.5, -2, 3.5, ...), the 2-D gallery start
    repeated. Source: Wikipedia, "Test functions for optimization" (Rastrigin 1974).
    """
    d = _checked("rastrigin_nd", RASTRIGIN_ND_SCHEMA, {"d": d})["d"]
    lo, hi = _box(d, -5.12, 5.12)
    return NDLandscape(
        name="rastrigin_nd", title=f"Rastrigin (d={d})", dim=d, f=rastrigin_nd_f, grad=rastrigin_nd_grad,
        hvp=rastrigin_nd_hvp, lo=lo, hi=hi, minima=_origin(d), min_value=0.0,
        starts=np.resize(np.array([-2.0, 3.5]), d)[None, :],
        start_source="the pytorch_optimizer gallery's 2-D start (-2, 3.5), repeated",
        formula=r"10N + \sum_{i=1}^{N} \left(x_i^2 - 10\cos(2\pi x_i)\right)", source=WIKI, params={"d": d},
        default_racers=article_racers(0.001, 0.001, 0.3),
        separable=Separable(_rastrigin_term, _rastrigin_slope, np.zeros(d), offset=10.0 * d),
    )


rastrigin_nd.params_schema = RASTRIGIN_ND_SCHEMA  # type: ignore[attr-defined]


# --- N-D Ackley -----------------------------------------------------------------------------------
def _ackley_parts(p: Array) -> tuple[Array, Array, Array]:
    d = p.shape[-1]
    r = np.sqrt(np.sum(p * p, axis=-1))
    cone = np.exp(-0.2 * r / math.sqrt(d))
    ripple = np.exp(np.mean(np.cos(TWO_PI * p), axis=-1))
    return r, cone, ripple


def ackley_nd_f(p: Array) -> Array:
    """-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos 2 pi x_i) + e + 20."""
    _, cone, ripple = _ackley_parts(p)
    return -20.0 * cone - ripple + math.e + 20.0


def ackley_nd_grad(p: Array) -> Array:
    # the cone g(r) = -20 exp(-0.2 r / sqrt d) is radial: grad = g'(r) x / r; at the origin (the
    # tip, subdifferential a ball) _TINY picks its centre, 0, as the 2-D Ackley does
    d = p.shape[-1]
    r, cone, ripple = _ackley_parts(p)
    a = (4.0 / math.sqrt(d)) * cone / (r + _TINY)
    return a[..., None] * p + (TWO_PI / d) * ripple[..., None] * np.sin(TWO_PI * p)


def ackley_nd_hvp(p: Array, v: Array) -> Array:
    # cone: g'' u (u.v) + (g'/r)(|u|^2 v - u (u.v)), u = x / r. |u|^2 is 1 off the origin and 0 at
    # it, so the unbounded g'/r drops out there and the Hessian is the ripple's alone (as in 2-D).
    # ripple -exp(c), c = mean cos 2 pi x_i: e^c ((4 pi^2/d) cos_i v_i - (4 pi^2/d^2) sin_i (sin.v))
    d = p.shape[-1]
    r, cone, ripple = _ackley_parts(p)
    u = p / (r + _TINY)[..., None]
    u2 = np.sum(u * u, axis=-1)
    uv = np.sum(u * v, axis=-1)
    g1_r = (4.0 / math.sqrt(d)) * cone / (r + _TINY)
    g2 = -(0.8 / d) * cone
    s, c = np.sin(TWO_PI * p), np.cos(TWO_PI * p)
    sv = np.sum(s * v, axis=-1)
    k = 4.0 * math.pi ** 2 / d
    out = (g2 - g1_r)[..., None] * u * uv[..., None] + (g1_r * u2)[..., None] * v
    return out + ripple[..., None] * (k * c * v - (k / d) * s * sv[..., None])


ACKLEY_ND_SCHEMA: Schema = {"d": _dim_schema(10)}


def ackley_nd(*, d: int = 10) -> NDLandscape:
    """Ackley in d dimensions (a = 20, b = 0.2, c = 2 pi): minimum 0 at the origin, flat rippled
    outside a deep funnel; not twice differentiable at the origin (``hvp`` there: the ripple's
    Hessian, as the 2-D Ackley's). Box [-5, 5]^d (Wikipedia; the SFU library uses
    [-32.768, 32.768]^d); start (-3.2, 3.6, -3.2, 3.6, ...), the 2-D start repeated.
    Source: Wikipedia, "Test functions for optimization" (Ackley 1987).
    """
    d = _checked("ackley_nd", ACKLEY_ND_SCHEMA, {"d": d})["d"]
    lo, hi = _box(d, -5.0, 5.0)
    return NDLandscape(
        name="ackley_nd", title=f"Ackley (d={d})", dim=d, f=ackley_nd_f, grad=ackley_nd_grad, hvp=ackley_nd_hvp,
        lo=lo, hi=hi, minima=_origin(d), min_value=0.0, starts=np.resize(np.array([-3.2, 3.6]), d)[None, :],
        start_source="the 2-D Ackley's start (-3.2, 3.6), repeated",
        formula=(r"-20 e^{-0.2\sqrt{\frac1N\sum_i x_i^2}} - e^{\frac1N\sum_i \cos 2\pi x_i} + e + 20"),
        source=f"{WIKI} (the SFU library uses [-32.768, 32.768]^d)", params={"d": d},
        default_racers=article_racers(0.1, 0.03, 0.3),
    )


ackley_nd.params_schema = ACKLEY_ND_SCHEMA  # type: ignore[attr-defined]


# --- ill-conditioned quadratic in d dimensions ---------------------------------------------------
def hartley(x: Array) -> Array:
    """The orthonormal discrete Hartley transform along the last axis: (Re - Im)(FFT x) / sqrt(d).

    Symmetric and orthogonal (its own inverse) for every d, O(d log d) through ``np.fft.rfft``;
    each of its basis vectors cas(2 pi k n / d) / sqrt(d) spreads over every coordinate.
    """
    d = x.shape[-1]
    X = np.fft.rfft(x, axis=-1)
    X *= 1.0 / math.sqrt(d)
    h = np.empty(np.broadcast_shapes(x.shape))
    half = X.shape[-1]
    np.subtract(X.real, X.imag, out=h[..., :half])  # in place: no complex-sized temporaries
    # for k > d/2, X_k = conj(X_{d-k}): Re - Im becomes Re + Im of the mirrored entry
    mirror = X[..., d - half:0:-1]  # X_{d-k} for k = half .. d-1 (d even or odd)
    np.add(mirror.real, mirror.imag, out=h[..., half:])
    return h


@dataclass(frozen=True, eq=False)
class Rotation:
    """Q = H S P: a random permutation P, random signs S, then the Hartley transform H.

    Orthogonal, O(d log d) to apply, no dense matrix. A product of a few Householder reflections
    (also O(d)) is the identity outside the span of its vectors, which would leave all but a few
    eigenvectors on the coordinate axes and flatter diagonal preconditioners; every eigenvector of
    Q^T D Q, by contrast, has entries of size ~1/sqrt(d) on every coordinate.
    """

    perm: Array  # Q x = H (signs * x[..., perm])
    inverse: Array
    signs: Array

    @classmethod
    def random(cls, d: int, rng: np.random.Generator) -> Rotation:
        perm = rng.permutation(d).astype(np.int32 if d < 2 ** 31 else np.int64)
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(d, dtype=perm.dtype)
        return cls(perm, inverse, rng.choice(np.array([-1.0, 1.0]), size=d))

    def apply(self, x: Array) -> Array:
        return hartley(self.signs * np.take(x, self.perm, axis=-1))  # take: 2x fancy indexing's speed

    def apply_t(self, y: Array) -> Array:
        return np.take(self.signs * hartley(y), self.inverse, axis=-1)


#: codes of ``quadratic_nd``'s eigenvalue laws
LAWS = {0: "log-spaced", 1: "linear", 2: "two clusters"}

QUADRATIC_ND_SCHEMA: Schema = {
    "d": _dim_schema(100),
    "kappa": {"default": 1000.0, "min": 1.0, "max": 1e8},
    "law": {"default": 0, "min": 0, "max": 2},
    "seed": {"default": 0, "min": 0, "max": 2 ** 32 - 1},
    "rotate": {"default": 1, "min": 0, "max": 1},
}


def spectrum(d: int, kappa: float, law: int) -> Array:
    """``quadratic_nd``'s eigenvalues, ascending, from 1 to kappa: law 0 log-spaced (kappa^(i/(d-1))),
    1 linear, 2 two clusters (the first d // 2 at 1, the rest at kappa)."""
    if law == 0:
        return np.logspace(0.0, math.log10(kappa), d)
    if law == 1:
        return np.linspace(1.0, kappa, d)
    return np.where(np.arange(d) < d // 2, 1.0, kappa)


def quadratic_nd(*, d: int = 100, kappa: float = 1000.0, law: int = 0, seed: int = 0, rotate: int = 1) -> NDLandscape:
    """f = 0.5 x^T Q^T diag(lambda) Q x, lambda from 1 to kappa by ``law``; minimum 0 at x* = 0.

    ``law``: 0 log-spaced, 1 linear, 2 two clusters (``spectrum``). Q: a random orthogonal map from
    ``seed`` (``Rotation``: permutation, signs, Hartley transform), O(d log d), so d up to 10^7 runs
    without a dense matrix; ``rotate=0`` drops it (Q = I: coordinate i has curvature lambda_i, the
    gradient is elementwise, what fused kernels and a memory-stream benchmark need, and what
    flatters diagonal preconditioners). Start x0 = Q^T r, r random signs from ``seed``: one unit
    along every eigenvector, so f(x0) = sum(lambda) / 2 for every seed and law. The box is the
    start's largest coordinate, times 1.25, on every coordinate. Gradient descent is stable below
    2 / kappa (the default racers: a tenth and, for momentum, a hundredth of that). Source: the
    d-dimensional form of the ill-conditioned quadratic of Goh, "Why Momentum Really Works",
    Distill 2017 (its analysis holds along each eigenvector).
    """
    v = _checked("quadratic_nd", QUADRATIC_ND_SCHEMA, {"d": d, "kappa": kappa, "law": law, "seed": seed, "rotate": rotate})
    d, kappa, law, seed, rotate = v["d"], v["kappa"], v["law"], v["seed"], v["rotate"]
    lam = spectrum(d, kappa, law)
    lam.setflags(write=False)
    rng = np.random.default_rng(seed)
    Q = Rotation.random(d, rng) if rotate else None  # drawn first: a seed gives the same Q at every law
    r = rng.choice(np.array([-1.0, 1.0]), size=d)
    x0 = r if Q is None else Q.apply_t(r)
    b = 1.25 * float(np.max(np.abs(x0)))
    lo, hi = _box(d, -b, b)

    if Q is None:
        def f(p: Array) -> Array:
            return 0.5 * np.sum(lam * p * p, axis=-1)

        def grad(p: Array) -> Array:
            return lam * p
    else:
        def f(p: Array) -> Array:
            z = Q.apply(p)
            return 0.5 * np.sum(lam * z * z, axis=-1)

        def grad(p: Array) -> Array:
            return Q.apply_t(lam * Q.apply(p))

    def hvp(p: Array, w: Array) -> Array:
        return np.broadcast_to(grad(w), np.broadcast_shapes(np.shape(p), np.shape(w)))

    turned = "" if rotate else ", axis-aligned"
    return NDLandscape(
        name="quadratic_nd", title=f"Quadratic (d={d}, κ={kappa:g}, {LAWS[law]}{turned})", dim=d, f=f, grad=grad,
        hvp=hvp, lo=lo, hi=hi, minima=_origin(d), min_value=0.0, starts=x0[None, :],
        start_source="chosen: Q^T r, r random signs (seeded): one unit along every eigenvector",
        log_colour=True, formula=r"\tfrac12\,x^\top Q^\top \mathrm{diag}(\lambda)\,Q\,x,\ \lambda_i \in [1, \kappa]",
        source='Goh, "Why Momentum Really Works", Distill 2017, in d dimensions; Q: permutation, signs, Hartley transform',
        params={"d": d, "kappa": kappa, "law": law, "seed": seed, "rotate": rotate},
        default_racers=article_racers(0.2 / kappa, 0.02 / kappa, 0.03),
        separable=None if Q is not None else Separable(_quadratic_term, _quadratic_slope, lam),
    )


quadratic_nd.params_schema = QUADRATIC_ND_SCHEMA  # type: ignore[attr-defined]


# --- regression on real data (scikit-learn's bundled datasets) -----------------------------------
@functools.lru_cache(maxsize=4)
def dataset(name: str) -> tuple[Array, Array]:
    """(X, y) of a scikit-learn bundled dataset ("diabetes", "breast_cancer"): X standardised
    (zero mean, unit variance per feature) with a column of ones appended (the bias), y as shipped."""
    try:
        from sklearn import datasets
    except ImportError:
        raise MissingExtraError(f"the {name} landscape needs scikit-learn's bundled data: pip install 'optarena[nn]'",
                                field="landscape") from None
    loader = {"diabetes": datasets.load_diabetes, "breast_cancer": datasets.load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X = np.hstack([X, np.ones((len(X), 1))])
    X.setflags(write=False)
    y = np.asarray(y, dtype=np.float64)
    y.setflags(write=False)
    return X, y


def _penalty_mask(d: int) -> Array:
    """1 on the weights, 0 on the bias (the last coordinate): the L2 penalty spares the bias."""
    m = np.ones(d)
    m[-1] = 0.0
    return m


def _data_box(w: Array, start: Array) -> tuple[Array, Array]:
    b = 1.5 * max(float(np.max(np.abs(w))), float(np.max(np.abs(start))), 1e-3)
    return _box(len(w), -b, b)


#: the gradient norm below which a solved minimum is listed (else only the bound/nothing is claimed)
VERIFY_GRAD = 1e-9

LEAST_SQUARES_SCHEMA: Schema = {"l2": {"default": 0.0, "min": 0.0, "max": 100.0}}


def least_squares(*, l2: float = 0.0) -> NDLandscape:
    """Linear regression on the diabetes data: f(w) = ||X w - y||^2 / (2n) + (l2 / 2) ||w_1..10||^2.

    X: the 10 standardised features and a column of ones (the bias, w_11, not penalised); y the
    disease progression, standardised (so losses read as fractions of its variance: f(0) = 0.5).
    n = 442. The minimum is the exact solve (``np.linalg.lstsq`` of the normal equations' square
    root), listed once its gradient norm is below ``VERIFY_GRAD``. Start: w = 0. Source: Efron,
    Hastie, Johnstone & Tibshirani, "Least Angle Regression", Annals of Statistics 2004 (the data);
    scikit-learn's ``load_diabetes``.
    """
    l2 = _checked("least_squares", LEAST_SQUARES_SCHEMA, {"l2": l2})["l2"]
    X, y = dataset("diabetes")
    y = (y - y.mean()) / y.std()
    n, d = X.shape
    mask = _penalty_mask(d)

    def f(p: Array) -> Array:
        r = p @ X.T - y
        return 0.5 * np.sum(r * r, axis=-1) / n + 0.5 * l2 * np.sum(mask * p * p, axis=-1)

    def grad(p: Array) -> Array:
        return (p @ X.T - y) @ X / n + l2 * mask * p

    def hvp(p: Array, v: Array) -> Array:
        out = (v @ X.T) @ X / n + l2 * mask * v
        return np.broadcast_to(out, np.broadcast_shapes(np.shape(p), np.shape(v)))

    # min ||[X; sqrt(n l2) M] w - [y; 0]||: the same minimiser, solved without forming X^T X
    A = np.vstack([X, math.sqrt(n * l2) * np.diag(mask)])
    w = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
    verified = float(np.linalg.norm(grad(w))) < VERIFY_GRAD
    start = np.zeros(d)
    lo, hi = _data_box(w, start)
    lam_max = float(np.linalg.eigvalsh(X.T @ X / n + l2 * np.diag(mask))[-1])
    return NDLandscape(
        name="least_squares", title=f"Least squares, diabetes (l2={l2:g})", dim=d, f=f, grad=grad, hvp=hvp,
        lo=lo, hi=hi, minima=w[None, :] if verified else np.zeros((0, d)),
        min_value=float(f(w)) if verified else math.nan, starts=start[None, :], start_source="w = 0",
        no_minimum="" if verified else "the exact solve's gradient norm is not below 1e-9",
        formula=r"\frac{1}{2n}\lVert Xw - y\rVert^2 + \frac{\lambda}{2}\lVert w_{1..10}\rVert^2",
        source="diabetes data (Efron et al., Annals of Statistics 2004) via scikit-learn; standardised",
        params={"l2": l2},
        # gradient descent is stable below 2 / lambda_max: a quarter of that, a tenth of it for momentum
        default_racers=article_racers(0.5 / lam_max, 0.05 / lam_max, 0.05),
    )


least_squares.params_schema = LEAST_SQUARES_SCHEMA  # type: ignore[attr-defined]

LOGISTIC_SCHEMA: Schema = {"l2": {"default": 1e-3, "min": 1e-6, "max": 100.0}}


def _sigmoid(z: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def logistic_regression(*, l2: float = 1e-3) -> NDLandscape:
    """Logistic regression on the breast-cancer data: mean log-loss + (l2 / 2) ||w_1..30||^2.

    f(w) = (1/n) sum_i log(1 + e^{z_i}) - t_i z_i, z = X w, t in {0, 1} (1: benign), n = 569, X the
    30 standardised features and a column of ones (the bias, w_31, not penalised, as in
    scikit-learn's LogisticRegression with C = 1 / (n l2)). The minimum is found by Newton's method
    and listed once its gradient norm is below ``VERIFY_GRAD``. Start: w = 0 (f = log 2).
    l2 > 0 keeps the minimum finite: the data are almost separable. Source: Street, Wolberg &
    Mangasarian 1993 (Wisconsin diagnostic breast cancer) via scikit-learn's ``load_breast_cancer``.
    """
    l2 = _checked("logistic_regression", LOGISTIC_SCHEMA, {"l2": l2})["l2"]
    X, t = dataset("breast_cancer")
    n, d = X.shape
    mask = _penalty_mask(d)

    def f(p: Array) -> Array:
        z = p @ X.T
        return np.mean(np.logaddexp(0.0, z) - t * z, axis=-1) + 0.5 * l2 * np.sum(mask * p * p, axis=-1)

    def grad(p: Array) -> Array:
        return (_sigmoid(p @ X.T) - t) @ X / n + l2 * mask * p

    def hvp(p: Array, v: Array) -> Array:
        s = _sigmoid(p @ X.T)
        return ((s * (1.0 - s)) * (v @ X.T)) @ X / n + l2 * mask * v

    w = np.zeros(d)
    for _ in range(100):  # Newton: quadratic convergence, ~15 steps from 0 at l2 = 1e-3
        g = grad(w)
        if np.linalg.norm(g) < 1e-13:
            break
        s = _sigmoid(X @ w)
        H = (X.T * (s * (1.0 - s))) @ X / n + l2 * np.diag(mask)
        w = w - np.linalg.solve(H, g)
    verified = bool(np.all(np.isfinite(w))) and float(np.linalg.norm(grad(w))) < VERIFY_GRAD
    start = np.zeros(d)
    lo, hi = _data_box(w if verified else start, start)
    return NDLandscape(
        name="logistic_regression", title=f"Logistic regression, breast cancer (l2={l2:g})", dim=d, f=f, grad=grad,
        hvp=hvp, lo=lo, hi=hi, minima=w[None, :] if verified else np.zeros((0, d)),
        min_value=float(f(w)) if verified else math.nan, starts=start[None, :], start_source="w = 0",
        no_minimum="" if verified else "Newton's method did not reach a gradient norm below 1e-9",
        formula=r"\frac1n\sum_i \log(1 + e^{z_i}) - t_i z_i + \frac{\lambda}{2}\lVert w_{1..30}\rVert^2,\ z = Xw",
        source="Wisconsin diagnostic breast cancer (Street, Wolberg & Mangasarian 1993) via scikit-learn; standardised",
        params={"l2": l2},
        # the Hessian's largest eigenvalue is 0.25 lambda_max(X^T X / n) = 3.3 at w = 0, smaller
        # beyond: gradient descent is stable below 0.6 from the start
        default_racers=article_racers(0.15, 0.015, 0.05),
    )


logistic_regression.params_schema = LOGISTIC_SCHEMA  # type: ignore[attr-defined]


# --- matrix landscapes ---------------------------------------------------------------------------
def separated_values(k: int) -> Array:
    """Well-separated target singular values: 4, 2, 1, 0.5, ... (each half the one before)."""
    return 4.0 * 0.5 ** np.arange(k)


def _frame(rng: np.random.Generator, rows: int, cols: int) -> Array:
    """A random (rows, cols) matrix with orthonormal columns (cols <= rows), Haar-distributed."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


MATRIX_SENSING_SCHEMA: Schema = {
    "m": {"default": 8, "min": 1, "max": 64},
    "n": {"default": 8, "min": 1, "max": 64},
    "rank": {"default": 2, "min": 1, "max": 64},
    "measurements": {"default": 128, "min": 1, "max": 100_000},
    "seed": {"default": 0, "min": 0, "max": 2 ** 32 - 1},
}
#: measurements x m x n: the sensing matrices' entries, kept under this (160 MB of float64)
SENSING_MAX_ENTRIES = 20_000_000


def matrix_sensing(*, m: int = 8, n: int = 8, rank: int = 2, measurements: int = 128, seed: int = 0) -> NDLandscape:
    """Matrix sensing: f(W) = ||A(W) - b||^2 / p, A(W)_k = <A_k, W>, p = ``measurements``.

    A_k: i.i.d. standard Gaussian (m, n) matrices; b = A(M) for the rank-``rank`` target
    M = U diag(s) V^T, U, V random orthonormal frames (``seed``), s = 4, 2, 1, 0.5, ...
    (``separated_values``). With p >= m n the Gaussian A is injective with probability one: the
    minimum is M, value 0 (checked: f(M) = 0 and its gradient is 0). With fewer measurements the
    minimisers form an affine subspace through M: only f >= 0 is claimed. Start: W = 0.
    Source: Recht, Fazel & Parrilo, SIAM Review 2010 (Gaussian ensembles satisfy the RIP).
    """
    v = _checked("matrix_sensing", MATRIX_SENSING_SCHEMA,
                 {"m": m, "n": n, "rank": rank, "measurements": measurements, "seed": seed})
    m, n, rank, p, seed = v["m"], v["n"], v["rank"], v["measurements"], v["seed"]
    d = m * n
    if d < 2:
        raise _refuse("matrix_sensing", "m", f"m x n must be at least 2 entries, got {m} x {n}", "m * n >= 2")
    if rank > min(m, n):
        raise _refuse("matrix_sensing", "rank", f"rank must be at most min(m, n) = {min(m, n)}, got {rank}",
                      f"an integer in [1, {min(m, n)}]")
    if p * d > SENSING_MAX_ENTRIES:
        raise _refuse("matrix_sensing", "measurements", f"measurements x m x n must be at most {SENSING_MAX_ENTRIES}, "
                      f"got {p} x {m} x {n}", f"an integer in [1, {SENSING_MAX_ENTRIES // d}]")
    rng = np.random.default_rng(seed)
    s = separated_values(rank)
    target = (_frame(rng, m, rank) * s) @ _frame(rng, n, rank).T
    A = rng.standard_normal((p, d))  # row k: vec(A_k), row-major like the point
    b = A @ target.ravel()

    def f(w: Array) -> Array:
        r = w @ A.T - b
        return np.sum(r * r, axis=-1) / p

    def grad(w: Array) -> Array:
        return (2.0 / p) * ((w @ A.T - b) @ A)

    def hvp(w: Array, u: Array) -> Array:
        return np.broadcast_to((2.0 / p) * ((u @ A.T) @ A), np.broadcast_shapes(np.shape(w), np.shape(u)))

    t = target.ravel()
    # injective with probability one when p >= m n; listed only once verified at M
    unique = p >= d and float(np.linalg.norm(grad(t))) < VERIFY_GRAD
    sv = np.zeros(min(m, n))
    sv[:rank] = s
    start = np.zeros(d)
    bound = 1.5 * float(np.abs(t).max())
    lo, hi = _box(d, -bound, bound)
    # curvature: the Gram matrix (2/p) A^T A has eigenvalues up to ~2 (1 + sqrt(d/p))^2
    lam_max = 2.0 * (1.0 + math.sqrt(d / p)) ** 2
    return NDLandscape(
        name="matrix_sensing", title=f"Matrix sensing ({m}x{n}, rank {rank}, {p} measurements)", dim=d, f=f,
        grad=grad, hvp=hvp, lo=lo, hi=hi, minima=t[None, :] if unique else np.zeros((0, d)), min_value=0.0,
        starts=start[None, :], start_source="W = 0",
        no_minimum="" if unique else f"{p} measurements < m n = {d} entries: the minimisers form an affine subspace through M",
        formula=r"\frac1p \sum_{k=1}^{p} \left(\langle A_k, W\rangle - b_k\right)^2,\ b = \mathcal{A}(M)",
        source=RFP, params={"m": m, "n": n, "rank": rank, "measurements": p, "seed": seed},
        default_racers=article_racers(0.5 / lam_max, 0.05 / lam_max, 0.05),
        blocks=((m, n),), target_singular_values=sv,
    )


matrix_sensing.params_schema = MATRIX_SENSING_SCHEMA  # type: ignore[attr-defined]

DEEP_LINEAR_SCHEMA: Schema = {
    "n_in": {"default": 8, "min": 1, "max": 256},
    "hidden": {"default": 8, "min": 1, "max": 256},
    "n_out": {"default": 8, "min": 1, "max": 256},
    "rank": {"default": 4, "min": 1, "max": 256},
    "scale": {"default": 1e-3, "min": 1e-8, "max": 1.0},
    "seed": {"default": 0, "min": 0, "max": 2 ** 32 - 1},
}


def deep_linear(*, n_in: int = 8, hidden: int = 8, n_out: int = 8, rank: int = 4, scale: float = 1e-3,
                seed: int = 0) -> NDLandscape:
    """The two-layer deep linear network of Saxe, McClelland & Ganguli (ICLR 2014).

    f(W1, W2) = 0.5 / P ||W2 W1 X - Y||^2 with whitened inputs (X X^T / P = I) and Y = M X, which
    is exactly 0.5 ||W2 W1 - M||_F^2: that is what is computed (no sample axis). W1 is (hidden,
    n_in), W2 (n_out, hidden); the point is vec(W1) then vec(W2), row-major. The target map
    M = U diag(s) V^T has ``rank`` modes of strength s = 4, 2, 1, 0.5, ... (``separated_values``),
    U, V random orthonormal frames (``seed``).

    Default start, balanced and decoupled (Saxe et al.'s analytic setting): W1 = scale H V^T,
    W2 = scale U H^T, H a random orthonormal hidden frame, so W2^T W2 = W1 W1^T and every mode
    starts at a0 = scale^2; under gradient flow mode k then follows
    a(t) = s / (1 + (s / a0 - 1) e^{-2 s t}) (t = learning rate x steps), learned at
    t_half = ln(s / a0 - 1) / (2 s): stronger modes first, time ~ 1 / s. Second start: balanced
    but random (the same construction with random frames in place of U and V).

    The minimisers form a manifold ((W2 G^-1, G W1) for invertible G): only the bound is claimed,
    min f = 0.5 sum of s_k^2 over the modes beyond ``hidden`` (Eckart-Young), 0 when hidden >= rank.
    """
    v = _checked("deep_linear", DEEP_LINEAR_SCHEMA,
                 {"n_in": n_in, "hidden": hidden, "n_out": n_out, "rank": rank, "scale": scale, "seed": seed})
    n_in, hidden, n_out, rank, scale, seed = (v[k] for k in ("n_in", "hidden", "n_out", "rank", "scale", "seed"))
    if rank > min(n_in, n_out):
        raise _refuse("deep_linear", "rank", f"rank must be at most min(n_in, n_out) = {min(n_in, n_out)}, got {rank}",
                      f"an integer in [1, {min(n_in, n_out)}]")
    d1, d = hidden * n_in, hidden * n_in + n_out * hidden
    rng = np.random.default_rng(seed)
    s = separated_values(rank)
    U, V = _frame(rng, n_out, rank), _frame(rng, n_in, rank)
    M = (U * s) @ V.T
    k = min(rank, hidden)

    def split(p: Array) -> tuple[Array, Array]:
        lead = p.shape[:-1]
        return p[..., :d1].reshape(lead + (hidden, n_in)), p[..., d1:].reshape(lead + (n_out, hidden))

    def join(a: Array, b: Array) -> Array:
        lead = a.shape[:-2]
        return np.concatenate([a.reshape(lead + (d1,)), b.reshape(lead + (d - d1,))], axis=-1)

    def f(p: Array) -> Array:
        W1, W2 = split(p)
        E = W2 @ W1 - M
        return 0.5 * np.sum(E * E, axis=(-2, -1))

    def grad(p: Array) -> Array:
        W1, W2 = split(p)
        E = W2 @ W1 - M
        return join(np.swapaxes(W2, -1, -2) @ E, E @ np.swapaxes(W1, -1, -2))

    def hvp(p: Array, u: Array) -> Array:
        p, u = np.broadcast_arrays(p, u)
        W1, W2 = split(p)
        V1, V2 = split(u)
        E = W2 @ W1 - M
        dE = V2 @ W1 + W2 @ V1
        return join(np.swapaxes(V2, -1, -2) @ E + np.swapaxes(W2, -1, -2) @ dE,
                    dE @ np.swapaxes(W1, -1, -2) + E @ np.swapaxes(V1, -1, -2))

    def balanced(out_frame: Array, in_frame: Array) -> Array:
        H = _frame(rng, hidden, k)
        return join(scale * H @ in_frame[:, :k].T, scale * out_frame[:, :k] @ H.T)

    # the random start's frames span min(n, hidden) directions, so its product has that rank
    kr = min(n_in, hidden, n_out)
    Ur, Vr = _frame(rng, n_out, kr), _frame(rng, n_in, kr)
    Hr = _frame(rng, hidden, kr)
    random_start = join(scale * Hr @ Vr.T, scale * Ur @ Hr.T)
    starts = np.stack([balanced(U, V), random_start])
    sv = np.zeros(min(n_in, n_out))
    sv[:rank] = s
    bound = 1.25 * max(math.sqrt(float(s[0])), float(np.abs(starts).max()))
    lo, hi = _box(d, -bound, bound)
    return NDLandscape(
        name="deep_linear", title=f"Deep linear network ({n_in}→{hidden}→{n_out}, {rank} modes)", dim=d, f=f,
        grad=grad, hvp=hvp, lo=lo, hi=hi, minima=np.zeros((0, d)), min_value=0.5 * float(np.sum(s[hidden:] ** 2)),
        starts=starts,
        start_source=(f"Saxe et al. 2014: balanced, decoupled, every mode at a0 = scale^2 = {scale * scale:g}; "
                      "second: balanced, random frames"),
        no_minimum="the minimisers form a manifold (W2 G^-1, G W1): the bound min f is claimed, no point",
        formula=r"\frac{1}{2P}\lVert W_2 W_1 X - Y\rVert^2 = \tfrac12 \lVert W_2 W_1 - M\rVert_F^2\ (XX^\top = P\,I)",
        source=SAXE, params={"n_in": n_in, "hidden": hidden, "n_out": n_out, "rank": rank, "scale": scale, "seed": seed},
        # mode s is stable below lr ~ 1 / s_max near its end; Adam's steps grow the tiny start fast
        default_racers=article_racers(0.05, 0.01, 0.01),
        blocks=((hidden, n_in), (n_out, hidden)), target_singular_values=sv, product=True,
    )


deep_linear.params_schema = DEEP_LINEAR_SCHEMA  # type: ignore[attr-defined]

#: the factories, in registration order
FACTORIES: dict[str, Callable[..., NDLandscape]] = {
    "rosenbrock_nd": rosenbrock_nd, "rastrigin_nd": rastrigin_nd, "ackley_nd": ackley_nd,
    "quadratic_nd": quadratic_nd, "least_squares": least_squares, "logistic_regression": logistic_regression,
    "matrix_sensing": matrix_sensing, "deep_linear": deep_linear,
}

__all__ = [
    "FACTORIES", "HESSIAN_MAX_DIM", "JSON_MAX_DIM", "LAWS", "MAX_DIM", "NDLandscape", "Rotation", "VERIFY_GRAD",
    "ackley_nd", "dataset", "deep_linear", "hartley", "least_squares", "logistic_regression", "matrix_sensing",
    "quadratic_nd", "rastrigin_nd", "rosenbrock_nd", "separated_values", "spectrum",
]
