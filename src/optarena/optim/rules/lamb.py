"""LAMB: Adam's direction scaled per parameter by a trust ratio ||p|| / ||update|| (layer-wise).

    g = -g if maximize
    m = b1 m + b3 g              (b3 = 1 - b1 with grad_averaging, else 1)
    v = b2 v + (1 - b2) g^2
    p = p (1 - wd lr)            (weight_decouple; p (1 - wd) with fixed_decay)
    u = m / (sqrt(v) + eps)      (+ wd p unless weight_decouple: the paper's coupled decay)
    w = min(||p||, clamp);  r = w / (||u|| + eps), or 1 where w = 0 or ||u|| = 0
    p = p - lr / (1 - b1^t) * r u        (1 - b1^t: 1 with adam_debias; r: 1 with adam)

With ``rectify`` (RAdam's rectification, the reference's): s = lr rt / (1 - b1^t), where
rho_inf = 2 / (1 - b2) - 1, rho = rho_inf - 2 t b2^t / (1 - b2^t) and rt = sqrt((1 - b2^t)
(rho - 4) (rho - 2) rho_inf / ((rho_inf - 4) (rho - 2) rho)) for rho >= ``n_sma_threshold``, else
1 with ``degenerated_to_sgd`` (u = m, no denominator), else -1: a step with s <= 0 moves only m,
v and the decay (and keeps the norms). Then, as the reference computes it, the trust ratio's
||u|| is ||p - s u||, and p = p - s r u; the coupled decay (``weight_decouple=False``) is not
applied (the reference drops it on that path).

The norms are over the whole parameter, so there is no fused cell (scope "parameter"): the
article's class runs it on each array, the torch bridge on each tensor, and a race (settings as
``(B,)`` arrays) on each row of its ``(B, d)`` positions, one run each. Its fused form is two
passes (``TWO_PASS``): the moments and both norms' terms, then the step from m and v. Kept in the state as the
reference keeps them: ``weight_norm`` (w), ``adam_norm`` (||u||) and ``trust_ratio`` (r, before
``adam`` sets it to 1), in the parameter's dtype, one per run.

You et al., Large Batch Optimization for Deep Learning: Training BERT in 76 minutes (ICLR 2020),
Algorithm 2. Reference: ``pytorch_optimizer.Lamb`` (pytorch-optimizer 4.1.0), matched exactly,
defaults included; as there, the paper's bias correction of v is not made and that of m is in the
step size (``adam_debias``, the reference's name, drops it), and the paper's scaling function is
min(||p||, clamp) (the reference's class attribute ``clamp``, a hyperparameter here). Not offered:
``pre_norm`` and ``max_grad_norm`` (a scale from the gradient norm over ALL parameters),
``adanorm`` and ``adanorm_r``. Norms are accumulated in float64 (the reference: the parameter's
dtype): float32 parameters stay within 3e-6 relative of it over 12 steps
(measured; float64: 4e-15).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy import Anatomy, Line, Term, descended, weight_decouple
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, TwoPass, beta_hyper, bias_correction, cell_helper,
    eps_hyper, is_batched, lr_hyper, run_norm, wd_hyper, zeros_state,
)

#: the per-run scalars the reference keeps in each parameter's state
NORMS = ("weight_norm", "adam_norm", "trust_ratio")


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq")


def init(params: Array, hp: HyperValues) -> State:
    state = zeros_state(params, state_arrays(hp))
    shape = np.shape(params)
    per_run = (shape[0],) + (1,) * (len(shape) - 1) if is_batched(hp) and shape else ()  # one per run, as run_norm
    for k in NORMS:
        state[k] = np.zeros(per_run, np.asarray(params).dtype)
    return state


def _per_run(x: Any, dtype: np.dtype) -> Any:
    """A per-run scalar as the step multiplies with it: a Python float (weak: keeps the params'
    dtype), or for a batch its (B, 1, ...) array in the params' dtype."""
    return np.asarray(x).astype(dtype) if np.ndim(x) else float(x)


def trust_ratio(weight_norm: Any, update_norm: Any, eps: Any) -> Any:
    """w / (||u|| + eps), and 1 where either norm is 0 (NaN norms give NaN, as in the reference)."""
    weight_norm = np.asarray(weight_norm, dtype=np.float64)  # NumPy's division: x / 0 is not an exception
    with np.errstate(divide="ignore", invalid="ignore"):  # the quotients np.where does not take
        ratio = weight_norm / (update_norm + eps)
    return np.where((weight_norm == 0) | (update_norm == 0), 1.0, ratio)


def _step_size(t: int, hp: HyperValues) -> tuple[Any, Any]:
    """(s, adaptive): the step size lr (rt) / (1 - b1^t) and, with ``rectify``, where rho reached the
    threshold (u has its denominator), in the reference's order of operations; per run for a batch."""
    lr, adaptive = hp["learning_rate"], True
    if hp["rectify"]:
        b2 = hp["beta2"]
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        b2_t = b2**t
        rho = rho_inf - 2 * t * b2_t / (1.0 - b2_t)
        adaptive = rho >= hp["n_sma_threshold"]
        with np.errstate(invalid="ignore", divide="ignore"):  # the rt np.where does not take (rho < 4)
            rt = np.sqrt((1.0 - b2_t) * (rho - 4) / (rho_inf - 4) * (rho - 2) / rho * rho_inf / (rho_inf - 2))
        rt = np.where(adaptive, rt, 1.0 if hp["degenerated_to_sgd"] else -1.0)
        lr = lr * (float(rt) if rt.ndim == 0 else rt)
    return (lr if hp["adam_debias"] else lr / (1.0 - hp["beta1"] ** t)), adaptive


def _scale_and_norms(param_norm: Any, update_norm: Any, step_size: Any, hp: HyperValues, dtype: np.dtype) -> tuple[Any, dict[str, Any]]:
    """The step's factor on u (-s * r) and the norms the state keeps, from ||p|| and ||u||."""
    w = np.minimum(param_norm, hp["clamp"])
    r = trust_ratio(w, update_norm, hp["epsilon"])
    scale = -step_size * (1.0 if hp["adam"] else r)
    return scale, {k: np.asarray(x, dtype=np.float64).astype(dtype) for k, x in zip(NORMS, (w, update_norm, r))}


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    dtype = np.asarray(params).dtype
    g = -grads if hp["maximize"] else grads
    t = state["step"] + 1
    b1, b2, wd, lr = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["learning_rate"]
    m = state["exp_avg"] * b1 + (1 - b1 if hp["grad_averaging"] else 1.0) * g
    v = state["exp_avg_sq"] * b2 + (1 - b2) * (g * g)
    p = params
    decay = np.any(wd != 0)
    if decay and hp["weight_decouple"]:
        p = p * (1 - wd * (1.0 if hp["fixed_decay"] else lr))
    step_size, adaptive = _step_size(t, hp)
    if hp["rectify"]:
        return _rectified(p, m, v, state, step_size, adaptive, hp, dtype)
    u = m / (np.sqrt(v) + hp["epsilon"])
    if decay and not hp["weight_decouple"]:
        u = u + wd * p
    scale, norms = _scale_and_norms(run_norm(p, hp), run_norm(u, hp), step_size, hp, dtype)
    return p + _per_run(scale, dtype) * u, {"step": t, "exp_avg": m, "exp_avg_sq": v, **norms}


def _rectified(p: Array, m: Array, v: Array, state: State, step_size: Any, adaptive: Any, hp: HyperValues,
               dtype: np.dtype) -> tuple[Array, State]:
    """The step after m, v and the decay, with ``rectify``: the trust ratio from ||p - s u||; no move
    (and the norms kept) where s <= 0."""
    u = m / (np.sqrt(v) + hp["epsilon"])
    if np.ndim(adaptive) or not adaptive:
        u = np.where(adaptive, u, m)
    s = _per_run(step_size, dtype)
    scale, norms = _scale_and_norms(run_norm(p, hp), run_norm(p + (-s) * u, hp), step_size, hp, dtype)
    stepped = p + _per_run(scale, dtype) * u
    moved = np.asarray(step_size) > 0
    out = {"step": state["step"] + 1, "exp_avg": m, "exp_avg_sq": v}
    if moved.ndim == 0:
        return (stepped if moved else p), {**out, **(norms if moved else {k: state[k] for k in NORMS})}
    return np.where(moved, stepped, p), {**out, **{k: np.where(moved, norms[k], state[k]) for k in NORMS}}


# ---- the fused form: pass 1 updates m and v and sums p^2 and u^2; pass 2 steps p from m and v

def fused_coefficients(params: Array, state: State, hp: HyperValues) -> dict[str, Any]:
    b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
    decouple, rectify = hp["weight_decouple"], hp["rectify"]
    step_size, adaptive = _step_size(state["step"] + 1, hp)
    return {"neg": hp["maximize"], "b1": b1, "m_rate": 1 - b1 if hp["grad_averaging"] else 1.0, "b2": b2, "one_m_b2": 1 - b2,
            "decay": 1 - wd * (1.0 if hp["fixed_decay"] else hp["learning_rate"]) if wd != 0 and decouple else 1.0,
            "eps": hp["epsilon"], "coupled": wd != 0 and not decouple and not rectify, "wd": wd, "adaptive": adaptive,
            "rectify": rectify, "neg_s": -step_size}


@cell_helper
def cell_direction(p, m, v, eps, coupled, wd, adaptive):
    """u, one element: m / (sqrt(v) + eps) (m itself where rectify's rho is below its threshold),
    plus wd p for the coupled decay."""
    u = m / (math.sqrt(v) + eps) if adaptive != 0 else m
    if coupled != 0:
        u = u + wd * p
    return u


def gather(p, g, m, v, neg, b1, m_rate, b2, one_m_b2, decay, eps, coupled, wd, adaptive, rectify, neg_s):
    if neg != 0:
        g = -g
    m = m * b1 + m_rate * g
    v = v * b2 + one_m_b2 * (g * g)
    p = p * decay  # 1 unless the decay is decoupled: p * 1 is p
    u = cell_direction(p, m, v, eps, coupled, wd, adaptive)
    if rectify != 0:  # the reference's trust ratio then measures p - s u
        u = p + neg_s * u
    return m, v, p * p, u * u


def combine(params: Array, sums: dict[str, float], c: dict[str, Any], state: State, hp: HyperValues) -> tuple[dict[str, Any], State]:
    if hp["rectify"] and -c["neg_s"] <= 0:  # rectify's early steps: no move, the norms kept
        return {"scale": 0.0}, {k: state[k] for k in NORMS}
    scale, norms = _scale_and_norms(math.sqrt(sums["pp"]), math.sqrt(sums["uu"]), -c["neg_s"], hp, params.dtype)
    return {"scale": scale}, norms


def apply(p, g, m, v, decay, eps, coupled, wd, adaptive, scale):
    p = p * decay
    return (p + scale * cell_direction(p, m, v, eps, coupled, wd, adaptive),)


TWO_PASS = TwoPass(slots=("exp_avg", "exp_avg_sq"), sums=("pp", "uu"), coefficients=fused_coefficients, gather=gather,
                   combine=combine, apply=apply, gather_writes=("exp_avg", "exp_avg_sq"))


# ---- the anatomy of a step (a race's run is one parameter: its norms are the point's)

def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the decoupled decay -lr wd p (-wd p with ``fixed_decay``; ``weight_decay``), then
    Adam's direction u = m / (sqrt(v) + eps) scaled by the step size s and the trust ratio r,
    -s r m / (sqrt(v) + eps) (``scaled``; r = 1 with ``adam``), and with the coupled decay its
    share of u, -s r wd p (``coupled_decay``). The norms are over the whole point, so the lines
    show them as numbers: w = min(||p||, clamp), ||u|| (with ``rectify`` the reference's ||p - s u||).
    ``rectify`` writes its switches as indicators: [rho_t >= threshold] (u = m before), and
    [s_t > 0] (no move but the decay where s <= 0). s r / (sqrt(v) + eps) is the ``stretch``."""
    lr, b1, b2, wd, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"]
    out = descended(p, g, hp, l2=False)
    t = int(after["step"])
    m, v = after["exp_avg"], after["exp_avg_sq"]
    decoupled = weight_decouple(hp)
    dlr = 1.0 if hp["fixed_decay"] else lr
    pd = p * (1 - wd * dlr) if decoupled else p
    s, adaptive = _step_size(t, hp)
    s, on = float(s), bool(adaptive)
    a = 1.0 / (np.sqrt(v) + eps) if on else np.ones_like(m)  # what u takes of m
    u = m * a
    coupled = wd != 0 and not hp["weight_decouple"] and not hp["rectify"]  # the reference drops it when rectified
    if coupled:
        u = u + wd * p
    pn = run_norm(pd, hp)
    un = run_norm(pd - s * u, hp) if hp["rectify"] else run_norm(u, hp)
    w = min(pn, hp["clamp"])
    r = float(trust_ratio(w, un, eps))
    moved = s > 0 or not hp["rectify"]
    k = (1.0 if hp["adam"] else r) * s if moved else 0.0  # the step's factor on u
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, eps=eps, m_prev=before["exp_avg"], m=m,
               v_prev=before["exp_avg_sq"], v=v, dlr=dlr, pd=pd, u=u, pn=pn, clamp=hp["clamp"], w=w, un=un,
               nz=float(w * un != 0), r=r, s=s, bc1=1.0 if hp["adam_debias"] else bias_correction(b1, t), mv=float(moved),
               rate=k * a, scaled=-k * (m * a))
    if hp["rectify"]:
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        bc2 = bias_correction(b2, t)
        rt = _step_size(t, {**hp, "learning_rate": 1.0, "adam_debias": True})[0]  # s = lr rt / (1 - b1^t)
        out.update(t=t, b2t=b2**t, bc2=bc2, rho_inf=rho_inf, rho=rho_inf - 2 * t * b2**t / bc2, on=float(on), rt=float(rt))
    if decoupled:
        out["weight_decay"] = -dlr * wd * p
    if coupled:
        out["coupled_decay"] = -k * wd * p
    return out


def _rectify(hp: Any) -> bool:
    return bool(hp["rectify"])


def _trusted(hp: Any) -> bool:
    return not hp["adam"]


_RHO = r"[\rho_t \geq \rho_{\mathrm{th}}]"
_SQRT_RT = r"\sqrt{\frac{(1-\beta_2^t)(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}"
_SQRT_RT_NUMBERS = "r̂ = √({on} × {bc2} × ({rho} − 4) × ({rho} − 2) × {rho_inf} / (({rho_inf} − 4) × ({rho_inf} − 2) × {rho}))"

ANATOMY = Anatomy(
    terms=(
        Term("scaled", "-s r m/(√v+ε)", r"-s_t\, r_t\, m_t / (\sqrt{v_t} + \epsilon)",
             "Adam's direction scaled by the trust ratio r = min(||p||, c) / (||u|| + eps) (1 with adam): "
             "each parameter's step is a fraction of its norm; m alone while rectify's rho is below its threshold"),
        Term("coupled_decay", "-s r λ p", r"-s_t\, r_t \lambda\, p_t", "the paper's decay: λ p joins u, inside the trust ratio"),
        Term("weight_decay", "-η λ p", r"-\eta\,\lambda\, p_t", "decoupled weight decay: a shrink toward 0 (-λ p with fixed_decay)"),
    ),
    lines=(
        Line(r"p_t \leftarrow p_t (1 - \eta\lambda)", "p = {p} × (1 − {dlr} × {wd}) = {pd!}",
             when=lambda hp: weight_decouple(hp) and not hp["fixed_decay"]),
        Line(r"p_t \leftarrow p_t (1 - \lambda)", "p = {p} × (1 − {dlr} × {wd}) = {pd!}",
             when=lambda hp: weight_decouple(hp) and bool(hp["fixed_decay"])),
        Line(r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t", "m = {beta1} × {m_prev} + {one_m_b1} × {grad} = {m!}",
             when=lambda hp: bool(hp["grad_averaging"])),
        Line(r"m_t = \beta_1 m_{t-1} + g_t", "m = {beta1} × {m_prev} + {grad} = {m!}", when=lambda hp: not hp["grad_averaging"]),
        Line(r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2", "v = {beta2} × {v_prev} + {one_m_b2} × {grad}² = {v!}"),
        Line(r"u_t = m_t / (\sqrt{v_t} + \epsilon)", "u = {m} / (√{v} + {eps}) = {u!}",
             when=lambda hp: not _rectify(hp) and not (hp["weight_decay"] != 0 and not hp["weight_decouple"])),
        Line(r"u_t = m_t / (\sqrt{v_t} + \epsilon) + \lambda\, p_t", "u = {m} / (√{v} + {eps}) + {wd} × {p} = {u!}",
             when=lambda hp: not _rectify(hp) and hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        Line(r"s_t = \eta / (1-\beta_1^t)", "s = {lr} / {bc1} = {s!}", when=lambda hp: not _rectify(hp) and not hp["adam_debias"]),
        Line(r"\rho_\infty = 2 / (1-\beta_2) - 1", "ρ∞ = 2 / (1 − {beta2}) − 1 = {rho_inf!}", when=_rectify),
        Line(r"\rho_t = \rho_\infty - 2 t \beta_2^t / (1-\beta_2^t)", "ρ = {rho_inf} − 2 × {t} × {b2t} / {bc2} = {rho!}", when=_rectify),
        Line(r"u_t = " + _RHO + r"\, m_t / (\sqrt{v_t} + \epsilon) + [\rho_t < \rho_{\mathrm{th}}]\, m_t",
             "u = {on} × {m} / (√{v} + {eps}) + (1 − {on}) × {m} = {u!}", when=_rectify),
        Line(r"\hat r_t = " + _RHO + _SQRT_RT + r" + [\rho_t < \rho_{\mathrm{th}}]", _SQRT_RT_NUMBERS + " + (1 − {on}) = {rt!}",
             when=lambda hp: _rectify(hp) and bool(hp["degenerated_to_sgd"])),
        Line(r"\hat r_t = " + _RHO + _SQRT_RT + r" - [\rho_t < \rho_{\mathrm{th}}]", _SQRT_RT_NUMBERS + " − (1 − {on}) = {rt!}",
             when=lambda hp: _rectify(hp) and not hp["degenerated_to_sgd"]),
        Line(r"s_t = \eta\, \hat r_t / (1-\beta_1^t)", "s = {lr} × {rt} / {bc1} = {s!}",
             when=lambda hp: _rectify(hp) and not hp["adam_debias"]),
        Line(r"s_t = \eta\, \hat r_t", "s = {lr} × {rt} = {s!}", when=lambda hp: _rectify(hp) and bool(hp["adam_debias"])),
        Line(r"w_t = \min(\lVert p_t \rVert, c)", "w = −max(−{pn}, −{clamp}) = {w!}", when=_trusted),
        Line(r"r_t = [w_t \lVert u_t \rVert \neq 0]\, w_t / (\lVert u_t \rVert + \epsilon) + [w_t \lVert u_t \rVert = 0]",
             "r = {nz} × {w} / ({un} + {eps}) + (1 − {nz}) = {r!}", when=lambda hp: _trusted(hp) and not _rectify(hp)),
        Line(r"r_t = [w_t \lVert p_t - s_t u_t \rVert \neq 0]\, w_t / (\lVert p_t - s_t u_t \rVert + \epsilon) "
             r"+ [w_t \lVert p_t - s_t u_t \rVert = 0]",
             "r = {nz} × {w} / ({un} + {eps}) + (1 − {nz}) = {r!}", when=lambda hp: _trusted(hp) and _rectify(hp)),
        Line(r"p_{t+1} = p_t - s_t\, r_t\, u_t", "p = {pd} − {s} × {r} × {u} = {p_new!}",
             when=lambda hp: _trusted(hp) and not _rectify(hp)),
        Line(r"p_{t+1} = p_t - s_t\, u_t", "p = {pd} − {s} × {u} = {p_new!}", when=lambda hp: not _trusted(hp) and not _rectify(hp)),
        Line(r"p_{t+1} = p_t - [s_t > 0]\, s_t\, r_t\, u_t", "p = {pd} − {mv} × {s} × {r} × {u} = {p_new!}",
             when=lambda hp: _trusted(hp) and _rectify(hp)),
        Line(r"p_{t+1} = p_t - [s_t > 0]\, s_t\, u_t", "p = {pd} − {mv} × {s} × {u} = {p_new!}",
             when=lambda hp: not _trusted(hp) and _rectify(hp)),
    ),
    values=anatomy_values, composes=("scaled", "coupled_decay", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate s r/(√v+ε)",
)


SPEC = OptimizerSpec(
    name="lamb", title="LAMB", class_name="Lamb",
    hypers=(
        lr_hyper(1e-3),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        eps_hyper(1e-6),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) or added to the update, per weight_decouple"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) decay; False: wd p joins the update"),
        Hyper("fixed_decay", False, kind="bool", doc="decoupled decay not scaled by lr: p *= 1 - wd"),
        Hyper("grad_averaging", True, kind="bool", doc="m takes (1 - beta1) g; False: g"),
        Hyper("adam", False, kind="bool", doc="trust ratio 1: plain Adam-style steps"),
        Hyper("adam_debias", False, kind="bool", doc="do not divide the step by 1 - beta1^t"),
        Hyper("clamp", 10.0, low=0.0, doc="the largest ||p|| the trust ratio uses"),
        Hyper("rectify", False, kind="bool", doc="RAdam's rectification of the step size"),
        Hyper("degenerated_to_sgd", False, kind="bool", doc="rectify: before rho reaches the threshold, step by m (else not at all)"),
        Hyper("n_sma_threshold", 5.0, low=0.0, integer=True, doc="rectify: the rho from which the step divides by sqrt(v)"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, anatomy=ANATOMY,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; "
          r"u_t = \frac{m_t}{\sqrt{v_t} + \epsilon},\; "
          r"p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{\min(\lVert p_{t-1} \rVert, c)}{\lVert u_t \rVert + \epsilon}\,u_t"),
    paper="You et al., Large Batch Optimization for Deep Learning: Training BERT in 76 minutes (ICLR 2020)",
    reference=Reference("pytorch_optimizer.Lamb", "pytorch-optimizer", lacks={"clamp": 10.0}),
    family="adaptive", scope="parameter", two_pass=TWO_PASS,
    examples=(
        {"learning_rate": 0.01},
        {"learning_rate": 0.02, "weight_decay": 0.1, "fixed_decay": True, "beta1": 0.8, "epsilon": 1e-3},
        {"learning_rate": 0.05, "weight_decay": 0.1, "weight_decouple": False, "grad_averaging": False, "beta2": 0.99},
        {"learning_rate": 0.01, "adam": True, "adam_debias": True, "maximize": True},
        {"learning_rate": 0.02, "rectify": True, "weight_decay": 0.1, "weight_decouple": False},
        {"learning_rate": 0.02, "rectify": True, "degenerated_to_sgd": True, "beta2": 0.99, "weight_decay": 0.1, "maximize": True},
        {"rectify": True, "n_sma_threshold": 4.0, "adam_debias": True, "beta2": 0.9, "fixed_decay": True, "weight_decay": 0.01},
    ),
)

#: settings with another ``clamp``: the reference has it as a class attribute, not an argument, so
#: the shared harness cannot pass it (tests/optim/test_trust_ratio.py sets it on a subclass)
CLAMP_EXAMPLES = ({"clamp": 1.0, "learning_rate": 0.05}, {"clamp": 0.0, "weight_decay": 0.1, "learning_rate": 0.01})
