"""Conversions into BEIR layout (synrank.data.convert) on small fixtures: TREC topic/qrels files, a
RankGPT pool, BEIR archives, and ir_datasets through a stand-in module."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.data.beir import read_qrels, read_queries
from synrank.data.convert import (
    build_rankgpt_pool,
    from_ir_datasets,
    read_tsv_queries,
    trec_qrels_to_beir,
    tsv_queries_to_jsonl,
    unpack_beir_zip,
)
from synrank.data.validate import validate_folder
from synrank.data.values import is_blank
from synrank.errors import DatasetError
from tests.data.dlhelpers import beir_zip, make_zip
from tests.fake_ir_datasets import (
    BeirTitleDoc,
    CranfieldDoc,
    FakeDataset,
    FakeIrDatasets,
    GenericDoc,
    GenericQuery,
    TrecQrel,
)

ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
# A query needs a visible character: the reader refuses text of spaces and zero-width or format
# characters only (e.g. a lone soft hyphen), which ``t.strip()`` alone lets through.
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40).filter(
    lambda t: not is_blank(t))


@settings(max_examples=60, deadline=None)
@given(queries=st.dictionaries(ids, texts, min_size=1, max_size=20), crlf=st.booleans(), packed=st.booleans())
def test_tsv_queries_round_trip(tmp_path_factory, queries, crlf, packed):
    """Independent reference: the dict the TSV was written from; texts come back verbatim."""
    folder = tmp_path_factory.mktemp("q")
    end = "\r\n" if crlf else "\n"
    raw = "".join(f"{q}\t{t}{end}" for q, t in queries.items()).encode()
    src = folder / "topics.tsv"
    src.write_bytes(gzip.compress(raw) if packed else raw)
    assert tsv_queries_to_jsonl(src, folder / "queries.jsonl") == len(queries)
    assert read_queries(folder / "queries.jsonl")[0] == queries


@settings(max_examples=60, deadline=None)
@given(rows=st.dictionaries(st.tuples(ids, ids), st.integers(-1, 4), min_size=1, max_size=30))
def test_trec_qrels_round_trip(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("r")
    src = folder / "qrels.txt"
    src.write_text("".join(f"{q} 0 {d} {g}\n" for (q, d), g in rows.items()))
    judged = trec_qrels_to_beir(src, folder / "test.tsv")
    qrels, _ = read_qrels(folder / "test.tsv", allow_negative=True)
    expected: dict[str, dict[str, int]] = {}
    for (q, d), g in rows.items():
        expected.setdefault(q, {})[d] = g
    assert qrels == expected and judged == set(expected)


@pytest.mark.parametrize("content,match,line", [
    ("q1\tone\nq2 two\n", "expected 'id<TAB>text'", 2),
    ("q1\tone\nq1\tagain\n", "duplicate query id 'q1'", 2),
])
def test_bad_topic_files_are_located(tmp_path, content, match, line):
    (tmp_path / "t.tsv").write_text(content)
    with pytest.raises(DatasetError, match=match) as err:
        read_tsv_queries(tmp_path / "t.tsv")
    assert err.value.line == line


@pytest.mark.parametrize("content,match,line", [
    ("q1 0 d1 1\nq1 0 d2\n", "expected 4 columns", 2),
    ("q1 0 d1 high\n", "grade 'high' is not an integer", 1),
])
def test_bad_trec_qrels_are_located(tmp_path, content, match, line):
    (tmp_path / "q.txt").write_text(content)
    with pytest.raises(DatasetError, match=match) as err:
        trec_qrels_to_beir(tmp_path / "q.txt", tmp_path / "out.tsv")
    assert err.value.line == line and not (tmp_path / "out.tsv").exists()


def test_damaged_gzip_topics_are_located(tmp_path):
    body = "".join(f"q{i}\tquery {i}\n" for i in range(2000)).encode()
    (tmp_path / "t.tsv.gz").write_bytes(gzip.compress(body)[:200])
    with pytest.raises(DatasetError, match="damaged gzip file"):
        read_tsv_queries(tmp_path / "t.tsv.gz")


def _pool_inputs(tmp_path, hits=None):
    hits = hits or [[("11", "p1", 9.5, "alpha"), ("11", "p2", 8.25, "beta")],
                    [("12", "p2", 7.0, "beta"), ("12", "p3", 6.5, "gamma")]]
    run = [{"query": "x", "hits": [{"qid": int(q), "docid": d, "rank": r, "score": s, "content": c}
                                   for r, (q, d, s, c) in enumerate(group, 1)]} for group in hits]
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "topics.tsv").write_text("12\ttwelve\r\n11\televen\r\n13\tnever judged\r\n")
    (tmp_path / "qrels.txt").write_text("12 0 p3 2\n12 0 p9 3\n11 0 p1 1\n")
    return tmp_path / "run.json", tmp_path / "topics.tsv", tmp_path / "qrels.txt"


def test_rankgpt_pool_layout(tmp_path):
    out = tmp_path / "pool"
    out.mkdir()
    build_rankgpt_pool(*_pool_inputs(tmp_path), out)
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert corpus == [{"_id": "p1", "title": "", "text": "alpha"}, {"_id": "p2", "title": "", "text": "beta"},
                      {"_id": "p3", "title": "", "text": "gamma"}]  # each passage once, first appearance
    assert (out / "queries.jsonl").read_text().splitlines() == [  # judged only, in qrels order
        '{"_id": "12", "text": "twelve"}', '{"_id": "11", "text": "eleven"}']
    assert (out / "bm25_top100.trec").read_text().splitlines()[1] == "11 Q0 p2 2 8.25 bm25"
    report = validate_folder(out, name="trec-dl-2020")  # its metadata allows the unpooled p9
    assert report.documents == 3 and report.splits["test"].judgements == 3


def test_rankgpt_pool_needs_every_judged_topic(tmp_path):
    run, topics, qrels = _pool_inputs(tmp_path)
    topics.write_text("12\ttwelve\n")
    with pytest.raises(DatasetError, match="judged queries missing from the topics file: 11"):
        build_rankgpt_pool(run, topics, qrels, tmp_path)


def test_beir_archives(tmp_path):
    (tmp_path / "a.zip").write_bytes(beir_zip("toy"))
    assert unpack_beir_zip(tmp_path / "a.zip", "toy", tmp_path / "w1") == tmp_path / "w1" / "unpacked" / "toy"
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DatasetError, match="not a valid zip file"):
        unpack_beir_zip(tmp_path / "b.zip", "toy", tmp_path / "w2")
    (tmp_path / "c.zip").write_bytes(make_zip({"README": "nothing"}))
    with pytest.raises(DatasetError, match="no BEIR-layout folder toy/"):
        unpack_beir_zip(tmp_path / "c.zip", "toy", tmp_path / "w3")
    (tmp_path / "d.zip").write_bytes(beir_zip("stack", forums=["a"]))
    with pytest.raises(DatasetError, match="forum\\(s\\) b"):
        unpack_beir_zip(tmp_path / "d.zip", "stack", tmp_path / "w4", forums=["a", "b"])


def test_ir_datasets_beir_like(tmp_path):
    fake = FakeIrDatasets({
        "x": FakeDataset(docs=[BeirTitleDoc("1", "one", "T"), GenericDoc("2", "two")],
                         queries=[GenericQuery("q1", "first?")]),
        "x/test": FakeDataset(queries=[GenericQuery("q2", "second")], qrels=[TrecQrel("q2", "2", 1, "0")])})
    from_ir_datasets({"docs": "x", "test": "x/test"}, tmp_path, module=fake)
    assert [json.loads(line) for line in (tmp_path / "corpus.jsonl").read_text().splitlines()] == [
        {"_id": "1", "title": "T", "text": "one"}, {"_id": "2", "title": "", "text": "two"}]
    assert read_queries(tmp_path / "queries.jsonl")[0] == {"q1": "first?", "q2": "second"}
    assert validate_folder(tmp_path).splits["test"].judgements == 1


def test_ir_datasets_cranfield_transform(tmp_path):
    fake = FakeIrDatasets({"cranfield": FakeDataset(
        docs=[CranfieldDoc("1", "experimental  investigation\nof the", "experimental investigation\n of the aero",
                           "a.", "b."), CranfieldDoc("2", "", "", "", "")],
        queries=[GenericQuery("1", "what  similarity laws\n must be obeyed")],
        qrels=[TrecQrel("1", "1", -1, "0"), TrecQrel("1", "2", 2, "0")])})
    from_ir_datasets({"docs": "cranfield", "queries": "cranfield", "test": "cranfield"}, tmp_path,
                     module=fake, transform="cranfield")
    doc = json.loads((tmp_path / "corpus.jsonl").read_text().splitlines()[0])
    assert doc == {"_id": "1", "title": "experimental investigation of the",
                   "text": "experimental investigation of the aero"}
    assert read_queries(tmp_path / "queries.jsonl")[0] == {"1": "what similarity laws must be obeyed"}
    assert (tmp_path / "qrels" / "test.tsv").read_text().splitlines()[1:] == ["1\t1\t0", "1\t2\t3"]
    assert (tmp_path / "qrels" / "test_raw_codes.tsv").read_text().splitlines()[1:] == ["1\t1\t-1", "1\t2\t2"]
    report = validate_folder(tmp_path, name="cranfield")  # its metadata: raw codes, empty docs allowed
    assert report.splits["test"].grades == {0: 1, 3: 1}


def test_ir_datasets_errors_are_one_line(tmp_path):
    with pytest.raises(DatasetError, match="ir_datasets failed on nope .*KeyError"):
        from_ir_datasets({"docs": "nope"}, tmp_path, module=FakeIrDatasets({}))
