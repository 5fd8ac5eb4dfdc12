"""The checked-in expected scores agree with the checked-in results they were written from.

A suite's committed ``results/<suite>`` and ``benchmarks/expected/<suite>.yaml`` must not drift apart:
``python -m benchmarks.check --suite NAME`` on a fresh clone says OK for every expected value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.check import EXPECTED_DIR, REPO_ROOT, check, load_expected
from benchmarks.suites import load_suite

EXPECTED_FILES = sorted(EXPECTED_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=lambda p: p.stem)
def test_committed_results_meet_their_expected_scores(path: Path):
    expected = load_expected(path)
    results = REPO_ROOT / "results" / expected.suite
    lines = check(expected, results)
    assert len(lines) == len(expected.cells) > 0
    bad = [f"{line.status} {line.cell.model}/{line.cell.dataset} {line.cell.measure}" for line in lines
           if line.status != "OK"]
    assert not bad, bad


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=lambda p: p.stem)
def test_expected_scores_cover_every_run_of_the_suite(path: Path):
    """Every row, each of its seed replicates (``<row>@seed<N>``), on every dataset of the suite has an
    expected value of the primary measure: ``check --update`` writes them all, and none is dropped by hand."""
    expected = load_expected(path)
    suite = load_suite(expected.suite)
    runs = {(r.name, d.key) for v in suite.variants for r in v.replicates() for d in suite.datasets}
    covered = {(c.model, c.dataset) for c in expected.cells if c.measure == suite.primary_measure}
    assert runs == covered


def test_a_changed_value_fails():
    """The check above can fail: one expected value moved past its tolerance is reported."""
    path = EXPECTED_DIR / "cpu.yaml"
    expected = load_expected(path)
    first = expected.cells[0]
    tol = expected.tolerance if first.tolerance is None else first.tolerance
    first.value += 2 * tol + 1e-3
    lines = check(expected, REPO_ROOT / "results" / expected.suite)
    assert [line.status for line in lines].count("FAIL") == 1
