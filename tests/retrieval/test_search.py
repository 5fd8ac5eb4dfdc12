"""exact_search / rerank against a brute-force reference (float64 numpy, sorted by score desc then id desc)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synrank.data.trec import sort_run_items
from synrank.errors import DatasetError, ModelError
from synrank.retrieval.cache import EmbeddingCache
from synrank.retrieval.search import exact_search, rerank
from tests.retrieval.toy import ToyEncoder


def make_corpus(n: int, n_distinct: int | None = None) -> dict[str, dict[str, str]]:
    # ids deliberately not in string order of creation; duplicate texts give exactly tied scores
    n_distinct = n_distinct or n
    return {f"d{(i * 7919) % 10007}": {"title": f"t{i % 5}", "text": f"text number {i % n_distinct}"}
            for i in range(n)}


def brute_force(enc: ToyEncoder, corpus, queries, k, cosine=False, ignore_identical=False):
    ids = list(corpus)
    d = np.stack([enc._vec((corpus[i]["title"] + " " + corpus[i]["text"]).strip()) for i in ids]).astype(np.float64)
    q = np.stack([enc._vec(t) for t in queries.values()]).astype(np.float64)
    if cosine:
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    s = q @ d.T
    run = {}
    for qi, qid in enumerate(queries):
        order = sorted(sorted(range(len(ids)), key=lambda j: ids[j], reverse=True), key=lambda j: -s[qi, j])
        if ignore_identical:
            order = [j for j in order if ids[j] != qid]
        run[qid] = [(ids[j], s[qi, j]) for j in order[:k]]
    return run


@pytest.mark.parametrize("chunk_size", [7, 64, 10_000])
def test_exact_search_matches_brute_force_with_ties(chunk_size):
    enc = ToyEncoder(dim=6, integer=True)
    corpus = make_corpus(150, n_distinct=40)  # every text appears ~4 times: exact ties everywhere
    queries = {f"q{i}": f"query {i}" for i in range(25)}
    run = exact_search(enc, corpus, queries, top_k=20, chunk_size=chunk_size, cache=False, show_progress=False)
    ref = brute_force(enc, corpus, queries, 20)
    for qid in queries:
        assert list(run[qid]) == [d for d, _ in ref[qid]], qid
        assert np.allclose(list(run[qid].values()), [s for _, s in ref[qid]], atol=1e-6)
    # a tie group straddles the top-k boundary somewhere, so the exact re-selection path ran
    assert any(ref[q][19][1] == ref[q][18][1] for q in queries)


def test_cosine_and_ignore_identical_ids():
    enc = ToyEncoder(dim=16, similarity="cosine", scale_by_length=True)
    corpus = make_corpus(80)
    # some query ids equal document ids
    queries = {did: f"query about {did}" for did in list(corpus)[:5]} | {"qx": "other"}
    run = exact_search(enc, corpus, queries, top_k=10, chunk_size=30, cache=False, show_progress=False,
                       ignore_identical_ids=True)
    ref = brute_force(enc, corpus, queries, 10, cosine=True, ignore_identical=True)
    for qid in queries:
        assert qid not in run[qid]
        assert list(run[qid]) == [d for d, _ in ref[qid]]
        assert np.allclose(list(run[qid].values()), [s for _, s in ref[qid]], atol=1e-5)


def test_top_k_larger_than_corpus_and_empty_inputs():
    enc = ToyEncoder()
    corpus = make_corpus(5)
    run = exact_search(enc, corpus, {"q": "x"}, top_k=100, cache=False, show_progress=False)
    assert len(run["q"]) == 5
    assert exact_search(enc, corpus, {}, top_k=3, cache=False, show_progress=False) == {}
    with pytest.raises(ValueError):
        exact_search(enc, corpus, {"q": "x"}, top_k=0, cache=False)


def test_cache_serves_second_run(tmp_path):
    enc = ToyEncoder()
    corpus, queries = make_corpus(60), {"q1": "a", "q2": "b"}
    cache = EmbeddingCache(enc.fingerprint, root=tmp_path)
    first = exact_search(enc, corpus, queries, top_k=5, chunk_size=25, cache=cache, show_progress=False)
    n = enc.encoded
    assert n == 62
    cache2 = EmbeddingCache(enc.fingerprint, root=tmp_path)
    second = exact_search(enc, corpus, queries, top_k=5, chunk_size=25, cache=cache2, show_progress=False)
    assert second == first
    assert enc.encoded == n  # nothing re-encoded
    assert cache2.hits == 4 and cache2.misses == 0  # 3 corpus chunks + queries
    # changed text in one chunk: only that chunk is re-encoded
    corpus[next(iter(corpus))] = {"title": "", "text": "changed"}
    exact_search(enc, corpus, queries, top_k=5, chunk_size=25, cache=EmbeddingCache(enc.fingerprint, root=tmp_path),
                 show_progress=False)
    assert enc.encoded > n


def test_encoder_without_fingerprint_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path))
    enc = ToyEncoder(fingerprint=None)
    exact_search(enc, make_corpus(10), {"q": "x"}, top_k=3, show_progress=False)
    exact_search(enc, make_corpus(10), {"q": "x"}, top_k=3, show_progress=False)
    assert enc.encoded == 22
    assert not (tmp_path / "embeddings").exists()


def test_bad_encoder_output_is_reported():
    class Broken(ToyEncoder):
        def encode_corpus(self, corpus, batch_size=16, **kw):
            return np.zeros((len(corpus) - 1, self.dim), np.float32)

    with pytest.raises(ModelError, match=r"test_search:.*Broken: encode_corpus returned shape \(3, 8\) for 4"):
        exact_search(Broken(), make_corpus(4), {"q": "x"}, top_k=2, cache=False, show_progress=False)

    class NaNs(ToyEncoder):
        name = "my-model"

        def encode_corpus(self, corpus, batch_size=16, **kw):
            out = super().encode_corpus(corpus, batch_size, **kw)
            out[1::2] = np.inf
            return out

    with pytest.raises(ModelError, match=r"^my-model: encode_corpus returned NaN or inf embeddings "
                       r"\(6 of 12 rows: 1, 3, 5, 7, 9, \.\.\.\) \(check the model's dtype"):
        exact_search(NaNs(), make_corpus(12), {"q": "x"}, top_k=2, cache=False, show_progress=False)


def test_rerank_scores_only_candidates():
    enc = ToyEncoder(dim=6, integer=True)
    corpus = make_corpus(50, n_distinct=10)
    ids = list(corpus)
    queries = {"q1": "first", "q2": "second", "q3": "no candidates"}
    cands = {"q1": {d: 1.0 for d in ids[:15]}, "q2": {d: 0.0 for d in ids[10:40]}, "qz": {ids[0]: 1.0}}
    run = rerank(enc, corpus, queries, cands, cache=False, show_progress=False)
    assert run["q3"] == {}
    for qid in ("q1", "q2"):
        sub = {d: corpus[d] for d in cands[qid]}
        ref = brute_force(enc, sub, {qid: queries[qid]}, len(sub))[qid]
        assert list(run[qid]) == [d for d, _ in ref]
        assert np.allclose(list(run[qid].values()), [s for _, s in ref])
    top = rerank(enc, corpus, queries, cands, cache=False, show_progress=False, top_k=3)
    assert list(top["q1"]) == list(run["q1"])[:3]
    with pytest.raises(DatasetError, match="not in the corpus"):
        rerank(enc, corpus, queries, {"q1": {"missing-doc": 1.0}}, cache=False, show_progress=False)


def test_minilm_matches_beir_exact_search_on_real_slice(shared_datasets, minilm_path):
    """Independent reference: beir's DenseRetrievalExactSearch + SentenceBERT on a slice of scifact."""
    from beir.retrieval.models import SentenceBERT
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    from synrank.retrieval.encoders import load_encoder

    corpus = {}
    with open(shared_datasets / "scifact" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            corpus[rec["_id"]] = {"title": rec["title"], "text": rec["text"]}
            if len(corpus) == 120:
                break
    queries = {}
    with open(shared_datasets / "scifact" / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            queries[rec["_id"]] = rec["text"]
            if len(queries) == 8:
                break
    ours = exact_search(load_encoder(str(minilm_path), backend="torch-fp32"), corpus, queries, top_k=10, batch_size=32,
                        cache=False, show_progress=False)
    beir = DenseRetrievalExactSearch(SentenceBERT(str(minilm_path)), batch_size=32, show_progress_bar=False)
    ref = beir.search(corpus, queries, top_k=10, score_function="cos_sim")
    for qid in queries:
        ref_sorted = sort_run_items(ref[qid])
        assert list(ours[qid]) == [d for d, _ in ref_sorted]
        assert np.allclose(list(ours[qid].values()), [s for _, s in ref_sorted], atol=1e-4)
