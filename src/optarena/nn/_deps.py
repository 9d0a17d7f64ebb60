"""Optional imports for the neural-network faces, with one-line messages naming the extra."""

from __future__ import annotations

from typing import Any

from ..errors import MissingExtraError


def torch() -> Any:
    try:
        import torch as t
    except ImportError:
        raise MissingExtraError("training races need PyTorch: pip install 'optarena[torch]'") from None
    return t


def sklearn_datasets() -> Any:
    try:
        from sklearn import datasets
    except ImportError:
        raise MissingExtraError("this dataset ships with scikit-learn: pip install 'optarena[nn]'") from None
    return datasets
