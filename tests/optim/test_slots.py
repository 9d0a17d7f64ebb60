"""A rule with five state slots and named coefficients runs on every engine: the stateful
classes' fused kernel, the compiled race loop and the torch bridge's kernel all equal its
readable NumPy rule. Nothing in optarena limits the number of slots any more."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optarena as oa
from optarena.arena import race
from optarena.optim import MAXIMIZE, OptimizerSpec, cell_grad, lr_hyper, prepare_grad, registry, wd_hyper, zeros_state

RATES = (0.5, 0.3, 0.2, 0.1, 0.05)
SLOTS = tuple(f"ema{k}" for k in range(5))


def _update(params, grads, state, hp):
    """p <- p - lr * mean_k(m_k) / sqrt(1 + mean_k(m_k)^2), m_k <- m_k + a_k (g - m_k)."""
    g = prepare_grad(params, grads, hp)
    new = {"step": state["step"] + 1}
    for name, a in zip(SLOTS, RATES):
        new[name] = state[name] + a * (g - state[name])
    d = sum(new[n] for n in SLOTS) * 0.2
    return params - hp["learning_rate"] * (d / np.sqrt(1.0 + d * d)), new


def _coefficients(hp, t, lr, scalars):
    # constants come in the params' dtype (a literal in the cell would make numba compute float32 in float64)
    return {"lr": lr, "wd": hp["weight_decay"], "neg": hp["maximize"], "fifth": 0.2, "one": 1.0,
            **{f"a{k}": a for k, a in enumerate(RATES)}}, {}


def _cell(p, g, m0, m1, m2, m3, m4, a0, a1, a2, a3, a4, fifth, one, lr, wd, neg):  # not in the order given
    g = cell_grad(p, g, neg, wd)
    m0 = m0 + a0 * (g - m0)
    m1 = m1 + a1 * (g - m1)
    m2 = m2 + a2 * (g - m2)
    m3 = m3 + a3 * (g - m3)
    m4 = m4 + a4 * (g - m4)
    d = ((((m0 + m1) + m2) + m3) + m4) * fifth
    return p - lr * (d / math.sqrt(one + d * d)), m0, m1, m2, m3, m4


FIVE = OptimizerSpec(
    name="five_emas", title="Five EMAs", hypers=(lr_hyper(0.05), wd_hyper(), MAXIMIZE),
    init=lambda p, hp: zeros_state(p, SLOTS), update=_update, state_arrays=lambda hp: SLOTS,
    cell=_cell, coefficients=_coefficients, slots=SLOTS, rule="", paper="a test rule",
)


@pytest.fixture(autouse=True)
def five_registered(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(FIVE)
    yield


def test_the_cell_takes_its_coefficients_by_name():
    assert FIVE.coefficient_names == ("a0", "a1", "a2", "a3", "a4", "fifth", "one", "lr", "wd", "neg")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stateful_fused_equals_readable(dtype):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(41, 7)).astype(dtype)
    grads = [rng.normal(size=p0.shape).astype(dtype) for _ in range(9)]
    out = {}
    for fused in (False, True):
        opt = oa.optimizer_class("five_emas")(learning_rate=0.1, weight_decay=0.01, fused=fused)
        p = p0.copy()
        for g in grads:
            opt.update(p, g)
        out[fused] = p, opt.state[0]
    np.testing.assert_array_max_ulp(out[True][0], out[False][0], maxulp=2)
    for name in SLOTS:
        np.testing.assert_array_max_ulp(out[True][1][name], out[False][1][name], maxulp=2)
    assert not np.allclose(out[True][1]["ema0"], out[True][1]["ema4"])  # five distinct slots, none aliased


def test_race_engines_agree():
    kw = dict(landscape="rosenbrock", racers=["five_emas(learning_rate=0.02)", "adam(learning_rate=0.05)"],
              starts=[(-1.2, 1.0), (0.5, -0.5)], steps=60)
    a, b = race(**kw, engine="numpy"), race(**kw, engine="fused")
    np.testing.assert_allclose(b.positions, a.positions, rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(a.positions))


def test_torch_bridge_kernel_equals_readable():
    torch = pytest.importorskip("torch")
    import optarena.torch as ot

    torch.manual_seed(0)
    models = [torch.nn.Linear(64, 32).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [ot.optimizer_class("five_emas")(m.parameters(), lr=0.01, fused=f) for m, f in zip(models, (False, True))]
    x = torch.randn(16, 64, dtype=torch.float64)
    for _ in range(6):
        for m, o in zip(models, opts):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    for p, q in zip(*(m.parameters() for m in models)):
        assert float((p - q).detach().abs().max()) <= 1e-14
    assert set(opts[1].state[next(models[1].parameters())]) >= set(SLOTS)
