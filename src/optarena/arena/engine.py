"""The race: every racer from every start, on one landscape, as one batched array program.

Racers of the same optimizer (and the same static options and schedule) form one group that
steps as a single call of the functional core, hyperparameters batched over runs. Every run
gets the same step budget; gradient noise is drawn per (start, step) so all racers from a
start see the same noise; clipping happens only when asked and is recorded in the config.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import EngineUnavailable, OverBudget, UsageError
from ..landscapes import AnyLandscape, Landscape, planar, resolve
from ..optim import OptimizerSpec, expand, schedules
from ..optim.rules import lbfgs, newton
from .plan import RacePlan, Racer, check_bounds, racers_of, resolve_racers
from .result import RaceResult, RunArrays

MAX_RECORDED = 20_000_000  # runs x (steps + 1) kept with full trajectories
MAX_TRACED = 1_000_000  # runs x (steps + 1) kept with every step's optimizer state (``trace=True``)
#: A run has diverged when it leaves the window by more than this many window widths.
ESCAPE_WIDTHS = 100.0


class Cancelled(RuntimeError):
    """The race (or sweep) was stopped by its ``should_stop`` callback before it finished."""


@dataclass
class _Group:
    """Racers sharing an optimizer, its static options and a schedule: one batched program."""

    spec: OptimizerSpec
    schedule: schedules.Schedule
    settings: list[dict[str, Any]] = field(default_factory=list)  # one per racer in the group
    runs: list[np.ndarray] = field(default_factory=list)  # that racer's run indices

    @property
    def run_index(self) -> np.ndarray:
        return np.concatenate(self.runs)

    @property
    def setting_of_run(self) -> np.ndarray:
        return np.concatenate([np.full(len(r), i) for i, r in enumerate(self.runs)])

    def hp(self, per_run: bool) -> dict[str, Any]:
        """Hyperparameters as (runs,) or (racers,) arrays; booleans stay scalars."""
        out: dict[str, Any] = {}
        for k, v in self.settings[0].items():
            if isinstance(v, bool):
                out[k] = v
            else:
                vals = np.asarray([s[k] for s in self.settings], dtype=np.float64)
                out[k] = vals[self.setting_of_run] if per_run else vals
        return out


def race(
    landscape: RacePlan | AnyLandscape | str | Mapping[str, Any] | None = None,
    racers: Sequence[Any] | None = None,
    starts: Any = None,
    steps: int = 100,
    seed: int = 0,
    noise: float = 0.0,
    clip: float | None = None,
    tolerance: float = 1e-4,
    record: bool = True,
    engine: str = "auto",
    bounds: Any = None,
    should_stop: Callable[[], bool] | None = None,
    trace: bool = False,
    deadline: float | None = None,
) -> RaceResult:
    """Race ``racers`` on ``landscape`` from every start for exactly ``steps`` steps: ``run`` of
    ``RacePlan.build(landscape, racers, starts, steps, seed, noise, clip, tolerance, bounds)``,
    or of ``landscape`` itself when it is a ``RacePlan`` (then give only the run options).

    ``racers`` default to the landscape's ``default_racers`` (on the article's quadratic: the
    article's SGD, momentum and Adam). ``bounds``: the box ((xmin, xmax), (ymin, ymax)) a run
    must stay in, if not the default (the window stretched to hold every start, padded by
    ``ESCAPE_WIDTHS`` widths); a sweep passes the box of all its starts, so a run's fate does
    not depend on which starts share its race. ``record``, ``engine``, ``should_stop``, ``trace`` and
    ``deadline``: as ``run``.
    """
    if isinstance(landscape, RacePlan):
        plan = landscape
    else:
        plan = RacePlan.build(landscape, racers, starts, steps, seed, noise, clip, tolerance, bounds)
    return run(plan, record=record, engine=engine, should_stop=should_stop, trace=trace, deadline=deadline)


def run(plan: RacePlan, *, record: bool = True, engine: str = "auto",
        should_stop: Callable[[], bool] | None = None, trace: bool = False,
        deadline: float | None = None) -> RaceResult:
    """Run a validated race. Returns positions, losses, gradient norms and step sizes at steps
    0..steps for each (racer, start), the step at which a run diverged (non-finite, or more than
    ``ESCAPE_WIDTHS`` window widths outside the window) and why it stopped. ``record=False``
    keeps only each run's summary. ``engine``: "numpy" steps the functional core; "fused" runs
    the whole race in one compiled loop (same numbers); "auto" lets ``choose_engine`` pick.
    ``should_stop``: asked between steps (NumPy) or between compiled chunks of runs; when it
    returns True the race raises ``Cancelled`` (a server stops work it has given up on).
    ``trace``: also keep every step's optimizer state, gradient and learning rate
    (``RaceResult.trace``: what the anatomy of a step reads); the NumPy engine records it.
    ``deadline``: seconds the race may take. The NumPy engine times its steps (the compiled loop
    its tasks of runs) and, once they have taken ``PROBE_SECONDS``, raises ``OverBudget`` (field
    ``steps``, with the projected time and the steps that would fit) when the time spent so far
    (a compile included) and the rest at that pace would pass it: refused early, not stopped late."""
    began = time.perf_counter()
    R, n_starts, steps, dim = len(plan.racers), len(plan.starts), plan.steps, plan.landscape.dim
    if record and plan.runs * (steps + 1) * max(1, dim // 2) > MAX_RECORDED:
        per = "" if dim == 2 else f" x {dim // 2:,} (coordinates / 2)"
        raise UsageError(f"runs x (steps + 1){per} = {plan.runs * (steps + 1) * max(1, dim // 2):,} is above {MAX_RECORDED:,} "
                         "with trajectories recorded; pass record=False", field="steps")
    if trace:
        if not record:
            raise UsageError("trace=True keeps every step's state: it needs record=True", field="trace")
        if plan.runs * (steps + 1) > MAX_TRACED:
            raise UsageError(f"runs x (steps + 1) = {plan.runs * (steps + 1):,} is above {MAX_TRACED:,} with every step's "
                             "state traced; trace fewer racers, starts or steps", field="steps")
        if engine == "fused":
            raise EngineUnavailable("engine='fused' is not possible here: trace=True records each step's state, which "
                                    "the compiled loop keeps in registers; use engine='numpy' or 'auto'", field="engine")
    config = plan.to_config()
    run_racer = np.repeat(np.arange(R), n_starts)
    run_start = np.tile(np.arange(n_starts), R)
    groups, customs = _groups(plan.racers, plan.resolved, run_racer)
    policy = "numpy" if trace and engine in ENGINES else engine
    # with a deadline, a loop not compiled yet is not compiled inside it: seconds nobody can pace
    chosen = _choose(policy, plan.landscape, groups, customs, steps, n_starts, plan.noise, record, work=None, clip=plan.clip,
                     warm_only=deadline is not None)
    stop = should_stop or _never
    if deadline is not None and chosen == "fused":  # the compiled loop hears the pace after each task
        stop = Paced(stop, deadline, steps, began)
    job = _Job(plan.landscape, config, np.array(plan.starts), run_racer, run_start, groups, customs, steps, plan.seed,
               plan.noise, plan.clip, record, stop, trace, deadline)
    return RaceResult.build(plan.landscape, config, _run_fused(job) if chosen == "fused" else _run_numpy(job))


@dataclass(frozen=True)
class _Job:
    """A validated race as the engines take it: runs are racer-major, then start."""

    ls: AnyLandscape
    config: dict[str, Any]
    starts: np.ndarray  # (S, 2)
    run_racer: np.ndarray  # (runs,) the racer of each run
    run_start: np.ndarray  # (runs,) the start of each run
    groups: list[_Group]
    customs: list[tuple[int, Any]]  # (run, its own custom optimizer object)
    steps: int
    seed: int
    noise: float
    clip: float | None
    record: bool
    stop: Callable[[], bool]
    trace: bool = False
    deadline: float | None = None  # seconds (``run``'s): projected from the first steps


def _groups(rs: Sequence[Racer], resolved: Sequence[tuple[Any, Any, Any]],
            run_racer: np.ndarray) -> tuple[list[_Group], list[tuple[int, Any]]]:
    """Racers of one optimizer, static options and schedule as one batched group each; custom
    racers' runs as (run index, its own copy of the object)."""
    groups: dict[Any, _Group] = {}
    customs: list[tuple[int, Any]] = []
    for i, (r, (spec, hp, sch)) in enumerate(zip(rs, resolved)):
        idx = np.nonzero(run_racer == i)[0]
        if spec is None:
            customs.extend((int(j), copy.deepcopy(r.custom)) for j in idx)
            continue
        static = tuple((k, v) for k, v in hp.items() if isinstance(v, bool))
        grp = groups.setdefault((spec.name, static, repr(sch)), _Group(spec, sch))
        grp.settings.append(hp)
        grp.runs.append(idx)
    return list(groups.values()), customs


#: What ``engine=`` takes: "auto" lets ``choose_engine`` decide.
ENGINES = ("auto", "numpy", "fused")


def choose_engine(policy: str, landscape: AnyLandscape | str | Mapping[str, Any] | None, racers: Sequence[Any], *,
                  steps: int, n_starts: int = 1, noise: float = 0.0, record: bool = True,
                  work: int | None = None, clip: float | None = None, warm_only: bool = False) -> str:
    """The engine a race of ``racers`` on ``landscape`` runs on: "numpy" or "fused".

    The one place ``policy`` "auto" is decided. "numpy" is always possible. "fused" (the compiled
    loop) raises ``EngineUnavailable`` (field ``engine``) with the reason when it cannot run the
    race. "auto" takes "fused" when it can run and pays: with ``work`` (a sweep's total run-steps,
    so that every unit of a sweep, here or on another machine, gets the same engine) when ``work``
    is at least ``FUSED_MIN_WORK``; without it (one race) when the race's run-steps are, or when
    every kernel it needs is compiled already in this process. ``warm_only``: "auto" takes the
    compiled loop only when every loop it needs is compiled or on disk (work with a deadline: a
    compile takes seconds that cannot be paced; the NumPy engine's pace can).
    """
    ls = resolve(landscape)
    rs = racers_of(racers)
    run_racer = np.repeat(np.arange(len(rs)), n_starts)
    groups, customs = _groups(rs, resolve_racers(rs), run_racer)
    return _choose(policy, ls, groups, customs, steps, n_starts, noise, record, work, clip, warm_only)


def _choose(policy: str, ls: AnyLandscape, groups: list[_Group], customs: list[tuple[int, Any]], steps: int,
            n_starts: int, noise: float, record: bool, work: int | None, clip: float | None = None,
            warm_only: bool = False) -> str:
    if policy not in ENGINES:
        raise UsageError(f"engine must be 'auto', 'numpy' or 'fused', got {policy!r}", field="engine",
                         allowed=list(ENGINES))
    if policy == "numpy":
        return "numpy"
    if policy == "auto":
        pays = work >= FUSED_MIN_WORK if work is not None else _fused_pays(ls, groups, customs, n_starts, steps, record)
        if not pays or customs or warm_only and not _all_warm(ls, groups, record):
            return "numpy"
    why = _fused_unavailable(ls, groups, customs, steps, n_starts, noise, record, clip)
    if why is None:
        return "fused"
    if policy == "fused":
        raise EngineUnavailable(f"engine='fused' is not possible here: {why}", field="engine")
    return "numpy"


def _never() -> bool:
    return False


#: Seconds of work after which a race or sweep with a ``deadline`` projects its total time.
PROBE_SECONDS = 0.3


def over_budget(elapsed: float, done: float, total: int, deadline: float, what: str, before: float = 0.0) -> None:
    """Raise ``OverBudget`` (field ``steps``) when ``done`` of ``total`` took ``elapsed`` s, at least
    ``PROBE_SECONDS``, and the whole would pass ``deadline`` s at that pace; ``before``: seconds
    spent before the measured part began (a compile, earlier groups), counted as they are."""
    if elapsed < PROBE_SECONDS or done <= 0:
        return
    projected = before + elapsed / done * total
    if projected > deadline:
        fit = max(1, int(total * max(0.0, deadline - before) / (projected - before) * 0.8))
        shown = f"{projected:.1f}" if projected < 100 else f"{projected:,.0f}"
        raise OverBudget(f"this {what} would take about {shown} s here, past its {deadline:g} s: at this pace about "
                         f"{fit:,} of its {total:,} {'steps' if what == 'race' else 'units'} fit; ask for fewer steps, "
                         "racers, starts or cells (measured on its first part, not estimated)", field="steps")


class Paced:
    """A race's ``should_stop`` that keeps its ``deadline`` in the compiled loop too: asked before
    each task (``fused.run_tasks``), it hears the runs done after each (``pace``) and raises
    ``OverBudget`` once the time since the race began and the group's rest at its pace so far
    would pass the deadline."""

    def __init__(self, stop: Callable[[], bool], deadline: float, steps: int, began: float) -> None:
        self.stop, self.deadline, self.steps, self.began = stop, deadline, steps, began
        self.tasks_began: float | None = None  # when the current group's first task was asked for

    def __call__(self) -> bool:
        if self.tasks_began is None:
            self.tasks_began = time.perf_counter()
        return self.stop()

    def pace(self, done: int, total: int) -> None:
        now = time.perf_counter()
        start = self.tasks_began if self.tasks_began is not None else now
        if done >= total:
            self.tasks_began = None  # the next group's tasks are timed afresh
        over_budget(now - start, self.steps * done / max(total, 1), self.steps, self.deadline, "race",
                    before=start - self.began)


#: Gradient-noise values (steps x starts x coordinates) a race may draw ahead.
MAX_NOISE = 50_000_000


def _noise(seed: int, steps: int, starts: np.ndarray, sigma: float) -> np.ndarray | None:
    """(steps, starts, dim) gradient noise: one draw per (step, start), shared by all racers from
    that start (a fair comparison). Each start's stream is seeded by (seed, the start's
    coordinates; beyond 2-D a hash of them), so a run sees the same noise whatever other starts
    share its race and however many steps it has: a sweep cut into pieces gives the numbers of the whole."""
    if sigma == 0:
        return None
    S, dim = starts.shape
    if steps * S * dim > MAX_NOISE:
        raise UsageError(f"gradient noise for steps x starts x coordinates = {steps * S * dim:,} values is above "
                         f"{MAX_NOISE:,}; race with noise 0, fewer steps or fewer starts", field="noise")
    out = np.empty((steps, S, dim))
    for s, point in enumerate(np.asarray(starts, dtype=np.float64)):
        if dim == 2:
            key = [seed, *point.view(np.uint64).tolist()]
        else:
            import hashlib

            key = [seed, dim, *np.frombuffer(hashlib.sha256(point.tobytes()).digest(), dtype=np.uint32).tolist()]
        out[:, s, :] = np.random.default_rng(key).standard_normal((steps, dim))
    return sigma * out


def run_bounds(ls: AnyLandscape, starts: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of the box a run must stay in: ``config["bounds"]`` if the race was given
    one, else the window (stretched to hold every start) padded by ``ESCAPE_WIDTHS`` window
    widths. A sweep passes this box of all its starts to each of its races."""
    if config is not None and config.get("bounds") is not None:
        box = check_bounds(config["bounds"], ls.dim)
        return box[0], box[1]
    lo0, hi0 = ls.box
    pad = ESCAPE_WIDTHS * (hi0 - lo0)
    lo = np.minimum(lo0, starts.min(axis=0))
    hi = np.maximum(hi0, starts.max(axis=0))
    return lo - pad, hi + pad


#: Below this many run-steps the NumPy engine finishes before numba would compile a new kernel.
FUSED_MIN_WORK = 2_000_000


def _fused_pays(ls: AnyLandscape, groups: list[_Group], customs: list[tuple[int, Any]], n_starts: int, steps: int,
                record: bool) -> bool:
    """Big races always; small ones only when every kernel they need is compiled already. An
    L-BFGS run-step counts as ``fused_lbfgs.RUN_STEP_WORK`` of them, a Newton one as
    ``fused_newton.RUN_STEP_WORK``."""
    if customs or not groups or any(g.spec.cell is None and not _own_loop(g) for g in groups):
        return False
    if not isinstance(ls, Landscape):  # the N-D loop (separable landscapes): its work counts every coordinate
        return n_starts * steps * ls.dim * sum(len(g.settings) for g in groups) >= FUSED_MIN_WORK
    try:
        from . import fused, fused_lbfgs, fused_newton
    except ImportError:
        return False
    cost = {lbfgs.SPEC.name: fused_lbfgs.RUN_STEP_WORK, newton.SPEC.name: fused_newton.RUN_STEP_WORK}
    if n_starts * steps * sum(len(g.settings) * cost.get(g.spec.name, 1) for g in groups) >= FUSED_MIN_WORK:
        return True
    return all(fused.is_warm(g.spec, ls, _present(g), record) for g in groups)


def _all_warm(ls: AnyLandscape, groups: list[_Group], record: bool) -> bool:
    """Whether every loop the race needs is compiled in this process or in the disk cache."""
    try:
        from . import fused, fused_nd
    except ImportError:
        return False
    if not isinstance(ls, Landscape):
        return all(fused_nd.is_warm(g.spec, ls, _present(g), record) for g in groups)
    return all(fused.is_warm(g.spec, ls, _present(g), record) for g in groups)


def _is_lbfgs(g: _Group) -> bool:
    """An L-BFGS group (its own compiled loop, ``arena.fused_lbfgs``), with or without the line search."""
    return g.spec is lbfgs.SPEC


def _is_newton(g: _Group) -> bool:
    """A Newton group (its own compiled loop, ``arena.fused_newton``)."""
    return g.spec is newton.SPEC


def _own_loop(g: _Group) -> bool:
    """A group a compiled loop of its own runs (no per-element cell)."""
    return _is_lbfgs(g) or _is_newton(g)


def _present(g: _Group) -> tuple[bool, ...]:
    names = g.spec.state_arrays(g.settings[0])
    return tuple(n in names for n in g.spec.slots)


def _fused_unavailable(ls: AnyLandscape, groups: list[_Group], customs: list[tuple[int, Any]], steps: int, n_starts: int,
                       noise: float, record: bool = True, clip: float | None = None) -> str | None:
    """Why the compiled loop cannot run this race, or None when it can."""
    if customs:
        return "custom optimizer objects run in Python"
    if not isinstance(ls, Landscape):
        return _nd_unavailable(ls, groups, steps, noise, clip)
    searching = [g.spec.title for g in groups if _is_lbfgs(g) and g.settings[0].get("line_search")]
    if searching:  # each run's strong Wolfe line search steps in Python, run by run
        return f"{searching[0]} with line_search=True runs its strong Wolfe line search on the NumPy engine"
    saddle_free = [g.spec.title for g in groups if _is_newton(g) and g.settings[0].get("saddle_free")]
    if saddle_free:  # numba's eigendecomposition is not NumPy's eigh bit for bit
        return f"{saddle_free[0]} with saddle_free=True takes |H| from NumPy's eigh, on the NumPy engine"
    missing = [g.spec.name for g in groups if g.spec.cell is None and not _own_loop(g)]
    if missing:
        return f"optimizer {missing[0]!r} has no fused cell"
    elsewhere = [g.spec.name for g in groups if g.spec.eval_point is not None]
    if elsewhere:  # the compiled loop records the point it differentiates at
        return f"optimizer {elsewhere[0]!r} takes its gradient at one point and answers another (the NumPy engine draws both)"
    try:
        from . import fused
    except ImportError:
        return "numba is not installed"
    if any(steps * len(g.settings) * 16 > fused.MAX_TABLE for g in groups):
        return "the coefficient table would be too large"
    if noise and steps * n_starts * 2 > fused.MAX_TABLE:
        return "the noise table would be too large"
    if not all(fused.may_compile(g.spec, ls, _present(g), record) for g in groups):
        return f"this process has compiled its budget of {fused.kernel_budget()} race loops (OPTARENA_KERNEL_BUDGET)"
    if fused.compiled_landscape(ls) is None:
        return f"landscape {ls.title!r} does not compile with numba"
    if any(_is_newton(g) for g in groups):
        from . import fused_newton

        hess, why = fused_newton.compiled_hessian(ls)
        if hess is None:
            return why
    return None


def _nd_unavailable(ls: AnyLandscape, groups: list[_Group], steps: int, noise: float, clip: float | None) -> str | None:
    """Why the N-D compiled loop (``arena.fused_nd``) cannot run this race, or None when it can."""
    try:
        from . import fused, fused_nd
    except ImportError:
        return "numba is not installed"
    why = fused_nd.unavailable(ls, noise, clip)
    if why is not None:
        return why
    missing = [g.spec.name for g in groups if g.spec.cell is None or g.spec.eval_point is not None]
    if missing:
        return f"optimizer {missing[0]!r} has no per-element cell for the N-D compiled loop"
    if any(steps * len(g.settings) * 16 > fused.MAX_TABLE for g in groups):
        return "the coefficient table would be too large"
    return None


def _run_fused(job: _Job) -> RunArrays:
    """The race in the compiled loop (``arena.fused``; ``arena.fused_nd`` beyond the plane), one call per group."""
    from . import fused

    if not isinstance(job.ls, Landscape):
        return _run_fused_nd(job)

    ls, config, S, run_racer, run_start, groups = planar(job.ls), job.config, job.starts, job.run_racer, job.run_start, job.groups
    steps, seed, noise, clip, record, stop = job.steps, job.seed, job.noise, job.clip, job.record, job.stop

    N = len(run_racer)
    out = fused.new_outputs(N, steps, record)
    lo, hi = run_bounds(ls, S, config)
    eps = _noise(seed, steps, S, noise)
    target = ls.min_value + config["tolerance"]
    # evaluations made by each recorded step, kept when a racer makes several a step (L-BFGS)
    evals = np.full(out["loss"].shape, np.nan) if any(_is_lbfgs(g) for g in groups) else None
    for g in groups:
        idx = g.run_index
        P0 = S[run_start[idx]]
        if _is_lbfgs(g):
            from . import fused_lbfgs

            res = fused_lbfgs.run_group(g.spec, ls, g.hp(per_run=False), g.schedule, g.setting_of_run, P0, lo, hi,
                                        target, steps, record, stop)
            spent = res.pop("evals")
        else:
            if _is_newton(g):
                from . import fused_newton

                res = fused_newton.run_group(g.spec, ls, g.hp(per_run=False), g.schedule, g.setting_of_run, P0, eps,
                                             run_start[idx], clip, lo, hi, target, steps, record, stop)
            else:
                state0 = g.spec.init(P0, expand(g.hp(per_run=True), 2, P0.dtype))
                res = fused.run_group(g.spec, ls, g.hp(per_run=False), g.schedule, g.setting_of_run, P0, state0, eps,
                                      run_start[idx], clip, lo, hi, target, steps, record, stop)
            # a Newton or per-element rule's run has made t evaluations by step t; NaN once diverged, as on NumPy
            t = np.arange(steps + 1.0) if record else np.array([float(steps)])
            spent = np.where((res["div"][:, None] < 0) | (t < res["div"][:, None]), t, np.nan)
        for k, v in res.items():
            out[k][idx] = v
        if evals is not None:
            evals[idx] = spent
    return RunArrays(positions=out["pos"], losses=out["loss"], grad_norms=out["gnorm"], step_sizes=out["dstep"],
                     best_loss=out["best"], steps_to_tolerance=out["reach"], diverged_at=out["div"],
                     stop_reason=out["reason"], evaluations=evals)


def _run_fused_nd(job: _Job) -> RunArrays:
    """The race on a separable N-D landscape in ``arena.fused_nd``'s loop, one call per group."""
    from . import fused_nd

    ls, S, run_start, steps, record = job.ls, job.starts, job.run_start, job.steps, job.record
    assert not isinstance(ls, Landscape)  # chosen for N-D landscapes only (``_nd_unavailable``)
    N, d = len(job.run_racer), S.shape[1]
    T = steps + 1 if record else 1
    out: dict[str, np.ndarray] = {}
    lo, hi = run_bounds(ls, S, job.config)
    target = ls.min_value + job.config["tolerance"]
    for g in job.groups:
        idx = g.run_index
        P0 = S[run_start[idx]]
        state0 = g.spec.init(P0, expand(g.hp(per_run=True), 2, P0.dtype))
        res = fused_nd.run_group(g.spec, ls, g.hp(per_run=False), g.schedule, g.setting_of_run, P0, state0, lo, hi,
                                 target, steps, record, job.stop)
        for k, v in res.items():
            out.setdefault(k, np.empty((N,) + v.shape[1:], v.dtype))[idx] = v
    assert out["pos"].shape == (N, T, d)
    return RunArrays(positions=out["pos"], losses=out["loss"], grad_norms=out["gnorm"], step_sizes=out["dstep"],
                     best_loss=out["best"], steps_to_tolerance=out["reach"], diverged_at=out["div"],
                     stop_reason=out["reason"], evaluations=None)


class _Tracer:
    """Every step's optimizer state, gradient, learning rate and gradient point, per run
    (``RunArrays.trace``): index t holds the state after t steps and what step t+1 used."""

    def __init__(self, run_idx: list[np.ndarray], N: int, T: int, dim: int) -> None:
        self.N, self.T = N, T
        self.point = np.full((N, T, dim), np.nan)
        self.gradient = np.full((N, T, dim), np.nan)
        self.lr = np.full((N, T), np.nan)
        self.state: dict[str, np.ndarray] = {}
        self.run_idx = run_idx

    def states(self, t: int, states: list[Any]) -> None:
        for idx, st in zip(self.run_idx, states):
            for k, v in st.items():
                if not isinstance(v, (np.ndarray, int, float, np.number)) or isinstance(v, bool):
                    continue  # not numbers (L-BFGS's history lists): the anatomy shows arrays and counts
                a = np.asarray(v)
                if a.ndim == 0:
                    a = np.full(len(idx), a, dtype=np.float64)
                if a.shape[0] != len(idx) or a.dtype.kind not in "biuf":
                    continue
                if a.ndim > 1 and a[0].size == 1:
                    a = a.reshape(len(idx))  # a per-run scalar kept as (runs, 1) to broadcast: one number a run
                if k not in self.state:
                    self.state[k] = np.full((self.N, self.T) + a.shape[1:], np.nan)
                elif self.state[k].shape[2:] != a.shape[1:]:
                    continue  # another group keeps another shape under this name: these runs keep NaN
                self.state[k][idx, t] = a

    def arrays(self) -> dict[str, np.ndarray]:
        return {"point": self.point, "gradient": self.gradient, "learning_rate": self.lr,
                **{f"state.{k}": v for k, v in self.state.items()}}


def _run_numpy(job: _Job) -> RunArrays:
    """The race step by step over the functional core (and custom objects), every group batched."""
    ls, config, S, run_racer, run_start, groups = job.ls, job.config, job.starts, job.run_racer, job.run_start, job.groups
    customs, steps, seed, noise, clip, record, stop = job.customs, job.steps, job.seed, job.noise, job.clip, job.record, job.stop
    N, dim = len(run_racer), S.shape[1]
    P = S[run_start].copy()  # where each run takes its gradient
    X = P  # what each run answers (Schedule-Free: x, from P = y and its state); P itself for most rules
    lo, hi = run_bounds(ls, S, config)
    eps = _noise(seed, steps, S, noise)
    T = steps + 1
    shape = (N, T) if record else (N, 1)
    pos = np.full(shape + (dim,), np.nan)
    loss = np.full(shape, np.nan)
    gnorm = np.full(shape, np.nan)
    dstep = np.full(shape, np.nan)
    best = np.full(N, np.inf)
    reach = np.full(N, -1, dtype=np.int64)
    diverged_at = np.full(N, -1, dtype=np.int64)
    reason = np.zeros(N, dtype=np.int8)  # 0 completed, 1 non-finite, 2 left the window
    alive = np.ones(N, dtype=bool)
    # function evaluations so far: kept when a racer makes more than one a step (L-BFGS)
    counting = any("closure" in g.spec.needs for g in groups)
    spent = np.zeros(N)
    nevals = np.full(shape, np.nan) if counting else None

    # L-BFGS's line search evaluates run by run in Python: a step can take seconds, so the stop and
    # the deadline are also kept between its evaluations, paced against the most a step may make
    most = steps * sum(len(idx) * float(hp.get("max_eval") or 1.25 * hp.get("max_iter", 20))
                       for g in groups if "closure" in g.spec.needs for hp, idx in zip(g.settings, g.runs))
    calls = [0]

    def closure(x: np.ndarray) -> tuple[float, np.ndarray]:  # one run's point: what L-BFGS evaluates
        calls[0] += 1
        if calls[0] % 64 == 0:
            if stop():
                raise Cancelled(f"race stopped after {calls[0]:,} evaluations")
            if job.deadline is not None and most > 0:
                over_budget(time.perf_counter() - began, steps * min(1.0, calls[0] / most), steps, job.deadline, "race")
        return float(ls.value(x)), ls.gradient(x)

    prev = P.copy()
    target = ls.min_value + config["tolerance"]
    answers = [i for i, g in enumerate(groups) if g.spec.eval_point is not None]
    began = time.perf_counter()
    parts = _parts(ls)
    with np.errstate(all="ignore"):
        run_idx = [g.run_index for g in groups]
        # each group's hyperparameters and state per parameter the point is made of (one vector, or
        # the landscape's matrices: a matrix rule steps (runs, m, n), every rule keeps a state per matrix)
        hps = [[expand(g.hp(per_run=True), 1 + len(shape), P.dtype) for _, shape in parts] for g in groups]
        states = [[g.spec.init(_block(P[idx], part), hp) for part, hp in zip(parts, hp_g)]
                  for g, idx, hp_g in zip(groups, run_idx, hps)]
        tracer = _Tracer(run_idx, N, T, dim) if job.trace else None
        if tracer is not None:
            tracer.states(0, [_merged(st) for st in states])
        for t in range(T):
            if answers:
                X = P.copy()
                for i in answers:
                    idx = run_idx[i]
                    for b, part in enumerate(parts):
                        X[idx, part[0]] = groups[i].spec.eval_point(  # type: ignore[misc]
                            _block(P[idx], part), states[i][b], hps[i][b]).reshape(len(idx), -1)
            f = ls.value(X) * np.ones(N)
            G = ls.gradient(P) * np.ones((N, 1))
            finite = np.isfinite(P).all(axis=1) & np.isfinite(X).all(axis=1) & np.isfinite(f)
            inside = (X >= lo).all(axis=1) & (X <= hi).all(axis=1)
            newly = alive & ~(finite & inside)
            diverged_at[newly] = t
            reason[newly & ~finite] = 1
            reason[newly & finite] = 2
            alive &= ~newly
            j = t if record else 0
            if record or t == steps:
                pos[alive, j] = X[alive]
                loss[alive, j] = f[alive]
                gnorm[alive, j] = _norm(G[alive])
                dstep[alive, j] = 0.0 if t == 0 else _norm(X[alive] - prev[alive])
                if nevals is not None:
                    nevals[alive, j] = spent[alive]
            best = np.where(alive, np.minimum(best, f), best)
            hit = alive & (reach < 0) & (f <= target)
            reach[hit] = t
            if t == steps:
                break
            if stop():
                raise Cancelled(f"race stopped at step {t} of {steps}")
            if job.deadline is not None and t:
                over_budget(time.perf_counter() - began, t, steps, job.deadline, "race")
            if eps is not None:
                G = G + eps[t][run_start]
            if clip is not None:
                norm = _norm(G)
                G = G * np.minimum(1.0, clip / np.where(norm > 0, norm, 1.0))[:, None]
            prev = X.copy()
            if tracer is not None:
                tracer.point[:, t], tracer.gradient[:, t] = P, G
            for i, grp in enumerate(groups):
                idx = run_idx[i]
                extra: dict[str, Any] = {}
                if "hessian" in grp.spec.needs:  # one part only (RacePlan.build): the whole point
                    extra["hessian"] = ls.hessian(P[idx])
                if "closure" in grp.spec.needs:
                    extra["closure"] = closure
                    extra["batched_closure"] = lambda pts: (ls.value(pts), ls.gradient(pts))  # the runs still iterating
                for b, part in enumerate(parts):
                    ehp = {**hps[i][b], "learning_rate": grp.schedule(t, hps[i][b]["learning_rate"])}
                    if tracer is not None and b == 0:
                        tracer.lr[idx, t] = np.broadcast_to(np.asarray(ehp["learning_rate"]).reshape(-1), len(idx))
                    new, states[i][b] = grp.spec.update(_block(P[idx], part), _block(G[idx], part), states[i][b], ehp, **extra)
                    P[idx, part[0]] = new.reshape(len(idx), -1)
                spent[idx] = states[i][0]["evaluations"] if "closure" in grp.spec.needs else spent[idx] + 1
            for j_run, obj in customs:
                if not alive[j_run]:
                    continue
                try:
                    out = obj.update(P[j_run].copy(), G[j_run].copy())
                    P[j_run] = np.asarray(out, dtype=np.float64).reshape(dim)
                except ArithmeticError:
                    P[j_run] = np.nan  # e.g. math.exp overflow in a pure-Python rule: non-finite
                spent[j_run] += 1
            if tracer is not None:
                tracer.states(t + 1, [_merged(st) for st in states])
        if tracer is not None:
            tracer.point[:, steps] = P
    return RunArrays(positions=pos, losses=loss, grad_norms=gnorm, step_sizes=dstep, best_loss=best,
                     steps_to_tolerance=reach, diverged_at=diverged_at, stop_reason=reason, evaluations=nevals,
                     trace=None if tracer is None else tracer.arrays())


def _norm(v: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows of ``v``: ``hypot`` for 2-D points, as the compiled loop computes them."""
    if v.shape[-1] == 2:
        return np.hypot(v[..., 0], v[..., 1])
    return np.sqrt(np.einsum("...i,...i->...", v, v))


Part = tuple[slice, tuple[int, ...]]


def _parts(ls: AnyLandscape) -> list[Part]:
    """The parameters a point is made of, as (its coordinates, its shape): the whole point as one
    vector, or each of the landscape's matrices (``blocks``: row-major, in order)."""
    if not ls.blocks:
        return [(slice(None), (ls.dim,))]
    out: list[Part] = []
    at = 0
    for m, n in ls.blocks:
        out.append((slice(at, at + m * n), (m, n)))
        at += m * n
    return out


def _block(rows: np.ndarray, part: Part) -> np.ndarray:
    """One parameter of each run: ``rows`` (runs, dim) cut to ``part`` and shaped (runs, *shape)."""
    return rows[:, part[0]].reshape((len(rows),) + part[1])


def _merged(states: list[Any]) -> Any:
    """A group's state as the trace keeps it: the one parameter's, or each matrix's under ``key[b]``."""
    if len(states) == 1:
        return states[0]
    return {f"{k}[{b}]": v for b, st in enumerate(states) for k, v in st.items()}
