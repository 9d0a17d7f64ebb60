"""Adadelta (torch.optim.Adadelta).

    v = rho v + (1 - rho) g^2,   d = sqrt(u + eps) / sqrt(v + eps) * g,
    u = rho u + (1 - rho) d^2,   p -= lr d

Zeiler, ADADELTA: An Adaptive Learning Rate Method (2012).
"""

from __future__ import annotations

import numpy as np

from ._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, eps_hyper, lr_hyper, prepare_grad,
    scalar_coeffs, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("square_avg", "acc_delta")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    rho, eps = hp["rho"], hp["epsilon"]
    v = rho * state["square_avg"] + (1 - rho) * g * g
    delta = np.sqrt(state["acc_delta"] + eps) / np.sqrt(v + eps) * g
    u = rho * state["acc_delta"] + (1 - rho) * delta * delta
    return params - hp["learning_rate"] * delta, {"step": state["step"] + 1, "square_avg": v, "acc_delta": u}


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    c = scalar_coeffs(params, lr=hp["learning_rate"], wd=hp["weight_decay"], rho=hp["rho"],
                      one_m_rho=1 - hp["rho"], eps=hp["epsilon"])
    _fused.adadelta(params.reshape(-1), grads.reshape(-1), state["square_avg"].reshape(-1),
                    state["acc_delta"].reshape(-1), hp["maximize"], c["lr"], c["wd"], c["rho"],
                    c["one_m_rho"], c["eps"])
    state["step"] += 1


SPEC = OptimizerSpec(
    name="adadelta", title="Adadelta",
    hypers=(
        lr_hyper(1.0),
        Hyper("rho", 0.9, low=0.0, high=1.0, doc="decay of both running averages"),
        eps_hyper(1e-6),
        wd_hyper(),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, fused=fused,
    rule=(r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\; \Delta_t = \frac{\sqrt{u_{t-1}+\epsilon}}{\sqrt{v_t+\epsilon}} g_t,\; "
          r"u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\; p_t = p_{t-1} - \eta \Delta_t"),
    paper="Zeiler, ADADELTA: An Adaptive Learning Rate Method (2012)",
)
