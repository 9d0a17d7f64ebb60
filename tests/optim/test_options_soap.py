"""SOAP's state dicts cross both ways with pytorch_optimizer.SOAP (4.1.0): optarena.torch.SOAP
writes each parameter's factors as the reference's lists ``GG`` and ``Q`` ([] for an axis without
one) and the step in the param group; it loads that form (and its own). Mid-run, each side
continues from the other's state as the original continues (float64, QR held in float64 as in
tests/optim/test_soap.py: 1e-10)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
po = pytest.importorskip("pytorch_optimizer")

import torch.nn.functional as F  # noqa: E402
from pytorch_optimizer.optimizer import soap as soap_module  # noqa: E402

import optarena.torch as ot  # noqa: E402

from cases import max_rel  # noqa: E402


class _Float64QR:
    def __getattr__(self, name: str) -> Any:
        return torch.float64 if name == "float32" else getattr(torch, name)


@pytest.fixture
def qr_in_float64(monkeypatch):
    monkeypatch.setattr(soap_module, "torch", _Float64QR())


def _model(seed: int) -> Any:
    torch.manual_seed(seed)  # a 4 x 4 and a 3 x 4 weight (factors on both axes), biases (none: [])
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("kw", [{"lr": 0.01, "precondition_frequency": 3},
                                {"lr": 0.02, "betas": (0.9, 0.99), "precondition_frequency": 2, "weight_decay": 0.1,
                                 "shampoo_beta": 0.8, "normalize_gradient": True}], ids=["defaults", "options"])
def test_state_dicts_cross_both_ways(kw, qr_in_float64):
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.normal(size=(8, 4))), torch.tensor(rng.normal(size=(8, 3)))) for _ in range(12)]
    models = {k: _model(0) for k in ("ours", "theirs", "ours_from_theirs", "theirs_from_ours")}
    ours, theirs = ot.SOAP(models["ours"].parameters(), **kw), po.SOAP(models["theirs"].parameters(), **kw)
    _train(models["ours"], ours, batches[:5])
    _train(models["theirs"], theirs, batches[:5])
    written = copy.deepcopy(ours.state_dict())  # as torch.save would: the live tensors go on stepping
    first = written["state"][0]
    assert set(first) >= {"GG", "Q", "exp_avg", "exp_avg_sq", "precondition_frequency", "shampoo_beta"}
    assert not any(k.startswith(("GG_", "Q_")) for k in first)
    assert written["param_groups"][0]["step"] == theirs.state_dict()["param_groups"][0]["step"] == 5
    bias = written["state"][1]
    assert bias["GG"] == [[]] and bias["Q"] == [[]]  # a vector without precondition_1d: no factor
    # the live state is untouched by state_dict()
    assert "GG_0" in ours.state[next(models["ours"].parameters())]

    models["ours_from_theirs"].load_state_dict(models["theirs"].state_dict())
    models["theirs_from_ours"].load_state_dict(models["ours"].state_dict())
    ours2 = ot.SOAP(models["ours_from_theirs"].parameters(), **kw)
    ours2.load_state_dict(theirs.state_dict())
    theirs2 = po.SOAP(models["theirs_from_ours"].parameters(), **kw)
    theirs2.load_state_dict(written)
    for model, opt in ((models["ours"], ours), (models["theirs"], theirs), (models["ours_from_theirs"], ours2),
                       (models["theirs_from_ours"], theirs2)):
        _train(model, opt, batches[5:])
    for a, b, c, d in zip(*(models[k].parameters() for k in ("ours", "theirs", "ours_from_theirs", "theirs_from_ours"))):
        assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-10
        assert max_rel(c.detach().numpy(), b.detach().numpy()) <= 1e-10
        assert max_rel(d.detach().numpy(), a.detach().numpy()) <= 1e-10


def test_own_state_dict_round_trip_is_exact():
    rng = np.random.default_rng(1)
    batches = [(torch.tensor(rng.normal(size=(8, 4))), torch.tensor(rng.normal(size=(8, 3)))) for _ in range(8)]
    m1, m2 = _model(0), _model(0)
    o1 = ot.SOAP(m1.parameters(), lr=0.01, precondition_frequency=2)
    _train(m1, o1, batches[:4])
    m2.load_state_dict(m1.state_dict())
    o2 = ot.SOAP(m2.parameters(), lr=0.01, precondition_frequency=2)
    o2.load_state_dict(o1.state_dict())
    _train(m1, o1, batches[4:])
    _train(m2, o2, batches[4:])
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_a_vector_with_its_factor_crosses_both_ways(qr_in_float64):
    """precondition_1d on a 2-element vector (distinct eigenvalues): GG = [its 2 x 2 factor]."""
    rng = np.random.default_rng(3)
    grads = [torch.tensor(rng.normal(size=2)) for _ in range(10)]
    kw = {"lr": 0.02, "precondition_1d": True, "precondition_frequency": 2}
    ps = [torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=torch.float64)) for _ in range(4)]
    ours, theirs = ot.SOAP([ps[0]], **kw), po.SOAP([ps[1]], **kw)
    for t in range(4):
        for p, opt in ((ps[0], ours), (ps[1], theirs)):
            p.grad = grads[t].clone()
            opt.step()
    written = copy.deepcopy(ours.state_dict())
    assert [tuple(g.shape) for g in written["state"][0]["GG"]] == [(2, 2)]
    with torch.no_grad():
        ps[2].copy_(ps[1])
        ps[3].copy_(ps[0])
    ours2, theirs2 = ot.SOAP([ps[2]], **kw), po.SOAP([ps[3]], **kw)
    ours2.load_state_dict(copy.deepcopy(theirs.state_dict()))
    theirs2.load_state_dict(written)
    for t in range(4, 10):
        for p, opt in zip(ps, (ours, theirs, ours2, theirs2)):
            p.grad = grads[t].clone()
            opt.step()
    assert max_rel(ps[0].detach().numpy(), ps[1].detach().numpy()) <= 1e-10
    assert max_rel(ps[2].detach().numpy(), ps[1].detach().numpy()) <= 1e-10
    assert max_rel(ps[3].detach().numpy(), ps[0].detach().numpy()) <= 1e-10
