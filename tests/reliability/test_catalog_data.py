"""Catalog: bad dataset folders and run files, through the CLI (``synrank validate`` / ``synrank evaluate``).

Each case breaks one file of a valid toy folder and checks: exit 2, one located error line naming
the file (and line), nothing written to the output folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytrec_eval

from synrank.data import load_folder
from synrank.data.beir import read_corpus
from synrank.data.values import GRADE_MAX, grade_problem
from tests.reliability.conftest import DOCS, HEADER, QRELS, QUERIES, jsonl, qrels_text
from tests.reliability.harness import (
    assert_clean_failure,
    assert_nothing_half_written,
    listing,
    run_cli_inprocess,
)


def _truncate_last_line(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 12])  # cut into the last record: no closing brace, no newline


# (case id, file to replace or a callable, new content, expected parts of the error line)
CASES = [
    ("truncated-corpus-jsonl", "corpus.jsonl", _truncate_last_line, ["corpus.jsonl:3", "malformed JSON"]),
    ("truncated-queries-jsonl", "queries.jsonl", _truncate_last_line, ["queries.jsonl:3", "malformed JSON"]),
    ("duplicate-doc-id", "corpus.jsonl", jsonl([*DOCS, {"_id": "d2", "text": "again"}]),
     ["corpus.jsonl:4", "duplicate document id 'd2'", "first on line 2"]),
    ("duplicate-query-id", "queries.jsonl", jsonl([*QUERIES, {"_id": "q1", "text": "again"}]),
     ["queries.jsonl:4", "duplicate query id 'q1'"]),
    ("empty-corpus", "corpus.jsonl", "", ["corpus.jsonl", "corpus is empty"]),
    ("blank-lines-only-corpus", "corpus.jsonl", "\n\n", ["corpus.jsonl", "corpus is empty"]),
    ("qrels-unknown-doc", "qrels/test.tsv", qrels_text([("q1", "d1", 1), ("q1", "d9", 1)]),
     ["test.tsv:3", "unknown corpus id 'd9'"]),
    ("qrels-unknown-query", "qrels/test.tsv", qrels_text([("q1", "d1", 1), ("q7", "d1", 1)]),
     ["test.tsv:3", "unknown query id 'q7'"]),
    ("float-grade", "qrels/test.tsv", HEADER + "\nq1\td1\t1.5\n", ["test.tsv:2", "'1.5' is not an integer"]),
    ("negative-grade", "qrels/test.tsv", HEADER + "\nq1\td1\t-1\n", ["test.tsv:2", "negative grade -1"]),
    ("conflicting-grades", "qrels/test.tsv", qrels_text([("q1", "d1", 1), ("q1", "d1", 2)]),
     ["test.tsv:3", "conflicting grades"]),
    ("qrels-missing-header", "qrels/test.tsv", "q1\td1\t1\n", ["test.tsv:1", "missing header"]),
    ("qrels-spaces-not-tabs", "qrels/test.tsv", HEADER + "\nq1 d1 1\n", ["test.tsv:2", "separated by tabs"]),
    ("qrels-header-only", "qrels/test.tsv", HEADER + "\n", ["test.tsv", "no judgements"]),
    ("invalid-utf8", "corpus.jsonl", b'{"_id": "d1", "text": "caf\xe9"}\n', ["corpus.jsonl:1", "invalid UTF-8"]),
    ("json-array-line", "corpus.jsonl", '["d1", "text"]\n', ["corpus.jsonl:1", "expected a JSON object"]),
    ("missing-text-field", "corpus.jsonl", '{"_id": "d1", "title": "t"}\n', ["corpus.jsonl:1", "missing 'text'"]),
    ("non-string-id", "queries.jsonl", '{"_id": 1.5, "text": "q"}\n', ["queries.jsonl:1", "'_id' must be a string"]),
]


def _apply(root: Path, target: str, change) -> None:
    path = root / target
    if callable(change):
        change(path)
    elif isinstance(change, bytes):
        path.write_bytes(change)
    else:
        path.write_text(change, encoding="utf-8")


@pytest.mark.parametrize(("target", "change", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_rejects(toy, target, change, expect):
    _apply(toy, target, change)
    assert_clean_failure(run_cli_inprocess("validate", toy), *expect, code=1)  # 1: the check failed


@pytest.mark.parametrize("case", ["truncated-queries-jsonl", "qrels-unknown-query", "float-grade"])
def test_evaluate_writes_nothing_on_bad_dataset(toy, run_file, tmp_path, case):
    _, target, change, expect = next(c for c in CASES if c[0] == case)
    _apply(toy, target, change)
    out = tmp_path / "results"
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", out)
    assert_clean_failure(res, *expect)
    assert_nothing_half_written(out)


RUN_CASES = [
    ("truncated-run", "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.", ["run.trec:2", "6 whitespace-separated columns"]),
    ("run-score-not-a-number", "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 abc t\n", ["run.trec:2", "'abc' is not a number"]),
    ("run-score-nan", "q1 Q0 d1 1 nan t\nq1 Q0 d2 2 1.0 t\n", ["run.trec:1", "'nan' is not finite"]),
    ("run-score-inf", "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 -inf t\n", ["run.trec:2", "'-inf' is not finite"]),
    ("run-duplicate-document", "q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n",
     ["run.trec:2", "'d1' appears twice for query 'q1'"]),
    ("run-no-judged-query", "qX Q0 d1 1 2.0 t\n", ["run.trec", "none of the 1 queries in the run is judged"]),
    ("run-empty", "", ["run.trec", "run file has no entries"]),
]


@pytest.mark.parametrize(("text", "expect"), [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_evaluate_rejects_bad_run(toy, tmp_path, text, expect):
    run = tmp_path / "run.trec"
    run.write_text(text, encoding="utf-8")
    out = tmp_path / "results"
    assert_clean_failure(run_cli_inprocess("evaluate", "--run", run, "--dataset", toy, "--output", out), *expect)
    assert_nothing_half_written(out)


def test_missing_dataset_folder(tmp_path):
    assert_clean_failure(run_cli_inprocess("validate", tmp_path / "nope"), "nope", "does not exist")


def test_missing_split(toy, run_file, tmp_path):
    out = tmp_path / "results"
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--split", "dev", "--output", out)
    assert_clean_failure(res, "split 'dev' not found", "available splits: test")
    assert_nothing_half_written(out)


def test_query_without_relevant_documents_counts_as_zero(toy, run_file, tmp_path):
    """Not an error: q3 is judged (grade 0 only). It must be counted with score 0, not silently dropped."""
    out = tmp_path / "results"
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", out)
    assert res.returncode == 0, res.stderr
    rows = (out / "per_query.tsv").read_text().splitlines()
    q3 = [r for r in rows if r.split("\t")[0] == "q3"]
    assert q3, "judged query without relevant documents missing from per_query.tsv"
    assert "3 judged queries" in res.stdout
    assert {".lock", "per_query.tsv", "metrics.json"} >= listing(out)
    report = run_cli_inprocess("validate", toy)
    assert report.returncode == 0
    assert "1 judged queries without a grade > 0" in report.stdout


@pytest.mark.parametrize("entry", ["corpus-is-a-folder", "split-is-a-folder", "split-is-a-broken-link"])
def test_layout_entries_must_be_files(toy, entry):
    """A corpus.jsonl that is a folder, or a qrels split that is a broken link, used to be reported as
    "absent" and the folder as valid."""
    if entry == "corpus-is-a-folder":
        (toy / "corpus.jsonl").unlink()
        (toy / "corpus.jsonl").mkdir()
        expect = ["corpus.jsonl: corpus.jsonl is not a regular file"]
    elif entry == "split-is-a-folder":
        (toy / "qrels" / "dev.tsv").mkdir()
        expect = ["dev.tsv: qrels split dev.tsv is not a regular file"]
    else:
        (toy / "qrels" / "dev.tsv").symlink_to(toy / "nowhere.tsv")
        expect = ["dev.tsv: qrels split dev.tsv is a broken symbolic link"]
    assert_clean_failure(run_cli_inprocess("validate", toy), *expect, code=1)  # 1: the check failed


def test_query_without_any_judgement_is_not_scored(toy, run_file, tmp_path):
    """Not an error: q4 is in queries.jsonl but has no qrels row. It is not an evaluation query (as in
    trec_eval and BEIR), the run's lines for it are ignored, and the CLI says so."""
    with open(toy / "queries.jsonl", "a") as fh:
        fh.write(json.dumps({"_id": "q4", "text": "what is delta"}) + "\n")
    run = tmp_path / "run4.trec"
    run.write_text(run_file.read_text() + "q4 Q0 d1 1 5.0 t\n")
    res = run_cli_inprocess("evaluate", "--run", run, "--dataset", toy, "--json")
    assert res.returncode == 0, res.stderr
    assert "1 of 4 queries in the run have no judgments" in res.stderr
    base = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--json")
    assert json.loads(res.stdout) == json.loads(base.stdout)


# ------------------------------------------------------------------------------- round two (issue 15)
@pytest.mark.parametrize(("grade", "expect"), [
    ("4294967295", "grade 4294967295 is out of range (-1000 to 1000) (grades are relevance levels such as 0-3"),
    ("100000000000000000000", "grade 100000000000000000000 is out of range"),
    ("2147483647", "grade 2147483647 is out of range"),
    ("1001", "grade 1001 is out of range"),
    ("1_0", "grade '1_0' is not an integer"),
    ("\u0663", "grade '\u0663' is not an integer"),
])
def test_grade_range_is_refused_where_pytrec_eval_would_fail(toy, run_file, tmp_path, grade, expect):
    """A grade >= 2^31 - 1 used to pass validate and score 0.0 everywhere (exit 0); 10^20 failed later
    without a location; '1_0' and Arabic-Indic digits: ASCII integers only. validate and evaluate refuse
    them with the same line (one check, synrank.data.values)."""
    (toy / "qrels" / "test.tsv").write_text(f"{HEADER}\nq1\td1\t{grade}\n", encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy), "test.tsv:2", expect, code=1)
    out = tmp_path / "out"
    assert_clean_failure(run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", out),
                         "test.tsv:2", expect)
    assert_nothing_half_written(out)


def test_grade_bound_is_where_pytrec_eval_stays_correct():
    """At the bound pytrec_eval still gives the textbook nDCG (checked against the formula). Beyond it,
    measured in subprocesses (docs/reliability.md, "Values"): memory grows by 8 bytes per grade level,
    a failed allocation or a grade >= 2^31 - 1 gives 0.0 or garbage without an error, sometimes a segfault,
    so those grades are not evaluated here."""
    def ndcg(grade: int, first: str) -> float:
        run = {"q": {first: 3.0, "ab".replace(first, ""): 2.0, "c": 1.0}}
        ev = pytrec_eval.RelevanceEvaluator({"q": {"a": grade, "b": 1}}, {"ndcg_cut.10"})
        return ev.evaluate(run)["q"]["ndcg_cut_10"]

    dcg, ideal = 1 + 1000 / math.log2(3), 1000 + 1 / math.log2(3)  # linear gains, b ranked above a
    assert ndcg(1000, "b") == pytest.approx(dcg / ideal, rel=1e-12)
    assert ndcg(1000, "a") == pytest.approx(1.0)
    assert GRADE_MAX == 1000 and grade_problem(1000) is None and grade_problem(1001) is not None


@pytest.mark.parametrize("header", ["corpus-id\tquery-id\tscore", "score\tqid\tdocid", "Query_ID\tDoc_ID\tGrade"])
def test_qrels_columns_are_read_by_header_name(toy, header):
    """A header ``corpus-id<TAB>query-id<TAB>score`` used to be read by position: columns swapped, exit 0."""
    names = [h.strip().lower() for h in header.split("\t")]
    rows = []
    for q, d, g in QRELS:
        by_role = {"q": q, "d": d, "g": str(g)}
        role = {"query-id": "q", "qid": "q", "query_id": "q", "corpus-id": "d", "docid": "d", "doc_id": "d",
                "score": "g", "grade": "g"}
        rows.append("\t".join(by_role[role[n]] for n in names))
    (toy / "qrels" / "test.tsv").write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert run_cli_inprocess("validate", toy).returncode == 0
    expected = {}
    for q, d, g in QRELS:
        expected.setdefault(q, {})[d] = g
    assert load_folder(toy).qrels == expected


def test_qrels_header_with_unknown_column_name(toy):
    (toy / "qrels" / "test.tsv").write_text("query-id\tdocument\tscore\nq1\td1\t1\n", encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy), "test.tsv:1",
                         "qrels header: unknown column name 'document'", "corpus-id may also be named", code=1)


@pytest.mark.parametrize(("target", "content", "expect"), [
    ("corpus.jsonl", jsonl([*DOCS, {"_id": "d 4", "text": "delta"}]),
     "corpus.jsonl:4: '_id' 'd 4' contains whitespace (U+0020), which a TREC run line cannot hold"),
    ("corpus.jsonl", jsonl([*DOCS, {"_id": "d\u00a04", "text": "delta"}]),
     "corpus.jsonl:4: '_id' 'd\\xa04' contains whitespace (U+00A0)"),
    ("queries.jsonl", jsonl([*QUERIES, {"_id": "q\x004", "text": "x"}]), "queries.jsonl:4: '_id' 'q\\x004' contains a "
                                                                          "control character (U+0000)"),
    ("qrels/test.tsv", HEADER + "\nq1\td1 \t1\n", "test.tsv:2: corpus-id 'd1 ' contains whitespace"),
])
def test_ids_a_trec_run_cannot_hold_are_refused(toy, target, content, expect):
    """A document id with a space used to pass validate; then ``evaluate --model`` crashed after the whole
    retrieval, writing nothing."""
    (toy / target).write_text(content, encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy), expect, code=1)


def test_model_evaluation_never_meets_an_id_it_cannot_write(toy, tmp_path):
    """The other half of the same finding: a folder validate accepts is evaluated to the end by a model."""
    out = tmp_path / "out"
    res = run_cli_inprocess("evaluate", "--model", "tests.reliability.fake_encoder:Hash64", "--dataset", toy,
                            "--output", out, "--no-cache")
    assert res.returncode == 0, res.stderr
    assert {"run.trec.gz", "per_query.tsv", "metrics.json"} <= listing(out)


@pytest.mark.parametrize(("score", "expect"), [
    ("1_000", "run.trec:1: score '1_000' is not a number"),
    ("\u0661\u0662", "run.trec:1: score '\u0661\u0662' is not a number"),
    ("\uff11", "score '\uff11' is not a number"),
    ("0x1p3", "score '0x1p3' is not a number"),
    ("1e999", "score '1e999' is not finite"),
])
def test_numbers_python_reads_but_trec_eval_does_not(toy, tmp_path, score, expect):
    """float() reads '1_000' as 1000 (trec_eval's atof: 1) and Arabic-Indic digits as 12: a silently
    different ranking. Scores are ASCII decimals."""
    run = tmp_path / "run.trec"
    run.write_text(f"q1 Q0 d1 1 {score} t\nq1 Q0 d2 2 1.0 t\n", encoding="utf-8")
    out = tmp_path / "out"
    assert_clean_failure(run_cli_inprocess("evaluate", "--run", run, "--dataset", toy, "--output", out), expect)
    assert_nothing_half_written(out)


def test_validate_reads_the_shipped_run_with_the_evaluation_reader(toy):
    """Validation is one layer: the first-stage run ``evaluate`` would refuse is refused by validate first
    (it used to check it with float(), which accepts '1_000')."""
    (toy / "bm25_top100.trec").write_text("q1 Q0 d1 1 1_000 bm25\n", encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy), "bm25_top100.trec:1: score '1_000' is not a number", code=1)


@pytest.mark.parametrize("text", ["   ", "\u200b", "\u3000\u2060", "\ufeff\t"])
def test_blank_documents_are_empty_documents(toy, text):
    """Whitespace-only or invisible texts were accepted while empty ones were refused: both are empty now,
    with the same line (and, where a dataset allows empty documents, the same count)."""
    (toy / "corpus.jsonl").write_text(jsonl([*DOCS, {"_id": "d4", "title": text, "text": text}]), encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy),
                         "corpus.jsonl:4: empty document 'd4': 'text' and 'title' are empty or blank", code=1)
    warnings: list[str] = []
    docs, _ = read_corpus(toy / "corpus.jsonl", allow_empty_documents=True, warnings=warnings)
    assert "d4" in docs and any("1 document(s) have an empty title and text" in w for w in warnings)
    (toy / "queries.jsonl").write_text(jsonl([*QUERIES, {"_id": "q4", "text": text}]), encoding="utf-8")
    (toy / "corpus.jsonl").write_text(jsonl(DOCS), encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("validate", toy), "queries.jsonl:4: empty query text for 'q4'", code=1)
