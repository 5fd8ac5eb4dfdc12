"""``benchmarks.crosscheck``: a results folder's rankings re-scored by ir_measures, per query."""

from __future__ import annotations

import csv
import shutil

import pytest

from benchmarks.crosscheck import crosscheck, main, rescore
from synrank.data.beir import load_dataset
from synrank.evaluation.pipeline import evaluate_model

MEASURES = ("nDCG@10", "nDCG@100", "MAP", "Recall@100", "P@10", "MRR@10", "MAP(rel=2)")


@pytest.fixture(scope="module")
def results(tmp_path_factory, shared_datasets):
    root = tmp_path_factory.mktemp("results")
    data = load_dataset(shared_datasets / "cranfield")
    evaluate_model("bm25", data, output_dir=root / "cells" / "bm25" / "cranfield", measures=MEASURES,
                   show_progress=False)
    return root, shared_datasets


def _rewrite(path, qid, measure, value):
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        if row["query_id"] == qid:
            row[measure] = repr(value)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_a_written_run_rescores_identically_and_an_edit_fails(results, tmp_path):
    root, datasets = results
    rows = crosscheck(root, datasets)
    assert [r["verdict"] for r in rows] == ["OK"], rows
    assert rows[0]["queries_with_ties"] > 0 and rows[0]["max_abs_diff"] <= 1e-9
    assert set(rows[0]["measures"]) == set(MEASURES)

    # the same folder with one per-query value changed by 1e-6 must fail, naming the query and measure
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    tsv = copy / "cells" / "bm25" / "cranfield" / "per_query.tsv"
    qid = next(csv.DictReader(tsv.open(encoding="utf-8"), delimiter="\t"))["query_id"]
    value = float(next(csv.DictReader(tsv.open(encoding="utf-8"), delimiter="\t"))["MAP"])
    _rewrite(tsv, qid, "MAP", value + 1e-6)
    assert main(["--results", str(copy), "--datasets", str(datasets)]) == 1
    bad = crosscheck(copy, datasets)[0]
    assert bad["verdict"] == "FAIL" and bad["worst"].startswith(f"{qid} MAP")
    assert "FAIL" in (copy / "crosscheck.md").read_text(encoding="utf-8")

    (copy / "cells" / "bm25" / "cranfield" / "run.trec.gz").unlink()
    assert crosscheck(copy, datasets)[0]["verdict"] == "skipped"


def test_mrr_uses_trec_eval_order_for_ties():
    """Two tied documents at rank 1: trec_eval ranks the larger doc id first."""
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert rescore(run, {"q": {"a": 1}}, ["MRR@1"], 1)["q"]["MRR@1"] == 0.0  # 'b' first, cut at 1
    assert rescore(run, {"q": {"b": 1}}, ["MRR@1"], 1)["q"]["MRR@1"] == 1.0
    assert rescore(run, {"q": {"a": 1}}, ["MRR@10"], 1)["q"]["MRR@10"] == 0.5
