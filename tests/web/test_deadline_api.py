"""A race or map that cannot end within the server's time is refused with 422 naming steps once
its pace is known (paced against 8 s, a margin below the 10 s budget), instead of running into the
10 s and being answered 503 (issue 10: the random load's only 5xx were such requests)."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from optarena.web.app import PACE_BUDGET, TIME_BUDGET, create_app

SLOW = {"optimizer": "lbfgs", "hyperparameters": {"line_search": True}}  # each run's line search steps in Python


def test_races_and_maps_past_the_budget_are_422_naming_steps_long_before_it():
    with TestClient(create_app(warm=False), base_url="http://127.0.0.1") as client:
        for path, body in [
            ("/api/race", {"landscape": {"name": "rosenbrock"}, "racers": [SLOW] * 12, "starts": [[-1.2, 1.0]] * 20,
                           "steps": 5000}),
            ("/api/sweep", {"landscape": {"name": "rosenbrock"}, "racer": SLOW, "steps": 4000, "basins": 30}),
        ]:
            t0 = time.perf_counter()
            r = client.post(path, json=body)
            spent = time.perf_counter() - t0
            assert r.status_code == 422, (path, r.status_code, r.text[:300])
            detail = r.json()["detail"][0]
            assert detail["loc"] == ["body", "steps"] and "would take about" in detail["msg"], detail
            # paced against the budget less a margin (a sweep's units: what its planning left of it)
            left = float(re.search(r"past its ([\d.]+) s", detail["msg"]).group(1))
            assert 0.5 * PACE_BUDGET < left <= PACE_BUDGET < TIME_BUDGET
            assert spent < TIME_BUDGET / 2, (path, spent)  # refused once its pace was known
        ok = client.post("/api/race", json={"landscape": {"name": "rosenbrock"}, "racers": [SLOW], "steps": 20})
        assert ok.status_code == 200  # what fits is answered as before
