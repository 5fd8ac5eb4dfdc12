"""The rows of a suite's leaderboard: its variants, then the models plugged in with ``--model``.

Plug-ins are remembered in ``results/<suite>/plugins.json`` (:class:`benchmarks.records.Plugins`).
:func:`row_baselines` is the one place a row's baseline is decided (the runner, the leaderboard and the
report all take it from there): a plug-in's own, else its variant's ``baseline``, else the suite's.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from benchmarks.records import PLUGINS_FILE, Plugin, Plugins, read_or_warn
from benchmarks.suites import SuiteConfig, VariantSpec


class Rows(NamedTuple):
    names: list[str]
    #: every row's baseline (a reference row is its own)
    baselines: dict[str, str]
    #: every row's (variant, base) labels
    labels: dict[str, tuple[str, str]]


def load_plugins(results: Path) -> dict[str, Plugin]:
    plugins = read_or_warn(Plugins, results / PLUGINS_FILE, "no plug-in rows")
    return dict(plugins.models) if plugins else {}


def plugin_variant(name: str, entry: Plugin) -> VariantSpec:
    return VariantSpec(name=name, model=entry.model, variant=entry.variant or "plug-in", base=entry.base,
                       baseline=entry.baseline)


def row_baselines(suite: SuiteConfig, rows: list[str], given: dict[str, str | None] | None = None) -> dict[str, str]:
    """Each row's baseline: ``given[row]`` (a plug-in's), else its variant's ``baseline``, else the suite's."""
    given = given or {}
    return {row: given.get(row) or suite.baseline_of(row) for row in rows}


def suite_rows(suite: SuiteConfig, results: Path) -> Rows:
    """The leaderboard's rows (the suite's variants, then remembered plug-ins), their baselines and labels."""
    plugins = load_plugins(results)
    names = [v.name for v in suite.variants]
    specs = list(suite.variants) + [plugin_variant(p, e) for p, e in plugins.items() if p not in names]
    rows = [v.name for v in specs]
    baselines = row_baselines(suite, rows, {p: e.baseline for p, e in plugins.items()})
    return Rows(rows, baselines, {v.name: (v.label, v.base or "") for v in specs})


def subsample_notes(suite: SuiteConfig) -> list[str]:
    notes = []
    for d in suite.datasets:
        if d.max_queries:
            notes.append(f"{d.key}: a seeded random subset of at most {d.max_queries} judged queries "
                         f"(seed {d.sample_seed}); the ids are listed in each cell's cell.json")
    return notes
