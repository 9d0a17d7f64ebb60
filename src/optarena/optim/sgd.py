"""Stochastic gradient descent, with heavy-ball momentum, dampening and Nesterov (torch.optim.SGD).

    b_1 = g_1,   b_t = mu * b_{t-1} + (1 - tau) * g_t
    d_t = g_t + mu * b_t  (Nesterov)  or  b_t
    p_t = p_{t-1} - lr * d_t

Robbins & Monro (1951); Polyak (1964); Sutskever et al. (2013) for the Nesterov form.
The article's ``SGDMomentum`` (v = mu * v + g from v = 0) is exactly this rule with tau = 0.
"""

from __future__ import annotations

from typing import Any

from ._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, lr_hyper, prepare_grad,
    scalar_coeffs, wd_hyper, zeros_state,
)


def _uses_buffer(hp: HyperValues) -> bool:
    # A batch may mix mu = 0 and mu > 0; the buffer is then kept for all of them.
    import numpy as np

    return bool(np.any(hp["momentum"] != 0))


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("momentum_buffer",) if _uses_buffer(hp) else ()


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    new: dict[str, Any] = {"step": state["step"] + 1}
    if "momentum_buffer" in state:
        mu = hp["momentum"]
        # torch starts the buffer at g itself: no dampening on the first step.
        b = g if state["step"] == 0 else mu * state["momentum_buffer"] + (1 - hp["dampening"]) * g
        if state["step"] == 0:
            b = b.copy()
        new["momentum_buffer"] = b
        g = g + mu * b if hp["nesterov"] else b
    return params - hp["learning_rate"] * g, new


def fused(params: Array, grads: Array, state: State, hp: HyperValues) -> None:
    from . import _fused

    p, g = params.reshape(-1), grads.reshape(-1)
    c = scalar_coeffs(params, lr=hp["learning_rate"], wd=hp["weight_decay"], mu=hp["momentum"],
                      damp=1 - hp["dampening"])
    if "momentum_buffer" in state:
        _fused.sgd_momentum(p, g, state["momentum_buffer"].reshape(-1), c["lr"], c["wd"], c["mu"],
                            c["damp"], hp["maximize"], hp["nesterov"], state["step"] == 0)
    else:
        _fused.sgd(p, g, c["lr"], c["wd"], hp["maximize"])
    state["step"] += 1


def check(hp: HyperValues, where: str) -> None:
    import numpy as np

    if hp["nesterov"] and (np.any(hp["momentum"] <= 0) or np.any(hp["dampening"] != 0)):
        raise ValueError(f"{where}: nesterov=True requires momentum > 0 and dampening = 0")


def _hypers(lr: float, momentum: float) -> tuple[Hyper, ...]:
    return (
        lr_hyper(lr),
        Hyper("momentum", momentum, low=0.0, doc="heavy-ball coefficient mu"),
        Hyper("dampening", 0.0, low=0.0, high=1.0, doc="tau: scales g into the buffer after step 1"),
        Hyper("nesterov", False, kind="bool", doc="Nesterov momentum"),
        wd_hyper(),
        MAXIMIZE,
    )


_RULE = (r"b_t = \mu b_{t-1} + (1-\tau) g_t \;(b_1 = g_1),\quad "
         r"p_t = p_{t-1} - \eta\,(\text{nesterov} ? g_t + \mu b_t : b_t)")

SGD_SPEC = OptimizerSpec(
    name="sgd", title="SGD", hypers=_hypers(0.01, 0.0), init=init, update=update,
    state_arrays=state_arrays, fused=fused, check=check,
    rule=r"p_t = p_{t-1} - \eta\, g_t" + r"\quad\text{(with momentum: }" + _RULE + ")",
    paper="Robbins & Monro, A Stochastic Approximation Method (1951)",
)

MOMENTUM_SPEC = OptimizerSpec(
    name="momentum", title="Momentum", hypers=_hypers(0.01, 0.9), init=init, update=update,
    state_arrays=state_arrays, fused=fused, check=check, rule=_RULE, aliases=("sgdmomentum", "sgd_momentum"),
    paper="Polyak, Some methods of speeding up the convergence of iteration methods (1964)",
)
