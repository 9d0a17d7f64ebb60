"""The one table of landscapes: name -> Landscape, or a factory for parameterised ones.

Fixed surfaces are stored as built; parameterised ones (``ill_conditioned``) as a factory plus a
slider schema ``{param: {"default", "min", "max"}}``. ``get`` validates names and parameter names;
the factory validates values. Errors are ``optarena.errors.UsageError``s whose ``field`` is relative
to a landscape reference (``name``, ``params.kappa``, ``formula``, ``window``).
"""

from __future__ import annotations

import copy
import difflib
import inspect
from typing import Any, Callable

from ..errors import UnknownNameError, UsageTypeError
from . import classic, nd, quadratic
from ._base import Landscape
from .nd import NDLandscape

#: A landscape of the plane (``Landscape``) or of any dimension (``NDLandscape``): what ``get`` gives.
AnyLandscape = Landscape | NDLandscape
Factory = Callable[..., AnyLandscape]
Schema = dict[str, dict[str, Any]]

DEFAULT = "quadratic"

_ENTRIES: dict[str, Landscape | Factory] = {}
_SCHEMAS: dict[str, Schema] = {}
_BEYOND: set[str] = set()  # names of landscapes whose points have more than two coordinates
_UNLISTED: set[str] = set()  # names resolvable (a saved race replays) but in no listing: building one costs


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def _signature_schema(factory: Factory) -> Schema:
    """Slider schema from the factory's keyword defaults (no bounds known)."""
    out: Schema = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TypeError(f"landscape factory parameter {p.name!r} needs a default")
        out[p.name] = {"default": p.default, "min": None, "max": None}
    return out


def register(item: Landscape | Factory, *, schema: Schema | None = None, replace: bool = False,
             name: str | None = None, dim: int | None = None, listed: bool = True) -> Landscape | Factory:
    """Add a Landscape, or a factory ``(**params) -> Landscape | NDLandscape`` whose defaults give
    its name (or give ``name`` and ``dim``, "more than 2" as any number above 2, when building one
    costs: a dataset's is loaded).

    A factory's ``schema`` defaults to its ``params_schema`` attribute, else to its signature.
    ``listed=False``: ``get`` and ``resolve`` find it, ``names()`` never lists it (the faces that
    list landscapes build each one they list: a network's surface would train a network).
    """
    sch: Schema
    if isinstance(item, Landscape):
        name, sch, dim = item.name, {}, 2
    elif callable(item):
        if name is None or dim is None:
            built = item()
            name, dim = built.name, built.dim
        sch = schema or getattr(item, "params_schema", None) or _signature_schema(item)
    else:
        raise TypeError(f"register() takes a Landscape or a factory, got {type(item).__name__}")
    key = _key(name)
    if key in _ENTRIES and not replace:
        raise ValueError(f"landscape {key!r} is already registered")
    _ENTRIES[key] = item
    _SCHEMAS[key] = dict(sch)
    _BEYOND.discard(key)
    _UNLISTED.discard(key)
    if dim != 2:
        _BEYOND.add(key)
    if not listed:
        _UNLISTED.add(key)
    return item


register(quadratic.QUADRATIC)
register(quadratic.ill_conditioned, schema=quadratic.ILL_CONDITIONED_SCHEMA)
for _item in (quadratic.BANANA, *classic.ALL):
    register(_item)
for _name, _factory in nd.FACTORIES.items():
    register(_factory, name=_name, dim=3)  # any dimension but the plane's (least_squares would load its data)


def names(every: bool = False) -> list[str]:
    """Registered names of the plane's landscapes, in registration order (the default first);
    ``every``: those of any dimension too (``NDLandscape``: N-D, data and matrix landscapes)."""
    return [k for k in _ENTRIES if k not in _UNLISTED and (every or k not in _BEYOND)]


def _lookup(name: str) -> str:
    key = _key(name)
    if key in _ENTRIES:
        return key
    close = difflib.get_close_matches(key, list(_ENTRIES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    listed = names(every=True)  # those a face lists (a network's surface is named by its own option)
    raise UnknownNameError(f"unknown landscape {name!r}{hint} valid: {', '.join(listed)}", field="name",
                           allowed=listed)


def get(name: str = DEFAULT, **params: float) -> AnyLandscape:
    """The landscape ``name`` (case-insensitive); parameterised ones take keyword ``params``."""
    key = _lookup(name)
    entry = _ENTRIES[key]
    allowed = _SCHEMAS[key]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        ok = ", ".join(allowed) if allowed else "none (it takes no parameters)"
        raise UsageTypeError(f"landscape {key!r} got unknown parameter(s) "
                             f"{', '.join(map(repr, unknown))}; allowed: {ok}", field=f"params.{unknown[0]}",
                             allowed=list(allowed))
    if isinstance(entry, Landscape):
        return entry
    return entry(**params)


def params_schema(name: str) -> Schema:
    """``{param: {"default", "min", "max"}}`` for sliders; ``{}`` for fixed landscapes."""
    return copy.deepcopy(_SCHEMAS[_lookup(name)])
