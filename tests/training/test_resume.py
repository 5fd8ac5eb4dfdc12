"""kill -9 in the middle of training, then --resume: the same final weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from synrank.config import from_dict
from synrank.training.config import TrainConfig
from synrank.training.trainer import train
from tests.reliability.harness import REPO, KillableRun, loss_rows, weights_sha256
from tests.training.conftest import tiny_config


def _cli_main(argv: list[str]) -> None:
    import torch

    from synrank.cli import main

    torch.set_num_threads(1)
    sys.exit(main(argv))


def test_sigkill_then_resume_gives_identical_weights(tiny_model, tiny_groups, tmp_path):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=150, save_every=10, loss="ws2")
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(raw))

    reference = tmp_path / "uninterrupted"
    train(from_dict(TrainConfig, raw), output=reference)

    killed = tmp_path / "killed"
    # A forked child runs the CLI entry point (forking avoids re-importing torch; a slow test below
    # does the same with a fresh interpreter).
    run = KillableRun.fork(_cli_main, ["train", "--config", str(cfg_file), "--output", str(killed)])
    first = killed / "checkpoints" / "step-00000020"
    run.wait_for(first.exists, 120, what="the first checkpoint", poll=0.002)
    run.kill()
    state = json.loads((killed / "trainer_state.json").read_text()) if (killed / "trainer_state.json").exists() else {}
    assert not state.get("completed"), "the run finished before it was killed; the test proves nothing"

    result = train(from_dict(TrainConfig, raw), output=killed, resume=True)
    assert result.resumed_from is not None and 20 <= result.resumed_from < 150
    assert result.steps == 150
    assert weights_sha256(killed) == weights_sha256(reference)
    # the loss curve is continuous: every step once
    lines = (killed / "loss_curve.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in lines] == list(range(1, 151))
    assert loss_rows(killed) == loss_rows(reference)  # elapsed_s differs, every other column equal


@pytest.mark.slow
def test_sigkill_of_a_fresh_interpreter_then_cli_resume(tiny_model, tiny_groups, tmp_path):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=400, save_every=10)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(raw))
    reference = tmp_path / "uninterrupted"
    train(from_dict(TrainConfig, raw), output=reference)
    killed = tmp_path / "killed"
    args = ["train", "--config", str(cfg_file), "--output", str(killed)]
    run = KillableRun.cli(*args)
    run.wait_for((killed / "checkpoints" / "step-00000020").exists, 300, what="the first checkpoint", poll=0.005)
    run.kill()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "synrank.cli", *args, "--resume"], env=env, cwd=REPO, check=True,
                   timeout=600)
    assert weights_sha256(killed) == weights_sha256(reference)
