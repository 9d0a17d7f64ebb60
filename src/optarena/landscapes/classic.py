"""The classic 2-D optimisation test functions, each with its exact gradient and Hessian.

Every ``f``/``grad``/``hess`` uses arithmetic and NumPy ufuncs only (no branches on values), so it
works elementwise on arrays of any shape and ``numba.njit`` compiles it for float scalars.

Sources: Wikipedia "Test functions for optimization" (domains, minima); the SFU Virtual Library of
Simulation Experiments (Surjanovic & Bingham); Moré, Garbow & Hillstrom, "Testing unconstrained
optimization software", ACM TOMS 7(1), 1981 (MGH, standard starts); the pytorch_optimizer
visualisation gallery (kozistr/pytorch_optimizer, ``docs/visualization.md``).

Default racers: each landscape's default race (the article's SGD, momentum and Adam from the
default start for 100 steps) uses learning rates picked on a log grid so that every racer makes
visible progress, none diverges, and each stays stable at three times its rate (the saddles,
unbounded below, excepted: there a faster racer escapes further, not less stably).

Bukin N.6 is deliberately absent: ``100 sqrt(|y - 0.01 x^2|)`` is not Lipschitz on its ridge, so
no finite (Clarke) subgradient exists there and any "gradient" we shipped would be wrong.

Hessians are derived by hand (tests hold them to central differences of the exact gradient).
All are smooth everywhere except Ackley's at the origin (the cone tip; see ``ackley_hess``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._base import Landscape, article_racers

PI = np.pi
E = np.e
TWO_PI = 2.0 * np.pi
SQRT_HALF = math.sqrt(0.5)
# Keeps Ackley's x / |p| finite (and exactly 0) at the origin without a branch; it alters the
# gradient only for |p| < ~1e-290, and 2 / _TINY stays finite (no inf * 0 = nan at 0).
_TINY = 1e-300

WIKI = 'Wikipedia, "Test functions for optimization"'
SFU = "SFU Virtual Library of Simulation Experiments (Surjanovic & Bingham)"
MGH = "Moré, Garbow & Hillstrom 1981"
GALLERY = "pytorch_optimizer visualisation gallery"


# --- Rosenbrock -------------------------------------------------------------------------------
def rosenbrock_f(x: Any, y: Any) -> Any:
    """(1 - x)^2 + 100 (y - x^2)^2."""
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_grad(x: Any, y: Any) -> tuple[Any, Any]:
    t = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * t, 200.0 * t


def rosenbrock_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 2.0 - 400.0 * y + 1200.0 * x * x, -400.0 * x, 200.0


ROSENBROCK = Landscape(
    name="rosenbrock", title="Rosenbrock", f=rosenbrock_f, grad=rosenbrock_grad, hess=rosenbrock_hess,
    window=((-2.0, 2.0), (-1.0, 3.0)), minima=((1.0, 1.0),), min_value=0.0,
    starts=((-1.2, 1.0), (-2.0, 2.0)),
    start_source=f"(-1.2, 1): {MGH} (problem 1); (-2, 2): {GALLERY}",
    log_colour=True, formula=r"(1-x)^2 + 100\,(y-x^2)^2",
    source=f"{WIKI}; window as in the {GALLERY}",
    default_racers=article_racers(0.001, 0.001, 0.1),
)


# --- Beale ------------------------------------------------------------------------------------
def beale_f(x: Any, y: Any) -> Any:
    """(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2."""
    y2 = y * y
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y2) ** 2 + (2.625 - x + x * y2 * y) ** 2


def beale_grad(x: Any, y: Any) -> tuple[Any, Any]:
    y2 = y * y
    y3 = y2 * y
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y2
    t3 = 2.625 - x + x * y3
    gx = 2.0 * (t1 * (y - 1.0) + t2 * (y2 - 1.0) + t3 * (y3 - 1.0))
    gy = 2.0 * x * (t1 + 2.0 * y * t2 + 3.0 * y2 * t3)
    return gx, gy


def beale_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    y2 = y * y
    y3 = y2 * y
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y2
    t3 = 2.625 - x + x * y3
    hxx = 2.0 * ((y - 1.0) ** 2 + (y2 - 1.0) ** 2 + (y3 - 1.0) ** 2)
    hxy = 2.0 * (t1 + 2.0 * y * t2 + 3.0 * y2 * t3
                 + x * ((y - 1.0) + 2.0 * y * (y2 - 1.0) + 3.0 * y2 * (y3 - 1.0)))
    hyy = 2.0 * x * (x + 2.0 * t2 + 4.0 * x * y2 + 6.0 * y * t3 + 9.0 * x * y2 * y2)
    return hxx, hxy, hyy


BEALE = Landscape(
    name="beale", title="Beale", f=beale_f, grad=beale_grad, hess=beale_hess,
    window=((-4.5, 4.5), (-4.5, 4.5)), minima=((3.0, 0.5),), min_value=0.0,
    starts=((1.0, 1.0), (1.0, 4.0)),
    start_source=f"(1, 1): {MGH} (problem 5); (1, 4): chosen: top edge, where the y^3 term "
    "makes gradients huge",
    log_colour=True,
    formula=r"(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2", source=WIKI,
    default_racers=article_racers(0.005, 0.005, 0.01),
)


# --- Rastrigin --------------------------------------------------------------------------------
def rastrigin_f(x: Any, y: Any) -> Any:
    """20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)  (A = 10, n = 2)."""
    return 20.0 + x * x - 10.0 * np.cos(TWO_PI * x) + y * y - 10.0 * np.cos(TWO_PI * y)


def rastrigin_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 2.0 * x + 20.0 * PI * np.sin(TWO_PI * x), 2.0 * y + 20.0 * PI * np.sin(TWO_PI * y)


def rastrigin_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    c = 40.0 * PI * PI
    return 2.0 + c * np.cos(TWO_PI * x), 0.0, 2.0 + c * np.cos(TWO_PI * y)


RASTRIGIN = Landscape(
    name="rastrigin", title="Rastrigin", f=rastrigin_f, grad=rastrigin_grad, hess=rastrigin_hess,
    window=((-5.12, 5.12), (-5.12, 5.12)), minima=((0.0, 0.0),), min_value=0.0,
    starts=((-2.0, 3.5),), start_source=GALLERY,
    formula=r"20 + \sum_{i} \left(x_i^2 - 10\cos(2\pi x_i)\right)", source=WIKI,
    default_racers=article_racers(0.001, 0.001, 0.3),
)


# --- Ackley -----------------------------------------------------------------------------------
def ackley_f(x: Any, y: Any) -> Any:
    """-20 exp(-0.2 sqrt(0.5 (x^2 + y^2))) - exp(0.5 (cos 2 pi x + cos 2 pi y)) + e + 20."""
    s = SQRT_HALF * np.hypot(x, y)
    return (-20.0 * np.exp(-0.2 * s) - np.exp(0.5 * (np.cos(TWO_PI * x) + np.cos(TWO_PI * y)))
            + E + 20.0)


def ackley_grad(x: Any, y: Any) -> tuple[Any, Any]:
    # The cone tip at 0 has subdifferential a disc around 0; _TINY picks its centre, 0.
    # hypot, not sqrt(x^2 + y^2): squaring tiny radii would underflow into subnormals.
    s = SQRT_HALF * np.hypot(x, y)
    a = 2.0 * np.exp(-0.2 * s) / (s + _TINY)
    b = PI * np.exp(0.5 * (np.cos(TWO_PI * x) + np.cos(TWO_PI * y)))
    return a * x + b * np.sin(TWO_PI * x), a * y + b * np.sin(TWO_PI * y)


def ackley_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    # The cone -20 exp(-0.2 s) is radial, g(r) with r = |p|: its Hessian is g'' u u^T + (g'/r)
    # (I - u u^T), u = p / r. g'/r (``a``, as in the gradient) grows like 1/r: f is not twice
    # differentiable at the origin and its Hessian is unbounded near it. At the origin itself
    # u = 0 (_TINY again), so the cone contributes 0 there and what is returned is the Hessian of
    # the cosine term alone, diag(2 pi^2 e, 2 pi^2 e): finite, though no limit exists there.
    r = np.hypot(x, y)
    s = SQRT_HALF * r
    ex = np.exp(-0.2 * s)
    a = 2.0 * ex / (s + _TINY)  # g'(r) / r
    g2 = -0.4 * ex  # g''(r)
    ux = x / (r + _TINY)
    uy = y / (r + _TINY)
    cx, cy = np.cos(TWO_PI * x), np.cos(TWO_PI * y)
    sx, sy = np.sin(TWO_PI * x), np.sin(TWO_PI * y)
    b = PI * PI * np.exp(0.5 * (cx + cy))
    hxx = g2 * ux * ux + a * uy * uy + b * (2.0 * cx - sx * sx)
    hxy = (g2 - a) * ux * uy - b * sx * sy
    hyy = g2 * uy * uy + a * ux * ux + b * (2.0 * cy - sy * sy)
    return hxx, hxy, hyy


ACKLEY = Landscape(
    name="ackley", title="Ackley", f=ackley_f, grad=ackley_grad, hess=ackley_hess,
    window=((-5.0, 5.0), (-5.0, 5.0)), minima=((0.0, 0.0),), min_value=0.0,
    starts=((-3.2, 3.6),),
    start_source="chosen: off-axis, in the flat rippled outer region, away from the funnel",
    formula=(r"-20 e^{-0.2\sqrt{0.5(x^2+y^2)}} - e^{0.5(\cos 2\pi x + \cos 2\pi y)} + e + 20"),
    source=f"{WIKI} (the SFU library uses [-32.768, 32.768]^2)",
    default_racers=article_racers(0.1, 0.03, 0.3),
)


# --- Himmelblau -------------------------------------------------------------------------------
def himmelblau_f(x: Any, y: Any) -> Any:
    """(x^2 + y - 11)^2 + (x + y^2 - 7)^2."""
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def himmelblau_grad(x: Any, y: Any) -> tuple[Any, Any]:
    a = x * x + y - 11.0
    b = x + y * y - 7.0
    return 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


def himmelblau_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 12.0 * x * x + 4.0 * y - 42.0, 4.0 * (x + y), 4.0 * x + 12.0 * y * y - 26.0


HIMMELBLAU = Landscape(
    name="himmelblau", title="Himmelblau", f=himmelblau_f, grad=himmelblau_grad, hess=himmelblau_hess,
    window=((-5.0, 5.0), (-5.0, 5.0)),
    # Non-integer zeros refined by Newton's method to double precision.
    minima=((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696), (3.5844283403304917, -1.8481265269644036)),
    min_value=0.0,
    starts=((0.0, 0.0), (-0.5, -1.5)),
    start_source="chosen: (0, 0) sits between all four basins, so it shows which one each "
    "optimizer picks; (-0.5, -1.5) is just past the central maximum (-0.2708, -0.9230)",
    log_colour=True, formula=r"(x^2+y-11)^2 + (x+y^2-7)^2", source=WIKI,
    default_racers=article_racers(0.001, 0.001, 0.03),
)


# --- Booth ------------------------------------------------------------------------------------
def booth_f(x: Any, y: Any) -> Any:
    """(x + 2y - 7)^2 + (2x + y - 5)^2."""
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def booth_grad(x: Any, y: Any) -> tuple[Any, Any]:
    a = x + 2.0 * y - 7.0
    b = 2.0 * x + y - 5.0
    return 2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b


def booth_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 10.0, 8.0, 10.0


BOOTH = Landscape(
    name="booth", title="Booth", f=booth_f, grad=booth_grad, hess=booth_hess,
    window=((-10.0, 10.0), (-10.0, 10.0)), minima=((1.0, 3.0),), min_value=0.0,
    starts=((-8.0, -6.0),), start_source="chosen: far corner, off both eigen-directions",
    log_colour=True, formula=r"(x+2y-7)^2 + (2x+y-5)^2", source=WIKI,
    default_racers=article_racers(0.001, 0.001, 0.1),
)


# --- Matyas -----------------------------------------------------------------------------------
def matyas_f(x: Any, y: Any) -> Any:
    """0.26 (x^2 + y^2) - 0.48 x y."""
    return 0.26 * (x * x + y * y) - 0.48 * x * y


def matyas_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x


def matyas_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 0.52, -0.48, 0.52


MATYAS = Landscape(
    name="matyas", title="Matyas", f=matyas_f, grad=matyas_grad, hess=matyas_hess,
    window=((-10.0, 10.0), (-10.0, 10.0)), minima=((0.0, 0.0),), min_value=0.0,
    starts=((7.0, -3.0),),
    start_source="chosen: off the diagonal valley (Hessian eigenvalues 1 and 0.04, kappa 25)",
    formula=r"0.26\,(x^2+y^2) - 0.48\,xy", source=WIKI,
    default_racers=article_racers(0.02, 0.02, 0.05),
)


# --- Three-hump camel -------------------------------------------------------------------------
def three_hump_camel_f(x: Any, y: Any) -> Any:
    """2x^2 - 1.05x^4 + x^6/6 + xy + y^2."""
    x2 = x * x
    return 2.0 * x2 - 1.05 * x2 * x2 + x2 * x2 * x2 / 6.0 + x * y + y * y


def three_hump_camel_grad(x: Any, y: Any) -> tuple[Any, Any]:
    x2 = x * x
    return 4.0 * x - 4.2 * x2 * x + x2 * x2 * x + y, x + 2.0 * y


def three_hump_camel_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    x2 = x * x
    return 4.0 - 12.6 * x2 + 5.0 * x2 * x2, 1.0, 2.0


THREE_HUMP_CAMEL = Landscape(
    name="three_hump_camel", title="Three-hump camel", f=three_hump_camel_f,
    grad=three_hump_camel_grad, hess=three_hump_camel_hess,
    window=((-5.0, 5.0), (-5.0, 5.0)), minima=((0.0, 0.0),),
    min_value=0.0, starts=((-3.0, 3.5), (2.2, -2.0)),
    start_source="chosen: (-3, 3.5) on the steep x^6 wall; (2.2, -2) near the local minimum at "
    "(1.7476, -0.8738)",
    log_colour=True, formula=r"2x^2 - 1.05x^4 + \frac{x^6}{6} + xy + y^2",
    source=f"{WIKI}; {SFU}",
    local_minima=((1.747552345830289, -0.8737761729151445),
                  (-1.747552345830289, 0.8737761729151445)),
    default_racers=article_racers(0.003, 0.003, 0.02),
)


# --- Goldstein-Price --------------------------------------------------------------------------
def goldstein_price_f(x: Any, y: Any) -> Any:
    """[1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
    * [30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]."""
    a = x + y + 1.0
    p = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y
    b = 2.0 * x - 3.0 * y
    q = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y
    return (1.0 + a * a * p) * (30.0 + b * b * q)


def goldstein_price_grad(x: Any, y: Any) -> tuple[Any, Any]:
    a = x + y + 1.0
    p = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y
    b = 2.0 * x - 3.0 * y
    q = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y
    left = 1.0 + a * a * p
    right = 30.0 + b * b * q
    # dp/dx == dp/dy, so the left factor has the same partial in x and y.
    dleft = 2.0 * a * p + a * a * (-14.0 + 6.0 * x + 6.0 * y)
    dright_x = 4.0 * b * q + b * b * (-32.0 + 24.0 * x - 36.0 * y)
    dright_y = -6.0 * b * q + b * b * (48.0 - 36.0 * x + 54.0 * y)
    return dleft * right + left * dright_x, dleft * right + left * dright_y


def goldstein_price_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    # f = L R: f_ij = L_ij R + L_i R_j + L_j R_i + L R_ij. L depends on x and y alike (a and p
    # have equal partials; p's second partials are all 6), so L_xx = L_xy = L_yy.
    a = x + y + 1.0
    p = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y
    b = 2.0 * x - 3.0 * y
    q = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y
    pd = -14.0 + 6.0 * x + 6.0 * y
    qx = -32.0 + 24.0 * x - 36.0 * y
    qy = 48.0 - 36.0 * x + 54.0 * y
    left = 1.0 + a * a * p
    right = 30.0 + b * b * q
    dleft = 2.0 * a * p + a * a * pd
    ddleft = 2.0 * p + 4.0 * a * pd + 6.0 * a * a
    rx = 4.0 * b * q + b * b * qx
    ry = -6.0 * b * q + b * b * qy
    rxx = 8.0 * q + 8.0 * b * qx + 24.0 * b * b
    rxy = -12.0 * q + 4.0 * b * qy - 6.0 * b * qx - 36.0 * b * b
    ryy = 18.0 * q - 12.0 * b * qy + 54.0 * b * b
    hxx = ddleft * right + 2.0 * dleft * rx + left * rxx
    hxy = ddleft * right + dleft * (rx + ry) + left * rxy
    hyy = ddleft * right + 2.0 * dleft * ry + left * ryy
    return hxx, hxy, hyy


GOLDSTEIN_PRICE = Landscape(
    name="goldstein_price", title="Goldstein-Price", f=goldstein_price_f,
    grad=goldstein_price_grad, hess=goldstein_price_hess,
    window=((-2.0, 2.0), (-2.0, 2.0)), minima=((0.0, -1.0),),
    min_value=3.0, starts=((-1.5, 1.5),),
    start_source="chosen: upper-left, f ~ 1e5, several local minima between it and (0, -1)",
    log_colour=True,
    formula=(r"\left[1+(x+y+1)^2(19-14x+3x^2-14y+6xy+3y^2)\right]"
             r"\left[30+(2x-3y)^2(18-32x+12x^2+48y-36xy+27y^2)\right]"),
    source=f"{WIKI}; local minima f = 30, 84, 840 from {SFU}",
    local_minima=((-0.6, -0.4), (1.8, 0.2), (1.2, 0.8)),
    default_racers=article_racers(3e-08, 3e-08, 0.003),
)


# --- Levi N.13 --------------------------------------------------------------------------------
def levi13_f(x: Any, y: Any) -> Any:
    """sin^2(3 pi x) + (x-1)^2 (1 + sin^2(3 pi y)) + (y-1)^2 (1 + sin^2(2 pi y))."""
    return (np.sin(3.0 * PI * x) ** 2 + (x - 1.0) ** 2 * (1.0 + np.sin(3.0 * PI * y) ** 2)
            + (y - 1.0) ** 2 * (1.0 + np.sin(TWO_PI * y) ** 2))


def levi13_grad(x: Any, y: Any) -> tuple[Any, Any]:
    gx = 3.0 * PI * np.sin(6.0 * PI * x) + 2.0 * (x - 1.0) * (1.0 + np.sin(3.0 * PI * y) ** 2)
    gy = (3.0 * PI * (x - 1.0) ** 2 * np.sin(6.0 * PI * y)
          + 2.0 * (y - 1.0) * (1.0 + np.sin(TWO_PI * y) ** 2)
          + TWO_PI * (y - 1.0) ** 2 * np.sin(4.0 * PI * y))
    return gx, gy


def levi13_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    hxx = 18.0 * PI * PI * np.cos(6.0 * PI * x) + 2.0 * (1.0 + np.sin(3.0 * PI * y) ** 2)
    hxy = 6.0 * PI * (x - 1.0) * np.sin(6.0 * PI * y)
    hyy = (18.0 * PI * PI * (x - 1.0) ** 2 * np.cos(6.0 * PI * y)
           + 2.0 * (1.0 + np.sin(TWO_PI * y) ** 2)
           + 8.0 * PI * (y - 1.0) * np.sin(4.0 * PI * y)
           + 8.0 * PI * PI * (y - 1.0) ** 2 * np.cos(4.0 * PI * y))
    return hxx, hxy, hyy


LEVI13 = Landscape(
    name="levi13", title="Levi N.13", f=levi13_f, grad=levi13_grad, hess=levi13_hess,
    window=((-10.0, 10.0), (-10.0, 10.0)), minima=((1.0, 1.0),), min_value=0.0,
    starts=((-6.0, -4.5),), start_source="chosen: far from (1, 1) across many ripples",
    formula=r"\sin^2 3\pi x + (x-1)^2(1+\sin^2 3\pi y) + (y-1)^2(1+\sin^2 2\pi y)",
    source=WIKI,
    default_racers=article_racers(0.0008, 0.0008, 0.3),
)


# --- Styblinski-Tang --------------------------------------------------------------------------
_ST_LO = -2.903534027771177  # roots of 2t^3 - 16t + 2.5 = 0 (per-coordinate minima)
_ST_HI = 2.746802770990837


def styblinski_tang_f(x: Any, y: Any) -> Any:
    """0.5 (x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y)."""
    x2 = x * x
    y2 = y * y
    return 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x + y2 * y2 - 16.0 * y2 + 5.0 * y)


def styblinski_tang_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 2.0 * x * x * x - 16.0 * x + 2.5, 2.0 * y * y * y - 16.0 * y + 2.5


def styblinski_tang_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 6.0 * x * x - 16.0, 0.0, 6.0 * y * y - 16.0


STYBLINSKI_TANG = Landscape(
    name="styblinski_tang", title="Styblinski-Tang", f=styblinski_tang_f,
    grad=styblinski_tang_grad, hess=styblinski_tang_hess, window=((-5.0, 5.0), (-5.0, 5.0)),
    minima=((_ST_LO, _ST_LO),), min_value=-78.33233140754282,
    starts=((4.5, 4.5), (0.0, 4.5)),
    start_source="chosen: (4.5, 4.5) drains into the shallowest minimum (2.75, 2.75); "
    "(0, 4.5) starts just left of the ridge x = 0.157 between basins",
    formula=r"\tfrac12 \sum_i \left(x_i^4 - 16x_i^2 + 5x_i\right)", source=f"{WIKI}; {SFU}",
    local_minima=((_ST_HI, _ST_HI), (_ST_LO, _ST_HI), (_ST_HI, _ST_LO)),
    default_racers=article_racers(0.001, 0.001, 0.3),
)


# --- Easom ------------------------------------------------------------------------------------
def easom_f(x: Any, y: Any) -> Any:
    """-cos x cos y exp(-((x - pi)^2 + (y - pi)^2))."""
    return -np.cos(x) * np.cos(y) * np.exp(-((x - PI) ** 2 + (y - PI) ** 2))


def easom_grad(x: Any, y: Any) -> tuple[Any, Any]:
    e = np.exp(-((x - PI) ** 2 + (y - PI) ** 2))
    cx, cy = np.cos(x), np.cos(y)
    return ((np.sin(x) + 2.0 * (x - PI) * cx) * cy * e,
            (np.sin(y) + 2.0 * (y - PI) * cy) * cx * e)


def easom_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    e = np.exp(-((x - PI) ** 2 + (y - PI) ** 2))
    cx, cy, sx, sy = np.cos(x), np.cos(y), np.sin(x), np.sin(y)
    dx, dy = x - PI, y - PI
    px = sx + 2.0 * dx * cx  # grad = (px cy e, py cx e)
    py = sy + 2.0 * dy * cy
    hxx = (3.0 * cx - 4.0 * dx * sx - 4.0 * dx * dx * cx) * cy * e
    hyy = (3.0 * cy - 4.0 * dy * sy - 4.0 * dy * dy * cy) * cx * e
    return hxx, -px * py * e, hyy


EASOM = Landscape(
    name="easom", title="Easom", f=easom_f, grad=easom_grad, hess=easom_hess,
    window=((-100.0, 100.0), (-100.0, 100.0)), minima=((PI, PI),), min_value=-1.0,
    starts=((1.0, 1.0), (2.0, 2.5)),
    start_source="chosen: (1, 1) is on the plateau where |grad| ~ 1e-4 (vanishing gradient); "
    "(2, 2.5) is inside the funnel",
    formula=r"-\cos x\,\cos y\,e^{-((x-\pi)^2+(y-\pi)^2)}", source=WIKI,
    default_racers=article_racers(100.0, 10.0, 0.1),
)


# --- Saddles ----------------------------------------------------------------------------------
def saddle_f(x: Any, y: Any) -> Any:
    """x^2 - y^2."""
    return x * x - y * y


def saddle_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 2.0 * x, -2.0 * y


def saddle_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 2.0, 0.0, -2.0


SADDLE = Landscape(
    name="saddle", title="Saddle", f=saddle_f, grad=saddle_grad, hess=saddle_hess,
    window=((-2.0, 2.0), (-2.0, 2.0)), minima=(), min_value=-math.inf,
    starts=((1.5, 0.01), (1.5, 0.0)),
    start_source="chosen: near the stable axis y = 0 so escape speed shows; on y = 0 exactly "
    "plain gradient descent never escapes",
    formula=r"x^2 - y^2", source="teaching surface",
    no_minimum="x^2 - y^2 is unbounded below (it falls without end along the y axis)",
    saddle=(0.0, 0.0), escape_margin=1.0,
    default_racers=article_racers(0.004, 0.004, 0.012),
)


def monkey_saddle_f(x: Any, y: Any) -> Any:
    """x^3 - 3 x y^2."""
    return x * x * x - 3.0 * x * y * y


def monkey_saddle_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 3.0 * (x * x - y * y), -6.0 * x * y


def monkey_saddle_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 6.0 * x, -6.0 * y, -6.0 * x


MONKEY_SADDLE = Landscape(
    name="monkey_saddle", title="Monkey saddle", f=monkey_saddle_f, grad=monkey_saddle_grad,
    hess=monkey_saddle_hess,
    window=((-2.0, 2.0), (-2.0, 2.0)), minima=(), min_value=-math.inf,
    starts=((1.5, 0.2),),
    start_source="chosen: on the rising ridge, slightly off the x axis",
    formula=r"x^3 - 3xy^2", source="teaching surface",
    no_minimum="x^3 - 3xy^2 is unbounded below (it falls without end in three valleys, e.g. "
    "along the negative x axis)",
    # (0, 0) is a degenerate stationary point: Hessian 0, three valleys and three ridges meet.
    saddle=(0.0, 0.0), escape_margin=1.0,
    default_racers=article_racers(0.002, 0.0003, 0.008),
)


# --- Two-well bowl ----------------------------------------------------------------------------
def two_well_f(x: Any, y: Any) -> Any:
    """x^2 + y^2 - 2 exp(-((x-1)^2 + y^2)/0.2) - 3 exp(-((x+1)^2 + y^2)/0.2)."""
    y2 = y * y
    return (x * x + y2 - 2.0 * np.exp(-((x - 1.0) ** 2 + y2) / 0.2)
            - 3.0 * np.exp(-((x + 1.0) ** 2 + y2) / 0.2))


def two_well_grad(x: Any, y: Any) -> tuple[Any, Any]:
    y2 = y * y
    # d/dx of -c exp(-r^2/0.2) is +c exp(.) * 2(x - x0)/0.2 = 10 c (x - x0) exp(.)
    e1 = 20.0 * np.exp(-((x - 1.0) ** 2 + y2) / 0.2)
    e2 = 30.0 * np.exp(-((x + 1.0) ** 2 + y2) / 0.2)
    return 2.0 * x + e1 * (x - 1.0) + e2 * (x + 1.0), 2.0 * y + (e1 + e2) * y


def two_well_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    y2 = y * y
    # the gradient's factors; d e1/dx = -10 (x - 1) e1, d e1/dy = -10 y e1 (e2 alike)
    e1 = 20.0 * np.exp(-((x - 1.0) ** 2 + y2) / 0.2)
    e2 = 30.0 * np.exp(-((x + 1.0) ** 2 + y2) / 0.2)
    hxx = 2.0 + e1 * (1.0 - 10.0 * (x - 1.0) ** 2) + e2 * (1.0 - 10.0 * (x + 1.0) ** 2)
    hxy = -10.0 * y * (e1 * (x - 1.0) + e2 * (x + 1.0))
    hyy = 2.0 + (e1 + e2) * (1.0 - 10.0 * y2)
    return hxx, hxy, hyy


TWO_WELL = Landscape(
    name="two_well", title="Two-well bowl", f=two_well_f, grad=two_well_grad, hess=two_well_hess,
    window=((-2.0, 2.0), (-2.0, 2.0)),
    minima=((-0.9363006340109187, 0.0),), min_value=-2.0630902517681946,
    starts=((1.6, 1.4),),
    start_source="chosen: upper right, nearer the shallow well, so it shows who reaches the "
    "deep one",
    formula=r"x^2+y^2 - 2e^{-((x-1)^2+y^2)/0.2} - 3e^{-((x+1)^2+y^2)/0.2}",
    source="teaching surface (shared/reference/landscapes.md); minima by root-finding on "
    "df/dx(x, 0) = 0",
    local_minima=((0.905317899160115, 0.0),),
    default_racers=article_racers(0.005, 0.005, 0.1),
)


# --- McCormick --------------------------------------------------------------------------------
def mccormick_f(x: Any, y: Any) -> Any:
    """sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1."""
    return np.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1.0


def mccormick_grad(x: Any, y: Any) -> tuple[Any, Any]:
    c = np.cos(x + y)
    d = 2.0 * (x - y)
    return c + d - 1.5, c - d + 2.5


def mccormick_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    s = np.sin(x + y)
    return 2.0 - s, -2.0 - s, 2.0 - s


# grad = 0 gives x - y = 1, cos(x + y) = -1/2; the minimum has x + y = -2pi/3 (f = -sqrt3/2 - pi/3).
MCCORMICK = Landscape(
    name="mccormick", title="McCormick", f=mccormick_f, grad=mccormick_grad, hess=mccormick_hess,
    window=((-1.5, 4.0), (-3.0, 4.0)),
    minima=((0.5 - PI / 3.0, -0.5 - PI / 3.0),), min_value=-math.sqrt(3.0) / 2.0 - PI / 3.0,
    starts=((3.5, -2.5), (3.5, 3.0)),
    start_source="chosen: (3.5, -2.5) lower right, in the global basin; (3.5, 3) drains to the "
    "local minimum at x + y = 4pi/3",
    formula=r"\sin(x+y) + (x-y)^2 - 1.5x + 2.5y + 1", source=WIKI,
    local_minima=((0.5 + 2.0 * PI / 3.0, -0.5 + 2.0 * PI / 3.0),),
    default_racers=article_racers(0.01, 0.01, 0.05),
)


ALL: tuple[Landscape, ...] = (
    ROSENBROCK, BEALE, RASTRIGIN, ACKLEY, HIMMELBLAU, BOOTH, MATYAS, THREE_HUMP_CAMEL,
    GOLDSTEIN_PRICE, LEVI13, STYBLINSKI_TANG, EASOM, SADDLE, MONKEY_SADDLE, TWO_WELL, MCCORMICK,
)
