"""ASGD: averaged stochastic gradient descent (torch.optim.ASGD).

    g = g + wd * p
    p = p * (1 - lambd * eta_t) - eta_t * g
    ax = p                        if mu_t = 1
    ax = ax + mu_t * (p - ax)     otherwise
    eta_{t+1} = lr / (1 + lambd * lr * t)^alpha,   mu_{t+1} = 1 / max(1, t - t0),   eta_1 = lr,  mu_1 = 1

``eta`` and ``mu`` are per-parameter scalars kept in the state, as torch keeps them: each step
uses the ones the previous step stored (made from that step's lr), so an lr schedule drives
them as it drives torch's. ``ax`` is the running (Polyak-Ruppert) average, from step ``t0`` on;
it is reported in the state and never moves ``p``.

Polyak & Juditsky, Acceleration of stochastic approximation by averaging (SIAM J. Control
Optim. 1992); the step-size schedule of Bottou (2012) and Xu (2011), as torch implements it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, TorchClass, cell_grad, lr_hyper, prepare_grad,
    wd_hyper, zeros_state,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("ax",)


def init(params: Array, hp: HyperValues) -> State:
    state = zeros_state(params, state_arrays(hp))
    state["eta"] = hp["learning_rate"]  # torch: the group's lr when the state is made
    state["mu"] = 1.0
    return state


def _after(hp: HyperValues, t: Any, lr: Any) -> tuple[Any, Any]:
    """(eta, mu) stored by step ``t`` for the next one (torch computes them in Python floats)."""
    eta = lr / ((1 + hp["lambd"] * lr * t) ** hp["alpha"])
    mu = 1 / np.maximum(1, t - hp["t0"])
    return eta, (float(mu) if np.ndim(mu) == 0 else mu)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = prepare_grad(params, grads, hp)
    t = state["step"] + 1
    # step 1 uses torch's initial values: eta = this step's lr (state made now), mu = 1
    eta = hp["learning_rate"] if t == 1 else state["eta"]
    mu = 1.0 if t == 1 else state["mu"]
    p = params * (1 - hp["lambd"] * eta)
    p = p + (-eta) * g
    if np.ndim(mu) == 0:
        ax = p.copy() if mu == 1 else state["ax"] + (p - state["ax"]) * mu
    else:  # batched t0: each run's own branch
        ax = np.where(mu == 1, p, state["ax"] + (p - state["ax"]) * mu)
    eta_next, mu_next = _after(hp, t, hp["learning_rate"])
    return p, {"step": t, "ax": ax, "eta": eta_next, "mu": mu_next}


SLOTS = ("ax",)
SCALARS = ("eta", "mu")


def _previous(after: Any, stored: Any, t: Any, first: Any) -> Any:
    """For each step in ``t`` (an int, or consecutive steps down axis 0): the value the step
    before stored (``stored`` for the first of them), or ``first`` at step 1."""
    if np.ndim(t) == 0:
        return first if t == 1 else stored
    after = np.asarray(after, dtype=np.float64)
    shape = np.broadcast_shapes(np.shape(after), np.shape(t), np.shape(first))
    after = np.broadcast_to(after, shape)
    prev = np.concatenate([np.broadcast_to(stored, (1,) + shape[1:]), after[:-1]], axis=0)
    return np.where(np.broadcast_to(t, shape) == 1, np.broadcast_to(first, shape), prev)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-step constants; with ``t`` an array of consecutive steps down axis 0 (the race's
    table), each step takes the eta and mu the step before stored."""
    eta_after, mu_after = _after(hp, t, lr)
    eta = _previous(eta_after, scalars["eta"], t, lr)
    mu = _previous(mu_after, scalars["mu"], t, 1.0)
    c = {"decay": 1 - hp["lambd"] * eta, "neg_eta": -eta, "mu": mu, "copy": mu == 1, "wd": hp["weight_decay"],
         "neg": hp["maximize"]}
    if np.ndim(t) == 0:
        return c, {"eta": eta_after, "mu": mu_after}
    last = {"eta": np.broadcast_to(eta_after, np.broadcast(eta_after, t).shape)[-1],
            "mu": np.broadcast_to(mu_after, np.broadcast(mu_after, t).shape)[-1]}
    return c, last


def cell(p, g, ax, decay, neg_eta, mu, copy, wd, neg):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    p = p * decay
    p = p + neg_eta * g
    # Before averaging starts ax = p. Written as p - (ax - ax) (the same bits for every finite ax,
    # -0.0 included) so the kernel still reads ax: a store to memory the loop does not read was
    # 1.45x slower here than the averaging branch (read-for-ownership stalls), 63% of the stream.
    # Where ax is inf or NaN (the run had already diverged) this gives NaN, the readable rule p.
    ax = p - (ax - ax) if copy != 0 else ax + (p - ax) * mu
    return p, ax


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: gradient descent at the decaying rate eta_t, -eta_t grad (``scaled``), the L2
    decay folded into g, -eta_t wd p (``weight_decay``), and the shrink of p by lambd eta_t,
    -lambd eta_t p (``shrink``). The running average ax is reported, never stepped; eta_t and
    mu_t are the values the step before stored (lr and 1 on the first step)."""
    wd, lambd = hp["weight_decay"], hp["lambd"]
    out = descended(p, g, hp)
    t = after["step"]
    eta, mu = (hp["learning_rate"], 1.0) if t == 1 else (before["eta"], before["mu"])
    out.update(lambd=lambd, t=t, t0=hp["t0"], eta=eta, mu=mu, eta_next=after["eta"], mu_next=after["mu"],
               den=(1 + lambd * hp["learning_rate"] * t) ** hp["alpha"], ax_prev=before["ax"], ax=after["ax"],
               scaled=-eta * out["grad"], shrink=-lambd * eta * p)
    if wd != 0:
        out["weight_decay"] = -eta * wd * p
    return out


ANATOMY = Anatomy(
    terms=(
        Term("scaled", "-ηₜ ∇f", r"-\eta_t\, \nabla f(p_t)", "the gradient step at the decaying rate η_t"),
        Term("weight_decay", "-ηₜ wd p", r"-\eta_t\, \mathrm{wd}\, p_t", "L2 weight decay, folded into the gradient"),
        Term("shrink", "-λ ηₜ p", r"-\lambda\,\eta_t\, p_t", "the shrink of p toward 0 by λ η_t"),
    ),
    lines=(
        replace(L2_LINE, tex=r"g_t = \nabla f(p_t) + \mathrm{wd}\; p_t"),
        Line(r"p_{t+1} = p_t (1 - \lambda\eta_t) - \eta_t\, g_t", "p = {p} × (1 − {lambd} × {eta}) − {eta} × {g} = {p_new!}"),
        Line(r"\bar p_t = \bar p_{t-1} + \mu_t (p_{t+1} - \bar p_{t-1})", "p̄ = {ax_prev} + {mu} × ({p_new} − {ax_prev}) = {ax!}"),
        Line(r"\eta_{t+1} = \eta / (1 + \lambda\eta t)^{\alpha}", "η' = {lr} / {den} = {eta_next!}"),
        Line(r"\mu_{t+1} = 1 / \max(1, t - t_0)", "μ' = 1 / max(1, {t} − {t0}) = {mu_next!}"),
    ),
    values=anatomy_values, composes=("scaled", "weight_decay", "shrink"),
)

SPEC = OptimizerSpec(
    name="asgd", title="ASGD",
    hypers=(
        lr_hyper(1e-2),
        Hyper("lambd", 1e-4, low=0.0, log=True, doc="decay term: p shrinks by lambd * eta; also slows eta"),
        Hyper("alpha", 0.75, low=0.0, doc="power of the eta decay: eta = lr / (1 + lambd lr t)^alpha"),
        Hyper("t0", 1e6, low=0.0, log=True, doc="step at which averaging starts"),
        wd_hyper(),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS, scalars=SCALARS,
    rule=(r"p_t = (1 - \lambda\eta_t)\,p_{t-1} - \eta_t g_t,\quad \eta_{t+1} = \frac{\eta}{(1+\lambda\eta t)^{\alpha}},\quad "
          r"\bar p_t = \bar p_{t-1} + \mu_t (p_t - \bar p_{t-1}),\; \mu_{t+1} = \frac{1}{\max(1, t - t_0)}"),
    paper="Polyak & Juditsky, Acceleration of Stochastic Approximation by Averaging (SIAM J. Control Optim. 1992)",
    torch=TorchClass(
        "ASGD",
        "lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False, "
        "differentiable=False, capturable=False",
    ),
    family="classic",
    examples=(
        {},
        {"learning_rate": 0.05, "lambd": 0.5, "alpha": 0.5, "t0": 3.0, "weight_decay": 0.1},
        {"lambd": 0.01, "t0": 0.0, "maximize": True},
    ),
)
