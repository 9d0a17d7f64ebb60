"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule (torch.optim.NAdam).

    mu_t = b1 (1 - 0.5 * 0.96^(t psi)),   Pi_t = prod_{i<=t} mu_i
    m, v as in Adam;  d = sqrt(v / (1 - b2^t)) + eps
    p_t = p - lr (1 - mu_t) / (1 - Pi_t) * g / d - lr mu_{t+1} / (1 - Pi_t mu_{t+1}) * m / d

Dozat, Incorporating Nesterov Momentum into Adam (ICLR 2016 workshop).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, FIRST_MOMENT, L2_LINE, Line, SECOND_MOMENT, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, beta_hyper, bias_correction,
    cell_adam_moments, decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    state = zeros_state(params, state_arrays(hp))
    state["mu_product"] = 1.0
    return state


def _schedule(hp: HyperValues, t: int, mu_product: Any) -> tuple[Any, Any, Any]:
    b1, psi = hp["beta1"], hp["momentum_decay"]
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    mu_product = mu_product * mu
    lr = hp["learning_rate"]
    return mu_product, -lr * (1.0 - mu) / (1.0 - mu_product), (-lr * mu_next) / (1.0 - mu_product * mu_next)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["decoupled_weight_decay"])
    t = state["step"] + 1
    mu_product, c_g, c_m = _schedule(hp, t, state["mu_product"])
    m = lerp(state["exp_avg"], g, 1 - hp["beta1"])
    v = hp["beta2"] * state["exp_avg_sq"] + (1 - hp["beta2"]) * g * g
    denom = sqrt(v / bias_correction(hp["beta2"], t)) + hp["epsilon"]
    p = params + c_g * (g / denom)
    p = p + c_m * (m / denom)
    return p, {"step": t, "exp_avg": m, "exp_avg_sq": v, "mu_product": mu_product}


SLOTS = ("exp_avg", "exp_avg_sq")
SCALARS = ("mu_product",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-step constants; with ``t`` an array of consecutive steps down axis 0, the running
    product of mu is taken along it."""
    b1, b2, psi, wd = hp["beta1"], hp["beta2"], hp["momentum_decay"], hp["weight_decay"]
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    prev = scalars["mu_product"]
    mu_product = prev * (np.cumprod(mu, axis=0) if np.ndim(mu) else mu)
    dec = hp["decoupled_weight_decay"]
    c = {"decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "b2": b2,
         "one_m_b2": 1 - b2, "bc2": bias_correction(b2, t), "eps": hp["epsilon"],
         "c_g": -lr * (1.0 - mu) / (1.0 - mu_product), "c_m": (-lr * mu_next) / (1.0 - mu_product * mu_next),
         "neg": hp["maximize"], "decoupled": dec}
    last = mu_product[-1] if np.ndim(mu_product) else mu_product
    return c, {"mu_product": last}


def cell(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, bc2, eps, c_g, c_m, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    p, g, m, v = cell_adam_moments(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, neg, decoupled)
    denom = math.sqrt(v / bc2) + eps
    p = p + c_g * (g / denom)
    return p + c_m * (m / denom), m, v


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Dozat's Nesterov form splits Adam's direction in two, the current gradient
    -lr (1 - mu_t) / (1 - Pi_t) g / d (``gradient_part``) and the momentum looked ahead
    -lr mu_{t+1} / (1 - Pi_t mu_{t+1}) m / d (``momentum_part``), plus the decoupled decay -lr wd p
    (``weight_decay``); lr / d is the ``stretch``."""
    lr, b1, b2, psi, wd = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["momentum_decay"], hp["weight_decay"]
    decoupled = bool(hp["decoupled_weight_decay"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    pow_t, pow_next = 0.96 ** (t * psi), 0.96 ** ((t + 1) * psi)
    mu, mu_next = b1 * (1.0 - 0.5 * pow_t), b1 * (1.0 - 0.5 * pow_next)
    pi = after["mu_product"]
    bc2 = bias_correction(b2, t)
    d = np.sqrt(after["exp_avg_sq"] / bc2) + hp["epsilon"]
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, eps=hp["epsilon"], pow_t=pow_t, pow_next=pow_next,
               mu=mu, mu_next=mu_next, pi_prev=before["mu_product"], pi=pi, pi_next=pi * mu_next, bc2=bc2, d=d,
               m_prev=before["exp_avg"], m=after["exp_avg"], v_prev=before["exp_avg_sq"], v=after["exp_avg_sq"], rate=lr / d,
               gradient_part=-lr * (1.0 - mu) / (1.0 - pi) * (out["g"] / d),
               momentum_part=(-lr * mu_next) / (1.0 - pi * mu_next) * (after["exp_avg"] / d))
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


def _decoupled(hp: Any) -> bool:
    return bool(hp["decoupled_weight_decay"])


_STEP = (r"- \eta\frac{1-\mu_t}{1-\Pi_t}\frac{g_t}{d_t} - \eta\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m_t}{d_t}",
         "− {lr} × (1 − {mu}) / (1 − {pi}) × {g} / {d} − {lr} × {mu_next} / (1 − {pi_next}) × {m} / {d} = {p_new!}")

ANATOMY = Anatomy(
    terms=(
        Term("gradient_part", "-η (1-μₜ)/(1-Πₜ) g/d", r"-\eta\frac{1-\mu_t}{1-\Pi_t}\, g_t / d_t",
             "the current gradient's share of the Nesterov step, over its running RMS d"),
        Term("momentum_part", "-η μₜ₊₁/(1-Πₜ₊₁) m/d", r"-\eta\frac{\mu_{t+1}}{1-\Pi_{t+1}}\, m_t / d_t",
             "the momentum, looked ahead with the next step's coefficient, over its running RMS d"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not _decoupled(hp)),
        Line(r"\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})", "μ = {beta1} × (1 − 0.5 × {pow_t}) = {mu!}"),
        Line(r"\mu_{t+1} = \beta_1 (1 - \tfrac12\, 0.96^{(t+1)\psi})", "μ' = {beta1} × (1 − 0.5 × {pow_next}) = {mu_next!}"),
        Line(r"\Pi_t = \Pi_{t-1}\, \mu_t", "Π = {pi_prev} × {mu} = {pi!}"),
        Line(r"\Pi_{t+1} = \Pi_t\, \mu_{t+1}", "Π' = {pi} × {mu_next} = {pi_next!}"),
        FIRST_MOMENT,
        SECOND_MOMENT,
        Line(r"d_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon", "d = √({v} / {bc2}) + {eps} = {d!}"),
        Line(r"p_{t+1} = p_t " + _STEP[0], "p = {p} " + _STEP[1], when=lambda hp: not _decoupled(hp)),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) " + _STEP[0], "p = {p} × (1 − {lr} × {wd}) " + _STEP[1], when=_decoupled),
    ),
    values=anatomy_values, composes=("gradient_part", "momentum_part", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/d",
)


SPEC = OptimizerSpec(
    name="nadam", title="NAdam",
    hypers=(
        lr_hyper(2e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-8),
        wd_hyper(),
        Hyper("momentum_decay", 4e-3, low=0.0, log=True, doc="psi in Dozat's momentum schedule"),
        Hyper("decoupled_weight_decay", False, kind="bool", doc="AdamW-style decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS, scalars=SCALARS,
    anatomy=ANATOMY,
    rule=(r"\mu_t = \beta_1(1 - \tfrac12 0.96^{t\psi}),\; p_t = p_{t-1} - \eta\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}"
          r"\frac{g_t}{\sqrt{\hat v_t}+\epsilon} - \eta\frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\frac{m_t}{\sqrt{\hat v_t}+\epsilon}"),
    paper="Dozat, Incorporating Nesterov Momentum into Adam (ICLR 2016 workshop)",
    torch=TorchClass(
        "NAdam",
        "lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3, "
        "decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False, "
        "differentiable=False",
    ),
    family="adaptive",
    examples=(
        {},
        {"weight_decay": 0.1, "momentum_decay": 0.01},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    ),
)
