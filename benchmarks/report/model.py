"""The report object: one build of a suite's results, rendered by every writer (CSV, Markdown, HTML, plots).

:func:`build_report` reads a results folder (finished cells, ``manifest.json``) and computes the rows
once (:mod:`benchmarks.leaderboard`); :meth:`Report.score_table` turns them into the wide table whose
cells (value, ± sd over seeds, bold best, † / ‡) and per-row encoding (backend-precision · evaluation
length, :meth:`Report.encoding_label`) the Markdown and HTML renderers both print, so the files cannot
disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.claims import ClaimResult, judge_claims
from benchmarks.leaderboard import (
    Cell,
    build_rows,
    comparison_rows,
    cost_rows,
    load_cells,
    read_manifest,
    replicate_folders,
    seed_comparison_rows,
)
from benchmarks.records import SuiteManifest
from benchmarks.rows import row_baselines
from benchmarks.suites import SuiteConfig


@dataclass(frozen=True)
class Entry:
    """One number of the wide table, with everything its renderers show."""

    value: float
    best: bool = False
    mark: str = ""  # "†" / "‡": significantly better / worse than the row's baseline (p_holm < alpha)
    sd: float | None = None  # sample sd over seed replicates (None without replicates)
    seed_values: tuple[float, ...] = ()
    p_holm: float | None = None
    mean_diff: float | None = None
    ci: tuple[float, float] | None = None

    @property
    def number(self) -> str:
        return f"{self.value:.4f}"

    @property
    def spread(self) -> str:
        return "" if self.sd is None else f" ± {self.sd:.4f}"


@dataclass(frozen=True)
class TableRow:
    model: str
    variant: str
    vs: str  # the baseline's name, "—" for a row that is its own reference
    entries: tuple[Entry | None, ...]  # one per dataset, None when the cell is missing
    mean: Entry | None  # over the datasets; None unless the row has all of them
    encoding: str = ""  # how the row's cells encoded (:meth:`Report.encoding_label`)


@dataclass(frozen=True)
class Pair:
    """Two rows compared query by query (the drill-down offers these)."""

    model: str
    baseline: str
    kind: str  # "comparison" (the suite's list) or "baseline" (a row against its own baseline)

    @property
    def key(self) -> str:
        return f"{self.model}/{self.baseline}"


@dataclass
class Report:
    suite: SuiteConfig
    results: Path
    models: list[str]
    datasets: list[str]
    baselines: dict[str, str]
    rows: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    costs: list[dict[str, Any]]
    cells: dict[tuple[str, str], Cell] = field(repr=False)
    #: the comparisons replicate by replicate (rows with seed replicates only)
    seed_comparisons: list[dict[str, Any]] = field(default_factory=list)
    #: the suite's claims judged by the pre-registered rule (:mod:`benchmarks.claims`)
    claims: list[ClaimResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: SuiteManifest | None = field(default=None, repr=False)
    #: read each cell's ``run.trec.gz`` for the drill-down's top documents; False builds the page a clone
    #: of committed results sees (rankings are not committed), whatever this folder holds
    rankings: bool = True
    _by_key: dict[tuple[str, str, str], dict[str, Any]] | None = field(default=None, init=False, repr=False)

    # ---------------------------------------------------------------------------------- basics
    @property
    def measure(self) -> str:
        return self.suite.primary_measure

    @property
    def alpha(self) -> float:
        return self.suite.significance.alpha

    @property
    def has_seeds(self) -> bool:
        return any(r.get("n_seeds", 1) > 1 for r in self.rows)

    def seed_counts(self) -> dict[str, int]:
        """Rows with seed replicates and how many (the most over the row's datasets)."""
        out: dict[str, int] = {}
        for r in self.rows:
            if r.get("n_seeds", 1) > 1:
                out[r["model"]] = max(out.get(r["model"], 0), r["n_seeds"])
        return out

    def encoding_label(self, model: str) -> str:
        """How the cells of row ``model`` encoded, e.g. ``openvino-bf16 · 256`` (:class:`Encoding`); when
        its datasets (or a cell's seed replicates) differ, every variant with where it applies."""
        by_dataset: dict[str, str] = {}
        for d in self.datasets:
            cell = self.cells.get((model, d))
            if cell is not None:
                labels = list(dict.fromkeys(c.encoding.label for c in cell.replicate_cells or [cell.first]))
                by_dataset[d] = labels[0] if len(labels) == 1 else " + ".join(labels) + " (by seed)"
        distinct = list(dict.fromkeys(by_dataset.values()))
        if len(distinct) <= 1:
            return distinct[0] if distinct else "—"
        return "varies: " + "; ".join(
            f"{label} ({', '.join(d for d, x in by_dataset.items() if x == label)})" for label in distinct)

    @property
    def test_description(self) -> str:
        sig = self.suite.significance
        if sig.test == "randomization":
            return (f"two-sided paired randomization test (sign flips, {sig.permutations} permutations, "
                    f"seed {sig.seed})")
        return "two-sided paired t-test"

    @property
    def test_short(self) -> str:
        return "paired randomization test" if self.suite.significance.test == "randomization" else "paired t-test"

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [(m, d) for m in self.models for d in self.datasets if (m, d) not in self.cells]

    def vs(self, model: str) -> str | None:
        """The row ``model`` is tested against, None for a reference row."""
        base = self.baselines[model]
        return None if base == model else base

    def row(self, model: str, dataset: str, measure: str | None = None) -> dict[str, Any] | None:
        measure = measure or self.measure
        return self._index().get((model, dataset, measure))

    def _index(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        if self._by_key is None:
            self._by_key = {(r["model"], r["dataset"], r["measure"]): r for r in self.rows}
        return self._by_key

    def mark(self, p_holm: float | None, mean_diff: float | None) -> str:
        if p_holm is None or mean_diff is None or math.isnan(p_holm) or p_holm >= self.alpha:
            return ""
        return "†" if mean_diff > 0 else "‡"

    # ---------------------------------------------------------------------------------- tables
    def score_table(self, measure: str | None = None) -> list[TableRow]:
        """The wide table of ``measure``: one row per model with a finished cell, datasets as columns
        plus the mean over datasets (only for rows with all of them); best value per column flagged."""
        measure = measure or self.measure
        by_key = self._index()
        means: dict[str, Entry | None] = {m: self._mean_entry(m, measure) for m in self.models}
        best: dict[str, float] = {}
        for d in self.datasets:
            vals = [by_key[(m, d, measure)]["value"] for m in self.models if (m, d, measure) in by_key]
            if vals:
                best[d] = max(vals)
        mean_vals = [e.value for e in means.values() if e is not None]
        if mean_vals:
            best["mean"] = max(mean_vals)
        out = []
        for m in self.models:
            if not any((m, d, measure) in by_key for d in self.datasets):
                continue
            first = next(by_key[(m, d, measure)] for d in self.datasets if (m, d, measure) in by_key)
            entries = []
            for d in self.datasets:
                r = by_key.get((m, d, measure))
                if r is None:
                    entries.append(None)
                    continue
                sd = r.get("sd", math.nan)
                entries.append(Entry(
                    value=r["value"], best=abs(r["value"] - best[d]) < 1e-12,
                    mark=self.mark(r.get("p_holm", math.nan), r.get("mean_diff")),
                    sd=None if sd is None or math.isnan(sd) else sd, seed_values=tuple(r.get("seed_values") or ()),
                    p_holm=r.get("p_holm"), mean_diff=r.get("mean_diff"), ci=(r["ci_low"], r["ci_high"])))
            mean = means[m]
            if mean is not None and abs(mean.value - best["mean"]) < 1e-12:
                mean = Entry(mean.value, True, "", mean.sd, mean.seed_values)
            out.append(TableRow(m, first["variant"], self.vs(m) or "—", tuple(entries), mean, self.encoding_label(m)))
        return out

    def _mean_entry(self, model: str, measure: str) -> Entry | None:
        by_key = self._index()
        rows = [by_key.get((model, d, measure)) for d in self.datasets]
        if any(r is None for r in rows) or not rows:
            return None
        value = float(np.mean([r["value"] for r in rows]))
        # sd over seeds of the per-seed mean, when every dataset holds the same replicates
        reps = {tuple(r.get("replicates") or ()) for r in rows}
        if len(reps) == 1 and len(next(iter(reps))) > 1:
            per_seed = np.mean([r["seed_values"] for r in rows], axis=0)
            return Entry(value, sd=float(np.std(per_seed, ddof=1)), seed_values=tuple(float(x) for x in per_seed))
        return Entry(value)

    def dataset_rows(self) -> list[tuple[str, str, str, int, bool, str]]:
        """(dataset, split, mode, queries, subsampled, relevance threshold) as the cells recorded them
        (one line per distinct combination)."""
        seen: dict[str, set] = {}
        for r in self.rows:
            seen.setdefault(r["dataset"], set()).add((r["n_queries"], r["split"], r["mode"], r["subsampled"],
                                                      r["relevance_threshold"]))
        return [(d, split, mode, n, sub, threshold) for d in self.datasets
                for n, split, mode, sub, threshold in sorted(seen.get(d, set()), key=str)]

    def pairs(self) -> list[Pair]:
        """The suite's comparisons, then every row against its own baseline (duplicates dropped)."""
        out: dict[tuple[str, str], Pair] = {}
        for c in self.suite.comparisons:
            out.setdefault((c.model, c.baseline), Pair(c.model, c.baseline, "comparison"))
        for m in self.models:
            base = self.vs(m)
            if base is not None and any((m, d) in self.cells for d in self.datasets):
                out.setdefault((m, base), Pair(m, base, "baseline"))
        return list(out.values())

    def pair_stats(self, pair: Pair, dataset: str, measure: str | None = None) -> dict[str, Any] | None:
        """Δ and p-values of ``pair`` on ``dataset`` as the CSV files hold them (None when not computed)."""
        measure = measure or self.measure
        key = "p_randomization" if self.suite.significance.test == "randomization" else "p_ttest"
        if pair.kind == "comparison":
            for r in self.comparisons:
                if (r["model"], r["baseline"], r["dataset"], r["measure"]) == (pair.model, pair.baseline, dataset,
                                                                               measure):
                    return {"mean_diff": r["mean_diff"], "p": r[key], "p_holm": r[f"{key}_holm"],
                            "value": r["value"], "baseline_value": r["baseline_value"], "n_queries": r["n_queries"]}
            return None
        r = self.row(pair.model, dataset, measure)
        b = self.row(pair.baseline, dataset, measure)
        if r is None or b is None or math.isnan(r.get("mean_diff", math.nan)):
            return None
        return {"mean_diff": r["mean_diff"], "p": r["p_value"], "p_holm": r["p_holm"], "value": r["value"],
                "baseline_value": b["value"], "n_queries": r["n_queries"]}

    def ranking(self, measure: str | None = None) -> list[tuple[str, float]]:
        """Rows with every dataset, best mean first."""
        table = self.score_table(measure)
        ranked = [(t.model, t.mean.value) for t in table if t.mean is not None]
        return sorted(ranked, key=lambda x: -x[1])


def build_report(suite: SuiteConfig, results: Path, models: list[str], baselines: dict[str, str],
                 datasets: list[str] | None = None, notes: list[str] | None = None,
                 labels: dict[str, tuple[str, str]] | None = None, rankings: bool = True) -> Report:
    """Read ``results`` (a suite's results folder) and compute everything the renderers show.
    ``baselines``: the rows' baselines (a row not in it gets its variant's, else the suite's:
    :func:`benchmarks.rows.row_baselines`); ``labels``: a row's (variant, base) for cells committed
    without their completion marker (default: from the suite's variants); ``rankings``: see
    :attr:`Report.rankings`."""
    datasets = datasets or [d.key for d in suite.datasets]
    baselines = row_baselines(suite, list(models), baselines)
    if labels is None:
        labels = {v.name: (v.label, v.base or "") for v in suite.variants}
    cells = load_cells(results, models, datasets, labels)
    rows = build_rows(suite, cells, models, datasets, baselines)
    comp = comparison_rows(suite, cells, datasets)
    per_seed = seed_comparison_rows(suite, cells, datasets)
    claims = judge_claims(suite, cells, datasets)
    folders = replicate_folders(results, models)
    costs = cost_rows(results, [name for m in models for name in folders[m]], datasets)
    manifest = read_manifest(results)
    return Report(suite=suite, results=results, models=list(models), datasets=list(datasets),
                  baselines=dict(baselines), rows=rows, comparisons=comp, costs=costs, seed_comparisons=per_seed,
                  claims=claims,
                  cells=cells,
                  notes=list(notes or []), manifest=manifest, rankings=rankings)
