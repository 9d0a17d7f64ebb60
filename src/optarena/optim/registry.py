"""The one table of optimizers: name -> OptimizerSpec. Tests, CLI, web and benchmarks read it.

Adding an optimizer: one file with its SPEC, one line in ``_BUILTIN`` (or ``register`` at run time).
"""

from __future__ import annotations

import difflib

from . import adadelta, adagrad, adam, adamax, adamw, lion, nadam, radam, rmsprop, sgd
from ._spec import OptimizerSpec

_BUILTIN: tuple[OptimizerSpec, ...] = (
    sgd.SGD_SPEC, sgd.MOMENTUM_SPEC, adam.SPEC, adamw.SPEC, nadam.SPEC, radam.SPEC,
    rmsprop.SPEC, adagrad.SPEC, adadelta.SPEC, adamax.SPEC, lion.SPEC,
)

_REGISTRY: dict[str, OptimizerSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: OptimizerSpec, *, replace: bool = False) -> OptimizerSpec:
    """Add an optimizer to the registry (and so to the CLI, the web app and the tests)."""
    key = spec.name.lower()
    if not replace and (key in _REGISTRY or key in _ALIASES):
        raise ValueError(f"optimizer {spec.name!r} is already registered")
    _REGISTRY[key] = spec
    for alias in spec.aliases:
        _ALIASES[alias.lower()] = key
    return spec


for _spec in _BUILTIN:
    register(_spec)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> OptimizerSpec:
    """The spec for ``name`` (case-insensitive, aliases allowed); a ValueError lists the valid ones."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY) + list(_ALIASES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown optimizer {name!r}{hint} valid: {', '.join(_REGISTRY)}")


def all_specs() -> list[OptimizerSpec]:
    return list(_REGISTRY.values())
