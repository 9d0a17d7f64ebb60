"""What the tests of the rules with their own compiled race loop (L-BFGS, Newton) share: equal bits
between the engines, and the kernel budget and cancellation holding for such a loop."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.arena import Cancelled, race
from optarena.errors import EngineUnavailable

FIELDS = ("positions", "losses", "grad_norms", "step_sizes", "best_loss", "steps_to_tolerance", "diverged_at",
          "stop_reason", "evaluations")


def same_bits(a, b):
    for key in FIELDS:
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
            continue
        assert x.shape == y.shape, key
        np.testing.assert_array_equal(x, y, err_msg=key)


def both(**kw):
    return race(**kw, engine="fused"), race(**kw, engine="numpy")


def budget_and_cancellation_hold(monkeypatch, racer: str, n_starts: int) -> None:
    """The loop is refused past the kernel budget, counts against it once compiled, and a race on it
    stops within a task of ``should_stop`` firing. On Rosenbrock without a record: the loop each file's
    test_summary_only_mode_and_divergence_agree compiled, which numba's disk cache (conftest's
    OPTARENA_CACHE_DIR) loads in milliseconds instead of compiling another landscape's (~10 s)."""
    from optarena.arena import fused

    monkeypatch.setattr(fused, "_KERNELS", {})
    monkeypatch.setenv("OPTARENA_KERNEL_BUDGET", "0")
    with pytest.raises(EngineUnavailable, match="budget of 0 race loops"):
        race("rosenbrock", [racer], steps=5, engine="fused")
    monkeypatch.setenv("OPTARENA_KERNEL_BUDGET", "1")
    calls = []

    def stop_on_second_call():
        calls.append(1)
        return len(calls) >= 2

    starts = np.random.default_rng(0).uniform((-2, -1), (2, 3), (n_starts, 2))  # in Rosenbrock's window
    with pytest.raises(Cancelled):
        race("rosenbrock", [racer], starts=starts, steps=2000, engine="fused", record=False, should_stop=stop_on_second_call)
    assert 2 <= len(calls) <= 1 + fused.THREADS
    assert len(fused._KERNELS) == 1  # the loop counts against the budget
    with pytest.raises(EngineUnavailable, match="budget of 1 race loops"):
        race("rosenbrock", ["adam"], steps=5, engine="fused", record=False)
