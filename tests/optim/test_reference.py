"""Every rule against its reference implementation (the spec's ``reference``: torch.optim's
for-loop, foreach=False, or optax), step by step, with the reference's arguments built from each
case's explicit settings only, so our defaults meet the reference's own.

float64: max relative difference <= 1e-12; float32: <= 1e-5. 12 steps, so RAdam's
rectification (first at t = 6 with beta2 = 0.999) is exercised. Lion is also checked against a
loop written from the paper.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import optarena as oa
from optarena.optim import registry
from optarena.optim._spec import TORCH_PAIRS

from cases import CASES, case_id, max_rel, reference_defaults, reference_kwargs, reference_target, step_torch

torch = pytest.importorskip("torch")

STEPS = 12
SHAPES = [(), (7,), (3, 4)]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
TORCH_CASES = [c for c in CASES if registry.get(c[0]).reference.kind == "torch"]
OPTAX_CASES = [c for c in CASES if registry.get(c[0]).reference.kind == "optax"]


def _grad_fn(shape, dtype, seed=0):
    """A deterministic, param-dependent gradient: g = a * p + noise_t (the same for both sides)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=shape)
    noise = rng.normal(size=(STEPS,) + tuple(shape))
    return lambda p, t: (a * np.asarray(p, dtype=np.float64) + noise[t]).astype(dtype)






def _run_torch(name, explicit, p0, grad, dtype):
    """The reference stepped ``STEPS`` times on p0, built from the case's explicit settings."""
    # torch keeps scalar state (step, NAdam's mu_product) in the default dtype
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    tp = torch.nn.Parameter(torch.tensor(p0))
    cls = reference_target(name)
    kw = reference_kwargs(name, explicit)
    if "foreach" in inspect.signature(cls).parameters:
        kw["foreach"] = False  # torch's readable for-loop
    opt = cls([tp], **kw)
    return step_torch(opt, tp, grad, STEPS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_matches_reference(case, shape, dtype, torch_dtype):
    name, hp = case
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=shape).astype(dtype)
    grad = _grad_fn(shape, dtype)
    expected, tstate = _run_torch(name, hp, p0.copy(), grad, dtype)

    ours = oa.optimizer_class(name)(**hp, fused=False)
    p = p0.copy()
    for t in range(STEPS):
        ours.update(p, grad(p, t))
        assert p.dtype == dtype and p.shape == shape
        assert max_rel(p, expected[t]) <= TOL[dtype], f"step {t + 1}"
    # the state matches torch's buffers too
    ours_state = ours.state[0]
    for key, value in tstate.items():
        if key in ("step", "mu_product"):
            ours = ours_state[key]
            assert float(value) == pytest.approx(float(np.asarray(ours).reshape(-1)[0] if np.ndim(ours) else ours), rel=1e-6)
            continue
        assert key in ours_state, f"missing state {key}"
        assert max_rel(ours_state[key], value.numpy()) <= TOL[dtype], key


def _lion_reference(p, grads, lr, b1, b2, wd, maximize):
    """Lion as in Chen et al. 2023, Algorithm 2, with optax's placement of the decay."""
    m = np.zeros_like(p)
    out = []
    for g in grads(p):
        g = -g if maximize else g
        c = b1 * m + (1 - b1) * g
        p = p - lr * (np.sign(c) + wd * p)
        m = b2 * m + (1 - b2) * g
        out.append(p)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "lion"], ids=case_id)
def test_lion_matches_paper(case, dtype):
    _, hp = case
    full = registry.get("lion").validate(hp)
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(4, 5)).astype(dtype)
    gs = [rng.normal(size=(4, 5)).astype(dtype) for _ in range(STEPS)]
    ref = _lion_reference(p0.astype(np.float64), lambda _: iter(gs), full["learning_rate"], full["beta1"],
                          full["beta2"], full["weight_decay"], full["maximize"])
    opt = oa.Lion(**hp, fused=False)
    p = p0.copy()
    for t in range(STEPS):
        opt.update(p, gs[t])
        assert max_rel(p, ref[t]) <= TOL[dtype]


@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_batched_hyperparameters_match_torch_per_run(case, torch_dtype):
    """Four runs with four learning rates (and beta2s where the rule has one) step as one array
    program; each row equals torch run alone with that row's settings."""
    name, hp = case
    spec = registry.get(name)
    full = spec.validate(hp)
    lrs = full["learning_rate"] * np.array([0.5, 1.0, 2.0, 3.0])
    batched = {**hp, "learning_rate": lrs}
    if "beta2" in full:
        batched["beta2"] = np.array([0.99, 0.999, 0.95, 0.9])
    B, n = 4, 5
    rng = np.random.default_rng(2)
    p0 = rng.normal(size=(B, n))
    grads = [_grad_fn((n,), np.float64, seed=b) for b in range(B)]
    ours = oa.optimizer_class(name)(**batched)
    p = p0.copy()
    traj = []
    for t in range(STEPS):
        g = np.stack([grads[b](p[b], t) for b in range(B)])
        ours.update(p, g)
        traj.append(p.copy())
    for b in range(B):
        row = {k: (v[b] if isinstance(v, np.ndarray) else v) for k, v in batched.items()}
        expected, _ = _run_torch(name, row, p0[b].copy(), grads[b], np.float64)
        for t in range(STEPS):
            assert max_rel(traj[t][b], expected[t]) <= 1e-12, (b, t)


#: Declared differences on an empty parameter: what the reference raises where ours steps it as a
#: no-op. torch.optim.Adafactor divides by sqrt(p.numel()) (its RMS of p and of the update), a
#: Python ZeroDivisionError for 0 elements; ours has nothing to move and counts the step
#: (rules/adafactor.py's docstring declares it).
EMPTY_RAISES = {"adafactor": ZeroDivisionError}
#: Declared state-shape differences on an all-zero parameter: prodigyopt keeps p0 as a 0-d zero
#: there, ours a zero array of the parameter's flat shape (the same numbers; rules/prodigy.py).
ZERO_STATE_SHAPES = {("prodigy", "p0"): ()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_empty_arrays_step_like_the_reference(case, dtype, torch_dtype):
    """A (0,)-shaped parameter: nothing to compare element-wise, so check what can differ: shape,
    dtype, and the state's keys and shapes (or, where the reference raises: exactly the declared
    exception there, and a no-op step here)."""
    name, hp = case
    p0 = np.zeros((0,), dtype=dtype)
    ours = oa.optimizer_class(name)(**hp, fused=False)
    p = p0.copy()
    for t in range(STEPS):
        ours.update(p, np.zeros((0,), dtype=dtype))
    if name in EMPTY_RAISES:
        with pytest.raises(EMPTY_RAISES[name]):
            _run_torch(name, hp, p0.copy(), _grad_fn((0,), dtype), dtype)
        assert p.shape == (0,) and p.dtype == dtype and ours.state[0]["step"] == STEPS
        made = registry.get(name).init(p0, registry.get(name).validate(hp))
        assert {k: np.shape(v) for k, v in ours.state[0].items()} == {k: np.shape(v) for k, v in made.items()}
        return
    expected, tstate = _run_torch(name, hp, p0.copy(), _grad_fn((0,), dtype), dtype)
    assert p.shape == expected[-1].shape == (0,) and p.dtype == dtype
    for key, value in tstate.items():
        if key not in ("step", "mu_product"):
            if (name, key) in ZERO_STATE_SHAPES:  # declared: theirs is 0-d, ours the parameter's shape
                assert np.shape(value) == ZERO_STATE_SHAPES[name, key] and np.shape(ours.state[0][key]) == p.shape, key
            else:  # np.shape: LAMB's reference keeps its trust ratio as a Python float there
                assert np.shape(ours.state[0][key]) == np.shape(value), key


def _run_optax(name, explicit, p0, grads):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import optax

    spec = registry.get(name)
    fn = reference_target(name)
    kw = reference_kwargs(name, explicit)
    full = spec.validate(explicit)
    for arg, p in inspect.signature(fn).parameters.items():  # required arguments: ours (no default to meet)
        ours = next((k for k, v in spec.reference.rename.items() if v == arg), arg)
        if p.default is inspect.Parameter.empty and arg not in kw:
            kw[arg] = full[ours]
    sign = -1.0 if full.get("maximize") else 1.0  # optax only descends: ascend on -g
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        tx = fn(**kw)
        params = jnp.asarray(p0, dtype=jnp.float64)
        state = tx.init(params)
        out = []
        for g in grads:
            updates, state = tx.update(sign * jnp.asarray(g, dtype=jnp.float64), state, params)
            params = optax.apply_updates(params, updates)
            out.append(np.asarray(params))
        return out
    finally:
        jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("case", OPTAX_CASES, ids=case_id)
def test_matches_optax_reference(case):
    name, hp = case
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(4, 5))
    gs = [rng.normal(size=(4, 5)) for _ in range(STEPS)]
    expected = _run_optax(name, hp, p0, gs)
    opt = oa.optimizer_class(name)(**hp, fused=False)
    p = p0.copy()
    for t in range(STEPS):
        opt.update(p, gs[t])
        assert max_rel(p, expected[t]) <= 1e-12, f"step {t + 1}"


@pytest.mark.parametrize("name", [s.name for s in registry.all_specs() if s.reference is not None])
def test_defaults_are_the_references(name):
    """Every default of ours equals the reference constructor's default for that argument, unless
    the spec declares the difference in ``reference.fixed`` (the article's Momentum: lr 0.01, mu 0.9)."""
    spec = registry.get(name)
    ref_defaults = reference_defaults(name)
    compared = 0
    for h in spec.hypers:
        arg, index = TORCH_PAIRS.get(h.name, (None, 0))
        if arg is not None and len(ref_defaults.get(arg) or ()) > index:
            theirs, key = ref_defaults[arg][index], arg
        else:
            key = spec.reference.rename.get(h.name, h.name)
            if key not in ref_defaults:
                continue
            theirs = ref_defaults[key]
        if theirs is None and h.name in spec.reference.none_as:  # their None is this value of ours
            theirs = spec.reference.none_as[h.name]
        if key in spec.reference.fixed:
            theirs = spec.reference.fixed[key]
            theirs = theirs[index] if arg is not None else theirs
        compared += 1
        # theirs as our value: the reference's spelling (sophia's "rademacher", Muon's "original") read back
        theirs = {v: k for k, v in spec.reference.values.get(h.name, {}).items()}.get(theirs, theirs)
        assert h.default == theirs, f"{name}.{h.name}: ours {h.default!r}, {spec.reference.target}'s {theirs!r}"
    assert compared >= 2, f"{name}: only {compared} defaults compared with {spec.reference.target}"


@pytest.mark.parametrize("name", [s.name for s in registry.all_specs() if s.reference and s.reference.signature])
def test_written_reference_signature_is_the_installed_ones(name):
    """``optarena.torch``'s class of a rule torch.optim lacks takes its reference's constructor, as
    written on the spec: names, order, kinds and defaults of the installed reference."""
    from optarena.torch._signatures import _parse

    theirs = [p for p in inspect.signature(reference_target(name)).parameters.values()
              if p.name not in ("self", "params") and p.kind != p.VAR_KEYWORD]  # its **kwargs: ours refuses unknown names
    ours = _parse(registry.get(name).reference.signature)
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]
