"""A suite's report: one object built from its results folder, rendered as every file people open.

:func:`build_report` reads ``results/<suite>/`` (finished cells, ``manifest.json``) into a
:class:`Report`; :func:`write_report` renders it as

* ``leaderboard.csv``, ``significance.csv``, ``claims.csv``, ``costs.csv``, ``leaderboard.md`` (:mod:`.text`);
* ``plots/<dataset>.{png,svg}`` and ``plots/overview.{png,svg}`` (:mod:`benchmarks.plots`);
* ``report/index.html`` (:mod:`.html`): one self-contained page (inline CSS, JS and images; no network),
  with the sortable score table, plots, the claims, pairwise comparisons, a per-query drill-down, costs and
  provenance.

All of them print the same rows, so they cannot disagree. ``python -m benchmarks.report --suite NAME``
rebuilds them from a results folder without running any model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.plots import plot_leaderboard
from benchmarks.report.html import render_html
from benchmarks.report.model import Entry, Pair, Report, TableRow, build_report
from benchmarks.report.text import costs_csv, leaderboard_csv, markdown, report_claims_csv, significance_csv
from benchmarks.suites import SuiteConfig
from synrank.io import atomic_write_text

__all__ = ["Entry", "Pair", "Report", "TableRow", "build_report", "write_report", "write_leaderboard",
           "summary_lines", "REPORT_PAGE"]

#: The HTML page, relative to the results folder.
REPORT_PAGE = "report/index.html"


def write_report(report: Report, *, plots: bool = True, html: bool = True) -> list[str]:
    """Write every rendering of ``report`` into its results folder; return the paths written (relative)."""
    results = report.results
    files = {"leaderboard.csv": leaderboard_csv(report), "costs.csv": costs_csv(report),
             "leaderboard.md": markdown(report)}
    if report.comparisons:
        files["significance.csv"] = significance_csv(report)
    if report.claims:
        files["claims.csv"] = report_claims_csv(report)
    for name, text in files.items():
        atomic_write_text(results / name, text)
    written = list(files)
    images: dict[str, bytes] = {}
    if plots and report.rows:
        images = plot_leaderboard(report.rows, results / "plots", report.measure, report.models, report.datasets,
                                  alpha=report.alpha, test=report.test_short, title=f"suite {report.suite.name}")
        written += list(images)
    if html:
        atomic_write_text(results / REPORT_PAGE, render_html(report, images))
        written.append(REPORT_PAGE)
    return written


def summary_lines(report: Report, top: int = 5) -> list[str]:
    """A few lines for a terminal: the best rows on the primary measure and what is missing."""
    ranked = report.ranking()
    lines = [f"top {min(top, len(ranked))} of {len(ranked)} rows by mean {report.measure} over "
             f"{len(report.datasets)} dataset(s):"] if ranked else []
    width = max((len(m) for m, _ in ranked[:top]), default=0)
    lines += [f"  {i}. {m:<{width}}  {v:.4f}" for i, (m, v) in enumerate(ranked[:top], start=1)]
    missing = report.missing
    if missing:
        lines.append(f"{len(missing)} cell(s) not finished: "
                     + ", ".join(f"{m}/{d}" for m, d in missing[:6]) + (" ..." if len(missing) > 6 else ""))
    return lines


def write_leaderboard(suite: SuiteConfig, results: Path, models: list[str], baselines: dict[str, str],
                      datasets: list[str] | None = None, notes: list[str] | None = None, plots: bool = True,
                      html: bool = True, labels: dict[str, tuple[str, str]] | None = None,
                      rankings: bool = True) -> dict[str, Any]:
    """Build the report of ``results`` and write all its files; return a summary. ``rankings=False``
    leaves the rankings out of the page, as a clone of committed results builds it."""
    report = build_report(suite, results, models, baselines, datasets, notes, labels, rankings=rankings)
    written = write_report(report, plots=plots, html=html)
    return {"n_cells": len(report.cells), "missing": report.missing, "files": written,
            "markdown": markdown(report), "report": report,
            "page": results / REPORT_PAGE if html else None}
