"""Run a benchmark script as a user would (tiny sizes: tests never assert timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str, timeout: float = 600) -> str:
    """``python benchmarks/NAME.py ARGS...``; asserts it exits 0 and returns what it printed."""
    out = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout
