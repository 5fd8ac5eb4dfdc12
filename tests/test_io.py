"""synrank.io: atomic writes, append-only logs with torn tails, folder locks."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.errors import DatasetError, LocatedError, LockedError, SynrankError
from synrank.io import (
    append_jsonl,
    atomic_open,
    atomic_write_gzip_text,
    folder_lock,
    iter_jsonl_records,
    read_jsonl_tolerant,
    repair_jsonl_tail,
    sha256_file,
    staged_folder,
)


def test_atomic_open_keeps_target_on_exception(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("new, half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@settings(max_examples=30, deadline=None)
@given(before=st.none() | st.dictionaries(st.sampled_from(["a", "b", "c"]), st.binary(max_size=8), max_size=3),
       after=st.dictionaries(st.sampled_from(["a", "b", "d"]), st.binary(max_size=8), max_size=3),
       fail=st.booleans())
def test_staged_folder_replaces_the_whole_folder_or_nothing(before, after, fail):
    """Success: the folder holds exactly the staged files (none of the old ones); failure: it is as it was.
    Either way no staging or old folder is left beside it."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "cell"
        if before is not None:
            target.mkdir()
            for name, data in before.items():
                (target / name).write_bytes(data)
        try:
            with staged_folder(target) as staging:
                assert staging.parent == target.parent and staging != target
                for name, data in after.items():
                    (staging / name).write_bytes(data)
                if fail:
                    raise RuntimeError("crash while copying")
        except RuntimeError:
            assert fail
        expected = before if fail else after
        if expected is None:
            assert not target.exists()
        else:
            assert {p.name: p.read_bytes() for p in target.iterdir()} == expected
        assert [p.name for p in Path(tmp).iterdir()] == (["cell"] if expected is not None else [])


def test_gzip_is_reproducible(tmp_path):
    atomic_write_gzip_text(tmp_path / "a.gz", "x\n" * 100)
    atomic_write_gzip_text(tmp_path / "b.gz", "x\n" * 100)
    assert sha256_file(tmp_path / "a.gz") == sha256_file(tmp_path / "b.gz")
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == b"x\n" * 100


def test_torn_tail_is_ignored_then_repaired(tmp_path):
    log = tmp_path / "log.jsonl"
    append_jsonl(log, [{"i": 1}, {"i": 2}])
    with open(log, "ab") as fh:
        fh.write(b'{"i": 3, "trunc')
    records, torn = read_jsonl_tolerant(log)
    assert records == [{"i": 1}, {"i": 2}] and torn == 1
    assert repair_jsonl_tail(log) == len(b'{"i": 3, "trunc')
    assert repair_jsonl_tail(log) == 0
    append_jsonl(log, {"i": 4})
    assert read_jsonl_tolerant(log) == ([{"i": 1}, {"i": 2}, {"i": 4}], 0)


def test_malformed_middle_line_is_located(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"i": 1}\nnot json\n{"i": 3}\n')
    with pytest.raises(LocatedError, match=r"log.jsonl:2: malformed JSON line"):
        read_jsonl_tolerant(log)


def test_missing_log_reads_empty(tmp_path):
    assert read_jsonl_tolerant(tmp_path / "none.jsonl") == ([], 0)


def test_folder_lock_is_exclusive_and_released(tmp_path):
    with folder_lock(tmp_path / "r", what="results folder"), pytest.raises(
            LockedError, match="another synrank process is writing this folder"), folder_lock(tmp_path / "r"):
        pass
    with folder_lock(tmp_path / "r"):
        pass


def test_folder_lock_on_impossible_path(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SynrankError, match="cannot create or lock"), folder_lock(tmp_path / "file" / "sub"):
        pass


# ------------------------------------------------------------------------------------ iter_jsonl_records
def test_records_of_plain_gzip_and_bom_files_skip_blank_lines(tmp_path):
    text = '{"a": 1}\n\n  \n{"a": 2}\r\n{"a": 3}'  # blank lines, CRLF, no final newline
    (tmp_path / "p.jsonl").write_text(text)
    (tmp_path / "g.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "bg.jsonl.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + text.encode()))
    for name in ("p.jsonl", "g.jsonl.gz", "b.jsonl", "bg.jsonl.gz"):
        assert list(iter_jsonl_records(tmp_path / name)) == [(1, {"a": 1}), (4, {"a": 2}), (5, {"a": 3})], name
    (tmp_path / "e.jsonl").write_text("\n\n")
    assert list(iter_jsonl_records(tmp_path / "e.jsonl")) == []


@pytest.mark.parametrize("name", ["m.jsonl", "m.jsonl.gz"])
def test_malformed_line_names_file_and_line(tmp_path, name):
    data = b'{"a": 1}\n\n{"a": 2,}\n{"a": 3}\n'
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    records = iter_jsonl_records(tmp_path / name)
    assert next(records) == (1, {"a": 1})  # lines before the bad one are yielded
    with pytest.raises(DatasetError, match=rf"{name}:3: malformed JSON line \(.*\) \(fix or remove this line\)"):
        next(records)


def test_cut_off_last_line_is_an_error_unless_tolerated(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "b')
    with pytest.raises(DatasetError, match=r"t.jsonl:2: malformed JSON line .*the last line is cut off"):
        list(iter_jsonl_records(path))
    torn: list[tuple[int, str]] = []
    assert list(iter_jsonl_records(path, on_torn_tail=lambda n, line: torn.append((n, line)))) == [(1, {"a": 1})]
    assert torn == [(2, '{"a": 2, "b')]
    path.write_text('{"a": 1, "b\n{"a": 2}')  # a bad line that is not the last one is never tolerated
    with pytest.raises(DatasetError, match=r"t.jsonl:1: malformed JSON"):
        list(iter_jsonl_records(path, on_torn_tail=lambda n, line: None))


def test_non_object_records(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"n.jsonl:2: expected a JSON object, found an array"):
        list(iter_jsonl_records(path))
    assert list(iter_jsonl_records(path, objects=False)) == [(1, {"a": 1}), (2, [1, 2])]
    path.write_text("null\n")
    with pytest.raises(DatasetError, match=r"n.jsonl:1: expected a JSON object, found null"):
        list(iter_jsonl_records(path))


def test_damaged_files_are_located(tmp_path):
    (tmp_path / "u.jsonl").write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"u.jsonl:2: invalid UTF-8"):
        list(iter_jsonl_records(tmp_path / "u.jsonl"))
    (tmp_path / "z.jsonl.gz").write_bytes(b"not gzip\n")
    with pytest.raises(DatasetError, match=r"z.jsonl.gz:1: damaged gzip file .*truncated or not gzip"):
        list(iter_jsonl_records(tmp_path / "z.jsonl.gz"))
    data = gzip.compress(b"".join(b'{"a": %d}\n' % i for i in range(5000)))
    (tmp_path / "c.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"c.jsonl.gz:\d+: damaged gzip file"):
        list(iter_jsonl_records(tmp_path / "c.jsonl.gz"))
    with pytest.raises(DatasetError, match=r"missing.jsonl: cannot read file \(No such file"):
        list(iter_jsonl_records(tmp_path / "missing.jsonl"))
