"""synrank.data.shards: a generation folder's files, its two readers (torn tails), compaction."""

from __future__ import annotations

import gzip
import json
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synrank.data.groups import group_files, read_groups
from synrank.data.shards import (
    ACTIVE_MARKER,
    ShardWriter,
    iter_group_file,
    iter_records,
    iter_rejects,
    next_shard_index,
    one_copy_each,
    pack,
    reject_files,
    repair_torn_tails,
    shard_files,
)
from synrank.errors import DatasetError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
groups = st.builds(
    lambda qid, query, grades: {"schema": "synrank.groups/v1", "query_id": qid, "query": query + " q",
                                "passages": [{"text": f"passage {g} {query}", "grade": g} for g in grades]},
    st.text("abcdefgh0123456789", min_size=1, max_size=8), texts, st.lists(st.integers(0, 3), min_size=1, max_size=4))


def _unique(recs: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for r in recs:
        if r["query_id"] not in seen:
            seen.add(r["query_id"])
            out.append(r)
    return out


def _line(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------ torn tails
@SETTINGS
@given(recs=st.lists(groups, max_size=5).map(_unique), tail=groups, cut=st.integers(0, 10_000))
def test_torn_last_line_each_reader_as_documented(recs, tail, cut):
    """The last line of a live shard cut anywhere (nothing, a prefix, the whole record without its newline):
    the generator's reader keeps complete lines only; the trainer's reader also keeps an unterminated line
    that parses, and skips one that does not (with a warning); the repair cuts it, after which both agree."""
    recs = [r for r in recs if r["query_id"] != tail["query_id"]]
    complete = "".join(_line(r) for r in recs)
    torn = _line(tail)[:-1][: cut % len(_line(tail))]  # never the newline itself
    try:
        parsed = json.loads(torn) if torn.strip() else None
    except ValueError:
        parsed = None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        shard = out / "shard-00000.jsonl"
        shard.write_text(complete + torn, encoding="utf-8")
        assert list(iter_records(out)) == recs
        trainer_view = [rec for _, rec in iter_group_file(shard)]
        assert trainer_view == recs + ([parsed] if parsed is not None else [])
        assert [g.query_id for g in read_groups(out)] == [r["query_id"] for r in trainer_view]
        repair_torn_tails(out)
        assert shard.read_text(encoding="utf-8") == complete
        assert [rec for _, rec in iter_group_file(shard)] == list(iter_records(out)) == recs


def test_torn_line_of_a_shard_is_a_warning_of_another_file_an_error(tmp_path, caplog):
    (tmp_path / "shard-00000.jsonl").write_text(_line({"query_id": "a"}) + '{"query_id": "b", "qu')
    with caplog.at_level(logging.WARNING):
        assert [rec["query_id"] for _, rec in iter_group_file(tmp_path / "shard-00000.jsonl")] == ["a"]
    assert "shard-00000.jsonl:2: ignoring a torn last line" in caplog.text
    other = tmp_path / "groups.jsonl"
    other.write_text(_line({"query_id": "a"}) + '{"query_id": "b", "qu')
    with pytest.raises(DatasetError, match=r"groups.jsonl:2: malformed JSON line .*last line is cut off"):
        list(iter_group_file(other))


def test_repair_cuts_torn_reject_logs_too(tmp_path):
    (tmp_path / "rejects-00003.jsonl").write_text(_line({"kind": "passage"}) + '{"kind": "qu')
    assert list(iter_rejects(tmp_path)) == [{"kind": "passage"}]
    repair_torn_tails(tmp_path)
    assert (tmp_path / "rejects-00003.jsonl").read_text() == _line({"kind": "passage"})


# ------------------------------------------------------------------------------------------ listing
names = st.lists(st.sampled_from([f"shard-0000{i}.jsonl{gz}" for i in range(4) for gz in ("", ".gz")]
                                 + ["rejects.jsonl", "rejects.jsonl.gz", "rejects-00001.jsonl",
                                    "rejects-00001.jsonl.gz", "notes.txt", "shard-1.jsonl"]), unique=True)


@SETTINGS
@given(files=names)
def test_one_copy_of_each_file_plain_first(files):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in files:
            (out / name).write_text("")
        listed = [p.name for p in one_copy_each(shard_files(out))]
        stems = sorted({n.removesuffix(".gz") for n in files if n.startswith("shard-0")})
        assert listed == [s if s in files else s + ".gz" for s in stems]
        rejects = sorted({n.removesuffix(".gz") for n in files if n.startswith("rejects")})
        assert [p.name for p in reject_files(out)] == [s if s in files else s + ".gz" for s in rejects]
        numbers = [int(n[6:11]) for n in files if n.startswith("shard-0")]
        assert next_shard_index(out) == (max(numbers) + 1 if numbers else 0)
        if any(n.endswith((".jsonl", ".jsonl.gz")) and not n.startswith("rejects") for n in files):
            assert [p.name for p in group_files(out)] == sorted(
                [n for n in files if n.endswith(".jsonl") and not n.startswith("rejects")]
                + [n for n in files if n.endswith(".jsonl.gz") and not n.startswith("rejects") and n[:-3] not in files])


# ------------------------------------------------------------------------------------------ writing
@SETTINGS
@given(recs=st.lists(groups, max_size=12).map(_unique), shard_size=st.integers(1, 5), first=st.integers(0, 3))
def test_writer_rotates_shards_and_marks_the_live_one(recs, shard_size, first):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        writer = ShardWriter(out, first, shard_size, session="s1")
        marker = json.loads((out / ACTIVE_MARKER).read_text())
        assert marker["shard"] == f"shard-{first:05d}.jsonl" and marker["session"] == "s1"
        for rec in recs:
            writer.append_group(rec)
            assert json.loads((out / ACTIVE_MARKER).read_text())["shard"] == writer.path.name
        writer.append_reject({"kind": "query"})
        writer.close()
        assert not (out / ACTIVE_MARKER).exists()
        writer.close()  # twice is fine
        expected = [f"shard-{first + i:05d}.jsonl" for i in range(-(-len(recs) // shard_size))]
        assert [p.name for p in shard_files(out)] == expected
        assert list(iter_records(out)) == recs
        assert [p.name for p in reject_files(out)] == [f"rejects-{first:05d}.jsonl"]


# ------------------------------------------------------------------------------------------ compaction
@SETTINGS
@given(recs=st.lists(groups, max_size=10).map(_unique), shard_size=st.integers(1, 4),
       rejects=st.lists(st.lists(st.fixed_dictionaries({"kind": st.sampled_from(["passage", "query"]),
                                                        "reason": texts}), max_size=3), min_size=1, max_size=3),
       torn=st.booleans())
def test_pack_round_trip(recs, shard_size, rejects, torn):
    """Pack, write more rejects under the same session number (a session that wrote no shard leaves the next
    one the same number), pack again: every record reads back the same, in the same order, from .jsonl.gz
    files only; a torn shard tail is cut on the way (no generator runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        writer = ShardWriter(out, 0, shard_size, session="s")
        for rec in recs:
            writer.append_group(rec)
        writer.close()
        if torn and recs:
            with open(writer.path, "a", encoding="utf-8") as fh:
                fh.write('{"query_id": "torn", "que')
        n_shards = -(-len(recs) // shard_size)
        written: list[dict] = []
        for i, batch in enumerate(rejects):
            for r in batch:
                writer.append_reject(r)
                written.append(r)
            if i == 0:  # (after a pack, new plain lines hide the packed ones until the next pack: known issue)
                assert list(iter_rejects(out)) == written
            assert pack(out) == {"packed_shards": n_shards if i == 0 else 0}
            assert not list(out.glob("*.jsonl"))
            assert list(iter_records(out)) == recs and list(iter_rejects(out)) == written
            if recs:
                assert [g.query_id for g in read_groups(out)] == [r["query_id"] for r in recs]


def test_half_packed_shard_is_redone_from_the_plain_file(tmp_path):
    """``pack`` stopped between writing x.jsonl.gz and removing x.jsonl: both readers read the plain copy
    once, and the next pack redoes the compaction from it."""
    plain = tmp_path / "shard-00000.jsonl"
    plain.write_text(_line({"query_id": "a"}) + _line({"query_id": "b"}))
    with gzip.open(tmp_path / "shard-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(_line({"query_id": "a"}))  # stale, partial
    assert [r["query_id"] for r in iter_records(tmp_path)] == ["a", "b"]
    assert pack(tmp_path) == {"packed_shards": 1}
    assert not plain.exists()
    assert [r["query_id"] for r in iter_records(tmp_path)] == ["a", "b"]
