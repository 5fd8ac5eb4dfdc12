"""Catalog: a full disk, an output folder that cannot be written, two runs writing one folder at once.

A full disk is simulated by making ``os.fsync`` (every atomic write and append ends with it) or the
write itself fail with ``ENOSPC``. Tests run as root, which ignores ``chmod``, so an unwritable output
folder is a path below a regular file (``mkdir`` fails with ENOTDIR/EEXIST for every user).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from synrank.errors import LockedError, SynrankError, describe_os_error
from synrank.io import (
    _UMASK,
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    folder_lock,
    read_jsonl_tolerant,
)
from tests.reliability.harness import (
    assert_clean_failure,
    assert_nothing_half_written,
    listing,
    run_cli_inprocess,
)


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ----------------------------------------------------------------------------------------- full disk
def test_full_disk_atomic_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"ndcg": 0.5})
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(SynrankError, match="No space left on device.*nothing was written"):
        atomic_write_json(target, {"ndcg": 0.9})
    monkeypatch.undo()
    assert target.read_text() == '{\n  "ndcg": 0.5\n}\n'
    assert listing(tmp_path) == {"metrics.json"}


def test_full_disk_on_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(SynrankError, match="metrics.bin: write failed"):
        atomic_write_bytes(tmp_path / "metrics.bin", b"x" * 10)
    assert listing(tmp_path) == set()


def test_full_disk_append_rolls_back_the_partial_line(tmp_path, monkeypatch):
    log = tmp_path / "shard-00000.jsonl"
    append_jsonl(log, {"query_id": "a"})
    before = log.read_bytes()
    monkeypatch.setattr(os, "fsync", _enospc)  # the bytes reach the file, then the fsync fails
    with pytest.raises(SynrankError, match="append failed.*left as it was"):
        append_jsonl(log, [{"query_id": "b"}, {"query_id": "c"}])
    monkeypatch.undo()
    assert log.read_bytes() == before
    append_jsonl(log, {"query_id": "d"})
    assert [r["query_id"] for r in read_jsonl_tolerant(log)[0]] == ["a", "d"]


def test_full_disk_cli_evaluate(toy, run_file, tmp_path, monkeypatch):
    out = tmp_path / "results"
    monkeypatch.setattr(os, "fsync", _enospc)
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", out)
    monkeypatch.undo()
    assert_clean_failure(res, "No space left on device", "nothing was written")
    assert_nothing_half_written(out)


def test_full_disk_cli_train(train_config, tmp_path, monkeypatch):
    """The first checkpoint cannot be fsynced: one error line, no final-named checkpoint or model."""
    out = tmp_path / "run"
    monkeypatch.setattr(os, "fsync", _enospc)
    res = run_cli_inprocess("train", "--config", train_config(max_steps=4, save_every=2), "--output", out)
    monkeypatch.undo()
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert len(res.error_lines) == 1 and "No space left on device" in res.error_lines[0], res.stderr
    names = listing(out)
    assert not any(n.startswith("checkpoints/step-") for n in names), names
    assert "model.safetensors" not in names and "trainer_state.json" not in names


# ------------------------------------------------------------------------------ unwritable output folder
@pytest.fixture
def below_a_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file\n")
    return blocker / "out"


def test_unwritable_output_evaluate(toy, run_file, below_a_file):
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", below_a_file)
    assert_clean_failure(res, str(below_a_file), "cannot create or lock", "writable")


def test_unwritable_output_train(train_config, below_a_file):
    res = run_cli_inprocess("train", "--config", train_config(), "--output", below_a_file)
    assert_clean_failure(res, str(below_a_file), "cannot create or lock", "writable")


def test_unwritable_output_is_a_file_generate(tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\twhat is a unique test query about otters\n")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x\n")
    res = run_cli_inprocess("generate", "--queries", queries, "--output", blocker / "out", "--backend", "echo",
                            "--strategy", "direct", "--no-progress")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert len(res.error_lines) == 1 and "not-a-folder" in res.error_lines[0], res.stderr


def test_atomic_write_below_a_file(below_a_file):
    with pytest.raises(SynrankError, match="cannot write here"):
        atomic_write_json(below_a_file / "metrics.json", {})


# ------------------------------------------------------------------------ two runs, one folder
def test_lock_error_in_library(held_lock):
    with pytest.raises(LockedError, match="another synrank process"), folder_lock(held_lock):
        pass


def test_two_runs_same_results_folder_evaluate(toy, run_file, held_lock):
    before = listing(held_lock)
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", held_lock)
    assert_clean_failure(res, str(held_lock), "another synrank process", "use another output folder")
    assert listing(held_lock) == before


def test_two_runs_same_training_folder(train_config, held_lock):
    before = listing(held_lock)
    res = run_cli_inprocess("train", "--config", train_config(), "--output", held_lock)
    assert_clean_failure(res, "another synrank process", "training output")
    assert listing(held_lock) == before


def test_two_generators_same_folder(tmp_path, held_lock):
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\twhat is a unique test query about otters\n")
    before = listing(held_lock)
    res = run_cli_inprocess("generate", "--queries", queries, "--output", held_lock, "--backend", "echo",
                            "--strategy", "direct", "--no-progress")
    assert_clean_failure(res, "another synrank process", "synthetic output folder")
    assert listing(held_lock) == before


def test_lock_is_released_after_a_failed_run(toy, run_file, tmp_path):
    out = tmp_path / "results"
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 d1 1 x t\n")
    assert run_cli_inprocess("evaluate", "--run", bad, "--dataset", toy, "--output", out).returncode == 2
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", toy, "--output", out)
    assert res.returncode == 0, res.stderr


def test_disk_fills_up_during_generation_then_resume(tmp_path, monkeypatch):
    """ENOSPC on the 6th fsync of a generation run: one error line, only whole lines on disk, and
    after space is freed the same command finishes with exactly the groups of an undisturbed run."""
    from tests.reliability.test_kill9 import QUERIES, _gen_args, _groups_by_query

    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"{i}\t{q}\n" for i, q in enumerate(QUERIES, 1)))
    reference = tmp_path / "reference"
    assert run_cli_inprocess(*_gen_args(queries, reference)).returncode == 0

    out = tmp_path / "gen"
    real_fsync, calls = os.fsync, []

    def fsync_until_full(fd):
        calls.append(fd)
        if len(calls) >= 6:
            _enospc()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    res = run_cli_inprocess(*_gen_args(queries, out))
    monkeypatch.undo()
    assert_clean_failure(res, "No space left on device")
    for path in out.rglob("*.jsonl"):
        raw = path.read_bytes()
        assert not raw or raw.endswith(b"\n"), f"{path} ends in a partial line"
    assert len(_groups_by_query(out)) < 10
    assert run_cli_inprocess(*_gen_args(queries, out)).returncode == 0
    assert _groups_by_query(out) == _groups_by_query(reference)


def test_truncated_embedding_cache_entry_is_recomputed(toy, tmp_path, monkeypatch, caplog):
    """A cache file cut short (killed writer on a filesystem without atomic rename, a full disk) is
    reported and recomputed: the metrics equal the uncached ones."""
    import json as _json

    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    args = ["evaluate", "--model", "tests.reliability.fake_encoder:Hash64", "--dataset", toy, "--json",
            "--measures", "nDCG@10,MAP"]
    first = run_cli_inprocess(*args)
    assert first.returncode == 0, first.stderr
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert entries, "nothing was cached; the test proves nothing"
    for npy in entries:
        npy.write_bytes(npy.read_bytes()[:-100])
    second = run_cli_inprocess(*args)
    assert second.returncode == 0, second.stderr
    assert "unreadable" in second.stderr and "recomputing" in second.stderr
    assert _json.loads(second.stdout) == _json.loads(first.stdout)


# ------------------------------------------------------------------------------- round two (issue 15)
def test_trained_model_files_honour_the_umask(train_config, tmp_path):
    """``model.safetensors`` used to be written 0600 under umask 022 (safetensors writes through its own
    temporary file); every file of the final model and of the checkpoints gets 0666 minus the umask."""
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(max_steps=4, save_every=2), "--output", out)
    assert res.returncode == 0, res.stderr
    want = 0o666 & ~_UMASK
    files = [p for p in out.rglob("*") if p.is_file() and p.name != ".lock"]
    assert any(p.name == "model.safetensors" and p.parent == out for p in files)
    assert any("checkpoints" in p.parts and p.name == "model.safetensors" for p in files)
    wrong = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) != want}
    assert not wrong, f"not {oct(want)}: {wrong}"


def test_permission_hint_matches_the_operation(tmp_path, monkeypatch):
    """A file that exists but cannot be read used to get "check that the path exists, is writable ..."."""
    readable = tmp_path / "cfg.yaml"
    readable.write_text("name: x\n")
    monkeypatch.setattr("synrank.errors.os.access", lambda path, mode: not mode & os.R_OK)
    line = describe_os_error(PermissionError(errno.EACCES, "Permission denied", str(readable)))
    assert line.startswith(f"PermissionError: {readable}: Permission denied (it is not readable: check its permissions")
    assert "writable" not in line
    monkeypatch.setattr("synrank.errors.os.access", lambda path, mode: not mode & os.W_OK)
    assert "it is not writable" in describe_os_error(PermissionError(errno.EACCES, "Permission denied", str(readable)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config_is_one_line_saying_so(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: x\n")
    path.chmod(0)
    assert_clean_failure(run_cli_inprocess("train", "--config", path), "cfg.yaml: cannot read config file",
                         "it is not readable")


def test_unreadable_config_is_a_config_error(tmp_path, monkeypatch):
    """Reading fails (simulated, since tests run as root): one ConfigError line, not the OS-error net."""
    path = tmp_path / "cfg.yaml"
    path.write_text("name: x\n")
    real = Path.read_bytes

    def deny(self):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    monkeypatch.setattr("synrank.errors.os.access", lambda p, mode: not mode & os.R_OK)
    assert_clean_failure(run_cli_inprocess("train", "--config", path),
                         "ConfigError: ", "cfg.yaml: cannot read config file (Permission denied) (it is not "
                         "readable: check its permissions)")
