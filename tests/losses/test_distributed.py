"""DDP correctness: 2 gloo processes give the single-process full-batch loss and gradients."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from synrank.losses import build_loss
from synrank.losses.distributed import (
    gather_batch,
    gather_with_grad,
    is_distributed,
    loss_scale,
    rank,
    world_size,
)
from synrank.losses.functional import LossInputError

WORLD = 2
LOCAL_B, G, D_IN, D = 3, 4, 10, 6
LOSS_NAMES = ("ws2", "per_query_ws", "infonce", "kl")
LOSS_KWARGS = {"infonce": {"temperature": 0.5}}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _global_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same tiny encoder and global batch in every process."""
    gen = torch.Generator().manual_seed(1234)
    model = nn.Linear(D_IN, D).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(D, D_IN, generator=gen, dtype=torch.float64) * 0.5)
        model.bias.copy_(torch.randn(D, generator=gen, dtype=torch.float64) * 0.1)
    b = WORLD * LOCAL_B
    xq = torch.randn(b, D_IN, generator=gen, dtype=torch.float64)
    xp = torch.randn(b * G, D_IN, generator=gen, dtype=torch.float64)
    grades = torch.randint(0, 4, (b, G), generator=gen)
    grades[:, 0] = 3  # every query has a positive
    return model, xq, xp, grades


def _step(model: nn.Module, xq, xp, grades, name: str) -> tuple[float, list[torch.Tensor]]:
    """One forward/backward with the gather + world-size scaling recipe; returns loss and grads."""
    model.zero_grad()
    out = model(torch.cat([xq, xp]))  # one forward per iteration, as DDP expects
    q, p = out[: len(xq)], out[len(xq):]
    scores, expanded = gather_batch(q, p, grades)
    loss = build_loss(name, **LOSS_KWARGS.get(name, {}))(scores, expanded)
    (loss * loss_scale()).backward()
    return loss.item(), [prm.grad.detach().clone() for prm in model.parameters()]


def _worker(rank_: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank_, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        model, xq, xp, grades = _global_batch()
        ddp = nn.parallel.DistributedDataParallel(model)
        sl_q = slice(rank_ * LOCAL_B, (rank_ + 1) * LOCAL_B)
        sl_p = slice(rank_ * LOCAL_B * G, (rank_ + 1) * LOCAL_B * G)
        result: dict = {"info": (is_distributed(), world_size(), rank(), loss_scale())}
        for name in LOSS_NAMES:
            result[name] = _step(ddp, xq[sl_q], xp[sl_p], grades[sl_q], name)
        # uneven shards are a clear error on every rank
        try:
            gather_with_grad(torch.zeros(2 + rank_, 3))
            result["uneven"] = None
        except LossInputError as exc:
            result["uneven"] = str(exc)
        torch.save(result, Path(out_dir) / f"rank{rank_}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_matches_single_process_full_batch(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]

    assert not is_distributed() and world_size() == 1 and rank() == 0 and loss_scale() == 1.0
    model, xq, xp, grades = _global_batch()
    for r, res in enumerate(results):
        assert res["info"] == (True, WORLD, r, float(WORLD))
        assert res["uneven"] is not None and "different shapes" in res["uneven"]
    for name in LOSS_NAMES:
        loss, grads = _step(model, xq, xp, grades, name)
        for res in results:
            ddp_loss, ddp_grads = res[name]
            assert ddp_loss == pytest.approx(loss, abs=1e-6, rel=1e-9), name
            for got, want in zip(ddp_grads, grads, strict=True):
                torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-9, msg=name)
            # the grads are not trivially zero
            assert max(g.abs().max().item() for g in grads) > 1e-4, name


def test_without_world_size_scaling_gradients_would_be_wrong(tmp_path):
    """Guards the test above: the factor matters (DDP averages W per-rank gradients)."""
    model, xq, xp, grades = _global_batch()
    _, full = _step(model, xq, xp, grades, "ws2")
    # what one rank contributes without the factor: paths through its own shard only
    model.zero_grad()
    out_q = model(xq)
    out_p = model(xp)
    half_q = torch.cat([out_q[:LOCAL_B], out_q[LOCAL_B:].detach()])
    half_p = torch.cat([out_p[: LOCAL_B * G], out_p[LOCAL_B * G:].detach()])
    from synrank.losses.functional import expand_grades, in_batch_scores

    build_loss("ws2")(in_batch_scores(half_q, half_p), expand_grades(grades)).backward()
    assert not torch.allclose(model.weight.grad, full[0], atol=1e-6)
