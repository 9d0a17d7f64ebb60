"""Sophia: momentum divided by an EMA of the Hessian's diagonal, clipped element by element.

    g = -g if maximize;   p = p (1 - wd lr)  (decoupled; lr -> 1 if fixed_decay)  or  g = g + wd p
    m = b1 m + (1 - b1) g
    every update_period-th step (t = 0, k, 2k, ...):
        h_hat = mean over num_samples of  u * (H u)      u ~ N(0, I), or Rademacher if rademacher
              = diag(H)                                  if exact_diagonal (the estimate's expectation)
        h = b2 h + (1 - b2) h_hat                        (other steps: h as it was)
    p = p - lr clip(m / max(h, eps), -clip, clip)

Liu et al., Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training
(ICLR 2024), the Hutchinson variant (Sophia-H). Reference: ``pytorch_optimizer.SophiaH``
(pytorch-optimizer 4.1.0), matched exactly when driven with the same estimates h_hat (its
``step(hessian=...)``), defaults included; its ``p`` is ``clip`` here, its
``hessian_distribution='rademacher'`` is ``rademacher=True``. No bias correction, as there.

``H`` is the landscape's exact Hessian (a race passes it; the article's class takes
``update(params, gradients, hessian=H)``, H of shape params.shape + params.shape[-1:], as
Newton's), so ``H u`` is exact where the reference differentiates twice. The draws u come from
``numpy.random.default_rng([seed, t])``, t the updates already applied: a race is reproducible
and the same seed gives the same numbers. With hyperparameters batched ((B,) arrays: a race),
each row is its own run and draws from its own row's seed, as that run alone would.

``optarena.torch.SophiaH`` takes the reference's constructor and makes h_hat as the reference
does, from torch's generator and Hessian-vector products through autograd's graph
(``loss.backward(create_graph=True)``), then steps with ``update_with_estimate`` (this rule given
h_hat): equal to the reference to 1e-15 (tests/torch/test_sophia_bridge.py).

Differences from the reference, declared: its u come from torch's global generator (ours from
``seed``, kept in the state); ``exact_diagonal`` is ours. Under ``maximize`` the estimate is of
-H (the Hessian of what is minimised, as Newton flips it); the reference flips only the gradient,
so its own estimator would see +H there (the same when handed these estimates).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ...errors import UsageError
from ..anatomy import Anatomy, FIRST_MOMENT, L2_LINE, Line, Term, descended
from .._spec import (
    torch_lerp,
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, TORCH_NAMES, beta_hyper, eps_hyper,
    checked_hessian, is_batched, lr_hyper, wd_hyper,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("momentum", "hessian_moment")


def _rows(x: Any, runs: int) -> list[Any]:
    """One value per run: a batched (B, 1, ..., 1) hyperparameter's rows, or a scalar repeated."""
    return np.reshape(x, -1).tolist() if isinstance(x, np.ndarray) else [x] * runs


def init(params: Array, hp: HyperValues) -> State:
    p = np.asarray(params)
    seed = hp["seed"]
    return {"step": 0, "momentum": np.zeros_like(p), "hessian_moment": np.zeros_like(p),
            "seed": np.reshape(seed, -1).astype(np.int64) if isinstance(seed, np.ndarray) else int(seed)}


def _draw(rng: np.random.Generator, shape: tuple[int, ...], rademacher: bool) -> Array:
    return rng.integers(0, 2, size=shape) * 2.0 - 1.0 if rademacher else rng.standard_normal(shape)


def estimate(hessian: Array, shape: tuple[int, ...], seed: Any, t: int, hp: HyperValues) -> Array:
    """h_hat in float64, of ``shape``: diag(H), or the Hutchinson mean of u * (H u) over
    ``num_samples`` draws from ``default_rng([seed, t])`` (per row of a batch, its own seed)."""
    d = shape[-1] if shape else 1
    H = np.asarray(hessian, dtype=np.float64).reshape(shape[:-1] + (d, d) if shape else (1, 1))
    if hp["exact_diagonal"]:
        return np.diagonal(H, axis1=-2, axis2=-1).reshape(shape)
    batched = is_batched(hp) and len(shape) > 0
    runs = shape[0] if batched else 1
    counts = [int(n) for n in _rows(hp["num_samples"], runs)]
    seeds = np.reshape(seed, -1).tolist() if np.ndim(seed) else [int(seed)] * runs
    n = max(counts)
    u = np.zeros((n,) + (shape or (1,)))  # rows with fewer samples leave zeros (averaged over their own count)
    for r in range(runs):
        rng = np.random.default_rng([int(seeds[r]), int(t)])
        if batched:
            u[: counts[r], r] = _draw(rng, (counts[r],) + shape[1:], hp["rademacher"])
        else:
            u[: counts[r]] = _draw(rng, (counts[r],) + (shape or (1,)), hp["rademacher"])
    hu = (H @ u[..., None])[..., 0]
    total = np.sum(u * hu, axis=0)
    if batched:
        total = total / np.reshape(counts, (-1,) + (1,) * (len(shape) - 1))
    else:
        total = total / counts[0]
    return total.reshape(shape)



def refreshes(t: Any, hp: HyperValues) -> Any:
    """Does step ``t`` (the steps already taken) refresh the estimate? A bool, or per run."""
    return (t % hp["update_period"]) == 0


def update(params: Array, grads: Array, state: State, hp: HyperValues, hessian: Array | None = None) -> tuple[Array, State]:
    hessian = checked_hessian("Sophia", params, hessian)
    p = np.asarray(params)
    refresh = refreshes(state["step"], hp)
    est = estimate(hessian, p.shape, state["seed"], state["step"], hp) if np.any(refresh) else None
    return update_with_estimate(params, grads, state, hp, est)


def update_with_estimate(params: Array, grads: Array, state: State, hp: HyperValues,
                         h_hat: Array | None) -> tuple[Array, State]:
    """The rule with the estimate h_hat given (None on steps that do not ``refresh``): ``update``
    makes it from H; the torch bridge from Hessian-vector products through autograd's graph."""
    p = np.asarray(params)
    t = state["step"]
    lr, wd = hp["learning_rate"], hp["weight_decay"]
    g = -grads if hp["maximize"] else grads
    if np.any(wd != 0):
        if hp["weight_decouple"]:
            p = p * (1 - wd * (1.0 if hp["fixed_decay"] else lr))
        else:
            g = g + wd * p
    m = torch_lerp(state["momentum"], g, 1 - hp["beta1"])
    h = state["hessian_moment"]
    refresh = refreshes(t, hp)  # a bool, or (B, 1, ..., 1) per run
    if np.any(refresh):
        if h_hat is None:
            raise UsageError(f"Sophia: step {int(np.max(t))} refreshes the Hessian estimate: give h_hat", field="h_hat")
        est = np.asarray(h_hat, dtype=np.float64).reshape(p.shape)
        est = (-est if hp["maximize"] else est).astype(p.dtype)
        h = np.where(refresh, torch_lerp(h, est, 1 - hp["beta2"]), h) if np.ndim(refresh) else torch_lerp(h, est, 1 - hp["beta2"])
    ratio = np.clip(m / np.maximum(h, hp["epsilon"]), -hp["clip"], hp["clip"])
    new = (p - lr * ratio).astype(p.dtype, copy=False)
    out = {"step": t + 1, "momentum": m, "hessian_moment": h}
    if "seed" in state:  # the torch bridge's draws are torch's: it keeps no seed
        out["seed"] = state["seed"]
    return new, out


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step: the momentum over the EMA of the Hessian's diagonal, clipped element by element,
    -lr clip(m / max(h, eps), -clip, clip) (``clipped``), plus the decoupled decay
    -wd lr p (lr -> 1 with ``fixed_decay``; ``weight_decay``); lr / max(h, eps) is the ``stretch``
    (before the clip). The estimate h_hat of a refreshing step is read back from the recorded h
    (h = h_prev + (1 - b2)(h_hat - h_prev)); on the other steps the indicator [k | t] is 0 and it
    shows 0."""
    lr, wd, b1, b2, eps, c = hp["learning_rate"], hp["weight_decay"], hp["beta1"], hp["beta2"], hp["epsilon"], hp["clip"]
    decoupled = bool(hp["weight_decouple"])
    out = descended(p, g, hp, l2=not decoupled)
    m, h, h_prev = after["momentum"], after["hessian_moment"], before["hessian_moment"]
    on = bool(refreshes(before["step"], hp))
    ratio = m / np.maximum(h, eps)
    clipped = np.clip(ratio, -c, c)
    out.update(beta1=b1, one_m_b1=1 - b1, one_m_b2=1 - b2, eps=eps, clip=c, on=float(on), m_prev=before["momentum"], m=m,
               h_prev=h_prev, h=h, hhat=h_prev + (h - h_prev) / (1 - b2) if on else np.zeros_like(h), ratio=ratio, r=clipped,
               dlr=1.0 if hp["fixed_decay"] else lr, rate=lr / np.maximum(h, eps), clipped=-lr * clipped)
    if decoupled and wd != 0:
        out["weight_decay"] = -wd * out["dlr"] * p
    return out


def _decays(hp: Any) -> bool:
    return bool(hp["weight_decouple"] and hp["weight_decay"] != 0)


ANATOMY = Anatomy(
    terms=(
        Term("clipped", "-η clip(m/max(h,ε))", r"-\eta\, \mathrm{clip}(m_t / \max(h_t, \epsilon), \pm\rho)",
             "the momentum over the Hessian's diagonal (a Newton step per coordinate), clipped to ±ρ"),
        Term("weight_decay", "-η λ p", r"-\eta\,\lambda\, p_t", "decoupled weight decay: a shrink toward 0"),
    ),
    lines=(
        replace(L2_LINE, when=lambda hp: hp["weight_decay"] != 0 and not hp["weight_decouple"]),
        FIRST_MOMENT,
        Line(r"h_t = h_{t-1} + [k \mid t]\,(1-\beta_2)(\hat h_t - h_{t-1}),\ \hat h_t = u \odot H u",
             "h = {h_prev} + {on} × {one_m_b2} × ({hhat} − {h_prev}) = {h!}"),
        Line(r"\tilde r_t = m_t / \max(h_t, \epsilon)", "r̃ = {m} / max({h}, {eps}) = {ratio!}"),
        Line(r"r_t = \mathrm{clip}(\tilde r_t, -\rho, \rho) = \max(-\rho, \min(\rho, \tilde r_t))",
             "r = max(−{clip}, −max(−{clip}, −{ratio})) = {r!}"),
        Line(r"p_{t+1} = p_t - \eta\, r_t", "p = {p} − {lr} × {r} = {p_new!}", when=lambda hp: not _decays(hp)),
        Line(r"p_{t+1} = p_t (1 - \lambda\eta) - \eta\, r_t", "p = {p} × (1 − {wd} × {dlr}) − {lr} × {r} = {p_new!}", when=_decays),
    ),
    values=anatomy_values, composes=("clipped", "weight_decay"), stretch="rate",
    stretch_label="effective learning rate η/max(h, ε), before the clip",
)


SPEC = OptimizerSpec(
    name="sophia", title="Sophia", class_name="SophiaH",
    hypers=(
        lr_hyper(6e-2),
        beta_hyper("beta1", 0.96, "momentum of the gradient"),
        beta_hyper("beta2", 0.99, "decay of the Hessian-diagonal EMA (per refresh)"),
        Hyper("clip", 1e-2, low=0.0, log=True, doc="largest |m / h| per element (the reference's p)"),
        Hyper("update_period", 10.0, low=1.0, integer=True, doc="refresh the Hessian estimate every this many steps"),
        Hyper("num_samples", 1.0, low=1.0, integer=True, doc="Hutchinson draws averaged per refresh"),
        Hyper("rademacher", False, kind="bool", doc="draw u as random signs (default: Gaussian)"),
        Hyper("exact_diagonal", False, kind="bool", doc="use diag(H) itself, the estimate's expectation"),
        Hyper("seed", 0.0, low=0.0, integer=True, doc="seeds the draws u: the same seed, the same race"),
        eps_hyper(1e-12),
        wd_hyper(doc="weight decay: decoupled (p *= 1 - lr wd) unless weight_decouple is False (L2 in g)"),
        Hyper("weight_decouple", True, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        Hyper("fixed_decay", False, kind="bool", doc="decoupled decay not scaled by lr (p *= 1 - wd)"),
        MAXIMIZE,
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays,
    rule=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; h_t = \beta_2 h_{t-k} + (1-\beta_2)\,u \odot (H u)"
          r"\ \text{every } k \text{ steps},\; p_t = p_{t-1} - \eta\,\mathrm{clip}\!\left(\frac{m_t}{\max(h_t, \epsilon)}, \rho\right)"),
    paper=("Liu et al., Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training "
           "(ICLR 2024)"),
    reference=Reference("pytorch_optimizer.SophiaH", "pytorch-optimizer",
                        rename={**TORCH_NAMES, "clip": "p", "rademacher": "hessian_distribution"},
                        values={"rademacher": {True: "rademacher", False: "gaussian"}},
                        lacks={"seed": 0.0, "exact_diagonal": False},
                        signature=("lr=6e-2, betas=(0.96, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False, "
                                   "p=1e-2, update_period=10, num_samples=1, hessian_distribution='gaussian', eps=1e-12, "
                                   "maximize=False, foreach=None"),
                        group_scalars={"step": "step"}),
    family="second order", scope="parameter", needs=("hessian",),
    examples=(
        {},
        {"learning_rate": 0.01, "update_period": 1.0, "clip": 0.5, "beta2": 0.9},
        {"update_period": 3.0, "num_samples": 3.0, "rademacher": True, "weight_decay": 0.1, "seed": 7.0},
        {"weight_decay": 0.1, "weight_decouple": False, "maximize": True, "epsilon": 1e-3, "beta1": 0.9},
        {"weight_decay": 0.1, "fixed_decay": True, "exact_diagonal": True, "update_period": 2.0},
    ),
)
