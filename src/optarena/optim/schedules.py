"""Learning-rate schedules: pure functions of the number of steps already taken.

``schedule(k, base_lr)`` is the learning rate used by step ``k + 1``; it equals what
``torch.optim.lr_scheduler`` sets after ``k`` calls to ``scheduler.step()``. ``k`` and
``base_lr`` broadcast (an array of steps by a batch of learning rates gives the race's whole
table at once); an int and a float give a float.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import UnknownNameError, UsageError, UsageTypeError


@dataclass(frozen=True)
class Schedule:
    name: ClassVar[str] = ""

    def factor(self, k: int) -> float:
        raise NotImplementedError

    def __call__(self, k: Any, base_lr: Any) -> Any:
        return _plain(base_lr * self.factor(k))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    def _check(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UsageTypeError(f"schedule {self.name}: {f.name} must be a finite number, got {v!r}", field=f"schedule.{f.name}")


@dataclass(frozen=True)
class Constant(Schedule):
    """lr_k = lr."""

    name: ClassVar[str] = "constant"

    def factor(self, k: int) -> float:
        return 1.0

    def __call__(self, k: Any, base_lr: Any) -> Any:
        return base_lr * np.ones_like(k, dtype=np.float64) if np.ndim(k) else base_lr


@dataclass(frozen=True)
class Step(Schedule):
    """lr_k = lr * gamma^floor(k / step_size)   (torch StepLR)."""

    step_size: int = 30
    gamma: float = 0.1
    name: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        self._check()
        if int(self.step_size) != self.step_size or self.step_size < 1:
            raise UsageError(f"schedule step: step_size must be an integer >= 1, got {self.step_size!r}", field="schedule.step_size")
        if self.gamma <= 0:
            raise UsageError(f"schedule step: gamma must be > 0, got {self.gamma!r}", field="schedule.gamma")

    def factor(self, k: Any) -> Any:
        return self.gamma ** (k // int(self.step_size))


@dataclass(frozen=True)
class Exponential(Schedule):
    """lr_k = lr * gamma^k   (torch ExponentialLR)."""

    gamma: float = 0.99
    name: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        self._check()
        if self.gamma <= 0:
            raise UsageError(f"schedule exponential: gamma must be > 0, got {self.gamma!r}", field="schedule.gamma")

    def factor(self, k: Any) -> Any:
        return self.gamma**k


def _plain(v: Any) -> Any:
    """Python floats for scalars: NumPy then treats them as weak and float32 stays float32."""
    return float(v) if np.ndim(v) == 0 else v


def _cosine(k: Any, t_max: float, base_lr: Any, eta_min: float) -> Any:
    return _plain(eta_min + (base_lr - eta_min) * (1 + np.cos(math.pi * k / t_max)) / 2)


@dataclass(frozen=True)
class Cosine(Schedule):
    """lr_k = eta_min + (lr - eta_min) (1 + cos(pi k / t_max)) / 2   (torch CosineAnnealingLR)."""

    t_max: int = 100
    eta_min: float = 0.0
    name: ClassVar[str] = "cosine"

    def __post_init__(self) -> None:
        self._check()
        if self.t_max < 1:
            raise UsageError(f"schedule cosine: t_max must be >= 1, got {self.t_max!r}", field="schedule.t_max")
        if self.eta_min < 0:
            raise UsageError(f"schedule cosine: eta_min must be >= 0, got {self.eta_min!r}", field="schedule.eta_min")

    def __call__(self, k: Any, base_lr: Any) -> Any:
        return _cosine(k, self.t_max, base_lr, self.eta_min)


@dataclass(frozen=True)
class WarmupCosine(Schedule):
    """Linear warmup from ``start_factor * lr`` to lr over ``warmup`` steps, then cosine to
    ``eta_min`` over the remaining ``total - warmup`` steps (torch: SequentialLR of LinearLR and
    CosineAnnealingLR with milestone ``warmup``)."""

    warmup: int = 10
    total: int = 100
    start_factor: float = 0.1
    eta_min: float = 0.0
    name: ClassVar[str] = "warmup_cosine"

    def __post_init__(self) -> None:
        self._check()
        if not 1 <= self.warmup < self.total:
            raise UsageError(f"schedule warmup_cosine: need 1 <= warmup < total, got warmup={self.warmup!r}, total={self.total!r}",
                             field="schedule.warmup")
        if not 0 < self.start_factor <= 1:
            raise UsageError(f"schedule warmup_cosine: start_factor must be in (0, 1], got {self.start_factor!r}",
                             field="schedule.start_factor")
        if self.eta_min < 0:
            raise UsageError(f"schedule warmup_cosine: eta_min must be >= 0, got {self.eta_min!r}", field="schedule.eta_min")

    def __call__(self, k: Any, base_lr: Any) -> Any:
        warm = base_lr * (self.start_factor + (1 - self.start_factor) * np.minimum(k, self.warmup) / self.warmup)
        cos = _cosine(np.maximum(k - self.warmup, 0), self.total - self.warmup, base_lr, self.eta_min)
        return _plain(np.where(k < self.warmup, warm, cos))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, Step, Exponential, Cosine, WarmupCosine)
}


def make(spec: "Schedule | str | dict[str, Any] | None") -> Schedule:
    """A schedule from an instance, a name, or ``{"name": ..., **fields}`` (the JSON form)."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise UsageTypeError(f"schedule must be a Schedule, a name or a dict with 'name'; got {spec!r}", field="schedule")
    args = dict(spec)
    name = args.pop("name")
    if name not in SCHEDULES:
        raise UnknownNameError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}", field="schedule",
                               allowed=list(SCHEDULES))
    cls = SCHEDULES[name]
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise UsageTypeError(f"schedule {name}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed)) or 'none'}",
                             field=f"schedule.{unknown[0]}", allowed=sorted(allowed))
    return cls(**args)


def values(schedule: Schedule, steps: int, base_lr: Any = 1.0) -> np.ndarray:
    """The learning rates of steps 1..steps: shape (steps,), or (steps, B) for B base rates."""
    k = np.arange(steps) if np.ndim(base_lr) == 0 else np.arange(steps)[:, None]
    return np.asarray(schedule(k, base_lr), dtype=np.float64)
