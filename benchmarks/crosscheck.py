"""Re-score a results folder's rankings with ir_measures and compare every per-query score.

    python -m benchmarks.crosscheck --results results/cpu [--tolerance 1e-9] [--datasets DIR]

Datasets are found by name as everywhere in synrank (``SYNRANK_DATASETS``, ``../shared/datasets``, shipped
copies), or in ``--datasets``.

For each cell that kept its ranking (``cells/<model>/<dataset>/run.trec.gz``), the run file and the
dataset's qrels go to ir_measures (pytrec_eval provider, i.e. trec_eval's C code) with the cell's own
relevance level, and every measure of the cell's ``per_query.tsv`` is compared query by query:

- ``nDCG@k`` -> ``nDCG@k``; ``MAP`` -> ``AP(rel=l)``; ``Recall@k`` -> ``R(rel=l)@k``; ``P@k`` -> ``P(rel=l)@k``;
  ``RPrec`` -> ``Rprec(rel=l)``;
- ``MRR@k`` -> ``RR(rel=l)`` on the run cut at depth k in trec_eval's order (score descending, ties by
  doc id descending). ir_measures' own ``RR@k`` goes through its msmarco provider, which breaks ties by
  doc id ascending; ``trec_eval -M k -m recip_rank`` is what synrank reports.

A judged query the run does not contain counts 0 on both sides. Writes ``crosscheck.md`` and
``crosscheck.json`` into the results folder and prints one line per cell, ``OK`` or ``FAIL``; exits 1 when
any cell fails. Cells without a ranking (committed results keep none) are listed as skipped.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import AP, RR, P, R, Rprec, nDCG

from synrank.data.beir import load_dataset
from synrank.data.trec import read_run, sort_run_items
from synrank.errors import SynrankError
from synrank.evaluation.measures import Measure, parse_measure
from synrank.io import atomic_write_json, atomic_write_text
from synrank.records.evaluation import EvaluationRecord, PerQueryScores

DEFAULT_TOLERANCE = 1e-9


def ir_measure(measure: Measure, rel: int) -> Any:
    """The ir_measures measure that computes ``measure`` at relevance level ``rel`` (MRR: without cutoff;
    the run is cut before scoring, see the module docstring)."""
    level = measure.relevance_level(rel)
    if measure.family == "nDCG":
        return nDCG if measure.cutoff is None else nDCG @ measure.cutoff
    if measure.family == "MAP":
        return AP(rel=level) if measure.cutoff is None else AP(rel=level) @ measure.cutoff
    if measure.family == "Recall":
        return R(rel=level) @ measure.cutoff
    if measure.family == "P":
        return P(rel=level) @ measure.cutoff
    if measure.family == "MRR":
        return RR(rel=level)
    if measure.family == "RPrec":
        return Rprec(rel=level)
    raise ValueError(f"no ir_measures counterpart for {measure.name}")


def rescore(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], names: list[str],
            rel: int) -> dict[str, dict[str, float]]:
    """Per-query scores of ``names`` computed by ir_measures from ``run`` and ``qrels``."""
    out: dict[str, dict[str, float]] = {}
    by_depth: dict[int | None, list[tuple[str, Any]]] = {}
    for name in names:
        m = parse_measure(name)
        by_depth.setdefault(m.run_cutoff, []).append((name, ir_measure(m, rel)))
    for depth, pairs in by_depth.items():
        scored = run if depth is None else {q: dict(sort_run_items(docs)[:depth]) for q, docs in run.items()}
        lookup = {}
        for name, obj in pairs:
            lookup.setdefault(obj, []).append(name)
        for result in ir_measures.pytrec_eval.iter_calc(list(lookup), qrels, scored):
            for name in lookup[result.measure]:
                out.setdefault(result.query_id, {})[name] = float(result.value)
    return out


@functools.lru_cache(maxsize=8)
def _qrels_dataset(name_or_path: str, split: str):
    """A dataset's queries and qrels, read once per run (a suite scores many models on each dataset)."""
    return load_dataset(name_or_path, split=split, corpus=False)


def check_cell(folder: Path, datasets: Path | None, tolerance: float) -> dict[str, Any]:
    """Compare one cell's ``per_query.tsv`` with ir_measures on its ``run.trec.gz``."""
    record = EvaluationRecord.from_disk(folder / EvaluationRecord.FILE)
    name, split = record.dataset.name, record.dataset.split
    row: dict[str, Any] = {"cell": f"{folder.parent.name}/{folder.name}", "dataset": name, "split": split}
    if record.dataset.forums:
        return {**row, "verdict": "skipped", "why": "per-forum cell (CQADupStack): check each forum's run"}
    data = _qrels_dataset(name if datasets is None else str(datasets / name), split)
    rel = record.evaluation.relevance_threshold if record.evaluation else data.info.relevance_threshold
    ours = PerQueryScores.from_disk(folder / PerQueryScores.FILE).rows
    names = sorted({k for values in ours.values() for k in values})
    run = read_run(folder / "run.trec.gz")
    qrels = {q: dict(d) for q, d in data.qrels.items() if q in ours}
    theirs = rescore({q: docs for q, docs in run.items() if q in ours}, qrels, names, rel)
    worst, where = 0.0, ""
    for qid, values in ours.items():
        for m, value in values.items():
            other = theirs.get(qid, {}).get(m, 0.0)  # judged, not retrieved: 0 on both sides
            diff = abs(value - other) if math.isfinite(value) else math.inf
            if diff > worst:
                worst, where = diff, f"{qid} {m}: synrank {value!r}, ir_measures {other!r}"
    tied = sum(1 for docs in run.values() if len(set(docs.values())) < len(docs))
    return {**row, "relevance_level": rel, "queries": len(ours), "queries_with_ties": tied, "measures": names,
            "max_abs_diff": worst, "worst": where, "verdict": "OK" if worst <= tolerance else "FAIL"}


def crosscheck(results: Path, datasets: Path | None = None, tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    rows = []
    for folder in sorted(p.parent for p in (results / "cells").glob("*/*/per_query.tsv")):
        if not (folder / "run.trec.gz").is_file():
            rows.append({"cell": f"{folder.parent.name}/{folder.name}", "verdict": "skipped",
                         "why": "no run.trec.gz (committed results keep no rankings)"})
            continue
        try:
            rows.append(check_cell(folder, datasets, tolerance))
        except (SynrankError, OSError, ValueError, KeyError) as exc:
            rows.append({"cell": f"{folder.parent.name}/{folder.name}", "verdict": "FAIL", "why": str(exc)})
    return rows


def render(rows: list[dict[str, Any]], results: Path, tolerance: float) -> str:
    lines = [f"# ir_measures cross-check: {results}", "",
             f"Every per-query score of each cell re-computed by ir_measures {ir_measures.__version__} "
             f"(pytrec_eval provider) from the cell's `run.trec.gz` and the dataset's qrels; tolerance {tolerance:g}. "
             "`python -m benchmarks.crosscheck --results " + str(results) + "`.", "",
             "| cell | rel | queries | queries with tied scores | measures | max abs diff | verdict |",
             "|---|---:|---:|---:|---|---:|---|"]
    for r in rows:
        if r["verdict"] == "skipped" or "queries" not in r:
            lines.append(f"| {r['cell']} | | | | | | {r['verdict']}: {r.get('why', '')} |")
            continue
        lines.append(f"| {r['cell']} | {r['relevance_level']} | {r['queries']} | {r['queries_with_ties']} | "
                     f"{', '.join(r['measures'])} | {r['max_abs_diff']:.3g} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crosscheck", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="a suite's results folder")
    parser.add_argument("--datasets", type=Path, default=None,
                        help="folder holding the datasets by name (default: synrank's dataset search path)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = crosscheck(args.results, args.datasets, args.tolerance)
    for r in rows:
        detail = (f"max |diff| {r['max_abs_diff']:.3g} over {r['queries']} queries × {len(r['measures'])} measures"
                  if "queries" in r else r.get("why", ""))
        print(f"{r['verdict']:7s} {r['cell']}: {detail}")
    atomic_write_text(args.results / "crosscheck.md", render(rows, args.results, args.tolerance))
    atomic_write_json(args.results / "crosscheck.json", {"tolerance": args.tolerance, "rows": rows,
                                                         "ir_measures": ir_measures.__version__,
                                                         "seconds": round(time.perf_counter() - start, 1)})
    return 1 if any(r["verdict"] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
