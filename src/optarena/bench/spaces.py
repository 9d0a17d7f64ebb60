"""Submissions and their search spaces, kept as data (``spaces.json``, or a user's file).

A submission is a registered optimizer (a plug-in one too), the hyperparameters it fixes, and the
space external tuning draws from: per hyperparameter a range ``lo``..``hi``, log-scaled or not; a
name ``one_minus_<h>`` draws 1 - h (momentum and beta1 near 1, on a log scale, as AlgoPerf's
baselines do). Points are a scrambled Sobol sequence (``scipy.stats.qmc``) with a fixed seed: the
same points for every workload, as AlgoPerf's rules require. A space is checked against the
optimizer's schema before any work: a name it lacks, or an end outside its range, is refused
naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..errors import OptarenaError, UnknownNameError, UsageError, UsageTypeError, with_field

FORMAT = "optarena.bench-spaces/1"
#: The Sobol sequence's seed: fixed, so a submission's points are the same on every run and machine.
SOBOL_SEED = 0
ONE_MINUS = "one_minus_"
#: A submission with no declared space tunes its learning rate over this factor either side of its default.
LR_SPREAD = 30.0


@dataclass(frozen=True)
class Dimension:
    name: str  # a hyperparameter, or one_minus_<hyperparameter>
    lo: float
    hi: float
    log: bool

    @property
    def hyper(self) -> str:
        return self.name[len(ONE_MINUS):] if self.name.startswith(ONE_MINUS) else self.name

    def value(self, u: float) -> float:
        """The hyperparameter's value at ``u`` in [0, 1) of this dimension."""
        v = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo))) if self.log else self.lo + u * (self.hi - self.lo)
        return 1.0 - v if self.name.startswith(ONE_MINUS) else v


@dataclass(frozen=True)
class Submission:
    name: str
    optimizer: str
    fixed: dict[str, Any] = field(default_factory=dict)
    space: tuple[Dimension, ...] = ()

    def defaults(self) -> dict[str, Any]:
        """Self-tuning's setting: the fixed values over the optimizer's defaults."""
        return dict(self.fixed)

    def points(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` settings external tuning tries: scrambled Sobol points (seed ``SOBOL_SEED``)."""
        if not self.space:
            return [self.defaults()] * n
        from ..extras import BENCH, need

        qmc = need("scipy.stats.qmc", BENCH, "the bench's quasirandom search")
        m = max(1, math.ceil(math.log2(max(n, 2))))
        draws = qmc.Sobol(d=len(self.space), scramble=True, seed=SOBOL_SEED).random_base2(m)[:n]
        return [{**self.fixed, **{d.hyper: float(d.value(u)) for d, u in zip(self.space, row)}} for row in draws]

    def to_json(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "fixed": self.fixed,
                "space": {d.name: {"lo": d.lo, "hi": d.hi, "log": d.log} for d in self.space}}


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise UsageTypeError(f"{where} must be a finite number, got {v!r}", field=where)
    return float(v)


def parse(name: str, entry: Any, where: str = "submissions") -> Submission:
    """One submission from its JSON entry, checked against the optimizer's schema."""
    from ..optim import registry

    at = f"{where}.{name}"
    if not isinstance(entry, Mapping):
        raise UsageTypeError(f"{at} must be an object with optimizer, fixed and space", field=at)
    unknown = set(entry) - {"optimizer", "fixed", "space"}
    if unknown:
        raise UsageError(f"{at}: unknown key {sorted(unknown)[0]!r}; allowed: optimizer, fixed, space", field=at)
    try:
        spec = registry.get(entry.get("optimizer", name))
    except OptarenaError as exc:
        raise with_field(exc, f"{at}.optimizer")
    fixed = entry.get("fixed", {})
    if not isinstance(fixed, Mapping):
        raise UsageTypeError(f"{at}.fixed must be an object of hyperparameters", field=f"{at}.fixed")
    space = entry.get("space", {})
    if not isinstance(space, Mapping):
        raise UsageTypeError(f"{at}.space must be an object of ranges", field=f"{at}.space")
    dims = []
    for dim_name, r in space.items():
        here = f"{at}.space.{dim_name}"
        if not isinstance(r, Mapping) or set(r) - {"lo", "hi", "log"} or not {"lo", "hi"} <= set(r):
            raise UsageError(f"{here} must be {{\"lo\": number, \"hi\": number, \"log\": true|false}}", field=here)
        d = Dimension(str(dim_name), _number(r["lo"], f"{here}.lo"), _number(r["hi"], f"{here}.hi"), bool(r.get("log", False)))
        if d.hyper not in spec.defaults:
            raise UnknownNameError(f"{here}: {spec.title} has no hyperparameter {d.hyper!r}; it has: "
                                   f"{', '.join(spec.defaults)}", field=here, allowed=list(spec.defaults))
        if not d.lo < d.hi or (d.log and d.lo <= 0):
            raise UsageError(f"{here}: lo must be below hi{' and above 0 (log scale)' if d.log else ''}, got {d.lo}..{d.hi}",
                             field=here)
        dims.append(d)
    # both ends of every range, and the fixed values, must be settings the optimizer takes
    for u in (0.0, 1.0):
        try:
            spec.validate({**fixed, **{d.hyper: d.value(u) for d in dims}}, f"{at}")
        except OptarenaError as exc:
            raise with_field(exc, f"{at}.space" if dims else f"{at}.fixed")
    return Submission(name, spec.name, dict(fixed), tuple(dims))


def default_space(optimizer: str) -> Submission:
    """A registered optimizer with no declared space: its learning rate over LR_SPREAD either side of its default."""
    from ..optim import registry

    spec = registry.get(optimizer)
    lr = float(spec.defaults["learning_rate"])
    hyper = spec.hyper("learning_rate")
    lo, hi = lr / LR_SPREAD, lr * LR_SPREAD
    if hyper.high is not None:
        hi = min(hi, float(hyper.high))
    return parse(optimizer, {"optimizer": optimizer, "space": {"learning_rate": {"lo": max(lo, 1e-12), "hi": hi, "log": True}}})


def load(path: str | Path | None = None) -> dict[str, Submission]:
    """The submissions of a spaces file (default: the shipped ``spaces.json``), each checked."""
    if path is None:
        text = resources.files(__package__).joinpath("spaces.json").read_text()
        where = "spaces.json"
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise UsageError(f"--space {path}: cannot be read ({exc.strerror})", field="space") from None
        where = str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})", field="space") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or not isinstance(data.get("submissions"), Mapping):
        raise UsageError(f"{where}: not a spaces file (want {{\"format\": {FORMAT!r}, \"submissions\": {{...}}}})", field="space")
    return {name: parse(name, entry) for name, entry in data["submissions"].items()}


def submissions(names: list[str], path: str | Path | None = None) -> list[Submission]:
    """The submissions named: from the spaces file (shipped, or ``path`` on top of it), else any
    registered optimizer with ``default_space``; unknown names are refused naming the field."""
    known = load()
    if path is not None:
        known.update(load(path))
    out = []
    for name in names:
        if name in known:
            out.append(known[name])
        else:
            try:
                out.append(default_space(name))
            except OptarenaError as exc:
                raise UnknownNameError(f"submission {name!r} is neither in the spaces file ({', '.join(known)}) nor a "
                                       f"registered optimizer", field="optimizers", allowed=list(known)) from exc
    return out
