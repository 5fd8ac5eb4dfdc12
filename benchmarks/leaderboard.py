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
  replicate must hold the same queries). The suite's ``comparisons`` are also tested replicate by
  replicate (:func:`seed_comparison_rows`), so ``significance.csv`` keeps the per-seed tests beside the
  test on averaged scores.

Besides the scores, each cell reports what its records say about how it was evaluated (never parsed by
hand, always through :class:`EvaluationRecord`): the encoding backend, its precision and the maximum
input length of the evaluation (:class:`Encoding`), and the relevance threshold of the binary measures
(:func:`relevance_threshold`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.records import (
    CELL_MARKER,
    MANIFEST_FILE,
    TRAIN_MARKER,
    CellMarker,
    ManifestCell,
    SuiteManifest,
    TrainMarker,
    read_or_warn,
)
from benchmarks.suites import SuiteConfig
from synrank.data.registry import dataset_info
from synrank.errors import SynrankError
from synrank.evaluation.significance import (
    align_scores,
    holm,
    mean_confidence_interval,
    paired_t_test,
    randomization_test,
)
from synrank.records import METRICS_FILE, PER_QUERY_FILE, EvaluationRecord, PerQueryScores

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("model", "variant", "base", "dataset", "split", "mode", "measure", "value", "n_queries",
               "ci_low", "ci_high", "baseline", "mean_diff", "p_value", "p_holm", "p_ttest", "p_ttest_holm",
               "p_randomization", "p_randomization_holm", "config_hash", "subsampled",
               "relevance_threshold", "backend", "precision", "max_length")
#: Appended to ``CSV_COLUMNS`` when any row aggregates seed replicates.
SEED_COLUMNS = ("n_seeds", "sd")
SIGNIFICANCE_COLUMNS = ("model", "baseline", "dataset", "measure", "value", "baseline_value", "n_queries",
                        "mean_diff", "p_ttest", "p_ttest_holm", "p_randomization", "p_randomization_holm")
#: Appended to ``SIGNIFICANCE_COLUMNS`` when a compared row has seed replicates: which scores were tested
#: (:data:`SEED_MEAN`, :data:`PER_SEED` or :data:`SINGLE`), the replicate's seed, the cell folders compared.
SIGNIFICANCE_SEED_COLUMNS = ("scores", "seed", "model_cells", "baseline_cells")
SEED_MEAN = "seed-mean"  # per-query scores averaged over each row's replicates (the leaderboard's test)
PER_SEED = "per-seed"  # one replicate of the row against the baseline's replicate of the same seed
SINGLE = "single"  # both rows have one cell
#: The ``seed`` of a row's own folder ``cells/<row>/`` (trained with its config's seed).
OWN_SEED = "own"
#: What a record does not say (a field written before it was recorded).
NOT_RECORDED = "?"
COST_COLUMNS = ("model", "train_steps", "train_seconds", "eval_seconds", "eval_cells", "total_seconds")
CI_METHOD = "t"  # Student-t 95% interval of the mean per-query score
#: A cell folder holding one seed replicate of leaderboard row ``row``.
SEED_FOLDER_RE = re.compile(r"^(?P<row>.+)@seed(?P<seed>[0-9]+)$")


@dataclass(frozen=True)
class Encoding:
    """How a cell's model turned texts into vectors, as the evaluation's ``metrics.json`` records it
    (its config, :func:`synrank.evaluation.pipeline.evaluate_model`).

    ``backend`` and ``precision`` are the two halves of the encoding backend's name (``openvino-bf16``:
    :class:`synrank.retrieval.backends.Backend`); ``max_length`` is the evaluation's maximum input length
    in tokens, ``inf`` for an encoder without one (a static embedding). A field is ``""`` where it does
    not apply (BM25, a scored run file) and :data:`NOT_RECORDED` where the record does not say: a
    ``metrics.json`` written before the backend was recorded, a plug-in encoder without a backend
    (``backend`` is then ``plug-in``), a cell without ``metrics.json``. Several records (seed replicates,
    forums) that differ: each field lists the distinct values, joined by ``;``.
    """

    backend: str = ""
    precision: str = ""
    max_length: str = ""

    @classmethod
    def unknown(cls) -> Encoding:
        return cls(NOT_RECORDED, NOT_RECORDED, NOT_RECORDED)

    @classmethod
    def of(cls, record: EvaluationRecord | None) -> Encoding:
        """What ``record`` (one evaluation's metrics.json, not a forum cell's) says; None: not recorded."""
        if record is None:
            return cls.unknown()
        if record.kind in ("bm25", "run"):
            return cls()
        config = record.config
        if "encoding" not in config:
            backend = precision = NOT_RECORDED
        elif config["encoding"] is None:
            backend, precision = "plug-in", NOT_RECORDED
        else:  # Backend.name is "<engine>-<precision>"
            backend, _, precision = str(config["encoding"]).partition("-")
        return cls(backend or NOT_RECORDED, precision or NOT_RECORDED, _length_text(config.get("max_length")))

    @classmethod
    def merge(cls, encodings: Iterable[Encoding]) -> Encoding:
        found = list(encodings)
        if not found:
            return cls.unknown()
        return cls(*(join_distinct(getattr(e, f) for e in found) for f in ("backend", "precision", "max_length")))

    @property
    def label(self) -> str:
        """As the Markdown and HTML tables print it: ``openvino-bf16 · 256`` (``∞``: no limit), ``—`` where
        no encoder ran, ``?`` for what the record does not say."""
        if self == Encoding():
            return "—"
        known_precision = self.precision not in ("", NOT_RECORDED)
        name = f"{self.backend}-{self.precision}" if known_precision else self.backend
        length = "∞" if self.max_length == "inf" else self.max_length
        return f"{name or NOT_RECORDED} · {length or NOT_RECORDED}"


def _length_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return NOT_RECORDED
    if math.isinf(value):
        return "inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def evaluation_records(folder: Path, record: EvaluationRecord | None) -> list[EvaluationRecord | None]:
    """The records of the evaluations that ranked a cell: its metrics.json, or for a cell evaluated
    forum by forum, each forum's (``<cell>/<forum>/metrics.json``)."""
    if record is None or record.kind != "forums":
        return [record]
    return [read_or_warn(EvaluationRecord, folder / forum / METRICS_FILE, "its encoding shown as unknown")
            for forum in record.dataset.forums or sorted(record.forums or {})]


def relevance_threshold(record: EvaluationRecord | None, dataset: str | None = None) -> int | None:
    """The grade from which the binary measures (MAP, Recall, MRR, P) counted a document relevant: as
    ``record`` says, else what the evaluator takes for the dataset (its :class:`DatasetInfo`, for a
    dataset on this machine: never downloaded); None when neither is known. ``dataset``: the dataset's
    name when there is no record."""
    if record is not None and record.evaluation is not None:
        return record.evaluation.relevance_threshold
    name = record.dataset.name if record is not None else dataset
    if not name:
        return None
    try:
        return dataset_info(name, download=False).relevance_threshold
    except SynrankError:
        return None


def join_distinct(values: Iterable[Any]) -> str:
    """The distinct values as text, in order of first appearance, joined by ``;`` (None: :data:`NOT_RECORDED`)."""
    texts = [NOT_RECORDED if v is None else str(v) for v in values]
    return ";".join(dict.fromkeys(texts)) if texts else NOT_RECORDED


def _how_evaluated(folder: Path, metrics: EvaluationRecord | None, dataset: str | None = None) -> dict[str, Any]:
    """A cell's ``encoding`` and ``relevance_threshold`` fields, from its evaluation records
    (:func:`evaluation_records`); ``dataset`` names the dataset when there is no record."""
    records = evaluation_records(folder, metrics)
    return {"encoding": Encoding.merge(Encoding.of(r) for r in records),
            "relevance_threshold": join_distinct(relevance_threshold(r, dataset) for r in records)}


@dataclass(frozen=True)
class FinishedCell:
    """What the leaderboard takes from one finished cell folder: from its marker (:class:`CellMarker`),
    or for committed results without one, from its metrics.json and the manifest's record of it."""

    aggregate: dict[str, float]
    n_queries: int
    config_hash: str
    variant: str
    base: str
    split: str
    mode: str
    subsampled: bool
    dataset_checksums: dict[str, str]
    encoding: Encoding = Encoding.unknown()
    #: the grade from which binary measures count a document relevant (:func:`relevance_threshold`) as
    #: text: "2", :data:`NOT_RECORDED`, or the distinct values joined by ``;`` (forums that disagree)
    relevance_threshold: str = NOT_RECORDED

    @classmethod
    def from_marker(cls, marker: CellMarker, folder: Path) -> FinishedCell:
        """A finished cell: its marker, and its metrics.json for how it was evaluated (when readable)."""
        metrics = read_or_warn(EvaluationRecord, folder / METRICS_FILE, "its encoding shown as unknown")
        how = _how_evaluated(folder, metrics, (marker.config.get("dataset") or {}).get("name"))
        if metrics is None and marker.kind == "bm25":
            how["encoding"] = Encoding()
        return cls(aggregate=marker.aggregate, n_queries=marker.n_queries, config_hash=marker.config_hash,
                   variant=marker.variant, base=marker.base or "", split=marker.split, mode=marker.mode,
                   subsampled=bool(marker.subsample), dataset_checksums=marker.dataset_checksums, **how)

    @classmethod
    def committed(cls, folder: Path, entry: ManifestCell | None, variant: str, base: str) -> FinishedCell | None:
        """A cell of committed results without its marker: its ``metrics.json`` and the manifest's record
        of the cell (``entry``); None when either is missing or they do not describe the same run."""
        if entry is None or not (folder / PER_QUERY_FILE).exists():
            return None
        metrics = read_or_warn(EvaluationRecord, folder / METRICS_FILE, "cell ignored")
        if metrics is None:
            return None
        if metrics.dataset.sha256 != entry.dataset_sha256 or metrics.n_queries != entry.n_queries:
            logger.warning("%s: metrics.json and manifest.json describe different runs; cell ignored", folder)
            return None
        return cls(aggregate=metrics.aggregate, n_queries=metrics.n_queries, config_hash=entry.config_hash,
                   variant=variant, base=base, split=metrics.dataset.split, mode=metrics.mode or "",
                   subsampled=entry.subsampled, dataset_checksums=metrics.dataset.checksums or {},
                   **_how_evaluated(folder, metrics))


@dataclass
class Cell:
    """One leaderboard cell (row x dataset): one cell folder, or the mean of several seed replicates."""

    model: str
    dataset: str
    first: FinishedCell  # the first replicate
    per_query: dict[str, dict[str, float]] = field(repr=False)  # {measure: {qid: mean over replicates}}
    replicates: list[str] = field(default_factory=list)  # cell folder names
    replicate_cells: list[FinishedCell] = field(default_factory=list, repr=False)
    #: each replicate's own per-query scores (the per-seed tests), in the order of ``replicates``
    replicate_scores: list[dict[str, dict[str, float]]] = field(default_factory=list, repr=False)

    @property
    def n_seeds(self) -> int:
        return max(1, len(self.replicates))

    @property
    def aggregate(self) -> dict[str, float]:
        if len(self.replicate_cells) <= 1:
            return self.first.aggregate
        aggs = [c.aggregate for c in self.replicate_cells]
        return {m: float(np.mean([a[m] for a in aggs])) for m in aggs[0] if all(m in a for a in aggs)}

    @property
    def config_hash(self) -> str:
        """The cell's config hash; replicates' hashes joined by ``;``."""
        if len(self.replicate_cells) <= 1:
            return self.first.config_hash
        return ";".join(c.config_hash for c in self.replicate_cells)

    @property
    def encoding(self) -> Encoding:
        """How the cell encoded (replicates that differ: each field's distinct values joined by ``;``)."""
        return Encoding.merge(c.encoding for c in self.replicate_cells or [self.first])

    @property
    def relevance_threshold(self) -> str:
        return join_distinct(c.relevance_threshold for c in self.replicate_cells or [self.first])

    def replicate_at(self, index: int) -> Cell:
        """Replicate ``index`` alone, as a cell of its own (its own scores, no averaging)."""
        name, cell = self.replicates[index], self.replicate_cells[index]
        return Cell(self.model, self.dataset, cell, self.replicate_scores[index], [name], [cell],
                    [self.replicate_scores[index]])

    def seed_values(self, measure: str) -> list[float]:
        """Each replicate's value (one per seed; empty for a cell without replicates)."""
        if len(self.replicate_cells) <= 1:
            return []
        return [float(c.aggregate[measure]) for c in self.replicate_cells]


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


def read_manifest(results: Path) -> SuiteManifest | None:
    return read_or_warn(SuiteManifest, results / MANIFEST_FILE, "read without it")


def load_cells(results: Path, models: Iterable[str], datasets: Iterable[str],
               labels: dict[str, tuple[str, str]] | None = None) -> dict[tuple[str, str], Cell]:
    """Finished cells by (row, dataset). ``labels`` gives a row's (variant, base) for cells read without
    a marker (default: the row name and no base)."""
    models, datasets, labels = list(models), list(datasets), labels or {}
    folders = replicate_folders(results, models)
    manifest: SuiteManifest | None = None
    manifest_read = False
    cells: dict[tuple[str, str], Cell] = {}
    for m in models:
        for d in datasets:
            found, per_query, names = [], [], []
            for name in folders[m]:
                folder = results / "cells" / name / d
                marker = read_or_warn(CellMarker, folder / CELL_MARKER, "cell ignored")
                cell = FinishedCell.from_marker(marker, folder) if marker is not None else None
                if cell is None and (folder / METRICS_FILE).exists():
                    if not manifest_read:
                        manifest, manifest_read = read_manifest(results), True
                    variant, base = labels.get(m, (m, ""))
                    entry = manifest.cell(name, d) if manifest is not None else None
                    cell = FinishedCell.committed(folder, entry, variant, base)
                if cell is None:
                    continue
                found.append(cell)
                per_query.append(PerQueryScores.from_disk(folder / PER_QUERY_FILE).columns())
                names.append(name)
            if found:
                cells[(m, d)] = Cell(m, d, found[0], _mean_per_query(per_query, names, d), names, found, per_query)
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
            base_name = baselines[m]
            base = cells.get((base_name, d)) if base_name != m else None
            if base_name != m and base is None:
                logger.warning("no finished %s cell on %s: %s is not tested there", base_name, d, m)
            encoding = dataclasses.asdict(cell.encoding)
            for measure in suite.measures:
                if measure not in cell.per_query:
                    raise SynrankError(f"{cell.model}/{d}: per_query.tsv has no {measure!r} column")
                scores = np.array(list(cell.per_query[measure].values()))
                ci = mean_confidence_interval(scores, method=CI_METHOD)
                seeds = cell.seed_values(measure)
                row: dict[str, Any] = {
                    "model": m, "variant": cell.first.variant, "base": cell.first.base,
                    "dataset": d, "split": cell.first.split, "mode": cell.first.mode,
                    "measure": measure, "value": float(cell.aggregate[measure]),
                    "n_queries": cell.first.n_queries, "ci_low": ci.low, "ci_high": ci.high,
                    "baseline": base_name if base_name != m else "",
                    "config_hash": cell.config_hash,
                    "subsampled": cell.first.subsampled,
                    "mean_diff": math.nan, "p_ttest": math.nan, "p_randomization": math.nan,
                    "n_seeds": cell.n_seeds, "sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else math.nan,
                    "seed_values": seeds, "replicates": list(cell.replicates),
                    "relevance_threshold": cell.relevance_threshold, **encoding,
                }
                if base is not None:
                    row.update(_compare(cell, base, measure, sig.permutations, sig.seed))
                rows.append(row)
    _add_holm(rows, ("model", "measure"))
    key = "p_randomization" if sig.test == "randomization" else "p_ttest"
    for r in rows:
        r["p_value"], r["p_holm"] = r[key], r[f"{key}_holm"]
    return rows


def _compared(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], datasets: list[str],
              ) -> Iterator[tuple[str, str, str, Cell, Cell]]:
    """(model, baseline, dataset, its cell, the baseline's) of every comparison where both are finished."""
    for comp in suite.comparisons:
        for d in datasets:
            a, b = cells.get((comp.model, d)), cells.get((comp.baseline, d))
            if a is not None and b is not None:
                yield comp.model, comp.baseline, d, a, b


def _pair_rows(suite: SuiteConfig, model: str, baseline: str, dataset: str, a: Cell, b: Cell, scores: str,
               seed: str) -> list[dict[str, Any]]:
    """One ``significance.csv`` row per measure: ``a`` against ``b`` on their per-query scores."""
    sig = suite.significance
    rows = []
    for measure in suite.measures:
        row = {"model": model, "baseline": baseline, "dataset": dataset, "measure": measure,
               "value": float(a.aggregate[measure]), "baseline_value": float(b.aggregate[measure]),
               "n_queries": a.first.n_queries, "scores": scores, "seed": seed,
               "model_cells": ";".join(a.replicates), "baseline_cells": ";".join(b.replicates)}
        row.update(_compare(a, b, measure, sig.permutations, sig.seed))
        rows.append(row)
    return rows


def comparison_rows(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], datasets: list[str],
                    ) -> list[dict[str, Any]]:
    """The suite's ``comparisons`` on every dataset: the tests on each row's per-query scores (averaged
    over its seed replicates), Holm across the datasets of each pair and measure."""
    rows: list[dict[str, Any]] = []
    for model, baseline, d, a, b in _compared(suite, cells, datasets):
        scores = SEED_MEAN if a.n_seeds > 1 or b.n_seeds > 1 else SINGLE
        rows += _pair_rows(suite, model, baseline, d, a, b, scores, "")
    _add_holm(rows, ("model", "baseline", "measure"))
    return rows


def seed_label(folder: str) -> str:
    """A replicate's seed as ``significance.csv`` shows it: N for ``<row>@seed<N>``, :data:`OWN_SEED` for
    the row's own folder."""
    match = SEED_FOLDER_RE.match(folder)
    return str(int(match["seed"])) if match else OWN_SEED


def seed_pairs(a: Cell, b: Cell) -> list[tuple[str, int, int]]:
    """The replicate pairs of a per-seed comparison of ``a`` against ``b``: (seed, index in a, index in
    b). Replicates of the same seed are paired; a row with a single cell is paired with each replicate
    of the other. Empty when neither row has replicates."""
    la, lb = [seed_label(n) for n in a.replicates], [seed_label(n) for n in b.replicates]
    if len(la) <= 1 and len(lb) <= 1:
        return []
    if len(lb) == 1:
        return [(s, i, 0) for i, s in enumerate(la)]
    if len(la) == 1:
        return [(s, 0, j) for j, s in enumerate(lb)]
    return [(s, i, lb.index(s)) for i, s in enumerate(la) if s in lb]


def seed_comparison_rows(suite: SuiteConfig, cells: dict[tuple[str, str], Cell], datasets: list[str],
                         ) -> list[dict[str, Any]]:
    """The suite's ``comparisons`` replicate by replicate (:func:`seed_pairs`), for pairs where a row has
    seed replicates: the same tests as :func:`comparison_rows` on one replicate's per-query scores
    against the other's, Holm across the datasets of each pair, measure and seed."""
    rows: list[dict[str, Any]] = []
    for model, baseline, d, a, b in _compared(suite, cells, datasets):
        pairs = seed_pairs(a, b)
        if (a.n_seeds > 1 or b.n_seeds > 1) and not pairs:
            logger.warning("%s vs %s on %s: no replicates of the same seed; no per-seed tests", model, baseline, d)
        for seed, i, j in pairs:
            rows += _pair_rows(suite, model, baseline, d, a.replicate_at(i), b.replicate_at(j), PER_SEED, seed)
    _add_holm(rows, ("model", "baseline", "measure", "seed"))
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
    manifest = read_manifest(results)
    rows = []
    for model in models:
        steps = train_s = None
        marker = read_or_warn(TrainMarker, results / "train" / model / TRAIN_MARKER, "its training cost left out")
        recorded = manifest.trained(model) if manifest is not None else None
        checkpoint = None
        if marker is not None:
            train_s, checkpoint = marker.timings.get("train"), marker.checkpoint
        elif recorded is not None:
            train_s, checkpoint = recorded.seconds, f"train/{model}/model"
        if checkpoint:
            steps = trained_steps(results / checkpoint)
        eval_s = []
        for d in datasets:
            folder = results / "cells" / model / d
            cm = read_or_warn(CellMarker, folder / CELL_MARKER, "its cost left out")
            seconds = cm.timings.get("total", 0.0) if cm is not None else None
            if cm is None and (folder / METRICS_FILE).exists() and manifest is not None:
                entry = manifest.cell(model, d)
                seconds = None if entry is None else entry.timings.get("total", 0.0)
            if seconds is not None:
                eval_s.append(float(seconds))
        if marker is None and recorded is None and not eval_s:
            continue
        total = (train_s or 0.0) + sum(eval_s)
        rows.append({"model": model, "train_steps": steps, "train_seconds": train_s,
                     "eval_seconds": round(sum(eval_s), 1), "eval_cells": len(eval_s),
                     "total_seconds": round(total, 1)})
    return rows


def trained_steps(model_dir: Path) -> int | None:
    """The step count in the trainer's ``trainer_state.json`` (its checkpoint state, written by
    :func:`synrank.training.checkpoint.write_state`), None when absent or unreadable."""
    try:
        state = json.loads((model_dir / "trainer_state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    steps = state.get("global_step") if isinstance(state, dict) else None
    return steps if isinstance(steps, int) else None
