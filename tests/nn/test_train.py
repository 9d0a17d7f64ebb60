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
