"""AdaBelief, Yogi, ADOPT, Adan, AdEMAMix and Signum beyond the automatic reference tests:
each against a loop written from its paper's algorithm, and the options the case table cannot
express (AdEMAMix's warm-up, Adan's maximize) against pytorch-optimizer directly."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optarena as oa
from optarena.errors import UsageError
from optarena.optim import registry

STEPS = 12


def _data(shape=(4, 5), seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), [rng.normal(size=shape) for _ in range(STEPS)]


def _ours(name, hp, p0, grads, fused=False):
    opt = oa.optimizer_class(name)(**hp, fused=fused)
    p = p0.copy()
    out = []
    for g in grads:
        opt.update(p, g)
        out.append(p.copy())
    return out, opt.state[0]


def _close(a, b, tol=1e-12):
    for t, (x, y) in enumerate(zip(a, b)):
        scale = max(float(np.max(np.abs(y))), 1e-30)
        assert float(np.max(np.abs(x - y))) <= tol * scale, f"step {t + 1}"


# ------------------------------------------------------------------ the papers' algorithms, as written


def _adabelief_paper(p, grads, lr, b1, b2, eps):
    """Zhuang et al. 2020, Algorithm 2 (bias-corrected; eps inside s_t and in the denominator)."""
    m, s, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        m_hat, s_hat = m / (1 - b1**t), s / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(s_hat) + eps)
        out.append(p)
    return out


def _yogi_paper(p, grads, lr, b1, b2, eps, v0):
    """Zaheer et al. 2018, Algorithm 2, with Adam's bias corrections (which the paper leaves out for clarity)."""
    m, v, out = np.full_like(p, v0), np.full_like(p, v0), []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g**2) * g**2
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        out.append(p)
    return out


def _adopt_paper(p, grads, lr, b1, b2, eps):
    """Taniguchi et al. 2024, Algorithm 2 (clipped at t^(1/4)); the first gradient only starts v."""
    m, v, out = np.zeros_like(p), grads[0] ** 2, [p]
    for t, g in enumerate(grads[1:], 2):
        c = t**0.25
        m = b1 * m + (1 - b1) * np.clip(g / np.maximum(np.sqrt(v), eps), -c, c)
        p = p - lr * m
        v = b2 * v + (1 - b2) * g**2
        out.append(p)
    return out


def _adan_paper(p, grads, lr, b1, b2, b3, eps, wd):
    """Xie et al., Algorithm 1 in the paper's own betas (1 minus the code's), with the authors'
    bias corrections and the proximal weight decay."""
    B1, B2, B3 = 1 - b1, 1 - b2, 1 - b3  # the paper's
    m, v, n, out, prev = None, None, None, [], None
    for t, g in enumerate(grads, 1):
        d = np.zeros_like(g) if prev is None else g - prev
        m = B1 * g if m is None else (1 - B1) * m + B1 * g
        v = B2 * d if v is None else (1 - B2) * v + B2 * d
        n = B3 * (g + (1 - B2) * d) ** 2 if n is None else (1 - B3) * n + B3 * (g + (1 - B2) * d) ** 2
        eta = lr / (np.sqrt(n / (1 - b3**t)) + eps)
        p = (p - eta * (m / (1 - b1**t) + (1 - B2) * v / (1 - b2**t))) / (1 + lr * wd)
        prev = g
        out.append(p)
    return out


def _ademamix_paper(p, grads, lr, b1, b2, b3, alpha, eps, wd, T=0):
    """Pagliardini et al. 2024, Algorithm 1, with its alpha and beta3 schedulers over T steps."""
    m1, m2, v, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, 1):
        a, b = alpha, b3
        if T:
            a = min(t * alpha / T, alpha)
            b = min(math.exp(math.log(b1) * math.log(b3) / ((1 - t / T) * math.log(b3) + t / T * math.log(b1))), b3)
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b * m2 + (1 - b) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * ((m1 / (1 - b1**t) + a * m2) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p)
        out.append(p)
    return out


def _signum_paper(p, grads, lr, mu):
    """Bernstein et al. 2018, Algorithm 3 (Signum); mu = 0 is Algorithm 1 (signSGD)."""
    m, out = np.zeros_like(p), []
    for g in grads:
        m = mu * m + (1 - mu) * g
        p = p - lr * np.sign(m)
        out.append(p)
    return out


PAPER_CASES = [
    ("adabelief", {"learning_rate": 0.01}, lambda p, gs, h: _adabelief_paper(p, gs, 0.01, h["beta1"], h["beta2"], h["epsilon"])),
    ("adabelief", {"learning_rate": 0.01, "epsilon": 1e-6, "beta2": 0.99},
     lambda p, gs, h: _adabelief_paper(p, gs, 0.01, h["beta1"], 0.99, 1e-6)),
    ("yogi", {"initial_accumulator": 0.3}, lambda p, gs, h: _yogi_paper(p, gs, h["learning_rate"], 0.9, 0.999, 1e-3, 0.3)),
    ("adopt", {"learning_rate": 0.01, "epsilon": 0.1}, lambda p, gs, h: _adopt_paper(p, gs, 0.01, 0.9, 0.9999, 0.1)),
    ("adan", {"learning_rate": 0.01}, lambda p, gs, h: _adan_paper(p, gs, 0.01, 0.98, 0.92, 0.99, 1e-8, 0.0)),
    ("adan", {"learning_rate": 0.01, "weight_decay": 0.5, "beta2": 0.7},
     lambda p, gs, h: _adan_paper(p, gs, 0.01, 0.98, 0.7, 0.99, 1e-8, 0.5)),
    ("ademamix", {"learning_rate": 0.01, "weight_decay": 0.1},
     lambda p, gs, h: _ademamix_paper(p, gs, 0.01, 0.9, 0.999, 0.9999, 5.0, 1e-8, 0.1)),
    ("ademamix", {"learning_rate": 0.01, "warmup_steps": 7.0, "beta3": 0.999},
     lambda p, gs, h: _ademamix_paper(p, gs, 0.01, 0.9, 0.999, 0.999, 5.0, 1e-8, 0.0, T=7)),
    ("signum", {"learning_rate": 0.01}, lambda p, gs, h: _signum_paper(p, gs, 0.01, 0.9)),
    ("signum", {"learning_rate": 0.01, "momentum": 0.0}, lambda p, gs, h: _signum_paper(p, gs, 0.01, 0.0)),
]


@pytest.mark.parametrize("fused", [False, True], ids=["readable", "fused"])
@pytest.mark.parametrize("case", PAPER_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_matches_the_papers_algorithm(case, fused):
    name, hp, paper = case
    p0, grads = _data()
    ours, _ = _ours(name, hp, p0, grads, fused=fused)
    _close(ours, paper(p0, grads, registry.get(name).validate(hp)), tol=1e-12)


# ------------------------------------------------------------------ what the case table cannot pass to the reference


def _reference(cls_name, kwargs, p0, grads):
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tp = torch.nn.Parameter(torch.tensor(p0))
        opt = getattr(po, cls_name)([tp], foreach=False, **kwargs)
        out = []
        for g in grads:
            tp.grad = torch.tensor(g.copy())
            opt.step()
            out.append(tp.detach().numpy().copy())
        return out
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("T", [5.0, 30.0])
def test_ademamix_warmup_matches_t_alpha_beta3(T):
    p0, grads = _data()
    hp = {"learning_rate": 0.01, "warmup_steps": T, "beta3": 0.999, "alpha": 3.0}
    expected = _reference("AdEMAMix", {"lr": 0.01, "t_alpha_beta3": T, "betas": (0.9, 0.999, 0.999), "alpha": 3.0,
                                       "weight_decouple": True}, p0, grads)
    for fused in (False, True):
        ours, _ = _ours("ademamix", hp, p0, grads, fused=fused)
        _close(ours, expected)


def test_ademamix_batched_warmup_rows_match_their_own_runs():
    """warmup on in some runs and off in others, one array program: each row as run alone."""
    p0, grads = _data((3, 6))
    T = np.array([0.0, 4.0, 20.0])
    batched, _ = _ours("ademamix", {"learning_rate": 0.01, "warmup_steps": T, "beta3": 0.99}, p0, grads)
    for b in range(3):
        alone, _ = _ours("ademamix", {"learning_rate": 0.01, "warmup_steps": float(T[b]), "beta3": 0.99}, p0[b],
                         [g[b] for g in grads])
        _close([x[b] for x in batched], alone, tol=1e-15)


def test_ademamix_warmup_refuses_zero_betas():
    with pytest.raises(UsageError, match="warmup_steps > 0 needs beta1 > 0"):
        oa.optimizer_class("ademamix")(warmup_steps=5.0, beta1=0.0)
    oa.optimizer_class("ademamix")(beta1=0.0)  # without warm-up beta1 = 0 is fine


def test_adan_maximize_is_descent_on_the_negated_gradient():
    """The reference with maximize=True starts its previous gradient before the flip (first
    difference -2 g, not 0); ours equals the reference descending on -g, as the paper has it."""
    p0, grads = _data()
    expected = _reference("Adan", {"lr": 0.01}, p0, [-g for g in grads])
    for fused in (False, True):
        ours, state = _ours("adan", {"learning_rate": 0.01, "maximize": True}, p0, grads, fused=fused)
        _close(ours, expected)
        np.testing.assert_array_equal(state["previous_grad"], grads[-1])  # held negated: -(-g)


@pytest.mark.parametrize("name, hp", [("adan", {"learning_rate": 0.01, "maximize": True, "weight_decay": 0.1}),
                                      ("ademamix", {"learning_rate": 0.01, "warmup_steps": 5.0, "maximize": True}),
                                      ("adabelief", {"rectify": True, "ams_bound": True, "weight_decay": 0.1})])
def test_fused_equals_readable_beyond_the_examples(name, hp):
    p0, grads = _data((37, 29), seed=5)
    for dtype in (np.float64, np.float32):
        p0d, gd = p0.astype(dtype), [g.astype(dtype) for g in grads]
        a, sa = _ours(name, hp, p0d, gd, fused=False)
        b, sb = _ours(name, hp, p0d, gd, fused=True)
        np.testing.assert_array_max_ulp(b[-1], a[-1], maxulp=2)
        for k in registry.get(name).slots:
            np.testing.assert_array_max_ulp(sb[k], sa[k], maxulp=2)


def test_signum_zero_momentum_in_a_buffered_batch_is_signsgd():
    """momentum 0 next to momentum 0.9 (so a buffer exists): that row steps by sign(g) exactly."""
    p0, grads = _data((2, 8))
    batched, _ = _ours("signum", {"learning_rate": 0.01, "momentum": np.array([0.0, 0.9])}, p0, grads)
    alone, state = _ours("signsgd", {"learning_rate": 0.01, "momentum": 0.0}, p0[0], [g[0] for g in grads])
    assert "momentum_buffer" not in state
    for x, y in zip(batched, alone):
        np.testing.assert_array_equal(x[0], y)


def test_yogi_batched_initial_accumulator():
    p0, grads = _data((2, 5))
    batched, _ = _ours("yogi", {"initial_accumulator": np.array([1e-6, 0.5])}, p0, grads)
    for b, v0 in enumerate((1e-6, 0.5)):
        alone, _ = _ours("yogi", {"initial_accumulator": v0}, p0[b], [g[b] for g in grads])
        _close([x[b] for x in batched], alone, tol=1e-15)


def test_ademamix_schedules_vectorised_equal_scalar():
    """The race engine's (steps, settings) table of alpha_t and beta3_t equals the per-step values."""
    from optarena.optim.rules import ademamix

    hp = {"alpha": np.array([5.0, 2.0]), "beta1": 0.9, "beta3": 0.9999, "warmup_steps": np.array([0.0, 20.0])}
    a, b = ademamix.schedules(hp, np.arange(1, 31)[:, None])
    for k in (1, 10, 20, 30):
        for h in range(2):
            one = {"alpha": float(hp["alpha"][h]), "beta1": 0.9, "beta3": 0.9999, "warmup_steps": float(hp["warmup_steps"][h])}
            assert (a[k - 1, h], b[k - 1, h]) == pytest.approx(ademamix.schedules(one, k), rel=1e-15)
