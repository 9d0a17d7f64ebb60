"""Work that cannot end in its time is refused once its pace is known, not stopped late (issue
10: races and maps past the server's 10 s were answered 503 after burning the 10 s). A race or
sweep given ``deadline`` times its first steps (units) and raises ``OverBudget`` naming steps,
with the projected time and what would fit; work that fits runs to the end with the same numbers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from optarena.arena import engine, race
from optarena.errors import OverBudget
from optarena.measure import sweep


class Slow:
    """The article's update(params, gradients) API, taking ``pause`` seconds a step (SGD's rule)."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    def update(self, params, gradients):
        time.sleep(self.pause)
        return params - 0.01 * gradients


def test_a_race_that_cannot_end_in_time_is_refused_after_its_first_steps():
    t0 = time.perf_counter()
    with pytest.raises(OverBudget) as info:
        race("booth", [Slow(0.01)], steps=1000, deadline=2.0)  # ~10 s of work
    spent = time.perf_counter() - t0
    assert info.value.field == "steps"
    assert engine.PROBE_SECONDS <= spent < 2.0  # refused once the pace was known, before its deadline passed
    text = str(info.value)
    projected = float(text.split("about ")[1].split(" s")[0])
    assert 6 <= projected <= 20 and "of its 1,000 steps fit" in text


def test_a_race_that_fits_runs_to_the_end_with_the_same_numbers():
    fast = race("booth", ["adam(learning_rate=0.1)", Slow(0.0)], steps=200, deadline=30.0, engine="numpy")
    free = race("booth", ["adam(learning_rate=0.1)", Slow(0.0)], steps=200, engine="numpy")
    np.testing.assert_array_equal(fast.positions, free.positions)


def test_a_sweep_that_cannot_end_in_time_is_refused_after_its_first_units(monkeypatch):
    from optarena.measure import sweeps

    monkeypatch.setattr(sweeps, "UNIT_RUNS", 1)  # one setting a unit: 60 units of 500 NumPy steps
    # a short probe and deadline, so the test does not depend on this machine's speed: 60 units take
    # well over 0.2 s anywhere (each is 500 steps of Python, ~30 ms here), and each alone well under it
    monkeypatch.setattr(engine, "PROBE_SECONDS", 0.05)
    t0 = time.perf_counter()
    with pytest.raises(OverBudget) as info:
        sweep("booth", ["sgd"], ["learning_rate=log(1e-3, 1e-1, 60)"], steps=500, deadline=0.2, engine="numpy")
    assert info.value.field == "steps" and "this sweep would take about" in str(info.value)
    assert time.perf_counter() - t0 < 1.0  # refused once the pace was known, not after the 60 units


def test_one_unit_alone_past_the_deadline_is_said_so(monkeypatch):
    monkeypatch.setattr(engine, "PROBE_SECONDS", 0.005)  # 1,200 L-BFGS run-steps take far more than 0.01 s anywhere
    with pytest.raises(OverBudget) as info:
        # L-BFGS with its line search: each run's search steps in Python
        sweep("rosenbrock", ["lbfgs(line_search=True)"], ["learning_rate=log(1e-3, 1e-1, 3)"], steps=400,
              deadline=0.01, engine="numpy")
    assert "one unit of this sweep" in str(info.value) and "race would take about" in str(info.value)


def _grid_starts(n: int) -> np.ndarray:
    g = np.linspace(-4.0, 4.0, n)
    return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)


def test_the_compiled_loop_keeps_the_deadline_between_its_tasks(monkeypatch):
    starts = _grid_starts(40)  # 1,600 runs x 2,000 steps: many tasks of runs
    race("booth", ["adam(learning_rate=0.1)"], starts=starts[:8], steps=20, engine="fused")  # compiled now: the pace is the loop's
    monkeypatch.setattr(engine, "PROBE_SECONDS", 0.0)  # the first task's pace decides, on any machine
    with pytest.raises(OverBudget) as info:
        race("booth", ["adam(learning_rate=0.1)"], starts=starts, steps=2000, engine="fused", record=False,
             deadline=1e-4)
    assert info.value.field == "steps" and "this race would take about" in str(info.value)


def test_a_compiled_race_that_fits_gives_the_same_numbers():
    starts = _grid_starts(12)
    paced = race("booth", ["adam(learning_rate=0.1)", "sgd(learning_rate=0.01)"], starts=starts, steps=300,
                 engine="fused", deadline=600.0)
    free = race("booth", ["adam(learning_rate=0.1)", "sgd(learning_rate=0.01)"], starts=starts, steps=300, engine="fused")
    np.testing.assert_array_equal(paced.positions, free.positions)
    np.testing.assert_array_equal(paced.losses, free.losses)


def test_with_a_deadline_a_loop_not_compiled_yet_is_not_compiled_inside_it(monkeypatch):
    # big enough that "auto" compiles the loop; with a deadline only a loop compiled or on disk is
    # taken (a compile is seconds nobody can pace), else NumPy, whose pace is measured from the start
    from optarena.arena import fused

    kw = dict(steps=1000, n_starts=1, record=False, work=10**8)
    for warm in (False, True):
        monkeypatch.setattr(fused, "is_warm", lambda *a, warm=warm: warm)
        assert engine.choose_engine("auto", "booth", ["adam"], **kw) == "fused"
        assert engine.choose_engine("auto", "booth", ["adam"], **kw, warm_only=True) == ("fused" if warm else "numpy")
        assert engine.choose_engine("fused", "booth", ["adam"], **kw, warm_only=True) == "fused"  # asked for: given


def test_a_line_search_step_keeps_the_deadline_between_its_evaluations(monkeypatch):
    # L-BFGS with its strong Wolfe search evaluates run by run in Python: one step of many runs can
    # outlast a deadline, so the pace is also checked between evaluations, within the first step
    monkeypatch.setattr(engine, "PROBE_SECONDS", 0.0)
    starts = _grid_starts(30)  # 900 runs: their first step alone is far more than 1 ms anywhere
    t0 = time.perf_counter()
    with pytest.raises(OverBudget) as info:
        race("rosenbrock", ["lbfgs(line_search=True)"], starts=starts, steps=50, deadline=1e-3, engine="numpy")
    assert info.value.field == "steps"
    assert time.perf_counter() - t0 < 5.0  # not after the 50 steps (minutes)


def test_a_sweeps_planning_counts_against_its_deadline(monkeypatch):
    from optarena.measure import sweeps

    real = sweeps._plan

    def slow_plan(*a, **k):
        time.sleep(0.3)  # a plan that takes most of the deadline (10,000s of settings on a busy server)
        return real(*a, **k)

    monkeypatch.setattr(sweeps, "_plan", slow_plan)
    monkeypatch.setattr(engine, "PROBE_SECONDS", 0.0)
    with pytest.raises(OverBudget):
        sweep("booth", ["sgd"], ["learning_rate=log(1e-3, 1e-1, 4)"], steps=50, deadline=0.25, engine="numpy")
    sweep("booth", ["sgd"], ["learning_rate=log(1e-3, 1e-1, 4)"], steps=50, deadline=30.0, engine="numpy")  # fits
