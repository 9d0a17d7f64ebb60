"""The anatomy of a step on the page, in real headless Chromium: for SGD, momentum (heavy ball,
Nesterov, with dampening) and Adam, the arrows drawn on the map (read back from the Plotly figure)
are the server's term vectors and equal what the update rule, written out here, gives from the
state the race recorded; the number lines shown are the server's; the arrows follow the timeline."""

from __future__ import annotations

import json
import math
import re
import urllib.request

import numpy as np
import pytest

from optarena.arena.presentation import page_link

from conftest import open_page

LR_ADAM = 0.1
RACERS = [
    {"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.05}},
    {"optimizer": "momentum", "hyperparameters": {}},
    {"optimizer": "momentum", "hyperparameters": {"nesterov": True}},
    {"optimizer": "momentum", "hyperparameters": {"dampening": 0.5, "momentum": 0.8}},
    {"optimizer": "adam", "hyperparameters": {"learning_rate": LR_ADAM}},
]
STATE = {"landscape": {"name": "ill_conditioned", "params": {"kappa": 10, "theta": 0}}, "racers": RACERS,
         "start": None, "steps": 40, "seed": 0, "noise": 0, "clip": None, "step": 5, "anatomy": {"racer": 0}}
KAPPA = 10.0

SHOWN = ("window.arena.anatomyDrawn && window.arena.anatomyDrawn.racer === {racer}"
         " && window.arena.anatomyDrawn.step === {step}")


def _gradient(p):
    """f = (kappa x^2 + y^2) / 2 (theta 0): the gradient, written out."""
    return np.array([KAPPA * p[0], p[1]])


def _ask_server(server_url: str, race: dict, racer: int, step: int) -> dict:
    body = json.dumps({"race": race, "racer": racer, "start": 0, "step": step}).encode()
    req = urllib.request.Request(server_url + "/api/anatomy", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _undated(res: dict) -> dict:
    """The answer without the date matplotlib writes into each SVG's metadata."""
    return json.loads(re.sub(r"<dc:date>[^<]*</dc:date>", "", json.dumps(res)))


def _drawn_arrows(page) -> dict[str, tuple[list[float], list[float]]]:
    """The anatomy arrows in the map's Plotly figure: key -> (tail, head) in data coordinates."""
    anns = page.evaluate("(document.getElementById('map').layout.annotations || [])"
                         ".filter((a) => String(a.name || '').startsWith('anatomy:'))"
                         ".map((a) => [a.name.slice(8), [a.ax, a.ay], [a.x, a.y], a.axref, a.ayref])")
    assert all(axref == "x" and ayref == "y" for *_, axref, ayref in anns)  # tails in data coordinates
    return {key: (tail, head) for key, tail, head, *_ in anns}


def _check_arrows(page, arrows: dict, vectors: dict, scale: float, position: list[float]) -> None:
    """Each arrow starts at the racer's position and is its term's vector times the scale; one that
    would leave the map is cut at its edge (same direction), and the legend says so."""
    xr, yr = page.evaluate("['xaxis', 'yaxis'].map((a) => document.getElementById('map').layout[a].range)")
    cut = set(page.evaluate("[...document.querySelectorAll('#anatomyLegend li')]"
                            ".filter((li) => li.querySelector('.clipped')).map((li) => li.dataset.key)"))
    for key, (tail, head) in arrows.items():
        assert tail == position, key
        full = np.array(position) + scale * vectors[key]
        inside = xr[0] <= full[0] <= xr[1] and yr[0] <= full[1] <= yr[1]
        assert (key not in cut) == inside, key
        drawn = (np.array(head) - tail) / scale
        if inside:
            np.testing.assert_allclose(drawn, vectors[key], rtol=1e-9, atol=1e-15, err_msg=key)
        else:
            share = drawn @ vectors[key] / (vectors[key] @ vectors[key])
            assert 0 < share < 1, key
            np.testing.assert_allclose(drawn, share * vectors[key], rtol=1e-9, err_msg=key)
            assert min(abs(head[0] - e) for e in xr) < 1e-9 or min(abs(head[1] - e) for e in yr) < 1e-9, key


def _expected_terms(res: dict) -> dict[str, np.ndarray]:
    """The step's terms from the recorded state and the rule, written out here."""
    hp = RACERS[res["racer"]]["hyperparameters"]
    g, lr = np.array(res["gradient"]), res["learning_rate"]
    before, after = res["state_before"], res["state_after"]
    out = {"gradient": -lr * g}
    if res["optimizer"] == "sgd":
        out["step"] = -lr * g
    elif res["optimizer"] == "momentum":
        mu, tau, nesterov = hp.get("momentum", 0.9), hp.get("dampening", 0.0), hp.get("nesterov", False)
        b_prev = np.array(before["momentum_buffer"])
        first = before["step"] == 0
        b = g if first else mu * b_prev + (1 - tau) * g  # torch: the first buffer is the gradient
        np.testing.assert_allclose(after["momentum_buffer"], b, rtol=1e-12)
        out["step"] = -lr * (g + mu * b) if nesterov else -lr * b
        if nesterov:  # the plain step plus the look-ahead along the new velocity
            out["lookahead"] = -lr * mu * b
        elif not first:  # heavy ball: the plain step, the velocity carried, less the damped share of g
            out["momentum"] = -lr * mu * b_prev
            if tau:
                out["dampening"] = lr * tau * g
    else:  # adam
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = b1 * np.array(before["exp_avg"]) + (1 - b1) * g
        v = b2 * np.array(before["exp_avg_sq"]) + (1 - b2) * g * g
        np.testing.assert_allclose(after["exp_avg"], m, rtol=1e-12)
        np.testing.assert_allclose(after["exp_avg_sq"], v, rtol=1e-12)
        t = after["step"]
        out["step"] = out["direction"] = -lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        out["stretch"] = lr / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return out


@pytest.fixture(scope="module")
def page(browser, server_url):
    with open_page(browser, server_url, 1400, 950, link=page_link("", STATE).lstrip("/"), accept_downloads=True) as pg:
        pg.wait_for_function("window.arena.race && !window.arena.inflight", timeout=30000)
        pg.server_url = server_url
        yield pg


@pytest.mark.parametrize("racer", range(len(RACERS)),
                         ids=["sgd", "momentum", "nesterov", "momentum-dampening", "adam"])
def test_the_arrows_are_the_recorded_step(page, racer):
    page.select_option("#anatomyRacer", str(racer))
    page.wait_for_function(SHOWN.format(racer=racer, step=5), timeout=30000)
    drawn = page.evaluate("window.arena.anatomyDrawn")
    res = _ask_server(page.server_url, page.evaluate("window.arena.raceRequest"), racer, 5)
    assert _undated(drawn["response"]) == _undated(res)  # the page shows the server's answer for this racer and step
    assert res["optimizer"] == RACERS[racer]["optimizer"] and res["step"] == 5

    # the gradient is the landscape's at the racer's position (noise 0), the position the race's
    p = np.array(res["position"])
    np.testing.assert_allclose(res["gradient"], _gradient(p), rtol=1e-12)
    assert page.evaluate(f"window.arena.race.runs[{racer}].positions[5]") == res["position"]

    # arrows read back from the figure, divided by the one scale the panel states
    scale = drawn["scale"]
    assert scale == res.get("scale", scale)  # the server's scale, where it sends one (the exports draw at it)
    assert (page.inner_text("#anatomyScale") == "arrows to scale") == (scale == 1)
    if scale != 1:
        assert page.inner_text("#anatomyScale").startswith("arrows to scale, all ×")
    arrows = _drawn_arrows(page)
    vectors = {t["key"]: np.array(t["vector"]) for t in res["terms"]}
    assert set(arrows) == {k for k, v in vectors.items() if v.any()}
    _check_arrows(page, arrows, vectors, scale, res["position"])

    # ... and they are the rule's terms from the recorded state
    expected = _expected_terms(res)
    for key, vec in vectors.items():
        if key in expected:
            np.testing.assert_allclose(vec, expected[key], rtol=1e-9, atol=1e-15, err_msg=key)
        else:
            assert not vec.any(), key  # a term the rule does not have here is zero
    assert set(expected) - {"stretch"} <= set(vectors)
    np.testing.assert_allclose(np.array(res["next"]) - p, expected["step"], rtol=1e-9)
    composed = sum(np.array(t["vector"]) for t in res["terms"] if t["composes"])
    np.testing.assert_allclose(composed, expected["step"], rtol=1e-9, atol=1e-15)

    # the legend names every term, in the server's order
    assert page.locator("#anatomyLegend li .label").all_inner_texts() == [t["label"] for t in res["terms"]]
    # the number lines shown are the server's, and the rule is typeset (or its TeX shown)
    shown = page.locator("#anatomyLines .numbers > div").all_inner_texts()
    assert shown == [n for line in res["lines"] for n in line["numbers"]]
    rule = res["rule"]
    if rule["svg"]:
        assert page.get_attribute("#anatomyRule svg", "aria-label") == rule["tex"]
        assert page.evaluate("document.querySelector('#anatomyRule svg').getBBox().width") > 0  # the SVG drew
        assert page.locator("#anatomyLines svg").count() == sum(1 for line in res["lines"] if line["svg"])
    else:
        assert page.inner_text("#anatomyRule code") == rule["tex"]

    # the stretch: Adam's per-coordinate learning rate, as numbers and as the ellipse's semi-axes
    if res["optimizer"] == "adam":
        np.testing.assert_allclose(res["stretch"]["values"], expected["stretch"], rtol=1e-9)
        shapes = page.evaluate("Object.fromEntries(document.getElementById('map').layout.shapes"
                               ".filter((s) => String(s.name || '').startsWith('anatomy:'))"
                               ".map((s) => [s.name, [s.x1 - s.x0, s.y1 - s.y0]]))")
        unit, stretch = shapes["anatomy:unit"], shapes["anatomy:stretch"]
        np.testing.assert_allclose(np.array(stretch) / np.array(unit), np.array(expected["stretch"]) / LR_ADAM, rtol=1e-9)
        assert not page.locator("#anatomyStretch").is_hidden()
    else:
        assert res["stretch"] is None and page.locator("#anatomyStretch").is_hidden()


def test_the_arrows_follow_the_timeline(page):
    """Scrubbing asks for the step on show only (debounced, the latest answer wins); the arrows sit
    at the racer's position at that step."""
    page.select_option("#anatomyRacer", "1")
    page.wait_for_function(SHOWN.format(racer=1, step=5), timeout=30000)
    page.evaluate("() => { window.__asked = []; const f = window.fetch; window.fetch = (u, o) => {"
                  " if (String(u).includes('/api/anatomy')) window.__asked.push(JSON.parse(o.body).step); return f(u, o); }; }")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(SHOWN.format(racer=1, step=9), timeout=30000)
    assert page.evaluate("window.__asked") == [9]  # four quick steps: one question
    tail, _ = _drawn_arrows(page)["step"]
    assert tail == page.evaluate("window.arena.race.runs[1].positions[9]")
    # at the end of the race: its last move
    page.keyboard.press("End")
    page.wait_for_function(SHOWN.format(racer=1, step=39), timeout=30000)
    assert page.inner_text("#anatomyWhat").startswith("Momentum") and "(racer 1, Momentum)" in page.inner_text("#anatomyWhat")
    # the PNG of what the screen shows has the arrows too (no error on the way)
    with page.expect_download():
        page.click("#dlPng")
    assert page.evaluate("window.arena.png.step") == 40 and page.locator("#raceError").is_hidden()
    # off: no arrows left on the map, the panel hidden, the state in the link says so
    page.click("#anatomy")
    assert page.locator("#anatomyPanel").is_hidden() and _drawn_arrows(page) == {}
    assert page.evaluate("window.arena.state.anatomy") is None
    page.click("#anatomy")
    page.wait_for_function(SHOWN.format(racer=1, step=39), timeout=30000)
    assert len(_drawn_arrows(page)) >= 2


def test_a_racer_that_diverged_shows_its_last_step(browser, server_url):
    """Past a racer's divergence there is no step to explain: the panel shows its last step
    before (the one that threw it out), and says so."""
    # the module's race with SGD at lr 0.5 (> 2 / kappa): the same racers, so the same compiled loop
    state = {**STATE, "racers": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.5}}, *RACERS[1:]], "step": 30,
             "anatomy": {"racer": 0}}
    with open_page(browser, server_url, link=page_link("", state).lstrip("/")) as pg:
        pg.wait_for_function("(window.arena.race && !window.arena.inflight) || !document.getElementById('raceError').hidden",
                             timeout=30000)
        assert pg.locator("#raceError").is_hidden(), pg.inner_text("#raceError")
        died = pg.evaluate("window.arena.race.runs[0].diverged_at")
        assert 2 <= died < 30
        pg.wait_for_function(SHOWN.format(racer=0, step=died - 2), timeout=30000)
        assert pg.inner_text("#anatomyNote") == f"SGD diverged at step {died}: its last step before, {died - 2} → {died - 1}"
        res = pg.evaluate("window.arena.anatomyDrawn.response")
        np.testing.assert_allclose(res["terms"][-1]["vector"], -0.5 * np.array(res["gradient"]), rtol=1e-12)
        # a point off the map has no arrows drawn (the panel still explains its step)
        xr, yr = pg.evaluate("['xaxis', 'yaxis'].map((a) => document.getElementById('map').layout[a].range)")
        (x, y), arrows = res["position"], _drawn_arrows(pg)
        if xr[0] <= x <= xr[1] and yr[0] <= y <= yr[1]:
            assert arrows["step"][0] == res["position"]
        else:
            assert arrows == {}
        assert len(pg.locator("#anatomyLegend li").all_inner_texts()) == len(res["terms"])


def test_the_panel_runs_under_the_page_policy(browser, server_url):
    """Under the Content-Security-Policy (no bypass): the panel's typeset formulas (SVG images from
    data: URLs) and arrows show, a lesson's link loads, and nothing is refused (a refusal is a
    console error, which open_page fails on)."""
    import time

    def until(check, timeout=30.0):  # polled from Python: wait_for_function would need eval in the page
        end = time.time() + timeout
        while not check():
            assert time.time() < end, "timed out"
            time.sleep(0.1)

    state = {**STATE, "anatomy": {"racer": 4}, "lesson": "adam-per-coordinate"}
    with open_page(browser, server_url, link=page_link("", state).lstrip("/"), bypass_csp=False) as pg:
        until(lambda: pg.evaluate("() => !!window.arena.anatomyDrawn"))
        assert pg.locator("#anatomyPanel svg.tex").count() >= 2 and len(_drawn_arrows(pg)) == 3
        assert pg.get_attribute("#lessonText", "data-lesson") == "adam-per-coordinate"
        pg.click("#lessonNext")
        until(lambda: pg.evaluate("() => window.arena.state.lesson") == "learning-rate-cliff")
        until(lambda: pg.inner_text("#mapStatus").startswith("best"), timeout=60)
        time.sleep(0.5)  # let late violations reach the console before open_page checks it
