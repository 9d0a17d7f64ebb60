"""The compiled N-D loop (``arena.fused_nd``) gives the NumPy engine's race on separable landscapes:
the same points (the cells are the same code), losses and norms within rounding (its sums run in
another order), the same divergences, steps to tolerance and summaries; and it is what "auto" takes
for big races there (issue 15, item 5: the 10^6-D race at the memory stream, bench_race.py)."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.arena import engine, race
from optarena.landscapes.nd import quadratic_nd, rastrigin_nd

RACERS = ["sgd(learning_rate=0.002)", "momentum(learning_rate=0.001)", "adam(learning_rate=0.02)",
          "rmsprop(learning_rate=0.01)", "adagrad(learning_rate=0.3)", "nadam(learning_rate=0.02)",
          "lion(learning_rate=0.003)", "adamw(learning_rate=0.02, weight_decay=0.1)",
          {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}, "schedule": {"name": "cosine", "t_max": 40}}]


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(a.grad_norms, b.grad_norms, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(a.step_sizes, b.step_sizes, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    np.testing.assert_array_equal(a.stop_reason, b.stop_reason)
    np.testing.assert_array_equal(a.steps_to_tolerance, b.steps_to_tolerance)
    np.testing.assert_allclose(a.best_loss, b.best_loss, rtol=1e-12)


@pytest.mark.parametrize("record", [True, False])
def test_axis_aligned_quadratic_equals_the_numpy_engine(record):
    ls = quadratic_nd(d=40, kappa=100.0, rotate=0)
    starts = np.vstack([ls.starts, 0.5 * ls.starts[:, ::-1]])
    # each (rule, record) is a loop of its own to compile (seconds): the cells' own equality to their
    # readable rules is tests/optim's; here, slots 0-2, a running product (NAdam) and a schedule
    racers = [RACERS[0], RACERS[1], RACERS[2], RACERS[5], RACERS[-1]] if record else RACERS[:3]
    _same(race(ls, racers, starts=starts, steps=60, engine="fused", record=record),
          race(ls, racers, starts=starts, steps=60, engine="numpy", record=record))


def test_rastrigin_and_runs_that_leave_the_box_equal_the_numpy_engine():
    ls = rastrigin_nd(d=12)
    racers = ["sgd(learning_rate=0.001)", "adam(learning_rate=0.05)", "sgd(learning_rate=5.0)"]  # the last escapes
    a = race(ls, racers, steps=80, engine="fused")
    b = race(ls, racers, steps=80, engine="numpy")
    assert a.diverged_at[2, 0] > 0 and "left the window" in a.stop_reason[2, 0]  # left the box: a real escape was checked
    _same(a, b)
    np.testing.assert_allclose(a.losses[0, 0, 0], ls.value(ls.starts[0]), rtol=1e-12)  # f at the start, by the landscape


def test_auto_takes_the_n_d_loop_for_big_races_and_numpy_for_what_it_cannot_run():
    ls = quadratic_nd(d=1000, kappa=10.0, rotate=0)
    assert engine.choose_engine("auto", ls, ["adam"], steps=3000) == "fused"  # 3e6 coordinate-steps
    assert engine.choose_engine("auto", ls, ["adam"], steps=10) == "numpy"  # too small to repay a compile
    assert engine.choose_engine("auto", ls, ["adam"], steps=3000, noise=0.1) == "numpy"
    assert engine.choose_engine("auto", quadratic_nd(d=1000, kappa=10.0), ["adam"], steps=3000) == "numpy"  # rotated
    with pytest.raises(Exception, match="separable"):
        engine.choose_engine("fused", quadratic_nd(d=1000, kappa=10.0), ["adam"], steps=3000)
    with pytest.raises(Exception, match="no per-element cell"):
        engine.choose_engine("fused", ls, ["lbfgs"], steps=3000)
