"""Optional packages for exporting, imported only when an export needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA = "pip install 'optarena[export]'"


def need(module: str, hint: str = EXTRA) -> ModuleType:
    """Import ``module`` or raise a one-line ImportError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{module} is needed for this export: {hint}") from None
