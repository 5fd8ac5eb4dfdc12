"""MTEB-format result files (synrank.evaluation.mteb_format), read back with mteb's own loaders, and an
``encode()``-only plug-in model through ``synrank evaluate`` and ``python -m benchmarks.run``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from synrank.evaluation.mteb_format import MTEB_TASKS, metric_name
from tests.reliability.fake_encoder import EncodeOnly64
from tests.reliability.harness import REPO, _env

PLUGIN = "tests.reliability.fake_encoder:EncodeOnly64"
WORDS = ["cell", "gene", "protein", "virus", "heart", "brain", "drug", "trial", "dose", "risk", "blood", "bone"]


@pytest.fixture
def scifact_like(tmp_path) -> Path:
    """A small BEIR folder named ``scifact``: synrank applies SciFact's metadata, MTEB's task is SciFact."""
    root = tmp_path / "scifact"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": WORDS[i % 12], "text": f"{WORDS[(i * 5) % 12]} {WORDS[(i * 7) % 12]} study"}
            for i in range(40)]
    queries = [{"_id": f"q{i}", "text": f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}"} for i in range(12)]
    rows = [(f"q{i}", f"d{(i * 3 + k) % 40}", 1) for i in range(12) for k in range(2)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n"
                                                                                      for q, d, g in rows))
    return root


@pytest.mark.parametrize(("measure", "top_k", "expected"), [
    ("nDCG@10", 1000, "ndcg_at_10"), ("Recall@100", 1000, "recall_at_100"), ("P@10", 1000, "precision_at_10"),
    ("MRR@10", 1000, "mrr_at_10"), ("MAP@100", 1000, "map_at_100"), ("MAP", 1000, "map_at_1000"),
    ("MAP", 2000, None), ("RPrec", 1000, None), ("nDCG", 1000, None)])
def test_metric_names(measure, top_k, expected):
    assert metric_name(measure, top_k) == expected


def test_task_table_matches_installed_mteb():
    """Task names, splits and the identical-ids rule are what the installed mteb says."""
    mteb = pytest.importorskip("mteb")
    for name, task in MTEB_TASKS.items():
        meta = mteb.get_task(task.name)
        assert meta.metadata.name == task.name, name
        assert task.split in meta.metadata.eval_splits, name
        assert list(task.languages) == meta.metadata.eval_langs, name
        assert bool(getattr(meta, "ignore_identical_ids", False)) == task.ignore_identical_ids, name


def test_mteb_reads_the_written_file_back(scifact_like, tmp_path):
    from mteb.cache import ResultCache
    from mteb.models.model_meta import ModelMeta
    from mteb.results import TaskResult

    from synrank.evaluation.pipeline import evaluate_model

    out = tmp_path / "out"
    cell = evaluate_model(EncodeOnly64(), str(scifact_like), output_dir=out, cache=False, show_progress=False,
                          name="org/enc-only")
    entry = cell.metrics["mteb"]
    assert entry["task"] == "SciFact", entry
    path = out / entry["file"]
    assert path == out / "mteb" / "results" / "org__enc-only" / "test-EncodeOnly64" / "SciFact.json"

    result = TaskResult.from_disk(path)
    assert result.task_name == "SciFact" and result.eval_splits == ["test"]
    scores = result.scores["test"][0]
    assert scores["main_score"] == pytest.approx(cell.aggregate["nDCG@10"], abs=0)
    assert result.get_score() == pytest.approx(cell.aggregate["nDCG@10"], abs=0)
    for measure, key in [("nDCG@1", "ndcg_at_1"), ("Recall@100", "recall_at_100"), ("P@10", "precision_at_10"),
                         ("MRR@10", "mrr_at_10"), ("MAP", "map_at_1000")]:
        assert scores[key] == cell.aggregate[measure], measure
    assert result.dataset_revision.startswith("synrank-sha256:")

    meta = json.loads((path.parent / "model_meta.json").read_text())
    validated = ModelMeta.model_validate(meta)
    assert validated.name == "org/enc-only" and validated.similarity_fn_name == "cosine"

    loaded = ResultCache(out / "mteb").load_results(tasks=["SciFact"], include_remote=False)
    [model_result] = list(loaded.model_results)
    assert model_result.model_name == "org/enc-only"
    [task_result] = model_result.task_results
    assert task_result.get_score() == pytest.approx(cell.aggregate["nDCG@10"], abs=0)


def test_no_file_when_the_evaluation_is_not_mteb_s_task(scifact_like, tmp_path):
    from synrank.data import load_dataset
    from synrank.evaluation.pipeline import evaluate_model

    data = load_dataset(str(scifact_like))
    full = evaluate_model(EncodeOnly64(), data, output_dir=tmp_path / "sub", cache=False, show_progress=False)
    assert (tmp_path / "sub" / full.metrics["mteb"]["file"]).is_file()
    half = dataclasses.replace(data, qrels=dict(list(data.qrels.items())[:6]))
    cell = evaluate_model(EncodeOnly64(), half, output_dir=tmp_path / "sub", cache=False, show_progress=False)
    assert "6 of the split's 12 judged queries" in cell.metrics["mteb"]["skipped"]
    assert not (tmp_path / "sub" / "mteb").exists()  # the earlier full evaluation's file is gone with it
    # files synrank did not write there (an MTEB run's, a user's) are never removed
    theirs = tmp_path / "sub" / "mteb" / "results" / "m" / "r" / "SciFact.json"
    theirs.parent.mkdir(parents=True)
    theirs.write_text(json.dumps({"dataset_revision": "d56462d0e63a25450459c4f213e49ffdb866f7f9"}))
    (tmp_path / "sub" / "mteb" / "notes.txt").write_text("mine")
    evaluate_model(EncodeOnly64(), data, output_dir=tmp_path / "sub", cache=False, show_progress=False)
    assert theirs.exists() and (tmp_path / "sub" / "mteb" / "notes.txt").exists()
    assert len(list((tmp_path / "sub" / "mteb" / "results").glob("*/*/SciFact.json"))) == 2
    cell = evaluate_model(EncodeOnly64(), data, output_dir=tmp_path / "few", cache=False, show_progress=False,
                          measures=("MAP", "P@10"))
    assert "nDCG@10" in cell.metrics["mteb"]["skipped"]
    other = scifact_like.parent / "toy"
    scifact_like.rename(other)
    cell = evaluate_model(EncodeOnly64(), str(other), output_dir=tmp_path / "toy", cache=False, show_progress=False)
    assert cell.metrics["mteb"] == {"skipped": "MTEB has no task built from 'toy'"}


def test_encode_only_model_through_synrank_evaluate(scifact_like, tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "synrank.cli", "evaluate", "--model", PLUGIN, "--dataset",
                           str(scifact_like), "--output", str(out), "--measures", "nDCG@10,Recall@100", "-q"],
                          cwd=REPO, env=_env(None), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{PLUGIN} on {scifact_like}: 12 judged queries; artifacts in {out}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mteb"]["task"] == "SciFact"
    assert (out / metrics["mteb"]["file"]).is_file()


def test_encode_only_model_through_benchmarks_run(scifact_like, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: t\nbaseline: bm25\nvariants:\n  - {{name: bm25, bm25: {{k1: 0.9, b: 0.4}}}}\n"
                     f"datasets:\n  - {{name: '{scifact_like}', mode: full, top_k: 100}}\n")
    results = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--suite", str(suite), "--output", str(results),
                           "--model", PLUGIN, "--name", "enc-only"],
                          cwd=REPO, env=_env(None), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "enc-only × scifact: computed" in proc.stdout
    cell = results / "cells" / "enc-only" / "scifact"
    metrics = json.loads((cell / "metrics.json").read_text())
    assert metrics["mteb"]["task"] == "SciFact"
    from mteb.results import TaskResult

    read = TaskResult.from_disk(cell / metrics["mteb"]["file"])
    assert read.get_score() == pytest.approx(metrics["aggregate"]["nDCG@10"], abs=0)
