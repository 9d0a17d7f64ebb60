"""L-BFGS races in the compiled loop (arena.fused_lbfgs) give the NumPy engine's numbers bit for bit:
positions, losses, gradient norms, step sizes, evaluations, divergence. The NumPy engine's L-BFGS is
itself torch.optim.LBFGS's step (tests/optim/test_lbfgs*.py); a schedule's learning rates are held
against torch's LBFGS stepped with the same rates here."""

from __future__ import annotations

import numpy as np
import pytest
from own_loops import both, budget_and_cancellation_hold, same_bits

from optarena import landscapes
from optarena.arena import Racer, choose_engine, race
from optarena.errors import EngineUnavailable
from optarena.optim import schedules

pytest.importorskip("numba")

#: a sweep-like batch: one group, settings differing run by run
SETTINGS = [{}, {"learning_rate": 0.5, "history_size": 3.0}, {"learning_rate": 0.1, "max_iter": 4.0, "history_size": 1.0},
            {"max_iter": 1.0}, {"max_iter": 7.0, "max_eval": 5.0, "tolerance_grad": 1e-3, "tolerance_change": 1e-4}]
STARTS = [(-1.2, 1.0), (0.3, -0.4), (2.0, 2.5), (-3.0, -3.5)]


@pytest.mark.parametrize("landscape", ["rosenbrock", "himmelblau", "beale", "booth"])
def test_fused_lbfgs_equals_the_numpy_engine_bit_for_bit(landscape):
    fused, numpy = both(landscape=landscape, racers=[Racer("lbfgs", hp) for hp in SETTINGS], starts=STARTS, steps=25)
    same_bits(fused, numpy)
    evals = numpy.evaluations[:, :, -1]
    assert np.nanmax(evals) > 25 and np.nanmin(evals) <= 25  # several evaluations a step, and single ones


def test_summary_only_mode_and_divergence_agree():
    # learning rate 50 leaves the window (or overflows) from some starts: the divergence step and reason agree
    racers = [Racer("lbfgs", {"learning_rate": 50.0, "max_iter": 3.0}), Racer("lbfgs", {})]
    kw = dict(landscape="rosenbrock", racers=racers, starts=STARTS, steps=40)
    fused, numpy = both(**kw)
    same_bits(fused, numpy)
    assert (numpy.diverged_at[0] >= 0).any() and (numpy.diverged_at[1] < 0).all()
    fused, numpy = both(**kw, record=False)
    same_bits(fused, numpy)
    assert fused.positions.shape == (2, len(STARTS), 1, 2) and fused.evaluations.shape == (2, len(STARTS), 1)


def test_schedules_reach_the_compiled_loop_and_follow_torch():
    """A schedule sets each step's learning rate (torch: the scheduler's group["lr"] before the step)."""
    torch = pytest.importorskip("torch")
    ls = landscapes.get("himmelblau")
    sched = {"name": "cosine", "t_max": 12}
    racers = [Racer("lbfgs", {"learning_rate": 0.5, "max_iter": 3.0}, schedule=sched),
              Racer("lbfgs", {"learning_rate": 0.5, "max_iter": 3.0}, schedule={"name": "step", "step_size": 4, "gamma": 0.5}),
              Racer("lbfgs", {"learning_rate": 0.5, "max_iter": 3.0})]
    fused, numpy = both(landscape=ls, racers=racers, starts=STARTS, steps=12)
    same_bits(fused, numpy)
    assert not np.array_equal(fused.positions[0], fused.positions[2])  # the schedule changed the steps

    lrs = schedules.values(schedules.make(sched), 12, 0.5)
    for s, start in enumerate(STARTS):
        x = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        opt = torch.optim.LBFGS([x], lr=0.5, max_iter=3)

        def closure():
            p = x.detach().numpy()
            x.grad = torch.tensor(ls.gradient(p))
            return torch.tensor(float(ls.value(p)))

        path = [x.detach().numpy().copy()]
        for t in range(12):
            opt.param_groups[0]["lr"] = float(lrs[t])
            opt.step(closure)
            path.append(x.detach().numpy().copy())
        np.testing.assert_allclose(fused.positions[0, s], np.array(path), rtol=1e-9, atol=1e-12)


def test_a_mixed_race_runs_lbfgs_and_per_element_rules_in_one_fused_race():
    racers = [Racer("lbfgs", {}), "adam(learning_rate=0.05)", "sgd(learning_rate=0.01)", Racer("lbfgs", {"history_size": 2.0})]
    fused, numpy = both(landscape="rosenbrock", racers=racers, starts=STARTS, steps=30)
    same_bits(fused, numpy)  # adam / sgd: one evaluation a step, NaN once diverged
    np.testing.assert_array_equal(fused.evaluations[1, 0], np.arange(31.0))
    assert (numpy.diverged_at[2] >= 0).any()  # sgd 0.01 leaves the window from a start: its evaluations stop there
    assert choose_engine("auto", "rosenbrock", racers, steps=30, n_starts=len(STARTS)) == "fused"  # warm now


def test_the_line_search_stays_on_numpy_with_the_reason():
    racers = [Racer("lbfgs", {"line_search": True}), "adam"]
    with pytest.raises(EngineUnavailable, match="line_search=True runs its strong Wolfe line search on the NumPy") as info:
        race("booth", racers, starts=STARTS, steps=5, engine="fused")
    assert info.value.field == "engine"
    auto = race("booth", racers, starts=STARTS, steps=5, engine="auto")
    same_bits(auto, race("booth", racers, starts=STARTS, steps=5, engine="numpy"))
    assert choose_engine("auto", "booth", racers, steps=5, n_starts=len(STARTS)) == "numpy"


def test_the_kernel_budget_and_cancellation_hold_for_lbfgs(monkeypatch):
    budget_and_cancellation_hold(monkeypatch, "lbfgs", 400)
