"""``optarena code``: every generated snippet is executed and stepped on Rosenbrock's gradients
(float64) next to ``optarena.arena.race``. Exact snippets match to 1e-10 relative; every gap a
note claims is re-measured and must be real and within 10 % of the note's figure.

torch is required; optax (with jax) and keras (on the torch backend) run where installed.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from typing import Any, Callable

import numpy as np
import pytest

import optarena as oa
from optarena import landscapes
from optarena.arena import Racer, race
from optarena.codegen import (
    FRAMEWORKS,
    GAPS,
    MEASURE_LANDSCAPE,
    MEASURE_START,
    MEASURE_STEPS,
    NADAM_DTYPE_NOTE,
    format_snippet,
    frameworks_for,
    generate,
)
from optarena.optim import registry

STEPS = 50
LS = landscapes.get(MEASURE_LANDSCAPE)

#: (optimizer, hyperparameters): every registered optimizer and the options each framework maps.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {"learning_rate": 1e-4}),
    ("sgd", {"learning_rate": 1e-5, "weight_decay": 0.1, "maximize": True}),
    ("momentum", {"learning_rate": 1e-4}),
    ("momentum", {"learning_rate": 1e-4, "nesterov": True, "weight_decay": 0.05}),
    ("momentum", {"learning_rate": 1e-4, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adam", {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "maximize": True}),
    ("adamw", {"learning_rate": 0.01}),
    ("adamw", {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.3, "maximize": True}),
    ("nadam", {}),
    ("nadam", {"momentum_decay": 1.0, "weight_decay": 0.1}),
    ("nadam", {"momentum_decay": 1.0, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {}),
    ("radam", {"beta2": 0.99, "epsilon": 1e-6}),
    ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", {"momentum": 0.9, "alpha": 0.9, "maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.5, "weight_decay": 0.1, "learning_rate": 0.5, "maximize": True}),
    ("adamax", {}),
    ("adamax", {"beta1": 0.7, "weight_decay": 0.1}),
    ("lion", {}),
    ("lion", {"learning_rate": 0.01, "weight_decay": 0.0, "beta1": 0.8, "maximize": True}),
    # the rules added since, in the frameworks that have them (optax; keras 3.15 has none of them)
    ("asgd", {"learning_rate": 1e-4, "lambd": 0.5, "alpha": 0.5, "weight_decay": 0.1}),
    ("rprop", {"learning_rate": 0.1, "etaminus": 0.3, "step_size_min": 1e-3, "step_size_max": 0.05, "maximize": True}),
    ("adabelief", {"learning_rate": 0.01, "weight_decay": 0.1, "epsilon": 1e-8}),
    ("adabelief", {"beta1": 0.8, "weight_decay": 0.1, "weight_decouple": False, "maximize": True}),
    ("yogi", {"learning_rate": 0.05, "weight_decay": 0.1, "initial_accumulator": 0.5, "epsilon": 1e-6}),
    ("yogi", {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1, "weight_decouple": False, "maximize": True}),
    ("adopt", {"learning_rate": 0.01, "weight_decay": 0.1, "beta2": 0.99, "epsilon": 1e-3}),
    ("adopt", {"beta1": 0.8, "weight_decay": 0.1, "weight_decouple": True, "maximize": True}),
    ("adan", {"learning_rate": 0.01, "weight_decay": 0.1, "epsilon": 1e-6}),
    ("adan", {"learning_rate": 0.01, "weight_decay": 0.1, "weight_decouple": True, "beta1": 0.9, "beta3": 0.95}),
    ("ademamix", {"learning_rate": 0.01, "weight_decay": 0.1, "alpha": 2.0, "beta3": 0.99}),
    ("ademamix", {"learning_rate": 0.01, "warmup_steps": 20.0, "weight_decay": 0.1, "weight_decouple": False,
                  "maximize": True}),
    ("signum", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("signum", {"learning_rate": 0.01, "momentum": 0.0, "weight_decay": 0.1, "weight_decouple": False}),
    # session 6: optax has LAMB, LARS, Prodigy, Schedule-Free SGD and AdamW; keras LAMB and Schedule-Free AdamW
    ("lamb", {"learning_rate": 0.01, "adam_debias": True, "maximize": True}),
    ("lamb", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("lamb", {"learning_rate": 0.01, "epsilon": 1e-3, "adam_debias": True}),
    ("lars", {"learning_rate": 0.001, "weight_decay": 0.1, "momentum": 0.5, "dampening": 0.3}),
    ("lars", {"learning_rate": 1e-6, "momentum": 0.5, "nesterov": True, "maximize": True, "weight_decay": 0.1}),
    ("lars", {"learning_rate": 1e-3, "adapt_vectors": True, "trust_coefficient": 1.0, "momentum": 0.5}),
    ("prodigy", {"learning_rate": 0.01}),
    ("prodigy", {"learning_rate": 0.01, "use_bias_correction": True, "weight_decay": 0.1, "beta3": 0.9, "d0": 1e-4,
                 "d_coef": 0.5}),
    ("prodigy", {"learning_rate": 0.01, "weight_decay": 0.1, "decouple": False, "safeguard_warmup": True,
                 "epsilon": 1e-6}),
    ("sf_sgd", {"learning_rate": 0.001, "weight_decay": 0.1, "momentum": 0.8, "weight_lr_power": 1.0}),
    ("sf_sgd", {"learning_rate": 0.001, "warmup_steps": 10.5}),
    ("sf_adamw", {}),
    ("sf_adamw", {"warmup_steps": 20.0, "weight_decay": 0.1, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6,
                  "weight_lr_power": 0.0}),
    # session 7: Muon (on MATRIX_X0's least squares), L-BFGS (a closure) and Sophia (a Hessian estimate)
    ("muon", {}),
    ("muon", {"learning_rate": 0.02, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}),
    ("muon", {"learning_rate": 0.05, "weight_decay": 0.3, "epsilon": 1e-3, "ns_steps": 3.0, "momentum": 0.5}),
    ("lbfgs", {"line_search": True}),
    ("lbfgs", {"max_iter": 2.0, "learning_rate": 0.1, "history_size": 5.0}),
    ("sophia", {"learning_rate": 0.01, "update_period": 1.0, "clip": 0.5, "beta2": 0.9}),
    ("sophia", {"update_period": 3.0, "num_samples": 3.0, "rademacher": True, "weight_decay": 0.1, "seed": 7.0}),
    ("sophia", {"weight_decay": 0.1, "weight_decouple": False, "epsilon": 1e-3, "beta1": 0.9, "clip": 1.0,
                "learning_rate": 0.01}),
    ("sophia", {"weight_decay": 0.1, "fixed_decay": True, "exact_diagonal": True, "update_period": 2.0, "clip": 1.0,
                "learning_rate": 0.01}),
]

def _case_frameworks() -> list[Any]:
    """(case, framework): each case in each framework that translates its optimizer."""
    out = []
    for case in CASES:
        for f in FRAMEWORKS:
            if f in frameworks_for(case[0]):
                out.append(pytest.param(case, f, id=f"{_case_id(case)}-{f}"))
    return out


def _case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, hp = case
    return name + "".join(f"-{k}={v}" for k, v in hp.items())


# --- runners: execute a snippet under the module's contract, step it on the same gradients ----
Grad = Callable[[np.ndarray], np.ndarray]


def _run_torch(code: str, p0: np.ndarray, grad: Grad, steps: int, default_dtype: str = "float64",
               loss: Callable[[np.ndarray], float] | None = None,
               hessian: Callable[[np.ndarray, int], np.ndarray | None] | None = None) -> np.ndarray:
    """``loss``: for a snippet that steps with a closure (L-BFGS); ``hessian(p, t)``: the estimate
    handed to ``step(hessian=...)`` at step t (None: none), for SophiaH."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, default_dtype))  # torch keeps NAdam's mu_product in it
    try:
        p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
        ns: dict[str, Any] = {"params": [p]}
        exec(code, ns)
        out = [p0]

        def closure():  # as the snippet's step comment writes it, on the given loss and gradient
            x = p.detach().numpy()
            p.grad = torch.tensor(grad(x))
            return torch.tensor(loss(x))

        for t in range(steps):
            if "optimizer.step(closure)" in code:
                assert loss is not None, "an L-BFGS snippet needs the loss"
                ns["optimizer"].step(closure)
            else:
                p.grad = torch.tensor(grad(p.detach().numpy()))
                h = hessian(p.detach().numpy(), t) if hessian else None
                ns["optimizer"].step(**({"hessian": [torch.tensor(h)]} if h is not None else {}))
            if "scheduler" in ns:
                ns["scheduler"].step()
            if "optimizer.train()" in code:  # Schedule-Free: the answer is x, in the params in eval mode
                ns["optimizer"].eval()
            out.append(p.detach().numpy().copy())
            if "optimizer.train()" in code:
                ns["optimizer"].train()
    finally:
        torch.set_default_dtype(old)
    return np.array(out)


#: (snippet code, jax loss) -> its compiled step: a snippet run again (its gap note re-measured over more steps,
#: Muon's cases in test_muon_snippets_stay_within_their_gap) reuses the compiled code; optax's transforms are pure
_OPTAX_STEPS: dict[tuple[str, Any], Callable[..., Any]] = {}


def _optax_step(code: str, opt: Any, jax_loss: Callable[[Any], Any] | None) -> Callable[..., Any]:
    """``step(g, state, params) -> (state, params)``, compiled: optax's eager update dispatches op by op (Muon's
    Newton-Schulz: ~0.2 s a step); the gap figures in codegen's notes are the same jitted, to their two printed
    digits (test_gap_notes). L-BFGS's line search and Sophia's estimate trace jax_loss."""
    import jax
    import optax

    if (code, jax_loss) in _OPTAX_STEPS:
        return _OPTAX_STEPS[code, jax_loss]
    if "value_fn=loss_fn" in code:  # L-BFGS, as its step comment writes it (the gradient is its own)
        assert jax_loss is not None
        value_and_grad = optax.value_and_grad_from_state(jax_loss)

        def update(g: Any, state: Any, params: Any) -> Any:
            value, g = value_and_grad(params, state=state)
            return opt.update(g, state, params, value=value, grad=g, value_fn=jax_loss)
    elif "obj_fn=loss_fn" in code:  # Sophia: the Hessian estimate differentiates the loss
        def update(g: Any, state: Any, params: Any) -> Any:
            return opt.update(g, state, params, obj_fn=jax_loss)
    else:
        update = opt.update

    def step(g: Any, state: Any, params: Any) -> Any:
        updates, state = update(g, state, params)
        return state, optax.apply_updates(params, updates)

    _OPTAX_STEPS[code, jax_loss] = jax.jit(step)
    return _OPTAX_STEPS[code, jax_loss]


def _run_optax(code: str, p0: np.ndarray, grad: Grad, steps: int, jax_loss: Callable[[Any], Any] | None = None,
               per_step: int = 1) -> np.ndarray:
    """``jax_loss``: the loss in jax, for a snippet whose update takes it (Sophia's obj_fn, L-BFGS's
    value_fn); ``per_step``: updates per optarena step (L-BFGS: max_iter iterations)."""
    import jax
    import jax.numpy as jnp
    import optax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        params = jnp.asarray(p0, dtype=jnp.float64)
        ns: dict[str, Any] = {"params": params}
        exec(code, ns)
        state = ns["opt_state"]
        step = _optax_step(code, ns["optimizer"], jax_loss)
        # Schedule-Free: params hold y (the gradient's point); the answer, which optarena races, is x
        answer = optax.contrib.schedule_free_eval_params if "schedule_free_eval_params" in code else None
        out = [p0]
        for _ in range(steps):
            for _ in range(per_step):
                g = None if "value_fn=loss_fn" in code else jnp.asarray(grad(np.asarray(params)))
                state, params = step(g, state, params)
            out.append(np.asarray(answer(state, params) if answer else params))
    finally:
        jax.config.update("jax_enable_x64", old)
    return np.array(out)


def _run_keras(code: str, p0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    import keras

    old = keras.config.floatx()
    keras.config.set_floatx("float64")  # keras keeps the learning rate in floatx
    try:
        with warnings.catch_warnings():
            # keras 3.15's torch backend calls np.array(tensor) (in Nadam): NumPy 2.4 warns about torch's
            # __array__ signature. Not ours to fix; silenced for these calls only.
            warnings.filterwarnings(
                "ignore", "__array__ implementation doesn't accept a copy keyword", DeprecationWarning)
            v = keras.Variable(p0, dtype="float64")
            ns: dict[str, Any] = {"params": [v]}
            exec(code, ns)
            opt = ns["optimizer"]
            # Schedule-Free: the variable holds y; the answer, which optarena races, is x = (y - (1 - b1) z) / b1
            b1 = opt.beta_1 if "ScheduleFreeAdamW" in code else None
            out = [p0]
            for _ in range(steps):
                g = grad(v.value.detach().numpy())
                opt.apply([keras.ops.convert_to_tensor(g)], [v])
                y = v.value.detach().numpy().copy()
                out.append(y if b1 is None else (y - (1 - b1) * opt._momentums[0].value.detach().numpy()) / b1)
    finally:
        keras.config.set_floatx(old)
    return np.array(out)


RUNNERS = {"torch": _run_torch, "optax": _run_optax, "keras": _run_keras}


def _loss_side_grad(framework: str, name: str, hp: dict[str, Any]) -> Grad:
    """The gradient the framework is fed, with the loss-side changes the Keras notes ask for."""
    full = registry.get(name).validate(hp)
    sign = -1.0 if framework == "keras" and full.get("maximize") else 1.0
    decoupled = name in ("adamw", "lion") or full.get("decoupled_weight_decay", False) or full.get("weight_decouple", False)
    l2 = full["weight_decay"] if framework == "keras" and not decoupled and name != "sf_adamw" else 0.0
    return lambda p: sign * LS.gradient(p) + l2 * p


def _jax_rosenbrock(p: Any) -> Any:
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2  # landscapes' rosenbrock_f, traced by jax


def _extra(framework: str, name: str, hp: dict[str, Any]) -> dict[str, Any]:
    """What a runner needs besides the gradient for the rules that need more (a closure, a Hessian)."""
    full = registry.get(name).validate(hp)
    if name == "lbfgs":
        return ({"loss": lambda p: float(LS.f(*p))} if framework == "torch"
                else {"jax_loss": _jax_rosenbrock, "per_step": int(full["max_iter"])})
    if name == "sophia" and framework == "optax":
        return {"jax_loss": _jax_rosenbrock}
    if name == "sophia" and framework == "torch":  # SophiaH handed optarena's estimates (its own draws differ)
        from optarena.optim.rules.sophia import estimate

        def hessian(p: np.ndarray, t: int) -> np.ndarray | None:
            if t % int(full["update_period"]):
                return None
            return estimate(LS.hessian(p[None])[0], p.shape, int(full["seed"]), t, full)
        return {"hessian": hessian}
    return {}


#: Muon's problem (a matrix-only rule): 0.5 ||A X - B||_F^2 over a 4x3 X, from X0 (codegen.MATRIX_MEASURE)
_MRNG = np.random.default_rng(2026)
MATRIX_A, MATRIX_B, MATRIX_X0 = _MRNG.standard_normal((6, 4)), _MRNG.standard_normal((6, 3)), _MRNG.standard_normal((4, 3))


def _matrix_grad(x: np.ndarray) -> np.ndarray:
    return MATRIX_A.T @ (MATRIX_A @ x - MATRIX_B)


def run_both(framework: str, name: str, hp: dict[str, Any], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(framework trajectory, optarena trajectory) from Rosenbrock's default start, float64 (a
    matrix-only rule: from MATRIX_X0 on the least squares, optarena's class stepped on the same gradients)."""
    snippet = generate(name, hp, framework)
    if registry.get(name).min_ndim == 2:
        theirs = RUNNERS[framework](snippet.code, MATRIX_X0.copy(), _matrix_grad, steps)
        opt = getattr(oa, registry.get(name).class_name)(**hp)
        ours = [MATRIX_X0.copy()]
        for _ in range(steps):  # copies: the class steps its argument in place
            ours.append(opt.update(ours[-1].copy(), _matrix_grad(ours[-1])))
        return theirs, np.array(ours)
    p0 = np.array(MEASURE_START, dtype=np.float64)
    theirs = RUNNERS[framework](snippet.code, p0, _loss_side_grad(framework, name, hp), steps,
                                **_extra(framework, name, hp))
    res = race(LS, [Racer(name, hp)], starts=[MEASURE_START], steps=steps)
    assert res.diverged_at[0, 0] < 0, "pick hyperparameters that stay in the window"
    return theirs, res.positions[0, 0]


def measure(framework: str, name: str, hp: dict[str, Any], steps: int = MEASURE_STEPS) -> float:
    """Max |position difference| between the framework's snippet and optarena (the notes' figure)."""
    theirs, ours = run_both(framework, name, hp, steps)
    return float(np.max(np.abs(theirs - ours)))


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    floor = max(0.1 * float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _require(framework: str) -> None:
    if framework == "torch":
        pytest.importorskip("torch")
    elif framework == "optax":
        pytest.importorskip("jax")
        pytest.importorskip("optax")
    else:
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = "torch"  # before keras's first import: no TensorFlow here
        keras = pytest.importorskip("keras")
        if keras.backend.backend() != "torch":  # in CI (CI=true) a failure, as a missing package is
            drop = pytest.fail if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes") else pytest.skip
            drop(f"keras runs on {keras.backend.backend()!r} here; the tests use the torch backend")


# --- tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case,framework", _case_frameworks())
def test_snippet_reproduces_optarena(case, framework):
    name, hp = case
    _require(framework)
    snippet = generate(name, hp, framework)
    if any("the snippet cannot set" in n for n in snippet.notes):  # the reference lacks an option (LARS's adapt_vectors)
        assert framework == "torch" and not snippet.exact
        return
    theirs, ours = run_both(framework, name, hp, STEPS)
    assert np.all(np.isfinite(theirs))
    diff = _max_rel(theirs, ours)
    gap = any("measured: max |position difference|" in n for n in snippet.notes)
    drawn = any("not draw for draw" in n for n in snippet.notes)  # Sophia: the Hutchinson draws are the framework's
    if snippet.exact or (drawn and framework == "torch"):  # torch's SophiaH is handed optarena's estimates (_extra)
        assert snippet.exact != drawn
        assert diff <= 1e-10, f"{framework} {name}{hp}: {diff:.2e}\n{format_snippet(snippet)}"
    else:  # a gap note (measured and held to its figure in test_gap_notes), or draws no framework shares
        assert gap or drawn, f"{framework} {name}{hp}: not exact, and no note says why"


def _gap_id(gap) -> str:
    return f"{gap.framework}-{_case_id((gap.optimizers[0], dict(gap.measured_with)))}"


@pytest.mark.parametrize("gap", GAPS, ids=_gap_id)
def test_gap_notes(gap):
    _require(gap.framework)
    name = gap.optimizers[0]
    snippet = generate(name, dict(gap.measured_with), gap.framework)
    assert gap.note() in snippet.notes and not snippet.exact
    truth = measure(gap.framework, name, dict(gap.measured_with))
    assert truth > 1e-12, "the documented difference must be real"
    # the figure the note prints (two digits): re-measured within 10 %, not merely its order of magnitude
    assert truth == pytest.approx(gap.max_abs, rel=0.1), f"note says {gap.max_abs:.1e}, measured {truth:.2e}"


def test_torch_nadam_default_dtype_note():
    _require("torch")
    snippet = generate("nadam", None, "torch")
    assert NADAM_DTYPE_NOTE in snippet.notes and snippet.exact
    p0 = np.array(MEASURE_START)
    ours = race(LS, [Racer("nadam", {})], starts=[MEASURE_START], steps=MEASURE_STEPS).positions[0, 0]
    truth = np.max(np.abs(_run_torch(snippet.code, p0, LS.gradient, MEASURE_STEPS, "float32") - ours))
    claimed = float(re.search(r"difference\| (\S+) after", NADAM_DTYPE_NOTE).group(1))
    assert truth == pytest.approx(claimed, rel=0.1), f"note says {claimed:.1e}, measured {truth:.2e}"


def test_every_gap_is_reachable_and_its_figure_is_in_the_note():
    for gap in GAPS:
        assert gap.framework in FRAMEWORKS and all(n in registry.names() for n in gap.optimizers)
        full = registry.get(gap.optimizers[0]).validate(gap.measured_with)
        assert gap.applies(full)
        assert f"{gap.max_abs:.1e}" in gap.note()
        assert gap.matrix == (registry.get(gap.optimizers[0]).min_ndim == 2)  # measured where the rule runs


ARTICLE_ERA = ["sgd", "momentum", "adam", "adamw", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "adamax", "lion"]


def test_the_first_eleven_have_every_framework():
    for name in ARTICLE_ERA:
        assert frameworks_for(name) == ["torch", "keras", "optax"], name


def test_a_framework_without_a_translation_is_a_usage_error():
    from optarena.errors import UsageError

    missing = [(n, f) for n in registry.names() for f in FRAMEWORKS if f not in frameworks_for(n)]
    for name, framework in missing:
        has = "torch" if frameworks_for(name) else "none"  # Newton: no framework has it
        with pytest.raises(UsageError, match=f"no .* translation of .*; it has: {has}") as info:
            generate(name, None, framework)
        assert info.value.field == "framework"


@pytest.mark.parametrize("name,framework", [(n, f) for n in registry.names() for f in frameworks_for(n)])
def test_every_optimizer_in_every_framework(name, framework):
    snippet = generate(name, None, framework)
    assert snippet.framework == framework and snippet.optimizer == name
    compile(snippet.code, f"<{framework} {name}>", "exec")
    assert "optimizer = " in snippet.code and "params" in snippet.code
    out = format_snippet(snippet)
    assert out.startswith(snippet.code)
    assert out.count("# note: ") == len(snippet.notes)


def test_explicit_where_defaults_differ():
    assert "weight_decay=0.01" in generate("adamw", None, "torch").code
    assert "weight_decay=0.01" in generate("adamw", None, "optax").code  # optax's default is 1e-4
    assert "weight_decay=0.01" in generate("adamw", None, "keras").code  # keras's default is 4e-3
    assert "epsilon=1e-08" in generate("adam", None, "keras").code  # keras's default is 1e-7
    code = generate("adagrad", None, "optax").code
    assert "initial_accumulator_value=0.0" in code and "eps=1e-10" in code
    code = generate("rmsprop", None, "optax").code
    assert "decay=0.99" in code and "eps_in_sqrt=False" in code
    assert "lr=0.01" in generate("sgd", None, "torch").code  # torch's SGD default is 1e-3
    assert "betas" not in generate("adam", None, "torch").code  # the same default: left out
    assert "betas=(0.5, 0.999)" in generate("adam", {"beta1": 0.5}, "torch").code
    assert "eps_root=0.0" in generate("adan", None, "optax").code  # optax.adan's default is 1e-8
    assert "(count + 1) ** 0.25" in generate("adopt", None, "optax").code  # optax clips at count^0.25 = (t-1)^0.25
    assert "beta=0.9" in generate("signum", None, "optax").code
    assert "optax.sign_sgd(" in generate("signum", {"momentum": 0.0}, "optax").code
    code = generate("adabelief", {"epsilon": 1e-8}, "optax").code
    assert "eps=1e-08" in code and "eps_root=1e-08" in code  # optarena adds eps to s as well
    assert "optax.rprop(0.05, max_step_size=0.05)" in generate("rprop", {"learning_rate": 0.1, "step_size_max": 0.05}, "optax").code


def test_notes():
    lion = generate("lion", None, "torch")
    assert lion.exact and any("no Lion" in n for n in lion.notes) and "class Lion" in lion.code
    keras = generate("sgd", {"weight_decay": 0.1, "maximize": True}, "keras")
    assert keras.exact and any("L2" in n for n in keras.notes) and any("-objective" in n for n in keras.notes)
    assert generate("nadam", {"momentum_decay": 1.0}, "keras").exact
    assert not generate("nadam", None, "keras").exact
    assert generate("adam", None, "optax").notes == []
    assert re.search(r"measured: max \|position difference\| \d\.\de-\d\d", generate("nadam", None, "optax").notes[0])


def test_errors():
    with pytest.raises(ValueError, match="allowed: torch, keras, optax"):
        generate("adam", None, "jax")
    with pytest.raises(ValueError, match="unknown optimizer"):
        generate("adamm")
    with pytest.raises(TypeError, match="unknown hyperparameter 'lr'"):
        generate("adam", {"lr": 0.1})
    with pytest.raises(ValueError, match="learning_rate"):
        generate("adam", {"learning_rate": -1.0})
    with pytest.raises(ValueError, match="nesterov"):
        generate("momentum", {"nesterov": True, "dampening": 0.5})
    with pytest.raises(ValueError, match="one value per hyperparameter"):
        generate("adam", {"learning_rate": np.array([0.1, 0.2])})


SCHEDULES = [{"name": "step", "step_size": 7, "gamma": 0.5}, {"name": "exponential", "gamma": 0.9},
             {"name": "cosine", "t_max": 15, "eta_min": 0.01}, {"name": "cosine", "t_max": 60},
             {"name": "warmup_cosine", "warmup": 5, "total": 30, "start_factor": 0.2, "eta_min": 0.003}]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_emitted_schedule_gives_the_same_learning_rate_at_every_step(framework, schedule):
    # Issue 11: a racer with a cosine schedule got plain code. Plain SGD on a gradient of 1 moves
    # by exactly the step's learning rate, so the trajectory reads the framework's rates off; 40
    # steps run past t_max and the warmup, where optax's and keras's own cosines would differ.
    if framework != "torch":
        pytest.importorskip(framework)
    from optarena.optim import schedules as sch

    snippet = generate("sgd", {"learning_rate": 0.1}, framework, schedule)
    assert "schedule" in snippet.code.splitlines()[0]  # the header names it too
    traj = RUNNERS[framework](snippet.code, np.zeros(1), lambda p: np.ones_like(p), 40)
    expected = sch.values(sch.make(schedule), 40, 0.1)
    np.testing.assert_allclose(-np.diff(traj[:, 0]), expected, rtol=1e-12, atol=1e-15)
    assert snippet.exact


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_scheduled_adam_snippet_races_as_optarena_does(framework):
    if framework != "torch":
        pytest.importorskip(framework)
    schedule = {"name": "cosine", "t_max": 20, "eta_min": 0.001}
    snippet = generate("adam", {"learning_rate": 0.01}, framework, schedule)
    theirs = RUNNERS[framework](snippet.code, np.array(MEASURE_START), LS.gradient, STEPS)
    ours = race(LS, [Racer("adam", {"learning_rate": 0.01}, schedule)], starts=[MEASURE_START], steps=STEPS)
    # keras's Adam puts epsilon elsewhere (a note; measured 4.9e-11 unscheduled): the same bound
    np.testing.assert_allclose(theirs, ours.positions[0, 0], rtol=1e-9)


def test_schedule_conflicts_and_the_cli_are_clear(capsys):
    with pytest.raises(ValueError, match="lr_decay and a schedule"):
        generate("adagrad", {"lr_decay": 0.1}, "optax", "cosine")
    with pytest.raises(ValueError, match="dampening"):
        generate("momentum", {"dampening": 0.5}, "keras", "cosine")
    for name, framework in (("sf_sgd", "optax"), ("sf_adamw", "keras")):  # their averaging follows their own rate
        with pytest.raises(ValueError, match="a schedule on top has no counterpart"):
            generate(name, {}, framework, "cosine")
    for name, framework, hp in (("prodigy", "optax", {"growth_rate": 2.0}), ("sf_sgd", "optax", {"r": 1.0}),
                                ("lamb", "optax", {"adam": True}), ("lamb", "keras", {"grad_averaging": False}),
                                ("lars", "optax", {"nesterov": True, "dampening": 0.3}), ("sf_adamw", "keras", {"r": 1.0}),
                                ("lbfgs", "optax", {"line_search": True, "learning_rate": 0.5})):
        with pytest.raises(ValueError, match=f"code for {framework}"):
            generate(name, hp, framework)
    with pytest.raises(ValueError, match="fixed_decay"):  # optax decays by lr wd: wd / lr holds at a constant lr only
        generate("sophia", {"weight_decay": 0.1, "fixed_decay": True}, "optax", "cosine")
    for name in ("rprop", "asgd"):  # their learning rate feeds their own step sizes
        with pytest.raises(ValueError, match="a schedule on top has no counterpart"):
            generate(name, {}, "optax", "cosine")
    with pytest.raises(ValueError, match="unknown schedule"):
        generate("adam", {}, "torch", "sometimes")
    from optarena.cli import main

    assert main(["code", "adam(learning_rate=0.1, schedule=cosine(t_max=100))"]) == 0
    out = capsys.readouterr().out
    assert "CosineAnnealingLR(optimizer, T_max=100" in out and "lr=0.1" in out


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_muon_snippets_stay_within_their_gap(framework):
    # Muon's gaps are bfloat16's (torch) or an epsilon's (keras, optax): every case, not only the measured one,
    # stays within them, so a wrong mapping (lr, weight decay, momentum, ns_steps, the lr adjustment) would show
    # (of the largest entry; measured up to 3.3e-3 torch, 4.1e-9 keras, 3.3e-5 optax: its Nesterov at momentum 0.5)
    _require(framework)
    bound = {"torch": 1e-2, "keras": 1e-7, "optax": 1e-4}[framework]
    for name, hp in CASES:
        if name == "muon":
            theirs, ours = run_both(framework, name, hp, STEPS)
            off = float(np.max(np.abs(theirs - ours)) / np.max(np.abs(ours)))
            assert off <= bound, f"{framework} muon{hp}: {off:.2e}"


def _sophia_as_optax_has_it(hp: dict[str, Any], steps: int) -> np.ndarray:
    """optax.contrib.sophia's rule as the gap note states it, on diag(H): m bias-corrected inside the clip,
    divided by the Hessian EMA before this step's refresh; decay p (1 - lr wd) (fixed_decay: 1 - wd)."""
    f = registry.get("sophia").validate(hp)
    lr, wd, b1, b2 = f["learning_rate"], f["weight_decay"], f["beta1"], f["beta2"]
    p, m, h = np.array(MEASURE_START), np.zeros(2), np.zeros(2)
    out = [p]
    for t in range(1, steps + 1):
        g = LS.gradient(p) + (0.0 if f["weight_decouple"] else wd * p)
        m = b1 * m + (1 - b1) * g
        u = np.clip(m / (1 - b1 ** t) / np.maximum(h, f["epsilon"]), -f["clip"], f["clip"])
        if (t - 1) % int(f["update_period"]) == 0:
            h = b2 * h + (1 - b2) * np.diag(LS.hessian(p[None])[0])
        decay = (wd if f["fixed_decay"] else lr * wd) if f["weight_decouple"] else 0.0
        p = p * (1 - decay) - lr * u
        out.append(p)
    return np.array(out)


def test_optax_sophia_is_the_rule_its_note_describes():
    # the gap note's account of optax.contrib.sophia, written out, is what the snippet computes: the
    # hyperparameters are mapped right and the note names every difference
    _require("optax")
    for name, hp in CASES + [(GAP.optimizers[0], dict(GAP.measured_with)) for GAP in GAPS
                             if GAP.optimizers[0] == "sophia"]:
        if name == "sophia" and registry.get(name).validate(hp)["exact_diagonal"]:
            theirs = _run_optax(generate(name, hp, "optax").code, np.array(MEASURE_START), LS.gradient, STEPS,
                                jax_loss=_jax_rosenbrock)
            np.testing.assert_allclose(theirs, _sophia_as_optax_has_it(hp, STEPS), rtol=1e-10, atol=1e-12)


def _compiled(ns: dict[str, Any]) -> None:
    """The snippet's names in ``ns``, compiled where the step calls them: eager, each L-BFGS iteration retraces
    its zoom line search and value_and_grad_from_state's cond (seconds an iteration). The functions passed
    (loss_fn as value_fn, obj_fn) are static; an argument the real update does not take still fails, traced."""
    import types

    import jax
    import optax

    opt, compiled = ns["optimizer"], {}

    def update(updates: Any, state: Any, params: Any = None, **extra: Any) -> Any:
        fns = tuple(sorted((k, v) for k, v in extra.items() if callable(v)))
        if fns not in compiled:
            compiled[fns] = jax.jit(lambda u, s, p, a, fns=fns: opt.update(u, s, p, **a, **dict(fns)))
        return compiled[fns](updates, state, params, {k: v for k, v in extra.items() if not callable(v)})

    def value_and_grad_from_state(fn: Any) -> Any:
        if fn not in compiled:
            compiled[fn] = jax.jit(optax.value_and_grad_from_state(fn))
        return compiled[fn]

    ns["optimizer"] = optax.GradientTransformationExtraArgs(opt.init, update)
    ns["optax"] = types.SimpleNamespace(**{k: getattr(optax, k) for k in dir(optax) if not k.startswith("__")})
    ns["optax"].value_and_grad_from_state = value_and_grad_from_state


@pytest.mark.parametrize("name,framework,hp", [("lbfgs", "torch", {}), ("lbfgs", "optax", {}),
                                               ("lbfgs", "optax", {"line_search": True}), ("sophia", "torch", {}),
                                               ("sophia", "optax", {"learning_rate": 0.01, "clip": 1.0})])
def test_the_step_comment_runs_as_written(name, framework, hp):
    # L-BFGS steps with a closure (torch) or value_fn (optax), Sophia with the gradient's graph (torch) or
    # obj_fn (optax): the snippet's commented training step, uncommented, trains from Rosenbrock's start
    _require(framework)
    snippet = generate(name, hp, framework)
    step = "\n".join(line[2:] for line in snippet.code.splitlines()
                     if line.startswith("# ") and snippet.code.index(line) > snippet.code.index("optimizer = "))
    if framework == "torch":
        import torch

        params = [torch.nn.Parameter(torch.tensor(MEASURE_START, dtype=torch.float64))]
        ns: dict[str, Any] = {"params": params, "torch": torch, "loss_fn": lambda ps: landscapes.classic.rosenbrock_f(*ps[0])}
        exec(snippet.code, ns)
        with warnings.catch_warnings():  # torch's warning on create_graph=True (the next zero_grad frees the graph)
            warnings.filterwarnings("ignore", r"Using backward\(\) with create_graph=True", UserWarning)
            for _ in range(20):
                exec(step, ns)
        end = params[0].detach().numpy()
    else:
        import jax

        old = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", True)
        try:
            ns = {"params": jax.numpy.asarray(MEASURE_START), "jax": jax, "loss_fn": _jax_rosenbrock}
            exec(snippet.code, ns)
            _compiled(ns)
            for _ in range(20 if name == "sophia" else 2):
                exec(step, ns)
            end = np.asarray(ns["params"])
        finally:
            jax.config.update("jax_enable_x64", old)
    assert np.all(np.isfinite(end)) and LS.f(*end) < LS.f(*MEASURE_START)
