"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    v = alpha v + (1 - alpha) g^2
    a = sqrt(v - gbar^2) + eps, gbar = lerp(gbar, g, 1 - alpha)   (centered)   else  sqrt(v) + eps
    b = mu b + g / a, p -= lr b                                   (momentum)   else  p -= lr g / a

Hinton, Neural Networks for Machine Learning, lecture 6e (2012); Graves (2013) for centering.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, cell_grad, eps_hyper, lerp,
    lr_hyper, prepare_grad, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    names: tuple[str, ...] = ("square_avg",)
    if np.any(hp["momentum"] > 0):
        names += ("momentum_buffer",)
    if hp["centered"]:
        names += ("grad_avg",)
    return names


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    alpha = hp["alpha"]
    v = alpha * state["square_avg"] + (1 - alpha) * g * g
    new = {"step": state["step"] + 1, "square_avg": v}
    if "grad_avg" in state:
        gbar = new["grad_avg"] = lerp(state["grad_avg"], g, 1 - alpha)
        avg = np.sqrt(v - gbar * gbar) + hp["epsilon"]
    else:
        avg = np.sqrt(v) + hp["epsilon"]
    if "momentum_buffer" in state:
        b = new["momentum_buffer"] = hp["momentum"] * state["momentum_buffer"] + g / avg
        return params - hp["learning_rate"] * b, new
    return params - hp["learning_rate"] * (g / avg), new


SLOTS = ("square_avg", "momentum_buffer", "grad_avg")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"lr": lr, "wd": hp["weight_decay"], "alpha": hp["alpha"], "one_m_alpha": 1 - hp["alpha"],
            "eps": hp["epsilon"], "mu": hp["momentum"], "neg": hp["maximize"], "centered": hp["centered"],
            "use_momentum": bool(np.any(hp["momentum"] > 0))}, {}


def cell(p, g, v, b, gbar, lr, wd, alpha, one_m_alpha, eps, mu, neg, centered, use_momentum):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    v = alpha * v + one_m_alpha * g * g
    if centered != 0:
        gbar = gbar + one_m_alpha * (g - gbar)
        avg = math.sqrt(v - gbar * gbar) + eps
    else:
        avg = math.sqrt(v) + eps
    if use_momentum != 0:
        b = mu * b + g / avg
        return p - lr * b, v, b, gbar
    return p - lr * (g / avg), v, b, gbar


SPEC = OptimizerSpec(
    name="rmsprop", title="RMSprop",
    hypers=(
        lr_hyper(1e-2),
        Hyper("alpha", 0.99, low=0.0, high=1.0, high_open=True, doc="smoothing constant of v"),
        eps_hyper(1e-8),
        wd_hyper(),
        Hyper("momentum", 0.0, low=0.0, doc="momentum coefficient (buffer of g / a)"),
        Hyper("centered", False, kind="bool", doc="normalise by the estimated variance"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\; p_t = p_{t-1} - \eta \frac{g_t}{\sqrt{v_t}+\epsilon}",
    paper="Hinton, Neural Networks for Machine Learning, lecture 6e (2012)",
    torch=TorchClass(
        "RMSprop",
        "lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, capturable=False, "
        "foreach=None, maximize=False, differentiable=False",
    ),
    family="adaptive",
    examples=(
        {},
        {"centered": True, "weight_decay": 0.1},
        {"momentum": 0.9, "alpha": 0.9},
        {"momentum": 0.5, "centered": True, "maximize": True},
    ),
)
