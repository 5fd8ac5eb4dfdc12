"""Identities are computed once: a suite run parses each training config once (a variant that others start
from included) and each dataset's identity once, whatever the number of cells; the names say what they are.
A dataset's mode is decided by the same rule in a cell key and in the evaluation pipeline."""

from __future__ import annotations

import json

import pytest

import benchmarks.keys as keys_mod
from benchmarks import run as run_mod
from benchmarks.keys import TrainingSpecs, dataset_forums, dataset_identity, trained_model_identity
from benchmarks.records import TrainMarker
from benchmarks.suites import DatasetSpec, load_suite
from benchmarks.training_runs import finished_training
from synrank.data import dataset_info
from synrank.data.beir import BeirDataset, Document
from synrank.data.folders import EVALUATION_MODES, DatasetInfo, evaluation_mode, list_datasets
from synrank.errors import ConfigError, SynrankError
from synrank.evaluation.pipeline import evaluate_model
from tests.retrieval.toy import ToyEncoder


def _suite(tmp_path, second_base: str = "@first"):
    groups = tmp_path / "groups"
    groups.mkdir()
    (groups / "shard-00000.jsonl").write_text(json.dumps(
        {"query_id": "q1", "query": "q", "passages": [{"text": "p", "grade": 3}, {"text": "n", "grade": 0}]}) + "\n")
    first = {"name": "first", "model": {"base": "minilm", "kind": "static"}, "data": [{"kind": "groups", "path": str(groups)}],
             "loss": "ws2", "max_steps": 2, "group_size": 2}
    second = {**first, "name": "second", "model": {"base": second_base, "kind": "sentence-transformers", "pooling": "keep",
                                 "similarity": "dot"}}
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({
        "name": "s", "baseline": "bm25",
        "variants": [{"name": "bm25", "bm25": {}}, {"name": "first", "train": first},
                     {"name": "second", "train": second, "seeds": [5]}],
        "datasets": [{"name": "cranfield", "mode": "full"}, {"name": "trec-dl-2019"}]}))
    return load_suite(path)


def _count(monkeypatch, module, name) -> list[object]:
    calls: list[object] = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args[-1] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_plan_parses_each_training_config_and_dataset_once(tmp_path, monkeypatch):
    suite = _suite(tmp_path)
    parsed = _count(monkeypatch, keys_mod, "train_config_dict")
    identified = _count(monkeypatch, run_mod, "dataset_identity")
    plan = run_mod.plan_suite(suite, tmp_path / "results")
    assert len(plan) == 8 and {c.why for c in plan} == {"not computed yet", "its model must be trained first"}
    assert [c.model for c in plan][-2:] == ["second@seed5"] * 2  # the dry run lists seed replicates too
    # second starts from first: first parsed once
    assert sorted(v.name for v in parsed) == ["first", "second", "second@seed5"]
    assert [d.key for d in identified] == ["cranfield", "trec-dl-2019"]  # not once per cell


def test_preflight_and_the_run_share_one_spec_per_variant(tmp_path, monkeypatch):
    suite = _suite(tmp_path)
    specs = TrainingSpecs(suite)
    parsed = _count(monkeypatch, keys_mod, "train_config_dict")
    variants = [r for v in suite.variants for r in v.replicates()]
    run_mod.preflight(suite, variants, ["cranfield", "trec-dl-2019"], specs)
    assert sorted(v.name for v in parsed) == ["first", "second", "second@seed5"]
    second = specs(suite.variant("second"))
    assert second.base is specs(suite.variant("first")) and len(parsed) == 3
    assert second.transformer is False  # trained from a static encoder
    replicate = specs(variants[-1])
    assert replicate.config["seed"] == 5 and replicate.key != second.key and replicate.base is second.base


def test_a_finished_marker_gives_the_trained_model_identity(tmp_path):
    suite = _suite(tmp_path)
    spec = TrainingSpecs(suite)(suite.variant("first"))
    results = tmp_path / "results"
    assert finished_training(spec, results) is None
    marker = TrainMarker(model="first", config_source="s.yaml", config=spec.config, config_hash=spec.key,
                         checkpoint="train/first/model", model_sha256="ab" * 32, resumed=False,
                         timings={"train": 1.0}, finished_utc="t", versions={}, hardware={}, created_utc="t")
    marker.to_disk(results / "train" / "first" / "train.json")
    assert finished_training(spec, results) == trained_model_identity(spec.key, "train/first/model", "ab" * 32, False)
    marker.config_hash = "another"
    marker.to_disk(results / "train" / "first" / "train.json")
    assert finished_training(spec, results) is None  # a marker of another config is not this run


def test_a_variant_that_starts_from_itself_is_one_error(tmp_path):
    suite = _suite(tmp_path, second_base="@second")
    with pytest.raises(ConfigError, match=r"starts from this one \(second -> second\)"):
        TrainingSpecs(suite)(suite.variant("second"))


# ---------------------------------------------------------------------------------------------------
# The dataset mode `auto`: one rule (synrank.data.folders.evaluation_mode), asked by the suite's cell keys
# and by the evaluation pipeline
# ---------------------------------------------------------------------------------------------------

def _suite_mode(info: DatasetInfo, mode: str) -> str:
    """The mode a suite's cell key records for the dataset, or the error (type and message)."""
    try:
        return dataset_identity(DatasetSpec(name=info.name, mode=mode))["mode"]
    except SynrankError as exc:
        return f"{type(exc).__name__}: {exc}"


def _pipeline_mode(info: DatasetInfo, mode: str) -> str:
    """The mode `evaluate_model` runs the dataset in, or the error. It gets the dataset as it sees it after
    loading, cut to one query and one document (the mode depends on the folder, not on the texts)."""
    data = BeirDataset(info=info, split=info.default_split or "test", corpus={"d1": Document("d1", "", "a passage")},
                       queries={"q1": "a query"}, qrels={"q1": {"d1": 1}}, checksums={})
    try:
        return evaluate_model(ToyEncoder(), data, mode=mode, cache=False, show_progress=False).config["mode"]
    except SynrankError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_the_suite_and_the_pipeline_decide_every_registry_dataset_s_mode_alike():
    infos = [i for i in list_datasets() if not dataset_forums(DatasetSpec(name=i.name))]
    assert {"scifact", "trec-dl-2019"} <= {i.name for i in infos}  # shipped: one without a run, one with
    for info in infos:
        # independent reference: the folder's own files (the run may be stored gzip-compressed)
        ships_run = any((info.path / f"bm25_top100.trec{gz}").is_file() for gz in ("", ".gz"))
        for mode in EVALUATION_MODES:
            suite = _suite_mode(info, mode)
            assert suite == _pipeline_mode(info, mode), (info.name, mode)
            if mode == "full" or (ships_run and mode in ("auto", "rerank")):
                assert suite == ("full" if mode == "full" else "rerank"), (info.name, mode)
            elif mode == "auto":
                assert suite == "full", info.name
            else:
                assert suite.startswith("ConfigError: ") and "ships no first-stage run" in suite, info.name


def test_an_unknown_mode_is_refused_by_the_one_rule():
    info = dataset_info("scifact")
    with pytest.raises(ConfigError, match="mode must be one of"):
        evaluation_mode("dense", info)
    assert evaluation_mode("auto", info) == "full"
    assert evaluation_mode("auto", info, candidates=info.path / "any.trec") == "rerank"
