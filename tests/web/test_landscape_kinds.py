"""Every kind of landscape on the page: a minimum, a lower bound only, or none (the saddles, typed
formulas such as 1/x), and each landscape's default racers.

Each test drives real headless Chromium (the fixture fails on any console error) and saves what
it saw under test-artifacts/.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from conftest import ARTIFACTS, open_page

ARTICLE = "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
NOT_A_WORD = re.compile(r"\b(NaN|null|undefined)\b")
IDLE = "!window.arena.inflight"


def _shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"kinds-{name}.png"))


def _landscapes(server_url: str) -> dict[str, dict]:
    with urllib.request.urlopen(server_url + "/api/landscapes", timeout=10) as r:
        return {ls["name"]: ls for ls in json.load(r)}


def _pick(pg, name: str) -> None:
    pg.select_option("#landscape", name)
    pg.wait_for_function(f"window.arena.race && window.arena.race.config.landscape.name === '{name}' && {IDLE}",
                         timeout=20000)


def _type_formula(pg, text: str) -> None:
    pg.select_option("#landscape", "__formula__")
    pg.fill("#formula", text)
    pg.wait_for_function(f"window.arena.race && window.arena.race.config.landscape.formula === {json.dumps(text)} && {IDLE}",
                         timeout=20000)


def _play_to_end(pg) -> str:
    pg.select_option("#speed", "300")
    pg.evaluate("document.activeElement && document.activeElement.blur()")
    pg.click("#play")
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('Step 100 / 100') && !window.arena.playing",
                         timeout=20000)
    return pg.inner_text("#status")


def _seek(pg, k: int) -> None:
    pg.locator("#timeline").evaluate(f"(el) => {{ el.value = {k}; el.dispatchEvent(new Event('input')); }}")


def _racers(pg) -> list[dict]:
    """The page's racers as the server's default_racers write them."""
    return pg.evaluate("window.arena.state.racers.map((r) => ({optimizer: r.optimizer, hyperparameters: r.hyperparameters}))")


def _map_points(pg) -> dict[str, list]:
    """The map's marked points by trace name (minimum stars, saddle point), as drawn."""
    return pg.evaluate("""Object.fromEntries(document.getElementById('map').data
        .filter((t) => t.type === 'scatter' && t.marker && t.marker.symbol !== undefined && t.mode === 'markers')
        .map((t) => [t.name, t.x.map((x, i) => [x, t.y[i]])]))""")


def _stars(pg) -> int:
    return pg.evaluate("""document.getElementById('map').data
        .filter((t) => t.marker && t.marker.symbol === 'star').reduce((n, t) => n + t.x.length, 0)""")


def _no_broken_words(pg) -> None:
    text = pg.evaluate("document.body.innerText") + " " + pg.evaluate("document.getElementById('status').title")
    assert not NOT_A_WORD.search(text), NOT_A_WORD.search(text).group(0)


def _check_without_minimum(pg, note: str, saddle: list | None) -> None:
    """A race on a landscape that claims no minimum, played to the end."""
    race = pg.evaluate("window.arena.race")
    assert race["min_value"] is None and race["distance"] is None  # what this test is about
    # the loss chart plots the loss itself (never loss - null, never clamped to a log floor)
    loss = pg.evaluate("(() => { const d = document.getElementById('lossPlot'); return {type: d.layout.yaxis.type, "
                       "title: d.layout.title.text, y: d.data.map((t) => t.y)}; })()")
    assert loss["type"] != "log" and "min" not in loss["title"] and "loss" in loss["title"], loss
    runs = [r for r in race["runs"] if r["start"] == 0]
    for run, ys in zip(runs, loss["y"]):
        for v, y in zip(run["losses"], ys):
            assert (v is None) == (y is None)
            if v is not None:
                assert (v > 0) == (y > 0) and (v < 0) == (y < 0), (run["label"], v, y)
    assert any(v is not None and v < 0 for run in runs for v in run["losses"])  # the plot has somewhere to fall
    # no distance to a minimum: the chart's place says why, in the landscape's words
    assert not pg.is_visible("#distPlot")
    assert pg.is_visible("#distNote")
    assert pg.inner_text("#distNote").startswith(f"no minimum: {note}")
    # no minimum star; the saddle, where one is declared, is marked
    assert _stars(pg) == 0
    points = _map_points(pg)
    if saddle is None:
        assert "saddle point" not in points
        assert "escape" not in pg.inner_text("#distNote")
    else:
        assert points.get("saddle point") == [saddle]
    status = _play_to_end(pg)
    if saddle is not None:
        escapes = [(r["label"], r["steps_to_escape"]) for r in runs]
        assert any(k >= 0 for _, k in escapes), escapes  # the default race is worth watching
        for label, k in escapes:
            part = re.search(rf"{re.escape(label)} Loss: [^|]*", status).group(0).strip()
            if k >= 0:
                assert part.endswith(f"(escaped at step {k})"), status
                assert f"{label}: escaped at step {k}" in pg.inner_text("#distNote")
            else:
                assert "escaped" not in part, status
        # before the first escape the status line is the server's own
        first = min(k for _, k in escapes if k >= 0)
        _seek(pg, first - 1)
        assert pg.inner_text("#status") == race["status"][first - 1]
        _seek(pg, 100)
    _no_broken_words(pg)


@pytest.mark.parametrize("name", ["saddle", "monkey_saddle"])
def test_saddles_race_to_the_end_and_say_who_escaped(browser, server_url, name):
    ls = _landscapes(server_url)[name]
    with open_page(browser, server_url) as pg:
        _pick(pg, name)
        assert _racers(pg) == ls["default_racers"]
        _check_without_minimum(pg, ls["minimum_note"], ls["saddle"])
        _shot(pg, name)


@pytest.mark.parametrize("formula", ["1/x", "x^3 - y^2"])
def test_formulas_without_a_minimum_race_to_the_end(browser, server_url, formula):
    with open_page(browser, server_url) as pg:
        _type_formula(pg, formula)
        note = pg.evaluate("window.arena.grid.landscape.minimum_note")
        assert note  # the server says why it claims none
        _check_without_minimum(pg, note, None)
        _shot(pg, "formula-" + re.sub(r"\W+", "_", formula).strip("_"))


def test_a_lower_bound_is_subtracted_but_has_no_distance(browser, server_url):
    with open_page(browser, server_url) as pg:
        _type_formula(pg, "(x - y)**2")
        race = pg.evaluate("window.arena.race")
        assert race["minimum"]["kind"] == "lower_bound" and race["min_value"] == 0 and race["distance"] is None
        loss = pg.evaluate("(() => { const d = document.getElementById('lossPlot'); return {type: d.layout.yaxis.type, "
                           "title: d.layout.title.text}; })()")
        assert loss == {"type": "log", "title": "loss − bound (log)"}
        assert not pg.is_visible("#distPlot")
        assert pg.inner_text("#distNote").startswith("no single minimum point: f >= 0")
        assert _stars(pg) == 0
        _play_to_end(pg)
        _no_broken_words(pg)
        _shot(pg, "lower-bound")


def test_each_landscape_brings_its_default_racers_unless_they_were_changed(browser, server_url):
    lss = _landscapes(server_url)
    with open_page(browser, server_url) as pg:
        assert pg.inner_text("#status") == ARTICLE  # the article's demo as it was
        # Rosenbrock's default race: its racers, and none diverges
        _pick(pg, "rosenbrock")
        assert _racers(pg) == lss["rosenbrock"]["default_racers"]
        race = pg.evaluate("window.arena.race")
        assert [{k: r["hyperparameters"][k] for k in d["hyperparameters"]} for r, d in
                zip(race["config"]["racers"], lss["rosenbrock"]["default_racers"])] == \
            [d["hyperparameters"] for d in lss["rosenbrock"]["default_racers"]]
        assert [r["diverged_at"] for r in race["runs"]] == [-1] * len(race["runs"])
        status = _play_to_end(pg)
        assert "diverged" not in status and "diverged" not in pg.inner_text(".mapwrap")
        assert _stars(pg) == 1
        _shot(pg, "rosenbrock-defaults")
        # racers the user changed stay when the landscape changes; "defaults" brings the landscape's
        assert pg.is_disabled("#defaultRacers")
        box = pg.locator("[data-racer='0'] input[type=number][aria-label='learning_rate value']")
        pg.evaluate("window.__last = window.arena.race")
        box.fill("0.0005")
        box.dispatch_event("change")
        pg.wait_for_function(f"window.arena.race !== window.__last && {IDLE}", timeout=20000)
        assert pg.is_enabled("#defaultRacers")
        _pick(pg, "himmelblau")
        assert _racers(pg)[0]["hyperparameters"]["learning_rate"] == 0.0005
        pg.evaluate("window.__last = window.arena.race")
        pg.click("#defaultRacers")
        pg.wait_for_function(f"window.arena.race !== window.__last && {IDLE}", timeout=20000)
        assert _racers(pg) == lss["himmelblau"]["default_racers"]
        assert pg.is_disabled("#defaultRacers")
        # back on the quadratic with default racers: the article's demo, unchanged
        _pick(pg, "quadratic")
        assert _racers(pg) == lss["quadratic"]["default_racers"]
        _seek(pg, 0)
        assert pg.inner_text("#status") == ARTICLE
        _no_broken_words(pg)
        _shot(pg, "quadratic-article")
