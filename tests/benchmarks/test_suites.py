"""Suite files: the shipped ones load and validate; bad ones fail naming file and field; the paper
suite fails fast here listing everything it is missing."""

from __future__ import annotations

import importlib

import pytest
import yaml

from benchmarks import run as run_mod
from benchmarks.keys import train_config_dict
from benchmarks.suites import SUITES_DIR, load_suite, shipped_suites
from synrank.errors import ConfigError, SynrankError


def test_shipped_suites_are_the_suite_folder():
    names = shipped_suites()
    assert {"smoke", "cpu", "cpu-seeds", "paper"} <= set(names)
    assert len(names) == len(list(SUITES_DIR.glob("*.yaml")))


@pytest.mark.parametrize("name", shipped_suites())
def test_shipped_suites_load(name):
    suite = load_suite(name)
    assert suite.name == name
    assert suite.baseline in [v.name for v in suite.variants]
    assert suite.significance.permutations >= 10_000
    for v in suite.variants:
        if v.kind == "train" and name != "paper":
            cfg, source = train_config_dict(suite, v)  # every training config validates
            assert source.exists() and cfg["name"]


def test_cpu_suite_covers_every_shared_dataset_with_a_corpus(shared_datasets):
    suite = load_suite("cpu")
    with_corpus = {p.name for p in shared_datasets.iterdir() if (p / "corpus.jsonl").exists()}
    assert with_corpus <= {d.key for d in suite.datasets}
    variants = {v.label for v in suite.variants}
    assert {"base", "self-supervised", "supervised", "synthetic-infonce", "synthetic-ws2",
            "synthetic+real-ws2"} <= variants
    assert {v.base for v in suite.variants if v.kind == "train"} == {"minilm", "static", "static-ssl"}


def _suite(tmp_path, **changes) -> str:
    body = {"name": "t", "baseline": "bm25", "variants": [{"name": "bm25", "bm25": {}}],
            "datasets": [{"name": "scifact"}], **changes}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


@pytest.mark.parametrize("changes,match", [
    ({"variants": [{"name": "bm25", "bm25": {}, "model": "x"}]}, "exactly one of"),
    ({"variants": [{"name": "bm25", "bm25": {}, "colour": 1}]}, "unknown key"),
    ({"baseline": "nope"}, "baseline 'nope'"),
    ({"significance": {"permutations": 100}}, "10000"),
    ({"datasets": [{"name": "scifact"}, {"name": "scifact"}]}, "duplicate dataset"),
    ({"primary_measure": "nDCG@3"}, "primary_measure"),
    ({"datasets": [{"name": "scifact", "mode": "sideways"}]}, "mode"),
])
def test_bad_suites_name_the_problem(tmp_path, changes, match):
    path = _suite(tmp_path, **changes)
    with pytest.raises(ConfigError, match=match) as err:
        load_suite(path)
    assert "t.yaml" in str(err.value)


def test_unknown_suite_lists_known_ones():
    with pytest.raises(ConfigError, match="known suites: .*smoke") as err:
        load_suite("nonexistent-suite")
    assert all(name in str(err.value) for name in shipped_suites())


@pytest.mark.parametrize("module", ["benchmarks.run", "benchmarks.report.__main__"])
def test_suite_option_help_names_every_shipped_suite(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in shipped_suites())


def test_paper_suite_fails_fast_listing_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    suite = load_suite("paper")
    with pytest.raises(SynrankError) as err:
        run_mod.run_suite(suite, tmp_path / "results")
    text = str(err.value)
    for needle in ("GPUs: need 4", "facebook/contriever", "msmarco", "nq", "llama-3.3-70b-msmarco",
                   "nothing was run"):
        assert needle in text
    assert not (tmp_path / "results" / "cells").exists()
    assert run_mod.main(["--suite", "paper", "--output", str(tmp_path / "r2"), "--preflight"]) == 2


def test_preflight_reports_missing_training_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNRANK_OFFLINE", "1")
    path = _suite(tmp_path, variants=[
        {"name": "bm25", "bm25": {}},
        {"name": "t", "train": {"model": {"base": "minilm", "kind": "static"},
                                "data": [{"kind": "groups", "path": "no-such-groups"}], "max_steps": 2}}])
    suite = load_suite(path)
    with pytest.raises(SynrankError, match="no-such-groups does not exist"):
        run_mod.preflight(suite, suite.variants, ["scifact"])
