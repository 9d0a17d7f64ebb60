"""Real networks: offline datasets, small models, training races and the article's table measured.

Needs PyTorch (``pip install 'optarena[torch]'``) and, for the real datasets, scikit-learn.
"""

from .data import DATASETS, load
from .models import MODELS, build
from .train import TrainResult, train_race

__all__ = ["DATASETS", "MODELS", "TrainResult", "build", "load", "train_race"]
