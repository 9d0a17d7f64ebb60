"""signSGD as a third-party optimizer package would ship it: one file with its SPEC, found by
optarena through the entry point ``optarena.optimizers`` (tests/test_plugins.py installs it as a
dist-info folder on sys.path). Nothing in optarena names it.

    p_t = p_{t-1} - lr * sign(g_t)        (g_t with L2 weight decay folded in, flipped for maximize)

Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems (ICML 2018).
"""

from __future__ import annotations

import numpy as np

from optarena.optim import MAXIMIZE, OptimizerSpec, Reference, cell_grad, lr_hyper, prepare_grad, wd_hyper, zeros_state


def init(params, hp):  # type: ignore[no-untyped-def]
    return zeros_state(params, ())


def update(params, grads, state, hp):  # type: ignore[no-untyped-def]
    g = prepare_grad(params, grads, hp)
    return params - hp["learning_rate"] * np.sign(g), {"step": state["step"] + 1}


def coefficients(hp, t, lr, scalars):  # type: ignore[no-untyped-def]
    return {"lr": lr, "wd": hp["weight_decay"], "neg": hp["maximize"]}, {}


def cell(p, g, lr, wd, neg):  # type: ignore[no-untyped-def]
    g = cell_grad(p, g, neg, wd)
    if g > 0:
        return (p - lr,)
    if g < 0:
        return (p + lr,)
    return (p - lr * g,)  # 0 stays 0, NaN stays NaN, as np.sign


SPEC = OptimizerSpec(
    name="signsgd", title="signSGD", class_name="SignSGD",
    hypers=(lr_hyper(0.01), wd_hyper(), MAXIMIZE),
    init=init, update=update, state_arrays=lambda hp: (), cell=cell, coefficients=coefficients,
    rule=r"p_t = p_{t-1} - \eta\,\mathrm{sign}(g_t)",
    paper="Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems (ICML 2018)",
    reference=Reference("optarena_signsgd.reference.SignSGD", "optarena_signsgd"),
    examples=({}, {"learning_rate": 0.05, "weight_decay": 0.1, "maximize": True}),
)

__all__ = ["SPEC"]
