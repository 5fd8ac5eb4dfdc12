"""Text renderers of a :class:`~benchmarks.report.model.Report`: the CSV files and ``leaderboard.md``.

* ``leaderboard.csv`` — long format, one row per (model, dataset, measure): value, n_queries, 95%
  t-interval of the mean per-query score, the baseline it is tested against, mean difference, p-values
  of the paired t-test and of the randomization test (each also Holm-adjusted across the datasets of
  that model and measure), ``p_value`` / ``p_holm`` = the suite's chosen test, the cell's relevance
  threshold, encoding backend, precision and evaluation length (:class:`benchmarks.leaderboard.Encoding`);
  ``n_seeds`` and ``sd`` are appended when a row aggregates seed replicates;
* ``significance.csv`` — the suite's extra ``comparisons`` (model vs baseline pairs), same tests; with
  seed replicates also one test per replicate pair (columns ``scores``, ``seed``, ``model_cells``,
  ``baseline_cells``);
* ``claims.csv`` — the suite's claims judged by the pre-registered rule (:mod:`benchmarks.claims`):
  outcome, verdict, effect size, seed sd, the per-dataset Δ and p_holm, the outcome per seed;
* ``costs.csv`` — per model: training steps and wall seconds, evaluation wall seconds over its cells;
* ``leaderboard.md`` — the wide table of the primary measure (datasets as columns plus a mean column,
  best value of each column in bold, † / ‡ = significantly better / worse than the row's baseline after
  Holm, ± sd over seeds, the row's encoding), the claims, the datasets (sizes, relevance threshold), the
  pairwise comparisons, the cost table and notes.
"""

from __future__ import annotations

from typing import Any

from benchmarks.claims import ClaimResult, claims_csv, dataset_mark, format_mean_sd
from benchmarks.leaderboard import (
    COST_COLUMNS,
    CSV_COLUMNS,
    PER_SEED,
    SEED_COLUMNS,
    SIGNIFICANCE_COLUMNS,
    SIGNIFICANCE_SEED_COLUMNS,
    SINGLE,
    to_csv,
)
from benchmarks.report.model import Entry, Report


def leaderboard_csv(report: Report) -> str:
    return to_csv(report.rows, CSV_COLUMNS + (SEED_COLUMNS if report.has_seeds else ()))


def significance_csv(report: Report) -> str:
    """The comparisons' tests; with seed replicates, the per-seed tests after them and the seed columns."""
    seeded = any(r["scores"] != SINGLE for r in report.comparisons)
    return to_csv(report.comparisons + report.seed_comparisons,
                  SIGNIFICANCE_COLUMNS + (SIGNIFICANCE_SEED_COLUMNS if seeded else ()))


def report_claims_csv(report: Report) -> str:
    return claims_csv(report.claims)


def costs_csv(report: Report) -> str:
    return to_csv(report.costs, COST_COLUMNS)


def entry_markdown(e: Entry | None) -> str:
    if e is None:
        return "—"
    text = f"**{e.number}**" if e.best else e.number
    return text + e.mark + e.spread


def cost_cells(r: dict[str, Any], n_datasets: int) -> list[str]:
    """One cost row as printed (Markdown and HTML): steps, training s, evaluation s, cells, total s."""
    steps = "—" if r["train_steps"] is None else str(r["train_steps"])
    train = "—" if r["train_seconds"] is None else f"{r['train_seconds']:.1f}"
    return [steps, train, f"{r['eval_seconds']:.1f}", f"{r['eval_cells']}/{n_datasets}", f"{r['total_seconds']:.1f}"]


DATASET_HEADER = ("dataset", "split", "mode", "queries", "subsampled", "relevant at grade ≥")
DATASET_NOTE = ("*relevant at grade ≥*: the relevance threshold, the grade from which the binary measures "
                "(MAP, Recall, MRR, P) count a document relevant, as each cell's `metrics.json` records it; "
                "nDCG uses the grades themselves.")


def dataset_cells(row: tuple[str, str, str, int, bool, str]) -> list[str]:
    """One row of the Datasets table as printed (Markdown and HTML), from :meth:`Report.dataset_rows`."""
    d, split, mode, n, sub, threshold = row
    return [d, split, mode, str(n), "yes" if sub else "no", threshold]


COST_TITLE = "Cost (wall seconds on the machine of the run; see `manifest.json`)"
COST_HEADER = ("model", "training steps", "training (s)", "evaluation (s)", "cells", "total (s)")
PAIR_HEADER = ("model", "baseline", "dataset", "model", "baseline", "Δ", "p (t)", "p (rand.)", "p_holm (rand.)")


def pair_cells(r: dict[str, Any]) -> list[str]:
    """One row of the pairwise-comparisons table as printed (Markdown and HTML)."""
    return [r["model"], r["baseline"], r["dataset"], f"{r['value']:.4f}", f"{r['baseline_value']:.4f}",
            f"{r['mean_diff']:+.4f}", f"{r['p_ttest']:.4g}", f"{r['p_randomization']:.4g}",
            f"{r['p_randomization_holm']:.4g}"]


CLAIM_HEADER = ("claim", "model", "baseline", "verdict", "outcome (W/L of D)", "mean Δ", "model mean",
                "baseline mean", "Δ per dataset", "outcome per seed")


def claims_legend(report: Report) -> str:
    return (f"Each claim is judged by the rule fixed before these results (`benchmarks/claims.py`): on "
            f"{report.measure}, per dataset the test of the pairwise comparisons ({report.test_description}, "
            f"Holm across the datasets of the pair, p_holm < {report.alpha}); W / L = datasets where the "
            "model is significantly better / worse, D = datasets tested. *better*: no L and W a majority of D; "
            "*worse*: the reverse; *level*: neither; *leaning*: some, fewer than a majority; *mixed*: both. "
            "*beats* holds only if better; *matches* holds if no dataset is worse. *mean Δ*: model − baseline "
            "averaged over the datasets. ± : sd over seeds of a row's mean over the datasets. † / ‡: "
            "significantly better / worse on that dataset. *outcome per seed*: the same rule on each seed's "
            "own tests.")


def claim_cells(r: ClaimResult) -> list[str]:
    """One row of the Claims table as printed (Markdown and HTML)."""
    c = r.claim
    return [c.label or f"{c.model} {c.claim} {c.baseline}", c.model, f"{c.claim} {c.baseline}", r.verdict,
            f"{r.outcome} ({r.wins}/{r.losses} of {len(r.tests)})", f"{r.mean_delta:+.4f}" if r.tests else "—",
            format_mean_sd(r.model_mean, r.model_seed_sd) if r.tests else "—",
            format_mean_sd(r.baseline_mean, r.baseline_seed_sd) if r.tests else "—",
            ", ".join(f"{t.dataset} {dataset_mark(t, r.alpha)}" for t in r.tests) or "—",
            "; ".join(f"{s}: {o}" for s, o in r.per_seed.items()) or "—"]


def legend(report: Report) -> str:
    text = (f"† / ‡: significantly better / worse than the row's baseline (column *vs*), {report.test_description}, "
            f"Holm–Bonferroni across the datasets of each row, p_holm < {report.alpha}. "
            "Bold: best value in the column. *mean*: mean over the datasets (only for rows with all of them). "
            "*encoding*: the encoding backend and precision of the evaluation · its maximum input length in "
            "tokens (∞: no limit), from each cell's `metrics.json`; ? where the record does not say (cells "
            "evaluated before it was recorded), *varies* where the row's datasets differ. "
            "All p-values, both tests and 95% t-intervals of the mean per-query score are in `leaderboard.csv`.")
    if report.has_seeds:
        by_count: dict[int, list[str]] = {}
        for model, n in report.seed_counts().items():
            by_count.setdefault(n, []).append(model)
        counts = "; ".join(f"{n} seeds: {', '.join(models)}" for n, models in sorted(by_count.items(), reverse=True))
        text += (" ± : sample standard deviation (n − 1) over a row's seed replicates (`cells/<row>@seed<N>`; "
                 f"{counts}); the value is their mean. The significance tests and intervals of these rows use "
                 "per-query scores averaged over their seeds.")
        if report.seed_comparisons:
            text += f" `significance.csv` also keeps a test per seed (rows with `scores` = `{PER_SEED}`)."
    return text


def markdown(report: Report) -> str:
    suite = report.suite
    lines = [f"# Leaderboard: suite `{suite.name}`", ""]
    if suite.description:
        lines += [suite.description.strip(), ""]
    lines += [legend(report), ""]
    for measure in [report.measure]:
        lines += [f"## {measure}", ""]
        lines.append("| " + " | ".join(["model", "variant", "vs", *report.datasets, "mean", "encoding"]) + " |")
        lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(report.datasets) + 1) + ["---"]) + "|")
        for row in report.score_table(measure):
            cells = [entry_markdown(e) for e in row.entries]
            lines.append("| " + " | ".join([row.model, row.variant, row.vs, *cells, entry_markdown(row.mean),
                                            row.encoding]) + " |")
        lines.append("")
    if report.claims:
        lines += [f"## Claims ({report.measure})", "", claims_legend(report), "",
                  "| " + " | ".join(CLAIM_HEADER) + " |", "|---|---|---|---|---|---:|---:|---:|---|---|"]
        lines += ["| " + " | ".join(claim_cells(r)) + " |" for r in report.claims]
        lines.append("")
    lines += ["## Datasets", "", DATASET_NOTE, "", "| " + " | ".join(DATASET_HEADER) + " |",
              "|---|---|---|---:|---|---:|"]
    lines += ["| " + " | ".join(dataset_cells(r)) + " |" for r in report.dataset_rows()]
    lines.append("")
    comp = [r for r in report.comparisons if r["measure"] == report.measure]
    if report.comparisons:
        lines += [f"## Pairwise comparisons ({report.measure})", "",
                  "| " + " | ".join(PAIR_HEADER) + " |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join(pair_cells(r)) + " |" for r in comp]
        lines.append("")
    if report.costs:
        lines += [f"## {COST_TITLE}", "", "| " + " | ".join(COST_HEADER) + " |", "|---|---:|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join([r["model"], *cost_cells(r, len(report.datasets))]) + " |" for r in report.costs]
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    return "\n".join(lines)
