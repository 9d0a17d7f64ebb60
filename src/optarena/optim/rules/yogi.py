"""Yogi: Adam whose second moment grows or shrinks additively, by the sign of v - g^2.

    m_t = b1 m + (1 - b1) g          v_t = v - (1 - b2) sign(v - g^2) g^2
    p_t = p - lr / (1 - b1^t) * m_t / (sqrt(v_t) / sqrt(1 - b2^t) + eps)
    m_0 = v_0 = initial_accumulator

Zaheer et al., Adaptive Methods for Nonconvex Optimization (NeurIPS 2018), Algorithm 2.
Reference: ``pytorch_optimizer.Yogi`` (pytorch-optimizer 4.1.0), matched exactly, defaults
included (the paper's lr 1e-2 and eps 1e-3; both moments start at 1e-6, as in TensorFlow
Addons' Yogi). The paper writes the step without Adam's bias corrections "for clarity"; the
reference (and TF Addons) apply them, and so do we. Weight decay is decoupled (p *= 1 - lr wd,
the reference's default) or L2 in g. Not offered: the reference's ``fixed_decay``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, FIRST_MOMENT, L2_LINE, Line, Term, descended, step_lines
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, cell_grad,
    decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    start = np.zeros_like(params) + hp["initial_accumulator"]  # a batched (B, 1, ...) value broadcasts
    return {"step": 0, "exp_avg": start, "exp_avg_sq": start.copy()}


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    t = state["step"] + 1
    b1, b2 = hp["beta1"], hp["beta2"]
    g2 = g * g
    m = lerp(state["exp_avg"], g, 1 - b1)
    v = state["exp_avg_sq"]
    v = v + -(1 - b2) * np.sign(v - g2) * g2
    denom = np.sqrt(v) / sqrt(bias_correction(b2, t)) + hp["epsilon"]
    step_size = hp["learning_rate"] / bias_correction(b1, t)
    return params - step_size * m / denom, {"step": t, "exp_avg": m, "exp_avg_sq": v}


SLOTS = ("exp_avg", "exp_avg_sq")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd, dec = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["weight_decouple"]
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "neg_one_m_b2": -(1 - b2),
        "bc2_sqrt": sqrt(bias_correction(b2, t)), "eps": hp["epsilon"], "step_size": lr / bias_correction(b1, t),
        "neg": hp["maximize"], "decoupled": dec,
    }, {}


def cell(p, g, m, v, decay, l2, one_m_b1, neg_one_m_b2, bc2_sqrt, eps, step_size, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    g2 = g * g
    m = m + one_m_b1 * (g - m)
    d = v - g2
    # v + (-(1 - b2) sign(d)) g^2, sign(d) = +-1 by branch (0 and NaN: d itself)
    if d > 0:
        v = v + neg_one_m_b2 * g2
    elif d < 0:
        v = v + (-neg_one_m_b2) * g2
    else:
        v = v + neg_one_m_b2 * d * g2
    return p - step_size * m / (math.sqrt(v) / bc2_sqrt + eps), m, v


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Adam's bias-corrected direction -lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    (``direction``) with Yogi's additive v, plus the decoupled decay -lr wd p (``weight_decay``);
    the rate multiplying m is the ``stretch``."""
    lr, b1, b2, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    bc1, bc2 = bias_correction(b1, t), bias_correction(b2, t)
    v = after["exp_avg_sq"]
    rate = lr / bc1 / (np.sqrt(v) / sqrt(bc2) + eps)
    out.update(beta1=b1, one_m_b1=1 - b1, one_m_b2=1 - b2, eps=eps, bc1=bc1, bc2=bc2, m_prev=before["exp_avg"], m=after["exp_avg"],
               v_prev=before["exp_avg_sq"], v=v, sgn=np.sign(before["exp_avg_sq"] - out["g"] ** 2), rate=rate,
               direction=-rate * after["exp_avg"])
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out




ANATOMY = Anatomy(
    terms=(
        Term("direction", "-η m̂/(√v̂+ε)", r"-\eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)",
             "Adam's bias-corrected direction, over Yogi's second moment (which moves by at most (1-β₂) g² a step)"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        FIRST_MOMENT,
        Line(r"v_t = v_{t-1} - (1-\beta_2)\, \mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2", "v = {v_prev} − {one_m_b2} × {sgn} × {g}² = {v!}"),
        *step_lines(r"- \frac{\eta}{1-\beta_1^t}\, m_t / (\sqrt{v_t} / \sqrt{1-\beta_2^t} + \epsilon)",
                "− {lr} / {bc1} × {m} / (√{v} / √{bc2} + {eps}) = {p_new!}"),
    ),
    values=anatomy_values, composes=("direction", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/((1−β₁ᵗ)(√v/√(1−β₂ᵗ)+ε))",
)

SPEC = OptimizerSpec(
    name="yogi", title="Yogi",
    hypers=(
        lr_hyper(1e-2),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "rate of the additive second-moment change"),
        eps_hyper(1e-3),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) or L2 in g, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        Hyper("initial_accumulator", 1e-6, low=0.0, log=True, doc="the moments' starting value"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\,g_t^2,\; "
          r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}"),
    paper="Zaheer et al., Adaptive Methods for Nonconvex Optimization (NeurIPS 2018)",
    reference=Reference("pytorch_optimizer.Yogi", "pytorch-optimizer"),
    family="adaptive",
    examples=(
        {"learning_rate": 0.03},
        {"learning_rate": 0.05, "weight_decay": 0.1, "initial_accumulator": 0.5, "epsilon": 1e-6},
        {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1, "weight_decouple": False, "maximize": True},
    ),
)
