"""BM25 baseline through `bm25s <https://github.com/xhluca/bm25s>`_.

Why bm25s: it is maintained, pure Python on numpy/scipy (sparse precomputed score matrix: indexing
scifact takes about a second, querying is milliseconds), and implements Lucene's BM25 variant, the one
Anserini/Pyserini use for the published BEIR and TREC DL baselines. ``rank_bm25`` is unmaintained and
scores every document in Python per query (orders of magnitude slower on large corpora); Pyserini is the
reference implementation but needs a Java runtime and prebuilt Lucene indexes, which a pip-only install
cannot provide.

Settings (stated, so results are comparable):
- ``k1=0.9, b=0.4``: Pyserini's defaults for the BEIR "flat" and MS MARCO passage baselines.
- ``method="lucene"``: Lucene's idf ``log(1 + (N - df + 0.5) / (df + 0.5))`` and length normalisation.
- documents are indexed as ``title + " " + text`` (Pyserini's BEIR "flat" index: one field).
- tokenizer: lower-case, ``\\w\\w+`` tokens (scikit-learn's pattern, bm25s's default), Lucene's 33 English
  stop words (bm25s ``"en"``), Porter stemmer (PyStemmer ``"porter"``, the stemmer of Lucene's
  EnglishAnalyzer that Anserini uses by default). Lucene's analyzer also splits on some punctuation
  that this regex keeps inside tokens, so scores differ slightly from Pyserini's.

Rankings use the project-wide order, trec_eval's: score descending, then document id descending;
documents with score 0 (no query term) are not returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from synrank.data.trec import sort_run_items
from synrank.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]


def _porter_stemmer() -> Any:
    try:
        import Stemmer  # checked here: a missing PyStemmer is one clear error, not an import failure
    except ImportError as exc:
        raise ConfigError("BM25 with stemming needs PyStemmer", hint="pip install PyStemmer, or pass stemmer=None") from exc
    return Stemmer.Stemmer("porter")


def _doc_text(doc: Any) -> str:
    if isinstance(doc, str):
        return doc
    if isinstance(doc, Mapping):
        title, text = doc.get("title") or "", doc.get("text") or ""
    else:
        title, text = getattr(doc, "title", "") or "", getattr(doc, "text", "") or ""
    return f"{title} {text}".strip()


class BM25Index:
    """An in-memory BM25 index over a corpus (``doc id -> text | {"title","text"} | Document``)."""

    def __init__(self, corpus: Mapping[str, Any], k1: float = 0.9, b: float = 0.4, method: str = "lucene",
                 stemmer: str | None = "porter", stopwords: str | list[str] | None = "en",
                 show_progress: bool = False):
        import bm25s  # bm25s loads scipy (~0.4 s): only a BM25 index needs it
        from bm25s.tokenization import Tokenizer  # as above

        if not corpus:
            raise ValueError("BM25Index needs a non-empty corpus")
        self.k1, self.b, self.method = float(k1), float(b), method
        self.stemmer_name, self.stopwords = stemmer, stopwords
        stem = None
        if stemmer == "porter":
            stem = _porter_stemmer()
        elif stemmer is not None:
            try:
                import Stemmer  # as in _porter_stemmer
            except ImportError as exc:
                raise ConfigError(f"stemmer {stemmer!r} needs PyStemmer", hint="pip install PyStemmer") from exc
            stem = Stemmer.Stemmer(stemmer)
        self.doc_ids = list(corpus)
        self._tokenizer = Tokenizer(lower=True, stopwords=stopwords or [], stemmer=stem)
        texts = [_doc_text(corpus[d]) for d in self.doc_ids]
        tokens = self._tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=show_progress,
                                         allow_empty=False)  # a document with no term has length 0, as in Lucene
        self._model = bm25s.BM25(k1=self.k1, b=self.b, method=method)
        self._model.index(tokens, show_progress=show_progress)
        self._empty_id = self._tokenizer.get_vocab_dict().get("", -1)
        # Rank of each id in descending string order (trec_eval's tie-break): the secondary sort key.
        self._id_rank = np.empty(len(self.doc_ids), dtype=np.int64)
        self._id_rank[np.argsort(np.array(self.doc_ids, dtype=object), kind="stable")] = np.arange(len(self.doc_ids))[::-1]
        self.show_progress = show_progress

    @property
    def config(self) -> dict[str, Any]:
        return {"library": "bm25s", "k1": self.k1, "b": self.b, "method": self.method,
                "stemmer": self.stemmer_name, "stopwords": self.stopwords if isinstance(self.stopwords, str)
                else len(self.stopwords or []), "fields": "title + ' ' + text"}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document (corpus order) for one query."""
        ids = self._tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        # bm25s maps a text with no known token to the empty-string token, which documents with no
        # indexable token also carry; such a query matches nothing.
        ids = [i for i in ids if i != self._empty_id]
        if not ids:
            return np.zeros(len(self.doc_ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(ids), dtype=np.float32)

    def search(self, queries: Mapping[str, str], top_k: int = 1000,
               ignore_identical_ids: bool = False) -> Run:
        """Top ``top_k`` documents per query, ``{qid: {docid: score}}`` in trec_eval order (score desc, id desc)."""
        run: Run = {}
        for qid, text in queries.items():
            s = self.scores(text)
            if ignore_identical_ids and qid in self._pos:
                s = s.copy()
                s[self._pos[qid]] = 0.0
            nz = np.nonzero(s > 0)[0]
            if nz.size > top_k:
                kth = np.partition(s[nz], nz.size - top_k)[nz.size - top_k]
                nz = nz[s[nz] >= kth]  # keep every tie at the boundary, then cut after the id sort
            order = nz[np.lexsort((self._id_rank[nz], -s[nz]))][:top_k]
            run[qid] = {self.doc_ids[i]: float(s[i]) for i in order}
        return run

    def rerank(self, queries: Mapping[str, str], candidates_run: Mapping[str, Mapping[str, float]],
               top_k: int | None = None, ignore_identical_ids: bool = False) -> Run:
        """Score only each query's candidates (documents must be in the index), (score desc, id asc)."""
        missing = sorted({d for q in queries for d in candidates_run.get(q, {}) if d not in self._pos})
        if missing:
            raise DatasetError(f"{len(missing)} candidate documents are not in the corpus, e.g. {missing[:5]}")
        run: Run = {}
        for qid, text in queries.items():
            cands = [d for d in candidates_run.get(qid, {}) if not (ignore_identical_ids and d == qid)]
            s = self.scores(text)
            ranked = sort_run_items((d, float(s[self._pos[d]])) for d in cands)
            run[qid] = dict(ranked[:top_k] if top_k is not None else ranked)
        return run

    @property
    def _pos(self) -> dict[str, int]:
        if not hasattr(self, "_pos_cache"):
            self._pos_cache = {d: i for i, d in enumerate(self.doc_ids)}
        return self._pos_cache
