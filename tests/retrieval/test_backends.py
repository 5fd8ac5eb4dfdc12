"""Encoding backends: each one's embeddings against sentence-transformers' own fp32 encode (the
reference), refusals on CPUs without native support, and resolution of ``auto``."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.errors import ModelError
from synrank.retrieval import backends
from synrank.retrieval.backends import BACKENDS, MIN_PROBE_COSINE, Backend, resolve_backend
from synrank.retrieval.encoders import SentenceTransformerEncoder, build_static_encoder

TEXTS = ["how do vaccines train the immune system",
         "Vaccines expose the immune system to a harmless piece of a pathogen, so that memory cells form.",
         "zinc", "A much longer passage " * 40]


def _available(name: str) -> bool:
    backend = Backend.parse(name)
    if backend.precision == "bf16" and not backends.cpu_has_native_bf16():
        return False
    if backend.precision == "int8" and not backends.cpu_has_int8_dot():
        return False
    module = {"openvino": "openvino", "onnx": "onnxruntime", "torch": "torch"}[backend.engine]
    return importlib.util.find_spec(module) is not None and (backend.engine != "onnx"
                                                             or importlib.util.find_spec("onnx") is not None)


@pytest.fixture(scope="module")
def reference(minilm_path):
    enc = SentenceTransformerEncoder(str(minilm_path), backend="torch-fp32")
    return enc.encode_queries(TEXTS, batch_size=2), enc.encode_corpus([{"title": "t", "text": t} for t in TEXTS])


@pytest.mark.parametrize("name", [b for b in BACKENDS if b not in ("torch-fp32", "onnx-int8")])
def test_backend_matches_fp32_reference(name, minilm_path, reference):
    if not _available(name):
        pytest.skip(f"{name} cannot run natively here")
    enc = SentenceTransformerEncoder(str(minilm_path), backend=name)
    assert enc.backend.name == name
    q = enc.encode_queries(TEXTS, batch_size=3)  # batches of unequal length: padding must not matter
    d = enc.encode_corpus([{"title": "t", "text": t} for t in TEXTS], batch_size=2)
    floor = MIN_PROBE_COSINE[Backend.parse(name).precision]
    for ours, ref in ((q, reference[0]), (d, reference[1])):
        assert ours.shape == ref.shape and ours.dtype == np.float32
        cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
        assert cos.min() >= floor, (name, cos)


def test_fingerprint_names_the_backend_except_fp32(minilm_path):
    fp32 = SentenceTransformerEncoder(str(minilm_path), backend="torch-fp32")
    plain = SentenceTransformerEncoder(str(minilm_path))  # auto, but the fp32 hash must not move
    assert fp32.fingerprint != SentenceTransformerEncoder(str(minilm_path), backend="openvino-fp32").fingerprint
    assert plain.backend.name != "torch-fp32" or plain.fingerprint == fp32.fingerprint


def test_bf16_refused_without_native_support(monkeypatch, minilm_path):
    monkeypatch.setattr(backends, "cpu_has_native_bf16", lambda: False)
    for name in ("torch-bf16", "openvino-bf16"):
        with pytest.raises(ModelError, match="native bfloat16"):
            resolve_backend(name)
    assert resolve_backend("auto").name == "openvino-fp32"  # auto never picks what the CPU emulates
    monkeypatch.setattr(backends, "cpu_has_native_bf16", lambda: True)
    assert resolve_backend("auto").name == "openvino-bf16"


def test_int8_refused_without_int8_instructions(monkeypatch):
    monkeypatch.setattr(backends, "cpu_has_int8_dot", lambda: False)
    with pytest.raises(ModelError, match="VNNI"):
        resolve_backend("onnx-int8")


def test_unknown_backend_is_one_clear_error():
    with pytest.raises(ModelError, match="unknown encoding backend 'tensorrt'"):
        resolve_backend("tensorrt")


def test_static_encoder_runs_on_torch_only(minilm_path):
    static = build_static_encoder(str(minilm_path))
    assert static.backend.name == "torch-fp32"  # auto
    model = static.model
    with pytest.raises(ModelError, match="transformer models only"):
        resolve_backend("openvino-fp32", model)


def test_broken_backend_is_refused_by_the_probe_check(minilm_path, monkeypatch):
    if not _available("openvino-fp32"):
        pytest.skip("openvino not installed")
    enc = SentenceTransformerEncoder(str(minilm_path), backend="openvino-fp32")
    original = backends.BackendRunner._hidden
    monkeypatch.setattr(backends.BackendRunner, "_hidden",
                        lambda self, feats: original(self, feats).flip(1))  # tokens in the wrong order
    with pytest.raises(ModelError, match="disagrees with torch-fp32"):
        enc.encode_queries(TEXTS)


# -- batching by token count (each text tokenised once, padded per batch) ---------------------------------
_WORDS = ["the", "aurora", "borealis", "1234567890", "x" * 600, "Ünïcödé", "tax-forms", "  ", "", "a.b,c;d",
          "supercalifragilisticexpialidocious", "\u4e2d\u6587", "word " * 300]


@pytest.fixture(scope="module")
def st_model(minilm_path):
    return SentenceTransformerEncoder(str(minilm_path), backend="torch-fp32").model


def _row_signature(feats: dict, row: int) -> tuple:
    """A text's features without its padding: what a correct batch must hold for it."""
    n = int(feats["attention_mask"][row].sum())
    return tuple(tuple(feats[k][row][:n].tolist()) for k in ("input_ids", "token_type_ids", "attention_mask"))


def _fake_embed(feats: dict) -> np.ndarray:
    """An 'embedding' that depends only on a row's real tokens (so it is independent of batching)."""
    rows = [_row_signature(feats, r) for r in range(feats["input_ids"].shape[0])]
    return np.array([[len(s[0]), sum(s[0]), sum(i * t for i, t in enumerate(s[0]))] for s in rows], np.float32)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS), max_size=8).map(" ".join), min_size=1, max_size=40),
       st.randoms(use_true_random=False))
def test_tokens_pad_exactly_as_preprocess(st_model, texts, rnd):
    tokens = backends._Tokens.build(st_model, texts)
    assert tokens is not None
    idx = np.array(rnd.sample(range(len(texts)), k=rnd.randint(1, len(texts))))
    ours, theirs = tokens.batch(idx), st_model.preprocess([texts[i] for i in idx])
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if hasattr(value, "shape"):
            assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key
        else:
            assert ours[key] == value, key


def _runner_with_fake_engine(model, monkeypatch) -> tuple[backends.BackendRunner, list[int]]:
    runner = backends.BackendRunner(model, Backend.parse("openvino-fp32"))
    runner._checked = True  # no probe: the fake engine below is not a transformer
    widths: list[int] = []

    def embed(feats):
        widths.append(feats["input_ids"].shape[0] * feats["input_ids"].shape[1])
        return _fake_embed(feats)

    monkeypatch.setattr(runner, "_embed_features", embed)
    return runner, widths


def test_batches_are_longest_first_by_tokens_and_rows_land_in_input_order(st_model, monkeypatch):
    rnd = random.Random(3)
    texts = [" ".join(rnd.choices(_WORDS, k=rnd.randint(0, 6))) for _ in range(70)] + ["x" * 900, "9" * 60]
    runner, padded = _runner_with_fake_engine(st_model, monkeypatch)
    out = runner.encode(texts, batch_size=8)
    expected = np.concatenate([_fake_embed(st_model.preprocess([t])) for t in texts])
    np.testing.assert_array_equal(out, expected)
    lengths = sorted((len(st_model.preprocess([t])["input_ids"][0]) for t in texts), reverse=True)
    minimal = sum(max(lengths[s:s + 8]) * len(lengths[s:s + 8]) for s in range(0, len(lengths), 8))
    assert sum(padded) == minimal  # "x" * 900 is 900 characters but 3 tokens: characters would pad more
    chars = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    by_chars = [len(st_model.preprocess([texts[i]])["input_ids"][0]) for i in chars]
    assert minimal < sum(max(by_chars[s:s + 8]) * len(by_chars[s:s + 8]) for s in range(0, len(by_chars), 8))


@pytest.mark.parametrize("breakage", ["no-split", "wrong-padding"])
def test_models_whose_preprocess_cannot_split_are_batched_by_characters(st_model, monkeypatch, caplog, breakage):
    texts = [" ".join(random.Random(i).choices(_WORDS, k=i % 7)) for i in range(30)]
    if breakage == "no-split":
        monkeypatch.setattr(backends._Tokens, "build", staticmethod(lambda model, texts: None))
    else:  # padding that differs from preprocess's: caught by the check on the longest and shortest texts
        original = backends._Tokens.batch
        monkeypatch.setattr(backends._Tokens, "batch",
                            lambda self, idx: {**original(self, idx), "attention_mask": original(self, idx)
                                               ["attention_mask"] * 0 + 1})
    runner, _ = _runner_with_fake_engine(st_model, monkeypatch)
    with caplog.at_level("INFO", logger="synrank.retrieval.backends"):
        out = runner.encode(texts, batch_size=4)
    np.testing.assert_array_equal(out, np.concatenate([_fake_embed(st_model.preprocess([t])) for t in texts]))
    assert (breakage == "wrong-padding") == ("batching by characters" in caplog.text)
