"""Training races: deterministic for a seed, every dataset and model learns, bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from optarena.nn import DATASETS, load, train_race  # noqa: E402


def test_deterministic_for_a_seed():
    kw = dict(dataset="iris", model="mlp", racers=["sgd(learning_rate=0.1)", "adam(learning_rate=0.01)"], epochs=3, seeds=2)
    a, b = train_race(**kw), train_race(**kw)
    for m in ("train_loss", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(a.metrics[m], b.metrics[m])
    assert not np.array_equal(a.metrics["train_loss"][:, 0], a.metrics["train_loss"][:, 1])  # seeds differ
    # epoch 0 is the untrained network: the same for every racer
    assert a.metrics["val_loss"][0, 0, 0] == a.metrics["val_loss"][1, 0, 0]


CASES = [(d, m) for d in DATASETS for m in ("logreg", "mlp")] + [("digits", "cnn")]


@pytest.mark.parametrize("dataset,model", CASES)
def test_every_dataset_and_model_beats_chance(dataset, model):
    data = load(dataset)
    epochs = 40 if dataset in ("moons", "spirals") else 4  # 2-D toy sets: few batches per epoch
    res = train_race(dataset, model, ["adam(learning_rate=0.01)"], epochs=epochs, batch_size=64)
    chance = np.bincount(data.y_val).max() / len(data.y_val)  # always guessing the commonest class
    acc = res.metrics["val_accuracy"][0, 0, -1]
    if model == "logreg" and dataset == "spirals":
        assert acc >= chance - 0.05  # no straight line separates two spirals: only no worse than chance
    else:
        assert acc > chance + 0.1, (acc, chance)
    assert res.metrics["train_loss"][0, 0, -1] < res.metrics["train_loss"][0, 0, 0]


def test_state_memory_is_measured():
    res = train_race("iris", "logreg", ["sgd", "momentum", "adam", "adam(amsgrad=true)"], epochs=1)
    assert [round(r["state_bytes_per_param"]) for r in res.summary()] == [0, 4, 8, 12]


def test_schedules_drive_training():
    flat = train_race("wine", "logreg", ["sgd(learning_rate=0.1)"], epochs=2)
    decayed = train_race("wine", "logreg", ["sgd(learning_rate=0.1, schedule=exponential(gamma=0.5))"], epochs=2)
    assert flat.metrics["train_loss"][0, 0, -1] != decayed.metrics["train_loss"][0, 0, -1]


@pytest.mark.parametrize("kwargs,msg", [
    ({"dataset": "mnist"}, "unknown dataset"),
    ({"model": "transformer"}, "unknown model"),
    ({"dataset": "iris", "model": "cnn"}, "needs image data"),
    ({"epochs": 0}, "epochs must be"),
    ({"racers": ["adam(learning_rate=-1)"]}, "learning_rate"),
    # arena-only rules, refused before any work with the way out (they were a traceback: the bridge's TypeError)
    ({"racers": ["adam", "newton"]}, r"racers\[1\]: Newton needs the loss's exact Hessian"),
    ({"racers": ["lbfgs"]}, "torch.optim.LBFGS, the same rule"),
    ({"racers": ["sophia"]}, "race it there"),
    ({"racers": ["muon"]}, "optarena.torch.Muon on a model's matrix parameters"),
])
def test_bad_requests(kwargs, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        train_race(**{"epochs": 1, **kwargs})


def test_cli_train_json_and_plot(tmp_path):
    from optarena.cli import main

    out = tmp_path / "t.json"
    plot = tmp_path / "t.png"
    assert main(["train", "--dataset", "iris", "--model", "logreg", "--epochs", "2", "--optimizer", "adam(learning_rate=0.05)",
                 "--output", str(out), "--plot", str(plot), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["format"] == "optarena.train/1" and len(data["metrics"]["val_loss"][0][0]) == 3
    assert plot.read_bytes()[:4] == b"\x89PNG"


RESUMABLE = dict(dataset="iris", model="logreg", epochs=2, seeds=2,
                 racers=["sgd(learning_rate=0.1)", "adam(learning_rate=0.01)", "momentum"])


def stopped_run(journal, after):
    """A training race with a journal, stopped before its ``after + 1``-th epoch."""
    asked = []
    res = train_race(**RESUMABLE, journal=journal, should_stop=lambda: asked.append(1) or len(asked) > after)
    assert res.config["stopped_early"]
    return res


def test_a_stopped_training_race_resumes_to_the_uninterrupted_one(tmp_path):
    whole = train_race(**RESUMABLE)
    journal = tmp_path / "j"
    stopped_run(journal, after=7)  # seed 0's three runs (6 epochs) and one epoch of seed 1's first
    assert journal.read_bytes().count(b"\n") == 1 + 3  # finished runs only: the header and three
    seen, asked = [], []
    resumed = train_race(**RESUMABLE, journal=journal, resume=True, on_epoch=lambda i, s, e, m: seen.append((i, s, e)),
                         should_stop=lambda: asked.append(1) or False)
    for m in ("train_loss", "val_loss", "val_accuracy"):
        assert resumed.metrics[m].tobytes() == whole.metrics[m].tobytes(), m
    assert resumed.state_bytes == whole.state_bytes and resumed.n_params == whole.n_params
    assert resumed.config == whole.config
    assert len(asked) == 3 * 2  # only seed 1's runs were trained, 2 epochs each
    # every epoch reported once, the journalled runs' replayed
    assert sorted(seen) == sorted((i, s, e) for i in range(3) for s in range(2) for e in range(3))
    # a journal of another race is refused, naming what differs
    with pytest.raises(ValueError, match="epochs is 2 there, 3 here"):
        train_race(**{**RESUMABLE, "epochs": 3}, journal=journal, resume=True)
    with pytest.raises(ValueError, match="resume it"):
        train_race(**RESUMABLE, journal=journal)


def test_cli_train_resumes_and_removes_its_journal(tmp_path, capsys):
    from optarena.cli import main

    out = tmp_path / "t.json"
    cli = ["train", "--dataset", "iris", "--model", "logreg", "--epochs", "2", "--seeds", "2", "--format", "json",
           "--quiet", "--output", str(out)] + [a for r in RESUMABLE["racers"] for a in ("--optimizer", r)]
    stopped_run(tmp_path / "t.json.journal", after=3)
    assert main(cli) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(cli + ["--resume"]) == 0
    assert not (tmp_path / "t.json.journal").exists()
    whole = train_race(**RESUMABLE)
    assert json.loads(out.read_text())["metrics"]["val_loss"] == whole.to_dict()["metrics"]["val_loss"]


def strict_json(text):
    """``json.loads`` refusing NaN and infinities, as strict JSON readers do."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# the racer: momentum above 1 on the digits MLP; its loss grows ~40x an epoch, then overflows
DIVERGING = "momentum(learning_rate=0.0025, momentum=1.27)"


def test_cli_train_reports_a_divergence_and_writes_strict_json(tmp_path, capsys):
    from optarena.cli import main

    out = tmp_path / "t.json"
    # the command; --format table with --output: the table on screen, the JSON in the file
    assert main(["train", "--optimizer", DIVERGING, "--optimizer", "adam", "--epochs", "10", "--format", "table",
                 "--output", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    momentum_row = next(line for line in table.splitlines() if "Momentum" in line)
    assert "diverged at epoch 2" in momentum_row, table
    assert "trained" in next(line for line in table.splitlines() if "Adam" in line)

    from optarena.nn.train import DIVERGENCE_FACTOR

    data = strict_json(out.read_text())
    assert data["diverged_at"] == [[2], [-1]]
    assert data["config"]["divergence_factor"] == DIVERGENCE_FACTOR
    loss = data["metrics"]["train_loss"]
    # epoch 2 is the first whose training loss exceeds the factor times the untrained network's
    assert loss[0][0][1] <= DIVERGENCE_FACTOR * loss[0][0][0] < loss[0][0][2]
    assert all(data["metrics"][m][0][0][3:] == [None] * 8 for m in ("train_loss", "val_loss", "val_accuracy", "seconds"))
    momentum, adam = data["summary"]
    assert momentum["diverged"] == "diverged at epoch 2" and momentum["final_val_loss"] is None
    assert adam["diverged_at"] == [-1] and None not in loss[1][0] and adam["final_val_loss"] < loss[1][0][0]
    # the other racer went on: its epochs are those of Adam racing alone (3 epochs: the same batches)
    alone = train_race("digits", "mlp", ["adam"], epochs=3)
    for m in ("train_loss", "val_loss", "val_accuracy"):
        assert data["metrics"][m][1][0][:4] == alone.to_dict()["metrics"][m][0][0], m


def test_a_network_that_overflows_stops_without_numpy_warnings():
    # the momentum buffer grows ~2x a step: float32 overflows inside the first epoch (180 batches)
    asked = []
    res = train_race("digits", "logreg", ["momentum(learning_rate=0.001, momentum=1.99)"], epochs=2, batch_size=8,
                     should_stop=lambda: asked.append(1) or False)  # warnings are errors in this suite
    assert res.diverged_at.tolist() == [[1]]
    assert not np.isfinite(res.metrics["train_loss"][0, 0, 1])
    assert np.isnan(res.metrics["val_loss"][0, 0, 2]) and len(asked) == 1  # epoch 2 was never trained
    strict_json(res.to_json())
    assert "nan" not in res.to_json()


def test_a_divergence_survives_the_journal_and_is_drawn(tmp_path):
    from optarena.nn.train import diverged_text

    kw = dict(dataset="iris", model="logreg", racers=["sgd(learning_rate=1e38)", "adam(learning_rate=0.1)"], epochs=3,
              seeds=2)
    journal = tmp_path / "j"
    whole = train_race(**kw, journal=journal)
    assert whole.diverged_at.tolist() == [[1, 1], [-1, -1]]
    assert [r["diverged"] for r in whole.summary()] == ["diverged at epoch 1 (2 of 2 seeds)", ""]
    seen, asked = [], []
    resumed = train_race(**kw, journal=journal, resume=True, should_stop=lambda: asked.append(1) or False,
                         on_epoch=lambda i, s, e, m: seen.append((i, s, e, m["diverged_at"])))
    assert asked == [] and resumed.diverged_at.tolist() == whole.diverged_at.tolist()
    assert resumed.to_json() == whole.to_json()
    # the diverged runs replay up to their divergence, which their last report carries
    assert [x for x in seen if x[0] == 0] == [(0, s, e, 1 if e == 1 else -1) for s in range(2) for e in range(2)]

    fig = whole.figure()
    train_ax = fig.axes[0]
    sgd_curve = train_ax.get_lines()[0]
    assert list(sgd_curve.get_xdata()) == [0]  # ends before the epoch it diverged at
    assert sgd_curve.get_label() == "SGD (diverged at epoch 1 (2 of 2 seeds))"
    assert [t.get_text() for t in train_ax.texts] == [diverged_text([1, 1])]
    whole.plot(str(tmp_path / "t.png"))
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
