"""Training races: the same network, the same initial weights and the same batches for every
optimizer; per epoch train/validation loss and accuracy, wall time and optimizer-state memory.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..arena.engine import Racer, _labels
from ..measure.journal import Journal
from ..optim import registry, schedules
from . import _deps
from .data import DATASETS, load
from .models import MODELS, build

MAX_EPOCHS = 1000
MAX_SEEDS = 20
FORMAT = "optarena.train/1"
METRICS = ("train_loss", "val_loss", "val_accuracy", "seconds")


@dataclass
class TrainResult:
    """Metrics indexed [racer, seed, epoch]; epoch 0 is the untrained network (seconds = 0)."""

    config: dict[str, Any]
    labels: list[str]
    optimizers: list[str]
    metrics: dict[str, np.ndarray]
    state_bytes: list[int]  # optimizer state after training, per racer (first seed)
    n_params: int

    def median(self, metric: str) -> np.ndarray:
        """[racer, epoch], the median over seeds."""
        return np.median(self.metrics[metric], axis=1)

    def summary(self) -> list[dict[str, Any]]:
        rows = []
        for i, label in enumerate(self.labels):
            rows.append({
                "racer": label, "optimizer": self.optimizers[i],
                "final_train_loss": float(self.median("train_loss")[i, -1]),
                "final_val_loss": float(self.median("val_loss")[i, -1]),
                "final_val_accuracy": float(self.median("val_accuracy")[i, -1]),
                "seconds_per_epoch": float(np.median(self.metrics["seconds"][i, :, 1:])),
                "state_bytes_per_param": self.state_bytes[i] / self.n_params,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> Any:
            return [[[None if not math.isfinite(v) else v for v in row] for row in seed] for seed in a.tolist()]

        return {"format": FORMAT, "config": self.config, "labels": self.labels, "optimizers": self.optimizers,
                "metrics": {k: clean(v) for k, v in self.metrics.items()}, "state_bytes": self.state_bytes,
                "n_params": self.n_params, "summary": self.summary()}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_csv(self) -> str:
        lines = ["racer,optimizer,seed,epoch," + ",".join(METRICS)]
        R, S, E = self.metrics["train_loss"].shape
        for i in range(R):
            for s in range(S):
                for e in range(E):
                    vals = ",".join(repr(float(self.metrics[m][i, s, e])) for m in METRICS)
                    lines.append(f"{self.labels[i]},{self.optimizers[i]},{s},{e},{vals}")
        return "\n".join(lines) + "\n"

    def plot(self, path: str) -> None:
        """Validation loss and accuracy per epoch (median over seeds), one colour per optimizer."""
        from .._files import atomic_path
        from ..export._deps import need
        from ..arena.style import colour

        need("matplotlib")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4.2), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 3)
        epochs = np.arange(self.metrics["train_loss"].shape[2])
        for i, label in enumerate(self.labels):
            c = colour(self.optimizers[i], i)
            axes[0].plot(epochs, self.median("train_loss")[i], color=c, label=label)
            axes[1].plot(epochs, self.median("val_loss")[i], color=c, label=label)
            axes[2].plot(epochs, self.median("val_accuracy")[i], color=c, label=label)
        for ax, title in zip(axes, ("train loss", "validation loss", "validation accuracy")):
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[0].set_yscale("log")
        axes[1].set_yscale("log")
        axes[2].legend(loc="lower right")
        cfg = self.config
        fig.suptitle(f"{cfg['model']} on {cfg['dataset']}: median of {cfg['seeds']} seed(s)")
        fig.tight_layout()
        with atomic_path(path) as tmp:  # the file is replaced only once the picture is whole
            fig.savefig(tmp)


def _state_bytes(opt: Any) -> int:
    torch = _deps.torch()
    total = 0
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, torch.Tensor) and v.dim() > 0:
                total += v.numel() * v.element_size()
    return total


def train_race(
    dataset: str = "digits",
    model: str = "mlp",
    racers: Sequence[Any] = ("sgd", "momentum", "adam"),
    epochs: int = 10,
    seeds: int = 1,
    batch_size: int = 32,
    on_epoch: Callable[[int, int, int, dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train ``model`` on ``dataset`` once per racer and seed (seed s: initial weights and batch
    order; identical for every racer). ``on_epoch(racer, seed, epoch, metrics)`` streams progress;
    ``should_stop()`` ends the race early (the result then holds the epochs done, NaN after).

    ``journal``: a file each finished run (one racer, one seed) is appended to; with a journal
    each run trains to its end before the next starts (without, every racer advances one epoch
    before any starts the next), the same numbers either way. With ``resume=True`` the runs it
    holds are not trained again (``on_epoch`` replays their epochs) and the losses and
    accuracies equal those of a race never interrupted; the journal must be of this very race
    (else ``ValueError``, naming the first setting that differs). A journal holding runs is
    refused without ``resume``. It is left in place: remove it once the result is saved.
    """
    if resume and journal is None:
        raise ValueError("resume=True needs the journal to resume from")
    log = Journal(journal, resume) if journal is not None else None  # an earlier run's journal: refused now
    torch = _deps.torch()
    from .. import torch as bridge

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(MODELS)}")
    for name, value, hi in (("epochs", epochs, MAX_EPOCHS), ("seeds", seeds, MAX_SEEDS), ("batch_size", batch_size, 100_000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            raise ValueError(f"{name} must be an integer in [1, {hi}], got {value!r}")
    rs = [Racer.of(r) for r in racers]
    if not rs:
        raise ValueError("racers: give at least one optimizer")
    specs = []
    for i, r in enumerate(rs):
        if r.custom is not None:
            raise TypeError("training races take registered optimizers (use optarena.torch.wrap for your own)")
        spec = registry.get(r.optimizer)
        specs.append((spec, spec.validate(r.hyperparameters, f"racer {i + 1} ({spec.name})"), schedules.make(r.schedule)))
    labels = _labels(rs)
    data = load(dataset, 0)
    x_tr, y_tr = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_va, y_va = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    loss_fn = torch.nn.functional.cross_entropy
    R, E = len(rs), epochs + 1
    metrics = {m: np.full((R, seeds, E), np.nan) for m in METRICS}
    state_bytes = [0] * R
    n_params = 0

    def evaluate(net: Any) -> tuple[float, float]:
        with torch.no_grad():
            out = net(x_va)
            return float(loss_fn(out, y_va)), float((out.argmax(1) == y_va).float().mean())

    config = {"dataset": dataset, "model": model, "epochs": epochs, "seeds": seeds, "batch_size": batch_size,
              "racers": [{"optimizer": spec.name, "hyperparameters": hp, "schedule": sched.to_json(), "label": lab}
                         for (spec, hp, sched), lab in zip(specs, labels)]}
    stopped = False
    try:
        finished = log.start("train", config) if log is not None else {}
        for (i, s), part in finished.items():
            if not (0 <= i < R and 0 <= s < seeds) or any(np.shape(part.get(m)) != (E,) for m in METRICS):
                raise ValueError(f"{log.path}: run {[i, s]} is not one of this race's; remove the file to start over")
        for s in range(seeds):
            base = build(model, data, seed=s)
            n_params = sum(p.numel() for p in base.parameters())
            runs = {}
            for i, (spec, hp, sched) in enumerate(specs):
                if (i, s) in finished:  # trained before the kill: its numbers from the journal
                    part = finished[i, s]
                    for m in METRICS:
                        metrics[m][i, s] = part[m]
                    if s == 0:
                        state_bytes[i] = int(part["state_bytes"])
                    if on_epoch is not None:
                        for e in range(E):
                            on_epoch(i, s, e, {m: float(metrics[m][i, s, e]) for m in METRICS})
                    continue
                net = copy.deepcopy(base)
                runs[i] = (net, bridge.optimizer_class(spec.name)(net.parameters(), **hp), hp["learning_rate"], sched,
                           torch.Generator().manual_seed(s), [0])
                with torch.no_grad():
                    metrics["train_loss"][i, s, 0] = float(loss_fn(net(x_tr), y_tr))
                metrics["val_loss"][i, s, 0], metrics["val_accuracy"][i, s, 0] = evaluate(net)
                metrics["seconds"][i, s, 0] = 0.0
                if on_epoch is not None:
                    on_epoch(i, s, 0, {m: float(metrics[m][i, s, 0]) for m in METRICS})
            # without a journal every racer advances one epoch before any starts the next, so live
            # curves grow together; with one, each run ends (and is saved) before the next starts
            order = ([(i, e) for e in range(1, E) for i in runs] if log is None
                     else [(i, e) for i in runs for e in range(1, E)])
            for i, e in order:
                net, opt, base_lr, sched, gen, k = runs[i]
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                t0 = time.perf_counter()
                perm = torch.randperm(len(y_tr), generator=gen)
                total, count = 0.0, 0
                for b in range(0, len(perm), batch_size):
                    idx = perm[b:b + batch_size]
                    for group in opt.param_groups:
                        group["lr"] = sched(k[0], base_lr)
                    opt.zero_grad()
                    loss = loss_fn(net(x_tr[idx]), y_tr[idx])
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                    k[0] += 1
                metrics["seconds"][i, s, e] = time.perf_counter() - t0
                metrics["train_loss"][i, s, e] = total / count
                metrics["val_loss"][i, s, e], metrics["val_accuracy"][i, s, e] = evaluate(net)
                if on_epoch is not None:
                    on_epoch(i, s, e, {m: float(metrics[m][i, s, e]) for m in METRICS})
                if log is not None and e == E - 1:
                    log.add((i, s), {**{m: metrics[m][i, s] for m in METRICS}, "state_bytes": _state_bytes(opt)})
            if s == 0:
                for i, (_, opt, *_) in runs.items():
                    state_bytes[i] = _state_bytes(opt)
            if stopped:
                break
    finally:
        if log is not None:
            log.close()
    config["stopped_early"] = stopped
    return TrainResult(config, labels, [spec.name for spec, _, _ in specs], metrics, state_bytes, n_params)

