"""Sweeps on Dask: a LocalCluster of worker processes gives the arrays of a sweep run here, and
listens on 127.0.0.1 only, with no dashboard."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.measure import sweep
from optarena.measure import sweeps as sweep_module
from optarena.measure.distributed import client_for, iter_units

KEYS = ("final_loss", "best_loss", "steps_to_tolerance", "diverged_at", "final_position", "basin")


# auto: NumPy for a sweep this small. [fused] only combines what [auto] (Dask's units give the
# local arrays) and tests/arena/test_fused_race.py (the compiled loop gives NumPy's numbers) cover,
# at ~40 s of compiling in each worker: slow, run in CI (CI=true) or with --runslow.
@pytest.mark.parametrize("engine", ["auto", pytest.param("fused", marks=pytest.mark.slow)])
def test_dask_sweep_equals_the_local_one(monkeypatch, engine):
    args = dict(landscape="rosenbrock", optimizers=["sgd", "adam(beta1=0.8)"], axes=["learning_rate=log(1e-4, 1, 7)"],
                starts=[[-1.5, 2.0], [0.0, 0.0]], steps=150, seeds=[0, 5], noise=0.2, engine=engine)
    here = sweep(**args)
    monkeypatch.setattr(sweep_module, "UNIT_RUNS", 4)  # many units, spread over the workers
    seen = []
    there = sweep(**args, scheduler="local:2", progress=lambda done, total: seen.append((done, total)))
    for key in KEYS:
        np.testing.assert_array_equal(getattr(here, key), getattr(there, key))
    assert there.config == here.config and here.config["engine"] == ("numpy" if engine == "auto" else "fused")
    assert seen[-1][0] == seen[-1][1] == len(seen) > 2


def test_local_cluster_listens_on_loopback_only():
    import psutil

    me = psutil.Process()
    with client_for("local:2") as client:
        info = client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        assert len(info["workers"]) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in info["workers"])
        pids = {me.pid} | {p.pid for p in me.children(recursive=True)}
        listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
        assert len(listening) >= 3  # scheduler, its HTTP routes, the workers (and their nannies)
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
        assert 8787 not in {c.laddr.port for c in listening}
        assert sorted(iter_units(abs, [-1, -2, 3], client)) == [1, 2, 3]


@pytest.mark.parametrize("scheduler,message", [
    ("local:0", r"N must be in \[1, 64\]"),
    ("cluster please", "'local:N' or an address like"),
    (42, "scheduler must be None, 'local:N'"),
])
def test_bad_schedulers_are_named(scheduler, message):
    with pytest.raises((ValueError, TypeError), match=message):
        sweep("quadratic", ["sgd"], ["learning_rate=0.1"], steps=5, scheduler=scheduler)
