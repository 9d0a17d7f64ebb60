"""Wall-time medians, one method for the benchmarks (benchmarks/_timing.py) and ``optarena table``.

Contenders are timed in interleaved rounds (each round calls every contender once, in turn), so
whatever drifts during the measurement (clock boost, another process taking a core) hits them all
alike; each gets untimed warm-up calls first (compiling, allocating state, faulting pages in);
the median of the rounds is reported, as it ignores the rounds a stray interruption spoiled.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Hashable, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)


def interleaved_medians(contenders: Mapping[K, Callable[[], object]], rounds: int, warmup: int = 2,
                        clock: Callable[[], float] = time.perf_counter) -> dict[K, float]:
    """Median seconds of one call of each contender over ``rounds`` interleaved rounds, after
    ``warmup`` untimed calls of each. ``clock`` is passed in so tests can drive it."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds!r}")
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[K, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for k, fn in contenders.items():
            t0 = clock()
            fn()
            times[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def median_seconds(fn: Callable[[], object], rounds: int, warmup: int = 0) -> float:
    """Median wall time of ``rounds`` calls of ``fn`` (one contender: nothing to interleave)."""
    return interleaved_medians({0: fn}, rounds, warmup)[0]
