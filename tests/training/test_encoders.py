"""Building the starting encoders: MiniLM as configured, and the static encoder from its token table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synrank.errors import ModelError
from synrank.training.config import ModelConfig
from synrank.training.encoders import build_model


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path), device="cpu")


def test_static_encoder_is_minilm_token_table(minilm, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    model = build_model(ModelConfig(base="minilm", kind="static", max_seq_length=8))
    static = model[0]
    assert isinstance(static, StaticEmbedding) and len(model) == 1
    table = minilm[0].auto_model.get_input_embeddings().weight
    assert torch.equal(static.embedding.weight, table)
    assert model.similarity_fn_name == "dot"
    # mean of the token vectors of the (untruncated) first 8 word pieces, no special tokens
    text = "aspirin lowers the risk of heart attacks in older adults with diabetes"
    ids = minilm.tokenizer(text, add_special_tokens=False)["input_ids"][:8]
    expected = table[ids].mean(0).detach().numpy()
    np.testing.assert_allclose(model.encode([text])[0], expected, rtol=1e-5, atol=1e-6)
    # round trip keeps weights and truncation
    model.save(str(tmp_path / "m"))
    again = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(again.encode([text])[0], expected, rtol=1e-5, atol=1e-6)


def test_minilm_dot_drops_normalize_and_keeps_direction(minilm):
    from sentence_transformers.sentence_transformer.modules import Normalize

    model = build_model(ModelConfig(base="minilm", similarity="dot", max_seq_length=128))
    assert not any(isinstance(m, Normalize) for m in model)
    assert model.similarity_fn_name == "dot" and model.max_seq_length == 128
    texts = ["what causes scurvy", "Vitamin C deficiency leads to scurvy."]
    ours = model.encode(texts)
    ref = minilm.encode(texts)
    assert np.linalg.norm(ours, axis=1).min() > 1.5  # un-normalised
    np.testing.assert_allclose(ours / np.linalg.norm(ours, axis=1, keepdims=True), ref, atol=1e-5)


def test_pooling_and_cosine_options(minilm):
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    model = build_model(ModelConfig(base="minilm", pooling="cls", similarity="cosine"))
    pooling = next(m for m in model if isinstance(m, Pooling))
    assert pooling.get_config_dict()["pooling_mode"] == "cls"
    assert isinstance(model[-1], Normalize) and model.similarity_fn_name == "cosine"
    kept = build_model(ModelConfig(base="minilm", pooling="keep", similarity="keep"))
    assert [type(m).__name__ for m in kept] == [type(m).__name__ for m in minilm]
    assert kept.similarity_fn_name == "cosine"


def test_missing_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot load"):
        build_model(ModelConfig(base=str(tmp_path / "nope")))
