"""Adagrad (torch.optim.Adagrad).

    s = s + g^2,   p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps),   s_0 = initial_accumulator_value

Duchi, Hazan & Singer, Adaptive Subgradient Methods (JMLR 2011).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
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


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the decayed rate lr / (1 + (t - 1) lr_decay) over each coordinate's root sum of
    squares (the ``stretch``) times the gradient (``scaled``)."""
    out = descended(p, g, hp)
    tm1 = after["step"] - 1
    clr = hp["learning_rate"] / (1 + tm1 * hp["lr_decay"])
    rate = clr / (np.sqrt(after["sum"]) + hp["epsilon"])
    return {**out, "s_prev": before["sum"], "s": after["sum"], "tm1": tm1, "lr_decay": hp["lr_decay"], "clr": clr,
            "eps": hp["epsilon"], "rate": rate, "scaled": -rate * out["g"]}


ANATOMY = Anatomy(
    terms=(Term("scaled", "-η g/(√s+ε)", r"-\eta\, g_t / (\sqrt{s_t} + \epsilon)",
                "the gradient step, each coordinate divided by the root of its summed squared gradients"),),
    lines=(
        L2_LINE,
        Line(r"s_t = s_{t-1} + g_t^2", "s = {s_prev} + {g}² = {s!}"),
        Line(r"\eta_t = \eta / (1 + (t-1)\delta)", "η' = {lr} / (1 + {tm1} × {lr_decay}) = {clr!}",
             when=lambda hp: hp["lr_decay"] != 0),
        Line(r"p_{t+1} = p_t - \eta_t\, g_t / (\sqrt{s_t} + \epsilon)", "p = {p} − {clr} × {g} / (√{s} + {eps}) = {p_new!}"),
    ),
    values=anatomy_values, composes=("scaled",), stretch="rate", stretch_label="effective learning rate η/(√s+ε)",
)

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
    anatomy=ANATOMY,
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
