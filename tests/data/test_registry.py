"""Registry: search order, direct paths, gzip layouts, per-dataset metadata, the missing-dataset error.

No test touches the internet: downloads are tested against a server on 127.0.0.1
(``tests/data/test_download.py``); here downloading is disabled or the catalog has no such dataset.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from synrank import paths
from synrank.data import dataset_info, list_datasets, load_dataset, resolve_dataset
from synrank.data.registry import info_for_folder, iter_dataset_folders, quick_counts
from synrank.errors import DatasetError
from tests.conftest import present_datasets

from .conftest import write_dataset


@pytest.fixture
def search(tmp_path, monkeypatch):
    """Two $SYNRANK_DATA folders, 'shared/datasets' beside a stand-in repository, and a cache, all empty."""
    first, second, cache = tmp_path / "first", tmp_path / "second", tmp_path / "cache"
    repo = tmp_path / "checkout" / "synrank"
    for p in (first, second, cache, repo):
        p.mkdir(parents=True)
    monkeypatch.setenv("SYNRANK_DATA", os.pathsep.join([str(first), str(second)]))
    monkeypatch.setenv("SYNRANK_CACHE", str(cache))
    monkeypatch.setattr(paths, "REPO_ROOT", repo)
    shared = tmp_path / "checkout" / "shared" / "datasets"
    return first, second, cache / "datasets", shared


def test_search_order_env_then_shared_then_cache_then_shipped(search):
    first, second, cache, shared = search
    assert paths.dataset_search_path() == [first, second, shared, cache, paths.SHIPPED_DATASETS]
    write_dataset(second / "toy")
    assert resolve_dataset("toy") == second / "toy"
    write_dataset(first / "toy")
    assert resolve_dataset("toy") == first / "toy"  # earlier $SYNRANK_DATA entry wins
    # the shipped copy comes last ...
    assert resolve_dataset("scifact") == paths.SHIPPED_DATASETS / "scifact"
    write_dataset(cache / "scifact")
    assert resolve_dataset("scifact") == cache / "scifact"
    # ... after the cache, which comes after shared/datasets beside the repository ...
    write_dataset(shared / "scifact")
    assert resolve_dataset("scifact") == shared / "scifact"
    # ... which comes after $SYNRANK_DATA.
    write_dataset(second / "scifact")
    assert resolve_dataset("scifact") == second / "scifact"
    write_dataset(cache / "cached-only")
    assert resolve_dataset("cached-only") == cache / "cached-only"


def test_listing_marks_shadowed_copies(search):
    first, second, _, _ = search
    write_dataset(first / "toy")
    write_dataset(second / "toy")
    write_dataset(second / "scifact")
    entries = [(folder, info.name, shadowed) for folder, info, shadowed in iter_dataset_folders()]
    assert (first, "toy", False) in entries and (second, "toy", True) in entries
    assert (paths.SHIPPED_DATASETS, "scifact", True) in entries
    names = [i.name for i in list_datasets()]
    assert names.count("toy") == 1 and names.count("scifact") == 1 and "trec-dl-2019" in names


def test_a_path_is_accepted_directly(tmp_path, make_dataset):
    root = make_dataset("anything")
    assert resolve_dataset(root) == root
    assert resolve_dataset(str(root)) == root
    assert load_dataset(str(root)).info.name == "anything"
    with pytest.raises(DatasetError, match="dataset folder does not exist"):
        resolve_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a BEIR-layout folder"):
        resolve_dataset(tmp_path / "empty")


def test_unknown_name_fails_listing_every_folder_searched(search):
    first, second, cache, shared = search
    with pytest.raises(DatasetError) as err:
        resolve_dataset("no-such-dataset")
    message = str(err.value)
    for folder in (first, second, shared, cache, paths.SHIPPED_DATASETS):
        assert str(folder / "no-such-dataset") in message
    assert "not in the dataset catalog" in message and "synrank datasets --all" in message


def test_catalog_dataset_missing_offline_names_the_command(search, monkeypatch):
    first, _, cache, _ = search
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    with pytest.raises(DatasetError) as err:
        resolve_dataset("trec-dl-2020")
    message = str(err.value)
    assert str(first / "trec-dl-2020") in message and str(cache / "trec-dl-2020") in message
    assert "not downloaded (SYNRANK_OFFLINE is set)" in message
    assert "get it with `synrank download trec-dl-2020` on a machine with internet" in message
    with pytest.raises(DatasetError, match="this command does not download"):
        resolve_dataset("trec-dl-2020", download=False)
    with pytest.raises(DatasetError, match="not downloadable: register at bioasq.org"):
        resolve_dataset("bioasq")


def test_gzip_layout_reads_like_the_plain_one(make_dataset, tmp_path):
    plain = make_dataset("plain")
    packed = tmp_path / "packed"
    for f in plain.rglob("*"):
        if f.is_file():
            target = packed / (str(f.relative_to(plain)) + ".gz")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.compress(f.read_bytes()))
    a, b = load_dataset(plain), load_dataset(packed)
    assert (a.corpus, a.queries, a.qrels, a.checksums) == (b.corpus, b.queries, b.qrels, b.checksums)
    assert info_for_folder(packed).splits == ("test",) and quick_counts(info_for_folder(packed)) == \
        quick_counts(info_for_folder(plain))


def test_group_forum_reference_resolves_inside_the_search_path(search):
    first, *_ = search
    write_dataset(first / "cqadupstack" / "android")
    assert resolve_dataset("cqadupstack/android") == first / "cqadupstack" / "android"
    with pytest.raises(DatasetError, match="dataset folder does not exist"):
        resolve_dataset("cqadupstack/not-a-forum")  # not a forum of the catalog: a path
    with pytest.raises(DatasetError, match="'cqadupstack' is 12 forums, each its own dataset: name one, e.g. "
                                           "'cqadupstack/android'"):
        resolve_dataset("cqadupstack")


def test_builtin_metadata(shared_datasets):
    dl19 = dataset_info("trec-dl-2019")
    assert (dl19.default_split, dl19.relevance_threshold, dl19.qrels_outside_corpus) == ("test", 2, True)
    assert dl19.rerank_run is not None and dl19.rerank_run.name.startswith("bm25_top100.trec")
    assert dl19.rerank_run.parent == resolve_dataset("trec-dl-2019")
    assert dl19.has_corpus and dl19.known
    for name in present_datasets(shared_datasets, "trec-dl-2020", "arguana", "quora", "msmarco-dev-small",
                                 "msmarco-dev-queries"):
        info = dataset_info(name)
        if name == "trec-dl-2020":
            assert info.relevance_threshold == 2
        if name in ("arguana", "quora"):
            assert info.ignore_identical_ids is True
        if name == "quora":
            assert info.has_corpus is False
        if name == "msmarco-dev-small":
            assert info.default_split == "dev"
        if name == "msmarco-dev-queries":
            assert info.training_pool and info.splits == ()
    cran = dataset_info("cranfield")
    assert cran.ignore_identical_ids is False and cran.splits == ("test", "test_raw_codes")
    assert cran.evaluation_splits == ("test", "test_raw_codes")
    sci = dataset_info("scifact")
    assert (sci.default_split, sci.splits, sci.relevance_threshold, sci.rerank_run) == ("test", ("test", "train"), 1,
                                                                                        None)
    assert sci.evaluation_splits == ("test",)


def test_defaults_for_unknown_folders(make_dataset):
    only_dev = info_for_folder(make_dataset("a", qrels={"dev": "query-id\tcorpus-id\tscore\nq1\td1\t1\n"}))
    assert (only_dev.default_split, only_dev.relevance_threshold, only_dev.ignore_identical_ids,
            only_dev.known) == ("dev", 1, False, False)
    row = "query-id\tcorpus-id\tscore\nq1\td1\t1\n"
    both = info_for_folder(make_dataset("b", qrels={"test": row, "train": row}))
    assert both.default_split == "test"
    ambiguous = make_dataset("c", qrels={"dev": row, "train": row})
    assert info_for_folder(ambiguous).default_split == ""
    with pytest.raises(DatasetError, match="several splits and no default; choose one of: dev, train"):
        load_dataset(ambiguous)
    assert load_dataset(ambiguous, split="train").split == "train"


def test_quick_counts_agree_with_loading(shared_datasets):
    for name in present_datasets(shared_datasets, "scifact", "trec-dl-2019", "msmarco-dev-queries"):
        info = dataset_info(name)
        counts = quick_counts(info)
        ds = load_dataset(info, corpus=info.has_corpus)
        assert counts["queries"] == len(ds.queries)
        assert counts["docs"] == (len(ds.corpus) if info.has_corpus else None)
        for split in info.splits:
            qrels = load_dataset(info, split=split, corpus=False).qrels
            assert counts["splits"][split] == {"judged_queries": len(qrels),
                                               "qrels": sum(len(d) for d in qrels.values())}


def test_bare_name_prefers_search_path_over_working_directory(search, tmp_path, monkeypatch):
    first, *_ = search
    write_dataset(tmp_path / "cwd" / "toy")
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_dataset("toy") == Path("toy")  # not in the search path: the local folder
    write_dataset(first / "toy")
    assert resolve_dataset("toy") == first / "toy"


def test_invalid_names_are_rejected(search):
    with pytest.raises(DatasetError, match="invalid dataset name"):
        resolve_dataset("bad name!")
