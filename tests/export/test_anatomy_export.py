"""The anatomy of a step in exports: arrows on the PNG/SVG/PDF map and the HTML page's Plotly map,
the rule and its number lines beside them, ``--anatomy RACER:STEP`` on the command line.

Every arrow is read back from what was drawn (the matplotlib figure's quivers, the page's embedded
Plotly annotations) and compared with ``arena.anatomy.explain`` on a traced race (the exports
under test get an untraced one and replay the racer), and for plain SGD with ``-lr * g`` and the
move between recorded positions, computed here from the trace.
"""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from optarena.arena import presentation, race
from optarena.arena.anatomy import StepAnatomy, explain, vector_text
from optarena.cli import main
from optarena.errors import UsageError
from optarena.export import _common as C
from optarena.export import export

RACERS = ["sgd(learning_rate=0.001)", "momentum(learning_rate=0.001)", "momentum(learning_rate=0.001, nesterov=True)",
          "adam(learning_rate=0.05)", "adamw(learning_rate=0.05, weight_decay=0.1)"]
STEPS = 30
STEP = 6


@pytest.fixture(scope="module")
def raced():
    """The same race twice: untraced (what the exports get) and traced (the reference)."""
    plain = race("rosenbrock", RACERS, steps=STEPS)
    traced = race("rosenbrock", RACERS, steps=STEPS, trace=True)
    return plain, traced


def _quivers(ax) -> dict[str, object]:
    from matplotlib.quiver import Quiver

    return {q.get_label(): q for q in ax.collections if isinstance(q, Quiver)}


def _panel_texts(fig) -> list[str]:
    from matplotlib.offsetbox import AnchoredOffsetbox, TextArea

    out: list[str] = []

    def walk(box) -> None:
        if isinstance(box, TextArea):
            out.append(box.get_text())
        else:
            for child in box.get_children():
                walk(child)

    for ax in fig.axes:
        for artist in ax.artists:
            if isinstance(artist, AnchoredOffsetbox):
                walk(artist.get_child())
    return out


def _sgd_reference(traced, racer: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """-lr g from the trace and the move between the recorded positions."""
    g = traced.trace["gradient"][racer, 0, step]
    lr = traced.trace["learning_rate"][racer, 0, step]
    move = traced.positions[racer, 0, step + 1] - traced.positions[racer, 0, step]
    return -lr * g, move


@pytest.mark.parametrize("racer", range(len(RACERS)))
def test_png_arrows_are_the_steps_terms_to_scale(raced, racer):
    pytest.importorskip("matplotlib")
    from optarena.export.images import anatomy_figure

    plain, traced = raced
    ref = explain(traced, racer, 0, STEP)
    a = C.step_anatomy(plain, (racer, STEP), 0)  # untraced: the racer replayed
    fig = anatomy_figure(plain, a)
    ax = next(ax for ax in fig.axes if ax.get_label() == "map")
    quivers = _quivers(ax)
    assert list(quivers) == [t.key for t, _ in ref.terms]  # the plain gradient step first, the step taken last
    (x0, x1), _ = C.landscape(plain).window
    scale = presentation.arrow_scale(ref.scale_vectors(), x1 - x0)
    for t, v in ref.terms:
        q = quivers[t.key]
        assert q.scale_units == "xy" and q.angles == "xy" and q.scale == pytest.approx(1 / scale)
        np.testing.assert_allclose(q.X, [ref.position[0]], rtol=0, atol=1e-12)
        np.testing.assert_allclose(q.Y, [ref.position[1]], rtol=0, atol=1e-12)
        np.testing.assert_allclose([q.U[0], q.V[0]], v, rtol=1e-9, atol=1e-15, err_msg=t.key)
    step = quivers["step"]
    np.testing.assert_allclose([step.U[0], step.V[0]], traced.positions[racer, 0, STEP + 1] - ref.position, rtol=1e-9)
    if racer == 0:  # plain SGD: the gradient step is the step taken, -lr g
        lr_g, move = _sgd_reference(traced, 0, STEP)
        for key in ("gradient", "step"):
            np.testing.assert_allclose([quivers[key].U[0], quivers[key].V[0]], lr_g, rtol=1e-9)
        np.testing.assert_allclose(lr_g, move, rtol=1e-9)
    if 0 < racer < 3:  # momentum: its terms add up to the step taken (what "composes" promises)
        total = sum(np.array([quivers[k].U[0], quivers[k].V[0]]) for k in ref.composes if k in quivers)
        np.testing.assert_allclose(total, [step.U[0], step.V[0]], rtol=1e-9)
    legend = next(ax for ax in fig.axes if ax.get_label() == "anatomy").get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    for t, v in ref.terms:
        assert any(lab.startswith(t.label) and vector_text(v) in lab for lab in labels), (t.label, labels)
    texts = _panel_texts(fig)
    for _, numbers in ref.lines:
        for n in numbers:
            assert any(n in s for s in texts), n
    if ref.stretch is not None:  # Adam-like: the per-coordinate effective learning rate is printed
        assert ref.stretch_text() in texts and ref.stretch_label in ref.stretch_text()
    # the map shows the race at that step: the racer's head is at the arrows' foot
    heads = [ln for ln in ax.lines if ln.get_marker() == "o" and len(ln.get_xdata()) == 1 and ln.get_zorder() == 7]
    np.testing.assert_allclose([heads[racer].get_xdata()[0], heads[racer].get_ydata()[0]], ref.position)


def test_plot_returns_the_anatomy_figure(raced):
    pytest.importorskip("matplotlib")
    from optarena.export import plot

    plain, traced = raced
    fig = plot(plain, anatomy=(1, STEP))
    ax = next(ax for ax in fig.axes if ax.get_label() == "map")
    for t, v in explain(traced, 1, 0, STEP).terms:
        q = _quivers(ax)[t.key]
        np.testing.assert_allclose([q.U[0], q.V[0]], v, rtol=1e-9, atol=1e-15)
    with pytest.raises(UsageError, match="give no ax"):
        plot(plain, ax=ax, anatomy=(1, STEP))


def test_export_writes_the_png_svg_and_pdf(raced, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    plain, _ = raced
    with Image.open(export(plain, tmp_path / "a.png", anatomy=(3, STEP), dpi=50)) as im:
        assert im.size[0] == 650 and 300 <= im.size[1] <= 450  # 13 x 6 inches, taller (up to 9) for Adam's lines
    svg = export(plain, tmp_path / "a.svg", anatomy=(1, 0)).read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert export(plain, tmp_path / "a.pdf", anatomy=(0, STEPS - 1)).read_bytes().startswith(b"%PDF")


def _embedded(text: str) -> dict:
    at = text.index("var D = ") + len("var D = ")
    data, _ = json.JSONDecoder().raw_decode(text, at)
    return data


@pytest.mark.parametrize("racer", [0, 2, 3])
def test_html_has_the_arrows_and_every_number_line(raced, racer, tmp_path):
    pytest.importorskip("plotly")
    pytest.importorskip("PIL")
    from plotly.offline import get_plotlyjs

    plain, traced = raced
    ref = explain(traced, racer, 0, STEP)
    text = export(plain, tmp_path / "a.html", anatomy=(racer, STEP)).read_text(encoding="utf-8")
    data = _embedded(text)
    (x0, x1), _ = C.landscape(plain).window
    scale = presentation.arrow_scale(ref.scale_vectors(), x1 - x0)
    assert data["anatomy"] == {"racer": racer, "start": 0, "step": STEP, "scale": scale}
    arrows = {a["name"]: a for a in data["layout"]["annotations"] if a.get("name", "").startswith("anatomy:")}
    assert list(arrows) == ["anatomy:" + t.key for t, v in ref.terms if np.any(v != 0)]
    for t, v in ref.terms:
        a = arrows["anatomy:" + t.key]
        assert (a["xref"], a["yref"], a["axref"], a["ayref"]) == ("x", "y", "x", "y")
        np.testing.assert_allclose([a["ax"], a["ay"]], ref.position, rtol=0, atol=1e-12)
        np.testing.assert_allclose([(a["x"] - a["ax"]) / scale, (a["y"] - a["ay"]) / scale], v, rtol=1e-7, atol=1e-15)
    if racer == 0:
        lr_g, _ = _sgd_reference(traced, 0, STEP)
        a = arrows["anatomy:gradient"]
        np.testing.assert_allclose([(a["x"] - a["ax"]) / scale, (a["y"] - a["ay"]) / scale], lr_g, rtol=1e-7)
    # the page opens at that step
    assert data["pt"] and plain.status_line(STEP, 0) == data["titles"][data["first"]]
    assert data["layout"]["sliders"][0]["active"] == data["first"]
    panel = text[text.index('<section class="optarena-anatomy"'):]
    for _, numbers in ref.lines:
        for n in numbers:
            assert f"<div>{html.escape(n)}</div>" in panel, n
    for t, v in ref.terms:
        assert html.escape(t.label) in panel and vector_text(v) in panel
    assert panel.count("<svg") >= 1 + sum(1 for tex, _ in ref.lines if tex)  # the rule and each formula, typeset
    if ref.stretch is not None:
        assert html.escape(ref.stretch_text()) in panel
        assert {s["name"] for s in data["layout"]["shapes"]} == {"anatomy:unit", "anatomy:stretch"}
    ours = text.replace(get_plotlyjs(), "")
    for bad in ("<script src", "<link", "@import", "http://", "https://", "mathjax"):
        assert bad not in ours.lower(), bad


def test_bad_anatomy_is_refused_naming_the_field_before_drawing(raced, tmp_path):
    plain, _ = raced
    cases = [((len(RACERS), 0), "racer", f"[0, {len(RACERS) - 1}]"), ((0, STEPS), "step", f"[0, {STEPS - 1}]"),
             ((0, -1), "step", "[0, "), ((True, 1), "racer", "[0, "), ((0, 1.5), "step", "[0, "),
             ("0:1", "anatomy", "pair (racer, step)")]
    for bad, field, text in cases:
        with pytest.raises(UsageError, match=re.escape(text)) as exc:
            export(plain, tmp_path / "x.png", anatomy=bad)
        assert exc.value.field == field
    with pytest.raises(UsageError, match="not .gif") as exc:
        export(plain, tmp_path / "x.gif", anatomy=(0, 1))
    assert exc.value.field == "anatomy"
    dead = race("quadratic", ["sgd(learning_rate=1.5)"], steps=20)
    assert dead.diverged_at[0, 0] == 9
    with pytest.raises(UsageError, match="diverged at step 9") as exc:
        export(dead, tmp_path / "x.html", anatomy=(0, 12))
    assert exc.value.field == "step"
    assert not list(tmp_path.iterdir())  # nothing drawn, nothing written


def test_a_traced_race_is_explained_from_its_trace(raced):
    _, traced = raced
    a = C.step_anatomy(traced, (3, STEP), 0)
    assert isinstance(a, StepAnatomy) and a.racer == 3 and a.label == traced.labels[3]
    ref = explain(traced, 3, 0, STEP)
    assert [t.key for t, _ in a.terms] == [t.key for t, _ in ref.terms]


def test_a_replayed_step_has_the_race_numbers_with_noise_and_a_second_start(tmp_path):
    kw = dict(starts=[(-1.5, 2.0), (1.0, -0.5)], steps=12, noise=0.5, seed=3)
    plain = race("rosenbrock", ["sgd(learning_rate=0.001)", "adam(learning_rate=0.05)"], **kw)
    traced = race("rosenbrock", ["sgd(learning_rate=0.001)", "adam(learning_rate=0.05)"], trace=True, **kw)
    for racer in (0, 1):
        a, ref = C.step_anatomy(plain, (racer, 4), 1), explain(traced, racer, 1, 4)
        np.testing.assert_allclose(a.position, ref.position, rtol=1e-12)
        for (t, v), (u, w) in zip(a.terms, ref.terms):
            assert t.key == u.key
            np.testing.assert_allclose(v, w, rtol=1e-9, atol=1e-15)
    g = traced.trace["gradient"][0, 1, 4]  # the noisy gradient the race used
    np.testing.assert_allclose(dict((t.key, v) for t, v in C.step_anatomy(plain, (0, 4), 1).terms)["gradient"],
                               -0.001 * g, rtol=1e-9)


def test_cli_round_trip_and_bad_values(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "race.png"
    assert main(["export", str(out), "--steps", "20", "--dpi", "40", "--anatomy", "2:5"]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    for value, says in (("9:9999", "RACER in [0, 2], STEP in [0, 19]"), ("0:20", "STEP out of range"),
                        ("1-5", "must be RACER:STEP"), ("-1:3", "must be RACER:STEP")):
        bad = tmp_path / f"bad{len(value)}.png"
        assert main(["export", str(bad), "--steps", "20", f"--anatomy={value}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--anatomy" in err[0] and says in err[0], err
        assert not bad.exists()
    assert main(["export", str(tmp_path / "r.gif"), "--steps", "5", "--anatomy", "0:1"]) == 2
    err = capsys.readouterr().err
    assert "--anatomy" in err and ".html" in err and not (tmp_path / "r.gif").exists()
    html_out = tmp_path / "race.html"
    assert main(["race", "--steps", "15", "--quiet", "--save", str(html_out), "--anatomy", "1:3"]) == 0
    assert _embedded(html_out.read_text(encoding="utf-8"))["anatomy"]["step"] == 3


def test_help_names_the_format():
    import argparse

    from optarena.export import add_export_arguments, anatomy_arg

    ap = argparse.ArgumentParser()
    add_export_arguments(ap)
    assert "RACER:STEP" in ap.format_help()
    assert ap.parse_args([]).anatomy is None
    # what a command checks with its plan before it races
    assert anatomy_arg(ap.parse_args(["--anatomy", "2:19"]), 3, 20, "x.html") == (2, 19)
    assert anatomy_arg(ap.parse_args([]), 3, 20, None) is None
    for value, path, says in (("9:9999", "x.png", "RACER in [0, 2], STEP in [0, 19]"), ("2:20", "x.svg", "STEP out"),
                              ("a:b", "x.png", "must be RACER:STEP"), ("0:1", "x.mp4", "not x.mp4"),
                              ("0:1", None, "there is none")):
        with pytest.raises(UsageError, match=re.escape(says)) as exc:
            anatomy_arg(ap.parse_args(["--anatomy", value]), 3, 20, path)
        assert exc.value.field == "--anatomy" and str(exc.value).startswith("--anatomy")


def test_a_race_read_back_from_json_is_replayed_and_a_custom_racer_is_refused(raced, tmp_path):
    from optarena.arena import RaceResult

    plain, traced = raced
    back = RaceResult.from_json(plain.to_json())
    assert back.trace is None
    a, ref = C.step_anatomy(back, (3, STEP), 0), explain(traced, 3, 0, STEP)
    for (t, v), (u, w) in zip(a.terms, ref.terms):
        np.testing.assert_allclose(v, w, rtol=1e-9, atol=1e-15, err_msg=t.key)

    class Halving:
        def update(self, params, gradients):
            return params - 0.01 * gradients

    mixed = race("quadratic", ["sgd", Halving()], steps=5)
    with pytest.raises(UsageError, match="register it") as exc:
        export(mixed, tmp_path / "x.png", anatomy=(1, 2))
    assert exc.value.field == "racer" and not (tmp_path / "x.png").exists()
    assert C.step_anatomy(mixed, (0, 2), 0).optimizer == "sgd"  # its registered neighbour is explained


def test_html_opens_at_the_step_with_its_arrows_in_chromium(raced, tmp_path):
    from test_export import CHROMIUM, CHROMIUM_ARGS, _need, _open, needs_chromium  # the export tests' offline browser

    if needs_chromium.args[0]:
        pytest.skip(needs_chromium.kwargs["reason"])
    _need("plotly", "PIL", "playwright")
    from playwright.sync_api import sync_playwright

    plain, traced = raced
    ref = explain(traced, 3, 0, STEP)
    path = export(plain, tmp_path / "a.html", anatomy=(3, STEP))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page, log = _open(browser, path.as_uri())
        try:
            page.wait_for_selector(".gtitle", timeout=20_000)
            assert page.text_content(".gtitle") == plain.status_line(STEP)
            drawn = page.evaluate("""(() => { const gd = document.querySelector('.optarena-race');
                return gd.layout.annotations.filter((a) => (a.name || '').startsWith('anatomy:'))
                  .map((a) => [a.name, (a.x - a.ax), (a.y - a.ay)]); })()""")
            scale = _embedded(path.read_text(encoding="utf-8"))["anatomy"]["scale"]
            assert [d[0] for d in drawn] == ["anatomy:" + t.key for t, _ in ref.terms]
            for (_, dx, dy), (t, v) in zip(drawn, ref.terms):
                np.testing.assert_allclose([dx / scale, dy / scale], v, rtol=1e-7, err_msg=t.key)
            # drawn, not only listed (Plotly leaves out an arrow under a pixel: one scale for all, as on the web)
            assert page.locator(".annotation-arrow-g").count() >= 1
            sizes = page.evaluate("Array.from(document.querySelectorAll('.optarena-anatomy svg'))"
                                  ".map((s) => s.getBoundingClientRect().width)")
            assert len(sizes) == 1 + len(ref.lines) and min(sizes) > 10  # the rule and each formula typeset
        finally:
            page.close()
            browser.close()
    assert log == {"external": [], "errors": []}
