"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule (torch.optim.NAdam).

    mu_t = b1 (1 - 0.5 * 0.96^(t psi)),   Pi_t = prod_{i<=t} mu_i
    m, v as in Adam;  d = sqrt(v / (1 - b2^t)) + eps
    p_t = p - lr (1 - mu_t) / (1 - Pi_t) * g / d - lr mu_{t+1} / (1 - Pi_t mu_{t+1}) * m / d

Dozat, Incorporating Nesterov Momentum into Adam (ICLR 2016 workshop).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
