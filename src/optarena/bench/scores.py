"""The bench's statistics: time to target, AlgoPerf's workload time, performance profiles and score,
bootstrap intervals, paired tests. Pure functions over arrays; a time is ``inf`` for a missed target.

Sources: AlgoPerf (Dahl et al. 2023, "Benchmarking Neural Network Training Algorithms", section
"Scoring"; its technical documentation, "Benchmark score using performance profiles"), performance
profiles (Dolan & Moré 2002, "Benchmarking optimization software with performance profiles"),
best-so-far curves against the tuning budget (Schmidt et al. 2021, "Descending through a Crowded
Valley"), the percentile bootstrap (Efron & Tibshirani 1993, ch. 13), Holm's step-down correction
(Holm 1979). scipy (only for the Wilcoxon test) is imported when that test runs.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import UsageError
from ..extras import BENCH, need

__all__ = [
    "TAU_MAX", "MIN_PAIRS", "time_to_target", "workload_time", "performance_profile", "algoperf_score",
    "bootstrap_interval", "score_interval", "wilcoxon_pairs", "holm", "best_so_far", "seed_band",
]

#: AlgoPerf's r_max: the profile's upper limit, past which a submission gets no credit on a workload.
TAU_MAX = 4.0
#: Fewest nonzero paired differences for a Wilcoxon test: with n of them the smallest two-sided
#: exact p-value is 2 / 2**n, which first falls below 0.05 at n = 6 (0.03125; n = 5 gives 0.0625).
MIN_PAIRS = 6

Statistic = Callable[..., Any]


# ---------------------------------------------------------------------------------------- input checks

def _times(values: ArrayLike, field: str, shape: str, *, times: bool = True) -> NDArray[np.float64]:
    """``values`` as float64 with ``shape``'s number of axes (``"(submissions, workloads)"``), none
    empty, every entry a time >= 0 or inf (a miss), or with ``times=False`` any number: NaN is
    refused, never read as a miss."""
    ndim = len([axis for axis in shape.strip("()").split(",") if axis.strip()])
    try:
        t = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{field} must be a {shape} array of times >= 0 (inf for a missed target), got {values!r:.80}",
                         field=field) from None
    if t.ndim != ndim or t.size == 0:
        raise UsageError(f"{field} must be a non-empty {shape} array of times, got shape {t.shape}", field=field, allowed=shape)
    if np.isnan(t).any():
        raise UsageError(f"{field} holds NaN: a missed target is inf, a time is a number >= 0", field=field)
    if times and (t < 0).any():
        raise UsageError(f"{field} holds a negative time ({t.min():g}): times must be >= 0 (inf for a miss)", field=field)
    return t


def _tau_max(tau_max: float, field: str = "tau_max") -> float:
    if not isinstance(tau_max, (int, float, np.floating, np.integer)) or isinstance(tau_max, bool) \
            or not np.isfinite(tau_max) or tau_max <= 1:
        raise UsageError(f"{field} must be a finite number > 1 (AlgoPerf uses 4), got {tau_max!r}", field=field, allowed="(1, inf)")
    return float(tau_max)


def _level(level: float) -> float:
    if not isinstance(level, (int, float, np.floating)) or isinstance(level, bool) or not 0 < level < 1:
        raise UsageError(f"level must be in (0, 1) (0.95 for a 95% interval), got {level!r}", field="level", allowed="(0, 1)")
    return float(level)


def _count(n: Any, field: str, low: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < low:
        raise UsageError(f"{field} must be an integer >= {low}, got {n!r}", field=field, allowed=f">= {low}")
    return int(n)


# ---------------------------------------------------------------------------------------- times

def time_to_target(steps: ArrayLike, metric: ArrayLike, seconds: ArrayLike, target: float) -> tuple[float, float]:
    """Steps and seconds at the first evaluation whose metric is <= ``target`` (lower is better);
    ``(inf, inf)`` if none is. AlgoPerf: a run is scored at the first evaluation that reaches the
    validation target, infinity if it never does within its budget. A NaN metric (diverged) never
    reaches the target."""
    s = np.asarray(steps, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    sec = np.asarray(seconds, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or m.shape != s.shape or sec.shape != s.shape:
        raise UsageError(f"steps, metric and seconds must be 1-D arrays of one length >= 1, got shapes {s.shape}, {m.shape}, "
                         f"{sec.shape}", field="curve", allowed="(evaluations,)")
    for name, a in (("steps", s), ("seconds", sec)):
        if not np.isfinite(a).all() or (a < 0).any() or (np.diff(a) < 0).any():
            raise UsageError(f"{name} must be finite, >= 0 and nondecreasing", field=name)
    if isinstance(target, bool) or not isinstance(target, (int, float, np.floating, np.integer)) or not np.isfinite(target):
        raise UsageError(f"target must be a finite number (the metric's value to reach), got {target!r}", field="target")
    with np.errstate(invalid="ignore"):  # NaN <= target is False: a diverged evaluation never counts
        hit = np.flatnonzero(m <= target)
    if hit.size == 0:
        return float("inf"), float("inf")
    return float(s[hit[0]]), float(sec[hit[0]])


def workload_time(times: ArrayLike) -> float:
    """AlgoPerf's external-tuning time of one submission on one workload:
    ``median over studies of (min over the study's trials of t)``, t = inf for a trial that missed.

    A study with no trial on target is inf, and the median counts it: with 3 studies the workload
    is inf unless at least 2 studies reached the target (median of [1, inf, inf] = inf, of
    [1, 2, inf] = 2). For an even number of studies the median is the mean of the middle two,
    inf when either is."""
    t = _times(times, "times", "(studies, trials)")
    return float(np.median(t.min(axis=1)))


# ---------------------------------------------------------------------------------------- profiles

def _ratios(t: NDArray[np.float64], tau_max: float | None) -> NDArray[np.float64]:
    """Performance ratios r_{s,w} = t_{s,w} / min_s' t_{s',w} over axis -2 (submissions) of
    (..., submissions, workloads) times. A time equal to the best is 1 (ties, and a best of 0);
    any other time over a best of 0 is inf; a workload nobody reached is inf for everyone (never
    inf / inf = NaN); with ``tau_max``, a ratio above it is inf (AlgoPerf's 4x rule)."""
    best = t.min(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(t == best, 1.0, t / best)
    r = np.where(np.isinf(best), np.inf, r)
    if tau_max is not None:
        r = np.where(r > tau_max, np.inf, r)
    return r


def performance_profile(times: ArrayLike, taus: ArrayLike, *, tau_max: float | None = TAU_MAX) -> NDArray[np.float64]:
    """rho_s(tau) = (1/|W|) * #{w : r_{s,w} <= tau}, r_{s,w} = t_{s,w} / min_s' t_{s',w}
    (Dolan & Moré 2002; AlgoPerf), for (submissions, workloads) ``times``: (submissions, len(taus)).

    A miss (inf) never counts, and a workload that no submission reached counts as a miss for
    every submission (it stays in |W|). ``tau_max``: AlgoPerf's definition, in which a submission
    more than ``tau_max`` times slower than the fastest gets no credit on that workload (its ratio is
    set to infinity), so rho is flat past ``tau_max``; ``None`` gives Dolan & Moré's uncapped profile.
    The two agree for every tau <= tau_max."""
    t = _times(times, "times", "(submissions, workloads)")
    tau = np.atleast_1d(np.asarray(taus, dtype=np.float64))
    if tau.ndim != 1 or np.isnan(tau).any():
        raise UsageError(f"taus must be a 1-D array of numbers, got shape {tau.shape}", field="taus")
    r = _ratios(t, None if tau_max is None else _tau_max(tau_max))
    return np.asarray((r[:, :, None] <= tau[None, None, :]).mean(axis=1), dtype=np.float64)


def _score(t: NDArray[np.float64], tau_max: float) -> NDArray[np.float64]:
    # rho_s is a step function: each workload adds 1/|W| from tau = r_{s,w} on, so
    # integral_1^T [r <= tau] dtau = max(0, T - r) exactly (r >= 1; 0 for r = inf)
    r = _ratios(t, tau_max)
    return np.asarray(np.clip(tau_max - r, 0.0, None).mean(axis=-1) / (tau_max - 1.0), dtype=np.float64)


def algoperf_score(times: ArrayLike, tau_max: float = TAU_MAX) -> NDArray[np.float64]:
    """AlgoPerf's benchmark score B_s = (1/(tau_max - 1)) * integral_1^tau_max rho_s(tau) dtau, in
    [0, 1], for (submissions, workloads) ``times``: (submissions,).

    Integrated exactly: rho_s steps up by 1/|W| at each ratio, so
    B_s = (1/(|W| (tau_max - 1))) * sum_w max(0, tau_max - r_{s,w}), with r = inf (no credit) for a
    miss and for a ratio above tau_max. (AlgoPerf's scoring code samples rho on a grid and uses the
    trapezoid rule, which this equals as the grid is refined.) Fastest everywhere: 1; never on target: 0."""
    t = _times(times, "times", "(submissions, workloads)")
    return _score(t, _tau_max(tau_max))


# ---------------------------------------------------------------------------------------- intervals

def _percentile_interval(stats: NDArray[np.float64], level: float) -> NDArray[np.float64]:
    # order statistics (inverted CDF), never interpolated: an interpolation between inf and inf is NaN
    alpha = 1.0 - level
    return np.asarray(np.quantile(stats, [alpha / 2, 1 - alpha / 2], axis=0, method="inverted_cdf"), dtype=np.float64)


def bootstrap_interval(samples: ArrayLike, statistic: Statistic = np.median, level: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over 1-D ``samples`` (numbers, inf for a miss,
    never NaN) (Efron & Tibshirani 1993): draw ``n_resamples`` resamples of len(samples) with
    replacement, compute the statistic of each, and return its (1 - level)/2 and (1 + level)/2
    quantiles (order statistics, so inf samples give an interval such as (x, inf) rather than NaN).
    ``statistic`` takes ``axis=`` as NumPy's reductions do. Deterministic given ``seed``."""
    x = _times(samples, "samples", "(samples,)", times=False)
    lv, b = _level(level), _count(n_resamples, "n_resamples")
    rng = np.random.default_rng(seed)
    draws = x[rng.integers(0, x.size, size=(b, x.size))]
    stats = np.asarray(statistic(draws, axis=1), dtype=np.float64)
    if stats.shape != (b,):
        raise UsageError("statistic must reduce a (resamples, samples) array along axis=1 to one number per resample",
                         field="statistic")
    low, high = _percentile_interval(stats, lv)
    return float(low), float(high)


def score_interval(per_seed_times: ArrayLike, tau_max: float = TAU_MAX, level: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> NDArray[np.float64]:
    """Percentile bootstrap interval of each submission's AlgoPerf score, from (submissions,
    workloads, seeds) times to target: (submissions, 2) [low, high].

    What is resampled: for each workload independently, len(seeds) seed indices drawn with
    replacement, the same indices for every submission (seed k fixes a workload's initialisation
    and data order for all submissions, so the pairing is kept). A submission's time on a workload
    is the median of its times over the drawn seeds; the scores of all submissions are recomputed
    together from that table (the fastest time, the ratios' denominator, is resampled too)."""
    t = _times(per_seed_times, "per_seed_times", "(submissions, workloads, seeds)")
    tm, lv, b = _tau_max(tau_max), _level(level), _count(n_resamples, "n_resamples")
    n_sub, n_work, n_seed = t.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_seed, size=(b, 1, n_work, n_seed))
    drawn = np.take_along_axis(t[None], np.broadcast_to(idx, (b, n_sub, n_work, n_seed)), axis=3)
    scores = _score(np.median(drawn, axis=3), tm)  # (resamples, submissions)
    return np.ascontiguousarray(_percentile_interval(scores, lv).T)


# ---------------------------------------------------------------------------------------- paired tests

def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm's (1979) step-down adjusted p-values: with the m valid p-values sorted ascending,
    p~_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j)). NaN entries (no test) stay NaN and are not
    counted in m."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m:
        order = valid[np.argsort(p[valid], kind="stable")]
        adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(adjusted)
    return out


def wilcoxon_pairs(times: ArrayLike, names: Sequence[str], *, min_pairs: int = MIN_PAIRS) -> list[dict[str, Any]]:
    """Two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon`` with its defaults:
    ``zero_method="wilcox"`` drops zero differences; no continuity correction; the exact p for
    n <= 50 without ties or zeros, a full permutation p for n <= 13 with them, else the normal
    approximation; the statistic is min(W+, W-)) for every pair of rows of (submissions, n) paired
    times (by workload or by seed), with Holm-corrected p-values over all pairs.

    Misses: an inf is replaced by M = 2 * (largest finite time of the pair's two rows) + 1, so a
    difference with one miss outranks every difference between two finite times (a miss is slower
    than any time, ranked last) and two misses tie (difference 0, dropped). ``n`` counts the nonzero
    differences; fewer than ``min_pairs`` gives statistic and p NaN with the reason, not an error.
    Each entry: {a, b, n, statistic, p_value, p_holm, a_faster, b_faster, ties, reason}."""
    t = _times(times, "times", "(submissions, pairs)")
    labels = [str(n) for n in names]
    if len(labels) != t.shape[0] or len(set(labels)) != len(labels):
        raise UsageError(f"names must be {t.shape[0]} distinct names, one per row of times, got {len(labels)}", field="names")
    low = _count(min_pairs, "min_pairs")
    rows: list[dict[str, Any]] = []
    for i in range(t.shape[0]):
        for j in range(i + 1, t.shape[0]):
            a, b = t[i], t[j]
            finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
            big = 2.0 * (finite.max() if finite.size else 0.0) + 1.0
            x, y = np.where(np.isinf(a), big, a), np.where(np.isinf(b), big, b)
            n = int(np.count_nonzero(x != y))
            row: dict[str, Any] = {"a": labels[i], "b": labels[j], "n": n, "statistic": float("nan"), "p_value": float("nan"),
                                   "a_faster": int(np.count_nonzero(x < y)), "b_faster": int(np.count_nonzero(x > y)),
                                   "ties": int(x.size - n), "reason": None}
            if n < low:
                row["reason"] = f"{n} nonzero paired differences; the test needs at least {low}"
            else:
                stats = need("scipy.stats", BENCH, "the bench's Wilcoxon tests")
                res = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
                row["statistic"], row["p_value"] = float(res.statistic), float(res.pvalue)
            rows.append(row)
    for row, p in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = float(p)
    return rows


# ---------------------------------------------------------------------------------------- curves

def best_so_far(trial_times: ArrayLike) -> NDArray[np.float64]:
    """The best time to target after each trial, in trial order: out[..., k] = min_{i <= k} t[..., i]
    (along the last axis): the best-so-far curve against the tuning budget of Schmidt et al. 2021.
    inf until a trial reaches the target."""
    t = _times(trial_times, "trial_times", "(" + "..., " * (np.ndim(trial_times) - 1) + "trials)")
    return np.asarray(np.minimum.accumulate(t, axis=-1), dtype=np.float64)


def seed_band(values: ArrayLike, axis: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Mean, sample standard deviation (ddof = 1) and count over ``axis`` (the seeds), ignoring NaN
    (a diverged run's metric): the mean +- sd bands of DeepOBS (Schneider et al. 2019). The mean is
    NaN where no value is left, the sd where fewer than two are."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or not -v.ndim <= axis < v.ndim:
        raise UsageError(f"values must have an axis {axis} (the seeds), got shape {v.shape}", field="values")
    ok = ~np.isnan(v)
    n = ok.sum(axis=axis)
    # sums over the values left, so that an all-NaN column is NaN without numpy's empty-slice warning
    total = np.where(ok, v, 0.0).sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        dev = np.where(ok, v - np.expand_dims(mean, axis), 0.0)
        sd = np.where(n > 1, np.sqrt((dev ** 2).sum(axis=axis) / (n - 1)), np.nan)
    return np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64), np.asarray(n, dtype=np.int64)
