"""Formulas as SVG, offline: matplotlib's mathtext (no TeX install, no CDN).

The rules write their formulas in LaTeX (``OptimizerSpec.rule``, the anatomy's lines); mathtext
reads a subset of it, so ``mathtext_source`` first rewrites the few constructs it lacks into
ones it has (cases as a braced list, ``\\tfrac`` as ``\\frac`` ...). Rendering is cached: a
server renders each formula once.
"""

from __future__ import annotations

import functools
import html
import io
import re
import threading

from ._deps import EXTRA, need

#: LaTeX that mathtext lacks -> what it reads (the same formula, drawn a little differently)
_REWRITES = (
    (re.compile(r"\\tfrac"), r"\\frac"),
    (re.compile(r"\\dfrac"), r"\\frac"),
    (re.compile(r"\\[lr]Vert"), r"\\Vert"),
    (re.compile(r"\\[lr]vert"), "|"),
    (re.compile(r"\\operatorname\{([^{}]*)\}"), r"\\mathrm{\1}"),
    (re.compile(r"\\(?:big|Big|bigg|Bigg)([()\[\]|])"), r"\1"),
    (re.compile(r"\\(?:big|Big|bigg|Bigg)\\([{}])"), r"\\\1"),
    (re.compile(r"\\!"), ""),
    (re.compile(r"\\le(?![a-zA-Z])"), r"\\leq"),
    (re.compile(r"\\ge(?![a-zA-Z])"), r"\\geq"),
    (re.compile(r"\\frac(\d)(\d)"), r"\\frac{\1}{\2}"),  # \frac12: TeX reads one digit an argument
)
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)


def _cases(m: re.Match[str]) -> str:
    rows = [r.strip() for r in m.group(1).split(r"\\") if r.strip()]
    parts = []
    for row in rows:
        value, _, cond = row.partition("&")
        parts.append(f"{value.strip()}\\ ({cond.strip()})" if cond.strip() else value.strip())
    return r"\{" + r";\ ".join(parts) + r"\}"


def mathtext_source(tex: str) -> str:
    """``tex`` in the subset of LaTeX that matplotlib's mathtext reads."""
    out = _CASES.sub(_cases, tex)
    for pattern, repl in _REWRITES:
        out = pattern.sub(repl, out)
    return out


_LOCK = threading.Lock()  # mathtext's parser and font cache are shared state


@functools.lru_cache(maxsize=512)
def svg(tex: str, fontsize: float = 13.0) -> str:
    """``tex`` (one formula, without dollars) typeset as an SVG document (text as paths, so it
    shows the same everywhere). Raises ``ValueError`` when mathtext cannot read it."""
    need("matplotlib", EXTRA)
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buf = io.BytesIO()
    with _LOCK:
        mathtext.math_to_image(f"${mathtext_source(tex)}$", buf, prop=FontProperties(size=fontsize), format="svg")
    text = buf.getvalue().decode("utf-8")
    return text[text.index("<svg"):]  # the XML prolog and doctype: not wanted inside a page


def inline_svg(tex: str) -> str | None:
    """``tex`` as SVG to put inside a page (the web panel, the HTML export), or None when it cannot
    be drawn here (no matplotlib, or beyond mathtext: the face shows the TeX instead)."""
    if not tex:
        return None
    try:
        text = svg(tex)
    except (ImportError, ValueError):
        return None
    # The metadata names matplotlib's site and the date (a page that links nowhere, the same bytes
    # each time); comments hold the TeX; the <style> would restyle the whole page's strokes.
    text = re.sub(r"<metadata>.*?</metadata>|<!--.*?-->|<style[^>]*>.*?</style>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text, count=2)
    label = html.escape(tex, quote=True)
    return text.replace("<svg", f'<svg role="img" aria-label="{label}" '
                        'style="stroke-linejoin:round;stroke-linecap:butt;vertical-align:middle"', 1)
