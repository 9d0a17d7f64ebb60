"""Small models for training races: logistic regression, an MLP, and a CNN for digits."""

from __future__ import annotations

from typing import Any

from ..errors import UnknownNameError, UsageError
from . import _deps
from .data import Dataset

MODELS = ("logreg", "mlp", "cnn")


def build(name: str, data: Dataset, seed: int = 0, hidden: int = 64) -> Any:
    """A fresh ``torch.nn.Module`` for ``data``; the same seed gives the same initial weights."""
    torch = _deps.torch()
    nn = torch.nn
    if name not in MODELS:
        raise UnknownNameError(f"unknown model {name!r}; valid: {', '.join(MODELS)}", field="model", allowed=list(MODELS))
    torch.manual_seed(seed)
    if name == "logreg":
        return nn.Linear(data.n_features, data.n_classes)
    if name == "mlp":
        return nn.Sequential(nn.Linear(data.n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                             nn.Linear(hidden, data.n_classes))
    if data.image_shape is None:
        raise UsageError(f"model 'cnn' needs image data (digits), not {data.name!r}", field="model")
    h, w = data.image_shape
    return nn.Sequential(
        nn.Unflatten(1, (1, h, w)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * (h // 2) * (w // 2), data.n_classes),
    )
