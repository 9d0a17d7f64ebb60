"""ADOPT: Adam with the second moment taken BEFORE the current gradient, and the gradient
normalised before the momentum, which converges with any b2 (clipped, as the paper recommends).

    t = 1:  v = g^2 (no step)
    t > 1:  n = clip(g / max(sqrt(v), eps), -t^(1/4), t^(1/4))
            m = b1 m + (1 - b1) n
            p = p - lr m
            v = b2 v + (1 - b2) g^2

Taniguchi et al., ADOPT: Modified Adam Can Converge with Any beta2 with the Optimal Rate
(NeurIPS 2024), Algorithm 2 (with clipping). Reference: ``pytorch_optimizer.ADOPT``
(pytorch-optimizer 4.1.0), matched exactly, defaults included: they are the authors' own
(iShohei220/adopt: lr 1e-3, betas (0.9, 0.9999), eps 1e-6, clip_lambda = step^0.25, the
weight decay L2 in g unless ``weight_decouple``). Decoupled decay (p *= 1 - lr wd) also shrinks
p on the first step, which makes no other move, as in both. Not offered: another
``clip_lambda`` (a function; the paper's t^(1/4) is fixed here) and ``fixed_decay``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, L2_LINE, Line, Term, descended, step_lines
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, cell_grad, decay_and_grad,
    eps_hyper, lerp, lr_hyper, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def clip_bound(t: Any) -> Any:
    """The paper's clipping bound t^(1/4) (the reference's default ``clip_lambda``)."""
    return t**0.25


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    t = state["step"] + 1
    if t == 1:  # the first gradient only starts v
        return params, {"step": t, "exp_avg": state["exp_avg"], "exp_avg_sq": state["exp_avg_sq"] + g * g}
    b1, b2, v = hp["beta1"], hp["beta2"], state["exp_avg_sq"]
    clip = clip_bound(t)
    n = np.clip(g / np.maximum(np.sqrt(v), hp["epsilon"]), -clip, clip)
    m = lerp(state["exp_avg"], n, 1 - b1)
    return params - hp["learning_rate"] * m, {"step": t, "exp_avg": m, "exp_avg_sq": b2 * v + (1 - b2) * g * g}


SLOTS = ("exp_avg", "exp_avg_sq")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd, dec = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["weight_decouple"]
    clip = clip_bound(t)
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "first": t == 1, "eps": hp["epsilon"],
        "clip": clip, "neg_clip": -clip, "one_m_b1": 1 - b1, "lr": lr, "b2": b2, "one_m_b2": 1 - b2,
        "neg": hp["maximize"], "decoupled": dec,
    }, {}


def cell(p, g, m, v, decay, l2, first, eps, clip, neg_clip, one_m_b1, lr, b2, one_m_b2, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    if first != 0:
        return p, m, v + g * g
    d = math.sqrt(v)
    if d < eps:  # NaN stays NaN, as in np.maximum
        d = eps
    n = g / d
    if n > clip:
        n = clip
    elif n < neg_clip:
        n = neg_clip
    m = m + one_m_b1 * (n - m)
    return p - lr * m, m, b2 * v + one_m_b2 * g * g


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the momentum of the normalised, clipped gradients, -lr m (``momentum``), plus the
    decoupled decay -lr wd p (``weight_decay``). The first step only starts v (v_1 = g_1^2, shown
    with w_1 = 1) and moves nothing: its clip factor kappa is 0, so n_1 = 0 and m_1 = m_0 = 0. No
    ``stretch``: the normalisation acts on each gradient before the momentum, not on the step."""
    lr, b1, b2, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    first = t == 1
    v_prev = before["exp_avg_sq"]
    ntilde = out["g"] / np.maximum(np.sqrt(v_prev), eps)
    with np.errstate(divide="ignore"):
        kappa = np.zeros_like(ntilde) if first else np.minimum(1.0, clip_bound(t) / np.abs(ntilde))
    n = np.zeros_like(ntilde) if first else np.clip(ntilde, -clip_bound(t), clip_bound(t))
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, w=1.0 if first else 1 - b2, eps=eps, ntilde=ntilde, kappa=kappa, n=n,
               m_prev=before["exp_avg"], m=after["exp_avg"], v_prev=v_prev, v=after["exp_avg_sq"], momentum=-lr * after["exp_avg"])
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out




ANATOMY = Anatomy(
    terms=(
        Term("momentum", "-η m", r"-\eta\, m_t", "the momentum of the gradients, each normalised by the RMS before it and clipped"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        Line(r"\tilde n_t = g_t / \max(\sqrt{v_{t-1}}, \epsilon)", "ñ = {g} / max(√{v_prev}, {eps}) = {ntilde!}"),
        Line(r"n_t = \mathrm{clip}(\tilde n_t, \pm t^{1/4}) = \kappa_t \tilde n_t,\ \kappa_t = [t > 1] \min(1, t^{1/4} / |\tilde n_t|)",
             "n = {ntilde} × {kappa} = {n!}"),
        Line(r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, n_t", "m = {beta1} × {m_prev} + {one_m_b1} × {n} = {m!}"),
        *step_lines(r"- \eta\, m_t", "− {lr} × {m} = {p_new!}"),
        Line(r"v_t = \beta_2 v_{t-1} + w_t\, g_t^2,\ w_t = 1-\beta_2\ (w_1 = 1)", "v = {beta2} × {v_prev} + {w} × {g}² = {v!}"),
    ),
    values=anatomy_values, composes=("momentum", "weight_decay"),
)

SPEC = OptimizerSpec(
    name="adopt", title="ADOPT",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "momentum of the normalised gradient"),
        beta_hyper("beta2", 0.9999, "second-moment decay (any value converges)"),
        eps_hyper(1e-6),
        wd_hyper(doc="weight decay: L2 in g, or decoupled (p *= 1 - lr wd) per weight_decouple"),
        Hyper("weight_decouple", False, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\mathrm{clip}\!\left(\frac{g_t}{\max(\sqrt{v_{t-1}},\,\epsilon)},\, t^{1/4}\right),\; "
          r"p_t = p_{t-1} - \eta\, m_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; v_1 = g_1^2"),
    paper="Taniguchi et al., ADOPT: Modified Adam Can Converge with Any beta2 with the Optimal Rate (NeurIPS 2024)",
    reference=Reference("pytorch_optimizer.ADOPT", "pytorch-optimizer"),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "weight_decay": 0.1, "beta2": 0.99, "epsilon": 1e-3},
        {"beta1": 0.8, "weight_decay": 0.1, "weight_decouple": True, "maximize": True},
    ),
)
