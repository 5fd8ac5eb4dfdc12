"""The loss-regime check on the case that motivated it (issue 12): all-MiniLM-L6-v2, SyCL's ws2 with
in-batch negatives on our synthetic groups. At T = 0.1 the descent direction pushes grade-3 passages
down and in-batch negatives up; at the reference's T = 1.0 every grade moves the right way."""

from __future__ import annotations

from pathlib import Path

import pytest

from synrank.losses import build_loss
from synrank.training.config import load_train_config
from synrank.training.encoders import build_model
from synrank.training.regime import NEGATIVES, _violations, check_loss_regime
from synrank.training.sources import load_training_items

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "benchmarks/configs/train/minilm-synthetic-ws2.yaml"


@pytest.fixture(scope="module")
def minilm_ws2():
    cfg = load_train_config(CONFIG)
    items, _ = load_training_items(cfg)
    return cfg, items, build_model(cfg.model, "cpu")


@pytest.mark.parametrize("temperature, ok", [(0.1, False), (1.0, True)])
def test_minilm_ws2_regime(minilm_ws2, temperature, ok):
    cfg, items, model = minilm_ws2
    report = check_loss_regime(model, items, cfg, build_loss("ws2", temperature=temperature), n_batches=2)
    assert report.n_batches == 2 and report.ok is ok
    mean = report.descent_mean
    assert list(mean) == ["grade 3", "grade 2", "grade 1", "grade 0", NEGATIVES]
    if ok:
        assert report.warning() is None
        assert mean["grade 3"] > mean["grade 2"] > mean["grade 1"] > 0 > mean[NEGATIVES]
    else:
        assert mean["grade 3"] < 0 < report.descent_sum[NEGATIVES]  # the measured inversion
        assert "grade 3 pushed below in-batch negatives" in report.violations
        line = report.warning()
        assert line is not None and "\n" not in line and "ws2 at temperature 0.1" in line
    # margins come from the model, not the loss: the same at both temperatures, ordered by grade
    assert report.margin["grade 3"] > report.margin["grade 2"] > report.margin["grade 1"] > report.margin["grade 0"]


def test_infonce_at_its_usual_temperature_is_ok(minilm_ws2):
    cfg, items, model = minilm_ws2
    report = check_loss_regime(model, items, cfg, build_loss("infonce", temperature=0.05), n_batches=1)
    assert report.ok, report.format_table()


def test_violation_rule():
    assert _violations({"grade 3": 1.0, "grade 2": 0.5, "grade 0": -0.2, NEGATIVES: -0.1}) == []
    found = _violations({"grade 3": -1.0, "grade 1": 0.5, NEGATIVES: 0.2})
    assert found == ["grade 3 pushed below grade 1", f"grade 3 pushed below {NEGATIVES}"]
    assert _violations({"grade 2": 1.0, "grade 1": 1.0 + 1e-9}) == []  # within tolerance
