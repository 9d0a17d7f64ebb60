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

CASES: list[tuple[str, dict[str, Any]]] = [(s.name, dict(ex)) for s in registry.all_specs() for ex in s.examples]

#: torch.optim's class for each optimizer that has one
TORCH_CLASS = {s.name: s.torch.name for s in registry.all_specs() if s.torch is not None}


def to_torch(hp: dict[str, Any]) -> dict[str, Any]:
    """Our hyperparameter names -> torch.optim keyword arguments (every key given is passed)."""
    rename = {"learning_rate": "lr", "epsilon": "eps"}
    out = {rename.get(k, k): v for k, v in hp.items() if k not in ("beta1", "beta2")}
    if "beta1" in hp:
        out["betas"] = (hp["beta1"], hp["beta2"])
    return out


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
    settings renamed (``beta1``/``beta2`` into torch's ``betas`` pair, the other from the
    reference's default). ``maximize`` is left out for references that have none (optax)."""
    ref = registry.get(name).reference
    assert ref is not None
    kw: dict[str, Any] = dict(ref.fixed)
    betas = ref.kind == "torch" and ("beta1" in explicit or "beta2" in explicit)
    for k, v in explicit.items():
        if betas and k in ("beta1", "beta2"):
            continue
        if k == "maximize" and ref.kind == "optax":
            continue
        kw[ref.rename.get(k, k)] = v
    if betas:
        default = reference_defaults(name)["betas"]
        kw["betas"] = (explicit.get("beta1", default[0]), explicit.get("beta2", default[1]))
    return kw


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, hp = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in hp.items()) if hp else "")
