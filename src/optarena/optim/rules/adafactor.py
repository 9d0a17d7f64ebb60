"""Adafactor, as torch.optim.Adafactor (torch 2.13) computes it.

    g = -g if maximize;   w_t = t^beta2_decay   (1 - beta2_t);   rho_t = min(lr, 1 / sqrt(t))
    alpha = max(eps2, RMS(p)) * rho_t                 (RMS over the whole parameter, before the decay)
    p = p * (1 - lr * wd)
    vectors and 0-d:   v = lerp(v, g^2, w_t)                                     (per element)
    ndim >= 2:         R = lerp(R, mean(g^2, last axis), w_t)        (row factor,    shape (..., r, 1))
                       C = lerp(C, mean(g^2, axis -2), w_t)          (column factor, shape (..., 1, c))
                       v = R C / max(mean(R, axis -2), eps1)         (rank-1 estimate per trailing matrix)
    u = g / sqrt(max(v, eps1^2));    p = p - alpha / max(1, RMS(u) / d) * u

``lerp`` is torch's (``a + w (b - a)`` for ``|w| < 0.5``, else ``b - (b - a)(1 - w)``: w_1 = 1
replaces the state by the first g^2). The row means are torch's ``norm(g, dim)^2 / n``.

Not per element anywhere: alpha and the clipping denominator are norms over the whole parameter,
so there is no fused cell. On vectors and 0-d the fused form is two passes (``TWO_PASS``: v and
both norms' terms, then the step); on matrices ``optarena.Adafactor(fused=True)`` runs this NumPy
rule (the documented fallback). ``optarena.torch.Adafactor`` takes no ``fused`` (as torch's class
takes none) and a race with ``engine="fused"`` is refused (``"auto"`` races it on NumPy). A
leading batch axis (hyperparameters given as ``(B,)`` arrays, as the race engine does) holds B
independent parameters: the norms are taken per row, and a row
of ndim >= 2 is factored over its own last two axes (a batched ``(B, r, c)`` is B matrices; a
batched ``(B, n)``, B vectors). Unbatched, the whole array is one parameter, as in torch.

Differences from torch, declared: ``eps`` is torch's pair ``(eps1, eps2)``; eps1 is fixed at its
default (None: the machine epsilon of the parameter's dtype; ``optarena.torch.Adafactor`` refuses
another with a ValueError) and eps2 is ``epsilon2`` (``optim.TORCH_PAIRS``: ``eps[1]``). An empty
parameter (0 elements) steps as a no-op; torch raises ZeroDivisionError there. The norms are
accumulated in float64 (torch: in the parameter's dtype), within 1e-7 relative of torch in float32.

Shazeer & Stern, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost (ICML 2018).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import Anatomy, DECOUPLED_DECAY, Line, Term, descended
from .._spec import (MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, TorchClass, TwoPass, cell_helper, is_batched,
                     lr_hyper, run_norm, run_size, torch_lerp, wd_hyper)


def _factored(params: Array, hp: HyperValues) -> bool:
    """torch's ``grad.dim() > 1``, for one parameter (a row, when the leading axis is a batch)."""
    return np.ndim(params) - (1 if is_batched(hp) else 0) > 1


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    # which ones depends on the parameter's shape: ("variance",) for vectors and 0-d, ("row_var",
    # "col_var") for matrices; none of them is element-for-element with the parameter
    return ()


def init(params: Array, hp: HyperValues) -> State:
    shape, dtype = np.shape(params), np.asarray(params).dtype
    if _factored(params, hp):
        return {"step": 0, "row_var": np.zeros(shape[:-1] + (1,), dtype),
                "col_var": np.zeros(shape[:-2] + (1,) + shape[-1:], dtype)}
    return {"step": 0, "variance": np.zeros(shape, dtype)}



def _rates(t: int, hp: HyperValues) -> tuple[float, Any]:
    """(w_t, rho_t) of step t: the second moment's weight t^beta2_decay and min(lr, 1 / sqrt(t))."""
    lr = hp["learning_rate"]
    return float(t) ** hp["beta2_decay"], np.minimum(lr, 1 / (float(t) ** 0.5)) if np.ndim(lr) else min(lr, 1 / (float(t) ** 0.5))


def _scale(param_norm: Any, update_norm: Any, n: int, t: int, hp: HyperValues) -> Any:
    """The step's factor on u: -max(eps2, RMS(p)) rho_t / max(1, RMS(u) / d), from ||p|| and ||u||."""
    alpha = np.maximum(hp["epsilon2"], param_norm / n**0.5) * _rates(t, hp)[1]
    return -alpha / np.maximum(1.0, update_norm / (n**0.5 * hp["d"]))


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else grads
    t = state["step"] + 1
    dtype = np.asarray(params).dtype
    n = run_size(params, hp)
    if np.size(params) == 0:  # torch divides by sqrt(numel) = 0 here (ZeroDivisionError); nothing to move
        return np.array(params, copy=True), {**state, "step": t}
    eps1 = np.finfo(dtype).eps
    w = _rates(t, hp)[0]
    p = params
    if np.any(hp["weight_decay"] != 0):
        p = p * (1 - hp["learning_rate"] * hp["weight_decay"])
    new: dict[str, Any] = {"step": t}
    if _factored(params, hp):
        g2 = g * g
        row_mean = np.square(np.sqrt(np.sum(g2, axis=-1, keepdims=True))) / np.shape(g)[-1]
        col_mean = np.square(np.sqrt(np.sum(g2, axis=-2, keepdims=True))) / np.shape(g)[-2]
        new["row_var"] = torch_lerp(state["row_var"], row_mean, w)
        new["col_var"] = torch_lerp(state["col_var"], col_mean, w)
        var = (new["row_var"] * new["col_var"]) / np.maximum(np.mean(new["row_var"], axis=-2, keepdims=True), eps1)
    else:
        var = new["variance"] = torch_lerp(state["variance"], g * g, w)
    u = (1 / np.sqrt(np.maximum(var, eps1 * eps1))) * g
    scale = _scale(run_norm(params, hp), run_norm(u, hp), n, t, hp)
    if np.ndim(scale):
        scale = scale.astype(dtype)  # per-run, in the params' dtype (torch: a Python float per parameter)
    else:
        scale = float(scale)
    return p + scale * u, new


# ---- the fused form (vectors and 0-d): pass 1 updates v and sums p^2 and u^2; pass 2 steps p

def _unfactored(params: Array, hp: HyperValues) -> bool:
    return not _factored(params, hp)


def fused_coefficients(params: Array, state: State, hp: HyperValues) -> dict[str, Any]:
    w = _rates(state["step"] + 1, hp)[0]
    eps1 = np.finfo(params.dtype).eps
    return {"neg": hp["maximize"], "low": abs(w) < 0.5, "w": w, "one_m_w": 1 - w, "eps1_sq": eps1 * eps1, "one": 1.0,
            "decay": 1 - hp["learning_rate"] * hp["weight_decay"]}


@cell_helper
def cell_update_direction(g, v, neg, eps1_sq, one):
    """u, one element: g / sqrt(max(v, eps1^2)) (NaN v passes, as in np.maximum)."""
    if neg != 0:
        g = -g
    return (one / math.sqrt(eps1_sq if v < eps1_sq else v)) * g


def gather(p, g, v, neg, low, w, one_m_w, eps1_sq, one):
    gg = -g if neg != 0 else g
    gg = gg * gg
    v = v + w * (gg - v) if low != 0 else gg - (gg - v) * one_m_w
    u = cell_update_direction(g, v, neg, eps1_sq, one)
    return v, p * p, u * u


def combine(params: Array, sums: dict[str, float], c: dict[str, Any], state: State, hp: HyperValues) -> tuple[dict[str, Any], State]:
    return {"scale": _scale(math.sqrt(sums["pp"]), math.sqrt(sums["uu"]), params.size, state["step"] + 1, hp)}, {}


def apply(p, g, v, neg, eps1_sq, one, decay, scale):
    return (p * decay + scale * cell_update_direction(g, v, neg, eps1_sq, one),)


TWO_PASS = TwoPass(slots=("variance",), sums=("pp", "uu"), coefficients=fused_coefficients, gather=gather, combine=combine,
                   apply=apply, gather_writes=("variance",), supports=_unfactored)


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step of a vector (a race's run: v per element, not factored): the relative step
    alpha = max(eps2, RMS(p)) rho_t along u = g / sqrt(v), shrunk when RMS(u) exceeds d,
    -alpha / max(1, RMS(u) / d) u (``scaled``), plus the decoupled decay -lr wd p
    (``weight_decay``); alpha / (max(1, RMS(u) / d) sqrt(v)) is the ``stretch``."""
    lr, wd = hp["learning_rate"], hp["weight_decay"]
    out = descended(p, g, hp, l2=False)
    t = after["step"]
    n = run_size(p, hp)
    eps1 = np.finfo(np.asarray(p).dtype).eps
    w, rho = _rates(t, hp)
    v = after["variance"]
    vc = np.maximum(v, eps1 * eps1)
    u = (1 / np.sqrt(vc)) * out["grad"]
    scale = _scale(run_norm(p, hp), run_norm(u, hp), n, t, hp)
    rms_p, rms_u = run_norm(p, hp) / n**0.5, run_norm(u, hp) / n**0.5
    out.update(w=w, one_m_w=1 - w, v_prev=before["variance"], v=v, eps1sq=eps1 * eps1, u=u, eps2=hp["epsilon2"], rho=rho,
               rms_p=rms_p, rms_u=rms_u, d=hp["d"], alpha=max(hp["epsilon2"], rms_p) * rho, scaled=scale * u,
               rate=-scale / np.sqrt(vc))
    if wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


_STEP = (r"- \frac{\alpha_t}{\max(1, \mathrm{RMS}(u_t) / d)}\, u_t", "− {alpha} / max(1, {rms_u} / {d}) × {u} = {p_new!}")

ANATOMY = Anatomy(
    terms=(
        Term("scaled", "-α u / max(1, RMS(u)/d)", r"-\alpha_t\, u_t / \max(1, \mathrm{RMS}(u_t)/d)",
             "the relative step: α (a fraction of p's RMS) along g over its running RMS, clipped to RMS d"),
        DECOUPLED_DECAY,
    ),
    lines=(
        Line(r"v_t = (1 - w_t)\, v_{t-1} + w_t\, g_t^2,\ w_t = t^{c}", "v = (1 − {w}) × {v_prev} + {w} × {grad}² = {v!}"),
        Line(r"u_t = g_t / \sqrt{\max(v_t, \epsilon_1^2)}", "u = {grad} / √(max({v}, {eps1sq})) = {u!}"),
        Line(r"\alpha_t = \max(\epsilon_2, \mathrm{RMS}(p_t))\, \rho_t,\ \rho_t = \min(\eta, 1/\sqrt{t})",
             "α = max({eps2}, {rms_p}) × {rho} = {alpha!}"),
        Line(r"p_{t+1} = p_t " + _STEP[0], "p = {p} " + _STEP[1], when=lambda hp: hp["weight_decay"] == 0),
        Line(r"p_{t+1} = p_t (1 - \eta\lambda) " + _STEP[0], "p = {p} × (1 − {lr} × {wd}) " + _STEP[1],
             when=lambda hp: hp["weight_decay"] != 0),
    ),
    values=anatomy_values, composes=("scaled", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate α/(max(1, RMS(u)/d) √v)",
)


SPEC = OptimizerSpec(
    name="adafactor", title="Adafactor",
    hypers=(
        lr_hyper(1e-2),
        Hyper("beta2_decay", -0.8, high=0.0, doc="1 - beta2_t = t^beta2_decay (the second moment's decay)"),
        Hyper("epsilon2", 1e-3, low=0.0, log=True, doc="eps2: the smallest RMS(p) the step scales with"),
        Hyper("d", 1.0, low=1.0, doc="clipping threshold: the update's RMS is capped at d"),
        wd_hyper(0.0, doc="decoupled: p shrinks by lr * wd before the step"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays,
    rule=(r"\hat v_t = \begin{cases} R_t C_t / \overline{R_t} & \text{ndim} \ge 2 \\ v_t & \text{else} \end{cases},\ "
          r"u_t = \frac{g_t}{\sqrt{\max(\hat v_t, \epsilon_1^2)}},\ "
          r"p_t = p_{t-1}(1 - \eta\lambda) - \frac{\max(\epsilon_2, \mathrm{RMS}(p_{t-1}))\,\min(\eta, t^{-1/2})}"
          r"{\max(1, \mathrm{RMS}(u_t)/d)}\,u_t,\ 1-\beta_{2,t} = t^{\beta_{2,\text{decay}}}"),
    paper="Shazeer & Stern, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost (ICML 2018)",
    torch=TorchClass(
        "Adafactor",
        "lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *, foreach=None, maximize=False",
    ),
    family="adaptive", scope="parameter", two_pass=TWO_PASS,
    examples=(
        {},
        {"learning_rate": 0.5, "beta2_decay": -0.5, "d": 1.5, "weight_decay": 0.1},
        {"maximize": True, "d": 1.0, "learning_rate": 0.05},
    ),
)

#: settings that set torch's ``eps`` pair (eps2), for a harness that builds it
PAIR_EXAMPLES = ({"epsilon2": 0.1, "learning_rate": 0.2}, {"epsilon2": 1e-6, "weight_decay": 0.05, "maximize": True})
