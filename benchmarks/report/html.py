"""HTML renderer of a :class:`~benchmarks.report.model.Report`: ``report/index.html``.

One self-contained page (CSS, script, plots and data inline; no network, works from ``file://``):
the score table of the primary measure (and, folded, of every other measure), the plots, the pairwise
comparisons, the per-query drill-down, the cost table, the datasets and the provenance. Every table is
plain HTML that reads without JavaScript; the inline script (``assets/report.js``) only adds sorting and
draws the drill-down from the JSON embedded in the page. The output is deterministic: the same results
folder gives the same bytes (no dates of rendering, sorted data).
"""

from __future__ import annotations

import base64
import json
import math
from html import escape
from pathlib import Path
from typing import Any

from benchmarks.report.drilldown import drilldown_data
from benchmarks.report.model import Entry, Pair, Report, TableRow
from benchmarks.report.text import (
    CLAIM_HEADER,
    COST_HEADER,
    DATASET_HEADER,
    DATASET_NOTE,
    PAIR_HEADER,
    claim_cells,
    claims_legend,
    cost_cells,
    dataset_cells,
    legend,
    pair_cells,
)

ASSETS = Path(__file__).resolve().parent / "assets"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Invocations listed in the provenance section (newest last).
MAX_INVOCATIONS = 12


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _md_inline(text: str) -> str:
    """The legend's few Markdown marks (``*x*``, ```x```) as HTML."""
    out, code, em = [], False, False
    for ch in escape(text, quote=False):
        if ch == "`":
            out.append("</code>" if code else "<code>")
            code = not code
        elif ch == "*" and not code:
            out.append("</em>" if em else "<em>")
            em = not em
        else:
            out.append(ch)
    return "".join(out)


def project_path(path: str | None) -> str:
    """A path as shown on the page: relative to the repository when inside it (no machine paths)."""
    if not path:
        return ""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    if p.is_relative_to(REPO_ROOT):
        return str(p.relative_to(REPO_ROOT))
    if "benchmarks" in p.parts:  # another checkout of this repository
        return "/".join(p.parts[len(p.parts) - 1 - p.parts[::-1].index("benchmarks"):])
    return p.name


# ---------------------------------------------------------------------------------------------------
# Score tables
# ---------------------------------------------------------------------------------------------------

def _entry_td(e: Entry | None, row: TableRow, column: str) -> str:
    if e is None:
        return '<td class="num missing" data-sort="">—</td>'
    classes = ["num"]
    if e.best:
        classes.append("best")
    if e.mark:
        classes.append("better" if e.mark == "†" else "worse")
    tip = [f"{row.model} on {column}: {e.value:.6f}"]
    if e.ci is not None:
        tip.append(f"95% t-interval [{e.ci[0]:.4f}, {e.ci[1]:.4f}]")
    if e.mean_diff is not None and not math.isnan(e.mean_diff) and row.vs != "—":
        tip.append(f"vs {row.vs}: Δ {e.mean_diff:+.4f}, p_holm {e.p_holm:.3g}")
    if e.seed_values:
        tip.append("seeds: " + ", ".join(f"{v:.4f}" for v in e.seed_values))
    number = f"<b>{e.number}</b>" if e.best else e.number
    mark = f'<span class="mark">{e.mark}</span>' if e.mark else ""
    spread = f'<span class="sd">{_e(e.spread)}</span>' if e.spread else ""
    return (f'<td class="{" ".join(classes)}" data-sort="{e.value!r}" title="{_e("; ".join(tip))}">'
            f"{number}{mark}{spread}</td>")


def score_table_html(report: Report, measure: str, table_id: str | None) -> str:
    table = report.score_table(measure)
    head = ['<th data-key="model">model</th>', '<th data-key="variant">variant</th>', '<th data-key="vs">vs</th>']
    head += [f'<th class="num" data-key="{_e(d)}">{_e(d)}</th>' for d in report.datasets]
    head.append('<th class="num" data-key="mean">mean</th>')
    head.append('<th data-key="encoding">encoding</th>')
    body = []
    for row in table:
        cells = [f'<td class="model">{_e(row.model)}</td>', f"<td>{_e(row.variant)}</td>", f"<td>{_e(row.vs)}</td>"]
        cells += [_entry_td(e, row, d) for e, d in zip(row.entries, report.datasets, strict=True)]
        cells.append(_entry_td(row.mean, row, "mean"))
        cells.append(f'<td class="encoding">{_e(row.encoding)}</td>')
        body.append(f'<tr data-model="{_e(row.model)}">' + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (f'<div class="scroll"><table class="board sortable"{ident} data-measure="{_e(measure)}">'
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


def _leaderboard_section(report: Report) -> str:
    parts = [f'<section id="leaderboard"><h2>{_e(report.measure)}</h2>',
             f'<p class="legend">{_md_inline(legend(report))} Baseline of the suite: '
             f"<code>{_e(report.suite.baseline)}</code>; column <em>vs</em> names each row's own. "
             "Click a column header to sort; hover a number for its interval and p-value.</p>",
             score_table_html(report, report.measure, "board")]
    others = [m for m in report.suite.measures if m != report.measure]
    if others:
        parts.append("<details><summary>Other measures: " + _e(", ".join(others)) + "</summary>")
        for m in others:
            parts.append(f"<h3>{_e(m)}</h3>" + score_table_html(report, m, None))
        parts.append("</details>")
    parts.append("</section>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------
# Plots, comparisons, drill-down
# ---------------------------------------------------------------------------------------------------

def _img(name: str, data: bytes, alt: str) -> str:
    mime = "image/svg+xml" if name.endswith(".svg") else "image/png"
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{_e(alt)}">'


def _plots_section(report: Report, images: dict[str, bytes]) -> str:
    def pick(stem: str) -> tuple[str, bytes] | None:
        for ext in ("svg", "png"):
            if f"plots/{stem}.{ext}" in images:
                return f"plots/{stem}.{ext}", images[f"plots/{stem}.{ext}"]
        return None

    parts = ['<section id="plots"><h2>Plots</h2>']
    overview = pick("overview")
    if overview is None:
        parts.append('<p class="note">No plots were rendered with this page.</p></section>')
        return "\n".join(parts)
    parts.append(f"<figure>{_img(*overview, alt=f'{report.measure} per dataset, all rows')}<figcaption>"
                 f"Overview ({_e(overview[0])}; PNG and SVG of every plot are in <code>plots/</code>).</figcaption></figure>")
    parts.append('<details><summary>One plot per dataset</summary><div class="plots-grid">')
    for d in report.datasets:
        found = pick(d)
        if found:
            parts.append(f"<figure>{_img(*found, alt=f'{report.measure} on {d}')}"
                         f"<figcaption>{_e(found[0])}</figcaption></figure>")
    parts.append("</div></details></section>")
    return "\n".join(parts)


def _pair_table(report: Report, pairs: list[Pair]) -> str:
    head = "<tr><th>model</th><th>baseline</th>" + "".join(
        f'<th class="num" data-key="{_e(d)}">{_e(d)}</th>' for d in report.datasets) + "</tr>"
    body = []
    for p in pairs:
        cells = [f'<td class="model">{_e(p.model)}</td>', f"<td>{_e(p.baseline)}</td>"]
        for d in report.datasets:
            s = report.pair_stats(p, d)
            if s is None:
                cells.append('<td class="num missing" data-sort="">—</td>')
                continue
            mark = report.mark(s["p_holm"], s["mean_diff"])
            cls = "num" + (" better" if mark == "†" else " worse" if mark == "‡" else "")
            spec = _e(f"{p.model}/{p.baseline}/{d}")
            tip = _e(f"{s['value']:.4f} vs {s['baseline_value']:.4f}; p {s['p']:.4g}, p_holm {s['p_holm']:.4g}")
            mark_html = f'<span class="mark">{mark}</span>' if mark else ""
            cells.append(f'<td class="{cls}" data-sort="{s["mean_diff"]!r}" title="{tip}">'
                         f'<a href="#drill={spec}" data-drill="{spec}">{s["mean_diff"]:+.4f}</a>{mark_html}'
                         f'<br><span class="sd">p_holm {s["p_holm"]:.3g}</span></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="pairs sortable"><thead>' + head + "</thead><tbody>\n"
            + "\n".join(body) + "\n</tbody></table></div>")


def _claims_section(report: Report) -> str:
    if not report.claims:
        return ""
    rows = [claim_cells(r) for r in report.claims]
    return (f'<section id="claims"><h2>Claims ({_e(report.measure)})</h2>'
            f'<p class="legend">{_md_inline(claims_legend(report))}</p>'
            + _simple_table(CLAIM_HEADER, rows, 99) + "</section>")


def _comparisons_section(report: Report) -> str:
    pairs = report.pairs()
    suite_pairs = [p for p in pairs if p.kind == "comparison"]
    own = [p for p in pairs if p.kind == "baseline"]
    parts = ['<section id="comparisons"><h2>Pairwise comparisons</h2>',
             f'<p class="legend">Δ = model − baseline in mean {_e(report.measure)}; † / ‡ where p_holm &lt; '
             f"{report.alpha} ({_e(report.test_description)}; Holm across the datasets of each pair). "
             "Click a Δ to open that pair and dataset in the drill-down.</p>"]
    if suite_pairs:
        parts += ["<h3>The suite's comparisons</h3>", _pair_table(report, suite_pairs)]
        comp = [r for r in report.comparisons if r["measure"] == report.measure]
        if comp:
            parts.append("<details><summary>The same as a long table (both tests)</summary>"
                         '<div class="scroll"><table class="sortable"><thead><tr>'
                         + "".join(f'<th{" class=num" if i >= 3 else ""}>{_e(h)}</th>' for i, h in enumerate(PAIR_HEADER))
                         + "</tr></thead><tbody>\n"
                         + "\n".join("<tr>" + "".join(f'<td{" class=num" if i >= 3 else ""}>{_e(c)}</td>'
                                                      for i, c in enumerate(pair_cells(r))) + "</tr>" for r in comp)
                         + "\n</tbody></table></div></details>")
    if own:
        parts += ["<h3>Each row against its own baseline</h3>", _pair_table(report, own)]
    parts.append("</section>")
    return "\n".join(parts)


def _drill_section(report: Report) -> str:
    pairs = report.pairs()
    options = "".join(f'<option value="{i}">{_e(p.model)} vs {_e(p.baseline)}'
                      f'{" (comparison)" if p.kind == "comparison" else ""}</option>' for i, p in enumerate(pairs))
    ds_options = "".join(f'<option value="{_e(d)}">{_e(d)}</option>' for d in report.datasets)
    return f"""<section id="drill"><h2>Per-query drill-down</h2>
<p class="legend">For a pair of rows and a dataset: every query's {_e(report.measure)} under both and the
difference Δ = A − B, sorted from the largest gain to the largest loss. Open a query for its text, the
top documents of each model with their relevance grades (gN; n/j = not judged) and the best judged
documents. Pairs offered: the suite's comparisons and each row against its baseline.</p>
<noscript><p class="note">The drill-down is drawn by the page's script; without JavaScript, the per-query
scores are in <code>cells/&lt;model&gt;/&lt;dataset&gt;/per_query.tsv</code>.</p></noscript>
<div id="drill-app" hidden>
<form class="controls" onsubmit="return false"><label>Pair <select id="drill-pair">{options}</select></label>
<label>Dataset <select id="drill-dataset">{ds_options}</select></label></form>
<p id="drill-summary"></p><ul id="drill-notes" class="note"></ul><div id="drill-chart"></div>
<table id="drill-table" class="drill"><colgroup><col class="rank"><col><col class="score"><col class="score"><col class="score"></colgroup>
<thead><tr><th class="num">#</th><th>query</th><th class="num" id="drill-col-a">A</th><th class="num" id="drill-col-b">B</th><th class="num">Δ</th></tr></thead>
<tbody></tbody></table></div></section>"""


# ---------------------------------------------------------------------------------------------------
# Costs, datasets, provenance
# ---------------------------------------------------------------------------------------------------

def _simple_table(header: list[str] | tuple[str, ...], rows: list[list[str]], numeric_from: int,
                  sortable: bool = True) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag}{" class=num" if i >= numeric_from else ""}>{_e(text)}</{tag}>'

    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{cls}><thead><tr>' + "".join(cell("th", i, h) for i, h in enumerate(header))
            + "</tr></thead><tbody>\n" + "\n".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r))
                                                   + "</tr>" for r in rows) + "\n</tbody></table></div>")


def _costs_section(report: Report) -> str:
    if not report.costs:
        return ""
    rows = [[r["model"], *cost_cells(r, len(report.datasets))] for r in report.costs]
    return ('<section id="costs"><h2>Cost</h2><p class="legend">Wall seconds on the machine of the run '
            "(see Provenance); evaluation seconds are each cell's own, also for cells reused from the cache.</p>"
            + _simple_table(COST_HEADER, rows, 1) + "</section>")


def _datasets_section(report: Report) -> str:
    rows = [dataset_cells(r) for r in report.dataset_rows()]
    parts = ['<section id="datasets"><h2>Datasets</h2>', f'<p class="legend">{_md_inline(DATASET_NOTE)}</p>',
             _simple_table(DATASET_HEADER, rows, 3, sortable=False)]
    if report.notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _kv(items: list[tuple[str, Any]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items
                                       if v not in (None, "", {})) + "</dl>"


def _provenance_section(report: Report) -> str:
    m = report.manifest
    parts = ['<section id="provenance"><h2>Provenance</h2>']
    if m is None:
        parts.append('<p class="note">No manifest.json in the results folder.</p></section>')
        return "\n".join(parts)
    invocations = m.invocations
    parts.append(_kv([("git commit of the last run", m.git_commit), ("manifest written (UTC)", m.created_utc),
                      ("suite config hash", m.suite_hash), ("invocations", len(invocations)),
                      ("cells recorded", len(m.cells)),
                      ("seconds in cells / training", f"{m.timings.get('cells_seconds_total')} / "
                                                      f"{m.timings.get('training_seconds_total')}")]))
    seeds = m.seeds
    parts.append("<h3>Seeds</h3>" + _kv([("significance tests", seeds.get("significance")),
                                         ("query subsamples", json.dumps(seeds.get("subsample") or {}, sort_keys=True)),
                                         ("training", json.dumps(seeds.get("training") or {}, sort_keys=True))]))
    parts.append("<h3>Environment</h3>" + _kv(sorted(m.versions.items())) + _kv(sorted(m.hardware.items())))
    if m.dataset_sha256:
        parts.append("<h3>Datasets (sha256 of the files read)</h3>" + _kv(sorted(m.dataset_sha256.items())))
    if m.training:
        parts.append("<h3>Training runs</h3>" + _simple_table(
            ["model", "config hash", "seconds", "seed", "max steps", "finished (UTC)", "config"],
            [[t.model, t.config_hash, f"{t.seconds or 0:.1f}", str(t.seed), str(t.max_steps), t.finished_utc or "",
              project_path(t.config_source)] for t in m.training], 2))
    if invocations:
        shown = invocations[-MAX_INVOCATIONS:]
        parts.append(f"<h3>Invocations (last {len(shown)} of {len(invocations)})</h3>" + _simple_table(
            ["started (UTC)", "arguments", "wall (s)", "computed", "cached", "failed", "trained"],
            [[i.started_utc, " ".join(str(a) for a in (i.argv or [])), f"{i.wall_seconds or 0:.1f}", str(i.computed),
              str(i.cached), str(i.failed), str(i.trained)] for i in shown], 2, sortable=False))
    if m.suite:
        parts.append("<details><summary>Suite configuration as run</summary><pre>"
                     + _e(json.dumps(m.suite, indent=1, sort_keys=False)) + "</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------

def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no NaN (not JSON), and no "<" that could end or comment the element."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def results_label(report: Report) -> str:
    """The results folder as shown: ``results/<name>`` (where it lives on this machine is not shown)."""
    folder = report.results.resolve()
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name == "results" else folder.name


def render_html(report: Report, images: dict[str, bytes]) -> str:
    suite = report.suite
    m = report.manifest
    css = (ASSETS / "report.css").read_text("utf-8")
    script = (ASSETS / "report.js").read_text("utf-8")
    data = drilldown_data(report)
    commit = str(m.git_commit or "")[:12] if m is not None else ""
    n_rows = len(report.score_table())
    meta = (f"Results <code>{_e(results_label(report))}</code> · {n_rows} rows × {len(report.datasets)} datasets · "
            f"primary measure {_e(report.measure)} · significance: {_e(report.test_short)}, α = {report.alpha}"
            + (f" · last run at commit <code>{_e(commit)}</code>, manifest {_e(m.created_utc)}" if m is not None else ""))
    sections = (("leaderboard", "Scores"), ("plots", "Plots"), ("claims", "Claims"), ("comparisons", "Comparisons"),
                ("drill", "Per-query"), ("costs", "Cost"), ("datasets", "Datasets"), ("provenance", "Provenance"))
    nav = "".join(f'<a href="#{s}">{t}</a>' for s, t in sections if s != "claims" or report.claims)
    body = [_leaderboard_section(report), _plots_section(report, images), _claims_section(report),
            _comparisons_section(report),
            _drill_section(report), _costs_section(report), _datasets_section(report), _provenance_section(report)]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="synrank benchmarks.report">
<title>synrank · suite {_e(suite.name)}</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>Suite <code>{_e(suite.name)}</code></h1>
{f'<p>{_e(suite.description.strip())}</p>' if suite.description else ''}
<p class="meta">{meta}</p>
<nav>{nav}</nav>
</header>
<main>
{chr(10).join(p for p in body if p)}
</main>
<footer><p class="note">Written by <code>python -m benchmarks.report --suite {_e(suite.name)}</code> (also at the end of
<code>python -m benchmarks.run</code>) from the results folder alone; the same rows as <code>leaderboard.csv</code> and
<code>leaderboard.md</code>. Self-contained: no network access.</p></footer>
<script type="application/json" id="report-data">{_json_for_script(data)}</script>
<script>
{script}</script>
</body>
</html>
"""
