"""Score a run against qrels with pytrec_eval (trec_eval's C code), with synrank's conventions.

What this adds on top of a bare ``pytrec_eval.RelevanceEvaluator(qrels, ...).evaluate(run)``:

- **Every judged query counts.** pytrec_eval silently leaves out queries the run does not contain
  (so its mean would be over the intersection); here a judged query with nothing retrieved scores
  0 on every measure and means are over all judged queries (trec_eval's ``-c``). Queries in the run
  that have no judgments are ignored, counted and logged once.
- **trec_eval's ranking, exactly.** Scores go to pytrec_eval as they are, so ties are resolved as
  trec_eval resolves them (score descending, then doc id descending; the rank column of a run file
  is ignored). Runs are written in that same order (:func:`synrank.data.trec.sort_run_items`), so
  trec_eval, ir_measures and ranx reproduce every measure from the written ``run.trec.gz``.
- **Relevance threshold.** Binary measures (MAP, Recall, P, MRR) count grade >= threshold as
  relevant (trec_eval ``-l``), or >= the measure's own level when it names one (``MAP(rel=2)``); nDCG
  always uses the raw grades as linear gains (trec_eval does not apply ``-l`` to nDCG).
- **MRR@k** is trec_eval's ``recip_rank`` on the run cut at depth k in trec_eval's order
  (``trec_eval -M k -m recip_rank``).
- **Negative grades** (e.g. Cranfield's raw codes) are passed to trec_eval unchanged, which
  treats them like 0: non-relevant, no gain.
- **ignore_identical_ids** drops a document whose id equals the query id from the run (as BEIR
  does for ArguAna and Quora, where a query is also a corpus document).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytrec_eval

from synrank.data.trec import sort_run_items
from synrank.errors import SynrankError
from synrank.evaluation.measures import DEFAULT_MEASURES, Measure, parse_measures, pytrec_eval_measures
from synrank.records import EvaluationSummary, PerQueryScores

logger = logging.getLogger(__name__)

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


@dataclass
class EvalResult:
    """Per-query and mean scores of one run.

    ``per_query`` holds every judged query (0.0 on every measure when nothing was retrieved);
    ``aggregate`` is the float64 mean over those ``n_queries`` queries.
    """

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int
    measures: tuple[str, ...]
    relevance_threshold: int = 1
    ignore_identical_ids: bool = False
    #: judged queries absent from the run (or left empty after dropping identical ids): scored 0
    n_queries_not_retrieved: int = 0
    #: judged queries without any document at or above the relevance threshold (binary measures are 0)
    n_queries_without_relevant: int = 0
    #: queries in the run that have no judgments: ignored
    n_unjudged_run_queries: int = 0
    #: (query, document) pairs removed because the ids were identical
    n_identical_ids_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per judged query (``query_id`` then the measures), in query-id order."""
        return [{"query_id": qid, **{m: self.per_query[qid][m] for m in self.measures}}
                for qid in sorted(self.per_query)]

    def per_query_scores(self) -> PerQueryScores:
        """The per-query scores as ``per_query.tsv`` holds them."""
        return PerQueryScores.from_rows(self.measures, self.per_query)

    def evaluation_summary(self) -> EvaluationSummary:
        """How the run was scored, as ``metrics.json`` records it (:meth:`summary` without the scores)."""
        return EvaluationSummary(**{k: v for k, v in self.summary().items() if k != "aggregate"})

    def summary(self) -> dict[str, Any]:
        """JSON-able description of the result without the per-query values."""
        return {
            "aggregate": dict(self.aggregate),
            "n_queries": self.n_queries,
            "measures": list(self.measures),
            "relevance_threshold": self.relevance_threshold,
            "ignore_identical_ids": self.ignore_identical_ids,
            "n_queries_not_retrieved": self.n_queries_not_retrieved,
            "n_queries_without_relevant": self.n_queries_without_relevant,
            "n_unjudged_run_queries": self.n_unjudged_run_queries,
            "n_identical_ids_dropped": self.n_identical_ids_dropped,
        }


def _clean_qrels(qrels: Qrels) -> dict[str, dict[str, int]]:
    """String ids and int grades (pytrec_eval needs exactly these types); queries without any
    judgment are not judged queries."""
    out: dict[str, dict[str, int]] = {}
    for qid, docs in qrels.items():
        if not docs:
            continue
        clean: dict[str, int] = {}
        for doc_id, grade in docs.items():
            if isinstance(grade, bool) or float(grade) != int(grade):
                raise SynrankError(f"qrels: query {qid!r} document {doc_id!r} has non-integer grade {grade!r}")
            clean[str(doc_id)] = int(grade)
        out[str(qid)] = clean
    return out


def _scores(ranked: list[tuple[str, float]], depth: int | None = None) -> dict[str, float]:
    """The run's own scores of an already ranked list (trec_eval order), cut at ``depth``."""
    if depth is not None:
        ranked = ranked[:depth]
    return dict(ranked)


def evaluate_run(
    qrels: Qrels,
    run: Run,
    measures: Iterable[str | Measure] | str = DEFAULT_MEASURES,
    relevance_threshold: int = 1,
    ignore_identical_ids: bool = False,
) -> EvalResult:
    """Evaluate ``run`` (``{qid: {docid: score}}``) against ``qrels`` (``{qid: {docid: grade}}``).

    See the module docstring for the conventions. Raises :class:`SynrankError` when the qrels judge
    no query, or a grade/score is unusable (non-integer grade, NaN score).
    """
    parsed = parse_measures(measures)
    names = tuple(m.name for m in parsed)
    if isinstance(relevance_threshold, bool) or int(relevance_threshold) != relevance_threshold \
            or relevance_threshold < 1:
        raise SynrankError(f"relevance_threshold must be an integer >= 1, got {relevance_threshold!r}")
    relevance_threshold = int(relevance_threshold)
    clean_qrels = _clean_qrels(qrels)
    if not clean_qrels:
        raise SynrankError("qrels judge no query: nothing to evaluate")

    # 1. restrict the run to judged queries; drop identical ids; rank deterministically
    unjudged = [str(q) for q in run if str(q) not in clean_qrels]
    dropped = 0
    prepared: dict[str, list[tuple[str, float]]] = {}
    for qid, docs in run.items():
        qid = str(qid)
        if qid not in clean_qrels:
            continue
        items = [(str(d), s) for d, s in docs.items()]
        if ignore_identical_ids:
            kept = [(d, s) for d, s in items if d != qid]
            dropped += len(items) - len(kept)
            items = kept
        try:
            ranked = sort_run_items(items)
        except ValueError as exc:
            raise SynrankError(f"run: query {qid!r}: {exc}") from exc
        if ranked:
            prepared[qid] = ranked
    if unjudged:
        logger.warning("%d of %d queries in the run have no judgments and are ignored (e.g. %s)",
                       len(unjudged), len(run), ", ".join(sorted(unjudged)[:3]))
    if dropped:
        logger.info("ignore_identical_ids: dropped %d retrieved documents whose id equals the query id", dropped)

    # 2. pytrec_eval on the run's own scores: per relevance level, once on the full ranking and once
    #    per MRR depth on the ranking cut at that depth
    per_query: dict[str, dict[str, float]] = {qid: {} for qid in clean_qrels}
    for level in sorted({m.relevance_level(relevance_threshold) for m in parsed}):
        at_level = [m for m in parsed if m.relevance_level(relevance_threshold) == level]
        full = [m for m in at_level if m.run_cutoff is None]
        cut = [m for m in at_level if m.run_cutoff is not None]
        if full:
            evaluator = pytrec_eval.RelevanceEvaluator(clean_qrels, pytrec_eval_measures(full),
                                                       relevance_level=level)
            _collect(evaluator.evaluate({q: _scores(items) for q, items in prepared.items()}), full, per_query)
        if cut:
            rr = pytrec_eval.RelevanceEvaluator(clean_qrels, {"recip_rank"}, relevance_level=level)
            for depth in sorted({m.run_cutoff for m in cut if m.run_cutoff is not None}):
                scores = rr.evaluate({q: _scores(items, depth) for q, items in prepared.items()})
                _collect(scores, [m for m in cut if m.run_cutoff == depth], per_query)

    # 3. judged queries pytrec_eval did not report score 0; mean over all judged queries
    for values in per_query.values():
        for name in names:
            values.setdefault(name, 0.0)
    per_query = {qid: {name: per_query[qid][name] for name in names} for qid in sorted(per_query)}
    n = len(per_query)
    aggregate = {name: math.fsum(v[name] for v in per_query.values()) / n for name in names}

    not_retrieved = sum(1 for qid in clean_qrels if qid not in prepared)
    without_relevant = sum(1 for docs in clean_qrels.values()
                           if not any(g >= relevance_threshold for g in docs.values()))
    notes = []
    if not_retrieved:
        notes.append(f"{not_retrieved} judged queries have no retrieved document and score 0")
    if without_relevant:
        notes.append(f"{without_relevant} judged queries have no document with grade >= "
                     f"{relevance_threshold}: their binary measures are 0")
    if unjudged:
        notes.append(f"{len(unjudged)} run queries have no judgments and were ignored")
    for note in notes:
        logger.info(note)
    return EvalResult(
        aggregate=aggregate, per_query=per_query, n_queries=n, measures=names,
        relevance_threshold=relevance_threshold, ignore_identical_ids=ignore_identical_ids,
        n_queries_not_retrieved=not_retrieved, n_queries_without_relevant=without_relevant,
        n_unjudged_run_queries=len(unjudged), n_identical_ids_dropped=dropped, notes=notes,
    )


def _collect(scores: dict[str, dict[str, float]], measures: list[Measure],
             per_query: dict[str, dict[str, float]]) -> None:
    for qid, values in scores.items():
        target = per_query.get(qid)
        if target is None:  # pytrec_eval only reports judged queries; guard anyway
            continue
        for m in measures:
            target[m.name] = float(values[m.trec_key])


def format_per_query_tsv(result: EvalResult) -> str:
    """``query_id`` plus one column per measure, queries in id order, values printed exactly."""
    return result.per_query_scores().to_text()


def write_per_query_tsv(result: EvalResult, path: str | Path) -> Path:
    """Write ``per_query.tsv`` atomically (:class:`synrank.records.PerQueryScores`)."""
    return result.per_query_scores().to_disk(path)
