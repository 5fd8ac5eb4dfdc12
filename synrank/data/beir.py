"""Read and validate BEIR-layout datasets: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Every problem is a :class:`~synrank.errors.DatasetError` naming the file, the line and what is wrong:
malformed JSON, a missing or non-string ``_id``/``text``, duplicate ids, empty texts, qrels naming
unknown query or document ids, non-integer, negative or out-of-range grades, ids a TREC run cannot
hold (whitespace, control characters), a missing split, a missing or unknown qrels header, a wrong
number of columns, an empty corpus. The value rules live in :mod:`synrank.data.values`; a text that is
blank (whitespace or invisible characters only) counts as empty. Qrels columns are found by their
header names. A UTF-8 byte-order mark and CRLF line endings are accepted.

Nothing is dropped silently. Things BEIR tolerates and some real datasets rely on are accepted only
where the dataset's metadata (:mod:`synrank.data.registry`) says so, and are then reported once per
file with counts through ``logging`` (and kept in :attr:`BeirDataset.warnings`):

* judged documents missing from the corpus (TREC DL pools, ArguAna's 5 lost targets);
* negative grades in splits meant to hold raw codes (cranfield ``test_raw_codes``);
* documents with empty title and text (cranfield's two empty source records).

Documents with a title but an empty text (common in BEIR corpora such as TREC-COVID) and identical
repeated qrels rows are accepted everywhere, also with one counted warning.

Differences from ``beir.datasets.data_loader.GenericDataLoader`` (checked by the parity tests):
``queries`` holds every query of ``queries.jsonl`` (BEIR keeps only the judged ones, which
:meth:`BeirDataset.judged_queries` returns); a missing title is ``""`` (BEIR: ``None``); integer
``_id`` values become strings (BEIR keeps ints, which then never match the string ids of the qrels);
BEIR silently keeps the last of duplicate ids and crashes with ``KeyError`` on a qrels query
missing from ``queries.jsonl``, both located errors here. Zero grades are kept, as BEIR does.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synrank.data.folders import CORPUS_FILE, QRELS_DIR, QUERIES_FILE, DatasetInfo, info_for_folder
from synrank.data.registry import dataset_info
from synrank.data.values import grade_problem, id_problem, is_blank, is_int_text
from synrank.errors import DatasetError, os_error_hint, show
from synrank.io import open_binary

logger = logging.getLogger(__name__)

QRELS_HEADER = ("query-id", "corpus-id", "score")
#: Header names read as each qrels column (lower case); columns are found by name, in any order.
QRELS_COLUMN_NAMES = {
    "query-id": ("query-id", "query_id", "qid", "query"),
    "corpus-id": ("corpus-id", "corpus_id", "doc-id", "doc_id", "docid", "doc", "pid"),
    "score": ("score", "grade", "relevance", "rel", "label"),
}
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus entry. Ids are strings; a missing title is ``""``."""

    doc_id: str
    title: str
    text: str

    def as_dict(self) -> dict[str, str]:
        """The ``{"title", "text"}`` mapping BEIR-style encoders take."""
        return {"title": self.title, "text": self.text}


@dataclass
class BeirDataset:
    """A loaded dataset split. ``queries`` holds every query of ``queries.jsonl``; ``qrels`` only
    the split's judgements (``qrels[qid][doc_id] = grade``, zero grades kept)."""

    info: DatasetInfo
    split: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    #: sha256 of every file read, keyed by its path relative to the dataset folder.
    checksums: dict[str, str]
    #: The tolerated-quirk warnings emitted while loading (each also logged once).
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    def judged_queries(self) -> dict[str, str]:
        """Queries that have judgements in this split, in qrels order."""
        return {qid: self.queries[qid] for qid in self.qrels}

    def sha256(self) -> str:
        """One digest over the files used (names and contents), stable across machines."""
        h = hashlib.sha256()
        for name in sorted(self.checksums):
            h.update(f"{name}\t{self.checksums[name]}\n".encode())
        return h.hexdigest()

    def queries_without_relevant(self, threshold: int = 1) -> list[str]:
        """Judged queries whose best grade is below ``threshold`` (they score 0 on every measure)."""
        return [qid for qid, docs in self.qrels.items() if not any(g >= threshold for g in docs.values())]

    def beir_corpus(self) -> dict[str, dict[str, str]]:
        """The corpus as BEIR's ``{doc_id: {"title", "text"}}`` mapping."""
        return {doc_id: doc.as_dict() for doc_id, doc in self.corpus.items()}

    def __repr__(self) -> str:
        return (f"BeirDataset({self.info.name!r}, split={self.split!r}, docs={len(self.corpus)}, "
                f"queries={len(self.queries)}, judged={len(self.qrels)})")


# ----------------------------------------------------------------------------- line reading

class _Lines:
    """Iterate ``(line_number, text)`` over a UTF-8 file, hashing the raw bytes on the way.

    A ``.gz`` file is decompressed and its decompressed bytes are hashed (a compressed copy has the
    checksum of the plain file). Accepts a byte-order mark and CRLF endings; an undecodable line or a
    damaged gzip stream is a located error.
    """

    def __init__(self, path: Path):
        self.path = path
        self._hash = hashlib.sha256()
        self.blank_lines = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        update = self._hash.update
        try:
            f = open_binary(self.path)
        except OSError as exc:
            raise DatasetError(f"cannot read file: {exc.strerror or exc}", self.path, hint=os_error_hint(exc)) from exc
        lineno = 0
        with f:
            lines = enumerate(f, 1)
            while True:
                try:
                    lineno, raw = next(lines)
                except StopIteration:
                    break
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    raise DatasetError(f"damaged gzip file ({exc})", self.path, lineno + 1,
                                       hint="the file is truncated or not gzip: restore it from its source"
                                       ) from None
                update(raw)
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DatasetError(f"invalid UTF-8 at byte {exc.start}", self.path, lineno,
                                       hint="files must be UTF-8 encoded") from None
                line = line.rstrip("\r\n")
                if not line.strip():
                    self.blank_lines += 1
                    continue
                yield lineno, line

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def _first_line_of(path: Path, value: str) -> int | None:
    """Line where ``value`` first occurs as an ``_id`` (slow path, used only to explain duplicates)."""
    for lineno, line in _Lines(path):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and _as_id(rec.get("_id")) == value:
            return lineno
    return None


def _as_id(value) -> str | None:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return None


def _json_record(line: str, path: Path, lineno: int) -> dict:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError) as exc:
        msg = getattr(exc, "msg", "nested too deeply" if isinstance(exc, RecursionError) else str(exc))
        col = getattr(exc, "colno", None)
        raise DatasetError(f"malformed JSON line: {msg}" + (f" (column {col})" if col else ""),
                           path, lineno) from None
    if not isinstance(rec, dict):
        raise DatasetError(f"expected a JSON object, found {type(rec).__name__}", path, lineno)
    return rec


def _record_id(rec: dict, path: Path, lineno: int) -> str:
    raw = rec.get("_id")
    if raw is None:
        raise DatasetError("missing '_id'", path, lineno)
    rid = _as_id(raw)
    if rid is None:
        raise DatasetError(f"'_id' must be a string, found {type(raw).__name__}", path, lineno)
    problem = id_problem(rid)
    if problem is not None:
        raise DatasetError(f"'_id' {show(rid)} {problem}", path, lineno,
                           hint="ids must be non-empty and hold no whitespace or control characters")
    return rid



def _string_field(rec: dict, key: str, path: Path, lineno: int, required: bool) -> str:
    value = rec.get(key)
    if value is None:
        if required:
            raise DatasetError(f"missing {key!r}", path, lineno)
        return ""
    if type(value) is not str:
        raise DatasetError(f"{key!r} must be a string, found {type(value).__name__}", path, lineno)
    return value


_LOGGED: set[str] = set()


def _warn(warnings: list[str], message: str) -> None:
    """Record a tolerated quirk; log it at WARNING the first time in this process, then at DEBUG
    (a benchmark loading the same dataset for ten models should not repeat it ten times)."""
    if message in _LOGGED:
        logger.debug(message)
    elif logger.isEnabledFor(logging.WARNING):  # a silenced load (the leakage guard) does not count as shown
        _LOGGED.add(message)
        logger.warning(message)
    warnings.append(message)


# ----------------------------------------------------------------------------- readers

def read_corpus(path: str | Path, *, allow_empty_documents: bool = False,
                warnings: list[str] | None = None) -> tuple[dict[str, Document], str]:
    """Read ``corpus.jsonl``; return the documents (file order) and the file's sha256."""
    path = Path(path)
    warnings = [] if warnings is None else warnings
    corpus: dict[str, Document] = {}
    title_only = empty_docs = 0
    lines = _Lines(path)
    for lineno, line in lines:
        rec = _json_record(line, path, lineno)
        doc_id = _record_id(rec, path, lineno)
        text = _string_field(rec, "text", path, lineno, required=True)
        title = _string_field(rec, "title", path, lineno, required=False)
        if doc_id in corpus:
            first = _first_line_of(path, doc_id)
            raise DatasetError(f"duplicate document id {show(doc_id)} (first on line {first})", path, lineno)
        if is_blank(text):
            if not is_blank(title):
                title_only += 1
            elif allow_empty_documents:
                empty_docs += 1
            else:
                raise DatasetError(f"empty document {show(doc_id)}: 'text' and 'title' are empty or blank", path, lineno,
                                   hint="remove the line or give the document a text")
        corpus[doc_id] = Document(doc_id, title, text)
    if not corpus:
        raise DatasetError("corpus is empty (no documents)", path)
    if title_only:
        _warn(warnings, f"{path}: {title_only} document(s) have a title but an empty text (kept; "
                        "encoded from their title only)")
    if empty_docs:
        _warn(warnings, f"{path}: {empty_docs} document(s) have an empty title and text (kept, as in "
                        "the source collection; they can never be retrieved meaningfully)")
    if lines.blank_lines:
        _warn(warnings, f"{path}: {lines.blank_lines} blank line(s) skipped")
    return corpus, lines.sha256


def read_queries(path: str | Path, *, warnings: list[str] | None = None) -> tuple[dict[str, str], str]:
    """Read ``queries.jsonl``; return ``{query_id: text}`` (file order) and the file's sha256."""
    path = Path(path)
    warnings = [] if warnings is None else warnings
    queries: dict[str, str] = {}
    lines = _Lines(path)
    for lineno, line in lines:
        rec = _json_record(line, path, lineno)
        qid = _record_id(rec, path, lineno)
        text = _string_field(rec, "text", path, lineno, required=True)
        if is_blank(text):
            raise DatasetError(f"empty query text for {show(qid)}", path, lineno,
                               hint="a query needs visible text (whitespace or zero-width characters are blank)")
        if qid in queries:
            first = _first_line_of(path, qid)
            raise DatasetError(f"duplicate query id {show(qid)} (first on line {first})", path, lineno)
        queries[qid] = text
    if not queries:
        raise DatasetError("queries file is empty (no queries)", path)
    if lines.blank_lines:
        _warn(warnings, f"{path}: {lines.blank_lines} blank line(s) skipped")
    return queries, lines.sha256


def read_qrels(path: str | Path, queries: dict[str, str] | None = None,
               corpus: dict[str, Document] | None = None, *, allow_outside_corpus: bool = False,
               allow_negative: bool = False,
               warnings: list[str] | None = None) -> tuple[dict[str, dict[str, int]], str]:
    """Read a BEIR qrels TSV (header ``query-id<TAB>corpus-id<TAB>score``, then one judgement per line).

    Columns are found by their header names, in any order (``corpus-id<TAB>query-id<TAB>score`` is read
    correctly; names of :data:`QRELS_COLUMN_NAMES` are accepted; an unknown name is an error). Ids follow
    :func:`synrank.data.values.id_problem`; query ids must be in ``queries`` and document ids in
    ``corpus`` (when given) unless ``allow_outside_corpus``; grades are ASCII integers in the range of
    :mod:`synrank.data.values`, non-negative unless ``allow_negative``.
    """
    path = Path(path)
    warnings = [] if warnings is None else warnings
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    outside = outside_positive = negative = repeated = 0
    order: tuple[int, int, int] | None = None
    lines = _Lines(path)
    for lineno, line in lines:
        fields = line.split("\t")
        if order is None:
            order = _header_order(fields, path, lineno)
            continue
        if len(fields) != 3:
            _bad_columns(fields, path, lineno)
        qid, doc_id, grade_text = (fields[i] for i in order)
        grade_text = grade_text.strip(" ")
        if not is_int_text(grade_text):
            raise DatasetError(f"grade {show(grade_text)} is not an integer", path, lineno,
                               hint="grades are integer relevance levels such as 0, 1, 2, 3 (ASCII digits)")
        grade = int(grade_text)
        for what, value in (("query-id", qid), ("corpus-id", doc_id)):
            problem = id_problem(value)
            if problem is not None:
                raise DatasetError(f"{what} {show(value)} {problem}", path, lineno,
                                   hint="ids must be non-empty and hold no whitespace or control characters")
        problem = grade_problem(grade, allow_negative)
        if problem is not None:
            hint = ("grades must be >= 0 (0 = judged non-relevant)" if grade < 0 and not allow_negative
                    else "grades are relevance levels such as 0-3, not scores; pytrec_eval mis-scores huge "
                         "grades silently")
            raise DatasetError(problem, path, lineno, hint=hint)
        negative += grade < 0
        if queries is not None and qid not in queries:
            raise DatasetError(f"unknown query id {show(qid)} (not in {QUERIES_FILE})", path, lineno)
        if corpus is not None and doc_id not in corpus:
            if not allow_outside_corpus:
                raise DatasetError(f"unknown corpus id {show(doc_id)} (not in {CORPUS_FILE})", path, lineno)
            outside += 1
            outside_positive += grade > 0
        judged = qrels.get(qid)
        if judged is None:
            judged = qrels[qid] = {}
        if doc_id in judged:
            if judged[doc_id] != grade:
                raise DatasetError(f"conflicting grades for query {show(qid)}, document {show(doc_id)}: "
                                   f"{judged[doc_id]} (line {first_line[qid, doc_id]}) and {grade}", path, lineno)
            repeated += 1
        else:
            judged[doc_id] = grade
            first_line[qid, doc_id] = lineno
    if order is None:
        raise DatasetError("qrels file is empty (missing header 'query-id<TAB>corpus-id<TAB>score')", path, 1)
    if not qrels:
        raise DatasetError("qrels file has a header but no judgements", path)
    if outside:
        _warn(warnings, f"{path}: {outside} judgement(s) ({outside_positive} with grade > 0) name documents "
                        f"that are not in {CORPUS_FILE} (kept: they count in the ideal ranking of nDCG "
                        "but can never be retrieved)")
    if negative:
        _warn(warnings, f"{path}: {negative} judgement(s) have a negative grade (kept as raw codes: do not "
                        "use this split as graded gains)")
    if repeated:
        _warn(warnings, f"{path}: {repeated} repeated identical judgement row(s) (counted once)")
    if lines.blank_lines:
        _warn(warnings, f"{path}: {lines.blank_lines} blank line(s) skipped")
    return qrels, lines.sha256


def _header_order(fields: list[str], path: Path, lineno: int) -> tuple[int, int, int]:
    """Positions of (query-id, corpus-id, score) from the header's column names."""
    expected = "<TAB>".join(QRELS_HEADER)
    if len(fields) == 3 and is_int_text(fields[2].strip()):
        raise DatasetError(f"missing header line: first line is a judgement; expected '{expected}'",
                           path, lineno, hint="add the header line BEIR expects")
    if len(fields) == 4 and is_int_text(fields[3].strip()):
        raise DatasetError("missing header line and 4 columns: looks like TREC qrels "
                           "(qid Q0 docid grade)", path, lineno,
                           hint=f"convert to BEIR TSV with header '{expected}'")
    if len(fields) != 3:
        raise DatasetError(f"header must have 3 tab-separated columns ('{expected}'), found {len(fields)}",
                           path, lineno, hint="columns must be separated by tabs")
    names = [f.strip().lower() for f in fields]
    known = {n for aliases in QRELS_COLUMN_NAMES.values() for n in aliases}
    order = []
    for role, aliases in QRELS_COLUMN_NAMES.items():
        found = [i for i, n in enumerate(names) if n in aliases]
        if len(found) == 1:
            order.append(found[0])
            continue
        unknown = [f for f, n in zip(fields, names, strict=True) if n not in known]
        what = (f"unknown column name {show(unknown[0])}" if unknown
                else f"no {role} column" if not found else f"{len(found)} {role} columns")
        raise DatasetError(f"qrels header: {what}; expected '{expected}' (columns in any order)", path, lineno,
                           hint=f"{role} may also be named {', '.join(aliases[1:])}")
    return order[0], order[1], order[2]


def _bad_columns(fields: list[str], path: Path, lineno: int) -> None:
    n = len(fields)
    if n > 3:
        raise DatasetError(f"extra column: expected 3 tab-separated columns (query-id, corpus-id, score), "
                           f"found {n}", path, lineno)
    hint = "columns must be separated by tabs" if n == 1 and " " in fields[0] else None
    raise DatasetError(f"missing column: expected 3 tab-separated columns (query-id, corpus-id, score), "
                       f"found {n}", path, lineno, hint=hint)


# ----------------------------------------------------------------------------- dataset loading

def choose_split(info: DatasetInfo, split: str | None) -> str:
    """The split to load: ``split`` if the folder has it, else the dataset's default split."""
    available = ", ".join(info.splits) or "none"
    if split is None:
        if info.default_split:
            return info.default_split
        if not info.splits:
            return ""
        raise DatasetError(f"dataset {info.name!r} has several splits and no default; choose one of: "
                           f"{available}", info.path / QRELS_DIR)
    if split not in info.splits:
        raise DatasetError(f"split {split!r} not found in dataset {info.name!r}; available splits: {available}",
                           info.path / QRELS_DIR / f"{split}.tsv")
    return split


def load_dataset(name_or_path: str | os.PathLike | DatasetInfo, split: str | None = None,
                 corpus: bool = True) -> BeirDataset:
    """Load and validate one split of a dataset given by name, path or :class:`DatasetInfo`.

    ``split=None`` takes the dataset's default split (a folder without qrels loads its queries
    only, with empty qrels). ``corpus=False`` skips ``corpus.jsonl`` (then qrels document ids
    cannot be checked against it).
    """
    info = name_or_path if isinstance(name_or_path, DatasetInfo) else dataset_info(name_or_path)
    split = choose_split(info, split)
    warnings: list[str] = []
    checksums: dict[str, str] = {}
    docs: dict[str, Document] = {}
    if corpus:
        if not info.has_corpus:
            raise DatasetError(f"dataset {info.name!r} has no {CORPUS_FILE}", info.corpus_path,
                               hint="load with corpus=False for queries and qrels only")
        docs, checksums[CORPUS_FILE] = read_corpus(
            info.corpus_path, allow_empty_documents=info.allow_empty_documents, warnings=warnings)
    if not info.has_queries:
        raise DatasetError(f"dataset {info.name!r} has no {QUERIES_FILE}", info.queries_path)
    queries, checksums[QUERIES_FILE] = read_queries(info.queries_path, warnings=warnings)
    qrels: dict[str, dict[str, int]] = {}
    if split:
        qrels, checksums[f"{QRELS_DIR}/{split}.tsv"] = read_qrels(
            info.qrels_path(split), queries, docs if corpus else None,
            allow_outside_corpus=info.qrels_outside_corpus,
            allow_negative=split in info.negative_grade_splits, warnings=warnings)
    dataset = BeirDataset(info=info, split=split, corpus=docs, queries=queries, qrels=qrels,
                          checksums=checksums, warnings=warnings)
    if qrels:
        unanswerable = dataset.queries_without_relevant(1)
        if unanswerable:
            logger.info("%s/%s: %d judged quer%s no document with grade > 0 (kept; they score 0)",
                        info.name, split, len(unanswerable), "y has" if len(unanswerable) == 1 else "ies have")
    return dataset


def load_folder(path: str | os.PathLike, split: str | None = None, corpus: bool = True,
                name: str | None = None) -> BeirDataset:
    """Load a folder directly, using the metadata of ``name`` (default: the folder's name)."""
    return load_dataset(info_for_folder(Path(path), name), split=split, corpus=corpus)
