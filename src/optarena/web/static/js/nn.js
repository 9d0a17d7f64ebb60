// The "Neural network" view: start a training race, draw its epochs as they stream in, stop it.
const CHARTS = [["nnTrain", "train_loss", "train loss (log)", "log"], ["nnVal", "val_loss", "validation loss (log)", "log"],
  ["nnAcc", "val_accuracy", "validation accuracy", "linear"]];

// A metric as text: null (the server's word for NaN and infinities) and huge values too.
function num(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toFixed(digits);
}

export function createTrainer({ $, api, request, onState }) {
  let controller = null;
  let diverged = []; // "Momentum diverged at epoch 2", one per run that did, in order

  function setup(start) {
    diverged = [];
    CHARTS.forEach(([id, , title, type]) => {
      const traces = start.labels.map((label, i) => ({ type: "scatter", mode: "lines+markers", name: label, x: [], y: [],
        line: { color: start.colours[i], width: 2 }, marker: { size: 4 } }));
      Plotly.react($(id), traces, { margin: { l: 50, r: 10, t: 30, b: 36 }, title: { text: title, font: { size: 13 } },
        xaxis: { title: { text: "epoch" }, range: [0, start.epochs] }, yaxis: { type },
        legend: { orientation: "h", y: -0.25 } }, { displayModeBar: false, responsive: true });
    });
  }

  // A run that diverged stops: its curve ends at the epoch before (the diverged epoch's numbers
  // would squash the others), its legend entry says so and the loss charts mark the epoch with
  // an x on their top edge, as `optarena train --plot` does.
  function markDivergence(ev, start) {
    const label = start.labels[ev.racer];
    const words = `diverged at epoch ${ev.diverged_at}`;
    diverged.push(`${label} ${words}` + (start.seeds > 1 ? ` (seed ${ev.seed})` : ""));
    if (ev.seed !== 0) return;
    CHARTS.forEach(([id, , , type]) => {
      Plotly.restyle($(id), { name: `${label} (${words})` }, [ev.racer]);
      if (type !== "log") return;
      const marks = $(id).layout.annotations || [];
      const left = ev.diverged_at > start.epochs / 2; // the words run inward from the x, so they stay on the chart
      marks.push({ x: ev.diverged_at, y: 1, yref: "paper", yanchor: "top", xanchor: left ? "right" : "left",
        xshift: left ? 5 : -5, yshift: -14 * marks.length, showarrow: false, text: left ? `${words} ✕` : `✕ ${words}`,
        font: { color: start.colours[ev.racer], size: 11 } });
      Plotly.relayout($(id), { annotations: marks });
    });
  }

  function onEpoch(ev, start) {
    if (ev.diverged_at >= 0) markDivergence(ev, start);
    else if (ev.seed === 0) { // curves show seed 0 live; the final summary has the medians
      CHARTS.forEach(([id, key]) => Plotly.extendTraces($(id), { x: [[ev.epoch]], y: [[ev[key]]] }, [ev.racer]));
    }
    const now = ev.diverged_at >= 0 ? [] : [`${start.labels[ev.racer]}: epoch ${ev.epoch} / ${start.epochs}, ` +
      `val loss ${num(ev.val_loss, 4)}, accuracy ${num(ev.val_accuracy, 3)}`];
    $("nnStatus").textContent = now.concat(diverged).join(" · ");
  }

  function summaryText(ev) {
    const rows = ev.summary.map((r) => (r.diverged ? `${r.racer}: ${r.diverged}` :
      `${r.racer}: val loss ${num(r.final_val_loss, 4)}, accuracy ${num(r.final_val_accuracy, 3)}`));
    const ranked = ev.summary.filter((r) => r.final_val_loss !== null && !r.diverged);
    const best = ranked.length ? ranked.reduce((a, b) => (b.final_val_loss < a.final_val_loss ? b : a)) : null;
    return (ev.stopped ? "stopped. " : "done. ") + rows.join(" | ") + (best ? ` (lowest: ${best.racer})` : "");
  }

  async function run() {
    if (controller) return;
    controller = new AbortController();
    $("nnStart").disabled = true;
    $("nnStop").disabled = false;
    $("nnStatus").textContent = "starting…";
    onState();
    let start = null;
    try {
      const res = await fetch("/api/train", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request()), signal: controller.signal });
      if (!res.ok) {
        const data = await res.json().catch(() => ({}));
        throw { detail: data.detail };
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const line = buf.slice(0, cut).replace(/^data: /, "");
          buf = buf.slice(cut + 2);
          const ev = JSON.parse(line);
          if (ev.type === "start") { start = ev; setup(ev); }
          else if (ev.type === "status") $("nnStatus").textContent = ev.msg + "…";
          else if (ev.type === "epoch") onEpoch(ev, start);
          else if (ev.type === "done") $("nnStatus").textContent = summaryText(ev);
          else if (ev.type === "error") $("nnStatus").textContent = "error: " + ev.msg;
        }
      }
    } catch (err) {
      if (err && err.name === "AbortError") $("nnStatus").textContent = "stopped.";
      else $("nnStatus").textContent = "error: " + (Array.isArray(err.detail) ? err.detail.map((d) => d.msg).join("; ") : err.detail || err);
    } finally {
      controller = null;
      $("nnStart").disabled = false;
      $("nnStop").disabled = true;
    }
  }

  function stop() {
    if (controller) controller.abort();
  }

  return { run, stop, running: () => controller !== null };
}
