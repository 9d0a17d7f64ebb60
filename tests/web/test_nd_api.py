"""Races beyond the plane through the API: N-D, data and matrix landscapes race in d coordinates
and come back drawn on a plane (issue 15's web part).

References: the race itself (``arena.race`` with the same plan) and ``RaceResult.projected`` for
the plane the view draws; everything else (the quadratic's values on the plane, its distance to the
minimum, coordinates on a plane, singular values of W2 W1) is computed here with NumPy from the
formulas the landscapes document and the plane's origin and axes the answer gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from optarena import landscapes
from optarena.arena import race
from optarena.arena.projection import grid_size
from optarena.web import limits
from optarena.web.app import create_app

# quadratic_nd without its rotation: f = 0.5 sum(lambda_i x_i^2), lambda log-spaced from 1 to kappa
D, KAPPA = 40, 100.0
QUAD = {"name": "quadratic_nd", "params": {"d": D, "kappa": KAPPA, "rotate": 0}}
RACERS = [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.01}},
          {"optimizer": "momentum", "hyperparameters": {"learning_rate": 0.002}},
          {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}}]
LAMBDA = np.logspace(0.0, math.log10(KAPPA), D)


def quad(p: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(LAMBDA * p * p, axis=-1)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(warm=False), raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


def _reference(body: dict):
    """The race the request asks for, run by the library (the reference the answer is held to)."""
    return race(landscape=body["landscape"], racers=body["racers"], steps=body["steps"])


def _positions(answer: dict, racer: int) -> np.ndarray:
    run = next(r for r in answer["runs"] if r["racer"] == racer and r["start"] == 0)
    return np.array([[np.nan if v is None else v for v in p] for p in run["positions"]], dtype=np.float64)


def test_the_list_has_the_landscapes_beyond_the_plane_with_their_dimension_and_schema(client):
    lss = client.get("/api/landscapes").json()
    assert [l["name"] for l in lss] == landscapes.names(every=True)
    planar = set(landscapes.names())
    for l in lss:
        if l["name"] in planar:  # the plane's, as before: no dim, the schema as the registry's
            assert "dim" not in l and l["schema"] == landscapes.params_schema(l["name"])
            continue
        ls = landscapes.get(l["name"])
        assert l["dim"] == ls.dim and l["blocks"] == [list(b) for b in ls.blocks]
        for name, spec in landscapes.params_schema(l["name"]).items():
            assert l["schema"][name] == {**spec, "integer": isinstance(spec["default"], int)}
    deep = next(l for l in lss if l["name"] == "deep_linear")
    assert deep["blocks"] == [[8, 8], [8, 8]] and deep["product"] and deep["schema"]["hidden"]["integer"]
    assert next(l for l in lss if l["name"] == "quadratic_nd")["schema"]["kappa"]["integer"] is False
    got = client.get("/api/limits").json()
    assert got["dim"] == {"min": 2, "max": limits.MAX_DIM} and got["nd_work"] == {"max": limits.MAX_ND_WORK}
    assert got["pca_work"] == {"max": limits.MAX_PCA_WORK}


def test_a_quadratic_race_in_d_dimensions_comes_back_on_the_pca_plane(client):
    body = {"landscape": QUAD, "racers": RACERS, "steps": 60}
    r = client.post("/api/race", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    res = _reference(body)
    flat = res.projected()
    view = got["view"]
    # the plane: the library's (positions, title with the variance share, axis labels, window)
    assert view["kind"] == "pca" and view["dim"] == D and view["title"] == flat.view.title
    assert view["axis_labels"] == ["PC 1", "PC 2"] and view["coordinates"] is None
    assert f"{100 * view['explained']:.1f}% of their variance" in view["title"]
    np.testing.assert_allclose(view["window"], flat.view.window, rtol=1e-12)
    origin, axes = np.array(view["origin"]), np.array(view["axes"])
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-12)  # PCA axes: orthonormal
    for i in range(3):
        xy = _positions(got, i)
        np.testing.assert_allclose(xy, flat.positions[i, 0], rtol=1e-10, atol=1e-12)
        # by hand: the coordinates of the d-dimensional path along the plane's axes
        np.testing.assert_allclose(xy, (res.positions[i, 0] - origin) @ axes.T, rtol=1e-9, atol=1e-10)
        run = got["runs"][i]
        # losses are the d-dimensional race's: f at its points, by hand
        np.testing.assert_allclose(run["losses"], quad(res.positions[i, 0]), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(got["distance"][i], np.linalg.norm(res.positions[i, 0], axis=-1), rtol=1e-12)
        (wx0, wx1), (wy0, wy1) = view["window"]
        assert (wx0 <= xy[:, 0]).all() and (xy[:, 0] <= wx1).all() and (wy0 <= xy[:, 1]).all() and (xy[:, 1] <= wy1).all()
    np.testing.assert_allclose(got["config"]["starts"], flat.config["starts"], rtol=1e-12)
    assert got["status"] == res.status_lines(0)
    assert got["minimum"]["kind"] == "minimum"  # the d-dimensional minimum (0): the loss chart subtracts it
    # the contours: f at origin + x u + y v, by hand, on a grid as fine as projection.grid_size allows
    n = grid_size(D, limits.VIEW_GRID)
    assert view["n"] == n and len(view["x"]) == len(view["y"]) == n
    xs, ys, z = np.array(view["x"]), np.array(view["y"]), np.array(view["z"], dtype=np.float64)
    np.testing.assert_allclose(xs[[0, -1]], view["window"][0]) and np.testing.assert_allclose(ys[[0, -1]], view["window"][1])
    lifted = origin + xs[None, :, None] * axes[0] + ys[:, None, None] * axes[1]  # z[row y][column x]
    np.testing.assert_allclose(z, quad(lifted), rtol=1e-10, atol=1e-12)
    assert view["log"] is True
    want = np.log10(z - 0.0 + 1e-12 * max(1.0, np.abs(z).max()))  # log colour: f above the minimum 0
    np.testing.assert_allclose(np.array(view["colour"], dtype=np.float64), want, rtol=1e-12)


def test_the_pca_plane_of_fewer_points_than_coordinates_is_their_top_two_singular_vectors(client):
    # 2 racers x 31 points in d = 3000: the plane is held to NumPy's SVD of the points by hand
    body = {"landscape": {"name": "quadratic_nd", "params": {"d": 3000, "kappa": 50}}, "racers": RACERS[1:], "steps": 30}
    got = client.post("/api/race", json=body).json()
    res = _reference(body)
    origin, axes = np.array(got["view"]["origin"]), np.array(got["view"]["axes"])
    best = int(np.nanargmin(res.final_loss[:, 0]))
    np.testing.assert_array_equal(origin, res.positions[best, 0, -1])
    pts = res.positions.reshape(-1, 3000) - origin
    _, s, vt = np.linalg.svd(pts, full_matrices=False)
    # the same plane: its orthogonal projector, whatever the axes' signs
    np.testing.assert_allclose(axes.T @ axes, vt[:2].T @ vt[:2], atol=1e-10)
    assert got["view"]["explained"] == pytest.approx((s[0] ** 2 + s[1] ** 2) / np.sum(s ** 2), rel=1e-12)


def test_the_coordinate_and_random_planes(client):
    body = {"landscape": QUAD, "racers": RACERS[:2], "steps": 30, "view": "coordinates", "view_coordinates": [3, 17]}
    got = client.post("/api/race", json=body).json()
    res = _reference(body)
    view = got["view"]
    assert view["kind"] == "coordinates" and view["coordinates"] == [3, 17] and view["explained"] is None
    assert view["axis_labels"] == ["x4", "x18"] and "coordinates x4 and x18" in view["title"]
    origin = np.array(view["origin"])
    for i in range(2):  # coordinates 3 and 17 of each path, less the origin's
        np.testing.assert_allclose(_positions(got, i), res.positions[i, 0][:, [3, 17]] - origin[[3, 17]], atol=1e-12)
    # the origin: the final point of the run with the lowest final loss
    best = int(np.nanargmin(res.final_loss[:, 0]))
    np.testing.assert_array_equal(origin, res.positions[best, 0, -1])
    z = np.array(view["z"], dtype=np.float64)
    xs, ys = np.array(view["x"]), np.array(view["y"])
    lifted = np.broadcast_to(origin, (len(ys), len(xs), D)).copy()
    lifted[..., 3] += xs[None, :]
    lifted[..., 17] += ys[:, None]
    np.testing.assert_allclose(z, quad(lifted), rtol=1e-10)

    body = {**body, "view": "random"}
    del body["view_coordinates"]
    got = client.post("/api/race", json=body).json()
    flat = res.projected("random")
    assert got["view"]["explained"] is None and got["view"]["title"] == flat.view.title
    np.testing.assert_allclose(_positions(got, 1), flat.positions[1, 0], rtol=1e-10, atol=1e-12)
    axes = np.array(got["view"]["axes"])
    # filter-normalised: each direction has the origin's norm (one vector: one filter)
    np.testing.assert_allclose(np.linalg.norm(axes, axis=1), np.linalg.norm(got["view"]["origin"]), rtol=1e-12)


def test_a_deep_linear_race_sends_the_singular_values_of_w2_w1(client):
    body = {"landscape": {"name": "deep_linear", "params": {}},
            "racers": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.05}},
                       {"optimizer": "muon", "hyperparameters": {"learning_rate": 0.02}}], "steps": 40}
    r = client.post("/api/race", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    res = _reference(body)
    # Saxe et al.'s target of the default: rank 4, strengths 4, 2, 1, 0.5 (the nonzero ones only)
    assert got["target_singular_values"] == [4.0, 2.0, 1.0, 0.5]
    sv = np.array(got["singular_values"], dtype=np.float64)
    assert sv.shape == (2, 41, 4)
    for i in range(2):  # by hand: W1 is the first 8 x 8 block, W2 the second; the map is W2 W1
        p = res.positions[i, 0]
        w1, w2 = p[:, :64].reshape(-1, 8, 8), p[:, 64:].reshape(-1, 8, 8)
        np.testing.assert_allclose(sv[i], np.linalg.svd(w2 @ w1, compute_uv=False)[:, :4], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(_positions(got, 0), res.projected().positions[0, 0], rtol=1e-10, atol=1e-12)
    assert got["view"]["dim"] == 128 and got["distance"] is None  # a lower bound only: no minimum point


def test_matrix_sensing_sends_the_singular_values_of_w_and_a_vector_landscape_none(client):
    body = {"landscape": {"name": "matrix_sensing", "params": {"m": 6, "n": 5, "rank": 2}},
            "racers": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}}], "steps": 20}
    got = client.post("/api/race", json=body).json()
    res = _reference(body)
    sv = np.array(got["singular_values"], dtype=np.float64)
    want = np.linalg.svd(res.positions[0, 0].reshape(-1, 6, 5), compute_uv=False)[:, :2]
    np.testing.assert_allclose(sv[0], want, rtol=1e-9)
    assert len(got["target_singular_values"]) == 2
    plain = client.post("/api/race", json={"landscape": QUAD, "racers": RACERS[:1], "steps": 5}).json()
    assert "singular_values" not in plain and "target_singular_values" not in plain


BIG = {"name": "quadratic_nd", "params": {"d": limits.MAX_DIM}}


@pytest.mark.parametrize("body, loc, words", [
    ({"landscape": {"name": "quadratic_nd", "params": {"d": limits.MAX_DIM + 1}}}, ["landscape", "params", "d"],
     "above the web arena's"),
    ({"landscape": BIG, "steps": limits.MAX_ND_WORK // limits.MAX_DIM}, ["landscape", "params", "d"],
     "racers x starts x (steps + 1) x d"),
    ({"landscape": {"name": "quadratic_nd", "params": {"d": 1000}}, "steps": 1000}, ["landscape", "params", "d"],
     "the PCA plane of 3,003 recorded points in d = 1,000 costs"),
    ({"landscape": {"name": "deep_linear", "params": {"n_in": 100, "hidden": 100, "n_out": 100}}}, ["landscape"],
     "d = 20,000 coordinates"),
    ({"landscape": QUAD, "view": "side"}, ["view"], "'pca', 'random' or 'coordinates'"),
    ({"landscape": QUAD, "view": "coordinates", "view_coordinates": [0, D]}, ["view_coordinates"], f"[0, {D - 1}]"),
    ({"landscape": QUAD, "view": "coordinates", "view_coordinates": [5, 5]}, ["view_coordinates"], "two different"),
    ({"landscape": QUAD, "view": "coordinates", "view_coordinates": [-1, 2]}, ["view_coordinates"], "two different"),
    ({"landscape": QUAD, "view_coordinates": [0, 1]}, ["view_coordinates"], "go with view 'coordinates'"),
    ({"landscape": {"name": "quadratic"}, "view": "pca"}, ["view"], "beyond the plane"),
    ({"landscape": QUAD, "starts": [[0.0, 1.0]]}, ["starts"], f"{D} coordinates"),
])
def test_a_race_beyond_the_plane_outside_the_limits_is_422_naming_the_field(client, body, loc, words):
    r = client.post("/api/race", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", *loc] and words in detail["msg"], detail


@pytest.mark.parametrize("path, body, loc", [
    ("/api/grid", {"landscape": QUAD}, ["body", "landscape", "name"]),
    ("/api/sweep", {"landscape": QUAD, "basins": 10}, ["body", "landscape", "name"]),
    ("/api/anatomy", {"race": {"landscape": {"name": "deep_linear"}}}, ["body", "race", "landscape", "name"]),
])
def test_maps_grids_and_anatomy_refuse_a_landscape_beyond_the_plane_with_the_reason(client, path, body, loc):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc and "works on landscapes of the plane" in detail["msg"] and "coordinates" in detail["msg"]
