"""The benchmark scripts still run (tiny sizes; timings are never asserted in tests)."""

from __future__ import annotations

import pytest

from scripts import run_benchmark


def test_bench_optim_runs():
    pytest.importorskip("torch")
    out = run_benchmark("bench_optim", "--size", "70000", "--rounds", "1", "--slice", "500")
    for name in ("sgd", "momentum", "adam"):
        assert f"| {name} | torch fused=True |" in out
        assert f"| {name} | **optarena reaches** |" in out


def test_bench_race_runs():
    pytest.importorskip("torch")
    out = run_benchmark("bench_race", "--runs", "200", "--steps", "50", "--rounds", "1")
    assert "| optarena fused |" in out and "| torch batched in place |" in out
    assert "| optarena race (warm) |" in out


def test_bench_sweep_runs():
    out = run_benchmark("bench_sweep", "--grid", "6", "--basins", "8", "--steps", "30", "--rounds", "1",
                        "--workers", "1", "--loop-settings", "5")
    assert "| sweep() here (median of 1) |" in out and "sweep(scheduler='local:1')" in out
    assert "2. basin map, Adam on Himmelblau, 8 x 8 starts" in out


def test_bench_serve_runs():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    out = run_benchmark("bench_serve", "--duration", "5", "--clients", "2", "--warmup", "2", timeout=300)
    for line in ("| kind | sent |", "| race |", "| **all** |", "| RSS after warm-up |", "| RSS at end |",
                 "| RSS end / warm-up |", "| issue 10 target"):
        assert line in out, out
    assert "| 5xx | 0 |" in out and "| requests without an answer | 0 |" in out, out
    assert "| process deaths (worker PIDs that changed) | 0 |" in out, out
