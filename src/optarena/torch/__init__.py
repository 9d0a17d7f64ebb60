"""optarena and PyTorch, both ways.

* ``optarena.torch.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))``: a class for every
  registered optimizer (``optimizer_class(name)`` for ones registered later), a drop-in for the
  torch.optim class of the same rule: its constructor (names, order, defaults; the article's
  ``learning_rate``, ``beta1``, ``beta2``, ``epsilon`` too, as aliases), its param-group keys,
  ``state_dict`` (loadable both ways) and errors, lr schedulers, closures, None grads skipped.
  Real ``torch.optim.Optimizer`` subclasses running optarena's rules in place on the tensors'
  memory. ``capturable=True`` and ``differentiable=True`` are refused. ``LBFGS`` is
  torch.optim.LBFGS's class (``step(closure)``); ``SophiaH`` pytorch_optimizer's, its Hessian
  estimate taken through the graph (``loss.backward(create_graph=True)``); Newton is arena only.
* ``wrap(obj, params)``: any object with the article's ``update(params, gradients)`` as a torch
  optimizer.
* ``racer(torch.optim.Adam, lr=0.01)``: any torch optimizer class as an arena racer.

Importing this module imports torch; ``import optarena`` alone never does.
"""

from __future__ import annotations

from typing import Any

try:
    import torch  # noqa: F401
    import torch.optim  # noqa: F401 - a stray folder named torch/ on sys.path has no optim
except ImportError as exc:
    raise ImportError("optarena.torch needs PyTorch: pip install 'optarena[torch]'") from exc

from ..optim import registry
from ._optimizer import Optimizer, Wrapped, optimizer_class, wrap
from ._race import TorchRacer, racer


def __getattr__(name: str) -> Any:
    """``optarena.torch.Adam``: the torch optimizer class of every registered optimizer, by its class name."""
    spec = registry.by_class_name(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return optimizer_class(spec.name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | {s.class_name for s in registry.all_specs()})


__all__ = ["Optimizer", "TorchRacer", "Wrapped", "optimizer_class", "racer", "wrap"]
