"""The training config schema and the shipped variant configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from synrank.errors import ConfigError
from synrank.training.config import load_train_config

REPO = Path(__file__).resolve().parents[2]
VARIANTS = sorted((REPO / "benchmarks" / "configs" / "train").glob("*.yaml"))


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_minimal_config_and_relative_paths(tmp_path):
    cfg = load_train_config(write(tmp_path, "name: x\ndata:\n  - {kind: groups, path: data/g.jsonl}\n"))
    assert cfg.loss == "ws2" and cfg.model.similarity == "dot" and cfg.model.pooling == "mean"
    assert cfg.data[0].path == str((tmp_path / "data" / "g.jsonl").resolve())
    assert cfg.output_dir() == Path("runs/x")


@pytest.mark.parametrize("text, field", [
    ("name: x\nlearning_rat: 0.1\n", "learning_rat"),
    ("name: x\nmodel: {bas: minilm}\nmax_steps: 0\n", "model.bas"),
    ("name: x\ndata: [{kind: groups, path: a, colour: red}]\n", "colour"),
    ("name: x\nbatch_size: '16'\ndata: [{kind: groups, path: a}]\n", "batch_size"),
    ("name: x\nloss: ws3\ndata: [{kind: groups, path: a}]\n", "loss"),
])
def test_bad_keys_and_types_name_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError, match=field) as err:
        load_train_config(write(tmp_path, text))
    assert "cfg.yaml" in str(err.value)


@pytest.mark.parametrize("text, msg", [
    ("name: x\n", "at least one source"),
    ("name: x\ngroup_size: 4\ndata: [{kind: self_supervised, dataset: scifact}]\n", "group_size: 1"),
    ("name: x\ndata: [{kind: groups}]\n", "needs 'path'"),
    ("name: x\nwarmup_fraction: 1.0\ndata: [{kind: groups, path: a}]\n", "warmup_fraction"),
])
def test_semantic_checks(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=msg):
        load_train_config(write(tmp_path, text))


def test_overrides_replace_top_level_keys(tmp_path):
    cfg = load_train_config(write(tmp_path, "name: x\ndata: [{kind: groups, path: a}]\n"), {"max_steps": 3})
    assert cfg.max_steps == 3


def test_variant_set_is_complete():
    names = {p.stem for p in VARIANTS}
    for base in ("minilm", "static"):
        for variant in ("base", "self-supervised", "supervised", "synthetic-infonce", "synthetic-ws2",
                        "synthetic+real-ws2", "synthetic-per-query-ws", "synthetic-kl"):
            assert f"{base}-{variant}" in names


@pytest.mark.parametrize("path", VARIANTS, ids=[p.stem for p in VARIANTS])
def test_shipped_variant_configs_load(path):
    cfg = load_train_config(path)
    assert cfg.name == path.stem
    base = path.stem.split("-", 1)[0]
    assert cfg.model.kind == ("static" if base == "static" else "sentence-transformers")
    if base == "smollm2":  # the issue-12 trial: a folder scripts/make_smollm2_encoder.py writes
        layers = path.stem.split("-")[1]
        assert Path(cfg.model.base) == REPO / "runs" / "smollm2" / layers and layers[0] == "k"
    else:
        assert cfg.model.base == "minilm"  # every suite variant starts from the same encoder


def test_deterministic_is_hashed_only_when_set():
    """R8: ``deterministic`` (default false) stays out of to_dict() so that every config hash computed
    before the key existed is unchanged; the pinned hash was computed with the config schema before it."""
    from synrank.config import from_dict
    from synrank.provenance import config_hash
    from synrank.training.config import TrainConfig
    from synrank.training.trainer import comparable_config

    raw = {"name": "pinned", "data": [{"kind": "groups", "path": "/data/groups.jsonl"}], "max_steps": 10}
    plain = from_dict(TrainConfig, raw)
    assert not plain.deterministic and "deterministic" not in plain.to_dict()
    assert config_hash(comparable_config(plain)) == "b0a29c98c6723442"
    det = from_dict(TrainConfig, {**raw, "deterministic": True})
    assert det.to_dict()["deterministic"] is True
    assert config_hash(comparable_config(det)) != config_hash(comparable_config(plain))
    assert from_dict(TrainConfig, det.to_dict()) == det
