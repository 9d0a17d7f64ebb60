"""The one table of optimizers: name -> OptimizerSpec. Tests, CLI, web and benchmarks read it.

Adding an optimizer is one file: a module in ``optim/rules/`` with a module-level ``SPEC`` (or
``SPECS``, a tuple) is found there. A separate package adds one with no edit here, through the
entry-point group ``optarena.optimizers`` (in its pyproject: ``[project.entry-points."optarena.optimizers"]
signsgd = "mypkg.signsgd:SPEC"``); the entry point may name a spec, a tuple of specs, or a module
with ``SPEC``/``SPECS``. ``register`` adds one at run time. Plug-ins are loaded on the first lookup;
one that fails to load or clashes with a name already taken is skipped with a warning on the
``optarena`` logger, so a broken package never takes the CLI down.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import pkgutil
from types import ModuleType
from typing import Any, Iterable

from ..errors import UnknownNameError
from ._spec import OptimizerSpec

ENTRY_POINT_GROUP = "optarena.optimizers"
#: The article's three lead every list (the race it starts from); the rest follow by name.
_ARTICLE = ("sgd", "momentum", "adam")
LOG = logging.getLogger("optarena")

_REGISTRY: dict[str, OptimizerSpec] = {}
_ALIASES: dict[str, str] = {}
_ORIGIN: dict[str, str] = {}  # name -> where it came from ("optarena", an entry point, "register")
_plugins_loaded = False


def register(spec: OptimizerSpec, *, replace: bool = False, origin: str = "register") -> OptimizerSpec:
    """Add an optimizer to the registry (and so to the CLI, the web app, the torch bridge and the tests)."""
    if not isinstance(spec, OptimizerSpec):
        raise TypeError(f"register() takes an OptimizerSpec, got {type(spec).__name__}")
    key = spec.name.lower()
    taken = [n for n in (key, *(a.lower() for a in spec.aliases)) if n in _REGISTRY or n in _ALIASES]
    if taken and not replace:
        raise ValueError(f"optimizer {spec.name!r} is already registered" if key in taken
                         else f"optimizer {spec.name!r}: the name {taken[0]!r} is already taken")
    _REGISTRY[key] = spec
    _ORIGIN[key] = origin
    for alias in spec.aliases:
        _ALIASES[alias.lower()] = key
    return spec


def specs_in(obj: Any) -> list[OptimizerSpec]:
    """The specs an entry point or rule module gives: a spec, an iterable of specs, or a module
    with ``SPEC`` / ``SPECS``."""
    if isinstance(obj, OptimizerSpec):
        return [obj]
    if isinstance(obj, ModuleType):
        found = list(getattr(obj, "SPECS", ()))
        if hasattr(obj, "SPEC"):
            found.insert(0, obj.SPEC)
        return found
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        items = list(obj)
        if all(isinstance(s, OptimizerSpec) for s in items):
            return items
    raise TypeError(f"expected an OptimizerSpec, a tuple of them or a module with SPEC/SPECS, got {type(obj).__name__}")


def _builtin_specs() -> list[OptimizerSpec]:
    from . import rules

    found: list[OptimizerSpec] = []
    for info in pkgutil.iter_modules(rules.__path__):
        if not info.name.startswith("_"):
            found += specs_in(importlib.import_module(f"{rules.__name__}.{info.name}"))
    return sorted(found, key=lambda s: (s.name not in _ARTICLE, _ARTICLE.index(s.name) if s.name in _ARTICLE else 0,
                                        s.name))


for _spec in _builtin_specs():
    register(_spec, origin="optarena")


def load_plugins(force: bool = False) -> None:
    """Register the optimizers of installed packages (entry-point group ``optarena.optimizers``)."""
    global _plugins_loaded
    if _plugins_loaded and not force:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            specs = specs_in(ep.load())
        except Exception as exc:  # a broken plug-in is its package's bug, not a reason to stop
            LOG.warning("optimizer plug-in %r (%s) could not be loaded: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
            continue
        for spec in specs:
            if _ORIGIN.get(spec.name.lower()) == f"entry point {ep.value}":
                continue  # loaded already (force=True)
            try:
                register(spec, origin=f"entry point {ep.value}")
            except ValueError as exc:
                LOG.warning("optimizer plug-in %r skipped: %s", ep.name, exc)


def builtin_specs() -> list[OptimizerSpec]:
    """The optimizers optarena ships (without loading plug-ins)."""
    return [s for k, s in _REGISTRY.items() if _ORIGIN[k] == "optarena"]


def names() -> list[str]:
    load_plugins()
    return list(_REGISTRY)


def origin(name: str) -> str:
    """Where optimizer ``name`` came from: "optarena", "entry point pkg.mod:SPEC" or "register"."""
    return _ORIGIN[get(name).name.lower()]


def get(name: str) -> OptimizerSpec:
    """The spec for ``name`` (case-insensitive, aliases allowed); an UnknownNameError lists the valid ones."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    if not _plugins_loaded:
        load_plugins()
        return get(name)
    close = difflib.get_close_matches(key, list(_REGISTRY) + list(_ALIASES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown optimizer {name!r}{hint} valid: {', '.join(_REGISTRY)}", field="optimizer",
                           allowed=list(_REGISTRY))


def by_class_name(class_name: str) -> OptimizerSpec | None:
    """The spec whose article-style class is ``class_name`` (``"SGDMomentum"``), or None."""
    load_plugins()
    return next((s for s in _REGISTRY.values() if s.class_name == class_name), None)


def all_specs() -> list[OptimizerSpec]:
    load_plugins()
    return list(_REGISTRY.values())
