"""The anatomy of one step of one racer: the terms it is made of and its formulas with numbers.

Everything comes from the race's own recorded state (``race(..., trace=True)``): the gradient
the step used, the state before and after it and the scheduled learning rate. The optimizer's
``anatomy`` (``optim.anatomy``) names the terms and lines; rules that declare none show their
state arrays before and after. A face draws what ``explain`` returns and computes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import UsageError
from ..optim import registry
from ..optim.anatomy import GRADIENT, STEP, Line, Term, default_anatomy, number, state_lines, substitute
from .plan import RacePlan
from .result import RaceResult

#: coordinate names in the number lines (a point in the arena has two)
COORDINATES = ("x", "y")


@dataclass(frozen=True)
class StepAnatomy:
    """One step explained. ``terms``: (term, vector) pairs drawn from ``position``, the plain
    gradient step first and the step taken last; ``composes``: the keys whose vectors sum to the
    step taken; ``lines``: (formula, one number line per coordinate)."""

    optimizer: str
    title: str
    label: str
    racer: int
    start: int
    step: int
    steps: int
    position: np.ndarray
    next: np.ndarray
    gradient: np.ndarray
    learning_rate: float
    state_before: dict[str, Any]
    state_after: dict[str, Any]
    terms: list[tuple[Term, np.ndarray]]
    composes: tuple[str, ...]
    stretch: np.ndarray | None
    stretch_label: str
    lines: list[tuple[str, list[str]]]
    rule: str

    def heading(self) -> str:
        """``'Adam (racer 2), step 5 → 6 of 20, η = 0.001'``: which step this is (the racer by its index,
        as ``--anatomy RACER:STEP`` names it; the optimizer's title too when the label is its own)."""
        title = f", {self.title}" if self.label != self.title else ""
        return (f"{self.label} (racer {self.racer}{title}), step {self.step} → {self.step + 1} of {self.steps}, "
                f"η = {number(self.learning_rate)}")

    def scale_vectors(self) -> list[np.ndarray]:
        """The arrows that set the one scale all are drawn at: the terms that make up the step and
        the step itself (a term shown for comparison, like Adam's plain -lr g, may be far longer:
        a face cuts it at the map's edge rather than shrink the step out of sight)."""
        return [v for t, v in self.terms if t.key in self.composes or t.key == STEP.key]

    def stretch_text(self) -> str:
        """An adaptive rule's per-coordinate effective learning rate, and each in units of η ('' if none)."""
        if self.stretch is None:
            return ""
        x, y = (float(v) for v in self.stretch)
        ex, ey = (x / self.learning_rate, y / self.learning_rate) if self.learning_rate else (math.nan, math.nan)
        return f"{self.stretch_label}: x {number(x)} (× {number(ex)} η), y {number(y)} (× {number(ey)} η)"

    def to_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return np.asarray(v, dtype=np.float64).tolist()

        return {
            "optimizer": self.optimizer, "title": self.title, "label": self.label, "racer": self.racer, "start": self.start,
            "step": self.step, "steps": self.steps, "position": plain(self.position), "next": plain(self.next),
            "gradient": plain(self.gradient), "learning_rate": self.learning_rate,
            "state_before": {k: plain(v) for k, v in self.state_before.items()},
            "state_after": {k: plain(v) for k, v in self.state_after.items()},
            "terms": [{"key": t.key, "label": t.label, "tex": t.tex, "doc": t.doc, "vector": plain(v),
                       "composes": t.key in self.composes} for t, v in self.terms],
            "stretch": None if self.stretch is None else {"label": self.stretch_label, "values": plain(self.stretch)},
            "lines": [{"tex": tex, "numbers": numbers} for tex, numbers in self.lines],
            "rule": self.rule,
        }


def vector_text(v: Any) -> str:
    """A term's vector as the faces write it: ``(−0.001, 0.0004)``, four significant digits."""
    return f"({number(float(v[0]))}, {number(float(v[1]))})"


def sub_plan(plan: RacePlan, racer: int, start: int) -> RacePlan:
    """The race of one racer from one start, with the numbers it has in the whole race: the same
    box a run must stay in (the default box depends on every start) and, as every racer from a
    start sees the same noise whatever shares its race, the same gradients."""
    from .engine import run_bounds

    if not 0 <= racer < len(plan.racers):
        raise UsageError(f"racer must be an index in [0, {len(plan.racers) - 1}], got {racer}", field="racer")
    if not 0 <= start < len(plan.starts):
        raise UsageError(f"start must be an index in [0, {len(plan.starts) - 1}], got {start}", field="start")
    lo, hi = run_bounds(plan.landscape, np.asarray(plan.starts), plan.to_config())
    return RacePlan.build(plan.landscape, [plan.racers[racer]], [list(plan.starts[start])], plan.steps, plan.seed,
                          plan.noise, plan.clip, plan.tolerance, bounds=[[lo[0], hi[0]], [lo[1], hi[1]]])


def anatomy_of(plan: RacePlan, racer: int, start: int, step: int) -> StepAnatomy:
    """Step ``step`` (the move from position ``step`` to ``step + 1``) of ``racer`` from ``start``
    in the race ``plan``: replayed alone on the NumPy engine with its state traced."""
    from .engine import run

    one = sub_plan(plan, racer, start)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < plan.steps:
        raise UsageError(f"step must be an integer in [0, {plan.steps - 1}] (the move from position step to step + 1), "
                         f"got {step!r}", field="step")
    return replace(explain(run(one, trace=True), 0, 0, step), racer=racer, start=start, label=plan.labels[racer])


def explain(result: RaceResult, racer: int, start: int, step: int) -> StepAnatomy:
    """Step ``step`` of ``racer`` from ``start`` in a traced race (``race(..., trace=True)``)."""
    if result.trace is None:
        raise UsageError("this race was not traced: run it with trace=True to explain its steps", field="trace")
    steps = result.steps
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < steps:
        raise UsageError(f"step must be an integer in [0, {steps - 1}] (the move from position step to step + 1), "
                         f"got {step!r}", field="step")
    cfg = result.config["racers"][racer]
    spec = registry.get(cfg["optimizer"])
    died = int(result.diverged_at[racer, start])
    if 0 <= died <= step + 1:
        raise UsageError(f"racer {racer} ({cfg['label']}) diverged at step {died}: pick a step in [0, {died - 2}]" if died > 1
                         else f"racer {racer} ({cfg['label']}) diverged at once: there is no step to explain", field="step")
    tr = {k: v[racer, start] for k, v in result.trace.items()}
    lr = float(tr["learning_rate"][step])
    hp = {**spec.validate(cfg["hyperparameters"]), "learning_rate": lr}
    p, p_new, g = tr["point"][step], tr["point"][step + 1], tr["gradient"][step]
    keys = [k[len("state."):] for k in tr if k.startswith("state.") and np.isfinite(tr[k][step]).all()]
    before = {k: tr["state." + k][step] for k in keys}
    after = {k: tr["state." + k][step + 1] for k in keys}
    position, nxt = result.positions[racer, start, step], result.positions[racer, start, step + 1]
    anatomy = spec.anatomy or default_anatomy(spec.state_arrays)
    ascend = bool(hp.get("maximize", False))
    values: dict[str, Any] = {"p": p, "p_new": p_new, "grad": -g if ascend else g, "lr": lr,
                              GRADIENT.key: -lr * (-g if ascend else g), STEP.key: nxt - position}
    extra: dict[str, Any] = {}
    if "hessian" in anatomy.needs:
        from ..landscapes import resolve

        extra["hessian"] = resolve(result.config["landscape"]).hessian(np.asarray(p)[None])[0]
    values.update(anatomy.values(p, g, before, after, hp, **extra))
    terms = [(GRADIENT, np.asarray(values[GRADIENT.key], dtype=np.float64))]
    terms += [(t, np.asarray(values[t.key], dtype=np.float64)) for t in anatomy.terms if t.key in values]
    terms.append((STEP, np.asarray(values[STEP.key], dtype=np.float64)))
    lines: tuple[Line, ...] = anatomy.lines if spec.anatomy is not None else \
        state_lines(tuple(k for k in spec.state_arrays(hp) if f"{k}_prev" in values)) + (Line("", "p: {p!} → {p_new!}"),)
    shown = [(ln.tex, [f"{c}: {substitute(ln.numbers, values, i)}" for i, c in enumerate(COORDINATES)])
             for ln in lines if ln.when is None or ln.when(hp)]
    stretch = None if anatomy.stretch is None else np.asarray(values[anatomy.stretch], dtype=np.float64)
    return StepAnatomy(
        optimizer=spec.name, title=spec.title, label=cfg["label"], racer=racer, start=start, step=step, steps=steps,
        position=position, next=nxt, gradient=g, learning_rate=lr, state_before=before, state_after=after, terms=terms,
        composes=anatomy.composes, stretch=stretch, stretch_label=anatomy.stretch_label, lines=shown, rule=spec.rule)

