"""The race: configs x starts x steps as one array program -> RaceResult."""

from .engine import MAX_STEPS, Cancelled, Racer, race
from .result import RaceResult

__all__ = ["MAX_STEPS", "Cancelled", "RaceResult", "Racer", "race"]
