"""Leaderboard of a suite from its finished cells: long CSV, wide Markdown, significance vs baselines.

Reads every finished cell (``cells/<model>/<dataset>/cell.json`` + ``per_query.tsv``) of the models
and datasets asked for, and writes

* ``leaderboard.csv`` — long format, one row per (model, dataset, measure): value, n_queries,
  95% t-interval of the mean per-query score, the baseline it is tested against, mean difference,
  p-values of the paired t-test and of the randomization test (each also Holm-adjusted across the
  datasets of that model and measure), and ``p_value`` / ``p_holm`` = the suite's chosen test;
* ``significance.csv`` — the suite's extra ``comparisons`` (model vs baseline pairs), same tests;
* ``costs.csv`` — per model: training steps and wall seconds (trained variants), evaluation wall seconds
  summed over the datasets (each cell's own time, also for cells reused from the cache);
* ``leaderboard.md`` — one wide table per measure (datasets as columns plus a mean column, best value
  of each column in bold, † / ‡ = significantly better / worse than the row's baseline after Holm).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cells import CELL_MARKER, TRAIN_MARKER, read_marker
from benchmarks.suites import SuiteConfig
from synrank.errors import SynrankError
from synrank.evaluation.significance import (
    align_scores,
    holm,
    mean_confidence_interval,
    paired_t_test,
    randomization_test,
)
from synrank.io import atomic_write_text

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("model", "variant", "base", "dataset", "split", "mode", "measure", "value", "n_queries",
               "ci_low", "ci_high", "baseline", "mean_diff", "p_value", "p_holm", "p_ttest", "p_ttest_holm",
               "p_randomization", "p_randomization_holm", "config_hash", "subsampled")
CI_METHOD = "t"  # Student-t 95% interval of the mean per-query score


@dataclass
class Cell:
    model: str
    dataset: str
    marker: dict[str, Any]
    per_query: dict[str, dict[str, float]] = field(repr=False)

    @property
    def aggregate(self) -> dict[str, float]:
        return self.marker["aggregate"]


def read_per_query(path: Path) -> dict[str, dict[str, float]]:
    """``per_query.tsv`` (``query_id`` + one column per measure) as ``{measure: {qid: value}}``."""
    out: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if not header or header[0] != "query_id":
            raise SynrankError(f"{path}:1: expected a 'query_id' header column")
        for m in header[1:]:
            out[m] = {}
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise SynrankError(f"{path}:{lineno}: {len(row)} columns, header has {len(header)}")
            for m, v in zip(header[1:], row[1:], strict=True):
                out[m][row[0]] = float(v)
    return out


def load_cells(results: Path, models: Iterable[str], datasets: Iterable[str]) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for m in models:
        for d in datasets:
            folder = results / "cells" / m / d
            marker = read_marker(folder / CELL_MARKER)
            if marker is None:
                continue
            cells[(m, d)] = Cell(m, d, marker, read_per_query(folder / "per_query.tsv"))
    return cells


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return repr(float(x))


def _compare(cell: Cell, base: Cell, measure: str, permutations: int, seed: int) -> dict[str, float]:
    _, a, b = align_scores(cell.per_query[measure], base.per_query[measure])
    t = paired_t_test(a, b)
    r = randomization_test(a, b, n_permutations=permutations, seed=seed)
    return {"mean_diff": t.mean_difference, "p_ttest": t.p_value, "p_randomization": r.p_value}


def _add_holm(rows: list[dict[str, Any]], group_keys: tuple[str, ...]) -> None:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in group_keys), []).append(row)
    for group in groups.values():
        for test in ("p_ttest", "p_randomization"):
            adj = holm([r.get(test, math.nan) for r in group])
            for r, v in zip(group, adj, strict=True):
                r[f"{test}_holm"] = float(v)


def build_rows(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], models: list[str],
               datasets: list[str], baselines: dict[str, str]) -> list[dict[str, Any]]:
    sig = suite.significance
    rows: list[dict[str, Any]] = []
    for m in models:
        for d in datasets:
            cell = cells.get((m, d))
            if cell is None:
                continue
            base_name = baselines.get(m, suite.baseline)
            base = cells.get((base_name, d)) if base_name != m else None
            if base_name != m and base is None:
                logger.warning("no finished %s cell on %s: %s is not tested there", base_name, d, m)
            for measure in suite.measures:
                if measure not in cell.per_query:
                    raise SynrankError(f"{cell.model}/{d}: per_query.tsv has no {measure!r} column")
                scores = np.array(list(cell.per_query[measure].values()))
                ci = mean_confidence_interval(scores, method=CI_METHOD)
                row: dict[str, Any] = {
                    "model": m, "variant": cell.marker.get("variant", m), "base": cell.marker.get("base") or "",
                    "dataset": d, "split": cell.marker.get("split", ""), "mode": cell.marker.get("mode", ""),
                    "measure": measure, "value": float(cell.aggregate[measure]),
                    "n_queries": int(cell.marker["n_queries"]), "ci_low": ci.low, "ci_high": ci.high,
                    "baseline": base_name if base_name != m else "", "config_hash": cell.marker["config_hash"],
                    "subsampled": bool(cell.marker.get("subsample")),
                    "mean_diff": math.nan, "p_ttest": math.nan, "p_randomization": math.nan,
                }
                if base is not None:
                    row.update(_compare(cell, base, measure, sig.permutations, sig.seed))
                rows.append(row)
    _add_holm(rows, ("model", "measure"))
    key = "p_randomization" if sig.test == "randomization" else "p_ttest"
    for r in rows:
        r["p_value"], r["p_holm"] = r[key], r[f"{key}_holm"]
    return rows


def comparison_rows(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], datasets: list[str],
                    ) -> list[dict[str, Any]]:
    sig = suite.significance
    rows: list[dict[str, Any]] = []
    for comp in suite.comparisons:
        for d in datasets:
            a, b = cells.get((comp.model, d)), cells.get((comp.baseline, d))
            if a is None or b is None:
                continue
            for measure in suite.measures:
                row = {"model": comp.model, "baseline": comp.baseline, "dataset": d, "measure": measure,
                       "value": float(a.aggregate[measure]), "baseline_value": float(b.aggregate[measure]),
                       "n_queries": int(a.marker["n_queries"])}
                row.update(_compare(a, b, measure, sig.permutations, sig.seed))
                rows.append(row)
    _add_holm(rows, ("model", "baseline", "measure"))
    return rows


def _csv(rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    columns = list(columns)
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) if isinstance(r.get(c), float) else r.get(c, "") for c in columns])
    return buf.getvalue()


COST_COLUMNS = ("model", "train_steps", "train_seconds", "eval_seconds", "eval_cells", "total_seconds")


def cost_rows(results: Path, models: list[str], datasets: list[str]) -> list[dict[str, Any]]:
    """What each model cost: training (steps, wall seconds) and evaluation (wall seconds over its cells)."""
    rows = []
    for model in models:
        steps = train_s = None
        marker = read_marker(results / "train" / model / TRAIN_MARKER)
        if marker is not None:
            train_s = (marker.get("timings") or {}).get("train")
            checkpoint = marker.get("checkpoint")
            state = read_marker(results / checkpoint / "trainer_state.json") if checkpoint else None
            steps = state.get("global_step") if state else None
        evals = [read_marker(results / "cells" / model / d / CELL_MARKER) for d in datasets]
        eval_s = [float((m.get("timings") or {}).get("total", 0.0)) for m in evals if m is not None]
        if marker is None and not eval_s:
            continue
        total = (train_s or 0.0) + sum(eval_s)
        rows.append({"model": model, "train_steps": steps, "train_seconds": train_s,
                     "eval_seconds": round(sum(eval_s), 1), "eval_cells": len(eval_s),
                     "total_seconds": round(total, 1)})
    return rows


def cost_markdown(rows: list[dict[str, Any]], n_datasets: int) -> list[str]:
    if not rows:
        return []
    lines = ["## Cost (wall seconds on the machine of the run; see `manifest.json`)", "",
             "| model | training steps | training (s) | evaluation (s) | cells | total (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        steps = "—" if r["train_steps"] is None else str(r["train_steps"])
        train = "—" if r["train_seconds"] is None else f"{r['train_seconds']:.1f}"
        lines.append(f"| {r['model']} | {steps} | {train} | {r['eval_seconds']:.1f} | "
                     f"{r['eval_cells']}/{n_datasets} | {r['total_seconds']:.1f} |")
    return lines + [""]


def markdown(suite: SuiteConfig, rows: list[dict[str, Any]], models: list[str], datasets: list[str],
             measures: list[str], baselines: dict[str, str], comp_rows: list[dict[str, Any]],
             notes: list[str], costs: list[dict[str, Any]] | None = None) -> str:
    alpha = suite.significance.alpha
    test = ("two-sided paired randomization test (sign flips, "
            f"{suite.significance.permutations} permutations, seed {suite.significance.seed})"
            if suite.significance.test == "randomization" else "two-sided paired t-test")
    lines = [f"# Leaderboard: suite `{suite.name}`", ""]
    if suite.description:
        lines += [suite.description.strip(), ""]
    lines += [f"† / ‡: significantly better / worse than the row's baseline (column *vs*), {test}, "
              f"Holm–Bonferroni across the datasets of each row, p_holm < {alpha}. "
              "Bold: best value in the column. *mean*: mean over the datasets (only for rows with all of them). "
              "All p-values, both tests and 95% t-intervals of the mean per-query score are in `leaderboard.csv`.",
              ""]
    by_key = {(r["model"], r["dataset"], r["measure"]): r for r in rows}
    for measure in measures:
        lines += [f"## {measure}", ""]
        header = ["model", "variant", "vs", *datasets, "mean"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(datasets) + 1)) + "|")
        best: dict[str, float] = {}
        means: dict[str, float | None] = {}
        for m in models:
            vals = [by_key[(m, d, measure)]["value"] for d in datasets if (m, d, measure) in by_key]
            means[m] = float(np.mean(vals)) if len(vals) == len(datasets) else None
        for d in [*datasets, "mean"]:
            vals = ([by_key[(m, d, measure)]["value"] for m in models if (m, d, measure) in by_key]
                    if d != "mean" else [v for v in means.values() if v is not None])
            if vals:
                best[d] = max(vals)
        for m in models:
            if not any((m, d, measure) in by_key for d in datasets):
                continue
            first = next(by_key[(m, d, measure)] for d in datasets if (m, d, measure) in by_key)
            cells = []
            for d in datasets:
                r = by_key.get((m, d, measure))
                if r is None:
                    cells.append("—")
                    continue
                text = f"{r['value']:.4f}"
                if abs(r["value"] - best[d]) < 1e-12:
                    text = f"**{text}**"
                p = r.get("p_holm", math.nan)
                if not math.isnan(p) and p < alpha:
                    text += "†" if r["mean_diff"] > 0 else "‡"
                cells.append(text)
            mean = means[m]
            mtext = "—" if mean is None else f"{mean:.4f}"
            if mean is not None and abs(mean - best["mean"]) < 1e-12:
                mtext = f"**{mtext}**"
            vs = baselines.get(m, suite.baseline)
            lines.append("| " + " | ".join([m, first["variant"], "—" if vs == m else vs, *cells, mtext]) + " |")
        lines.append("")
    nq = {}
    for r in rows:
        nq.setdefault(r["dataset"], set()).add((r["n_queries"], r["split"], r["mode"], r["subsampled"]))
    lines += ["## Datasets", "", "| dataset | split | mode | queries | subsampled |", "|---|---|---|---:|---|"]
    for d in datasets:
        for n, split, mode, sub in sorted(nq.get(d, set()), key=str):
            lines.append(f"| {d} | {split} | {mode} | {n} | {'yes' if sub else 'no'} |")
    lines.append("")
    if comp_rows:
        primary = suite.primary_measure
        lines += [f"## Pairwise comparisons ({primary})", "",
                  "| model | baseline | dataset | model | baseline | Δ | p (t) | p (rand.) | p_holm (rand.) |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in comp_rows:
            if r["measure"] != primary:
                continue
            lines.append(f"| {r['model']} | {r['baseline']} | {r['dataset']} | {r['value']:.4f} | "
                         f"{r['baseline_value']:.4f} | {r['mean_diff']:+.4f} | {r['p_ttest']:.4g} | "
                         f"{r['p_randomization']:.4g} | {r['p_randomization_holm']:.4g} |")
        lines.append("")
    lines += cost_markdown(costs or [], len(datasets))
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def write_leaderboard(suite: SuiteConfig, results: Path, models: list[str], baselines: dict[str, str],
                      datasets: list[str] | None = None, notes: list[str] | None = None,
                      plots: bool = True) -> dict[str, Any]:
    """Write leaderboard.csv, significance.csv, leaderboard.md (and plots); return a summary."""
    datasets = datasets or [d.key for d in suite.datasets]
    cells = load_cells(results, models, datasets)
    rows = build_rows(suite, cells, models, datasets, baselines)
    comp = comparison_rows(suite, cells, datasets)
    atomic_write_text(results / "leaderboard.csv", _csv(rows, CSV_COLUMNS))
    if comp:
        atomic_write_text(results / "significance.csv", _csv(comp, (
            "model", "baseline", "dataset", "measure", "value", "baseline_value", "n_queries", "mean_diff",
            "p_ttest", "p_ttest_holm", "p_randomization", "p_randomization_holm")))
    costs = cost_rows(results, models, datasets)
    atomic_write_text(results / "costs.csv", _csv(costs, COST_COLUMNS))
    md = markdown(suite, rows, models, datasets, [suite.primary_measure], baselines, comp, notes or [], costs)
    atomic_write_text(results / "leaderboard.md", md)
    written = ["leaderboard.csv", "costs.csv", "leaderboard.md"] + (["significance.csv"] if comp else [])
    if plots and rows:
        from benchmarks.plots import plot_leaderboard

        written += plot_leaderboard(rows, results / "plots", suite.primary_measure, models, datasets,
                                    title=f"suite {suite.name}")
    missing = [(m, d) for m in models for d in datasets if (m, d) not in cells]
    return {"n_cells": len(cells), "missing": missing, "files": written, "markdown": md}
