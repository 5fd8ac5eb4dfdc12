"""Embedding cache: keys, round trip, corruption handling, no pickle."""

from __future__ import annotations

import numpy as np

from synrank.retrieval.cache import EmbeddingCache, texts_digest


def test_round_trip_and_keys(tmp_path):
    cache = EmbeddingCache("fp-a", root=tmp_path)
    texts = ["alpha", "beta"]
    emb = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert cache.get("doc", texts, 256) is None
    path = cache.put("doc", texts, emb, 256, model_name="m")
    assert path is not None and path.suffix == ".npy"
    got = cache.get("doc", texts, 256)
    assert got.dtype == np.float32 and np.array_equal(got, emb.astype(np.float32))
    assert (cache.hits, cache.misses) == (1, 1)
    # any change in role, max length, texts, order or model gives a different entry
    assert cache.get("query", texts, 256) is None
    assert cache.get("doc", texts, 128) is None
    assert cache.get("doc", ["beta", "alpha"], 256) is None
    assert EmbeddingCache("fp-b", root=tmp_path).get("doc", texts, 256) is None
    # length-prefixed digest: boundaries between texts matter
    assert texts_digest(["ab", "c"]) != texts_digest(["a", "bc"])


def test_entries_are_plain_npy_without_pickle(tmp_path):
    cache = EmbeddingCache("fp", root=tmp_path)
    path = cache.put("doc", ["x"], np.ones((1, 4)))
    arr = np.load(path, allow_pickle=False)  # would raise for a pickled object array
    assert arr.shape == (1, 4)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic write left no temp file


def test_corrupt_or_mismatched_entry_is_a_miss(tmp_path):
    cache = EmbeddingCache("fp", root=tmp_path)
    path = cache.put("doc", ["x", "y"], np.ones((2, 4)))
    path.write_bytes(path.read_bytes()[:20])  # truncated, e.g. disk full in an old version
    assert cache.get("doc", ["x", "y"]) is None
    cache.put("doc", ["x", "y"], np.ones((2, 4)))
    assert cache.get("doc", ["x", "y"]) is not None
