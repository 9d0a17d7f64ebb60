"""``optarena race --anatomy RACER:STEP`` without --save: the step explained under the table, with
the numbers arena.anatomy computes from the race's own state."""

from __future__ import annotations

import pytest

from optarena.arena import RacePlan
from optarena.arena.anatomy import anatomy_of
from optarena.cli import main


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_terminal_shows_the_steps_numbers(capsys):
    code, text, _ = _run(["race", "--steps", "20", "--quiet", "--optimizer", "sgd", "--optimizer", "momentum(nesterov=True)",
                          "--optimizer", "adam(learning_rate=0.05)", "--anatomy", "2:7"], capsys)
    assert code == 0
    plan = RacePlan.build("quadratic", ["sgd", "momentum(nesterov=True)", "adam(learning_rate=0.05)"], None, 20)
    a = anatomy_of(plan, 2, 0, 7)
    assert "Anatomy of a step: Adam (racer 2), step 7 → 8 of 20" in text
    for _, numbers in a.lines:
        for line in numbers:
            assert line in text
    assert "effective learning rate" in text


@pytest.mark.parametrize("extra,needle", [
    (["--anatomy", "3:1"], "RACER out of range"),
    (["--anatomy", "0:20"], "STEP out of range"),
    (["--anatomy", "x"], "must be RACER:STEP"),
    (["--anatomy", "0:1", "--format", "json"], "prints under the race's table"),
    (["--anatomy", "0:1", "--save", "race.csv"], "draws into a"),
])
def test_a_bad_anatomy_is_refused_before_the_race(capsys, tmp_path, monkeypatch, extra, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["race", "--steps", "20", "--quiet", *extra], capsys)
    assert code == 2 and needle in err and "--anatomy" in err
    assert "final loss" not in out  # refused before the race ran
    assert not (tmp_path / "race.csv").exists()
