"""The runs synrank writes, re-scored by other tools from the files alone: every reported measure must
come out the same (1e-9) with ir_measures (pytrec_eval provider), and MRR@10 with ranx reading the run
file. BM25 and a dense model; datasets whose runs are full of exact score ties (Cranfield BM25, ArguAna's
duplicate documents, TREC DL re-ranking)."""

from __future__ import annotations

import csv
import gzip
import math

import ir_measures
import pytest
from ir_measures import AP, RR, P, R, nDCG

from synrank.data.beir import load_dataset
from synrank.data.trec import read_run, sort_run_items
from synrank.evaluation.pipeline import evaluate_model
from synrank.retrieval.encoders import build_static_encoder

MEASURES = ("nDCG@10", "nDCG@100", "MAP", "Recall@100", "P@10", "MRR@10")


def _ours(folder):
    with (folder / "per_query.tsv").open(encoding="utf-8") as fh:
        return {row["query_id"]: {m: float(row[m]) for m in MEASURES} for row in csv.DictReader(fh, delimiter="\t")}


def _ir_measures(qrels, run, rel):
    measures = {"nDCG@10": nDCG @ 10, "nDCG@100": nDCG @ 100, "MAP": AP(rel=rel), "Recall@100": R(rel=rel) @ 100,
                "P@10": P(rel=rel) @ 10}
    out: dict[str, dict[str, float]] = {}
    for m in ir_measures.pytrec_eval.iter_calc(list(measures.values()), qrels, run):
        name = next(k for k, v in measures.items() if v == m.measure)
        out.setdefault(m.query_id, {})[name] = m.value
    # RR@10 = trec_eval's recip_rank on the run cut at depth 10 in trec_eval's order (= the file's order);
    # ir_measures' own RR@10 goes through its msmarco provider, which breaks ties by doc id *ascending*.
    cut = {q: dict(sort_run_items(docs)[:10]) for q, docs in run.items()}
    for m in ir_measures.pytrec_eval.iter_calc([RR(rel=rel)], qrels, cut):
        out.setdefault(m.query_id, {})["MRR@10"] = m.value
    return out


def _ranx_mrr10(qrels, path, rel):
    from ranx import Qrels, Run, evaluate

    plain = path.with_suffix("")  # ranx reads plain text only
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    run = Run.from_file(str(plain), kind="trec")  # keeps the file's order among equal scores
    result = evaluate(Qrels(qrels), run, f"mrr@10-l{rel}" if rel > 1 else "mrr@10", return_mean=False)
    return dict(zip(sorted(run.keys()), result, strict=False)) if not isinstance(result, dict) else result


def _count_tied_queries(run):
    """Queries whose ranking has at least two documents with exactly the same score."""
    return sum(1 for docs in run.values() if len(set(docs.values())) < len(docs))


@pytest.mark.parametrize("dataset, model", [("cranfield", "bm25"), ("trec-dl-2019", "bm25"),
                                            pytest.param("arguana", "static", marks=pytest.mark.slow),
                                            ("trec-dl-2019", "static")])
def test_written_runs_rescore_identically(tmp_path, shared_datasets, dataset, model):
    data = load_dataset(shared_datasets / dataset)
    if model == "static":
        spec = build_static_encoder("all-MiniLM-L6-v2")
    else:
        spec = "bm25"
    cell = evaluate_model(spec, data, output_dir=tmp_path, measures=MEASURES, show_progress=False)
    run = read_run(tmp_path / "run.trec.gz")
    qrels = {q: dict(d) for q, d in data.qrels.items()}
    rel = data.info.relevance_threshold
    if data.info.ignore_identical_ids:  # the written run is the scored one: nothing left to drop
        assert all(q not in docs for q, docs in run.items())
    ours, theirs = _ours(tmp_path), _ir_measures(qrels, run, rel)
    assert _count_tied_queries(run) > 0, "the case this test is about: exact score ties"
    assert set(theirs) <= set(ours)
    for qid, values in ours.items():
        expected = theirs.get(qid)
        for name in MEASURES:
            want = 0.0 if expected is None else expected[name]  # judged but not retrieved: 0 (trec_eval -c)
            assert math.isclose(values[name], want, abs_tol=1e-9), (dataset, model, qid, name, values[name], want)
    for name in MEASURES:
        mean = math.fsum(v[name] for v in ours.values()) / len(ours)
        assert math.isclose(cell.aggregate[name], mean, abs_tol=1e-12)
    ranx = _ranx_mrr10(qrels, tmp_path / "run.trec.gz", rel)
    for qid, value in ranx.items():
        assert math.isclose(ours[qid]["MRR@10"], value, abs_tol=1e-9), (qid, value)
