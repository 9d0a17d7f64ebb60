"""The bench's trials: planned, run (here, in a process pool or on Dask), committed, summarised.

AlgoPerf's method (Dahl et al. 2023), on this laptop's workloads:

* **External tuning**: each submission declares a search space (``spaces``); the first
  STUDIES x TRIALS scrambled Sobol points are split into STUDIES studies of TRIALS trials (study i
  trains from seed i). A workload's time is the median over studies of the study's fastest trial
  to the target (``scores.workload_time``); a trial that misses it takes infinity.
* **Self-tuning**: the submission's fixed values over the optimizer's defaults, no tuning, SELF_FACTOR
  x the budget, one trial a study.
* **Reruns**: each submission's best setting per workload (external: its fastest trial over all
  studies, ties to the lower final metric; self: its defaults) trained again from RERUNS seeds
  (RERUN_SEED0 on): the seeds the intervals and the pairwise tests are made of.

Every finished trial is committed to the ``Store`` at once, keyed by a hash of its full
configuration and the versions: a bench killed at any point resumes where it stopped, never running
a finished trial again (``run_trials`` skips what the store holds), and a run's summary is read
from the store alone, so it equals an uninterrupted run's. A trial that diverges or raises is
recorded as such (status "diverged" / "error"), never retried.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import OptarenaError, UsageError
from . import scores
from .spaces import Submission
from .store import Store
from .workloads import WORKLOADS, Curve, Workload, get

RULESETS = ("external", "self")
SELF_FACTOR = 1.5
RERUN_SEED0 = 1000
FORMAT = "optarena.bench-summary/1"


@dataclass(frozen=True)
class Budget:
    """How much tuning and rerunning a bench does."""

    studies: int = 3
    trials: int = 5
    reruns: int = 10

    def to_json(self) -> dict[str, int]:
        return {"studies": self.studies, "trials": self.trials, "reruns": self.reruns}


#: AlgoPerf's external tuning (3 studies x 5 trials) and DeepOBS's 10 seeds for the winner.
FULL = Budget(3, 5, 10)
#: ``--quick``: 3 studies x 2 trials, 3 seeds a winner (minutes on 2 cores).
QUICK = Budget(3, 2, 3)


def machine() -> dict[str, Any]:
    """What the seconds were measured on."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version()}


def trial_config(w: Workload, s: Submission, ruleset: str, hp: Mapping[str, Any], seed: int, target: float | None,
                 study: int, trial: int) -> dict[str, Any]:
    """One trial's full configuration (the store's key is made of it); ``target`` None: the full budget."""
    budget = w.budget if ruleset in ("external", "rerun-external") else int(round(SELF_FACTOR * w.budget))
    return {"workload": w.name, "submission": s.name, "optimizer": s.optimizer, "hyperparameters": dict(hp),
            "seed": int(seed), "budget": budget, "target": None if target is None else float(target), "ruleset": ruleset,
            "study": int(study), "trial": int(trial)}


def tuning_trials(ws: Sequence[Workload], subs: Sequence[Submission], targets: Mapping[str, float], budget: Budget,
                  rulesets: Sequence[str] = RULESETS) -> list[dict[str, Any]]:
    """Phase 1: every study's trials, workload by workload."""
    out = []
    for w in ws:
        for s in subs:
            if "external" in rulesets:
                points = s.points(budget.studies * budget.trials)
                out += [trial_config(w, s, "external", points[i * budget.trials + j], i, targets[w.name], i, j)
                        for i in range(budget.studies) for j in range(budget.trials)]
            if "self" in rulesets:
                out += [trial_config(w, s, "self", s.defaults(), i, targets[w.name], i, 0) for i in range(budget.studies)]
    return out


def run_trial(config: Mapping[str, Any]) -> dict[str, Any]:
    """Train one trial; its result (status ok / diverged / error, the curve, time to target in steps
    and seconds, the machine). Module-level and pure in its inputs: a pool or Dask worker runs it."""
    w = get(config["workload"])
    try:
        curve = w.run(config["optimizer"], config["hyperparameters"], config["seed"], budget=config["budget"],
                      target=config["target"])
    except OptarenaError as exc:  # a setting this workload refuses (e.g. a rule that cannot train a network)
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "curve": None,
                "steps_to_target": math.inf, "seconds_to_target": math.inf, "machine": machine()}
    except Exception as exc:  # a trial that raises is recorded as such, never retried forever
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "curve": None,
                "steps_to_target": math.inf, "seconds_to_target": math.inf, "machine": machine()}
    # after a divergence the curve's seconds are NaN: carried forward (no evaluation there reaches the target)
    secs = np.maximum.accumulate(np.where(np.isfinite(curve.seconds), curve.seconds, 0.0))
    steps, seconds = ((math.inf, math.inf) if config["target"] is None
                      else scores.time_to_target(curve.steps, curve.metric, secs, config["target"]))
    status = "diverged" if curve.diverged_at >= 0 and math.isinf(steps) else "ok"
    return {"status": status, "error": None, "curve": curve.to_json(), "steps_to_target": steps,
            "seconds_to_target": seconds, "machine": machine()}


def _pair(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, Any]]:
    return config, run_trial(config)


def _pool_units(configs: Sequence[Mapping[str, Any]], processes: int) -> Iterable[tuple[Mapping[str, Any], dict[str, Any]]]:
    """``_pair`` of every config on ``processes`` spawned processes, as each finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_pair, c) for c in configs]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def run_trials(store: Store, configs: Sequence[Mapping[str, Any]], *, processes: int = 0, scheduler: Any = None,
               progress: Callable[[Mapping[str, Any], dict[str, Any]], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> int:
    """Run the configs the store does not hold yet, committing each as it finishes (here, on
    ``processes`` spawned processes, or on Dask at ``scheduler``); the number run. Ctrl-C or
    ``should_stop`` stops between trials with everything finished committed."""
    todo = [c for c in configs if not store.has(Store.key(c))]
    if not todo:
        return 0
    if scheduler is not None:
        from ..measure.distributed import iter_units

        units: Iterable[tuple[Mapping[str, Any], dict[str, Any]]] = iter_units(_pair, todo, scheduler, should_stop)
    elif processes > 1:
        units = _pool_units(todo, processes)
    else:
        from ..measure.distributed import iter_units

        units = iter_units(_pair, todo, None, should_stop)
    done = 0
    for config, result in units:
        store.put(Store.key(config), dict(config), result)
        done += 1
        if progress is not None:
            progress(config, result)
    return done


def _results(store: Store, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in configs:
        rec = store.get(Store.key(c))
        if rec is None:
            raise UsageError(f"the store {store.path} lacks a trial of this bench ({c['workload']}, {c['submission']}, "
                             f"{c['ruleset']}); run `optarena bench run` to finish it", field="store")
        out.append(rec["result"])
    return out


def _final_metric(result: Mapping[str, Any]) -> float:
    if not result.get("curve"):
        return math.inf
    metric = Curve.from_json(result["curve"]).metric
    finite = metric[np.isfinite(metric)]
    return float(finite[-1]) if finite.size else math.inf


def rerun_trials(store: Store, ws: Sequence[Workload], subs: Sequence[Submission], targets: Mapping[str, float],
                 budget: Budget, rulesets: Sequence[str] = RULESETS) -> list[dict[str, Any]]:
    """Phase 2 (after phase 1 is in the store): each submission's best setting per workload and ruleset,
    from RERUNS seeds."""
    out = []
    for w in ws:
        for s in subs:
            for r in rulesets:
                configs = tuning_trials([w], [s], targets, budget, [r])
                results = _results(store, configs)
                # the fastest trial; among equals (all missed, say) the one that ended lowest
                best = min(range(len(configs)), key=lambda i: (results[i]["steps_to_target"], _final_metric(results[i]), i))
                hp = configs[best]["hyperparameters"]
                out += [trial_config(w, s, f"rerun-{r}", hp, RERUN_SEED0 + k, targets[w.name], -1, k)
                        for k in range(budget.reruns)]
    return out


def summarise(store: Store, ws: Sequence[Workload], subs: Sequence[Submission], targets: Mapping[str, float],
              budget: Budget, rulesets: Sequence[str] = RULESETS, quick: bool = False) -> dict[str, Any]:
    """Everything the report shows, from the store alone (JSON-able; infinities as inf floats)."""
    entries = [(s, r) for s in subs for r in rulesets]
    S, W = len(entries), len(ws)
    time_steps, time_seconds = np.full((S, W), np.inf), np.full((S, W), np.inf)
    rerun_steps, rerun_seconds = np.full((S, W, budget.reruns), np.inf), np.full((S, W, budget.reruns), np.inf)
    best_so_far: list[list[list[float]]] = []
    reached_share = np.zeros((S, W))
    best_hp: list[list[dict[str, Any]]] = []
    curves: list[list[list[dict[str, Any] | None]]] = []
    step_seconds = np.full((S, W), np.nan)
    reruns = rerun_trials(store, ws, subs, targets, budget, rulesets)
    for e, (s, r) in enumerate(entries):
        best_so_far.append([])
        best_hp.append([])
        curves.append([])
        for k, w in enumerate(ws):
            configs = tuning_trials([w], [s], targets, budget, [r])
            results = _results(store, configs)
            per = budget.trials if r == "external" else 1
            steps = np.array([x["steps_to_target"] for x in results], dtype=float).reshape(budget.studies, per)
            secs = np.array([x["seconds_to_target"] for x in results], dtype=float).reshape(budget.studies, per)
            time_steps[e, k] = scores.workload_time(steps)
            time_seconds[e, k] = scores.workload_time(secs)
            best_so_far[-1].append(scores.best_so_far(steps.ravel()).tolist())
            reached_share[e, k] = float(np.mean(np.isfinite(steps)))
            mine = [c for c in reruns if c["workload"] == w.name and c["submission"] == s.name and c["ruleset"] == f"rerun-{r}"]
            again = _results(store, mine)
            rerun_steps[e, k] = [x["steps_to_target"] for x in again]
            rerun_seconds[e, k] = [x["seconds_to_target"] for x in again]
            best_hp[-1].append(mine[0]["hyperparameters"] if mine else {})
            curves[-1].append([x["curve"] for x in again])
            rates = [c.seconds[-1] / c.steps[-1] for c in (Curve.from_json(x["curve"]) for x in again if x["curve"])
                     if c.steps[-1] > 0 and np.isfinite(c.seconds[-1])]
            step_seconds[e, k] = float(np.median(rates)) if rates else math.nan
    names = [f"{s.name} ({r})" for s, r in entries]
    taus = np.linspace(1.0, scores.TAU_MAX, 61)
    med_steps = np.median(rerun_steps, axis=2) if budget.reruns else time_steps
    import datetime

    from .store import versions

    out: dict[str, Any] = {
        "format": FORMAT, "quick": quick, "budget": budget.to_json(), "machine": machine(), "store": str(store.path),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "versions": versions(),
        "workloads": [{**w.to_json(), "target": targets[w.name]} for w in ws],
        "submissions": [{"name": n, "submission": s.name, "optimizer": s.optimizer, "ruleset": r, "space": s.to_json()}
                        for n, (s, r) in zip(names, entries)],
        "time_steps": time_steps.tolist(), "time_seconds": time_seconds.tolist(),
        "rerun_steps": rerun_steps.tolist(), "rerun_seconds": rerun_seconds.tolist(),
        "best_so_far_steps": best_so_far, "reached_share": reached_share.tolist(), "best_hyperparameters": best_hp,
        "rerun_curves": curves, "seconds_per_step": step_seconds.tolist(),
        "taus": taus.tolist(),
        "profile_steps": scores.performance_profile(time_steps, taus).tolist(),
        "profile_seconds": scores.performance_profile(time_seconds, taus).tolist(),
        "score_steps": scores.algoperf_score(time_steps).tolist(),
        "score_seconds": scores.algoperf_score(time_seconds).tolist(),
    }
    if budget.reruns >= 1:  # the score again, of the reruns' median times: what the intervals below are about
        out["score_reruns_steps"] = scores.algoperf_score(np.median(rerun_steps, axis=2)).tolist()
        out["score_reruns_seconds"] = scores.algoperf_score(np.median(rerun_seconds, axis=2)).tolist()
    if budget.reruns >= 2:
        out["score_interval_steps"] = scores.score_interval(rerun_steps).tolist()
        out["score_interval_seconds"] = scores.score_interval(rerun_seconds).tolist()
        out["time_interval_steps"] = [[list(scores.bootstrap_interval(rerun_steps[e, k])) for k in range(W)] for e in range(S)]
        out["wilcoxon_steps"] = scores.wilcoxon_pairs(med_steps, names)
    return out


def default_workloads() -> list[Workload]:
    return list(WORKLOADS)
