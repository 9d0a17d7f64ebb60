"""The gallery: every registered optimizer on every built-in landscape, each tuned the same way.

One cell per (optimizer, landscape), computed as follows:

* the search space: the learning rate on a log grid, and, where the optimizer has one and its
  default uses it (default > 0: plain SGD stays plain), ``momentum`` (else ``beta1``) on a short
  list; every other hyperparameter at the optimizer's default;
* a sweep (``measure.sweeps.sweep``) of that grid from the landscape's own starts, with the same
  step budget, noise (off unless asked), seed and clipping (none unless asked) for every cell;
* the best setting by a stated objective (``SweepResult.best``: the median over the starts; a
  diverged run counts as +inf), raced again with trajectories: what the picture draws, divergence
  included (``diverged_at``).

Rules that evaluate the loss several times a step (L-BFGS: ``needs`` "closure") race with
``max_iter=1``, one function-and-gradient evaluation a step, so every cell spends the same
evaluations; each cell also keeps the evaluations its race counted. A cell the race plan refuses
(``RacePlan.build``: Muon on a point, Newton or Sophia without a Hessian) or whose objective the
landscape cannot measure keeps the reason and no race. Pure: settings in, a ``Gallery`` out;
``optarena.export.gallery`` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..arena.engine import race
from ..arena.plan import RacePlan, Racer, landscape_ref
from ..arena.presentation import page_link as link
from ..arena.result import RaceResult
from ..errors import OptarenaError, UsageError
from ..landscapes import Landscape, get, names, planar
from ..optim import FAMILIES, registry
from .axes import Axis
from .sweeps import OBJECTIVES, SweepResult, check_objective, sweep

#: The full gallery's budget and search space.
STEPS = 300
LEARNING_RATES = Axis.range("learning_rate", 1e-6, 10.0, 29, log=True).values  # Goldstein-Price needs 1e-6
BETAS = (0.5, 0.9, 0.99)
#: ``quick``: every optimizer, a few landscapes, a small grid, fewer steps.
QUICK_STEPS = 100
QUICK_LEARNING_RATES = Axis.range("learning_rate", 1e-3, 1.0, 7, log=True).values
QUICK_BETAS = (0.5, 0.9)
QUICK_LANDSCAPES = ("ill_conditioned", "rosenbrock", "rastrigin")
#: The second axis, where an optimizer has it (first found) and its default is > 0.
SECOND_AXES = ("momentum", "beta1")
#: Where ``optarena serve`` listens by default: the cells' links open the race there.
BASE_URL = "http://127.0.0.1:8000"
ENGINE = "numpy"  # one engine for every sweep and race: no compiling, the same bits every run


@dataclass
class Cell:
    """One optimizer on one landscape: the tuned setting and its race, or why there is none."""

    optimizer: str
    landscape: str
    refused: str | None = None
    setting: dict[str, Any] = field(default_factory=dict)  # the tuned values (the sweep's best)
    fixed: dict[str, Any] = field(default_factory=dict)  # what the gallery sets besides (L-BFGS's max_iter)
    value: float = math.nan  # the best setting's objective
    diverged_fraction: float = math.nan  # of the best setting's sweep runs
    race: RaceResult | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """What the cell's racer was given (every other hyperparameter at its default)."""
        return {**self.fixed, **self.setting}

    @property
    def diverged_at(self) -> list[int]:
        """Per start: the step its run diverged at, -1 if it did not (empty when refused)."""
        return [] if self.race is None else [int(v) for v in self.race.diverged_at[0]]

    @property
    def diverged(self) -> bool:
        return any(d >= 0 for d in self.diverged_at)

    @property
    def final_loss(self) -> list[float]:
        return [] if self.race is None else [float(v) for v in self.race.final_loss[0]]

    @property
    def evaluations(self) -> list[int]:
        """Per start: function-and-gradient evaluations the run made (one a step for a
        first-order rule; counted by the race for a rule that makes several)."""
        if self.race is None:
            return []
        if self.race.evaluations is None:  # one a step, up to where the run stopped
            return [self.race.steps if d < 0 else d for d in self.diverged_at]
        out = []
        for row in self.race.evaluations[0]:
            spent = row[np.isfinite(row)]
            out.append(int(spent[-1]) if spent.size else 0)
        return out

    def states(self) -> list[dict[str, Any]]:
        """Per start, the web arena's page state (``web/static/js/state.js``) of this race."""
        if self.race is None:
            return []
        c = self.race.config
        racer = {"optimizer": self.optimizer, "hyperparameters": self.hyperparameters}
        return [{"landscape": c["landscape"], "racers": [racer], "start": list(s), "steps": c["steps"],
                 "seed": c["seed"], "noise": c["noise"], "clip": c["clip"]} for s in c["starts"]]

    def links(self, base_url: str = BASE_URL) -> list[str]:
        """Per start, a link that opens this race in the web arena (``optarena serve``)."""
        return [link(base_url, s) for s in self.states()]


@dataclass
class Gallery:
    """Rows: optimizers grouped by family (``FAMILIES`` order); columns: landscapes."""

    config: dict[str, Any]
    optimizers: list[str]
    families: list[str]  # each row's family
    landscapes: list[str]
    cells: dict[tuple[str, str], Cell]

    def cell(self, optimizer: str, landscape: str) -> Cell:
        return self.cells[(optimizer, landscape)]

    def statement(self) -> list[str]:
        """What is fair about the picture, in words: budget, search space, objective, conditions."""
        c = self.config
        lrs = c["learning_rates"]
        grid = (f"learning_rate: {len(lrs)} values, log-spaced {min(lrs):g} .. {max(lrs):g}; "
                f"{' or '.join(SECOND_AXES)} (where the optimizer has one and its default is > 0): "
                f"{', '.join(f'{b:g}' for b in c['betas'])}; every other hyperparameter at its default")
        noise = f"gradient noise sigma {c['noise']:g} (seed {c['seed']})" if c["noise"] else "no gradient noise"
        clip = f"gradients clipped to norm {c['clip']:g}" if c["clip"] is not None else "no clipping"
        specs = [registry.get(o) for o in self.optimizers]
        budget = f"Budget: {c['steps']} steps from each landscape's own start(s), the same for every optimizer"
        closure = [s.title for s in specs if fixed_settings(s)]
        if closure:
            budget += (f"; {' and '.join(closure)} at max_iter=1 (one evaluation a step), so every cell spends the "
                       "same function-and-gradient evaluations")
        hessian = [s.title for s in specs if "hessian" in s.needs]
        if hessian:
            budget += f"; {' and '.join(hessian)} also read{'s' if len(hessian) == 1 else ''} the landscape's exact Hessian"
        return [
            budget,
            f"Search space per cell: {grid}",
            f"Objective: the setting with the lowest median {c['objective'].replace('_', ' ')} over the starts "
            "(a diverged run counts as +inf), raced again and drawn; a red cross marks where a diverged run left the "
            "window (or stopped being finite), a hollow diamond where a run that ended outside the window left it",
            f"Conditions: {noise}; {clip}; engine {c['engine']}; empty cells: the race refuses that optimizer there (why)",
        ]


def search_axes(spec: Any, learning_rates: Sequence[float], betas: Sequence[float]) -> list[Axis]:
    """The grid one optimizer is tuned on (see the module's docstring)."""
    hypers = {h.name: h for h in spec.hypers}
    axes = [Axis("learning_rate", tuple(float(v) for v in learning_rates), True)]
    for name in SECOND_AXES:
        h = hypers.get(name)
        if h is not None and isinstance(h.default, (int, float)) and not isinstance(h.default, bool) and h.default > 0:
            axes.append(Axis(name, tuple(float(b) for b in betas)))
            break
    return axes


def fixed_settings(spec: Any) -> dict[str, Any]:
    """What the gallery sets besides the grid: one evaluation a step for a closure rule."""
    known = {h.name for h in spec.hypers}
    return {"max_iter": 1} if "closure" in spec.needs and "max_iter" in known else {}


def rows(optimizers: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(optimizer, family) in gallery order: by family, then in registry order."""
    specs = registry.all_specs() if optimizers is None else [registry.get(o) for o in optimizers]
    out: list[tuple[str, str]] = []
    for fam in FAMILIES:
        out += [(s.name, fam) for s in specs if s.family == fam and s.name not in {o for o, _ in out}]
    return out


def tune_cell(ls: Landscape, optimizer: str, *, steps: int, learning_rates: Sequence[float], betas: Sequence[float],
              objective: str = "final_loss", noise: float = 0.0, clip: float | None = None,
              seed: int = 0) -> tuple[Cell, SweepResult | None]:
    """One cell: the refusal, or the sweep, its best setting and that setting's race."""
    spec = registry.get(optimizer)
    fixed = fixed_settings(spec)
    starts = [list(s) for s in ls.starts]
    name = ls.name
    try:  # refused up front, as a race would be (the reason is the race's own words)
        RacePlan.build(ls, [Racer(spec.name, fixed)], starts, steps, seed, noise, clip)
        check_objective(objective, ls)
    except OptarenaError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Cell(spec.name, name, refused=why.removeprefix("racers[0]: ")), None
    axes = search_axes(spec, learning_rates, betas)
    result = sweep(ls, [Racer(spec.name, fixed)], axes, starts=starts, steps=steps, seeds=[seed], noise=noise,
                   clip=clip, engine=ENGINE)
    best = result.best(objective)[0]
    setting = dict(best["setting"])
    run = race(ls, [Racer(spec.name, {**fixed, **setting})], starts=starts, steps=steps, seed=seed, noise=noise,
               clip=clip, engine=ENGINE)
    return Cell(spec.name, name, None, setting, fixed, best["value"], best["diverged_fraction"], run), result


def gallery(
    landscapes: Sequence[str] | None = None,
    optimizers: Sequence[str] | None = None,
    *,
    quick: bool = False,
    steps: int | None = None,
    learning_rates: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
    objective: str = "final_loss",
    noise: float = 0.0,
    clip: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Gallery:
    """Every optimizer (default: all registered) on every landscape (default: all built-in; with
    ``quick``, ``QUICK_LANDSCAPES``), each at its best setting on the same grid, budget, starts,
    noise and seed. ``quick`` also takes the small grid and ``QUICK_STEPS``; explicit values win.
    ``progress(done, total)`` is called after each cell."""
    if objective not in OBJECTIVES:
        raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}", field="objective",
                         allowed=list(OBJECTIVES))
    steps = (QUICK_STEPS if quick else STEPS) if steps is None else steps
    lrs = tuple(float(v) for v in ((QUICK_LEARNING_RATES if quick else LEARNING_RATES)
                                   if learning_rates is None else learning_rates))
    bs = tuple(float(v) for v in ((QUICK_BETAS if quick else BETAS) if betas is None else betas))
    if not lrs or not bs:
        raise UsageError("the search space needs at least one learning rate and one momentum/beta1 value",
                         field="learning_rates" if not lrs else "betas")
    land = list(landscapes) if landscapes is not None else list(QUICK_LANDSCAPES if quick else names())
    lss = {n: planar(get(n), "the gallery") for n in land}
    order = rows(optimizers)
    if not order or not land:
        raise UsageError("the gallery needs at least one optimizer and one landscape")
    RacePlan.build(lss[land[0]], ["sgd"], None, steps, seed, noise, clip)  # bad steps, noise, clip, seed: refused here
    config = {
        "landscapes": [landscape_ref(lss[n]) for n in land], "optimizers": [o for o, _ in order], "steps": int(steps),
        "learning_rates": list(lrs), "betas": list(bs), "objective": objective, "noise": float(noise),
        "clip": None if clip is None else float(clip), "seed": int(seed), "engine": ENGINE, "quick": bool(quick),
    }
    cells: dict[tuple[str, str], Cell] = {}
    total, done = len(order) * len(land), 0
    for opt, _ in order:
        for n in land:
            cells[(opt, n)], _ = tune_cell(lss[n], opt, steps=int(steps), learning_rates=lrs, betas=bs,
                                           objective=objective, noise=noise, clip=clip, seed=seed)
            done += 1
            if progress:
                progress(done, total)
    return Gallery(config, [o for o, _ in order], [f for _, f in order], land, cells)
