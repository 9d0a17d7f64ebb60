"""Adamax: Adam with the infinity norm (torch.optim.Adamax).

    m = lerp(m, g, 1 - b1),   u = max(b2 u, |g| + eps),   p -= lr / (1 - b1^t) * m / u

Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015), section 7.1.
"""

from __future__ import annotations

import numpy as np

from ._spec import (
    MAXIMIZE, Array, HyperValues, OptimizerSpec, State, beta_hyper, bias_correction, eps_hyper,
    lerp, lr_hyper, prepare_grad, scalar_coeffs, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_inf")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    t = state["step"] + 1
    m = lerp(state["exp_avg"], g, 1 - hp["beta1"])
    u = np.maximum(state["exp_inf"] * hp["beta2"], np.abs(g) + hp["epsilon"])
    clr = hp["learning_rate"] / bias_correction(hp["beta1"], t)
    return params - clr * (m / u), {"step": t, "exp_avg": m, "exp_inf": u}


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    t = state["step"] + 1
    c = scalar_coeffs(params, wd=hp["weight_decay"], one_m_b1=1 - hp["beta1"], b2=hp["beta2"],
                      eps=hp["epsilon"], clr=hp["learning_rate"] / bias_correction(hp["beta1"], t))
    _fused.adamax(params.reshape(-1), grads.reshape(-1), state["exp_avg"].reshape(-1),
                  state["exp_inf"].reshape(-1), hp["maximize"], c["wd"], c["one_m_b1"], c["b2"],
                  c["eps"], c["clr"])
    state["step"] = t


SPEC = OptimizerSpec(
    name="adamax", title="Adamax",
    hypers=(
        lr_hyper(2e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "decay of the infinity norm"),
        eps_hyper(1e-8),
        wd_hyper(),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, fused=fused,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; u_t = \max(\beta_2 u_{t-1}, |g_t|+\epsilon),\; "
          r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\frac{m_t}{u_t}"),
    paper="Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015), section 7.1",
)
