"""optarena's rules as ``torch.optim.Optimizer`` subclasses, and ``wrap`` for article-style objects.

Where a parameter is a CPU tensor of float16/32/64, the rule runs on the tensor's own memory, with
state kept as torch tensors: a param group's contiguous float32/float64 tensors, when they hold at
least ``FUSED_MIN_SIZE`` elements in all, are stepped by ONE fused numba call (the kernel takes
their addresses and streams every tensor in one parallel pass, as torch's fused=True does); the
rest by the readable ``spec.update`` on NumPy views (``p.detach().numpy()`` shares the memory),
its results copied back in place. Anywhere else (CUDA, bfloat16, tensors with the neg bit) the
tensors are copied to CPU NumPy, stepped and copied back: correct, but slow.
L-BFGS, which steps by closure over one flat vector, has a class of its own (``_lbfgs``);
Sophia's step estimates the Hessian's diagonal through autograd first (``_sophia``).
"""

from __future__ import annotations

import functools
import inspect
import operator
import sys
from itertools import chain
from typing import Any, Callable, ClassVar, Iterable, Mapping, NamedTuple

import numpy as np
import torch

from ..optim import OptimizerSpec, is_batched, registry
from ..optim.stateful import FUSED_MIN_SIZE, numba_available
from ._signatures import Constructor, check_pinned, constructor_for, refuse_unimplemented

_NUMPY_DTYPES = (torch.float16, torch.float32, torch.float64)
_NUMPY_OF = {torch.float32: np.float32, torch.float64: np.float64}
_PLAIN = (float, int, bool, np.float64, np.float32, np.int64, np.bool_)  # immutable: safe cache keys


def _scalar_dtype() -> torch.dtype:
    # torch keeps `step` (and NAdam's mu_product) in the default dtype: float64 if that is the default
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _state_forms(spec: OptimizerSpec) -> tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]] | None:
    """The rule module's (``reference_state``, ``state_from_reference``) pair, where it has one."""
    module = sys.modules.get(spec.update.__module__)
    to_ref, from_ref = (getattr(module, name, None) for name in ("reference_state", "state_from_reference"))
    return (to_ref, from_ref) if to_ref is not None and from_ref is not None else None


def _scalar_dtype_of(spec: OptimizerSpec, key: str) -> torch.dtype:
    """A scalar state's dtype: torch.optim's rules keep step and NAdam's mu_product in the default
    dtype; other references keep their scalars as Python floats (Schedule-Free's weight_sum): float64."""
    return _scalar_dtype() if key == "step" or spec.torch is not None else torch.float64


def _native(p: torch.Tensor) -> bool:
    """Can NumPy work on this tensor's own memory?"""
    return p.device.type == "cpu" and p.dtype in _NUMPY_DTYPES and p.layout == torch.strided and not p.is_neg()


def _kernel_ready(p: torch.Tensor) -> bool:
    """Can the fused kernel run on this tensor's memory?"""
    return _native(p) and p.dtype in (torch.float32, torch.float64) and p.is_contiguous()


def _host(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """A NumPy copy of ``t`` on the CPU (bfloat16 computes in float32: NumPy has no bfloat16)."""
    work = dtype if dtype in _NUMPY_DTYPES else torch.float32
    return t.detach().to("cpu", work).resolve_neg().resolve_conj().numpy().copy()


def _grad_numpy(p: torch.Tensor, grad: torch.Tensor, native: bool) -> np.ndarray:
    if grad.is_sparse:
        raise RuntimeError("optarena.torch optimizers do not support sparse gradients")
    if not native:
        return _host(grad, p.dtype)
    g = grad.detach()
    if g.dtype != p.dtype:
        g = g.to(p.dtype)
    return g.resolve_neg().resolve_conj().numpy()


def _disjoint(ps: list[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors whose memory no other one in ``ps`` touches (a tensor listed twice touches its
    own): the kernel steps its arrays concurrently, so the others go through the readable rule
    one at a time."""
    spans = sorted((p.data_ptr(), p.data_ptr() + p.numel() * p.element_size(), k) for k, p in enumerate(ps))
    clash: set[int] = set()
    end, last = -1, -1
    for start, stop, k in spans:
        if start < end and stop > start:
            clash.update((k, last))
        if stop > end:
            end, last = stop, k
    return [p for k, p in enumerate(ps) if k not in clash]


def _bump_version(*ps: torch.Tensor) -> None:
    # Writes through NumPy bypass autograd's version counter; bump it as an in-place op would, so a
    # graph that saved p before this step still refuses to backpropagate through the stale value.
    try:
        torch._C._autograd._unsafe_set_version_counter(ps, tuple(p._version + 1 for p in ps))
    except (AttributeError, TypeError, RuntimeError):  # pragma: no cover - private API moved
        pass


def _hooked_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` with torch.optim's step hooks and profiler label, as torch's own wrapper gives it.

    torch's wrapper opens ``torch.autograd.profiler.record_function``, a dispatcher op per step:
    ~270 us when Python runs cold after backward, 4% of a 10M-parameter Adam step. The C-level
    ``_RecordFunctionFast`` records the same label for the same profilers at ~10 us."""
    from torch.optim import optimizer as torch_optimizer

    record = torch._C._profiler._RecordFunctionFast

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        with record(f"Optimizer.step#{type(self).__name__}.step"):
            for pre_hook in chain(torch_optimizer._global_optimizer_pre_hooks.values(),
                                  self._optimizer_step_pre_hooks.values()):
                result = pre_hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
                    args, kwargs = result
            out = step(*args, **kwargs)
            self._optimizer_step_code()  # the profiler's entry point, as in torch's wrapper
            for post_hook in chain(self._optimizer_step_post_hooks.values(),
                                   torch_optimizer._global_optimizer_post_hooks.values()):
                post_hook(self, args, kwargs)
            return out

    wrapper.hooked = True  # type: ignore[attr-defined]
    return wrapper


class _LeanStep(torch.optim.Optimizer):
    """Installs ``_hooked_step`` where torch would install its own step wrapper."""

    def _patch_step_function(self) -> None:
        from torch.optim import optimizer as torch_optimizer

        private = (hasattr(torch._C._profiler, "_RecordFunctionFast")
                   and hasattr(torch_optimizer, "_global_optimizer_pre_hooks")
                   and hasattr(torch_optimizer, "_global_optimizer_post_hooks"))
        if not private:  # pragma: no cover - torch moved what the wrapper uses: take torch's own
            return super()._patch_step_function()
        self._zero_grad_profile_name = f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"
        cls = type(self)
        if not getattr(cls.step, "hooked", None):
            cls.step = _hooked_step(cls.step)  # type: ignore[method-assign]


class _Plan(NamedTuple):
    """One parameter's step, prepared: the arrays the core works on and where results go."""

    p: torch.Tensor
    spec: OptimizerSpec
    native: bool  # p_np and core's arrays are views of the tensors' memory
    p_np: np.ndarray
    g_np: np.ndarray
    state: dict[str, Any]
    core: dict[str, Any]  # the state as the core sees it (step, scalars, arrays)
    scalars: tuple[str, ...]


class _Batch(NamedTuple):
    """Tensors that one kernel call steps: one dtype, the same state slots, the same step count."""

    dtype: torch.dtype
    present: tuple[bool, ...]
    members: tuple[int, ...]  # positions in _FusedPlan.ready
    sizes: tuple[int, ...]
    size_array: np.ndarray  # the same, for the kernel
    chunks: np.ndarray  # kernels.chunk_table(sizes)
    addresses: tuple[tuple[int, ...], ...]  # each member's state slots (0: absent)
    counters: tuple[int, ...]  # each member's step counter's address
    counter_array: np.ndarray  # the same, for the kernel
    rows: np.ndarray  # the kernel's (n, 2 + slots) address table: all but the gradients' column fixed
    launch: Callable[..., None]  # kernels.launcher(spec, present, dtype, step counters' dtype)


class _FusedPlan(NamedTuple):
    """A param group's fused step, planned once and checked at every step (``_launches``)."""

    owner: int  # id() of the optimizer it was planned for
    spec: OptimizerSpec  # the rule it steps (Adam's groups may step AdamW's)
    fused: bool | None  # the group's setting it was planned for
    params: tuple[torch.Tensor, ...]  # the group's parameters with gradients, when planned
    ready: tuple[torch.Tensor, ...]  # those the kernel steps
    pointers: tuple[int, ...]  # their addresses when planned (memory checked disjoint then)
    states: tuple[dict[str, Any], ...]
    slots: tuple[tuple[torch.Tensor | None, ...], ...]  # each one's state arrays, in spec.slots order
    steps: tuple[torch.Tensor, ...]  # each one's step counter (0-d, CPU)
    step_views: tuple[np.ndarray, ...]  # NumPy views of them (read after their address is checked)
    batches: tuple[_Batch, ...]
    rest: list[torch.Tensor]  # left for the readable rule


class Optimizer(_LeanStep):
    """Base of the torch optimizers; subclasses name their ``spec`` and get their constructor from
    ``optimizer_class``.

    Built and configured as the torch.optim class of the same rule (``_signatures``): torch's
    arguments, param-group keys, ``state_dict`` and errors; the article's ``learning_rate``,
    ``beta1``, ``beta2``, ``epsilon`` are accepted as aliases, in the constructor and in group
    dicts (a group keeps torch's keys: an alias written into one later is moved to torch's key at
    the next step). Group values are read at every step, so schedulers (``lr``, and ``betas`` or
    ``momentum`` for cyclic momentum) drive them, as do Tensor values (read with ``.item()``).
    ``fused``: None picks the numba kernel for a group's contiguous CPU float32/float64 tensors
    when they hold at least ``FUSED_MIN_SIZE`` elements in all (smaller models step faster on
    NumPy than the kernel's one-time compile costs), True forces it, False always uses the
    readable rule. Kernel and rule agree to 2 ulp (tests/optim/test_fused.py).
    """

    spec: ClassVar[OptimizerSpec]
    constructor: ClassVar[Constructor]
    _reads: ClassVar[dict[str, tuple[tuple[str, str, int | None, bool], ...]]]  # per rule: Constructor.reads

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        where = cls.__name__
        if cls.spec.needs and not getattr(cls, "serves_needs", False):  # Newton's exact Hessian
            ref = cls.spec.reference
            theirs = f"{ref.target} (its own Hessian estimate from the graph)" if ref is not None else "torch.optim.LBFGS"
            raise TypeError(f"{where}: {cls.spec.title} needs the loss's exact {', '.join(cls.spec.needs)} at every step, "
                            f"which a torch model does not give an optimizer; it races in the arena (optarena race). "
                            f"For training use {theirs}")
        params, options = cls.constructor.bind(where, params, args, kwargs)
        # a rule without a fused cell (Adafactor) takes no ``fused``, as torch's class of it takes none
        if options.get("fused") not in (None, True, False):
            raise TypeError(f"{where}: fused must be None (auto), True or False, got {options['fused']!r}")
        self._group_hp(options, where)  # the rule's own ranges and cross-field rules, before the parameters as torch
        super().__init__(params, options)
        if cls.spec.min_ndim:  # Muon's: torch's class refuses other parameters here, in its constructor
            for group in self.param_groups:
                for p in group["params"]:
                    if p.ndim < cls.spec.min_ndim:
                        raise ValueError(f"{where}: {cls.spec.title} only supports {cls.spec.min_ndim}D parameters whereas "
                                         f"we found a parameter with size: {p.size()}")
        if options.get("fused") and options.get("foreach"):
            raise RuntimeError(f"{where}: `fused` and `foreach` cannot be `True` together.")
        if cls.constructor.eager_state:
            self._make_state_now(options)
        if cls.spec.reduction is not None:  # the shared scalars live in every group, as the reference keeps them
            for i, group in enumerate(self.param_groups):
                made = cls.spec.init(np.zeros(0), self._group_hp(group, f"{where} param group {i}")[1])
                for k in cls.spec.reduction.shared_keys:
                    group.setdefault(k, made[k])

    def _make_state_now(self, options: dict[str, Any]) -> None:
        """torch.optim.Adagrad's __init__: every parameter's state now, from the constructor's
        initial_accumulator_value (not its group's), with step 0."""
        for i, group in enumerate(self.param_groups):
            spec, hp = self._group_hp(group, f"{type(self).__name__} param group {i}")
            if "initial_accumulator_value" in hp:
                hp = {**hp, "initial_accumulator_value": float(options["initial_accumulator_value"])}
            for p in group["params"]:
                if p.is_floating_point() and not self.state[p]:
                    native = _native(p)
                    self.state[p].update(self._init_state(p, p.detach().numpy() if native else _host(p, p.dtype),
                                                          spec, hp, native))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        where = f"{type(self).__name__} param group {len(self.param_groups)}"
        if isinstance(param_group, dict):  # torch's own check says what else is wrong
            type(self).constructor.resolve_aliases(param_group, set(param_group), self.defaults, where)
        super().add_param_group(param_group)
        self.__dict__.pop("_fused_plans", None)
        try:
            refuse_unimplemented(param_group, where)
            self._group_hp(param_group, where)  # reject bad values now, not at the first step
        except Exception:
            self.param_groups.pop()  # as torch's own checks leave it: without the group
            raise

    def _spec_for(self, group: dict[str, Any]) -> OptimizerSpec:
        """The rule a group steps with (torch's Adam is AdamW where decoupled_weight_decay=True)."""
        variant = type(self).constructor.variant
        if variant is not None and group.get(variant[0]):
            return registry.get(variant[1])
        return self.spec

    def _group_hp(self, group: dict[str, Any], where: str) -> tuple[OptimizerSpec, dict[str, Any]]:
        """The rule for ``group`` and its validated hyperparameters, read from torch's keys."""
        cls = type(self)
        spec = self._spec_for(group)
        check_pinned(group, cls.constructor.torch_name, where)  # Adafactor's eps[0]: None only
        reads = cls._reads.get(spec.name)
        if reads is None:
            reads = cls._reads[spec.name] = cls.constructor.reads(spec)
        values = []
        con = cls.constructor
        for name, key, index, flag in reads:
            v = group[key] if index is None else group[key][index]
            if v is None and name in con.none_as:
                v = con.none_as[name]  # the reference's "None: derived" (prodigyopt's beta3)
            elif name in con.values:  # the reference's spelling (SophiaH's hessian_distribution="gaussian")
                spelled = con.values[name]
                if not any(type(v) is type(k) and v == k for k in spelled):
                    raise ValueError(f"{where}: {key} must be one of {', '.join(map(repr, spelled))}, got {v!r}")
                v = spelled[v]
            elif flag:
                v = bool(v)  # torch takes any truthy value
            elif isinstance(v, torch.Tensor):
                v = v.item()  # Tensor lr (and betas, weight_decay): its value now
            values.append(v)
        # validation costs more than a small tensor's step: remember plain-number settings
        cache_key = (spec.name, *((type(v), v) for v in values))
        cache: dict[tuple, tuple[OptimizerSpec, dict[str, Any]]] = self.__dict__.setdefault("_hp_cache", {})
        plain = all(type(v) in _PLAIN for v in values)
        if plain and cache_key in cache:
            return cache[cache_key]
        hp = spec.validate({**con.constants, **{r[0]: v for r, v in zip(reads, values)}}, where)
        if is_batched(hp):
            raise TypeError(f"{where}: hyperparameters must be numbers, not arrays")
        if plain:
            if len(cache) >= 64:  # a scheduler makes a new lr every step
                cache.clear()
            cache[cache_key] = (spec, hp)
        return spec, hp

    def __setstate__(self, state: dict[str, Any]) -> None:
        """torch's hook after ``load_state_dict`` and unpickling: groups get every key of this
        class's (a torch state_dict of an older torch lacks some; optarena's before 0.2 held
        ``learning_rate``, ``beta1``, ``beta2``, ``epsilon`` next to torch's ``lr``)."""
        super().__setstate__(state)
        con = type(self).constructor
        # defaults first (an unpickled optimizer brings its own), then the groups from them
        for i, group in enumerate([self.defaults, *self.param_groups]):
            fallback = con.defaults if i == 0 else self.defaults
            if "lr" in group:
                group.pop("learning_rate", None)  # lr was the source of truth then
            for alias, (key, _) in con.aliases.items():
                if alias in group and key in group:
                    del group[alias]
            where = f"{type(self).__name__} " + ("defaults" if i == 0 else f"param group {i - 1}")
            con.resolve_aliases(group, set(), {**con.defaults, **fallback}, where)
            for k, v in fallback.items():
                group.setdefault(k, v)
            group.update(con.fixed)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's format, from this class or from the torch.optim class of the same rule.
        Tensors are copied: torch would keep the dict's own tensors when dtype and device match,
        and step them in place."""
        for i, group in enumerate(state_dict.get("param_groups", ())):
            refuse_unimplemented(group, f"{type(self).__name__}.load_state_dict: param group {i}")
        super().load_state_dict(state_dict)
        self.__dict__.pop("_fused_plans", None)  # new state tensors: plan again
        forms = _state_forms(self.spec)
        if forms is not None:  # the reference's form of the state (SOAP's lists of factors) to ours
            for p in list(self.state):
                self.state[p] = forms[1](self.state[p])
        for st in self.state.values():
            for k, v in list(st.items()):
                if v is None:  # torch's SGD keeps momentum_buffer=None without momentum
                    del st[k]
                elif isinstance(v, torch.Tensor):
                    st[k] = v.clone()
        ref = self.spec.reference
        if ref is not None and ref.group_scalars:  # the reference's per-group scalars into each parameter's state
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state.get(p)
                    if not st:
                        continue
                    for ours, theirs in ref.group_scalars.items():
                        if ours not in st and theirs in group:
                            st[ours] = torch.tensor(float(group[theirs]), dtype=_scalar_dtype_of(self.spec, ours))

    def state_dict(self) -> dict[str, Any]:
        """torch's format; a rule whose reference keeps per-run scalars in its param groups
        (schedulefree) gets them written there too, so the reference loads it; a rule whose module
        defines ``reference_state`` / ``state_from_reference`` (SOAP: its factors as lists) writes
        each parameter's state in the reference's form and loads either."""
        out = super().state_dict()
        forms = _state_forms(self.spec)
        if forms is not None:  # in the reference's form (new dicts: torch's hold the live state)
            for i, (group, live) in enumerate(zip(out["param_groups"], self.param_groups)):
                hp = self._group_hp(live, f"{type(self).__name__} param group {i}")[1]
                for index, p in zip(group["params"], live["params"]):
                    if index in out["state"]:
                        out["state"][index] = forms[0](out["state"][index], tuple(p.shape), hp)
        ref = self.spec.reference
        if ref is not None and ref.group_scalars:
            for group, live in zip(out["param_groups"], self.param_groups):
                st = next((self.state[p] for p in live["params"] if self.state.get(p)), None)
                for ours, theirs in ref.group_scalars.items():
                    if st is not None and ours in st:
                        value = float(st[ours])
                        group[theirs] = int(value) if ours == "step" else value
                if self.spec.eval_point is not None:
                    group.setdefault("train_mode", live.get("train_mode", True))
        return out

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step for every parameter with a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # torch.no_grad() without its Python context manager (~40 us when run cold after backward)
        grad_was_enabled = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)
        try:
            if self.spec.reduction is not None:
                self._step_all()
                return loss
            for i, group in enumerate(self.param_groups):
                spec, hp = self._group_for_step(i, group)
                params = [p for p in group["params"] if p.grad is not None]
                # one parameter at a time, in order: a parameter listed twice, or two sharing
                # memory, then see each other's update as with torch's for-loop
                for p in self._step_fused(i, spec, params, hp, group.get("fused")):
                    assert p.grad is not None  # params holds only those with a gradient
                    plan = self._prepare(p, p.grad, spec, hp)
                    self._update(plan, hp)
                    self._finish(plan)
        finally:
            torch._C._set_grad_enabled(grad_was_enabled)
        return loss

    def _group_for_step(self, i: int, group: dict[str, Any]) -> tuple[OptimizerSpec, dict[str, Any]]:
        """A group's rule and hyperparameters at a step: an alias written into it since moved to
        torch's key (never silently dropped), capturable / differentiable refused."""
        where = f"{type(self).__name__} param group {i}"
        for alias in type(self).constructor.aliases:
            if alias in group:
                type(self).constructor.resolve_aliases(group, set(), self.defaults, where)
                break
        if group.get("capturable") or group.get("differentiable"):
            refuse_unimplemented(group, where)
        return self._group_hp(group, where)

    def _step_fused(self, index: int, spec: OptimizerSpec, params: list[torch.Tensor], hp: dict[str, Any],
                    fused: bool | None) -> list[torch.Tensor]:
        """Steps the group's kernel-ready tensors with ONE numba call per (dtype, state slots,
        step count), when that pays (``fused`` True, or None and they hold at least
        ``FUSED_MIN_SIZE`` elements in all: below that, compiling costs more than the kernel ever
        saves). Returns the parameters left for the readable rule.

        What to step is planned once and re-checked each step (same tensors, sizes, dtypes,
        state objects and step counts; fresh addresses): the per-step Python work is then a few
        attribute reads per tensor, which matters because it runs right after the previous
        pass has evicted the caches."""
        if fused is False or spec.cell is None or not params:
            return params
        plans: dict[int, _FusedPlan] = self.__dict__.setdefault("_fused_plans", {})
        plan = plans.get(index)
        # owner: a plan copied into another optimizer (a deepcopy that kept __dict__) holds this
        # one's state addresses and must never run there
        held = (plan is not None and plan.owner == id(self) and plan.spec is spec and plan.fused is fused
                and len(plan.params) == len(params)
                and all(map(operator.is_, plan.params, params)))
        launches = self._launches(plan, hp) if held and plan is not None else None
        if launches is None:
            plan = self._plan_fused(params, spec, hp, fused)
            if plan is None:
                plans.pop(index, None)
                return params
            plans[index] = plan
            launches = self._launches(plan, hp)
            assert launches is not None
        assert plan is not None  # held, or planned just now
        calls, keep = launches  # keep: gradients converted for the kernel, alive until it has run
        threads = torch.get_num_threads()
        for launch, *args in calls:
            launch(*args)
        if torch.get_num_threads() != threads:
            # numba's OpenMP launch sets this thread's OpenMP thread count, which torch reads as its
            # own: a script's torch.set_num_threads must hold after an optimizer step
            torch.set_num_threads(threads)
        return list(plan.rest)

    def _plan_fused(self, params: list[torch.Tensor], spec: OptimizerSpec, hp: dict[str, Any],
                    fused: bool | None) -> _FusedPlan | None:
        """Which tensors the kernel steps, batched by (dtype, present state slots, step count,
        per-parameter scalars); None when the kernel is not to be used for this group."""
        ready = [p for p in params if _kernel_ready(p) and p.grad is not None and p.grad.layout == torch.strided
                 and p.grad.numel() == p.numel()]
        ready = _disjoint(ready)  # the kernel steps its arrays concurrently
        if fused is True and len(ready) < len(params):
            raise ValueError(f"{type(self).__name__}: fused=True needs contiguous CPU float32/float64 parameters, each "
                             "listed once and not sharing memory with another")
        if not ready or (fused is None and (sum(p.numel() for p in ready) < FUSED_MIN_SIZE or not numba_available())):
            return None
        groups: dict[tuple, list[int]] = {}
        states, slots = [], []
        for i, p in enumerate(ready):
            state = self._state_for(p, spec, hp, native=True)
            states.append(state)
            slots.append(tuple(state.get(k) for k in spec.slots))
            key = (p.dtype, tuple(k in state for k in spec.slots), state["step"].item(),
                   tuple(float(state[k]) for k in spec.scalars))
            groups.setdefault(key, []).append(i)
        from ..optim import kernels  # imports numba: only when a fused step is taken

        counter_dtype = _NUMPY_OF[_scalar_dtype()]
        batches = []
        for (dtype, present, _, _), members in groups.items():
            sizes = tuple(ready[i].numel() for i in members)
            fixed = tuple(tuple(v.data_ptr() if v is not None else 0 for v in slots[i])
                          for i in members)
            counters = tuple(states[i]["step"].data_ptr() for i in members)
            # absent slots: any live address, never touched
            rows = np.array([(ready[i].data_ptr(), 0) + tuple(a or ready[i].data_ptr() for a in f)
                             for i, f in zip(members, fixed)], dtype=np.int64).reshape(-1, 2 + len(spec.slots))
            batches.append(_Batch(dtype, present, tuple(members), sizes, np.array(sizes, dtype=np.int64),
                                  kernels.chunk_table(sizes), fixed, counters, np.array(counters, dtype=np.int64), rows,
                                  kernels.launcher(spec, present, _NUMPY_OF[dtype], counter_dtype)))
        ready_ids = {id(p) for p in ready}
        steps = tuple(st["step"] for st in states)
        return _FusedPlan(id(self), spec, fused, tuple(params), tuple(ready), tuple(p.data_ptr() for p in ready),
                          tuple(states), tuple(slots), steps, tuple(s.numpy() for s in steps),
                          tuple(batches), [p for p in params if id(p) not in ready_ids])

    def _launches(self, plan: _FusedPlan, hp: dict[str, Any]) -> tuple[list[tuple], list[torch.Tensor]] | None:
        """This step's kernel calls for ``plan`` (each also advances its tensors' step counters),
        the rest of the bookkeeping done (scalars, version counters: the kernel cannot fail, and
        Python run after a pass over 100s of MB runs cold); None, with nothing changed, if the
        plan no longer describes the tensors."""
        from ..optim import kernels

        spec, state_of = plan.spec, self.state
        calls, keep, bookkeeping = [], [], []
        for batch in plan.batches:
            grads, t, scalars = [], None, None
            for i, size, fixed, counter in zip(batch.members, batch.sizes, batch.addresses, batch.counters):
                p, st, slots, step_t = plan.ready[i], plan.states[i], plan.slots[i], plan.steps[i]
                # every address the kernel will use, read again: p.data = ..., .to(), set_() and
                # friends keep the tensor objects but move their memory
                ptr = p.data_ptr()
                if (ptr != plan.pointers[i] or p.dtype is not batch.dtype or p.numel() != size or not p.is_cpu
                        or not p.is_contiguous() or p.is_neg() or state_of.get(p) is not st
                        or st.get("step") is not step_t or step_t.data_ptr() != counter):
                    return None
                for k, v, a in zip(spec.slots, slots, fixed):
                    if st.get(k) is not v or (v is not None and (v.data_ptr() != a or v.numel() != size)):
                        return None
                step = float(plan.step_views[i][()])  # its address was checked above
                mine = tuple([float(st[k]) for k in spec.scalars]) if spec.scalars else ()
                if t is None:
                    t, scalars = step, mine
                elif step != t or mine != scalars:
                    return None
                g = p.grad
                assert g is not None  # the plan's params are the caller's, all with a gradient
                if g.layout != torch.strided or g.numel() != size:
                    return None  # the readable path says what is wrong
                if g.dtype is not p.dtype or not g.is_cpu or g.is_neg() or not g.is_contiguous():
                    g = g.to("cpu", p.dtype).resolve_neg().contiguous()
                    keep.append(g)
                grads.append(g.data_ptr())
            np_dtype = _NUMPY_OF[batch.dtype]
            assert scalars is not None  # set by the batch's first member (a batch has one at least)
            core = {"step": t, **dict(zip(spec.scalars, scalars))}
            c, new_scalars = kernels.step_coefficients(spec, np_dtype, core, hp)
            # the step counters are advanced by the kernel call itself (one torch op fewer)
            bookkeeping.append((batch, grads, new_scalars))
            calls.append((batch.launch, batch.rows, batch.size_array, batch.chunks, c, batch.counter_array))
        # every batch checked: only now write (a plan that fails a check changes nothing)
        for batch, grads, new_scalars in bookkeeping:
            batch.rows[:, 1] = grads
            for k, v in new_scalars.items():
                for i in batch.members:
                    plan.states[i][k].fill_(float(v))
            _bump_version(*[plan.ready[i] for i in batch.members])
        return calls, keep

    def _init_state(self, p: torch.Tensor, p_np: np.ndarray, spec: OptimizerSpec, hp: dict[str, Any],
                    native: bool) -> dict[str, Any]:
        state: dict[str, Any] = {}
        shared = spec.reduction.shared_keys if spec.reduction is not None else ()
        for k, v in spec.init(p_np, hp).items():
            if k in shared:
                continue  # kept in the param groups (_step_all)
            if isinstance(v, np.ndarray):
                # torch's allocator, not NumPy's: its buffers start on a 64-byte boundary (NumPy's
                # large ones 16 bytes past a page), so the kernel's 64-byte vector loads and stores
                # do not straddle two cache lines each
                t = torch.empty(v.shape, dtype=torch.from_numpy(np.empty(0, v.dtype)).dtype)
                t.numpy()[...] = v
                state[k] = t if native else t.to(p.device, p.dtype)
            else:  # step and per-parameter scalars (NAdam's mu_product), as torch keeps them
                state[k] = torch.tensor(float(v), dtype=_scalar_dtype_of(spec, k))
        return state

    def _state_for(self, p: torch.Tensor, spec: OptimizerSpec, hp: dict[str, Any], native: bool) -> dict[str, Any]:
        """``p``'s state, created on the first step and put in the form the core works on: step
        and scalars as torch keeps them, arrays (when ``native``) contiguous in ``p``'s dtype."""
        state = self.state[p]
        if not state:
            state.update(self._init_state(p, p.detach().numpy() if native else _host(p, p.dtype), spec, hp, native))
        elif "step" not in state:  # loaded from torch's SGD, which counts no steps: its buffer
            state["step"] = torch.tensor(1.0, dtype=_scalar_dtype())  # exists, so step 1 is done
        for k in [k for k, v in state.items() if v is None]:
            del state[k]  # torch's "no buffer" (SGD's momentum_buffer=None), as load_state_dict does
        elementwise = spec.state_arrays(hp)
        other = [k for k, v in state.items()
                 if isinstance(v, torch.Tensor) and k != "step" and k not in spec.scalars and k not in elementwise]
        # arrays that are not element-for-element with p (Adafactor's row_var (..., r, 1) and col_var
        # (..., 1, c)): the shapes spec.init gives for this parameter (by shape and dtype only)
        shapes = {}
        if other or not elementwise:
            made = spec.init(np.empty(tuple(p.shape), dtype=_NUMPY_OF.get(p.dtype, np.float32)), hp)
            shapes = {k: np.shape(v) for k, v in made.items() if isinstance(v, np.ndarray) and k not in elementwise}
        missing = [k for k in (*elementwise, *shapes) if k not in state]
        if missing and float(state["step"]) > 0:
            raise ValueError(
                f"{type(self).__name__}: the state of a parameter that has taken {int(float(state['step']))} steps has "
                f"no {', '.join(missing)} (set to None, or the hyperparameters changed since): optarena does not "
                f"start {'it' if len(missing) == 1 else 'them'} mid-run; `del optimizer.state[p]` restarts that "
                f"parameter's state (torch's SGD restarts a None momentum_buffer from the next gradient, which "
                f"for SGD is the same)")
        for k in ("step",) + spec.scalars:
            v = state[k]
            if not isinstance(v, torch.Tensor) or v.dtype != _scalar_dtype_of(spec, k) or v.device.type != "cpu":
                # load_state_dict casts mu_product to the param's dtype; back to torch's scalar
                # dtype (exact: it was stored there), so a resumed run rounds as the original
                state[k] = torch.tensor(float(v), dtype=_scalar_dtype_of(spec, k))
        if native:
            for k, v in list(state.items()):
                if k in spec.scalars or k == "step" or not isinstance(v, torch.Tensor):
                    continue
                if v.device != p.device or v.dtype != p.dtype or not v.is_contiguous():
                    state[k] = v.to(p.device, p.dtype).contiguous()  # e.g. after an odd load
        for k, v in state.items():
            if k in spec.scalars or k == "step" or not isinstance(v, torch.Tensor):
                continue
            if k in shapes:
                if tuple(v.shape) != shapes[k]:
                    raise ValueError(f"{type(self).__name__}: state {k!r} has shape {tuple(v.shape)} for a parameter of "
                                     f"shape {tuple(p.shape)}, which needs {shapes[k]} (a state_dict from another model?)")
            elif v.numel() != p.numel():
                raise ValueError(f"{type(self).__name__}: state {k!r} has {v.numel()} elements for a parameter of "
                                 f"{p.numel()} (a state_dict from another model?)")
        return state

    def _prepare(self, p: torch.Tensor, grad: torch.Tensor, spec: OptimizerSpec, hp: dict[str, Any]) -> _Plan:
        """Views (or host copies) of the parameter, its gradient and its state, for the core."""
        if p.is_complex() or not p.is_floating_point():
            raise TypeError(f"{type(self).__name__}: parameters must be real floating point, got {p.dtype}")
        if grad.shape != p.shape:
            raise RuntimeError(f"{type(self).__name__}: gradient of shape {tuple(grad.shape)} for a parameter of "
                               f"shape {tuple(p.shape)}")
        native = _native(p)
        p_np = p.detach().numpy() if native else _host(p, p.dtype)
        g_np = _grad_numpy(p, grad, native)
        state = self._state_for(p, spec, hp, native)
        scalars = ("step",) + spec.scalars
        core: dict[str, Any] = {"step": int(state["step"].item())}
        core.update({k: float(state[k]) for k in spec.scalars})
        for k, v in state.items():
            if k not in scalars and isinstance(v, torch.Tensor):
                core[k] = v.numpy() if native else _host(v, p.dtype)
        return _Plan(p, spec, native, p_np, g_np, state, core, scalars)

    def _step_all(self) -> None:
        """A rule of scope "all" (Prodigy) over every param group at once, as its reference steps:
        each parameter's share gathered, the shared scalars (kept in every group, read from the
        first) combined once, then every parameter stepped. One learning rate for all groups
        (the step size is d times it), or 0 for a group that only decays."""
        red = self.spec.reduction
        assert red is not None
        where = type(self).__name__
        groups = [(group, *self._group_hp(group, f"{where} param group {i}")) for i, group in enumerate(self.param_groups)]
        lr = max(hp["learning_rate"] for _, _, hp in groups)
        if any(hp["learning_rate"] not in (lr, 0.0) for _, _, hp in groups):
            raise RuntimeError(f"{where}: every param group needs the same lr (or 0); got "
                               f"{[hp['learning_rate'] for _, _, hp in groups]}")
        first = groups[0][2]
        shared = red.split(self.spec.init(np.zeros(0), first))[1]
        shared = {k: self.param_groups[0].get(k, v) for k, v in shared.items()}
        plans: list[tuple[_Plan, Mapping[str, Any]]] = []
        hps: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for group, spec, own_hp in groups:
            hp = {**own_hp, "learning_rate": lr}
            for p in group["params"]:
                if p.grad is None:
                    continue
                plan = self._prepare(p, p.grad, spec, hp)
                if own_hp["learning_rate"] == 0:  # adds nothing to the sums and keeps its moments (the reference's group_lr > 0)
                    plans.append((plan, dict(plan.core)))
                else:
                    gathered, part = red.gather(plan.p_np, plan.g_np, plan.core, shared, hp)
                    plans.append((plan, gathered))
                    parts.append(part)
                hps.append(hp)
        totals = {k: sum(part[k] for part in parts) for k in (parts[0] if parts else {})}
        if not totals.get("denominator"):  # no progress yet: the reference returns before stepping
            for plan, kept in plans:
                self._write(plan, plan.p_np, kept)
                self._finish(plan)
            return
        after = red.combine(shared, totals, first)
        for group in self.param_groups:
            group.update(after)
        for (plan, kept), hp in zip(plans, hps):
            new_p, new = red.apply(plan.p_np, plan.g_np, kept, shared, after, hp)
            self._write(plan, new_p, new)
            self._finish(plan)

    def _update(self, plan: _Plan, hp: dict[str, Any]) -> None:
        """The readable rule, in place on the plan's arrays."""
        new_p, new = plan.spec.update(plan.p_np, plan.g_np, plan.core, hp)
        self._write(plan, new_p, new)

    @staticmethod
    def _write(plan: _Plan, new_p: np.ndarray, new: Mapping[str, Any]) -> None:
        """A step's results into the plan's arrays (and its step/scalars)."""
        plan.p_np[...] = new_p
        for k, arr in plan.core.items():
            if k in plan.scalars:
                plan.core[k] = new[k]
            else:
                arr[...] = new[k]

    def _finish(self, plan: _Plan) -> None:
        """Step counters and scalars back into their tensors; host copies back to the device."""
        if plan.native:
            _bump_version(plan.p)
        else:
            plan.p.copy_(torch.from_numpy(np.asarray(plan.p_np)))
            for k, arr in plan.core.items():
                if k not in plan.scalars:
                    plan.state[k].copy_(torch.from_numpy(np.asarray(arr)))
        for k in plan.scalars:
            plan.state[k].fill_(float(plan.core[k]))

class TrainEval:
    """``train()`` and ``eval()`` for a rule that takes its gradient at one point and answers
    another (Schedule-Free), as its reference has them: ``eval()`` puts the answer x into the
    parameters (evaluate or save the model now), ``train()`` puts back the point y the gradient is
    taken at. A step in eval mode is refused, as the reference refuses it. A new optimizer is in
    train mode; the mode lives in each param group (``train_mode``, the reference's key)."""

    def train(self: Any) -> None:
        self._switch(True)

    def eval(self: Any) -> None:
        self._switch(False)

    def _switch(self: Any, to_train: bool) -> None:
        move = self.spec.train_point if to_train else self.spec.eval_point
        with torch.no_grad():
            for i, group in enumerate(self.param_groups):
                if group.setdefault("train_mode", True) == to_train:
                    continue
                _, hp = self._group_hp(group, f"{type(self).__name__} param group {i}")
                for p in group["params"]:
                    st = self.state[p]
                    if "z" not in st and not any(isinstance(v, torch.Tensor) and k != "step" for k, v in st.items()):
                        continue  # never stepped: x = y = z is the parameter itself
                    core = {k: (float(v) if v.dim() == 0 else v.detach().cpu().numpy()) for k, v in st.items()
                            if isinstance(v, torch.Tensor)}
                    point = move(p.detach().cpu().numpy(), core, hp)
                    p.copy_(torch.from_numpy(np.asarray(point, dtype=_NUMPY_OF.get(p.dtype, np.float32))))
                group["train_mode"] = to_train

    def step(self: Any, closure: Callable[[], Any] | None = None) -> Any:
        if not all(group.get("train_mode", True) for group in self.param_groups):
            raise RuntimeError(f"{type(self).__name__}: step() in eval mode: call optimizer.train() before "
                               "training and optimizer.eval() before evaluating or saving the model")
        return super().step(closure)  # type: ignore[misc]


_CLASSES: dict[str, type[torch.optim.Optimizer]] = {}


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The torch optimizer class for a registered optimizer (made on first request): an
    ``Optimizer`` subclass, or for L-BFGS, which steps by closure, ``_lbfgs.LBFGS``."""
    spec = registry.get(name)
    if spec.name not in _CLASSES and "closure" in spec.needs:
        from ._lbfgs import closure_class  # a class of its own: one flat vector, step(closure)

        _CLASSES[spec.name] = closure_class(spec.name)
    if spec.name not in _CLASSES:
        class_name = spec.class_name
        con = constructor_for(spec)
        shown = str(con.signature)
        names = {k: f"{v[0]}[{v[1]}]" if v[1] is not None else v[0] for k, v in con.aliases.items()}
        hyper_doc = "\n".join(f"    {h.name}: {h.doc} (default {h.default!r}; {h.allowed()})" for h in spec.hypers)
        doc = (f"{spec.title} as a torch.optim.Optimizer, running optarena's rule"
               + (f"; built as torch.optim.{con.torch_name}" if con.torch_name else "") + ":\n\n"
               f"    {class_name}{shown}\n\n"
               + (f"The article's names are aliases: {', '.join(f'{a} = {k}' for a, k in names.items())}.\n" if names else "")
               + f"The rule's hyperparameters:\n{hyper_doc}\n"
               f"foreach changes nothing (one implementation, equal to torch's for-loop); "
               + (f"fused=None picks the numba kernel for a group of contiguous CPU tensors with at least "
                  f"{FUSED_MIN_SIZE:,} elements in all; " if spec.cell is not None else
                  "there is no fused kernel for this rule (its step is not per element), so no fused argument; ")
               + "capturable=True and differentiable=True are refused.")

        def __init__(self: Optimizer, params: Any, *args: Any, **kwargs: Any) -> None:
            Optimizer.__init__(self, params, *args, **kwargs)

        __init__.__signature__ = con.signature.replace(  # type: ignore[attr-defined]
            parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                        *con.signature.parameters.values()])
        __init__.__doc__ = doc
        bases: tuple[type, ...] = (TrainEval, Optimizer) if spec.eval_point is not None else (Optimizer,)
        if "hessian" in spec.needs:
            from ._sophia import hessian_class_base  # its step estimates the Hessian's diagonal through autograd

            base = hessian_class_base(spec.name)
            if base is not None:
                bases = (base, *bases)
                doc += ("\nThe Hessian's diagonal is estimated from the gradients' graph (Hutchinson, as the "
                        "reference): call loss.backward(create_graph=True) before step().")
        cls = type(class_name, bases, {"spec": spec, "constructor": con, "_reads": {}, "__init__": __init__,
                                       "__doc__": doc, "__module__": "optarena.torch"})
        __init__.__qualname__ = f"{class_name}.__init__"
        cls.__signature__ = con.signature  # type: ignore[attr-defined]
        _CLASSES[spec.name] = cls
    return _CLASSES[spec.name]


class Wrapped(_LeanStep):
    """A torch optimizer that steps with any object's article-style ``update(params, gradients)``.

    Each ``step()`` makes ONE call: ``obj.update(params, gradients)`` with two lists of NumPy
    arrays, one entry per parameter that has a gradient (param-group order). ``params`` are views
    of the tensors' memory for CPU float16/32/64 tensors (copies elsewhere, copied back after),
    ``gradients`` read-only views of ``.grad``. The object may update the arrays in place and/or
    return new values (a list of the same length): returned values are written into the tensors.
    If the object has a ``learning_rate`` attribute it is set from the groups' ``lr`` before
    each call, so torch's lr schedulers drive it (all groups must then share one lr).
    A stateful object expects the same parameters to have gradients at every step.
    ``state_dict()`` holds the groups only: the object's own state is its own (pickle it).
    """

    def __init__(self, obj: Any, params: Iterable[Any]) -> None:
        if not callable(getattr(obj, "update", None)):
            raise TypeError(f"wrap: {type(obj).__name__} has no update(params, gradients) method")
        self.obj = obj
        super().__init__(params, {"lr": getattr(obj, "learning_rate", None)})

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = [g for g in self.param_groups if any(p.grad is not None for p in g["params"])]
        if hasattr(self.obj, "learning_rate") and groups:
            lrs = {float(g["lr"]) for g in groups if g["lr"] is not None}
            if len(lrs) > 1:
                raise ValueError(f"wrap: param groups have different lr {sorted(lrs)}; one update() serves them all")
            if lrs:
                self.obj.learning_rate = lrs.pop()
        ps = [p for g in groups for p in g["params"] if p.grad is not None]
        if not ps:
            return loss
        with torch.no_grad():
            native = [_native(p) for p in ps]
            arrays = [p.detach().numpy() if n else _host(p, p.dtype) for p, n in zip(ps, native)]
            grads = [_grad_numpy(p, p.grad, n) for p, n in zip(ps, native)]
            for g in grads:
                g.flags.writeable = False
            out = self.obj.update(arrays, grads)
            if out is not None:
                out = list(out)
                if len(out) != len(arrays):
                    raise ValueError(f"wrap: update returned {len(out)} values for {len(arrays)} parameters")
                for a, o in zip(arrays, out):
                    if o is not a:
                        a[...] = np.asarray(o)
            for p, a, n in zip(ps, arrays, native):
                if n:
                    _bump_version(p)
                else:
                    p.copy_(torch.from_numpy(a))
        return loss


def wrap(obj: Any, params: Iterable[Any]) -> Wrapped:
    """``obj`` (anything with ``update(params, gradients)``) as a torch optimizer over ``params``."""
    return Wrapped(obj, params)
