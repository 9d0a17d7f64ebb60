"""The command line: the article's demo by default, options, formats, replay and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from optarena.cli import main

from article_classes import ArticleAdam, ArticleSGD, ArticleSGDMomentum


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optarena", *args], capture_output=True, text=True, timeout=300)


def _hand_losses():
    out = []
    for cls in (ArticleSGD, ArticleSGDMomentum, ArticleAdam):
        opt, p = cls(), [2.4, 1.8]
        for _ in range(100):
            p = opt.update(p, [2 * v for v in p])
        out.append(p[0] ** 2 + p[1] ** 2)
    return out


def test_default_race_is_the_articles_demo():
    res = _run("race")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
    sgd, mom, adam = _hand_losses()
    assert f"Step 100 / 100 | SGD Loss: {sgd:.4f} | Momentum Loss: {mom:.4f} | Adam Loss: {adam:.4f}" in lines
    assert "final loss" in res.stdout and "diverged at" in res.stdout


def test_live_status_line_on_a_terminal(capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    from optarena import cli

    out, sleeps = Tty(), []
    args = cli.build_parser().parse_args(["race", "--steps", "5"])
    assert cli._cmd_race(args, out=out, sleep=sleeps.append) == 0
    text = out.getvalue()
    assert text.count("\r\033[K") == 6 and len(sleeps) == 6
    assert "\rStep 0 / 5 | SGD Loss: 9.0000" in text.replace("\033[K", "")


def test_json_holds_everything_and_replays(tmp_path):
    path = tmp_path / "race.json"
    res = _run("race", "--landscape", "rosenbrock", "--optimizer", "adam(learning_rate=0.05)", "--optimizer",
               "momentum(learning_rate=0.0005, schedule=cosine(t_max=200))", "--start", "-1.2,1", "--start", "0,0",
               "--steps", "200", "--noise", "0.5", "--seed", "7", "--format", "json", "--output", str(path))
    assert res.returncode == 0, res.stderr
    data = json.loads(path.read_text())
    cfg = data["config"]
    assert cfg["landscape"] == {"name": "rosenbrock", "params": {}}
    assert cfg["racers"][1]["schedule"] == {"name": "cosine", "t_max": 200, "eta_min": 0.0}
    assert cfg["racers"][0]["hyperparameters"]["beta2"] == 0.999  # the full configuration, defaults included
    assert len(data["runs"]) == 4 and len(data["runs"][0]["positions"]) == 201
    again = _run("race", "--config", str(path), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["runs"] == data["runs"]


def test_csv_and_formula(tmp_path):
    res = _run("race", "--formula", "x**2 + 10*y**2", "--start", "1,1", "--steps", "10", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 3 * 11
    first = [r for r in rows if r["step"] == "0"]
    assert all(float(r["loss"]) == pytest.approx(11.0) for r in first)
    sgd = [r for r in rows if r["optimizer"] == "sgd"]
    # SGD on x^2 + 10y^2 with lr 0.01: x *= 0.98, y *= 0.8 per step
    assert float(sgd[10]["x"]) == pytest.approx(0.98**10) and float(sgd[10]["y"]) == pytest.approx(0.8**10)


@pytest.mark.parametrize("args,msg", [
    (["--landscape", "rosenbrok"], "did you mean 'rosenbrock'"),
    (["--optimizer", "adamm"], "did you mean 'adam'"),
    (["--optimizer", "adam(learning_rate=abc)"], "learning_rate must be"),
    (["--optimizer", "adam(learning_rate=0.1"], "expected"),
    (["--steps", "0"], "steps must be an integer in [1, 100000]"),
    (["--steps", "1000000"], "steps must be an integer in [1, 100000]"),
    (["--start", "1e9,0"], "starts must be finite"),
    (["--start", "abc"], "--start must be X,Y"),
    (["--formula", "__import__('os').system('echo hi')"], "formula error at position 0"),
    (["--formula", "x**2", "--landscape", "booth"], "not both"),
    (["--config", "/nonexistent.json"], "cannot read"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, msg, capsys):
    assert main(["race", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err and "Traceback" not in err


def test_lists():
    out = _run("optimizers")
    assert out.returncode == 0 and "adam" in out.stdout and "lion" in out.stdout
    out = _run("landscapes")
    assert out.returncode == 0 and "rosenbrock" in out.stdout


def test_export_and_save(tmp_path):
    pytest.importorskip("matplotlib")
    out = _run("export", str(tmp_path / "race.png"), "--landscape", "booth", "--steps", "20", "--dpi", "40")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "race.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = tmp_path / "race.json"
    out = _run("race", "--quiet", "--steps", "10", "--save", str(saved))
    assert out.returncode == 0, out.stderr
    assert json.loads(saved.read_text())["config"]["steps"] == 10
    bad = _run("export", str(tmp_path / "race.bmp"))
    assert bad.returncode == 2 and "the extension must be one of" in bad.stderr


def test_result_methods_delegate_to_export(tmp_path):
    pytest.importorskip("matplotlib")
    from optarena.arena import race

    res = race(steps=10)
    assert "Plotly" in res._repr_html_()
    assert res.export(tmp_path / "r.csv").read_text().startswith("racer,optimizer")
    assert res.animate(tmp_path / "r.gif", fps=5, duration=1, dpi=30).exists()


def test_sweep_reports_each_optimizers_best_setting(tmp_path, capsys):
    path = tmp_path / "sweep.json"
    argv = ["sweep", "--landscape", "rosenbrock", "--steps", "150", "--axis", "learning_rate=log(1e-4, 1, 9)",
            "--optimizer", "sgd", "--optimizer", "adam(beta1=0.8)", "--format", "table", "--output", str(path), "--plot", str(tmp_path / "s.png")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    from optarena.measure import SweepResult, sweep

    saved = SweepResult.from_json(path.read_text())
    again = sweep("rosenbrock", ["sgd", "adam(beta1=0.8)"], ["learning_rate=log(1e-4, 1, 9)"], steps=150)
    np.testing.assert_array_equal(saved.final_loss, again.final_loss)
    for row in again.best():
        assert row["optimizer"] in out and f"learning_rate={row['setting']['learning_rate']:.4g}" in out
    assert "best by median final_loss" in out and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_basins_and_csv(capsys):
    assert main(["sweep", "--landscape", "himmelblau", "--optimizer", "sgd(learning_rate=0.01)", "--basins", "9",
                 "--steps", "200", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["optimizer"] == "sgd(learning_rate=0.01)" and float(rows[0]["diverged_fraction"]) == 0
    assert main(["sweep", "--landscape", "himmelblau", "--optimizer", "sgd(learning_rate=0.01)", "--basins", "9",
                 "--steps", "200"]) == 0
    assert "min 1 (3, 2)" in capsys.readouterr().out


@pytest.mark.parametrize("args,msg", [
    (["--axis", "beta1=0.9"], "beta1: not a hyperparameter of sgd"),
    (["--axis", "learning_rate=log(0, 1, 3)"], "lo > 0"),
    (["--optimizer", "adam", "--axis", "beta1=lin(0.5, 1, 3)"], "beta1 must be"),
    (["--basins", "1"], "--basins N: N must be in [2, 1000]"),
    (["--dask", "somewhere"], "scheduler must be 'local:N' or an address"),
    (["--plot", "map.gif"], "a picture is written as .png, .svg or .pdf"),
])
def test_bad_sweeps_are_one_line_and_exit_code_2(args, msg, capsys):
    assert main(["sweep", "--steps", "5", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err and "Traceback" not in err


def test_sweep_json_replays_with_config(tmp_path, capsys):
    path = tmp_path / "s.json"
    assert main(["sweep", "--landscape", "booth", "--optimizer", "adam(beta1=0.8, schedule=cosine(t_max=60))",
                 "--axis", "learning_rate=log(1e-3, 1, 5)", "--start=-2,3", "--start", "1,1", "--steps", "60",
                 "--seeds", "2", "--noise", "0.3", "--format", "json", "--output", str(path)]) == 0
    again = tmp_path / "again.json"
    assert main(["sweep", "--config", str(path), "--format", "json", "--output", str(again)]) == 0
    from optarena.measure import SweepResult

    a, b = SweepResult.from_json(path.read_text()), SweepResult.from_json(again.read_text())
    assert a.config == b.config and a.final_loss.shape == (1, 5, 2, 2)
    np.testing.assert_array_equal(a.final_loss, b.final_loss)
    np.testing.assert_array_equal(a.final_position, b.final_position)
    shorter = tmp_path / "shorter.json"
    assert main(["sweep", "--config", str(path), "--steps", "30", "--output", str(shorter)]) == 0  # options override
    assert SweepResult.from_json(shorter.read_text()).config["steps"] == 30
    capsys.readouterr()
    assert main(["sweep", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read a JSON sweep file" in capsys.readouterr().err
    (tmp_path / "race.json").write_text('{"config": {"racers": []}}')
    assert main(["sweep", "--config", str(tmp_path / "race.json")]) == 2
    assert "not a sweep configuration" in capsys.readouterr().err
