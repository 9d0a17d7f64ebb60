"""Adamax: Adam with the infinity norm (torch.optim.Adamax).

    m = lerp(m, g, 1 - b1),   u = max(b2 u, |g| + eps),   p -= lr / (1 - b1^t) * m / u

Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015), section 7.1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..anatomy import Anatomy, FIRST_MOMENT, L2_LINE, Line, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, HyperValues, OptimizerSpec, State, beta_hyper, bias_correction, cell_grad,
    eps_hyper, lerp, lr_hyper, prepare_grad, wd_hyper, zeros_state,
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


SLOTS = ("exp_avg", "exp_inf")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"wd": hp["weight_decay"], "one_m_b1": 1 - hp["beta1"], "b2": hp["beta2"], "eps": hp["epsilon"],
            "clr": lr / bias_correction(hp["beta1"], t), "neg": hp["maximize"]}, {}


def cell(p, g, m, u, wd, one_m_b1, b2, eps, clr, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    m = m + one_m_b1 * (g - m)
    u = max(u * b2, abs(g) + eps)
    return p - clr * (m / u), m, u


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the bias-corrected rate lr / (1 - b1^t) over the infinity norm u (the ``stretch``)
    times m (``direction``)."""
    b1, b2 = hp["beta1"], hp["beta2"]
    out = descended(p, g, hp)
    bc1 = bias_correction(b1, after["step"])
    rate = hp["learning_rate"] / bc1 / after["exp_inf"]
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, eps=hp["epsilon"], abs_g=np.abs(out["g"]),
               m_prev=before["exp_avg"], m=after["exp_avg"], u_prev=before["exp_inf"], u=after["exp_inf"],
               bc1=bc1, rate=rate, direction=-rate * after["exp_avg"])
    return out


ANATOMY = Anatomy(
    terms=(Term("direction", "-η m/((1-β₁ᵗ) u)", r"-\frac{\eta}{1-\beta_1^t}\, m_t / u_t",
                "the bias-corrected momentum over each coordinate's decayed largest gradient u"),),
    lines=(
        L2_LINE,
        FIRST_MOMENT,
        Line(r"u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)", "u = max({beta2} × {u_prev}, {abs_g} + {eps}) = {u!}"),
        Line(r"p_{t+1} = p_t - \frac{\eta}{1-\beta_1^t}\, m_t / u_t", "p = {p} − {lr} / {bc1} × {m} / {u} = {p_new!}"),
    ),
    values=anatomy_values, composes=("direction",), stretch="rate", stretch_label="effective learning rate η/((1−β₁ᵗ) u)",
)

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
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; u_t = \max(\beta_2 u_{t-1}, |g_t|+\epsilon),\; "
          r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\frac{m_t}{u_t}"),
    paper="Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015), section 7.1",
    torch=TorchClass(
        "Adamax",
        "lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *, maximize=False, "
        "differentiable=False, capturable=False",
    ),
    family="adaptive",
    examples=(
        {},
        {"beta1": 0.7, "weight_decay": 0.1, "maximize": True},
    ),
)
