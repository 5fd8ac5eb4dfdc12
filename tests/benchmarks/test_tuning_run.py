"""The tuning-grid runner: trains, reuses only a checkpoint with the same config hash, skips finished runs,
refuses test splits; the dev score is checked against pytrec_eval on a ranking computed here with numpy."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.tuning import run as tuning
from synrank.errors import ConfigError
from synrank.training.config import config_from_dict
from synrank.training.trainer import train
from tests.training.conftest import make_groups, tiny_config


def _dev_dataset(folder: Path) -> Path:
    """Queries and passages of 12 fresh groups as a BEIR folder; grade-3 passage relevant (train split)."""
    (folder / "qrels").mkdir(parents=True)
    corpus, queries, qrels = [], [], []
    for i, rec in enumerate(make_groups(12, seed=99)):
        queries.append({"_id": f"dq{i}", "text": rec["query"]})
        for j, p in enumerate(rec["passages"]):
            corpus.append({"_id": f"d{i}-{j}", "title": "", "text": p["text"]})
            if p["grade"] >= 2:
                qrels.append((f"dq{i}", f"d{i}-{j}", p["grade"] - 1))
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                                + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in qrels))
    return folder


def _grid(tmp: Path, runs: list[dict], split: str = "train") -> Path:
    folder = tmp / "grid"
    folder.mkdir(exist_ok=True)
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "dev": {"dataset": str(tmp / "dev"), "split": split},
                                    "runs": runs}))
    return path


def _ndcg10_reference(model_dir: Path, dataset: Path) -> float:
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    docs = [json.loads(ln) for ln in (dataset / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(ln) for ln in (dataset / "queries.jsonl").read_text().splitlines()]
    d = model.encode([x["text"] for x in docs], convert_to_numpy=True).astype(np.float64)
    q = model.encode([x["text"] for x in queries], convert_to_numpy=True).astype(np.float64)
    scores = q @ d.T
    run = {qq["_id"]: {dd["_id"]: float(scores[i, j]) for j, dd in enumerate(docs)} for i, qq in enumerate(queries)}
    qrels: dict[str, dict[str, int]] = {}
    for line in (dataset / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, did, g = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(g)
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return float(np.mean([v["ndcg_cut_10"] for v in per_q.values()]))


def test_grid_trains_reuses_and_skips(tmp_path, tiny_model, tiny_groups, monkeypatch):
    dev = _dev_dataset(tmp_path / "dev")
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(json.dumps(tiny_config(tiny_model, tiny_groups, max_steps=6)))
    trained = tmp_path / "trained"
    train(config_from_dict(json.loads(cfg_file.read_text())), output=trained)
    grid = _grid(tmp_path, [
        {"name": "base", "model": str(tiny_model)},
        {"name": "reused", "config": str(cfg_file), "reuse": str(trained)},
        {"name": "lists", "config": str(cfg_file), "overrides": {"in_batch_negatives": False}},
    ])
    rows = tuning.run_grid(grid, tmp_path)
    assert [r["run"] for r in rows] == ["base", "reused", "lists"]
    assert rows[0]["dev_nDCG@10"] == pytest.approx(_ndcg10_reference(tiny_model, dev), abs=1e-4)
    assert rows[1]["dev_nDCG@10"] == pytest.approx(_ndcg10_reference(trained, dev), abs=1e-4)
    assert rows[1]["train_s"] == 0 and rows[1]["source"] == "trained"
    assert rows[2]["in_batch_negatives"] is False
    lists_dir = tmp_path / "runs" / "tuning" / "t" / "lists"
    assert json.loads((lists_dir / "training_config.json").read_text())["config"]["in_batch_negatives"] is False
    with open(grid.parent / "results.csv", newline="") as fh:
        on_disk = list(csv.DictReader(fh))
    assert [r["run"] for r in on_disk] == ["base", "reused", "lists"]
    assert on_disk[0]["loss"] == on_disk[0]["learning_rate"] == "—" and on_disk[1]["loss"] != "—"
    assert "| lists |" in (grid.parent / "results.md").read_text()

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(tuning, "train", no_training)
    monkeypatch.setattr(tuning, "evaluate_model", no_training)
    again = tuning.run_grid(grid, tmp_path)
    assert [r["dev_nDCG@10"] for r in again] == [r["dev_nDCG@10"] for r in on_disk]


def test_grid_retrains_a_reuse_without_weights_and_refuses_a_stale_one_and_a_test_split(tmp_path, tiny_model, tiny_groups):
    _dev_dataset(tmp_path / "dev")
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(json.dumps(tiny_config(tiny_model, tiny_groups, max_steps=4)))
    trained = tmp_path / "trained"
    train(config_from_dict(json.loads(cfg_file.read_text())), output=trained)
    stale = _grid(tmp_path, [{"name": "r", "config": str(cfg_file), "reuse": str(trained),
                              "overrides": {"learning_rate": 0.01}}])
    with pytest.raises(ConfigError, match="config hash"):
        tuning.run_grid(stale, tmp_path)
    # Records without weights (what a fresh checkout of results/ holds): the same config is trained here,
    # and CPU training is deterministic, so the score is the reused model's.
    records_only = tmp_path / "records_only"
    records_only.mkdir()
    shutil.copy(trained / "training_config.json", records_only)
    rows = tuning.run_grid(_grid(tmp_path, [{"name": "w", "config": str(cfg_file), "reuse": str(records_only)}]),
                           tmp_path)
    assert rows[0]["source"] == "runs/tuning/t/w"
    assert rows[0]["dev_nDCG@10"] == pytest.approx(_ndcg10_reference(trained, tmp_path / "dev"), abs=1e-4)
    missing = _grid(tmp_path, [{"name": "m", "config": str(cfg_file), "reuse": str(tmp_path / "nowhere")}])
    with pytest.raises(ConfigError, match="no trained model"):
        tuning.run_grid(missing, tmp_path)
    with pytest.raises(ConfigError, match="test split"):
        tuning.run_grid(_grid(tmp_path, [{"name": "b", "model": str(tiny_model)}], split="test"), tmp_path)
