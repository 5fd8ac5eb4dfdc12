"""The model card every trained folder gets (synrank.training.modelcard), read with huggingface_hub's parser."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.config import from_dict
from synrank.records import TrainingRecord
from synrank.retrieval.encoders import folder_fingerprint
from synrank.training.config import TrainConfig
from synrank.training.modelcard import build_model_card, write_model_card
from synrank.training.trainer import train
from tests.training.conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tiny_model, tiny_groups, tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "run"
    train(from_dict(TrainConfig, tiny_config(tiny_model, tiny_groups, max_steps=4, save_every=None)), output=out)
    return out


def test_trainer_writes_a_hub_card(trained):
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    card = ModelCard.load(trained / "README.md")
    assert card.data.library_name == "sentence-transformers"
    assert card.data.pipeline_tag == "sentence-similarity"
    assert {"sentence-transformers", "synrank", "loss:ws2", "synthetic-data"} <= set(card.data.tags)
    assert card.data.base_model is None  # a local folder is no Hub model
    assert card.data.eval_results is None  # no scores yet
    record = json.loads((trained / "training_config.json").read_text())
    block = re.search(r"## Config\n\n```yaml\n(.*?)```", card.text, re.S).group(1)
    assert yaml.safe_load(block) == record["config"]  # the config as training_config.json records it
    assert "- **steps**: 4;" in card.text and "48 training groups" in card.text
    assert card.data.to_dict()["synrank"]["config_hash"] == record["config_hash"]
    assert SentenceTransformer(str(trained), device="cpu").encode(["aspirin heart"]).shape == (1, 16)


def test_scores_are_added_kept_and_cleared(trained, tmp_path):
    from huggingface_hub import ModelCard

    folder = tmp_path / "m"
    shutil.copytree(trained, folder)
    before = folder_fingerprint(folder)
    write_model_card(folder, {"scifact": {"nDCG@10": 0.61234, "Recall@100": 0.9}, "arguana": {"nDCG@10": 0.4}},
                     splits={"scifact": "test"}, scores_note="suite cpu, results/cpu/leaderboard.csv")
    results = {(r.dataset_name, r.metric_type): r for r in ModelCard.load(folder / "README.md").data.eval_results}
    assert results[("scifact", "ndcg_at_10")].metric_value == 0.61234
    assert results[("scifact", "ndcg_at_10")].dataset_split == "test"
    assert results[("scifact", "recall_at_100")].metric_value == 0.9
    assert results[("arguana", "ndcg_at_10")].metric_value == 0.4
    assert "| scifact (test) | 0.6123 | 0.9000 |" in (folder / "README.md").read_text()

    write_model_card(folder)  # e.g. the trainer again: the scores stay
    again = ModelCard.load(folder / "README.md")
    assert len(again.data.eval_results) == 3 and "suite cpu" in again.text
    write_model_card(folder, {})
    assert ModelCard.load(folder / "README.md").data.eval_results is None
    # the card never changes the fingerprint that keys caches, and equals the fingerprint without a card
    assert folder_fingerprint(folder) == before
    (folder / "README.md").unlink()
    assert folder_fingerprint(folder) == before


_measure = st.sampled_from(["nDCG@10", "nDCG@100", "MAP", "Recall@100", "MRR@10", "P@10"])
_scores = st.dictionaries(st.text(alphabet="abcdefghij-", min_size=1, max_size=10).filter(lambda s: s.strip("-")),
                          st.dictionaries(_measure, st.floats(0, 1, allow_nan=False), min_size=1), max_size=4)


@settings(max_examples=40, deadline=None)
@given(scores=_scores)
def test_scores_round_trip_through_the_hub_parser(tmp_path_factory, scores):
    from huggingface_hub import ModelCard

    folder = tmp_path_factory.mktemp("rt")
    text = build_model_card(folder, scores, name="m")
    (folder / "README.md").write_text(text)
    parsed = ModelCard.load(folder / "README.md").data.eval_results or []
    got: dict[str, dict[str, float]] = {}
    for r in parsed:
        got.setdefault(r.dataset_name, {})[r.metric_name] = r.metric_value
    assert got == {ds: {m: round(v, 6) for m, v in ms.items()} for ds, ms in scores.items()}


def test_known_base_model_is_named_for_the_hub(tmp_path):
    TrainingRecord(name="x", config={"model": {"base": "minilm", "kind": "static"}, "loss": "kl", "data": []},
                   config_hash="h", seeds={}, data=[], n_training_items=0, total_steps=0, batches_per_epoch=0,
                   effective_batch_size=1, world_size=1, device="cpu", environment={}
                   ).to_disk(tmp_path / "training_config.json")
    meta = yaml.safe_load(build_model_card(tmp_path).split("---\n")[1])
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "none: the base model without training" in build_model_card(tmp_path)
