"""The page's anatomy panel: one step of one racer (``arena.anatomy``) with its formulas typeset."""

from __future__ import annotations

from typing import Any

from ..arena import RacePlan
from ..arena.anatomy import anatomy_of


def typeset(tex: str) -> str | None:
    """``tex`` as SVG, or None when it cannot be drawn here (no matplotlib: the page shows the TeX)."""
    if not tex:
        return None
    try:
        from ..export.tex import svg

        return svg(tex)
    except (ImportError, ValueError):
        return None


def payload(plan: RacePlan, racer: int, start: int, step: int) -> dict[str, Any]:
    """``StepAnatomy.to_json`` with an ``svg`` beside every formula (the rule's and each line's)."""
    out = anatomy_of(plan, racer, start, step).to_json()
    out["rule"] = {"tex": out["rule"], "svg": typeset(out["rule"])}
    for line in out["lines"]:
        line["svg"] = typeset(line["tex"])
    return out
