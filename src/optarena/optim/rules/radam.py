"""RAdam: Adam with the variance of the adaptive step rectified (torch.optim.RAdam).

    rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / (1 - b2^t),   m^ = m / (1 - b1^t)
    rho_t > 5:  p -= lr m^ r_t sqrt(1 - b2^t) / (sqrt(v) + eps),
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    otherwise:  p -= lr m^          (with b2 = 0.999 the switch happens at t = 6)

Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020).
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
    return zeros_state(params, state_arrays(hp))


def _rectifier(b2: Any, t: int) -> tuple[Any, Any]:
    """(rectified?, r_t) for step t; arrays when b2 is batched."""
    bc2 = bias_correction(b2, t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * (b2**t) / bc2
    on = rho_t > 5.0
    safe = np.where(on, rho_t, 6.0) if isinstance(rho_t, np.ndarray) else (rho_t if on else 6.0)
    r = ((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe)) ** 0.5
    return on, r


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["decoupled_weight_decay"])
    t = state["step"] + 1
    b1, b2, lr = hp["beta1"], hp["beta2"], hp["learning_rate"]
    m = lerp(state["exp_avg"], g, 1 - b1)
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    m_hat = m / bias_correction(b1, t)
    on, r = _rectifier(b2, t)
    new = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    if not np.any(on):
        return params - m_hat * lr, new
    adaptive = sqrt(bias_correction(b2, t)) / (np.sqrt(v) + hp["epsilon"])
    rectified = params - m_hat * lr * adaptive * r
    if np.all(on):
        return rectified, new
    return np.where(on, rectified, params - m_hat * lr), new


SLOTS = ("exp_avg", "exp_avg_sq")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
    dec = hp["decoupled_weight_decay"]
    on, r = _rectifier(b2, t)
    return {"decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "b2": b2,
            "one_m_b2": 1 - b2, "bc1": bias_correction(b1, t), "bc2_sqrt": sqrt(bias_correction(b2, t)),
            "eps": hp["epsilon"], "lr": lr, "r": r, "rectified": on, "neg": hp["maximize"], "decoupled": dec}, {}


def cell(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, bc1, bc2_sqrt, eps, lr, r, rectified, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    p, g, m, v = cell_adam_moments(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, neg, decoupled)
    m_hat = m / bc1
    if rectified != 0:
        return p - m_hat * lr * (bc2_sqrt / (math.sqrt(v) + eps)) * r, m, v
    return p - m_hat * lr, m, v


SPEC = OptimizerSpec(
    name="radam", title="RAdam",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-8),
        wd_hyper(),
        Hyper("decoupled_weight_decay", False, kind="bool", doc="AdamW-style decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=(r"\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t};\; p_t = p_{t-1} - \eta \hat m_t "
          r"\cdot\begin{cases} r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5 \\ 1 & \text{else}\end{cases}"),
    paper="Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020)",
    torch=TorchClass(
        "RAdam",
        "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *, "
        "foreach=None, maximize=False, capturable=False, differentiable=False",
    ),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"weight_decay": 0.1, "beta2": 0.99},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    ),
)
