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

from benchmarks.keys import TrainingSpecs, cell_key, dataset_identity, model_identity  # noqa: E402
from benchmarks.suites import SUITES_DIR, SuiteConfig, load_suite, results_dir  # noqa: E402
from benchmarks.training_runs import finished_training  # noqa: E402
from synrank.errors import SynrankError  # noqa: E402


def suite_keys(suite: SuiteConfig, results: Path) -> dict[str, Any]:
    training: dict[str, str] = {}
    cells: dict[str, str] = {}
    specs = TrainingSpecs(suite)
    idents: dict[str, dict[str, Any] | SynrankError] = {}
    for ds in suite.datasets:
        try:
            idents[ds.key] = dataset_identity(ds)
        except SynrankError as exc:
            idents[ds.key] = exc
    for row in suite.variants:
        for v in row.replicates():
            if v.kind == "train":
                try:
                    spec = specs(v)
                except SynrankError as exc:
                    training[v.name] = f"error: {exc}"
                    continue
                training[v.name] = spec.key
                identity = finished_training(spec, results)
                if identity is None:
                    for ds in suite.datasets:
                        cells[f"{v.name}/{ds.key}"] = f"needs training (train key {spec.key})"
                    continue
            else:
                try:
                    identity = model_identity(suite, v)[1]
                except SynrankError as exc:
                    for ds in suite.datasets:
                        cells[f"{v.name}/{ds.key}"] = f"error: {exc}"
                    continue
            for ds in suite.datasets:
                ident = idents[ds.key]
                try:
                    if isinstance(ident, SynrankError):
                        raise ident
                    cells[f"{v.name}/{ds.key}"] = cell_key(suite, v, ds, ident, results, identity).hash
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
        out[suite.name] = suite_keys(suite, results_dir(suite))
    text = json.dumps(out, indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
