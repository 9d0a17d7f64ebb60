"""Adagrad (torch.optim.Adagrad).

    s = s + g^2,   p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps),   s_0 = initial_accumulator_value

Duchi, Hazan & Singer, Adaptive Subgradient Methods (JMLR 2011).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._spec import (
    TorchClass, MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, cell_grad, eps_hyper, lr_hyper,
    prepare_grad, wd_hyper,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("sum",)


def init(params: Array, hp: HyperValues) -> State:
    acc = np.broadcast_to(hp["initial_accumulator_value"], params.shape) if params.ndim else hp["initial_accumulator_value"]
    return {"step": 0, "sum": np.array(acc, dtype=params.dtype)}


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    t = state["step"] + 1
    s = state["sum"] + g * g
    clr = hp["learning_rate"] / (1 + (t - 1) * hp["lr_decay"])
    return params - clr * (g / (np.sqrt(s) + hp["epsilon"])), {"step": t, "sum": s}


SLOTS = ("sum",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"clr": lr / (1 + (t - 1) * hp["lr_decay"]), "wd": hp["weight_decay"], "eps": hp["epsilon"], "neg": hp["maximize"]}, {}


def cell(p, g, s, clr, wd, eps, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    s = s + g * g
    return p - clr * (g / (math.sqrt(s) + eps)), s


SPEC = OptimizerSpec(
    name="adagrad", title="Adagrad",
    hypers=(
        lr_hyper(1e-2),
        Hyper("lr_decay", 0.0, low=0.0, doc="lr / (1 + (t-1) lr_decay)"),
        wd_hyper(),
        Hyper("initial_accumulator_value", 0.0, low=0.0, doc="starting value of the sum of g^2"),
        eps_hyper(1e-10),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=r"s_t = s_{t-1} + g_t^2,\; p_t = p_{t-1} - \frac{\eta}{1+(t-1)\delta}\,\frac{g_t}{\sqrt{s_t}+\epsilon}",
    paper="Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning (JMLR 2011)",
    torch=TorchClass(
        "Adagrad",
        "lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, foreach=None, *, "
        "maximize=False, differentiable=False, fused=None",
        eager_state=True,
    ),
    family="adaptive",
    examples=(
        {},
        {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1},
        {"maximize": True, "epsilon": 0.001},
    ),
)
