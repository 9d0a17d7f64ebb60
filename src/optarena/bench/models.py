"""The bench's networks and generated data, built from the JSON a workload's config holds.

A model is a list of layers, each ``[kind, *sizes]`` (``LAYERS``): the config names every layer and
size, ``build(layers, seed)`` makes exactly that ``torch.nn.Sequential`` (torch's default
initialisation after ``torch.manual_seed(seed)``), and ``parameter_count(layers)`` counts its
weights from the sizes alone, without torch. The MLP and CNN layers are those of
``optarena.nn.models.build`` (same modules, same order: the same initial weights for a seed).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import UsageError

Layer = Sequence[Any]

#: kind -> (what its sizes are, its parameter count from them)
LAYERS: dict[str, tuple[str, Any]] = {
    "linear": ("in, out", lambda i, o: i * o + o),
    "conv2d": ("in, out, kernel, padding", lambda i, o, k, p: o * i * k * k + o),
    "gru": ("in, hidden: a GRU over the sequence; its output is the last hidden state",
            lambda i, h: 3 * (h * i + h * h + 2 * h)),
    "unflatten": ("channels, height, width: (B, c*h*w) -> (B, c, h, w)", lambda *_: 0),
    "maxpool2d": ("kernel", lambda k: 0),
    "flatten": ("", lambda: 0),
    "tanh": ("", lambda: 0),
    "relu": ("", lambda: 0),
}


def parameter_count(layers: Sequence[Layer]) -> int:
    """The number of trained weights of ``build(layers)``, from the sizes alone."""
    return sum(int(LAYERS[kind][1](*sizes)) for kind, *sizes in layers)


def build(layers: Sequence[Layer], seed: int) -> Any:
    """A fresh ``torch.nn.Sequential`` of ``layers``; the same seed gives the same initial weights.
    It reseeds torch's global generator (as ``optarena.nn.models.build`` does): call it inside
    ``torch.random.fork_rng`` to leave the caller's stream alone."""
    import torch

    nn = torch.nn

    class LastGRU(nn.Module):  # (B, L) or (B, L, F) -> (B, hidden): the state after the last element
        def __init__(self, n_in: int, hidden: int) -> None:
            super().__init__()
            self.gru = nn.GRU(n_in, hidden, batch_first=True)

        def forward(self, x: Any) -> Any:
            return self.gru(x.unsqueeze(-1) if x.dim() == 2 else x)[1][-1]

    make: dict[str, Callable[..., Any]] = {
        "linear": nn.Linear, "conv2d": lambda i, o, k, p: nn.Conv2d(i, o, k, padding=p), "gru": LastGRU,
        "unflatten": lambda c, h, w: nn.Unflatten(1, (c, h, w)), "maxpool2d": nn.MaxPool2d, "flatten": nn.Flatten,
        "tanh": nn.Tanh, "relu": nn.ReLU}
    for i, (kind, *_) in enumerate(layers):
        if kind not in make:
            raise UsageError(f"layers[{i}]: unknown layer {kind!r}; valid: {', '.join(LAYERS)}", field=f"layers[{i}]",
                             allowed=list(LAYERS))
    torch.manual_seed(seed)
    return nn.Sequential(*(make[kind](*sizes) for kind, *sizes in layers))


def adding(length: int, n: int, seed: int = 1234) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber, Long short-term memory, 1997, experiment 4):
    ``n`` sequences of ``length`` steps, each step a pair (value ~ U(0, 1), marker); one marker in
    the first half, one in the second (uniformly); the target is the sum of the two marked values. Always
    answering 1 (the mean) scores a mean squared error of 1/6. Drawn once from a generator seeded
    ``seed``; the first n/5 sequences validate, the rest train: (x_train, y_train, x_val, y_val),
    x float32 (n, length, 2), y float32 (n, 1)."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, length))
    marks = np.zeros((n, length))
    rows = np.arange(n)
    marks[rows, rng.integers(0, length // 2, n)] = 1.0
    marks[rows, rng.integers(length // 2, length, n)] = 1.0
    x = np.stack([values, marks], -1).astype(np.float32)
    y = (values * marks).sum(1, keepdims=True).astype(np.float32)
    n_val = n // 5
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def layers_text(layers: Sequence[Layer]) -> str:
    """``layers`` in a line: "linear(64, 64) > tanh > linear(64, 10)"."""
    return " > ".join(f"{kind}({', '.join(map(str, sizes))})" if sizes else kind for kind, *sizes in layers)
