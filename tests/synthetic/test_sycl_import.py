"""SyCL data files (BEIR layout as in their data_configs, and grouped JSONL) into synrank groups."""

from __future__ import annotations

import gzip
import json

import pytest

from synrank.data.groups import read_groups
from synrank.errors import DatasetError
from synrank.synthetic.sycl_import import import_sycl


def test_beir_layout(tmp_path):
    src = tmp_path / "llama33_70b"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i}"}) + "\n"
                                              for i in range(8)))
    (src / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\td{4 * k + j}\t{3 - j}\n" for k, q in enumerate(("101", "102")) for j in range(4)))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "101", "text": "what is a cat"}) + "\n"
                       + json.dumps({"_id": "102", "text": "how tall is everest"}) + "\n")
    res = import_sycl(src, tmp_path / "out", queries=queries)
    assert res == {"groups": 2, "passages": 8, "skipped_evaluation_queries": 0,
                   "output": str(tmp_path / "out" / "groups.jsonl.gz"), "format": "beir"}
    groups = read_groups(tmp_path / "out")
    assert [g.grades for g in groups] == [[3, 2, 1, 0]] * 2
    assert groups[1].passages[0].text == "passage 4" and groups[0].query == "what is a cat"
    assert groups[0].meta["strategy"] == "sycl-import"


def test_grouped_jsonl_both_shapes_and_guard(tmp_path, shared_datasets):
    eval_query = json.loads((shared_datasets / "trec-dl-2019" / "queries.jsonl").read_text().splitlines()[0])["text"]
    lines = [
        {"query_id": "1", "query": "what is a cat", "passages": {"3": "A cat is a small mammal.", "0": ["Cars."]}},
        {"qid": 2, "query": "what is a dog", "docs": [{"text": "Dogs bark.", "score": 3}, {"text": "Fish swim.", "score": 0}]},
        {"qid": 3, "query": eval_query, "passages": {"3": "x"}},
    ]
    path = tmp_path / "sycl.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("".join(json.dumps(x) + "\n" for x in lines))
    res = import_sycl(path, tmp_path / "o.jsonl.gz")
    assert res["groups"] == 2 and res["skipped_evaluation_queries"] == 1
    groups = read_groups(tmp_path / "o.jsonl.gz")
    assert [(g.query_id, g.grades) for g in groups] == [("1", [3, 0]), ("2", [3, 0])]


def test_malformed_input_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"query": "q", "passages": [{"text": "t"}]}) + "\n")
    with pytest.raises(DatasetError, match=r"bad.jsonl:1: each passage needs"):
        import_sycl(path, tmp_path / "o")


def test_cli_import(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"qid": "7", "query": "what is a cat", "passages": {"3": "A cat.", "1": "Pets."}}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "synrank.cli", "synthetic-import", str(path), "--output",
                           str(tmp_path / "o")], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "imported 1 groups (2 passages)" in proc.stdout
    assert read_groups(tmp_path / "o")[0].grades == [3, 1]
    bad = subprocess.run([sys.executable, "-m", "synrank.cli", "synthetic-import", str(tmp_path / "missing"),
                          "--output", str(tmp_path / "o2")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "SyCL input not found" in bad.stderr


def _line(qid: str, passage: str) -> str:
    return json.dumps({"query_id": qid, "query": f"query {qid}", "passages": {"3": passage}}) + "\n"


def test_repeated_query_id_is_refused_at_import(tmp_path):
    """R10: the trainer refuses a repeated query id, so the importer reports it, naming both lines."""
    path = tmp_path / "sycl2.jsonl"
    path.write_text(_line("7", "first") + "\n" + _line("8", "other") + _line("7", "second"))
    with pytest.raises(DatasetError, match=r"sycl2.jsonl:4: query id '7' already imported from line 1 "
                                           r"\(.*merge the two lines or remove one\)"):
        import_sycl(path, tmp_path / "o.jsonl.gz")
    assert not (tmp_path / "o.jsonl.gz").exists()


def test_repeated_query_id_across_files_of_a_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jsonl").write_text(_line("1", "x") + _line("2", "y"))
    with gzip.open(src / "b.jsonl.gz", "wt") as fh:
        fh.write(_line("3", "z") + _line("2", "w"))
    with pytest.raises(DatasetError, match=r"b.jsonl.gz:2: query id '2' already imported from .*a.jsonl:2"):
        import_sycl(src, tmp_path / "o")


def test_non_object_line_and_corpus_record_are_located(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text(_line("1", "x") + '["not", "a", "group"]\n')
    with pytest.raises(DatasetError, match=r"list.jsonl:2: expected a JSON object, found an array"):
        import_sycl(path, tmp_path / "o")
    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_text('{"_id": "d0", "text": "p"}\n"just a string"\n')
    (src / "qrels" / "train.tsv").write_text("q1\td0\t3\n")
    (src / "queries.jsonl").write_text('{"_id": "q1", "text": "what"}\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl:2: expected a JSON object, found a string"):
        import_sycl(src, tmp_path / "o2")
