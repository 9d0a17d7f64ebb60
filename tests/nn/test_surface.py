"""A real network's surface: f and grad against finite differences and a direct torch evaluation,
batching, the disk cache, the directions, the CLI race and the interpolation plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from optarena.cli import main  # noqa: E402
from optarena.landscapes import registry  # noqa: E402
from optarena.nn import load, surface  # noqa: E402
from optarena.nn.models import build  # noqa: E402

POINTS = [(0.0, 0.0), (-0.8, 0.6), (0.3, -0.45), (0.9, 0.95)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One tmp cache for the module: the network is trained once, by the first test that asks."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("network-cache")
        mp.setenv("OPTARENA_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def rand(cache):
    return surface.network_landscape("digits-mlp", "random", seed=0)


@pytest.fixture(scope="module")
def pca(cache):
    return surface.network_landscape("digits-mlp", "pca", seed=0)


@pytest.fixture(scope="module")
def reference():
    """The digits MLP in float64 and a function: flat weights -> (loss, flat gradient), by torch directly."""
    data = load("digits")
    net = build("mlp", data, 0).double()
    x, y = torch.from_numpy(data.x_train).double(), torch.from_numpy(data.y_train)

    def loss(theta):
        params = list(net.parameters())
        torch.nn.utils.vector_to_parameters(torch.as_tensor(theta, dtype=torch.float64), params)
        net.zero_grad()
        value = torch.nn.functional.cross_entropy(net(x), y)
        value.backward()
        return float(value.detach()), torch.cat([p.grad.reshape(-1) for p in params]).numpy()

    return loss


def _theta(ls, a, b):
    s = ls.surface
    return s.origin + a * s.d1 + b * s.d2


@pytest.mark.parametrize("which", ["rand", "pca"])
def test_f_and_grad_are_the_networks_loss_and_its_gradient_on_the_plane(which, request, reference):
    ls = request.getfixturevalue(which)
    scale = 1.0 if which == "rand" else 5.0  # the PCA plane's coordinates are in weight-norm units
    for a, b in POINTS:
        a, b = a * scale, b * scale
        value, g = reference(_theta(ls, a, b))
        assert float(ls.f(a, b)) == pytest.approx(value, rel=1e-12)
        ga, gb = ls.grad(a, b)
        # the chain rule: d/da L(theta* + a d1 + b d2) = <grad L, d1>
        np.testing.assert_allclose([ga, gb], [g @ ls.surface.d1, g @ ls.surface.d2], rtol=1e-9, atol=1e-12)
        h = 1e-5 * scale
        fd = [(ls.f(a + h, b) - ls.f(a - h, b)) / (2 * h), (ls.f(a, b + h) - ls.f(a, b - h)) / (2 * h)]
        np.testing.assert_allclose([ga, gb], fd, rtol=1e-5, atol=1e-8)


def test_batched_evaluation_equals_one_point_at_a_time(rand, monkeypatch):
    monkeypatch.setattr(surface, "CHUNK", 5)  # 12 points: chunks of 5, 5 and 2
    a = np.linspace(-1, 1, 4)[None, :] * np.ones((3, 1))
    b = np.linspace(-0.7, 0.9, 3)[:, None]
    f = rand.f(a, b)
    ga, gb = rand.grad(a, b)
    assert f.shape == ga.shape == gb.shape == (3, 4) and f.dtype == np.float64
    one = np.array([[float(rand.f(a[i, j], b[i, 0])) for j in range(4)] for i in range(3)])
    grads = np.array([[[float(v) for v in rand.grad(a[i, j], b[i, 0])] for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(f, one, rtol=1e-13)
    np.testing.assert_allclose(np.stack([ga, gb], -1), grads, rtol=1e-11, atol=1e-15)
    # value/gradient/grid, as the engine and the faces call them
    np.testing.assert_allclose(rand.value(np.stack([a, np.broadcast_to(b, a.shape)], -1)), f, rtol=1e-13)
    monkeypatch.setattr(surface, "GRID_POINTS", 6)  # a contour grid is capped (each point: a forward pass)
    xs, ys, Z = rand.grid(200)
    assert Z.shape == (6, 6) and xs[0] == -1.0 and ys[-1] == 1.0
    np.testing.assert_allclose(Z[2, 3], rand.f(xs[3], ys[2]), rtol=1e-13)


def test_the_origin_is_the_trained_network(rand, reference):
    net = surface.trained("digits-mlp", 0)
    value, _ = reference(net.final.astype(np.float64))
    assert float(rand.f(0.0, 0.0)) == pytest.approx(value, rel=1e-12)
    first, _ = reference(net.initial.astype(np.float64))
    assert value < 0.01 < 1.0 < first  # it learned: ln(10) = 2.3 before training
    np.testing.assert_array_equal(net.snapshots[0], net.initial)
    np.testing.assert_array_equal(net.snapshots[-1], net.final)


def test_the_cache_is_reused_and_rebuilt_when_its_hash_does_not_match(rand):
    first = surface.trained("digits-mlp", 0)
    again = surface.trained("digits-mlp", 0)
    assert not again.retrained  # read back, not trained again
    np.testing.assert_array_equal(again.final, first.final)
    weights, record = surface.cache_files("digits-mlp", 0)
    meta = json.loads(record.read_text())
    assert meta["sha256"] == __import__("hashlib").sha256(weights.read_bytes()).hexdigest()
    assert meta["recipe"] == surface.RECIPE and meta["versions"]["torch"] == torch.__version__
    raw = bytearray(weights.read_bytes())
    raw[-100] ^= 0xFF  # one flipped byte: the hash no longer matches
    weights.write_bytes(bytes(raw))
    rebuilt = surface.trained("digits-mlp", 0)
    assert rebuilt.retrained
    np.testing.assert_array_equal(rebuilt.final, first.final)  # seeded: the same weights again
    assert not surface.trained("digits-mlp", 0).retrained
    record.unlink()  # a missing record: trained again too
    assert surface.trained("digits-mlp", 0).retrained


def test_an_empty_cache_dir_keeps_nothing(rand, monkeypatch, tmp_path):
    kept = surface.trained("digits-mlp", 0)
    monkeypatch.setenv("OPTARENA_CACHE_DIR", "")  # as the compiled loops': an empty value means no disk cache
    monkeypatch.chdir(tmp_path)
    assert surface.cache_files("digits-mlp", 0) is None
    fresh = surface.trained("digits-mlp", 0)
    assert fresh.retrained and not any(tmp_path.iterdir())
    np.testing.assert_array_equal(fresh.final, kept.final)  # one thread, one seed: the same weights


def test_random_directions_are_filter_normalised_with_zero_biases(rand):
    shapes = [tuple(p.shape) for p in build("mlp", load("digits"), 0).parameters()]
    s, at = rand.surface, 0
    for shape in shapes:
        n = math.prod(shape)
        for d in (s.d1, s.d2):
            part = d[at:at + n].reshape(shape[0], -1)
            if len(shape) == 1:
                assert not part.any()
            else:
                w = s.origin[at:at + n].reshape(shape[0], -1)
                np.testing.assert_allclose(np.linalg.norm(part, axis=1), np.linalg.norm(w, axis=1), rtol=1e-12)
        at += n
    assert at == s.origin.size and abs(s.d1 @ s.d2) < 0.2 * np.linalg.norm(s.d1) * np.linalg.norm(s.d2)
    assert rand.minimum_kind == "lower_bound" and rand.min_value == 0.0 and rand.window == ((-1.0, 1.0), (-1.0, 1.0))
    assert rand.params == {"directions": 0, "seed": 0} and "Li" in rand.source


def test_pca_directions_span_the_training_path(pca):
    net = surface.trained("digits-mlp", 0)
    s = pca.surface
    axes = np.stack([s.d1, s.d2])
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-12)
    path = net.snapshots.astype(np.float64) - s.origin
    held = np.sum((path @ axes.T) ** 2) / np.sum(path ** 2)  # the share of the path's variance on the plane
    assert pca.explained == pytest.approx(held, rel=1e-10) and 0.5 < held <= 1.0
    # no other direction holds more of the path than the first (a few random tries)
    top = np.sum((path @ s.d1) ** 2)
    rng = np.random.default_rng(1)
    for _ in range(5):
        u = s.d1 + 0.1 * rng.standard_normal(s.d1.size) / math.sqrt(s.d1.size)
        assert np.sum((path @ (u / np.linalg.norm(u))) ** 2) <= top
    # the start is the initial weights' projection, inside the window
    (a0, b0), ((x0, x1), (y0, y1)) = pca.starts[0], pca.window
    np.testing.assert_allclose([a0, b0], path[0] @ axes.T, rtol=1e-12)
    assert x0 < a0 < x1 and y0 < b0 < y1 and x0 < 0 < x1 and y0 < 0 < y1
    assert pca.params == {"directions": 1, "seed": 0}


def test_a_cli_race_on_the_network_records_f_at_its_positions_and_replays(rand, tmp_path, monkeypatch, capsys):
    for name in ("_ENTRIES", "_SCHEMAS", "_BEYOND", "_UNLISTED"):  # the CLI registers the factory: not for the other tests
        monkeypatch.setattr(registry, name, type(getattr(registry, name))(getattr(registry, name)))
    out = tmp_path / "race.json"
    args = ["race", "--network", "digits-mlp", "--optimizer", "sgd(learning_rate=0.2)", "--optimizer",
            "adam(learning_rate=0.03)", "--steps", "12", "--quiet", "--format", "json", "--output", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["config"]["landscape"] == {"name": "digits_mlp", "params": {"directions": 0, "seed": 0}}
    for run in data["runs"]:
        p = np.array(run["positions"])
        assert p.shape == (13, 2) and tuple(p[0]) == rand.starts[0]
        np.testing.assert_allclose(run["losses"], rand.f(p[:, 0], p[:, 1]), rtol=1e-12)
        assert run["losses"][-1] < 0.5 * run["losses"][0]
    # SGD's path is torch's SGD on (a, b) with the loss of the network itself
    ab = torch.tensor(rand.starts[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([ab], lr=0.2)
    data_set = load("digits")
    net = build("mlp", data_set, 0).double()
    x, y = torch.from_numpy(data_set.x_train).double(), torch.from_numpy(data_set.y_train)
    s = rand.surface
    base, d1, d2 = (torch.from_numpy(v) for v in (s.origin, s.d1, s.d2))
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    path = [ab.detach().numpy().copy()]
    for _ in range(12):
        theta = base + ab[0] * d1 + ab[1] * d2
        params, at = {}, 0
        for n, shape in zip(names, shapes):
            params[n] = theta[at:at + shape.numel()].view(shape)
            at += shape.numel()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(torch.func.functional_call(net, params, (x,)), y).backward()
        opt.step()
        path.append(ab.detach().numpy().copy())
    np.testing.assert_allclose(data["runs"][0]["positions"], path, rtol=1e-10, atol=1e-13)
    # the saved race replays (its config names the factory) with the same numbers
    again = tmp_path / "again.json"
    assert main(["race", "--config", str(out), "--quiet", "--format", "json", "--output", str(again)]) == 0
    assert [r["losses"] for r in json.loads(again.read_text())["runs"]] == [r["losses"] for r in data["runs"]]
    capsys.readouterr()


def test_register_adds_the_factory_for_a_network_name_only(pca, monkeypatch):
    for name in ("_ENTRIES", "_SCHEMAS", "_BEYOND"):
        monkeypatch.setattr(registry, name, type(getattr(registry, name))(getattr(registry, name)))
    before = registry.names(every=True)
    assert "digits_mlp" not in before  # not on import: the listing faces would train it
    assert not surface.register("rosenbrock") and registry.names(every=True) == before
    # resolvable (a saved race replays), never listed: the faces that list landscapes build each one
    assert surface.register("digits-mlp") and registry.names(every=True) == before
    from optarena.landscapes import resolve

    again = resolve({"name": "digits_mlp", "params": {"directions": 1, "seed": 0}})
    assert again.title == pca.title and float(again.f(-3.0, 2.0)) == float(pca.f(-3.0, 2.0))


@pytest.mark.parametrize("args,msg", [
    (["--network", "digits-mlp", "--landscape", "rosenbrock"], "not both"),
    (["--directions", "pca"], "give --network too"),
    (["--network", "mnist-resnet"], "unknown network 'mnist-resnet'; valid: digits-mlp"),
])
def test_cli_refuses_bad_network_options_in_one_line(args, msg, capsys):
    assert main(["race", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1


def test_bad_input_names_the_field(cache):
    with pytest.raises(ValueError, match="directions must be one of random, pca") as e:
        surface.network_landscape("digits-mlp", "hessian")
    assert e.value.field == "directions"
    with pytest.raises(ValueError, match="seed must be a whole number") as e:
        surface.network_landscape("digits-mlp", "random", seed=-1)
    assert e.value.field == "seed"


def test_interpolation_runs_from_the_initial_to_the_trained_weights(rand, reference, tmp_path):
    alphas, losses = surface.interpolation("digits-mlp")
    assert alphas.shape == losses.shape == (41,) and alphas[0] == -0.5 and alphas[-1] == 1.5
    i0, i1 = 10, 30
    assert alphas[i0] == 0.0 and alphas[i1] == 1.0
    assert losses[i1] == pytest.approx(float(rand.f(0.0, 0.0)), rel=1e-12)
    net = surface.trained("digits-mlp", 0)
    assert losses[i0] == pytest.approx(reference(net.initial.astype(np.float64))[0], rel=1e-12)
    assert losses[i1] < losses[i0] and losses[0] > losses[i0]  # past theta_0 the loss rises (Goodfellow et al.)
    png = surface.write_interpolation(tmp_path / "line.png", points=11)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["rand", "pca"])
def test_default_racers_make_progress_without_diverging(which, request):
    from optarena.arena import race

    ls = request.getfixturevalue(which)
    res = race(ls, None, starts=ls.starts, steps=100)
    assert (res.diverged_at < 0).all()
    assert np.all(np.isfinite(res.final_loss)) and np.all(res.final_loss < 0.1 * res.losses[:, :, 0])
