"""optarena: optimizers identical to torch.optim, racing on loss landscapes.

    >>> import optarena as oa
    >>> oa.Adam(learning_rate=0.1).update([3.0], [6.0])
    [2.9...]
"""

from __future__ import annotations

from .optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    NAdam,
    Optimizer,
    OptimizerSpec,
    RAdam,
    RMSprop,
    SGDMomentum,
    optimizer_class,
    register,
    schedules,
)
from .optim import names as optimizer_names

__version__ = "0.1.0"

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Lion", "NAdam", "Optimizer",
    "OptimizerSpec", "RAdam", "RMSprop", "SGDMomentum", "__version__", "optimizer_class",
    "optimizer_names", "register", "schedules",
]
