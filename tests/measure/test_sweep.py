"""Sweeps: axes parsed as written, every cell equal to its own race, stability maps against the
theory of gradient descent and heavy ball on a quadratic, basin maps, exchange formats, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optarena.arena import Racer, race
from optarena.measure import DIVERGED, ELSEWHERE, Axis, AxisError, SweepResult, sweep
from optarena.measure import sweeps as sweep_module

# ------------------------------------------------------------------------------------- axes

def test_axes_parse_as_numpy_spaces_them():
    a = Axis.parse("learning_rate=log(1e-4, 1, 9)")
    assert a.name == "learning_rate" and a.log
    np.testing.assert_allclose(a.values, np.logspace(-4, 0, 9), rtol=1e-15)
    assert a.values[0] == 1e-4 and a.values[-1] == 1.0  # the ends exactly as written
    b = Axis.parse(" momentum = lin(0, 0.99, 12) ")
    np.testing.assert_array_equal(b.values, np.linspace(0, 0.99, 12))
    assert not b.log
    assert Axis.parse("beta1=0.5,0.9,0.99").values == (0.5, 0.9, 0.99)
    assert Axis.parse("nesterov=false,true").values == (False, True)
    assert Axis.parse("x=-1,2").values == (-1, 2)
    assert Axis.from_json(json.loads(json.dumps(a.to_json()))) == a


@pytest.mark.parametrize("text,message", [
    ("learning_rate", "expected NAME=log"),
    ("learning_rate=log(0, 1, 5)", "lo > 0"),
    ("learning_rate=lin(0, 1, 0)", "number of values must be an integer in"),
    ("learning_rate=lin(0, 1, 2.5)", "whole number"),
    ("learning_rate=lin(0, 1, 100000)", "number of values must be an integer in"),
    ("learning_rate=exp(1)", "is not a number"),
    ("learning_rate=__import__('os')", "is not a number"),
    ("x=true,1", "start coordinates must be finite numbers"),
    ("learning_rate=" + "9" * 400, "beyond floating point"),
    ("learning_rate=lin(-1e308, 1e308, 3)", "beyond floating point"),
])
def test_bad_axes_say_what_is_wrong(text, message):
    with pytest.raises(AxisError, match=message.replace("(", r"\(")):
        Axis.parse(text)


# ------------------------------------------------------------------------------- the sweep

def test_every_cell_is_its_own_race():
    """Settings x starts x seeds (with noise) in shared batches equal each run raced alone."""
    starts = [[-1.5, 2.0], [0.5, -0.5]]
    res = sweep("rosenbrock", ["momentum(nesterov=true)", "adam"], ["learning_rate=log(1e-4, 1e-2, 3)"], starts=starts,
                steps=60, seeds=[3, 7], noise=0.5)
    assert res.dims == ["optimizer", "learning_rate", "start", "seed"]
    assert res.final_loss.shape == (2, 3, 2, 2)
    for o, spec in enumerate(["momentum(nesterov=true)", "adam"]):
        base = Racer.parse(spec)
        for i, lr in enumerate(res.axes[0].values):
            for s, start in enumerate(starts):
                for k, seed in enumerate([3, 7]):
                    alone = race("rosenbrock", [Racer(base.optimizer, {**base.hyperparameters, "learning_rate": lr})],
                                 starts=[start], steps=60, seed=seed, noise=0.5, engine=res.config["engine"])
                    np.testing.assert_array_equal(res.final_loss[o, i, s, k], alone.final_loss[0, 0])  # NaN: diverged
                    np.testing.assert_array_equal(res.final_position[o, i, s, k], alone.positions[0, 0, -1])
                    assert res.steps_to_tolerance[o, i, s, k] == alone.steps_to_tolerance[0, 0]
                    assert res.diverged_at[o, i, s, k] == alone.diverged_at[0, 0]


def test_schedules_are_swept_with_their_optimizer():
    sched = "cosine(t_max=40)"
    res = sweep("rosenbrock", [f"adam(schedule={sched})"], ["learning_rate=0.01,0.1"], steps=40)
    alone = race("rosenbrock", [f"adam(learning_rate=0.1, schedule={sched})"], steps=40, engine=res.config["engine"])
    np.testing.assert_array_equal(res.final_position[0, 1, 0, 0], alone.positions[0, 0, -1])
    plain = sweep("rosenbrock", ["adam"], ["learning_rate=0.1"], steps=40)
    assert not np.array_equal(plain.final_position[0, 0, 0, 0], alone.positions[0, 0, -1])
    assert res.config["optimizers"][0]["schedule"]["name"] == "cosine"


def test_a_diverged_run_is_never_best_whatever_the_objective():
    """lr 0.06 reaches the tolerance faster than 0.04 on x^2 + 20 y^2, then diverges (the tiny y
    grows by |1 - 40 lr| = 1.4 a step): it must not be best by steps, nor by loss."""
    res = sweep({"formula": "x**2 + 20*y**2"}, ["sgd"], ["learning_rate=0.04,0.06"],
                starts=[[1, 1e-12], [1, -1e-12], [2, 1e-12]], steps=300, tolerance=1e-3)
    assert (res.diverged_at[0, 1] >= 0).all() and (res.steps_to_tolerance[0, 1] >= 0).all()  # reached, then left
    assert (res.steps_to_tolerance[0, 1] < res.steps_to_tolerance[0, 0]).all()
    for objective in ("steps_to_tolerance", "final_loss", "best_loss"):
        best = res.best(objective)[0]
        assert best["setting"] == {"learning_rate": 0.04} and best["diverged_fraction"] == 0.0, objective


def test_a_runs_fate_does_not_depend_on_the_starts_beside_it(monkeypatch):
    """The divergence box holds every start of the sweep, in every unit: cut apart, a far start
    no longer widens its neighbour's box (it did before: diverged at 359 cut, 728 whole)."""
    args = ({"formula": "-(x*x + y*y)"}, ["sgd(learning_rate=0.01)"], [])
    whole = sweep(*args, starts=[[0.5, 0.5], [9e5, 9e5]], steps=1000)
    monkeypatch.setattr(sweep_module, "UNIT_RUNS", 1)
    cut = sweep(*args, starts=[[0.5, 0.5], [9e5, 9e5]], steps=1000)
    np.testing.assert_array_equal(whole.diverged_at, cut.diverged_at)
    assert whole.diverged_at[0, 0, 0] > 0


def test_landscape_objects_sweep_as_themselves():
    """An object no registry knows, or one that shadows a built-in's name, is swept as it is here;
    Dask refuses it (its workers rebuild landscapes by name)."""
    import dataclasses

    from optarena import landscapes

    q = landscapes.get("quadratic")
    moved = dataclasses.replace(q, f=lambda x, y: (x - 1) ** 2 + (y - 1) ** 2,
                                grad=lambda x, y: (2 * (x - 1), 2 * (y - 1)), minima=((1.0, 1.0),))
    res = sweep(moved, ["sgd(learning_rate=0.1)"], [], steps=200)
    np.testing.assert_allclose(res.final_position[0, 0, 0], [1, 1], atol=1e-8)
    assert res.basin[0, 0, 0] == 0
    with pytest.raises(ValueError, match="cannot be sent to Dask workers"):
        sweep(moved, ["sgd(learning_rate=0.1)"], [], steps=5, scheduler="local:1")


def test_units_split_and_reassemble(monkeypatch):
    """The grid cut into many small units gives the same arrays as few big ones."""
    args = ("himmelblau", ["sgd(learning_rate=0.01)", "adam(learning_rate=0.05)"], ["x=lin(-4, 4, 7)", "y=lin(-4, 4, 5)"])
    whole = sweep(*args, steps=80)
    monkeypatch.setattr(sweep_module, "UNIT_RUNS", 3)
    parts = sweep(*args, steps=80)
    for key in ("final_loss", "best_loss", "steps_to_tolerance", "diverged_at", "final_position", "basin"):
        np.testing.assert_array_equal(getattr(whole, key), getattr(parts, key))


@pytest.mark.parametrize("momentum", [0.0, 0.3, 0.6, 0.8])
def test_stability_map_matches_heavy_ball_theory(momentum):
    """On f = x^2 + y^2 (curvature 2) heavy ball (torch's form) is stable exactly when
    lr < 1 + momentum; plain GD (momentum 0) when lr < 1. Cells 15% or more from that edge must
    come out diverged on the far side and converged on the near side."""
    res = sweep("quadratic", ["momentum"], ["learning_rate=log(0.05, 4, 40)", f"momentum={momentum}"], steps=400)
    lrs = np.array(res.axes[0].values)
    diverged = res.diverged_at[0, :, 0, 0, 0] >= 0
    edge = 1.0 + momentum
    far, near = lrs > 1.15 * edge, lrs < edge / 1.15
    assert far.any() and near.any()
    assert diverged[far].all(), lrs[far & ~diverged]
    assert not diverged[near].any(), lrs[near & diverged]
    fl = res.objective("final_loss")[0, :, 0]
    assert np.all(np.isinf(fl[far])) and np.all(np.isfinite(fl[near]))


def test_best_is_the_argmin_of_the_median_objective():
    res = sweep("rosenbrock", ["sgd", "adam"], ["learning_rate=log(1e-4, 1, 9)"], starts=[[-1.5, 2], [0, 0], [1.5, 1.5]],
                steps=150)
    for o, row in enumerate(res.best("final_loss")):
        v = res.final_loss[o] - res.min_value  # (lr, start, seed)
        v = np.where(np.isfinite(v) & (res.diverged_at[o] < 0), v, np.inf)
        med = np.median(v.reshape(v.shape[0], -1), axis=1)
        k = int(np.argmin(med))
        assert row["setting"] == {"learning_rate": res.axes[0].values[k]}
        assert row["value"] == pytest.approx(med[k])
    # SGD diverges at the large rates: those can never be best, and count as diverged
    assert res.diverged_fraction()[0, -1] == 1.0
    steps = res.best("steps_to_tolerance")
    assert all(r["objective"] == "steps_to_tolerance" for r in steps)


def test_basin_map_on_himmelblau():
    """Four minima: starts next to each end in its basin; every code is the minimum its run's
    final point lies within the radius of (else ELSEWHERE), DIVERGED for a diverged run."""
    res = sweep("himmelblau", ["sgd(learning_rate=0.01)", "sgd(learning_rate=0.2)"], ["x=lin(-5, 5, 21)", "y=lin(-5, 5, 21)"],
                steps=300)
    assert res.dims == ["optimizer", "x", "y", "seed"] and res.basin.shape == (2, 21, 21, 1)
    xs, ys = np.array(res.axes[0].values), np.array(res.axes[1].values)
    for m, (mx, my) in enumerate(res.minima[:4]):
        i, j = int(np.argmin(abs(xs - mx))), int(np.argmin(abs(ys - my)))
        assert res.basin[0, i, j, 0] == m
    d = np.linalg.norm(res.final_position[..., None, :] - res.minima, axis=-1)
    expected = np.where(np.nanmin(np.where(np.isnan(d), np.inf, d), axis=-1) <= res.radius,
                        np.argmin(np.where(np.isnan(d), np.inf, d), axis=-1), ELSEWHERE)
    expected = np.where(res.diverged_at >= 0, DIVERGED, expected)
    np.testing.assert_array_equal(res.basin, expected)
    assert (res.basin[0] >= 0).all()  # a small step settles everywhere
    assert (res.basin[1] == DIVERGED).any()  # lr 0.2 throws steep starts out of the window


def test_exchange_formats_round_trip():
    res = sweep("rosenbrock", ["sgd", "adam(beta2=0.99)"], ["learning_rate=log(1e-3, 1, 4)"], steps=100)
    back = SweepResult.from_json(res.to_json())
    for key in ("final_loss", "best_loss", "steps_to_tolerance", "diverged_at", "final_position", "basin"):
        np.testing.assert_array_equal(getattr(back, key), getattr(res, key))
    assert back.best() == res.best() and back.axes == res.axes and back.config == res.config
    lines = res.to_csv().splitlines()
    assert lines[0].split(",")[:2] == ["optimizer", "learning_rate"] and len(lines) == 1 + 2 * 4
    assert lines[-1].startswith("adam(beta2=0.99),1.0,")
    with pytest.raises(ValueError, match="not an optarena sweep"):
        SweepResult.from_dict({"format": "optarena.race/1"})


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(axes=["beta1=0.5"]), AxisError, "beta1: not a hyperparameter of sgd"),
    (dict(optimizers=["adam"], axes=["beta1=lin(0, 1.5, 4)"]), ValueError, r"adam\) at beta1=1.0: beta1 must be"),
    (dict(optimizers=["adam(beta1=0.5)"], axes=["beta1=0.9"]), AxisError, "also fixed"),
    (dict(axes=["x=0,1"]), AxisError, "needs both an x and a y axis"),
    (dict(axes=["x=0,1", "y=0,1"], starts=[[0, 0]]), AxisError, "not both"),
    (dict(axes=["learning_rate=0.1", "learning_rate=0.2"]), AxisError, "given twice"),
    (dict(optimizers=["sgd", "adam"], axes=["x=lin(-1, 1, 2000)", "y=lin(-1, 1, 2000)"]), ValueError, "at most"),
    (dict(optimizers=["adam"], axes=["learning_rate=lin(0.1, 1, 2000)", "beta1=lin(0, 0.9, 2000)", "beta2=lin(0, 0.9, 2000)"]),
     ValueError, "8,000,000,000 runs"),  # refused at once, before building the combinations
    (dict(axes=["learning_rate=log(1e-3, 1, 1000)"], starts=[[1, 1]] * 400, steps=100_000), ValueError, "runs x steps"),
    (dict(seeds=0), ValueError, "seeds must be"),
    (dict(steps=0), ValueError, "steps must be"),
    (dict(noise=-1.0), ValueError, "noise must be"),
    (dict(radius=0.0), ValueError, "radius must be"),
    (dict(optimizers=[]), ValueError, "at least one"),
])
def test_bad_sweeps_fail_before_any_work(kwargs, error, message, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_module, "_run_units", lambda *a, **k: calls.append(a))
    args = {"landscape": "quadratic", "optimizers": ["sgd"], "axes": ["learning_rate=0.1"], "steps": 10, **kwargs}
    with pytest.raises(error, match=message):
        sweep(**args)
    assert not calls


def test_objects_cannot_be_swept():
    class Mine:
        def update(self, p, g):
            return p

    with pytest.raises(TypeError, match="registered ones"):
        sweep("quadratic", [Mine()], ["learning_rate=0.1"], steps=5)


def test_a_small_sweep_never_loads_the_compiler():
    """Too little work to repay compiling: NumPy runs it, and numba is not even imported."""
    import subprocess
    import sys

    code = ("import sys; from optarena.measure import sweep; "
            "r = sweep('rosenbrock', ['sgd'], ['learning_rate=0.001,0.01'], steps=50); "
            "print(r.config['engine'], 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "False"]


# -- issue 11 item 6: a landscape without a minimum has no steps to tolerance --------------------

def test_steps_to_tolerance_is_refused_where_the_landscape_has_no_minimum():
    from optarena import landscapes

    res = sweep("saddle", ["sgd"], ["learning_rate=log(1e-3, 1e-1, 3)"], steps=30)
    for use in (lambda: res.best("steps_to_tolerance"), lambda: res.objective("steps_to_tolerance"),
                lambda: sweep_module.check_objective("steps_to_tolerance", landscapes.get("saddle"))):
        with pytest.raises(ValueError, match="needs a landscape with a known minimum.*unbounded below"):
            use()
    # final loss is still an objective: the loss itself, no minimum subtracted
    alone = race("saddle", ["sgd(learning_rate=0.1)"], steps=30)
    assert res.best("final_loss")[0]["value"] == pytest.approx(alone.final_loss[0, 0], rel=1e-9)
    d = json.loads(res.to_json())  # strict JSON: no NaN for the missing minimum
    assert d["min_value"] is None and d["minima"] == []
    assert all(row["median_steps_to_tolerance"] is None for row in res.summary())
    back = SweepResult.from_json(res.to_json())
    with pytest.raises(ValueError, match="known minimum"):
        back.best("steps_to_tolerance")
    sweep_module.check_objective("steps_to_tolerance", landscapes.get("rosenbrock"))  # fine there
