"""The API's request models: they enforce every limit (``limits``, which the page reads from
GET /api/limits), documented in /openapi.json.

Numbers are strict: ``true`` is not 1 (``"steps": true`` would race one step) and an integer field
takes no 5.0. Hyperparameters keep booleans (``nesterov``); every other number is ``Real``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from ..landscapes.formula import MAX_TOKENS
from .limits import (
    COORD,
    MAX_BATCH,
    MAX_CLIP,
    MAX_DIM,
    MAX_EPOCHS,
    MAX_FORMULA,
    MAX_GRID,
    MAX_MAP,
    MAX_MAP_WORK,
    MAX_ND_WORK,
    MAX_NOISE,
    MAX_PCA_WORK,
    MAX_RACERS,
    MAX_RUNS,
    MAX_SEED,
    MAX_SEEDS,
    MAX_STARTS,
    MAX_STEPS,
    MAX_TOLERANCE,
    MAX_TRAIN_RACERS,
    MIN_BATCH,
    MIN_GRID,
    MIN_MAP,
)

Real = Annotated[float, Strict()]
Int = Annotated[int, Strict()]
Number = Union[bool, Real]


class LandscapeIn(BaseModel):
    """A built-in landscape by ``name`` (with ``params``) or a typed ``formula``."""

    model_config = ConfigDict(extra="forbid")
    name: Optional[str] = Field(None, max_length=40, description="registry name, see GET /api/landscapes")
    params: dict[str, Real] = Field(default_factory=dict, max_length=8, description="e.g. {kappa: 50, theta: 30}")
    formula: Optional[str] = Field(
        None, min_length=1, max_length=MAX_FORMULA,
        description=f"f(x, y), e.g. x**2 + 10*y**2; at most {MAX_FORMULA} characters and {MAX_TOKENS} tokens")
    window: Optional[tuple[tuple[Real, Real], tuple[Real, Real]]] = Field(
        None, description="((xmin, xmax), (ymin, ymax)) for a formula")

    @model_validator(mode="after")
    def _one_of(self) -> "LandscapeIn":
        if (self.name is None) == (self.formula is None):
            raise ValueError("give exactly one of name or formula")
        if self.window is not None:
            for lo, hi in self.window:
                if not (abs(lo) <= COORD and abs(hi) <= COORD and lo < hi):
                    raise ValueError(f"window: each range must have min < max within +-{COORD:g}")
        return self

    def ref(self) -> dict[str, Any]:
        if self.formula is not None:
            return {"formula": self.formula, "window": self.window}
        return {"name": self.name, "params": dict(self.params)}


class RacerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    optimizer: str = Field(..., min_length=1, max_length=40, description="registry name, see GET /api/optimizers")
    hyperparameters: dict[str, Number] = Field(default_factory=dict, max_length=16)
    schedule: Optional[dict[str, Union[str, Real]]] = Field(
        None, max_length=6, description="{name: constant|step|exponential|cosine|warmup_cosine, ...fields}")
    label: Optional[str] = Field(None, max_length=60)


def _default_racers() -> list[RacerIn]:
    return [RacerIn(optimizer="sgd"), RacerIn(optimizer="momentum"), RacerIn(optimizer="adam")]


class RaceIn(BaseModel):
    """A race: defaults reproduce the article's demo (quadratic, SGD, momentum, Adam, 100 steps)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"description": (
        "A race: defaults reproduce the article's demo (quadratic, SGD, momentum, Adam, 100 steps). "
        f"Limits: at most {MAX_RACERS} racers, {MAX_STARTS} starts, {MAX_RUNS} runs (racers x starts), "
        f"{MAX_STEPS:,} steps. Beyond the plane (a landscape of d > 2 coordinates): d at most {MAX_DIM:,} and "
        f"racers x starts x (steps + 1) x d at most {MAX_ND_WORK:,} (for the PCA view also that x min(racers x "
        f"starts x (steps + 1), d) at most {MAX_PCA_WORK:,}); the landscape's default start, and the "
        "answer's positions on the plane `view` names, with that plane in its `view` object.")})
    landscape: LandscapeIn = Field(default_factory=lambda: LandscapeIn(name="quadratic"))
    racers: list[RacerIn] = Field(default_factory=_default_racers, min_length=1, max_length=MAX_RACERS)
    starts: Optional[list[tuple[Real, Real]]] = Field(None, min_length=1, max_length=MAX_STARTS)
    view: Optional[Literal["pca", "random", "coordinates"]] = Field(
        None, description="beyond 2-D only: the plane the paths are drawn on: the paths' top two principal directions "
                          "(pca, the default), two random filter-normalised directions (random, seed 0) or two "
                          "coordinates (coordinates, with view_coordinates)")
    view_coordinates: Optional[tuple[Int, Int]] = Field(
        None, description="with view 'coordinates': the two coordinates i != j, from 0 to d - 1 (default 0, 1)")
    steps: Int = Field(100, ge=1, le=MAX_STEPS)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    noise: Real = Field(0.0, ge=0.0, le=MAX_NOISE)
    clip: Optional[Real] = Field(None, gt=0.0, le=MAX_CLIP)
    tolerance: Real = Field(1e-4, gt=0.0, le=MAX_TOLERANCE)

    @model_validator(mode="after")
    def _limits(self) -> "RaceIn":
        for x, y in self.starts or []:
            if not (abs(x) <= COORD and abs(y) <= COORD):
                raise ValueError(f"starts: coordinates must be finite within +-{COORD:g}")
        runs = len(self.racers) * len(self.starts or [0])
        if runs > MAX_RUNS:
            raise ValueError(f"racers x starts = {runs} is above {MAX_RUNS}")
        return self


class AnatomyIn(BaseModel):
    """One step of one racer of a race, explained (``arena.anatomy``)."""

    model_config = ConfigDict(extra="forbid")
    race: RaceIn = Field(default_factory=RaceIn, description="the race, exactly as POST /api/race takes it")
    racer: Int = Field(0, ge=0, lt=MAX_RACERS, description="index into race.racers")
    start: Int = Field(0, ge=0, lt=MAX_STARTS, description="index into race.starts")
    step: Int = Field(0, ge=0, lt=MAX_STEPS, description="the move from position step to step + 1 (below race.steps)")


class GridIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    landscape: LandscapeIn = Field(default_factory=lambda: LandscapeIn(name="quadratic"))
    n: Int = Field(120, ge=MIN_GRID, le=MAX_GRID, description="grid points per axis")


class FormulaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formula: str = Field(..., max_length=MAX_FORMULA,
                         description=f"f(x, y); at most {MAX_FORMULA} characters and {MAX_TOKENS} tokens")


class TrainIn(BaseModel):
    """A training race (the article's three optimizers on digits by default)."""

    model_config = ConfigDict(extra="forbid")
    dataset: Literal["digits", "breast_cancer", "wine", "iris", "moons", "spirals"] = "digits"
    model: Literal["logreg", "mlp", "cnn"] = "mlp"
    racers: list[RacerIn] = Field(default_factory=_default_racers, min_length=1, max_length=MAX_TRAIN_RACERS)
    epochs: Int = Field(10, ge=1, le=MAX_EPOCHS)
    seeds: Int = Field(1, ge=1, le=MAX_SEEDS)
    batch_size: Int = Field(32, ge=MIN_BATCH, le=MAX_BATCH)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    optimizer: str = Field(..., min_length=1, max_length=40)
    hyperparameters: dict[str, Number] = Field(default_factory=dict, max_length=16)
    schedule: Optional[dict[str, Union[str, Real]]] = Field(
        None, max_length=6, description="the racer's schedule, emitted as the framework's scheduler")
    framework: Literal["torch", "keras", "optax"] = "torch"


class AxisIn(BaseModel):
    """One axis of a stability map: a numeric hyperparameter from ``lo`` to ``hi`` in ``n`` cells."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=40, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                      description="a hyperparameter of the racer's optimizer (not x or y: a grid of starts is a basin map)")
    lo: Real = Field(..., ge=-COORD, le=COORD)
    hi: Real = Field(..., ge=-COORD, le=COORD)
    n: Int = Field(40, ge=2, le=MAX_MAP)
    log: bool = Field(False, description="space the values evenly in log10 (lo and hi must be > 0)")

    @model_validator(mode="after")
    def _not_a_start(self) -> "AxisIn":
        if self.name in ("x", "y"):
            raise ValueError("x and y name the start point: a grid of starts is a basin map (give basins)")
        return self


class SweepIn(BaseModel):
    """A map for one racer on the race's landscape: a stability map over two of its
    hyperparameters (``x``, ``y``) from one start, or a basin map over an ``basins`` x ``basins``
    grid of starts across the window."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"description": (
        "A stability map over two hyperparameters of one racer (x, y) from one start, or a basin map over a "
        f"basins x basins grid of starts. Limits: at most {MAX_MAP} cells a side and {MAX_MAP_WORK:,} cells x steps.")})
    landscape: LandscapeIn = Field(default_factory=lambda: LandscapeIn(name="quadratic"))
    racer: RacerIn = Field(default_factory=lambda: RacerIn(optimizer="momentum"))
    x: Optional[AxisIn] = None
    y: Optional[AxisIn] = None
    basins: Optional[Int] = Field(None, ge=MIN_MAP, le=MAX_MAP, description="cells per side of a grid of starts")
    start: Optional[tuple[Real, Real]] = Field(None, description="the start of a stability map (default: the landscape's)")
    steps: Int = Field(200, ge=1, le=MAX_STEPS)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    noise: Real = Field(0.0, ge=0.0, le=MAX_NOISE)
    clip: Optional[Real] = Field(None, gt=0.0, le=MAX_CLIP)
    tolerance: Real = Field(1e-4, gt=0.0, le=MAX_TOLERANCE)
    objective: Literal["final_loss", "best_loss", "steps_to_tolerance"] = "final_loss"

    @model_validator(mode="after")
    def _one_map(self) -> "SweepIn":
        if self.basins is None:
            if self.x is None or self.y is None:
                raise ValueError("give x and y (a stability map) or basins (a basin map)")
            if self.x.name == self.y.name:
                raise ValueError("x and y must be different hyperparameters")
            cells = self.x.n * self.y.n
        else:
            if self.x is not None or self.y is not None or self.start is not None:
                raise ValueError("a basin map takes basins only: its starts are the grid (no x, y or start)")
            cells = self.basins ** 2
        if self.start is not None and not all(abs(v) <= COORD for v in self.start):
            raise ValueError(f"start: coordinates must be finite within +-{COORD:g}")
        if cells * self.steps > MAX_MAP_WORK:
            raise ValueError(f"cells x steps = {cells * self.steps:,} is above {MAX_MAP_WORK:,}")
        return self
