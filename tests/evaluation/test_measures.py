"""Measure names and their mapping to pytrec_eval; each measure checked against a float64 reference."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synrank.data.values import GRADE_MAX
from synrank.evaluation.evaluator import evaluate_run
from synrank.evaluation.measures import (
    DEFAULT_MEASURES,
    Measure,
    parse_measure,
    parse_measures,
    pytrec_eval_measures,
)

# ---------------------------------------------------------------------------------------------
# independent float64 reference implementations (textbook definitions, no trec_eval code)


def ranking(docs: dict[str, float]) -> list[str]:
    """trec_eval's order: score descending, ties by doc id descending."""
    by_id = sorted(docs.items(), key=lambda kv: kv[0], reverse=True)
    return [d for d, _ in sorted(by_id, key=lambda kv: -kv[1])]


def ref_ndcg(qrels: dict[str, int], ranked: list[str], k: int | None) -> float:
    top = ranked if k is None else ranked[:k]
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(top))
    ideal_grades = sorted((g for g in qrels.values() if g > 0), reverse=True)
    ideal_grades = ideal_grades if k is None else ideal_grades[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_grades))
    return dcg / idcg if idcg > 0 else 0.0


def n_relevant(qrels: dict[str, int], threshold: int) -> int:
    return sum(1 for g in qrels.values() if g >= threshold)


def ref_ap(qrels: dict[str, int], ranked: list[str], threshold: int, k: int | None = None) -> float:
    total = n_relevant(qrels, threshold)
    if total == 0:
        return 0.0
    hits, acc = 0, 0.0
    for i, d in enumerate(ranked if k is None else ranked[:k], start=1):
        if qrels.get(d, 0) >= threshold:
            hits += 1
            acc += hits / i
    return acc / total


def ref_recall(qrels: dict[str, int], ranked: list[str], threshold: int, k: int) -> float:
    total = n_relevant(qrels, threshold)
    return sum(1 for d in ranked[:k] if qrels.get(d, 0) >= threshold) / total if total else 0.0


def ref_precision(qrels: dict[str, int], ranked: list[str], threshold: int, k: int) -> float:
    return sum(1 for d in ranked[:k] if qrels.get(d, 0) >= threshold) / k


def ref_rr(qrels: dict[str, int], ranked: list[str], threshold: int, k: int | None) -> float:
    for i, d in enumerate(ranked if k is None else ranked[:k], start=1):
        if qrels.get(d, 0) >= threshold:
            return 1.0 / i
    return 0.0


def ref_rprec(qrels: dict[str, int], ranked: list[str], threshold: int) -> float:
    total = n_relevant(qrels, threshold)
    return sum(1 for d in ranked[:total] if qrels.get(d, 0) >= threshold) / total if total else 0.0


def reference(measure: Measure, qrels: dict[str, int], docs: dict[str, float], threshold: int) -> float:
    ranked = ranking(docs)
    k = measure.cutoff
    if measure.family == "nDCG":
        return ref_ndcg(qrels, ranked, k)
    if measure.family == "MAP":
        return ref_ap(qrels, ranked, threshold, k)
    if measure.family == "Recall":
        return ref_recall(qrels, ranked, threshold, k)
    if measure.family == "P":
        return ref_precision(qrels, ranked, threshold, k)
    if measure.family == "MRR":
        return ref_rr(qrels, ranked, threshold, k)
    if measure.family == "RPrec":
        return ref_rprec(qrels, ranked, threshold)
    raise AssertionError(measure)


def reference_mean(measure: Measure, qrels, run, threshold: int) -> float:
    judged = [q for q, docs in qrels.items() if docs]
    return math.fsum(reference(measure, qrels[q], run.get(q, {}), threshold) for q in judged) / len(judged)


# ---------------------------------------------------------------------------------------------
# hand-built data: graded, ties, unjudged documents, a judged query missing from the run,
# a run query without judgments, a query whose best grade is 1

QRELS = {
    "q1": {"a": 3, "b": 1, "c": 2, "d": 0, "x": 2},          # x never retrieved: counts in the ideal
    "q2": {"a": 1, "e": 2, "f": 1},
    "q3": {"g": 1, "h": 0},                                   # nothing >= 2
    "q4": {"a": 2, "b": 3},                                   # not in the run at all
    "q5": {"z": 3},
}
RUN = {
    "q1": {"e": 3.0, "b": 2.0, "a": 2.0, "c": 0.5, "d": 0.5, "u": 0.1},   # ties at 2.0 and 0.5; e, u unjudged
    "q2": {"f": 1.0, "e": 1.0, "a": 1.0, "zz": 1.0},                     # all tied
    "q3": {"h": 5.0, "g": 4.0},
    "q5": {f"n{i:02d}": 100.0 - i for i in range(30)} | {"z": 70.5},    # relevant at rank 31
    "q9": {"a": 1.0},                                                    # not judged: ignored
}

ALL_MEASURES = (*DEFAULT_MEASURES, "nDCG", "nDCG@2", "MAP@3", "MRR", "MRR@1", "RPrec", "P@1", "Recall@1", "P@5")


@pytest.mark.parametrize("threshold", [1, 2])
@pytest.mark.parametrize("name", ALL_MEASURES)
def test_each_measure_matches_float64_reference(name: str, threshold: int):
    measure = parse_measure(name)
    result = evaluate_run(QRELS, RUN, measures=[name], relevance_threshold=threshold)
    assert result.n_queries == 5
    for qid in QRELS:
        expected = reference(measure, QRELS[qid], RUN.get(qid, {}), threshold)
        assert result.per_query[qid][name] == pytest.approx(expected, abs=1e-12), (qid, name, threshold)
    assert result.aggregate[name] == pytest.approx(reference_mean(measure, QRELS, RUN, threshold), abs=1e-12)


def test_reference_itself_on_a_worked_example():
    # q1 ranking (ties by doc id descending, as trec_eval): e(0) b(1) a(3) d(0) c(2) u(0); ideal 3,2,2,1
    dcg = 0 + 1 / math.log2(3) + 3 / 2 + 0 + 2 / math.log2(6)
    idcg = 3 + 2 / math.log2(3) + 2 / 2 + 1 / math.log2(5)
    assert ref_ndcg(QRELS["q1"], ranking(RUN["q1"]), 10) == pytest.approx(dcg / idcg, abs=1e-15)
    # threshold 2: relevant a(rank 3), c(rank 5), x (not retrieved) -> AP = (1/3 + 2/5) / 3
    assert ref_ap(QRELS["q1"], ranking(RUN["q1"]), 2) == pytest.approx((1 / 3 + 2 / 5) / 3)


def test_ndcg_uses_linear_gains_not_exponential():
    qrels = {"q": {"a": 3, "b": 1}}
    run = {"q": {"b": 2.0, "a": 1.0}}
    value = evaluate_run(qrels, run, measures=["nDCG@2"]).aggregate["nDCG@2"]
    linear = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    exponential = (1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3))
    assert value == pytest.approx(linear, abs=1e-12)
    assert abs(value - exponential) > 1e-3


def test_ndcg_ignores_relevance_threshold_binary_measures_do_not():
    at1 = evaluate_run(QRELS, RUN, relevance_threshold=1)
    at2 = evaluate_run(QRELS, RUN, relevance_threshold=2)
    for name in ("nDCG@3", "nDCG@10", "nDCG@100"):
        assert at1.aggregate[name] == at2.aggregate[name]
    for name in ("MAP", "Recall@10", "MRR@10", "P@10"):
        assert at1.aggregate[name] != at2.aggregate[name]


# ---------------------------------------------------------------------------------------------
# parsing


@pytest.mark.parametrize("text,expected", [
    ("nDCG@10", Measure("nDCG", 10)), ("ndcg@10", Measure("nDCG", 10)), ("NDCG", Measure("nDCG")),
    ("MAP", Measure("MAP")), ("AP", Measure("MAP")), ("map@100", Measure("MAP", 100)),
    ("Recall@100", Measure("Recall", 100)), ("R@1000", Measure("Recall", 1000)),
    ("P@10", Measure("P", 10)), ("MRR@10", Measure("MRR", 10)), ("RR@10", Measure("MRR", 10)),
    ("MRR", Measure("MRR")), (" nDCG @ 5 ", Measure("nDCG", 5)), ("R-Prec", Measure("RPrec")),
])
def test_parse_measure(text, expected):
    assert parse_measure(text) == expected


@pytest.mark.parametrize("text", ["Recall", "P", "nDCG@0", "RPrec@5", "BLEU", "nDCG@x", ""])
def test_parse_measure_rejects(text):
    with pytest.raises(ValueError):
        parse_measure(text)


def test_parse_measures_string_and_duplicates():
    assert [m.name for m in parse_measures("nDCG@10, MAP,MRR@10")] == ["nDCG@10", "MAP", "MRR@10"]
    with pytest.raises(ValueError, match="twice"):
        parse_measures(["nDCG@10", "ndcg@10"])
    with pytest.raises(ValueError):
        parse_measures([])


def test_default_measures_names_roundtrip():
    assert tuple(m.name for m in parse_measures(DEFAULT_MEASURES)) == DEFAULT_MEASURES


def test_pytrec_eval_measure_strings():
    measures = parse_measures(["nDCG@10", "nDCG@1", "nDCG", "MAP", "Recall@100", "P@10", "MRR@10"])
    assert pytrec_eval_measures(measures) == {"ndcg_cut.1,10", "ndcg", "map", "recall.100", "P.10",
                                              "recip_rank"}
    assert parse_measure("nDCG@10").trec_key == "ndcg_cut_10"
    assert parse_measure("MRR@10").trec_key == "recip_rank"
    assert parse_measure("MRR@10").run_cutoff == 10
    assert not parse_measure("nDCG@10").binary and parse_measure("P@10").binary


@given(st.integers(min_value=GRADE_MAX + 1, max_value=2**70))
def test_relevance_level_above_the_grade_bound_is_refused(level: int) -> None:
    # a level no grade can reach counts nothing; from 2^31 on pytrec_eval cannot even take it
    with pytest.raises(ValueError, match=r"relevance level must be an integer in 1\.\.1000"):
        parse_measure(f"MAP(rel={level})")


def test_relevance_level_at_the_grade_bound_is_accepted() -> None:
    assert parse_measure(f"AP(rel={GRADE_MAX})").rel == GRADE_MAX
