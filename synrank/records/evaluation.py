"""An evaluation's files: ``metrics.json`` (:class:`EvaluationRecord`), ``per_query.tsv``
(:class:`PerQueryScores`), and :func:`write_evaluation`, the one writer of the set.

Every producer builds an :class:`EvaluationRecord`: ``synrank evaluate --model`` and the benchmark's
model cells (:func:`synrank.evaluation.pipeline.evaluate_model`, kind ``encoder`` or ``bm25``),
``synrank evaluate --run`` (kind ``run``), the benchmark's BM25 cells (kind ``bm25``, or ``run`` when
the shipped first-stage run is scored as it is) and its forum-by-forum cells (kind ``forums``: the mean
over the forums' own evaluations, each in its own sub-folder).

Schema history of ``metrics.json`` (all still read):

* ``synrank.metrics/v2`` (current): one layout for every producer, with ``kind`` and ``mode``.
* ``synrank.cell/v1``: written by ``evaluate_model``; the mode was only in ``config``.
* ``synrank.metrics/v1``: written by ``evaluate --run``; the evaluator's summary was flattened into
  the top level.
* no schema: benchmark BM25 and forum cells; ``evaluation`` also repeated the aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from synrank.data.trec import write_run
from synrank.errors import RecordError
from synrank.io import atomic_write_text, replace_artifacts
from synrank.records.base import Record, mapping, optional, read_text

RUN_FILE, PER_QUERY_FILE, METRICS_FILE = "run.trec.gz", "per_query.tsv", "metrics.json"
#: Every file of an evaluation folder; metrics.json (written last) marks it complete.
CELL_FILES = (RUN_FILE, PER_QUERY_FILE, METRICS_FILE)


@dataclass(kw_only=True)
class EvaluationSummary:
    """How the run was scored (:meth:`synrank.evaluation.evaluator.EvalResult.summary` without the scores)."""

    n_queries: int
    measures: list[str]
    relevance_threshold: int
    ignore_identical_ids: bool
    n_queries_not_retrieved: int
    n_queries_without_relevant: int
    n_unjudged_run_queries: int
    n_identical_ids_dropped: int


@dataclass(kw_only=True)
class DatasetRef:
    """The dataset split evaluated on, by content."""

    name: str
    split: str
    sha256: str
    path: str | None = optional()
    checksums: dict[str, str] | None = optional()
    n_docs: int | None = optional()
    n_queries: int | None = optional()
    #: a dataset evaluated forum by forum (CQADupStack): its forums
    forums: list[str] | None = optional()


@dataclass(kw_only=True)
class ForumScores:
    aggregate: dict[str, float]
    n_queries: int


@dataclass(kw_only=True)
class EvaluationRecord(Record):
    """``metrics.json``: the scores of one evaluation, what was evaluated and how, and where it ran."""

    SCHEMA: ClassVar[str] = "synrank.metrics/v2"
    FILE: ClassVar[str] = METRICS_FILE

    #: what ranked: an ``encoder``, ``bm25``, a given ``run`` scored as it is, or the mean over ``forums``
    kind: Literal["encoder", "bm25", "run", "forums"]
    name: str | None = optional()
    aggregate: dict[str, float]
    n_queries: int
    #: ``full`` retrieval or ``rerank`` of a candidate run; None for a scored run file
    mode: Literal["full", "rerank"] | None = optional()
    #: the producer's config; ``config_hash`` identifies it (a benchmark cell's key, for old benchmark files)
    config: dict[str, Any]
    config_hash: str
    evaluation: EvaluationSummary | None = optional()
    notes: list[str] = field(default_factory=list)
    dataset: DatasetRef
    #: the run file scored (kind ``run`` from ``synrank evaluate --run``): path, sha256, sizes
    run: dict[str, Any] | None = optional()
    #: kind ``forums``: each forum's scores, and how they were combined
    forums: dict[str, ForumScores] | None = optional()
    aggregation: str | None = optional()
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = optional()
    embedding_cache: dict[str, Any] | None = optional()
    #: the MTEB-format result file written beside it, or why there is none
    mteb: dict[str, Any] | None = optional()
    versions: dict[str, str]
    hardware: dict[str, Any]
    git_commit: str | None = None
    created_utc: str

    def validate(self) -> None:
        if self.n_queries < 1:
            raise ValueError(f"field 'n_queries': {self.n_queries} (an evaluation scores at least one query)")
        if self.evaluation is not None and self.evaluation.n_queries != self.n_queries:
            raise ValueError(f"field 'evaluation.n_queries' is {self.evaluation.n_queries}, "
                             f"'n_queries' is {self.n_queries}")
        if (self.kind == "forums") != (self.forums is not None):
            raise ValueError("field 'forums' goes with kind 'forums' (and only with it)")


def _from_pipeline_v1(d: dict[str, Any]) -> dict[str, Any]:
    """``synrank.cell/v1`` (``evaluate_model``): the mode was in ``config`` only."""
    config = mapping(d.get("config"))
    return {**d, "kind": "bm25" if config.get("similarity") == "bm25" else "encoder", "mode": config.get("mode")}


_SUMMARY = tuple(f.name for f in fields(EvaluationSummary))


def _from_run_v1(d: dict[str, Any]) -> dict[str, Any]:
    """``synrank.metrics/v1`` (``evaluate --run``): the evaluator's summary was flattened into the top level."""
    rest = {k: v for k, v in d.items() if k not in _SUMMARY or k == "n_queries"}
    return {**rest, "kind": "run", "evaluation": {k: d[k] for k in _SUMMARY if k in d}}


def _from_benchmark_cell(d: dict[str, Any]) -> dict[str, Any]:
    """No schema: a benchmark BM25 cell (``evaluation`` held the aggregate too) or forum cell."""
    if "forums" in d:
        return {**d, "kind": "forums"}
    retrieval = mapping(mapping(d.get("config")).get("retrieval"))
    evaluation = {k: v for k, v in mapping(d.get("evaluation")).items() if k != "aggregate"}
    return {**d, "kind": "bm25" if retrieval.get("kind") == "bm25" else "run", "evaluation": evaluation}


EvaluationRecord.UPGRADES = {"synrank.cell/v1": _from_pipeline_v1, "synrank.metrics/v1": _from_run_v1,
                             None: _from_benchmark_cell}


# ---------------------------------------------------------------------------------------------------
# per_query.tsv
# ---------------------------------------------------------------------------------------------------

def _field_problem(text: str) -> str | None:
    if not text:
        return "is empty"
    if any(c in text for c in "\t\r\n"):
        return "holds a tab or line break"
    return None


@dataclass
class PerQueryScores:
    """``per_query.tsv``: a ``query_id`` column, then one column per measure; a row per judged query in
    query-id order, values written exactly (``repr``)."""

    FILE: ClassVar[str] = PER_QUERY_FILE

    measures: tuple[str, ...]
    #: ``{query id: {measure: value}}``
    rows: dict[str, dict[str, float]]

    def __post_init__(self) -> None:
        self.measures = tuple(self.measures)
        for m in self.measures:
            if _field_problem(m) or m == "query_id":
                raise ValueError(f"per_query.tsv: measure name {m!r} {_field_problem(m) or 'is reserved'}")
        if len(set(self.measures)) != len(self.measures):
            raise ValueError(f"per_query.tsv: a measure is named twice in {list(self.measures)}")
        for qid, values in self.rows.items():
            if _field_problem(qid):
                raise ValueError(f"per_query.tsv: query id {qid!r} {_field_problem(qid)}")
            if set(values) != set(self.measures):
                raise ValueError(f"per_query.tsv: query {qid!r} has measures {sorted(values)}, "
                                 f"expected {sorted(self.measures)}")

    @classmethod
    def from_rows(cls, measures: Iterable[str], rows: Mapping[str, Mapping[str, float]]) -> PerQueryScores:
        measures = tuple(measures)
        return cls(measures, {str(q): {m: float(v[m]) for m in measures} for q, v in rows.items()})

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, measure: str) -> dict[str, float]:
        """``{query id: value}`` of one measure, in query-id order."""
        return {q: self.rows[q][measure] for q in sorted(self.rows)}

    def columns(self) -> dict[str, dict[str, float]]:
        """``{measure: {query id: value}}`` (what paired tests and intervals take)."""
        return {m: self.column(m) for m in self.measures}

    def to_text(self) -> str:
        lines = ["\t".join(("query_id", *self.measures))]
        lines += ["\t".join([q, *(repr(float(self.rows[q][m])) for m in self.measures)]) for q in sorted(self.rows)]
        return "\n".join(lines) + "\n"

    def to_disk(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, self.to_text())
        return path

    @classmethod
    def from_disk(cls, path: str | Path) -> PerQueryScores:
        path = Path(path)
        text = read_text(path, cls.FILE)
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if lines[-1] == "":
            lines.pop()
        header = lines[0].split("\t") if lines else []
        if not header or header[0] != "query_id":
            raise RecordError("expected a header starting with the column 'query_id'", path, 1)
        measures = tuple(header[1:])
        rows: dict[str, dict[str, float]] = {}
        for lineno, line in enumerate(lines[1:], start=2):
            row = line.split("\t")
            if len(row) != len(header):
                raise RecordError(f"{len(row)} columns, the header has {len(header)}", path, lineno)
            if row[0] in rows:
                raise RecordError(f"query {row[0]!r} appears twice", path, lineno)
            rows[row[0]] = {m: _number(v, m, path, lineno) for m, v in zip(measures, row[1:], strict=True)}
        try:
            return cls(measures, rows)
        except ValueError as exc:
            raise RecordError(str(exc).removeprefix("per_query.tsv: "), path) from None


def _number(text: str, measure: str, path: Path, lineno: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{measure}: {text!r} is not a number", path, lineno) from None
    if math.isnan(value):
        raise RecordError(f"{measure}: NaN", path, lineno)
    return value


# ---------------------------------------------------------------------------------------------------
# The set of files
# ---------------------------------------------------------------------------------------------------

def write_evaluation(folder: str | Path, record: EvaluationRecord, scores: PerQueryScores, *,
                     run: Mapping[str, Mapping[str, float]] | None = None, run_tag: str = "synrank",
                     top_k: int | None = None, keep: Iterable[str | Path] = ()) -> Path:
    """Write an evaluation into ``folder``: ``run.trec.gz`` (when ``run`` is given), ``per_query.tsv``,
    then ``metrics.json``, which marks the folder complete. The files of an earlier evaluation there are
    replaced as a whole (:func:`synrank.io.replace_artifacts`; files in ``keep`` stay). The caller holds
    the folder's lock."""
    folder = Path(folder)
    writers: dict[str, Any] = {}
    if run is not None:
        writers[RUN_FILE] = lambda p: write_run(run, p, tag=run_tag, top_k=top_k)
    writers[PER_QUERY_FILE] = scores.to_disk
    writers[METRICS_FILE] = record.to_disk
    replace_artifacts(folder, writers, artifact_names=CELL_FILES, keep=keep)
    return folder
