"""The claims of a suite (benchmarks/claims.py): the rule's properties, the numbers it is given
(checked against numpy on the per-query files) and the renderings."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.claims import (
    BETTER,
    FAILS,
    HOLDS,
    LEANING_BETTER,
    LEANING_WORSE,
    LEVEL,
    MIXED,
    NOT_TESTED,
    OUTCOMES,
    WORSE,
    holds,
    outcome,
)
from benchmarks.report import write_leaderboard
from benchmarks.suites import SuiteConfig
from synrank.config import from_dict
from tests.benchmarks.report_helpers import cell_texts, parse_html, write_scores_cell

DATASETS = ("d1", "d2", "d3", "d4", "d5")
MIRROR = {BETTER: WORSE, WORSE: BETTER, LEANING_BETTER: LEANING_WORSE, LEANING_WORSE: LEANING_BETTER,
          LEVEL: LEVEL, MIXED: MIXED, NOT_TESTED: NOT_TESTED}


@st.composite
def counts(draw):
    n = draw(st.integers(0, 12))
    wins = draw(st.integers(0, n))
    losses = draw(st.integers(0, n - wins))
    return wins, losses, n


@given(counts())
def test_outcome_is_the_written_rule(c):
    wins, losses, n = c
    result = outcome(wins, losses, n)
    assert result in OUTCOMES + (NOT_TESTED,)
    assert (result == NOT_TESTED) == (n == 0)
    if n:
        # the README's words, one by one: a majority is more than half of the datasets
        assert (result == BETTER) == (losses == 0 and wins > n / 2)
        assert (result == WORSE) == (wins == 0 and losses > n / 2)
        assert (result == LEVEL) == (wins == 0 and losses == 0)
        assert (result == MIXED) == (wins > 0 and losses > 0)
        assert (result == LEANING_BETTER) == (losses == 0 and 0 < wins <= n / 2)
    # swapping the two rows swaps the words
    assert outcome(losses, wins, n) == MIRROR[result]


@given(counts())
def test_beats_is_stricter_than_matches(c):
    wins, losses, n = c
    result = outcome(wins, losses, n)
    b, m = holds("beats", result), holds("matches", result)
    if n == 0:
        assert b is None and m is None
        return
    assert m == (losses == 0)
    assert b == (result == BETTER)
    assert not b or m


@pytest.mark.parametrize("args", [(-1, 0, 3), (0, -1, 3), (2, 2, 3)])
def test_outcome_refuses_impossible_counts(args):
    with pytest.raises(ValueError, match="wins"):
        outcome(*args)


def test_unknown_claim_word_is_refused():
    with pytest.raises(ValueError, match="beats or matches"):
        holds("exceeds", BETTER)


# ---------------------------------------------------------------------------------------------------
# On a results folder
# ---------------------------------------------------------------------------------------------------

def _suite(claims: list[dict]) -> SuiteConfig:
    return from_dict(SuiteConfig, {
        "name": "t", "baseline": "base", "measures": ["nDCG@10"],
        "variants": [{"name": n, "bm25": {}} for n in ("base", "good", "same", "seeded")],
        "datasets": [{"name": d} for d in DATASETS], "claims": claims})


CLAIMS = [{"model": "good", "baseline": "base", "claim": "beats", "label": "good > base"},
          {"model": "same", "baseline": "base", "claim": "beats"},
          {"model": "same", "baseline": "base", "claim": "matches"},
          {"model": "base", "baseline": "good", "claim": "matches"},
          {"model": "seeded", "baseline": "base", "claim": "matches"}]


@pytest.fixture()
def folder(tmp_path):
    """base; good = base + 0.2 (clipped) on every dataset; same = base; seeded = three replicates."""
    rng = np.random.default_rng(7)
    results = tmp_path / "results"
    for i, d in enumerate(DATASETS):
        base = rng.uniform(0, 0.7, 60 + 5 * i)
        write_scores_cell(results, "base", d, base)
        write_scores_cell(results, "good", d, np.clip(base + 0.2 + rng.normal(0, 0.05, base.size), 0, 1))
        write_scores_cell(results, "same", d, base.copy())
        for seed, shift in ((1, 0.01), (2, -0.02), (3, 0.03)):
            write_scores_cell(results, f"seeded@seed{seed}", d, np.clip(base + shift + rng.normal(0, 0.1, base.size), 0, 1))
    return results


def _values(results: Path, folder: str, dataset: str) -> np.ndarray:
    with open(results / "cells" / folder / dataset / "per_query.tsv", newline="") as fh:
        return np.array([float(r["nDCG@10"]) for r in csv.DictReader(fh, delimiter="\t")])


def _claims(results: Path, claims: list[dict] = CLAIMS):
    out = write_leaderboard(_suite(claims), results, ["base", "good", "same", "seeded"], {}, plots=False)
    return out["report"].claims


def test_verdicts_and_effect_sizes(folder):
    good, same_beats, same_matches, base_matches, seeded = _claims(folder)
    assert (good.outcome, good.verdict, good.wins, good.losses) == (BETTER, HOLDS, 5, 0)
    deltas = [_values(folder, "good", d).mean() - _values(folder, "base", d).mean() for d in DATASETS]
    assert good.mean_delta == pytest.approx(np.mean(deltas), abs=1e-12)
    assert [t.mean_diff for t in good.tests] == pytest.approx(deltas, abs=1e-12)
    assert good.baseline_mean == pytest.approx(np.mean([_values(folder, "base", d).mean() for d in DATASETS]))
    # identical scores: level, so "beats" fails and "matches" holds
    assert (same_beats.outcome, same_beats.verdict) == (LEVEL, FAILS)
    assert (same_matches.outcome, same_matches.verdict) == (LEVEL, HOLDS)
    assert same_matches.mean_delta == 0
    # the reverse of a clear gain: worse, so it does not match
    assert (base_matches.outcome, base_matches.verdict) == (WORSE, FAILS)
    assert seeded.tests and seeded.complete


def test_seed_sd_is_the_sd_of_each_seeds_mean_over_datasets(folder):
    seeded = _claims(folder)[-1]
    per_seed = [np.mean([_values(folder, f"seeded@seed{s}", d).mean() for d in DATASETS]) for s in (1, 2, 3)]
    assert seeded.model_seeds == 3 and seeded.baseline_seeds == 1
    assert seeded.model_seed_sd == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
    assert seeded.baseline_seed_sd is None
    # the model's mean is the mean over seeds and datasets
    assert seeded.model_mean == pytest.approx(np.mean(per_seed), abs=1e-12)
    # one outcome per seed, each from that seed's own tests
    assert list(seeded.per_seed) == ["1", "2", "3"]
    assert set(seeded.per_seed.values()) <= set(OUTCOMES)


def test_a_claim_is_judged_only_on_every_dataset(folder):
    shutil.rmtree(folder / "cells" / "good" / "d5")
    good = _claims(folder)[0]
    assert len(good.tests) == 4 and good.outcome == BETTER
    assert good.holds is None and good.verdict == "incomplete (4 of 5 datasets)"
    shutil.rmtree(folder / "cells" / "good")
    assert _claims(folder)[0].verdict == NOT_TESTED


def test_renderings_agree(folder):
    _claims(folder)
    with open(folder / "claims.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["verdict"] for r in rows] == [HOLDS, FAILS, HOLDS, FAILS, rows[4]["verdict"]]
    assert rows[0]["label"] == "good > base" and rows[0]["wins"] == "5"
    assert {f"delta@{d}" for d in DATASETS} <= set(rows[0])
    md = (folder / "leaderboard.md").read_text()
    assert "## Claims (nDCG@10)" in md and "| good > base | good | beats base | holds | better (5/0 of 5) |" in md
    page = parse_html((folder / "report" / "index.html").read_text())
    section = page.by_id("claims")
    assert section is not None
    body = [cell_texts(tr) for tr in section.rows()]
    assert len(body) == len(CLAIMS)
    assert body[0][:5] == ["good > base", "good", "beats base", "holds", "better (5/0 of 5)"]
    assert any(a.attrs.get("href") == "#claims" for a in page.find_all("a"))


def test_a_suite_without_claims_has_no_claims_output(folder):
    _claims(folder, claims=[])
    assert not (folder / "claims.csv").exists()
    assert "## Claims" not in (folder / "leaderboard.md").read_text()
    page = parse_html((folder / "report" / "index.html").read_text())
    assert page.by_id("claims") is None and not any(a.attrs.get("href") == "#claims" for a in page.find_all("a"))


@pytest.mark.parametrize(("claim", "message"), [
    ({"model": "nobody", "baseline": "base", "claim": "beats"}, "'nobody' is not a variant name"),
    ({"model": "base", "baseline": "base", "claim": "beats"}, "compared with itself"),
    ({"model": "good", "baseline": "base", "claim": "exceeds"}, "claim"),
])
def test_bad_claims_are_refused(claim, message):
    with pytest.raises(Exception, match=message):
        _suite([claim]).validate()
