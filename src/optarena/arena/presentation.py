"""How a race's racers look on every face: each racer's colour, label and legend text.

The terminal table, the exports (PNG/SVG/PDF, GIF/MP4, HTML), the sweep and training plots and
the web page (the API sends ``looks_json``; the page computes none of it) all take them from here,
so one race looks the same everywhere.

Colours go by race position, not by optimizer: racers get distinct colours in race order from
``PALETTE`` (colour-blind-safe), except that an optimizer whose spec hints one of the palette's
colours (``OptimizerSpec.colour``; the article's SGD, Momentum and Adam) keeps it for its first
racer, so the article's race keeps the article's colours wherever they sit. A hint outside the
palette is not used (every colour drawn is the palette's), and a repeated optimizer's second racer
takes the next free colour. Only past ``len(PALETTE)`` racers do colours repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

#: Okabe & Ito's colour-blind-safe colours (less yellow and black: a white chart, a dark map), then
#: Paul Tol's, each picked to stay farthest from the ones before it: the first eight stay at least
#: 15 CIELAB units apart under simulated protanopia, deuteranopia and tritanopia, all twelve at
#: least 10 (tests/test_presentation.py measures it). The article's three come first.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue: SGD in the article
    "#E69F00",  # orange: Momentum
    "#009E73",  # bluish green: Adam
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#882255",  # wine
    "#225522",  # dark green
    "#999933",  # olive
    "#117733",  # green
    "#AA3377",  # purple
    "#EE6677",  # rose
)
#: On a terminal of 8 or 16 colours the hex colours collapse (blue and bluish green both become
#: cyan): there the racer with ``PALETTE[k]`` gets ``TERMINAL[k]``, twelve distinct standard colours.
TERMINAL: tuple[str, ...] = (
    "blue", "yellow", "green", "red", "magenta", "cyan",
    "bright_magenta", "bright_green", "bright_yellow", "bright_black", "bright_red", "bright_blue",
)
#: The article's colours, for optimizers whose spec gives no ``colour`` hint.
ARTICLE: Mapping[str, str] = {"sgd": PALETTE[0], "momentum": PALETTE[1], "adam": PALETTE[2]}


@dataclass(frozen=True)
class Look:
    """One racer as every face shows it."""

    label: str  # its name: table rows, status line, hover text ("Adam lr=0.1")
    legend: str  # the label and what differs from the optimizer's defaults ("Adam (learning_rate=0.1)")
    colour: str  # "#RRGGBB"
    terminal: str  # the colour an 8/16-colour terminal tells apart from the others' (rich's name)


def hint(optimizer: str) -> str | None:
    """The palette colour ``optimizer`` keeps wherever it races (its spec's ``colour`` when that is
    one of ``PALETTE``'s; the article's for SGD, Momentum and Adam), or None."""
    from ..optim import registry

    try:
        spec = registry.get(optimizer)
        name, given = spec.name, getattr(spec, "colour", None)
    except (ValueError, KeyError, TypeError):  # a custom optimizer object: no spec
        name, given = str(optimizer).lower(), None
    for c in (given, ARTICLE.get(name)):
        if c and c.upper() in PALETTE:
            return c.upper()
    return None


def racer_colours(optimizers: Sequence[str]) -> list[str]:
    """Each racer's colour (``"#RRGGBB"``), in race order, from the optimizer names of the race:
    hints first (the first racer of each hinted optimizer), then the free palette colours in race
    order; past the palette, they cycle."""
    out: list[str | None] = [None] * len(optimizers)
    taken: set[str] = set()
    for i, name in enumerate(optimizers):
        h = hint(name)
        if h and h not in taken:
            out[i] = h
            taken.add(h)
    free = iter([c for c in PALETTE if c not in taken])
    return [c if c is not None else next(free, PALETTE[i % len(PALETTE)]) for i, c in enumerate(out)]


def terminal_colours(optimizers: Sequence[str], color_system: str | None = "truecolor") -> list[str]:
    """``racer_colours`` as a terminal with ``color_system`` (rich's name for it) can tell them
    apart: the hex colours, or on a standard 8/16-colour terminal distinct standard colours."""
    colours = racer_colours(optimizers)
    if color_system not in ("standard", "windows"):
        return colours
    return [TERMINAL[PALETTE.index(c)] for c in colours]  # every colour is the palette's


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def legend(racer: Mapping[str, Any], label: str) -> str:
    """``'Adam (learning_rate=0.05)'``: the racer's label and what differs from its optimizer's
    defaults (``racer`` as a race's config holds it: optimizer, hyperparameters, schedule)."""
    from ..optim import registry

    try:
        spec = registry.get(racer["optimizer"])
        defaults, title = spec.defaults, spec.title
    except (ValueError, KeyError, TypeError):  # a custom optimizer object: no schema to compare against
        defaults, title = {}, None
    diff = [f"{k}={_fmt(v)}" for k, v in (racer.get("hyperparameters") or {}).items() if k in defaults and defaults[k] != v]
    sched = racer.get("schedule") or {}
    if isinstance(sched, Mapping) and sched.get("name", "constant") != "constant":
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in sched.items() if k != "name")
        diff.append(f"schedule={sched['name']}({args})")
    if title and label.startswith(title + " ") and diff:  # "Adam lr=0.3": the legend spells out the same
        label = title
    return f"{label} ({', '.join(diff)})" if diff else label


def labels(racers: Sequence[Any]) -> list[str]:
    """Each racer's label as a race names it (``Racer``s or their config dicts): its own label,
    else its optimizer's title and, where titles repeat, what differs ("Adam lr=0.1")."""
    from .plan import Racer, racer_labels

    return racer_labels([r if isinstance(r, Racer) else Racer(**{k: r[k] for k in ("optimizer", "hyperparameters",
                                                                              "schedule", "label") if k in r})
                    for r in racers])


def looks(racers: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> list[Look]:
    """Every racer's ``Look``; ``racers`` as a race's config holds them, ``names`` their labels
    (default: as the race would name them)."""
    names = list(names) if names is not None else labels(racers)
    optimizers = [str(r["optimizer"]) for r in racers]
    colours, term = racer_colours(optimizers), terminal_colours(optimizers, "standard")
    return [Look(label=n, legend=legend(r, n), colour=c, terminal=t)
            for r, n, c, t in zip(racers, names, colours, term)]


def race_looks(result: Any) -> list[Look]:
    """Every racer's ``Look`` in a finished race (a ``RaceResult``)."""
    return looks(result.config["racers"], result.labels)


def looks_json(items: Sequence[Look]) -> dict[str, list[str]]:
    """What the API sends beside a race: ``colours``, ``labels`` and ``legends``, one per racer."""
    return {"colours": [x.colour for x in items], "labels": [x.label for x in items],
            "legends": [x.legend for x in items]}


def encode_page_state(state: dict[str, Any]) -> str:
    """A web arena page state as its URL carries it (``#s=`` + this): base64url JSON without
    padding, as ``web/static/js/state.js`` reads it. Here so that every face can link to the page
    (the gallery's cells, docs, tests)."""
    import base64
    import json

    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_link(base_url: str, state: dict[str, Any]) -> str:
    """The web arena's link to ``state`` on the server at ``base_url``."""
    return f"{base_url.rstrip('/')}/#s={encode_page_state(state)}"


# -- the anatomy of a step (``arena.anatomy``): how every face draws its arrows ------------------

#: The plain gradient step and the step taken keep their colours; a rule's own terms take the
#: others in order (Okabe-Ito, as the racers'); the stretch of an adaptive rule is drawn in purple.
TERM_FIXED = {"gradient": "#D55E00", "step": "#000000"}
TERM_OTHERS = ("#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
STRETCH_COLOUR = "#7a3e9d"


def term_colours(keys: Sequence[str]) -> list[str]:
    """Each term's arrow colour (``TERM_FIXED``, then ``TERM_OTHERS`` in order)."""
    others = iter(TERM_OTHERS * (1 + len(keys) // len(TERM_OTHERS)))
    return [TERM_FIXED.get(k) or next(others) for k in keys]


def arrow_scale(vectors: Sequence[Any], width: float) -> float:
    """One scale for every arrow of a step: 1 (true size) when the longest arrow is a readable part
    of the window (1/40 to 1/2 of its width), else the power of ten that makes it about a sixth of it."""
    import math

    longest = max((math.hypot(float(v[0]), float(v[1])) for v in vectors), default=0.0)
    if not (longest > 0 and width > 0) or width / 40 <= longest <= width / 2:
        return 1.0
    return float(10.0 ** round(math.log10(width / 6 / longest)))
