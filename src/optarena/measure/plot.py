"""Pictures of a sweep (matplotlib's object API on the Agg canvas: no pyplot, no display).

* one setting axis: the objective against it, a line per optimizer (median over starts and
  seeds, the interquartile band shaded, diverged settings marked x on the top edge);
* two setting axes: a stability map per optimizer, log colour of the objective, diverged cells
  in red, never-converged cells hatched grey;
* x and y axes: a basin map per optimizer (the first setting): each start coloured by the
  minimum its run ended at, grey where it ended elsewhere, red where it diverged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..arena.presentation import racer_colours
from ..errors import UsageError
from ..export.images import save_figure
from ..extras import need
from .sweeps import DIVERGED, ELSEWHERE, SweepResult, run_values

DIVERGED_COLOUR = "#D62728"
ELSEWHERE_COLOUR = "#BBBBBB"
BASIN_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def plot_sweep(result: SweepResult, path: Any = None, metric: str = "final_loss", dpi: int = 100) -> Any:
    need("matplotlib", purpose="plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_set, O = len(result.setting_axes), len(result.optimizers)
    if result.start_axes:
        kind = "basin"
    elif n_set == 1:
        kind = "line"
    elif n_set == 2:
        kind = "map"
    else:
        raise UsageError(f"a picture needs one or two setting axes, or x and y axes; this sweep has {n_set} "
                         f"setting axes ({', '.join(a.name for a in result.setting_axes)})")
    panels = 1 if kind == "line" else O
    fig = Figure(figsize=(5.2 * panels if kind != "line" else 7.5, 4.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axs = np.atleast_1d(fig.subplots(1, panels, squeeze=False)[0])
    title = _title(result, metric)
    if kind == "line":
        _line(axs[0], result, metric)
    elif kind == "map":
        for o, ax in enumerate(axs):
            _stability(fig, ax, result, o, metric)
    else:
        for o, ax in enumerate(axs):
            _basins(ax, result, o)
    fig.suptitle(title, fontsize=10)
    if path is not None:
        save_figure(fig, Path(path), dpi)
    return fig


def _title(result: SweepResult, metric: str) -> str:
    c = result.config
    land = c["landscape"].get("name") or c["landscape"].get("formula")
    starts = "a grid of starts" if result.start_axes else f"{len(c['starts'])} start(s)"
    what = "basin of each start" if result.start_axes else f"median {metric.replace('_', ' ')} over starts x seeds"
    return f"{land}: {c['steps']} steps, {starts}, {len(c['seeds'])} seed(s)\n{what}"


def _line(ax: Any, result: SweepResult, metric: str) -> None:
    a = result.setting_axes[0]
    x = np.asarray(a.values, dtype=float)
    runs = tuple(range(1, result.final_loss.ndim - 1))  # starts and seeds, within one optimizer
    colours = racer_colours([r["optimizer"] for r in result.config["optimizers"]])  # as a race draws them
    for o, label in enumerate(result.optimizers):
        v = _values(result, metric)[o]
        with np.errstate(invalid="ignore"):  # inf (diverged) runs: the quartiles are inf or NaN
            med = np.median(v, axis=runs)
            lo = np.percentile(v, 25, axis=runs)
            hi = np.percentile(v, 75, axis=runs)
        c = colours[o]
        finite = np.isfinite(med)
        ax.plot(x[finite], med[finite], "-o", color=c, ms=3, label=label)
        band = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(x[band], lo[band], hi[band], color=c, alpha=0.15, lw=0)
        if (~finite).any():
            ax.plot(x[~finite], np.full((~finite).sum(), 1.0), "x", color=c, ms=6, transform=ax.get_xaxis_transform(),
                    clip_on=False)
    if a.log:
        ax.set_xscale("log")
    ax.set_yscale("log" if metric != "steps_to_tolerance" else "linear")
    ax.set_xlabel(a.name)
    ax.set_ylabel(_ylabel(metric))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _values(result: SweepResult, metric: str) -> np.ndarray:
    """Per run, as ``objective`` counts it (losses floored at 1e-16 for a log axis)."""
    return run_values(result, metric, floor=None if metric == "steps_to_tolerance" else 1e-16)


def _ylabel(metric: str) -> str:
    return {"final_loss": "final loss - minimum", "best_loss": "best loss - minimum",
            "steps_to_tolerance": "steps to tolerance"}[metric]


def _edges(values: Any, log: bool) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log10(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return 10 ** e if log else e


def _stability(fig: Any, ax: Any, result: SweepResult, o: int, metric: str) -> None:
    from matplotlib.colors import LogNorm, Normalize

    ax_x, ax_y = result.setting_axes
    med = result.objective(metric)[o]  # (nx, ny)
    div = result.diverged_fraction()[o]
    ex, ey = _edges(ax_x.values, ax_x.log), _edges(ax_y.values, ax_y.log)
    finite = med[np.isfinite(med)]
    shown = np.ma.masked_invalid(np.where(np.isfinite(med), np.maximum(med, 1e-16), np.nan))
    norm = (LogNorm(vmin=max(finite.min(), 1e-16), vmax=max(finite.max(), 1e-15)) if metric != "steps_to_tolerance"
            else Normalize(vmin=finite.min(), vmax=finite.max())) if finite.size else None
    mesh = ax.pcolormesh(ex, ey, shown.T, cmap="viridis", norm=norm, shading="flat")
    # diverged on most runs: red; never within tolerance (but finite): grey
    red = np.ma.masked_where(~(div > 0.5), np.ones_like(div))
    ax.pcolormesh(ex, ey, red.T, cmap=_single(DIVERGED_COLOUR), shading="flat", vmin=0, vmax=1)
    grey = np.ma.masked_where(~((div <= 0.5) & ~np.isfinite(med)), np.ones_like(div))
    ax.pcolormesh(ex, ey, grey.T, cmap=_single(ELSEWHERE_COLOUR), shading="flat", vmin=0, vmax=1)
    if ax_x.log:
        ax.set_xscale("log")
    if ax_y.log:
        ax.set_yscale("log")
    ax.set_xlabel(ax_x.name)
    ax.set_ylabel(ax_y.name)
    ax.set_title(f"{result.optimizers[o]}  (red: diverged)", fontsize=9)
    if norm is not None:
        fig.colorbar(mesh, ax=ax, label=_ylabel(metric))


def _single(c: str) -> Any:
    from matplotlib.colors import ListedColormap

    return ListedColormap([c])


def _basins(ax: Any, result: SweepResult, o: int) -> None:
    from matplotlib.colors import ListedColormap

    x_axis, y_axis = result.start_axes
    code = result.basin_map(o)
    M = len(result.minima)
    colours = [DIVERGED_COLOUR, ELSEWHERE_COLOUR] + [BASIN_COLOURS[m % len(BASIN_COLOURS)] for m in range(M)]
    img = code + 2  # DIVERGED -> 0, ELSEWHERE -> 1, minimum m -> m + 2
    ex, ey = _edges(x_axis.values, False), _edges(y_axis.values, False)
    ax.pcolormesh(ex, ey, img.T, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5, shading="flat")
    ls = result.surface()  # the object swept, which may be one no registry knows
    X, Y, Z = ls.grid(120, ((ex[0], ex[-1]), (ey[0], ey[-1])))
    base = ls.min_value if np.isfinite(ls.min_value) else np.nanmin(Z)  # no minimum claimed: the lowest shown
    Zs = np.log1p(np.maximum(Z - base, 0))
    ax.contour(X, Y, Zs, levels=14, colors="white", linewidths=0.5, alpha=0.6)
    for m, (mx, my) in enumerate(result.minima):
        ax.plot([mx], [my], "*", color=BASIN_COLOURS[m % len(BASIN_COLOURS)], ms=13, mec="black", mew=0.8)
    names = {ELSEWHERE: "elsewhere", DIVERGED: "diverged"}
    parts = [f"{100 * v:.0f}% {names.get(m, f'min {m + 1}')}" for m, v in result.basin_shares(o).items()]
    ax.set_title(f"{result.optimizers[o]}\n" + ", ".join(parts), fontsize=8)
    ax.set_xlabel("x start")
    ax.set_ylabel("y start")
    ax.set_aspect("equal")
