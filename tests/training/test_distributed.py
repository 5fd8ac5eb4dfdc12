"""Two gloo processes on CPU train to the same weights as one process on the full batch.

The processes are forked from the test process (no second import of torch and sentence-transformers,
which dominates wall time on a loaded 2-core machine); each runs the normal trainer with torchrun's
environment variables, so the code path is the one ``torchrun -m synrank.cli train`` takes. A slow
test runs the real ``torchrun`` command line.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synrank.config import from_dict
from synrank.training.config import TrainConfig
from synrank.training.trainer import train
from tests.training.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, raw: dict, out: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    train(from_dict(TrainConfig, raw), output=out)


def _run_forked(world: int, raw: dict, out: Path, timeout: float = 120) -> None:
    ctx = mp.get_context("fork")
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, raw, str(out))) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("loss", ["ws2", "infonce"])
def test_two_gloo_processes_equal_single_process(tiny_model, tiny_groups, tmp_path, loss):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=4, save_every=None, loss=loss, batch_size=8,
                      learning_rate=0.05, warmup_fraction=0.0)
    single = tmp_path / "single"
    train(from_dict(TrainConfig, raw), output=single)
    ddp = tmp_path / "ddp"
    _run_forked(2, raw, ddp)

    a, b = _weights(single), _weights(ddp)
    base = _weights(tiny_model)
    for k in a:
        assert not torch.allclose(a[k], base[k]), "training did not move the weights"
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
    tc = json.loads((ddp / "training_config.json").read_text())
    assert tc["world_size"] == 2 and tc["backend"] == "gloo"
    la = [line.split(",")[2] for line in (single / "loss_curve.csv").read_text().splitlines()[1:]]
    lb = [line.split(",")[2] for line in (ddp / "loss_curve.csv").read_text().splitlines()[1:]]
    assert [float(x) for x in lb] == pytest.approx([float(x) for x in la], rel=1e-6)


def test_batch_not_divisible_by_world_size_is_an_error(tiny_model, tiny_groups, tmp_path):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=1, batch_size=7)
    ctx = mp.get_context("fork")
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, port, raw, str(tmp_path / "x"))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        if p.is_alive():
            p.kill()
    assert all(p.exitcode != 0 for p in procs)


def test_rank0_error_stops_every_rank(tiny_model, tiny_groups, tmp_path):
    """rank 0 refuses an existing output folder; the other rank must stop too, not hang in a collective."""
    raw = tiny_config(tiny_model, tiny_groups, max_steps=1, save_every=None)
    out = tmp_path / "x"
    train(from_dict(TrainConfig, raw), output=out)
    ctx = mp.get_context("fork")
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, port, raw, str(out))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    alive = [p.is_alive() for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert alive == [False, False] and all(p.exitcode != 0 for p in procs)


@pytest.mark.slow
def test_torchrun_command_line(tiny_model, tiny_groups, tmp_path):
    raw = tiny_config(tiny_model, tiny_groups, max_steps=3, save_every=None)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(raw))
    single = tmp_path / "single"
    train(from_dict(TrainConfig, raw), output=single)
    out = tmp_path / "torchrun"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_port", str(_free_port()), "-m", "synrank.cli", "train", "--config", str(cfg_file),
                    "--output", str(out)], env=env, cwd=REPO, check=True, timeout=600)
    a, b = _weights(single), _weights(out)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
