"""Newton's method, damped: the step that would land on the minimum of the local quadratic model.

    g = -g, H = -H if maximize
    H = V |L| V^T      if saddle_free (|eigenvalues|: a saddle repels instead of attracts)
    p = p - lr (H + damping I)^-1 g

``H`` is the exact Hessian of the landscape at p: a race passes it (``landscapes``: every built-in
has one, typed formulas get theirs from sympy), and the article's class takes it as
``update(params, gradients, hessian=H)`` with H of shape params.shape + params.shape[-1:] (one
d x d matrix per run when the leading axis is a batch). Without it there is no step: a clear
error, never a guess. With ``damping = 0`` and ``lr = 1`` one step lands on the minimum of a
convex quadratic exactly; ``damping`` (Levenberg) keeps H + damping I invertible where H is
singular, and a singular system is solved in the least-squares sense (the pseudo-inverse).
Plain Newton is drawn to any stationary point, saddles and maxima included: that is the lesson
the arena shows, and ``saddle_free`` (Dauphin et al., NeurIPS 2014) is the remedy.

Nocedal & Wright, Numerical Optimization (2nd ed., 2006), sections 3.3 and 3.4. No reference
package: the tests compare each step with the step solved from a finite-difference Hessian of
the exact gradient, and, on a typed formula, with sympy's Hessian.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..anatomy import Anatomy, Line, Term
from .._spec import MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, State, checked_hessian, lr_hyper, per_run


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ()


def init(params: Array, hp: HyperValues) -> State:
    return {"step": 0}



def update(params: Array, grads: Array, state: State, hp: HyperValues, hessian: Array | None = None) -> tuple[Array, State]:
    H = checked_hessian("Newton", params, hessian)
    p = np.asarray(params)
    d = p.shape[-1] if p.ndim else 1
    g = np.asarray(grads, dtype=np.float64).reshape(p.shape[:-1] + (d,) if p.ndim else (1,))
    g, H = _system(g, H.reshape(g.shape + (d,)), hp)
    step = _solve(H, per_run(hp["damping"], 3), g)
    lr = hp["learning_rate"]
    new = p - (np.reshape(lr, (-1, 1)) if np.ndim(lr) else lr) * step.reshape(p.shape)
    return new.astype(p.dtype, copy=False), {"step": state["step"] + 1}


def _system(g: Array, H: Array, hp: HyperValues) -> tuple[Array, Array]:
    """The gradient and Hessian the step solves with: flipped to ascend, |H| when saddle-free."""
    if hp["maximize"]:
        g, H = -g, -H
    if hp["saddle_free"]:
        w, V = np.linalg.eigh(H)
        H = (V * np.abs(w)[..., None, :]) @ np.swapaxes(V, -1, -2)
    return g, H


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues, hessian: Array) -> dict[str, Any]:
    """One step: -lr s with (H + damping I) s = g, solved as the rule solves it (``newton``). H's
    inverse mixes the coordinates, so there is no per-coordinate rate (no stretch); the solve is
    not shown as arithmetic (near a singular H, a d - b c cancels below what four digits carry)."""
    gd, H = _system(np.asarray(g, dtype=np.float64), np.asarray(hessian, dtype=np.float64), hp)
    s = _solve(H[None], hp["damping"], gd[None])[0]
    return {"s": s, "newton": -hp["learning_rate"] * s}


ANATOMY = Anatomy(
    terms=(Term("newton", "-η (H+λI)⁻¹ g", r"-\eta\, (H_t + \lambda I)^{-1} g_t",
                "the step to the minimum of the local quadratic model (damped by λ), times lr"),),
    lines=(Line(r"p_{t+1} = p_t - \eta\, s_t,\quad (H_t + \lambda I)\, s_t = g_t", "p = {p} − {lr} × {s} = {p_new!}"),),
    values=anatomy_values, composes=("newton",), needs=("hessian",),
)


def _solve(H: Array, damping: Any, g: Array) -> Array:
    """s with (H + damping I) s = g for each run's d x d system (``damping`` a float or per run,
    shaped (B, 1, 1)); where the system is singular, the least-squares step (the pseudo-inverse's,
    which agrees with the solution wherever there is one)."""
    if H.shape[-1] == 2:
        # the plane's 2 x 2 systems by their explicit inverse: np.linalg.solve's per-call cost on a
        # stack of them was 3/4 of a Newton race step (tests/optim/test_newton.py: equal to solve)
        lam = np.reshape(damping, np.shape(damping)[:-2]) if np.ndim(damping) else damping
        a, b, c, e = H[..., 0, 0] + lam, H[..., 0, 1], H[..., 1, 0], H[..., 1, 1] + lam
        det = a * e - b * c
        step = np.empty(g.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(e * g[..., 0] - b * g[..., 1], det, out=step[..., 0])
            np.divide(a * g[..., 1] - c * g[..., 0], det, out=step[..., 1])
        singular = ~np.isfinite(det) | (det == 0)
        if singular.any():
            A = H[singular] + np.asarray(np.broadcast_to(lam, det.shape))[singular][..., None, None] * np.eye(2)
            step[singular] = (np.linalg.pinv(A) @ g[singular][..., None])[..., 0]
        return step
    A = H + damping * np.eye(H.shape[-1])
    try:
        return np.linalg.solve(A, g[..., None])[..., 0]
    except np.linalg.LinAlgError:  # singular somewhere: the least-squares step there
        return (np.linalg.pinv(A) @ g[..., None])[..., 0]


SPEC = OptimizerSpec(
    name="newton", title="Newton", anatomy=ANATOMY,
    hypers=(
        lr_hyper(1.0),
        Hyper("damping", 1e-3, low=0.0, log=True, doc="Levenberg damping: solves (H + damping I) s = g"),
        Hyper("saddle_free", False, kind="bool", doc="use |H| (absolute eigenvalues): saddles repel"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays,
    rule=r"p_t = p_{t-1} - \eta\,\left(\nabla^2 f(p_{t-1}) + \lambda I\right)^{-1} \nabla f(p_{t-1})",
    paper="Nocedal & Wright, Numerical Optimization (2nd ed., 2006), ch. 3; saddle-free: Dauphin et al. (NeurIPS 2014)",
    family="second order", scope="parameter", needs=("hessian",),
    examples=({}, {"learning_rate": 0.5, "damping": 0.1}, {"saddle_free": True, "damping": 0.0}, {"maximize": True}),
)
