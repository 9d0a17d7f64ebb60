"""How one step of a rule decomposes: the terms it adds and its formulas with the step's numbers.

A spec's ``anatomy`` declares it; ``arena.anatomy`` fills it in from a race's recorded state
(never recomputed by a face). Every rule gets two terms for free: the plain gradient step
``-lr g`` (for comparison) and the step actually taken. A rule's own terms are displacements
whose sum, with ``gradient`` when the anatomy lists it in ``composes``, is the step taken
(tests hold that). A rule without a declared anatomy gets ``default_anatomy``: its state arrays
before and after the step.

``values(p, g, before, after, hp) -> {name: value}`` names every number the lines show and every
term's vector: ``p`` is the point the gradient was taken at, ``g`` that gradient (noise and clip
included), ``before``/``after`` the rule's state around the step, ``hp`` its hyperparameters with
this step's learning rate. Values are floats or arrays shaped like ``p``.

A line's ``numbers`` is the formula in words with ``{name}`` fields: an operand, written in
parentheses when negative, or ``{name!}``: a result, written as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Term:
    """One displacement a step is made of, as the page draws it (an arrow from the point)."""

    key: str
    label: str  # plain text for legends: "-η g"
    tex: str  # the same as math: r"-\eta\, g_t"
    doc: str


@dataclass(frozen=True)
class Line:
    """One formula of the rule and the same formula with a step's numbers (``{name}`` fields)."""

    tex: str
    numbers: str
    when: Callable[[Mapping[str, Any]], bool] | None = None  # shown only when true of the hyperparameters

    def fields(self) -> list[tuple[str, bool]]:
        """(name, is a result) for each field, in order."""
        return [(m.group(1), m.group(2) == "!") for m in _FIELD.finditer(self.numbers)]


@dataclass(frozen=True)
class Anatomy:
    """A rule's step, decomposed: its own ``terms``, its ``lines`` and the ``values`` they show.
    A term is drawn when ``values`` gives its key (no weight decay: no decay arrow).

    ``composes``: the keys whose vectors sum to the step taken (``gradient`` included when the
    rule's step is the plain gradient step plus its terms). ``stretch``: the value holding the
    per-coordinate effective learning rate of an adaptive rule (what multiplies its direction)."""

    terms: tuple[Term, ...]
    lines: tuple[Line, ...]
    values: Callable[..., dict[str, Any]]
    composes: tuple[str, ...] = ()
    stretch: str | None = None
    stretch_label: str = ""
    #: what ``values`` takes besides the step's numbers, as keyword arguments: "hessian", the
    #: landscape's exact Hessian at ``p`` (Newton's step is a solve against it)
    needs: tuple[str, ...] = ()


GRADIENT = Term("gradient", "-η g", r"-\eta\, g_t", "the plain gradient-descent step at this learning rate")
STEP = Term("step", "step taken", r"p_{t+1} - p_t", "where the rule moved the point")

_FIELD = re.compile(r"\{(\w+)(!?)\}")


#: L2 weight decay folded into the gradient: the line every such rule starts with
L2_LINE = Line(r"g_t = \nabla f(p_t) + \lambda\, p_t", "g = {grad} + {wd} × {p} = {g!}", when=lambda hp: hp["weight_decay"] != 0)


#: Adam's two moments, the lines a dozen rules share (values m_prev, m, v_prev, v, beta1, beta2,
#: one_m_b1, one_m_b2 and g)
FIRST_MOMENT = Line(r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t", "m = {beta1} × {m_prev} + {one_m_b1} × {g} = {m!}")
SECOND_MOMENT = Line(r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2", "v = {beta2} × {v_prev} + {one_m_b2} × {g}² = {v!}")


#: decoupled weight decay (AdamW's, and the rules with ``weight_decouple``): -lr wd p
DECOUPLED_DECAY = Term("weight_decay", "-η λ p", r"-\eta\,\lambda\, p_t", "decoupled weight decay: a shrink toward 0")


def weight_decouple(hp: Mapping[str, Any]) -> bool:
    """Whether a rule with pytorch-optimizer's ``weight_decouple`` option decays decoupled this step."""
    return bool(hp["weight_decouple"] and hp["weight_decay"] != 0)


def step_lines(tex: str, numbers: str, when: Callable[[Mapping[str, Any]], bool] | None = None,
               decays: Callable[[Mapping[str, Any]], bool] = weight_decouple) -> tuple[Line, Line]:
    """The step's line ``p_{t+1} = p_t <tex>``, without and with the decoupled decay's shrink of p
    (shown when ``decays``), each only where ``when`` holds."""
    def shown(hp: Mapping[str, Any]) -> bool:
        return when is None or when(hp)

    return (Line(r"p_{t+1} = p_t " + tex, "p = {p} " + numbers, when=lambda hp: shown(hp) and not decays(hp)),
            Line(r"p_{t+1} = p_t (1 - \eta\lambda) " + tex, "p = {p} × (1 − {lr} × {wd}) " + numbers,
                 when=lambda hp: shown(hp) and decays(hp)))


def descended(p: Array, g: Array, hp: Mapping[str, Any], l2: bool = True) -> dict[str, Any]:
    """The gradient a rule descends (``maximize`` flips it) as ``grad``, and with L2 weight decay
    folded in (torch's ``prepare_grad``; ``l2=False``: decoupled, not folded) as ``g``; ``wd``."""
    grad = -g if hp.get("maximize", False) else g
    wd = hp.get("weight_decay", 0.0)
    return {"grad": grad, "g": grad + wd * p if l2 else grad, "wd": wd}


def number(v: float) -> str:
    """A value as the lines show it: four significant digits, a true minus sign."""
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("∞" if v > 0 else "−∞")
    return f"{v:.4g}".replace("-", "−")


def substitute(template: str, values: Mapping[str, Any], i: int) -> str:
    """``template`` with coordinate ``i`` of every field's value (scalars as they are)."""

    def one(m: re.Match[str]) -> str:
        v = values[m.group(1)]
        x = float(v) if np.ndim(v) == 0 else float(np.asarray(v).reshape(-1)[i])
        text = number(x)
        return f"({text})" if x < 0 and m.group(2) != "!" else text

    return _FIELD.sub(one, template)


def default_anatomy(state_keys: Callable[[Mapping[str, Any]], tuple[str, ...]]) -> Anatomy:
    """A rule that declares no anatomy: its state arrays and its point, before -> after."""

    def values(p: Array, g: Array, before: Mapping[str, Any], after: Mapping[str, Any], hp: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in state_keys(hp):
            if k in before and k in after:
                out[f"{k}_prev"], out[k] = before[k], after[k]
        return out

    return Anatomy(terms=(), lines=(), values=values)


def state_lines(keys: tuple[str, ...]) -> tuple[Line, ...]:
    """One before -> after line per state array (the default anatomy's lines)."""
    return tuple(Line("", f"{k}: {{{k}_prev!}} → {{{k}!}}") for k in keys)
