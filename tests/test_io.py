"""synrank.io: atomic writes, append-only logs with torn tails, folder locks."""

from __future__ import annotations

import gzip

import pytest

from synrank.errors import LocatedError, LockedError, SynrankError
from synrank.io import (
    append_jsonl,
    atomic_open,
    atomic_write_gzip_text,
    folder_lock,
    read_jsonl_tolerant,
    repair_jsonl_tail,
    sha256_file,
)


def test_atomic_open_keeps_target_on_exception(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("new, half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


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
