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
from typing import Any, Callable, Mapping, MutableMapping, Sequence

import numpy as np

from ..errors import UsageError, UsageTypeError
from .anatomy import Anatomy

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
    infinite: bool = False  # +inf is allowed too (Prodigy's growth_rate: unbounded by default)
    integer: bool = False  # a whole number (L-BFGS's max_iter): checked, and written as an int in code

    def allowed(self) -> str:
        if self.kind == "bool":
            return "True or False"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else repr(self.low)
        high = "inf" if self.high is None else repr(self.high)
        if self.infinite:
            return f"a number in {lo}{low}, inf] (inf: unbounded)"
        if self.integer:
            return f"a whole number in {lo}{low}, {high}{hi}"
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
            finite = math.isfinite(v) or (self.infinite and v == math.inf)
            if not (finite and (self.low is None or (v > self.low if self.low_open else v >= self.low))
                    and (self.high is None or (v < self.high if self.high_open else v <= self.high))):
                raise UsageError(f"{where}: {self.name} must be {self.allowed()}, got {value!r}", field=self.name,
                                 allowed=self.allowed())
            if self.integer and v != round(v):
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
        bad = ~np.isfinite(arr) & ~(self.infinite & (arr == np.inf))
        if self.integer:
            bad |= np.isfinite(arr) & (arr != np.round(arr))
        if self.low is not None:
            bad |= (arr <= self.low) if self.low_open else (arr < self.low)
        if self.high is not None:
            bad |= (arr >= self.high) if self.high_open else (arr > self.high)
        if np.any(bad):
            shown = value if arr.ndim == 0 else arr[bad][:3].tolist()
            raise UsageError(f"{where}: {self.name} must be {self.allowed()}, got {shown!r}", field=self.name, allowed=self.allowed())
        return float(arr) if arr.ndim == 0 else arr

    def to_json(self) -> dict[str, Any]:
        default: float | bool | None = self.default
        if isinstance(default, float) and not math.isfinite(default):
            default = None  # strict JSON has no inf; "infinite" says what None means
        return {
            "name": self.name, "type": self.kind, "default": default, "infinite": self.infinite, "min": self.low,
            "max": self.high, "min_open": self.low_open, "max_open": self.high_open,
            "log": self.log, "doc": self.doc, "integer": self.integer,
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
    ``TORCH_PAIRS`` members gathered into their tuple (where ``defaults`` has a tuple that long:
    Prodigy's betas are a pair and its beta3 its own argument), each tuple completed from ``defaults`` (the
    constructor's own defaults for that argument) where ``hp`` lacks a member."""
    out: dict[str, Any] = {}
    tuples: dict[str, dict[int, Any]] = {}
    for k, v in hp.items():
        if k in TORCH_PAIRS and TORCH_PAIRS[k][0] in defaults and TORCH_PAIRS[k][1] < len(defaults[TORCH_PAIRS[k][0]]):
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
    #: The reference's constructor after ``params``, as its package writes it: ``optarena.torch``'s
    #: class of a rule torch.optim lacks takes it, so a script switches by changing the import
    #: (tests hold it equal to the installed reference's). "": torch's shape (lr, betas, eps, ...).
    signature: str = ""
    group_keys: Mapping[str, Any] = field(default_factory=dict)  # keys its param groups hold that its constructor does not take
    #: Our hyperparameters it has no argument for, with the value it always uses (LAMB's clamp, a class
    #: attribute there): code written for it cannot set them (``optarena code`` says so).
    lacks: Mapping[str, Any] = field(default_factory=dict)
    #: Our value -> the reference's, per hyperparameter, where it spells one differently (L-BFGS's
    #: line_search True is torch's line_search_fn="strong_wolfe")
    values: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)
    #: Per-run scalars the reference keeps in its param groups, not per parameter: our state key ->
    #: its group key (schedulefree's k, weight_sum, lr_max). The torch bridge writes them there in
    #: ``state_dict()`` and reads them from there on load, so state dicts cross both ways.
    group_scalars: Mapping[str, str] = field(default_factory=dict)


def parse_signature(text: str) -> list[tuple[str, bool, Any]]:
    """A constructor written as text (``"lr=1e-3, *, maximize=False"``) as (name, keyword-only,
    default) triples. Defaults are literals, or ``float('inf')``."""
    import ast

    fn = ast.parse(f"def f({text}): pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args

    def literal(node: ast.expr | None) -> Any:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float"
                and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            return float(node.args[0].value)
        assert node is not None, "every argument needs a default"
        return ast.literal_eval(node)

    return ([(x.arg, False, literal(d)) for x, d in zip(a.args, a.defaults)]
            + [(x.arg, True, literal(d)) for x, d in zip(a.kwonlyargs, a.kw_defaults)])


#: What one step of a rule reads besides its own element (``OptimizerSpec.scope``):
#: "element": nothing (a fused cell exists or can); "parameter": sums or norms over the whole
#: parameter (LAMB's trust ratio, Adafactor's RMS); "all": sums over every parameter the
#: optimizer steps (Prodigy's distance estimate). In a race each run is one parameter.
SCOPES = ("element", "parameter", "all")

#: What a rule needs from the landscape besides the gradient (``OptimizerSpec.needs``); the
#: race engine passes each as a keyword argument of ``update``: ``hessian`` is (runs, d, d);
#: ``closure(x) -> (loss, grad)`` evaluates one run's point (L-BFGS: a step may call it often).
NEEDS = ("hessian", "closure")

@dataclass(frozen=True)
class Reduction:
    """How a rule of scope "all" steps many parameters at once: three phases around one sum.

        gather(p, g, state, shared, hp) -> (state, partials)       each parameter, in order
        combine(shared, totals, hp) -> shared                       once; totals: the partials summed
        apply(p, g, state, before, after, hp) -> (p, state)         each parameter

    ``shared`` holds the optimizer-wide scalars (Prodigy's d, d_max, d_numerator, k): floats, or
    (B, 1, ..., 1) arrays when the leading axis holds independent runs (then every partial is a
    per-run ``run_sum`` and every run is its own optimizer). ``apply`` sees the shared values from
    before and after ``combine`` (Prodigy steps with the old d's step size and the new d's eps).
    ``shared_keys`` name them; in a one-array state they sit beside the per-parameter arrays, in the
    torch bridge in the param groups (where the reference keeps them)."""

    shared_keys: tuple[str, ...]
    gather: Callable[..., tuple[State, dict[str, Any]]]
    combine: Callable[..., dict[str, Any]]
    apply: Callable[..., tuple[Array, State]]

    def split(self, state: State) -> tuple[dict[str, Any], dict[str, Any]]:
        """(per-parameter state, shared state) of a one-array state."""
        shared = {k: state[k] for k in self.shared_keys}
        return {k: v for k, v in state.items() if k not in shared}, shared

    def update(self, params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
        """One step of the whole rule on one array (all the parameters, or one run per row)."""
        own, shared = self.split(state)
        gathered, totals = self.gather(params, grads, own, shared, hp)
        after = self.combine(shared, totals, hp)
        p, stepped = self.apply(params, grads, gathered, shared, after, hp)
        return p, {**stepped, **after}

    def step_many(self, params: Sequence[Array], grads: Sequence[Array], states: Sequence[State], shared: dict[str, Any],
                  hps: Sequence[HyperValues]) -> tuple[list[Array], list[State], dict[str, Any]]:
        """One step over several parameters (``hps[i]`` for parameter i; ``combine`` reads
        ``hps[0]``): new arrays, per-parameter states and shared state. Nothing is modified."""
        gathered = [self.gather(p, g, st, shared, hp) for p, g, st, hp in zip(params, grads, states, hps)]
        totals: dict[str, Any] = {}
        for _, part in gathered:
            for k, v in part.items():
                totals[k] = totals[k] + v if k in totals else v
        after = self.combine(shared, totals, hps[0])
        out = [self.apply(p, g, st, shared, after, hp) for p, g, (st, _), hp in zip(params, grads, gathered, hps)]
        return [o[0] for o in out], [o[1] for o in out], after


@dataclass(frozen=True)
class TwoPass:
    """A rule of scope "parameter" or "all" as two fused passes over one array (``kernels_two_pass``):
    the per-element work around its sums, with the sums taken once between them.

        coefficients(params, state, hp) -> {name: value}           pass 1's constants, by name
        gather(p, g, *slots, *coefficients) -> (*written, *terms)   pass 1, one element
        combine(params, sums, c, state, hp) -> ({name: value}, {key: value})   once, in Python
        apply(p, g, *slots, *coefficients) -> (p, *written)         pass 2, one element

    Both cells take ``p``, ``g`` and one argument per ``slots`` entry (an absent slot reads 0), then
    their coefficients by name, as ``OptimizerSpec.cell`` does. ``gather`` returns the new values of
    the slots in ``gather_writes``, then one term per ``sums`` entry: each is summed over the array in
    float64 (the readable rule's ``run_sum``, in another order) into ``sums[name]``. ``combine`` turns
    the sums and pass 1's constants ``c`` into apply's constants (apply reads a name there, else in
    ``c``) and the scalar state after the step (``step`` is counted up unless it sets it). A slot not
    in a pass's writes is read only there, so each array is stored once a step. ``supports(params, hp)``
    says which parameters the fused form covers (None: all; else the readable rule runs), and
    ``reduces(params, hp)`` whether this parameter's step takes the sums at all (False: pass 1 is
    skipped and the sums are 0; it must then write no slot). Tests hold the form equal to ``update``."""

    slots: tuple[str, ...]
    sums: tuple[str, ...]
    coefficients: Callable[..., dict[str, Any]]
    gather: Callable[..., tuple]
    combine: Callable[..., tuple[dict[str, Any], Mapping[str, Any]]]
    apply: Callable[..., tuple]
    gather_writes: tuple[str, ...] = ()
    apply_writes: tuple[str, ...] = ()
    supports: Callable[[Array, HyperValues], bool] | None = None
    reduces: Callable[[Array, HyperValues], bool] | None = None

    def __post_init__(self) -> None:
        for label, writes in (("gather_writes", self.gather_writes), ("apply_writes", self.apply_writes)):
            if not set(writes) <= set(self.slots):
                raise ValueError(f"two-pass form: {label} {writes} must name slots of {self.slots}")
        for label, cell in (("gather", self.gather), ("apply", self.apply)):
            if len(_positional(cell)) < 2 + len(self.slots):
                raise ValueError(f"two-pass form: {label} takes p, g and one argument per slot {self.slots}, then its coefficients")
        if self.reduces is not None and self.gather_writes:
            raise ValueError("two-pass form: a pass 1 that may be skipped (reduces) must write no slot")

    @property
    def gather_names(self) -> tuple[str, ...]:
        """gather's coefficients, in its argument order."""
        return _positional(self.gather)[2 + len(self.slots):]

    @property
    def apply_names(self) -> tuple[str, ...]:
        """apply's coefficients, in its argument order."""
        return _positional(self.apply)[2 + len(self.slots):]


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
    scope: str = "element"  # one of SCOPES: what one element's step reads (see SCOPES)
    #: Rules that take their gradient at one point and report another (Schedule-Free: the
    #: params hold y, the rule's answer is x): ``eval_point(params, state, hp) -> x`` (what a race
    #: draws and scores; ``eval()`` in the torch bridge) and its inverse ``train_point(x, state,
    #: hp) -> y`` (``train()``). None: the params are the answer.
    eval_point: Callable[[Array, State, HyperValues], Array] | None = None
    train_point: Callable[[Array, State, HyperValues], Array] | None = None
    needs: tuple[str, ...] = ()  # members of NEEDS: what ``update`` takes as keyword arguments
    reduction: Reduction | None = None  # scope "all": the rule in phases (``update`` is its one-array form)
    #: The fewest axes a parameter must have (Muon: 2, a matrix). A race's run is a point, one axis:
    #: such a rule is refused there up front, with what to race instead.
    min_ndim: int = 0
    #: scope "parameter" or "all": the rule as two fused passes around its sums, for one array (``TwoPass``)
    two_pass: TwoPass | None = None
    #: How one step decomposes (terms, formulas with the step's numbers: ``optim.anatomy``); None:
    #: the page shows the rule and the state before and after the step
    anatomy: Anatomy | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"optimizer {self.name!r}: family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"optimizer {self.name!r}: scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.cell is not None and self.scope != "element":
            raise ValueError(f"optimizer {self.name!r}: a fused cell steps one element; scope {self.scope!r} "
                             "reads more than that (give no cell)")
        if self.two_pass is not None and self.scope == "element":
            raise ValueError(f"optimizer {self.name!r}: a two-pass form is for scope 'parameter' or 'all' (an element rule has a cell)")
        if (self.eval_point is None) != (self.train_point is None):
            raise ValueError(f"optimizer {self.name!r}: give both eval_point and train_point, or neither")
        if (self.scope == "all") != (self.reduction is not None):
            raise ValueError(f"optimizer {self.name!r}: scope 'all' and a reduction go together")
        bad = [n for n in self.needs if n not in NEEDS]
        if bad:
            raise ValueError(f"optimizer {self.name!r}: needs must be members of {NEEDS}, got {bad[0]!r}")
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
    def network_refusal(self) -> str:
        """Why this rule cannot step a network's parameters here ("" when it can): the Hessian or a
        closure it needs is the arena's (a landscape gives them), matrices only (a network's biases
        are vectors). The faces that train or time on vectors (``optarena train``, ``table``) refuse it."""
        if "hessian" in self.needs:
            return (f"{self.title} needs the loss's exact Hessian, which the arena's landscapes give: race it there "
                    "(optarena race, optarena gallery)")
        if "closure" in self.needs:
            return (f"{self.title} steps by closure in the arena (optarena race); to train a network use "
                    f"optarena.torch.{self.class_name} (step(closure)) or torch.optim.LBFGS, the same rule")
        if self.min_ndim > 1:
            return (f"{self.title} steps matrices only and a network's biases are vectors: use optarena.torch."
                    f"{self.class_name} on a model's matrix parameters and another optimizer for the rest")
        return ""

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
            # what a face needs to know before offering it: a race refuses min_ndim > 1 (a point has one axis)
            "scope": self.scope, "needs": list(self.needs), "min_ndim": self.min_ndim,
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


def bias_correction(beta: Any, step: Any) -> Any:
    """1 - beta**t; beta may be a batched array. For a column of steps (shape (T, 1)) and H
    settings' betas, each distinct beta's powers are taken once: a sweep's 10,000 settings often
    hold 100 betas, and pow is most of the cost of its compiled race's coefficients."""
    if isinstance(beta, np.ndarray) and beta.ndim == 1 and np.ndim(step) == 2 and np.shape(step)[1] == 1:
        distinct, where = np.unique(beta, return_inverse=True)
        if 2 * distinct.size <= beta.size:
            return (1 - distinct**step)[:, where]
    return 1 - beta**step


def checked_hessian(title: str, params: Array, hessian: Array | None) -> Array:
    """The ``hessian`` a rule that ``needs`` it was given, as float64 of shape params.shape + (d,)
    (one d x d matrix per run); a ``UsageError`` naming the field when it is missing or misshapen."""
    if hessian is None:
        raise UsageError(f"{title} needs the Hessian: race it on a landscape, or call update(params, gradients, "
                         "hessian=H) with H of shape params.shape + (d,)", field="hessian")
    p = np.asarray(params)
    d = p.shape[-1] if p.ndim else 1
    H = np.asarray(hessian, dtype=np.float64)
    if H.shape != p.shape + (d,) and not (p.ndim == 0 and H.size == 1):
        raise UsageError(f"{title}: hessian must have shape {p.shape + (d,)} for params of shape {p.shape}, got {H.shape}",
                         field="hessian")
    return H


def run_sum(x: Array, hp: HyperValues) -> Any:
    """The sum over each run's elements: over the whole array (a float), or, when ``hp`` is batched
    (the leading axis holds independent runs), over each row as (B, 1, ..., 1). Accumulated in
    float64 (NumPy converts chunk by chunk: no float64 copy of a float32 array): the per-parameter
    reductions of LAMB, LARS, Adafactor ... use it, so one parameter and one row of a race give
    the same numbers."""
    a = np.asarray(x)
    if not is_batched(hp) or a.ndim == 0:
        return float(np.sum(a, dtype=np.float64))
    return np.sum(a, axis=tuple(range(1, a.ndim)), keepdims=True, dtype=np.float64)


def per_run(v: Any, ndim: int) -> Any:
    """A per-run value (a batched hyperparameter, or a per-run sum) as (B, 1, ..., 1) with ``ndim``
    axes, to broadcast against a batch of runs' arrays of that many axes; a scalar as it is."""
    return np.reshape(v, (-1,) + (1,) * (ndim - 1)) if np.ndim(v) else v


def run_norm(x: Array, hp: HyperValues) -> Any:
    """The 2-norm over each run's elements (see ``run_sum``): squares in the array's dtype (as the
    references square them), summed in float64."""
    return sqrt(run_sum(np.square(np.asarray(x)), hp))


def run_size(x: Array, hp: HyperValues) -> int:
    """How many elements each run has (all of them, or a row's when ``hp`` is batched)."""
    shape = np.shape(x)
    return int(np.prod(shape[1:])) if is_batched(hp) and len(shape) else int(np.prod(shape))


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


def torch_lerp(a: Any, b: Any, w: Any) -> Any:
    """torch.lerp(a, b, w) with both its branches: a + w (b - a) for |w| < 0.5, else
    b - (b - a)(1 - w) (rules whose weight may reach 0.5: Adafactor's w_1 = 1, Muon's Nesterov mix,
    Schedule-Free's interpolations). ``w`` may be a per-run array."""
    if np.ndim(w) == 0:
        return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)
    return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


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
