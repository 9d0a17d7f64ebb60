"""The page's anatomy panel: one step of one racer (``arena.anatomy``) with its formulas typeset."""

from __future__ import annotations

from typing import Any

from ..arena import RacePlan, presentation
from ..arena.anatomy import anatomy_of, vector_text
from ..export.tex import inline_svg


def payload(plan: RacePlan, racer: int, start: int, step: int) -> dict[str, Any]:
    """``StepAnatomy.to_json`` with an ``svg`` beside every formula (the rule's and each line's),
    each term's ``colour`` and ``text``, the one ``scale`` its arrows are drawn at, the ``heading``
    and the stretch's ``text`` (``presentation``, ``arena.anatomy``: the exports draw and write them
    the same; the page computes none of its own)."""
    a = anatomy_of(plan, racer, start, step)
    out = a.to_json()
    out["rule"] = {"tex": out["rule"], "svg": inline_svg(out["rule"])}
    for line in out["lines"]:
        line["svg"] = inline_svg(line["tex"])
    for term, colour, (_, v) in zip(out["terms"], presentation.term_colours([t["key"] for t in out["terms"]]), a.terms):
        term["colour"], term["text"] = colour, vector_text(v)
    if out["stretch"] is not None:
        out["stretch"]["text"] = a.stretch_text()
    (x0, x1), _ = plan.landscape.window
    out["scale"] = presentation.arrow_scale(a.scale_vectors(), x1 - x0)
    out["heading"] = a.heading()
    out["stretch_colour"] = presentation.STRETCH_COLOUR
    return out
