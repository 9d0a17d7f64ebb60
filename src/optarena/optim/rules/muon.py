"""Muon: momentum orthogonalised by Newton-Schulz, for matrices (torch.optim.Muon, torch 2.13).

    B = lerp(B, g, 1 - mu)                           (momentum_buffer)
    U = lerp(g, B, mu) if nesterov else B
    X = U^T if rows > cols else U;   X = X / max(||X||_F, eps)
    k times:  A = X X^T;   X = a X + (b A + c A A) X                (a, b, c) = (3.4445, -4.7750, 2.0315)
    O = X^T if rows > cols else X
    p = p (1 - lr wd) - lr a O,   a = sqrt(max(1, rows / cols))   (torch's adjust_lr_fn None / "original")
                                 a = 0.2 sqrt(max(rows, cols))     (match_rms_adamw: "match_rms_adamw")

``lerp`` is torch's (``a + w (b - a)`` for ``|w| < 0.5``, else ``b - (b - a)(1 - w)``). Weight decay
is decoupled. Only matrices: a parameter that is not 2-D is refused with torch's ValueError (a
batched ``(B, r, c)``, hyperparameters given as ``(B,)`` arrays, is B matrices; ``OptimizerSpec.min_ndim``
keeps it out of races, whose runs are points). The step reads the whole matrix (its norm and
products), so there is no fused cell. The iteration runs as BLAS matrix products through NumPy
(``np.matmul``, batched over a leading axis) in the parameter's dtype (float16: in float32).

Differences from torch, declared and measured (tests/optim/test_muon.py):
- torch casts the Newton-Schulz input to bfloat16 on every device and iterates there (8-bit
  mantissa); optarena iterates in the parameter's dtype. With torch's iteration held in the
  parameter's dtype the two agree to 1e-12 (float64) and 1e-5 (float32) relative; against
  torch as shipped (float32, 3x4 to 64x32), one step's orthogonalised update differs by up to 5e-2
  of its largest entry (bfloat16's rounding, through the iteration), the parameters after 12
  steps by up to 2e-3 of their largest entry.
- ``ns_coefficients`` is fixed at torch's default: ``optarena.torch.Muon`` takes it for torch's
  signature and refuses other values with a ValueError. torch's ``adjust_lr_fn`` is the bool
  ``match_rms_adamw`` here (Liu et al.'s 0.2 sqrt(max(rows, cols)), which matches AdamW's update RMS);
  ``optarena.torch.Muon`` takes torch's strings.
- ``momentum`` lies in [0, 1] (torch takes any value >= 0); ``ns_steps`` is a whole number in
  [0, 99] (torch: < 100, checked at the step).

Jordan et al., Muon: An optimizer for hidden layers in neural networks (2024),
https://kellerjordan.github.io/posts/muon/; Liu et al., Muon is Scalable for LLM Training (2025).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import UsageError
from .._spec import (
    TORCH_NAMES, Array, Hyper, HyperValues, OptimizerSpec, Reference, State, TorchClass, eps_hyper, is_batched, lr_hyper, torch_lerp,
    zeros_state,
)

#: torch's (a, b, c) for the quintic iteration (Keller Jordan's), the only ones offered here
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("momentum_buffer",)


def _matrix_shape(params: Array, hp: HyperValues) -> tuple[int, ...]:
    """One parameter's shape: the whole array's, or a row's when the leading axis is a batch."""
    shape = np.shape(params)
    return shape[1:] if is_batched(hp) and len(shape) else shape


def init(params: Array, hp: HyperValues) -> State:
    shape = _matrix_shape(params, hp)
    if len(shape) != 2:
        raise UsageError(f"Muon only supports 2D parameters whereas we found a parameter with size: {shape}; "
                         "step vectors, biases and embeddings with another optimizer (AdamW)", field="params")
    return zeros_state(params, state_arrays(hp))



def orthogonalise(u: Array, steps: Any, eps: Any) -> Array:
    """torch's Newton-Schulz zeroth power of each trailing matrix of ``u``, in its dtype (float16:
    float32). ``steps`` and ``eps`` may be per matrix, shaped (B, 1, 1)."""
    work = np.promote_types(u.dtype, np.float32)
    wide = u.shape[-2] > u.shape[-1]
    x = np.swapaxes(u, -1, -2) if wide else u
    norm = np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=(-2, -1), keepdims=True))
    x = (x / np.maximum(norm, eps).astype(work)).astype(work, copy=False)
    a, b, c = NS_COEFFICIENTS
    batched_steps = np.ndim(steps) > 0
    for k in range(int(np.max(steps))):
        gram = x @ np.swapaxes(x, -1, -2)
        poly = b * gram + c * (gram @ np.swapaxes(gram, -1, -2))  # gram is symmetric: A A^T lets BLAS take syrk, half the work
        new = a * x + poly @ x
        x = np.where(k < steps, new, x) if batched_steps else new
    out = np.swapaxes(x, -1, -2) if wide else x
    return out.astype(u.dtype, copy=False)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    rows, cols = _matrix_shape(params, hp)
    mu, lr, wd = hp["momentum"], hp["learning_rate"], hp["weight_decay"]
    buf = torch_lerp(state["momentum_buffer"], grads, 1 - mu)
    u = torch_lerp(grads, buf, mu) if hp["nesterov"] else buf
    o = orthogonalise(u, hp["ns_steps"], hp["epsilon"])
    p = params
    if np.any(wd != 0):
        p = p * (1 - lr * wd)
    return p - (lr * adjusted_ratio(rows, cols, hp)) * o, {"step": state["step"] + 1, "momentum_buffer": buf}


def adjusted_ratio(rows: int, cols: int, hp: HyperValues) -> float:
    """The factor on lr: torch's ``_adjust_lr`` for adjust_lr_fn "match_rms_adamw" or the original."""
    return 0.2 * math.sqrt(max(rows, cols)) if hp["match_rms_adamw"] else math.sqrt(max(1, rows / cols))


def check(hp: HyperValues, where: str) -> None:
    steps = np.asarray(hp["ns_steps"])
    if np.any(steps != np.floor(steps)):
        raise UsageError(f"{where}: ns_steps must be a whole number, got {hp['ns_steps']!r}", field="ns_steps")


SPEC = OptimizerSpec(
    name="muon", title="Muon",
    hypers=(
        lr_hyper(1e-3),
        Hyper("weight_decay", 0.1, low=0.0, log=True, doc="decoupled: p shrinks by lr * wd before the step"),
        Hyper("momentum", 0.95, low=0.0, high=1.0, doc="momentum factor (mu)"),
        Hyper("nesterov", True, kind="bool", doc="orthogonalise lerp(g, B, mu) instead of B"),
        eps_hyper(1e-7),
        Hyper("ns_steps", 5.0, low=0.0, high=99.0, doc="Newton-Schulz iterations (a whole number)"),
        Hyper("match_rms_adamw", False, kind="bool",
              doc="scale lr by 0.2 sqrt(max(rows, cols)) (AdamW's update RMS), not sqrt(max(1, rows / cols))"),
    ),
    init=init, update=update, state_arrays=state_arrays, check=check,
    rule=(r"B_t = \mu B_{t-1} + (1-\mu) g_t,\ U_t = \begin{cases} (1-\mu) g_t + \mu B_t & \text{nesterov} \\ "
          r"B_t & \text{else} \end{cases},\ O_t = \mathrm{NS}^{(a,b,c)}_k\!\left(U_t / \max(\lVert U_t\rVert_F, \epsilon)\right),\ "
          r"p_t = p_{t-1}(1 - \eta\lambda) - \eta \sqrt{\max(1, A/B)}\, O_t"),
    paper="Jordan et al., Muon: An optimizer for hidden layers in neural networks (2024)",
    torch=TorchClass(
        "Muon",
        "lr=0.001, weight_decay=0.1, momentum=0.95, nesterov=True, ns_coefficients=(3.4445, -4.775, 2.0315), "
        "eps=1e-07, ns_steps=5, adjust_lr_fn=None",
    ),
    # torch's adjust_lr_fn: None and "original" are match_rms_adamw=False
    reference=Reference("torch.optim.Muon", "torch", rename={**TORCH_NAMES, "match_rms_adamw": "adjust_lr_fn"},
                        none_as={"match_rms_adamw": False}, values={"match_rms_adamw": {True: "match_rms_adamw", False: "original"}}),
    family="matrix", scope="parameter", min_ndim=2,
    examples=(
        {},
        {"learning_rate": 0.02, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
        {"learning_rate": 0.05, "weight_decay": 0.3, "epsilon": 1e-3, "ns_steps": 3.0, "momentum": 0.5},
        {"learning_rate": 0.02, "match_rms_adamw": True, "nesterov": False},
    ),
)
