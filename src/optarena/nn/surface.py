"""A real network's loss surface as a 2-D landscape, and the 1-D interpolation plot.

``network_landscape("digits-mlp")`` trains the MLP of ``models.build("mlp")`` on digits once
(``RECIPE``: full-batch Adam, seeded; about a second on two cores), keeps its weights on disk, and
returns the ``Landscape`` of the full-batch training loss (cross-entropy, the mean over the
training split) on a plane through the trained weights theta* (Li, Xu, Taylor, Studer &
Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018)::

    f(a, b) = L(theta* + a d1 + b d2)
    grad f(a, b) = (<grad L, d1>, <grad L, d2>)   (the chain rule: exact for any d1, d2)

The directions (``directions``):

* ``"random"``: two Gaussian directions, filter-normalised: each row (filter, output unit) of each
  weight matrix scaled to the norm of that row in theta*; biases (every 1-D parameter) are zero,
  as Li et al. do with their ``ignore='biasbn'`` (a bias's scale says nothing of the filter's).
* ``"pca"``: the top two principal directions of the training trajectory theta_i - theta* (its
  snapshots, every ``snapshot_every`` steps), orthonormal, uncentred as ``arena.projection``'s
  PCA plane (Li et al.'s code centres them, sklearn's PCA); the title gives the share of the
  trajectory's variance the plane holds. The window: a square centred on theta*, 1.25 times the
  path's largest coordinate on the plane.

Evaluation is float64 (the engine's numbers; finite differences and a direct torch evaluation
agree with it to 1e-9): points are evaluated as stacked forward passes (batched matrix products),
``CHUNK`` points at a time. The gradient is torch autograd's with respect to (a, b). A point costs about a forward pass of the network on
the training split, so a landscape's contour grid is capped at ``GRID_POINTS`` a side.

The cache: $OPTARENA_CACHE_DIR, else $XDG_CACHE_HOME/optarena (~/.cache/optarena), as the compiled
race loops' (``arena.fused.cache_dir``), under ``networks/``: ``<name>-seed<k>.npz`` (initial
weights, trajectory snapshots, trained weights) and ``<name>-seed<k>.json`` (format, recipe,
SHA-256 of the .npz, library versions for the record). A missing file, another recipe or a hash
that does not match is trained again; the versions are provenance, not a key.

``interpolation`` is Goodfellow, Vinyals & Saxe's (ICLR 2015) 1-D plot: the loss along
theta(alpha) = (1 - alpha) theta_0 + alpha theta*.

A race's configuration names the landscape ``{"name": "digits_mlp", "params": {"directions": 0 or
1, "seed": k}}``; ``register()`` adds that factory to the landscape registry (the CLI's ``--network``
does), so a saved race replays: call it before ``RacePlan.from_config`` in Python. It is not
registered on import: the plane's listings (web, gallery, ``optarena landscapes``) build every
landscape they list, and this one needs torch and a training run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import __version__
from .._files import atomic_path, atomic_write
from ..errors import UnknownNameError, UsageError
from ..landscapes import Landscape
from ..landscapes import register as register_landscape
from . import _deps
from .data import Dataset, load
from .models import build

#: name -> (dataset, model)
NETWORKS: dict[str, tuple[str, str]] = {"digits-mlp": ("digits", "mlp")}
DIRECTIONS = ("random", "pca")  # a config stores the index (landscape parameters are numbers)
#: How a network is trained (its cache key: another recipe trains again).
RECIPE: dict[str, Any] = {"format": 1, "split_seed": 0, "hidden": 64, "optimizer": "adam", "learning_rate": 0.01,
                          "steps": 100, "batch": "full", "snapshot_every": 5, "train_dtype": "float32",
                          "threads": 1}
FORMAT = "optarena.network/1"
CHUNK = 16  # points per stacked forward pass: (CHUNK, n_train, hidden) float64 activations, ~12 MB each
GRID_POINTS = 41  # a contour grid's most points a side (each point: a forward pass over the training split)
MAX_SEED = 2**31 - 1
SOURCE = ("Li, Xu, Taylor, Studer & Goldstein, Visualizing the Loss Landscape of Neural Nets, NeurIPS 2018; "
          "the network: optarena.nn.models' MLP on scikit-learn's digits")


def cache_root() -> Path | None:
    """$OPTARENA_CACHE_DIR, else $XDG_CACHE_HOME/optarena (~/.cache/optarena): ``arena.fused.cache_dir``'s
    root; None (nothing kept: trained in every process) when it is set to an empty string."""
    env = os.environ.get("OPTARENA_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optarena"


@dataclass(frozen=True)
class Trained:
    """A trained network: flat float32 weight vectors (``named_parameters`` order) of the initial
    weights, the trajectory's snapshots (the first is theta_0, the last theta*) and theta*."""

    name: str
    seed: int
    initial: np.ndarray
    snapshots: np.ndarray  # (k, n)
    final: np.ndarray
    retrained: bool  # trained in this call (False: read from the cache)


def _check_name(name: str) -> tuple[str, str]:
    key = str(name).strip().lower().replace("_", "-")
    if key not in NETWORKS:
        raise UnknownNameError(f"unknown network {name!r}; valid: {', '.join(NETWORKS)}", field="network",
                               allowed=list(NETWORKS))
    return NETWORKS[key]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, float)) or not 0 <= seed <= MAX_SEED \
            or seed != int(seed):  # NaN fails the range, so int() sees finite numbers only
        raise UsageError(f"seed must be a whole number in [0, {MAX_SEED}], got {seed!r}", field="seed")
    return int(seed)


def _check_directions(directions: Any) -> str:
    if isinstance(directions, str) and directions in DIRECTIONS:
        return directions
    if not isinstance(directions, bool) and isinstance(directions, (int, float, np.integer)) \
            and directions in range(len(DIRECTIONS)):
        return DIRECTIONS[int(directions)]
    raise UsageError(f"directions must be one of {', '.join(DIRECTIONS)} (or its index 0, 1), got {directions!r}",
                     field="directions", allowed=list(DIRECTIONS))


def cache_files(name: str, seed: int) -> tuple[Path, Path] | None:
    """(weights .npz, record .json) of the network ``name`` trained with ``seed``; None: no cache."""
    root = cache_root()
    if root is None:
        return None
    folder = root / "networks"
    stem = f"{name}-seed{seed}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    torch = _deps.torch()
    return {"optarena": __version__, "torch": str(torch.__version__), "numpy": np.__version__}


def _read_cache(name: str, seed: int) -> Trained | None:
    """The cached network, or None when a file is missing, unreadable, of another recipe or its
    weights do not hash to the recorded SHA-256."""
    files = cache_files(name, seed)
    if files is None:
        return None
    weights, record = files
    try:
        meta = json.loads(record.read_text())
        if meta.get("format") != FORMAT or meta.get("recipe") != RECIPE or meta.get("sha256") != _sha256(weights):
            return None
        with np.load(weights, allow_pickle=False) as z:
            return Trained(name, seed, z["initial"], z["snapshots"], z["final"], retrained=False)
    except (OSError, ValueError, KeyError, AttributeError):
        return None


_THREADS_LOCK = threading.Lock()
_THREADS = {"inside": 0, "saved": 1}


@contextmanager
def _one_thread() -> Iterator[Any]:
    """torch on one thread within: the weights and losses then do not depend on the machine's core
    count (a reduction's order does), and on matrices this small it is as fast, far faster on a busy
    machine (measured: 100 training steps 2.7 s on one thread, 15 s on two with the cores shared)."""
    torch = _deps.torch()
    with _THREADS_LOCK:  # torch's thread count is the process's: overlapping callers restore it once, at the end
        if _THREADS["inside"] == 0:
            _THREADS["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS["inside"] += 1
    try:
        yield torch
    finally:
        with _THREADS_LOCK:
            _THREADS["inside"] -= 1
            if _THREADS["inside"] == 0:
                torch.set_num_threads(_THREADS["saved"])


def _train(name: str, seed: int) -> Trained:
    """Full-batch Adam (``RECIPE``) from ``models.build``'s initial weights for ``seed``, on one thread."""
    with _one_thread():
        return _train_steps(name, seed)


def _train_steps(name: str, seed: int) -> Trained:
    torch = _deps.torch()
    dataset, model = NETWORKS[name]
    data = load(dataset, RECIPE["split_seed"])
    net = build(model, data, seed, hidden=RECIPE["hidden"])
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    opt = torch.optim.Adam(net.parameters(), lr=RECIPE["learning_rate"])

    def flat() -> np.ndarray:
        return torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy().copy()

    snaps = [flat()]
    for step in range(1, RECIPE["steps"] + 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        if step % RECIPE["snapshot_every"] == 0 or step == RECIPE["steps"]:
            snaps.append(flat())
    return Trained(name, seed, snaps[0], np.stack(snaps), snaps[-1], retrained=True)


def trained(name: str = "digits-mlp", seed: int = 0) -> Trained:
    """The network ``name`` trained with ``seed`` (initial weights): from the cache when it holds
    this recipe's weights with a matching hash, else trained now and cached (written whole)."""
    _check_name(name)
    name = str(name).strip().lower().replace("_", "-")
    seed = _check_seed(seed)
    hit = _read_cache(name, seed)
    if hit is not None:
        return hit
    net = _train(name, seed)
    files = cache_files(name, seed)
    if files is None:
        return net
    weights, record = files
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(weights) as tmp, open(tmp, "wb") as f:
            np.savez(f, initial=net.initial, snapshots=net.snapshots, final=net.final)
        meta = {"format": FORMAT, "network": name, "seed": seed, "recipe": RECIPE, "sha256": _sha256(weights),
                "versions": _versions()}
        atomic_write(record, json.dumps(meta, indent=1))
    except OSError:  # a read-only cache: the network is still good for this process
        pass
    return net


@dataclass(frozen=True, eq=False)
class Surface:
    """The loss at theta* + a d1 + b d2 (flat float64 vectors), batched: ``loss(a, b, grad)``."""

    net: Any  # the torch module (its structure; the weights come from the vectors)
    data: Dataset
    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _tensors(self) -> dict[str, Any]:
        """torch, the training split and, per parameter, theta*'s and the directions' tensors."""
        if not self._cache:
            torch = _deps.torch()
            x = torch.from_numpy(self.data.x_train).double()
            shapes = [tuple(p.shape) for p in self.net.parameters()]
            parts = []
            for vec in (self.origin, self.d1, self.d2):
                t, at = torch.from_numpy(np.ascontiguousarray(vec, dtype=np.float64)), 0
                out = []
                for s in shapes:
                    n = math.prod(s)
                    out.append(t[at:at + n].view(s))
                    at += n
                parts.append(out)
            self._cache.update(torch=torch, x=x, y=torch.from_numpy(self.data.y_train), parts=parts,
                               modules=_layers(self.net))
        return self._cache

    def loss(self, a: Any, b: Any, grad: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(L, dL/da, dL/db) at every (a, b) (broadcast), float64 of their shape; the derivatives
        None unless ``grad``."""
        a_, b_ = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        shape, fa, fb = a_.shape, a_.reshape(-1), b_.reshape(-1)
        c = self._tensors()
        out = np.empty((3 if grad else 1, fa.size))
        with _one_thread():
            self._chunks(c, fa, fb, out, grad)
        res = out.reshape((-1,) + shape)
        return res[0], (res[1] if grad else None), (res[2] if grad else None)

    def _chunks(self, c: dict[str, Any], fa: np.ndarray, fb: np.ndarray, out: np.ndarray, grad: bool) -> None:
        torch = c["torch"]
        for i in range(0, fa.size, CHUNK):
            ta = torch.tensor(fa[i:i + CHUNK], requires_grad=grad)
            tb = torch.tensor(fb[i:i + CHUNK], requires_grad=grad)
            with torch.set_grad_enabled(grad):
                value = self._forward(c, ta, tb)
                if grad:
                    ga, gb = torch.autograd.grad(value.sum(), (ta, tb))  # each point's loss depends on its own (a, b)
                    out[1, i:i + CHUNK], out[2, i:i + CHUNK] = ga.numpy(), gb.numpy()
            out[0, i:i + CHUNK] = value.detach().numpy()

    @staticmethod
    def _forward(c: dict[str, Any], a: Any, b: Any) -> Any:
        """The mean cross-entropy of each of the P points (a, b): stacked forward passes."""
        torch = c["torch"]
        (p0, p1, p2), P = c["parts"], a.shape[0]
        h, j = c["x"], 0
        for kind, module in c["modules"]:
            if kind != "linear":
                h = module(h)
                continue
            w = p0[j] + a[:, None, None] * p1[j] + b[:, None, None] * p2[j]  # (P, out, in)
            bias = p0[j + 1] + a[:, None] * p1[j + 1] + b[:, None] * p2[j + 1]  # (P, out)
            h = torch.matmul(h, w.transpose(1, 2)).add_(bias[:, None, :])  # matmul, not baddbmm: 2x faster here
            j += 2
        n, classes = h.shape[1], h.shape[2]
        y = c["y"].repeat(P)
        return torch.nn.functional.cross_entropy(h.reshape(P * n, classes), y, reduction="none").view(P, n).mean(1)


def _layers(net: Any) -> list[tuple[str, Any]]:
    """The MLP's modules as ("linear", m) or ("elementwise", m); anything else is refused."""
    torch = _deps.torch()
    nn = torch.nn
    out: list[tuple[str, Any]] = []
    for m in net:
        if isinstance(m, nn.Linear):
            out.append(("linear", m))
        elif isinstance(m, (nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU)):
            out.append(("elementwise", m))
        else:
            raise UsageError(f"the network surface takes MLPs (Linear and activations), not {type(m).__name__}",
                             field="network")
    if not out or out[0][0] != "linear":
        raise UsageError("the network surface takes an MLP whose first layer is Linear", field="network")
    return out


def filter_normalised(origin: np.ndarray, shapes: list[tuple[int, ...]], rng: np.random.Generator) -> np.ndarray:
    """A Gaussian direction with each filter (row of a weight: its slice along axis 0) scaled to
    that filter's norm in ``origin`` (Li et al. 2018); 1-D parameters (biases) zero."""
    d = rng.standard_normal(origin.size)
    at = 0
    for s in shapes:
        n = math.prod(s)
        if len(s) < 2:
            d[at:at + n] = 0.0
        else:
            rows, w = d[at:at + n].reshape(s[0], -1), origin[at:at + n].reshape(s[0], -1)
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows *= np.linalg.norm(w, axis=1, keepdims=True) / np.where(norms > 0, norms, 1.0)
            d[at:at + n] = rows.reshape(-1)
        at += n
    return d


def pca_directions(snapshots: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The top two right singular vectors of theta_i - theta* (unit, orthogonal), signed so the
    first snapshot (theta_0) has negative coordinates, and the share of the variance they hold."""
    m = snapshots.astype(np.float64) - origin
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    axes = vt[:2].copy()
    signs = np.where(m[0] @ axes.T > 0, -1.0, 1.0)
    return axes[0] * signs[0], axes[1] * signs[1], float(np.sum(s[:2] ** 2) / np.sum(s ** 2))


@dataclass(frozen=True)
class NetworkLandscape(Landscape):
    """A network's loss on a plane (``network_landscape``); its contour grid is at most
    ``GRID_POINTS`` a side, and ``surface`` evaluates any plane coordinates."""

    surface: Surface | None = None
    explained: float = math.nan  # the PCA plane's share of the trajectory's variance (NaN: random)

    def grid(self, n: int = 200, window: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return super().grid(min(n, GRID_POINTS), window)


def _racers(**lr: float) -> tuple[tuple[str, dict[str, float]], ...]:
    """The article's three at these learning rates. Measured (seed 0, 100 steps from each start; see
    docs/network-surface.md): on the random plane each goes from 0.19 / 0.14 to within 25% of the
    plane's floor (~0.0016), and none of SGD up to lr 2, momentum up to 0.3 or Adam up to 0.3 leaves
    the window; on the PCA plane from 1.93 to 0.005 (SGD), 0.002 (momentum), 0.0004 (Adam)."""
    return tuple((name, {"learning_rate": v}) for name, v in lr.items())


def _surface(name: str, seed: int, origin: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> Surface:
    dataset, model = NETWORKS[name]
    data = load(dataset, RECIPE["split_seed"])
    net = build(model, data, seed, hidden=RECIPE["hidden"])
    return Surface(net, data, origin.astype(np.float64), d1, d2)


def network_landscape(name: str = "digits-mlp", directions: str | int = "random", seed: int = 0) -> NetworkLandscape:
    """The loss of the network ``name`` (``NETWORKS``) trained with ``seed`` on the plane through
    its trained weights along ``directions`` ("random": filter-normalised, drawn with ``seed``;
    "pca": the training trajectory's); see the module's docstring."""
    dataset, model = _check_name(name)
    key = str(name).strip().lower().replace("_", "-")
    how = _check_directions(directions)
    net = trained(key, seed)
    origin = net.final.astype(np.float64)
    data = load(dataset, RECIPE["split_seed"])
    module = build(model, data, net.seed, hidden=RECIPE["hidden"])  # its structure; the weights come from net
    shapes = [tuple(p.shape) for p in module.parameters()]
    if how == "random":
        rng = np.random.default_rng(net.seed)
        d1, d2 = filter_normalised(origin, shapes, rng), filter_normalised(origin, shapes, rng)
        explained = math.nan
        window = ((-1.0, 1.0), (-1.0, 1.0))
        starts: tuple[tuple[float, float], ...] = ((-0.8, 0.6), (0.6, -0.7))
        what = f"random filter-normalised plane, seed {net.seed}"
        racers = _racers(sgd=0.2, momentum=0.05, adam=0.03)
    else:
        d1, d2, explained = pca_directions(net.snapshots, origin)
        ab = (net.snapshots.astype(np.float64) - origin) @ np.stack([d1, d2]).T  # the trajectory on the plane
        # centred on theta* as Li et al.'s plots: the loss still falls past theta* (training stopped
        # at RECIPE's step budget), and the racers go there
        half = 1.25 * float(np.abs(ab).max())  # square: the directions are orthonormal, so contours keep their shapes
        window = ((-half, half), (-half, half))
        starts = ((float(ab[0, 0]), float(ab[0, 1])),)
        what = f"PCA plane of training, {100 * explained:.1f}% of its path"
        racers = _racers(sgd=5.0, momentum=0.5, adam=1.0)
    surface = Surface(module, data, origin, d1, d2)

    def f(a: Any, b: Any) -> Any:
        return surface.loss(a, b)[0]

    def grad(a: Any, b: Any) -> tuple[Any, Any]:
        _, ga, gb = surface.loss(a, b, grad=True)
        return ga, gb

    return NetworkLandscape(
        name=key.replace("-", "_"), title=f"digits MLP ({what})", f=f, grad=grad, window=window, minima=(),
        min_value=0.0, starts=starts,
        start_source="the initial weights' projection on the plane" if how == "pca" else "",
        log_colour=True, formula=r"L(\theta^* + a\,d_1 + b\,d_2)", source=SOURCE,
        params={"directions": DIRECTIONS.index(how), "seed": net.seed},
        no_minimum="cross-entropy is >= 0; the trained weights (0, 0) are near, not at, a minimum of the plane",
        default_racers=racers, no_hessian="the network's loss has its gradient from autograd, not a Hessian",
        surface=surface, explained=explained,
    )


def digits_mlp(directions: int = 0, seed: int = 0) -> NetworkLandscape:
    """The registry's factory: ``network_landscape("digits-mlp", directions, seed)``."""
    return network_landscape("digits-mlp", directions, seed)


digits_mlp.params_schema = {  # type: ignore[attr-defined]
    "directions": {"default": 0, "min": 0, "max": len(DIRECTIONS) - 1},
    "seed": {"default": 0, "min": 0, "max": MAX_SEED},
}
FACTORIES: dict[str, Callable[..., NetworkLandscape]] = {"digits_mlp": digits_mlp}


def register(name: Any = None) -> bool:
    """Add the networks' factories to the landscape registry (again: no change), so a race's
    configuration naming one (``{"name": "digits_mlp", ...}``) resolves; with ``name``, only when
    it names a network. Whether it registered."""
    if name is not None and str(name).strip().lower().replace("-", "_") not in FACTORIES:
        return False
    for key, factory in FACTORIES.items():
        register_landscape(factory, name=key, dim=2, replace=True, listed=False)  # resolvable, never listed
    return True


def interpolation(name: str = "digits-mlp", points: int = 41, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, losses): the full-batch training loss at (1 - alpha) theta_0 + alpha theta* for
    ``points`` alphas evenly in [-0.5, 1.5] (Goodfellow, Vinyals & Saxe, ICLR 2015). With
    points - 1 a multiple of 4 (41: steps of 0.05) alpha = 0 and 1 are among them, exactly."""
    dataset, model = _check_name(name)
    key = str(name).strip().lower().replace("_", "-")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not 2 <= points <= 10_000:
        raise UsageError(f"points must be a whole number in [2, 10000], got {points!r}", field="points")
    net = trained(key, seed)
    origin = net.final.astype(np.float64)
    # theta(alpha) = theta* + (1 - alpha) (theta_0 - theta*): the surface along one direction
    surface = _surface(key, net.seed, origin, net.initial.astype(np.float64) - origin, np.zeros_like(origin))
    alphas = -0.5 + 2.0 * (np.arange(int(points)) / (int(points) - 1))  # k / (points - 1) exact: 0 and 1 land
    return alphas, surface.loss(1.0 - alphas, 0.0)[0]


def write_interpolation(path: str | os.PathLike[str], name: str = "digits-mlp", points: int = 41, seed: int = 0) -> Path:
    """``interpolation``'s curve as a picture (.png, .svg or .pdf), written whole or not at all."""
    from ..export.images import save_figure
    from ..extras import need

    need("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    alphas, losses = interpolation(name, points, seed)
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(alphas, losses, color="#1f77b4")
    for alpha, label in ((0.0, "initial"), (1.0, "trained")):
        ax.axvline(alpha, color="grey", linewidth=0.8, linestyle="--")
        ax.annotate(label, (alpha, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha$: weights $(1-\alpha)\,\theta_0 + \alpha\,\theta^*$")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(f"{name}: the line from initial to trained weights (Goodfellow et al. 2015)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, Path(path))


__all__ = [
    "CHUNK", "DIRECTIONS", "GRID_POINTS", "NETWORKS", "RECIPE", "NetworkLandscape", "Surface", "Trained", "cache_files", "cache_root",
    "digits_mlp", "filter_normalised", "interpolation", "network_landscape", "pca_directions", "register", "trained",
    "write_interpolation",
]
