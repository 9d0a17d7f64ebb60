"""The compiled race loop gives the NumPy engine's numbers, for every optimizer and option."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from optarena import landscapes
from optarena.arena import Racer, race
from optarena.errors import EngineUnavailable
from optarena.optim import registry

from cases import CASES, case_id

pytest.importorskip("numba")

#: the cases whose rule has a fused cell (the compiled loop steps those; Adafactor's is not per element)
# a rule with a cell that answers another point than it differentiates at (Schedule-Free) races on
# NumPy (tests/optim/test_schedule_free_faces.py)
FUSED_CASES = [c for c in CASES if registry.get(c[0]).cell is not None and registry.get(c[0]).eval_point is None]

STARTS = [(-1.0, 2.0), (0.5, -0.5), (2.0, 1.0)]
FIELDS = ("positions", "losses", "grad_norms", "step_sizes", "best_loss", "steps_to_tolerance", "diverged_at")


def _same(a, b, rtol=1e-12):
    for key in FIELDS:
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=rtol, atol=1e-12, equal_nan=True, err_msg=key)
    assert (a.stop_reason == b.stop_reason).all()


@pytest.mark.parametrize("case", FUSED_CASES, ids=case_id)
def test_fused_equals_numpy(case):
    name, hp = case
    racers = [Racer(name, hp), Racer(name, hp, schedule={"name": "cosine", "t_max": 30}, label="scheduled")]
    kw = dict(landscape="booth", racers=racers, starts=STARTS, steps=30, noise=0.3, seed=4)
    _same(race(**kw, engine="fused"), race(**kw, engine="numpy"))


@pytest.mark.parametrize("landscape", [n for n in landscapes.names()])
def test_every_landscape_compiles_and_agrees(landscape):
    ls = landscapes.get(landscape)
    kw = dict(landscape=ls, racers=["adam(learning_rate=0.01)"], steps=20, clip=5.0)
    _same(race(**kw, engine="fused"), race(**kw, engine="numpy"), rtol=1e-10)


def test_divergence_and_summary_only_mode_agree():
    kw = dict(landscape="rosenbrock", racers=["sgd(learning_rate=10)", "adam(learning_rate=0.05)"], steps=200)
    _same(race(**kw, engine="fused"), race(**kw, engine="numpy"))
    a = race(**kw, engine="fused", record=False)
    b = race(**kw, engine="numpy", record=False)
    _same(a, b)
    assert a.positions.shape == (2, 1, 1, 2)


def test_a_rule_without_a_cell_is_refused_by_the_fused_engine_and_raced_by_auto():
    """Adafactor has no cell: engine="fused" says so (EngineUnavailable, naming it); "auto" races
    it on NumPy, the same numbers as engine="numpy"."""
    kw = dict(landscape="booth", racers=[Racer("adafactor", {"learning_rate": 0.3}), "adam(learning_rate=0.1)"],
              starts=STARTS, steps=30)
    with pytest.raises(EngineUnavailable, match="optimizer 'adafactor' has no fused cell"):
        race(**kw, engine="fused")
    _same(race(**kw, engine="auto"), race(**kw, engine="numpy"), rtol=0)


def test_fused_refuses_what_it_cannot_run():
    from article_classes import ArticleSGD

    with pytest.raises(ValueError, match="custom optimizer objects"):
        race("booth", [ArticleSGD()], engine="fused")
    res = race("booth", [ArticleSGD()], engine="auto")  # auto falls back to NumPy
    assert res.diverged_at[0, 0] == -1


def _neighbour_cases():
    for case in CASES + [("sgd", {"learning_rate": 0.001, "dampening": 0.5})]:
        for engine in ("numpy", "fused"):
            if engine == "numpy" or case in FUSED_CASES:
                yield pytest.param(case, engine, id=f"{case_id(case)}-{engine}")


@pytest.mark.parametrize("case,engine", list(_neighbour_cases()))
def test_a_racer_does_not_depend_on_its_neighbours(case, engine):
    """Racers of one optimizer step as one batch; each must still follow its own settings alone
    (an SGD with momentum 0 and dampening once took the dampening from a momentum neighbour)."""
    name, hp = case
    me = Racer(name, hp)
    neighbour = Racer(name, {"learning_rate": 0.003, **({"momentum": 0.9} if name == "sgd" else {})})
    # on Booth, as test_fused_equals_numpy: the fused engine steps on the loops that test compiled (one per
    # rule, ~2 s each) instead of compiling each rule's loop again on another landscape
    kw = dict(landscape="booth", starts=[(-1.2, 1.0)], steps=40, engine=engine)
    together = race(racers=[me, neighbour], **kw)
    alone = race(racers=[me], **kw)
    np.testing.assert_array_equal(together.positions[0], alone.positions[0])


def test_compiled_landscapes_are_cached_by_code_not_by_name():
    """An object that shares a built-in's name gets its own compiled loop (the cache was keyed by
    name: it raced the built-in's function); a built-in made again reuses its kernels."""
    import dataclasses

    from optarena import landscapes
    from optarena.arena import fused

    q = landscapes.get("quadratic")
    race(q, ["sgd(learning_rate=0.1)"], steps=50, engine="fused")
    moved = dataclasses.replace(q, f=lambda x, y: (x - 1) ** 2 + (y - 1) ** 2,
                                grad=lambda x, y: (2 * (x - 1), 2 * (y - 1)), minima=((1.0, 1.0),))
    res = race(moved, ["sgd(learning_rate=0.1)"], steps=200, engine="fused")
    np.testing.assert_allclose(res.positions[0, 0, -1], [1.0, 1.0], atol=1e-8)
    a = landscapes.get("ill_conditioned", kappa=20.0, theta=10.0)
    b = landscapes.get("ill_conditioned", kappa=20.0, theta=10.0)
    assert fused.landscape_key(a) == fused.landscape_key(b)
    assert fused.landscape_key(a) != fused.landscape_key(landscapes.get("ill_conditioned", kappa=20.0, theta=11.0))


def test_a_second_process_loads_the_compiled_race_loop_from_disk(tmp_path):
    # Issue 11 item 8: every new process recompiled (11.3 s for the README's basin sweep, each time).
    import json
    import os
    import subprocess
    import sys

    script = """
import json, logging, sys
import sys

import numpy as np
from optarena.arena import race, fused
records = []
logging.getLogger("optarena").addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r.getMessage())})())
logging.getLogger("optarena").setLevel(logging.INFO)
res = race("himmelblau", ["adam(learning_rate=0.05)"], starts=np.random.default_rng(1).uniform(-4, 4, (40, 2)),
           steps=300, engine="fused")
(kernel,) = fused._KERNELS.values()
print(json.dumps({"hits": sum(kernel.stats.cache_hits.values()), "misses": sum(kernel.stats.cache_misses.values()),
                  "said": records, "final": res.positions[:, :, -1].tolist()}))
"""
    env = {**os.environ, "OPTARENA_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                      check=True, timeout=600).stdout) for _ in range(2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0 and runs[0]["said"][0].startswith("compiling the race loop")
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 0 and runs[1]["said"][0].startswith("loading the race loop")
    assert runs[0]["final"] == runs[1]["final"]  # the same machine code, the same numbers
    assert len(list(tmp_path.glob("kernels-*/race_*.py"))) == 1


def test_an_empty_cache_dir_compiles_in_memory_with_the_same_numbers(monkeypatch):
    from optarena.arena import fused

    landscape = {"name": "ill_conditioned", "params": {"kappa": 3}}
    cached = race(landscape, ["rmsprop"], starts=[(1.0, 1.0), (-2.0, 0.5)], steps=30, engine="fused")
    monkeypatch.setenv("OPTARENA_CACHE_DIR", "")
    assert fused.cache_dir() is None
    monkeypatch.setattr(fused, "_KERNELS", {})  # compile again, in memory this time
    fresh = race(landscape, ["rmsprop"], starts=[(1.0, 1.0), (-2.0, 0.5)], steps=30, engine="fused")
    np.testing.assert_array_equal(cached.positions, fresh.positions)
    (kernel,) = fused._KERNELS.values()
    assert kernel.py_func.__module__ is None or not kernel.py_func.__module__.startswith("optarena_race_")


def test_a_cache_entry_that_cannot_be_loaded_is_compiled_afresh(tmp_path, monkeypatch):
    # An earlier build left ~/.cache entries that numba could not load ('<dynamic>' module): every
    # race that met them failed. A broken entry must cost a compile, never the race.
    from optarena.arena import fused

    monkeypatch.setenv("OPTARENA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "_KERNELS", {})
    starts = [(1.0, 1.0), (-2.0, 0.5)]
    good = race("booth", ["adagrad"], starts=starts, steps=25, engine="fused")
    (index,) = tmp_path.glob("kernels-*/__pycache__/race_*.nbi")
    (data,) = tmp_path.glob("kernels-*/__pycache__/race_*.nbc")
    data.write_bytes(data.read_bytes()[:100])  # cut: unpickling it fails
    monkeypatch.setattr(fused, "_KERNELS", {})
    for mod in [m for m in sys.modules if m.startswith("optarena_race_")]:
        monkeypatch.delitem(sys.modules, mod)
    again = race("booth", ["adagrad"], starts=starts, steps=25, engine="fused")
    np.testing.assert_array_equal(good.positions, again.positions)


def test_past_the_kernel_budget_races_run_on_numpy_with_the_same_numbers(monkeypatch):
    # Each compiled loop keeps ~8 MB for good: a server raced with ever new pairs would grow without
    # end. Past its budget it stops compiling (a new kappa is not a new loop: test_kernel_cache.py).
    from optarena.arena import fused

    monkeypatch.setattr(fused, "_KERNELS", {})
    monkeypatch.setenv("OPTARENA_KERNEL_BUDGET", "1")
    first = race({"name": "ill_conditioned", "params": {"kappa": 4}}, ["adam"], starts=[(1, 1)], steps=20, engine="fused")
    with pytest.raises(ValueError, match="budget of 1 race loops"):
        race("booth", ["adam"], starts=[(1, 1)], steps=20, engine="fused")
    big = race("booth", ["adam"], starts=np.zeros((1000, 2)) + 1,
               steps=2500, record=False)  # work enough that "auto" would compile: NumPy instead
    assert len(fused._KERNELS) == 1
    again = race({"name": "ill_conditioned", "params": {"kappa": 4}}, ["adam"], starts=[(1, 1)], steps=20, engine="fused")
    np.testing.assert_array_equal(first.positions, again.positions)  # the one it has still runs
    numpy = race("booth", ["adam"], starts=[(1, 1)], steps=2500, engine="numpy", record=False)
    np.testing.assert_array_equal(big.best_loss[:, :1], numpy.best_loss)
