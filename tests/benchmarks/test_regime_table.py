"""benchmarks.regime_table: every training folder gets a row; the numbers are the recorded ones."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.regime_table import main, regime_rows, render
from synrank.records import TRAINING_FILE, TrainingRecord
from synrank.training.regime import RegimeReport

WRONG_WAY = RegimeReport("ws2", 0.1, 4, descent_sum={"grade 3": -2.03, "grade 0": 0.1, "in-batch negatives": 2.04},
                         descent_mean={"grade 3": -0.03, "grade 0": 0.001, "in-batch negatives": 0.002},
                         margin={"grade 3": 0.63, "grade 0": 0.05},
                         violations=["grade 3 pushed below in-batch negatives"])
RIGHT_WAY = RegimeReport("ws2", 1.0, 4, descent_sum={"grade 3": 0.05, "grade 0": -0.001, "in-batch negatives": -0.06},
                         descent_mean={"grade 3": 7.3e-4, "grade 0": -2.1e-5, "in-batch negatives": -1.5e-5},
                         margin={"grade 3": 0.67, "grade 0": 0.11})


def _record(folder: Path, regime: RegimeReport | None) -> None:
    record = TrainingRecord(name=folder.name, config={}, config_hash="0" * 16, seeds={}, data=[],
                            n_training_items=1, total_steps=1, batches_per_epoch=1, effective_batch_size=1,
                            world_size=1, device="cpu", environment={},
                            loss_regime=None if regime is None else regime.to_dict())
    record.to_disk(folder / "model" / TRAINING_FILE)


def test_rows_render_the_recorded_numbers(tmp_path: Path) -> None:
    _record(tmp_path / "train" / "a-t0.1", WRONG_WAY)
    _record(tmp_path / "train" / "b-t1.0", RIGHT_WAY)
    (tmp_path / "train" / "c-base").mkdir(parents=True)  # untrained: no record at all
    rows = regime_rows(tmp_path)
    assert [name for name, _ in rows] == ["a-t0.1", "b-t1.0", "c-base"]
    text = render(rows, "t")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| variant | loss | T | descent grade 3 | descent grade 0 | descent in-batch negatives")
    a, b, c = table[1:]
    assert "| -0.03 | +0.001 | +0.002 | +0.630 | +0.050 | WARNING: grade 3 pushed below in-batch negatives |" in a
    assert b.endswith("| +0.00073 | -2.1e-05 | -1.5e-05 | +0.670 | +0.110 | OK |")
    assert "no check recorded" in c
    # every table line has the same number of cells
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1


def test_main_writes_regime_md_and_refuses_a_non_suite_folder(tmp_path: Path) -> None:
    assert main(["--results", str(tmp_path)]) == 2
    _record(tmp_path / "train" / "x", RIGHT_WAY)
    assert main(["--results", str(tmp_path)]) == 0
    assert "| x | ws2 | 1 |" in (tmp_path / "regime.md").read_text(encoding="utf-8")
