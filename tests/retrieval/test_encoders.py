"""Encoder adapters: spec resolution, similarity, fingerprints, BEIR's title/text join."""

from __future__ import annotations

import shutil
import sys
import types

import numpy as np
import pytest

from synrank.errors import ModelError
from synrank.retrieval.encoders import (
    SentenceTransformerEncoder,
    check_model_folder,
    document_text,
    encoder_fingerprint,
    encoder_similarity,
    folder_fingerprint,
    load_encoder,
)
from tests.retrieval.toy import ToyEncoder


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return load_encoder(str(minilm_path))


def test_document_text_matches_beir():
    from beir.retrieval.models.util import extract_corpus_sentences

    docs = [{"title": "A title", "text": "body text"}, {"title": "", "text": "  only text "},
            {"title": " t ", "text": ""}]
    assert [document_text(d) for d in docs] == extract_corpus_sentences(docs, sep=" ")
    assert document_text({"text": " x "}) == "x"


def test_minilm_alias_path_and_similarity(minilm, minilm_path):
    assert isinstance(minilm, SentenceTransformerEncoder)
    assert minilm.similarity == "cosine" and minilm.normalizes and minilm.max_length == 256
    by_alias = load_encoder("all-MiniLM-L6-v2")
    assert by_alias.fingerprint == minilm.fingerprint  # same folder, same weights
    q = minilm.encode_queries(["what causes scurvy"], show_progress_bar=False)
    d = minilm.encode_corpus([{"title": "Scurvy", "text": "Vitamin C deficiency."}], show_progress_bar=False)
    assert q.shape == (1, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    # encode_corpus joins title + " " + text exactly as BEIR (compared on sentence-transformers' own fp32 path;
    # the default backend's agreement with it is tests/retrieval/test_backends.py's job)
    fp32 = SentenceTransformerEncoder(str(minilm_path), backend="torch-fp32")
    d32 = fp32.encode_corpus([{"title": "Scurvy", "text": "Vitamin C deficiency."}], show_progress_bar=False)
    direct = minilm.model.encode(["Scurvy Vitamin C deficiency."], convert_to_numpy=True)
    assert np.allclose(d32, direct, atol=1e-5)
    assert float((d @ direct[0])[0]) > 0.999


def test_fingerprint_changes_with_max_length_and_files(minilm, minilm_path, tmp_path):
    short = load_encoder(str(minilm_path), max_length=128)
    assert short.max_length == 128 and short.fingerprint != minilm.fingerprint
    copy = tmp_path / "model"
    shutil.copytree(minilm_path, copy)
    assert folder_fingerprint(copy) == folder_fingerprint(minilm_path)
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")
    assert folder_fingerprint(copy) != folder_fingerprint(minilm_path)


def test_missing_model_names_path_and_attempts(tmp_path):
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(ModelError) as err:
        load_encoder(str(missing))
    assert str(missing) in str(err.value) and "tried" in str(err.value)
    not_model = tmp_path / "empty"
    not_model.mkdir()
    with pytest.raises(ModelError, match="no modules.json"):
        load_encoder(str(not_model))


def _modules_folder(root, *modules):
    import json

    root.mkdir()
    entries = [{"idx": i, "name": str(i), "path": sub, "type": f"sentence_transformers.models.{kind}"}
               for i, (sub, kind) in enumerate(modules)]
    (root / "modules.json").write_text(json.dumps(entries))
    return root


def test_check_model_folder_names_a_missing_module_config(tmp_path):
    """R3: a lost ``1_Pooling/config.json`` is named, not reported as a constructor TypeError."""
    folder = _modules_folder(tmp_path / "m", ("", "Transformer"), ("1_Pooling", "Pooling"),
                             ("2_Dense", "Dense"), ("3_Normalize", "Normalize"))
    (folder / "2_Dense").mkdir()
    (folder / "2_Dense" / "config.json").write_text("{}")
    with pytest.raises(ModelError) as err:
        check_model_folder(folder)
    msg = str(err.value)
    assert str(folder / "1_Pooling" / "config.json") in msg and "Pooling" in msg
    assert "copy it from the base model" in msg
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text("{}")
    check_model_folder(folder)  # Normalize and Transformer need no module config file
    (folder / "2_Dense" / "config.json").unlink()
    with pytest.raises(ModelError, match=r"2_Dense.config\.json.*Dense"):
        check_model_folder(folder)


def test_check_model_folder_refuses_a_broken_modules_json(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "modules.json").write_text('[{"path": "1_Pooling"')
    with pytest.raises(ModelError, match="cannot read modules.json"):
        check_model_folder(folder)


def test_load_encoder_checks_module_configs_before_loading(tmp_path):
    folder = _modules_folder(tmp_path / "m", ("", "Transformer"), ("1_Pooling", "Pooling"))
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="1_Pooling.config.json"):
        _ = load_encoder(str(folder)).model


def test_hub_name_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        load_encoder("someorg/definitely-not-cached-model")
    msg = str(err.value)
    assert "someorg/definitely-not-cached-model" in msg and "HF_HUB_OFFLINE" in msg


def test_object_and_import_spec(monkeypatch):
    toy = ToyEncoder()
    assert load_encoder(toy) is toy
    module = types.ModuleType("synrank_test_encoders")
    module.Toy = ToyEncoder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "synrank_test_encoders", module)
    built = load_encoder("synrank_test_encoders:Toy")
    assert isinstance(built, ToyEncoder) and encoder_fingerprint(built) == toy.fingerprint
    with pytest.raises(ModelError, match="no attribute"):
        load_encoder("synrank_test_encoders:Nope")
    with pytest.raises(ModelError, match="cannot import"):
        load_encoder("synrank_no_such_module_xyz:Thing")
    with pytest.raises(ModelError, match="not an encoder"):
        load_encoder(object())


def test_similarity_declarations():
    assert encoder_similarity(ToyEncoder(similarity="cosine")) == "cosine"
    assert encoder_similarity(types.SimpleNamespace()) == "dot"
    assert encoder_similarity(types.SimpleNamespace(similarity="cos_sim")) == "cosine"
    with pytest.raises(ModelError, match="euclidean"):
        encoder_similarity(types.SimpleNamespace(similarity="euclidean"))


def test_folder_model_loads_lazily_with_the_same_settings(minilm_path):
    lazy = load_encoder(str(minilm_path))
    assert lazy._model is None  # nothing loaded yet: a fully cached evaluation never pays the load
    eager = SentenceTransformerEncoder(str(minilm_path), lazy=False)
    assert (lazy.similarity, lazy.max_length, lazy.normalizes) == (eager.similarity, eager.max_length, eager.normalizes)
    assert lazy.fingerprint == eager.fingerprint and lazy._model is None
    assert lazy.model is not None  # loading checks the files' settings against the loaded model
    assert lazy._model is not None
