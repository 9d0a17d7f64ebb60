"""Every endpoint, accepted and rejected input (422 naming the field), never a 500."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from optarena import landscapes
from optarena.arena import race
from optarena.optim import registry
from optarena.web.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(warm=False), raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


def test_lists_come_from_the_registries(client):
    opts = client.get("/api/optimizers").json()
    assert [o["name"] for o in opts] == registry.names()
    adam = next(o for o in opts if o["name"] == "adam")
    lr = adam["hyperparameters"][0]
    assert lr["name"] == "learning_rate" and lr["log"] and lr["default"] == 0.001 and lr["min"] == 0.0
    assert adam["colour"].startswith("#")
    lss = client.get("/api/landscapes").json()
    assert [l["name"] for l in lss] == landscapes.names(every=True)
    ill = next(l for l in lss if l["name"] == "ill_conditioned")
    assert "kappa" in ill["schema"] and "theta" in ill["schema"]
    assert {s["name"] for s in client.get("/api/schedules").json()} >= {"constant", "cosine", "warmup_cosine"}


def test_default_race_is_the_articles_demo(client):
    r = client.post("/api/race", json={})
    assert r.status_code == 200
    body = r.json()
    assert body["status"][0] == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
    expected = race()
    np.testing.assert_allclose(np.array(body["runs"][2]["losses"]), expected.losses[2, 0])
    assert len(body["colours"]) == 3 and len(set(body["colours"])) == 3


def test_race_with_everything(client):
    req = {
        "landscape": {"name": "ill_conditioned", "params": {"kappa": 20, "theta": 30}},
        "racers": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1, "amsgrad": True},
                    "schedule": {"name": "cosine", "t_max": 50}, "label": "mine"},
                   {"optimizer": "sgd", "hyperparameters": {"learning_rate": 1e4}}],
        "starts": [[1.0, 2.0]], "steps": 50, "seed": 3, "noise": 0.1, "clip": 5.0,
    }
    body = client.post("/api/race", json=req).json()
    assert body["config"]["racers"][0]["label"] == "mine"
    assert body["config"]["clip"] == 5.0 and body["config"]["landscape"]["params"] == {"kappa": 20.0, "theta": 30.0}
    assert body["runs"][1]["diverged_at"] > 0 and "diverged at step" in body["status"][-1]


def test_grid_and_formula(client):
    g = client.post("/api/grid", json={"landscape": {"name": "rosenbrock"}, "n": 30}).json()
    assert len(g["x"]) == 30 and len(g["z"]) == 30 and g["log"] is True
    assert g["z"][0][0] == pytest.approx(landscapes.get("rosenbrock").f(g["x"][0], g["y"][0]))
    f = client.post("/api/formula", json={"formula": "x**2 + 10*y**2"})
    assert f.status_code == 200 and f.json()["landscape"]["min_value"] == pytest.approx(0, abs=1e-8)
    r = client.post("/api/race", json={"landscape": {"formula": "(x-1)**2 + y**2"}, "steps": 10})
    assert r.status_code == 200


@pytest.mark.parametrize("path,body,field", [
    ("/api/race", {"steps": 0}, "steps"),
    ("/api/race", {"steps": 10**6}, "steps"),
    ("/api/race", {"racers": []}, "racers"),
    ("/api/race", {"racers": [{"optimizer": "adam", "hyperparameters": {"learning_rate": -1}}]}, "learning_rate"),
    ("/api/race", {"racers": [{"optimizer": "adamm"}]}, "unknown optimizer 'adamm'"),
    ("/api/race", {"racers": [{"optimizer": "adam", "hyperparameters": {"lr": 1}}]}, "unknown hyperparameter 'lr'"),
    ("/api/race", {"racers": [{"optimizer": "adam", "schedule": {"name": "nope"}}]}, "unknown schedule"),
    ("/api/race", {"starts": [[1e9, 0]]}, "starts"),
    ("/api/race", {"landscape": {"name": "nowhere"}}, "unknown landscape"),
    ("/api/race", {"landscape": {"name": "booth", "formula": "x"}}, "exactly one of name or formula"),
    ("/api/race", {"landscape": {"formula": "x +"}}, "formula error at position 3"),
    ("/api/race", {"bogus": 1}, "bogus"),
    ("/api/grid", {"n": 100000}, "n"),
    ("/api/formula", {"formula": "__import__('os')"}, "formula error at position 0"),
    ("/api/formula", {"formula": "x" * 600}, "formula"),
])
def test_rejected_input_is_422_naming_the_field(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_stability_map_is_the_sweeps(client):
    from optarena.measure import Axis, sweep

    body = {"landscape": {"name": "rosenbrock"}, "racer": {"optimizer": "momentum", "hyperparameters": {"nesterov": True}},
            "x": {"name": "learning_rate", "lo": 1e-4, "hi": 1e-2, "n": 6, "log": True},
            "y": {"name": "momentum", "lo": 0.1, "hi": 0.9, "n": 4}, "steps": 150, "objective": "steps_to_tolerance"}
    r = client.post("/api/sweep", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    ref = sweep("rosenbrock", ["momentum(nesterov=true)"], [Axis.range("learning_rate", 1e-4, 1e-2, 6, log=True),
                                                            Axis.range("momentum", 0.1, 0.9, 4)], steps=150)
    want = ref.objective("steps_to_tolerance")[0].T  # [y][x], as Plotly draws
    assert np.array_equal(np.array([[np.inf if v is None else v for v in row] for row in got["z"]]), want)
    assert got["diverged"] == ref.diverged_fraction()[0].T.tolist()
    assert got["best"]["setting"] == ref.best("steps_to_tolerance")[0]["setting"]
    assert got["x"]["values"] == list(ref.axes[0].values) and got["y"]["log"] is False


def test_basin_map(client):
    r = client.post("/api/sweep", json={"landscape": {"name": "himmelblau"}, "basins": 12, "steps": 200,
                                        "racer": {"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.01}}})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["mode"] == "basins" and len(got["basin"]) == 12 and len(got["basin"][0]) == 12
    assert {v for row in got["basin"] for v in row} == {0, 1, 2, 3} and len(got["minima"]) == 4


@pytest.mark.parametrize("body,field", [
    ({"x": {"name": "learning_rate", "lo": 0.1, "hi": 1}}, "give x and y"),
    ({"basins": 20, "start": [0, 0]}, "basin map takes basins only"),
    ({"basins": 500}, "basins"),
    ({"basins": 100, "steps": 2000}, "cells x steps"),
    ({"x": {"name": "momentum", "lo": 0, "hi": 1}, "y": {"name": "momentum", "lo": 0, "hi": 1}}, "different"),
    ({"x": {"name": "beta1", "lo": 0, "hi": 1}, "y": {"name": "momentum", "lo": 0, "hi": 0.9}}, "beta1: not a hyperparameter"),
    ({"x": {"name": "learning_rate", "lo": 0, "hi": 1, "log": True}, "y": {"name": "momentum", "lo": 0, "hi": 0.9}}, "lo > 0"),
    ({"x": {"name": "learning_rate", "lo": 0.1, "hi": 1}, "y": {"name": "momentum", "lo": -0.5, "hi": 0.5}}, "momentum must be"),
    ({"racer": {"optimizer": "nope"}, "basins": 10}, "unknown optimizer"),
    ({"x": {"name": "x", "lo": 0, "hi": 1}, "y": {"name": "y", "lo": 0, "hi": 1}}, "a grid of starts is a basin map"),
    ({"x": {"name": "learning rate", "lo": 0, "hi": 1}, "y": {"name": "momentum", "lo": 0, "hi": 1}}, "pattern"),
])
def test_rejected_maps_are_422_naming_the_field(client, body, field):
    r = client.post("/api/sweep", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


@pytest.mark.parametrize("x,y,loc", [
    ({"name": "learning_rate", "lo": 0, "hi": 1, "log": True}, {"name": "momentum", "lo": 0, "hi": 0.9}, "x"),
    ({"name": "learning_rate", "lo": 0.1, "hi": 1}, {"name": "momentum", "lo": -0.5, "hi": 0.5}, "y"),
    ({"name": "beta1", "lo": 0.1, "hi": 1}, {"name": "momentum", "lo": 0, "hi": 0.5}, "x"),
])
def test_map_errors_point_at_their_axis(client, x, y, loc):
    d = client.post("/api/sweep", json={"x": x, "y": y}).json()["detail"][0]
    assert d["loc"] == ["body", loc], d


def test_formula_error_carries_its_position(client):
    d = client.post("/api/formula", json={"formula": "x**2 +* y"}).json()["detail"][0]
    assert d["position"] == 6 and d["loc"] == ["body", "formula"] and "expected" in d


def test_page_and_vendored_plotly(client):
    page = client.get("/")
    assert page.status_code == 200 and "/vendor/plotly.min.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from outside
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_openapi_documents_the_limits(client):
    spec = client.get("/openapi.json").json()
    race_in = spec["components"]["schemas"]["RaceIn"]["properties"]
    assert race_in["steps"]["maximum"] == 5000 and race_in["racers"]["maxItems"] == 12


def test_training_streams_epochs_then_done(client):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import json as _json

    events = []
    with client.stream("POST", "/api/train", json={"dataset": "iris", "model": "logreg", "epochs": 2,
                                                   "racers": [{"optimizer": "sgd"}, {"optimizer": "adam"}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(_json.loads(line[6:]))
    assert events[0]["type"] == "start" and events[0]["labels"] == ["SGD", "Adam"]
    # issue 11 item 8: before the first epoch (seconds, the first time) the page is told what it waits for
    assert events[1]["type"] == "status" and ("loading torch" in events[1]["msg"] or "preparing" in events[1]["msg"])
    epochs = [(e["racer"], e["epoch"]) for e in events if e["type"] == "epoch"]
    assert epochs == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]  # racers advance together
    assert events[-1]["type"] == "done" and not events[-1]["stopped"]


def test_training_streams_a_divergence_as_strict_json(client):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import json as _json

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    events = []
    with client.stream("POST", "/api/train", json={"dataset": "iris", "model": "logreg", "epochs": 2, "racers": [
            {"optimizer": "sgd", "hyperparameters": {"learning_rate": 1e38}}, {"optimizer": "adam"}]}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(_json.loads(line[6:], parse_constant=refuse))
    epochs = [e for e in events if e["type"] == "epoch"]
    # SGD's loss overflows in epoch 1: its last event says so; Adam goes on to the end
    assert [(e["racer"], e["epoch"], e["diverged_at"]) for e in epochs] == [
        (0, 0, -1), (1, 0, -1), (0, 1, 1), (1, 1, -1), (1, 2, -1)]
    assert epochs[2]["train_loss"] is None  # infinite: null, never NaN/Infinity in the stream
    done = events[-1]
    assert done["type"] == "done"
    sgd, adam = done["summary"]
    assert sgd["diverged"] == "diverged at epoch 1" and sgd["diverged_at"] == [1] and sgd["final_val_loss"] is None
    assert adam["diverged"] == "" and adam["final_val_loss"] > 0


@pytest.mark.parametrize("body,field", [
    ({"dataset": "iris", "model": "cnn"}, "cnn"),
    ({"dataset": "mnist"}, "dataset"),
    ({"epochs": 500}, "epochs"),
    ({"racers": [{"optimizer": "adam", "hyperparameters": {"beta1": 2}}]}, "beta1"),
])
def test_training_rejects_bad_requests(client, body, field):
    r = client.post("/api/train", json=body)
    assert r.status_code == 422 and field in r.text


def test_code_endpoint(client):
    body = client.post("/api/code", json={"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01},
                                          "framework": "optax"}).json()
    assert "optax.adam(learning_rate=0.01" in body["code"] and body["exact"] is True
    keras = client.post("/api/code", json={"optimizer": "radam", "framework": "keras"}).json()
    assert keras["notes"] and keras["exact"] is False
    assert client.post("/api/code", json={"optimizer": "nope"}).status_code == 422
    assert client.post("/api/code", json={"optimizer": "adam", "framework": "jax"}).status_code == 422
    cosine = client.post("/api/code", json={"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1},
                                            "schedule": {"name": "cosine", "t_max": 50}}).json()
    assert "CosineAnnealingLR(optimizer, T_max=50" in cosine["code"] and "lr=0.1" in cosine["code"]
    bad = client.post("/api/code", json={"optimizer": "adam", "schedule": {"name": "cosine", "t_max": -1}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "schedule"]


def test_warmer_compiles_the_race_loop_after_a_request():
    from optarena.arena import fused
    from optarena.optim import registry

    with TestClient(create_app(warm=True), base_url="http://127.0.0.1") as c:
        body = {"landscape": {"name": "matyas"}, "racers": [{"optimizer": "adamax"}], "steps": 20}
        assert c.post("/api/race", json=body).status_code == 200
        spec, ls = registry.get("adamax"), landscapes.get("matyas")
        present = (True, True)  # adamax: exp_avg, exp_inf
        deadline = time.time() + 120
        while not fused.is_warm(spec, ls, present, True):
            assert time.time() < deadline, "the warm-up never compiled the loop"
            time.sleep(0.2)


# -- issue 11 items 6 and 11: what a landscape cannot measure is null; default racers listed ------

def test_landscapes_list_their_default_racers_and_what_they_claim(client):
    lss = {l["name"]: l for l in client.get("/api/landscapes").json()}
    for name, l in lss.items():
        ls = landscapes.get(name)
        assert l["default_racers"] == ls.default_racer_specs()
        assert [r["optimizer"] for r in l["default_racers"]] == ["sgd", "momentum", "adam"]
        assert l["minimum_kind"] == ls.minimum_kind
    assert all(r["hyperparameters"] == {} for r in lss["quadratic"]["default_racers"])  # the article's
    sad = lss["saddle"]
    assert sad["minima"] == [] and sad["min_value"] is None and "unbounded below" in sad["minimum_note"]
    assert sad["saddle"] == [0.0, 0.0] and sad["saddle_value"] == 0.0 and sad["escape_margin"] == 1.0
    # the page's default race there: none diverges
    body = {"landscape": {"name": "rosenbrock"}, "racers": lss["rosenbrock"]["default_racers"]}
    assert all(run["diverged_at"] == -1 for run in client.post("/api/race", json=body).json()["runs"])


def test_race_on_the_saddle_sends_no_minimum_distance_or_tolerance(client):
    r = client.post("/api/race", json={"landscape": {"name": "saddle"}, "racers": [{"optimizer": "momentum"}]})
    assert r.status_code == 200
    body = r.json()
    assert body["min_value"] is None and body["minima"] == [] and body["distance"] is None
    assert body["minimum"]["kind"] == "none" and body["minimum"]["escape_below"] == -1.0
    run = body["runs"][0]
    p = np.array([[np.nan if v is None else v for v in pt] for pt in run["positions"]], dtype=float)
    with np.errstate(invalid="ignore"):
        below = np.nonzero(p[:, 0] ** 2 - p[:, 1] ** 2 < -1.0)[0]
    assert run["steps_to_tolerance"] is None and run["steps_to_escape"] == int(below[0])
    ros = client.post("/api/race", json={"landscape": {"name": "rosenbrock"}, "steps": 5}).json()
    assert ros["min_value"] == 0.0 and len(ros["distance"][0]) == 6 and ros["runs"][0]["steps_to_escape"] is None


def test_grid_of_a_formula_without_a_minimum_claims_none(client):
    pytest.importorskip("sympy")
    g = client.post("/api/grid", json={"landscape": {"formula": "1/x"}, "n": 20})
    assert g.status_code == 200
    land = g.json()["landscape"]
    assert land["minima"] == [] and land["min_value"] is None and "not finite" in land["minimum_note"]


def test_repeated_optimizers_have_the_same_names_and_colours_on_the_page_and_in_exports(client):
    # Issue 11 item 10 / issue 12's one presentation: two Adams are told apart by what differs, and
    # the page, the PNG/GIF/HTML exports and the training view colour every racer alike.
    from optarena.arena.presentation import racer_colours
    from optarena.export import _common

    racers = [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1}}, {"optimizer": "sgd"},
              {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}]
    page = client.post("/api/race", json={"racers": racers, "steps": 5}).json()
    res = race("quadratic", racers, steps=5)
    assert [r["label"] for r in page["runs"]] == res.labels == ["Adam lr=0.1", "SGD", "Adam lr=0.01"]
    assert page["colours"] == _common.colours(res) == racer_colours(["adam", "sgd", "adam"])
    assert len(set(page["colours"])) == 3 and page["colours"][:2] == [racer_colours(["adam"])[0], racer_colours(["sgd"])[0]]
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import json as _json

    with client.stream("POST", "/api/train", json={"dataset": "iris", "model": "logreg", "epochs": 1,
                                                   "racers": racers}) as r:
        start = next(_json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: "))
    assert start["labels"] == res.labels and start["colours"] == page["colours"]


def test_the_new_kinds_of_racer_race_from_the_page(client):
    """A rule that reduces (Prodigy), answers elsewhere (Schedule-Free), needs the Hessian (Newton)
    or a closure (L-BFGS: its evaluations come back) races through the API as through race();
    a matrix rule is refused with a 422 naming the racer, and the optimizer list says why."""
    from optarena.arena.engine import race
    from optarena.arena.plan import Racer

    racers = [{"optimizer": "prodigy"}, {"optimizer": "sf_adamw", "hyperparameters": {"learning_rate": 0.05}},
              {"optimizer": "newton"}, {"optimizer": "lbfgs"}]
    body = client.post("/api/race", json={"landscape": {"name": "rosenbrock"}, "racers": racers, "steps": 10}).json()
    local = race("rosenbrock", [Racer(r["optimizer"], r.get("hyperparameters", {})) for r in racers], steps=10)
    for i, run in enumerate(body["runs"]):
        assert np.allclose(np.array(run["positions"], dtype=float), local.positions[i, 0], rtol=1e-12)
        assert run["evaluations"] == local.evaluations[i, 0].tolist()
    assert "evals)" in body["status"][-1]
    r = client.post("/api/race", json={"landscape": {"name": "rosenbrock"}, "racers": [{"optimizer": "muon"}]})
    assert r.status_code == 422 and "racers" in str(r.json()["detail"][0]["loc"]) and "matrices" in r.text
    muon = next(o for o in client.get("/api/optimizers").json() if o["name"] == "muon")
    assert muon["min_ndim"] == 2 and muon["family"] == "matrix"
