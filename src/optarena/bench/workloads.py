"""The bench's workloads: what is trained, on what, to which metric, in how many steps.

A workload fixes a model, its data (and their split), a loss, a validation metric (lower is
better), a step budget, how often it is evaluated and a provisional target; ``config`` holds all of
it as JSON (a model's every layer, the data's source and split, the batch size, the divergence
rule). ``Workload.run(optimizer, hyperparameters, seed)`` trains it once and returns a ``Curve``.

Network workloads train with torch through optarena's bridge
(``optarena.torch.optimizer_class(name)(params, **hyperparameters)``), so any registered optimizer,
a plug-in one included, can be submitted; landscape workloads race one racer on optarena's own
engine with gradient noise. A trial is deterministic given its seed: the same Curve, apart from
``seconds``, in any process (torch runs single-threaded inside a trial, so no reduction is split
differently by another process's thread count).

Timing: a network trial's ``seconds`` count its optimizer steps (batches, forward, backward,
step), never its evaluations. A landscape trial is one race, timed whole and spread evenly over its
steps (every step costs the same there); it is not run in chunks, because a race restarted at a
chunk's end would restart the optimizer's state and the noise stream, and the curve would no
longer be the engine's race of that seed. Rules that cannot step a network's weights here (the
Hessian or closure the arena gives, matrices only: ``OptimizerSpec.network_refusal``) are refused
by network workloads, as ``optarena train`` refuses them; they race on the landscapes.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..arena.engine import ESCAPE_WIDTHS
from ..errors import OptarenaError, UnknownNameError, UsageError, UsageTypeError, with_field
from ..nn.train import DIVERGENCE_FACTOR
from . import models

#: torch's threads inside a network trial: one, so a trial's sums are reduced in the same order in
#: every process (a pool worker, a Dask worker, the CLI), whatever threads the process was given
TORCH_THREADS = 1
KINDS = ("network", "landscape")
SPLIT = ("optarena.nn.data.load(name, 0): a permutation seeded 0 puts 1/5 of the examples in the validation "
         "split, the rest in training; features standardised by the training split's mean and standard deviation")
SEEDED = ("the seed sets the initial weights (torch.manual_seed(seed) before the model is built), the batch order "
          "(torch.Generator().manual_seed(seed)) and any draw the optimizer makes from torch's generator")
DIVERGENCE = (f"a run has diverged at step t when the loss at the weights after t steps (a batch's, or the training "
              f"split's at an evaluation) is not finite or exceeds {DIVERGENCE_FACTOR:g} x the training split's loss "
              f"before training; it stops there and every later evaluation is NaN")


# --- curves ---------------------------------------------------------------------------------------------------
def _encode(a: np.ndarray) -> list[Any]:
    """Floats as JSON keeps them exactly (Python's shortest repr); NaN and +-inf as strings."""
    return [v if math.isfinite(v) else str(v) for v in a.tolist()]


def _decode(values: Sequence[Any]) -> np.ndarray:
    return np.array([float(v) if v is not None else math.nan for v in values], dtype=np.float64)


@dataclass(eq=False)
class Curve:
    """One trial's training curve, one entry per evaluation.

    ``steps`` (E,) int64: optimizer steps done at each evaluation (``steps[0] == 0``: the untrained
    model). ``metric`` (E,): the workload's validation metric, lower is better, NaN after a
    divergence. ``seconds`` (E,): wall-clock seconds spent training up to each evaluation
    (evaluation excluded; NaN after a divergence). ``train_loss`` (E,): the training loss there.
    ``diverged_at``: the step the run diverged at, -1 when it did not. Equality (``==``) is exact,
    NaN equal to NaN; ``same(other)`` leaves out ``seconds``, which no two runs share.
    """

    steps: np.ndarray
    metric: np.ndarray
    seconds: np.ndarray
    train_loss: np.ndarray
    diverged_at: int = -1

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64)
        for name in ("metric", "seconds", "train_loss"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        self.diverged_at = int(self.diverged_at)
        shapes = {a.shape for a in (self.steps, self.metric, self.seconds, self.train_loss)}
        if len(shapes) != 1 or self.steps.ndim != 1 or not self.steps.size or self.steps[0] != 0:
            raise ValueError(f"a curve needs steps, metric, seconds and train_loss of one shape (E,) with steps[0] == 0; "
                             f"got shapes {sorted(shapes)}")

    def same(self, other: Curve, *, seconds: bool = False) -> bool:
        """Equal steps, metric, train loss and divergence step (and seconds when asked), NaN equal to NaN."""
        names = ("steps", "metric", "train_loss") + (("seconds",) if seconds else ())
        return self.diverged_at == other.diverged_at and all(
            np.array_equal(getattr(self, n), getattr(other, n), equal_nan=n != "steps") for n in names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Curve) and self.same(other, seconds=True)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: ``from_json`` gives back an equal curve (non-finite floats as "nan", "inf", "-inf")."""
        return {"steps": self.steps.tolist(), "metric": _encode(self.metric), "seconds": _encode(self.seconds),
                "train_loss": _encode(self.train_loss), "diverged_at": self.diverged_at}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Curve:
        return cls(np.asarray(d["steps"], dtype=np.int64), _decode(d["metric"]), _decode(d["seconds"]),
                   _decode(d["train_loss"]), int(d["diverged_at"]))


def evaluation_steps(budget: int, eval_every: int) -> np.ndarray:
    """The steps a trial is evaluated at: 0, eval_every, 2 eval_every, ..., and the budget itself."""
    return np.unique(np.append(np.arange(0, budget, eval_every, dtype=np.int64), budget))


def _ended(steps: list[int], metric: list[float], seconds: list[float], train: list[float], grid: np.ndarray,
           diverged_at: int) -> Curve:
    """The curve of the evaluations done; after a divergence, the rest of ``grid`` as NaN."""
    if diverged_at >= 0:
        rest = grid[grid > steps[-1]]
        steps += rest.tolist()
        for a in (metric, seconds, train):
            a += [math.nan] * len(rest)
    return Curve(np.array(steps), np.array(metric), np.array(seconds), np.array(train), diverged_at)


def _diverged(loss: float, limit: float) -> bool:
    return not (math.isfinite(loss) and loss <= limit)


# --- recipes: how each kind trains ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """A data set as the config states it; ``arrays()`` gives (x_train, y_train, x_val, y_val)."""

    name: str
    source: str
    inputs: str
    targets: str
    n_train: int
    n_val: int
    split: str = SPLIT

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "inputs": self.inputs, "targets": self.targets,
                "n_train": self.n_train, "n_val": self.n_val, "split": self.split}

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return _arrays(self.name)


@functools.lru_cache(maxsize=None)
def _arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read-only arrays of data set ``name``, loaded once a process (the split never changes)."""
    if name.startswith("adding"):  # the adding problem of that many steps, 2,000 sequences
        out = models.adding(int(name[len("adding"):]), 2000)
    else:
        from ..nn.data import load

        base = name.removesuffix("-pixels")
        d = load(base, 0)
        # "-pixels": the inputs are their own targets (an autoencoder's)
        out = (d.x_train, d.x_train, d.x_val, d.x_val) if base != name else (d.x_train, d.y_train, d.x_val, d.y_val)
    for a in out:
        a.setflags(write=False)
    return out


@dataclass(frozen=True)
class Network:
    """A network trained by minibatch steps: a fresh permutation of the training split each epoch,
    cut into batches of ``batch_size`` (an epoch's last incomplete batch dropped: every step sees as
    many examples); ``batch_size >= n_train`` is full-batch training."""

    data: Data
    layers: tuple[tuple[Any, ...], ...]
    loss: str  # "cross_entropy" | "mse" (mean over examples, and over outputs for mse)
    batch_size: int

    def to_json(self, metric: str) -> dict[str, Any]:
        full = self.batch_size >= self.data.n_train
        return {
            "kind": "network", "data": self.data.to_json(),
            "model": {"layers": [list(layer) for layer in self.layers], "summary": models.layers_text(self.layers),
                      "parameters": models.parameter_count(self.layers),
                      "init": "torch's default initialisation of each layer, after torch.manual_seed(seed)",
                      "dtype": "float32", "device": "cpu", "torch_threads": TORCH_THREADS},
            "loss": self.loss, "metric": metric, "batch_size": min(self.batch_size, self.data.n_train),
            "batches": "full batch: the whole training split each step" if full else
                       "a fresh permutation of the training split each epoch; an epoch's last incomplete batch is dropped",
            "train_loss": "the loss over the whole training split, at each evaluation",
            "metric_definition": METRICS[metric], "seed": SEEDED, "divergence": DIVERGENCE,
            "divergence_factor": DIVERGENCE_FACTOR,
            "step": "loss.backward(); optimizer.step() on one batch; an optimizer with train() and eval() modes "
                    "(Schedule-Free) is evaluated in eval mode",
        }


@dataclass(frozen=True)
class Landscape:
    """One racer raced on an optarena landscape from its default start, the gradient perturbed by
    Gaussian noise of standard deviation ``noise`` per coordinate and step (drawn from the trial's seed)."""

    landscape: str
    params: Mapping[str, Any]
    dim: int
    f_start: float  # f at the default start and the minimum value, as stated (a test checks them)
    f_star: float
    noise: float
    spectrum: str = ""  # what the config says of the curvature, where it is stated

    def to_json(self, metric: str) -> dict[str, Any]:
        out = {"kind": "landscape", "landscape": {"name": self.landscape, "params": dict(self.params)}, "dim": self.dim,
               "start": "the landscape's default start", "f_start": self.f_start, "f_star": self.f_star, "noise": self.noise,
               "noise_model": "gradient + noise * N(0, I) at every step, drawn from the seed (the engine's gradient noise)",
               "engine": "numpy", "metric": metric, "metric_definition": METRICS[metric],
               "train_loss": "f at the point (noise-free)",
               "seconds": "the race's wall-clock time, spread evenly over its steps (the engine runs it in one piece)",
               "seed": "the gradient noise (the start and the landscape are fixed)",
               "divergence": f"the engine's (a point not finite or {ESCAPE_WIDTHS:g} window widths outside the window), or f "
                             f"above {DIVERGENCE_FACTOR:g} x f at the start; every later evaluation is NaN",
               "divergence_factor": DIVERGENCE_FACTOR}
        if self.spectrum:
            out["spectrum"] = self.spectrum
        return out

    def build(self) -> Any:
        return _landscape(self.landscape, tuple(sorted(self.params.items())))


@functools.lru_cache(maxsize=None)
def _landscape(name: str, params: tuple[tuple[str, Any], ...]) -> Any:
    from ..landscapes import resolve

    return resolve({"name": name, "params": dict(params)})


METRICS = {
    "val_error": "1 - accuracy on the validation split (argmax of the outputs)",
    "val_loss": "the loss over the validation split",
    "f - f*": "the loss above the landscape's minimum value",
}


# --- the workload ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """A fixed training problem. ``config`` holds its full configuration (JSON); ``run`` trains it
    once. ``default_target``: a provisional target (default-hyperparameter Adam reaches it within
    the budget; the bench's target procedure replaces it with a tuned one)."""

    name: str
    title: str
    kind: str  # "network" | "landscape"
    metric: str  # lower is better
    budget: int  # steps
    eval_every: int  # steps
    default_target: float
    description: str
    recipe: Network | Landscape = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.metric not in METRICS or not 1 <= self.eval_every <= self.budget:
            raise ValueError(f"workload {self.name!r}: kind {self.kind!r}, metric {self.metric!r} or eval_every "
                             f"{self.eval_every} (budget {self.budget}) not allowed")
        if not self.config:  # the recipe's settings plus the run's: one source for both
            object.__setattr__(self, "config", {
                **self.recipe.to_json(self.metric), "budget": self.budget, "eval_every": self.eval_every,
                "evaluations": "at step 0 (the untrained model), every eval_every steps and at the budget; a trial given "
                               "a target ends at the first evaluation whose metric is at or below it",
                "default_target": self.default_target, "lower_is_better": True})

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "kind": self.kind, "metric": self.metric, "budget": self.budget,
                "eval_every": self.eval_every, "default_target": self.default_target, "description": self.description,
                "config": self.config}

    def run(self, optimizer: str, hyperparameters: Mapping[str, Any] | None = None, seed: int = 0, *,
            budget: int | None = None, target: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> Curve:
        """Train once with ``optimizer`` (any registered name) and ``hyperparameters`` (defaults
        filled in) from ``seed``, for ``budget`` steps (default: the workload's), evaluating every
        ``eval_every`` steps; with a ``target``, stop at the first evaluation whose metric is <= it.
        ``should_stop()`` is asked between evaluations: True raises ``optarena.arena.Cancelled``
        (a trial cut short is never returned as if it had ended). Bad input: ``UsageError`` naming
        the field (``optimizer``, ``hyperparameters.<name>``, ``seed``, ``budget``, ``target``)."""
        from ..optim import registry

        spec = registry.get(optimizer)  # UnknownNameError, field "optimizer"
        try:
            hp = spec.validate(hyperparameters, spec.title)
        except OptarenaError as exc:
            raise with_field(exc, "hyperparameters")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
            raise UsageError(f"seed must be an integer in [0, 2^32), got {seed!r}", field="seed")
        steps = self.budget if budget is None else budget
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 10 * self.budget:
            raise UsageError(f"budget must be an integer in [1, {10 * self.budget}] steps, got {budget!r}", field="budget")
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float, np.floating))
                                   or math.isnan(target)):
            raise UsageTypeError(f"target must be a number or None, got {target!r}", field="target")
        if isinstance(self.recipe, Network) and spec.network_refusal:  # as optarena train refuses it
            raise UsageError(f"workload {self.name!r} trains a network: {spec.network_refusal}", field="optimizer")
        grid = evaluation_steps(int(steps), self.eval_every)
        stop = should_stop or _never
        goal = math.nan if target is None else float(target)  # NaN: no evaluation is <= it
        if isinstance(self.recipe, Network):
            return _train(self.recipe, self.metric, spec, hp, int(seed), grid, goal, stop)
        return _race(self.recipe, spec, hp, int(seed), grid, goal, stop)


def _never() -> bool:
    return False


def _train(r: Network, metric: str, spec: Any, hp: dict[str, Any], seed: int, grid: np.ndarray, target: float,
           should_stop: Callable[[], bool]) -> Curve:
    """One network trial (``Workload.run``'s)."""
    import torch

    from .. import torch as bridge
    from ..arena import Cancelled

    x_tr, y_tr, x_va, y_va = (torch.from_numpy(np.array(a)) for a in r.data.arrays())  # writable copies: torch warns on read-only
    loss_fn = torch.nn.functional.cross_entropy if r.loss == "cross_entropy" else torch.nn.functional.mse_loss
    n, B = len(x_tr), min(r.batch_size, len(x_tr))
    modes = spec.eval_point is not None  # Schedule-Free: train() and eval() move the weights
    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's torch stream is left as it was
            net = models.build(r.layers, seed)
            opt: Any = bridge.optimizer_class(spec.name)(net.parameters(), **hp)
            gen = torch.Generator().manual_seed(seed)
            order, pos = torch.arange(0), n

            def batch() -> tuple[Any, Any]:
                nonlocal order, pos
                if B >= n:
                    return x_tr, y_tr
                if pos + B > n:  # a new epoch
                    order, pos = torch.randperm(n, generator=gen), 0
                idx = order[pos:pos + B]
                pos += B
                return x_tr[idx], y_tr[idx]

            def evaluate() -> tuple[float, float]:
                if modes:  # Schedule-Free: the answer x is what is evaluated, y what is trained
                    opt.eval()
                with torch.no_grad():
                    train = float(loss_fn(net(x_tr), y_tr))
                    out = net(x_va)
                    value = (int((out.argmax(1) != y_va).sum()) / len(y_va) if metric == "val_error"
                             else float(loss_fn(out, y_va)))
                if modes:
                    opt.train()
                return value, train

            def step(xb: Any, yb: Any) -> float:
                """One optimizer step on a batch; the batch's loss at the weights before it."""
                opt.zero_grad()
                loss = loss_fn(net(xb), yb)
                value = float(loss.detach())
                if not _diverged(value, limit):  # a diverged batch is not stepped on
                    loss.backward()
                    opt.step()
                return value

            m0, l0 = evaluate()
            limit = DIVERGENCE_FACTOR * l0
            steps, metric_, seconds, train = [0], [m0], [0.0], [l0]
            t, elapsed, diverged = 0, 0.0, -1
            # a diverging network overflows float32 in the optimizer's NumPy arithmetic: expected, and reported
            with np.errstate(over="ignore", invalid="ignore"):
                for k in grid[1:].tolist():
                    if metric_[-1] <= target:
                        break
                    if should_stop():
                        raise Cancelled("the trial was stopped before its end")
                    t0 = time.perf_counter()
                    while t < k:
                        if _diverged(step(*batch()), limit):
                            diverged = t
                            break
                        t += 1
                    elapsed += time.perf_counter() - t0
                    if diverged < 0:
                        m, loss = evaluate()
                        if _diverged(loss, limit):
                            diverged = k
                    if diverged >= 0:
                        break
                    steps.append(k)
                    metric_.append(m)
                    seconds.append(elapsed)
                    train.append(loss)
    finally:
        torch.set_num_threads(threads)
    return _ended(steps, metric_, seconds, train, grid, diverged)


def _race(r: Landscape, spec: Any, hp: dict[str, Any], seed: int, grid: np.ndarray, target: float,
          should_stop: Callable[[], bool]) -> Curve:
    """One landscape trial (``Workload.run``'s): one race of one racer, recorded, read at ``grid``."""
    from ..arena import RacePlan, run

    ls = r.build()
    try:
        plan = RacePlan.build(ls, [{"optimizer": spec.name, "hyperparameters": hp}], None, int(grid[-1]), seed, r.noise)
    except OptarenaError as exc:  # its field is the race's (racers[0]...): the trial's is the optimizer
        raise UsageError(str(exc), field="optimizer") from None
    t0 = time.perf_counter()
    res = run(plan, record=True, engine="numpy", should_stop=should_stop)
    elapsed = time.perf_counter() - t0
    f = res.losses[0, 0]  # (budget + 1,): f at each step's point, NaN after the engine's divergence
    bad = np.flatnonzero(~(np.isfinite(f) & (f <= DIVERGENCE_FACTOR * f[0])))
    diverged = int(bad[0]) if bad.size else -1
    keep = grid if diverged < 0 else grid[grid < diverged]
    value = f[keep] - ls.min_value
    hit = np.flatnonzero(value <= target)
    if hit.size:  # the first evaluation at or below the target ends the trial
        keep, value = keep[:hit[0] + 1], value[:hit[0] + 1]
    return _ended(keep.tolist(), value.tolist(), (elapsed * keep / grid[-1]).tolist(), f[keep].tolist(), grid,
                  diverged if not hit.size else -1)


# --- the registry ---------------------------------------------------------------------------------------------
DIGITS = Data("digits", "scikit-learn's load_digits: 1,797 8x8 grey images of handwritten digits (UCI)",
              "64 standardised pixels", "the digit, 10 classes", 1438, 359)
DIGITS_PIXELS = Data("digits-pixels", DIGITS.source, "64 standardised pixels", "the same 64 pixels (reconstruction)",
                     1438, 359)
BREAST_CANCER = Data("breast_cancer", "scikit-learn's load_breast_cancer: 569 tumours, Wisconsin diagnostic (UCI)",
                     "30 standardised features", "malignant or benign, 2 classes", 456, 113)
SPIRALS = Data("spirals", "optarena.nn.data: 1,000 points on two interleaved spirals (1.5 turns each, radius "
               "0.1..1, Gaussian jitter 0.03), drawn once from a generator seeded 1234", "x, y (standardised)",
               "which spiral, 2 classes", 800, 200)
ADDING = Data("adding10", "generated: the adding problem (Hochreiter & Schmidhuber 1997), 2,000 sequences of 10 steps",
              "10 steps of (value ~ U(0, 1), marker 0/1); one marker in each half", "the sum of the 2 marked values",
              1600, 400, "optarena.bench.models.adding(10, 2000): drawn once from a generator seeded 1234; "
              "the first 400 sequences validate, the rest train")

MLP = (("linear", 64, 64), ("tanh",), ("linear", 64, 64), ("tanh",), ("linear", 64, 10))
CNN = (("unflatten", 1, 8, 8), ("conv2d", 1, 8, 3, 1), ("relu",), ("conv2d", 8, 16, 3, 1), ("relu",), ("maxpool2d", 2),
       ("flatten",), ("linear", 256, 10))


#: Sized so that one full-budget trial takes about 0.2 to 1.5 s on one core: each description ends with
#: what a full-budget default-Adam trial took, evaluation included (the best of 3 seeds), on the
#: 2-core machine they were sized on while it ran other work (load average 2 to 3.5)
WORKLOADS: tuple[Workload, ...] = (
    Workload("digits-mlp", "MLP on digits", "network", "val_error", 600, 25, 0.05,
             "A two-hidden-layer tanh MLP (64-64) classifies scikit-learn's 8x8 digits; cross-entropy, batches of 64. "
             "A trial: 0.48 s.",
             Network(DIGITS, MLP, "cross_entropy", 64)),
    Workload("digits-cnn", "CNN on digits", "network", "val_error", 300, 20, 0.05,
             "A two-layer CNN (8 and 16 3x3 filters, ReLU, 2x2 max-pool, linear) classifies the 8x8 digits; batches "
             "of 64. A trial: 1.15 s (0.78 s of it training).",
             Network(DIGITS, CNN, "cross_entropy", 64)),
    Workload("breast-cancer-logreg", "Logistic regression on breast cancer", "network", "val_loss", 600, 25, 0.13,
             "Logistic regression (a linear layer, 2 outputs, cross-entropy) on the Wisconsin breast-cancer data, full "
             "batch. A trial: 0.19 s.",
             Network(BREAST_CANCER, (("linear", 30, 2),), "cross_entropy", 456)),
    Workload("spirals-mlp", "MLP on two spirals", "network", "val_error", 1000, 50, 0.1,
             "A tanh MLP (2-64-64-2) separates two interleaved spirals; cross-entropy, batches of 64. A trial: 0.73 s.",
             Network(SPIRALS, (("linear", 2, 64), ("tanh",), ("linear", 64, 64), ("tanh",), ("linear", 64, 2)),
                     "cross_entropy", 64)),
    Workload("digits-autoencoder", "Autoencoder on digits", "network", "val_loss", 600, 30, 0.9,
             "A tanh autoencoder 64-32-8-32-64 reconstructs the standardised digit pixels; mean squared error, batches "
             "of 64. A trial: 0.53 s.",
             Network(DIGITS_PIXELS, (("linear", 64, 32), ("tanh",), ("linear", 32, 8), ("tanh",), ("linear", 8, 32),
                                     ("tanh",), ("linear", 32, 64)), "mse", 64)),
    Workload("adding-gru", "GRU on the adding problem", "network", "val_loss", 600, 30, 0.15,
             "A GRU (8 hidden units) reads 10 (value, marker) pairs and a linear layer answers the sum of the 2 marked "
             "values from its last state; mean squared error (always answering 1 scores 1/6: default Adam sits near "
             "it for hundreds of steps), batches of 64. A trial: 1.31 s.",
             Network(ADDING, (("gru", 2, 8), ("linear", 8, 1)), "mse", 64)),
    Workload("rosenbrock-noisy", "Noisy Rosenbrock (d=10)", "landscape", "f - f*", 2500, 50, 30.0,
             "The chained Rosenbrock in 10 dimensions from (-1.2, 1, ...) (f = 2057), gradient noise 1 per "
             "coordinate. A trial: 0.20 s.",
             Landscape("rosenbrock_nd", {"d": 10}, 10, 2057.0, 0.0, 1.0)),
    Workload("quadratic-illcond", "Ill-conditioned quadratic (d=100, κ=1000)", "landscape", "f - f*", 2500, 50, 200.0,
             "0.5 x'Q'diag(λ)Qx in 100 dimensions, λ log-spaced from 1 to 1000, Q a fixed random rotation; gradient "
             "noise 1. A trial: 0.32 s.",
             Landscape("quadratic_nd", {"d": 100, "kappa": 1000.0, "law": 0, "seed": 0, "rotate": 1}, 100, 7411.84725391,
                       0.0, 1.0, "100 eigenvalues log-spaced from 1 to 1000 (condition number 1000) behind a random "
                       "rotation (seed 0); start: one unit along every eigenvector")),
    Workload("deep-linear", "Deep linear network from a saddle", "landscape", "f - f*", 1500, 25, 0.01,
             "Saxe et al.'s two-layer linear network 8-8-8 learning 4 modes (strengths 4, 2, 1, 0.5) from a balanced "
             "start at scale 1e-3, next to the saddle at 0 (f = 10.62): a plateau, then one mode after another; "
             "gradient noise 0.01. A trial: 0.19 s.",
             Landscape("deep_linear", {"n_in": 8, "hidden": 8, "n_out": 8, "rank": 4, "scale": 1e-3, "seed": 0}, 128,
                       10.6249925, 0.0, 0.01, "the target map's singular values 4, 2, 1, 0.5; f* = 0 (hidden 8 >= rank 4)")),
)
_BY_NAME = {w.name: w for w in WORKLOADS}


def names() -> list[str]:
    """The workloads' names, in order."""
    return list(_BY_NAME)


def get(name: str) -> Workload:
    """The workload ``name``; ``UnknownNameError`` (field "workload") lists the valid ones."""
    if name not in _BY_NAME:
        raise UnknownNameError(f"unknown workload {name!r}; valid: {', '.join(_BY_NAME)}", field="workload",
                               allowed=names())
    return _BY_NAME[name]
