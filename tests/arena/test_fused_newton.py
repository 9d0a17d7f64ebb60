"""Newton races in the compiled loop (arena.fused_newton) give the NumPy engine's numbers bit for bit:
positions, losses, gradient norms, step sizes, divergence. The NumPy engine's Newton is held against
steps solved from finite-difference and sympy Hessians (tests/optim/test_newton.py); a singular
system's pseudo-inverse step agrees to rounding (numba's pinv, not NumPy's)."""

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
SETTINGS = [{}, {"learning_rate": 0.5, "damping": 0.1}, {"damping": 0.0}, {"learning_rate": 0.2, "damping": 3.0}]
STARTS = [(-1.2, 1.0), (0.3, -0.4), (2.0, 2.5), (-3.0, -3.5), (0.0, 0.0)]


@pytest.mark.parametrize("landscape", ["rosenbrock", "himmelblau", "beale", "booth"])
def test_fused_newton_equals_the_numpy_engine_bit_for_bit(landscape):
    racers = [Racer("newton", hp) for hp in SETTINGS] + [Racer("newton", {"maximize": True, "damping": 0.5})]
    fused, numpy = both(landscape=landscape, racers=racers, starts=STARTS, steps=30)
    same_bits(fused, numpy)
    assert np.isfinite(numpy.losses).sum() > 100  # the runs did run (not all diverged at once)


def test_summary_only_mode_and_divergence_agree():
    # learning rate 40 overshoots: runs leave the window (or overflow); the divergence step and reason agree
    racers = [Racer("newton", {"learning_rate": 40.0}), Racer("newton", {})]
    kw = dict(landscape="rosenbrock", racers=racers, starts=STARTS, steps=40)
    fused, numpy = both(**kw)
    same_bits(fused, numpy)
    assert (numpy.diverged_at[0] >= 0).any() and (numpy.diverged_at[1] < 0).all()
    fused, numpy = both(**kw, record=False)
    same_bits(fused, numpy)
    assert fused.positions.shape == (2, len(STARTS), 1, 2)


def test_schedules_noise_and_clipping_reach_the_compiled_loop():
    sch = schedules.make({"name": "step", "step_size": 4, "gamma": 0.5})
    racers = [Racer("newton", {"learning_rate": 0.8}, schedule=sch), Racer("newton", {"learning_rate": 0.3, "damping": 0.2})]
    fused, numpy = both(landscape="himmelblau", racers=racers, starts=STARTS, steps=25)
    same_bits(fused, numpy)
    plain = race("himmelblau", [Racer("newton", {"learning_rate": 0.8})], starts=STARTS, steps=25, engine="fused")
    assert not np.array_equal(fused.positions[0], plain.positions[0])  # the schedule changed the steps
    fused, numpy = both(landscape="rosenbrock", racers=racers, starts=STARTS, steps=25, noise=0.3, clip=2.0, seed=7)
    same_bits(fused, numpy)


def test_a_singular_hessian_takes_the_pseudo_inverse_step():
    # f = x^2 + y: H = diag(2, 0) everywhere; undamped, every system is singular (det == 0)
    ls = landscapes.Landscape(
        name="trough", title="trough", f=lambda x, y: x * x + y, grad=lambda x, y: (2.0 * x, 1.0 + 0.0 * y),
        window=((-2.0, 2.0), (-2.0, 2.0)), minima=(), min_value=float("nan"), starts=((1.0, 1.0),),
        hess=lambda x, y: (2.0 + 0.0 * x, 0.0 * x, 0.0 * y))
    racers = [Racer("newton", {"damping": 0.0, "learning_rate": 0.5}), Racer("newton", {"damping": 0.1})]
    fused, numpy = both(landscape=ls, racers=racers, starts=[(1.0, 1.0), (-1.5, 0.3)], steps=10)
    for key in ("positions", "losses", "grad_norms", "step_sizes"):
        np.testing.assert_allclose(getattr(fused, key), getattr(numpy, key), rtol=1e-14, atol=1e-15, err_msg=key)
    # the pseudo-inverse step moves x only: halfway to 0 at learning rate 0.5, y untouched
    np.testing.assert_allclose(fused.positions[0, 0, :4, 0], [1.0, 0.5, 0.25, 0.125])
    np.testing.assert_array_equal(fused.positions[0, 0, :, 1], 1.0)


def test_a_mixed_race_runs_newton_and_per_element_rules_in_one_fused_race():
    racers = [Racer("newton", {}), "adam(learning_rate=0.05)", "lbfgs", Racer("newton", {"damping": 1.0})]
    fused, numpy = both(landscape="rosenbrock", racers=racers, starts=STARTS, steps=30)
    same_bits(fused, numpy)
    np.testing.assert_array_equal(fused.evaluations[0, 0], np.arange(31.0))  # one evaluation a Newton step
    assert choose_engine("auto", "rosenbrock", racers, steps=30, n_starts=len(STARTS)) == "fused"  # warm now


def test_saddle_free_and_missing_hessians_stay_on_numpy_with_the_reason():
    racers = [Racer("newton", {"saddle_free": True}), "adam"]
    with pytest.raises(EngineUnavailable, match="saddle_free=True takes |H| from NumPy's eigh") as info:
        race("himmelblau", racers, starts=STARTS, steps=5, engine="fused")
    assert info.value.field == "engine"
    same_bits(race("himmelblau", racers, starts=STARTS, steps=5, engine="auto"),
               race("himmelblau", racers, starts=STARTS, steps=5, engine="numpy"))
    assert choose_engine("auto", "himmelblau", racers * 2000, steps=500, n_starts=len(STARTS)) == "numpy"
    base = landscapes.get("booth")
    table = {"h": 2.0}  # a Python dict: numba cannot compile a function that reads it

    def hess(x, y):
        return table["h"], 0.0, 2.0

    uncompiled = landscapes.Landscape(name="booth2", title="no-numba Hessian", f=base.f, grad=base.grad,
                                      window=base.window, minima=base.minima, min_value=base.min_value,
                                      starts=base.starts, hess=hess)
    with pytest.raises(EngineUnavailable, match="the Hessian of landscape 'no-numba Hessian' does not compile"):
        race(uncompiled, ["newton"], starts=STARTS, steps=5, engine="fused")
    missing = landscapes.Landscape(name="booth3", title="no Hessian", f=base.f, grad=base.grad, window=base.window,
                                   minima=base.minima, min_value=base.min_value, starts=base.starts,
                                   no_hessian="not given")
    with pytest.raises(EngineUnavailable, match=r"landscape 'no Hessian' has no exact Hessian \(not given\)"):
        choose_engine("fused", missing, ["newton"], steps=5)


def test_the_kernel_budget_and_cancellation_hold_for_newton(monkeypatch):
    budget_and_cancellation_hold(monkeypatch, "newton", 800)
