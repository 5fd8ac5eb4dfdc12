"""The top-level Python API (synrank.api): lazy import, and each config form synrank.train accepts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import synrank
from synrank.errors import ConfigError
from tests.reliability.harness import REPO, _env
from tests.training.conftest import tiny_config


def test_importing_synrank_loads_no_heavy_module():
    code = ("import sys, synrank; assert callable(synrank.load_dataset); "
            "print(sorted(m for m in ('torch', 'faiss', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(None), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_api_names():
    assert {"evaluate", "load_dataset", "train"} <= set(dir(synrank))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        synrank.nope  # noqa: B018


def test_train_accepts_a_dict_a_file_and_a_config(tiny_model, tiny_groups, tmp_path):
    from synrank.training.config import TrainConfig, config_from_dict

    raw = tiny_config(tiny_model, tiny_groups, save_every=None)
    a = synrank.train(raw, output=tmp_path / "a", max_steps=2)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(raw))
    b = synrank.train(path, output=tmp_path / "b", max_steps=2)
    c = synrank.train(config_from_dict(raw), output=tmp_path / "c", max_steps=2)
    assert a.steps == b.steps == c.steps == 2
    weights = [(tmp_path / x / "model.safetensors").read_bytes() for x in "abc"]
    assert weights[0] == weights[1] == weights[2]  # one config, one seed: the same model whichever form
    assert isinstance(config_from_dict(raw), TrainConfig)
    with pytest.raises(ConfigError, match="unknown key"):
        synrank.train(raw, output=tmp_path / "d", learning_rat=0.1)


def test_evaluate_and_load_dataset_are_the_pipeline(tmp_path):
    from tests.reliability.conftest import write_toy
    from tests.reliability.fake_encoder import Hash64

    data = synrank.load_dataset(write_toy(tmp_path / "toy"))
    assert len(data.corpus) == 3 and len(data.qrels) == 3
    res = synrank.evaluate(Hash64(), data, output=tmp_path / "out", measures=["nDCG@10", "MAP"], cache=False,
                           show_progress=False)
    assert list(res.aggregate) == ["nDCG@10", "MAP"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["aggregate"] == res.aggregate
