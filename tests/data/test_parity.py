"""Parity with ``beir.datasets.data_loader.GenericDataLoader`` on every shared dataset with a corpus.

Compared: document ids (and order), titles, texts; the judged queries (BEIR keeps only those) and
their texts; qrels including zero grades (BEIR keeps them too: checked below). Known, intended
differences: a missing title is ``""`` here and ``None`` in BEIR (none of the shared corpora lacks
one); ``BeirDataset.queries`` also holds unjudged queries (scifact's file has test and train).
"""

from __future__ import annotations

import logging

import pytest

from synrank.data import list_datasets, load_dataset
from tests.conftest import need_datasets, present_datasets

# beir leaves its files open (ResourceWarning surfaced by pytest as an unraisable-exception warning).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

SHARED_WITH_CORPUS = ["arguana", "cranfield", "scifact", "trec-dl-2019", "trec-dl-2020"]


def _beir_load(path, split):
    from beir.datasets.data_loader import GenericDataLoader

    logging.getLogger("beir").setLevel(logging.WARNING)
    return GenericDataLoader(data_folder=str(path)).load(split=split)


def test_every_shared_dataset_with_a_corpus_is_covered(shared_datasets):
    found = sorted(i.name for i in list_datasets([shared_datasets]) if i.has_corpus)
    assert found == present_datasets(shared_datasets, *SHARED_WITH_CORPUS)


@pytest.mark.parametrize("name", SHARED_WITH_CORPUS)
def test_parity_with_beir_generic_data_loader(shared_datasets, name):
    need_datasets(shared_datasets, name)
    folder = shared_datasets / name
    ours_first = None
    for split in load_dataset(folder, corpus=False).info.splits:
        ours = load_dataset(folder, split=split)
        corpus, queries, qrels = _beir_load(folder, split)
        if ours_first is None:
            ours_first = ours
            assert list(ours.corpus) == list(corpus)
            for doc_id, doc in ours.corpus.items():
                ref = corpus[doc_id]
                assert (doc.title, doc.text) == (ref["title"] if ref["title"] is not None else "", ref["text"])
        assert ours.judged_queries() == queries
        assert list(ours.judged_queries()) == list(queries)
        assert ours.qrels == qrels
        assert set(ours.queries) >= set(queries)


def test_beir_keeps_zero_grades_too(shared_datasets):
    _, _, qrels = _beir_load(shared_datasets / "trec-dl-2019", "test")
    zeros = sum(1 for docs in qrels.values() for g in docs.values() if g == 0)
    assert zeros == 5158  # MANIFEST: score counts {0: 5158, ...}
    assert load_dataset("trec-dl-2019").qrels == qrels


def test_where_beir_differs_on_bad_input(make_dataset):
    """Documents why the stricter reader exists: BEIR chokes on a BOM and silently keeps the last
    of duplicate ids; both loaders agree on the clean folder."""
    from synrank.data.beir import load_folder

    from .conftest import DOCS, jsonl

    clean = make_dataset()
    corpus, queries, qrels = _beir_load(clean, "test")
    ours = load_folder(clean)
    assert ours.qrels == qrels and ours.judged_queries() == queries and list(ours.corpus) == list(corpus)

    bom = make_dataset(corpus="\ufeff" + jsonl(DOCS))
    with pytest.raises(ValueError, match="BOM"):
        _beir_load(bom, "test")
    assert list(load_folder(bom).corpus) == ["d1", "d2", "d3"]

    dup = make_dataset(corpus=jsonl([*DOCS, {"_id": "d1", "text": "replacement"}]))
    corpus, _, _ = _beir_load(dup, "test")
    assert corpus["d1"]["text"] == "replacement"  # BEIR: silently overwritten
    with pytest.raises(Exception, match="duplicate document id 'd1'"):
        load_folder(dup)
