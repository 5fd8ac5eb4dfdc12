"""A suite's claims, each judged by one rule fixed before the results it judges.

A suite file may list ``claims``: "row A beats row B" or "row A matches row B" (:class:`Claim`), the
statements its results are meant to settle, e.g. the SyCL paper's "Wasserstein training on graded
synthetic data beats InfoNCE / improves a self-supervised retriever / matches supervised training".
:func:`judge_claims` tests every claim and :func:`outcome` / :func:`holds` turn the tests into words,
so that a verdict is read off the results, never argued into them.

**The rule** (pre-registered on 2026-12-02, before the issue-12 cpu and cpu-seeds results it was written
for existed; ``benchmarks/README.md``, section *Claims*). On the suite's primary measure, over the D
datasets where both rows are finished, with each row's per-query scores averaged over its seed
replicates, the suite's two-sided paired test (randomization: 10,000 sign flips), Holm-adjusted across
those D datasets (exactly the tests of ``significance.csv``):

* W = datasets where A is significantly higher than B (p_holm < α), L = significantly lower,
  majority = ⌊D / 2⌋ + 1;
* outcome: ``better`` if L = 0 and W ≥ majority; ``worse`` if W = 0 and L ≥ majority; ``level`` if
  W = L = 0; ``leaning better`` if L = 0 and 0 < W < majority; ``leaning worse`` if W = 0 and
  0 < L < majority; ``mixed`` if W > 0 and L > 0;
* ``beats`` holds if and only if the outcome is ``better``; ``matches`` holds if and only if L = 0
  (``level``, ``leaning better`` or ``better``). A claim is judged only when both rows are finished
  on every dataset of the suite; before that it is ``not tested`` or ``incomplete`` (the outcome so far
  is shown, the verdict is not given).

Read beside the verdict, never instead of it: the effect size (mean Δ over the D datasets, in the
measure's units), each row's mean and, for rows with seed replicates, the sample standard deviation
(n − 1) over seeds of its mean over the datasets; and the same rule applied to each seed's own tests
(``significance.csv``'s per-seed rows), which shows whether the verdict would hold on every seed alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.leaderboard import (
    Cell,
    comparison_rows,
    seed_comparison_rows,
    seed_label,
    to_csv,
)
from benchmarks.suites import Claim, Comparison, SuiteConfig

BETTER, WORSE, LEVEL = "better", "worse", "level"
LEANING_BETTER, LEANING_WORSE, MIXED = "leaning better", "leaning worse", "mixed"
NOT_TESTED = "not tested"
OUTCOMES = (BETTER, LEANING_BETTER, LEVEL, LEANING_WORSE, WORSE, MIXED)
HOLDS, FAILS, INCOMPLETE = "holds", "does not hold", "incomplete"
CSV_COLUMNS = ("model", "baseline", "claim", "label", "measure", "n_datasets", "wins", "losses", "outcome",
               "verdict", "mean_delta", "model_mean", "baseline_mean", "model_seed_sd", "baseline_seed_sd",
               "model_seeds", "baseline_seeds", "per_seed")


def outcome(wins: int, losses: int, n: int) -> str:
    """The rule's outcome for ``wins`` / ``losses`` significant datasets out of ``n`` (module docstring)."""
    if wins < 0 or losses < 0 or wins + losses > n:
        raise ValueError(f"need 0 <= wins, losses and wins + losses <= n, got {wins}, {losses}, {n}")
    if n == 0:
        return NOT_TESTED
    majority = n // 2 + 1
    if wins and losses:
        return MIXED
    if wins:
        return BETTER if wins >= majority else LEANING_BETTER
    if losses:
        return WORSE if losses >= majority else LEANING_WORSE
    return LEVEL


def holds(claim: str, result: str) -> bool | None:
    """Whether a ``beats`` / ``matches`` claim holds given the rule's outcome (None: not tested)."""
    if result == NOT_TESTED:
        return None
    if claim == "beats":
        return result == BETTER
    if claim == "matches":
        return result in (BETTER, LEANING_BETTER, LEVEL)
    raise ValueError(f"unknown claim {claim!r} (beats or matches)")


@dataclass(frozen=True)
class DatasetTest:
    dataset: str
    value: float
    baseline_value: float
    mean_diff: float
    p_holm: float


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    measure: str
    alpha: float
    tests: tuple[DatasetTest, ...]
    #: datasets of the suite: the verdict needs a test on each
    n_expected: int
    model_seed_sd: float | None
    baseline_seed_sd: float | None
    model_seeds: int
    baseline_seeds: int
    #: the rule's outcome on each seed's own tests (seed label → outcome), for rows with replicates
    per_seed: dict[str, str]

    @property
    def wins(self) -> int:
        return sum(t.mean_diff > 0 and t.p_holm < self.alpha for t in self.tests)

    @property
    def losses(self) -> int:
        return sum(t.mean_diff < 0 and t.p_holm < self.alpha for t in self.tests)

    @property
    def outcome(self) -> str:
        return outcome(self.wins, self.losses, len(self.tests))

    @property
    def complete(self) -> bool:
        return len(self.tests) == self.n_expected

    @property
    def holds(self) -> bool | None:
        """The verdict; None until both rows are finished on every dataset."""
        return holds(self.claim.claim, self.outcome) if self.complete else None

    @property
    def verdict(self) -> str:
        if not self.tests:
            return NOT_TESTED
        if not self.complete:
            return f"{INCOMPLETE} ({len(self.tests)} of {self.n_expected} datasets)"
        return HOLDS if self.holds else FAILS

    def _mean(self, values: list[float]) -> float:
        return float(np.mean(values)) if values else math.nan

    @property
    def mean_delta(self) -> float:
        return self._mean([t.mean_diff for t in self.tests])

    @property
    def model_mean(self) -> float:
        return self._mean([t.value for t in self.tests])

    @property
    def baseline_mean(self) -> float:
        return self._mean([t.baseline_value for t in self.tests])

    def row(self) -> dict[str, Any]:
        """One ``claims.csv`` row (the per-dataset tests as ``delta@<dataset>`` / ``p_holm@<dataset>``)."""
        out: dict[str, Any] = {
            "model": self.claim.model, "baseline": self.claim.baseline, "claim": self.claim.claim,
            "label": self.claim.label, "measure": self.measure, "n_datasets": len(self.tests),
            "wins": self.wins, "losses": self.losses, "outcome": self.outcome, "verdict": self.verdict,
            "mean_delta": self.mean_delta, "model_mean": self.model_mean, "baseline_mean": self.baseline_mean,
            "model_seed_sd": _nan_if_none(self.model_seed_sd), "baseline_seed_sd": _nan_if_none(self.baseline_seed_sd),
            "model_seeds": self.model_seeds, "baseline_seeds": self.baseline_seeds,
            "per_seed": "; ".join(f"{s}: {o}" for s, o in self.per_seed.items()),
        }
        for t in self.tests:
            out[f"delta@{t.dataset}"] = t.mean_diff
            out[f"p_holm@{t.dataset}"] = t.p_holm
        return out


def _nan_if_none(x: float | None) -> float:
    return math.nan if x is None else x


def seed_sd_of_mean(cells: dict[tuple[str, str], Cell], model: str, datasets: list[str], measure: str,
                    ) -> tuple[float | None, int]:
    """Sample sd (n − 1) over seeds of ``model``'s mean ``measure`` over ``datasets``, and the number of
    seeds every one of those datasets has; (None, n) when fewer than two seeds are shared."""
    by_seed: dict[str, list[float]] = {}
    present = [d for d in datasets if (model, d) in cells]
    for d in present:
        cell = cells[(model, d)]
        folders = cell.replicates or [model]
        for folder, one in zip(folders, cell.replicate_cells or [cell.first], strict=True):
            by_seed.setdefault(seed_label(folder), []).append(float(one.aggregate[measure]))
    shared = {s: v for s, v in by_seed.items() if len(v) == len(present)}
    if len(shared) < 2:
        return None, len(shared)
    return float(np.std([np.mean(v) for v in shared.values()], ddof=1)), len(shared)


def _tests(rows: list[dict[str, Any]], claim: Claim, measure: str, key: str, seed: str | None,
           ) -> tuple[DatasetTest, ...]:
    return tuple(DatasetTest(r["dataset"], r["value"], r["baseline_value"], r["mean_diff"], r[f"{key}_holm"])
                 for r in rows
                 if (r["model"], r["baseline"], r["measure"]) == (claim.model, claim.baseline, measure)
                 and (seed is None or r["seed"] == seed))


def judge_claims(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], datasets: list[str],
                 ) -> list[ClaimResult]:
    """Every claim of ``suite`` judged on ``cells`` (the leaderboard's cells) over ``datasets``."""
    if not suite.claims:
        return []
    distinct = dict.fromkeys((c.model, c.baseline) for c in suite.claims)  # a pair may carry two claims
    pairs = dataclasses.replace(suite, comparisons=[Comparison(m, b) for m, b in distinct],
                                measures=[suite.primary_measure])
    measure, alpha = suite.primary_measure, suite.significance.alpha
    key = "p_randomization" if suite.significance.test == "randomization" else "p_ttest"
    pooled = comparison_rows(pairs, cells, datasets)
    per_seed = seed_comparison_rows(pairs, cells, datasets)
    results = []
    for c in suite.claims:
        tests = _tests(pooled, c, measure, key, None)
        seeds = list(dict.fromkeys(r["seed"] for r in per_seed
                                   if (r["model"], r["baseline"], r["measure"]) == (c.model, c.baseline, measure)))
        by_seed = {}
        for s in seeds:
            st = _tests(per_seed, c, measure, key, s)
            by_seed[s] = outcome(sum(t.mean_diff > 0 and t.p_holm < alpha for t in st),
                                 sum(t.mean_diff < 0 and t.p_holm < alpha for t in st), len(st))
        tested = [t.dataset for t in tests]
        model_sd, model_n = seed_sd_of_mean(cells, c.model, tested, measure)
        base_sd, base_n = seed_sd_of_mean(cells, c.baseline, tested, measure)
        results.append(ClaimResult(c, measure, alpha, tests, len(datasets), model_sd, base_sd, model_n, base_n, by_seed))
    return results


def claims_csv(results: list[ClaimResult]) -> str:
    """``claims.csv``: one row per claim, the per-dataset Δ and p_holm after the fixed columns."""
    rows = [r.row() for r in results]
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in CSV_COLUMNS))
    return to_csv(rows, CSV_COLUMNS + tuple(extra))


def format_mean_sd(mean: float, sd: float | None) -> str:
    """``0.1234 ± 0.0056`` (± only with seed replicates)."""
    return f"{mean:.4f}" + ("" if sd is None else f" ± {sd:.4f}")


def dataset_mark(t: DatasetTest, alpha: float) -> str:
    """``+0.0123†`` / ``-0.0456‡`` / ``+0.0010`` for one dataset's Δ (†/‡: significant after Holm)."""
    mark = ("†" if t.mean_diff > 0 else "‡") if t.p_holm < alpha else ""
    return f"{t.mean_diff:+.4f}{mark}"


__all__ = ["BETTER", "CSV_COLUMNS", "ClaimResult", "DatasetTest", "FAILS", "HOLDS", "INCOMPLETE", "LEANING_BETTER",
           "LEANING_WORSE", "LEVEL", "MIXED", "NOT_TESTED", "OUTCOMES", "WORSE", "claims_csv", "dataset_mark",
           "format_mean_sd", "holds", "judge_claims", "outcome", "seed_sd_of_mean"]
