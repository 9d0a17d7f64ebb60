"""The article's class API over the pure core: ``params = opt.update(params, gradients)``.

``params`` may be a float, a list of floats (a new list comes back), a NumPy array of any
shape (updated in place and returned) or a list/tuple/dict of arrays (each updated in place).
Every input is checked before anything is touched, so a rejected call changes nothing.
Large contiguous arrays take the fused numba kernel automatically: a per-element rule's cell, or
for a rule whose step takes sums over the whole parameter (LAMB, Adafactor) its two-pass form. Where
no fused form covers a parameter (Adafactor's factored matrices, a rule with neither) the NumPy rule
runs whatever ``fused`` says: ``fused=True`` there is a documented fallback, not an error, so code
that asks every optimizer for its kernel runs them all.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, ClassVar

import numpy as np

from . import registry, schedules
from ._spec import OptimizerSpec, State, expand, is_batched

#: Arrays with at least this many elements use the fused kernel when ``fused=None`` (auto):
#: below it numba's thread start-up costs more than NumPy's temporaries.
FUSED_MIN_SIZE = 1 << 15

_FLOATS = (np.float16, np.float32, np.float64)


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _two_pass_covers(spec: OptimizerSpec, p: np.ndarray, hp: dict[str, Any]) -> bool:
    """Does ``spec``'s two-pass form step this one parameter (scalar hyperparameters)?"""
    form = spec.two_pass
    return form is not None and p.size > 0 and (form.supports is None or form.supports(p, hp))


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _flatten(params: Any, grads: Any, where: str) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """Leaves of params and grads as arrays, plus how to rebuild the params container."""
    if isinstance(params, np.ndarray):
        return [params], [_grad_leaf(params, grads, where, "gradients")], ("array",)
    if _is_number(params):
        p = np.array(float(params))
        return [p], [_grad_leaf(p, grads, where, "gradients")], ("float",)
    if isinstance(params, (list, tuple)):
        if not isinstance(grads, (list, tuple)):
            raise TypeError(f"{where}: gradients must be a list or tuple like params, got {type(grads).__name__}")
        if len(params) != len(grads):
            raise ValueError(f"{where}: params has {len(params)} entries but gradients has {len(grads)}")
        if all(_is_number(x) for x in params):
            p = np.array(params, dtype=np.float64)
            return [p], [_grad_leaf(p, list(grads), where, "gradients")], ("numbers", type(params))
        ps, gs = [], []
        for i, (p, g) in enumerate(zip(params, grads)):
            ps.append(_param_leaf(p, where, f"params[{i}]"))
            gs.append(_grad_leaf(ps[-1], g, where, f"gradients[{i}]"))
        return ps, gs, ("seq", type(params))
    if isinstance(params, dict):
        if not isinstance(grads, dict) or set(grads) != set(params):
            raise ValueError(f"{where}: gradients must be a dict with the same keys as params ({sorted(map(str, params))})")
        ps, gs = [], []
        for k in params:
            ps.append(_param_leaf(params[k], where, f"params[{k!r}]"))
            gs.append(_grad_leaf(ps[-1], grads[k], where, f"gradients[{k!r}]"))
        return ps, gs, ("dict", list(params))
    raise TypeError(
        f"{where}: params must be a float, a list of floats, a NumPy array, or a list/tuple/dict of arrays; "
        f"got {type(params).__name__}"
    )


def _param_leaf(p: Any, where: str, name: str) -> np.ndarray:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{where}: {name} must be a NumPy array (they are updated in place), got {type(p).__name__}")
    if p.dtype.type not in _FLOATS:
        raise TypeError(f"{where}: {name} must have a float dtype (float16, float32, float64), got {p.dtype}")
    if not p.flags.writeable:
        raise ValueError(f"{where}: {name} is read-only; it is updated in place")
    return p


def _grad_leaf(p: np.ndarray, g: Any, where: str, name: str) -> np.ndarray:
    if p.dtype.type not in _FLOATS:
        raise TypeError(f"{where}: params must have a float dtype (float16, float32, float64), got {p.dtype}")
    if isinstance(g, (str, bytes)) or (isinstance(g, np.ndarray) and g.dtype.kind not in "biuf"):
        raise TypeError(f"{where}: {name} must be numeric, got {g!r:.60}")
    try:
        arr = np.asarray(g, dtype=p.dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be numeric, got {g!r:.60}") from None
    if arr.shape != p.shape:
        raise ValueError(f"{where}: {name} has shape {arr.shape} but params has shape {p.shape}")
    return arr


def _rebuild(leaves: list[np.ndarray], how: tuple, original: Any) -> Any:
    kind = how[0]
    if kind == "array":
        return original
    if kind == "float":
        return float(leaves[0])
    if kind == "numbers":
        return how[1](leaves[0].tolist())
    if kind == "seq":
        return original if how[1] is list else how[1](leaves)
    return original  # dict: arrays updated in place


class Optimizer:
    """Base of the stateful optimizers; subclasses only name their ``spec``."""

    spec: ClassVar[OptimizerSpec]
    _hp: dict[str, Any]  # validated hyperparameters, set through object.__setattr__ (see __setattr__)

    def __init__(self, *args: Any, schedule: Any = None, fused: bool | None = None, **hyperparameters: Any) -> None:
        names = [h.name for h in self.spec.hypers]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional hyperparameters")
        for name, value in zip(names, args):
            if name in hyperparameters:
                raise TypeError(f"{type(self).__name__}: {name} given twice")
            hyperparameters[name] = value
        object.__setattr__(self, "_hp", self.spec.validate(hyperparameters, type(self).__name__))
        self.schedule = schedules.make(schedule)
        if fused not in (None, True, False):
            raise TypeError(f"{type(self).__name__}: fused must be None (auto), True or False, got {fused!r}")
        self.fused = fused
        self.reset()

    # hyperparameters read and written as attributes, as in the article (opt.learning_rate)
    def __getattr__(self, name: str) -> Any:
        hp = self.__dict__.get("_hp", {})
        if name in hp:
            return hp[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("_hp", {}):
            self._hp = self.spec.validate({**self._hp, name: value}, type(self).__name__)
        else:
            object.__setattr__(self, name, value)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self._hp)

    def reset(self) -> None:
        """Forget all state (moments, step counts)."""
        self.state: list[State] | None = None
        self._layout: list[tuple[tuple[int, ...], np.dtype]] = []
        self.steps = 0  # calls to update(); drives the schedule, as scheduler.step() does in torch
        self._training = True  # False after eval(params): the params hold the answer, not the gradient point

    def current_learning_rate(self) -> Any:
        return self.schedule(self.steps, self._hp["learning_rate"])

    def update(self, params: Any, gradients: Any, hessian: Any = None, closure: Any = None) -> Any:
        """One step: new params (arrays updated in place, lists returned anew). ``hessian``: for a
        rule that needs it (Newton), the Hessian at ``params``; ``closure(x) -> (loss, gradient)``
        for one that evaluates for itself (L-BFGS; ``gradients`` is then not read). One array of
        params only, for either."""
        where = f"{type(self).__name__}.update"
        if not self._training:
            raise RuntimeError(f"{where}: the params hold the answer (after eval()); call train(params) first")
        hp = self.spec.validate(self._hp, type(self).__name__)
        if gradients is None and closure is not None and isinstance(params, np.ndarray):
            gradients = np.zeros_like(params)  # a closure-driven rule evaluates its own gradients
        ps, gs, how = _flatten(params, gradients, where)
        extra: dict[str, Any] = {}
        for name, value in (("hessian", hessian), ("closure", closure)):
            if name in self.spec.needs:
                if value is not None and len(ps) != 1:
                    raise TypeError(f"{where}: {name} is for one array of params, got {len(ps)} arrays")
                extra[name] = value
            elif value is not None:
                raise TypeError(f"{where}: {self.spec.title} takes no {name}")
        if self.state is not None:
            self._check_structure(ps, where)
        hp = {**hp, "learning_rate": self.current_learning_rate()}
        states = self.state if self.state is not None else [
            self.spec.init(p, expand(hp, p.ndim, p.dtype)) for p in ps
        ]
        results: list[tuple[np.ndarray, State] | None] = []  # None: stepped by the fused kernel below
        if self.spec.reduction is not None and len(ps) > 1:
            results.extend(self._update_all(ps, gs, states, hp))
        else:
            for p, g, st in zip(ps, gs, states):
                ehp = expand(hp, p.ndim, p.dtype)
                if self._use_fused(p, g, hp):
                    results.append(None)
                else:
                    results.append(self.spec.update(p, g, st, ehp, **extra))
        # Everything is computed: only now write into the caller's arrays and our state.
        for i, (p, g, st, res) in enumerate(zip(ps, gs, states, results)):
            if res is None and self.spec.cell is None:  # a rule with sums over the parameter: its two passes
                from . import kernels_two_pass

                kernels_two_pass.step(self.spec, p, g, st, hp)
            elif res is None:
                from . import kernels

                kernels.step(self.spec, p, g, st, hp)
            else:
                p[...] = res[0]
                states[i] = dict(res[1])
        self.state = states
        self._layout = [(p.shape, p.dtype) for p in ps]
        self.steps += 1
        return _rebuild(ps, how, params)

    def eval(self, params: Any) -> Any:
        """The answer into ``params`` (in place, as arrays are updated; a new list for a list of
        floats): for a rule that takes its gradient at one point and answers another (Schedule-
        Free: x), as its reference's ``optimizer.eval()`` does; the params unchanged otherwise.
        Call ``train(params)`` before the next ``update``."""
        return self._switch(params, to_train=False)

    def train(self, params: Any) -> Any:
        """Undo ``eval``: the point the gradient is taken at back into ``params``."""
        return self._switch(params, to_train=True)

    def _switch(self, params: Any, to_train: bool) -> Any:
        where = f"{type(self).__name__}.{'train' if to_train else 'eval'}"
        move = self.spec.train_point if to_train else self.spec.eval_point
        if move is None or self._training == to_train:
            return params
        ps, _, how = _flatten(params, params, where)
        if self.state is not None:
            self._check_structure(ps, where)
            hp = {**self.spec.validate(self._hp, type(self).__name__), "learning_rate": self.current_learning_rate()}
            for p, st in zip(ps, self.state):
                p[...] = move(p, st, expand(hp, p.ndim, p.dtype))
        self._training = to_train
        return _rebuild(ps, how, params)

    def _update_all(self, ps: list[np.ndarray], gs: list[np.ndarray], states: list[State],
                    hp: dict[str, Any]) -> list[tuple[np.ndarray, State]]:
        """A rule of scope "all" (Prodigy) over every array at once: its sums run over all of them.
        Each array's state carries a copy of the shared scalars (the first one's are read)."""
        red = self.spec.reduction
        assert red is not None
        own = [red.split(st)[0] for st in states]
        shared = red.split(states[0])[1]
        new_ps, new_own, after = red.step_many(ps, gs, own, shared, [expand(hp, p.ndim, p.dtype) for p in ps])
        return [(p, {**st, **after}) for p, st in zip(new_ps, new_own)]

    def _use_fused(self, p: np.ndarray, g: np.ndarray, hp: dict[str, Any]) -> bool:
        # no cell, and no two-pass form covering this parameter (Adafactor's matrices): the NumPy
        # rule, even for fused=True (the module's documented fallback)
        if self.fused is False or is_batched(hp):
            return False
        if self.spec.cell is None and not _two_pass_covers(self.spec, p, hp):
            return False
        ok = p.dtype.type in (np.float32, np.float64) and p.flags.c_contiguous and g.flags.c_contiguous
        if self.fused is True:
            if not ok:
                raise ValueError(f"{type(self).__name__}: fused=True needs C-contiguous float32/float64 arrays")
            return True
        return ok and p.size >= FUSED_MIN_SIZE and numba_available()

    def _check_structure(self, ps: list[np.ndarray], where: str) -> None:
        if [(p.shape, p.dtype) for p in ps] != self._layout:
            raise ValueError(f"{where}: params changed structure since the last step; call reset() first")

    def state_dict(self) -> dict[str, Any]:
        """A copy of everything needed to resume: hyperparameters, schedule, step count, state."""
        return {
            "optimizer": self.spec.name,
            "hyperparameters": {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._hp.items()},
            "schedule": self.schedule.to_json(),
            "steps": self.steps,
            "layout": [{"layout": (shape, dtype)} for shape, dtype in self._layout],
            "state": None if self.state is None else [
                {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()} for st in self.state
            ],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; bitwise identical continuation."""
        name = state_dict.get("optimizer")
        if name != self.spec.name:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state is for optimizer {name!r}, not {self.spec.name!r}")
        hp = self.spec.validate(state_dict["hyperparameters"], type(self).__name__)
        sched = schedules.make(state_dict["schedule"])
        steps = int(state_dict["steps"])
        st = state_dict["state"]
        copied: list[State] | None = None if st is None else [
            {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in st
        ]
        self._hp, self.schedule, self.steps, self.state = hp, sched, steps, copied
        self._layout = [tuple(s["layout"]) for s in state_dict["layout"]] if copied is not None else []

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self._hp.items() if not isinstance(v, np.ndarray) and v != self.spec.hyper(k).default]
        return f"{type(self).__name__}({', '.join(changed)})"


def _make_class(class_name: str, spec_name: str) -> type[Optimizer]:
    spec = registry.get(spec_name)
    params = [inspect.Parameter(h.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=h.default,
                                 annotation=bool if h.kind == "bool" else float) for h in spec.hypers]
    params += [inspect.Parameter("schedule", inspect.Parameter.KEYWORD_ONLY, default=None),
               inspect.Parameter("fused", inspect.Parameter.KEYWORD_ONLY, default=None)]
    hyper_doc = "\n".join(f"    {h.name}: {h.doc} (default {h.default!r}; {h.allowed()})" for h in spec.hypers)
    module_doc = (inspect.getmodule(spec.update).__doc__ or "").strip()
    fused_doc = ("None picks the numba kernel for large arrays" if spec.cell is not None else
                 f"None picks the two-pass numba kernels for large arrays they cover; for a parameter they do not, {spec.title} "
                 "has no fused kernel and every setting, True included, runs the NumPy rule" if spec.two_pass is not None else
                 f"accepted, but {spec.title} has no fused kernel (its step is not per element): every setting, "
                 "True included, runs the NumPy rule")
    doc = (f"{module_doc}\n\nHyperparameters:\n{hyper_doc}\n    schedule: a learning-rate schedule (optarena.schedules)\n"
           f"    fused: {fused_doc}")
    cls = type(class_name, (Optimizer,), {"spec": spec, "__doc__": doc, "__module__": "optarena"})
    cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return cls


CLASSES: dict[str, type[Optimizer]] = {}


def optimizer_class(name: str) -> type[Optimizer]:
    """The stateful class of a registered optimizer (``"adam"`` -> ``optarena.Adam``), made on first use."""
    spec = registry.get(name)
    cls = CLASSES.get(spec.name)
    if cls is None or cls.spec is not spec:  # a spec replaced by register(replace=True) gets a new class
        cls = CLASSES[spec.name] = _make_class(spec.class_name, spec.name)
    return cls


def class_named(class_name: str) -> type[Optimizer]:
    """The stateful class called ``class_name`` (``"SGDMomentum"``); AttributeError when no
    registered optimizer has that class name (what a module's ``__getattr__`` raises)."""
    spec = registry.by_class_name(class_name)
    if spec is None:
        raise AttributeError(class_name)
    return optimizer_class(spec.name)


def module_attribute(module: str, name: str) -> type[Optimizer]:
    """What ``optarena.__getattr__`` and ``optarena.optim.__getattr__`` give for ``name``: the class
    of the registered optimizer called so, else the AttributeError Python raises for ``module``."""
    try:
        return class_named(name)
    except AttributeError:
        raise AttributeError(f"module {module!r} has no attribute {name!r}") from None


def class_names() -> list[str]:
    return [s.class_name for s in registry.all_specs()]
