"""optarena.torch.SophiaH against pytorch_optimizer.SophiaH (4.1.0): Hutchinson estimates through
autograd from the same global-generator draws, then optarena's NumPy rule; state_dicts both ways."""

from __future__ import annotations

import copy
import inspect

import pytest

torch = pytest.importorskip("torch")
po = pytest.importorskip("pytorch_optimizer")
import optarena.torch as ot  # noqa: E402

# what SophiaH asks of its user (its reference's too): torch warns about the .grad cycle, which the tests break
pytestmark = pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")

torch.manual_seed(0)
X = torch.randn(64, 5, dtype=torch.float64)
Y = (torch.rand(64) > 0.5).double()
# moves that clip only some entries (p=0.5), so the Hessian moment shapes the step
CASES = [
    {"lr": 0.01, "p": 0.5},
    {"lr": 0.01, "p": 0.5, "update_period": 3, "num_samples": 3, "hessian_distribution": "rademacher",
     "weight_decay": 0.1, "betas": (0.9, 0.95)},
    {"lr": 0.02, "p": 0.5, "update_period": 2, "weight_decay": 0.1, "weight_decouple": False, "eps": 1e-3},
    {"weight_decay": 0.1, "fixed_decay": True},  # the defaults otherwise: every entry clipped
]


def _model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _step(model, opt, k, sign=1.0, graph=True):
    torch.manual_seed(100 + k)  # the same draws for both optimizers
    opt.zero_grad()
    loss = sign * torch.nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(1), Y)
    loss.backward(create_graph=graph)
    opt.step()


def _drop_graphs(model):
    for p in model.parameters():  # create_graph=True leaves a reference cycle through .grad
        p.grad = None


def test_signature_is_the_references():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()
                if p.kind is not p.VAR_KEYWORD]

    assert shape(ot.SophiaH)[:13] == shape(po.SophiaH)  # then the article's aliases, keyword-only
    assert [p.name for p in inspect.signature(ot.SophiaH).parameters.values()][13:] == [
        "learning_rate", "beta1", "beta2", "epsilon"]


@pytest.mark.parametrize("kw", CASES)
def test_steps_equal_the_references(kw):
    """12 steps (several refreshes of the estimate, and steps between): parameters equal to 1e-15."""
    models = [_model(), _model()]
    opts = [po.SophiaH(models[0].parameters(), **kw), ot.SophiaH(models[1].parameters(), **kw)]
    for k in range(12):
        for m, o in zip(models, opts):
            _step(m, o, k)
        assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-15), k
    moved = float((_flat(models[0]) - _flat(_model())).abs().max())
    assert moved > 5e-3  # the run went somewhere
    for m in models:
        _drop_graphs(m)


def test_steps_between_refreshes_need_no_graph():
    kw = {"lr": 0.01, "p": 0.5, "update_period": 3}
    models = [_model(), _model()]
    opts = [po.SophiaH(models[0].parameters(), **kw), ot.SophiaH(models[1].parameters(), **kw)]
    for k in range(6):
        for m, o in zip(models, opts):
            _step(m, o, k, graph=k % 3 == 0)
    assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-15)
    with pytest.raises(RuntimeError, match=r"SophiaH: this step estimates the Hessian from the gradients' graph, which "
                                           r"they do not carry: call loss.backward\(create_graph=True\)"):
        _step(models[1], opts[1], 6, graph=False)
    for m in models:
        _drop_graphs(m)


def test_maximize_estimates_the_hessian_of_what_is_minimised():
    """Maximizing -L is minimizing L, estimate included (optarena's rule negates the estimate under
    maximize, as it negates the gradient): equal to the reference minimizing L. The reference's
    own maximize would use +H's estimate of -L (a declared difference, sophia.py)."""
    kw = {"lr": 0.01, "p": 0.5, "update_period": 2}
    models = [_model(), _model()]
    ref, ours = po.SophiaH(models[0].parameters(), **kw), ot.SophiaH(models[1].parameters(), maximize=True, **kw)
    for k in range(6):
        _step(models[0], ref, k)
        _step(models[1], ours, k, sign=-1.0)
    assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-15)
    for m in models:
        _drop_graphs(m)


def test_state_dict_crosses_both_ways():
    """Four steps with one class, its state_dict loaded into the other, four more: equal to the
    reference run uninterrupted (the step count lives in the groups, as the reference keeps it)."""
    kw = {"lr": 0.01, "p": 0.5, "update_period": 3}
    whole = _model()
    ref = po.SophiaH(whole.parameters(), **kw)
    for k in range(8):
        _step(whole, ref, k)
    for first, then in ((po.SophiaH, ot.SophiaH), (ot.SophiaH, po.SophiaH)):
        model = _model()
        a = first(model.parameters(), **kw)
        for k in range(4):
            _step(model, a, k)
        saved = copy.deepcopy(a.state_dict())
        assert saved["param_groups"][0]["step"] == 4
        b = then(model.parameters(), **kw)
        b.load_state_dict(saved)
        for k in range(4, 8):
            _step(model, b, k)
        assert torch.allclose(_flat(model), _flat(whole), rtol=0, atol=1e-15), (first, then)
        _drop_graphs(model)
    _drop_graphs(whole)


def test_bad_arguments():
    params = _model().parameters
    with pytest.raises(ValueError, match="SophiaH: hessian_distribution must be one of 'rademacher', 'gaussian', "
                                         "got 'uniform'"):
        ot.SophiaH(params(), hessian_distribution="uniform")
    with pytest.raises(TypeError, match="unknown hyperparameter 'seed'"):
        ot.SophiaH(params(), seed=3)  # the reference's draws are torch's generator's
    ot.SophiaH(params(), foreach=True)  # one implementation: foreach changes nothing
    with pytest.raises(TypeError, match="Newton: Newton needs the loss's exact hessian at every step"):
        ot.Newton(params())  # the whole Hessian: no estimate from the graph here
