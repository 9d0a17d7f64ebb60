"""optarena: optimizers identical to torch.optim, racing on loss landscapes.

    >>> import optarena as oa
    >>> oa.Adam(learning_rate=0.1).update([3.0], [6.0])
    [2.9...]
"""

from __future__ import annotations

from typing import Any as _Any

from .optim import Optimizer, OptimizerSpec, optimizer_class, register, schedules
from .optim import names as optimizer_names
from .optim import registry as _registry

__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:
    """``optarena.Adam``, ``optarena.SGDMomentum``: the article's class of every registered optimizer."""
    from .optim.stateful import module_attribute

    return module_attribute(__name__, name)


def __dir__() -> list[str]:
    from .optim.stateful import class_names

    return sorted(set(globals()) | set(class_names()))


__all__ = ["Optimizer", "OptimizerSpec", "__version__", "optimizer_class", "optimizer_names", "register", "schedules"]
__all__ += [s.class_name for s in _registry.builtin_specs()]  # optarena.Adam ...: made on first use
