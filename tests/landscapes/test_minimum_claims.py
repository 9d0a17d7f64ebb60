"""What a landscape claims about its lowest value, checked against references: unbounded saddles
claim no minimum, a typed formula's minimum is claimed only when scipy.optimize finds the same one,
and every landscape's default race is worth watching (issue 11, items 6 and 11)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from optarena.arena import race
from optarena.landscapes import Landscape, get, names

pytest.importorskip("sympy")
from optarena.landscapes.formula import formula_landscape  # noqa: E402


def _fd_grad(f, p, h=1e-6):
    x, y = p
    return np.array([(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)])


# -- the saddles: no minimum, a saddle point, escape --------------------------------------------

@pytest.mark.parametrize("name, ray", [
    ("saddle", lambda t: (0.0, t)),  # x^2 - y^2 = -t^2 on the y axis
    ("monkey_saddle", lambda t: (-t, 0.0)),  # x^3 - 3xy^2 = -t^3 on the negative x axis
])
def test_saddles_claim_no_minimum_because_they_are_unbounded_below(name, ray):
    # Issue 11 item 6: `optarena landscapes` said "minimum 0 at (0, 0)" for both.
    ls = get(name)
    assert ls.minimum_kind == "none"
    assert ls.minima == () and math.isnan(ls.min_value)
    assert "unbounded below" in ls.no_minimum and ls.minimum_note == ls.no_minimum
    values = [float(ls.f(*ray(t))) for t in (10.0, 1e3, 1e5)]  # falls without bound along the ray
    assert values[0] > values[1] > values[2] and values[2] < -1e9
    # Their saddle point is stationary by finite differences, and not a minimum: f is lower on
    # a small ring around it than at it.
    sx, sy = ls.saddle
    assert np.hypot(*_fd_grad(ls.f, ls.saddle)) < 1e-8
    ring = [ls.f(sx + 1e-2 * math.cos(a), sy + 1e-2 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 12)]
    assert min(ring) < ls.f(sx, sy) < max(ring)
    assert ls.saddle_value == 0.0 and ls.escape_below == ls.saddle_value - ls.escape_margin
    d = ls.to_json()
    json.dumps(d, allow_nan=False)
    assert d["min_value"] is None and d["minima"] == [] and d["minimum_kind"] == "none"
    assert d["saddle"] == [sx, sy] and d["escape_margin"] == ls.escape_margin
    assert np.isnan(ls.nearest_minimum_distance(np.zeros((3, 2)))).all()


def test_a_landscape_cannot_list_minima_without_their_value():
    q = get("quadratic")
    with pytest.raises(ValueError, match="finite min_value"):
        Landscape(name="bad", title="Bad", f=q.f, grad=q.grad, window=q.window, minima=((0.0, 0.0),),
                  min_value=math.nan, starts=q.starts)
    with pytest.raises(ValueError, match="escape_margin"):
        Landscape(name="bad", title="Bad", f=q.f, grad=q.grad, window=q.window, minima=(), min_value=math.nan,
                  starts=q.starts, saddle=(0.0, 0.0), escape_margin=0.0)
    bound = Landscape(name="b", title="B", f=q.f, grad=q.grad, window=q.window, minima=(), min_value=0.0,
                      starts=q.starts)
    assert bound.minimum_kind == "lower_bound" and "no single point" in bound.minimum_note


# -- typed formulas: a minimum only when found and verified --------------------------------------

def _scipy_minima(text, window, n=7):
    """The window's minima by scipy.optimize: L-BFGS-B (finite-difference gradients of f alone)
    from an n x n grid of starts; the lowest value and the distinct points that reach it."""
    opt = pytest.importorskip("scipy.optimize")
    f = formula_landscape(text, window=window).f
    (x0, x1), (y0, y1) = window
    found = []
    for sx in np.linspace(x0, x1, n + 2)[1:-1]:
        for sy in np.linspace(y0, y1, n + 2)[1:-1]:
            r = opt.minimize(lambda p: float(f(p[0], p[1])), [sx, sy], method="L-BFGS-B", bounds=window,
                             options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
            found.append((float(r.fun), r.x))
    best = min(v for v, _ in found)
    points = []
    for v, p in found:
        if v <= best + 1e-8 * (1 + abs(best)) and all(np.hypot(*(p - q)) > 1e-3 for q in points):
            points.append(p)
    return best, points, found


@pytest.mark.parametrize("text, window", [
    ("(x-1)**2 + (y+0.5)**2", ((-3, 3), (-3, 3))),
    ("x^4 - x^2 + y^2", ((-3, 3), (-3, 3))),  # two global minima, (+-1/sqrt 2, 0)
    ("sin(x)*cos(y) + 0.1*(x^2+y^2)", ((-3, 3), (-3, 3))),
    ("(1-x)^2 + 100*(y-x^2)^2", ((-2, 2), (-1, 3))),
    ("(x^2+y-11)^2 + (x+y^2-7)^2", ((-5, 5), (-5, 5))),  # Himmelblau typed: four zeros
    ("x^2 + y^2 + 1/(x-2.5)^2", ((-3, 3), (-3, 3))),  # a pole, but bounded below: a true minimum
])
def test_a_formulas_minimum_is_the_one_scipy_finds(text, window):
    land = formula_landscape(text, window=window)
    best, points, _ = _scipy_minima(text, window)
    assert land.minimum_kind == "minimum" and land.no_minimum == ""
    assert land.min_value == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert len(land.minima) == len(points)
    for p in points:  # every minimum scipy finds is listed, and nothing else
        assert min(np.hypot(p[0] - m[0], p[1] - m[1]) for m in land.minima) < 1e-4
    for m in land.minima:  # and each is stationary by finite differences
        assert np.hypot(*_fd_grad(land.f, m)) < 1e-5


@pytest.mark.parametrize("text", ["x**2 - y**2", "x**3 - 3*x*y**2", "-x^2 - y^2", "x", "exp(x) + y^2",
                                  "1/(x - 0.01)"])
def test_a_formula_falling_to_the_windows_edge_claims_no_minimum(text):
    window = ((-3.0, 3.0), (-3.0, 3.0))
    land = formula_landscape(text)
    assert land.minimum_kind == "none" and land.minima == () and math.isnan(land.min_value)
    assert land.no_minimum
    # scipy's bounded search agrees: its lowest point is on the window's edge (or at the pole),
    # where the gradient is far from zero: f keeps falling beyond it.
    best, points, _ = _scipy_minima(text, window, n=5)
    p = points[0]
    on_edge = min(abs(p[0] - 3), abs(p[0] + 3), abs(p[1] - 3), abs(p[1] + 3)) < 1e-6
    assert on_edge or abs(p[0] - 0.01) < 1e-3
    assert np.hypot(*_fd_grad(land.f, tuple(p), h=1e-7)) > 1e-2


def test_one_over_x_gets_no_star_and_no_loss_minus_min():
    # Issue 11 item 6: "the formula 1/x puts a star at (0, -3) and plots loss - min up to 1e57".
    land = formula_landscape("1/x")
    assert not np.isfinite(land.f(0.0, -3.0))  # numpy's 1/0: where the old "minimum" was
    assert land.f(-1e-12, 0.0) < -1e11  # and it falls without bound next to it
    assert land.minimum_kind == "none" and land.minima == ()
    assert "not finite" in land.no_minimum
    d = land.to_json()
    json.dumps(d, allow_nan=False)
    assert d["minima"] == [] and d["min_value"] is None


def test_a_valley_of_minimizers_is_a_lower_bound_not_a_point():
    land = formula_landscape("(x - y)^2")
    best, points, found = _scipy_minima("(x - y)^2", ((-3.0, 3.0), (-3.0, 3.0)), n=3)
    # scipy reaches the same value at points far apart: the minimizers are a line, not a point
    assert len(points) > 1 and max(np.hypot(*(p - q)) for p in points for q in points) > 1.0
    assert land.minimum_kind == "lower_bound" and land.minima == ()
    assert land.min_value == pytest.approx(best, abs=1e-12)


# -- default racers: every landscape's default race is worth watching ---------------------------

LANDSCAPES = [get(n) for n in names()] + [get("ill_conditioned", kappa=k, theta=t)
                                           for k in (1.0, 100.0, 1000.0) for t in (0.0, 30.0)]


@pytest.mark.parametrize("ls", LANDSCAPES, ids=lambda ls: ls.title)
def test_every_default_race_makes_progress_and_none_diverges(ls):
    # Issue 11 item 11: on Rosenbrock the article's defaults diverged by step 4.
    res = race(ls, ls.default_racer_specs())  # the default start, the default 100 steps
    assert res.steps == 100 and res.config["starts"] == [list(ls.default_start)]
    assert [r["optimizer"] for r in res.config["racers"]] == ["sgd", "momentum", "adam"]
    start = float(ls.f(*ls.default_start))
    for i, label in enumerate(res.labels):
        assert res.diverged_at[i, 0] == -1, f"{label} diverged at step {res.diverged_at[i, 0]}"
        assert res.final_loss[i, 0] < start - 0.01 * abs(start), f"{label}: {res.final_loss[i, 0]} vs {start}"


@pytest.mark.parametrize("name", [n for n in names() if get(n).minimum_kind == "minimum"])
def test_default_learning_rates_keep_a_margin_below_divergence(name):
    # classic.py's promise: stable at three times the default rates (bounded landscapes only:
    # on a saddle a faster racer rightly runs away).
    from optarena.optim import registry

    ls = get(name)
    racers = [{"optimizer": r["optimizer"], "hyperparameters": {"learning_rate": 3 * r["hyperparameters"].get(
        "learning_rate", registry.get(r["optimizer"]).defaults["learning_rate"])}} for r in ls.default_racer_specs()]
    assert (race(ls, racers).diverged_at == -1).all()


def test_rosenbrocks_article_defaults_diverge_and_its_own_do_not():
    article = race("rosenbrock", ["sgd", "momentum", "adam"])
    assert (article.diverged_at[:2, 0] >= 0).all() and article.diverged_at[:2, 0].max() <= 4
    ls = get("rosenbrock")
    assert (race(ls, ls.default_racer_specs()).diverged_at == -1).all()


def test_the_quadratic_keeps_the_articles_racers():
    from article_classes import ArticleAdam, ArticleSGD, ArticleSGDMomentum

    q = get("quadratic")
    assert q.default_racer_specs() == [{"optimizer": n, "hyperparameters": {}} for n in ("sgd", "momentum", "adam")]
    res = race(q, q.default_racer_specs())
    assert res.status_line(0) == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
    for i, cls in enumerate((ArticleSGD, ArticleSGDMomentum, ArticleAdam)):
        opt, p = cls(), [2.4, 1.8]
        for _ in range(100):
            p = opt.update(p, [2 * v for v in p])
        assert res.final_loss[i, 0] == pytest.approx(p[0] ** 2 + p[1] ** 2, rel=1e-9)
