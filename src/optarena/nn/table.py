"""The article's comparison table, regenerated from measurements.

For each optimizer: optimizer-state bytes per parameter (measured on a float32 array), steps to
reach a target loss on a suite of landscapes (each with the learning rate that minimises its
final loss: the tuning objective is stated, the same for everyone), epochs to a target
validation loss on digits (median over seeds), learning-rate sensitivity (how many decades of
learning rate end within 2x of the best final loss), the number of tunable hyperparameters
(``tunable``), and the wall time of one step on 1M parameters, timed as the benchmarks time it
(``optarena._timing``: interleaved rounds, median) with the implementation measured named.
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from .._timing import interleaved_medians
from ..arena import Racer
from ..errors import OptarenaError, UsageError, UsageTypeError, with_field
from ..landscapes import resolve
from ..optim import OptimizerSpec, registry, stateful

SUITE = ("quadratic", {"name": "ill_conditioned", "params": {"kappa": 10.0, "theta": 30.0}}, "rosenbrock", "booth", "himmelblau")
LRS = np.logspace(-5, 0.5, 34)
#: What the table is doing, for a face to show (the CLI does on a terminal): it takes tens of seconds.
LOG = logging.getLogger("optarena")
STEPS = 1000
TARGET = 1e-3  # loss above the minimum
SPEED_SIZE = 1 << 20  # float32 parameters stepped by the speed column
SPEED_ROUNDS = 15
#: Numerical stabilisers: they keep a division finite, nobody tunes them (the article does not count them).
STABILISERS = frozenset({"epsilon"})
FUSED, NUMPY = "fused kernel", "NumPy"


@dataclass
class Table:
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        head = ("| optimizer | state bytes / param | steps to f - f* <= 1e-3 (median of suite) | epochs to digits "
                "val loss <= {t} | decades of lr within 2x of best | tunable hyperparameters | ms / step (1M params) |")
        lines = [head.format(t=self.meta.get("digits_target", "?")), "|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            steps = "never" if r["steps_to_target"] is None else f"{r['steps_to_target']:g}"
            ep = r["epochs_to_target_digits"]
            ep = "n/a" if ep is None else ("never" if ep < 0 else f"{ep:g}")
            lines.append(f"| {r['title']} | {r['state_bytes_per_param']:g} | {steps} | {ep} | "
                         f"{r['lr_decades_within_2x']:.2f} | {r['hyperparameters']} | "
                         f"{r['ms_per_step_1m']:.2f} ({r['implementation']}) |")
        lines.append("")
        lines.append(f"Made by `{self.meta['command']}` with {self.meta['versions']}.")
        lines.append("")
        lines.append(f"Tunable hyperparameters: {TUNABLE_RULE}; here: " + "; ".join(
            f"{r['title']} {', '.join(r['tunable_hyperparameters'])}" for r in self.rows) + ".")
        lines.append(f"ms / step: {self.meta['speed']['what']}.")
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
    assert opt.state is not None  # set by update()
    arrays = [v for v in opt.state[0].values() if isinstance(v, np.ndarray) and v.ndim > 0]
    return sum(a.nbytes for a in arrays) / p.size


TUNABLE_RULE = ("the numbers one tunes at these settings, as the article counts them (SGD \"learning rate only\", "
                "momentum \"LR + momentum\", Adam \"LR + 2 betas\"): switches (nesterov, amsgrad, maximize...) are "
                "not counted, nor terms that are off at 0 (weight_decay, dampening, SGD's momentum: counted once "
                "set), nor the stabiliser epsilon")


def tunable(spec: OptimizerSpec, hp: dict[str, Any]) -> list[str]:
    """The tunable hyperparameters of ``spec`` at the validated values ``hp`` (see TUNABLE_RULE):
    numeric ones whose term is on (non-zero), stabilisers excepted."""
    return [h.name for h in spec.hypers if h.kind == "float" and h.name not in STABILISERS and np.any(hp[h.name] != 0)]


def _speed(rows: list[dict[str, Any]], rounds: int = SPEED_ROUNDS) -> dict[str, Any]:
    """ms per step on SPEED_SIZE float32 parameters, for every row, of the implementation that
    ``fused=None`` (the default) picks there, and of each implementation available: all timed
    in the same interleaved rounds (``optarena._timing``, as benchmarks/bench_optim.py). Fills
    the rows; returns what was measured, for the table's note."""
    from ..optim.stateful import numba_available

    g = np.random.default_rng(0).standard_normal(SPEED_SIZE, dtype=np.float32)
    contenders: dict[tuple[int, str], Callable[[], object]] = {}
    chosen = []
    for k, row in enumerate(rows):
        spec, hp = registry.get(row["optimizer"]), row["hyperparameter_values"]
        cls = stateful.optimizer_class(spec.name)
        impls = [NUMPY] + ([FUSED] if spec.cell is not None and numba_available() else [])
        for impl in impls:
            contenders[k, impl] = partial(cls(**hp, fused=impl == FUSED).update, np.zeros(SPEED_SIZE, np.float32), g)
        chosen.append(FUSED if cls(**hp)._use_fused(g, g, hp) else NUMPY)  # decided by size, dtype and layout
    med = interleaved_medians(contenders, rounds)
    for k, row in enumerate(rows):
        row["implementation"] = chosen[k]
        row["ms_per_step_1m"] = med[k, chosen[k]] * 1e3
        row["ms_per_step_1m_by_implementation"] = {impl: t * 1e3 for (j, impl), t in med.items() if j == k}
    threads = ""
    if FUSED in chosen:
        import numba

        threads = f" (numba, {numba.get_num_threads()} threads)"
    others = [f"{r['title']} {impl} {t:.2f}" for r in rows for impl, t in r["ms_per_step_1m_by_implementation"].items()
              if impl != r["implementation"]]
    what = (f"one update of 2^20 float32 parameters by the implementation the optimizers pick by default (named in "
            f"the cell; {FUSED}{threads} or {NUMPY}), median of {rounds} rounds interleaved over every optimizer "
            f"and implementation, as benchmarks/bench_optim.py times it"
            + (f"; the other implementation in the same rounds: {', '.join(others)} ms" if others else ""))
    return {"size": SPEED_SIZE, "rounds": rounds, "what": what}


def measure(racers: Sequence[Any] = ("sgd", "momentum", "adam"), digits: bool = True, seeds: int = 2,
            epochs: int = 15, digits_target: float = 0.3, steps: int = STEPS, command: str = "") -> Table:
    """Measure every column for each racer (names or specs with hyperparameters)."""
    rs = [Racer.of(r) for r in racers]
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(rs):
        if r.custom is not None:
            raise UsageTypeError("the table measures registered optimizers", field=f"racers[{i}]")
        try:
            spec = registry.get(r.optimizer)
            hp = spec.validate(r.hyperparameters)
        except OptarenaError as exc:
            raise with_field(exc, f"racers[{i}]")
        if spec.network_refusal:  # its columns (a vector's step time, a network's epochs) do not apply
            raise UsageError(f"racers[{i}]: the table times every optimizer on a vector and trains a network with "
                             f"it; {spec.network_refusal}",
                             field=f"racers[{i}].optimizer")
        names = tunable(spec, hp)
        rows.append({"optimizer": spec.name, "title": spec.title, "hyperparameter_values": hp,
                     "state_bytes_per_param": _state_bytes(spec.name, hp),
                     "hyperparameters": len(names), "tunable_hyperparameters": names})
    LOG.info("timing one step on 1M parameters (%d interleaved rounds)", SPEED_ROUNDS)
    speed = _speed(rows)
    for row, r in zip(rows, rs):
        per_landscape: dict[str, dict[str, Any]] = {}
        decades: list[float] = []
        for item in SUITE:
            ls = resolve(item)
            LOG.info("sweeping %s's learning rate on %s (%d rates x %d steps)", row["title"], ls.title, len(LRS), steps)
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

        LOG.info("training the digits MLP with every racer (%d epochs x %d seeds)", epochs, seeds)
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
            "digits_seeds": seeds, "digits_epochs": epochs, "machine": platform.machine(), "argv": sys.argv,
            "speed": speed, "tunable_hyperparameters": TUNABLE_RULE}
    return Table(rows, meta)


def _version() -> str:
    from .. import __version__

    return __version__
