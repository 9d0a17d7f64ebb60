"""The race: a validated ``RacePlan`` (plan.py) run as one array program (engine.py, or the
compiled loop in fused.py) into a ``RaceResult`` (result.py); ``presentation`` gives every face
the same colours and labels for its racers."""

from .engine import Cancelled, choose_engine, race, run
from .plan import MAX_STEPS, RacePlan, Racer
from .result import RaceResult

__all__ = ["MAX_STEPS", "Cancelled", "RacePlan", "RaceResult", "Racer", "choose_engine", "race", "run"]
