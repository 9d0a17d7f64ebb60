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


def test_the_torch_bridge_points_to_torch_optim_lbfgs():
    import optarena.torch as ot

    with pytest.raises(TypeError, match="torch.optim.LBFGS is the same rule"):
        ot.LBFGS([torch.nn.Parameter(torch.zeros(2))])
