"""Prodigy's sums run over every parameter the optimizer steps (scope "all"): the article's class
over a list of arrays, the torch bridge over several param groups, and a race (each run its own
optimizer) must each equal prodigyopt stepping the same parameters together."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
import optarena.torch  # noqa: F401  (oa.torch.Prodigy)
from optarena.arena.engine import race
from optarena.arena.plan import Racer

from cases import max_rel, reference_target

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _f64():
    torch.set_default_dtype(torch.float64)


def _model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


def _groups(m, wd_bias):
    return [{"params": [m[0].weight, m[2].weight]}, {"params": [m[0].bias, m[2].bias], "weight_decay": wd_bias}]


def _train(m, opt, steps, x, y):
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()


KWARGS = [{}, {"weight_decay": 0.1}, {"weight_decay": 0.05, "decouple": False, "use_bias_correction": True},
          {"growth_rate": 1.2, "d0": 1e-3, "safeguard_warmup": True}]


@pytest.mark.parametrize("kw", KWARGS, ids=str)
def test_torch_bridge_over_param_groups_matches_prodigyopt(kw):
    Prodigy = reference_target("prodigy")
    x, y = torch.randn(16, 4, generator=torch.Generator().manual_seed(1)), torch.randn(16, 1, generator=torch.Generator().manual_seed(2))
    m1, m2 = _model(0), _model(0)
    ref = Prodigy(_groups(m1, 0.0), **kw)
    ours = oa.torch.Prodigy(_groups(m2, 0.0), **kw)
    _train(m1, ref, 25, x, y)
    _train(m2, ours, 25, x, y)
    for a, b in zip(m2.parameters(), m1.parameters()):
        assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-12
    for key in ("d", "d_max", "d_numerator", "k"):
        assert ours.param_groups[1][key] == pytest.approx(ref.param_groups[1][key], rel=1e-12), key
    # state_dicts cross over both ways and the runs continue together
    m3, m4 = _model(5), _model(5)
    m3.load_state_dict(m1.state_dict())
    m4.load_state_dict(m1.state_dict())
    ours2 = oa.torch.Prodigy(_groups(m3, 0.0), **kw)
    ours2.load_state_dict(ref.state_dict())
    ref2 = Prodigy(_groups(m4, 0.0), **kw)
    ref2.load_state_dict(ours.state_dict())
    _train(m3, ours2, 5, x, y)
    _train(m4, ref2, 5, x, y)
    _train(m1, ref, 5, x, y)
    for a, b, c in zip(m3.parameters(), m4.parameters(), m1.parameters()):
        assert max_rel(a.detach().numpy(), c.detach().numpy()) <= 1e-12
        assert max_rel(b.detach().numpy(), c.detach().numpy()) <= 1e-12


def test_torch_bridge_refuses_what_it_does_not_offer():
    m = _model(0)
    for kw in ({"fsdp_in_use": True},):  # slice_p is offered: tests/optim/test_options_prodigy.py
        with pytest.raises(ValueError, match=f"{next(iter(kw))}=.* is not offered"):
            oa.torch.Prodigy(m.parameters(), **kw)
    oa.torch.Prodigy(m.parameters(), slice_p=1, beta3=None, betas=(0.9, 0.99))  # the defaults, and the pair, are fine


def test_torch_bridge_refuses_two_learning_rates_as_prodigyopt():
    m = _model(0)
    opt = oa.torch.Prodigy([{"params": [m[0].weight]}, {"params": [m[0].bias], "lr": 0.5}])
    m(torch.ones(1, 4)).sum().backward()
    with pytest.raises(RuntimeError, match="same lr"):
        opt.step()


def test_article_class_over_a_list_of_arrays_matches_prodigyopt():
    Prodigy = reference_target("prodigy")
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), ()]
    p0 = [rng.normal(size=s) for s in shapes]
    a = [rng.uniform(0.5, 2.0, size=s) for s in shapes]
    tps = [torch.nn.Parameter(torch.tensor(p)) for p in p0]
    ref = Prodigy(tps, weight_decay=0.01)
    opt = oa.Prodigy(weight_decay=0.01)
    ps = [p.copy() for p in p0]
    for t in range(15):
        for tp, ai in zip(tps, a):
            tp.grad = torch.tensor(ai) * tp.detach() + 0.1 * t
        ref.step()
        opt.update(ps, [ai * p + 0.1 * t for p, ai in zip(ps, a)])
        for p, tp in zip(ps, tps):
            assert max_rel(p, tp.detach().numpy()) <= 1e-12, t
    assert opt.state[0]["d"] == pytest.approx(ref.param_groups[0]["d"], rel=1e-12)
    # one array at a time would estimate d from each alone: a different (wrong) answer
    alone = oa.Prodigy(weight_decay=0.01)
    q = p0[0].copy()
    for t in range(15):
        alone.update(q, a[0] * q + 0.1 * t)
    assert max_rel(q, ps[0]) > 1e-6


def test_each_race_run_is_its_own_optimizer():
    """Two starts in one race give what each start gives alone (the sums are per run)."""
    starts = [(-1.5, 2.0), (1.2, -0.5)]
    both = race("booth", [Racer("prodigy", {"d0": 1e-3})], starts=starts, steps=60, engine="numpy")
    for i, s in enumerate(starts):
        alone = race("booth", [Racer("prodigy", {"d0": 1e-3})], starts=[s], steps=60, engine="numpy")
        assert np.array_equal(both.positions[0, i], alone.positions[0, 0])
    assert np.isfinite(both.losses).all() and both.losses[0, :, -1].max() < both.losses[0, :, 0].min()
