"""Clipped SGD as a third-party optimizer package would ship it: one file with its SPEC, found by
optarena through the entry point ``optarena.optimizers`` (tests/test_plugins.py installs it as a
dist-info folder on sys.path). Nothing in optarena names it.

    p_t = p_{t-1} - lr * clip(g_t, -c, c)     (g_t with L2 weight decay folded in, flipped for maximize)

Each gradient element is clipped to [-c, c] (value clipping, as torch.nn.utils.clip_grad_value_).
"""

from __future__ import annotations

import numpy as np

from optarena.optim import MAXIMIZE, Hyper, OptimizerSpec, Reference, cell_grad, lr_hyper, prepare_grad, wd_hyper, zeros_state


def init(params, hp):  # type: ignore[no-untyped-def]
    return zeros_state(params, ())


def update(params, grads, state, hp):  # type: ignore[no-untyped-def]
    g = prepare_grad(params, grads, hp)
    c = hp["clip_value"]
    return params - hp["learning_rate"] * np.clip(g, -c, c), {"step": state["step"] + 1}


def coefficients(hp, t, lr, scalars):  # type: ignore[no-untyped-def]
    return {"lr": lr, "wd": hp["weight_decay"], "neg": hp["maximize"], "c": hp["clip_value"], "minus_c": -hp["clip_value"]}, {}


def cell(p, g, lr, wd, neg, c, minus_c):  # type: ignore[no-untyped-def]
    g = cell_grad(p, g, neg, wd)
    return (p - lr * min(max(g, minus_c), c),)


SPEC = OptimizerSpec(
    name="clipsgd", title="Clipped SGD", class_name="ClipSGD",
    hypers=(lr_hyper(0.01), Hyper("clip_value", 1.0, low=0.0, low_open=True, log=True, doc="clip each gradient element to [-c, c]"),
            wd_hyper(), MAXIMIZE),
    init=init, update=update, state_arrays=lambda hp: (), cell=cell, coefficients=coefficients,
    rule=r"p_t = p_{t-1} - \eta\,\mathrm{clip}(g_t, -c, c)", paper="value clipping, as torch.nn.utils.clip_grad_value_",
    reference=Reference("optarena_clipsgd.reference.ClipSGD", "optarena_clipsgd"),
    examples=({}, {"learning_rate": 0.05, "clip_value": 0.3, "weight_decay": 0.1, "maximize": True}),
)

__all__ = ["SPEC"]
