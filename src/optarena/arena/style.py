"""Colours for every face: one per optimizer name, and per racer of a race (``racer_colours``),
used by the terminal, the web page, exports and plots alike."""

from __future__ import annotations

from typing import Sequence

# Colour-blind-aware (Okabe-Ito first, then Tableau); the article's three get the first three.
COLOURS: dict[str, str] = {
    "sgd": "#0072B2", "momentum": "#E69F00", "adam": "#009E73", "adamw": "#CC79A7",
    "nadam": "#D55E00", "radam": "#56B4E9", "rmsprop": "#8C564B", "adagrad": "#7F7F7F",
    "adadelta": "#BCBD22", "adamax": "#17BECF", "lion": "#9467BD",
}
_EXTRA = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#E377C2", "#17BECF", "#BCBD22"]
#: On a terminal of 8 or 16 colours the hex colours collapse (SGD's blue and Adam's green both
#: become cyan): there each optimizer gets a distinct standard colour, the article's three first.
TERMINAL: dict[str, str] = {
    "sgd": "blue", "momentum": "yellow", "adam": "green", "adamw": "magenta", "nadam": "red", "radam": "cyan",
    "rmsprop": "bright_red", "adagrad": "bright_black", "adadelta": "bright_yellow", "adamax": "bright_cyan",
    "lion": "bright_magenta",
}
_TERMINAL_EXTRA = ["bright_blue", "bright_green", "white", "bright_white"]


def colour(name: str, index: int = 0) -> str:
    """The colour of optimizer ``name``; unknown names (custom optimizers) cycle a fixed list."""
    return COLOURS.get(name.lower(), _EXTRA[index % len(_EXTRA)])


def racer_colours(optimizers: Sequence[str]) -> list[str]:
    """Each racer's colour, in race order: its optimizer's, except that a racer whose colour is
    taken (a repeated optimizer) gets the first colour no racer has yet. Every face draws a race
    with these."""
    pool = list(COLOURS.values()) + _EXTRA
    out: list[str] = []
    for i, name in enumerate(optimizers):
        c = colour(name, i)
        if c in out:
            c = next((p for p in pool if p not in out), c)
        out.append(c)
    return out


def terminal_colour(name: str, index: int = 0, color_system: str | None = "truecolor") -> str:
    """``colour`` as a terminal with ``color_system`` (rich's name for it) can show it apart."""
    if color_system in ("standard", "windows"):
        return TERMINAL.get(name.lower(), _TERMINAL_EXTRA[index % len(_TERMINAL_EXTRA)])
    return colour(name, index)
