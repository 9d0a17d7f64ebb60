"""Measurement: sweeps over hyperparameters and starts (fair comparisons, stability maps, basin
maps), run here or on a Dask cluster. See ``sweep``."""

from .axes import Axis, AxisError
from .sweeps import DIVERGED, ELSEWHERE, OBJECTIVES, SweepResult, sweep, sweep_kwargs

__all__ = ["Axis", "AxisError", "DIVERGED", "ELSEWHERE", "OBJECTIVES", "SweepResult", "sweep", "sweep_kwargs"]
