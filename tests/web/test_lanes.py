"""A served worker computes maps and training races on threads of lower priority than races
(issue 14: 100 students on 2 cores kept race p95 under 150 ms only once the seconds-long work
stopped taking the cores from the page's millisecond races; README, "Teaching with optarena")."""

from __future__ import annotations

import json
import os
import threading

import pytest
from fastapi.testclient import TestClient

from optarena.web.app import MAP_NICE, TRAIN_NICE, create_app

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread priority is Linux's")

MAP = {"landscape": {"name": "booth"}, "racer": {"optimizer": "sgd", "hyperparameters": {}}, "steps": 20,
       "x": {"name": "learning_rate", "lo": 1e-3, "hi": 0.1, "n": 4, "log": True},
       "y": {"name": "weight_decay", "lo": 0.0, "hi": 0.1, "n": 3}}
TRAIN = {"dataset": "moons", "model": "logreg", "epochs": 1, "seeds": 1, "racers": [{"optimizer": "sgd"}]}


def _nice_of(prefix: str, before: set[threading.Thread]) -> set[int]:
    """The priorities of the threads named ``prefix...`` started since ``before`` (this app's)."""
    return {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in threading.enumerate()
            if t.name.startswith(prefix) and t.native_id is not None and t not in before}


@pytest.mark.parametrize("lanes", [True, False])
def test_maps_and_training_run_below_the_races_when_served(lanes):
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = set(threading.enumerate())  # another app's lanes (the other parameter's) may still be alive
    with TestClient(create_app(warm=False, lanes=lanes), base_url="http://127.0.0.1") as client:
        assert client.post("/api/sweep", json=MAP).status_code == 200
        race = client.post("/api/race", json={"landscape": {"name": "booth"}, "steps": 10})
        assert race.status_code == 200
        with client.stream("POST", "/api/train", json=TRAIN) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1]["type"] == "done", events[-1]
        maps, train = _nice_of("optarena-map", before), _nice_of("optarena-train", before)
    assert maps and train
    if lanes:
        assert maps == {mine + MAP_NICE} and train == {mine + TRAIN_NICE}
    else:  # unserved (tests, notebooks): nothing is lowered
        assert maps == {mine} and train == {mine}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's own thread untouched
