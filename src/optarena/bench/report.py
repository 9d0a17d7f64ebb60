"""The bench's report: one self-contained HTML page, PNGs, strict JSON and CSV, from ``runner.summarise``.

Everything here is computed from the summary alone (no store, no training), so a report can be
rebuilt from a ``summary.json`` it wrote earlier (its nulls read as misses in time fields).
What the page shows, and where it comes from:

* performance profiles rho_s(tau) and AlgoPerf scores with their bootstrap intervals (``scores``);
* per workload and submission, the time to target: the median over studies of each study's fastest
  trial, and the reruns' median with its percentile bootstrap interval over seeds;
* best-so-far curves against the tuning budget (Schmidt et al. 2021): min over the first k trials;
* the winners' training curves, mean +- sd over the rerun seeds (DeepOBS, ``scores.seed_band``);
* the pairwise Wilcoxon signed-rank tests with Holm's correction;
* the article's comparison table, per submitted optimizer: state bytes per parameter
  (``OptimizerSpec.state_bytes_per_param``), time to target, tuning sensitivity, seconds per step,
  each with a percentile bootstrap interval over workloads.

The page loads nothing from the network: Plotly.js is inlined from the installed ``plotly``.
Pictures use matplotlib's object API on the Agg canvas (no pyplot), as ``export.images`` does.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html as _html
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .._files import atomic_path, atomic_write
from ..errors import OptarenaError, UsageError, UsageTypeError
from ..extras import BENCH, need
from . import scores

__all__ = ["FORMATS", "REPORT_FORMAT", "NULL_NOTE", "check_formats", "strict", "times_rows", "article_rows",
           "seed_tests", "article_markdown", "page", "write_report", "write_html", "write_json", "write_csv", "write_pngs"]

FORMATS = ("html", "png", "json", "csv")
REPORT_FORMAT = "optarena.bench-report/1"
NULL_NOTE = ("Strict JSON has no infinity or NaN: null stands for a missed target (an infinite time) in the time "
             "fields (time_*, rerun_*, best_so_far_*, intervals) and for 'no value' (NaN: no test, no rate) elsewhere.")
PNGS = ("profile_steps.png", "profile_seconds.png", "best_so_far.png", "curves.png")
#: matplotlib's tab10: one colour per submitted optimizer, its self-tuning (defaults) ruleset dashed.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MISSED, NONE = "missed", "\u2014"
TIME_KEYS = ("time_steps", "time_seconds", "rerun_steps", "rerun_seconds", "best_so_far_steps", "time_interval_steps")


# ---------------------------------------------------------------------------------------- inputs

def check_formats(formats: Iterable[str] | str) -> tuple[str, ...]:
    """``formats`` as a tuple of known formats (each once, in the given order), or a one-line UsageError."""
    items = [formats] if isinstance(formats, str) else list(formats)
    if not items:
        raise UsageError(f"format must name at least one of {', '.join(FORMATS)}", field="format", allowed=list(FORMATS))
    out: list[str] = []
    for f in items:
        if not isinstance(f, str):
            raise UsageTypeError(f"format must be one of {', '.join(FORMATS)}, got {f!r}", field="format",
                                 allowed=list(FORMATS))
        if f.lower() not in FORMATS:
            raise UsageError(f"format must be one of {', '.join(FORMATS)}, got {f!r}", field="format", allowed=list(FORMATS))
        if f.lower() not in out:
            out.append(f.lower())
    return tuple(out)


def _floats(values: Any, none: float = math.inf) -> np.ndarray:
    """A nested list of numbers as float64; a null (a strict summary.json's) as ``none``."""
    def fix(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        return none if v is None else v
    return np.asarray(fix(values), dtype=np.float64)


class _View:
    """The summary's arrays, typed, and the submissions grouped by optimizer (not by ruleset)."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        missing = [k for k in ("submissions", "workloads", "time_steps", "time_seconds", "budget") if k not in summary]
        if missing:
            raise UsageError(f"summary lacks {', '.join(missing)}: give the dict runner.summarise returns", field="summary")
        self.s = summary
        self.subs: list[dict[str, Any]] = list(summary["submissions"])
        self.works: list[dict[str, Any]] = list(summary["workloads"])
        self.names = [str(x["name"]) for x in self.subs]
        S, W = len(self.subs), len(self.works)
        reruns = int(summary["budget"].get("reruns", 0))
        try:  # the shapes summarise gives: (submissions, workloads[, reruns])
            self.time_steps = _floats(summary["time_steps"]).reshape(S, W)
            self.time_seconds = _floats(summary["time_seconds"]).reshape(S, W)
            self.rerun_steps = _floats(summary.get("rerun_steps", [])).reshape(S, W, reruns)
            self.rerun_seconds = _floats(summary.get("rerun_seconds", [])).reshape(S, W, reruns)
            self.reached = _floats(summary.get("reached_share", np.full((S, W), np.nan)), math.nan).reshape(S, W)
            self.step_seconds = _floats(summary.get("seconds_per_step", np.full((S, W), np.nan)), math.nan).reshape(S, W)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"summary's arrays do not fit its {S} submissions x {W} workloads x {reruns} reruns "
                             f"({exc})", field="summary") from None
        self.groups: dict[str, list[int]] = {}
        for e, x in enumerate(self.subs):
            self.groups.setdefault(str(x.get("submission", x["name"])), []).append(e)
        self.colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(self.groups)}

    def group_of(self, e: int) -> str:
        return str(self.subs[e].get("submission", self.subs[e]["name"]))

    def entry(self, group: str, ruleset: str) -> int | None:
        return next((e for e in self.groups[group] if self.subs[e].get("ruleset") == ruleset), None)

    def rerun_median(self, e: int, k: int, seconds: bool = False) -> float:
        """The median over the reruns' seeds (the AlgoPerf median over studies when there are none)."""
        r = (self.rerun_seconds if seconds else self.rerun_steps)[e, k]
        if r.size == 0:
            return float((self.time_seconds if seconds else self.time_steps)[e, k])
        return float(np.median(r))


def _interval(values: np.ndarray, statistic: Any = np.median) -> tuple[float, float]:
    """Percentile bootstrap interval (``scores.bootstrap_interval``); NaN, NaN with fewer than two values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return math.nan, math.nan
    return scores.bootstrap_interval(v, statistic)


# ---------------------------------------------------------------------------------------- tables

def times_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per submission x workload: AlgoPerf's time (median over studies of each study's
    fastest trial) in steps and seconds, the reruns' median with its 95% percentile bootstrap
    interval over seeds, the share of the tuning trials that reached the target, seconds per step."""
    v = _View(summary)
    given = None if summary.get("time_interval_steps") is None else _floats(summary["time_interval_steps"])
    rows = []
    for e, sub in enumerate(v.subs):
        for k, w in enumerate(v.works):
            if given is not None:
                lo_s, hi_s = (float(x) for x in given[e, k])
            else:
                lo_s, hi_s = _interval(v.rerun_steps[e, k])
            lo_t, hi_t = _interval(v.rerun_seconds[e, k])
            rows.append({
                "submission": sub["name"], "optimizer": sub.get("optimizer"), "ruleset": sub.get("ruleset"),
                "workload": w["name"], "target": w.get("target"),
                "time_steps": float(v.time_steps[e, k]), "time_seconds": float(v.time_seconds[e, k]),
                "rerun_median_steps": v.rerun_median(e, k), "rerun_steps_low": lo_s, "rerun_steps_high": hi_s,
                "rerun_median_seconds": v.rerun_median(e, k, seconds=True), "rerun_seconds_low": lo_t,
                "rerun_seconds_high": hi_t, "reruns": int(v.rerun_steps.shape[2]),
                "reached_share": float(v.reached[e, k]), "seconds_per_step": float(v.step_seconds[e, k])})
    return rows


def _state_bytes(optimizer: str, settings: Sequence[Mapping[str, Any]]) -> tuple[float, float, float]:
    """Optimizer-state bytes per float32 parameter at each setting used: (median, min, max); NaN
    for an optimizer the registry does not hold."""
    from ..optim import registry

    try:
        spec = registry.get(optimizer)
        got = [float(spec.state_bytes_per_param(dict(hp))) for hp in settings] or [float(spec.state_bytes_per_param())]
    except OptarenaError:
        return math.nan, math.nan, math.nan
    return float(np.median(got)), min(got), max(got)


def _time_over_workloads(v: _View, e: int | None) -> tuple[float, float, float]:
    if e is None:
        return math.nan, math.nan, math.nan
    per = np.array([v.rerun_median(e, k) for k in range(len(v.works))])
    lo, hi = _interval(per)
    return float(np.median(per)), lo, hi


def article_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The article's comparison table regenerated from the bench: one row per submitted optimizer
    (its rulesets together). Each number with a 95% percentile bootstrap interval over workloads
    (``*_low``, ``*_high``); see ``MEASURED`` for how each is measured."""
    v = _View(summary)
    best = summary.get("best_hyperparameters") or [[{}] * len(v.works) for _ in v.subs]
    studies, trials = int(summary["budget"].get("studies", 0)), int(summary["budget"].get("trials", 0))
    rows = []
    for g, entries in v.groups.items():
        sub = v.subs[entries[0]]
        fixed = dict(sub.get("space", {}).get("fixed", {}))
        settings = [{**fixed, **hp} for e in entries for hp in best[e]]
        mem, mem_lo, mem_hi = _state_bytes(str(sub.get("optimizer", g)), settings)
        ext, own = v.entry(g, "external"), v.entry(g, "self")
        tuned, tuned_lo, tuned_hi = _time_over_workloads(v, ext)
        default, default_lo, default_hi = _time_over_workloads(v, own)
        if ext is not None:
            share = v.reached[ext]
            reached, (reached_lo, reached_hi) = float(np.mean(share)), _interval(share, np.mean)
            n_trials = studies * trials * len(v.works)
            n_reached = int(round(float(np.nansum(share)) * studies * trials))
        else:
            reached = reached_lo = reached_hi = math.nan
            n_trials = n_reached = 0
        rate = v.step_seconds[entries]  # (rulesets, workloads): each the median over that entry's reruns
        ok = np.isfinite(rate)
        per = np.array([float(np.median(rate[ok[:, k], k])) for k in range(len(v.works)) if ok[:, k].any()])
        sps = float(np.median(per)) if per.size else math.nan
        sps_lo, sps_hi = _interval(per)
        space = sub.get("space", {}).get("space", {})
        rows.append({
            "submission": g, "optimizer": sub.get("optimizer", g), "searched": sorted(space),
            "state_bytes_per_param": mem, "state_bytes_low": mem_lo, "state_bytes_high": mem_hi,
            "steps_to_target_tuned": tuned, "steps_to_target_tuned_low": tuned_lo,
            "steps_to_target_tuned_high": tuned_hi,
            "steps_to_target_defaults": default, "steps_to_target_defaults_low": default_lo,
            "steps_to_target_defaults_high": default_hi,
            "reached_share": reached, "reached_share_low": reached_lo, "reached_share_high": reached_hi,
            "trials_reached": n_reached, "trials": n_trials,
            "seconds_per_step": sps, "seconds_per_step_low": sps_lo, "seconds_per_step_high": sps_hi})
    return rows


MEASURED = {
    "state_bytes_per_param": "Memory: bytes of optimizer state per float32 parameter (the optimizer's state arrays "
                             "times 4 bytes) at each setting the bench kept; the interval is the least and the most "
                             "over those settings (a range, not a statistical interval: memory is exact).",
    "steps_to_target_tuned": "Time to target (tuned): for each workload the median over the winner's reruns (seeds) "
                             "of the steps to reach the target, then the median over workloads; a missed target is "
                             "infinite. Interval: 95% percentile bootstrap over workloads.",
    "steps_to_target_defaults": "Time to target (defaults): the same for the self-tuning ruleset (no tuning, 1.5x "
                                "the budget, the optimizer's defaults).",
    "reached_share": "Tuning sensitivity: the share of external-tuning trials (quasirandom settings from the declared "
                     "search space) that reached the target, over all workloads; a forgiving optimizer has a high "
                     "share. Interval: 95% percentile bootstrap over workloads of the mean share.",
    "seconds_per_step": "Speed: wall-clock seconds per training step (training only, evaluation excluded), the "
                        "median over a workload's reruns, then the median over workloads; interval: 95% percentile "
                        "bootstrap over workloads. Seconds depend on the workload's size and on this machine.",
}


# ---------------------------------------------------------------------------------------- JSON and CSV

def strict(obj: Any) -> Any:
    """``obj`` with every inf and NaN float replaced by None (strict JSON), NumPy values as Python's."""
    if isinstance(obj, Mapping):
        return {str(k): strict(x) for k, x in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(x) for x in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def report_json(summary: Mapping[str, Any]) -> str:
    doc = {"format": REPORT_FORMAT, "note": NULL_NOTE, "summary": summary, "times": times_rows(summary),
           "article_table": article_rows(summary), "measured": MEASURED, "wilcoxon_by_seed": seed_tests(summary)}
    return json.dumps(strict(doc), indent=1, allow_nan=False) + "\n"


def write_json(summary: Mapping[str, Any], path: str | Path) -> Path:
    return atomic_write(path, report_json(summary))


def _cell(x: Any) -> Any:
    # numbers stay parseable: float("inf") reads "inf"; NaN (no value) is an empty cell
    if isinstance(x, float):
        return "" if math.isnan(x) else repr(x) if math.isfinite(x) else "inf"
    if isinstance(x, (list, tuple)):
        return " ".join(str(i) for i in x)
    return "" if x is None else x


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: _cell(x) for k, x in r.items()} for r in rows)
    return buf.getvalue()


def article_markdown(summary: Mapping[str, Any]) -> str:
    """The article's table as Markdown (for a README), each number with its 95% interval, and how each was measured."""
    rows = article_rows(summary)
    b = summary["budget"]
    lines = ["| optimizer | state bytes / param | steps to target, tuned | steps to target, defaults | "
             "tuning trials on target | ms / step |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = [str(r["submission"]), _num(r["state_bytes_per_param"])]
        for f in ("steps_to_target_tuned", "steps_to_target_defaults"):
            cells.append(f"{_num(r[f])} {_ci(r[f + '_low'], r[f + '_high'])}".strip())
        cells.append(f"{_num(r['reached_share'] * 100, '%', 3)} {_ci(r['reached_share_low'], r['reached_share_high'], 100, '%')}"
                     .strip())
        cells.append(f"{_num(r['seconds_per_step'] * 1e3, '', 3)} "
                     f"{_ci(r['seconds_per_step_low'], r['seconds_per_step_high'], 1e3)}".strip())
        lines.append("| " + " | ".join(cells) + " |")
    mode = "quick" if summary.get("quick") else "full"
    lines += ["", f"{len(summary['workloads'])} workloads, {mode} budget: {b.get('studies')} studies x {b.get('trials')} "
              f"trials, {b.get('reruns')} reruns; [95% intervals]; 'missed': the target was not reached."]
    lines += [f"- {t}" for t in MEASURED.values()]
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    return atomic_write(path, csv_text(rows))


# ---------------------------------------------------------------------------------------- formatting

def _num(x: Any, unit: str = "", digits: int = 4) -> str:
    """A number for a person: inf is 'missed', NaN or None a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NONE
    if isinstance(x, float) and math.isinf(x):
        return MISSED
    return f"{float(x):.{digits}g}{unit}"


def _bound(x: float, digits: int = 4) -> str:
    return "\u221e" if math.isinf(x) else f"{x:.{digits}g}"


def _ci(lo: float, hi: float, scale: float = 1.0, unit: str = "") -> str:
    if math.isnan(lo) or math.isnan(hi):
        return ""
    digits = 3 if unit or scale != 1.0 else 4  # a percentage or a rescaled unit: as its point value
    return f"[{_bound(lo * scale, digits)}{unit}, {_bound(hi * scale, digits)}{unit}]"


def _data(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if math.isinf(x) else repr(float(x)))


def _nums(a: Any) -> list[float | None]:
    return [float(f"{x:.7g}") if math.isfinite(x) else None for x in np.asarray(a, dtype=np.float64).ravel()]


def _script_json(obj: Any) -> str:
    # safe inside <script>: no "</script>", "<!--" or "&" from labels
    text = json.dumps(strict(obj), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(summary: Mapping[str, Any]) -> str:
    made = summary.get("created")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"bench finished {made}; report written {now}" if made else f"report written {now}"


def _dash(v: _View, e: int) -> str:
    return "dash" if v.subs[e].get("ruleset") == "self" else "solid"


# ---------------------------------------------------------------------------------------- curves

def _band(curves: Sequence[Mapping[str, Any] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reruns' curves on their common step grid: steps, mean, sd and count over seeds at each
    (``scores.seed_band``; a run that stopped at the target, or diverged, counts no more after)."""
    cs = [c for c in curves if c]
    if not cs:
        empty = np.array([])
        return empty, empty, empty, empty.astype(np.int64)
    steps = np.unique(np.concatenate([np.asarray(c["steps"], dtype=np.float64) for c in cs]))
    grid = np.full((len(cs), steps.size), np.nan)
    for i, c in enumerate(cs):
        s = np.asarray(c["steps"], dtype=np.float64)
        m = _floats(c["metric"], math.nan)
        grid[i, np.searchsorted(steps, s)] = np.where(np.isfinite(m), m, np.nan)
    mean, sd, n = scores.seed_band(grid, axis=0)
    return steps, mean, sd, n


def _log_axis(values: Iterable[float]) -> bool:
    a = np.asarray(list(values), dtype=np.float64)
    a = a[np.isfinite(a)]
    return bool(a.size and (a > 0).all() and a.max() / a.min() > 50)


# ---------------------------------------------------------------------------------------- HTML

def _figures(v: _View) -> dict[str, dict[str, Any]]:
    """Plotly figures by div id: profiles, best-so-far and training curves per workload."""
    s = v.s
    figs: dict[str, dict[str, Any]] = {}
    data: list[dict[str, Any]]
    taus = _nums(s.get("taus", []))
    for unit in ("steps", "seconds"):
        prof = _floats(s.get(f"profile_{unit}", []), math.nan)
        score = _floats(s.get(f"score_{unit}", [math.nan] * len(v.subs)), math.nan)
        data = [{"type": "scatter", "mode": "lines", "x": taus, "y": _nums(prof[e]), "line": {"shape": "hv",
                 "color": v.colour[v.group_of(e)], "dash": _dash(v, e), "width": 2.5},
                 "name": f"{name} (score {_num(float(score[e]), digits=3)})"} for e, name in enumerate(v.names)
                if prof.ndim == 2]
        figs[f"profile-{unit}"] = {"data": data, "layout": {
            "title": {"text": f"Performance profile, time in {unit}"}, "height": 420,
            "xaxis": {"title": {"text": "tau: times slower than the fastest on a workload"}},
            "yaxis": {"title": {"text": "rho: share of workloads"}, "range": [-0.02, 1.02]},
            "legend": {"orientation": "h", "y": -0.25}, "margin": {"t": 50, "b": 120}}}
    bsf = s.get("best_so_far_steps")
    for k, w in enumerate(v.works):
        data = []
        for e, name in enumerate(v.names):
            colour = v.colour[v.group_of(e)]
            if v.subs[e].get("ruleset") == "self" or bsf is None:
                ext = v.entry(v.group_of(e), "external")
                n = max(1, len(bsf[e if ext is None else ext][k])) if bsf else 1
                y = float(v.time_steps[e, k])
                data.append({"type": "scatter", "mode": "lines", "x": [1, n], "y": _nums([y, y]), "name": name,
                             "line": {"color": colour, "dash": "dash"}})
            else:
                y_ = _floats(bsf[e][k])
                data.append({"type": "scatter", "mode": "lines+markers", "x": list(range(1, y_.size + 1)),
                             "y": _nums(y_), "name": name, "line": {"color": colour, "shape": "hv"}})
        figs[f"bsf-{k}"] = {"data": data, "layout": {
            "title": {"text": str(w.get("title", w["name"]))}, "height": 360,
            "xaxis": {"title": {"text": "trials tried"}, "dtick": 1},
            "yaxis": {"title": {"text": "best steps to target so far"}},
            "legend": {"orientation": "h", "y": -0.3}, "margin": {"t": 50, "b": 110}}}
    curves = s.get("rerun_curves")
    for k, w in enumerate(v.works):
        data, values = [], []
        for e, name in enumerate(v.names):
            if not curves:
                break
            steps, mean, sd, count = _band(curves[e][k])
            if not steps.size:
                continue
            colour = v.colour[v.group_of(e)]
            two = count >= 2
            lo, hi = np.where(two, mean - sd, np.nan), np.where(two, mean + sd, np.nan)
            values += [*mean[np.isfinite(mean)], *lo[np.isfinite(lo)]]
            data += [
                {"type": "scatter", "mode": "lines", "x": _nums(steps[two]), "y": _nums(hi[two]), "line": {"width": 0},
                 "showlegend": False, "hoverinfo": "skip", "legendgroup": name},
                {"type": "scatter", "mode": "lines", "x": _nums(steps[two]), "y": _nums(lo[two]), "line": {"width": 0},
                 "fill": "tonexty", "fillcolor": colour + "33", "showlegend": False, "hoverinfo": "skip",
                 "legendgroup": name},
                {"type": "scatter", "mode": "lines", "x": _nums(steps), "y": _nums(mean), "name": name,
                 "legendgroup": name, "line": {"color": colour, "dash": _dash(v, e)}}]
        target = w.get("target")
        log = _log_axis(values + ([target] if isinstance(target, (int, float)) else []))
        shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target, "y1": target,
                   "line": {"color": "black", "dash": "dot", "width": 1.5}}] if isinstance(target, (int, float)) else []
        figs[f"curves-{k}"] = {"data": data, "layout": {
            "title": {"text": f"{w.get('title', w['name'])} (target {_num(target)})"}, "height": 380,
            "xaxis": {"title": {"text": "steps"}},
            "yaxis": {"title": {"text": str(w.get("metric", "metric"))}, "type": "log" if log else "linear"},
            "shapes": shapes, "legend": {"orientation": "h", "y": -0.3}, "margin": {"t": 50, "b": 110}}}
    return figs


def _table(head: Sequence[str], body: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are given as HTML (escaped by their makers)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    rows = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>\n" for r in body)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>\n{rows}</tbody></table>'


def _td(text: str, key: str, value: float, extra: str = "", interval: tuple[float, float] | None = None) -> str:
    """A number's cell: its text, and its exact value (and interval) as data attributes."""
    ends = "" if interval is None else f' data-low="{_data(interval[0])}" data-high="{_data(interval[1])}"'
    return (f'<td class="num" data-key="{_html.escape(key)}" data-value="{_data(value)}"{ends}>{_html.escape(text)}'
            f'{extra}</td>')


def _span(text: str, key: str, row: Mapping[str, Any], *fields: str) -> str:
    """``text`` with the row's exact numbers as data attributes (one per field), for a script or a test to read."""
    attrs = "".join(f' data-{f.replace("_", "-")}="{_data(row[f])}"' for f in fields)
    return f'<span data-key="{_html.escape(key)}"{attrs}>{_html.escape(text)}</span>'


def _header(v: _View) -> str:
    e = _html.escape
    s, b, m = v.s, v.s["budget"], v.s.get("machine", {})
    mode = "quick (a smaller, stated budget)" if s.get("quick") else "full"
    works = "".join(f"<li><b>{e(str(w['name']))}</b>: {e(str(w.get('title', '')))}; target {e(str(w.get('metric', '')))}"
                    f" &le; {e(_num(w.get('target')))} within {e(str(w.get('budget', '?')))} steps</li>" for w in v.works)
    machine = ", ".join(f"{k} {m[k]}" for k in m)
    return (
        f"<dl class=\"run\"><dt>Budget</dt><dd>{e(mode)}: {b.get('studies')} studies &times; {b.get('trials')} "
        f"trials of external tuning per submission and workload; self-tuning: one run per study at the defaults; "
        f"the winning setting rerun with {b.get('reruns')} seeds</dd>"
        f"<dt>Submissions</dt><dd>{e(', '.join(v.names))}</dd>"
        f"<dt>Machine</dt><dd>{e(machine or NONE)}</dd>"
        f"<dt>Store</dt><dd><code>{e(str(s.get('store', NONE)))}</code></dd>"
        f"<dt>Date</dt><dd>{e(_when(s))}</dd></dl>\n<h3>Workloads</h3><ul>{works}</ul>")


def _rerun_scores(v: _View, unit: str) -> np.ndarray:
    """AlgoPerf's score of the reruns' medians over seeds: the point the score interval is about."""
    r = v.rerun_steps if unit == "steps" else v.rerun_seconds
    return scores.algoperf_score(np.median(r, axis=2)) if r.shape[2] else np.full(len(v.names), np.nan)


def _scores_html(v: _View) -> str:
    body = []
    again = {unit: _rerun_scores(v, unit) for unit in ("steps", "seconds")}
    for i, name in enumerate(v.names):
        row = [_html.escape(name)]
        for unit in ("steps", "seconds"):
            sc = float(_floats(v.s.get(f"score_{unit}", [math.nan] * len(v.names)), math.nan)[i])
            iv = v.s.get(f"score_interval_{unit}")
            lo, hi = (float(x) for x in _floats(iv, math.nan)[i]) if iv is not None else (math.nan, math.nan)
            row.append(_td(_num(sc, digits=3), f"score|{name}|{unit}", sc))
            rs = float(again[unit][i])
            row.append(_td(f"{_num(rs, digits=3)} {_ci(lo, hi)}".strip(), f"rerun_score|{name}|{unit}", rs,
                           interval=(lo, hi)))
        body.append(row)
    return _table(["submission", "score (steps)", "reruns' score (steps) [95%]", "score (seconds)",
                   "reruns' score (seconds) [95%]"], body)


def _times_html(v: _View, rows: Sequence[Mapping[str, Any]]) -> str:
    head = ["workload", "target"] + [_html.escape(n) for n in v.names]
    body = []
    for k, w in enumerate(v.works):
        cells = [_html.escape(str(w["name"])), _html.escape(_num(w.get("target")))]
        for e, name in enumerate(v.names):
            r = rows[e * len(v.works) + k]
            key = f"{w['name']}|{name}"
            sub = (f'<div class="sub">reruns: {_span(_num(r["rerun_median_steps"]), key, r, "rerun_median_steps")} '
                   f'{_span(_ci(r["rerun_steps_low"], r["rerun_steps_high"]), key, r, "rerun_steps_low", "rerun_steps_high")}'
                   f'<br>{_span(_num(r["time_seconds"], " s", 3), key, r, "time_seconds")}; reached '
                   f'{_span(_num(r["reached_share"] * 100, "%", 3), key, r, "reached_share")}</div>')
            cells.append(_td(_num(r["time_steps"]), f"{key}|time_steps", r["time_steps"], sub))
        body.append(cells)
    return _table(head, body, "times")


def _article_html(rows: Sequence[Mapping[str, Any]]) -> str:
    body = []
    for r in rows:
        g = str(r["submission"])

        def cell(field: str, low: str, high: str, text: str, ci: str) -> str:
            return _td(f"{text} {ci}".strip(), f"table|{g}|{field}", r[field], interval=(r[low], r[high]))

        mem = _num(r["state_bytes_per_param"], " B")
        if r["state_bytes_low"] != r["state_bytes_high"]:
            mem += f" ({_bound(r['state_bytes_low'])} to {_bound(r['state_bytes_high'])})"
        body.append([
            _html.escape(g),
            cell("state_bytes_per_param", "state_bytes_low", "state_bytes_high", mem, ""),
            *(cell(f, f + "_low", f + "_high", _num(r[f]), _ci(r[f + "_low"], r[f + "_high"]))
              for f in ("steps_to_target_tuned", "steps_to_target_defaults")),
            cell("reached_share", "reached_share_low", "reached_share_high", _num(r["reached_share"] * 100, "%", 3),
                 f"{_ci(r['reached_share_low'], r['reached_share_high'], 100, '%')} ({r['trials_reached']} of {r['trials']})"),
            cell("seconds_per_step", "seconds_per_step_low", "seconds_per_step_high",
                 _num(r["seconds_per_step"] * 1e3, " ms", 3), _ci(r["seconds_per_step_low"], r["seconds_per_step_high"], 1e3)),
            _html.escape(", ".join(r["searched"]) or NONE)])
    head = ["optimizer", "memory: state bytes / parameter", "steps to target, tuned [95%]", "steps to target, defaults [95%]",
            "tuning sensitivity: trials on target [95%]", "speed: ms / step [95%]", "searched"]
    notes = "".join(f"<li>{_html.escape(t)}</li>" for t in MEASURED.values())
    return _table(head, body, "article") + f'\n<ul class="notes">{notes}</ul>'


def seed_tests(summary: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per workload, the pairwise Wilcoxon tests over the rerun seeds (``scores.wilcoxon_pairs`` on
    (submissions, seeds) steps; seed k is the same initialisation and data order for every submission,
    so the times pair by seed), Holm-corrected within the workload. Empty with fewer than two reruns."""
    v = _View(summary)
    if v.rerun_steps.shape[2] < 2:
        return {}
    return {str(w["name"]): scores.wilcoxon_pairs(v.rerun_steps[:, k, :], v.names) for k, w in enumerate(v.works)}


def _pairs_table(pairs: Sequence[Mapping[str, Any]]) -> str:
    body = [[_html.escape(str(p["a"])), _html.escape(str(p["b"])), str(p["n"]), f"{p['a_faster']} / {p['b_faster']} / {p['ties']}",
             _html.escape(_num(p.get("statistic"))), _html.escape(_num(p.get("p_value"), digits=3)),
             _html.escape(_num(p.get("p_holm"), digits=3)), _html.escape(str(p.get("reason") or ""))] for p in pairs]
    return _table(["a", "b", "n (nonzero differences)", "a faster / b faster / ties", "W", "p", "p (Holm)", "note"], body)


def _wilcoxon_html(v: _View) -> str:
    pairs = v.s.get("wilcoxon_steps")
    out = _pairs_table(pairs) if pairs else "<p>No pairwise tests: the bench had fewer than two reruns per setting.</p>"
    by_seed = seed_tests(v.s)
    if by_seed:
        out += ("\n<details><summary>The same tests on each workload, paired by rerun seed (steps of each seed; "
                f"they need at least {scores.MIN_PAIRS} seeds that differ)</summary>\n"
                + "".join(f"<h4>{_html.escape(w)}</h4>{_pairs_table(ps)}" for w, ps in by_seed.items()) + "</details>")
    return out


_STYLE = """body{font-family:sans-serif;margin:16px auto;max-width:1200px;padding:0 16px;color:#222;line-height:1.45}
h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ddd}dl.run{display:grid;grid-template-columns:
max-content 1fr;gap:2px 16px}dt{font-weight:bold}dd{margin:0}table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
.sub{color:#666;font-size:12px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
.explain{background:#f7f9fc;border-left:3px solid #1f77b4;padding:6px 12px}.notes{font-size:13px;color:#444}"""

_SCRIPT = """(function () {
  var F = %s, config = {responsive: true, displaylogo: false, showSendToCloud: false};
  Object.keys(F).forEach(function (id) { Plotly.newPlot(id, F[id].data, F[id].layout, config); });
})();"""


def page(summary: Mapping[str, Any]) -> str:
    """The report as one HTML document that opens from disk, offline (Plotly.js inlined)."""
    plotly_js = need("plotly.offline", BENCH, "the bench report's page").get_plotlyjs()
    v = _View(summary)
    figs = _figures(v)
    rows, art = times_rows(summary), article_rows(summary)
    e = _html.escape

    def divs(prefix: str) -> str:
        return '<div class="grid">' + "".join(f'<div id="{i}"></div>' for i in figs if i.startswith(prefix)) + "</div>"

    b = summary["budget"]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>optarena bench report</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>optarena bench report</h1>
<p>Which optimizer reaches a fixed validation target fastest, once each is tuned the same way? This page answers it
with AlgoPerf's method (Dahl et al. 2023) on workloads small enough for a laptop.</p>
{_header(v)}
<h2>Performance profiles</h2>
<p class="explain">A <b>performance profile</b> compares submissions over all workloads at once. On each workload,
divide a submission's time to target by the fastest submission's time there: 1 means it was the fastest, 2 means
it took twice as long. The curve at <i>tau</i> is the share of workloads on which the submission was within
<i>tau</i> times the fastest. Read it left to right: high at tau = 1 means often the fastest; reaching the top early
means rarely far behind; a curve that never reaches the top missed the target (or was more than 4 times slower)
somewhere. The <b>score</b> is the area under the curve from 1 to 4, divided by 3: 1 for the fastest everywhere, 0
for never on target. Dashed lines: self-tuning (defaults, no tuning, 1.5&times; the budget).</p>
{divs("profile-")}
<h2>Scores</h2>
<p>AlgoPerf's score in steps and in seconds, from the tuning trials' times (the profiles above). Beside each, the
score of the reruns: the winning settings trained again from new seeds, each workload's time the median over seeds;
its interval (95%, percentile bootstrap) resamples the seeds of every workload and recomputes all scores together.
The two can differ: a setting that won one study of few may reach the target on every rerun, while AlgoPerf's
time, the median over studies, counts the studies that missed.</p>
{_scores_html(v)}
<h2>The article's table, regenerated from the bench</h2>
<p>One row per optimizer. Each number comes with an interval; the notes under the table say how each was measured.</p>
{_article_html(art)}
<h2>Time to target on each workload</h2>
<p>Large number: AlgoPerf's time in steps, the median over the {b.get('studies')} studies of each study's fastest
trial ("{MISSED}" when the target was not reached within the budget). Below it: the median over the winning
setting's {b.get('reruns')} reruns with its 95% bootstrap interval over seeds, AlgoPerf's time in seconds, and the
share of tuning trials that reached the target.</p>
{_times_html(v, rows)}
<h2>Best so far against the tuning budget</h2>
<p class="explain">How much does tuning buy? Each solid line follows external tuning trial by trial: after <i>k</i>
trials, the fastest time to target found so far (Schmidt et al. 2021). The dashed line is the same optimizer at its
defaults, with no tuning: a flat reference. A solid line that ends well below its dashed line means tuning paid off;
a gap in a line means no trial had reached the target yet.</p>
{divs("bsf-")}
<h2>Training curves of the winners</h2>
<p class="explain">Each submission's winning setting trained again from {b.get('reruns')} seeds: the line is the mean
over seeds of the validation metric, the band one standard deviation either side. The dotted line is the target;
a run stops once it reaches it, so late parts of a curve average fewer seeds.</p>
{divs("curves-")}
<h2>Pairwise tests</h2>
<p>Wilcoxon signed-rank tests (two-sided) on the pairs of submissions' median rerun steps, paired by workload; a miss
ranks slower than any time. p (Holm) is corrected for testing every pair at once: below 0.05 is a difference
unlikely to be chance. With few workloads there are too few pairs for a test, and the note says so.</p>
{_wilcoxon_html(v)}
<p class="notes">Made by optarena ({e(str(summary.get('format', '')))}); every number is in summary.json, times.csv
and table.csv beside this page.</p>
<script type="text/javascript">
{plotly_js}
</script>
<script type="text/javascript">
{_SCRIPT % _script_json(figs)}
</script>
</body>
</html>
"""


def write_html(summary: Mapping[str, Any], path: str | Path) -> Path:
    return atomic_write(path, page(summary))


# ---------------------------------------------------------------------------------------- PNG

def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (8.0, 5.0)) -> tuple[Any, Any]:
    need("matplotlib", BENCH, "the bench report's pictures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return (n + cols - 1) // cols, cols


def write_pngs(summary: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """profile_steps.png, profile_seconds.png, best_so_far.png and curves.png in ``folder``."""
    v, out, folder = _View(summary), [], Path(folder)
    taus = _floats(summary.get("taus", []), math.nan)
    for unit in ("steps", "seconds"):
        fig, ax = _figure()
        a = ax[0, 0]
        prof = _floats(summary.get(f"profile_{unit}", []), math.nan)
        score = _floats(summary.get(f"score_{unit}", [math.nan] * len(v.names)), math.nan)
        for e, name in enumerate(v.names):
            if prof.ndim == 2:
                a.step(taus, prof[e], where="post", color=v.colour[v.group_of(e)], lw=2,
                       ls="--" if v.subs[e].get("ruleset") == "self" else "-", label=f"{name}: {_num(float(score[e]), digits=3)}")
        a.set(xlabel="tau: times slower than the fastest on a workload", ylabel="rho: share of workloads", ylim=(-0.02, 1.02),
              title=f"Performance profiles, time in {unit} (legend: AlgoPerf score)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="lower right")
        out.append(_save(fig, folder / f"profile_{unit}.png"))
    W = len(v.works)
    r, c = _grid(W)
    bsf = summary.get("best_so_far_steps")
    fig, ax = _figure(r, c, (5.0 * c, 3.6 * r))
    for k, w in enumerate(v.works):
        a = ax[k // c, k % c]
        for e, name in enumerate(v.names):
            colour = v.colour[v.group_of(e)]
            if v.subs[e].get("ruleset") == "self" or not bsf:
                y = float(v.time_steps[e, k])
                if math.isfinite(y):
                    a.axhline(y, color=colour, ls="--", lw=1.5, label=name)
            else:
                y_ = _floats(bsf[e][k])
                a.step(np.arange(1, y_.size + 1), np.where(np.isfinite(y_), y_, np.nan), where="post", color=colour,
                       marker="o", ms=3, label=name)
        if _log_axis([*v.time_steps[:, k], *(x for e in range(len(v.names)) for x in (_floats(bsf[e][k]) if bsf else []))]):
            a.set_yscale("log")
        a.set(title=str(w.get("title", w["name"])), xlabel="trials tried", ylabel="best steps to target so far")
        a.grid(alpha=0.3)
    for k in range(W, r * c):
        ax[k // c, k % c].axis("off")
    ax[0, 0].legend(fontsize=7)
    fig.suptitle("Best so far against the tuning budget (dashed: defaults, no tuning)")
    out.append(_save(fig, folder / "best_so_far.png"))
    curves = summary.get("rerun_curves")
    fig, ax = _figure(r, c, (5.0 * c, 3.6 * r))
    for k, w in enumerate(v.works):
        a = ax[k // c, k % c]
        values: list[float] = []
        for e, name in enumerate(v.names):
            if not curves:
                break
            steps, mean, sd, n = _band(curves[e][k])
            if not steps.size:
                continue
            colour = v.colour[v.group_of(e)]
            a.plot(steps, mean, color=colour, ls="--" if v.subs[e].get("ruleset") == "self" else "-", label=name)
            two = n >= 2
            a.fill_between(steps, mean - sd, mean + sd, where=two, color=colour, alpha=0.2, lw=0)
            values += [*mean[np.isfinite(mean)]]
        target = w.get("target")
        if isinstance(target, (int, float)):
            a.axhline(target, color="black", ls=":", lw=1.2, label="target")
            values.append(float(target))
        if _log_axis(values):
            a.set_yscale("log")
        a.set(title=str(w.get("title", w["name"])), xlabel="steps", ylabel=str(w.get("metric", "metric")))
        a.grid(alpha=0.3)
    for k in range(W, r * c):
        ax[k // c, k % c].axis("off")
    ax[0, 0].legend(fontsize=7)
    fig.suptitle("Training curves of the winners: mean over seeds, band one sd either side")
    out.append(_save(fig, folder / "curves.png"))
    return out


# ---------------------------------------------------------------------------------------- all of it

def write_report(summary: Mapping[str, Any], output: str | Path, formats: Iterable[str] | str = FORMATS) -> list[Path]:
    """Write the report's files into the folder ``output`` (created; each file replaced whole):
    report.html, the PNGs, summary.json (strict: inf and NaN as null), times.csv, table.csv and
    table.md (the article's table in Markdown, for a README), as ``formats`` asks; the paths written."""
    chosen = check_formats(formats)
    _View(summary)  # a summary that is not one is refused before anything is written
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: the report's output must be a folder, and this is a file", field="output")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in chosen:
        written.append(write_html(summary, folder / "report.html"))
    if "png" in chosen:
        written += write_pngs(summary, folder)
    if "json" in chosen:
        written.append(write_json(summary, folder / "summary.json"))
    if "csv" in chosen:
        written.append(write_csv(times_rows(summary), folder / "times.csv"))
        written.append(write_csv(article_rows(summary), folder / "table.csv"))
        written.append(atomic_write(folder / "table.md", article_markdown(summary)))
    return written
