"""AdEMAMix: Adam plus a second, slow EMA of the gradient (b3 near 1) that keeps old gradients
relevant, mixed in with weight alpha.

    m1 = b1 m1 + (1 - b1) g     m2 = b3_t m2 + (1 - b3_t) g     v = b2 v + (1 - b2) g^2
    p = p (1 - lr wd) - lr (m1 / (1 - b1^t) + alpha_t m2) / (sqrt(v) / sqrt(1 - b2^t) + eps)

With ``warmup_steps`` = T > 0, alpha and b3 warm up over T steps (the paper's schedulers):
alpha_t = min(t alpha / T, alpha),
b3_t = min(exp(ln b1 ln b3 / ((1 - t/T) ln b3 + (t/T) ln b1)), b3); with T = 0 they are constant.

Pagliardini, Ablin & Grangier, The AdEMAMix Optimizer: Better, Faster, Older (ICLR 2025;
arXiv 2409.03770), Algorithm 1. Reference: ``pytorch_optimizer.AdEMAMix`` (pytorch-optimizer
4.1.0; its ``t_alpha_beta3`` is our ``warmup_steps``, None there = 0 here), matched exactly,
defaults included but one: the paper's weight decay is decoupled (AdamW's, as in Algorithm 1 and
the authors' code apple/ml-ademamix), the reference's default couples it to g (L2); here
``weight_decouple`` is True by default and the reference test passes it (``fixed``). The
authors' code warms alpha and b3 up over separate lengths and interpolates b3's half-life
slightly differently (ln 0.5 / ln(b + 1e-8) - 1); the paper's single T and formula are used here.
Not offered: the reference's ``fixed_decay``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ...errors import UsageError
from ..anatomy import Anatomy, DECOUPLED_DECAY, L2_LINE, Line, SECOND_MOMENT, Term, descended, step_lines
from .._spec import (
    TORCH_NAMES,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, cell_grad,
    decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "exp_avg_slow")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def schedules(hp: HyperValues, t: Any) -> tuple[Any, Any]:
    """(alpha_t, b3_t): the paper's warm-up of both over ``warmup_steps`` (constant when it is 0)."""
    alpha, b1, b3, T = hp["alpha"], hp["beta1"], hp["beta3"], hp["warmup_steps"]
    if not any(isinstance(x, np.ndarray) for x in (alpha, b1, b3, T, t)):  # Python floats stay Python floats
        if T == 0:
            return alpha, b3
        lb1, lb3 = math.log(b1), math.log(b3)
        return min(t * alpha / T, alpha), min(math.exp(lb1 * lb3 / ((1.0 - t / T) * lb3 + (t / T) * lb1)), b3)
    on = np.asarray(T) > 0
    Ta = np.where(on, T, 1.0)  # runs without warm-up: any finite value, not taken
    with np.errstate(divide="ignore", invalid="ignore"):
        l1, l3 = np.log(np.where(on, b1, 0.5)), np.log(np.where(on, b3, 0.5))
        b3_t = np.minimum(np.exp(l1 * l3 / ((1.0 - t / Ta) * l3 + (t / Ta) * l1)), b3)
    return np.where(on, np.minimum(t * alpha / Ta, alpha), alpha), np.where(on, b3_t, b3)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    t = state["step"] + 1
    b1, b2 = hp["beta1"], hp["beta2"]
    alpha_t, b3_t = schedules(hp, t)
    m = lerp(state["exp_avg"], g, 1 - b1)
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    slow = lerp(state["exp_avg_slow"], g, 1 - b3_t)
    denom = np.sqrt(v) / sqrt(bias_correction(b2, t)) + hp["epsilon"]
    mix = m / bias_correction(b1, t) + alpha_t * slow
    new = {"step": t, "exp_avg": m, "exp_avg_sq": v, "exp_avg_slow": slow}
    return params - hp["learning_rate"] * mix / denom, new


SLOTS = ("exp_avg", "exp_avg_sq", "exp_avg_slow")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd, dec = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["weight_decouple"]
    alpha_t, b3_t = schedules(hp, t)
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "b2": b2, "one_m_b2": 1 - b2,
        "one_m_b3": 1 - b3_t, "bc1": bias_correction(b1, t), "bc2_sqrt": sqrt(bias_correction(b2, t)), "eps": hp["epsilon"],
        "alpha": alpha_t, "lr": lr, "neg": hp["maximize"], "decoupled": dec,
    }, {}


def cell(p, g, m, v, slow, decay, l2, one_m_b1, b2, one_m_b2, one_m_b3, bc1, bc2_sqrt, eps, alpha, lr, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    m = m + one_m_b1 * (g - m)
    v = b2 * v + one_m_b2 * g * g
    slow = slow + one_m_b3 * (g - slow)
    mix = m / bc1 + alpha * slow
    return p - lr * mix / (math.sqrt(v) / bc2_sqrt + eps), m, v, slow


def check(hp: HyperValues, where: str) -> None:
    if np.any(np.asarray(hp["warmup_steps"]) > 0) and (np.any(np.asarray(hp["beta1"]) == 0) or np.any(np.asarray(hp["beta3"]) == 0)):
        raise UsageError(f"{where}: warmup_steps > 0 needs beta1 > 0 and beta3 > 0 (beta3's schedule runs through their logs)",
                         field="warmup_steps")


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Adam's bias-corrected direction -lr m1^ / (sqrt(v^) + eps) (``direction``), the
    slow EMA mixed in, -lr alpha_t m2 / (sqrt(v^) + eps) (``slow_step``), and the decoupled decay
    -lr wd p (``weight_decay``); lr / (sqrt(v^) + eps) is the ``stretch``. alpha_t and b3_t are the
    warm-up's values at this step (the constants without warm-up)."""
    lr, b1, b2, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    alpha_t, b3_t = schedules(hp, t)
    bc1, bc2 = bias_correction(b1, t), bias_correction(b2, t)
    v = after["exp_avg_sq"]
    rate = lr / (np.sqrt(v) / sqrt(bc2) + eps)
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, beta3_t=b3_t, one_m_b3_t=1 - b3_t, alpha_t=alpha_t, eps=eps,
               bc1=bc1, bc2=bc2, m_prev=before["exp_avg"], m=after["exp_avg"], v_prev=before["exp_avg_sq"], v=v,
               slow_prev=before["exp_avg_slow"], slow=after["exp_avg_slow"], rate=rate,
               direction=-rate * (after["exp_avg"] / bc1), slow_step=-rate * (alpha_t * after["exp_avg_slow"]))
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out




ANATOMY = Anatomy(
    terms=(
        Term("direction", "-η m̂₁/(√v̂+ε)", r"-\eta\, \hat m_{1,t} / (\sqrt{\hat v_t} + \epsilon)",
             "Adam's bias-corrected direction: the fast EMA of the gradient over its RMS"),
        Term("slow_step", "-η α m₂/(√v̂+ε)", r"-\eta\, \alpha_t m_{2,t} / (\sqrt{\hat v_t} + \epsilon)",
             "the slow EMA of the gradient (β₃ near 1), mixed in with weight α: old gradients kept relevant"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        Line(r"m_{1,t} = \beta_1 m_{1,t-1} + (1-\beta_1)\, g_t", "m₁ = {beta1} × {m_prev} + {one_m_b1} × {g} = {m!}"),
        Line(r"m_{2,t} = \beta_{3,t} m_{2,t-1} + (1-\beta_{3,t})\, g_t", "m₂ = {beta3_t} × {slow_prev} + {one_m_b3_t} × {g} = {slow!}"),
        SECOND_MOMENT,
        *step_lines(r"- \eta\, (m_{1,t} / (1-\beta_1^t) + \alpha_t m_{2,t}) / (\sqrt{v_t} / \sqrt{1-\beta_2^t} + \epsilon)",
                "− {lr} × ({m} / {bc1} + {alpha_t} × {slow}) / (√{v} / √{bc2} + {eps}) = {p_new!}"),
    ),
    values=anatomy_values, composes=("direction", "slow_step", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/(√v̂+ε)",
)

SPEC = OptimizerSpec(
    name="ademamix", title="AdEMAMix",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "fast first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        beta_hyper("beta3", 0.9999, "slow first-moment decay"),
        eps_hyper(1e-8),
        Hyper("alpha", 5.0, low=0.0, doc="weight of the slow EMA in the step"),
        Hyper("warmup_steps", 0.0, low=0.0, doc="T: steps over which alpha and beta3 warm up (0: none)"),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd, the paper's) or L2 in g, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay, as in the paper"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS, check=check,
    rule=(r"m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t,\; m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t,\; "
          r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; "
          r"p_t = p_{t-1}(1-\eta\lambda) - \eta\,\frac{m^{(1)}_t/(1-\beta_1^t) + \alpha\, m^{(2)}_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}"),
    paper="Pagliardini, Ablin & Grangier, The AdEMAMix Optimizer: Better, Faster, Older (ICLR 2025)",
    # the paper's decoupled decay where the reference's default is L2 (weight_decouple=False)
    # the reference calls the warm-up t_alpha_beta3 and turns it off with None (ours: 0)
    reference=Reference("pytorch_optimizer.AdEMAMix", "pytorch-optimizer", fixed={"weight_decouple": True},
                        rename={**TORCH_NAMES, "warmup_steps": "t_alpha_beta3"}, none_as={"warmup_steps": 0.0}),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "weight_decay": 0.1, "alpha": 2.0, "beta3": 0.99},
        {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": False, "beta1": 0.8, "maximize": True},
        {"learning_rate": 0.01, "warmup_steps": 5.0, "alpha": 3.0, "beta3": 0.999},
    ),
)
