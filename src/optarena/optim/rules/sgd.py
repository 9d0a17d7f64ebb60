"""Stochastic gradient descent, with heavy-ball momentum, dampening and Nesterov (torch.optim.SGD).

    b_1 = g_1,   b_t = mu * b_{t-1} + (1 - tau) * g_t
    d_t = g_t + mu * b_t  (Nesterov)  or  b_t
    p_t = p_{t-1} - lr * d_t

Robbins & Monro (1951); Polyak (1964); Sutskever et al. (2013) for the Nesterov form.
The article's ``SGDMomentum`` (v = mu * v + g from v = 0) is exactly this rule with tau = 0.
"""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    TorchClass, Reference, MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, cell_grad, lr_hyper,
    prepare_grad, wd_hyper, zeros_state,
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
        # rows of a batch with mu = 0 step as plain SGD (torch keeps no buffer for them, so its
        # dampening does not apply either): a racer's path must not depend on its neighbours
        import numpy as np

        g = np.where(mu != 0, g + mu * b if hp["nesterov"] else b, g)
    return params - hp["learning_rate"] * g, new


SLOTS = ("momentum_buffer",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    # has_buf per setting (mu != 0), not for the whole batch: see update
    return {"lr": lr, "wd": hp["weight_decay"], "mu": hp["momentum"], "damp": 1 - hp["dampening"],
            "neg": hp["maximize"], "nesterov": hp["nesterov"], "first": t == 1,
            "has_buf": np.asarray(hp["momentum"]) != 0}, {}


def cell(p, g, b, lr, wd, mu, damp, neg, nesterov, first, has_buf):
    """One element of the rule above (compiled by numba for the fused paths)."""
    g = cell_grad(p, g, neg, wd)
    if has_buf != 0:
        b = g if first != 0 else mu * b + damp * g
        g = g + mu * b if nesterov != 0 else b
    return p - lr * g, b


def check(hp: HyperValues, where: str) -> None:
    import numpy as np

    if hp["nesterov"] and (np.any(hp["momentum"] <= 0) or np.any(hp["dampening"] != 0)):
        raise UsageError(f"{where}: nesterov=True requires momentum > 0 and dampening = 0", field="nesterov")


def _hypers(lr: float, momentum: float) -> tuple[Hyper, ...]:
    return (
        lr_hyper(lr),
        Hyper("momentum", momentum, low=0.0, doc="heavy-ball coefficient mu"),
        Hyper("dampening", 0.0, low=0.0, high=1.0, doc="tau: scales g into the buffer after step 1"),
        Hyper("nesterov", False, kind="bool", doc="Nesterov momentum"),
        wd_hyper(),
        MAXIMIZE,
    )


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """The numbers of one step and its terms: -lr g' is the plain step (``gradient`` plus
    ``weight_decay``), heavy ball adds -lr mu b_{t-1} (``momentum``; ``dampening`` takes back
    lr tau g' after step 1), Nesterov adds -lr mu b_t (``lookahead``)."""
    lr, wd, mu, tau = hp["learning_rate"], hp["weight_decay"], hp["momentum"], hp["dampening"]
    out: dict[str, Any] = {**descended(p, g, hp), "mu": mu}
    gd = out["g"]
    if wd != 0:
        out["weight_decay"] = -lr * wd * p
    if "momentum_buffer" not in after:
        return out
    first = before["step"] == 0
    b = after["momentum_buffer"]
    out.update(b=b, b_prev=before["momentum_buffer"], damp=1.0 if first else 1 - tau)  # b_1 = g_1 whole
    if hp["nesterov"]:
        out["lookahead"] = -lr * mu * b
    else:
        out["momentum"] = -lr * mu * before["momentum_buffer"]
        if tau != 0 and not first:
            out["dampening"] = lr * tau * gd
    return out


def _momentum(hp: Any) -> bool:
    return bool(hp["momentum"] != 0)


ANATOMY = Anatomy(
    terms=(
        Term("momentum", "-η μ b(t-1)", r"-\eta\,\mu\, b_{t-1}", "heavy ball: the velocity carried from the steps before"),
        Term("lookahead", "-η μ b(t)", r"-\eta\,\mu\, b_t", "Nesterov: the look-ahead along the updated velocity"),
        Term("dampening", "+η τ g", r"\eta\,\tau\, g_t", "dampening: the share of the gradient kept out of the velocity"),
        Term("weight_decay", "-η λ p", r"-\eta\,\lambda\, p_t", "L2 weight decay, folded into the gradient"),
    ),
    lines=(
        L2_LINE,
        Line(r"p_{t+1} = p_t - \eta\, g_t", "p = {p} − {lr} × {g} = {p_new!}", when=lambda hp: not _momentum(hp)),
        Line(r"b_t = \mu\, b_{t-1} + (1-\tau)\, g_t", "b = {mu} × {b_prev} + {damp} × {g} = {b!}", when=_momentum),
        Line(r"p_{t+1} = p_t - \eta\, b_t", "p = {p} − {lr} × {b} = {p_new!}",
             when=lambda hp: _momentum(hp) and not hp["nesterov"]),
        Line(r"p_{t+1} = p_t - \eta\,(g_t + \mu\, b_t)", "p = {p} − {lr} × ({g} + {mu} × {b}) = {p_new!}",
             when=lambda hp: bool(hp["nesterov"])),
    ),
    values=anatomy_values,
    composes=("gradient", "weight_decay", "momentum", "lookahead", "dampening"),
)

_RULE = (r"b_t = \mu b_{t-1} + (1-\tau) g_t \;(b_1 = g_1),\quad "
         r"p_t = p_{t-1} - \eta\,(\text{nesterov} ? g_t + \mu b_t : b_t)")

SPEC = OptimizerSpec(
    name="sgd", title="SGD", hypers=_hypers(0.01, 0.0), init=init, update=update,
    state_arrays=state_arrays, check=check, cell=cell, coefficients=coefficients, slots=SLOTS, anatomy=ANATOMY,
    rule=r"p_t = p_{t-1} - \eta\, g_t" + r"\quad\text{(with momentum: }" + _RULE + ")",
    paper="Robbins & Monro, A Stochastic Approximation Method (1951)",
    # the article's SGD steps with lr 0.01 (torch.optim.SGD's default is 1e-3; optarena.torch.SGD keeps torch's)
    reference=Reference("torch.optim.SGD", "torch", fixed={"lr": 0.01}),
    torch=TorchClass(
        "SGD",
        "lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False, "
        "foreach=None, differentiable=False, fused=None",
    ),
    colour="#0072B2",
    family="classic",
    examples=(
        {},
        {"learning_rate": 0.05, "weight_decay": 0.1, "maximize": True},
    ),
)

MOMENTUM = OptimizerSpec(
    name="momentum", title="Momentum", hypers=_hypers(0.01, 0.9), init=init, update=update,
    state_arrays=state_arrays, check=check, cell=cell, coefficients=coefficients, slots=SLOTS, rule=_RULE, anatomy=ANATOMY,
    aliases=("sgdmomentum", "sgd_momentum"),
    paper="Polyak, Some methods of speeding up the convergence of iteration methods (1964)",
    class_name="SGDMomentum",
    torch=TorchClass(
        "SGD",
        "lr=0.01, momentum=0.9, dampening=0, weight_decay=0, nesterov=False, *, maximize=False, "
        "foreach=None, differentiable=False, fused=None",
    ),
    reference=Reference("torch.optim.SGD", "torch", fixed={"lr": 0.01, "momentum": 0.9}),  # the article's defaults
    colour="#E69F00",
    family="classic",
    examples=(
        {},
        {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
        {"momentum": 0.9, "nesterov": True},
        {"nesterov": True, "maximize": True, "weight_decay": 0.05},
    ),
)
SPECS = (MOMENTUM,)
