"""Races beyond the plane from the CLI (issue 15): an N-D quadratic and the deep linear network,
each racer's path held to torch.optim stepping the same landscape's gradient (a matrix
landscape's matrices as torch parameters, one state each), the drawn projection, and bad input."""

from __future__ import annotations

import json

import numpy as np
import torch

from optarena import landscapes
from optarena.arena import race
from optarena.cli import main


def _torch_path(ls, opt_cls, kw, steps, shapes=None):
    """torch.optim stepping ls's gradient from its default start: the parameters after each step."""
    x0 = np.asarray(ls.default_start, dtype=np.float64)
    shapes = shapes or [(ls.dim,)]
    sizes = [int(np.prod(s)) for s in shapes]
    params = [torch.nn.Parameter(torch.tensor(part.reshape(s))) for part, s in zip(np.split(x0, np.cumsum(sizes)[:-1]), shapes)]
    opt = opt_cls(params, **kw)
    out = [x0]
    for _ in range(steps):
        point = np.concatenate([p.detach().numpy().reshape(-1) for p in params])
        g = ls.gradient(point)
        for p, part in zip(params, np.split(g, np.cumsum(sizes)[:-1])):
            p.grad = torch.tensor(part.reshape(p.shape))
        opt.step()
        out.append(np.concatenate([p.detach().numpy().reshape(-1) for p in params]))
    return np.array(out)


def test_an_n_d_quadratic_race_from_the_cli_is_torchs_adam_and_heavy_ball(tmp_path, capsys):
    out = tmp_path / "q.json"
    code = main(["race", "--landscape", "quadratic_nd(d=100, kappa=1000)", "--optimizer", "adam(learning_rate=0.05)",
                 "--optimizer", "momentum(learning_rate=1e-4)", "--steps", "40", "--quiet", "--format", "json",
                 "--output", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    ls = landscapes.get("quadratic_nd", d=100, kappa=1000)
    adam = np.array(data["runs"][0]["positions"])
    heavy = np.array(data["runs"][1]["positions"])
    assert adam.shape == (41, 100)
    np.testing.assert_allclose(adam, _torch_path(ls, torch.optim.Adam, {"lr": 0.05}, 40), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(heavy, _torch_path(ls, torch.optim.SGD, {"lr": 1e-4, "momentum": 0.9}, 40),
                               rtol=1e-12, atol=1e-14)
    # the losses are f at those points, and they fall
    np.testing.assert_allclose(data["runs"][0]["losses"], ls.value(adam), rtol=1e-12)
    assert data["runs"][0]["losses"][-1] < 0.5 * data["runs"][0]["losses"][0]


def test_the_deep_linear_network_races_muon_beside_sgd_one_state_per_matrix(monkeypatch):
    ls = landscapes.get("deep_linear")
    shapes = list(ls.blocks)
    res = race(ls, ["sgd(learning_rate=0.05, momentum=0.9)", "muon(learning_rate=0.02)"], steps=30)
    sgd = _torch_path(ls, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}, 30, shapes)
    np.testing.assert_allclose(res.positions[0, 0], sgd, rtol=1e-12, atol=1e-14)
    # Muon: torch iterates Newton-Schulz in bfloat16, optarena in the parameter's dtype (the declared
    # difference, optim/rules/muon.py); with torch's iteration held in float64 the paths agree
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *a, **k: self.clone())
    muon = _torch_path(ls, torch.optim.Muon, {"lr": 0.02}, 30, shapes)
    np.testing.assert_allclose(res.positions[1, 0], muon, rtol=1e-9, atol=1e-12)
    assert res.final_loss[1, 0] < 0.9 * res.losses[1, 0, 0]  # Muon makes progress from the small start


def test_gradient_descent_raced_on_deep_linear_learns_the_strong_modes_first():
    # the race's SGD is plain gradient descent (held to the closed form in tests/landscapes/test_nd.py);
    # through the engine the modes of W2 W1 still come in order of strength
    ls = landscapes.get("deep_linear", scale=1e-2)
    res = race(ls, ["sgd(learning_rate=0.05)"], steps=400)
    s = ls.target_singular_values[ls.target_singular_values > 0]
    W1, W2 = ls.matrices(res.positions[0, 0])
    prod = W2 @ W1  # (steps + 1, n_out, n_in)
    sv = np.linalg.svd(prod, compute_uv=False)[:, : len(s)]
    half = [int(np.argmax(sv[:, k] >= s[k] / 2)) for k in range(len(s))]
    assert all(h > 0 for h in half) and half == sorted(half), (half, s)


def test_cli_refuses_a_start_of_the_wrong_dimension_and_a_matrix_rule_on_a_vector(capsys):
    assert main(["race", "--landscape", "rosenbrock_nd(d=3)", "--start", "1,2"]) == 2
    assert "of 3 coordinates" in capsys.readouterr().err
    assert main(["race", "--landscape", "quadratic_nd(d=10)", "--optimizer", "muon"]) == 2
    err = capsys.readouterr().err
    assert "matrices" in err and "deep_linear" in err


def test_a_saved_n_d_race_is_drawn_on_its_pca_plane(tmp_path):
    png = tmp_path / "dl.png"
    code = main(["race", "--landscape", "deep_linear", "--optimizer", "muon(learning_rate=0.02)", "--optimizer",
                 "sgd(learning_rate=0.05)", "--steps", "50", "--quiet", "--save", str(png)])
    assert code == 0 and png.stat().st_size > 10_000


def test_the_singular_value_view_is_the_svd_of_w2_w1_at_every_step(tmp_path):
    ls = landscapes.get("deep_linear", scale=1e-2)
    res = race(ls, ["sgd(learning_rate=0.05)", "muon(learning_rate=0.02)"], steps=25)
    sv = res.singular_values()
    assert sv.shape == (2, 1, 26, 8)
    for r, t in [(0, 0), (0, 25), (1, 13)]:
        w1, w2 = ls.matrices(res.positions[r, 0, t])
        np.testing.assert_allclose(sv[r, 0, t], np.linalg.svd(w2 @ w1, compute_uv=False), rtol=1e-10, atol=1e-14)
    png = tmp_path / "sv.png"
    assert main(["race", "--landscape", "deep_linear", "--steps", "30", "--quiet", "--save", str(png),
                 "--view", "singular"]) == 0
    assert png.stat().st_size > 10_000


def test_views_are_checked_and_named(tmp_path, capsys):
    assert main(["race", "--landscape", "quadratic_nd(d=5)", "--quiet", "--save", str(tmp_path / "a.png"),
                 "--view", "singular"]) == 2
    assert "one vector" in capsys.readouterr().err
    assert main(["race", "--landscape", "quadratic_nd(d=5)", "--quiet", "--save", str(tmp_path / "b.png"),
                 "--view", "coordinates:0,7"]) == 2
    assert "--view" in capsys.readouterr().err
    assert main(["race", "--landscape", "quadratic_nd(d=5)", "--quiet", "--save", str(tmp_path / "c.png"),
                 "--view", "coordinates:3,1"]) == 0
