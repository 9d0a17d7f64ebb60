"""The measured comparison table: each column checked against a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import optarena as oa
from optarena import landscapes
from optarena.arena import Racer
from optarena.nn import table
from optarena.optim import registry


@pytest.fixture(scope="module")
def measured_and_said():
    import logging

    said: list[str] = []
    handler = type("Said", (logging.Handler,), {"emit": lambda self, r: said.append(r.getMessage())})()
    log = logging.getLogger("optarena")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        measured = table.measure(["sgd", "momentum", "adam", "adam(amsgrad=true)"], digits=False, steps=300,
                                 command="test")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return measured, said


@pytest.fixture(scope="module")
def measured(measured_and_said):
    return measured_and_said[0]


def test_the_table_says_what_it_is_doing(measured_and_said):
    # Issue 11 item 8: 'optarena table' printed nothing for 28 s. Each stage is said on the
    # 'optarena' logger, which the CLI shows on a terminal (tests/test_cli.py).
    said = measured_and_said[1]
    assert said[0].startswith("timing one step on 1M parameters")
    assert "sweeping Adam's learning rate on Rosenbrock (34 rates x 300 steps)" in said
    assert sum(m.startswith("sweeping ") for m in said) == 4 * len(table.SUITE)


def test_state_bytes_and_hyperparameter_counts(measured):
    assert [r["state_bytes_per_param"] for r in measured.rows] == [0, 4, 8, 12]
    # the article: SGD "learning rate only", momentum "LR + momentum", Adam "LR + 2 betas"; amsgrad is a switch
    assert [r["hyperparameters"] for r in measured.rows] == [1, 2, 3, 3]
    assert measured.rows[2]["tunable_hyperparameters"] == ["learning_rate", "beta1", "beta2"]
    assert "| 1 |" in measured.markdown().splitlines()[2] and table.TUNABLE_RULE in measured.markdown()


@pytest.mark.parametrize("racer,names", [
    ("sgd(maximize=true)", ["learning_rate"]),  # switches are not tuned
    ("momentum(nesterov=true)", ["learning_rate", "momentum"]),
    ("sgd(momentum=0.9, weight_decay=1e-4)", ["learning_rate", "momentum", "weight_decay"]),  # set: on, counted
    ("adamw", ["learning_rate", "beta1", "beta2", "weight_decay"]),  # its decay is on by default
    ("rmsprop", ["learning_rate", "alpha"]),
])
def test_tunable_hyperparameters_are_those_whose_term_is_on(racer, names):
    r = Racer.of(racer)
    spec = registry.get(r.optimizer)
    assert table.tunable(spec, spec.validate(r.hyperparameters)) == names


def test_speed_is_timed_as_the_benchmarks_time_it(measured):
    numba = pytest.importorskip("numba")
    for line, row in zip(measured.markdown().splitlines()[2:], measured.rows):
        # the implementation the optimizers pick by default at 2^20 float32 parameters, named in the cell
        assert row["implementation"] == "fused kernel" and line.endswith(" (fused kernel) |"), line
        assert set(row["ms_per_step_1m_by_implementation"]) == {"fused kernel", "NumPy"}
        assert row["ms_per_step_1m"] == row["ms_per_step_1m_by_implementation"]["fused kernel"]
    note = measured.meta["speed"]["what"]
    assert f"numba, {numba.get_num_threads()} threads" in note and "median of 15 rounds interleaved" in note
    assert "ms / step: " + note in measured.markdown()


def test_interleaved_medians_warm_up_then_take_turns():
    from optarena import _timing

    calls, now = [], [0.0]

    def contender(name, seconds):
        def run():
            calls.append(name)
            now[0] += seconds.pop(0) if calls.count(name) > 2 else 100.0  # warm-up calls: slow, not timed
        return run

    med = _timing.interleaved_medians({"a": contender("a", [1.0, 5.0, 2.0]), "b": contender("b", [3.0, 3.0, 9.0])},
                                      rounds=3, clock=lambda: now[0])
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert med == {"a": 2.0, "b": 3.0}
    assert _timing.median_seconds(lambda: None, 1) >= 0


def test_steps_to_target_match_a_direct_loop(measured):
    ls = landscapes.get("rosenbrock")
    for row in measured.rows[:3]:
        info = row["landscapes"]["rosenbrock"]
        opt = oa.optimizer_class(row["optimizer"])(learning_rate=info["best_learning_rate"])
        p = np.array(ls.default_start)
        hit = 0 if ls.f(*p) - ls.min_value <= table.TARGET else None
        for t in range(1, 301):
            if hit is not None:
                break
            opt.update(p, ls.gradient(p))
            if ls.f(*p) - ls.min_value <= table.TARGET:
                hit = t
        assert info["steps_to_target"] == hit


def test_best_learning_rate_minimises_final_loss(measured):
    info = measured.rows[0]["landscapes"]["quadratic"]
    # SGD on x^2 + y^2 contracts by |1 - 2 lr| per step: the grid rate closest to 0.5 wins
    closest = table.LRS[np.argmin(np.abs(1 - 2 * table.LRS))]
    assert info["best_learning_rate"] == pytest.approx(closest)


def test_decades_within_2x():
    final = np.full(len(table.LRS), 10.0)
    final[10:16] = [1.9, 1.0, 1.5, 2.0, 2.1, 3.0]
    expected = np.log10(table.LRS[13] / table.LRS[10])
    assert table._decades_within_2x(final) == pytest.approx(expected)


def test_markdown_and_json_carry_command_and_versions(measured):
    md = measured.markdown()
    assert md.startswith("| optimizer | state bytes / param |") and "Made by `test` with optarena" in md
    data = json.loads(measured.to_json())
    assert data["format"] == "optarena.table/1" and len(data["rows"]) == 4


def test_digits_column():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    t = table.measure(["adam(learning_rate=0.01)"], digits=True, seeds=1, epochs=3, digits_target=2.5, steps=50)
    assert t.rows[0]["epochs_to_target_digits"] in (0, 1, 2, 3)
    assert len(t.rows[0]["digits_val_loss_per_epoch"]) == 4


@pytest.mark.parametrize("name", ["newton", "lbfgs", "muon"])
def test_optimizers_the_table_cannot_time_are_refused_up_front(name):
    from optarena.errors import UsageError
    from optarena.nn.table import measure

    with pytest.raises(UsageError, match="the table times every optimizer on a vector") as info:
        measure(["adam", name], digits=False, steps=5)
    assert info.value.field == "racers[1].optimizer"
    assert registry.get(name).network_refusal in str(info.value)
