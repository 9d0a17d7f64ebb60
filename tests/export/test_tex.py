"""Every formula the page typesets renders offline (matplotlib's mathtext), rewritten where
mathtext lacks a construct; the SVG carries its glyphs as paths."""

from __future__ import annotations

import re

import pytest

from optarena.export.tex import mathtext_source, svg
from optarena.optim import registry

pytest.importorskip("matplotlib")


def _formulas() -> list[tuple[str, str]]:
    """Every distinct formula a face typesets (rules share lines and terms: each is drawn once)."""
    out: dict[str, str] = {}
    for name in registry.names():
        spec = registry.get(name)
        out.setdefault(spec.rule, f"{name}-rule")
        if spec.anatomy is not None:
            for i, ln in enumerate(spec.anatomy.lines):
                if ln.tex:
                    out.setdefault(ln.tex, f"{name}-line{i}")
            for t in spec.anatomy.terms:
                out.setdefault(t.tex, f"{name}-{t.key}")
    return [(where, tex) for tex, where in out.items()]


@pytest.mark.parametrize("tex", [t for _, t in _formulas()], ids=[i for i, _ in _formulas()])
def test_every_formula_typesets(tex: str) -> None:
    out = svg(tex)
    assert out.startswith("<svg") and out.rstrip().endswith("</svg>")
    assert "<path" in out or "<use" in out  # glyphs drawn, not left as text a browser would need fonts for


def test_the_rewrites_keep_the_formula() -> None:
    assert mathtext_source(r"\tfrac12 \lVert u \rVert \le c") == r"\frac{1}{2} \Vert u \Vert \leq c"
    assert mathtext_source(r"\operatorname{sign}(g)\big(x\big)") == r"\mathrm{sign}(g)(x)"
    cases = mathtext_source(r"U = \begin{cases} a & \text{nesterov} \\ b & \text{else} \end{cases}")
    assert cases == r"U = \{a\ (\text{nesterov});\ b\ (\text{else})\}"
    assert mathtext_source(r"\leftarrow \geq") == r"\leftarrow \geq"  # whole commands only


def test_what_mathtext_cannot_read_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        svg(r"\begin{align} x \end{align}")
    assert re.search(r"<svg", svg(r"x^2"))
