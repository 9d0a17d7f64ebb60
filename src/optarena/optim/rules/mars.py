"""MARS: Adam on a variance-reduced gradient, the correction built from the previous gradient.

    g = -g if maximize;   g_prev: the previous step's g (0 before the first step)
    c = g + gamma * b1 / (1 - b1) * (g - g_prev);   c = c / ||c||  if ||c|| > 1   (norm over the parameter)
    m = lerp(m, c, 1 - b1);   v = b2 v + (1 - b2) c^2
    p = p (1 - lr wd) - lr * m / ((sqrt(v + 1e-15) + eps) / sqrt(1 - b2^t) * (1 - b1^t))

That is MARS-AdamW (``mars_type`` 0, the reference's "adamw"); the other two types change the
step after m (and leave v at 0):

    mars_type 1 ("lion"):     p = p (1 - lr wd) - lr sign(m)
    mars_type 2 ("shampoo"):  O = NS5(m / (1 - b1)) (a matrix; ndim > 2: its rows by the rest flattened),
                              p = p (1 - lr wd) - lr sqrt(max(1, rows / cols)) O

NS5 is Muon's Newton-Schulz iteration (5 steps, (3.4445, -4.7750, 2.0315), its norm floored at
eps). "shampoo" on a vector or 0-d (with ``optimize_1d``) steps as "adamw", as the reference does.

All of that is for a matrix (ndim >= 2), or for any parameter with ``optimize_1d``. Otherwise (vectors
and 0-d, by default) it steps as plain AdamW: c = g, no correction or clipping, with
``learning_rate_1d``, ``weight_decay_1d`` and betas (0.9, 0.95); g_prev is kept either way.

Yuan et al., MARS: Unleashing the Power of Variance Reduction for Training Large Models (2024),
MARS-AdamW in its approximate form (g_prev is the previous step's gradient, as in the authors'
code). Reference: ``pytorch_optimizer.MARS`` (pytorch-optimizer 4.1.0) with its default
all three ``mars_type`` values, matched exactly, defaults and its 1e-15 under the square root
included (``mars_type`` is a whole number here, 0 / 1 / 2, the reference's "adamw" / "lion" /
"shampoo": a setting is a number or a bool, and ``optarena.torch.MARS`` takes the number too;
``optarena code`` writes the reference's string).
Its clipping norm is over the whole parameter, so there is no fused cell (scope "parameter"); its
fused form is two passes (``TWO_PASS``: the norm's terms from g and g_prev, then the step; a
parameter stepped as AdamW takes the second alone); "shampoo" on a matrix, a product of
matrices, steps by the readable rule. A leading batch axis
(hyperparameters as ``(B,)`` arrays, as the race engine gives them) holds B independent parameters,
normed per row and 1-D or not by a row's own shape.

A race: each run is a 2-element vector, so by default MARS races as the reference steps such a
parameter, as its 1-D AdamW (weight decay 0.1 included); race it with ``optimize_1d=True`` to see
the correction and the clipping at work.

Differences, declared: the reference steps 1-D parameters by ``lr * (lr_1d / lr)``, a factor it
fixes at construction, so under an lr schedule its 1-D rate follows the schedule (and lr = 0
raises ZeroDivisionError there); here ``learning_rate_1d`` is its own, unscheduled rate (without a
schedule: within 1 ulp). The norm is accumulated in float64 (the reference: in the parameter's
dtype). "shampoo" iterates in the parameter's dtype (float16: float32); the reference iterates in
bfloat16 (8-bit mantissa): with its iteration held in the parameter's dtype the two agree to
1e-12 (float64) and 1e-5 (float32) relative (tests/optim/test_options_mars.py, which also measures
the shipped bfloat16 difference). Not offered: ``betas_1d`` (fixed at the reference's default), ``weight_decouple=False``
(the reference adds wd p to the gradient only after the step is computed, so it reaches only the
stored g_prev), ``fixed_decay``, ``ams_bound`` and ``cautious``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import UsageError
from ..anatomy import Anatomy, DECOUPLED_DECAY, Line, Term, descended, step_lines
from .._spec import (
    cell_sign_step, torch_lerp,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, TORCH_NAMES, TwoPass, beta_hyper, cell_helper,
    eps_hyper, is_batched, lr_hyper, run_norm, sqrt, wd_hyper, zeros_state,
)
from .muon import orthogonalise

#: the reference's ``betas_1d`` default: AdamW's decay rates for 1-D parameters (not offered)
BETAS_1D = (0.9, 0.95)
#: the reference's ``exp_avg_sq_eps``: added to v under the square root
V_EPS = 1e-15
#: ``mars_type``: our number -> the reference's string
MARS_TYPES = {0.0: "adamw", 1.0: "lion", 2.0: "shampoo"}
LION, SHAMPOO = 1.0, 2.0


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "last_grad")


def init(params: Array, hp: HyperValues) -> State:
    return zeros_state(params, state_arrays(hp))


def _corrected(params: Array, hp: HyperValues) -> bool:
    """MARS proper (else 1-D AdamW): the reference's ``optimize_1d or grad.ndim >= 2``, for one
    parameter (a row, when the leading axis is a batch)."""
    return bool(hp["optimize_1d"]) or _ndim(params, hp) >= 2


def _ndim(params: Array, hp: HyperValues) -> int:
    """One parameter's number of axes (a row's, when the leading axis is a batch)."""
    return np.ndim(params) - (1 if is_batched(hp) else 0)


def _mars_type(params: Array, hp: HyperValues) -> float:
    """How this parameter steps after m: 0 (Adam's ratio), LION or SHAMPOO; a parameter stepped as
    1-D AdamW, and "shampoo" on a vector or 0-d, take 0 (the reference's ``optimize_mixed``)."""
    if not _corrected(params, hp):
        return 0.0
    kind = float(np.ravel(hp["mars_type"])[0])  # one value for all runs (``check``)
    return 0.0 if kind == SHAMPOO and _ndim(params, hp) < 2 else kind


def _orthogonalised(m: Array, b1: Any, params: Array, hp: HyperValues) -> Array:
    """"shampoo"'s step: NS5(m / (1 - b1)) on the parameter as a (rows, rest) matrix, scaled by
    sqrt(max(1, rows / cols)) (cols: the parameter's second axis, as the reference takes it)."""
    lead = 1 if is_batched(hp) else 0
    shape = np.shape(params)
    rows, cols = shape[lead], shape[lead + 1]
    eps = hp["epsilon"]
    if np.ndim(eps):
        eps = np.reshape(eps, (-1, 1, 1))
    u = (m * (1.0 / (1.0 - b1))).reshape(*shape[:lead], rows, -1)
    return orthogonalise(u, 5, eps).reshape(shape) * math.sqrt(max(1.0, rows / cols))



def _clip_divisor(norm: Any) -> Any:
    """What c is divided by: ||c|| where it is above 1, else 1 (NaN norms too, as in the reference)."""
    if np.ndim(norm) == 0:
        return norm if norm > 1.0 else 1.0
    return np.where(norm > 1.0, norm, 1.0)


def _clip(c: Array, hp: HyperValues) -> Array:
    """c / ||c|| where the norm (per run) is above 1."""
    divisor = _clip_divisor(run_norm(c, hp))
    if np.ndim(divisor) == 0:
        return c / divisor if divisor != 1.0 else c
    return c / divisor.astype(np.asarray(c).dtype)


def _rates(params: Array, hp: HyperValues) -> tuple[Any, Any, Any, Any]:
    """(b1, b2, lr, wd) of this parameter: MARS's, or 1-D AdamW's."""
    if _corrected(params, hp):
        return hp["beta1"], hp["beta2"], hp["learning_rate"], hp["weight_decay"]
    return BETAS_1D[0], BETAS_1D[1], hp["learning_rate_1d"], hp["weight_decay_1d"]


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    g = -grads if hp["maximize"] else np.array(grads, copy=True)  # kept as next step's g_prev
    t = state["step"] + 1
    b1, b2, lr, wd = _rates(params, hp)
    c = _clip((g - state["last_grad"]) * (hp["gamma"] * (b1 / (1.0 - b1))) + g, hp) if _corrected(params, hp) else g
    m = torch_lerp(state["exp_avg"], c, 1.0 - b1)
    kind, v = _mars_type(params, hp), state["exp_avg_sq"]  # lion and shampoo leave v alone
    if kind == LION:
        step = np.sign(m)
    elif kind == SHAMPOO:
        step = _orthogonalised(m, b1, params, hp)
    else:
        v = v * b2 + (1.0 - b2) * c * c
        step = m / ((np.sqrt(v + V_EPS) + hp["epsilon"]) / sqrt(1.0 - b2**t) * (1.0 - b1**t))
    p = params * (1.0 - wd * lr) if np.any(wd != 0) else params
    return p - lr * step, {"step": t, "exp_avg": m, "exp_avg_sq": v, "last_grad": g}


def check(hp: HyperValues, where: str) -> None:
    kinds = np.unique(hp["mars_type"])
    if len(kinds) > 1:  # a race's runs as one array program: one program
        raise UsageError(f"{where}: mars_type must be the same for every run of a batch (it changes the program), "
                         f"got {kinds.tolist()}", field="mars_type", allowed=list(MARS_TYPES))


# ---- the fused form: pass 1 sums c^2 (MARS proper only); pass 2 is the step, clipped

def fused_coefficients(params: Array, state: State, hp: HyperValues) -> dict[str, Any]:
    b1, b2, lr, wd = _rates(params, hp)
    t = state["step"] + 1
    w = 1.0 - b1  # torch's lerp weight, and its branch
    return {"neg": hp["maximize"], "corrected": _corrected(params, hp), "k": hp["gamma"] * (b1 / (1.0 - b1)),
            "lion": _mars_type(params, hp) == LION, "low": abs(w) < 0.5, "w": w, "one_m_w": 1 - w, "b2": b2,
            "one_m_b2": 1.0 - b2, "v_eps": V_EPS,
            "eps": hp["epsilon"], "bc2_sqrt": sqrt(1.0 - b2**t), "bc1": 1.0 - b1**t, "decay": 1.0 - wd * lr, "lr": lr}


@cell_helper
def cell_correction(g, lg, neg, corrected, k):
    """(g, c), one element: g flipped for maximize, and c = g + k (g - g_prev) (g itself as AdamW)."""
    if neg != 0:
        g = -g
    if corrected != 0:
        return g, (g - lg) * k + g
    return g, g


def gather(p, g, m, v, lg, neg, corrected, k):
    g, c = cell_correction(g, lg, neg, corrected, k)
    return (c * c,)


def combine(params: Array, sums: dict[str, float], c: dict[str, Any], state: State, hp: HyperValues) -> tuple[dict[str, Any], State]:
    return {"clip": _clip_divisor(math.sqrt(sums["cc"]))}, {}


def apply(p, g, m, v, lg, neg, corrected, k, clip, lion, low, w, one_m_w, b2, one_m_b2, v_eps, eps, bc2_sqrt, bc1, decay, lr):
    g, c = cell_correction(g, lg, neg, corrected, k)
    c = c / clip  # clip is 1 (c / 1 is c) unless ||c|| > 1
    m = m + w * (c - m) if low != 0 else c - (c - m) * one_m_w
    if lion != 0:
        return (p * decay) - cell_sign_step(m, lr), m, v, g
    v = v * b2 + one_m_b2 * c * c
    denom = (math.sqrt(v + v_eps) + eps) / bc2_sqrt * bc1
    return (p * decay) - lr * (m / denom), m, v, g


TWO_PASS = TwoPass(slots=("exp_avg", "exp_avg_sq", "last_grad"), sums=("cc",), coefficients=fused_coefficients, gather=gather,
                   combine=combine, apply=apply, apply_writes=("exp_avg", "exp_avg_sq", "last_grad"), reduces=_corrected,
                   supports=lambda params, hp: _mars_type(params, hp) != SHAMPOO)


# ---- the anatomy of a step (a race's run is a vector: MARS proper with optimize_1d, else AdamW)

def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Adam's bias-corrected direction on the variance-reduced gradient,
    -lr m / ((sqrt(v + 1e-15) + eps) / sqrt(1 - b2^t) (1 - b1^t)) (``direction``), or with
    ``mars_type`` 1 Lion's -lr sign(m) (``sign_step``), plus the decoupled decay -lr wd p
    (``weight_decay``). The correction c = g + gamma b1 / (1 - b1) (g - g_prev) and its clip to
    norm 1 shape m (the clip's norm ||c|| is over the whole point: a number in the line); a vector
    without ``optimize_1d`` takes c = g with AdamW's own rate, decay and betas (0.9, 0.95). What
    multiplies m (lr on sign(m) for Lion) is the ``stretch``."""
    b1, b2, lr, wd = _rates(p, hp)
    out = descended(p, g, hp, l2=False)
    grad, g_prev = out["grad"], before["last_grad"]
    dg = grad - g_prev
    c = dg * (hp["gamma"] * (b1 / (1.0 - b1))) + grad if _corrected(p, hp) else grad
    cn = run_norm(c, hp)
    m, v, t = after["exp_avg"], after["exp_avg_sq"], int(after["step"])
    out.update(lr=lr, wd=wd, beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, eps=hp["epsilon"], gamma=hp["gamma"],
               g_prev=g_prev, dg=dg, c=c, cn=cn, ct=c / _clip_divisor(cn) if _corrected(p, hp) else c, m_prev=before["exp_avg"], m=m,
               v_prev=before["exp_avg_sq"], v=v)
    if _mars_type(p, hp) == LION:
        out.update(sgn=np.sign(m), rate=np.full_like(m, lr, dtype=np.float64), sign_step=-lr * np.sign(m))
    else:
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        rate = lr * math.sqrt(bc2) / ((np.sqrt(v + V_EPS) + hp["epsilon"]) * bc1)
        out.update(veps=V_EPS, bc1=bc1, bc2=bc2, rate=rate, direction=-rate * m)
    if wd != 0:
        out["weight_decay"] = -lr * wd * p
    return out


def _proper(hp: Any) -> bool:
    """MARS proper on a race's run (a vector)."""
    return bool(hp["optimize_1d"])


def _lion(hp: Any) -> bool:
    return _proper(hp) and hp["mars_type"] == LION


def _decays(hp: Any) -> bool:
    return bool(hp["weight_decay" if _proper(hp) else "weight_decay_1d"] != 0)


ANATOMY = Anatomy(
    terms=(
        Term("direction", "-η m̂/(√v̂+ε)", r"-\eta\, \frac{m_t / (1-\beta_1^t)}{(\sqrt{v_t} + \epsilon) / \sqrt{1-\beta_2^t}}",
             "Adam's bias-corrected direction, on the variance-reduced gradient clipped to norm 1"),
        Term("sign_step", "-η sign(m)", r"-\eta\, \mathrm{sign}(m_t)", "mars_type 1 (Lion): every coordinate moves by lr"),
        DECOUPLED_DECAY,
    ),
    lines=(
        Line(r"\tilde c_t = g_t\quad (\mathrm{AdamW:}\ \beta_1, \beta_2 = 0.9, 0.95;\ \eta_{1d}, \lambda_{1d})", "c̃ = {grad} = {ct!}",
             when=lambda hp: not _proper(hp)),
        Line(r"\Delta g_t = g_t - g_{t-1}", "Δg = {grad} − {g_prev} = {dg!}", when=_proper),
        Line(r"c_t = g_t + \gamma \frac{\beta_1}{1-\beta_1} \Delta g_t", "c = {grad} + {gamma} × {beta1} / {one_m_b1} × {dg} = {c!}",
             when=_proper),
        Line(r"\tilde c_t = c_t / \max(1, \lVert c_t \rVert)", "c̃ = {c} / max(1, {cn}) = {ct!}", when=_proper),
        Line(r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, \tilde c_t", "m = {beta1} × {m_prev} + {one_m_b1} × {ct} = {m!}"),
        Line(r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\, \tilde c_t^2", "v = {beta2} × {v_prev} + {one_m_b2} × {ct}² = {v!}",
             when=lambda hp: not _lion(hp)),
        *step_lines(r"- \eta\, \frac{m_t / (1-\beta_1^t)}{(\sqrt{v_t + 10^{-15}} + \epsilon) / \sqrt{1-\beta_2^t}}",
                    "− {lr} × {m} / ((√({v} + {veps}) + {eps}) / √{bc2} × {bc1}) = {p_new!}", lambda hp: not _lion(hp), _decays),
        *step_lines(r"- \eta\, \mathrm{sign}(m_t)", "− {lr} × {sgn} = {p_new!}", _lion, _decays),
    ),
    values=anatomy_values, composes=("direction", "sign_step", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η√(1−β₂ᵗ)/((1−β₁ᵗ)(√v+ε)) on m (Lion's: η on sign(m))",
)


SPEC = OptimizerSpec(
    name="mars", title="MARS",
    hypers=(
        lr_hyper(3e-3),
        beta_hyper("beta1", 0.95, "first-moment decay; also sets the correction's weight b1 / (1 - b1)"),
        beta_hyper("beta2", 0.99, "second-moment decay"),
        Hyper("gamma", 0.025, low=0.0, doc="strength of the gradient correction"),
        eps_hyper(1e-8),
        wd_hyper(0.0, doc="decoupled: p shrinks by lr * wd before the step"),
        Hyper("optimize_1d", False, kind="bool", doc="MARS for vectors and 0-d too (else they step as AdamW)"),
        Hyper("learning_rate_1d", 3e-3, low=0.0, log=True, doc="AdamW's step size for vectors and 0-d"),
        Hyper("weight_decay_1d", 0.1, low=0.0, log=True, doc="AdamW's decoupled decay for vectors and 0-d"),
        Hyper("mars_type", 0.0, low=0.0, high=2.0, integer=True,
              doc="the step after m: 0 adamw (m / sqrt(v)), 1 lion (sign(m)), 2 shampoo (m orthogonalised, matrices)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, check=check, anatomy=ANATOMY,
    rule=(r"c_t = g_t + \gamma\frac{\beta_1}{1-\beta_1}(g_t - g_{t-1}),\ "
          r"\tilde c_t = c_t / \max(1, \lVert c_t\rVert_2),\ "
          r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\tilde c_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2)\tilde c_t^2,\ "
          r"p_t = p_{t-1}(1-\eta\lambda) - \eta\frac{m_t/(1-\beta_1^t)}{(\sqrt{v_t}+\epsilon)/\sqrt{1-\beta_2^t}}"),
    paper="Yuan et al., MARS: Unleashing the Power of Variance Reduction for Training Large Models (2024)",
    reference=Reference("pytorch_optimizer.MARS", "pytorch-optimizer",
                        rename={**TORCH_NAMES, "learning_rate_1d": "lr_1d"}, values={"mars_type": MARS_TYPES}),
    family="adaptive", scope="parameter", two_pass=TWO_PASS,
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.02, "gamma": 0.5, "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1, "optimize_1d": True},
        {"learning_rate_1d": 0.02, "weight_decay_1d": 0.0, "epsilon": 1e-3, "gamma": 0.1, "maximize": True},
        {"beta1": 0.3, "gamma": 1.0, "optimize_1d": True, "maximize": True},
        {"mars_type": 1.0, "learning_rate": 0.01, "weight_decay": 0.1},
        {"mars_type": 1.0, "optimize_1d": True, "gamma": 0.5, "maximize": True},
    ),
)
