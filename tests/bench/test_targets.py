"""The targets procedure (AlgoPerf's, section 4): each baseline tuned, its best setting rerun from
seeds, the workload's target the best of the baselines' medians of the best metric reached within a
third of the budget; written with how it was made and read back (issue 16, item 2)."""

from __future__ import annotations

import json
import math

import numpy as np

from optarena.bench import targets, workloads
from optarena.bench.store import Store


def test_the_target_is_the_best_baselines_median_within_a_third_of_the_budget(tmp_path):
    w = workloads.get("deep-linear")
    with Store(tmp_path / "t.sqlite") as store:
        content = targets.make(store, [w], trials=2, reruns=3, baselines=("momentum", "adamw"))
        records = list(store.records())
    assert len(records) == 2 * 2 + 2 * 3  # 2 baselines x (2 tuning trials + 3 reruns)
    third = w.budget / 3
    medians = {}
    for b in ("momentum", "adamw"):  # recomputed from the store's curves, apart from targets.py
        reruns = [r for r in records if r["config"]["submission"] == b and r["config"]["ruleset"] == "targets-rerun"]
        assert sorted(r["config"]["seed"] for r in reruns) == [targets.SEED0 + k for k in range(3)]
        best = []
        for r in reruns:
            c = r["result"]["curve"]
            steps = np.array(c["steps"], dtype=float)
            metric = np.array([float(v) for v in c["metric"]], dtype=float)
            ok = (steps <= third) & np.isfinite(metric)
            best.append(metric[ok].min() if ok.any() else math.inf)
        medians[b] = float(np.median(best))
    entry = content["workloads"]["deep-linear"]
    assert entry["target"] == min(medians.values())
    assert entry["set_by"] == min(medians, key=medians.get)
    path = targets.write(content, tmp_path / "targets.json")
    data = json.loads(path.read_text())  # strict JSON, with how, when and on what
    assert data["format"] == targets.FORMAT and data["made"] and data["machine"]["cores"] and "third" in data["how"]
    assert targets.load(path) == {"deep-linear": entry["target"]}
    assert targets.targets_for([w, workloads.get("digits-mlp")], path)["digits-mlp"] == workloads.get("digits-mlp").default_target


def test_the_shipped_targets_cover_every_workload():
    shipped = targets.load()
    assert set(shipped) == set(workloads.names())
    assert all(math.isfinite(v) and v >= 0 for v in shipped.values())
