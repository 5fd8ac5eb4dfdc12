"""The report in a real browser (headless Chromium, from the distribution's package): the committed smoke
report opened from ``file://`` shows its score table, sorts it, and draws a drill-down whose per-query
differences are those of the committed ``per_query.tsv`` files; a synthetic report shows each model's
top documents with their grades. Screenshots are saved under ``test-artifacts/`` (gitignored).

Skipped when no Chromium binary exists, unless ``$CI`` is set: in CI a missing browser fails."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.report import REPORT_PAGE, build_report, write_report
from benchmarks.report.browser import dump_dom, file_url, find_chromium, missing_browser, screenshot
from benchmarks.rows import suite_rows
from benchmarks.suites import load_suite
from tests.benchmarks.report_helpers import cell_texts, make_fixture, parse_html

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "results" / "smoke"
ARTIFACTS = Path(os.environ.get("SYNRANK_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        action, why = missing_browser(os.environ.get("CI"))
        (pytest.fail if action == "fail" else pytest.skip)(why)
    return binary


@pytest.mark.parametrize(("ci", "action"), [(None, "skip"), ("", "skip"), ("false", "skip"), ("0", "skip"),
                                            ("true", "fail"), ("1", "fail"), ("TRUE", "fail"), ("yes", "fail")])
def test_missing_browser_fails_under_ci_and_skips_elsewhere(ci, action):
    assert missing_browser(ci)[0] == action


def test_find_chromium_honours_the_environment(tmp_path, monkeypatch):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("SYNRANK_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("SYNRANK_CHROMIUM", str(tmp_path / "absent"))
    assert find_chromium() is None


def _per_query(model: str, dataset: str) -> dict[str, float]:
    with open(SMOKE / "cells" / model / dataset / "per_query.tsv", newline="") as fh:
        return {r["query_id"]: float(r["nDCG@10"]) for r in csv.DictReader(fh, delimiter="\t")}


def _assert_not_blank(png: Path) -> None:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert float(np.std(pixels[..., :3])) > 0.05, f"{png} looks blank"


def test_committed_smoke_report_in_browser(chromium, shared_datasets):
    page = SMOKE / REPORT_PAGE
    doc = parse_html(dump_dom(file_url(page), binary=chromium))
    assert doc.find_all("html")[0].attrs.get("data-ready") == "1", "the page's script did not finish"
    rows = [cell_texts(tr) for tr in doc.by_id("board").rows()]
    with open(SMOKE / "leaderboard.csv", newline="") as fh:
        values = {(r["model"], r["dataset"]): float(r["value"]) for r in csv.DictReader(fh)
                  if r["measure"] == "nDCG@10"}
    assert [r[0] for r in rows] == ["bm25", "minilm", "static-base", "static-ws2"]
    for r in rows:
        assert r[3].startswith(f"{values[(r[0], 'trec-dl-2019')]:.4f}")
        assert r[4].startswith(f"{values[(r[0], 'cranfield')]:.4f}")
    # sorting (state in the fragment, as a click leaves it): mean ascending
    doc = parse_html(dump_dom(file_url(page, "sort=mean:asc"), binary=chromium))
    means = [float(cell_texts(tr)[5]) for tr in doc.by_id("board").rows()]
    assert means == sorted(means) and len(means) == 4

    # drill-down: minilm vs bm25 on TREC DL 2019, from the committed per-query scores
    doc = parse_html(dump_dom(file_url(page, "drill=minilm/bm25/trec-dl-2019"), binary=chromium))
    assert doc.by_id("drill-app").attrs.get("data-state") == "ready"
    a, b = _per_query("minilm", "trec-dl-2019"), _per_query("bm25", "trec-dl-2019")
    expected = sorted(((round(round(a[q], 4) - round(b[q], 4), 4), q) for q in a), key=lambda t: (-t[0], t[1]))
    trs = doc.by_id("drill-table").rows()
    assert [tr.attrs["data-qid"] for tr in trs] == [q for _, q in expected]
    assert [float(tr.attrs["data-delta"]) for tr in trs] == pytest.approx([d for d, _ in expected], abs=1e-9)
    queries = {json.loads(ln)["_id"]: json.loads(ln)["text"]
               for ln in (shared_datasets / "trec-dl-2019" / "queries.jsonl").open()}
    top_q = expected[0][1]
    assert queries[top_q] in cell_texts(trs[0])[1]
    summary = " ".join(doc.by_id("drill-summary").text().split())
    wins = sum(d > 0 for d, _ in expected)
    assert f"{len(a)} queries: {wins} better" in summary and "p_holm" in summary

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = screenshot(file_url(page, "only=drill&open=2&drill=minilm/bm25/trec-dl-2019"),
                      ARTIFACTS / "smoke-report-drilldown.png", size=(1280, 1100), binary=chromium)
    _assert_not_blank(shot)
    _assert_not_blank(screenshot(file_url(page), ARTIFACTS / "smoke-report.png", size=(1280, 1100), binary=chromium))


def test_drilldown_shows_top_documents_with_grades(chromium, tmp_path):
    fx = make_fixture(tmp_path)
    suite = load_suite(fx.suite_file)
    models, baselines, labels = suite_rows(suite, fx.results)
    write_report(build_report(suite, fx.results, models, baselines, labels=labels), plots=False)
    page = fx.results / REPORT_PAGE
    doc = parse_html(dump_dom(file_url(page, "drill=better/base/toyds&open=100"), binary=chromium))
    trs = doc.by_id("drill-table").rows()
    assert len(trs) == len(fx.qids)
    first = trs[0]
    q = first.attrs["data-qid"]
    lists = first.find_all("ol")
    assert len(lists) == 3  # top documents of better, of base, and the best judged ones
    for ol, folder in zip(lists[:2], ("better", "base"), strict=True):
        items = ol.find_all("li")
        assert [li.find_all("code")[0].text() for li in items] == fx.runs[(folder, "toyds")][q][:5]
        for li in items:
            doc_id = li.find_all("code")[0].text()
            grade = fx.qrels[q].get(doc_id)
            badge = li.find_all("span")[0].text()
            assert badge == ("n/j" if grade is None else f"g{grade}")
            assert f"Title {doc_id}" in li.text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _assert_not_blank(screenshot(file_url(page, "only=drill&open=1&drill=better/base/toyds"),
                                 ARTIFACTS / "toy-report-drilldown.png", size=(1280, 1000), binary=chromium))
