"""One benchmark cell (model x dataset) and one training cell, each cached by a config hash.

A cell folder ``results/<suite>/cells/<model>/<dataset>/`` holds the evaluation artifacts
(``run.trec.gz``, ``per_query.tsv``, ``metrics.json``) and, written last and atomically, the
completion marker ``cell.json`` (cell config, its hash, timings, dataset checksums, subsample, the
sha256 of each artifact). A rerun skips a cell whose marker carries the same config hash and whose
files verify (:func:`verify_cell`: they parse and match the marker); otherwise it recomputes it with a
warning. A crash leaves no marker, so only the cell in progress is recomputed. Training cells ``results/<suite>/train/<model>/`` work the same way
with ``train.json`` as the marker and the trainer's own checkpoints for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.suites import DatasetSpec, SuiteConfig, VariantSpec
from synrank.errors import ConfigError, ModelError, SynrankError, TrainingError
from synrank.io import atomic_write_json, sha256_file
from synrank.provenance import Timings, config_hash, environment, peak_rss_mb, portable_path

logger = logging.getLogger(__name__)

CELL_MARKER = "cell.json"
TRAIN_MARKER = "train.json"
#: A cell's artifacts (the marker records their sha256) and those a reusable cell must have.
CELL_FILES = ("metrics.json", "per_query.tsv", "run.trec.gz")
REQUIRED_CELL_FILES = ("metrics.json", "per_query.tsv")
#: Bump when the meaning of a cell's artifacts changes, so old caches are recomputed.
CELL_SCHEMA = "synrank.benchmark-cell/v2"  # v2: trec_eval tie semantics


@dataclass
class CellOutcome:
    model: str
    dataset: str
    status: str  # "computed" | "cached" | "failed"
    seconds: float
    config_hash: str
    folder: Path
    error: str | None = None


def read_marker(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        logger.warning("%s: unreadable completion marker, recomputing", path)
        return None


# ---------------------------------------------------------------------------------------------------
# Model specs and fingerprints
# ---------------------------------------------------------------------------------------------------

def resolve_model_spec(spec: str, base_dir: Path | None = None) -> str:
    """Make a model folder given as a relative path absolute (looked up against ``base_dir``, then the
    working directory); aliases, hub names and ``module:Class`` specs are returned unchanged."""
    p = Path(spec).expanduser()
    if p.is_absolute():
        return str(p)
    for root in ([base_dir] if base_dir is not None else []) + [Path.cwd()]:
        if (root / p).is_dir():
            return str((root / p).resolve())
    return spec


def model_fingerprint(spec: str) -> dict[str, Any]:
    """What identifies a model's outputs: a folder's content hash, else the spec itself."""
    from synrank.paths import resolve_model_alias
    from synrank.retrieval.encoders import folder_fingerprint, folder_is_transformer

    resolved = resolve_model_alias(spec)
    if Path(resolved).is_dir():
        return {"spec": spec, "kind": "folder", "sha256": folder_fingerprint(resolved),
                "transformer": folder_is_transformer(Path(resolved))}
    if ":" in spec and not Path(spec).exists():
        module = spec.split(":", 1)[0]
        info: dict[str, Any] = {"spec": spec, "kind": "class"}
        try:
            import importlib.util

            found = importlib.util.find_spec(module)
            if found is not None and found.origin and Path(found.origin).is_file():
                info["module_sha256"] = sha256_file(found.origin)
        except (ImportError, ValueError):
            pass
        return info
    return {"spec": spec, "kind": "hub"}


def encoding_identity(variant: VariantSpec, suite: SuiteConfig, model_identity: dict[str, Any]) -> str | None:
    """The encoding backend a model row runs on, with ``auto`` decided for this model and CPU: part of
    the cell key. None for BM25; ``auto`` for a plug-in class or hub model (decided when it runs and
    recorded in its metrics.json)."""
    from synrank.retrieval.backends import Backend, default_backend

    if variant.kind == "bm25":
        return None
    requested = variant.encoding or suite.encoding
    if requested != "auto":
        return Backend.parse(requested).name
    transformer = model_identity.get("transformer")
    if transformer is None:
        return "auto"
    return default_backend().name if transformer else "torch-fp32"


# ---------------------------------------------------------------------------------------------------
# Dataset loading with a recorded, seeded subsample
# ---------------------------------------------------------------------------------------------------

def dataset_forums(ds: DatasetSpec) -> list[str]:
    """The forums of a catalog dataset evaluated forum by forum and averaged (CQADupStack), else []."""
    from synrank.data.catalog import catalog_entry

    if "/" in ds.name or Path(ds.name).is_dir():
        return []
    entry = catalog_entry(ds.name)
    return list(entry.forums) if entry is not None else []


def dataset_identity(ds: DatasetSpec) -> dict[str, Any]:
    from synrank.data import dataset_info

    forums = dataset_forums(ds)
    if forums:
        if ds.max_queries is not None or ds.mode == "rerank":
            raise SynrankError(f"dataset {ds.name!r} is evaluated forum by forum: max_queries and mode "
                               "'rerank' do not apply to it")
        return {"name": ds.name, "split": ds.split or "test", "mode": "full", "max_queries": None,
                "sample_seed": None, "top_k": ds.top_k, "forums": forums}
    info = dataset_info(ds.name)
    split = ds.split or info.default_split
    mode = ds.mode
    if mode == "auto":
        mode = "rerank" if info.rerank_run is not None else "full"
    if mode == "rerank" and info.rerank_run is None:
        raise SynrankError(f"dataset {ds.name!r}: mode 'rerank' but it ships no first-stage run "
                           f"(looked for {info.path}/bm25_top100.trec); use mode 'full' or 'auto'")
    return {"name": info.name, "split": split, "mode": mode, "max_queries": ds.max_queries,
            "sample_seed": ds.sample_seed if ds.max_queries else None, "top_k": ds.top_k}


def load_cell_dataset(ds: DatasetSpec):
    """Load the split; with ``max_queries`` keep a seeded random subset of the judged queries."""
    from synrank.data import load_dataset

    ident = dataset_identity(ds)
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
    return data, ident, subsample


# ---------------------------------------------------------------------------------------------------
# Evaluation cells
# ---------------------------------------------------------------------------------------------------

def _bm25_cell(variant: VariantSpec, data, ident: dict[str, Any], folder: Path, top_k: int,
               timings: Timings) -> dict[str, Any]:
    """BM25 reference row: full mode searches the corpus with :class:`BM25Index`; rerank mode scores
    the shipped first-stage run as it is (it *is* the BM25 top-100 the rerankers start from)."""
    from synrank.data.trec import read_run, write_run
    from synrank.evaluation.evaluator import evaluate_run, write_per_query_tsv
    from synrank.retrieval.bm25 import BM25Index

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
    with timings.measure("evaluate"):
        result = evaluate_run(data.qrels, run, relevance_threshold=info.relevance_threshold,
                              ignore_identical_ids=info.ignore_identical_ids)
    write_run(run, folder / "run.trec.gz", tag=variant.name)
    write_per_query_tsv(result, folder / "per_query.tsv")
    return {"aggregate": result.aggregate, "n_queries": result.n_queries, "retrieval": method,
            "evaluation": result.summary()}


def _model_cell(model_spec: str, variant: VariantSpec, data, ident: dict[str, Any], folder: Path,
                top_k: int, batch_size: int, encoding: str | None) -> dict[str, Any]:
    try:
        from synrank.evaluation.pipeline import evaluate_model
    except ImportError as exc:  # the retrieval area has not landed in this checkout
        raise SynrankError(f"synrank.evaluation.pipeline is not available ({exc}); cannot evaluate "
                           f"model {variant.name!r}") from exc
    kwargs: dict[str, Any] = {}
    if variant.max_length is not None:
        kwargs["max_length"] = variant.max_length
    res = evaluate_model(model_spec, data, split=ident["split"], output_dir=folder, mode=ident["mode"],
                         top_k=top_k, batch_size=variant.batch_size or batch_size, name=variant.name,
                         backend=encoding, **kwargs)
    return {"aggregate": dict(res.aggregate), "n_queries": res.n_queries,
            "pipeline_config_hash": res.config_hash, "pipeline_timings": dict(res.timings)}


@dataclass
class _ForumData:
    """What run_cell records about the data of a forum-by-forum cell."""

    checksums: dict[str, str]

    def sha256(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.checksums):
            h.update(f"{name}\t{self.checksums[name]}\n".encode())
        return h.hexdigest()


def _forum_cells(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, ident: dict[str, Any], folder: Path,
                 model_spec: str | None, model_identity: dict[str, Any], top_k: int, chash: str,
                 timings: Timings) -> tuple[dict[str, Any], _ForumData]:
    """Evaluate every forum as its own dataset (full retrieval over that forum's corpus) into
    ``folder/<forum>/``, then combine as BEIR does for CQADupStack: each measure is the mean over the
    forums of the forum's mean. ``per_query.tsv`` and ``run.trec.gz`` pool the forums' queries under
    ``<forum>/<id>`` (the leaderboard's paired tests and confidence intervals use these pooled queries)."""
    from benchmarks.leaderboard import read_per_query
    from synrank.data.trec import read_run, write_run

    per_forum: dict[str, dict[str, Any]] = {}
    pooled: dict[str, dict[str, float]] = {}
    run: dict[str, dict[str, float]] = {}
    checksums: dict[str, str] = {}
    for forum in ident["forums"]:
        sub = dataclasses.replace(ds, name=f"{ds.name}/{forum}", label=None)
        sub_folder = folder / forum
        sub_folder.mkdir(parents=True, exist_ok=True)
        with timings.measure("load_dataset"):
            data, sub_ident, _ = load_cell_dataset(sub)
        if variant.kind == "bm25":
            out = _bm25_cell(variant, data, sub_ident, sub_folder, top_k, timings)
        else:
            assert model_spec is not None
            with timings.measure("evaluate_model"):
                out = _model_cell(model_spec, variant, data, sub_ident, sub_folder, top_k, suite.batch_size,
                                  encoding_identity(variant, suite, model_identity))
        per_forum[forum] = {"aggregate": out["aggregate"], "n_queries": out["n_queries"]}
        for measure, values in read_per_query(sub_folder / "per_query.tsv").items():
            for qid, value in values.items():
                pooled.setdefault(f"{forum}/{qid}", {})[measure] = value
        for qid, docs in read_run(sub_folder / "run.trec.gz").items():
            run[f"{forum}/{qid}"] = {f"{forum}/{d}": score for d, score in docs.items()}
        checksums.update({f"{forum}/{k}": v for k, v in data.checksums.items()})
    measures = list(next(iter(per_forum.values()))["aggregate"])
    aggregate = {m: float(sum(f["aggregate"][m] for f in per_forum.values()) / len(per_forum)) for m in measures}
    lines = ["\t".join(["query_id", *measures])]
    lines += ["\t".join([qid, *(repr(float(pooled[qid][m])) for m in measures)]) for qid in sorted(pooled)]
    from synrank.io import atomic_write_text

    write_run(run, folder / "run.trec.gz", tag=variant.name)
    atomic_write_text(folder / "per_query.tsv", "\n".join(lines) + "\n")
    n_queries = sum(f["n_queries"] for f in per_forum.values())
    data = _ForumData(checksums)
    atomic_write_json(folder / "metrics.json", {
        "name": variant.name, "dataset": {"name": ds.name, "split": ident["split"], "sha256": data.sha256(),
                                          "forums": ident["forums"]},
        "mode": "full", "aggregate": aggregate, "aggregation": "mean over forums of each forum's mean (BEIR)",
        "n_queries": n_queries, "forums": per_forum, "config": {"model": model_identity, "top_k": top_k},
        "config_hash": chash, "timings": dict(timings), **environment()})
    return {"aggregate": aggregate, "n_queries": n_queries, "forums": per_forum}, data


def _cell_key(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, results: Path,
              model_identity: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str, Path]:
    ident = dataset_identity(ds)
    cell_config = {"schema": CELL_SCHEMA, "model": model_identity, "dataset": ident,
                   "top_k": ds.top_k or suite.top_k, "max_length": variant.max_length,
                   "encoding": encoding_identity(variant, suite, model_identity)}
    return ident, cell_config, config_hash(cell_config), results / "cells" / variant.name / ds.key


def cell_file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of the cell's artifacts that exist, as recorded in its marker (``files``)."""
    return {name: sha256_file(folder / name) for name in CELL_FILES if (folder / name).is_file()}


def verify_cell(folder: Path, marker: dict[str, Any]) -> str | None:
    """Why the finished cell in ``folder`` cannot be reused, or None when it can.

    Its files are verified, not trusted: ``metrics.json`` and ``per_query.tsv`` must exist and parse,
    ``per_query.tsv`` must hold the marker's ``n_queries`` queries, and every file the marker lists a
    sha256 for must still have it (``run.trec.gz`` may be absent: committed results leave it out). A marker
    from before the hashes were recorded is accepted when the files parse and ``metrics.json`` reports the
    marker's aggregate scores.
    """
    from benchmarks.leaderboard import read_per_query  # leaderboard imports this module

    for name in REQUIRED_CELL_FILES:
        if not (folder / name).is_file():
            return f"{name} is missing"
    hashes = marker.get("files")
    if hashes is not None and not isinstance(hashes, dict):
        return f"{CELL_MARKER} has a malformed 'files' entry"
    for name, digest in (hashes or {}).items():
        try:
            if (name in REQUIRED_CELL_FILES or (folder / name).exists()) and sha256_file(folder / name) != digest:
                return f"{name} does not match its sha256 in {CELL_MARKER} (edited or damaged since it was written)"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
    try:
        metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"metrics.json does not parse ({exc})"
    if not isinstance(metrics, dict):
        return "metrics.json is not a JSON object"
    if not hashes and metrics.get("aggregate") != marker.get("aggregate"):
        return f"metrics.json and {CELL_MARKER} report different scores"
    try:
        per_query = read_per_query(folder / "per_query.tsv")
    except (SynrankError, OSError, UnicodeDecodeError, ValueError) as exc:
        return f"per_query.tsv does not parse ({exc})"
    rows = {len(values) for values in per_query.values()}
    n_queries = marker.get("n_queries")
    if rows != {n_queries}:
        return f"per_query.tsv holds {sorted(rows) or 0} queries per measure, {CELL_MARKER} says {n_queries}"
    return None


def cell_cache_problem(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, results: Path,
                       model_identity: dict[str, Any]) -> str | None:
    """None when the cell is finished with exactly this config and its files verify (what :func:`run_cell`
    would reuse), else why it would be computed."""
    _, _, chash, folder = _cell_key(suite, variant, ds, results, model_identity)
    marker = read_marker(folder / CELL_MARKER)
    if marker is None:
        return "not computed yet"
    if marker.get("config_hash") != chash:
        return "its config changed"
    return verify_cell(folder, marker)


def cell_is_cached(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, results: Path,
                   model_identity: dict[str, Any]) -> bool:
    """True when the cell is finished with exactly this config (what :func:`run_cell` would skip)."""
    return cell_cache_problem(suite, variant, ds, results, model_identity) is None


def run_cell(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, results: Path, *,
             model_spec: str | None, model_identity: dict[str, Any], overwrite: bool = False) -> CellOutcome:
    """Compute one (model, dataset) cell unless its marker says it is done with the same config."""
    ident, cell_config, chash, folder = _cell_key(suite, variant, ds, results, model_identity)
    top_k = cell_config["top_k"]
    marker_path = folder / CELL_MARKER
    marker = read_marker(marker_path)
    if marker is not None and marker.get("config_hash") == chash and not overwrite:
        problem = verify_cell(folder, marker)
        if problem is None:
            return CellOutcome(variant.name, ds.key, "cached", 0.0, chash, folder)
        logger.warning("%s: finished cell cannot be reused: %s; recomputing", folder, problem)
    if model_spec is None and variant.kind != "bm25":
        raise SynrankError(f"cell {variant.name}/{ds.key} must be computed but no model was given")
    if marker is not None:
        why = "--overwrite" if overwrite else "its config changed"
        logger.info("recomputing %s/%s (%s)", variant.name, ds.key, why)
    # Never leave an old marker or old results beside new, partial artifacts.
    for name in (CELL_MARKER, "metrics.json", "per_query.tsv", "run.trec.gz"):
        (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    start = time.perf_counter()
    try:
        if ident.get("forums"):
            out, data = _forum_cells(suite, variant, ds, ident, folder, model_spec, model_identity, top_k, chash,
                                     timings)
            subsample = None
        else:
            with timings.measure("load_dataset"):
                data, ident, subsample = load_cell_dataset(ds)
            if variant.kind == "bm25":
                out = _bm25_cell(variant, data, ident, folder, top_k, timings)
                # The pipeline writes metrics.json for model cells; BM25 cells get the same core fields.
                atomic_write_json(folder / "metrics.json", {
                    "name": variant.name, "dataset": {"name": ident["name"], "split": ident["split"],
                                                      "sha256": data.sha256(), "checksums": data.checksums},
                    "mode": ident["mode"], "aggregate": out["aggregate"], "n_queries": out["n_queries"],
                    "config": {"model": model_identity, "retrieval": out["retrieval"], "top_k": top_k},
                    "config_hash": chash, "evaluation": out["evaluation"], "timings": dict(timings),
                    **environment()})
            else:
                assert model_spec is not None
                with timings.measure("evaluate_model"):
                    out = _model_cell(model_spec, variant, data, ident, folder, top_k, suite.batch_size,
                                      cell_config["encoding"])
    except SynrankError as exc:
        logger.error("cell %s/%s failed: %s", variant.name, ds.key, exc)
        return CellOutcome(variant.name, ds.key, "failed", time.perf_counter() - start, chash, folder, str(exc))
    seconds = round(time.perf_counter() - start, 3)
    atomic_write_json(marker_path, {
        "schema": CELL_SCHEMA, "suite": suite.name, "model": variant.name, "variant": variant.label,
        "base": variant.base, "kind": variant.kind, "dataset": ds.key, "split": ident["split"],
        "mode": ident["mode"], "config": cell_config, "config_hash": chash,
        "dataset_sha256": data.sha256(), "dataset_checksums": data.checksums, "subsample": subsample,
        "n_queries": out["n_queries"], "aggregate": out["aggregate"],
        **({"forums": out["forums"]} if "forums" in out else {}),
        "pipeline_config_hash": out.get("pipeline_config_hash"),
        "timings": {**dict(timings), "total": seconds}, "peak_rss_mb": round(peak_rss_mb(), 1),
        "batch_size": variant.batch_size or suite.batch_size,
        "files": cell_file_hashes(folder),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return CellOutcome(variant.name, ds.key, "computed", seconds, chash, folder)


# ---------------------------------------------------------------------------------------------------
# Training cells
# ---------------------------------------------------------------------------------------------------

@dataclass
class TrainOutcome:
    model: str
    status: str  # "computed" | "cached" | "resumed"
    seconds: float
    config_hash: str
    checkpoint: Path
    model_sha256: str  # folder_fingerprint of the checkpoint, as recorded in the marker


def train_config_dict(suite: SuiteConfig, variant: VariantSpec) -> tuple[dict[str, Any], Path]:
    """The variant's training config, validated, with overrides applied and data paths absolute.

    Returns the config as a dict and the file it came from (the suite file for an inline config)."""
    from synrank.config import from_dict
    from synrank.training.config import TrainConfig, _resolve_paths, load_train_config

    assert variant.train is not None
    overrides = dict(variant.train_overrides) or None
    if isinstance(variant.train, dict):
        base_dir = Path(suite.source) if suite.source else Path.cwd()
        raw = _resolve_paths({"name": variant.name, **variant.train}, base_dir)
        raw.update(overrides or {})
        source = base_dir / f"{suite.name}.yaml"
        cfg = from_dict(TrainConfig, raw, source=f"{source} (variant {variant.name!r}, inline train config)")
        return cfg.to_dict(), source
    path = suite.resolve(variant.train)
    cfg = load_train_config(path, overrides=overrides)
    return cfg.to_dict(), path


def training_identity(cfg: dict[str, Any]) -> dict[str, Any]:
    """What a training cell's cache key hashes: the config with every local path replaced by content.

    A data source given by ``path`` is keyed by its file names and their sha256 (so a synthetic dataset
    that grows or is regenerated at the same path retrains, and the same data in another checkout does
    not); a base model given as a folder is keyed by :func:`folder_fingerprint`. Absolute paths never
    enter the hash, so one config gives one hash on any machine.
    """
    from synrank.data.groups import group_files
    from synrank.retrieval.encoders import folder_fingerprint

    ident = dict(cfg)
    sources = []
    for src in ident.get("data") or []:
        if isinstance(src, dict) and isinstance(src.get("path"), str) and Path(src["path"]).exists():
            files = group_files(src["path"])
            src = {**src, "path": Path(src["path"]).name,
                   "content": {f.name: sha256_file(f) for f in files}}
        sources.append(src)
    if sources:
        ident["data"] = sources
    model = ident.get("model")
    if isinstance(model, dict) and isinstance(model.get("base"), str) and Path(model["base"]).is_absolute() \
            and Path(model["base"]).is_dir():
        ident["model"] = {**model, "base": {"folder_sha256": folder_fingerprint(model["base"])}}
    return ident


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run a training child and never leave it behind: it is stopped when the runner is interrupted
    (Ctrl-C, an exception) and, on Linux, SIGTERMed by the kernel when the runner dies in any way
    (SIGTERM, SIGKILL). An orphaned trainer would go on using the CPU and hold its output folder while
    a rerun of the suite tries to resume the same training."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(cmd, env=env, preexec_fn=preexec)  # noqa: PLW1509 - only a prctl call
    try:
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def find_trained_model(output: Path) -> Path | None:
    """The sentence-transformers folder the trainer left in ``output`` (``modules.json`` marks it), if any."""
    for cand in (output, output / "final", output / "model"):
        if (cand / "modules.json").exists():
            return cand
    return None


def _trained_model_dir(output: Path) -> Path:
    found = find_trained_model(output)
    if found is not None:
        return found
    raise TrainingError("training finished but left no sentence-transformers folder (modules.json)", output,
                        hint="see the trainer's log above; delete the folder and rerun with --overwrite")


TRAIN_SCHEMA = "synrank.benchmark-train/v2"


def training_key(suite: SuiteConfig, variant: VariantSpec) -> tuple[dict[str, Any], Path, str]:
    """The variant's training config (without its output folder), its source file, and its cache key.

    A base model written ``@<variant>`` is that training variant's trained model; it enters the key as
    that variant's own training key, so retraining the base retrains everything that starts from it."""
    cfg, source = train_config_dict(suite, variant)
    cfg.pop("output", None)
    ident = training_identity(cfg)
    dep = base_variant(suite, cfg, source)
    if dep is not None:
        ident["model"] = {**ident["model"], "base": {"after": dep.name, "train_key": training_key(suite, dep)[2]}}
    return cfg, source, config_hash({"schema": TRAIN_SCHEMA, "train": ident})


def base_variant(suite: SuiteConfig, cfg: dict[str, Any], source: Path) -> VariantSpec | None:
    """The training variant named by a ``model.base`` of the form ``@<variant>``, else None."""
    base = (cfg.get("model") or {}).get("base")
    if not (isinstance(base, str) and base.startswith("@")):
        return None
    try:
        dep = suite.variant(base[1:])
    except KeyError:
        raise ConfigError(f"model.base {base!r} names no variant of suite {suite.name!r}", source,
                          hint="use @<name of a training variant listed in the suite>") from None
    if dep.kind != "train":
        raise ConfigError(f"model.base {base!r}: variant {dep.name!r} is not a training variant", source)
    return dep


def trained_identity(train_hash: str, checkpoint: str, model_sha256: str, transformer: bool) -> dict[str, Any]:
    """A trained model as an evaluation cell sees it: its training config's hash and its weights'."""
    return {"kind": "folder", "train_config_hash": train_hash, "spec": checkpoint, "sha256": model_sha256,
            "transformer": transformer}


def trains_transformer(suite: SuiteConfig, variant: VariantSpec) -> bool:
    """Whether a training variant's model is a transformer (not a static encoder, nor trained from one)."""
    from synrank.paths import resolve_model_alias
    from synrank.retrieval.encoders import folder_is_transformer

    cfg, source = train_config_dict(suite, variant)
    model = cfg.get("model") or {}
    if model.get("kind") == "static":
        return False
    dep = base_variant(suite, cfg, source)
    if dep is not None:
        return trains_transformer(suite, dep)
    folder = Path(resolve_model_alias(str(model.get("base", ""))))
    found = folder_is_transformer(folder) if folder.is_dir() else None
    return True if found is None else found  # a hub name: sentence-transformers models are transformers


def finished_training(suite: SuiteConfig, variant: VariantSpec, results: Path) -> dict[str, Any] | None:
    """The evaluation identity of a finished training run with today's config, from its marker alone.

    Lets a rerun reuse finished cells of a trained variant whose weights were not kept (a committed
    results folder holds markers and per-query scores, not 90 MB checkpoints): only a cell that still has
    to be computed needs the model, and then it is trained again.
    """
    cfg, _, thash = training_key(suite, variant)
    marker = read_marker(results / "train" / variant.name / TRAIN_MARKER)
    if marker is None or marker.get("config_hash") != thash or not marker.get("model_sha256"):
        return None
    return trained_identity(thash, marker["checkpoint"], marker["model_sha256"], trains_transformer(suite, variant))


def run_training(suite: SuiteConfig, variant: VariantSpec, results: Path, *, overwrite: bool = False,
                 ) -> TrainOutcome:
    """Train ``variant`` (or reuse a finished run with the same config; resume an interrupted one)."""
    from synrank.retrieval.encoders import folder_fingerprint

    cfg, source, thash = training_key(suite, variant)
    folder = results / "train" / variant.name
    marker_path = folder / TRAIN_MARKER
    output = folder / "model"
    marker = read_marker(marker_path)
    if marker is not None and marker.get("config_hash") == thash and not overwrite:
        model_dir = find_trained_model(output)
        if model_dir is not None:
            model_sha256 = marker.get("model_sha256")
            if not model_sha256:  # a marker from before the fingerprint was recorded
                model_sha256 = folder_fingerprint(model_dir)
                atomic_write_json(marker_path, {**marker, "model_sha256": model_sha256})
            return TrainOutcome(variant.name, "cached", 0.0, thash, model_dir, model_sha256)
        logger.warning("%s: marker present but the trained model is missing; training again", folder)
    marker_path.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    started_before = read_marker(folder / "train.started.json")
    resume = (not overwrite and started_before is not None and started_before.get("config_hash") == thash
              and output.exists())
    if not resume and output.exists():
        import shutil

        shutil.rmtree(output)
    dep = base_variant(suite, cfg, source)
    child_cfg = dict(cfg)
    if dep is not None:  # start from the base variant's trained model (trained again if its weights are gone)
        base_model = run_training(suite, dep, results).checkpoint
        child_cfg["model"] = {**cfg["model"], "base": str(base_model)}
    config_file = folder / "train_config.json"
    atomic_write_json(config_file, {**child_cfg, "output": str(output)})
    atomic_write_json(folder / "train.started.json", {"config_hash": thash, "source": portable_path(source)})
    cmd = [sys.executable, "-m", "synrank.cli", "train", "--config", str(config_file), "--output", str(output)]
    if resume:
        cmd.append("--resume")
    logger.info("training %s (%s)%s", variant.name, source, " — resuming" if resume else "")
    env = {**os.environ, **suite.env}
    start = time.perf_counter()
    returncode = run_child(cmd, env)
    seconds = round(time.perf_counter() - start, 3)
    if returncode != 0:
        raise TrainingError(f"training {variant.name!r} failed (exit {returncode})", source,
                            hint=f"command: {' '.join(cmd)}; rerunning the suite resumes from the last checkpoint")
    model_dir = _trained_model_dir(output)
    model_sha256 = folder_fingerprint(model_dir)
    atomic_write_json(marker_path, {
        "schema": TRAIN_SCHEMA, "model": variant.name, "config_source": portable_path(source),
        "config": cfg, "config_hash": thash, "checkpoint": str(model_dir.relative_to(results)),
        "model_sha256": model_sha256,
        "resumed": resume, "timings": {"train": seconds},
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **environment(),
    })
    return TrainOutcome(variant.name, "resumed" if resume else "computed", seconds, thash, model_dir,
                        model_sha256)


def check_model_loadable(spec: str) -> None:
    """Fail early with a clear message when a plug-in model cannot even be resolved."""
    from synrank.paths import resolve_model_alias

    resolved = resolve_model_alias(spec)
    if Path(resolved).exists() and not Path(resolved).is_dir():
        raise ModelError("a model must be a folder, a hub name or module:Class", resolved)
