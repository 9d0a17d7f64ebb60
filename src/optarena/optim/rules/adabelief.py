"""AdaBelief: Adam whose second moment tracks the belief in the gradient, (g - m)^2, not g^2.

    m_t = b1 m + (1 - b1) g          s_t = b2 s + (1 - b2) (g - m_t)^2 + eps
    s^_t = max(s^_{t-1}, s_t)  (ams_bound, on the raw s)
    p_t = p - lr / (1 - b1^t) * m_t / (sqrt(s_t) / sqrt(1 - b2^t) + eps)

``rectify`` (RAdam's rectification, as the authors' package offers it): with
rho_inf = 2 / (1 - b2) - 1 and rho_t = rho_inf - 2 t b2^t / (1 - b2^t),
p_t = p - lr r_t / (1 - b1^t) * m_t / (sqrt(s_t) + eps) when rho_t >= 5, where
r_t = sqrt((1 - b2^t)(rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)),
and the SGD-with-momentum step p - lr / (1 - b1^t) * m_t before (degenerated_to_sgd).
Weight decay is decoupled (p *= 1 - lr wd, the default, as the authors') or L2 in g.

Zhuang et al., AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients
(NeurIPS 2020), Algorithm 2. Reference: ``pytorch_optimizer.AdaBelief`` (pytorch-optimizer
4.1.0), the same rule as the authors' ``adabelief-pytorch`` 0.2.1 with its options, and the same
defaults except ``rectify``: the authors' package turns it on by default, the paper's Algorithm 2
and pytorch-optimizer have it off; we follow the paper. Not offered: ``fixed_decay`` (decay
without lr) and ``n_sma_threshold`` / ``degenerated_to_sgd`` (fixed at the reference's 5 / True).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, FIRST_MOMENT, L2_LINE, Line, Term, descended, step_lines
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, bias_correction, cell_grad,
    decay_and_grad, eps_hyper, lerp, lr_hyper, sqrt, wd_hyper, zeros_state,
)

N_SMA_THRESHOLD = 5.0  # the reference's n_sma_threshold: rectified steps from rho_t >= 5


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_var", "max_exp_avg_var") if hp["ams_bound"] else ("exp_avg", "exp_avg_var")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def _where(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``, elementwise for arrays; Python floats stay Python floats (weak)."""
    if np.ndim(cond) == 0 and not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return a if bool(cond) else b
    return np.where(cond, a, b)


def step_constants(hp: HyperValues, t: Any, lr: Any) -> tuple[Any, Any, Any]:
    """(step size, sqrt(1 - b2^t) the denominator is divided by, adaptive step?) at step ``t``.
    Without ``rectify``: (lr / (1 - b1^t), sqrt(1 - b2^t), True). With it: RAdam's r_t folded
    into the step size, no division in the denominator, adaptive from rho_t >= 5 on."""
    b1, b2 = hp["beta1"], hp["beta2"]
    bc1 = bias_correction(b1, t)
    if not hp["rectify"]:
        return lr / bc1, sqrt(bias_correction(b2, t)), True
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    b2t = b2**t
    rho = rho_inf - 2 * t * b2t / (1.0 - b2t)
    adaptive = rho >= N_SMA_THRESHOLD
    safe = _where(adaptive, rho, 2 * N_SMA_THRESHOLD)  # no sqrt of a negative in the branch not taken
    r = sqrt((1.0 - b2t) * (safe - 4) / (rho_inf - 4) * (safe - 2) / safe * rho_inf / (rho_inf - 2))
    r = _where(adaptive, r, 1.0)
    return lr * r / bc1, 1.0, adaptive


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, hp["weight_decouple"])
    t = state["step"] + 1
    b2 = hp["beta2"]
    m = lerp(state["exp_avg"], g, 1 - hp["beta1"])
    r = g - m
    s = b2 * state["exp_avg_var"] + (1 - b2) * r * r + hp["epsilon"]
    new: dict[str, Any] = {"step": t, "exp_avg": m, "exp_avg_var": s}
    if hp["ams_bound"]:
        s = new["max_exp_avg_var"] = np.maximum(state["max_exp_avg_var"], s)
    step_size, bc2_sqrt, adaptive = step_constants(hp, t, hp["learning_rate"])
    adam_step = m / (np.sqrt(s) / bc2_sqrt + hp["epsilon"])
    return params - step_size * _where(adaptive, adam_step, m), new


SLOTS = ("exp_avg", "exp_avg_var", "max_exp_avg_var")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    b1, b2, wd, dec = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["weight_decouple"]
    step_size, bc2_sqrt, adaptive = step_constants(hp, t, lr)
    return {
        "decay": (1 - lr * wd) if dec else 1.0, "l2": 0.0 if dec else wd, "one_m_b1": 1 - b1, "b2": b2, "one_m_b2": 1 - b2,
        "eps": hp["epsilon"], "bc2_sqrt": bc2_sqrt, "step_size": step_size, "adaptive": adaptive, "neg": hp["maximize"],
        "decoupled": dec, "ams": hp["ams_bound"],
    }, {}


def cell(p, g, m, s, smax, decay, l2, one_m_b1, b2, one_m_b2, eps, bc2_sqrt, step_size, adaptive, neg, decoupled, ams):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    m = m + one_m_b1 * (g - m)
    r = g - m
    s = b2 * s + one_m_b2 * r * r + eps
    shat = s
    if ams != 0:
        smax = max(smax, s)
        shat = smax
    if adaptive != 0:
        return p - step_size * (m / (math.sqrt(shat) / bc2_sqrt + eps)), m, s, smax
    return p - step_size * m, m, s, smax


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Adam's bias-corrected direction with the belief s in place of v,
    -lr / (1 - b1^t) m / (sqrt(s^) / sqrt(1 - b2^t) + eps) (``direction``; with ``rectify``,
    -lr r_t / (1 - b1^t) m / (sqrt(s^) + eps) once rho_t >= 5, and the momentum step
    -lr / (1 - b1^t) m before, ``momentum``), plus the decoupled decay -lr wd p (``weight_decay``).
    The rectified lines write the switch as the indicator [rho_t >= 5] (r_t shows 0 while it is 0);
    the rate multiplying m is the ``stretch``."""
    lr, b1, b2, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    t = after["step"]
    m = after["exp_avg"]
    shat = after["max_exp_avg_var"] if hp["ams_bound"] else after["exp_avg_var"]
    bc1, bc2 = bias_correction(b1, t), bias_correction(b2, t)
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, eps=eps, m_prev=before["exp_avg"], m=m,
               s_prev=before["exp_avg_var"], s=after["exp_avg_var"], shat=shat, bc1=bc1, bc2=bc2)
    if hp["ams_bound"]:
        out["smax_prev"] = before["max_exp_avg_var"]
    step_size, bc2_sqrt, adaptive = step_constants(hp, t, lr)
    if hp["rectify"]:
        on = bool(adaptive)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        a = 1.0 / (np.sqrt(shat) + eps) if on else np.ones_like(m)
        out.update(t=t, b2t=b2**t, rho_inf=rho_inf, rho=rho_inf - 2 * t * b2**t / bc2, on=float(on),
                   r=step_size * bc1 / lr if on else 0.0, a=step_size * bc1 / lr * a if on else a)
        rate = step_size * a
    else:
        on = True
        rate = step_size / (np.sqrt(shat) / bc2_sqrt + eps)
    out["rate"] = rate
    out["direction" if on else "momentum"] = -rate * m
    if decoupled and wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out




ANATOMY = Anatomy(
    terms=(
        Term("direction", "-η m̂/(√ŝ+ε)", r"-\eta\, \hat m_t / (\sqrt{\hat s_t} + \epsilon)",
             "Adam's bias-corrected direction, each coordinate over the RMS of its belief (g - m)"),
        Term("momentum", "-η m̂", r"-\eta\, \hat m_t", "rectify, while rho_t < 5: SGD with the bias-corrected momentum"),
        DECOUPLED_DECAY,
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        FIRST_MOMENT,
        Line(r"s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon",
             "s = {beta2} × {s_prev} + {one_m_b2} × ({g} − {m})² + {eps} = {s!}"),
        Line(r"\hat s_t = \max(\hat s_{t-1}, s_t)", "ŝ = max({smax_prev}, {s}) = {shat!}", when=lambda hp: bool(hp["ams_bound"])),
        *step_lines(r"- \frac{\eta}{1-\beta_1^t}\, m_t / (\sqrt{\hat s_t} / \sqrt{1-\beta_2^t} + \epsilon)",
                "− {lr} / {bc1} × {m} / (√{shat} / √{bc2} + {eps}) = {p_new!}", lambda hp: not hp["rectify"]),
        Line(r"\rho_\infty = 2 / (1-\beta_2) - 1", "ρ∞ = 2 / (1 − {beta2}) − 1 = {rho_inf!}", when=lambda hp: bool(hp["rectify"])),
        Line(r"\rho_t = \rho_\infty - 2 t \beta_2^t / (1-\beta_2^t)", "ρ = {rho_inf} − 2 × {t} × {b2t} / {bc2} = {rho!}",
             when=lambda hp: bool(hp["rectify"])),
        Line(r"r_t = \sqrt{[\rho_t \geq 5]\, \frac{(1-\beta_2^t)(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}",
             "r = √({on} × {bc2} × ({rho} − 4) × ({rho} − 2) × {rho_inf} / (({rho_inf} − 4) × ({rho_inf} − 2) × {rho})) = {r!}",
             when=lambda hp: bool(hp["rectify"])),
        Line(r"a_t = [\rho_t \geq 5]\, r_t / (\sqrt{\hat s_t} + \epsilon) + [\rho_t < 5]",
             "a = {on} × {r} / (√{shat} + {eps}) + (1 − {on}) = {a!}", when=lambda hp: bool(hp["rectify"])),
        *step_lines(r"- \frac{\eta}{1-\beta_1^t}\, m_t\, a_t", "− {lr} / {bc1} × {m} × {a} = {p_new!}", lambda hp: bool(hp["rectify"])),
    ),
    values=anatomy_values, composes=("direction", "momentum", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/((1−β₁ᵗ)(√ŝ/√(1−β₂ᵗ)+ε))",
)


SPEC = OptimizerSpec(
    name="adabelief", title="AdaBelief",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "decay of the belief (g - m)^2"),
        eps_hyper(1e-16),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) or L2 in g, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        Hyper("rectify", False, kind="bool", doc="RAdam's rectification (SGD steps while rho_t < 5)"),
        Hyper("ams_bound", False, kind="bool", doc="use the running max of s (AMSGrad)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon,\; "
          r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{s_t}/\sqrt{1-\beta_2^t} + \epsilon}"),
    paper="Zhuang et al., AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients (NeurIPS 2020)",
    reference=Reference("pytorch_optimizer.AdaBelief", "pytorch-optimizer"),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "weight_decay": 0.1, "ams_bound": True, "epsilon": 1e-8},
        {"beta1": 0.8, "beta2": 0.99, "rectify": True, "weight_decay": 0.1, "weight_decouple": False, "maximize": True},
    ),
)
