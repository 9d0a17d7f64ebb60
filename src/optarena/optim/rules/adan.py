"""Adan: adaptive Nesterov momentum, from moments of the gradient and of its difference.

    d = g - g_prev  (0 on the first step)
    m = b1 m + (1 - b1) g       n = b2 n + (1 - b2) d       u = g + b2 d
    v = b3 v + (1 - b3) u^2
    p = p - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b3^t) + eps)
          - lr b2 / (1 - b2^t) n / (sqrt(v) / sqrt(1 - b3^t) + eps)
    weight decay, proximal (the paper's): p <- p / (1 + lr wd) after the step;
    or decoupled (``weight_decouple``, the authors' no_prox): p <- p (1 - lr wd) before it.

Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
(TPAMI 2024; arXiv 2208.06677), Algorithm 1 with the bias corrections of the authors' code
(sail-sg/Adan). The betas are 1 minus the paper's (as in that code). Reference:
``pytorch_optimizer.Adan`` (pytorch-optimizer 4.1.0), matched exactly, defaults included
(the authors': betas (0.98, 0.92, 0.99), eps 1e-8). It keeps the NEGATED previous gradient
(state ``previous_grad`` = -g_prev, here too, so the two states compare).

One difference, with ``maximize``: the reference starts ``previous_grad`` from the gradient as
given, before flipping it for maximize, so its first difference is -2 g instead of 0; here the
first difference is 0 for both senses, as in the paper (maximize = descending on -g).
Not offered: ``max_grad_norm`` (a clip by the norm over every parameter: a reduction, not a
per-element rule; the reference's default 0 = off is what runs here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import Anatomy, FIRST_MOMENT, Line, Term, descended
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, eps_hyper, lerp,
    lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "exp_avg_diff", "previous_grad")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else grads
    t = state["step"] + 1
    b1, b2, b3, lr, wd = hp["beta1"], hp["beta2"], hp["beta3"], hp["learning_rate"], hp["weight_decay"]
    neg_prev = -g if t == 1 else state["previous_grad"]  # held negated: d = g + (-g_prev)
    d = neg_prev + g
    m = lerp(state["exp_avg"], g, 1 - b1)
    n = lerp(state["exp_avg_diff"], d, 1 - b2)
    u = d * b2 + g
    v = b3 * state["exp_avg_sq"] + (1 - b3) * u * u
    denom = np.sqrt(v) / sqrt(bias_correction(b3, t)) + hp["epsilon"]
    decays = bool(np.any(wd != 0))
    p = params
    if decays and hp["weight_decouple"]:
        p = p * (1 - lr * wd)
    p = p - lr / bias_correction(b1, t) * m / denom
    p = p - lr * b2 / bias_correction(b2, t) * n / denom
    if decays and not hp["weight_decouple"]:
        p = p / (1 + lr * wd)
    return p, {"step": t, "exp_avg": m, "exp_avg_sq": v, "exp_avg_diff": n, "previous_grad": -g}


SLOTS = ("exp_avg", "exp_avg_sq", "exp_avg_diff", "previous_grad")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, b3, wd, dec = hp["beta1"], hp["beta2"], hp["beta3"], hp["weight_decay"], hp["weight_decouple"]
    return {
        "first": t == 1, "one_m_b1": 1 - b1, "one_m_b2": 1 - b2, "b2": b2, "b3": b3, "one_m_b3": 1 - b3,
        "bc3_sqrt": sqrt(bias_correction(b3, t)), "eps": hp["epsilon"], "decay": (1 - lr * wd) if dec else 1.0,
        "step_m": lr / bias_correction(b1, t), "step_n": lr * b2 / bias_correction(b2, t),
        "prox": 1.0 if dec else 1 + lr * wd, "neg": hp["maximize"],
    }, {}


def cell(p, g, m, v, n, neg_prev, first, one_m_b1, one_m_b2, b2, b3, one_m_b3, bc3_sqrt, eps, decay, step_m, step_n,
         prox, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if neg != 0:
        g = -g
    if first != 0:
        neg_prev = -g
    d = neg_prev + g
    m = m + one_m_b1 * (g - m)
    n = n + one_m_b2 * (d - n)
    u = d * b2 + g
    v = b3 * v + one_m_b3 * u * u
    denom = math.sqrt(v) / bc3_sqrt + eps
    p = p * decay
    p = p - step_m * m / denom
    p = p - step_n * n / denom
    return p / prox, m, v, n, -g


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the bias-corrected momentum of the gradient, -lr m^ / delta (``momentum``), the
    Nesterov correction from the momentum of its differences, -lr b2 n^ / delta (``difference``),
    and the weight decay (``weight_decay``): decoupled, -lr wd p; proximal, the shrink of the
    moved point q = p - (both) by 1 / (1 + lr wd), -lr wd / (1 + lr wd) q. delta = sqrt(v^) + eps;
    lr / delta is the ``stretch``."""
    lr, b1, b2, b3, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["beta3"], hp["weight_decay"], hp["epsilon"]
    out = descended(p, g, hp, l2=False)
    t = after["step"]
    gd = out["g"]
    g_prev = gd if t == 1 else -before["previous_grad"]  # held negated; the first difference is 0
    bc1, bc2, bc3 = bias_correction(b1, t), bias_correction(b2, t), bias_correction(b3, t)
    m, n, v = after["exp_avg"], after["exp_avg_diff"], after["exp_avg_sq"]
    delta = np.sqrt(v) / sqrt(bc3) + eps
    d = gd - g_prev
    momentum, difference = -(lr / bc1 * m / delta), -(lr * b2 / bc2 * n / delta)
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, beta3=b3, one_m_b3=1 - b3, eps=eps, bc1=bc1, bc2=bc2,
               bc3=bc3, g_prev=g_prev, d=d, u=gd + b2 * d, m_prev=before["exp_avg"], m=m, n_prev=before["exp_avg_diff"], n=n,
               v_prev=before["exp_avg_sq"], v=v, delta=delta, rate=lr / delta, momentum=momentum, difference=difference)
    if wd != 0:
        if hp["weight_decouple"]:
            out["weight_decay"] = -lr * wd * p
        else:
            q = p + momentum + difference
            out["weight_decay"] = -(lr * wd) / (1 + lr * wd) * q
    return out


def _decay(hp: Any) -> bool:
    return bool(hp["weight_decay"] != 0)


_STEP = (r"- \eta\, \frac{m_t}{(1-\beta_1^t)\,\delta_t} - \eta\beta_2 \frac{n_t}{(1-\beta_2^t)\,\delta_t}",
         "− {lr} / {bc1} × {m} / {delta} − {lr} × {beta2} / {bc2} × {n} / {delta}")

ANATOMY = Anatomy(
    terms=(
        Term("momentum", "-η m̂/δ", r"-\eta\, \hat m_t / \delta_t", "the bias-corrected momentum of the gradient, over its RMS δ"),
        Term("difference", "-η β₂ n̂/δ", r"-\eta\,\beta_2\, \hat n_t / \delta_t",
             "Nesterov's look-ahead, estimated by the momentum of the gradient's differences"),
        Term("weight_decay", "weight decay", r"-\eta\lambda\, p_t \;\mathrm{or}\; -\frac{\eta\lambda}{1+\eta\lambda} q_t",
             "decoupled, a shrink of p; proximal (the paper's), the shrink of the moved point q by 1/(1 + ηλ)"),
    ),
    lines=(
        Line(r"d_t = g_t - g_{t-1}\ (d_1 = 0)", "d = {g} − {g_prev} = {d!}"),
        FIRST_MOMENT,
        Line(r"n_t = \beta_2 n_{t-1} + (1-\beta_2)\, d_t", "n = {beta2} × {n_prev} + {one_m_b2} × {d} = {n!}"),
        Line(r"u_t = g_t + \beta_2 d_t", "u = {g} + {beta2} × {d} = {u!}"),
        Line(r"v_t = \beta_3 v_{t-1} + (1-\beta_3)\, u_t^2", "v = {beta3} × {v_prev} + {one_m_b3} × {u}² = {v!}"),
        Line(r"\delta_t = \sqrt{v_t} / \sqrt{1-\beta_3^t} + \epsilon", "δ = √{v} / √{bc3} + {eps} = {delta!}"),
        Line(r"p_{t+1} = p_t " + _STEP[0], "p = {p} " + _STEP[1] + " = {p_new!}", when=lambda hp: not _decay(hp)),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) " + _STEP[0], "p = {p} × (1 − {lr} × {wd}) " + _STEP[1] + " = {p_new!}",
             when=lambda hp: _decay(hp) and bool(hp["weight_decouple"])),
        Line(r"p_{t+1} = (p_t " + _STEP[0] + r") / (1 + \eta\lambda)", "p = ({p} " + _STEP[1] + ") / (1 + {lr} × {wd}) = {p_new!}",
             when=lambda hp: _decay(hp) and not hp["weight_decouple"]),
    ),
    values=anatomy_values, composes=("momentum", "difference", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/δ",
)

SPEC = OptimizerSpec(
    name="adan", title="Adan",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.98, "gradient momentum decay"),
        beta_hyper("beta2", 0.92, "gradient-difference momentum decay"),
        beta_hyper("beta3", 0.99, "second-moment decay (of g + b2 d)"),
        eps_hyper(1e-8),
        wd_hyper(doc="weight decay: proximal p / (1 + lr wd), or decoupled per weight_decouple"),
        Hyper("weight_decouple", False, kind="bool", doc="decoupled decay p *= 1 - lr wd (the authors' no_prox)"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; n_t = \beta_2 n_{t-1} + (1-\beta_2)(g_t - g_{t-1}),\; "
          r"v_t = \beta_3 v_{t-1} + (1-\beta_3)(g_t + \beta_2 (g_t - g_{t-1}))^2,\; "
          r"p_t = \frac{1}{1+\eta\lambda}\left(p_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t) + \beta_2 n_t/(1-\beta_2^t)}"
          r"{\sqrt{v_t/(1-\beta_3^t)} + \epsilon}\right)"),
    paper="Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models (TPAMI 2024)",
    reference=Reference("pytorch_optimizer.Adan", "pytorch-optimizer"),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "weight_decay": 0.1, "epsilon": 1e-6},
        {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": True, "beta1": 0.9, "beta2": 0.8, "beta3": 0.95},
    ),  # no maximize here: the reference's first step differs with it (see above); tests/optim/test_modern_rules.py
)
