"""Adadelta (torch.optim.Adadelta).

    v = rho v + (1 - rho) g^2,   d = sqrt(u + eps) / sqrt(v + eps) * g,
    u = rho u + (1 - rho) d^2,   p -= lr d

Zeiler, ADADELTA: An Adaptive Learning Rate Method (2012).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, cell_grad, eps_hyper, lr_hyper,
    prepare_grad, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("square_avg", "acc_delta")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    rho, eps = hp["rho"], hp["epsilon"]
    v = rho * state["square_avg"] + (1 - rho) * g * g
    delta = np.sqrt(state["acc_delta"] + eps) / np.sqrt(v + eps) * g
    u = rho * state["acc_delta"] + (1 - rho) * delta * delta
    return params - hp["learning_rate"] * delta, {"step": state["step"] + 1, "square_avg": v, "acc_delta": u}


SLOTS = ("square_avg", "acc_delta")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"lr": lr, "wd": hp["weight_decay"], "rho": hp["rho"], "one_m_rho": 1 - hp["rho"], "eps": hp["epsilon"],
            "neg": hp["maximize"]}, {}


def cell(p, g, v, u, lr, wd, rho, one_m_rho, eps, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    v = rho * v + one_m_rho * g * g
    delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
    u = rho * u + one_m_rho * delta * delta
    return p - lr * delta, v, u


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the gradient rescaled by the ratio of the RMS of past updates to the RMS of the
    gradients, Delta = sqrt(u + eps) / sqrt(v + eps) g, times lr (``scaled``); lr sqrt(u + eps) /
    sqrt(v + eps) is the ``stretch``."""
    lr, rho, eps = hp["learning_rate"], hp["rho"], hp["epsilon"]
    out = descended(p, g, hp)
    u_prev, v = before["acc_delta"], after["square_avg"]
    ratio = np.sqrt(u_prev + eps) / np.sqrt(v + eps)
    delta = ratio * out["g"]
    out.update(rho=rho, one_m_rho=1 - rho, eps=eps, v_prev=before["square_avg"], v=v, u_prev=u_prev, u=after["acc_delta"],
               delta=delta, rate=lr * ratio, scaled=-lr * delta)
    return out


ANATOMY = Anatomy(
    terms=(Term("scaled", "-η Δ", r"-\eta\, \Delta_t",
                "the gradient, each coordinate scaled by the RMS of its past updates over the RMS of its gradients"),),
    lines=(
        L2_LINE,
        Line(r"v_t = \rho\, v_{t-1} + (1-\rho)\, g_t^2", "v = {rho} × {v_prev} + {one_m_rho} × {g}² = {v!}"),
        Line(r"\Delta_t = \sqrt{u_{t-1}+\epsilon} / \sqrt{v_t+\epsilon}\; g_t",
             "Δ = √({u_prev} + {eps}) / √({v} + {eps}) × {g} = {delta!}"),
        Line(r"u_t = \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2", "u = {rho} × {u_prev} + {one_m_rho} × {delta}² = {u!}"),
        Line(r"p_{t+1} = p_t - \eta\, \Delta_t", "p = {p} − {lr} × {delta} = {p_new!}"),
    ),
    values=anatomy_values, composes=("scaled",), stretch="rate", stretch_label="effective learning rate η√(u+ε)/√(v+ε)",
)


SPEC = OptimizerSpec(
    name="adadelta", title="Adadelta",
    hypers=(
        lr_hyper(1.0),
        Hyper("rho", 0.9, low=0.0, high=1.0, doc="decay of both running averages"),
        eps_hyper(1e-6),
        wd_hyper(),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\; \Delta_t = \frac{\sqrt{u_{t-1}+\epsilon}}{\sqrt{v_t+\epsilon}} g_t,\; "
          r"u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\; p_t = p_{t-1} - \eta \Delta_t"),
    paper="Zeiler, ADADELTA: An Adaptive Learning Rate Method (2012)",
    torch=TorchClass(
        "Adadelta",
        "lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False, maximize=False, "
        "differentiable=False",
    ),
    family="adaptive",
    examples=(
        {},
        {"rho": 0.5, "weight_decay": 0.1, "learning_rate": 0.5, "maximize": True},
    ),
)
