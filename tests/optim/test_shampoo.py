"""Shampoo against pytorch_optimizer.Shampoo (pytorch-optimizer 4.1.0): the rule on matrices,
vectors, 0-d and 3-D parameters with every option (``shampoo.EXAMPLES``), batches of runs, the
torch bridge on a model with state_dicts crossing both ways, and a race on points.

The inverse roots come from SVDs of matrix_eps I + sum G G^T: where that spans many decades (a
vector's factor keeps n - t eigenvalues at matrix_eps) NumPy's LAPACK (OpenBLAS) and torch's (MKL)
round its small eigenvalues differently, and a root amplifies them; the bounds below are measured.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
po = pytest.importorskip("pytorch_optimizer")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import optarena as oa  # noqa: E402
import optarena.torch as ot  # noqa: E402
from optarena.arena import Racer  # noqa: E402
from optarena.arena.engine import race  # noqa: E402
from optarena.optim import registry  # noqa: E402
from optarena.optim.rules.shampoo import EXAMPLES  # noqa: E402

from cases import max_rel, problem, run_reference, run_spec  # noqa: E402

SPEC = registry.get("shampoo")
STEPS = 12
#: float64 bound per shape: matrices and 2-element vectors 1e-10 (measured 1e-14); longer vectors
#: (their factor's eigenvalues from matrix_eps 1e-6 to ~30, the smallest rounded differently by the
#: two LAPACKs, then raised to -1/2): measured up to 3.2e-10 on (6,)
F64 = {(3, 4): 1e-10, (5, 5): 1e-10, (2,): 1e-10, (): 1e-12, (2, 3, 4): 1e-10, (6,): 1e-9}
SHAPES = list(F64)


def _kwargs(hp: dict[str, Any]) -> dict[str, Any]:
    out = {{"learning_rate": "lr"}.get(k, k): v for k, v in hp.items()}
    if "preconditioning_compute_steps" in out:
        out["preconditioning_compute_steps"] = int(out["preconditioning_compute_steps"])
    return out


def _problem(shape, dtype=np.float64, seed=0):
    return problem(shape, STEPS, dtype, seed)


def _reference_run(p0, grads, hp):
    tp = torch.nn.Parameter(torch.tensor(p0))
    return run_reference(po.Shampoo([tp], **_kwargs(hp)), tp, grads)


def _our_run(p0, grads, hp):
    return run_spec(SPEC, hp, p0, grads)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("hp", EXAMPLES, ids=lambda hp: "-".join(f"{k}={v}" for k, v in hp.items()))
def test_matches_reference(hp, shape):
    """float64, every step and every state buffer, by the reference's names."""
    p0, grads = _problem(shape)
    expected, theirs = _reference_run(p0, grads, hp)
    ours, state = _our_run(p0, grads, hp)
    for t in range(STEPS):
        assert ours[t].shape == shape and ours[t].dtype == np.float64
        assert max_rel(ours[t], expected[t]) <= F64[shape], f"step {t + 1}"
    assert set(theirs) == set(state) - {"step"}
    for key, value in theirs.items():
        assert max_rel(state[key], value.numpy()) <= F64[shape], key


@pytest.mark.parametrize("shape", [(3, 4), (5, 5), (2,), (2, 3, 4), (6,)], ids=str)
def test_float32(shape):
    """float32 on both sides (SVDs in float32): measured up to 1.4e-6 on matrices and 2-element
    vectors. A (6,) vector's factor keeps eigenvalues at matrix_eps 1e-6, below float32's resolution
    of a factor of ~30 (rounding noise on both sides, then raised to -1/2): measured up to 0.15
    there, so it is held to 1e-5 only with matrix_eps >= 1e-3 and otherwise to stay finite."""
    for hp in EXAMPLES:
        p0, grads = _problem(shape, np.float32)
        expected, _ = _reference_run(p0, grads, hp)
        ours, state = _our_run(p0, grads, hp)
        assert ours[-1].dtype == np.float32 and all(v.dtype == np.float32 for k, v in state.items() if k != "step")
        assert np.all(np.isfinite(ours[-1]))
        if len(shape) != 1 or shape[0] <= 2 or hp.get("matrix_eps", 1e-6) >= 1e-3:
            assert max(max_rel(a, b) for a, b in zip(ours, expected)) <= 1e-5, hp


def test_vector_is_full_matrix_adagrad_and_scalar_sgd():
    """A vector has one factor and the root -1/2: p -= lr (eps I + sum g g^T)^(-1/2) g; a 0-d
    parameter has none: p -= lr g."""
    lr, eps = 0.1, 1e-3
    p0, grads = _problem((2,))
    ours, _ = _our_run(p0, grads, {"learning_rate": lr, "matrix_eps": eps})
    p, acc = p0.copy(), eps * np.eye(2)
    for t, g in enumerate(grads):
        acc = acc + np.outer(g, g)
        w, v = np.linalg.eigh(acc)
        p = p - lr * (v @ np.diag(w ** -0.5) @ v.T) @ g
        assert max_rel(ours[t], p) <= 1e-12
    p0, grads = _problem(())
    ours, _ = _our_run(p0, grads, {"learning_rate": lr})
    assert max_rel(ours[-1], p0 - lr * np.sum(grads)) <= 1e-12


@pytest.mark.parametrize("shape", [(3, 4), (2,)], ids=str)
def test_batch_rows_are_runs_alone(shape):
    """(B, ...) with (B,) hyperparameters: B independent parameters, each the reference's run alone
    (roots recomputed on different steps per row)."""
    rows = [{"learning_rate": 0.01, "momentum": 0.0, "weight_decay": 0.0, "matrix_eps": 1e-6, "preconditioning_compute_steps": 1.0},
            {"learning_rate": 0.02, "momentum": 0.3, "weight_decay": 0.1, "matrix_eps": 1e-3, "preconditioning_compute_steps": 2.0},
            {"learning_rate": 0.05, "momentum": 0.7, "weight_decay": 0.01, "matrix_eps": 0.1, "preconditioning_compute_steps": 3.0}]
    for flags in ({}, {"weight_decouple": True, "maximize": True}, {"weight_decouple": True, "fixed_decay": True}):
        hp = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        hp.update(flags)
        p0, grads = _problem((len(rows),) + shape, seed=1)
        ours, state = _our_run(p0, grads, hp)
        for b, row in enumerate(rows):
            expected, theirs = _reference_run(p0[b], [g[b] for g in grads], {**row, **flags})
            for t in range(STEPS):
                assert max_rel(ours[t][b], expected[t]) <= 1e-10, (flags, b, t + 1)
            for key, value in theirs.items():
                assert max_rel(state[key][b], value.numpy()) <= 1e-10, key


def test_ranges():
    for bad in ({"momentum": 1.5}, {"preconditioning_compute_steps": 0.0}, {"preconditioning_compute_steps": 1.5},
                {"matrix_eps": -1.0}, {"weight_decay": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            oa.Shampoo(**bad)


def test_race_on_points():
    """A race's runs are points (B, 2): Shampoo races them (full-matrix AdaGrad on each)."""
    res = race("rosenbrock", [Racer("shampoo", {"learning_rate": 0.1}),
                              Racer("shampoo", {"learning_rate": 0.1, "momentum": 0.5, "matrix_eps": 1e-3})], steps=200)
    pos, losses = np.asarray(res.positions), np.asarray(res.losses)
    assert np.all(np.isfinite(pos))
    assert np.all(losses[:, :, -1] < losses[:, :, 0])


# ---------------------------------------------------------------- the torch bridge


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()


def _close(m1, m2, tol):
    for (n, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert max_rel(p.detach().numpy(), q.detach().numpy()) <= tol, n


@pytest.mark.parametrize("kw", [{"lr": 0.01, "matrix_eps": 1e-3},
                                {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.1, "weight_decouple": True, "matrix_eps": 1e-2}],
                         ids=["plain", "momentum"])
def test_bridge_model_and_state_dict_both_ways(kw):
    """optarena.torch.Shampoo on a model steps as the reference (float64), with its state names;
    state_dicts load both ways and continue alike."""
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.normal(size=(8, 4))), torch.tensor(rng.normal(size=(8, 3)))) for _ in range(24)]
    m1, m2 = _model(), _model()
    ours, ref = ot.Shampoo(m1.parameters(), **kw), po.Shampoo(m2.parameters(), **kw)
    _train(m1, ours, batches[:12])
    _train(m2, ref, batches[:12])
    _close(m1, m2, 1e-9)
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert set(ours.state[p]) - {"step"} == set(ref.state[q])
        for key, value in ref.state[q].items():
            assert max_rel(ours.state[p][key].numpy(), value.numpy()) <= 1e-9, key
    m3, m4 = _model(), _model()
    m3.load_state_dict(m2.state_dict())
    m4.load_state_dict(m1.state_dict())
    ours_from_ref = ot.Shampoo(m3.parameters(), **kw)
    ours_from_ref.load_state_dict(copy.deepcopy(ref.state_dict()))
    ref_from_ours = po.Shampoo(m4.parameters(), **kw)
    ref_from_ours.load_state_dict(copy.deepcopy(ours.state_dict()))
    for m, opt in ((m1, ours), (m2, ref), (m3, ours_from_ref), (m4, ref_from_ours)):
        _train(m, opt, batches[12:])
    _close(m3, m2, 1e-9)
    _close(m4, m1, 1e-9)


def test_an_axis_too_long_for_its_factor_is_refused_before_any_allocation():
    """The reference would ask for an n x n factor of a 20,000-vector (3.2 GB in float64) and more
    for longer ones; ours refuses with the size and what to use instead."""
    from optarena.errors import UsageError

    with pytest.raises(UsageError, match="an axis of 20,000 elements") as info:
        oa.Shampoo().update(np.zeros(20_000, np.float32), np.ones(20_000, np.float32))
    assert info.value.field == "params"

