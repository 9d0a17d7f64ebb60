"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    v = alpha v + (1 - alpha) g^2
    a = sqrt(v - gbar^2) + eps, gbar = lerp(gbar, g, 1 - alpha)   (centered)   else  sqrt(v) + eps
    b = mu b + g / a, p -= lr b                                   (momentum)   else  p -= lr g / a

Hinton, Neural Networks for Machine Learning, lecture 6e (2012); Graves (2013) for centering.
"""

from __future__ import annotations

import numpy as np

from ._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, eps_hyper, lerp, lr_hyper,
    prepare_grad, scalar_coeffs, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    names = ("square_avg",)
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


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    c = scalar_coeffs(params, lr=hp["learning_rate"], wd=hp["weight_decay"], alpha=hp["alpha"],
                      one_m_alpha=1 - hp["alpha"], eps=hp["epsilon"], mu=hp["momentum"])
    p = params.reshape(-1)
    v = state["square_avg"].reshape(-1)
    # Unused buffers are passed as the square average; the flags keep the kernel off them.
    b = state.get("momentum_buffer", state["square_avg"]).reshape(-1)
    gbar = state.get("grad_avg", state["square_avg"]).reshape(-1)
    _fused.rmsprop(p, grads.reshape(-1), v, b, gbar, hp["maximize"], "grad_avg" in state,
                   "momentum_buffer" in state, c["lr"], c["wd"], c["alpha"], c["one_m_alpha"],
                   c["eps"], c["mu"])
    state["step"] += 1


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
    init=init, update=update, state_arrays=state_arrays, fused=fused,
    rule=r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\; p_t = p_{t-1} - \eta \frac{g_t}{\sqrt{v_t}+\epsilon}",
    paper="Hinton, Neural Networks for Machine Learning, lecture 6e (2012)",
)
