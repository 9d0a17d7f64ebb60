"""The race engine against the stateful classes stepped one run at a time, and its promises."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import optarena as oa
from optarena import landscapes
from optarena.arena import Racer, RaceResult, race

from article_classes import ArticleAdam, ArticleSGD, ArticleSGDMomentum
from cases import CASES, case_id

STARTS = [(-1.0, 2.0), (0.5, -0.5), (2.0, 1.0)]


def _step_classes(name, hp, ls, start, steps, schedule=None):
    opt = oa.optimizer_class(name)(**hp, schedule=schedule, fused=False)
    p = np.array(start, dtype=np.float64)
    out = [p.copy()]
    for _ in range(steps):
        opt.update(p, ls.gradient(p))
        # a rule that answers another point than it differentiates at (Schedule-Free): the race draws
        # the answer, the class's eval() gives it
        spec = opt.spec
        out.append(p.copy() if spec.eval_point is None else spec.eval_point(p, opt.state[0], spec.validate(opt.hyperparameters)))
    return np.array(out)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectories_equal_the_classes_one_run_at_a_time(case):
    name, hp = case
    ls = landscapes.get("booth")
    res = race(ls, [Racer(name, hp), Racer(name, {**hp, "learning_rate": 0.5 * oa.optimizer_class(name)(**hp).learning_rate})],
               starts=STARTS, steps=40)
    for s, start in enumerate(STARTS):
        expected = _step_classes(name, hp, ls, start, 40)
        k = res.diverged_at[0, s]  # maximize=True climbs out of the window: compare until then
        stop = 41 if k < 0 else k
        assert np.all(np.isnan(res.positions[0, s, stop:]))
        np.testing.assert_allclose(res.positions[0, s, :stop], expected[:stop], rtol=1e-13, atol=1e-13)
        assert res.losses[0, s, 0] == pytest.approx(ls.f(*start))


def test_schedules_in_races_equal_the_classes():
    ls = landscapes.get("rosenbrock")
    sched = {"name": "cosine", "t_max": 30}
    res = race(ls, [Racer("adam", {"learning_rate": 0.05}, sched)], steps=30)
    expected = _step_classes("adam", {"learning_rate": 0.05}, ls, ls.default_start, 30, schedule=sched)
    np.testing.assert_allclose(res.positions[0, 0], expected, rtol=1e-13)


def test_the_articles_demo_by_hand():
    res = race()  # the quadratic, SGD, momentum, Adam, 100 steps
    assert res.status_line(0) == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
    for i, cls in enumerate([ArticleSGD, ArticleSGDMomentum, ArticleAdam]):
        opt, p = cls(), [2.4, 1.8]
        for _ in range(100):
            p = opt.update(p, [2 * v for v in p])
        assert res.losses[i, 0, 100] == pytest.approx(p[0] ** 2 + p[1] ** 2, rel=1e-12)


def test_custom_object_races_beside_builtins():
    res = race("himmelblau", ["adam(learning_rate=0.05)", ArticleAdam(learning_rate=0.05)], starts=STARTS, steps=60)
    assert res.labels == ["Adam", "ArticleAdam"]
    np.testing.assert_allclose(res.positions[1], res.positions[0], rtol=1e-10, atol=1e-12)


def test_registered_functional_optimizer_races():
    from optarena.optim import registry
    from optarena.optim._spec import Hyper, OptimizerSpec, lr_hyper

    def update(p, g, state, hp):  # sign descent
        return p - hp["learning_rate"] * np.sign(g), {"step": state["step"] + 1}

    spec = OptimizerSpec("signsgd_test", "SignSGD", (lr_hyper(0.01), Hyper("maximize", False, kind="bool")),
                         init=lambda p, hp: {"step": 0}, update=update, state_arrays=lambda hp: (),
                         rule=r"p -= \eta\,\mathrm{sign}(g)", paper="Bernstein et al. 2018")
    registry.register(spec)
    try:
        res = race("booth", ["signsgd_test(learning_rate=0.1)"], starts=[(0.0, 0.0)], steps=3)
        np.testing.assert_allclose(res.positions[0, 0, 3], [0.3, 0.3])
    finally:
        registry._REGISTRY.pop("signsgd_test")


def _sgd_on_rosenbrock_by_hand(lr, x, y, steps):
    """(step, why) at which SGD leaves Rosenbrock's box (window x in [-2, 2], y in [-1, 3], padded
    by 100 window widths of 4), in plain Python: an independent count of the step."""
    for t in range(1, steps + 1):
        gx, gy = -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)
        x, y = x - lr * gx, y - lr * gy
        if not (math.isfinite(x) and math.isfinite(y)):
            return t, "diverged: non-finite"
        if not (-402 <= x <= 402 and -401 <= y <= 403):
            return t, "diverged: left the window"
    return -1, "completed"


@pytest.mark.parametrize("lr", [10.0, 0.0062])  # out at steps 1 and 8
def test_divergence_is_reported_with_its_step(lr):
    res = race("rosenbrock", [f"sgd(learning_rate={lr})", "adam(learning_rate=0.01)"], steps=100)
    k = res.diverged_at[0, 0]
    want, why = _sgd_on_rosenbrock_by_hand(lr, -1.2, 1.0, 100)
    assert want > 0 and (k, res.stop_reason[0, 0]) == (want, why)
    assert np.all(np.isfinite(res.losses[0, 0, :k])) and np.all(np.isnan(res.losses[0, 0, k:]))
    assert "SGD Loss: diverged at step" in res.status_line(100)
    assert res.diverged_at[1, 0] == -1 and res.stop_reason[1, 0] == "completed"
    json.loads(res.to_json())  # no NaN in the JSON: null instead


def test_overflow_to_non_finite_is_caught():
    res = race("quadratic", ["sgd(learning_rate=1e150)"], starts=[(1e6, 1e6)], steps=10)
    assert res.diverged_at[0, 0] >= 1 and res.stop_reason[0, 0].startswith("diverged")


def test_noise_is_seeded_and_shared_by_racers_from_a_start():
    kw = dict(landscape="quadratic", racers=["sgd(learning_rate=0.1)", "sgd(learning_rate=0.1)"], starts=STARTS, steps=20, noise=0.5)
    a, b, c = race(**kw, seed=1), race(**kw, seed=1), race(**kw, seed=2)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    np.testing.assert_array_equal(a.positions[0], a.positions[1])  # same start, same noise
    # SGD on x^2 + y^2 moves p to p - lr (2p + noise): read each start's noise back from its path
    p = a.positions[0]
    drawn = (p[:, :-1] - p[:, 1:]) / 0.1 - 2 * p[:, :-1]
    assert np.all(np.abs(drawn) > 1e-6) and np.std(drawn) == pytest.approx(0.5, rel=0.3)
    for s in range(1, len(STARTS)):  # each start has its own stream
        assert not np.allclose(drawn[s], drawn[0], rtol=0.1, atol=0.05)


def test_a_starts_noise_does_not_depend_on_the_other_starts_or_the_budget():
    """Each start's noise stream is its own: raced alone, beside other starts, or for fewer steps,
    a run sees the same draws (a sweep cut into pieces then equals the whole)."""
    kw = dict(landscape="rosenbrock", racers=["adam(learning_rate=0.01)"], noise=0.5, seed=3, engine="numpy")
    both = race(**kw, starts=[[-1.5, 2.0], [0.5, -0.5]], steps=30)
    alone = race(**kw, starts=[[0.5, -0.5]], steps=30)
    shorter = race(**kw, starts=[[0.5, -0.5], [1.0, 1.0]], steps=12)
    np.testing.assert_array_equal(both.positions[0, 1], alone.positions[0, 0])
    np.testing.assert_array_equal(shorter.positions[0, 0], alone.positions[0, 0, :13])
    assert not np.allclose(both.positions[0, 0, 1:] - both.positions[0, 0, :-1],
                           alone.positions[0, 0, 1:] - alone.positions[0, 0, :-1])


def test_clipping_only_when_asked_and_recorded():
    free = race("rosenbrock", ["sgd(learning_rate=0.001)"], steps=5)
    clipped = race("rosenbrock", ["sgd(learning_rate=0.001)"], steps=5, clip=1.0)
    assert free.config["clip"] is None and clipped.config["clip"] == 1.0
    assert np.nanmax(clipped.step_sizes) <= 0.001 + 1e-15
    assert np.nanmax(free.step_sizes) > 0.01


def test_thousands_of_runs_in_one_call_match_single_runs():
    lrs = np.geomspace(1e-3, 0.5, 40)
    starts = np.random.default_rng(0).uniform(-2, 2, size=(30, 2))
    res = race("rosenbrock", [Racer("adam", {"learning_rate": float(lr)}) for lr in lrs], starts=starts, steps=50)
    assert res.positions.shape == (40, 30, 51, 2)
    for i, s in [(0, 0), (17, 29), (39, 5)]:
        one = race("rosenbrock", [Racer("adam", {"learning_rate": float(lrs[i])})], starts=[starts[s]], steps=50)
        np.testing.assert_allclose(res.positions[i, s], one.positions[0, 0], rtol=1e-12, equal_nan=True)


def test_json_round_trip_and_replay():
    res = race("beale", ["adam(learning_rate=0.05)", "rmsprop(centered=true)"], starts=STARTS, steps=25, noise=0.1, seed=3)
    back = RaceResult.from_json(res.to_json())
    for key in ("positions", "losses", "grad_norms", "step_sizes"):
        np.testing.assert_array_equal(getattr(back, key), getattr(res, key))
    again = race(**back.config)
    np.testing.assert_array_equal(again.positions, res.positions)


def test_formula_landscape_races():
    res = race({"formula": "(x-1)**2 + 10*(y+0.5)**2"}, ["adam(learning_rate=0.1)"], starts=[(0, 0)], steps=300)
    np.testing.assert_allclose(res.positions[0, 0, -1], [1, -0.5], atol=1e-2)
    assert RaceResult.from_json(res.to_json()).config["landscape"]["formula"]


@pytest.mark.parametrize("kwargs,msg", [
    ({"steps": 0}, "steps must be an integer in"),
    ({"steps": 10**7}, "steps must be an integer in"),
    ({"racers": []}, "at least one"),
    ({"racers": ["adam(learning_rate=-1)"]}, "learning_rate"),
    ({"racers": ["nope"]}, "unknown optimizer"),
    ({"starts": [(1e9, 0)]}, "starts"),
    ({"starts": [[1, 2, 3]]}, "starts"),
    ({"noise": -1.0}, "noise"),
    ({"clip": 0.0}, "clip"),
    ({"landscape": "nowhere"}, "unknown landscape"),
])
def test_bad_requests(kwargs, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        race(**kwargs)


def test_status_lines_equal_status_line():
    res = race("rosenbrock", ["sgd(learning_rate=10)", "adam(learning_rate=0.05)"], steps=30)
    assert res.status_lines() == [res.status_line(k) for k in range(31)]


@pytest.mark.parametrize("engine", ["numpy", "fused"])
def test_should_stop_cancels_a_race_between_steps_or_chunks(engine):
    # A server that has given up on a request stops its race: the callback is asked while the race
    # runs (not only before it), and the race raises instead of returning a half-filled result.
    from optarena.arena import Cancelled

    calls = []

    def stop_on_third_call():
        calls.append(1)
        return len(calls) >= 3

    starts = np.random.default_rng(0).uniform(-3, 3, (200, 2)) if engine == "fused" else STARTS
    with pytest.raises(Cancelled):
        race("rosenbrock", ["adam", "sgd"], starts=starts, steps=20_000 if engine == "fused" else 500,
             engine=engine, should_stop=stop_on_third_call, record=False)
    from optarena.arena.fused import THREADS

    # asked repeatedly, and the race ended at the first True (a second thread may be asking too)
    assert 3 <= len(calls) <= 3 + (THREADS - 1 if engine == "fused" else 0)
    done = race("rosenbrock", ["adam"], steps=50, engine=engine, should_stop=lambda: False)
    plain = race("rosenbrock", ["adam"], steps=50, engine=engine)
    np.testing.assert_array_equal(done.positions, plain.positions)


def test_racers_of_one_optimizer_are_named_by_what_differs():
    # Issue 11 item 10: "Adam #1" / "Adam #2" everywhere said nothing about which was which.
    res = race("booth", ["adam(learning_rate=0.1)", "adam(learning_rate=0.01)", "sgd",
                         "momentum(schedule=cosine(t_max=50))", "momentum"], steps=3)
    assert res.labels == ["Adam lr=0.1", "Adam lr=0.01", "SGD", "Momentum cosine", "Momentum constant"]
    assert res.status_line(0).split(" | ")[1].startswith("Adam lr=0.1 Loss:")
    assert [r["racer"] for r in res.summary()][:2] == ["Adam lr=0.1", "Adam lr=0.01"]
    same = race("booth", ["adam", "adam", "adam(label=fast)"], steps=3)
    assert same.labels == ["Adam #1", "Adam #2", "fast"]  # nothing differs: numbered


def test_without_racers_a_race_takes_the_landscapes_defaults():
    quad = race(steps=3)
    assert quad.labels == ["SGD", "Momentum", "Adam"] and quad.status_line(0).endswith("Adam Loss: 9.0000")
    rosen = race("rosenbrock")
    wanted = landscapes.get("rosenbrock").default_racer_specs()
    assert [r["hyperparameters"]["learning_rate"] for r in rosen.config["racers"]] == \
        [r["hyperparameters"]["learning_rate"] for r in wanted]
    assert (rosen.diverged_at < 0).all()  # the article's own rates diverge there by step 4
