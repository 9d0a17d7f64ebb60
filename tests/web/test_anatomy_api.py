"""POST /api/anatomy: one step of a racer from the race's own numbers, 422 naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from optarena.arena import race
from optarena.web.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(warm=False), raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


RACE = {"landscape": {"name": "rosenbrock"}, "starts": [[-1.2, 1.0], [0.5, 2.0]], "steps": 60, "noise": 0.2, "seed": 4,
        "racers": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.001}},
                   {"optimizer": "momentum", "hyperparameters": {"learning_rate": 0.001, "nesterov": True}},
                   {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}, "schedule": {"name": "cosine"}}]}


def test_a_step_is_explained_from_the_race_the_page_drew(client):
    drawn = client.post("/api/race", json=RACE).json()
    res = race(RACE["landscape"]["name"], RACE["racers"], starts=RACE["starts"], steps=RACE["steps"],
               noise=RACE["noise"], seed=RACE["seed"], trace=True)
    for racer in range(3):
        for start in range(2):
            step = 17 + racer
            r = client.post("/api/anatomy", json={"race": RACE, "racer": racer, "start": start, "step": step})
            assert r.status_code == 200, r.text
            a = r.json()
            run = next(x for x in drawn["runs"] if x["racer"] == racer and x["start"] == start)
            assert a["position"] == run["positions"][step] and a["next"] == run["positions"][step + 1]
            assert a["gradient"] == res.trace["gradient"][racer, start, step].tolist()
            assert a["learning_rate"] == res.trace["learning_rate"][racer, start, step]
            for k, v in a["state_after"].items():
                np.testing.assert_array_equal(v, res.trace[f"state.{k}"][racer, start, step + 1])
            terms = {t["key"]: np.array(t["vector"]) for t in a["terms"]}
            np.testing.assert_allclose(sum(terms[t["key"]] for t in a["terms"] if t["composes"]), terms["step"], atol=1e-12)
            assert a["rule"]["svg"].startswith("<svg") and all(ln["svg"].startswith("<svg") for ln in a["lines"])
            assert all(len(ln["numbers"]) == 2 for ln in a["lines"])
    adam = client.post("/api/anatomy", json={"race": RACE, "racer": 2, "step": 3}).json()
    assert adam["stretch"]["label"].startswith("effective learning rate") and len(adam["stretch"]["values"]) == 2
    # how to draw it comes with it: one colour a term (the step taken black), one scale for all arrows
    colours = {t["key"]: t["colour"] for t in adam["terms"]}
    assert colours["step"] == "#000000" and len(set(colours.values())) == len(colours)
    # the arrows that make up the step (not the plain -lr g shown beside them) are a readable part of
    # the window (rosenbrock's is 4 wide) at that scale
    longest = max(np.hypot(*t["vector"]) for t in adam["terms"] if t["composes"] or t["key"] == "step")
    assert 4 / 40 <= adam["scale"] * longest <= 4 / 2


@pytest.mark.parametrize("body,loc", [
    ({"racer": 3}, ["body", "racer"]),
    ({"start": 1}, ["body", "start"]),
    ({"step": 100}, ["body", "step"]),
    ({"step": -1}, ["body", "step"]),
    ({"step": True}, ["body", "step"]),
    ({"race": {"steps": 5}, "step": 5}, ["body", "step"]),
    ({"race": {"racers": [{"optimizer": "nope"}]}}, ["body", "race", "racers", 0, "optimizer"]),
    ({"race": {"racers": [{"optimizer": "adam", "hyperparameters": {"beta1": 2}}]}},
     ["body", "race", "racers", 0, "hyperparameters", "beta1"]),
    ({"race": {"landscape": {"name": "nowhere"}}}, ["body", "race", "landscape", "name"]),
    ({"racer": 0, "extra": 1}, ["body", "extra"]),
])
def test_bad_requests_name_their_field(client, body, loc):
    r = client.post("/api/anatomy", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_a_diverged_step_is_refused_with_the_step_it_diverged_at(client):
    body = {"race": {"racers": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 2.0}}], "steps": 300}, "step": 250}
    r = client.post("/api/anatomy", json=body)
    assert r.status_code == 422 and "diverged at step" in r.json()["detail"][0]["msg"]
