"""Data of the report's per-query drill-down: per-query scores, query texts, top documents with grades.

For every pair the report offers (:meth:`Report.pairs`: the suite's comparisons and each row against
its baseline) and every dataset, the page needs each model's per-query score of the primary measure
(averaged over seed replicates, as the tests use them), the query texts, and each model's top
documents with their relevance grades. Scores come from ``per_query.tsv``; rankings from each cell's
``run.trec.gz`` (the first replicate's, when a row has several); texts and grades from the dataset
(queries, qrels and only the needed corpus lines). Whatever is absent (a dataset not on this machine,
rankings not kept, as in committed results) is left out with a note the page shows; nothing fails.

Page size is bounded: documents (each model's ``TOP_DOCS`` and the ``JUDGED_DOCS`` best-graded judged
ones) are included only for the ``EXTREMES`` largest gains and ``EXTREMES`` largest losses of each
pair on each dataset, query texts are cut at ``QUERY_CHARS`` and document texts at ``DOC_CHARS``, and
each document's text is stored once per dataset.
"""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from benchmarks.report.model import Report
from synrank.data import load_dataset
from synrank.data.registry import DatasetInfo, dataset_info
from synrank.data.trec import read_run, sort_run_items
from synrank.errors import SynrankError
from synrank.io import open_binary, sha256_file
from synrank.records import RUN_FILE

logger = logging.getLogger(__name__)

TOP_DOCS = 5
JUDGED_DOCS = 3
EXTREMES = 15
QUERY_CHARS = 200
DOC_CHARS = 240


def _num(x: float | None) -> float | None:
    """A number for JSON: None for NaN (not representable)."""
    return None if x is None or math.isnan(x) else float(x)


def cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _recorded_checksums(report: Report, model: str, dataset: str) -> dict[str, str]:
    return dict(report.cells[(model, dataset)].first.dataset_checksums)


def _changed_files(info: DatasetInfo, recorded: dict[str, str]) -> list[str]:
    """Dataset files (queries, qrels) whose sha256 differs from what the run recorded; the corpus is
    not hashed again (it can be gigabytes), so its texts are shown as found."""
    out = []
    for rel, digest in recorded.items():
        if rel == "corpus.jsonl":
            continue
        path = info.path / rel
        if path.is_file() and sha256_file(path) != digest:
            out.append(rel)
    return out


def _doc_texts(path: Path, wanted: set[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    if not wanted:
        return texts
    with io.TextIOWrapper(open_binary(path), encoding="utf-8") as fh:  # plain or gzip (shipped datasets)
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            doc_id = str(rec.get("_id"))
            if doc_id in wanted:
                title, text = rec.get("title") or "", rec.get("text") or ""
                texts[doc_id] = cut(f"{title} — {text}" if title else text, DOC_CHARS)
                if len(texts) == len(wanted):
                    break
    return texts


def _top_docs(path: Path, qids: list[str], ignore_identical: bool) -> dict[str, list[str]]:
    """Each of ``qids``' first ``TOP_DOCS`` documents in a TREC run, in synrank's (trec_eval's) order;
    only those queries' lines are read."""
    run = read_run(path, queries=qids)
    return {q: [d for d, _ in sort_run_items(run.get(q, {})) if not (ignore_identical and d == q)][:TOP_DOCS]
            for q in qids}


def extreme_queries(scores: dict[str, list[float | None]], pairs: list[tuple[str, str]]) -> list[int]:
    """Indices of the ``EXTREMES`` largest gains and losses (Δ = a − b, ties by index) of every pair."""
    chosen: set[int] = set()
    for a, b in pairs:
        if a not in scores or b not in scores:
            continue
        deltas = [(x - y, i) for i, (x, y) in enumerate(zip(scores[a], scores[b], strict=True))
                  if x is not None and y is not None]
        gains = sorted((t for t in deltas if t[0] > 0), key=lambda t: (-t[0], t[1]))[:EXTREMES]
        losses = sorted((t for t in deltas if t[0] < 0), key=lambda t: (t[0], t[1]))[:EXTREMES]
        chosen.update(i for _, i in gains + losses)
    return sorted(chosen)


def drilldown_data(report: Report) -> dict[str, Any]:
    """Everything the drill-down script reads (JSON-serialisable, deterministic)."""
    measure = report.measure
    pairs = report.pairs()
    models = list(dict.fromkeys(m for p in pairs for m in (p.model, p.baseline)))
    specs = {d.key: d for d in report.suite.datasets}
    data: dict[str, Any] = {"measure": measure, "alpha": report.alpha, "top_docs": TOP_DOCS,
                            "judged_docs": JUDGED_DOCS, "pairs": [], "datasets": {}}
    for p in pairs:
        stats = {}
        for d in report.datasets:
            s = report.pair_stats(p, d)
            if s is not None:
                stats[d] = {"diff": _num(s["mean_diff"]), "p": _num(s["p"]), "p_holm": _num(s["p_holm"]),
                            "mark": report.mark(s["p_holm"], s["mean_diff"]), "a": _num(s["value"]),
                            "b": _num(s["baseline_value"])}
        data["pairs"].append({"a": p.model, "b": p.baseline, "kind": p.kind, "stats": stats})
    for d in report.datasets:
        present = [m for m in models if (m, d) in report.cells]
        if not present:
            continue
        ids: list[str] = []
        seen: set[str] = set()
        for m in present:
            for q in report.cells[(m, d)].per_query.get(measure, {}):
                if q not in seen:
                    seen.add(q)
                    ids.append(q)
        entry: dict[str, Any] = {"ids": ids, "scores": {}, "top": {}, "best": {}, "queries": None, "docs": {},
                                 "notes": [], "threshold": 1}
        for m in present:
            pq = report.cells[(m, d)].per_query.get(measure, {})
            entry["scores"][m] = [round(pq[q], 4) if q in pq else None for q in ids]
        chosen = extreme_queries(entry["scores"], [(p.model, p.baseline) for p in pairs])
        if len(chosen) < len(ids):
            entry["notes"].append(f"documents are shown for the {EXTREMES} largest gains and losses of each pair "
                                  f"({len(chosen)} of {len(ids)} queries)")
        _add_texts(report, d, specs.get(d), present, entry, chosen)
        data["datasets"][d] = entry
    return data


def _add_texts(report: Report, d: str, spec, present: list[str], entry: dict[str, Any], chosen: list[int]) -> None:
    """Query texts (all), and for the ``chosen`` query indices each model's top documents and the best
    judged ones, with grades and texts. Keys of ``top[model]`` and ``best`` are query indices."""
    ids = entry["ids"]
    notes = entry["notes"]
    try:
        if spec is None:
            raise SynrankError(f"dataset {d!r} is not in the suite file")
        info = dataset_info(spec.name)
        split = report.cells[(present[0], d)].first.split or spec.split
        data = load_dataset(info, split=split, corpus=False)
    except SynrankError as exc:
        notes.append(f"query and document texts left out: {exc}")
        info = data = None
    runs: dict[str, Path] = {}
    for m in present if report.rankings else []:  # without: exactly the page a clone's rankings-less folder gives
        path = report.results / "cells" / report.cells[(m, d)].replicates[0] / d / RUN_FILE
        if path.is_file():
            runs[m] = path
    missing = [m for m in present if m not in runs]
    if missing:
        notes.append(f"rankings ({RUN_FILE}) not in the results folder for {len(missing)} of {len(present)} "
                     "models (committed results leave them out); their top documents are not shown")
    qrels = data.qrels if data is not None else {}
    wanted: set[str] = set()
    chosen_ids = [ids[i] for i in chosen]
    for m, path in runs.items():
        try:
            top = _top_docs(path, chosen_ids, bool(info and info.ignore_identical_ids))
        except SynrankError as exc:
            notes.append(f"{m}: {exc}")
            continue
        entry["top"][m] = {str(i): [[doc, qrels.get(ids[i], {}).get(doc)] for doc in top[ids[i]]] for i in chosen}
        wanted.update(doc for docs in top.values() for doc in docs)
    if data is None or info is None:
        return
    entry["threshold"] = info.relevance_threshold
    changed = _changed_files(info, _recorded_checksums(report, present[0], d))
    if changed:
        notes.append(f"{', '.join(changed)} of {info.path.name} changed since the run (sha256 differs): "
                     "texts and grades are today's")
    entry["queries"] = [cut(data.queries.get(q, ""), QUERY_CHARS) for q in ids]
    for i in chosen:
        judged = sorted(((g, doc) for doc, g in qrels.get(ids[i], {}).items() if g > 0), key=lambda x: (-x[0], x[1]))
        entry["best"][str(i)] = [[doc, g] for g, doc in judged[:JUDGED_DOCS]]
        wanted.update(doc for _, doc in judged[:JUDGED_DOCS])
    if info.has_corpus:
        entry["docs"] = _doc_texts(info.corpus_path, wanted)
    else:
        notes.append("the dataset folder has no corpus.jsonl: document texts left out")
