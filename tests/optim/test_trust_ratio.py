"""LAMB and LARS: trust ratios taken per parameter, where the shared harness (one parameter per
run, test_reference.py) does not look: a list of parameters of very different norms against the
reference stepping a model of the same two tensors, the settings the reference takes differently
(LAMB's ``clamp`` is a class attribute there; LARS has no ``adapt_vectors``), parameters and
updates of norm 0 (trust ratio 1), and races on the NumPy engine.
Tolerances as test_reference.py: float64 <= 1e-12 relative, float32 <= 1e-5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import optarena as oa
from optarena.optim import registry
from optarena.optim.rules import lamb, lars

from cases import max_rel, reference_kwargs

torch = pytest.importorskip("torch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

STEPS = 12
TOL = {np.float64: 1e-12, np.float32: 1e-5}
REFERENCE = {"lamb": "Lamb", "lars": "LARS"}


def _reference(name, hp, tensors, cls=None):
    """The reference on ``tensors``, built from the explicit settings as the shared harness does."""
    kw = reference_kwargs(name, {k: v for k, v in hp.items() if k not in ("clamp", "adapt_vectors")})
    return (cls or getattr(pytorch_optimizer, REFERENCE[name]))(tensors, **kw, foreach=False)


def _run(name, hp, arrays, dtype, cls=None, shapes=None):
    """Ours (the article's class on the list ``arrays``) and the reference (one tensor each,
    reshaped to ``shapes`` when given), stepped together on g = a * p + noise; every step compared."""
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(5)
    coef = [rng.uniform(0.5, 2.0, size=np.shape(a)) for a in arrays]
    noise = [rng.normal(size=(STEPS,) + np.shape(a)) * np.linalg.norm(a) for a in arrays]
    ours = [np.array(a, dtype=dtype) for a in arrays]
    shapes = shapes or [np.shape(a) for a in arrays]
    tps = [torch.nn.Parameter(torch.tensor(np.array(a, dtype=dtype).reshape(s))) for a, s in zip(arrays, shapes)]
    opt = oa.optimizer_class(name)(**hp, fused=False)
    ref = _reference(name, hp, tps, cls)
    for t in range(STEPS):
        grads = [(c * p.astype(np.float64) + n[t]).astype(dtype) for c, p, n in zip(coef, ours, noise)]
        opt.update(ours, grads)
        for tp, g in zip(tps, grads):
            tp.grad = torch.tensor(g.reshape(tp.shape))
        ref.step()
        for k, (p, tp) in enumerate(zip(ours, tps)):
            assert p.dtype == dtype
            assert max_rel(p, tp.detach().numpy().reshape(p.shape)) <= TOL[dtype], (t + 1, k)
    return opt, ref, tps


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,hp", [("lamb", {"learning_rate": 0.05}), ("lamb", {"weight_decay": 0.1, "weight_decouple": False}),
                                     ("lars", {"learning_rate": 0.5, "weight_decay": 0.1}),
                                     ("lars", {"learning_rate": 0.5, "trust_coefficient": 0.05, "nesterov": True})])
def test_each_parameter_has_its_own_trust_ratio(name, hp, dtype):
    """Two matrices 10^4 apart in norm (LAMB's larger one past the clamp, 10) and a bias vector,
    stepped by one optimizer: each moves by its own ratio, as in the reference's model."""
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 4)) * 30.0, rng.normal(size=(4, 2)) * 0.003, rng.normal(size=(5,))]
    opt, ref, tps = _run(name, hp, arrays, dtype)
    if name == "lamb":
        ratios = [float(ref.state[tp]["trust_ratio"]) for tp in tps]
        assert ratios[1] < ratios[0] / 100  # really different ratios, each its own
        for st, tp in zip(opt.state, tps):
            for key in lamb.NORMS:
                assert max_rel(st[key], ref.state[tp][key].numpy()) <= TOL[dtype], key


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=str)
@pytest.mark.parametrize("hp", lamb.CLAMP_EXAMPLES, ids=str)
def test_lamb_clamp_is_the_references_class_attribute(hp, shape, dtype):
    clamped = type("Clamped", (pytorch_optimizer.Lamb,), {"clamp": hp["clamp"]})
    p0 = np.random.default_rng(1).normal(size=shape) * 3.0
    _run("lamb", hp, [p0], dtype, cls=clamped)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(), (7,)], ids=str)
@pytest.mark.parametrize("hp", lars.VECTOR_EXAMPLES, ids=str)
def test_lars_adapt_vectors_is_the_reference_on_a_matrix(hp, shape, dtype):
    """adapt_vectors: a 0-d or 1-d parameter steps as the reference steps the same numbers as a
    (1, n) matrix (which it adapts); without it, as the reference steps the vector (plain SGD)."""
    p0 = np.random.default_rng(1).normal(size=shape)
    _run("lars", hp, [p0], dtype, shapes=[(1, max(1, p0.size))])
    plain = {**hp, "adapt_vectors": False}
    _run("lars", plain, [p0], dtype)


def test_lars_batched_rows_adapt_each_run():
    """A race's rows with adapt_vectors and per-run settings: each row is the reference on a (1, n)."""
    B, n = 3, 4
    hp = {"adapt_vectors": True, "learning_rate": np.array([0.1, 0.5, 1.0]), "trust_coefficient": np.array([0.01, 0.1, 0.02]),
          "momentum": np.array([0.9, 0.0, 0.5]), "weight_decay": np.array([0.0, 0.1, 0.01])}
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(B, n)) * np.array([[1.0], [10.0], [0.1]])
    gs = rng.normal(size=(STEPS, B, n))
    opt = oa.LARS(**hp)
    p = p0.copy()
    traj = []
    for t in range(STEPS):
        opt.update(p, gs[t] + p)
        traj.append(p.copy())
    torch.set_default_dtype(torch.float64)
    for b in range(B):
        row = {k: (float(v[b]) if isinstance(v, np.ndarray) else v) for k, v in hp.items()}
        tp = torch.nn.Parameter(torch.tensor(p0[b:b + 1].copy()))
        ref = _reference("lars", row, [tp])
        for t in range(STEPS):
            tp.grad = torch.tensor(gs[t, b:b + 1]) + tp.detach()
            ref.step()
            assert max_rel(traj[t][b], tp.detach().numpy()[0]) <= 1e-12, (b, t)


@pytest.mark.parametrize("name", ["lamb", "lars"])
@pytest.mark.parametrize("zero", ["param", "grad"])
def test_zero_norms_give_trust_ratio_one(name, zero):
    """p = 0 (LAMB's ||p|| and LARS's ||p||) or g = 0 (LAMB's update, LARS's denominator without
    decay): ratio 1, no division by 0, as the reference; LAMB keeps the 1 in its state."""
    torch.set_default_dtype(torch.float64)
    p0 = np.zeros((3, 4)) if zero == "param" else np.random.default_rng(2).normal(size=(3, 4))
    g = np.random.default_rng(4).normal(size=(3, 4)) if zero == "param" else np.zeros((3, 4))
    hp: dict[str, Any] = {"learning_rate": 0.1}
    opt = oa.optimizer_class(name)(**hp)
    p = p0.copy()
    tp = torch.nn.Parameter(torch.tensor(p0.copy()))
    ref = _reference(name, hp, [tp])
    with np.errstate(all="raise"):
        opt.update(p, g.copy())
    tp.grad = torch.tensor(g)
    ref.step()
    assert max_rel(p, tp.detach().numpy()) <= 1e-12
    if name == "lamb":
        assert opt.state is not None
        assert float(opt.state[0]["trust_ratio"]) == float(ref.state[tp]["trust_ratio"]) == 1.0
    if zero == "param":  # g != 0 moved p off 0
        assert np.any(p != 0)


@pytest.mark.parametrize("racer", [("lamb", {"learning_rate": 0.05}), ("lamb", {"learning_rate": 0.02, "clamp": 1.0}),
                                   ("lars", {"learning_rate": 0.5, "adapt_vectors": True, "trust_coefficient": 0.05}),
                                   ("lars", {"learning_rate": 1e-3})], ids=str)
def test_races_on_the_numpy_engine(racer):
    """A race steps each run as its own parameter: finite losses, and each run equals the class
    stepped alone from its start (its norms its own, not the batch's)."""
    from optarena import landscapes
    from optarena.arena import Racer, race

    name, hp = racer
    starts = [(-1.2, 1.0), (0.5, -0.5), (2.0, 2.0)]
    res = race("rosenbrock", [Racer(name, hp)], starts=starts, steps=20, engine="numpy")
    assert np.all(np.isfinite(res.losses))
    ls = landscapes.get("rosenbrock")
    for s, start in enumerate(starts):
        opt = oa.optimizer_class(name)(**hp)
        p = np.array(start)
        for k in range(20):
            opt.update(p, ls.gradient(p))
            np.testing.assert_allclose(res.positions[0, s, k + 1], p, rtol=1e-13, atol=1e-13)
    if name == "lars" and not hp.get("adapt_vectors"):  # a run is a vector: the reference's plain SGD
        sgd = race("rosenbrock", [Racer("momentum", {"learning_rate": hp["learning_rate"], "momentum": 0.9})],
                   starts=starts, steps=20, engine="numpy")
        np.testing.assert_allclose(res.positions, sgd.positions, rtol=1e-13, atol=1e-13)


def test_spec_shape():
    for name, family in (("lamb", "adaptive"), ("lars", "classic")):
        spec = registry.get(name)
        assert spec.scope == "parameter" and spec.cell is None and spec.family == family
