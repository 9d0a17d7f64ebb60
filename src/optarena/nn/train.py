"""Training races: the same network, the same initial weights and the same batches for every
optimizer; per epoch train/validation loss and accuracy, wall time and optimizer-state memory.
A run whose training loss diverges (see ``DIVERGENCE_FACTOR``) stops there; the others go on.
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

from ..arena.plan import racer_labels, racers_of, resolve_racers
from ..errors import UnknownNameError, UsageError, UsageTypeError
from ..measure.journal import Journal
from . import _deps
from .data import DATASETS, load
from .models import MODELS, build

MAX_EPOCHS = 1000
MAX_SEEDS = 20
FORMAT = "optarena.train/1"
METRICS = ("train_loss", "val_loss", "val_accuracy", "seconds")
#: A run has diverged at epoch k when its training loss over epoch k (the mean over its batches)
#: is not finite or exceeds this many times its loss before training (epoch 0): it is not trained
#: further (its metrics are NaN after k) and the other runs go on. Cross-entropy starts near
#: ln(classes), so the bar is a loss of hundreds to thousands: far above any a learning network
#: reaches, far below the float32 overflow a diverging one heads for.
DIVERGENCE_FACTOR = 1e3


def _finite(v: Any) -> float | None:
    """``v`` as a float, or None where it is not finite (strict JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def diverged_text(epochs: Sequence[int]) -> str:
    """The words for a racer's runs (one epoch per seed; -1: did not diverge): "diverged at epoch k"
    (the first), with how many seeds did when there are several; "" when none did."""
    hit = [int(k) for k in epochs if k >= 0]
    if not hit:
        return ""
    return f"diverged at epoch {min(hit)}" + (f" ({len(hit)} of {len(epochs)} seeds)" if len(epochs) > 1 else "")


@dataclass
class TrainResult:
    """Metrics indexed [racer, seed, epoch]; epoch 0 is the untrained network (seconds = 0).
    ``diverged_at`` [racer, seed]: the epoch at which the run diverged, -1 when it did not; its
    metrics are NaN after that epoch (and after a stop)."""

    config: dict[str, Any]
    labels: list[str]
    optimizers: list[str]
    metrics: dict[str, np.ndarray]
    state_bytes: list[int]  # optimizer state after training, per racer (first seed)
    n_params: int
    diverged_at: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.diverged_at is None:
            self.diverged_at = np.full(self.metrics["train_loss"].shape[:2], -1, dtype=np.int64)

    def median(self, metric: str) -> np.ndarray:
        """[racer, epoch], the median over seeds."""
        return np.median(self.metrics[metric], axis=1)

    def summary(self) -> list[dict[str, Any]]:
        """One row per racer: the last epoch's metrics (median over seeds; None where a seed
        diverged or stopped before it), seconds per epoch trained, state memory, and
        ``diverged_at`` (one entry per seed, -1: did not) with ``diverged``, its words."""
        rows = []
        assert self.diverged_at is not None
        for i, label in enumerate(self.labels):
            secs = self.metrics["seconds"][i, :, 1:]
            secs = secs[np.isfinite(secs)]
            ks = [int(k) for k in self.diverged_at[i]]
            rows.append({
                "racer": label, "optimizer": self.optimizers[i],
                "final_train_loss": _finite(self.median("train_loss")[i, -1]),
                "final_val_loss": _finite(self.median("val_loss")[i, -1]),
                "final_val_accuracy": _finite(self.median("val_accuracy")[i, -1]),
                "seconds_per_epoch": _finite(np.median(secs)) if secs.size else None,
                "state_bytes_per_param": self.state_bytes[i] / self.n_params,
                "diverged_at": ks, "diverged": diverged_text(ks),
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> Any:
            return [[[None if not math.isfinite(v) else v for v in row] for row in seed] for seed in a.tolist()]

        return {"format": FORMAT, "config": self.config, "labels": self.labels, "optimizers": self.optimizers,
                "metrics": {k: clean(v) for k, v in self.metrics.items()}, "state_bytes": self.state_bytes,
                "n_params": self.n_params, "diverged_at": np.asarray(self.diverged_at).tolist(),
                "summary": self.summary()}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_csv(self) -> str:
        lines = ["racer,optimizer,seed,epoch," + ",".join(METRICS) + ",diverged_at"]
        R, S, E = self.metrics["train_loss"].shape
        assert self.diverged_at is not None
        for i in range(R):
            for s in range(S):
                for e in range(E):
                    vals = ",".join(repr(float(self.metrics[m][i, s, e])) for m in METRICS)
                    lines.append(f"{self.labels[i]},{self.optimizers[i]},{s},{e},{vals},{int(self.diverged_at[i, s])}")
        return "\n".join(lines) + "\n"

    def plot(self, path: str) -> None:
        """``figure()`` saved to ``path`` (replaced only once the picture is whole)."""
        from .._files import atomic_path

        fig = self.figure()
        with atomic_path(path) as tmp:
            fig.savefig(tmp)

    def figure(self) -> Any:
        """A matplotlib Figure: train loss, validation loss and accuracy per epoch (median over
        seeds), one colour per racer (as a race colours them). A curve that diverged ends at the last epoch before it;
        the loss panels mark that epoch with an x on their top edge and "diverged at epoch k", as
        does the legend."""
        from ..arena.presentation import racer_colours
        from ..extras import need

        need("matplotlib")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4.2), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 3)
        epochs = np.arange(self.metrics["train_loss"].shape[2])
        assert self.diverged_at is not None
        for i, (label, c) in enumerate(zip(self.labels, racer_colours(self.optimizers))):
            note = diverged_text(self.diverged_at[i])
            hit = self.diverged_at[i][self.diverged_at[i] >= 0]
            end = int(hit.min()) if hit.size else len(epochs)  # the diverged epoch's numbers would squash the others
            for ax, metric in zip(axes, ("train_loss", "val_loss", "val_accuracy")):
                ax.plot(epochs[:end], self.median(metric)[i, :end], color=c, label=f"{label} ({note})" if note else label)
            if note:  # an x on the loss panels' top edge above the epoch it diverged at, as races mark it
                for ax in axes[:2]:
                    edge = ax.get_xaxis_transform()  # x in epochs, y in axes fractions
                    ax.plot([end], [1.0], marker="x", markersize=9, markeredgewidth=2, color=c, transform=edge, clip_on=False)
                    ax.annotate(note, (end, 1.0), xycoords=edge, xytext=(-6, -12), textcoords="offset points",
                                ha="right", fontsize=8, color=c)
        for ax, title in zip(axes, ("train loss", "validation loss", "validation accuracy")):
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_xlim(0, max(1, len(epochs) - 1))
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
        axes[0].set_yscale("log")
        axes[1].set_yscale("log")
        axes[2].legend(loc="lower right")
        cfg = self.config
        fig.suptitle(f"{cfg['model']} on {cfg['dataset']}: median of {cfg['seeds']} seed(s)")
        fig.tight_layout()
        return fig


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
    ``metrics`` holds METRICS and ``diverged_at``: this epoch when the run diverged in it (it is
    then the run's last report), else -1. A run diverges when its training loss is not finite or
    exceeds ``DIVERGENCE_FACTOR`` times its starting loss; it stops, the other runs go on.

    ``journal``: a file each finished run (one racer, one seed) is appended to; with a journal
    each run trains to its end before the next starts (without, every racer advances one epoch
    before any starts the next), the same numbers either way. With ``resume=True`` the runs it
    holds are not trained again (``on_epoch`` replays their epochs) and the losses and
    accuracies equal those of a race never interrupted; the journal must be of this very race
    (else ``ValueError``, naming the first setting that differs). A journal holding runs is
    refused without ``resume``. It is left in place: remove it once the result is saved.
    """
    if resume and journal is None:
        raise UsageError("resume=True needs the journal to resume from", field="resume")
    log = Journal(journal, resume) if journal is not None else None  # an earlier run's journal: refused now
    torch = _deps.torch()
    from .. import torch as bridge

    if dataset not in DATASETS:
        raise UnknownNameError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}", field="dataset",
                               allowed=list(DATASETS))
    if model not in MODELS:
        raise UnknownNameError(f"unknown model {model!r}; valid: {', '.join(MODELS)}", field="model", allowed=list(MODELS))
    for name, value, hi in (("epochs", epochs, MAX_EPOCHS), ("seeds", seeds, MAX_SEEDS), ("batch_size", batch_size, 100_000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            raise UsageError(f"{name} must be an integer in [1, {hi}], got {value!r}", field=name)
    rs = racers_of(racers)
    if not rs:
        raise UsageError("racers: give at least one optimizer", field="racers")
    for i, r in enumerate(rs):
        if r.custom is not None:
            raise UsageTypeError("training races take registered optimizers (use optarena.torch.wrap for your own)",
                                 field=f"racers[{i}]")
    # (spec, hyperparameters, schedule) each, validated; errors name the racer (custom ones were refused above)
    specs = [(spec, hp, sch) for spec, hp, sch in resolve_racers(rs) if spec is not None and hp is not None]
    for i, (spec, _, _) in enumerate(specs):
        if spec.network_refusal:
            raise UsageError(f"racers[{i}]: {spec.network_refusal}",
                             field=f"racers[{i}].optimizer")
    labels = racer_labels(rs)
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

    diverged_at = np.full((R, seeds), -1, dtype=np.int64)
    config = {"dataset": dataset, "model": model, "epochs": epochs, "seeds": seeds, "batch_size": batch_size,
              "divergence_factor": DIVERGENCE_FACTOR,
              "racers": [{"optimizer": spec.name, "hyperparameters": hp, "schedule": sched.to_json(), "label": lab}
                         for (spec, hp, sched), lab in zip(specs, labels)]}
    stopped = False
    try:
        finished = log.start("train", config) if log is not None else {}
        for (i, s), part in finished.items():
            if not (0 <= i < R and 0 <= s < seeds) or any(m not in part or np.shape(part[m]) != (E,) for m in METRICS):
                assert log is not None  # finished is empty without a journal
                raise UsageError(f"{log.path}: run {[i, s]} is not one of this race's; remove the file to start over",
                                 field="journal")
        for s in range(seeds):
            base = build(model, data, seed=s)
            n_params = sum(p.numel() for p in base.parameters())
            runs = {}
            for i, (spec, hp, sched) in enumerate(specs):
                if (i, s) in finished:  # trained before the kill: its numbers from the journal
                    part = finished[i, s]
                    for m in METRICS:
                        metrics[m][i, s] = part[m]
                    diverged_at[i, s] = stop = int(part.get("diverged_at", -1))
                    if s == 0:
                        state_bytes[i] = int(part["state_bytes"])
                    if on_epoch is not None:
                        for e in range(E if stop < 0 else stop + 1):
                            on_epoch(i, s, e, {**{m: float(metrics[m][i, s, e]) for m in METRICS},
                                               "diverged_at": stop if e == stop else -1})
                    continue
                net = copy.deepcopy(base)
                with torch.no_grad():
                    metrics["train_loss"][i, s, 0] = float(loss_fn(net(x_tr), y_tr))
                metrics["val_loss"][i, s, 0], metrics["val_accuracy"][i, s, 0] = evaluate(net)
                metrics["seconds"][i, s, 0] = 0.0
                runs[i] = (net, bridge.optimizer_class(spec.name)(net.parameters(), **hp), hp["learning_rate"], sched,
                           torch.Generator().manual_seed(s), [0], DIVERGENCE_FACTOR * metrics["train_loss"][i, s, 0])
                if on_epoch is not None:
                    on_epoch(i, s, 0, {**{m: float(metrics[m][i, s, 0]) for m in METRICS}, "diverged_at": -1})
            # without a journal every racer advances one epoch before any starts the next, so live
            # curves grow together; with one, each run ends (and is saved) before the next starts
            order = ([(i, e) for e in range(1, E) for i in runs] if log is None
                     else [(i, e) for i in runs for e in range(1, E)])
            for i, e in order:
                net, opt, base_lr, sched, gen, k, limit = runs[i]
                if diverged_at[i, s] >= 0:  # stopped at its divergence; the others go on
                    continue
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                t0 = time.perf_counter()
                perm = torch.randperm(len(y_tr), generator=gen)
                total, count = 0.0, 0
                # a diverging network overflows float32 in the optimizer's NumPy arithmetic: expected
                # here, and reported as a divergence below, so not warned about
                with np.errstate(over="ignore", invalid="ignore"):
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
                        if not math.isfinite(total):  # the epoch's mean is not finite now, whatever follows
                            break
                metrics["seconds"][i, s, e] = time.perf_counter() - t0
                metrics["train_loss"][i, s, e] = total / count
                metrics["val_loss"][i, s, e], metrics["val_accuracy"][i, s, e] = evaluate(net)
                train_loss = metrics["train_loss"][i, s, e]
                if not (math.isfinite(train_loss) and train_loss <= limit):
                    diverged_at[i, s] = e
                if on_epoch is not None:
                    on_epoch(i, s, e, {**{m: float(metrics[m][i, s, e]) for m in METRICS},
                                       "diverged_at": int(diverged_at[i, s])})
                if log is not None and (e == E - 1 or diverged_at[i, s] >= 0):  # the run's end
                    log.add((i, s), {**{m: metrics[m][i, s] for m in METRICS}, "state_bytes": _state_bytes(opt),
                                     "diverged_at": int(diverged_at[i, s])})
            if s == 0:
                for i, (_, opt, *_) in runs.items():
                    state_bytes[i] = _state_bytes(opt)
            if stopped:
                break
    finally:
        if log is not None:
            log.close()
    config["stopped_early"] = stopped
    return TrainResult(config, labels, [spec.name for spec, _, _ in specs], metrics, state_bytes, n_params, diverged_at)

