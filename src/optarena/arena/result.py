"""A race's outcome: arrays per (racer, start, step) plus the config that reproduces it.

The JSON form (``to_json`` / ``from_json``) is the one exchange format: the CLI writes it,
``optarena race --config`` replays it, and the other faces read it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

STOP_REASONS = ("completed", "diverged: non-finite", "diverged: left the window")
FORMAT = "optarena.race/1"
SUMMARY_FORMAT = "optarena.race-summary/1"  # a race run with record=False: its summary, no trajectories
SUMMARY_COLUMNS = ("racer", "optimizer", "start", "x0", "y0", "final_loss", "best_loss", "steps_to_tolerance",
                   "steps_to_escape", "distance_to_minimum", "diverged_at", "stop_reason", "note")
#: ``steps_to_escape`` of a run that escaped in a race without trajectories: when is not known.
ESCAPE_UNKNOWN = -2
#: Losses at least this large in magnitude are written in scientific notation in the status line.
SCIENTIFIC = 1e6


def nan_to_none(a: np.ndarray) -> list:
    """``a.tolist()`` with every non-finite float as None (JSON has no NaN or Infinity); shared by
    the results' JSON forms."""
    return [None if (isinstance(v, float) and not math.isfinite(v)) else v for v in a.tolist()]


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def loss_text(v: float) -> str:
    """A loss as the status line shows it: ``9.0000``, or ``-3.2768e+04`` from 1e6 in magnitude."""
    return f"{v:.4e}" if abs(v) >= SCIENTIFIC else f"{v:.4f}"


@dataclass(frozen=True)
class RunArrays:
    """What an engine returns (``arena.engine``: NumPy or compiled), named: one row per run,
    racer-major then start, and on the step axis steps 0..steps (or the last step only, without
    trajectories). ``RaceResult.build`` shapes them into a result by name."""

    positions: np.ndarray  # (runs, T, 2); NaN after a run diverged
    losses: np.ndarray  # (runs, T)
    grad_norms: np.ndarray  # (runs, T)
    step_sizes: np.ndarray  # (runs, T)
    best_loss: np.ndarray  # (runs,)
    steps_to_tolerance: np.ndarray  # (runs,) first step with loss <= min + tolerance, -1 if never
    diverged_at: np.ndarray  # (runs,) -1 when it did not
    stop_reason: np.ndarray  # (runs,) codes into STOP_REASONS
    #: (runs, T) function evaluations made by each step so far, where a rule makes more than one a step
    #: (L-BFGS: a step is one step(closure)); None: one gradient a step, step t has made t
    evaluations: np.ndarray | None = None
    #: (runs, T, ...) per name: every step's optimizer state (``state.<key>``: after t steps), and the
    #: ``point``, ``gradient`` and ``learning_rate`` step t+1 used; None unless the race was traced
    trace: dict[str, np.ndarray] | None = None


@dataclass
class RaceResult:
    """Arrays are indexed [racer, start, step] (step 0 = the start point).

    ``positions`` (R, S, T+1, 2); ``losses``, ``grad_norms``, ``step_sizes`` (R, S, T+1), NaN
    after a run diverged; ``diverged_at`` (R, S), -1 when it did not; ``stop_reason`` (R, S).
    ``best_loss`` and ``steps_to_tolerance`` (first step with loss <= min + tolerance, -1 if
    never) are tracked over every step even when trajectories are not recorded. Without
    trajectories (``race(..., record=False)``) the step axis holds the last step only and
    ``to_json`` / ``to_csv`` write the summary.

    What is measured follows what the landscape claims (``minimum_kind``): with no minimum
    (``minima`` empty, ``min_value`` NaN: a saddle, an unverified formula) there is no steps to
    tolerance, distance to the minimum or loss - min, and ``no_minimum`` says why; with a lower
    bound only (``minima`` empty, ``min_value`` finite) no distance. A landscape with a saddle
    (``saddle_value``, ``escape_margin``) gets ``steps_to_escape`` instead: the first step whose
    loss is below saddle_value - escape_margin.
    """

    config: dict[str, Any]
    labels: list[str]
    optimizers: list[str]
    positions: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    step_sizes: np.ndarray
    best_loss: np.ndarray
    steps_to_tolerance: np.ndarray
    diverged_at: np.ndarray
    stop_reason: np.ndarray
    min_value: float
    minima: np.ndarray
    no_minimum: str = ""
    saddle_value: float = math.nan
    escape_margin: float = math.nan
    #: (R, S, T+1) function evaluations made by step t (NaN after a run diverged); None when every
    #: racer makes one a step (then step t has made t). Budgets against L-BFGS compare these.
    evaluations: np.ndarray | None = None
    #: (R, S, T+1, ...) per name, when the race was traced (``race(..., trace=True)``): every step's
    #: optimizer state (``state.<key>``, after t steps) and the ``point``, ``gradient`` and
    #: ``learning_rate`` step t+1 used (``arena.anatomy`` explains a step from them); else None
    trace: dict[str, np.ndarray] | None = None
    #: The 2-D landscape the positions are drawn on when they are a plane's coordinates through a
    #: d-dimensional race (``projected``); None: the race's own landscape
    view: Any = None

    @classmethod
    def build(cls, ls: Any, config: dict[str, Any], runs: RunArrays) -> "RaceResult":
        """The result of a race on landscape ``ls`` with ``config`` from an engine's ``runs``."""
        shp = (len(config["racers"]), len(config["starts"]))

        def per_run(a: np.ndarray) -> np.ndarray:  # (runs, ...) -> (racers, starts, ...)
            return a.reshape(shp + a.shape[1:])

        return cls(
            config=config,
            labels=[r["label"] for r in config["racers"]],
            optimizers=[r["optimizer"] for r in config["racers"]],
            positions=per_run(runs.positions),
            losses=per_run(runs.losses),
            grad_norms=per_run(runs.grad_norms),
            step_sizes=per_run(runs.step_sizes),
            best_loss=per_run(runs.best_loss),
            steps_to_tolerance=per_run(runs.steps_to_tolerance),
            diverged_at=per_run(runs.diverged_at),
            stop_reason=np.asarray(STOP_REASONS, dtype=object)[runs.stop_reason].reshape(shp),
            min_value=float(ls.min_value),
            minima=np.asarray(ls.minima, dtype=np.float64).reshape(-1, ls.dim),
            no_minimum=ls.minimum_note,
            saddle_value=ls.saddle_value,
            escape_margin=float(ls.escape_margin) if ls.saddle is not None else math.nan,
            evaluations=None if runs.evaluations is None else per_run(runs.evaluations),
            trace=None if runs.trace is None else {k: per_run(v) for k, v in runs.trace.items()},
        )

    @property
    def steps(self) -> int:
        return int(self.config["steps"])

    @property
    def recorded(self) -> bool:
        """Whether every step's numbers were kept (``race(..., record=True)``), not just the last."""
        return self.positions.shape[2] == self.steps + 1

    @property
    def final_loss(self) -> np.ndarray:
        """Loss after the last step (NaN for a run that diverged)."""
        return self.losses[..., -1]

    @property
    def minimum_kind(self) -> str:
        """``"minimum"``, ``"lower_bound"`` or ``"none"``, as the landscape claimed."""
        if len(self.minima):
            return "minimum"
        return "lower_bound" if math.isfinite(self.min_value) else "none"

    @property
    def has_saddle(self) -> bool:
        return math.isfinite(self.saddle_value) and math.isfinite(self.escape_margin)

    @property
    def escape_below(self) -> float:
        """The loss a run must get below to have escaped the saddle (NaN without one)."""
        return self.saddle_value - self.escape_margin

    @property
    def final_distance(self) -> np.ndarray:
        """Distance from the final point to the nearest listed minimum (NaN: none is listed)."""
        p = self.positions[..., -1, :]
        if not len(self.minima):
            return np.full(p.shape[:-1], np.nan)
        d = np.linalg.norm(p[..., None, :] - self.minima, axis=-1)
        return d.min(axis=-1)

    @property
    def steps_to_escape(self) -> np.ndarray:
        """(R, S): the first step whose loss is below ``escape_below``; -1 if none (or no saddle);
        ``ESCAPE_UNKNOWN`` for a run that escaped in a race without trajectories."""
        R, S = self.best_loss.shape
        out = np.full((R, S), -1, dtype=np.int64)
        if not self.has_saddle:
            return out
        with np.errstate(invalid="ignore"):
            if not self.recorded:
                return np.where(self.best_loss < self.escape_below, ESCAPE_UNKNOWN, -1).astype(np.int64)
            below = self.losses < self.escape_below  # NaN after divergence: never below
        first = np.argmax(below, axis=-1)
        return np.where(below.any(axis=-1), first, -1).astype(np.int64)

    def measure_note(self) -> str:
        """Why measures are missing from the summary (``""`` when none is): the landscape's reason."""
        kind = self.minimum_kind
        if kind == "none":
            return f"no minimum: {self.no_minimum or 'none is known'}"
        if kind == "lower_bound":
            return f"no single minimum point: {self.no_minimum or 'only a lower bound is known'}"
        return ""

    def status_line(self, step: int, start: int = 0) -> str:
        """The article's line: ``Step k / N | SGD Loss: 9.0000 | Momentum Loss: ...``."""
        parts = [f"Step {step} / {self.steps}"]
        for i, label in enumerate(self.labels):
            k = self.diverged_at[i, start]
            if 0 <= k <= step:
                parts.append(f"{label} Loss: diverged at step {k}")
            else:
                parts.append(f"{label} Loss: {loss_text(self.losses[i, start, step])}{self._evals(i, start, step)}")
        return " | ".join(parts)

    def _evals(self, racer: int, start: int, step: int) -> str:
        """`` (12 evals)`` after a racer's loss when a racer of the race makes several evaluations a
        step (L-BFGS): the budget each has spent by that step; ``""`` otherwise (the article's line)."""
        if self.evaluations is None:
            return ""
        e = self.evaluations[racer, start, min(step, self.evaluations.shape[2] - 1)]
        return f" ({int(e)} evals)" if math.isfinite(e) else ""

    def status_lines(self, start: int = 0) -> list[str]:
        """``status_line(k, start)`` for every step k, formatted once per racer (fast)."""
        cols = []
        for i, label in enumerate(self.labels):
            k = int(self.diverged_at[i, start])
            col = [f"{label} Loss: {loss_text(v)}{self._evals(i, start, t)}" for t, v in enumerate(self.losses[i, start].tolist())]
            if k >= 0:
                col[k:] = [f"{label} Loss: diverged at step {k}"] * (len(col) - k)
            cols.append(col)
        return [" | ".join([f"Step {t} / {self.steps}", *parts]) for t, parts in enumerate(zip(*cols))]

    def summary(self) -> list[dict[str, Any]]:
        """One row per (racer, start): final/best loss, steps to tolerance, steps to escape,
        distance, divergence. A measure the landscape does not support is None, and ``note``
        says why (no minimum, no single minimum point, escape step not recorded)."""
        kind = self.minimum_kind
        escape = self.steps_to_escape
        distance = self.final_distance
        base_note = self.measure_note()
        rows = []
        for i, label in enumerate(self.labels):
            for s in range(len(self.config["starts"])):
                esc = int(escape[i, s]) if self.has_saddle else None
                note = base_note
                if esc == ESCAPE_UNKNOWN:
                    esc = None
                    note = "; ".join(filter(None, [note, "escaped, at a step not recorded (race with record=True)"]))
                rows.append({
                    "racer": label, "optimizer": self.optimizers[i], "start": self.config["starts"][s],
                    "final_loss": float(self.final_loss[i, s]), "best_loss": float(self.best_loss[i, s]),
                    "steps_to_tolerance": None if kind == "none" else int(self.steps_to_tolerance[i, s]),
                    "steps_to_escape": esc,
                    "distance_to_minimum": None if kind != "minimum" else float(distance[i, s]),
                    "diverged_at": int(self.diverged_at[i, s]), "stop_reason": str(self.stop_reason[i, s]),
                    "note": note,
                })
                if self.evaluations is not None:  # what the run spent: the fair budget against L-BFGS
                    spent = self.evaluations[i, s][np.isfinite(self.evaluations[i, s])]
                    rows[-1]["evaluations"] = int(spent[-1]) if spent.size else 0
        return rows

    def minimum_json(self) -> dict[str, Any]:
        """What the landscape claimed about its minimum, and the escape measure, for the JSON."""
        return {"kind": self.minimum_kind, "note": self.no_minimum if self.minimum_kind != "minimum" else "",
                "saddle_value": _finite_or_none(self.saddle_value) if self.has_saddle else None,
                "escape_margin": _finite_or_none(self.escape_margin) if self.has_saddle else None,
                "escape_below": _finite_or_none(self.escape_below) if self.has_saddle else None}

    @property
    def dim(self) -> int:
        """Coordinates of a point (2 for the plane's races, and for a projected one)."""
        return int(self.positions.shape[-1])

    def projected(self, kind: str = "pca", seed: int = 0, coordinates: tuple[int, int] = (0, 1),
                  landscape: Any = None) -> "RaceResult":
        """This race on a plane through its best final point (``arena.projection``): "pca" (the
        paths' top two principal directions, Li et al. 2018; the share of their variance it holds is
        in the view's title), "random" (two filter-normalised directions from ``seed``) or
        "coordinates" (``coordinates`` (i, j), from 0). Positions become plane coordinates, drawn on
        ``view`` (f exact on the plane); losses and the other measures stay the race's own.
        ``landscape``: the race's, when its config cannot name it (an object made in a script)."""
        from ..landscapes import resolve
        from .projection import project

        ls = landscape if landscape is not None else resolve(self.config["landscape"])
        flat, view, _ = project(self, ls, kind, seed, coordinates)
        flat.view = view
        return flat

    def singular_values(self, landscape: Any = None) -> np.ndarray:
        """(racers, starts, steps + 1, k): the singular values of each run's matrix W, or of the
        product W2 W1 of a deep linear network's, at every step (``arena.projection.singular_values``)."""
        from ..landscapes import resolve
        from .projection import singular_values

        return singular_values(self, landscape if landscape is not None else resolve(self.config["landscape"]))

    # -- sharing: notebooks, images, video (optarena.export does the work) ---------------
    def _repr_html_(self) -> str:
        """Jupyter shows a race as the interactive, self-contained animation."""
        from ..export import repr_html

        return repr_html(self)

    def plot(self, ax: Any = None, start: int = 0) -> Any:
        """The contour map with every path and the loss panel, as a matplotlib Figure."""
        from ..export import plot

        return plot(self, ax=ax, start=start)

    def animate(self, path: Any, **options: Any) -> Any:
        """Write the animated race to ``path`` (.gif, .mp4 or .html); options as ``export``."""
        from ..export import animate

        return animate(self, path, **options)

    def export(self, path: Any, **options: Any) -> Any:
        """Write the race to ``path``; the extension picks the format (png svg pdf gif mp4 html csv json)."""
        from ..export import export

        return export(self, path, **options)

    def to_frame(self) -> Any:
        """One row per (racer, start, step) as a pandas DataFrame (needs pandas)."""
        from ..export import to_frame

        return to_frame(self)

    # -- the exchange format -------------------------------------------------------------
    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """Config and every run's trajectories; without them (record=False), config and summary.
        With ``arrays`` the trajectories stay NumPy arrays (NaN after a run diverged), for an
        encoder that writes those as lists and NaN as null (the web's): ten times faster."""
        head = {"config": self.config, "min_value": _finite_or_none(self.min_value), "minima": self.minima.tolist(),
                "minimum": self.minimum_json()}
        if not self.recorded:
            summary = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                       for row in self.summary()]
            return {"format": SUMMARY_FORMAT, **head, "summary": summary}
        kind = self.minimum_kind
        escape = self.steps_to_escape
        runs = []
        plain: Any = (lambda a: a) if arrays else nan_to_none
        for i, label in enumerate(self.labels):
            for s in range(len(self.config["starts"])):
                runs.append({
                    "racer": i, "label": label, "start": s,
                    "positions": self.positions[i, s] if arrays else [nan_to_none(row) for row in self.positions[i, s]],
                    "losses": plain(self.losses[i, s]),
                    "grad_norms": plain(self.grad_norms[i, s]),
                    "step_sizes": plain(self.step_sizes[i, s]),
                    "best_loss": nan_to_none(self.best_loss[i, s:s + 1])[0],
                    "steps_to_tolerance": None if kind == "none" else int(self.steps_to_tolerance[i, s]),
                    "steps_to_escape": int(escape[i, s]) if self.has_saddle else None,
                    "diverged_at": int(self.diverged_at[i, s]),
                    "stop_reason": str(self.stop_reason[i, s]),
                })
                if self.evaluations is not None:
                    runs[-1]["evaluations"] = plain(self.evaluations[i, s])
        return {"format": FORMAT, **head, "runs": runs}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RaceResult":
        if d.get("format") == SUMMARY_FORMAT:
            raise ValueError("a race summary holds no trajectories to read back (it was raced with record=False); "
                             "its config replays the race: race(**summary['config'])")
        if d.get("format") != FORMAT:
            raise ValueError(f"not an optarena race file (format {d.get('format')!r}, expected {FORMAT!r})")
        cfg = d["config"]
        m = d.get("minimum") or {}  # files written before measures followed the landscape have none
        R, S = len(cfg["racers"]), len(cfg["starts"])
        runs = sorted(d["runs"], key=lambda r: (r["racer"], r["start"]))

        def arr(key: str, tail: tuple[int, ...] = ()) -> np.ndarray:
            a = np.array([[np.nan if v is None else v for v in r[key]] if not tail else
                          [[np.nan if v is None else v for v in p] for p in r[key]] for r in runs], dtype=np.float64)
            return a.reshape((R, S) + a.shape[1:])

        return cls(
            config=cfg, labels=[r["label"] for r in cfg["racers"]], optimizers=[r["optimizer"] for r in cfg["racers"]],
            positions=arr("positions", (len(cfg["starts"][0]),)), losses=arr("losses"), grad_norms=arr("grad_norms"),
            step_sizes=arr("step_sizes"),
            best_loss=np.array([np.nan if r["best_loss"] is None else r["best_loss"] for r in runs]).reshape(R, S),
            steps_to_tolerance=np.array([-1 if r["steps_to_tolerance"] is None else r["steps_to_tolerance"]
                                         for r in runs], dtype=np.int64).reshape(R, S),
            diverged_at=np.array([r["diverged_at"] for r in runs], dtype=np.int64).reshape(R, S),
            stop_reason=np.array([r["stop_reason"] for r in runs], dtype=object).reshape(R, S),
            min_value=math.nan if d["min_value"] is None else float(d["min_value"]),
            minima=np.asarray(d["minima"], dtype=np.float64).reshape(-1, len(cfg["starts"][0])),
            no_minimum=str(m.get("note") or ""),
            saddle_value=math.nan if m.get("saddle_value") is None else float(m["saddle_value"]),
            escape_margin=math.nan if m.get("escape_margin") is None else float(m["escape_margin"]),
            evaluations=arr("evaluations") if runs and "evaluations" in runs[0] else None,
        )

    @classmethod
    def from_json(cls, text: str) -> "RaceResult":
        return cls.from_dict(json.loads(text))

    def to_csv(self) -> str:
        """One row per (racer, start, step); without trajectories, one per (racer, start): the summary."""
        if not self.recorded:
            return self._summary_csv()
        coords = "x,y" if self.dim == 2 else ",".join(f"x{k + 1}" for k in range(self.dim))
        lines = [f"racer,optimizer,start,step,{coords},loss,grad_norm,step_size"]
        for i, label in enumerate(self.labels):
            for s in range(self.positions.shape[1]):
                for t in range(self.positions.shape[2]):
                    vals = (*self.positions[i, s, t], self.losses[i, s, t], self.grad_norms[i, s, t], self.step_sizes[i, s, t])
                    cells = ",".join("" if not math.isfinite(v) else repr(float(v)) for v in vals)
                    lines.append(f"{csv_field(label)},{self.optimizers[i]},{s},{t},{cells}")
        return "\n".join(lines) + "\n"

    def _summary_csv(self) -> str:
        def num(v: float | None) -> str:
            return repr(float(v)) if v is not None and math.isfinite(v) else ""

        def count(v: int | None) -> str:
            return "" if v is None else str(v)

        S = len(self.config["starts"])
        plane = self.dim == 2  # beyond 2-D a start's coordinates are in the config, not in every row
        lines = [",".join(c for c in SUMMARY_COLUMNS if plane or c not in ("x0", "y0"))]
        for k, row in enumerate(self.summary()):  # racer-major, then start
            lines.append(",".join([
                csv_field(row["racer"]), csv_field(row["optimizer"]), str(k % S),
                *([num(row["start"][0]), num(row["start"][1])] if plane else []),
                num(row["final_loss"]), num(row["best_loss"]), count(row["steps_to_tolerance"]),
                count(row["steps_to_escape"]), num(row["distance_to_minimum"]), str(row["diverged_at"]),
                csv_field(row["stop_reason"]), csv_field(row["note"])]))
        return "\n".join(lines) + "\n"


def csv_field(text: str) -> str:
    """``text`` as one CSV field: quoted (quotes doubled) when it holds a comma, a quote or a newline."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
