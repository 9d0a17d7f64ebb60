// Rendering only: Plotly traces for the map, the surface and the linked charts. No UI state here.
const MAP_LAYOUT = {
  margin: { l: 50, r: 10, t: 10, b: 40 },
  dragmode: false,
  hovermode: "closest",
  showlegend: true,
  legend: { orientation: "h", y: -0.12 },
  xaxis: { title: { text: "x" }, zeroline: false },
  yaxis: { title: { text: "y" }, zeroline: false, scaleanchor: "x", scaleratio: 1 },
};
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "zoom2d", "pan2d", "select2d", "lasso2d"] };

export function finiteUpTo(arr, k) {
  const out = [];
  for (let i = 0; i <= k && i < arr.length; i++) out.push(arr[i]);
  return out;
}

// Full paths, drawn once per race as faint "ghosts" (and the legend); the moving part of the race
// is painted on a canvas overlay per frame, so animating never makes Plotly redraw the contour.
function ghostTraces(race, visible) {
  return race.runs.filter((run) => run.start === 0).map((run) => {
    const pts = run.positions.filter((p) => p && p[0] !== null);
    return {
      type: "scatter", mode: "lines", name: race.legends[run.racer], visible: visible[run.racer] ? true : "legendonly",
      x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), opacity: 0.3,
      line: { color: race.colours[run.racer], width: 1.5 }, hoverinfo: "name",
    };
  });
}

// What the map's log colour subtracts: the minimum or lower bound the landscape claims, else (as
// the server does) the lowest value on the grid.
function colourFloor(grid) {
  const m = grid.landscape.min_value;
  if (m !== null && m !== undefined) return m;
  let lo = Infinity;
  for (const row of grid.z) for (const v of row) if (v !== null && v < lo) lo = v;
  return Number.isFinite(lo) ? lo : 0;
}

function colourTitle(grid) {
  if (!grid.log) return "f";
  const kind = grid.landscape.minimum_kind;
  return kind === "lower_bound" ? "log10(f − bound)" : kind === "none" ? "log10(f − lowest shown)" : "log10(f − min)";
}

// The path of one run up to step k on the surface (z as the surface colours it), the current point
// marked: the path stops at the last finite point.
function surfacePath(run, k, grid) {
  const n = Math.min(k, run.positions.length - 1);
  const x = [], y = [], z = [];
  for (let t = 0; t <= n; t++) {
    const p = run.positions[t];
    const l = run.losses[t];
    if (!p || p[0] === null || l === null) break;
    x.push(p[0]); y.push(p[1]);
    z.push(grid.log ? Math.log10(Math.max(l - grid.floor, 0) + 1e-12) : l);
  }
  const size = x.map((_, t) => (t === x.length - 1 ? 7 : 0));
  return { x, y, z, size };
}

const surfaceRuns = (race, visible) => race.runs.filter((run) => run.start === 0 && visible[run.racer]);

export function drawMap(div, grid, race, visible, k, surface) {
  const ls = grid.landscape;
  if (grid.floor === undefined) grid.floor = colourFloor(grid);
  if (surface) {
    const traces = [{ type: "surface", x: grid.x, y: grid.y, z: grid.colour, colorscale: "Viridis", showscale: false, opacity: 0.9 }];
    surfaceRuns(race, visible).forEach((run) => {
      const p = surfacePath(run, k, grid);
      traces.push({ type: "scatter3d", mode: "lines+markers", name: race.legends[run.racer], x: p.x, y: p.y, z: p.z,
        line: { color: race.colours[run.racer], width: 6 }, marker: { size: p.size, color: race.colours[run.racer] } });
    });
    div.dataset.surfaceK = k;
    return Plotly.react(div, traces, { margin: { l: 0, r: 0, t: 0, b: 0 }, uirevision: "surface", scene: { xaxis: { title: { text: "x" } }, yaxis: { title: { text: "y" } }, zaxis: { title: { text: colourTitle(grid) } } } }, CONFIG);
  }
  const contour = {
    type: "contour", x: grid.x, y: grid.y, z: grid.colour, colorscale: "Viridis", ncontours: 30, showscale: true,
    colorbar: { title: { text: colourTitle(grid), side: "right" }, thickness: 12 },
    contours: { coloring: "heatmap", showlines: true }, line: { width: 0.5, color: "rgba(255,255,255,0.35)" },
    hovertemplate: "x %{x:.3f}<br>y %{y:.3f}<extra></extra>", showlegend: false,
  };
  // a star only where the landscape lists a minimum; a saddle it declares is marked as one
  const points = [];
  if (ls.minima.length) {
    points.push({ type: "scatter", mode: "markers", name: "minimum", x: ls.minima.map((m) => m[0]), y: ls.minima.map((m) => m[1]),
      marker: { symbol: "star", size: 15, color: "white", line: { color: "black", width: 1 } }, hoverinfo: "name" });
  }
  if (ls.saddle) {
    points.push({ type: "scatter", mode: "markers", name: "saddle point", x: [ls.saddle[0]], y: [ls.saddle[1]],
      marker: { symbol: "bowtie", size: 15, color: "white", line: { color: "black", width: 1.5 } }, hoverinfo: "name" });
  }
  const start = race.config.starts[0];
  const startTrace = { type: "scatter", mode: "markers", name: "start", x: [start[0]], y: [start[1]], marker: { symbol: "circle-open", size: 14, color: "black", line: { width: 2 } }, hoverinfo: "name" };
  const layout = { ...MAP_LAYOUT, xaxis: { ...MAP_LAYOUT.xaxis, range: ls.window[0] }, yaxis: { ...MAP_LAYOUT.yaxis, range: ls.window[1] } };
  // beyond 2-D: the plane the race is drawn on (its title says which, and its share); a network's
  // surface: the plane through its trained weights, in coordinates (a, b) along its two directions
  const view = grid.view || grid.plane;
  if (view) {
    contour.hovertemplate = `${view.axis_labels[0]} %{x:.3f}<br>${view.axis_labels[1]} %{y:.3f}<extra></extra>`;
    Object.assign(layout, { margin: { ...MAP_LAYOUT.margin, t: 52 },
      title: { text: view.title.split("\n").join("<br>"), font: { size: 13 }, x: 0.5, xanchor: "center" } });
    layout.xaxis.title = { text: view.axis_labels[0] };
    layout.yaxis.title = { text: view.axis_labels[1] };
    // random directions are not orthogonal: equal scales would say they are
    if (view.kind === "random") delete layout.yaxis.scaleanchor;
  }
  return Plotly.react(div, [contour, ...points, startTrace, ...ghostTraces(race, visible)], layout, CONFIG);
}

// Per animation frame on the 3-D surface: each path trace (1.. after the surface) up to step k.
export function drawSurfacePaths(div, grid, race, visible, k) {
  if (!div.data || !div.data[0] || div.data[0].type !== "surface" || Number(div.dataset.surfaceK) === k) return;
  const paths = surfaceRuns(race, visible).map((run) => surfacePath(run, k, grid));
  if (!paths.length) return;
  div.dataset.surfaceK = k;
  Plotly.restyle(div, { x: paths.map((p) => p.x), y: paths.map((p) => p.y), z: paths.map((p) => p.z),
    "marker.size": paths.map((p) => p.size) }, paths.map((_, j) => j + 1));
}

// Per animation frame: paths up to step k, current points and divergence marks on a canvas laid
// over the plot area, using the map's own axis transforms.
export function drawOverlay(div, race, visible, k, surface) {
  const wrap = div.parentElement;
  let canvas = wrap.querySelector("canvas.paths");
  let labels = wrap.querySelector(".marks");
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.className = "paths";
    labels = document.createElement("div");
    labels.className = "marks";
    wrap.append(canvas, labels);
  }
  const fl = div._fullLayout;
  if (surface || !fl || !fl.xaxis || !fl.xaxis._length) {
    canvas.style.display = "none";
    labels.replaceChildren();
    return;
  }
  const xa = fl.xaxis, ya = fl.yaxis, dpr = window.devicePixelRatio || 1;
  const w = xa._length, h = ya._length;
  Object.assign(canvas.style, { display: "block", left: `${xa._offset + div.offsetLeft}px`, top: `${ya._offset + div.offsetTop}px`, width: `${w}px`, height: `${h}px` });
  Object.assign(labels.style, { left: canvas.style.left, top: canvas.style.top, width: canvas.style.width, height: canvas.style.height });
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.lineJoin = "round";
  const marks = [];
  for (const run of race.runs) {
    if (run.start !== 0 || !visible[run.racer]) continue;
    const col = race.colours[run.racer];
    ctx.strokeStyle = col;
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    let last = null;
    const n = Math.min(k, run.positions.length - 1);
    for (let t = 0; t <= n; t++) {
      const p = run.positions[t];
      if (!p || p[0] === null) break;
      const px = xa.l2p(p[0]), py = ya.l2p(p[1]);
      if (last) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      last = [px, py];
    }
    ctx.stroke();
    if (!last) continue;
    const diverged = run.diverged_at >= 0 && k >= run.diverged_at;
    ctx.fillStyle = col;
    ctx.beginPath();
    if (diverged) {
      ctx.lineWidth = 3;
      ctx.moveTo(last[0] - 7, last[1] - 7); ctx.lineTo(last[0] + 7, last[1] + 7);
      ctx.moveTo(last[0] + 7, last[1] - 7); ctx.lineTo(last[0] - 7, last[1] + 7);
      ctx.stroke();
      const m = document.createElement("span");
      m.textContent = `${run.label} diverged at step ${run.diverged_at}`;
      m.style.cssText = `left:${Math.min(Math.max(last[0], 0), w - 10)}px; top:${Math.min(Math.max(last[1], 12), h - 4)}px; color:${col}`;
      marks.push(m);
    } else {
      ctx.arc(last[0], last[1], 5.5, 0, 2 * Math.PI);
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "white";
      ctx.stroke();
    }
  }
  labels.replaceChildren(...marks);
  // a label that would run past the plot area's right edge (over the colour bar) is put on the
  // point's left; stacked labels at one spot are moved apart
  const placed = [];
  for (const m of marks) {
    const left = parseFloat(m.style.left), width = m.offsetWidth, height = m.offsetHeight;
    const toLeft = left + 8 + width > w;
    if (toLeft) m.style.transform = "translate(calc(-100% - 8px), -100%)";
    let top = parseFloat(m.style.top);
    while (placed.some((q) => Math.abs(q - top) < height) && top + height < h) top += height;
    placed.push(top);
    m.style.top = `${top}px`;
  }
}

// A number as an axis or a note writes it: 3 significant digits, a power of ten from 1e4 on.
export function shortNumber(v) {
  if (v === 0) return "0";
  const text = Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(0).replace("e+", "e") : String(Number(v.toPrecision(3)));
  return text.replace("-", "−");
}

// Ticks of an asinh axis at round values of the loss: 0, then ±1, 2, 5 x 10^e, each kept if it is
// far enough (on screen) from those kept before; round steps fill in a narrow range.
function symlogTicks(lo, hi, f) {
  const gap = (f(hi) - f(lo)) / 7, kept = [];
  const take = (v) => {
    if (v >= lo - 1e-12 * Math.abs(lo) && v <= hi + 1e-12 * Math.abs(hi) && kept.every((u) => Math.abs(f(u) - f(v)) >= gap)) kept.push(v);
  };
  take(0);
  const top = Math.ceil(Math.log10(Math.max(Math.abs(lo), Math.abs(hi)) || 1));
  for (const m of [1, 2, 5]) for (let e = top; e >= top - 12; e--) { take(m * 10 ** e); take(-m * 10 ** e); }
  if (kept.length < 3 && hi > lo) {
    const raw = (hi - lo) / 5, p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) take(Number(v.toPrecision(12)));
  }
  kept.sort((a, b) => a - b);
  return { tickvals: kept.map(f), ticktext: kept.map(shortNumber) };
}

// What the loss chart shows, as the race's landscape allows (its `min_value`: the minimum or the
// lower bound, null where it claims neither). Above the minimum or bound: loss − it, on a log axis.
// Without one there is nothing to subtract: the loss itself, on an asinh ("symlog") axis, linear
// near 0 and logarithmic far from it, so a racer falling without end leaves the others readable.
export function lossScale(race) {
  const m = race.min_value;
  if (m !== null && m !== undefined) {
    const kind = race.minimum ? race.minimum.kind : "minimum";
    return { title: kind === "lower_bound" ? "loss − bound (log)" : "loss − min (log)", type: "log",
      y: (l) => (l === null ? null : Math.max(l - m, 1e-16)) };
  }
  const runs = race.runs.filter((r) => r.start === 0);
  const first = runs.map((r) => Math.abs(r.losses[0] ?? 0)).filter((v) => v > 0 && Number.isFinite(v));
  const c = first.length ? Math.max(...first) : 1; // linear within about the start's loss
  const f = (l) => Math.asinh(l / c);
  let lo = Infinity, hi = -Infinity; // a loop: 12 racers x 5,000 steps is too many arguments for Math.min
  const esc = race.minimum && race.minimum.escape_below;
  for (const l of [...runs.flatMap((r) => r.losses), esc]) {
    if (l === null || l === undefined) continue;
    lo = Math.min(lo, l);
    hi = Math.max(hi, l);
  }
  if (!(hi > lo)) { // one value (or none): ticks around it
    const d = Number.isFinite(lo) ? Math.abs(lo) || 1 : 1;
    [lo, hi] = Number.isFinite(lo) ? [lo - d, hi + d] : [-1, 1];
  }
  return { title: "loss (symlog)", type: "linear", y: (l) => (l === null ? null : f(l)), ticks: symlogTicks(lo, hi, f) };
}

// Where the landscape lists no minimum point there is no distance to plot: its place says why
// (the landscape's own words) and, on a saddle, when each racer escaped it.
function measureNote(box, race, landscape) {
  const m = race.minimum || {};
  const why = m.note || landscape.minimum_note || "";
  const line = (text, colour) => {
    const p = document.createElement("p");
    p.textContent = text;
    if (colour) p.style.cssText = `border-left: 4px solid ${colour}; padding-left: .35rem`;
    return p;
  };
  const lines = [line(m.kind === "lower_bound" ? `no single minimum point: ${why}` : `no minimum: ${why}`)];
  if (m.escape_below !== null && m.escape_below !== undefined) {
    const at = landscape.saddle ? ` at (${landscape.saddle.map(shortNumber).join(", ")})` : "";
    lines.push(line(`escape from the saddle${at}: loss below ${shortNumber(m.escape_below)}`));
    for (const run of race.runs.filter((r) => r.start === 0)) {
      const k = run.steps_to_escape;
      const text = k !== null && k >= 0 ? `escaped at step ${k}`
        : run.diverged_at >= 0 ? `diverged at step ${run.diverged_at}, not escaped` : `not escaped in ${race.config.steps} steps`;
      lines.push(line(`${run.label}: ${text}`, race.colours[run.racer]));
    }
  }
  box.replaceChildren(...lines);
}

export function drawCharts(divs, race, visible, landscape) {
  const scale = lossScale(race);
  const specs = [
    [scale.title, scale.type, (run) => run.losses.map(scale.y), (run) => run.losses],
    ["‖∇f‖ (log)", "log", (run) => run.grad_norms.map((g) => (g === null ? null : Math.max(g, 1e-16)))],
    ["distance to nearest minimum", "linear", (run) => race.distance[run.racer]],
  ];
  const [, , dist] = divs;
  const note = dist.parentElement.querySelector(".chartnote");
  const noDistance = race.distance === null || race.distance === undefined;
  dist.hidden = noDistance;
  if (note) note.hidden = !noDistance;
  if (noDistance) {
    Plotly.purge(dist);
    if (note) measureNote(note, race, landscape);
  }
  specs.forEach(([title, type, pick, shown], j) => {
    if (j === 2 && noDistance) return;
    const traces = race.runs.filter((r) => r.start === 0).map((run) => ({
      type: "scatter", mode: "lines", name: run.label, visible: visible[run.racer],
      y: pick(run), line: { color: race.colours[run.racer], width: 2 },
      // the symlog axis plots asinh(loss): the hover says the loss itself
      ...(shown && scale.ticks ? { customdata: shown(run), hovertemplate: "step %{x}: %{customdata:.4g}<extra>" + run.label + "</extra>" }
        : { hovertemplate: "step %{x}: %{y:.4g}<extra>" + run.label + "</extra>" }),
    }));
    const yaxis = { type, exponentformat: "power" };
    const layout = { margin: { l: 48, r: 8, t: 26, b: 30 }, showlegend: false, title: { text: title, font: { size: 13 } },
      xaxis: { title: { text: "step" }, range: [0, race.config.steps] }, yaxis };
    if (j === 0) {
      if (scale.ticks) Object.assign(yaxis, { tickmode: "array", ...scale.ticks });
      // the line a racer crosses to escape the saddle (saddles claim no minimum: the symlog axis)
      const esc = race.minimum && race.minimum.escape_below;
      if (scale.ticks && esc !== null && esc !== undefined) {
        const at = scale.y(esc);
        layout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: at, y1: at, line: { color: "#555", width: 1, dash: "dot" } }];
        layout.annotations = [{ xref: "paper", x: 1, xanchor: "right", yref: "y", y: at, yanchor: "bottom", showarrow: false,
          text: `escape: below ${shortNumber(esc)}`, font: { size: 10, color: "#555" } }];
      }
    }
    Plotly.react(divs[j], traces, layout, { displayModeBar: false, responsive: true });
  });
}

// A matrix race's singular values (of W, or of W2 W1) against steps: one line per racer and mode,
// in the racer's colour, the target's as dashed grey lines (start 0, as the other charts).
export function drawSingular(div, race, visible) {
  const traces = [];
  race.singular_values.forEach((rows, i) => {
    const k = rows.length ? rows[0].length : 0;
    for (let j = 0; j < k; j++) {
      traces.push({ type: "scatter", mode: "lines", name: `${race.labels[i]} σ${j + 1}`, legendgroup: String(i),
        showlegend: j === 0, visible: visible[i], y: rows.map((r) => r[j]), line: { color: race.colours[i], width: 2 },
        hovertemplate: `step %{x}: %{y:.4g}<extra>${race.labels[i]} σ${j + 1}</extra>` });
    }
  });
  race.target_singular_values.forEach((v, j) => {
    traces.push({ type: "scatter", mode: "lines", name: `target σ${j + 1}`, legendgroup: "target", showlegend: j === 0,
      x: [0, race.config.steps], y: [v, v], line: { color: "#555", width: 1.5, dash: "dash" }, hoverinfo: "name" });
  });
  const layout = { margin: { l: 48, r: 8, t: 26, b: 30 }, showlegend: true, legend: { orientation: "h", y: -0.2 },
    title: { text: "singular values (target dashed)", font: { size: 13 } },
    xaxis: { title: { text: "step" }, range: [0, race.config.steps] }, yaxis: { rangemode: "tozero" } };
  return Plotly.react(div, traces, layout, { displayModeBar: false, responsive: true });
}

// The timeline cursor over the linked charts: a positioned div, cheaper than a Plotly relayout per frame.
export function placeCursors(divs, k) {
  divs.forEach((d) => {
    const cursor = d.parentElement.querySelector(".cursor");
    const xa = d._fullLayout && d._fullLayout.xaxis;
    if (!cursor) return;
    if (!xa || d.hidden) { cursor.style.display = "none"; return; }
    cursor.style.display = "block";
    cursor.style.transform = `translateX(${d._fullLayout.margin.l + xa.l2p(k)}px)`;
  });
}

// Data coordinates of a mouse event on the contour map, or null outside its plot area.
export function mapCoords(div, evt) {
  const fl = div._fullLayout;
  const area = div.querySelector(".nsewdrag");
  if (!fl || !area) return null;
  const r = area.getBoundingClientRect();
  const px = evt.clientX - r.left, py = evt.clientY - r.top;
  if (px < 0 || py < 0 || px > r.width || py > r.height) return null;
  return [fl.xaxis.p2l(px), fl.yaxis.p2l(py)];
}

// ---------- the PNG download: one image of what the screen shows -----------------------------------

// The contour figure with the moving part of the race drawn in as traces: the paths up to step k,
// the current points (a cross where a racer diverged) and the "diverged at step" labels.
function contourFigure(div, race, visible, k) {
  const data = div.data.map((t) => ({ ...t }));
  const annotations = [];
  const [xr, yr] = [div.layout.xaxis.range, div.layout.yaxis.range];
  const clamp = (v, r) => Math.min(Math.max(v, r[0]), r[1]);
  for (const run of race.runs) {
    if (run.start !== 0 || !visible[run.racer]) continue;
    const col = race.colours[run.racer];
    const xs = [], ys = [];
    for (let t = 0; t <= Math.min(k, run.positions.length - 1); t++) {
      const p = run.positions[t];
      if (!p || p[0] === null) break;
      xs.push(p[0]); ys.push(p[1]);
    }
    if (!xs.length) continue;
    data.push({ type: "scatter", mode: "lines", x: xs, y: ys, showlegend: false, hoverinfo: "skip", line: { color: col, width: 3 } });
    const diverged = run.diverged_at >= 0 && k >= run.diverged_at;
    const last = [clamp(xs[xs.length - 1], xr), clamp(ys[ys.length - 1], yr)];
    data.push({ type: "scatter", mode: "markers", x: [last[0]], y: [last[1]], showlegend: false, hoverinfo: "skip",
      marker: diverged ? { symbol: "x-thin-open", size: 16, color: col, line: { width: 4, color: col } }
        : { symbol: "circle", size: 12, color: col, line: { width: 2, color: "white" } } });
    if (diverged) {
      const right = last[0] > (xr[0] + xr[1]) / 2;
      annotations.push({ x: last[0], y: last[1], text: `${run.label} diverged at step ${run.diverged_at}`, showarrow: false,
        xanchor: right ? "right" : "left", yanchor: "bottom", xshift: right ? -8 : 8, font: { color: col, size: 14 },
        bgcolor: "rgba(255,255,255,0.7)" });
    }
  }
  // the anatomy of a step's arrows (and its stretch, a shape) are on screen: in the image too
  const anatomy = (div.layout.annotations || []).filter((a) => String(a.name || "").startsWith("anatomy:"));
  return { data, layout: { ...div.layout, annotations: [...anatomy, ...annotations] } };
}

// Text in a box of the given width, word by word; returns the y below it.
function wrapText(ctx, text, x, y, width, lineH) {
  let line = "";
  for (const word of text.split(" ")) {
    if (line && ctx.measureText(line + " " + word).width > width) { ctx.fillText(line, x, y); y += lineH; line = word; }
    else line = line ? line + " " + word : word;
  }
  if (line) { ctx.fillText(line, x, y); y += lineH; }
  return y;
}

// Plots as PNG data URLs, composed on a canvas under the status line: the map (with the paths),
// then the linked charts with the timeline cursor at step k.
export async function raceImage({ map, charts, race, visible, k, surface, status, width = 1500 }) {
  const mapH = Math.round(width * 0.62), chartW = Math.floor(width / charts.length), chartH = 300;
  const font = "600 20px ui-monospace, Menlo, monospace", lineH = 28, pad = 16;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  ctx.font = font;
  const lines = [];
  for (const part of status.split(" | ")) {
    const cur = lines.length ? lines[lines.length - 1] : null;
    if (cur !== null && ctx.measureText(cur + " | " + part).width <= width - 2 * pad) lines[lines.length - 1] = cur + " | " + part;
    else lines.push(part);
  }
  const band = pad * 2 + lines.length * lineH;
  const mapFig = surface ? map : contourFigure(map, race, visible, k);
  // a chart replaced by its note (no minimum, no distance) is the note's text in the image
  const drawn = charts.map((c) => (c.hidden || !c.data ? null : c));
  const urls = await Promise.all([
    Plotly.toImage(mapFig, { format: "png", width, height: mapH }),
    ...drawn.filter(Boolean).map((c) => Plotly.toImage({ data: c.data, layout: { ...c.layout, shapes: [...(c.layout.shapes || []),
      { type: "line", xref: "x", yref: "paper", x0: k, x1: k, y0: 0, y1: 1, line: { color: "#555", width: 1.5 } }] } },
    { format: "png", width: chartW, height: chartH })),
  ]);
  const images = await Promise.all(urls.map((u) => new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("a plot could not be drawn as an image"));
    img.src = u;
  })));
  canvas.width = width;
  canvas.height = band + mapH + chartH;
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#1d1d22";
  ctx.font = font;
  ctx.textBaseline = "top";
  lines.forEach((line, j) => ctx.fillText(line, pad, pad + j * lineH));
  ctx.drawImage(images[0], 0, band);
  let next = 1;
  drawn.forEach((c, j) => {
    if (c) { ctx.drawImage(images[next++], j * chartW, band + mapH); return; }
    const note = charts[j].parentElement.querySelector(".chartnote");
    ctx.font = "16px system-ui, sans-serif";
    let y = band + mapH + pad;
    for (const p of note ? note.querySelectorAll("p") : []) y = wrapText(ctx, p.textContent, j * chartW + pad, y, chartW - 2 * pad, 21) + 8;
  });
  const regions = { status: [0, 0, width, band], map: [0, band, width, mapH], charts: [0, band + mapH, width, chartH] };
  return { canvas, regions };
}
