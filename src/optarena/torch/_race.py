"""Any ``torch.optim.Optimizer`` class as an arena racer with the article's ``update`` method."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_TYPES: dict[str, type["TorchRacer"]] = {}


class TorchRacer:
    """``update(params, gradients) -> new params`` by ``optimizer_class([p], **kwargs).step()``.

    The position lives in one float64 tensor ``p``; each call copies ``params`` into it, sets
    ``p.grad = gradients`` and steps, so the racer follows whatever position the arena hands it.
    The tensor and the torch optimizer are made on the first call: an unused racer is just a
    class and its keyword arguments, so the arena's ``copy.deepcopy`` (one copy per run) is cheap.
    Optimizers whose ``step`` needs a closure (LBFGS) cannot race: the arena gives gradients only.
    """

    def __init__(self, optimizer_class: type[torch.optim.Optimizer], **kwargs: Any) -> None:
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
            raise TypeError(f"racer: expected a torch.optim.Optimizer subclass, got {optimizer_class!r}")
        self.optimizer_class = optimizer_class
        self.kwargs = kwargs
        self.param: torch.Tensor | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def update(self, params: Any, gradients: Any) -> np.ndarray:
        x = np.array(params, dtype=np.float64)  # a copy: the caller's array is never written
        g = torch.tensor(np.asarray(gradients, dtype=np.float64).reshape(x.shape))
        if self.param is None or self.optimizer is None or tuple(self.param.shape) != x.shape:
            self.param = torch.zeros(x.shape, dtype=torch.float64, requires_grad=True)
            self.optimizer = self.optimizer_class([self.param], **self.kwargs)
        with torch.no_grad():
            self.param.copy_(torch.from_numpy(x))
        self.param.grad = g
        self.optimizer.step()
        return self.param.detach().numpy().copy()

    def __reduce__(self) -> tuple:
        # rebuilt through racer() so the per-class subclass (its name is the race label) comes back
        return (racer, (self.optimizer_class,), self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"racer({self.optimizer_class.__module__}.{self.optimizer_class.__qualname__}{', ' if args else ''}{args})"


def racer(optimizer_class: type[torch.optim.Optimizer], **kwargs: Any) -> TorchRacer:
    """A racer stepping ``optimizer_class(params, **kwargs)``, labelled ``<package>.<Class>``
    (``torch.Adam``) in a race: the arena labels custom racers by their type's name."""
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise TypeError(f"racer: expected a torch.optim.Optimizer subclass, got {optimizer_class!r}")
    key = f"{optimizer_class.__module__}.{optimizer_class.__qualname__}"
    if key not in _TYPES:
        label = f"{optimizer_class.__module__.split('.')[0]}.{optimizer_class.__name__}"
        _TYPES[key] = type(label, (TorchRacer,), {"__module__": __name__})
    return _TYPES[key](optimizer_class, **kwargs)
