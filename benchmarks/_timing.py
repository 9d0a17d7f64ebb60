"""Shared by the benchmark scripts (run as `python benchmarks/bench_*.py`, so this folder is on the path).

The method lives in the package (optarena._timing), so that `optarena table` measures as the
benchmarks do.
"""

from __future__ import annotations

from optarena._timing import interleaved_medians, median_seconds

__all__ = ["interleaved_medians", "median_seconds"]
