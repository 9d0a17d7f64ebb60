"""The optimizer cases that drive the reference, fused, stateful and arena tests: read from the
registry (each spec's ``examples``), so an optimizer added by one file or an installed plug-in is
tested with no edit here.

A case is (registry name, its explicit settings). ``reference_kwargs`` builds the reference
implementation's arguments from the explicit settings ONLY: every default is the reference's
own, so a default of ours that drifts from it fails.
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

import pytest

from optarena.optim import registry
from optarena.optim._spec import TORCH_NAMES, torch_arguments

#: Optimizers that step from a gradient alone (Newton also needs the Hessian: tests/optim/test_newton.py)
# min_ndim > 0 (Muon: matrices only) cannot step the shapes (), (7,) these tests use: tests/optim/test_muon.py
FIRST_ORDER: list[str] = [s.name for s in registry.all_specs() if not s.needs and not s.min_ndim]
CASES: list[tuple[str, dict[str, Any]]] = [(s.name, dict(ex)) for s in registry.all_specs() if not s.needs and not s.min_ndim
                                           for ex in s.examples]

#: torch.optim's class for each optimizer that has one
TORCH_CLASS = {s.name: s.torch.name for s in registry.all_specs() if s.torch is not None}


def to_torch(hp: dict[str, Any], name: str) -> dict[str, Any]:
    """Our hyperparameter names -> keyword arguments of torch.optim's class for ``name`` (every key
    given is passed; tuple members missing from ``hp`` keep that class's defaults)."""
    import torch.optim

    sig = inspect.signature(getattr(torch.optim, TORCH_CLASS[name]))
    defaults = {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
    return torch_arguments(hp, TORCH_NAMES, defaults)


def reference_target(name: str) -> Any:
    """The spec's reference implementation (a class or function), imported; when its package is
    missing the test is skipped, and fails under CI=true (a missing reference is a CI bug)."""
    ref = registry.get(name).reference
    assert ref is not None, f"{name} declares no reference"
    module, attr = ref.target.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"reference {ref.target} needs {ref.package!r}: {exc}")


def reference_defaults(name: str) -> dict[str, Any]:
    """The reference's own constructor defaults, by its argument names."""
    sig = inspect.signature(reference_target(name))
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def reference_kwargs(name: str, explicit: dict[str, Any]) -> dict[str, Any]:
    """The reference's arguments for a case: its ``fixed`` ones, then the case's explicit
    settings renamed (``beta1``/``beta2``/``beta3``, Rprop's etas ... into the reference's tuple
    argument, the other members from its defaults: ``optim.TORCH_PAIRS``). ``maximize`` is left
    out for references that have none (optax)."""
    ref = registry.get(name).reference
    assert ref is not None
    given = {k: (None if k in ref.none_as and v == ref.none_as[k] else ref.values.get(k, {}).get(v, v)) for k, v in explicit.items()
             if not (k == "maximize" and ref.kind == "optax") and k not in ref.lacks}
    defaults = reference_defaults(name) if ref.kind == "torch" else {}
    return {**ref.fixed, **torch_arguments(given, ref.rename, defaults)}


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, hp = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in hp.items()) if hp else "")


def max_rel(a: Any, b: Any) -> float:
    """Largest element-wise relative error of ``a`` against ``b``; entries that cancelled to near
    zero are measured against a tenth of the array's scale (their rounding comes from the larger terms)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    floor = max(0.1 * float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def train_mode(opt: Any) -> None:
    """Put ``opt`` in train mode if it has one (schedulefree's optimizers refuse to step
    without ``train()``; their parameter then holds y, as ours do). torch.optim's have none."""
    if callable(getattr(opt, "train", None)):
        opt.train()


def step_torch(opt: Any, tp: Any, grad: Any, steps: int) -> tuple[list[Any], Any]:
    """Step torch optimizer ``opt`` on its one parameter ``tp`` ``steps`` times with
    ``grad(p, t)``; the parameter after each step (NumPy copies) and the final state."""
    import torch

    train_mode(opt)
    out = []
    for t in range(steps):
        tp.grad = torch.tensor(grad(tp.detach().numpy(), t))
        opt.step()
        out.append(tp.detach().numpy().copy())
    return out, opt.state[tp]


def problem(shape: Any, steps: int, dtype: Any = None, seed: int = 0) -> tuple[Any, list[Any]]:
    """A start and ``steps`` gradients of ``shape`` (standard normal, seeded), in ``dtype``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dtype = dtype or np.float64
    return rng.normal(size=shape).astype(dtype), [rng.normal(size=shape).astype(dtype) for _ in range(steps)]


def run_reference(opt: Any, tp: Any, grads: list[Any]) -> tuple[list[Any], Any]:
    """A torch optimizer on its one parameter ``tp``, fed the given gradients: the parameter after
    each step and the final state (``step_torch`` with a fixed gradient sequence)."""
    return step_torch(opt, tp, lambda p, t: grads[t], len(grads))


def run_spec(spec: Any, hp: dict[str, Any], p0: Any, grads: list[Any]) -> tuple[list[Any], Any]:
    """Our pure rule on ``p0`` fed the given gradients: the params after each step and the final state."""
    bound = spec.bind(hp, p0)
    state = spec.init(p0, bound)
    p, out = p0, []
    for g in grads:
        p, state = spec.update(p, g, state, bound)
        out.append(p)
    return out, state

