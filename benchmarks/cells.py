"""A suite's evaluation cells (model x dataset), each cached by its key (:class:`benchmarks.keys.CellKey`).

A cell folder ``results/<suite>/cells/<model>/<dataset>/`` holds the evaluation's files (``run.trec.gz``,
``per_query.tsv``, ``metrics.json``: :func:`synrank.records.write_evaluation`) and, written last and
atomically, the completion marker ``cell.json`` (:class:`benchmarks.records.CellMarker`: the key and its
hash, timings, dataset checksums, subsample, the sha256 of each file). A rerun skips a cell whose marker
carries the same key hash and whose files verify (:func:`verify_cell`: they parse and match the marker);
otherwise it recomputes it with a warning. A crash leaves no marker, so only the cell in progress is
recomputed.

Model rows are evaluated by :func:`synrank.evaluation.pipeline.evaluate_model`; BM25 rows rank here
(BM25 over the corpus, or the shipped first-stage run as it is) and are scored and written by the same
:func:`synrank.evaluation.pipeline.score_run`. A dataset made of forums (CQADupStack) is evaluated forum
by forum into sub-folders and averaged as BEIR does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.keys import CellKey, dataset_identity
from benchmarks.records import CELL_MARKER, CellMarker, read_or_warn, utc_now
from benchmarks.suites import DatasetSpec, SuiteConfig, VariantSpec
from synrank.data import load_dataset
from synrank.data.beir import BeirDataset
from synrank.data.trec import read_run
from synrank.errors import RecordError, SynrankError
from synrank.io import sha256_file
from synrank.provenance import Timings, config_hash, environment, peak_rss_mb
from synrank.records import (
    CELL_FILES,
    METRICS_FILE,
    PER_QUERY_FILE,
    RUN_FILE,
    DatasetRef,
    EvaluationRecord,
    ForumScores,
    PerQueryScores,
    write_evaluation,
)

logger = logging.getLogger(__name__)

#: The files a reusable cell must have (``run.trec.gz`` may be absent: committed results leave it out).
REQUIRED_CELL_FILES = (METRICS_FILE, PER_QUERY_FILE)


@dataclass
class CellOutcome:
    model: str
    dataset: str
    status: str  # "computed" | "cached" | "reused" (copied from another suite: benchmarks.reuse) | "failed"
    seconds: float
    config_hash: str
    folder: Path
    error: str | None = None
    #: the source cell's folder when reused (``results/cpu/cells/<row>/<dataset>``)
    source: str | None = None


# ---------------------------------------------------------------------------------------------------
# Dataset loading with a recorded, seeded subsample
# ---------------------------------------------------------------------------------------------------

def load_cell_dataset(ds: DatasetSpec, ident: dict[str, Any]) -> tuple[BeirDataset, dict[str, Any] | None]:
    """Load the split ``ident`` names (:func:`benchmarks.keys.dataset_identity`); with ``max_queries`` keep
    a seeded random subset of the judged queries. Returns the data and the subsample's record (or None)."""
    data = load_dataset(ds.name, split=ident["split"])
    subsample = None
    judged = sorted(data.qrels)
    if ds.max_queries is not None and len(judged) > ds.max_queries:
        keep = sorted(random.Random(ds.sample_seed).sample(judged, ds.max_queries))
        keep_set = set(keep)
        data = dataclasses.replace(
            data, qrels={q: d for q, d in data.qrels.items() if q in keep_set},
            queries={q: t for q, t in data.queries.items() if q in keep_set})
        subsample = {"n_judged_queries": len(judged), "kept": len(keep), "seed": ds.sample_seed,
                     "method": "random.Random(seed).sample(sorted judged query ids, max_queries)",
                     "query_ids": keep}
    return data, subsample


# ---------------------------------------------------------------------------------------------------
# Evaluating one cell
# ---------------------------------------------------------------------------------------------------

def _bm25_cell(variant: VariantSpec, data: BeirDataset, ident: dict[str, Any], folder: Path, top_k: int,
               timings: Timings, model: dict[str, Any]) -> dict[str, Any]:
    """BM25 reference row: full mode searches the corpus with :class:`BM25Index`; rerank mode scores
    the shipped first-stage run as it is (it *is* the BM25 top-100 the rerankers start from)."""
    # start-up time: synrank.retrieval and the pipeline import torch (1.5 s); the runner's --dry-run needs neither
    from synrank.evaluation.pipeline import score_run
    from synrank.retrieval.bm25 import BM25Index  # start-up time, as above

    info = data.info
    queries = data.judged_queries()
    if ident["mode"] == "rerank":
        with timings.measure("retrieve"):
            first = read_run(info.rerank_run)
            run = {q: first.get(q, {}) for q in queries}
        method = {"kind": "first-stage-run", "file": info.rerank_run.name}
    else:
        assert variant.bm25 is not None
        with timings.measure("index"):
            index = BM25Index(data.corpus, k1=variant.bm25.k1, b=variant.bm25.b)
        with timings.measure("retrieve"):
            run = index.search(queries, top_k=top_k, ignore_identical_ids=info.ignore_identical_ids)
        method = {"kind": "bm25", **index.config}
    res = score_run(data, run, kind="bm25" if method["kind"] == "bm25" else "run",
                    config={"model": model, "retrieval": method, "top_k": top_k}, mode=ident["mode"],
                    timings=timings, name=variant.name, output_dir=folder, run_tag=variant.name)
    return {"aggregate": res.aggregate, "n_queries": res.n_queries, "pipeline_config_hash": res.config_hash}


def _model_cell(model_spec: str, variant: VariantSpec, data: BeirDataset, ident: dict[str, Any], folder: Path,
                top_k: int, batch_size: int, encoding: str | None) -> dict[str, Any]:
    # start-up time: the pipeline imports torch (1.5 s); the runner's --dry-run needs none of it
    from synrank.evaluation.pipeline import evaluate_model

    kwargs: dict[str, Any] = {}
    if variant.max_length is not None:
        kwargs["max_length"] = variant.max_length
    res = evaluate_model(model_spec, data, split=ident["split"], output_dir=folder, mode=ident["mode"],
                         top_k=top_k, batch_size=variant.batch_size or batch_size, name=variant.name,
                         backend=encoding, **kwargs)
    return {"aggregate": dict(res.aggregate), "n_queries": res.n_queries,
            "pipeline_config_hash": res.config_hash, "pipeline_timings": dict(res.timings)}


def _evaluate(suite: SuiteConfig, variant: VariantSpec, key: CellKey, data: BeirDataset, ident: dict[str, Any],
              folder: Path, model_spec: str | None, model: dict[str, Any], timings: Timings) -> dict[str, Any]:
    """Evaluate one row on one loaded dataset (a cell, or one forum of it) into ``folder``."""
    if variant.kind == "bm25":
        return _bm25_cell(variant, data, ident, folder, key.top_k, timings, model)
    assert model_spec is not None
    with timings.measure("evaluate_model"):
        return _model_cell(model_spec, variant, data, ident, folder, key.top_k, suite.batch_size, key.encoding)


@dataclass
class _ForumData:
    """What run_cell records about the data of a forum-by-forum cell."""

    checksums: dict[str, str]

    def sha256(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.checksums):
            h.update(f"{name}\t{self.checksums[name]}\n".encode())
        return h.hexdigest()


def _forum_cells(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, key: CellKey,
                 model_spec: str | None, model: dict[str, Any], timings: Timings,
                 ) -> tuple[dict[str, Any], _ForumData]:
    """Evaluate every forum as its own dataset (full retrieval over that forum's corpus) into
    ``<cell>/<forum>/``, then combine as BEIR does for CQADupStack: each measure is the mean over the
    forums of the forum's mean. ``per_query.tsv`` and ``run.trec.gz`` pool the forums' queries under
    ``<forum>/<id>`` (the leaderboard's paired tests and confidence intervals use these pooled queries)."""
    ident = key.dataset
    per_forum: dict[str, ForumScores] = {}
    pooled: dict[str, dict[str, float]] = {}
    run: dict[str, dict[str, float]] = {}
    checksums: dict[str, str] = {}
    for forum in ident["forums"]:
        sub = dataclasses.replace(ds, name=f"{ds.name}/{forum}", label=None)
        sub_folder = key.folder / forum
        sub_folder.mkdir(parents=True, exist_ok=True)
        with timings.measure("load_dataset"):
            sub_ident = dataset_identity(sub)
            data, _ = load_cell_dataset(sub, sub_ident)
        out = _evaluate(suite, variant, key, data, sub_ident, sub_folder, model_spec, model, timings)
        per_forum[forum] = ForumScores(aggregate=out["aggregate"], n_queries=out["n_queries"])
        for qid, values in PerQueryScores.from_disk(sub_folder / PER_QUERY_FILE).rows.items():
            pooled[f"{forum}/{qid}"] = values
        for qid, docs in read_run(sub_folder / RUN_FILE).items():
            run[f"{forum}/{qid}"] = {f"{forum}/{d}": score for d, score in docs.items()}
        checksums.update({f"{forum}/{k}": v for k, v in data.checksums.items()})
    measures = list(next(iter(per_forum.values())).aggregate)
    aggregate = {m: float(sum(f.aggregate[m] for f in per_forum.values()) / len(per_forum)) for m in measures}
    n_queries = sum(f.n_queries for f in per_forum.values())
    forum_data = _ForumData(checksums)
    config = {"model": model, "top_k": key.top_k}
    record = EvaluationRecord(
        kind="forums", name=variant.name, aggregate=aggregate, n_queries=n_queries, mode="full", config=config,
        config_hash=config_hash(config),
        dataset=DatasetRef(name=ds.name, split=ident["split"], sha256=forum_data.sha256(), forums=ident["forums"]),
        forums=per_forum, aggregation="mean over forums of each forum's mean (BEIR)", timings=dict(timings),
        peak_rss_mb=round(peak_rss_mb(), 1), **environment())
    write_evaluation(key.folder, record, PerQueryScores.from_rows(measures, pooled), run=run, run_tag=variant.name)
    return {"aggregate": aggregate, "n_queries": n_queries, "forums": per_forum}, forum_data


# ---------------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------------

def cell_file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of the cell's files that exist, as recorded in its marker (``files``)."""
    return {name: sha256_file(folder / name) for name in CELL_FILES if (folder / name).is_file()}


def verify_cell(folder: Path, marker: CellMarker) -> str | None:
    """Why the finished cell in ``folder`` cannot be reused, or None when it can.

    Its files are verified, not trusted: ``metrics.json`` and ``per_query.tsv`` must exist and read as
    their records, ``per_query.tsv`` must hold the marker's ``n_queries`` queries, and every file the
    marker lists a sha256 for must still have it (``run.trec.gz`` may be absent: committed results leave
    it out). A marker from before the hashes were recorded is accepted when the files read and
    ``metrics.json`` reports the marker's aggregate scores.
    """
    for name in REQUIRED_CELL_FILES:
        if not (folder / name).is_file():
            return f"{name} is missing"
    for name, digest in (marker.files or {}).items():
        try:
            if (name in REQUIRED_CELL_FILES or (folder / name).exists()) and sha256_file(folder / name) != digest:
                return f"{name} does not match its sha256 in {CELL_MARKER} (edited or damaged since it was written)"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
    try:
        metrics = EvaluationRecord.from_disk(folder / METRICS_FILE)
    except RecordError as exc:
        return f"{METRICS_FILE} does not parse ({exc})"
    if not marker.files and metrics.aggregate != marker.aggregate:
        return f"{METRICS_FILE} and {CELL_MARKER} report different scores"
    try:
        per_query = PerQueryScores.from_disk(folder / PER_QUERY_FILE)
    except RecordError as exc:
        return f"{PER_QUERY_FILE} does not parse ({exc})"
    if len(per_query) != marker.n_queries:
        held = [len(per_query)] if per_query.measures else 0
        return f"{PER_QUERY_FILE} holds {held} queries per measure, {CELL_MARKER} says {marker.n_queries}"
    return None


def read_cell_marker(folder: Path) -> CellMarker | None:
    return read_or_warn(CellMarker, folder / CELL_MARKER, "recomputing the cell")


def cell_cache_problem(key: CellKey) -> str | None:
    """None when the cell is finished with exactly this key and its files verify (what :func:`run_cell`
    would reuse), else why it would be computed."""
    marker = read_cell_marker(key.folder)
    if marker is None:
        return "not computed yet"
    if marker.config_hash != key.hash:
        return "its config changed"
    return verify_cell(key.folder, marker)


def run_cell(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, key: CellKey, *,
             model_spec: str | None, model: dict[str, Any], overwrite: bool = False,
             adopt: Callable[[], CellOutcome | None] | None = None) -> CellOutcome:
    """Compute one (model, dataset) cell unless its marker says it is done with the same key.
    ``model`` is the model identity ``key`` was made from; ``model_spec`` what loads it (None for BM25).
    ``adopt``: tried before computing (not with ``overwrite``), copies an equal finished cell from another
    suite's results (:meth:`benchmarks.reuse.ReuseSources.adopt_cell`)."""
    folder = key.folder
    marker = read_cell_marker(folder)
    problem = None
    if marker is not None and marker.config_hash == key.hash and not overwrite:
        problem = verify_cell(folder, marker)
        if problem is None:
            return CellOutcome(variant.name, ds.key, "cached", 0.0, key.hash, folder)
    adopted = adopt() if adopt is not None and not overwrite else None
    if problem is not None:
        logger.warning("%s: finished cell cannot be reused: %s; %s", folder, problem,
                       f"replaced by {adopted.source}" if adopted is not None else "recomputing")
    if adopted is not None:
        return adopted
    if model_spec is None and variant.kind != "bm25":
        raise SynrankError(f"cell {variant.name}/{ds.key} must be computed but no model was given")
    if marker is not None:
        why = "--overwrite" if overwrite else "its config changed"
        logger.info("recomputing %s/%s (%s)", variant.name, ds.key, why)
    # Never leave an old marker or old results beside new, partial artifacts.
    for name in (CELL_MARKER, *CELL_FILES):
        (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    ident = key.dataset
    timings = Timings()
    start = time.perf_counter()
    try:
        if ident.get("forums"):
            out, data = _forum_cells(suite, variant, ds, key, model_spec, model, timings)
            subsample = None
        else:
            with timings.measure("load_dataset"):
                data, subsample = load_cell_dataset(ds, ident)
            out = _evaluate(suite, variant, key, data, ident, folder, model_spec, model, timings)
    except SynrankError as exc:
        logger.error("cell %s/%s failed: %s", variant.name, ds.key, exc)
        return CellOutcome(variant.name, ds.key, "failed", time.perf_counter() - start, key.hash, folder, str(exc))
    seconds = round(time.perf_counter() - start, 3)
    CellMarker(
        suite=suite.name, model=variant.name, variant=variant.label, base=variant.base, kind=variant.kind,
        dataset=ds.key, split=ident["split"], mode=ident["mode"], config=key.config, config_hash=key.hash,
        dataset_sha256=data.sha256(), dataset_checksums=data.checksums, subsample=subsample,
        n_queries=out["n_queries"], aggregate=out["aggregate"], forums=out.get("forums"),
        pipeline_config_hash=out.get("pipeline_config_hash"), timings={**dict(timings), "total": seconds},
        peak_rss_mb=round(peak_rss_mb(), 1), batch_size=variant.batch_size or suite.batch_size,
        files=cell_file_hashes(folder), finished_utc=utc_now(),
    ).to_disk(folder / CELL_MARKER)
    return CellOutcome(variant.name, ds.key, "computed", seconds, key.hash, folder)
