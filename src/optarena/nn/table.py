"""The article's comparison table, regenerated from measurements.

For each optimizer: optimizer-state bytes per parameter (measured on a float32 array), steps to
reach a target loss on a suite of landscapes (each with the learning rate that minimises its
final loss: the tuning objective is stated, the same for everyone), epochs to a target
validation loss on digits (median over seeds), learning-rate sensitivity (how many decades of
learning rate end within 2x of the best final loss), the number of hyperparameters, and the
wall time of one step on 1M parameters.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..arena import Racer
from ..arena.engine import _resolve_landscape
from ..optim import registry, stateful

SUITE = ("quadratic", {"name": "ill_conditioned", "params": {"kappa": 10.0, "theta": 30.0}}, "rosenbrock", "booth", "himmelblau")
LRS = np.logspace(-5, 0.5, 34)
STEPS = 1000
TARGET = 1e-3  # loss above the minimum


@dataclass
class Table:
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        head = ("| optimizer | state bytes / param | steps to f - f* <= 1e-3 (median of suite) | epochs to digits "
                "val loss <= {t} | decades of lr within 2x of best | hyperparameters | ms / step (1M params) |")
        lines = [head.format(t=self.meta.get("digits_target", "?")), "|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            steps = "never" if r["steps_to_target"] is None else f"{r['steps_to_target']:g}"
            ep = r["epochs_to_target_digits"]
            ep = "n/a" if ep is None else ("never" if ep < 0 else f"{ep:g}")
            lines.append(f"| {r['title']} | {r['state_bytes_per_param']:g} | {steps} | {ep} | "
                         f"{r['lr_decades_within_2x']:.2f} | {r['hyperparameters']} | {r['ms_per_step_1m']:.2f} |")
        lines.append("")
        lines.append(f"Made by `{self.meta['command']}` with {self.meta['versions']}.")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"format": "optarena.table/1", "rows": self.rows, "meta": self.meta}, indent=1, allow_nan=False)


def _sweep(name: str, hp: dict[str, Any], landscape: Any, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Final loss above the minimum (+inf when diverged) and steps to target for every learning
    rate from the landscape's start: ``optarena.measure.sweep`` over LRS."""
    from ..measure import Axis, sweep

    res = sweep(landscape, [Racer(name, hp)], [Axis("learning_rate", tuple(float(v) for v in LRS), log=True)],
                steps=steps, tolerance=TARGET)
    final = res.objective("final_loss")[0]
    return np.where(np.isfinite(final), np.maximum(final, 0.0), np.inf), res.steps_to_tolerance[0, :, 0, 0]


def _decades_within_2x(final: np.ndarray) -> float:
    best = final.min()
    ok = final <= 2 * best + 1e-12  # a rate that reaches the minimum exactly counts as within 2x of 0
    idx = np.nonzero(ok)[0]
    return float(np.log10(LRS[idx.max()] / LRS[idx.min()])) if len(idx) else 0.0


def _state_bytes(name: str, hp: dict[str, Any]) -> float:
    opt = stateful.optimizer_class(name)(**hp)
    p = np.zeros(4096, np.float32)
    opt.update(p, np.ones_like(p))
    arrays = [v for v in opt.state[0].values() if isinstance(v, np.ndarray) and v.ndim > 0]
    return sum(a.nbytes for a in arrays) / p.size


def _ms_per_step(name: str, hp: dict[str, Any]) -> float:
    opt = stateful.optimizer_class(name)(**hp)
    p = np.zeros(1 << 20, np.float32)
    g = np.random.default_rng(0).standard_normal(p.size, dtype=np.float32)
    opt.update(p, g)
    ts = []
    for _ in range(15):
        t0 = time.perf_counter()
        opt.update(p, g)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def measure(racers: Sequence[Any] = ("sgd", "momentum", "adam"), digits: bool = True, seeds: int = 2,
            epochs: int = 15, digits_target: float = 0.3, steps: int = STEPS, command: str = "") -> Table:
    """Measure every column for each racer (names or specs with hyperparameters)."""
    rs = [Racer.of(r) for r in racers]
    rows = []
    for r in rs:
        if r.custom is not None:
            raise TypeError("the table measures registered optimizers")
        spec = registry.get(r.optimizer)
        hp = spec.validate(r.hyperparameters)
        rows.append({"optimizer": spec.name, "title": spec.title, "hyperparameter_values": hp,
                     "state_bytes_per_param": _state_bytes(spec.name, hp),
                     "hyperparameters": len(spec.hypers), "ms_per_step_1m": _ms_per_step(spec.name, hp)})
    for row, r in zip(rows, rs):
        per_landscape, decades = {}, []
        for item in SUITE:
            ls = _resolve_landscape(item)
            final, reach = _sweep(row["optimizer"], {k: v for k, v in r.hyperparameters.items() if k != "learning_rate"}, ls, steps)
            best = int(np.argmin(final))
            per_landscape[ls.name] = {"best_learning_rate": float(LRS[best]), "final_loss_gap": float(final[best]),
                                      "steps_to_target": int(reach[best]) if reach[best] >= 0 else None,
                                      "lr_decades_within_2x": _decades_within_2x(final)}
            decades.append(per_landscape[ls.name]["lr_decades_within_2x"])
        reached = [v["steps_to_target"] for v in per_landscape.values()]
        row["landscapes"] = per_landscape
        # median over the suite; a landscape never solved counts as the whole budget + 1
        row["steps_to_target"] = None if all(x is None for x in reached) else statistics.median(
            steps + 1 if x is None else x for x in reached)
        row["lr_decades_within_2x"] = statistics.median(decades)
        row["epochs_to_target_digits"] = None
    if digits:
        from .train import train_race

        res = train_race("digits", "mlp", [{"optimizer": row["optimizer"], "hyperparameters": r.hyperparameters}
                                           for row, r in zip(rows, rs)], epochs=epochs, seeds=seeds)
        vl = res.metrics["val_loss"]  # [racer, seed, epoch]
        for i, row in enumerate(rows):
            hits = [int(np.argmax(vl[i, s] <= digits_target)) if np.any(vl[i, s] <= digits_target) else -1
                    for s in range(seeds)]
            row["epochs_to_target_digits"] = -1 if min(hits) < 0 and statistics.median(hits) < 0 else statistics.median(
                epochs + 1 if h < 0 else h for h in hits)
            row["digits_val_loss_per_epoch"] = np.median(vl[i], axis=0).tolist()
    versions = f"optarena {_version()}, numpy {np.__version__}, Python {platform.python_version()}"
    if digits:
        import torch

        versions += f", torch {torch.__version__}"
    meta = {"command": command or "optarena table", "versions": versions, "suite": [str(s) for s in SUITE],
            "learning_rates": LRS.tolist(), "steps": steps, "target_gap": TARGET, "digits_target": digits_target,
            "digits_seeds": seeds, "digits_epochs": epochs, "machine": platform.machine(), "argv": sys.argv}
    return Table(rows, meta)


def _version() -> str:
    from .. import __version__

    return __version__
