"""The loss micro-benchmark runs end to end (loss timings only) and writes both reports atomically."""

from __future__ import annotations

import json

from benchmarks import bench_losses
from synrank.losses import LOSSES


def test_quick_run_without_model(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_losses, "BATCH_SIZES", (4, 8))
    out = tmp_path / "bench" / "losses"
    assert bench_losses.main(["--quick", "--no-model", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert {r["loss"] for r in report["losses"]} == set(LOSSES)
    assert all(r["median_ms"] > 0 and r["repeats"] == 3 for r in report["losses"])
    assert report["environment"]["versions"]["torch"]
    md = out.with_suffix(".md").read_text()
    assert "| ws2 |" in md and "Forward + backward" in md


def test_markdown_reports_the_step_share():
    report = {
        "environment": {"created_utc": "t", "git_commit": "c", "versions": {"torch": "x"},
                        "hardware": {"cpu_count": 2, "platform": "p"}},
        "config": {"torch_threads": 1},
        "losses": [{"loss": "ws2", "B": 16, "G": 4, "median_ms": 1.0}],
        "minilm_step": {"B": 16, "G": 4, "n_sequences": 80, "seq_len": 128, "includes": "all",
                        "fp32": {"median_ms": 1000.0}, "bf16_autocast": {"median_ms": 2000.0}},
        "fraction_percent": {"ws2": {"fp32": 0.1, "bf16_autocast": 0.05}},
        "ws2_max_percent": 0.1, "goal_met": True,
    }
    md = bench_losses.render_markdown(report)
    assert "| fp32 | 1000.0 | 0.100 |" in md and "**met**" in md
