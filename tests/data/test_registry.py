"""Registry: search order, direct paths, per-dataset metadata, download and the offline error.

No test touches the internet: downloads go to a server on 127.0.0.1 or to a refused local port,
or the downloader is replaced.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import threading
import zipfile
from pathlib import Path

import pytest

from synrank.data import dataset_info, list_datasets, load_dataset, registry, resolve_dataset
from synrank.data.registry import (
    OfflineError,
    download_beir,
    info_for_folder,
    iter_dataset_folders,
    quick_counts,
)
from synrank.errors import DatasetError

from .conftest import write_dataset


@pytest.fixture
def search(tmp_path, monkeypatch):
    """Two $SYNRANK_DATA folders and a cache, all empty, in tmp_path."""
    first, second, cache = tmp_path / "first", tmp_path / "second", tmp_path / "cache"
    for p in (first, second, cache):
        p.mkdir()
    monkeypatch.setenv("SYNRANK_DATA", os.pathsep.join([str(first), str(second)]))
    monkeypatch.setenv("SYNRANK_CACHE", str(cache))
    monkeypatch.delenv("SYNRANK_OFFLINE", raising=False)
    return first, second, cache / "datasets"


def test_search_order_env_then_shared_then_cache(search, shared_datasets):
    first, second, cache = search
    write_dataset(second / "toy")
    assert resolve_dataset("toy") == second / "toy"
    write_dataset(first / "toy")
    assert resolve_dataset("toy") == first / "toy"  # earlier $SYNRANK_DATA entry wins
    # shared/datasets beside the repository comes after $SYNRANK_DATA ...
    assert resolve_dataset("scifact") == shared_datasets / "scifact"
    write_dataset(second / "scifact")
    assert resolve_dataset("scifact") == second / "scifact"
    # ... and the cache comes last.
    write_dataset(cache / "cached-only")
    assert resolve_dataset("cached-only") == cache / "cached-only"
    write_dataset(cache / "toy")
    assert resolve_dataset("toy") == first / "toy"


def test_listing_marks_shadowed_copies(search, shared_datasets):
    first, second, _ = search
    write_dataset(first / "toy")
    write_dataset(second / "toy")
    entries = [(folder, info.name, shadowed) for folder, info, shadowed in iter_dataset_folders()]
    assert (first, "toy", False) in entries and (second, "toy", True) in entries
    names = [i.name for i in list_datasets()]
    assert names.count("toy") == 1 and "scifact" in names and "trec-dl-2019" in names


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


def test_unknown_name_fails_listing_every_folder_searched(search, monkeypatch):
    first, second, cache = search
    monkeypatch.setattr(registry, "_open_url", _no_network)
    with pytest.raises(DatasetError) as err:
        resolve_dataset("no-such-dataset")
    message = str(err.value)
    for folder in (first, second, registry.dataset_search_path()[2], cache):
        assert str(folder / "no-such-dataset") in message
    assert "not a BEIR dataset" in message


def _no_network(url, timeout):
    raise AssertionError(f"test tried to open {url}")


def test_offline_beir_name_fails_listing_folders(search, monkeypatch):
    first, second, cache = search

    def offline(name, target, url_template=None):
        raise OfflineError("name resolution failed")

    monkeypatch.setattr(registry, "download_beir", offline)
    with pytest.raises(DatasetError) as err:
        resolve_dataset("nq")
    message = str(err.value)
    assert "cannot be downloaded (offline: name resolution failed)" in message
    for folder in (first, second, cache):
        assert str(folder / "nq") in message
    assert "nq.zip" in message


def test_refused_connection_is_reported_as_offline(search, monkeypatch):
    """A real attempt against a local port nobody listens on (no internet involved)."""
    monkeypatch.setattr(registry, "BEIR_URL", "http://127.0.0.1:9/{name}.zip")
    with pytest.raises(DatasetError, match="offline"):
        resolve_dataset("nq")
    assert not (search[2] / "nq").exists()


def test_synrank_offline_disables_downloads(search, monkeypatch):
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    monkeypatch.setattr(registry, "_open_url", _no_network)
    with pytest.raises(DatasetError, match="downloading is disabled"):
        resolve_dataset("nq")


@pytest.fixture
def zip_server(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yields (url_template, www folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{name}}.zip", www
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _zip_folder(src: Path, arcroot: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, f"{arcroot}/{path.relative_to(src)}")
    return buf.getvalue()


def test_download_unpacks_atomically_into_the_cache(search, zip_server, tmp_path, monkeypatch):
    url, www = zip_server
    src = write_dataset(tmp_path / "src")
    (www / "nq.zip").write_bytes(_zip_folder(src, "nq"))
    monkeypatch.setattr(registry, "BEIR_URL", url)
    path = resolve_dataset("nq")
    cache = search[2]
    assert path == cache / "nq"
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["nq"]  # no temp left
    ds = load_dataset("nq")
    assert ds.qrels == {"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1}}
    # Found locally now: no second download.
    monkeypatch.setattr(registry, "_open_url", _no_network)
    assert resolve_dataset("nq") == path


def test_download_errors(search, zip_server, tmp_path):
    url, www = zip_server
    target = tmp_path / "out" / "nq"
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_beir("nq", target, url)
    (www / "nq.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a valid zip"):
        download_beir("nq", target, url)
    (www / "nq.zip").write_bytes(_empty_zip())
    with pytest.raises(DatasetError, match="no BEIR-layout folder"):
        download_beir("nq", target, url)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")] == []


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "nothing here")
    return buf.getvalue()


def test_builtin_metadata(shared_datasets):
    dl19 = dataset_info("trec-dl-2019")
    assert (dl19.default_split, dl19.relevance_threshold, dl19.qrels_outside_corpus) == ("test", 2, True)
    assert dl19.rerank_run == shared_datasets / "trec-dl-2019" / "bm25_top100.trec"
    assert dl19.has_corpus and dl19.known
    assert dataset_info("trec-dl-2020").relevance_threshold == 2
    assert dataset_info("arguana").ignore_identical_ids is True
    assert dataset_info("quora").ignore_identical_ids is True
    assert dataset_info("quora").has_corpus is False
    cran = dataset_info("cranfield")
    assert cran.ignore_identical_ids is False and cran.splits == ("test", "test_raw_codes")
    assert cran.evaluation_splits == ("test", "test_raw_codes")
    sci = dataset_info("scifact")
    assert (sci.default_split, sci.splits, sci.relevance_threshold, sci.rerank_run) == ("test", ("test", "train"), 1,
                                                                                        None)
    assert sci.evaluation_splits == ("test",)
    assert dataset_info("msmarco-dev-small").default_split == "dev"
    assert dataset_info("msmarco-dev-queries").training_pool and dataset_info("msmarco-dev-queries").splits == ()


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
    for name in ("scifact", "trec-dl-2019", "msmarco-dev-queries"):
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
    first, _, _ = search
    write_dataset(tmp_path / "cwd" / "toy")
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_dataset("toy") == Path("toy")  # not in the search path: the local folder
    write_dataset(first / "toy")
    assert resolve_dataset("toy") == first / "toy"


def test_invalid_names_are_rejected(search):
    with pytest.raises(DatasetError, match="invalid dataset name"):
        resolve_dataset("bad name!")
