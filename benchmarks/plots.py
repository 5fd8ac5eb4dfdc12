"""Leaderboard plots a paper can print: one horizontal bar chart per dataset and an overview of all
datasets side by side (rows aligned), each as PNG and SVG.

Every bar is the mean per-query score with its 95% t-interval; its value (with † / ‡) is written beside
it; each row's label names the baseline it is tested against; colours come from the Okabe–Ito
colour-blind-safe palette, with hatching on the "worse" bars so that the marks survive grey-scale
printing; the legend states the test and the suite's alpha. Seed replicates, when a row has them, are
drawn as dots over the bar. Rendered with matplotlib's Agg backend, deterministically (no dates, fixed
SVG ids), written atomically.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synrank.io import atomic_write_bytes

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}
#: What a bar's fill says about its row against that row's own baseline.
STATUS_STYLE = {
    "better": {"color": OKABE_ITO["blue"], "hatch": ""},
    "worse": {"color": OKABE_ITO["vermillion"], "hatch": "////"},
    "ns": {"color": "#C8C8C8", "hatch": ""},
    "reference": {"color": "#FFFFFF", "hatch": ""},
}
MARKS = {"better": "†", "worse": "‡"}
_RC = {"svg.hashsalt": "synrank-report", "svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9,
       "axes.spines.top": False, "axes.spines.right": False}


def status(row: dict[str, Any], alpha: float) -> str:
    """``reference`` (a row without a baseline), ``better`` / ``worse`` (Holm-adjusted p < alpha), or
    ``ns`` (not significant, or not tested because the baseline's cell is missing)."""
    if not row.get("baseline"):
        return "reference"
    p = row.get("p_holm", math.nan)
    if p is None or math.isnan(p) or p >= alpha:
        return "ns"
    return "better" if row["mean_diff"] > 0 else "worse"


def row_label(row: dict[str, Any]) -> str:
    return f"{row['model']}  (vs {row['baseline']})" if row.get("baseline") else f"{row['model']}  (reference)"


def _panel(ax, rows: list[dict[str, Any]], order: list[str], alpha: float, labels: bool) -> None:
    by_model = {r["model"]: r for r in rows}
    xmax = max(1e-6, max(r["ci_high"] for r in rows))
    for y, model in enumerate(order):
        r = by_model.get(model)
        if r is None:
            ax.text(0.005 * xmax, y, "not run", va="center", fontsize=6.5, color="#555555", style="italic")
            continue
        st = status(r, alpha)
        style = STATUS_STYLE[st]
        ax.barh(y, r["value"], height=0.72, color=style["color"], hatch=style["hatch"], edgecolor="#333333",
                linewidth=0.5)
        ax.errorbar(r["value"], y, xerr=[[r["value"] - r["ci_low"]], [r["ci_high"] - r["value"]]], fmt="none",
                    ecolor="#222222", elinewidth=0.7, capsize=1.8)
        seeds = r.get("seed_values") or []
        if len(seeds) > 1:
            ax.plot(seeds, [y] * len(seeds), linestyle="none", marker="o", markersize=2.2, color="#000000")
        ax.text(r["ci_high"] + 0.02 * xmax, y, f"{r['value']:.3f}{MARKS.get(st, '')}", va="center",
                fontsize=6.5)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, xmax * 1.3)
    ax.set_yticks(range(len(order)))
    if labels:
        names = {r["model"]: row_label(r) for r in rows}
        ax.set_yticklabels([names.get(m, m) for m in order], fontsize=7)
    else:
        ax.set_yticklabels([])
    ax.tick_params(axis="x", labelsize=6.5)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.5)
    ax.set_axisbelow(True)


def _legend_columns(width: float) -> int:
    return 4 if width >= 10.5 else 2 if width >= 5.4 else 1


def _legend(fig, alpha: float, top: float, width: float) -> None:
    """Draw the legend hanging from ``top`` (figure fraction)."""
    from matplotlib.patches import Patch  # matplotlib loads in plot_leaderboard (see there)

    handles = [
        Patch(facecolor=STATUS_STYLE["better"]["color"], edgecolor="#333333", linewidth=0.5,
              label=f"† better than its baseline (p_holm < {alpha:g})"),
        Patch(facecolor=STATUS_STYLE["worse"]["color"], hatch="////", edgecolor="#333333", linewidth=0.5,
              label=f"‡ worse than its baseline (p_holm < {alpha:g})"),
        Patch(facecolor=STATUS_STYLE["ns"]["color"], edgecolor="#333333", linewidth=0.5,
              label="no significant difference"),
        Patch(facecolor=STATUS_STYLE["reference"]["color"], edgecolor="#333333", linewidth=0.5,
              label="reference row (no baseline)"),
    ]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, top), ncol=_legend_columns(width),
               frameon=False, fontsize=7.5, handlelength=1.8, columnspacing=1.4, borderaxespad=0.0)


def _caption(measure: str, test: str, seeds: bool, width: float) -> str:
    text = (f"Bars: mean per-query {measure} with its 95% t-interval; the value is printed beside each bar. "
            f"Each row is tested against the baseline named in its label ({test}, Holm–Bonferroni across "
            "datasets)." + (" Dots: seed replicates." if seeds else ""))
    return textwrap.fill(text, width=max(40, int(width * 19)))


def _figure(plt, width: float, panel_rows: int, body: float, title: str, alpha: float, caption: str,
            panel_title: float):
    """A figure laid out in inches from the top: title, legend, ``panel_rows`` rows of panels of
    height ``body`` (each with a title above and an axis label below), caption. Returns the figure
    and a function giving a panel's [left, bottom, width, height] in figure fractions. ``panel_title``:
    inches kept above each panel for its title."""
    n_caption = caption.count("\n") + 1
    legend_h = 0.2 * math.ceil(4 / _legend_columns(width)) + 0.1
    head, panel_gap, foot = 0.35 + legend_h + panel_title, 0.5 + panel_title, 0.45 + 0.13 * n_caption
    height = head + panel_rows * body + (panel_rows - 1) * panel_gap + foot
    fig = plt.figure(figsize=(width, height))
    fig.suptitle(title, y=1 - 0.08 / height, va="top", fontsize=10)
    _legend(fig, alpha, 1 - 0.38 / height, width)
    fig.text(0.02, 0.06 / height, caption, fontsize=6.5, va="bottom", ha="left")

    def box(row: int, left: float, panel_w: float) -> list[float]:
        top = head + row * (body + panel_gap)
        return [left / width, 1 - (top + body) / height, panel_w / width, body / height]

    return fig, box


def _save(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    fig.savefig(buf, format=fmt, dpi=200, bbox_inches="tight", metadata=metadata)
    return buf.getvalue()


def plot_leaderboard(rows: list[dict[str, Any]], folder: Path, measure: str, models: Sequence[str],
                     datasets: Sequence[str], *, alpha: float = 0.05, test: str = "two-sided paired test",
                     title: str = "") -> dict[str, bytes]:
    """Write ``<folder>/<dataset>.{png,svg}`` and ``<folder>/overview.{png,svg}``; return the files'
    contents keyed by their path relative to ``folder.parent`` (e.g. ``plots/overview.svg``)."""
    # matplotlib (~0.5 s) loads only when plotting, with the Agg backend chosen before pyplot loads
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_ds = {d: [r for r in rows if r["dataset"] == d and r["measure"] == measure] for d in datasets}
    per_ds = {d: rs for d, rs in per_ds.items() if rs}
    order = [m for m in models if any(r["model"] == m for rs in per_ds.values() for r in rs)]
    seeds = any(len(r.get("seed_values") or []) > 1 for rs in per_ds.values() for r in rs)
    written: dict[str, bytes] = {}
    if not per_ds:
        return written
    body = max(0.9, 0.21 * len(order))
    label_w = 0.075 * max(len(row_label(r)) for rs in per_ds.values() for r in rs) + 0.3

    def emit(fig, stem: str) -> None:
        for fmt in ("png", "svg"):
            data = _save(fig, fmt)
            atomic_write_bytes(folder / f"{stem}.{fmt}", data)
            written[f"{folder.name}/{stem}.{fmt}"] = data
        plt.close(fig)

    with plt.rc_context(_RC):
        for d, rs in per_ds.items():
            width = label_w + 3.6
            caption = _caption(measure, test, seeds, width)
            fig, box = _figure(plt, width, 1, body, f"{title}: {measure} on {d}" if title else f"{measure} on {d}",
                               alpha, caption, panel_title=0.3)
            ax = fig.add_axes(box(0, label_w, 3.3))
            _panel(ax, rs, order, alpha, labels=True)
            ax.set_title(f"{d} ({rs[0]['n_queries']} queries)", fontsize=8.5)
            ax.set_xlabel(measure, fontsize=7.5)
            emit(fig, d)

        cols = min(5, len(per_ds))
        panel_rows = math.ceil(len(per_ds) / cols)
        panel_w, gap = 2.1, 0.25
        width = label_w + cols * panel_w + (cols - 1) * gap + 0.3
        caption = _caption(measure, test, seeds, width)
        fig, box = _figure(plt, width, panel_rows, body, f"{title}: {measure}" if title else measure, alpha, caption,
                           panel_title=0.45)
        for i, (d, rs) in enumerate(per_ds.items()):
            ax = fig.add_axes(box(i // cols, label_w + (i % cols) * (panel_w + gap), panel_w))
            _panel(ax, rs, order, alpha, labels=i % cols == 0)
            ax.set_title(f"{d}\n{rs[0]['n_queries']} queries", fontsize=8)
            ax.set_xlabel(measure, fontsize=7)
        emit(fig, "overview")
    return written
