"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    v = alpha v + (1 - alpha) g^2
    a = sqrt(v - gbar^2) + eps, gbar = lerp(gbar, g, 1 - alpha)   (centered)   else  sqrt(v) + eps
    b = mu b + g / a, p -= lr b                                   (momentum)   else  p -= lr g / a

Hinton, Neural Networks for Machine Learning, lecture 6e (2012); Graves (2013) for centering.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    TorchClass,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, cell_grad, eps_hyper, lerp,
    lr_hyper, prepare_grad, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    names: tuple[str, ...] = ("square_avg",)
    if np.any(hp["momentum"] > 0):
        names += ("momentum_buffer",)
    if hp["centered"]:
        names += ("grad_avg",)
    return names


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    alpha = hp["alpha"]
    v = alpha * state["square_avg"] + (1 - alpha) * g * g
    new = {"step": state["step"] + 1, "square_avg": v}
    if "grad_avg" in state:
        gbar = new["grad_avg"] = lerp(state["grad_avg"], g, 1 - alpha)
        avg = np.sqrt(v - gbar * gbar) + hp["epsilon"]
    else:
        avg = np.sqrt(v) + hp["epsilon"]
    if "momentum_buffer" in state:
        b = new["momentum_buffer"] = hp["momentum"] * state["momentum_buffer"] + g / avg
        return params - hp["learning_rate"] * b, new
    return params - hp["learning_rate"] * (g / avg), new


SLOTS = ("square_avg", "momentum_buffer", "grad_avg")


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"lr": lr, "wd": hp["weight_decay"], "alpha": hp["alpha"], "one_m_alpha": 1 - hp["alpha"],
            "eps": hp["epsilon"], "mu": hp["momentum"], "neg": hp["maximize"], "centered": hp["centered"],
            "use_momentum": bool(np.any(hp["momentum"] > 0))}, {}


def cell(p, g, v, b, gbar, lr, wd, alpha, one_m_alpha, eps, mu, neg, centered, use_momentum):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    v = alpha * v + one_m_alpha * g * g
    if centered != 0:
        gbar = gbar + one_m_alpha * (g - gbar)
        avg = math.sqrt(v - gbar * gbar) + eps
    else:
        avg = math.sqrt(v) + eps
    if use_momentum != 0:
        b = mu * b + g / avg
        return p - lr * b, v, b, gbar
    return p - lr * (g / avg), v, b, gbar


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the gradient over a = sqrt(v) + eps (centered: sqrt(v - gbar^2) + eps), lr / a being
    the ``stretch``; with momentum the buffer adds -lr mu b_{t-1} (``momentum``)."""
    out = descended(p, g, hp)
    alpha, lr = hp["alpha"], hp["learning_rate"]
    v = after["square_avg"]
    out.update(alpha=alpha, one_m_alpha=1 - alpha, eps=hp["epsilon"], mu=hp["momentum"], v_prev=before["square_avg"], v=v)
    if "grad_avg" in after:
        out.update(gbar_prev=before["grad_avg"], gbar=after["grad_avg"])
        a = np.sqrt(v - after["grad_avg"] ** 2) + hp["epsilon"]
    else:
        a = np.sqrt(v) + hp["epsilon"]
    out.update(a=a, rate=lr / a, scaled=-lr * out["g"] / a)
    if "momentum_buffer" in after:
        out.update(b_prev=before["momentum_buffer"], b=after["momentum_buffer"], momentum=-lr * hp["momentum"] * before["momentum_buffer"])
    return out


def _momentum(hp: Any) -> bool:
    return bool(np.any(hp["momentum"] > 0))


ANATOMY = Anatomy(
    terms=(
        Term("scaled", "-η g/a", r"-\eta\, g_t / a_t", "the gradient step, each coordinate divided by its running RMS a"),
        Term("momentum", "-η μ b(t-1)", r"-\eta\,\mu\, b_{t-1}", "the velocity carried from the steps before"),
    ),
    lines=(
        L2_LINE,
        Line(r"v_t = \alpha v_{t-1} + (1-\alpha)\, g_t^2", "v = {alpha} × {v_prev} + {one_m_alpha} × {g}² = {v!}"),
        Line(r"\bar g_t = \alpha \bar g_{t-1} + (1-\alpha)\, g_t", "ḡ = {alpha} × {gbar_prev} + {one_m_alpha} × {g} = {gbar!}",
             when=lambda hp: bool(hp["centered"])),
        Line(r"a_t = \sqrt{v_t - \bar g_t^2} + \epsilon", "a = √({v} − {gbar}²) + {eps} = {a!}", when=lambda hp: bool(hp["centered"])),
        Line(r"a_t = \sqrt{v_t} + \epsilon", "a = √{v} + {eps} = {a!}", when=lambda hp: not hp["centered"]),
        Line(r"b_t = \mu\, b_{t-1} + g_t / a_t", "b = {mu} × {b_prev} + {g} / {a} = {b!}", when=_momentum),
        Line(r"p_{t+1} = p_t - \eta\, b_t", "p = {p} − {lr} × {b} = {p_new!}", when=_momentum),
        Line(r"p_{t+1} = p_t - \eta\, g_t / a_t", "p = {p} − {lr} × {g} / {a} = {p_new!}", when=lambda hp: not _momentum(hp)),
    ),
    values=anatomy_values, composes=("scaled", "momentum"), stretch="rate", stretch_label="effective learning rate η/a",
)

SPEC = OptimizerSpec(
    name="rmsprop", title="RMSprop",
    hypers=(
        lr_hyper(1e-2),
        Hyper("alpha", 0.99, low=0.0, high=1.0, high_open=True, doc="smoothing constant of v"),
        eps_hyper(1e-8),
        wd_hyper(),
        Hyper("momentum", 0.0, low=0.0, doc="momentum coefficient (buffer of g / a)"),
        Hyper("centered", False, kind="bool", doc="normalise by the estimated variance"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    anatomy=ANATOMY,
    rule=r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\; p_t = p_{t-1} - \eta \frac{g_t}{\sqrt{v_t}+\epsilon}",
    paper="Hinton, Neural Networks for Machine Learning, lecture 6e (2012)",
    torch=TorchClass(
        "RMSprop",
        "lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, capturable=False, "
        "foreach=None, maximize=False, differentiable=False",
    ),
    family="adaptive",
    examples=(
        {},
        {"centered": True, "weight_decay": 0.1},
        {"momentum": 0.9, "alpha": 0.9},
        {"momentum": 0.5, "centered": True, "maximize": True},
    ),
)
