"""Significance tests against scipy / statsmodels and a brute-force float64 reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from synrank.evaluation.significance import (
    align_scores,
    holm,
    mean_confidence_interval,
    paired_t_test,
    randomization_test,
)


def _scores(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.uniform(0, 1, n)
    a = np.clip(b + rng.normal(shift, 0.15, n), 0, 1)
    return a, b


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


@pytest.mark.parametrize("n,shift,seed", [(8, 0.0, 0), (12, 0.1, 1), (13, -0.05, 2)])
def test_randomization_exact_matches_scipy(n, shift, seed):
    a, b = _scores(n, seed, shift)
    ours = randomization_test(a, b, n_permutations=10_000)
    ref = stats.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True,
                                 n_resamples=10_000, alternative="two-sided")
    assert ours.exact
    assert ours.n_permutations == 2**n
    assert ours.p_value == pytest.approx(float(ref.pvalue), abs=1e-12)
    assert ours.statistic == pytest.approx(float(ref.statistic), abs=1e-12)


def test_randomization_exact_matches_brute_force():
    a, b = _scores(10, 3, 0.08)
    d = a - b
    obs = d.mean()
    null = np.array([np.mean(np.array(s) * d) for s in itertools.product([1, -1], repeat=d.size)])
    tol = abs(obs) * np.finfo(float).eps * 100
    p = min(1.0, 2 * min(np.mean(null <= obs + tol), np.mean(null >= obs - tol)))
    assert randomization_test(a, b).p_value == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.08])
def test_randomization_sampled_agrees_with_scipy(shift):
    a, b = _scores(60, 7, shift)
    ours = randomization_test(a, b, n_permutations=20_000, seed=0)
    ref = stats.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True,
                                 n_resamples=200_000, alternative="two-sided", rng=np.random.default_rng(2))
    assert not ours.exact and ours.n_permutations == 20_000
    # p = 2 * min(one-sided p): Monte-Carlo standard error of ours is 2 * sqrt(q (1 - q) / N), q = p / 2.
    q = min(max(float(ref.pvalue) / 2, 1e-4), 0.5)
    se = 2 * math.sqrt(q * (1 - q) / 20_000)
    assert abs(ours.p_value - ref.pvalue) < 5 * se


def test_randomization_is_seeded_and_floors_at_one_over_n():
    a, b = _scores(200, 5, 0.3)  # overwhelming difference
    r1 = randomization_test(a, b, n_permutations=10_000, seed=4)
    r2 = randomization_test(a, b, n_permutations=10_000, seed=4)
    assert r1.p_value == r2.p_value
    assert r1.p_value == pytest.approx(2 / 10_001)  # (0 + 1) / (10_000 + 1), two-sided


def test_randomization_symmetric_in_argument_order():
    a, b = _scores(40, 9, 0.05)
    assert randomization_test(a, b, seed=3).p_value == randomization_test(b, a, seed=3).p_value


@pytest.mark.parametrize("n,seed", [(5, 0), (30, 1), (300, 2)])
def test_paired_t_matches_scipy(n, seed):
    a, b = _scores(n, seed, 0.04)
    ref = stats.ttest_rel(a, b)
    ours = paired_t_test(a, b)
    assert ours.p_value == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert ours.statistic == pytest.approx(float(ref.statistic), rel=1e-12)
    # Independent float64 formula.
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    assert ours.statistic == pytest.approx(t, rel=1e-10)
    assert ours.p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 1), rel=1e-10)


def test_identical_scores_give_p_one():
    a = np.array([0.1, 0.5, 0.5, 1.0, 0.0])
    assert paired_t_test(a, a).p_value == 1.0
    assert randomization_test(a, a).p_value == 1.0
    big = np.linspace(0, 1, 100)
    assert randomization_test(big, big, n_permutations=10_000).p_value == 1.0


def test_single_query_gives_p_one():
    assert paired_t_test([0.7], [0.2]).p_value == 1.0
    assert randomization_test([0.7], [0.2]).p_value == 1.0


def test_constant_nonzero_difference():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    res = paired_t_test(a + 0.1, a)
    assert res.p_value == 0.0 and res.statistic == math.inf


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        paired_t_test([1, 2], [1])
    with pytest.raises(ValueError, match="at least one"):
        randomization_test([], [])
    with pytest.raises(ValueError, match="NaN"):
        paired_t_test([1, float("nan")], [1, 2])


def test_holm_matches_statsmodels_and_keeps_nan():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005])
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    # Independent formula: sorted step-down with running max.
    order = np.argsort(p)
    m = p.size
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    assert np.allclose(holm(p), adj)
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1])
    assert np.allclose(with_nan[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert np.isnan(holm([np.nan])).all()
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 14, 50):
        ps = rng.uniform(0, 0.2, m) ** 2
        ps[rng.integers(0, m)] = ps[0]  # ties
        assert np.allclose(holm(ps), multipletests(ps, method="holm")[1], rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        holm([1.5])


def test_align_scores():
    ids, x, y = align_scores({"q2": 0.5, "q1": 1.0}, {"q1": 0.0, "q2": 0.25})
    assert ids == ["q1", "q2"] and x.tolist() == [1.0, 0.5] and y.tolist() == [0.0, 0.25]
    with pytest.raises(ValueError, match="different queries"):
        align_scores({"q1": 1.0}, {"q2": 1.0})
    ids, x, y = align_scores({"q1": 1.0}, {"q2": 1.0}, missing="zero")
    assert ids == ["q1", "q2"] and x.tolist() == [1.0, 0.0] and y.tolist() == [0.0, 1.0]


def test_t_confidence_interval_matches_scipy():
    x = np.random.default_rng(0).uniform(0, 1, 50)
    ci = mean_confidence_interval(x)
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert (ci.low, ci.high) == pytest.approx((lo, hi), rel=1e-12)
    boot = mean_confidence_interval(x, method="bootstrap", n_resamples=2000)
    assert boot.low < x.mean() < boot.high
    assert abs(boot.low - lo) < 0.03 and abs(boot.high - hi) < 0.03
    one = mean_confidence_interval([0.4])
    assert one.low == one.high == 0.4
