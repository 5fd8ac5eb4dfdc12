"""Keep evaluation queries out of training data.

The synthetic generator picks real queries to write passages for, and the trainer reads graded
groups built around queries. If a TREC DL 2019/2020 query or a BEIR test query slipped into either,
the reported scores would be inflated. :func:`evaluation_guard` collects every evaluation query
found in the dataset search path; generator and trainer call :meth:`EvaluationQueryGuard.filter`
or :meth:`EvaluationQueryGuard.assert_clean` on their queries.

What counts as evaluation material: for each dataset folder that is not a training pool
(``msmarco-dev-*`` are the generation pool and are excluded), the queries judged in every split
except ``train*``; when a folder has no ``train*`` split, every query of its ``queries.jsonl``
(an evaluation set's unjudged topics are still evaluation material). Scifact's train queries are
therefore allowed, its test queries are not.

Matching is on :func:`normalize_query` (Unicode NFKC, case-folded, punctuation and whitespace
runs collapsed), so ``"What is X?"`` and ``"what is x"`` are the same query.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from synrank.data.beir import read_qrels, read_queries
from synrank.data.folders import list_datasets
from synrank.errors import DatasetError

logger = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[\W_]+")


def normalize_query(text: str) -> str:
    """Canonical form for matching queries: NFKC, case-folded, non-alphanumeric runs -> one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


class EvaluationQueryGuard:
    """A set of normalized evaluation queries, each remembering where it came from."""

    def __init__(self) -> None:
        self._origins: dict[str, list[str]] = {}
        self.datasets: list[str] = []

    def add(self, text: str, origin: str) -> None:
        """Register ``text`` as an evaluation query (``origin`` such as ``"trec-dl-2019/test:19335"``)."""
        key = normalize_query(text)
        if key:
            self._origins.setdefault(key, []).append(origin)

    def __len__(self) -> int:
        return len(self._origins)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.is_evaluation_query(text)

    def is_evaluation_query(self, text: str) -> bool:
        return normalize_query(text) in self._origins

    def origins(self, text: str) -> list[str]:
        """Where ``text`` occurs as an evaluation query (empty when it does not)."""
        return list(self._origins.get(normalize_query(text), ()))

    def filter(self, queries: dict[str, str]) -> dict[str, str]:
        """``queries`` without the evaluation queries (the number removed is logged)."""
        kept = {qid: text for qid, text in queries.items() if not self.is_evaluation_query(text)}
        removed = len(queries) - len(kept)
        if removed:
            logger.warning("leakage guard: removed %d of %d queries that are evaluation queries", removed,
                           len(queries))
        return kept

    def assert_clean(self, texts: Iterable[str], source: str) -> None:
        """Raise :class:`DatasetError` naming ``source`` if any text is an evaluation query."""
        hits: list[tuple[int, str, list[str]]] = []
        for i, text in enumerate(texts, 1):
            origins = self._origins.get(normalize_query(text))
            if origins:
                hits.append((i, text, origins))
        if hits:
            i, text, origins = hits[0]
            raise DatasetError(
                f"{len(hits)} evaluation quer{'y' if len(hits) == 1 else 'ies'} in training data; first: "
                f"item {i} {text!r} = {', '.join(origins[:3])}", source,
                hint="drop them, e.g. with evaluation_guard().filter(queries), before generating or training")

    def __repr__(self) -> str:
        return f"EvaluationQueryGuard({len(self)} queries from {', '.join(self.datasets) or 'nothing'})"


def evaluation_guard(search_path: Iterable[Path] | None = None) -> EvaluationQueryGuard:
    """Build the guard from every evaluation set in ``search_path`` (default: the dataset search path).

    A malformed evaluation folder raises instead of being skipped: a guard that silently misses
    a dataset would let its queries leak.
    """
    guard = EvaluationQueryGuard()
    # The guard needs only query texts and judged ids; the loaders' tolerated-quirk warnings (e.g.
    # cranfield's negative raw codes) concern evaluation, not this, and would print on every train/generate.
    beir_log = logging.getLogger("synrank.data.beir")
    level = beir_log.level
    beir_log.setLevel(logging.ERROR)
    try:
        _collect(guard, search_path)
    finally:
        beir_log.setLevel(level)
    return guard


def _collect(guard: EvaluationQueryGuard, search_path: Iterable[Path] | None) -> None:
    for info in list_datasets(search_path):
        if info.training_pool or not info.has_queries:
            continue
        eval_splits = info.evaluation_splits
        has_train = len(eval_splits) < len(info.splits)
        if not eval_splits and has_train:
            continue  # only training judgements
        if not info.splits:
            continue  # queries without judgements: not an evaluation set
        queries, _ = read_queries(info.queries_path)
        judged: set[str] = set()
        for split in eval_splits:
            qrels, _ = read_qrels(info.qrels_path(split), queries, None,
                                  allow_negative=split in info.negative_grade_splits)
            judged.update(qrels)
        selected = judged if has_train else queries.keys()
        split_label = "+".join(eval_splits)
        for qid in selected:
            guard.add(queries[qid], f"{info.name}/{split_label}:{qid}")
        guard.datasets.append(info.name)
        logger.debug("leakage guard: %d queries from %s", len(selected), info.name)
