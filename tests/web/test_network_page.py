"""A real network's loss surface on the web (issue 15 item 4): GET /api/networks lists it without
training it, /api/grid and /api/race answer for it with the network's own loss (held to a direct
torch evaluation of the MLP at theta* + a d1 + b d2, not to the landscape's batched code), bad
parameters and races past the budget are refused naming the field, no torch is a 501 naming the
extra, and the landscape registry's listings never see it. In Chromium: the "Real network" entry
says what it waits for, draws the plane's title and the paths, and a light request is answered
while the network is built. One network is trained for the whole file, in a tmp cache."""

from __future__ import annotations

import base64
import os
import time
import urllib.request

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from fastapi.testclient import TestClient  # noqa: E402

from optarena import landscapes  # noqa: E402
from optarena.nn import load, surface  # noqa: E402
from optarena.nn.models import build  # noqa: E402
from optarena.web import app as web  # noqa: E402

from conftest import _free_port, open_page, serving, wait_until_answering  # noqa: E402

NET = {"name": "digits_mlp"}
PCA = {"name": "digits_mlp", "params": {"directions": 1}}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One tmp cache for the file: the network is trained once, by the first test that asks."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("network-cache")
        mp.setenv("OPTARENA_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def client(cache):
    with TestClient(web.create_app(warm=False), raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def planes(client):
    """The app's grids of both planes (the first trains the network, in the app), and the planes'
    vectors theta*, d1, d2 as ``network_landscape`` builds them from the cached weights."""
    out = {}
    for key, spec in (("random", NET), ("pca", PCA)):
        r = client.post("/api/grid", json={"landscape": spec, "n": 140})
        assert r.status_code == 200, r.text
        ls = surface.network_landscape("digits-mlp", key, 0)
        out[key] = (r.json(), ls)
    return out


@pytest.fixture(scope="module")
def loss():
    """L(theta) of the digits MLP on its training split, float64, by torch directly: the network's
    own forward pass with theta's values put in its parameters; with its gradient in theta."""
    data = load("digits")
    net = build("mlp", data, 0).double()
    x, y = torch.from_numpy(data.x_train).double(), torch.from_numpy(data.y_train)

    def value(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = list(net.parameters())
        torch.nn.utils.vector_to_parameters(torch.as_tensor(theta, dtype=torch.float64), params)
        net.zero_grad()
        out = torch.nn.functional.cross_entropy(net(x), y)
        out.backward()
        return float(out.detach()), torch.cat([p.grad.reshape(-1) for p in params]).numpy()

    return value


def _theta(ls, a: float, b: float) -> np.ndarray:
    s = ls.surface
    return s.origin + a * s.d1 + b * s.d2


def test_the_grid_is_the_networks_loss_at_its_points_capped_at_its_grid_points(planes, loss):
    for key, (g, ls) in planes.items():
        n = surface.GRID_POINTS  # 140 asked: a point is a forward pass over the training split
        (x0, x1), (y0, y1) = ls.window
        np.testing.assert_allclose(g["x"], np.linspace(x0, x1, n), rtol=0, atol=1e-12)
        np.testing.assert_allclose(g["y"], np.linspace(y0, y1, n), rtol=0, atol=1e-12)
        z = np.array(g["z"], dtype=np.float64)
        assert z.shape == (n, n) and np.isfinite(z).all()
        rng = np.random.default_rng(1)
        for i, j in [(0, 0), (n - 1, n - 1), (n // 2, n // 2), *rng.integers(0, n, (5, 2)).tolist()]:
            want = loss(_theta(ls, g["x"][j], g["y"][i]))[0]  # z is [y][x], as Plotly draws it
            assert z[i, j] == pytest.approx(want, rel=1e-10, abs=1e-13), (key, i, j)
        assert g["landscape"]["title"] == ls.title and g["plane"]["kind"] == key
        assert g["plane"]["axis_labels"] == ["a (along d1)", "b (along d2)"]
        assert (g["plane"]["explained"] is None) == (key == "random")
        assert g["landscape"]["default_racers"] == ls.to_json()["default_racers"]


def test_a_race_has_the_networks_loss_at_its_positions_and_steps_along_its_projected_gradient(planes, client, loss):
    ls = planes["random"][1]
    body = {"landscape": NET, "steps": 30,
            "racers": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.2}}, {"optimizer": "adam"}]}
    r = client.post("/api/race", json=body)
    assert r.status_code == 200, r.text
    race = r.json()
    assert race["config"]["landscape"] == {"name": "digits_mlp", "params": {"directions": 0, "seed": 0}}
    assert race["config"]["starts"] == [list(ls.starts[0])]
    for run in race["runs"]:
        for k in (0, 1, 7, 30):
            want = loss(_theta(ls, *run["positions"][k]))[0]
            assert run["losses"][k] == pytest.approx(want, rel=1e-10, abs=1e-13), (run["racer"], k)
    # SGD's first steps: p - 0.2 (<grad L, d1>, <grad L, d2>), the gradient by torch on the weights
    sgd = np.array(race["runs"][0]["positions"])
    for k in range(3):
        g = loss(_theta(ls, *sgd[k]))[1]
        want = sgd[k] - 0.2 * np.array([g @ ls.surface.d1, g @ ls.surface.d2])
        np.testing.assert_allclose(sgd[k + 1], want, rtol=1e-9, atol=1e-12)
    # the anatomy of a step replays the race on the network: its step is the race's
    a = client.post("/api/anatomy", json={"race": body, "racer": 1, "step": 5})
    assert a.status_code == 200, a.text
    adam = race["runs"][1]["positions"]
    np.testing.assert_allclose([a.json()["position"], a.json()["next"]], adam[5:7], rtol=1e-12, atol=1e-15)


def test_the_network_is_listed_without_being_built_and_kept_out_of_the_registry(planes, client):
    nets = client.get("/api/networks").json()
    assert [n["name"] for n in nets] == ["digits_mlp"]
    n = nets[0]
    assert n["schema"]["directions"] == {"default": 0, "min": 0, "max": 1, "integer": True, "choices": ["random", "pca"]}
    assert n["schema"]["seed"]["max"] == web.NETWORK_SEEDS - 1 and n["grid_points"] == surface.GRID_POINTS
    assert {"directions": 0, "seed": 0} in n["ready"] and {"directions": 1, "seed": 0} in n["ready"]
    assert n["trained"] == [0]
    # the registry's listings (gallery, optarena landscapes, the page's /api/landscapes) build
    # every entry: the network is in none of them
    assert "digits_mlp" not in landscapes.names(every=True)
    assert "digits_mlp" not in [entry["name"] for entry in client.get("/api/landscapes").json()]


@pytest.mark.parametrize("path,body,loc,msg", [
    ("/api/race", {"landscape": {**NET, "params": {"seed": 9}}}, ["landscape", "params", "seed"], "[0, 3]"),
    ("/api/race", {"landscape": {**NET, "params": {"directions": 2}}}, ["landscape", "params", "directions"],
     "0: random, 1: pca"),
    ("/api/grid", {"landscape": {**NET, "params": {"kappa": 2}}}, ["landscape", "params", "kappa"],
     "allowed: directions, seed"),
    ("/api/race", {"landscape": NET, "steps": 600}, ["steps"], "racers x starts x steps = 1,800"),
    ("/api/sweep", {"landscape": NET, "racer": {"optimizer": "sgd"}, "basins": 10}, ["landscape"],
     "maps are not served on a network's surface"),
    ("/api/race", {"landscape": NET, "view": "pca"}, ["view"], "beyond the plane"),
])
def test_bad_requests_are_refused_naming_the_field(client, path, body, loc, msg):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", *loc] and msg in detail["msg"], detail


def test_without_torch_the_entry_is_absent_and_its_requests_name_the_extra(monkeypatch):
    monkeypatch.setattr(web, "_network_missing", lambda: "a network's loss surface needs PyTorch: pip install "
                        "'optarena[nn]'")
    with TestClient(web.create_app(warm=False), base_url="http://127.0.0.1") as c:
        assert c.get("/api/networks").json() == []
        for path, body in (("/api/grid", {"landscape": NET}), ("/api/race", {"landscape": NET})):
            r = c.post(path, json=body)
            assert r.status_code == 501 and "pip install 'optarena[nn]'" in r.json()["detail"], r.text


def _get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
    return time.perf_counter() - t0


def test_the_page_races_on_the_network_and_answers_others_while_it_is_built(planes, cache, browser):
    """Its own server, on this file's cache (the network is trained there: the server reads it,
    builds the plane and computes its grid: seconds, most of this test's time)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    assert os.environ["OPTARENA_CACHE_DIR"] == str(cache)  # the server inherits it
    with serving(port):
        wait_until_answering(url)
        short = base64.urlsafe_b64encode(b'{"steps": 20}').decode().rstrip("=")  # a short race: the grid is the wait
        with open_page(browser, url, link=f"#s={short}") as pg:
            pg.evaluate("""() => { window.statuses = [];
                const s = document.getElementById('status');
                new MutationObserver(() => window.statuses.push(s.textContent)).observe(s, {childList: true}); }""")
            assert "Real network" in pg.locator("#landscape optgroup").evaluate_all("(gs) => gs.map((g) => g.label)")
            pg.select_option("#landscape", "digits_mlp")
            # while the page waits for the network's grid, a light request is answered
            pg.wait_for_function("window.statuses.some((t) => t.startsWith('digits MLP loss surface: '))")
            light, waiting = _get(url + "/api/limits"), pg.evaluate("!(window.arena.grid && window.arena.grid.plane)")
            pg.wait_for_function("window.arena.race && window.arena.race.config.landscape.name === 'digits_mlp' "
                                 "&& !window.arena.inflight", timeout=60000)
            statuses = pg.evaluate("window.statuses")
            assert any("loading the trained network, then its 41 × 41 contour grid" in t for t in statuses), statuses
            assert waiting and light < 2.0, (waiting, light)
            layout = pg.evaluate("""(() => { const m = document.getElementById('map');
                return {title: m.layout.title.text, x: m.layout.xaxis.title.text}; })()""")
            assert layout["title"].startswith("digits MLP (random filter-normalised plane, seed 0)<br>")
            assert layout["x"] == "a (along d1)"
            race = pg.evaluate("window.arena.race")
            assert [r["optimizer"] for r in race["config"]["racers"]] == ["sgd", "momentum", "adam"]
            paths = pg.evaluate("""document.getElementById('map').data.filter((t) => t.mode === 'lines')
                .map((t) => [t.name, t.x, t.y])""")
            assert [name for name, _, _ in paths] == race["legends"]  # each racer's whole path, as it raced
            for (_, x, y), run in zip(paths, race["runs"]):
                np.testing.assert_allclose(np.column_stack([x, y]), run["positions"], rtol=0, atol=1e-12)
            assert pg.locator("#status").text_content().startswith("Step 0 / 20 |")
            assert pg.locator("#directions").count() == 1
