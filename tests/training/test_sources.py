"""Training data sources and the leakage rules (no evaluation queries, no evaluation documents)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synrank.data.beir import load_dataset
from synrank.errors import ConfigError, DatasetError
from synrank.training.config import SourceConfig
from synrank.training.sources import (
    evaluation_query_guard,
    load_group_source,
    load_self_supervised_source,
    load_supervised_source,
)
from tests.training.conftest import make_groups, write_groups


def _first_query(path) -> str:
    return json.loads(path.read_text(encoding="utf-8").splitlines()[0])["text"]


@pytest.fixture(scope="module")
def scifact_test_docs(shared_datasets) -> set[str]:
    ds = load_dataset("scifact", split="test", corpus=False)
    return {d for judged in ds.qrels.values() for d in judged}


def test_evaluation_queries_are_dropped_or_refused(shared_datasets, tmp_path):
    records = make_groups(6)
    dl19 = _first_query(shared_datasets / "trec-dl-2019" / "queries.jsonl")
    records[2]["query"] = dl19.upper() + "?"  # normalisation: case and punctuation do not hide it
    scifact_test = load_dataset("scifact", split="test", corpus=False).judged_queries()
    records[4]["query"] = next(iter(scifact_test.values()))
    path = write_groups(tmp_path / "g.jsonl", records)

    groups, report = load_group_source(SourceConfig(kind="groups", path=str(path)), "drop", evaluation_query_guard())
    assert report.n_dropped_evaluation_queries == 2
    assert [g.query_id for g in groups] == ["q0", "q1", "q3", "q5"]
    assert report.checksums["g.jsonl"]
    with pytest.raises(DatasetError, match="2 training queries are evaluation queries"):
        load_group_source(SourceConfig(kind="groups", path=str(path)), "error", evaluation_query_guard())


def test_supervised_groups_have_bm25_negatives_and_no_evaluation_documents(shared_datasets, scifact_test_docs):
    src = SourceConfig(kind="supervised", dataset="scifact", n_negatives=5, bm25_depth=20, max_groups=40)
    groups, report = load_supervised_source(src, "drop", evaluation_query_guard())
    train = load_dataset("scifact", split="train", corpus=False)
    assert report.n_excluded_documents == len(scifact_test_docs)
    assert len(groups) + report.n_dropped_no_positive == 40
    assert len(groups) > 15
    for g in groups:
        ids = [p.meta["doc_id"] for p in g.passages]
        assert not set(ids) & scifact_test_docs
        pos = [p.meta["doc_id"] for p in g.passages if p.grade == 3]
        neg = [p.meta["doc_id"] for p in g.passages if p.grade == 1]
        assert pos and set(pos) <= set(train.qrels[g.query_id])
        assert len(neg) == 5 and not set(neg) & set(train.qrels[g.query_id])


def test_supervised_on_an_evaluation_split_is_refused(shared_datasets):
    with pytest.raises(ConfigError, match="evaluation split"):
        load_supervised_source(SourceConfig(kind="supervised", dataset="scifact", split="test"), "drop", evaluation_query_guard())


def test_self_supervised_crops_are_spans_of_allowed_documents(shared_datasets, scifact_test_docs):
    src = SourceConfig(kind="self_supervised", dataset="scifact", crop_min_ratio=0.1, crop_max_ratio=0.5)
    items, report = load_self_supervised_source(src)
    ds = load_dataset("scifact", split="test", corpus=True)
    allowed = [d for d in ds.corpus if d not in scifact_test_docs]
    assert report.n_excluded_documents == len(scifact_test_docs)
    assert len(items) + report.n_dropped_short == len(allowed)
    rng = np.random.default_rng(0)
    for item in items[:50]:
        doc = " ".join(item.words)
        q, ps, gs = item.draw(rng, 1, "resample")
        assert q in doc and ps[0] in doc and gs == [3]
        n = len(item.words)
        for span in (q, ps[0]):
            k = len(span.split())
            assert min(n, max(4, round(0.1 * n))) <= k <= max(4, round(0.5 * n))
    # the two crops are drawn independently
    a = [items[0].draw(np.random.default_rng(s), 1, "resample") for s in range(10)]
    assert len({x[0] for x in a}) > 1 and any(x[0] != x[1][0] for x in a)
