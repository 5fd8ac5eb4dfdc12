"""Regression check: ``python -m benchmarks.check --suite NAME``.

Compares every expected cell in ``benchmarks/expected/<suite>.yaml`` with the finished cells under
``results/<suite>/`` and prints ``OK`` / ``FAIL`` / ``MISSING`` per (model, dataset, measure). The exit
status is 1 when anything failed or is missing, 0 otherwise.

``--update`` rewrites the expected file from the current results (every variant and each of its seed
replicates ``<variant>@seed<N>``, on every dataset of the suite; the suite's primary measure plus
``--measures``), with ``--tolerance`` as the default tolerance; the header comment explains where the
numbers came from.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.records import CELL_MARKER, MANIFEST_FILE, CellMarker, SuiteManifest, read_or_warn
from benchmarks.suites import load_suite
from synrank.cliargs import HelpFormatter, add_list_option
from synrank.config import from_dict, load_config_file
from synrank.errors import ConfigError, SynrankError
from synrank.io import atomic_write_text
from synrank.records import METRICS_FILE, EvaluationRecord

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ExpectedCell:
    model: str
    dataset: str
    value: float
    measure: str = "nDCG@10"
    tolerance: float | None = None

    def validate(self) -> None:
        if self.tolerance is not None and self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")


@dataclass
class Expected:
    suite: str
    cells: list[ExpectedCell]
    tolerance: float = 1e-4
    notes: str = ""
    produced_by: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")


@dataclass
class CheckLine:
    status: str  # OK | FAIL | MISSING
    cell: ExpectedCell
    actual: float | None
    tolerance: float

    def format(self) -> str:
        c = self.cell
        got = "—" if self.actual is None else f"{self.actual:.6f}"
        diff = "" if self.actual is None else f"  diff {self.actual - c.value:+.2e}"
        return (f"{self.status:<7} {c.model:<28} {c.dataset:<16} {c.measure:<10} {got} "
                f"(expected {c.value:.6f} ± {self.tolerance:g}){diff}")


def expected_path(suite: str) -> Path:
    return EXPECTED_DIR / f"{suite}.yaml"


def load_expected(path: Path) -> Expected:
    return from_dict(Expected, load_config_file(path), source=path)


def cell_value(folder: Path, measure: str) -> float | None:
    """A finished cell's aggregate value: from its completion marker, else from its metrics.json
    (committed results keep metrics.json but not the markers, so that a fresh clone reruns)."""
    found = (read_or_warn(CellMarker, folder / CELL_MARKER, "ignored")
             or read_or_warn(EvaluationRecord, folder / METRICS_FILE, "ignored"))
    value = found.aggregate.get(measure) if found is not None else None
    return None if value is None else float(value)


def check(expected: Expected, results: Path) -> list[CheckLine]:
    lines = []
    for c in expected.cells:
        tol = expected.tolerance if c.tolerance is None else c.tolerance
        actual = cell_value(results / "cells" / c.model / c.dataset, c.measure)
        if actual is None:
            lines.append(CheckLine("MISSING", c, None, tol))
            continue
        ok = math.isfinite(actual) and abs(actual - c.value) <= tol + 1e-12
        lines.append(CheckLine("OK" if ok else "FAIL", c, float(actual), tol))
    return lines


def update_expected(suite_name: str, results: Path, path: Path, tolerance: float | None, measures: list[str],
                    notes: str) -> int:
    """Rewrite ``path`` from ``results``. What a person wrote into an existing file is kept: its notes,
    its default tolerance, its measures and every per-cell tolerance (unless given again here)."""
    import yaml

    suite = load_suite(suite_name)
    previous = load_expected(path) if path.exists() else None
    kept_tol: dict[tuple[str, str, str], float] = {}
    if previous is not None:
        measures = [*measures, *(c.measure for c in previous.cells)]
        notes = notes or previous.notes
        tolerance = previous.tolerance if tolerance is None else tolerance
        kept_tol = {(c.model, c.dataset, c.measure): c.tolerance for c in previous.cells
                    if c.tolerance is not None}
    tolerance = 1e-4 if tolerance is None else tolerance
    measures = list(dict.fromkeys([suite.primary_measure, *measures]))
    cells, missing = [], []
    for v in (r for variant in suite.variants for r in variant.replicates()):  # seed replicates too
        for d in suite.datasets:
            folder = results / "cells" / v.name / d.key
            values = {m: cell_value(folder, m) for m in measures}
            if any(x is None for x in values.values()):
                missing.append(f"{v.name}/{d.key}")
                continue
            for m in measures:
                cell: dict[str, Any] = {"model": v.name, "dataset": d.key, "measure": m,
                                        "value": round(values[m], 6)}
                if (v.name, d.key, m) in kept_tol:
                    cell["tolerance"] = kept_tol[(v.name, d.key, m)]
                cells.append(cell)
    if missing:
        raise ConfigError(f"cannot write expected scores: unfinished cells {missing}", path,
                          hint=f"run `python -m benchmarks.run --suite {suite_name}` first")
    manifest = read_or_warn(SuiteManifest, results / MANIFEST_FILE, "its commit is not recorded")
    body = {"suite": suite.name, "tolerance": tolerance, "notes": notes.strip(),
            "produced_by": {"command": f"python -m benchmarks.check --suite {suite_name} --update",
                            "results": str(results.relative_to(REPO_ROOT) if results.is_relative_to(REPO_ROOT)
                                           else results),
                            "git_commit": str(manifest.git_commit if manifest else None),
                            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "cells": cells}
    header = (f"# Expected scores of suite '{suite.name}' (regression check: python -m benchmarks.check "
              f"--suite {suite.name}).\n# Generated from a real run by --update; edit tolerances by hand, "
              "with a reason in 'notes'.\n")
    atomic_write_text(path, header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100))
    print(f"wrote {path}: {len(cells)} expected values")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.check", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--suite", required=True, help="suite name (expected file benchmarks/expected/<suite>.yaml)")
    p.add_argument("--results", type=Path, help="results folder (default: results/<suite>)")
    p.add_argument("--expected", type=Path, help="expected-scores file (default: benchmarks/expected/<suite>.yaml)")
    p.add_argument("--update", action="store_true", help="rewrite the expected file from the current results")
    p.add_argument("--tolerance", type=float, default=None,
                   help="default tolerance written by --update (default: the existing file's, else 1e-4)")
    add_list_option(p, "--measures", default=[], metavar="MEASURE",
                    help="extra measures written by --update (the existing file's measures are kept)")
    p.add_argument("--notes", default="",
                   help="notes written by --update (default: the existing file's notes)")
    args = p.parse_args(argv)
    name = Path(args.suite).stem
    results = args.results or REPO_ROOT / "results" / name
    path = args.expected or expected_path(name)
    try:
        if args.update:
            return update_expected(args.suite, results, path, args.tolerance, args.measures, args.notes)
        if not path.exists():
            raise ConfigError("no expected scores for this suite", path,
                              hint=f"run the suite, then `python -m benchmarks.check --suite {name} --update`")
        expected = load_expected(path)
        lines = check(expected, results)
    except SynrankError as exc:
        print(f"benchmarks.check: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in lines:
        print(line.format())
    bad = [ln for ln in lines if ln.status != "OK"]
    print(f"{len(lines) - len(bad)}/{len(lines)} OK" + (f", {len(bad)} FAIL/MISSING" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
