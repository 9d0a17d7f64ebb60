"""The web arena's limits, in one place: the request schemas enforce them, and the page reads them
from ``GET /api/limits`` (``as_json``) to bound its fields; neither writes a number of its own."""

from __future__ import annotations

from typing import Any

MAX_STEPS = 5000  # steps of a race or a map
MAX_RACERS = 12
MAX_STARTS = 64
MAX_RUNS = 256  # racers x starts
MIN_GRID, MAX_GRID = 10, 300  # grid points per axis of a landscape's picture
MAX_FORMULA = 500  # characters of a typed formula
COORD = 1e6  # starts and windows lie within +-COORD
MIN_MAP, MAX_MAP = 10, 120  # cells per side of a basin map (a stability map's axes: 2 to MAX_MAP)
MAX_MAP_WORK = 4_000_000  # cells x steps (well under a second with the compiled race loop)
MAX_SEED = 2**31 - 1
MAX_NOISE = 1e3  # the gradient noise's standard deviation
MAX_CLIP = 1e6  # gradient clipping: > 0 and at most this
MAX_TOLERANCE = 1e6  # > 0 and at most this
# a race beyond the plane (an N-D, data or matrix landscape): its d and the positions it keeps
MAX_DIM = 10_000  # coordinates of the landscape (the CLI races up to 10^7)
MAX_ND_WORK = 4_000_000  # racers x starts x (steps + 1) x d: the recorded coordinates the projected view takes apart
#: the PCA plane's SVD of the recorded points: points x d x min(points, d), points = racers x starts x (steps + 1)
MAX_PCA_WORK = 2_000_000_000
VIEW_GRID = 120  # points a side of a projected view's contours, fewer for a large d (projection.grid_size)
# a training race
MAX_TRAIN_RACERS = 6
MAX_EPOCHS = 50
MAX_SEEDS = 3
MIN_BATCH, MAX_BATCH = 8, 1024


def as_json() -> dict[str, Any]:
    """The limits as the page reads them: ``{field: {"min": .., "max": ..}}``."""
    return {
        "steps": {"min": 1, "max": MAX_STEPS},
        "racers": {"min": 1, "max": MAX_RACERS},
        "starts": {"min": 1, "max": MAX_STARTS},
        "runs": {"max": MAX_RUNS},
        "grid": {"min": MIN_GRID, "max": MAX_GRID},
        "formula": {"max": MAX_FORMULA},
        "coordinate": {"min": -COORD, "max": COORD},
        "seed": {"min": 0, "max": MAX_SEED},
        "noise": {"min": 0.0, "max": MAX_NOISE},
        "clip": {"min": 0.0, "max": MAX_CLIP, "exclusive_min": True},
        "tolerance": {"min": 0.0, "max": MAX_TOLERANCE, "exclusive_min": True},
        "map_cells": {"min": MIN_MAP, "max": MAX_MAP},
        "map_work": {"max": MAX_MAP_WORK},
        "dim": {"min": 2, "max": MAX_DIM},
        "nd_work": {"max": MAX_ND_WORK},
        "pca_work": {"max": MAX_PCA_WORK},
        "view_grid": {"max": VIEW_GRID},
        "train_racers": {"min": 1, "max": MAX_TRAIN_RACERS},
        "epochs": {"min": 1, "max": MAX_EPOCHS},
        "seeds": {"min": 1, "max": MAX_SEEDS},
        "batch_size": {"min": MIN_BATCH, "max": MAX_BATCH},
    }
