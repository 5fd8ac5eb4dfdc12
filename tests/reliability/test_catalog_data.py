"""Catalog: bad dataset folders and run files, through the CLI (``synrank validate`` / ``synrank evaluate``).

Each case breaks one file of a valid toy folder and checks: exit 2, one located error line naming
the file (and line), nothing written to the output folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.conftest import DOCS, HEADER, QUERIES, jsonl, qrels_text
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
