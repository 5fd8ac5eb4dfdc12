"""Quality report: numbers checked against independent float64 formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synrank.data.groups import Passage, TrainingGroup
from synrank.io import atomic_write_text
from synrank.synthetic.report import lexical_overlap, synthetic_report, view_stats


def _rank(x):
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty_like(x)
    i = 0
    while i < len(x):  # average ranks of ties
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(a, b):
    ra, rb = _rank(a), _rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))


def _group(qid, grades):
    return TrainingGroup(qid, f"q{qid}", [Passage(f"p{g}", g) for g in grades])


def test_view_stats_against_hand_computation():
    groups = [_group("a", [3, 2, 1, 0]), _group("b", [3, 2, 1, 0]), _group("c", [3, 2, 1, 0])]
    scores = [np.array([.9, .7, .5, .1]), np.array([.8, .4, .6, .2]), np.array([.3, .5, .2, .1])]
    v = view_stats(groups, scores)
    grades = [3, 2, 1, 0] * 3
    assert v["spearman"] == pytest.approx(_spearman(grades, np.concatenate(scores)), abs=1e-12)
    assert v["ordered_fraction"] == pytest.approx(1 / 3)
    assert v["pairwise"]["2>1"] == pytest.approx(2 / 3)
    assert v["pairwise"]["3>2"] == pytest.approx(2 / 3)
    assert v["pairwise"]["3>0"] == 1.0
    assert v["mean_per_grade"]["3"] == pytest.approx((.9 + .8 + .3) / 3)
    per_q = np.mean([_spearman([3, 2, 1, 0], s) for s in scores])
    assert v["spearman_per_query_mean"] == pytest.approx(per_q, abs=1e-12)


def test_lexical_overlap():
    assert lexical_overlap("what is a roth ira", "A Roth account.") == pytest.approx(0.5)
    assert lexical_overlap("what is", "anything") == 0.0


@pytest.mark.slow
def test_report_end_to_end_with_minilm(tmp_path, minilm_path):
    recs = []
    topics = [("how long to boil an egg", "Boil the egg for nine to twelve minutes for a hard yolk.",
               "Eggs are a common breakfast food rich in protein.", "The stock market closed higher today."),
              ("what is the capital of france", "Paris is the capital and largest city of France.",
               "France is a country in western Europe with many regions.", "Bananas grow in tropical climates."),
              ("symptoms of the flu", "Flu symptoms include fever, cough, sore throat and body aches.",
               "Influenza viruses spread every winter season.", "The guitar has six strings.")]
    for i, (q, p3, p1, p0) in enumerate(topics):
        recs.append({"query_id": str(i), "query": q, "passages": [
            {"text": p3, "grade": 3}, {"text": p1, "grade": 1}, {"text": p0, "grade": 0}]})
    atomic_write_text(tmp_path / "g.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    rep = synthetic_report(tmp_path / "g.jsonl", out_dir=tmp_path / "rep", encoder=str(minilm_path), n_samples=2)
    enc = rep["encoder_view"]
    assert enc["ordered_fraction"] == 1.0 and enc["spearman"] > 0.8
    assert set(rep["per_grade"]) == {"3", "1", "0"}
    for name in ("report.md", "report.json", "report.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 100
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "BM25" in md and "Samples" in md and "fully ordered" in md
    assert rep["bm25_view"]["mean_per_grade"]["0"] == 0.0  # no query word in the grade-0 passages
