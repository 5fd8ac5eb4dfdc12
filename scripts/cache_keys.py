"""Every cache key the benchmark runner would use, for every shipped suite (issue 17's guard).

    python scripts/cache_keys.py [--output FILE] [SUITE_FILE ...]

Prints, as sorted JSON, per suite (``benchmarks/configs/suites/*.yaml`` unless files are given): each
training variant's training key (seed replicates included), and each (variant, dataset) cell's config
hash as the runner computes it. A trained variant's cells are keyed by the identity the runner takes
from its finished ``train.json`` when there is one with today's training key; without one the cell
cannot be keyed before training, and the entry says so (with the training key). Nothing is trained or
evaluated; datasets and model folders are hashed. A refactor must leave this output unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.cells import _cell_key, finished_training, training_key  # noqa: E402
from benchmarks.run import _model_identity, default_results_dir  # noqa: E402
from benchmarks.suites import SUITES_DIR, SuiteConfig, load_suite  # noqa: E402
from synrank.errors import SynrankError  # noqa: E402


def suite_keys(suite: SuiteConfig, results: Path) -> dict[str, Any]:
    training: dict[str, str] = {}
    cells: dict[str, str] = {}
    for row in suite.variants:
        for v in row.replicates():
            if v.kind == "train":
                try:
                    training[v.name] = training_key(suite, v)[2]
                except SynrankError as exc:
                    training[v.name] = f"error: {exc}"
                    continue
                identity = finished_training(suite, v, results)
                if identity is None:
                    for ds in suite.datasets:
                        cells[f"{v.name}/{ds.key}"] = f"needs training (train key {training[v.name]})"
                    continue
            else:
                try:
                    identity = _model_identity(suite, v)[1]
                except SynrankError as exc:
                    for ds in suite.datasets:
                        cells[f"{v.name}/{ds.key}"] = f"error: {exc}"
                    continue
            for ds in suite.datasets:
                try:
                    cells[f"{v.name}/{ds.key}"] = _cell_key(suite, v, ds, results, identity)[2]
                except SynrankError as exc:
                    cells[f"{v.name}/{ds.key}"] = f"error: {exc}"
    return {"training_keys": training, "cells": cells}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("suites", nargs="*", type=Path, help="suite files (default: every shipped suite)")
    p.add_argument("--output", type=Path, help="write the JSON here instead of printing it")
    args = p.parse_args(argv)
    files = args.suites or sorted(SUITES_DIR.glob("*.yaml"))
    out = {}
    for path in files:
        suite = load_suite(path)
        out[suite.name] = suite_keys(suite, default_results_dir(suite))
    text = json.dumps(out, indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
