"""The benchmark's result files, one typed record each (same machinery as :mod:`synrank.records`).

==================================================  =======================  ===============================
file (under ``results/<suite>/``)                   record                   written by
==================================================  =======================  ===============================
``cells/<row>/<dataset>/cell.json``                 :class:`CellMarker`      :func:`benchmarks.cells.run_cell`
``train/<row>/train.json``                          :class:`TrainMarker`     :mod:`benchmarks.training_runs`
``train/<row>/train.started.json``                  :class:`TrainingStarted` :mod:`benchmarks.training_runs`
``plugins.json``                                    :class:`Plugins`         :mod:`benchmarks.run`
``manifest.json``                                   :class:`SuiteManifest`   :mod:`benchmarks.run`
==================================================  =======================  ===============================

A cell folder also holds the evaluation's own files (``metrics.json``, ``per_query.tsv``, records of
:mod:`synrank.records.evaluation`); a training folder the trainer's ``training_config.json``.

``cell.json`` and ``train.json`` are completion markers: written last, atomically, they say the cell or
training run is finished with the config whose hash they carry. A cell or training run copied from another
suite's results folder with the equal key (:mod:`benchmarks.reuse`) carries the same key and hash, and in
``reused_from`` (:class:`ReusedFrom`) where it was computed. The key's schema (part of that hash,
:data:`benchmarks.keys.CELL_KEY_SCHEMA`) and the file's schema are separate: bumping one does not
bump the other. Older layouts are read (``synrank.benchmark-cell/v1`` and ``synrank.benchmark-train/v1``
are the current layouts minus fields added since; plugins and training-start files had no schema).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from synrank.errors import RecordError
from synrank.records import ForumScores, Record, optional

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

CELL_MARKER = "cell.json"
TRAIN_MARKER = "train.json"
TRAIN_STARTED = "train.started.json"
PLUGINS_FILE = "plugins.json"
MANIFEST_FILE = "manifest.json"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _same_layout(d: dict[str, Any]) -> dict[str, Any]:
    return d


def read_or_warn(cls: type[R], path: Path, consequence: str) -> R | None:
    """``cls.read(path)``; a damaged file (or one of an unknown schema) is logged with ``consequence``
    (e.g. "recomputing") and read as absent."""
    try:
        return cls.read(path)
    except RecordError as exc:
        logger.warning("%s; %s", exc, consequence)
        return None


@dataclass(kw_only=True)
class ReusedFrom:
    """Where a reused cell or training run was computed (:mod:`benchmarks.reuse`); never part of a key."""

    #: the source results folder, as artifacts record paths (``results/cpu``: relative to the checkout)
    results: str
    #: the cell's or training run's folder name there (``<row>`` or ``<row>@seed<N>``)
    row: str
    #: the cell's dataset folder name there (cells only)
    dataset: str | None = optional()
    #: when it was copied here
    reused_utc: str


@dataclass(kw_only=True)
class CellMarker(Record):
    """``cell.json``: a finished evaluation cell, its key and what it found."""

    SCHEMA: ClassVar[str] = "synrank.benchmark-cell/v2"
    FILE: ClassVar[str] = CELL_MARKER

    suite: str
    model: str  # the cell folder's name: the row, or ``<row>@seed<N>`` for a seed replicate
    variant: str
    base: str | None = None
    kind: Literal["bm25", "model", "train"]
    dataset: str
    split: str
    mode: Literal["full", "rerank"]
    #: the cell's key (:class:`benchmarks.keys.CellKey`) and its hash
    config: dict[str, Any]
    config_hash: str
    dataset_sha256: str
    dataset_checksums: dict[str, str]
    #: the seeded query subsample (ids kept, seed, method), None when every judged query is evaluated
    subsample: dict[str, Any] | None = None
    n_queries: int
    aggregate: dict[str, float]
    forums: dict[str, ForumScores] | None = optional()
    #: ``config_hash`` of the evaluation's metrics.json
    pipeline_config_hash: str | None = None
    timings: dict[str, float]
    peak_rss_mb: float
    batch_size: int
    #: sha256 of the cell's files (markers written before v2 have none)
    files: dict[str, str] | None = optional()
    finished_utc: str
    #: set when the cell was copied from another suite's results (its timings are the source's)
    reused_from: ReusedFrom | None = optional()


CellMarker.UPGRADES = {"synrank.benchmark-cell/v1": _same_layout}


@dataclass(kw_only=True)
class TrainMarker(Record):
    """``train.json``: a finished training run of a suite's variant."""

    SCHEMA: ClassVar[str] = "synrank.benchmark-train/v2"
    FILE: ClassVar[str] = TRAIN_MARKER

    model: str
    config_source: str
    config: dict[str, Any]
    config_hash: str
    #: the trained model's folder, relative to the results folder
    checkpoint: str
    #: :func:`synrank.retrieval.encoders.folder_fingerprint` of it (v1 markers have none)
    model_sha256: str | None = None
    resumed: bool
    timings: dict[str, float]
    finished_utc: str
    versions: dict[str, str]
    hardware: dict[str, Any]
    git_commit: str | None = None
    created_utc: str
    #: set when the run was copied from another suite's results (``checkpoint`` and ``model`` are this folder's)
    reused_from: ReusedFrom | None = optional()


TrainMarker.UPGRADES = {"synrank.benchmark-train/v1": _same_layout}


@dataclass(kw_only=True)
class TrainingStarted(Record):
    """``train.started.json``: the key of the training run under way (a rerun resumes it when equal)."""

    SCHEMA: ClassVar[str] = "synrank.benchmark-train-started/v1"
    FILE: ClassVar[str] = TRAIN_STARTED

    config_hash: str
    source: str


TrainingStarted.UPGRADES = {None: _same_layout}


@dataclass(kw_only=True)
class Plugin:
    model: str
    baseline: str | None = None
    added_utc: str | None = None
    variant: str | None = optional()
    base: str | None = optional()


@dataclass(kw_only=True)
class Plugins(Record):
    """``plugins.json``: models plugged into a suite with ``--model``; they stay on its leaderboard."""

    SCHEMA: ClassVar[str] = "synrank.benchmark-plugins/v1"
    FILE: ClassVar[str] = PLUGINS_FILE

    models: dict[str, Plugin] = field(default_factory=dict)


Plugins.UPGRADES = {None: _same_layout}


@dataclass(kw_only=True)
class ManifestTraining:
    model: str
    config_hash: str
    seconds: float
    seed: int | None = None
    max_steps: int | None = None
    config_source: str | None = None
    finished_utc: str | None = None
    this_invocation: str
    reused_from: ReusedFrom | None = optional()


@dataclass(kw_only=True)
class ManifestCell:
    model: str
    dataset: str
    config_hash: str
    seconds: float | None = None
    timings: dict[str, float]
    n_queries: int
    dataset_sha256: str
    subsampled: bool
    finished_utc: str | None = None
    this_invocation: str
    reused_from: ReusedFrom | None = optional()


@dataclass(kw_only=True)
class Invocation:
    argv: list[str] | None = None
    started_utc: str
    wall_seconds: float
    computed: int
    cached: int
    failed: int
    trained: int
    failures: list[str]
    #: cells copied from another suite's results (:mod:`benchmarks.reuse`); absent when none was
    reused: int | None = optional()


@dataclass(kw_only=True)
class SuiteManifest(Record):
    """``manifest.json``: the suite as run, every finished cell and training run, and every invocation."""

    SCHEMA: ClassVar[str] = "synrank.benchmark-manifest/v1"
    FILE: ClassVar[str] = MANIFEST_FILE

    suite: dict[str, Any]
    suite_hash: str
    plugins: dict[str, Plugin]
    seeds: dict[str, Any]
    dataset_sha256: dict[str, str]
    timings: dict[str, float]
    training: list[ManifestTraining]
    cells: list[ManifestCell]
    invocations: list[Invocation]
    versions: dict[str, str]
    hardware: dict[str, Any]
    git_commit: str | None = None
    created_utc: str

    def cell(self, model: str, dataset: str) -> ManifestCell | None:
        return next((c for c in self.cells if (c.model, c.dataset) == (model, dataset)), None)

    def trained(self, model: str) -> ManifestTraining | None:
        return next((t for t in self.training if t.model == model), None)
