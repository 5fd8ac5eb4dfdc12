"""Encoding backends: each one's embeddings against sentence-transformers' own fp32 encode (the
reference), refusals on CPUs without native support, and resolution of ``auto``."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

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
