"""The anatomy of a step: a traced race's state is the optimizer's own (torch.optim's numbers), the
terms sum to the step taken, and every number line is arithmetic that holds."""

from __future__ import annotations

import ast
import math
import operator
import re

import numpy as np
import pytest

from optarena import landscapes
from optarena.arena import RacePlan
from optarena.arena.anatomy import anatomy_of, explain, sub_plan
from optarena.arena.engine import race, run
from optarena.errors import EngineUnavailable, UsageError
from optarena.optim import expand, registry

torch = pytest.importorskip("torch")

#: (optimizer, hyperparameters, the torch.optim class and its arguments) the article's rules and their options
ARTICLE = [
    ("sgd", {}, "SGD", {"lr": 0.01}),
    ("sgd", {"weight_decay": 0.1}, "SGD", {"lr": 0.01, "weight_decay": 0.1}),
    ("momentum", {}, "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("momentum", {"dampening": 0.3, "weight_decay": 0.05}, "SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.3,
                                                                   "weight_decay": 0.05}),
    ("momentum", {"nesterov": True}, "SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("adam", {"learning_rate": 0.05}, "Adam", {"lr": 0.05}),
    ("adam", {"learning_rate": 0.05, "amsgrad": True, "weight_decay": 0.1}, "Adam",
     {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {"learning_rate": 0.05, "weight_decay": 0.2}, "AdamW", {"lr": 0.05, "weight_decay": 0.2}),
    ("rmsprop", {}, "RMSprop", {"lr": 0.01}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}, "RMSprop",
     {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adagrad", {"learning_rate": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}, "Adagrad",
     {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}),
]
TORCH_STATE = {k: k for k in ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum")}


def _traced(optimizer: str, hp: dict, steps: int = 40, noise: float = 0.5, landscape: str = "rosenbrock"):
    return race(landscape, [{"optimizer": optimizer, "hyperparameters": hp}], starts=[[-1.2, 1.0], [0.5, -0.5]],
                steps=steps, noise=noise, seed=3, trace=True)


@pytest.mark.parametrize("optimizer,hp,cls,kwargs", ARTICLE, ids=[f"{a[0]}-{i}" for i, a in enumerate(ARTICLE)])
def test_the_traced_state_is_torchs_over_a_whole_race(optimizer: str, hp: dict, cls: str, kwargs: dict) -> None:
    """torch.optim, fed the gradients the race recorded, holds the state the race recorded at every
    step and moves the point where the race moved it."""
    res = _traced(optimizer, hp)
    tr = res.trace
    assert tr is not None
    for s in range(2):
        p = torch.tensor(tr["point"][0, s, 0], dtype=torch.float64, requires_grad=True)
        opt = getattr(torch.optim, cls)([p], **kwargs)
        for t in range(res.steps):
            p.grad = torch.tensor(tr["gradient"][0, s, t], dtype=torch.float64)
            opt.step()
            state = opt.state[p]
            for ours, theirs in TORCH_STATE.items():
                if theirs in state:
                    np.testing.assert_allclose(tr[f"state.{ours}"][0, s, t + 1], state[theirs].numpy(), rtol=1e-12, atol=1e-300)
            np.testing.assert_allclose(tr["point"][0, s, t + 1], p.detach().numpy(), rtol=1e-12, atol=1e-13)  # |p| ~ 1
        np.testing.assert_array_equal(tr["state.step"][0, s], np.arange(res.steps + 1))


@pytest.mark.parametrize("name", [n for n in registry.names() if registry.get(n).min_ndim <= 1])
def test_the_traced_state_is_the_rules_update_over_a_whole_race(name: str) -> None:
    """Every rule a race can run: replaying its ``update`` on the recorded gradients and learning
    rates from its ``init`` gives the recorded state at every step, bit for bit."""
    spec = registry.get(name)
    hp = {"line_search": False} if name == "lbfgs" else {}
    res = race("quadratic", [{"optimizer": name, "hyperparameters": hp, "schedule": {"name": "cosine"}}],
               starts=[[2.0, -1.5]], steps=12, trace=True)
    tr = {k: v[0, 0] for k, v in res.trace.items()}
    # as a batch of one run, the way the engine binds a group's settings (per-run arrays)
    full = expand({k: v if isinstance(v, bool) else np.array([v]) for k, v in spec.validate(hp).items()}, 2, np.float64)
    ls = landscapes.resolve("quadratic")
    p = tr["point"][0][None]
    state = spec.init(p, full)
    for t in range(res.steps):
        extra: dict = {}
        if "hessian" in spec.needs:
            extra["hessian"] = ls.hessian(p)
        if "closure" in spec.needs:
            extra = {"closure": lambda x: (float(ls.value(x)), ls.gradient(x)),
                     "batched_closure": lambda pts: (ls.value(pts), ls.gradient(pts))}
        lr = np.array([[tr["learning_rate"][t]]])
        p, state = spec.update(p, tr["gradient"][t][None], state, {**full, "learning_rate": lr}, **extra)
        np.testing.assert_array_equal(p[0], tr["point"][t + 1])
        for k, v in state.items():
            if f"state.{k}" in tr and isinstance(v, np.ndarray) and v.shape[:1] == (1,):
                np.testing.assert_array_equal(np.asarray(v[0], dtype=np.float64).reshape(tr[f"state.{k}"][t + 1].shape),
                                              tr[f"state.{k}"][t + 1], err_msg=k)


def _racers():
    return [{"optimizer": o, "hyperparameters": hp} for o, hp, _, _ in ARTICLE]


@pytest.fixture(scope="module")
def article_race():
    return race("ill_conditioned", _racers(), starts=[[1.5, 1.0], [-0.8, 0.6]], steps=30, noise=0.2, seed=1, trace=True)


@pytest.mark.parametrize("racer", range(len(ARTICLE)), ids=[f"{a[0]}-{i}" for i, a in enumerate(ARTICLE)])
def test_the_terms_sum_to_the_step_taken(article_race, racer: int) -> None:
    for start in range(2):
        for step in (0, 1, 7, 29):
            a = explain(article_race, racer, start, step)
            vec = {t.key: v for t, v in a.terms}
            taken = article_race.positions[racer, start, step + 1] - article_race.positions[racer, start, step]
            np.testing.assert_allclose(vec["step"], taken, rtol=0, atol=0)
            parts = [v for k, v in vec.items() if k in a.composes]
            assert len(parts) >= 1
            scale = max(1e-300, float(np.abs(parts).max()))
            np.testing.assert_allclose(np.sum(parts, axis=0), taken, rtol=0, atol=1e-12 * scale)
            assert vec["gradient"] == pytest.approx(-a.learning_rate * a.gradient, rel=1e-15)


def test_the_terms_are_the_rules_own() -> None:
    """Each named term is what the papers call it, from torch's own state (not ours)."""
    res = race("quadratic", _racers(), starts=[[2.0, 1.5]], steps=6, trace=True)
    for racer, (name, hp, cls, kwargs) in enumerate(ARTICLE):
        p = torch.tensor([2.0, 1.5], dtype=torch.float64, requires_grad=True)
        opt = getattr(torch.optim, cls)([p], **kwargs)
        for t in range(5):
            before = {k: v.clone() for k, v in opt.state[p].items()} if opt.state[p] else {}
            p.grad = torch.tensor(res.trace["gradient"][racer, 0, t])
            point = p.detach().clone()
            opt.step()
            vec = {term.key: v for term, v in explain(res, racer, 0, t).terms}
            lr = kwargs["lr"]
            if "momentum" in vec and cls == "SGD":  # heavy ball: -lr mu b_{t-1}
                prev = before.get("momentum_buffer", torch.zeros(2)) if t else torch.zeros(2)
                np.testing.assert_allclose(vec["momentum"], (-lr * kwargs["momentum"] * prev).numpy(), rtol=1e-12)
            if "lookahead" in vec:  # Nesterov: -lr mu b_t
                np.testing.assert_allclose(vec["lookahead"], (-lr * kwargs["momentum"] * opt.state[p]["momentum_buffer"]).numpy(),
                                           rtol=1e-12)
            if "direction" in vec:  # Adam: -lr m^ / (sqrt(v^) + eps)
                st, k = opt.state[p], t + 1
                v = st["max_exp_avg_sq"] if kwargs.get("amsgrad") else st["exp_avg_sq"]
                want = -lr * (st["exp_avg"] / (1 - 0.9 ** k)) / ((v / (1 - 0.999 ** k)).sqrt() + 1e-8)
                np.testing.assert_allclose(vec["direction"], want.numpy(), rtol=1e-12)
            if "weight_decay" in vec:
                np.testing.assert_allclose(vec["weight_decay"], (-lr * kwargs["weight_decay"] * point).numpy(), rtol=1e-12)
            if "scaled" in vec:  # RMSprop: -lr g / (sqrt(v - gbar^2) + eps); Adagrad: -lr_t g / (sqrt(s) + eps)
                st = opt.state[p]
                g = p.grad + kwargs.get("weight_decay", 0.0) * point
                if cls == "Adagrad":
                    want = -lr / (1 + t * kwargs.get("lr_decay", 0.0)) * g / (st["sum"].sqrt() + 1e-10)
                else:
                    centred = st["square_avg"] - (st["grad_avg"] ** 2 if "grad_avg" in st else 0)
                    want = -lr * g / (centred.sqrt() + 1e-8)
                np.testing.assert_allclose(vec["scaled"], want.numpy(), rtol=1e-12)
            if "momentum" in vec and cls == "RMSprop":
                prev = before.get("momentum_buffer", torch.zeros(2))
                np.testing.assert_allclose(vec["momentum"], (-lr * kwargs["momentum"] * prev).numpy(), rtol=1e-12)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}


def _evaluate(text: str) -> float:
    """The arithmetic of a number line (×, −, √, ², max), by a walk over its syntax tree: no eval."""
    src = (text.replace("×", "*").replace("−", "-").replace("²", "**2").replace("∞", "inf"))
    src = re.sub(r"√([0-9.e+\-]+)", r"sqrt(\1)", src.replace("√(", "sqrt("))

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("sqrt", "max"):
            args = [walk(a) for a in node.args]
            return math.sqrt(args[0]) if node.func.id == "sqrt" else max(args)
        raise ValueError(f"unexpected {ast.dump(node)} in {text!r}")

    return walk(ast.parse(src, mode="eval"))


@pytest.mark.parametrize("racer", range(len(ARTICLE)), ids=[f"{a[0]}-{i}" for i, a in enumerate(ARTICLE)])
def test_every_number_line_is_arithmetic_that_holds(article_race, racer: int) -> None:
    """'m = 0.9 × 0.412 + 0.1 × 1.37 = 0.508': the left side, computed from the four-digit numbers
    shown, is the right side to four digits."""
    for step in (0, 3, 20):
        a = explain(article_race, racer, 1, step)
        assert a.lines
        for tex, numbers in a.lines:
            assert len(numbers) == 2 and numbers[0].startswith("x: ") and numbers[1].startswith("y: ")
            for text in numbers:
                _check_line(text)


def test_a_replayed_racer_has_the_numbers_of_the_whole_race() -> None:
    """The server explains a step by replaying one racer from one start: same box (the default box
    depends on every start), same noise; so the same path as in the whole race."""
    plan = RacePlan.build("rastrigin", _racers()[:4], starts=[[3.0, -2.5], [-4.9, 4.9]], steps=50, noise=0.3, seed=7)
    whole = run(plan)
    for racer in (0, 3):
        for start in (0, 1):
            one = run(sub_plan(plan, racer, start))
            np.testing.assert_array_equal(one.positions[0, 0], whole.positions[racer, start])
            np.testing.assert_array_equal(one.diverged_at[0, 0], whole.diverged_at[racer, start])
    a = anatomy_of(plan, 3, 1, 10)
    assert (a.racer, a.start, a.label) == (3, 1, plan.labels[3])
    np.testing.assert_array_equal(a.position, whole.positions[3, 1, 10])


@pytest.mark.parametrize("name", [n for n in registry.names() if registry.get(n).min_ndim <= 1])
def test_every_rule_explains_its_steps(name: str) -> None:
    """A rule without a declared anatomy (a plug-in's too) shows its state before and after."""
    hp = {"line_search": False} if name == "lbfgs" else {}
    a = anatomy_of(RacePlan.build("quadratic", [{"optimizer": name, "hyperparameters": hp}], [[1.0, 2.0]], 5), 0, 0, 2)
    keys = [t.key for t, _ in a.terms]
    assert keys[0] == "gradient" and keys[-1] == "step"
    assert a.lines and all(len(n) == 2 for _, n in a.lines)
    assert "nan" not in " ".join(n for _, ns in a.lines for n in ns)


def test_bad_requests_name_their_field() -> None:
    plan = RacePlan.build("quadratic", None, None, 10)
    for kwargs, field in (({"racer": 3}, "racer"), ({"start": 1}, "start"), ({"step": 10}, "step"), ({"step": -1}, "step")):
        args = {"racer": 0, "start": 0, "step": 0, **kwargs}
        with pytest.raises(UsageError) as err:
            anatomy_of(plan, args["racer"], args["start"], args["step"])
        assert err.value.field == field
    gone = RacePlan.build("quadratic", [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 5.0}}], None, 300)
    with pytest.raises(UsageError, match="diverged at step"):
        anatomy_of(gone, 0, 0, 299)
    with pytest.raises(EngineUnavailable):
        race("quadratic", steps=3, trace=True, engine="fused")
    with pytest.raises(UsageError, match="trace"):
        race("quadratic", steps=3, trace=True, record=False)


def _declared() -> list[tuple[str, dict]]:
    """Every rule that declares its anatomy, with each of its test settings (``examples``)."""
    out = []
    for name in registry.names():
        spec = registry.get(name)
        if spec.anatomy is not None and spec.min_ndim <= 1:
            out += [(name, dict(hp)) for hp in spec.examples]
    return out


@pytest.fixture(scope="module")
def declared_races():
    """One traced race per declared rule and setting, on a curved landscape with noise where the
    rule takes it (closure rules evaluate the loss themselves: no noise)."""
    out = {}
    for name, hp in _declared():
        closure = "closure" in registry.get(name).needs
        out[name, repr(hp)] = race("rosenbrock", [{"optimizer": name, "hyperparameters": hp}], starts=[[-1.2, 1.0]],
                                   steps=25, noise=0.0 if closure else 0.3, seed=2, trace=True)
    return out


@pytest.mark.parametrize("name,hp", _declared(), ids=[f"{n}-{i}" for i, (n, _) in enumerate(_declared())])
def test_every_declared_anatomy_composes_the_step_and_its_lines_hold(declared_races, name: str, hp: dict) -> None:
    """For every rule that declares its anatomy and every setting its tests try: the terms it marks
    as composing sum to the step taken, and each number line's arithmetic holds to its four digits."""
    res = declared_races[name, repr(hp)]
    last = int(res.diverged_at[0, 0]) - 2 if res.diverged_at[0, 0] >= 0 else res.steps - 1
    for step in sorted({0, 1, 5, last} & set(range(last + 1))):
        a = explain(res, 0, 0, step)
        vec = {t.key: v for t, v in a.terms}
        parts = [v for k, v in vec.items() if k in a.composes]
        assert parts, f"{name}: no term composes the step"
        scale = max(1e-300, float(np.abs(parts).max()), float(np.abs(vec["step"]).max()))
        # the step taken is a difference of two drawn positions: it carries their rounding too
        atol = 1e-11 * scale + 2 * float(np.spacing(np.abs(a.next).max()))
        np.testing.assert_allclose(np.sum(parts, axis=0), vec["step"], rtol=0, atol=atol, err_msg=f"{name} step {step}")
        for tex, numbers in a.lines:
            for text in numbers:
                _check_line(text)


def _check_line(text: str) -> None:
    lhs, rhs = text[3:].split(" = ", 1)[1].rsplit(" = ", 1)
    operands = [abs(float(x.replace("−", "-"))) for x in re.findall(r"[−]?[0-9.]+(?:e[+\-−]?\d+)?", lhs.replace("e−", "e-"))]
    got, want = _evaluate(lhs), _evaluate(rhs)
    # each operand is rounded to 4 significant digits: the result may be off by that much of each
    assert abs(got - want) <= 2e-3 * max([abs(want), *operands]), text
