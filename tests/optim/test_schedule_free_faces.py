"""Schedule-Free on every face: the params hold y (where the gradient is taken) and the answer is
x. A race draws and scores x; the torch bridge's ``train()``/``eval()`` and the article class's
``train(params)``/``eval(params)`` move between them exactly as schedulefree's do."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import optarena as oa
from optarena.arena.engine import race
from optarena.arena.plan import Racer
from optarena.errors import EngineUnavailable
from optarena.landscapes import resolve

from cases import max_rel, reference_target

torch = pytest.importorskip("torch")
import optarena.torch  # noqa: E402,F401  (oa.torch.*)

NAMES = ["sf_sgd", "sf_adamw"]
SETTINGS = {"sf_sgd": {"learning_rate": 0.001, "momentum": 0.8}, "sf_adamw": {"learning_rate": 0.05, "warmup_steps": 3.0}}


@pytest.fixture(autouse=True)
def _f64(torch_dtype):
    torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_a_race_draws_and_scores_x_while_the_gradient_is_taken_at_y(name):
    ls = resolve("rosenbrock")
    start = (-1.2, 1.0)
    res = race(ls, [Racer(name, SETTINGS[name])], starts=[start], steps=40, engine="auto")
    opt = oa.optimizer_class(name)(**SETTINGS[name])
    y = np.array(start)
    xs, ys = [y.copy()], [y.copy()]
    for _ in range(40):
        opt.update(y, ls.gradient(y))  # the gradient at y, as the engine must take it
        ys.append(y.copy())
        xs.append(opt.spec.eval_point(y, opt.state[0], opt.spec.validate(opt.hyperparameters)))
    assert np.allclose(res.positions[0, 0], np.array(xs), rtol=1e-12, atol=1e-15)
    assert np.allclose(res.losses[0, 0], ls.value(np.array(xs)), rtol=1e-12)
    assert not np.allclose(np.array(xs), np.array(ys))  # x and y differ: drawing y would be a different race


@pytest.mark.parametrize("name", NAMES)
def test_the_fused_engine_is_refused_with_the_reason(name):
    with pytest.raises(EngineUnavailable, match="takes its gradient at one point and answers another"):
        race("booth", [Racer(name, {})], steps=5, engine="fused")


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


@pytest.mark.parametrize("name", NAMES)
def test_torch_bridge_train_and_eval_are_schedulefrees(name):
    Ref = reference_target(name)
    kw = {"lr": 0.05, "warmup_steps": 2}
    m1, m2 = _model(), _model()
    ours, ref = oa.torch.optimizer_class(name)(m1.parameters(), **kw), Ref(m2.parameters(), **kw)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    for opt in (ours, ref):
        opt.train()
    for epoch in range(3):
        for _ in range(5):
            for m, opt in ((m1, ours), (m2, ref)):
                opt.zero_grad()
                (m(x) ** 2).mean().backward()
                opt.step()
        for opt in (ours, ref):
            opt.eval()
        for a, b in zip(m1.parameters(), m2.parameters()):  # x, as the reference puts it there
            assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-12, epoch
        with pytest.raises(RuntimeError, match="eval mode"):
            m1(x).sum().backward()
            ours.step()
        for opt in (ours, ref):
            opt.train()
        for a, b in zip(m1.parameters(), m2.parameters()):  # back to y
            assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-12, epoch


@pytest.mark.parametrize("name", NAMES)
def test_article_class_eval_and_train(name):
    opt = oa.optimizer_class(name)(**SETTINGS[name])
    p = np.array([1.0, -2.0, 0.5])
    assert opt.eval(p) is p and np.array_equal(p, [1.0, -2.0, 0.5])  # before any step x = y
    opt.train(p)
    for t in range(6):
        opt.update(p, 2 * p + 0.1 * t)
    y = p.copy()
    x = opt.spec.eval_point(y, opt.state[0], opt.spec.validate(opt.hyperparameters))
    opt.eval(p)
    assert np.array_equal(p, x) and not np.allclose(x, y)
    with pytest.raises(RuntimeError, match="call train"):
        opt.update(p, p)
    opt.train(p)
    assert max_rel(p, y) <= 1e-14
    plain = oa.Adam()
    q = np.ones(2)
    assert plain.eval(q) is q and plain.train(q) is q  # other rules: the params are the answer


def test_bridge_state_survives_a_deepcopy_round_trip():
    """eval() then train() leaves the optimizer stepping as if neither happened."""
    m1 = _model()
    opt = oa.torch.optimizer_class("sf_adamw")(m1.parameters(), lr=0.05)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        opt.zero_grad()
        (m1(x) ** 2).mean().backward()
        opt.step()
    m2, opt2 = copy.deepcopy((m1, opt))
    opt.eval()
    opt.train()
    for m, o in ((m1, opt), (m2, opt2)):
        o.zero_grad()
        (m(x) ** 2).mean().backward()
        o.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-13


@pytest.mark.parametrize("name", NAMES)
def test_state_dicts_cross_with_schedulefree_both_ways(name):
    """schedulefree keeps k, weight_sum and lr_max in its param groups; ours per parameter: the
    bridge writes them into the groups and reads them back, so each continues the other's run."""
    Ref = reference_target(name)
    kw = {"lr": 0.05, "warmup_steps": 2}
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))

    def train(m, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (m(x) ** 2).mean().backward()
            opt.step()

    ours_cls = oa.torch.optimizer_class(name)
    for first, second in ((Ref, ours_cls), (ours_cls, Ref)):
        m1 = _model()
        a = first(m1.parameters(), **kw)
        a.train()
        train(m1, a, 3)
        m2 = _model()
        m2.load_state_dict(m1.state_dict())
        b = second(m2.parameters(), **kw)
        b.load_state_dict(copy.deepcopy(a.state_dict()))  # a copy: torch's load keeps the dict's own tensors
        train(m1, a, 4)
        train(m2, b, 4)
        for p, q in zip(m1.parameters(), m2.parameters()):
            assert max_rel(q.detach().numpy(), p.detach().numpy()) <= 1e-12, (first.__name__, second.__name__)
