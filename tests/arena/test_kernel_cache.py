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
