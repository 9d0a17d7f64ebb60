"""Shampoo: one Kronecker factor per axis, the gradient preconditioned by each factor's inverse
2k-th root (k: the parameter's number of axes), as pytorch_optimizer.Shampoo computes it.

    g = -g if maximize
    g = lerp(g, b, momentum)   if momentum > 0    (b: the last update; at t = 1 the raw first gradient)
    p = p (1 - lr wd) (decoupled; 1 - wd with fixed_decay)   or   g = g + wd p (L2)
    for each axis i:  L_i = L_i + G_(i) G_(i)^T          (L_i starts at matrix_eps I)
                      every preconditioning_compute_steps-th t:  R_i = L_i^(-1 / 2k)   (by SVD; R_i starts at 0)
    u = g x_0 R_0 x_1 R_1 ...;   b = u;   p = p - lr u

``G_(i)`` is g unfolded along axis i; ``lerp`` is torch's (``a + w (b - a)`` for ``|w| < 0.5``, else
``b - (b - a)(1 - w)``). The momentum mixes the gradient with the previous *update* (as the
reference does), and until the first root is computed (``preconditioning_compute_steps`` > 1)
the roots are zero, so the first steps only decay.

On a 1-D parameter (a race's point) there is one n x n factor and the root is L^(-1/2): full-matrix
AdaGrad, ``p -= lr (eps I + sum g g^T)^(-1/2) g``. A 0-d parameter has no axis: it reduces to SGD
(with the momentum above). So Shampoo races on points.

The step reads whole factors (SVDs), so there is no fused cell. A leading batch axis
(hyperparameters as ``(B,)`` arrays) holds B independent parameters: every factor is (B, n, n),
every SVD stacked.

Reference: ``pytorch_optimizer.Shampoo`` (pytorch-optimizer 4.1.0), defaults included, matched in
float64 to 1e-10 on matrices and 2-element vectors (measured 1e-14; the root of a symmetric positive
definite matrix does not depend on the SVD's choice of vectors). A longer vector's factor keeps
eigenvalues at matrix_eps beside ones ~1e7 times larger, which NumPy's LAPACK (OpenBLAS) and
torch's (MKL) round differently before the root amplifies them: measured 3.2e-10 apart on (6,) in
float64, and in float32 (below the resolution there with the default matrix_eps) up to 0.15; with
matrix_eps >= 1e-3, 1e-6 (tests/optim/test_shampoo.py). Where matrix_eps vanishes beside a float32
factor (all-ones gradients on (4, 1, 2): 1e-6 beside ~64) the factor is singular in float32 and both
take roots of rounding noise: torch's SVD returned small numbers there (finite parameters), NumPy's
an exact 0 (inf, then NaN parameters). With ``matrix_eps`` 0 and a factor that is not full rank,
both take a root of 0 (inf, then NaN).

Gupta, Koren & Singer, Shampoo: Preconditioned Stochastic Tensor Optimization (ICML 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UsageError
from .._spec import MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, is_batched, lr_hyper, per_run, torch_lerp


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    # plus "pre_cond_i" and "inv_pre_cond_i" (n_i x n_i) per axis, the reference's names
    return ("momentum_buffer",)


def _row_shape(params: Array, hp: HyperValues) -> tuple[int, ...]:
    shape = np.shape(params)
    return shape[1:] if is_batched(hp) and len(shape) else shape



#: The largest axis Shampoo keeps a factor for: its two n x n matrices of an axis of 16,384 take
#: 2 GiB in float32. The reference has no limit (a 16M-element vector asks for 1 PiB); here such a
#: parameter is refused with its size, before anything is allocated.
MAX_AXIS = 16_384


def init(params: Array, hp: HyperValues) -> State:
    p = np.asarray(params)
    big = [n for n in _row_shape(p, hp) if n > MAX_AXIS]
    if big:
        raise UsageError(f"Shampoo: an axis of {big[0]:,} elements needs two {big[0]:,} x {big[0]:,} factors "
                         f"(more than {MAX_AXIS:,} per axis is refused: memory); reshape the parameter or use SOAP, "
                         "whose max_precondition_dim leaves such an axis unpreconditioned", field="params")
    lead = p.shape[:1] if is_batched(hp) and p.ndim else ()
    state: dict[str, Any] = {"step": 0, "momentum_buffer": np.zeros_like(p)}
    eps = per_run(hp["matrix_eps"], 3) if lead else hp["matrix_eps"]
    for i, n in enumerate(_row_shape(p, hp)):
        state[f"pre_cond_{i}"] = (np.broadcast_to(np.eye(n, dtype=p.dtype), lead + (n, n)) * eps).astype(p.dtype)
        state[f"inv_pre_cond_{i}"] = np.zeros(lead + (n, n), p.dtype)
    return state



def inverse_root(mat: Array, power: int) -> Array:
    """mat^(-1/power) of each symmetric positive definite (..., n, n), by SVD (the reference's
    ``compute_power_svd``: float64 stays float64, anything else in float32)."""
    work = np.float64 if mat.dtype == np.float64 else np.float32
    u, s, vh = np.linalg.svd(mat.astype(work), full_matrices=False)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero singular value: inf, then NaN, as torch
        return ((u * (s ** (-1.0 / power))[..., None, :]) @ vh).astype(mat.dtype)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    batched = is_batched(hp)
    p = np.asarray(params)
    shape = _row_shape(p, hp)
    lead = p.shape[0] if batched and p.ndim else 1
    dtype = p.dtype
    t = state["step"] + 1
    mom, lr, wd = hp["momentum"], hp["learning_rate"], hp["weight_decay"]
    g = -np.asarray(grads) if hp["maximize"] else np.asarray(grads)
    if np.any(mom > 0):
        before = np.asarray(grads) if t == 1 else state["momentum_buffer"]  # the reference starts b at the raw gradient
        g = np.where(mom > 0, torch_lerp(g, before, mom), g) if np.ndim(mom) else torch_lerp(g, before, mom)
    if hp["weight_decouple"]:
        p = p * (1 - wd * (1.0 if hp["fixed_decay"] else lr))
    elif np.any(wd > 0):
        g = g + wd * p
    new: dict[str, Any] = {"step": t}
    order = len(shape)
    due = (t % hp["preconditioning_compute_steps"]) == 0
    u = np.reshape(g, (lead,) + shape)
    stats = u
    for i, n in enumerate(shape):
        unfolded = np.moveaxis(stats, 1 + i, 1)
        unfolded = unfolded.reshape(lead, n, int(np.prod(unfolded.shape[2:])))
        pre = state[f"pre_cond_{i}"].reshape(lead, n, n) + unfolded @ np.swapaxes(unfolded, -1, -2)
        inv = state[f"inv_pre_cond_{i}"].reshape(lead, n, n)
        if np.any(due):
            inv = np.where(per_run(due, 3), inverse_root(pre, 2 * order), inv)
        # axis i contracted with R's second index (R's first on the last axis, as the reference's grad_t @ R)
        moved = np.moveaxis(u, 1 + i, -1)
        r = inv if i == order - 1 else np.swapaxes(inv, -1, -2)
        flat = moved.reshape(lead, int(np.prod(moved.shape[1:-1])), n) @ r
        u = np.moveaxis(flat.reshape(moved.shape), -1, 1 + i)
        new[f"pre_cond_{i}"] = pre.reshape(state[f"pre_cond_{i}"].shape)
        new[f"inv_pre_cond_{i}"] = inv.reshape(state[f"inv_pre_cond_{i}"].shape)
    u = u.reshape(np.shape(g)).astype(dtype, copy=False)
    new["momentum_buffer"] = u
    return (p - lr * u).astype(dtype, copy=False), new


SPEC = OptimizerSpec(
    name="shampoo", title="Shampoo",
    hypers=(
        lr_hyper(1e-3),
        Hyper("momentum", 0.0, low=0.0, high=1.0, doc="mix of the previous update into the gradient"),
        Hyper("weight_decay", 0.0, low=0.0, log=True, doc="L2 in g, or decoupled per weight_decouple"),
        Hyper("weight_decouple", False, kind="bool", doc="decoupled (AdamW-style) weight decay"),
        Hyper("fixed_decay", False, kind="bool", doc="decoupled decay not scaled by lr"),
        Hyper("preconditioning_compute_steps", 1.0, low=1.0, integer=True, doc="steps between the roots' recomputation"),
        Hyper("matrix_eps", 1e-6, low=0.0, log=True, doc="each factor starts at matrix_eps I"),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays,
    rule=(r"L_i \leftarrow L_i + G_{(i)} G_{(i)}^\top,\ "
          r"p_t = p_{t-1} - \eta\, G_t \times_1 L_1^{-1/2k} \cdots \times_k L_k^{-1/2k}"),
    paper="Gupta, Koren & Singer, Shampoo: Preconditioned Stochastic Tensor Optimization (ICML 2018)",
    reference=Reference("pytorch_optimizer.Shampoo", "pytorch-optimizer"),
    family="matrix", scope="parameter",
    examples=(),  # see EXAMPLES below
)

#: The settings tests/optim/test_shampoo.py runs against the reference (every option). They are not
#: the spec's ``examples``: the generic reference test's 1e-12 (float64) and 1e-5 (float32) on a
#: 7-element vector exceed what two LAPACKs agree on there (the factor's eigenvalues span
#: matrix_eps to ~30: measured up to 3.2e-10 and 0.15 apart); its own test file states the bounds.
EXAMPLES: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.01},
    {"learning_rate": 0.02, "momentum": 0.3, "weight_decay": 0.1, "matrix_eps": 1e-3},
    {"learning_rate": 0.02, "momentum": 0.7, "weight_decay": 0.1, "weight_decouple": True, "maximize": True},
    {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": True, "fixed_decay": True,
     "preconditioning_compute_steps": 3.0},
)
