"""The leaderboard's numbers, from a suite's finished cells: scores, intervals, significance, costs.

Reads every finished cell (``cells/<model>/<dataset>/cell.json`` + ``per_query.tsv``) of the rows and
datasets asked for and computes, per (row, dataset, measure), the value, the 95% t-interval of the mean
per-query score, and the paired t-test and randomization test against the row's baseline (each also
Holm-adjusted across the datasets of that row and measure); the same tests for the suite's extra
``comparisons``; and what each model cost (training steps and seconds, evaluation seconds).

Rendering (``leaderboard.csv``, ``significance.csv``, ``costs.csv``, ``leaderboard.md``, the HTML report
and the plots) lives in :mod:`benchmarks.report`, which builds one report object from these rows.

Two kinds of folders besides a freshly run one are read:

* **committed results without completion markers** (``results/smoke`` leaves ``cell.json`` out so that
  a fresh clone reruns the suite): a cell is then its ``metrics.json`` + ``per_query.tsv``, with the
  config hash and timings the suite's ``manifest.json`` recorded for it (same dataset checksum and
  query count, else the cell is ignored);
* **seed replicates**: the cells of a row ``R`` are ``cells/R/`` and every ``cells/R@seed<N>/``. With
  more than one, the row's value is the mean over replicates, ``sd`` their sample standard deviation
  (ddof 1), and the tests and intervals use the per-query scores averaged over replicates (every
  replicate must hold the same queries).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
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

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("model", "variant", "base", "dataset", "split", "mode", "measure", "value", "n_queries",
               "ci_low", "ci_high", "baseline", "mean_diff", "p_value", "p_holm", "p_ttest", "p_ttest_holm",
               "p_randomization", "p_randomization_holm", "config_hash", "subsampled")
#: Appended to ``CSV_COLUMNS`` when any row aggregates seed replicates.
SEED_COLUMNS = ("n_seeds", "sd")
SIGNIFICANCE_COLUMNS = ("model", "baseline", "dataset", "measure", "value", "baseline_value", "n_queries",
                        "mean_diff", "p_ttest", "p_ttest_holm", "p_randomization", "p_randomization_holm")
COST_COLUMNS = ("model", "train_steps", "train_seconds", "eval_seconds", "eval_cells", "total_seconds")
CI_METHOD = "t"  # Student-t 95% interval of the mean per-query score
#: A cell folder holding one seed replicate of leaderboard row ``row``.
SEED_FOLDER_RE = re.compile(r"^(?P<row>.+)@seed(?P<seed>[0-9]+)$")


@dataclass
class Cell:
    """One leaderboard cell (row x dataset): one cell folder, or the mean of several seed replicates."""

    model: str
    dataset: str
    marker: dict[str, Any]  # the first replicate's completion marker
    per_query: dict[str, dict[str, float]] = field(repr=False)  # mean over replicates per query
    replicates: list[str] = field(default_factory=list)  # cell folder names
    replicate_markers: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def n_seeds(self) -> int:
        return max(1, len(self.replicates))

    @property
    def aggregate(self) -> dict[str, float]:
        if len(self.replicate_markers) <= 1:
            return self.marker["aggregate"]
        aggs = [mk["aggregate"] for mk in self.replicate_markers]
        return {m: float(np.mean([a[m] for a in aggs])) for m in aggs[0] if all(m in a for a in aggs)}

    @property
    def config_hash(self) -> str:
        """The cell's config hash; replicates' hashes joined by ``;``."""
        if len(self.replicate_markers) <= 1:
            return self.marker["config_hash"]
        return ";".join(str(mk["config_hash"]) for mk in self.replicate_markers)

    def seed_values(self, measure: str) -> list[float]:
        """Each replicate's value (one per seed; empty for a cell without replicates)."""
        if len(self.replicate_markers) <= 1:
            return []
        return [float(mk["aggregate"][measure]) for mk in self.replicate_markers]


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


def replicate_folders(results: Path, models: Iterable[str]) -> dict[str, list[str]]:
    """Per row, its cell folder names: ``<row>`` (when present) then ``<row>@seed<N>`` by seed."""
    seeded: dict[str, list[tuple[int, str]]] = {}
    cells_dir = results / "cells"
    if cells_dir.is_dir():
        for p in cells_dir.iterdir():
            match = SEED_FOLDER_RE.match(p.name)
            if match and p.is_dir():
                seeded.setdefault(match["row"], []).append((int(match["seed"]), p.name))
    out = {}
    for m in models:
        names = [m] if (cells_dir / m).is_dir() or m not in seeded else []
        out[m] = names + [name for _, name in sorted(seeded.get(m, []))]
    return out


def _manifest_cells(results: Path) -> dict[tuple[str, str], dict[str, Any]]:
    manifest = read_marker(results / "manifest.json") or {}
    return {(c["model"], c["dataset"]): c for c in manifest.get("cells", []) if "model" in c and "dataset" in c}


def committed_marker(folder: Path, entry: dict[str, Any] | None, variant: str, base: str) -> dict[str, Any] | None:
    """A completion marker rebuilt from what committed results keep: ``metrics.json`` and the manifest's
    record of the cell (``entry``); None when either is missing or they do not describe the same run."""
    metrics = read_marker(folder / "metrics.json")
    if metrics is None or entry is None or not (folder / "per_query.tsv").exists():
        return None
    dataset = metrics.get("dataset") or {}
    config = metrics.get("config") or {}
    if dataset.get("sha256") != entry.get("dataset_sha256") or metrics.get("n_queries") != entry.get("n_queries"):
        logger.warning("%s: metrics.json and manifest.json describe different runs; cell ignored", folder)
        return None
    return {"aggregate": metrics["aggregate"], "n_queries": metrics["n_queries"], "variant": variant, "base": base,
            "split": dataset.get("split") or config.get("split", ""),
            "mode": metrics.get("mode") or config.get("mode", ""),
            "config_hash": entry["config_hash"], "timings": entry.get("timings") or {"total": entry.get("seconds")},
            "subsample": True if entry.get("subsampled") else None, "from": "metrics.json + manifest.json"}


def load_cells(results: Path, models: Iterable[str], datasets: Iterable[str],
               labels: dict[str, tuple[str, str]] | None = None) -> dict[tuple[str, str], Cell]:
    """Finished cells by (row, dataset). ``labels`` gives a row's (variant, base) for cells read without
    a marker (default: the row name and no base)."""
    models, datasets, labels = list(models), list(datasets), labels or {}
    folders = replicate_folders(results, models)
    manifest: dict[tuple[str, str], dict[str, Any]] | None = None
    cells: dict[tuple[str, str], Cell] = {}
    for m in models:
        for d in datasets:
            markers, per_query, names = [], [], []
            for name in folders[m]:
                folder = results / "cells" / name / d
                marker = read_marker(folder / CELL_MARKER)
                if marker is None and (folder / "metrics.json").exists():
                    manifest = _manifest_cells(results) if manifest is None else manifest
                    variant, base = labels.get(m, (m, ""))
                    marker = committed_marker(folder, manifest.get((name, d)), variant, base)
                if marker is None:
                    continue
                markers.append(marker)
                per_query.append(read_per_query(folder / "per_query.tsv"))
                names.append(name)
            if markers:
                cells[(m, d)] = Cell(m, d, markers[0], _mean_per_query(per_query, names, d), names, markers)
    return cells


def _mean_per_query(tables: list[dict[str, dict[str, float]]], names: list[str], dataset: str,
                    ) -> dict[str, dict[str, float]]:
    if len(tables) == 1:
        return tables[0]
    out: dict[str, dict[str, float]] = {}
    for measure in set.intersection(*(set(t) for t in tables)):
        ids = list(tables[0][measure])
        for t, name in zip(tables[1:], names[1:], strict=True):
            if set(t[measure]) != set(ids):
                raise SynrankError(f"cells/{name}/{dataset}/per_query.tsv: other queries than "
                                   f"cells/{names[0]}/{dataset}/per_query.tsv; seed replicates must share them")
        out[measure] = {q: float(np.mean([t[measure][q] for t in tables])) for q in ids}
    return out


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
                seeds = cell.seed_values(measure)
                row: dict[str, Any] = {
                    "model": m, "variant": cell.marker.get("variant", m), "base": cell.marker.get("base") or "",
                    "dataset": d, "split": cell.marker.get("split", ""), "mode": cell.marker.get("mode", ""),
                    "measure": measure, "value": float(cell.aggregate[measure]),
                    "n_queries": int(cell.marker["n_queries"]), "ci_low": ci.low, "ci_high": ci.high,
                    "baseline": base_name if base_name != m else "",
                    "config_hash": cell.config_hash,
                    "subsampled": bool(cell.marker.get("subsample")),
                    "mean_diff": math.nan, "p_ttest": math.nan, "p_randomization": math.nan,
                    "n_seeds": cell.n_seeds, "sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else math.nan,
                    "seed_values": seeds, "replicates": list(cell.replicates),
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


def fmt_float(x: float | None) -> str:
    """A float as the CSV files write it: full precision (``repr``), empty for None / NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return repr(float(x))


def to_csv(rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    columns = list(columns)
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt_float(r.get(c)) if isinstance(r.get(c), float) else r.get(c, "") for c in columns])
    return buf.getvalue()


def cost_rows(results: Path, models: list[str], datasets: list[str]) -> list[dict[str, Any]]:
    """What each model (cell folder) cost: training (steps, wall seconds) and evaluation (wall seconds
    over its cells). Committed results without markers fall back on what ``manifest.json`` recorded."""
    manifest = read_marker(results / "manifest.json") or {}
    trained = {t["model"]: t for t in manifest.get("training", []) if "model" in t}
    recorded = {(c["model"], c["dataset"]): c for c in manifest.get("cells", []) if "model" in c}
    rows = []
    for model in models:
        steps = train_s = None
        marker = read_marker(results / "train" / model / TRAIN_MARKER)
        checkpoint = None
        has_training = marker is not None or model in trained
        if marker is not None:
            train_s = (marker.get("timings") or {}).get("train")
            checkpoint = marker.get("checkpoint")
        elif model in trained:
            train_s = trained[model].get("seconds")
            checkpoint = f"train/{model}/model"
        if checkpoint:
            state = read_marker(results / checkpoint / "trainer_state.json")
            steps = state.get("global_step") if state else None
        eval_s = []
        for d in datasets:
            cm = read_marker(results / "cells" / model / d / CELL_MARKER)
            if cm is None and (results / "cells" / model / d / "metrics.json").exists():
                cm = recorded.get((model, d))
            if cm is not None:
                eval_s.append(float((cm.get("timings") or {}).get("total", 0.0)))
        if not has_training and not eval_s:
            continue
        total = (train_s or 0.0) + sum(eval_s)
        rows.append({"model": model, "train_steps": steps, "train_seconds": train_s,
                     "eval_seconds": round(sum(eval_s), 1), "eval_cells": len(eval_s),
                     "total_seconds": round(total, 1)})
    return rows


def __getattr__(name: str) -> Any:
    """``write_leaderboard`` moved to :mod:`benchmarks.report` (which imports this module, hence the
    lazy import); it stays importable from here for existing callers."""
    if name == "write_leaderboard":
        from benchmarks.report import write_leaderboard

        return write_leaderboard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
