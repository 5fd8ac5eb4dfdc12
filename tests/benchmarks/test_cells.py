"""The training cell's cache key: content, not location (a grown dataset retrains; a moved one does not)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.keys import training_config_identity
from synrank.provenance import config_hash
from synrank.retrieval.encoders import folder_fingerprint


def _groups_folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    lines = [json.dumps({"query_id": f"q{i}", "query": f"query {i}",
                         "passages": [{"text": f"p{i}-{g}", "grade": g} for g in (3, 2, 1, 0)]})
             for i in range(n)]
    (root / "shard-00000.jsonl").write_text("\n".join(lines) + "\n")
    (root / "rejects.jsonl").write_text('{"reason": "too short"}\n')
    return root


def _cfg(path: Path) -> dict:
    return {"name": "x", "loss": "ws2", "data": [{"kind": "groups", "path": str(path)},
                                                 {"kind": "supervised", "dataset": "scifact"}]}


def _key(cfg: dict) -> str:
    return config_hash(training_config_identity(cfg))


def test_same_data_elsewhere_gives_the_same_key(tmp_path):
    a = _groups_folder(tmp_path / "a" / "synthetic", 3)
    b = tmp_path / "b" / "synthetic"
    shutil.copytree(a, b)
    assert _key(_cfg(a)) == _key(_cfg(b))
    ident = training_config_identity(_cfg(a))
    assert str(tmp_path) not in json.dumps(ident)
    assert ident["data"][1] == {"kind": "supervised", "dataset": "scifact"}


def test_changed_data_at_the_same_path_changes_the_key(tmp_path):
    a = _groups_folder(tmp_path / "synthetic", 3)
    before = _key(_cfg(a))
    with (a / "shard-00000.jsonl").open("a") as fh:
        fh.write(json.dumps({"query_id": "q9", "query": "q", "passages": [{"text": "t", "grade": 3}]}) + "\n")
    assert _key(_cfg(a)) != before
    # reject logs are not training data: they do not change the key
    after = _key(_cfg(a))
    (a / "rejects.jsonl").write_text("")
    assert _key(_cfg(a)) == after


def test_model_fingerprint_ignores_training_records(tmp_path):
    model = tmp_path / "model"
    (model / "checkpoints" / "step-2").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "modules.json").write_text("[]")
    before = folder_fingerprint(model)
    (model / "training_config.json").write_text('{"timings": 1.5}')
    (model / "trainer_state.json").write_text("{}")
    (model / "loss_curve.csv").write_text("step,loss\n")
    (model / "checkpoints" / "step-2" / "trainer.pt").write_bytes(b"state")
    assert folder_fingerprint(model) == before
    (model / "model.safetensors").write_bytes(b"other weights")
    assert folder_fingerprint(model) != before
