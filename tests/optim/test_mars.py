"""MARS where the shared harness does not reach: one optimizer over two parameters of different
shapes through a huge gradient jump (the clipping norm is per parameter, and bounds the step), a
batch of matrices (each row clipped by its own norm) against pytorch_optimizer.MARS, and a race."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import optarena as oa

from cases import max_rel

torch = pytest.importorskip("torch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

STEPS = 10
JUMP = 5  # the step whose gradient is a million times the others


def _grads(shapes, seed=0):
    rng = np.random.default_rng(seed)
    gs = [[rng.normal(size=s) for s in shapes] for _ in range(STEPS)]
    gs[JUMP] = [1e6 * g for g in gs[JUMP]]
    return gs


@pytest.mark.parametrize("optimize_1d", [False, True])
def test_a_gradient_jump_is_clipped_per_parameter_as_the_reference(optimize_1d, torch_dtype):
    torch.set_default_dtype(torch.float64)
    shapes = [(3, 4), (5,)]
    rng = np.random.default_rng(1)
    p0 = [rng.normal(size=s) for s in shapes]
    gs = _grads(shapes)
    hp = {"learning_rate": 0.01, "gamma": 0.5, "weight_decay": 0.1, "optimize_1d": optimize_1d}
    tp = [torch.nn.Parameter(torch.tensor(p)) for p in p0]
    ref = pytorch_optimizer.MARS(tp, lr=0.01, gamma=0.5, weight_decay=0.1, optimize_1d=optimize_1d, foreach=False)
    ours = oa.optimizer_class("mars")(**hp)
    ps = [p.copy() for p in p0]
    b1 = ours.spec.validate(hp)["beta1"]
    m_prev = np.zeros(shapes[0])
    for t in range(STEPS):
        for x, g in zip(tp, gs[t]):
            x.grad = torch.tensor(g)
        ref.step()
        ours.update(ps, gs[t])
        for p, x in zip(ps, tp):
            assert max_rel(p, x.detach().numpy()) <= 1e-12, t
        # the matrix steps by MARS: its clipped c has norm <= 1, so m moves by at most (1 - b1)
        state = ours.state
        assert state is not None
        assert np.linalg.norm(state[0]["exp_avg"] - b1 * m_prev) <= (1 - b1) * (1 + 1e-12), t
        m_prev = state[0]["exp_avg"].copy()
    # the vector's jump: clipped only under optimize_1d (else plain AdamW takes it whole)
    assert ours.state is not None
    jumped = np.linalg.norm(ours.state[1]["exp_avg_sq"])
    assert (jumped < 1.0) if optimize_1d else (jumped > 1e9)


def test_a_batch_of_matrices_is_clipped_row_by_row(torch_dtype):
    """Runs of (3, 4) with per-run settings: each run is a matrix (MARS by default), normed alone."""
    torch.set_default_dtype(torch.float64)
    B, shape = 3, (3, 4)
    rng = np.random.default_rng(2)
    p0 = rng.normal(size=(B,) + shape)
    scale = np.array([1e-3, 1.0, 1e3])[:, None, None]  # one run below the clip, two above
    gs = [scale * rng.normal(size=(B,) + shape) for _ in range(STEPS)]
    lrs, gammas = np.array([0.01, 0.02, 0.03]), np.array([0.0, 0.025, 1.0])
    ours = oa.optimizer_class("mars")(learning_rate=lrs, gamma=gammas)
    p = p0.copy()
    traj = []
    for t in range(STEPS):
        ours.update(p, gs[t])
        traj.append(p.copy())
    for b in range(B):
        x = torch.nn.Parameter(torch.tensor(p0[b]))
        ref = pytorch_optimizer.MARS([x], lr=lrs[b], gamma=gammas[b], foreach=False)
        for t in range(STEPS):
            x.grad = torch.tensor(gs[t][b])
            ref.step()
            assert max_rel(traj[t][b], x.detach().numpy()) <= 1e-12, (b, t)


def test_mars_races_on_the_numpy_engine():
    """A race is batched (one 2-vector per run): each run equals the class stepped alone, MARS
    proper with optimize_1d and the reference's 1-D AdamW without."""
    from optarena import landscapes
    from optarena.arena.engine import Racer, race

    ls = landscapes.get("rosenbrock")
    starts = [(-1.5, 2.0), (0.5, -0.5)]
    settings: tuple[dict[str, Any], ...] = ({"learning_rate": 0.05, "gamma": 0.1, "optimize_1d": True}, {"learning_rate_1d": 0.05})
    res = race(ls, [Racer("mars", s) for s in settings], starts=starts, steps=20, engine="numpy")
    assert np.all(np.isfinite(res.positions))
    for r, hp in enumerate(settings):
        for s, start in enumerate(starts):
            opt = oa.optimizer_class("mars")(**hp)
            p = np.array(start)
            for k in range(20):
                opt.update(p, ls.gradient(p))
                np.testing.assert_allclose(res.positions[r, s, k + 1], p, rtol=1e-13, atol=1e-13)
    assert not np.allclose(res.positions[0], res.positions[1])
