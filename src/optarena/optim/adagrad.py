"""Adagrad (torch.optim.Adagrad).

    s = s + g^2,   p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps),   s_0 = initial_accumulator_value

Duchi, Hazan & Singer, Adaptive Subgradient Methods (JMLR 2011).
"""

from __future__ import annotations

import numpy as np

from ._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, eps_hyper, lr_hyper, prepare_grad,
    scalar_coeffs, wd_hyper,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("sum",)


def init(params: Array, hp: HyperValues) -> State:
    acc = np.broadcast_to(hp["initial_accumulator_value"], params.shape) if params.ndim else hp["initial_accumulator_value"]
    return {"step": 0, "sum": np.array(acc, dtype=params.dtype)}


def _clr(hp: HyperValues, t: int):
    return hp["learning_rate"] / (1 + (t - 1) * hp["lr_decay"])


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    t = state["step"] + 1
    s = state["sum"] + g * g
    return params - _clr(hp, t) * (g / (np.sqrt(s) + hp["epsilon"])), {"step": t, "sum": s}


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    t = state["step"] + 1
    c = scalar_coeffs(params, clr=_clr(hp, t), wd=hp["weight_decay"], eps=hp["epsilon"])
    _fused.adagrad(params.reshape(-1), grads.reshape(-1), state["sum"].reshape(-1), hp["maximize"],
                   c["clr"], c["wd"], c["eps"])
    state["step"] = t


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
    init=init, update=update, state_arrays=state_arrays, fused=fused,
    rule=r"s_t = s_{t-1} + g_t^2,\; p_t = p_{t-1} - \frac{\eta}{1+(t-1)\delta}\,\frac{g_t}{\sqrt{s_t}+\epsilon}",
    paper="Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning (JMLR 2011)",
)
