"""Share a race: PNG/SVG/PDF, GIF/MP4, one self-contained HTML file, CSV/JSON, and Jupyter.

``export(result, "race.gif")`` picks the format from the extension. matplotlib, Pillow,
imageio-ffmpeg and plotly are imported only when a format needs them
(``pip install 'optarena[export]'``); CSV and JSON need nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from ..arena.result import RaceResult
from . import _common as C
from ._deps import EXTRA, need

IMAGES = (".png", ".svg", ".pdf")
VIDEOS = (".gif", ".mp4")
SUMMARIES = (".csv", ".json")
EXTENSIONS = IMAGES + VIDEOS + (".html",) + SUMMARIES

__all__ = ["EXTENSIONS", "EXTRA", "add_export_arguments", "animate", "export", "export_from_args", "plot",
           "repr_html", "to_frame"]


def export(result: RaceResult, path: str | Path, *, fps: int = 20, duration: float | None = None, dpi: int = 100,
           start: int = 0) -> Path:
    """Write ``result`` to ``path``; the extension chooses the format (see ``EXTENSIONS``).

    ``fps`` and ``duration`` (seconds; default one frame per step, at most 200) shape GIF, MP4
    and the HTML timeline; ``dpi`` sets image and video resolution (11 x 5 inches); ``start``
    picks which start point is drawn when the race has several. The file is written whole or
    not at all (an existing one is replaced only on success).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise ValueError(f"cannot export to {path.name!r}: the extension must be one of {', '.join(EXTENSIONS)}")
    if not result.recorded and ext not in SUMMARIES:
        raise ValueError(f"cannot draw {path.name!r}: the race kept no trajectories (record=False); "
                         f"only {' and '.join(SUMMARIES)} (its summary) can be written")
    C.check_options(result, fps, duration, dpi, start)
    if ext == ".csv":
        atomic_write(path, result.to_csv())
    elif ext == ".json":
        atomic_write(path, result.to_json(indent=1))
    elif ext in IMAGES:
        from .images import write_image

        write_image(result, path, dpi, start)
    elif ext == ".gif":
        from .video import write_gif

        write_gif(result, path, fps, duration, dpi, start)
    elif ext == ".mp4":
        from .video import write_mp4

        write_mp4(result, path, fps, duration, dpi, start)
    else:
        from .html import write_html

        write_html(result, path, fps, duration, start)
    return path


def animate(result: RaceResult, path: str | Path, **kw: Any) -> Path:
    """An animated race: ``.gif``, ``.mp4`` or ``.html`` (same options as ``export``)."""
    if Path(path).suffix.lower() not in VIDEOS + (".html",):
        raise ValueError(f"animate writes .gif, .mp4 or .html, not {Path(path).name!r}")
    return export(result, path, **kw)


def plot(result: RaceResult, ax: Any = None, start: int = 0) -> Any:
    """A matplotlib Figure of the finished race (map and loss); with ``ax``, just the map there."""
    from .images import plot as _plot

    return _plot(result, ax, start)


def repr_html(result: RaceResult) -> str:
    """The interactive race as an HTML fragment (a div and scripts) for a notebook cell."""
    from .html import fragment

    return fragment(result)


def to_frame(result: RaceResult) -> Any:
    """A pandas DataFrame, one row per (racer, start, step): racer, optimizer, start, step, x, y,
    loss, grad_norm, step_size (NaN after a run diverged)."""
    pd = need("pandas", "pip install pandas")
    R, S, T = result.losses.shape
    idx = np.indices((R, S, T)).reshape(3, -1)
    return pd.DataFrame({
        "racer": np.asarray(result.labels, dtype=object)[idx[0]],
        "optimizer": np.asarray(result.optimizers, dtype=object)[idx[0]],
        "start": idx[1], "step": idx[2],
        "x": result.positions[..., 0].ravel(), "y": result.positions[..., 1].ravel(),
        "loss": result.losses.ravel(), "grad_norm": result.grad_norms.ravel(), "step_size": result.step_sizes.ravel(),
    })


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fps``, ``--duration``, ``--dpi`` for commands that export."""
    g = parser.add_argument_group("export")
    g.add_argument("--fps", type=int, default=20, help="frames per second of GIF/MP4/HTML (default 20)")
    g.add_argument("--duration", type=float, default=None,
                   help="animation length in seconds (default: one frame per step, at most 200 frames)")
    g.add_argument("--dpi", type=int, default=100, help="resolution of PNG/PDF/GIF/MP4 (default 100: 1100x500 pixels)")


def export_from_args(result: RaceResult, path: str | Path, args: argparse.Namespace) -> Path:
    """``export`` with the options ``add_export_arguments`` added (missing ones take defaults)."""
    def opt(name: str, default: Any) -> Any:
        v = getattr(args, name, None)
        return default if v is None else v

    return export(result, path, fps=opt("fps", 20), duration=opt("duration", None), dpi=opt("dpi", 100))
