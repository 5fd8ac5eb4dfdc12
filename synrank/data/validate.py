"""Validate a whole BEIR-layout folder: the corpus, the queries and every qrels split.

:func:`validate_folder` runs every check of :mod:`synrank.data.beir` on every file (the first
problem raises a located :class:`~synrank.errors.DatasetError`) and returns a
:class:`ValidationReport` with counts and the tolerated-quirk warnings. ``synrank validate DIR``
prints it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from synrank.data.beir import read_corpus, read_qrels, read_queries
from synrank.data.folders import (
    CORPUS_FILE,
    GZIP_SUFFIX,
    QRELS_DIR,
    QUERIES_FILE,
    RERANK_RUN_FILE,
    DatasetInfo,
    info_for_folder,
    is_dataset_folder,
    logical_name,
    missing_folder_message,
)
from synrank.data.trec import read_run
from synrank.errors import DatasetError


@dataclass
class SplitSummary:
    judgements: int
    judged_queries: int
    grades: dict[int, int]
    #: judged queries with no grade > 0, and with no grade >= the dataset's relevance threshold
    without_relevant: int
    without_relevant_at_threshold: int


@dataclass
class ValidationReport:
    info: DatasetInfo
    documents: int | None
    queries: int
    splits: dict[str, SplitSummary]
    checksums: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        info = self.info
        lines = [f"{info.name} ({info.path}): valid"]
        lines.append(f"  {CORPUS_FILE:<24} " + (f"{self.documents:,} documents" if self.documents is not None
                                                 else "absent (queries and qrels only)"))
        lines.append(f"  {QUERIES_FILE:<24} {self.queries:,} queries")
        for split, s in self.splits.items():
            grades = ", ".join(f"{g}: {n:,}" for g, n in sorted(s.grades.items()))
            lines.append(f"  {QRELS_DIR + '/' + split + '.tsv':<24} {s.judgements:,} judgements, "
                         f"{s.judged_queries:,} judged queries, grades {{{grades}}}")
            if s.without_relevant or s.without_relevant_at_threshold:
                lines.append(f"  {'':<24} {s.without_relevant} judged queries without a grade > 0, "
                             f"{s.without_relevant_at_threshold} without a grade >= "
                             f"{info.relevance_threshold} (kept; they score 0)")
        if not self.splits:
            lines.append(f"  {QRELS_DIR + '/':<24} absent (no judgements)")
        lines.append(f"  default split: {info.default_split or '-'}; relevance threshold: "
                     f"{info.relevance_threshold}; ignore_identical_ids: {info.ignore_identical_ids}; "
                     f"rerank run: {info.rerank_run.name if info.rerank_run else '-'}; "
                     f"metadata: {'built-in' if info.known else 'defaults'}")
        if info.note:
            lines.append(f"  note: {info.note}")
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)


def validate_folder(path: str | os.PathLike, name: str | None = None) -> ValidationReport:
    """Check every file of a dataset folder; raise the first located error, else return a report.

    ``name`` selects built-in metadata (default: the folder's name), which decides the tolerated
    quirks (see :mod:`synrank.data.registry`).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(missing_folder_message(path), path)
    if not is_dataset_folder(path):
        raise DatasetError(f"not a BEIR-layout folder (no {CORPUS_FILE}, {QUERIES_FILE} or {QRELS_DIR}/)", path)
    _check_entries(path)
    info = info_for_folder(path, name)
    warnings: list[str] = []
    checksums: dict[str, str] = {}
    corpus = None
    if info.has_corpus:
        corpus, checksums[CORPUS_FILE] = read_corpus(
            info.corpus_path, allow_empty_documents=info.allow_empty_documents, warnings=warnings)
    if not info.has_queries:
        raise DatasetError(f"missing {QUERIES_FILE}", info.queries_path)
    queries, checksums[QUERIES_FILE] = read_queries(info.queries_path, warnings=warnings)
    qrels_dir = path / QRELS_DIR
    if qrels_dir.is_dir():
        others = sorted(p.name for p in qrels_dir.iterdir() if not logical_name(p).endswith(".tsv")
                        and not p.name.startswith("."))
        if others:
            warnings.append(f"{qrels_dir}: ignored non-.tsv entries: {', '.join(others)}")
    warnings.extend(_gzip_twins(path))
    splits: dict[str, SplitSummary] = {}
    for split in info.splits:
        qrels, checksums[f"{QRELS_DIR}/{split}.tsv"] = read_qrels(
            info.qrels_path(split), queries, corpus, allow_outside_corpus=info.qrels_outside_corpus,
            allow_negative=split in info.negative_grade_splits, warnings=warnings)
        grades = Counter(g for docs in qrels.values() for g in docs.values())
        splits[split] = SplitSummary(
            judgements=sum(grades.values()), judged_queries=len(qrels), grades=dict(grades),
            without_relevant=sum(1 for d in qrels.values() if max(d.values()) <= 0),
            without_relevant_at_threshold=sum(
                1 for d in qrels.values() if max(d.values()) < info.relevance_threshold))
    if info.rerank_run is not None and corpus is not None:
        _check_rerank_run(info.rerank_run, queries, corpus)
    if info.splits and not info.default_split:
        warnings.append(f"{qrels_dir}: several splits and none named 'test': pass a split explicitly")
    return ValidationReport(info=info, documents=None if corpus is None else len(corpus),
                            queries=len(queries), splits=splits, checksums=checksums, warnings=warnings)


def _gzip_twins(path: Path) -> list[str]:
    """A warning for every file present both plain and gzip-compressed (the plain one is read)."""
    out = []
    folders = [path] + ([path / QRELS_DIR] if (path / QRELS_DIR).is_dir() else [])
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            if entry.name.endswith(GZIP_SUFFIX) and os.path.lexists(folder / logical_name(entry)):
                out.append(f"{entry}: ignored, {logical_name(entry)} beside it is read (keep one of the two)")
    return out


def _check_entries(path: Path) -> None:
    """The layout's names must be what they claim: a ``corpus.jsonl`` that is a folder or a broken link
    would otherwise be reported as "absent" and the folder as valid."""
    for name in (CORPUS_FILE, QUERIES_FILE, RERANK_RUN_FILE):
        for entry in (path / name, path / (name + GZIP_SUFFIX)):
            if os.path.lexists(entry) and not entry.is_file():
                kind = ("a broken symbolic link" if entry.is_symlink() and not entry.exists()
                        else "not a regular file")
                raise DatasetError(f"{entry.name} is {kind}", entry,
                                   hint=f"replace it with the {name} file or remove it")
    qrels = path / QRELS_DIR
    if os.path.lexists(qrels) and not qrels.is_dir():
        raise DatasetError(f"{QRELS_DIR} must be a folder of <split>.tsv files", qrels)
    if qrels.is_dir():
        for entry in sorted(qrels.iterdir()):
            if logical_name(entry).endswith(".tsv") and not entry.name.startswith(".") and not entry.is_file():
                kind = "a broken symbolic link" if entry.is_symlink() and not entry.exists() else "not a regular file"
                raise DatasetError(f"qrels split {entry.name} is {kind}", entry,
                                   hint="replace it with the split's TSV file or remove it")


def _check_rerank_run(run: Path, queries: dict, corpus: dict) -> None:
    """The shipped first-stage run must be readable by the same reader ``evaluate`` uses and name known
    queries and documents."""
    entries = read_run(run)
    unknown_q = sum(1 for qid in entries if qid not in queries)
    unknown_d = sum(1 for docs in entries.values() for doc_id in docs if doc_id not in corpus)
    if unknown_q or unknown_d:
        raise DatasetError(f"{RERANK_RUN_FILE} names {unknown_q} unknown quer{'y' if unknown_q == 1 else 'ies'} "
                           f"and {unknown_d} unknown document row(s)", run,
                           hint="every candidate must be in the queries and corpus")
