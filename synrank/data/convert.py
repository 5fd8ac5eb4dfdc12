"""Turn downloaded files into BEIR-layout folders.

Each function writes into a fresh work folder that the downloader renames into place as a whole
(:mod:`synrank.data.download`), so nothing here needs to be crash-safe on its own; files are still
written through :func:`synrank.io.atomic_open`. Every malformed input line is a located
:class:`~synrank.errors.DatasetError`.

- :func:`unpack_beir_zip`: a BEIR archive (one folder; CQADupStack: one folder per forum);
- :func:`tsv_queries_to_jsonl`, :func:`trec_qrels_to_beir`: TREC topic and qrels files;
- :func:`build_rankgpt_pool`: a TREC DL re-ranking pool (corpus, queries, qrels, BM25 run) from a
  RankGPT-style JSON run plus the official topics and qrels;
- :func:`from_ir_datasets`: any ``ir_datasets`` dataset (the package is optional and imported lazily;
  the tests use a stand-in with the same API).
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from synrank.data.folders import CORPUS_FILE, QRELS_DIR, QUERIES_FILE, RERANK_RUN_FILE, is_dataset_folder
from synrank.errors import DatasetError, SynrankError
from synrank.io import atomic_open

QRELS_HEADER = "query-id\tcorpus-id\tscore\n"
_WS = re.compile(r"\s+")
_GZIP_MAGIC = b"\x1f\x8b"


def _json_line(record: dict[str, Any]) -> str:
    # ensure_ascii=False: the texts stay readable (and byte-identical to the BEIR/shared copies)
    return json.dumps(record, ensure_ascii=False) + "\n"


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text without line end)`` of a UTF-8 file; gzip is detected by its magic bytes
    (a download keeps its URL's name only loosely)."""
    with open(path, "rb") as fh:
        packed = fh.read(2) == _GZIP_MAGIC
    lineno = 0
    try:
        with gzip.open(path, "rb") if packed else open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):  # noqa: B007 - reported on errors
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"invalid UTF-8 at byte {exc.start}", path, lineno) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"damaged gzip file ({exc})", path, lineno + 1) from None


# ----------------------------------------------------------------------------- archives

def unpack_beir_zip(archive: Path, name: str, work: Path, forums: Iterable[str] = ()) -> Path:
    """Extract a BEIR archive into ``work`` and return the dataset folder inside it.

    The archive holds ``<name>/`` (or the layout at its top level); with ``forums``, ``<name>/<forum>/``
    must be a BEIR folder for every forum.
    """
    unpacked = work / "unpacked"
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)  # zipfile drops absolute paths and '..' components
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"not a valid zip file ({exc})", archive) from exc
    root = unpacked / name if (unpacked / name).is_dir() else unpacked
    forums = list(forums)
    if forums:
        missing = [f for f in forums if not is_dataset_folder(root / f)]
        if missing:
            raise DatasetError(f"archive has no BEIR-layout folder for forum(s) {', '.join(missing)}", archive)
    elif not is_dataset_folder(root):
        raise DatasetError(f"archive has no BEIR-layout folder {name}/", archive)
    return root


# ----------------------------------------------------------------------------- TREC files

def read_tsv_queries(path: Path) -> dict[str, str]:
    """``id<TAB>text`` lines (plain or gzip; CRLF accepted; text kept verbatim) as ``{id: text}``."""
    queries: dict[str, str] = {}
    for lineno, line in _text_lines(path):
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        if not sep or not qid.strip():
            raise DatasetError("expected 'id<TAB>text'", path, lineno)
        if qid in queries:
            raise DatasetError(f"duplicate query id {qid!r}", path, lineno)
        queries[qid] = text
    if not queries:
        raise DatasetError("no queries", path)
    return queries


def read_trec_qrels(path: Path) -> list[tuple[str, str, int]]:
    """TREC qrels lines ``qid iteration docid grade`` in file order."""
    rows: list[tuple[str, str, int]] = []
    for lineno, line in _text_lines(path):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4:
            raise DatasetError(f"expected 4 columns (qid iteration docid grade), found {len(fields)}", path, lineno)
        try:
            grade = int(fields[3])
        except ValueError:
            raise DatasetError(f"grade {fields[3]!r} is not an integer", path, lineno) from None
        rows.append((fields[0], fields[2], grade))
    if not rows:
        raise DatasetError("no judgements", path)
    return rows


def write_queries(queries: dict[str, str], dest: Path) -> None:
    with atomic_open(dest) as fh:
        for qid, text in queries.items():
            fh.write(_json_line({"_id": qid, "text": text}))


def write_qrels(rows: Iterable[tuple[str, str, int]], dest: Path) -> None:
    with atomic_open(dest) as fh:
        fh.write(QRELS_HEADER)
        for qid, doc_id, grade in rows:
            fh.write(f"{qid}\t{doc_id}\t{grade}\n")


def tsv_queries_to_jsonl(src: Path, dest: Path, keep: set[str] | None = None) -> int:
    """Write ``queries.jsonl`` from a TSV topic file (only the ids in ``keep`` when given)."""
    queries = read_tsv_queries(src)
    if keep is not None:
        queries = {q: t for q, t in queries.items() if q in keep}
    write_queries(queries, dest)
    return len(queries)


def trec_qrels_to_beir(src: Path, dest: Path) -> set[str]:
    """Write a BEIR qrels TSV from a TREC qrels file; returns the judged query ids."""
    rows = read_trec_qrels(src)
    write_qrels(rows, dest)
    return {q for q, _, _ in rows}


# ----------------------------------------------------------------------------- TREC DL pools

def build_rankgpt_pool(run_json: Path, topics: Path, qrels: Path, dest: Path) -> None:
    """A TREC DL re-ranking pool in BEIR layout.

    ``run_json``: a list of ``{"query", "hits": [{"qid", "docid", "rank", "score", "content"}]}`` (the
    RankGPT format: Pyserini BM25 top-100 per query). Written: ``corpus.jsonl`` (each passage once, in
    order of first appearance, title empty, text = content verbatim), ``queries.jsonl`` (the judged
    queries of the run, in qrels order, texts from ``topics``), ``qrels/test.tsv`` (``qrels`` in file order),
    ``bm25_top100.trec`` (the hits with their rank and score, tag ``bm25``).
    """
    try:
        with open(run_json, "rb") as fh:
            data = json.load(fh)
    except ValueError as exc:
        raise DatasetError(f"not a JSON run file ({exc})", run_json) from exc
    if not isinstance(data, list):
        raise DatasetError("expected a JSON list of queries with 'hits'", run_json)
    topic_text = read_tsv_queries(topics)
    rows = read_trec_qrels(qrels)
    judged = {q for q, _, _ in rows}
    corpus: dict[str, str] = {}
    run_lines: list[str] = []
    order: list[str] = []
    for i, item in enumerate(data):
        hits = item.get("hits") if isinstance(item, dict) else None
        if not isinstance(hits, list):
            raise DatasetError(f"query #{i + 1} has no 'hits' list", run_json)
        for hit in hits:
            try:
                qid, doc_id = str(hit["qid"]), str(hit["docid"])
                rank, score, content = int(hit["rank"]), float(hit["score"]), hit["content"]
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"query #{i + 1}: a hit lacks qid/docid/rank/score/content ({exc})",
                                   run_json) from None
            if qid not in order:
                order.append(qid)
            corpus.setdefault(doc_id, content)
            run_lines.append(f"{qid} Q0 {doc_id} {rank} {score!r} bm25\n")
    missing = sorted(q for q in set(order) & judged if q not in topic_text)
    if missing:
        raise DatasetError(f"judged queries missing from the topics file: {', '.join(missing[:5])}", topics)
    with atomic_open(dest / CORPUS_FILE) as fh:
        for doc_id, text in corpus.items():
            fh.write(_json_line({"_id": doc_id, "title": "", "text": text}))
    in_run = set(order)
    qrels_order = list(dict.fromkeys(q for q, _, _ in rows))
    write_queries({q: topic_text[q] for q in qrels_order if q in in_run}, dest / QUERIES_FILE)
    write_qrels(rows, dest / QRELS_DIR / "test.tsv")
    with atomic_open(dest / RERANK_RUN_FILE) as fh:
        fh.writelines(run_lines)


# ----------------------------------------------------------------------------- ir_datasets

def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


#: Cleverdon codes (1 = complete answer ... 4 = minimum interest; -1 = the source paper) -> gains
CRANFIELD_GAINS = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0, 5: 0}


def from_ir_datasets(ids: dict[str, str], dest: Path, *, module: Any = None, transform: str = "",
                     with_docs: bool = True) -> None:
    """Write a BEIR folder from ``ir_datasets`` datasets.

    ``ids``: ``docs`` (the corpus; absent or ``with_docs=False``: no corpus), ``queries`` (default: the
    docs id) and one qrels id per split. ``module`` replaces ``import ir_datasets`` (tests). The queries
    file keeps every query of the ``queries`` dataset plus any judged in a split's dataset.
    ``transform='cranfield'`` collapses whitespace in titles and texts and writes ``test`` with gains
    (:data:`CRANFIELD_GAINS`) and ``test_raw_codes`` with the raw codes. Whatever ``ir_datasets`` raises
    (an unknown id, its own failed download) becomes a :class:`DatasetError` naming the id.
    """
    if module is None:
        try:
            import ir_datasets as module  # optional heavy dependency: only this route needs it
        except ImportError as exc:
            raise DatasetError("the ir_datasets package is not installed",
                               hint="pip install ir_datasets, or use another source") from exc
    try:
        _irds_write(module, ids, dest, transform, with_docs)
    except SynrankError:
        raise
    except Exception as exc:  # ir_datasets' own errors: unknown id, download or parse failures
        names = ", ".join(dict.fromkeys(ids.values()))
        raise DatasetError(f"ir_datasets failed on {names} ({type(exc).__name__}: {exc})",
                           hint="check the ir_datasets id and that ir_datasets can download its files") from exc


def _irds_write(module: Any, ids: dict[str, str], dest: Path, transform: str, with_docs: bool) -> None:
    splits = {k: v for k, v in ids.items() if k not in ("docs", "queries")}
    docs_id = ids.get("docs")
    queries_id = ids.get("queries") or docs_id
    if with_docs and docs_id:
        with atomic_open(dest / CORPUS_FILE) as fh:
            for doc in module.load(docs_id).docs_iter():
                title = getattr(doc, "title", "") or ""
                text = getattr(doc, "text", "") or ""
                if transform == "cranfield":
                    title, text = _collapse(title), _collapse(text)
                fh.write(_json_line({"_id": str(doc.doc_id), "title": title, "text": text}))
    queries: dict[str, str] = {}
    for qid_source in dict.fromkeys([queries_id, *splits.values()]):
        if not qid_source:
            continue
        dataset = module.load(qid_source)
        if dataset.has_queries():
            for q in dataset.queries_iter():
                text = q.text if transform != "cranfield" else _collapse(q.text)
                queries.setdefault(str(q.query_id), text)
    if not queries:
        raise DatasetError(f"ir_datasets {queries_id!r} has no queries")
    write_queries(queries, dest / QUERIES_FILE)
    for split, qrels_id in splits.items():
        rows = [(str(r.query_id), str(r.doc_id), int(r.relevance)) for r in module.load(qrels_id).qrels_iter()]
        if not rows:
            raise DatasetError(f"ir_datasets {qrels_id!r} has no qrels for split {split!r}")
        if transform == "cranfield":
            write_qrels([(q, d, CRANFIELD_GAINS.get(g, 0)) for q, d, g in rows], dest / QRELS_DIR / f"{split}.tsv")
            write_qrels(rows, dest / QRELS_DIR / f"{split}_raw_codes.tsv")
        else:
            write_qrels(rows, dest / QRELS_DIR / f"{split}.tsv")
