"""What every face of an export shares: the landscape, colours, labels, frames and scales."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arena import style
from ..arena.engine import _resolve_landscape
from ..arena.result import RaceResult
from ..landscapes import Landscape

#: Frames when no duration is given: one per step, but never more than this.
MAX_DEFAULT_FRAMES = 200
MAX_FRAMES = 10_000


def landscape(result: RaceResult) -> Landscape:
    return _resolve_landscape(result.config["landscape"])


def colours(result: RaceResult) -> list[str]:
    """Each racer's colour (``style.racer_colours``: the same on every face)."""
    return style.racer_colours(result.optimizers)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def legend_label(result: RaceResult, i: int) -> str:
    """``'Adam (learning_rate=0.05)'``: the label and what differs from the optimizer's defaults."""
    from ..optim import registry

    r = result.config["racers"][i]
    try:
        spec = registry.get(r["optimizer"])
        defaults, title = spec.defaults, spec.title
    except ValueError:  # a custom optimizer object: no schema to compare against
        defaults, title = {}, None
    diff = [f"{k}={_fmt(v)}" for k, v in (r.get("hyperparameters") or {}).items() if k in defaults and defaults[k] != v]
    sched = r.get("schedule") or {}
    if sched.get("name", "constant") != "constant":
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in sched.items() if k != "name")
        diff.append(f"schedule={sched['name']}({args})")
    label = result.labels[i]
    if title and label.startswith(title + " ") and diff:  # "Adam lr=0.3": the legend spells out the same
        label = title
    return f"{label} ({', '.join(diff)})" if diff else label


def check_options(result: RaceResult, fps: int, duration: float | None, dpi: int, start: int) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or not 1 <= fps <= 100:
        raise ValueError(f"fps must be an integer in [1, 100], got {fps!r}")
    if duration is not None and not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds or None, got {duration!r}")
    if duration is not None and fps * duration > MAX_FRAMES:
        raise ValueError(f"fps x duration = {fps * duration:g} frames is above {MAX_FRAMES}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 10 <= dpi <= 1000:
        raise ValueError(f"dpi must be an integer in [10, 1000], got {dpi!r}")
    n = result.positions.shape[1]
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < n:
        raise ValueError(f"start must be an integer in [0, {n - 1}] (the race has {n} start(s)), got {start!r}")


def frame_steps(steps: int, fps: int, duration: float | None) -> np.ndarray:
    """The step shown in each frame: evenly spaced, always step 0 and the last step."""
    n = min(steps + 1, MAX_DEFAULT_FRAMES) if duration is None else max(2, round(fps * duration))
    return np.round(np.linspace(0, steps, n)).astype(np.int64)


@dataclass
class LossScale:
    """Losses as drawn: on a log axis raw when all positive, else shifted by ``offset``; on a
    linear axis (``log`` False) raw, where the landscape claims no minimum to shift by."""

    offset: float
    eps: float
    label: str
    log: bool = True

    def __call__(self, loss: np.ndarray) -> np.ndarray:
        if self.offset == 0 and self.eps == 0:
            return loss
        with np.errstate(invalid="ignore"):
            return np.maximum(loss - self.offset, 0.0) + self.eps


def loss_scale(result: RaceResult, start: int, linear: bool = False) -> LossScale:
    """How the loss panel draws losses. With ``linear`` (an axis that can be linear), a landscape
    that claims no minimum (a saddle, an unverified formula) gets the plain loss on a linear axis:
    there is no "loss - min". Otherwise non-positive losses are shifted onto a log axis, by the
    minimum (or lower bound), or by the lowest loss reached where there is none or a run went lower."""
    loss = result.losses[:, start]
    low = float(np.nanmin(loss)) if np.isfinite(loss).any() else 1.0
    if low > 0:
        return LossScale(0.0, 0.0, "loss (log scale)")
    if linear and not math.isfinite(result.min_value):
        return LossScale(0.0, 0.0, "loss", log=False)
    offset = min(result.min_value, low) if math.isfinite(result.min_value) else low
    eps = 1e-12 * max(1.0, abs(offset))
    shift = "" if offset == 0 else f" − ({offset:.4g})"
    return LossScale(offset, eps, f"loss{shift} + {eps:.0e} (log scale)")


def map_values(ls: Landscape, Z: np.ndarray) -> tuple[np.ndarray, str]:
    """The contour's values and their label: log10(f - min + small) for steep landscapes."""
    if not ls.log_colour:
        return Z, "f(x, y)"
    if not math.isfinite(ls.min_value):  # no minimum claimed: measured from the lowest value shown
        low = float(np.nanmin(Z)) if np.isfinite(Z).any() else 0.0
        d = np.maximum(Z - low, 0.0)
        small = max(1e-12, 1e-6 * float(np.nanmax(d)) if np.isfinite(d).any() else 1e-12)
        return np.log10(d + small), "log10(f − lowest f shown)"
    d = np.maximum(Z - ls.min_value, 0.0)
    small = max(1e-12, 1e-6 * float(np.nanmax(d)))
    return np.log10(d + small), "log10(f − min)"


def last_finite(result: RaceResult, i: int, start: int, upto: int) -> tuple[int, np.ndarray]:
    """The last step <= ``upto`` with a recorded position, and that position."""
    p = result.positions[i, start, : upto + 1]
    ok = np.nonzero(np.isfinite(p).all(axis=1))[0]
    k = int(ok[-1]) if len(ok) else 0
    return k, p[k]


def clip_to_window(ls: Landscape, p: np.ndarray) -> np.ndarray:
    (x0, x1), (y0, y1) = ls.window
    return np.array([min(max(p[0], x0), x1), min(max(p[1], y0), y1)])
