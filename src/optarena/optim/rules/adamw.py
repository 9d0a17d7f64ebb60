"""AdamW: Adam with decoupled weight decay (torch.optim.AdamW).

    p <- p * (1 - lr * wd), then the Adam step on the raw gradient.

Loshchilov & Hutter, Decoupled Weight Decay Regularization (ICLR 2019).
"""

from __future__ import annotations

from typing import Any

from . import adam
from .._spec import TorchClass, Array, HyperValues, OptimizerSpec, State, wd_hyper


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    return adam.adam_update(params, grads, state, hp, decoupled=True)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return adam.adam_coefficients(hp, t, lr, decoupled=True), {}


SPEC = OptimizerSpec(
    name="adamw", title="AdamW",
    hypers=adam.adam_hypers(0.001, wd_hyper(1e-2, "decoupled decay: p *= 1 - lr * wd")),
    init=adam.init, update=update, state_arrays=adam.state_arrays, cell=adam.cell,
    coefficients=coefficients, slots=adam.SLOTS, anatomy=adam.adam_anatomy(True),
    rule=r"p_{t-1} \leftarrow p_{t-1}(1-\eta\lambda);\; " + adam.RULE,
    paper="Loshchilov & Hutter, Decoupled Weight Decay Regularization (ICLR 2019)",
    torch=TorchClass(
        "AdamW",
        "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False, "
        "foreach=None, capturable=False, differentiable=False, fused=None",
        fixed={"decoupled_weight_decay": True},
    ),
    family="adaptive",
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.3, "maximize": True},
    ),
)
