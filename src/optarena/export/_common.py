"""What every face of an export shares: the landscape, colours, labels, frames and scales."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arena import presentation
from ..arena.result import RaceResult
from ..errors import UsageError, UsageTypeError
from ..landscapes import Landscape, planar, resolve
from ..optim.anatomy import number

if TYPE_CHECKING:
    from ..arena.anatomy import StepAnatomy

#: Frames when no duration is given: one per step, but never more than this.
MAX_DEFAULT_FRAMES = 200
MAX_FRAMES = 10_000


def landscape(result: RaceResult) -> Landscape:
    """The 2-D landscape the race is drawn on: its own, or the plane it was projected on."""
    return result.view if result.view is not None else planar(resolve(result.config["landscape"]), "drawing a race")


def race_landscape(result: RaceResult) -> Any:
    """The landscape the race ran on, of any dimension."""
    return resolve(result.config["landscape"])


def drawable(result: RaceResult, view: str | None = None) -> RaceResult:
    """The race as a 2-D face draws it: itself, or, beyond 2-D, on a plane (``RaceResult.projected``):
    ``view`` "pca" (default: the paths' principal directions), "random" or "coordinates:I,J"."""
    if result.dim == 2:
        if view is not None:
            raise UsageError(f"view {view!r} draws a race beyond 2-D on a plane; this one is on the plane already",
                             field="view")
        return result
    kind, _, rest = (view or "pca").partition(":")
    if kind == "coordinates":
        try:
            i, j = (int(v) for v in rest.split(","))
        except ValueError:
            raise UsageError(f"view coordinates:I,J takes two coordinate indices (from 0), got {view!r}",
                             field="view") from None
        return result.projected("coordinates", coordinates=(i, j))
    if rest:
        raise UsageError(f"view must be pca, random, coordinates:I,J or singular, got {view!r}", field="view",
                         allowed=["pca", "random", "coordinates:I,J", "singular"])
    return result.projected(kind)


def looks(result: RaceResult) -> list[presentation.Look]:
    """Each racer's colour, label and legend text (``arena.presentation``: the same on every face)."""
    return presentation.race_looks(result)


def colours(result: RaceResult) -> list[str]:
    """Each racer's colour (``arena.presentation``: the same on every face)."""
    return [look.colour for look in presentation.race_looks(result)]


def legend_label(result: RaceResult, i: int) -> str:
    """``'Adam (learning_rate=0.05)'``: racer ``i``'s legend text (``arena.presentation``)."""
    return presentation.race_looks(result)[i].legend


def check_options(result: RaceResult, fps: int, duration: float | None, dpi: int, start: int) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or not 1 <= fps <= 100:
        raise UsageError(f"fps must be an integer in [1, 100], got {fps!r}", field="fps")
    if duration is not None and not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise UsageError(f"duration must be a positive number of seconds or None, got {duration!r}", field="duration")
    if duration is not None and fps * duration > MAX_FRAMES:
        raise UsageError(f"fps x duration = {fps * duration:g} frames is above {MAX_FRAMES}", field="duration")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 10 <= dpi <= 1000:
        raise UsageError(f"dpi must be an integer in [10, 1000], got {dpi!r}", field="dpi")
    n = result.positions.shape[1]
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < n:
        raise UsageError(f"start must be an integer in [0, {n - 1}] (the race has {n} start(s)), got {start!r}", field="start")


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


# -- the anatomy of a step (``arena.anatomy``) as the exports draw it ---------------------------

def check_anatomy(result: RaceResult, anatomy: Any) -> tuple[int, int]:
    """``anatomy`` as (racer, step) indices of ``result``, or a ``UsageError`` naming the field."""
    if not (isinstance(anatomy, (tuple, list)) and len(anatomy) == 2):
        raise UsageTypeError(f"anatomy must be a pair (racer, step) of integers, got {anatomy!r}", field="anatomy")
    racer, step = anatomy
    n, steps = len(result.labels), result.steps
    if isinstance(racer, bool) or not isinstance(racer, (int, np.integer)) or not 0 <= racer < n:
        raise UsageError(f"racer must be an index in [0, {n - 1}] (the race has {n} racer(s)), got {racer!r}",
                         field="racer")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < steps:
        raise UsageError(f"step must be an integer in [0, {steps - 1}] (the move from position step to step + 1), "
                         f"got {step!r}", field="step")
    return int(racer), int(step)


def step_anatomy(result: RaceResult, anatomy: Any, start: int) -> StepAnatomy:
    """The step ``anatomy`` = (racer, step) names, from the race's trace when it has one, else
    replayed: that racer alone from the race's configuration (its numbers are the race's: the same
    box, and the same noise whatever shares the race). Checked before anything is drawn."""
    from dataclasses import replace

    from ..arena import RacePlan
    from ..arena.anatomy import anatomy_of, explain

    racer, step = check_anatomy(result, anatomy)
    cfg = result.config["racers"][racer]
    if cfg["optimizer"] == "custom":
        raise UsageError(f"racer {racer} ({result.labels[racer]}) is an optimizer object, not a registered rule: it "
                         "declares no anatomy; register it (optarena.optim.register) to explain its steps", field="racer")
    if result.trace is not None:
        return explain(result, racer, start, step)
    plan = RacePlan.from_config({**result.config, "racers": [cfg]})
    return replace(anatomy_of(plan, 0, start, step), racer=racer, label=result.labels[racer])


def term_colours(a: StepAnatomy) -> list[str]:
    """Each term's arrow colour, as every face draws it (``presentation.term_colours``)."""
    return presentation.term_colours([t.key for t, _ in a.terms])


def scale_note(scale: float) -> str:
    return "arrows to scale" if scale == 1 else f"arrows to scale, all × {number(scale)}"


def rule_parts(tex: str) -> list[str]:
    """A rule's formula cut where it lists its parts (``,\\;``, ``;\\;`` or ``\\quad`` outside braces), so a
    narrow panel can typeset it one part a line."""
    parts, depth, last, i = [], 0, 0, 0
    while i < len(tex):
        c = tex[i]
        depth += (c == "{") - (c == "}") if (i == 0 or tex[i - 1] != "\\") else 0
        if depth == 0:
            cut = next((s for s in (",\\quad", ",\\;", ";\\;", "\\quad") if tex.startswith(s, i)
                        and not tex[i + len(s):i + len(s) + 1].isalpha()), None)
            if cut:
                parts.append(tex[last:i + (1 if cut[0] == "," else 0)])
                i += len(cut)
                last = i
                continue
        i += 1
    parts.append(tex[last:])
    return [p.strip() for p in parts if p.strip()]
