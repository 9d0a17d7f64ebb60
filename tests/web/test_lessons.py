"""The Lessons (static/lessons.json) in real headless Chromium: every lesson's link loads its race,
shows its text and plays to the last step; the numbers each text quotes are the race's own; the
panel's links load a lesson in the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import optarena.web
from optarena.arena.presentation import page_link

from conftest import open_page

LESSONS = json.loads((Path(optarena.web.__file__).parent / "static" / "lessons.json").read_text())["lessons"]
READY = "window.arena.race && !window.arena.inflight && window.arena.race.config.steps === {steps}"
MAP_DRAWN = "window.arena.maps.last() && document.getElementById('mapStatus').textContent.startsWith('best')"


def _link(lesson: dict) -> str:
    return page_link("", {**lesson["state"], "lesson": lesson["id"]}).lstrip("/")


def _final(page) -> list[float | None]:
    """Each racer's loss at the last step, in the racers' order, as the server raced it."""
    return page.evaluate("window.arena.race.runs.filter((r) => r.start === 0).map((r) => r.losses[r.losses.length - 1])")


def _diverged(page) -> list[int]:
    return page.evaluate("window.arena.race.runs.map((r) => r.diverged_at)")


# What each lesson's text claims of its race, checked against the race the page shows.
def _article(page):
    f = _final(page)
    assert f[0] == pytest.approx(9 * 0.98 ** 200, rel=1e-9)  # SGD: "9 x 0.98^200 ~ 0.16"
    assert round(f[0], 2) == 0.16 and round(f[1], 4) == 0.0002 and round(f[2], 2) == 8.19
    xs = page.evaluate("window.arena.race.runs[1].positions.map((p) => p[0])")
    assert min(i for i, x in enumerate(xs) if x < 0) == 14  # momentum overshoots at step 14
    assert [round(v, 2) for v in page.evaluate("window.arena.race.runs[2].positions[100]")] == [2.30, 1.70]


def _valley(page):
    f = _final(page)
    assert round(f[0], 4) == 0.0019 and round(f[1], 5) == 0.00048
    # crossings of the valley floor (u = 0 on the axis turned by 30 degrees)
    crossings = page.evaluate("""window.arena.race.runs.map((r) => {
        const c = Math.cos(Math.PI / 6), s = Math.sin(Math.PI / 6);
        const u = r.positions.map((p) => p[0] * c + p[1] * s);
        return u.slice(1).filter((v, i) => Math.sign(v) !== Math.sign(u[i])).length; })""")
    assert crossings == [100, 14]


def _adam(page):
    f = _final(page)
    assert round(f[0], 3) == 0.097 and round(f[1], 4) == 0.0006
    # the anatomy panel at step 0: gradient (100, 3), step (-0.1, -0.1), stretch 0.01 and 0.33 of lr
    page.keyboard.press("Home")
    page.wait_for_function("window.arena.anatomyDrawn && window.arena.anatomyDrawn.racer === 1"
                           " && window.arena.anatomyDrawn.step === 0", timeout=30000)
    res = page.evaluate("window.arena.anatomyDrawn.response")
    assert res["gradient"] == pytest.approx([100, 3], rel=1e-12)
    assert res["terms"][-1]["key"] == "step" and res["terms"][-1]["vector"] == pytest.approx([-0.1, -0.1], rel=1e-6)
    assert [round(v / res["learning_rate"], 2) for v in res["stretch"]["values"]] == [0.01, 0.33]


def _cliff(page):
    f, d = _final(page), _diverged(page)
    assert round(f[0], 19) == 4e-19 and d == [-1, 32]
    res = page.evaluate("window.arena.maps.last().res")
    for j, m in enumerate(res["y"]["values"]):
        for i, lr in enumerate(res["x"]["values"]):
            loss, diverged = res["z"][j][i], res["diverged"][j][i] > 0.5
            if lr < 0.95 * (1 + m):
                assert not diverged and loss < 1e-3, (lr, m, loss)
            elif lr > 1.05 * (1 + m):
                assert diverged or loss > 9, (lr, m, loss)


def _noise(page):
    losses = page.evaluate("window.arena.race.runs[0].losses")
    assert losses[20] < 0.01  # near the bottom by step 20


CLAIMS = {"article": _article, "momentum-valley": _valley, "adam-per-coordinate": _adam,
          "learning-rate-cliff": _cliff, "noise-and-schedules": _noise}


def test_every_lesson_has_its_claims_checked():
    assert [lesson["id"] for lesson in LESSONS] == list(CLAIMS)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson["id"] for lesson in LESSONS])
def test_a_lesson_link_loads_shows_its_text_and_plays(browser, server_url, lesson):
    state = lesson["state"]
    with open_page(browser, server_url, link=_link(lesson)) as pg:
        steps = state["steps"]
        pg.wait_for_function(READY.format(steps=steps), timeout=30000)
        assert not pg.locator("#lessonPanel").is_hidden()
        assert pg.get_attribute("#lessonText", "data-lesson") == lesson["id"]
        assert pg.locator("#lessonText p").all_inner_texts() == lesson["text"]
        assert pg.locator("#lessonList a.on").inner_text().endswith(lesson["title"])
        config = pg.evaluate("window.arena.race.config")
        assert config["landscape"]["name"] == state["landscape"]["name"]
        assert [r["optimizer"] for r in config["racers"]] == [r["optimizer"] for r in state["racers"]]
        assert config["noise"] == state["noise"]
        if state["view"] == "maps":
            pg.wait_for_function(MAP_DRAWN, timeout=60000)
            assert not pg.locator("#mapView").is_hidden()
            pg.click("#viewRace")
        pg.click("#play")
        pg.wait_for_function(f"document.getElementById('status').textContent.startsWith('Step {steps} / {steps} |')",
                             timeout=40000)
        CLAIMS[lesson["id"]](pg)
        assert "#s=" in pg.url and pg.evaluate("window.arena.state.lesson") == lesson["id"]


def test_the_panel_loads_lessons_in_the_page(browser, server_url):
    with open_page(browser, server_url) as pg:
        assert pg.locator("#lessonPanel").is_hidden()
        pg.click("#lessonsOpen")
        assert not pg.locator("#lessonPanel").is_hidden()
        assert pg.locator("#lessonList a").all_inner_texts() == [f"{i + 1}. {x['title']}" for i, x in enumerate(LESSONS)]
        pg.evaluate("window.__last = window.arena.race")
        pg.click(f"#lessonList a[data-lesson='{LESSONS[1]['id']}']")
        pg.wait_for_function("window.arena.race !== window.__last && !window.arena.inflight"
                             f" && window.arena.race.config.landscape.name === '{LESSONS[1]['state']['landscape']['name']}'",
                             timeout=30000)
        assert pg.get_attribute("#lessonText", "data-lesson") == LESSONS[1]["id"]
        hp = pg.evaluate("window.arena.state.racers.map((r) => r.hyperparameters)")
        assert hp == [r["hyperparameters"] for r in LESSONS[1]["state"]["racers"]]
        # the racers' panels follow: the sliders show the lesson's settings
        assert pg.input_value("[data-racer='0'] input[type=number][aria-label='learning_rate value']") == "0.038"
        pg.evaluate("window.__last = window.arena.race")
        pg.click("#lessonNext")
        pg.wait_for_function("window.arena.race !== window.__last && !window.arena.inflight"
                             " && window.arena.state.lesson === " + json.dumps(LESSONS[2]["id"]), timeout=30000)
        assert pg.get_attribute("#lessonText", "data-lesson") == LESSONS[2]["id"]
        pg.click("#lessonClose")
        assert pg.locator("#lessonPanel").is_hidden() and pg.evaluate("window.arena.state.lesson") is None
