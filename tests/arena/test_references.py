"""The race against references written here by hand, in plain Python: the divergence box (100
window widths), the gradient noise (NumPy's Generator seeded as the README documents) and the race
loop (gradient, noise, clip, rule, records). None of them asks optarena how to compute the answer,
so a moved threshold, a changed seeding or a flipped sign fails here even where optarena agrees
with itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optarena.arena import race

ENGINES = ["numpy", "fused"]


@pytest.fixture(params=ENGINES)
def engine(request):
    """Both engines: the NumPy steps and the compiled loop (which needs numba)."""
    if request.param == "fused":
        pytest.importorskip("numba")
    return request.param


# --- the divergence box ----------------------------------------------------------------------
# The quadratic's window is [-3.5, 3.5]^2 (7 wide): a run diverges once it is more than 100 * 7
# = 700 outside it, i.e. beyond +-703.5. SGD on x^2 + y^2 moves p to p * (1 - 2 lr) in one step.
QUADRATIC_EDGE = 3.5 + 100 * 7.0


def _lr_landing_at(distance: float) -> float:
    """SGD's rate that takes (1, 0) to (-distance, 0) in one step on x^2 + y^2."""
    return (1.0 + distance) / 2.0


def test_divergence_box_is_100_window_widths_just_inside_and_just_outside(engine):
    inside, outside = _lr_landing_at(QUADRATIC_EDGE - 0.01), _lr_landing_at(QUADRATIC_EDGE + 0.01)
    # (1, 0) tests the lower x edge, (0, -1) the upper y edge (1 - 2 lr < 0 flips the sign)
    res = race("quadratic", [f"sgd(learning_rate={inside!r})", f"sgd(learning_rate={outside!r})"],
               starts=[(1.0, 0.0), (0.0, -1.0)], steps=4, engine=engine)
    np.testing.assert_allclose(res.positions[0, 0, 1], [-(QUADRATIC_EDGE - 0.01), 0.0], rtol=1e-12)
    np.testing.assert_allclose(res.positions[0, 1, 1], [0.0, QUADRATIC_EDGE - 0.01], rtol=1e-12)
    # just inside: still racing after step 1, out at step 2 (|p| grows ~700x a step)
    assert res.diverged_at[0].tolist() == [2, 2]
    # just outside: out at step 1
    assert res.diverged_at[1].tolist() == [1, 1]
    assert all(r == "diverged: left the window" for r in res.stop_reason.ravel())
    assert np.isnan(res.positions[1, :, 1]).all() and np.isfinite(res.positions[0, :, 1]).all()


def test_divergence_box_follows_the_window_off_centre(engine):
    # Rosenbrock's window has y in [-1, 3] (4 wide, off-centre): the box's y range is [-401, 403].
    # From (0, y0) one SGD step gives x1 = 2 lr (inside) and y1 = y0 (1 - 200 lr).
    def lr(y0, y1):
        return (1 - y1 / y0) / 200

    cases = [((0.0, 1.0), -400.99, 2), ((0.0, 1.0), -401.01, 1), ((0.0, -1.0), 402.99, 2), ((0.0, -1.0), 403.01, 1)]
    for start, y1, out_at in cases:
        res = race("rosenbrock", [f"sgd(learning_rate={lr(start[1], y1)!r})"], starts=[start], steps=3, engine=engine)
        assert res.diverged_at[0, 0] == out_at, (start, y1)
        if out_at == 2:
            assert res.positions[0, 0, 1, 1] == pytest.approx(y1, rel=1e-12)


# --- the gradient noise ----------------------------------------------------------------------
def _documented_noise(seed: int, start: tuple[float, float], steps: int, sigma: float) -> np.ndarray:
    """README: "each start's stream is seeded by the seed and the start point": NumPy's
    default_rng keyed by [seed, the start's two float64 bit patterns], one (steps, 2) draw."""
    bits = np.asarray(start, dtype=np.float64).view(np.uint64).tolist()
    return sigma * np.random.default_rng([seed, *bits]).standard_normal((steps, 2))


def _noise_seen(res, racer: int, start: int, lr: float, sigma: float) -> np.ndarray:
    """The noise SGD on x^2 + y^2 was given, read back from its trajectory: p' = p - lr (2p + n)."""
    p = res.positions[racer, start]
    return ((p[:-1] - p[1:]) / lr - 2 * p[:-1]) / sigma


STARTS = [(-1.0, 2.0), (0.5, -0.5), (2.0, 1.0)]


@pytest.mark.parametrize("seed", [0, 7])
def test_gradient_noise_is_the_documented_stream(engine, seed):
    lr, sigma, steps = 0.1, 0.5, 20
    res = race("quadratic", [f"sgd(learning_rate={lr})", f"sgd(learning_rate={lr})"], starts=STARTS, steps=steps,
               noise=sigma, seed=seed, engine=engine)
    for s, start in enumerate(STARTS):
        want = _documented_noise(seed, start, steps, sigma) / sigma
        for racer in range(2):  # every racer from a start sees that start's noise
            np.testing.assert_allclose(_noise_seen(res, racer, s, lr, sigma), want, rtol=1e-9, atol=1e-9)


# --- the race loop against hand-written rules ------------------------------------------------
def _booth_grad(x: float, y: float) -> tuple[float, float]:
    """(x + 2y - 7)^2 + (2x + y - 5)^2."""
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return 2 * a + 4 * b, 4 * a + 2 * b


def _booth_f(x: float, y: float) -> float:
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _sgd(lr):
    def rule(p, g, st):
        return [p[i] - lr * g[i] for i in range(2)]
    return rule


def _momentum(lr, mu):
    def rule(p, g, st):
        st["b"] = list(g) if "b" not in st else [mu * st["b"][i] + g[i] for i in range(2)]
        return [p[i] - lr * st["b"][i] for i in range(2)]
    return rule


def _adam(lr, b1, b2, eps, wd=0.0):
    def rule(p, g, st):
        g = [g[i] + wd * p[i] for i in range(2)]
        t = st["t"] = st.get("t", 0) + 1
        m = st["m"] = [b1 * a + (1 - b1) * gi for a, gi in zip(st.get("m", [0.0, 0.0]), g)]
        v = st["v"] = [b2 * a + (1 - b2) * gi * gi for a, gi in zip(st.get("v", [0.0, 0.0]), g)]
        return [p[i] - lr * (m[i] / (1 - b1 ** t)) / (math.sqrt(v[i] / (1 - b2 ** t)) + eps) for i in range(2)]
    return rule


RACERS = {
    "sgd(learning_rate=0.01)": _sgd(0.01),
    "momentum(learning_rate=0.005, momentum=0.8, dampening=0.0)": _momentum(0.005, 0.8),
    "adam(learning_rate=0.3, beta1=0.8, beta2=0.99, epsilon=1e-6)": _adam(0.3, 0.8, 0.99, 1e-6),
    "adam(learning_rate=0.2, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.1)": _adam(0.2, 0.9, 0.999, 1e-8, 0.1),
}


def _by_hand(rule, start, steps, seed, sigma, clip):
    noise = _documented_noise(seed, start, steps, sigma) if sigma else np.zeros((steps, 2))
    p, st = list(start), {}
    pos, loss, gnorm, dstep = [list(p)], [_booth_f(*p)], [math.hypot(*_booth_grad(*p))], [0.0]
    for t in range(steps):
        g = list(_booth_grad(*p))
        g = [g[0] + float(noise[t, 0]), g[1] + float(noise[t, 1])]
        n = math.hypot(*g)
        if clip is not None and n > clip:
            g = [gi * clip / n for gi in g]
        q = rule(p, g, st)
        dstep.append(math.hypot(q[0] - p[0], q[1] - p[1]))
        p = q
        pos.append(list(p))
        loss.append(_booth_f(*p))
        gnorm.append(math.hypot(*_booth_grad(*p)))
    return np.array(pos), np.array(loss), np.array(gnorm), np.array(dstep)


@pytest.mark.parametrize("sigma,clip", [(0.0, None), (2.0, 5.0)], ids=["plain", "noise-and-clip"])
def test_race_equals_rules_written_by_hand(engine, sigma, clip):
    steps, seed, starts = 40, 11, [(-8.0, -6.0), (3.0, 4.0)]
    res = race("booth", list(RACERS), starts=starts, steps=steps, seed=seed, noise=sigma, clip=clip, engine=engine)
    assert (res.diverged_at < 0).all()
    for i, rule in enumerate(RACERS.values()):
        for s, start in enumerate(starts):
            pos, loss, gnorm, dstep = _by_hand(rule, start, steps, seed, sigma, clip)
            where = f"{list(RACERS)[i]} from {start}"
            np.testing.assert_allclose(res.positions[i, s], pos, rtol=1e-10, atol=1e-12, err_msg=where)
            np.testing.assert_allclose(res.losses[i, s], loss, rtol=1e-9, atol=1e-12, err_msg=where)
            np.testing.assert_allclose(res.grad_norms[i, s], gnorm, rtol=1e-9, atol=1e-12, err_msg=where)
            np.testing.assert_allclose(res.step_sizes[i, s], dstep, rtol=1e-9, atol=1e-12, err_msg=where)
