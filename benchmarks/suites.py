"""Benchmark suite schema: a suite file lists variants (models) x datasets and how to compare them.

A suite is a YAML/TOML/JSON file (``benchmarks/configs/suites/<name>.yaml`` for the shipped ones, or
any path) validated strictly into :class:`SuiteConfig` by :func:`synrank.config.from_dict`: unknown
keys, missing keys and wrong types are errors naming the file and field.

Each variant is exactly one of

* ``train: FILE`` — a training config (``synrank train`` schema, resolved against the suite file's
  folder), or the same mapping written inline (its ``name`` defaults to the variant's); the runner
  trains it first (``train_overrides`` replace top-level keys, e.g. ``max_steps``) and then evaluates
  the checkpoint;
* ``model: SPEC`` — anything :func:`synrank.retrieval.encoders.load_encoder` accepts: a
  sentence-transformers folder, an alias such as ``all-MiniLM-L6-v2``, a hub name (when online) or an
  importable ``module:Class`` with ``encode_queries`` / ``encode_corpus``;
* ``bm25: {k1, b}`` — the lexical reference row.

Each dataset is a name (or folder) from the dataset registry with a split, a mode (``auto`` reranks
the shipped first-stage run when there is one, ``full`` retrieves from the whole corpus, ``rerank``
requires a shipped run) and an optional seeded query subsample (recorded in every artifact).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synrank.config import bounded, from_dict, load_config_file
from synrank.errors import ConfigError, show
from synrank.paths import check_safe_name

SUITES_DIR = Path(__file__).resolve().parent / "configs" / "suites"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BM25Spec:
    k1: float = bounded(0.9, 0, 100)
    b: float = bounded(0.4, 0, 1)


@dataclass
class VariantSpec:
    """One row of the leaderboard."""

    name: str
    train: str | dict[str, Any] | None = None
    model: str | None = None
    bm25: BM25Spec | None = None
    #: Label of the training regime (``base``, ``synthetic-ws2`` ...); defaults to ``name``.
    variant: str | None = None
    #: Label of the starting encoder (``minilm``, ``static`` ...), for grouping rows.
    base: str | None = None
    #: The row this one is tested against; defaults to the suite's ``baseline``.
    baseline: str | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = bounded(None, 1, 65536)
    max_length: int | None = bounded(None, 1, 65536)
    #: Encoding backend for this row (synrank.retrieval.backends); defaults to the suite's ``encoding``.
    encoding: str | None = None
    #: Extra training seeds: each trains and evaluates as a replicate ``<name>@seed<N>`` (cells/<name>@seed<N>/);
    #: the leaderboard row shows mean ± sd over the config's own seed and these.
    seeds: list[int] = field(default_factory=list)

    def validate(self) -> None:
        check_safe_name(self.name, "variant name")
        kinds = [k for k in ("train", "model", "bm25") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"variant {self.name!r}: give exactly one of train, model, bm25 (got {kinds or 'none'})")
        if self.train_overrides and self.train is None:
            raise ValueError(f"variant {self.name!r}: train_overrides only apply to a 'train' variant")
        if self.seeds and self.train is None:
            raise ValueError(f"variant {self.name!r}: seeds only apply to a 'train' variant")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 or s > 2**32 - 1 for s in self.seeds):
            raise ValueError(f"variant {self.name!r}: seeds must be distinct integers in [0, 2^32-1]")

    def replicates(self) -> list[VariantSpec]:
        """This row's runs: itself, then one copy per extra seed (``<name>@seed<N>``, seed overridden)."""
        copies = [dataclasses.replace(self, name=f"{self.name}@seed{s}", seeds=[],
                                      train_overrides={**self.train_overrides, "seed": s}) for s in self.seeds]
        return [self, *copies]

    @property
    def kind(self) -> str:
        return "train" if self.train is not None else "model" if self.model is not None else "bm25"

    @property
    def label(self) -> str:
        return self.variant or self.name


@dataclass
class DatasetSpec:
    name: str
    split: str | None = None
    mode: Literal["auto", "full", "rerank"] = "auto"
    #: Evaluate a seeded random subset of this many judged queries (None: all). Recorded in artifacts.
    max_queries: int | None = bounded(None, 2, 10**9)
    sample_seed: int = bounded(0, 0, 2**32 - 1)
    top_k: int | None = bounded(None, 1, 1_000_000)
    #: Column / folder name when the dataset name alone is ambiguous (e.g. two splits of msmarco).
    label: str | None = None

    def validate(self) -> None:
        if self.label is not None:
            check_safe_name(self.label, "dataset label")
        elif not self.name.strip():
            raise ValueError("dataset name is empty")
        else:
            try:
                check_safe_name(self.key, "results folder name")
            except ValueError as exc:
                raise ValueError(f"dataset {show(self.name)}: {exc}; or give the dataset a 'label' (its results "
                                 "folder and column name)") from None

    @property
    def key(self) -> str:
        """Folder / column name: ``label``, else the dataset name (a path's last component)."""
        return self.label or Path(self.name).name


@dataclass
class SignificanceSpec:
    #: Which test fills the leaderboard's p_value / p_holm columns (both are always computed).
    test: Literal["randomization", "ttest"] = "randomization"
    permutations: int = bounded(10_000, 10_000, 10**7)
    seed: int = bounded(0, 0, 2**32 - 1)
    alpha: float = bounded(0.05, 0, 1, lo_open=True, hi_open=True)


@dataclass
class Comparison:
    """An extra pair tested on every dataset, reported in ``significance.csv``."""

    model: str
    baseline: str


@dataclass
class Claim:
    """A statement about two rows that the suite's results are meant to settle, judged by one fixed rule
    (:mod:`benchmarks.claims`): ``beats`` (``model`` is better than ``baseline``) or ``matches`` (it is
    nowhere worse)."""

    model: str
    baseline: str
    claim: Literal["beats", "matches"]
    #: What the claim stands for in the paper being tested, e.g. "ws2 > InfoNCE" (shown beside it).
    label: str = ""


@dataclass
class Requirements:
    """What a suite needs that may be absent on this machine; checked before anything runs."""

    gpus: int = bounded(0, 0, 1024)
    #: Hub models that must be loadable (from the local Hugging Face cache when offline).
    models: list[str] = field(default_factory=list)
    #: Datasets that must be present with a corpus.
    datasets: list[str] = field(default_factory=list)
    #: Python modules that must import (e.g. vllm for synthetic generation).
    modules: list[str] = field(default_factory=list)
    #: Files or folders (e.g. synthetic training data) that must exist; relative to the suite file.
    paths: list[str] = field(default_factory=list)


@dataclass
class SuiteConfig:
    name: str
    variants: list[VariantSpec]
    datasets: list[DatasetSpec]
    baseline: str
    description: str = ""
    #: Measures written to leaderboard.csv (every one the evaluator computes is in metrics.json).
    measures: list[str] = field(default_factory=lambda: ["nDCG@10", "nDCG@100", "MRR@10", "Recall@100", "MAP"])
    #: The measure of leaderboard.md's main table, the plots and the default regression check.
    primary_measure: str = "nDCG@10"
    batch_size: int = bounded(64, 1, 65536)
    top_k: int = bounded(1000, 1, 1_000_000)
    #: Encoding backend of every model row (``auto``: the fastest that matches fp32 on this CPU); part of
    #: each cell's key, shown in leaderboard.csv.
    encoding: str = "auto"
    significance: SignificanceSpec = field(default_factory=SignificanceSpec)
    comparisons: list[Comparison] = field(default_factory=list)
    #: Claims tested by the pre-registered rule of :mod:`benchmarks.claims` (``claims.csv``, the Claims
    #: section of ``leaderboard.md`` and of the HTML report).
    claims: list[Claim] = field(default_factory=list)
    requires: Requirements = field(default_factory=Requirements)
    #: Environment for subprocesses and this process (e.g. thread counts), applied before running.
    env: dict[str, str] = field(default_factory=dict)
    #: Other suites whose results (``results/<name>/``, :func:`suite_results_dir`) this one reuses: a cell or
    #: training run missing here is copied from there when its key is equal (:mod:`benchmarks.reuse`).
    reuse: list[str] = field(default_factory=list)
    #: Folder of this suite file, set by :func:`load_suite` (relative paths resolve against it).
    source: str | None = None

    def validate(self) -> None:
        check_safe_name(self.name, "suite name")
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate variant name(s): {dup}")
        keys = [d.key for d in self.datasets]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"duplicate dataset(s): {dup}")
        if not self.variants or not self.datasets:
            raise ValueError("a suite needs at least one variant and one dataset")
        if self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not a variant name (have {names})")
        for v in self.variants:
            if v.baseline is not None and v.baseline not in names:
                raise ValueError(f"variant {v.name!r}: baseline {v.baseline!r} is not a variant name")
        for c in self.comparisons:
            for n in (c.model, c.baseline):
                if n not in names:
                    raise ValueError(f"comparison {c.model} vs {c.baseline}: {n!r} is not a variant name")
        for c in self.claims:
            for n in (c.model, c.baseline):
                if n not in names:
                    raise ValueError(f"claim {c.model} {c.claim} {c.baseline}: {n!r} is not a variant name")
            if c.model == c.baseline:
                raise ValueError(f"claim {c.model} {c.claim} {c.baseline}: a row compared with itself")
        for other in self.reuse:
            check_safe_name(other, "reuse entry (a suite name)")
            if other == self.name:
                raise ValueError(f"reuse: {other!r} is this suite itself")
        if self.primary_measure not in self.measures:
            raise ValueError(f"primary_measure {self.primary_measure!r} must be one of measures {self.measures}")

    def variant(self, name: str) -> VariantSpec:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def baseline_of(self, name: str) -> str:
        try:
            v = self.variant(name)
        except KeyError:
            return self.baseline
        return v.baseline or self.baseline

    def resolve(self, relative: str) -> Path:
        """A path from the suite file, relative to its folder."""
        p = Path(relative).expanduser()
        if p.is_absolute() or self.source is None:
            return p
        return (Path(self.source) / p).resolve()


SUITE_EXTENSIONS = (".yaml", ".yml", ".toml", ".json")


def shipped_suites() -> list[str]:
    """Names of the suites shipped in ``benchmarks/configs/suites`` (what ``--suite NAME`` accepts)."""
    return sorted({q.stem for q in SUITES_DIR.iterdir() if q.suffix in SUITE_EXTENSIONS})


def suite_option_help() -> str:
    """The ``--suite`` help of every benchmarks command, naming the shipped suites."""
    return f"{', '.join(shipped_suites())}, or a suite file path"


def suite_path(name_or_path: str | Path) -> Path:
    """``smoke`` -> ``benchmarks/configs/suites/smoke.yaml``; an existing file path is returned as is."""
    p = Path(name_or_path)
    if p.suffix in SUITE_EXTENSIONS or p.exists():
        if not p.exists():
            raise ConfigError("suite file does not exist", p)
        return p
    for ext in SUITE_EXTENSIONS:
        cand = SUITES_DIR / f"{name_or_path}{ext}"
        if cand.exists():
            return cand
    raise ConfigError(f"unknown suite {str(name_or_path)!r}", SUITES_DIR,
                      hint=f"known suites: {', '.join(shipped_suites())}; or pass a suite file path")


def suite_results_dir(name: str) -> Path:
    """``results/<name>/`` in the checkout: where suite ``name``'s results go unless told otherwise."""
    return REPO_ROOT / "results" / name


def results_dir(suite: SuiteConfig) -> Path:
    """Where a suite's results go unless told otherwise: ``results/<suite>/`` in the checkout."""
    return suite_results_dir(suite.name)


def load_suite(name_or_path: str | Path) -> SuiteConfig:
    path = suite_path(name_or_path)
    raw = load_config_file(path)
    raw["source"] = str(path.resolve().parent)
    return from_dict(SuiteConfig, raw, source=path)
