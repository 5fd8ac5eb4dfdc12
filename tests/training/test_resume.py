"""kill -9 in the middle of training, then --resume: the same final weights as an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synrank.config import from_dict
from synrank.training.config import TrainConfig
from synrank.training.trainer import train
from tests.training.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]


def weights_sha256(folder: Path) -> str:
    """sha256 over every tensor of the saved model (names, dtypes, shapes and bytes, in name order)."""
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


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
    proc = mp.get_context("fork").Process(target=_cli_main, args=(["train", "--config", str(cfg_file),
                                                                   "--output", str(killed)],))
    proc.start()
    first = killed / "checkpoints" / "step-00000020"
    deadline = time.monotonic() + 120
    while not first.exists():
        assert proc.is_alive(), f"training process exited early with {proc.exitcode}"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    state = json.loads((killed / "trainer_state.json").read_text()) if (killed / "trainer_state.json").exists() else {}
    assert not state.get("completed"), "the run finished before it was killed; the test proves nothing"

    result = train(from_dict(TrainConfig, raw), output=killed, resume=True)
    assert result.resumed_from is not None and 20 <= result.resumed_from < 150
    assert result.steps == 150
    assert weights_sha256(killed) == weights_sha256(reference)
    # the loss curve is continuous: every step once
    lines = (killed / "loss_curve.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in lines] == list(range(1, 151))
    ref_lines = (reference / "loss_curve.csv").read_text().splitlines()[1:]
    strip = [line.rsplit(",", 1)[0] for line in lines]  # elapsed_s differs
    assert strip == [line.rsplit(",", 1)[0] for line in ref_lines]


@pytest.mark.slow
def test_sigkill_of_a_fresh_interpreter_then_cli_resume(tiny_model, tiny_groups, tmp_path):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=400, save_every=10)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(raw))
    reference = tmp_path / "uninterrupted"
    train(from_dict(TrainConfig, raw), output=reference)
    killed = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "synrank.cli", "train", "--config", str(cfg_file), "--output", str(killed)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoints" / "step-00000020").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([*cmd, "--resume"], env=env, cwd=REPO, check=True, timeout=600)
    assert weights_sha256(killed) == weights_sha256(reference)
