"""Gathering a batch across DDP ranks so that the distributed gradient equals the full-batch one.

SyCL's losses need the whole batch at once (the Wasserstein loss fits a Gaussian across all queries;
every loss uses all passages as in-batch negatives), so each rank:

1. encodes its local shard of queries ``[b, D]`` and passages ``[b*G, D]``;
2. gathers every rank's queries, passages and grades with :func:`gather_with_grad` (or all at once
   with :func:`gather_batch`): the result is identical on all ranks and the gradient flows back only
   into the local shard (the other ranks' slices are constants here; their owners differentiate them);
3. computes the loss of the whole global batch and multiplies it by :func:`loss_scale` (the world
   size) before ``backward()``.

Why the factor: every rank's loss is the same number ``L``, and rank ``r``'s backward yields
``dL/dtheta`` restricted to the paths through its own shard. DDP then *averages* gradients over the
``W`` ranks, so ``(1/W) * sum_r W * dL/dtheta|_r = dL/dtheta``, exactly the single-process gradient on
the concatenated batch (tests/losses/test_distributed.py checks this with 2 gloo processes). Divide the
value by the same factor for logging.

Without an initialised process group every function here is the identity / returns 1 and 0.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from synrank.losses.functional import LossInputError, expand_grades, in_batch_scores


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def loss_scale() -> float:
    """Factor to multiply a gathered-batch loss by before ``backward()`` under DDP (the world size)."""
    return float(world_size())


def gather_with_grad(t: Tensor) -> Tensor:
    """All ranks' ``t`` concatenated along dim 0 (rank order), with gradient to the local shard only.

    Every rank must pass a tensor of the same shape (check: one small extra all_gather of the shapes;
    a mismatch, e.g. an uneven last batch, raises :class:`LossInputError`; use ``drop_last``). The
    local slice of the result is ``t`` itself, so autograd reaches the local encoder; the others are
    received copies without history. Combine with :func:`loss_scale` (see the module docstring).
    Returns ``t`` unchanged when not distributed.
    """
    if not is_distributed():
        return t
    ws = dist.get_world_size()
    shape = torch.tensor(list(t.shape), dtype=torch.long, device=t.device)
    shapes = [torch.empty_like(shape) for _ in range(ws)]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(s, shape) for s in shapes):
        raise LossInputError(
            f"gather_with_grad: ranks hold tensors of different shapes {[tuple(s.tolist()) for s in shapes]}",
            hint="every rank must see the same micro-batch size; drop the last uneven batch (drop_last=True)")
    parts = [torch.empty_like(t) for _ in range(ws)]
    dist.all_gather(parts, t.detach().contiguous())
    parts[dist.get_rank()] = t
    return torch.cat(parts, dim=0)


def gather_batch(query_emb: Tensor, passage_emb: Tensor, grades: Tensor) -> tuple[Tensor, Tensor]:
    """Gather a batch across ranks and build the loss inputs.

    ``query_emb`` ``[b, D]``, ``passage_emb`` ``[b*G, D]`` (query ``i``'s group is rows ``i*G..i*G+G-1``)
    and ``grades`` ``[b, G]`` of the local shard. Returns ``scores`` ``[B, B*G]`` (dot products of all
    ranks' queries with all ranks' passages, ``B = world_size * b``) and the expanded ``grades``
    ``[B, B*G]`` (own passages their grade, all others 0) — identical on every rank. Single process:
    the same on the local batch.
    """
    if query_emb.dim() != 2 or passage_emb.dim() != 2 or grades.dim() != 2:
        raise LossInputError("gather_batch: query_emb [b, D], passage_emb [b*G, D] and grades [b, G] must "
                             "be 2-D")
    b, g = grades.shape
    if query_emb.shape[0] != b or passage_emb.shape[0] != b * g:
        raise LossInputError(
            f"gather_batch: {query_emb.shape[0]} queries and {passage_emb.shape[0]} passages do not match "
            f"grades of shape {tuple(grades.shape)} (expected {b} queries and {b * g} passages)")
    queries = gather_with_grad(query_emb)
    passages = gather_with_grad(passage_emb)
    all_grades = gather_with_grad(grades)
    return in_batch_scores(queries, passages), expand_grades(all_grades)


__all__ = ["is_distributed", "world_size", "rank", "loss_scale", "gather_with_grad", "gather_batch"]
