"""The Neural network view in real headless Chromium: a racer that diverges is reported, the others go on."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import ARTIFACTS

pytest.importorskip("torch")
pytest.importorskip("sklearn")

# the racer (momentum above 1: its loss passes 1e3 x the start at epoch 2), one whose loss
# overflows at once (the server sends null for it) and Adam, which trains to the end
STATE = {
    "view": "nn",
    "racers": [{"optimizer": "momentum", "hyperparameters": {"learning_rate": 0.0025, "momentum": 1.27}},
               {"optimizer": "sgd", "hyperparameters": {"learning_rate": 1e38}},
               {"optimizer": "adam", "hyperparameters": {}}],
    "nn": {"dataset": "digits", "model": "mlp", "epochs": 3, "seeds": 1, "batch_size": 32},
}


def _link(server_url: str, state: dict) -> str:
    """The page's own URL format: the state as base64url JSON in the hash (js/state.js)."""
    b64 = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    return f"{server_url}/#s={b64}"


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)  # see open_page
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(_link(server_url, STATE))
    pg.wait_for_selector("body[data-ready='1']", timeout=30000)
    yield pg
    assert pg.errors == [], pg.errors
    context.close()


def test_a_diverging_racer_is_reported_and_the_others_train_on(page):
    assert page.is_visible("#nnView")
    page.click("#nnStart")
    page.wait_for_function("document.getElementById('nnStatus').textContent.startsWith('done.')", timeout=180000)
    status = page.inner_text("#nnStatus")
    assert "Momentum: diverged at epoch 2" in status and "SGD: diverged at epoch 1" in status, status
    assert "Adam: val loss" in status and status.endswith("(lowest: Adam)"), status
    traces = page.evaluate("""() => ['nnTrain', 'nnVal', 'nnAcc'].map((id) => document.getElementById(id).data.map(
        (t) => ({ name: t.name, x: Array.from(t.x) })))""")
    for chart in traces:
        momentum, sgd, adam = chart
        assert momentum == {"name": "Momentum (diverged at epoch 2)", "x": [0, 1]}  # ends before its divergence
        assert sgd == {"name": "SGD (diverged at epoch 1)", "x": [0]}
        assert adam == {"name": "Adam", "x": [0, 1, 2, 3]}
    marks = page.evaluate("() => (document.getElementById('nnVal').layout.annotations || []).map((a) => [a.x, a.text])")
    assert sorted(marks) == [[1, "✕ diverged at epoch 1"], [2, "diverged at epoch 2 ✕"]]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-nn-diverged.png"))
