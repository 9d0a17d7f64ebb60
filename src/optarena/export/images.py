"""Static figures (PNG/SVG/PDF, notebooks) and the scene that GIF/MP4 frames are drawn from.

Only the object-oriented matplotlib API with the Agg canvas is used: no pyplot, no display, no
global backend switch, so exporting never disturbs a user's own matplotlib session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, cast

import numpy as np

from .._files import atomic_path
from ..arena.result import RaceResult
from . import _common as C
from ._deps import need

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

FIGSIZE = (11.0, 5.0)  # inches: 1100 x 500 pixels at dpi 100, even for yuv420p video
CMAP = "Greys_r"  # a quiet background (its lighter part), so the racers' colours carry the picture
LEVELS = 24
ALIVE, DEAD = "o", "X"


class Scene:
    """The contour map with every racer's path, and loss per step on a log axis.

    Built once; ``show(k)`` moves only the artists that change (paths, heads, losses, title),
    so an animation draws the contour a single time. With ``ax`` only the map is drawn, there.
    """

    def __init__(self, result: RaceResult, start: int = 0, dpi: int = 100, figsize: tuple[float, float] = FIGSIZE,
                 animated: bool = False, ax: Any = None, grid: int = 200) -> None:
        need("matplotlib")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patheffects import withStroke

        self.result, self.start = result, start
        self.ls = C.landscape(result)
        self.looks = C.looks(result)
        self.cols = [look.colour for look in self.looks]
        self.scale = C.loss_scale(result, start, linear=True)  # the axis below can be linear
        if ax is None:
            self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
            FigureCanvasAgg(self.fig)
            self.ax_map, self.ax_loss = self.fig.subplots(1, 2, width_ratios=[1.15, 1])
        else:
            self.fig, self.ax_map, self.ax_loss = ax.figure, ax, None
        self._map_background(grid)
        self.moving: list[Any] = []
        self.paths, self.heads, self.notes, self.lines, self.lheads = [], [], [], [], []
        for i, c in enumerate(self.cols):
            self.paths.append(self.ax_map.plot([], [], "-", color=c, lw=1.8, alpha=0.95, zorder=5)[0])
            # Heads are not clipped: a run that diverged is marked on the window's edge.
            self.heads.append(self.ax_map.plot([], [], ALIVE, color=c, ms=8, mec="white", mew=1.2, zorder=7,
                                               clip_on=False)[0])
            self.notes.append(self.ax_map.annotate(
                "", (0, 0), xytext=(0, 0), textcoords="offset points", color=c, fontsize=9, fontweight="bold",
                zorder=8, annotation_clip=False, path_effects=[withStroke(linewidth=2.5, foreground="white")]))
            if self.ax_loss is not None:
                self.lines.append(self.ax_loss.plot([], [], "-", color=c, lw=1.6)[0])
                self.lheads.append(self.ax_loss.plot([], [], ALIVE, color=c, ms=6, mec="white", mew=1)[0])
        self.moving = self.paths + self.lines + self.notes + self.heads + self.lheads
        self.title = None
        if self.ax_loss is not None:
            self._loss_background()
            self.title = self.fig.suptitle(result.status_line(result.steps, start), fontsize=self._title_size())
            self.moving.append(self.title)
        # The legend uses fresh proxies: it is background, drawn once.
        handles = [Line2D([], [], color=c, lw=2, marker=ALIVE, ms=6) for c in self.cols]
        labels = [look.legend for look in self.looks]
        handles.append(Line2D([], [], ls="none", marker="o", ms=7, mfc="white", mec="black", mew=1.4))
        labels.append("start")
        if len(result.minima):  # a landscape that claims no minimum shows none
            handles.append(Line2D([], [], ls="none", marker="*", ms=12, mfc="gold", mec="black"))
            labels.append("minimum")
        if self.ax_loss is not None:
            self.fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), frameon=False,
                            fontsize=9)
        else:
            self.ax_map.legend(handles, labels, loc="best", fontsize=8, framealpha=0.85)
        for a in self.moving:
            a.set_animated(animated)

    def _title_size(self) -> float:
        # Many racers make a long status line: shrink it so its longest form fits the figure.
        r = self.result
        n = max(len(r.status_line(int(k), self.start)) for k in C.frame_steps(r.steps, 1, None))
        width_chars = 8.5 * self.fig.get_figwidth()  # ~chars per inch at 12 pt, less margins
        return float(np.clip(12.0 * width_chars / max(n, 1), 6.0, 12.0))

    def _map_background(self, n: int) -> None:
        ax, ls = self.ax_map, self.ls
        xs, ys, Z = ls.grid(n)
        with np.errstate(all="ignore"):
            V, vlabel = C.map_values(ls, Z)
        V = np.ma.masked_invalid(V)
        from matplotlib import colormaps
        from matplotlib.colors import ListedColormap

        cmap = ListedColormap(colormaps[CMAP](np.linspace(0.4, 1.0, 256)))
        cf = ax.contourf(xs, ys, V, levels=LEVELS, cmap=cmap, zorder=0)
        ax.contour(xs, ys, V, levels=cf.levels, colors="black", linewidths=0.35, alpha=0.35, zorder=1)
        self.fig.colorbar(cf, ax=ax, label=vlabel, shrink=0.9, pad=0.02)
        m = np.asarray(ls.minima, dtype=np.float64).reshape(-1, 2)
        ax.plot(m[:, 0], m[:, 1], ls="none", marker="*", ms=15, mfc="gold", mec="black", mew=0.8, zorder=6)
        s = np.asarray(self.result.config["starts"][self.start], dtype=np.float64)
        ax.plot([s[0]], [s[1]], ls="none", marker="o", ms=9, mfc="white", mec="black", mew=1.5, zorder=6)
        (x0, x1), (y0, y1) = ls.window
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(ls.title, fontsize=11)

    def _loss_background(self) -> None:
        ax, r = self.ax_loss, self.result
        L = self.scale(r.losses[:, self.start])
        ax.set_xlim(0, r.steps)
        if not self.scale.log:  # plain loss (no minimum to measure from), negative values included
            finite = L[np.isfinite(L)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
            pad = 0.05 * (hi - lo) or 0.5 * max(1.0, abs(hi))
            ax.set_ylim(lo - pad, hi + pad)
        else:
            finite = L[np.isfinite(L) & (L > 0)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.1, 10.0)
            if hi <= lo * 1.0001:
                lo, hi = lo / 2, hi * 2
            ax.set_yscale("log")
            ax.set_ylim(lo / 10 ** (0.05 * np.log10(hi / lo) + 0.05), hi * 10 ** (0.05 * np.log10(hi / lo) + 0.05))
        ax.set_xlabel("step")
        ax.set_ylabel(self.scale.label)
        ax.set_title("Loss per step", fontsize=11)
        ax.grid(True, which="major", alpha=0.3)

    def show(self, k: int) -> None:
        """Put every moving artist at step ``k``."""
        r, s = self.result, self.start
        t = np.arange(k + 1)
        for i in range(len(r.labels)):
            P = r.positions[i, s, : k + 1]
            self.paths[i].set_data(P[:, 0], P[:, 1])
            d = int(r.diverged_at[i, s])
            dead = 0 <= d <= k
            j, p = C.last_finite(r, i, s, k)
            if dead:
                p = C.clip_to_window(self.ls, p)
            self.heads[i].set_data([p[0]], [p[1]])
            self.heads[i].set_marker(DEAD if dead else ALIVE)
            self.heads[i].set_markeredgecolor(self.cols[i] if dead else "white")
            note = self.notes[i]
            note.set_text(f"diverged at step {d}" if dead else "")
            note.set_visible(dead)  # an invisible note costs nothing to draw
            if dead:  # the label points into the window, stacked per racer so labels never overlap
                (x0, x1), (y0, y1) = self.ls.window
                right, top = p[0] > (x0 + x1) / 2, p[1] > (y0 + y1) / 2
                note.xy = (p[0], p[1])
                note.xyann = (-8 if right else 8, (-1 if top else 1) * (8 + 12 * i))
                note.set_ha("right" if right else "left")
                note.set_va("top" if top else "bottom")
            if self.ax_loss is not None:
                L = self.scale(r.losses[i, s, : k + 1])
                self.lines[i].set_data(t, L)
                self.lheads[i].set_data([j], [L[j]])
                self.lheads[i].set_marker(DEAD if dead else ALIVE)
                self.lheads[i].set_markeredgecolor(self.cols[i] if dead else "white")
        if self.title is not None:
            self.title.set_text(r.status_line(k, s))

    def frames(self, steps: Iterable[int]) -> Iterator[Any]:
        """An RGB PIL image per step; the background is rendered once and restored each frame.

        The status line is drawn by Pillow, in matplotlib's font, size and place: matplotlib
        renders text glyph by glyph, which was ~60% of a frame's time.
        """
        Image = need("PIL.Image")
        from matplotlib.font_manager import findfont
        from PIL import ImageDraw, ImageFont

        canvas = cast("FigureCanvasAgg", self.fig.canvas)  # frames need Agg's buffer and blitting (the scene's own canvas)
        self.show(self.result.steps)  # lay out for the final state, the same layout as the still image
        canvas.draw()  # renders everything that is not animated: the background
        bg = canvas.copy_from_bbox(self.fig.bbox)
        moving = [a for a in self.moving if a is not self.title]
        W, H = canvas.get_width_height()
        if self.title is not None:
            box = self.title.get_window_extent(canvas.get_renderer())
            font = ImageFont.truetype(findfont(self.title.get_fontproperties()),
                                      float(self.title.get_fontsize()) * self.fig.dpi / 72)
            # the title's colour is rcParams' text.color: a colour name or hex string, which Pillow reads too
            at, ink = ((box.x0 + box.x1) / 2, H - box.y1), cast(str, self.title.get_color())
        for k in steps:
            self.show(int(k))
            canvas.restore_region(bg)
            for a in moving:
                self.fig.draw_artist(a)
            im = Image.frombuffer("RGBA", (W, H), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
            if self.title is not None:
                ImageDraw.Draw(im).text(at, self.title.get_text(), font=font, fill=ink, anchor="ma")
            yield im

    def close(self) -> None:
        self.fig.clear()


def figure(result: RaceResult, start: int = 0, dpi: int = 100, figsize: tuple[float, float] = FIGSIZE) -> Any:
    """The finished race as a two-panel matplotlib Figure (map with paths, loss per step)."""
    sc = Scene(result, start, dpi, figsize)
    sc.show(result.steps)
    return sc.fig


def plot(result: RaceResult, ax: Any = None, start: int = 0) -> Any:
    """A matplotlib Figure of the race; with ``ax``, only the map is drawn into that Axes."""
    C.check_options(result, 20, None, 100, start)
    if ax is None:
        return figure(result, start)
    sc = Scene(result, start, ax=ax)
    sc.show(result.steps)
    return sc.fig


def write_image(result: RaceResult, path: Path, dpi: int = 100, start: int = 0) -> Path:
    """PNG, SVG or PDF (chosen by the suffix)."""
    return save_figure(figure(result, start, dpi), path, dpi)


def save_figure(fig: Any, path: Path, dpi: int = 100) -> Path:
    """``fig`` as PNG, SVG or PDF (by the suffix), byte-stable across runs (no creation date),
    written whole or not at all."""
    meta = {"png": {"Software": "optarena"}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    suffix = path.suffix.lower()[1:]
    if suffix not in meta:
        raise ValueError(f"{path}: a picture is written as .png, .svg or .pdf, not .{suffix or '(none)'}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, metadata=meta[suffix])
    return path
