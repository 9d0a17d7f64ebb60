"""torch.optim's constructors, as the ``optarena.torch`` classes take them.

Each class with a torch.optim counterpart takes that class's constructor as torch 2.13 writes it
(names, order, which are keyword-only, defaults: each spec's ``torch.signature``, held equal to
``inspect.signature(torch.optim.X.__init__)`` by tests/torch/test_bridge.py) and rejects what
torch rejects with torch's exception type and words. A rule whose reference writes its own
constructor (``Reference.signature``: prodigyopt's Prodigy) takes that one, arguments it does not
offer pinned to their defaults; other optimizers (Lion, ones registered later) get torch's shape:
``lr``, ``betas``, ``eps`` first, then their own names. The article's
``learning_rate``, ``beta1``, ``beta2`` and ``epsilon`` are accepted too, as keyword-only aliases
(in the constructor and in param group dicts); param groups keep torch's keys only.

``foreach``, ``fused``, ``capturable`` and ``differentiable`` say how torch computes, not what:
``foreach`` is accepted and changes nothing (there is one implementation here, equal to torch's
for-loop), ``fused`` picks the numba kernel (a rule without a fused cell, Adafactor, takes no
``fused``: a TypeError that says so, as torch's class without one raises), and the two that cannot be honoured here
(``capturable=True``, ``differentiable=True``) are refused.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..optim import TORCH_PAIRS, OptimizerSpec, parse_signature, registry

_P, _K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY

# the article's names: (torch's key, index into it)
ALIASES: dict[str, tuple[str, int | None]] = {
    "learning_rate": ("lr", None), **{k: v for k, v in TORCH_PAIRS.items() if k.startswith("beta")},
    "epsilon": ("eps", None), **{k: v for k, v in TORCH_PAIRS.items() if not k.startswith("beta")},
}
IMPLEMENTATION = ("foreach", "capturable", "differentiable", "fused")

# what torch.optim rejects, in its words: key, message, test
_RANGES: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("lr", "Invalid learning rate", lambda v: 0.0 <= v),
    ("eps", "Invalid epsilon value", lambda v: 0.0 <= v),
    ("rho", "Invalid rho value", lambda v: 0.0 <= v <= 1.0),
    ("lr_decay", "Invalid lr_decay value", lambda v: 0.0 <= v),
    ("weight_decay", "Invalid weight_decay value", lambda v: 0.0 <= v),
    ("initial_accumulator_value", "Invalid initial_accumulator_value value", lambda v: 0.0 <= v),
    ("momentum", "Invalid momentum value", lambda v: 0.0 <= v),
    ("momentum_decay", "Invalid momentum_decay value", lambda v: 0.0 <= v),
    ("alpha", "Invalid alpha value", lambda v: 0.0 <= v),
)
_TENSOR_BETAS = frozenset({"Adam", "AdamW"})  # the classes whose betas may be Tensors
# classes that check their arguments in other words than the rest: key, index into it (None: the
# value itself), message, test; in the order torch checks them (after "Tensor lr must be 1-element")
_OWN_RANGES: dict[str, tuple[tuple[str, int | None, str, Callable[[Any], bool]], ...]] = {
    "Adafactor": (
        ("lr", None, "Learning rate should be >= 0 but is", lambda v: 0.0 <= v),
        ("beta2_decay", None, "beta2_decay should be <= 0 but is", lambda v: 0.0 >= v),
        ("eps", 0, "epsilon1 should be >= 0 but is", lambda v: v is None or 0.0 <= v),
        ("eps", 1, "epsilon2 should be >= 0 but is", lambda v: 0.0 <= v),
        ("d", None, "Clipping threshold d should be >= 1 but is", lambda v: 1.0 <= v),
        ("weight_decay", None, "weight_decay should be >= 0 but is", lambda v: 0.0 <= v),
    ),
    "Muon": (
        ("lr", None, "Learning rate should be >= 0 but is", lambda v: 0.0 <= v),
        ("momentum", None, "momentum should be >= 0 but is", lambda v: 0.0 <= v),
        ("weight_decay", None, "weight decay should be >= 0 but is", lambda v: 0.0 <= v),
    ),
}
# members of a tuple argument that optarena's rule does not take as a setting: (key, index) -> the
# one value it takes, and why (checked in the constructor, in every param group and at each step)
_PINNED: dict[str, tuple[tuple[str, int, Any, str], ...]] = {
    "Adafactor": (("eps", 0, None, "eps[0] (eps1) must be None: optarena's Adafactor uses the machine epsilon of the "
                                   "parameter's dtype, torch's default for None; set eps[1] (eps2) only"),),
}


def _parse(text: str) -> list[inspect.Parameter]:
    """``"lr=1e-3, *, maximize=False"`` as inspect.Parameters (``optim.parse_signature``)."""
    return [inspect.Parameter(name, _K if keyword else _P, default=default) for name, keyword, default in parse_signature(text)]


def _generic(spec: OptimizerSpec) -> list[inspect.Parameter]:
    """torch's shape for an optimizer torch does not have: lr, betas, eps, its own, then options."""
    d = spec.defaults
    # betas: (beta1, beta2) or (beta1, beta2, beta3), as the references of such rules take them
    betas = [n for n in ("beta1", "beta2", "beta3") if n in d]
    betas = betas if betas[:2] == ["beta1", "beta2"] else []
    out = []
    if "learning_rate" in d:
        out.append(inspect.Parameter("lr", _P, default=d["learning_rate"]))
    if betas:
        out.append(inspect.Parameter("betas", _P, default=tuple(d[n] for n in betas)))
    if "epsilon" in d:
        out.append(inspect.Parameter("eps", _P, default=d["epsilon"]))
    out += [inspect.Parameter(h.name, _P, default=h.default) for h in spec.hypers
            if h.name not in ("learning_rate", "epsilon", "maximize") and h.name not in betas]
    if "maximize" in d:
        out.append(inspect.Parameter("maximize", _K, default=d["maximize"]))
    out += [inspect.Parameter(k, _K, default=v) for k, v in
            (("foreach", None), ("capturable", False), ("differentiable", False), ("fused", None))
            if k != "fused" or spec.cell is not None]
    return out


@dataclass(frozen=True)
class Constructor:
    """One class's constructor: torch's signature plus the aliases, and how groups map to the rule."""

    torch_name: str | None  # the torch.optim class it stands for; None: no counterpart
    signature: inspect.Signature  # params, torch's parameters, then ours (keyword-only)
    aliases: dict[str, tuple[str, int | None]]
    fixed: dict[str, Any] = field(default_factory=dict)
    variant: tuple[str, str] | None = None  # (flag, registry name of the rule a flagged group takes)
    eager_state: bool = False
    none_as: dict[str, Any] = field(default_factory=dict)  # a group's None for these hyperparameters: this value
    pinned: dict[str, Any] = field(default_factory=dict)  # arguments taken for the signature's sake: their default only
    renames: dict[str, str] = field(default_factory=dict)  # hyperparameter -> the reference's argument (Sophia's clip: p)
    values: dict[str, dict[Any, Any]] = field(default_factory=dict)  # hyperparameter -> {the reference's value: ours}
    constants: dict[str, Any] = field(default_factory=dict)  # hyperparameters the reference lacks: the value it uses

    @property
    def defaults(self) -> dict[str, Any]:
        """torch's ``defaults`` of a class built with no arguments (what groups fall back on)."""
        out = {k: p.default for k, p in self.signature.parameters.items() if k != "params" and k not in self.aliases}
        out.update(self.fixed)
        return out

    def reads(self, spec: OptimizerSpec) -> tuple[tuple[str, str, int | None, bool], ...]:
        """Where each of ``spec``'s hyperparameters lives in a group: (name, key, index, is bool)."""
        return tuple((h.name, *self.aliases.get(h.name, (self.renames.get(h.name, h.name), None)), h.kind == "bool")
                     for h in spec.hypers if h.name not in self.constants)

    def bind(self, where: str, params: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The constructor's arguments as torch's ``defaults`` dict, checked as torch checks them."""
        for name in kwargs:
            if name not in self.signature.parameters:
                takes = ", ".join(k for k in self.signature.parameters if k != "params")
                if name == "fused":  # torch's class has none, and neither has ours: no cell for this rule
                    theirs = f", as torch.optim.{self.torch_name} has none" if self.torch_name else ""
                    raise TypeError(f"{where}: unknown hyperparameter 'fused': this rule has no fused kernel (its "
                                    f"step is not per element){theirs}; it takes {takes}")
                raise TypeError(f"{where}: unknown hyperparameter {name!r}; it takes {takes}")
        bound = self.signature.bind(params, *args, **kwargs)  # Python's TypeErrors for the rest
        given = set(bound.arguments)
        bound.apply_defaults()
        options = dict(bound.arguments)
        params = options.pop("params")
        self.resolve_aliases(options, given, options, where)
        options.update(self.fixed)
        for key, default in self.pinned.items():
            if options[key] != default:
                raise ValueError(f"{where}: {key}={options[key]!r} is not offered by optarena's rule (only its default "
                                 f"{default!r}); see its docstring")
        check_like_torch(options, self.torch_name, where)
        if self.torch_name in _TENSOR_BETAS:
            options["betas"] = tuple(map(_to_scalar, options["betas"]))
        return params, options

    def resolve_aliases(self, options: dict[str, Any], given: set[str], fallback: dict[str, Any], where: str) -> None:
        """Moves the article's names in ``options`` to torch's keys (a value given both ways must agree)."""
        for alias, (key, index) in self.aliases.items():
            if alias not in options:
                continue
            value = options.pop(alias)
            if value is None:  # the signature's "not given"
                continue
            if type(value) is int:
                value = float(value)  # the article's style; torch's Adam wants float betas
            if index is None:
                old = options.get(key)
                options[key] = value
            else:
                pair = list(options.get(key, fallback[key]))
                old, pair[index] = pair[index], value
                options[key] = tuple(pair)
            if key in given and bool(old != value):
                shown = f"{key}[{index}]" if index is not None else key
                raise ValueError(f"{where}: {key} and {alias} differ ({shown}={old!r}, {alias}={value!r}); give one of them")


def _to_scalar(x: Any) -> Any:
    # torch.optim.optimizer._to_scalar: a 1-element Tensor becomes 0-d
    return x.squeeze() if isinstance(x, torch.Tensor) and x.dim() != 0 else x


def check_like_torch(options: dict[str, Any], torch_name: str | None, where: str) -> None:
    """Raises what torch.optim's constructor raises for these arguments (ValueError, in its words;
    a comparison with a non-number is torch's TypeError too)."""
    lr = options.get("lr")
    if isinstance(lr, torch.Tensor):
        if torch_name in _TENSOR_BETAS and options.get("foreach") and not options.get("capturable"):
            raise ValueError(f"{where}: lr as a Tensor is not supported for capturable=False and foreach=True")
        if lr.numel() != 1:
            raise ValueError(f"{where}: Tensor lr must be 1-element")
    own = _OWN_RANGES.get(torch_name or "")
    if own is not None:
        for key, index, text, ok in own:
            v = options[key] if index is None else options[key][index]
            if not ok(v):
                raise ValueError(f"{where}: {text}: {v}")
        check_pinned(options, torch_name, where)
        return
    for key, text, ok in _RANGES:
        if key in options and not ok(options[key]):
            raise ValueError(f"{where}: {text}: {options[key]}")
        if key == "eps" and "betas" in options:  # torch checks betas after eps
            betas = options["betas"]
            for i in (0, 1):
                if not 0.0 <= betas[i] < 1.0:
                    raise ValueError(f"{where}: Invalid beta parameter at index {i}: {betas[i]}")
    if torch_name == "Rprop" and not 0.0 < options["etas"][0] < 1.0 < options["etas"][1]:
        raise ValueError(f"{where}: Invalid eta values: {options['etas'][0]}, {options['etas'][1]}")
    if torch_name == "SGD" and options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
        raise ValueError(f"{where}: Nesterov momentum requires a momentum and zero dampening (nesterov=True requires "
                         f"momentum > 0 and dampening = 0, got {options['momentum']} and {options['dampening']})")
    if torch_name in _TENSOR_BETAS:
        b0, b1 = options["betas"][0], options["betas"][1]
        if not ((isinstance(b0, float) and isinstance(b1, float))
                or (isinstance(b0, torch.Tensor) and isinstance(b1, torch.Tensor))):
            raise ValueError(f"{where}: betas must be either both floats or both Tensors")
        for i, b in enumerate((b0, b1)):
            if isinstance(b, torch.Tensor):
                if options.get("foreach") and not options.get("capturable"):
                    raise ValueError(f"{where}: betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
                if b.numel() != 1:
                    raise ValueError(f"{where}: Tensor betas[{i}] must be 1-element")


# arguments whose other values optarena's rule does not offer: key -> the values it takes (equal), and why
_PINNED_VALUES: dict[str, tuple[tuple[str, tuple[Any, ...], str], ...]] = {
    "Muon": (("ns_coefficients", ((3.4445, -4.775, 2.0315),), "ns_coefficients must be torch's default (3.4445, -4.775, "
              "2.0315): optarena's Muon iterates with those only"),),
}


def check_pinned(group: dict[str, Any], torch_name: str | None, where: str) -> None:
    """A ValueError where ``group`` sets a tuple member the rule does not take (Adafactor's eps1),
    or an argument to a value it does not offer (Muon's ns_coefficients)."""
    for key, index, value, why in _PINNED.get(torch_name or "", ()):
        if key in group and group[key][index] is not value:
            raise ValueError(f"{where}: {why} (got {key}={group[key]!r})")
    for key, allowed, why in _PINNED_VALUES.get(torch_name or "", ()):
        if key not in group:
            continue
        value = tuple(group[key]) if isinstance(group[key], list) else group[key]
        if not any(type(value) is type(a) and bool(value == a) for a in allowed):
            raise ValueError(f"{where}: {why} (got {key}={group[key]!r})")


def refuse_unimplemented(group: dict[str, Any], where: str) -> None:
    """capturable=True and differentiable=True change what torch computes; here they cannot."""
    if group.get("differentiable"):
        if group.get("fused"):
            raise RuntimeError(f"{where}: `fused` does not support `differentiable`")  # torch's check first
        raise NotImplementedError(f"{where}: differentiable=True (autograd through step()) is not implemented by "
                                  "optarena.torch, which steps the tensors' memory through NumPy; use torch.optim")
    if group.get("capturable"):
        raise NotImplementedError(f"{where}: capturable=True (CUDA graph capture) is not implemented by optarena.torch, "
                                  "which steps on the CPU; leave it False")


def constructor_for(spec: OptimizerSpec) -> Constructor:
    face, ref = spec.torch, spec.reference
    torch_name, text = (face.name, face.signature) if face is not None else (None, None)
    fixed: dict[str, Any] = dict(face.fixed) if face is not None else {}
    none_as: dict[str, Any] = {}
    renames: dict[str, str] = {}
    values: dict[str, dict[Any, Any]] = {}
    constants: dict[str, Any] = {}
    own = face is None and ref is not None and bool(ref.signature)  # the reference's own constructor (prodigyopt's)
    if own:
        assert ref is not None
        text, fixed, constants = ref.signature, dict(ref.group_keys), dict(ref.lacks)  # lacks: code for it cannot set them
    # the reference's spellings: its own constructor's, or a setting torch spells its own way (Muon's adjust_lr_fn)
    if ref is not None and (own or (face is not None and (ref.values or ref.none_as))):
        written = {name for name, _, _ in parse_signature(text or "")}
        none_as = dict(ref.none_as)
        renames = {ours: theirs for ours, theirs in ref.rename.items() if ours not in ALIASES and theirs in written}
        values = {ours: {theirs: v for v, theirs in spelled.items()} for ours, spelled in ref.values.items()}
    params = [inspect.Parameter("params", _P)]
    params += _parse(text) if text is not None else _generic(spec)
    have = {p.name for p in params}
    tuples = {p.name: len(p.default) for p in params if isinstance(p.default, tuple)}
    if "fused" not in have and spec.cell is not None:  # torch has no fused kernel for this one; ours has
        params.append(inspect.Parameter("fused", _K, default=None))
    # a hyperparameter of the rule torch's constructor lacks (a spec grown since): still settable
    names = {h.name for h in spec.hypers} - set(constants) - set(renames)
    # an article name is an alias of a tuple member only where the tuple has it and the name is not its own
    # argument (prodigyopt's betas is a pair and beta3 an argument)
    aliases = {a: (key, i) for a, (key, i) in ALIASES.items()
               if a in names and key in have and a not in have and (i is None or i < tuples.get(key, 0))}
    params += [inspect.Parameter(h.name, _K, default=h.default) for h in spec.hypers
               if h.name in names and h.name not in have and h.name not in aliases]
    params += [inspect.Parameter(a, _K, default=None) for a in aliases]
    variant = face.variant if face is not None else None
    if variant is not None and variant[1] not in registry.names():
        variant = None
    # a reference's argument the rule does not take (prodigyopt's slice_p, fsdp_in_use): only its default
    read = {key for _, key, _, _ in Constructor(None, inspect.Signature(params), aliases, renames=renames,
                                                 constants=constants).reads(spec)}
    pinned = {p.name: p.default for p in params
              if text is not None and face is None and p.name != "params" and p.name not in read and p.name not in aliases
              and p.name not in IMPLEMENTATION}  # foreach changes nothing here: taken, whatever its value
    return Constructor(torch_name, inspect.Signature(params), aliases, fixed, variant, face is not None and face.eager_state,
                       none_as, pinned, renames, values, constants)
