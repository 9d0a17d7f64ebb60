"""The bench's workloads: complete configs, deterministic trials (in any process), early stops at a
target, divergence, and curves checked against references computed here (torch by hand, the race engine)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

import torch  # noqa: E402

from optarena.arena import Cancelled, race  # noqa: E402
from optarena.bench import models  # noqa: E402
from optarena.bench.workloads import WORKLOADS, Curve, evaluation_steps, get, names  # noqa: E402
from optarena.errors import UnknownNameError, UsageError  # noqa: E402
from optarena.landscapes import resolve  # noqa: E402
from optarena.nn.data import load  # noqa: E402

SHORT = 40  # steps: enough to move every curve, short enough for a test


def test_registry_names_and_unknown_name():
    assert len(WORKLOADS) >= 9 and names() == [w.name for w in WORKLOADS] and len(set(names())) == len(names())
    assert {w.kind for w in WORKLOADS} == {"network", "landscape"}
    assert get("digits-mlp") is WORKLOADS[0]
    with pytest.raises(UnknownNameError) as info:
        get("nope")
    assert info.value.field == "workload" and info.value.allowed == names() and "digits-mlp" in str(info.value)


@pytest.mark.parametrize("w", WORKLOADS, ids=lambda w: w.name)
def test_config_is_json_and_complete(w):
    cfg = json.loads(json.dumps(w.to_json(), allow_nan=False))["config"]
    assert cfg["budget"] == w.budget and cfg["eval_every"] == w.eval_every and cfg["metric"] == w.metric
    assert cfg["kind"] == w.kind and cfg["default_target"] == w.default_target and math.isfinite(w.default_target)
    if w.kind == "network":
        for key in ("data", "model", "loss", "batch_size", "seed", "divergence"):
            assert cfg[key], key
        x_tr, y_tr, x_va, y_va = w.recipe.data.arrays()
        assert (cfg["data"]["n_train"], cfg["data"]["n_val"]) == (len(x_tr), len(x_va)) == (len(y_tr), len(y_va))
        assert 1 <= cfg["batch_size"] <= len(x_tr) and cfg["loss"] in ("cross_entropy", "mse")
        net = models.build(cfg["model"]["layers"], 0)  # the model is what the config's layers say
        assert cfg["model"]["parameters"] == sum(p.numel() for p in net.parameters())
        with torch.no_grad():
            out = net(torch.from_numpy(np.array(x_va[:3])))
        assert out.shape == ((3, int(y_tr.max()) + 1) if cfg["loss"] == "cross_entropy" else (3,) + y_tr.shape[1:])
    else:
        ls = resolve(cfg["landscape"])
        assert ls.dim == cfg["dim"] and cfg["noise"] > 0
        assert cfg["f_star"] == ls.min_value
        assert float(ls.f(ls.default_start)) == pytest.approx(cfg["f_start"], rel=1e-9)


def test_mlp_and_cnn_layers_build_optarena_nn_models():
    """The configs' MLP and CNN are optarena.nn's, weight for weight, for a seed."""
    from optarena.nn.models import build

    data = load("digits", 0)
    for name in ("digits-mlp", "digits-cnn"):
        ours = models.build(get(name).config["model"]["layers"], 7).state_dict()
        theirs = build(name.split("-")[1], data, seed=7).state_dict()
        assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
        assert all(torch.equal(a, b) for a, b in zip(ours.values(), theirs.values()))


def test_first_evaluation_is_the_untrained_model_by_hand():
    """Step 0: the validation error and training loss of the MLP built and evaluated here, by hand."""
    d = load("digits", 0)
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
                              torch.nn.Linear(64, 10))
    with torch.no_grad():
        wrong = int((net(torch.from_numpy(d.x_val)).argmax(1) != torch.from_numpy(d.y_val)).sum())
        train = float(torch.nn.functional.cross_entropy(net(torch.from_numpy(d.x_train)), torch.from_numpy(d.y_train)))
    c = get("digits-mlp").run("adam", {}, 3, budget=1)
    assert c.metric[0] == pytest.approx(1 - (len(d.y_val) - wrong) / len(d.y_val), abs=1e-15)
    assert c.train_loss[0] == pytest.approx(train, rel=1e-6) and c.seconds[0] == 0 and c.steps.tolist() == [0, 1]


def test_same_seed_same_curve_other_seed_differs():
    w = get("digits-mlp")
    a, b = w.run("adam", {"learning_rate": 0.003}, 5, budget=SHORT), w.run("adam", {"learning_rate": 0.003}, 5, budget=SHORT)
    assert a.same(b)  # seconds aside, equal bit for bit
    np.testing.assert_array_equal(a.metric, b.metric)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert a.steps.tolist() == evaluation_steps(SHORT, w.eval_every).tolist() == [0, 25, 40]
    assert np.all(np.diff(a.seconds) > 0) and a.diverged_at == -1
    c = w.run("adam", {"learning_rate": 0.003}, 6, budget=SHORT)
    assert not np.array_equal(c.train_loss, a.train_loss)


def test_threads_restored_and_caller_rng_untouched():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    try:
        get("breast-cancer-logreg").run("sgd", {}, 0, budget=2)
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.rand(3), expected)
    finally:
        torch.set_num_threads(before)


SCRIPT = """
import json, torch
torch.set_num_threads(2)  # the trial runs single-threaded whatever the process has
from optarena.bench.workloads import get
print(json.dumps([get(n).run(o, hp, 1, budget=b).to_json() for n, o, hp, b in json.loads(input())]))
"""
CASES = [["digits-cnn", "adam", {"learning_rate": 0.003}, 30], ["adding-gru", "adam", {}, 30], ["spirals-mlp", "nadam", {}, 30]]
#: clipped SGD, an optimizer only a plug-in package registers (tests/plugins), on a network and a landscape
PLUGIN_CASES = [["digits-mlp", "clipsgd", {"learning_rate": 0.1}, 50], ["deep-linear", "clipsgd", {"learning_rate": 0.1}, 300]]


@pytest.mark.slow
def test_a_subprocess_gives_the_same_curves_and_trains_a_plugin(tmp_path):
    """A fresh interpreter (torch given 2 threads) gives the curves of this one bit for bit; with the
    plug-in package installed there (an entry point, as pip leaves it), its optimizer trains too."""
    plugin = Path(__file__).parents[1] / "plugins" / "optarena_clipsgd"
    shutil.copytree(plugin, tmp_path / plugin.name)
    info = tmp_path / "optarena_clipsgd-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: optarena-clipsgd\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[optarena.optimizers]\nclipsgd = optarena_clipsgd:SPEC\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    torch.set_num_threads(1)
    out = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(CASES + PLUGIN_CASES + PLUGIN_CASES), env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    theirs = [Curve.from_json(d) for d in json.loads(out)]
    for (n, o, hp, b), c in zip(CASES, theirs):
        assert get(n).run(o, hp, 1, budget=b).same(c), n
    k = len(PLUGIN_CASES)
    for first, again in zip(theirs[len(CASES):][:k], theirs[len(CASES) + k:]):
        assert first.same(again) and first.diverged_at == -1 and first.metric[-1] < 0.5 * first.metric[0]


def test_early_stop_ends_at_the_first_evaluation_at_or_below_the_target():
    w = get("breast-cancer-logreg")
    full = w.run("adam", {"learning_rate": 0.01}, 0, budget=200)
    k = 4  # a target met first at the 5th evaluation
    target = float(full.metric[k])
    assert np.all(full.metric[:k] > target)
    short = w.run("adam", {"learning_rate": 0.01}, 0, budget=200, target=target)
    assert short.steps.tolist() == full.steps[:k + 1].tolist() and short.metric[-1] <= target
    np.testing.assert_array_equal(short.metric, full.metric[:k + 1])
    np.testing.assert_array_equal(short.train_loss, full.train_loss[:k + 1])
    assert w.run("adam", {}, 0, budget=200, target=10.0).steps.tolist() == [0]  # met untrained
    # a landscape too: the race is read up to the first evaluation at or below it
    lw = get("deep-linear")
    lfull = lw.run("momentum", {}, 2, budget=300)
    hit = int(np.flatnonzero(lfull.metric <= 1.0)[0])
    lshort = lw.run("momentum", {}, 2, budget=300, target=1.0)
    assert lshort.same(Curve(lfull.steps[:hit + 1], lfull.metric[:hit + 1], lfull.seconds[:hit + 1],
                             lfull.train_loss[:hit + 1])) and 0 < hit < len(lfull.steps) - 1


def test_a_diverging_network_stops_and_is_nan_after():
    w = get("digits-mlp")
    c = w.run("sgd", {"learning_rate": 1e4}, 0, budget=100)
    assert c.diverged_at >= 0 and np.isfinite(c.metric[0])
    after = c.steps > c.diverged_at
    assert after.any() and np.all(np.isnan(c.metric[after])) and np.all(np.isnan(c.train_loss[after]))
    assert c.steps.tolist() == evaluation_steps(100, w.eval_every).tolist()  # the budget's evaluations, NaN on
    assert np.all(np.isfinite(c.metric[c.steps < c.diverged_at]))


def test_a_diverging_landscape_run_stops_and_is_nan_after():
    c = get("rosenbrock-noisy").run("sgd", {"learning_rate": 0.01}, 0, budget=200)  # 10x past stable
    assert 0 < c.diverged_at < 200 and np.all(np.isnan(c.metric[c.steps > c.diverged_at]))


def test_landscape_curve_equals_the_race_engine():
    """The curve is the engine's race of the same racer, noise and seed, read every eval_every steps."""
    w = get("rosenbrock-noisy")
    c = w.run("momentum", {"learning_rate": 3e-4}, 4, budget=500)
    ls = resolve({"name": "rosenbrock_nd", "params": {"d": 10}})
    ref = race(ls, ["momentum(learning_rate=3e-4)"], steps=500, seed=4, noise=1.0)
    f = ref.losses[0, 0]
    assert c.steps.tolist() == list(range(0, 501, 50)) and c.diverged_at == -1
    np.testing.assert_array_equal(c.metric, f[::50] - 0.0)
    np.testing.assert_array_equal(c.train_loss, f[::50])
    assert c.metric[-1] < 1e-2 * c.metric[0]  # it learns
    np.testing.assert_allclose(c.seconds, c.seconds[-1] * c.steps / 500)  # the race's time, spread evenly
    other = w.run("momentum", {"learning_rate": 3e-4}, 5, budget=500)
    assert not np.array_equal(other.metric, c.metric)  # another seed, other noise


@pytest.mark.parametrize("optimizer", ["adam", "sf_adamw"])
def test_evaluating_does_not_disturb_training(optimizer):
    """Evaluating every 5 steps or every 25 gives the same curve at the common steps: bit for bit, and
    to rounding for Schedule-Free (evaluated at its answer x after eval(), trained at y after train())."""
    w = get("breast-cancer-logreg")
    often = dataclasses.replace(w, eval_every=5, config={})
    a, b = w.run(optimizer, {"learning_rate": 0.01}, 0, budget=50), often.run(optimizer, {"learning_rate": 0.01}, 0, budget=50)
    assert b.steps.tolist() == list(range(0, 51, 5)) and a.metric[-1] < 0.5 * a.metric[0]
    common = np.isin(b.steps, a.steps)
    if optimizer == "adam":
        np.testing.assert_array_equal(b.metric[common], a.metric)
    else:
        np.testing.assert_allclose(b.metric[common], a.metric, rtol=1e-5)


def test_bad_input_names_the_field():
    w = get("digits-mlp")
    cases = [(dict(optimizer="nope"), "optimizer"), (dict(optimizer="adam", hyperparameters={"lr2": 1}), "hyperparameters.lr2"),
             (dict(optimizer="adam", hyperparameters={"learning_rate": -1.0}), "hyperparameters.learning_rate"),
             (dict(optimizer="adam", seed=-1), "seed"), (dict(optimizer="adam", budget=0), "budget"),
             (dict(optimizer="adam", target="low"), "target"), (dict(optimizer="newton"), "optimizer"),
             (dict(optimizer="muon"), "optimizer")]
    for kw, where in cases:
        with pytest.raises(UsageError) as info:
            w.run(**kw)
        assert info.value.field == where, (kw, info.value.field, str(info.value))
        assert "\n" not in str(info.value)


def test_should_stop_cancels():
    for name in ("breast-cancer-logreg", "deep-linear"):
        with pytest.raises(Cancelled):
            get(name).run("adam", {}, 0, should_stop=lambda: True)


def test_curve_json_round_trip_is_exact():
    c = Curve(np.array([0, 5, 10, 15]), np.array([0.1 + 0.2, math.nan, math.inf, -0.0]),
              np.array([0.0, 1e-300, 2.5, math.nan]), np.array([1 / 3, -math.inf, 5e-324, 1e308]), 7)
    text = json.dumps(c.to_json(), allow_nan=False)  # strict JSON
    back = Curve.from_json(json.loads(text))
    assert back == c and back.steps.dtype == np.int64 and back.diverged_at == 7
    assert np.signbit(back.metric[3]) and back.metric[0] == 0.1 + 0.2
    assert not (back == Curve(c.steps, c.metric, c.seconds + 1, c.train_loss, 7))  # seconds count in ==
    assert back.same(Curve(c.steps, c.metric, c.seconds + 1, c.train_loss, 7))  # not in same()
    with pytest.raises(ValueError):
        Curve(np.array([1, 2]), np.zeros(2), np.zeros(2), np.zeros(2))  # steps[0] must be 0
