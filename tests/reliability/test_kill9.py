"""kill -9 at random points, then resume: the final outputs equal an uninterrupted run's.

For each area a subprocess is SIGKILLed at a seeded random point (after a random amount of visible
progress plus a random extra delay), the same command is re-run to completion, and the outputs are
compared with a reference run that was never interrupted:

* generation (fake ``echo`` backend, 25 % of replies rejected to exercise retries): the accepted groups;
* training (the tiny word-level StaticEmbedding): the final weights (sha256) and the loss curve;
* a benchmark run (BM25 + three numpy test encoders): every cell's run, per-query scores and metrics,
  and the leaderboard.

Seed 0 of generation and of the benchmark run is in the default test run; the other seeds and all
training seeds (each subprocess imports sentence-transformers: 10-35 s on a loaded 2-core machine)
are ``slow``. ``tests/training/test_resume.py`` keeps one training kill in the default run.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.reliability.harness import (
    KillableRun,
    kill_at_random_point,
    loss_rows,
    run_cli_inprocess,
    weights_sha256,
)

SEEDS = [pytest.param(0), pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]


# ------------------------------------------------------------------------------------------ generation
QUERIES = [
    "how do sea otters keep warm in cold water", "why do zorbian goats climb steep cliffs",
    "what makes sourdough bread rise without yeast packets", "how long does a lighthouse lamp last",
    "why are flamingo feathers pink in the wild", "what tools do beekeepers use in winter",
    "how do glaciers carve fjords over time", "which rivers flow north in the imaginary land of quor",
    "why do some violins sound warmer than others", "how do bats find insects at night",
    "what causes tides to vary across a month", "how is felt made from raw wool",
    "why does copper turn green on old roofs", "how do tortoises survive long droughts",
    "what makes a good compost pile for a garden", "how do carrier pigeons navigate home",
]


def _gen_args(queries: Path, out: Path) -> list[str]:
    return ["generate", "--queries", str(queries), "--output", str(out), "--backend", "echo", "--strategy", "direct",
            "--limit", "10", "--batch-size", "2", "--seed", "3", "--no-progress",
            "--backend-option", "fail_rate=0.25"]


def _groups_by_query(out: Path) -> dict[str, dict]:
    """Accepted groups without the fields that name the session or the clock."""
    from synrank.data.shards import iter_records

    groups = {}
    for rec in iter_records(out):
        assert rec["query_id"] not in groups, f"query {rec['query_id']} written twice"
        prov = {k: v for k, v in rec["provenance"].items() if k not in ("session", "generated_at")}
        groups[rec["query_id"]] = {**rec, "provenance": prov}
    return groups


def _shard_lines(out: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in out.glob("shard-*.jsonl")) if out.exists() else 0


@pytest.mark.parametrize("seed", SEEDS)
def test_generation_killed_and_resumed(tmp_path, seed):
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"{i}\t{q}\n" for i, q in enumerate(QUERIES, 1)))
    reference = tmp_path / "reference"
    res = run_cli_inprocess(*_gen_args(queries, reference))
    assert res.returncode == 0, res.stderr
    expected = _groups_by_query(reference)
    assert len(expected) == 10

    killed = tmp_path / "killed"
    rng = random.Random(seed)
    run = KillableRun.cli(*_gen_args(queries, killed), "--backend-option", "delay=0.15")
    kill_at_random_point(run, lambda: _shard_lines(killed), rng, 1, 8, jitter=0.3)
    assert len(_groups_by_query(killed)) < 10
    res = run_cli_inprocess(*_gen_args(queries, killed))
    assert res.returncode == 0, res.stderr
    assert _groups_by_query(killed) == expected
    card = json.loads((killed / "datacard.json").read_text())
    assert card["groups"] == 10


# ------------------------------------------------------------------------------------------ training
def _checkpoints(out: Path) -> int:
    root = out / "checkpoints"
    return len([p for p in root.iterdir() if p.name.startswith("step-")]) if root.is_dir() else 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_killed_and_resumed(train_config, tmp_path, seed):
    cfg = train_config(max_steps=60, save_every=5, loss="ws2")
    reference = tmp_path / "reference"
    assert run_cli_inprocess("train", "--config", cfg, "--output", reference).returncode == 0

    killed = tmp_path / "killed"
    rng = random.Random(seed)
    steps_seen: list[int] = []

    def progress() -> int:
        from synrank.training.checkpoint import list_checkpoints

        found = list_checkpoints(killed)
        if found:
            steps_seen.append(found[-1][0])
        return max(steps_seen, default=0)

    run = KillableRun.cli("train", "--config", cfg, "--output", killed)
    kill_at_random_point(run, progress, rng, 5, 45, jitter=0.2)
    state = killed / "trainer_state.json"
    assert not (state.exists() and json.loads(state.read_text()).get("completed"))
    res = run_cli_inprocess("train", "--config", cfg, "--output", killed, "--resume")
    assert res.returncode == 0, res.stderr
    assert weights_sha256(killed) == weights_sha256(reference)
    assert loss_rows(killed) == loss_rows(reference)


# ------------------------------------------------------------------------------------------ benchmark
def _bench_dataset(root: Path) -> Path:
    """60 documents on 12 topics, 12 queries with graded judgements (built here, deterministic)."""
    rng = random.Random(5)
    topics = [q.split()[-3:] for q in QUERIES[:12]]
    filler = ["the", "a", "of", "and", "in", "with", "for", "study", "report", "notes", "data", "figure", "table"]
    (root / "qrels").mkdir(parents=True)
    docs, rows = [], []
    for i in range(60):
        t = i % 12
        words = topics[t] * (1 + i // 12 % 3) + rng.sample(filler, 6)
        rng.shuffle(words)
        docs.append({"_id": f"d{i}", "title": "", "text": " ".join(words)})
        rows.append((f"q{t}", f"d{i}", 2 - i // 24 if i // 24 < 2 else 1))
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{t}", "text": " ".join(topics[t])}) + "\n"
                                                for t in range(12)))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                             + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    return root


def _bench_suite(tmp_path: Path) -> Path:
    dataset = _bench_dataset(tmp_path / "kill9-bench")
    suite = {
        "name": "kill9", "description": "reliability kill -9 suite", "baseline": "bm25", "batch_size": 16,
        "measures": ["nDCG@10", "Recall@100"],
        "variants": [{"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}}]
        + [{"name": f"hash{d}", "model": f"tests.reliability.fake_encoder:Hash{d}"} for d in (64, 32, 16)],
        "datasets": [{"name": str(dataset), "mode": "full", "top_k": 100}],
        "comparisons": [{"model": "hash64", "baseline": "bm25"}],
    }
    path = tmp_path / "kill9.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _bench_outputs(results: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for cell in sorted((results / "cells").glob("*/*")):
        key = str(cell.relative_to(results))
        out[key + "/run"] = gzip.decompress((cell / "run.trec.gz").read_bytes())
        out[key + "/per_query"] = (cell / "per_query.tsv").read_bytes()
        out[key + "/aggregate"] = json.loads((cell / "metrics.json").read_text())["aggregate"]
    # config_hash included: it hashes the trained weights and content of the training data, not paths
    out["leaderboard.csv"] = (results / "leaderboard.csv").read_text().splitlines()
    return out


def _markers(results: Path) -> int:
    return len(list((results / "cells").glob("*/*/cell.json"))) if (results / "cells").exists() else 0


def _run_suite_inprocess(suite_file: Path, results: Path, cache: Path, monkeypatch) -> None:
    from benchmarks import run as run_mod
    from benchmarks.suites import load_suite

    monkeypatch.setenv("SYNRANK_CACHE", str(cache))
    monkeypatch.delenv("SYNRANK_TEST_ENCODER_DELAY", raising=False)
    summary = run_mod.run_suite(load_suite(suite_file), results)
    assert not summary["failures"], summary["failures"]


@pytest.mark.parametrize("seed", SEEDS)
def test_benchmark_run_killed_and_resumed(tmp_path, seed, monkeypatch):
    suite = _bench_suite(tmp_path)
    reference = tmp_path / "reference"
    _run_suite_inprocess(suite, reference, tmp_path / "cache-ref", monkeypatch)
    expected = _bench_outputs(reference)
    assert len(expected) == 4 * 3 + 1

    killed = tmp_path / "killed"
    cache = tmp_path / "cache-killed"
    rng = random.Random(seed)
    run = KillableRun(["-m", "benchmarks.run", "--suite", suite, "--output", killed],
                      env={"SYNRANK_CACHE": str(cache), "SYNRANK_TEST_ENCODER_DELAY": "0.25"})
    kill_at_random_point(run, lambda: _markers(killed), rng, 0, 2, jitter=1.0)
    _run_suite_inprocess(suite, killed, cache, monkeypatch)  # the same suite, resumed
    assert _bench_outputs(killed) == expected


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_benchmark_with_training_killed_and_resumed(tmp_path, tiny_model, tiny_groups, seed, monkeypatch):
    """The runner trains a variant in a child process; both are killed mid-training; the rerun resumes the
    training from its last checkpoint and ends with the same weights and leaderboard."""
    dataset = _bench_dataset(tmp_path / "kill9-bench")
    train = {"model": {"base": str(tiny_model), "kind": "sentence-transformers", "pooling": "keep",
                       "similarity": "dot"},
             "data": [{"kind": "groups", "path": str(tiny_groups)}], "loss": "ws2", "group_size": 4,
             "batch_size": 8, "max_steps": 40, "learning_rate": 0.05, "save_every": 5, "seed": 7, "threads": 1}
    suite = {"name": "kill9t", "baseline": "bm25", "batch_size": 16, "measures": ["nDCG@10"],
             "variants": [{"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}}, {"name": "tiny", "train": train}],
             "datasets": [{"name": str(dataset), "mode": "full", "top_k": 100}]}
    suite_file = tmp_path / "kill9t.yaml"
    suite_file.write_text(yaml.safe_dump(suite))

    reference = tmp_path / "reference"
    _run_suite_inprocess(suite_file, reference, tmp_path / "cache-ref", monkeypatch)
    killed = tmp_path / "killed"
    cache = tmp_path / "cache-killed"
    ckpts = killed / "train" / "tiny" / "model"
    rng = random.Random(seed)
    # SIGKILL the whole process group: the runner and the trainer it started (a job scheduler's kill)
    run = KillableRun(["-m", "benchmarks.run", "--suite", suite_file, "--output", killed],
                      env={"SYNRANK_CACHE": str(cache)}, process_group=True)
    target = rng.randint(1, 6)
    run.wait_for(lambda: _checkpoints(ckpts) >= min(target, 2) and any(
        int(p.name.split("-")[1]) >= 5 * target for p in (ckpts / "checkpoints").glob("step-*")), 600)
    time.sleep(rng.uniform(0, 0.2))
    run.kill()
    assert not (killed / "train" / "tiny" / "train.json").exists()
    _run_suite_inprocess(suite_file, killed, cache, monkeypatch)
    assert json.loads((killed / "train" / "tiny" / "train.json").read_text())["resumed"] is True
    assert weights_sha256(killed / "train" / "tiny" / "model") == weights_sha256(reference / "train" / "tiny" / "model")
    assert _bench_outputs(killed) == _bench_outputs(reference)
    for results in (killed, reference):  # the cost table counts the resumed run's steps once
        costs = {r.split(",")[0]: r.split(",") for r in (results / "costs.csv").read_text().splitlines()[1:]}
        assert costs["tiny"][1] == "40"


def _tiny_train_suite(tmp_path: Path, tiny_model: Path, tiny_groups: Path, max_steps: int,
                      save_every: int) -> Path:
    """BM25 + one variant the runner trains (the tiny model, ws2, 1 thread) on a built dataset."""
    dataset = _bench_dataset(tmp_path / "bench")
    train = {"model": {"base": str(tiny_model), "kind": "sentence-transformers", "pooling": "keep",
                       "similarity": "dot"},
             "data": [{"kind": "groups", "path": str(tiny_groups)}], "loss": "ws2", "group_size": 4,
             "batch_size": 8, "max_steps": max_steps, "learning_rate": 0.05, "save_every": save_every,
             "seed": 7, "threads": 1}
    suite_file = tmp_path / "t.yaml"
    suite_file.write_text(yaml.safe_dump({
        "name": "t", "baseline": "bm25", "batch_size": 16, "measures": ["nDCG@10"],
        "variants": [{"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}}, {"name": "tiny", "train": train}],
        "datasets": [{"name": str(dataset), "mode": "full", "top_k": 100}]}))
    return suite_file


def test_finished_cells_of_a_trained_variant_need_no_weights(tmp_path, tiny_model, tiny_groups, monkeypatch):
    """A results folder kept without its checkpoints (as committed) is complete: a rerun retrains nothing.
    When a cell is missing, the variant is trained again and the cell computed against the same hash."""
    import shutil

    from benchmarks import run as run_mod
    from benchmarks.suites import load_suite

    suite_file = _tiny_train_suite(tmp_path, tiny_model, tiny_groups, max_steps=6, save_every=3)
    results = tmp_path / "results"
    _run_suite_inprocess(suite_file, results, tmp_path / "cache", monkeypatch)
    before = _bench_outputs(results)
    shutil.rmtree(results / "train" / "tiny" / "model")

    again = run_mod.run_suite(load_suite(suite_file), results)
    assert again["trainings"] == [] and not again["failures"]
    assert {o.status for o in again["outcomes"]} == {"cached"}
    assert not (results / "train" / "tiny" / "model").exists()
    assert _bench_outputs(results) == before

    (results / "cells" / "tiny" / "bench" / "cell.json").unlink()
    third = run_mod.run_suite(load_suite(suite_file), results)
    assert [t.status for t in third["trainings"]] == ["computed"]
    assert {o.model: o.status for o in third["outcomes"]} == {"bm25": "cached", "tiny": "computed"}
    assert _bench_outputs(results) == before  # same weights, same hash, same numbers


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_killing_the_runner_stops_its_trainer(tmp_path, tiny_model, tiny_groups):
    """SIGKILL of the benchmark runner alone (not its process group) must not leave the training child
    running: it would hold the output folder and use the CPU while a rerun resumes the same training."""
    suite_file = _tiny_train_suite(tmp_path, tiny_model, tiny_groups, max_steps=100000, save_every=2)
    results = tmp_path / "results"
    run = KillableRun(["-m", "benchmarks.run", "--suite", suite_file, "--output", results],
                      env={"SYNRANK_CACHE": str(tmp_path / "cache")})
    output = str(results / "train" / "tiny" / "model")
    run.wait_for(lambda: _processes_mentioning(output), timeout=120, what="the trainer child starting")
    run.wait_for(lambda: list((results / "train" / "tiny" / "model").glob("checkpoints/step-*")),
                 timeout=120, what="the first checkpoint")
    run.kill()
    deadline = time.monotonic() + 30
    while _processes_mentioning(output) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_mentioning(output)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "the trainer outlived the runner that started it"
