"""Plug-in models with only ``encode(texts, **kwargs)`` (synrank.retrieval.plugins)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.errors import ModelError
from synrank.retrieval.encoders import load_encoder
from synrank.retrieval.plugins import ROLE_KEYWORDS, EncodeOnlyEncoder
from tests.reliability.fake_encoder import EncodeOnly64, Hash64

_OPTIONAL = ["batch_size", "show_progress_bar", "convert_to_numpy", "convert_to_tensor", "prompt_name",
             *ROLE_KEYWORDS]


class _Recorder:
    """A model whose ``encode`` has exactly the signature a test gives it, and records its calls."""

    def __init__(self, names: list[str], var_kw: bool, prompts: dict[str, str] | None = None):
        params = [inspect.Parameter("texts", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]
        if var_kw:
            params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
        self.calls: list[dict] = []

        def encode(texts, **kwargs):
            self.calls.append(kwargs)
            return np.ones((len(texts), 4), dtype=np.float32)

        encode.__signature__ = inspect.Signature(params)
        self.encode = encode
        if prompts is not None:
            self.prompts = prompts


@settings(max_examples=80, deadline=None)
@given(names=st.lists(st.sampled_from(_OPTIONAL), unique=True), var_kw=st.booleans(),
       has_prompts=st.booleans())
def test_only_keywords_the_signature_takes(names, var_kw, has_prompts):
    model = _Recorder(names, var_kw, {"query": "q: ", "document": "d: "} if has_prompts else None)
    enc = EncodeOnlyEncoder(model)
    enc.encode_queries(["a", "b"], batch_size=7, show_progress_bar=False, convert_to_tensor=False)
    enc.encode_corpus([{"title": "t", "text": "x"}], batch_size=7)
    q, d = model.calls
    for kwargs, index, role in ((q, 0, "query"), (d, 1, "document")):
        # role keywords: only when named; never through **kwargs (a model may forward them anywhere)
        assert {k for k in ROLE_KEYWORDS if k in kwargs} == {k for k in ROLE_KEYWORDS if k in names}
        for key in ROLE_KEYWORDS:
            if key in names:
                assert kwargs[key] == ROLE_KEYWORDS[key][index]
        assert ("batch_size" in kwargs) == ("batch_size" in names or var_kw)
        if "batch_size" in kwargs:
            assert kwargs["batch_size"] == 7
        assert ("prompt_name" in kwargs) == ("prompt_name" in names and has_prompts)
        if "prompt_name" in kwargs:
            assert kwargs["prompt_name"] == role
        assert ("convert_to_numpy" in kwargs) == ("convert_to_numpy" in names)
        assert set(kwargs) <= set(_OPTIONAL)


def test_documents_are_title_and_text():
    model = _Recorder([], False)
    seen = []
    inner = model.encode

    def encode(texts, **kw):
        seen.extend(texts)
        return inner(texts, **kw)

    model.encode = encode
    EncodeOnlyEncoder(model).encode_corpus([{"title": "T", "text": "body"}, {"title": "", "text": " x "}, "plain"])
    assert seen == ["T body", "x", "plain"]


def test_load_encoder_wraps_encode_only_objects_and_specs():
    obj = EncodeOnly64()
    enc = load_encoder(obj)
    assert isinstance(enc, EncodeOnlyEncoder) and enc.similarity == "cosine"
    assert enc.fingerprint == "test-EncodeOnly64"
    spec = load_encoder("tests.reliability.fake_encoder:EncodeOnly64")
    assert isinstance(spec, EncodeOnlyEncoder) and spec.name == "tests.reliability.fake_encoder:EncodeOnly64"

    class Nothing:
        pass

    with pytest.raises(ModelError, match="or encode"):
        load_encoder(Nothing())


def test_encode_only_scores_equal_the_two_method_encoder(tmp_path):
    """The same vectors behind encode() and behind encode_queries/encode_corpus give the same evaluation."""
    from synrank.evaluation.pipeline import evaluate_model
    from tests.reliability.conftest import write_toy

    root = write_toy(tmp_path / "toy")
    model = EncodeOnly64()
    a = evaluate_model(model, str(root), mode="full", cache=False, show_progress=False)
    b = evaluate_model(Hash64(), str(root), mode="full", cache=False, show_progress=False)
    assert a.aggregate == b.aggregate and a.run == b.run
    assert model.calls and all(c == {"batch_size": 64, "show_progress_bar": False} for c in model.calls)


def test_sentence_transformer_behind_plain_encode(tiny_model):
    """An MTEB-style wrapper whose encode() calls a SentenceTransformer ranks exactly as synrank's own
    sentence-transformers adapter does (the tiny model declares dot product)."""
    from sentence_transformers import SentenceTransformer

    from synrank.retrieval.search import exact_search
    from tests.training.conftest import TOPICS

    st_model = SentenceTransformer(str(tiny_model), device="cpu")

    class Wrapper:
        similarity = "dot"

        def encode(self, sentences, batch_size=32, **kwargs):
            return st_model.encode(sentences, batch_size=batch_size, convert_to_numpy=True)

    corpus = {f"d{i}": {"title": " ".join(t[:1]), "text": " ".join(t[1:])} for i, t in enumerate(TOPICS[:8])}
    queries = {"q1": " ".join(TOPICS[0][:2]), "q2": " ".join(TOPICS[3][1:3] + TOPICS[5][:1])}
    ours = exact_search(load_encoder(str(tiny_model)), corpus, queries, top_k=5, cache=False, show_progress=False)
    theirs = exact_search(load_encoder(Wrapper()), corpus, queries, top_k=5, cache=False, show_progress=False)
    assert list(ours) == list(theirs)
    assert len({round(v, 4) for v in ours["q1"].values()}) > 3  # the texts are in the tiny model's vocabulary
    for qid in ours:
        assert list(ours[qid]) == list(theirs[qid])
        np.testing.assert_allclose(list(ours[qid].values()), list(theirs[qid].values()), rtol=1e-5, atol=1e-6)
