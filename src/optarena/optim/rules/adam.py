"""Adam with optional AMSGrad (torch.optim.Adam; the article's Adam).

    m_t = b1 m + (1 - b1) g          v_t = b2 v + (1 - b2) g^2
    v^_t = max(v^_{t-1}, v_t)  (AMSGrad, on the raw v)
    p_t = p - lr / (1 - b1^t) * m_t / (sqrt(v_t) / sqrt(1 - b2^t) + eps)

Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015);
Reddi et al., On the Convergence of Adam and Beyond (ICLR 2018) for AMSGrad.
"""

from __future__ import annotations

import math
from typing import Any

from ..anatomy import Anatomy, DECOUPLED_DECAY, FIRST_MOMENT, L2_LINE, Line, SECOND_MOMENT, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, beta_hyper, bias_correction,
    cell_adam_moments, decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if hp["amsgrad"] else ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def adam_update(params: Array, grads: Array, state: State, hp: HyperValues, decoupled: bool) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, decoupled)
    t = state["step"] + 1
    b1, b2 = hp["beta1"], hp["beta2"]
    m = lerp(state["exp_avg"], g, 1 - b1)
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    new: dict[str, Any] = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    if hp["amsgrad"]:
        import numpy as np

        v = new["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
    denom = sqrt(v) / sqrt(bias_correction(b2, t)) + hp["epsilon"]
    step_size = hp["learning_rate"] / bias_correction(b1, t)
    return params - step_size * (m / denom), new


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    return adam_update(params, grads, state, hp, decoupled=False)


SLOTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def adam_coefficients(hp: HyperValues, t: Any, lr: Any, decoupled: bool) -> dict[str, Any]:
    b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
    return {
        "decay": (1 - lr * wd) if decoupled else 1.0, "l2": 0.0 if decoupled else wd, "one_m_b1": 1 - b1, "b2": b2,
        "one_m_b2": 1 - b2, "bc2_sqrt": sqrt(bias_correction(b2, t)), "eps": hp["epsilon"],
        "step_size": lr / bias_correction(b1, t), "neg": hp["maximize"], "decoupled": decoupled, "amsgrad": hp["amsgrad"],
    }


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return adam_coefficients(hp, t, lr, decoupled=False), {}


def cell(p, g, m, v, vmax, decay, l2, one_m_b1, b2, one_m_b2, bc2_sqrt, eps, step_size, neg, decoupled, amsgrad):
    """One element of the rule above (compiled by numba for the fused paths)."""
    p, g, m, v = cell_adam_moments(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, neg, decoupled)
    vhat = v
    if amsgrad != 0:
        vmax = max(vmax, v)
        vhat = vmax
    return p - step_size * (m / (math.sqrt(vhat) / bc2_sqrt + eps)), m, v, vmax


def adam_hypers(lr: float, weight_decay: Hyper) -> tuple[Hyper, ...]:
    return (
        lr_hyper(lr),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-8),
        weight_decay,
        Hyper("amsgrad", False, kind="bool", doc="use the running max of v (AMSGrad)"),
        MAXIMIZE,
    )


def adam_anatomy(decoupled: bool) -> Anatomy:
    """Adam's step as the article writes it: the moments, their bias corrections and the
    direction -lr m^ / (sqrt(v^) + eps) (``direction``), plus AdamW's -lr wd p (``weight_decay``);
    the per-coordinate effective learning rate lr / (sqrt(v^) + eps) is the ``stretch``."""

    def values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
        import numpy as np

        lr, wd, b1, b2, eps = hp["learning_rate"], hp["weight_decay"], hp["beta1"], hp["beta2"], hp["epsilon"]
        t = after["step"]
        bc1, bc2 = bias_correction(b1, t), bias_correction(b2, t)
        vv = after["max_exp_avg_sq"] if hp["amsgrad"] else after["exp_avg_sq"]
        mhat, vhat = after["exp_avg"] / bc1, vv / bc2
        rate = lr / (np.sqrt(vhat) + eps)
        out: dict[str, Any] = {
            **descended(p, g, hp, l2=not decoupled), "beta1": b1, "beta2": b2, "one_m_b1": 1 - b1, "one_m_b2": 1 - b2, "eps": eps,
            "m_prev": before["exp_avg"], "m": after["exp_avg"], "v_prev": before["exp_avg_sq"], "v": after["exp_avg_sq"],
            "vv": vv, "bc1": bc1, "bc2": bc2, "mhat": mhat, "vhat": vhat, "rate": rate,
            "direction": -rate * mhat,
        }
        if hp["amsgrad"]:
            out["vmax_prev"] = before["max_exp_avg_sq"]
        if decoupled and wd != 0:
            out["weight_decay"] = -lr * wd * p
        return out

    step = (r"p_{t+1} = p_t (1 - \eta\lambda) - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)",
            "p = {p} × (1 − {lr} × {wd}) − {lr} × {mhat} / (√{vhat} + {eps}) = {p_new!}") if decoupled else \
           (r"p_{t+1} = p_t - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)",
            "p = {p} − {lr} × {mhat} / (√{vhat} + {eps}) = {p_new!}")
    return Anatomy(
        terms=(
            Term("direction", "-η m̂/(√v̂+ε)", r"-\eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)",
                 "Adam's bias-corrected direction: each coordinate's mean gradient over its RMS"),
            DECOUPLED_DECAY,
        ),
        lines=(
            *(() if decoupled else (L2_LINE,)),
            FIRST_MOMENT,
            SECOND_MOMENT,
            Line(r"v^{max}_t = \max(v^{max}_{t-1}, v_t)", "vmax = max({vmax_prev}, {v}) = {vv!}", when=lambda hp: bool(hp["amsgrad"])),
            Line(r"\hat m_t = m_t / (1-\beta_1^t)", "m̂ = {m} / {bc1} = {mhat!}"),
            Line(r"\hat v_t = v_t / (1-\beta_2^t)", "v̂ = {vv} / {bc2} = {vhat!}"),
            Line(*step),
        ),
        values=values,
        composes=("direction", "weight_decay"),
        stretch="rate",
        stretch_label="effective learning rate η/(√v̂+ε)",
    )


RULE = (r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; "
        r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}")

SPEC = OptimizerSpec(
    name="adam", title="Adam", hypers=adam_hypers(0.001, wd_hyper()), init=init, update=update,
    state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS, rule=RULE, anatomy=adam_anatomy(False),
    paper="Kingma & Ba, Adam: A Method for Stochastic Optimization (ICLR 2015)",
    torch=TorchClass(
        "Adam",
        "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, foreach=None, "
        "maximize=False, capturable=False, differentiable=False, fused=None, decoupled_weight_decay=False",
        variant=("decoupled_weight_decay", "adamw"),
    ),
    colour="#009E73",
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.1},
        {"beta1": 0.5, "beta2": 0.9, "epsilon": 0.001, "maximize": True},
    ),
)
