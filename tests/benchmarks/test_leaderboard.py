"""Leaderboard from finished cells written in tmp: long CSV, Holm across datasets per model (checked
against statsmodels), wide Markdown with bold best values and significance marks; what each cell's
records say about its encoding (backend, precision, evaluation length) and relevance threshold, old
records and missing fields included."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from benchmarks.leaderboard import Encoding, load_cells, relevance_threshold
from benchmarks.report import write_leaderboard
from benchmarks.suites import SuiteConfig
from synrank.config import from_dict
from synrank.data.folders import KNOWN_DATASETS
from synrank.records import METRICS_FILE, EvaluationRecord, ForumScores
from synrank.retrieval.backends import BACKENDS, Backend
from tests.benchmarks.report_helpers import ABSENT, write_marker, write_metrics, write_scores_cell


def _scores(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [float(x["nDCG@10"]) for x in csv.DictReader(fh, delimiter="\t")]


@pytest.fixture()
def board(tmp_path):
    rng = np.random.default_rng(0)
    suite = from_dict(SuiteConfig, {
        "name": "t", "baseline": "base", "measures": ["nDCG@10"],
        "variants": [{"name": "base", "bm25": {}}, {"name": "better", "bm25": {}}, {"name": "same", "bm25": {}}],
        "datasets": [{"name": "d1"}, {"name": "d2"}, {"name": "d3"}]})
    results = tmp_path / "results"
    for i, d in enumerate(("d1", "d2", "d3")):
        base = rng.uniform(0, 1, 40 + 10 * i)
        write_scores_cell(results, "base", d, base)
        write_scores_cell(results, "better", d, np.clip(base + rng.normal(0.15 - 0.07 * i, 0.1, base.size), 0, 1))
        write_scores_cell(results, "same", d, base)
    out = write_leaderboard(suite, results, ["base", "better", "same"], {}, plots=False)
    with open(results / "leaderboard.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return results, rows, out


def test_holm_across_datasets_per_model(board):
    results, rows, _ = board
    better = sorted((r for r in rows if r["model"] == "better"), key=lambda r: r["dataset"])
    assert [r["dataset"] for r in better] == ["d1", "d2", "d3"]
    raw_t = []
    for r in better:
        a = _scores(results / "cells/better" / r["dataset"] / "per_query.tsv")
        b = _scores(results / "cells/base" / r["dataset"] / "per_query.tsv")
        raw_t.append(stats.ttest_rel(a, b).pvalue)
    assert [float(r["p_ttest"]) for r in better] == pytest.approx(raw_t, rel=1e-10)
    assert [float(r["p_ttest_holm"]) for r in better] == pytest.approx(
        multipletests(raw_t, method="holm")[1].tolist(), rel=1e-10)
    rand = [float(r["p_randomization"]) for r in better]
    assert [float(r["p_holm"]) for r in better] == pytest.approx(multipletests(rand, method="holm")[1].tolist())
    same = [r for r in rows if r["model"] == "same"]
    assert all(float(r["p_value"]) == 1.0 and float(r["p_holm"]) == 1.0 for r in same)
    base = [r for r in rows if r["model"] == "base"]
    assert all(r["p_value"] == "" and r["baseline"] == "" for r in base)


def test_markdown_marks_best_and_significance(board):
    results, rows, out = board
    md = (results / "leaderboard.md").read_text()
    better_line = next(ln for ln in md.splitlines() if ln.startswith("| better |"))
    d1 = next(r for r in rows if r["model"] == "better" and r["dataset"] == "d1")
    assert float(d1["p_holm"]) < 0.05
    assert f"**{float(d1['value']):.4f}**†" in better_line
    mean = np.mean([float(r["value"]) for r in rows if r["model"] == "better"])
    assert f"**{mean:.4f}**" in better_line
    same_line = next(ln for ln in md.splitlines() if ln.startswith("| same |"))
    assert "†" not in same_line and "‡" not in same_line
    assert out["missing"] == []


# ---------------------------------------------------------------------------------------------------
# What each cell's records say about how it was evaluated: encoding and relevance threshold
# ---------------------------------------------------------------------------------------------------

_AGG = {"nDCG@10": 0.5}


def _read_back(folder: Path) -> EvaluationRecord:
    return EvaluationRecord.from_disk(folder / METRICS_FILE)


@pytest.mark.parametrize("name", BACKENDS)
def test_encoding_halves_are_the_backends_engine_and_precision(tmp_path, name):
    write_metrics(tmp_path, aggregate=_AGG, n_queries=3, encoding=name, max_length=256)
    enc = Encoding.of(_read_back(tmp_path))
    backend = Backend.parse(name)
    assert (enc.backend, enc.precision, enc.max_length) == (backend.engine, backend.precision, "256")
    assert enc.label == f"{name} · 256"


_ENCODINGS = st.one_of(st.just(ABSENT), st.none(), st.sampled_from(BACKENDS))
_LENGTHS = st.one_of(st.just(ABSENT), st.none(), st.just(math.inf), st.integers(1, 100_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["encoder", "bm25", "run"]), encoding=_ENCODINGS, max_length=_LENGTHS)
def test_encoding_of_any_record(tmp_path_factory, kind, encoding, max_length):
    """Whatever a metrics.json holds or lacks, it loads and says what it knows: "" where no encoder ran,
    "?" for what it does not record, "plug-in" for an encoder without a backend, ∞ for no length limit."""
    folder = tmp_path_factory.mktemp("rec")
    write_metrics(folder, aggregate=_AGG, n_queries=3, kind=kind, encoding=encoding, max_length=max_length)
    enc = Encoding.of(_read_back(folder))
    if kind != "encoder":
        assert enc == Encoding() and enc.label == "—"
        return
    if encoding is ABSENT:
        halves = ("?", "?")
    elif encoding is None:
        halves = ("plug-in", "?")
    else:
        halves = tuple(str(encoding).split("-"))
    length = {ABSENT: "?", None: "?", math.inf: "inf"}.get(max_length, str(max_length))  # type: ignore[call-overload]
    assert (enc.backend, enc.precision, enc.max_length) == (*halves, length)
    shown = "?" if halves[0] == "?" else halves[0] if halves[1] == "?" else "-".join(halves)
    assert enc.label == f"{shown} · {'∞' if length == 'inf' else length}"


def test_a_record_of_the_old_layout_loads_with_unknown_backend(tmp_path):
    """A metrics.json of schema synrank.cell/v1 written before the backend was recorded (results/cpu's
    cells): the backend and precision read "?", the evaluation length and threshold are its own."""
    folder = tmp_path / "results" / "cells" / "m" / "trec-dl-2019"
    folder.mkdir(parents=True)
    old = {"schema": "synrank.cell/v1", "name": "m", "aggregate": _AGG, "n_queries": 2,
           "config": {"model": "x", "max_length": 128, "similarity": "cosine", "relevance_threshold": 2},
           "config_hash": "85088bb0b8feb243",
           "evaluation": {"n_queries": 2, "measures": ["nDCG@10"], "relevance_threshold": 2,
                          "ignore_identical_ids": False, "n_queries_not_retrieved": 0,
                          "n_queries_without_relevant": 0, "n_unjudged_run_queries": 0, "n_identical_ids_dropped": 0},
           "notes": [], "dataset": {"name": "trec-dl-2019", "split": "test", "sha256": "0" * 64},
           "timings": {}, "versions": {}, "hardware": {}, "created_utc": "2025-01-01T00:00:00Z"}
    (folder / METRICS_FILE).write_text(json.dumps(old))
    (folder / "per_query.tsv").write_text("query_id\tnDCG@10\na\t0.25\nb\t0.75\n")
    write_marker(folder, model="m", dataset="trec-dl-2019", aggregate=_AGG, n_queries=2, config_hash="h",
                 variant="m", kind="train")
    cell = load_cells(tmp_path / "results", ["m"], ["trec-dl-2019"])[("m", "trec-dl-2019")]
    assert cell.encoding == Encoding("?", "?", "128") and cell.encoding.label == "? · 128"
    assert cell.relevance_threshold == "2"


def _beir_folder(path: Path) -> Path:
    (path / "qrels").mkdir(parents=True)
    (path / "corpus.jsonl").write_text('{"_id": "d", "text": "x"}\n')
    (path / "queries.jsonl").write_text('{"_id": "q", "text": "y"}\n')
    (path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    return path


def test_relevance_threshold_from_the_record_else_from_the_dataset_registry(tmp_path):
    """The record's own threshold wins (3 here, which no registry entry says); without a record, the
    one the evaluator takes from the dataset's DatasetInfo (TREC DL: 2); unknown: None, never a guess."""
    write_metrics(tmp_path / "rec", aggregate=_AGG, n_queries=3, threshold=3, dataset="trec-dl-2019")
    assert relevance_threshold(_read_back(tmp_path / "rec")) == 3
    dl = _beir_folder(tmp_path / "data" / "trec-dl-2019")
    other = _beir_folder(tmp_path / "data" / "somecorpus")
    assert relevance_threshold(None, str(dl)) == 2 == KNOWN_DATASETS["trec-dl-2019"]["relevance_threshold"]
    assert relevance_threshold(None, str(other)) == 1
    assert relevance_threshold(None, str(tmp_path / "absent")) is None
    assert relevance_threshold(None, None) is None
    # a record without an evaluation summary falls back on its dataset
    write_metrics(tmp_path / "bare", aggregate=_AGG, n_queries=3, threshold=None, dataset=str(dl))
    assert relevance_threshold(_read_back(tmp_path / "bare")) == 2


def test_a_cell_without_metrics_json_reads_its_threshold_from_its_dataset(tmp_path):
    dl = _beir_folder(tmp_path / "data" / "trec-dl-2019")
    results = tmp_path / "results"
    for row, name in (("known", str(dl)), ("lost", "no-such-dataset")):
        folder = results / "cells" / row / "dl"
        folder.mkdir(parents=True)
        (folder / "per_query.tsv").write_text("query_id\tnDCG@10\nq\t0.5\n")
        write_marker(folder, model=row, dataset="dl", aggregate=_AGG, n_queries=1, config_hash="h", variant=row,
                     kind="model", config={"dataset": {"name": name}})
    cells = load_cells(results, ["known", "lost"], ["dl"])
    assert cells[("known", "dl")].relevance_threshold == "2" and cells[("lost", "dl")].relevance_threshold == "?"
    assert cells[("known", "dl")].encoding == Encoding.unknown()  # a model cell with no record: "?"


def test_forum_cell_reads_each_forums_record(tmp_path):
    """A dataset evaluated forum by forum: its metrics.json records no encoding; each forum's does.
    Forums that differ show every value; a forum without its record adds "?"."""
    results = tmp_path / "results"
    cell = results / "cells" / "m" / "stack"
    forums = {"a": ForumScores(aggregate=_AGG, n_queries=1), "b": ForumScores(aggregate=_AGG, n_queries=1)}
    write_metrics(cell, aggregate=_AGG, n_queries=2, kind="forums", threshold=None, forums=forums)
    write_metrics(cell / "a", aggregate=_AGG, n_queries=1, encoding="openvino-bf16", max_length=512)
    write_metrics(cell / "b", aggregate=_AGG, n_queries=1, encoding="torch-fp32", max_length=512)
    (cell / "per_query.tsv").write_text("query_id\tnDCG@10\na/q\t0.5\nb/q\t0.5\n")
    write_marker(cell, model="m", dataset="stack", aggregate=_AGG, n_queries=2, config_hash="h", variant="m",
                 kind="model")
    got = load_cells(results, ["m"], ["stack"])[("m", "stack")]
    assert got.encoding == Encoding("openvino;torch", "bf16;fp32", "512") and got.relevance_threshold == "1"
    (cell / "b" / METRICS_FILE).unlink()
    got = load_cells(results, ["m"], ["stack"])[("m", "stack")]
    assert got.encoding == Encoding("openvino;?", "bf16;?", "512;?") and got.relevance_threshold == "1;?"
