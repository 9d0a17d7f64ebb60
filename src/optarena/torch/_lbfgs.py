"""``optarena.torch.LBFGS``: torch.optim.LBFGS's class, stepping with optarena's NumPy L-BFGS.

``step(closure)`` flattens the parameters as torch does (one vector, in parameter order; a
missing gradient counts as zeros) and runs ``optim.rules.lbfgs.LBFGS`` on that vector: each time
the algorithm evaluates a point, the point is written into the parameters and the closure is
called (with grad enabled: it zeroes the gradients, evaluates the model and calls backward), its
gradients gathered back. At the end the parameters hold the step's answer. The state lives where
torch keeps it (``state[first parameter]``, under torch's names, as torch's types: tensors, lists
of tensors, floats and ints), so ``state_dict`` loads into torch.optim.LBFGS and back.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..errors import UsageError
from ..optim import registry
from ..optim.rules.lbfgs import LBFGS as NumpyLBFGS
from ._optimizer import _LeanStep

_NUMPY_OF = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}

LINE_SEARCHES = (None, "strong_wolfe")
_HISTORY = ("old_dirs", "old_stps", "ro")


def _numpy(v: Any) -> Any:
    """A torch state value as the NumPy class keeps it (0-d tensors: NumPy scalars of their dtype)."""
    if isinstance(v, torch.Tensor):
        a = v.detach().cpu().numpy()
        return a[()] if a.ndim == 0 else a
    return v


def _torch(v: Any) -> Any:
    """A NumPy state value as torch.optim.LBFGS keeps it (arrays share their memory)."""
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    if isinstance(v, np.generic) and isinstance(v, np.floating):
        return torch.from_numpy(np.asarray(v))
    return v


class LBFGS(_LeanStep):
    """L-BFGS as torch.optim.LBFGS, running optarena's rule (``optim/rules/lbfgs.py``):

        LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-07, tolerance_change=1e-09,
              history_size=100, line_search_fn=None)

    One param group; ``step(closure)`` takes a closure that re-evaluates the model (zero the
    gradients, compute the loss, ``loss.backward()``, return the loss) and returns its first loss,
    as torch's. Each step runs up to ``max_iter`` iterations, at most ``max_eval`` evaluations
    (None: ``max_iter * 5 // 4``); ``line_search_fn="strong_wolfe"`` picks each step length by the
    strong Wolfe line search, None takes ``lr``. ``state_dict()`` is torch's: it loads into
    torch.optim.LBFGS, and torch's loads here. Differences from torch's: ``max_iter`` and
    ``max_eval`` must be >= 1, parameters must be real; the work is on one NumPy vector in the
    parameters' dtype (CUDA tensors are copied to the CPU and back at each evaluation).
    Measured: float64 parameters within 1e-10 of torch's with the same ``func_evals`` and
    ``n_iter`` (tests/torch/test_lbfgs_bridge.py).
    """

    spec = registry.get("lbfgs")

    def __init__(self, params: Any, lr: float | torch.Tensor = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("LBFGS: Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"LBFGS: Invalid learning rate: {lr}")
        if line_search_fn not in LINE_SEARCHES:
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
                    "tolerance_change": tolerance_change, "history_size": history_size, "line_search_fn": line_search_fn}
        self._numpy(defaults)  # the settings, checked now (UsageError naming the one that is wrong)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        for p in self._params:
            if p.is_complex() or not p.is_floating_point():
                raise TypeError(f"LBFGS: parameters must be real floating point, got {p.dtype}")

    @property
    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    @staticmethod
    def _numpy(group: dict[str, Any]) -> NumpyLBFGS:
        """optarena's LBFGS with a group's settings (read at every step, so they may change)."""
        if group["line_search_fn"] not in LINE_SEARCHES:
            raise RuntimeError("only 'strong_wolfe' is supported")  # torch's words for a later change
        lr = group["lr"]
        return NumpyLBFGS(learning_rate=float(lr.item() if isinstance(lr, torch.Tensor) else lr),
                          max_iter=group["max_iter"], max_eval=group["max_eval"],
                          tolerance_grad=float(group["tolerance_grad"]), tolerance_change=float(group["tolerance_change"]),
                          history_size=group["history_size"], line_search=group["line_search_fn"] is not None)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    @staticmethod
    def _vector(ts: list[torch.Tensor], dtype: np.dtype) -> np.ndarray:
        """The tensors, flattened and concatenated, as one NumPy vector of ``dtype`` (a copy)."""
        work = torch.from_numpy(np.empty(0, dtype)).dtype
        return torch.cat([t.detach().to("cpu", work).reshape(-1) for t in ts]).numpy()

    def _flat(self, dtype: np.dtype) -> np.ndarray:
        return self._vector(self._params, dtype)

    def _flat_grad(self, dtype: np.dtype) -> np.ndarray:
        """torch's ``_gather_flat_grad``: a missing gradient counts as zeros."""
        return self._vector([torch.zeros_like(p) if p.grad is None else p.grad.to_dense() if p.grad.is_sparse else p.grad
                             for p in self._params], dtype)

    def _set(self, x: np.ndarray) -> None:
        """The flat vector ``x`` into the parameters (in place: the model sees it)."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.copy_(torch.from_numpy(x[offset:offset + n]).view_as(p))
            offset += n

    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """One L-BFGS step (up to ``max_iter`` iterations); returns the closure's first loss."""
        if closure is None:
            raise RuntimeError("LBFGS: step() needs a closure that re-evaluates the model and returns the loss")
        evaluate_model = torch.enable_grad()(closure)
        opt = self._numpy(self.param_groups[0])
        params = self._params
        # torch.cat's promotion, in NumPy's dtypes (bfloat16 works in float32: NumPy has none)
        dtype = np.result_type(*(_NUMPY_OF.get(p.dtype, np.float32) for p in params))
        state = self.state[params[0]]
        opt.resume(self._flat(dtype), {k: ([_numpy(v) for v in state[k]] if k in _HISTORY else _numpy(state[k]))
                                       for k in state})
        first: list[Any] = []

        def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
            self._set(x)
            loss = evaluate_model()
            if not first:
                first.append(loss)
            return float(loss.detach() if isinstance(loss, torch.Tensor) else loss), self._flat_grad(dtype)

        opt.step(evaluate)
        self._set(opt.params)
        for k, v in opt.state.items():
            state[k] = [_torch(x) for x in v] if k in _HISTORY else _torch(v)
        if "t" in state and not isinstance(state["t"], (int, float)):
            state["t"] = float(state["t"])  # torch keeps the step length as a number
        if "prev_loss" in state:
            state["prev_loss"] = float(state["prev_loss"])
        return first[0]


def closure_class(name: str) -> type[LBFGS]:
    """The torch class of a registered rule that steps by closure (L-BFGS)."""
    if registry.get(name).name != "lbfgs":
        raise UsageError(f"optarena.torch: {name} steps by closure and has no torch class here (only L-BFGS has)",
                         field="optimizer")
    return LBFGS
