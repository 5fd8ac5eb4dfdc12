"""Evaluation results in MTEB's result-file format, for the datasets MTEB also has.

MTEB (the Massive Text Embedding Benchmark) keeps one JSON file per (model, task) in
``results/<model name>/<revision>/<TaskName>.json`` beside a ``model_meta.json``; its own loaders
(``mteb.results.TaskResult.from_disk``, ``mteb.ResultCache(folder).load_results``) read them.
:func:`write_mteb_result` writes such a file from a synrank evaluation, so the scores can sit next to
MTEB's in the tools that read that format. Nothing here imports ``mteb``.

A file is written only when the numbers mean what MTEB's would on that task:

- the dataset is one of :data:`MTEB_TASKS` (BEIR datasets MTEB also has; TREC DL is not there because
  synrank's TREC DL folders hold a BM25 top-100 pool, not MTEB's full MS MARCO collection);
- the split is the one MTEB evaluates, every judged query of it was evaluated (a benchmark suite's
  seeded query subsample is not MTEB's task), the whole corpus was searched (``mode`` full);
- binary measures use grade >= 1 and a query's own id is removed from its ranking exactly when MTEB's
  task removes it (or no query id is a document id, so the rule makes no difference);
- nDCG@10 (MTEB's main score) was computed.

Measures are renamed (``nDCG@10`` → ``ndcg_at_10``, ``Recall@100`` → ``recall_at_100``, ``P@10`` →
``precision_at_10``, ``MRR@10`` → ``mrr_at_10``, ``MAP`` → ``map_at_1000`` when the ranking is at most
1000 deep, where trec_eval's map and map_cut_1000 agree); synrank computes them with trec_eval
(pytrec_eval), as MTEB does. ``dataset_revision`` records the sha256 of the local files
(``synrank-sha256:<16 hex>``), not MTEB's Hub revision: the data were not loaded from MTEB's copy.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.io import atomic_write_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MtebTask:
    name: str
    split: str
    #: MTEB's ``ignore_identical_ids`` for the task (mteb 2.26)
    ignore_identical_ids: bool
    languages: tuple[str, ...] = ("eng-Latn",)


#: synrank dataset name -> the MTEB retrieval task built from the same BEIR collection
MTEB_TASKS: dict[str, MtebTask] = {
    "arguana": MtebTask("ArguAna", "test", True),
    "climate-fever": MtebTask("ClimateFEVER", "test", False),
    "dbpedia-entity": MtebTask("DBPedia", "test", False),
    "fever": MtebTask("FEVER", "test", True),
    "fiqa": MtebTask("FiQA2018", "test", True),
    "hotpotqa": MtebTask("HotpotQA", "test", False),
    "msmarco": MtebTask("MSMARCO", "dev", True),
    "nfcorpus": MtebTask("NFCorpus", "test", False),
    "nq": MtebTask("NQ", "test", False),
    "quora": MtebTask("QuoraRetrieval", "test", True),
    "scidocs": MtebTask("SCIDOCS", "test", False),
    "scifact": MtebTask("SciFact", "test", False),
    "trec-covid": MtebTask("TRECCOVID", "test", False),
    "webis-touche2020": MtebTask("Touche2020", "test", False),
}

_METRIC_FAMILIES = {"nDCG": "ndcg", "Recall": "recall", "P": "precision", "MRR": "mrr", "MAP": "map"}
_MEASURE = re.compile(r"^(nDCG|Recall|P|MRR|MAP)(?:@(\d+))?$")
NO_REVISION = "no_revision_available"


def metric_name(measure: str, top_k: int | None = None) -> str | None:
    """MTEB's (and the Hub's model-index) name of a synrank measure, or None when MTEB has no such key.

    ``MAP`` without a cutoff is ``map_at_1000`` only for rankings at most 1000 deep (``top_k``)."""
    match = _MEASURE.match(measure)
    if match is None:
        return None
    family, cutoff = _METRIC_FAMILIES[match.group(1)], match.group(2)
    if cutoff is None:
        if family != "map" or top_k is None or top_k > 1000:
            return None
        cutoff = "1000"
    return f"{family}_at_{cutoff}"


def model_name_as_path(name: str) -> str:
    """The folder name MTEB uses for a model name (``org/model`` → ``org__model``); characters that are
    awkward in a path (``:`` of ``module:Class``, spaces) become ``__`` too."""
    return re.sub(r"[^\w.\-]+", "__", name).strip("_") or "model"


def model_revision(fingerprint: Any) -> str:
    """The revision folder of a model: 16 hex digits of a sha256 fingerprint (like a short commit), a
    plug-in's own fingerprint string as it is, or MTEB's ``no_revision_available``."""
    if not fingerprint:
        return NO_REVISION
    text = str(fingerprint)
    return text[:16] if re.fullmatch(r"[0-9a-f]{64}", text) else model_name_as_path(text)


def judged_query_ids(qrels_file: Path) -> set[str]:
    """Query ids of a BEIR qrels TSV (header optional), without parsing grades."""
    ids: set[str] = set()
    with open(qrels_file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3 or (lineno == 0 and not cols[2].lstrip("-").isdigit()):
                continue
            ids.add(cols[0])
    return ids


def mteb_eligibility(*, dataset: str, split: str, mode: str, n_evaluated: int, n_judged: int,
                     relevance_threshold: int, ignore_identical_ids: bool, ids_overlap: bool,
                     measures: Mapping[str, float]) -> tuple[MtebTask | None, str]:
    """``(task, "")`` when the evaluation is MTEB's task, else ``(None, why not)``."""
    task = MTEB_TASKS.get(dataset)
    if task is None:
        return None, f"MTEB has no task built from {dataset!r}"
    reasons = []
    if split != task.split:
        reasons.append(f"split {split!r} is not MTEB's {task.split!r}")
    if mode != "full":
        reasons.append(f"mode {mode!r}: MTEB searches the whole corpus")
    if n_evaluated != n_judged:
        reasons.append(f"{n_evaluated} of the split's {n_judged} judged queries were evaluated (a subsample)")
    if relevance_threshold != 1:
        reasons.append(f"relevance threshold {relevance_threshold}, MTEB uses 1")
    if ids_overlap and ignore_identical_ids != task.ignore_identical_ids:
        reasons.append(f"ignore_identical_ids={ignore_identical_ids}, MTEB's {task.name} uses "
                       f"{task.ignore_identical_ids}")
    if "nDCG@10" not in measures:
        reasons.append("nDCG@10 (MTEB's main score) was not computed")
    if reasons:
        return None, "; ".join(reasons)
    return task, ""


def task_result(task: MtebTask, aggregate: Mapping[str, float], *, dataset_sha256: str, top_k: int | None,
                evaluation_time: float | None, created: float | None = None) -> dict[str, Any]:
    """The JSON object of MTEB's ``TaskResult`` for one split."""
    scores: dict[str, Any] = {}
    for measure, value in aggregate.items():
        key = metric_name(measure, top_k)
        if key is not None:
            scores[key] = float(value)
    scores.update({"main_score": float(aggregate["nDCG@10"]), "hf_subset": "default",
                   "languages": list(task.languages)})
    return {
        "dataset_revision": f"synrank-sha256:{dataset_sha256[:16]}",
        "task_name": task.name,
        "mteb_version": None,  # written by synrank, not by an MTEB run
        "scores": {task.split: [scores]},
        "evaluation_time": evaluation_time,
        "kg_co2_emissions": None,
        "date": created if created is not None else time.time(),
        "evaluation_phases": None,
    }


def model_meta(name: str, revision: str, *, similarity: str | None, max_tokens: int | None,
               framework: list[str], model_type: str = "dense") -> dict[str, Any]:
    """A ``model_meta.json`` with the fields MTEB's ``ModelMeta`` requires; unknown ones are null."""
    return {
        "name": name, "revision": revision, "release_date": None, "languages": None, "loader": None,
        "n_parameters": None, "memory_usage_mb": None, "max_tokens": max_tokens, "embed_dim": None,
        "license": None, "open_weights": None, "public_training_code": None, "public_training_data": None,
        "framework": framework, "reference": None,
        "similarity_fn_name": similarity if similarity in ("cosine", "dot") else None,
        "use_instructions": None, "training_datasets": None, "modalities": ["text"], "model_type": [model_type],
    }


def remove_synrank_results(folder: Path) -> None:
    """Delete the result files synrank wrote below ``folder`` (``dataset_revision`` ``synrank-sha256:...``)
    and the ``model_meta.json`` and folders left without results; anything else (results MTEB wrote,
    a user's files) stays."""
    results = folder / "results"
    if not results.is_dir():
        return
    for path in sorted(results.glob("*/*/*.json")):
        if path.name == "model_meta.json":
            continue
        try:
            ours = str(json.loads(path.read_text("utf-8")).get("dataset_revision", "")).startswith("synrank-sha256:")
        except (OSError, ValueError, AttributeError):
            ours = False
        if ours:
            path.unlink()
    for revision in sorted(results.glob("*/*")):
        if revision.is_dir() and [p.name for p in revision.iterdir()] in ([], ["model_meta.json"]):
            (revision / "model_meta.json").unlink(missing_ok=True)
            revision.rmdir()
    for folder_ in [*sorted(results.glob("*")), results, folder]:
        if folder_.is_dir() and not any(folder_.iterdir()):
            folder_.rmdir()


def write_mteb_result(folder: str | Path, *, task: MtebTask, model_name: str, revision: str | None,
                      aggregate: Mapping[str, float], dataset_sha256: str, top_k: int | None,
                      evaluation_time: float | None, similarity: str | None = None,
                      max_tokens: int | None = None, framework: list[str] | None = None,
                      model_type: str = "dense") -> Path:
    """Write ``<folder>/results/<model>/<revision>/<Task>.json`` and its ``model_meta.json``; ``folder``
    is what ``mteb.ResultCache(folder)`` takes. Result files synrank wrote there earlier are removed first
    (:func:`remove_synrank_results`)."""
    folder = Path(folder)
    revision = revision or NO_REVISION
    target = folder / "results" / model_name_as_path(model_name) / revision
    remove_synrank_results(folder)  # one evaluation's result: no file of an earlier model revision stays beside it
    path = target / f"{task.name}.json"
    atomic_write_json(path, task_result(task, aggregate, dataset_sha256=dataset_sha256, top_k=top_k,
                                        evaluation_time=evaluation_time))
    atomic_write_json(target / "model_meta.json",
                      model_meta(model_name, revision, similarity=similarity, max_tokens=max_tokens,
                                 framework=framework or [], model_type=model_type))
    return path


def export_evaluation(out_dir: str | Path, *, data: Any, aggregate: Mapping[str, float], n_queries: int,
                      config: Mapping[str, Any], model_name: str, seconds: float | None,
                      framework: list[str] | None = None) -> dict[str, Any]:
    """After an evaluation into ``out_dir``: write ``<out_dir>/mteb/...`` when the evaluation is MTEB's task.

    ``data``: the :class:`synrank.data.beir.BeirDataset` evaluated; ``config``: the evaluation config
    (``mode``, ``top_k``, ``similarity``, ``max_length``, ``model_fingerprint``). Returns what
    ``metrics.json`` records about it: ``{"task", "file"}`` or ``{"skipped": why}``.
    """
    info = data.info
    remove_synrank_results(Path(out_dir) / "mteb")  # an earlier evaluation's file must not outlive it
    task = MTEB_TASKS.get(info.name)
    if task is None:
        return {"skipped": f"MTEB has no task built from {info.name!r}"}
    qrels_file = info.qrels_path(data.split)
    n_judged = len(judged_query_ids(qrels_file)) if qrels_file.is_file() else -1
    queries = data.judged_queries()
    task, why = mteb_eligibility(
        dataset=info.name, split=data.split, mode=str(config.get("mode")), n_evaluated=n_queries,
        n_judged=n_judged, relevance_threshold=info.relevance_threshold,
        ignore_identical_ids=info.ignore_identical_ids, ids_overlap=any(q in data.corpus for q in queries),
        measures=aggregate)
    if task is None:
        logger.info("no MTEB result file for %s/%s: %s", info.name, data.split, why)
        return {"skipped": why}
    fingerprint = config.get("model_fingerprint")
    similarity = config.get("similarity")
    path = write_mteb_result(Path(out_dir) / "mteb", task=task, model_name=model_name,
                             revision=model_revision(fingerprint), aggregate=aggregate,
                             dataset_sha256=data.sha256(), top_k=config.get("top_k"), evaluation_time=seconds,
                             similarity=similarity, max_tokens=config.get("max_length"),
                             framework=framework, model_type="sparse" if similarity == "bm25" else "dense")
    return {"task": task.name, "file": path.relative_to(out_dir).as_posix()}
