"""The projected view of a race beyond 2-D (issue 15 item 2), against hand computations: on a
diagonal quadratic, gradient descent from a start in the (e1, e2) plane never leaves it, so the
paths' principal plane is span(e1, e2) and holds all their variance; rotated by a known orthogonal
Q, it is span(Q e1, Q e2). The view's contours are the landscape's exact values on the plane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optarena.arena import RacePlan, projection, run
from optarena.errors import UsageError
from optarena.landscapes import Landscape


class Quadratic:
    """0.5 (x - c)^T Q diag(lam) Q^T (x - c) in d dimensions: what the engine needs of a landscape."""

    blocks: tuple = ()
    saddle = None
    escape_margin = 1.0
    parametric = None
    has_hessian = False
    no_hessian = ""
    minimum_note = ""
    saddle_value = math.nan
    local_minima = ()
    log_colour = False
    formula = source = ""
    params: dict = {}

    def __init__(self, lam, Q=None, centre=None, start=None):
        self.lam = np.asarray(lam, dtype=np.float64)
        self.dim = d = len(self.lam)
        self.Q = np.eye(d) if Q is None else Q
        self.c = np.zeros(d) if centre is None else np.asarray(centre, dtype=np.float64)
        self.name = self.title = f"quadratic in {d}-D"
        self.min_value = 0.0
        self.minima = self.c[None, :]
        self.starts = np.asarray([start], dtype=np.float64)
        self.default_start = tuple(self.starts[0])
        self.box = (self.c - 5.0, self.c + 5.0)

    def value(self, P):
        z = (np.asarray(P) - self.c) @ self.Q
        return 0.5 * np.sum(self.lam * z * z, axis=-1)

    def gradient(self, P):
        z = (np.asarray(P) - self.c) @ self.Q
        return (self.lam * z) @ self.Q.T

    def default_racer_specs(self):
        return [{"optimizer": "sgd", "hyperparameters": {}}]


def _race(ls, racers, steps=40):
    return run(RacePlan(ls, *_resolved(racers), np.asarray(ls.starts), steps))


def _resolved(racers):
    from optarena.arena.plan import racer_labels, racers_of, resolve_racers

    rs = racers_of(racers)
    return tuple(rs), tuple(resolve_racers(rs)), tuple(racer_labels(rs))


def _span(axes):
    """The orthogonal projector onto the rows' span."""
    q, _ = np.linalg.qr(axes.T)
    return q @ q.T


def test_the_pca_plane_of_paths_in_the_e1_e2_plane_is_that_plane_and_holds_all_their_variance():
    ls = Quadratic([1.0, 0.25, 4.0, 2.0, 0.5], start=[3.0, -2.0, 0.0, 0.0, 0.0])
    res = _race(ls, ["sgd(learning_rate=0.1)", "momentum(learning_rate=0.05)", "adam(learning_rate=0.1)"])
    plane = projection.pca_plane(res)
    want = np.zeros((5, 5))
    want[0, 0] = want[1, 1] = 1.0
    np.testing.assert_allclose(_span(plane.axes), want, atol=1e-12)
    assert plane.explained == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(plane.axes @ plane.axes.T, np.eye(2), atol=1e-12)
    # the origin is the final point of the run with the lowest final loss
    r, s = np.unravel_index(np.argmin(res.final_loss), res.final_loss.shape)
    np.testing.assert_array_equal(plane.origin, res.positions[r, s, -1])
    # every path is recovered from its plane coordinates (it lies in the plane)
    ab = plane.coordinates(res.positions)
    np.testing.assert_allclose(plane.lift(ab[..., 0], ab[..., 1]), res.positions, atol=1e-12)


def test_a_rotated_quadratic_gives_the_rotated_plane_and_the_views_contours_are_f_on_it():
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    centre = rng.standard_normal(6)
    start = centre + Q @ np.array([2.0, -1.5, 0, 0, 0, 0])  # off the minimum along Q e1, Q e2 only
    ls = Quadratic([1.0, 0.3, 5.0, 2.0, 0.7, 3.0], Q=Q, centre=centre, start=start)
    res = _race(ls, ["sgd(learning_rate=0.2)", "rmsprop(learning_rate=0.01)"], steps=60)
    flat, view, plane = projection.project(res, ls)
    # RMSprop's per-coordinate scaling is not rotation-invariant: its path leaves span(Q e1, Q e2).
    # By hand: the plane is the top-2 right singular vectors of every recorded point minus the origin.
    pts = res.positions.reshape(-1, 6) - plane.origin
    _, s, vt = np.linalg.svd(pts, full_matrices=False)
    np.testing.assert_allclose(_span(plane.axes), _span(vt[:2]), atol=1e-10)
    assert plane.explained == pytest.approx((s[0] ** 2 + s[1] ** 2) / np.sum(s ** 2), rel=1e-12)
    assert 0.5 < plane.explained < 1.0
    assert f"{100 * plane.explained:.1f}% of their variance" in view.title
    # contours: f at origin + a u + b v, by hand
    a, b = np.meshgrid(np.linspace(-1, 1, 7), np.linspace(-2, 2, 5))
    pts = plane.origin + a[..., None] * plane.axes[0] + b[..., None] * plane.axes[1]
    z = (pts - centre) @ Q
    np.testing.assert_allclose(view.f(a, b), 0.5 * np.sum(np.array(ls.lam) * z * z, axis=-1), rtol=1e-12)
    xs, ys, Z = view.grid(30)
    np.testing.assert_allclose(Z[3, 7], ls.value(plane.lift(xs[7], ys[3])), rtol=1e-12)
    # the projected race: plane coordinates for positions, the race's own losses
    assert flat.positions.shape == res.positions.shape[:-1] + (2,)
    np.testing.assert_array_equal(flat.losses, res.losses)
    assert isinstance(view, Landscape) and view.dim == 2


def test_sgd_alone_on_the_rotated_quadratic_stays_in_the_rotated_plane():
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    ls = Quadratic([1.0, 0.3, 5.0, 2.0], Q=Q, start=Q @ np.array([2.0, -1.5, 0, 0]))
    plane = projection.pca_plane(_race(ls, ["sgd(learning_rate=0.2)"]))
    np.testing.assert_allclose(_span(plane.axes), _span(Q[:, :2].T), atol=1e-10)
    assert plane.explained == pytest.approx(1.0, abs=1e-12)
    assert plane.minima_on(ls) != ()  # the minimum (0) lies on that plane


def test_random_directions_are_filter_normalised_and_coordinates_are_unit_vectors():
    ls = Quadratic([1.0, 2.0, 3.0, 4.0], start=[1.0, 2.0, 2.0, 0.0])
    ls.blocks = ((2, 2),)  # the point as one 2 x 2 matrix: two filters (rows)
    origin = np.array([3.0, 4.0, 0.0, 0.0])
    plane = projection.random_plane(ls, origin, seed=1)
    for k in range(2):
        assert np.linalg.norm(plane.axes[k, :2]) == pytest.approx(5.0)  # the first row's norm at the origin
        assert np.linalg.norm(plane.axes[k, 2:]) == pytest.approx(1.0)  # a zero row keeps unit norm
    c = projection.coordinate_plane(origin, 2, 0)
    np.testing.assert_array_equal(c.axes, [[0, 0, 1, 0], [1, 0, 0, 0]])
    with pytest.raises(UsageError, match="whole number in \\[0, 3\\]") as e:
        projection.coordinate_plane(origin, 0, 4)
    assert e.value.field == "view"
    with pytest.raises(UsageError, match="one of pca, random, coordinates"):
        projection.plane_of(_race(ls, ["sgd"], steps=3), ls, kind="tsne")


def test_a_large_dimension_draws_a_coarser_grid_within_the_budget():
    assert projection.grid_size(2) == 200
    n = projection.grid_size(1_000_000)
    assert projection.MIN_GRID <= n < 200 and (n * n * 1_000_000 <= projection.GRID_BUDGET or n == projection.MIN_GRID)


def test_a_five_dimensional_race_exports_its_projected_view(tmp_path):
    ls = Quadratic([1.0, 0.25, 4.0, 2.0, 0.5], start=[3.0, -2.0, 1.0, 0.5, 0.0])
    res = _race(ls, ["sgd(learning_rate=0.1)", "adam(learning_rate=0.1)"], steps=30)
    flat = res.projected(landscape=ls)
    assert flat.view is not None and "PCA plane of the paths" in flat.view.title
    out = flat.export(tmp_path / "race.png")
    assert out.stat().st_size > 10_000
    fig = flat.plot()
    assert "PCA plane" in fig.axes[0].get_title() and fig.axes[0].get_xlabel() == "PC 1"
