"""A sweep's engine is chosen by ``arena.engine.choose_engine`` (the one place "auto" is
decided), for every unit alike, and never by reading an error's text."""

from __future__ import annotations

import pytest

from optarena.arena import engine
from optarena.errors import EngineUnavailable, UsageError
from optarena.measure import sweep

FORMULA = {"formula": "x**2 + 10*y**2"}  # typed formulas do not compile with numba


def test_auto_stays_on_numpy_where_the_compiled_loop_cannot_run(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(engine, "FUSED_MIN_WORK", 10)  # work this small would otherwise take the compiled loop
    assert engine.choose_engine("auto", FORMULA, ["adam"], steps=20, record=False, work=40) == "numpy"
    res = sweep(FORMULA, ["adam"], ["learning_rate=0.01,0.1"], steps=20)
    assert res.config["engine"] == "numpy"


def test_fused_says_why_it_cannot_run():
    pytest.importorskip("numba")
    with pytest.raises(EngineUnavailable, match="does not compile with numba") as info:
        sweep(FORMULA, ["adam"], ["learning_rate=0.01,0.1"], steps=20, engine="fused")
    assert info.value.field == "engine"


def test_small_sweeps_take_numpy_and_a_bad_engine_is_named():
    assert sweep("quadratic", ["sgd"], ["learning_rate=0.01,0.1"], steps=5).config["engine"] == "numpy"
    with pytest.raises(UsageError) as info:
        sweep("quadratic", ["sgd"], ["learning_rate=0.01"], steps=5, engine="gpu")
    assert info.value.field == "engine"
