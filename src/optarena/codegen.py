"""``optarena code``: the same optimizer as a PyTorch, Keras or optax snippet.

    from optarena.codegen import generate, format_snippet
    print(format_snippet(generate("adam", {"learning_rate": 0.01}, "optax")))

The snippet contract (the tests execute every snippet under it): the code imports what it
uses and has exactly one free name, ``params``, which the caller provides:

- torch: an iterable of tensors (``model.parameters()``); the code defines ``optimizer``.
- optax: a pytree of arrays; the code defines ``optimizer`` (a GradientTransformation) and
  ``opt_state = optimizer.init(params)``.
- keras: a list of ``keras.Variable``; the code defines ``optimizer``.

A training step is shown in comments (L-BFGS's with its closure or value_fn, Sophia's with the
gradient's graph or obj_fn). ``Snippet.notes`` say where a framework cannot reproduce
optarena's numbers (each with the measured size of the gap and its conditions: Rosenbrock from
(-1.2, 1), 100 steps, float64; Muon, matrices only, a 4x3 least squares) or needs a change on the loss side (Keras has no ``maximize``
and no L2 ``weight_decay``). ``Snippet.exact`` is True when the snippet, with those loss-side
changes, gives optarena's numbers up to rounding (float64 needs ``jax_enable_x64`` for optax and
``keras.config.set_floatx("float64")`` for Keras, which keeps its learning rate in floatx). Sophia's
snippets are never exact: each framework draws its own Hutchinson vectors (a note says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import UsageError
from .optim import TORCH_PAIRS, parse_signature, registry, schedules, torch_arguments

FRAMEWORKS = ("torch", "keras", "optax")

#: Where the measured gaps in the notes come from.
MEASURE_LANDSCAPE, MEASURE_START, MEASURE_STEPS = "rosenbrock", (-1.2, 1.0), 100
#: Where the gaps of the matrix-only rules (Muon) are measured instead: a fixed least-squares problem
#: (A, B and the start X0 are tests/test_codegen.py's ``MATRIX_PROBLEM``).
MATRIX_MEASURE = "the least squares 0.5 ||A X - B||_F^2 over a 4x3 matrix X (tests/test_codegen.py)"

_ALWAYS = object()  # a framework default that never matches: the value is always written out
HP = dict[str, Any]


@dataclass(frozen=True)
class Snippet:
    """Runnable code that builds the optimizer, and where it departs from optarena's numbers."""

    code: str
    notes: list[str] = field(default_factory=list)
    framework: str = "torch"
    optimizer: str = ""
    exact: bool = True


@dataclass(frozen=True)
class Gap:
    """A measured difference between a framework's closest optimizer and optarena's rule."""

    framework: str
    optimizers: tuple[str, ...]
    why: str
    measured_with: Mapping[str, Any]  # hyperparameters of the measurement (on optimizers[0])
    max_abs: float  # max |position difference| over the measurement's trajectory
    applies: Callable[[HP], bool] = lambda hp: True
    matrix: bool = False  # measured on MATRIX_MEASURE (a matrix-only rule), not on Rosenbrock

    def note(self) -> str:
        call = _call_text(self.optimizers[0], self.measured_with)
        x, y = MEASURE_START
        where = MATRIX_MEASURE if self.matrix else f"{MEASURE_LANDSCAPE.title()} from ({x:g}, {y:g})"
        return (f"{self.why}; measured: max |position difference| {self.max_abs:.1e} after {MEASURE_STEPS} "
                f"steps of {call} on {where}, float64")


def _damped(hp: HP) -> bool:
    return hp.get("momentum", 0.0) > 0 and hp.get("dampening", 0.0) > 0


_DAMPENING = ("has no dampening: the snippet scales g by (1 - dampening), which differs from torch "
              "only in the first step (torch does not dampen g_1)")

_LAMB_EPS = ("{} adds eps to sqrt(v^) (bias-corrected), optarena to sqrt(v){}: with m's bias correction written "
             "into the learning rate the two differ only there")
_LAMB_DECAY = ("{} applies the decoupled decay after the trust ratio, which it takes on p before the decay "
               "({} p; optarena: ||p (1 - lr wd)||)")

#: Measured once with tests/test_codegen.py (``measure``); the test re-measures each figure.
GAPS: tuple[Gap, ...] = (
    Gap("optax", ("momentum", "sgd"), "optax " + _DAMPENING,
        {"learning_rate": 1e-4, "momentum": 0.9, "dampening": 0.3}, 1.7e-2, _damped),
    Gap("optax", ("adam", "adamw"), "optax's AMSGrad takes the max of the bias-corrected v, "
        "torch's the max of the raw v", {"amsgrad": True}, 1.1e-2, lambda hp: hp["amsgrad"]),
    Gap("optax", ("nadam",), "optax.nadam is plain Nesterov-Adam, without torch's momentum_decay "
        "schedule mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))", {}, 9.9e-3),
    Gap("optax", ("radam",), "optax.radam adds eps to sqrt(v_hat), torch to sqrt(v) "
        "(eps / sqrt(1 - beta2^t) on sqrt(v_hat))", {}, 1.1e-11),
    Gap("optax", ("adagrad",), "optax.adagrad puts eps inside the square root: g / sqrt(sum + eps) "
        "instead of g / (sqrt(sum) + eps), negligible at the default eps=1e-10, growing with eps",
        {"epsilon": 1e-3}, 4.1e-7),
    Gap("keras", ("momentum", "sgd"), "keras " + _DAMPENING + " (folded into the learning rate)",
        {"learning_rate": 1e-4, "momentum": 0.9, "dampening": 0.3}, 1.7e-2, _damped),
    Gap("keras", ("adam", "adamw"), "keras adds epsilon to sqrt(v) before bias correction "
        "(torch: to sqrt(v / (1 - beta2^t)))", {}, 4.9e-11),
    Gap("keras", ("nadam",), "keras's Nadam uses the schedule 0.96^t, i.e. torch's NAdam with "
        "momentum_decay=1", {}, 3.1e-3, lambda hp: hp["momentum_decay"] != 1.0),
    Gap("keras", ("radam",), "keras has no RAdam: the snippet uses Adam (no rectification; "
        "keras's epsilon placement)", {}, 3.0e-1),
    Gap("keras", ("rmsprop",), "keras puts epsilon inside the square root: sqrt(v + eps)",
        {}, 1.5e-10, lambda hp: not hp["centered"]),
    Gap("keras", ("rmsprop",), "keras puts epsilon inside the square root: sqrt(v - gbar^2 + eps)",
        {"centered": True}, 1.6e-10, lambda hp: hp["centered"]),
    Gap("keras", ("adagrad",), "keras puts epsilon inside the square root: sqrt(sum + eps), negligible "
        "at the default epsilon=1e-10, growing with epsilon", {"epsilon": 1e-3}, 4.1e-7),
    Gap("keras", ("adamax",), "keras adds epsilon after the max: max(beta2 u, |g|) + eps "
        "(torch: max(beta2 u, |g| + eps)), negligible at the default epsilon=1e-8, growing with epsilon",
        {"epsilon": 1e-3}, 3.8e-8),
    Gap("optax", ("adabelief",), "optax.adabelief has no rectification (RAdam's r_t, and SGD steps while rho_t < 5): "
        "the snippet is the unrectified rule", {"rectify": True}, 3.0e-1, lambda hp: hp["rectify"]),
    Gap("optax", ("adabelief",), "optax.adabelief has no AMSGrad bound: the snippet divides by sqrt(s_t), not by "
        "sqrt(max(s^_{t-1}, s_t))", {"ams_bound": True}, 5.1e-5, lambda hp: hp["ams_bound"]),
    Gap("optax", ("adan",), "optax.adan weights the gradient difference by 1 - b2 (g + (1 - b2) d in v, m^ + (1 - b2) n^ "
        "in the step) where the authors' code, with the same betas, uses b2: the same numbers at b2 = 0.5 only",
        {"learning_rate": 0.01}, 1.1e-2, lambda hp: hp["beta2"] != 0.5),
    Gap("optax", ("rprop",), "optax.rprop moves by the previous step's step_size * sign(g), torch by this step's "
        "(optax does not move on the first step, nor on the step after a sign flip)", {}, 2.7e-1),
    # session 6: LAMB, LARS, Prodigy, Schedule-Free (Prodigy and optax's Schedule-Free are exact)
    Gap("optax", ("lamb",), _LAMB_EPS.format("optax.scale_by_adam", "") + "; the trust ratio's ||u|| + eps is optarena's",
        {}, 1.6e-7, lambda hp: not hp["weight_decay"]),
    Gap("optax", ("lamb",), _LAMB_DECAY.format("optax", "scale_by_trust_ratio sees"), {"learning_rate": 0.01,
        "weight_decay": 0.1}, 5.8e-4, lambda hp: hp["weight_decay"] and hp["weight_decouple"] and not hp["fixed_decay"]),
    Gap("optax", ("lamb",), _LAMB_DECAY.format("optax", "scale_by_trust_ratio sees") + " (with fixed_decay a 1 - wd "
        "shrink each step)", {"learning_rate": 0.01, "weight_decay": 0.1, "fixed_decay": True}, 2.2e-2,
        lambda hp: hp["weight_decay"] and hp["weight_decouple"] and hp["fixed_decay"]),
    Gap("optax", ("lamb",), "with the coupled decay (weight_decouple=False) optax adds wd p to the bias-corrected Adam "
        "direction m^ / (sqrt(v^) + eps), optarena to m / (sqrt(v) + eps): the decay's weight in u differs by "
        "(1 - b1^t) / sqrt(1 - b2^t)", {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": False}, 1.5e-1,
        lambda hp: hp["weight_decay"] and not hp["weight_decouple"]),
    Gap("keras", ("lamb",), _LAMB_EPS.format("keras's Lamb", "") + "; keras's trust ratio is ||p|| / ||u||, optarena's "
        "||p|| / (||u|| + eps)", {}, 4.6e-8, lambda hp: not (hp["weight_decay"] and not hp["adam_debias"])),
    Gap("keras", ("lamb",), "keras decays p by lr wd with its learning rate, which carries m's bias correction here "
        "(lr / (1 - b1^t)); optarena by lr wd", {"learning_rate": 0.01, "weight_decay": 0.1}, 5.0e-2,
        lambda hp: hp["weight_decay"] and not hp["adam_debias"]),
    Gap("optax", ("lars",), "optax's trust ratio is tc ||p|| / ||g + wd p||, optarena's (the reference's) "
        "tc ||p|| / (||g|| + wd ||p||): they differ wherever weight_decay > 0 on a matrix (every parameter with "
        "adapt_vectors)", {"learning_rate": 0.5, "weight_decay": 0.1, "trust_coefficient": 0.02, "adapt_vectors": True},
        4.6e-2, lambda hp: hp["weight_decay"] > 0),
    Gap("keras", ("sf_adamw",), "keras 3.15's ScheduleFreeAdamW on the torch backend reads z's old value after "
        "updating z in place (momentum.value aliases the variable), so its x_{t-1} = (y - (1 - b1) z_t) / b1 and the "
        "average drifts; it also weighs every step 1/t (optarena: lr_max^weight_lr_power, which differs during "
        "warm-up) and decays y by lr wd (optarena adds wd y to the normalised gradient)", {}, 6.3e-3),
    # session 7: Muon (measured on MATRIX_MEASURE), L-BFGS and Sophia
    Gap("torch", ("muon",), "torch.optim.Muon casts the Newton-Schulz input to bfloat16 (8-bit mantissa) and iterates "
        "there; optarena iterates in the parameter's dtype", {}, 1.1e-3, matrix=True),
    Gap("keras", ("muon",), "keras normalises U by ||U|| + 1e-7 (a fixed 1e-7; optarena: max(||U||, eps)) and keeps "
        "B / (1 - mu) (B = mu B + g), a scale Newton-Schulz removes but for that 1e-7", {}, 2.1e-10, matrix=True),
    Gap("optax", ("muon",), "optax's Nesterov bias-corrects its terms, beta B / (1 - beta^(t+1)) + (1 - beta) g / "
        "(1 - beta^t) (torch: lerp(g, B, mu)), which Newton-Schulz's normalisation does not cancel; optax also "
        "normalises by ||U|| + eps (optarena: max(||U||, eps))", {}, 9.8e-8, lambda hp: hp["nesterov"], matrix=True),
    Gap("optax", ("muon",), "optax bias-corrects B (a scale Newton-Schulz removes) and normalises by ||U|| + eps "
        "(optarena: max(||U||, eps))", {"nesterov": False}, 3.1e-10, lambda hp: not hp["nesterov"], matrix=True),
    Gap("optax", ("lbfgs",), "optax.lbfgs scales its first step by min(1, 1 / ||g||_2) (torch: min(1, 1 / ||g||_1)) "
        "and keeps every pair (s, y) (torch drops those with y.s <= 1e-10, e.g. where the loss is not convex); "
        "the figure: max_iter updates per step", {}, 4.6e-1, lambda hp: not hp["line_search"]),
    Gap("optax", ("lbfgs",), "optax's zoom line search (optax.scale_by_zoom_linesearch) tries other steps than torch's "
        "strong Wolfe search (cubic interpolation from lr); its first step and its pairs as without line search; "
        "the figure: max_iter updates per step", {"line_search": True}, 2.2e-1, lambda hp: hp["line_search"]),
    Gap("optax", ("sophia",), "optax.contrib.sophia bias-corrects m (m / (1 - b1^t), inside the clip) and divides by "
        "the Hessian EMA before this step's refresh (its first step divides by eps: a clipped sign step); "
        "measured with both given diag(H) (the snippet's exact_hessian_diagonal)",
        {"exact_diagonal": True, "clip": 1.0, "learning_rate": 0.01}, 3.6e-2),
)


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if type(v) is int:  # a whole-number setting (L-BFGS's max_iter); other numbers are written as floats
        return str(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return repr(float(v)) if math.isfinite(v) else f"float('{float(v)!r}')"  # inf is no Python literal
    return str(v)


def _args(kw: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in kw.items())


def _call_text(name: str, hp: Mapping[str, Any]) -> str:
    return f"{name}({_args(hp)})" if hp else name


def _pick(hp: HP, rename: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Framework keyword arguments: every mapped value that differs from the framework's default."""
    out: dict[str, Any] = {}
    for ours, theirs in rename.items():
        if ours in hp and theirs in defaults and (defaults[theirs] is _ALWAYS or hp[ours] != defaults[theirs]):
            out[theirs] = hp[ours]
    return {k: out[k] for k in defaults if k in out}  # the framework's argument order


def _non_default(name: str, hp: HP) -> dict[str, Any]:
    spec = registry.get(name)
    return {k: v for k, v in hp.items() if v != spec.defaults[k]}


def _decoupled(name: str, hp: HP) -> bool:
    return name in ("adamw", "lion") or bool(hp.get("decoupled_weight_decay", False) or hp.get("weight_decouple", False))


# --- torch ------------------------------------------------------------------------------------
_BETAS, _BASE = {"betas": (0.9, 0.999)}, {"weight_decay": 0.0, "maximize": False}
_ADAMS = {"lr": 1e-3, **_BETAS, "eps": 1e-8}
#: torch.optim 2.13 class and constructor defaults; torch's rules are optarena's rules.
_TORCH: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, **_BASE, "nesterov": False}),
    "momentum": ("SGD", {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, **_BASE, "nesterov": False}),
    "adam": ("Adam", {**_ADAMS, **_BASE, "amsgrad": False}),
    "adamw": ("AdamW", {**_ADAMS, "weight_decay": _ALWAYS, "amsgrad": False, "maximize": False}),
    "nadam": ("NAdam", {**_ADAMS, "lr": 2e-3, **_BASE, "momentum_decay": 4e-3, "decoupled_weight_decay": False}),
    "radam": ("RAdam", {**_ADAMS, **_BASE, "decoupled_weight_decay": False}),
    "rmsprop": ("RMSprop", {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, **_BASE, "momentum": 0.0, "centered": False}),
    "adagrad": ("Adagrad", {"lr": 1e-2, "lr_decay": 0.0, **_BASE, "initial_accumulator_value": 0.0, "eps": 1e-10}),
    "adadelta": ("Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6, **_BASE}),
    "adamax": ("Adamax", {**_ADAMS, "lr": 2e-3, **_BASE}),
    "lion": ("Lion", {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": _ALWAYS, "maximize": False}),
}
_TORCH_LION = '''
class Lion(torch.optim.Optimizer):
    """Lion as optax has it: d = sign((1-b1) g + b1 m); m = b2 m + (1-b2) g; p = p (1 - lr wd) - lr d."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=1e-3, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                p.mul_(1 - lr * wd).add_(torch.sign((1 - b1) * g + b1 * m), alpha=-lr)
                m.mul_(b2).add_(g, alpha=1 - b2)
        return loss
'''


#: torch keeps NAdam's mu_product in the default dtype; the figure is re-measured by the tests.
NADAM_DTYPE_NOTE = ("torch keeps NAdam's mu_product in the default dtype: with float64 params and the default "
                    "float32 the trajectory drifts (max |position difference| 3.1e-11 after 100 steps of nadam on "
                    "Rosenbrock from (-1.2, 1)); call torch.set_default_dtype(torch.float64) to match to rounding")


def _torch_reference(name: str, hp: HP) -> tuple[list[str], list[str], list[str]]:
    """An optimizer optarena does not translate itself (a plug-in's): its torch reference class,
    which the parity tests hold equal to the rule, with every hyperparameter written out."""
    spec = registry.get(name)
    ref = spec.reference
    assert ref is not None and ref.kind == "torch"
    module, cls = ref.target.rsplit(".", 1)
    if ref.signature:  # the reference's own tuples (prodigyopt's betas is a pair; beta3 its own argument)
        tuples = {name: list(d) for name, _, d in parse_signature(ref.signature) if isinstance(d, tuple)}
    else:
        tuples = {arg: [None] * (1 + max(i for k2, (a2, i) in TORCH_PAIRS.items() if a2 == arg and k2 in hp))
                  for k, (arg, _) in TORCH_PAIRS.items() if k in hp}
    notes = [f"{cls} has no {k} argument: the snippet cannot set {k}={hp[k]!r} (it behaves as optarena's {k}={v!r})"
             for k, v in ref.lacks.items() if k in hp and hp[k] != v]
    if "hessian" in spec.needs:
        notes.append(f"{cls} draws its Hutchinson vectors u from torch's global generator, optarena from "
                     "numpy.random.default_rng([seed, t]): runs agree in distribution, not draw for draw; handed "
                     f"optarena's estimates ({cls}.step(hessian=[h_hat])) it gives optarena's numbers to rounding")
    # whole numbers: the integer hyperparameters, and those the torch signature defaults to an int (Muon's
    # ns_steps=5, which range() takes; not 0, which signatures also write for a float: weight_decay=0)
    signature = ref.signature or (spec.torch.signature if spec.torch is not None else "")
    ints = {a for a, _, d in parse_signature(signature) if type(d) is int and d != 0}
    whole = {h.name for h in spec.hypers if h.integer or ref.rename.get(h.name, h.name) in ints}
    def spelled(k: str, v: Any) -> Any:  # as the reference spells it; a string value quoted (values here are code)
        if k in ref.none_as and v == ref.none_as[k]:
            return None
        theirs = ref.values.get(k, {}).get(v, int(v) if k in whole and v == int(v) else v)
        return repr(theirs) if isinstance(theirs, str) else theirs

    hp = {k: spelled(k, v) for k, v in hp.items() if k not in ref.lacks}
    kw = {**ref.fixed, **torch_arguments(hp, ref.rename, tuples)}  # every member given: the tuples are whole
    imports = ["import torch"] if module == "torch.optim" else ["import torch", f"from {module} import {cls}"]
    call = f"torch.optim.{cls}" if module == "torch.optim" else cls
    build = [f"optimizer = {call}(params, {_args(kw)})"]
    if spec.eval_point is not None:  # schedulefree's classes step only in train mode; eval() puts x in the params
        build.append("optimizer.train()  # optimizer.eval() before evaluating or saving (params: x), train() after")
    return imports, build, notes


def frameworks_for(name: str) -> list[str]:
    """The frameworks ``generate`` can write optimizer ``name`` for."""
    spec = registry.get(name)
    out = []
    if spec.name in _TORCH or (spec.reference is not None and spec.reference.kind == "torch"):
        out.append("torch")
    return out + [f for f, table in (("keras", _KERAS), ("optax", _OPTAX)) if spec.name in table]


def _torch(name: str, hp: HP, lr_code: str | None = None) -> tuple[list[str], list[str], list[str]]:
    if name not in _TORCH:
        return _torch_reference(name, hp)
    cls, defaults = _TORCH[name]
    hp = {**hp, "betas": (hp["beta1"], hp["beta2"])} if "beta1" in hp else hp
    rename = {"learning_rate": "lr", "epsilon": "eps", **{k: k for k in defaults if k not in ("lr", "eps")}}
    kw = {"lr": hp["learning_rate"], **_pick(hp, rename, defaults)}
    if name == "lion":
        return ["import torch", _TORCH_LION.rstrip()], [f"optimizer = Lion(params, {_args(kw)})"], [
            "torch.optim 2.13 has no Lion: the snippet defines one with optax's rule "
            "(or use optax.lion / keras.optimizers.Lion)"]
    notes = [NADAM_DTYPE_NOTE] if name == "nadam" else []
    return ["import torch"], [f"optimizer = torch.optim.{cls}(params, {_args(kw)})"], notes


# --- optax ------------------------------------------------------------------------------------
_OPTAX_RENAME = {"learning_rate": "learning_rate", "beta1": "b1", "beta2": "b2", "epsilon": "eps",
                 "alpha": "decay", "momentum": "momentum", "nesterov": "nesterov", "centered": "centered",
                 "initial_accumulator_value": "initial_accumulator_value", "rho": "rho"}
_OB = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
#: optax function and its defaults (momentum 0.0 stands for optax's None).
_OPTAX: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {"learning_rate": _ALWAYS, "momentum": 0.0, "nesterov": False}),
    "momentum": ("sgd", {"learning_rate": _ALWAYS, "momentum": 0.0, "nesterov": False}),
    "adam": ("adam", {"learning_rate": _ALWAYS, **_OB}),
    "adamw": ("adamw", {"learning_rate": _ALWAYS, **_OB}),
    "nadam": ("nadam", {"learning_rate": _ALWAYS, **_OB}),
    "radam": ("radam", {"learning_rate": _ALWAYS, **_OB}),
    "rmsprop": ("rmsprop", {"learning_rate": _ALWAYS, "decay": 0.9, "eps": 1e-8, "centered": False, "momentum": 0.0}),
    "adagrad": ("adagrad", {"learning_rate": _ALWAYS, "initial_accumulator_value": 0.1, "eps": 1e-7}),
    "adadelta": ("adadelta", {"learning_rate": _ALWAYS, "rho": 0.9, "eps": 1e-6}),
    "adamax": ("adamax", {"learning_rate": _ALWAYS, **_OB}),
    "lion": ("lion", {"learning_rate": _ALWAYS, "b1": 0.9, "b2": 0.99}),
    # the rules with a counterpart in optax 0.2.8 (built by _optax_new; the defaults are optax's)
    "adabelief": ("adabelief", {"b1": 0.9, "b2": 0.999, "eps": 1e-16, "eps_root": 1e-16}),
    "yogi": ("yogi", {"b1": 0.9, "b2": 0.999, "eps": 1e-3, "initial_accumulator_value": 1e-6}),
    "adan": ("adan", {"b1": 0.98, "b2": 0.92, "b3": 0.99, "eps": 1e-8}),
    "adopt": ("contrib.adopt", {"b1": 0.9, "b2": 0.9999, "eps": 1e-6}),
    "ademamix": ("contrib.ademamix", {"b1": 0.9, "b2": 0.999, "b3": 0.9999, "alpha": 5.0, "eps": 1e-8}),
    "signum": ("signum", {"beta": 0.9}),
    "rprop": ("rprop", {"eta_minus": 0.5, "eta_plus": 1.2, "min_step_size": 1e-6, "max_step_size": 50.0}),
    "asgd": ("sgd", {}),
    # the rules added in session 6 (built by _optax_latest)
    "lamb": ("lamb", {}),
    "lars": ("lars", {}),
    "prodigy": ("contrib.prodigy", {}),
    "sf_sgd": ("contrib.schedule_free_sgd", {}),
    "sf_adamw": ("contrib.schedule_free_adamw", {}),
    # session 7: the matrix and second-order rules (built by _optax_second)
    "muon": ("contrib.muon", {}),
    "lbfgs": ("lbfgs", {}),
    "sophia": ("contrib.sophia", {}),
}
_OPTAX_NEW_RENAME = {"beta1": "b1", "beta2": "b2", "beta3": "b3", "epsilon": "eps", "alpha": "alpha",
                     "initial_accumulator": "initial_accumulator_value", "momentum": "beta",
                     "etaminus": "eta_minus", "etaplus": "eta_plus", "step_size_min": "min_step_size",
                     "step_size_max": "max_step_size"}
_OPTAX_LATEST = ("lamb", "lars", "prodigy", "sf_sgd", "sf_adamw")
_OPTAX_SECOND = ("muon", "lbfgs", "sophia")
_OPTAX_NEWER = ("adabelief", "yogi", "adan", "adopt", "ademamix", "signum", "rprop", "asgd", *_OPTAX_LATEST,
                *_OPTAX_SECOND)
_ADOPT_CLIP = "clip_value_fn=lambda count: (count + 1) ** 0.25"  # t^(1/4) at step t (optax: count = t - 1)


def _optax_new(name: str, hp: HP, lr: Any) -> tuple[list[str], list[str], list[str]]:
    """(imports besides optax and lines before the optimizer, chain steps after maximize and L2, notes)
    for the rules added after the first eleven. Decoupled weight decay p (1 - lr wd) - lr u is optax's
    add_decayed_weights before the learning rate: p - lr (u + wd p)."""
    if name in _OPTAX_LATEST:
        return _optax_latest(name, hp, lr)
    if name in _OPTAX_SECOND:
        return _optax_second(name, hp, lr)
    fn, defaults = _OPTAX[name]
    src = {**hp, "eps_root": hp["epsilon"]} if name == "adabelief" else hp  # optarena adds eps to s as well
    kw = _pick(src, {**_OPTAX_NEW_RENAME, "eps_root": "eps_root"}, defaults)
    wd = hp.get("weight_decay", 0.0)
    decay = [f"optax.add_decayed_weights({_fmt(wd)})"] if wd and hp.get("weight_decouple", False) else []
    lr_text = _fmt(lr)
    head: list[str] = []
    notes: list[str] = []
    if name == "adan":
        kw["eps_root"] = 0.0  # optax.adan's default is 1e-8
        if wd and not hp["weight_decouple"]:  # proximal: (p - lr u) / (1 + lr wd) = p - lr / (1 + lr wd) (u + wd p)
            decay = [f"optax.add_decayed_weights({_fmt(wd)})"]
            lr_text = (f"lambda count: {lr}(count) / (1 + {lr}(count) * {_fmt(wd)})" if isinstance(lr, str)
                       else f"{_fmt(lr)} / (1 + {_fmt(lr)} * {_fmt(wd)})")
            return head, [f"optax.scale_by_adan({_args(kw)})", *decay,
                          f"optax.scale_by_learning_rate({lr_text})  # proximal decay: (p - lr u) / (1 + lr wd)"], notes
        kw = {**kw, **({"weight_decay": wd} if decay else {})}
        return head, [f"optax.adan({lr_text}, {_args(kw)})"], notes
    if name == "adopt":
        scale = f"optax.contrib.scale_by_adopt({_args(kw) + ', ' if kw else ''}{_ADOPT_CLIP})"
        if not decay:
            return head, [f"optax.contrib.adopt({lr_text}{', ' + _args(kw) if kw else ''}, {_ADOPT_CLIP})"], notes
        return head, [scale, *decay, f"optax.scale_by_learning_rate({lr_text})"], notes
    if name == "ademamix":
        T = hp["warmup_steps"]
        if T:
            head.append("import jax.numpy as jnp")
            a, b1, b3 = _fmt(hp["alpha"]), _fmt(hp["beta1"]), _fmt(hp["beta3"])
            head.append(f"# the paper's warm-up over T = {_fmt(T)} steps (optax's count is t - 1)")
            head.append(f"alpha_t = lambda count: jnp.minimum((count + 1) * {a} / {_fmt(T)}, {a})")
            head.append(f"b3_t = lambda count: jnp.minimum(jnp.exp(jnp.log({b1}) * jnp.log({b3}) / (\n"
                        f"    (1 - (count + 1) / {_fmt(T)}) * jnp.log({b3}) + (count + 1) / {_fmt(T)} * jnp.log({b1}))), {b3})")
            kw["alpha"], kw["b3"] = "alpha_t", "b3_t"
            kw = {k: kw[k] for k in defaults if k in kw}
        if decay:
            kw["weight_decay"] = wd
        return head, [f"optax.contrib.ademamix({lr_text}{', ' + _args(kw) if kw else ''})"], notes
    if name == "signum":
        buffered = hp["momentum"] > 0
        if not decay:
            return head, [f"optax.signum({lr_text}, beta={_fmt(hp['momentum'])})" if buffered
                          else f"optax.sign_sgd({lr_text})"], notes
        ema = [f"optax.ema({_fmt(hp['momentum'])}, debias=False)"] if buffered else []
        return head, [*ema, "optax.scale_by_sign()", *decay, f"optax.scale_by_learning_rate({lr_text})"], notes
    if name == "rprop":
        # torch clamps the step size on every step, the first included; optax only when it changes it
        first = min(max(hp["learning_rate"], hp["step_size_min"]), hp["step_size_max"])
        clamp = "  # the initial step size clamped to the step sizes, as torch does" if first != hp["learning_rate"] else ""
        return head, [f"optax.rprop({_fmt(first)}{', ' + _args(kw) if kw else ''}){clamp}"], notes
    if name == "asgd":
        lr_, la, al = _fmt(hp["learning_rate"]), _fmt(hp["lambd"]), _fmt(hp["alpha"])
        notes.append("optax has no ASGD: the snippet is its step, SGD with torch's step size eta_t and the lambd * eta_t "
                     "decay; it keeps no average ax (optarena reports it in the state, it never moves p)")
        return head, [f"optax.add_decayed_weights({la})  # p (1 - lambd eta_t) - eta_t g = p - eta_t (g + lambd p)",
                      f"optax.scale_by_learning_rate(lambda count: {lr_} / (1 + {la} * {lr_} * count) ** {al})"
                      "  # torch's eta_t"], notes
    # adabelief, yogi
    if name == "yogi" and ("initial_accumulator_value" in kw or decay):
        return head, [f"optax.scale_by_yogi({_args(kw)})", *decay, f"optax.scale_by_learning_rate({lr_text})"], notes
    if decay:
        return head, [f"optax.scale_by_belief({_args(kw)})", *decay, f"optax.scale_by_learning_rate({lr_text})"], notes
    return head, [f"optax.{fn}({lr_text}{', ' + _args(kw) if kw else ''})"], notes


_VECTORS_OUT = "lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)"  # LARS's matrices-only mask


def _lr_times(lr: Any, factor: str) -> str:
    """A learning-rate schedule ``count -> lr(count) * factor`` (``factor`` in terms of ``count``)."""
    base = f"{lr}(count)" if isinstance(lr, str) else _fmt(lr)
    return f"lambda count: {base} * {factor}"


def _optax_latest(name: str, hp: HP, lr: Any) -> tuple[list[str], list[str], list[str]]:
    """_optax_new for LAMB, LARS, Prodigy and Schedule-Free SGD/AdamW (optax 0.2.8)."""
    wd = hp.get("weight_decay", 0.0)
    head: list[str] = []
    notes: list[str] = []
    if name == "lamb":
        if hp["adam"]:
            raise UsageError("code for optax: LAMB with adam=True (no trust ratio) is Adam without v's bias correction; "
                             "optax has no such rule (torch's reference class takes it)")
        if hp["rectify"]:
            raise UsageError("code for optax: optax has no LAMB with RAdam's rectification (rectify=True); drop it "
                             "(torch's reference class takes it)")
        b1 = _fmt(hp["beta1"])
        # optarena's bias correction of m is in the step size (lr / (1 - b1^t)), outside the trust ratio
        rate = lr if hp["adam_debias"] else _lr_times(lr, f"1 / (1 - {b1} ** (count + 1))")
        rate_text = rate if isinstance(rate, str) else _fmt(rate)
        coupled = [f"optax.add_decayed_weights({_fmt(wd)})  # the paper's coupled decay: u + wd p"] \
            if wd and not hp["weight_decouple"] else []
        decay = []
        if wd and hp["weight_decouple"]:
            decay = [f"optax.add_decayed_weights({_fmt(-wd)})  # p (1 - wd), fixed_decay" if hp["fixed_decay"] else
                     f"optax.add_decayed_weights({_lr_times(lr, _fmt(-wd))})  # p (1 - lr wd)"
                     if isinstance(lr, str) else f"optax.add_decayed_weights({_fmt(-wd * lr)})  # p (1 - lr wd)"]
        notes.append(f"optax has no clamp: the trust ratio takes ||p||, optarena's min(||p||, clamp={_fmt(hp['clamp'])}) "
                     "(the same numbers while ||p|| <= clamp)")
        if not hp["grad_averaging"]:
            notes.append("optax.scale_by_adam always averages m with (1 - b1): with grad_averaging=False optarena's m is "
                         "1 / (1 - b1) times larger, which the trust ratio cancels up to epsilon")
        adam = f"optax.scale_by_adam(b1={b1}, b2={_fmt(hp['beta2'])}, eps={_fmt(hp['epsilon'])})"
        return head, [adam, *coupled, f"optax.scale_by_trust_ratio(eps={_fmt(hp['epsilon'])})",
                      f"optax.scale_by_learning_rate({rate_text})"
                      + ("" if hp["adam_debias"] else "  # lr / (1 - b1^t): m's bias correction, in the step size"),
                      *decay], notes
    if name == "lars":
        mu, tau = hp["momentum"], hp["dampening"]
        if hp["nesterov"] and tau and mu:
            raise UsageError("code for optax: LARS's nesterov with dampening steps along g + mu b where b takes "
                             "(1 - dampening) g; optax's trace has no dampening (drop one of them; torch takes both)")
        if isinstance(lr, str) and mu:
            notes.append("optax applies the learning rate before the momentum trace: the same numbers at a constant "
                         "learning rate only")
        mask = "" if hp["adapt_vectors"] else _VECTORS_OUT
        if mask:
            head.append("import jax")
            head.append(f"matrices = {mask}  # optarena's LARS: 0-d and 1-d parameters step as plain SGD")
        lr_text = lr if isinstance(lr, str) else _fmt(lr)
        if not tau:
            kw: dict[str, Any] = {"weight_decay": wd} if wd else {}
            if mask:
                kw.update(weight_decay_mask="matrices", trust_ratio_mask="matrices")
            if hp["trust_coefficient"] != 0.001:
                kw["trust_coefficient"] = hp["trust_coefficient"]
            if mu != 0.9:
                kw["momentum"] = mu
            if hp["nesterov"]:
                kw["nesterov"] = True
            return head, [f"optax.lars({lr_text}{', ' + _args(kw) if kw else ''})"], notes
        m = ", matrices" if mask else ""
        return head, [*([f"optax.masked(optax.add_decayed_weights({_fmt(wd)}){m})" if mask
                         else f"optax.add_decayed_weights({_fmt(wd)})"] if wd else []),
                      f"optax.masked(optax.scale_by_trust_ratio(trust_coefficient={_fmt(hp['trust_coefficient'])}){m})"
                      if mask else f"optax.scale_by_trust_ratio(trust_coefficient={_fmt(hp['trust_coefficient'])})",
                      f"optax.scale(1 - {_fmt(tau)})  # dampening: the buffer takes (1 - tau) g",
                      f"optax.scale_by_learning_rate({lr_text})",
                      f"optax.trace(decay={_fmt(mu)})"], notes
    if name == "prodigy":
        if math.isfinite(hp["growth_rate"]):
            raise UsageError("code for optax: optax.contrib.prodigy has no growth_rate (d grows without bound); "
                             "drop it (torch's prodigyopt takes it)")
        if hp["slice_p"] != 1:
            raise UsageError("code for optax: optax.contrib.prodigy has no slice_p (d from every element); drop it "
                             "(torch's prodigyopt takes it)")
        kw = {"betas": (hp["beta1"], hp["beta2"])}
        if hp["beta3"] >= 0:
            kw["beta3"] = hp["beta3"]
        kw.update(eps=hp["epsilon"], estim_lr0=hp["d0"], estim_lr_coef=hp["d_coef"])
        if wd and hp["decouple"]:
            kw["weight_decay"] = wd
        if hp["safeguard_warmup"]:
            kw["safeguard_warmup"] = True
        b1, b2 = _fmt(hp["beta1"]), _fmt(hp["beta2"])
        # optax always applies Adam's bias correction to d lr: undone through the learning rate
        rate = lr if hp["use_bias_correction"] else _lr_times(
            lr, f"(1 - {b1} ** (count + 1)) / (1 - {b2} ** (count + 1)) ** 0.5")
        rate_text = rate if isinstance(rate, str) else _fmt(rate)
        coupled = [f"optax.add_decayed_weights({_fmt(wd)})  # coupled decay (decouple=False): g + wd p"] \
            if wd and not hp["decouple"] else []
        undone = "" if hp["use_bias_correction"] else "  # optax's bias correction of d lr undone (use_bias_correction=False)"
        return head, [*coupled, f"optax.contrib.prodigy({rate_text}, {_args(kw)}){undone}"], notes
    # sf_sgd, sf_adamw: optax.contrib.schedule_free (params hold y; the evaluation point x is
    # optax.contrib.schedule_free_eval_params(opt_state, params))
    if hp["r"]:
        raise UsageError(f"code for optax: optax.contrib.schedule_free weighs step t by lr_max^weight_lr_power only; "
                         f"it has no t^r (r={_fmt(hp['r'])}): drop r (torch's schedulefree takes it)")
    b1 = hp["momentum"] if name == "sf_sgd" else hp["beta1"]
    W = hp["warmup_steps"]
    head.append("# params hold y, where the gradient is taken; the answer (evaluate, save) is x =\n"
                "# optax.contrib.schedule_free_eval_params(opt_state, params)")
    lr_text = _fmt(lr)
    if not W:
        kw = {"b1": b1}
        if name == "sf_adamw":
            kw.update(b2=hp["beta2"], eps=hp["epsilon"])
        if wd:
            kw["weight_decay"] = wd
        if hp["weight_lr_power"] != 2.0:
            kw["weight_lr_power"] = hp["weight_lr_power"]
        return head, [f"optax.{_OPTAX[name][0]}({lr_text}, {_args(kw)})"], notes
    # optax's warm-up gives its inner optimizer lr(t - 1) and its average lr(t): written out with one warm-up
    head.append("import jax.numpy as jnp")
    head.append(f"warm = lambda t: jnp.where(t - 1 < {_fmt(W)}, {lr_text} * t / {_fmt(W)}, {lr_text})"
                f"  # lr_t at step t, warm-up over {_fmt(W)} steps")
    inner = ("optax.sgd(lambda count: warm(count + 1))" if name == "sf_sgd" else
             f"optax.chain(optax.scale_by_rms(decay={_fmt(hp['beta2'])}, eps={_fmt(hp['epsilon'])}, eps_in_sqrt=False, "
             "bias_correction=True), optax.scale_by_learning_rate(lambda count: warm(count + 1)))")
    if wd:
        inner = f"optax.chain(optax.add_decayed_weights({_fmt(wd)}), {inner})" if name == "sf_sgd" else \
            inner.replace("optax.scale_by_learning_rate", f"optax.add_decayed_weights({_fmt(wd)}), optax.scale_by_learning_rate")
    kw = {"b1": b1, "weight_lr_power": hp["weight_lr_power"]}
    return head, [f"optax.contrib.schedule_free({inner}, learning_rate=warm, {_args(kw)})"], notes


#: torch's layout, (out, in): optax's default takes a matrix as (in, out) and scales by sqrt(max(1, cols / rows))
_TORCH_LAYOUT = ("lambda params: jax.tree.map(lambda p: optax.contrib.MuonDimensionNumbers(reduction_axis=1, "
                 "output_axis=0) if p.ndim == 2 else None, params)")
_EXACT_DIAGONAL = '''
def exact_hessian_diagonal():
    """optax.contrib.sophia's hessian_diagonal_fn with diag(H) itself (optarena's exact_diagonal=True):
    jax.hessian of obj_fn, one flat parameter vector (d x d: for small problems)."""
    def update(updates, state, params=None, obj_fn=None, **extra):
        return jnp.diagonal(jax.hessian(obj_fn)(params)), state
    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)
'''


def _optax_second(name: str, hp: HP, lr: Any) -> tuple[list[str], list[str], list[str]]:
    """_optax_new for Muon, L-BFGS and Sophia (optax 0.2.8): optax.contrib.muon, optax.lbfgs and
    optax.contrib.sophia, each with the measured gaps in GAPS."""
    lr_text = lr if isinstance(lr, str) else _fmt(lr)
    wd = hp.get("weight_decay", 0.0)
    notes: list[str] = []
    if name == "muon":
        if hp["match_rms_adamw"]:
            raise UsageError("code for optax: optax.contrib.muon has no lr scale 0.2 sqrt(max(rows, cols)) "
                             "(match_rms_adamw=True); drop it (torch.optim.Muon takes adjust_lr_fn='match_rms_adamw')")
        notes.append("optax.contrib.muon steps the parameters that are not matrices with AdamW (optarena and torch refuse "
                     "them)")
        kw = {"ns_steps": int(hp["ns_steps"]), "beta": hp["momentum"], "eps": hp["epsilon"], "weight_decay": wd,
              "nesterov": hp["nesterov"], "muon_weight_dimension_numbers": "torch_layout"}
        return ["import jax", f"torch_layout = {_TORCH_LAYOUT}  # scale by sqrt(max(1, rows / cols)), as torch"], [
            f"optax.contrib.muon({lr_text}, {_args(kw)})"], notes
    if name == "lbfgs":
        notes.append(f"optax has no tolerance_grad, tolerance_change nor max_eval: it iterates as long as it is called "
                     f"(torch's step stops early on them); one update is one iteration, and max_iter={int(hp['max_iter'])} "
                     "of them make one torch step")
        kw = {"memory_size": int(hp["history_size"])}
        if hp["line_search"]:  # the line search's first trial is optax's learning rate 1, torch's lr
            if hp["learning_rate"] != 1.0 or isinstance(lr, str):
                raise UsageError("code for optax: optax.lbfgs's zoom line search starts from a step of 1; torch's "
                                 "learning_rate (its first trial) has no counterpart there: drop it (torch takes it)")
            return [], [f"optax.lbfgs({_args(kw)})  # with its zoom line search (strong Wolfe)"], notes
        return [], [f"optax.lbfgs({lr_text}, {_args(kw)}, linesearch=None)"], notes
    # sophia
    head: list[str] = []
    if hp["fixed_decay"] and wd and hp["weight_decouple"]:
        if isinstance(lr, str):
            raise UsageError("code for optax: Sophia's fixed_decay (p (1 - wd)) with a schedule has no counterpart "
                             "there: optax decays by lr wd; drop one of them (torch takes both)")
        wd = wd / hp["learning_rate"]  # optax decays by lr wd: wd / lr gives p (1 - wd)
    kw = {"b1": hp["beta1"], "b2": hp["beta2"], "eps": hp["epsilon"],
          "weight_decay": wd if hp["weight_decouple"] else 0.0, "gamma": 1.0, "clip_threshold": hp["clip"],
          "update_interval": int(hp["update_period"])}
    if hp["exact_diagonal"]:
        head += ["import jax", "import jax.numpy as jnp", _EXACT_DIAGONAL.strip()]
        kw["hessian_diagonal_fn"] = "exact_hessian_diagonal()"
    else:
        head.append("import jax")
        kw["hessian_diagonal_fn"] = (f"optax.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey("
                                     f"{int(hp['seed'])}))")
        notes.append("optax draws its Hutchinson vectors u from jax.random, optarena from numpy.random.default_rng"
                     "([seed, t]): runs agree in distribution, not draw for draw"
                     + ("" if hp["rademacher"] else "; optax's u are random signs (optarena's rademacher=True), "
                        "not Gaussian") + ("; optax takes one draw per refresh, not num_samples="
                                           f"{int(hp['num_samples'])}" if hp["num_samples"] != 1 else ""))
    if hp["maximize"]:
        notes.append("optax's Hessian estimate is of obj_fn: pass obj_fn = -objective (optarena estimates the Hessian "
                     "of what it minimises)")
    return head, [f"optax.contrib.sophia({lr_text}, {_args(kw)})"
                  + ("  # weight_decay = wd / lr: fixed_decay's p (1 - wd)" if hp["fixed_decay"] and hp["weight_decay"]
                     and hp["weight_decouple"] else "")], notes


def _chain_item(step: str) -> str:
    """A chain step with its comma, before its comment if it has one."""
    code, sep, comment = step.partition("  # ")
    return f"{code},{sep}{comment}"


def _optax(name: str, hp: HP, lr_code: str | None = None) -> tuple[list[str], list[str], list[str]]:
    fn, defaults = _OPTAX[name]
    kw = _pick(hp, _OPTAX_RENAME, defaults)
    lr, wd = lr_code or hp["learning_rate"], hp.get("weight_decay", 0.0)
    kw["learning_rate"] = lr
    pre: list[str] = []
    notes: list[str] = []
    if hp.get("maximize"):
        pre.append("optax.scale(-1.0),  # maximize: ascend")
    if wd and not _decoupled(name, hp) and name not in ("adadelta", "adan", "muon", *_OPTAX_LATEST):
        pre.append(f"optax.add_decayed_weights({_fmt(wd)}),  # torch's L2 weight_decay: g + wd * p")
    if name in _OPTAX_NEWER:
        head, core, notes = _optax_new(name, hp, lr)
        defs = [i for i in head if not i.startswith("import ")]  # lines before the optimizer
        imports = ["import optax"] + [i for i in head if i.startswith("import ")]
        if len(core) == 1 and not pre:
            return imports, defs + [f"optimizer = {core[0]}", "opt_state = optimizer.init(params)"], notes
        steps = pre + [_chain_item(c) for c in core]
        build = ["optimizer = optax.chain("] + [f"    {s}" for s in steps] + [")"]
        return imports, defs + build + ["opt_state = optimizer.init(params)"], notes
    if _damped(hp):
        pre.append(f"optax.scale(1 - {_fmt(hp['dampening'])}),  # dampening")
    if name == "rmsprop":
        kw["eps_in_sqrt"] = False
        if hp["momentum"] > 0:
            notes.append("optax applies the learning rate before the momentum trace: the same numbers at a constant "
                         "learning rate only")
    if name == "adagrad" and hp["lr_decay"]:
        kw["learning_rate"] = f"lambda count: {_fmt(hp['learning_rate'])} / (1 + count * {_fmt(hp['lr_decay'])})"
    if name in ("adamw", "lion") or (name == "nadam" and hp["decoupled_weight_decay"]) or (name == "adadelta" and wd):
        kw["weight_decay"] = wd
        fn = "nadamw" if name == "nadam" else fn
    core = [f"optax.{fn}({_args(kw)})"]
    moments = {k: v for k, v in kw.items() if k in ("b1", "b2", "eps")}  # for the scale_by_* forms
    if name in ("adam", "adamw") and hp["amsgrad"]:
        core = [f"optax.amsgrad({_args(kw)})"]
        if name == "adamw":
            core = [f"optax.scale_by_amsgrad({_args(moments)})", f"optax.add_decayed_weights({_fmt(wd)})",
                    f"optax.scale_by_learning_rate({_fmt(lr)})"]
    if name == "radam" and hp["decoupled_weight_decay"] and wd:
        core = [f"optax.scale_by_radam({_args(moments)})", f"optax.add_decayed_weights({_fmt(wd)})",
                f"optax.scale_by_learning_rate({_fmt(lr)})"]
    steps = pre + [c + "," for c in core]
    if len(steps) == 1:
        build = [f"optimizer = {core[0]}"]
    else:
        build = ["optimizer = optax.chain("] + [f"    {s}" for s in steps] + [")"]
    return ["import optax"], build + ["opt_state = optimizer.init(params)"], notes


# --- keras ------------------------------------------------------------------------------------
_KERAS_RENAME = {"learning_rate": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "epsilon": "epsilon",
                 "alpha": "rho", "rho": "rho", "momentum": "momentum", "nesterov": "nesterov",
                 "centered": "centered", "amsgrad": "amsgrad",
                 "initial_accumulator_value": "initial_accumulator_value"}
_KB = {"learning_rate": _ALWAYS, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
#: keras.optimizers class and keras 3 defaults; weight_decay is added when decoupled.
_KERAS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"learning_rate": _ALWAYS, "momentum": 0.0, "nesterov": False}),
    "momentum": ("SGD", {"learning_rate": _ALWAYS, "momentum": 0.0, "nesterov": False}),
    "adam": ("Adam", {**_KB, "amsgrad": False}),
    "adamw": ("AdamW", {**_KB, "amsgrad": False}),
    "nadam": ("Nadam", _KB),
    "radam": ("Adam", _KB),
    "rmsprop": ("RMSprop", {"learning_rate": _ALWAYS, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    "adagrad": ("Adagrad", {"learning_rate": _ALWAYS, "initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    "adadelta": ("Adadelta", {"learning_rate": 1e-3, "rho": 0.95, "epsilon": 1e-7}),
    "adamax": ("Adamax", _KB),
    "lion": ("Lion", {"learning_rate": _ALWAYS, "beta_1": 0.9, "beta_2": 0.99}),
    "lamb": ("Lamb", _KB),
    "sf_adamw": ("ScheduleFreeAdamW", {"learning_rate": _ALWAYS, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
                                       "warmup_steps": 0}),
    "muon": ("Muon", {"learning_rate": _ALWAYS, "momentum": 0.95, "nesterov": True}),  # built by _keras_muon
}
_KERAS_MUON = '''
class TorchMuon(keras.optimizers.Muon):
    """keras's Muon with torch's learning-rate adjustment (adjust_lr_fn="original"): lr sqrt(max(1, rows / cols))."""

    def lr_adjust(self, x):
        return x * max(1.0, x.shape[0] / x.shape[1]) ** 0.5
'''


def _keras_muon(hp: HP, lr_code: str | None) -> tuple[list[str], list[str], list[str]]:
    """keras.optimizers.Muon keeps B / (1 - mu) (B + g, not lerp): Newton-Schulz normalises the scale away."""
    kw = {"learning_rate": lr_code or hp["learning_rate"], "weight_decay": hp["weight_decay"],
          **_pick(hp, _KERAS_RENAME, _KERAS["muon"][1])}
    kw["ns_steps"] = int(hp["ns_steps"])
    notes = ["keras's Muon steps the variables that are not matrices, and those whose path names an embedding, with "
             "AdamW (optarena and torch refuse them); keras's epsilon is that AdamW's"]
    cls = _KERAS_MUON.rstrip()
    if hp["match_rms_adamw"]:  # torch's adjust_lr_fn="match_rms_adamw"
        cls = (cls.replace('(adjust_lr_fn="original"): lr sqrt(max(1, rows / cols))', '(adjust_lr_fn="match_rms_adamw"): '
                           "lr 0.2 sqrt(max(rows, cols))")
               .replace("x * max(1.0, x.shape[0] / x.shape[1]) ** 0.5", "x * 0.2 * max(x.shape[0], x.shape[1]) ** 0.5"))
    return ["import keras", cls], [f"optimizer = TorchMuon({_args(kw)})"], notes


def _keras(name: str, hp: HP, lr_code: str | None = None) -> tuple[list[str], list[str], list[str]]:
    if name == "muon":
        return _keras_muon(hp, lr_code)
    cls, defaults = _KERAS[name]
    kw = _pick(hp, _KERAS_RENAME, defaults)
    if lr_code:
        kw["learning_rate"] = lr_code
    notes: list[str] = []
    wd = hp.get("weight_decay", 0.0)
    if _decoupled(name, hp) and (wd or name in ("adamw", "lion")):
        kw["weight_decay"] = wd
    elif wd and name != "sf_adamw":
        notes.append(f"keras's weight_decay is always decoupled; torch's L2 weight_decay={_fmt(wd)} is a loss "
                     f"term: add 0.5 * {_fmt(wd)} * sum(p**2) to the loss (or keras.regularizers.L2({_fmt(wd / 2)}))")
    if hp.get("maximize"):
        notes.append("keras optimizers only minimise: minimise -objective to get maximize=True")
    if _damped(hp):
        kw["learning_rate"] = f"{_fmt(hp['learning_rate'])} * (1 - {_fmt(hp['dampening'])})"
    if name in ("sgd", "momentum", "rmsprop") and hp["momentum"] > 0:
        notes.append("keras keeps the learning rate inside the momentum buffer: the same numbers at a constant "
                     "learning rate only")
    if name == "lamb":
        if hp["adam"] or not hp["grad_averaging"] or hp["rectify"] or (wd and (hp["fixed_decay"] or not hp["weight_decouple"])):
            raise UsageError("code for keras: keras.optimizers.Lamb has neither adam=True, grad_averaging=False, "
                             "rectify=True, fixed_decay nor the coupled weight decay (weight_decouple=False); drop them "
                             "(torch's reference class takes them)")
        notes.append(f"keras has no clamp: the trust ratio takes ||p||, optarena's min(||p||, clamp={_fmt(hp['clamp'])}) "
                     "(the same numbers while ||p|| <= clamp)")
        if not hp["adam_debias"]:  # optarena's bias correction of m is in the step size, outside the trust ratio
            rate = "schedule(optimizer.iterations)" if lr_code else _fmt(hp["learning_rate"])
            kw["learning_rate"] = (f"lambda: {rate} / (1 - {_fmt(hp['beta1'])} ** keras.ops.cast(optimizer.iterations + 1, "
                                   "keras.config.floatx()))")
    if name == "sf_adamw":
        if hp["r"]:
            raise UsageError(f"code for keras: keras's ScheduleFreeAdamW weighs every step alike (1/t); it has no "
                             f"t^r (r={_fmt(hp['r'])}): drop r (torch's schedulefree takes it)")
        if hp["warmup_steps"] != int(hp["warmup_steps"]):
            raise UsageError("code for keras: keras's ScheduleFreeAdamW takes a whole number of warmup_steps")
        kw = {k: (int(v) if k == "warmup_steps" else v) for k, v in kw.items()}
        if wd:
            kw["weight_decay"] = wd
    if name == "adagrad" and hp["lr_decay"]:
        kw["learning_rate"] = (f"keras.optimizers.schedules.InverseTimeDecay({_fmt(hp['learning_rate'])}, "
                               f"decay_steps=1, decay_rate={_fmt(hp['lr_decay'])})")
    build = [f"optimizer = keras.optimizers.{cls}({_args(kw)})"]
    if name == "lamb" and not hp["adam_debias"]:
        build[0] += "  # lr / (1 - b1^t): m's bias correction, in the step size"
    if name == "sf_adamw":
        build = ["# params hold y, where the gradient is taken; the answer (evaluate, save) is x =",
                 f"# (y - (1 - {_fmt(hp['beta1'])}) z) / {_fmt(hp['beta1'])}, z = optimizer._momentums[i] "
                 "(keras has no eval mode)", *build]
    return ["import keras"], build, notes


# --- schedules --------------------------------------------------------------------------------
# optarena's schedules are torch's lr_scheduler closed forms (optim/schedules.py). torch gets its
# scheduler; optax and keras get a learning-rate schedule that gives the same rate at every step:
# their built-in cosine schedules hold eta_min after t_max where torch's cosine rises again, so
# those two are written out.
_KERAS_COSINE = '''
class TorchCosine(keras.optimizers.schedules.LearningRateSchedule):
    """torch's CosineAnnealingLR: eta_min + (lr - eta_min) (1 + cos(pi k / t_max)) / 2 at step k."""

    def __init__(self, lr, t_max, eta_min=0.0, offset=0):
        self.lr, self.t_max, self.eta_min, self.offset = lr, t_max, eta_min, offset

    def __call__(self, step):
        k = keras.ops.cast(step, keras.config.floatx()) - self.offset  # (keras.ops.maximum would give float32)
        return self.eta_min + (self.lr - self.eta_min) * (1 + keras.ops.cos(math.pi * k / self.t_max)) / 2
'''
_KERAS_WARMUP = '''
class TorchWarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from start_factor * lr to lr over `warmup` steps, then torch's cosine."""

    def __init__(self, lr, warmup, total, start_factor, eta_min=0.0):
        self.lr, self.warmup, self.start_factor = lr, warmup, start_factor
        self.cosine = TorchCosine(lr, total - warmup, eta_min, offset=warmup)

    def __call__(self, step):
        k = keras.ops.cast(step, keras.config.floatx())
        warm = self.lr * (self.start_factor + (1 - self.start_factor) * k / self.warmup)
        return keras.ops.where(k < self.warmup, warm, self.cosine(step))
'''


def _schedule(framework: str, sched: schedules.Schedule, lr: float) -> tuple[list[str], list[str], list[str]]:
    """(imports, lines defining ``scheduler`` (torch) or ``schedule`` (optax, keras), step comment)."""
    f = {k: v for k, v in sched.to_json().items() if k != "name"}
    name = sched.name
    if framework == "torch":
        lrs = "torch.optim.lr_scheduler"
        if name == "step":
            make = f"{lrs}.StepLR(optimizer, step_size={int(f['step_size'])}, gamma={_fmt(f['gamma'])})"
        elif name == "exponential":
            make = f"{lrs}.ExponentialLR(optimizer, gamma={_fmt(f['gamma'])})"
        elif name == "cosine":
            make = f"{lrs}.CosineAnnealingLR(optimizer, T_max={int(f['t_max'])}, eta_min={_fmt(f['eta_min'])})"
        else:
            w, t = int(f["warmup"]), int(f["total"])
            return [], ["scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [",
                        f"    {lrs}.LinearLR(optimizer, start_factor={_fmt(f['start_factor'])}, end_factor=1.0, "
                        f"total_iters={w}),",
                        f"    {lrs}.CosineAnnealingLR(optimizer, T_max={t - w}, eta_min={_fmt(f['eta_min'])}),",
                        f"], milestones=[{w}])"], ["# scheduler.step()  # once after each optimizer.step()"]
        return [], [f"scheduler = {make}"], ["# scheduler.step()  # once after each optimizer.step()"]
    if framework == "optax":
        # optax.exponential_decay computes in float32 even with x64 on: written out instead
        if name == "step":
            return [], [f"schedule = lambda count: {_fmt(lr)} * {_fmt(f['gamma'])} ** (count // {int(f['step_size'])})"
                        "  # torch's StepLR"], []
        if name == "exponential":
            return [], [f"schedule = lambda count: {_fmt(lr)} * {_fmt(f['gamma'])} ** count  # torch's ExponentialLR"], []
        cos = "lambda k, t, lr, lo: lo + (lr - lo) * (1 + jnp.cos(jnp.pi * k / t)) / 2  # torch's CosineAnnealingLR"
        if name == "cosine":
            return ["import jax.numpy as jnp"], [
                f"cosine = {cos}",
                f"schedule = lambda count: cosine(count, {int(f['t_max'])}, {_fmt(lr)}, {_fmt(f['eta_min'])})"], []
        w, t, sf = int(f["warmup"]), int(f["total"]), _fmt(f["start_factor"])
        return ["import jax.numpy as jnp"], [
            f"cosine = {cos}",
            f"schedule = lambda count: jnp.where(count < {w}, {_fmt(lr)} * ({sf} + (1 - {sf}) * count / {w}),",
            f"                                   cosine(jnp.maximum(count - {w}, 0), {t - w}, {_fmt(lr)}, "
            f"{_fmt(f['eta_min'])}))"], []
    ks = "keras.optimizers.schedules"
    if name == "step":
        return [], [f"schedule = {ks}.ExponentialDecay({_fmt(lr)}, decay_steps={int(f['step_size'])}, "
                    f"decay_rate={_fmt(f['gamma'])}, staircase=True)"], []
    if name == "exponential":
        return [], [f"schedule = {ks}.ExponentialDecay({_fmt(lr)}, decay_steps=1, decay_rate={_fmt(f['gamma'])})"], []
    if name == "cosine":
        return ["import math"], [_KERAS_COSINE.strip(), "",
                                 f"schedule = TorchCosine({_fmt(lr)}, {int(f['t_max'])}, {_fmt(f['eta_min'])})"], []
    return ["import math"], [_KERAS_COSINE.strip(), "", _KERAS_WARMUP.strip(), "",
                             f"schedule = TorchWarmupCosine({_fmt(lr)}, {int(f['warmup'])}, {int(f['total'])}, "
                             f"{_fmt(f['start_factor'])}, {_fmt(f['eta_min'])})"], []


_USAGE = {
    "torch": ["# params: the tensors to train, e.g. params = model.parameters()"],
    "optax": ["# params: a pytree of arrays (jax.config.update('jax_enable_x64', True) for float64)"],
    "keras": ["# params: a list of keras.Variable, e.g. params = model.trainable_variables"],
}
_STEP = {
    "torch": ["# optimizer.zero_grad(); loss_fn(params).backward()",
              "# optimizer.step()"],
    "optax": ["# updates, opt_state = optimizer.update(jax.grad(loss_fn)(params), opt_state, params)",
              "# params = optax.apply_updates(params, updates)"],
    "keras": ["# grads = <gradients of the loss with respect to params>",
              "# optimizer.apply(grads, params)"],
}
#: the training step of the rules that need more than a gradient (a closure, the gradient's graph, the loss)
_STEP_NEEDS = {
    ("torch", "closure"): ["# def closure():  # re-evaluates the loss: a step calls it up to max_eval times",
                           "#     optimizer.zero_grad(); loss = loss_fn(params); loss.backward(); return loss",
                           "# optimizer.step(closure)"],
    ("torch", "hessian"): ["# optimizer.zero_grad(); loss_fn(params).backward(create_graph=True)  # the graph for H u",
                           "# optimizer.step()"],
    ("optax", "closure"): ["# for _ in range(max_iter):  # one update is one L-BFGS iteration",
                           "#     value, grad = optax.value_and_grad_from_state(loss_fn)(params, state=opt_state)",
                           "#     updates, opt_state = optimizer.update(grad, opt_state, params, value=value, grad=grad,",
                           "#                                           value_fn=loss_fn)",
                           "#     params = optax.apply_updates(params, updates)"],
    ("optax", "hessian"): ["# updates, opt_state = optimizer.update(jax.grad(loss_fn)(params), opt_state, params, "
                           "obj_fn=loss_fn)",
                           "# params = optax.apply_updates(params, updates)"],
}


def _step_lines(framework: str, name: str, hp: HP) -> list[str]:
    needs = registry.get(name).needs
    for need in ("closure", "hessian"):
        if need in needs and (framework, need) in _STEP_NEEDS:
            lines = _STEP_NEEDS[framework, need]
            if need == "closure" and framework == "optax" and not hp["line_search"]:  # no value_fn to pass
                lines = [lines[0], "#     updates, opt_state = optimizer.update(jax.grad(loss_fn)(params), opt_state, params)",
                         lines[-1]]
            return [line.replace("max_iter", str(int(hp["max_iter"]))) for line in lines] if need == "closure" else lines
    return _STEP[framework]


_BUILDERS = {"torch": _torch, "optax": _optax, "keras": _keras}
_TITLE = {"torch": "PyTorch", "optax": "optax", "keras": "Keras"}


def generate(name: str, hyperparameters: Mapping[str, Any] | None = None, framework: str = "torch",
             schedule: Any = None) -> Snippet:
    """The snippet that builds optimizer ``name`` with ``hyperparameters`` in ``framework``, and
    its learning-rate ``schedule`` (anything ``schedules.make`` takes) as that framework's
    scheduler or schedule, giving the same learning rate at every step.

    Hyperparameters are validated by the registry (unknown names, bad values raise its errors).
    """
    if framework not in FRAMEWORKS:
        raise UsageError(f"unknown framework {framework!r}; allowed: {', '.join(FRAMEWORKS)}", field="framework",
                         allowed=list(FRAMEWORKS))
    spec = registry.get(name)
    hp = spec.validate(hyperparameters)
    can = frameworks_for(spec.name)
    if framework not in can:
        raise UsageError(f"code: optarena has no {_TITLE[framework]} translation of {spec.title}"
                         + (f"; it has: {', '.join(can)}" if can else
                            f"; it has: none ({spec.title} races in the arena only)"), field="framework", allowed=can)
    batched = sorted(k for k, v in hp.items() if not isinstance(v, (bool, float)))
    if batched:
        raise UsageError(f"{spec.title}: code needs one value per hyperparameter, got an array for {batched[0]!r}")
    sched = schedules.make(schedule)
    s_imports: list[str] = []
    s_lines: list[str] = []
    s_step: list[str] = []
    lr_code = None
    if not isinstance(sched, schedules.Constant):
        if spec.name == "adagrad" and hp["lr_decay"] and framework != "torch":
            raise UsageError(f"code for {framework}: Adagrad's lr_decay and a schedule together have no "
                             "counterpart there; drop one of them (torch takes both)")
        if framework == "optax" and spec.name in ("rprop", "asgd"):
            raise UsageError(f"code for optax: {spec.title}'s learning rate "
                             + ("is only its initial step size" if spec.name == "rprop" else "starts its own step-size decay")
                             + "; a schedule on top has no counterpart there (torch takes it)")
        if framework != "torch" and spec.name in ("sf_sgd", "sf_adamw"):
            raise UsageError(f"code for {framework}: {spec.title}'s averaging weights follow its own learning rate; "
                             "a schedule on top has no counterpart there (torch takes it)")
        if framework == "keras" and _damped(hp):
            raise UsageError("code for keras: dampening is folded into keras's learning rate, which a schedule "
                             "takes over; drop one of them (torch and optax take both)")
        s_imports, s_lines, s_step = _schedule(framework, sched, hp["learning_rate"])
        lr_code = None if framework == "torch" else "schedule"
    imports, build, notes = _BUILDERS[framework](spec.name, hp, lr_code)
    imports = imports + [i for i in s_imports if i not in imports]
    build = build + s_lines if framework == "torch" else s_lines + build
    gaps = [g for g in GAPS if g.framework == framework and spec.name in g.optimizers and g.applies(hp)]
    notes = [g.note() for g in gaps] + notes
    call = _call_text(spec.name, {**_non_default(spec.name, hp),
                                  **({"schedule": _call_text(sched.name, _non_default_schedule(sched))}
                                     if s_lines else {})})
    header = f"# optarena's {call} in {_TITLE[framework]}"
    code = "\n".join([header, *imports, "", *_USAGE[framework], *build, *_step_lines(framework, spec.name, hp), *s_step]) + "\n"
    ref = spec.reference
    unset = framework == "torch" and ref is not None and any(hp.get(k, v) != v for k, v in ref.lacks.items())
    drawn = "hessian" in spec.needs and not hp.get("exact_diagonal", False)  # Hutchinson draws: each framework its own
    return Snippet(code, notes, framework, spec.name, not gaps and not unset and not drawn)


def _non_default_schedule(sched: schedules.Schedule) -> dict[str, Any]:
    default = type(sched)().to_json()
    return {k: v for k, v in sched.to_json().items() if k != "name" and v != default[k]}


def format_snippet(snippet: Snippet) -> str:
    """The code followed by one ``# note: ...`` line per note (for the CLI)."""
    return snippet.code + "".join(f"# note: {n}\n" for n in snippet.notes)
