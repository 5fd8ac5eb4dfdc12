"""Run a benchmark suite: ``python -m benchmarks.run --suite NAME [options]``.

Trains the suite's training variants, evaluates every (model, dataset) cell, then writes the
leaderboard (``results/<suite>/leaderboard.{csv,md}``, ``plots/``), the HTML report
(``results/<suite>/report/index.html``, :mod:`benchmarks.report`) and ``manifest.json``. Cells and
training runs are cached by config hash, so a rerun only computes what is missing or changed;
``--overwrite`` recomputes. A lock on the results folder keeps two runs from writing it at once.

Plug in a model as one more row (nothing else is retrained)::

    python -m benchmarks.run --suite cpu --model PATH_OR_NAME --name NAME

``PATH_OR_NAME`` is a sentence-transformers folder, a hub name (when online), or an importable
``module:Class`` with ``encode_queries`` / ``encode_corpus`` or only ``encode(texts, **kwargs)`` (the
sentence-transformers / MTEB convention). Plug-ins are remembered in
``results/<suite>/plugins.json`` and stay on the leaderboard.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.cells import CellOutcome, cell_cache_problem, run_cell  # noqa: E402
from benchmarks.keys import (  # noqa: E402
    CellKey,
    TrainingSpec,
    TrainingSpecs,
    cell_key,
    dataset_identity,
    model_identity,
    resolve_model_spec,
)
from benchmarks.records import (  # noqa: E402
    CELL_MARKER,
    MANIFEST_FILE,
    PLUGINS_FILE,
    TRAIN_MARKER,
    CellMarker,
    Invocation,
    ManifestCell,
    ManifestTraining,
    Plugin,
    Plugins,
    SuiteManifest,
    TrainMarker,
    read_or_warn,
)
from benchmarks.report import REPORT_PAGE, summary_lines, write_leaderboard  # noqa: E402
from benchmarks.reuse import ReuseSources, SourceTraining  # noqa: E402
from benchmarks.rows import load_plugins, plugin_variant, subsample_notes, suite_rows  # noqa: E402
from benchmarks.suites import (  # noqa: E402
    DatasetSpec,
    SuiteConfig,
    VariantSpec,
    load_suite,
    results_dir,
    suite_option_help,
    suite_results_dir,
)
from benchmarks.training_runs import (  # noqa: E402
    AdoptTraining,
    TrainOutcome,
    finished_training,
    run_training,
)
from synrank.cliargs import (  # noqa: E402
    HelpFormatter,
    add_deprecated_alias,
    add_list_option,
    add_verbosity,
    configure_logging,
    quiet_noisy_loggers,
)
from synrank.data.catalog import catalog_entry, format_bytes, load_catalog  # noqa: E402
from synrank.data.download import describe_size, has_corpus, locate, offline_reason  # noqa: E402
from synrank.data.registry import dataset_info, find_local  # noqa: E402
from synrank.errors import ConfigError, SynrankError, describe_os_error  # noqa: E402
from synrank.io import folder_lock  # noqa: E402
from synrank.paths import check_safe_name  # noqa: E402
from synrank.provenance import config_hash, environment, portable_path  # noqa: E402
from synrank.redact import redact_text  # noqa: E402

logger = logging.getLogger("benchmarks.run")



# ---------------------------------------------------------------------------------------------------
# Preflight: everything that can be checked before hours of work start
# ---------------------------------------------------------------------------------------------------

def _hub_model_available(name: str) -> bool:
    """True when a hub model can be loaded here: already in the local cache, or the hub is reachable."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for fname in ("modules.json", "config.json"):
        hit = try_to_load_from_cache(name, fname)
        if isinstance(hit, str):
            return True
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True") or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        return False
    try:
        import httpx

        return httpx.head(f"https://huggingface.co/api/models/{name}", timeout=5.0).status_code == 200
    except Exception:
        return False


def _dataset_problem(name: str, need_corpus: bool) -> tuple[str | None, str | None]:
    """``(problem, None)`` when dataset ``name`` cannot be used here, ``(None, name)`` when it is missing
    but the dataset catalog will download it on first use, ``(None, None)`` when it is here."""
    entry = None if Path(name).is_dir() else catalog_entry(name)
    try:
        if Path(name).is_dir():
            local: Path | None = Path(name)
        else:
            local = locate(entry) if entry is not None else find_local(name)
    except SynrankError as exc:  # e.g. a symbolic link loop in the search path
        return f"dataset {name!r}: {exc}", None
    if local is not None:
        complete = has_corpus(local, entry) if entry is not None else dataset_info(local).has_corpus
        if not need_corpus or complete:
            return None, None
        fix = (f"`synrank download {name} --to DIR` and put DIR first in $SYNRANK_DATA" if entry and entry.fetchable
               else "put a complete copy in a folder listed earlier in $SYNRANK_DATA")
        return f"dataset {name!r}: {local} has no corpus.jsonl ({fix})", None
    if entry is None:
        return (f"dataset {name!r}: not found in the dataset search path, and the dataset catalog does not list "
                "it (`synrank datasets` shows where synrank looks)", None)
    if not entry.fetchable:
        return f"dataset {name!r}: not here, and synrank cannot download it ({entry.manual})", None
    why = offline_reason()
    if why:
        return (f"dataset {name!r}: not here, and downloading is disabled ({why}); run `synrank download {name}` "
                "where there is internet", None)
    return None, name


def preflight(suite: SuiteConfig, variants: list[VariantSpec], datasets: list[str],
              specs: TrainingSpecs | None = None) -> list[str]:
    """Raise one :class:`SynrankError` listing everything missing (GPUs, models, datasets, modules, data
    files). Datasets the catalog can download are not missing: the returned notes say what will be
    downloaded on first use (and how to fetch it beforehand). ``specs``: the run's training specs (each
    variant's config is parsed and keyed once per run)."""
    specs = specs or TrainingSpecs(suite)
    missing: list[str] = []
    req = suite.requires
    if req.gpus:
        try:
            import torch  # heavy, and only a suite that asks for GPUs needs it here
        except ImportError:
            have = 0
        else:
            have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if have < req.gpus:
            missing.append(f"GPUs: need {req.gpus}, found {have}")
    for name in req.models:
        if not _hub_model_available(name):
            missing.append(f"hub model {name!r}: not in the local Hugging Face cache and the hub is unreachable")
    for mod in req.modules:
        if importlib.util.find_spec(mod) is None:
            missing.append(f"python module {mod!r}: not installed")
    absent: set[Path] = set()
    for p in req.paths:
        if not suite.resolve(p).exists():
            absent.add(suite.resolve(p))
            missing.append(f"file {suite.resolve(p)}: does not exist")
    training: dict[str, dict[str, Any]] = {}
    problems: dict[str, SynrankError] = {}
    for v in variants:
        if v.kind == "train":
            try:
                training[v.name] = specs(v).config
            except SynrankError as exc:
                problems[v.name] = exc
    to_download: list[str] = []
    for name in dict.fromkeys([*req.datasets, *datasets, *_training_datasets(training.values())]):
        problem, fetch = _dataset_problem(name, True)
        if problem:
            missing.append(problem)
        elif fetch:
            to_download.append(fetch)
    users: dict[Path, list[str]] = {}
    for v in variants:
        if v.name in problems:
            missing.append(f"variant {v.name!r}: {problems[v.name]}")
        for src in training.get(v.name, {}).get("data") or []:
            if src.get("kind") == "groups" and src.get("path") and not Path(src["path"]).exists():
                users.setdefault(Path(src["path"]), []).append(v.name)
    for path, names in users.items():
        if path in absent:  # already listed as a required file: name the variants that need it there
            i = missing.index(f"file {path}: does not exist")
            missing[i] += f" (training data of {', '.join(names)}; generate it with `synrank generate`)"
        else:
            missing.append(f"variant(s) {', '.join(names)}: training data {path} does not exist "
                           "(generate it with `synrank generate`, or fix the training config)")
    notes = _download_notes(to_download)
    if missing:
        raise SynrankError(
            f"suite {suite.name!r} cannot run on this machine; missing:\n  - " + "\n  - ".join(missing)
            + "\n(nothing was run; see the suite file's comments for how to provide these)"
            + "".join(f"\n{n}" for n in notes))
    return notes


def _training_datasets(configs: Iterable[dict[str, Any]]) -> list[str]:
    """Datasets named by training configs (e.g. supervised msmarco train)."""
    return [src["dataset"] for cfg in configs for src in cfg.get("data") or []
            if isinstance(src, dict) and isinstance(src.get("dataset"), str)]


def _download_notes(names: list[str]) -> list[str]:
    """What the catalog will download on first use, with sizes (the datasets a dataset links to included)."""
    if not names:
        return []
    catalog = load_catalog()
    parts, total, unknown = [], 0, False
    for name in names:
        entry = catalog.get(name)
        assert entry is not None
        dep = entry.sources[0].corpus_from
        if dep in names:
            parts.append(f"{name} ({format_bytes(entry.download_bytes)}; corpus linked from {dep})")
        else:
            parts.append(f"{name} ({describe_size(entry, catalog)})")
        if entry.download_bytes is None:
            unknown = True
        else:
            total += entry.download_bytes
        dep_entry = catalog.get(dep) if dep and dep not in names else None
        if dep_entry is not None and locate(dep_entry, complete=True) is None:
            total += dep_entry.download_bytes or 0
    size = format_bytes(total) + (" + unknown sizes" if unknown else "")
    return [f"will download on first use: {', '.join(parts)}; {size} in all "
            f"(or beforehand: synrank download {' '.join(names)})"]


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------

def _select(items: list[str], wanted: list[str] | None, what: str) -> list[str]:
    if not wanted:
        return items
    unknown = [w for w in wanted if w not in items]
    if unknown:
        raise ConfigError(f"unknown {what}(s) {unknown}", hint=f"the suite has: {', '.join(items)}")
    return [i for i in items if i in wanted]


def _cell_keys(suite: SuiteConfig, v: VariantSpec, datasets: list[DatasetSpec], idents: dict[str, dict[str, Any]],
               results: Path, model: dict[str, Any]) -> list[CellKey]:
    return [cell_key(suite, v, d, idents[d.key], results, model) for d in datasets]


def reuse_sources(suite: SuiteConfig, results: Path, reuse_from: Iterable[Path] = ()) -> ReuseSources:
    """Where this run may copy finished work from: ``reuse_from`` (``--reuse-from``), then the results
    folder of each suite the suite's ``reuse`` names (``results/<name>``); never ``results`` itself."""
    return ReuseSources([*reuse_from, *(suite_results_dir(n) for n in suite.reuse)], results)


def run_suite(suite: SuiteConfig, results: Path, *, models: list[str] | None = None,
              datasets: list[str] | None = None, overwrite: bool = False, plugin: tuple[str, str] | None = None,
              plugin_baseline: str | None = None, argv: list[str] | None = None,
              skip_preflight: bool = False, reuse_from: Iterable[Path] = ()) -> dict[str, Any]:
    """Run (the selected part of) ``suite`` into ``results``; returns a summary (also in manifest.json).
    Cells and training runs missing here are copied from the reuse sources when their keys are equal
    (:func:`reuse_sources`; not with ``overwrite``)."""
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for k, v in suite.env.items():
        os.environ.setdefault(k, v)
    all_datasets = [d.key for d in suite.datasets]
    ds_selected = _select(all_datasets, datasets, "dataset")
    # folder_lock creates the folder and turns a failure (path below a regular file, read-only) into one line
    with folder_lock(results, what="results folder"):
        plugins = load_plugins(results)
        if plugin is not None:
            to_run = [_register_plugin(suite, results, plugins, *plugin, plugin_baseline, started)]
        else:
            to_run = [r for n in _select([v.name for v in suite.variants], models, "model")
                      for r in suite.variant(n).replicates()]
        specs = TrainingSpecs(suite)
        reuse = None if overwrite else reuse_sources(suite, results, reuse_from) or None
        if reuse is not None:
            logger.info("reusing finished cells and training runs with equal keys from %s", reuse.describe())
        if not skip_preflight:
            for note in preflight(suite, to_run, [d.name for d in suite.datasets if d.key in ds_selected], specs):
                logger.info("%s", note)

        trainings: list[TrainOutcome] = []
        outcomes: list[CellOutcome] = []
        failures: list[str] = []
        ds_specs = [d for d in suite.datasets if d.key in ds_selected]
        idents = {d.key: dataset_identity(d) for d in ds_specs}  # once per dataset, for every cell
        for v in to_run:
            try:
                spec, identity, keys = _row_model(suite, v, ds_specs, idents, results, specs, overwrite, trainings,
                                                  reuse)
            except SynrankError as exc:
                if v.kind == "bm25":
                    raise
                if v.kind == "train":
                    logger.error("%s", exc)
                failures.append(f"{'train' if v.kind == 'train' else 'model'} {v.name}: {exc}")
                continue
            for ds, key in zip(ds_specs, keys, strict=True):
                adopt = partial(reuse.adopt_cell, suite, v, ds, key) if reuse is not None else None
                out = run_cell(suite, v, ds, key, model_spec=spec, model=identity, overwrite=overwrite, adopt=adopt)
                outcomes.append(out)
                _report(f"{v.name} × {ds.key}: {out.status}" + (f" from {out.source}" if out.source else "")
                        + (f" ({out.seconds:.1f} s)" if out.seconds else "") + (f" — {out.error}" if out.error else ""))
                if out.status == "failed":
                    failures.append(f"{v.name}/{ds.key}: {out.error}")

        rows = suite_rows(suite, results)
        board = write_leaderboard(suite, results, rows.names, rows.baselines, all_datasets,
                                  notes=subsample_notes(suite), labels=rows.labels)
        wall = round(time.perf_counter() - t0, 3)
        manifest = _manifest(suite, results, rows.names, all_datasets, trainings, outcomes, failures,
                             started, wall, argv, plugins)
        manifest.to_disk(results / MANIFEST_FILE)
    return {"wall_seconds": wall, "outcomes": outcomes, "trainings": trainings, "failures": failures,
            "leaderboard": board, "reuse": reuse.describe() if reuse is not None else None}


def _register_plugin(suite: SuiteConfig, results: Path, plugins: dict[str, Plugin], name: str, spec: str,
                     baseline: str | None, started: str) -> VariantSpec:
    """Remember ``--model spec --name name`` in plugins.json (it stays on the leaderboard); its row."""
    suite_names = [v.name for v in suite.variants]
    if name in suite_names:
        raise ConfigError(f"--name {name!r} is already a variant of suite {suite.name!r}",
                          hint="choose another name for the plug-in row")
    baseline = baseline or suite.baseline
    if baseline not in suite_names and baseline not in plugins:
        raise ConfigError(f"--baseline {baseline!r} is not a model of this suite")
    added = plugins[name].added_utc if name in plugins else started
    plugins[name] = Plugin(model=resolve_model_spec(spec), baseline=baseline, added_utc=added)
    Plugins(models=plugins).to_disk(results / PLUGINS_FILE)
    return plugin_variant(name, plugins[name])


def _finished(key: CellKey, reuse: ReuseSources | None) -> bool:
    """Whether the cell needs no model: finished here, or an equal finished cell is in a reuse source."""
    return cell_cache_problem(key) is None or (reuse is not None and reuse.find_cell(key) is not None)


def _finished_identity(training: TrainingSpec, results: Path, reuse: ReuseSources | None,
                       ) -> tuple[dict[str, Any] | None, SourceTraining | None]:
    """The model identity of ``training``'s finished run: here, else a reuse source's run with the equal
    key (returned too, as the source); (None, None) when there is neither."""
    done = finished_training(training, results)
    if done is not None or reuse is None:
        return done, None
    source = reuse.find_training(training)
    return (None, None) if source is None else (reuse.training_identity(source, training), source)


def _row_model(suite: SuiteConfig, v: VariantSpec, datasets: list[DatasetSpec], idents: dict[str, dict[str, Any]],
               results: Path, specs: TrainingSpecs, overwrite: bool, trainings: list[TrainOutcome],
               reuse: ReuseSources | None = None) -> tuple[str | None, dict[str, Any], list[CellKey]]:
    """What a row's cells are evaluated with: the model spec (None for BM25, and for a trained model none
    of whose cells needs it), the model's identity, and each cell's key. A training row is trained
    (or its finished run reused) unless every cell of its finished run is finished; a finished run with the
    equal key in a reuse source counts as finished here (its record is copied; its weights only when a
    cell needs them)."""
    if v.kind != "train":
        spec, identity = model_identity(suite, v)
        return spec, identity, _cell_keys(suite, v, datasets, idents, results, identity)
    training = specs(v)
    done, source = (None, None) if overwrite else _finished_identity(training, results, reuse)
    keys = _cell_keys(suite, v, datasets, idents, results, done) if done is not None else []
    if done is not None and all(_finished(k, reuse) for k in keys):
        adopted = reuse.adopt_training(training, results, weights=False) if source is not None and reuse else None
        if adopted is not None:
            trainings.append(adopted)
            _report(f"train {v.name}: reused from {adopted.source} (record only: its cells are finished)")
        else:
            _report(f"train {v.name}: cached (cells finished)")  # the weights are not needed
        return None, done, keys
    adopt: AdoptTraining | None = None
    if reuse is not None:
        adopt = partial(_adopt_with_weights, reuse, results)
    tr = run_training(training, results, overwrite=overwrite, adopt=adopt)
    trainings.append(tr)
    _report(f"train {v.name}: {tr.status}" + (f" from {tr.source} (with its weights)" if tr.source
                                              else f" ({tr.seconds:.1f} s)"))
    identity = tr.model_identity(results, training)
    if identity != done:
        keys = _cell_keys(suite, v, datasets, idents, results, identity)
    return str(tr.checkpoint), identity, keys


def _adopt_with_weights(reuse: ReuseSources, results: Path, spec: TrainingSpec, model_sha256: str | None,
                        ) -> TrainOutcome | None:
    return reuse.adopt_training(spec, results, weights=True, model_sha256=model_sha256)


class PlannedCell(NamedTuple):
    """One cell of a dry run (:func:`plan_suite`)."""

    model: str
    dataset: str
    #: None when the cell would not be computed (finished here, or copied from ``source``), else why it would
    why: str | None
    #: the reuse source's cell it would be copied from
    source: str | None = None
    #: the cell's key hash, or ``train <training key>`` when it cannot be keyed before training
    key: str = ""


def plan_suite(suite: SuiteConfig, results: Path, models: list[str] | None = None,
               datasets: list[str] | None = None, reuse: ReuseSources | None = None) -> list[PlannedCell]:
    """What :func:`run_suite` would do, computing and writing nothing: one :class:`PlannedCell` per cell
    (seed replicates included), its ``why`` None for a cell it would not compute (finished here with the
    same config and files verified, or an equal cell in a reuse source: ``source``), else the reason."""
    ds_keys = _select([d.key for d in suite.datasets], datasets, "dataset")
    ds_specs = [d for d in suite.datasets if d.key in ds_keys]
    idents = {d.key: dataset_identity(d) for d in ds_specs}
    specs = TrainingSpecs(suite)
    plan: list[PlannedCell] = []
    selected = _select([v.name for v in suite.variants], models, "model")
    for v in [r for n in selected for r in suite.variant(n).replicates()]:
        model_note = ""
        if v.kind == "train":
            identity, source = _finished_identity(specs(v), results, reuse)
            if source is not None:
                model_note = f"; model: {portable_path(source.folder)}'s weights if there, else trained"
            if identity is None:
                plan.extend(PlannedCell(v.name, d.key, "its model must be trained first", key=f"train {specs(v).key}")
                            for d in ds_specs)
                continue
        else:
            identity = model_identity(suite, v)[1]
        for d, k in zip(ds_specs, _cell_keys(suite, v, ds_specs, idents, results, identity), strict=True):
            why = cell_cache_problem(k)
            found = reuse.find_cell(k) if why is not None and reuse is not None else None
            if found is not None:
                plan.append(PlannedCell(v.name, d.key, None, found.where, k.hash))
                continue
            other = reuse.other_key(k) if why is not None and reuse is not None else None
            plan.append(PlannedCell(v.name, d.key, None if why is None else why + (f"; {other}" if other else "")
                                    + model_note, key=k.hash))
    return plan


def _manifest(suite: SuiteConfig, results: Path, models: list[str], datasets: list[str],
              trainings: list[TrainOutcome], outcomes: list[CellOutcome], failures: list[str], started: str,
              wall: float, argv: list[str] | None, plugins: dict[str, Plugin]) -> SuiteManifest:
    suite_dict = dataclasses.asdict(suite)
    suite_dict.pop("source", None)
    if not suite_dict.get("reuse"):  # a suite without reuse keeps the hash it had before the field existed
        suite_dict.pop("reuse", None)
    this_run = {f"{o.model}/{o.dataset}": o.status for o in outcomes}
    cells: list[ManifestCell] = []
    train: list[ManifestTraining] = []
    for m in models:
        tm = read_or_warn(TrainMarker, results / "train" / m / TRAIN_MARKER, "left out of the manifest")
        if tm:
            train.append(ManifestTraining(
                model=m, config_hash=tm.config_hash, seconds=tm.timings["train"], seed=tm.config.get("seed"),
                max_steps=tm.config.get("max_steps"), config_source=tm.config_source, finished_utc=tm.finished_utc,
                this_invocation=next((t.status for t in trainings if t.model == m), "not run"),
                reused_from=tm.reused_from))
        for d in datasets:
            cm = read_or_warn(CellMarker, results / "cells" / m / d / CELL_MARKER, "left out of the manifest")
            if cm:
                cells.append(ManifestCell(
                    model=m, dataset=d, config_hash=cm.config_hash, seconds=cm.timings.get("total"),
                    timings=cm.timings, n_queries=cm.n_queries, dataset_sha256=cm.dataset_sha256,
                    subsampled=bool(cm.subsample), finished_utc=cm.finished_utc,
                    this_invocation=this_run.get(f"{m}/{d}", "not run"), reused_from=cm.reused_from))
    previous = read_or_warn(SuiteManifest, results / MANIFEST_FILE, "its invocation history starts again")
    history = list(previous.invocations) if previous else []
    history.append(Invocation(argv=argv, started_utc=started, wall_seconds=wall,
                              computed=sum(o.status == "computed" for o in outcomes),
                              cached=sum(o.status == "cached" for o in outcomes),
                              failed=sum(o.status == "failed" for o in outcomes),
                              trained=sum(t.status not in ("cached", "reused") for t in trainings), failures=failures,
                              reused=sum(o.status == "reused" for o in outcomes) or None))
    return SuiteManifest(
        suite=suite_dict, suite_hash=config_hash(suite_dict), plugins=plugins,
        seeds={"significance": suite.significance.seed,
               "subsample": {d.key: d.sample_seed for d in suite.datasets if d.max_queries},
               "training": {t.model: t.seed for t in train}},
        dataset_sha256={c.dataset: c.dataset_sha256 for c in cells},
        timings={"this_invocation_wall_seconds": wall,
                 "cells_seconds_total": round(sum(c.seconds or 0 for c in cells), 3),
                 "training_seconds_total": round(sum(t.seconds for t in train), 3)},
        training=train, cells=cells, invocations=history, **environment())


def _report(line: str) -> None:
    print(line, flush=True)


def print_summary(board: dict[str, Any], results: Path) -> None:
    """The end of a run: the best rows, where the full table and the report are."""
    for line in summary_lines(board["report"]):
        print(line)
    print(f"full table: {results / 'leaderboard.md'}")
    print(f"report: {results / REPORT_PAGE}")


#: Libraries' INFO/DEBUG chatter only with -v: the synrank CLI's own rule and list.
quiet_third_party = quiet_noisy_loggers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--suite", required=True, help=suite_option_help())
    add_list_option(p, "--models", metavar="NAME", help="run only these variants of the suite")
    add_list_option(p, "--datasets", metavar="NAME", help="run only these datasets of the suite")
    p.add_argument("--overwrite", action="store_true", help="recompute cells and training runs even if cached")
    p.add_argument("--model", metavar="PATH_OR_NAME",
                   help="plug in one model as an extra row (needs --name): a folder, hub name, or module:Class "
                        "with encode_queries/encode_corpus or only encode(texts, **kwargs)")
    p.add_argument("--name", help="leaderboard name of the --model row")
    p.add_argument("--baseline", help="the row the --model row is tested against (default: the suite's)")
    p.add_argument("--output", type=Path, metavar="DIR", help="results folder (default: results/<suite>)")
    p.add_argument("--reuse-from", type=Path, metavar="DIR", action="append", default=[],
                   help="another results folder to copy finished cells and training runs from when their keys "
                        "are equal (repeatable; before the suite's own `reuse:` suites; not with --overwrite)")
    add_deprecated_alias(p, "--results", "--output", "output", type=Path, metavar="DIR")
    p.add_argument("--preflight", action="store_true", help="only check that the suite can run here")
    p.add_argument("--report-only", action="store_true", help="only rebuild the leaderboard from finished cells")
    p.add_argument("--dry-run", action="store_true",
                   help="only list which cells are cached, which would be copied from a --reuse-from / `reuse:` "
                        "source, and which computed (and why); writes nothing; with -v each cell's key")
    add_verbosity(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        if (args.model is None) != (args.name is None):
            raise ConfigError("--model and --name go together", hint="e.g. --model ./my-ckpt --name mine")
        if args.name is not None:
            try:
                check_safe_name(args.name, "--name")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        suite = load_suite(args.suite)
        results = args.output or results_dir(suite)
        for folder in args.reuse_from:
            if not folder.is_dir():
                raise ConfigError(f"--reuse-from {folder}: no such folder", hint="name a suite's results folder, "
                                  "e.g. results/cpu")
        if args.preflight:
            names = [v.name for v in suite.variants]
            notes = preflight(suite, [suite.variant(n) for n in _select(names, args.models, "model")],
                              [d.name for d in suite.datasets])
            print(f"suite {suite.name}: everything it needs is here" + ("" if not notes else "; " + notes[0]))
            return 0
        if args.dry_run:
            reuse = reuse_sources(suite, results, args.reuse_from) or None
            plan = plan_suite(suite, results, models=args.models, datasets=args.datasets, reuse=reuse)
            for c in plan:
                print(f"{c.model} × {c.dataset}: " + (f"to compute ({c.why})" if c.why is not None
                                                       else f"reused from {c.source}" if c.source else "cached")
                      + (f" [key {c.key}]" if args.verbose else ""))
            todo = sum(c.why is not None for c in plan)
            reused = sum(c.source is not None for c in plan)
            print(f"dry run: {len(plan) - todo - reused} cell(s) cached, "
                  + (f"{reused} reused from {reuse.describe()}, " if reuse is not None else "")
                  + f"{todo} to compute; nothing was run")
            return 0
        if args.report_only:
            with folder_lock(results, what="results folder"):
                rows = suite_rows(suite, results)
                board = write_leaderboard(suite, results, rows.names, rows.baselines, notes=subsample_notes(suite),
                                          labels=rows.labels)
            print_summary(board, results)
            return 0
        summary = run_suite(suite, results, models=args.models, datasets=args.datasets,
                            overwrite=args.overwrite,
                            plugin=(args.name, args.model) if args.model else None,
                            plugin_baseline=args.baseline, argv=sys.argv[1:] if argv is None else argv,
                            reuse_from=args.reuse_from)
    except SynrankError as exc:
        print(f"benchmarks.run: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the last safety net, as in synrank.cli: one line naming the file
        logging.getLogger("benchmarks").debug("OS error", exc_info=True)
        print(f"benchmarks.run: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks.run: interrupted; finished cells are kept, rerun to continue", file=sys.stderr)
        return 130
    outcomes = summary["outcomes"]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("computed", "cached", "reused", "failed")}
    trained = sum(t.status not in ("cached", "reused") for t in summary["trainings"])
    reused_runs = sum(t.status == "reused" for t in summary["trainings"])
    source = summary.get("reuse")
    print()
    print(f"cells: {counts['computed']} computed, {counts['cached']} cached, "
          + (f"{counts['reused']} reused from {source}, " if source else "")
          + f"{counts['failed']} failed; {trained} model(s) trained"
          + (f", {reused_runs} training run(s) reused" if source else "")
          + f"; wall time {summary['wall_seconds']:.1f} s")
    print_summary(summary["leaderboard"], results)
    if summary["failures"]:
        print(f"{len(summary['failures'])} failure(s):", *summary["failures"], sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
