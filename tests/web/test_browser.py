"""The page in real headless Chromium: loads offline, races, reacts, and its URL reproduces it."""

from __future__ import annotations

import re

import pytest

from conftest import ARTIFACTS, open_page

NUM = re.compile(r"(\w+) Loss: ([0-9.]+)")


def _losses(status: str) -> dict[str, float]:
    return {k: float(v) for k, v in NUM.findall(status)}


@pytest.fixture
def page(browser, server_url):
    with open_page(browser, server_url, 1400, 950) as pg:
        yield pg


def _recomputed(page, action) -> str:
    page.evaluate("window.__last = window.arena.race")
    action()
    page.wait_for_function("window.arena.race !== window.__last && !window.arena.inflight", timeout=15000)
    return page.inner_text("#status")


def test_article_demo_plays_to_the_end(page):
    assert page.inner_text("#status") == "Step 0 / 100 | SGD Loss: 9.0000 | Momentum Loss: 9.0000 | Adam Loss: 9.0000"
    page.click("#play")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Step 100 / 100')", timeout=20000)
    final = _losses(page.inner_text("#status"))
    assert set(final) == {"SGD", "Momentum", "Adam"} and all(v < 9.0 for v in final.values())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-arena.png"))


def test_click_on_the_map_moves_the_start(page):
    before = page.inner_text("#startLabel")
    box = page.locator("#map .nsewdrag").bounding_box()
    status = _recomputed(page, lambda: page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2))
    assert page.inner_text("#startLabel") != before
    assert _losses(status)["SGD"] != 9.0
    assert len(set(_losses(status).values())) == 1  # every racer starts from the new point


def test_slider_recomputes_and_divergence_is_marked(page):
    page.keyboard.press("End")
    before = _losses(page.inner_text("#status"))["SGD"]
    slider = page.locator("[data-racer='0'] input[type=range][data-hp='learning_rate']")

    def drag():
        slider.evaluate("(el) => { el.value = Math.log10(0.05); el.dispatchEvent(new Event('input')); }")

    after = _losses(_recomputed(page, drag))["SGD"]
    assert after < before  # a larger learning rate descends the quadratic faster

    def explode():
        box = page.locator("[data-racer='0'] input[type=number][aria-label='learning_rate value']")
        box.fill("2")
        box.dispatch_event("change")

    status = _recomputed(page, explode)
    assert re.search(r"SGD Loss: diverged at step \d+", status)
    page.wait_for_function("document.querySelector('.marks').textContent.includes('SGD diverged at step')")


def test_the_url_reproduces_the_race(page, browser):
    page.select_option("#landscape", "rosenbrock")
    page.wait_for_function("window.arena.race && window.arena.race.config.landscape.name === 'rosenbrock' && !window.arena.inflight")
    box = page.locator("[data-racer='2'] input[type=number][aria-label='learning_rate value']")
    _recomputed(page, lambda: (box.fill("0.05"), box.dispatch_event("change")))
    page.keyboard.press("End")
    status = page.inner_text("#status")
    url = page.url
    assert "#s=" in url
    other = browser.new_page(bypass_csp=True)  # its waits evaluate strings (see open_page)
    other.goto(url)
    other.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert other.inner_text("#status") == status
    other.close()


def test_keyboard_and_timeline(page):
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#stepLabel") == "2 / 100"
    page.keyboard.press("Home")
    assert page.inner_text("#status").startswith("Step 0 / 100")


def test_neural_network_view_trains_live_and_stops(page):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    page.click("#viewNN")
    page.select_option("#nnDataset", "iris")
    page.select_option("#nnModel", "logreg")
    page.fill("#nnEpochs", "3")
    page.dispatch_event("#nnEpochs", "change")
    page.click("#nnStart")
    page.wait_for_function("document.getElementById('nnStatus').textContent.startsWith('done.')", timeout=60000)
    points = page.evaluate("document.getElementById('nnVal').data.map((t) => t.x.length)")
    assert points == [4, 4, 4]  # epochs 0..3 for each of the three racers
    # a long race (3 racers x 3 seeds x 50 epochs of the digits MLP in batches of 8: ~80,000 steps,
    # far more than the test waits) is stopped by the button
    page.select_option("#nnDataset", "digits")
    page.select_option("#nnModel", "mlp")
    for field, value in (("#nnEpochs", "50"), ("#nnSeeds", "3"), ("#nnBatch", "8")):
        page.fill(field, value)
        page.dispatch_event(field, "change")
    page.wait_for_selector("#nnStart:not([disabled])")
    page.click("#nnStart")
    page.wait_for_function("/epoch [1-9]/.test(document.getElementById('nnStatus').textContent)", timeout=60000)
    assert page.is_enabled("#nnStop"), page.inner_text("#nnStatus")
    page.click("#nnStop")
    page.wait_for_function("document.getElementById('nnStatus').textContent.startsWith('stopped')", timeout=30000)
    assert "#s=" in page.url and page.evaluate("window.arena.state.view") == "nn"


def test_show_code_panel(page):
    page.click("[data-code='2']")
    page.wait_for_function("document.getElementById('codeText').textContent.includes('torch.optim.Adam')")
    page.select_option("#codeFramework", "keras")
    page.wait_for_function("document.getElementById('codeText').textContent.includes('keras.optimizers.Adam')")
    assert "note:" in page.inner_text("#codeNotes")  # keras puts epsilon elsewhere: the gap is stated


MAP_DRAWN = "window.arena.maps.last() && document.getElementById('mapStatus').textContent.startsWith('best')"


def _stability_map(page, racer, x, y, cells, objective="final_loss"):
    """Draws a stability map in the Maps view; x and y are (name, lo, hi); returns the server's map."""
    page.click("#viewMaps")
    page.select_option("#mapRacer", racer)
    for axis, (name, lo, hi) in (("X", x), ("Y", y)):
        page.select_option(f"#map{axis}", name)
        page.fill(f"#map{axis}Lo", str(lo))
        page.fill(f"#map{axis}Hi", str(hi))
    page.fill("#mapCells", str(cells))
    page.select_option("#mapObjective", objective)
    page.click("#mapCompute")
    page.wait_for_function(MAP_DRAWN, timeout=30000)
    return page.evaluate("window.arena.maps.last().res")


def test_maps_view_draws_a_stability_map_and_a_click_races_that_setting(page):
    """Heavy ball on x^2 + y^2: the map's red (diverged) cells are where lr > 1 + momentum, and a
    clicked cell's setting comes back to the race."""
    res = _stability_map(page, "1", ("learning_rate", 0.05, 4), ("momentum", 0, 0.8), 12)  # the momentum racer
    lrs, moms = res["x"]["values"], res["y"]["values"]
    for j, m in enumerate(moms):
        for i, lr in enumerate(lrs):
            if lr > 1.15 * (1 + m):
                assert res["diverged"][j][i] == 1.0, (lr, m)
            elif lr < (1 + m) / 1.15:
                assert res["diverged"][j][i] == 0.0, (lr, m)
    assert page.locator("#mapPlot .heatmaplayer").count() >= 1
    box = page.locator("#mapPlot .nsewdrag").bounding_box()
    page.evaluate("window.__last = window.arena.race")
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
    page.wait_for_function("window.arena.race !== window.__last && !window.arena.inflight", timeout=15000)
    assert not page.locator("#raceView").is_hidden()
    hp = page.evaluate("window.arena.state.racers[1].hyperparameters")
    assert hp["learning_rate"] < 0.2 and 0.2 < hp["momentum"] < 0.6
    assert page.evaluate("window.arena.race.config.racers[1].hyperparameters.learning_rate") == hp["learning_rate"]


def test_maps_view_basins_click_moves_the_start(page):
    page.select_option("#landscape", "himmelblau")
    page.wait_for_function("!window.arena.inflight", timeout=15000)
    page.click("#viewMaps")
    page.select_option("#mapMode", "basins")
    page.fill("#mapCells", "20")
    page.click("#mapCompute")
    page.wait_for_function("window.arena.maps.last() && document.getElementById('mapStatus').textContent.startsWith('minimum 1')",
                           timeout=30000)
    assert "diverged" in page.inner_text("#mapStatus")
    box = page.locator("#mapPlot .nsewdrag").bounding_box()
    page.evaluate("window.__last = window.arena.race")
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2)
    page.wait_for_function("window.arena.race !== window.__last && !window.arena.inflight", timeout=15000)
    x, y = page.evaluate("window.arena.state.start")
    assert x > 0 and y > 0  # upper right of the window
    assert page.evaluate("window.arena.race.config.starts") == [[x, y]]


def test_maps_view_offers_a_usable_range_for_a_zero_log_hyperparameter(page):
    page.click("#viewMaps")
    page.select_option("#mapRacer", "0")  # SGD: weight_decay is 0 by default, on a log slider
    page.select_option("#mapX", "weight_decay")
    lo, hi = float(page.input_value("#mapXLo")), float(page.input_value("#mapXHi"))
    assert page.is_checked("#mapXLog") and 0 < lo < hi


def test_a_maps_link_redraws_the_same_map(page, browser):
    first = _stability_map(page, "2", ("learning_rate", 0.01, 1), ("beta1", 0.5, 0.95), 10, "best_loss")  # Adam
    other = browser.new_page(bypass_csp=True)  # its waits evaluate strings (see open_page)
    other.goto(page.url)
    other.wait_for_selector("body[data-ready='1']", timeout=30000)
    other.wait_for_function(MAP_DRAWN, timeout=30000)
    again = other.evaluate("window.arena.maps.last().res")
    assert not other.locator("#mapView").is_hidden()
    assert (again["x"], again["y"], again["objective"], again["z"]) == (first["x"], first["y"], "best_loss", first["z"])
    assert again["config"]["optimizers"][0]["optimizer"] == "adam"
    other.close()


def test_the_new_kinds_of_racer_on_the_page(browser, server_url):
    """Prodigy (an unbounded default shown as 'inf'), Schedule-Free, Newton and L-BFGS (its
    evaluations in the status line) race on the page from a link; Muon is not offered; no console
    error (open_page checks on the way out)."""
    from optarena.arena.presentation import page_link

    racers = [{"optimizer": n, "hyperparameters": {}} for n in ("prodigy", "sf_adamw", "newton", "lbfgs")]
    state = {"landscape": {"name": "rosenbrock", "params": {}}, "racers": racers, "start": [-1.2, 1.0], "steps": 30,
             "seed": 0, "noise": 0.0, "clip": None}
    link = page_link("", state).lstrip("/")
    with open_page(browser, server_url, 1400, 950, link=link) as pg:
        pg.wait_for_function("window.arena.race && window.arena.race.config.racers.length === 4 && !window.arena.inflight",
                             timeout=30000)
        pg.keyboard.press("End")
        status = pg.inner_text("#status")
        assert "L-BFGS Loss:" in status and "evals)" in status and "Newton Loss: 0.0000" in status
        growth = pg.locator("[data-racer='0'] input[type=number][aria-label='growth_rate value']")
        assert growth.input_value() == "" and growth.get_attribute("placeholder") == "inf"
        offered = pg.locator("[data-racer='0'] select[aria-label='optimizer'] option").evaluate_all(
            "os => os.map(o => o.value)")
        assert "prodigy" in offered and "lbfgs" in offered and "muon" not in offered
