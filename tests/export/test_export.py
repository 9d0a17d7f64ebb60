"""Exports: images, animations, self-contained HTML (in headless Chromium), tables, notebook hooks."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from optarena.arena import RaceResult, presentation, race
from optarena.export import _common as C
from optarena.export import add_export_arguments, animate, export, export_from_args, plot, repr_html, to_frame

from scripts import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# in CI (.ci/run installs it) a missing chromium fails these tests instead of skipping them
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI", "").strip().lower() not in ("1", "true", "yes"),
                                    reason="needs Debian's chromium at /usr/bin/chromium")


def _need(*modules: str) -> None:
    for m in modules:
        pytest.importorskip(m)


# -- pieces shared by every face --------------------------------------------------------------

def test_frame_steps_are_even_and_keep_both_ends():
    assert C.frame_steps(100, 20, None).tolist() == list(range(101))
    ks = C.frame_steps(1000, 20, 2.0)
    assert len(ks) == 40 and ks[0] == 0 and ks[-1] == 1000 and np.all(np.diff(ks) > 0)
    assert len(C.frame_steps(10_000, 20, None)) == C.MAX_DEFAULT_FRAMES
    assert C.frame_steps(5, 10, 2.0).tolist()[:3] == [0, 0, 1]  # more frames than steps: steps repeat


def test_repeated_optimizers_get_distinct_colours(diverging, rosen):
    sgd, momentum, adam = presentation.ARTICLE["sgd"], presentation.ARTICLE["momentum"], presentation.ARTICLE["adam"]
    assert C.colours(rosen) == [sgd, momentum, adam]  # the article's race keeps the article's colours
    cols = C.colours(diverging)  # sgd, adam, adam
    assert cols[:2] == [sgd, adam] and len(set(cols)) == 3 and set(cols) <= set(presentation.PALETTE)


def test_legend_names_only_what_differs_from_the_defaults(diverging):
    res = race("quadratic", ["adam", "momentum(learning_rate=0.0005, schedule=cosine(t_max=50))"], steps=5)
    assert C.legend_label(res, 0) == "Adam"
    assert C.legend_label(res, 1).startswith("Momentum (learning_rate=0.0005, schedule=cosine(t_max=50")
    assert diverging.labels[1:] == ["Adam lr=0.1, beta1=0.9", "Adam lr=0.3, beta1=0.8"]  # what differs
    assert C.legend_label(diverging, 2) == "Adam (learning_rate=0.3, beta1=0.8)"


def test_non_positive_losses_are_shifted_for_the_log_axis():
    res = race("saddle", ["sgd(learning_rate=0.05)"], starts=[(0.5, 0.1)], steps=30)
    assert np.nanmin(res.losses) < 0
    sc = C.loss_scale(res, 0)
    assert np.all(sc(res.losses[0, 0]) > 0) and "loss −" in sc.label
    pos = race("quadratic", ["sgd"], steps=5)
    assert C.loss_scale(pos, 0).label == "loss (log scale)"


def test_bad_extension_and_options_are_refused(rosen, tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf, \.gif, \.mp4, \.html, \.csv, \.json"):
        export(rosen, tmp_path / "race.bmp")
    bad = [({"fps": 0}, "fps"), ({"duration": -1.0}, "duration"), ({"dpi": 5}, "dpi"), ({"start": 1}, "start")]
    for kw, what in bad:
        with pytest.raises(ValueError, match=what):
            export(rosen, tmp_path / "race.csv", **kw)
    with pytest.raises(ValueError, match="animate writes"):
        animate(rosen, tmp_path / "race.png")


def test_missing_packages_name_the_extra(rosen, tmp_path, monkeypatch):
    needs = [("matplotlib", "png"), ("PIL.Image", "gif"), ("imageio_ffmpeg", "mp4"), ("plotly.offline", "html")]
    for mod, ext in needs:
        with monkeypatch.context() as m:
            m.setitem(sys.modules, mod, None)
            with pytest.raises(ImportError, match=re.escape("pip install 'optarena[export]'")):
                export(rosen, tmp_path / f"race.{ext}", dpi=20, duration=0.1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        to_frame(rosen)


# -- tables -----------------------------------------------------------------------------------

def test_json_round_trips(diverging, tmp_path):
    back = RaceResult.from_json(export(diverging, tmp_path / "r.json").read_text())
    assert back.config == diverging.config and back.labels == diverging.labels
    for key in ("positions", "losses", "grad_norms", "step_sizes", "diverged_at"):
        np.testing.assert_array_equal(getattr(back, key), getattr(diverging, key))


def test_csv_round_trips(diverging, formula, tmp_path):
    for res in (diverging, formula):
        rows = list(csv.DictReader(io.StringIO(export(res, tmp_path / "r.csv").read_text())))
        R, S, T = res.losses.shape
        assert len(rows) == R * S * T
        got = {k: np.full((R, S, T), -1.0) for k in ("x", "y", "loss", "grad_norm", "step_size")}
        for row in rows:
            i, s, t = res.labels.index(row["racer"]), int(row["start"]), int(row["step"])
            assert row["optimizer"] == res.optimizers[i]
            for k, a in got.items():
                a[i, s, t] = float(row[k]) if row[k] else math.nan
        np.testing.assert_array_equal(got["x"], res.positions[..., 0])
        np.testing.assert_array_equal(got["y"], res.positions[..., 1])
        np.testing.assert_array_equal(got["loss"], res.losses)
        np.testing.assert_array_equal(got["grad_norm"], res.grad_norms)
        np.testing.assert_array_equal(got["step_size"], res.step_sizes)


def test_to_frame_has_a_row_per_racer_start_step(formula):
    pytest.importorskip("pandas")
    df = to_frame(formula)
    assert list(df.columns) == ["racer", "optimizer", "start", "step", "x", "y", "loss", "grad_norm", "step_size"]
    assert len(df) == formula.losses.size
    row = df[(df.racer == "Adam") & (df.start == 1) & (df.step == 7)].iloc[0]
    assert (row.x, row.y, row.loss) == (*formula.positions[1, 1, 7], formula.losses[1, 1, 7])


# -- still images -----------------------------------------------------------------------------

def test_png_has_the_figure_size_in_pixels(rosen, tmp_path):
    _need("matplotlib", "PIL")
    from PIL import Image

    for dpi, size in [(100, (1100, 500)), (40, (440, 200))]:
        with Image.open(export(rosen, tmp_path / f"r{dpi}.png", dpi=dpi)) as im:
            assert im.size == size and im.mode in ("RGB", "RGBA")


def test_svg_and_pdf(formula, tmp_path):
    _need("matplotlib")
    svg = export(formula, tmp_path / "r.svg")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.findall(".//{*}path")
    assert f"<!-- {formula.status_line(40)} -->" in svg.read_text()  # matplotlib notes each text drawn as paths
    pdf = export(formula, tmp_path / "r.pdf", start=1).read_bytes()
    assert pdf.startswith(b"%PDF") and re.search(rb"/Type\s*/Pages?\b", pdf) and pdf.rstrip().endswith(b"%%EOF")


def test_plot_marks_divergence_and_draws_into_a_given_axes(diverging):
    _need("matplotlib")
    from matplotlib.figure import Figure

    fig = plot(diverging)
    ax_map, ax_loss = fig.axes[0], fig.axes[1]
    assert ax_loss.get_yscale() == "log"
    assert any(t.get_text() == "diverged at step 9" for t in ax_map.texts)
    assert fig._suptitle.get_text() == diverging.status_line(30)
    heads = [ln for ln in ax_map.lines if ln.get_marker() == "X"]
    assert len(heads) == 1
    own = Figure()
    ax = own.subplots()
    assert plot(diverging, ax=ax) is own and len(own.axes) == 2  # the map and its colour bar
    assert ax.get_legend() is not None and any(t.get_text() == "diverged at step 9" for t in ax.texts)


# -- animations -------------------------------------------------------------------------------

def test_gif_frames_size_and_motion(rosen, tmp_path):
    _need("matplotlib", "PIL")
    from PIL import Image, ImageSequence

    path = export(rosen, tmp_path / "r.gif", fps=10, duration=2.0)
    with Image.open(path) as im:
        assert im.n_frames == 20 and im.size == (1100, 500) and im.info["loop"] == 0
        assert im.info["duration"] == 100
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    assert not np.array_equal(frames[0], frames[-1])
    assert np.abs(frames[0].astype(int) - frames[-1]).sum(axis=2).astype(bool).mean() > 0.005


def test_mp4_is_readable_with_the_frame_count(diverging, tmp_path):
    _need("matplotlib", "imageio_ffmpeg")
    import imageio_ffmpeg

    for dpi, (w, h) in [(40, (440, 200)), (41, (452, 206))]:  # 451 x 205: padded to even sides for yuv420p
        path = export(diverging, tmp_path / f"r{dpi}.mp4", fps=10, duration=1.5, dpi=dpi)
        assert imageio_ffmpeg.count_frames_and_secs(str(path)) == (15, 1.5)
        # Decoded by the bundled ffmpeg (imageio_ffmpeg.read_frames leaves its pipes open when
        # ffmpeg exits by itself: a ResourceWarning).
        raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        assert len(raw) == 15 * h * w * 3
        frames = np.frombuffer(raw, np.uint8).reshape(15, h, w, 3)
        assert not np.array_equal(frames[0], frames[-1])
        assert frames[0, h // 2, -1].min() > 200  # the padding column is white


def test_cli_hooks(rosen, tmp_path):
    _need("matplotlib", "PIL")
    from PIL import Image

    ap = argparse.ArgumentParser()
    add_export_arguments(ap)
    args = ap.parse_args(["--fps", "5", "--duration", "1", "--dpi", "30"])
    with Image.open(export_from_args(rosen, tmp_path / "r.gif", args)) as im:
        assert im.n_frames == 5 and im.size == (330, 150)
    assert ap.parse_args([]).fps == 20 and ap.parse_args([]).duration is None


def test_a_second_start_and_a_formula_animate(formula, tmp_path):
    _need("matplotlib", "PIL")
    from PIL import Image

    with Image.open(animate(formula, tmp_path / "r.gif", fps=5, duration=1, dpi=30, start=1)) as im:
        assert im.n_frames == 5


# -- HTML -------------------------------------------------------------------------------------

def _bundle() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def test_html_loads_nothing_from_the_network(diverging, tmp_path):
    _need("plotly", "PIL")
    text = export(diverging, tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count(_bundle()) == 1
    ours = text.replace(_bundle(), "")
    for bad in ("<script src", "<link", "@import", "src=\"http", "href=\"http", "http://", "https://", "mathjax"):
        assert bad not in ours.lower(), bad
    assert "diverged at step 9" in ours and "Step 0 / 30" in ours


def test_repr_html_is_a_guarded_fragment(rosen):
    _need("plotly", "PIL")
    frag = repr_html(rosen)
    assert frag.count(_bundle()) == 1 and 'if (typeof window.Plotly === "undefined")' in frag
    assert "<html" not in frag and re.search(r'<div id="optarena-[0-9a-f]+"', frag)
    assert re.findall(r'id="(optarena-[0-9a-f]+)"', frag) != re.findall(r'id="(optarena-[0-9a-f]+)"', repr_html(rosen))


@pytest.fixture(scope="module")
def browser():
    _need("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url: str):
    """A page that refuses (and records) every request that is not for a local file."""
    page = browser.new_page(viewport={"width": 1200, "height": 720})
    log: dict[str, list[str]] = {"external": [], "errors": []}

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            log["external"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.goto(url)
    return page, log


@needs_chromium
def test_html_plays_offline_in_chromium(rosen, browser, tmp_path):
    _need("plotly", "PIL")
    path = export(rosen, tmp_path / "race.html", fps=50)
    page, log = _open(browser, path.as_uri())
    try:
        page.wait_for_selector(".gtitle", timeout=20_000)
        assert page.text_content(".gtitle").startswith("Step 0 / 100 | SGD Loss: 24.2000")
        page.click("text=Play")
        page.wait_for_function("document.querySelector('.gtitle').textContent.startsWith('Step 100 / 100')",
                               timeout=15_000)
        assert page.text_content(".gtitle") == rosen.status_line(100)
        # The map (an inlined image under the axes) survives the animation, and the paths are drawn.
        assert page.locator(".imagelayer image").count() == 1
        assert page.evaluate("document.querySelector('.optarena-race').data[3].x.length") == 101
        # The timeline scrubs every racer together.
        page.evaluate("""Plotly.animate(document.querySelector('.optarena-race'), ['50'],
                         {mode: 'immediate', frame: {duration: 0, redraw: false}, transition: {duration: 0}})""")
        page.wait_for_function("document.querySelector('.gtitle').textContent.startsWith('Step 50 / 100')",
                               timeout=5_000)
        lens = page.evaluate("[3, 7, 11].map(i => document.querySelector('.optarena-race').data[i].x.length)")
        assert lens == [51, 51, 51]
        buttons = page.evaluate("Array.from(document.querySelectorAll('.modebar-btn')).map(e => e.dataset.title)")
        assert buttons and not any("Share" in b for b in buttons)  # nothing that uploads the race
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "export_html.png"))
    finally:
        page.close()
    assert log == {"external": [], "errors": []}


@needs_chromium
def test_repr_html_renders_twice_in_one_page(rosen, diverging, browser, tmp_path):
    _need("plotly", "PIL")
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
                    f"<div class='cell'>{repr_html(rosen)}</div><div class='cell'>{repr_html(diverging)}</div>"
                    f"</body></html>", encoding="utf-8")
    page, log = _open(browser, path.as_uri())
    try:
        page.wait_for_function("document.querySelectorAll('.optarena-race .main-svg').length >= 2", timeout=20_000)
        titles = page.locator(".gtitle").all_text_contents()
        assert titles == [rosen.status_line(0), diverging.status_line(0)]
    finally:
        page.close()
    assert log == {"external": [], "errors": []}


# -- the benchmark still runs -----------------------------------------------------------------

def test_bench_export_runs():
    _need("matplotlib", "PIL", "imageio", "imageio_ffmpeg")
    out = run_benchmark("bench_export", "--steps", "10", "--rounds", "1", "--dpi", "30", timeout=120)
    for name in ("optarena GIF", "optarena MP4", "naive redraw-every-frame GIF"):
        assert f"| {name} |" in out


def test_a_landscape_without_a_minimum_is_drawn_with_plain_loss_and_no_star(tmp_path):
    # Issue 11 item 6: on the saddle there is no "loss - min" and no minimum to star.
    from optarena.export import html, images

    res = race("saddle", ["adam(learning_rate=0.1)", "momentum(learning_rate=0.02)"], starts=[(0.5, 0.05)], steps=30)
    final = res.losses[:, 0, -1]
    assert np.all(np.isfinite(final)) and final.max() < 0  # both escaped downhill: negative losses to draw
    fig = html.figure_data(res)
    layout = fig["layout"]
    assert layout["yaxis2"]["type"] == "linear" and layout["yaxis2"]["title"]["text"] == "loss"
    assert layout["yaxis2"]["range"][0] < final.min()
    assert not [t for t in fig["traces"] if t.get("name") == "minimum" and (t["x"] or t.get("showlegend", True))]
    drawn = images.figure(res)
    assert "minimum" not in [t.get_text() for t in drawn.legends[0].get_texts()]
    assert "minimum" in [t.get_text() for t in images.figure(race("quadratic", steps=5)).legends[0].get_texts()]
