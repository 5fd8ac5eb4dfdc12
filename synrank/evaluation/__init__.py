"""Evaluation: measures, the pytrec_eval bridge (:func:`evaluate_run`), and the ``evaluate`` command."""

from synrank.evaluation.evaluator import EvalResult, evaluate_run, write_per_query_tsv
from synrank.evaluation.measures import DEFAULT_MEASURES, Measure, parse_measure, parse_measures

__all__ = [
    "DEFAULT_MEASURES", "EvalResult", "Measure", "evaluate_run", "parse_measure", "parse_measures",
    "write_per_query_tsv",
]
