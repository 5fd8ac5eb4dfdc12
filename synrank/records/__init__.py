"""Result records: one typed record per result file, each with one writer and one validating reader.

=====================  ==============================  ==================  ====================================
file                   record                          schema              written by
=====================  ==============================  ==================  ====================================
``metrics.json``       :class:`EvaluationRecord`       synrank.metrics/v2  evaluate_model, ``evaluate --run``,
                                                                           benchmark BM25 and forum cells
``per_query.tsv``      :class:`PerQueryScores`         (its header)        with metrics.json
``training_config``    :class:`TrainingRecord`         synrank.training/v1 the trainer
``.json``
=====================  ==============================  ==================  ====================================

The benchmark's own files (``cell.json``, ``train.json``, ``manifest.json``, ...) are records of the
same kind in :mod:`benchmarks.records`. Each record writes itself with ``to_disk`` and is read with
``from_disk`` (or ``read``: None when the file is absent), which validates every field and upgrades
files of older schemas (:mod:`synrank.records.base`); readers never parse these files by hand.
"""

from synrank.records.base import Record, optional
from synrank.records.evaluation import (
    CELL_FILES,
    METRICS_FILE,
    PER_QUERY_FILE,
    RUN_FILE,
    DatasetRef,
    EvaluationRecord,
    EvaluationSummary,
    ForumScores,
    PerQueryScores,
    write_evaluation,
)
from synrank.records.training import TRAINING_FILE, TrainingRecord

__all__ = ["CELL_FILES", "METRICS_FILE", "PER_QUERY_FILE", "RUN_FILE", "TRAINING_FILE", "DatasetRef",
           "EvaluationRecord", "EvaluationSummary", "ForumScores", "PerQueryScores", "Record", "TrainingRecord",
           "optional", "write_evaluation"]
