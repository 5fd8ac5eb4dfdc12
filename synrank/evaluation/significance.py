"""Paired significance tests on per-query scores, multiple-testing correction and confidence intervals.

Two systems evaluated on the same queries give paired per-query scores (e.g. nDCG@10 per query). The
question "is system A better than baseline B on this dataset?" is answered with

* :func:`paired_t_test` — the two-sided paired t-test (``scipy.stats.ttest_rel``);
* :func:`randomization_test` — the two-sided paired randomization (sign-flip permutation) test on the
  mean difference, seeded and vectorized in numpy. It enumerates all ``2**n`` sign patterns when that is
  no more than ``n_permutations`` and otherwise samples ``n_permutations`` of them, with the same
  p-value definition as ``scipy.stats.permutation_test(permutation_type="samples")`` (two-sided p =
  2 * the smaller one-sided p, clipped to 1; sampled tests add one to numerator and denominator so the
  p-value is never 0, Phipson & Smyth 2010);
* :func:`holm` — Holm–Bonferroni adjusted p-values (equal to ``statsmodels``' ``multipletests(method="holm")``),
  applied by the benchmark runner across the datasets of one model.

Degenerate inputs get defined answers rather than NaN: identical scores (every difference 0) give
p = 1, and a single query gives p = 1 (one pair carries no evidence about a difference in means).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TestResult",
    "ConfidenceInterval",
    "align_scores",
    "paired_t_test",
    "randomization_test",
    "holm",
    "mean_confidence_interval",
]

# Relative tolerance for "as extreme as observed": the same as scipy.stats.permutation_test, so that
# numerically distinct but theoretically equal null statistics count as ties.
_REL_TOL = float(np.finfo(np.float64).eps) * 100


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test of ``a`` against ``b`` (difference = a - b)."""

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    mean_difference: float
    n: int
    n_permutations: int | None = None
    exact: bool | None = None


@dataclass(frozen=True)
class ConfidenceInterval:
    mean: float
    low: float
    high: float
    level: float
    method: str
    n: int


def _as_pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired scores must have the same length, got {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("paired test needs at least one query")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("per-query scores contain NaN or infinity")
    return x, y


def align_scores(a: Mapping[str, float], b: Mapping[str, float], *, missing: str = "error",
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pair two ``{query_id: score}`` maps on their query ids (sorted).

    ``missing="error"`` raises when the key sets differ (the evaluator reports every judged query,
    so a difference means the two runs were scored on different query sets); ``"zero"`` scores an
    absent query as 0; ``"intersect"`` keeps only shared queries.
    """
    ka, kb = set(a), set(b)
    if ka != kb:
        if missing == "error":
            only_a, only_b = sorted(ka - kb)[:5], sorted(kb - ka)[:5]
            raise ValueError(f"per-query scores cover different queries ({len(ka ^ kb)} differ; "
                             f"only in first: {only_a}, only in second: {only_b})")
        if missing not in ("zero", "intersect"):
            raise ValueError(f"missing must be 'error', 'zero' or 'intersect', got {missing!r}")
    ids = sorted(ka & kb) if missing == "intersect" else sorted(ka | kb)
    x = np.array([float(a.get(q, 0.0)) for q in ids], dtype=np.float64)
    y = np.array([float(b.get(q, 0.0)) for q in ids], dtype=np.float64)
    return ids, x, y


def paired_t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> TestResult:
    """Two-sided paired t-test of mean(a - b) = 0."""
    from scipy import stats  # scipy.stats takes ~0.5 s to import: loaded when a test runs

    x, y = _as_pair(a, b)
    d = x - y
    mean = float(d.mean())
    n = int(d.size)
    if n < 2 or np.all(d == d[0]):
        # n = 1: no variance estimate; constant differences: zero variance. For all-zero differences
        # there is no evidence of a difference (p = 1). A constant non-zero difference has an
        # infinite t statistic; scipy returns NaN there, we follow the limit (p -> 0) only when n >= 2.
        if n >= 2 and mean != 0.0:
            return TestResult("paired-t", math.copysign(math.inf, mean), 0.0, mean, n)
        return TestResult("paired-t", 0.0 if mean == 0.0 else math.nan, 1.0, mean, n)
    res = stats.ttest_rel(x, y)
    return TestResult("paired-t", float(res.statistic), float(res.pvalue), mean, n)


def _sign_patterns_exact(n: int) -> np.ndarray:
    """All 2**n sign vectors as a (2**n, n) array of +-1 (row 0 is all +1: the identity)."""
    codes = np.arange(2**n, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n, dtype=np.int64)[None, :]) & 1
    return 1.0 - 2.0 * bits


def randomization_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                       n_permutations: int = 10_000, seed: int = 0, batch: int = 2_000) -> TestResult:
    """Two-sided paired randomization test on the mean difference (random sign flips of a - b).

    Exact (all ``2**n`` sign patterns) when ``2**n <= n_permutations``; otherwise ``n_permutations``
    random patterns from ``numpy.random.default_rng(seed)``, processed in batches to bound memory.
    """
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    x, y = _as_pair(a, b)
    d = x - y
    n = int(d.size)
    observed = float(d.mean())
    gamma = abs(_REL_TOL * observed)
    exact = n < 63 and 2**n <= n_permutations
    less = greater = 0
    if exact:
        null = _sign_patterns_exact(n) @ d / n
        less = int(np.count_nonzero(null <= observed + gamma))
        greater = int(np.count_nonzero(null >= observed - gamma))
        total, adjustment = 2**n, 0
    else:
        rng = np.random.default_rng(seed)
        done = 0
        while done < n_permutations:
            m = min(batch, n_permutations - done)
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
            null = signs @ d / n
            less += int(np.count_nonzero(null <= observed + gamma))
            greater += int(np.count_nonzero(null >= observed - gamma))
            done += m
        total, adjustment = n_permutations, 1
    p_less = (less + adjustment) / (total + adjustment)
    p_greater = (greater + adjustment) / (total + adjustment)
    p = min(1.0, 2.0 * min(p_less, p_greater))
    return TestResult("randomization", observed, p, observed, n,
                      n_permutations=total, exact=exact)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values; NaN entries stay NaN and are not counted as tests.

    Step-down: sort the m p-values ascending, multiply the i-th (0-based) by m - i, take the running
    maximum and clip at 1. This is ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``
    (the tests check equality); it is written out here because that function calls ``gc.collect()``
    on every call, which costs about a second in a process holding a torch model.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        if np.any((p[ok] < 0) | (p[ok] > 1)):
            raise ValueError("p-values must lie in [0, 1]")
        order = ok[np.argsort(p[ok], kind="stable")]
        m = order.size
        adjusted = np.maximum.accumulate(p[order] * np.arange(m, 0, -1))
        out[order] = np.minimum(adjusted, 1.0)
    return out


def mean_confidence_interval(scores: Sequence[float] | np.ndarray, level: float = 0.95, *,
                             method: str = "t", n_resamples: int = 10_000,
                             seed: int = 0) -> ConfidenceInterval:
    """Confidence interval of the mean per-query score.

    ``method="t"``: Student-t interval, mean +- t_{(1+level)/2, n-1} * sd / sqrt(n) (the default used
    in the leaderboard plots). ``method="bootstrap"``: percentile bootstrap of the mean with
    ``scipy.stats.bootstrap``, seeded. With n = 1, or zero spread, the interval collapses to the mean.
    """
    from scipy import stats  # as in paired_t_test

    x = np.asarray(scores, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("confidence interval needs at least one score")
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        return ConfidenceInterval(mean, mean, mean, level, method, int(x.size))
    if method == "t":
        half = float(stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
        return ConfidenceInterval(mean, mean - half, mean + half, level, "t", int(x.size))
    if method == "bootstrap":
        res = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples,
                              method="percentile", rng=np.random.default_rng(seed))
        ci = res.confidence_interval
        return ConfidenceInterval(mean, float(ci.low), float(ci.high), level, "bootstrap", int(x.size))
    raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
