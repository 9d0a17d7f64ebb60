"""Datasets that need no download: scikit-learn's bundled ones and two synthetic ones.

``load(name, seed)`` returns standardised float32 features, integer labels and a fixed
train/validation split (80/20, stratified by a seeded permutation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnknownNameError
from . import _deps


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None = None  # digits: 8x8, for the CNN

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    return np.stack([x, y], 1) + rng.normal(0, 0.15, (n, 2)), upper.astype(np.int64)


def _spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    label = rng.integers(0, 2, n)
    r = rng.uniform(0.1, 1.0, n)
    angle = 3 * np.pi * r + np.pi * label
    pts = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    return pts + rng.normal(0, 0.03, (n, 2)), label.astype(np.int64)


def _sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    ds = _deps.sklearn_datasets()
    loader = {"digits": ds.load_digits, "breast_cancer": ds.load_breast_cancer, "wine": ds.load_wine,
              "iris": ds.load_iris}[name]
    bunch = loader()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


DATASETS = ("digits", "breast_cancer", "wine", "iris", "moons", "spirals")


def load(name: str, seed: int = 0) -> Dataset:
    """The dataset ``name`` (one of ``DATASETS``), split by ``seed``."""
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}", field="dataset", allowed=list(DATASETS))
    if name in ("moons", "spirals"):
        x, y = (_moons if name == "moons" else _spirals)(1000, np.random.default_rng(1234))  # fixed data
    else:
        x, y = _sklearn(name)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_val = len(y) // 5
    val, train = perm[:n_val], perm[n_val:]
    mean, std = x[train].mean(0), x[train].std(0)
    std[std == 0] = 1.0  # constant pixels in digits
    z = ((x - mean) / std).astype(np.float32)
    return Dataset(name, z[train], y[train], z[val], y[val], int(y.max()) + 1,
                   (8, 8) if name == "digits" else None)
