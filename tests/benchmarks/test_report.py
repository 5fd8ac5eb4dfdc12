"""The report object and its renderers: CSV, Markdown and HTML print the same numbers (on the committed
smoke results and on a synthetic folder with seed replicates); seed rows aggregate as documented
(checked with numpy/scipy/statistics); committed outputs are what the builder makes from the committed
cells; the page is self-contained and readable without JavaScript; the drill-down data matches the
run files and qrels; the plots carry legend, baselines and alpha; the commands print a short summary."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import logging
import math
import re
import shutil
import statistics
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from benchmarks import run as run_mod
from benchmarks.leaderboard import (
    CSV_COLUMNS,
    SEED_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    SIGNIFICANCE_SEED_COLUMNS,
    Encoding,
)
from benchmarks.report import REPORT_PAGE, build_report, write_leaderboard, write_report
from benchmarks.report.__main__ import main as report_main
from benchmarks.report.drilldown import EXTREMES, TOP_DOCS, _top_docs, drilldown_data, extreme_queries
from benchmarks.report.text import markdown
from benchmarks.rows import subsample_notes, suite_rows
from benchmarks.suites import SuiteConfig, load_suite
from synrank.config import from_dict
from synrank.errors import DatasetError
from tests.benchmarks.report_helpers import (
    ABSENT,
    MEASURES,
    cell_texts,
    make_fixture,
    parse_html,
    write_marker,
    write_metrics,
)

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "results" / "smoke"


@pytest.fixture()
def datasets_env(shared_datasets, monkeypatch):
    monkeypatch.setenv("SYNRANK_DATA", str(shared_datasets))
    return shared_datasets


@pytest.fixture()
def toy(tmp_path):
    fx = make_fixture(tmp_path)
    suite = load_suite(fx.suite_file)
    models, baselines, labels = suite_rows(suite, fx.results)
    report = build_report(suite, fx.results, models, baselines, labels=labels)
    return fx, suite, report


def _report_of(results: Path, suite_name: str):
    suite = load_suite(suite_name)
    models, baselines, labels = suite_rows(suite, results)
    return build_report(suite, results, models, baselines, notes=subsample_notes(suite), labels=labels)


# ---------------------------------------------------------------------------------------------------
# The three renderings agree
# ---------------------------------------------------------------------------------------------------

def _csv_view(text: str, measure: str) -> dict[tuple[str, str], str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {(r["model"], r["dataset"]): f"{float(r['value']):.4f}" for r in rows if r["measure"] == measure}


def _md_view(md: str, measure: str) -> tuple[list[str], dict[tuple[str, str], str]]:
    lines = md.splitlines()
    start = lines.index(f"## {measure}") + 2
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    out, order = {}, []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip().replace("**", "") for c in ln.strip("|").split("|")]
        order.append(cells[0])
        for col, text in zip(header[3:], cells[3:], strict=True):
            out[(cells[0], col)] = text
    return order, out


def _html_view(page: str) -> tuple[list[str], dict[tuple[str, str], str]]:
    board = parse_html(page).by_id("board")
    assert board is not None
    header = cell_texts(board.rows("thead")[0])
    out, order = {}, []
    for tr in board.rows():
        cells = cell_texts(tr)
        order.append(cells[0])
        for col, text in zip(header[3:], cells[3:], strict=True):
            out[(cells[0], col)] = text
    return order, out


def _csv_encodings(text: str) -> dict[str, set[str]]:
    """Per model, the labels its cells' CSV columns backend, precision, max_length make."""
    out: dict[str, set[str]] = {}
    for r in csv.DictReader(io.StringIO(text)):
        out.setdefault(r["model"], set()).add(Encoding(r["backend"], r["precision"], r["max_length"]).label)
    return out


def _md_datasets(md: str) -> list[list[str]]:
    lines = md.splitlines()
    start = lines.index("## Datasets")
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("| dataset |"))
    out = []
    for ln in lines[header + 2:]:
        if not ln.startswith("|"):
            break
        out.append([c.strip() for c in ln.strip("|").split("|")])
    return out


def _assert_agree(report, csv_text: str, md: str, page: str) -> None:
    csv_vals = _csv_view(csv_text, report.measure)
    md_order, md_vals = _md_view(md, report.measure)
    html_order, html_vals = _html_view(page)
    assert md_order == html_order == [t.model for t in report.score_table()]
    assert md_vals == html_vals  # same text per cell: value, mark, ± sd, mean column, encoding
    for (model, col), text in md_vals.items():
        if col in ("mean", "encoding") or text == "—":
            continue
        assert text.split("†")[0].split("‡")[0].split(" ±")[0] == csv_vals[(model, col)]
    assert len([1 for k in md_vals if k[1] not in ("mean", "encoding") and md_vals[k] != "—"]) == len(csv_vals)
    # the encoding column: the CSV's per-cell columns, one label, or every one after "varies:"
    for model, labels in _csv_encodings(csv_text).items():
        shown = md_vals[(model, "encoding")]
        if any(";" in label for label in labels):  # a cell whose seed replicates differ
            assert "(by seed)" in shown
        elif len(labels) == 1:
            assert shown == next(iter(labels))
        else:
            assert shown.startswith("varies: ") and all(label in shown for label in labels)
    # the relevance threshold: the CSV's, in the Datasets tables of both
    thresholds = {(r["dataset"], r["relevance_threshold"]) for r in csv.DictReader(io.StringIO(csv_text))}
    md_ds = _md_datasets(md)
    html_ds = [cell_texts(tr) for tr in parse_html(page).by_id("datasets").rows()]
    assert md_ds == html_ds
    assert {(row[0], row[-1]) for row in md_ds} == thresholds


def test_committed_smoke_csv_md_html_agree():
    _assert_agree(_report_of(SMOKE, "smoke"), (SMOKE / "leaderboard.csv").read_text("utf-8"),
                  (SMOKE / "leaderboard.md").read_text("utf-8"), (SMOKE / REPORT_PAGE).read_text("utf-8"))


def test_toy_renderings_agree_with_seeds(toy):
    fx, suite, report = toy
    written = write_report(report, plots=False)
    assert {"leaderboard.csv", "leaderboard.md", "costs.csv", "significance.csv", REPORT_PAGE} <= set(written)
    csv_text = (fx.results / "leaderboard.csv").read_text()
    md = (fx.results / "leaderboard.md").read_text()
    page = (fx.results / REPORT_PAGE).read_text()
    _assert_agree(report, csv_text, md, page)
    _, md_vals = _md_view(md, report.measure)
    assert " ± " in md_vals[("sx", "toyds")] and " ± " not in md_vals[("base", "toyds")]
    assert "±" in md_vals[("sx", "mean")]
    # the gain of "better" over "base" is significant on both datasets: marked in every rendering
    assert md_vals[("better", "toyds")].endswith("†")


# ---------------------------------------------------------------------------------------------------
# Seed replicates
# ---------------------------------------------------------------------------------------------------

def test_seed_rows_are_means_with_sd(toy):
    fx, suite, report = toy
    reps = ["sx@seed1", "sx@seed2", "sx@seed3"]
    for measure in MEASURES:
        per_seed = [float(fx.per_query[(r, "toyds")][measure].mean()) for r in reps]
        row = report.row("sx", "toyds", measure)
        assert row["n_seeds"] == 3 and row["replicates"] == reps
        assert row["value"] == pytest.approx(statistics.fmean(per_seed), abs=1e-12)
        assert row["sd"] == pytest.approx(statistics.stdev(per_seed), abs=1e-12)
        averaged = np.mean([fx.per_query[(r, "toyds")][measure] for r in reps], axis=0)
        base = fx.per_query[("base", "toyds")][measure]
        assert row["p_ttest"] == pytest.approx(stats.ttest_rel(averaged, base).pvalue, rel=1e-9)
        assert row["mean_diff"] == pytest.approx(float((averaged - base).mean()), abs=1e-12)
        assert row["config_hash"] == ";".join(f"h-{r}-toyds" for r in reps)
    plain = report.row("base", "toyds")
    assert plain["n_seeds"] == 1 and np.isnan(plain["sd"])
    text = write_leaderboard(suite, fx.results, report.models, report.baselines, plots=False, html=False)
    assert text["n_cells"] == 6
    header = (fx.results / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS + SEED_COLUMNS
    costs = {r["model"] for r in csv.DictReader(io.StringIO((fx.results / "costs.csv").read_text()))}
    assert costs == {"base", "better", "sx@seed1", "sx@seed2", "sx@seed3"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_seeds=st.integers(2, 4), n_queries=st.integers(3, 12), seed=st.integers(0, 10_000))
def test_seed_aggregation_property(tmp_path_factory, n_seeds, n_queries, seed):
    """Any number of replicates and queries: value = mean of per-seed means, sd = their stdev, the
    t-test runs on per-query means over seeds."""
    rng = np.random.default_rng(seed)
    results = tmp_path_factory.mktemp("seeds") / "results"
    ids = [f"q{i}" for i in range(n_queries)]
    scores = {"base": [rng.uniform(0, 1, n_queries)]}
    scores["r"] = [rng.uniform(0, 1, n_queries) for _ in range(n_seeds)]
    for row, tables in scores.items():
        for k, s in enumerate(tables):
            name = row if row == "base" else f"{row}@seed{k + 7}"
            cell = results / "cells" / name / "d"
            cell.mkdir(parents=True)
            (cell / "per_query.tsv").write_text("query_id\tnDCG@10\n" + "".join(
                f"{q}\t{v!r}\n" for q, v in zip(ids, s.tolist(), strict=True)))
            write_marker(cell, model=name, dataset="d", aggregate={"nDCG@10": float(s.mean())},
                         n_queries=n_queries, config_hash=name, variant=row)
    suite = from_dict(SuiteConfig, {"name": "p", "baseline": "base", "measures": ["nDCG@10"],
                                    "variants": [{"name": "base", "bm25": {}}, {"name": "r", "bm25": {}}],
                                    "datasets": [{"name": "d"}]})
    report = build_report(suite, results, ["base", "r"], {})
    row = report.row("r", "d")
    per_seed = [float(s.mean()) for s in scores["r"]]
    assert row["n_seeds"] == n_seeds
    assert row["value"] == pytest.approx(statistics.fmean(per_seed), abs=1e-12)
    assert row["sd"] == pytest.approx(statistics.stdev(per_seed), abs=1e-12)
    averaged = np.mean(scores["r"], axis=0)
    diff = averaged - scores["base"][0]
    if np.ptp(diff) > 1e-12:
        assert row["p_ttest"] == pytest.approx(stats.ttest_rel(averaged, scores["base"][0]).pvalue, rel=1e-7)
    table = report.score_table()
    entry = table[1].entries[0]
    assert entry.sd == pytest.approx(row["sd"]) and entry.seed_values == tuple(row["seed_values"])
    assert f"{row['value']:.4f}" in markdown(report) and f"± {row['sd']:.4f}" in markdown(report)


def test_replicates_with_other_queries_are_refused(tmp_path):
    results = tmp_path / "results"
    for name, ids in (("r@seed1", ["a", "b"]), ("r@seed2", ["a", "c"])):
        cell = results / "cells" / name / "d"
        cell.mkdir(parents=True)
        (cell / "per_query.tsv").write_text("query_id\tnDCG@10\n" + "".join(f"{q}\t0.5\n" for q in ids))
        write_marker(cell, model=name, dataset="d", aggregate={"nDCG@10": 0.5}, n_queries=2, config_hash=name,
                     variant="r")
    suite = from_dict(SuiteConfig, {"name": "p", "baseline": "r", "measures": ["nDCG@10"],
                                    "variants": [{"name": "r", "bm25": {}}], "datasets": [{"name": "d"}]})
    with pytest.raises(Exception, match=r"cells/r@seed2/d/per_query.tsv: other queries than cells/r@seed1/d"):
        build_report(suite, results, ["r"], {})


def _exact_randomization_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired randomization p-value by counting every one of the 2^n sign patterns."""
    d = a - b
    observed = d.mean()
    tol = 1e-9 * abs(observed)
    null = np.array([np.dot(signs, d) / d.size for signs in itertools.product((1.0, -1.0), repeat=d.size)])
    less, greater = np.mean(null <= observed + tol), np.mean(null >= observed - tol)
    return min(1.0, 2 * min(less, greater))


def _sig_rows(results: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((results / "significance.csv").read_text())))


def test_significance_keeps_per_seed_tests_beside_the_seed_mean(tmp_path):
    """significance.csv: the comparison better vs sx (3 seeds) on per-query scores averaged over sx's
    seeds (scores = seed-mean), then one test per seed (scores = per-seed) against that replicate alone;
    p-values checked against scipy and an exact count of sign flips (10 queries: 1024 patterns), Holm
    against statsmodels across the datasets of each seed."""
    fx = make_fixture(tmp_path, n_queries=10)
    suite = load_suite(fx.suite_file)
    models, baselines, labels = suite_rows(suite, fx.results)
    report = build_report(suite, fx.results, models, baselines, labels=labels)
    write_report(report, plots=False)
    rows = _sig_rows(fx.results)
    header = (fx.results / "significance.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == SIGNIFICANCE_COLUMNS + SIGNIFICANCE_SEED_COLUMNS
    reps = ["sx@seed1", "sx@seed2", "sx@seed3"]
    for measure in MEASURES:
        for d in ("toyds", "nonexistent-toy"):
            better = fx.per_query[("better", d)][measure]
            mean_row = [r for r in rows if (r["dataset"], r["measure"], r["scores"]) == (d, measure, "seed-mean")]
            assert len(mean_row) == 1 and mean_row[0]["seed"] == ""
            assert mean_row[0]["model_cells"] == "better" and mean_row[0]["baseline_cells"] == ";".join(reps)
            averaged = np.mean([fx.per_query[(r, d)][measure] for r in reps], axis=0)
            assert float(mean_row[0]["p_ttest"]) == pytest.approx(stats.ttest_rel(better, averaged).pvalue, rel=1e-9)
            assert float(mean_row[0]["p_randomization"]) == pytest.approx(_exact_randomization_p(better, averaged))
            per_seed = {r["seed"]: r for r in rows if (r["dataset"], r["measure"], r["scores"]) == (d, measure, "per-seed")}
            assert sorted(per_seed) == ["1", "2", "3"]
            for k in (1, 2, 3):
                r, sx = per_seed[str(k)], fx.per_query[(f"sx@seed{k}", d)][measure]
                assert (r["model_cells"], r["baseline_cells"]) == ("better", f"sx@seed{k}")
                assert float(r["baseline_value"]) == pytest.approx(float(sx.mean()), abs=1e-12)
                assert float(r["mean_diff"]) == pytest.approx(float((better - sx).mean()), abs=1e-12)
                assert float(r["p_ttest"]) == pytest.approx(stats.ttest_rel(better, sx).pvalue, rel=1e-9)
                assert float(r["p_randomization"]) == pytest.approx(_exact_randomization_p(better, sx))
        for k in (1, 2, 3):
            group = [r for r in rows if (r["measure"], r["seed"]) == (measure, str(k))]
            raw = [float(r["p_randomization"]) for r in group]
            assert len(group) == 2 and [float(r["p_randomization_holm"]) for r in group] == pytest.approx(
                multipletests(raw, method="holm")[1].tolist())


def test_seed_note_says_how_tests_use_seeds_in_markdown_and_html(toy):
    fx, suite, report = toy
    write_report(report, plots=False)
    md = (fx.results / "leaderboard.md").read_text()
    legend_html = parse_html((fx.results / REPORT_PAGE).read_text()).by_id("leaderboard").find_all("p")[0].text()
    for text in (md, " ".join(legend_html.split())):
        assert "3 seeds: sx" in text and "per-query scores averaged over their seeds" in text
        assert "per-seed" in text and "significance.csv" in text


def _seed_folders(row: str, seeds: list[str]) -> list[str]:
    return [row if s == "own" else f"{row}@seed{s}" for s in seeds]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a_seeds=st.lists(st.sampled_from(["own", "1", "2", "3"]), min_size=1, max_size=4, unique=True),
       b_seeds=st.lists(st.sampled_from(["own", "1", "2", "3"]), min_size=1, max_size=4, unique=True))
def test_per_seed_pairs_any_mix_of_replicates(tmp_path_factory, a_seeds, b_seeds):
    """Rows with any replicates: replicates of one seed are paired, a row with one cell is paired with
    every replicate of the other, two single cells give no per-seed row (their test is the only one)."""
    results = tmp_path_factory.mktemp("pairs") / "results"
    rng = np.random.default_rng(len(a_seeds) * 7 + len(b_seeds))
    for row, seeds in (("a", a_seeds), ("b", b_seeds)):
        for name in _seed_folders(row, seeds):
            cell = results / "cells" / name / "d"
            cell.mkdir(parents=True)
            s = rng.uniform(0, 1, 5)
            (cell / "per_query.tsv").write_text("query_id\tnDCG@10\n" + "".join(f"q{i}\t{v!r}\n" for i, v in enumerate(s.tolist())))
            write_marker(cell, model=name, dataset="d", aggregate={"nDCG@10": float(s.mean())}, n_queries=5,
                         config_hash=name, variant=row)
    suite = from_dict(SuiteConfig, {"name": "p", "baseline": "b", "measures": ["nDCG@10"],
                                    "variants": [{"name": "a", "bm25": {}}, {"name": "b", "bm25": {}}],
                                    "datasets": [{"name": "d"}], "comparisons": [{"model": "a", "baseline": "b"}]})
    report = build_report(suite, results, ["a", "b"], {})
    order = ["own", "1", "2", "3"]  # a row's folders: its own, then by seed
    a_sorted, b_sorted = [s for s in order if s in a_seeds], [s for s in order if s in b_seeds]
    if len(a_sorted) == 1 and len(b_sorted) == 1:
        expected = []
    elif len(b_sorted) == 1:
        expected = [(s, b_sorted[0]) for s in a_sorted]
    elif len(a_sorted) == 1:
        expected = [(a_sorted[0], s) for s in b_sorted]
    else:
        expected = [(s, s) for s in a_sorted if s in b_sorted]
    got = [(r["model_cells"], r["baseline_cells"], r["seed"]) for r in report.seed_comparisons]
    assert got == [(_seed_folders("a", [x])[0], _seed_folders("b", [y])[0], y if len(a_sorted) == 1 else x)
                   for x, y in expected]
    assert [r["scores"] for r in report.comparisons] == ["single" if not expected and len(a_sorted) == 1
                                                         and len(b_sorted) == 1 else "seed-mean"]


_BACKEND_CHOICES = st.one_of(st.just(ABSENT), st.none(), st.sampled_from(["openvino-bf16", "torch-fp32"]))
_LENGTH_CHOICES = st.one_of(st.just(ABSENT), st.just(math.inf), st.sampled_from([128, 256]))


def _expected_label(spec) -> str:
    """The label of one replicate's record, written out independently of Encoding.label."""
    if spec is None:  # no metrics.json
        return "? · ?"
    encoding, length = spec
    name = "?" if encoding is ABSENT else "plug-in" if encoding is None else encoding
    shown = {ABSENT: "?", math.inf: "∞"}.get(length, str(length))  # type: ignore[call-overload]
    return f"{name} · {shown}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_encoding_and_threshold_any_mix_of_rows(tmp_path_factory, data):
    """Rows with and without seed replicates, cells with and without metrics.json, records with and
    without the encoding fields, datasets that differ: the CSV's per-cell columns, the Markdown and HTML
    column and the Datasets tables say what the records say, and agree."""
    results = tmp_path_factory.mktemp("mix") / "results"
    n_rows = data.draw(st.integers(1, 3))
    datasets = ["d1", "d2"]
    thresholds = {"d1": 1, "d2": 2}
    expected: dict[str, dict[str, list]] = {}
    rng = np.random.default_rng(n_rows)
    ids = [f"q{i}" for i in range(6)]
    rows = ["base"] + [f"r{k}" for k in range(n_rows)]
    for row in rows:
        n_reps = 1 if row == "base" else data.draw(st.integers(1, 3))
        folders = [row] if n_reps == 1 else [f"{row}@seed{s}" for s in range(1, n_reps + 1)]
        expected[row] = {}
        for d in datasets:
            specs = []
            for name in folders:
                cell = results / "cells" / name / d
                s = rng.uniform(0, 1, len(ids))
                agg = {"nDCG@10": float(s.mean())}
                if row == "base":
                    write_metrics(cell, aggregate=agg, n_queries=len(ids), kind="bm25", threshold=thresholds[d])
                    spec = "bm25"
                elif data.draw(st.booleans()):
                    spec = (data.draw(_BACKEND_CHOICES), data.draw(_LENGTH_CHOICES))
                    write_metrics(cell, aggregate=agg, n_queries=len(ids), encoding=spec[0], max_length=spec[1],
                                  threshold=thresholds[d])
                else:
                    spec = None
                    cell.mkdir(parents=True)
                (cell / "per_query.tsv").write_text("query_id\tnDCG@10\n" + "".join(
                    f"{q}\t{v!r}\n" for q, v in zip(ids, s.tolist(), strict=True)))
                write_marker(cell, model=name, dataset=d, aggregate=agg, n_queries=len(ids), config_hash=name,
                             variant=row, kind="bm25" if row == "base" else "train")
                specs.append(spec)
            expected[row][d] = specs
    suite = from_dict(SuiteConfig, {"name": "mix", "baseline": "base", "measures": ["nDCG@10"],
                                    "variants": [{"name": r, "bm25": {}} for r in rows],
                                    "datasets": [{"name": d} for d in datasets]})
    report = build_report(suite, results, rows, {})
    write_report(report, plots=False)
    csv_text = (results / "leaderboard.csv").read_text()
    md, page = (results / "leaderboard.md").read_text(), (results / REPORT_PAGE).read_text()
    _assert_agree(report, csv_text, md, page)
    by_cell = {(r["model"], r["dataset"]): r for r in csv.DictReader(io.StringIO(csv_text))}
    _, md_vals = _md_view(md, "nDCG@10")
    for row in rows:
        per_dataset = {}
        for d in datasets:
            specs = expected[row][d]
            got = by_cell[(row, d)]
            if row == "base":
                assert (got["backend"], got["precision"], got["max_length"]) == ("", "", "")
                per_dataset[d] = "—"
            else:
                labels = list(dict.fromkeys(_expected_label(sp) for sp in specs))
                per_dataset[d] = labels[0] if len(labels) == 1 else " + ".join(labels) + " (by seed)"
                lengths = list(dict.fromkeys("?" if sp is None or sp[1] is ABSENT else
                                             "inf" if sp[1] == math.inf else str(sp[1]) for sp in specs))
                assert got["max_length"] == ";".join(lengths)
            known = [sp is not None for sp in specs]
            want = [str(thresholds[d]) if k else "?" for k in known] if row != "base" else [str(thresholds[d])]
            assert got["relevance_threshold"] == ";".join(dict.fromkeys(want))
        distinct = list(dict.fromkeys(per_dataset.values()))
        if len(distinct) == 1:
            assert md_vals[(row, "encoding")] == distinct[0]
        else:
            assert md_vals[(row, "encoding")] == "varies: " + "; ".join(
                f"{label} ({', '.join(d for d in datasets if per_dataset[d] == label)})" for label in distinct)


# ---------------------------------------------------------------------------------------------------
# Committed results: markerless cells, reproducible outputs
# ---------------------------------------------------------------------------------------------------

def _committed_smoke(tmp_path: Path) -> Path:
    """results/smoke as committed. After a local run (`make demo`) the work tree holds that run's files
    instead, so the committed ones are taken from git; a tree without git is used as it is."""
    if not list((SMOKE / "cells").glob("*/*/cell.json")):
        return SMOKE
    out = tmp_path / "committed"
    out.mkdir()
    repo = SMOKE.parents[1]
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD", "results/smoke"], check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"results/smoke holds a local run and git cannot give the committed files: {exc}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    return out / "results" / "smoke"


def test_committed_smoke_outputs_are_rebuilt_identically(datasets_env, tmp_path):
    """The committed smoke files are exactly what the builder makes from the committed cells (which
    have no completion markers: config hashes and timings come from manifest.json)."""
    committed = _committed_smoke(tmp_path)
    copy = tmp_path / "results" / "smoke"
    # what a clone has: markers and rankings are not committed
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("plots", "report", "cell.json", "run.trec.gz",
                                                                   ".lock", "mteb"))
    report = _report_of(copy, "smoke")
    assert len(report.cells) == 8 and not report.missing
    written = write_report(report)
    for name in ("leaderboard.csv", "significance.csv", "costs.csv", "leaderboard.md"):
        assert (copy / name).read_text("utf-8") == (committed / name).read_text("utf-8"), name
    assert set(written) == {str(p.relative_to(committed)) for p in committed.glob("plots/*.*")} | {
        "leaderboard.csv", "significance.csv", "costs.csv", "leaderboard.md", REPORT_PAGE}
    # the page: identical but for the images' bytes (which depend on matplotlib's version and fonts)
    strip = re.compile(r'src="data:image/[^"]+"')
    assert strip.sub("", (copy / REPORT_PAGE).read_text("utf-8")) == strip.sub(
        "", (committed / REPORT_PAGE).read_text("utf-8"))


def test_committed_cell_without_matching_manifest_is_ignored(tmp_path, caplog):
    copy = tmp_path / "smoke"
    shutil.copytree(SMOKE / "cells", copy / "cells", ignore=shutil.ignore_patterns("cell.json", "run.trec.gz", ".lock"))
    manifest = json.loads((SMOKE / "manifest.json").read_text())
    for c in manifest["cells"]:
        if c["model"] == "minilm" and c["dataset"] == "cranfield":
            c["dataset_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        report = _report_of(copy, "smoke")
    assert ("minilm", "cranfield") in report.missing and len(report.cells) == 7
    assert "describe different runs" in caplog.text


# ---------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------

def test_page_is_self_contained_and_readable_without_js():
    page = (SMOKE / REPORT_PAGE).read_text("utf-8")
    assert not re.search(r'<(?:link|iframe)\b', page)
    assert not re.search(r'\b(?:src|href)="(?!data:|#)', page), "every reference must be inline or a fragment"
    assert not re.search(r"<script[^>]+src=", page)
    assert "http://" not in page.split('id="report-data"')[0].replace("http://www.w3.org/2000/svg", "")
    doc = parse_html(page)
    # without scripts: every row of the score table, the costs, datasets and provenance are plain HTML
    models = [cell_texts(tr)[0] for tr in doc.by_id("board").rows()]
    assert models == ["bm25", "minilm", "static-base", "static-ws2"]
    for section in ("plots", "comparisons", "costs", "datasets", "provenance"):
        assert doc.by_id(section) is not None, section
    assert "baseline of the suite" in page.lower() and "α = 0.05" in page
    assert "/work/" not in page.split('id="report-data"')[0]  # no machine paths in the visible page


def test_drilldown_data_matches_runs_and_qrels(toy):
    fx, suite, report = toy
    data = drilldown_data(report)
    keys = [(p["a"], p["b"], p["kind"]) for p in data["pairs"]]
    assert keys == [("better", "sx", "comparison"), ("better", "base", "baseline"), ("sx", "base", "baseline")]
    ds = data["datasets"]["toyds"]
    assert ds["ids"] == fx.qids and ds["queries"] == [fx.queries[q] for q in fx.qids]
    sx = np.mean([fx.per_query[(f"sx@seed{k}", "toyds")]["nDCG@10"] for k in (1, 2, 3)], axis=0)
    assert ds["scores"]["sx"] == pytest.approx(np.round(sx, 4).tolist(), abs=1e-12)
    chosen = extreme_queries(ds["scores"], [("better", "sx"), ("better", "base"), ("sx", "base")])
    assert sorted(int(k) for k in ds["top"]["better"]) == chosen
    for key, docs in ds["top"]["better"].items():
        q = fx.qids[int(key)]
        assert [d for d, _ in docs] == fx.runs[("better", "toyds")][q][:TOP_DOCS]
        assert [g for _, g in docs] == [fx.qrels[q].get(d) for d, _ in docs]
        best = sorted(((g, d) for d, g in fx.qrels[q].items() if g > 0), key=lambda x: (-x[0], x[1]))[:3]
        assert ds["best"][key] == [[d, g] for g, d in best]
    # a seeded row shows its first replicate's ranking
    first = next(iter(ds["top"]["sx"]))
    assert [d for d, _ in ds["top"]["sx"][first]] == fx.runs[("sx@seed1", "toyds")][fx.qids[int(first)]][:TOP_DOCS]
    for doc in {d for docs in ds["top"]["better"].values() for d, _ in docs}:
        assert ds["docs"][doc].startswith(f"Title {doc} — text of {doc}") and len(ds["docs"][doc]) <= 240
    pair = data["pairs"][1]["stats"]["toyds"]
    assert pair["diff"] == pytest.approx(report.row("better", "toyds")["mean_diff"])
    missing = data["datasets"]["nonexistent-toy"]
    assert missing["queries"] is None and missing["docs"] == {}
    assert any("texts left out" in n for n in missing["notes"])


def test_page_without_rankings_is_the_page_of_a_folder_without_them(toy):
    """``rankings=False`` (``benchmarks.report --no-rankings``) builds, from a folder that has the run files,
    exactly the page a clone of committed results (no run files) builds."""
    fx, suite, report = toy
    with_runs = drilldown_data(report)
    assert with_runs["datasets"]["toyds"]["top"]
    without = drilldown_data(dataclasses.replace(report, rankings=False))
    for run in fx.results.glob("cells/*/*/run.trec.gz"):
        run.unlink()
    models, baselines, labels = suite_rows(suite, fx.results)
    clone = drilldown_data(build_report(suite, fx.results, models, baselines, labels=labels))
    assert without == clone
    assert without["datasets"]["toyds"]["top"] == {}
    assert any("rankings" in n for n in without["datasets"]["toyds"]["notes"])


def test_page_embeds_data_safely(toy):
    fx, suite, report = toy
    write_report(report, plots=False)
    page = (fx.results / REPORT_PAGE).read_text()
    scripts = parse_html(page).find_all("script")
    assert [sc.attrs.get("type") for sc in scripts] == ["application/json", None]  # the text did not end it
    data = json.loads(scripts[0].text())
    assert data["datasets"]["toyds"]["queries"][0] == fx.queries[fx.qids[0]]
    assert "</script><!--" not in page.split('id="report-data">')[1].split("</script>")[0]


def test_extreme_queries_keeps_largest_gains_and_losses():
    n = 2 * EXTREMES + 10
    a = [float(i) for i in range(n)]
    b = [float(n // 2)] * n
    got = extreme_queries({"a": a, "b": b}, [("a", "b")])
    assert got == list(range(EXTREMES)) + list(range(n - EXTREMES, n))


def test_plots_legend_baselines_alpha_deterministic(toy, tmp_path):
    fx, suite, report = toy
    files = write_report(report, html=False)
    for stem in ("overview", "toyds", "nonexistent-toy"):
        for ext in ("png", "svg"):
            assert f"plots/{stem}.{ext}" in files and (fx.results / "plots" / f"{stem}.{ext}").stat().st_size > 1000
    svg = (fx.results / "plots" / "overview.svg").read_text()
    for text in ("better than its baseline (p_holm &lt; 0.05)", "reference row (no baseline)",
                 "better  (vs base)", "sx  (vs base)", "base  (reference)", "Dots: seed replicates"):
        assert text in svg, text
    first = (fx.results / "plots" / "toyds.svg").read_bytes()
    write_report(report, html=False)
    assert (fx.results / "plots" / "toyds.svg").read_bytes() == first
    suite.significance.alpha = 0.01
    write_report(report, html=False)
    assert "p_holm &lt; 0.01" in (fx.results / "plots" / "toyds.svg").read_text()


# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------

def test_report_command_rebuilds_from_results(toy, capsys):
    fx, suite, _ = toy
    assert report_main(["--suite", str(fx.suite_file), "--results", str(fx.results), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "top 3 of 3 rows by mean nDCG@10" in out and f"report: {fx.results / REPORT_PAGE}" in out
    assert len(out.splitlines()) < 10
    assert report_main(["--suite", str(fx.suite_file), "--results", str(fx.results / "nope")]) == 2
    assert "no cells/ folder" in capsys.readouterr().err


def test_run_report_only_prints_summary_not_table(toy, capsys):
    fx, suite, _ = toy
    assert run_mod.main(["--suite", str(fx.suite_file), "--results", str(fx.results), "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "| model | variant |" not in out and "report: " in out and "full table: " in out
    assert (fx.results / REPORT_PAGE).exists()
    assert logging.getLogger("faiss").level == logging.WARNING
    assert run_mod.main(["--suite", str(fx.suite_file), "--results", str(fx.results), "--report-only", "-v"]) == 0
    assert logging.getLogger("faiss").level == logging.DEBUG
    run_mod.quiet_third_party(False)


def test_top_docs_reads_only_wanted_queries_and_names_bad_lines(tmp_path):
    run = tmp_path / "run.trec"
    run.write_text("q1\tQ0\td3\t1\t2.0\tx\nq1 Q0 q1 2 5.0 x\nq1 Q0 d1 3 2.0 x\nq2 Q0 d9 1 1.0 x\nq3 Q0 d4 1 oops x\n")
    # trec_eval's order: score descending, ties by doc id descending; the query's own id dropped where
    # the dataset says so
    assert _top_docs(run, ["q1"], ignore_identical=True) == {"q1": ["d3", "d1"]}
    assert _top_docs(run, ["q1", "q7"], ignore_identical=False) == {"q1": ["q1", "d3", "d1"], "q7": []}
    with pytest.raises(DatasetError, match=r"run\.trec:5: score 'oops' is not a number"):
        _top_docs(run, ["q3"], ignore_identical=False)


def test_document_texts_are_read_from_gzip_corpora(tmp_path):
    """Shipped datasets keep corpus.jsonl.gz: the drill-down reads it (a fresh clone's `make demo` did not)."""
    import gzip as gz

    from benchmarks.report.drilldown import _doc_texts

    path = tmp_path / "corpus.jsonl.gz"
    path.write_bytes(gz.compress(b'{"_id": "d1", "title": "T", "text": "first"}\n{"_id": "d2", "text": "second"}\n'))
    assert _doc_texts(path, {"d2"}) == {"d2": "second"}
    plain = tmp_path / "corpus.jsonl"
    plain.write_text('{"_id": "d1", "title": "T", "text": "first"}\n')
    assert _doc_texts(plain, {"d1"}) == {"d1": "T — first"}
