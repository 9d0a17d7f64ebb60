// The "Neural network" view: start a training race, draw its epochs as they stream in, stop it.
const CHARTS = [["nnTrain", "train_loss", "train loss (log)", "log"], ["nnVal", "val_loss", "validation loss (log)", "log"],
  ["nnAcc", "val_accuracy", "validation accuracy", "linear"]];

export function createTrainer({ $, api, request, onState }) {
  let controller = null;

  function setup(start) {
    CHARTS.forEach(([id, , title, type]) => {
      const traces = start.labels.map((label, i) => ({ type: "scatter", mode: "lines+markers", name: label, x: [], y: [],
        line: { color: start.colours[i], width: 2 }, marker: { size: 4 } }));
      Plotly.react($(id), traces, { margin: { l: 50, r: 10, t: 30, b: 36 }, title: { text: title, font: { size: 13 } },
        xaxis: { title: { text: "epoch" }, range: [0, start.epochs] }, yaxis: { type },
        legend: { orientation: "h", y: -0.25 } }, { displayModeBar: false, responsive: true });
    });
  }

  function onEpoch(ev, start) {
    if (ev.seed !== 0) return; // curves show seed 0 live; the final summary has the medians
    CHARTS.forEach(([id, key]) => Plotly.extendTraces($(id), { x: [[ev.epoch]], y: [[ev[key]]] }, [ev.racer]));
    $("nnStatus").textContent = `${start.labels[ev.racer]}: epoch ${ev.epoch} / ${start.epochs}, ` +
      `val loss ${ev.val_loss.toFixed(4)}, accuracy ${ev.val_accuracy.toFixed(3)}`;
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
          else if (ev.type === "epoch") onEpoch(ev, start);
          else if (ev.type === "done") {
            const best = ev.summary.reduce((a, b) => (b.final_val_loss < a.final_val_loss ? b : a));
            $("nnStatus").textContent = (ev.stopped ? "stopped. " : "done. ") +
              ev.summary.map((r) => `${r.racer}: val loss ${r.final_val_loss.toFixed(4)}, accuracy ${r.final_val_accuracy.toFixed(3)}`).join(" | ") +
              ` (lowest: ${best.racer})`;
          } else if (ev.type === "error") $("nnStatus").textContent = "error: " + ev.msg;
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
