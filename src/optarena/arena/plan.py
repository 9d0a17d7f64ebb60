"""A race as one typed value: what races where, validated in one place.

``RacePlan.build(...)`` checks every input (landscape, racers with their full hyperparameters and
schedules, starts, steps, seed, noise, clip, tolerance, bounds) and raises the ``UsageError``
family naming the field (``racers[1].hyperparameters.learning_rate``); ``to_config()`` and
``RacePlan.from_config()`` are the one JSON form (what race files, replays and the web API
carry). The engines run a plan (``engine.run``); the faces build one and hand it over.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import OptarenaError, UsageError, UsageTypeError, with_field
from ..landscapes import AnyLandscape, resolve
from ..optim import OptimizerSpec, registry, schedules
from .spec_text import parse_call

MAX_STEPS = 100_000
MAX_START = 1e6


@dataclass(frozen=True)
class Racer:
    """One contestant: a registered optimizer with hyperparameters, or any object with the
    article's ``update(params, gradients)`` method (``custom``)."""

    optimizer: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    schedule: Any = None
    label: str | None = None
    custom: Any = None

    @classmethod
    def parse(cls, text: str) -> "Racer":
        """``'adam(learning_rate=0.1, schedule=cosine(t_max=100), label="fast")'``."""
        name, args = parse_call(text)
        sched = args.pop("schedule", None)
        label = args.pop("label", None)
        return cls(name, args, sched, label)

    @classmethod
    def of(cls, obj: Any) -> "Racer":
        if isinstance(obj, Racer):
            return obj
        if isinstance(obj, str):
            return cls.parse(obj)
        if isinstance(obj, Mapping):
            d = dict(obj)
            if "optimizer" not in d:
                raise UsageError(f"a racer needs an 'optimizer' name, got {obj!r}", field="optimizer")
            return cls(d.pop("optimizer"), d.pop("hyperparameters", {}) or {}, d.pop("schedule", None), d.pop("label", None))
        if callable(getattr(obj, "update", None)):
            return cls("custom", {}, None, type(obj).__name__, custom=obj)
        raise UsageTypeError("a racer must be a name like 'adam(learning_rate=0.1)', a Racer, or an object with "
                             f"update(params, gradients); got {obj!r}")


def landscape_ref(ls: AnyLandscape) -> dict[str, Any]:
    """How the config names a landscape (replayable by ``landscapes.resolve``)."""
    if ls.name == "formula":  # every coordinate's (min, max): an N-D formula's window is its whole box
        return {"formula": ls.title, "window": [list(w) for w in ls.window] if ls.dim == 2 else np.stack(ls.box, 1).tolist()}
    return {"name": ls.name, "params": dict(ls.params)}


def check_starts(starts: Any, ls: AnyLandscape) -> np.ndarray:
    """``starts`` (a point, a list of points, or None for the landscape's default start) as an
    (n, dim) float array, refused (``UsageError``, field ``starts``) unless finite and within
    ``MAX_START``; races and sweeps read their starts through it."""
    dim = ls.dim
    if starts is None:
        return np.asarray([ls.default_start], dtype=np.float64).reshape(1, dim)
    try:
        s = np.asarray(starts, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageTypeError(f"starts must be numbers: a point (x, y) or a list of points, got {starts!r}",
                             field="starts") from None
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != dim or s.shape[0] == 0:
        point = "(x, y)" if dim == 2 else f"of {dim} coordinates"
        raise UsageError(f"starts must be a point {point} or a list of points of shape (n, {dim}), got shape {s.shape}",
                         field="starts")
    if not np.all(np.isfinite(s)) or np.any(np.abs(s) > MAX_START):
        raise UsageError(f"starts must be finite with every coordinate within +-{MAX_START:g}", field="starts")
    return s


#: Short names for the settings a label shows.
_SHORT = {"learning_rate": "lr", "weight_decay": "wd", "momentum": "mom"}


def racer_labels(racers: list[Racer]) -> list[str]:
    """What each racer is called in tables, legends and status lines: its label, else its
    optimizer's title, and where titles repeat, what differs between those racers
    ("Adam lr=0.1" / "Adam lr=0.01"); "#k" only when nothing differs."""
    base = []
    for r in racers:
        if r.label:
            base.append(str(r.label))
        elif r.custom is not None:
            base.append(type(r.custom).__name__)
        else:
            base.append(registry.get(r.optimizer).title)
    out = list(base)
    counts = Counter(base)  # not base.count per racer: a sweep unit races 10,000 racers
    for title in {b for b in base if counts[b] > 1}:
        idx = [i for i, b in enumerate(base) if b == title]
        settings = [_setting(racers[i]) for i in idx]
        keys = sorted({k for s in settings for k in s}, key=lambda k: (k != "learning_rate", k != "schedule", k))
        differ = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
        for i, s in zip(idx, settings):
            parts = [_part(k, s.get(k)) for k in differ]
            out[i] = f"{title} {', '.join(parts)}" if parts else title
    seen: dict[str, int] = {}
    final = []
    repeats = Counter(out)
    for lab in out:  # identical racers (or settings that print alike): numbered
        seen[lab] = seen.get(lab, 0) + 1
        final.append(lab if repeats[lab] == 1 else f"{lab} #{seen[lab]}")
    return final




def _setting(r: Racer) -> dict[str, Any]:
    if r.custom is not None:
        return {}
    spec = registry.get(r.optimizer)
    try:
        hp = dict(spec.validate(r.hyperparameters))
    except (ValueError, TypeError):  # the race reports it, naming the racer
        hp = dict(r.hyperparameters)
    try:
        sched = schedules.make(r.schedule)
        hp["schedule"] = None if isinstance(sched, schedules.Constant) else sched.name
    except (ValueError, TypeError):
        hp["schedule"] = repr(r.schedule)
    return hp


def _part(key: str, value: Any) -> str:
    if key == "schedule":
        return value or "constant"
    shown = f"{value:.3g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)
    return f"{_SHORT.get(key, key)}={shown}"


def racers_of(racers: Any) -> list[Racer]:
    """Each racer as a Racer; an error names it (``racers[i]``)."""
    if isinstance(racers, (str, Mapping)) or not hasattr(racers, "__iter__"):
        raise UsageTypeError(f"racers must be a list of racers, got {racers!r}", field="racers")
    out = []
    for i, r in enumerate(racers):
        try:
            out.append(Racer.of(r))
        except OptarenaError as exc:
            raise with_field(exc, f"racers[{i}]")
    return out


def resolve_racers(rs: Sequence[Racer]) -> list[tuple[OptimizerSpec | None, dict[str, Any] | None, Any]]:
    """(spec, validated hyperparameters, schedule) per racer; (None, None, None) for a custom one.
    An error names the racer's field (``racers[1].hyperparameters.learning_rate``)."""
    resolved: list[tuple[OptimizerSpec | None, dict[str, Any] | None, Any]] = []
    for i, r in enumerate(rs):
        if r.custom is not None:
            resolved.append((None, None, None))
            continue
        where = f"racers[{i}]"
        try:
            spec = registry.get(r.optimizer)
        except OptarenaError as exc:
            raise with_field(exc, where)
        try:
            hp = spec.validate(r.hyperparameters, f"racer {i + 1} ({spec.name})")
        except OptarenaError as exc:
            raise with_field(exc, f"{where}.hyperparameters")
        try:
            sch = schedules.make(r.schedule)
        except OptarenaError as exc:
            raise with_field(exc, f"{where}.schedule")
        resolved.append((spec, hp, sch))
    return resolved


def check_bounds(bounds: Any, dim: int = 2) -> np.ndarray:
    """((xmin, xmax), (ymin, ymax)) (one (min, max) pair per coordinate) as [[xmin, ymin], [xmax, ymax]]."""
    try:
        b = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        b = np.empty(0)
    if b.shape != (dim, 2) or not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
        pairs = "((xmin, xmax), (ymin, ymax))" if dim == 2 else f"{dim} (min, max) pairs, one per coordinate,"
        shown = repr(bounds) if b.size <= 8 else f"shape {b.shape}"
        raise UsageError(f"bounds must be {pairs} with finite min < max, got {shown}", field="bounds")
    return b.T.copy()




#: The keys of a race's JSON configuration (``RacePlan.to_config``), in order.
CONFIG_KEYS = ("landscape", "racers", "starts", "steps", "seed", "noise", "clip", "tolerance", "bounds")


@dataclass(frozen=True, eq=False)
class RacePlan:
    """A validated race: the landscape, each racer with its full hyperparameters (every default
    filled in) and schedule, the starts, the step budget, the noise and its seed, clipping, the
    tolerance of "steps to tolerance", and the box a run must stay in (None: the default)."""

    landscape: AnyLandscape
    racers: tuple[Racer, ...]
    resolved: tuple[tuple[OptimizerSpec | None, dict[str, Any] | None, Any], ...]  # (spec, hp, schedule) each
    labels: tuple[str, ...]
    starts: np.ndarray  # (S, 2), read-only
    steps: int
    seed: int = 0
    noise: float = 0.0
    clip: float | None = None
    tolerance: float = 1e-4
    bounds: np.ndarray | None = None  # [[xmin, ymin], [xmax, ymax]]

    @classmethod
    def build(cls, landscape: AnyLandscape | str | Mapping[str, Any] | None = None, racers: Sequence[Any] | None = None,
              starts: Any = None, steps: int = 100, seed: int = 0, noise: float = 0.0, clip: float | None = None,
              tolerance: float = 1e-4, bounds: Any = None) -> RacePlan:
        """Check every input (``UsageError`` naming the field) and fill in the defaults: racers default
        to the landscape's ``default_racers`` (the article's three on its quadratic), starts to its
        default start."""
        try:
            ls = resolve(landscape)
        except OptarenaError as exc:
            raise with_field(exc, "landscape")
        rs = racers_of(ls.default_racer_specs() if racers is None else racers)
        if not rs:
            raise UsageError("racers: give at least one optimizer", field="racers")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
            raise UsageError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}", field="steps")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"seed must be a non-negative integer, got {seed!r}", field="seed")
        if isinstance(noise, bool) or not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
            raise UsageError(f"noise must be a finite number >= 0, got {noise!r}", field="noise")
        if clip is not None and (isinstance(clip, bool) or not (isinstance(clip, (int, float)) and math.isfinite(clip)
                                                                 and clip > 0)):
            raise UsageError(f"clip must be a finite number > 0 or None, got {clip!r}", field="clip")
        if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                               and tolerance > 0):
            raise UsageError(f"tolerance must be a finite number > 0, got {tolerance!r}", field="tolerance")
        S = check_starts(starts, ls)
        S.flags.writeable = False
        box = None if bounds is None else check_bounds(bounds, ls.dim)
        resolved = tuple(resolve_racers(rs))  # every racer checked before any work: a bad request costs nothing
        for i, (spec, _, _) in enumerate(resolved):
            if spec is not None and spec.min_ndim > 1 and not ls.blocks:
                raise UsageError(f"racers[{i}]: {spec.title} steps parameters with at least {spec.min_ndim} axes (matrices); "
                                 f"a point of {ls.title!r} is one vector; race {spec.title} on a landscape made of "
                                 "matrices (deep_linear, matrix_sensing), in training (optarena train), or race a "
                                 "per-element rule here (Adam, Lion, ...)", field=f"racers[{i}].optimizer")
            if spec is not None and ls.blocks and ({"hessian", "closure"} & set(spec.needs)):
                raise UsageError(f"racers[{i}]: {spec.title} works on the whole point (its Hessian or line search), and "
                                 f"{ls.title!r} is made of {len(ls.blocks)} matrices each stepped apart; race a "
                                 "first-order rule here", field=f"racers[{i}].optimizer")
            if spec is not None and "closure" in spec.needs and (noise or clip is not None):
                raise UsageError(f"racers[{i}]: {spec.title} evaluates the loss and its gradient itself (a step may take "
                                 "several): gradient noise and clipping do not reach those evaluations; race it with "
                                 "noise 0 and no clip", field=f"racers[{i}].optimizer")
            if spec is not None and "hessian" in spec.needs and not ls.has_hessian:
                raise UsageError(f"racers[{i}]: {spec.title} needs the landscape's exact Hessian, and {ls.title!r} has none"
                                 f"{': ' + ls.no_hessian if ls.no_hessian else ''}; race a first-order optimizer there",
                                 field=f"racers[{i}].optimizer")
        return cls(ls, tuple(rs), resolved, tuple(racer_labels(rs)), S, int(steps), int(seed), float(noise),
                   None if clip is None else float(clip), float(tolerance), box)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RacePlan:
        """The plan of a race's JSON configuration (``to_config``'s form; every key optional, as
        ``build``'s arguments). An unknown key is refused, naming it."""
        if not isinstance(config, Mapping):
            raise UsageTypeError(f"a race configuration is a JSON object, got {type(config).__name__}", field="config")
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise UsageError(f"unknown key(s) {', '.join(map(repr, unknown))} in the race configuration; allowed: "
                             f"{', '.join(CONFIG_KEYS)}", field=unknown[0], allowed=list(CONFIG_KEYS))
        return cls.build(**config)

    def to_config(self) -> dict[str, Any]:
        """The race as JSON-ready values (what a race file stores under ``config``): every racer with
        its full hyperparameters, so a replay gives the same numbers whatever the defaults become."""
        config: dict[str, Any] = {
            "landscape": landscape_ref(self.landscape),
            "racers": [
                {"optimizer": "custom" if spec is None else spec.name,  # None: a custom racer (resolve_racers)
                 "hyperparameters": {} if hp is None else {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                                           for k, v in hp.items()},
                 "schedule": None if sch is None else sch.to_json(), "label": lab}
                for r, (spec, hp, sch), lab in zip(self.racers, self.resolved, self.labels)
            ],
            "starts": self.starts.tolist(), "steps": self.steps, "seed": self.seed, "noise": self.noise,
            "clip": self.clip, "tolerance": self.tolerance,
        }
        if self.bounds is not None:
            config["bounds"] = self.bounds.T.tolist()
        return config

    def replace(self, **changes: Any) -> RacePlan:
        """This plan with some inputs changed (``build``'s names), checked again."""
        if any(r.custom is not None for r in self.racers) and "racers" not in changes:
            return RacePlan.build(**{"landscape": self.landscape, "racers": self.racers, "starts": self.starts,
                                     "steps": self.steps, "seed": self.seed, "noise": self.noise, "clip": self.clip,
                                     "tolerance": self.tolerance,
                                     "bounds": None if self.bounds is None else self.bounds.T, **changes})
        return RacePlan.from_config({**self.to_config(), **changes})

    @property
    def runs(self) -> int:
        """Racers x starts."""
        return len(self.racers) * len(self.starts)
