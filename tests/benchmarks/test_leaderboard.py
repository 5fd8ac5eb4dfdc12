"""Leaderboard from finished cells written in tmp: long CSV, Holm across datasets per model (checked
against statsmodels), wide Markdown with bold best values and significance marks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from benchmarks.report import write_leaderboard
from benchmarks.suites import SuiteConfig
from synrank.config import from_dict
from tests.benchmarks.report_helpers import write_marker


def _cell(results: Path, model: str, dataset: str, scores: np.ndarray) -> None:
    folder = results / "cells" / model / dataset
    folder.mkdir(parents=True)
    ids = [f"q{i:03d}" for i in range(scores.size)]
    lines = ["query_id\tnDCG@10"] + [f"{q}\t{s!r}" for q, s in zip(ids, scores.tolist(), strict=True)]
    (folder / "per_query.tsv").write_text("\n".join(lines) + "\n")
    write_marker(folder, model=model, dataset=dataset, aggregate={"nDCG@10": float(scores.mean())},
                 n_queries=int(scores.size), config_hash=f"h-{model}-{dataset}", variant=model)


def _scores(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [float(x["nDCG@10"]) for x in csv.DictReader(fh, delimiter="\t")]


@pytest.fixture()
def board(tmp_path):
    rng = np.random.default_rng(0)
    suite = from_dict(SuiteConfig, {
        "name": "t", "baseline": "base", "measures": ["nDCG@10"],
        "variants": [{"name": "base", "bm25": {}}, {"name": "better", "bm25": {}}, {"name": "same", "bm25": {}}],
        "datasets": [{"name": "d1"}, {"name": "d2"}, {"name": "d3"}]})
    results = tmp_path / "results"
    for i, d in enumerate(("d1", "d2", "d3")):
        base = rng.uniform(0, 1, 40 + 10 * i)
        _cell(results, "base", d, base)
        _cell(results, "better", d, np.clip(base + rng.normal(0.15 - 0.07 * i, 0.1, base.size), 0, 1))
        _cell(results, "same", d, base)
    out = write_leaderboard(suite, results, ["base", "better", "same"], {}, plots=False)
    with open(results / "leaderboard.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return results, rows, out


def test_holm_across_datasets_per_model(board):
    results, rows, _ = board
    better = sorted((r for r in rows if r["model"] == "better"), key=lambda r: r["dataset"])
    assert [r["dataset"] for r in better] == ["d1", "d2", "d3"]
    raw_t = []
    for r in better:
        a = _scores(results / "cells/better" / r["dataset"] / "per_query.tsv")
        b = _scores(results / "cells/base" / r["dataset"] / "per_query.tsv")
        raw_t.append(stats.ttest_rel(a, b).pvalue)
    assert [float(r["p_ttest"]) for r in better] == pytest.approx(raw_t, rel=1e-10)
    assert [float(r["p_ttest_holm"]) for r in better] == pytest.approx(
        multipletests(raw_t, method="holm")[1].tolist(), rel=1e-10)
    rand = [float(r["p_randomization"]) for r in better]
    assert [float(r["p_holm"]) for r in better] == pytest.approx(multipletests(rand, method="holm")[1].tolist())
    same = [r for r in rows if r["model"] == "same"]
    assert all(float(r["p_value"]) == 1.0 and float(r["p_holm"]) == 1.0 for r in same)
    base = [r for r in rows if r["model"] == "base"]
    assert all(r["p_value"] == "" and r["baseline"] == "" for r in base)


def test_markdown_marks_best_and_significance(board):
    results, rows, out = board
    md = (results / "leaderboard.md").read_text()
    better_line = next(ln for ln in md.splitlines() if ln.startswith("| better |"))
    d1 = next(r for r in rows if r["model"] == "better" and r["dataset"] == "d1")
    assert float(d1["p_holm"]) < 0.05
    assert f"**{float(d1['value']):.4f}**†" in better_line
    mean = np.mean([float(r["value"]) for r in rows if r["model"] == "better"])
    assert f"**{mean:.4f}**" in better_line
    same_line = next(ln for ln in md.splitlines() if ln.startswith("| same |"))
    assert "†" not in same_line and "‡" not in same_line
    assert out["missing"] == []
