"""Schedule-Free SGD: no learning-rate schedule; the answer is an online average x of the SGD
iterates z, and the gradient is taken at y, a point between them (the params hold y).

    lr_t  = lr min(1, t / warmup_steps)          lr_max = max(lr_max, lr_t)
    w_t   = t^r lr_max^weight_lr_power           c_t = w_t / sum_{i<=t} w_i   (0 if the sum is 0)
    g     = grad(y) + wd y
    y     = lerp(y, z, c_t) + lr_t (beta (1 - c_t) - 1) g      (= (1 - beta) z_t + beta x_t)
    z     = z - lr_t g
    x     = y + (1 - 1/beta)(z - y)   (``eval_point``; ``train_point`` is its inverse)

beta is ``momentum``; z starts at the params. Defazio et al., The Road Less Scheduled (NeurIPS
2024), Algorithm 1. Reference: ``schedulefree.SGDScheduleFree`` (schedulefree 1.4.1, the
train-mode class whose parameter holds y), matched exactly, defaults included; its lerps are
torch's (the form picked by |weight|), so ours are too. Its per-group k, weight_sum and lr_max
are per-run scalars here (``step``, ``weight_sum``, ``lr_max``). Ranges the reference does not
check: r >= 0 and weight_lr_power >= 0 (the paper's), warmup_steps >= 0. Not offered:
``maximize`` (the reference has none). Under batched hyperparameters the per-run scalars are
kept in the params' dtype (float32 runs: float32 sums; the reference's are Python floats).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..anatomy import Anatomy, Line, Term, descended
from .._spec import Array, Hyper, HyperValues, OptimizerSpec, Reference, State, cell_helper, lr_hyper, torch_lerp, wd_hyper

PAPER = "Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, The Road Less Scheduled (NeurIPS 2024)"
FAMILY = "schedule-free / learning-rate-free"
SCALARS = ("weight_sum", "lr_max")
#: where schedulefree keeps them: in each param group (the step count as k)
GROUP_SCALARS = {"step": "k", "weight_sum": "weight_sum", "lr_max": "lr_max"}
#: the scalars before any step (the reference's group defaults)
FRESH = {"weight_sum": 0.0, "lr_max": -1.0}


def averaging_hypers() -> tuple[Hyper, ...]:
    return (
        Hyper("warmup_steps", 0.0, low=0.0, doc="steps of linear learning-rate warm-up (0: none)"),
        Hyper("r", 0.0, low=0.0, doc="polynomial weighting: step t weighs t^r in the average"),
        Hyper("weight_lr_power", 2.0, low=0.0, doc="step t weighs lr_max^power in the average"),
    )



def averaging(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """(lr_t, c_t, scalars after step t): the warmed-up step size, the weight of the new z in the
    average x, and the running weight sum and largest lr_t. ``t`` may be a column of consecutive
    steps (axis 0) from step 1, as ``coefficients`` gets it. At step 1 the carried scalars are
    the fresh ones whatever is passed (the fused race seeds every scalar with 1.0)."""
    if (np.ravel(t)[0] if np.ndim(t) else t) == 1:
        scalars = FRESH
    ws, lm = scalars["weight_sum"], scalars["lr_max"]
    W, r, power = hp["warmup_steps"], hp["r"], hp["weight_lr_power"]
    if not any(isinstance(v, np.ndarray) for v in (t, lr, W, r, power, ws, lm)):  # Python floats, as the reference
        lr_t = lr * (t / W) if t - 1 < W else lr
        lm = max(lr_t, lm)
        weight = (t**r) * (lm**power)
        ws = ws + weight
        return lr_t, (weight / ws if ws != 0 else 0.0), {"weight_sum": ws, "lr_max": lm}
    with np.errstate(divide="ignore", invalid="ignore"):
        lr_t = lr * np.where(t - 1 < W, t / np.where(np.asarray(W) > 0, W, 1.0), 1.0)
    if np.ndim(t):
        lm = np.maximum(np.maximum.accumulate(lr_t, axis=0), lm)
        weight = (t**r) * (lm**power)
        ws = ws + np.cumsum(weight, axis=0)  # ws is 0 here: the reference's running sum, term by term
    else:
        lm = np.maximum(lr_t, lm)
        weight = (t**r) * (lm**power)
        ws = ws + weight
    ckp1 = np.divide(weight, ws, out=np.zeros(np.broadcast(weight, ws).shape, dtype=np.result_type(weight, ws)),
                     where=ws != 0)
    return lr_t, ckp1, {"weight_sum": ws, "lr_max": lm}


def points(beta: str) -> tuple[Callable[[Array, State, HyperValues], Array], Callable[[Array, State, HyperValues], Array]]:
    """(eval_point, train_point) for the rule whose interpolation weight is ``hp[beta]``."""

    def eval_point(params: Array, state: State, hp: HyperValues) -> Array:
        """x, the average the method answers, from y (the params): y + (1 - 1/beta)(z - y)."""
        return torch_lerp(params, state["z"], 1 - 1 / hp[beta])

    def train_point(x: Array, state: State, hp: HyperValues) -> Array:
        """y, where the gradient is taken, from x: x + (1 - beta)(z - x)."""
        return torch_lerp(x, state["z"], 1 - hp[beta])

    return eval_point, train_point


def init_state(params: Array, names: tuple[str, ...] = ()) -> State:
    """z starts at the params, ``names`` at zero, the scalars fresh."""
    state: dict[str, Any] = {"step": 0, "z": np.array(params, copy=True), **FRESH}
    for n in names:
        state[n] = np.zeros_like(params)
    return state


def step_y(y: Array, z: Array, g: Array, lr_t: Any, ckp1: Any, beta: Any) -> tuple[Array, Array]:
    """(y, z) after a step along the (decayed, normalised) gradient g: y moves towards z by c_t
    and along g; z takes the plain step."""
    return torch_lerp(y, z, ckp1) + (lr_t * (beta * (1 - ckp1) - 1)) * g, z - lr_t * g


def step_coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any], beta: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The constants of ``cell_step_y`` and the scalars after the step(s)."""
    lr_t, ckp1, after = averaging(hp, t, lr, scalars)
    far = np.abs(ckp1) >= 0.5 if np.ndim(ckp1) else abs(ckp1) >= 0.5
    return {"wd": hp["weight_decay"], "far": far, "ckp1": ckp1, "one_m_ckp1": 1 - ckp1,
            "c_g": lr_t * (beta * (1 - ckp1) - 1), "lr": lr_t}, after


@cell_helper
def cell_step_y(p, z, g, far, ckp1, one_m_ckp1, c_g):
    """One element of ``step_y``'s y (torch's lerp form chosen by ``far``: |c_t| >= 0.5)."""
    if far != 0:
        p = z - (z - p) * one_m_ckp1
    else:
        p = p + ckp1 * (z - p)
    return p + c_g * g


def state_arrays(hp: HyperValues) -> tuple[str, ...]:
    return ("z",)


def init(params: Array, hp: HyperValues) -> State:
    return init_state(params)


def update(params: Array, grads: Array, state: State, hp: HyperValues) -> tuple[Array, State]:
    t = state["step"] + 1
    lr_t, ckp1, scalars = averaging(hp, t, hp["learning_rate"], {k: state[k] for k in SCALARS})
    g = grads
    if np.any(hp["weight_decay"] != 0):
        g = g + hp["weight_decay"] * params
    y, z = step_y(params, state["z"], g, lr_t, ckp1, hp["momentum"])
    return y, {"step": t, "z": z, **scalars}


SLOTS = ("z",)


def coefficients(hp: HyperValues, t: Any, lr: Any, scalars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return step_coefficients(hp, t, lr, scalars, hp["momentum"])


def cell(p, g, z, wd, far, ckp1, one_m_ckp1, c_g, lr):
    """One element of the rule above (compiled by numba for the fused paths)."""
    if wd != 0:
        g = g + wd * p
    return cell_step_y(p, z, g, far, ckp1, one_m_ckp1, c_g), z - lr * g


EVAL_POINT, TRAIN_POINT = points("momentum")

def averaging_values(p: Array, g: Array, before: State, after: State, hp: HyperValues, beta: str) -> dict[str, Any]:
    """The numbers of one Schedule-Free step and its terms, ``g`` being the gradient z steps along
    (decayed, and normalised for AdamW). The arena draws x (``eval_point``) while the gradient is
    taken at y (the params, ``p``): x_{t+1} = (1 - c) x_t + c z_{t+1} with z_{t+1} = z_t - lr_t g,
    so x moves by c (z_t - x_t) (``average``: the pull toward the SGD iterate) plus c times z's
    step, -c lr_t grad (``scaled``) and -c lr_t wd y (``weight_decay``)."""
    t, lr, b, wd = after["step"], hp["learning_rate"], hp[beta], hp["weight_decay"]
    fresh = t == 1  # the reference's group defaults, whatever the state held
    scalars = FRESH if fresh else {k: before[k] for k in SCALARS}
    lr_t, c, now = averaging(hp, t, lr, scalars)
    eval_point, _ = points(beta)
    y_next, z = step_y(p, before["z"], g, lr_t, c, b)  # the update's own arithmetic: y_{t+1} as the race has it
    x_prev, x = eval_point(p, before, hp), eval_point(y_next, {"z": z}, hp)
    share = c * lr_t
    out: dict[str, Any] = {
        "g": g, "wd": wd, "beta": b, "lr_t": lr_t, "warm": lr_t / lr if lr != 0 else 1.0, "lm_prev": scalars["lr_max"],
        "lr_max": now["lr_max"], "t_r": float(t) ** hp["r"], "lm_p": now["lr_max"] ** hp["weight_lr_power"],
        "w": (float(t) ** hp["r"]) * (now["lr_max"] ** hp["weight_lr_power"]), "ws_prev": scalars["weight_sum"],
        "ws": now["weight_sum"], "c": c, "z_prev": before["z"], "z": z, "x_prev": x_prev, "x": x,
        "average": c * (before["z"] - x_prev), "scaled": -share * (g - wd * p),
    }
    if wd != 0:
        out["weight_decay"] = -share * wd * p
    return out


def anatomy_values(p: Array, g: Array, before: State, after: State, hp: HyperValues) -> dict[str, Any]:
    """One step of the average x: see ``averaging_values``; g = grad(y) + wd y."""
    out = descended(p, g, hp)
    return {**out, **averaging_values(p, out["g"], before, after, hp, "momentum")}


def averaging_lines(gradient: tuple[Line, ...]) -> tuple[Line, ...]:
    """The lines of a Schedule-Free step, ``gradient`` giving the g that z steps along."""
    return (
        Line(r"\gamma_t = \eta\, \min(1, t / T)", "γ = {lr} × {warm} = {lr_t!}", when=lambda hp: hp["warmup_steps"] > 0),
        Line(r"\gamma_{\max} = \max(\gamma_{\max}, \gamma_t)", "γmax = max({lm_prev}, {lr_t}) = {lr_max!}"),
        Line(r"w_t = t^r \gamma_{\max}^{q}", "w = {t_r} × {lm_p} = {w!}"),
        Line(r"W_t = W_{t-1} + w_t", "W = {ws_prev} + {w} = {ws!}"),
        Line(r"c_t = w_t / W_t", "c = {w} / {ws} = {c!}"),
        *gradient,
        Line(r"z_{t+1} = z_t - \gamma_t\, g_t", "z = {z_prev} − {lr_t} × {g} = {z!}"),
        Line(r"x_{t+1} = (1 - c_t)\, x_t + c_t z_{t+1}", "x = (1 − {c}) × {x_prev} + {c} × {z} = {x!}"),
        Line(r"y_{t+1} = (1 - \beta)\, z_{t+1} + \beta x_{t+1}", "y = (1 − {beta}) × {z} + {beta} × {x} = {p_new!}"),
    )


#: the terms of x's move (the point the arena draws)
AVERAGING_TERMS = (
    Term("average", "c (z - x)", r"c_t\,(z_t - x_t)", "the average x pulled toward the SGD iterate z"),
    Term("weight_decay", "-c γ λ y", r"-c_t \gamma_t \lambda\, y_t", "x's share of z's L2 weight decay (taken at y)"),
)

ANATOMY = Anatomy(
    terms=(Term("scaled", "-c γ ∇f(y)", r"-c_t \gamma_t \nabla f(y_t)", "x's share of z's gradient step, the gradient taken at y"),
           *AVERAGING_TERMS),
    lines=averaging_lines((Line(r"g_t = \nabla f(y_t) + \lambda\, y_t", "g = {grad} + {wd} × {p} = {g!}",
                                when=lambda hp: hp["weight_decay"] != 0),)),
    values=anatomy_values, composes=("scaled", "average", "weight_decay"),
)

#: x_t is the c-weighted average of the z's; y interpolates x and z (paper's Algorithm 1)
RULE = (r"y_t = (1-\beta)z_t + \beta x_t,\; z_{t+1} = z_t - \gamma_t \nabla f(y_t),\; "
        r"x_{t+1} = (1-c_{t+1})x_t + c_{t+1} z_{t+1},\; c_{t+1} = \frac{w_{t+1}}{\sum_{i\le t+1} w_i},\; "
        r"w_t = t^r \gamma_{\max}^{p}")

SPEC = OptimizerSpec(
    name="sf_sgd", title="Schedule-Free SGD", class_name="SGDScheduleFree",
    hypers=(
        lr_hyper(1.0),
        Hyper("momentum", 0.9, low=0.0, high=1.0, low_open=True, high_open=True,
              doc="beta: y = (1 - beta) z + beta x"),
        wd_hyper(doc="L2 penalty folded into the gradient (taken at y)"),
        *averaging_hypers(),
    ),
    anatomy=ANATOMY,
    init=init, update=update, state_arrays=state_arrays, cell=cell, coefficients=coefficients, slots=SLOTS,
    scalars=SCALARS, eval_point=EVAL_POINT, train_point=TRAIN_POINT,
    rule=RULE, paper=PAPER,
    reference=Reference("schedulefree.SGDScheduleFree", "schedulefree", group_scalars=GROUP_SCALARS),
    family=FAMILY,
    examples=(
        {"learning_rate": 0.1},
        {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.1, "warmup_steps": 5.0},
        {"learning_rate": 0.05, "momentum": 0.3, "r": 1.0, "weight_lr_power": 0.0, "warmup_steps": 3.0},
    ),
)
