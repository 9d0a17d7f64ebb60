"""Adan: adaptive Nesterov momentum, from moments of the gradient and of its difference.

    d = g - g_prev  (0 on the first step)
    m = b1 m + (1 - b1) g       n = b2 n + (1 - b2) d       u = g + b2 d
    v = b3 v + (1 - b3) u^2
    p = p - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b3^t) + eps)
          - lr b2 / (1 - b2^t) n / (sqrt(v) / sqrt(1 - b3^t) + eps)
    weight decay, proximal (the paper's): p <- p / (1 + lr wd) after the step;
    or decoupled (``weight_decouple``, the authors' no_prox): p <- p (1 - lr wd) before it.

Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
(TPAMI 2024; arXiv 2208.06677), Algorithm 1 with the bias corrections of the authors' code
(sail-sg/Adan). The betas are 1 minus the paper's (as in that code). Reference:
``pytorch_optimizer.Adan`` (pytorch-optimizer 4.1.0), matched exactly, defaults included
(the authors': betas (0.98, 0.92, 0.99), eps 1e-8). It keeps the NEGATED previous gradient
(state ``previous_grad`` = -g_prev, here too, so the two states compare).

One difference, with ``maximize``: the reference starts ``previous_grad`` from the gradient as
given, before flipping it for maximize, so its first difference is -2 g instead of 0; here the
first difference is 0 for both senses, as in the paper (maximize = descending on -g).
Not offered: ``max_grad_norm`` (a clip by the norm over every parameter: a reduction, not a
per-element rule; the reference's default 0 = off is what runs here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, eps_hyper, lerp,
    lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "exp_avg_diff", "previous_grad")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else grads
    t = state["step"] + 1
    b1, b2, b3, lr, wd = hp["beta1"], hp["beta2"], hp["beta3"], hp["learning_rate"], hp["weight_decay"]
    neg_prev = -g if t == 1 else state["previous_grad"]  # held negated: d = g + (-g_prev)
    d = neg_prev + g
    m = lerp(state["exp_avg"], g, 1 - b1)
    n = lerp(state["exp_avg_diff"], d, 1 - b2)
    u = d * b2 + g
    v = b3 * state["exp_avg_sq"] + (1 - b3) * u * u
    denom = np.sqrt(v) / sqrt(bias_correction(b3, t)) + hp["epsilon"]
    decays = bool(np.any(wd != 0))
    p = params
    if decays and hp["weight_decouple"]:
        p = p * (1 - lr * wd)
    p = p - lr / bias_correction(b1, t) * m / denom
    p = p - lr * b2 / bias_correction(b2, t) * n / denom
    if decays and not hp["weight_decouple"]:
        p = p / (1 + lr * wd)
    return p, {"step": t, "exp_avg": m, "exp_avg_sq": v, "exp_avg_diff": n, "previous_grad": -g}


SLOTS = ("exp_avg", "exp_avg_sq", "exp_avg_diff", "previous_grad")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, b3, wd, dec = hp["beta1"], hp["beta2"], hp["beta3"], hp["weight_decay"], hp["weight_decouple"]
    return {
        "first": t == 1, "one_m_b1": 1 - b1, "one_m_b2": 1 - b2, "b2": b2, "b3": b3, "one_m_b3": 1 - b3,
        "bc3_sqrt": sqrt(bias_correction(b3, t)), "eps": hp["epsilon"], "decay": (1 - lr * wd) if dec else 1.0,
        "step_m": lr / bias_correction(b1, t), "step_n": lr * b2 / bias_correction(b2, t),
        "prox": 1.0 if dec else 1 + lr * wd, "neg": hp["maximize"],
    }, {}


def cell(p, g, m, v, n, neg_prev, first, one_m_b1, one_m_b2, b2, b3, one_m_b3, bc3_sqrt, eps, decay, step_m, step_n,
         prox, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if neg != 0:
        g = -g
    if first != 0:
        neg_prev = -g
    d = neg_prev + g
    m = m + one_m_b1 * (g - m)
    n = n + one_m_b2 * (d - n)
    u = d * b2 + g
    v = b3 * v + one_m_b3 * u * u
    denom = math.sqrt(v) / bc3_sqrt + eps
    p = p * decay
    p = p - step_m * m / denom
    p = p - step_n * n / denom
    return p / prox, m, v, n, -g


SPEC = OptimizerSpec(
    name="adan", title="Adan",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.98, "gradient momentum decay"),
        beta_hyper("beta2", 0.92, "gradient-difference momentum decay"),
        beta_hyper("beta3", 0.99, "second-moment decay (of g + b2 d)"),
        eps_hyper(1e-8),
        wd_hyper(doc="weight decay: proximal p / (1 + lr wd), or decoupled per weight_decouple"),
        Hyper("weight_decouple", False, kind="bool", doc="decoupled decay p *= 1 - lr wd (the authors' no_prox)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; n_t = \beta_2 n_{t-1} + (1-\beta_2)(g_t - g_{t-1}),\; "
          r"v_t = \beta_3 v_{t-1} + (1-\beta_3)(g_t + \beta_2 (g_t - g_{t-1}))^2,\; "
          r"p_t = \frac{1}{1+\eta\lambda}\left(p_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t) + \beta_2 n_t/(1-\beta_2^t)}"
          r"{\sqrt{v_t/(1-\beta_3^t)} + \epsilon}\right)"),
    paper="Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models (TPAMI 2024)",
    reference=Reference("pytorch_optimizer.Adan", "pytorch-optimizer"),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "weight_decay": 0.1, "epsilon": 1e-6},
        {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": True, "beta1": 0.9, "beta2": 0.8, "beta3": 0.95},
    ),  # no maximize here: the reference's first step differs with it (see above); tests/optim/test_modern_rules.py
)
