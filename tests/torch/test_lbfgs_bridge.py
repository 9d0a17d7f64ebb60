"""optarena.torch.LBFGS against torch.optim.LBFGS: the same parameters, losses, evaluation
counts and state, step by step, and state_dicts that cross both ways."""

from __future__ import annotations

import copy
import inspect

import pytest

torch = pytest.importorskip("torch")
import optarena.torch as ot  # noqa: E402
from optarena.errors import UsageError  # noqa: E402

torch.manual_seed(0)
X = torch.randn(64, 5, dtype=torch.float64)
Y = (torch.rand(64) > 0.5).double()


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(1)
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    return torch.nn.Linear(5, 1).double()


def _closure(model: torch.nn.Module, opt: torch.optim.Optimizer):
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(1), Y)
        loss = loss + 1e-3 * sum((p ** 2).sum() for p in model.parameters())
        loss.backward()
        return loss
    return closure


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _counts(opt: torch.optim.Optimizer) -> tuple[int, int]:
    st = opt.state[opt.param_groups[0]["params"][0]]
    return st["func_evals"], st["n_iter"]


def test_signature_is_torchs():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert shape(ot.LBFGS) == shape(torch.optim.LBFGS)
    assert ot.optimizer_class("lbfgs") is ot.LBFGS
    opt = ot.LBFGS(_model("logreg").parameters())
    assert opt.defaults == torch.optim.LBFGS(_model("logreg").parameters()).defaults


@pytest.mark.parametrize("kind, steps", [("logreg", 6), ("mlp", 3)])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_steps_equal_torchs(kind, steps, line_search_fn):
    """Several steps of 7 iterations with a history of 5 (so pairs are dropped): parameters within
    1e-10 (the MLP's 21 iterations amplify the two's different dot-product roundings; measured
    1.6e-13, logistic regression 1e-16), the returned losses, func_evals and n_iter equal."""
    models = [_model(kind), _model(kind)]
    kw = {"lr": 0.5 if line_search_fn is None else 1.0, "history_size": 5, "max_iter": 7, "line_search_fn": line_search_fn}
    opts = [torch.optim.LBFGS(models[0].parameters(), **kw), ot.LBFGS(models[1].parameters(), **kw)]
    for _ in range(steps):
        ref, ours = (opt.step(_closure(m, opt)) for m, opt in zip(models, opts))
        assert isinstance(ours, torch.Tensor)  # the closure's own first loss, as torch returns it
        assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-12, abs=0)
        assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-10)
        assert _counts(opts[1]) == _counts(opts[0])
    assert _counts(opts[0])[1] > 7  # the run went through several steps' worth of iterations


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_crosses_both_ways(line_search_fn):
    """Two steps with one class, its state_dict loaded into the other, two more each: the
    continuation equals the uninterrupted torch run."""
    kw = {"lr": 0.5 if line_search_fn is None else 1.0, "history_size": 4, "max_iter": 5, "line_search_fn": line_search_fn}
    whole = _model("mlp")
    ref = torch.optim.LBFGS(whole.parameters(), **kw)
    for _ in range(4):
        ref.step(_closure(whole, ref))
    for first, then in ((torch.optim.LBFGS, ot.LBFGS), (ot.LBFGS, torch.optim.LBFGS)):
        model = _model("mlp")
        a = first(model.parameters(), **kw)
        for _ in range(2):
            a.step(_closure(model, a))
        saved = copy.deepcopy(a.state_dict())
        assert set(saved["state"][0]) >= {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad",
                                          "prev_loss", "func_evals", "n_iter"}
        b = then(model.parameters(), **kw)
        b.load_state_dict(saved)
        for _ in range(2):
            b.step(_closure(model, b))
        assert torch.allclose(_flat(model), _flat(whole), rtol=0, atol=1e-10), (first, then)
        assert _counts(b) == _counts(ref)


def test_float32_close_to_torch():
    models = [_model("logreg").float(), _model("logreg").float()]
    x32 = X.float()
    opts = [torch.optim.LBFGS(models[0].parameters(), line_search_fn="strong_wolfe"),
            ot.LBFGS(models[1].parameters(), line_search_fn="strong_wolfe")]
    for _ in range(3):
        for m, opt in zip(models, opts):
            def closure(m=m, opt=opt):
                opt.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(m(x32).squeeze(1), Y.float())
                loss.backward()
                return loss
            opt.step(closure)
    assert models[1].weight.dtype == torch.float32
    assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-4)


def test_lr_scheduler_and_missing_gradient():
    """A scheduler drives lr; a parameter without a gradient counts as zeros (torch's flattening)."""
    models = [_model("mlp"), _model("mlp")]
    unused = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(2)]
    opts = [torch.optim.LBFGS([*models[0].parameters(), unused[0]], max_iter=4),
            ot.LBFGS([*models[1].parameters(), unused[1]], max_iter=4)]
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in opts]
    for _ in range(3):
        for m, o, s in zip(models, opts, scheds):
            o.step(_closure(m, o))
            s.step()
    assert opts[1].param_groups[0]["lr"] == opts[0].param_groups[0]["lr"] == 0.125
    assert torch.allclose(_flat(models[1]), _flat(models[0]), rtol=0, atol=1e-12)
    assert torch.equal(unused[1], torch.ones(3, dtype=torch.float64))


def test_bad_arguments():
    params = _model("logreg").parameters
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe', got 'armijo'"):
        ot.LBFGS(params(), line_search_fn="armijo")
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        ot.LBFGS(params(), lr=-1)
    with pytest.raises(UsageError, match="max_iter must be an integer >= 1, got 0"):
        ot.LBFGS(params(), max_iter=0)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        ot.LBFGS([{"params": [p]} for p in params()])
    with pytest.raises(RuntimeError, match="needs a closure"):
        ot.LBFGS(params()).step(None)  # type: ignore[arg-type]
