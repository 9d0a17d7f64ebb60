"""L-BFGS as a racer: each step is one step(closure), equal to torch.optim.LBFGS stepping a
2-element parameter on the same landscape, and the race records the evaluations each step made."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.arena.engine import race
from optarena.arena.plan import RacePlan, Racer
from optarena.arena.result import RaceResult
from optarena.errors import UsageError
from optarena.landscapes import resolve
from optarena.optim.rules import lbfgs

torch = pytest.importorskip("torch")


def _torch_lbfgs(ls, start, steps, **kw):
    """torch.optim.LBFGS on the landscape: positions after each step and cumulative func_evals."""
    x = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = torch.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        p = x.detach().numpy()
        x.grad = torch.tensor(ls.gradient(p))
        return torch.tensor(float(ls.value(p)))

    pos, evals = [x.detach().numpy().copy()], [0]
    for _ in range(steps):
        opt.step(closure)
        pos.append(x.detach().numpy().copy())
        evals.append(opt.state[opt._params[0]]["func_evals"])
    return np.array(pos), np.array(evals, dtype=float)


@pytest.mark.parametrize("name,start", [("rosenbrock", (-1.2, 1.0)), ("himmelblau", (0.3, -0.4)), ("booth", (5.0, 5.0))])
@pytest.mark.parametrize("hp,kw", [({}, {}), ({"line_search": True}, {"line_search_fn": "strong_wolfe"}),
                                   ({"history_size": 3.0, "max_iter": 4.0, "learning_rate": 0.5},
                                    {"history_size": 3, "max_iter": 4, "lr": 0.5})], ids=["default", "wolfe", "short"])
def test_a_race_equals_torch_lbfgs_with_its_evaluations(name, start, hp, kw):
    ls = resolve(name)
    res = race(ls, [Racer("lbfgs", hp)], starts=[start], steps=6)
    pos, evals = _torch_lbfgs(ls, start, 6, **kw)
    # 20 iterations a step in Rosenbrock's valley amplify the two's different roundings of dot
    # products (tests/optim/test_lbfgs.py measures it against torch's own 1-ulp sensitivity)
    rtol = 1e-4 if name == "rosenbrock" and "max_iter" not in hp else 1e-9
    assert np.allclose(res.positions[0, 0], pos, rtol=rtol, atol=1e-12)
    assert np.array_equal(res.evaluations[0, 0], evals)


def test_first_order_racers_count_one_evaluation_a_step_and_json_keeps_them():
    res = race("rosenbrock", [Racer("lbfgs", {}), "adam(learning_rate=0.05)"], steps=5)
    assert np.array_equal(res.evaluations[1, 0], np.arange(6.0))
    assert res.summary()[0]["evaluations"] == res.evaluations[0, 0, -1] > 5
    back = RaceResult.from_json(res.to_json())
    assert np.array_equal(back.evaluations, res.evaluations)
    plain = race("rosenbrock", ["adam"], steps=3)  # no racer counts: nothing extra written
    assert plain.evaluations is None and "evaluations" not in plain.to_json()


def test_noise_and_clip_are_refused_up_front():
    for kw in ({"noise": 0.1}, {"clip": 1.0}):
        with pytest.raises(UsageError, match="evaluates the loss and its gradient itself") as info:
            RacePlan.build("booth", [Racer("lbfgs", {})], **kw)
        assert info.value.field == "racers[0].optimizer"


def test_article_class_takes_a_closure():
    ls = resolve("rosenbrock")
    p = np.array([-1.2, 1.0])
    opt = oa.LBFGS(line_search=True)
    for _ in range(5):
        opt.update(p, None, closure=lambda x: (float(ls.value(x)), ls.gradient(x)))
    pos, _ = _torch_lbfgs(ls, (-1.2, 1.0), 5, line_search_fn="strong_wolfe")
    assert np.allclose(p, pos[-1], rtol=1e-9)
    with pytest.raises(UsageError, match="L-BFGS needs a closure") as info:
        opt.update(p, ls.gradient(p))
    assert info.value.field == "closure"
    with pytest.raises(UsageError, match="max_iter must be a whole number"):
        oa.LBFGS(max_iter=2.5)


def test_the_torch_bridge_offers_torch_optim_lbfgs():
    """optarena.torch.LBFGS is torch's class on this rule (tests/torch/test_lbfgs_bridge.py)."""
    import optarena.torch as ot

    assert isinstance(ot.LBFGS([torch.nn.Parameter(torch.zeros(2))]), torch.optim.Optimizer)


# ------------------------------------------------------------------ the batched path
# A race steps every run at once (update's batched_closure): it must equal the per-run LBFGS
# objects (update without batched_closure) bit for bit, with the same evaluations, and evaluate
# only the runs still iterating.

B = 50
BATCH_SETTINGS = {
    "default": {},
    "history3": {"history_size": 3.0},
    "max_iter1": {"max_iter": 1.0},
    "max_iter1_history3": {"max_iter": 1.0, "history_size": 3.0, "learning_rate": 0.5},
    "tolerances": {"history_size": 3.0, "max_iter": 20.0, "tolerance_change": 1e-4, "tolerance_grad": 1e-3},
    "max_eval": {"max_iter": 20.0, "max_eval": 7.0, "tolerance_change": 1e-6, "learning_rate": 0.5},
    # every run its own settings: histories, iterations, budgets and tolerances all differ
    "mixed": {"history_size": np.array([3.0, 100.0, 1.0, 5.0, 100.0]), "max_iter": np.array([1.0, 20.0, 5.0, 20.0, 2.0]),
              "max_eval": np.array([0.0, 0.0, 3.0, 11.0, 0.0]), "learning_rate": np.array([1.0, 0.5, 1.0, 0.25, 1.0]),
              "tolerance_change": np.array([1e-9, 1e-3, 1e-6, 1e-12, 1e-2]),
              "tolerance_grad": np.array([1e-7, 1e-2, 1e-7, 1e-5, 1e-7])},
}


def _batch_hp(settings):
    hp = lbfgs.SPEC.validate({})
    for k, v in hp.items():
        if k != "line_search":
            hp[k] = np.resize(np.asarray(settings.get(k, v), dtype=np.float64), B)
    return hp


def _step_race(ls, starts, hp, steps, batched):
    """Positions and cumulative evaluations after each update, the rows each batched call evaluated."""
    asked = []

    def batched_closure(x):
        asked.append(len(x))
        return ls.value(x), ls.gradient(x)

    p, state = starts.copy(), lbfgs.init(starts, hp)
    pos, evals = [p], [np.zeros(len(p))]
    for _ in range(steps):
        before = {k: np.copy(v) for k, v in state.items() if k != "runs"}
        p, new = lbfgs.update(p, np.zeros_like(p), state, hp, closure=lambda x: (float(ls.value(x)), ls.gradient(x)),
                              batched_closure=batched_closure if batched else None)
        assert all(np.array_equal(v, state[k]) for k, v in before.items())  # update is pure
        state = new
        pos.append(p)
        evals.append(state["evaluations"])
    return np.array(pos), np.array(evals, dtype=float), sum(asked)


@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau"])
@pytest.mark.parametrize("setting", list(BATCH_SETTINGS))
def test_the_batched_path_equals_the_per_run_objects(name, setting):
    ls = resolve(name)
    lo, hi = np.array(ls.window).T
    starts = np.random.default_rng(7).uniform(lo, hi, size=(B, 2))
    hp = _batch_hp(BATCH_SETTINGS[setting])
    pos, evals, asked = _step_race(ls, starts, hp, 8, batched=True)
    pos_r, evals_r, _ = _step_race(ls, starts, hp, 8, batched=False)
    assert np.array_equal(pos, pos_r, equal_nan=True)  # bit for bit
    assert np.array_equal(evals, evals_r)
    assert asked == evals[-1].sum()  # only the runs still iterating were evaluated
    if "max_iter1" not in setting:  # the runs stopped at different iterations (max_iter 1: one evaluation a step)
        assert len(np.unique(np.diff(evals, axis=0))) > 2


def test_a_race_takes_the_batched_path_and_the_line_search_stays_per_run():
    starts = np.random.default_rng(3).uniform([-2.0, -1.0], [2.0, 3.0], size=(20, 2))
    ls = resolve("rosenbrock")
    res = race(ls, [Racer("lbfgs", {"history_size": 3.0})], starts=starts, steps=6, engine="numpy")
    hp = {k: (np.resize(v, 20) if isinstance(v, np.ndarray) else v) for k, v in _batch_hp({"history_size": 3.0}).items()}
    ref = np.array(starts)
    state = lbfgs.init(ref, hp)
    for s in range(6):
        ref, state = lbfgs.update(ref, np.zeros_like(ref), state, hp, closure=lambda x: (float(ls.value(x)), ls.gradient(x)))
        assert np.array_equal(res.positions[0, :, s + 1], ref)
        assert np.array_equal(res.evaluations[0, :, s + 1], state["evaluations"])
    assert "runs" in state
    wolfe = lbfgs.update(starts, None, lbfgs.init(starts, {**hp, "line_search": True}), {**hp, "line_search": True},
                         closure=lambda x: (float(ls.value(x)), ls.gradient(x)),
                         batched_closure=lambda x: (ls.value(x), ls.gradient(x)))[1]
    assert "runs" in wolfe  # the strong Wolfe line search steps each run on its own


def test_a_batched_state_stepped_with_a_closure_alone_stays_batched():
    ls = resolve("himmelblau")
    hp = _batch_hp({"history_size": 3.0})
    p = np.random.default_rng(5).uniform(-4, 4, size=(B, 2))
    one = lambda x: (float(ls.value(x)), ls.gradient(x))  # noqa: E731
    p, state = lbfgs.update(p, None, lbfgs.init(p, hp), hp, closure=one, batched_closure=lambda x: (ls.value(x), ls.gradient(x)))
    alone = lbfgs.update(p, None, state, hp, closure=one)
    both = lbfgs.update(p, None, state, hp, closure=one, batched_closure=lambda x: (ls.value(x), ls.gradient(x)))
    assert np.array_equal(alone[0], both[0]) and np.array_equal(alone[1]["evaluations"], both[1]["evaluations"])
