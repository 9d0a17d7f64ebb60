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
    assert text.count("\r\033[K") == 6 and len(sleeps) == 5  # a pause between frames, none after the last
    assert "\rStep 0 / 5 | SGD Loss: 9.0000" in text.replace("\033[K", "")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_long_race_replays_within_a_bounded_time_and_a_key_skips_it():
    # Issue 11 item 4: 3,000 steps took 61.5 s on a terminal (0.02 s a step), 100,000 would take 33 min.
    from optarena import cli

    args = cli.build_parser().parse_args(["race", "--landscape", "rosenbrock", "--steps", "3000"])
    out, sleeps = _Tty(), []
    assert cli._cmd_race(args, out=out, sleep=sleeps.append) == 0
    frames = out.getvalue().split("\r\033[K")[1:]
    assert sum(sleeps) <= cli.REPLAY_SECONDS and len(frames) <= cli.REPLAY_SECONDS / 0.02 + 1
    assert frames[0].startswith("Step 0 / 3000") and frames[-1].startswith("Step 3000 / 3000")
    steps = [int(f.split()[1]) for f in frames]
    assert steps == sorted(steps) and steps[-1] == 3000

    pressed = iter([False, False, True])
    out, sleeps = _Tty(), []
    plan = cli.race_plan(args)
    from optarena.arena import race

    cli._live(race(plan), out, 0.02, sleeps.append, skip=lambda: next(pressed))
    frames = out.getvalue().split("\r\033[K")[1:]
    assert len(sleeps) == 2 and len(frames) == 4 and frames[-1].startswith("Step 3000 / 3000")  # skipped to the end


def test_piped_output_is_the_first_and_last_status_line_unless_every_step_is_asked():
    res = _run("race", "--landscape", "rosenbrock", "--steps", "3000")
    status = [ln for ln in res.stdout.splitlines() if ln.startswith("Step ")]
    assert [s.split(" |")[0] for s in status] == ["Step 0 / 3000", "Step 3000 / 3000"]
    res = _run("race", "--steps", "40", "--every-step")
    status = [ln for ln in res.stdout.splitlines() if ln.startswith("Step ")]
    assert [s.split(" |")[0] for s in status] == [f"Step {k} / 40" for k in range(41)]


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
            "--optimizer", "sgd", "--optimizer", "adam(beta1=0.8)", "--format", "table", "--output", str(path),
            "--plot", str(tmp_path / "s.png")]
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
    (["--plot", "map.gif"], "--plot map.gif: the extension must be one of .png, .svg, .pdf"),
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


# -- output files: checked before any work, replaced only on success, announced ------------------

def _never(*args, **kwargs):
    raise AssertionError("the work started before a bad destination was refused")


@pytest.mark.parametrize("argv,work,msg", [
    (["race", "--output", "{tmp}/missing/x.json"], "optarena.arena.race",
     "--output {tmp}/missing/x.json: directory {tmp}/missing does not exist"),
    (["race", "--format", "csv", "--output", "{tmp}"], "optarena.arena.race", "--output {tmp}: is a directory"),
    (["race", "--save", "{tmp}/x.bmp"], "optarena.arena.race", "--save {tmp}/x.bmp: the extension must be one of"),
    (["race", "--no-record", "--save", "{tmp}/x.png"], "optarena.arena.race", "no trajectories to draw"),
    (["race", "--output", "{tmp}/a.json", "--save", "{tmp}/a.json"], "optarena.arena.race", "--output and --save both name"),
    (["export", "{tmp}/missing/x.png"], "optarena.arena.race", "directory {tmp}/missing does not exist"),
    (["sweep", "--output", "{tmp}/missing/s.json"], "optarena.measure.sweep", "directory {tmp}/missing does not exist"),
    (["sweep", "--plot", "{tmp}"], "optarena.measure.sweep", "--plot {tmp}: the extension must be one of .png, .svg, .pdf"),
    (["train", "--plot", "{tmp}/curves.jpg"], "optarena.nn.train_race", "--plot {tmp}/curves.jpg: the extension must be one of"),
    (["train", "--output", "{tmp}/missing/t.json"], "optarena.nn.train_race", "directory {tmp}/missing does not exist"),
    (["table", "--output", "{tmp}/missing/t.md"], "optarena.nn.table.measure", "directory {tmp}/missing does not exist"),
])
def test_bad_destinations_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, work, msg):
    module, name = work.rsplit(".", 1)
    if module.startswith("optarena.nn"):
        pytest.importorskip("torch")
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, _never)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg.format(tmp=tmp_path) in err, err


def test_existing_outputs_are_announced_then_replaced(tmp_path, capsys):
    old, save = tmp_path / "race.json", tmp_path / "race.csv"
    old.write_text("{}")
    assert main(["race", "--steps", "5", "--quiet", "--output", str(old), "--save", str(save)]) == 0
    out, err = capsys.readouterr()
    assert err == f"optarena race: {old} exists; it will be replaced when the run succeeds\n"
    assert f"wrote {old}\n" in out and f"wrote {save}\n" in out
    assert json.loads(old.read_text())["config"]["steps"] == 5 and save.read_text().startswith("racer,")


# -- memory: refused up front, with the estimate and the way out -------------------------------

def test_a_race_too_big_to_write_is_refused_with_the_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("optarena.arena.race", _never)
    starts = [f"--start={i},1" for i in range(64)]
    assert main(["race", "--steps", "100000", *starts, "--output", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "192 runs x 100,001 recorded steps" in err and "GiB to write them as JSON" in err
    assert "above the 2 GiB limit" in err and "--no-record" in err
    assert not (tmp_path / "r.json").exists()


def test_a_race_the_engine_would_not_record_is_refused_naming_no_record(monkeypatch, capsys):
    from optarena.arena.engine import MAX_RECORDED

    monkeypatch.setattr("optarena.arena.race", _never)
    starts = [f"--start={i},1" for i in range(MAX_RECORDED // (3 * 100_001) + 1)]
    assert main(["race", "--steps", "100000", "--quiet", *starts]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"above the {MAX_RECORDED:,} run-steps a race keeps" in err and "--no-record" in err


def _strict_json(text):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_no_record_writes_a_valid_summary_equal_to_the_recorded_races(tmp_path, capsys):
    from optarena.arena import race

    args = ["--optimizer", "adam(learning_rate=0.1)", "--optimizer", "sgd(learning_rate=1.5)",  # sgd diverges
            "--start", "1,1", "--start=-2,0.5", "--steps", "40"]
    kept = race("quadratic", ["adam(learning_rate=0.1)", "sgd(learning_rate=1.5)"], starts=[[1, 1], [-2, 0.5]], steps=40)
    expected = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                for row in kept.summary()]
    assert any(row["final_loss"] is None for row in expected)

    js, cs = tmp_path / "s.json", tmp_path / "s.csv"
    assert main(["race", "--no-record", *args, "--format", "table", "--output", str(js)]) == 0
    assert "final loss" in capsys.readouterr().out  # the table works, and --output gets the JSON
    data = _strict_json(js.read_text())
    assert data["format"] == "optarena.race-summary/1" and data["summary"] == expected
    assert data["config"] == kept.config
    assert main(["race", "--no-record", *args, "--output", str(cs)]) == 0
    rows = list(csv.DictReader(io.StringIO(cs.read_text())))
    assert len(rows) == 4
    for row, want in zip(rows, expected):
        assert row["racer"] == want["racer"] and [float(row["x0"]), float(row["y0"])] == want["start"]
        assert (float(row["final_loss"]) if row["final_loss"] else None) == want["final_loss"]
        assert int(row["steps_to_tolerance"]) == want["steps_to_tolerance"] and int(row["diverged_at"]) == want["diverged_at"]
        assert row["stop_reason"] == want["stop_reason"]
    capsys.readouterr()
    assert main(["race", "--config", str(js), "--format", "json"]) == 0  # the summary's config replays the race
    assert _strict_json(capsys.readouterr().out)["runs"] == json.loads(kept.to_json())["runs"]


# -- inputs and ports: one-line errors, exit 2 --------------------------------------------------

@pytest.mark.parametrize("command", ["race", "sweep"])
def test_config_nested_too_deeply_is_one_line(tmp_path, capsys, command):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    assert main([command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["race", "sweep"])
def test_config_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch, capsys, command):
    from optarena import _files

    monkeypatch.setattr(_files, "MAX_INPUT_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"steps": 5, "pad": "x" * 1000}))
    assert main([command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "larger than 1,000 bytes, the most an input file may hold" in err


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_port_out_of_range_is_one_line(monkeypatch, capsys, port):
    monkeypatch.setattr("optarena.web.server.serve", _never)
    assert main(["serve", "--port", port, "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err == f"optarena serve: error: --port must be in [1, 65535], got {port}\n"


def test_serve_on_a_port_in_use_says_so_before_anything_else(monkeypatch, capsys):
    import socket

    monkeypatch.setattr("optarena.web.server.serve", _never)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--no-browser"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"optarena serve: error: port {port} on 127.0.0.1 is taken (try --port {port + 1})\n"


# -- sweep --dask local:N: at most one worker per core, a quiet shutdown -------------------------

def test_local_workers_are_capped_to_the_cores_with_a_warning(capsys):
    from optarena.measure.distributed import local_workers

    assert local_workers(2, available=2) == 2 and capsys.readouterr().err == ""
    assert local_workers(64, available=2) == 2
    err = capsys.readouterr().err
    assert err == "optarena: local:64 asks for 64 worker processes but this machine gives 2 core(s); starting 2\n"


def test_quiet_hides_dask_logs_only_while_it_lasts():
    import logging

    from optarena.measure.distributed import _quiet

    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    logging.getLogger().addHandler(handler)  # Dask's records reach the root logger's handlers too
    try:
        with _quiet():
            logging.getLogger("distributed.nanny").warning("Worker process still alive after 4.0 seconds, killing")
            logging.getLogger("optarena.elsewhere").warning("kept")
        logging.getLogger("distributed.nanny").warning("after")
    finally:
        logging.getLogger().removeHandler(handler)
    assert seen.getvalue() == "kept\nafter\n"


def test_sweep_on_more_local_workers_than_cores_warns_once_and_shuts_down_quietly():
    pytest.importorskip("distributed")
    from optarena.measure.distributed import cores

    n = cores() + 2
    res = _run("sweep", "--steps", "30", "--axis", "learning_rate=log(1e-3, 1, 4)", "--quiet", "--dask", f"local:{n}")
    assert res.returncode == 0, res.stderr
    assert res.stderr == f"optarena: local:{n} asks for {n} worker processes but this machine gives {cores()} core(s); starting {cores()}\n"
    assert "learning_rate=" in res.stdout


def test_version():
    from optarena import __version__

    res = _run("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"optarena {__version__}"


def test_an_eight_colour_terminal_tells_the_articles_three_apart(monkeypatch):
    # Issue 11 item 12: in an 8-colour terminal SGD's blue and Adam's green both became cyan.
    from rich.color import Color, ColorType

    from optarena import cli
    from optarena.arena import race
    from optarena.arena.presentation import racer_colours

    article = ("sgd", "momentum", "adam")
    before = [Color.parse(c).downgrade(ColorType.STANDARD).number for c in racer_colours(article)]
    assert len(set(before)) < 3  # what the hex colours become there: the bug
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")  # rich: the standard 8/16 colours
    res = race(steps=3)
    out = _Tty()
    cli._table(res, out)
    styles = {line.split("\x1b[")[1].split("m")[0] for line in out.getvalue().splitlines()
              if any(lab in line for lab in res.labels) and "\x1b[" in line}
    assert len(styles) == 3


def test_what_makes_a_first_run_wait_is_said_on_a_terminal_only(monkeypatch):
    # Issue 11 item 8: long first runs were silent. The core says on the 'optarena' logger when it
    # compiles (tests/arena/test_fused_race.py); the CLI shows that on a terminal's stderr.
    import logging

    from optarena import cli

    def busy(args):
        logging.getLogger("optarena").info("compiling the race loop for Adam x Rosenbrock (once; kept for later runs)")
        return 0

    monkeypatch.setattr(cli, "_cmd_optimizers", busy)
    for tty in (True, False):
        err = _Tty() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        assert cli.main(["optimizers"]) == 0
        said = "optarena optimizers: compiling the race loop for Adam x Rosenbrock (once; kept for later runs) ..."
        assert (said in err.getvalue()) is tty
    assert not any(isinstance(h, logging.StreamHandler) and h.stream is err
                   for h in logging.getLogger("optarena").handlers)  # removed again


# -- issue 11 items 6, 11, 12: measures follow the landscape; default racers; readable numbers ----

def test_landscapes_lists_no_minimum_for_the_saddles(capsys):
    # Item 6: both saddles were listed with "minimum 0 at (0, 0)".
    assert main(["landscapes"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in ("saddle", "monkey_saddle"):
        assert "minimum 0 at" not in lines[name]
        assert "no minimum" in lines[name] and "unbounded below" in lines[name] and "escaped once loss < -1" in lines[name]
    assert "minimum 0 at (1, 1)" in lines["rosenbrock"]


def test_race_on_the_saddle_shows_steps_to_escape_and_why_the_rest_is_missing(capsys):
    from optarena.arena import race

    assert main(["race", "--landscape", "saddle", "--optimizer", "momentum", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "steps to escape" in out and "not measured, no minimum" in out and "unbounded below" in out
    res = race("saddle", ["momentum"])
    loss = res.positions[0, 0, :, 0] ** 2 - res.positions[0, 0, :, 1] ** 2  # recomputed from the path
    escape = int(np.nonzero(loss < -1.0)[0][0])
    row = next(line for line in out.splitlines() if "Momentum" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    # racer, start, final, best, steps to tol, steps to escape, dist. to min, diverged at
    assert cells[4] == "-" and cells[5] == str(escape) and cells[6] == "-"


def test_race_without_optimizers_runs_the_landscapes_default_racers(tmp_path):
    # Item 11: the article's defaults diverged on Rosenbrock by step 4.
    from optarena import landscapes

    path = tmp_path / "r.json"
    assert main(["race", "--landscape", "rosenbrock", "--quiet", "--output", str(path)]) == 0
    d = json.loads(path.read_text())
    want = landscapes.get("rosenbrock").default_racer_specs()
    assert [(r["optimizer"], r["hyperparameters"]["learning_rate"]) for r in d["config"]["racers"]] == \
        [(r["optimizer"], r["hyperparameters"]["learning_rate"]) for r in want]
    assert all(run["diverged_at"] == -1 for run in d["runs"])
    assert all(run["losses"][-1] < run["losses"][0] for run in d["runs"])


def test_diverged_rows_say_diverged_not_nan(capsys):
    # Item 12: diverged rows showed "nan" for final loss and distance.
    assert main(["race", "--landscape", "rosenbrock", "--optimizer", "sgd(learning_rate=0.01)", "--quiet"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "SGD" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert "nan" not in row and cells[2] == "diverged" and cells[5] == "diverged" and cells[6] != "-"


def test_huge_losses_print_in_scientific_notation(capsys):
    # Item 12: a loss of 200 digits in the status line.
    assert main(["race", "--start", "2000,0", "--steps", "1", "--optimizer", "sgd(learning_rate=1e-300)"]) == 0
    out = capsys.readouterr().out
    assert "Step 1 / 1 | SGD Loss: 4.0000e+06" in out and "4000000.0000" not in out


def test_sweep_refuses_an_objective_the_landscape_cannot_measure_before_any_work(monkeypatch, capsys):
    from optarena import cli
    from optarena.measure import sweeps

    monkeypatch.setattr(sweeps, "_run_units", lambda *a, **k: pytest.fail("the sweep ran"))
    code = cli.main(["sweep", "--landscape", "saddle", "--objective", "steps_to_tolerance", "--steps", "5"])
    assert code == 2 and "steps_to_tolerance" in capsys.readouterr().err


def test_optimizers_are_listed_by_family():
    from optarena.optim import registry
    from optarena.optim._spec import FAMILIES

    res = _run("optimizers")
    assert res.returncode == 0, res.stderr
    headers = [ln[:-1] for ln in res.stdout.splitlines() if not ln.startswith(" ")]
    assert headers == [f for f in FAMILIES if any(s.family == f for s in registry.all_specs())]
    family = None
    for ln in res.stdout.splitlines():
        if not ln.startswith(" "):
            family = ln[:-1]
            continue
        assert registry.get(ln.split()[0]).family == family, ln
    assert {ln.split()[0] for ln in res.stdout.splitlines() if ln.startswith(" ")} == set(registry.names())
