"""The benchmark's result files as records (benchmarks.records): round trips, the committed markers and
manifests of results/ read, older layouts read, and a damaged marker costs a recomputation, not a crash."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.cells import cell_cache_problem
from benchmarks.keys import CellKey
from benchmarks.records import (
    CellMarker,
    Invocation,
    ManifestCell,
    ManifestTraining,
    Plugin,
    Plugins,
    ReusedFrom,
    SuiteManifest,
    TrainingStarted,
    TrainMarker,
)
from synrank.errors import RecordError
from synrank.records import ForumScores
from tests.conftest import committed_files

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_scores = st.dictionaries(_text, _finite, max_size=3)
_plain = st.dictionaries(_text, st.none() | st.integers(-99, 99) | _text | st.lists(_text, max_size=2), max_size=3)
_env = {"versions": st.dictionaries(_text, _text, max_size=2), "hardware": _plain,
        "git_commit": st.none() | _text, "created_utc": _text}

_reused = st.none() | st.builds(ReusedFrom, results=_text, row=_text, dataset=st.none() | _text, reused_utc=_text)

cell_markers = st.builds(
    CellMarker, suite=_text, model=_text, variant=_text, base=st.none() | _text,
    kind=st.sampled_from(["bm25", "model", "train"]), dataset=_text, split=_text,
    mode=st.sampled_from(["full", "rerank"]), config=_plain, config_hash=_text, dataset_sha256=_text,
    dataset_checksums=st.dictionaries(_text, _text, max_size=2), subsample=st.none() | _plain,
    n_queries=st.integers(0, 10**6), aggregate=_scores,
    forums=st.none() | st.dictionaries(_text, st.builds(ForumScores, aggregate=_scores, n_queries=st.integers(0, 9)),
                                       max_size=2),
    pipeline_config_hash=st.none() | _text, timings=st.dictionaries(_text, _finite, max_size=3), peak_rss_mb=_finite,
    batch_size=st.integers(1, 4096), files=st.none() | st.dictionaries(_text, _text, max_size=3), finished_utc=_text,
    reused_from=_reused)

manifests = st.builds(
    SuiteManifest, suite=_plain, suite_hash=_text,
    plugins=st.dictionaries(_text, st.builds(Plugin, model=_text, baseline=st.none() | _text,
                                             added_utc=st.none() | _text, variant=st.none() | _text), max_size=2),
    seeds=_plain, dataset_sha256=st.dictionaries(_text, _text, max_size=2),
    timings=st.dictionaries(_text, _finite, max_size=2),
    training=st.lists(st.builds(ManifestTraining, model=_text, config_hash=_text, seconds=_finite,
                                seed=st.none() | st.integers(0, 2**32 - 1), this_invocation=_text,
                                reused_from=_reused), max_size=2),
    cells=st.lists(st.builds(ManifestCell, model=_text, dataset=_text, config_hash=_text,
                             seconds=st.none() | _finite, timings=st.dictionaries(_text, _finite, max_size=2),
                             n_queries=st.integers(0, 99), dataset_sha256=_text, subsampled=st.booleans(),
                             this_invocation=_text, reused_from=_reused), max_size=2),
    invocations=st.lists(st.builds(Invocation, argv=st.none() | st.lists(_text, max_size=2), started_utc=_text,
                                   wall_seconds=_finite, computed=st.integers(0, 9), cached=st.integers(0, 9),
                                   failed=st.integers(0, 9), trained=st.integers(0, 9),
                                   failures=st.lists(_text, max_size=2), reused=st.none() | st.integers(1, 9)), max_size=2),
    **_env)

train_markers = st.builds(TrainMarker, model=_text, config_source=_text, config=_plain, config_hash=_text,
                          checkpoint=_text, model_sha256=st.none() | _text, resumed=st.booleans(),
                          timings=st.dictionaries(_text, _finite, max_size=2), finished_utc=_text,
                          reused_from=_reused, **_env)


@settings(max_examples=40, deadline=None)
@given(record=st.one_of(cell_markers, manifests, train_markers,
                        st.builds(TrainingStarted, config_hash=_text, source=_text),
                        st.builds(Plugins, models=st.dictionaries(_text, st.builds(Plugin, model=_text), max_size=2))))
def test_a_benchmark_record_reads_back_equal(record, tmp_path_factory):
    path = record.to_disk(tmp_path_factory.mktemp("rec") / record.FILE)
    assert type(record).from_disk(path) == record
    assert json.loads(path.read_text("utf-8"))["schema"] == record.SCHEMA


@pytest.mark.parametrize(("pattern", "record"), [("results/*/cells/*/cell.json", CellMarker),
                                                 ("results/*/train/*/train.json", TrainMarker),
                                                 ("results/*/manifest.json", SuiteManifest)])
def test_every_committed_marker_and_manifest_reads_as_written(pattern, record):
    for path in committed_files(pattern):
        raw = json.loads(path.read_text("utf-8"))
        read = record.from_disk(path)
        # the current layout holds everything the file held (older markers lack fields added since)
        assert {k: v for k, v in read.to_dict().items() if k != "schema"} == {
            k: v for k, v in raw.items() if k != "schema"}


def test_older_marker_layouts_are_read():
    v1_train = {"schema": "synrank.benchmark-train/v1", "model": "m", "config_source": "c.yaml", "config": {},
                "config_hash": "h", "checkpoint": "train/m/model", "resumed": False, "timings": {"train": 1.0},
                "finished_utc": "t", "versions": {}, "hardware": {}, "git_commit": None, "created_utc": "t"}
    assert TrainMarker.from_dict(v1_train).model_sha256 is None
    assert Plugins.from_dict({"models": {"p": {"model": "x", "baseline": "bm25", "added_utc": "t"}}}).models["p"] \
        == Plugin(model="x", baseline="bm25", added_utc="t")
    assert TrainingStarted.from_dict({"config_hash": "h", "source": "s.yaml"}).source == "s.yaml"
    with pytest.raises(RecordError, match="schema synrank.benchmark-cell/v3 is newer"):
        CellMarker.from_dict({"schema": "synrank.benchmark-cell/v3"})


def test_a_damaged_marker_means_recompute_with_one_warning_line(tmp_path, caplog):
    folder = tmp_path / "cells" / "bm25" / "toy"
    folder.mkdir(parents=True)
    (folder / "cell.json").write_text('{"schema": "synrank.benchmark-cell/v2", "suite": ')
    with caplog.at_level(logging.WARNING):
        assert cell_cache_problem(CellKey({}, "h", folder)) == "not computed yet"
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warning.startswith(f"{folder / 'cell.json'}:1: not valid JSON") and "\n" not in warning
    assert warning.endswith("; recomputing the cell")
