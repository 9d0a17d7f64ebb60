"""LARS: SGD with momentum whose gradient is scaled per parameter by a trust ratio (layer-wise).

    g = -g if maximize
    parameters of ndim >= 2 (all of them with adapt_vectors):
        r = tc ||p|| / (||g|| + wd ||p||), or 1 where ||p|| = 0 or the denominator is 0
        g = r (g + wd p)
    b = mu b + (1 - tau) g                      (from b = 0; no buffer when mu = 0)
    d = g + mu b  (nesterov)  or  b
    p = p - lr d

The norms are over the whole parameter, so there is no fused cell (scope "parameter"): the
article's class runs it on each array, the torch bridge on each tensor, and a race (settings as
``(B,)`` arrays) on each row of its ``(B, d)`` positions, one run each. Its fused form is two
passes (``TWO_PASS``): both norms' terms, then the step; a parameter without the trust ratio
takes the second alone.

You et al., Large Batch Training of Convolutional Networks (2017, arXiv:1708.03888), Algorithm 1.
Reference: ``pytorch_optimizer.LARS`` (pytorch-optimizer 4.1.0), matched exactly, defaults
included. As there (and as LARS is used in practice: biases and normalisation scales are left
out), 0-d and 1-d parameters step as plain SGD with momentum: no trust ratio and no weight decay.
A race's run is such a vector, so LARS races as SGD unless ``adapt_vectors`` (not in the
reference) gives every parameter the trust ratio and the decay, as the paper does every layer;
tests/optim/test_trust_ratio.py checks it against the reference on the parameter as a (1, n)
matrix. The paper's momentum takes lr inside the buffer (b = mu b + lr r (g + wd p)): the same
steps for a constant lr. Norms are accumulated in float64 (the reference: the parameter's dtype): float32 parameters stay
within 3e-6 relative of it over 12 steps (measured; float64: 4e-15).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import math

from ..anatomy import Anatomy, Line, Term, descended
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, TwoPass, is_batched, lr_hyper, run_norm, wd_hyper,
)
from .sgd import init, state_arrays  # the same momentum buffer as SGD's (kept only when momentum > 0)


def adapted(params: Array, hp: HyperValues) -> bool:
    """Does this parameter (each row, when the leading axis is a batch) get the trust ratio?"""
    return bool(hp["adapt_vectors"]) or np.ndim(params) - (1 if is_batched(hp) else 0) > 1


def trust_ratio(param_norm: Any, grad_norm: Any, hp: HyperValues) -> Any:
    """tc ||p|| / (||g|| + wd ||p||), and 1 where ||p|| or the denominator is not > 0."""
    param_norm = np.asarray(param_norm, dtype=np.float64)  # NumPy's division: x / 0 is not an exception
    denom = grad_norm + hp["weight_decay"] * param_norm
    with np.errstate(divide="ignore", invalid="ignore"):  # the quotients np.where does not take
        ratio = hp["trust_coefficient"] * param_norm / denom
    return np.where((param_norm > 0) & (denom > 0), ratio, 1.0)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else grads
    if adapted(params, hp):
        r = trust_ratio(run_norm(params, hp), run_norm(g, hp), hp)
        r = np.asarray(r).astype(params.dtype) if np.ndim(r) else float(r)  # weak: keeps the params' dtype
        g = (g + hp["weight_decay"] * params) * r
    new: dict[str, Any] = {"step": state["step"] + 1}
    if "momentum_buffer" in state:
        mu = hp["momentum"]
        b = new["momentum_buffer"] = state["momentum_buffer"] * mu + (1 - hp["dampening"]) * g
        # rows of a batch with mu = 0 step as plain SGD (the reference keeps no buffer for them,
        # so its dampening does not apply either): a racer's path must not depend on its neighbours
        g = np.where(mu != 0, g + mu * b if hp["nesterov"] else b, g)
    return params - hp["learning_rate"] * g, new


# ---- the fused form: pass 1 sums p^2 and g^2 (adapted parameters only); pass 2 is the step

def fused_coefficients(params: Array, state: State, hp: HyperValues) -> dict[str, Any]:
    mu = hp["momentum"]
    return {"neg": hp["maximize"], "adapt": adapted(params, hp), "wd": hp["weight_decay"], "buffer": "momentum_buffer" in state, "mu": mu,
            "one_m_damp": 1 - hp["dampening"], "nesterov": hp["nesterov"], "lr": hp["learning_rate"]}


def gather(p, g, b, neg):
    if neg != 0:
        g = -g
    return p * p, g * g


def combine(params: Array, sums: dict[str, float], c: dict[str, Any], state: State, hp: HyperValues) -> tuple[dict[str, Any], State]:
    return {"r": float(trust_ratio(math.sqrt(sums["pp"]), math.sqrt(sums["gg"]), hp))}, {}


def apply(p, g, b, neg, adapt, wd, r, buffer, mu, one_m_damp, nesterov, lr):
    if neg != 0:
        g = -g
    if adapt != 0:
        g = (g + wd * p) * r
    if buffer != 0:
        b = b * mu + one_m_damp * g
        if mu != 0:
            g = g + mu * b if nesterov != 0 else b
    return p - lr * g, b


TWO_PASS = TwoPass(slots=("momentum_buffer",), sums=("pp", "gg"), coefficients=fused_coefficients, gather=gather,
                   combine=combine, apply=apply, apply_writes=("momentum_buffer",), reduces=adapted)


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the gradient scaled by the trust ratio r = tc ||p|| / (||g|| + wd ||p||) (adapted
    parameters only; a race's run is one with ``adapt_vectors``, else r = 1 and no decay) into
    the velocity, as SGD's: -lr c r grad (``scaled``) and -lr c r wd p (``weight_decay``), c the
    share the step takes of it (1 - tau with heavy ball, else 1), heavy ball's -lr mu b_{t-1}
    (``momentum``) or Nesterov's -lr mu b_t (``lookahead``); lr r is the ``stretch``."""
    lr, wd, mu = hp["learning_rate"], hp["weight_decay"], hp["momentum"]
    out = descended(p, g, hp, l2=False)
    grad = out["grad"]
    adapt = adapted(p, hp)
    r = float(trust_ratio(run_norm(p, hp), run_norm(grad, hp), hp)) if adapt else 1.0
    if adapt:
        out.update(tc=hp["trust_coefficient"], pn=run_norm(p, hp), gn=run_norm(grad, hp), g=(grad + wd * p) * r)
    out.update(r=r, mu=mu, damp=1 - hp["dampening"], rate=np.full_like(p, lr * r, dtype=np.float64))
    buffered = "momentum_buffer" in after and mu != 0
    share = 1.0 if hp["nesterov"] or not buffered else 1 - hp["dampening"]
    out["scaled"] = -lr * share * r * grad
    if adapt and wd != 0:
        out["weight_decay"] = -lr * share * r * wd * p
    if buffered:
        out.update(b_prev=before["momentum_buffer"], b=after["momentum_buffer"])
        if hp["nesterov"]:
            out["lookahead"] = -lr * mu * after["momentum_buffer"]
        else:
            out["momentum"] = -lr * mu * before["momentum_buffer"]
    return out


def _momentum(hp: Any) -> bool:
    return bool(hp["momentum"] != 0)


ANATOMY = Anatomy(
    terms=(
        Term("scaled", "-η r g", r"-\eta\, r_t\, \nabla f(p_t)", "the gradient step, scaled by the trust ratio r"),
        Term("weight_decay", "-η r λ p", r"-\eta\, r_t \lambda\, p_t", "L2 weight decay, inside the trust ratio"),
        Term("momentum", "-η μ b(t-1)", r"-\eta\,\mu\, b_{t-1}", "heavy ball: the velocity carried from the steps before"),
        Term("lookahead", "-η μ b(t)", r"-\eta\,\mu\, b_t", "Nesterov: the look-ahead along the updated velocity"),
    ),
    lines=(
        Line(r"r_t = \eta_{\mathrm{tc}} \Vert p_t \Vert / (\Vert g_t \Vert + \lambda \Vert p_t \Vert)",
             "r = {tc} × {pn} / ({gn} + {wd} × {pn}) = {r!}", when=lambda hp: bool(hp["adapt_vectors"])),
        Line(r"g_t \leftarrow r_t\, (g_t + \lambda\, p_t)", "g = {r} × ({grad} + {wd} × {p}) = {g!}",
             when=lambda hp: bool(hp["adapt_vectors"])),
        Line(r"p_{t+1} = p_t - \eta\, g_t", "p = {p} − {lr} × {g} = {p_new!}", when=lambda hp: not _momentum(hp)),
        Line(r"b_t = \mu\, b_{t-1} + (1-\tau)\, g_t", "b = {mu} × {b_prev} + {damp} × {g} = {b!}", when=_momentum),
        Line(r"p_{t+1} = p_t - \eta\, b_t", "p = {p} − {lr} × {b} = {p_new!}", when=lambda hp: _momentum(hp) and not hp["nesterov"]),
        Line(r"p_{t+1} = p_t - \eta\,(g_t + \mu\, b_t)", "p = {p} − {lr} × ({g} + {mu} × {b}) = {p_new!}",
             when=lambda hp: _momentum(hp) and bool(hp["nesterov"])),
    ),
    values=anatomy_values, composes=("scaled", "weight_decay", "momentum", "lookahead"), stretch="rate",
    stretch_label="effective learning rate η r",
)


SPEC = OptimizerSpec(
    name="lars", title="LARS",
    hypers=(
        lr_hyper(1e-3),
        wd_hyper(doc="L2 penalty folded into g, inside the trust ratio (adapted parameters only)"),
        Hyper("momentum", 0.9, low=0.0, high=1.0, high_open=True, doc="momentum factor mu"),
        Hyper("dampening", 0.0, low=0.0, high=1.0, high_open=True, doc="tau: the buffer takes (1 - tau) g"),
        Hyper("trust_coefficient", 1e-3, low=0.0, log=True, doc="eta: the step is this fraction of ||p||"),
        Hyper("nesterov", False, kind="bool", doc="Nesterov momentum: step along g + mu b"),
        Hyper("adapt_vectors", False, kind="bool",
              doc="trust ratio and decay for 0-d and 1-d parameters too (a race's runs); False: plain SGD there"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays,
    rule=(r"r_t = \frac{\eta_{\text{tc}} \lVert p_{t-1} \rVert}{\lVert g_t \rVert + \lambda \lVert p_{t-1} \rVert},\; "
          r"b_t = \mu b_{t-1} + (1-\tau)\, r_t (g_t + \lambda p_{t-1}),\; p_t = p_{t-1} - \eta\, b_t"),
    paper="You, Gitman & Ginsburg, Large Batch Training of Convolutional Networks (2017, arXiv:1708.03888)",
    reference=Reference("pytorch_optimizer.LARS", "pytorch-optimizer", lacks={"adapt_vectors": False}),
    family="classic", scope="parameter", two_pass=TWO_PASS,
    examples=(
        {"learning_rate": 0.1},
        {"learning_rate": 0.5, "weight_decay": 0.1, "momentum": 0.5, "dampening": 0.3, "trust_coefficient": 0.02},
        {"learning_rate": 0.05, "nesterov": True, "maximize": True, "trust_coefficient": 0.01},
        {"learning_rate": 0.2, "momentum": 0.0, "weight_decay": 0.01, "trust_coefficient": 0.1},
    ),
)

#: settings with ``adapt_vectors`` (the reference has no such option: it adapts ndim >= 2 only), so
#: the shared harness cannot compare them on vectors; tests/optim/test_trust_ratio.py compares them
#: against the reference stepping the same numbers shaped as a (1, n) matrix
VECTOR_EXAMPLES = (
    {"adapt_vectors": True, "learning_rate": 0.5, "trust_coefficient": 0.02},
    {"adapt_vectors": True, "learning_rate": 0.5, "weight_decay": 0.1, "momentum": 0.5, "nesterov": True, "maximize": True},
)
