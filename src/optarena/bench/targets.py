"""The targets: how good a workload's validation metric must get, set by a rerunnable procedure.

AlgoPerf's (Dahl et al. 2023, section 4): each baseline (AdamW, NAdamW, Nesterov, heavy ball) is
tuned on the workload (TRIALS Sobol points of its declared space, seed 0, the full budget, no
target), its best setting (the lowest metric reached within the first third of the budget) is
trained again from RERUNS seeds, and the baseline's value is the median over those reruns of the
best metric each reached within that third; the workload's target is the best (lowest) of the
baselines' values. The third: AlgoPerf sets a workload's budget to 3x the time its target-setting
run needs; here the budgets are fixed, so the target is what the best baseline reaches in a third. Every trial goes to
the store like the bench's own, so the procedure resumes too. ``optarena bench targets --output
FILE`` writes the result with how, when and on what it was made; the shipped ``targets.json`` was
made so, and the README gives the command.
"""

from __future__ import annotations

import datetime
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .. import __version__
from ..errors import UsageError
from .runner import machine, run_trials, trial_config
from .spaces import Submission, submissions
from .store import Store, versions
from .workloads import Curve, Workload

FORMAT = "optarena.bench-targets/1"
BASELINES = ("adamw", "nadamw", "nesterov", "momentum")  # momentum: heavy ball
TRIALS = 5
RERUNS = 3
SEED0 = 2000  # the reruns' seeds: apart from the bench's


#: The share of the budget within which the target-setting runs' best metric counts (AlgoPerf: 1/3).
WITHIN = 1 / 3


def _best_metric(result: Mapping[str, Any], budget: int) -> float:
    """The lowest metric a trial reached at an evaluation within WITHIN of ``budget`` steps."""
    if not result.get("curve"):
        return math.inf
    c = Curve.from_json(result["curve"])
    m = c.metric[(c.steps <= WITHIN * budget) & np.isfinite(c.metric)]
    return float(m.min()) if m.size else math.inf


def _configs(w: Workload, s: Submission, trials: int) -> list[dict[str, Any]]:
    return [trial_config(w, s, "targets", hp, 0, None, 0, j) for j, hp in enumerate(s.points(trials))]


def make(store: Store, ws: Sequence[Workload], *, trials: int = TRIALS, reruns: int = RERUNS,
         baselines: Sequence[str] = BASELINES, processes: int = 0, scheduler: Any = None,
         progress: Callable[[Mapping[str, Any], dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the procedure on ``ws`` (trials committed to ``store``); the targets file's content."""
    if not 1 <= trials <= 64 or not 1 <= reruns <= 50:
        raise UsageError(f"trials must be in [1, 64] and reruns in [1, 50], got {trials} and {reruns}", field="trials")
    subs = submissions(list(baselines))
    tune = [c for w in ws for s in subs for c in _configs(w, s, trials)]
    run_trials(store, tune, processes=processes, scheduler=scheduler, progress=progress)
    again = []
    for w in ws:
        for s in subs:
            configs = _configs(w, s, trials)
            results = [store.get(Store.key(c))["result"] for c in configs]  # type: ignore[index]
            best = min(range(len(configs)), key=lambda i: (_best_metric(results[i], w.budget), i))
            again += [trial_config(w, s, "targets-rerun", configs[best]["hyperparameters"], SEED0 + k, None, -1, k)
                      for k in range(reruns)]
    run_trials(store, again, processes=processes, scheduler=scheduler, progress=progress)
    out: dict[str, Any] = {}
    for w in ws:
        values = {}
        for s in subs:
            mine = [c for c in again if c["workload"] == w.name and c["submission"] == s.name]
            reached = [_best_metric(store.get(Store.key(c))["result"], w.budget) for c in mine]  # type: ignore[index]
            values[s.name] = {"hyperparameters": mine[0]["hyperparameters"], "median_best_metric": float(np.median(reached)),
                              "best_metric_per_seed": reached}
        winner = min(values, key=lambda n: values[n]["median_best_metric"])
        out[w.name] = {"target": values[winner]["median_best_metric"], "metric": w.metric, "set_by": winner,
                       "baselines": values}
    return {"format": FORMAT, "how": __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
            "trials": trials, "reruns": reruns, "baselines": list(baselines), "within_budget_share": WITHIN,
            "made": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "optarena": __version__, "versions": versions(), "machine": machine(), "workloads": out}


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def write(content: Mapping[str, Any], path: str | Path) -> Path:
    """``content`` as strict JSON (no target reached: null) at ``path``, written atomically."""
    from .._files import atomic_write

    p = Path(path)
    atomic_write(p, json.dumps(_json_safe(dict(content)), indent=1, allow_nan=False) + "\n")
    return p


def load(path: str | Path | None = None) -> dict[str, float]:
    """workload -> target, from a targets file (default: the shipped ``targets.json``); a workload
    it lacks (or a null target) is absent: the caller falls back to the workload's default_target."""
    try:
        text = (resources.files(__package__).joinpath("targets.json").read_text() if path is None
                else Path(path).read_text())
    except (OSError, FileNotFoundError):
        if path is None:
            return {}
        raise UsageError(f"--targets {path}: cannot be read", field="targets") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"targets file {path or 'targets.json'}: not JSON ({exc.msg})", field="targets") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"targets file {path or 'targets.json'}: not an {FORMAT} file", field="targets")
    return {name: float(v["target"]) for name, v in data.get("workloads", {}).items()
            if isinstance(v, dict) and isinstance(v.get("target"), (int, float))}


def targets_for(ws: Sequence[Workload], path: str | Path | None = None) -> dict[str, float]:
    """Each workload's target: the targets file's, else its provisional default_target."""
    known = load(path)
    return {w.name: known.get(w.name, w.default_target) for w in ws}
