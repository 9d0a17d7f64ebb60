"""Signum (sign momentum), and signSGD as Signum with momentum 0: every coordinate moves by lr.

    m = mu m + (1 - mu) g          p = p (1 - lr wd) - lr sign(m)
    momentum 0 (signSGD): no buffer, p = p (1 - lr wd) - lr sign(g)

Bernstein, Wang, Azizzadenesheli & Anandkumar, signSGD: Compressed Optimisation for Non-Convex
Problems (ICML 2018), Algorithms 1 (signSGD) and 3 (Signum). Reference:
``pytorch_optimizer.SignSGD`` (pytorch-optimizer 4.1.0), matched exactly, defaults included
(momentum 0.9: Signum; weight decay decoupled, or L2 in g with ``weight_decouple=False``). The
momentum EMA is torch's ``lerp`` to the bit (below weight 1/2: m + w (g - m); from it:
g - (g - m)(1 - w)), so momentum 0 in a batch that has a buffer gives sign(g) exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, cell_grad, cell_sign_step, decay_and_grad,
    lr_hyper, torch_lerp, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("momentum_buffer",) if np.any(np.asarray(hp["momentum"]) > 0) else ()


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))



def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    new: dict[str, Any] = {"step": state["step"] + 1}
    d = g
    if "momentum_buffer" in state:
        d = new["momentum_buffer"] = torch_lerp(state["momentum_buffer"], g, 1 - hp["momentum"])
    return params - hp["learning_rate"] * np.sign(d), new


SLOTS = ("momentum_buffer",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    wd, dec, w = hp["weight_decay"], hp["weight_decouple"], 1 - hp["momentum"]
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "w": w, "one_m_w": 1 - w, "w_small": w < 0.5,
        "lr": lr, "neg": hp["maximize"], "decoupled": dec, "buffered": bool(np.any(np.asarray(hp["momentum"]) > 0)),
    }, {}


def cell(p, g, m, decay, l2, w, one_m_w, w_small, lr, neg, decoupled, buffered):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    d = g
    if buffered != 0:
        if w_small != 0:
            m = m + w * (g - m)
        else:
            m = g - (g - m) * one_m_w
        d = m
    return p - cell_sign_step(d, lr), m


SPEC = OptimizerSpec(
    name="signum", title="Signum", class_name="SignSGD", aliases=("signsgd",),
    hypers=(
        lr_hyper(1e-3),
        Hyper("momentum", 0.9, low=0.0, high=1.0, high_open=True, doc="EMA of the gradients whose sign is taken (0: signSGD)"),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) or L2 in g, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=r"m_t = \mu m_{t-1} + (1-\mu) g_t,\; p_t = p_{t-1}(1-\eta\lambda) - \eta\,\mathrm{sign}(m_t)",
    paper="Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems (ICML 2018)",
    reference=Reference("pytorch_optimizer.SignSGD", "pytorch-optimizer"),
    family="sign-based",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "momentum": 0.0, "weight_decay": 0.1},
        {"momentum": 0.3, "weight_decay": 0.1, "weight_decouple": False, "maximize": True},
    ),
)
