"""optarena's own errors: typed, carrying the field at fault, mapped by each face.

The CLI maps only ``OptarenaError`` to one line and exit code 2; anything else is a bug (exit
code 1, the traceback, a line asking to report it). The web's 422 names the field from
``exc.field``. Each error keeps the built-in base the code raised before it was typed.
"""

from __future__ import annotations

import pickle

import pytest

from optarena import __version__, errors, landscapes
from optarena.arena import race
from optarena.arena.engine import ENGINES, choose_engine
from optarena.cli import main
from optarena.errors import (
    EngineUnavailable,
    FileProblem,
    MissingExtraError,
    OptarenaError,
    UnknownNameError,
    UsageError,
    UsageTypeError,
    with_field,
)

# -- the CLI: exit 2 for the user's mistakes, exit 1 (and a traceback) for optarena's ---------------


@pytest.mark.parametrize("argv,msg", [
    (["race", "--steps", "0"], "steps must be an integer"),
    (["race", "--landscape", "nowhere"], "unknown landscape 'nowhere'"),
    (["race", "--landscape", "ill_conditioned(kappa=abc)"], "kappa must be a number"),
    (["race", "--optimizer", "adam(learning_rate=-1)"], "learning_rate must be"),
    (["race", "--formula", "x +"], "formula error at position 3"),
    (["sweep", "--steps", "5", "--seeds", "0"], "seeds must be a count"),
    (["sweep", "--steps", "5", "--axis", "momentum=0.5", "--optimizer", "adam"], "momentum: not a hyperparameter"),
])
def test_bad_input_is_one_line_exit_2_without_traceback(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err and "Traceback" not in err, err


@pytest.mark.parametrize("bug", [RuntimeError("an invariant broke"), KeyError("missing"), ValueError("a bad index"),
                                 TypeError("wrong call"), OSError("a plain OSError inside the code")])
def test_a_bug_is_exit_1_with_its_traceback_and_a_report_line(bug, monkeypatch, capsys):
    import optarena.arena

    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(optarena.arena, "race", broken)  # what `optarena race` calls
    assert main(["race", "--steps", "3", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and type(bug).__name__ in err and "in broken" in err
    last = err.strip().splitlines()[-1]
    assert "bug in optarena" in last and __version__ in last and "report" in last


def test_a_bug_deeper_in_the_core_is_exit_1_too(monkeypatch, capsys):
    from optarena.arena import engine

    def broken(*args, **kwargs):
        raise KeyError("state")

    monkeypatch.setattr(engine, "_run_numpy", broken)
    assert main(["race", "--steps", "3", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "KeyError: 'state'" in err and "report" in err


def test_every_optarena_error_is_exit_2(monkeypatch, capsys):
    import optarena.arena

    for cls in (UsageError, UsageTypeError, UnknownNameError, EngineUnavailable, MissingExtraError, FileProblem):
        def refuse(*args, _cls=cls, **kwargs):
            raise _cls(f"{_cls.__name__} says no\nsecond line", field="x")

        monkeypatch.setattr(optarena.arena, "race", refuse)
        assert main(["race", "--steps", "3", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err == f"optarena race: error: {cls.__name__} says no\n", err


# -- the errors themselves --------------------------------------------------------------------------


def test_each_error_keeps_the_builtin_base_callers_catch():
    assert issubclass(UsageError, ValueError) and issubclass(UsageTypeError, TypeError)
    assert issubclass(UsageTypeError, ValueError)  # a UsageError too
    assert issubclass(MissingExtraError, ImportError) and issubclass(FileProblem, OSError)
    assert issubclass(landscapes.FormulaError, UsageError)
    from optarena.arena.spec_text import SpecError
    from optarena.measure import AxisError

    assert issubclass(SpecError, UsageError) and issubclass(AxisError, UsageError)
    e = FileProblem("cannot", field="--output")
    assert str(e) == "cannot" and e.field == "--output"


def test_with_field_prefixes_the_place():
    e = UsageError("bad", field="learning_rate")
    assert with_field(e, "racers[1].hyperparameters") is e and e.field == "racers[1].hyperparameters.learning_rate"
    assert with_field(UsageError("bad"), "steps").field == "steps"


def test_errors_survive_pickling_with_their_field():  # a sweep's unit may fail on a Dask worker
    e = with_field(UsageError("bad", field="beta1", allowed=[0, 1]), "optimizers[0]")
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is UsageError and str(again) == "bad" and again.field == "optimizers[0].beta1"
    assert again.allowed == [0, 1]
    with pytest.raises(landscapes.FormulaError) as info:
        landscapes.from_formula("x +* y")
    f = pickle.loads(pickle.dumps(with_field(info.value, "landscape")))
    assert f.position == 3 and f.field == "landscape.formula" and str(f) == str(info.value)


# -- the core: each error names its field ------------------------------------------------------------


@pytest.mark.parametrize("kwargs,cls,field", [
    ({"steps": 0}, UsageError, "steps"),
    ({"seed": -1}, UsageError, "seed"),
    ({"noise": -1.0}, UsageError, "noise"),
    ({"clip": 0.0}, UsageError, "clip"),
    ({"tolerance": 0.0}, UsageError, "tolerance"),
    ({"starts": [[1e9, 0]]}, UsageError, "starts"),
    ({"starts": "here"}, UsageTypeError, "starts"),
    ({"bounds": [[1, 0], [0, 1]]}, UsageError, "bounds"),
    ({"racers": []}, UsageError, "racers"),
    ({"racers": ["adam", 3]}, UsageTypeError, "racers[1]"),
    ({"racers": [{"hyperparameters": {}}]}, UsageError, "racers[0].optimizer"),
    ({"racers": ["sgd", "adam(learning_rate=-1)"]}, UsageError, "racers[1].hyperparameters.learning_rate"),
    ({"racers": ["sgd", "adamm"]}, UnknownNameError, "racers[1].optimizer"),
    ({"racers": ["adam(learning_rate=0.1"]}, UsageError, "racers[0]"),
    ({"landscape": "nowhere"}, UnknownNameError, "landscape.name"),
    ({"landscape": {"name": "ill_conditioned", "params": {"kappa": 0.5}}}, UsageError, "landscape.params.kappa"),
    ({"landscape": {"name": "booth", "params": {"kappa": 2}}}, UsageTypeError, "landscape.params.kappa"),
    ({"landscape": {"formula": "x +"}}, landscapes.FormulaError, "landscape.formula"),
    ({"landscape": {"formula": "x", "window": [[1, 0], [0, 1]]}}, UsageError, "landscape.window"),
    ({"landscape": {"formula": "x", "window": "wide"}}, UsageTypeError, "landscape.window"),
    ({"engine": "gpu"}, UsageError, "engine"),
    ({"steps": 100_000, "starts": [[0, 1]] * 100}, UsageError, "steps"),  # too much to record
])
def test_a_race_names_the_field_at_fault(kwargs, cls, field):
    with pytest.raises(cls) as info:
        race(**kwargs)
    assert isinstance(info.value, OptarenaError) and info.value.field == field, info.value.field


def test_unknown_names_list_what_is_allowed():
    with pytest.raises(UnknownNameError) as info:
        landscapes.get("rosenbrok")
    assert info.value.field == "name" and "rosenbrock" in info.value.allowed and "did you mean" in str(info.value)


def test_a_sweep_names_the_axis_or_the_optimizer():
    from optarena.measure import sweep

    with pytest.raises(UsageError) as info:  # a value on the second axis is out of range
        sweep("quadratic", ["momentum"], ["learning_rate=0.1", "momentum=-0.5,0.5"], steps=5)
    assert info.value.field == "axes[1].momentum"
    with pytest.raises(UsageError) as info:
        sweep("quadratic", ["sgd"], ["beta1=0.5"], steps=5)
    assert info.value.field == "axes[0]" and "learning_rate" in info.value.allowed
    with pytest.raises(UsageError) as info:  # a fixed setting
        sweep("quadratic", ["sgd", "adam(beta1=2)"], ["learning_rate=0.1"], steps=5)
    assert info.value.field == "optimizers[1].hyperparameters.beta1"
    with pytest.raises(UsageError) as info:
        sweep("quadratic", ["sgd"], ["learning_rate=log(0, 1, 3)"], steps=5)
    assert info.value.field == "axes[0]"
    with pytest.raises(UnknownNameError) as info:
        sweep("nowhere", ["sgd"], ["learning_rate=0.1"], steps=5)
    assert info.value.field == "landscape.name"


def test_files_and_extras_raise_their_types(tmp_path):
    from optarena._files import atomic_write, read_bounded
    from optarena.export._deps import need

    with pytest.raises(FileProblem, match="No such file"):
        read_bounded(tmp_path / "missing.json")
    with pytest.raises(FileProblem, match="cannot write it"):
        atomic_write(tmp_path / "missing" / "x.json", "{}")
    with pytest.raises(MissingExtraError, match="optarena\\[export\\]"):
        need("optarena_no_such_module")


# -- the engine: chosen in one place, by policy and what can run -------------------------------------


class _Custom:
    def update(self, params, gradients):
        return [p - 0.1 * g for p, g in zip(params, gradients)]


def test_choose_engine_is_where_auto_is_decided():
    assert ENGINES == ("auto", "numpy", "fused")
    assert choose_engine("numpy", "quadratic", ["adam"], steps=10) == "numpy"
    with pytest.raises(UsageError) as info:
        choose_engine("gpu", "quadratic", ["adam"], steps=10)
    assert info.value.field == "engine" and info.value.allowed == list(ENGINES)
    # custom objects run in Python: "auto" falls back to NumPy, "fused" says why not
    assert choose_engine("auto", "quadratic", [_Custom()], steps=10) == "numpy"
    with pytest.raises(EngineUnavailable, match="engine='fused' is not possible here: custom") as info:
        choose_engine("fused", "quadratic", [_Custom()], steps=10)
    assert info.value.field == "engine"
    with pytest.raises(EngineUnavailable):
        race("quadratic", [_Custom()], steps=3, engine="fused")
    # a sweep's total work decides "auto" for all its units: small work stays on NumPy
    assert choose_engine("auto", "quadratic", ["adam"], steps=10, work=10) == "numpy"


def test_choose_engine_takes_the_compiled_loop_for_big_work():
    pytest.importorskip("numba")
    from optarena.arena.engine import FUSED_MIN_WORK

    assert choose_engine("auto", "quadratic", ["adam"], steps=10, record=False, work=FUSED_MIN_WORK) == "fused"
    assert choose_engine("fused", "quadratic", ["adam"], steps=10) == "fused"


def test_the_engine_choice_reads_no_error_text():
    from pathlib import Path

    src = Path(errors.__file__).parent
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert "startswith(\"engine='fused'" not in text and "is not possible\" in" not in text, path


# -- the web: a 422 names the field from the error ---------------------------------------------------


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from optarena.web.app import create_app

    with TestClient(create_app(warm=False), base_url="http://127.0.0.1") as c:
        yield c


@pytest.mark.parametrize("path,body,loc", [
    ("/api/race", {"racers": [{"optimizer": "sgd"}, {"optimizer": "adam", "hyperparameters": {"learning_rate": -1}}]},
     ["racers", 1, "hyperparameters", "learning_rate"]),
    ("/api/race", {"racers": [{"optimizer": "adamm"}]}, ["racers", 0, "optimizer"]),
    ("/api/race", {"landscape": {"name": "nowhere"}}, ["landscape", "name"]),
    ("/api/race", {"landscape": {"name": "ill_conditioned", "params": {"kappa": 0.5}}}, ["landscape", "params", "kappa"]),
    ("/api/race", {"landscape": {"formula": "x +"}}, ["landscape", "formula"]),
    ("/api/grid", {"landscape": {"name": "nowhere"}}, ["landscape", "name"]),
    ("/api/formula", {"formula": "x +"}, ["formula"]),
    ("/api/train", {"racers": [{"optimizer": "adam", "hyperparameters": {"beta1": 2}}]},
     ["racers", 0, "hyperparameters", "beta1"]),
    ("/api/sweep", {"racer": {"optimizer": "momentum", "hyperparameters": {"dampening": 2}},
                    "x": {"name": "learning_rate", "lo": 0.01, "hi": 0.1}, "y": {"name": "momentum", "lo": 0, "hi": 0.5}},
     ["racer", "hyperparameters", "dampening"]),
    ("/api/sweep", {"x": {"name": "learning_rate", "lo": 0.01, "hi": 0.1}, "y": {"name": "momentum", "lo": -0.5, "hi": 0.5}},
     ["y"]),
])
def test_the_web_422_names_the_field_of_the_error(client, path, body, loc):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", *loc], r.text


def test_field_loc_reads_indices():
    from optarena.web.app import _field_loc

    assert _field_loc("racers[1].hyperparameters.learning_rate") == ["racers", 1, "hyperparameters", "learning_rate"]
    assert _field_loc("landscape.params.kappa") == ["landscape", "params", "kappa"]
    assert _field_loc("axes[0]") == ["axes", 0] and _field_loc(None) == []


def test_a_closed_pipe_is_not_reported_as_a_bug():
    """`optarena optimizers | head -1`: the reader leaves early; no traceback, no bug report."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "optarena.cli", "optimizers"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 141) and "Traceback" not in err and "internal error" not in err, err
