"""Data layer: BEIR-layout datasets (reading, validation, folders and registry), the evaluation-query leakage
guard, and the graded training-group exchange format (:mod:`synrank.data.groups`)."""

from synrank.data import groups
from synrank.data.beir import BeirDataset, Document, load_dataset, load_folder
from synrank.data.folders import DatasetInfo, list_datasets
from synrank.data.groups import (
                                 GROUPS_SCHEMA,
                                 Passage,
                                 TrainingGroup,
                                 group_files,
                                 iter_groups,
                                 parse_group,
                                 read_groups,
)
from synrank.data.leakage import EvaluationQueryGuard, evaluation_guard, normalize_query
from synrank.data.registry import dataset_info, resolve_dataset
from synrank.data.validate import ValidationReport, validate_folder

__all__ = [
    "BeirDataset", "DatasetInfo", "Document", "EvaluationQueryGuard", "GROUPS_SCHEMA", "Passage",
    "TrainingGroup", "ValidationReport", "dataset_info", "evaluation_guard", "group_files", "groups",
    "iter_groups", "list_datasets", "load_dataset", "load_folder", "normalize_query", "parse_group",
    "read_groups", "resolve_dataset", "validate_folder",
]
