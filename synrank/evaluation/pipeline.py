"""One (model, dataset) evaluation cell: retrieve or re-rank, score, write the artifacts.

:func:`evaluate_model` is what ``synrank evaluate --model`` and the benchmark runner call. The output
folder gets, written atomically under a folder lock:

- ``run.trec.gz``: the ranking (deterministic order; see :mod:`synrank.data.trec`),
- ``per_query.tsv``: every judged query's measures,
- ``metrics.json`` (:class:`synrank.records.EvaluationRecord`): aggregate scores, the config and its
  hash, dataset sha256, timings (load / encode_queries / encode_corpus / search / evaluate), peak RSS,
  embedding-cache use, package versions and hardware. It is written last, so its presence marks a
  complete cell.
- ``mteb/results/<model>/<revision>/<Task>.json`` (+ ``model_meta.json``): the scores in MTEB's
  result-file format when the evaluation is an MTEB task (:mod:`synrank.evaluation.mteb_format`;
  ``metrics.json``'s ``mteb`` entry names the file or says why there is none).

A folder that already holds a cell is replaced as a whole (:func:`synrank.records.write_evaluation`: the
old ``metrics.json`` goes first, the new one comes last), never mixed with the new files. The scoring
and writing steps are :func:`score_run`, which the benchmark's BM25 cells share.

Deciding whether a cell must be recomputed is the caller's job (the runner compares config hashes).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.data.beir import BeirDataset, load_dataset
from synrank.data.folders import evaluation_mode
from synrank.data.registry import logical_name
from synrank.data.trec import read_run
from synrank.errors import ConfigError
from synrank.evaluation.evaluator import EvalResult, evaluate_run
from synrank.evaluation.measures import DEFAULT_MEASURES
from synrank.evaluation.mteb_format import export_evaluation
from synrank.io import folder_lock, sha256_content
from synrank.provenance import Timings, config_hash, environment, peak_rss_mb, portable_path
from synrank.records import DatasetRef, EvaluationRecord, write_evaluation
from synrank.retrieval.bm25 import BM25Index
from synrank.retrieval.cache import EmbeddingCache
from synrank.retrieval.encoders import (
    SentenceTransformerEncoder,
    encoder_fingerprint,
    encoder_similarity,
    encoding_name,
    load_encoder,
)
from synrank.retrieval.search import DEFAULT_CHUNK_SIZE, exact_search, rerank

logger = logging.getLogger(__name__)

#: How scores become a ranking for the measures; part of every cell's config (a change recomputes cells).
RANKING_RULE = "trec_eval"  # raw scores to pytrec_eval: score descending, ties by doc id descending
#: Model specs served by the lexical baseline (synrank.retrieval.bm25) instead of an encoder.
LEXICAL_SPECS = ("bm25",)
BM25_DEFAULTS = {"library": "bm25s", "k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": "porter", "stopwords": "en"}


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class CellResult:
    """The outcome of :func:`evaluate_model`."""

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int
    config: dict[str, Any]
    config_hash: str
    timings: dict[str, float]
    output_dir: Path | None
    #: the ranking itself (``{qid: {docid: score}}``), for paired tests without re-reading run.trec.gz
    run: dict[str, dict[str, float]] | None = field(default=None, repr=False)
    #: what metrics.json holds (also when nothing was written)
    record: EvaluationRecord | None = field(default=None, repr=False)

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics.json mapping."""
        return self.record.to_dict() if self.record is not None else {}

    def format_table(self, measures: tuple[str, ...] | None = None) -> str:
        """A small aligned text table of the aggregate measures (what the CLI prints)."""
        names = list(measures or self.aggregate)
        width = max(len(n) for n in names) if names else 0
        head = (f"{self.config.get('model')} on {self.config.get('dataset')}/{self.config.get('split')} "
                f"({self.config.get('mode')}, {self.n_queries} queries)")
        lines = [head] + [f"  {n:<{width}}  {self.aggregate[n]:.4f}" for n in names]
        return "\n".join(lines)


def _model_label(spec: Any, encoder: Any) -> str:
    if isinstance(spec, (str, Path)):
        return str(spec)
    return str(getattr(encoder, "name", None) or type(encoder).__name__)


def _frameworks(encoder: Any) -> list[str]:
    """MTEB's framework label of an encoder (for its model_meta.json)."""
    return ["Sentence Transformers"] if isinstance(encoder, SentenceTransformerEncoder) else []


def _run_tag(text: str) -> str:
    tag = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")
    return tag[-60:] or "synrank"


def evaluate_model(model_spec_or_encoder: Any, dataset: str | Path | BeirDataset, split: str | None = None,
                   output_dir: str | Path | None = None, mode: str = "auto", top_k: int = 1000,
                   batch_size: int = 64, cache: bool = True, name: str | None = None,
                   measures: tuple[str, ...] = DEFAULT_MEASURES, max_length: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE, show_progress: bool = True,
                   candidates: str | Path | None = None, backend: str | None = "auto") -> CellResult:
    """Evaluate one model on one dataset split and (when ``output_dir`` is given) write its artifacts.

    ``model_spec_or_encoder``: anything :func:`synrank.retrieval.encoders.load_encoder` accepts, or
    ``"bm25"`` for the lexical baseline (:class:`synrank.retrieval.bm25.BM25Index`, k1=0.9, b=0.4).
    ``dataset``: a name, a folder or a loaded :class:`BeirDataset` (then ``split`` must match or be None).
    ``mode``: ``"full"`` retrieves from the whole corpus; ``"rerank"`` scores only the candidates of
    the dataset's shipped first-stage run (or ``candidates``, a TREC run file); ``"auto"`` re-ranks
    when such a run exists. ``top_k`` caps the ranking depth (full retrieval; for re-ranking it cuts
    the re-ranked list). Only judged queries are encoded and ranked. ``backend``: the encoding backend
    of a sentence-transformers model (:mod:`synrank.retrieval.backends`; ``auto`` by default).
    """
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    timings = Timings()
    with timings.measure("load"):
        data = _load_split(dataset, split)
        cand_path = Path(candidates) if candidates is not None else data.info.rerank_run
        mode = _resolve_mode(mode, data, cand_path)
        lexical = isinstance(model_spec_or_encoder, str) and model_spec_or_encoder.lower() in LEXICAL_SPECS
        encoder = None if lexical else load_encoder(model_spec_or_encoder, max_length=max_length,
                                                    **({} if backend in (None, "auto") else {"backend": backend}))
    info = data.info
    if lexical:
        label, fingerprint = "bm25", None
    else:
        fingerprint = encoder_fingerprint(encoder)
        label = _model_label(model_spec_or_encoder, encoder)
    config = _evaluation_config(data, encoder, label, fingerprint, mode, top_k, batch_size, measures, cand_path)
    emb_cache: EmbeddingCache | bool = EmbeddingCache(fingerprint) if (cache and fingerprint) else False
    if cache and not fingerprint and not lexical:
        logger.info("model %s has no fingerprint: embedding cache disabled for it", label)

    queries = data.judged_queries()
    logger.info("evaluating %s on %s/%s (%s, %d queries, %d docs)", label, info.name, data.split, mode,
                len(queries), len(data.corpus))
    if lexical:
        with timings.measure("index"):
            index = BM25Index(data.corpus, show_progress=show_progress,
                              **{k: v for k, v in BM25_DEFAULTS.items() if k != "library"})
        with timings.measure("search"):
            if mode == "full":
                run = index.search(queries, top_k=top_k, ignore_identical_ids=info.ignore_identical_ids)
            else:
                run = index.rerank(queries, read_run(cand_path), top_k=top_k,
                                   ignore_identical_ids=info.ignore_identical_ids)
    elif mode == "full":
        run = exact_search(encoder, data.corpus, queries, top_k=top_k, batch_size=batch_size,
                           chunk_size=chunk_size, cache=emb_cache,
                           ignore_identical_ids=info.ignore_identical_ids, show_progress=show_progress,
                           timings=timings)
    else:
        with timings.measure("load"):
            candidate_run = read_run(cand_path)
        run = rerank(encoder, data.corpus, queries, candidate_run, batch_size=batch_size,
                     chunk_size=chunk_size, cache=emb_cache, ignore_identical_ids=info.ignore_identical_ids,
                     top_k=top_k, show_progress=show_progress, timings=timings)
    return score_run(data, run, kind="bm25" if lexical else "encoder", config=config, mode=mode, timings=timings,
                     name=name or f"{label}@{info.name}", measures=measures, output_dir=output_dir,
                     run_tag=name or label, top_k=top_k,
                     embedding_cache=emb_cache if isinstance(emb_cache, EmbeddingCache) else None,
                     mteb=MtebExport(name or label, _frameworks(encoder)))


def _load_split(dataset: str | Path | BeirDataset, split: str | None) -> BeirDataset:
    if not isinstance(dataset, BeirDataset):
        return load_dataset(dataset, split=split)
    if split is not None and split != dataset.split:
        raise ConfigError(f"dataset was loaded with split {dataset.split!r} but split={split!r} was asked")
    return dataset


def _resolve_mode(mode: str, data: BeirDataset, cand_path: Path | None) -> str:
    """The mode :func:`~synrank.data.folders.evaluation_mode` decides (``auto``: re-rank ``cand_path`` when
    there is one); refuse a split that cannot be evaluated."""
    info = data.info
    if not data.qrels:
        raise ConfigError(f"dataset {info.name!r} split {data.split!r} has no judged queries: nothing to evaluate",
                          info.path)
    mode = evaluation_mode(mode, info, cand_path)
    if not data.corpus:
        raise ConfigError(f"dataset {info.name!r} has no corpus to retrieve from", info.path)
    return mode


def _evaluation_config(data: BeirDataset, encoder: Any, label: str, fingerprint: str | None, mode: str,
                       top_k: int, batch_size: int, measures: tuple[str, ...], cand_path: Path | None,
                       ) -> dict[str, Any]:
    """What identifies an evaluation's result (its ``config_hash``): model, dataset content, how ranked and scored."""
    lexical = encoder is None
    bm25_params = {**BM25_DEFAULTS, "version": _version("bm25s")} if lexical else None
    config: dict[str, Any] = {
        "model": label,
        "model_fingerprint": config_hash(bm25_params, 64) if lexical else fingerprint,
        "max_length": None if lexical else getattr(encoder, "max_length", None),
        "similarity": "bm25" if lexical else encoder_similarity(encoder),
        "encoding": None if lexical else encoding_name(encoder),
        "dataset": data.info.name,
        "split": data.split,
        "dataset_sha256": data.sha256(),
        "mode": mode,
        "top_k": top_k,
        "batch_size": batch_size,
        "measures": list(measures),
        "relevance_threshold": data.info.relevance_threshold,
        "ignore_identical_ids": data.info.ignore_identical_ids,
        "ranking": RANKING_RULE,
    }
    if lexical:
        config["bm25"] = bm25_params
    if mode == "rerank":
        assert cand_path is not None
        # content identity: a gzip copy of the run has the name and checksum of the plain file
        config["candidates"] = {"file": logical_name(cand_path), "sha256": sha256_content(cand_path)}
    return config


@dataclass
class MtebExport:
    """Write the scores in MTEB's result format too, under this model name (``mteb/results/...``)."""

    model_name: str
    framework: list[str] = field(default_factory=list)


def score_run(data: BeirDataset, run: dict[str, dict[str, float]], *, kind: str, config: dict[str, Any],
              mode: str, timings: Timings, name: str | None = None,
              measures: tuple[str, ...] = DEFAULT_MEASURES, output_dir: str | Path | None = None,
              run_tag: str = "synrank", top_k: int | None = None, embedding_cache: EmbeddingCache | None = None,
              mteb: MtebExport | None = None) -> CellResult:
    """Score ``run`` against ``data``'s judgments and, with ``output_dir``, write the evaluation's files
    (:func:`synrank.records.write_evaluation`, under the folder's lock). What every evaluation of a
    ranking ends with: :func:`evaluate_model`'s, and the benchmark's BM25 cells'.

    ``kind`` and ``config`` describe what ranked (:class:`synrank.records.EvaluationRecord`); ``config_hash``
    is the hash of ``config``. ``timings`` gets ``evaluate``."""
    info = data.info
    with timings.measure("evaluate"):
        result: EvalResult = evaluate_run(data.qrels, run, measures=measures,
                                          relevance_threshold=info.relevance_threshold,
                                          ignore_identical_ids=info.ignore_identical_ids)
    chash = config_hash(config)
    record = EvaluationRecord(
        kind=kind, name=name, aggregate=result.aggregate, n_queries=result.n_queries, mode=mode, config=config,
        config_hash=chash, evaluation=result.evaluation_summary(), notes=result.notes,
        dataset=DatasetRef(name=info.name, path=portable_path(info.path, relative_to=output_dir), split=data.split,
                           sha256=data.sha256(), checksums=dict(data.checksums), n_docs=len(data.corpus),
                           n_queries=len(data.judged_queries())),
        timings=dict(timings), peak_rss_mb=round(peak_rss_mb(), 1),
        embedding_cache=None if embedding_cache is None else {
            "hits": embedding_cache.hits, "misses": embedding_cache.misses,
            "folder": portable_path(embedding_cache.folder)},
        **environment())
    out: Path | None = None
    if output_dir is not None:
        out = Path(output_dir)
        with folder_lock(out, what="evaluation output folder"):
            if mteb is not None:
                record.mteb = export_evaluation(out, data=data, aggregate=result.aggregate,
                                                n_queries=result.n_queries, config=config,
                                                model_name=mteb.model_name, seconds=sum(timings.values()),
                                                framework=mteb.framework)
            write_evaluation(out, record, result.per_query_scores(), run=run, run_tag=_run_tag(run_tag),
                             top_k=top_k)
    return CellResult(aggregate=result.aggregate, per_query=result.per_query, n_queries=result.n_queries,
                      config=config, config_hash=chash, timings=dict(timings), output_dir=out, run=run,
                      record=record)
