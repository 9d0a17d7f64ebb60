"""One colour per optimizer name, used by the terminal, the web page, exports and plots."""

from __future__ import annotations

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


def terminal_colour(name: str, index: int = 0, color_system: str | None = "truecolor") -> str:
    """``colour`` as a terminal with ``color_system`` (rich's name for it) can show it apart."""
    if color_system in ("standard", "windows"):
        return TERMINAL.get(name.lower(), _TERMINAL_EXTRA[index % len(_TERMINAL_EXTRA)])
    return colour(name, index)
