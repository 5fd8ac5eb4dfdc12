"""Identities are computed once: a suite run parses each training config once (a variant that others start
from included) and each dataset's identity once, whatever the number of cells; the names say what they are."""

from __future__ import annotations

import json

import pytest

import benchmarks.keys as keys_mod
from benchmarks import run as run_mod
from benchmarks.keys import TrainingSpecs, trained_model_identity
from benchmarks.records import TrainMarker
from benchmarks.suites import load_suite
from benchmarks.training_runs import finished_training
from synrank.errors import ConfigError


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
