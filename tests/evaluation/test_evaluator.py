"""evaluate_run: conventions on top of pytrec_eval, published scores, and agreement with beir."""

from __future__ import annotations

import copy
import csv
import json
import math
import random
from pathlib import Path

import pytest
import pytrec_eval

from synrank.data.trec import read_run
from synrank.errors import SynrankError
from synrank.evaluation.evaluator import EvalResult, evaluate_run, format_per_query_tsv, write_per_query_tsv
from synrank.evaluation.measures import DEFAULT_MEASURES, parse_measure
from tests.conftest import need_datasets
from tests.evaluation.test_measures import reference, reference_mean


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Independent BEIR qrels reader (header + query-id, corpus-id, score)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        for qid, doc_id, grade in reader:
            qrels.setdefault(qid, {})[doc_id] = int(grade)
    return qrels


# ---------------------------------------------------------------------------------------------
# tie-break


def test_ties_break_as_trec_eval_does():
    qrels = {"q": {"a": 1}}
    run = {"q": {"c": 1.0, "b": 1.0, "a": 1.0}}
    result = evaluate_run(qrels, run, measures=["MRR@10", "P@1", "nDCG@1", "MRR@2"])
    # trec_eval breaks score ties by doc id descending: "a" is third
    assert result.per_query["q"] == {"MRR@10": pytest.approx(1 / 3), "P@1": 0.0, "nDCG@1": 0.0, "MRR@2": 0.0}
    bare = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)
    assert bare["q"]["recip_rank"] == pytest.approx(1 / 3)


def test_ties_do_not_depend_on_input_order():
    qrels = {"q": {"d1": 2, "d5": 1, "d3": 3}}
    docs = [(f"d{i}", float(i % 2)) for i in range(8)]
    results = []
    for seed in range(5):
        random.Random(seed).shuffle(docs)
        results.append(evaluate_run(qrels, {"q": dict(docs)}).per_query)
    assert all(r == results[0] for r in results)


def test_random_runs_with_many_ties_match_reference():
    rng = random.Random(7)
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        judged = rng.sample(range(60), 15)
        qrels[qid] = {f"d{d}": rng.choice([0, 0, 1, 2, 3]) for d in judged}
        if q % 7 == 0:
            continue  # judged, not retrieved
        retrieved = rng.sample(range(60), rng.randint(1, 45))
        run[qid] = {f"d{d}": float(rng.randint(0, 4)) for d in retrieved}  # heavy ties
    run["unjudged"] = {"d1": 1.0}
    for threshold in (1, 2):
        result = evaluate_run(qrels, run, relevance_threshold=threshold)
        assert result.n_queries == 40
        assert result.n_unjudged_run_queries == 1
        for name in DEFAULT_MEASURES:
            expected = reference_mean(parse_measure(name), qrels, run, threshold)
            assert result.aggregate[name] == pytest.approx(expected, abs=1e-12), (name, threshold)


# ---------------------------------------------------------------------------------------------
# judged / unjudged queries and documents


def test_missing_judged_query_counts_as_zero_and_mean_is_over_judged():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {}}   # q3 has no judgments: not a judged query
    run = {"q1": {"a": 1.0}, "q7": {"b": 1.0}}
    result = evaluate_run(qrels, run, measures=["nDCG@10", "MRR@10"])
    assert result.n_queries == 2
    assert result.per_query["q2"] == {"nDCG@10": 0.0, "MRR@10": 0.0}
    assert result.aggregate == {"nDCG@10": 0.5, "MRR@10": 0.5}
    assert result.n_queries_not_retrieved == 1
    assert result.n_unjudged_run_queries == 1
    assert "q7" not in result.per_query and "q3" not in result.per_query


def test_unjudged_documents_are_non_relevant():
    qrels = {"q": {"a": 2}}
    result = evaluate_run(qrels, {"q": {"x": 3.0, "y": 2.0, "a": 1.0}}, measures=["MRR@10", "P@10", "nDCG@10"])
    assert result.aggregate["MRR@10"] == pytest.approx(1 / 3)
    assert result.aggregate["P@10"] == pytest.approx(0.1)
    assert result.aggregate["nDCG@10"] == pytest.approx(1 / math.log2(4))


def test_mrr_is_cut_at_depth():
    qrels = {"q": {"a": 1}}
    run = {"q": {f"n{i:02d}": 100.0 - i for i in range(10)} | {"a": 1.0}}
    result = evaluate_run(qrels, run, measures=["MRR@10", "MRR"])
    assert result.aggregate["MRR@10"] == 0.0
    assert result.aggregate["MRR"] == pytest.approx(1 / 11)


def test_relevance_threshold_two():
    qrels = {"q": {"a": 1, "b": 2, "c": 3}}
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    r1 = evaluate_run(qrels, run, measures=["MRR@10", "Recall@1", "MAP", "nDCG@3"], relevance_threshold=1)
    r2 = evaluate_run(qrels, run, measures=["MRR@10", "Recall@1", "MAP", "nDCG@3"], relevance_threshold=2)
    assert r1.aggregate["MRR@10"] == 1.0 and r2.aggregate["MRR@10"] == 0.5
    assert r1.aggregate["Recall@1"] == pytest.approx(1 / 3) and r2.aggregate["Recall@1"] == 0.0
    assert r2.aggregate["MAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert r1.aggregate["nDCG@3"] == r2.aggregate["nDCG@3"]


def test_query_without_relevant_document_at_threshold():
    qrels = {"q1": {"a": 1}, "q2": {"b": 2}}
    result = evaluate_run(qrels, {"q1": {"a": 1.0}, "q2": {"b": 1.0}}, measures=["nDCG@10", "Recall@10"],
                          relevance_threshold=2)
    assert result.n_queries_without_relevant == 1
    assert result.per_query["q1"] == {"nDCG@10": 1.0, "Recall@10": 0.0}
    assert result.aggregate["Recall@10"] == 0.5


def test_ignore_identical_ids():
    qrels = {"q1": {"q1": 1, "d": 1}}
    run = {"q1": {"q1": 5.0, "d": 1.0}}
    kept = evaluate_run(qrels, run, measures=["MRR@10"])
    dropped = evaluate_run(qrels, run, measures=["MRR@10"], ignore_identical_ids=True)
    assert kept.aggregate["MRR@10"] == 1.0
    assert dropped.aggregate["MRR@10"] == 1.0 and dropped.n_identical_ids_dropped == 1
    only_self = evaluate_run({"q1": {"d": 1}}, {"q1": {"q1": 5.0, "d": 1.0}}, measures=["P@1"],
                             ignore_identical_ids=True)
    assert only_self.aggregate["P@1"] == 1.0
    emptied = evaluate_run({"q1": {"d": 1}}, {"q1": {"q1": 5.0}}, measures=["P@1"], ignore_identical_ids=True)
    assert emptied.per_query["q1"]["P@1"] == 0.0 and emptied.n_queries_not_retrieved == 1


def test_input_not_mutated():
    qrels = {"q1": {"q1": 1, "d": 1}}
    run = {"q1": {"q1": 5.0, "d": 1.0}}
    before = copy.deepcopy((qrels, run))
    evaluate_run(qrels, run, ignore_identical_ids=True)
    assert (qrels, run) == before


@pytest.mark.parametrize("qrels,run,match", [
    ({}, {"q": {"a": 1.0}}, "no query"),
    ({"q": {"a": 1.5}}, {"q": {"a": 1.0}}, "non-integer grade"),
    ({"q": {"a": 1}}, {"q": {"a": float("nan")}}, "NaN"),
])
def test_errors(qrels, run, match):
    with pytest.raises(SynrankError, match=match):
        evaluate_run(qrels, run)


def test_negative_grades_count_as_zero():
    """trec_eval gives a negative grade no gain and never counts it relevant."""
    qrels_negative = {"q": {"a": -1, "b": 1, "c": 2}}
    qrels_zero = {"q": {"a": 0, "b": 1, "c": 2}}
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    assert evaluate_run(qrels_negative, run).per_query == evaluate_run(qrels_zero, run).per_query


def test_bad_threshold_and_measure():
    with pytest.raises(SynrankError):
        evaluate_run({"q": {"a": 1}}, {"q": {"a": 1.0}}, relevance_threshold=0)
    with pytest.raises(ValueError):
        evaluate_run({"q": {"a": 1}}, {"q": {"a": 1.0}}, measures=["BLEU@3"])


def test_records_and_tsv(tmp_path):
    result = evaluate_run({"q2": {"a": 1}, "q10": {"b": 2}}, {"q2": {"a": 0.3, "b": 0.9}},
                          measures=["nDCG@10", "P@10"])
    assert isinstance(result, EvalResult)
    records = result.to_records()
    assert [r["query_id"] for r in records] == ["q10", "q2"]
    assert list(records[1]) == ["query_id", "nDCG@10", "P@10"]
    json.dumps(records)
    json.dumps(result.summary())
    path = write_per_query_tsv(result, tmp_path / "per_query.tsv")
    lines = path.read_text().splitlines()
    assert lines[0] == "query_id\tnDCG@10\tP@10"
    assert lines[2].split("\t") == ["q2", repr(1 / math.log2(3)), "0.1"]
    assert path.read_text() == format_per_query_tsv(result)


# ---------------------------------------------------------------------------------------------
# published numbers: Pyserini BM25 (k1=0.9, b=0.4) on TREC DL passage, nDCG@10


@pytest.mark.parametrize("name,expected", [("trec-dl-2019", 0.5058), ("trec-dl-2020", 0.4796)])
def test_trec_dl_bm25_matches_pyserini(shared_datasets, name, expected):
    need_datasets(shared_datasets, name)
    folder = shared_datasets / name
    qrels = load_qrels(folder / "qrels" / "test.tsv")
    run = read_run(folder / "bm25_top100.trec")
    result = evaluate_run(qrels, run, relevance_threshold=2)
    assert result.n_queries == len(qrels)
    assert round(result.aggregate["nDCG@10"], 4) == expected
    # per query as well: float64 reference on the same data
    ndcg10 = parse_measure("nDCG@10")
    for qid in qrels:
        assert result.per_query[qid]["nDCG@10"] == pytest.approx(
            reference(ndcg10, qrels[qid], run.get(qid, {}), 2), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# agreement with beir's EvaluateRetrieval on a BM25 run of scifact


def bm25_run(folder: Path, k: int = 1000, every: int = 1):
    """qrels and a BM25 run (bm25s, English stop words) of ``folder``'s judged test queries
    (every ``every``-th query in id order, to keep a test fast)."""
    bm25s = pytest.importorskip("bm25s")
    ids, texts, queries = [], [], {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            ids.append(doc["_id"])
            texts.append(f"{doc.get('title', '')} {doc['text']}")
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels = load_qrels(folder / "qrels" / "test.tsv")
    qrels = {q: qrels[q] for q in sorted(qrels)[::every]}
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    qids = sorted(qrels)
    docs, scores = retriever.retrieve(bm25s.tokenize([queries[q] for q in qids], stopwords="en",
                                                     show_progress=False), k=k, show_progress=False)
    run = {q: {ids[i]: float(s) for i, s in zip(docs[j], scores[j], strict=True) if s > 0} for j, q in enumerate(qids)}
    return qrels, run


@pytest.fixture(scope="module")
def scifact_bm25(shared_datasets):
    return bm25_run(shared_datasets / "scifact")


def test_agrees_with_beir_where_definitions_match(scifact_bm25):
    from beir.retrieval.evaluation import EvaluateRetrieval

    qrels, run = scifact_bm25  # raw BM25 scores, ties included: beir hands them to pytrec_eval as they are
    ks = [1, 3, 5, 10, 100, 1000]
    measures = [f"nDCG@{k}" for k in ks] + [f"Recall@{k}" for k in ks] + [f"P@{k}" for k in ks] + \
               ["MAP", "MAP@10", "MRR@10"]
    ours = evaluate_run(qrels, run, measures=measures).aggregate
    ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), ks,
                                                               ignore_identical_ids=False)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, copy.deepcopy(run), [10], metric="mrr")
    for k in ks:  # beir rounds to 5 decimals
        assert ours[f"nDCG@{k}"] == pytest.approx(ndcg[f"NDCG@{k}"], abs=6e-6)
        assert ours[f"Recall@{k}"] == pytest.approx(recall[f"Recall@{k}"], abs=6e-6)
        assert ours[f"P@{k}"] == pytest.approx(precision[f"P@{k}"], abs=6e-6)
    assert ours["MAP@10"] == pytest.approx(_map["MAP@10"], abs=6e-6)
    # every query retrieves <= 1000 documents, so beir's MAP@1000 (map_cut) is full MAP
    assert ours["MAP"] == pytest.approx(_map["MAP@1000"], abs=6e-6)
    # scifact grades are all 1, so beir's "grade > 0" MRR equals ours at threshold 1
    assert ours["MRR@10"] == pytest.approx(mrr["MRR@10"], abs=6e-6)
    assert 0.60 < ours["nDCG@10"] < 0.72  # BM25 on scifact: BEIR paper 0.665


def test_documented_differences_from_beir(scifact_bm25):
    """Where beir's definitions differ: (1) its means are over the queries present in the run, ours
    over all judged queries; (2) its evaluate() drops identical query/doc ids by default; (3) its MRR
    counts any grade > 0 as relevant, ours applies the relevance threshold."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    qrels, run = scifact_bm25
    partial = {q: docs for i, (q, docs) in enumerate(sorted(run.items())) if i % 3}
    ours = evaluate_run(qrels, partial, measures=["nDCG@10"])
    ndcg, *_ = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(partial), [10], ignore_identical_ids=False)
    assert ours.n_queries == len(qrels) and ours.n_queries_not_retrieved == len(qrels) - len(partial)
    subset_mean = math.fsum(ours.per_query[q]["nDCG@10"] for q in partial) / len(partial)
    assert ndcg["NDCG@10"] == pytest.approx(subset_mean, abs=6e-6)
    assert ours.aggregate["nDCG@10"] == pytest.approx(subset_mean * len(partial) / len(qrels), abs=1e-12)

    graded = {"q": {"a": 1, "b": 2}}
    graded_run = {"q": {"a": 2.0, "b": 1.0}}
    mrr = EvaluateRetrieval.evaluate_custom(graded, graded_run, [10], metric="mrr")
    assert mrr["MRR@10"] == 1.0
    assert evaluate_run(graded, graded_run, measures=["MRR@10"], relevance_threshold=2).aggregate["MRR@10"] == 0.5


def test_arguana_identical_ids_and_ties_against_beir(shared_datasets):
    """ArguAna queries are corpus documents: beir's evaluate() drops identical ids by default, which
    equals ours with ignore_identical_ids=True (the registry's setting for arguana). BM25 produces real
    ties here (duplicate texts); both resolve them as trec_eval does, so the numbers are equal."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    need_datasets(shared_datasets, "arguana")
    qrels, run = bm25_run(shared_datasets / "arguana", k=100, every=3)
    assert sum(1 for q in run if q in run[q]) > 0.8 * len(qrels)  # the query itself is usually retrieved
    ours = evaluate_run(qrels, run, measures=["nDCG@10"], ignore_identical_ids=True)
    kept = evaluate_run(qrels, run, measures=["nDCG@10"], ignore_identical_ids=False)
    assert ours.n_identical_ids_dropped > 0.8 * len(qrels)
    assert ours.aggregate["nDCG@10"] > kept.aggregate["nDCG@10"] + 0.05
    beir_raw, *_ = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), [10])
    assert ours.aggregate["nDCG@10"] == pytest.approx(beir_raw["NDCG@10"], abs=6e-6)
    n_tied = sum(1 for docs in run.values() if len(set(sorted(docs.values(), reverse=True)[:11])) < 11)
    assert n_tied > 0  # the case the equality is about
