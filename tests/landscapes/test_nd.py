"""Landscapes of any dimension (``optarena.landscapes.nd``) against references: central
differences, scipy's Rosenbrock, numpy's lstsq and scikit-learn's regressions, the dense spectrum
of the quadratic, and Saxe, McClelland & Ganguli's closed form for the deep linear network."""

from __future__ import annotations

import inspect
import json
import math
import sys
import time
import zlib
from typing import Any, Callable

import numpy as np
import pytest

from optarena import optim
from optarena.errors import MissingExtraError, UsageError, UsageTypeError
from optarena.landscapes import classic, nd
from optarena.landscapes.nd import NDLandscape

#: small instances of every factory (the defaults of the cheap ones), for the calculus checks
CASES: dict[str, Callable[[], NDLandscape]] = {
    "rosenbrock_nd": lambda: nd.rosenbrock_nd(d=7),
    "rastrigin_nd": lambda: nd.rastrigin_nd(d=5),
    "ackley_nd": lambda: nd.ackley_nd(d=6),
    "quadratic_nd": lambda: nd.quadratic_nd(d=12, kappa=100.0, law=1, seed=3),
    "least_squares": lambda: nd.least_squares(l2=0.01),
    "logistic_regression": lambda: nd.logistic_regression(),
    "matrix_sensing": lambda: nd.matrix_sensing(m=4, n=3, rank=2, measurements=20, seed=1),
    "deep_linear": lambda: nd.deep_linear(n_in=4, hidden=3, n_out=5, rank=3, seed=2),
}


def test_cases_cover_every_factory() -> None:
    assert list(CASES) == list(nd.FACTORIES)


def _points(ls: NDLandscape, n: int = 6) -> np.ndarray:
    """n random points in the middle half of the box, plus the default start."""
    rng = np.random.default_rng(zlib.crc32(ls.name.encode()))
    mid, half = (ls.lo + ls.hi) / 2, (ls.hi - ls.lo) / 4
    return np.vstack([mid + half * rng.uniform(-1, 1, (n, ls.dim)), ls.default_start])


def _central(fn: Callable[[np.ndarray], np.ndarray], P: np.ndarray, dirs: np.ndarray, h: float) -> np.ndarray:
    """(fn(P + h e) - fn(P - h e)) / 2h for each direction e (rows of dirs): (K, E, ...)."""
    return np.stack([(fn(P + h * e) - fn(P - h * e)) / (2 * h) for e in dirs], axis=1)


@pytest.mark.parametrize("key", list(CASES))
def test_gradient_matches_central_differences(key: str) -> None:
    ls = CASES[key]()
    P = _points(ls)
    fd = _central(ls.value, P, np.eye(ls.dim), 1e-6)  # (K, d)
    g = ls.gradient(P)
    # truncation (h^2 f''' / 6) and rounding (eps |f| / h ~ 1e-10 |f|) both far below this
    scale = np.maximum(1.0, np.abs(g).max(axis=-1, keepdims=True)) + 1e-9 * np.abs(ls.value(P))[:, None]
    np.testing.assert_array_less(np.abs(fd - g) / scale, 1e-6)


@pytest.mark.parametrize("key", list(CASES))
def test_hvp_matches_differences_of_the_gradient(key: str) -> None:
    ls = CASES[key]()
    P = _points(ls)
    rng = np.random.default_rng(7)
    V = rng.standard_normal((3, ls.dim))
    for v in V:
        fd = (ls.gradient(P + 1e-6 * v) - ls.gradient(P - 1e-6 * v)) / 2e-6
        hv = ls.hessian_vector_product(P, v)
        scale = np.maximum(1.0, np.abs(hv).max(axis=-1, keepdims=True))
        np.testing.assert_array_less(np.abs(fd - hv) / scale, 1e-5)
    # the dense Hessian: symmetric, and each row the finite difference along that coordinate
    H = ls.hessian(P[:2])
    assert H.shape == (2, ls.dim, ls.dim)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    fd = _central(ls.gradient, P[:2], np.eye(ls.dim), 1e-6)
    np.testing.assert_allclose(H, fd, rtol=0, atol=1e-5 * max(1.0, float(np.abs(H).max())))


def test_rosenbrock_matches_scipy() -> None:
    so = pytest.importorskip("scipy.optimize")
    ls = nd.rosenbrock_nd(d=9)
    P = _points(ls, 5)
    v = np.random.default_rng(0).standard_normal(9)
    for p in P:
        assert ls.value(p) == pytest.approx(so.rosen(p), rel=1e-13)
        np.testing.assert_allclose(ls.gradient(p), so.rosen_der(p), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ls.hessian_vector_product(p, v), so.rosen_hess_prod(p, v), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(ls.hessian(p), so.rosen_hess(p), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(ls.value(P), so.rosen(P.T), rtol=1e-13)  # batched: scipy takes (d, K)
    assert ls.value(ls.minima[0]) == 0.0 and not np.any(ls.gradient(ls.minima[0]))


@pytest.mark.parametrize("nd_factory, flat", [(nd.rastrigin_nd, classic.RASTRIGIN), (nd.ackley_nd, classic.ACKLEY),
                                              (nd.rosenbrock_nd, classic.ROSENBROCK)])
def test_two_dimensional_case_is_the_classic_surface(nd_factory: Callable[..., NDLandscape], flat: Any) -> None:
    ls = nd_factory(d=2)
    P = _points(ls, 20)
    np.testing.assert_allclose(ls.value(P), flat.value(P), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ls.gradient(P), flat.gradient(P), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(ls.hessian(P), flat.hessian(P), rtol=1e-10, atol=1e-9)


def test_ackley_hessian_is_finite_at_its_tip() -> None:
    # as the 2-D Ackley: at the origin, the ripple's Hessian (4 pi^2 e / d) I - the rank-one term (0 there)
    ls = nd.ackley_nd(d=5)
    np.testing.assert_allclose(ls.hessian(np.zeros(5)), 4 * math.pi ** 2 * math.e / 5 * np.eye(5), rtol=1e-12)
    assert not np.any(ls.gradient(np.zeros(5)))


# --- real data ---------------------------------------------------------------------------------
def test_least_squares_minimum_is_numpys_and_sklearns_solution() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_diabetes(return_X_y=True)
    Z = (X - X.mean(0)) / X.std(0)
    ys = (y - y.mean()) / y.std()
    ls = nd.least_squares()
    assert ls.minimum_kind == "minimum" and ls.dim == 11
    ref = np.linalg.lstsq(np.hstack([Z, np.ones((len(Z), 1))]), ys, rcond=None)[0]
    np.testing.assert_allclose(ls.minima[0], ref, rtol=1e-9, atol=1e-12)
    reg = lm.LinearRegression().fit(Z, ys)
    np.testing.assert_allclose(ls.minima[0], np.append(reg.coef_, reg.intercept_), rtol=1e-8, atol=1e-10)
    assert ls.min_value == pytest.approx(0.5 * np.mean((reg.predict(Z) - ys) ** 2), rel=1e-12)
    # ridge: sklearn's ||y - Xw||^2 + alpha ||w||^2 is 2n times ours with alpha = n l2
    ridge = lm.Ridge(alpha=len(Z) * 0.3, solver="cholesky").fit(Z, ys)
    np.testing.assert_allclose(nd.least_squares(l2=0.3).minima[0], np.append(ridge.coef_, ridge.intercept_), rtol=1e-8,
                               atol=1e-10)


def test_logistic_regression_minimum_is_sklearns() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    lm = pytest.importorskip("sklearn.linear_model")
    X, t = datasets.load_breast_cancer(return_X_y=True)
    Z = (X - X.mean(0)) / X.std(0)
    l2 = 1e-3
    ls = nd.logistic_regression(l2=l2)
    assert ls.minimum_kind == "minimum" and ls.dim == 31
    assert np.linalg.norm(ls.gradient(ls.minima[0])) < nd.VERIFY_GRAD
    # sklearn: C sum log-loss + 0.5 ||w||^2, the intercept unpenalised: ours times 1 / (C n) with C = 1 / (n l2)
    clf = lm.LogisticRegression(C=1.0 / (len(Z) * l2), tol=1e-12, max_iter=10_000).fit(Z, t)
    ref = np.append(clf.coef_[0], clf.intercept_[0])
    np.testing.assert_allclose(ls.minima[0], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    p = clf.predict_proba(Z)[:, 1]
    ref_loss = -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p)) + 0.5 * l2 * np.sum(clf.coef_ ** 2)
    assert ls.min_value == pytest.approx(ref_loss, rel=1e-8)
    assert ls.min_value <= ref_loss  # Newton's point is at least as low as lbfgs's


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    nd.dataset.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    try:
        with pytest.raises(MissingExtraError, match=r"pip install 'optarena\[nn\]'") as err:
            nd.least_squares()
        assert err.value.field == "landscape"
    finally:
        nd.dataset.cache_clear()


# --- the quadratic ---------------------------------------------------------------------------------
@pytest.mark.parametrize("law", [0, 1, 2])
def test_quadratic_spectrum_and_rotation(law: int) -> None:
    d, kappa = 40, 500.0
    ls = nd.quadratic_nd(d=d, kappa=kappa, law=law, seed=11)
    lam = {0: np.geomspace(1, kappa, d), 1: np.linspace(1, kappa, d),
           2: np.r_[np.ones(d // 2), np.full(d - d // 2, kappa)]}[law]
    H = ls.hessian(np.zeros(d))
    w, vecs = np.linalg.eigh(H)
    np.testing.assert_allclose(w, lam, rtol=1e-10)
    # Q (the factory's first draw from the seed) is orthogonal, and H = Q^T diag(lam) Q
    Q = nd.Rotation.random(d, np.random.default_rng(11)).apply(np.eye(d)).T  # column j: Q e_j
    np.testing.assert_allclose(Q @ Q.T, np.eye(d), atol=1e-13)
    np.testing.assert_allclose(Q.T @ np.diag(lam) @ Q, H, rtol=1e-10, atol=1e-10 * kappa)
    if law != 2:  # distinct eigenvalues: each eigenvector is spread over the coordinates, not an axis
        assert np.abs(vecs).max() < 0.6
    # the start: one unit along every eigenvector
    assert ls.value(ls.default_start) == pytest.approx(lam.sum() / 2, rel=1e-12)
    assert ls.minimum_kind == "minimum" and not np.any(ls.minima)
    assert np.all((ls.lo < ls.default_start) & (ls.default_start < ls.hi))
    # rotate=0: the same spectrum on the coordinate axes, an elementwise gradient
    flat = nd.quadratic_nd(d=d, kappa=kappa, law=law, seed=11, rotate=0)
    np.testing.assert_allclose(flat.hessian(np.zeros(d)), np.diag(lam), rtol=1e-13, atol=0)
    assert flat.value(flat.default_start) == pytest.approx(lam.sum() / 2, rel=1e-12)


def test_quadratic_in_a_million_dimensions_is_fast() -> None:
    t0 = time.perf_counter()
    ls = nd.quadratic_nd(d=1_000_000, kappa=1e4)
    built = time.perf_counter() - t0
    x = ls.default_start
    t0 = time.perf_counter()
    f, g = ls.value(x), ls.gradient(x)
    took = time.perf_counter() - t0
    assert took < 1.0, f"value + gradient at d=1e6 took {took:.2f} s"
    assert built < 3.0, f"building d=1e6 took {built:.2f} s"
    # a quadratic with its minimum at 0: x . grad f(x) = 2 f(x), and f(x0) = sum(lambda) / 2
    assert float(x @ g) == pytest.approx(2 * float(f), rel=1e-10)
    assert float(f) == pytest.approx(np.geomspace(1, 1e4, 1_000_000).sum() / 2, rel=1e-10)
    with pytest.raises(UsageError) as err:
        ls.hessian(x)
    assert err.value.field == "landscape"
    js = ls.to_json()
    assert js["minima"] is None and js["starts"] is None and js["dim"] == 1_000_000
    assert len(json.dumps(js)) < 5000


# --- matrix landscapes -----------------------------------------------------------------------------
def test_matrix_sensing_minimum_is_the_low_rank_target() -> None:
    ls = nd.matrix_sensing(m=6, n=5, rank=2, measurements=60, seed=4)
    assert ls.blocks == ((6, 5),) and ls.minimum_kind == "minimum"
    (W,) = ls.matrices(ls.minima[0])
    sv = ls.target_singular_values
    assert sv is not None and sv.tolist() == [4.0, 2.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), sv, atol=1e-12)
    # the quadratic's minimiser by one Newton step from 0 (dense Hessian) is that target
    x = -np.linalg.solve(ls.hessian(np.zeros(30)), ls.gradient(np.zeros(30)))
    np.testing.assert_allclose(x, ls.minima[0], atol=1e-9)
    few = nd.matrix_sensing(m=6, n=5, rank=2, measurements=20, seed=4)
    assert few.minimum_kind == "lower_bound" and few.min_value == 0.0 and "affine" in few.minimum_note


def test_matrices_split_the_point_row_major() -> None:
    ls = nd.deep_linear(n_in=3, hidden=2, n_out=4, rank=2)
    p = np.arange(ls.dim, dtype=float)
    W1, W2 = ls.matrices(np.stack([p, p]))
    assert W1.shape == (2, 2, 3) and W2.shape == (2, 4, 2)
    np.testing.assert_array_equal(W1[0], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(W2[1], np.arange(6, 14).reshape(4, 2))
    assert nd.quadratic_nd(d=5).matrices(np.zeros(5)) == []


def _target(ls: NDLandscape, n_in: int, hidden: int, n_out: int) -> np.ndarray:
    """M from the landscape alone: at W1 = 0, W2 = I (hidden = n_out), grad_W1 = W2^T (W2 W1 - M) = -M."""
    p = np.zeros(ls.dim)
    p[hidden * n_in:] = np.eye(n_out, hidden).ravel()
    M = -ls.matrices(ls.gradient(p))[0]
    assert ls.value(np.zeros(ls.dim)) == pytest.approx(0.5 * np.sum(M * M), rel=1e-12)
    return M


def test_deep_linear_bound_is_eckart_young() -> None:
    ls = nd.deep_linear(n_in=6, hidden=2, n_out=6, rank=4, seed=5)
    full = nd.deep_linear(n_in=6, hidden=6, n_out=6, rank=4, seed=5)
    U, s, Vt = np.linalg.svd(_target(full, 6, 6, 6))
    assert full.target_singular_values is not None
    np.testing.assert_allclose(s, full.target_singular_values, atol=1e-12)
    # the best rank-2 map, factored: W1 = sqrt(S) V^T, W2 = U sqrt(S)
    r = np.sqrt(s[:2])
    best = np.concatenate([(r[:, None] * Vt[:2]).ravel(), (U[:, :2] * r).ravel()])
    assert ls.minimum_kind == "lower_bound"
    assert ls.min_value == pytest.approx(0.5 * (1.0 ** 2 + 0.5 ** 2), rel=1e-15)
    assert float(ls.value(best)) == pytest.approx(ls.min_value, rel=1e-12)
    assert np.linalg.norm(ls.gradient(best)) < 1e-12
    assert full.min_value == 0.0


def _modes(ls: NDLandscape, start: np.ndarray, U: np.ndarray, Vt: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Plain full-batch gradient descent; (steps + 1, k): u_k^T W2 W1 v_k along the way."""
    x, out = start.copy(), []
    for _ in range(steps + 1):
        W1, W2 = ls.matrices(x)
        out.append(np.diag(U.T @ W2 @ W1 @ Vt.T))
        x = x - lr * ls.gradient(x)
    return np.array(out)


def _half_times(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    reached = a >= s / 2
    assert reached[-1].all(), "every mode reaches half its strength"
    return reached.argmax(axis=0).astype(float)


def test_deep_linear_learns_modes_as_saxe_et_al() -> None:
    """Saxe, McClelland & Ganguli (ICLR 2014), balanced decoupled start a0: mode s follows
    a(t) = s / (1 + (s/a0 - 1) e^{-2 s t}), t = lr x steps, so t_half = ln(s/a0 - 1) / (2 s lr):
    stronger modes first, time ~ 1 / (lr s) (up to the slowly varying log)."""
    n, scale = 6, 1e-3
    ls = nd.deep_linear(n_in=n, hidden=n, n_out=n, rank=4, scale=scale, seed=0)
    U, s_all, Vt = np.linalg.svd(_target(ls, n, n, n))
    s, a0 = s_all[:4], scale ** 2
    np.testing.assert_allclose(s, [4, 2, 1, 0.5], rtol=1e-12)
    times = {}
    for lr in (0.005, 0.01):
        steps = int(1.15 * math.log(s[-1] / a0) / (2 * s[-1] * lr))
        a = _modes(ls, ls.default_start, U[:, :4], Vt[:4], lr, steps)
        np.testing.assert_allclose(a[0], a0, rtol=1e-9)  # decoupled: every mode starts at a0
        t_half = _half_times(a, s)
        times[lr] = t_half
        closed = np.log(s / a0 - 1) / (2 * s * lr)
        # Euler steps (lr s <= 0.04) against the flow: t_half within a relative lr s (measured: ~lr s / 2)
        assert np.all(np.abs(t_half / closed - 1) < lr * s)
        assert np.all(np.diff(t_half) > 0)  # stronger modes first
        # 1 / (lr s) scaling: t_half lr s equal across modes up to the log factor's spread (16% here)
        assert np.ptp(t_half * lr * s) / np.mean(t_half * lr * s) < 0.2
        # the whole sigmoid: the flow's a(t) at every step, within 2 lr s of s (measured: 1.6 lr s, at the
        # steepest point, where the Euler delay shows most)
        t = lr * np.arange(len(a))[:, None]
        flow = s / (1 + (s / a0 - 1) * np.exp(-2 * s * t))
        assert np.all(np.abs(a - flow) < 2 * lr * s * s)
        assert np.all(np.diff(a, axis=0) > -1e-12 * s)  # monotone: no overshoot
        np.testing.assert_allclose(a[-1][:3], s[:3], rtol=1e-3)
    np.testing.assert_allclose(times[0.005] / times[0.01], 2.0, rtol=0.03)  # halving lr doubles each time


def test_deep_linear_random_balanced_start_keeps_the_order() -> None:
    # the second start: balanced, random frames (a mode may start below 0): the same order, and the
    # decoupled closed form's times (a0 = scale^2) up to 25% later (seeds 0-4, n = 6 and 8: 2-18% later)
    n, scale, lr = 6, 1e-3, 0.01
    ls = nd.deep_linear(n_in=n, hidden=n, n_out=n, rank=4, scale=scale, seed=0)
    W1, W2 = ls.matrices(ls.starts[1])
    np.testing.assert_allclose(W2.T @ W2, W1 @ W1.T, atol=1e-18)
    U, s_all, Vt = np.linalg.svd(_target(ls, n, n, n))
    s = s_all[:4]
    a = _modes(ls, ls.starts[1], U[:, :4], Vt[:4], lr, 2000)
    t_half = _half_times(a, s)
    assert np.all(np.diff(t_half) > 0)
    ratio = t_half / (np.log(s / scale ** 2 - 1) / (2 * s * lr))
    assert np.all((0.95 < ratio) & (ratio < 1.25)), ratio


# --- the default races ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(nd.FACTORIES))
def test_default_racers_progress_and_stay_finite(name: str) -> None:
    ls = nd.FACTORIES[name]()
    f0 = float(ls.value(ls.default_start))
    floor = ls.min_value if math.isfinite(ls.min_value) else 0.0
    for opt, hp in ls.default_racers:
        spec = optim.get(opt)
        x = ls.default_start.copy()
        h = spec.bind(hp, x)
        state = spec.init(x, h)
        for _ in range(100):
            x, state = spec.update(x, ls.gradient(x), state, h)
        f = float(ls.value(x))
        assert math.isfinite(f) and np.all(np.abs(x) < 1e3), f"{name}: {opt} diverged"
        assert f - floor < 0.9 * (f0 - floor), f"{name}: {opt} made no visible progress ({f0:g} -> {f:g})"


# --- parameters and construction ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(nd.FACTORIES))
def test_schema_matches_signature(name: str) -> None:
    factory = nd.FACTORIES[name]
    sig = {p.name: p.default for p in inspect.signature(factory).parameters.values()}
    assert all(p.kind == p.KEYWORD_ONLY for p in inspect.signature(factory).parameters.values())
    schema = factory.params_schema  # type: ignore[attr-defined]
    assert {k: v["default"] for k, v in schema.items()} == sig
    assert all(v["min"] <= v["default"] <= v["max"] for v in schema.values())
    assert factory.__doc__ and factory().name == name


@pytest.mark.parametrize("factory, params, field", [
    (nd.rosenbrock_nd, {"d": 1}, "params.d"),
    (nd.rastrigin_nd, {"d": 2.5}, "params.d"),
    (nd.ackley_nd, {"d": 10 ** 8}, "params.d"),
    (nd.quadratic_nd, {"kappa": 0.5}, "params.kappa"),
    (nd.quadratic_nd, {"law": 3}, "params.law"),
    (nd.quadratic_nd, {"seed": -1}, "params.seed"),
    (nd.quadratic_nd, {"kappa": math.nan}, "params.kappa"),
    (nd.quadratic_nd, {"rotate": 2}, "params.rotate"),
    (nd.least_squares, {"l2": -1.0}, "params.l2"),
    (nd.logistic_regression, {"l2": 0.0}, "params.l2"),
    (nd.matrix_sensing, {"rank": 5, "m": 4, "n": 6}, "params.rank"),
    (nd.matrix_sensing, {"m": 64, "n": 64, "measurements": 10_000}, "params.measurements"),
    (nd.matrix_sensing, {"m": 1, "n": 1, "rank": 1}, "params.m"),
    (nd.deep_linear, {"scale": 0.0}, "params.scale"),
    (nd.deep_linear, {"rank": 5, "n_in": 4}, "params.rank"),
])
def test_bad_parameters_name_the_field(factory: Callable[..., NDLandscape], params: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageError) as err:
        factory(**params)
    assert err.value.field == field and err.value.allowed
    assert field.split(".")[1] in str(err.value) and "\n" not in str(err.value)


def test_non_numbers_are_type_errors() -> None:
    with pytest.raises(UsageTypeError) as err:
        nd.quadratic_nd(kappa="big")  # type: ignore[arg-type]
    assert err.value.field == "params.kappa"
    with pytest.raises(UsageTypeError):
        nd.rosenbrock_nd(d=True)
    with pytest.raises(TypeError):
        nd.rosenbrock_nd(10)  # type: ignore[call-arg]  # keyword-only


def _landscape(**changes: Any) -> NDLandscape:
    base: dict[str, Any] = dict(name="t", title="t", dim=3, f=lambda p: np.sum(p * p, -1), grad=lambda p: 2 * p,
                                lo=-np.ones(3), hi=np.ones(3), minima=np.zeros((1, 3)), min_value=0.0,
                                starts=np.full((1, 3), 0.5))
    return NDLandscape(**{**base, **changes})


@pytest.mark.parametrize("changes, word", [
    ({"dim": 1}, "dim"), ({"lo": np.ones(2)}, "lo"), ({"hi": -np.ones(3)}, "lo must be below hi"),
    ({"minima": np.full((1, 3), np.nan)}, "minima"), ({"min_value": math.nan}, "min_value"),
    ({"starts": np.zeros((0, 3))}, "starts"), ({"starts": np.zeros((1, 2))}, "starts"),
    ({"blocks": ((2, 2),)}, "blocks"), ({"blocks": ((1, 3),), "product": True}, "product"),
    ({"default_racers": ()}, "default_racers"), ({"target_singular_values": np.ones(2)}, "target_singular_values"),
])
def test_invalid_construction_names_the_field(changes: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        _landscape(**changes)


def test_surface_as_the_two_dimensional_class() -> None:
    ls = _landscape()
    assert ls.window == ((-1.0, 1.0), (-1.0, 1.0))
    assert ls.saddle is None and math.isnan(ls.escape_below) and ls.parametric is None and ls.local_minima == ()
    assert not ls.has_hessian
    with pytest.raises(UsageError) as err:
        ls.hessian(np.zeros(3))
    assert err.value.field == "landscape"
    with pytest.raises(UsageError) as err:
        ls.value(np.zeros((4, 2)))
    assert err.value.field == "points"
    np.testing.assert_allclose(ls.nearest_minimum_distance(np.array([[3.0, 4.0, 0.0], [0, 0, 1]])), [5.0, 1.0])
    assert ls.default_racer_specs()[0] == {"optimizer": "sgd", "hyperparameters": {}}
    js = ls.to_json()
    assert js["minima"] == [[0.0, 0.0, 0.0]] and js["lo"] == [-1.0, -1.0, -1.0] and json.dumps(js)
    lo = np.full(3, -1.0)
    ls = _landscape(lo=lo)
    lo[0] = 5.0  # the landscape keeps its own read-only copy
    assert ls.lo[0] == -1.0 and not ls.lo.flags.writeable
    none = _landscape(minima=np.zeros((0, 3)), min_value=math.nan)
    assert none.minimum_kind == "none" and np.isnan(none.nearest_minimum_distance(np.zeros(3)))
