"""The rules: pure (init, update) pairs over arrays, a registry, schedules, the stateful classes."""

from . import registry, schedules
from ._spec import Hyper, OptimizerSpec
from .registry import get, names, register
from .stateful import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Lion, NAdam, Optimizer, RAdam, RMSprop, SGDMomentum, optimizer_class

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Hyper", "Lion", "NAdam", "Optimizer",
    "OptimizerSpec", "RAdam", "RMSprop", "SGDMomentum", "get", "names", "optimizer_class", "register",
    "registry", "schedules",
]
