"""Lion, evolved sign momentum (optax.lion's rule and defaults).

    d = sign((1 - b1) g + b1 m),   m = b2 m + (1 - b2) g,   p = p (1 - lr wd) - lr d

Chen et al., Symbolic Discovery of Optimization Algorithms (NeurIPS 2023).
"""

from __future__ import annotations

import numpy as np

from ._spec import (
    MAXIMIZE, Array, HyperValues, OptimizerSpec, State, beta_hyper, decay_and_grad, lr_hyper,
    scalar_coeffs, wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg",)


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    params, g = decay_and_grad(params, grads, hp, decoupled=True)
    b1, b2 = hp["beta1"], hp["beta2"]
    d = np.sign((1 - b1) * g + b1 * state["exp_avg"])
    m = b2 * state["exp_avg"] + (1 - b2) * g
    return params - hp["learning_rate"] * d, {"step": state["step"] + 1, "exp_avg": m}


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    lr, wd, b1, b2 = hp["learning_rate"], hp["weight_decay"], hp["beta1"], hp["beta2"]
    c = scalar_coeffs(params, decay=1 - lr * wd, lr=lr, one_m_b1=1 - b1, b1=b1, b2=b2, one_m_b2=1 - b2)
    _fused.lion(params.reshape(-1), grads.reshape(-1), state["exp_avg"].reshape(-1), hp["maximize"],
                wd != 0, c["decay"], c["lr"], c["one_m_b1"], c["b1"], c["b2"], c["one_m_b2"])
    state["step"] += 1


SPEC = OptimizerSpec(
    name="lion", title="Lion",
    hypers=(
        lr_hyper(1e-4),
        beta_hyper("beta1", 0.9, "interpolation for the sign"),
        beta_hyper("beta2", 0.99, "momentum decay"),
        wd_hyper(1e-3, "decoupled decay: p *= 1 - lr * wd (optax's default)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, fused=fused,
    rule=(r"d_t = \mathrm{sign}((1-\beta_1) g_t + \beta_1 m_{t-1}),\; m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t,\; "
          r"p_t = p_{t-1}(1-\eta\lambda) - \eta d_t"),
    paper="Chen et al., Symbolic Discovery of Optimization Algorithms (NeurIPS 2023)",
)
