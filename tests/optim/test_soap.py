"""SOAP against pytorch_optimizer.SOAP (pytorch-optimizer 4.1.0): the rule on matrices, vectors,
0-d and 3-D parameters with every option (``soap.EXAMPLES``), batches of runs, the torch bridge on
a model, and a race on points.

The reference takes its QR in float32 (for bfloat16's sake); optarena in the parameter's dtype.
The exact comparisons hold the reference's QR in float64 (its module's ``torch.float32`` read as
float64 for the test); ``test_against_reference_as_shipped`` measures the declared difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
po = pytest.importorskip("pytorch_optimizer")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from pytorch_optimizer.optimizer import soap as soap_module  # noqa: E402

import optarena as oa  # noqa: E402
import optarena.torch as ot  # noqa: E402
from optarena.arena import Racer  # noqa: E402
from optarena.arena.engine import race  # noqa: E402
from optarena.errors import UsageError  # noqa: E402
from optarena.optim import registry  # noqa: E402
from optarena.optim.rules.soap import EXAMPLES  # noqa: E402

from cases import max_rel, problem, run_reference, run_spec  # noqa: E402

SPEC = registry.get("soap")
STEPS = 14  # past two refreshes at precondition_frequency 5
SHAPES = [(3, 4), (5, 5), (6,), (2,), (), (2, 3, 4), (4, 3)]


class _Float64QR:
    """The reference module's ``torch`` with ``float32`` read as float64 (its QR's cast)."""

    def __getattr__(self, name: str) -> Any:
        return torch.float64 if name == "float32" else getattr(torch, name)


@pytest.fixture
def qr_in_float64(monkeypatch):
    monkeypatch.setattr(soap_module, "torch", _Float64QR())


def _kwargs(hp: dict[str, Any]) -> dict[str, Any]:
    """Our settings as the reference's arguments."""
    out: dict[str, Any] = {}
    betas = list(po.SOAP.__init__.__defaults__[1])  # type: ignore[index]
    for k, v in hp.items():
        if k in ("beta1", "beta2"):
            betas[k == "beta2"] = v
            out["betas"] = tuple(betas)
        elif k in ("precondition_frequency", "max_precondition_dim"):
            out[k] = int(v)
        else:
            out[{"learning_rate": "lr", "epsilon": "eps"}.get(k, k)] = None if (k == "shampoo_beta" and v == -1) else v
    return out


def _problem(shape, dtype=np.float64, seed=0):
    return problem(shape, STEPS, dtype, seed)


def _reference_run(p0, grads, hp):
    tp = torch.nn.Parameter(torch.tensor(p0))
    return run_reference(po.SOAP([tp], **_kwargs(hp)), tp, grads)


def _our_run(p0, grads, hp):
    return run_spec(SPEC, hp, p0, grads)


def _degenerate(shape, hp) -> bool:
    """A vector of n > 2 elements with its n x n factor: g g^T's n - 1 zero eigenvalues share a
    space whose basis LAPACK picks freely (declared; test_repeated_eigenvalues_are_declared)."""
    return len(shape) == 1 and shape[0] > 2 and hp.get("precondition_1d", False) and shape[0] <= hp.get(
        "max_precondition_dim", 10000)


def _merge_fails(shape, hp) -> bool:
    from optarena.optim.rules.soap import merge_small_dims

    return bool(hp.get("merge_dims")) and int(np.prod(merge_small_dims(shape, hp.get("max_precondition_dim", 10000)))) != int(
        np.prod(shape))


def _signed(q):
    """Columns of an eigenbasis with their largest entry positive (eigenvectors have no sign)."""
    q = np.asarray(q)
    idx = np.argmax(np.abs(q), axis=-2)[..., None, :]
    return q * np.sign(np.take_along_axis(q, idx, axis=-2))


CASES = [(shape, hp) for shape in SHAPES for hp in EXAMPLES if not _degenerate(shape, hp) and not _merge_fails(shape, hp)]


@pytest.mark.parametrize("shape,hp", CASES, ids=lambda x: str(x) if isinstance(x, tuple) else "-".join(f"{k}={v}" for k, v in x.items()))
def test_matches_reference(shape, hp, qr_in_float64):
    """float64, every step and every state buffer (the bases up to their columns' signs): 1e-10."""
    p0, grads = _problem(shape)
    expected, theirs = _reference_run(p0, grads, hp)
    ours, state = _our_run(p0, grads, hp)
    for t in range(STEPS):
        assert ours[t].shape == shape and ours[t].dtype == np.float64
        assert max_rel(ours[t], expected[t]) <= 1e-10, f"step {t + 1}"
    assert max_rel(state["exp_avg"], theirs["exp_avg"].numpy()) <= 1e-10
    assert max_rel(state["exp_avg_sq"], theirs["exp_avg_sq"].numpy()) <= 1e-10
    factors = [i for i, gg in enumerate(theirs["GG"]) if len(gg)]
    assert sorted(k for k in state if k.startswith(("GG_", "Q_"))) == sorted([f"GG_{i}" for i in factors] + [f"Q_{i}" for i in factors])
    for i in factors:
        assert max_rel(state[f"GG_{i}"], theirs["GG"][i].numpy()) <= 1e-10
        assert max_rel(_signed(state[f"Q_{i}"]), _signed(theirs["Q"][i].numpy())) <= 1e-10
    assert state["step"] == STEPS


@pytest.mark.parametrize("shape", [(3, 4), (5, 5), (2, 3, 4), (2,)], ids=str)
def test_against_reference_as_shipped(shape):
    """The declared difference: the reference's QR in float32. Measured over EXAMPLES: up to
    1.6e-7 (max_rel) after 14 steps in float64; exact before the first refresh."""
    worst = 0.0
    for hp in EXAMPLES:
        if _merge_fails(shape, hp):
            continue
        p0, grads = _problem(shape)
        expected, _ = _reference_run(p0, grads, hp)
        ours, _ = _our_run(p0, grads, hp)
        assert max_rel(ours[1], expected[1]) <= 1e-12  # step 2: no QR yet
        worst = max(worst, max(max_rel(a, b) for a, b in zip(ours, expected)))
    assert worst <= 1e-6


@pytest.mark.parametrize("shape", [(3, 4), (5, 5), (6,), (2, 3, 4)], ids=str)
def test_float32(shape):
    """float32 on both sides (eigh and QR in float32, LAPACKs from OpenBLAS and MKL): 1e-4."""
    for hp in EXAMPLES:
        if _degenerate(shape, hp) or _merge_fails(shape, hp):
            continue
        p0, grads = _problem(shape, np.float32)
        expected, _ = _reference_run(p0, grads, hp)
        ours, state = _our_run(p0, grads, hp)
        assert ours[-1].dtype == np.float32 and all(v.dtype == np.float32 for k, v in state.items() if k != "step")
        assert max(max_rel(a, b) for a, b in zip(ours, expected)) <= 1e-4, hp


def test_repeated_eigenvalues_are_declared(qr_in_float64):
    """A vector of n > 2 elements with precondition_1d: after the first gradient g g^T has n - 1
    zero eigenvalues, whose eigenvectors NumPy's and torch's LAPACK choose differently; the runs
    then differ by O(1) of the update (measured 0.31 of the parameters' scale on (6,) over 14
    steps), while a 2-element vector (one zero eigenvalue) agrees to 1e-10 (test_matches_reference)."""
    hp = EXAMPLES[1]
    p0, grads = _problem((6,))
    expected, _ = _reference_run(p0, grads, hp)
    ours, _ = _our_run(p0, grads, hp)
    assert max_rel(ours[0], expected[0]) <= 1e-12  # the first step only starts the factor
    assert 1e-3 < max(max_rel(a, b) for a, b in zip(ours, expected)) <= 1.0
    assert np.all(np.isfinite(ours[-1]))


def test_vector_reduces_to_adam_that_skips_its_first_gradient():
    """Without precondition_1d a vector (and a 0-d parameter) has no factor: Adam from the second
    gradient on, eps outside the bias correction, decoupled decay after the step."""
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.99, 1e-6, 0.1
    hp = {"learning_rate": lr, "beta1": b1, "beta2": b2, "epsilon": eps, "weight_decay": wd}
    for shape in [(6,), ()]:
        p0, grads = _problem(shape)
        ours, _ = _our_run(p0, grads, hp)
        p, m, v = p0.copy(), np.zeros(shape), np.zeros(shape)
        for t, g in enumerate(grads, start=1):
            if t > 1:
                s = t - 1
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                p = p - lr * np.sqrt(1 - b2**s) / (1 - b1**s) * m / (np.sqrt(v) + eps)
                p = p * (1 - lr * wd)
            assert max_rel(ours[t - 1], p) <= 1e-12, (shape, t)


@pytest.mark.parametrize("shape", [(3, 4), (2,)], ids=str)
def test_batch_rows_are_runs_alone(shape, qr_in_float64):
    """(B, ...) with (B,) hyperparameters: B independent parameters, each the reference's run alone
    (refreshes on different steps per row: precondition_frequency differs)."""
    rows = [{"learning_rate": 0.01, "beta1": 0.95, "beta2": 0.95, "shampoo_beta": -1.0, "precondition_frequency": 3.0,
             "weight_decay": 0.01, "epsilon": 1e-8},
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.99, "shampoo_beta": 0.8, "precondition_frequency": 4.0,
             "weight_decay": 0.1, "epsilon": 1e-6},
            {"learning_rate": 0.005, "beta1": 0.5, "beta2": 0.9, "shampoo_beta": 0.0, "precondition_frequency": 1.0,
             "weight_decay": 0.0, "epsilon": 1e-3}]
    for flags in ({"precondition_1d": True}, {"normalize_gradient": True, "correct_bias": False, "maximize": True}):
        hp = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        hp.update(flags)
        p0, grads = _problem((len(rows),) + shape, seed=1)
        ours, state = _our_run(p0, grads, hp)
        for b, row in enumerate(rows):
            expected, theirs = _reference_run(p0[b], [g[b] for g in grads], {**row, **flags})
            for t in range(STEPS):
                assert max_rel(ours[t][b], expected[t]) <= 1e-10, (flags, b, t + 1)
            assert max_rel(state["exp_avg_sq"][b], theirs["exp_avg_sq"].numpy()) <= 1e-10


def test_refusals():
    with pytest.raises(UsageError, match="max_precondition_dim must be one value for every run"):
        SPEC.bind({"max_precondition_dim": np.array([4.0, 8.0])}, np.zeros((2, 3, 4)))
    with pytest.raises(UsageError, match=r"merge_dims merges a parameter of shape \(3, 4\) into one axis"):
        oa.SOAP(merge_dims=True).update(np.zeros((3, 4)), np.ones((3, 4)))
    p = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))  # where the reference fails too
    opt = po.SOAP([p], merge_dims=True)
    p.grad = torch.ones(3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="invalid for input of size 12"):
        opt.step()
    for bad in ({"shampoo_beta": -0.5}, {"precondition_frequency": 0.0}, {"precondition_frequency": 2.5},
                {"max_precondition_dim": 0.0}, {"beta1": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            oa.SOAP(**bad)


def test_race_on_points():
    """A race's runs are points (B, 2): SOAP races them, Adam-like or with its 2 x 2 factor, and
    the first step moves nothing (it only starts the statistics)."""
    res = race("rosenbrock", [Racer("soap", {"learning_rate": 0.02}),
                              Racer("soap", {"learning_rate": 0.02, "precondition_1d": True, "precondition_frequency": 3.0})],
               steps=200)
    pos = np.asarray(res.positions)  # (racers, starts, steps + 1, 2)
    assert np.all(np.isfinite(pos))
    assert np.array_equal(pos[:, :, 0], pos[:, :, 1]) and not np.array_equal(pos[:, :, 1], pos[:, :, 2])
    losses = np.asarray(res.losses)
    assert np.all(losses[:, :, -1] < losses[:, :, 0])


# ---------------------------------------------------------------- the torch bridge


def _model(seed=0):
    torch.manual_seed(seed)
    # weights (4, 4) and (3, 4): every factor's eigenvalues distinct (a (2, 5) weight's 5 x 5 factor
    # would start with 3 zero eigenvalues: the declared freedom of LAPACK's basis)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()


@pytest.mark.parametrize("kw", [{"lr": 0.01}, {"lr": 0.02, "betas": (0.9, 0.99), "precondition_frequency": 3, "weight_decay": 0.1,
                                               "normalize_gradient": True}], ids=["defaults", "options"])
def test_bridge_on_a_model(kw, qr_in_float64):
    """optarena.torch.SOAP on a model (2-D weights with factors, 1-D biases Adam-like) steps as the
    reference (float64, 1e-10), its state holding the same moments."""
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.normal(size=(8, 4))), torch.tensor(rng.normal(size=(8, 3)))) for _ in range(12)]
    m1, m2 = _model(), _model()
    ours, ref = ot.SOAP(m1.parameters(), **kw), po.SOAP(m2.parameters(), **kw)
    for x, y in batches:
        for m, opt in ((m1, ours), (m2, ref)):
            opt.zero_grad()
            F.mse_loss(m(x), y).backward()  # (cross-entropy's gradients have rank < classes: repeated zeros)
            opt.step()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert max_rel(p.detach().numpy(), q.detach().numpy()) <= 1e-10
        assert max_rel(ours.state[p]["exp_avg_sq"].numpy(), ref.state[q]["exp_avg_sq"].numpy()) <= 1e-10
