"""A race reports only what its landscape can measure: no steps to tolerance, distance or
loss - min without a minimum; steps to escape on a saddle; status lines that stay short
(issue 11, items 6 and 12)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from optarena.arena import race
from optarena.arena.result import ESCAPE_UNKNOWN, RaceResult
from optarena.landscapes import get


def _strict(text):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _escape_reference(positions, f, below):
    """First step whose loss, recomputed from the positions with the formula, is below ``below``."""
    with np.errstate(invalid="ignore"):
        loss = f(positions[:, 0], positions[:, 1])
        hit = np.nonzero(loss < below)[0]
    return int(hit[0]) if len(hit) else -1


@pytest.mark.parametrize("engine", ["numpy", "fused"])
def test_momentum_on_the_saddle_reports_escape_not_a_tolerance_it_never_had(engine):
    # Issue 11 item 6: Momentum was "steps to tol 14" with final loss -3.3e4, 182 units from the
    # "minimum" at (0, 0).
    if engine == "fused":
        pytest.importorskip("numba")
    res = race("saddle", ["momentum", "sgd(learning_rate=0.004)"], steps=100, engine=engine)
    assert res.minimum_kind == "none" and res.final_loss[0, 0] < -1e4
    rows = res.summary()
    for i, row in enumerate(rows):
        assert row["steps_to_tolerance"] is None and row["distance_to_minimum"] is None
        assert row["note"].startswith("no minimum: ") and "unbounded below" in row["note"]
        want = _escape_reference(res.positions[i, 0], lambda x, y: x * x - y * y, -1.0)
        assert row["steps_to_escape"] == want
    assert rows[0]["steps_to_escape"] > 0  # momentum escapes ...
    assert rows[1]["steps_to_escape"] == -1  # ... SGD this slow stays at the saddle
    assert np.isnan(res.final_distance).all()


def test_sgd_on_the_monkey_saddle_escapes_before_it_diverges_and_reaches_no_tolerance():
    # Issue 11 item 6: SGD "reached tolerance" at step 15 and diverged at step 57.
    res = race("monkey_saddle", ["sgd"], steps=100)
    row = res.summary()[0]
    assert row["diverged_at"] > 0 and row["steps_to_tolerance"] is None
    want = _escape_reference(res.positions[0, 0], lambda x, y: x ** 3 - 3 * x * y * y, -1.0)
    assert 0 < row["steps_to_escape"] == want < row["diverged_at"]


def test_json_and_csv_carry_none_and_the_reason():
    res = race("saddle", ["momentum", "adam(learning_rate=0.03)"], steps=60)
    d = _strict(res.to_json())
    assert d["min_value"] is None and d["minima"] == []
    assert d["minimum"]["kind"] == "none" and "unbounded below" in d["minimum"]["note"]
    assert d["minimum"]["saddle_value"] == 0.0 and d["minimum"]["escape_below"] == -1.0
    for run in d["runs"]:
        assert run["steps_to_tolerance"] is None
        assert run["steps_to_escape"] == _escape_reference(np.array(run["positions"], dtype=float),
                                                           lambda x, y: x * x - y * y, -1.0)
    back = RaceResult.from_json(res.to_json())
    assert back.summary() == res.summary()
    summary = race("saddle", ["momentum", "adam(learning_rate=0.03)"], steps=60, record=False)
    rows = list(csv.DictReader(io.StringIO(summary.to_csv())))
    for row, full in zip(rows, res.summary()):
        assert row["steps_to_tolerance"] == "" and row["distance_to_minimum"] == ""
        assert "unbounded below" in row["note"]
        # without trajectories the escape step is not known, only that it happened
        assert row["steps_to_escape"] == "" and "not recorded" in row["note"]
        assert full["steps_to_escape"] > 0
    assert (summary.steps_to_escape == ESCAPE_UNKNOWN).all()
    js = _strict(summary.to_json())
    assert js["min_value"] is None and all(r["steps_to_tolerance"] is None for r in js["summary"])


def test_a_landscape_with_a_minimum_measures_as_before():
    res = race("rosenbrock", ["adam(learning_rate=0.05)"], steps=200, record=False)
    row = res.summary()[0]
    p = res.positions[0, 0, -1]
    assert row["distance_to_minimum"] == pytest.approx(math.hypot(p[0] - 1, p[1] - 1), rel=1e-12)
    assert isinstance(row["steps_to_tolerance"], int) and row["steps_to_escape"] is None and row["note"] == ""
    assert _strict(res.to_json())["minimum"]["kind"] == "minimum"


def test_a_lower_bound_keeps_tolerance_but_has_no_distance():
    pytest.importorskip("sympy")
    res = race({"formula": "(x - y)^2"}, ["momentum"], steps=100)
    row = res.summary()[0]
    reach = np.nonzero(res.losses[0, 0] <= 0 + 1e-4)[0]  # the bound is 0: (x - y)^2 >= 0
    assert row["steps_to_tolerance"] == (int(reach[0]) if len(reach) else -1)
    assert row["distance_to_minimum"] is None and "no single minimum point" in row["note"]


def test_status_line_switches_to_scientific_notation_for_huge_losses():
    # Issue 12: a loss of 200 digits in the status line.
    res = race("quadratic", ["sgd(learning_rate=1e-300)"], starts=[(2000.0, 0.0)], steps=1)
    assert res.status_line(0) == "Step 0 / 1 | SGD Loss: 4.0000e+06"
    pytest.importorskip("sympy")
    huge = race({"formula": "exp(x)"}, ["sgd(learning_rate=1e-300)"], starts=[(460.0, 0.0)], steps=2)
    line = huge.status_line(2)
    text = line.split("SGD Loss: ")[1]
    assert len(line) < 60 and "e+199" in text
    assert float(text) == pytest.approx(math.exp(460.0), rel=1e-4)
    assert huge.status_lines() == [huge.status_line(k) for k in range(3)]
    demo = race()
    assert demo.status_line(0) == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"


def test_exported_figure_draws_plain_loss_without_a_minimum():
    pytest.importorskip("matplotlib")
    ls = get("saddle")
    fig = race(ls, ls.default_racer_specs()).plot()
    ax = fig.axes[-1] if fig.axes[-1].get_title() == "Loss per step" else next(
        a for a in fig.axes if a.get_title() == "Loss per step")
    assert ax.get_ylabel() == "loss" and ax.get_yscale() == "linear"
    lo, hi = ax.get_ylim()
    assert lo < -1 < 0 < hi  # the escaped racers' negative losses are on the axis
    rosen = race("rosenbrock", ["adam(learning_rate=0.05)"], steps=50).plot()
    ax = next(a for a in rosen.axes if a.get_title() == "Loss per step")
    assert ax.get_yscale() == "log"
