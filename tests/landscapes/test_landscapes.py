"""Every registered landscape: exact gradients, listed minima, vectorisation, numba; the registry."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zlib

import numpy as np
import pytest

from optarena import landscapes
from optarena.landscapes import DEFAULT, Landscape, get, names, params_schema, register, registry

NAMES = names()


@pytest.fixture(params=NAMES)
def lscape(request: pytest.FixtureRequest) -> Landscape:
    return get(request.param)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _points(ls: Landscape, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = ls.window
    rng = _rng(ls.name)
    return rng.uniform(x0, x1, shape), rng.uniform(y0, y1, shape)


def _inside(ls: Landscape, p: tuple[float, float]) -> bool:
    (x0, x1), (y0, y1) = ls.window
    return x0 <= p[0] <= x1 and y0 <= p[1] <= y1


# --- per landscape ----------------------------------------------------------------------------
def test_gradient_matches_central_differences(lscape: Landscape) -> None:
    # 20 points over the window, plus 3 near each listed point: on plateaus (Easom on its
    # +-100 window) random points alone see only underflowed zeros.
    x, y = _points(lscape, (20,))
    anchors = np.repeat(np.array(lscape.minima + lscape.local_minima + lscape.starts), 3, axis=0)
    near = anchors + _rng(lscape.name).uniform(-0.5, 0.5, anchors.shape)
    (x0, x1), (y0, y1) = lscape.window
    x = np.concatenate([x, np.clip(near[:, 0], x0, x1)])
    y = np.concatenate([y, np.clip(near[:, 1], y0, y1)])
    gx, gy = lscape.grad(x, y)
    hx = 1e-6 * np.maximum(1.0, np.abs(x))
    hy = 1e-6 * np.maximum(1.0, np.abs(y))
    fdx = (lscape.f(x + hx, y) - lscape.f(x - hx, y)) / (2 * hx)
    fdy = (lscape.f(x, y + hy) - lscape.f(x, y - hy)) / (2 * hy)
    # Rounding in the difference is ~eps |f| / h ~ 2e-10 |f|; truncation is far below rtol.
    scale = 1e-9 * (1.0 + np.abs(lscape.f(x, y)))
    assert np.all(np.abs(gx - fdx) <= 1e-6 * np.abs(gx) + scale), (gx, fdx)
    assert np.all(np.abs(gy - fdy) <= 1e-6 * np.abs(gy) + scale), (gy, fdy)


def test_listed_minima_are_stationary_with_min_value(lscape: Landscape) -> None:
    if lscape.minimum_kind == "none":  # unbounded below: nothing to list (test_minimum_claims.py)
        assert not lscape.minima and math.isnan(lscape.min_value) and lscape.no_minimum
        return
    assert lscape.minima
    for m in lscape.minima:
        assert _inside(lscape, m)
        assert float(lscape.f(*m)) == pytest.approx(lscape.min_value, rel=1e-6, abs=1e-9)
        assert np.hypot(*lscape.grad(*m)) <= 1e-8 * (1.0 + abs(lscape.min_value))
    for m in lscape.local_minima:
        assert _inside(lscape, m)
        fm = float(lscape.f(*m))
        assert fm > lscape.min_value
        assert np.hypot(*lscape.grad(*m)) <= 1e-8 * (1.0 + abs(fm))


def test_nothing_in_the_window_beats_the_global_minimum(lscape: Landscape) -> None:
    _, _, z = lscape.grid(301)
    if lscape.minimum_kind == "none":
        # the saddles claim no minimum: something in the window lies below their saddle value
        assert lscape.saddle is not None and z.min() < lscape.saddle_value
        return
    assert z.min() >= lscape.min_value - 1e-9 * (1.0 + abs(lscape.min_value))


def test_vectorised_equals_pointwise(lscape: Landscape) -> None:
    x, y = _points(lscape, (5, 7))
    fv = lscape.f(x, y)
    gx, gy = np.broadcast_arrays(*lscape.grad(x, y))
    assert np.shape(fv) == gx.shape == gy.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            xi, yj = float(x[i, j]), float(y[i, j])
            # Array ufuncs may take SIMD paths that differ from the scalar ones by an ulp or so.
            assert fv[i, j] == pytest.approx(lscape.f(xi, yj), rel=1e-12, abs=1e-300)
            sx, sy = lscape.grad(xi, yj)
            assert gx[i, j] == pytest.approx(sx, rel=1e-12, abs=1e-12)
            assert gy[i, j] == pytest.approx(sy, rel=1e-12, abs=1e-12)


def test_value_and_gradient_helpers(lscape: Landscape) -> None:
    x, y = _points(lscape, (5, 7))
    pts = np.stack([x, y], axis=-1)
    v, g = lscape.value(pts), lscape.gradient(pts)
    assert v.shape == (5, 7) and g.shape == (5, 7, 2)
    np.testing.assert_array_equal(v, lscape.f(x, y))
    np.testing.assert_array_equal(g[..., 0], lscape.grad(x, y)[0])
    np.testing.assert_array_equal(g[..., 1], lscape.grad(x, y)[1])
    assert lscape.gradient(np.array(lscape.default_start)).shape == (2,)


def test_starts_and_metadata(lscape: Landscape) -> None:
    assert lscape.name == lscape.name.lower() and lscape.name in NAMES
    assert lscape.title and lscape.formula and lscape.source and lscape.start_source
    (x0, x1), (y0, y1) = lscape.window
    assert x0 < x1 and y0 < y1
    assert lscape.starts
    for s in lscape.starts:
        assert _inside(lscape, s), s
        assert math.isfinite(float(lscape.f(*s)))
    json.dumps(lscape.to_json(), allow_nan=False)


def test_numba_compiles_f_and_grad_for_scalars(lscape: Landscape) -> None:
    numba = pytest.importorskip("numba")
    if lscape.parametric is not None:  # one value of a family: its code takes the parameters as data
        from optarena.arena import fused

        compiled = fused.compiled_landscape(lscape)
        assert compiled is not None
        jf, jg = compiled
    else:
        jf, jg = numba.njit(lscape.f), numba.njit(lscape.grad)
    for p in ((0.3, -0.2), lscape.default_start):
        assert jf(*p) == pytest.approx(float(lscape.f(*p)), rel=1e-12, abs=1e-300)
        for a, b in zip(jg(*p), lscape.grad(*p)):
            assert a == pytest.approx(float(b), rel=1e-12, abs=1e-300)


# --- specific surfaces ------------------------------------------------------------------------
def test_default_is_the_articles_quadratic_starting_at_nine() -> None:
    assert DEFAULT == "quadratic" == NAMES[0]
    q = get()
    assert q.name == "quadratic"
    assert q.default_start == (2.4, 1.8)
    assert q.f(*q.default_start) == 9.0


def test_rosenbrock_matches_scipy() -> None:
    opt = pytest.importorskip("scipy.optimize")
    r = get("rosenbrock")
    x, y = _points(r, (30,))
    for xi, yi in zip(x, y):
        p = np.array([xi, yi])
        assert r.f(xi, yi) == pytest.approx(opt.rosen(p), rel=1e-13)
        np.testing.assert_allclose(r.grad(xi, yi), opt.rosen_der(p), rtol=1e-13, atol=1e-12)


def _fd_hessian(ls: Landscape, p: tuple[float, float], h: float = 1e-5) -> np.ndarray:
    cols = []
    for e in ((h, 0.0), (0.0, h)):
        gp = np.array(ls.grad(p[0] + e[0], p[1] + e[1]))
        gm = np.array(ls.grad(p[0] - e[0], p[1] - e[1]))
        cols.append((gp - gm) / (2 * h))
    hess = np.column_stack(cols)
    return 0.5 * (hess + hess.T)


@pytest.mark.parametrize("kappa", [1.0, 10.0, 250.0])
def test_ill_conditioned_axis_aligned_hessian(kappa: float) -> None:
    ls = get("ill_conditioned", kappa=kappa, theta=0.0)
    assert ls.params == {"kappa": kappa, "theta": 0.0}
    hess = _fd_hessian(ls, (0.7, -1.3))
    np.testing.assert_allclose(hess, np.diag([kappa, 1.0]), atol=1e-6 * kappa)


@pytest.mark.parametrize("theta", [0.0, 30.0, 45.0, 90.0, 137.0, -20.0])
def test_ill_conditioned_rotation_turns_the_valley(theta: float) -> None:
    kappa = 20.0
    ls = get("ill_conditioned", kappa=kappa, theta=theta)
    w, v = np.linalg.eigh(_fd_hessian(ls, (0.4, 0.9)))
    np.testing.assert_allclose(w, [1.0, kappa], rtol=1e-6)
    t = math.radians(theta)
    valley = np.array([-math.sin(t), math.cos(t)])  # flat direction, turned counter-clockwise
    assert abs(v[:, 0] @ valley) == pytest.approx(1.0, abs=1e-8)
    # The start turns with the valley, so the starting loss does not depend on theta.
    ref = get("ill_conditioned", kappa=kappa, theta=0.0)
    assert ls.f(*ls.default_start) == pytest.approx(ref.f(*ref.default_start), rel=1e-12)
    assert ls.minima == ((0.0, 0.0),)


def test_ackley_gradient_is_zero_at_the_origin_and_finite_nearby() -> None:
    a = get("ackley")
    assert a.grad(0.0, 0.0) == (0.0, 0.0)
    slope = 2.0 * math.sqrt(2.0)  # the cone's slope at its tip
    for r in (1e-200, 1e-160, 1e-20, 1e-9):
        assert np.hypot(*a.grad(r, -r)) == pytest.approx(slope, rel=1e-6)
    g = np.array(a.grad(1e-300, 1e-300))  # where _TINY tapers it: finite, inside the cone
    assert np.all(np.isfinite(g)) and np.hypot(*g) <= slope


def test_himmelblau_lists_all_four_minima() -> None:
    assert len(get("himmelblau").minima) == 4


# --- registry ---------------------------------------------------------------------------------
def test_expected_names_are_registered() -> None:
    expected = {
        "quadratic", "ill_conditioned", "banana", "rosenbrock", "beale", "rastrigin", "ackley",
        "himmelblau", "booth", "matyas", "three_hump_camel", "goldstein_price", "levi13",
        "styblinski_tang", "easom", "saddle", "monkey_saddle", "two_well", "mccormick",
    }
    assert expected <= set(NAMES)
    assert len(NAMES) == len(set(NAMES))


def test_lookup_is_case_insensitive() -> None:
    assert get("Rosenbrock") is get("ROSENBROCK") is get("rosenbrock")
    assert get("Goldstein-Price").name == "goldstein_price"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown landscape 'rosenbrok'; did you mean "
                       r"'rosenbrock'\? valid: .*quadratic"):
        get("rosenbrok")
    with pytest.raises(ValueError, match="valid: "):
        params_schema("zzzzzz")


@pytest.mark.parametrize("params", [{"kappa": 0.5}, {"kappa": math.inf}, {"kappa": math.nan},
                                    {"theta": math.inf}, {"theta": math.nan}])
def test_ill_conditioned_rejects_bad_values(params: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ill_conditioned"):
        get("ill_conditioned", **params)


def test_unknown_params_raise_type_error_naming_them() -> None:
    with pytest.raises(TypeError, match=r"'gamma'.*allowed: kappa, theta"):
        get("ill_conditioned", gamma=1.0)
    with pytest.raises(TypeError, match=r"'kappa'.*no parameters"):
        get("rosenbrock", kappa=2.0)


def test_params_schema() -> None:
    sch = params_schema("ill_conditioned")
    assert set(sch) == {"kappa", "theta"}
    for p, spec in sch.items():
        assert set(spec) == {"default", "min", "max"}
        assert spec["min"] <= spec["default"] <= spec["max"]
        assert get("ill_conditioned").params[p] == spec["default"]
    sch["kappa"]["default"] = -1.0  # a copy: the registry is unaffected
    assert params_schema("ill_conditioned")["kappa"]["default"] == 10.0
    assert params_schema("rosenbrock") == {}


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    monkeypatch.setattr(registry, "_SCHEMAS", dict(registry._SCHEMAS))


@pytest.mark.usefixtures("scratch_registry")
def test_register_landscape_and_factory() -> None:
    q = get("quadratic")
    mine = Landscape(name="my_bowl", title="Mine", f=q.f, grad=q.grad, window=q.window,
                     minima=q.minima, min_value=0.0, starts=q.starts)
    register(mine)
    assert get("My_Bowl") is mine and "my_bowl" in names()
    with pytest.raises(ValueError, match="already registered"):
        register(mine)
    register(mine, replace=True)

    def scaled(a: float = 2.0) -> Landscape:
        return Landscape(name="scaled", title="Scaled", f=lambda x, y: a * (x * x + y * y),
                         grad=lambda x, y: (2 * a * x, 2 * a * y), window=q.window,
                         minima=q.minima, min_value=0.0, starts=q.starts, params={"a": a})

    register(scaled)
    assert params_schema("scaled") == {"a": {"default": 2.0, "min": None, "max": None}}
    assert get("scaled", a=3.0).f(1.0, 0.0) == 3.0
    with pytest.raises(TypeError, match="'b'"):
        get("scaled", b=1.0)
    with pytest.raises(TypeError):
        register(42)  # type: ignore[arg-type]


def test_import_is_light_and_formula_is_lazy() -> None:
    code = (
        "import sys, optarena.landscapes as L; L.get('rosenbrock'); "
        "heavy = ('sympy', 'numba', 'matplotlib', 'torch', 'optarena.landscapes.formula'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(landscapes.from_formula)
