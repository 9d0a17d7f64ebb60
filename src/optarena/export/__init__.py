"""Share a race: PNG/SVG/PDF, GIF/MP4, one self-contained HTML file, CSV/JSON, and Jupyter.

``export(result, "race.gif")`` picks the format from the extension. matplotlib, Pillow,
imageio-ffmpeg and plotly are imported only when a format needs them
(``pip install 'optarena[export]'``); CSV and JSON need nothing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from ..arena.result import RaceResult
from ..errors import OptarenaError, UsageError
from . import _common as C
from ._deps import EXTRA, need

IMAGES = (".png", ".svg", ".pdf")
VIDEOS = (".gif", ".mp4")
SUMMARIES = (".csv", ".json")
EXTENSIONS = IMAGES + VIDEOS + (".html",) + SUMMARIES

__all__ = ["EXTENSIONS", "EXTRA", "add_export_arguments", "anatomy_arg", "animate", "export", "export_from_args",
           "plot", "repr_html", "to_frame"]


def export(result: RaceResult, path: str | Path, *, fps: int = 20, duration: float | None = None, dpi: int = 100,
           start: int = 0, anatomy: tuple[int, int] | None = None, view: str | None = None) -> Path:
    """Write ``result`` to ``path``; the extension chooses the format (see ``EXTENSIONS``).

    ``fps`` and ``duration`` (seconds; default one frame per step, at most 200) shape GIF, MP4
    and the HTML timeline; ``dpi`` sets image and video resolution (11 x 5 inches); ``start``
    picks which start point is drawn when the race has several. ``anatomy=(racer, step)``
    (indices; PNG/SVG/PDF and HTML) explains that racer's step ``step`` -> ``step + 1``: the map at
    that step with the step's terms as arrows from the racer (one scale for all, said on the
    figure), beside it the rule typeset and each formula with the step's numbers
    (``arena.anatomy``: from the race's trace, or that racer replayed when it was not traced);
    images are then 13 x 6 inches, taller for a rule with many lines.
    ``view`` (a race beyond 2-D): "pca" (default), "random" or "coordinates:I,J" draw it on that
    plane (``RaceResult.projected``); "singular" (PNG/SVG/PDF, a landscape made of matrices) draws
    each racer's singular values against steps instead.
    The file is written whole or not at all (an existing one is replaced only on success).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise ValueError(f"cannot export to {path.name!r}: the extension must be one of {', '.join(EXTENSIONS)}")
    if not result.recorded and ext not in SUMMARIES:
        raise ValueError(f"cannot draw {path.name!r}: the race kept no trajectories (record=False); "
                         f"only {' and '.join(SUMMARIES)} (its summary) can be written")
    C.check_options(result, fps, duration, dpi, start)
    if view == "singular":
        if ext not in IMAGES:
            raise UsageError(f"the singular-value view is drawn in {', '.join(IMAGES)}, not {ext}", field="view")
        from .images import save_figure, singular_figure

        return save_figure(singular_figure(result, C.race_landscape(result), start, dpi), path, dpi)
    if ext not in SUMMARIES:
        if anatomy is not None and result.dim != 2:
            raise UsageError(f"anatomy explains a step on the plane; this race has {result.dim} coordinates",
                             field="anatomy")
        result = C.drawable(result, view)
    if anatomy is not None and ext not in IMAGES + (".html",):
        raise UsageError(f"anatomy is drawn in {', '.join(IMAGES)} and .html exports, not {ext}", field="anatomy")
    step = None if anatomy is None else C.step_anatomy(result, anatomy, start)  # checked before anything is drawn
    if ext == ".csv":
        atomic_write(path, result.to_csv())
    elif ext == ".json":
        atomic_write(path, result.to_json(indent=1))
    elif ext in IMAGES:
        from .images import write_image

        write_image(result, path, dpi, start, step)
    elif ext == ".gif":
        from .video import write_gif

        write_gif(result, path, fps, duration, dpi, start)
    elif ext == ".mp4":
        from .video import write_mp4

        write_mp4(result, path, fps, duration, dpi, start)
    else:
        from .html import write_html

        write_html(result, path, fps, duration, start, step)
    return path


def animate(result: RaceResult, path: str | Path, **kw: Any) -> Path:
    """An animated race: ``.gif``, ``.mp4`` or ``.html`` (same options as ``export``)."""
    if Path(path).suffix.lower() not in VIDEOS + (".html",):
        raise ValueError(f"animate writes .gif, .mp4 or .html, not {Path(path).name!r}")
    return export(result, path, **kw)


def plot(result: RaceResult, ax: Any = None, start: int = 0, anatomy: tuple[int, int] | None = None) -> Any:
    """A matplotlib Figure of the finished race (map and loss); with ``ax``, just the map there;
    with ``anatomy=(racer, step)``, that step explained (as ``export``'s; a figure of its own)."""
    from .images import anatomy_figure
    from .images import plot as _plot

    if anatomy is None:
        return _plot(C.drawable(result), ax, start)
    if ax is not None:
        raise UsageError("anatomy draws a figure of its own (the map and the panel beside it): give no ax", field="ax")
    C.check_options(result, 20, None, 100, start)
    return anatomy_figure(result, C.step_anatomy(result, anatomy, start))


def repr_html(result: RaceResult) -> str:
    """The interactive race as an HTML fragment (a div and scripts) for a notebook cell."""
    from .html import fragment

    return fragment(C.drawable(result))


def to_frame(result: RaceResult) -> Any:
    """A pandas DataFrame, one row per (racer, start, step): racer, optimizer, start, step, x, y
    (x1 ... xd beyond 2-D), loss, grad_norm, step_size (NaN after a run diverged)."""
    pd = need("pandas", "pip install pandas")
    R, S, T = result.losses.shape
    idx = np.indices((R, S, T)).reshape(3, -1)
    return pd.DataFrame({
        "racer": np.asarray(result.labels, dtype=object)[idx[0]],
        "optimizer": np.asarray(result.optimizers, dtype=object)[idx[0]],
        "start": idx[1], "step": idx[2],
        **({"x": result.positions[..., 0].ravel(), "y": result.positions[..., 1].ravel()} if result.dim == 2 else
           {f"x{k + 1}": result.positions[..., k].ravel() for k in range(result.dim)}),
        "loss": result.losses.ravel(), "grad_norm": result.grad_norms.ravel(), "step_size": result.step_sizes.ravel(),
    })


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fps``, ``--duration``, ``--dpi``, ``--anatomy`` for commands that export."""
    g = parser.add_argument_group("export")
    g.add_argument("--fps", type=int, default=20, help="frames per second of GIF/MP4/HTML (default 20)")
    g.add_argument("--duration", type=float, default=None,
                   help="animation length in seconds (default: one frame per step, at most 200 frames)")
    g.add_argument("--dpi", type=int, default=100, help="resolution of PNG/PDF/GIF/MP4 (default 100: 1100x500 pixels)")
    g.add_argument("--anatomy", metavar="RACER:STEP", default=None,
                   help="PNG/SVG/PDF/HTML: explain one step, e.g. 2:10 = the third racer's move from step 10 to 11 "
                        "(RACER from 0 in --optimizer order, STEP in [0, steps - 1]): its terms as arrows on the map, "
                        "its rule and formulas with the step's numbers beside it; optarena race without --save "
                        "prints them under the table")
    g.add_argument("--view", metavar="VIEW", default=None,
                   help="a race beyond 2-D: pca (default: the plane of the paths' top two principal directions), "
                        "random (two filter-normalised directions), coordinates:I,J (from 0), or singular "
                        "(PNG/SVG/PDF, a matrix landscape: singular values of W, or W2 W1, against steps)")


def anatomy_arg(args: argparse.Namespace, racers: int, steps: int, path: str | Path | None,
                terminal: bool = False) -> tuple[int, int] | None:
    """``--anatomy RACER:STEP`` as (racer, step), checked against a race of ``racers`` racers and
    ``steps`` steps written to ``path`` (None with ``terminal``: printed under the race's table): a
    ``UsageError`` naming --anatomy and the allowed range. A command calls it with its plan before
    racing; ``export_from_args`` calls it again."""
    text = getattr(args, "anatomy", None)
    if text is None:
        return None
    allowed = f"RACER in [0, {racers - 1}], STEP in [0, {steps - 1}]"
    racer, sep, step = str(text).partition(":")
    if not (sep and re.fullmatch(r"[0-9]+", racer.strip()) and re.fullmatch(r"[0-9]+", step.strip())):
        raise UsageError(f"--anatomy must be RACER:STEP (two indices: {allowed}), got {text!r}", field="--anatomy")
    r, k = int(racer), int(step)
    if r >= racers or k >= steps:
        raise UsageError(f"--anatomy {text}: {'RACER' if r >= racers else 'STEP'} out of range; allowed: {allowed} "
                         f"(the race has {racers} racer(s) and {steps} step(s))", field="--anatomy")
    if path is None and terminal:
        return r, k
    ext = Path(path).suffix.lower() if path is not None else None
    if ext not in IMAGES + (".html",):
        raise UsageError(f"--anatomy draws into a {'/'.join(IMAGES)} or .html export, "
                         + ("and there is none" if path is None else f"not {Path(path).name}"), field="--anatomy")
    return r, k


def export_from_args(result: RaceResult, path: str | Path, args: argparse.Namespace) -> Path:
    """``export`` with the options ``add_export_arguments`` added (missing ones take defaults)."""
    def opt(name: str, default: Any) -> Any:
        v = getattr(args, name, None)
        return default if v is None else v

    anatomy = anatomy_arg(args, len(result.labels), result.steps, path)
    try:
        return export(result, path, fps=opt("fps", 20), duration=opt("duration", None), dpi=opt("dpi", 100),
                      anatomy=anatomy, view=opt("view", None))
    except OptarenaError as exc:
        if exc.field == "view":
            raise UsageError(f"--view: {exc}", field="--view") from None
        if anatomy is None or exc.field not in ("anatomy", "racer", "step"):
            raise
        raise UsageError(f"--anatomy {args.anatomy}: {exc}", field="--anatomy") from None
