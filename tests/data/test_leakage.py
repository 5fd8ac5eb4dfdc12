"""Evaluation-query leakage guard."""

from __future__ import annotations

import pytest

from synrank.data import EvaluationQueryGuard, evaluation_guard, load_dataset, normalize_query
from synrank.errors import DatasetError
from tests.conftest import need_datasets, present_datasets

from .conftest import HEADER, jsonl, write_dataset


def test_normalize_query():
    assert normalize_query("  What is X?  ") == "what is x"
    assert normalize_query("what\tis\u00a0x") == "what is x"
    assert normalize_query("ＷＨＡＴ is ｘ") == "what is x"  # NFKC folds full-width forms
    assert normalize_query("Straße") == normalize_query("STRASSE")  # case folding, not lower()
    assert normalize_query(")+what does lauri mean") == "what does lauri mean"
    assert normalize_query("covid-19 vaccine") == "covid 19 vaccine"
    assert normalize_query("?!") == ""


@pytest.fixture
def toy_search(tmp_path):
    root = tmp_path / "data"
    q = [{"_id": "t1", "text": "Test query one?"}, {"_id": "t2", "text": "test query two"},
         {"_id": "r1", "text": "train query"}]
    row = HEADER + "\n{}\td1\t1\n"
    write_dataset(root / "evalset", queries=jsonl(q),
                  qrels={"test": row.format("t1"), "train": row.format("r1")})
    write_dataset(root / "topics-only-eval", queries=jsonl([{"_id": "u1", "text": "unjudged topic"},
                                                            {"_id": "u2", "text": "judged topic"}]),
                  qrels={"test": row.format("u2")})
    write_dataset(root / "msmarco-dev-small", queries=jsonl([{"_id": "m1", "text": "pool query"}]),
                  qrels={"dev": row.format("m1")})
    write_dataset(root / "queries-only", queries=jsonl([{"_id": "x", "text": "no judgements"}]), qrels={},
                  with_corpus=False)
    return [root]


def test_guard_selects_evaluation_queries(toy_search):
    guard = evaluation_guard(toy_search)
    assert guard.is_evaluation_query("test query one")  # judged in test, normalized match
    assert not guard.is_evaluation_query("test query two")  # unjudged, and the folder has a train split
    assert not guard.is_evaluation_query("train query")  # train judgements are training data
    assert guard.is_evaluation_query("Unjudged topic")  # no train split: every query is evaluation material
    assert guard.is_evaluation_query("judged topic")
    assert not guard.is_evaluation_query("pool query")  # msmarco-dev-* is the training pool
    assert not guard.is_evaluation_query("no judgements")
    assert guard.origins("TEST QUERY ONE") == ["evalset/test:t1"]
    assert len(guard) == 3 and "test query one" in guard
    assert sorted(guard.datasets) == ["evalset", "topics-only-eval"]


def test_filter_and_assert_clean(toy_search):
    guard = evaluation_guard(toy_search)
    queries = {"a": "pool query", "b": "Test query one", "c": "train query"}
    assert guard.filter(queries) == {"a": "pool query", "c": "train query"}
    guard.assert_clean(["pool query", "train query"], source="groups.jsonl")
    with pytest.raises(DatasetError) as err:
        guard.assert_clean(["pool query", "judged topic!", "test query one"], source="groups.jsonl")
    text = str(err.value)
    assert text.startswith("groups.jsonl: 2 evaluation queries in training data")
    assert "item 2 'judged topic!' = topics-only-eval/test:u2" in text


def test_malformed_evaluation_folder_raises(toy_search):
    (toy_search[0] / "evalset" / "qrels" / "test.tsv").write_text("q\td\n")
    with pytest.raises(DatasetError, match="test.tsv:1"):
        evaluation_guard(toy_search)


def test_empty_guard():
    guard = EvaluationQueryGuard()
    assert not guard.is_evaluation_query("anything") and guard.filter({"a": "x"}) == {"a": "x"}


def test_shared_guard_covers_trec_dl_and_beir_test_queries(shared_datasets):
    guard = evaluation_guard([shared_datasets])
    names = present_datasets(shared_datasets, "trec-dl-2019", "trec-dl-2020", "scifact", "arguana", "quora",
                             "cranfield", "nfcorpus")
    assert {"trec-dl-2019", "scifact", "cranfield"} <= set(names)  # shipped: present everywhere
    for name in names:
        for text in load_dataset(shared_datasets / name, corpus=False).judged_queries().values():
            assert guard.is_evaluation_query(text), (name, text)
    # scifact's train claims stay usable unless the same text is also a test claim.
    sci = load_dataset(shared_datasets / "scifact", split="train", corpus=False)
    test_texts = {normalize_query(t) for t in
                  load_dataset(shared_datasets / "scifact", corpus=False).judged_queries().values()}
    for text in sci.judged_queries().values():
        assert guard.is_evaluation_query(text) == (normalize_query(text) in test_texts)
    assert "msmarco-dev-small" not in guard.datasets and "msmarco-dev-queries" not in guard.datasets


def test_trec_dl_queries_do_not_occur_in_the_msmarco_dev_pool(shared_datasets):
    """The generation pool must not contain TREC DL queries (MANIFEST claims none; checked here)."""
    need_datasets(shared_datasets, "msmarco-dev-queries", "trec-dl-2020", "quora")
    pool_texts = list(load_dataset("msmarco-dev-queries", corpus=False).queries.values())
    pool = {normalize_query(t) for t in pool_texts}
    for name in ("trec-dl-2019", "trec-dl-2020"):
        dl = load_dataset(name, corpus=False).queries
        assert sum(normalize_query(t) in pool for t in dl.values()) == 0, name
    guard = evaluation_guard([shared_datasets])
    hits = [t for t in pool_texts if guard.is_evaluation_query(t)]
    # Three pool queries equal Quora test questions; the generator must filter them.
    assert len(hits) == 3
    assert all(o.startswith("quora/test:") for t in hits for o in guard.origins(t))
