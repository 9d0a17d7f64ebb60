"""Sweep journals: a sweep killed half-way resumes to the arrays of one never interrupted, bit for
bit; a torn last line is dropped; a journal of another sweep is refused, naming what differs;
``should_stop`` ends a sweep between units and inside them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from optarena.arena import Cancelled
from optarena.cli import main
from optarena.measure import sweep
from optarena.measure import sweeps as sweep_module

KEYS = ("final_loss", "best_loss", "steps_to_tolerance", "diverged_at", "final_position", "basin")
ARGS = dict(landscape="rosenbrock", optimizers=["sgd", "adam(beta1=0.8)"], axes=["learning_rate=log(1e-4, 1, 7)"],
            starts=[[-1.5, 2.0], [0.0, 0.0]], steps=150, seeds=[0, 5], noise=0.2)


@pytest.fixture
def small_units(monkeypatch):
    monkeypatch.setattr(sweep_module, "UNIT_RUNS", 4)  # many units


def assert_same_bits(a, b):
    for key in KEYS:
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), key
    assert a.config == b.config


def lines(path):
    return path.read_bytes().split(b"\n")


def stopped_after(n_units, **kwargs):
    """A sweep with a journal, stopped once ``n_units`` units are done."""
    seen = []
    with pytest.raises(Cancelled, match=f"sweep stopped after {n_units} of"):
        sweep(**ARGS, progress=lambda done, total: seen.append(done), should_stop=lambda: len(seen) >= n_units, **kwargs)


def test_a_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path, small_units, monkeypatch):
    cli = ["sweep", "--landscape", "rosenbrock", "--optimizer", "sgd", "--optimizer", "adam",
           "--axis", "learning_rate=log(1e-4, 1e-2, 8)", "--start=-1.5,2", "--start=0,0", "--steps", "500",
           "--noise", "0.1", "--seeds", "4", "--format", "json", "--quiet"]
    assert main(cli + ["--output", str(tmp_path / "whole.json")]) == 0
    assert not (tmp_path / "whole.json.journal").exists()  # gone once the output is written
    whole = (tmp_path / "whole.json").read_text()

    out, journal = tmp_path / "out.json", tmp_path / "out.json.journal"
    code = ("import sys, optarena.measure.sweeps as m; m.UNIT_RUNS = 4; from optarena.cli import main; "
            f"sys.exit(main({cli + ['--output', str(out)]!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 4):  # the header and 3 units
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    done = journal.read_bytes().count(b"\n") - 1

    ran = []
    real = sweep_module.run_unit
    monkeypatch.setattr(sweep_module, "run_unit", lambda unit, *a, **k: ran.append(unit) or real(unit, *a, **k))
    assert main(cli + ["--output", str(out), "--resume"]) == 0
    total = 2 * 4 * 4  # optimizers x blocks of 2 settings x seeds (4 runs a unit)
    assert 3 <= done < total
    assert len([u for u in ran if u["steps"] > 1]) == total - done  # only the missing units ran (steps 1: probes)
    assert out.read_text() == whole
    assert not journal.exists()


def test_a_torn_last_line_is_dropped(tmp_path, small_units):
    whole = sweep(**ARGS)
    journal = tmp_path / "j"
    stopped_after(3, journal=journal)
    last = lines(journal)[-2]
    with open(journal, "ab") as f:
        f.write(last[: len(last) // 2])  # a kill in the middle of the next write
    resumed = sweep(**ARGS, journal=journal, resume=True)
    assert_same_bits(resumed, whole)
    rows = lines(journal)
    assert rows[-1] == b"" and all(json.loads(r) for r in rows[:-1])  # the torn piece was cut away, not built on
    assert len(rows) - 2 == len({tuple(json.loads(r)["unit"]) for r in rows[1:-1]})  # every unit once
    # a journal that is whole resumes without running anything
    assert_same_bits(sweep(**ARGS, journal=journal, resume=True), whole)


def test_a_damaged_line_inside_is_refused(tmp_path, small_units):
    journal = tmp_path / "j"
    stopped_after(3, journal=journal)
    rows = lines(journal)
    rows[2] = rows[2][:10]
    journal.write_bytes(b"\n".join(rows))
    with pytest.raises(ValueError, match="line 3 is damaged"):
        sweep(**ARGS, journal=journal, resume=True)


def test_nan_and_infinities_come_back_bit_for_bit(tmp_path):
    """Diverged runs: NaN losses and positions, inf best losses."""
    args = dict(landscape="quadratic", optimizers=["sgd"], axes=["learning_rate=0.01,3,100"], steps=50)
    whole = sweep(**args)
    assert np.isnan(whole.final_loss).any()
    journal = tmp_path / "j"
    sweep(**args, journal=journal)
    assert_same_bits(sweep(**args, journal=journal, resume=True), whole)


@pytest.mark.parametrize("change,where", [
    (dict(steps=151), "steps is 150 there, 151 here"),
    (dict(optimizers=["sgd", "adam(beta1=0.7)"]), r"optimizers\[1\]\.hyperparameters\.beta1 is 0.8 there, 0.7 here"),
    (dict(seeds=[0, 6]), r"seeds\[1\] is 5 there, 6 here"),
])
def test_a_journal_of_another_sweep_is_refused(tmp_path, change, where):
    journal = tmp_path / "j"
    sweep(**ARGS, journal=journal)
    before = journal.read_bytes()
    with pytest.raises(ValueError, match=where):
        sweep(**{**ARGS, **change}, journal=journal, resume=True)
    assert journal.read_bytes() == before


def test_a_journal_is_not_overwritten_without_resume(tmp_path, capsys):
    journal = tmp_path / "out.json.journal"
    sweep(**ARGS, journal=journal)
    with pytest.raises(ValueError, match="resume it"):
        sweep(**ARGS, journal=journal)
    with pytest.raises(ValueError, match="needs the journal"):
        sweep(**ARGS, resume=True)
    journal.write_text('{"format": "optarena.journal/1", "kind": "train", "config": {}}\n')
    with pytest.raises(ValueError, match="not a journal of an optarena sweep"):
        sweep(**ARGS, journal=journal, resume=True)
    # the CLI says the same, and what to do
    cli = ["sweep", "--optimizer", "sgd", "--axis", "learning_rate=0.1", "--steps", "10", "--quiet"]
    assert main(cli + ["--output", str(tmp_path / "out.json")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(cli + ["--resume"]) == 2
    assert "give --output" in capsys.readouterr().err


def test_should_stop_ends_a_sweep_between_units_and_inside_one(tmp_path, small_units):
    journal = tmp_path / "j"
    stopped_after(3, journal=journal)
    assert len(lines(journal)) == 1 + 3 + 1  # the header, the 3 units done, the last newline
    asked = []
    with pytest.raises(Cancelled, match="sweep stopped after 0 of") as info:  # asked inside the first unit's race too
        sweep(**ARGS, should_stop=lambda: asked.append(1) or len(asked) > 10)
    assert "race stopped at step" in str(info.value.__cause__)


def test_a_dask_sweep_keeps_a_journal(tmp_path, small_units):
    pytest.importorskip("distributed")
    from optarena.measure.distributed import client_for

    whole = sweep(**ARGS)
    journal = tmp_path / "j"
    with client_for("local:1") as client:
        stopped_after(3, journal=journal, scheduler=client)
        assert len(lines(journal)) == 1 + 3 + 1
        assert_same_bits(sweep(**ARGS, journal=journal, resume=True, scheduler=client), whole)
