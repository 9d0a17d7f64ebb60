"""Races beyond the plane on the page (issue 15's web part), in real headless Chromium: what the
page draws (the plane's title with its variance share, axis labels, paths, contours, status line,
singular values) is held to the API's answer for the request the page sent. The fixture fails on
any console error."""

from __future__ import annotations

import json
import re
import urllib.request

import numpy as np
import pytest

from conftest import ARTIFACTS, open_page

NOT_A_WORD = re.compile(r"\b(NaN|null|undefined)\b")
IDLE = "!window.arena.inflight"


@pytest.fixture
def page(browser, server_url):
    with open_page(browser, server_url, 1400, 950) as pg:
        yield pg


def _answer(server_url: str, request: dict) -> dict:
    """The API's answer to the request the page sent."""
    req = urllib.request.Request(server_url + "/api/race", data=json.dumps(request).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def _wait(pg, condition: str) -> None:
    pg.wait_for_function(f"window.arena.race && ({condition}) && {IDLE}", timeout=30000)


def _points(rows: list) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in p] for p in rows], dtype=np.float64)


def _drawn_paths(pg) -> dict[str, np.ndarray]:
    """The map's path traces (the faint full paths, by legend) as drawn."""
    traces = pg.evaluate("""document.getElementById('map').data.filter((t) => t.mode === 'lines')
        .map((t) => [t.name, t.x, t.y])""")
    return {name: np.column_stack([x, y]) for name, x, y in traces}


def _seek(pg, k: int) -> None:
    pg.locator("#timeline").evaluate(f"(el) => {{ el.value = {k}; el.dispatchEvent(new Event('input')); }}")


def test_a_quadratic_in_d_dimensions_races_on_its_pca_plane_and_switches_plane(page, browser, server_url):
    page.select_option("#landscape", "quadratic_nd")
    _wait(page, "window.arena.race.config.landscape.name === 'quadratic_nd'")
    assert page.is_visible("#planeBox") and not page.is_visible("#singularBox")
    assert page.is_disabled("#surface") and page.is_disabled("#anatomy")
    box = page.locator("#landscapeParams input[aria-label='d value']")
    box.fill("30")
    box.dispatch_event("change")
    _wait(page, "window.arena.race.view.dim === 30")
    request = page.evaluate("window.arena.raceRequest")
    assert request["view"] == "pca" and "starts" not in request and request["landscape"]["params"]["d"] == 30
    want = _answer(server_url, request)
    view = want["view"]
    # the title with the share of the paths' variance, the axes as the plane names them
    assert page.evaluate("document.getElementById('map').layout.title.text") == view["title"].replace("\n", "<br>")
    drawn_title = page.text_content("#map .gtitle")
    assert "PCA plane of the paths" in drawn_title and f"{100 * view['explained']:.1f}% of their variance" in drawn_title
    assert page.text_content("#map .xtitle") == "PC 1" and page.text_content("#map .ytitle") == "PC 2"
    # every path as the answer projects it, and the contours as the answer's grid colours them
    paths = _drawn_paths(page)
    for run in want["runs"]:
        np.testing.assert_allclose(paths[want["legends"][run["racer"]]], _points(run["positions"]), rtol=1e-12)
    contour = page.evaluate("document.getElementById('map').data[0]")
    assert contour["type"] == "contour" and len(contour["x"]) == view["n"]
    np.testing.assert_allclose(np.array(contour["z"], dtype=np.float64), np.array(view["colour"], dtype=np.float64))
    # the status line and scrubbing as on the plane; the loss chart is the d-dimensional race's
    assert page.inner_text("#status") == want["status"][0]
    _seek(page, 37)
    assert page.inner_text("#status") == want["status"][37]
    loss = page.evaluate("document.getElementById('lossPlot').data[2].y")
    np.testing.assert_allclose(loss, np.maximum(np.array(want["runs"][2]["losses"]) - want["min_value"], 1e-16), rtol=1e-12)
    assert not NOT_A_WORD.search(page.evaluate("document.body.innerText"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "nd-quadratic-pca.png"))

    # two coordinates (shown from 1, as the axes name them): the race is asked again with that view
    page.select_option("#plane", "coordinates")
    page.fill("#planeI", "3")
    page.dispatch_event("#planeI", "change")
    page.fill("#planeJ", "5")
    page.dispatch_event("#planeJ", "change")
    _wait(page, "window.arena.race.view.kind === 'coordinates' && window.arena.race.view.coordinates[1] === 4")
    request = page.evaluate("window.arena.raceRequest")
    assert request["view"] == "coordinates" and request["view_coordinates"] == [2, 4]
    want = _answer(server_url, request)
    assert "coordinates x3 and x5" in page.text_content("#map .gtitle") and page.text_content("#map .xtitle") == "x3"
    paths = _drawn_paths(page)
    np.testing.assert_allclose(paths[want["legends"][0]], _points(want["runs"][0]["positions"]), rtol=1e-12)

    # the link keeps the landscape, its parameters and the plane
    url = page.url
    with open_page(browser, server_url, 1400, 950, link=url[url.index("#"):]) as other:
        _wait(other, "window.arena.race.view")
        assert other.evaluate("window.arena.raceRequest") == request
        assert other.text_content("#map .gtitle") == page.text_content("#map .gtitle")
        assert other.input_value("#plane") == "coordinates" and other.input_value("#planeJ") == "5"


def test_a_deep_linear_network_shows_each_racers_singular_values_against_the_targets(page, server_url):
    page.select_option("#landscape", "deep_linear")
    _wait(page, "window.arena.race.config.landscape.name === 'deep_linear'")
    assert page.is_visible("#singularBox") and not page.is_visible("#svWrap")
    # a matrix landscape offers the matrix rules (Muon) beside the per-element ones
    assert page.locator("[data-racer='0'] select[aria-label='optimizer'] option[value='muon']").count() == 1
    page.check("#singular")
    page.wait_for_function("document.getElementById('svPlot').data && !document.getElementById('svWrap').hidden")
    want = _answer(server_url, page.evaluate("window.arena.raceRequest"))
    assert "Deep linear network" in page.text_content("#map .gtitle")
    traces = {t["name"]: t for t in page.evaluate("document.getElementById('svPlot').data")}
    sv = want["singular_values"]
    for i, label in enumerate(want["labels"]):
        for j in range(len(want["target_singular_values"])):
            np.testing.assert_allclose(traces[f"{label} σ{j + 1}"]["y"], [row[j] for row in sv[i]], rtol=1e-12)
    targets = [t for name, t in traces.items() if name.startswith("target")]
    assert sorted(t["y"][0] for t in targets) == sorted(want["target_singular_values"]) == [0.5, 1.0, 2.0, 4.0]
    assert all(t["line"]["dash"] == "dash" and t["y"][0] == t["y"][1] for t in targets)
    _seek(page, 60)
    assert page.inner_text("#status") == want["status"][60]
    assert not NOT_A_WORD.search(page.evaluate("document.body.innerText"))
    page.screenshot(path=str(ARTIFACTS / "nd-deep-linear-singular.png"))
