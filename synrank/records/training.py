"""A training run's record: ``training_config.json`` in the trained model's folder (:class:`TrainingRecord`).

Written by :class:`synrank.training.trainer.Trainer` when training starts (config, its hash, seeds, the
data read with checksums) and again when it ends (runtime, memory, speed); read back by ``--resume``
(the config hash must match) and by the benchmark tuning grid. Not part of the model's fingerprint
(:func:`synrank.retrieval.encoders.folder_fingerprint` leaves it out), so rewriting it never changes a
cache key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from synrank.records.base import Record, optional

TRAINING_FILE = "training_config.json"


@dataclass(kw_only=True)
class TrainingRecord(Record):
    SCHEMA: ClassVar[str] = "synrank.training/v1"
    FILE: ClassVar[str] = TRAINING_FILE

    name: str
    #: the config with local paths made portable (:func:`synrank.training.trainer.recorded_config`)
    config: dict[str, Any]
    #: hash of the fields that must match to resume (:func:`synrank.training.trainer.comparable_config`)
    config_hash: str
    seeds: dict[str, Any]
    #: per data source: what was read (kind, items, sha256 of each file, notes)
    data: list[dict[str, Any]]
    n_training_items: int
    total_steps: int
    batches_per_epoch: int
    effective_batch_size: int
    saved_max_seq_length: int | None = optional()
    #: how passages are batched inside a step (:mod:`synrank.training.bucketing`)
    passage_encoding: dict[str, Any] | None = optional()
    world_size: int
    backend: str | None = None
    device: str
    deterministic: dict[str, Any] | None = optional()
    environment: dict[str, Any]
    #: the first-step check of the loss's regime (:mod:`synrank.training.regime`)
    loss_regime: dict[str, Any] | None = optional()
    # written when the run ends
    runtime_s: float | None = optional()
    peak_rss_mb: float | None = optional()
    samples_per_s: float | None = optional()
    resumed_from_step: int | None = optional()
