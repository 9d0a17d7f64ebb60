"""ASGD, Rprop and Adafactor against torch.optim where the shared harness (cases.py,
test_reference.py) does not reach: Rprop's ``etas``/``step_sizes`` and Adafactor's ``eps`` pairs,
NaN gradients, batched settings the harness leaves at one value, ASGD under an lr schedule (its eta
is made from the previous step's lr), and Adafactor on vectors, 0-d, matrices and 3-D, batched or not.
Same tolerances as test_reference.py: float64 <= 1e-12 relative, float32 <= 1e-5.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import optarena as oa
from optarena.optim import registry
from optarena.optim.rules import adafactor, rprop

from cases import max_rel, step_torch

torch = pytest.importorskip("torch")

STEPS = 12
SHAPES = [(), (7,), (3, 4)]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
# torch's keyword pairs -> our names (Adafactor's eps1 is not ours: torch's default None stays)
PAIRS = {"etas": ("etaminus", "etaplus"), "step_sizes": ("step_size_min", "step_size_max"), "eps": ("epsilon1", "epsilon2")}




def _grads(shape, dtype, seed=0, nan_at=None):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=shape)
    noise = rng.normal(size=(STEPS,) + tuple(shape))
    if nan_at is not None:
        noise[nan_at].flat[0] = np.nan

    return lambda p, t: (a * np.asarray(p, dtype=np.float64) + noise[t]).astype(dtype)


def torch_kwargs(name, hp):
    """Our settings as torch's keywords: lr, and the pairs built on torch's own defaults."""
    sig = inspect.signature(getattr(torch.optim, registry.get(name).torch.name)).parameters
    kw = {("lr" if k == "learning_rate" else k): v for k, v in hp.items() if not any(k in ks for ks in PAIRS.values())}
    for key, names in PAIRS.items():
        if key in sig and any(n in hp for n in names):
            kw[key] = tuple(hp.get(n, d) for n, d in zip(names, sig[key].default))
    return kw




def _run_torch(name, hp, p0, grad, dtype):
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    tp = torch.nn.Parameter(torch.tensor(p0))
    opt = getattr(torch.optim, registry.get(name).torch.name)([tp], **torch_kwargs(name, hp), foreach=False)
    return step_torch(opt, tp, grad, STEPS)


def _run_ours(name, hp, p0, grad, fused=False):
    opt = oa.optimizer_class(name)(**hp, fused=fused)
    p = p0.copy()
    out = []
    for t in range(STEPS):
        opt.update(p, grad(p, t))
        out.append(p.copy())
    return out, opt.state[0]


def test_torch_kwargs_builds_the_pairs():
    assert torch_kwargs("rprop", {"etaplus": 1.5, "step_size_max": 2.0, "learning_rate": 0.1}) == \
        {"lr": 0.1, "etas": (0.5, 1.5), "step_sizes": (1e-6, 2.0)}
    # the pairs' defaults are torch's (the shared test compares only lr and maximize)
    sig = inspect.signature(torch.optim.Rprop).parameters
    spec = registry.get("rprop")
    assert (spec.hyper("etaminus").default, spec.hyper("etaplus").default) == sig["etas"].default
    assert (spec.hyper("step_size_min").default, spec.hyper("step_size_max").default) == sig["step_sizes"].default


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("hp", rprop.PAIR_EXAMPLES, ids=str)
def test_rprop_pairs_match_torch(hp, shape, dtype, torch_dtype):
    p0 = np.random.default_rng(1).normal(size=shape).astype(dtype)
    grad = _grads(shape, dtype)
    expected, tstate = _run_torch("rprop", hp, p0, grad, dtype)
    ours, state = _run_ours("rprop", hp, p0, grad)
    for t in range(STEPS):
        assert max_rel(ours[t], expected[t]) <= TOL[dtype], f"step {t + 1}"
    for key in ("prev", "step_size"):
        assert max_rel(state[key], tstate[key].numpy()) <= TOL[dtype], key


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("hp", rprop.PAIR_EXAMPLES, ids=str)
def test_rprop_pairs_fused_equals_readable(hp, dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(37, 29)).astype(dtype)
    gs = [rng.normal(size=p0.shape).astype(dtype) for _ in range(STEPS)]
    gs[3][0, :5] = 0.0
    gs[5][1, :3] = np.nan
    ref, s_ref = _run_ours("rprop", hp, p0, lambda p, t: gs[t], fused=False)
    fast, s_fast = _run_ours("rprop", hp, p0, lambda p, t: gs[t], fused=True)
    np.testing.assert_array_max_ulp(fast[-1], ref[-1], maxulp=0)
    for key in ("prev", "step_size"):
        np.testing.assert_array_equal(s_fast[key], s_ref[key])


@pytest.mark.parametrize("fused", [False, True], ids=["readable", "fused"])
@pytest.mark.parametrize("name", ["rprop", "asgd"])
def test_nan_gradient_as_torch(name, fused, torch_dtype):
    """A NaN in one gradient: torch's Rprop takes sign(NaN) = 0 (that element stays, its step size
    too, and prev keeps the NaN); ASGD's NaN spreads to that element. Ours: the same, NaN for NaN."""
    if fused:
        pytest.importorskip("numba")
    shape = (7,)
    p0 = np.random.default_rng(1).normal(size=shape)
    grad = _grads(shape, np.float64, nan_at=4)
    expected, tstate = _run_torch(name, {}, p0, grad, np.float64)
    ours, state = _run_ours(name, {}, p0, grad, fused=fused)
    for t in range(STEPS):
        np.testing.assert_allclose(ours[t], expected[t], rtol=1e-12, atol=0, equal_nan=True, err_msg=f"step {t + 1}")
    for key, value in tstate.items():
        if key != "step":
            np.testing.assert_allclose(state[key], value.numpy(), rtol=1e-12, atol=0, equal_nan=True, err_msg=key)


BATCHED = {
    "rprop": {"etaminus": np.array([0.3, 0.5, 0.7, 0.9]), "etaplus": np.array([1.1, 1.2, 1.5, 2.0]),
              "step_size_min": np.array([1e-6, 1e-3, 1e-2, 0.0]), "step_size_max": np.array([50.0, 0.05, 0.1, 1.0]),
              "learning_rate": np.array([0.01, 0.02, 0.05, 0.1])},
    "asgd": {"lambd": np.array([1e-4, 0.1, 0.5, 1.0]), "alpha": np.array([0.75, 0.5, 1.0, 0.25]),
             "t0": np.array([1e6, 0.0, 3.0, 5.5]), "weight_decay": np.array([0.0, 0.1, 0.0, 0.2]),
             "learning_rate": np.array([0.01, 0.05, 0.1, 0.02])},
}


@pytest.mark.parametrize("name", sorted(BATCHED))
def test_every_setting_batched_matches_torch_per_run(name, torch_dtype):
    """Four runs, every numeric setting different per run, as one array program (the race
    engine's way); each row equals torch run alone with its settings."""
    B, n = 4, 5
    hp = BATCHED[name]
    p0 = np.random.default_rng(2).normal(size=(B, n))
    grads = [_grads((n,), np.float64, seed=b) for b in range(B)]
    traj, _ = _run_ours(name, hp, p0, lambda p, t: np.stack([grads[b](p[b], t) for b in range(B)]))
    for b in range(B):
        expected, _ = _run_torch(name, {k: float(v[b]) for k, v in hp.items()}, p0[b].copy(), grads[b], np.float64)
        for t in range(STEPS):
            assert max_rel(traj[t][b], expected[t]) <= 1e-12, (b, t)


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()


def _train(model, opt, sched=None, steps=STEPS):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = torch.tensor(rng.normal(size=(16, 8)))
        y = torch.tensor(rng.integers(0, 3, size=16))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("name,hp", [("asgd", {"lambd": 0.05, "t0": 4.0, "learning_rate": 0.1}),
                                     ("rprop", {"learning_rate": 0.05})], ids=["asgd", "rprop"])
def test_lr_scheduler_drives_it_as_torch(name, hp, torch_dtype):
    """optarena.torch under StepLR: ASGD's eta comes from the lr of the step before (torch keeps it
    in the state), Rprop reads lr only when the state is made."""
    import optarena.torch as ot

    torch.set_default_dtype(torch.float64)
    m1, m2 = _model(), _model()
    ours = ot.optimizer_class(name)(m1.parameters(), **torch_kwargs(name, hp))
    ref = getattr(torch.optim, registry.get(name).torch.name)(m2.parameters(), **torch_kwargs(name, hp), foreach=False)
    _train(m1, ours, torch.optim.lr_scheduler.StepLR(ours, step_size=3, gamma=0.5))
    _train(m2, ref, torch.optim.lr_scheduler.StepLR(ref, step_size=3, gamma=0.5))
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert max_rel(p.detach().numpy(), q.detach().numpy()) <= 1e-12
        for k, v in ref.state[q].items():
            assert max_rel(np.asarray(ours.state[p][k]), v.numpy()) <= 1e-12, k


def test_bridge_takes_rprop_pairs_as_torch(torch_dtype):
    import optarena.torch as ot

    torch.set_default_dtype(torch.float64)
    kw = {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)}
    m1, m2 = _model(), _model()
    ours, ref = ot.Rprop(m1.parameters(), **kw), torch.optim.Rprop(m2.parameters(), **kw, foreach=False)
    _train(m1, ours)
    _train(m2, ref)
    assert set(ref.param_groups[0]) <= set(ours.param_groups[0])
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert max_rel(p.detach().numpy(), q.detach().numpy()) <= 1e-12


# ---------------------------------------------------------------- Adafactor


def test_adafactor_defaults_are_torchs():
    sig = inspect.signature(torch.optim.Adafactor).parameters
    spec = adafactor.SPEC
    assert spec.hyper("learning_rate").default == sig["lr"].default
    assert spec.hyper("epsilon2").default == sig["eps"].default[1] and sig["eps"].default[0] is None
    for name in ("beta2_decay", "d", "weight_decay", "maximize"):
        assert spec.hyper(name).default == sig[name].default, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 3, 5)], ids=str)
@pytest.mark.parametrize("hp", adafactor.SPEC.examples + adafactor.PAIR_EXAMPLES, ids=str)
def test_adafactor_matches_torch(hp, shape, dtype, torch_dtype):
    p0 = np.random.default_rng(1).normal(size=shape).astype(dtype)
    grad = _grads(shape, dtype)
    expected, tstate = _run_torch("adafactor", hp, p0, grad, dtype)
    ours, state = _run_ours("adafactor", hp, p0, grad)
    for t in range(STEPS):
        assert ours[t].dtype == dtype
        assert max_rel(ours[t], expected[t]) <= TOL[dtype], f"step {t + 1}"
    assert set(state) == set(tstate)  # variance, or row_var and col_var
    for key, value in tstate.items():
        if key != "step":
            assert np.shape(state[key]) == tuple(value.shape) and state[key].dtype == dtype, key
            assert max_rel(state[key], value.numpy()) <= TOL[dtype], key


@pytest.mark.parametrize("shape", [(5,), (3, 4)], ids=["vectors", "matrices"])
def test_adafactor_batched_rows_match_torch(shape, torch_dtype):
    """A leading batch axis (settings as (B,) arrays): each row is one parameter, its norms its
    own, a matrix row factored over its own axes, and equals torch run alone with its settings."""
    B = 4
    hp = {"learning_rate": np.array([0.01, 0.5, 0.05, 0.2]), "beta2_decay": np.array([-0.8, -0.5, -1.0, -0.3]),
          "epsilon2": np.array([1e-3, 0.1, 1e-6, 1e-3]), "d": np.array([1.0, 1.5, 1.0, 3.0]),
          "weight_decay": np.array([0.0, 0.1, 0.0, 0.05])}
    p0 = np.random.default_rng(2).normal(size=(B,) + shape)
    grads = [_grads(shape, np.float64, seed=b) for b in range(B)]
    traj, state = _run_ours("adafactor", hp, p0, lambda p, t: np.stack([grads[b](p[b], t) for b in range(B)]))
    for b in range(B):
        expected, tstate = _run_torch("adafactor", {k: float(v[b]) for k, v in hp.items()}, p0[b].copy(), grads[b],
                                      np.float64)
        for t in range(STEPS):
            assert max_rel(traj[t][b], expected[t]) <= 1e-12, (b, t)
        for key, value in tstate.items():
            if key != "step":
                assert max_rel(state[key][b], value.numpy()) <= 1e-12, (b, key)


def test_adafactor_empty_parameter_is_a_no_op():
    """torch raises ZeroDivisionError on a 0-element parameter; ours steps it as nothing."""
    opt = oa.optimizer_class("adafactor")()
    p = np.zeros((0, 3))
    opt.update(p, np.zeros((0, 3)))
    assert p.shape == (0, 3) and opt.state[0]["step"] == 1
    assert opt.state[0]["row_var"].shape == (0, 1) and opt.state[0]["col_var"].shape == (1, 3)


def test_adafactor_races_on_the_numpy_engine():
    """Races step it batched (one row per run): each run equals the class stepped alone."""
    from optarena import landscapes
    from optarena.arena import Racer, race

    ls = landscapes.get("booth")
    starts = [(-1.0, 2.0), (0.5, -0.5)]
    hp = {"learning_rate": 0.3, "d": 1.5}
    res = race(ls, [Racer("adafactor", hp), Racer("adafactor", {"learning_rate": 0.05})], starts=starts, steps=30,
               engine="numpy")
    for r, settings in enumerate((hp, {"learning_rate": 0.05})):
        for s, start in enumerate(starts):
            opt = oa.optimizer_class("adafactor")(**settings)
            p = np.array(start)
            for k in range(30):
                opt.update(p, ls.gradient(p))
                np.testing.assert_allclose(res.positions[r, s, k + 1], p, rtol=1e-13, atol=1e-13)
