"""Rprop: resilient backpropagation, one step size per element (torch.optim.Rprop).

    s = g * prev
    step = clamp(step * (etaplus if s > 0, etaminus if s < 0, 1 otherwise), step_size_min, step_size_max)
    g = 0 where s < 0          (the sign flipped: no move now, and no sign to compare next time)
    p = p - sign(g) * step,    prev = g,        step_0 = lr, prev_0 = 0
    (sign(NaN) = 0 as in torch: a NaN gradient neither moves p nor changes a step size; it is kept in prev)

Only the sign of the gradient moves ``p``; ``lr`` is the initial step size (torch reads it
once, when the state is made). torch's constructor takes ``etas=(etaminus, etaplus)`` and
``step_sizes=(step_size_min, step_size_max)``; the rule names the four numbers as torch's
functional ``rprop`` does. torch checks 0 < etaminus < 1 < etaplus and nothing about the step
sizes; here they must be >= 0 (a negative bound would step uphill).

Riedmiller & Braun, A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP
Algorithm (IEEE ICNN 1993).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..anatomy import Anatomy, Line, Term, descended
from .._spec import MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, TorchClass, lr_hyper


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("prev", "step_size")


def init(params: Array, hp: HyperValues) -> State:
    step = np.broadcast_to(hp["learning_rate"], params.shape) if params.ndim else hp["learning_rate"]
    return {"step": 0, "prev": np.zeros_like(params), "step_size": np.array(step, dtype=params.dtype)}


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else grads
    s = g * state["prev"]
    step = state["step_size"]
    # step * eta in the params' dtype (torch stores eta there first: the same rounding)
    # factor 1 where s is 0 or NaN (torch's sign(NaN) is 0)
    step = np.where(s > 0, step * hp["etaplus"], np.where(s < 0, step * hp["etaminus"], step))
    step = np.minimum(np.maximum(step, hp["step_size_min"]), hp["step_size_max"])  # torch's clamp; NaN stays
    g = np.where(s < 0, np.zeros_like(g), g)
    sign = (g > 0).astype(g.dtype) - (g < 0).astype(g.dtype)  # torch's sign: 0 for NaN (a NaN gradient does not move p)
    p = params - sign * step
    return p, {"step": state["step"] + 1, "prev": g, "step_size": step}


SLOTS = ("prev", "step_size")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"etaminus": hp["etaminus"], "etaplus": hp["etaplus"], "lo": hp["step_size_min"], "hi": hp["step_size_max"],
            "zero": 0.0, "neg": hp["maximize"]}, {}


def cell(p, g, prev, step, etaminus, etaplus, lo, hi, zero, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if neg != 0:
        g = -g
    s = g * prev
    if s > 0:
        step = step * etaplus
    elif s < 0:
        step = step * etaminus
        g = zero
    if step < lo:  # clamp as torch: max with lo, then min with hi; NaN passes
        step = lo
    if step > hi:
        step = hi
    if g > 0:
        p = p - step
    elif g < 0:
        p = p + step
    else:  # 0 or NaN: torch's sign is 0 for both
        p = p - step * zero
    return p, g, step


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: each coordinate moves by its own step size Delta against the sign of its
    gradient, -sign(g) Delta (``sign_step``), Delta growing by etaplus while the sign holds and
    shrinking by etaminus when it flips (then no move: g counts as 0); Delta is the ``stretch``."""
    out = descended(p, g, hp, l2=False)
    gd, prev = out["g"], before["prev"]
    s = gd * prev
    f = np.where(s > 0, hp["etaplus"], np.where(s < 0, hp["etaminus"], 1.0))
    kept = after["prev"]
    sign = (kept > 0).astype(kept.dtype) - (kept < 0).astype(kept.dtype)
    out.update(prev=prev, s=s, f=f, step_prev=before["step_size"], raw=before["step_size"] * f, lo=hp["step_size_min"],
               hi=hp["step_size_max"], keep=(s >= 0).astype(gd.dtype), kept=kept, sgn=sign, step_size=after["step_size"],
               sign_step=-sign * after["step_size"])
    return out


ANATOMY = Anatomy(
    terms=(Term("sign_step", "-sign(g) Δ", r"-\mathrm{sign}(g_t)\, \Delta_t",
                "each coordinate moves by its own step size, against the sign of its gradient"),),
    lines=(
        Line(r"s_t = g_t\, g_{t-1}", "s = {g} × {prev} = {s!}"),
        Line(r"\tilde\Delta_t = \Delta_{t-1} \cdot (\eta^+\ \mathrm{if}\ s_t > 0,\ \eta^-\ \mathrm{if}\ s_t < 0,\ \mathrm{else}\ 1)",
             "Δ̃ = {step_prev} × {f} = {raw!}"),
        # clip(x, lo, hi) = max(lo, min(hi, x)), min(a, b) written -max(-a, -b)
        Line(r"\Delta_t = \max(\Delta_{\min}, \min(\Delta_{\max}, \tilde\Delta_t))", "Δ = max({lo}, −max(−{hi}, −{raw})) = {step_size!}"),
        Line(r"g_t \leftarrow [s_t \geq 0]\, g_t", "g = {keep} × {g} = {kept!}"),
        Line(r"p_{t+1} = p_t - \mathrm{sign}(g_t)\, \Delta_t", "p = {p} − {sgn} × {step_size} = {p_new!}"),
    ),
    values=anatomy_values, composes=("sign_step",), stretch="step_size", stretch_label="step size Δ (multiplies sign g)",
)

SPEC = OptimizerSpec(
    name="rprop", title="Rprop",
    hypers=(
        lr_hyper(1e-2),
        Hyper("etaminus", 0.5, low=0.0, high=1.0, low_open=True, high_open=True, doc="step-size factor when g changes sign"),
        Hyper("etaplus", 1.2, low=1.0, low_open=True, doc="step-size factor when g keeps its sign"),
        Hyper("step_size_min", 1e-6, low=0.0, log=True, doc="smallest step size"),
        Hyper("step_size_max", 50.0, low=0.0, log=True, doc="largest step size"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    rule=(r"\Delta_t = \operatorname{clip}\big(\Delta_{t-1}\cdot(\eta^+ \text{ if } g_t g_{t-1} > 0,\ \eta^- \text{ if } "
          r"g_t g_{t-1} < 0,\ 1),\ \Delta_{\min}, \Delta_{\max}\big),\quad p_t = p_{t-1} - \operatorname{sign}(g_t)\,\Delta_t"
          r"\ (g_t := 0 \text{ where the sign flipped}),\ \Delta_0 = \eta"),
    paper="Riedmiller & Braun, A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP Algorithm (IEEE ICNN 1993)",
    torch=TorchClass(
        "Rprop",
        "lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None, maximize=False, "
        "differentiable=False",
    ),
    # etaminus/etaplus/step_size_min/step_size_max are torch's `etas` and `step_sizes` pairs (optim.TORCH_PAIRS)
    family="sign-based",
    examples=(
        {},
        {"learning_rate": 0.05, "maximize": True},
        {"etaminus": 0.3, "etaplus": 1.5, "step_size_min": 1e-3, "step_size_max": 0.05},
        {"learning_rate": 0.1, "etaminus": 0.7, "etaplus": 1.1, "step_size_max": 0.2, "maximize": True},
    ),
)

#: the examples that set the pairs
PAIR_EXAMPLES = SPEC.examples[2:]
