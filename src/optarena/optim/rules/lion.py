"""Lion, evolved sign momentum (optax.lion's rule and defaults).

    d = sign((1 - b1) g + b1 m),   m = b2 m + (1 - b2) g,   p = p (1 - lr wd) - lr d

Chen et al., Symbolic Discovery of Optimization Algorithms (NeurIPS 2023).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, Line, Term, descended
from .._spec import (
    Reference, MAXIMIZE, Array, HyperValues, OptimizerSpec, State, beta_hyper, decay_and_grad, lr_hyper,
    wd_hyper, zeros_state, cell_sign_step,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg",)


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, decoupled=True)
    b1, b2 = hp["beta1"], hp["beta2"]
    d = np.sign((1 - b1) * g + b1 * state["exp_avg"])
    m = b2 * state["exp_avg"] + (1 - b2) * g
    return params - hp["learning_rate"] * d, {"step": state["step"] + 1, "exp_avg": m}


SLOTS = ("exp_avg",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
    return {"decay": 1 - lr * wd, "lr": lr, "one_m_b1": 1 - b1, "b1": b1, "b2": b2, "one_m_b2": 1 - b2,
            "neg": hp["maximize"], "decays": bool(np.any(wd != 0))}, {}


def cell(p, g, m, decay, lr, one_m_b1, b1, b2, one_m_b2, neg, decays):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decays != 0:
        p = p * decay
    if neg != 0:
        g = -g
    d = one_m_b1 * g + b1 * m
    return p - cell_sign_step(d, lr), b2 * m + one_m_b2 * g


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: every coordinate moves by lr, the sign of the interpolation c of gradient and
    momentum, -lr sign(c) (``sign_step``), plus the decoupled decay -lr wd p (``weight_decay``)."""
    lr, b1, b2, wd = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"]
    out = descended(p, g, hp, l2=False)
    c = (1 - b1) * out["g"] + b1 * before["exp_avg"]
    d = np.sign(c)
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, m_prev=before["exp_avg"], m=after["exp_avg"], c=c, d=d,
               sign_step=-lr * d)
    if wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


ANATOMY = Anatomy(
    terms=(
        Term("sign_step", "-η sign(c)", r"-\eta\, \mathrm{sign}(c_t)",
             "the sign of the gradient interpolated with the momentum: every coordinate moves by lr"),
        DECOUPLED_DECAY,
    ),
    lines=(
        Line(r"c_t = (1-\beta_1)\, g_t + \beta_1 m_{t-1}", "c = {one_m_b1} × {g} + {beta1} × {m_prev} = {c!}"),
        Line(r"p_{t+1} = p_t - \eta\, \mathrm{sign}(c_t)", "p = {p} − {lr} × {d} = {p_new!}", when=lambda hp: hp["weight_decay"] == 0),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) - \eta\, \mathrm{sign}(c_t)", "p = {p} × (1 − {lr} × {wd}) − {lr} × {d} = {p_new!}",
             when=lambda hp: hp["weight_decay"] != 0),
        Line(r"m_t = \beta_2 m_{t-1} + (1-\beta_2)\, g_t", "m = {beta2} × {m_prev} + {one_m_b2} × {g} = {m!}"),
    ),
    values=anatomy_values, composes=("sign_step", "weight_decay"),
)


SPEC = OptimizerSpec(
    name="lion", title="Lion",
    hypers=(
        lr_hyper(1e-4),
        beta_hyper("beta1", 0.9, "interpolation for the sign"),
        beta_hyper("beta2", 0.99, "momentum decay"),
        wd_hyper(1e-3, "decoupled decay: p *= 1 - lr * wd (optax's default)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"d_t = \mathrm{sign}((1-\beta_1) g_t + \beta_1 m_{t-1}),\; m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t,\; "
          r"p_t = p_{t-1}(1-\eta\lambda) - \eta d_t"),
    paper="Chen et al., Symbolic Discovery of Optimization Algorithms (NeurIPS 2023)",
    reference=Reference("optax.lion", "optax", kind="optax", rename={"learning_rate": "learning_rate", "beta1": "b1", "beta2": "b2"}),
    family="sign-based",
    examples=(
        {},
        {"learning_rate": 0.01, "weight_decay": 0.0, "beta1": 0.8, "maximize": True},
    ),
)
