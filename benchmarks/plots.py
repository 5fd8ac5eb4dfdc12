"""Leaderboard plots: one bar chart per dataset (mean per-query score with its 95% t-interval) and an
overview grid of all datasets. Rendered with matplotlib's Agg backend, written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from synrank.io import atomic_write_bytes


def _bars(ax, rows: list[dict[str, Any]], measure: str, dataset: str) -> None:
    names = [r["model"] for r in rows]
    values = [r["value"] for r in rows]
    lo = [r["value"] - r["ci_low"] for r in rows]
    hi = [r["ci_high"] - r["value"] for r in rows]
    colors = []
    for r in rows:
        p = r.get("p_holm", math.nan)
        if r.get("baseline") == "" or r.get("baseline") is None:
            colors.append("#7f7f7f")  # a baseline row
        elif not math.isnan(p) and p < 0.05:
            colors.append("#2ca02c" if r["mean_diff"] > 0 else "#d62728")
        else:
            colors.append("#1f77b4")
    y = list(range(len(rows)))
    ax.barh(y, values, xerr=[lo, hi], color=colors, capsize=3, ecolor="black")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    n = rows[0]["n_queries"] if rows else 0
    ax.set_title(f"{dataset} ({n} queries)", fontsize=10)
    ax.set_xlabel(f"{measure} (mean, 95% t-interval)", fontsize=8)
    ax.set_xlim(0, max(1e-6, max(r["ci_high"] for r in rows)) * 1.05)


def _save(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def plot_leaderboard(rows: list[dict[str, Any]], folder: Path, measure: str, models: list[str],
                     datasets: list[str], title: str = "") -> list[str]:
    """Write ``<folder>/<dataset>.png`` per dataset and ``<folder>/overview.png``; return the paths
    written, relative to ``folder.parent``. Grey: baseline rows; green / red: significantly better /
    worse than the row's baseline (p_holm < 0.05); blue: not significant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = {m: i for i, m in enumerate(models)}
    per_ds = {d: sorted((r for r in rows if r["dataset"] == d and r["measure"] == measure),
                        key=lambda r: order.get(r["model"], 1e9)) for d in datasets}
    per_ds = {d: rs for d, rs in per_ds.items() if rs}
    written: list[str] = []
    height = 0.35 * max(len(models), 2) + 1.0
    for d, rs in per_ds.items():
        fig, ax = plt.subplots(figsize=(6, height))
        _bars(ax, rs, measure, d)
        if title:
            fig.suptitle(title, fontsize=9)
        atomic_write_bytes(folder / f"{d}.png", _save(fig))
        plt.close(fig)
        written.append(f"{folder.name}/{d}.png")
    if per_ds:
        cols = min(3, len(per_ds))
        nrows = math.ceil(len(per_ds) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(5.5 * cols, height * nrows), squeeze=False)
        for ax, (d, rs) in zip(axes.flat, per_ds.items(), strict=False):
            _bars(ax, rs, measure, d)
        for ax in list(axes.flat)[len(per_ds):]:
            ax.axis("off")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        atomic_write_bytes(folder / "overview.png", _save(fig))
        plt.close(fig)
        written.append(f"{folder.name}/overview.png")
    return written
