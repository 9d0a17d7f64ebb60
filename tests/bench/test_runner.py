"""``optarena bench run``: AlgoPerf's rulesets planned as stated, a bench killed with SIGKILL resumes
without losing or rerunning a finished trial and ends with the summary of a run never killed,
trials on Dask equal trials here, and bad input is refused before any work (issue 16)."""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from optarena.bench import runner, spaces, workloads
from optarena.bench.store import Store
from optarena.cli import main

SMALL = ["--workload", "breast-cancer-logreg", "--workload", "deep-linear", "--optimizer", "sgd", "--optimizer", "adam",
         "--quick", "--quiet"]


def _rows(path: Path) -> dict[str, tuple[str, float]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return {k: (r, c) for k, r, c in con.execute("SELECT key, result, created FROM trials")}


def _steps_only(summary: dict) -> dict:
    """What a rerun must reproduce exactly: everything measured in steps (seconds are this machine's)."""
    keep = ("time_steps", "rerun_steps", "best_so_far_steps", "reached_share", "best_hyperparameters", "score_steps",
            "profile_steps", "score_interval_steps", "wilcoxon_steps")
    return json.loads(json.dumps({k: summary[k] for k in keep if k in summary}))


def test_the_plan_follows_the_rulesets():
    ws = [workloads.get("deep-linear")]
    subs = spaces.submissions(["adam"])
    b = runner.Budget(3, 5, 10)
    configs = runner.tuning_trials(ws, subs, {"deep-linear": 0.5}, b)
    ext = [c for c in configs if c["ruleset"] == "external"]
    own = [c for c in configs if c["ruleset"] == "self"]
    assert len(ext) == 15 and len(own) == 3  # 3 studies x 5 Sobol points; self-tuning: one trial a study
    assert [c["seed"] for c in ext] == [i for i in range(3) for _ in range(5)]  # study i trains from seed i
    assert len({json.dumps(c["hyperparameters"], sort_keys=True) for c in ext}) == 15  # 15 distinct points
    w = ws[0]
    assert all(c["budget"] == w.budget for c in ext) and all(c["budget"] == round(1.5 * w.budget) for c in own)
    assert all(c["hyperparameters"] == {} for c in own)  # the optimizer's defaults
    lr = [c["hyperparameters"]["learning_rate"] for c in ext]
    assert 1e-4 <= min(lr) and max(lr) <= 1e-1  # inside the declared space
    # the same points on every workload (AlgoPerf: one space per submission, not per workload)
    other = runner.tuning_trials([workloads.get("rosenbrock-noisy")], subs, {"rosenbrock-noisy": 1.0}, b)
    assert [c["hyperparameters"] for c in other[:15]] == [c["hyperparameters"] for c in ext]


@pytest.mark.slow
def test_a_bench_killed_with_sigkill_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    killed, clean = tmp_path / "killed.sqlite", tmp_path / "clean.sqlite"
    cmd = [sys.executable, "-m", "optarena", "bench", "run", *SMALL]
    proc = subprocess.Popen([*cmd, "--store", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    before: dict[str, tuple[str, float]] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if killed.exists():
            try:
                before = _rows(killed)
            except sqlite3.Error:
                continue
            if len(before) >= 8:
                break
    assert proc.poll() is None, "the bench ended before it could be killed: give it more work"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _rows(killed)  # what was committed when it died
    assert 8 <= len(before) < 60  # killed mid-run (2 x 2 x (6 + 3) + 2 x 2 x 2 x 3 = 60 trials in all)
    assert subprocess.run([*cmd, "--store", str(killed)], capture_output=True, timeout=300).returncode == 0
    after = _rows(killed)
    assert len(after) == 60
    assert all(after[k] == v for k, v in before.items())  # nothing lost, nothing run again (same result, same time)
    assert subprocess.run([*cmd, "--store", str(clean)], capture_output=True, timeout=300).returncode == 0
    ws = [workloads.get("breast-cancer-logreg"), workloads.get("deep-linear")]
    subs = spaces.submissions(["sgd", "adam"])
    from optarena.bench.targets import targets_for

    goal = targets_for(ws)
    with Store(killed, create=False) as a, Store(clean, create=False) as b:
        sa = runner.summarise(a, ws, subs, goal, runner.QUICK)
        sb = runner.summarise(b, ws, subs, goal, runner.QUICK)
    assert _steps_only(sa) == _steps_only(sb)
    assert set(_rows(killed)) == set(_rows(clean))  # the same trials, by their full configurations
    report = tmp_path / "report"
    assert main(["bench", "report", "--store", str(killed), "--output", str(report), *SMALL[:-1]]) == 0
    assert {"report.html", "summary.json", "times.csv", "profile_steps.png"} <= {p.name for p in report.iterdir()}
    assert main(["bench", "report", "--store", str(tmp_path / "none.sqlite"), "--output", str(report), *SMALL[:-1]]) == 2


@pytest.mark.slow
def test_trials_on_dask_equal_trials_here(tmp_path):
    ws = [workloads.get("breast-cancer-logreg"), workloads.get("deep-linear")]
    subs = spaces.submissions(["adam"])
    configs = runner.tuning_trials(ws, subs, {w.name: w.default_target for w in ws}, runner.Budget(1, 2, 0))
    with Store(tmp_path / "here.sqlite") as here, Store(tmp_path / "dask.sqlite") as there:
        assert runner.run_trials(here, configs) == len(configs)
        assert runner.run_trials(there, configs, scheduler="local:2") == len(configs)
        for c in configs:
            a, b = here.get(Store.key(c))["result"], there.get(Store.key(c))["result"]
            assert a["status"] == b["status"] and a["steps_to_target"] == b["steps_to_target"]
            ca, cb = workloads.Curve.from_json(a["curve"]), workloads.Curve.from_json(b["curve"])
            assert ca.same(cb)  # bit for bit but the seconds


def test_a_trial_that_raises_is_recorded_as_an_error_not_retried(tmp_path):
    w = workloads.get("breast-cancer-logreg")
    s = spaces.submissions(["newton"])[0]  # needs a Hessian: a network refuses it
    config = runner.trial_config(w, s, "self", {}, 0, 0.5, 0, 0)
    with Store(tmp_path / "s.sqlite") as store:
        assert runner.run_trials(store, [config]) == 1
        result = store.get(Store.key(config))["result"]
        assert result["status"] == "error" and "network" in result["error"] and math.isinf(result["steps_to_target"])
        assert runner.run_trials(store, [config]) == 0  # recorded: never run again


def test_bad_input_is_refused_before_any_work(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["bench", "run", "--store", str(store), "--workload", "nope", "--quiet"]) == 2
    assert "workload" in capsys.readouterr().err
    assert main(["bench", "run", "--store", str(store), "--optimizer", "nope", "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"format": spaces.FORMAT, "submissions": {
        "mine": {"optimizer": "adam", "space": {"learning_rte": {"lo": 1e-4, "hi": 1e-1, "log": True}}}}}))
    assert main(["bench", "run", "--store", str(store), "--space", str(space), "--optimizer", "mine", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "learning_rte" in err and "has no hyperparameter" in err
    space.write_text(json.dumps({"format": spaces.FORMAT, "submissions": {
        "mine": {"optimizer": "adam", "space": {"learning_rate": {"lo": -1.0, "hi": 1e-1}}}}}))
    assert main(["bench", "run", "--store", str(store), "--space", str(space), "--optimizer", "mine", "--quiet"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not store.exists()  # refused before the store was even made
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a store at all" * 100)
    digest = bad.read_bytes()
    assert main(["bench", "run", "--store", str(bad), *SMALL]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert bad.read_bytes() == digest  # never replaced


def test_sobol_points_are_the_scipy_sequence_mapped_to_the_space():
    from scipy.stats import qmc

    s = spaces.submissions(["adam"])[0]
    u = qmc.Sobol(d=2, scramble=True, seed=spaces.SOBOL_SEED).random_base2(4)[:5]
    pts = s.points(5)
    lr = np.exp(np.log(1e-4) + u[:, 0] * (np.log(1e-1) - np.log(1e-4)))
    beta1 = 1 - np.exp(np.log(0.02) + u[:, 1] * (np.log(0.3) - np.log(0.02)))
    np.testing.assert_allclose([p["learning_rate"] for p in pts], lr, rtol=1e-12)
    np.testing.assert_allclose([p["beta1"] for p in pts], beta1, rtol=1e-12)
