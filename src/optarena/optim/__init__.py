"""The rules: pure (init, update) pairs over arrays (``rules/``, one file each), the registry
that finds them (and installed plug-ins), schedules, and the article's stateful classes.

Each registered optimizer's class is an attribute here by its class name (``optim.Adam``,
``optim.SGDMomentum``, a plug-in's too), made on first use by ``optimizer_class``.
"""

from typing import Any as _Any

from . import registry, schedules
# the building blocks of a rule file (a plug-in's too): see CONTRIBUTING.md
from .anatomy import Anatomy, Line, Term
from ._spec import (
    FAMILIES, MAXIMIZE, NEEDS, SCOPES, TORCH_PAIRS, Hyper, OptimizerSpec, Reduction, Reference, TorchClass, beta_hyper,
    bias_correction, cell_adam_moments, cell_grad, cell_helper, decay_and_grad, decay_decoupled, eps_hyper, expand,
    is_batched, lerp, lr_hyper, parse_signature, per_run, prepare_grad, run_norm, run_size, run_sum, sqrt, torch_arguments, torch_lerp,
    wd_hyper, zeros_state,
)
from .registry import get, names, register
from .stateful import Optimizer, class_names, module_attribute, optimizer_class


def __getattr__(name: str) -> _Any:
    return module_attribute(__name__, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(class_names()))


__all__ = [
    "Anatomy", "Line", "Term", "FAMILIES", "Hyper", "MAXIMIZE", "NEEDS", "Optimizer", "OptimizerSpec", "Reduction", "Reference", "SCOPES",
    "TORCH_PAIRS", "TorchClass", "parse_signature", "per_run", "run_norm", "run_size", "run_sum", "torch_lerp",
    "beta_hyper", "bias_correction", "cell_adam_moments", "cell_grad", "cell_helper", "decay_and_grad",
    "decay_decoupled", "eps_hyper", "expand", "get", "is_batched", "lerp", "lr_hyper", "names",
    "optimizer_class", "prepare_grad", "register", "registry", "schedules", "sqrt", "torch_arguments",
    "wd_hyper", "zeros_state",
]
__all__ += [s.class_name for s in registry.builtin_specs()]  # optim.Adam ...: made on first use
