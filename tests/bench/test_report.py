"""The bench report from a summary made by hand here (3 workloads, momentum and Adam, external and
self-tuning, 2 studies x 2 trials, 3 reruns), every number chosen so that the right answer is
known: the page is self-contained (no network, Plotly.js inlined); its tables, table.csv and
times.csv carry the values worked out below (medians by hand, shares by counting, memory as the
number of state buffers x 4 bytes); a missed target reads "missed"; summary.json is strict JSON
with null for inf; the PNGs are PNGs; a bad format is refused naming the field."""

from __future__ import annotations

import csv
import html
import json
import math
import re
import statistics
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optarena.bench import report, scores
from optarena.errors import UsageError

INF = math.inf
WORKLOADS = ("wa", "wb", "wc")
TARGETS = {"wa": 1.0, "wb": 0.1, "wc": 0.5}
NAMES = ("momentum (external)", "momentum (self)", "adam (external)", "adam (self)")
# (submission, ruleset) rows x workloads x 3 rerun seeds; medians by hand in the comments
RERUN_STEPS = [
    [[20, 30, 40], [50, 60, 70], [10, 10, 20]],  # 30, 60, 10 -> over workloads 30
    [[80, 90, INF], [INF, INF, INF], [40, 40, 50]],  # 90, inf, 40 -> 90
    [[20, 20, 30], [30, 40, 40], [20, 30, 30]],  # 20, 40, 30 -> 30
    [[60, 70, 80], [90, INF, 100], [30, 30, 30]],  # 70, 100, 30 -> 70
]
RERUN_MEDIANS = [[30, 60, 10], [90, INF, 40], [20, 40, 30], [70, 100, 30]]
# AlgoPerf's time (median over studies of each study's fastest trial): adam (self) missed wb
# although its reruns reached it (a study winner that does not carry over)
TIME_STEPS = [[30, 60, 10], [90, INF, 40], [20, 40, 30], [70, INF, 30]]
# external: 4 trials a workload (2 studies x 2), so momentum reached 2 + 1 + 4 = 7 of 12, adam 3 + 3 + 4 = 10
REACHED = [[0.5, 0.25, 1.0], [1.0, 0.0, 1.0], [0.75, 0.75, 1.0], [1.0, 0.5, 1.0]]
# seconds per step: momentum per workload median(1.0, 1.2) = 1.1, 2.0 (self NaN), median(3.0, 2.8) = 2.9 ms
# -> 2.0 ms; adam 1.5, 2.6, 3.4 -> 2.6 ms
SECONDS_PER_STEP = [[1e-3, 2e-3, 3e-3], [1.2e-3, math.nan, 2.8e-3], [1.5e-3, 2.5e-3, 3.5e-3], [1.5e-3, 2.7e-3, 3.3e-3]]


def _curve(i: int) -> dict[str, Any] | None:
    """Rerun i's curve: every rerun starts at 2.0; the third stops after step 10 (it reached its target)."""
    if i == 3:
        return None  # a rerun that raised: no curve
    steps = [0, 10] if i == 2 else [0, 10, 20]
    metric = [2.0, 1.0 + 0.1 * i, 0.5 + 0.1 * i][:len(steps)]
    return {"steps": steps, "metric": metric, "seconds": [0.01 * s for s in steps], "train_loss": metric,
            "diverged_at": -1}


def make_summary() -> dict[str, Any]:
    steps = np.array(TIME_STEPS, dtype=float)
    rerun = np.array(RERUN_STEPS, dtype=float)
    taus = np.linspace(1.0, 4.0, 61)
    space = {"momentum": {"learning_rate": {"lo": 1e-3, "hi": 1.0, "log": True},
                          "one_minus_momentum": {"lo": 1e-3, "hi": 0.5, "log": True}},
             "adam": {"learning_rate": {"lo": 1e-4, "hi": 0.1, "log": True}}}
    hp = {"momentum": {"learning_rate": 0.1, "momentum": 0.9}, "adam": {"learning_rate": 0.01}}
    subs = [{"name": n, "submission": n.split()[0], "optimizer": n.split()[0], "ruleset": n.split()[1].strip("()"),
             "space": {"optimizer": n.split()[0], "fixed": {}, "space": space[n.split()[0]]}} for n in NAMES]
    bsf = [[[INF, 50, 30, 30], [INF, INF, 60, 60], [10, 10, 10, 10]], [[90, 90], [INF, INF], [40, 40]],
           [[25, 20, 20, 20], [40, 40, 40, 40], [30, 30, 30, 30]], [[70, 70], [INF, INF], [30, 30]]]
    return {
        "format": "optarena.bench-summary/1", "quick": True, "budget": {"studies": 2, "trials": 2, "reruns": 3},
        "machine": {"platform": "test-platform", "cores": 2}, "store": "/nowhere/bench.sqlite",
        "workloads": [{"name": w, "title": f"Workload {w}", "kind": "landscape", "metric": "f - f*", "budget": 100,
                       "target": TARGETS[w]} for w in WORKLOADS],
        "submissions": subs, "time_steps": steps.tolist(), "time_seconds": (steps * 0.01).tolist(),
        "rerun_steps": rerun.tolist(), "rerun_seconds": (rerun * 0.01).tolist(), "best_so_far_steps": bsf,
        "reached_share": REACHED,
        "best_hyperparameters": [[hp[s["optimizer"]] if s["ruleset"] == "external" else {}] * 3 for s in subs],
        "rerun_curves": [[[_curve(i) for i in range(4)] for _ in WORKLOADS] for _ in NAMES],
        "seconds_per_step": SECONDS_PER_STEP, "taus": taus.tolist(),
        "profile_steps": scores.performance_profile(steps, taus).tolist(),
        "profile_seconds": scores.performance_profile(steps * 0.01, taus).tolist(),
        "score_steps": scores.algoperf_score(steps).tolist(), "score_seconds": scores.algoperf_score(steps * 0.01).tolist(),
        "score_interval_steps": scores.score_interval(rerun).tolist(),
        "score_interval_seconds": scores.score_interval(rerun * 0.01).tolist(),
        "time_interval_steps": [[list(scores.bootstrap_interval(rerun[e, k])) for k in range(3)] for e in range(4)],
        "wilcoxon_steps": scores.wilcoxon_pairs(np.median(rerun, axis=2), list(NAMES)),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report") / "new" / "folder"  # created by the writer
    return out, report.write_report(make_summary(), out, formats=("html", "json", "csv"))


def _value(text: str) -> float:
    return float(text)  # "inf" and "nan" included


def _cells(page: str) -> dict[str, dict[str, float]]:
    """Every number the page marks: data-key -> {field: value} from its data attributes."""
    out: dict[str, dict[str, float]] = {}
    for tag in re.findall(r"<(?:td|span) [^>]*data-key=[^>]*>", page):
        attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))
        key = html.unescape(attrs.pop("key"))
        out.setdefault(key, {}).update({k: _value(v) for k, v in attrs.items()})
    return out


def _cell_text(page: str, key: str) -> str:
    m = re.search(r'<td [^>]*data-key="' + re.escape(key) + r'"[^>]*>([^<]*)', page)
    assert m, key
    return html.unescape(m.group(1)).strip()


def _median(xs: list[float]) -> float:
    return statistics.median(xs)  # inf sorts last: the median of [90, inf, 40] is 90


def test_files_and_folder(written: tuple[Path, list[Path]]) -> None:
    out, paths = written
    assert sorted(p.name for p in paths) == ["report.html", "summary.json", "table.csv", "table.md", "times.csv"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    assert not list(out.glob(".*tmp*"))  # nothing left from the atomic writes


def test_page_is_self_contained(written: tuple[Path, list[Path]]) -> None:
    plotly = pytest.importorskip("plotly.offline")
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    bundle = plotly.get_plotlyjs()
    assert bundle in page  # Plotly.js inlined whole, from the installed package
    rest = page.replace(bundle, "")
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", rest, re.I)
    assert "http://" not in rest and "https://" not in rest
    assert "@import" not in rest and "url(" not in rest


def test_page_says_what_was_run(written: tuple[Path, list[Path]]) -> None:
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    for text in ("/nowhere/bench.sqlite", "test-platform", "quick", "2 studies &times; 2 trials", "3 seeds",
                 "performance profile", "report written 20"):
        assert text in page, text


def test_plots_carry_the_summary(written: tuple[Path, list[Path]]) -> None:
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    figs = json.loads(re.search(r"var F = (\{.*?\}), config", page, re.S).group(1))  # type: ignore[union-attr]
    assert set(figs) == {"profile-steps", "profile-seconds", "bsf-0", "bsf-1", "bsf-2", "curves-0", "curves-1", "curves-2"}
    summary = make_summary()
    for e, trace in enumerate(figs["profile-steps"]["data"]):
        np.testing.assert_allclose(trace["y"], summary["profile_steps"][e], rtol=1e-6)
        assert trace["name"].startswith(NAMES[e])
    # best so far on wa, momentum (external): a gap (null) until the second trial reaches the target
    assert figs["bsf-0"]["data"][0]["y"] == [None, 50, 30, 30]
    # self-tuning is a flat reference at its AlgoPerf time (momentum (self) on wa: 90)
    assert figs["bsf-0"]["data"][1]["y"] == [90, 90]
    # training curves: mean over the seeds that have an evaluation there (rerun 3 has no curve,
    # rerun 2 stopped after step 10): step 10 -> (1.0 + 1.1 + 1.2) / 3, step 20 -> (0.5 + 0.6) / 2
    means = [t for t in figs["curves-1"]["data"] if t.get("name") == "adam (self)"]
    assert len(means) == 1
    assert means[0]["x"] == [0, 10, 20]
    np.testing.assert_allclose(means[0]["y"], [2.0, 1.1, 0.55], rtol=1e-6)
    assert figs["curves-1"]["layout"]["shapes"][0]["y0"] == TARGETS["wb"]


def test_per_workload_table(written: tuple[Path, list[Path]]) -> None:
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    cells = _cells(page)
    for e, name in enumerate(NAMES):
        for k, w in enumerate(WORKLOADS):
            key = f"{w}|{name}"
            assert cells[f"{key}|time_steps"]["value"] == TIME_STEPS[e][k]
            assert cells[key]["rerun-median-steps"] == _median(RERUN_STEPS[e][k]) == RERUN_MEDIANS[e][k]
            low, high = scores.bootstrap_interval(RERUN_STEPS[e][k])
            assert (cells[key]["rerun-steps-low"], cells[key]["rerun-steps-high"]) == (low, high)
            assert cells[key]["reached-share"] == REACHED[e][k]
            assert cells[key]["time-seconds"] == pytest.approx(TIME_STEPS[e][k] * 0.01)


def test_missed_reads_missed(written: tuple[Path, list[Path]]) -> None:
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    for key in ("wb|momentum (self)|time_steps", "wb|adam (self)|time_steps"):
        assert _cell_text(page, key) == "missed"
        assert _cells(page)[key]["value"] == INF
    assert _cell_text(page, "wb|adam (external)|time_steps") == "40"
    # every number shown in a table cell is a number or says missed / a dash; never "inf" or "nan"
    for text in re.findall(r'<td class="num"[^>]*>([^<]*)', page):
        assert not re.search(r"\b(inf|nan|None)\b", text), text


def test_article_table(written: tuple[Path, list[Path]]) -> None:
    page = (written[0] / "report.html").read_text(encoding="utf-8")
    cells = _cells(page)
    with open(written[0] / "table.csv", newline="") as f:
        csv_rows = {r["submission"]: r for r in csv.DictReader(f)}
    # by hand: memory = state buffers x 4 bytes (momentum: velocity; Adam: first and second moments);
    # time = median over workloads of the reruns' medians; share = trials on target / trials
    want = {
        "momentum": {"state_bytes_per_param": 4.0, "steps_to_target_tuned": 30.0, "steps_to_target_defaults": 90.0,
                     "reached_share": 7 / 12, "seconds_per_step": 2.0e-3},
        "adam": {"state_bytes_per_param": 8.0, "steps_to_target_tuned": 30.0, "steps_to_target_defaults": 70.0,
                 "reached_share": 10 / 12, "seconds_per_step": 2.6e-3},
    }
    per_workload = {("momentum", "steps_to_target_tuned"): RERUN_MEDIANS[0], ("momentum", "steps_to_target_defaults"):
                    RERUN_MEDIANS[1], ("adam", "steps_to_target_tuned"): RERUN_MEDIANS[2],
                    ("adam", "steps_to_target_defaults"): RERUN_MEDIANS[3]}
    assert list(csv_rows) == ["momentum", "adam"]
    for g, fields in want.items():
        row = csv_rows[g]
        assert (int(row["trials_reached"]), int(row["trials"])) == ((7, 12) if g == "momentum" else (10, 12))
        for field, value in fields.items():
            assert cells[f"table|{g}|{field}"]["value"] == pytest.approx(value, rel=1e-12), (g, field)
            assert float(row[field]) == pytest.approx(value, rel=1e-12), (g, field)
        for (gg, field), xs in per_workload.items():
            if gg == g:
                low, high = scores.bootstrap_interval(xs)
                assert (cells[f"table|{g}|{field}"]["low"], cells[f"table|{g}|{field}"]["high"]) == (low, high)
                assert (float(row[field + "_low"]), float(row[field + "_high"])) == (low, high)
        e = 0 if g == "momentum" else 2
        low, high = scores.bootstrap_interval(REACHED[e], np.mean)
        assert (float(row["reached_share_low"]), float(row["reached_share_high"])) == (low, high)
        assert float(row["state_bytes_low"]) == float(row["state_bytes_high"]) == fields["state_bytes_per_param"]
    md = (written[0] / "table.md").read_text(encoding="utf-8")
    lo, hi = scores.bootstrap_interval(RERUN_MEDIANS[0])
    assert f"| momentum | 4 | 30 [{lo:g}, {hi:g}] | 90 [" in md
    assert "| adam | 8 | 30 [" in md and "| 83.3% [" in md
    # the interval of momentum's defaults reaches a miss (wb): its upper end is inf, shown as infinity
    assert float(csv_rows["momentum"]["steps_to_target_defaults_high"]) == INF
    assert "\u221e" in _cell_text(page, "table|momentum|steps_to_target_defaults")


def test_scores_table(written: tuple[Path, list[Path]]) -> None:
    cells = _cells((written[0] / "report.html").read_text(encoding="utf-8"))
    summary = make_summary()
    again = scores.algoperf_score(np.array(RERUN_MEDIANS, dtype=float))
    for e, name in enumerate(NAMES):
        assert cells[f"score|{name}|steps"]["value"] == summary["score_steps"][e]
        assert cells[f"rerun_score|{name}|steps"]["value"] == pytest.approx(again[e])
        low, high = summary["score_interval_steps"][e]
        assert (cells[f"rerun_score|{name}|steps"]["low"], cells[f"rerun_score|{name}|steps"]["high"]) == (low, high)
    # momentum (external) is fastest on wc (10 vs 30) and 1.5x adam on wa (30 / 20), 1.5x on wb
    # (60 / 40): (3 + 2.5 + 2.5) / 3 / 3 = 8 / 9 by hand
    assert summary["score_steps"][0] == pytest.approx(8 / 9)


def test_times_csv(written: tuple[Path, list[Path]]) -> None:
    with open(written[0] / "times.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(NAMES) * len(WORKLOADS)
    for r in rows:
        e, k = NAMES.index(r["submission"]), WORKLOADS.index(r["workload"])
        assert r["ruleset"] == NAMES[e].split()[1].strip("()")
        assert float(r["target"]) == TARGETS[r["workload"]]
        assert float(r["time_steps"]) == TIME_STEPS[e][k]
        assert float(r["time_seconds"]) == pytest.approx(TIME_STEPS[e][k] * 0.01)
        assert float(r["rerun_median_steps"]) == _median(RERUN_STEPS[e][k])
        assert float(r["rerun_median_seconds"]) == pytest.approx(_median([s * 0.01 for s in RERUN_STEPS[e][k]]))
        assert float(r["reached_share"]) == REACHED[e][k]
        assert int(r["reruns"]) == 3
        sps = SECONDS_PER_STEP[e][k]
        assert (r["seconds_per_step"] == "") if math.isnan(sps) else float(r["seconds_per_step"]) == sps
    missed = [r for r in rows if r["workload"] == "wb" and r["submission"] == "momentum (self)"][0]
    assert missed["time_steps"] == missed["rerun_median_steps"] == "inf"


def _strict(name: str) -> Any:
    raise AssertionError(f"not strict JSON: {name}")


def test_json_is_strict_and_round_trips(written: tuple[Path, list[Path]]) -> None:
    text = (written[0] / "summary.json").read_text(encoding="utf-8")
    doc = json.loads(text, parse_constant=_strict)
    assert "null" in doc["note"] and "inf" in doc["note"].lower()
    summary = make_summary()
    s = doc["summary"]
    assert s["time_steps"] == [[None if math.isinf(x) else x for x in row] for row in TIME_STEPS]
    assert s["seconds_per_step"][1][1] is None
    assert s["rerun_steps"][1][1] == [None, None, None]
    assert s["profile_steps"] == summary["profile_steps"]
    assert doc["times"][0]["rerun_median_steps"] == 30
    assert [r["submission"] for r in doc["article_table"]] == ["momentum", "adam"]
    # a report rebuilt from the strict file reads its nulls back as misses: the same tables
    assert report.strict(report.times_rows(s)) == report.strict(report.times_rows(summary))
    assert report.times_rows(s)[4]["time_steps"] == INF  # a null time read back as a miss, not a NaN
    assert report.strict(report.article_rows(s)) == report.strict(report.article_rows(summary))


def test_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    paths = report.write_report(make_summary(), tmp_path, formats="png")
    assert [p.name for p in paths] == list(report.PNGS)
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", p.name
        assert data[12:16] == b"IHDR"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 600 and height >= 300, (p.name, width, height)
        assert len(data) > 10_000, (p.name, len(data))
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("bad", ["pdf", ("html", "xml"), (), [3], "HTML5"])
def test_bad_format_is_refused(tmp_path: Path, bad: Any) -> None:
    out = tmp_path / "out"
    with pytest.raises(UsageError) as err:
        report.write_report(make_summary(), out, formats=bad)
    assert err.value.field == "format"
    assert err.value.allowed == list(report.FORMATS)
    assert "html, png, json, csv" in str(err.value)
    assert not out.exists()  # refused before anything is written


def test_formats_choose_files(tmp_path: Path) -> None:
    assert report.check_formats(["CSV", "json", "csv"]) == ("csv", "json")
    paths = report.write_report(make_summary(), tmp_path, formats=["csv"])
    assert sorted(p.name for p in paths) == ["table.csv", "table.md", "times.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv", "table.md", "times.csv"]


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("mine")
    with pytest.raises(UsageError) as err:
        report.write_report(make_summary(), f, formats="csv")
    assert err.value.field == "output"
    assert f.read_text() == "mine"


def test_seed_tests_against_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    summary = make_summary()
    rng = np.random.default_rng(3)
    seeds = 8
    rerun = rng.permutation(np.arange(10, 10 + 4 * 3 * seeds)).reshape(4, 3, seeds).astype(float) * 10
    rerun[1, 0, :3] = INF  # momentum (self) missed wa on three seeds
    summary["budget"] = {**summary["budget"], "reruns": seeds}
    summary["rerun_steps"], summary["rerun_seconds"] = rerun.tolist(), (rerun * 0.01).tolist()
    tests = report.seed_tests(summary)
    assert list(tests) == list(WORKLOADS)
    for k, w in enumerate(WORKLOADS):
        pairs = {(p["a"], p["b"]): p for p in tests[w]}
        assert len(pairs) == 6  # 4 submissions, every pair once
        for (a, b), p in pairs.items():
            x, y = rerun[NAMES.index(a), k].copy(), rerun[NAMES.index(b), k].copy()
            big = 2 * max(v for v in np.concatenate([x, y]) if math.isfinite(v)) + 1  # a miss ranks slowest
            x[np.isinf(x)], y[np.isinf(y)] = big, big
            assert p["p_value"] == pytest.approx(stats.wilcoxon(x, y).pvalue, rel=1e-12)
        # Holm's first step: the smallest p times the number of tests
        smallest = min(pairs.values(), key=lambda p: p["p_value"])
        assert smallest["p_holm"] == pytest.approx(min(1.0, 6 * smallest["p_value"]))
    page = report.page(summary)
    assert "paired by rerun seed" in page


def test_summary_without_reruns(tmp_path: Path) -> None:
    """A bench with no reruns (and none of the summary's optional parts) still gives every file;
    its times are AlgoPerf's (median over studies) and the page says why there are no tests."""
    full = make_summary()
    keep = ("format", "quick", "machine", "store", "workloads", "submissions", "time_steps", "time_seconds", "taus",
            "profile_steps", "profile_seconds", "score_steps", "score_seconds", "best_so_far_steps", "reached_share",
            "seconds_per_step")
    summary = {k: full[k] for k in keep}
    summary["budget"] = {"studies": 2, "trials": 2, "reruns": 0}
    summary["rerun_steps"] = summary["rerun_seconds"] = [[[] for _ in WORKLOADS] for _ in NAMES]
    paths = report.write_report(summary, tmp_path, formats=("html", "csv"))
    assert len(paths) == 4
    rows = report.times_rows(summary)
    assert [r["rerun_median_steps"] for r in rows] == [t for row in TIME_STEPS for t in row]
    assert all(math.isnan(r["rerun_steps_low"]) for r in rows)  # no interval without reruns
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No pairwise tests" in page
    assert report.article_rows(summary)[0]["steps_to_target_tuned"] == _median([30, 60, 10])


def test_summary_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = make_summary()
    bad["time_steps"] = bad["time_steps"][:2]  # two submissions' times for four submissions
    for summary, words in ((bad, "4 submissions x 3 workloads"), ({"budget": {}}, "summary lacks submissions")):
        with pytest.raises(UsageError, match=words) as err:
            report.write_report(summary, tmp_path / "out", formats="csv")
        assert err.value.field == "summary"
    assert not (tmp_path / "out").exists()
