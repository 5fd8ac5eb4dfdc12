"""Rebuild a suite's report from its results folder: ``python -m benchmarks.report --suite NAME``.

Reads only the results folder (finished cells, manifest) and the datasets' texts; runs no model.
Writes ``leaderboard.csv``, ``significance.csv``, ``costs.csv``, ``leaderboard.md``, ``plots/`` and
``report/index.html``. ``--screenshots`` also saves PNG screenshots of the page (overview and one
drill-down) taken with headless Chromium into ``report/``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmarks.report import REPORT_PAGE, summary_lines, write_leaderboard
from benchmarks.report.browser import BrowserError, screenshot_report
from benchmarks.rows import subsample_notes, suite_rows
from benchmarks.suites import load_suite, results_dir, suite_option_help
from synrank.cliargs import quiet_noisy_loggers
from synrank.errors import SynrankError, describe_os_error
from synrank.io import folder_lock


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--suite", required=True, help=suite_option_help())
    p.add_argument("--results", type=Path, help="results folder (default: results/<suite>)")
    p.add_argument("--no-plots", action="store_true", help="do not render plots/ (the page then has none)")
    p.add_argument("--no-rankings", action="store_true",
                   help="leave the run files' top documents out of the drill-down: the page a clone of the "
                        "committed results builds (rankings are not committed); use it before committing a report")
    p.add_argument("--screenshots", action="store_true",
                   help="also save report/overview.png and report/drilldown.png (needs chromium)")
    p.add_argument("--drill", metavar="A/B/DATASET",
                   help="the drill-down shown in the screenshot (default: the first pair and dataset)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    quiet_noisy_loggers(args.verbose)
    try:
        suite = load_suite(args.suite)
        results = args.results or results_dir(suite)
        if not (results / "cells").is_dir():
            raise SynrankError(f"{results}: no cells/ folder; run `python -m benchmarks.run --suite {suite.name}` first")
        with folder_lock(results, what="results folder"):
            rows = suite_rows(suite, results)
            board = write_leaderboard(suite, results, rows.names, rows.baselines, notes=subsample_notes(suite),
                                      plots=not args.no_plots, labels=rows.labels, rankings=not args.no_rankings)
        shots = screenshot_report(results / REPORT_PAGE, results / "report", args.drill) if args.screenshots else []
    except (SynrankError, BrowserError) as exc:
        print(f"benchmarks.report: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except OSError as exc:
        print(f"benchmarks.report: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    for line in summary_lines(board["report"]):
        print(line)
    print(f"wrote {len(board['files'])} files; report: {results / REPORT_PAGE} "
          f"({(results / REPORT_PAGE).stat().st_size / 1e6:.2f} MB)")
    for shot in shots:
        print(f"screenshot: {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
