"""The gallery as pictures: one PNG/SVG grid (rows optimizers by family, columns landscapes) and
a self-contained HTML page (each cell's picture inline, with links that open its race in the web
arena). Draws a ``measure.gallery.Gallery`` (taken as it is: export sits below measure, so it
names neither it nor its cells); computes nothing.

Byte-stable: matplotlib's default style (whatever the user's matplotlibrc says), ``svg.hashsalt``
pinned, no dates or software versions in the files, a fixed layout (no automatic layout engine),
cells cut from the same Agg rendering as the PNG and written by Pillow without metadata: the same
gallery gives the same bytes. Only matplotlib's object API on the Agg canvas (no pyplot).
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._files import atomic_path, atomic_write
from ..arena.presentation import racer_colours
from ..landscapes import Landscape, get, planar
from ..optim import registry
from . import _common as C
from ._deps import need

DPI = 100
#: Inches: the row-label column, a cell's pitch, its map (square), the band above each family.
LEFT, CELL_W, CELL_H, MAP, FAMILY = 1.45, 1.6, 1.85, 1.36, 0.3
MAP_BOTTOM = 0.3  # room under the map for the outcome
TITLE, LINE, COLUMN_HEAD = 0.5, 0.17, 0.42
CMAP = "Greys_r"
LEVELS = 12
GRID = 90  # landscape samples per side
DIVERGED = "#D62728"
REFUSED_FACE = "#F2F2F2"
STYLE: dict[str, Any] = {"svg.hashsalt": "optarena-gallery", "svg.fonttype": "path", "font.family": "DejaVu Sans",
         "axes.linewidth": 0.5}
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
SHORT = {"learning_rate": "lr", "momentum": "mom", "beta1": "β1"}

__all__ = ["DPI", "figure", "write_gallery"]


def _style() -> ExitStack:
    """matplotlib's defaults plus ``STYLE``, ignoring the user's matplotlibrc: the same bytes anywhere."""
    from matplotlib import rc_context, style

    stack = ExitStack()
    stack.enter_context(style.context("default"))
    stack.enter_context(rc_context(cast(Any, STYLE)))
    return stack


def _layout(g: Any, width: float) -> tuple[list[str], list[float], list[tuple[str, float]], float]:
    """The statement's wrapped lines, each row's top (inches from the figure's top), each family
    band's (name, top), and the figure's height."""
    chars = max(40, int(width * 17))
    lines = [piece for line in g.statement() for piece in textwrap.wrap(line, chars, subsequent_indent="    ")]
    y = _title_height(width) + LINE * len(lines) + COLUMN_HEAD
    tops, bands, last = [], [], None
    for fam in g.families:
        if fam != last:
            bands.append((fam, y))
            y += FAMILY
            last = fam
        tops.append(y)
        y += CELL_H
    return lines, tops, bands, y + 0.15


HEADLINE = "optarena gallery: every optimizer on every landscape, each at its best setting"


def _title_lines(width: float) -> list[str]:
    return textwrap.wrap(HEADLINE, max(20, int(width * 8.5)))  # ~characters per inch at 12 pt bold


def _title_height(width: float) -> float:
    return TITLE + 0.2 * (len(_title_lines(width)) - 1)


def figure(g: Any, dpi: int = DPI) -> tuple[Any, dict[tuple[str, str], tuple[float, float, float, float]]]:
    """The grid as a matplotlib Figure (on an Agg canvas) and each cell's box in inches
    (left, top, width, height from the figure's top-left corner). Call inside ``_style()``."""
    need("matplotlib", purpose="the gallery")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = LEFT + CELL_W * len(g.landscapes) + 0.1
    lines, tops, bands, height = _layout(g, width)
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)

    def at(x: float, y: float) -> tuple[float, float]:  # inches from the top-left -> figure fraction
        return x / width, 1 - y / height

    fig.text(*at(0.15, 0.1), "\n".join(_title_lines(width)), fontsize=12, fontweight="bold", va="top")
    for k, line in enumerate(lines):
        fig.text(*at(0.15, _title_height(width) + LINE * k), line, fontsize=7, va="top", color="#333333")
    head = _title_height(width) + LINE * len(lines)
    lss = {n: planar(get(n), "the gallery") for n in g.landscapes}
    for c, n in enumerate(g.landscapes):
        title = "\n".join(textwrap.wrap(lss[n].title, 24)[:2])
        fig.text(*at(LEFT + CELL_W * (c + 0.5), head + COLUMN_HEAD - 0.04), title, fontsize=8, fontweight="bold",
                 ha="center", va="bottom")
    for fam, y in bands:
        fig.text(*at(0.15, y + FAMILY - 0.06), fam, fontsize=9, fontweight="bold", color="#555555", va="bottom")
        fig.add_artist(_rule(fig, at(0.1, y + FAMILY - 0.03), at(width - 0.1, y + FAMILY - 0.03)))
    backgrounds = {n: _background(ls) for n, ls in lss.items()}
    boxes: dict[tuple[str, str], tuple[float, float, float, float]] = {}
    for opt, top in zip(g.optimizers, tops):
        spec = registry.get(opt)
        fig.text(*at(0.15, top + CELL_H / 2), "\n".join(textwrap.wrap(spec.title, 15)), fontsize=8.5,
                 fontweight="bold", va="center")
        colour = racer_colours([opt])[0]
        for c, n in enumerate(g.landscapes):
            x0 = LEFT + CELL_W * c
            boxes[(opt, n)] = (x0, top, CELL_W, CELL_H)
            left, bottom = at(x0 + (CELL_W - MAP) / 2, top + CELL_H - MAP_BOTTOM)
            ax = fig.add_axes((left, bottom, MAP / width, MAP / height))
            _cell(fig, ax, g, g.cell(opt, n), lss[n], backgrounds[n], colour, at, x0, top)
    return fig, boxes


def _rule(fig: Any, a: tuple[float, float], b: tuple[float, float]) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([a[0], b[0]], [a[1], b[1]], transform=fig.transFigure, color="#999999", lw=0.6)


def _background(ls: Landscape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, Z = ls.grid(GRID)
    with np.errstate(all="ignore"):
        V, _ = C.map_values(ls, Z)
    return xs, ys, np.ma.masked_invalid(V)


def _cell(fig: Any, ax: Any, g: Any, cell: Any, ls: Landscape, bg: tuple[np.ndarray, np.ndarray, np.ndarray],
          colour: str, at: Any, x0: float, top: float) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    ax.set_xticks([])
    ax.set_yticks([])
    (wx0, wx1), (wy0, wy1) = ls.window
    ax.set_xlim(wx0, wx1)
    ax.set_ylim(wy0, wy1)
    above = at(x0 + CELL_W / 2, top + 0.05)
    below = at(x0 + CELL_W / 2, top + CELL_H - MAP_BOTTOM + 0.04)
    if cell.race is None:
        ax.set_facecolor(REFUSED_FACE)
        for s in ax.spines.values():
            s.set_color("#CCCCCC")
        why = "\n".join(textwrap.wrap(cell.refused or "", 30)[:9])
        ax.text(0.5, 0.5, f"not raced here:\n{why}", transform=ax.transAxes, ha="center", va="center", fontsize=5.2,
                color="#555555", linespacing=1.15)
        return
    ax.set_aspect("equal", adjustable="box", anchor="S")
    xs, ys, V = bg
    cmap = ListedColormap(colormaps[CMAP](np.linspace(0.4, 1.0, 256)))
    cf = ax.contourf(xs, ys, V, levels=LEVELS, cmap=cmap, zorder=0)
    cf.set_rasterized(True)  # a picture in the SVG, not thousands of paths
    m = np.asarray(ls.minima, dtype=np.float64).reshape(-1, 2)
    ax.plot(m[:, 0], m[:, 1], ls="none", marker="*", ms=6, mfc="gold", mec="black", mew=0.4, zorder=4)
    race = cell.race
    for s in range(race.positions.shape[1]):
        P = race.positions[0, s]
        ok = np.isfinite(P).all(axis=1)
        Q = P[ok]
        ax.plot(Q[:, 0], Q[:, 1], "-", color=colour, lw=0.9, alpha=0.95, zorder=5)
        ax.plot([Q[0, 0]], [Q[0, 1]], ls="none", marker="o", ms=3.5, mfc="white", mec="black", mew=0.6, zorder=6)
        end, inside = _end(ls, Q)
        if race.diverged_at[0, s] >= 0:
            ax.plot([end[0]], [end[1]], ls="none", marker="X", ms=7, mfc=DIVERGED, mec="white", mew=0.6, zorder=7,
                    clip_on=False)
        elif inside:
            ax.plot([end[0]], [end[1]], ls="none", marker="o", ms=3.5, mfc=colour, mec="white", mew=0.5, zorder=7)
        else:  # ended outside the window without diverging: where it left, drawn hollow
            ax.plot([end[0]], [end[1]], ls="none", marker="D", ms=4, mfc="none", mec=colour, mew=1.0, zorder=7,
                    clip_on=False)
    fig.text(*above, _setting_text(cell), fontsize=6.3, ha="center", va="top")
    text, bad = _outcome_text(g, cell, ls)
    fig.text(*below, text, fontsize=5.8, ha="center", va="top", color=DIVERGED if bad else "#222222",
             linespacing=1.1)


def _end(ls: Landscape, Q: np.ndarray) -> tuple[np.ndarray, bool]:
    """Where to mark a run's end: its last point when inside the window, else the point where it
    last left the window (on its edge), and whether it ended inside."""
    (x0, x1), (y0, y1) = ls.window
    inside = (Q[:, 0] >= x0) & (Q[:, 0] <= x1) & (Q[:, 1] >= y0) & (Q[:, 1] <= y1)
    if inside[-1]:
        return Q[-1], True
    entered = np.nonzero(inside)[0]
    if not len(entered):  # never inside (a start outside the window): its last point, on the edge
        return C.clip_to_window(ls, Q[-1]), False
    j = int(entered[-1])
    a, b = Q[j], Q[j + 1]
    d = b - a
    t = 1.0
    for k, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        if d[k] > 0:
            t = min(t, (hi - a[k]) / d[k])
        elif d[k] < 0:
            t = min(t, (lo - a[k]) / d[k])
    return a + max(0.0, t) * d, False


def _num(v: float) -> str:
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.1e}"


def _setting_text(cell: Any) -> str:
    parts = [f"{SHORT.get(k, k)}={_num(v)}" for k, v in cell.setting.items()]
    parts += [f"{k}={v}" for k, v in cell.fixed.items()]
    return " ".join(parts)


def _outcome_text(g: Any, cell: Any, ls: Landscape) -> tuple[str, bool]:
    """The cell's result line(s) and whether it is bad news (a run diverged)."""
    race = cell.race
    assert race is not None
    n = len(cell.diverged_at)
    lines = []
    for s, d in enumerate(cell.diverged_at):
        if d >= 0:
            lines.append(f"diverged at step {d}" + (f" (start {s + 1})" if n > 1 else ""))
    obj = g.config["objective"]
    if not lines or len(lines) < n:
        if obj == "steps_to_tolerance":
            lines.insert(0, "never within tol" if not math.isfinite(cell.value) else f"{cell.value:.0f} steps to tol")
        elif math.isfinite(cell.value):
            what = "f−f*" if math.isfinite(ls.min_value) else "f"
            best = "best " if obj == "best_loss" else ""
            lines.insert(0, f"{best}{what} {_num(cell.value)}" + (" (median)" if n > 1 else ""))
    evals = cell.evaluations
    if any(e != race.steps and d < 0 for e, d in zip(evals, cell.diverged_at)):
        lines.append("evaluations " + "/".join(str(e) for e in evals))
    return "\n".join(lines[:2]), any(d >= 0 for d in cell.diverged_at)


def _save(fig: Any, path: Path, dpi: int) -> Path:
    kind = path.suffix.lower()[1:]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=kind, dpi=dpi, metadata=METADATA[kind])
    return path


def _cells_png(fig: Any, boxes: dict[tuple[str, str], tuple[float, float, float, float]],
               dpi: int) -> dict[tuple[str, str], bytes]:
    """Each cell cut from one Agg rendering of the grid, as PNG bytes (Pillow, no metadata)."""
    Image = need("PIL.Image", purpose="the gallery's HTML page")
    canvas = fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    out = {}
    for key, (x, y, w, h) in boxes.items():
        i0, j0 = round(y * dpi), round(x * dpi)
        crop = rgba[i0:i0 + round(h * dpi), j0:j0 + round(w * dpi), :3]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buf, format="PNG")
        out[key] = buf.getvalue()
    return out


def _html(g: Any, pictures: dict[tuple[str, str], bytes], base_url: str | None) -> str:
    e = html.escape
    lss = {n: planar(get(n), "the gallery") for n in g.landscapes}
    head = "".join(f"<th>{e(lss[n].title)}</th>" for n in g.landscapes)
    body, last = [], None
    for opt, fam in zip(g.optimizers, g.families):
        if fam != last:
            body.append(f'<tr class="family"><th colspan="{len(g.landscapes) + 1}">{e(fam)}</th></tr>')
            last = fam
        spec = registry.get(opt)
        tds = []
        for n in g.landscapes:
            cell = g.cell(opt, n)
            img = base64.b64encode(pictures[(opt, n)]).decode()
            if cell.race is None:
                alt = f"{spec.title} on {lss[n].title}: not raced ({cell.refused})"
                tds.append(f'<td class="refused"><img src="data:image/png;base64,{img}" alt="{e(alt)}" '
                           f'title="{e(cell.refused or "")}"></td>')
                continue
            alt = f"{spec.title} on {lss[n].title}, {_setting_text(cell)}: {_outcome_text(g, cell, lss[n])[0]}"
            links = cell.links() if base_url is None else cell.links(base_url)
            if len(links) == 1:
                opens = f'<a href="{e(links[0])}">open in the arena</a>'
            else:
                opens = "open in the arena: " + " ".join(f'<a href="{e(u)}">start {k + 1}</a>' for k, u in enumerate(links))
            tds.append(f'<td><a href="{e(links[0])}" title="open this race in the web arena"><img '
                       f'src="data:image/png;base64,{img}" alt="{e(alt)}"></a><div class="open">{opens}</div></td>')
        body.append(f'<tr><th class="opt">{e(spec.title)}<br><small>{e(opt)}</small></th>{"".join(tds)}</tr>')
    statement = "".join(f"<li>{e(line)}</li>" for line in g.statement())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>optarena gallery</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
ul.fair {{ max-width: 70em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 2px; vertical-align: top; }}
thead th {{ position: sticky; top: 0; background: #fff; font-size: 12px; }}
tr.family th {{ text-align: left; padding-top: 1em; border-bottom: 1px solid #999; color: #555; }}
th.opt {{ text-align: left; white-space: nowrap; vertical-align: middle; }}
td img {{ display: block; width: {CELL_W}in; }}
div.open {{ font-size: 11px; text-align: center; }}
td.refused img {{ opacity: 0.85; }}
</style></head><body>
<h1>optarena gallery</h1>
<p>Every optimizer on every landscape, each at the setting a stated sweep found best there. Click a cell to open
that race in the web arena (<code>optarena serve</code>); a landscape with two starts has a link per start
(the arena races one start at a time).</p>
<ul class="fair">{statement}</ul>
<table><thead><tr><th></th>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
</body></html>
"""


def write_gallery(g: Any, png: str | Path | None = None, svg: str | Path | None = None,
                  html_path: str | Path | None = None, *, dpi: int = DPI, base_url: str | None = None) -> list[Path]:
    """Write the gallery as PNG, SVG and/or the self-contained HTML page (each whole or not at
    all); returns the paths written. ``base_url``: where the page's links open the web arena
    (default: the cells' own, ``optarena serve``'s address)."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 20 <= dpi <= 400:
        from ..errors import UsageError

        raise UsageError(f"dpi must be an integer in [20, 400], got {dpi!r}", field="dpi")
    need("matplotlib", purpose="the gallery")
    written = []
    with _style():
        fig, boxes = figure(g, dpi)
        if png is not None:
            written.append(_save(fig, Path(png), dpi))
        if svg is not None:
            written.append(_save(fig, Path(svg), dpi))
        if html_path is not None:
            pictures = _cells_png(fig, boxes, dpi)
            atomic_write(html_path, _html(g, pictures, base_url))
            written.append(Path(html_path))
    return written
