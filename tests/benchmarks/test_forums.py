"""A dataset made of forums (CQADupStack in the catalog) is evaluated forum by forum and averaged as
BEIR does: the cell's score is the mean over the forums of each forum's mean, not the mean over all
queries pooled."""

from __future__ import annotations

import json
import statistics

import pytest
import yaml

from benchmarks import run as run_mod
from benchmarks.records import CELL_MARKER
from benchmarks.suites import load_suite
from synrank.records import PerQueryScores
from tests.data.dlhelpers import write_catalog

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma"]


def _forum(root, n_docs: int, n_queries: int, shift: int) -> None:
    """A forum whose queries share words with their relevant document (and some with others)."""
    root.mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": " ".join(WORDS[(i + shift + k) % len(WORDS)] for k in range(4))}
            for i in range(n_docs)]
    queries = [{"_id": f"q{i}", "text": " ".join(WORDS[(3 * i + shift + k) % len(WORDS)] for k in range(2))}
               for i in range(n_queries)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\td{(3 * i) % n_docs}\t1\n" for i in range(n_queries)))


@pytest.fixture
def stack(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _forum(data / "stack" / "small", n_docs=12, n_queries=3, shift=0)
    _forum(data / "stack" / "large", n_docs=30, n_queries=9, shift=5)
    monkeypatch.setenv("SYNRANK_DATA", str(data))
    catalog = write_catalog(tmp_path / "catalog.yaml", {"stack": {
        "title": "toy forums", "collection": "beir", "homepage": "https://x", "licence": "test",
        "splits": ["test"], "forums": ["small", "large"], "manual": "made by the test"}})
    monkeypatch.setenv("SYNRANK_CATALOG", str(catalog))
    suite = {"name": "forums", "baseline": "bm25", "measures": ["nDCG@10", "MRR@10"],
             "variants": [{"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}},
                          {"name": "bm25-flat", "bm25": {"k1": 0.1, "b": 0.0}}],
             "datasets": [{"name": "stack"}]}
    path = tmp_path / "forums.yaml"
    path.write_text(yaml.safe_dump(suite))
    return load_suite(path), tmp_path / "results"


def test_forums_are_evaluated_separately_and_averaged(stack):
    suite, results = stack
    summary = run_mod.run_suite(suite, results)
    assert not summary["failures"]
    cell = results / "cells" / "bm25" / "stack"
    marker = json.loads((cell / CELL_MARKER).read_text())
    forum_means = {}
    for forum, n in (("small", 3), ("large", 9)):
        per_query = PerQueryScores.from_disk(cell / forum / "per_query.tsv").columns()
        assert len(per_query["nDCG@10"]) == n
        forum_means[forum] = statistics.fmean(per_query["nDCG@10"].values())
    # BEIR's CQADupStack number: the mean of the forum means (small forum weighs as much as the large one)
    assert marker["aggregate"]["nDCG@10"] == pytest.approx(statistics.fmean(forum_means.values()), abs=1e-12)
    pooled = PerQueryScores.from_disk(cell / "per_query.tsv").column("nDCG@10")
    assert abs(statistics.fmean(pooled.values()) - marker["aggregate"]["nDCG@10"]) > 1e-3  # the test can tell
    assert sorted(pooled) == sorted([f"small/q{i}" for i in range(3)] + [f"large/q{i}" for i in range(9)])
    assert marker["n_queries"] == 12 and set(marker["forums"]) == {"small", "large"}
    assert marker["dataset_checksums"].keys() >= {"small/corpus.jsonl", "large/qrels/test.tsv"}
    csv_rows = (results / "leaderboard.csv").read_text().splitlines()
    assert any(",stack," in row for row in csv_rows)
    # rerun: cached
    again = run_mod.run_suite(suite, results)
    assert {o.status for o in again["outcomes"]} == {"cached"}


def test_a_missing_forum_dataset_is_reported_by_the_preflight(stack, monkeypatch, tmp_path):
    suite, _ = stack
    monkeypatch.setenv("SYNRANK_DATA", str(tmp_path / "empty"))
    with pytest.raises(Exception, match="dataset 'stack': not here, and synrank cannot download it"):
        run_mod.preflight(suite, suite.variants, ["stack"])
