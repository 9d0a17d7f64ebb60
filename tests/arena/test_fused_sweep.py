"""Many settings in one compiled race: each run reads its own step's coefficients (kept per step,
per setting or per both: ``fused.coefficient_columns``), and the loop gives the NumPy engine's
numbers, for rules whose coefficients change with the step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optarena.arena import Racer, race
from optarena.optim import registry, schedules

pytest.importorskip("numba")

from optarena.arena import fused  # noqa: E402  (needs numba)

FIELDS = ("positions", "losses", "grad_norms", "step_sizes", "best_loss", "steps_to_tolerance", "diverged_at")
GRIDS = {  # two swept axes each, crossed: a stability map's grid
    "adam": {"learning_rate": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], "beta1": [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]},
    "nadam": {"learning_rate": [0.01, 0.1, 1.0, 3.0], "beta1": [0.5, 0.9, 0.99], "momentum_decay": [0.004, 0.04, 0.4]},
    "radam": {"learning_rate": [0.01, 0.1, 1.0, 3.0], "beta2": [0.8, 0.9, 0.95, 0.99, 0.999]},
    "adamw": {"learning_rate": [0.01, 0.1, 1.0], "beta2": [0.9, 0.999], "weight_decay": [0.0, 0.01, 0.1]},
    "sgd": {"learning_rate": [0.001, 0.01, 0.05], "momentum": [0.0, 0.5, 0.9, 0.99], "dampening": [0.0, 0.5]},
}
SCHEDULE = {"adamw": {"name": "warmup_cosine", "warmup": 10, "total": 60}}


def _racers(name: str) -> list[Racer]:
    grid = GRIDS[name]
    return [Racer(name, dict(zip(grid, values)), SCHEDULE.get(name)) for values in itertools.product(*grid.values())]


@pytest.mark.parametrize("name", list(GRIDS))
def test_a_many_settings_race_on_the_compiled_loop_equals_numpy(name):
    """Dozens of settings x two starts (so a chunk of 64 runs mixes settings), 60 steps on Booth,
    as tests/arena/test_fused_race.py compares one setting."""
    kw = dict(landscape="booth", racers=_racers(name), starts=[(-1.2, 1.0), (3.0, -2.0)], steps=60, record=True)
    a, b = race(**kw, engine="fused"), race(**kw, engine="numpy")
    assert a.positions.shape[0] == len(kw["racers"]) >= 18
    for key in FIELDS:
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)
    assert (a.stop_reason == b.stop_reason).all()


def _hp(name: str, H: int, **swept: np.ndarray) -> dict:
    spec = registry.get(name)
    hp = {k: v if isinstance(v, bool) else np.full(H, float(v)) for k, v in spec.validate({}).items()}
    return {**hp, **swept}


@pytest.mark.parametrize("name,swept,varying", [
    # Adam, lr x beta1: only lr / (1 - beta1^t) varies by step and setting; (1 - beta2^t) by step alone
    ("adam", ("learning_rate", "beta1"), {"step_size"}),
    # momentum, lr x momentum: nothing varies by both (a constant schedule's rate is the setting's)
    ("sgd", ("learning_rate", "momentum"), set()),
])
def test_coefficients_are_kept_in_the_shape_they_vary_in(name, swept, varying):
    """Each coefficient's value at step t + 1 and setting h is CV[o + t st + h sh], equal to the
    rule's own ``coefficients`` for that step and setting alone; only those that vary by step and
    setting take steps x settings numbers."""
    spec = registry.get(name)
    steps, n = 30, 8
    grid = np.meshgrid(np.geomspace(1e-3, 1e-1, n), np.linspace(0.0, 0.99, n), indexing="ij")
    hp = _hp(name, n * n, **{k: g.ravel() for k, g in zip(swept, grid)})
    CV, CO = fused.coefficient_columns(spec, hp, schedules.make(None), steps)
    names = spec.coefficient_names
    sizes = {c: (steps if CO[i, 1] else 1) * (n * n if CO[i, 2] else 1) for i, c in enumerate(names)}
    assert {c for c, s in sizes.items() if s == steps * n * n} == varying
    assert CV.size == sum(sizes.values()) < steps * n * n * len(names) / 4
    for h, t in [(0, 0), (5, 0), (63, 1), (17, 29), (40, 7)]:
        one = {k: v if isinstance(v, bool) else float(v[h]) for k, v in hp.items()}
        named, _ = spec.coefficients(one, t + 1, one["learning_rate"], {})
        for i, c in enumerate(names):
            np.testing.assert_allclose(CV[CO[i, 0] + t * CO[i, 1] + h * CO[i, 2]], float(named[c]), rtol=1e-15,
                                       err_msg=f"{c} at step {t + 1}, setting {h}")
