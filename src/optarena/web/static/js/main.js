// UI glue: controls <-> state <-> server <-> plots. Rendering lives in plots.js, state in state.js.
import { api, errorText } from "./api.js";
import { decodeState, encodeState, raceRequest } from "./state.js";
import { drawCharts, drawMap, drawOverlay, drawSingular, drawSurfacePaths, mapCoords, placeCursors, raceImage } from "./plots.js";
import { createTrainer } from "./nn.js";
import { createMaps } from "./maps.js";
import { createLessons } from "./lessons.js";
import { createAnatomy } from "./anatomy.js";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  kids.flat().forEach((c) => e.append(c));
  return e;
};

const app = {
  state: decodeState(location.hash),
  optimizers: {}, landscapes: {}, schedules: {}, limits: null,
  grid: null, race: null, playing: false, pos: 0, inflight: false, dirty: false, lastFrame: 0,
  frames: 0, fpsStart: 0, hidden: {},
};
window.arena = app; // for tests and the curious

const charts = () => [$("lossPlot"), $("gradPlot"), $("distPlot")];
const visible = () => app.state.racers.map((r) => !r.hidden);

// ---------- default racers ---------------------------------------------------------------------
// A listed landscape beyond the plane (it has a "dim"): raced in d coordinates, drawn on a plane.
const listedBeyond = () => {
  const l = app.landscapes[app.state.landscape.name];
  return l && l.dim ? l : null;
};
const beyond = () => !!listedBeyond();
// A real network's loss surface (GET /api/networks): a plane through its trained weights, built
// (the network trained, the first time) on the server when first asked.
const listedNetwork = () => {
  const l = app.landscapes[app.state.landscape.name];
  return l && l.network ? l : null;
};
// Its singular-value view: matrix landscapes of one matrix, or of matrices that multiply into one map.
const matrixLandscape = () => {
  const l = listedBeyond();
  return !!l && l.blocks.length > 0 && (l.blocks.length === 1 || l.product);
};
// The landscape on show (a typed formula's too): the grid's copy of it, else the list's; beyond
// the plane the list's (the grid is the plane's, a 2-D cut of it).
const landscapeNow = () => listedBeyond() || (app.grid && app.grid.landscape) || app.landscapes[app.state.landscape.name] || null;
const surfaceOn = () => app.state.surface && !beyond(); // a plane's cut has no surface the paths lie on
// Its d now: the race's (its parameters may have changed the listed default's), else the list's.
const dimNow = () => (app.race && app.race.view ? app.race.view.dim : (listedBeyond() || { dim: 2 }).dim);

// A racer as it races: its optimizer's defaults filled in, so {} and {learning_rate: 0.01} match.
function racerKey(r) {
  const spec = app.optimizers[r.optimizer];
  const hp = Object.fromEntries(((spec && spec.hyperparameters) || []).map((h) => [h.name, h.default]));
  Object.assign(hp, r.hyperparameters || {});
  return JSON.stringify([r.optimizer, Object.keys(hp).sort().map((k) => [k, hp[k]]), r.schedule || null, r.label || null]);
}

// The rule: racers that are the landscape's default racers follow the landscape picked next (its
// default race); racers that differ (the user changed them, or a link brought others) stay.
// Showing or hiding a racer is no change.
function racersAreDefault() {
  const ls = landscapeNow();
  const d = ls && ls.default_racers, now = app.state.racers;
  return !!d && !!now && d.length === now.length && d.every((r, i) => racerKey(r) === racerKey(now[i]));
}

function useDefaultRacers() {
  const ls = landscapeNow();
  if (!ls) return;
  const before = app.state.racers || [];
  app.state.racers = ls.default_racers.map((r, i) => ({ optimizer: r.optimizer, hyperparameters: { ...r.hyperparameters },
    ...(before[i] && before[i].hidden && before[i].optimizer === r.optimizer ? { hidden: true } : {}) }));
  if (codeRacer >= app.state.racers.length) $("codePanel").hidden = true;
}

function saveUrl() {
  history.replaceState(null, "", "#s=" + encodeState({ ...app.state, step: Math.round(app.pos) }));
}

// ---------- server round trips -------------------------------------------------------------
async function loadGrid() {
  // beyond the plane the contours come with the race (its plane depends on the paths)
  if (beyond()) app.grid = null;
  else if (listedNetwork()) app.grid = await loadNetworkGrid(listedNetwork());
  else app.grid = await api.grid(app.state.landscape);
}

// A network's grid (its grid_points a side: a forward pass a point) waits, the first time, for the
// server to train the network (seconds, off its event loop): the status line says which wait it is.
async function loadNetworkGrid(net) {
  setPlaying(false); // the status line is this wait's until the race comes back
  const params = Object.fromEntries(Object.entries(net.schema).map(([k, s]) => [k, app.state.landscape.params[k] ?? s.default]));
  const now = (await api.networks()).find((n) => n.name === net.name);
  const built = !!now && now.ready.some((p) => Object.keys(params).every((k) => p[k] === params[k]));
  const n = net.grid_points, grid = `its ${n} × ${n} contour grid (a forward pass a point)…`;
  $("status").textContent = built ? `${net.title}: ${grid}`
    : now && now.trained.includes(params.seed) ? `${net.title}: loading the trained network, then ${grid}`
      : `${net.title}: training the network once (seconds), then ${grid}`;
  try {
    return await api.grid(app.state.landscape, n);
  } catch (err) { // no torch here (501), or a parameter refused (422): said where the race's errors are
    $("status").textContent = `${net.title}: not available`;
    $("raceError").textContent = errorText(err);
    $("raceError").hidden = false;
    return null;
  }
}

// The race's view (beyond 2-D) as the map draws a grid.
function viewGrid(view) {
  return { landscape: view.landscape, x: view.x, y: view.y, z: view.z, colour: view.colour, log: view.log, view };
}

async function recompute() {
  $("defaultRacers").disabled = racersAreDefault();
  if (app.inflight) { app.dirty = true; return; }
  app.inflight = true;
  app.dirty = false;
  saveUrl();
  try {
    const request = raceRequest(app.state, beyond());
    const race = await api.race(request);
    $("raceError").hidden = true;
    app.race = race;
    if (race.view) app.grid = viewGrid(race.view);
    else if (app.grid && app.grid.view) await loadGrid(); // back on the plane from a race beyond it
    app.raceRequest = request; // the CSV download asks the server for this race as CSV
    // every colour depends on the race (its position, the others): the panels take the race's
    document.querySelectorAll("#racers .racer").forEach((box, i) => race.colours[i] && box.style.setProperty("--c", race.colours[i]));
    app.pos = Math.min(app.pos, race.config.steps);
    $("timeline").max = race.config.steps;
    app.anatomy.fillRacers();
    renderAll();
    if (!$("codePanel").hidden) showCode(codeRacer); // the code follows the racer's current settings
  } catch (err) {
    $("raceError").textContent = errorText(err);
    $("raceError").hidden = false;
  } finally {
    app.inflight = false;
    if (app.dirty) recompute();
  }
}

// ---------- rendering -------------------------------------------------------------------------
function step() { return Math.floor(app.pos); }

async function renderAll() {
  if (!app.race || !app.grid || $("raceView").hidden) return;
  await drawMap($("map"), app.grid, app.race, visible(), step(), surfaceOn());
  drawCharts(charts(), app.race, visible(), landscapeNow() || app.grid.landscape);
  const sv = !!app.race.singular_values && app.state.singular;
  $("svWrap").hidden = !sv;
  if (sv) drawSingular($("svPlot"), app.race, visible());
  renderFrame(true);
}

// The server's status line of step k with "(escaped at step j)" after each racer that has left
// the saddle by then. The line is "Step k / N | <label> Loss: …" with one part per racer in order:
// each part is found by its label, so a label holding " | " cannot shift the others.
function statusLine(race, k) {
  const line = race.status[Math.min(k, race.status.length - 1)];
  const runs = race.runs.filter((r) => r.start === 0);
  const escaped = (run) => run.steps_to_escape !== null && run.steps_to_escape >= 0 && run.steps_to_escape <= k;
  if (!runs.some(escaped)) return line;
  const at = [];
  let from = 0;
  for (const run of runs) {
    const i = line.indexOf(` | ${run.label} Loss: `, from);
    if (i < 0) return line; // not the line this reads: leave it as the server wrote it
    at.push(i);
    from = i + 1;
  }
  let out = line.slice(0, at[0]);
  runs.forEach((run, j) => {
    out += line.slice(at[j], j + 1 < at.length ? at[j + 1] : line.length) + (escaped(run) ? ` (escaped at step ${run.steps_to_escape})` : "");
  });
  return out;
}

function renderFrame(force) {
  const k = step();
  if (!force && k === app.lastFrame) return;
  app.lastFrame = k;
  const r = app.race;
  const line = statusLine(r, k);
  $("status").textContent = line;
  $("status").title = line; // the line keeps one row (ellipsis); the whole of it is here
  $("timeline").value = k;
  $("stepLabel").textContent = `${k} / ${r.config.steps}`;
  const s = r.config.starts[0];
  $("startLabel").textContent = r.view ? `(${r.view.dim.toLocaleString("en")} coordinates)` : `start (${s[0].toFixed(3)}, ${s[1].toFixed(3)})`;
  drawOverlay($("map"), r, visible(), k, surfaceOn());
  if (surfaceOn() && app.grid) drawSurfacePaths($("map"), app.grid, r, visible(), k);
  placeCursors($("svWrap").hidden ? charts() : [...charts(), $("svPlot")], k);
  if (!r.view) app.anatomy.update(k, force); // the anatomy of a step is drawn on the plane only
}

function tick(now) {
  if (app.playing && app.race) {
    const dt = app.lastTick ? (now - app.lastTick) / 1000 : 0;
    app.pos = Math.min(app.pos + dt * app.state.speed, app.race.config.steps);
    renderFrame(false);
    app.frames += 1;
    if (app.pos >= app.race.config.steps) setPlaying(false);
  }
  app.lastTick = now;
  requestAnimationFrame(tick);
}

function setPlaying(on) {
  if (on && app.race && app.pos >= app.race.config.steps) app.pos = 0;
  app.playing = on;
  $("play").textContent = on ? "❚❚ pause" : "▶ play";
  if (!on) saveUrl();
}

function seek(k) {
  setPlaying(false);
  app.pos = Math.max(0, Math.min(k, app.race ? app.race.config.steps : 0));
  renderFrame(false);
  saveUrl();
}

// ---------- controls ----------------------------------------------------------------------------
function sliderRange(h) {
  if (h.log) {
    const d = h.default > 0 ? h.default : 1e-3;
    const lo = Math.max(h.min > 0 ? h.min : 0, d / 1e3) || 1e-8;
    const hi = h.max !== null && h.max !== undefined ? Math.min(h.max, d * 1e3) : d * 1e3;
    return { log: true, lo: Math.log10(lo), hi: Math.log10(hi), step: 0.01 };
  }
  const lo = h.min ?? -10;
  // an unbounded setting whose default is inf (Prodigy's growth_rate): slide over [min, 10 min]
  const hi = h.max ?? Math.max(1, (h.default || 0) * 10, h.infinite ? 10 * (h.min || 1) : 0);
  return { log: false, lo, hi: h.max_open ? hi - (hi - lo) / 1e4 : hi, step: (hi - lo) / 1000 };
}

function numberControl(h, value, onChange) {
  const r = sliderRange(h);
  const toSlider = (v) => (r.log ? Math.log10(Math.max(v, 10 ** r.lo)) : v);
  const slider = el("input", { type: "range", min: r.lo, max: r.hi, step: r.step, value: toSlider(value), "aria-label": h.name, "data-hp": h.name });
  // value null: inf (JSON has none), shown as an empty box with "inf" in it; emptied again: back to inf
  const box = el("input", { type: "number", class: "num", value: value ?? "", placeholder: h.infinite ? "inf" : "",
                            step: "any", "aria-label": h.name + " value" });
  slider.addEventListener("input", () => {
    const raw = r.log ? Number((10 ** Number(slider.value)).toPrecision(4)) : Number(Number(slider.value).toPrecision(6));
    const v = h.integer ? Math.round(raw) : raw; // a landscape's whole-number parameter (d, seed)
    box.value = v;
    onChange(v);
  });
  box.addEventListener("change", () => {
    if (h.infinite && box.value === "") { onChange(undefined); return; }
    const v = h.integer ? Math.round(Number(box.value)) : Number(box.value);
    if (Number.isFinite(v)) { slider.value = toSlider(v); onChange(v); }
  });
  return el("label", { title: h.doc }, h.name, slider, box);
}

function scheduleControl(racer, rebuild) {
  const names = ["constant", ...Object.keys(app.schedules).filter((n) => n !== "constant")];
  const cur = racer.schedule ? racer.schedule.name : "constant";
  const sel = el("select", { "aria-label": "schedule" }, names.map((n) => el("option", { value: n, selected: n === cur }, n)));
  sel.addEventListener("change", () => {
    racer.schedule = sel.value === "constant" ? null : { ...app.schedules[sel.value] };
    rebuild();
    recompute();
  });
  const fields = [];
  if (racer.schedule) {
    for (const [k, v] of Object.entries(racer.schedule)) {
      if (k === "name") continue;
      const inp = el("input", { type: "number", class: "num", value: v, step: "any", "aria-label": k });
      inp.addEventListener("change", () => { racer.schedule[k] = Number(inp.value); recompute(); });
      fields.push(el("label", {}, k, inp));
    }
  }
  return [el("label", {}, "schedule", sel), ...fields];
}

function racerPanel(racer, i) {
  const spec = app.optimizers[racer.optimizer];
  // the race's colour for the racer (the server's); a racer added since has the one its optimizer
  // keeps in any race, if any, until the race comes back
  const colour = (app.race && app.race.colours[i]) || spec.colour || "#888";
  const box = el("div", { class: "racer" + (racer.hidden ? " off" : ""), style: `--c:${colour}`, "data-racer": i });
  const rebuild = () => box.replaceWith(racerPanel(racer, i));
  // matrix rules (Muon: min_ndim 2) cannot race a point: offered on a matrix landscape only (the server would refuse them)
  const matrix = matrixLandscape();
  const sel = el("select", { "aria-label": "optimizer" }, Object.values(app.optimizers).filter((o) => matrix || !(o.min_ndim > 1))
    .map((o) => el("option", { value: o.name, selected: o.name === racer.optimizer }, o.title)));
  sel.addEventListener("change", () => { racer.optimizer = sel.value; racer.hyperparameters = {}; buildRacers(); recompute(); });
  const show = el("input", { type: "checkbox", checked: !racer.hidden, title: "show / hide", "aria-label": "show" });
  show.addEventListener("change", () => { racer.hidden = !show.checked; box.classList.toggle("off", racer.hidden); renderAll(); saveUrl(); });
  const del = el("button", { title: "remove" }, "✕");
  del.addEventListener("click", () => {
    if (app.state.racers.length === 1) return;
    app.state.racers.splice(i, 1);
    if (codeRacer > i) codeRacer -= 1;
    else if (codeRacer === i) $("codePanel").hidden = true;
    buildRacers();
    recompute();
  });
  const hp = el("div", { class: "hp" });
  for (const h of spec.hyperparameters) {
    const value = racer.hyperparameters[h.name] ?? h.default;
    if (h.type === "bool") {
      const cb = el("input", { type: "checkbox", checked: value, "aria-label": h.name, "data-hp": h.name });
      cb.addEventListener("change", () => { racer.hyperparameters[h.name] = cb.checked; recompute(); });
      hp.append(el("label", { title: h.doc }, h.name, cb));
    } else {
      hp.append(numberControl(h, value, (v) => {
        if (v === undefined) delete racer.hyperparameters[h.name]; else racer.hyperparameters[h.name] = v;
        recompute();
      }));
    }
  }
  hp.append(...scheduleControl(racer, rebuild));
  const code = el("button", { title: "show this optimizer in PyTorch, Keras or optax", "data-code": i }, "</>");
  code.addEventListener("click", () => showCode(i));
  box.append(el("header", {}, show, sel, code, del), hp);
  return box;
}

let codeRacer = 0;
let codeAsked = 0;
// The code of racer i as it is now (hyperparameters and schedule); an answer to an older question
// is dropped, so a fast slider never leaves an older setting on show.
async function showCode(i) {
  if (i >= app.state.racers.length) { $("codePanel").hidden = true; return; }
  codeRacer = i;
  const r = app.state.racers[i];
  const asked = ++codeAsked;
  const wasHidden = $("codePanel").hidden;
  $("codePanel").hidden = false;
  $("codeFor").textContent = `racer ${i + 1}: ${app.optimizers[r.optimizer].title}` + (r.schedule ? `, ${r.schedule.name} schedule` : "");
  $("codePanel").style.setProperty("--c", app.race ? app.race.colours[i] : "#888");
  if (wasHidden) $("codePanel").scrollIntoView({ block: "nearest" });
  try {
    const snip = await api.code(r.optimizer, r.hyperparameters, $("codeFramework").value, r.schedule || null);
    if (asked !== codeAsked) return;
    $("codeText").textContent = snip.code;
    $("codeNotes").textContent = snip.notes.map((n) => "note: " + n).join("\n");
  } catch (err) {
    if (asked !== codeAsked) return;
    $("codeText").textContent = errorText(err);
    $("codeNotes").textContent = "";
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard API (plain http on another host, or no permission): the old way
    const area = el("textarea", { style: "position:fixed; left:-9999px; top:0" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

function flash(button, text, back) {
  button.textContent = text;
  setTimeout(() => (button.textContent = back), 1500);
}

const VIEWS = { race: ["raceView", "viewRace"], maps: ["mapView", "viewMaps"], nn: ["nnView", "viewNN"] };

function setView(view) {
  if (!VIEWS[view]) view = "race";
  app.state.view = view;
  for (const [name, [section, button]] of Object.entries(VIEWS)) {
    $(section).hidden = name !== view;
    $(button).classList.toggle("on", name === view);
  }
  if (view === "race") setTimeout(() => renderAll(), 0);
  if (view === "maps") app.maps.fillRacers();
  saveUrl();
}

// A cell picked on a map: its setting (or start) goes back to the race.
function pickFromMap({ racer, hyperparameters, start }) {
  if (start) app.state.start = [start[0], start[1]]; // exact: the cell's noise is seeded by its start's bits
  if (hyperparameters) {
    const r = app.state.racers[racer];
    for (const [k, v] of Object.entries(hyperparameters)) r.hyperparameters[k] = Number(Number(v).toPrecision(6));
    buildRacers();
  }
  setView("race");
  recompute();
}

function nnRequest() {
  const nn = app.state.nn;
  return { dataset: nn.dataset, model: nn.model, epochs: nn.epochs, seeds: nn.seeds, batch_size: nn.batch_size,
    racers: raceRequest(app.state).racers };
}

const NN_FIELDS = [["nnDataset", "dataset", String], ["nnModel", "model", String], ["nnEpochs", "epochs", Number],
  ["nnSeeds", "seeds", Number], ["nnBatch", "batch_size", Number]];

function showNN() {
  app.state.nn = { dataset: "digits", model: "mlp", epochs: 10, seeds: 1, batch_size: 32, ...(app.state.nn || {}) };
  for (const [id, key] of NN_FIELDS) $(id).value = app.state.nn[key];
}

function bindNN() {
  for (const [id, key, cast] of NN_FIELDS) {
    $(id).addEventListener("change", () => { app.state.nn[key] = cast($(id).value); saveUrl(); });
  }
  app.trainer = createTrainer({ $, api, request: nnRequest, onState: saveUrl });
  $("nnStart").addEventListener("click", () => app.trainer.run());
  $("nnStop").addEventListener("click", () => app.trainer.stop());
  $("viewRace").addEventListener("click", () => setView("race"));
  $("viewMaps").addEventListener("click", () => setView("maps"));
  $("viewNN").addEventListener("click", () => setView("nn"));
  app.maps = createMaps({ $, el, api, errorText, app, onPick: pickFromMap, onState: saveUrl });
  app.maps.bind();
  $("codeFramework").addEventListener("change", () => showCode(codeRacer));
  $("codeCopy").addEventListener("click", async () => {
    if (await copyText($("codeText").textContent)) { flash($("codeCopy"), "copied ✓", "copy"); return; }
    getSelection().selectAllChildren($("codeText")); // the user can still press Ctrl+C
    flash($("codeCopy"), "selected: Ctrl+C", "copy");
  });
  $("codeClose").addEventListener("click", () => ($("codePanel").hidden = true));
}

function buildRacers() {
  $("racers").replaceChildren(...app.state.racers.map(racerPanel));
  $("addRacer").disabled = app.state.racers.length >= app.limits.racers.max;
  $("addRacer").title = $("addRacer").disabled ? `at most ${app.limits.racers.max} racers` : "";
}

// The fields' bounds are the server's limits (GET /api/limits), never numbers of the page's own.
function applyLimits(limits) {
  app.limits = limits;
  for (const [id, key] of [["steps", "steps"], ["noise", "noise"], ["seed", "seed"], ["clip", "clip"], ["nnEpochs", "epochs"],
    ["nnSeeds", "seeds"], ["nnBatch", "batch_size"], ["mapCells", "map_cells"]]) {
    $(id).min = limits[key].min;
    $(id).max = limits[key].max;
  }
}

// The controls as the landscape allows: beyond the plane a view switch (and, on a matrix landscape,
// the singular values), no start to click, no 3-D surface and no anatomy of a step (both need
// the paths to lie on the surface drawn).
function fitBeyond() {
  const l = listedBeyond();
  $("planeBox").hidden = !l;
  $("singularBox").hidden = !matrixLandscape();
  $("singular").checked = !!app.state.singular;
  const plane = app.state.plane || { kind: "pca", coordinates: [0, 1] };
  const [i, j] = plane.coordinates || [0, 1];
  $("plane").value = plane.kind;
  $("planeCoords").hidden = plane.kind !== "coordinates";
  $("planeI").value = i + 1;
  $("planeJ").value = j + 1;
  if (l) {  // coordinates are counted from 1 on the page, up to the landscape's dimension
    $("planeI").min = $("planeJ").min = 1;
    $("planeI").max = $("planeJ").max = dimNow();
  }
  $("startHint").textContent = l ? "Beyond the plane the race starts at the landscape's default start."
    : "Click or drag on the map to move the start.";
  for (const id of ["surface", "anatomy"]) {
    const label = $(id).parentElement;
    if (label.dataset.title === undefined) label.dataset.title = label.title; // its own, back on the plane
    $(id).disabled = !!l;
    label.title = l ? "the plane through the paths is a cut of the landscape: the paths do not lie on it" : label.dataset.title;
  }
  if (l && app.state.anatomy) {
    app.state.anatomy = null;
    app.anatomy.sync();
  }
}

// The plane switch: PCA, random directions or two coordinates (shown from 1, as the axes name them).
function bindPlane() {
  const ask = () => {
    const d = dimNow();
    const coord = (v, fallback) => {
      const n = Math.round(Number(v));
      return Number.isFinite(n) ? Math.max(1, Math.min(d, n)) - 1 : fallback;
    };
    const i = coord($("planeI").value, 0);
    let j = coord($("planeJ").value, 1);
    if (i === j) j = i + 1 < d ? i + 1 : i - 1; // two different coordinates
    app.state.plane = { kind: $("plane").value, coordinates: [i, j] };
    fitBeyond();
    recompute();
  };
  for (const id of ["plane", "planeI", "planeJ"]) $(id).addEventListener("change", ask);
  $("singular").addEventListener("change", () => {
    app.state.singular = $("singular").checked;
    renderAll();
    saveUrl();
  });
}

function buildLandscapeParams() {
  const ls = app.state.landscape;
  const box = $("landscapeParams");
  box.replaceChildren();
  fitBeyond();
  if (!ls.name) return;
  const listed = app.landscapes[ls.name] || {};
  const schema = listed.schema || {};
  if (listed.network) { // a network's plane: its directions (its seed stays the API's)
    box.append(networkDirections(ls, schema.directions));
    return;
  }
  for (const [name, s] of Object.entries(schema)) {
    // beyond the plane d is bounded by the web's limit (GET /api/limits), below the library's
    const max = listed.dim && name === "d" ? Math.min(s.max, app.limits.dim.max) : s.max;
    const h = { name, default: s.default, min: s.min, max, log: name === "kappa" || (listed.dim && name === "d"), doc: name,
      integer: !!s.integer };
    box.append(numberControl(h, ls.params[name] ?? s.default, async (v) => {
      ls.params[name] = v;
      app.state.start = null;
      await loadGrid();
      recompute();
    }));
  }
}

// The plane through a network's trained weights: random (filter-normalised) or the training path's PCA.
function networkDirections(ls, s) {
  const sel = el("select", { id: "directions", "aria-label": "directions" },
    s.choices.map((c, i) => el("option", { value: i, selected: i === (ls.params.directions ?? s.default) },
      c === "pca" ? "PCA plane of training" : "random directions (filter-normalised)")));
  sel.addEventListener("change", async () => {
    ls.params.directions = Number(sel.value);
    app.state.start = null;
    await loadGrid();
    recompute();
  });
  return el("label", { title: "the plane through the trained weights the race is on" }, "plane ", sel);
}

// The formula around the error's position with a caret under it, cut to fit the side panel.
function caretExcerpt(text, pos, width = 36) {
  if (text.length <= width) return `${text}\n${" ".repeat(pos)}^`;
  const from = Math.max(0, Math.min(pos - Math.floor(width / 2), text.length - width));
  const pre = from > 0 ? "…" : "", post = from + width < text.length ? "…" : "";
  return `${pre}${text.slice(from, from + width)}${post}\n${" ".repeat(pre.length + pos - from)}^`;
}

let formulaTimer = null;
function onFormula() {
  clearTimeout(formulaTimer);
  const empty = !$("formula").value.trim();
  $("formulaHint").hidden = !empty;
  if (empty) { $("formulaError").hidden = true; return; } // nothing typed yet is not an error
  formulaTimer = setTimeout(async () => {
    const text = $("formula").value;
    try {
      await api.formula(text);
      $("formulaError").hidden = true;
      await changeLandscape({ formula: text });
    } catch (err) {
      const d = Array.isArray(err.detail) ? err.detail[0] : null;
      const pos = d && Number.isInteger(d.position) ? d.position : null;
      $("formulaError").textContent = (d ? d.msg : errorText(err)) + (pos !== null ? "\n" + caretExcerpt(text, pos) : "");
      $("formulaError").hidden = false;
    }
  }, 180);
}

// A new landscape (a typed formula too): its grid, its default racers unless the racers were
// changed (racersAreDefault, asked of the landscape being left), then the race.
async function changeLandscape(landscape) {
  const follow = racersAreDefault();
  app.state.landscape = landscape;
  app.state.start = null;
  buildLandscapeParams();
  await loadGrid();
  app.maps.fitLandscape();
  if (follow) useDefaultRacers();
  buildRacers(); // the optimizers offered follow the landscape (matrix rules on a matrix one)
  recompute();
}

async function onLandscape() {
  const v = $("landscape").value;
  $("formulaBox").hidden = v !== "__formula__";
  if (v === "__formula__") { onFormula(); return; }
  await changeLandscape({ name: v, params: {} });
}

function clampSteps(v) {
  const max = Number($("steps").max), asked = String(v).trim() === "" ? NaN : Math.round(Number(v));
  const now = Number.isInteger(app.state.steps) && app.state.steps >= 1 && app.state.steps <= max ? app.state.steps : 100;
  const steps = Number.isFinite(asked) ? Math.max(1, Math.min(max, asked)) : now;
  $("steps").value = steps; // the field shows what races, never a number that does not
  const note = $("stepsNote");
  note.hidden = steps === asked;
  note.textContent = asked > max ? `at most ${max.toLocaleString("en")} steps: racing ${max.toLocaleString("en")}`
    : Number.isFinite(asked) ? `at least 1 step: racing ${steps}` : `not a number: still racing ${steps}`;
  return steps;
}

function bindRaceInputs() {
  const num = (id, key, parse) => $(id).addEventListener("change", () => {
    const v = parse($(id).value);
    app.state[key] = v;
    recompute();
  });
  num("steps", "steps", clampSteps);
  num("noise", "noise", (v) => Math.max(0, Number(v) || 0));
  num("seed", "seed", (v) => Math.max(0, Math.round(Number(v) || 0)));
  num("clip", "clip", (v) => (Number(v) > 0 ? Number(v) : null));
}

// The race's fields as the state says.
function showRaceInputs() {
  app.state.steps = clampSteps(app.state.steps); // a link may ask for more than the server races
  $("noise").value = app.state.noise;
  $("seed").value = app.state.seed;
  $("clip").value = app.state.clip ?? "";
  $("speed").value = String(app.state.speed);
  $("surface").checked = app.state.surface;
}

function bindMap() {
  const map = $("map");
  let dragging = false;
  const move = (evt) => {
    if (app.state.surface || beyond()) return; // beyond 2-D the race starts at the landscape's start
    const c = mapCoords(map, evt);
    if (!c) return;
    app.state.start = [Number(c[0].toPrecision(6)), Number(c[1].toPrecision(6))];
    recompute();
  };
  map.addEventListener("mousedown", (evt) => { if (evt.button === 0) { dragging = true; move(evt); } });
  window.addEventListener("mousemove", (evt) => { if (dragging) move(evt); });
  window.addEventListener("mouseup", () => { dragging = false; });
}

function download(name, content, type) {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

async function downloadPng() {
  if (!app.race) return;
  const button = $("dlPng");
  button.disabled = true;
  try {
    const k = step();
    const { canvas, regions } = await raceImage({ map: $("map"), charts: charts(), race: app.race, visible: visible(), k,
      surface: app.state.surface, status: $("status").textContent });
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    app.png = { step: k, regions }; // where each part lies in the image: for tests and the curious
    download(`optarena-race-step${k}.png`, blob, "image/png");
  } catch (err) {
    $("raceError").textContent = "PNG: " + errorText(err);
    $("raceError").hidden = false;
  } finally {
    button.disabled = false;
  }
}

// The race on show as CSV: the server writes it (RaceResult.to_csv, as `optarena race --format csv`).
async function downloadCsv() {
  if (!app.raceRequest) return;
  const button = $("dlCsv");
  button.disabled = true;
  try {
    download("optarena-race.csv", await api.raceCsv(app.raceRequest), "text/csv");
  } catch (err) {
    $("raceError").textContent = "CSV: " + errorText(err);
    $("raceError").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function bindButtons() {
  $("play").addEventListener("click", () => setPlaying(!app.playing));
  $("step").addEventListener("click", () => seek(step() + 1));
  $("back").addEventListener("click", () => seek(step() - 1));
  $("reset").addEventListener("click", () => seek(0));
  $("timeline").addEventListener("input", () => seek(Number($("timeline").value)));
  $("speed").addEventListener("change", () => { app.state.speed = Number($("speed").value); saveUrl(); });
  $("surface").addEventListener("change", () => { app.state.surface = $("surface").checked; renderAll(); saveUrl(); });
  $("defaultRacers").addEventListener("click", () => {
    useDefaultRacers();
    buildRacers();
    recompute();
  });
  $("addRacer").addEventListener("click", () => {
    const used = new Set(app.state.racers.map((r) => r.optimizer));
    const next = Object.keys(app.optimizers).find((n) => !used.has(n)) || "adam";
    app.state.racers.push({ optimizer: next, hyperparameters: {} });
    buildRacers();
    recompute();
  });
  $("copyLink").addEventListener("click", async () => {
    saveUrl();
    flash($("copyLink"), (await copyText(location.href)) ? "copied ✓" : "link in address bar", "copy link");
  });
  $("dlJson").addEventListener("click", () => download("optarena-race.json", JSON.stringify(app.race), "application/json"));
  $("dlCsv").addEventListener("click", downloadCsv);
  $("dlPng").addEventListener("click", downloadPng);
  window.addEventListener("keydown", (evt) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName) || app.state.view !== "race") return;
    const keys = { " ": () => setPlaying(!app.playing), ArrowRight: () => seek(step() + 1), ArrowLeft: () => seek(step() - 1),
      Home: () => seek(0), End: () => seek(app.race ? app.race.config.steps : 0) };
    if (!keys[evt.key] || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    evt.preventDefault(); // the arena handles the key: the page does not scroll too
    keys[evt.key]();
  });
}

// The page as a state says (a link's, at load or when the address's #s= changes: a lesson's link).
async function applyState(state) {
  app.state = state;
  app.pos = state.step || 0;
  setPlaying(false);
  const formula = state.landscape.formula !== undefined;
  $("landscape").value = formula ? "__formula__" : state.landscape.name;
  $("formulaBox").hidden = !formula;
  if (formula) {
    $("formula").value = state.landscape.formula;
    $("formulaHint").hidden = !!state.landscape.formula.trim();
  }
  $("codePanel").hidden = true;
  buildLandscapeParams();
  showRaceInputs();
  showNN();
  app.lessons.show();
  app.anatomy.sync();
  await loadGrid();
  app.maps.fitLandscape();
  if (!Array.isArray(app.state.racers) || !app.state.racers.length) useDefaultRacers(); // a link without racers
  await recompute();
  buildRacers();
  setView(app.state.view);
  if (app.state.view === "maps" && app.maps.restore()) app.maps.compute(); // a shared link redraws its map
}

async function main() {
  const [opts, all, scheds, limits, nets] = await Promise.all([api.optimizers(), api.landscapes(), api.schedules(),
    api.limits(), api.networks()]);
  applyLimits(limits);
  opts.forEach((o) => (app.optimizers[o.name] = o));
  const lss = all.filter((l) => !l.network); // a network registered in the server's process is listed as below
  [...lss, ...nets].forEach((l) => (app.landscapes[l.name] = l));
  scheds.forEach((s) => (app.schedules[s.name] = s));
  const sel = $("landscape");
  const option = (l) => el("option", { value: l.name }, l.dim && !l.title.includes("d=") ? `${l.title}, d=${l.dim}` : l.title);
  sel.append(el("optgroup", { label: "The plane" }, lss.filter((l) => !l.dim).map(option)),
    el("optgroup", { label: "Beyond the plane" }, lss.filter((l) => l.dim).map(option)),
    ...(nets.length ? [el("optgroup", { label: "Real network" }, nets.map(option))] : []),
    el("option", { value: "__formula__" }, "your formula…"));
  sel.addEventListener("change", onLandscape);
  $("formula").addEventListener("input", onFormula);
  bindRaceInputs();
  bindButtons();
  bindMap();
  bindPlane();
  bindNN();
  app.lessons = createLessons({ $, el, app, onState: saveUrl });
  app.lessons.bind();
  app.anatomy = createAnatomy({ $, el, api, errorText, app, onState: saveUrl });
  app.anatomy.bind();
  app.onLayout = () => setTimeout(async () => { await Plotly.Plots.resize($("map")); renderFrame(true); }, 0);
  await app.lessons.load();
  window.addEventListener("resize", () => setTimeout(() => renderFrame(true), 50));
  await applyState(app.state);
  // a link opened in this page (a lesson's, or one pasted into the address bar) loads its state;
  // the page's own updates (history.replaceState) do not fire this
  window.addEventListener("hashchange", () => applyState(decodeState(location.hash)).catch((err) => {
    $("raceError").textContent = errorText(err);
    $("raceError").hidden = false;
  }));
  document.body.dataset.ready = "1";
  requestAnimationFrame(tick);
}

main().catch((err) => {
  $("status").textContent = "could not start: " + errorText(err);
  console.error(err);
});
