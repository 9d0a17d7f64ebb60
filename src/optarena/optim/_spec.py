"""What an optimizer is: a hyperparameter schema plus a pure (init, update) pair.

Every rule in ``optim/`` is written against arrays whose leading axis may be a batch of
independent runs. Numeric hyperparameters may be scalars or arrays of shape ``(B,)``;
``prepare`` validates them and reshapes the arrays to broadcast against ``(B, ...)`` params.
Boolean options (``nesterov``, ``amsgrad`` ...) change the program, so they are static:
one value per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, MutableMapping

import numpy as np

from ..errors import UsageError, UsageTypeError

Array = np.ndarray
State = MutableMapping[str, Any]
HyperValues = Mapping[str, Any]


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its type, default and allowed range (drives validation and sliders)."""

    name: str
    default: float | bool
    kind: str = "float"  # "float" or "bool"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False
    log: bool = False  # slider hint: log scale
    doc: str = ""

    def allowed(self) -> str:
        if self.kind == "bool":
            return "True or False"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else repr(self.low)
        high = "inf" if self.high is None else repr(self.high)
        return f"a finite number in {lo}{low}, {high}{hi}"

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` validated (bool, float or float array); raise naming the argument."""
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise UsageTypeError(f"{where}: {self.name} must be True or False, got {value!r}", field=self.name, allowed=[True, False])
        if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
            raise UsageTypeError(f"{where}: {self.name} must be {self.allowed()}, got {value!r}", field=self.name,
                                 allowed=self.allowed())
        if type(value) in (float, int):  # the common case, without NumPy (a sweep checks 10,000s)
            v = float(value)
            if not (math.isfinite(v) and (self.low is None or (v > self.low if self.low_open else v >= self.low))
                    and (self.high is None or (v < self.high if self.high_open else v <= self.high))):
                raise UsageError(f"{where}: {self.name} must be {self.allowed()}, got {value!r}", field=self.name,
                                 allowed=self.allowed())
            return v
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise UsageTypeError(f"{where}: {self.name} must be {self.allowed()}, got {value!r}", field=self.name,
                                 allowed=self.allowed()) from None
        if arr.ndim > 1:
            raise UsageError(f"{where}: {self.name} must be a number or a 1-D array over the batch axis, got shape {arr.shape}",
                             field=self.name)
        bad = ~np.isfinite(arr)
        if self.low is not None:
            bad |= (arr <= self.low) if self.low_open else (arr < self.low)
        if self.high is not None:
            bad |= (arr >= self.high) if self.high_open else (arr > self.high)
        if np.any(bad):
            shown = value if arr.ndim == 0 else arr[bad][:3].tolist()
            raise UsageError(f"{where}: {self.name} must be {self.allowed()}, got {shown!r}", field=self.name, allowed=self.allowed())
        return float(arr) if arr.ndim == 0 else arr

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.kind, "default": self.default, "min": self.low,
            "max": self.high, "min_open": self.low_open, "max_open": self.high_open,
            "log": self.log, "doc": self.doc,
        }


def lr_hyper(default: float) -> Hyper:
    return Hyper("learning_rate", default, low=0.0, log=True, doc="step size (lr)")


def beta_hyper(name: str, default: float, doc: str) -> Hyper:
    return Hyper(name, default, low=0.0, high=1.0, high_open=True, doc=doc)


def eps_hyper(default: float, name: str = "epsilon") -> Hyper:
    return Hyper(name, default, low=0.0, log=True, doc="numerical stabiliser")


def wd_hyper(default: float = 0.0, doc: str = "L2 penalty folded into the gradient") -> Hyper:
    return Hyper("weight_decay", default, low=0.0, log=True, doc=doc)


MAXIMIZE = Hyper("maximize", False, kind="bool", doc="ascend instead of descend")


@dataclass(frozen=True)
class TorchClass:
    """The torch.optim class of the same rule, as ``optarena.torch`` mirrors it."""

    name: str  # the class in torch.optim: "Adam"
    signature: str  # its constructor after ``params``, as torch 2.13 writes it (tests compare)
    variant: tuple[str, str] | None = None  # (flag, optimizer): a group with flag=True steps as that rule
    fixed: Mapping[str, Any] = field(default_factory=dict)  # keys torch stores that its constructor does not take
    eager_state: bool = False  # torch makes every parameter's state in __init__ (Adagrad)


#: our hyperparameter names -> torch's (the ones in ``TORCH_PAIRS`` go into a tuple argument)
TORCH_NAMES: Mapping[str, str] = {"learning_rate": "lr", "epsilon": "eps"}
#: Our hyperparameters that torch-style constructors take as one tuple argument: name -> (argument,
#: index). The torch bridge, codegen and the reference tests all read it.
TORCH_PAIRS: Mapping[str, tuple[str, int]] = {
    "beta1": ("betas", 0), "beta2": ("betas", 1), "beta3": ("betas", 2),
    "etaminus": ("etas", 0), "etaplus": ("etas", 1), "step_size_min": ("step_sizes", 0), "step_size_max": ("step_sizes", 1),
    # Adafactor's eps = (eps1, eps2): eps1 is not a hyperparameter here (None: the dtype's machine epsilon)
    "epsilon2": ("eps", 1),
}


def torch_arguments(hp: Mapping[str, Any], rename: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``hp`` (our names) as a torch-style constructor's keyword arguments: renamed, and the
    ``TORCH_PAIRS`` members gathered into their tuple, each tuple completed from ``defaults`` (the
    constructor's own defaults for that argument) where ``hp`` lacks a member."""
    out: dict[str, Any] = {}
    tuples: dict[str, dict[int, Any]] = {}
    for k, v in hp.items():
        if k in TORCH_PAIRS and TORCH_PAIRS[k][0] in defaults:
            arg, i = TORCH_PAIRS[k]
            tuples.setdefault(arg, {})[i] = v
        else:
            out[rename.get(k, k)] = v
    for arg, given in tuples.items():
        base = list(defaults[arg])
        for i, v in given.items():
            base[i] = v
        out[arg] = tuple(base)
    return out


@dataclass(frozen=True)
class Reference:
    """An implementation of the same rule to test against (tests/optim/test_reference.py).

    ``kind`` says how to drive it: ``"torch"``, a ``torch.optim.Optimizer`` class
    ``target(params, **kwargs)``; ``"optax"``, a function returning a GradientTransformation.
    Its arguments are built from a case's explicit settings only (``rename``d; ``beta1`` and
    ``beta2`` become ``betas`` for torch), on top of ``fixed``: so our defaults meet its own."""

    target: str  # import path: "torch.optim.Adam", "optax.lion"
    package: str  # what to pip install when it is missing
    kind: str = "torch"
    rename: Mapping[str, str] = field(default_factory=lambda: dict(TORCH_NAMES))
    fixed: Mapping[str, Any] = field(default_factory=dict)  # arguments always passed (declared differences)
    none_as: Mapping[str, Any] = field(default_factory=dict)  # our value the reference spells None (warm-up 0: off)


#: How ``optarena optimizers`` and the web page group the catalogue, in this order.
FAMILIES = ("classic", "adaptive", "sign-based", "schedule-free / learning-rate-free", "second order", "matrix", "other")


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: pure functions over arrays plus what the faces need to show it.

    ``init(params, hp) -> state`` and ``update(params, grads, state, hp) -> (params, state)``
    never modify their inputs. ``state['step']`` counts the updates already applied.

    The fast path (optional) is the same rule split in two: ``coefficients(hp, t, lr, scalars)``
    gives the per-step constants by name (vectorised: ``t`` and ``lr`` may be arrays of steps x
    runs) and ``cell(p, g, *slots, *coefficients)`` updates one element and its state ``slots``
    and returns ``(p, *slots)``: plain Python that numba compiles (see ``kernels``). The cell's
    arguments after ``p``, ``g`` and one per slot name the coefficients it takes. Tests hold it
    equal to ``update``.

    Everything else a face needs is declared here too, so an optimizer is one file: the class
    name of the article's API, the torch.optim class it mirrors, its reference implementation,
    the settings the tests try (``examples``) and an optional colour hint.
    """

    name: str
    title: str
    hypers: tuple[Hyper, ...]
    init: Callable[[Array, HyperValues], State]
    update: Callable[[Array, Array, State, HyperValues], tuple[Array, State]]
    state_arrays: Callable[[HyperValues], tuple[str, ...]]
    rule: str  # LaTeX
    paper: str
    cell: Callable[..., tuple] | None = None
    coefficients: Callable[..., tuple[dict[str, Any], dict[str, Any]]] | None = None
    slots: tuple[str, ...] = ()  # state arrays, in the cell's argument order
    scalars: tuple[str, ...] = ()  # per-run scalar state the coefficients carry (NAdam's mu product)
    check: Callable[[HyperValues, str], None] | None = None  # cross-field rules
    aliases: tuple[str, ...] = field(default=())
    colour: str | None = None  # a hint for the article's race (faces pick distinct colours per race)
    class_name: str = ""  # the article's class (optarena.Adam); default: the title without spaces
    torch: TorchClass | None = None  # the torch.optim class of the same rule, if any
    reference: Reference | None = None  # default: torch.optim's class when ``torch`` is given
    examples: tuple[Mapping[str, Any], ...] = ({},)  # settings the tests try (explicit values only)
    family: str = "other"  # one of FAMILIES

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"optimizer {self.name!r}: family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if (self.cell is None) != (self.coefficients is None):
            raise ValueError(f"optimizer {self.name!r}: give both cell and coefficients, or neither")
        if self.cell is not None:
            args = _positional(self.cell)
            if len(args) < 2 + len(self.slots):
                raise ValueError(f"optimizer {self.name!r}: cell takes {len(args)} arguments; it needs p, g and "
                                 f"one per slot {self.slots}, then its coefficients")
        if not self.class_name:
            object.__setattr__(self, "class_name", self.title.replace(" ", "").replace("-", ""))
        if self.reference is None and self.torch is not None:
            object.__setattr__(self, "reference", Reference(f"torch.optim.{self.torch.name}", "torch"))

    @property
    def coefficient_names(self) -> tuple[str, ...]:
        """The cell's per-step constants, in its argument order (what ``coefficients`` must give)."""
        return () if self.cell is None else _positional(self.cell)[2 + len(self.slots):]

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hypers}

    def hyper(self, name: str) -> Hyper:
        for h in self.hypers:
            if h.name == name:
                return h
        raise KeyError(name)

    def validate(self, hp: Mapping[str, Any] | None = None, where: str | None = None) -> dict[str, Any]:
        """Fill defaults, reject unknown names and out-of-range values; return the full dict."""
        where = where or self.title
        hp = dict(hp or {})
        known = {h.name for h in self.hypers}
        unknown = sorted(set(hp) - known)
        if unknown:
            raise UsageTypeError(f"{where}: unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(sorted(known))}",
                                 field=unknown[0], allowed=sorted(known))
        out = {h.name: h.check(hp.get(h.name, h.default), where) for h in self.hypers}
        sizes = {np.shape(v)[0] for v in out.values() if isinstance(v, np.ndarray)}
        if len(sizes) > 1:
            raise UsageError(f"{where}: hyperparameter arrays have different batch sizes {sorted(sizes)}")
        if self.check is not None:
            self.check(out, where)
        return out

    def bind(self, hp: Mapping[str, Any] | None, params: Array) -> dict[str, Any]:
        """Validated hyperparameters shaped for ``params``: batched (``(B,)``) values become
        ``(B, 1, ..., 1)`` so they broadcast over a leading batch axis, in the params' dtype."""
        return expand(self.validate(hp), np.ndim(params), np.asarray(params).dtype)

    def state_bytes_per_param(self, hp: HyperValues | None = None, itemsize: int = 4) -> int:
        return itemsize * len(self.state_arrays(self.validate(hp)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "aliases": list(self.aliases), "family": self.family,
            "hyperparameters": [h.to_json() for h in self.hypers],
            "rule": self.rule, "paper": self.paper,
            "state_arrays": list(self.state_arrays(self.defaults)),
        }


def _positional(fn: Callable[..., Any]) -> tuple[str, ...]:
    import inspect

    return tuple(p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def expand(hp: HyperValues, ndim: int, dtype: np.dtype) -> dict[str, Any]:
    """Reshape batched (``(B,)``) hyperparameters to ``(B, 1, ..., 1)`` with ``ndim`` axes.

    Arrays take the params' dtype so float32 runs stay float32; scalars stay Python
    floats, which NumPy treats as weak (they adopt the array's dtype).
    """
    out: dict[str, Any] = {}
    for k, v in hp.items():
        if isinstance(v, np.ndarray):
            if ndim == 0:
                raise ValueError(f"batched hyperparameter {k!r} needs params with a leading batch axis")
            out[k] = v.astype(dtype, copy=False).reshape((-1,) + (1,) * (ndim - 1))
        else:
            out[k] = v
    return out


def is_batched(hp: HyperValues) -> bool:
    return any(isinstance(v, np.ndarray) for v in hp.values())


def prepare_grad(params: Array, grads: Array, hp: HyperValues) -> Array:
    """torch's shared preamble: flip for ``maximize``, then fold L2 ``weight_decay`` into g."""
    g = -grads if hp.get("maximize", False) else grads
    wd = hp.get("weight_decay", 0.0)
    if np.any(wd != 0):
        g = g + wd * params
    return g


def decay_decoupled(params: Array, hp: HyperValues) -> Array:
    """Decoupled decay (AdamW, Lion): p <- p * (1 - lr * wd), before the step."""
    wd = hp.get("weight_decay", 0.0)
    if np.any(wd != 0):
        return params * (1 - hp["learning_rate"] * wd)
    return params


def zeros_state(params: Array, names: tuple[str, ...]) -> dict[str, Any]:
    state: dict[str, Any] = {"step": 0}
    for n in names:
        state[n] = np.zeros_like(params)
    return state


def bias_correction(beta: Any, step: int) -> Any:
    """1 - beta**t; beta may be a batched array."""
    return 1 - beta**step


def sqrt(x: Any) -> Any:
    return math.sqrt(x) if isinstance(x, float) else np.sqrt(x)


def decay_and_grad(params: Array, grads: Array, hp: HyperValues, decoupled: bool) -> tuple[Array, Array]:
    """Weight decay either decoupled (shrink p first) or as L2 folded into g; maximize applied."""
    if decoupled:
        params = decay_decoupled(params, hp)
        return params, prepare_grad(params, grads, {**hp, "weight_decay": 0.0})
    return params, prepare_grad(params, grads, hp)


def lerp(a: Any, b: Any, w: Any) -> Any:
    """torch's lerp for weights below 0.5 (every decay rate here): a + w * (b - a)."""
    return a + w * (b - a)


# ---------------------------------------------------------------- shared pieces of the fused cells
# Cells are plain Python here; ``kernels`` compiles a cell with numba and, with it, every function
# marked ``cell_helper`` that it calls by name (so ``import optarena`` never imports numba).


def cell_helper(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks ``fn`` as callable from a cell: ``kernels`` compiles and inlines it there."""
    fn._optarena_cell_helper = True  # type: ignore[attr-defined]
    return fn


@cell_helper
def cell_grad(p, g, neg, l2):
    """One element of ``prepare_grad``: flipped for maximize, then L2 decay folded in."""
    if neg != 0:
        g = -g
    if l2 != 0:
        g = g + l2 * p
    return g


@cell_helper
def cell_adam_moments(p, g, m, v, decay, l2, one_m_b1, b2, one_m_b2, neg, decoupled):
    """The Adam family's shared start, one element: decoupled decay of p (AdamW's form) or L2
    in g, then both moments (m by torch's lerp). Returns (p, g, m, v)."""
    if decoupled != 0:
        p = p * decay
    g = cell_grad(p, g, neg, l2)
    return p, g, m + one_m_b1 * (g - m), b2 * v + one_m_b2 * g * g


@cell_helper
def cell_sign_step(d, lr):
    """lr * sign(d), one element, without leaving the dtype; NaN passes through as in np.sign."""
    if d > 0:
        return lr
    if d < 0:
        return -lr
    return lr * d
