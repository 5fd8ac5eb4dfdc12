"""Training data sources, each turned into a list of sampling items (:mod:`synrank.training.sampling`).

- ``groups``: graded groups (``synrank.groups/v1`` JSONL, e.g. ``data/synthetic/<name>/``).
- ``supervised``: a BEIR dataset's training qrels; every judged-relevant document is a positive with
  ``positive_grade``; the ``n_negatives`` best BM25 documents (:class:`synrank.retrieval.bm25.BM25Index`
  over the same corpus, title + text) that are not judged relevant are hard negatives with
  ``negative_grade``. With ``positive_grade: 3, negative_grade: 1`` this is the paper's mapping of real
  data into the graded scale (the ``synthetic+real`` union).
- ``self_supervised``: Contriever-style independent cropping (Izacard et al., 2022, §3.1): two spans of
  one document, each of a length drawn uniformly in ``[crop_min_ratio, crop_max_ratio]`` of the
  document's words at a uniformly drawn start, are a (query, positive) pair (the positive gets
  ``positive_grade``, so InfoNCE's default threshold 2 counts it); in-batch negatives only.
  Only the documents are read — no queries, no labels.

Leakage rules (never train on evaluation material):

- Every query that reaches the trainer is checked against :func:`synrank.data.evaluation_guard` (TREC DL
  2019/2020 and every BEIR test query found on the dataset search path). ``on_evaluation_query: drop``
  removes such groups and records the count; ``error`` stops with a :class:`DatasetError`.
- ``exclude_evaluation_documents`` (default on): documents judged in any *evaluation* split of the
  dataset (``DatasetInfo.evaluation_splits``, e.g. scifact's ``test``) are removed from the supervised
  positives and negatives and from the self-supervised corpus. The other documents of an evaluation
  corpus remain usable: they are unlabeled text of the target domain (the standard BEIR domain-adaptation
  setting of Contriever/GPL). There is no unlabeled corpus available offline that is not also an
  evaluation corpus (every corpus in ``shared/datasets`` is one), so the self-supervised variant reads
  scifact's corpus minus its test-judged documents; this is recorded in ``training_config.json``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synrank.data import leakage
from synrank.data.beir import load_dataset
from synrank.data.groups import Passage, TrainingGroup, group_files, iter_groups
from synrank.data.registry import dataset_info
from synrank.errors import ConfigError, DatasetError
from synrank.io import sha256_file
from synrank.paths import dataset_search_path
from synrank.provenance import portable_path
from synrank.training.config import SourceConfig, TrainConfig
from synrank.training.sampling import GroupItem, ShortPolicy, TrainingItem, drop_short

logger = logging.getLogger(__name__)


@dataclass
class SourceReport:
    """What a source contributed: counts, what was removed and why, checksums of the inputs."""

    kind: str
    name: str
    n_items: int = 0
    n_dropped_evaluation_queries: int = 0
    n_dropped_short: int = 0
    n_excluded_documents: int = 0
    n_dropped_no_positive: int = 0
    n_groups_single_grade: int = 0  # groups whose passages all share one grade: no ordering within them
    n_groups_without_relevant: int = 0  # groups where no passage has grade > 0
    checksums: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CropItem:
    """One unlabeled document; each draw is an independent pair of random crops (Contriever)."""

    words: list[str]
    min_ratio: float
    max_ratio: float
    min_words: int
    grade: int = 3

    def _span(self, rng: np.random.Generator) -> str:
        n = len(self.words)
        ratio = rng.uniform(self.min_ratio, self.max_ratio)
        length = min(n, max(self.min_words, int(round(ratio * n))))
        start = int(rng.integers(0, n - length + 1))
        return " ".join(self.words[start:start + length])

    def draw(self, rng: np.random.Generator, group_size: int,
             short_groups: ShortPolicy) -> tuple[str, list[str], list[int]]:
        query = self._span(rng)
        return query, [self._span(rng) for _ in range(group_size)], [self.grade] * group_size

    def size(self) -> int:
        return 1


def evaluation_query_guard():
    """The evaluation-query guard for the current dataset search path (built once per process)."""
    return _cached_guard(tuple(str(p) for p in dataset_search_path()))


@functools.lru_cache(maxsize=4)
def _cached_guard(search_path: tuple[str, ...]):
    return leakage.evaluation_guard([Path(p) for p in search_path])


def _filter_evaluation_queries(groups: list[TrainingGroup], policy: str, origin: str,
                               guard) -> tuple[list[TrainingGroup], int]:
    bad = [g for g in groups if guard.is_evaluation_query(g.query)]
    if bad and policy == "error":
        examples = ", ".join(f"{g.query_id!r} ({g.query[:60]!r})" for g in bad[:3])
        raise DatasetError(f"{len(bad)} training queries are evaluation queries, e.g. {examples}", origin,
                           hint="remove them from the data, or set on_evaluation_query: drop")
    if bad:
        logger.warning("%s: dropped %d group(s) whose query is an evaluation query", origin, len(bad))
    bad_ids = {id(g) for g in bad}
    return [g for g in groups if id(g) not in bad_ids], len(bad)


def _evaluation_documents(dataset) -> tuple[set[str], list[str]]:
    """Document ids judged in the dataset's evaluation splits (any grade)."""
    docs: set[str] = set()
    splits = list(dataset.info.evaluation_splits)
    for split in splits:
        ds = load_dataset(dataset.info, split=split, corpus=False)
        for judged in ds.qrels.values():
            docs.update(judged)
    return docs, splits


def _digest(parts: list[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def load_group_source(src: SourceConfig, policy: str, guard) -> tuple[list[TrainingGroup], SourceReport]:
    assert src.path is not None
    path = Path(src.path)
    report = SourceReport("groups", portable_path(path))
    files = group_files(path)
    report.checksums = {f.name: sha256_file(f) for f in files}
    groups: list[TrainingGroup] = []
    for g in iter_groups(path):
        groups.append(g)
        if src.max_groups is not None and len(groups) >= src.max_groups:
            break
    groups, report.n_dropped_evaluation_queries = _filter_evaluation_queries(groups, policy, str(path), guard)
    return groups, report


def load_supervised_source(src: SourceConfig, policy: str, guard) -> tuple[list[TrainingGroup], SourceReport]:
    from synrank.retrieval.bm25 import BM25Index  # bm25s (~1 s to import): only a supervised source needs it

    assert src.dataset is not None
    ds = load_dataset(src.dataset, split=src.split, corpus=True)
    if src.split in ds.info.evaluation_splits:
        raise ConfigError(f"split {src.split!r} of {ds.name!r} is an evaluation split; training on it is leakage",
                          hint="use the dataset's train split")
    report = SourceReport("supervised", f"{ds.name}/{src.split}", checksums=dict(ds.checksums))
    excluded: set[str] = set()
    if src.exclude_evaluation_documents:
        excluded, splits = _evaluation_documents(ds)
        report.notes.append(f"excluded documents judged in evaluation split(s) {splits}")
    corpus = {d: doc for d, doc in ds.corpus.items() if d not in excluded}
    report.n_excluded_documents = len(ds.corpus) - len(corpus)
    queries = ds.judged_queries()
    if src.max_groups is not None:
        queries = dict(list(queries.items())[:src.max_groups])
    index = BM25Index(corpus)
    report.notes.append(f"BM25 negatives: {index.config}, depth {src.bm25_depth}, kept {src.n_negatives}")
    run = index.search(queries, top_k=src.bm25_depth)
    groups: list[TrainingGroup] = []
    for qid, text in queries.items():
        judged = ds.qrels[qid]
        positives = [d for d, grade in judged.items() if grade > 0 and d in corpus]
        if not positives:
            report.n_dropped_no_positive += 1
            continue
        negatives = [d for d in run.get(qid, {}) if d not in judged][:src.n_negatives]
        passages = [Passage(_doc_text(corpus[d]), src.positive_grade, {"doc_id": d}) for d in positives]
        passages += [Passage(_doc_text(corpus[d]), src.negative_grade, {"doc_id": d, "bm25": True})
                     for d in negatives]
        groups.append(TrainingGroup(qid, text, passages, {"source": report.name}))
    groups, report.n_dropped_evaluation_queries = _filter_evaluation_queries(groups, policy, report.name, guard)
    return groups, report


def _doc_text(doc) -> str:
    return f"{doc.title} {doc.text}".strip() if doc.title else doc.text


def load_self_supervised_source(src: SourceConfig) -> tuple[list[CropItem], SourceReport]:
    if src.path is not None:
        return _crops_from_group_passages(src)
    assert src.dataset is not None
    info = dataset_info(src.dataset)
    ds = load_dataset(info, split=None, corpus=True)
    report = SourceReport("self_supervised", f"{ds.name}/corpus", checksums={"corpus.jsonl": ds.checksums["corpus.jsonl"]})
    excluded: set[str] = set()
    if src.exclude_evaluation_documents:
        excluded, splits = _evaluation_documents(ds)
        report.notes.append(f"excluded documents judged in evaluation split(s) {splits}; the rest of this "
                            "evaluation corpus is used as unlabeled text (no queries, no labels)")
    items: list[CropItem] = []
    too_short = 0
    for doc_id, doc in ds.corpus.items():
        if doc_id in excluded:
            continue
        words = _doc_text(doc).split()
        if len(words) < 2 * src.crop_min_words:
            too_short += 1
            continue
        items.append(CropItem(words, src.crop_min_ratio, src.crop_max_ratio, src.crop_min_words, src.positive_grade))
        if src.max_groups is not None and len(items) >= src.max_groups:
            break
    report.n_excluded_documents = len(excluded)
    report.n_dropped_short = too_short
    return items, report


def _crops_from_group_passages(src: SourceConfig) -> tuple[list[CropItem], SourceReport]:
    """Cropping over the passages of a graded-groups dataset (e.g. the synthetic passages), read as
    unlabeled text: no query and no grade is used, each distinct passage once, in file order. Text
    written for training, so no evaluation corpus is touched."""
    assert src.path is not None
    path = Path(src.path)
    files = group_files(path)
    report = SourceReport("self_supervised", f"{path.name}/passages", checksums={f.name: sha256_file(f) for f in files})
    report.notes.append("passages of a graded-groups dataset used as unlabeled text (queries and grades ignored)")
    seen: set[str] = set()
    items: list[CropItem] = []
    too_short = 0
    for group in iter_groups(path):
        for passage in group.passages:
            if passage.text in seen:
                continue
            seen.add(passage.text)
            words = passage.text.split()
            if len(words) < 2 * src.crop_min_words:
                too_short += 1
                continue
            items.append(CropItem(words, src.crop_min_ratio, src.crop_max_ratio, src.crop_min_words,
                                  src.positive_grade))
            if src.max_groups is not None and len(items) >= src.max_groups:
                report.n_dropped_short = too_short
                return items, report
    report.n_dropped_short = too_short
    return items, report


def _grade_counts(items: list[TrainingItem], report: SourceReport) -> int:
    """Record how many groups have a single distinct grade / no grade > 0; return the highest grade."""
    top = 0
    for it in items:
        grades = it.group.grades if isinstance(it, GroupItem) else [it.grade]
        top = max(top, max(grades, default=0))
        if isinstance(it, GroupItem):  # a crop pair has one grade by design (in-batch negatives contrast it)
            report.n_groups_single_grade += len(set(grades)) <= 1
            report.n_groups_without_relevant += max(grades, default=0) == 0
    return top


def _no_groups_reason(report: SourceReport, n_before_drop: int, group_size: int) -> str:
    reasons = []
    if report.n_dropped_evaluation_queries:
        reasons.append(f"{report.n_dropped_evaluation_queries} groups are evaluation queries "
                       "(on_evaluation_query: drop)")
    if report.n_dropped_short:
        share = f"all {n_before_drop}" if report.n_dropped_short == n_before_drop else f"{report.n_dropped_short}"
        reasons.append(f"{share} groups have fewer than group_size={group_size} passages (short_groups: drop)")
    return ": " + "; ".join(reasons) if reasons else ""


def load_training_items(cfg: TrainConfig) -> tuple[list[TrainingItem], list[SourceReport]]:
    """All configured sources, concatenated in config order (the union of several sources).

    Stops with a :class:`DatasetError` when no passage of any source has a grade > 0 (every loss but
    InfoNCE would train silently on no relevance signal) and warns, with counts, about groups whose
    passages all share one grade (nothing to order within them).
    """
    items: list[TrainingItem] = []
    reports: list[SourceReport] = []
    guard = None
    top_grade = 0
    for src in cfg.data:
        if src.kind in ("groups", "supervised") and guard is None:
            guard = evaluation_query_guard()
        if src.kind == "groups":
            groups, report = load_group_source(src, cfg.on_evaluation_query, guard)
            new: list[TrainingItem] = [GroupItem(g, cfg.binary_groups) for g in groups]
        elif src.kind == "supervised":
            groups, report = load_supervised_source(src, cfg.on_evaluation_query, guard)
            new = [GroupItem(g, cfg.binary_groups) for g in groups]
        else:
            crops, report = load_self_supervised_source(src)
            new = list(crops)
        n_before_drop = len(new)
        if cfg.short_groups == "drop":
            new, report.n_dropped_short = drop_short(new, cfg.group_size)
        report.n_items = len(new)
        if not new:
            raise DatasetError(f"data source {report.name!r} produced no training groups"
                               + _no_groups_reason(report, n_before_drop, cfg.group_size), src.path or src.dataset,
                               hint="lower group_size or use short_groups: resample" if report.n_dropped_short
                               else None)
        top_grade = max(top_grade, _grade_counts(new, report))
        if report.n_groups_single_grade:
            logger.warning("data source %s: %d of %d groups have a single distinct grade (%d without any "
                           "passage of grade > 0): nothing to order within them", report.name,
                           report.n_groups_single_grade, len(new), report.n_groups_without_relevant)
        logger.info("data source %s (%s): %d training items", report.name, report.kind, len(new))
        items.extend(new)
        reports.append(report)
    if items and top_grade == 0:
        where = ", ".join(str(src.path or src.dataset) for src in cfg.data)
        raise DatasetError(f"no training group has a passage with grade > 0 ({len(items)} groups, every grade 0): "
                           "there is no relevance signal to learn", where,
                           hint="check the grades / the generation run that wrote this data")
    return items, reports
