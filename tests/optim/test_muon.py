"""Muon against torch.optim.Muon (torch 2.13): the rule on matrices and batches of them, the torch
bridge on a model of 2-D weights with state_dicts crossing both ways, and every refusal of a
parameter that is not a matrix (class API, bridge, race).

torch casts the Newton-Schulz input to bfloat16 and iterates there; optarena iterates in the
parameter's dtype. The exact comparisons hold torch's iteration in the parameter's dtype (its
``Tensor.bfloat16`` made a copy for the test); ``test_against_torch_as_shipped`` measures the
declared difference from bfloat16.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("torch.optim")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import optarena as oa  # noqa: E402
import optarena.torch as ot  # noqa: E402
from optarena.arena import Racer  # noqa: E402
from optarena.arena.engine import race  # noqa: E402
from optarena.errors import UsageError  # noqa: E402
from optarena.optim import registry  # noqa: E402

from cases import max_rel, problem, reference_kwargs, run_reference, run_spec  # noqa: E402

SPEC = registry.get("muon")
STEPS = 12
SHAPES = [(3, 4), (5, 5), (8, 3)]
# every option: defaults, plain momentum without decay, a short iteration with a large eps
EXAMPLES = [dict(ex) for ex in SPEC.examples]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture
def torch_in_param_dtype(monkeypatch):
    """torch.optim.Muon iterating in the parameter's dtype: its ``grad.bfloat16()`` copies instead."""
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *a, **k: self.clone())


def _torch_kwargs(hp):
    """torch's arguments (match_rms_adamw: its adjust_lr_fn string, as the spec's Reference spells it)."""
    return {k: (int(v) if k == "ns_steps" else v) for k, v in reference_kwargs("muon", hp).items()}


def _problem(shape, dtype, seed=0):
    return problem(shape, STEPS, dtype, seed)


def _torch_run(p0, grads, kw):
    tp = torch.nn.Parameter(torch.tensor(p0))
    return run_reference(torch.optim.Muon([tp], **kw), tp, grads)


def _our_run(p0, grads, hp):
    return run_spec(SPEC, hp, p0, grads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("hp", EXAMPLES, ids=lambda hp: "-".join(f"{k}={v}" for k, v in hp.items()) or "defaults")
def test_matches_torch(hp, shape, dtype, torch_in_param_dtype):
    p0, grads = _problem(shape, dtype)
    expected, their_state = _torch_run(p0, grads, _torch_kwargs(hp))
    ours, state = _our_run(p0, grads, hp)
    for t in range(STEPS):
        assert ours[t].dtype == dtype
        assert max_rel(ours[t], expected[t]) <= TOL[dtype], f"step {t + 1}"
    assert max_rel(state["momentum_buffer"], their_state["momentum_buffer"].numpy()) <= TOL[dtype]
    assert state["step"] == STEPS


def test_defaults_are_torchs():
    kw = {k: v.default for k, v in __import__("inspect").signature(torch.optim.Muon).parameters.items() if k != "params"}
    assert {h.name: h.default for h in SPEC.hypers} == {
        "learning_rate": kw["lr"], "weight_decay": kw["weight_decay"], "momentum": kw["momentum"],
        "nesterov": kw["nesterov"], "epsilon": kw["eps"], "ns_steps": kw["ns_steps"], "match_rms_adamw": False}
    assert kw["ns_coefficients"] == oa.optim.rules.muon.NS_COEFFICIENTS and kw["adjust_lr_fn"] is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(3, 4), (8, 3)], ids=str)
@pytest.mark.parametrize("nesterov", [True, False])
def test_batch_of_matrices_rows_are_runs_alone(shape, dtype, nesterov, torch_in_param_dtype):
    """A (B, r, c) array with (B,) hyperparameters is B matrices: each equals torch's run alone."""
    rows = [{"learning_rate": 0.02, "momentum": 0.95, "weight_decay": 0.1, "epsilon": 1e-7, "ns_steps": 5.0},
            {"learning_rate": 0.05, "momentum": 0.5, "weight_decay": 0.0, "epsilon": 1e-3, "ns_steps": 3.0},
            {"learning_rate": 0.001, "momentum": 0.0, "weight_decay": 0.3, "epsilon": 1e-7, "ns_steps": 0.0}]
    hp = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    hp["nesterov"] = nesterov
    p0, grads = _problem((len(rows),) + shape, dtype, seed=1)
    ours, state = _our_run(p0, grads, hp)
    for b, row in enumerate(rows):
        expected, their_state = _torch_run(p0[b], [g[b] for g in grads], _torch_kwargs({**row, "nesterov": nesterov}))
        for t in range(STEPS):
            assert max_rel(ours[t][b], expected[t]) <= TOL[dtype], f"row {b}, step {t + 1}"
        assert max_rel(state["momentum_buffer"][b], their_state["momentum_buffer"].numpy()) <= TOL[dtype]


@pytest.mark.parametrize("shape", SHAPES + [(64, 32)], ids=str)
def test_against_torch_as_shipped(shape):
    """The declared difference: torch iterates in bfloat16. Measured (``max_rel``: entries
    against a tenth of the array's scale at least): one step's orthogonalised update differs by
    up to 1.8e-1, the parameters after 12 steps by up to 1.5e-2."""
    for hp in EXAMPLES:
        p0, grads = _problem(shape, np.float32)
        expected, _ = _torch_run(p0, grads, _torch_kwargs(hp))
        ours, _ = _our_run(p0, grads, hp)
        h = SPEC.validate(hp)
        decayed = p0 * (1 - h["learning_rate"] * h["weight_decay"])
        assert 1e-4 < max_rel(ours[0] - decayed, expected[0] - decayed) <= 0.25  # bfloat16's rounding, visibly
        assert max(max_rel(a, b) for a, b in zip(ours, expected)) <= 2.5e-2


def test_update_is_orthogonal_enough():
    """The paper's claim for the quintic: singular values of the update land near 1 (0.5 to 1.5)."""
    g = np.random.default_rng(2).normal(size=(40, 24))
    o = oa.optim.rules.muon.orthogonalise(g, 5, 1e-7)
    s = np.linalg.svd(o, compute_uv=False)
    assert 0.5 < s.min() and s.max() < 1.5


def test_float16_iterates_in_float32():
    p0, grads = _problem((6, 4), np.float16)
    ours, state = _our_run(p0, grads, {"learning_rate": 0.02})
    assert ours[-1].dtype == np.float16 and state["momentum_buffer"].dtype == np.float16
    ref, _ = _our_run(p0.astype(np.float32), [g.astype(np.float32) for g in grads], {"learning_rate": 0.02})
    assert max_rel(ours[-1], ref[-1]) <= 5e-3


# ---------------------------------------------------------------- refusals


def test_not_a_matrix_is_refused_everywhere():
    """torch refuses a parameter that is not 2-D with a ValueError; so do the class API, the
    bridge (in its constructor, as torch) and a race (whose runs are points) up front."""
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        torch.optim.Muon([torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters whereas we found a parameter with size: \(7,\)"):
        oa.Muon().update(np.zeros(7), np.ones(7))
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        oa.Muon().update(np.zeros((2, 3, 4)), np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"Muon: Muon only supports 2D parameters whereas we found a parameter with size: "
                                         r"torch.Size\(\[3\]\)"):
        ot.Muon([torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(UsageError, match="racers\\[0\\]: Muon steps parameters with at least 2 axes") as err:
        race("rosenbrock", [Racer("muon", {})])
    assert err.value.field == "racers[0].optimizer"


def test_arguments_are_checked_as_torch():
    """torch's exception type and words for its ranges; values the rule does not offer (other
    ns_coefficients) refused with a line that says why."""
    p = [torch.nn.Parameter(torch.zeros(2, 3))]
    for kw in ({"lr": -1.0}, {"momentum": -0.5}, {"weight_decay": -1.0}, {"adjust_lr_fn": "other"},
               {"lr": torch.tensor([0.1, 0.2])}):
        with pytest.raises(Exception) as theirs:
            torch.optim.Muon(p, **kw)
        with pytest.raises(type(theirs.value)) as ours:
            ot.Muon(p, **kw)
        if "adjust_lr_fn" not in kw:
            assert str(ours.value) == f"Muon: {theirs.value}", kw
    for kw in ({"ns_coefficients": (3.0, -4.0, 2.0)},):
        torch.optim.Muon(p, **kw)  # torch takes them; optarena's rule does not
        with pytest.raises(ValueError, match="optarena's Muon"):
            ot.Muon(p, **kw)
    ot.Muon(p, adjust_lr_fn="original", ns_coefficients=[3.4445, -4.775, 2.0315])  # the defaults, spelled otherwise
    opt = ot.Muon(p)
    opt.param_groups[0]["ns_coefficients"] = (3.0, -4.0, 2.0)  # written later: refused at the step, nothing moved
    p[0].grad = torch.ones(2, 3)
    with pytest.raises(ValueError, match="ns_coefficients must be torch's default"):
        opt.step()
    assert torch.equal(p[0], torch.zeros(2, 3))
    with pytest.raises(UsageError, match="ns_steps must be a whole number"):
        oa.Muon(ns_steps=2.5).update(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(UsageError, match="momentum must be"):
        oa.Muon(momentum=1.5)


# ---------------------------------------------------------------- the torch bridge on a model


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.Tanh(),
                               torch.nn.Linear(16, 3, bias=False)).double()


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _close(m1, m2, tol):
    for (n, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert max_rel(p.detach().numpy(), q.detach().numpy()) <= tol, n


@pytest.mark.parametrize("kw", [{}, {"lr": 0.02, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
                                {"lr": 0.05, "weight_decay": 0.3, "eps": 1e-3, "ns_steps": 3, "momentum": 0.5},
                                {"lr": 0.01, "adjust_lr_fn": "match_rms_adamw"}, {"adjust_lr_fn": "original"}],
                         ids=["defaults", "plain", "short", "match_rms_adamw", "original"])
def test_bridge_model_and_state_dict_both_ways(kw, torch_in_param_dtype):
    """optarena.torch.Muon on a model of 2-D weights steps as torch.optim.Muon (float64, 1e-12),
    with torch's state names and group keys; state_dicts load both ways and continue alike."""
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.normal(size=(16, 8))), torch.tensor(rng.integers(0, 3, size=16))) for _ in range(24)]
    m1, m2 = _model(), _model()
    ours, ref = ot.Muon(m1.parameters(), **kw), torch.optim.Muon(m2.parameters(), **kw)
    _train(m1, ours, batches[:12])
    _train(m2, ref, batches[:12])
    _close(m1, m2, 1e-12)
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert set(ours.state[p]) - {"step"} == set(ref.state[q]) == {"momentum_buffer"}
        assert max_rel(ours.state[p]["momentum_buffer"].numpy(), ref.state[q]["momentum_buffer"].numpy()) <= 1e-12
    assert ours.param_groups[0].keys() == ref.param_groups[0].keys()
    m3, m4 = _model(), _model()
    m3.load_state_dict(m2.state_dict())
    m4.load_state_dict(m1.state_dict())
    ours_from_torch = ot.Muon(m3.parameters())
    ours_from_torch.load_state_dict(copy.deepcopy(ref.state_dict()))
    torch_from_ours = torch.optim.Muon(m4.parameters())
    torch_from_ours.load_state_dict(copy.deepcopy(ours.state_dict()))
    for m, opt in ((m1, ours), (m2, ref), (m3, ours_from_torch), (m4, torch_from_ours)):
        _train(m, opt, batches[12:])
    _close(m3, m2, 1e-12)
    _close(m4, m1, 1e-12)
    _close(m1, m2, 1e-12)


def test_bridge_float32_model(torch_in_param_dtype):
    """float32: each step agrees to 1e-5 (test_matches_torch); through 12 steps of training, where
    each gradient depends on the last step's rounding, the weights to 1e-4 (measured 4e-5)."""
    rng = np.random.default_rng(1)
    batches = [(torch.tensor(rng.normal(size=(16, 8)), dtype=torch.float32), torch.tensor(rng.integers(0, 3, size=16)))
               for _ in range(12)]
    m1, m2 = _model().float(), _model().float()
    _train(m1, ot.Muon(m1.parameters(), lr=0.02), batches)
    _train(m2, torch.optim.Muon(m2.parameters(), lr=0.02), batches)
    _close(m1, m2, 1e-4)
