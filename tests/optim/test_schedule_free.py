"""Schedule-Free SGD and AdamW: the point they answer (x, ``eval_point``) against the authors'
``schedulefree`` package's ``eval()``, its inverse (``train_point``), and the per-run scalars
(batched rows, the fused race's table of coefficients)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from optarena.optim import registry

from cases import CASES, case_id, max_rel, reference_kwargs, reference_target, train_mode

torch = pytest.importorskip("torch")
pytest.importorskip("schedulefree")

NAMES = ("sf_sgd", "sf_adamw")
SF_CASES = [c for c in CASES if c[0] in NAMES]
STEPS = 12


def _grads(shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=shape)
    noise = rng.normal(size=(STEPS,) + tuple(shape))
    return lambda p, t: a * p + noise[t]


def _reference_x(name, explicit, p0, grad):
    """(y, x, y after eval() then train()) per step from schedulefree, in float64; x read from a
    copy put in eval mode, so the run itself never goes through eval/train."""
    torch.set_default_dtype(torch.float64)
    tp = torch.nn.Parameter(torch.tensor(p0))
    opt = reference_target(name)([tp], **reference_kwargs(name, explicit), foreach=False)
    train_mode(opt)
    out = []
    for t in range(STEPS):
        tp.grad = torch.tensor(grad(tp.detach().numpy(), t))
        opt.step()
        tq, other = copy.deepcopy((tp, opt))
        other.eval()
        x = tq.detach().numpy().copy()
        other.train()
        out.append((tp.detach().numpy().copy(), x, tq.detach().numpy().copy()))
    return out


def _ours(name, hp, p0, grad):
    spec = registry.get(name)
    bound = spec.bind(hp, p0)
    p, state = p0.copy(), spec.init(p0, bound)
    for t in range(STEPS):
        p, state = spec.update(p, grad(p, t), state, bound)
        yield p, state, bound


@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=str)
@pytest.mark.parametrize("case", SF_CASES, ids=case_id)
def test_eval_point_is_schedulefrees_eval(case, shape, torch_dtype):
    """After each step: y equals the reference's parameter, eval_point's x what ``eval()`` puts in
    it, and train_point(x) what ``train()`` then restores, all <= 1e-12 (float64)."""
    name, hp = case
    spec = registry.get(name)
    p0 = np.random.default_rng(1).normal(size=shape)
    grad = _grads(shape)
    expected = _reference_x(name, hp, p0, grad)
    for t, ((y, state, bound), (ref_y, ref_x, ref_back)) in enumerate(zip(_ours(name, hp, p0, grad), expected)):
        x = spec.eval_point(y, state, bound)
        back = spec.train_point(x, state, bound)
        assert max_rel(y, ref_y) <= 1e-12, f"y, step {t + 1}"
        assert max_rel(x, ref_x) <= 1e-12, f"x, step {t + 1}"
        assert max_rel(back, ref_back) <= 1e-12, f"train(eval(y)), step {t + 1}"
        assert max_rel(back, y) <= 1e-12, f"train_point(eval_point(y)) != y, step {t + 1}"


@pytest.mark.parametrize("name", NAMES)
def test_points_before_any_step_are_the_params(name):
    """z starts at the params, so x = y = the params (schedulefree's eval()/train() leave a
    parameter without state alone)."""
    spec = registry.get(name)
    hp = spec.validate({})
    p = np.array([1.5, -2.0, 0.25])
    state = spec.init(p, hp)
    assert np.array_equal(spec.eval_point(p, state, hp), p)
    assert np.array_equal(spec.train_point(p, state, hp), p)


@pytest.mark.parametrize("name", NAMES)
def test_examples_exercise_warmup_and_the_weighting(name):
    """The reference tests run warm-up (one longer than their 12 steps for AdamW), r,
    weight_lr_power and a beta below 2/3 (|1 - 1/beta| >= 0.5: torch's other lerp form in eval)."""
    spec = registry.get(name)
    beta = "momentum" if name == "sf_sgd" else "beta1"
    examples = spec.examples
    assert any(ex.get("warmup_steps", 0) > 0 for ex in examples)
    assert any(ex.get("r", 0) > 0 for ex in examples)
    assert any(ex.get("weight_lr_power", 2.0) != 2.0 for ex in examples)
    assert any(ex.get(beta, 0.9) < 2 / 3 for ex in examples)
    assert any(ex.get("weight_decay", 0) > 0 for ex in examples)


@pytest.mark.parametrize("name", NAMES)
def test_batched_rows_keep_their_own_scalars(name):
    """Four runs with their own lr, warm-up and beta in one array program: each row's y, x and
    scalars (weight_sum, lr_max) equal the reference run alone with that row's settings."""
    spec = registry.get(name)
    beta = "momentum" if name == "sf_sgd" else "beta1"
    batched = {"learning_rate": np.array([0.01, 0.05, 0.1, 0.02]), "warmup_steps": np.array([0.0, 3.0, 20.0, 5.0]),
               beta: np.array([0.9, 0.5, 0.3, 0.95]), "r": np.array([0.0, 1.0, 0.5, 2.0])}
    B, n = 4, 5
    p0 = np.random.default_rng(2).normal(size=(B, n))
    grads = [_grads((n,), seed=b) for b in range(B)]
    rows = list(_ours(name, batched, p0, lambda p, t: np.stack([grads[b](p[b], t) for b in range(B)])))
    for b in range(B):
        row = {k: float(v[b]) for k, v in batched.items()}
        expected = _reference_x(name, row, p0[b].copy(), grads[b])
        for t, ((y, state, bound), (ref_y, ref_x, _)) in enumerate(zip(rows, expected)):
            assert max_rel(y[b], ref_y) <= 1e-12, (b, t)
            assert max_rel(spec.eval_point(y, state, bound)[b], ref_x) <= 1e-12, (b, t)
        alone = list(_ours(name, row, p0[b].copy(), grads[b]))[-1][1]
        last = rows[-1][1]
        for k in spec.scalars:
            assert np.shape(last[k]) == (B, 1)
            assert float(last[k][b, 0]) == pytest.approx(alone[k], rel=1e-14), k


@pytest.mark.parametrize("case", SF_CASES, ids=case_id)
def test_coefficient_table_equals_the_step_by_step_scalars(case):
    """The fused race computes every step's constants at once (``t`` a column of steps, each
    scalar seeded with 1.0): they equal those of the steps one by one from a fresh state."""
    name, hp = case
    spec = registry.get(name)
    full = spec.validate(hp)
    T = 15
    table, _ = spec.coefficients(full, np.arange(1, T + 1)[:, None], full["learning_rate"] * np.ones((T, 1)),
                                 {k: 1.0 for k in spec.scalars})
    scalars = {k: spec.init(np.zeros(1), full)[k] for k in spec.scalars}
    for t in range(1, T + 1):
        step, scalars = spec.coefficients(full, t, full["learning_rate"], scalars)
        for k, v in step.items():
            column = np.broadcast_to(np.asarray(table[k], dtype=float), (T, 1))
            assert float(column[t - 1, 0]) == pytest.approx(float(v), rel=1e-12, abs=1e-300), (k, t)


def test_interpolation_weight_must_be_positive():
    """beta = 0 makes y = z: x cannot be recovered (schedulefree's eval() divides by it)."""
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \(0.0, 1.0\)"):
        registry.get("sf_sgd").validate({"momentum": 0.0})
    with pytest.raises(ValueError, match=r"beta1 must be a finite number in \(0.0, 1.0\)"):
        registry.get("sf_adamw").validate({"beta1": 0.0})
