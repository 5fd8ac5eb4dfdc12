"""BEIR reader: one test per validation error (message names file and line), tolerated quirks."""

from __future__ import annotations

import json
import logging
import time

import pytest

from synrank.data import BeirDataset, Document, load_dataset
from synrank.data.beir import load_folder, read_corpus
from synrank.errors import DatasetError
from tests.conftest import need_datasets

from .conftest import DOCS, HEADER, QUERIES, jsonl


def _qrels(*rows: str, header: bool = True) -> dict[str, str]:
    return {"test": (HEADER + "\n" if header else "") + "".join(r + "\n" for r in rows)}


GOOD_ROWS = ("q1\td1\t2", "q1\td3\t0", "q2\td2\t1")

# (case id, files to write, file named in the error, line, text the message must contain)
ERROR_CASES = [
    ("corpus-malformed-json", dict(corpus=jsonl(DOCS[:1]) + '{"_id": "d2", "text": "x"\n' + jsonl(DOCS[2:])),
     "corpus.jsonl", 2, "malformed JSON line"),
    ("queries-malformed-json", dict(queries=jsonl(QUERIES) + "not json\n"),
     "queries.jsonl", 3, "malformed JSON line"),
    ("corpus-not-an-object", dict(corpus=jsonl(DOCS) + "[1, 2]\n"), "corpus.jsonl", 4, "expected a JSON object"),
    ("corpus-missing-id", dict(corpus=jsonl(DOCS[:2]) + '{"title": "t", "text": "x"}\n'),
     "corpus.jsonl", 3, "missing '_id'"),
    ("queries-missing-id", dict(queries='{"text": "x"}\n'), "queries.jsonl", 1, "missing '_id'"),
    ("corpus-missing-text", dict(corpus=jsonl(DOCS) + '{"_id": "d4", "title": "only a title"}\n'),
     "corpus.jsonl", 4, "missing 'text'"),
    ("queries-missing-text", dict(queries=jsonl(QUERIES) + '{"_id": "q3", "query": "x"}\n'),
     "queries.jsonl", 3, "missing 'text'"),
    ("corpus-id-wrong-type", dict(corpus=jsonl(DOCS) + '{"_id": 1.5, "text": "x"}\n'),
     "corpus.jsonl", 4, "'_id' must be a string"),
    ("corpus-empty-id", dict(corpus=jsonl(DOCS) + '{"_id": " ", "text": "x"}\n'), "corpus.jsonl", 4, "'_id' ' ' is empty"),
    ("corpus-text-wrong-type", dict(corpus=jsonl(DOCS) + '{"_id": "d4", "text": ["x"]}\n'),
     "corpus.jsonl", 4, "'text' must be a string"),
    ("corpus-duplicate-id", dict(corpus=jsonl(DOCS) + jsonl([{"_id": "d2", "text": "again"}])),
     "corpus.jsonl", 4, "duplicate document id 'd2' (first on line 2)"),
    ("queries-duplicate-id", dict(queries=jsonl(QUERIES) + jsonl([{"_id": "q1", "text": "again"}])),
     "queries.jsonl", 3, "duplicate query id 'q1' (first on line 1)"),
    ("corpus-empty-document", dict(corpus=jsonl(DOCS) + jsonl([{"_id": "d4", "title": " ", "text": " \t"}])),
     "corpus.jsonl", 4, "empty document 'd4'"),
    ("queries-empty-text", dict(queries=jsonl(QUERIES) + jsonl([{"_id": "q3", "text": "  "}])),
     "queries.jsonl", 3, "empty query text for 'q3'"),
    ("corpus-invalid-utf8", dict(corpus=jsonl(DOCS) + '{"_id": "d4", "text": "caf\udce9"}\n'),
     "corpus.jsonl", 4, "invalid UTF-8"),
    ("qrels-unknown-query", dict(qrels=_qrels(*GOOD_ROWS, "q9\td1\t1")), "qrels/test.tsv", 5,
     "unknown query id 'q9'"),
    ("qrels-unknown-doc", dict(qrels=_qrels(*GOOD_ROWS, "q2\td9\t1")), "qrels/test.tsv", 5,
     "unknown corpus id 'd9'"),
    ("qrels-float-grade", dict(qrels=_qrels("q1\td1\t1.0", *GOOD_ROWS[1:])), "qrels/test.tsv", 2,
     "grade '1.0' is not an integer"),
    ("qrels-text-grade", dict(qrels=_qrels(*GOOD_ROWS, "q2\td1\thigh")), "qrels/test.tsv", 5,
     "grade 'high' is not an integer"),
    ("qrels-negative-grade", dict(qrels=_qrels(*GOOD_ROWS, "q2\td1\t-1")), "qrels/test.tsv", 5,
     "negative grade -1"),
    ("qrels-missing-header", dict(qrels=_qrels(*GOOD_ROWS, header=False)), "qrels/test.tsv", 1,
     "missing header line"),
    ("qrels-trec-format", dict(qrels=_qrels("q1 0 d1 1".replace(" ", "\t"), header=False)), "qrels/test.tsv", 1,
     "looks like TREC qrels"),
    ("qrels-extra-column", dict(qrels=_qrels(GOOD_ROWS[0], "q1\td3\t0\textra", GOOD_ROWS[2])), "qrels/test.tsv", 3,
     "extra column"),
    ("qrels-missing-column", dict(qrels=_qrels(*GOOD_ROWS, "q2\td1")), "qrels/test.tsv", 5, "missing column"),
    ("qrels-space-separated", dict(qrels=_qrels(*GOOD_ROWS, "q2 d1 1")), "qrels/test.tsv", 5,
     "separated by tabs"),
    ("qrels-header-extra-column", dict(qrels={"test": HEADER + "\tx\n" + GOOD_ROWS[0] + "\n"}), "qrels/test.tsv", 1,
     "header must have 3 tab-separated columns"),
    ("qrels-empty-query-id", dict(qrels=_qrels(*GOOD_ROWS, "\td1\t1")), "qrels/test.tsv", 5, "query-id '' is empty"),
    ("qrels-conflicting-grades", dict(qrels=_qrels(*GOOD_ROWS, "q1\td1\t3")), "qrels/test.tsv", 5,
     "conflicting grades for query 'q1', document 'd1': 2 (line 2) and 3"),
]


@pytest.mark.parametrize("files,filename,line,text", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_validation_error_names_file_and_line(make_dataset, files, filename, line, text):
    if "corpus" in files and "\udce9" in files["corpus"]:
        root = make_dataset()
        raw = files["corpus"].encode("utf-8", "surrogateescape")
        (root / "corpus.jsonl").write_bytes(raw)
    else:
        root = make_dataset(**files)
    with pytest.raises(DatasetError) as err:
        load_folder(root)
    exc = err.value
    assert exc.path == str(root / filename)
    assert exc.line == line
    assert f"{root / filename}:{line}: " in str(exc)
    assert text in str(exc)


def test_missing_split_lists_available_splits(make_dataset):
    root = make_dataset(qrels={"test": HEADER + "\nq1\td1\t1\n", "train": HEADER + "\nq2\td2\t1\n"})
    with pytest.raises(DatasetError) as err:
        load_folder(root, split="dev")
    assert str(root / "qrels" / "dev.tsv") in str(err.value)
    assert "available splits: test, train" in str(err.value)


def test_empty_corpus_is_an_error(make_dataset):
    root = make_dataset(corpus="\n")
    with pytest.raises(DatasetError, match="corpus is empty") as err:
        load_folder(root)
    assert err.value.path == str(root / "corpus.jsonl")


def test_empty_qrels_and_header_only_are_errors(make_dataset):
    with pytest.raises(DatasetError, match="missing header") as err:
        load_folder(make_dataset(qrels={"test": ""}))
    assert err.value.path.endswith("test.tsv")
    with pytest.raises(DatasetError, match="no judgements"):
        load_folder(make_dataset(qrels={"test": HEADER + "\n"}))


def test_no_corpus_file_is_an_error_unless_corpus_false(make_dataset):
    root = make_dataset(with_corpus=False)
    with pytest.raises(DatasetError, match="has no corpus.jsonl"):
        load_folder(root)
    ds = load_folder(root, corpus=False)
    assert ds.corpus == {} and ds.qrels["q1"] == {"d1": 2, "d3": 0}


def test_valid_folder_loads_typed_objects(make_dataset):
    ds = load_folder(make_dataset())
    assert isinstance(ds, BeirDataset)
    assert ds.split == "test"
    assert list(ds.corpus) == ["d1", "d2", "d3"]
    assert ds.corpus["d1"] == Document("d1", "Alpha", "alpha text")
    assert ds.queries == {"q1": "what is alpha", "q2": "what is beta"}
    assert ds.qrels == {"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1}}  # zero grades kept
    assert ds.judged_queries() == ds.queries
    assert ds.warnings == []
    assert set(ds.checksums) == {"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"}
    assert ds.beir_corpus()["d2"] == {"title": "", "text": "beta text"}


def test_bom_and_crlf_are_accepted_and_change_nothing_but_checksums(make_dataset):
    plain = load_folder(make_dataset())
    bom = "\ufeff"

    def crlf(text: str) -> str:
        return bom + text.replace("\n", "\r\n")

    qrels = HEADER + "\n" + "q1\td1\t2\nq1\td3\t0\nq2\td2\t1\n"
    ds = load_folder(make_dataset(corpus=crlf(jsonl(DOCS)), queries=crlf(jsonl(QUERIES)),
                                  qrels={"test": crlf(qrels)}))
    assert (ds.corpus, ds.queries, ds.qrels) == (plain.corpus, plain.queries, plain.qrels)
    assert ds.sha256() != plain.sha256()
    assert ds.warnings == []


def test_integer_ids_become_strings(make_dataset):
    root = make_dataset(corpus=jsonl([{"_id": 7, "text": "seven"}]), queries=jsonl([{"_id": 1, "text": "q"}]),
                        qrels={"test": HEADER + "\n1\t7\t1\n"})
    ds = load_folder(root)
    assert ds.corpus == {"7": Document("7", "", "seven")} and ds.qrels == {"1": {"7": 1}}


def test_title_only_documents_and_repeated_rows_warn_once_with_counts(make_dataset, caplog):
    docs = [*DOCS, {"_id": "d4", "title": "T4", "text": ""}, {"_id": "d5", "title": "T5", "text": " "}]
    root = make_dataset(corpus=jsonl(docs), qrels=_qrels(*GOOD_ROWS, GOOD_ROWS[0], GOOD_ROWS[0]))
    with caplog.at_level(logging.WARNING, logger="synrank.data"):
        ds = load_folder(root)
    assert ds.corpus["d4"].title == "T4" and len(ds.corpus) == 5
    assert ds.qrels["q1"] == {"d1": 2, "d3": 0}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "2 document(s) have a title but an empty text" in messages[0]
    assert "2 repeated identical judgement row(s)" in messages[1]
    assert ds.warnings == messages


def test_qrels_outside_corpus_allowed_only_where_metadata_says(make_dataset, caplog):
    rows = (*GOOD_ROWS, "q2\tx1\t0", "q2\tx2\t3", "q1\tx3\t1")
    root = make_dataset("trec-dl-2019", qrels=_qrels(*rows))
    with caplog.at_level(logging.WARNING, logger="synrank.data"):
        ds = load_folder(root)
    assert ds.qrels["q2"] == {"d2": 1, "x1": 0, "x2": 3}
    assert len(caplog.records) == 1
    assert "3 judgement(s) (2 with grade > 0) name documents that are not in corpus.jsonl" in caplog.text
    assert ds.info.relevance_threshold == 2
    # The same files under a name without that metadata: an error.
    with pytest.raises(DatasetError, match="unknown corpus id 'x1'") as err:
        load_folder(root, name="my-dataset")
    assert err.value.line == 5


def test_negative_grades_only_in_declared_raw_code_splits(make_dataset):
    qrels = {"test": _qrels(*GOOD_ROWS)["test"], "test_raw_codes": _qrels(*GOOD_ROWS, "q2\td1\t-1")["test"]}
    root = make_dataset("cranfield", qrels=qrels)
    ds = load_folder(root, split="test_raw_codes")
    assert ds.qrels["q2"]["d1"] == -1
    assert any("1 judgement(s) have a negative grade" in w for w in ds.warnings)
    bad = make_dataset("cranfield-copy", qrels={"test": qrels["test_raw_codes"]})
    with pytest.raises(DatasetError, match="negative grade"):
        load_folder(bad, name="cranfield", split="test")


def test_cranfield_metadata_keeps_empty_documents(make_dataset):
    docs = [*DOCS, {"_id": "d4", "title": "", "text": ""}]
    ds = load_folder(make_dataset("cranfield", corpus=jsonl(docs)))
    assert ds.corpus["d4"] == Document("d4", "", "")
    assert any("1 document(s) have an empty title and text" in w for w in ds.warnings)


def test_judged_query_without_relevant_document_is_kept(make_dataset):
    ds = load_folder(make_dataset(qrels=_qrels("q1\td1\t0", "q2\td2\t1")))
    assert ds.judged_queries() == {"q1": "what is alpha", "q2": "what is beta"}
    assert ds.queries_without_relevant() == ["q1"]
    assert ds.queries_without_relevant(threshold=2) == ["q1", "q2"]


def test_shared_checksums_match_manifests(shared_datasets):
    """The sha256 recorded while reading equals the digest each MANIFEST.md lists (independent)."""
    for name in ("scifact", "trec-dl-2019", "cranfield"):
        manifest = (shared_datasets / name / "MANIFEST.md").read_text(encoding="utf-8")
        listed = {}
        for line in manifest.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) >= 4 and cells[-1].startswith("`"):
                listed[cells[0]] = cells[-1].strip("`")
        ds = load_dataset(name)
        assert ds.checksums, name
        for file, digest in ds.checksums.items():
            assert listed[file] == digest, (name, file)


def test_scifact_loads_fast(shared_datasets):
    start = time.perf_counter()
    ds = load_dataset("scifact")
    elapsed = time.perf_counter() - start
    assert len(ds.corpus) == 5183 and len(ds.judged_queries()) == 300
    assert elapsed < 2.0, f"scifact took {elapsed:.2f}s (measured ~0.25 s on 2 shared cores)"


@pytest.mark.parametrize("name", ["trec-dl-2019", "trec-dl-2020"])
def test_read_corpus_plain_json_equivalence(shared_datasets, name):
    """Independent reference: plain json.loads over the file gives the same documents."""
    need_datasets(shared_datasets, name)
    path = shared_datasets / name / "corpus.jsonl"
    corpus, _ = read_corpus(path)
    with open(path, encoding="utf-8") as f:
        expected = [json.loads(line) for line in f]
    assert [(d.doc_id, d.title, d.text) for d in corpus.values()] == [
        (r["_id"], r.get("title", ""), r["text"]) for r in expected]


def test_repeated_loads_log_a_quirk_once(make_dataset, caplog):
    root = make_dataset("trec-dl-2020", qrels=_qrels(*GOOD_ROWS, "q2\tx1\t0"))
    with caplog.at_level(logging.WARNING, logger="synrank.data"):
        first, second = load_folder(root), load_folder(root)
    assert len(caplog.records) == 1
    assert first.warnings == second.warnings and len(first.warnings) == 1


def test_msmarco_dev_queries_load_fast(shared_datasets):
    need_datasets(shared_datasets, "msmarco-dev-queries")
    start = time.perf_counter()
    ds = load_dataset("msmarco-dev-queries", corpus=False)
    elapsed = time.perf_counter() - start
    assert len(ds.queries) == 56390 and ds.qrels == {} and ds.split == ""
    assert elapsed < 3.0, f"took {elapsed:.2f}s (measured ~0.3-0.5 s on 2 shared cores)"
