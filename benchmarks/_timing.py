"""Shared by the benchmark scripts (run as `python benchmarks/bench_*.py`, so this folder is on the path)."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of ``rounds`` calls of ``fn``."""
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
