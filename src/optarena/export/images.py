"""Static figures (PNG/SVG/PDF, notebooks) and the scene that GIF/MP4 frames are drawn from.

Only the object-oriented matplotlib API with the Agg canvas is used: no pyplot, no display, no
global backend switch, so exporting never disturbs a user's own matplotlib session.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, cast

import numpy as np

from .._files import atomic_path
from ..arena import presentation
from ..arena.anatomy import vector_text
from ..arena.result import RaceResult
from . import _common as C
from ._deps import need

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..arena.anatomy import StepAnatomy

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
        xlabel, ylabel = getattr(ls, "axis_labels", ("x", "y"))  # a plane through a race beyond 2-D names its own
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
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


def singular_figure(result: RaceResult, ls: Any, start: int = 0, dpi: int = 100,
                    figsize: tuple[float, float] = FIGSIZE) -> Any:
    """The singular-value view of a race on a matrix landscape: each racer's singular values of W
    (or of W2 W1) against steps, the target's as dashed reference lines, and the loss per step."""
    need("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sv = result.singular_values(ls)[:, start]  # (R, T+1, k)
    target = getattr(ls, "target_singular_values", None)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_loss = fig.subplots(1, 2)
    cols, looks = C.colours(result), C.looks(result)
    t = np.arange(sv.shape[1])
    shown = sv.shape[2] if target is None else max(1, int(np.count_nonzero(np.asarray(target) > 0)))
    for i in range(len(result.labels)):
        for k in range(min(shown, sv.shape[2])):
            ax.plot(t, sv[i, :, k], color=cols[i], lw=1.6, label=looks[i].legend if k == 0 else None)
        ax_loss.plot(t, result.losses[i, start], color=cols[i], lw=1.6)
    if target is not None:
        for s in np.asarray(target)[:shown]:
            ax.axhline(float(s), color="black", ls="--", lw=0.8, alpha=0.6)
    what = "W2 W1" if getattr(ls, "product", False) else "W"
    ax.set_title(f"{ls.title}\nsingular values of {what} (dashed: the target's)", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("singular value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax_loss.set_yscale("log" if np.nanmin(result.losses[:, start]) > 0 else "linear")
    ax_loss.set_title("Loss per step", fontsize=11)
    ax_loss.set_xlabel("step")
    ax_loss.grid(alpha=0.3)
    fig.suptitle(result.status_line(result.steps, start), fontsize=10)
    return fig


def write_image(result: RaceResult, path: Path, dpi: int = 100, start: int = 0,
                anatomy: StepAnatomy | None = None) -> Path:
    """PNG, SVG or PDF (chosen by the suffix); with ``anatomy``, the race at that step explained
    (``anatomy_figure``)."""
    fig = figure(result, start, dpi) if anatomy is None else anatomy_figure(result, anatomy, dpi)
    return save_figure(fig, path, dpi)


# -- the anatomy of a step --------------------------------------------------------------------

ANATOMY_FIGSIZE = (13.0, 6.0)  # inches: the map and, beside it, the panel of formulas
MAX_ANATOMY_HEIGHT = 9.0  # inches: a rule with many lines gets a taller figure, up to this, then a smaller font
PANEL_FONT = 10.0  # points; shrunk until the panel fits
MIN_PANEL_FONT = 5.0


def anatomy_figure(result: RaceResult, a: StepAnatomy, dpi: int = 100,
                   figsize: tuple[float, float] | None = None) -> Any:
    """The race at step ``a.step`` (paths up to it) with the step's terms as arrows from the racer's
    position, all at one scale (``presentation.arrow_scale``), and beside it the panel: which step, the
    arrows' legend, the rule typeset and each formula with this step's numbers. Every number is
    ``a``'s (``arena.anatomy``): nothing is recomputed here. ``figsize``: 13 x 6 inches, taller
    (up to ``MAX_ANATOMY_HEIGHT``) where a rule's many lines need it."""
    need("matplotlib")
    figsize = figsize or ANATOMY_FIGSIZE
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax_map, ax_panel = fig.subplots(1, 2, width_ratios=[1.1, 1])
    ax_map.set_label("map")
    ax_panel.set_label("anatomy")
    scene = Scene(result, a.start, ax=ax_map)
    scene.show(a.step)
    ax_map.set_title(f"{scene.ls.title}: step {a.step} → {a.step + 1}", fontsize=11)
    handles = draw_terms(ax_map, a, scene.ls.window)
    draw_panel(ax_panel, a, handles)
    return fig


def draw_terms(ax: Any, a: StepAnatomy, window: Any) -> list[Any]:
    """One quiver per term at ``a.position`` (its label: the term's key; U, V: the term's vector,
    drawn ``arrow_scale`` times its size), and the stretch of an adaptive rule as an ellipse
    against the circle of η. Returns the legend's handles."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    (x0, x1), _ = window
    scale = presentation.arrow_scale(a.scale_vectors(), x1 - x0)
    px, py = (float(c) for c in a.position)
    handles = []
    for (t, v), colour in zip(a.terms, C.term_colours(a)):
        wide = t.key == "step"
        # scale_units and angles "xy": an arrow of (u, v) spans u, v of the axes' data, times 1/scale
        ax.quiver([px], [py], [float(v[0])], [float(v[1])], angles="xy", scale_units="xy", scale=1 / scale,
                  color=colour, width=0.007 if wide else 0.0045, minlength=0, zorder=9 + wide, label=t.key)
        handles.append(Line2D([], [], color=colour, lw=3 if wide else 2,
                              label=_plain(f"{t.label}  {vector_text(v)}")))
    if a.stretch is not None and a.learning_rate > 0:
        ex, ey = (float(s) / a.learning_rate for s in a.stretch)
        r = (x1 - x0) / 10 / max(1.0, ex, ey)
        ax.add_patch(Ellipse((px, py), 2 * r, 2 * r, fill=False, ec=presentation.STRETCH_COLOUR, lw=1, ls=":", zorder=8))
        ax.add_patch(Ellipse((px, py), 2 * r * ex, 2 * r * ey, fill=False, ec=presentation.STRETCH_COLOUR, lw=1.8, zorder=8))
        handles.append(Line2D([], [], color=presentation.STRETCH_COLOUR, lw=1.8, label="stretch: η in x and y (dotted circle: η)"))
    ax.set_xlabel(f"x   ({C.scale_note(scale)})")
    return handles


def draw_panel(ax: Any, a: StepAnatomy, handles: list[Any]) -> None:
    """The panel: heading, the arrows' legend, the stretch, the rule and each line's formula with
    its number lines, at ``PANEL_FONT`` in a figure made taller (up to ``MAX_ANATOMY_HEIGHT``)
    where that needs it, else at the largest font that fits."""
    from matplotlib.offsetbox import AnchoredOffsetbox, TextArea, VPacker
    from matplotlib.transforms import ScaledTranslation

    ax.set_axis_off()
    ax.set_title(_plain(a.heading()), loc="left", fontsize=11)
    fig = ax.figure

    def legend(size: float) -> Any:
        leg = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, 1), fontsize=size, frameon=False,
                        borderaxespad=0, borderpad=0, handlelength=2.2)
        leg.set_in_layout(False)  # the panel's contents never move the axes: they are fitted to them
        return leg

    def body(size: float) -> VPacker:
        def text(s: str, colour: str = "black", weight: str = "normal", scale: float = 1.0) -> TextArea:
            return TextArea(s, textprops={"fontsize": size * scale, "color": colour, "fontweight": weight})

        rows: list[Any] = []
        if a.stretch is not None:
            rows.append(text(_plain(a.stretch_text()), presentation.STRETCH_COLOUR))
        rows.append(text(f"the rule: {_plain(a.title)}", "dimgray", "bold"))
        rows += [text(_math(part), scale=1.1) for part in C.rule_parts(a.rule)]
        rows.append(text("this step, with its numbers", "dimgray", "bold"))
        for tex, numbers in a.lines:
            if tex:
                rows.append(text(_math(tex), scale=1.1))
            rows += [text("    " + _plain(n)) for n in numbers]
        return VPacker(children=rows, align="left", pad=0, sep=size * 0.55)

    size = PANEL_FONT
    leg = legend(size)
    fig.draw_without_rendering()  # lays the figure out once: the panel's room is known from here on
    renderer = fig.canvas.get_renderer()
    room = ax.get_window_extent(renderer)
    while True:
        top = leg.get_window_extent(renderer).height + size / 72 * fig.dpi  # pixels below the axes' top
        box = body(size)
        anchored = AnchoredOffsetbox("upper left", child=box, pad=0, borderpad=0, frameon=False,
                                     bbox_to_anchor=(0, 1), bbox_transform=ax.transAxes
                                     + ScaledTranslation(0, -top / fig.dpi, fig.dpi_scale_trans))
        anchored.set_in_layout(False)
        ax.add_artist(anchored)
        got = box.get_bbox(renderer)  # measured once attached: a box's size needs the figure's dpi
        tall, wide = (top + got.height) / room.height, got.width / (fig.bbox.x1 - room.x0)
        if size <= MIN_PANEL_FONT or max(tall, wide) <= 1:
            return
        height = fig.get_figheight()
        if wide <= 1 and height < MAX_ANATOMY_HEIGHT:  # too tall only, and room to grow: the text keeps its size
            fig.set_size_inches(fig.get_figwidth(), min(MAX_ANATOMY_HEIGHT, height + (top + got.height - room.height)
                                                        / fig.dpi + 0.1))
            anchored.remove()
            fig.draw_without_rendering()
            renderer = fig.canvas.get_renderer()  # the canvas's size changed
            room = ax.get_window_extent(renderer)
            continue
        size = max(MIN_PANEL_FONT, size * min(0.95, 1 / wide if wide > 1 else 1 / tall))
        anchored.remove()
        leg.remove()
        leg = legend(size)


def _plain(s: str) -> str:
    """Text matplotlib shows as it is (a dollar sign would start mathtext)."""
    return s.replace("$", r"\$")


@functools.lru_cache(maxsize=512)
def _math(tex: str) -> str:
    """``tex`` for mathtext (``export.tex``'s rewrites), or shown as plain text when mathtext
    cannot read it (a plug-in's formula beyond its subset)."""
    from matplotlib.mathtext import MathTextParser

    from .tex import mathtext_source

    source = f"${mathtext_source(tex)}$"
    try:
        MathTextParser("path").parse(source)
    except ValueError:
        return _plain(tex)
    return source


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
