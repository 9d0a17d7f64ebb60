"""Signum (sign momentum), and signSGD as Signum with momentum 0: every coordinate moves by lr.

    m = mu m + (1 - mu) g          p = p (1 - lr wd) - lr sign(m)
    momentum 0 (signSGD): no buffer, p = p (1 - lr wd) - lr sign(g)

Bernstein, Wang, Azizzadenesheli & Anandkumar, signSGD: Compressed Optimisation for Non-Convex
Problems (ICML 2018), Algorithms 1 (signSGD) and 3 (Signum). Reference:
``pytorch_optimizer.SignSGD`` (pytorch-optimizer 4.1.0), matched exactly, defaults included
(momentum 0.9: Signum; weight decay decoupled, or L2 in g with ``weight_decouple=False``). The
momentum EMA is torch's ``lerp`` to the bit (below weight 1/2: m + w (g - m); from it:
g - (g - m)(1 - w)), so momentum 0 in a batch that has a buffer gives sign(g) exactly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, cell_grad, cell_sign_step, decay_and_grad,
    lr_hyper, torch_lerp, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("momentum_buffer",) if np.any(np.asarray(hp["momentum"]) > 0) else ()


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))



def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    new: dict[str, Any] = {"step": state["step"] + 1}
    d = g
    if "momentum_buffer" in state:
        d = new["momentum_buffer"] = torch_lerp(state["momentum_buffer"], g, 1 - hp["momentum"])
    return params - hp["learning_rate"] * np.sign(d), new


SLOTS = ("momentum_buffer",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    wd, dec, w = hp["weight_decay"], hp["weight_decouple"], 1 - hp["momentum"]
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "w": w, "one_m_w": 1 - w, "w_small": w < 0.5,
        "lr": lr, "neg": hp["maximize"], "decoupled": dec, "buffered": bool(np.any(np.asarray(hp["momentum"]) > 0)),
    }, {}


def cell(p, g, m, decay, l2, w, one_m_w, w_small, lr, neg, decoupled, buffered):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    d = g
    if buffered != 0:
        if w_small != 0:
            m = m + w * (g - m)
        else:
            m = g - (g - m) * one_m_w
        d = m
    return p - cell_sign_step(d, lr), m


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: every coordinate moves by lr, the sign of the momentum (of the gradient for
    signSGD), -lr sign(m) (``sign_step``), plus the decoupled decay -lr wd p (``weight_decay``)."""
    lr, mu, wd = hp["learning_rate"], hp["momentum"], hp["weight_decay"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    d = out["g"]
    if "momentum_buffer" in after:
        d = after["momentum_buffer"]
        out.update(mu=mu, one_m_mu=1 - mu, m_prev=before["momentum_buffer"], m=d)
    out.update(d=np.sign(d), sign_step=-lr * np.sign(d))
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


def _buffered(hp: Any) -> bool:
    return bool(hp["momentum"] > 0)


def _decays(hp: Any) -> bool:
    return bool(hp["weight_decouple"] and hp["weight_decay"] != 0)


ANATOMY = Anatomy(
    terms=(
        Term("sign_step", "-η sign(m)", r"-\eta\, \mathrm{sign}(m_t)", "the sign of the momentum: every coordinate moves by lr"),
        Term("weight_decay", "-η λ p", r"-\eta\,\lambda\, p_t", "decoupled weight decay: a shrink toward 0"),
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        Line(r"m_t = \mu\, m_{t-1} + (1-\mu)\, g_t", "m = {mu} × {m_prev} + {one_m_mu} × {g} = {m!}", when=_buffered),
        Line(r"p_{t+1} = p_t - \eta\, \mathrm{sign}(m_t)", "p = {p} − {lr} × {d} = {p_new!}",
             when=lambda hp: _buffered(hp) and not _decays(hp)),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) - \eta\, \mathrm{sign}(m_t)", "p = {p} × (1 − {lr} × {wd}) − {lr} × {d} = {p_new!}",
             when=lambda hp: _buffered(hp) and _decays(hp)),
        Line(r"p_{t+1} = p_t - \eta\, \mathrm{sign}(g_t)", "p = {p} − {lr} × {d} = {p_new!}",
             when=lambda hp: not _buffered(hp) and not _decays(hp)),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) - \eta\, \mathrm{sign}(g_t)", "p = {p} × (1 − {lr} × {wd}) − {lr} × {d} = {p_new!}",
             when=lambda hp: not _buffered(hp) and _decays(hp)),
    ),
    values=anatomy_values, composes=("sign_step", "weight_decay"),
)


SPEC = OptimizerSpec(
    name="signum", title="Signum", class_name="SignSGD", aliases=("signsgd",),
    hypers=(
        lr_hyper(1e-3),
        Hyper("momentum", 0.9, low=0.0, high=1.0, high_open=True, doc="EMA of the gradients whose sign is taken (0: signSGD)"),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) or L2 in g, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=r"m_t = \mu m_{t-1} + (1-\mu) g_t,\; p_t = p_{t-1}(1-\eta\lambda) - \eta\,\mathrm{sign}(m_t)",
    paper="Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems (ICML 2018)",
    reference=Reference("pytorch_optimizer.SignSGD", "pytorch-optimizer"),
    family="sign-based",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "momentum": 0.0, "weight_decay": 0.1},
        {"momentum": 0.3, "weight_decay": 0.1, "weight_decouple": False, "maximize": True},
    ),
)
