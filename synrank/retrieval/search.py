"""Exact dense retrieval (faiss inner product) and re-ranking of a candidate run.

Full retrieval encodes the corpus in chunks (longest documents first, as BEIR does, so that padding in
a batch is small) and keeps a running top-k per query, so memory is bounded by one chunk of embeddings
plus ``n_queries x top_k`` scores, whatever the corpus size. Each chunk is searched with
``faiss.IndexFlatIP`` (exact); cosine models are served by L2-normalised embeddings.

Ties are broken deterministically everywhere, as trec_eval breaks them: score descending, then document
id descending (string order), the rule :func:`synrank.data.trec.write_run` and the evaluator use. When faiss's top-k
boundary falls inside a group of equal scores, that query is searched again over the whole chunk so
the tie-break is exact rather than whatever faiss's heap kept.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from synrank.errors import DatasetError, ModelError
from synrank.provenance import Timings
from synrank.retrieval.cache import EmbeddingCache
from synrank.retrieval.encoders import encoder_fingerprint, encoder_similarity

logger = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]
DEFAULT_CHUNK_SIZE = 20_000
QUERY_BLOCK = 4096


def _as_doc(doc: Any) -> dict[str, str]:
    """A corpus entry as BEIR's ``{"title", "text"}`` dict (accepts dicts, Document objects, strings)."""
    if isinstance(doc, str):
        return {"title": "", "text": doc}
    if isinstance(doc, Mapping):
        return {"title": doc.get("title") or "", "text": doc.get("text") or ""}
    return {"title": getattr(doc, "title", "") or "", "text": getattr(doc, "text", "") or ""}


def _doc_key(doc: dict[str, str]) -> str:
    # Title and text stay separate in the cache key: how they are joined is the encoder's business
    # (and part of its fingerprint).
    return f"{doc['title']}\x1f{doc['text']}"


def _accepts(fn: Any, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _normalize(emb: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return emb / norms


def _model_label(encoder: Any) -> str:
    """How the user named the model: a SentenceTransformerEncoder's spec, else ``module:Class``."""
    name = getattr(encoder, "name", None)
    if isinstance(name, str) and name:
        return name
    cls = type(encoder)
    return f"{cls.__module__}:{cls.__qualname__}"


class _EncodingSession:
    """Encode through one encoder with caching, similarity handling and shape checks."""

    def __init__(self, encoder: Any, batch_size: int, cache: bool | EmbeddingCache, show_progress: bool):
        self.encoder = encoder
        self.batch_size = batch_size
        self.similarity = encoder_similarity(encoder)
        self.max_length = getattr(encoder, "max_length", None)
        self.show_progress = show_progress
        self.cache: EmbeddingCache | None = None
        if isinstance(cache, EmbeddingCache):
            self.cache = cache
        elif cache:
            fp = encoder_fingerprint(encoder)
            if fp:
                self.cache = EmbeddingCache(fp)
            else:
                logger.info("encoder %s has no fingerprint attribute: embedding cache not used",
                            type(encoder).__name__)
        self.dim: int | None = None

    def _call(self, method: str, items: list[Any]) -> np.ndarray:
        fn = getattr(self.encoder, method)
        kwargs: dict[str, Any] = {"batch_size": self.batch_size}
        if _accepts(fn, "show_progress_bar"):
            kwargs["show_progress_bar"] = self.show_progress
        if _accepts(fn, "convert_to_tensor"):
            kwargs["convert_to_tensor"] = False
        out = fn(items, **kwargs)
        if hasattr(out, "detach"):  # a torch tensor from a BEIR-style model
            out = out.detach().to("cpu").float().numpy()
        emb = np.asarray(out, dtype=np.float32)
        where = f"{_model_label(self.encoder)}: {method}"
        if emb.ndim != 2 or emb.shape[0] != len(items):
            raise ModelError(f"{where} returned shape {emb.shape} for {len(items)} inputs; expected "
                             f"({len(items)}, dim)", hint="an encoder must return one vector per input text")
        if self.dim is not None and emb.shape[1] != self.dim:
            raise ModelError(f"{where} returned dim {emb.shape[1]}, earlier blocks had {self.dim}",
                             hint="queries and documents must be embedded in one space of one size")
        finite = np.isfinite(emb).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            rows = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            raise ModelError(f"{where} returned NaN or inf embeddings ({len(bad)} of {len(items)} rows: {rows})",
                             hint="check the model's dtype and weights (an overflowed fp16/bf16 model does this)")
        self.dim = emb.shape[1]
        return emb

    def encode(self, role: str, items: list[Any], keys: list[str]) -> np.ndarray:
        method = "encode_queries" if role == "query" else "encode_corpus"
        if not items:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        emb = self.cache.get(role, keys, self.max_length) if self.cache else None
        if emb is None:
            emb = self._call(method, items)
            if self.cache:
                self.cache.put(role, keys, emb, self.max_length, model_name=getattr(self.encoder, "name", None))
        else:
            self.dim = emb.shape[1]
        if self.similarity == "cosine":
            emb = _normalize(emb)
        return np.ascontiguousarray(emb, dtype=np.float32)


def _corpus_order(corpus: Mapping[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """Documents longest first (title + text length, as BEIR), ties by id, for tight batches."""
    docs = {did: _as_doc(d) for did, d in corpus.items()}
    ids = sorted(docs, key=lambda d: (-(len(docs[d]["title"]) + len(docs[d]["text"])), d))
    return ids, [docs[d] for d in ids]


def _topk_chunk(index: Any, q: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """Top-k (score, local index) of one chunk for a block of queries.

    Returns ``(scores, idx, ties)`` with arrays of shape [n_q, min(k, n)]. Where the k-th and (k+1)-th
    scores are equal the set is ambiguous, so ``ties = (rows, full_scores, full_idx)`` gives those rows
    searched over the whole chunk; callers re-select them with the id tie-break.
    """
    if k >= n:
        scores, idx = index.search(q, n)
        return scores, idx, None
    scores, idx = index.search(q, k + 1)
    tie_rows = np.nonzero(scores[:, k - 1] == scores[:, k])[0]
    scores, idx = scores[:, :k].copy(), idx[:, :k].copy()
    if tie_rows.size:
        full_s, full_i = index.search(q[tie_rows], n)
        return scores, idx, (tie_rows, full_s, full_i)
    return scores, idx, None


def exact_search(encoder: Any, corpus: Mapping[str, Any], queries: Mapping[str, str], top_k: int = 1000,
                 batch_size: int = 64, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 cache: bool | EmbeddingCache = True, ignore_identical_ids: bool = False,
                 show_progress: bool = True, timings: Timings | None = None) -> Run:
    """Retrieve the ``top_k`` documents per query by exact inner product (cosine for cosine models).

    ``corpus``: doc id -> ``{"title", "text"}`` dict or Document; ``queries``: query id -> text.
    ``ignore_identical_ids`` drops a document whose id equals the query id (ArguAna, Quora), as BEIR does.
    Returns ``{qid: {docid: score}}`` with each ranking in trec_eval order (score desc, doc id desc).
    """
    import faiss  # loaded when a search runs: a BM25 or re-rank evaluation never needs it

    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    timings = timings if timings is not None else Timings()
    session = _EncodingSession(encoder, batch_size, cache, show_progress)
    qids = list(queries)
    qtexts = [queries[q] for q in qids]
    with timings.measure("encode_queries"):
        q_emb = session.encode("query", qtexts, qtexts)
    doc_ids, docs = _corpus_order(corpus)
    n_docs, n_q = len(doc_ids), len(qids)
    if n_docs == 0 or n_q == 0:
        return {q: {} for q in qids}
    # Rank of each doc id in descending string order (trec_eval's tie-break): the secondary key of every merge.
    id_rank = np.empty(n_docs, dtype=np.int64)
    id_rank[np.argsort(np.array(doc_ids, dtype=object), kind="stable")] = np.arange(n_docs)[::-1]
    qid_pos = {q: i for i, q in enumerate(qids)}
    doc_pos = {d: i for i, d in enumerate(doc_ids)}
    # Global position of the document whose id equals each query id (-2 when there is none).
    self_doc = np.array([doc_pos.get(q, -2) for q in qids], dtype=np.int64)
    k_eff = min(top_k, n_docs)
    extra = 1 if ignore_identical_ids else 0
    best_s = np.full((n_q, k_eff), -np.inf, dtype=np.float32)
    best_i = np.full((n_q, k_eff), -1, dtype=np.int64)

    n_chunks = (n_docs + chunk_size - 1) // chunk_size
    for c, start in enumerate(range(0, n_docs, chunk_size)):
        stop = min(start + chunk_size, n_docs)
        logger.info("corpus chunk %d/%d (%d docs)", c + 1, n_chunks, stop - start)
        chunk_docs = docs[start:stop]
        with timings.measure("encode_corpus"):
            emb = session.encode("doc", chunk_docs, [_doc_key(d) for d in chunk_docs])
        with timings.measure("search"):
            if emb.shape[1] != q_emb.shape[1]:
                raise ValueError(f"query embeddings have dim {q_emb.shape[1]} but documents {emb.shape[1]}")
            index = faiss.IndexFlatIP(emb.shape[1])
            index.add(emb)
            n = stop - start
            for qs in range(0, n_q, QUERY_BLOCK):
                qe = min(qs + QUERY_BLOCK, n_q)
                scores, local, ties = _topk_chunk(index, q_emb[qs:qe], k_eff + extra, n)
                cand_s = np.concatenate([best_s[qs:qe], scores], axis=1)
                cand_i = np.concatenate([best_i[qs:qe], np.where(local >= 0, local + start, -1)], axis=1)
                if ties is not None:  # exact re-selection for rows whose top-k boundary is a tie
                    rows, full_s, full_i = ties
                    for r, fs, fi in zip(rows, full_s, full_i, strict=True):
                        keep = fs >= fs[k_eff + extra - 1]
                        row_s = np.concatenate([best_s[qs + r], fs[keep]])
                        row_i = np.concatenate([best_i[qs + r], fi[keep] + start])
                        if ignore_identical_ids:
                            same = row_i == self_doc[qs + r]
                            row_s, row_i = np.where(same, -np.inf, row_s), np.where(same, -1, row_i)
                        key = np.where(row_i >= 0, id_rank[np.maximum(row_i, 0)], n_docs)
                        order = np.lexsort((key, -row_s))[:k_eff]
                        cand_s[r, :] = -np.inf
                        cand_i[r, :] = -1
                        cand_s[r, :order.size], cand_i[r, :order.size] = row_s[order], row_i[order]
                if ignore_identical_ids:
                    same = (cand_i == self_doc[qs:qe, None]) & (cand_i >= 0)
                    cand_s[same] = -np.inf
                    cand_i[same] = -1
                rank_key = np.where(cand_i >= 0, id_rank[np.maximum(cand_i, 0)], n_docs)
                order = np.lexsort((rank_key, -cand_s), axis=-1)[:, :k_eff]
                best_s[qs:qe] = np.take_along_axis(cand_s, order, axis=1)
                best_i[qs:qe] = np.take_along_axis(cand_i, order, axis=1)
            del index, emb
    if session.cache:
        logger.info("embedding cache: %d hits, %d misses", session.cache.hits, session.cache.misses)
    run: Run = {}
    for q in qids:
        r = qid_pos[q]
        valid = best_i[r] >= 0
        run[q] = {doc_ids[i]: float(s) for s, i in zip(best_s[r][valid], best_i[r][valid], strict=True)}
    return run


def rerank(encoder: Any, corpus: Mapping[str, Any], queries: Mapping[str, str], candidates_run: Mapping[str, Mapping[str, float]],
           batch_size: int = 64, chunk_size: int = DEFAULT_CHUNK_SIZE, cache: bool | EmbeddingCache = True,
           ignore_identical_ids: bool = False, top_k: int | None = None, show_progress: bool = True,
           timings: Timings | None = None) -> Run:
    """Score only each query's candidate documents (e.g. a BM25 top-100) with the encoder.

    Every candidate must be in ``corpus`` (else :class:`DatasetError`). Queries of the run that are not in
    ``queries`` are ignored (counted in a warning); queries without candidates get an empty ranking.
    """
    timings = timings if timings is not None else Timings()
    session = _EncodingSession(encoder, batch_size, cache, show_progress)
    qids = list(queries)
    extra_q = [q for q in candidates_run if q not in queries]
    if extra_q:
        logger.warning("candidate run has %d queries not in the query set (ignored), e.g. %s",
                       len(extra_q), extra_q[:3])
    needed = sorted({d for q in qids for d in candidates_run.get(q, {})})
    missing = [d for d in needed if d not in corpus]
    if missing:
        raise DatasetError(f"{len(missing)} candidate documents are not in the corpus, e.g. {missing[:5]}",
                           hint="the candidate run must come from the same collection as the corpus")
    with timings.measure("encode_queries"):
        q_emb = session.encode("query", [queries[q] for q in qids], [queries[q] for q in qids])
    sub_ids, sub_docs = _corpus_order({d: corpus[d] for d in needed})
    parts = []
    for start in range(0, len(sub_ids), chunk_size):
        chunk = sub_docs[start:start + chunk_size]
        with timings.measure("encode_corpus"):
            parts.append(session.encode("doc", chunk, [_doc_key(d) for d in chunk]))
    run: Run = {}
    with timings.measure("search"):
        d_emb = np.concatenate(parts) if parts else np.zeros((0, q_emb.shape[1]), np.float32)
        pos = {d: i for i, d in enumerate(sub_ids)}
        for qi, q in enumerate(qids):
            cands = sorted(candidates_run.get(q, {}), reverse=True)
            if ignore_identical_ids:
                cands = [d for d in cands if d != q]
            if not cands:
                run[q] = {}
                continue
            rows = np.fromiter((pos[d] for d in cands), dtype=np.int64, count=len(cands))
            scores = d_emb[rows] @ q_emb[qi]
            order = np.lexsort((np.arange(len(cands)), -scores))  # cands in id-descending order: ties by id desc
            if top_k is not None:
                order = order[:top_k]
            run[q] = {cands[i]: float(scores[i]) for i in order}
    return run
