"""Optional packages, imported only when a feature needs them, with a one-line error naming the
extra to install (``optarena --help`` and ``import optarena`` never import them)."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

EXPORT = "pip install 'optarena[export]'"
BENCH = "pip install 'optarena[bench]'"


def need(module: str, hint: str = EXPORT, purpose: str = "this export") -> ModuleType:
    """Import ``module`` or raise a one-line ``MissingExtraError`` (an ImportError) saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{module} is needed for {purpose}: {hint}") from None
