"""Prodigy's ``slice_p`` against prodigyopt 1.1.2: s, p0 and the sum r's terms keep every n-th
element of the flattened parameter. Not in the spec's ``examples``: the fused (two-pass) form
covers slice_p = 1 only (its state arrays hold one entry per element), and those examples are held
to the fused form too; here the readable rule, the article's class and the torch bridge meet the
reference, on one parameter and over several (d's sums run across all of them)."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.errors import UsageError
from optarena.optim import registry

from cases import max_rel, problem, run_reference, run_spec

torch = pytest.importorskip("torch")
prodigyopt = pytest.importorskip("prodigyopt")

TOL = {np.float64: 1e-12, np.float32: 1e-5}
SPEC = registry.get("prodigy")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape, n", [((7,), 3), ((5, 6), 4), ((3, 4), 11), ((), 2)], ids=str)
@pytest.mark.parametrize("hp", [{}, {"weight_decay": 0.1, "learning_rate": 0.5, "d0": 1e-3}, {"safeguard_warmup": True, "beta1": 0.0}],
                         ids=["defaults", "decay", "warmup"])
def test_slice_p_matches_reference(hp, shape, n, dtype, torch_dtype):
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    p0, grads = problem(shape, 12, dtype, seed=1)
    theirs = {{"learning_rate": "lr", "beta1": "betas"}.get(k, k): ((v, 0.999) if k == "beta1" else v) for k, v in hp.items()}
    tp = torch.nn.Parameter(torch.tensor(p0))
    expected, tstate = run_reference(prodigyopt.Prodigy([tp], slice_p=n, **theirs), tp, grads)
    ours, state = run_spec(SPEC, {**hp, "slice_p": float(n)}, p0.copy(), grads)
    assert not np.array_equal(ours[-1], p0)
    for t in range(12):
        assert max_rel(ours[t], expected[t]) <= TOL[dtype], f"step {t + 1}"
    for key in ("s", "p0", "exp_avg_sq"):
        assert np.shape(state[key]) == tuple(tstate[key].shape), key
        assert max_rel(state[key], tstate[key].numpy()) <= TOL[dtype], key
    if np.size(p0) > n:  # slicing changes d: the estimate is not every element's
        full, _ = run_spec(SPEC, hp, p0.copy(), grads)
        assert max_rel(full[-1], ours[-1]) > 1e-9


def test_slice_p_over_several_parameters_through_the_bridge(torch_dtype):
    """A vector and a matrix in one optimizer: optarena.torch.Prodigy(slice_p=3) steps as
    prodigyopt's, and its state dict loads into prodigyopt and back."""
    import optarena.torch as ot

    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(2)
    shapes = [(7,), (4, 5)]
    starts = [rng.normal(size=s) for s in shapes]
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(10)]
    ps = {k: [torch.nn.Parameter(torch.tensor(x)) for x in starts] for k in ("ours", "theirs")}
    opts = {"ours": ot.Prodigy(ps["ours"], slice_p=3, weight_decay=0.01), "theirs": prodigyopt.Prodigy(ps["theirs"], slice_p=3,
                                                                                                        weight_decay=0.01)}
    for t in range(10):
        for k in opts:
            for p, g in zip(ps[k], grads[t]):
                p.grad = torch.tensor(g)
            opts[k].step()
        for a, b in zip(ps["ours"], ps["theirs"]):
            assert max_rel(a.detach().numpy(), b.detach().numpy()) <= 1e-12, t
        if t == 4:  # cross state dicts both ways, mid-run
            opts["theirs"].load_state_dict(opts["ours"].state_dict())
            opts["ours"].load_state_dict(opts["theirs"].state_dict())
    assert opts["ours"].state[ps["ours"][1]]["s"].shape == (7,)  # 20 elements, every third


def test_slice_p_is_checked():
    with pytest.raises(UsageError, match="slice_p must be a whole number"):
        oa.Prodigy(slice_p=0)
    with pytest.raises(UsageError, match="slice_p must be a whole number"):
        oa.Prodigy(slice_p=1.5)
    with pytest.raises(UsageError, match="slice_p must be the same for every run"):
        oa.Prodigy(slice_p=np.array([1.0, 2.0]))
