"""The race: every racer from every start, on one landscape, as one batched array program.

Racers of the same optimizer (and the same static options and schedule) form one group that
steps as a single call of the functional core, hyperparameters batched over runs. Every run
gets the same step budget; gradient noise is drawn per (start, step) so all racers from a
start see the same noise; clipping happens only when asked and is recorded in the config.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .. import landscapes as _landscapes
from ..landscapes import Landscape
from ..optim import registry, schedules
from ..optim._spec import OptimizerSpec, expand
from .result import RaceResult
from .spec_text import parse_call

MAX_STEPS = 100_000
MAX_RECORDED = 20_000_000  # runs x (steps + 1) kept with full trajectories
MAX_START = 1e6
#: A run has diverged when it leaves the window by more than this many window widths.
ESCAPE_WIDTHS = 100.0


class Cancelled(RuntimeError):
    """The race (or sweep) was stopped by its ``should_stop`` callback before it finished."""


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
            return cls(d.pop("optimizer"), d.pop("hyperparameters", {}) or {}, d.pop("schedule", None), d.pop("label", None))
        if callable(getattr(obj, "update", None)):
            return cls("custom", {}, None, type(obj).__name__, custom=obj)
        raise TypeError("a racer must be a name like 'adam(learning_rate=0.1)', a Racer, or an object with "
                        f"update(params, gradients); got {obj!r}")


@dataclass
class _Group:
    """Racers sharing an optimizer, its static options and a schedule: one batched program."""

    spec: OptimizerSpec
    schedule: schedules.Schedule
    settings: list[dict[str, Any]] = field(default_factory=list)  # one per racer in the group
    runs: list[np.ndarray] = field(default_factory=list)  # that racer's run indices

    @property
    def run_index(self) -> np.ndarray:
        return np.concatenate(self.runs)

    @property
    def setting_of_run(self) -> np.ndarray:
        return np.concatenate([np.full(len(r), i) for i, r in enumerate(self.runs)])

    def hp(self, per_run: bool) -> dict[str, Any]:
        """Hyperparameters as (runs,) or (racers,) arrays; booleans stay scalars."""
        out: dict[str, Any] = {}
        for k, v in self.settings[0].items():
            if isinstance(v, bool):
                out[k] = v
            else:
                vals = np.asarray([s[k] for s in self.settings], dtype=np.float64)
                out[k] = vals[self.setting_of_run] if per_run else vals
        return out


def _resolve_landscape(landscape: Landscape | str | Mapping[str, Any] | None) -> Landscape:
    if landscape is None:
        return _landscapes.get(_landscapes.DEFAULT)
    if isinstance(landscape, Landscape):
        return landscape
    if isinstance(landscape, str):
        return _landscapes.get(landscape)
    d = dict(landscape)
    if "formula" in d:
        window = d.get("window")
        return _landscapes.from_formula(d["formula"], window=tuple(map(tuple, window)) if window else None)
    return _landscapes.get(d["name"], **(d.get("params") or {}))


def landscape_ref(ls: Landscape) -> dict[str, Any]:
    """How the config names a landscape (replayable by ``_resolve_landscape``)."""
    if ls.name == "formula":
        return {"formula": ls.title, "window": [list(w) for w in ls.window]}
    return {"name": ls.name, "params": dict(ls.params)}


def _check_starts(starts: Any, ls: Landscape) -> np.ndarray:
    if starts is None:
        return np.asarray([ls.default_start], dtype=np.float64)
    try:
        s = np.asarray(starts, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"starts must be numbers: a point (x, y) or a list of points, got {starts!r}") from None
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != 2 or s.shape[0] == 0:
        raise ValueError(f"starts must be a point (x, y) or a list of points of shape (n, 2), got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(np.abs(s) > MAX_START):
        raise ValueError(f"starts must be finite with |x|, |y| <= {MAX_START:g}")
    return s


#: Short names for the settings a label shows.
_SHORT = {"learning_rate": "lr", "weight_decay": "wd", "momentum": "mom"}


def _labels(racers: list[Racer]) -> list[str]:
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
    for title in {b for b in base if base.count(b) > 1}:
        idx = [i for i, b in enumerate(base) if b == title]
        settings = [_setting(racers[i]) for i in idx]
        keys = sorted({k for s in settings for k in s}, key=lambda k: (k != "learning_rate", k != "schedule", k))
        differ = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
        for i, s in zip(idx, settings):
            parts = [_part(k, s.get(k)) for k in differ]
            out[i] = f"{title} {', '.join(parts)}" if parts else title
    seen: dict[str, int] = {}
    final = []
    for lab in out:  # identical racers (or settings that print alike): numbered
        seen[lab] = seen.get(lab, 0) + 1
        final.append(lab if out.count(lab) == 1 else f"{lab} #{seen[lab]}")
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


def race(
    landscape: Landscape | str | Mapping[str, Any] | None = None,
    racers: Sequence[Any] | None = None,
    starts: Any = None,
    steps: int = 100,
    seed: int = 0,
    noise: float = 0.0,
    clip: float | None = None,
    tolerance: float = 1e-4,
    record: bool = True,
    engine: str = "auto",
    bounds: Any = None,
    should_stop: Callable[[], bool] | None = None,
) -> RaceResult:
    """Race ``racers`` on ``landscape`` from every start for exactly ``steps`` steps.

    ``racers`` default to the landscape's ``default_racers`` (on the article's quadratic: the
    article's SGD, momentum and Adam). Returns positions, losses, gradient norms and step sizes
    at steps 0..steps for each (racer, start), the step at which a run diverged (non-finite, or more than
    ``ESCAPE_WIDTHS`` window widths outside the window) and why it stopped. ``engine``:
    "numpy" steps the functional core; "fused" runs the whole race in one compiled loop (same
    numbers); "auto" picks fused when the work is large or its kernels are already compiled.
    ``bounds``: the box ((xmin, xmax), (ymin, ymax)) a run must stay in, if not the default (the
    window stretched to hold every start, padded by ``ESCAPE_WIDTHS`` widths); a sweep passes the
    box of all its starts, so a run's fate does not depend on which starts share its race.
    ``should_stop``: asked between steps (NumPy) or between compiled chunks of runs; when it
    returns True the race raises ``Cancelled`` (a server stops work it has given up on).
    """
    ls = _resolve_landscape(landscape)
    rs = [Racer.of(r) for r in (ls.default_racer_specs() if racers is None else racers)]
    if not rs:
        raise ValueError("racers: give at least one optimizer")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    steps = int(steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if clip is not None and not (isinstance(clip, (int, float)) and math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a finite number > 0 or None, got {clip!r}")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}")
    S = _check_starts(starts, ls)
    box = None if bounds is None else _check_bounds(bounds)
    R, n_starts = len(rs), len(S)
    N = R * n_starts
    if record and N * (steps + 1) > MAX_RECORDED:
        raise ValueError(f"runs x (steps + 1) = {N * (steps + 1):,} is above {MAX_RECORDED:,} with trajectories recorded; "
                         "pass record=False")

    # Validate every racer before any work: a bad request costs nothing.
    resolved = []
    for i, r in enumerate(rs):
        if r.custom is not None:
            resolved.append((None, None, None))
            continue
        spec = registry.get(r.optimizer)
        hp = spec.validate(r.hyperparameters, f"racer {i + 1} ({spec.name})")
        resolved.append((spec, hp, schedules.make(r.schedule)))

    config = {
        "landscape": landscape_ref(ls),
        "racers": [
            {"optimizer": "custom" if r.custom is not None else spec.name,
             "hyperparameters": {} if hp is None else {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in hp.items()},
             "schedule": None if sch is None else sch.to_json(), "label": lab}
            for r, (spec, hp, sch), lab in zip(rs, resolved, _labels(rs))
        ],
        "starts": S.tolist(), "steps": steps, "seed": int(seed), "noise": float(noise),
        "clip": None if clip is None else float(clip), "tolerance": float(tolerance),
    }
    if box is not None:
        config["bounds"] = box.T.tolist()
    run_racer = np.repeat(np.arange(R), n_starts)
    run_start = np.tile(np.arange(n_starts), R)

    groups: dict[Any, _Group] = {}
    customs: list[tuple[int, Any]] = []
    for i, (r, (spec, hp, sch)) in enumerate(zip(rs, resolved)):
        idx = np.nonzero(run_racer == i)[0]
        if spec is None:
            customs.extend((int(j), copy.deepcopy(r.custom)) for j in idx)
            continue
        static = tuple((k, v) for k, v in hp.items() if isinstance(v, bool))
        grp = groups.setdefault((spec.name, static, repr(sch)), _Group(spec, sch))
        grp.settings.append(hp)
        grp.runs.append(idx)

    stop = should_stop or _never
    args = (ls, config, S, run_racer, run_start, list(groups.values()), customs, steps, seed, noise, clip, record, stop)
    if engine not in ("auto", "numpy", "fused"):
        raise ValueError(f"engine must be 'auto', 'numpy' or 'fused', got {engine!r}")
    use_fused = engine == "fused" or (engine == "auto" and _fused_pays(*args))
    if use_fused:
        why = _fused_unavailable(ls, list(groups.values()), customs, steps, len(S), noise, record)
        if why:
            if engine == "fused":
                raise ValueError(f"engine='fused' is not possible here: {why}")
        else:
            return _run_fused(*args)
    return _run_numpy(*args)


def _never() -> bool:
    return False


def _noise(seed: int, steps: int, starts: np.ndarray, sigma: float) -> np.ndarray | None:
    """(steps, starts, 2) gradient noise: one draw per (step, start), shared by all racers from
    that start (a fair comparison). Each start's stream is seeded by (seed, the start's
    coordinates), so a run sees the same noise whatever other starts share its race and
    however many steps it has: a sweep cut into pieces gives the numbers of the whole."""
    if sigma == 0:
        return None
    out = np.empty((steps, len(starts), 2))
    for s, point in enumerate(np.asarray(starts, dtype=np.float64)):
        key = [seed, *point.view(np.uint64).tolist()]
        out[:, s, :] = np.random.default_rng(key).standard_normal((steps, 2))
    return sigma * out


def _check_bounds(bounds: Any) -> np.ndarray:
    """((xmin, xmax), (ymin, ymax)) as [[xmin, ymin], [xmax, ymax]]."""
    try:
        b = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        b = np.empty(0)
    if b.shape != (2, 2) or not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)) with finite min < max, got {bounds!r}")
    return b.T.copy()


def _bounds(ls: Landscape, starts: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The box a run must stay in: ``config["bounds"]`` if the race was given one, else the
    window (stretched to hold every start) padded by ``ESCAPE_WIDTHS`` window widths."""
    if config is not None and config.get("bounds") is not None:
        box = _check_bounds(config["bounds"])
        return box[0], box[1]
    (x0, x1), (y0, y1) = ls.window
    pad = ESCAPE_WIDTHS * np.array([x1 - x0, y1 - y0])
    lo = np.minimum([x0, y0], starts.min(axis=0))
    hi = np.maximum([x1, y1], starts.max(axis=0))
    return lo - pad, hi + pad


#: Below this many run-steps the NumPy engine finishes before numba would compile a new kernel.
FUSED_MIN_WORK = 2_000_000


def _fused_pays(ls, config, S, run_racer, run_start, groups, customs, steps, seed, noise, clip, record, stop) -> bool:
    """Big races always; small ones only when every kernel they need is compiled already."""
    if customs or not groups or any(g.spec.cell is None for g in groups):
        return False
    if len(run_racer) * steps >= FUSED_MIN_WORK:
        return True
    try:
        from . import fused
    except ImportError:
        return False
    return all(fused.is_warm(g.spec, ls, _present(g), record) for g in groups)


def _present(g: _Group) -> tuple[bool, ...]:
    names = g.spec.state_arrays(g.settings[0])
    return tuple(n in names for n in g.spec.slots)


def _fused_unavailable(ls, groups, customs, steps, n_starts, noise, record=True) -> str | None:
    """Why the compiled loop cannot run this race, or None when it can."""
    if customs:
        return "custom optimizer objects run in Python"
    missing = [g.spec.name for g in groups if g.spec.cell is None]
    if missing:
        return f"optimizer {missing[0]!r} has no fused cell"
    try:
        from . import fused
    except ImportError:
        return "numba is not installed"
    if any(steps * len(g.settings) * 16 > fused.MAX_TABLE for g in groups):
        return "the coefficient table would be too large"
    if noise and steps * n_starts * 2 > fused.MAX_TABLE:
        return "the noise table would be too large"
    if not all(fused.may_compile(g.spec, ls, _present(g), record) for g in groups):
        return f"this process has compiled its budget of {fused.kernel_budget()} race loops (OPTARENA_KERNEL_BUDGET)"
    if fused.compiled_landscape(ls) is None:
        return f"landscape {ls.title!r} does not compile with numba"
    return None


def _run_fused(ls, config, S, run_racer, run_start, groups, customs, steps, seed, noise, clip, record, stop) -> RaceResult:
    from . import fused

    N = len(run_racer)
    out = fused.new_outputs(N, steps, record)
    lo, hi = _bounds(ls, S, config)
    eps = _noise(seed, steps, S, noise)
    target = ls.min_value + config["tolerance"]
    for g in groups:
        idx = g.run_index
        P0 = S[run_start[idx]]
        state0 = g.spec.init(P0, expand(g.hp(per_run=True), 2, P0.dtype))
        res = fused.run_group(g.spec, ls, g.hp(per_run=False), g.schedule, g.setting_of_run, P0, state0, eps,
                              run_start[idx], clip, lo, hi, target, steps, record, stop)
        for k, v in res.items():
            out[k][idx] = v
    return RaceResult.build(ls, config, run_racer, run_start, out["pos"], out["loss"], out["gnorm"], out["dstep"],
                            out["best"], out["reach"], out["div"], out["reason"])


def _run_numpy(ls, config, S, run_racer, run_start, groups, customs, steps, seed, noise, clip, record, stop) -> RaceResult:
    N = len(run_racer)
    P = S[run_start].copy()
    lo, hi = _bounds(ls, S, config)
    eps = _noise(seed, steps, S, noise)
    T = steps + 1
    shape = (N, T) if record else (N, 1)
    pos = np.full(shape + (2,), np.nan)
    loss = np.full(shape, np.nan)
    gnorm = np.full(shape, np.nan)
    dstep = np.full(shape, np.nan)
    best = np.full(N, np.inf)
    reach = np.full(N, -1, dtype=np.int64)
    diverged_at = np.full(N, -1, dtype=np.int64)
    reason = np.zeros(N, dtype=np.int8)  # 0 completed, 1 non-finite, 2 left the window
    alive = np.ones(N, dtype=bool)
    prev = P.copy()
    target = ls.min_value + config["tolerance"]
    with np.errstate(all="ignore"):
        run_idx = [g.run_index for g in groups]
        hps = [expand(g.hp(per_run=True), 2, P.dtype) for g in groups]
        states = [g.spec.init(P[idx], hp) for g, idx, hp in zip(groups, run_idx, hps)]
        for t in range(T):
            f = np.asarray(ls.f(P[:, 0], P[:, 1]), dtype=np.float64) * np.ones(N)
            G = ls.gradient(P) * np.ones((N, 1))
            finite = np.isfinite(P).all(axis=1) & np.isfinite(f)
            inside = (P >= lo).all(axis=1) & (P <= hi).all(axis=1)
            newly = alive & ~(finite & inside)
            diverged_at[newly] = t
            reason[newly & ~finite] = 1
            reason[newly & finite] = 2
            alive &= ~newly
            j = t if record else 0
            if record or t == steps:
                pos[alive, j] = P[alive]
                loss[alive, j] = f[alive]
                gnorm[alive, j] = np.hypot(G[alive, 0], G[alive, 1])
                dstep[alive, j] = 0.0 if t == 0 else np.hypot(*(P[alive] - prev[alive]).T)
            best = np.where(alive, np.minimum(best, f), best)
            hit = alive & (reach < 0) & (f <= target)
            reach[hit] = t
            if t == steps:
                break
            if stop():
                raise Cancelled(f"race stopped at step {t} of {steps}")
            if eps is not None:
                G = G + eps[t][run_start]
            if clip is not None:
                norm = np.hypot(G[:, 0], G[:, 1])
                G = G * np.minimum(1.0, clip / np.where(norm > 0, norm, 1.0))[:, None]
            prev = P.copy()
            for i, grp in enumerate(groups):
                ehp = {**hps[i], "learning_rate": grp.schedule(t, hps[i]["learning_rate"])}
                P[run_idx[i]], states[i] = grp.spec.update(P[run_idx[i]], G[run_idx[i]], states[i], ehp)
            for j_run, obj in customs:
                if not alive[j_run]:
                    continue
                try:
                    out = obj.update(P[j_run].copy(), G[j_run].copy())
                    P[j_run] = np.asarray(out, dtype=np.float64).reshape(2)
                except ArithmeticError:
                    P[j_run] = np.nan  # e.g. math.exp overflow in a pure-Python rule: non-finite
    return RaceResult.build(ls, config, run_racer, run_start, pos, loss, gnorm, dstep, best, reach, diverged_at, reason)
