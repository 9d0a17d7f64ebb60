"""L-BFGS: a quasi-Newton method that steps along an inverse-Hessian estimate built from the last
``history_size`` pairs (s, y) of parameter and gradient changes. It needs a closure, not a gradient:
one ``step`` runs up to ``max_iter`` iterations and may evaluate the function several times.

Each iteration, with g the gradient at x, and s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k kept while
y.s > 1e-10 (the oldest dropped beyond ``history_size``):

    first iteration ever:  d = -g,  t = min(1, 1 / |g|_1) lr
    later:                 d = -H g by the two-loop recursion (H0 = (y.s / y.y) I, latest pair),  t = lr
        q = -g;  for k newest..oldest:  a_k = rho_k s_k.q,  q -= a_k y_k        (rho_k = 1 / y_k.s_k)
        r = H0 q;  for k oldest..newest:  b = rho_k y_k.r,  r += (a_k - b) s_k;  d = r
    stop if g.d > -tolerance_change; else x += t d, with t from the strong Wolfe line search
    (c1 = 1e-4, c2 = 0.9: a cubic-interpolation bracket then zoom, at most max_eval minus the
    evaluations already made), or fixed t and one evaluation (none on the step's last iteration)
    stop after max_iter iterations, max_eval evaluations, max|g| <= tolerance_grad,
    max|t d| <= tolerance_change or |f - f_prev| < tolerance_change.

A step starts by evaluating f and g at x and stops at once if max|g| <= tolerance_grad. It returns
that first loss (the loss at the parameters the step started from), as torch does.

Nocedal, Updating Quasi-Newton Matrices with Limited Storage (Math. Comp. 1980); Liu & Nocedal,
On the limited memory BFGS method for large scale optimization (Math. Prog. 1989); the line search
is Nocedal & Wright, Numerical Optimization, Algorithms 3.5 and 3.6, as in minFunc. Reference:
``torch.optim.LBFGS`` (torch 2.13.0), matched step by step (parameters, losses, the number of
evaluations, and the state it keeps, under the same names), defaults included. Differences: the
parameters are one flat NumPy vector and the closure returns ``(loss, grad)`` at the point it is
given; ``max_iter`` and ``max_eval`` must be >= 1 (torch takes 0, and fails in its line search
with ``max_eval`` 0). As in torch, the line search's own bracket tolerance is 1e-9 whatever
``tolerance_change`` is (torch does not pass it on), and ``max_iter`` 1 with the line search
evaluates once and stays put when that trial point is no lower. Measured (tests/optim/test_lbfgs.py):
float64 parameters within 1e-10 of torch's and the same evaluation counts, except where 20
iterations on the Rosenbrock valley amplify the two's different roundings of dot products (MKL,
fused multiply-adds): there within 1.5 times (tested: 10 times) how far torch itself moves when
its start moves by one ulp. float32 within 1e-4 (torch rounds some scalars to float32 elsewhere).

``optarena.torch.LBFGS`` is torch's class running this one on the flattened parameters (``resume``
carries torch's state between steps; tests/torch/test_lbfgs_bridge.py).

In a race (``update`` given ``batched_closure``, no line search, float64) all runs step at once as
arrays, equal bit for bit to one LBFGS object a run (tests/optim/test_lbfgs_race.py); the strong
Wolfe line search steps each run on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...errors import UsageError, UsageTypeError
from .._spec import Array, Hyper, HyperValues, OptimizerSpec, Reference, State, is_batched

Closure = Callable[[Array], "tuple[Any, Array]"]

CURVATURE_MIN = 1e-10  # a pair (s, y) enters the history only if y.s exceeds it
C1, C2 = 1e-4, 0.9  # sufficient decrease and curvature constants of the strong Wolfe conditions
LINE_SEARCH_TOLERANCE = 1e-9  # bracket width (times max|d|) below which the zoom stops

HYPERS = (
    Hyper("learning_rate", 1.0, low=0.0),
    Hyper("tolerance_grad", 1e-7, low=0.0),
    Hyper("tolerance_change", 1e-9, low=0.0),
)


def cubic_minimizer(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple[Any, Any] | None = None) -> Any:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    ``bounds`` (default: the interval between x1 and x2); its midpoint if the cubic has none."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if not disc >= 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(disc)
    if x1 <= x2:  # measured from the farther point, as minFunc's polyinterp
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


@dataclass
class Point:
    """A trial step t along d: the loss, gradient and directional derivative there."""

    t: Any
    f: Any
    g: Array
    gtd: Any


def strong_wolfe(evaluate: Callable[[Any], tuple[Any, Array]], d: Array, t: Any, start: Point, max_ls: int) -> tuple[Point, int]:
    """The step along d satisfying the strong Wolfe conditions, found from the guess ``t`` by
    bracketing then zooming, in at most ``max_ls`` evaluations after the first (at least one).
    ``start`` is the point t = 0. Returns the lowest point found and the evaluations made."""
    f0, gtd0 = start.f, start.gtd
    d_norm = np.max(np.abs(d))

    def trial(t: Any) -> Point:
        f, g = evaluate(t)
        return Point(t, f, g, g @ d)

    new = trial(t)
    evals, ls_iter, prev = 1, 0, start
    done = False
    bracket: list[Point] | None = None
    while ls_iter < max_ls:  # bracketing: grow t until an interval holds a Wolfe point
        if new.f > f0 + C1 * new.t * gtd0 or (ls_iter > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if abs(new.gtd) <= -C2 * gtd0:
            bracket, done = [new], True
            break
        if new.gtd >= 0:
            bracket = [prev, new]
            break
        t = cubic_minimizer(prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
                            bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev, new = new, trial(t)
        evals += 1
        ls_iter += 1
    if bracket is None:  # out of evaluations: keep the better of x and the last trial
        bracket = [start, new]

    low = 0 if bracket[0].f <= bracket[-1].f else 1
    insufficient = False
    while not done and ls_iter < max_ls:  # zoom: shrink the bracket around a Wolfe point
        a, b = bracket
        if abs(b.t - a.t) * d_norm < LINE_SEARCH_TOLERANCE:
            break
        t = cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t_lo, t_hi = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (t_hi - t_lo)
        if min(t_hi - t, t - t_lo) < margin:  # t near an end: move it inside if that recurs or it is at the end
            if insufficient or t >= t_hi or t <= t_lo:
                t = t_hi - margin if abs(t - t_hi) < abs(t - t_lo) else t_lo + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        new = trial(t)
        evals += 1
        ls_iter += 1
        high = 1 - low
        if new.f > f0 + C1 * new.t * gtd0 or new.f >= bracket[low].f:
            bracket[high] = new
            low = 0 if bracket[0].f <= bracket[1].f else 1
        else:
            if abs(new.gtd) <= -C2 * gtd0:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    return bracket[low], evals


class LBFGS:
    """L-BFGS over one flat parameter vector, driven by a closure ``closure(x) -> (loss, grad)``.

    ``reset(x0)`` sets the parameters (and clears the history); ``step(closure)`` runs one torch
    step (up to ``max_iter`` iterations) and returns the loss at the parameters it started from.
    ``params`` holds the current parameters, ``evaluations`` the closure calls so far and
    ``last_evaluations`` those of the last step; ``state`` keeps torch's state under torch's names.

    >>> opt = LBFGS(line_search=True).reset(np.array([3.0, -2.0]))
    >>> loss = opt.step(lambda x: (x @ x, 2 * x))
    >>> bool(np.allclose(opt.params, 0.0)), opt.evaluations
    (True, 3)
    """

    def __init__(self, learning_rate: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search: bool = False) -> None:
        where = "LBFGS"
        self.learning_rate, self.tolerance_grad, self.tolerance_change = (
            h.check(v, where) for h, v in zip(HYPERS, (learning_rate, tolerance_grad, tolerance_change)))
        self.max_iter = _count("max_iter", max_iter)
        self.max_eval = _count("max_eval", max_iter * 5 // 4 if max_eval is None else max_eval)
        self.history_size = _count("history_size", history_size)
        if not isinstance(line_search, (bool, np.bool_)):
            raise UsageTypeError(f"{where}: line_search must be True or False, got {line_search!r}",
                                 field="line_search", allowed=[True, False])
        self.line_search = bool(line_search)
        self._params: Array | None = None
        self.state: dict[str, Any] = {}
        self.last_evaluations = 0

    @property
    def params(self) -> Array:
        """The current parameters (the optimizer's own array: copy it to keep it)."""
        if self._params is None:
            raise UsageError("LBFGS: call reset(params) before step", field="params")
        return self._params

    @property
    def evaluations(self) -> int:
        """Closure calls since the last ``reset`` (torch's ``state['func_evals']``)."""
        return int(self.state.get("func_evals", 0))

    def reset(self, params: Array) -> LBFGS:
        """Start from ``params`` (a 1-D float32 or float64 vector, copied) with an empty history."""
        x = np.array(params, copy=True)
        if x.ndim != 1:
            raise UsageError(f"LBFGS: params must be one flat vector, got shape {x.shape}", field="params")
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        self._params, self.state, self.last_evaluations = x, {"func_evals": 0, "n_iter": 0}, 0
        return self

    def resume(self, params: Array, state: dict[str, Any]) -> LBFGS:
        """Continue a run at ``params`` (copied, as ``reset``) with the ``state`` a step left (torch's
        names, NumPy values): the torch bridge keeps the state as torch does between steps."""
        self.reset(params)
        self.state.update(state)
        return self

    def step(self, closure: Closure) -> float:
        """One L-BFGS step: returns the loss at the parameters it started from."""
        x, st, lr = self.params, self.state, self.learning_rate
        dtype = x.dtype.type
        used = 0

        def evaluate(at: Array) -> tuple[float, Array]:
            nonlocal used
            loss, grad = closure(at.copy())  # a copy: a closure that writes into its argument changes nothing here
            grad = np.asarray(grad, dtype=at.dtype).reshape(-1)
            if grad.shape != at.shape:
                raise UsageError(f"LBFGS: the closure's gradient has {grad.size} values for {at.size} parameters", field="closure")
            used += 1
            st["func_evals"] += 1
            return float(loss), grad

        def finish(first_loss: float) -> float:
            self._params, self.last_evaluations = x, used
            return first_loss

        loss, g = evaluate(x)
        first_loss = loss
        if np.max(np.abs(g)) <= self.tolerance_grad:
            return finish(first_loss)

        d, t = st.get("d"), st.get("t")
        old_dirs: list[Array] = st.get("old_dirs", [])
        old_stps: list[Array] = st.get("old_stps", [])
        ro: list[Any] = st.get("ro", [])
        h_diag = st.get("H_diag")
        prev_g, prev_loss = st.get("prev_flat_grad"), st.get("prev_loss")
        optimal = False
        for it in range(1, self.max_iter + 1):
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d, old_dirs, old_stps, ro, h_diag = -g, [], [], [], 1
            else:
                y, s = g - prev_g, d * dtype(t)
                ys = _dot_as(y, s)
                if ys > CURVATURE_MIN:
                    if len(old_dirs) == self.history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _dot_as(y, y)
                d = two_loop(g, old_dirs, old_stps, ro, h_diag)
            prev_g, prev_loss = g, loss
            t = min(1.0, 1.0 / np.sum(np.abs(g))) * lr if st["n_iter"] == 1 else lr
            gtd = _dot_as(g, d)
            if gtd > -self.tolerance_change:  # not a descent direction (to tolerance)
                break

            if self.line_search:
                x0 = x
                point, _ = strong_wolfe(lambda t: evaluate(x0 + dtype(t) * d), d, t, Point(0, loss, g, gtd),
                                        self.max_eval - used)
                loss, g, t = point.f, point.g, point.t
                x = x0 + dtype(t) * d
                optimal = np.max(np.abs(g)) <= self.tolerance_grad
            else:
                x = x + dtype(t) * d
                if it != self.max_iter:  # the last iteration's point is evaluated by the next step
                    loss, g = evaluate(x)
                    optimal = np.max(np.abs(g)) <= self.tolerance_grad
            if it == self.max_iter or used >= self.max_eval or optimal:
                break
            if np.max(np.abs(d * dtype(t))) <= self.tolerance_change or abs(loss - prev_loss) < self.tolerance_change:
                break  # no progress

        st.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                  prev_flat_grad=prev_g, prev_loss=prev_loss)
        return finish(first_loss)


def two_loop(g: Array, old_dirs: list[Array], old_stps: list[Array], ro: list[Any], h_diag: Any) -> Array:
    """-H g for the L-BFGS inverse Hessian H of the pairs (s, y) = (old_stps, old_dirs), H0 = h_diag I.

    Its dot products are ``lbfgs_kernels.dot``'s, the routine the batched race path compiles in
    (``_two_loop_rows``), so one run stepped here and in a batch gives the same bits."""
    from ..lbfgs_kernels import dot

    q = -g
    alpha: list[Any] = [0.0] * len(old_dirs)
    for i in reversed(range(len(old_dirs))):
        alpha[i] = dot(old_stps[i], q) * ro[i]
        q = q - alpha[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        beta = dot(old_dirs[i], r) * ro[i]
        r = r + (alpha[i] - beta) * old_stps[i]
    return r


def _count(name: str, value: Any) -> int:
    """A positive integer argument, or a one-line error naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"LBFGS: {name} must be an integer >= 1, got {value!r}", field=name, allowed="an integer >= 1")
    return int(value)


__all__ = ["LBFGS", "cubic_minimizer", "strong_wolfe", "two_loop"]


# ------------------------------------------------------------------ as a registered optimizer
# A step is one torch ``step(closure)`` per run; the race records the evaluations each run made, so
# budgets against first-order rules (one gradient a step) compare in evaluations. Two paths:
#
# * batched (the race's, without the line search, in float64): every run of the batch steps at
#   once. The state holds arrays: (B, m, n) histories in order oldest to newest with per-run
#   counts, the two-loop recursion runs over B with masks where the counts differ, and each
#   iteration calls ``batched_closure(X) -> (losses, grads)`` on the runs still iterating only
#   (a run that has stopped makes no evaluation, as in torch). Every dot product is
#   ``lbfgs_kernels.dot`` (compiled, compensated), as in the per-run LBFGS and the fused race loop
#   (arena.fused_lbfgs), so a run's arithmetic is the same bits on every path
#   (tests/optim/test_lbfgs_race.py, tests/arena/test_fused_lbfgs.py).
# * per run (the strong Wolfe line search, float32, or no ``batched_closure``): each run is its
#   own LBFGS object stepped with ``closure(x) -> (loss, grad)`` in a Python loop; the state holds
#   the objects (copied at every step: ``update`` stays pure).

_RUN_KEYS = ("x", "g", "loss", "n_iter", "d", "t", "prev_flat_grad", "prev_loss", "H_diag", "count",
             "used", "learning_rate", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size")
_HISTORY = ("old_dirs", "old_stps", "ro")
# what a step keeps for the next (the rest of _RUN_KEYS are the step's working values or settings)
_KEPT = ("n_iter", "d", "t", "prev_flat_grad", "prev_loss", "H_diag", "count")
_SETTINGS = ("learning_rate", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size")


def _settings(hp: HyperValues, row: int | None) -> dict[str, Any]:
    def value(k: str) -> Any:
        v = hp[k]
        return float(np.ravel(v)[row]) if row is not None and np.ndim(v) else v

    max_eval = int(value("max_eval"))
    return {"learning_rate": value("learning_rate"), "max_iter": int(value("max_iter")),
            "max_eval": None if max_eval == 0 else max_eval, "tolerance_grad": value("tolerance_grad"),
            "tolerance_change": value("tolerance_change"), "history_size": int(value("history_size")),
            "line_search": bool(hp["line_search"])}


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ()


def init(params: Array, hp: HyperValues) -> State:
    return {"step": 0}


def update(params: Array, grads: Array, state: State, hp: HyperValues, closure: Closure | None = None,
           batched_closure: Callable[[Array], tuple[Any, Array]] | None = None) -> tuple[Array, State]:
    """One L-BFGS step per run (the rows of a batch, else the whole array as one vector).

    ``closure(x) -> (loss, grad)`` evaluates one run's point (shaped as a run's params);
    ``batched_closure(X) -> (losses, grads)``, where given, a stack of them (the batched path)."""
    p = np.asarray(params)
    batched = is_batched(hp) and p.ndim > 0
    rows = p.reshape(p.shape[0], -1) if batched else p.reshape(1, -1)
    shape = p.shape[1:] if batched else p.shape
    if "n_iter" in state and batched_closure is None and closure is not None:  # a batched state: stay batched
        one = closure

        def batched_closure(x: Array) -> tuple[Array, Array]:
            pairs = [one(row) for row in x]
            return np.array([float(f) for f, _ in pairs]), np.array([np.reshape(g, -1) for _, g in pairs])

    vector = "n_iter" in state or ("runs" not in state and batched_closure is not None
                                   and not bool(hp["line_search"]) and rows.dtype == np.float64)
    if vector and batched_closure is not None:
        out, new = _step_batch(rows, state, hp, batched_closure, shape, batched)
        return out.reshape(p.shape), new
    if closure is None:
        raise UsageError("L-BFGS needs a closure: race it on a landscape, or call update(params, gradients, "
                         "closure=f) with f(x) -> (loss, gradient) at x (shaped as params)", field="closure")
    return _step_runs(p, rows, shape, state, hp, closure, batched)


def _step_runs(p: Array, rows: Array, shape: tuple[int, ...], state: State, hp: HyperValues, closure: Closure,
               batched: bool) -> tuple[Array, State]:
    """The per-run path: one LBFGS object a run, stepped in turn."""
    import copy

    runs = copy.deepcopy(state["runs"]) if "runs" in state else [
        LBFGS(**_settings(hp, b if batched else None)).reset(rows[b]) for b in range(len(rows))]
    new = np.empty_like(rows)
    for b, opt in enumerate(runs):
        opt.learning_rate = HYPERS[0].check(_settings(hp, b if batched else None)["learning_rate"], "LBFGS")  # a schedule's
        opt.step(lambda x: closure(x.reshape(shape)))
        new[b] = opt.params
    out = new.reshape(p.shape)
    return out, {"step": state["step"] + 1, "runs": runs, "evaluations": np.array([o.evaluations for o in runs])}


def _dot_as(a: Array, b: Array) -> Any:
    """a . b by ``lbfgs_kernels.dot`` (every path's dot product), as a scalar of a's dtype."""
    from ..lbfgs_kernels import dot

    return a.dtype.type(dot(a, b))


def _dot(a: Array, b: Array) -> Array:
    """Row-wise dot products of (k, n) arrays: ``lbfgs_kernels.dot`` of each row pair (``LBFGS.step``'s)."""
    from ..lbfgs_kernels import dot_rows

    return dot_rows(np.ascontiguousarray(a), np.ascontiguousarray(b))


def _two_loop_rows(g: Array, old_dirs: Array, old_stps: Array, ro: Array, h_diag: Array, count: Array) -> Array:
    """``two_loop`` for each row: histories (k, M, n) oldest first, row i holding ``count[i]`` pairs
    (compiled: ``lbfgs_kernels.two_loop_rows``, with ``two_loop``'s dot products)."""
    from ..lbfgs_kernels import two_loop_rows

    return two_loop_rows(np.ascontiguousarray(g), np.ascontiguousarray(old_dirs), np.ascontiguousarray(old_stps),
                         np.ascontiguousarray(ro), np.ascontiguousarray(h_diag, dtype=np.float64),
                         np.ascontiguousarray(count, dtype=np.int64))


def _evaluate(batched_closure: Callable[[Array], tuple[Any, Array]], x: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """Losses (k,) and gradients (k, n) at the rows of x, from the batched closure."""
    k, n = x.shape
    losses, grads = batched_closure(x.reshape((k,) + tuple(shape)).copy())
    losses = np.broadcast_to(np.asarray(losses, dtype=np.float64).reshape(-1), (k,))
    grads = np.asarray(grads, dtype=x.dtype)
    if grads.size != k * n:
        raise UsageError(f"LBFGS: the batched closure's gradients have {grads.size} values for {k} x {n} parameters",
                         field="closure")
    return losses.copy(), grads.reshape(k, n)


def _first_state(rows: Array, state: State, hp: HyperValues, batched: bool) -> State:
    """The batched path's state before its first step: settings per run (checked as LBFGS checks them)."""
    B, n = rows.shape
    cfg = [LBFGS(**_settings(hp, b if batched else None)) for b in range(B)]
    st: State = {
        "step": state["step"], "evaluations": np.zeros(B, dtype=np.int64), "n_iter": np.zeros(B, dtype=np.int64),
        "d": np.zeros((B, n)), "t": np.zeros(B), "prev_flat_grad": np.zeros((B, n)), "prev_loss": np.zeros(B),
        "H_diag": np.ones(B), "count": np.zeros(B, dtype=np.int64),
        "old_dirs": np.zeros((B, 0, n)), "old_stps": np.zeros((B, 0, n)), "ro": np.zeros((B, 0))}
    for k in _SETTINGS:
        st[k] = np.array([getattr(c, k) for c in cfg], dtype=np.int64 if k in ("max_iter", "max_eval", "history_size")
                         else np.float64)
    return st


def _step_batch(rows: Array, state: State, hp: HyperValues, batched_closure: Callable[[Array], tuple[Any, Array]],
                shape: tuple[int, ...], batched: bool) -> tuple[Array, State]:
    """The batched path: one torch step for every run at once (see the notes above ``_settings``)."""
    st = dict(state) if "n_iter" in state else _first_state(rows, state, hp, batched)
    # this step's learning rate: a schedule changes it between steps (as torch's schedulers change group["lr"])
    st["learning_rate"] = np.broadcast_to(HYPERS[0].check(np.ravel(hp["learning_rate"]), "LBFGS"), (len(rows),)).copy()
    x = np.array(rows, dtype=np.float64)
    loss, g = _evaluate(batched_closure, x, shape)
    evaluations = st["evaluations"] + 1
    active = np.flatnonzero(~(np.max(np.abs(g), axis=1) <= st["tolerance_grad"]))
    out: State = {**st, "step": st["step"] + 1, "evaluations": evaluations}
    if active.size == 0:
        return x, out

    # the step's working set: the runs still iterating, gathered (copies: the state is not touched)
    need = int(np.max(np.minimum(st["history_size"][active], st["count"][active] + st["max_iter"][active])))
    have = st["ro"].shape[1]
    hist = {k: st[k] for k in _HISTORY}
    if need > have:  # room for this step's pairs
        grow = max(need, min(2 * have, int(np.max(st["history_size"]))))
        hist = {k: np.concatenate([v, np.zeros(v.shape[:1] + (grow - have,) + v.shape[2:])], axis=1)
                for k, v in hist.items()}
    ids = active
    w = {k: st[k][ids] for k in _KEPT + _SETTINGS}
    w.update(x=x[ids], g=g[ids], loss=loss[ids], used=np.ones(len(ids), dtype=np.int64))
    w.update({k: v[ids] for k, v in hist.items()})
    final = {k: out[k].copy() for k in _KEPT}
    final.update(hist if need > have else {k: v.copy() for k, v in hist.items()})
    evals = evaluations.copy()

    def retire(stop: Array) -> None:
        nonlocal ids, w
        gone = ids[stop]
        x[gone] = w["x"][stop]
        evals[gone] += w["used"][stop] - 1
        for k in _KEPT + _HISTORY:
            final[k][gone] = w[k][stop]
        keep = ~stop
        ids = ids[keep]
        w = {k: v[keep] for k, v in w.items()}

    it = 0
    while ids.size:
        it += 1
        w["n_iter"] = w["n_iter"] + 1
        first = w["n_iter"] == 1
        gk = w["g"]
        if first.all():
            d = -gk
            w["count"] = np.zeros_like(w["count"])
            w["H_diag"] = np.ones(len(ids))
        else:
            y = gk - w["prev_flat_grad"]
            s = w["d"] * w["t"][:, None]
            ys = _dot(y, s)
            push = (ys > CURVATURE_MIN) & ~first
            if push.any():
                _push(w, push, y, s, ys)
            d = _two_loop_rows(gk, w["old_dirs"], w["old_stps"], w["ro"], w["H_diag"], w["count"])
            if first.any():  # a run's very first iteration: steepest descent, an empty history
                d[first] = -gk[first]
                w["count"] = np.where(first, 0, w["count"])
                w["H_diag"] = np.where(first, 1.0, w["H_diag"])
        w["d"] = d
        w["prev_flat_grad"], w["prev_loss"] = gk, w["loss"]
        inv = 1.0 / np.sum(np.abs(gk), axis=1)
        w["t"] = np.where(first, np.where(inv < 1.0, inv, 1.0) * w["learning_rate"], w["learning_rate"])
        gtd = _dot(gk, d)
        stop = gtd > -w["tolerance_change"]  # not a descent direction (to tolerance)
        if stop.any():
            retire(stop)
            if not ids.size:
                break
        w["x"] = w["x"] + w["t"][:, None] * w["d"]
        last = w["max_iter"] == it
        more = ~last
        optimal = np.zeros(len(ids), dtype=bool)
        if more.any():  # the last iteration's point is evaluated by the next step
            sub = np.flatnonzero(more) if not more.all() else slice(None)
            lk, gn = _evaluate(batched_closure, w["x"][sub], shape)
            if isinstance(sub, slice):
                w["loss"], w["g"] = lk, gn
            else:
                w["loss"], w["g"] = w["loss"].copy(), w["g"].copy()
                w["loss"][sub], w["g"][sub] = lk, gn
            w["used"] = w["used"] + more
            optimal[sub] = np.max(np.abs(gn), axis=1) <= w["tolerance_grad"][sub]
        stop = last | (w["used"] >= w["max_eval"]) | optimal
        stop |= np.max(np.abs(w["d"] * w["t"][:, None]), axis=1) <= w["tolerance_change"]
        stop |= np.abs(w["loss"] - w["prev_loss"]) < w["tolerance_change"]  # no progress
        if stop.any():
            retire(stop)
    out.update(final)
    out["evaluations"] = evals
    return x, out


def _push(w: dict[str, Array], push: Array, y: Array, s: Array, ys: Array) -> None:
    """Append the pairs (s, y) of the rows ``push`` to their histories (the oldest dropped when full)."""
    count, m = w["count"], w["history_size"]
    full = push & (count == m)
    if full.any():  # the step's own copies (gathered from the state): written in place
        for k in _HISTORY:
            w[k][full, :-1] = w[k][full, 1:]
    rows = np.flatnonzero(push)
    slot = np.where(full, m - 1, count)[rows]
    w["old_dirs"][rows, slot] = y[rows]
    w["old_stps"][rows, slot] = s[rows]
    w["ro"][rows, slot] = 1.0 / ys[rows]
    w["count"] = np.where(push & ~full, count + 1, count)
    w["H_diag"] = np.where(push, ys / np.where(push, _dot(y, y), 1.0), w["H_diag"])


def _count_hyper(name: str, default: float, doc: str, low: float = 1.0) -> Hyper:
    return Hyper(name, default, low=low, doc=doc, integer=True)


SPEC = OptimizerSpec(
    name="lbfgs", title="L-BFGS", class_name="LBFGS",
    hypers=(
        Hyper("learning_rate", 1.0, low=0.0, log=True, doc="step size (lr): the line search's first trial"),
        _count_hyper("max_iter", 20.0, "iterations per step"),
        _count_hyper("max_eval", 0.0, "closure evaluations per step (0: max_iter * 5 / 4, torch's None)", low=0.0),
        Hyper("tolerance_grad", 1e-7, low=0.0, log=True, doc="stop when max |g| is at most this"),
        Hyper("tolerance_change", 1e-9, low=0.0, log=True, doc="stop when the step or the loss changes less"),
        _count_hyper("history_size", 100.0, "(s, y) pairs kept"),
        Hyper("line_search", False, kind="bool", doc="strong Wolfe line search (torch's line_search_fn='strong_wolfe')"),
    ),
    init=init, update=update, state_arrays=state_arrays,
    rule=(r"d_k = -H_k \nabla f(x_k)\ \text{(two-loop recursion over the last } m \text{ pairs } s_i = x_{i+1} - x_i,\ "
          r"y_i = \nabla f_{i+1} - \nabla f_i),\ x_{k+1} = x_k + t_k d_k"),
    paper="Liu & Nocedal, On the limited memory BFGS method for large scale optimization (Math. Prog. 1989)",
    reference=Reference("torch.optim.LBFGS", "torch",
                        rename={"learning_rate": "lr", "line_search": "line_search_fn"},
                        none_as={"max_eval": 0.0, "line_search": False}, values={"line_search": {True: "strong_wolfe"}}),
    family="second order", scope="parameter", needs=("closure",),
    examples=({}, {"line_search": True}, {"history_size": 3.0, "max_iter": 5.0, "learning_rate": 0.5}),
)
