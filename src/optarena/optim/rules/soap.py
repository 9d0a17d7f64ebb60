"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, as pytorch_optimizer.SOAP computes it.

For each preconditioned axis i of the gradient (size n_i <= max_precondition_dim), with
L_i = the Kronecker factor of that axis and Q_i its eigenbasis (columns by falling eigenvalue):

    t = 1:  L_i = (1 - beta_s) G_(i) G_(i)^T;   Q_i = eigenvectors of L_i          (no step)
    t > 1:  s = t - 1;   g = -g if maximize
            G' = g x_i Q_i^T                   (every axis projected: proj(X) = X x_0 Q_0^T x_1 Q_1^T ...)
            m = lerp(m, g, 1 - b1);   v = lerp(v, G'^2, 1 - b2)            (m in the original basis, v in Q's)
            u = proj^-1(proj(m) / (sqrt(v) + eps));   u = u / (RMS(u) + eps) if normalize_gradient
            p = p - lr sqrt(1 - b2^s) / (1 - b1^s) u       (lr alone without correct_bias)
            p = p (1 - lr wd)
            L_i = lerp(L_i, G_(i) G_(i)^T, 1 - beta_s)
            every precondition_frequency-th s: one power iteration per axis: P = L_i Q_i, its columns
                sorted by the estimated eigenvalue diag(Q_i^T P) (falling, v's axis i sorted alike),
                Q_i = the Q of P's QR decomposition

``G_(i)`` is the gradient unfolded along axis i; ``beta_s`` is ``shampoo_beta`` (-1, the
reference's None: beta2); ``lerp`` is torch's (``a + w (b - a)`` for ``|w| < 0.5``, else
``b - (b - a)(1 - w)``). An axis longer than ``max_precondition_dim`` is not projected (the
identity). ``merge_dims`` first merges neighbouring axes while their product stays within
``max_precondition_dim`` (the reference's ``merge_small_dims``).

On a 1-D parameter (a race's point) or a 0-d one there is no Kronecker factor unless
``precondition_1d`` (1-D only): they reduce to Adam that skips its first gradient, with eps
outside the bias correction (``p -= lr sqrt(1 - b2^s) / (1 - b1^s) m / (sqrt(v) + eps)``, s = t - 1)
and decoupled decay after the step. With ``precondition_1d`` a vector of n elements gets one
n x n factor, the running average of g g^T: a 2-element point is rotated into the eigenbasis of
that 2 x 2 matrix. So SOAP races on points.

The step reads whole factors (their eigenvectors, the QR), so there is no fused cell. A leading
batch axis (hyperparameters as ``(B,)`` arrays, as the race engine gives them) holds B
independent parameters: every factor is (B, n, n), every ``np.linalg`` call stacked.
``max_precondition_dim`` and ``merge_dims`` decide the state's shapes, so a batch takes one
``max_precondition_dim`` for all its rows (a UsageError otherwise).

Reference: ``pytorch_optimizer.SOAP`` (pytorch-optimizer 4.1.0), defaults included; differences,
declared and measured in tests/optim/test_soap.py:
- the reference casts the power iteration to float32 for its QR (for bfloat16's sake); optarena
  takes the QR in the parameter's dtype (float16: float32). float64 runs then differ by float32's
  rounding from the first refresh on (measured: up to 1.6e-7, max_rel, over 14 steps); with the
  reference's QR held in float64 they agree to 1e-10. float32 runs: 1e-4.
- eigenvectors of a repeated eigenvalue are any basis of their space, and the reference's numbers
  depend on which one LAPACK returns (a vector of n > 2 elements with ``precondition_1d``: g g^T has
  n - 1 zero eigenvalues on the first step; a matrix of r < c - 1 rows alike, and any gradient of
  rank below n - 1 along an axis: a classifier's last layer under cross-entropy, whose gradient's
  rows sum to zero). NumPy's LAPACK
  (OpenBLAS) and torch's (MKL) pick different ones there: the trajectories are equally valid and
  differ by O(1) of the update. Where the eigenvalues are distinct (matrices with |r - c| <= 1,
  2-element vectors, every axis once it has seen enough gradients) they agree as above.
- ``data_format`` is fixed at the reference's default 'channels_first' (its 'channels_last' only
  permutes a 4-D parameter before merging); ``precondition_frequency`` and ``shampoo_beta`` are read
  from the hyperparameters at every step (the reference freezes them in the state at the first).
- the state keeps the factors as arrays ``GG_i`` and ``Q_i`` per preconditioned axis (the reference:
  lists ``GG`` and ``Q``, with [] for an axis without one, and the step in the param group);
  ``optarena.torch.SOAP``'s state_dict is written in the reference's form (``reference_state``)
  and either form loads (``state_from_reference``), so state dicts cross both ways.
- ``merge_dims`` where the merge leaves one axis of more than one element (a (3, 4) parameter with
  the default max_precondition_dim): the reference fails there (a RuntimeError from reshape);
  optarena refuses it with a UsageError that says why.

Vyas et al., SOAP: Improving and Stabilizing Shampoo using Adam (ICLR 2025).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ...errors import UsageError
from .._spec import (
    MAXIMIZE, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, beta_hyper, eps_hyper, is_batched, lr_hyper, per_run, run_size,
    run_sum, torch_lerp,
)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    # plus one factor "GG_i" and its basis "Q_i" per preconditioned axis (shapes depend on the parameter)
    return ("exp_avg", "exp_avg_sq")


def merge_small_dims(shape: tuple[int, ...], max_dim: float) -> tuple[int, ...]:
    """The reference's merge: neighbouring axes joined while their product stays <= max_dim;
    a merge into one axis gives (1,) (which only a one-element parameter can take)."""
    merged: list[int] = []
    product = 1
    for d in shape:
        product *= d
        if product > max_dim:
            merged.append(product // d)
            product = d
    merged.append(product)
    return tuple(merged) if len(merged) > 1 else (1,)


def _max_dim(hp: HyperValues) -> float:
    return float(np.max(hp["max_precondition_dim"]))


def _layout(shape: tuple[int, ...], hp: HyperValues) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """One parameter's working shape (merged or not) and which of its axes get a factor."""
    max_dim = _max_dim(hp)
    work = shape
    if hp["merge_dims"]:
        work = merge_small_dims(shape, max_dim)
        if math.prod(work) != math.prod(shape):
            raise UsageError(f"SOAP: merge_dims merges a parameter of shape {shape} into one axis (max_precondition_dim "
                             f"{max_dim:g}), which the reference cannot reshape; turn merge_dims off or lower "
                             "max_precondition_dim", field="merge_dims")
    if len(shape) == 1:  # one factor or none, as it was never merged (a longer one merges into (1, n): the same)
        return shape, (bool(hp["precondition_1d"]) and shape[0] <= max_dim,)
    return work, tuple(n <= max_dim for n in work)


#: what the reference keeps per parameter that is a setting here (frozen there at the first step)
_FROZEN = ("precondition_frequency", "shampoo_beta")


def reference_state(state: Mapping[str, Any], shape: tuple[int, ...], hp: HyperValues) -> dict[str, Any]:
    """One parameter's state as pytorch_optimizer.SOAP keeps it (the torch bridge's state_dict):
    the factors as lists ``GG`` and ``Q`` over the working axes ([] where an axis has none), and
    the two settings it freezes in the state. The values are moved, not copied."""
    _, pre = _layout(shape, hp)
    out = {k: v for k, v in state.items() if not k.startswith(("GG_", "Q_"))}
    for key in ("GG", "Q"):
        out[key] = [state[f"{key}_{i}"] if on else [] for i, on in enumerate(pre)]
    b3 = hp["shampoo_beta"]
    out.update(precondition_frequency=int(hp["precondition_frequency"]), shampoo_beta=float(hp["beta2"] if b3 < 0 else b3))
    return out


def state_from_reference(state: Mapping[str, Any]) -> dict[str, Any]:
    """``reference_state``'s inverse (ours passes through): ``GG_i`` and ``Q_i`` from the lists'
    matrices; the frozen settings dropped (here they are read from the hyperparameters)."""
    out = {k: v for k, v in state.items() if k not in ("GG", "Q", *_FROZEN)}
    for key in ("GG", "Q"):
        for i, v in enumerate(state.get(key, ())):
            if hasattr(v, "shape"):  # [] marks an axis without a factor
                out[f"{key}_{i}"] = v
    return out


def _row_shape(params: Array, hp: HyperValues) -> tuple[int, ...]:
    shape = np.shape(params)
    return shape[1:] if is_batched(hp) and len(shape) else shape


def init(params: Array, hp: HyperValues) -> State:
    p = np.asarray(params)
    lead = p.shape[:1] if is_batched(hp) and p.ndim else ()
    work, pre = _layout(_row_shape(p, hp), hp)
    state: dict[str, Any] = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
    for i, (n, on) in enumerate(zip(work, pre)):
        if on:
            state[f"GG_{i}"] = np.zeros(lead + (n, n), p.dtype)
            state[f"Q_{i}"] = np.zeros(lead + (n, n), p.dtype)
    return state




def _project(x: Array, qs: list[Array | None], backward: bool = False) -> Array:
    """x (B, *work) through every axis' basis in turn: forward X x_i Q_i^T, backward X x_i Q_i
    (each axis contracted and moved last, as the reference's tensordot; None: moved only)."""
    for q in qs:
        moved = np.moveaxis(x, 1, -1)
        if q is not None:
            n, rest = moved.shape[-1], moved.shape[1:-1]
            flat = moved.reshape(moved.shape[0], math.prod(rest), n)
            moved = (flat @ (np.swapaxes(q, -1, -2) if backward else q)).reshape(moved.shape)
        x = moved
    return x


def _outer(g: Array, axis: int) -> Array:
    """G_(i) G_(i)^T for axis ``axis`` of each row of g (B, *work)."""
    n = g.shape[1 + axis]
    unfolded = np.moveaxis(g, 1 + axis, 1)
    unfolded = unfolded.reshape(g.shape[0], n, math.prod(unfolded.shape[2:]))
    return unfolded @ np.swapaxes(unfolded, -1, -2)


def _linalg_dtype(dtype: np.dtype) -> np.dtype:
    return np.promote_types(dtype, np.float32)


def eigenbasis(gg: Array) -> Array:
    """Eigenvectors of each symmetric (..., n, n), columns by falling eigenvalue (the reference's
    eigh of gg + 1e-30 I, flipped)."""
    work = _linalg_dtype(gg.dtype)
    eye = np.eye(gg.shape[-1], dtype=work)
    _, q = np.linalg.eigh(gg.astype(work) + 1e-30 * eye)
    return q[..., ::-1].astype(gg.dtype)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    batched = is_batched(hp)
    p_in = np.asarray(params)
    shape = _row_shape(p_in, hp)
    work, pre = _layout(shape, hp)
    lead = p_in.shape[0] if batched and p_in.ndim else 1
    dtype = p_in.dtype

    def rows(x: Array) -> Array:  # (B, *work)
        return np.reshape(x, (lead,) + work)

    sb: Any = hp["shampoo_beta"]
    sb = np.where(sb < 0, hp["beta2"], sb) if np.ndim(sb) else (hp["beta2"] if sb < 0 else sb)
    one_m_sb = per_run(1.0 - sb, 3)
    t = state["step"] + 1
    new: dict[str, Any] = {**state, "step": t}
    axes = [i for i, on in enumerate(pre) if on]

    def statistics(g: Array) -> None:
        gw = rows(g)
        for i in axes:
            new[f"GG_{i}"] = torch_lerp(state[f"GG_{i}"], _outer(gw, i).reshape(state[f"GG_{i}"].shape).astype(dtype), one_m_sb)

    if t == 1:  # the first gradient only starts the factors and their eigenbases
        statistics(np.asarray(grads))
        for i in axes:
            new[f"Q_{i}"] = eigenbasis(new[f"GG_{i}"])
        return p_in.copy(), new

    g = -np.asarray(grads) if hp["maximize"] else np.asarray(grads)
    s = t - 1
    lr, b1, b2, eps = hp["learning_rate"], hp["beta1"], hp["beta2"], hp["epsilon"]
    step_size = lr
    if hp["correct_bias"]:
        step_size = lr * (np.sqrt(1.0 - b2**s) / (1.0 - b1**s))
    qs = [(state[f"Q_{i}"].reshape((lead,) + state[f"Q_{i}"].shape[-2:]) if on else None) for i, on in enumerate(pre)]
    g_proj = _project(rows(g), qs).reshape(g.shape)
    m = torch_lerp(state["exp_avg"], g, 1 - b1)
    v = torch_lerp(state["exp_avg_sq"], g_proj * g_proj, 1 - b2)
    m_proj = _project(rows(m), qs)
    u = _project(m_proj / rows(np.sqrt(v) + eps), qs, backward=True).reshape(g.shape)
    if hp["normalize_gradient"]:
        rms = np.sqrt(run_sum(u * u, hp) / max(run_size(u, hp), 1))
        u = u / (rms + eps).astype(dtype) if np.ndim(rms) else u / (rms + eps)
    p = p_in - step_size * u
    wd = hp["weight_decay"]
    if np.any(wd != 0):
        p = p * (1 - wd * lr)
    new.update(exp_avg=m, exp_avg_sq=v)
    statistics(g)
    freq = hp["precondition_frequency"]
    due = (s % freq) == 0
    if np.any(due):
        vw = rows(v)
        refreshed = vw
        for i in axes:
            q = qs[i]
            assert q is not None
            gg = new[f"GG_{i}"].reshape(q.shape)
            power = gg @ q
            est = np.sum(q * power, axis=-2)  # diag(Q^T L Q), per row
            order = np.argsort(-est, axis=-1, kind="stable")
            along = order.reshape((lead,) + (1,) * i + (work[i],) + (1,) * (len(work) - i - 1))
            refreshed = np.take_along_axis(refreshed, along, axis=1 + i)
            power = np.take_along_axis(power, order[:, None, :], axis=-1)
            q_new, _ = np.linalg.qr(power.astype(_linalg_dtype(dtype)))
            q_new = q_new.astype(dtype)
            row_due = per_run(due, 3)
            new[f"Q_{i}"] = np.where(row_due, q_new, q).reshape(state[f"Q_{i}"].shape)
        new["exp_avg_sq"] = np.where(per_run(due, len(work) + 1), refreshed, vw).reshape(v.shape)
    return p.astype(dtype, copy=False), new


def check(hp: HyperValues, where: str) -> None:
    sb = np.asarray(hp["shampoo_beta"])
    if np.any((sb < 0) & (sb != -1)):
        raise UsageError(f"{where}: shampoo_beta must be -1 (beta2's value) or a number in [0.0, 1.0], got "
                         f"{hp['shampoo_beta']!r}", field="shampoo_beta")
    dims = np.asarray(hp["max_precondition_dim"])
    if dims.ndim and np.any(dims != dims.flat[0]):
        raise UsageError(f"{where}: max_precondition_dim must be one value for every run of a batch (it decides the "
                         f"state's shapes), got {sorted(set(dims.tolist()))}", field="max_precondition_dim")


SPEC = OptimizerSpec(
    name="soap", title="SOAP",
    hypers=(
        lr_hyper(3e-3),
        beta_hyper("beta1", 0.95, "first-moment decay"),
        beta_hyper("beta2", 0.95, "second-moment decay (in the eigenbasis)"),
        Hyper("shampoo_beta", -1.0, low=-1.0, high=1.0, doc="decay of the Kronecker factors; -1: beta2's value"),
        Hyper("weight_decay", 1e-2, low=0.0, log=True, doc="decoupled: p shrinks by lr * wd after the step"),
        Hyper("precondition_frequency", 10.0, low=1.0, integer=True, doc="steps between refreshes of the eigenbases"),
        Hyper("max_precondition_dim", 10000.0, low=1.0, integer=True, doc="longer axes are not preconditioned"),
        Hyper("merge_dims", False, kind="bool", doc="merge neighbouring small axes before factoring"),
        Hyper("precondition_1d", False, kind="bool", doc="give a vector its n x n factor (else Adam on it)"),
        Hyper("correct_bias", True, kind="bool", doc="Adam's bias correction of the step size"),
        Hyper("normalize_gradient", False, kind="bool", doc="divide the update by its RMS"),
        eps_hyper(1e-8),
        MAXIMIZE,
    ),
    init=init, update=update, state_arrays=state_arrays, check=check,
    rule=(r"G'_t = G_t \times_i Q_i^\top,\ m_t = \beta_1 m_{t-1} + (1-\beta_1) G_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) G'^2_t,\ "
          r"p_t = p_{t-1} - \eta \tfrac{\sqrt{1-\beta_2^{s}}}{1-\beta_1^{s}} "
          r"\left(\tfrac{m_t \times_i Q_i^\top}{\sqrt{v_t}+\epsilon}\right) \times_i Q_i,\ "
          r"L_i \leftarrow \beta_s L_i + (1-\beta_s) G_{(i)} G_{(i)}^\top,\ Q_i = \mathrm{eig}(L_i)"),
    paper="Vyas et al., SOAP: Improving and Stabilizing Shampoo using Adam (ICLR 2025)",
    reference=Reference("pytorch_optimizer.SOAP", "pytorch-optimizer", none_as={"shampoo_beta": -1.0},
                        group_scalars={"step": "step"},
                        signature=("lr=0.003, betas=(0.95, 0.95), shampoo_beta=None, weight_decay=0.01, precondition_frequency=10, "
                                   "max_precondition_dim=10000, merge_dims=False, precondition_1d=False, correct_bias=True, "
                                   "normalize_gradient=False, data_format='channels_first', eps=1e-08, maximize=False")),
    family="matrix", scope="parameter",
    examples=(),  # see EXAMPLES below
)

#: The settings tests/optim/test_soap.py runs against the reference (every option). They are not
#: the spec's ``examples``: the generic reference test compares state tensor by tensor, and the
#: reference keeps its factors as lists (GG, Q); its own test file compares those.
EXAMPLES: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.01, "precondition_frequency": 3.0},
    {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.99, "shampoo_beta": 0.8, "weight_decay": 0.1,
     "precondition_frequency": 4.0, "precondition_1d": True, "epsilon": 1e-6},
    {"learning_rate": 0.01, "correct_bias": False, "normalize_gradient": True, "maximize": True, "weight_decay": 0.0},
    {"learning_rate": 0.01, "max_precondition_dim": 4.0, "merge_dims": True, "precondition_frequency": 5.0},
    {"learning_rate": 0.01, "max_precondition_dim": 4.0, "precondition_1d": True, "precondition_frequency": 2.0},
)
