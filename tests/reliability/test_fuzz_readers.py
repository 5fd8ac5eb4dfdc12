"""Fuzzing every reader: random bytes, random valid-looking records, truncated and mutated files.

The property, for each reader (corpus, queries, qrels, TREC run, training groups, config files and the
typed training config): the result is either a located :class:`~synrank.errors.SynrankError` (naming the
file, and the same line as the reference) or exactly what a small independent reference parser written
here reads. Never a traceback, never a silently different result.

The reference parsers restate the documented formats (docs/reliability.md, synrank/data/values.py) in
as few lines as possible, without calling synrank. Default run: ``FAST`` examples per reader (a few
seconds each); ``pytest -m slow``: ``SLOW`` examples per reader.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from synrank.config import load_config_file
from synrank.data.beir import Document, read_corpus, read_qrels, read_queries
from synrank.data.groups import read_groups
from synrank.data.trec import read_run
from synrank.errors import ConfigError, DatasetError
from synrank.training.config import TrainConfig, config_from_dict

FAST, SLOW = 300, 5000
BOM = b"\xef\xbb\xbf"


def fuzz(strategy, fast: int = FAST, slow: int = SLOW):
    """Turn ``check(tmp_path, example)`` into a default test and a ``slow`` test with a larger budget."""
    def wrap(check):
        common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                            HealthCheck.too_slow, HealthCheck.data_too_large])

        @settings(max_examples=fast, **common)
        @given(example=strategy)
        def test(tmp_path, example):
            check(tmp_path, example)

        @pytest.mark.slow
        @settings(max_examples=slow, **common)
        @given(example=strategy)
        def test_slow(tmp_path, example):
            check(tmp_path, example)

        return test, test_slow
    return wrap


# ------------------------------------------------------------------------------- reference rules
class Refused(Exception):
    """The reference parser refuses the input; ``line`` is the line it blames (None: the whole file;
    ``ANY``: a damaged compressed stream, where only "an error" is compared)."""

    def __init__(self, line):
        super().__init__(line)
        self.line = line


ANY = "any line"
_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_ASCII_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
GRADES = range(-1000, 1001)


def blank(text: str) -> bool:
    return all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in text)


def bad_id(value: str) -> bool:
    return blank(value) or any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)


def byte_lines(data: bytes) -> list[bytes]:
    """Lines as a file iterator yields them: split after each b"\\n" only."""
    pieces = data.split(b"\n")
    return [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


def beir_lines(data: bytes):
    """``(line number, text)`` of the BEIR files' non-blank lines (BOM on line 1, CRLF accepted)."""
    for lineno, raw in enumerate(byte_lines(data), 1):
        if lineno == 1 and raw.startswith(BOM):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise Refused(lineno) from None
        if line.strip():
            yield lineno, line


def json_object(line: str, lineno: int) -> dict:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        raise Refused(lineno) from None
    if not isinstance(rec, dict):
        raise Refused(lineno)
    return rec


def record_id(rec: dict, lineno: int) -> str:
    rid = rec.get("_id")
    if type(rid) is int:
        rid = str(rid)
    if type(rid) is not str or bad_id(rid):
        raise Refused(lineno)
    return rid


def ref_corpus(data: bytes, allow_empty: bool = False) -> dict[str, tuple[str, str]]:
    docs: dict[str, tuple[str, str]] = {}
    for lineno, line in beir_lines(data):
        rec = json_object(line, lineno)
        rid = record_id(rec, lineno)
        text, title = rec.get("text"), rec.get("title")
        title = "" if title is None else title
        if type(text) is not str or type(title) is not str or rid in docs:
            raise Refused(lineno)
        if blank(text) and blank(title) and not allow_empty:
            raise Refused(lineno)
        docs[rid] = (title, text)
    if not docs:
        raise Refused(None)
    return docs


def ref_queries(data: bytes) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, line in beir_lines(data):
        rec = json_object(line, lineno)
        qid = record_id(rec, lineno)
        text = rec.get("text")
        if type(text) is not str or blank(text) or qid in queries:
            raise Refused(lineno)
        queries[qid] = text
    if not queries:
        raise Refused(None)
    return queries


QRELS_NAMES = {"query": {"query-id", "query_id", "qid", "query"},
               "doc": {"corpus-id", "corpus_id", "doc-id", "doc_id", "docid", "doc", "pid"},
               "score": {"score", "grade", "relevance", "rel", "label"}}


def ref_qrels(data: bytes, queries: set[str], corpus: set[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    order = None
    for lineno, line in beir_lines(data):
        cols = line.split("\t")
        if order is None:
            if len(cols) == 3 and _ASCII_INT.fullmatch(cols[2].strip()) or \
                    len(cols) == 4 and _ASCII_INT.fullmatch(cols[3].strip()) or len(cols) != 3:
                raise Refused(lineno)
            names = [c.strip().lower() for c in cols]
            order = []
            for aliases in QRELS_NAMES.values():
                hits = [i for i, n in enumerate(names) if n in aliases]
                if len(hits) != 1:
                    raise Refused(lineno)
                order.append(hits[0])
            continue
        if len(cols) != 3:
            raise Refused(lineno)
        qid, doc, grade_text = (cols[i] for i in order)
        grade_text = grade_text.strip(" ")
        if not _ASCII_INT.fullmatch(grade_text) or bad_id(qid) or bad_id(doc):
            raise Refused(lineno)
        grade = int(grade_text)
        if grade < 0 or grade not in GRADES or qid not in queries or doc not in corpus:
            raise Refused(lineno)
        if qrels.setdefault(qid, {}).setdefault(doc, grade) != grade:
            raise Refused(lineno)
    if order is None:
        raise Refused(1)
    if not qrels:
        raise Refused(None)
    return qrels


def ref_run(data: bytes) -> dict[str, dict[str, float]]:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, ValueError):
            raise Refused(ANY) from None
    run: dict[str, dict[str, float]] = {}
    for lineno, raw in enumerate(byte_lines(data), 1):
        if lineno == 1 and raw.startswith(BOM):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(lineno) from None
        line = line.rstrip("\n").removesuffix("\r")
        cols = re.split(r"[ \t]+", line.strip(" \t"))
        if cols == [""]:
            continue
        if len(cols) != 6:
            raise Refused(lineno)
        qid, _, doc, rank, score, _ = cols
        if bad_id(qid) or bad_id(doc) or not _ASCII_INT.fullmatch(rank) or not _ASCII_FLOAT.fullmatch(score):
            raise Refused(lineno)
        value = float(score)
        if not math.isfinite(value) or doc in run.get(qid, {}):
            raise Refused(lineno)
        run.setdefault(qid, {})[doc] = value
    if not run:
        raise Refused(None)
    return run


def ref_groups(data: bytes, shard: bool) -> list[tuple]:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, ValueError):
            raise Refused(ANY) from None
    groups, seen = [], set()
    for lineno, raw in enumerate(byte_lines(data), 1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            raise Refused(lineno) from None
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            if shard and not line.endswith("\n"):
                continue  # a torn last line of a live shard is skipped
            raise Refused(lineno) from None
        if not isinstance(rec, dict) or not {"query_id", "query", "passages"} <= set(rec):
            raise Refused(lineno)
        qid, query, passages = rec["query_id"], rec["query"], rec["passages"]
        if type(qid) not in (str, int) or bad_id(str(qid)) or type(query) is not str or blank(query):
            raise Refused(lineno)
        if type(passages) is not list or not passages:
            raise Refused(lineno)
        out = []
        for p in passages:
            if type(p) is not dict or "text" not in p or "grade" not in p:
                raise Refused(lineno)
            if type(p["grade"]) is not int or not 0 <= p["grade"] <= 1000:
                raise Refused(lineno)
            if type(p["text"]) is not str or blank(p["text"]):
                raise Refused(lineno)
            out.append((p["text"], p["grade"], {k: v for k, v in p.items() if k not in ("text", "grade")}))
        if str(qid) in seen:
            raise Refused(lineno)
        seen.add(str(qid))
        groups.append((str(qid), query, out, {k: v for k, v in rec.items()
                                                if k not in ("query_id", "query", "passages")}))
    return groups


def compare(path: Path, read, reference) -> None:
    """The reader's outcome equals the reference's: the same value, or an error at the same line."""
    try:
        expected = ("ok", reference())
    except Refused as exc:
        expected = ("refused", exc.line)
    event(expected[0])
    try:
        got = ("ok", read())
    except DatasetError as exc:  # anything else is a bug: it propagates and fails the test
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        assert len(str(exc)) < 600, f"error line too long ({len(str(exc))} chars)"
        got = ("refused", ANY if expected == ("refused", ANY) else exc.line)
    assert got == expected, f"reader {got[0]} (line {got[1] if got[0] == 'refused' else '-'}), reference " \
                            f"{expected[0]} ({expected[1] if expected[0] == 'refused' else '-'})"


# ------------------------------------------------------------------------------- strategies
# Each file is built from well-formed lines (so that many files are read and compared value by value)
# plus, often, one line that is well-formed but for one field (a value from the WEIRD pools: the cases the
# readers must decide on), or random bytes, or a cut or changed byte.
WEIRD_IDS = st.sampled_from(["d 1", "", " ", "d\u00a0x", "d\x00", "\u200b", "d1\t", "q\u3000", "d\x85", "\x7f"]) \
    | st.text(max_size=4)
WEIRD_TEXTS = st.sampled_from(["", " ", "\t", "\u200b", "\u3000\u2060", "\ufeff", "\x00", "\u00ad"]) | st.text(max_size=6)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | WEIRD_TEXTS
GOOD_IDS = st.text("abcdq0123é", min_size=1, max_size=6) | st.integers(0, 10**6)
GOOD_TEXTS = st.sampled_from(["alpha beta", "x", "ü text", "a\tb", " padded ", "t\u200bx"])


@st.composite
def one_field_off(draw, good, weird: dict):
    """A record from ``good`` (a dict, or a list of columns) with one field replaced by a value from
    ``weird[field]``, or removed."""
    rec = draw(good)
    key = draw(st.sampled_from(sorted(weird)))
    if draw(st.integers(0, 7)) == 0:
        if isinstance(rec, dict):
            rec.pop(key, None)
        else:
            del rec[key]
    else:
        rec[key] = draw(weird[key])
    return rec


@st.composite
def files(draw, good, bad, unique=None):
    """Bytes of a file: random bytes; or lines from ``good`` (distinct by ``unique``), maybe with one line
    from ``bad`` inserted, joined with random line ends (optionally after a BOM), possibly then truncated
    at a random byte or with one byte changed."""
    kind = draw(st.sampled_from(["bytes", "good", "good", "good", "one bad", "one bad", "one bad", "truncated",
                                 "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=120))
    items = draw(st.lists(good, max_size=6, unique_by=unique))
    if kind != "good":
        items.insert(draw(st.integers(0, len(items))), draw(bad))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n \n", b"\r\r\n"]),
                         min_size=len(items), max_size=len(items)))
    data = (BOM if draw(st.integers(0, 5)) == 0 else b"") + b"".join(i + e for i, e in zip(items, ends, strict=True))
    if data and kind == "truncated":
        data = data[: draw(st.integers(0, len(data)))]
    if data and kind == "mutated":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    return data


def json_lines(record):
    return st.tuples(record, st.booleans()).map(lambda r: json.dumps(r[0], ensure_ascii=r[1]).encode("utf-8"))


def maybe_gzip(strategy):
    """Sometimes gzip the file, sometimes cutting the compressed stream short."""
    @st.composite
    def make(draw):
        data = draw(strategy)
        if draw(st.integers(0, 3)) == 0:
            packed = gzip.compress(data, mtime=0)
            data = packed[: draw(st.integers(2, len(packed)))] if draw(st.booleans()) else packed
        return data
    return make()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _json_key(field: str):
    return lambda line: str(json.loads(line)[field])


# ------------------------------------------------------------------------------- corpus, queries
GOOD_RECORD = st.fixed_dictionaries({"_id": GOOD_IDS, "text": GOOD_TEXTS}, optional={"title": GOOD_TEXTS | st.none()})
WEIRD_RECORD_FIELDS = {"_id": WEIRD_IDS | JSON_SCALARS, "text": WEIRD_TEXTS | JSON_SCALARS,
                       "title": WEIRD_TEXTS | JSON_SCALARS, "extra": JSON_SCALARS}
BEIR_FILES = files(json_lines(GOOD_RECORD), json_lines(one_field_off(GOOD_RECORD, WEIRD_RECORD_FIELDS))
                   | st.sampled_from([b"[1]", b'"x"', b"{", b"[" * 3000, b"{}"]), _json_key("_id"))


@fuzz(st.tuples(BEIR_FILES, st.booleans()))
def _check_corpus(tmp_path, example):
    data, allow_empty = example
    path = _write(tmp_path, "corpus.jsonl", data)

    def read():
        docs, _ = read_corpus(path, allow_empty_documents=allow_empty)
        return {k: (d.title, d.text) for k, d in docs.items()}

    compare(path, read, lambda: ref_corpus(data, allow_empty))


test_fuzz_corpus, test_fuzz_corpus_slow = _check_corpus


@fuzz(BEIR_FILES)
def _check_queries(tmp_path, data):
    path = _write(tmp_path, "queries.jsonl", data)
    compare(path, lambda: read_queries(path)[0], lambda: ref_queries(data))


test_fuzz_queries, test_fuzz_queries_slow = _check_queries


# ------------------------------------------------------------------------------- qrels
QUERY_SET, DOC_SET = {"q1", "q2", "7"}, {"d1", "d2", "d 1", "7"}
HEADERS = st.sampled_from(["query-id\tcorpus-id\tscore", "corpus-id\tquery-id\tscore", "score\tqid\tdocid",
                           "Query-ID\tCorpus-ID\tScore ", "query-id\tcorpus-id", "query-id\tdoc\tgrade\textra",
                           "query-id\tcorpus-id\tbogus", "query-id\tquery_id\tscore", "q1\td1\t1",
                           "q1 Q0 d1 1", "q1\tQ0\td1\t1", "query-id corpus-id score"])
GOOD_HEADERS = st.sampled_from(["query-id\tcorpus-id\tscore", "corpus-id\tquery-id\tscore", "score\tqid\tdocid"])
WEIRD_QRELS_COLUMNS = {
    0: st.sampled_from(["q9", "q1 ", "d1", "d 1"]) | WEIRD_IDS, 1: st.sampled_from(["d9", "d 1", "q1"]) | WEIRD_IDS,
    2: st.sampled_from(["-1", "+2", " 1", "1 ", "1.5", "1_0", "\u0663", "1e2", "1000", "1001", "-1001", "2147483647",
                        "4294967295", "100000000000000000000", "", "x", "\u00a01"]) | st.integers(-2000, 2000).map(str)}
GOOD_QRELS_COLUMNS = st.tuples(st.sampled_from(["q1", "q2", "7"]), st.sampled_from(["d1", "d2", "7"]),
                               st.integers(0, 3).map(str)).map(list)


@st.composite
def qrels_files(draw):
    """A header (usually valid, columns in any order) and rows written in that header's column order."""
    header = draw(st.one_of(GOOD_HEADERS, GOOD_HEADERS, HEADERS))
    order = {"corpus-id": (1, 0, 2), "score": (2, 0, 1)}.get(header.split("\t")[0], (0, 1, 2))

    def row(cols: list[str], sep: str = "\t") -> bytes:
        return sep.join(cols[i] for i in order if i < len(cols)).encode("utf-8")

    good = GOOD_QRELS_COLUMNS.map(row)
    bad = st.tuples(one_field_off(GOOD_QRELS_COLUMNS, WEIRD_QRELS_COLUMNS), st.sampled_from(["\t"] * 5 + [" "])) \
        .map(lambda r: row(*r))
    body = draw(files(good, bad, unique=lambda r: (r.split(b"\t")[order.index(0)], r.split(b"\t")[order.index(1)])))
    bom = BOM if body.startswith(BOM) else b""
    return bom + header.encode() + b"\n" + body[len(bom):]


@fuzz(qrels_files())
def _check_qrels(tmp_path, data):
    path = _write(tmp_path, "test.tsv", data)
    queries = {q: "text" for q in QUERY_SET}
    corpus = {d: Document(d, "", "text") for d in DOC_SET}
    compare(path, lambda: read_qrels(path, queries, corpus)[0], lambda: ref_qrels(data, QUERY_SET, DOC_SET))


test_fuzz_qrels, test_fuzz_qrels_slow = _check_qrels


# ------------------------------------------------------------------------------- TREC runs
GOOD_RUN_COLUMNS = st.tuples(st.sampled_from(["q1", "q2", "7"]), st.just("Q0"), st.sampled_from(["d1", "d2", "d3", "d4"]),
                             st.integers(1, 100).map(str), st.floats(-1e6, 1e6).map(repr),
                             st.sampled_from(["tag", "t"])).map(list)
WEIRD_RUN_COLUMNS = {
    0: WEIRD_IDS.filter(lambda x: " " not in x and "\t" not in x),
    1: st.sampled_from(["Q0", "0", "x\u00a0y"]), 2: WEIRD_IDS.filter(lambda x: " " not in x and "\t" not in x),
    3: st.sampled_from(["x", "1_0", "\u0661", "-3", "+2", "1.0", ""]),
    4: st.sampled_from(["-2", "3", "1e3", "1E-2", ".5", "5.", "+1", "1_000", "\u0661\u0662", "nan", "NaN", "inf",
                        "-Infinity", "1e999", "0x1p3", "abc", "", "1.0.0", "\u00a01", "\uff11"])
    | st.floats(allow_nan=True, allow_infinity=True).map(repr),
    5: st.sampled_from(["t\u00a0x", "t\r", "", "\u200b"])}


@st.composite
def run_line(draw, columns):
    cols = draw(columns)
    seps = draw(st.lists(st.sampled_from([" ", " ", "\t", "  ", " \t"]), min_size=len(cols), max_size=len(cols)))
    lead = draw(st.sampled_from(["", "", "", " ", "\t"]))
    return (lead + "".join(c + s for c, s in zip(cols, seps, strict=True))).rstrip(" \t").encode("utf-8")


@fuzz(maybe_gzip(files(run_line(GOOD_RUN_COLUMNS), run_line(one_field_off(GOOD_RUN_COLUMNS, WEIRD_RUN_COLUMNS)),
                       unique=lambda line: tuple(line.split()[:3]))))
def _check_run(tmp_path, data):
    path = _write(tmp_path, "run.trec", data)
    compare(path, lambda: read_run(path), lambda: ref_run(data))


test_fuzz_trec_run, test_fuzz_trec_run_slow = _check_run


# ------------------------------------------------------------------------------- training groups
GOOD_PASSAGE = st.fixed_dictionaries({"text": GOOD_TEXTS, "grade": st.integers(0, 3)},
                                     optional={"source_query": GOOD_TEXTS})
WEIRD_PASSAGE = one_field_off(GOOD_PASSAGE, {
    "text": WEIRD_TEXTS | JSON_SCALARS,
    "grade": st.sampled_from([1000, 1001, -1, True, 1.0, 1.5, "2", None, 2**40]) | st.integers(-5, 5)})
GOOD_GROUP = st.fixed_dictionaries({"query_id": GOOD_IDS, "query": GOOD_TEXTS,
                                    "passages": st.lists(GOOD_PASSAGE, min_size=1, max_size=3)},
                                   optional={"schema": st.just("synrank.groups/v1"), "strategy": GOOD_TEXTS})
WEIRD_GROUP = one_field_off(GOOD_GROUP, {
    "query_id": WEIRD_IDS | JSON_SCALARS, "query": WEIRD_TEXTS | JSON_SCALARS,
    "passages": st.lists(GOOD_PASSAGE, max_size=2).flatmap(lambda ps: WEIRD_PASSAGE.map(lambda w: [*ps, w]))
    | st.lists(WEIRD_PASSAGE | JSON_SCALARS, max_size=2) | JSON_SCALARS})


@fuzz(st.tuples(maybe_gzip(files(json_lines(GOOD_GROUP), json_lines(WEIRD_GROUP), _json_key("query_id"))),
                st.booleans()))
def _check_groups(tmp_path, example):
    data, shard = example
    gz = data[:2] == b"\x1f\x8b"
    name = ("shard-00000.jsonl" if shard else "groups.jsonl") + (".gz" if gz else "")
    path = _write(tmp_path, name, data)

    def read():
        return [(g.query_id, g.query, [(p.text, p.grade, p.meta) for p in g.passages], g.meta)
                for g in read_groups(path)]

    compare(path, read, lambda: ref_groups(data, shard and not gz))


test_fuzz_groups, test_fuzz_groups_slow = _check_groups


# ------------------------------------------------------------------------------- config files
KEYS = st.sampled_from(["name", "seed", "a", "b-c", "x y", "émoji", "1", "true", "null", "on"]) | \
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=5)
CONFIG_SCALARS = (st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats(allow_nan=False, allow_infinity=False)
                  | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
                  | st.sampled_from(["1e-5", "2E3", "yes", "no", "~", "null", "0x10", "010", "1_000", ".inf",
                                     "12:30", "2001-02-03", "- a", "a: b", "#x", "'", '"', "\\", "\t", ""]))


def _containers(inner):
    return st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3)


CONFIG_VALUES = st.recursive(CONFIG_SCALARS, _containers, max_leaves=8)
CONFIG_MAPS = st.dictionaries(KEYS, CONFIG_VALUES, max_size=5)


def quoted(text: str) -> str:
    """A double-quoted string every YAML and TOML parser reads back exactly: ASCII, anything else escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def number(v) -> str:
    text = repr(v)
    return text if isinstance(v, int) or "e" in text or "." in text else text + ".0"


def yaml_text(obj, indent: int = 0) -> str:
    """A block-style YAML document for ``obj``; strings always quoted, so none can be read as another type."""
    pad = " " * indent

    def entry(head: str, v) -> str:
        return f"{head}\n{yaml_text(v, indent + 2)}" if isinstance(v, (dict, list)) and v else f"{head} {yaml_scalar(v)}\n"

    if isinstance(obj, dict) and obj:
        return "".join(entry(f"{pad}{quoted(k)}:", v) for k, v in obj.items())
    if isinstance(obj, list) and obj:
        return "".join(entry(f"{pad}-", v) for v in obj)
    return f"{pad}{yaml_scalar(obj)}\n"


def yaml_scalar(v) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, str):
        return quoted(v)
    return "{}" if isinstance(v, dict) else "[]"


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, str):
        return quoted(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{quoted(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def _has(obj, pred) -> bool:
    if pred(obj):
        return True
    if isinstance(obj, dict):
        return any(_has(v, pred) for v in obj.values())
    return isinstance(obj, list) and any(_has(v, pred) for v in obj)


@st.composite
def config_files(draw):
    """``(suffix, bytes, expected mapping or None)``: a generated mapping written as YAML, JSON or TOML by
    the emitters above (expected: exactly that mapping), or random / truncated / mutated bytes (None)."""
    suffix = draw(st.sampled_from([".yaml", ".json", ".toml"]))
    obj = draw(CONFIG_MAPS)
    if suffix == ".json":
        text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    elif suffix == ".yaml":
        text = yaml_text(obj) if obj else "{}\n"
    else:
        obj = {k: v for k, v in obj.items() if not _has(v, lambda x: x is None or (isinstance(x, int) and
                                                                             not isinstance(x, bool) and
                                                                             not -2**63 <= x < 2**63))}
        text = "".join(f"{quoted(k)} = {toml_value(v)}\n" for k, v in obj.items())
    data = text.encode("utf-8")
    kind = draw(st.sampled_from(["exact", "exact", "bytes", "truncated", "mutated"]))
    if kind == "bytes":
        return suffix, draw(st.binary(max_size=120)), None
    if kind == "truncated" and data:
        return suffix, data[: draw(st.integers(0, len(data) - 1))], None
    if kind == "mutated" and data:
        i = draw(st.integers(0, len(data) - 1))
        return suffix, data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:], None
    return suffix, data, obj


@fuzz(config_files())
def _check_config_files(tmp_path, example):
    suffix, data, expected = example
    path = _write(tmp_path, "cfg" + suffix, data)
    try:
        got = load_config_file(path)
    except ConfigError as exc:
        event("refused")
        assert str(path) in str(exc) and len(str(exc)) < 600, str(exc)
        assert expected is None, f"a generated {suffix} mapping was refused: {exc}"
        return
    event("ok")
    assert isinstance(got, dict)
    if expected is not None:
        assert got == expected


test_fuzz_config_files, test_fuzz_config_files_slow = _check_config_files


# ------------------------------------------------------------------------------- typed training configs
def documented_ranges() -> dict[str, str]:
    """``{field: "0 <= seed <= 4294967295"}`` from the range table of docs/reliability.md: the reference the
    loaded configs are checked against (what the page promises)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text(encoding="utf-8")
    table = doc.split("<!-- ranges -->")[1]
    return dict(re.findall(r"^\| `([\w.\[\]]+)` \| `([^`]+)` \|", table, flags=re.M))


def in_documented_range(value: float, expr: str) -> bool:
    """``value`` within ``lo <= name <= hi``, ``lo < name < hi``, ``name > lo`` ... (and finite)."""
    lo, lo_op, hi_op, hi = re.fullmatch(r"(?:(\S+) (<=|<) )?[\w.]+(?: (<=|<|>=|>) (\S+))?", expr).groups()
    ok = math.isfinite(value)
    if lo is not None:
        ok = ok and (float(lo) < value if lo_op == "<" else float(lo) <= value)
    if hi_op is not None:
        ok = ok and {"<": value < float(hi), "<=": value <= float(hi), ">": value > float(hi),
                     ">=": value >= float(hi)}[hi_op]
    return ok


TRAIN_NUMBERS = st.sampled_from([0, 1, -1, 2, 4, 16, 1000, 4096, 4097, 65536, 65537, 10**9, 10**9 + 1, 2**32 - 1,
                                 2**32, 99999999999999999999, 0.0, 0.5, 1.0, 1e-5, 1e38, 1e400, -0.0,
                                 float("inf"), float("nan"), 1e6, 1e6 + 1, 100.0, 100.5])
TRAIN_FIELDS = {
    "seed": TRAIN_NUMBERS, "threads": TRAIN_NUMBERS | st.none(), "group_size": TRAIN_NUMBERS,
    "batch_size": TRAIN_NUMBERS, "grad_accumulation": TRAIN_NUMBERS, "max_steps": TRAIN_NUMBERS | st.none(),
    "epochs": TRAIN_NUMBERS, "learning_rate": TRAIN_NUMBERS, "weight_decay": TRAIN_NUMBERS,
    "warmup_fraction": TRAIN_NUMBERS, "max_grad_norm": TRAIN_NUMBERS | st.none(), "save_every": TRAIN_NUMBERS,
    "log_every": TRAIN_NUMBERS, "name": st.sampled_from(["ok", "..", ".", "", "/", "/abs", "a/b", "a b", "x" * 101,
                                                         "good-name_1.2+3", "-x"]),
    "loss_kwargs": st.sampled_from([{}, {"temperature": 0.05}, {"temperature": 0}, {"temperature": float("nan")},
                                    {"temperature": -1}, {"bogus": 1}]),
    "model": st.fixed_dictionaries({}, optional={"max_seq_length": TRAIN_NUMBERS}),
}


@fuzz(st.fixed_dictionaries({}, optional=TRAIN_FIELDS))
def _check_train_config(tmp_path, raw):
    raw = {"name": "ok", "max_steps": 0, **raw}
    source = tmp_path / "cfg.yaml"
    try:
        cfg = config_from_dict(raw, source=source)
    except ConfigError as exc:
        event("refused")
        assert str(source) in str(exc) and len(str(exc)) < 600, str(exc)
        return
    event("ok")
    assert isinstance(cfg, TrainConfig)
    ranges = documented_ranges()
    for key, value in raw.items():
        got = getattr(cfg, key)
        if key == "model":
            got, value, key = cfg.model.max_seq_length, value.get("max_seq_length", 128), "model.max_seq_length"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert got == value, f"{key}: {value!r} was read as {got!r}"
            assert key in ranges, f"{key} has no documented range"
            assert in_documented_range(value, ranges[key]), f"{key}={value!r} accepted outside {ranges[key]}"
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", cfg.name)


test_fuzz_train_config, test_fuzz_train_config_slow = _check_train_config
