"""Import SyCL's published synthetic data into synrank groups.

SyCL (Esfandiarpoor et al., 2025; github.com/BatsResearch/sycl) publishes its multi-level data on the
Hugging Face hub as ``BatsResearch/sycl``; its training configs (``data_configs/synth_multilevel.json``)
read it in BEIR layout: ``llama33_70b/corpus.jsonl`` (the generated passages), ``llama33_70b/qrels/train.tsv``
(``query-id, corpus-id, score`` with score = relevance level) and MS MARCO's ``queries.jsonl``
(``mteb/msmarco``). Two inputs are accepted:

1. **BEIR layout** — a folder with ``corpus.jsonl`` and ``qrels/train.tsv`` (``qrels/*.tsv``), plus
   ``queries.jsonl`` in it or given with ``queries=`` (the MS MARCO queries file);
2. **grouped JSONL** (``.jsonl``/``.jsonl.gz``) — one query per line: ``query`` (or ``text``), an id
   (``query_id``/``qid``/``_id``/``id``; the line number otherwise) and passages either as
   ``{"3": "..." | [...], "2": ..., ...}`` under ``passages``/``docs``/``levels``, or as a list of
   ``{"text", "score"|"grade"|"relevance"|"level"}``.

Evaluation queries are dropped (leakage guard) unless ``guard=False``. Output: gzip JSONL groups.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synrank.data import leakage
from synrank.data.groups import GROUPS_SCHEMA, parse_group
from synrank.errors import DatasetError
from synrank.io import atomic_write_gzip_text, iter_jsonl_records
from synrank.synthetic.query_sources import load_queries

_GRADE_KEYS = ("score", "grade", "relevance", "level", "label")
_PASSAGE_KEYS = ("passages", "docs", "documents", "levels")


def _int_grade(value: Any, path: Path, lineno: int) -> int:
    try:
        g = int(float(value))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"relevance level {value!r} is not a number", path, lineno) from exc
    if g < 0:
        raise DatasetError(f"negative relevance level {g}", path, lineno)
    return g


def _passage_text(p: Any) -> str | None:
    if isinstance(p, str):
        return p
    if isinstance(p, dict):
        title, text = p.get("title") or "", p.get("text") or p.get("passage") or p.get("contents") or ""
        return f"{title} {text}".strip() if title and text else (text or title)
    return None


def _grouped_jsonl(path: Path, seen: dict[str, tuple[Path, int]] | None = None) -> Iterator[dict[str, Any]]:
    """Groups of one grouped-JSONL file; ``seen`` (query id → file, line) spans the files of one import."""
    seen = {} if seen is None else seen
    for lineno, rec in iter_jsonl_records(path):
        query = rec.get("query") if isinstance(rec.get("query"), str) else rec.get("text")
        if not isinstance(query, str) or not query.strip():
            raise DatasetError("no query text ('query' or 'text')", path, lineno)
        qid = str(next((rec[k] for k in ("query_id", "qid", "_id", "id") if k in rec), f"{path.stem}:{lineno}"))
        first = seen.get(qid)
        if first is not None:
            where = f"line {first[1]}" if first[0] == path else f"{first[0]}:{first[1]}"
            # the trainer refuses repeated query ids; say so here, at the line that repeats it
            raise DatasetError(f"query id {qid!r} already imported from {where}", path, lineno,
                               hint="one line per query with all its passages: merge the two lines or remove one")
        seen[qid] = (path, lineno)
        raw = next((rec[k] for k in _PASSAGE_KEYS if k in rec), None)
        passages = []
        if isinstance(raw, dict):
            for level, items in raw.items():
                grade = _int_grade(level, path, lineno)
                for item in items if isinstance(items, list) else [items]:
                    text = _passage_text(item)
                    if text and text.strip():
                        passages.append({"text": text.strip(), "grade": grade})
        elif isinstance(raw, list):
            for item in raw:
                gkey = next((k for k in _GRADE_KEYS if isinstance(item, dict) and k in item), None)
                text = _passage_text(item)
                if gkey is None or not text:
                    raise DatasetError("each passage needs a text and a level (score/grade/relevance/level)",
                                       path, lineno)
                passages.append({"text": text.strip(), "grade": _int_grade(item[gkey], path, lineno)})
        else:
            raise DatasetError(f"no passages (one of {', '.join(_PASSAGE_KEYS)})", path, lineno)
        if not passages:
            raise DatasetError("no non-empty passages", path, lineno)
        group = {"query_id": qid, "query": query.strip(), "passages": passages}
        parse_group(group, path, lineno)  # the trainer's own rules (ids, grade range, blank texts), here
        yield group


def _beir(folder: Path, queries_path: Path | None) -> Iterator[dict[str, Any]]:
    corpus_path = next((p for p in (folder / "corpus.jsonl", folder / "corpus.jsonl.gz") if p.exists()), None)
    if corpus_path is None:
        raise DatasetError("no corpus.jsonl in the SyCL folder", folder)
    qrels_files = sorted((folder / "qrels").glob("*.tsv"))
    if not qrels_files:
        raise DatasetError("no qrels/*.tsv in the SyCL folder", folder)
    qp = queries_path or folder / "queries.jsonl"
    if not qp.exists():
        raise DatasetError("queries file not found", qp,
                           hint="pass the MS MARCO queries.jsonl SyCL used (mteb/msmarco) with --queries")
    queries, _ = load_queries(qp)
    qrels: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for qf in qrels_files:
        with open(qf, encoding="utf-8-sig", newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
                if not row or (lineno == 1 and not row[-1].lstrip("-").replace(".", "").isdigit()):
                    continue
                if len(row) < 3:
                    raise DatasetError("expected query-id, corpus-id, score", qf, lineno)
                qrels[row[0]].append((row[-2], _int_grade(row[-1], qf, lineno)))
    needed = {d for pairs in qrels.values() for d, _ in pairs}
    docs: dict[str, str] = {}
    for _, rec in iter_jsonl_records(corpus_path):
        did = str(rec.get("_id", rec.get("id")))
        if did in needed:
            docs[did] = _passage_text(rec) or ""
    for qid, pairs in qrels.items():
        if qid not in queries:
            raise DatasetError(f"query {qid!r} of the qrels is not in the queries file", qp)
        passages = []
        for did, grade in pairs:
            if did not in docs:
                raise DatasetError(f"qrels document {did!r} is not in the corpus", corpus_path)
            passages.append({"text": docs[did], "grade": grade, "doc_id": did})
        group = {"query_id": qid, "query": queries[qid], "passages": passages}
        parse_group(group, qp, None)  # the trainer's own rules, before anything is written
        yield group


def import_sycl(source: str | Path, out: str | Path, queries: str | Path | None = None, guard: bool = True,
                limit: int | None = None) -> dict[str, Any]:
    """Convert SyCL data at ``source`` into ``out`` (a ``.jsonl.gz`` file, or a folder → ``groups.jsonl.gz``)."""
    source, out = Path(source), Path(out)
    if source.is_dir() and (source / "qrels").is_dir():
        records = _beir(source, Path(queries) if queries else None)
        fmt = "beir"
    elif source.is_dir():
        files = sorted([*source.glob("*.jsonl"), *source.glob("*.jsonl.gz")])
        if not files:
            raise DatasetError("no SyCL .jsonl files (and no qrels/ folder) here", source)
        seen: dict[str, tuple[Path, int]] = {}
        records = (r for f in files for r in _grouped_jsonl(f, seen))
        fmt = "grouped-jsonl"
    elif source.is_file():
        records = _grouped_jsonl(source)
        fmt = "grouped-jsonl"
    else:
        raise DatasetError("SyCL input not found", source)
    is_eval = None
    if guard:
        is_eval = leakage.evaluation_guard().is_evaluation_query
    lines, skipped, n_pass = [], 0, 0
    for rec in records:
        if is_eval is not None and is_eval(rec["query"]):
            skipped += 1
            continue
        rec = {"schema": GROUPS_SCHEMA, **rec, "strategy": "sycl-import",
               "provenance": {"source": str(source), "format": fmt, "generator": "SyCL (Esfandiarpoor et al., 2025)"}}
        lines.append(json.dumps(rec, ensure_ascii=False))
        n_pass += len(rec["passages"])
        if limit is not None and len(lines) >= limit:
            break
    if not lines:
        raise DatasetError("nothing to import (no groups left)", source)
    target = out / "groups.jsonl.gz" if out.suffix != ".gz" else out
    atomic_write_gzip_text(target, "\n".join(lines) + "\n")
    return {"groups": len(lines), "passages": n_pass, "skipped_evaluation_queries": skipped, "output": str(target),
            "format": fmt}
