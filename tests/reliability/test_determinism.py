"""Determinism on CPU: the same seed twice gives identical checkpoints, metrics and generated data.

(GPU caveats — cuBLAS workspaces, atomics in scatter/index_add — are documented in docs/reliability.md.)
Each test also changes the seed and checks the output *does* change, so a test that compares two
empty or constant results cannot pass by accident.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from tests.reliability.harness import loss_rows, run_cli_inprocess, weights_sha256
from tests.reliability.test_kill9 import QUERIES, _bench_dataset, _groups_by_query


def _train(train_config, out: Path, **overrides) -> Path:
    cfg = train_config(f"cfg-{out.name}", max_steps=8, save_every=4, **overrides)
    res = run_cli_inprocess("train", "--config", cfg, "--output", out)
    assert res.returncode == 0, res.stderr
    return out


def _trainer_tensors(ckpt: Path) -> dict:
    return torch.load(ckpt / "trainer.pt", map_location="cpu", weights_only=True)


def _assert_same_tree(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_model, tiny_groups):
    from tests.training.conftest import tiny_config

    root = tmp_path_factory.mktemp("determinism")

    def train_config(name: str = "cfg", **overrides) -> Path:
        path = root / f"{name}.json"
        path.write_text(json.dumps(tiny_config(tiny_model, tiny_groups, **overrides)))
        return path

    a = _train(train_config, root / "a")
    b = _train(train_config, root / "b")
    other = _train(train_config, root / "other-seed", seed=8)
    return a, b, other


def test_same_seed_same_checkpoints(two_runs):
    a, b, other = two_runs
    assert weights_sha256(a) == weights_sha256(b)
    assert loss_rows(a) == loss_rows(b)
    for step in ("step-00000004", "step-00000008"):
        ca, cb = a / "checkpoints" / step, b / "checkpoints" / step
        assert weights_sha256(ca / "model") == weights_sha256(cb / "model")
        _assert_same_tree(_trainer_tensors(ca), _trainer_tensors(cb), step)
        sa = json.loads((ca / "trainer_state.json").read_text())
        sb = json.loads((cb / "trainer_state.json").read_text())
        for s in (sa, sb):
            for row in s["history"]:
                row.pop("elapsed_s")
        assert sa == sb
    assert weights_sha256(other) != weights_sha256(a), "a different seed gave the same weights"


def test_same_model_same_metrics(two_runs, tmp_path, monkeypatch):
    """Evaluating the same checkpoint twice (fresh caches) gives identical runs and metrics; so does
    evaluating the twin run's checkpoint; and a cached second evaluation gives the same numbers."""
    from synrank.evaluation.pipeline import evaluate_model

    a, b, other = two_runs
    dataset = _bench_dataset(tmp_path / "det-data")

    def cell(model: Path, name: str, cache: str) -> tuple[dict, bytes]:
        monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / cache))
        out = tmp_path / name
        res = evaluate_model(str(model), str(dataset), output_dir=out, mode="full", top_k=100, batch_size=8, name="det",
                             show_progress=False)
        return res.aggregate, gzip.decompress((out / "run.trec.gz").read_bytes())

    agg_a, run_a = cell(a, "a1", "cache-1")
    agg_a2, run_a2 = cell(a, "a2", "cache-2")
    agg_b, run_b = cell(b, "b", "cache-3")
    agg_cached, run_cached = cell(a, "a3", "cache-1")
    for agg in (agg_a2, agg_b, agg_cached):
        assert agg.keys() == agg_a.keys()
        for m in agg_a:
            assert agg[m] == pytest.approx(agg_a[m], abs=1e-6), m
    assert run_a == run_a2 == run_b == run_cached
    agg_o, run_o = cell(other, "o", "cache-4")
    assert run_o != run_a, "a differently seeded model ranked identically; the comparison is vacuous"


def test_same_seed_same_generated_data(tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"{i}\t{q}\n" for i, q in enumerate(QUERIES, 1)))

    def gen(out: Path, seed: int) -> dict:
        res = run_cli_inprocess("generate", "--queries", queries, "--output", out, "--backend", "echo", "--strategy",
                                "direct", "--limit", "6", "--seed", str(seed), "--no-progress",
                                "--backend-option", "fail_rate=0.25")
        assert res.returncode == 0, res.stderr
        return _groups_by_query(out)

    first, second = gen(tmp_path / "a", 1), gen(tmp_path / "b", 1)
    assert first == second and len(first) == 6
    assert gen(tmp_path / "c", 2) != first
