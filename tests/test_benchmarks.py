"""The benchmark scripts still run (tiny sizes; timings are never asserted in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_optim_runs():
    pytest.importorskip("torch")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_optim.py"), "--size", "70000", "--rounds", "1", "--slice", "500"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    for name in ("sgd", "momentum", "adam"):
        assert f"| {name} | torch fused=True |" in out.stdout
        assert f"| {name} | **optarena reaches** |" in out.stdout


def test_bench_race_runs():
    pytest.importorskip("torch")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_race.py"), "--runs", "200", "--steps", "50", "--rounds", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "| optarena fused |" in out.stdout and "| torch batched in place |" in out.stdout
    assert "| optarena race (warm) |" in out.stdout
