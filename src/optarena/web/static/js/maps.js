// The "Maps" view: a stability map over two hyperparameters of one racer, or a basin map over a
// grid of starts, on the race's landscape. Clicking a cell takes its setting (or start) back to
// the race.
const DIVERGED = "#D62728";
const ELSEWHERE = "#BBBBBB";
const BASINS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

// A first range for a hyperparameter around its current value, inside its allowed range. A
// learning rate spans lr/100 .. lr x 1000: the map should show where the racer diverges.
export function defaultRange(h, value) {
  const within = (v) => (h.max !== null && h.max !== undefined ? Math.min(v, h.max) : v);
  if (h.log) {
    const v = value > 0 ? value : h.default;
    if (!(v > 0)) return { lo: 1e-5, hi: 0.1, log: true }; // e.g. weight_decay 0: decades above zero
    const up = h.name === "learning_rate" ? 1000 : 30;
    return { lo: Number((v / 100).toPrecision(3)), hi: Number(within(v * up).toPrecision(3)), log: true };
  }
  const lo = h.min ?? 0;
  let hi;
  if (h.max !== null && h.max !== undefined) hi = h.max_open ? Number((lo + 0.99 * (h.max - lo)).toPrecision(4)) : h.max;
  // a coefficient like momentum (no upper limit, default below 1) only diverges from 1 on
  else if (lo >= 0 && (h.default ?? 0) < 1 && Math.abs(value) < 1) hi = 0.99;
  else hi = Math.max(2 * Math.abs(value), 1);
  return { lo, hi, log: false };
}

// The axes ("x", "y") on whose first or last value the best cell sits with nothing as good off
// that edge, where the range could go further (not at the hyperparameter's own limit): a wider
// range may do better.
export function bestAtEdge(res, hypers) {
  const z = res.z, best = res.best.value;
  if (best === null || best === undefined) return [];
  const asGood = (v) => v !== null && v - best <= 0.01 * Math.abs(best) + 1e-12;
  const out = [];
  for (const [name, axis] of [["x", res.x], ["y", res.y]]) {
    const vals = axis.values, v = Number(res.best.setting[axis.name]);
    const i = vals.indexOf(v);
    if (i !== 0 && i !== vals.length - 1) continue;
    const h = hypers[axis.name] || {};
    const lower = v === Math.min(vals[0], vals[vals.length - 1]);
    if (lower ? h.min !== null && h.min !== undefined && v <= h.min : h.max !== null && h.max !== undefined && v >= h.max) continue;
    const offEdge = z.some((row, yj) => row.some((c, xi) => (name === "x" ? xi : yj) !== i && asGood(c)));
    if (!offEdge) out.push(axis.name);
  }
  return out;
}

export function createMaps({ $, el, api, errorText, app, onPick, onState }) {
  let last = null;

  // The map's controls as they are, kept in the page state (so in the URL), and put back from it.
  function save() {
    const axis = (a) => ({ name: $("map" + a).value, lo: Number($("map" + a + "Lo").value),
      hi: Number($("map" + a + "Hi").value), log: $("map" + a + "Log").checked });
    app.state.map = { racer: Number($("mapRacer").value) || 0, mode: $("mapMode").value, cells: Number($("mapCells").value),
      objective: $("mapObjective").value, x: axis("X"), y: axis("Y") };
    onState();
  }

  function restore() {
    const m = app.state.map;
    if (!m) return false;
    if (m.racer < app.state.racers.length) $("mapRacer").value = m.racer;
    fillAxes();
    $("mapMode").value = m.mode;
    $("mapMode").dispatchEvent(new Event("change"));
    $("mapCells").value = m.cells;
    $("mapObjective").value = m.objective;
    for (const [a, v] of [["X", m.x], ["Y", m.y]]) {
      if (!v || ![...$("map" + a).options].some((o) => o.value === v.name)) continue;
      $("map" + a).value = v.name;
      $("map" + a + "Lo").value = v.lo;
      $("map" + a + "Hi").value = v.hi;
      $("map" + a + "Log").checked = v.log;
    }
    fitLandscape();
    return true;
  }

  // What the landscape can be asked: steps to tolerance needs a minimum value (or a lower bound),
  // a basin map a listed minimum point. The rest is offered off, saying why.
  function fitLandscape() {
    const ls = (app.grid && app.grid.landscape) || {};
    const kind = ls.minimum_kind || "minimum";
    const why = ls.minimum_note ? `: ${ls.minimum_note}` : "";
    const offer = (select, value, on, title) => {
      for (const o of $(select).options) if (o.value === value) { o.disabled = !on; o.title = on ? "" : title; }
      if (!on && $(select).value === value) {
        $(select).value = $(select).options[0].value;
        $(select).dispatchEvent(new Event("change"));
      }
    };
    offer("mapObjective", "steps_to_tolerance", kind !== "none", `no minimum${why}`);
    offer("mapMode", "basins", kind === "minimum", `no minimum point to find the basins of${why}`);
  }

  function numericHypers() {
    const r = app.state.racers[Number($("mapRacer").value) || 0];
    return app.optimizers[r.optimizer].hyperparameters.filter((h) => h.type !== "bool");
  }

  function fillRacers() {
    fitLandscape();
    const keep = $("mapRacer").value;
    $("mapRacer").replaceChildren(...app.state.racers.map((r, i) =>
      el("option", { value: i }, `${i + 1}: ${app.optimizers[r.optimizer].title}`)));
    if (keep && Number(keep) < app.state.racers.length) $("mapRacer").value = keep;
    fillAxes();
  }

  function fillAxes() {
    const hs = numericHypers();
    for (const [id, pick] of [["mapX", 0], ["mapY", 1]]) {
      const keep = $(id).value;
      $(id).replaceChildren(...hs.map((h) => el("option", { value: h.name }, h.name)));
      const names = hs.map((h) => h.name);
      $(id).value = names.includes(keep) ? keep : (names[pick] ?? names[0]);
    }
    if ($("mapX").value === $("mapY").value && hs.length > 1) $("mapY").value = hs.find((h) => h.name !== $("mapX").value).name;
    fillRanges();
  }

  // A first range for the axes named (both by default): choosing y keeps the x range typed.
  function fillRanges(axes = ["X", "Y"]) {
    const r = app.state.racers[Number($("mapRacer").value) || 0];
    const hs = Object.fromEntries(numericHypers().map((h) => [h.name, h]));
    for (const axis of axes) {
      const h = hs[$("map" + axis).value];
      if (!h) continue;
      const d = defaultRange(h, r.hyperparameters[h.name] ?? h.default);
      $("map" + axis + "Lo").value = d.lo;
      $("map" + axis + "Hi").value = d.hi;
      $("map" + axis + "Log").checked = d.log;
    }
  }

  function request() {
    const i = Number($("mapRacer").value) || 0;
    const r = app.state.racers[i];
    const racer = { optimizer: r.optimizer, hyperparameters: r.hyperparameters };
    if (r.schedule) racer.schedule = r.schedule;
    const req = { landscape: app.state.landscape, racer, steps: app.state.steps, seed: app.state.seed,
      noise: app.state.noise, objective: $("mapObjective").value };
    if (app.state.clip) req.clip = app.state.clip;
    const n = Number($("mapCells").value);
    if ($("mapMode").value === "basins") {
      req.basins = n;
    } else {
      const axis = (a) => ({ name: $("map" + a).value, lo: Number($("map" + a + "Lo").value),
        hi: Number($("map" + a + "Hi").value), n, log: $("map" + a + "Log").checked });
      req.x = axis("X");
      req.y = axis("Y");
      if (app.state.start) req.start = app.state.start;
    }
    return { req, racer: i };
  }

  async function compute() {
    save();
    const { req, racer } = request();
    $("mapStatus").textContent = "computing…";
    $("mapCompute").disabled = true;
    try {
      const res = await api.sweep(req);
      last = { res, racer };
      draw(res);
    } catch (err) {
      $("mapStatus").textContent = "error: " + errorText(err);
    } finally {
      $("mapCompute").disabled = false;
    }
  }

  function draw(res) {
    const layout = { margin: { l: 60, r: 20, t: 10, b: 50 }, xaxis: { title: { text: res.x.name } },
      yaxis: { title: { text: res.y.name } } };
    const cfg = { displayModeBar: false, responsive: true };
    let traces;
    if (res.mode === "basins") {
      const M = res.minima.length;
      const colours = [DIVERGED, ELSEWHERE, ...res.minima.map((_, m) => BASINS[m % BASINS.length])];
      const scale = colours.flatMap((c, k) => [[k / colours.length, c], [(k + 1) / colours.length, c]]);
      traces = [{ type: "heatmap", x: res.x.values, y: res.y.values, z: res.basin.map((row) => row.map((v) => v + 2)),
        zmin: -0.5, zmax: colours.length - 0.5, colorscale: scale, showscale: false,
        hovertemplate: "start (%{x:.3g}, %{y:.3g})<extra></extra>" },
      { type: "scatter", mode: "markers", x: res.minima.map((m) => m[0]), y: res.minima.map((m) => m[1]),
        marker: { symbol: "star", size: 14, color: "white", line: { color: "black", width: 1 } },
        hoverinfo: "skip", showlegend: false }];
      // square cells, the window filling the plot: clicks anywhere on it land on a start
      const span = (v) => { const d = (v[1] - v[0]) / 2; return [v[0] - d, v[v.length - 1] + d]; };
      Object.assign(layout.xaxis, { range: span(res.x.values), constrain: "domain" });
      Object.assign(layout.yaxis, { range: span(res.y.values), scaleanchor: "x", constrain: "domain" });
      const flat = res.basin.flat();
      const share = (v) => Math.round((100 * flat.filter((c) => c === v).length) / flat.length);
      $("mapStatus").textContent = [...Array(M).keys()].map((m) => `minimum ${m + 1}: ${share(m)}%`).join(", ") +
        `, did not converge within the budget (${app.state.steps} steps): ${share(-1)}%, diverged: ${share(-2)}%.` +
        " Click a start to race from it.";
    } else {
      const steps = res.objective === "steps_to_tolerance";
      // a loss is above the minimum (or bound) where the landscape claims one: log10 of that;
      // where it claims none, the loss itself
      const plain = !steps && (res.min_value === null || res.min_value === undefined);
      const z = res.z.map((row) => row.map((v) => (v === null ? null : steps || plain ? v : Math.log10(Math.max(v, 1e-16)))));
      const loss = res.objective.replaceAll("_", " ");
      const title = steps ? "steps" : plain ? loss : `log10(${loss} − ${res.minima.length ? "min" : "bound"})`;
      const red = res.diverged.map((row) => row.map((v) => (v > 0.5 ? 1 : null)));
      traces = [{ type: "heatmap", x: res.x.values, y: res.y.values, z, colorscale: "Viridis",
        colorbar: { title: { text: title } },
        hovertemplate: `${res.x.name} %{x:.4g}<br>${res.y.name} %{y:.4g}<br>%{z:.3g}<extra></extra>` },
      { type: "heatmap", x: res.x.values, y: res.y.values, z: red, colorscale: [[0, DIVERGED], [1, DIVERGED]],
        showscale: false, hoverinfo: "skip" }];
      if (res.x.log) layout.xaxis.type = "log";
      if (res.y.log) layout.yaxis.type = "log";
      const b = res.best;
      const hypers = Object.fromEntries(app.optimizers[app.state.racers[last.racer]?.optimizer || "sgd"].hyperparameters.map((h) => [h.name, h]));
      const edge = bestAtEdge(res, hypers);
      $("mapStatus").textContent = `best by median ${res.objective.replaceAll("_", " ")}: ` +
        Object.entries(b.setting).map(([k, v]) => `${k}=${Number(v).toPrecision(3)}`).join(", ") +
        (b.value === null ? " (none converged)" : ` → ${Number(b.value).toPrecision(3)}`) +
        (edge.length ? ` (best at the edge of the range: widen it, ${edge.join(" and ")})` : "") +
        ". Red: diverged" + (steps ? `; white: not within tolerance in ${app.state.steps} steps` : "") +
        ". Click a cell to race that setting.";
    }
    Plotly.react($("mapPlot"), traces, layout, cfg);
    $("mapPlot").removeAllListeners?.("plotly_click");
    $("mapPlot").on("plotly_click", (ev) => pick(ev.points[0]));
  }

  function pick(point) {
    if (!last || !point) return;
    const { res, racer } = last;
    if (res.mode === "basins") onPick({ start: [point.x, point.y] });
    else onPick({ racer, hyperparameters: { [res.x.name]: point.x, [res.y.name]: point.y } });
  }

  function bind() {
    $("mapRacer").addEventListener("change", fillAxes);
    $("mapX").addEventListener("change", () => fillRanges(["X"]));
    $("mapY").addEventListener("change", () => fillRanges(["Y"]));
    $("mapMode").addEventListener("change", () => {
      const basins = $("mapMode").value === "basins";
      document.querySelectorAll(".stabilityOnly").forEach((e) => (e.hidden = basins));
    });
    $("mapCompute").addEventListener("click", compute);
  }

  return { bind, fillRacers, fitLandscape, restore, compute, last: () => last };
}
