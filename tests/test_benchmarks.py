"""The benchmark scripts still run (tiny sizes; timings are never asserted in tests), and the
tables they print add up: every figure parses as a number, and each ratio column is the ratio of
the figures it is computed from (within the rounding of the printed digits).

They take a minute or more together: marked slow, run in CI (CI=true) or with --runslow."""

from __future__ import annotations

import math
import re

import pytest

from scripts import run_benchmark

pytestmark = pytest.mark.slow


def _tables(out: str) -> list[list[dict[str, str]]]:
    """Every markdown table printed, as rows of {column: cell} (bold marks removed)."""
    tables, lines = [], out.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("|---") and k > 0 and lines[k - 1].startswith("|"):
            cols = [c.strip() for c in lines[k - 1].strip("|").split("|")]
            rows = []
            for row in lines[k + 1:]:
                if not row.startswith("|"):
                    break
                cells = [c.strip().replace("**", "") for c in row.strip("|").split("|")]
                assert len(cells) == len(cols), row
                rows.append(dict(zip(cols, cells)))
            tables.append(rows)
    return tables


def _number(cell: str) -> float:
    """A printed figure: '1.91e+06', '4829.3', '5.225 (extrapolated)', '219.5x faster'."""
    m = re.fullmatch(r"(-?[0-9.]+(?:e[+-]?[0-9]+)?)(?:x faster| \(extrapolated\))?", cell)
    assert m, f"not a number: {cell!r}"
    v = float(m.group(1))
    assert math.isfinite(v) and v >= 0, cell
    return v


def _printed(cell: str) -> tuple[float, float]:
    """The interval a printed figure was rounded from (half a unit of its last digit)."""
    mantissa = re.match(r"[0-9.]+", cell).group(0)
    exp = re.search(r"e([+-]?[0-9]+)", cell)
    last = -len(mantissa.split(".")[1]) if "." in mantissa else 0
    half = 0.5 * 10.0 ** (last + (int(exp.group(1)) if exp else 0))
    v = _number(cell)
    return v - half, v + half


def _ratio_ok(ratio: str, num: str, den: str) -> bool:
    """``ratio`` printed is num / den printed, within the rounding of all three."""
    (a0, a1), (b0, b1), (r0, r1) = _printed(num), _printed(den), _printed(ratio)
    return r0 <= a1 / max(b0, 1e-300) and a0 / b1 <= r1


def test_bench_muon_runs():
    pytest.importorskip("torch")
    out = run_benchmark("bench_muon", "--size", "64", "--rounds", "1", "--warmup", "0")
    (table,) = _tables(out)
    rows = {r["implementation"].split(" (")[0]: r for r in table}
    assert _number(rows["optarena"]["ours / it"]) == 1
    theirs = rows["torch.optim.Muon"]
    assert _ratio_ok(theirs["ours / it"], rows["optarena"]["seconds"], theirs["seconds"])


def test_bench_optim_runs():
    pytest.importorskip("torch")
    out = run_benchmark("bench_optim", "--size", "70000", "--rounds", "1", "--slice", "500")
    for name in ("sgd", "momentum", "adam"):
        assert f"| {name} | torch fused=True |" in out
        assert f"| {name} | **optarena reaches** |" in out
    (table,) = _tables(out)
    for name in ("sgd", "momentum", "adam"):
        rows = {r["implementation"]: r for r in table if r["optimizer"] == name}
        ours = rows.pop("optarena")
        assert _number(ours["ours / it"]) == 1
        reaches = rows.pop("optarena reaches")["ours / it"]
        for impl, row in rows.items():  # ours / it: our step time over its
            assert _ratio_ok(row["ours / it"], ours["step (ms)"], row["step (ms)"]), (name, impl, row)
            _number(row["GB/s"])
        # "optarena reaches N% of stream": 100 / (ours / memory stream), rounded
        pct = re.fullmatch(r"(\d+)% of stream", reaches)
        assert pct, reaches
        assert abs(int(pct.group(1)) - 100 / _number(rows["memory stream"]["ours / it"])) <= 1


def test_bench_race_runs():
    pytest.importorskip("torch")
    out = run_benchmark("bench_race", "--runs", "200", "--steps", "50", "--rounds", "1", "--second-order-runs", "20",
                        "--nd-dim", "20000", "--nd-steps", "20")
    assert "| optarena fused |" in out and "| torch batched in place |" in out
    assert "| optarena race (warm) |" in out
    throughput, latency, per_eval, nd = _tables(out)
    assert [r["implementation"] for r in nd] == ["optarena compiled N-D loop", "stream of the same arrays (numba)",
                                                 "optarena NumPy engine"]
    stream = _number(nd[1]["seconds / step"])
    for row in nd:  # stream / it: the stream's seconds a step over the row's
        share = stream / _number(row["seconds / step"])
        assert abs(_number(row["stream / it"].rstrip("%")) / 100 - share) <= 0.01 * share + 0.001, row
    assert [r["racer"] for r in per_eval] == ["adam", "newton", "lbfgs", "lbfgs max_iter=1", "lbfgs (fused)", "lbfgs (auto)",
                                              "lbfgs max_iter=1 (fused)", "lbfgs max_iter=1 (auto)", "newton (fused)",
                                              "newton (auto)"]
    adam = per_eval[0]
    assert _number(adam["/ Adam's"]) == 1 and _number(adam["evaluations"].replace(",", "")) == 20 * 100
    for row in per_eval[1:]:  # / Adam's: its time per evaluation over Adam's
        each = _number(row["us / evaluation"])
        assert _ratio_ok(row["/ Adam's"], row["us / evaluation"], adam["us / evaluation"]) and each > 0, row
    fused = throughput[0]
    assert fused["implementation"] == "optarena fused" and _number(fused["optarena fused / it"]) == 1
    for row in throughput[1:]:  # optarena fused / it: fused's rate over its rate
        assert _ratio_ok(row["optarena fused / it"], fused["run-steps/s"], row["run-steps/s"]), row
    ours = latency[0]
    assert ours["implementation"] == "optarena race (warm)" and _number(ours["optarena / it"]) == 1
    for row in latency[1:]:  # times: ours over its
        assert _ratio_ok(row["optarena / it"], ours["median (ms)"], row["median (ms)"]), row
    m = re.search(r"target >= \S+ run-steps/s: (?:met|NOT met) \((\S+)\)", out)
    assert m and m.group(1) == fused["run-steps/s"]


def test_bench_sweep_runs():
    out = run_benchmark("bench_sweep", "--grid", "6", "--basins", "8", "--steps", "30", "--rounds", "1",
                        "--workers", "1", "--loop-settings", "5")
    assert "| sweep() here (median of 1) |" in out and "sweep(scheduler='local:1')" in out
    assert "2. basin map, Adam on Himmelblau, 8 x 8 starts" in out
    (table,) = _tables(out)
    here, dask, loop = table
    assert _number(here["sweep here / it"]) == 1
    # every row times the same 6 x 6 settings x 30 steps: seconds x rate is that work
    for row in table:
        (s0, s1), (r0, r1) = _printed(row["seconds"]), _printed(row["run-steps per second"])
        assert s0 * r0 <= 6 * 6 * 30 <= s1 * r1, row
    assert _ratio_ok(dask["sweep here / it"], here["seconds"], dask["seconds"]), dask  # seconds here over its
    assert _ratio_ok(loop["sweep here / it"].removesuffix("x faster"), loop["seconds"], here["seconds"]), loop


def test_bench_serve_runs():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    out = run_benchmark("bench_serve", "--duration", "5", "--clients", "2", "--warmup", "2", timeout=300)
    for line in ("| kind | sent |", "| race |", "| **all** |", "| RSS after warm-up |", "| RSS at end |",
                 "| RSS end / warm-up |", "| issue 10 target"):
        assert line in out, out
    assert "| 5xx | 0 |" in out and "| requests without an answer | 0 |" in out, out
    assert "| process deaths (worker PIDs that changed) | 0 |" in out, out
    kinds, measures = _tables(out)
    *each, total = kinds
    assert total["kind"] == "all"
    # the outcome columns are the ones that occurred in this run (200, 422, timeouts ...)
    outcomes = [c for c in total if c not in ("kind", "sent", "p50 ms", "p95 ms")]
    assert "200" in outcomes, total
    for col in ("sent", *outcomes):  # the "all" row is the sum of the kinds
        assert int(total[col]) == sum(int(r[col]) for r in each), col
    for r in kinds:
        assert sum(int(r[c]) for c in outcomes if c.isdigit()) <= int(r["sent"]), r
        assert 0 <= _number(r["p50 ms"]) <= _number(r["p95 ms"]), r
    values = {r["measure"]: r["value"] for r in measures}
    rss = {k: float(values[k].removesuffix(" MB")) for k in ("RSS after warm-up", "RSS at end")}
    assert _number(values["RSS end / warm-up"]) == pytest.approx(rss["RSS at end"] / rss["RSS after warm-up"], abs=0.01)
