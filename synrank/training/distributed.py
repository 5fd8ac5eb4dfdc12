"""Process-group setup for ``torchrun``: the same entry point runs single-process or distributed.

``torchrun --nproc_per_node N -m synrank.cli train --config FILE`` (or ``torchrun --no-python synrank
train ...``) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; we then
initialise the default process group from the environment with NCCL on GPUs and gloo on CPU. Without
those variables (or with ``WORLD_SIZE=1``) nothing is initialised and training is single-process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from synrank.errors import TrainingError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: str
    backend: str | None
    initialized_here: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Initialise ``torch.distributed`` from torchrun's environment variables if present."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if device is None:
        device = f"cuda:{local_rank}" if use_cuda else "cpu"
    elif device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
    if world <= 1:
        return DistInfo(0, 1, 0, device, None, False)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    initialized_here = False
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ or "RANK" not in os.environ:
            raise TrainingError("WORLD_SIZE > 1 but RANK/MASTER_ADDR are not set",
                                hint="launch distributed training with torchrun --nproc_per_node N")
        if device.startswith("cuda"):
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        initialized_here = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device, backend, initialized_here)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_gather_objects(info: DistInfo, obj):
    """Every rank's ``obj`` (pickled over the process group between our own processes only)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(info: DistInfo, obj):
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
