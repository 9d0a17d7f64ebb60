"""optarena and PyTorch, both ways.

* ``optarena.torch.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))``: a class for every
  registered optimizer (``optimizer_class(name)`` for ones registered later), a drop-in for the
  torch.optim class of the same rule: its constructor (names, order, defaults; the article's
  ``learning_rate``, ``beta1``, ``beta2``, ``epsilon`` too, as aliases), its param-group keys,
  ``state_dict`` (loadable both ways) and errors, lr schedulers, closures, None grads skipped.
  Real ``torch.optim.Optimizer`` subclasses running optarena's rules in place on the tensors'
  memory. ``capturable=True`` and ``differentiable=True`` are refused.
* ``wrap(obj, params)``: any object with the article's ``update(params, gradients)`` as a torch
  optimizer.
* ``racer(torch.optim.Adam, lr=0.01)``: any torch optimizer class as an arena racer.

Importing this module imports torch; ``import optarena`` alone never does.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
    import torch.optim  # noqa: F401 - a stray folder named torch/ on sys.path has no optim
except ImportError as exc:
    raise ImportError("optarena.torch needs PyTorch: pip install 'optarena[torch]'") from exc

from ..optim import registry
from ._optimizer import Optimizer, Wrapped, optimizer_class, wrap
from ._race import TorchRacer, racer

SGD = optimizer_class("sgd")
SGDMomentum = optimizer_class("momentum")
Adam = optimizer_class("adam")
AdamW = optimizer_class("adamw")
NAdam = optimizer_class("nadam")
RAdam = optimizer_class("radam")
RMSprop = optimizer_class("rmsprop")
Adagrad = optimizer_class("adagrad")
Adadelta = optimizer_class("adadelta")
Adamax = optimizer_class("adamax")
Lion = optimizer_class("lion")
# and any other optimizer registered by the time this module is imported
for _name in registry.names():
    globals()[optimizer_class(_name).__name__] = optimizer_class(_name)

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Lion", "NAdam", "Optimizer", "RAdam",
    "RMSprop", "SGDMomentum", "TorchRacer", "Wrapped", "optimizer_class", "racer", "wrap",
]
