"""One presentation (issue 12 item 5): every face shows a race's racers with the colours, labels and
legend texts of ``arena.presentation``, and those colours are distinct and colour-blind-safe."""

from __future__ import annotations

import io
import itertools
import json
import re

import numpy as np
import pytest

from optarena.arena import presentation as P
from optarena.arena import race

#: A race that repeats optimizers: two Adams told apart by their learning rate, and SGD between them.
RACERS = [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1}}, {"optimizer": "sgd"},
          {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}]


@pytest.fixture(scope="module")
def repeated():
    return race("quadratic", RACERS, steps=20)


# -- the rule -----------------------------------------------------------------------------------

def test_colours_go_by_race_position_and_the_articles_three_keep_theirs():
    blue, orange, green = P.PALETTE[:3]
    assert P.racer_colours(["sgd", "momentum", "adam"]) == [blue, orange, green]  # the article's race
    assert P.racer_colours(["adam", "momentum", "sgd"]) == [green, orange, blue]  # wherever they sit
    # others take the free palette colours in race order; a repeated optimizer's next racer, too
    assert P.racer_colours(["adam", "sgd", "adam"]) == [green, blue, orange]
    assert P.racer_colours(["lion", "rmsprop", "adagrad"]) == list(P.PALETTE[:3])
    assert P.racer_colours(["lion", "sgd", "lion"]) == [orange, blue, green]
    # a race of the palette's length: all distinct, every colour the palette's; beyond it, they cycle
    n = len(P.PALETTE)
    many = P.racer_colours(["adam"] * n)
    assert len(set(many)) == n and set(many) == set(P.PALETTE)
    assert P.racer_colours(["lion"] * (n + 2)) == [*P.PALETTE, *P.PALETTE[:2]]


def test_a_hint_outside_the_palette_is_not_drawn(monkeypatch):
    import dataclasses

    from optarena.optim import registry

    real = registry.get
    for given in ("#123456", P.PALETTE[4].lower()):
        spec = dataclasses.replace(real("lion"), colour=given)
        monkeypatch.setattr(registry, "get", lambda name, spec=spec: spec if name == "lion" else real(name))
        cols = P.racer_colours(["sgd", "lion", "lion"])
        assert set(cols) <= set(P.PALETTE) and len(set(cols)) == 3
        assert cols[1] == (P.PALETTE[4] if given == P.PALETTE[4].lower() else P.PALETTE[1])


def test_an_eight_colour_terminal_gets_distinct_standard_colours():
    names = ["adam"] * len(P.PALETTE)
    std = P.terminal_colours(names, "standard")
    assert len(set(std)) == len(P.TERMINAL) == len(P.PALETTE)
    assert P.terminal_colours(["sgd", "momentum", "adam"], "standard") == ["blue", "yellow", "green"]
    assert P.terminal_colours(["adam", "sgd", "adam"], "truecolor") == P.racer_colours(["adam", "sgd", "adam"])
    # a racer's standard colour is its palette colour's, whatever its position
    assert P.terminal_colours(["adam", "sgd"], "standard") == ["green", "blue"]


# Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB matrices of the three dichromacies.
_CVD = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(hex_colour: str, vision: np.ndarray) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    rgb = np.clip(vision @ np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest(colours, vision) -> float:
    labs = [_lab(c, vision) for c in colours]
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(labs, 2))


@pytest.mark.parametrize("vision", list(_CVD))
def test_the_palette_stays_apart_for_every_kind_of_colour_vision(vision):
    # CIELAB distance (CIE76) between the closest two colours, as each dichromat sees them
    assert _closest(P.PALETTE[:3], _CVD[vision]) >= 15  # the article's race
    assert _closest(P.PALETTE[:8], _CVD[vision]) >= 15
    assert _closest(P.PALETTE, _CVD[vision]) >= 10
    white = np.array([100.0, 0.0, 0.0])
    assert min(float(np.linalg.norm(_lab(c, _CVD[vision]) - white)) for c in P.PALETTE) >= 35  # on white charts


def test_looks_name_what_differs(repeated):
    looks = P.race_looks(repeated)
    assert [x.label for x in looks] == repeated.labels == ["Adam lr=0.1", "SGD", "Adam lr=0.01"]
    assert [x.legend for x in looks] == ["Adam (learning_rate=0.1)", "SGD", "Adam (learning_rate=0.01)"]
    assert P.labels(RACERS) == repeated.labels  # from a request's racers, before any race
    assert P.looks(RACERS) == looks


# -- every face ---------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def _terminal_rows(result, monkeypatch, truecolor: bool) -> list[str]:
    """The style of each racer's row in ``optarena race``'s table, in race order."""
    from optarena import cli

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    if truecolor:
        monkeypatch.setenv("COLORTERM", "truecolor")
    else:
        monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color" if truecolor else "xterm")
    out = _Tty()
    cli._table(result, out)
    styles = []
    for label in result.labels:
        line = next(ln for ln in out.getvalue().splitlines() if re.search(rf"\x1b\[[0-9;]*m{re.escape(label)}\s*\x1b", ln))
        styles.append(re.search(rf"\x1b\[([0-9;]*)m{re.escape(label)}", line).group(1))
    return styles


_SGR = {"blue": "34", "yellow": "33", "green": "32", "red": "31", "magenta": "35", "cyan": "36",
        "bright_black": "90", "bright_red": "91", "bright_green": "92", "bright_yellow": "93", "bright_blue": "94",
        "bright_magenta": "95"}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def _has_colour(img: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    return int((np.abs(img[..., :3].astype(int) - np.array(_rgb(hex_colour))).max(axis=-1) <= tol).sum())


def test_the_same_race_looks_the_same_on_every_face(repeated, monkeypatch, tmp_path):
    """Terminal, PNG, GIF, HTML export, the web API and the sweep plot: the same colours, labels
    and legend texts for each racer."""
    looks = P.race_looks(repeated)
    colours, labels, legends = [x.colour for x in looks], [x.label for x in looks], [x.legend for x in looks]
    assert len(set(colours)) == 3  # two Adams, two colours

    # the terminal: truecolor rows in the racers' colours; an 8-colour terminal's distinct standard ones
    assert _terminal_rows(repeated, monkeypatch, True) == ["38;2;%d;%d;%d" % _rgb(c) for c in colours]
    assert _terminal_rows(repeated, monkeypatch, False) == [_SGR[x.terminal] for x in looks]

    pytest.importorskip("matplotlib")
    from PIL import Image

    from optarena.export import export, plot

    # PNG: the legend names and colours, and each colour drawn
    fig = plot(repeated)
    leg = fig.legends[0]
    texts = [t.get_text() for t in leg.get_texts()]
    handles = leg.legend_handles if hasattr(leg, "legend_handles") else leg.legendHandles
    assert texts[:3] == legends
    from matplotlib.colors import to_hex

    assert [to_hex(h.get_color()).upper() for h in handles[:3]] == colours
    with Image.open(export(repeated, tmp_path / "race.png")) as im:
        png = np.asarray(im.convert("RGB"))
    assert all(_has_colour(png, c) >= 30 for c in colours)
    # GIF: its last frame draws every racer in its colour
    with Image.open(export(repeated, tmp_path / "race.gif", duration=0.2, fps=5)) as gif:
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert all(_has_colour(last, c, tol=20) >= 30 for c in colours)

    # HTML: the player's legend entries, their colours and the hover names
    pytest.importorskip("plotly")
    from optarena.export.html import figure_data

    data = figure_data(repeated)
    shown = [t for t in data["traces"] if t.get("legendgroup") and t.get("showlegend", True) is not False]
    assert [t["name"] for t in shown] == legends
    assert [t["line"]["color"] for t in shown] == colours
    assert [r["colour"] for r in data["racers"]] == colours
    page = export(repeated, tmp_path / "race.html").read_text()
    for text in (*colours, *legends):
        assert json.dumps(text)[1:-1] in page

    # the web API: the page draws what the server sends
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from optarena.web.app import create_app

    with TestClient(create_app(warm=False), base_url="http://127.0.0.1") as client:
        body = client.post("/api/race", json={"racers": RACERS, "steps": 20}).json()
        csv_text = client.post("/api/race?format=csv", json={"racers": RACERS, "steps": 20}).text
    assert (body["colours"], body["labels"], body["legends"]) == (colours, labels, legends)
    assert [r["label"] for r in body["runs"]] == labels
    assert csv_text == repeated.to_csv()  # the page's CSV is the result's own

    # the sweep's line plot draws the same racers in the same colours
    from optarena.measure import sweep

    res = sweep("quadratic", RACERS, ["weight_decay=lin(0, 0.01, 3)"], steps=20)
    ax = res.plot(tmp_path / "sweep.png").axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in res.optimizers]
    assert [to_hex(ln.get_color()).upper() for ln in lines] == colours


def test_the_training_view_colours_and_names_racers_as_the_race_does(repeated):
    pytest.importorskip("fastapi")
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from fastapi.testclient import TestClient

    from optarena.web.app import create_app

    looks = P.race_looks(repeated)
    with TestClient(create_app(warm=False), base_url="http://127.0.0.1") as client:
        with client.stream("POST", "/api/train", json={"dataset": "iris", "model": "logreg", "epochs": 1,
                                                       "racers": RACERS}) as r:
            start = next(json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: "))
    assert start["colours"] == [x.colour for x in looks] and start["labels"] == [x.label for x in looks]
    assert start["legends"] == [x.legend for x in looks]


def test_the_page_reads_its_limits_from_the_api():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from optarena.web import limits, schemas
    from optarena.web.app import create_app

    with TestClient(create_app(warm=False), base_url="http://127.0.0.1") as client:
        got = client.get("/api/limits").json()
        openapi = client.get("/openapi.json").json()["components"]["schemas"]
    assert got == limits.as_json()
    race_in, train_in = openapi["RaceIn"]["properties"], openapi["TrainIn"]["properties"]
    assert race_in["steps"]["maximum"] == got["steps"]["max"] == schemas.MAX_STEPS
    assert race_in["racers"]["maxItems"] == got["racers"]["max"]
    assert train_in["epochs"]["maximum"] == got["epochs"]["max"] and train_in["seeds"]["maximum"] == got["seeds"]["max"]
    assert train_in["batch_size"]["minimum"] == got["batch_size"]["min"]
    # the page's own files write none of the numbers
    from pathlib import Path

    static = Path(create_app.__code__.co_filename).parent / "static"
    text = (static / "index.html").read_text() + "".join(p.read_text() for p in (static / "js").glob("*.js"))
    assert not re.search(r"\b(max|min)=\"\d", text.replace('id="timeline" type="range" min="0" max="100"', ""))
    assert str(limits.MAX_STEPS) not in text and "toCsv" not in text
