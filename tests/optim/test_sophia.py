"""Sophia (Hutchinson) against pytorch_optimizer.SophiaH driven with the same Hessian estimates,
and in the arena with the landscape's exact Hessian."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import optarena as oa
from optarena.arena.engine import race
from optarena.arena.plan import Racer
from optarena.errors import UsageError
from optarena.landscapes import resolve
from optarena.optim import registry
from optarena.optim.rules import sophia

SPEC = registry.get("sophia")
STEPS = 12
#: the spec's examples plus settings the parity must cover: update_period 1 and 3, decay, a loose clip
SETTINGS: list[dict[str, Any]] = [*map(dict, SPEC.examples),
                                  {"update_period": 1.0, "clip": 100.0, "learning_rate": 0.01, "beta2": 0.5},
                                  {"update_period": 3.0, "weight_decay": 0.2, "clip": 0.05, "num_samples": 2.0, "seed": 11.0}]


def _hutchinson(H: np.ndarray, shape: tuple[int, ...], hp: dict[str, Any], t: int) -> np.ndarray:
    """The documented draws, written out: u from default_rng([seed, t]), mean of u * (H u)."""
    n, full = int(hp["num_samples"]), shape or (1,)
    Hm = H.reshape(full[:-1] + (full[-1], full[-1]))
    if hp["exact_diagonal"]:
        return np.diagonal(Hm, axis1=-2, axis2=-1).reshape(shape)
    rng = np.random.default_rng([int(hp["seed"]), t])
    u = rng.integers(0, 2, size=(n,) + full) * 2.0 - 1.0 if hp["rademacher"] else rng.standard_normal((n,) + full)
    total = np.zeros(full)
    for k in range(n):
        total += u[k] * np.einsum("...ij,...j->...i", Hm, u[k])
    return (total / n).reshape(shape)


def _problem(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    d = shape[-1] if shape else 1
    p0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(STEPS)]
    hess = []
    for _ in range(STEPS):
        A = rng.normal(size=shape[:-1] + (d, d) if shape else (d, d))
        H = A @ np.swapaxes(A, -1, -2) / d + 0.3 * np.eye(d) - 0.4 * rng.random() * np.eye(d)  # a few negative diagonals
        hess.append(H.reshape(shape + (d,)) if shape else H.reshape(()))
    return p0, grads, hess


def _reference(hp: dict[str, Any], p0: np.ndarray, dtype: Any) -> tuple[Any, Any, Any]:
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    p = torch.nn.Parameter(torch.tensor(p0, dtype=tdtype))
    opt = po.SophiaH([p], lr=hp["learning_rate"], betas=(hp["beta1"], hp["beta2"]), weight_decay=hp["weight_decay"],
                     weight_decouple=hp["weight_decouple"], fixed_decay=hp["fixed_decay"], p=hp["clip"],
                     update_period=int(hp["update_period"]), num_samples=int(hp["num_samples"]),
                     hessian_distribution="rademacher" if hp["rademacher"] else "gaussian", eps=hp["epsilon"],
                     maximize=hp["maximize"])
    return torch, p, opt


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=str)
@pytest.mark.parametrize("hp", SETTINGS, ids=str)
def test_matches_pytorch_optimizer_given_the_same_estimates(hp, shape, dtype, tol):
    full = SPEC.validate(hp)
    p0, grads, hess = _problem(shape)
    torch, tp, ref = _reference(full, p0, dtype)
    ours = oa.SophiaH(**hp)
    p = p0.astype(dtype)
    for t in range(STEPS):
        g = grads[t].astype(dtype)
        ours.update(p, g, hessian=hess[t])
        tp.grad = torch.tensor(g)
        if t % int(full["update_period"]) == 0:  # the reference refreshes here: hand it our estimate
            est = _hutchinson(np.asarray(hess[t], dtype=np.float64), shape, full, t)
            est = (-est if full["maximize"] else est).astype(dtype)
            ref.step(hessian=[torch.tensor(est)])
        else:
            ref.step()
        theirs = tp.detach().numpy()
        scale = max(float(np.max(np.abs(theirs))), 1e-30)
        assert p.dtype == dtype
        assert np.max(np.abs(p - theirs)) <= tol * scale, f"step {t + 1}"
    assert ours.state is not None
    for ours_key in ("momentum", "hessian_moment"):
        mine, theirs = ours.state[0][ours_key], ref.state[tp][ours_key].numpy()
        assert np.max(np.abs(mine - theirs)) <= tol * max(float(np.max(np.abs(theirs))), 1e-30), ours_key


def test_batched_rows_are_each_run_alone():
    """Hyperparameters as (B,) arrays (a race): each row is its own run, seed and period included."""
    rows = [{"seed": 0.0, "update_period": 1.0, "clip": 1.0}, {"seed": 5.0, "update_period": 3.0, "clip": 0.1},
            {"seed": 5.0, "update_period": 2.0, "clip": 10.0, "num_samples": 3.0}]
    full = [SPEC.validate(r) for r in rows]
    batched = {k: np.array([f[k] for f in full]) if not isinstance(full[0][k], bool) else full[0][k] for k in full[0]}
    rng = np.random.default_rng(1)
    P = rng.normal(size=(3, 2))
    A = rng.normal(size=(3, 2, 2))
    Hs = A @ np.swapaxes(A, -1, -2)
    hp = SPEC.bind(batched, P)
    state = SPEC.init(P, hp)
    alone = [(P[i].copy(), SPEC.init(P[i], SPEC.bind(full[i], P[i]))) for i in range(3)]
    for _ in range(7):
        G = rng.normal(size=(3, 2))
        P, state = sophia.update(P, G, state, hp, hessian=Hs)
        for i in range(3):
            alone[i] = sophia.update(alone[i][0], G[i], alone[i][1], SPEC.bind(full[i], alone[i][0]), hessian=Hs[i])
            assert np.array_equal(P[i], alone[i][0])
            assert np.array_equal(state["hessian_moment"][i], alone[i][1]["hessian_moment"])


RACE_HP = {"learning_rate": 0.01, "clip": 1.0, "beta2": 0.5, "update_period": 2.0}


def test_a_rosenbrock_race_steps_as_the_class_with_the_exact_hessian():
    ls = resolve("rosenbrock")
    hps = [RACE_HP, {**RACE_HP, "rademacher": True, "num_samples": 2.0, "seed": 3.0}, {}]
    starts = [(-1.2, 1.0), (0.5, -0.5)]
    res = race(ls, [Racer("sophia", hp) for hp in hps], starts=starts, steps=40, engine="numpy")
    assert np.isfinite(res.positions).all() and (res.diverged_at < 0).all()
    for r, hp in enumerate(hps):
        for s, start in enumerate(starts):
            opt = oa.SophiaH(**hp)
            p = np.array(start, dtype=np.float64)
            for t in range(40):
                opt.update(p, ls.gradient(p), hessian=ls.hessian(p))
                assert np.array_equal(res.positions[r, s, t + 1], p), (r, s, t)
    assert res.losses[0, 0, -1] < res.losses[0, 0, 0]


def test_the_same_seed_gives_the_same_race_and_another_seed_another():
    def run(seed: float) -> np.ndarray:
        return race("rosenbrock", [Racer("sophia", {**RACE_HP, "seed": seed})], steps=30, engine="numpy").positions

    assert np.array_equal(run(4.0), run(4.0))
    assert not np.array_equal(run(4.0), run(5.0))


def test_exact_diagonal_is_the_estimates_expectation():
    H = np.array([[3.0, 1.5], [1.5, -2.0]])
    full = SPEC.validate({"exact_diagonal": True})
    assert np.array_equal(sophia.estimate(H, (2,), 0, 0, full), np.diag(H))
    many = SPEC.validate({"num_samples": 20000.0})
    est = sophia.estimate(H, (2,), 0, 0, many)
    assert np.allclose(est, np.diag(H), atol=0.1)  # Hutchinson: unbiased, error ~ sqrt(2 H_ii^2 + H_ij^2) / 141
    # On a diagonal quadratic a Rademacher draw is exact (u_i^2 = 1): the race equals exact_diagonal's.
    ls = resolve({"name": "ill_conditioned", "params": {"kappa": 10.0}})
    hp = {"learning_rate": 0.05, "clip": 1.0, "beta2": 0.5, "update_period": 1.0}
    res = race(ls, [Racer("sophia", {**hp, "exact_diagonal": True}), Racer("sophia", {**hp, "rademacher": True}),
                    Racer("sophia", hp)], steps=25, engine="numpy")
    assert np.array_equal(res.positions[0], res.positions[1])
    assert not np.array_equal(res.positions[0], res.positions[2])  # a Gaussian draw is not
    # without the EMAs and the clip, the exact diagonal is Newton's step there: one lands on the minimum
    newton = {"learning_rate": 1.0, "beta1": 0.0, "beta2": 0.0, "clip": 1e3, "exact_diagonal": True}
    res = race(ls, [Racer("sophia", newton)], starts=[(3.0, -2.0), (-1.0, 0.5)], steps=1, engine="numpy")
    assert np.allclose(res.positions[0, :, 1], np.array(ls.minima[0]), atol=1e-12)


def test_the_article_class_needs_the_hessian():
    ls = resolve("rosenbrock")
    p = np.array([-1.2, 1.0])
    with pytest.raises(UsageError, match="Sophia needs the Hessian") as info:
        oa.SophiaH().update(p, ls.gradient(p))
    assert info.value.field == "hessian"
    with pytest.raises(UsageError, match="hessian must have shape") as info:
        oa.SophiaH().update(p, ls.gradient(p), hessian=np.eye(3))
    assert info.value.field == "hessian"


@pytest.mark.parametrize("name,value", [("update_period", 2.5), ("num_samples", 0.0), ("seed", -1.0), ("clip", -0.1),
                                        ("seed", 1.5)])
def test_ranges_and_whole_numbers_are_checked(name, value):
    with pytest.raises(UsageError, match=name) as info:
        oa.SophiaH(**{name: value})
    assert info.value.field == name


def test_the_torch_bridge_estimates_through_the_graph():
    """optarena.torch.SophiaH takes its diagonal from autograd (tests/torch/test_sophia_bridge.py)."""
    torch = pytest.importorskip("torch")
    import optarena.torch as ot

    opt = ot.SophiaH([torch.nn.Parameter(torch.zeros(2))])
    assert "loss.backward(create_graph=True)" in (type(opt).__doc__ or "")
