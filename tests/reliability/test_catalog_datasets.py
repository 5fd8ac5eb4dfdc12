"""Catalog: the dataset search path and downloads (docs/reliability.md, "Dataset search path and
downloads"). Each case: one clear error line naming the path, or a listing that goes on; nothing
half-written. Downloads use a local server on 127.0.0.1 (tests/localserver.py)."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from tests.data.dlhelpers import beir_zip, digests, entry, write_catalog, zip_source
from tests.reliability.conftest import DOCS, QUERIES, jsonl, qrels_text
from tests.reliability.harness import assert_clean_failure, listing, run_cli_inprocess


@pytest.fixture
def search(tmp_path, monkeypatch):
    """An empty $SYNRANK_DATA folder and cache, no shared/datasets beside the repository; downloads
    allowed unless a test says otherwise."""
    from synrank import paths

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout" / "synrank")
    monkeypatch.setenv("SYNRANK_DATA", str(data))
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SYNRANK_OFFLINE", raising=False)
    return data


def _toy(root, packed: bool = False):
    (root / "qrels").mkdir(parents=True)
    files = {"corpus.jsonl": jsonl(DOCS), "queries.jsonl": jsonl(QUERIES), "qrels/test.tsv": qrels_text()}
    for name, text in files.items():
        if packed:
            (root / (name + ".gz")).write_bytes(gzip.compress(text.encode()))
        else:
            (root / name).write_text(text)
    return root


# 115 -------------------------------------------------------------------------------------------------
def test_self_referencing_dataset_link_is_named_as_a_loop(search, tmp_path, monkeypatch):
    """Was: "dataset folder does not exist" (issue 15)."""
    monkeypatch.chdir(tmp_path)
    os.symlink("loop", tmp_path / "loop")
    assert_clean_failure(run_cli_inprocess("validate", "./loop"), "loop", "symbolic link loop (loop -> loop)")
    res = run_cli_inprocess("evaluate", "--run", "r.trec", "--dataset", "loop")  # a bare name: the cwd's link
    assert_clean_failure(res, "symbolic link loop (loop -> loop)")
    os.symlink(search / "here", search / "here")  # in the search path: it would shadow later folders
    assert_clean_failure(run_cli_inprocess("validate", "here"), str(search / "here"), "symbolic link loop")


# 116 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["damaged-gzip", "broken-link", "link-loop"])
def test_one_unreadable_dataset_does_not_stop_the_listing(search, damage):
    """Was: the first unreadable folder aborted `synrank datasets` with an error (issue 15)."""
    _toy(search / "good")
    if damage == "damaged-gzip":
        bad = _toy(search / "bad", packed=True)
        raw = (bad / "corpus.jsonl.gz").read_bytes()
        (bad / "corpus.jsonl.gz").write_bytes(raw[: len(raw) // 2])
        reason = "damaged gzip file"
    elif damage == "broken-link":
        os.symlink(search / "gone", search / "bad")
        reason = "a broken symbolic link"
    else:
        os.symlink(search / "bad", search / "bad")
        reason = "a symbolic link loop"
    res = run_cli_inprocess("datasets")
    assert res.returncode == 0, res.stderr
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith(" ")}
    assert "unreadable:" in lines["bad"] and reason in lines["bad"]
    assert "3" in lines["good"] and "unreadable" not in lines["good"]
    assert "scifact" in lines  # the listing went on to the later folders (the shipped datasets)
    res = run_cli_inprocess("datasets", "--json")
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert reason in rows["bad"]["unreadable"] and rows["good"]["docs"] == 3


# 117 -------------------------------------------------------------------------------------------------
def test_damaged_gzip_layout_file_is_located(tmp_path):
    bad = _toy(tmp_path / "toy", packed=True)
    raw = (bad / "queries.jsonl.gz").read_bytes()
    (bad / "queries.jsonl.gz").write_bytes(raw[:-12])
    assert_clean_failure(run_cli_inprocess("validate", bad), "queries.jsonl.gz:", "damaged gzip file", code=1)


# 118 -------------------------------------------------------------------------------------------------
def test_missing_dataset_names_every_folder_and_the_command(search, monkeypatch, tmp_path):
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    line = assert_clean_failure(run_cli_inprocess("validate", "trec-dl-2020"),
                                str(search / "trec-dl-2020"), str(tmp_path / "cache" / "datasets" / "trec-dl-2020"),
                                "synrank download trec-dl-2020")
    assert "this command does not download" in line
    res = run_cli_inprocess("evaluate", "--run", tmp_path / "r.trec", "--dataset", "trec-dl-2020")
    assert_clean_failure(res, "not downloaded (SYNRANK_OFFLINE is set)",
                         "`synrank download trec-dl-2020` on a machine with internet")


# 119 -------------------------------------------------------------------------------------------------
def test_download_with_a_wrong_checksum_leaves_nothing(search, local_server, tmp_path, monkeypatch):
    data = beir_zip("toy")
    src = zip_source(local_server.add("toy.zip", data), data)
    src["files"][0]["md5"] = "0" * 32
    monkeypatch.setenv("SYNRANK_CATALOG", str(write_catalog(tmp_path / "c.yaml", {"toy": entry([src])})))
    root = tmp_path / "cache" / "datasets"
    line = assert_clean_failure(run_cli_inprocess("download", "toy", "--no-progress"),
                                "checksum mismatch", f"md5 {'0' * 32} expected, got {digests(data)['md5']}",
                                "the download was deleted")
    assert "toy" in line
    assert {p for p in listing(root) if not p.endswith(".lock")} <= {".downloads", ".downloads/toy"}
