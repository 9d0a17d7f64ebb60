"""Schedule-Free AdamW: Schedule-Free SGD (rules/schedulefree_sgd.py) on the gradient divided by
Adam's bias-corrected RMS, with the decay taken at y after that division.

    v     = b2 v + (1 - b2) grad(y)^2
    g     = grad(y) / (sqrt(v / (1 - b2^t)) + eps) + wd y
    y     = lerp(y, z, c_t) + lr_t (b1 (1 - c_t) - 1) g,   z = z - lr_t g
    x     = y + (1 - 1/b1)(z - y)   (``eval_point``; ``train_point`` is its inverse)

with lr_t, c_t (warm-up, the t^r lr_max^weight_lr_power weights) as in Schedule-Free SGD; no
first moment: b1 is the interpolation weight. Defazio et al., The Road Less Scheduled (NeurIPS
2024), Algorithm 1 with Adam's normalisation. Reference: ``schedulefree.AdamWScheduleFree``
(schedulefree 1.4.1, the train-mode class whose parameter holds y), matched exactly, defaults
included; its per-group k, weight_sum and lr_max are per-run scalars here. Ranges the
reference does not check: b1 in (0, 1) (b1 = 0 makes y = z, so x is lost: the reference's eval()
divides by b1), r >= 0, weight_lr_power >= 0, warmup_steps >= 0. Not offered: ``maximize`` (the
reference has none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import Anatomy, Line, Term, descended
from .._spec import (
    Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, eps_hyper, lr_hyper, sqrt,
    wd_hyper,
)
from .schedulefree_sgd import (
    AVERAGING_TERMS, FAMILY, GROUP_SCALARS, PAPER, SCALARS, averaging, averaging_hypers, averaging_lines, averaging_values, cell_step_y,
    init_state, points, step_coefficients, step_y,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("z", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    return init_state(params, ("exp_avg_sq",))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    t = state["step"] + 1
    lr_t, ckp1, scalars = averaging(hp, t, hp["learning_rate"], {k: state[k] for k in SCALARS})
    b2 = hp["beta2"]
    v = b2 * state["exp_avg_sq"] + (1 - b2) * grads * grads
    g = grads / (sqrt(v / bias_correction(b2, t)) + hp["epsilon"])
    if np.any(hp["weight_decay"] != 0):
        g = g + hp["weight_decay"] * params
    y, z = step_y(params, state["z"], g, lr_t, ckp1, hp["beta1"])
    return y, {"step": t, "z": z, "exp_avg_sq": v, **scalars}


SLOTS = ("z", "exp_avg_sq")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    c, after = step_coefficients(hp, t, lr, scalars, hp["beta1"])
    b2 = hp["beta2"]
    return {**c, "b2": b2, "one_m_b2": 1 - b2, "bc2": bias_correction(b2, t), "eps": hp["epsilon"]}, after


def cell(p, g, z, v, b2, one_m_b2, bc2, eps, wd, far, ckp1, one_m_ckp1, c_g, lr):
    """One element of the rule above (compiled by numba for the fused paths)."""
    v = b2 * v + one_m_b2 * g * g
    g = g / (math.sqrt(v / bc2) + eps)
    if wd != 0:
        g = g + wd * p
    return cell_step_y(p, z, g, far, ckp1, one_m_ckp1, c_g), z - lr * g, v


EVAL_POINT, TRAIN_POINT = points("beta1")

def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step of the average x (see ``schedulefree_sgd.averaging_values``), z stepping along the
    gradient over Adam's bias-corrected RMS d, grad(y) / d + wd y: x's share of it,
    -c lr_t grad(y) / d (``scaled``), c lr_t / d being the ``stretch``."""
    out = descended(p, g, hp, l2=False)
    b2, t, wd = hp["beta2"], after["step"], hp["weight_decay"]
    v = after["exp_avg_sq"]
    bc2 = bias_correction(b2, t)
    d = sqrt(v / bc2) + hp["epsilon"]
    gn = out["grad"] / d
    if wd != 0:
        gn = gn + wd * p
    out.update(averaging_values(p, gn, before, after, hp, "beta1"))
    out.update(beta2=b2, one_m_b2=1 - b2, eps=hp["epsilon"], bc2=bc2, v_prev=before["exp_avg_sq"], v=v, d=d,
               scaled=-(out["c"] * out["lr_t"]) * (out["grad"] / d), rate=out["c"] * out["lr_t"] / d)
    return out


ANATOMY = Anatomy(
    terms=(Term("scaled", "-c γ ∇f(y)/d", r"-c_t \gamma_t \nabla f(y_t) / d_t",
                "x's share of z's step along the gradient (taken at y) over its running RMS d"), *AVERAGING_TERMS),
    lines=averaging_lines((
        Line(r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\, \nabla f(y_t)^2", "v = {beta2} × {v_prev} + {one_m_b2} × {grad}² = {v!}"),
        Line(r"d_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon", "d = √({v} / {bc2}) + {eps} = {d!}"),
        Line(r"g_t = \nabla f(y_t) / d_t", "g = {grad} / {d} = {g!}", when=lambda hp: hp["weight_decay"] == 0),
        Line(r"g_t = \nabla f(y_t) / d_t + \lambda\, y_t", "g = {grad} / {d} + {wd} × {p} = {g!}", when=lambda hp: hp["weight_decay"] != 0),
    )),
    values=anatomy_values, composes=("scaled", "average", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate of x, c γ/d",
)


SPEC = OptimizerSpec(
    name="sf_adamw", title="Schedule-Free AdamW", class_name="AdamWScheduleFree",
    hypers=(
        lr_hyper(0.0025),
        Hyper("beta1", 0.9, low=0.0, high=1.0, low_open=True, high_open=True, doc="beta: y = (1 - beta) z + beta x"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-8),
        wd_hyper(doc="decay added to the normalised gradient, at y"),
        *averaging_hypers(),
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    scalars=SCALARS, eval_point=EVAL_POINT, train_point=TRAIN_POINT,
    rule=(r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; \hat g_t = \frac{g_t}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon} + \lambda y_t,\; "
          r"z_{t+1} = z_t - \gamma_t \hat g_t,\; x_{t+1} = (1-c_{t+1})x_t + c_{t+1} z_{t+1},\; "
          r"y_{t+1} = (1-\beta_1)z_{t+1} + \beta_1 x_{t+1}"),
    paper=PAPER,
    reference=Reference("schedulefree.AdamWScheduleFree", "schedulefree", group_scalars=GROUP_SCALARS),
    family=FAMILY,
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "beta1": 0.5, "weight_decay": 0.1, "warmup_steps": 4.0, "epsilon": 1e-3},
        {"beta2": 0.99, "r": 0.5, "weight_lr_power": 1.0, "warmup_steps": 20.0},
    ),
)
