"""Prodigy: Adam whose step size d is learned from the distance travelled (learning-rate-free).

    k: steps taken;  bc = sqrt(1 - b2^(k+1)) / (1 - b1^(k+1)) if use_bias_correction else 1
    dlr = d lr bc;   g = g + wd p (coupled decay, unless decouple)
    each parameter:  m = b1 m + d (1 - b1) g;  v = b2 v + d^2 (1 - b2) g^2
                     s = b3 s + (d / d0) dlr g           ((d / d0) d with safeguard_warmup)
    over ALL parameters:  r = b3 r + (d / d0) dlr <g, p0 - p>;   D = sum |s|
    if D = 0: stop here (no step; m, v, s keep their update)
    d_hat = d_coef r / D;  d = max(d, d_hat) if d = d0;  d_max = max(d_max, d_hat);  d = min(d_max, growth d)
    each parameter:  p = p (1 - wd dlr) if decouple;  p = p - dlr m / (sqrt(v) + d eps)
                     (beta1 = 0: p = p - dlr d g / (sqrt(v) + d eps))

``p0`` is the parameter at the first step; b3 defaults to sqrt(b2) (the reference's ``beta3=None``,
here ``beta3 = -1``). The sums r and D run over every parameter the optimizer steps, so the rule
is scope "all": ``REDUCTION`` gives it in phases (gather each parameter's share, combine once,
apply), which the article's class runs over a list of arrays and the torch bridge over every
param group; ``update`` is the same on one array. In a race each run is its own optimizer. On one
array the fused form is two passes (``TWO_PASS``): m, v, s and both sums' terms, then the step.

Mishchenko & Defazio, Prodigy: An Expeditiously Adaptive Parameter-Free Learner (ICML 2024),
Algorithm 4 as the authors' package writes it. Reference: ``prodigyopt.Prodigy`` (prodigyopt
1.1.2), matched exactly, defaults included (lr 1.0, betas (0.9, 0.999), d0 1e-6, growth_rate inf,
decoupled decay), ``slice_p`` included (a memory saving: s, p0 and the sum r's terms keep
every n-th element of the flattened parameter, ``x.reshape(-1)[::n]``; D sums that s; m, v and the
step take every element; the fused form covers n = 1, a larger n runs the readable rule). Not
offered: ``fsdp_in_use``; no ``maximize`` (the reference has none).
Differences, declared: when lr is 0 after earlier steps the reference raises (UnboundLocalError);
here d stays and the step is 0. An all-zero parameter's ``p0`` is a zero array, not the
reference's 0-d zero (the same numbers).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from ...errors import UsageError
from ..anatomy import L2_LINE, Anatomy, Line, Term, descended
from .._spec import (
    Array, Hyper, HyperValues, OptimizerSpec, Reduction, Reference, State, TwoPass, beta_hyper, eps_hyper, is_batched, lr_hyper,
    per_run, run_sum, wd_hyper,
)

SHARED = ("d", "d_max", "d_numerator", "k")


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    # the arrays element-for-element with the parameter: s and p0 are not with slice_p > 1 (``init`` makes them)
    sliced = ("s", "p0") if _slice(hp) == 1 else ()
    return (*sliced, "exp_avg", "exp_avg_sq") if _any(hp["beta1"] > 0) else (*sliced, "exp_avg_sq")


def _any(x: Any) -> bool:
    return bool(np.any(x))


def _flat(x: Array, hp: HyperValues) -> Array:
    """The parameter flattened and sliced (every ``slice_p``-th element), as the reference keeps s
    and p0 (each run's row, when batched)."""
    a = np.asarray(x)
    n = _slice(hp)
    flat = a.reshape(a.shape[0], -1) if is_batched(hp) and a.ndim else a.reshape(-1)
    return flat if n == 1 else flat[..., ::n]


def _slice(hp: HyperValues) -> int:
    """``slice_p`` as an int: one value for every run of a batch (``_check``)."""
    return int(np.ravel(hp["slice_p"])[0])


def init(params: Array, hp: HyperValues) -> State:
    state: dict[str, Any] = {"step": 0}
    state["s"], state["p0"] = np.zeros_like(_flat(params, hp)), _flat(params, hp).copy()  # flat, as the reference keeps them
    for name in state_arrays(hp):
        if name not in ("s", "p0"):
            state[name] = np.zeros_like(params)
    # the optimizer-wide scalars (per run when the hyperparameters are batched)
    d0 = hp["d0"] * np.ones(np.shape(hp["learning_rate"])) if np.ndim(hp["learning_rate"]) else hp["d0"]
    state.update(d=d0, d_max=d0, d_numerator=0.0 * d0, k=0)
    return state


def _beta3(hp: HyperValues) -> Any:
    b3 = hp["beta3"]
    return np.where(np.asarray(b3) < 0, np.sqrt(hp["beta2"]), b3) if np.ndim(b3) else (hp["beta2"] ** 0.5 if b3 < 0 else b3)


def _dlr(shared: dict[str, Any], hp: HyperValues) -> Any:
    k, b1, b2 = shared["k"], hp["beta1"], hp["beta2"]
    bc = ((1 - b2 ** (k + 1)) ** 0.5) / (1 - b1 ** (k + 1)) if hp["use_bias_correction"] else 1
    return shared["d"] * hp["learning_rate"] * bc


def _grad(params: Array, grads: Array, hp: HyperValues) -> Array:
    wd = hp["weight_decay"]
    return grads + wd * params if not hp["decouple"] and _any(wd != 0) else grads


def gather(params: Array, grads: Array, state: State, shared: dict[str, Any], hp: HyperValues) -> tuple[State, dict[str, Any]]:
    """This parameter's moments and s, and its shares of r's increment and of D."""
    g = _grad(params, grads, hp)
    d, d0, b1, b2, b3 = shared["d"], hp["d0"], hp["beta1"], hp["beta2"], _beta3(hp)
    dlr = _dlr(shared, hp)
    active = np.asarray(hp["learning_rate"]) > 0  # a param group with lr 0 adds nothing (the reference's group_lr > 0)
    new = dict(state)
    if _any(b1 > 0):
        new["exp_avg"] = np.where(active, state["exp_avg"] * b1 + g * (d * (1 - b1)), state["exp_avg"])
    new["exp_avg_sq"] = np.where(active, state["exp_avg_sq"] * b2 + (d * d * (1 - b2)) * (g * g), state["exp_avg_sq"])
    rate = (d / d0) * (d if hp["safeguard_warmup"] else dlr)
    flat_g = _flat(g, hp)
    new["s"] = np.where(per_run(active, 2), state["s"] * b3 + flat_g * per_run(rate, 2), state["s"])
    progress, distance = run_sum(flat_g * (state["p0"] - _flat(params, hp)), hp), run_sum(np.abs(new["s"]), hp)
    if is_batched(hp):  # per run, shaped as the other per-run values (B, 1, ..., 1)
        progress, distance = (np.reshape(x, np.shape(params)[:1] + (1,) * (np.ndim(params) - 1)) for x in (progress, distance))
    return new, _shares(progress, distance, shared, hp)


def _shares(progress: Any, distance: Any, shared: dict[str, Any], hp: HyperValues) -> dict[str, Any]:
    """This parameter's shares of r's increment and of D, from sum g (p0 - p) and sum |s|."""
    active = np.asarray(hp["learning_rate"]) > 0
    numerator = (shared["d"] / hp["d0"]) * _dlr(shared, hp) * progress
    return {"numerator": np.where(active, numerator, 0.0), "denominator": np.where(active, distance, 0.0)}



def combine(shared: dict[str, Any], totals: dict[str, Any], hp: HyperValues) -> dict[str, Any]:
    """The new d from r and D; unchanged (no step) where D = 0."""
    d, d_max, d0 = shared["d"], shared["d_max"], hp["d0"]
    denominator = totals["denominator"]
    moved = denominator != 0
    on = moved & (np.asarray(hp["learning_rate"]) > 0)
    numerator = shared["d_numerator"] * _beta3(hp) + totals["numerator"]
    with np.errstate(divide="ignore", invalid="ignore"):
        d_hat = hp["d_coef"] * numerator / np.where(moved, denominator, 1.0)
    new_d = np.where(d == d0, np.maximum(d, d_hat), d)
    new_max = np.maximum(d_max, d_hat)
    new_d = np.minimum(new_max, new_d * hp["growth_rate"])
    out = {"d": np.where(on, new_d, d), "d_max": np.where(on, new_max, d_max),
           "d_numerator": np.where(on, numerator, shared["d_numerator"]), "k": shared["k"] + moved.astype(np.int64)}
    if np.ndim(denominator) == 0:  # one optimizer: plain numbers, as the reference keeps them
        out = {k: (int(v) if k == "k" else float(v)) for k, v in out.items()}
    return out


def apply(params: Array, grads: Array, state: State, before: dict[str, Any], after: dict[str, Any],
          hp: HyperValues) -> tuple[Array, State]:
    """The step, with the old d's step size and the new d's eps; none where D was 0."""
    moved = np.asarray(after["k"]) != np.asarray(before["k"])
    dlr = _dlr(before, hp)
    d = after["d"]
    denom = np.sqrt(state["exp_avg_sq"]) + d * hp["epsilon"]
    p = params
    if hp["decouple"] and _any(hp["weight_decay"] != 0):
        p = p + p * (-hp["weight_decay"] * dlr)
    if _any(hp["beta1"] > 0):
        p = p + (-dlr) * (state["exp_avg"] / denom)
    else:
        p = p + (-dlr * d) * (_grad(params, grads, hp) / denom)
    new = dict(state)
    # the reference counts a step only when it moved (D > 0); a batch counts one when any run moved
    # (each run's own count is its k)
    new["step"] = state["step"] + int(np.any(moved))
    return np.where(moved, p, params).astype(np.asarray(params).dtype, copy=False), new


REDUCTION = Reduction(SHARED, gather, combine, apply)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    return REDUCTION.update(params, grads, state, hp)


# ---- the fused form (one array): pass 1 updates m, v and s and sums g (p0 - p) and |s|; pass 2 steps p

def fused_coefficients(params: Array, state: State, hp: HyperValues) -> dict[str, Any]:
    d, d0, b1, b2, wd = state["d"], hp["d0"], hp["beta1"], hp["beta2"], hp["weight_decay"]
    dlr = _dlr({k: state[k] for k in SHARED}, hp)
    return {"coupled": not hp["decouple"] and wd != 0, "wd": wd, "active": hp["learning_rate"] > 0, "has_m": b1 > 0,
            "b1": b1, "m_rate": d * (1 - b1), "b2": b2, "v_rate": d * d * (1 - b2), "b3": _beta3(hp),
            "s_rate": (d / d0) * (d if hp["safeguard_warmup"] else dlr)}


def fused_gather(p, g, m, v, s, p0, coupled, wd, active, has_m, b1, m_rate, b2, v_rate, b3, s_rate):
    if coupled != 0:
        g = g + wd * p
    if active != 0:
        if has_m != 0:
            m = m * b1 + g * m_rate
        v = v * b2 + v_rate * (g * g)
        s = s * b3 + g * s_rate
    return m, v, s, g * (p0 - p), abs(s)


def fused_combine(params: Array, sums: dict[str, float], c: dict[str, Any], state: State,
                  hp: HyperValues) -> tuple[dict[str, Any], State]:
    before = {k: state[k] for k in SHARED}
    after = combine(before, _shares(sums["progress"], sums["distance"], before, hp), hp)
    dlr, moved = _dlr(before, hp), after["k"] != before["k"]
    step = -dlr if _any(hp["beta1"] > 0) else -dlr * after["d"]
    return ({"moved": moved, "decoupled": hp["decouple"] and hp["weight_decay"] != 0, "decay": -hp["weight_decay"] * dlr,
             "d_eps": after["d"] * hp["epsilon"], "step": step},
            {**after, "step": state["step"] + int(moved)})  # the reference counts a step only when it moved


def fused_apply(p, g, m, v, s, p0, coupled, wd, has_m, moved, decoupled, decay, d_eps, step):
    if moved == 0:
        return (p,)
    if coupled != 0:
        g = g + wd * p
    denom = math.sqrt(v) + d_eps
    q = p
    if decoupled != 0:
        q = q + q * decay
    return (q + step * (m / denom) if has_m != 0 else q + step * (g / denom),)


TWO_PASS = TwoPass(slots=("exp_avg", "exp_avg_sq", "s", "p0"), sums=("progress", "distance"), coefficients=fused_coefficients,
                   gather=fused_gather, combine=fused_combine, apply=fused_apply, gather_writes=("exp_avg", "exp_avg_sq", "s"),
                   supports=lambda params, hp: _slice(hp) == 1)  # s and p0 then have p's elements, one each


# ---- the anatomy of a step (a race's run is its own optimizer: r, D and d are the run's)

def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: Adam's direction at Prodigy's step size gamma = d lr (times the bias correction),
    -gamma m / (sqrt(v) + d' eps) (``direction``; with beta1 = 0, -gamma d g / (...)), d' the new
    estimate, plus the decoupled decay -gamma wd p (``weight_decay``). The estimate's sums run over
    the whole point, so the lines show them as numbers: <g, p0 - p> in r's line, D = sum |s| in
    d_hat's. Where the step does not move (D = 0: no gradient yet, or lr 0) both terms are 0
    (the lines show the rule as if it moved). gamma / (sqrt(v) + d' eps), what multiplies m, is
    the ``stretch``."""
    b1, b2, wd, eps, d0 = hp["beta1"], hp["beta2"], hp["weight_decay"], hp["epsilon"], hp["d0"]
    out = descended(p, g, hp, l2=not hp["decouple"])
    shared_before = {k: float(before[k]) for k in SHARED}
    shared_before["k"] = int(shared_before["k"])
    d_prev, d, k = shared_before["d"], float(after["d"]), shared_before["k"]
    dlr = float(_dlr(shared_before, hp))
    moved = float(int(after["k"]) != k)
    gs, ps = _flat(out["g"], hp), _flat(p, hp)  # the elements s and p0 keep (every slice_p-th)
    progress, distance = run_sum(gs * (np.ravel(before["p0"]) - ps), hp), run_sum(np.abs(np.ravel(after["s"])), hp)
    numerator = float(after["d_numerator"])
    with np.errstate(divide="ignore", invalid="ignore"):
        d_hat = hp["d_coef"] * numerator / distance
    denom = np.sqrt(after["exp_avg_sq"]) + d * eps
    rate = moved * dlr / denom
    out.update(beta1=b1, one_m_b1=1 - b1, beta2=b2, one_m_b2=1 - b2, beta3=float(_beta3(hp)), eps=eps, d0=d0, d_prev=d_prev, d=d,
               b1k=b1 ** (k + 1), b2k=b2 ** (k + 1), dlr=dlr, v_prev=before["exp_avg_sq"], v=after["exp_avg_sq"],
               s_prev=before["s"], s=after["s"], s_lr=d_prev if hp["safeguard_warmup"] else dlr,
               num_prev=shared_before["d_numerator"], progress=progress, num=numerator, distance=distance, d_coef=hp["d_coef"],
               d_hat=d_hat, dmax_prev=shared_before["d_max"], d_max=float(after["d_max"]), growth=hp["growth_rate"],
               first=float(d_prev == d0), d_first=max(d_prev, d_hat) if d_prev == d0 else d_prev, rate=rate)
    if "exp_avg" in after:
        out.update(m_prev=before["exp_avg"], m=after["exp_avg"], direction=-rate * after["exp_avg"])
    else:
        out["direction"] = -rate * d * out["g"]
    if hp["decouple"] and wd != 0:
        out["weight_decay"] = -moved * dlr * wd * p
    return out


def _momentum(hp: Any) -> bool:
    return bool(hp["beta1"] > 0)


def _decays(hp: Any) -> bool:
    return bool(hp["decouple"] and hp["weight_decay"] != 0)


def _unbounded(hp: Any) -> bool:
    return bool(math.isinf(hp["growth_rate"]))


def _whole(hp: Any) -> bool:
    """s keeps every element of the point (its line is per coordinate)."""
    return _slice(hp) == 1


def _step_lines(tex: str, numbers: str, when: Callable[[Any], bool]) -> tuple[Line, Line]:
    """p_{t+1} = p_t - <tex>, without and with the decoupled decay's shrink p (1 - gamma wd)."""
    return (Line(r"p_{t+1} = p_t - " + tex, "p = {p} − " + numbers + " = {p_new!}", when=lambda hp: when(hp) and not _decays(hp)),
            Line(r"p_{t+1} = p_t (1 - \gamma_t \lambda) - " + tex, "p = {p} × (1 − {dlr} × {wd}) − " + numbers + " = {p_new!}",
                 when=lambda hp: when(hp) and _decays(hp)))


ANATOMY = Anatomy(
    terms=(
        Term("direction", "-γ m/(√v+dε)", r"-\gamma_t\, m_t / (\sqrt{v_t} + d_{t+1} \epsilon)",
             "Adam's direction at the learned step size γ = d η: the moments carry d, so m/√v does not"),
        Term("weight_decay", "-γ λ p", r"-\gamma_t \lambda\, p_t", "decoupled weight decay at the learned step size γ"),
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["decouple"]),
        Line(r"\gamma_t = d_t\, \eta", "γ = {d_prev} × {lr} = {dlr!}", when=lambda hp: not hp["use_bias_correction"]),
        Line(r"\gamma_t = d_t\, \eta\, \sqrt{1-\beta_2^{k+1}} / (1-\beta_1^{k+1})",
             "γ = {d_prev} × {lr} × √(1 − {b2k}) / (1 − {b1k}) = {dlr!}", when=lambda hp: bool(hp["use_bias_correction"])),
        Line(r"m_t = \beta_1 m_{t-1} + d_t (1-\beta_1)\, g_t", "m = {beta1} × {m_prev} + {d_prev} × {one_m_b1} × {g} = {m!}",
             when=_momentum),
        Line(r"v_t = \beta_2 v_{t-1} + d_t^2 (1-\beta_2)\, g_t^2", "v = {beta2} × {v_prev} + {d_prev}² × {one_m_b2} × {g}² = {v!}"),
        Line(r"s_t = \beta_3 s_{t-1} + \frac{d_t}{d_0} \gamma_t\, g_t", "s = {beta3} × {s_prev} + {d_prev} / {d0} × {s_lr} × {g} = {s!}",
             when=lambda hp: _whole(hp) and not hp["safeguard_warmup"]),
        Line(r"s_t = \beta_3 s_{t-1} + \frac{d_t}{d_0} d_t\, g_t", "s = {beta3} × {s_prev} + {d_prev} / {d0} × {s_lr} × {g} = {s!}",
             when=lambda hp: _whole(hp) and bool(hp["safeguard_warmup"])),
        Line(r"r_t = \beta_3 r_{t-1} + \frac{d_t}{d_0} \gamma_t \langle g_t, p_0 - p_t \rangle",
             "r = {beta3} × {num_prev} + {d_prev} / {d0} × {dlr} × {progress} = {num!}"),
        Line(r"\hat d_{t+1} = c\, r_t / \lVert s_t \rVert_1", "d̂ = {d_coef} × {num} / {distance} = {d_hat!}"),
        Line(r"d_{t+1} = d^{\max}_{t+1} = \max(d^{\max}_t, \hat d_{t+1})", "d = max({dmax_prev}, {d_hat}) = {d!}", when=_unbounded),
        Line(r"d^{\max}_{t+1} = \max(d^{\max}_t, \hat d_{t+1})", "dmax = max({dmax_prev}, {d_hat}) = {d_max!}",
             when=lambda hp: not _unbounded(hp)),
        Line(r"d'_t = [d_t = d_0] \max(d_t, \hat d_{t+1}) + [d_t \neq d_0]\, d_t",
             "d' = {first} × max({d_prev}, {d_hat}) + (1 − {first}) × {d_prev} = {d_first!}", when=lambda hp: not _unbounded(hp)),
        Line(r"d_{t+1} = \min(d^{\max}_{t+1}, G\, d'_t)", "d = −max(−{d_max}, −{growth} × {d_first}) = {d!}",
             when=lambda hp: not _unbounded(hp)),
        *_step_lines(r"\gamma_t\, m_t / (\sqrt{v_t} + d_{t+1} \epsilon)", "{dlr} × {m} / (√{v} + {d} × {eps})", _momentum),
        *_step_lines(r"\gamma_t\, d_{t+1} g_t / (\sqrt{v_t} + d_{t+1} \epsilon)", "{dlr} × {d} × {g} / (√{v} + {d} × {eps})",
                     lambda hp: not _momentum(hp)),
    ),
    values=anatomy_values, composes=("direction", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate γ/(√v+dε) (on m; on d g with β₁ = 0)",
)


def _check(hp: HyperValues, where: str) -> None:
    b3 = np.asarray(hp["beta3"])
    if np.any((b3 != -1) & (b3 < 0)):
        raise UsageError(f"{where}: beta3 must be -1 (sqrt(beta2)) or in [0.0, 1.0), got {hp['beta3']!r}", field="beta3",
                         allowed="-1 or [0.0, 1.0)")
    slices = np.unique(hp["slice_p"])
    if len(slices) > 1:  # the state's shape depends on it
        raise UsageError(f"{where}: slice_p must be the same for every run of a batch, got {slices.tolist()}", field="slice_p")


SPEC = OptimizerSpec(
    name="prodigy", title="Prodigy",
    hypers=(
        lr_hyper(1.0),
        beta_hyper("beta1", 0.9, "first-moment decay"),
        beta_hyper("beta2", 0.999, "second-moment decay"),
        Hyper("beta3", -1.0, low=-1.0, high=1.0, high_open=True,
              doc="decay of the distance sums r and s (-1: sqrt(beta2), the reference's None)"),
        eps_hyper(1e-8),
        wd_hyper(0.0, doc="weight decay: decoupled (p *= 1 - wd dlr) or L2 in g, per decouple"),
        Hyper("decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        Hyper("d0", 1e-6, low=0.0, low_open=True, log=True, doc="the first estimate of the distance to the solution"),
        Hyper("d_coef", 1.0, low=0.0, low_open=True, log=True, doc="multiplies every estimate d_hat"),
        Hyper("growth_rate", float("inf"), low=1.0, infinite=True, doc="d grows at most this factor per step"),
        Hyper("use_bias_correction", False, kind="bool", doc="Adam's bias correction in the step size"),
        Hyper("safeguard_warmup", False, kind="bool", doc="s grows by d, not d * lr (for lr warm-up schedules)"),
        Hyper("slice_p", 1.0, low=1.0, integer=True, doc="estimate d from every n-th element (saves s's and p0's memory)"),
    ),
    init=init, update=update, state_arrays=state_arrays, check=_check, anatomy=ANATOMY,
    rule=(r"d_{t+1} = \max\!\left(d_t,\ \frac{\sum_{i \le t} d_i \eta_i \langle g_i, p_0 - p_i\rangle}"
          r"{\lVert \sum_{i \le t} d_i \eta_i g_i \rVert_1}\right),\ "
          r"m_t = \beta_1 m_{t-1} + d_t (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + d_t^2 (1-\beta_2) g_t^2,\ "
          r"p_{t+1} = p_t - d_t \eta_t \frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon}"),
    paper="Mishchenko & Defazio, Prodigy: An Expeditiously Adaptive Parameter-Free Learner (ICML 2024)",
    reference=Reference("prodigyopt.Prodigy", "prodigyopt", none_as={"beta3": -1.0},
                        signature=("lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0, decouple=True, "
                                   "use_bias_correction=False, safeguard_warmup=False, d0=1e-6, d_coef=1.0, "
                                   "growth_rate=float('inf'), fsdp_in_use=False, slice_p=1"),
                        group_keys={}),
    family="schedule-free / learning-rate-free", scope="all", reduction=REDUCTION, two_pass=TWO_PASS,
    examples=(
        {},
        {"learning_rate": 0.5, "weight_decay": 0.1, "beta3": 0.9, "d0": 1e-3, "growth_rate": 1.5},
        {"weight_decay": 0.05, "decouple": False, "use_bias_correction": True, "d_coef": 0.5, "beta1": 0.0},
        {"safeguard_warmup": True, "epsilon": 1e-6, "beta2": 0.99},
    ),
)
