"""RAdam: Adam with the variance of the adaptive step rectified (torch.optim.RAdam).

    rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / (1 - b2^t),   m^ = m / (1 - b1^t)
    rho_t > 5:  p -= lr m^ r_t sqrt(1 - b2^t) / (sqrt(v) + eps),
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    otherwise:  p -= lr m^          (with b2 = 0.999 the switch happens at t = 6)

Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, FIRST_MOMENT, L2_LINE, Line, SECOND_MOMENT, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, beta_hyper, bias_correction,
    cell_adam_moments, decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def _rectifier(b2: Any, t: int) -> tuple[Any, Any]:
    """(rectified?, r_t) for step t; arrays when b2 is batched."""
    bc2 = bias_correction(b2, t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * (b2**t) / bc2
    on = rho_t > 5.0
    safe = np.where(on, rho_t, 6.0) if isinstance(rho_t, np.ndarray) else (rho_t if on else 6.0)
    r = ((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe)) ** 0.5
    return on, r


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["decoupled_weight_decay"])
    t = state["step"] + 1
    b1, b2, lr = hp["beta1"], hp["beta2"], hp["learning_rate"]
    m = lerp(state["exp_avg"], g, 1 - b1)
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    m_hat = m / bias_correction(b1, t)
    on, r = _rectifier(b2, t)
    new = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    if not np.any(on):
        return params - m_hat * lr, new
    adaptive = sqrt(bias_correction(b2, t)) / (np.sqrt(v) + hp["epsilon"])
    rectified = params - m_hat * lr * adaptive * r
    if np.all(on):
        return rectified, new
    return np.where(on, rectified, params - m_hat * lr), new


SLOTS = ("exp_avg", "exp_avg_sq")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
    dec = hp["decoupled_weight_decay"]
    on, r = _rectifier(b2, t)
    return {"decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "b2": b2,
            "one_m_b2": 1 - b2, "bc1": bias_correction(b1, t), "bc2_sqrt": sqrt(bias_correction(b2, t)),
            "eps": hp["epsilon"], "lr": lr, "r": r, "rectified": on, "neg": hp["maximize"], "decoupled": dec}, {}


def cell(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, bc1, bc2_sqrt, eps, lr, r, rectified, neg, decoupled):
    """One element of the rule above (compiled by numba for the fused paths)."""
    p, g, m, v = cell_adam_moments(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, neg, decoupled)
    m_hat = m / bc1
    if rectified != 0:
        return p - m_hat * lr * (bc2_sqrt / (math.sqrt(v) + eps)) * r, m, v
    return p - m_hat * lr, m, v


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: once the variance of the adaptive rate is tractable (rho_t > 5, from t = 6 with
    b2 = 0.999) Adam's step rectified by r_t, -lr m^ r_t sqrt(1 - b2^t) / (sqrt(v) + eps)
    (``rectified``); before, SGD with the bias-corrected momentum, -lr m^ (``momentum``); plus the
    decoupled decay -lr wd p (``weight_decay``). The lines write the switch as the indicator
    [rho_t > 5] (1 or 0; r_t, defined only when it is 1, shows 0 otherwise); lr a_t is the
    ``stretch``."""
    lr, b1, b2, wd = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"]
    decoupled = bool(hp["decoupled_weight_decay"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    on, r = _rectifier(b2, t)
    on = bool(on)
    bc1, bc2 = bias_correction(b1, t), bias_correction(b2, t)
    m, v = after["exp_avg"], after["exp_avg_sq"]
    mhat = m / bc1
    rho_inf = 2 / (1 - b2) - 1
    a = sqrt(bc2) / (np.sqrt(v) + hp["epsilon"]) * r if on else np.ones_like(v)
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, eps=hp["epsilon"], t=t, b2t=b2**t, bc1=bc1, bc2=bc2,
               rho_inf=rho_inf, rho=rho_inf - 2 * t * (b2**t) / bc2, on=float(on), r=r if on else 0.0, a=a, rate=lr * a,
               m_prev=before["exp_avg"], m=m, v_prev=before["exp_avg_sq"], v=v, mhat=mhat)
    out["rectified" if on else "momentum"] = -(mhat * lr * a) if on else -(mhat * lr)
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


def _decoupled(hp: Any) -> bool:
    return bool(hp["decoupled_weight_decay"])


ANATOMY = Anatomy(
    terms=(
        Term("rectified", "-η r √(1-β₂ᵗ) m̂/(√v+ε)", r"-\eta\, r_t \sqrt{1-\beta_2^t}\, \hat m_t / (\sqrt{v_t} + \epsilon)",
             "Adam's step, its adaptive rate rectified by r_t (once rho_t > 5)"),
        Term("momentum", "-η m̂", r"-\eta\, \hat m_t",
             "while rho_t <= 5 the adaptive rate's variance is intractable: SGD with the bias-corrected momentum"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not _decoupled(hp)),
        FIRST_MOMENT,
        SECOND_MOMENT,
        Line(r"\hat m_t = m_t / (1-\beta_1^t)", "m̂ = {m} / {bc1} = {mhat!}"),
        Line(r"\rho_\infty = 2 / (1-\beta_2) - 1", "ρ∞ = 2 / (1 − {beta2}) − 1 = {rho_inf!}"),
        Line(r"\rho_t = \rho_\infty - 2 t \beta_2^t / (1-\beta_2^t)", "ρ = {rho_inf} − 2 × {t} × {b2t} / {bc2} = {rho!}"),
        Line(r"r_t = \sqrt{[\rho_t > 5]\, \frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}",
             "r = √({on} × ({rho} − 4) × ({rho} − 2) × {rho_inf} / (({rho_inf} − 4) × ({rho_inf} − 2) × {rho})) = {r!}"),
        Line(r"a_t = [\rho_t > 5]\, r_t \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon) + [\rho_t \leq 5]",
             "a = {on} × {r} × √{bc2} / (√{v} + {eps}) + (1 − {on}) = {a!}"),
        Line(r"p_{t+1} = p_t - \eta\, \hat m_t\, a_t", "p = {p} − {lr} × {mhat} × {a} = {p_new!}", when=lambda hp: not _decoupled(hp)),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) - \eta\, \hat m_t\, a_t", "p = {p} × (1 − {lr} × {wd}) − {lr} × {mhat} × {a} = {p_new!}",
             when=_decoupled),
    ),
    values=anatomy_values, composes=("rectified", "momentum", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η a",
)


SPEC = OptimizerSpec(
    name="radam", title="RAdam",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-8),
        wd_hyper(),
        Hyper("decoupled_weight_decay", False, kind="bool", doc="AdamW-style decay"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t};\; p_t = p_{t-1} - \eta \hat m_t "
          r"\cdot\begin{cases} r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5 \\ 1 & \text{else}\end{cases}"),
    paper="Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020)",
    torch=TorchClass(
        "RAdam",
        "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *, "
        "foreach=None, maximize=False, capturable=False, differentiable=False",
    ),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"weight_decay": 0.1, "beta2": 0.99},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    ),
)
