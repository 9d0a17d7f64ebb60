"""What the compiled race loops are kept under, and how many: a landscape's numeric parameters
(ill_conditioned's kappa and theta) are data, so a room dragging the kappa slider compiles one
loop, not one per value (issue 14: 30 kappas cost 74 CPU-s and 215 MB); the process keeps at
most ``kernel_cache_size()`` loops, dropping the least recently used."""

from __future__ import annotations

import numpy as np
import pytest

from optarena import landscapes
from optarena.arena import fused, race


@pytest.fixture
def fresh(monkeypatch):
    """An empty cache in this process, and a count of the loops made (compiled or loaded)."""
    monkeypatch.setattr(fused, "_KERNELS", fused.KernelCache())
    made = []
    make = fused._make_kernel

    def counted(*args, **kw):
        made.append(kw.get("what"))
        return make(*args, **kw)

    monkeypatch.setattr(fused, "_make_kernel", counted)
    return made


def test_thirty_kappas_and_thetas_run_one_compiled_loop_with_the_numpy_engines_numbers(fresh):
    rng = np.random.default_rng(0)
    settings = [(float(k), float(t)) for k, t in zip(rng.uniform(1, 1000, 30), rng.uniform(0, 180, 30))]
    assert len(set(settings)) == 30
    starts = [(1.0, 3.0), (-2.0, 0.5)]
    for i, (kappa, theta) in enumerate(settings):
        ls = {"name": "ill_conditioned", "params": {"kappa": kappa, "theta": theta}}
        racers = [f"sgd(learning_rate={0.5 / kappa})", "adam(learning_rate=0.05)"]
        fast = race(ls, racers, starts=starts, steps=60, engine="fused")
        if i % 10 == 0:  # the kappa the loop runs is this race's, bit for bit
            slow = race(ls, racers, starts=starts, steps=60, engine="numpy")
            np.testing.assert_array_equal(fast.positions, slow.positions)
            np.testing.assert_array_equal(fast.losses, slow.losses)
    assert len(fresh) == 2 and len(fused._KERNELS) == 2 and fused.kernels_made() == 2  # sgd's and adam's
    for kernel in fused._KERNELS.values():
        assert len(kernel.signatures) == 1  # compiled once, for every kappa
    ls = landscapes.get("ill_conditioned", kappa=123.0, theta=45.0)
    assert fused.kernel_landscape_key(ls) == fused.kernel_landscape_key(landscapes.get("ill_conditioned", kappa=2.0))
    assert fused.landscape_key(ls) != fused.landscape_key(landscapes.get("ill_conditioned", kappa=2.0))


def test_the_two_argument_form_of_a_parametric_landscape_is_its_own_values():
    # L-BFGS's and Newton's loops take f(x, y): the family's code with this landscape's values bound
    ls = landscapes.get("ill_conditioned", kappa=37.0, theta=21.0)
    f, grad = fused.compiled_landscape(ls)
    for x, y in [(0.3, -1.7), (2.5, 0.25)]:
        assert f(x, y) == ls.f(np.float64(x), np.float64(y))
        assert grad(x, y) == tuple(ls.grad(np.float64(x), np.float64(y)))
        # and the truth: 0.5 (kappa u^2 + v^2) in the frame turned by theta, by finite differences
        c, s = np.cos(np.radians(21.0)), np.sin(np.radians(21.0))
        u, v = c * x + s * y, c * y - s * x
        assert f(x, y) == pytest.approx(0.5 * (37.0 * u * u + v * v), rel=1e-12)
        h = 1e-6
        fd = ((f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h))
        np.testing.assert_allclose(grad(x, y), fd, rtol=1e-6)


def test_the_cache_keeps_the_most_recently_used_loops_and_the_budget_counts_dropped_ones(fresh, monkeypatch):
    monkeypatch.setenv("OPTARENA_KERNEL_CACHE", "2")
    kw = dict(starts=[(1.0, 1.0)], steps=10, engine="fused")
    race("booth", ["sgd"], **kw)
    race("booth", ["adagrad"], **kw)
    race("booth", ["sgd"], **kw)  # used again: adagrad's is now the least recently used
    race("booth", ["rmsprop"], **kw)
    kept = [key[0] for key in fused._KERNELS]
    assert kept == ["sgd", "rmsprop"] and fused.kernels_made() == 3 and fused._KERNELS.dropped == 1
    again = race("booth", ["adagrad"], **kw)  # dropped: made again (from the disk cache), same numbers
    np.testing.assert_array_equal(again.positions, race("booth", ["adagrad"], starts=[(1.0, 1.0)], steps=10,
                                                        engine="numpy").positions)
    assert [key[0] for key in fused._KERNELS] == ["rmsprop", "adagrad"] and fused.kernels_made() == 4
    monkeypatch.setenv("OPTARENA_KERNEL_BUDGET", "4")  # numba keeps a dropped loop's code: it counts
    with pytest.raises(ValueError, match="budget of 4 race loops"):
        race("booth", ["sgd"], **kw)


def test_the_cache_size_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("OPTARENA_KERNEL_CACHE", raising=False)
    assert fused.kernel_cache_size() == fused.KERNEL_CACHE
    monkeypatch.setenv("OPTARENA_KERNEL_CACHE", "5")
    assert fused.kernel_cache_size() == 5
    monkeypatch.setenv("OPTARENA_KERNEL_CACHE", "0")  # at least the loop in use
    assert fused.kernel_cache_size() == 1


def test_a_loop_compiled_apart_is_written_by_a_child_and_loaded_here(tmp_path, monkeypatch, fresh):
    # optarena serve compiles in a forked child: the worker only loads the loop from the disk cache
    monkeypatch.setenv("OPTARENA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(fused.ENV_COMPILE_APART, "1")
    kw = dict(starts=[(1.0, 1.0), (-0.5, 2.0)], steps=15)
    res = race("booth", ["adagrad(learning_rate=0.3)"], engine="fused", **kw)
    (kernel,) = fused._KERNELS.values()
    assert sum(kernel.stats.cache_misses.values()) == 0 and sum(kernel.stats.cache_hits.values()) == 1
    np.testing.assert_array_equal(res.positions, race("booth", ["adagrad(learning_rate=0.3)"], engine="numpy",
                                                      **kw).positions)
    monkeypatch.setenv("OPTARENA_CACHE_DIR", "")  # no disk cache: nothing to hand over, compiled here
    monkeypatch.setattr(fused, "_KERNELS", fused.KernelCache())
    again = race("booth", ["adagrad(learning_rate=0.3)"], engine="fused", **kw)
    np.testing.assert_array_equal(res.positions, again.positions)
    assert fused.compile_apart(next(iter(fused._KERNELS.values())), ()) is False


_WARM_PROBE = """
import json, sys
from optarena import landscapes
from optarena.arena import engine, fused
ls = landscapes.resolve({"name": "ill_conditioned", "params": {"kappa": float(sys.argv[1])}})
spec = engine.resolve_racers(engine.racers_of(["sgd"]))[0][0]
warm = fused.is_warm(spec, ls, (False,), True)
chosen = engine.choose_engine("auto", ls, ["sgd"], steps=50)
if sys.argv[2] == "race":
    engine.race(ls, ["sgd"], steps=50, engine="fused")
print(json.dumps({"warm": warm, "chosen": chosen, "made": fused.kernels_made()}))
"""


def test_a_loop_another_process_left_on_disk_is_warm_in_a_new_one(tmp_path):
    # a server's second worker, or the next server, runs a small race on the compiled loop the first
    # one compiled (issue 14: "a new process or worker starts warm"), knowing that without compiling
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPTARENA_CACHE_DIR": str(tmp_path)}

    def probe(kappa: float, then: str) -> dict:
        out = subprocess.run([sys.executable, "-c", _WARM_PROBE, str(kappa), then], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = probe(5.0, "race")  # nothing on disk: a small race goes to NumPy; the fused one compiles
    assert first == {"warm": False, "chosen": "numpy", "made": 1}
    second = probe(17.0, "nothing")  # another kappa, another process: the family's loop is on disk
    assert second == {"warm": True, "chosen": "fused", "made": 0}, second
    assert list(tmp_path.glob("kernels-*/checked/*")), "the landscape's passed check was not remembered"


def test_a_code_fingerprint_does_not_move_when_numba_compiles_the_function():
    # marshal marks objects by their reference counts: the same code hashed before and after a
    # compile (which takes references) got two digests, and a second process missed the disk cache
    ls = landscapes.get("ill_conditioned", kappa=3.0)
    before = fused._fingerprint(ls.parametric.f)
    fused.compiled_parametric(ls)
    assert fused._fingerprint(ls.parametric.f) == before
