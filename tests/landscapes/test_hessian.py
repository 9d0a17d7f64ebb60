"""Exact Hessians: every registered landscape against central differences of its exact gradient,
typed formulas against sympy's own ``hessian``, and what ``hessian()`` does without one."""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable

import numpy as np
import pytest

from optarena.errors import UsageError
from optarena.landscapes import Landscape, from_formula, get, names

NAMES = names()
#: Where a built-in landscape is not twice differentiable: the points tested keep away from them.
KINKS: dict[str, tuple[tuple[float, float], ...]] = {"ackley": ((0.0, 0.0),)}
KINK_RADIUS = 0.05


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(("hessian:" + name).encode()))


def _points(ls: Landscape, n: int = 50) -> np.ndarray:
    """n random points in the window plus 3 near each listed point (on Easom's plateau random
    points see only underflowed zeros), away from known kinks."""
    (x0, x1), (y0, y1) = ls.window
    rng = _rng(ls.name)
    P = np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=1)
    anchors = np.repeat(np.array(ls.minima + ls.local_minima + ls.starts, dtype=float).reshape(-1, 2), 3, axis=0)
    near = anchors + rng.uniform(-0.5, 0.5, anchors.shape)
    near = np.stack([np.clip(near[:, 0], x0, x1), np.clip(near[:, 1], y0, y1)], axis=1)
    P = np.concatenate([P, near])
    for k in KINKS.get(ls.name, ()):
        P = P[np.hypot(P[:, 0] - k[0], P[:, 1] - k[1]) > KINK_RADIUS]
    return P


def _fd_hessian(grad: Callable[[Any, Any], tuple[Any, Any]], P: np.ndarray) -> np.ndarray:
    """(K, 2, 2): column j is the central difference of the exact gradient along coordinate j."""
    cols = []
    for j in (0, 1):
        h = 1e-5 * np.maximum(1.0, np.abs(P[:, j]))
        e = np.zeros_like(P)
        e[:, j] = h
        gp = np.stack(np.broadcast_arrays(*grad(*(P + e).T)), axis=-1)
        gm = np.stack(np.broadcast_arrays(*grad(*(P - e).T)), axis=-1)
        cols.append((gp - gm) / (2.0 * h[:, None]))
    return np.stack(cols, axis=-1)


def _assert_matches_fd(ls: Landscape, P: np.ndarray) -> None:
    H = ls.hessian(P)
    fd = _fd_hessian(ls.grad, P)
    g = np.abs(ls.gradient(P)).max(axis=-1)
    # Truncation (h^2 f'''' / 6) and rounding (eps |g| / h) are both far below this.
    tol = 1e-5 * np.abs(H).max(axis=(-2, -1)) + 1e-9 * (1.0 + g)
    err = np.abs(H - fd).max(axis=(-2, -1))
    bad = np.flatnonzero(~(err <= tol))
    assert bad.size == 0, (ls.name, P[bad[:3]], H[bad[:3]], fd[bad[:3]])


# --- every registered landscape -----------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_every_landscape_has_an_exact_hessian(name: str) -> None:
    ls = get(name)
    assert ls.has_hessian and ls.hess is not None and not ls.no_hessian


@pytest.mark.parametrize("name", NAMES)
def test_hessian_matches_central_differences_of_the_gradient(name: str) -> None:
    ls = get(name)
    _assert_matches_fd(ls, _points(ls))


@pytest.mark.parametrize("name", NAMES)
def test_hessian_is_symmetric_and_shaped(name: str) -> None:
    ls = get(name)
    P = _points(ls)
    H = ls.hessian(P)
    assert H.shape == (len(P), 2, 2) and H.dtype == np.float64
    assert np.all(np.isfinite(H))
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    assert ls.hessian(np.array(ls.default_start)).shape == (2, 2)
    grid = P[:35].reshape(5, 7, 2)
    Hg = ls.hessian(grid)
    assert Hg.shape == (5, 7, 2, 2)
    hess = ls.hess
    assert hess is not None
    for i in range(5):
        for j in range(7):  # elementwise: scalars give the array's values (SIMD may differ by an ulp)
            hs = np.array(hess(float(grid[i, j, 0]), float(grid[i, j, 1])), dtype=float)
            np.testing.assert_allclose(Hg[i, j].ravel()[[0, 1, 3]], hs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_vector_product_is_h_times_v(name: str) -> None:
    ls = get(name)
    P = _points(ls)
    V = _rng(name).normal(size=P.shape)
    H = ls.hessian(P)
    hv = ls.hessian_vector_product(P, V)
    assert hv.shape == P.shape
    np.testing.assert_allclose(hv, np.einsum("kij,kj->ki", H, V), rtol=1e-12,
                               atol=1e-12 * (1.0 + np.abs(H).max()))
    # broadcasting: one point, many vectors; many points, one vector
    np.testing.assert_allclose(ls.hessian_vector_product(P[0], V), V @ H[0].T, rtol=1e-12,
                               atol=1e-12 * (1.0 + np.abs(H[0]).max()))
    np.testing.assert_allclose(ls.hessian_vector_product(P, V[0]), H @ V[0], rtol=1e-12,
                               atol=1e-12 * (1.0 + np.abs(H).max()))


@pytest.mark.parametrize("name", NAMES)
def test_numba_compiles_hess_for_scalars(name: str) -> None:
    numba = pytest.importorskip("numba")
    ls = get(name)
    hess = ls.hess
    assert hess is not None
    jh = numba.njit(hess)
    for p in ((0.3, -0.2), ls.default_start):
        for a, b in zip(jh(*p), hess(*p)):
            assert a == pytest.approx(float(b), rel=1e-12, abs=1e-300)


# --- parameters and kinks ---------------------------------------------------------------------
@pytest.mark.parametrize("kappa,theta", [(1.0, 0.0), (10.0, 0.0), (250.0, 30.0), (1000.0, 137.0), (7.5, -20.0)])
def test_ill_conditioned_hessian_follows_its_parameters(kappa: float, theta: float) -> None:
    ls = get("ill_conditioned", kappa=kappa, theta=theta)
    t = math.radians(theta)
    R = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])  # (x, y) -> (u, v)
    want = R.T @ np.diag([kappa, 1.0]) @ R
    P = _points(ls, 20)
    H = ls.hessian(P)
    np.testing.assert_allclose(H, np.broadcast_to(want, H.shape), rtol=1e-13, atol=1e-13 * kappa)
    w = np.linalg.eigvalsh(H[0])
    np.testing.assert_allclose(w, [1.0, kappa], rtol=1e-12)
    _assert_matches_fd(ls, P)


def test_ackley_hessian_at_the_cone_tip_is_finite_and_documented() -> None:
    a = get("ackley")
    c = 2.0 * math.pi ** 2 * math.e  # the cosine term's Hessian at 0; the cone contributes 0 there
    np.testing.assert_allclose(a.hessian(np.zeros(2)), np.diag([c, c]), rtol=1e-14)
    for r in (1e-300, 1e-200, 1e-9):  # near the tip: finite, the cone's curvature ~ 1/r across
        H = a.hessian(np.array([r, 0.0]))
        assert np.all(np.isfinite(H))
    # along the x axis, d2f/dy2 of the cone is g'(r)/r = 2 sqrt2 exp(-0.1 sqrt2 r) / r
    r = 1e-6
    H = a.hessian(np.array([r, 0.0]))
    assert H[1, 1] - c == pytest.approx(2.0 * math.sqrt(2.0) * math.exp(-0.1 * math.sqrt(2.0) * r) / r, rel=1e-6)


# --- typed formulas ---------------------------------------------------------------------------
FORMULAS: list[tuple[str, Callable[[Any, Any, Any], Any]]] = [
    ("x**2 + 10*y**2", lambda sp, x, y: x**2 + 10 * y**2),
    ("(1 - x)^2 + 100*(y - x^2)^2", lambda sp, x, y: (1 - x)**2 + 100 * (y - x**2)**2),
    ("sin(x)*exp(y/2) + cosh(x*y)/10", lambda sp, x, y: sp.sin(x) * sp.exp(y / 2) + sp.cosh(x * y) / 10),
    ("log(1 + x^2 + y^2) * tanh(x - y)", lambda sp, x, y: sp.log(1 + x**2 + y**2) * sp.tanh(x - y)),
    ("sqrt(1 + x^2*y^2) + tan(x/4) - sinh(y/3)", lambda sp, x, y: sp.sqrt(1 + x**2 * y**2) + sp.tan(x / 4) - sp.sinh(y / 3)),
    ("abs(x)*y^2 + x^3 - pi*e*y", lambda sp, x, y: sp.Abs(x) * y**2 + x**3 - sp.pi * sp.E * y),
    ("2.5*x*y - 0.75*cos(3*x + y)", lambda sp, x, y: sp.Float(2.5) * x * y - sp.Float(0.75) * sp.cos(3 * x + y)),
]


@pytest.mark.parametrize("text,build", FORMULAS, ids=[t for t, _ in FORMULAS])
def test_formula_hessian_equals_sympys(text: str, build: Callable[[Any, Any, Any], Any]) -> None:
    sp = pytest.importorskip("sympy")
    x, y = sp.symbols("x y", real=True)
    ls = from_formula(text)
    assert ls.has_hessian, ls.no_hessian
    H_sym = sp.hessian(build(sp, x, y), (x, y))
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    P = rng.uniform(-2.9, 2.9, (12, 2))
    P = P[np.abs(P[:, 0]) > 0.05]  # abs(x): off its kink
    H = ls.hessian(P)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    for p, h in zip(P, H):
        want = np.array(H_sym.subs({x: float(p[0]), y: float(p[1])}).evalf(30), dtype=float)
        np.testing.assert_allclose(h, want, rtol=1e-10, atol=1e-10 * (1.0 + np.abs(want).max()))
    _assert_matches_fd(ls, P)


def test_formula_hessian_at_an_abs_kink_is_finite() -> None:
    ls = from_formula("abs(x) + abs(x - y) + y^2")
    # d sign/dt = 2 DiracDelta(t) is dropped: on a kink the Hessian is that of the smooth terms
    np.testing.assert_array_equal(ls.hessian(np.array([[0.0, 0.5], [0.7, 0.7], [1.0, -1.0]])),
                                  np.broadcast_to([[0.0, 0.0], [0.0, 2.0]], (3, 2, 2)))


def test_formula_hessian_shape_for_constant_entries() -> None:
    ls = from_formula("x**2 + 3*x*y")
    H = ls.hessian(np.zeros((4, 3, 2)))
    assert H.shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(H, np.broadcast_to([[2.0, 3.0], [3.0, 0.0]], (4, 3, 2, 2)))


def test_formula_without_a_usable_hessian_records_why() -> None:
    sp = pytest.importorskip("sympy")
    from optarena.landscapes import formula

    x, y = formula._symbols(sp)
    g = sp.Function("g")  # a function NumPy does not know: lambdify succeeds, the call fails
    hess, why = formula._hessian(sp, g(x) * y, x, ((-1.0, 1.0), (-1.0, 1.0)))
    assert hess is None and why.startswith("sympy could not give its Hessian (") and "\n" not in why


# --- without a Hessian ------------------------------------------------------------------------
def _bare(**kw: Any) -> Landscape:
    q = get("quadratic")
    return Landscape(name="bare_bowl", title="Bare bowl", f=q.f, grad=q.grad, window=q.window,
                     minima=q.minima, min_value=0.0, starts=q.starts, **kw)


def test_a_landscape_without_hess_raises_a_named_usage_error() -> None:
    bare = _bare()
    assert not bare.has_hessian and bare.hess is None
    for call in (lambda: bare.hessian(np.zeros(2)), lambda: bare.hessian_vector_product(np.zeros(2), np.ones(2))):
        with pytest.raises(UsageError, match=r"landscape 'bare_bowl' \(Bare bowl\) has no exact Hessian") as info:
            call()
        assert info.value.field == "landscape"
    why = _bare(no_hessian="it was never derived")
    with pytest.raises(ValueError, match="has no exact Hessian: it was never derived"):
        why.hessian(np.zeros(2))


def test_bad_hess_and_bad_shapes_are_rejected() -> None:
    with pytest.raises(TypeError, match="hess must be callable"):
        _bare(hess=42)
    q = get("quadratic")
    with pytest.raises(UsageError, match=r"points must have shape \(\.\.\., 2\)") as info:
        q.hessian(np.zeros(3))
    assert info.value.field == "points"
    with pytest.raises(UsageError, match="vectors must have shape"):
        q.hessian_vector_product(np.zeros(2), np.zeros((4, 3)))


@pytest.mark.parametrize("name", NAMES)
def test_to_json_carries_no_hessian_data(name: str) -> None:
    out = get(name).to_json()
    assert set(out) == {
        "name", "title", "window", "minima", "min_value", "minimum_kind", "minimum_note", "local_minima",
        "saddle", "saddle_value", "escape_margin", "starts", "start_source", "log_colour", "formula",
        "source", "params", "default_racers",
    }
    assert out == _bare_json_equal(get(name))


def _bare_json_equal(ls: Landscape) -> dict[str, Any]:
    """The same landscape without its Hessian serialises identically."""
    import dataclasses

    return dataclasses.replace(ls, hess=None).to_json()
