"""TREC run files: ``qid Q0 docid rank score tag``, one retrieved document per line.

Reading is strict (every malformed line is an error naming the file and line; a repeated
``(qid, docid)`` pair is an error naming both lines) because a silently mangled run gives a silently
wrong score. Writing is atomic and deterministic: queries in id order, documents in trec_eval's order
(score descending, then doc id descending), scores printed with ``repr`` so they read back bit-identically, gzip (with a
fixed header) when the path ends in ``.gz``.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

from synrank.data.values import id_problem, is_int_text, parse_score
from synrank.errors import DatasetError, os_error_hint, show
from synrank.io import atomic_write_gzip_text, atomic_write_text

Run = dict[str, dict[str, float]]

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_SEPARATORS = re.compile(r"[ \t]+")
_COLUMNS = "qid Q0 docid rank score tag"


def sort_run_items(items: Mapping[str, float] | Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """One query's ``(doc_id, score)`` pairs in trec_eval's ranking order: score descending, then doc
    id descending (trec_eval compares doc ids with ``strcmp``; for UTF-8 text that is code-point order).

    This is synrank's order everywhere (search, writing runs, evaluating them), so the rank column of a
    written run is the rank trec_eval, ir_measures and ranx give each document.
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    out = [(str(doc_id), float(score)) for doc_id, score in pairs]
    for doc_id, score in out:
        if math.isnan(score):
            raise ValueError(f"document {doc_id!r} has a NaN score; a ranking needs comparable scores")
    out.sort(key=lambda pair: pair[0], reverse=True)
    out.sort(key=lambda pair: -pair[1])  # stable: equal scores keep doc id descending
    return out


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes (gzip detected from the content, not the name)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == _GZIP_MAGIC else open
    with opener(path, "rb") as fh:
        yield from fh


def read_run(path: str | Path, queries: Collection[str] | None = None) -> Run:
    """Read a TREC run (plain text or gzip, detected from the content) into ``{qid: {docid: score}}``.

    ``queries``: read only the lines of these query ids (the others are skipped unparsed, so a report
    can take a few queries from a run of a million lines); the result may then be empty.

    A line holds six columns separated by spaces or tabs, as trec_eval splits them; the ``Q0`` and tag
    columns are not interpreted and the rank column must be an integer but is otherwise ignored (as
    trec_eval ignores it: order comes from the scores). Query and document ids follow
    :func:`synrank.data.values.id_problem` (no other whitespace or control characters), ranks are ASCII
    integers and scores ASCII decimal numbers (:func:`synrank.data.values.parse_score`: no ``1_000``,
    no non-ASCII digits), finite. A UTF-8 BOM, CRLF line ends and blank lines are accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError("run file not found", path, hint="check the --run path")
    run: Run = {}
    first_line: dict[tuple[str, str], int] = {}
    lineno = 0
    wanted = None if queries is None else {q.encode("utf-8") for q in queries}
    try:
        for lineno, raw in enumerate(_raw_lines(path), start=1):  # noqa: B007 - lineno is reported on errors
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if wanted is not None:
                head = raw.split(None, 1)
                if not head or head[0] not in wanted:
                    continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"invalid UTF-8 at byte {exc.start} ({exc.reason})", path, lineno,
                                   hint="a run file must be UTF-8 text or gzip of it") from None
            line = line.rstrip("\n").removesuffix("\r")
            fields = _SEPARATORS.split(line.strip(" \t"))
            if fields == [""]:
                continue
            if len(fields) != 6:
                raise DatasetError(
                    f"expected 6 whitespace-separated columns ({_COLUMNS}), found {len(fields)}",
                    path, lineno, hint="fix or remove this line")
            qid, _q0, doc_id, rank, score_text, _tag = fields
            for what, value in (("query id", qid), ("document id", doc_id)):
                problem = id_problem(value)
                if problem is not None:
                    raise DatasetError(f"{what} {show(value)} {problem}", path, lineno,
                                       hint=f"columns must be: {_COLUMNS}")
            if not is_int_text(rank):
                raise DatasetError(f"rank {show(rank)} is not an integer", path, lineno,
                                   hint=f"columns must be: {_COLUMNS}")
            score, problem = parse_score(score_text)
            if problem is not None:
                hint = ("a ranking needs finite, comparable scores" if "finite" in problem
                        else f"scores are ASCII decimal numbers such as 12.5 or -3e-2; columns must be: {_COLUMNS}")
                raise DatasetError(problem, path, lineno, hint=hint)
            key = (qid, doc_id)
            if key in first_line:
                raise DatasetError(
                    f"document {show(doc_id)} appears twice for query {show(qid)} (first on line {first_line[key]})",
                    path, lineno, hint="a run may list each (query, document) pair once; deduplicate it")
            first_line[key] = lineno
            run.setdefault(qid, {})[doc_id] = score
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read run file ({exc})", path, lineno + 1,
                           hint="the file may be truncated or not a gzip/text file") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DatasetError(f"cannot read run file ({exc.strerror or exc})", path,
                           hint=os_error_hint(exc)) from exc
    if not run and queries is None:
        raise DatasetError("run file has no entries", path, hint=f"expected lines of: {_COLUMNS}")
    return run


def _check_token(value: str, what: str) -> str:
    value = str(value)
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{what} {value!r} {problem}: it cannot be written to a TREC run")
    return value


def format_run(run: Mapping[str, Mapping[str, float]], tag: str = "synrank", top_k: int | None = None) -> str:
    """The text of a TREC run, in deterministic order (see :func:`write_run`)."""
    tag = _check_token(tag, "run tag")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    lines: list[str] = []
    for qid in sorted(run, key=str):
        qid_text = _check_token(qid, "query id")
        ranked = sort_run_items(run[qid])
        if top_k is not None:
            ranked = ranked[:top_k]
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            if math.isinf(score):
                raise ValueError(f"query {qid!r} document {doc_id!r} has an infinite score")
            lines.append(f"{qid_text} Q0 {_check_token(doc_id, 'document id')} {rank} {score!r} {tag}\n")
    return "".join(lines)


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "synrank",
              top_k: int | None = None) -> Path:
    """Write ``run`` atomically as a TREC run file (gzip when ``path`` ends in ``.gz``).

    Queries are written in id order, each query's documents by score descending then doc id
    descending (trec_eval's order), at most ``top_k`` per query. Rank numbers are 1-based positions in that order.
    Identical input gives byte-identical files (the gzip header carries no time or name).
    """
    path = Path(path)
    text = format_run(run, tag=tag, top_k=top_k)
    if path.name.endswith(".gz"):
        atomic_write_gzip_text(path, text)
    else:
        atomic_write_text(path, text)
    return path
