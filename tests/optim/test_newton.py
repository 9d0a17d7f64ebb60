"""Newton with the landscape's exact Hessian, checked against steps solved independently: from a
central-difference Hessian of the exact gradient, and from sympy's Hessian of a typed formula."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.arena.engine import race
from optarena.arena.plan import RacePlan, Racer
from optarena.errors import UsageError
from optarena.landscapes import Landscape, from_formula, resolve


def _fd_hessian(ls: Landscape, p: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the exact gradient: independent of the landscape's Hessian code."""
    cols = []
    for i in range(2):
        e = np.zeros(2)
        e[i] = h * max(1.0, abs(p[i]))
        cols.append((ls.gradient(p + e) - ls.gradient(p - e)) / (2 * e[i]))
    H = np.stack(cols, axis=1)
    return (H + H.T) / 2


@pytest.mark.parametrize("name,start", [("rosenbrock", (-1.2, 1.0)), ("himmelblau", (0.5, 0.5)), ("beale", (1.0, 1.0))])
@pytest.mark.parametrize("hp", [{}, {"learning_rate": 0.5, "damping": 0.1}, {"saddle_free": True}], ids=str)
def test_each_race_step_is_the_solved_newton_step(name, start, hp):
    ls = resolve(name)
    res = race(ls, [Racer("newton", hp)], starts=[start], steps=8, engine="numpy")
    full = oa.optim.get("newton").validate(hp)
    p = np.array(start, dtype=np.float64)
    for t in range(8):
        H = _fd_hessian(ls, p)
        if full["saddle_free"]:
            w, V = np.linalg.eigh(H)
            H = V @ np.diag(np.abs(w)) @ V.T
        p = p - full["learning_rate"] * np.linalg.solve(H + full["damping"] * np.eye(2), ls.gradient(p))
        if not np.isfinite(res.positions[0, 0, t + 1]).all():
            break
        assert np.allclose(res.positions[0, 0, t + 1], p, rtol=1e-6, atol=1e-8), t


def test_one_undamped_step_lands_on_a_quadratics_minimum():
    ls = resolve({"name": "ill_conditioned", "params": {"kappa": 1000.0}})
    res = race(ls, [Racer("newton", {"damping": 0.0})], starts=[(3.0, -2.0), (-4.0, 0.5)], steps=1)
    assert np.allclose(res.positions[0, :, 1], np.array(ls.minima[0]), atol=1e-12)


def test_a_typed_formula_steps_with_sympys_hessian():
    sympy = pytest.importorskip("sympy")
    x, y = sympy.symbols("x y")
    expr = x**4 + x * y + (1 + y) ** 2
    H = sympy.lambdify((x, y), sympy.hessian(expr, (x, y)), "numpy")
    G = sympy.lambdify((x, y), [sympy.diff(expr, x), sympy.diff(expr, y)], "numpy")
    res = race(from_formula("x^4 + x*y + (1 + y)^2"), [Racer("newton", {"damping": 0.0})], starts=[(1.5, 1.0)], steps=5)
    p = np.array([1.5, 1.0])
    for t in range(5):
        p = p - np.linalg.solve(np.array(H(*p), dtype=float), np.array(G(*p), dtype=float))
        assert np.allclose(res.positions[0, 0, t + 1], p, rtol=1e-12, atol=1e-14), t


def test_plain_newton_is_drawn_to_the_saddle_and_saddle_free_escapes():
    res = race("saddle", [Racer("newton", {}), Racer("newton", {"saddle_free": True})], steps=30)
    plain, free = res.losses[0, 0], res.losses[1, 0]
    assert abs(plain[-1] - res.saddle_value) < 1e-6  # converged onto the saddle point
    assert np.nanmin(free) < res.saddle_value - 1.0 or res.diverged_at[1, 0] >= 0  # left it (downhill, unbounded)


def test_article_class_takes_the_hessian_and_refuses_without_it():
    ls = resolve("rosenbrock")
    p = np.array([-1.2, 1.0])
    opt = oa.Newton(damping=0.0)
    expected = p - np.linalg.solve(ls.hessian(p), ls.gradient(p))
    opt.update(p, ls.gradient(p), hessian=ls.hessian(p))
    assert np.allclose(p, expected, rtol=1e-14)
    with pytest.raises(UsageError, match="Newton needs the Hessian") as info:
        opt.update(p, ls.gradient(p))
    assert info.value.field == "hessian"
    with pytest.raises(UsageError, match="hessian must have shape"):
        opt.update(p, ls.gradient(p), hessian=np.eye(3))
    with pytest.raises(TypeError, match="takes no hessian"):
        oa.Adam().update(p, ls.gradient(p), hessian=ls.hessian(p))


def test_a_landscape_without_a_hessian_is_refused_before_any_work():
    q = resolve("quadratic")
    bare = Landscape(name="bare", title="Bare", f=q.f, grad=q.grad, window=q.window, minima=q.minima,
                     min_value=q.min_value, starts=q.starts)
    with pytest.raises(UsageError, match="Newton needs the landscape's exact Hessian") as info:
        RacePlan.build(bare, [Racer("adam", {}), Racer("newton", {})])
    assert info.value.field == "racers[1].optimizer"


def test_the_torch_bridge_refuses_it_with_the_way_out():
    torch = pytest.importorskip("torch")
    import optarena.torch as ot

    with pytest.raises(TypeError, match="LBFGS"):
        ot.Newton([torch.nn.Parameter(torch.zeros(2))])


def test_the_planes_explicit_2x2_solve_equals_lapacks_and_falls_back_on_singular_systems():
    from optarena.optim.rules.newton import _solve

    rng = np.random.default_rng(3)
    A = rng.standard_normal((500, 2, 2)) * np.exp(rng.uniform(-6, 6, (500, 1, 1)))
    g = rng.standard_normal((500, 2))
    np.testing.assert_allclose(_solve(A, 0.0, g), np.linalg.solve(A, g[..., None])[..., 0], rtol=1e-9, atol=0)
    lam = rng.uniform(0, 2, (500, 1, 1))  # damping per run, as a race passes it
    np.testing.assert_allclose(_solve(A, lam, g), np.linalg.solve(A + lam * np.eye(2), g[..., None])[..., 0], rtol=1e-9)
    A[7] = [[1.0, 2.0], [2.0, 4.0]]  # exactly singular: the least-squares (pseudo-inverse) step
    A[9] = 0.0
    s = _solve(A, 0.0, g)
    np.testing.assert_allclose(s[7], np.linalg.pinv(A[7]) @ g[7], rtol=1e-12)
    assert (s[9] == 0).all()
    # and d = 3 still goes through LAPACK, singular rows through pinv
    B = rng.standard_normal((4, 3, 3))
    B[1] = 0.0
    h = rng.standard_normal((4, 3))
    want = np.stack([np.linalg.pinv(b) @ v for b, v in zip(B, h)])
    np.testing.assert_allclose(_solve(B, 0.0, h), want, rtol=1e-8, atol=1e-12)
    lam = np.zeros((500, 1, 1))
    lam[7] = 1.0  # singular without damping, solvable with it
    np.testing.assert_allclose(_solve(A, lam, g)[7], np.linalg.solve(A[7] + np.eye(2), g[7]), rtol=1e-12)
