"""The graded-group reader: located errors, duplicates, half-packed shard folders."""

from __future__ import annotations

import gzip
import json

import pytest

from synrank.data.groups import TrainingGroup, group_files, iter_groups, read_groups
from synrank.errors import DatasetError


def _rec(qid: str, grades=(3, 2, 1, 0)) -> dict:
    return {"schema": "synrank.groups/v1", "query_id": qid, "query": f"query {qid}",
            "passages": [{"text": f"passage {qid} {g}", "grade": g} for g in grades]}


def _lines(recs) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def test_round_trip_keeps_extra_fields(tmp_path):
    rec = {**_rec("a"), "strategy": "anchored", "provenance": {"seed": 1}}
    rec["passages"][0]["source_query"] = "s"
    path = tmp_path / "g.jsonl"
    path.write_text(_lines([rec]))
    (group,) = read_groups(path)
    assert isinstance(group, TrainingGroup) and group.grades == [3, 2, 1, 0]
    assert group.to_record() == rec


def test_duplicate_query_id_across_shards(tmp_path):
    (tmp_path / "shard-00000.jsonl").write_text(_lines([_rec("a"), _rec("b")]))
    (tmp_path / "shard-00001.jsonl").write_text(_lines([_rec("c"), _rec("a")]))
    with pytest.raises(DatasetError, match=r"shard-00001.jsonl:2: duplicate query_id 'a' \(first on .*shard-00000"):
        read_groups(tmp_path)
    assert [g.query_id for g in read_groups(tmp_path, unique_ids=False)] == ["a", "b", "c", "a"]


def test_half_packed_shard_is_read_once(tmp_path):
    """`generate --pack` killed between writing shard-0.jsonl.gz and removing shard-0.jsonl."""
    text = _lines([_rec("a"), _rec("b")])
    (tmp_path / "shard-00000.jsonl").write_text(text)
    with gzip.open(tmp_path / "shard-00000.jsonl.gz", "wt") as fh:
        fh.write(text)
    (tmp_path / "rejects.jsonl").write_text("{}\n")
    assert [f.name for f in group_files(tmp_path)] == ["shard-00000.jsonl"]
    assert [g.query_id for g in iter_groups(tmp_path)] == ["a", "b"]


def test_torn_last_line_of_a_user_file_is_an_error(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(_lines([_rec("a")]) + '{"query_id": "b", "que')
    with pytest.raises(DatasetError, match=r"g.jsonl:2: malformed JSON line .*last line is cut off"):
        read_groups(path)
    path.write_text('{"query_id": \n' + _lines([_rec("a")]))
    with pytest.raises(DatasetError, match=r"g.jsonl:1: .*fix or remove this line"):
        read_groups(path)


def test_torn_last_line_of_a_generation_shard_is_skipped(tmp_path, caplog):
    """A killed (or still running) generator leaves its shard's last line torn: that group was never
    complete, so it is skipped with a warning, as the generator itself does when it resumes."""
    (tmp_path / "shard-00000.jsonl").write_text(_lines([_rec("a"), _rec("b")]) + '{"query_id": "c", "qu')
    assert [g.query_id for g in read_groups(tmp_path)] == ["a", "b"]
    assert "shard-00000.jsonl:3: ignoring a torn last line" in caplog.text
    (tmp_path / "shard-00000.jsonl").write_text('{"query_id": "c", "qu\n' + _lines([_rec("a")]))
    with pytest.raises(DatasetError, match="shard-00000.jsonl:1: malformed JSON"):  # not the last line
        read_groups(tmp_path)


def test_damaged_gzip_is_located(tmp_path):
    data = gzip.compress(_lines([_rec(str(i)) for i in range(300)]).encode())
    (tmp_path / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"a.jsonl.gz:\d+: damaged gzip file .*truncated"):
        read_groups(tmp_path / "a.jsonl.gz")
    (tmp_path / "b.jsonl.gz").write_bytes(b"not gzip\n")
    with pytest.raises(DatasetError, match=r"b.jsonl.gz:1: damaged gzip file"):
        read_groups(tmp_path / "b.jsonl.gz")


@pytest.mark.parametrize(("grade", "match"), [(1.5, "got 1.5"), (-1, "got -1"), (True, "got True")])
def test_bad_grades(tmp_path, grade, match):
    rec = _rec("a")
    rec["passages"][1]["grade"] = grade
    path = tmp_path / "g.jsonl"
    path.write_text(_lines([rec]))
    with pytest.raises(DatasetError, match=rf"g.jsonl:1: passages\[1\].grade .*{match}"):
        read_groups(path)


def test_empty_folder_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no \\*.jsonl"):
        read_groups(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        read_groups(tmp_path / "none.jsonl")
