"""Where target queries come from, and the query pool the anchored strategy draws sources from.

A query source is a dataset name or folder (its BEIR ``queries.jsonl``, e.g. ``msmarco-dev-queries``)
or a user file: ``.tsv`` (``id<TAB>text`` per line, an optional ``id<TAB>text`` header) or ``.jsonl``
(``_id``/``id``/``query_id`` and ``text``/``query``). Every source passes through the evaluation-query
guard (:func:`synrank.data.leakage.evaluation_guard`) before anything is generated.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from synrank.data import leakage
from synrank.data.beir import read_queries
from synrank.data.registry import QUERIES_FILE, layout_file, resolve_dataset
from synrank.data.values import id_problem, is_blank
from synrank.errors import DatasetError, show
from synrank.io import iter_jsonl_records
from synrank.provenance import portable_path

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

#: Function words and question scaffolding; everything else is a content word.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself s t don isn aren doesn
didn wasn weren won wouldn shouldn couldn can't what's who's it's whats does much many also get got
define definition meaning mean means called call name
""".split())  # noqa: SIM905


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, internal apostrophe kept)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """Tokens that are not stop words or question scaffolding, in order, duplicates kept."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def _check_query(qid: str, text: str, path: Path, lineno: int) -> None:
    """The rules of :mod:`synrank.data.values`, so that no group is generated that training would refuse."""
    problem = id_problem(qid)
    if problem is not None:
        raise DatasetError(f"query id {show(qid)} {problem}", path, lineno)
    if is_blank(text):
        raise DatasetError(f"empty query text for {show(qid)}", path, lineno)


def _read_tsv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise DatasetError("expected 'id<TAB>text'", path, lineno, hint="one query per line, tab-separated")
            qid, text = row[0].strip(), "\t".join(row[1:]).strip()
            if lineno == 1 and qid.lower() in ("id", "qid", "query_id", "_id") and text.lower() in ("text", "query"):
                continue
            _check_query(qid, text, path, lineno)
            if qid in out:
                raise DatasetError(f"duplicate query id {qid!r}", path, lineno)
            out[qid] = text
    return out


def _read_jsonl(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, rec in iter_jsonl_records(path):
        qid = next((rec[k] for k in ("_id", "id", "query_id", "qid") if k in rec), None)
        text = next((rec[k] for k in ("text", "query") if k in rec), None)
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not isinstance(text, str):
            raise DatasetError("needs an id (_id/id/query_id/qid: a string) and a text (text/query)", path, lineno)
        qid = str(qid)
        _check_query(qid, text, path, lineno)
        if qid in out:
            raise DatasetError(f"duplicate query id {qid!r}", path, lineno)
        out[qid] = text.strip()
    return out


def load_queries(source: str | Path) -> tuple[dict[str, str], str]:
    """``({query_id: text}, description)`` from a dataset name/folder or a .tsv/.jsonl file."""
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix == ".tsv":
            queries = _read_tsv(path)
        elif path.suffix in (".jsonl", ".json"):
            queries = _read_jsonl(path)
        else:
            raise DatasetError("unknown query file type", path, hint="use .tsv (id<TAB>text) or .jsonl")
        desc = portable_path(path)
    else:
        folder = resolve_dataset(str(source), download=False)
        queries_path = layout_file(folder, QUERIES_FILE)
        queries, _ = read_queries(queries_path)
        desc = f"{source} ({portable_path(queries_path)})"
    if not queries:
        raise DatasetError("no queries", path)
    return queries, desc


def guarded(queries: dict[str, str], guard=None) -> tuple[dict[str, str], int]:
    """Drop every evaluation query; returns the clean queries and how many were removed."""
    if guard is None:
        guard = leakage.evaluation_guard()
    clean = guard.filter(queries)
    return clean, len(queries) - len(clean)
