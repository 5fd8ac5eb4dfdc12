"""The generation pipeline with the fake ``echo`` backend: resume, rejects, identity, packing."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synrank.data.groups import read_groups
from synrank.data.shards import iter_records, iter_rejects, pack
from synrank.errors import ConfigError, GenerationError, LockedError
from synrank.io import folder_lock
from synrank.synthetic.backends import create_backend
from synrank.synthetic.backends.echo import EchoBackend
from synrank.synthetic.pipeline import GenerationConfig, generate
from tests.reliability.harness import KillableRun


def _cfg(query_file: Path, out: Path, **kw) -> GenerationConfig:
    base = dict(queries=str(query_file), out=out, backend="echo", strategy="anchored", limit=12, progress=False)
    base.update(kw)
    return GenerationConfig(**base)


def _ids(out: Path) -> list[str]:
    return [r["query_id"] for r in iter_records(out)]


def test_generates_valid_groups_with_provenance(tmp_path, query_file, guard):
    out = tmp_path / "out"
    stats = generate(_cfg(query_file, out), guard=guard)
    assert stats["groups"] == 12 and stats["total_groups"] == 12
    groups = read_groups(out)  # the trainer's reader accepts the folder
    assert len(groups) == 12 and len({g.query_id for g in groups}) == 12
    for g in groups:
        assert g.grades == [3, 2, 1, 0]
        assert g.meta["strategy"] == "anchored"
        prov = g.meta["provenance"]
        for key in ("backend", "model_sha256", "prompt_version", "sampling", "seed", "generated_at"):
            assert key in prov
        assert prov["backend"] == "echo"
        assert g.passages[0].meta["source_query"] == g.query
        assert {"source_query_id", "source_rule", "seed", "attempt"} <= set(g.passages[1].meta)
    card = json.loads((out / "datacard.json").read_text())
    assert card["groups"] == 12 and card["passages_per_grade"] == {"3": 12, "2": 12, "1": 12, "0": 12}
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\n") and "\n# Data card: out\n" in readme and not (out / "datacard.md").exists()


def test_rejects_are_kept_with_reasons_and_retried(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, backend_options={"fail_rate": 0.3}), guard=guard)
    rejects = list(iter_rejects(out))
    passage_rejects = [r for r in rejects if r["kind"] == "passage"]
    assert passage_rejects and all(r["reason"] == "grade {}: empty".format(r["grade"]) for r in passage_rejects)
    assert len(_ids(out)) == 12
    # retried passages carry attempt > 0 and a different seed than attempt 0
    groups = read_groups(out)
    retried = [p for g in groups for p in g.passages if p.meta["attempt"] > 0]
    assert retried
    card = json.loads((out / "datacard.json").read_text())
    assert card["rejects"]["passages"] == len(passage_rejects) and card["rejects"]["passage_reject_rate"] > 0


def test_query_dropped_after_max_attempts(tmp_path, query_file, guard):
    out = tmp_path / "out"
    stats = generate(_cfg(query_file, out, limit=3, max_attempts=1, backend_options={"fail_rate": 0.5}), guard=guard)
    failed = [r for r in iter_rejects(out) if r["kind"] == "query"]
    assert failed and stats["failed_queries"] == len(failed) and all(r["final"] for r in failed)
    assert len(_ids(out)) == 3
    assert not set(_ids(out)) & {r["query_id"] for r in failed}


def test_resume_and_extend_continue_the_same_sequence(tmp_path, query_file, guard):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(_cfg(query_file, a, limit=5), guard=guard)
    generate(_cfg(query_file, a, limit=9), guard=guard)
    generate(_cfg(query_file, b, limit=9), guard=guard)
    assert _ids(a) == _ids(b) and len(set(_ids(a))) == 9
    assert len(list(a.glob("shard-*.jsonl"))) == 2  # one shard per session
    stats = generate(_cfg(query_file, a, limit=9), guard=guard)  # nothing left to do
    assert stats["groups"] == 0


def test_changed_settings_are_refused(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, limit=2), guard=guard)
    with pytest.raises(ConfigError, match="different settings.*strategy"):
        generate(_cfg(query_file, out, limit=2, strategy="direct"), guard=guard)


def test_second_writer_is_locked_out(tmp_path, query_file, guard):
    out = tmp_path / "out"
    with folder_lock(out), pytest.raises(LockedError):
        generate(_cfg(query_file, out, limit=1), guard=guard)


def test_direct_json_strategy_end_to_end(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, strategy="direct-json", limit=4), guard=guard)
    assert [g.grades for g in read_groups(out)] == [[3, 2, 1, 0]] * 4


def test_pack_compacts_shards_readably(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, limit=6, shard_size=4), guard=guard)
    before = _ids(out)
    res = pack(out)
    assert res["packed_shards"] == 2
    assert not list(out.glob("shard-*.jsonl")) and len(list(out.glob("shard-*.jsonl.gz"))) == 2
    assert _ids(out) == before and [g.query_id for g in read_groups(out)] == before
    assert not list(out.glob("rejects*.jsonl"))
    # resume after packing still skips the finished queries
    stats = generate(_cfg(query_file, out, limit=6, shard_size=4), guard=guard)
    assert stats["groups"] == 0


def test_pack_leaves_the_live_shard_alone(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, limit=6, shard_size=4), guard=guard)
    (out / "log" / "active.json").write_text(json.dumps({"shard": "shard-00001.jsonl"}))
    with folder_lock(out):  # pretend a generator holds the folder and writes shard 1
        pass
    import threading

    from synrank.io import folder_lock as fl

    held = threading.Event()
    release = threading.Event()

    def hold():
        with fl(out):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        assert pack(out)["packed_shards"] == 1
        assert (out / "shard-00001.jsonl").exists() and (out / "shard-00000.jsonl.gz").exists()
    finally:
        release.set()
        t.join()


def test_torn_tail_is_repaired_on_resume(tmp_path, query_file, guard):
    out = tmp_path / "out"
    generate(_cfg(query_file, out, limit=3), guard=guard)
    shard = next(out.glob("shard-*.jsonl"))
    with open(shard, "a", encoding="utf-8") as fh:
        fh.write('{"schema": "synrank.groups/v1", "query_id": "torn", "que')
    generate(_cfg(query_file, out, limit=4), guard=guard)
    assert shard.read_text().endswith("\n") and "\"query_id\": \"torn\"" not in shard.read_text()
    assert len(_ids(out)) == 4


def _run_cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "synrank.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def test_resume_after_kill_9(tmp_path, query_file):
    out = tmp_path / "out"
    args = ["generate", "--queries", str(query_file), "--output", str(out), "--backend", "echo", "--limit", "30",
            "--batch-size", "4", "--backend-option", "delay=0.1", "--no-progress", "--strategy", "direct"]
    run = KillableRun.cli(*args)
    run.wait_for(lambda: sum(s.read_text().count("\n") for s in out.glob("shard-*.jsonl")) >= 5, 60,
                 what="5 groups written", poll=0.05)
    run.kill()
    first = _ids(out)
    assert 5 <= len(first) < 30, "the kill should land mid-run"
    proc = _run_cli(args)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    ids = _ids(out)
    assert len(ids) == 30 and len(set(ids)) == 30
    assert ids[: len(first)] == first  # nothing written before the kill was lost or rewritten
    for shard in out.glob("shard-*.jsonl"):
        for line in shard.read_text().splitlines():
            json.loads(line)


def test_cli_generate_and_finalize(tmp_path, query_file):
    out = tmp_path / "out"
    proc = _run_cli(["generate", "--queries", str(query_file), "--output", str(out), "--backend", "echo",
                     "--limit", "3", "--no-progress"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    proc = _run_cli(["generate", "--output", str(out), "--pack"])
    o, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"packed 1 shard" in o, err.decode()
    with gzip.open(next(out.glob("shard-*.jsonl.gz")), "rt") as fh:
        assert len(fh.read().splitlines()) == 3
    proc = _run_cli(["generate", "--output", str(out), "--queries", str(query_file), "--backend", "nope"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2


def test_backend_created_by_name_is_closed(tmp_path, query_file, guard):
    b = create_backend("echo")
    generate(_cfg(query_file, tmp_path / "o", limit=1), backend=b, guard=guard)


def test_resume_from_committed_files_only(tmp_path, query_file, guard):
    """A fresh clone holds only packed shards/rejects, generation.json and log/runs.jsonl."""
    import shutil

    out = tmp_path / "out"
    cfg = dict(max_attempts=1, backend_options={"fail_rate": 0.3})
    generate(_cfg(query_file, out, limit=6, **cfg), guard=guard)
    pack(out)
    closed = {r["query_id"] for r in iter_rejects(out) if r.get("final")}
    assert closed
    clone = tmp_path / "clone"
    clone.mkdir()
    for p in out.rglob("*"):
        rel = p.relative_to(out)
        if p.is_file() and (p.name.endswith(".gz") or p.name == "generation.json" or str(rel) == "log/runs.jsonl"):
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, clone / rel)
    generate(_cfg(query_file, clone, limit=10, **cfg), guard=guard)
    ids = _ids(clone)
    assert len(ids) == 10 and ids[:6] == _ids(out)
    assert not set(ids) & closed
    pack(clone)
    rejects = list(iter_rejects(clone))
    assert {r["query_id"] for r in rejects if r.get("final")} >= closed
    assert len(list(clone.glob("rejects*.jsonl.gz"))) == 2
    card = json.loads((clone / "datacard.json").read_text())
    assert card["cost"]["sessions"] == 2 and card["groups"] == 10


class _FailingBackend(EchoBackend):
    """Answers ``ok_calls`` batches, then fails like a server that starts refusing the key (R6)."""

    def __init__(self, out: Path, ok_calls: int):
        super().__init__()
        self.out, self.ok_calls, self.calls, self.marker_seen = out, ok_calls, 0, False

    def generate(self, requests, sampling):
        self.marker_seen = self.marker_seen or (self.out / "log" / "active.json").exists()
        self.calls += 1
        if self.calls > self.ok_calls:
            raise GenerationError("answered HTTP 401: unauthorized", "http://fake/chat/completions")
        return super().generate(requests, sampling)


@pytest.mark.parametrize("ok_calls", [0, 3])
def test_failed_run_removes_its_active_marker(tmp_path, query_file, guard, ok_calls):
    out = tmp_path / "out"
    backend = _FailingBackend(out, ok_calls)
    with pytest.raises(GenerationError, match="HTTP 401"):
        generate(_cfg(query_file, out, batch_size=2), backend=backend, guard=guard)
    assert backend.marker_seen, "log/active.json was never written: the test proves nothing"
    assert not (out / "log" / "active.json").exists()
    # the folder is then resumable as usual
    generate(_cfg(query_file, out, limit=3), guard=guard)
    assert len(_ids(out)) == 3 and not (out / "log" / "active.json").exists()


def test_refused_resume_leaves_a_stale_marker_alone(tmp_path, query_file, guard):
    """Only the session that wrote log/active.json removes it; a run refused before starting touches nothing."""
    out = tmp_path / "out"
    generate(_cfg(query_file, out, limit=2), guard=guard)
    stale = out / "log" / "active.json"
    stale.write_text('{"shard": "shard-00000.jsonl", "pid": 1, "session": "killed"}\n')
    with pytest.raises(ConfigError):
        generate(_cfg(query_file, out, limit=2, strategy="direct"), guard=guard)
    assert stale.exists()
