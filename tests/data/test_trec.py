"""TREC run files: round trip, gzip, deterministic order, located errors."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synrank.data.trec import format_run, read_run, sort_run_items, write_run
from synrank.errors import DatasetError

RUN = {
    "q2": {"d3": 0.5, "d1": 2.25, "d2": 2.25, "d10": -1.0},
    "q10": {"x": 1 / 3, "y": float(np.float32(0.1))},
}


def test_sort_run_items_is_trec_eval_order():
    # score descending, ties by doc id descending (trec_eval's strcmp order)
    assert sort_run_items({"b": 1.0, "a": 1.0, "c": 2.0}) == [("c", 2.0), ("b", 1.0), ("a", 1.0)]
    assert sort_run_items({"d10": 1.0, "d9": 1.0, "é": 1.0}) == [("é", 1.0), ("d9", 1.0), ("d10", 1.0)]
    assert sort_run_items([("b", 1), ("a", 3)]) == [("a", 3.0), ("b", 1.0)]
    with pytest.raises(ValueError, match="NaN"):
        sort_run_items({"a": float("nan")})


@pytest.mark.parametrize("name", ["run.trec", "run.trec.gz"])
def test_round_trip_is_exact(tmp_path, name):
    path = write_run(RUN, tmp_path / name, tag="bm25")
    assert read_run(path) == RUN  # scores bit-identical (repr round trip)
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        text = gzip.decompress(path.read_bytes()).decode()
    else:
        text = path.read_text()
    assert text.splitlines() == [
        "q10 Q0 x 1 0.3333333333333333 bm25",
        f"q10 Q0 y 2 {float(np.float32(0.1))!r} bm25",
        "q2 Q0 d2 1 2.25 bm25",
        "q2 Q0 d1 2 2.25 bm25",
        "q2 Q0 d3 3 0.5 bm25",
        "q2 Q0 d10 4 -1.0 bm25",
    ]


def test_output_is_deterministic_and_independent_of_insertion_order(tmp_path):
    shuffled = {"q10": dict(reversed(list(RUN["q10"].items()))), "q2": dict(sorted(RUN["q2"].items()))}
    a = write_run(RUN, tmp_path / "a.trec.gz")
    b = write_run(shuffled, tmp_path / "b.trec.gz")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_top_k_and_numpy_scores(tmp_path):
    run = {"q": {f"d{i}": np.float32(i / 7) for i in range(5)}}
    path = write_run(run, tmp_path / "r.trec", top_k=2)
    back = read_run(path)
    assert back == {"q": {"d4": float(np.float32(4 / 7)), "d3": float(np.float32(3 / 7))}}


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "r.trec"
    target.write_text("old\n")
    with pytest.raises(ValueError):
        write_run({"q": {"bad id": 1.0}}, target)
    assert target.read_text() == "old\n"
    write_run(RUN, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.trec"]


@pytest.mark.parametrize("run,tag", [
    ({"q 1": {"d": 1.0}}, "t"), ({"q": {"": 1.0}}, "t"), ({"q": {"d": 1.0}}, "my tag"),
    ({"q": {"d": float("inf")}}, "t"), ({"q": {"d": float("nan")}}, "t"),
])
def test_write_rejects_unwritable_values(tmp_path, run, tag):
    with pytest.raises(ValueError):
        write_run(run, tmp_path / "r.trec", tag=tag)


def test_format_run_rejects_bad_top_k():
    with pytest.raises(ValueError):
        format_run(RUN, top_k=0)


def test_reads_bom_crlf_blank_lines_and_tabs(tmp_path):
    path = tmp_path / "r.trec"
    path.write_bytes("\ufeffq1 Q0 d1 1 3.5 t\r\n\r\nq1\tQ0\td2\t2\t1e-3\tt\r\n".encode())
    assert read_run(path) == {"q1": {"d1": 3.5, "d2": 0.001}}


def test_gzip_detected_from_content_not_name(tmp_path):
    path = tmp_path / "run.txt"
    path.write_bytes(gzip.compress(b"q Q0 d 1 1.0 t\n"))
    assert read_run(path) == {"q": {"d": 1.0}}


@pytest.mark.parametrize("content,line,match", [
    ("q Q0 d 1 1.0 t\nq Q0 e 2 0.5\n", 2, "expected 6 whitespace-separated columns"),
    ("q Q0 d 1 1.0 t extra\n", 1, "found 7"),
    ("q Q0 d 1 high t\n", 1, "score 'high' is not a number"),
    ("q Q0 d one 1.0 t\n", 1, "rank 'one' is not an integer"),
    ("q Q0 d 1 nan t\n", 1, "not finite"),
    ("q Q0 d 1 1.0 t\nq Q0 e 2 0.9 t\n\nq Q0 d 3 0.8 t\n", 4, "appears twice for query 'q' (first on line 1)"),
])
def test_malformed_lines_are_located(tmp_path, content, line, match):
    for name, data in (("r.trec", content.encode()), ("r.trec.gz", gzip.compress(content.encode()))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DatasetError) as info:
            read_run(path)
        message = str(info.value)
        assert message.startswith(f"{path}:{line}: "), message
        assert match in message


def test_same_doc_under_two_queries_is_fine(tmp_path):
    path = tmp_path / "r.trec"
    path.write_text("q1 Q0 d 1 1.0 t\nq2 Q0 d 1 1.0 t\n")
    assert read_run(path) == {"q1": {"d": 1.0}, "q2": {"d": 1.0}}


def test_missing_empty_binary_and_truncated_files(tmp_path):
    with pytest.raises(DatasetError, match="run file not found"):
        read_run(tmp_path / "nope.trec")
    empty = tmp_path / "empty.trec"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="no entries"):
        read_run(empty)
    binary = tmp_path / "bin.trec"
    binary.write_bytes(b"q Q0 d 1 1.0 \xff\xfe\n")
    with pytest.raises(DatasetError, match="bin.trec:1: invalid UTF-8"):
        read_run(binary)
    truncated = tmp_path / "cut.trec.gz"
    payload = "".join(f"q Q0 d{i} {i} {1 / (i + 1)!r} t\n" for i in range(1, 200)).encode()
    truncated.write_bytes(gzip.compress(payload)[:200])
    with pytest.raises(DatasetError, match="cannot read run file"):
        read_run(truncated)


def test_reads_shipped_bm25_run(shared_datasets):
    run = read_run(shared_datasets / "trec-dl-2019" / "bm25_top100.trec")
    assert len(run) == 43
    assert sum(len(docs) for docs in run.values()) == 4300
    assert run["264014"]["5611210"] == 15.780599594116211


_ids = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=st.dictionaries(_ids, st.dictionaries(_ids, st.floats(-1e3, 1e3, allow_nan=False), min_size=1,
                                                   max_size=5), min_size=1, max_size=5),
       wanted=st.sets(_ids, max_size=4), gz=st.booleans())
def test_reading_some_queries_equals_filtering_the_whole_run(tmp_path, run, wanted, gz):
    path = tmp_path / ("run.trec.gz" if gz else "run.trec")
    write_run(run, path)
    whole = read_run(path)
    assert read_run(path, queries=wanted) == {q: whole[q] for q in wanted if q in whole}


def test_reading_some_queries_still_locates_their_bad_lines(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 d1 1 1.0 t\nq2 Q0 d1 1 oops t\n", encoding="utf-8")
    assert read_run(path, queries=["q1"]) == {"q1": {"d1": 1.0}}  # q2's line is not read
    with pytest.raises(DatasetError, match=r"run.trec:2: score .oops. is not a number"):
        read_run(path, queries=["q2"])
