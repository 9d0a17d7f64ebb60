"""Interactive HTML: one self-contained file (or notebook fragment) with Plotly.js inlined.

The page loads nothing from the network: Plotly.js comes from the installed ``plotly`` package,
no fonts, no MathJax. The race travels as compact arrays; a few lines of JavaScript build the
Plotly frames from them (each frame shows every racer up to one step), so the file stays small.
The contour map is an inlined PNG under the axes, not a contour trace: Plotly blanks contour
traces as soon as an animation moves other traces without a full redraw (plotly.js #4491).
"""

from __future__ import annotations

import base64
import html as _html
import io
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_write
from ..arena import presentation
from ..arena.anatomy import vector_text
from ..arena.result import RaceResult
from . import _common as C
from ._deps import need

if TYPE_CHECKING:
    from ..arena.anatomy import StepAnatomy

MAX_PATH_POINTS = 2000  # per racer; longer races are subsampled (the frames' steps are always kept)
MAP_PIXELS = 500
LEVELS = 24


def _nums(a: Any, sig: int = 7) -> list[float | None]:
    """Floats rounded to ``sig`` digits (a smaller file); NaN and inf become null (a gap)."""
    return [float(f"{v:.{sig}g}") if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64).ravel()]


def _json(obj: Any) -> str:
    # Safe inside <script>: no "</script>", "<!--" or "&" can appear from labels or formulas.
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _head(symbol: str, colour: str, size: int) -> dict[str, Any]:
    edge = "white" if symbol == "circle" else colour
    return {"symbol": symbol, "color": colour, "size": size, "line": {"color": edge, "width": 1.5}}


def _greys(b: np.ndarray) -> np.ndarray:
    """Band b of LEVELS as a grey level 0-255: the still image's light greys (dark = low)."""
    return np.round(255 * (0.4 + 0.6 * (b + 0.5) / LEVELS)).astype(np.uint8)


def _map_image(ls: Any) -> tuple[str, list[list[Any]], float, float, str]:
    """The filled contour as a PNG data URI, its colour scale, value range and label."""
    Image = need("PIL.Image")
    xs, ys, Z = ls.grid(MAP_PIXELS)
    with np.errstate(all="ignore"):
        V, vlabel = C.map_values(ls, Z)
    ok = np.isfinite(V)
    lo, hi = (float(V[ok].min()), float(V[ok].max())) if ok.any() else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    band = np.clip(((np.where(ok, V, lo) - lo) / (hi - lo) * LEVELS).astype(np.int64), 0, LEVELS - 1)
    grey = _greys(band).astype(np.float64)
    edge = np.zeros(band.shape, dtype=bool)  # contour lines: where the band changes
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    grey = np.where(edge, grey * 0.72, grey)
    grey = np.where(ok, grey, 255.0)
    img = np.repeat(np.round(grey).astype(np.uint8)[::-1, :, None], 3, axis=2)  # row 0 is the top (y max)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    g = _greys(np.arange(LEVELS))
    scale = [[round(min(b + e, LEVELS) / LEVELS, 6), f"rgb({v},{v},{v})"] for b, v in enumerate(g) for e in (0, 1)]
    return uri, scale, lo, hi, vlabel


def figure_data(result: RaceResult, fps: int = 20, duration: float | None = None, start: int = 0,
                anatomy: StepAnatomy | None = None) -> dict[str, Any]:
    """Plotly traces, layout and config for the first frame shown, plus what the frames are built
    from. With ``anatomy`` the page opens at its step (a frame of its own) with its terms drawn as
    arrows on the map (``anatomy_layout``)."""
    ls, looks, scale = C.landscape(result), C.looks(result), C.loss_scale(result, start, linear=True)
    cols = [look.colour for look in looks]
    ks = C.frame_steps(result.steps, fps, duration)
    if anatomy is not None and anatomy.step not in ks:
        ks = np.sort(np.append(ks, anatomy.step))
    first = 0 if anatomy is None else int(np.nonzero(ks == anatomy.step)[0][0])
    T = result.steps + 1
    pt = np.arange(T) if T <= MAX_PATH_POINTS else np.union1d(np.round(np.linspace(0, T - 1, MAX_PATH_POINTS)), ks)
    pt = pt.astype(np.int64)
    n_shown = np.searchsorted(pt, ks, side="right")
    uri, colourscale, vlo, vhi, vlabel = _map_image(ls)
    (x0, x1), (y0, y1) = ls.window
    m = np.asarray(ls.minima, dtype=np.float64).reshape(-1, 2)
    s0 = result.config["starts"][start]
    traces: list[dict[str, Any]] = [
        # Carries only the colour bar of the map image (its one point is never drawn).
        {"type": "scatter", "mode": "markers", "x": [None], "y": [None], "showlegend": False, "hoverinfo": "skip",
         "marker": {"color": [vlo], "cmin": vlo, "cmax": vhi, "colorscale": colourscale, "showscale": True,
                    "colorbar": {"title": {"text": vlabel, "side": "right"}, "x": 0.455, "len": 0.9,
                                 "thickness": 12}}},
        {"type": "scatter", "mode": "markers", "x": _nums(m[:, 0]), "y": _nums(m[:, 1]), "name": "minimum",
         "showlegend": bool(len(m)),  # a landscape that claims no minimum shows none (the trace stays: the
         # player moves traces by index)
         "marker": {"symbol": "star", "size": 16, "color": "gold", "line": {"color": "black", "width": 1}}},
        {"type": "scatter", "mode": "markers", "x": [s0[0]], "y": [s0[1]], "name": "start",
         "marker": {"symbol": "circle", "size": 11, "color": "white", "line": {"color": "black", "width": 2}}},
    ]
    racers = []
    for i, c in enumerate(cols):
        P = result.positions[i, start]
        L = scale(result.losses[i, start])
        d = int(result.diverged_at[i, start])
        hx, hy, hk, hl, sym, note, tpos = [], [], [], [], [], [], []
        for k in ks:
            dead = 0 <= d <= k
            j, p = C.last_finite(result, i, start, int(k))
            if dead:
                p = C.clip_to_window(ls, p)
            hx.append(p[0])
            hy.append(p[1])
            hk.append(j)
            hl.append(L[j])
            sym.append("x" if dead else "circle")
            below = p[1] > (y0 + y1) / 2
            gap = "<br>" * i  # stacks the notes of racers that diverged at the same corner
            note.append((gap + f"diverged at step {d}" if below else f"diverged at step {d}" + gap) if dead else "")
            tpos.append(("bottom " if below else "top ") + ("left" if p[0] > (x0 + x1) / 2 else "right"))
        racers.append({"px": _nums(P[pt, 0]), "py": _nums(P[pt, 1]), "ly": _nums(L[pt]), "n": n_shown.tolist(),
                       "hx": _nums(hx), "hy": _nums(hy), "hk": hk, "hl": _nums(hl), "sym": sym, "note": note,
                       "tpos": tpos, "colour": c})
        label, group = looks[i].legend, f"r{i}"
        traces += [
            {"type": "scatter", "mode": "lines", "x": [], "y": [], "name": label, "legendgroup": group,
             "line": {"color": c, "width": 2.5}},
            {"type": "scatter", "mode": "markers+text", "x": [], "y": [], "legendgroup": group, "showlegend": False,
             "textfont": {"color": c, "size": 12}, "cliponaxis": False, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "lines", "x": [], "y": [], "xaxis": "x2", "yaxis": "y2", "legendgroup": group,
             "showlegend": False, "line": {"color": c, "width": 2}, "name": looks[i].label},
            {"type": "scatter", "mode": "markers", "x": [], "y": [], "xaxis": "x2", "yaxis": "y2", "legendgroup": group,
             "showlegend": False, "hoverinfo": "skip", "cliponaxis": False},
        ]
    finite = np.concatenate([np.asarray(r["ly"], dtype=np.float64) for r in racers]) if racers else np.array([])
    if scale.log:
        finite = finite[np.isfinite(finite) & (finite > 0)]
        lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.size else (-1.0, 1.0)
        pad = 0.05 * (hi - lo) + 0.05
        loss_axis = {"type": "log", "range": [lo - pad, hi + pad], "dtick": 1 if hi - lo > 2 else "D2",
                     "exponentformat": "power"}
    else:  # plain loss, negative values included (no minimum to measure from)
        finite = finite[np.isfinite(finite)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        pad = 0.05 * (hi - lo) + 1e-9
        loss_axis = {"type": "linear", "range": [lo - pad, hi + pad]}
    frame_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    play = {"mode": "immediate", "fromcurrent": True, "frame": {"duration": round(1000 / fps), "redraw": False},
            "transition": {"duration": 0}}
    titles = [result.status_line(int(k), start) for k in ks]
    layout: dict[str, Any] = {
        "title": {"text": titles[first], "x": 0.5, "font": {"size": 15}},
        "images": [{"source": uri, "xref": "x", "yref": "y", "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0,
                    "sizing": "stretch", "layer": "below"}],
        "xaxis": {"domain": [0, 0.44], "range": [x0, x1], "title": {"text": "x"}, "constrain": "domain",
                  "showgrid": False, "zeroline": False,
                  "constraintoward": "right"},  # equal aspect shrinks the map: keep it by its colour bar
        "yaxis": {"domain": [0, 1], "range": [y0, y1], "title": {"text": "y"}, "scaleanchor": "x", "scaleratio": 1,
                  "showgrid": False, "zeroline": False,
                  "constrain": "domain"},
        "xaxis2": {"domain": [0.56, 1], "range": [0, result.steps], "title": {"text": "step"}, "anchor": "y2"},
        "yaxis2": {**loss_axis, "title": {"text": scale.label}, "anchor": "x2"},
        "annotations": [
            {"text": ls.title, "x": 0.22, "y": 1.0, "xref": "paper", "yref": "paper", "yanchor": "bottom",
             "showarrow": False, "font": {"size": 13}},
            {"text": "Loss per step", "x": 0.78, "y": 1.0, "xref": "paper", "yref": "paper", "yanchor": "bottom",
             "showarrow": False, "font": {"size": 13}}],
        "legend": {"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.32, "yanchor": "top"},
        "margin": {"l": 60, "r": 30, "t": 70, "b": 150},
        "height": 600,
        "plot_bgcolor": "white",
        "updatemenus": [{
            "type": "buttons", "direction": "left", "showactive": False, "x": 0, "xanchor": "left", "y": -0.12,
            "yanchor": "top", "pad": {"t": 10, "r": 10},
            "buttons": [{"label": "\u25b6 Play", "method": "animate", "args": [None, play]},
                        {"label": "\u275a\u275a Pause", "method": "animate", "args": [[None], frame_args]}]}],
        "sliders": [{
            "active": first, "x": 0.17, "len": 0.83, "y": -0.1, "yanchor": "top", "pad": {"t": 10},
            "currentvalue": {"prefix": "step ", "font": {"size": 13}}, "ticklen": 2,
            "font": {"color": "rgba(0,0,0,0)"},  # one tick per frame: their labels would pile up
            "steps": [{"label": str(int(k)), "method": "animate", "args": [[str(f)], frame_args]}
                      for f, k in enumerate(ks)]}],
    }
    data: dict[str, Any] = {
        "traces": traces, "layout": layout, "titles": titles, "racers": racers, "pt": pt.tolist(), "first": first,
        # No "Share chart" button: it would upload the race to Plotly's cloud.
        "config": {"responsive": True, "displaylogo": False, "showSendToCloud": False}}
    if anatomy is not None:
        arrows, shapes, arrow_scale = anatomy_layout(anatomy, x1 - x0)
        layout["annotations"] += arrows
        layout["shapes"] = shapes
        data["anatomy"] = {"racer": anatomy.racer, "start": anatomy.start, "step": anatomy.step, "scale": arrow_scale}
    return data


def anatomy_layout(a: StepAnatomy, width: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """The step's terms as Plotly arrows from the racer's position (the web page's: named
    ``anatomy:KEY``, the tip at position + scale x vector), the stretch of an adaptive rule as an
    ellipse against the circle of η, and the one scale of every arrow (``presentation.arrow_scale``)."""
    scale = presentation.arrow_scale(a.scale_vectors(), width)
    px, py = (float(c) for c in a.position)
    arrows = []
    for (t, v), colour in zip(a.terms, C.term_colours(a)):
        vx, vy = float(v[0]), float(v[1])
        if vx == 0 and vy == 0:  # a zero vector (momentum's first step) has no arrow; the panel lists it
            continue
        arrows.append({"name": "anatomy:" + t.key, "x": px + scale * vx, "y": py + scale * vy, "ax": px, "ay": py,
                       "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "", "showarrow": True,
                       "arrowhead": 2, "arrowsize": 1, "arrowwidth": 3 if t.key == "step" else 2.2,
                       "arrowcolor": colour, "standoff": 0, "startstandoff": 0,
                       "hovertext": f"{t.label}: {vector_text(v)}"})
    shapes = []
    if a.stretch is not None and a.learning_rate > 0:
        ex, ey = (float(s) / a.learning_rate for s in a.stretch)
        r = width / 10 / max(1.0, ex, ey)
        for name, rx, ry, line in (("anatomy:unit", r, r, {"color": presentation.STRETCH_COLOUR, "width": 1, "dash": "dot"}),
                                   ("anatomy:stretch", r * ex, r * ey, {"color": presentation.STRETCH_COLOUR, "width": 2})):
            shapes.append({"name": name, "type": "circle", "xref": "x", "yref": "y", "x0": px - rx, "x1": px + rx,
                           "y0": py - ry, "y1": py + ry, "line": line, "layer": "above"})
    return arrows, shapes, scale


def _formula(tex: str) -> str:
    from .tex import inline_svg

    drawn = inline_svg(tex)
    return drawn if drawn is not None else f"<code>{_html.escape(tex)}</code>"


def anatomy_panel(a: StepAnatomy, scale: float) -> str:
    """The panel under the map: which step, each arrow's colour, label and vector, the stretch, the
    rule typeset and each formula with this step's numbers (as text, the engine's own)."""
    e = _html.escape
    colours = C.term_colours(a)
    terms = "".join(
        f'<li data-key="{e(t.key)}" title="{e(t.doc)}"><span class="swatch" style="background:{c}"></span>'
        f'<span>{e(t.label)}</span> <span class="mono">{e(vector_text(v))}</span>'
        + ("" if t.key in a.composes or t.key == "step" else ' <span class="hint">(not part of the sum)</span>')
        + "</li>" for (t, v), c in zip(a.terms, colours))
    stretch = f'<p class="stretch">{e(a.stretch_text())}. Dotted circle: η in both coordinates; ellipse: the ' \
              'stretch.</p>' if a.stretch is not None else ""
    lines = "".join(
        "<li>" + (f'<div class="tex">{_formula(tex)}</div>' if tex else "")
        + '<div class="numbers mono">' + "".join(f"<div>{e(n)}</div>" for n in numbers) + "</div></li>"
        for tex, numbers in a.lines)
    return (
        '<section class="optarena-anatomy" aria-label="anatomy of a step">\n<style>'
        ".optarena-anatomy{display:flex;flex-wrap:wrap;gap:8px 40px;margin-top:12px;font-size:14px}"
        ".optarena-anatomy>div{flex:1 1 380px}.optarena-anatomy h3{flex-basis:100%;margin:0;font-size:16px}"
        ".optarena-anatomy h4{margin:10px 0 4px;color:#555;font-size:13px}"
        ".optarena-anatomy ul{list-style:none;padding:0;margin:0}.optarena-anatomy li{margin:3px 0}"
        ".optarena-anatomy ol{padding-left:20px;margin:0}.optarena-anatomy ol li{margin:6px 0}"
        ".optarena-anatomy .swatch{display:inline-block;width:22px;height:5px;margin-right:6px;vertical-align:middle}"
        ".optarena-anatomy .rule svg{max-width:100%;height:auto}"
        ".optarena-anatomy .mono{font-family:monospace}.optarena-anatomy .hint{color:#777}"
        f".optarena-anatomy .stretch{{color:{presentation.STRETCH_COLOUR}}}.optarena-anatomy .numbers{{margin-left:12px}}"
        "</style>\n"
        f"<h3>Anatomy of a step: {e(a.heading())}</h3>\n"
        f'<div><h4>On the map</h4><ul class="terms">{terms}</ul><p class="scale">{e(C.scale_note(scale))}</p>'
        f'{stretch}<h4>The rule: {e(a.title)}</h4><div class="rule">{_formula(a.rule)}</div></div>\n'
        f'<div><h4>This step, with its numbers</h4><ol class="lines">{lines}</ol></div>\n</section>\n'
    )


_SCRIPT = """(function () {
  var D = %(data)s, gd = document.getElementById(%(id)s);
  function state(f) {
    var out = [];
    D.racers.forEach(function (r) {
      var n = r.n[f];
      out.push({x: r.px.slice(0, n), y: r.py.slice(0, n)});
      out.push({x: [r.hx[f]], y: [r.hy[f]], text: [r.note[f]], textposition: r.tpos[f],
                marker: {symbol: r.sym[f], color: r.colour, size: 12,
                         line: {color: r.sym[f] === "x" ? r.colour : "white", width: 1.5}}});
      out.push({x: D.pt.slice(0, n), y: r.ly.slice(0, n)});
      out.push({x: [r.hk[f]], y: [r.hl[f]],
                marker: {symbol: r.sym[f], color: r.colour, size: 8,
                         line: {color: r.sym[f] === "x" ? r.colour : "white", width: 1}}});
    });
    return out;
  }
  var moving = D.racers.map(function (r, i) { return [3 + 4 * i, 4 + 4 * i, 5 + 4 * i, 6 + 4 * i]; })
                       .reduce(function (a, b) { return a.concat(b); }, []);
  var first = state(D.first);
  first.forEach(function (s, j) { Object.assign(D.traces[moving[j]], s); });
  var frames = D.titles.map(function (t, f) {
    return {name: String(f), data: state(f), traces: moving, layout: {title: {text: t}}};
  });
  Plotly.newPlot(gd, D.traces, D.layout, D.config).then(function () {
    // Frames move the traces without a full redraw, which leaves the drawn title as it was (the
    // layout's title does change): write its text. Plotly.relayout here would blank the contour.
    gd.on("plotly_animatingframe", function (e) {
      var t = gd.querySelector(".gtitle");
      if (t) t.textContent = D.titles[+e.name];
    });
    return Plotly.addFrames(gd, frames);
  });
})();"""


def fragment(result: RaceResult, fps: int = 20, duration: float | None = None, start: int = 0,
             height: int = 600, anatomy: StepAnatomy | None = None) -> str:
    """A div plus scripts, embeddable anywhere (a notebook cell, a page). Plotly.js is inlined
    once per fragment and only run when the page has no Plotly yet, so repeated displays work.
    With ``anatomy``, its panel follows the map (``anatomy_panel``)."""
    plotly_js = need("plotly.offline").get_plotlyjs()
    data = figure_data(result, fps, duration, start, anatomy)
    data["layout"]["height"] = height
    div_id = f"optarena-{uuid.uuid4().hex[:12]}"
    return (
        f'<div id="{div_id}" class="optarena-race" style="width:100%;min-width:700px;height:{height}px"></div>\n'
        f'<script type="text/javascript">\nif (typeof window.Plotly === "undefined") {{\n{plotly_js}\n}}\n</script>\n'
        f'<script type="text/javascript">\n{_SCRIPT % {"data": _json(data), "id": json.dumps(div_id)}}\n</script>\n'
        + ("" if anatomy is None else anatomy_panel(anatomy, data["anatomy"]["scale"]))
    )


def page(result: RaceResult, fps: int = 20, duration: float | None = None, start: int = 0,
         anatomy: StepAnatomy | None = None) -> str:
    """A complete HTML document that opens from disk, offline."""
    ls = C.landscape(result)
    title = _html.escape(f"optarena: {', '.join(result.labels)} on {ls.title}")
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
            '</head>\n<body style="margin:16px;font-family:sans-serif">\n'
            f'{fragment(result, fps, duration, start, anatomy=anatomy)}</body>\n</html>\n')


def write_html(result: RaceResult, path: Path, fps: int = 20, duration: float | None = None, start: int = 0,
               anatomy: StepAnatomy | None = None) -> Path:
    atomic_write(path, page(result, fps, duration, start, anatomy))
    return path
