"""Sweeps: every optimizer x every setting on a grid x every start x every seed, as batched races.

One sweep answers the questions a single race cannot:

* fair comparisons: each optimizer tuned on the same grid, budget, starts and seeds, with the
  tuning objective stated (``SweepResult.best``);
* stability maps: two hyperparameter axes (say learning_rate x momentum) from one start, every
  cell coloured by its outcome, divergence included;
* basin maps: the start point on ``x`` / ``y`` axes, every cell coloured by the minimum it ends in.

The grid is cut into units (a block of settings x a block of starts x one seed); each unit is one
``race(..., record=False)``, run here one after the other or on a Dask cluster
(``optarena.measure.distributed``): the same units, the same numbers. With a journal, each
finished unit is appended to a file as it comes in, so a killed sweep resumes where it was.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..arena.engine import Cancelled, choose_engine, over_budget, race, run_bounds
from ..arena.plan import Racer, check_starts, landscape_ref
from ..arena.result import csv_field, nan_to_none
from ..errors import OptarenaError, OverBudget, UsageError, UsageTypeError, with_field
from ..landscapes import Landscape, planar, resolve
from ..optim import registry, schedules
from .axes import START_AXES, Axis, AxisError
from .journal import Journal

MAX_RUNS = 4_000_000  # optimizers x settings x starts x seeds
MAX_RUN_STEPS = 20_000_000_000  # runs x steps (about a minute here with the compiled race loop)
UNIT_RUNS = 32_768  # runs per unit: big enough for the batched engine, small enough to spread out
#: Objectives for ``best``: what is minimised, over the median of starts x seeds.
OBJECTIVES = ("final_loss", "best_loss", "steps_to_tolerance")
#: ``basin`` codes besides a minimum's index.
ELSEWHERE, DIVERGED = -1, -2


@dataclass
class SweepResult:
    """Arrays are indexed [optimizer, *setting axes, *start dims, seed].

    Start dims are (x, y) when the sweep has start axes, else (start,). ``final_loss`` is NaN
    and ``basin`` is ``DIVERGED`` for a run that diverged; ``steps_to_tolerance`` is -1 for a run
    that never came within ``tolerance`` of the minimum; ``basin`` is the index of the listed
    minimum (``minima``: global, then local) the run ended within ``radius`` of, else ``ELSEWHERE``.
    """

    config: dict[str, Any]
    optimizers: list[str]
    axes: list[Axis]  # the setting axes, then the start axes
    final_loss: np.ndarray
    best_loss: np.ndarray
    steps_to_tolerance: np.ndarray
    diverged_at: np.ndarray
    final_position: np.ndarray  # (..., 2)
    basin: np.ndarray
    min_value: float
    minima: np.ndarray
    radius: float
    #: The landscape object swept (not saved: a result read from JSON rebuilds it from the config).
    landscape: Any = field(default=None, repr=False, compare=False)

    def surface(self) -> Landscape:
        return self.landscape if self.landscape is not None else planar(resolve(self.config["landscape"]))

    def basin_map(self, optimizer: int = 0) -> np.ndarray:
        """(x, y) basin codes of a grid of starts: the first setting, the first seed."""
        if not self.start_axes:
            raise UsageError("this sweep has no grid of starts (x and y axes)")
        nx, ny = (len(a.values) for a in self.start_axes)
        b = self.basin[optimizer]
        return b.reshape(-1, nx, ny, b.shape[-1])[0, :, :, 0]

    def basin_shares(self, optimizer: int = 0) -> dict[int, float]:
        """Share of the grid's starts ending in each basin code (minimum index, ELSEWHERE,
        DIVERGED), for ``basin_map``: minima nobody reached are left out, the other two kept."""
        code = self.basin_map(optimizer)
        shares = {m: float(np.mean(code == m)) for m in range(len(self.minima))}
        shares = {m: v for m, v in shares.items() if v > 0}
        return {**shares, ELSEWHERE: float(np.mean(code == ELSEWHERE)), DIVERGED: float(np.mean(code == DIVERGED))}

    @property
    def setting_axes(self) -> list[Axis]:
        return [a for a in self.axes if a.name not in START_AXES]

    @property
    def start_axes(self) -> list[Axis]:
        return [a for a in self.axes if a.name in START_AXES]

    @property
    def dims(self) -> list[str]:
        starts = [a.name for a in self.start_axes] or ["start"]
        return ["optimizer", *(a.name for a in self.setting_axes), *starts, "seed"]

    def _runs_axes(self) -> tuple[int, ...]:
        """The dims a setting's median is taken over: starts and seeds."""
        n = self.final_loss.ndim
        return tuple(range(1 + len(self.setting_axes), n))

    def objective(self, name: str = "final_loss") -> np.ndarray:
        """(optimizer, *setting axes): the median over starts and seeds of ``name`` (lower is
        better; a diverged run counts as +inf loss, a run that never reached the tolerance as +inf
        steps), so a setting that diverges on most starts can never look best."""
        return np.median(run_values(self, name, floor=None), axis=self._runs_axes())

    def diverged_fraction(self) -> np.ndarray:
        return np.mean(self.diverged_at >= 0, axis=self._runs_axes())

    def best(self, objective: str = "final_loss") -> list[dict[str, Any]]:
        """Each optimizer's best setting on the grid by ``objective`` (ties: the first on the grid)."""
        obj = self.objective(objective)
        div = self.diverged_fraction()
        rows = []
        for o, label in enumerate(self.optimizers):
            k = int(np.argmin(obj[o])) if obj[o].size else 0
            idx = np.unravel_index(k, obj[o].shape) if obj[o].ndim else ()
            rows.append({
                "optimizer": label,
                "setting": {a.name: a.values[i] for a, i in zip(self.setting_axes, idx)},
                "objective": objective, "value": float(obj[o][idx]),
                "diverged_fraction": float(div[o][idx]),
            })
        return rows

    def summary(self) -> list[dict[str, Any]]:
        """One row per (optimizer, setting): medians over starts and seeds."""
        fl, bl = self.objective("final_loss"), self.objective("best_loss")
        # Without a minimum there is no tolerance to reach: that column is None throughout.
        st = self.objective("steps_to_tolerance") if math.isfinite(self.min_value) else np.full(fl.shape, np.nan)
        div = self.diverged_fraction()
        rows = []
        for o, label in enumerate(self.optimizers):
            for idx in itertools.product(*(range(len(a.values)) for a in self.setting_axes)):
                cell = (o, *idx)
                rows.append({
                    "optimizer": label, **{a.name: a.values[i] for a, i in zip(self.setting_axes, idx)},
                    "median_final_loss": _finite_or_none(fl[cell]),
                    "median_best_loss": _finite_or_none(bl[cell]),
                    "median_steps_to_tolerance": _finite_or_none(st[cell]),
                    "diverged_fraction": float(div[cell]),
                })
        return rows

    # -- exchange -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "optarena.sweep/1", "config": self.config, "optimizers": self.optimizers,
            "axes": [a.to_json() for a in self.axes], "dims": self.dims, "shape": list(self.final_loss.shape),
            "final_loss": _nan_to_none(self.final_loss), "best_loss": _nan_to_none(self.best_loss),
            "steps_to_tolerance": self.steps_to_tolerance.ravel().tolist(),
            "diverged_at": self.diverged_at.ravel().tolist(),
            "final_position": _nan_to_none(self.final_position), "basin": self.basin.ravel().tolist(),
            "min_value": _finite_or_none(self.min_value), "minima": self.minima.tolist(), "radius": self.radius,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SweepResult":
        if d.get("format") != "optarena.sweep/1":
            raise UsageError(f"not an optarena sweep (format {d.get('format')!r}, expected 'optarena.sweep/1')")
        shape = tuple(d["shape"])

        def arr(key: str, dtype: Any, extra: tuple[int, ...] = ()) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in d[key]], dtype=dtype).reshape(shape + extra)

        return cls(dict(d["config"]), list(d["optimizers"]), [Axis.from_json(a) for a in d["axes"]],
                   arr("final_loss", np.float64), arr("best_loss", np.float64),
                   arr("steps_to_tolerance", np.int64), arr("diverged_at", np.int64),
                   arr("final_position", np.float64, (2,)), arr("basin", np.int64),
                   math.nan if d["min_value"] is None else float(d["min_value"]),
                   np.asarray(d["minima"], dtype=np.float64).reshape(-1, 2), float(d["radius"]))

    @classmethod
    def from_json(cls, text: str) -> "SweepResult":
        return cls.from_dict(json.loads(text))

    def to_csv(self) -> str:
        """One line per (optimizer, setting): the summary's columns."""
        rows = self.summary()
        cols = list(rows[0]) if rows else ["optimizer"]
        lines = [",".join(cols)]
        for r in rows:
            lines.append(",".join("" if r[c] is None else csv_field(str(r[c])) for c in cols))
        return "\n".join(lines) + "\n"

    def to_frame(self) -> Any:
        """``summary()`` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SweepResult.to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame(self.summary())

    def _repr_html_(self) -> str:
        """Jupyter: each optimizer's best setting by median final loss, and the sweep's picture
        when it has one (a PNG inlined, no network)."""
        import base64
        import html
        import io

        def setting(row: Mapping[str, Any]) -> str:
            return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["setting"].items()) or "-"

        obj = "final_loss"  # best() by another objective is one call away
        rows = "".join(
            f"<tr><td>{html.escape(r['optimizer'])}</td><td>{html.escape(setting(r))}</td>"
            f"<td>{r['value']:.4g}</td><td>{100 * r['diverged_fraction']:.0f}%</td></tr>" for r in self.best(obj))
        table = (f"<table><thead><tr><th>optimizer</th><th>best setting</th><th>median {obj}</th><th>diverged</th></tr>"
                 f"</thead><tbody>{rows}</tbody></table>")
        try:
            fig = self.plot()
        except (ImportError, ValueError):  # no matplotlib, or no picture for 0 or 3+ setting axes
            return table
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return table + f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" alt="sweep">'

    def plot(self, path: Any = None, metric: str = "final_loss", **options: Any) -> Any:
        """A figure: loss against one axis, a stability map over two, or a basin map over x and y
        (``optarena.measure.plot``; needs matplotlib). Written to ``path`` when given."""
        from .plot import plot_sweep

        return plot_sweep(self, path, metric=metric, **options)


def check_objective(name: str, landscape: Landscape | None = None, min_value: float = 0.0) -> None:
    """Refuse an objective the landscape cannot measure: ``steps_to_tolerance`` counts steps to
    within ``tolerance`` of the minimum, so it needs a landscape that claims a minimum value (or a
    lower bound). The landscape, or the ``min_value`` of a result, says."""
    if name not in OBJECTIVES:
        raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {name!r}", field="objective",
                         allowed=list(OBJECTIVES))
    value = landscape.min_value if landscape is not None else min_value
    if name == "steps_to_tolerance" and not math.isfinite(value):
        why = f": {landscape.minimum_note}" if landscape is not None and landscape.minimum_note else ""
        raise UsageError(f"objective 'steps_to_tolerance' needs a landscape with a known minimum; this one has "
                         f"none{why}; use final_loss or best_loss", field="objective")


def run_values(result: SweepResult, name: str, floor: float | None = None) -> np.ndarray:
    """Per run, lower is better: loss above the minimum (at least ``floor`` if given; the loss
    itself where the landscape claims no minimum) or steps to tolerance (refused without a
    minimum); +inf for a run that diverged (even after reaching the tolerance) or never reached it."""
    check_objective(name, result.landscape, result.min_value)
    ok = result.diverged_at < 0
    if name == "steps_to_tolerance":
        return np.where(ok & (result.steps_to_tolerance >= 0), result.steps_to_tolerance, np.inf).astype(np.float64)
    v = getattr(result, name) - (result.min_value if math.isfinite(result.min_value) else 0.0)
    if floor is not None:
        v = np.maximum(v, floor)
    return np.where(ok & np.isfinite(v), v, np.inf)


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _nan_to_none(a: np.ndarray) -> list:
    return nan_to_none(a.ravel())


# ------------------------------------------------------------------------------------ planning

@dataclass
class _Plan:
    ls: Landscape
    racers: list[Racer]
    labels: list[str]
    setting_axes: list[Axis]
    start_axes: list[Axis]
    settings: list[list[dict[str, Any]]]  # per optimizer: the hyperparameters of every grid setting
    starts: np.ndarray  # (S, 2)
    seeds: list[int]
    units: list[dict[str, Any]] = field(default_factory=list)


def _racer(spec_like: Any) -> Racer:
    r = Racer.of(spec_like)
    if r.custom is not None:
        raise UsageTypeError("sweep: optimizers must be registered ones (a name, 'adam(beta1=0.8)' or a Racer), "
                             "not objects: a unit may run on another machine")
    return r


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if not 1 <= seeds <= 1000:
            raise UsageError(f"seeds must be a count in [1, 1000] or a list of seeds, got {seeds!r}", field="seeds")
        return list(range(int(seeds)))
    out = list(seeds) if isinstance(seeds, Sequence) and not isinstance(seeds, str) else []
    if not out or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in out):
        raise UsageError(f"seeds must be a count or a list of non-negative integers, got {seeds!r}", field="seeds")
    return [int(s) for s in out]


def _plan(landscape: Any, optimizers: Sequence[Any], axes: Sequence[Any], starts: Any, steps: int,
          seeds: int | Sequence[int]) -> _Plan:
    try:
        ls = planar(resolve(landscape), "a sweep")
    except OptarenaError as exc:
        raise with_field(exc, "landscape")
    racers = []
    for i, o in enumerate(optimizers):
        try:
            racers.append(_racer(o))
        except OptarenaError as exc:
            raise with_field(exc, f"optimizers[{i}]")
    if not racers:
        raise UsageError("optimizers: give at least one", field="optimizers")
    parsed = []
    for k, a in enumerate(axes):
        try:
            parsed.append(a if isinstance(a, Axis) else Axis.parse(a))
        except OptarenaError as exc:
            raise with_field(exc, f"axes[{k}]")
    axes = parsed
    names = [a.name for a in axes]
    where = {a.name: f"axes[{k}]" for k, a in enumerate(axes)}  # an error names the axis by its place
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AxisError(f"axis {dup[0]} is given twice", field="axes")
    setting_axes = [a for a in axes if a.name not in START_AXES]
    start_axes = [a for a in axes if a.name in START_AXES]
    if start_axes:
        if len(start_axes) != 2:
            raise AxisError("a grid of starts needs both an x and a y axis", field="axes")
        if starts is not None:
            raise AxisError("give starts or x/y axes, not both", field="starts")
        x, y = (a for a in sorted(start_axes, key=lambda a: a.name))
        start_axes = [x, y]
        S = np.array([(u, v) for u in x.values for v in y.values], dtype=np.float64)
        S = check_starts(S, ls)
    else:
        S = check_starts(starts, ls)
    seed_list = _seeds(seeds)

    n_settings = math.prod(len(a.values) for a in setting_axes)
    runs = len(racers) * n_settings * len(S) * len(seed_list)
    if runs > MAX_RUNS:
        raise UsageError(f"optimizers x settings x starts x seeds = {runs:,} runs; at most {MAX_RUNS:,}", field="axes")
    if runs * steps > MAX_RUN_STEPS:
        raise UsageError(f"runs x steps = {runs * steps:,}; at most {MAX_RUN_STEPS:,} (fewer steps or a coarser grid)",
                         field="steps")
    settings, labels = [], []
    for i, r in enumerate(racers):
        try:
            spec = registry.get(r.optimizer)
        except OptarenaError as exc:
            raise with_field(exc, f"optimizers[{i}]")
        try:
            schedules.make(r.schedule)
        except OptarenaError as exc:
            raise with_field(exc, f"optimizers[{i}].schedule")
        known = {h.name for h in spec.hypers}
        for a in setting_axes:
            if a.name not in known:
                raise AxisError(f"axis {a.name}: not a hyperparameter of {spec.name} (allowed: "
                                f"{', '.join(sorted(known))}, or x and y for the start)", field=where[a.name],
                                allowed=sorted(known))
            if a.name in r.hyperparameters:
                raise AxisError(f"axis {a.name}: also fixed in {spec.name}'s settings; give it in one place",
                                field=where[a.name])
        mine = []
        # every setting validated here, before any work (a unit may run on another machine)
        for combo in itertools.product(*(a.values for a in setting_axes)):
            hp = {**r.hyperparameters, **dict(zip((a.name for a in setting_axes), combo))}
            at = f"optimizer {i + 1} ({spec.name}) at " + ", ".join(f"{a.name}={v!r}" for a, v in zip(setting_axes, combo))
            try:
                spec.validate(hp, at if setting_axes else f"optimizer {i + 1} ({spec.name})")
            except OptarenaError as exc:  # a value on an axis names the axis; a fixed setting, the optimizer's
                raise with_field(exc, where[exc.field] if exc.field in where else f"optimizers[{i}].hyperparameters")
            mine.append(hp)
        settings.append(mine)
        fixed = [f"{k}={v}" for k, v in r.hyperparameters.items()]
        if r.schedule is not None:
            fixed.append(f"schedule={r.schedule}" if isinstance(r.schedule, str) else "schedule=" + schedules.make(r.schedule).name)
        labels.append(r.label or (f"{spec.name}({', '.join(fixed)})" if fixed else spec.name))
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{k + 1}" for k, lab in enumerate(labels)]
    return _Plan(ls, racers, labels, setting_axes, start_axes, settings, S, seed_list)


def _units(plan: _Plan, common: dict[str, Any], fused: bool) -> list[dict[str, Any]]:
    """Blocks of settings x blocks of starts x one seed, each a plain, picklable dict."""
    n_settings, n_starts = len(plan.settings[0]), len(plan.starts)
    per_starts = min(n_starts, UNIT_RUNS)
    if common["noise"]:  # the race holds (steps, starts, 2) noise draws: at most 64 MB of them
        per_starts = max(1, min(per_starts, (4 << 20) // common["steps"]))
    per_settings = max(1, UNIT_RUNS // per_starts)
    if fused:  # the compiled race loop holds a (steps, settings, 16) coefficient table: keep units within it
        try:  # (imports numba: only when the compiled loop is to run)
            from ..arena.fused import MAX_TABLE

            per_settings = max(1, min(per_settings, MAX_TABLE // (16 * common["steps"])))
        except ImportError:  # pragma: no cover - without numba the NumPy engine runs, with no such table
            pass
    per_settings = -(-n_settings // -(-n_settings // per_settings))  # even blocks: none left small
    units = []
    for o, r in enumerate(plan.racers):
        spec = registry.get(r.optimizer)
        for s0 in range(0, n_settings, per_settings):
            for t0 in range(0, n_starts, per_starts):
                for k, seed in enumerate(plan.seeds):
                    units.append({
                        **common, "index": (o, s0, t0, k), "optimizer": spec.name, "schedule": r.schedule,
                        "settings": plan.settings[o][s0:s0 + per_settings],
                        "starts": plan.starts[t0:t0 + per_starts].tolist(), "seed": seed,
                    })
    return units


def _check_sendable(ls: Landscape, ref: dict[str, Any]) -> None:
    """A Dask worker rebuilds the landscape from its name (or formula): refuse one that would
    come back different (an object made here, or one shadowing a registered name)."""
    try:
        again = resolve(ref)
    except OptarenaError:
        again = None
    (x0, x1), (y0, y1) = ls.window
    xs, ys = np.meshgrid(np.linspace(x0, x1, 5), np.linspace(y0, y1, 5))
    with np.errstate(all="ignore"):
        same = isinstance(again, Landscape) and again.window == ls.window and np.allclose(
            np.asarray(again.f(xs, ys), dtype=float), np.asarray(ls.f(xs, ys), dtype=float), rtol=1e-12, atol=0,
            equal_nan=True)
    if not same:
        raise UsageError(f"landscape {ls.name!r} cannot be sent to Dask workers: they rebuild a landscape from its "
                         "registered name or formula, and this one is neither (register it, pass its formula, or "
                         "run the sweep here)", field="landscape")


def sweep_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """``sweep()``'s keyword arguments from a ``SweepResult.config`` (or the JSON of a whole
    result): ``sweep(**sweep_kwargs(cfg))`` reruns it, the same numbers."""
    inner = config.get("config", config) if isinstance(config, Mapping) else None
    cfg = dict(inner) if isinstance(inner, Mapping) else {}
    if "optimizers" not in cfg or "axes" not in cfg:
        raise UsageError("not a sweep configuration: it needs 'optimizers' and 'axes' (the 'config' of a saved sweep)")
    try:
        out: dict[str, Any] = {
            "landscape": cfg.get("landscape"),
            "optimizers": [o if isinstance(o, str) else {k: v for k, v in dict(o).items() if v is not None or k == "optimizer"}
                           for o in cfg["optimizers"]],
            "axes": [Axis.from_json(a) for a in cfg["axes"]],
        }
    except (TypeError, ValueError) as exc:  # not lists of optimizers and axes (an AxisError says which axis)
        if isinstance(exc, OptarenaError):
            raise
        raise UsageTypeError(f"not a sweep configuration: 'optimizers' and 'axes' must be lists ({exc})") from None
    for key in ("starts", "steps", "seeds", "noise", "clip", "tolerance", "radius", "engine"):
        if cfg.get(key) is not None:
            out[key] = cfg[key]
    return out


def run_unit(unit: Mapping[str, Any], should_stop: Callable[[], bool] | None = None,
             deadline: float | None = None) -> dict[str, Any]:
    """One block of a sweep: one race without trajectories. Module-level, plain data in and out,
    so a Dask worker can run it."""
    racers = [Racer(unit["optimizer"], hp, unit.get("schedule")) for hp in unit["settings"]]
    res = race(unit["landscape"], racers, starts=unit["starts"],
               steps=unit["steps"], seed=unit["seed"], noise=unit["noise"], clip=unit["clip"],
               tolerance=unit["tolerance"], record=False, engine=unit["engine"], bounds=unit.get("bounds"),
               should_stop=should_stop, deadline=deadline)
    return {"index": tuple(unit["index"]), "final_loss": res.losses[:, :, 0], "best_loss": res.best_loss,
            "steps_to_tolerance": res.steps_to_tolerance, "diverged_at": res.diverged_at,
            "final_position": res.positions[:, :, 0, :]}


def _run_units(units: Sequence[dict[str, Any]], scheduler: Any, done: int, total: int,
               progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None,
               finish: Callable[[dict[str, Any]], None], deadline: float | None = None, before: float = 0.0) -> None:
    """Run ``units`` here or on Dask, handing each result to ``finish`` as it comes in and asking
    ``should_stop`` between units (here, inside their races too); ``done`` of ``total`` were
    finished before."""
    from .distributed import iter_units

    # each unit's race may take what is left of the deadline once the planning has been paid
    left = None if deadline is None else max(1e-3, deadline - before)
    fn = run_unit if scheduler is not None else functools.partial(run_unit, should_stop=should_stop, deadline=left)
    began, first = time.perf_counter(), done
    try:
        for part in iter_units(fn, units, scheduler, should_stop):
            finish(part)
            done += 1
            if progress:
                progress(done, total)
            if deadline is not None:  # the pace of the units run so far, projected over the rest
                over_budget(time.perf_counter() - began, done - first, total - first, deadline, "sweep", before=before)
    except Cancelled as exc:  # between units or inside one's race: say where the sweep stands
        raise Cancelled(f"sweep stopped after {done} of {total} units") from exc
    except OverBudget as exc:
        if "race would take" not in str(exc):
            raise
        raise OverBudget(f"one unit of this sweep (a race, {total:,} units in all): {exc}", field="steps") from None


def sweep(
    landscape: Landscape | str | Mapping[str, Any] | None = None,
    optimizers: Sequence[Any] = ("sgd", "momentum", "adam"),
    axes: Sequence[Axis | str] = ("learning_rate=log(1e-4, 1, 25)",),
    starts: Any = None,
    steps: int = 500,
    seeds: int | Sequence[int] = 1,
    noise: float = 0.0,
    clip: float | None = None,
    tolerance: float = 1e-4,
    radius: float | None = None,
    engine: str = "auto",
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    deadline: float | None = None,
) -> SweepResult:
    """Race every optimizer at every setting of the grid ``axes`` from every start with every
    seed, for exactly ``steps`` steps each (the same budget, starts and noise for all).

    ``axes``: ``Axis`` objects or text (``'learning_rate=log(1e-4, 1, 25)'``, ``'beta1=0.5,0.9'``);
    ``x`` and ``y`` axes make a grid of starts (a basin map). ``seeds`` matter with ``noise``.
    ``radius``: how close to a listed minimum a run must end to count as in its basin (default
    1% of the window's larger side). ``engine``: "auto" takes the compiled race loop when the
    sweep's work repays compiling it (~2 s per optimizer and landscape, once per process) and it
    can run, NumPy otherwise; the same for every unit, so a sweep gives the same bits here and
    on Dask. ``scheduler``: None runs here; a ``distributed.Client``, a
    scheduler address, or ``'local:N'`` (a LocalCluster of N worker processes on 127.0.0.1) runs
    the units on Dask (``pip install 'optarena[dask]'``). ``progress(done, total)`` is called
    as units finish.

    ``journal``: a file each finished unit is appended to as it comes in (here or from Dask).
    With ``resume=True`` the units it holds are not run again, and the result is the same, bit
    for bit, as a sweep never interrupted; the journal must be of this very sweep (else
    ``ValueError``, naming the first setting that differs). A journal holding units is refused
    without ``resume``. It is left in place: remove it once the result is saved.
    ``should_stop()`` is asked between units and, here, inside each unit's race; when it
    returns True the sweep raises ``optarena.arena.Cancelled`` (the journal keeps the units done).
    ``deadline``: seconds the sweep may take; once its units (or the first unit's steps) have taken
    ``arena.engine.PROBE_SECONDS``, it raises ``OverBudget`` (field ``steps``) when the rest would not
    end in time at that pace.
    """
    began = time.perf_counter()  # the planning counts against the deadline too
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise UsageError(f"steps must be a positive integer, got {steps!r}", field="steps")
    if resume and journal is None:
        raise UsageError("resume=True needs the journal to resume from", field="resume")
    log = Journal(journal, resume) if journal is not None else None  # an earlier run's journal: refused now
    plan = _plan(landscape, optimizers, axes, starts, int(steps), seeds)
    ls = plan.ls
    (x0, x1), (y0, y1) = ls.window
    if radius is None:
        radius = 0.01 * max(x1 - x0, y1 - y0)
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise UsageError(f"radius must be a finite number > 0, got {radius!r}", field="radius")
    lo, hi = run_bounds(ls, plan.starts)  # one box for every unit: a run's fate never depends on its neighbours
    common: dict[str, Any] = {"landscape": landscape_ref(ls), "steps": int(steps), "noise": noise, "clip": clip,
              "tolerance": tolerance, "engine": engine, "bounds": [[lo[0], hi[0]], [lo[1], hi[1]]]}
    # One engine for every unit, wherever it runs: the race's "auto" picks by what is compiled in
    # the process, and the two engines agree to ~1e-11, not to the bit. Here "auto" decides by the
    # sweep's total work alone (``choose_engine(work=...)``): the compiled loop when it is big
    # enough to repay compiling and can run, else NumPy. Each optimizer's kernel is compiled now,
    # by a one-step race that also checks the options.
    O, n_settings, n_starts, K = len(plan.racers), len(plan.settings[0]), len(plan.starts), len(plan.seeds)
    firsts = [Racer(r.optimizer, plan.settings[o][0], r.schedule) for o, r in enumerate(plan.racers)]
    chosen = choose_engine(engine, ls, firsts, steps=int(steps), noise=noise, record=False,
                           work=O * n_settings * n_starts * K * int(steps), warm_only=deadline is not None)
    units = _units(plan, common, fused=chosen == "fused")
    if scheduler is None:  # here: the landscape object itself (it may be one no registry knows)
        for u in units:
            u["landscape"] = ls
    else:
        _check_sendable(ls, common["landscape"])
    for o in range(len(plan.racers)):
        first = next(u for u in units if u["index"][0] == o)
        run_unit(dict(first, settings=first["settings"][:1], starts=first["starts"][:1], steps=1, engine=chosen))
    for u in units:
        u["engine"] = chosen
    config = {
        "landscape": common["landscape"],
        "optimizers": [{"optimizer": registry.get(r.optimizer).name, "hyperparameters": dict(r.hyperparameters),
                        "schedule": None if r.schedule is None else schedules.make(r.schedule).to_json(), "label": lab}
                       for r, lab in zip(plan.racers, plan.labels)],
        "axes": [a.to_json() for a in plan.setting_axes + plan.start_axes],
        "starts": None if plan.start_axes else plan.starts.tolist(),
        "steps": int(steps), "seeds": plan.seeds, "noise": float(noise), "clip": None if clip is None else float(clip),
        "tolerance": float(tolerance), "radius": float(radius), "engine": chosen,
    }

    out = {
        "final_loss": np.full((O, n_settings, n_starts, K), np.nan), "best_loss": np.full((O, n_settings, n_starts, K), np.inf),
        "steps_to_tolerance": np.full((O, n_settings, n_starts, K), -1, np.int64),
        "diverged_at": np.full((O, n_settings, n_starts, K), -1, np.int64),
        "final_position": np.full((O, n_settings, n_starts, K, 2), np.nan),
    }

    def fill(index: Sequence[int], part: Mapping[str, Any]) -> None:
        o, s0, t0, k = index
        for key, arr in out.items():
            v = part[key]
            arr[o, s0:s0 + v.shape[0], t0:t0 + v.shape[1], k] = v

    def finish(part: dict[str, Any]) -> None:
        fill(part["index"], part)
        if log is not None:
            log.add(part["index"], {key: part[key] for key in out})

    todo = units
    try:
        if log is not None:
            finished = log.start("sweep", config)
            by_index = {tuple(u["index"]): u for u in units}
            for index, part in finished.items():
                unit = by_index.get(index)
                expected = (len(unit["settings"]), len(unit["starts"])) if unit is not None else None
                if expected is None or set(part) != set(out) or np.shape(part["final_loss"]) != expected:
                    raise UsageError(f"{log.path}: unit {list(index)} is not one of this sweep's (cut by another "
                                     "version of optarena?); remove the file to start over")
                fill(index, part)
            todo = [u for u in units if tuple(u["index"]) not in finished]
        _run_units(todo, scheduler, len(units) - len(todo), len(units), progress, should_stop, finish, deadline,
                   before=time.perf_counter() - began)
    finally:
        if log is not None:
            log.close()

    mins = np.asarray(list(ls.minima) + list(getattr(ls, "local_minima", ())), dtype=np.float64).reshape(-1, 2)
    pos = out["final_position"]
    dist = np.linalg.norm(pos[..., None, :] - mins, axis=-1) if len(mins) else np.full(pos.shape[:-1] + (1,), np.inf)
    basin = np.where(np.nanmin(np.where(np.isnan(dist), np.inf, dist), axis=-1) <= radius,
                     np.argmin(np.where(np.isnan(dist), np.inf, dist), axis=-1), ELSEWHERE)
    basin = np.where(out["diverged_at"] >= 0, DIVERGED, basin)

    setting_shape = tuple(len(a.values) for a in plan.setting_axes)
    start_shape = tuple(len(a.values) for a in plan.start_axes) or (n_starts,)
    shape = (O, *setting_shape, *start_shape, K)
    return SweepResult(
        config=config, optimizers=plan.labels, axes=plan.setting_axes + plan.start_axes,
        final_loss=out["final_loss"].reshape(shape), best_loss=out["best_loss"].reshape(shape),
        steps_to_tolerance=out["steps_to_tolerance"].reshape(shape), diverged_at=out["diverged_at"].reshape(shape),
        final_position=pos.reshape(shape + (2,)), basin=basin.reshape(shape), min_value=float(ls.min_value),
        minima=mins, radius=float(radius), landscape=ls,
    )
