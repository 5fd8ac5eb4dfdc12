"""Result records (synrank.records): a written record reads back equal; a damaged file, a file of another
kind or of a newer schema gives one line naming the file (and line or field); older schemas are read,
among them every result file committed under results/."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.errors import RecordError
from synrank.records import (
    DatasetRef,
    EvaluationRecord,
    EvaluationSummary,
    ForumScores,
    PerQueryScores,
    TrainingRecord,
)
from tests.conftest import committed_files

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_id = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\r\n"), min_size=1, max_size=10)
_measure = _id.filter(lambda m: m != "query_id")
_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_scores = st.dictionaries(_measure, _finite, min_size=1, max_size=4)
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | _finite | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_json_object = st.dictionaries(_text, _json, max_size=4)


@st.composite
def evaluation_records(draw) -> EvaluationRecord:
    kind = draw(st.sampled_from(["encoder", "bm25", "run", "forums"]))
    n = draw(st.integers(1, 10**6))
    aggregate = draw(_scores)
    summary = None if kind == "forums" else EvaluationSummary(
        n_queries=n, measures=list(aggregate), relevance_threshold=draw(st.integers(1, 3)),
        ignore_identical_ids=draw(st.booleans()), n_queries_not_retrieved=draw(st.integers(0, n)),
        n_queries_without_relevant=0, n_unjudged_run_queries=draw(st.integers(0, 50)), n_identical_ids_dropped=0)
    forums = None
    if kind == "forums":
        forums = draw(st.dictionaries(_id, st.builds(ForumScores, aggregate=_scores, n_queries=st.integers(1, 99)),
                                      min_size=1, max_size=3))
    return EvaluationRecord(
        kind=kind, name=draw(st.none() | _text), aggregate=aggregate, n_queries=n,
        mode=None if kind == "run" else draw(st.sampled_from(["full", "rerank"])), config=draw(_json_object),
        config_hash=draw(_text), evaluation=summary, notes=draw(st.lists(_text, max_size=2)),
        dataset=DatasetRef(name=draw(_text), split=draw(_text), sha256=draw(_text),
                           checksums=draw(st.none() | st.dictionaries(_text, _text, max_size=2)),
                           forums=sorted(forums) if forums else None),
        run={"sha256": draw(_text)} if kind == "run" else None, forums=forums,
        timings=draw(st.dictionaries(_text, _finite, max_size=3)), peak_rss_mb=draw(st.none() | _finite),
        versions=draw(st.dictionaries(_text, _text, max_size=2)), hardware=draw(_json_object),
        git_commit=draw(st.none() | _text), created_utc=draw(_text))


@settings(max_examples=60, deadline=None)
@given(record=evaluation_records())
def test_an_evaluation_record_reads_back_equal(record, tmp_path_factory):
    path = record.to_disk(tmp_path_factory.mktemp("rec") / "metrics.json")
    assert EvaluationRecord.from_disk(path) == record
    on_disk = json.loads(path.read_text("utf-8"))
    assert on_disk["schema"] == EvaluationRecord.SCHEMA and on_disk["aggregate"] == record.aggregate
    assert ("forums" in on_disk) == (record.kind == "forums")  # optional sections are left out while None


@settings(max_examples=60, deadline=None)
@given(measures=st.lists(_measure, min_size=1, max_size=4, unique=True), data=st.data())
def test_per_query_scores_read_back_equal_and_as_plain_tsv(measures, data, tmp_path_factory):
    rows = data.draw(st.dictionaries(_id, st.fixed_dictionaries({m: _finite for m in measures}), max_size=8))
    path = PerQueryScores(measures, rows).to_disk(tmp_path_factory.mktemp("pq") / "per_query.tsv")
    back = PerQueryScores.from_disk(path)
    assert back == PerQueryScores(tuple(measures), rows)
    # an independent reading: the header, then one line per query in id order, values exact
    lines = path.read_text("utf-8").split("\n")
    assert lines[0].split("\t") == ["query_id", *measures] and lines[-1] == ""
    assert [ln.split("\t")[0] for ln in lines[1:-1]] == sorted(rows)
    for line in lines[1:-1]:
        qid, *values = line.split("\t")
        assert [float(v) for v in values] == [rows[qid][m] for m in measures]
    assert back.column(measures[0]) == {q: rows[q][measures[0]] for q in sorted(rows)}


@pytest.mark.parametrize("bad", ["q\t1", "q\n1", ""])
def test_per_query_scores_refuse_an_id_the_file_cannot_hold(bad):
    with pytest.raises(ValueError, match="query id"):
        PerQueryScores(("nDCG@10",), {bad: {"nDCG@10": 0.5}})


@pytest.mark.parametrize(("text", "where", "what"), [
    ("qid\tnDCG@10\nq1\t0.5\n", ":1:", "header starting with the column 'query_id'"),
    ("query_id\tnDCG@10\nq1\t0.5\nq2\n", ":3:", "1 columns, the header has 2"),
    ("query_id\tnDCG@10\nq1\t0.5\nq2\thigh\n", ":3:", "nDCG@10: 'high' is not a number"),
    ("query_id\tnDCG@10\nq1\t0.5\nq1\t0.25\n", ":3:", "query 'q1' appears twice"),
    ("query_id\tnDCG@10\nq1\tnan\n", ":2:", "NaN"),
    ("query_id\tm\tm\n", "per_query.tsv:", "named twice"),
])
def test_a_damaged_per_query_file_is_one_located_line(tmp_path, text, where, what):
    path = tmp_path / "per_query.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError) as info:
        PerQueryScores.from_disk(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)) and where in message and what in message


def _record_dict() -> dict:
    return EvaluationRecord(
        kind="bm25", aggregate={"nDCG@10": 0.5}, n_queries=2, mode="full", config={"model": "bm25"},
        config_hash="abc", dataset=DatasetRef(name="toy", split="test", sha256="0" * 64),
        versions={}, hardware={}, created_utc="2026-01-01T00:00:00Z").to_dict()


@pytest.mark.parametrize(("damage", "where", "what"), [
    (lambda text: text[: len(text) // 2], r"metrics\.json:\d+: ", "not valid JSON"),
    (lambda text: text.replace('"n_queries": 2', '"n_queries": "two"'), r"metrics\.json: ",
     "field 'n_queries': expected an integer"),
    (lambda text: text.replace('"kind": "bm25"', '"kind": "splade"'), r"metrics\.json: ", "field 'kind'"),
    (lambda text: text.replace('"config_hash": "abc",', ""), r"metrics\.json: ", "missing required key 'config_hash'"),
    (lambda text: text.replace('"config_hash": "abc"', '"config_hash": "abc", "colour": 1'), r"metrics\.json: ",
     "unknown key(s) colour"),
    (lambda text: text.replace("synrank.metrics/v2", "synrank.metrics/v3"), r"metrics\.json: ",
     "schema synrank.metrics/v3 is newer than this synrank reads"),
    (lambda text: text.replace("synrank.metrics/v2", "synrank.benchmark-cell/v2"), r"metrics\.json: ",
     "is not a metrics.json schema (this synrank reads synrank.metrics/v2, "),
    (lambda text: "[1, 2]", r"metrics\.json: ", "expected a JSON object"),
])
def test_a_damaged_old_or_new_metrics_file_is_one_located_line(tmp_path, damage, where, what):
    path = tmp_path / "metrics.json"
    path.write_text(damage(json.dumps(_record_dict(), indent=2)), encoding="utf-8")
    with pytest.raises(RecordError) as info:
        EvaluationRecord.from_disk(path)
    message = str(info.value)
    assert "\n" not in message and what in message
    assert re.search(where, message), message


def test_a_missing_file_reads_as_none_or_one_line(tmp_path):
    assert EvaluationRecord.read(tmp_path / "metrics.json") is None
    with pytest.raises(RecordError, match="metrics.json does not exist"):
        EvaluationRecord.from_disk(tmp_path / "metrics.json")


# ---------------------------------------------------------------------------------------------------
# Older schemas
# ---------------------------------------------------------------------------------------------------

_ENV = {"versions": {"python": "3.11"}, "hardware": {"cpu_count": 2}, "created_utc": "2026-01-01T00:00:00Z"}
_SUMMARY = {"n_queries": 3, "measures": ["nDCG@10"], "relevance_threshold": 2, "ignore_identical_ids": False,
            "n_queries_not_retrieved": 1, "n_queries_without_relevant": 0, "n_unjudged_run_queries": 4,
            "n_identical_ids_dropped": 0}


def test_an_evaluate_run_file_of_schema_v1_is_read():
    """``synrank.metrics/v1`` flattened the evaluator's summary into the top level."""
    old = {"schema": "synrank.metrics/v1", "config": {"kind": "run"}, "config_hash": "h",
           "run": {"path": "run.trec", "sha256": "s", "n_queries": 7, "n_documents": 70},
           "dataset": {"name": "toy", "split": "test", "path": "<datasets>/toy", "sha256": "d", "checksums": {}},
           "aggregate": {"nDCG@10": 0.25}, **_SUMMARY, "notes": ["x"], "timings": {"evaluate": 0.1}, **_ENV}
    record = EvaluationRecord.from_dict(old)
    assert (record.kind, record.mode, record.name) == ("run", None, None)
    assert record.evaluation == EvaluationSummary(**_SUMMARY) and record.n_queries == 3
    assert record.run == old["run"] and record.git_commit is None


def test_benchmark_cells_written_without_a_schema_are_read():
    bm25 = {"name": "bm25", "dataset": {"name": "toy", "split": "test", "sha256": "d", "checksums": {}},
            "mode": "rerank", "aggregate": {"nDCG@10": 0.5}, "n_queries": 3,
            "config": {"model": {"kind": "bm25"}, "retrieval": {"kind": "first-stage-run", "file": "x"}, "top_k": 9},
            "config_hash": "h", "evaluation": {"aggregate": {"nDCG@10": 0.5}, **_SUMMARY}, "timings": {}, **_ENV}
    record = EvaluationRecord.from_dict(bm25)
    assert (record.kind, record.mode, record.evaluation) == ("run", "rerank", EvaluationSummary(**_SUMMARY))
    bm25["config"]["retrieval"]["kind"] = "bm25"
    assert EvaluationRecord.from_dict(bm25).kind == "bm25"
    forums = {"name": "bm25", "dataset": {"name": "stack", "split": "test", "sha256": "d", "forums": ["a", "b"]},
              "mode": "full", "aggregate": {"nDCG@10": 0.5}, "aggregation": "mean", "n_queries": 3,
              "forums": {"a": {"aggregate": {"nDCG@10": 0.4}, "n_queries": 1},
                         "b": {"aggregate": {"nDCG@10": 0.6}, "n_queries": 2}},
              "config": {"model": {"kind": "bm25"}, "top_k": 9}, "config_hash": "h", "timings": {}, **_ENV}
    record = EvaluationRecord.from_dict(forums)
    assert record.kind == "forums" and record.forums["b"] == ForumScores(aggregate={"nDCG@10": 0.6}, n_queries=2)
    assert record.dataset.forums == ["a", "b"] and record.evaluation is None


def test_every_committed_evaluation_reads_and_agrees_with_its_files():
    paths = committed_files("results/*/cells/*/metrics.json")
    kinds = set()
    for path in paths:
        raw = json.loads(path.read_text("utf-8"))
        record = EvaluationRecord.from_disk(path)
        kinds.add((raw.get("schema"), record.kind))
        assert record.aggregate == raw["aggregate"] and record.n_queries == raw["n_queries"]
        per_query = PerQueryScores.from_disk(path.with_name("per_query.tsv"))
        assert len(per_query) == record.n_queries
        for measure, value in record.aggregate.items():  # the mean of the per-query scores, recomputed here
            assert math.fsum(per_query.column(measure).values()) / len(per_query) == pytest.approx(value, abs=1e-12)
    assert {("synrank.cell/v1", "encoder"), (None, "bm25"), (None, "run")} <= kinds


def test_every_committed_training_record_reads():
    for path in committed_files("results/*/train/*/training_config.json"):
        raw = json.loads(path.read_text("utf-8"))
        record = TrainingRecord.from_disk(path)
        assert record.config_hash == raw["config_hash"] and record.config == raw["config"]
        assert record.to_dict() == {k: v for k, v in raw.items() if v is not None or k in ("backend",)}
