"""L-BFGS (optarena.optim.rules.lbfgs) against torch.optim.LBFGS: the same closure (a NumPy function and
its gradient) drives both, for 5 outer steps; each step's parameters, returned loss and closure
calls must match, with and without the strong Wolfe line search.

The arithmetic differs from torch's only in rounding (torch's dot products and ``add_(alpha=)``
use MKL/fused multiply-adds, NumPy's do not), so the well-conditioned runs agree to 1e-10. Twenty
iterations a step on the Rosenbrock valley amplify those roundings (up to 6e-2 relative after 5
steps, 10-D, no line search): there the bound is torch's own spread when its start moves by one
ulp (ours stayed within 1.5 times it in every case measured), and the evaluation counts, which
follow every branch, must still be equal."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

from optarena.errors import UsageError
from optarena.optim.rules import lbfgs
from optarena.optim.rules.lbfgs import LBFGS

torch = pytest.importorskip("torch")

STEPS = 5
TOL = 1e-10


def rosenbrock(x):
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


_rng = np.random.default_rng(0)
_Q = _rng.normal(size=(20, 20))
A, B = _Q.T @ _Q / 20 + 0.1 * np.eye(20), _rng.normal(size=20)
X = _rng.normal(size=(60, 6))
Y = np.sign(X @ _rng.normal(size=6) + 0.5 * _rng.normal(size=60))


def quadratic(x):
    return 0.5 * x @ A @ x - B @ x, A @ x - B


def logistic(w):
    m = Y * (X @ w)
    return np.mean(np.logaddexp(0, -m)) + 0.005 * w @ w, X.T @ (-Y / (1 + np.exp(m))) / len(Y) + 0.01 * w


PROBLEMS = {
    "rosenbrock2": (rosenbrock, np.array([-1.2, 1.0])),
    "rosenbrock10": (rosenbrock, np.tile([-1.2, 1.0], 5)),
    "quadratic20": (quadratic, _rng.normal(size=20)),
    "logistic": (logistic, np.zeros(6)),
}
SETTINGS = list(itertools.product([False, True], [3, 100], [1, 20], [0.5, 1.0]))  # line search, history, max_iter, lr


def torch_run(fun, x0, line_search=False, learning_rate=1.0, steps=STEPS, **kw):
    """torch.optim.LBFGS's (params, loss, closure calls) after each step, and its final state."""
    p = torch.tensor(x0, requires_grad=True)
    opt = torch.optim.LBFGS([p], lr=learning_rate, line_search_fn="strong_wolfe" if line_search else None, **kw)

    def closure():
        f, g = fun(p.detach().numpy().copy())
        p.grad = torch.from_numpy(np.array(g, dtype=x0.dtype))
        return f

    out = []
    for _ in range(steps):
        before = opt.state[p].get("func_evals", 0)
        loss = opt.step(closure)
        out.append((p.detach().numpy().copy(), float(loss), opt.state[p]["func_evals"] - before))
    return out, opt.state[p]


def our_run(fun, x0, steps=STEPS, **kw):
    opt = LBFGS(**kw).reset(x0)
    out = []
    for _ in range(steps):
        loss = opt.step(fun)
        out.append((opt.params.copy(), loss, opt.last_evaluations))
    return out, opt


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


def one_ulp_spread(fun, x0, reference, **kw):
    """How far torch's own parameters move, step by step, when one start coordinate moves one ulp."""
    spread = np.zeros(STEPS)
    for k in range(min(4, len(x0))):
        x1 = x0.copy()
        x1[k] = np.nextafter(x1[k], np.inf)
        moved, _ = torch_run(fun, x1, **kw)
        spread = np.maximum(spread, [rel(m[0], r[0]) for m, r in zip(moved, reference)])
    return spread


@pytest.mark.parametrize("line_search,history_size,max_iter,learning_rate", SETTINGS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_steps_equal_torch(problem, line_search, history_size, max_iter, learning_rate):
    fun, x0 = PROBLEMS[problem]
    kw = dict(line_search=line_search, history_size=history_size, max_iter=max_iter, learning_rate=learning_rate)
    ref, ref_state = torch_run(fun, x0, **kw)
    ours, opt = our_run(fun, x0, **kw)
    assert [o[2] for o in ours] == [r[2] for r in ref]  # closure calls, step by step
    assert opt.evaluations == ref_state["func_evals"] and opt.state["n_iter"] == ref_state["n_iter"]
    assert len(opt.state["old_dirs"]) == len(ref_state["old_dirs"])
    chaotic = problem.startswith("rosenbrock") and max_iter > 1
    bound = np.maximum(TOL, 10 * one_ulp_spread(fun, x0, ref, **kw)) if chaotic else np.full(STEPS, TOL)
    starts = [x0] + [o[0] for o in ours]
    for k, ((p, loss, _), (p_ref, loss_ref, _)) in enumerate(zip(ours, ref)):
        assert rel(p, p_ref) <= bound[k], (k, rel(p, p_ref), bound[k])
        assert loss == fun(starts[k])[0]  # the loss at the step's start
        # near the valley's floor a tiny move changes the loss's leading digits: there the params carry the check
        assert chaotic or rel(loss, loss_ref) <= TOL, k


@pytest.mark.parametrize("line_search", [False, True])
def test_state_and_stopping_rules_equal_torch(line_search):
    """Tighter max_eval and tolerances: every stopping rule fires; the state matches torch's by name."""
    fun, x0 = PROBLEMS["quadratic20"]
    kw = dict(line_search=line_search, max_iter=8, max_eval=6, tolerance_grad=1e-3, tolerance_change=1e-4,
              history_size=4, learning_rate=0.7)
    ref, ref_state = torch_run(fun, x0, steps=8, **kw)
    ours, opt = our_run(fun, x0, steps=8, **kw)
    assert [o[2] for o in ours] == [r[2] for r in ref]
    assert all(o[2] <= 6 for o in ours)
    for (p, loss, _), (p_ref, loss_ref, _) in zip(ours, ref):
        assert rel(p, p_ref) <= TOL and rel(loss, loss_ref) <= TOL
    st = opt.state
    assert (st["n_iter"], st["func_evals"]) == (ref_state["n_iter"], ref_state["func_evals"])
    assert rel(st["prev_flat_grad"], ref_state["prev_flat_grad"].numpy()) <= TOL
    # d, a direction near the optimum, carries the dot products' rounding: ours equals the d made with
    # exact (Fraction) dot products, torch's BLAS dots put it ~1.5e-10 away. Bound: 10 times how far
    # torch's own d moves when a start coordinate moves one ulp (measured 6.3e-11), at least TOL.
    spread = 0.0
    for k in range(4):
        x1 = x0.copy()
        x1[k] = np.nextafter(x1[k], np.inf)
        spread = max(spread, rel(torch_run(fun, x1, steps=8, **kw)[1]["d"].numpy(), ref_state["d"].numpy()))
    assert rel(st["d"], ref_state["d"].numpy()) <= max(TOL, 10 * spread), (rel(st["d"], ref_state["d"].numpy()), spread)
    for name in ("t", "H_diag", "prev_loss"):
        assert rel(float(st[name]), float(ref_state[name])) <= TOL, name
    for name in ("old_dirs", "old_stps", "ro"):
        assert len(st[name]) == len(ref_state[name]) <= 4
        for a, b in zip(st[name], ref_state[name]):
            assert rel(a, b.numpy()) <= TOL, name


def test_a_start_at_the_optimum_evaluates_once_and_stays():
    opt = LBFGS().reset(np.ones(3))
    assert opt.step(rosenbrock) == 0.0
    assert opt.last_evaluations == opt.evaluations == 1 and opt.state["n_iter"] == 0
    np.testing.assert_array_equal(opt.params, np.ones(3))


def test_one_iteration_with_line_search_stays_when_the_trial_is_no_lower():
    """max_iter 1 leaves the line search one evaluation: the first trial, kept only if lower (as torch)."""
    fun = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    x0 = np.array([0.1, -0.2])
    ref, _ = torch_run(fun, x0, line_search=True, max_iter=1, learning_rate=100.0, steps=2)
    ours, opt = our_run(fun, x0, line_search=True, max_iter=1, learning_rate=100.0, steps=2)
    np.testing.assert_array_equal(ours[0][0], x0)
    assert opt.state["t"] == 0
    for (p, loss, n), (p_ref, loss_ref, n_ref) in zip(ours, ref):
        assert n == n_ref == 2 and rel(p, p_ref) <= TOL and loss == loss_ref


def test_float32_follows_torch():
    fun, x0 = PROBLEMS["quadratic20"]
    x32 = x0.astype(np.float32)

    def fun32(x):
        f, g = fun(x.astype(np.float64))
        return float(np.float32(f)), g.astype(np.float32)

    for line_search in (False, True):
        ref, _ = torch_run(fun32, x32, line_search=line_search, max_iter=5, steps=3)
        ours, _ = our_run(fun32, x32, line_search=line_search, max_iter=5, steps=3)
        for (p, _, n), (p_ref, _, n_ref) in zip(ours, ref):
            assert p.dtype == np.float32 and n == n_ref and rel(p, p_ref) <= 1e-4


def test_the_closure_gets_a_copy_and_step_returns_the_starting_loss():
    seen = []

    def fun(x):
        seen.append(x)
        f, g = quadratic(x)
        x[:] = 1e9  # a closure that scribbles on its argument changes nothing
        return f, g

    x0 = PROBLEMS["quadratic20"][1]
    opt = LBFGS(max_iter=3).reset(x0)
    assert opt.step(fun) == quadratic(x0)[0]
    assert len(seen) == opt.evaluations == 3 and np.all(np.abs(opt.params) < 1e3)


@pytest.mark.parametrize("kw,match", [
    (dict(learning_rate=-1.0), "learning_rate"), (dict(tolerance_grad=float("nan")), "tolerance_grad"),
    (dict(tolerance_change=-1e-9), "tolerance_change"), (dict(max_iter=0), "max_iter"), (dict(max_eval=2.5), "max_eval"),
    (dict(history_size=True), "history_size"), (dict(line_search="strong_wolfe"), "line_search"),
])
def test_bad_arguments_name_themselves(kw, match):
    with pytest.raises(UsageError, match=match):
        LBFGS(**kw)


def test_bad_params_and_gradients_are_usage_errors():
    with pytest.raises(UsageError, match="reset"):
        LBFGS().step(quadratic)
    with pytest.raises(UsageError, match="flat"):
        LBFGS().reset(np.zeros((2, 2)))
    with pytest.raises(UsageError, match="gradient"):
        LBFGS().reset(np.zeros(3)).step(lambda x: (0.0, np.zeros(2)))


def test_docstring_example_runs():
    assert doctest.testmod(lbfgs, raise_on_error=True).attempted >= 1
