"""``synrank train`` on the command line (in-process)."""

from __future__ import annotations

import json

from synrank.cli import main
from tests.training.conftest import tiny_config


def test_train_command_with_overrides(tiny_model, tiny_groups, tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(tiny_config(tiny_model, tiny_groups, max_steps=50)))
    out = tmp_path / "out"
    assert main(["train", "--config", str(cfg), "--max-steps", "3", "--output", str(out)]) == 0
    assert "trained tiny: 3 steps" in capsys.readouterr().out
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
    assert json.loads((out / "training_config.json").read_text())["config"]["max_steps"] == 3
    # a second run into the same folder needs --resume; with it, the finished run is left alone
    assert main(["train", "--config", str(cfg), "--max-steps", "3", "--output", str(out)]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg), "--max-steps", "3", "--output", str(out), "--resume"]) == 0


def test_bad_config_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("name: x\nbatch_sise: 3\n")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cfg.yaml" in err and "batch_sise" in err
