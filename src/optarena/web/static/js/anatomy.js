// "Anatomy of a step": the move of one racer at the timeline's step, explained by the server
// (POST /api/anatomy: the engine's own recorded state, nothing recomputed here). On the map, one
// arrow per term from the racer's position, all at one scale; beside it the rule typeset and its
// formulas with this step's numbers.

const CACHE = 200; // answers kept, so scrubbing back over steps seen asks nothing
const DEBOUNCE_MS = 120;

// A number as the legend writes it: 4 significant digits, "−" for minus.
export function fmt(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const text = a >= 1e5 || a < 1e-3 ? v.toExponential(3).replace(/\.?0+e/, "e").replace("e+", "e") : String(Number(v.toPrecision(4)));
  return text.replaceAll("-", "−");
}

// The share t in [0, 1] of the arrow from `from` along `d` that stays inside the window
// (xr, yr: the axes' ranges); 0 when `from` is outside it.
export function insideShare(from, d, xr, yr) {
  let t = 1;
  for (const [p, v, r] of [[from[0], d[0], xr], [from[1], d[1], yr]]) {
    const lo = Math.min(r[0], r[1]), hi = Math.max(r[0], r[1]);
    if (p < lo || p > hi) return 0;
    if (v > 0 && p + v > hi) t = Math.min(t, (hi - p) / v);
    if (v < 0 && p + v < lo) t = Math.min(t, (lo - p) / v);
  }
  return t;
}

// A formula: the server's SVG (matplotlib's mathtext, made to sit inside a page) put in the page,
// else its TeX as text. Parsed by a <template> (nothing in it runs), and kept to drawing: no
// script, no foreign content, no event handlers, no link but to its own glyphs.
function formula(el, f) {
  if (!f.svg) return el("code", { class: "tex" }, f.tex);
  const tpl = document.createElement("template");
  tpl.innerHTML = f.svg;
  const svg = tpl.content.firstElementChild;
  if (!svg || svg.tagName.toLowerCase() !== "svg") return el("code", { class: "tex" }, f.tex);
  tpl.content.querySelectorAll("script, foreignObject, iframe, a").forEach((n) => n.remove());
  for (const n of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...n.attributes]) {
      const link = /(^|:)href$/i.test(a.name);
      if (/^on/i.test(a.name) || (link && !a.value.startsWith("#"))) n.removeAttribute(a.name);
    }
  }
  svg.classList.add("tex");
  return svg;
}

export function createAnatomy({ $, el, api, errorText, app, onState }) {
  const cache = new Map();
  let busy = false; // a question is out
  let waiting = null; // the latest question asked meanwhile
  let timer = null;
  let wanted = null; // key of the step the timeline is at
  let shown = null; // key of the step on show (arrows drawn for it)
  let drawn = null; // what is drawn: read back by tests

  const on = () => !!app.state.anatomy;
  const racer = () => {
    const i = app.state.anatomy ? app.state.anatomy.racer : 0;
    return app.race && i < app.race.config.racers.length ? i : 0;
  };

  // The question for the step on the timeline: the move from position k to k + 1 (the last move
  // at the end of the race; for a racer that diverged at step j, the last move before, j - 2 to
  // j - 1: the server explains no step that leaves a finite point).
  function question(k) {
    if (!app.race || !app.raceRequest) return null;
    const i = racer();
    const run = app.race.runs.find((r) => r.racer === i && r.start === 0);
    const died = run ? run.diverged_at : -1;
    let step = Math.max(0, Math.min(k, app.race.config.steps - 1));
    const note = died >= 0 && step > died - 2 ? `${run.label} diverged at step ${died}` : "";
    if (note) step = died - 2;
    return { race: app.raceRequest, racer: i, step, note, key: JSON.stringify([app.raceRequest, i, step]) };
  }

  function fillRacers() {
    if (!app.race) return;
    const keep = racer();
    $("anatomyRacer").replaceChildren(...app.race.legends.map((name, i) =>
      el("option", { value: i, selected: i === keep }, `${i + 1}: ${app.race.config.racers[i].label || name}`)));
    $("anatomyRacer").value = String(keep);
  }

  // The panel's visibility as the state says (a link, the checkbox).
  function sync() {
    $("anatomy").checked = on();
    $("anatomyPanel").hidden = !on();
    $("map").parentElement.classList.toggle("withAnatomy", on());
    if (!on()) {
      wanted = null;
      clearTimeout(timer);
      clearMap();
    }
  }

  function clearMap() {
    const map = $("map");
    if (!drawn && !(map.layout && (map.layout.annotations || []).length)) return;
    drawn = null;
    shown = null;
    app.anatomyDrawn = null;
    if (map.data && map.layout && !(map.data[0] && map.data[0].type === "surface")) {
      Plotly.relayout(map, { annotations: [], shapes: [] });
    }
  }

  // Called on every frame (cheap unless the step or the race changed) and after the map is redrawn
  // (force: its annotations are gone).
  function update(k, force) {
    if (!on() || !app.race) return;
    const q = question(k);
    if (!q) return;
    if (force && shown === q.key && cache.has(q.key)) { show(cache.get(q.key), q); return; } // the map was redrawn
    if (q.key === wanted) return; // asked already: its answer will show
    wanted = q.key;
    $("anatomyNote").textContent = q.note ? `${q.note}: ${q.step < 0 ? "no step to explain" : `its last step before, ${q.step} → ${q.step + 1}`}` : "";
    $("anatomyNote").hidden = !q.note;
    if (q.step < 0) { clearMap(); clearTimeout(timer); $("anatomyBody").hidden = true; $("anatomyWhat").textContent = ""; return; }
    if (shown !== q.key && drawn) clearMap(); // arrows of another step never stay on show
    clearTimeout(timer);
    if (cache.has(q.key)) { show(cache.get(q.key), q); return; }
    $("anatomyWhat").textContent = `racer ${q.racer + 1}, step ${q.step} → ${q.step + 1}: asking…`;
    timer = setTimeout(() => ask(q), DEBOUNCE_MS);
  }

  // One question at a time (the server limits each client's heavy requests): one asked while
  // another is out waits for it, and only the latest waiting one is asked.
  async function ask(q) {
    if (q.key !== wanted) return;
    if (cache.has(q.key)) { show(cache.get(q.key), q); return; }
    if (busy) { waiting = q; return; }
    busy = true;
    try {
      const res = await api.anatomy(q.race, q.racer, q.step);
      cache.set(q.key, res);
      if (cache.size > CACHE) cache.delete(cache.keys().next().value);
      if (q.key === wanted) show(res, q);
    } catch (err) {
      if (q.key === wanted) {
        clearMap();
        $("anatomyWhat").textContent = `racer ${q.racer + 1}, step ${q.step} → ${q.step + 1}`;
        $("anatomyError").textContent = errorText(err);
        $("anatomyError").hidden = false;
        $("anatomyBody").hidden = true;
      }
    } finally {
      busy = false;
      const next = waiting;
      waiting = null;
      if (next) ask(next);
    }
  }

  function show(res, q) {
    shown = q.key;
    $("anatomyError").hidden = true;
    $("anatomyBody").hidden = false;
    // the server's colours, scale and words (arena.presentation, arena.anatomy), as the exports draw them
    const colours = res.terms.map((t) => t.colour);
    const stretchColour = res.stretch_colour;
    const map = $("map");
    const surface = app.state.surface || !map._fullLayout || !map._fullLayout.xaxis;
    const xr = surface ? [0, 1] : map._fullLayout.xaxis.range, yr = surface ? [0, 1] : map._fullLayout.yaxis.range;
    const width = Math.abs(xr[1] - xr[0]);
    const scale = res.scale;
    const [px, py] = res.position;
    const arrows = res.terms.map((t, j) => {
      const d = [scale * t.vector[0], scale * t.vector[1]];
      const share = insideShare([px, py], d, xr, yr);
      return { key: t.key, label: t.label, text: t.text, colour: colours[j], vector: t.vector, from: [px, py], clipped: share < 1,
        to: [px + share * d[0], py + share * d[1]] };
    });
    $("anatomyWhat").textContent = res.heading;
    $("anatomyScale").textContent = surface ? "arrows: on the contour map (turn the 3-D surface off)"
      : scale === 1 ? "arrows to scale" : `arrows to scale, all × ${fmt(scale)}`;
    $("anatomyLegend").replaceChildren(...res.terms.map((t, j) => el("li", { title: t.doc, "data-key": t.key },
      el("span", { class: "swatch", style: `background:${colours[j]}` }), el("span", { class: "label" }, t.label),
      el("span", { class: "vec mono" }, t.text),
      arrows[j].clipped && !surface ? el("span", { class: "aside clipped" }, "drawn to the map's edge") : "",
      t.composes || t.key === "step" ? "" : el("span", { class: "aside" }, t.key === "gradient" ? "plain GD, for comparison" : "not in the sum"))));
    const shapes = [];
    if (res.stretch) {
      const [ex, ey] = res.stretch.values.map((v) => v / res.learning_rate);
      $("anatomyStretch").textContent = `${res.stretch.text}. Dashed circle: η in both coordinates; ellipse: the stretch.`;
      // the ellipse of semi-axes (ex, ey) against the circle of radius 1, the larger a tenth of the window
      const r = width / 10 / Math.max(1, ex, ey);
      shapes.push({ name: "anatomy:unit", type: "circle", xref: "x", yref: "y", x0: px - r, x1: px + r, y0: py - r, y1: py + r,
        line: { color: stretchColour, width: 1, dash: "dot" }, layer: "above" });
      shapes.push({ name: "anatomy:stretch", type: "circle", xref: "x", yref: "y", x0: px - r * ex, x1: px + r * ex,
        y0: py - r * ey, y1: py + r * ey, line: { color: stretchColour, width: 2 }, layer: "above" });
    } else {
      $("anatomyStretch").textContent = "";
    }
    $("anatomyStretch").hidden = !res.stretch;
    $("anatomyRule").replaceChildren(formula(el, res.rule));
    $("anatomyLines").replaceChildren(...res.lines.map((line) => el("li", {}, line.tex ? formula(el, line) : "",
      el("div", { class: "numbers mono" }, ...line.numbers.map((n) => el("div", {}, n))))));
    drawn = { response: res, arrows, scale, shapes, racer: res.racer, step: res.step };
    app.anatomyDrawn = drawn; // for tests and the curious
    if (surface) return;
    // a zero vector (momentum's first step), or one from a point off the map, has no arrow to draw;
    // the legend still lists it
    const annotations = arrows.filter((a) => a.to[0] !== a.from[0] || a.to[1] !== a.from[1]).map((a) => ({
      name: "anatomy:" + a.key, x: a.to[0], y: a.to[1], ax: a.from[0], ay: a.from[1], xref: "x", yref: "y", axref: "x", ayref: "y",
      text: "", showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: a.key === "step" ? 3 : 2.2, arrowcolor: a.colour,
      standoff: 0, startstandoff: 0, hovertext: `${a.label}: ${a.text}` }));
    Plotly.relayout(map, { annotations, shapes });
  }

  function bind() {
    $("anatomy").addEventListener("change", () => {
      app.state.anatomy = $("anatomy").checked ? { racer: Number($("anatomyRacer").value) || 0 } : null;
      sync();
      onState();
      app.onLayout(); // the map is narrower (or wider) now
    });
    $("anatomyRacer").addEventListener("change", () => {
      app.state.anatomy = { racer: Number($("anatomyRacer").value) || 0 };
      onState();
      app.onLayout();
    });
  }

  return { bind, sync, update, fillRacers, clearMap, drawn: () => drawn };
}
