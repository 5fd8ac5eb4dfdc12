"""Downloads against a local HTTP server on 127.0.0.1 (never the internet): verification, resume after
a dropped or killed transfer, mirrors, offline switches, locking between processes, conversions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synrank.cli import main
from synrank.data import download as dl
from synrank.data import load_dataset, resolve_dataset
from synrank.data.catalog import load_catalog
from synrank.data.validate import validate_folder
from synrank.errors import DatasetError
from tests.data.dlhelpers import (
    HEADER,
    beir_zip,
    digests,
    entry,
    gz,
    toy_files,
    write_catalog,
    zip_source,
)
from tests.fake_ir_datasets import BeirTitleDoc, FakeDataset, FakeIrDatasets, GenericQuery, TrecQrel

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Cache and catalog in tmp_path, downloads allowed, fast retries; returns (catalog writer, root)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SYNRANK_CACHE", str(cache))
    monkeypatch.setenv("SYNRANK_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("SYNRANK_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(dl, "RETRY_PAUSE", 0.01)

    def catalog(datasets: dict[str, dict]) -> Path:
        path = write_catalog(tmp_path / "catalog.yaml", datasets)
        monkeypatch.setenv("SYNRANK_CATALOG", str(path))
        return path

    return catalog, cache / "datasets"


def _leftovers(root: Path) -> list[str]:
    """Anything in the datasets folder besides finished datasets and lock files."""
    out = [p.name for p in root.iterdir() if not p.name.endswith(".lock") and p.name != dl.DOWNLOADS_DIR
           and not (p / "DOWNLOAD.json").is_file()]
    downloads = root / dl.DOWNLOADS_DIR
    if downloads.exists():
        out += [str(p.relative_to(root)) for p in downloads.rglob("*") if p.is_file()]
    return sorted(out)


def test_zip_download_is_verified_unpacked_and_recorded(env, local_server):
    catalog, root = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data), data)])})
    folder = dl.download_dataset("toy", progress=False)
    assert folder == root / "toy"
    assert load_dataset("toy").qrels == {"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}}
    record = json.loads((folder / "DOWNLOAD.json").read_text())
    assert record["files"][0]["sha256"] == digests(data)["sha256"]
    assert record["files"][0]["expected"] == {"md5": digests(data)["md5"], "sha256": digests(data)["sha256"]}
    assert _leftovers(root) == []
    # present now: no second request
    assert dl.download_dataset("toy", progress=False) == folder
    assert len(local_server.hits_for("toy.zip")) == 1


def test_checksum_mismatch_is_refused_and_nothing_is_kept(env, local_server):
    catalog, root = env
    data = beir_zip("toy")
    bad = digests(data)["sha256"].replace(digests(data)["sha256"][0], "0" if digests(data)["sha256"][0] != "0"
                                          else "1", 1)
    src = zip_source(local_server.add("toy.zip", data), data)
    src["files"][0]["sha256"] = bad
    del src["files"][0]["md5"]
    catalog({"toy": entry([src])})
    with pytest.raises(DatasetError) as err:
        dl.download_dataset("toy", progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and f"sha256 {bad} expected, got {digests(data)['sha256']}" in msg
    assert "the download was deleted" in msg
    assert not (root / "toy").exists() and _leftovers(root) == []


def test_corrupt_copy_falls_back_to_the_mirror(env, local_server):
    catalog, root = env
    data = beir_zip("toy")
    primary = local_server.add("a/toy.zip", data, faults=["corrupt"])
    mirror = local_server.add("b/toy.zip", data)
    catalog({"toy": entry([zip_source(primary, data, mirrors=[mirror])])})
    folder = dl.download_dataset("toy", progress=False)
    assert json.loads((folder / "DOWNLOAD.json").read_text())["files"][0]["url"] == mirror


def test_missing_file_on_the_server_falls_back_to_the_next_source(env, local_server):
    catalog, _ = env
    data = beir_zip("toy")
    gone = zip_source(local_server.url("gone.zip"), data)
    catalog({"toy": entry([gone, zip_source(local_server.add("toy.zip", data), data)])})
    folder = dl.download_dataset("toy", progress=False)
    assert json.loads((folder / "DOWNLOAD.json").read_text())["source"] == 2


@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_dropped_transfer_resumes_with_a_range_request(env, local_server, fault):
    """truncate: the server closes the connection early; reset: it aborts mid-stream (a crash)."""
    catalog, root = env
    data = beir_zip("toy", toy_files(40, pad=5000))  # ~200 kB
    url = local_server.add("toy.zip", data, faults=[fault], cut=65536)
    catalog({"toy": entry([zip_source(url, data)])})
    folder = dl.download_dataset("toy", progress=False)
    hits = local_server.hits_for("toy.zip")
    assert [h.status for h in hits] == [200, 206]
    assert hits[0].range is None and hits[1].range is not None
    resumed = int(hits[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed <= 65536
    assert json.loads((folder / "DOWNLOAD.json").read_text())["files"][0]["resumed_from_byte"] == resumed
    assert load_dataset("toy").corpus["d40"].text.startswith("text 40")
    assert _leftovers(root) == []


def test_http_500_is_retried(env, local_server):
    catalog, _ = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data, faults=["500"]), data)])})
    dl.download_dataset("toy", progress=False)
    assert [h.status for h in local_server.hits_for("toy.zip")] == [500, 200]


def test_a_server_that_ignores_range_sends_everything_again(env, local_server):
    catalog, _ = env
    local_server.ranges = False
    data = beir_zip("toy", toy_files(20, pad=5000))
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data, faults=["truncate"], cut=30000), data)])})
    dl.download_dataset("toy", progress=False)
    hits = local_server.hits_for("toy.zip")
    assert [h.status for h in hits] == [200, 200] and hits[1].range is not None and hits[1].sent == len(data)


def test_giving_up_keeps_the_partial_file_and_the_next_run_resumes(env, local_server):
    catalog, root = env
    data = beir_zip("toy", toy_files(40, pad=5000))
    url = local_server.add("toy.zip", data, faults=["truncate"] * dl.RETRIES, cut=40000)
    catalog({"toy": entry([zip_source(url, data)])})
    with pytest.raises(DatasetError, match="run the command again to resume"):
        dl.download_dataset("toy", progress=False)
    part = root / dl.DOWNLOADS_DIR / "toy" / "toy.zip.part"
    assert part.stat().st_size == 40000 * dl.RETRIES  # each attempt appended the next 40,000 bytes
    assert not (root / "toy").exists()
    dl.download_dataset("toy", progress=False)
    assert local_server.hits_for("toy.zip")[-1].range == f"bytes={40000 * dl.RETRIES}-"
    assert _leftovers(root) == []


def test_unreachable_server_is_reported_as_offline(env):
    catalog, _ = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source("http://127.0.0.1:9/toy.zip", data)])})
    with pytest.raises(dl.OfflineError, match="cannot reach any server"):
        dl.download_dataset("toy", progress=False)
    with pytest.raises(DatasetError) as err:
        resolve_dataset("toy")
    assert "cannot be downloaded from here" in str(err.value) and "`synrank download toy`" in str(err.value)


def test_offline_switches_forbid_any_request(env, local_server, monkeypatch, capsys):
    catalog, _ = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data), data)])})
    with pytest.raises(dl.OfflineError, match="--offline was given"):
        dl.download_dataset("toy", offline=True, progress=False)
    assert main(["download", "toy", "--offline"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "downloading is disabled (--offline was given)" in err[0]
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    with pytest.raises(DatasetError) as exc:
        resolve_dataset("toy")
    msg = str(exc.value)
    assert "not downloaded (SYNRANK_OFFLINE is set)" in msg and "`synrank download toy` on a machine with internet" in msg
    assert local_server.hits == []


def test_hf_hub_offline_skips_hugging_face_sources(env, local_server, monkeypatch):
    catalog, root = env
    files = toy_files()
    hf = {"kind": "files", "host": "huggingface", "files": [
        {"url": local_server.add("hf/corpus.jsonl.gz", gz(files["corpus.jsonl"])), "path": "corpus.jsonl.gz"},
        {"url": local_server.add("hf/queries.jsonl.gz", gz(files["queries.jsonl"])), "path": "queries.jsonl.gz"},
        {"url": local_server.add("hf/test.tsv", files["qrels/test.tsv"].encode()), "path": "qrels/test.tsv"}]}
    catalog({"toy": entry([zip_source(local_server.url("gone.zip"), b"x"), hf])})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError, match=r"skipped \(HF_HUB_OFFLINE is set\)"):
        dl.download_dataset("toy", progress=False)
    assert not any(h.path.startswith("/hf/") for h in local_server.hits)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    folder = dl.download_dataset("toy", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["DOWNLOAD.json", "corpus.jsonl.gz", "qrels",
                                                         "queries.jsonl.gz"]
    assert load_dataset("toy").corpus["d2"].title == "T2"


def test_trec_files_are_converted_and_the_corpus_is_linked(env, local_server):
    """A TREC DL-like dataset: topics (gzip, CRLF, unjudged topics too) and TREC qrels, corpus linked from
    another catalog dataset, which is fetched first."""
    catalog, root = env
    base = beir_zip("base")
    topics = gz("q1\tquery one\r\nq2\tquery two\r\nq9\tunjudged topic\r\n")
    qrels = b"q1 0 d1 3\nq2 0 d3 1\nq2 0 d2 0\n"
    catalog({
        "base": entry([zip_source(local_server.add("base.zip", base), base, path="base.zip")]),
        "base-trec": entry([{"kind": "files", "corpus_from": "base", "judged_only": True, "files": [
            {"url": local_server.add("topics.tsv.gz", topics), "path": "queries.jsonl", "format": "tsv-queries",
             **digests(topics)},
            {"url": local_server.add("qrels.txt", qrels), "path": "qrels/test.tsv", "format": "trec-qrels",
             **digests(qrels)}]}], relevance_threshold=2),
    })
    folder = dl.download_dataset("base-trec", progress=False)
    assert (root / "base").is_dir()  # the dependency came first
    assert (folder / "corpus.jsonl").is_symlink()
    assert (folder / "corpus.jsonl").resolve() == (root / "base" / "corpus.jsonl").resolve()
    ds = load_dataset(folder)
    assert ds.queries == {"q1": "query one", "q2": "query two"}  # q9 has no judgements: left out
    assert ds.qrels == {"q1": {"d1": 3}, "q2": {"d3": 1, "d2": 0}}
    assert (folder / "qrels" / "test.tsv").read_text().startswith(HEADER)
    assert validate_folder(folder).documents == 3


def test_forums_archive_gives_one_folder_per_forum(env, local_server):
    catalog, root = env
    data = beir_zip("stack", forums=["alpha", "beta"])
    catalog({"stack": entry([zip_source(local_server.add("stack.zip", data), data, path="stack.zip")],
                            forums=["alpha", "beta"])})
    folder = dl.download_dataset("stack", progress=False)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["alpha", "beta"]
    assert resolve_dataset("stack/beta") == folder / "beta"
    assert dl.locate(load_catalog().get("stack")) == folder


def test_rankgpt_pool_is_built_from_its_inputs(env, local_server):
    catalog, _ = env
    run = json.dumps([{"query": "what is one", "hits": [
        {"qid": 7, "docid": "p1", "rank": 1, "score": 12.5, "content": "passage one"},
        {"qid": 7, "docid": "p2", "rank": 2, "score": 11.0, "content": "passage two"}]}]).encode()
    topics, qrels = b"7\twhat is one\r\n8\tunjudged\r\n", b"7 Q0 p1 3\n7 Q0 p9 1\n"
    catalog({"pool": entry([{"kind": "files", "build": "rankgpt-pool", "files": [
        {"url": local_server.add("run.json", run), "path": "run.json", "format": "input"},
        {"url": local_server.add("topics.txt", topics), "path": "topics.tsv", "format": "input"},
        {"url": local_server.add("qrels.txt", qrels), "path": "qrels.txt", "format": "input"}]}],
        relevance_threshold=2)})
    folder = dl.download_dataset("pool", progress=False)
    assert (folder / "bm25_top100.trec").read_text() == "7 Q0 p1 1 12.5 bm25\n7 Q0 p2 2 11.0 bm25\n"
    ds = load_folder_quiet(folder)
    assert list(ds.corpus) == ["p1", "p2"] and ds.queries == {"7": "what is one"}
    assert ds.qrels == {"7": {"p1": 3, "p9": 1}}  # p9 is outside the pool: kept for the ideal ranking


def load_folder_quiet(folder: Path):
    from synrank.data.beir import read_corpus, read_qrels, read_queries

    corpus, _ = read_corpus(folder / "corpus.jsonl")
    queries, _ = read_queries(folder / "queries.jsonl")
    qrels, _ = read_qrels(folder / "qrels" / "test.tsv", queries, corpus, allow_outside_corpus=True)
    return type("DS", (), {"corpus": corpus, "queries": queries, "qrels": qrels})


def test_ir_datasets_source_through_a_stand_in_module(env):
    catalog, _ = env
    fake = FakeIrDatasets({
        "toy": FakeDataset(docs=[BeirTitleDoc("d1", "text one", "One"), BeirTitleDoc("d2", "text two", "")],
                           queries=[GenericQuery("q1", "first"), GenericQuery("q2", "second")]),
        "toy/test": FakeDataset(queries=[GenericQuery("q1", "first")], qrels=[TrecQrel("q1", "d2", 1, "0")]),
    })
    catalog({"toy": entry([{"kind": "ir_datasets", "ir_datasets": {"docs": "toy", "test": "toy/test"}}])})
    folder = dl.download_dataset("toy", progress=False, ir_module=fake)
    ds = load_dataset(folder)
    assert ds.corpus["d1"].title == "One" and ds.queries == {"q1": "first", "q2": "second"}
    assert ds.qrels == {"q1": {"d2": 1}}
    assert json.loads((folder / "DOWNLOAD.json").read_text())["ir_datasets"] == {"docs": "toy", "test": "toy/test"}


def test_an_incomplete_folder_in_the_way_is_not_overwritten(env, local_server):
    catalog, root = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data), data)])})
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="exists but is not a complete copy"):
        dl.download_dataset("toy", progress=False)
    assert (root / "toy" / "notes.txt").read_text() == "mine"


def test_cli_download_and_catalog_listing(env, local_server, capsys):
    catalog, root = env
    data = beir_zip("toy")
    catalog({"toy": entry([zip_source(local_server.add("toy.zip", data), data)]),
             "private": entry([], manual="not downloadable: ask the owner")})
    assert main(["datasets", "--all"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("toy "))
    assert "missing" in line and f"{len(data)} B" in line and "synrank download toy" in line
    assert "not downloadable" in next(ln for ln in out.splitlines() if ln.startswith("private "))
    assert main(["download", "toy", "--no-progress"]) == 0
    assert f"toy: {root / 'toy'}" in capsys.readouterr().out
    assert main(["download", "toy"]) == 0
    assert "present at" in capsys.readouterr().out
    assert main(["datasets", "--all", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["toy"]["present"] and rows["toy"]["path"] == str(root / "toy")
    assert rows["private"]["fetchable"] is False and rows["private"]["manual"].startswith("not downloadable")
    assert main(["download", "nope"]) == 2
    assert "not in the dataset catalog: nope" in capsys.readouterr().err


# ----------------------------------------------------------------------------- separate processes

def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synrank.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _child_env(tmp_path: Path, catalog_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SYNRANK_OFFLINE", "HF_HUB_OFFLINE")}
    env.update(SYNRANK_CACHE=str(tmp_path / "cache"), SYNRANK_CATALOG=str(catalog_path),
               SYNRANK_DATA=str(tmp_path / "nothing-here"), PYTHONPATH=str(REPO))
    return env


def test_resume_after_kill_9(env, local_server, tmp_path):
    """A download killed with SIGKILL mid-transfer continues where it stopped on the next run."""
    catalog, root = env
    data = beir_zip("toy", toy_files(200, pad=5000))  # ~1 MB
    url = local_server.add("toy.zip", data, throttle=400_000)
    path = catalog({"toy": entry([zip_source(url, data)])})
    part = root / dl.DOWNLOADS_DIR / "toy" / "toy.zip.part"
    proc = _cli(["download", "toy", "--no-progress"], _child_env(tmp_path, path))
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 200_000):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = part.stat().st_size
    assert 0 < kept < len(data) and not (root / "toy").exists()
    local_server.files["toy.zip"].throttle = None
    proc = _cli(["download", "toy", "--no-progress"], _child_env(tmp_path, path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    hits = local_server.hits_for("toy.zip")
    assert hits[-1].range == f"bytes={kept}-" and hits[-1].sent == len(data) - kept
    assert validate_folder(root / "toy").documents == 200
    assert _leftovers(root) == []


def test_two_processes_downloading_the_same_dataset(env, local_server, tmp_path):
    """The second process waits on the lock and finds the dataset in place: one transfer, no corruption."""
    catalog, root = env
    data = beir_zip("toy", toy_files(100, pad=5000))
    url = local_server.add("toy.zip", data, throttle=2_000_000)
    path = catalog({"toy": entry([zip_source(url, data)])})
    procs = [_cli(["download", "toy", "--no-progress"], _child_env(tmp_path, path)) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    full = [h for h in local_server.hits_for("toy.zip") if h.status == 200]
    assert len(full) == 1 and full[0].sent == len(data)
    assert validate_folder(root / "toy").documents == 100
    assert _leftovers(root) == []
