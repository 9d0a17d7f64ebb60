"""The bench's statistics against values worked out by hand (the arithmetic is in the comments),
against scipy's own calls, and by properties: a profile is a nondecreasing fraction, a score is in
[0, 1], profiles do not depend on the unit of time."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from optarena.bench import scores
from optarena.bench.scores import (
    algoperf_score,
    best_so_far,
    bootstrap_interval,
    holm,
    performance_profile,
    score_interval,
    seed_band,
    time_to_target,
    wilcoxon_pairs,
    workload_time,
)
from optarena.errors import UsageError

inf = math.inf

# three submissions x four workloads; nobody reaches workload 4
TABLE = [[1.0, 2.0, 4.0, inf],    # A
         [2.0, 2.0, 1.0, inf],    # B
         [3.0, 10.0, inf, inf]]   # C
# fastest per workload: 1, 2, 1, (none)
# ratios   A: 1/1=1, 2/2=1 (tie), 4/1=4, inf
#          B: 2/1=2, 2/2=1 (tie), 1/1=1, inf
#          C: 3/1=3, 10/2=5 > 4 -> inf (AlgoPerf's 4x rule), inf, inf
TAUS = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]


# ---------------------------------------------------------------------------------------- time to target

STEPS, SECONDS = [0, 10, 20, 30], [0.0, 1.5, 3.0, 4.5]


@pytest.mark.parametrize("metric, target, expected", [
    ([1.0, 0.5, 0.2, 0.1], 0.2, (20.0, 3.0)),            # equal to the target counts: first metric <= 0.2 is at step 20
    ([1.0, 0.5, 0.2, 0.1], 0.05, (inf, inf)),            # never below 0.05
    ([1.0, 0.3, 0.6, 0.1], 0.5, (10.0, 1.5)),            # the first hit, although the metric rose after it
    ([0.1, 0.5, 0.2, 0.1], 0.2, (0.0, 0.0)),             # already on target untrained
    ([1.0, math.nan, math.nan, math.nan], 0.5, (inf, inf)),  # diverged: NaN never reaches
    ([1.0, math.nan, 0.1, 0.1], 0.5, (20.0, 3.0)),       # a NaN evaluation is skipped, not a hit
])
def test_time_to_target_on_hand_curves(metric, target, expected):
    assert time_to_target(STEPS, metric, SECONDS, target) == expected


@pytest.mark.parametrize("kwargs, field", [
    (dict(steps=[0, 10], metric=[1.0, 0.5, 0.2], seconds=[0, 1]), "curve"),
    (dict(steps=[0, 10, 5], metric=[1.0, 0.5, 0.2], seconds=[0, 1, 2]), "steps"),
    (dict(steps=[0, 10, 20], metric=[1.0, 0.5, 0.2], seconds=[0, -1, 2]), "seconds"),
    (dict(steps=[0, 10, 20], metric=[1.0, 0.5, 0.2], seconds=[0, 1, 2], target=math.nan), "target"),
])
def test_time_to_target_refuses_bad_curves(kwargs, field):
    kwargs.setdefault("target", 0.3)
    with pytest.raises(UsageError) as err:
        time_to_target(**kwargs)
    assert err.value.field == field


# ---------------------------------------------------------------------------------------- workload time

@pytest.mark.parametrize("studies, expected", [
    ([[3, 1, inf], [inf, inf, inf], [2, 5, 4]], 2.0),    # study minima 1, inf, 2 -> median 2
    ([[1], [inf], [inf]], inf),                           # median of [1, inf, inf]: only one study reached
    ([[1, 2], [inf, inf], [inf, 7]], 7.0),                # minima 1, inf, 7 -> median 7
    ([[1], [3]], 2.0),                                    # even: mean of the middle two, (1 + 3) / 2
    ([[1], [inf]], inf),                                  # (1 + inf) / 2
    ([[4, 6, 5, 9, 8]], 4.0),                             # one study of five trials: its fastest
])
def test_workload_time_on_hand_studies(studies, expected):
    assert workload_time(studies) == expected


# ---------------------------------------------------------------------------------------- profiles and score

def test_profile_of_the_hand_table():
    # rho(tau) = (number of ratios <= tau) / 4, workload 4 counted as a miss for all
    expected = [[0, 2 / 4, 2 / 4, 2 / 4, 2 / 4, 3 / 4, 3 / 4],   # A: ratios 1, 1, 4, inf
                [0, 2 / 4, 2 / 4, 3 / 4, 3 / 4, 3 / 4, 3 / 4],   # B: ratios 2, 1, 1, inf (tau = 2 exactly on a ratio counts)
                [0, 0, 0, 0, 1 / 4, 1 / 4, 1 / 4]]               # C: ratios 3, inf (5 capped), inf, inf
    np.testing.assert_array_equal(performance_profile(TABLE, TAUS), expected)


def test_uncapped_profile_is_dolan_more():
    # without AlgoPerf's cap C's ratio 5 counts from tau = 5 on: C at tau 5 = 2/4; at tau <= 4 nothing changes
    uncapped = performance_profile(TABLE, TAUS, tau_max=None)
    np.testing.assert_array_equal(uncapped[:, :-1], performance_profile(TABLE, TAUS[:-1]))
    np.testing.assert_array_equal(uncapped[:, -1], [3 / 4, 3 / 4, 2 / 4])


def test_score_of_the_hand_table():
    # B_s = (1/3) * integral_1^4 rho_s: rho is a step function, so the area is a sum of rectangles
    # A: rho = 2/4 on [1, 4) (the ratio 4 adds a step of zero width) -> area 3 * 2/4 = 1.5 -> 1.5/3 = 1/2
    # B: rho = 2/4 on [1, 2), 3/4 on [2, 4]                    -> 0.5 + 1.5 = 2   -> 2/3
    # C: rho = 0 on [1, 3), 1/4 on [3, 4]                       -> 0.25            -> 1/12
    np.testing.assert_allclose(algoperf_score(TABLE), [1 / 2, 2 / 3, 1 / 12], rtol=0, atol=1e-15)


def test_best_everywhere_scores_one_and_never_on_target_scores_zero():
    table = [[1.0, 5.0, 2.0], [1.5, 6.0, 9.0], [inf, inf, inf]]
    s = algoperf_score(table)
    assert s[0] == 1.0 and s[2] == 0.0
    # the middle one: ratios 1.5, 1.2, 4.5 -> inf; (2.5 + 2.8 + 0) / (3 * 3) = 5.3 / 9
    assert s[1] == pytest.approx(5.3 / 9, abs=1e-15)
    np.testing.assert_array_equal(performance_profile(table, [1.0, 4.0])[2], [0, 0])


def test_ties_and_zero_times():
    # a tie for the fastest is ratio 1 for both; a time of 0 (on target untrained) ties with 0 and
    # makes every other time on that workload infinitely slower
    table = [[2.0, 0.0], [2.0, 0.0], [4.0, 1.0]]
    np.testing.assert_array_equal(performance_profile(table, [1.0, 2.0, 100.0]), [[1, 1, 1], [1, 1, 1], [0, 1 / 2, 1 / 2]])
    # the third: ratios 2 and inf -> (4 - 2) / (2 * 3) = 1/3
    np.testing.assert_allclose(algoperf_score(table), [1, 1, 1 / 3], atol=1e-15)


def test_nobody_on_target_is_a_miss_for_everyone():
    assert algoperf_score([[inf], [inf]]).tolist() == [0.0, 0.0]
    assert performance_profile([[inf], [inf]], [1.0, 1e9], tau_max=None).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_other_tau_max():
    # tau_max = 2: A's ratios 1, 1, 4 -> inf, inf: (1 + 1) / (4 * 1) = 1/2; B: 2 -> 0, 1, 1 -> (0 + 1 + 1) / 4 = 1/2; C: 0
    np.testing.assert_allclose(algoperf_score(TABLE, tau_max=2.0), [1 / 2, 1 / 2, 0], atol=1e-15)


# ---------------------------------------------------------------------------------------- bootstrap

def test_bootstrap_of_a_constant_is_the_constant():
    assert bootstrap_interval([3.5] * 12) == (3.5, 3.5)
    assert bootstrap_interval([inf] * 4) == (inf, inf)


def test_bootstrap_with_misses():
    # ten samples, five of them misses: a resample's median is 1 when it drew >= 6 ones
    # (P = P(Bin(10, 1/2) >= 6) = 386/1024 = 0.377) and inf otherwise, so the 2.5% and 97.5% points are 1 and inf
    assert bootstrap_interval([1.0] * 5 + [inf] * 5) == (1.0, inf)


def test_bootstrap_is_deterministic_and_agrees_with_scipy():
    x = np.random.default_rng(1).normal(10.0, 2.0, size=50)
    ours = bootstrap_interval(x, np.mean, seed=4)
    assert ours == bootstrap_interval(x, np.mean, seed=4)
    assert ours != bootstrap_interval(x, np.mean, seed=5)
    theirs = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(0))
    # Monte Carlo error of a 2.5% point with 2000 resamples: sqrt(.025 * .975 / 2000) / density ~ 0.02 here
    np.testing.assert_allclose(ours, [theirs.confidence_interval.low, theirs.confidence_interval.high], atol=0.08)


def test_bootstrap_interval_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2026)
    hits = 0
    for rep in range(200):
        low, high = bootstrap_interval(rng.normal(3.0, 2.0, size=50), np.mean, n_resamples=1000, seed=rep)
        hits += low <= 3.0 <= high
    # 95% nominal; the percentile bootstrap runs slightly under at n = 50; sd of the rate = 1.5 points
    assert 0.89 <= hits / 200 <= 0.99


def test_score_interval_resamples_seeds_per_workload_paired_across_submissions():
    # one workload, two seeds. A: 1, 3; B: 2, 4. The same seed draw for both submissions:
    #   seeds (0, 0): medians A 1, B 2 -> B's ratio 2   -> B = (4 - 2) / 3   = 2/3   (probability 1/4)
    #   seeds (1, 1): medians A 3, B 4 -> B's ratio 4/3 -> B = (4 - 4/3) / 3 = 8/9   (1/4)
    #   mixed:        medians A 2, B 3 -> B's ratio 1.5 -> B = (4 - 1.5) / 3 = 5/6   (1/2)
    # A is the fastest under every paired draw: its interval is exactly (1, 1) (unpaired draws would give A 3 vs B 2)
    got = score_interval([[[1.0, 3.0]], [[2.0, 4.0]]], n_resamples=2000, seed=0)
    np.testing.assert_allclose(got, [[1.0, 1.0], [2 / 3, 8 / 9]], atol=1e-15)
    assert got.shape == (2, 2)


def test_score_interval_of_seed_independent_times_is_the_score():
    per_seed = np.repeat(np.array(TABLE)[:, :, None], 5, axis=2)
    np.testing.assert_allclose(score_interval(per_seed, n_resamples=200), [[1 / 2, 1 / 2], [2 / 3, 2 / 3], [1 / 12, 1 / 12]],
                               atol=1e-15)


# ---------------------------------------------------------------------------------------- Wilcoxon

def test_wilcoxon_equals_scipy_on_finite_data():
    rng = np.random.default_rng(3)
    times = rng.lognormal(size=(3, 12)) * np.array([[1.0], [1.3], [1.0]])
    rows = wilcoxon_pairs(times, ["adam", "sgd", "lion"])
    assert [(r["a"], r["b"]) for r in rows] == [("adam", "sgd"), ("adam", "lion"), ("sgd", "lion")]
    for r, (i, j) in zip(rows, [(0, 1), (0, 2), (1, 2)]):
        ref = stats.wilcoxon(times[i], times[j])
        assert (r["statistic"], r["p_value"], r["n"]) == (ref.statistic, ref.pvalue, 12)
        assert r["a_faster"] + r["b_faster"] == 12 and r["reason"] is None
    # Holm with m = 3: the smallest p times 3, the next times 2, the largest times 1, kept nondecreasing
    p = [r["p_value"] for r in rows]
    order = np.argsort(p)
    expected = np.maximum.accumulate(np.minimum(1, np.array([3, 2, 1]) * np.sort(p)))
    np.testing.assert_allclose([rows[k]["p_holm"] for k in order], expected)


def test_wilcoxon_misses_rank_last():
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, inf]
    b = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    (r,) = wilcoxon_pairs([a, b], ["a", "b"])
    # the miss becomes 2 * 8 + 1 = 17: differences a - b = -1 (six times) and 17 - 8 = +9
    # ranks of |d|: the six 1s share ranks 1..6 (3.5 each), the 9 is rank 7: W+ = 7, W- = 21, statistic = min = 7
    # exact two-sided p over the 2**7 sign patterns: W+ = 3.5 k + 7 j (k of the six positive, j the 9's sign);
    # |W+ - 14| >= 7 for k <= 2, j = 0 (1 + 6 + 15 = 22), k = 6, j = 0 (1), k = 0, j = 1 (1), k >= 4, j = 1 (15 + 6 + 1 = 22)
    assert r["statistic"] == 7.0
    assert r["p_value"] == pytest.approx(46 / 128, abs=1e-12)
    assert (r["a_faster"], r["b_faster"], r["ties"], r["n"]) == (6, 1, 0, 7)


def test_wilcoxon_two_misses_tie_and_too_few_pairs_give_nan_with_a_reason():
    # two misses tie (difference 0, dropped by zero_method="wilcox"): 5 nonzero differences left < 6
    (r,) = wilcoxon_pairs([[inf, 1, 2, 3, 4, 5], [inf, 2, 3, 4, 5, 6]], ["a", "b"])
    assert r["n"] == 5 and r["ties"] == 1
    assert math.isnan(r["p_value"]) and math.isnan(r["statistic"]) and math.isnan(r["p_holm"])
    assert "5 nonzero" in r["reason"]
    (r,) = wilcoxon_pairs([[1.0, 2.0], [1.0, 2.0]], ["a", "b"])  # identical: nothing to test, no exception
    assert r["n"] == 0 and math.isnan(r["p_value"])


def test_holm_by_hand():
    # valid p: 0.01, 0.04, 0.03 (m = 3): sorted 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, math.nan]), [0.03, 0.06, 0.06, math.nan])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # 0.5 * 2 = 1.0; then max(1.0, 0.9)


# ---------------------------------------------------------------------------------------- curves

def test_best_so_far_and_seed_bands():
    np.testing.assert_array_equal(best_so_far([inf, 3.0, inf, 2.0, 5.0]), [inf, 3.0, 3.0, 2.0, 2.0])
    np.testing.assert_array_equal(best_so_far([[4.0, 1.0], [inf, inf]]), [[4.0, 1.0], [inf, inf]])
    # three seeds x three evaluations; NaN after divergence
    curves = [[1.0, 2.0, math.nan], [3.0, 4.0, math.nan], [5.0, math.nan, math.nan]]
    mean, sd, n = seed_band(curves)
    # column 0: mean 3, sd sqrt(((-2)^2 + 0 + 2^2) / 2) = 2; column 1: mean 3, sd sqrt((1 + 1) / 1); column 2: nothing
    np.testing.assert_allclose(mean, [3.0, 3.0, math.nan])
    np.testing.assert_allclose(sd, [2.0, math.sqrt(2.0), math.nan])
    assert n.tolist() == [3, 2, 0]
    mean, sd, n = seed_band([[7.0, math.nan]])  # one seed: a mean, no sd
    assert mean[0] == 7.0 and math.isnan(sd[0]) and n.tolist() == [1, 0]


# ---------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, field", [
    (lambda: performance_profile([1.0, 2.0], [1.0]), "times"),                      # 1-D, not (submissions, workloads)
    (lambda: performance_profile([[1.0, -2.0]], [1.0]), "times"),                   # negative
    (lambda: algoperf_score([[1.0, math.nan]]), "times"),                           # NaN is not a miss
    (lambda: algoperf_score([[]]), "times"),                                        # empty
    (lambda: algoperf_score(TABLE, tau_max=1.0), "tau_max"),
    (lambda: algoperf_score(TABLE, tau_max=inf), "tau_max"),
    (lambda: performance_profile(TABLE, [math.nan]), "taus"),
    (lambda: workload_time([1.0, 2.0]), "times"),
    (lambda: bootstrap_interval([1.0, 2.0], level=1.0), "level"),
    (lambda: bootstrap_interval([1.0, 2.0], level=0), "level"),
    (lambda: bootstrap_interval([1.0, 2.0], n_resamples=0), "n_resamples"),
    (lambda: bootstrap_interval([[1.0, 2.0]]), "samples"),
    (lambda: bootstrap_interval([1.0, 2.0], statistic=lambda x, axis: 1.0), "statistic"),
    (lambda: score_interval(TABLE), "per_seed_times"),                              # no seed axis
    (lambda: score_interval(np.ones((2, 2, 2)), level=95), "level"),
    (lambda: wilcoxon_pairs(np.ones((2, 8)), ["a"]), "names"),
    (lambda: wilcoxon_pairs(np.ones((2, 8)), ["a", "a"]), "names"),
    (lambda: best_so_far([1.0, math.nan]), "trial_times"),
    (lambda: seed_band(np.ones(3), axis=1), "values"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(UsageError) as err:
        call()
    assert err.value.field == field
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------- properties

time_tables = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                         elements=st.one_of(st.floats(0.01, 1000.0), st.just(inf)))


@settings(max_examples=60, deadline=None)
@given(times=time_tables, k=st.integers(-6, 6), c=st.floats(1e-3, 1e3))
def test_profile_and_score_properties(times, k, c):
    taus = np.linspace(0.5, 6.0, 23)
    rho = performance_profile(times, taus)
    assert ((0 <= rho) & (rho <= 1)).all()
    assert (np.diff(rho, axis=1) >= 0).all()
    # a scale by a power of two divides exactly, so every ratio and the whole profile are the same
    np.testing.assert_array_equal(performance_profile(times * 2.0 ** k, taus), rho)
    s = algoperf_score(times)
    assert ((0 <= s) & (s <= 1)).all()
    np.testing.assert_allclose(algoperf_score(times * c), s, atol=1e-9)
    # the exact integral against the trapezoid rule on a fine grid (AlgoPerf's own way): each of the
    # |W| steps is smeared over one cell of width h, an error of at most h / 2 / (4 - 1) in all
    grid = np.linspace(1.0, 4.0, 30_001)
    trapezoid = np.trapezoid(performance_profile(times, grid), grid, axis=1) / 3.0
    np.testing.assert_allclose(s, trapezoid, atol=1e-4 / 2 / 3 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(times=hnp.arrays(np.float64, st.integers(1, 8), elements=st.one_of(st.floats(0.0, 100.0), st.just(inf))))
def test_best_so_far_is_the_running_minimum(times):
    out = best_so_far(times)
    assert all(out[k] == min(times[: k + 1]) for k in range(times.size))


def test_scores_module_keeps_scipy_optional():
    # scipy is an optional extra: the module itself never imports it at load time
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(scores))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("scipy" in ast.unparse(n) for n in top)
